"""Parse the IDX format of the original MNIST files (http://yann.lecun.com/exdb/mnist/)."""
import numpy as np

UBYTE = 0x08


class IdxFormatError(ValueError):
    """The bytes are not a well-formed unsigned-byte IDX file."""


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Return the uint8 array stored in `raw` (e.g. (N, 28, 28) images or (N,) labels)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IdxFormatError(f"{name}: not an IDX file (bad magic number)")
    if raw[2] != UBYTE:
        raise IdxFormatError(f"{name}: element type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{name}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise IdxFormatError(f"{name}: {len(raw)} bytes, the header promises {expected} (truncated or padded)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
