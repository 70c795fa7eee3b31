"""Read the IDX format of (Fashion-)MNIST, gzipped or plain.

Header: two zero bytes, a type byte (0x08 = uint8 ...), a byte giving the number of dimensions,
then each dimension as a big-endian uint32; the data follows, big-endian, C order.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzip-compressed or not, detected from its first bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _TYPES:
        raise ValueError(f"{path} is not an IDX file (its magic number is {data[:4].hex() or 'missing'})")
    dtype, ndim = _TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header]) if len(data) >= header else None
    expected = None if shape is None else header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if expected != len(data):
        raise ValueError(
            f"{path}: {len(data)} bytes, but its IDX header {shape} needs {expected}; the file is truncated or damaged"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
