import json
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import deepsim_lite as ds
from deepsim_lite import _io


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "out" / "x.png"
    ds.save_image(target, torch.zeros(3, 8, 8))
    assert target.is_file() and [p.name for p in target.parent.iterdir()] == ["x.png"]
    with pytest.raises(TypeError):
        _io.atomic_write_bytes(target, object())  # the write fails midway
    assert ds.load_image(target).shape == (3, 8, 8)  # the old file is intact
    assert [p.name for p in target.parent.iterdir()] == ["x.png"]


def test_permissions_follow_the_umask(tmp_path, monkeypatch):
    assert _io._UMASK == _io._read_umask()  # read at import, unchanged since
    monkeypatch.setattr(_io, "_UMASK", 0o027)
    _io.write_text(tmp_path / "a.txt", "x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640  # not mkstemp's private 0o600


def test_json_round_trip_writes_non_finite_numbers_as_null(tmp_path):
    _io.write_json(tmp_path / "r.json", {"a": [1, 2.5], "b": "x"})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": [1, 2.5], "b": "x"}
    assert (tmp_path / "r.json").read_text().endswith("\n")
    _io.write_json(tmp_path / "n.json", {"corr": float("nan"), "psnr": [float("inf"), 3.0], "t": (1, -float("inf"))})
    text = (tmp_path / "n.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # standard JSON that any reader takes
    assert json.loads(text) == {"corr": None, "psnr": [None, 3.0], "t": [1, None]}


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("channels", [3, 4])
def test_png_bytes_are_lossless(tmp_path, fast, channels):
    rgb = np.random.default_rng(0).integers(0, 256, (9, 13, channels), dtype=np.uint8)  # RGB or RGBA
    (tmp_path / "x.png").write_bytes(_io.png_bytes(rgb, fast=fast))
    assert np.array_equal(np.array(Image.open(tmp_path / "x.png")), rgb)


def test_concurrent_writers_never_interleave(tmp_path):
    target = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    threads = [threading.Thread(target=_io.atomic_write_bytes, args=(target, p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_bytes() in payloads  # one whole payload, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]


def test_write_torch_round_trip(tmp_path):
    _io.write_torch(tmp_path / "t.pt", {"w": torch.arange(5), "n": 3})
    back = torch.load(tmp_path / "t.pt", weights_only=True)
    assert torch.equal(back["w"], torch.arange(5)) and back["n"] == 3


def test_in_notebook_knows_jupyter_and_colab_kernels_but_not_a_terminal(monkeypatch):
    import types

    class ZMQInteractiveShell:  # ipykernel's shell
        pass

    class Shell(ZMQInteractiveShell):  # Colab's, a subclass
        pass

    class TerminalInteractiveShell:
        pass

    zmqshell = types.SimpleNamespace(ZMQInteractiveShell=ZMQInteractiveShell)
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", zmqshell)
    for shell, expected in ((ZMQInteractiveShell(), True), (Shell(), True), (TerminalInteractiveShell(), False),
                            (None, False)):
        monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda s=shell: s))
        assert _io.in_notebook() is expected, type(shell).__name__
