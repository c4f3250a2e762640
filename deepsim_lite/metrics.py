"""Image similarity metrics for the paper's evaluations (Sec. 4.2): PSNR, SSIM, L1.

Images are ``(3, H, W)`` or ``(N, 3, H, W)`` float tensors in [-1, 1] (data range 2). Perceptual metrics
(LPIPS, SIFID) need pretrained networks and follow the offline-weights policy; they are not here yet.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["psnr", "ssim", "l1"]

DATA_RANGE = 2.0  # images live in [-1, 1]


def _batch(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.ndim != 4:
        raise ValueError(f"expected (3, H, W) or (N, 3, H, W) images, got {tuple(a.shape)}")
    return a.double(), b.double()


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: ``10 log10(range² / MSE)``; ``inf`` for identical images.

    Returns ``(N,)`` (or a scalar for single images), float64.
    """
    single = a.ndim == 3
    x, y = _batch(a, b)
    mse = ((x - y) ** 2).flatten(1).mean(1)
    out = 10 * torch.log10(DATA_RANGE**2 / mse)
    return out[0] if single else out


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image, averaged over channels and positions.

    Uses a uniform ``window``×``window`` window over the valid region with sample covariances, the
    definition of ``skimage.metrics.structural_similarity`` defaults (``win_size=7``), so the two agree.
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
    out = s.flatten(1).mean(1)
    return out[0] if single else out


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image (0 for identical images; at most 2)."""
    single = a.ndim == 3
    x, y = _batch(a, b)
    out = (x - y).abs().flatten(1).mean(1)
    return out[0] if single else out
