"""One compact, self-checking cache file of MNIST: uint8 arrays + source + sha256 digest."""
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
    """sha256 over the source, shapes and bytes of the four arrays."""
    h = hashlib.sha256(mnist.source.encode())
    for name in ARRAYS:
        array = np.ascontiguousarray(getattr(mnist, name))
        h.update(repr(array.shape).encode())
        h.update(array.data)
    return h.hexdigest()


def save(mnist: Mnist, path: Path) -> None:
    """Write atomically: a reader sees the old file or the complete new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mnist-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{name: getattr(mnist, name) for name in ARRAYS},
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
            mnist = Mnist(*(f[name] for name in ARRAYS), source=str(f["source"]))
            stored = str(f["digest"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise CacheError(f"{path} is unreadable ({type(err).__name__}: {err})") from err
    if digest(mnist) != stored:
        raise CacheError(f"{path} does not match its checksum (corrupted)")
    return mnist
