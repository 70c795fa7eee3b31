"""How fast the training loader alone delivers batches (no model): is data loading worth optimising?

    .venv/bin/python scripts/loader_probe.py [--recipes digits,fashion_mnist_14] [--threads 1]

Iterates one epoch of each recipe's ClassifyTask training set through the trainer's DataLoader and
EpochBatchSampler (batch 64, workers 0, uint8 batches) and prints images per second.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from pixelvit.config import load_config
from pixelvit.engine.sampler import EpochBatchSampler
from pixelvit.tasks.classify import ClassifyTask
from pixelvit.tasks.recipes import RECIPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="digits,fashion_mnist_14")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.recipes.split(","):
        cfg = load_config(None, [*RECIPES[name], "model.patch_size=1"])
        dataset = ClassifyTask(cfg).train_set
        sampler = EpochBatchSampler(len(dataset), cfg.train.batch_size, seed=0, epoch=0, start_batch=0, rank=0, world_size=1)
        start, images = time.perf_counter(), 0
        for batch in DataLoader(dataset, batch_sampler=sampler, num_workers=0):
            images += len(batch[0])
        seconds = time.perf_counter() - start
        print(f"{name}: {images} images in {seconds:.3f} s = {images / seconds:,.0f} img/s (loader alone)")


if __name__ == "__main__":
    main()
