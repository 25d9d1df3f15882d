"""Splits of the real data: sizes, disjointness, determinism, balance, label hiding, tensors."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from i2dl_course.judges import GraderData
from i2dl_utils.data import load_splits, provision
from i2dl_utils.data.splits import split_indices


@pytest.fixture(scope="module")
def splits(mnist_cache):
    return load_splits()


def test_full_mnist_split_sizes(mnist_cache, splits):
    if not mnist_cache.mnist.source.startswith("pypi"):
        pytest.skip("needs the full MNIST from PyPI")
    assert (len(splits.train), len(splits.val), len(splits.unlabelled)) == (300, 300, 59400)
    assert len(GraderData().test_labels) == 10000


def test_fallback_split_sizes(data_dir):
    provision(source="npm")
    s = load_splits()
    assert (len(s.train), len(s.val), len(s.unlabelled), len(GraderData().test_labels)) == (300, 300, 7400, 2000)


def test_splits_are_disjoint_and_cover_the_training_images(mnist_cache):
    labels = mnist_cache.mnist.train_labels
    idx = split_indices(labels, 300, 300, seed=0)
    all_idx = np.concatenate([idx.train, idx.val, idx.unlabelled])
    assert len(np.unique(all_idx)) == len(all_idx) == len(labels)


def test_labelled_sets_are_class_balanced(splits):
    assert torch.bincount(splits.train.labels, minlength=10).tolist() == [30] * 10
    assert torch.bincount(splits.val.labels, minlength=10).tolist() == [30] * 10


def test_sizes_are_configurable_and_balanced_with_remainders(mnist_cache):
    idx = split_indices(mnist_cache.mnist.train_labels, 105, 13, seed=3)
    counts = np.bincount(mnist_cache.mnist.train_labels[idx.train], minlength=10)
    assert len(idx.train) == 105 and len(idx.val) == 13 and counts.max() - counts.min() == 1


def test_seed_changes_the_split_and_is_deterministic_across_processes(mnist_cache):
    code = ("from i2dl_utils.data import load_splits; import hashlib; "
            "s = load_splits(); print(hashlib.sha256(s.train.images.numpy().tobytes() "
            "+ s.val.labels.numpy().tobytes()).hexdigest())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1
    labels = mnist_cache.mnist.train_labels
    assert not np.array_equal(split_indices(labels, 300, 300, 0).train, split_indices(labels, 300, 300, 1).train)


def test_student_api_hides_labels_of_unlabelled_and_test_images(splits):
    assert not hasattr(splits.unlabelled, "labels")
    assert isinstance(splits.unlabelled[0], torch.Tensor)        # an image, no (image, label)
    assert set(vars(splits)) == {"train", "val", "unlabelled", "source"}   # no test split here
    batch = next(iter(splits.unlabelled.loader(batch_size=8)))
    assert isinstance(batch, torch.Tensor) and batch.shape == (8, 1, 28, 28)


def test_tensors_have_the_documented_dtype_range_and_shape(splits):
    x, y = splits.train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert splits.train.images.min() >= 0 and splits.train.images.max() <= 1
    assert splits.train.images.max() == 1.0                  # scaled by 255, not by the max
    flat = load_splits(flatten=True)
    assert flat.train.images.shape == (300, 784) and flat.unlabelled.images.shape[1] == 784
    assert torch.equal(flat.train.images, splits.train.images.reshape(300, -1))
    test = GraderData()
    assert test.test_images.shape[1:] == (1, 28, 28) and test.test_images.dtype == np.float32
    assert test.test_labels.dtype == np.int64 and test.test_images.max() == 1.0


def test_loader_batches_shuffle_and_apply_the_batch_transform(splits):
    torch.manual_seed(0)
    batches = list(splits.train.loader(batch_size=64, shuffle=True, batch_transform=lambda x: 1 - x))
    assert [len(b[0]) for b in batches] == [64, 64, 64, 64, 44]
    images = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    assert not torch.equal(labels, splits.train.labels)                   # shuffled
    assert torch.equal(torch.sort(labels).values, torch.sort(splits.train.labels).values)
    assert torch.allclose(torch.sort((1 - images).sum(dim=(1, 2, 3))).values,
                          torch.sort(splits.train.images.sum(dim=(1, 2, 3))).values)


def test_item_transform_hook_is_applied_per_item(splits):
    from i2dl_utils.data import LabelledImages
    flipped = LabelledImages(splits.train.images, splits.train.labels, transform=lambda x: x.flip(-1))
    x, y = flipped[3]
    assert torch.equal(x, splits.train.images[3].flip(-1)) and y == splits.train.labels[3]
    bx, _ = next(iter(flipped.loader(batch_size=4)))
    assert torch.equal(bx, splits.train.images[:4].flip(-1))
