"""Deterministic, seeded, disjoint splits of the cached MNIST.

From the training part of the cache: a class-balanced labelled train set, a class-balanced
labelled val set and the unlabelled rest. The test part of the cache is the grader's: nothing here
returns it, and a grading sandbox's data has none (i2dl_course.grading.dataview). Nor has that
view labels outside the exercise's labelled splits (config.LABELLED_SPLITS): it holds those
splits' indices as drawn from the full labels, so load_splits returns the same splits there.
"""
from dataclasses import dataclass

import numpy as np
import torch

from .. import config
from .datasets import LabelledImages, UnlabelledImages, to_tensor
from .mnist import UNLABELLED, Mnist
from .provision import load_mnist


class SplitNotLabelled(ValueError):
    """load_splits while grading with a split the exercise's notebooks do not use."""


@dataclass(frozen=True)
class SplitIndices:
    train: np.ndarray       # indices into the cache's training arrays
    val: np.ndarray
    unlabelled: np.ndarray


def _share(total: int, digit: int) -> int:
    return total // 10 + (1 if digit < total % 10 else 0)


def split_indices(labels: np.ndarray, n_train: int, n_val: int, seed: int) -> SplitIndices:
    """Class-balanced train and val indices (seeded), the rest unlabelled (sorted)."""
    if np.any(labels == UNLABELLED):
        raise SplitNotLabelled("these labels are a grading data view's, with labels only for the exercise's "
                               "labelled splits: use load_splits(n_train, n_val, seed) with one of those")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for digit in range(10):
        order = rng.permutation(np.flatnonzero(labels == digit))
        a, b = _share(n_train, digit), _share(n_val, digit)
        if a + b > len(order):
            raise ValueError(f"only {len(order)} images of digit {digit}, {a + b} requested")
        train.append(order[:a])
        val.append(order[a:a + b])
    train, val = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    rest = np.setdiff1d(np.arange(len(labels)), np.concatenate([train, val]))
    return SplitIndices(train, val, rest)


def _indices(mnist: Mnist, n_train: int, n_val: int, seed: int) -> SplitIndices:
    """split_indices of the data, or the same indices stored in a grading data view."""
    if not mnist.splits:
        return split_indices(mnist.train_labels, n_train, n_val, seed)
    key = (n_train, n_val, seed)
    if key not in mnist.splits:
        allowed = ", ".join(f"load_splits(n_train={a}, n_val={b}, seed={c})" for a, b, c in sorted(mnist.splits))
        raise SplitNotLabelled(
            f"load_splits(n_train={n_train}, n_val={n_val}, seed={seed}): while grading, only the exercise's "
            f"labelled splits have labels ({allowed}); use one of those")
    train, val = mnist.splits[key]
    return SplitIndices(train, val, np.setdiff1d(np.arange(len(mnist.train_labels)), np.concatenate([train, val])))


@dataclass(frozen=True)
class MnistSplits:
    """What a student works with: labelled train/val sets and unlabelled images."""

    train: LabelledImages
    val: LabelledImages
    unlabelled: UnlabelledImages
    source: str

    def summary(self) -> str:
        return (f"MNIST from {self.source}: {len(self.train):,} labelled train, "
                f"{len(self.val):,} labelled val, {len(self.unlabelled):,} unlabelled images")


def load_splits(n_train: int = config.LABELLED_TRAIN, n_val: int = config.LABELLED_VAL,
                seed: int = config.SPLIT_SEED, flatten: bool = False) -> MnistSplits:
    """The student's splits as in-memory tensors (images float in [0, 1], labels int64).

    Images are (N, 1, 28, 28), or (N, 784) with flatten=True.
    """
    mnist = load_mnist()
    idx = _indices(mnist, n_train, n_val, seed)

    def labelled(index):
        return LabelledImages(to_tensor(mnist.train_images[index], flatten),
                              torch.from_numpy(mnist.train_labels[index].astype(np.int64)))

    return MnistSplits(labelled(idx.train), labelled(idx.val),
                       UnlabelledImages(to_tensor(mnist.train_images[idx.unlabelled], flatten)),
                       mnist.source)
