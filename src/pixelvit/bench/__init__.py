"""Benchmarks: throughput, FLOP efficiency and memory of our ViT beside timm's (``pixelvit bench``)."""
