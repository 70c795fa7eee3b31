"""Commands that train take their key=value overrides before, between or after their options, through
``pixelvit.commands.main`` (the top-level parser), with the work itself replaced by a recorder."""

import pytest

from pixelvit.commands import main
from pixelvit.commands.arguments import is_override


@pytest.fixture
def calls(monkeypatch):
    """Replace every study's, demo's and train's work function by one that records its arguments."""
    import pixelvit.analysis.patch_sweep
    import pixelvit.analysis.pe_study
    import pixelvit.analysis.permutation_study
    import pixelvit.demos.digits
    import pixelvit.demos.dit_digits
    import pixelvit.tasks.training

    seen = []

    def recorder(name, result):
        def record(*args, **kwargs):
            seen.append((name, args, kwargs))
            return result

        return record

    monkeypatch.setattr(pixelvit.analysis.patch_sweep, "run_patch_sweep", recorder("patch-sweep", ([], "")))
    monkeypatch.setattr(pixelvit.analysis.pe_study, "run_pe_study", recorder("pe-study", ([], "")))
    monkeypatch.setattr(pixelvit.analysis.permutation_study, "run_permutation_study", recorder("permutation-study", ([], "")))
    monkeypatch.setattr(pixelvit.demos.digits, "run_demo", recorder("demo", ([], "")))
    monkeypatch.setattr(pixelvit.demos.dit_digits, "run_dit_demo", recorder("dit-demo", ({}, "")))
    monkeypatch.setattr(pixelvit.tasks.training, "train_from_config", recorder("train", {"status": "finished"}))
    return seen


ORDERS = [
    ["digits", "a.b=1", "c.d=2", "--out", "X"],  # overrides first
    ["digits", "--out", "X", "a.b=1", "c.d=2"],  # overrides last: failed with the top-level usage before
    ["digits", "a.b=1", "--out", "X", "c.d=2"],  # between
    ["--out", "X", "digits", "a.b=1", "c.d=2"],
]


@pytest.mark.parametrize("argv", ORDERS)
def test_patch_sweep_takes_overrides_anywhere(calls, argv):
    assert main(["patch-sweep", *argv, "--mode", "fixed-input", "--patch-sizes", "2,4"]) == 0
    ((name, args, _),) = calls
    assert name == "patch-sweep" and args[0] == "digits" and str(args[1]) == "X"
    assert args[2:5] == ("fixed-input", [2, 4], None) and args[5] == ["a.b=1", "c.d=2"]


def test_the_issues_example(calls):
    argv = ["patch-sweep", "digits", "--mode", "both", "--patch-sizes", "2,4", "train.epochs=20"]
    assert main(argv) == 0
    assert [c[1][2] for c in calls] == ["fixed-length", "fixed-input"] and all(c[1][5] == ["train.epochs=20"] for c in calls)


@pytest.mark.parametrize(
    "argv,name,overrides_at",
    [
        (["pe-study", "digits", "x.y=1", "--variants", "none", "train.epochs=2"], "pe-study", 3),
        (["permutation-study", "digits", "--pairs", "0,8", "x.y=1", "--deltas", "1", "train.epochs=2"], "permutation-study", 4),
        (["demo", "--patch-sizes", "2", "x.y=1", "--out", "D", "train.epochs=2"], "demo", 2),
        (["dit-demo", "x.y=1", "--out", "D", "train.epochs=2"], "dit-demo", 1),
        (["train", "cfg.yaml", "x.y=1", "train.epochs=2"], "train", 1),
    ],
)
def test_every_training_command_takes_overrides_after_options(calls, argv, name, overrides_at):
    assert main(argv) == 0
    ((seen, args, _),) = calls
    assert seen == name and list(args[overrides_at]) == ["x.y=1", "train.epochs=2"]


def test_a_stray_word_is_an_error_of_the_subcommand(calls, capsys):
    with pytest.raises(SystemExit) as e:
        main(["pe-study", "digits", "--variants", "none", "oops"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: pixelvit pe-study") and "unrecognized arguments: oops" in err and not calls


@pytest.mark.parametrize(
    "word,expected",
    [("train.epochs=20", True), ("run_dir=runs/x", True), ("evals=[{type: fid}]", True), ("--out=x", False),
     ("digits", False), ("a/b=c", False), ("=1", False)],
)  # fmt: skip
def test_is_override(word, expected):
    assert is_override(word) is expected
