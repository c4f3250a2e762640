"""Held-out evaluation: test sets a trained generator has not seen the distribution of, and paired tests.

A model trained with TPS warps from Ω (paper Sec. 3.2) is naturally good on more warps from Ω; scoring it
there measures the training distribution, not generalisation. The test sets here come from elsewhere:

* ``tps_L6_3x3`` — TPS warps of another family: a 3×3 control grid and L = 6 (larger, coarser moves
  than the paper's 4×4, L = 10);
* ``affine_elastic`` — a random affine map (rotation, scale, shear, shift) composed with an elastic
  field (Simard et al. 2003: Gaussian-smoothed noise), a family TPS training never draws;
* ``frames`` — real edits with known answers: the other frames of a video, their primitives built from
  the training frame's segmentation carried by optical flow (:mod:`deepsim_lite.analysis.video`).

Warped test pairs apply one geometry to the training image and its primitive (bilinear / nearest, as in
training), so the warped image is the right answer for the warped primitive.

:func:`paired_difference` compares two methods on the same test items with a t interval over training seeds
— the test the README's comparisons quote. Warped test images take some pixels from outside the image
(reflected at the border, as in training); PSNR and SSIM are scored on the pixels taken from inside only
(``HeldOutSet.inside``), LPIPS and SIFID on whole images.

Example:
    >>> import deepsim_lite as ds
    >>> pair = ds.load_sample("chelsea", "seg_edges", max_side=64, multiple=4)
    >>> sets = ds.heldout.warp_sets(pair, n=4)
    >>> [s.name for s in sets], len(sets[0])
    (['tps_L6_3x3', 'affine_elastic'], 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from ..method.augment import augment_pair
from ..method.tps import Omega, aspect_scale, pixel_grid, sample_tps_grids
from ..primitives.pairs import Pair
from ..primitives.primitive import Primitive
from . import metrics
from .stats import block_bootstrap_interval

__all__ = ["HeldOutSet", "AffineElastic", "affine_elastic_grids", "resize_grids", "warp_grids", "warp_set", "warp_sets",
           "frame_set", "score", "paired_difference"]

HELD_OUT_OMEGA = Omega(grid_size=3, L=6.0)  # another TPS family than training's 4x4, L = 10


@dataclass(frozen=True)
class HeldOutSet:
    """A named test set: primitives to render and the images they should give."""

    name: str
    primitives: list[Primitive]
    images: torch.Tensor  # (N, 3, H, W) in [-1, 1]
    inside: torch.Tensor | None = None  # (N, H, W) bool: pixels sampled from inside the image (None: all)

    def __len__(self) -> int:
        return len(self.primitives)


@dataclass(frozen=True)
class AffineElastic:
    """Parameters of the affine + elastic test warps (ranges are uniform, ±).

    Attributes:
        rotation: degrees.
        scale: relative zoom, 1 ± scale.
        shear: degrees, along x.
        shift: fraction of the half-side (normalised units).
        elastic: largest elastic displacement per axis in pixels (after smoothing).
        sigma: smoothing of the elastic noise in pixels (larger: smoother, more global bends).
    """

    rotation: float = 10.0
    scale: float = 0.1
    shear: float = 8.0
    shift: float = 0.06
    elastic: float = 3.0
    sigma: float = 6.0


def affine_elastic_grids(batch: int, h: int, w: int, generator: torch.Generator | None = None,
                         params: AffineElastic = AffineElastic()) -> torch.Tensor:
    """``(B, H, W, 2)`` sampling grids of random affine maps composed with smooth elastic fields.

    The affine map acts in pixel-proportional coordinates (a rotation stays a rotation on a non-square
    image); the elastic field is Gaussian-smoothed uniform noise rescaled so its largest displacement
    along either axis is ``params.elastic`` pixels.
    """
    u = torch.rand(batch, 5, generator=generator, dtype=torch.float64) * 2 - 1
    rot, shear = torch.deg2rad(u[:, 0] * params.rotation), torch.deg2rad(u[:, 1] * params.shear)
    zoom = 1 + u[:, 2] * params.scale
    shift = u[:, 3:] * params.shift
    s = torch.tensor(aspect_scale(h, w), dtype=torch.float64)
    p = pixel_grid(h, w, dtype=torch.float64) * s  # pixel-proportional coordinates
    cos, sin, tan = torch.cos(rot), torch.sin(rot), torch.tan(shear)
    a = torch.stack([torch.stack([cos, -sin + cos * tan], -1), torch.stack([sin, cos + sin * tan], -1)], -2)
    a = a / zoom[:, None, None]
    q = torch.einsum("bij,hwj->bhwi", a, p) / s + shift[:, None, None, :]
    noise = torch.rand(batch, 2, h, w, generator=generator, dtype=torch.float64) * 2 - 1
    k = min(2 * math.ceil(3 * params.sigma) + 1, 2 * ((min(h, w) - 1) // 2) + 1)  # reflect padding needs k < side
    field = TF.gaussian_blur(noise.float(), [k, k], [params.sigma, params.sigma]).double()
    field = field / field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) * params.elastic
    field = field.permute(0, 2, 3, 1) * torch.tensor([2 / w, 2 / h], dtype=torch.float64)  # pixels -> normalised
    return (q + field).float()


def resize_grids(grids: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The same warps sampled at another size: ``(N, H, W, 2)`` -> ``(N, h, w, 2)``.

    A grid holds normalised coordinates (``align_corners=False``: ±1 are the image's outer edges), so it
    is a smooth field over the image. Its displacement from the identity is resampled (bilinear, at the new
    pixel centres) and added to the identity grid of ``size``: the new grids move the same physical points —
    exactly for an affine warp when shrinking; when enlarging, the outermost pixels (beyond the old pixel
    centres) take the displacement of the nearest old centre, and the identity stays exact everywhere. Used to
    score models trained at different sizes on one test set (:func:`score` with primitives at the model's size).
    """
    if grids.ndim != 4 or grids.shape[-1] != 2:
        raise ValueError(f"grids must be (N, H, W, 2), got {tuple(grids.shape)}")
    h, w = grids.shape[1:3]
    if (h, w) == tuple(size):
        return grids
    shift = (grids - pixel_grid(h, w, dtype=grids.dtype, device=grids.device)).permute(0, 3, 1, 2)
    shift = F.interpolate(shift, size=tuple(size), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
    return pixel_grid(*size, dtype=grids.dtype, device=grids.device) + shift


def warp_set(pair: Pair, name: str, grids: torch.Tensor) -> HeldOutSet:
    """The training pair warped by each grid ``(N, H, W, 2)``: one test item per grid."""
    images, prims = augment_pair(pair.image, pair.primitive, grid=grids, batch=len(grids))
    return HeldOutSet(name, prims, images, (grids.abs() <= 1).all(-1))


def warp_grids(h: int, w: int, n: int = 16, seed: int = 2024) -> dict[str, torch.Tensor]:
    """The grids ``(n, H, W, 2)`` of the two warped test sets, by name, fixed by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    tps = sample_tps_grids(HELD_OUT_OMEGA, n, h, w, generator=g)
    return {"tps_L6_3x3": tps, "affine_elastic": affine_elastic_grids(n, h, w, g)}


def warp_sets(pair: Pair, n: int = 16, seed: int = 2024) -> list[HeldOutSet]:
    """The two warped test sets (``tps_L6_3x3``, ``affine_elastic``), n items each, fixed by ``seed``."""
    return [warp_set(pair, name, grids) for name, grids in warp_grids(*pair.size, n, seed).items()]


def frame_set(pairs: list[Pair], train_index: int = 0, name: str = "frames") -> HeldOutSet:
    """Every frame but the training one of a clip (pairs from :func:`deepsim_lite.analysis.video.clip_pairs`)."""
    rest = [p for i, p in enumerate(pairs) if i != train_index]
    if not rest:
        raise ValueError("a frame test set needs at least one frame besides the training frame")
    return HeldOutSet(name, [p.primitive for p in rest], torch.stack([p.image for p in rest]))


def score(model, test_set: HeldOutSet, scorers: dict | None = None) -> dict[str, list[float]]:
    """Per-item scores of ``model.generate`` on a test set: PSNR and SSIM over ``test_set.inside`` (the
    pixels a warp took from inside the image), and every extra scorer on whole images (e.g.
    ``{"lpips": metrics.LPIPS()}``). Returns ``{metric: [N floats]}``.

    The primitives may be smaller than the images (a model trained at a lower resolution, its test
    primitives made with :func:`resize_grids`): the outputs are then resized to the images' size
    (bilinear, antialiased when shrinking) before scoring, so models of every size are judged against
    the same pictures.
    """
    out = torch.stack([model.generate(p) for p in test_set.primitives])
    size = tuple(test_set.images.shape[-2:])
    if tuple(out.shape[-2:]) != size:
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(-1, 1)
    inside = test_set.inside
    rows = {"psnr": metrics.psnr(out, test_set.images, mask=inside),
            "ssim": metrics.ssim(out, test_set.images, mask=inside)}
    rows.update({k: m(out, test_set.images) for k, m in (scorers or {}).items()})
    return {k: [float(v) for v in vals] for k, vals in rows.items()}


def paired_difference(a: np.ndarray, b: np.ndarray, higher_is_better: bool = True, confidence: float = 0.95,
                      ordered_items: bool = False, n_boot: int = 4000) -> dict:
    """Compare two methods scored on the same test items, with an interval that includes training noise.

    Args:
        a, b: ``(seeds, items)`` (or ``(items,)``) scores of methods A and B on the same items; each seed is
            an independent training run. Seed ``i`` of A and of B share their initialisation and warp
            stream (the same seed), so they are paired.
        higher_is_better: the metric's direction (PSNR, SSIM: True; LPIPS, SIFID: False).
        ordered_items: the items are a sequence whose neighbours are alike (a clip's frames), not
            independent draws: an interval over them is a moving-block bootstrap, not a t interval.

    The difference is mean(A) − mean(B) over seeds and items. The interval, in order of preference:

    - ``"seeds (paired)"``: both with the same number (≥ 2) of seeds: a t interval over the per-seed
      differences of means, df = n − 1 (a deterministic method repeated for every seed pairs with each);
    - ``"seeds"``: different numbers of seeds, each ≥ 2: Welch's t interval over the per-seed means;
    - one run each: over the items, which says nothing about training noise: a paired t interval
      (``"items"``), or for ordered items a moving-block bootstrap percentile interval
      (``"frames (block bootstrap)"``, blocks of ⌈√n⌉ items, ``n_boot`` resamples, seeded).

    Returns:
        ``{"mean", "ci_low", "ci_high", "interval_over", "seeds", "items", "a_better_fraction"}``;
        ``a_better_fraction`` is the share of items where A's seed-averaged score is better.
    """
    from scipy import stats

    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"methods were scored on different items: {a.shape[1]} vs {b.shape[1]}")
    d = a.mean(0) - b.mean(0)  # per item
    n, mean, low, high = len(d), float(d.mean()), None, None
    if len(a) == len(b) >= 2:
        per_seed = a.mean(1) - b.mean(1)
        half = stats.t.ppf(0.5 + confidence / 2, len(a) - 1) * per_seed.std(ddof=1) / math.sqrt(len(a))
        low, high, over = mean - half, mean + half, "seeds (paired)"
    elif min(len(a), len(b)) >= 2:
        ma, mb = a.mean(1), b.mean(1)  # per seed
        va, vb = ma.var(ddof=1) / len(ma), mb.var(ddof=1) / len(mb)
        se = math.sqrt(va + vb)
        dof = (va + vb) ** 2 / (va**2 / (len(ma) - 1) + vb**2 / (len(mb) - 1)) if se > 0 else 1.0
        half = stats.t.ppf(0.5 + confidence / 2, dof) * se
        low, high, over = mean - half, mean + half, "seeds"
    elif n < 2:
        raise ValueError("a comparison needs 2 seeds per method or at least 2 test items")
    elif ordered_items:
        low, high = block_bootstrap_interval(d, confidence, n_boot=n_boot)
        over = "frames (block bootstrap)"
    else:
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / math.sqrt(n)
        low, high, over = mean - half, mean + half, "items"
    better = (d > 0) if higher_is_better else (d < 0)
    return {"mean": mean, "ci_low": float(low), "ci_high": float(high), "interval_over": over,
            "seeds": [len(a), len(b)], "items": n, "a_better_fraction": float(better.mean())}


