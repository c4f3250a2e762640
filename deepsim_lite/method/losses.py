"""The cGAN objective (paper Eq. 1–3, pix2pixHD's losses): LSGAN, feature matching, VGG perceptual loss.

ℓ_total = ℓ_rec + α·ℓ_adv. As in pix2pixHD (and the official DeepSIM code, which keeps its
hyper-parameters), the adversarial term is a least-squares GAN over a multiscale discriminator,
ℓ_rec is the VGG19 perceptual loss (λ_vgg = 10, layer weights 1/32 … 1), and a discriminator
feature-matching term (λ_feat = 10) stabilises training. Without cached ImageNet VGG19 weights the
perceptual loss is dropped or replaced by L1 (``perceptual_loss``), and the returned label says which.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..weights.backbones import ensure_weights, imagenet_normalize, vgg19_features, warn_missing, weights_enum

__all__ = ["lsgan_loss", "feature_matching_loss", "VGGLoss", "perceptual_loss", "VGG_LAYERS", "VGG_WEIGHTS"]

# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (indices into torchvision's vgg19().features)
VGG_LAYERS = (1, 6, 11, 20, 29)
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
    """Perceptual loss: Σ_l w_l · L1(φ_l(fake), φ_l(real)) over VGG19 relu1_1 … relu5_1.

    Images in [-1, 1] are ImageNet-normalised first (pix2pixHD skips this; torchvision's weights expect it).
    """

    def __init__(self, backbone: nn.Module | None = None) -> None:
        super().__init__()
        vgg = backbone if backbone is not None else vgg19_features("imagenet").net
        self.slices = nn.ModuleList()
        prev = 0
        for end in VGG_LAYERS:
            self.slices.append(nn.Sequential(*[vgg[i] for i in range(prev, end + 1)]))
            prev = end + 1
        self.requires_grad_(False).eval()

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        x, y = imagenet_normalize(fake), imagenet_normalize(real)
        loss = fake.new_zeros(())
        for w, block in zip(VGG_WEIGHTS, self.slices, strict=True):
            x, y = block(x), block(y)
            loss = loss + w * F.l1_loss(x, y.detach())
        return loss

    def train(self, mode: bool = True) -> VGGLoss:
        return super().train(False)  # always a frozen feature extractor


def perceptual_loss(use_vgg: bool = True, fallback: str = "drop") -> tuple[nn.Module | None, str]:
    """The reconstruction loss ℓ_rec under the weights policy (:mod:`~deepsim_lite.weights.backbones`).

    Args:
        use_vgg: False -> no perceptual loss at all.
        fallback: what replaces VGG when its ImageNet weights are neither cached nor downloadable:
            ``"drop"`` (GAN + feature matching only) or ``"l1"`` (pixel L1).

    Returns:
        ``(loss module or None, label)``; the label (``"vgg19[imagenet]"``, ``"dropped (no vgg19
        weights)"``, ``"l1 (no vgg19 weights)"`` or ``"off"``) goes into the run's config.
    """
    if fallback not in ("drop", "l1"):
        raise ValueError(f"perceptual fallback must be 'drop' or 'l1', got {fallback!r}")
    if not use_vgg:
        return None, "off"
    available, why = ensure_weights(weights_enum("vgg19"))
    if available:
        return VGGLoss(), "vgg19[imagenet]"
    if fallback == "l1":
        warn_missing("vgg19", "the perceptual loss is replaced by pixel L1", why)
        return nn.L1Loss(), "l1 (no vgg19 weights)"
    warn_missing("vgg19", "the perceptual loss is dropped (GAN + feature matching only)", why)
    return None, "dropped (no vgg19 weights)"
