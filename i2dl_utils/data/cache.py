"""One compact, self-checking cache file of MNIST: uint8 arrays + source + sha256 digest.

A students' data view (i2dl_course.grading.dataview) is the same format plus its labelled splits:
`split_keys` (k, 3) int64 rows (n_train, n_val, seed) and `split_<i>_train` / `split_<i>_val`
index arrays, all covered by the digest."""
import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .mnist import Mnist

CACHE_NAME = "mnist.npz"
ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")


class CacheError(RuntimeError):
    """The cache file is missing, truncated or does not match its digest."""


def digest(mnist: Mnist) -> str:
    """sha256 over the source, shapes and bytes of the four arrays (and of a view's splits)."""
    h = hashlib.sha256(mnist.source.encode())
    for name in ARRAYS:
        array = np.ascontiguousarray(getattr(mnist, name))
        h.update(repr(array.shape).encode())
        h.update(array.data)
    for key, (train, val) in sorted(mnist.splits.items()):    # none in the data itself: digest as before
        h.update(f"split {key}".encode())
        for index in (train, val):
            index = np.ascontiguousarray(index, np.int64)
            h.update(repr(index.shape).encode())
            h.update(index.data)
    return h.hexdigest()


def _split_arrays(mnist: Mnist) -> dict:
    if not mnist.splits:
        return {}
    keys = sorted(mnist.splits)
    arrays = {"split_keys": np.array(keys, np.int64).reshape(len(keys), 3)}
    for i, key in enumerate(keys):
        arrays[f"split_{i}_train"], arrays[f"split_{i}_val"] = mnist.splits[key]
    return arrays


def _read_splits(f) -> dict:
    if "split_keys" not in f.files:
        return {}
    keys = f["split_keys"]
    if keys.dtype != np.int64 or keys.ndim != 2 or keys.shape[1] != 3:
        raise ValueError(f"split_keys must be (k, 3) int64, got {keys.dtype} {keys.shape}")
    return {tuple(int(k) for k in key): (f[f"split_{i}_train"], f[f"split_{i}_val"]) for i, key in enumerate(keys)}


def save(mnist: Mnist, path: Path) -> None:
    """Write atomically: a reader sees the old file or the complete new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mnist-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{name: getattr(mnist, name) for name in ARRAYS}, **_split_arrays(mnist),
                     source=np.array(mnist.source), digest=np.array(digest(mnist)))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> Mnist:
    """The cached MNIST, or CacheError if the file is missing or corrupt."""
    if not path.is_file():
        raise CacheError(f"{path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            mnist = Mnist(*(f[name] for name in ARRAYS), source=str(f["source"]), splits=_read_splits(f))
            stored = str(f["digest"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise CacheError(f"{path} is unreadable ({type(err).__name__}: {err})") from err
    if digest(mnist) != stored:
        raise CacheError(f"{path} does not match its checksum (corrupted)")
    return mnist
