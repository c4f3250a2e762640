"""Measuring the paper's failure modes (Sec. 5 "Failure modes", Fig. 8; App. C, Fig. 9).

Single-image generation breaks in three recognisable ways; each has a number here:

* **empty-space interpolation** (App. C) — when an object moves, the area it leaves has no primitive
  content of its own and the generator fills it by interpolating what it memorised: the vacated
  region keeps the object's colour instead of taking its surroundings'. Measure: CIE Lab colour
  distance (ΔE) of the vacated region in the output to the object's surround vs to the object
  (:func:`empty_space_drift`);
* **background duplication** — an object moved onto a new background drags its old surroundings
  along. Measure: how much the output around the moved object resembles its *old* surround rather
  than the local background that was there (:func:`duplication_score`);
* **unseen objects** — primitive content that never occurred in training is rendered poorly; the
  reason is visible as a high nearest-neighbour distance of its patches to the training patches
  (:func:`deepsim_lite.analysis.patches.patch_nn_distance_map`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .._image import to_uint8
from ..primitives.edits import box_mask, move_mask, shift_map
from ..primitives.primitive import Primitive

__all__ = ["ring", "vacated", "mean_lab", "delta_e", "shift_series", "empty_space_drift", "empty_squares",
           "empty_region_drift", "duplication_score"]


def ring(mask: torch.Tensor, width: int = 3) -> torch.Tensor:
    """Pixels within ``width`` of ``mask`` but outside it: its surround. ``(H, W)`` bool."""
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    grown = cv2.dilate(mask.numpy().astype(np.uint8), k).astype(bool)
    return torch.from_numpy(grown) & ~mask


def vacated(mask: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Pixels of ``mask`` that a move by ``(dy, dx)`` leaves empty."""
    return mask & ~shift_map(mask, dy, dx)


def mean_lab(image: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Mean CIE Lab colour (L in 0..100) of the pixels of ``mask`` in ``image`` ``(3, H, W)`` in [-1, 1]."""
    if not bool(mask.any()):
        raise ValueError("the mask selects no pixel")
    lab = cv2.cvtColor(to_uint8(image).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab[mask.numpy()].mean(0)


def delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """CIE76 colour difference ΔE between two Lab colours (≈ 2.3 is just noticeable)."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def shift_series(model, primitive: Primitive, mask: torch.Tensor, shifts: list[tuple[int, int]],
                 fill: str = "nearest") -> tuple[list[Primitive], list[torch.Tensor]]:
    """Move ``mask`` by each ``(dy, dx)`` of ``shifts`` and render each edit with ``model.generate``."""
    prims = [move_mask(primitive, mask, dy, dx, fill) if (dy, dx) != (0, 0) else primitive for dy, dx in shifts]
    return prims, [model.generate(p) for p in prims]


def empty_space_drift(outputs: list[torch.Tensor], image: torch.Tensor, mask: torch.Tensor,
                      shifts: list[tuple[int, int]], surround_width: int = 3,
                      background: torch.Tensor | None = None) -> list[dict]:
    """Colour of the vacated region, per shift, against the object's surround and the object itself.

    Args:
        outputs: generated images ``(3, H, W)``, one per shift (from :func:`shift_series`).
        image: the training image ``(3, H, W)``.
        mask: the moved object's pixels ``(H, W)`` bool (before moving).
        shifts: the ``(dy, dx)`` of each output.
        background: optional mask of a background region of ``image`` for a third reference.

    Returns:
        One dict per shift: ``shift``, ``vacated_px``, ``de_surround`` (ΔE to the surround in the
        training image — small means the hole was filled like its surroundings, as a person expects),
        ``de_object`` (ΔE to the object's own colour — small means the object "stayed behind"),
        ``drift`` = de_surround / (de_surround + de_object): 0 = filled like the surround, 1 = looks
        like the object; with ``background``: ``de_background`` and ``drift_background`` =
        de_surround / (de_surround + de_background), 1 = the hole was inpainted with background
        (what the paper's App. C sees for large shifts).
    """
    surround = ring(mask, surround_width)
    ref_surround, ref_object = mean_lab(image, surround), mean_lab(image, mask)
    ref_bg = mean_lab(image, background) if background is not None else None
    rows = []
    for out, (dy, dx) in zip(outputs, shifts, strict=True):
        hole = vacated(mask, dy, dx)
        row = {"shift": [int(dy), int(dx)], "vacated_px": int(hole.sum())}
        if row["vacated_px"]:
            c = mean_lab(out, hole)
            row["de_surround"] = delta_e(c, ref_surround)
            row["de_object"] = delta_e(c, ref_object)
            row["drift"] = row["de_surround"] / max(row["de_surround"] + row["de_object"], 1e-9)
            if ref_bg is not None:
                row["de_background"] = delta_e(c, ref_bg)
                row["drift_background"] = row["de_surround"] / max(row["de_surround"] + row["de_background"], 1e-9)
        rows.append(row)
    return rows


def empty_squares(model, primitive: Primitive, centre: tuple[int, int], sides: list[int]
                  ) -> tuple[list[torch.Tensor], list[Primitive], list[torch.Tensor]]:
    """Open empty space directly: erase the edges inside a square of each side in ``sides`` centred at
    ``centre`` ``(y, x)``, and render each edit with ``model.generate``.

    The paper (App. C) opens it by shifting the cat's nose down; where the object is near the frame's
    edge a shift pushes it out of the picture before much space opens, so this grows the guidance-free
    region in place. Labels (in a super-primitive) are kept: only the edges' guidance is removed.

    Returns:
        ``(masks, primitives, outputs)``, one of each per side; masks ``(H, W)`` bool.
    """
    if primitive.edges is None:
        raise ValueError("empty_squares erases edges: give an 'edges' or 'seg_edges' primitive")
    cy, cx = centre
    masks = [box_mask((cy - s // 2, cx - s // 2, cy - s // 2 + s, cx - s // 2 + s), primitive.size) for s in sides]
    prims = [primitive.replace(edges=primitive.edges & ~m) for m in masks]
    return masks, prims, [model.generate(p) for p in prims]


def empty_region_drift(outputs: list[torch.Tensor], image: torch.Tensor, masks: list[torch.Tensor],
                       background: torch.Tensor) -> list[dict]:
    """Colour of each emptied region in its output, against what the training image has there and
    against the background.

    Returns:
        One dict per output: ``pixels``, ``de_truth`` (ΔE to the training image's colour in the region:
        small = filled with what belongs there), ``de_background`` (ΔE to the background region's colour)
        and ``drift_background`` = de_truth / (de_truth + de_background): 0 = filled like the truth,
        1 = inpainted with background (the paper's App. C: "it inpaints a background patch").
    """
    ref_bg = mean_lab(image, background)
    rows = []
    for out, mask in zip(outputs, masks, strict=True):
        c = mean_lab(out, mask)
        de_truth, de_bg = delta_e(c, mean_lab(image, mask)), delta_e(c, ref_bg)
        rows.append({"pixels": int(mask.sum()), "de_truth": de_truth, "de_background": de_bg,
                     "drift_background": de_truth / max(de_truth + de_bg, 1e-9)})
    return rows


def duplication_score(output: torch.Tensor, image: torch.Tensor, mask: torch.Tensor, dy: int, dx: int,
                      width: int = 4) -> dict:
    """Does the output around a moved object copy the object's *old* surround?

    Compares the output in the ring around the moved object with (a) the training image's ring
    around the object at its old place, aligned pixel by pixel, and (b) the training image at the
    new place (the local background the primitive asks for). Mean absolute difference in [0, 2].

    Returns:
        ``{"l1_to_old_surround", "l1_to_local_background", "duplication"}`` where
        ``duplication = l1_local / (l1_local + l1_old)`` > 0.5 means the output looks more like the
        old surround than like the local background.
    """
    new_mask = shift_map(mask, dy, dx)
    new_ring = ring(new_mask, width) & ~ring(mask, width) & ~mask  # only pixels away from the old place
    if not bool(new_ring.any()):
        raise ValueError("the move is too small: the new surround overlaps the old one entirely")
    old_vals = torch.stack([shift_map(c, dy, dx) for c in image])  # the old surround, carried to the new place
    l1_old = (output - old_vals).abs()[:, new_ring].mean().item()
    l1_local = (output - image).abs()[:, new_ring].mean().item()
    return {"l1_to_old_surround": l1_old, "l1_to_local_background": l1_local,
            "duplication": l1_local / max(l1_local + l1_old, 1e-9)}
