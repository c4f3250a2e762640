"""Primitive edits (paper Sec. 4.1, App. B): pure functions from a :class:`Primitive` to a new one.

After training, a person changes the primitive — moves an object, lifts a nose, erases an edge —
and the generator renders the result. Every edit here returns a new primitive and leaves its
input untouched, so undo is "keep the old one". Boxes are ``(y0, x0, y1, x1)`` in pixels,
half-open like slices.
"""

from __future__ import annotations

import warnings

import torch
from scipy import ndimage

from .primitives import Primitive

__all__ = ["EditClippedWarning", "move_region", "fill_nearest"]

FILLS = ("nearest", "none")


class EditClippedWarning(UserWarning):
    """Part of an edit fell outside the primitive and was clipped."""


def _check_box(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    y0, x0, y1, x1 = (int(v) for v in box)
    h, w = size
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise ValueError(f"box {box} is not inside the {h}x{w} primitive; expected (y0, x0, y1, x1) "
                         f"with 0 <= y0 < y1 <= {h} and 0 <= x0 < x1 <= {w}")
    return y0, x0, y1, x1


def fill_nearest(labels: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Give every pixel of ``hole`` ``(H, W)`` bool the label of the nearest pixel outside it."""
    if not bool(hole.any()):
        return labels
    if bool(hole.all()):
        raise ValueError("cannot fill: the hole covers the whole label map")
    _, (iy, ix) = ndimage.distance_transform_edt(hole.numpy(), return_indices=True)
    return torch.from_numpy(labels.numpy()[iy, ix])


def move_region(primitive: Primitive, box: tuple[int, int, int, int], dy: int, dx: int, fill: str = "nearest",
                copy: bool = False) -> Primitive:
    """Move (or copy) the content of a rectangle by ``(dy, dx)`` pixels — "move the car".

    Labels and edges inside ``box`` are pasted at the shifted place, over what was there. The
    vacated area (when moving) loses its edges, and its labels are filled according to ``fill``:
    ``"nearest"`` — each pixel takes the nearest label outside the vacated area; ``"none"`` — the
    old labels stay (only edges are removed). A destination partly outside the primitive is
    clipped, with an :class:`EditClippedWarning`.

    Args:
        primitive: the primitive to edit (not modified).
        box: ``(y0, x0, y1, x1)`` source rectangle, half-open.
        dy, dx: shift in pixels (down and right are positive).
        fill: how to fill the vacated area, ``"nearest"`` or ``"none"``.
        copy: keep the source as it is (copy/paste instead of move).

    Returns:
        A new :class:`Primitive` with the same kind, size and ``n_labels``; no new label values.
    """
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")
    h, w = primitive.size
    y0, x0, y1, x1 = _check_box(box, (h, w))
    # destination, clipped to the primitive
    ty0, tx0, ty1, tx1 = max(y0 + dy, 0), max(x0 + dx, 0), min(y1 + dy, h), min(x1 + dx, w)
    if ty0 >= ty1 or tx0 >= tx1:
        raise ValueError(f"moving box {box} by ({dy}, {dx}) puts it entirely outside the {h}x{w} primitive")
    if (ty1 - ty0, tx1 - tx0) != (y1 - y0, x1 - x0):
        warnings.warn(f"moving box {box} by ({dy}, {dx}) goes past the {h}x{w} primitive; the part outside "
                      "was clipped", EditClippedWarning, stacklevel=2)
    sy, sx = slice(ty0 - dy, ty1 - dy), slice(tx0 - dx, tx1 - dx)  # the source part that lands inside
    dst = (slice(ty0, ty1), slice(tx0, tx1))
    vacated = torch.zeros(h, w, dtype=torch.bool)
    if not copy:
        vacated[y0:y1, x0:x1] = True
        vacated[dst] = False

    labels = edges = None
    if primitive.labels is not None:
        labels = primitive.labels.clone()
        patch = primitive.labels[sy, sx].clone()
        if fill == "nearest" and not copy:
            labels = fill_nearest(labels, vacated | _mask(dst, h, w))
        labels[dst] = patch
    if primitive.edges is not None:
        edges = primitive.edges.clone()
        patch = primitive.edges[sy, sx].clone()
        edges[vacated] = False
        edges[dst] = patch
    return Primitive(labels, edges, primitive.n_labels)


def _mask(region: tuple[slice, slice], h: int, w: int) -> torch.Tensor:
    m = torch.zeros(h, w, dtype=torch.bool)
    m[region] = True
    return m
