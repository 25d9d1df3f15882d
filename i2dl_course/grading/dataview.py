"""The students' view of the data, the only data a grading sandbox sees: MNIST's training part
(from which the students' splits come). The test split, whose labels decide scores, stays with the
grader (i2dl_course.judges.GraderData).

A cluster worker host (cluster.py) gets the view alone with `i2dl data --view DIR` (`provision_view`):
the labelled test split is never written there."""
from pathlib import Path

import numpy as np

from i2dl_utils.data import cache, sources
from i2dl_utils.data.mnist import Mnist
from i2dl_utils.data.provision import cache_path, load_mnist


def student_view(mnist: Mnist) -> Mnist:
    empty = np.zeros((0, 28, 28), np.uint8)
    return Mnist(mnist.train_images, mnist.train_labels, empty, np.zeros(0, np.uint8),
                 source=f"{mnist.source} (training part only)")


def build(folder: Path, mnist: Mnist = None) -> Path:
    """Write (or keep, if it is current) the view of `mnist` (default: the verified cache) into
    `folder`, readable by the sandboxes' unprivileged uids."""
    view = student_view(mnist or load_mnist())
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


def load(folder: Path) -> Mnist:
    """The view in `folder`, verified (cache.CacheError if missing or corrupt, ValueError if it
    holds a test split, i.e. it is the full cache and not a view)."""
    view = cache.load(Path(folder) / cache.CACHE_NAME)
    if len(view.test_images) or len(view.test_labels):
        raise ValueError(f"{folder} holds a test split: it is the grader's full data, not the students' view")
    return view


def provision_view(folder: Path, source: str = "auto", idx_dir=None) -> Mnist:
    """The view for a host that only runs sandboxes (a cluster worker): from this host's verified
    cache if it has one, else fetched into memory (the download passes through a temporary folder
    that is removed) and only the view written. Returns the view."""
    try:
        mnist = cache.load(cache_path())
        if source != "auto" and not mnist.source.startswith(source + ":"):
            mnist = None
    except cache.CacheError:
        mnist = None
    build(folder, mnist or sources.fetch(source, idx_dir))
    return load(folder)
