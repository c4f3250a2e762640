"""The cGAN objective (paper Eq. 1–3, pix2pixHD's losses): LSGAN, feature matching, VGG perceptual loss.

ℓ_total = ℓ_rec + α·ℓ_adv. As in pix2pixHD (and the official DeepSIM code, which keeps its
hyper-parameters), the adversarial term is a least-squares GAN over a multiscale discriminator,
ℓ_rec is the VGG19 perceptual loss (λ_vgg = 10, layer weights 1/32 … 1), and a discriminator
feature-matching term (λ_feat = 10) stabilises training. The VGG19 is torchvision's when its file is
cached, else the Caffe VGG19 from the package index (each with its own input convention, handled in
:class:`VGGLoss`); VGG16 is an option, pixel L1 a choice (``reconstruction="l1"``). Without any real
weights the perceptual loss is dropped or replaced by L1 (``perceptual_loss``), and the label says which.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..weights.backbones import Backbone, InputNorm, vgg16_features, vgg19_features

__all__ = ["lsgan_loss", "feature_matching_loss", "VGGLoss", "perceptual_loss", "VGG_LAYERS", "VGG_WEIGHTS",
           "RECONSTRUCTION"]

# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (indices into torchvision's vgg19().features / vgg16().features)
VGG_LAYERS = (1, 6, 11, 20, 29)
VGG16_LAYERS = (1, 6, 11, 18, 25)
RECONSTRUCTION = ("vgg19", "vgg16", "l1", "off")  # what ℓ_rec can be (TrainConfig.reconstruction)
VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def lsgan_loss(preds: list[list[torch.Tensor]], target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss summed over discriminator scales: mean (D(x) − t)², t = 1 real / 0 fake.

    Args:
        preds: the output of :class:`~deepsim_lite.method.nets.MultiscaleDiscriminator` (patch logits last).
    """
    target = 1.0 if target_is_real else 0.0
    return sum(F.mse_loss(scale[-1], torch.full_like(scale[-1], target)) for scale in preds)


def feature_matching_loss(fake_preds: list[list[torch.Tensor]], real_preds: list[list[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD's discriminator feature matching: L1 between D's intermediate features on the fake
    and (detached) real pair, weighted 4/(n_layers_d + 1) per layer and 1/num_d per scale (λ not applied)."""
    num_d = len(fake_preds)
    loss = fake_preds[0][0].new_zeros(())
    for fake, real in zip(fake_preds, real_preds, strict=True):
        w = 4.0 / (len(fake) - 1) / num_d  # len(fake) - 1 = n_layers_d + 1 feature maps before the logits
        for f, r in zip(fake[:-1], real[:-1], strict=True):
            loss = loss + w * F.l1_loss(f, r.detach())
    return loss


class VGGLoss(nn.Module):
    """Perceptual loss: Σ_l w_l · L1(φ_l(fake), φ_l(real)) over VGG relu1_1 … relu5_1 (VGG19 or VGG16).

    ``layers`` may stop early (the first k of relu1_1 … relu5_1, with their pix2pixHD weights) and ``downsample``
    average-pools both images by that factor first: the cheaper variants the lesson preset was measured with.

    Images in [-1, 1] RGB are mapped to the input the weights were trained on first (``backbone.normalize``):
    ImageNet mean/std for torchvision's weights (pix2pixHD skips this; torchvision's weights expect it),
    BGR on 0-255 minus the mean pixel for the Caffe VGG19, whose features are then brought to torchvision's
    scale (``backbone.feature_scale``, 1/57.6: the ratio of the two input scales) so that ``lambda_vgg``
    weighs both alike.
    """

    def __init__(self, backbone: Backbone | nn.Module | None = None, layers: tuple[int, ...] = VGG_LAYERS,
                 downsample: int = 1) -> None:
        super().__init__()
        if not 1 <= len(layers) <= len(VGG_WEIGHTS):
            raise ValueError(f"VGGLoss takes 1 to {len(VGG_WEIGHTS)} layers, got {len(layers)}")
        if isinstance(downsample, bool) or not isinstance(downsample, int) or downsample < 1:
            raise ValueError(f"downsample must be an integer >= 1, got {downsample!r}")
        self.downsample = downsample
        if backbone is None:
            backbone = vgg19_features("imagenet")
        if not isinstance(backbone, Backbone):  # a bare `features` Sequential: torchvision's convention
            backbone = Backbone(backbone, "vgg[custom]")
        self.label, self.scale = backbone.label, backbone.feature_scale
        self.normalize = InputNorm(backbone.normalize)  # its constants move with the loss: none made per step
        self.slices = nn.ModuleList()
        prev = 0
        for end in layers:
            self.slices.append(nn.Sequential(*[backbone.net[i] for i in range(prev, end + 1)]))
            prev = end + 1
        self.requires_grad_(False).eval()

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if self.downsample > 1:
            fake, real = F.avg_pool2d(fake, self.downsample), F.avg_pool2d(real, self.downsample)
        x, y = self.normalize(fake), self.normalize(real)
        loss = fake.new_zeros(())
        for w, block in zip(VGG_WEIGHTS, self.slices, strict=False):
            x, y = block(x), block(y)
            loss = loss + w * F.l1_loss(x, y.detach())
        return loss * self.scale

    def train(self, mode: bool = True) -> VGGLoss:
        return super().train(False)  # always a frozen feature extractor


def perceptual_loss(kind: str | bool = "vgg19", fallback: str = "drop", layers: int = 5,
                    downsample: int = 1) -> tuple[nn.Module | None, str]:
    """The reconstruction loss ℓ_rec under the weights policy (:mod:`~deepsim_lite.weights.backbones`).

    Args:
        kind: ``"vgg19"`` (the paper), ``"vgg16"``, ``"l1"`` (pixel L1, by choice: no network, the same
            for every user) or ``"off"``; ``True``/``False`` mean ``"vgg19"``/``"off"`` (before 0.8).
        fallback: what replaces VGG when no source has its ImageNet weights: ``"drop"`` (GAN + feature
            matching only) or ``"l1"`` (pixel L1).
        layers: how many of relu1_1 … relu5_1 the VGG term uses (5: all, the paper).
        downsample: the VGG term sees both images average-pooled by this factor (1: full size, the paper).

    Returns:
        ``(loss module or None, label)``; the label (``"vgg19[imagenet, torchvision]"``, ``"vgg19[imagenet,
        caffe, 8-bit]"`` (with ``", relu1_1-relu3_1"`` / ``", input 1/2"`` for a cheaper variant), ``"l1"``,
        ``"dropped (no vgg19 weights)"``, ``"l1 (no vgg19 weights)"`` or
        ``"off"``) goes into the run's config.
    """
    kind = {True: "vgg19", False: "off"}.get(kind, kind) if isinstance(kind, bool) else kind
    if kind not in RECONSTRUCTION:
        raise ValueError(f"reconstruction loss must be one of {', '.join(RECONSTRUCTION)}, got {kind!r}")
    if fallback not in ("drop", "l1"):
        raise ValueError(f"perceptual fallback must be 'drop' or 'l1', got {fallback!r}")
    if kind in ("off", "l1"):
        return (nn.L1Loss(), "l1") if kind == "l1" else (None, "off")
    consequence = ("the perceptual loss is replaced by pixel L1" if fallback == "l1" else
                   "the perceptual loss is dropped (GAN + feature matching only)")
    backbone = (vgg19_features if kind == "vgg19" else vgg16_features)("auto", consequence=consequence)
    if backbone.pretrained:
        names = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
        label = backbone.label + (f", {names[0]}-{names[layers - 1]}" if layers != len(names) else "")
        label += f", input 1/{downsample}" if downsample != 1 else ""
        ends = (VGG_LAYERS if kind == "vgg19" else VGG16_LAYERS)[:layers]
        return VGGLoss(backbone, ends, downsample), label
    return (nn.L1Loss(), f"l1 (no {kind} weights)") if fallback == "l1" else (None, f"dropped (no {kind} weights)")
