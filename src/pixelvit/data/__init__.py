"""Datasets as uint8 (N, C, H, W) arrays, decoded once: ``load_arrays("cifar100", root, "train")``."""

from .base import ArrayDataset, ImageArrays
from .imagenet import prepare_imagenet
from .registry import DATASETS, DatasetSpec, get_dataset_spec, load_arrays

__all__ = ["DATASETS", "ArrayDataset", "DatasetSpec", "ImageArrays", "get_dataset_spec", "load_arrays", "prepare_imagenet"]
