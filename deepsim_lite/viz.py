"""Pictures for notebooks and reports: captioned image grids (no matplotlib needed)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ._image import to_uint8
from .primitives import Primitive, to_rgb

__all__ = ["as_rgb", "make_grid", "checkerboard", "show"]


def as_rgb(x: torch.Tensor | np.ndarray | Primitive) -> np.ndarray:
    """Anything displayable -> ``(H, W, 3)`` uint8: an image tensor ``(3, H, W)`` in [-1, 1],
    a :class:`Primitive`, a bool/float ``(H, W)`` map (scaled to its range), or a uint8 array."""
    if isinstance(x, Primitive):
        return to_rgb(x)
    if isinstance(x, torch.Tensor):
        if x.ndim == 4:
            x = x[0]
        if x.ndim == 3 and x.shape[0] == 3:
            return to_uint8(x)
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3:
        return x
    if x.ndim == 2:
        x = x.astype(np.float32)
        lo, hi = float(x.min()), float(x.max())
        g = ((x - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(x)).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, 2)
    raise ValueError(f"cannot display an array of shape {x.shape} and dtype {x.dtype}")


def make_grid(
    tiles: list,
    captions: list[str] | None = None,
    ncols: int | None = None,
    tile_height: int = 192,
    pad: int = 4,
) -> np.ndarray:
    """Lay tiles out in a grid, each scaled to ``tile_height`` rows, with a caption strip above.

    Returns:
        ``(H, W, 3)`` uint8 RGB picture, white background.
    """
    if not tiles:
        raise ValueError("make_grid needs at least one tile")
    if captions is not None and len(captions) != len(tiles):
        raise ValueError(f"{len(captions)} captions for {len(tiles)} tiles")
    ncols = ncols or len(tiles)
    imgs = []
    for t in tiles:
        a = as_rgb(t)
        w = max(1, round(a.shape[1] * tile_height / a.shape[0]))
        interp = cv2.INTER_NEAREST if a.shape[0] < tile_height else cv2.INTER_AREA
        imgs.append(cv2.resize(a, (w, tile_height), interpolation=interp))
    cap_h = 18 if captions else 0
    col_w = max(i.shape[1] for i in imgs)
    nrows = (len(imgs) + ncols - 1) // ncols
    out = np.full((nrows * (tile_height + cap_h + pad) + pad, ncols * (col_w + pad) + pad, 3), 255, np.uint8)
    for k, img in enumerate(imgs):
        r, c = divmod(k, ncols)
        y = pad + r * (tile_height + cap_h + pad)
        x = pad + c * (col_w + pad)
        if captions:
            cv2.putText(out, captions[k][: col_w // 7], (x, y + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                        cv2.LINE_AA)
        out[y + cap_h : y + cap_h + tile_height, x : x + img.shape[1]] = img
    return out


def checkerboard(h: int, w: int, squares: int = 8) -> torch.Tensor:
    """A black/white checkerboard ``(3, H, W)`` in [-1, 1] with ``squares`` squares along the width:
    the clearest picture of what a warp does."""
    side = max(1, w // squares)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    board = ((yy // side + xx // side) % 2).float() * 2 - 1
    return board[None].repeat(3, 1, 1)


def show(tiles: list, captions: list[str] | None = None, ncols: int | None = None, tile_height: int = 192,
         title: str | None = None) -> None:
    """Display :func:`make_grid` of the tiles inline (matplotlib)."""
    import matplotlib.pyplot as plt

    grid = make_grid(tiles, captions, ncols, tile_height)
    dpi = 100
    fig = plt.figure(figsize=(grid.shape[1] / dpi, grid.shape[0] / dpi + (0.3 if title else 0)), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(grid)
    ax.axis("off")
    if title:
        ax.set_title(title)
    plt.show()
