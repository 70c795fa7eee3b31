"""scripts/two_runs_benchmark.py end to end at a tiny budget: one demo alone, then two started together."""

import runpy
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "two_runs_benchmark.py"


def test_solo_and_a_pair_are_measured(tmp_path, capsys):
    record = runpy.run_path(str(SCRIPT))["main"](["--epochs", "1", "--patch", "4", "--settings", "1", "--out", str(tmp_path)])
    assert record["solo"]["img_per_s"] > 0 and record["solo"]["threads"]["source"] in ("auto", "OMP_NUM_THREADS")
    pair = record["pairs"]["1"]
    assert len(pair) == 2 and all(r["threads"] == {"threads": 1, "source": "config", "reason": "train.threads=1"} for r in pair)
    table = capsys.readouterr().out
    assert "| one alone | auto |" in table and "| two together | 1 | 1 / 1 |" in table
    assert (tmp_path / "two_runs" / "two_runs.json").is_file()
