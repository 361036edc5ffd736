"""The bridge's wire format: one message = an 8-byte little-endian length, then a 4-byte
header length, a JSON header, and the raw bytes of every NumPy array in it.

Arrays are replaced in the header by ``{"__nd__": [dtype, shape, offset, nbytes]}`` and travel
as their bytes (C order), so both ends need nothing but NumPy -- no pickle, whose NumPy array
reconstruction differs between NumPy 1.x (the simulator's venv) and 2.x (ours). Values: dict
(string keys), list/tuple (as list), str, int, float, bool, None, NumPy arrays and scalars.

This module imports only the standard library and NumPy: the simulator server loads it by
file path in its own virtual environment.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

import numpy as np

MAX_MESSAGE_BYTES = 1 << 31


def encode(obj: Any) -> bytes:
    """The payload (without the outer length) of ``obj``."""
    buffers: list[bytes] = []
    offset = 0

    def walk(x):
        nonlocal offset
        if isinstance(x, np.ndarray):
            a = x if x.flags.c_contiguous else x.copy(order="C")  # keeps 0-d arrays 0-d
            if a.dtype.hasobject:
                raise ValueError("object arrays cannot be sent over the bridge")
            b = a.tobytes()
            ref = {"__nd__": [a.dtype.str, list(a.shape), offset, len(b)]}
            buffers.append(b)
            offset += len(b)
            return ref
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if not isinstance(k, str):
                    raise ValueError(f"message keys must be strings, got {type(k).__name__}")
                if k == "__nd__":
                    raise ValueError("'__nd__' is a reserved key")
                out[k] = walk(v)
            return out
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        if x is None or isinstance(x, (str, bool, int, float)):
            return x
        raise ValueError(f"cannot send a {type(x).__name__} over the bridge")

    header = json.dumps(walk(obj), allow_nan=True).encode()
    return struct.pack("<I", len(header)) + header + b"".join(buffers)


def decode(payload: bytes) -> Any:
    """The object of a payload made by :func:`encode`."""
    if len(payload) < 4:
        raise ValueError("truncated message: no header length")
    (n,) = struct.unpack("<I", payload[:4])
    if 4 + n > len(payload):
        raise ValueError("truncated message: header longer than the message")
    header = json.loads(payload[4:4 + n].decode())
    data = memoryview(payload)[4 + n:]

    def walk(x):
        if isinstance(x, dict):
            if "__nd__" in x:
                dtype, shape, off, nbytes = x["__nd__"]
                if off + nbytes > len(data):
                    raise ValueError("truncated message: array data missing")
                a = np.frombuffer(data[off:off + nbytes], dtype=np.dtype(dtype))
                return a.reshape(tuple(shape)).copy()
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(header)


def write_message(stream: BinaryIO, obj: Any) -> None:
    payload = encode(obj)
    stream.write(struct.pack("<Q", len(payload)))
    stream.write(payload)
    stream.flush()


def read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = stream.read(n - got)
        if not b:
            raise EOFError("the other end of the bridge closed the connection")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> Any:
    (n,) = struct.unpack("<Q", read_exact(stream, 8))
    if n > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {n} bytes is larger than the limit")
    return decode(read_exact(stream, n))
