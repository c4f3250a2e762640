"""Restricted unpicklers (weights/foreign.py): numpy pickles and TorchScript archives, read without running code."""

import io
import os
import pickle
import subprocess
import warnings
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from deepsim_lite.weights.foreign import UnsafePickle, numpy_pickle, torchscript_tensors


class _Payload:
    """Pickles as a call of ``func(*args)``: what a hostile weights file does."""

    def __init__(self, func, args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(target) -> dict[str, _Payload]:
    """Three pickled programs that each create ``target``, by the name the pickle gives the function it calls."""
    return {
        "posix.system": _Payload(os.system, (f"touch '{target}'",)),
        "builtins.eval": _Payload(eval, (f"open({str(target)!r}, 'w').close()",)),
        "subprocess.Popen": _Payload(subprocess.Popen, (["touch", str(target)],)),
    }


def _run_for_real(payload: bytes) -> None:
    """What ``pickle.loads`` makes of ``payload``: the control that shows the payload is live."""
    result = pickle.loads(payload)
    for obj in [result, *(result.values() if isinstance(result, dict) else [])]:
        if isinstance(obj, subprocess.Popen):
            obj.wait(timeout=30)


# ----------------------------------------------------------------------------------------------
# numpy_pickle


def _tree() -> dict:
    g = np.random.default_rng(0)
    tree = {
        "AlexNet_0": {"Conv_0": {"kernel": g.standard_normal((3, 3, 2, 4)).astype(np.float32),
                                 "bias": np.arange(4, dtype=np.float32)}},
        "steps": np.array([[1, -2], [3, 2**40]], dtype=np.int64),
        "scalar": np.array(0.25, dtype=np.float32),  # 0-d array
        "empty": np.zeros((0, 3), dtype=np.float32),
        "fortran": np.asfortranarray(g.standard_normal((2, 3))),
        "transposed": np.arange(6, dtype=np.int64).reshape(2, 3).T,
        "plain": [1, 2.5, None, True, "text", (3, "x", [None]), {"k": -7}],
    }
    tree["steps_again"] = tree["steps"]  # one array twice (the pickle's memo): shared, not a cycle
    return tree


def _assert_tree_equal(got, want, path="") -> None:
    assert type(got) is type(want), path
    if isinstance(want, dict):
        assert list(got) == list(want), path
        for k in want:
            _assert_tree_equal(got[k], want[k], f"{path}/{k}")
    elif isinstance(want, list | tuple):
        assert len(got) == len(want), path
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _assert_tree_equal(a, b, f"{path}/{i}")
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape, path
        assert np.array_equal(got, want), path
    else:
        assert got == want, path


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])  # < 3: bytes as _codecs.encode; 5: numpy's _frombuffer
def test_numpy_pickle_round_trips_nested_arrays_and_plain_values(protocol):
    tree = _tree()
    _assert_tree_equal(numpy_pickle(pickle.dumps(tree, protocol=protocol)), tree)


def test_numpy_pickle_reads_pickles_made_by_numpy_1():
    tree = {"w": np.arange(5, dtype=np.float32), "i": np.array([[2**40]], dtype=np.int64)}
    data = pickle.dumps(tree, protocol=3)  # GLOBAL opcodes: module names as plain text
    assert data.count(b"numpy._core.multiarray\n") == 1
    old = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")  # the name numpy < 2 wrote
    _assert_tree_equal(numpy_pickle(old), tree)


@pytest.mark.parametrize("name", ["posix.system", "builtins.eval", "subprocess.Popen"])
def test_numpy_pickle_refuses_a_pickle_that_would_run_code(tmp_path, name):
    target = tmp_path / "pwned"
    hostile = {"weights": {"w": np.ones(3, dtype=np.float32)}, "x": _payloads(target)[name]}
    data = pickle.dumps(hostile, protocol=4)
    with pytest.raises(UnsafePickle, match=rf"asks for {name}, .*refused \(nothing from it was run\)"):
        numpy_pickle(data)
    assert not target.exists()
    _run_for_real(data)  # the control: an ordinary unpickler does run it
    assert target.exists()


def test_numpy_pickle_refuses_an_object_array():
    data = pickle.dumps({"w": {"o": np.array([1, "a", None], dtype=object)}})
    assert pickle.loads(data)["w"]["o"].dtype == object  # an ordinary unpickler builds it
    with pytest.raises(UnsafePickle, match="the array at /w/o holds Python objects; refused"):
        numpy_pickle(data)


def test_numpy_pickle_refuses_persistent_ids():
    outside = ["a handle into some other store"]

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return "store:0" if obj is outside else None

    buf = io.BytesIO()
    Pickler(buf, protocol=4).dump({"w": np.ones(2), "ref": outside})
    assert b"store:0" in buf.getvalue()
    with pytest.raises(UnsafePickle, match="persistent ids"):
        numpy_pickle(buf.getvalue())


@pytest.mark.parametrize("obj, message", [
    ({1: np.ones(2)}, "non-string key 1 at the top"),
    ({"a": {"b": {2, 3}}}, "holds a set at /a/b"),
    ({"b": [b"raw"]}, "holds a bytes at /b/0"),
    ({"c": 1 + 2j}, "asks for builtins.complex"),
    ({"f": np.float32(1.5)}, r"asks for numpy\._core\.multiarray\.scalar"),
])
def test_numpy_pickle_admits_only_arrays_and_plain_containers(obj, message):
    with pytest.raises(UnsafePickle, match=message):
        numpy_pickle(pickle.dumps(obj, protocol=4))


def test_numpy_pickle_refuses_a_cycle():
    loop = [np.ones(2)]
    loop.append(loop)  # six bytes of pickle opcodes make this
    with pytest.raises(UnsafePickle, match="cycle"):
        numpy_pickle(pickle.dumps({"w": loop}, protocol=4))


def test_unsafe_pickle_is_an_unpickling_error():
    assert issubclass(UnsafePickle, pickle.UnpicklingError)


# ----------------------------------------------------------------------------------------------
# torchscript_tensors


class _Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)
        grid = torch.arange(12.0).reshape(3, 4)
        self.register_buffer("grid", grid)
        self.register_buffer("grid_t", grid.t())  # shares grid's storage, transposed
        self.register_buffer("corner", grid[1:, 1:])  # shares it at an offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Outer(nn.Module):
    """A submodule, parameters and buffers of every dtype the reader maps, and attributes that are no tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _Inner()
        self.scale = nn.Parameter(torch.tensor(0.5))
        self.register_buffer("f16", torch.tensor([1.5, -2.0], dtype=torch.float16))
        self.register_buffer("bf16", torch.tensor([1.5, -0.0], dtype=torch.bfloat16))
        self.register_buffer("f64", torch.tensor([1e300, -1e-300], dtype=torch.float64))
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("ids", torch.tensor([[1, 2], [3, -4]], dtype=torch.int32))
        self.register_buffer("u8", torch.tensor([255, 0], dtype=torch.uint8))
        self.register_buffer("i8", torch.tensor([-128, 7], dtype=torch.int8))
        self.register_buffer("empty", torch.zeros(0, 3))
        self.depth = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) * self.scale


def _archive(module: nn.Module) -> bytes:
    """The TorchScript archive of ``module`` (scripted and saved; never loaded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script and .save are deprecated in recent torch
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(module), buf)  # (ScriptModule.save(BytesIO) writes a file named after it)
    return buf.getvalue()


@pytest.fixture(scope="module")
def conv_bn():
    """An archive of Sequential(Conv2d, BatchNorm2d) whose running statistics are not their defaults."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    net(torch.randn(2, 3, 8, 8))  # training mode: moves running_mean/var, counts a batch
    net.eval()
    return _archive(net), {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def nested():
    torch.manual_seed(2)
    net = _Outer()
    return _archive(net), {k: v.clone() for k, v in net.state_dict().items()}


def _rezip(data: bytes, replace: dict[str, bytes | None]) -> bytes:
    """A copy of a zip with the entries named in ``replace`` given new bytes (or dropped, for None)."""
    src, buf = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            new = replace.get(info.filename, src.read(info))
            if new is not None:
                dst.writestr(info, new)
    return buf.getvalue()


def test_torchscript_tensors_gives_the_state_dict_of_a_conv_bn(conv_bn):
    data, state = conv_bn
    got = torchscript_tensors(data)
    assert set(got) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked"}  # dotted names, exactly those of state_dict()
    assert set(got) == set(state)
    for name, want in state.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        assert torch.equal(got[name], want), name
    assert got["1.num_batches_tracked"].item() == 1 and not torch.equal(got["1.running_var"], torch.ones(4))


def test_torchscript_tensors_reads_nested_modules_shared_storages_and_every_dtype(nested):
    data, state = nested
    got = torchscript_tensors(data)
    assert set(got) == set(state) == {"scale", "f16", "bf16", "f64", "mask", "ids", "u8", "i8", "empty",
                                      "body.conv.weight", "body.conv.bias", "body.grid", "body.grid_t",
                                      "body.corner"}  # no "training", no "depth": only tensors
    for name, want in state.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        assert torch.equal(got[name], want), name
    assert torch.equal(got["body.corner"], torch.tensor([[5.0, 6.0, 7.0], [9.0, 10.0, 11.0]]))
    storages = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "/data/" in n]
    assert len(storages) == len(state) - 2  # grid_t and corner did share grid's storage in the archive


def test_torchscript_tensors_never_needs_the_archives_code(nested):
    data, state = nested
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    code = [n for n in names if "/code/" in n or n.endswith("constants.pkl")]
    assert code  # the archive does carry a program
    got = torchscript_tensors(_rezip(data, dict.fromkeys(code)))
    assert set(got) == set(state) and all(torch.equal(got[k], state[k]) for k in state)


@pytest.mark.parametrize("data", [
    b"",
    b"not a zip at all",
    pytest.param("zip-without-data.pkl", id="zip-without-data.pkl"),
    pytest.param("nested-data.pkl", id="data.pkl-not-at-the-top"),
])
def test_torchscript_tensors_refuses_what_is_not_an_archive(data):
    if isinstance(data, str):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("archive/version" if data == "zip-without-data.pkl" else "a/b/data.pkl", pickle.dumps({}))
        data = buf.getvalue()
    with pytest.raises(UnsafePickle, match=r"not a TorchScript archive \(no zip with a top-level data\.pkl\)"):
        torchscript_tensors(data)


@pytest.mark.parametrize("name", ["posix.system", "builtins.eval", "subprocess.Popen"])
def test_torchscript_tensors_refuses_an_archive_that_would_run_code(conv_bn, tmp_path, name):
    data, _ = conv_bn
    target = tmp_path / "pwned"
    hostile_pkl = pickle.dumps(_payloads(target)[name], protocol=2, fix_imports=False)  # data.pkl is protocol 2
    hostile = _rezip(data, {"archive/data.pkl": hostile_pkl})
    assert zipfile.ZipFile(io.BytesIO(hostile)).read("archive/data.pkl") == hostile_pkl
    with pytest.raises(UnsafePickle, match=rf"asks for {name}, "):
        torchscript_tensors(hostile)
    assert not target.exists()
    _run_for_real(hostile_pkl)  # the control: an ordinary unpickler does run it
    assert target.exists()


def test_torchscript_tensors_refuses_an_outside_persistent_id(conv_bn):
    data, _ = conv_bn
    outside = ["elsewhere"]

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("file", "/etc/passwd") if obj is outside else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": outside})
    with pytest.raises(UnsafePickle, match=r"refers to an outside object \('file', '/etc/passwd'\); refused"):
        torchscript_tensors(_rezip(data, {"archive/data.pkl": buf.getvalue()}))


def test_a_truncated_storage_is_refused(conv_bn):
    data, _ = conv_bn
    weight = zipfile.ZipFile(io.BytesIO(data)).read("archive/data/0")  # the conv weight, 4*3*3*3 float32
    assert len(weight) == 4 * 27 * 4
    cut = _rezip(data, {"archive/data/0": weight[: len(weight) // 2]})
    with pytest.raises(UnsafePickle, match=r"storage 0 of the archive is 216 bytes, 432 expected \(truncated\?\)"):
        torchscript_tensors(cut)


def test_a_missing_storage_is_refused(conv_bn):
    data, _ = conv_bn
    with pytest.raises(UnsafePickle, match="storage 0"):
        torchscript_tensors(_rezip(data, {"archive/data/0": None}))


def test_a_pickle_of_shared_nodes_is_checked_in_linear_time():
    import time

    node = [np.ones(1)]
    for _ in range(40):  # 2**40 paths through 40 shared lists: a walk of paths would never end
        node = [node, node]
    started = time.perf_counter()
    tree = numpy_pickle(pickle.dumps({"w": node}, protocol=4))
    assert time.perf_counter() - started < 2 and tree["w"][0] is tree["w"][1]


def _hostile_archive(conv_bn, mutate) -> bytes:
    """The conv_bn archive with its data.pkl rewritten: ``mutate(pickle opcodes as a list)`` edits the stream."""
    data, _ = conv_bn
    pkl = zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    return _rezip(data, {"archive/data.pkl": mutate(pkl)})


def test_a_tensor_larger_than_its_storage_is_refused(conv_bn):
    from deepsim_lite.weights import foreign

    storage = torch.arange(4, dtype=torch.float32)
    with pytest.raises(UnsafePickle, match=r"a tensor of \(1000, 1000\) is larger than its storage"):
        foreign._rebuild_tensor(storage, 0, (1000, 1000), (0, 0))  # zero strides: 4 bytes -> 4 MB
    assert foreign._rebuild_tensor(storage, 1, (3,), (1,)).tolist() == [1.0, 2.0, 3.0]


def test_an_archive_whose_objects_form_a_cycle_is_refused():
    from deepsim_lite.weights import foreign

    record = foreign._Record("__torch__.M")
    record.state = {"child": record}
    with pytest.raises(UnsafePickle, match="form a cycle at child"):
        foreign._collect(record, {})


def test_a_damaged_data_pkl_is_one_unsafe_pickle_error(conv_bn):
    # a pickle that calls a storage type (a torch dtype here) as a function, and one cut short
    hostile = _hostile_archive(conv_bn, lambda pkl: pkl[: len(pkl) // 2])
    with pytest.raises(UnsafePickle, match="a damaged TorchScript archive"):
        torchscript_tensors(hostile)
    calls_a_dtype = b"\x80\x02ctorch\nFloatStorage\n)R."
    with pytest.raises(UnsafePickle, match="a damaged TorchScript archive"):
        torchscript_tensors(_hostile_archive(conv_bn, lambda pkl: calls_a_dtype))
