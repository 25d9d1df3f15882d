"""The students' view of the data, the only data a grading sandbox sees: MNIST's training part
(from which the students' splits come), with labels only for the images of the exercise's labelled
splits (config.LABELLED_SPLITS, each (n_train, n_val, seed)); every other training label is
mnist.UNLABELLED. The view also holds those splits' indices, drawn from the full labels, so that
load_splits in a grading kernel returns exactly the student's splits (and refuses any other). The
test split, whose labels decide scores, stays with the grader (i2dl_course.judges.GraderData).

Each notebook's kernel sees its own notebook's view (config.NOTEBOOK_SPLITS: notebook 1 600 labels,
notebook 2 3,000), in a subfolder named for the notebook beside the view of all the exercise's splits
(`build_all`); a notebook without a view of its own (another course's) gets that one.
A cluster worker host (cluster.py) gets the views alone with `i2dl data --view DIR` (`provision_view`):
the labelled test split is never written there, nor any label outside the splits."""
from pathlib import Path

import numpy as np

from i2dl_utils import config
from i2dl_utils.data import cache, sources
from i2dl_utils.data.mnist import UNLABELLED, Mnist
from i2dl_utils.data.provision import cache_path, load_mnist
from i2dl_utils.data.splits import split_indices


def student_view(mnist: Mnist, splits=None) -> Mnist:
    """The view of the full data `mnist` for `splits` (default config.LABELLED_SPLITS)."""
    if mnist.splits:
        raise ValueError("a view is made from the full data, not from another view")
    keys = sorted({tuple(int(k) for k in split) for split in (config.LABELLED_SPLITS if splits is None else splits)})
    if not keys:
        raise ValueError("a view needs at least one labelled split")
    indices, labels = {}, np.full_like(mnist.train_labels, UNLABELLED)
    for key in keys:
        idx = split_indices(mnist.train_labels, *key)
        indices[key] = (idx.train.astype(np.int64), idx.val.astype(np.int64))
        for index in indices[key]:
            labels[index] = mnist.train_labels[index]
    empty = np.zeros((0, 28, 28), np.uint8)
    return Mnist(mnist.train_images, labels, empty, np.zeros(0, np.uint8),
                 source=f"{mnist.source} (training part only)", splits=indices)


def build(folder: Path, mnist: Mnist = None, splits=None) -> Path:
    """Write (or keep, if it is current) the view of `mnist` (default: the verified cache) for
    `splits` (default config.LABELLED_SPLITS) into `folder`, readable by the sandboxes'
    unprivileged uids."""
    view = student_view(mnist or load_mnist(), splits)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    path = folder / cache.CACHE_NAME
    try:
        if cache.digest(cache.load(path)) == cache.digest(view):
            return folder
    except cache.CacheError:
        pass
    cache.save(view, path)
    return folder


def build_all(folder: Path, mnist: Mnist = None) -> Path:
    """The view of all the exercise's labelled splits in `folder` and each notebook's own view in
    `folder/<notebook>` (config.NOTEBOOK_SPLITS): the folder a grading run mounts."""
    mnist = mnist or load_mnist()
    build(folder, mnist)
    for name, splits in config.NOTEBOOK_SPLITS.items():
        build(Path(folder) / name, mnist, splits=splits)
    return Path(folder)


def files(folder: Path) -> list:
    """The view files of a folder `build_all` wrote: the exercise's first, then each notebook's."""
    folder = Path(folder)
    return [folder / cache.CACHE_NAME] + [folder / name / cache.CACHE_NAME for name in config.NOTEBOOK_SPLITS]


def load(folder: Path) -> Mnist:
    """The view in `folder`, verified (cache.CacheError if missing or corrupt, ValueError if it
    holds a test split or all training labels, i.e. it is the full cache or an older view)."""
    view = cache.load(Path(folder) / cache.CACHE_NAME)
    if len(view.test_images) or len(view.test_labels):
        raise ValueError(f"{folder} holds a test split: it is the grader's full data, not the students' view")
    if not view.splits:
        raise ValueError(f"{folder} holds every training label (the full data or an older view): "
                         "a students' view labels only the exercise's splits")
    return view


def provision_view(folder: Path, source: str = "auto", idx_dir=None) -> Mnist:
    """The view for a host that only runs sandboxes (a cluster worker): from this host's verified
    cache if it has one, else fetched into memory (the download passes through a temporary folder
    that is removed) and only the views written (`build_all`). Returns the exercise's view."""
    try:
        mnist = cache.load(cache_path())
        if source != "auto" and not mnist.source.startswith(source + ":"):
            mnist = None
    except cache.CacheError:
        mnist = None
    build_all(folder, mnist or sources.fetch(source, idx_dir))
    return load(folder)
