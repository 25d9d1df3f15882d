"""A test cell's exports, parsed as hostile data: no pickle, no code, sizes and types checked.

The runner hands over the export folder as {relative path: bytes} (already size-capped by
i2dl_course.grading.safe_files). Here they become a record (values, errors) and arrays:
.npy files parsed by hand (header, dtype allow-list, exact byte count), JSON without NaN,
Infinity or oversized numbers; model graphs (.onnx) are parsed by graphs.py. Anything else is a
`Failed` with a one-line reason.
"""
import io
import json
import math
import re

import numpy as np

from .errors import in_words, split_where

MAX_RECORD_BYTES = 1 << 20
MAX_ARRAY_BYTES = 64 << 20
DTYPES = {np.dtype(t) for t in ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")}
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,150}$")


class Failed(Exception):
    """The test fails; str(error) is the one-line message for the student."""


def parse_npy(data: bytes, name: str) -> np.ndarray:
    """The array in `data` (.npy bytes), or Failed. Never unpickles, never allocates beyond len(data)."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, SyntaxError, TypeError, KeyError, EOFError, MemoryError, RecursionError) as err:
        raise Failed(f"{name}: not a plain .npy array ({type(err).__name__})") from None
    if dtype not in DTYPES:
        raise Failed(f"{name}: arrays of {dtype} are not accepted (numbers or booleans only)")
    if not all(isinstance(n, int) and 0 <= n <= len(data) for n in shape):
        raise Failed(f"{name}: impossible shape {shape}")
    count = math.prod(shape)
    if count * dtype.itemsize != len(data) - f.tell():
        raise Failed(f"{name}: its header promises {count:,} values, the file holds a different amount")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=f.tell())
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _reject_constant(token: str):
    raise ValueError(f"{token} is not allowed")


def parse_json(data: bytes, name: str):
    if len(data) > MAX_RECORD_BYTES:
        raise Failed(f"{name}: larger than {MAX_RECORD_BYTES:,} bytes")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_reject_constant,
                           parse_float=lambda text: _finite(float(text)))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise Failed(f"{name}: not valid JSON ({' '.join(str(err).split())[:80]})") from None
    return value


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("a number out of range")
    return x


def plain_error(text: str) -> str:
    """The student's exception as exported, as one short line (its "[in where]" kept: errors.py)."""
    text, where = split_where(text)
    where = f" [in {where[:130]}]" if where else ""
    return (text if len(text) <= 200 else text[:199] + "…") + where


class Evidence:
    """One test cell's exports: `record.json` plus `<name>.npy` arrays.

    files: {name relative to the cell's export folder: bytes}.
    """

    def __init__(self, files: dict, grade_id: str):
        if "record.json" not in files:
            raise Failed("no results were exported")
        record = parse_json(files["record.json"], "record.json")
        if not isinstance(record, dict):
            raise Failed("record.json is not an object")
        self.grade_id = grade_id
        self.values = self._dict(record, "values")
        self.errors = {k: plain_error(v) for k, v in self._dict(record, "errors").items()}
        self.cache = {}               # what judges derived from these files (e.g. parsed graphs)
        self._files = files

    @staticmethod
    def _dict(record: dict, key: str) -> dict:
        value = record.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise Failed(f"record.json: {key} is not an object")
        return value

    def files(self) -> list:
        return sorted(self._files)

    def file(self, name: str):
        """The raw bytes of an exported file (e.g. <model>.onnx), or None."""
        return self._files.get(name) if NAME.match(name) else None

    def has(self, name: str) -> bool:
        return f"{name}.npy" in self._files

    def error(self, name: str):
        """What the student's code raised while producing `name`, or None."""
        return self.errors.get(name)

    def array(self, name: str, what: str = None, shape=None, kind: str = "fiub", finite: bool = True) -> np.ndarray:
        """The exported array `name`, or Failed saying what is wrong with it.

        what: how the student's call reads in a message (e.g. "random_shift(images, 2)");
        shape: the required shape; kind: accepted dtype kinds (f float, i/u integer, b bool).
        """
        what = what or name
        error = self.errors.get(name)
        if error is not None:
            if error.startswith("NotImplementedError"):
                raise Failed(f"{what} is not implemented yet (NotImplementedError)")
            raise Failed(f"{what} {in_words(error)}")
        data = self._files.get(f"{name}.npy")
        if data is None or not NAME.match(name):
            raise Failed(f"{what} gave no result")
        if len(data) > MAX_ARRAY_BYTES:
            raise Failed(f"{what}: its result is larger than {MAX_ARRAY_BYTES >> 20} MB")
        array = parse_npy(data, name)
        if array.dtype.kind not in kind:
            raise Failed(f"{what} returned values of type {array.dtype}, expected "
                         + ("floating-point numbers" if kind == "f" else "numbers"))
        if shape is not None and array.shape != tuple(shape):
            raise Failed(f"{what} returned shape {array.shape}, expected {tuple(shape)}")
        if finite and array.dtype.kind == "f" and not np.isfinite(array).all():
            raise Failed(f"{what} returned NaN or inf")
        return array

    def value(self, name: str, types, what: str = None):
        if name not in self.values:
            error = self.errors.get(name)
            raise Failed(f"{what or name} " + (in_words(error) if error else "gave no result"))
        value = self.values[name]
        if not isinstance(value, types) or isinstance(value, bool) and bool not in _tuple(types):
            raise Failed(f"{what or name}: unexpected value of type {type(value).__name__}")
        return value


def _tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)
