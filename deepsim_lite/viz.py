"""Pictures for notebooks and reports: captioned image grids (no matplotlib needed)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ._image import to_uint8
from .primitives import Primitive, to_rgb

__all__ = ["as_rgb", "make_grid", "checkerboard", "show", "heatmap", "knn_figure"]


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


def heatmap(values: torch.Tensor | np.ndarray, image: torch.Tensor | np.ndarray | None = None, alpha: float = 0.6,
            vmax: float | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """A map ``(h, w)`` as a colour heat map (viridis), upsampled to ``image`` (or ``size``) and blended
    over it. ``vmax`` fixes the top of the scale so several maps can share it. ``(H, W, 3)`` uint8."""
    v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    v = v.astype(np.float32)
    top = float(v.max()) if vmax is None else float(vmax)
    g = np.clip(v / top, 0, 1) if top > 0 else np.zeros_like(v)
    base = as_rgb(image) if image is not None else None
    h, w = base.shape[:2] if base is not None else (size or v.shape)
    g = cv2.resize(g, (w, h), interpolation=cv2.INTER_NEAREST)
    colour = cv2.applyColorMap((g * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[:, :, ::-1]
    if base is None:
        return np.ascontiguousarray(colour)
    gray = np.repeat(cv2.cvtColor(base, cv2.COLOR_RGB2GRAY)[:, :, None], 3, 2)
    return (alpha * colour + (1 - alpha) * gray).astype(np.uint8)


def knn_figure(train_image, train_primitive, test_primitive, reach, test_image=None) -> np.ndarray:
    """App. G's figure in one row: train pair | test primitive | 1-NN distance without TPS | with TPS |
    drop | generator error (if computed). Distances share one colour scale. ``(H, W, 3)`` uint8."""
    top = float(max(reach.d_without.max(), reach.d_with.max()))
    base = test_image if test_image is not None else test_primitive
    tiles = [train_image, train_primitive, test_primitive,
             heatmap(reach.d_without, base, vmax=top), heatmap(reach.d_with, base, vmax=top),
             heatmap(reach.drop.clamp_min(0), base)]
    caps = ["train image", "train primitive", "test primitive", "1-NN, no TPS", f"1-NN, {reach.n_aug} TPS",
            "drop"]
    if reach.error is not None:
        tiles += [reach.generated, heatmap(reach.error, base)]
        caps += ["G(test primitive)", "prediction error"]
    return make_grid(tiles, caps, tile_height=144)
