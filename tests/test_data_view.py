"""The students' data view of grading: labels only of the exercise's labelled splits, and
load_splits there returns exactly the student's splits (i2dl_course.grading.dataview)."""
import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import small_mnist_like
from i2dl_course.grading import dataview
from i2dl_utils import config
from i2dl_utils.data import cache, load_splits
from i2dl_utils.data.mnist import UNLABELLED, Mnist
from i2dl_utils.data.splits import SplitNotLabelled, split_indices

SOURCE = Path(__file__).resolve().parent.parent / "source" / config.ASSIGNMENT


@pytest.fixture(scope="module")
def view_dir(mnist_cache, tmp_path_factory):
    return dataview.build(tmp_path_factory.mktemp("view"))


def in_view(monkeypatch, folder):
    monkeypatch.setenv("I2DL_DATA_DIR", str(folder))


def test_the_view_labels_only_the_images_of_the_exercise_splits(mnist_cache, view_dir):
    full, view = mnist_cache.mnist, dataview.load(view_dir)
    assert sorted(view.splits) == sorted(config.LABELLED_SPLITS) == [(300, 300, 0), (2000, 1000, 0)]
    labelled = view.train_labels != UNLABELLED
    union = np.unique(np.concatenate([i for pair in view.splits.values() for i in pair]))
    # the per-digit order of one seed is shared: 300+300 is a prefix of 2000+1000, 300 images a digit
    assert labelled.sum() == len(union) == 3000
    assert np.array_equal(np.flatnonzero(labelled), union)
    assert np.array_equal(view.train_labels[union], full.train_labels[union])
    assert np.array_equal(view.train_images, full.train_images)
    assert len(view.test_images) == len(view.test_labels) == 0


@pytest.mark.parametrize("split", config.LABELLED_SPLITS)
def test_load_splits_in_the_view_equals_load_splits_on_the_full_data(mnist_cache, view_dir, monkeypatch, split):
    expected = split_indices(mnist_cache.mnist.train_labels, *split)
    stored = dataview.load(view_dir).splits[split]
    assert np.array_equal(stored[0], expected.train) and np.array_equal(stored[1], expected.val)
    full = load_splits(*split, flatten=True)
    in_view(monkeypatch, view_dir)
    graded = load_splits(*split, flatten=True)
    for part in ("train", "val"):
        assert torch.equal(getattr(graded, part).images, getattr(full, part).images)
        assert torch.equal(getattr(graded, part).labels, getattr(full, part).labels)
    assert torch.equal(graded.unlabelled.images, full.unlabelled.images)


def test_another_split_in_the_view_is_refused_with_the_reason(view_dir, monkeypatch):
    in_view(monkeypatch, view_dir)
    with pytest.raises(SplitNotLabelled, match=r"load_splits\(n_train=500, n_val=300, seed=0\): while grading, "
                                               r"only the exercise's labelled splits have labels"):
        load_splits(500, 300)
    with pytest.raises(SplitNotLabelled, match="seed=1"):
        load_splits(seed=1)
    with pytest.raises(SplitNotLabelled, match="grading data view"):   # drawing from the view's labels
        split_indices(dataview.load(view_dir).train_labels, 10, 10, 0)
    assert len(load_splits().train) == 300


def test_a_view_for_one_notebook_labels_only_its_splits(mnist_cache, tmp_path, monkeypatch):
    folder = dataview.build(tmp_path, splits=config.NOTEBOOK_SPLITS["1_autoencoder"])
    view = dataview.load(folder)
    assert sorted(view.splits) == [(300, 300, 0)] and (view.train_labels != UNLABELLED).sum() == 600
    in_view(monkeypatch, folder)
    with pytest.raises(SplitNotLabelled, match="n_train=300, n_val=300, seed=0"):
        load_splits(2000, 1000)


def _load_splits_calls(path: Path):
    """(n_train, n_val, seed) of every load_splits call in the notebook's code cells."""
    defaults = {"n_train": config.LABELLED_TRAIN, "n_val": config.LABELLED_VAL, "seed": config.SPLIT_SEED}
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "load_splits":
                args = dict(defaults, **dict(zip(defaults, (ast.literal_eval(a) for a in node.args))))
                args.update({k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in defaults})
                yield args["n_train"], args["n_val"], args["seed"]


def test_the_notebooks_ask_only_for_their_configured_splits():
    notebooks = sorted(SOURCE.glob("*.ipynb"))
    assert sorted(p.stem for p in notebooks) == sorted(config.NOTEBOOK_SPLITS)
    for path in notebooks:
        calls = set(_load_splits_calls(path))
        assert calls and calls <= set(config.NOTEBOOK_SPLITS[path.stem]), (path.name, calls)


def _small_view(tmp_path) -> Path:
    raw = small_mnist_like()
    full = Mnist(raw["train-images"], raw["train-labels"], raw["t10k-images"], raw["t10k-labels"], source="test:x")
    return dataview.build(tmp_path / "view", full, splits=[(20, 10, 0)])


def test_a_tampered_or_unrestricted_view_is_refused(tmp_path):
    folder = _small_view(tmp_path)
    view = dataview.load(folder)
    assert (view.train_labels != UNLABELLED).sum() == 30
    path = folder / cache.CACHE_NAME
    with np.load(path) as f:
        arrays = dict(f)

    def write(**changes):
        np.savez(path, **dict(arrays, **changes))

    labels = view.train_labels.copy()
    labels[np.flatnonzero(labels == UNLABELLED)[0]] = 3         # a label outside the splits
    write(train_labels=labels)
    with pytest.raises(cache.CacheError, match="only the images of its splits"):
        dataview.load(folder)
    write(split_0_train=arrays["split_0_train"][::-1].copy())    # indices changed: the digest says so
    with pytest.raises(cache.CacheError, match="sorted distinct"):
        dataview.load(folder)
    old = arrays["split_0_val"][0]
    new = int(np.flatnonzero(view.train_labels == UNLABELLED)[0])
    labels = view.train_labels.copy()
    labels[old], labels[new] = UNLABELLED, small_mnist_like()["train-labels"][new]
    write(split_0_val=np.sort(np.append(arrays["split_0_val"][1:], new)), train_labels=labels)  # well-formed, forged
    with pytest.raises(cache.CacheError, match="checksum"):
        dataview.load(folder)
    raw = small_mnist_like()
    cache.save(Mnist(raw["train-images"], raw["train-labels"], np.zeros((0, 28, 28), np.uint8),
                     np.zeros(0, np.uint8), source="test:x"), path)   # all labels: an older view
    with pytest.raises(ValueError, match="every training label"):
        dataview.load(folder)
