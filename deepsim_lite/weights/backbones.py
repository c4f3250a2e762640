"""Pretrained backbones and the weights policy (DESIGN.md).

VGG19 (perceptual loss), ResNet50 (kNN patch features), AlexNet (LPIPS) and Inception v3 (SIFID) want
ImageNet weights (:data:`BACKBONES`). They are loaded the standard torchvision way: from the
``$TORCH_HOME`` hub cache when the file is there, else downloaded into it first (``weights="auto"``;
:func:`fetch` does it ahead of time, ``deepsim-lite weights fetch`` from a shell), with a short connect
timeout, a hash check and an atomic rename, so a broken download never leaves half a file.
``DEEPSIM_OFFLINE=1`` forbids any network attempt (tests and CI set it). When the weights cannot be had,
the code says so once, with a :class:`PretrainedWeightsMissing` warning that gives the reason and the
fix, and returns a seeded random-init network; the returned :class:`Backbone` carries a ``label`` such
as ``"vgg19[imagenet]"`` or ``"vgg19[random-init]"`` that every loss, metric and figure built on it reports.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .._io import atomic_file, in_notebook

__all__ = [
    "Backbone",
    "PretrainedWeightsMissing",
    "BACKBONES",
    "WeightsUnavailable",
    "cached_weights_path",
    "offline",
    "fetch",
    "ensure_weights",
    "weights_status",
    "vgg19_cached",
    "vgg19_features",
    "resnet50_layer3",
    "load_torchvision",
    "warn_missing",
    "imagenet_normalize",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_warned: set[str] = set()
_failed: dict[str, str] = {}  # URL -> why its download failed in this process (tried once, not again)


class PretrainedWeightsMissing(UserWarning):
    """ImageNet weights are not in the torch hub cache; a labelled fallback is used instead."""


@dataclass
class Backbone:
    """A feature network and the name of the weights that produced its features."""

    net: nn.Module
    label: str  # e.g. "vgg19[imagenet]" or "vgg19[random-init]"

    @property
    def pretrained(self) -> bool:
        return self.label.endswith("[imagenet]")


def cached_weights_path(weights) -> str:
    """Where torchvision keeps the file of ``weights`` (a ``WeightsEnum`` member) in the hub cache."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


# name -> (torchvision weights enum: module attribute, member), what the toolkit uses it for
BACKBONES: dict[str, tuple[str, str, str]] = {
    "vgg19": ("VGG19_Weights", "IMAGENET1K_V1", "perceptual loss while training (Eq. 1)"),
    "resnet50": ("ResNet50_Weights", "IMAGENET1K_V1", "kNN patch features, layer3 (App. G)"),
    "alexnet": ("AlexNet_Weights", "IMAGENET1K_V1", "LPIPS backbone (lpips ships its calibrated layers)"),
    "inception": ("Inception_V3_Weights", "IMAGENET1K_V1", "SIFID features"),
}
CONNECT_TIMEOUT_S = 10.0  # how long a download waits for the server before giving up (then: the fallback)


class WeightsUnavailable(OSError):
    """ImageNet weights are neither in the hub cache nor downloadable (offline, or the download failed)."""


def weights_enum(name: str):
    """torchvision's weights member for a :data:`BACKBONES` name."""
    import torchvision.models as tvm

    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    cls, member, _ = BACKBONES[name]
    return getattr(getattr(tvm, cls), member)


def offline() -> bool:
    """True when ``DEEPSIM_OFFLINE`` is set (to anything but ``0``/empty): never touch the network."""
    return os.environ.get("DEEPSIM_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")


def fetch(weights, url: str | None = None, timeout: float = CONNECT_TIMEOUT_S, progress: bool = True) -> Path:
    """Download the file of ``weights`` (a torchvision ``WeightsEnum`` member) into the hub cache.

    Args:
        url: where to get it (default: the enum's own URL; e.g. a classroom mirror with the same file name).
        timeout: seconds to wait for the server to answer (and between chunks).

    The file is written to a temporary name in the cache folder, checked (complete; its SHA-256 starts
    with the hash in torchvision's file name) and only then renamed into place. Raises
    :class:`WeightsUnavailable` with one line (offline, refused, timed out, truncated, wrong hash).
    """
    dst = Path(cached_weights_path(weights))
    if dst.is_file():
        return dst
    if offline():
        raise WeightsUnavailable(f"DEEPSIM_OFFLINE is set, so {dst.name} is not downloaded")
    url = url or weights.url
    if url in _failed:  # tried in this process already: do not wait for the same timeout again
        raise WeightsUnavailable(_failed[url])
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        for stale in dst.parent.glob(f".{dst.name}.*.part"):  # left by a killed download (not a running one)
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)
        with atomic_file(dst, suffix=".part") as f:  # the file appears only once it is complete and checked
            digest, size = _download(url, f, timeout, progress, dst.name)
            match = re.search(r"-([a-f0-9]{6,})\.", dst.name)  # torchvision's names: <model>-<sha256 prefix>.pth
            if match and not digest.startswith(match.group(1)):
                raise WeightsUnavailable(f"{url} sent {size} bytes whose SHA-256 does not match {dst.name}; "
                                         "a wrong or damaged file, not stored")
    except WeightsUnavailable as err:
        _failed[url] = str(err)
        raise
    except OSError as err:
        raise WeightsUnavailable(f"the torch hub cache {dst.parent} is not writable ({err.strerror or err}); "
                                 "set TORCH_HOME to a writable folder") from None
    return dst


def _download(url: str, f, timeout: float, progress: bool, name: str) -> tuple[str, int]:
    from tqdm.auto import tqdm

    h, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            total = int(r.headers.get("Content-Length") or 0)
            with tqdm(total=total or None, unit="B", unit_scale=True, desc=name, disable=not progress) as bar:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise WeightsUnavailable(f"could not download {name} from {url} ({reason})") from None
    if total and size != total:
        raise WeightsUnavailable(f"the download of {name} from {url} stopped after {size} of {total} bytes")
    return h.hexdigest(), size


def ensure_weights(weights, url: str | None = None) -> tuple[bool, str]:
    """``(True, "")`` when the file of ``weights`` is in the hub cache, downloading it if allowed;
    else ``(False, why)``. Never raises for a missing network."""
    if os.path.isfile(cached_weights_path(weights)):
        return True, ""
    try:
        fetch(weights, url)
    except WeightsUnavailable as err:
        return False, str(err)
    return True, ""


def weights_status() -> list[dict]:
    """One row per :data:`BACKBONES` entry: name, use, file, whether it is cached, its size."""
    rows = []
    for name, (_, _, use) in BACKBONES.items():
        path = Path(cached_weights_path(weights_enum(name)))
        rows.append({"name": name, "use": use, "file": str(path), "cached": path.is_file(),
                     "mb": round(path.stat().st_size / 2**20, 1) if path.is_file() else None})
    return rows


def vgg19_cached() -> bool:
    """True when torchvision's ImageNet VGG19 file is in the hub cache (nothing is downloaded)."""
    return os.path.isfile(cached_weights_path(weights_enum("vgg19")))


def warn_missing(name: str, consequence: str, why: str = "") -> None:
    """Say once per process and backbone that ImageNet weights are missing, why, and what happens instead.

    A :class:`PretrainedWeightsMissing` warning in scripts and tests. In a notebook it is one short line
    of information on stdout, once per session for all backbones: a warning box reads as an error to a
    student, and every number computed without the weights already carries its label.
    """
    if name in _warned:
        return
    first = not _warned
    _warned.add(name)
    if in_notebook():
        if first:
            print(f"\u2139\ufe0f no ImageNet weights here ({'offline' if offline() else 'not cached'}): "
                  f"{consequence}; results say so in their labels. `deepsim-lite weights fetch` gets them.")
        return
    why = why or f"they are not in the torch hub cache ({torch.hub.get_dir()}/checkpoints)"
    fix = ("unset DEEPSIM_OFFLINE, or run `deepsim-lite weights fetch` where there is network" if offline() else
           "run `deepsim-lite weights fetch` on a machine with network (or copy torchvision's file into the hub "
           "cache, see TORCH_HOME)")
    warnings.warn(
        f"no ImageNet weights for {name}: {why}; {consequence}. Fix: {fix}.",
        PretrainedWeightsMissing,
        stacklevel=3,
    )


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` images in [-1, 1] -> the ImageNet-normalised input torchvision backbones expect."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std


def load_torchvision(builder, member, name: str, weights: str = "auto", seed: int = 0,
                     url: str | None = None) -> tuple[nn.Module, str]:
    """Build a torchvision model under the weights policy: ``(model, label)``.

    Args:
        builder: e.g. ``torchvision.models.vgg19``; called with ``weights=member`` or ``weights=None``.
        member: the ImageNet ``WeightsEnum`` member (its file: the hub cache, else downloaded, see :func:`fetch`).
        name: what labels say, e.g. ``"vgg19"`` -> ``"vgg19[imagenet]"`` / ``"vgg19[random-init]"``.
        weights: ``"auto"`` (ImageNet if cached or downloadable, else a seeded random init with one
            warning), ``"imagenet"`` (raise if it cannot be had) or ``"random"``.
        url: download from here instead of the enum's URL (a mirror).
    """
    if weights not in ("auto", "imagenet", "random"):
        raise ValueError(f"weights must be 'auto', 'imagenet' or 'random', got {weights!r}")
    path = cached_weights_path(member)
    if weights != "random":
        available, why = ensure_weights(member, url)
        if available:
            try:
                return builder(weights=member), f"{name}[imagenet]"
            except Exception as err:  # a truncated or foreign file in the cache
                raise ValueError(f"cached {name} weights at {path} are unreadable ({err.__class__.__name__}); "
                                 "delete the file or replace it") from None
        if weights == "imagenet":
            raise FileNotFoundError(f"ImageNet {name} weights are not at {path} and {why}; run "
                                    "`deepsim-lite weights fetch` or use weights='auto'")
        warn_missing(name, f"using a seeded random-init network, labelled {name}[random-init]", why)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(weights=None), f"{name}[random-init]"


def vgg19_features(weights: str = "auto", seed: int = 0) -> Backbone:
    """VGG19's convolutional part (``features``), frozen, in eval mode.

    Args:
        weights: ``"auto"`` (ImageNet if cached or downloadable, else random-init with a warning),
            ``"imagenet"`` (raise if it cannot be had) or ``"random"``.
        seed: seeds the random initialisation of the fallback, so it is reproducible.
    """
    from torchvision.models import vgg19

    model, label = load_torchvision(vgg19, weights_enum("vgg19"), "vgg19", weights, seed)
    net = model.features.eval().requires_grad_(False)
    return Backbone(net, label)


def resnet50_layer3(weights: str = "auto", seed: int = 0) -> Backbone:
    """ResNet50 up to the end of its third residual stage (torchvision ``layer3``): the patch
    features of the paper's App. G. ``(N, 3, H, W)`` ImageNet-normalised -> ``(N, 1024, H/16, W/16)``.
    Labels read ``resnet50-layer3[imagenet]`` or ``resnet50-layer3[random-init]``.
    """
    from torchvision.models import resnet50

    full, label = load_torchvision(resnet50, weights_enum("resnet50"), "resnet50", weights, seed)
    net = nn.Sequential(full.conv1, full.bn1, full.relu, full.maxpool, full.layer1, full.layer2, full.layer3)
    net.eval().requires_grad_(False)
    return Backbone(net, label.replace("resnet50", "resnet50-layer3"))
