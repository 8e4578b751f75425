"""A GGUF v3 file writer that streams tensor data.

Layout (gguf.md in llama.cpp): magic "GGUF", version, tensor count, metadata count, the metadata
key/value pairs, the tensor infos (name, dims innermost first, ggml type, offset into the data
section), padding to `general.alignment`, then each tensor's bytes, each padded to the alignment.
All tensor infos must be known before the first byte of data, so `GGUFWriter` takes the plan
(name, shape, type) up front and then accepts the encoded tensors one at a time in that order:
only the tensor being written is ever in memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .quants import GGML_TYPES, encoded_nbytes

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# gguf_type ids for metadata values.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)


@dataclass(frozen=True)
class Typed:
    """A metadata value with an explicit gguf type (plain ints are written as UINT32, floats as FLOAT32)."""

    kind: int
    value: object


@dataclass(frozen=True)
class TensorPlan:
    name: str
    shape: tuple[int, ...]  # torch order (outermost first); written innermost first
    qtype: str  # key of quants.GGML_TYPES

    @property
    def nbytes(self) -> int:
        return encoded_nbytes(self.qtype, self.shape)


def _pad(n: int, align: int = ALIGNMENT) -> int:
    return (align - n % align) % align


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


@dataclass(frozen=True)
class Array:
    """A metadata array whose elements all have gguf type `kind`."""

    kind: int
    values: object  # a sequence or a numpy array


def _kind(v) -> int:
    if isinstance(v, Typed):
        return v.kind
    if isinstance(v, Array):
        return ARRAY
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int):
        return UINT32 if v >= 0 else INT32
    if isinstance(v, float):
        return FLOAT32
    if isinstance(v, str):
        return STRING
    if isinstance(v, (list, tuple)):
        return ARRAY
    raise TypeError(f"metadata value of type {type(v).__name__} cannot be written to GGUF")


_PACK = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i", FLOAT32: "<f",
         BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
_NP = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4", FLOAT32: "<f4",
       BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}


def _array(v) -> bytes:
    if not isinstance(v, Array):
        v = Array(_kind(v[0]) if len(v) else UINT32, v)
    values = v.values
    head = struct.pack("<IQ", v.kind, len(values))
    if v.kind == STRING:
        return head + b"".join(_string(s) for s in values)
    if v.kind in _NP:  # numbers: one numpy conversion, not a struct call per element
        return head + np.asarray(values, dtype=_NP[v.kind]).tobytes()
    raise TypeError("nested arrays are not written")


def encode_metadata(key: str, value) -> bytes:
    kind = _kind(value)
    raw = value.value if isinstance(value, Typed) else value
    if kind == STRING:
        body = _string(raw)
    elif kind == ARRAY:
        body = _array(raw)
    else:
        body = struct.pack(_PACK[kind], raw)
    return _string(key) + struct.pack("<I", kind) + body


class GGUFWriter:
    """Write header, metadata and tensor infos at construction; then `write(name, data)` per tensor, in plan order."""

    def __init__(self, f: BinaryIO, metadata: dict, plan: list[TensorPlan]):
        self.f, self.plan, self._next = f, plan, 0
        meta = {"general.alignment": Typed(UINT32, ALIGNMENT), **metadata}
        out = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(plan), len(meta))]
        out += [encode_metadata(k, v) for k, v in meta.items()]
        offset = 0
        for t in plan:
            dims = tuple(reversed(t.shape))
            out.append(_string(t.name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
                       + struct.pack("<IQ", GGML_TYPES[t.qtype], offset))
            offset += t.nbytes + _pad(t.nbytes)
        head = b"".join(out)
        f.write(head + b"\0" * _pad(len(head)))
        self.data_bytes = offset

    def write(self, name: str, chunks) -> None:
        """The next planned tensor's encoded bytes: one uint8 array, or an iterable of consecutive pieces."""
        t = self.plan[self._next]
        if name != t.name:
            raise ValueError(f"tensor {name} written out of order (expected {t.name})")
        if isinstance(chunks, np.ndarray):
            chunks = (chunks,)
        n = 0
        for c in chunks:
            buf = np.ascontiguousarray(c).view(np.uint8).reshape(-1)
            self.f.write(buf.data)
            n += buf.nbytes
        if n != t.nbytes:
            raise ValueError(f"{name}: {n} bytes, expected {t.nbytes} for {t.qtype} {t.shape}")
        self.f.write(b"\0" * _pad(n))
        self._next += 1

    def close(self) -> None:
        if self._next != len(self.plan):
            raise ValueError(f"{len(self.plan) - self._next} planned tensor(s) never written")
