"""A minimal IDX writer for test fixtures (the inverse of i2dl_utils.data.idx.parse_idx)."""
import gzip
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx_folder(folder: Path, mnist_like: dict, gz: bool = False, dotted: bool = False) -> None:
    """Write {'train-images': ..., 'train-labels': ..., 't10k-images': ..., 't10k-labels': ...}."""
    folder.mkdir(parents=True, exist_ok=True)
    for role, array in mnist_like.items():
        suffix = "idx3-ubyte" if array.ndim == 3 else "idx1-ubyte"
        name = f"{role}{'.' if dotted else '-'}{suffix}" + (".gz" if gz else "")
        raw = idx_bytes(array)
        (folder / name).write_bytes(gzip.compress(raw) if gz else raw)
