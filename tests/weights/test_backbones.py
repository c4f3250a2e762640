import warnings

import pytest
import torch

from deepsim_lite import _io
from deepsim_lite.weights import backbones, download


def test_cached_weights_path_follows_torch_home(tmp_path, monkeypatch):
    from torchvision.models import VGG19_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = backbones.cached_weights_path(VGG19_Weights.IMAGENET1K_V1)
    assert path.startswith(str(tmp_path)) and path.endswith(".pth")
    assert not backbones.vgg19_cached()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    open(path, "wb").write(b"not a checkpoint")
    assert backbones.vgg19_cached()
    with pytest.raises(ValueError, match="cached vgg19 weights at .* are unreadable"):
        backbones.vgg19_features("auto")


def test_random_backbone_is_seeded_and_labelled():
    a, b = backbones.vgg19_features("random", seed=1), backbones.vgg19_features("random", seed=1)
    assert a.label == "vgg19[random-init]" and not a.pretrained
    assert torch.equal(a.net[0].weight, b.net[0].weight)


def test_random_init_does_not_touch_the_callers_rng():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    backbones.resnet50_layer3("random", seed=0)
    assert torch.equal(torch.get_rng_state(), before)


def test_imagenet_normalize_maps_the_mean_to_zero():
    mean = torch.tensor(backbones.IMAGENET_MEAN).view(1, 3, 1, 1) * 2 - 1  # the mean colour in [-1, 1]
    assert backbones.imagenet_normalize(mean.expand(1, 3, 2, 2)).abs().max() < 1e-6
    white = backbones.imagenet_normalize(torch.ones(1, 3, 1, 1)).flatten()
    expected = (1 - torch.tensor(backbones.IMAGENET_MEAN)) / torch.tensor(backbones.IMAGENET_STD)
    assert torch.allclose(white, expected)


# ----------------------------------------------------------------------------------------------
# Downloads, tested for real against an HTTP server on 127.0.0.1 (never another address).


class _Weights:
    """Stands in for a torchvision WeightsEnum member: what fetch() reads is its url."""

    def __init__(self, url: str) -> None:
        self.url = url


def _tiny_builder(weights=None):
    net = torch.nn.Linear(3, 2)
    if weights is not None:
        net.load_state_dict(torch.load(backbones.cached_weights_path(weights), weights_only=True))
    return net


def _publish(www, net: torch.nn.Module, stem: str = "tiny") -> str:
    """Save ``net``'s weights under torchvision's naming, <stem>-<sha256 prefix>.pth; returns the file name."""
    import hashlib
    import io

    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    name = f"{stem}-{hashlib.sha256(buf.getvalue()).hexdigest()[:8]}.pth"
    (www / name).write_bytes(buf.getvalue())
    return name


@pytest.fixture()
def online(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPSIM_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(backbones, "_warned", set())
    monkeypatch.setattr(download, "_failed", {})
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_auto_downloads_into_the_hub_cache_then_loads(server, online):
    www, base = server.www, server.base
    torch.manual_seed(3)
    src = torch.nn.Linear(3, 2)
    name = _publish(www, src)
    net, label = backbones.load_torchvision(_tiny_builder, _Weights(f"{base}/{name}"), "tiny", "auto")
    assert label == "tiny[imagenet, torchvision]" and torch.equal(net.weight, src.weight)
    assert sorted(p.name for p in online.iterdir()) == [name]  # the file, and no temporary left


def test_a_truncated_download_leaves_nothing_and_falls_back(server, online):
    www, base = server.www, server.base
    name = _publish(www, torch.nn.Linear(3, 2))
    with pytest.raises(backbones.WeightsUnavailable, match=f"the download of {name} .* stopped after"):
        backbones.fetch(_Weights(f"{base}/cut/{name}"), progress=False)
    assert list(online.iterdir()) == []
    with pytest.warns(backbones.PretrainedWeightsMissing, match="stopped after .*deepsim-lite weights fetch"):
        _, label = backbones.load_torchvision(_tiny_builder, _Weights(f"{base}/cut/{name}"), "tiny", "auto")
    assert label == "tiny[random-init]" and list(online.iterdir()) == []


def test_a_file_with_the_wrong_hash_is_not_stored(server, online):
    www, base = server.www, server.base
    name = _publish(www, torch.nn.Linear(3, 2))
    (www / "tiny-00000000.pth").write_bytes((www / name).read_bytes())  # right bytes, wrong name hash
    with pytest.raises(backbones.WeightsUnavailable, match="does not match the pinned one for tiny-00000000.pth"):
        backbones.fetch(_Weights(f"{base}/tiny-00000000.pth"), progress=False)
    assert list(online.iterdir()) == []


def test_a_refused_connection_gives_the_labelled_fallback(online):
    import socket

    with socket.socket() as s:  # a port on 127.0.0.1 that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.warns(backbones.PretrainedWeightsMissing, match="could not download tiny-12345678.pth"):
        _, label = backbones.load_torchvision(_tiny_builder, _Weights(f"http://127.0.0.1:{port}/tiny-12345678.pth"),
                                             "tiny", "auto")
    assert label == "tiny[random-init]"
    with pytest.raises(FileNotFoundError, match="run `deepsim-lite weights fetch`"):
        backbones.load_torchvision(_tiny_builder, _Weights(f"http://127.0.0.1:{port}/tiny-12345678.pth"), "tiny",
                                  "imagenet")


def test_offline_never_touches_the_network(online, monkeypatch):
    monkeypatch.setenv("DEEPSIM_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("a network call was made although DEEPSIM_OFFLINE=1")

    monkeypatch.setattr(download.urllib.request, "urlopen", no_network)
    with pytest.warns(backbones.PretrainedWeightsMissing, match="DEEPSIM_OFFLINE is set"):
        _, label = backbones.load_torchvision(_tiny_builder, _Weights("http://127.0.0.1:9/tiny-12345678.pth"),
                                             "tiny", "auto")
    assert label == "tiny[random-init]" and backbones.offline()
    assert all(not r["available"] and r["label"].endswith("[random-init]") for r in backbones.weights_status())


def test_the_test_suite_itself_runs_offline():
    # tests/conftest.py sets DEEPSIM_OFFLINE=1 unless the caller chose otherwise; make test exports it too
    assert backbones.offline()


def test_every_backbone_the_toolkit_uses_is_listed(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing here: every row names torchvision's file
    rows = {r["name"]: r for r in backbones.weights_status()}
    assert set(rows) == {"vgg19", "vgg16", "resnet50", "alexnet", "inception"}
    assert rows["resnet50"]["instead"].startswith("kNN uses vgg16")  # the one no package carries: its real alternative
    assert rows["vgg19"]["file"].endswith("vgg19-dcbb9e9d.pth")
    assert rows["inception"]["file"].endswith(".pth") and "perceptual" in rows["vgg19"]["use"]


def test_a_download_lands_readable_and_a_failure_is_not_retried(server, online, monkeypatch):
    import os
    import socket

    www, base = server.www, server.base
    name = _publish(www, torch.nn.Linear(3, 2))
    monkeypatch.setattr(_io, "_UMASK", 0o022)  # what atomic_file gives the file
    path = backbones.fetch(_Weights(f"{base}/{name}"), progress=False)
    assert path.stat().st_mode & 0o777 == 0o644  # a class sharing this cache can read it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/tiny-12345678.pth"
    with pytest.raises(backbones.WeightsUnavailable, match="could not download"):
        backbones.fetch(_Weights(dead), progress=False)
    calls = []
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: calls.append(1))
    with pytest.raises(backbones.WeightsUnavailable, match="could not download"):
        backbones.fetch(_Weights(dead), progress=False)  # the same failure, without waiting for it again
    assert calls == [] and os.access(path, os.R_OK)


def test_an_unwritable_hub_cache_falls_back_instead_of_crashing(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPSIM_OFFLINE", raising=False)
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "file" / "torch"))  # cannot be created
    monkeypatch.setattr(backbones, "_warned", set())
    monkeypatch.setattr(download, "_failed", {})
    why = "could not write tiny-12345678.pth .*; free some space or set TORCH_HOME"
    with pytest.warns(backbones.PretrainedWeightsMissing, match=why):
        _, label = backbones.load_torchvision(_tiny_builder, _Weights("http://127.0.0.1:9/tiny-12345678.pth"),
                                             "tiny", "auto")
    assert label == "tiny[random-init]"


def test_missing_weights_in_a_notebook_is_one_line_of_information(monkeypatch, capsys):
    monkeypatch.setattr(backbones, "_warned", set())
    monkeypatch.setattr(backbones, "in_notebook", lambda: True)
    monkeypatch.setenv("DEEPSIM_OFFLINE", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning box
        backbones.warn_missing("vgg19", "the perceptual loss is replaced by pixel L1")
        backbones.warn_missing("inception_v3", "using a seeded random-init network")
        backbones.warn_missing("vgg19", "the perceptual loss is replaced by pixel L1")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "offline" in lines[0] and "pixel L1" in lines[0]  # once per session
