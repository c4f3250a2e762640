"""Primitive edits (paper Sec. 4.1, App. B): pure functions from a :class:`Primitive` to a new one.

After training, a person changes the primitive — moves an object, lifts a nose, paints a new part,
erases an edge — and the generator renders the result. Every edit here returns a new primitive
and leaves its input untouched, so undo is "keep the old one"; the widget editor and the
failure-mode lesson both call these functions.

Conventions: boxes are ``(y0, x0, y1, x1)`` in pixels, half-open like slices; masks are ``(H, W)``
bool tensors; points are ``(y, x)``. No edit ever introduces a label outside ``0..n_labels-1``.
Vacated areas are filled according to ``fill``:

* ``"nearest"`` — each pixel takes the label of the nearest pixel outside the vacated area;
* ``"background"`` — the label ``background``. Label numbers come from k-means, per image and size (label 0 is
  the largest region, on the cat its fur), so no fixed number means "background": by default it is
  :func:`border_label`, the label covering most of the primitive's outer rows and columns, and
  :func:`~deepsim_lite.primitives.samples.background_label` finds a shipped sample's own (the editor uses it);
* ``"none"`` — labels stay as they were (only edges are removed).
"""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np
import torch
from scipy import ndimage

from .primitive import Primitive

__all__ = [
    "EditClippedWarning",
    "FILLS",
    "border_label",
    "box_mask",
    "component_mask",
    "fill_nearest",
    "shift_map",
    "move_mask",
    "move_region",
    "move_component",
    "remove_mask",
    "scale_region",
    "stroke_mask",
    "polygon_mask",
    "paint_disc",
    "paint_stroke",
    "draw_edges",
    "erase_edges",
]

FILLS = ("nearest", "background", "none")


class EditClippedWarning(UserWarning):
    """Part of an edit fell outside the primitive and was clipped."""


def box_mask(box: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
    """``(H, W)`` bool mask of a ``(y0, x0, y1, x1)`` box, which must lie inside ``size``."""
    y0, x0, y1, x1 = (int(v) for v in box)
    h, w = size
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise ValueError(f"box {tuple(box)} is not inside the {h}x{w} primitive; expected (y0, x0, y1, x1) "
                         f"with 0 <= y0 < y1 <= {h} and 0 <= x0 < x1 <= {w}")
    m = torch.zeros(h, w, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def _check_point(y: int, x: int, size: tuple[int, int]) -> None:
    if not (0 <= y < size[0] and 0 <= x < size[1]):
        raise ValueError(f"point (y={y}, x={x}) is outside the {size[0]}x{size[1]} primitive")


def component_mask(primitive: Primitive, y: int, x: int) -> torch.Tensor:
    """The connected region under pixel ``(y, x)``: 4-connected pixels of the same label, or, for an
    edge-only primitive, the 8-connected edge curve through it. ``(H, W)`` bool."""
    _check_point(y, x, primitive.size)
    if primitive.labels is not None:
        same = (primitive.labels == primitive.labels[y, x]).numpy().astype(np.uint8)
        _, comp = cv2.connectedComponents(same, connectivity=4)
    else:
        if not bool(primitive.edges[y, x]):
            raise ValueError(f"no edge at (y={y}, x={x}) to select")
        _, comp = cv2.connectedComponents(primitive.edges.numpy().astype(np.uint8), connectivity=8)
    return torch.from_numpy(comp == comp[y, x])


def fill_nearest(labels: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Give every pixel of ``hole`` ``(H, W)`` bool the label of the nearest pixel outside it."""
    if not bool(hole.any()):
        return labels
    if bool(hole.all()):
        raise ValueError("cannot fill: the hole covers the whole label map")
    _, (iy, ix) = ndimage.distance_transform_edt(hole.numpy(), return_indices=True)
    return torch.from_numpy(labels.numpy()[iy, ix])


def border_label(primitive: Primitive) -> int:
    """The label covering most of the primitive's outermost rows and columns (ties: the lower label).

    What ``fill="background"`` paints when nothing says where the background is: a photo's subject seldom
    fills the frame, so the background is what the frame's edge shows most. A close-up (the cat's face
    reaches every edge) can make it a label of the subject: give the label, or use
    :func:`~deepsim_lite.primitives.samples.background_label` for a shipped sample with a named background.
    """
    if primitive.labels is None:
        raise ValueError("this edge-only primitive has no labels; a background label needs a segmentation")
    labels = primitive.labels
    rim = torch.cat([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    return int(torch.bincount(rim, minlength=primitive.n_labels).argmax())


def _fill(labels: torch.Tensor, hole: torch.Tensor, fill: str, background: int) -> torch.Tensor:
    if fill == "nearest":
        return fill_nearest(labels, hole)
    if fill == "background":
        labels = labels.clone()
        labels[hole] = background
    return labels


def _check_fill(fill: str, background: int | None, primitive: Primitive) -> int:
    """Check ``fill`` and return the background label to fill with (``None``: :func:`border_label`)."""
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")
    if fill != "background" or primitive.labels is None:
        return 0  # unused: only fill="background" paints a label (an edge map only loses its edges)
    if background is None:
        return border_label(primitive)
    if not 0 <= background < primitive.n_labels:
        raise ValueError(f"background label {background} is not one of the model's labels 0..{primitive.n_labels - 1}")
    return int(background)


def shift_map(mask: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift an ``(H, W)`` mask or map by ``(dy, dx)`` pixels without wrapping; what leaves the frame is
    dropped and what enters is zero/False."""
    h, w = mask.shape
    out = torch.zeros_like(mask)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if h - abs(dy) > 0 and w - abs(dx) > 0:
        out[yd, xd] = mask[ys, xs]
    return out


def move_mask(primitive: Primitive, mask: torch.Tensor, dy: int, dx: int, fill: str = "nearest",
              background: int | None = None, copy: bool = False) -> Primitive:
    """Move (or copy) the pixels of ``mask`` by ``(dy, dx)`` — labels and edges together.

    The moved pixels are pasted over what was at the destination. Pixels that would land outside the
    primitive are dropped with an :class:`EditClippedWarning`. Without ``copy`` the vacated area
    loses its edges and is filled according to ``fill`` (module docstring).

    Args:
        primitive: the primitive to edit (not modified).
        mask: ``(H, W)`` bool, the pixels to move.
        dy, dx: shift in pixels (down and right are positive).
    """
    background = _check_fill(fill, background, primitive)
    h, w = primitive.size
    if mask.shape != (h, w) or mask.dtype != torch.bool:
        raise ValueError(f"mask must be an ({h}, {w}) bool tensor, got {tuple(mask.shape)} {mask.dtype}")
    if not bool(mask.any()):
        raise ValueError("the mask selects no pixel; nothing to move")
    dy, dx = int(dy), int(dx)
    dest = shift_map(mask, dy, dx)
    if int(dest.sum()) == 0:
        raise ValueError(f"moving by ({dy}, {dx}) puts the selection entirely outside the {h}x{w} primitive")
    if int(dest.sum()) < int(mask.sum()):
        warnings.warn(f"moving by ({dy}, {dx}) goes past the {h}x{w} primitive; the part outside was clipped",
                      EditClippedWarning, stacklevel=2)
    vacated = mask & ~dest if not copy else torch.zeros_like(mask)
    labels = edges = None
    if primitive.labels is not None:
        moved = shift_map(primitive.labels, dy, dx)
        labels = primitive.labels if copy else _fill(primitive.labels, vacated | dest, fill, background)
        labels = torch.where(dest, moved, labels)
    if primitive.edges is not None:
        moved = shift_map(primitive.edges & mask, dy, dx)
        edges = primitive.edges & ~vacated
        edges = torch.where(dest, moved, edges)
    return Primitive(labels, edges, primitive.n_labels)


def move_region(primitive: Primitive, box: tuple[int, int, int, int], dy: int, dx: int, fill: str = "nearest",
                background: int | None = None, copy: bool = False) -> Primitive:
    """Move (``copy=False``) or copy/paste (``copy=True``) the content of a box by ``(dy, dx)`` —
    "move the car". See :func:`move_mask`."""
    return move_mask(primitive, box_mask(box, primitive.size), dy, dx, fill, background, copy)


def move_component(primitive: Primitive, y: int, x: int, dy: int, dx: int, fill: str = "nearest",
                   background: int | None = None, copy: bool = False) -> Primitive:
    """Move the connected region under ``(y, x)`` (:func:`component_mask`) with the edges on it."""
    return move_mask(primitive, component_mask(primitive, y, x), dy, dx, fill, background, copy)


def remove_mask(primitive: Primitive, mask: torch.Tensor, fill: str = "nearest",
                background: int | None = None) -> Primitive:
    """Remove what lies under ``mask`` — "remove an object": its edges go and its labels are filled
    according to ``fill`` (``"nearest"``: the surrounding regions grow over it)."""
    background = _check_fill(fill, background, primitive)
    if mask.shape != primitive.size or mask.dtype != torch.bool:
        raise ValueError(f"mask must be an {primitive.size} bool tensor, got {tuple(mask.shape)} {mask.dtype}")
    labels = None if primitive.labels is None else _fill(primitive.labels, mask, fill, background)
    edges = None if primitive.edges is None else primitive.edges & ~mask
    return Primitive(labels, edges, primitive.n_labels)


def scale_region(primitive: Primitive, box: tuple[int, int, int, int], factor: float, fill: str = "nearest",
                 background: int | None = None) -> Primitive:
    """Scale the content of a box about its centre by ``factor`` (nearest neighbour, so labels stay
    labels and edges stay binary). Shrinking vacates the rim, which is filled per ``fill``;
    growing past the primitive is clipped with a warning."""
    background = _check_fill(fill, background, primitive)
    if factor <= 0:
        raise ValueError(f"scale factor must be > 0, got {factor}")
    src = box_mask(box, primitive.size)
    y0, x0, y1, x1 = (int(v) for v in box)
    h, w = primitive.size
    bh, bw = max(1, round((y1 - y0) * factor)), max(1, round((x1 - x0) * factor))
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    ty0, tx0 = int(round(cy - bh / 2)), int(round(cx - bw / 2))
    cy0, cx0, cy1, cx1 = max(ty0, 0), max(tx0, 0), min(ty0 + bh, h), min(tx0 + bw, w)
    if (cy1 - cy0, cx1 - cx0) != (bh, bw):
        warnings.warn(f"scaling box {tuple(box)} by {factor} goes past the {h}x{w} primitive; clipped",
                      EditClippedWarning, stacklevel=2)
    dest = torch.zeros(h, w, dtype=torch.bool)
    dest[cy0:cy1, cx0:cx1] = True
    rows = slice(cy0 - ty0, cy1 - ty0)
    cols = slice(cx0 - tx0, cx1 - tx0)

    def resized(t: torch.Tensor) -> torch.Tensor:
        a = t[y0:y1, x0:x1].numpy().astype(np.int32)
        return torch.from_numpy(cv2.resize(a, (bw, bh), interpolation=cv2.INTER_NEAREST)[rows, cols])

    labels = edges = None
    vacated = src & ~dest
    if primitive.labels is not None:
        labels = _fill(primitive.labels, vacated | dest, fill, background).clone()
        labels[cy0:cy1, cx0:cx1] = resized(primitive.labels).long()
    if primitive.edges is not None:
        edges = primitive.edges & ~vacated
        edges[cy0:cy1, cx0:cx1] = resized(primitive.edges).bool()
    return Primitive(labels, edges, primitive.n_labels)


def stroke_mask(points: list[tuple[float, float]], radius: int, size: tuple[int, int]) -> torch.Tensor:
    """``(H, W)`` bool: pixels within ``radius`` of the polyline through ``(y, x)`` ``points``
    (a single point = a disc) — the footprint of a brush, pencil or eraser stroke.

    Exact in the sense of a round brush: the polyline is rasterised one pixel thin and every pixel
    whose Euclidean distance to it is at most ``radius`` is in the mask (radius 2 = the 13-pixel
    disc). Points may lie up to ``radius`` outside the frame; the part of the stroke inside is kept.
    """
    if not points:
        raise ValueError("a stroke needs at least one (y, x) point")
    if radius < 0:
        raise ValueError(f"brush radius must be >= 0, got {radius}")
    limit = math.ceil(math.hypot(*size))  # the diagonal: a larger brush paints nothing more, only costs time
    if radius > limit:
        raise ValueError(f"brush radius {radius} is larger than the {size[0]}x{size[1]} primitive's diagonal; "
                         f"use at most {limit}")
    pad = int(radius) + 1  # room for a brush centred just outside the frame
    h, w = size
    canvas = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    pts = np.array([(int(round(x)) + pad, int(round(y)) + pad) for y, x in points], np.int32)
    if len(pts) == 1:
        cv2.line(canvas, tuple(pts[0]), tuple(pts[0]), 1, 1)
    else:
        cv2.polylines(canvas, [pts], False, 1, 1)
    footprint = ndimage.distance_transform_edt(canvas == 0) <= radius
    return torch.from_numpy(np.ascontiguousarray(footprint[pad:pad + h, pad:pad + w]))


def polygon_mask(points: list[tuple[float, float]], size: tuple[int, int]) -> torch.Tensor:
    """``(H, W)`` bool: the inside of the closed polygon through ``(y, x)`` ``points`` (the lasso),
    boundary included. Fewer than three points, or a polygon with no area, selects the pixels on its
    outline, so a lasso drawn as a line still selects something."""
    if not points:
        raise ValueError("a lasso needs at least one (y, x) point")
    canvas = np.zeros(size, np.uint8)
    pts = np.array([(int(round(x)), int(round(y))) for y, x in points], np.int32)
    cv2.fillPoly(canvas, [pts], 1)
    cv2.polylines(canvas, [pts], True, 1, 1)
    return torch.from_numpy(canvas.astype(bool))


def paint_stroke(primitive: Primitive, points: list[tuple[int, int]], radius: int, label: int) -> Primitive:
    """Paint ``label`` along a polyline of ``(y, x)`` points with a round brush of ``radius`` pixels."""
    if primitive.labels is None:
        raise ValueError("this primitive has no label map to paint; use draw_edges for an edge map")
    if not 0 <= label < primitive.n_labels:
        raise ValueError(f"label {label} is not one of the model's labels 0..{primitive.n_labels - 1}")
    m = stroke_mask(points, radius, primitive.size)
    labels = primitive.labels.clone()
    labels[m] = label
    return primitive.replace(labels=labels)


def paint_disc(primitive: Primitive, y: int, x: int, radius: int, label: int) -> Primitive:
    """Paint a filled disc of ``label`` centred at ``(y, x)``."""
    _check_point(y, x, primitive.size)
    return paint_stroke(primitive, [(y, x)], radius, label)


def draw_edges(primitive: Primitive, points: list[tuple[int, int]], width: int = 1) -> Primitive:
    """Draw an edge polyline (the edge pencil) ``width`` pixels wide through ``(y, x)`` points."""
    if primitive.edges is None:
        raise ValueError("this primitive has no edge map to draw on")
    m = stroke_mask(points, max(0, (int(width) - 1) // 2), primitive.size)
    return primitive.replace(edges=primitive.edges | m)


def erase_edges(primitive: Primitive, region: torch.Tensor | tuple[int, int, int, int]) -> Primitive:
    """Remove the edges inside a box ``(y0, x0, y1, x1)`` or an ``(H, W)`` bool mask (the eraser)."""
    if primitive.edges is None:
        raise ValueError("this primitive has no edge map to erase")
    m = region if isinstance(region, torch.Tensor) else box_mask(region, primitive.size)
    if m.shape != primitive.edges.shape or m.dtype != torch.bool:
        raise ValueError(f"eraser mask must be an {tuple(primitive.edges.shape)} bool tensor")
    return primitive.replace(edges=primitive.edges & ~m)
