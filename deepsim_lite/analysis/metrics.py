"""Image metrics of the paper's video benchmark (Sec. 4.2): LPIPS, SIFID, PSNR, SSIM, L1.

Images are ``(3, H, W)`` or ``(N, 3, H, W)`` float tensors in [-1, 1] (data range 2).

LPIPS and SIFID need ImageNet backbones (AlexNet/VGG for LPIPS, Inception v3 for SIFID). Under the
offline-weights policy (DESIGN.md) they use the torch hub cache when the files are there, else a
seeded random init — and their ``label`` says so: ``lpips[alex,imagenet]`` vs
``lpips[alex,random-init]``. A random-init LPIPS or SIFID is still a deterministic feature distance,
but it is not the metric the paper reports; never compare its numbers with the paper's.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..weights.backbones import load_torchvision, weights_enum

__all__ = ["psnr", "ssim", "l1", "LPIPS", "SIFID", "frechet_distance"]

DATA_RANGE = 2.0  # images live in [-1, 1]


def _batch(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.ndim != 4:
        raise ValueError(f"expected (3, H, W) or (N, 3, H, W) images, got {tuple(a.shape)}")
    return a.double(), b.double()


def _mask(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    if mask is None:
        return None
    m = mask.reshape(-1, 1, *mask.shape[-2:]) if mask.ndim in (2, 3) else mask
    if m.shape[0] not in (1, x.shape[0]) or m.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match images {tuple(x.shape)}; give (H, W) or (N, H, W)")
    return m.to(torch.float64).expand(x.shape[0], 1, *x.shape[-2:])


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: ``10 log10(range² / MSE)``; ``inf`` for identical images.

    ``mask``: optional ``(H, W)`` or ``(N, H, W)`` bool; the MSE is taken over the True pixels only.
    Returns ``(N,)`` (or a scalar for single images), float64.
    """
    single = a.ndim == 3
    x, y = _batch(a, b)
    m = _mask(mask, x)
    sq = ((x - y) ** 2).mean(1, keepdim=True)
    mse = sq.flatten(1).mean(1) if m is None else (sq * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    out = 10 * torch.log10(DATA_RANGE**2 / mse)
    return out[0] if single else out


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7, k1: float = 0.01, k2: float = 0.03,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image, averaged over channels and positions.

    Uses a uniform ``window``×``window`` window over the valid region with sample covariances, the
    definition of ``skimage.metrics.structural_similarity`` defaults (``win_size=7``), so the two agree.
    ``mask``: optional ``(H, W)`` or ``(N, H, W)`` bool; only windows lying wholly on True pixels count.
    1 for identical images. Returns ``(N,)`` (or a scalar), float64.
    """
    single = a.ndim == 3
    x, y = _batch(a, b)
    if min(x.shape[-2:]) < window:
        raise ValueError(f"images of {x.shape[-2]}x{x.shape[-1]} are smaller than the SSIM window {window}")
    c1, c2 = (k1 * DATA_RANGE) ** 2, (k2 * DATA_RANGE) ** 2
    n = window * window
    cov_norm = n / (n - 1)

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, window, stride=1)

    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    m = _mask(mask, x)
    if m is None:
        out = s.flatten(1).mean(1)
    else:
        inside = (mean(m) > 1 - 1e-9).to(s.dtype)  # windows with every pixel in the mask
        out = (s.mean(1, keepdim=True) * inside).flatten(1).sum(1) / inside.flatten(1).sum(1).clamp_min(1)
    return out[0] if single else out


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image (0 for identical images; at most 2)."""
    single = a.ndim == 3
    x, y = _batch(a, b)
    out = (x - y).abs().flatten(1).mean(1)
    return out[0] if single else out


class LPIPS:
    """Learned Perceptual Image Patch Similarity (Zhang et al. 2018) with the ``lpips`` package's calibrated
    linear layers (v0.1, shipped inside the package) on AlexNet or VGG16 features.

    Args:
        net: ``"alex"`` (the paper's default) or ``"vgg"``.
        weights: backbone weights: ``"auto"`` (ImageNet if in the torch hub cache, else seeded random
            init, labelled), ``"imagenet"`` or ``"random"``.

    ``metric(a, b)`` -> ``(N,)`` (or a scalar) distances, 0 for identical images; ``metric.label``.
    """

    def __init__(self, net: str = "alex", weights: str = "auto", seed: int = 0, device: str | None = None) -> None:
        import lpips
        from torchvision.models import VGG16_Weights

        if net not in ("alex", "vgg"):
            raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        enum = weights_enum("alexnet") if net == "alex" else VGG16_Weights.IMAGENET1K_V1

        def build(weights=None):  # lpips builds its own torchvision backbone; pretrained=True reads the same cache file
            with warnings.catch_warnings():  # lpips still calls torchvision with `pretrained=`: its notice, not ours
                warnings.filterwarnings("ignore", message=r"(The parameter 'pretrained'|Arguments other than a "
                                        r"weight enum)", category=UserWarning)
                return lpips.LPIPS(net=net, pnet_rand=weights is None, verbose=False)

        self.model, label = load_torchvision(build, enum, f"lpips-{net}", weights, seed)
        self.device = torch.device(device or "cpu")
        self.model.eval().requires_grad_(False).to(self.device)
        self.label = f"lpips[{net},{label.split('[', 1)[1]}"  # e.g. lpips[alex,random-init]

    @torch.no_grad()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        single = a.ndim == 3
        x, y = _batch(a, b)
        d = self.model(x.float().to(self.device), y.float().to(self.device)).flatten().double().cpu()
        return d[0] if single else d


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) between two Gaussians (the FID formula).

    Singular covariances (fewer positions than feature channels, flat regions) are handled the standard
    way, as pytorch-fid does: when the square root of Σ1 Σ2 is not finite, ε = 1e-6 is added to the
    diagonal of both and the root taken again; the tiny imaginary part a root can have is dropped.
    SciPy's "matrix is singular" notices are silenced here, since this is the handling they ask for.
    """
    from scipy import linalg

    with warnings.catch_warnings():  # a singular product (few positions, flat regions) is handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = linalg.sqrtm(cov1 @ cov2)
        if not np.isfinite(covmean).all():  # near-singular product: regularise as pytorch-fid does
            eps = np.eye(len(cov1)) * 1e-6
            covmean = linalg.sqrtm((cov1 + eps) @ (cov2 + eps))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean), 0.0))


class SIFID:
    """Single-Image FID (Shaham et al. 2019, SinGAN): the Fréchet distance between the distributions of
    Inception v3 features *over the positions of one image*, of the generated and the real image.

    Layer: the 192-channel output of ``Conv2d_4a_3x3``, the last convolution before Inception's second
    max-pool — the layer the SinGAN paper names ("before the second pooling layer"). SinGAN's released
    ``sifid_score.py`` has been reported to take pytorch-fid's 64-channel block instead (after the *first*
    max-pool, its default ``dims=64``); we follow the paper. Values from the two layers are not comparable.

    Input: the image at its own size (no resize to 299), in [-1, 1], which is what torchvision's Inception
    v3 weights (ported from TensorFlow) see after their ``transform_input`` step; we feed the layers
    directly, so no ImageNet mean/std normalisation is applied. Images need sides of at least
    :attr:`MIN_SIDE` pixels; small images give few positions (17×28 = 476 at 84×128) for a 192×192
    covariance, so compare SIFID only between images of one size.

    ``metric(a, b)`` -> ``(N,)`` (or a scalar), 0 for identical images; ``metric.label`` such as
    ``sifid[inception,random-init]``; ``metric.features(x)`` -> ``(N, 192, h, w)``.
    """

    MIN_SIDE = 19  # Conv2d_1a (3x3 /2), 2a, 2b, max-pool (3x3 /2), 3b, 4a (3x3): 1x1 output at 19 pixels

    def __init__(self, weights: str = "auto", seed: int = 0, device: str | None = None) -> None:
        from torchvision.models import inception_v3

        def build(weights=None):
            return inception_v3(weights=weights, aux_logits=True, init_weights=weights is None)

        net, label = load_torchvision(build, weights_enum("inception"), "inception", weights, seed)
        self.net = net.eval().requires_grad_(False)
        self._layers = nn.Sequential(net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1,
                                     net.Conv2d_3b_1x1, net.Conv2d_4a_3x3)
        self.device = torch.device(device or "cpu")
        self.net.to(self.device)
        self.label = "sifid[inception," + label.split("[", 1)[1]  # e.g. sifid[inception,random-init]

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` images in [-1, 1] -> ``(N, 192, h, w)`` ``Conv2d_4a_3x3`` activations."""
        if min(x.shape[-2:]) < self.MIN_SIDE:
            raise ValueError(f"SIFID needs images of at least {self.MIN_SIDE}x{self.MIN_SIDE} pixels, got "
                             f"{x.shape[-2]}x{x.shape[-1]}")
        return self._layers(x.float().to(self.device))

    @torch.no_grad()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        single = a.ndim == 3
        x, y = _batch(a, b)
        fx, fy = self.features(x).double().cpu(), self.features(y).double().cpu()
        out = []
        for u, v in zip(fx, fy, strict=True):
            u, v = u.flatten(1).T.numpy(), v.flatten(1).T.numpy()  # (positions, 192)
            out.append(frechet_distance(u.mean(0), np.cov(u, rowvar=False), v.mean(0), np.cov(v, rowvar=False)))
        t = torch.tensor(out, dtype=torch.float64)
        return t[0] if single else t
