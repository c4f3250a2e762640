"""Extracting primitives from photos (paper Sec. 3.4): Canny edges, unsupervised segmentation, both.

The paper's primitives come from off-the-shelf extractors: Canny edges for fine detail, a
segmentation for layout, and the super-primitive (both). Without a semantic segmentation network
we use an unsupervised one, k-means on Lab colour and position, fitted on one image and applicable
to others: :func:`extract_primitives` fits it on one frame of a video and gives every frame labels
that name the same regions (Sec. 4.2) — either the training frame's labels carried to each frame by
dense optical flow (:func:`carry_labels`, geometry only: the frame's colours never decide a label; unlike the
paper's ground-truth semantic maps, no region can appear that the fitted frame lacks), or the fitted colour
k-means applied to each frame.

Example:
    >>> import deepsim_lite as ds
    >>> image = ds.load_sample("chelsea", max_side=128).image     # (3, H, W) in [-1, 1]
    >>> prim = ds.make_primitive(image, "seg_edges", n_segments=6)
    >>> prim.kind, prim.n_labels <= 6
    ('seg_edges', True)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .._image import check_image, to_uint8
from .primitive import EDGE_INDEX, KINDS, Primitive

__all__ = [
    "KMeansSegmenter",
    "auto_canny_thresholds",
    "canny_edges",
    "fit_segmenter",
    "segment",
    "make_primitive",
    "carry_labels",
    "SEGMENTATIONS",
    "extract_primitives",
]

SEGMENTATIONS = ("flow", "kmeans")  # how extract_primitives labels frames other than the fitted one


# ----------------------------------------------------------------------------------------------
# Edges


def auto_canny_thresholds(gray: np.ndarray, sigma: float = 0.33) -> tuple[float, float]:
    """Median-based Canny thresholds: ``((1 - sigma) * m, (1 + sigma) * m)`` clipped to [0, 255].

    ``m`` is the median intensity of the (blurred) gray image; the heuristic adapts the
    hysteresis band to the image's overall brightness.
    """
    m = float(np.median(gray))
    return max(0.0, (1.0 - sigma) * m), min(255.0, (1.0 + sigma) * m)


def canny_edges(
    image: torch.Tensor,
    low: float | None = None,
    high: float | None = None,
    sigma: float = 0.33,
    blur: float = 0.7,
) -> torch.Tensor:
    """Canny edge map (OpenCV) of an image.

    Args:
        image: ``(3, H, W)`` float in [-1, 1].
        low, high: hysteresis thresholds on the 0..255 gray scale; both None -> median-based
            automatic thresholds (:func:`auto_canny_thresholds`); give both or neither.
        sigma: width of the automatic band around the median.
        blur: standard deviation (pixels) of the Gaussian applied first; 0 disables it.

    Returns:
        ``(H, W)`` bool tensor, True on edge pixels (1 pixel wide).
    """
    image = check_image(image)
    if (low is None) != (high is None):
        raise ValueError("give both Canny thresholds (low, high) or neither for automatic ones")
    gray = cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2GRAY)
    if blur > 0:
        gray = cv2.GaussianBlur(gray, (0, 0), blur)
    if low is None:
        low, high = auto_canny_thresholds(gray, sigma)
    if low > high:
        raise ValueError(f"Canny low threshold {low} is above high threshold {high}")
    edges = cv2.Canny(gray, float(low), float(high), L2gradient=True)
    return torch.from_numpy(edges > 0)


# ----------------------------------------------------------------------------------------------
# Segmentation: k-means on Lab colour + position, a majority filter, then small regions merged.


@dataclass(frozen=True, eq=False)
class KMeansSegmenter:
    """A colour+position k-means segmentation fitted on one image, applicable to others.

    Fitting once and applying to every frame keeps labels consistent across a video (Sec. 4.2).
    Labels are ordered by region area on the fitted image, largest first.

    Attributes:
        centres: ``(K, 5)`` float64 cluster centres in (L, a, b, x, y) feature space.
        position_weight: weight of the normalised (x, y) position against colour.
        smooth: side (pixels, odd) of the majority filter; 1 disables it.
        min_region: connected regions smaller than this fraction of the image are merged
            into their most common neighbour.
    """

    centres: np.ndarray
    position_weight: float
    smooth: int
    min_region: float

    @property
    def n_segments(self) -> int:
        return len(self.centres)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Segment ``image`` ``(3, H, W)`` in [-1, 1] -> ``(H, W)`` int64 labels in ``[0, K)``.

        Labels of a fitted cluster that no pixel of ``image`` ends in stay unused, so label
        ``k`` means the same cluster on every image.
        """
        feats, (h, w) = _features(check_image(image), self.position_weight)
        d = ((feats[:, None, :] - self.centres[None]) ** 2).sum(-1)
        labels = d.argmin(1).reshape(h, w)
        labels = _majority_filter(labels, self.n_segments, self.smooth)
        labels = _merge_small_regions(labels, int(self.min_region * h * w))
        return torch.from_numpy(labels.astype(np.int64))


def _features(image: torch.Tensor, position_weight: float) -> tuple[np.ndarray, tuple[int, int]]:
    rgb = to_uint8(image)
    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64) / 255.0
    yy, xx = np.mgrid[0:h, 0:w]
    pos = np.stack([xx.ravel() / max(w - 1, 1), yy.ravel() / max(h - 1, 1)], 1) * position_weight
    return np.concatenate([lab, pos], 1), (h, w)


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 30) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns (k', D) centres, k' <= k (duplicates dropped)."""
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        if d2.sum() <= 0:
            break  # fewer distinct points than clusters
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(iters):
        assign = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.stack([x[assign == j].mean(0) if np.any(assign == j) else c[j] for j in range(len(c))])
        if np.allclose(new, c):
            break
        c = new
    return c


def _majority_filter(labels: np.ndarray, k: int, size: int) -> np.ndarray:
    if size <= 1:
        return labels
    votes = np.stack(
        [cv2.boxFilter((labels == j).astype(np.float32), -1, (size, size)) for j in range(k)]
    )
    return votes.argmax(0)


def _merge_small_regions(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Give every connected region smaller than ``min_area`` the most common label around it."""
    if min_area <= 1:
        return labels
    labels = labels.copy()
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(4):  # merging can leave new small regions next to each other; a few passes suffice
        changed = False
        for lab in np.unique(labels):
            n, comp, stats, _ = cv2.connectedComponentsWithStats((labels == lab).astype(np.uint8), connectivity=4)
            for c in range(1, n):
                if stats[c, cv2.CC_STAT_AREA] >= min_area:
                    continue
                x, y, w, h = stats[c, :4]
                y0, y1 = max(y - 1, 0), min(y + h + 1, labels.shape[0])
                x0, x1 = max(x - 1, 0), min(x + w + 1, labels.shape[1])
                mask = (comp[y0:y1, x0:x1] == c).astype(np.uint8)
                ring = cv2.dilate(mask, kernel).astype(bool) & ~mask.astype(bool)
                around = labels[y0:y1, x0:x1][ring]
                around = around[around != lab]
                if around.size == 0:
                    continue  # the region fills the image: nothing to merge into
                labels[y0:y1, x0:x1][mask.astype(bool)] = np.bincount(around).argmax()
                changed = True
        if not changed:
            break
    return labels


def fit_segmenter(
    image: torch.Tensor,
    n_segments: int = 8,
    position_weight: float = 0.3,
    smooth: int = 5,
    min_region: float = 0.002,
    seed: int = 0,
    max_fit_pixels: int = 20000,
) -> KMeansSegmenter:
    """Fit the unsupervised segmentation of :func:`segment` on ``image``; see :class:`KMeansSegmenter`.

    Args:
        image: ``(3, H, W)`` float in [-1, 1].
        n_segments: upper bound K on the number of labels.
        position_weight: how much (x, y) position counts against Lab colour (both scaled to [0, 1]).
        smooth: majority-filter size in pixels (odd); 1 disables it.
        min_region: regions under this fraction of the image are merged into a neighbour.
        seed: seeds the k-means++ initialisation and the pixel subsample.
        max_fit_pixels: pixels sampled to fit the centres (all pixels are assigned).
    """
    if not 1 <= n_segments <= EDGE_INDEX:
        raise ValueError(f"n_segments must be in 1..{EDGE_INDEX}, got {n_segments}")
    if smooth < 1 or smooth % 2 == 0:
        raise ValueError(f"smooth must be a positive odd number of pixels, got {smooth}")
    image = check_image(image)
    feats, _ = _features(image, position_weight)
    rng = np.random.default_rng(seed)
    fit = feats if len(feats) <= max_fit_pixels else feats[rng.choice(len(feats), max_fit_pixels, replace=False)]
    centres = _kmeans(fit, n_segments, rng)
    seg = KMeansSegmenter(centres, position_weight, smooth, min_region)
    # Order clusters by area on the fitted image (largest = 0) and drop clusters that vanished.
    raw = seg(image).numpy()
    counts = np.bincount(raw.ravel(), minlength=len(centres))
    order = [j for j in np.argsort(-counts, kind="stable") if counts[j] > 0]
    return KMeansSegmenter(centres[order], position_weight, smooth, min_region)


def segment(image: torch.Tensor, n_segments: int = 8, seed: int = 0, **kwargs) -> torch.Tensor:
    """Unsupervised segmentation into at most ``n_segments`` coherent regions.

    k-means on Lab colour + position, a majority filter, and merging of tiny regions.
    Deterministic given ``seed``. Keyword arguments go to :func:`fit_segmenter`.

    Args:
        image: ``(3, H, W)`` float in [-1, 1].

    Returns:
        ``(H, W)`` int64 labels, contiguous ``0..K-1`` with ``K <= n_segments``; label 0 is
        the largest region.
    """
    labels = fit_segmenter(image, n_segments, seed=seed, **kwargs)(image)
    # Merging may empty a cluster; keep labels contiguous.
    _, contiguous = torch.unique(labels, return_inverse=True)
    return contiguous.reshape(labels.shape)


def make_primitive(
    image: torch.Tensor,
    kind: str = "seg_edges",
    n_segments: int = 8,
    seed: int = 0,
    canny: tuple[float, float] | None = None,
) -> Primitive:
    """Extract the paper's primitive of ``kind`` from an image.

    Args:
        image: ``(3, H, W)`` float in [-1, 1].
        kind: ``"edges"`` (Canny), ``"seg"`` (unsupervised segmentation) or ``"seg_edges"``
            (the super-primitive: both).
        n_segments: upper bound on the number of labels (seg kinds).
        seed: seeds the segmentation.
        canny: explicit ``(low, high)`` Canny thresholds; None -> automatic.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown primitive kind {kind!r}; choose one of {', '.join(KINDS)}")
    edges = labels = None
    if kind in ("edges", "seg_edges"):
        edges = canny_edges(image, *(canny or (None, None)))
    if kind in ("seg", "seg_edges"):
        labels = segment(image, n_segments, seed=seed)
    n = int(labels.max()) + 1 if labels is not None else 0
    return Primitive(labels, edges, n)


def carry_labels(labels: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The label map of ``source`` carried to ``target`` by dense optical flow.

    Farnebäck flow (OpenCV) from ``target`` to ``source`` gives, for every target pixel, where it was in
    the source; the pixel takes the source label there (nearest, border replicated). Only geometry moves
    labels: a region that changes colour keeps its label, and no label comes from the target's colours.

    Args:
        labels: ``(H, W)`` int64 labels of ``source``.
        source, target: ``(3, H, W)`` images in [-1, 1] of one size.

    Returns:
        ``(H, W)`` int64 labels for ``target``, drawn from the labels present in ``labels``.
    """
    source, target = check_image(source), check_image(target)
    if labels.shape != source.shape[-2:] or source.shape != target.shape:
        raise ValueError(f"labels {tuple(labels.shape)}, source {tuple(source.shape)} and target "
                         f"{tuple(target.shape)} must share H and W")
    src = cv2.cvtColor(to_uint8(source), cv2.COLOR_RGB2GRAY)
    dst = cv2.cvtColor(to_uint8(target), cv2.COLOR_RGB2GRAY)
    flow = cv2.calcOpticalFlowFarneback(dst, src, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3,
                                        poly_n=5, poly_sigma=1.2, flags=0)  # target pixel -> source position
    h, w = src.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    carried = cv2.remap(labels.numpy().astype(np.float32), gx + flow[..., 0], gy + flow[..., 1],
                        cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    return torch.from_numpy(np.rint(carried).astype(np.int64))


def extract_primitives(frames: list[torch.Tensor] | torch.Tensor, kind: str = "seg_edges", fit_on: int = 0,
                       n_segments: int = 8, seed: int = 0, segmentation: str = "kmeans") -> list[Primitive]:
    """Primitives of ``kind`` for a set of frames of one scene, with ONE segmentation for all of them.

    The segmenter is fitted on ``frames[fit_on]``, so label k means the same region in each frame
    (training on one frame and testing on another needs that); edges are extracted per frame.

    Args:
        frames: ``(3, H, W)`` images in [-1, 1] of one size (a list, or an ``(N, 3, H, W)`` tensor).
        kind: ``"edges"``, ``"seg"`` or ``"seg_edges"``.
        fit_on: index of the frame the segmentation is fitted on.
        segmentation: how the other frames get labels: ``"kmeans"`` applies the fitted colour k-means to
            each frame (its labels follow the frame's colours), ``"flow"`` carries the fitted frame's labels
            to each frame by optical flow (:func:`carry_labels`; geometry only — for frames of a video).

    Returns:
        one :class:`Primitive` per frame, all with the same ``n_labels``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown primitive kind {kind!r}; choose one of {', '.join(KINDS)}")
    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"unknown segmentation {segmentation!r}; choose one of {', '.join(SEGMENTATIONS)}")
    frames = list(frames)
    if not frames:
        raise ValueError("extract_primitives needs at least one frame")
    if not -len(frames) <= fit_on < len(frames):
        raise ValueError(f"fit_on={fit_on} is not a frame index (there are {len(frames)} frames)")
    sizes = {tuple(f.shape[-2:]) for f in frames}
    if len(sizes) > 1:
        raise ValueError(f"frames differ in size: {sorted(sizes)[:3]}; resize them to one size first")
    seg = fit_segmenter(frames[fit_on], n_segments, seed=seed) if kind != "edges" else None
    fitted = seg(frames[fit_on]) if seg is not None else None
    out = []
    for i, frame in enumerate(frames):
        if seg is None:
            labels = None
        elif i == fit_on % len(frames):
            labels = fitted
        elif segmentation == "kmeans":
            labels = seg(frame)
        else:
            labels = carry_labels(fitted, frames[fit_on], frame)
        edges = canny_edges(frame) if kind != "seg" else None
        out.append(Primitive(labels, edges, seg.n_segments if seg is not None else 0))
    return out
