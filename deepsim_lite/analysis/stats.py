"""Statistics for scores that are not independent draws: neighbouring frames of a clip, neighbouring positions
of a feature grid. A t interval or an iid bootstrap over them would be too narrow; the moving-block bootstrap
(Künsch 1989) resamples runs (1-D) or squares (2-D) of neighbours, which keeps the dependence inside a block.

- :func:`block_bootstrap_interval`: the mean of a series (a clip's per-frame differences);
- :func:`correlation`: Pearson and Spearman of two maps, a 2-D block-bootstrap interval for Spearman, and a
  partial Spearman that controls for a third map (e.g. the features' norm).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["block_bootstrap_interval", "correlation"]


def block_bootstrap_interval(x: np.ndarray, confidence: float = 0.95, block: int | None = None, n_boot: int = 4000,
                             seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean of a series whose neighbours are alike (a clip's frames): the moving-block
    bootstrap (Künsch 1989) resamples runs of ``block`` consecutive values (default ⌈√n⌉), so the resampled
    series keep the dependence within a block; an iid bootstrap or t interval would be too narrow."""
    x = np.asarray(x, dtype=np.float64).ravel()
    n = len(x)
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 values, got {n}")
    block = block or math.ceil(math.sqrt(n))
    if not 1 <= block <= n:
        raise ValueError(f"block must be between 1 and the series' length {n}, got {block}")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(n_boot, math.ceil(n / block)))
    idx = (starts[..., None] + np.arange(block)).reshape(n_boot, -1)[:, :n]
    means = x[idx].mean(1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def _pearson(u: torch.Tensor, v: torch.Tensor) -> float:
    u, v = u - u.mean(), v - v.mean()
    den = (u.norm() * v.norm()).item()
    return float((u @ v).item() / den) if den > 0 else float("nan")


def _ranks(u: torch.Tensor) -> torch.Tensor:
    """Ranks from 0, ties given their average rank (as scipy's ``rankdata`` minus 1)."""
    order = torch.argsort(u, stable=True)
    r = torch.empty_like(u)
    r[order] = torch.arange(len(u), dtype=u.dtype)
    uniq, inv = torch.unique(u, return_inverse=True)
    sums = torch.zeros(len(uniq), dtype=u.dtype).index_add_(0, inv, r)
    counts = torch.zeros(len(uniq), dtype=u.dtype).index_add_(0, inv, torch.ones_like(r))
    return (sums / counts)[inv]


def _partial(r_xy: float, r_xz: float, r_yz: float) -> float:
    den = ((1 - r_xz**2) * (1 - r_yz**2)) ** 0.5
    return (r_xy - r_xz * r_yz) / den if den > 0 else float("nan")


def correlation(a: torch.Tensor, b: torch.Tensor, control: torch.Tensor | None = None, confidence: float = 0.95,
                n_boot: int = 1000, seed: int = 0) -> dict:
    """Pearson and Spearman correlation of two maps of the same shape, with what an honest reading needs.

    Neighbouring positions of a feature grid are alike, so the ~400 positions of one map are far fewer
    independent observations: for ``(h, w)`` maps the Spearman interval is a 2-D moving-block bootstrap
    (square blocks of ⌈√min(h, w)⌉ positions placed at random until the grid is tiled, ``n_boot`` resamples,
    seeded), ``spearman_ci``. ``control``: a map that may drive both (e.g. the test features' norm: large
    activations make both a large distance and a large error) — ``partial_spearman`` is the Spearman
    correlation of ``a`` and ``b`` with it partialled out.
    """
    if a.shape != b.shape or (control is not None and control.shape != a.shape):
        raise ValueError(f"maps differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}"
                         + (f" vs {tuple(control.shape)}" if control is not None else ""))
    x, y = a.flatten().double(), b.flatten().double()
    if len(x) < 3:
        raise ValueError("need at least 3 values to correlate")
    rx, ry = _ranks(x), _ranks(y)
    out = {"pearson": _pearson(x, y), "spearman": _pearson(rx, ry)}
    if control is not None:
        rz = _ranks(control.flatten().double())
        out["partial_spearman"] = _partial(out["spearman"], _pearson(rx, rz), _pearson(ry, rz))
    if a.ndim == 2 and min(a.shape) >= 2:
        idx = _block_indices(tuple(a.shape), n_boot, seed)
        boot = np.array([_pearson(_ranks(x[i]), _ranks(y[i])) for i in idx])
        alpha = (1 - confidence) / 2
        out["spearman_ci"] = [float(np.nanquantile(boot, alpha)), float(np.nanquantile(boot, 1 - alpha))]
    return out


def _block_indices(shape: tuple[int, int], n_boot: int, seed: int) -> torch.Tensor:
    """``(n_boot, h*w)`` flat indices of a 2-D moving-block bootstrap of an ``(h, w)`` grid."""
    h, w = shape
    k = max(1, math.ceil(math.sqrt(min(h, w))))
    gh, gw = math.ceil(h / k), math.ceil(w / k)
    g = torch.Generator().manual_seed(seed)
    top = torch.randint(0, h - k + 1, (n_boot, gh * gw), generator=g)
    left = torch.randint(0, w - k + 1, (n_boot, gh * gw), generator=g)
    dy, dx = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    flat = (top[..., None] + dy.flatten()) * w + (left[..., None] + dx.flatten())  # (n_boot, blocks, k*k)
    return flat.reshape(n_boot, -1)[:, : h * w]
