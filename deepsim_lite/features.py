"""Pretrained backbones under the offline-weights policy (DESIGN.md).

VGG19 (perceptual loss), and later ResNet50 / AlexNet / Inception, want ImageNet weights. They are
loaded the standard torchvision way (``weights=...``, from the ``$TORCH_HOME`` hub cache) only
when the weight file is already in that cache: this library never starts a download (build and
CI machines have no network). When the file is absent it says so once, with a
:class:`PretrainedWeightsMissing` warning, and returns a seeded random-init network; the
returned :class:`Backbone` carries a ``label`` such as ``"vgg19[imagenet]"`` or
``"vgg19[random-init]"`` that every loss, metric and figure built on it must report.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "Backbone",
    "PretrainedWeightsMissing",
    "cached_weights_path",
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


def vgg19_cached() -> bool:
    """True when torchvision's ImageNet VGG19 file is in the hub cache (nothing is downloaded)."""
    from torchvision.models import VGG19_Weights

    return os.path.isfile(cached_weights_path(VGG19_Weights.IMAGENET1K_V1))


def warn_missing(name: str, consequence: str) -> None:
    """Say once per process and backbone that ImageNet weights are missing and what happens instead."""
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(
        f"ImageNet weights for {name} are not in the torch hub cache ({torch.hub.get_dir()}/checkpoints); "
        f"{consequence}. To use real weights, put torchvision's file there (see TORCH_HOME).",
        PretrainedWeightsMissing,
        stacklevel=3,
    )


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` images in [-1, 1] -> the ImageNet-normalised input torchvision backbones expect."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std


def load_torchvision(builder, weights_enum, name: str, weights: str = "auto", seed: int = 0) -> tuple[nn.Module, str]:
    """Build a torchvision model under the offline policy: ``(model, label)``.

    Args:
        builder: e.g. ``torchvision.models.vgg19``; called with ``weights=weights_enum`` or ``weights=None``.
        weights_enum: the ImageNet weights member (its file is looked up in the hub cache, never downloaded).
        name: what labels say, e.g. ``"vgg19"`` -> ``"vgg19[imagenet]"`` / ``"vgg19[random-init]"``.
        weights: ``"auto"`` (ImageNet if cached, else a seeded random init with one warning),
            ``"imagenet"`` (raise if not cached) or ``"random"``.
    """
    if weights not in ("auto", "imagenet", "random"):
        raise ValueError(f"weights must be 'auto', 'imagenet' or 'random', got {weights!r}")
    path = cached_weights_path(weights_enum)
    if weights != "random" and os.path.isfile(path):
        try:
            return builder(weights=weights_enum), f"{name}[imagenet]"
        except Exception as err:  # a truncated or foreign file in the cache
            raise ValueError(f"cached {name} weights at {path} are unreadable ({err.__class__.__name__}); "
                             "delete the file or replace it") from None
    if weights == "imagenet":
        raise FileNotFoundError(f"ImageNet {name} weights are not cached at {path}; copy them there or use 'auto'")
    if weights == "auto":
        warn_missing(name, f"using a seeded random-init network, labelled {name}[random-init]")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(weights=None), f"{name}[random-init]"


def vgg19_features(weights: str = "auto", seed: int = 0) -> Backbone:
    """VGG19's convolutional part (``features``), frozen, in eval mode.

    Args:
        weights: ``"auto"`` (ImageNet if cached, else random-init with a warning), ``"imagenet"``
            (raise if not cached) or ``"random"``.
        seed: seeds the random initialisation of the fallback, so it is reproducible.
    """
    from torchvision.models import VGG19_Weights, vgg19

    model, label = load_torchvision(vgg19, VGG19_Weights.IMAGENET1K_V1, "vgg19", weights, seed)
    net = model.features.eval().requires_grad_(False)
    return Backbone(net, label)


def resnet50_layer3(weights: str = "auto", seed: int = 0) -> Backbone:
    """ResNet50 up to the end of its third residual stage (torchvision ``layer3``): the patch
    features of the paper's App. G. ``(N, 3, H, W)`` ImageNet-normalised -> ``(N, 1024, H/16, W/16)``.
    Labels read ``resnet50-layer3[imagenet]`` or ``resnet50-layer3[random-init]``.
    """
    from torchvision.models import ResNet50_Weights, resnet50

    full, label = load_torchvision(resnet50, ResNet50_Weights.IMAGENET1K_V1, "resnet50", weights, seed)
    net = nn.Sequential(full.conv1, full.bn1, full.relu, full.maxpool, full.layer1, full.layer2, full.layer3)
    net.eval().requires_grad_(False)
    return Backbone(net, label.replace("resnet50", "resnet50-layer3"))
