"""Pictures for notebooks and reports.

Two renderers of the same tiles (images, primitives, maps and :class:`Heat` maps):

* :func:`show` / :func:`figure` — for notebooks (matplotlib): drawn at most :data:`MAX_WIDTH_PX`
  wide, so the notebook shows it 1:1 and every caption is at least :data:`MIN_TEXT_PX` on screen;
  captions wrap instead of being cut; every heat map gets a colour bar with its scale and name;
  ``zoom=`` adds a magnified crop of one region under each tile;
* :func:`make_grid` — a captioned ``(H, W, 3)`` uint8 picture for files (no matplotlib needed).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .._image import to_uint8
from ..primitives.primitive import Primitive, to_rgb

__all__ = ["Heat", "as_rgb", "make_grid", "checkerboard", "figure", "show", "heatmap", "knn_panels", "knn_figure",
           "MAX_WIDTH_PX", "MIN_TEXT_PX"]

MAX_WIDTH_PX = 880  # widest notebook figure: JupyterLab's notebook at a 1400 px window with the file browser open
MIN_TEXT_PX = 11  # smallest text on screen, in pixels
DPI = 100  # figure pixels per inch (matplotlib's default, which the inline backend keeps)
_CAPTION_PT = 9.0  # 12.5 px at DPI
_TICK_PT = 8.0  # 11.1 px at DPI


@dataclass(frozen=True)
class Heat:
    """A map shown as a heat map (viridis) with a colour bar: ``values`` ``(h, w)``, optionally over
    ``image`` (grey) with opacity ``alpha``; ``vmax`` fixes the top of the scale (shared by several maps),
    ``label`` names what the colour bar measures."""

    values: torch.Tensor | np.ndarray
    image: torch.Tensor | np.ndarray | Primitive | None = None
    vmax: float | None = None
    label: str = ""
    alpha: float = 0.6

    def array(self) -> np.ndarray:
        v = self.values.detach().cpu().numpy() if isinstance(self.values, torch.Tensor) else np.asarray(self.values)
        return v.astype(np.float32)

    def top(self) -> float:
        top = float(self.array().max()) if self.vmax is None else float(self.vmax)
        return top if top > 0 else 1.0

    def rgb(self) -> np.ndarray:
        """The blended picture, as :func:`heatmap` draws it (for :func:`make_grid`)."""
        return heatmap(self.values, self.image, self.alpha, self.top(),
                       None if self.image is not None else self.array().shape)


def as_rgb(x: torch.Tensor | np.ndarray | Primitive) -> np.ndarray:
    """Anything displayable -> ``(H, W, 3)`` uint8: an image tensor ``(3, H, W)`` in [-1, 1],
    a :class:`Primitive`, a bool/float ``(H, W)`` map (scaled to its range), or a uint8 array."""
    if isinstance(x, Primitive):
        return to_rgb(x)
    if isinstance(x, Heat):
        return x.rgb()
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
    col_w = max(i.shape[1] for i in imgs)
    lines = [textwrap.wrap(c, max(4, col_w // 8)) or [""] for c in captions] if captions else []
    cap_h = 18 * max((len(x) for x in lines), default=0)
    nrows = (len(imgs) + ncols - 1) // ncols
    out = np.full((nrows * (tile_height + cap_h + pad) + pad, ncols * (col_w + pad) + pad, 3), 255, np.uint8)
    for k, img in enumerate(imgs):
        r, c = divmod(k, ncols)
        y = pad + r * (tile_height + cap_h + pad)
        x = pad + c * (col_w + pad)
        for i, line in enumerate(lines[k] if captions else []):
            cv2.putText(out, line, (x, y + 13 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        out[y + cap_h : y + cap_h + tile_height, x : x + img.shape[1]] = img
    return out


def checkerboard(h: int, w: int, squares: int = 8) -> torch.Tensor:
    """A black/white checkerboard ``(3, H, W)`` in [-1, 1] with ``squares`` squares along the width:
    the clearest picture of what a warp does."""
    side = max(1, w // squares)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    board = ((yy // side + xx // side) % 2).float() * 2 - 1
    return board[None].repeat(3, 1, 1)


def figure(tiles: list, captions: list[str] | None = None, ncols: int | None = None, tile_height: int = 192,
           title: str | None = None, zoom: tuple[int, int, int, int] | None = None):
    """A matplotlib figure of the tiles in a grid, readable where a notebook shows it.

    Args:
        tiles: images ``(3, H, W)``, primitives, ``(H, W)`` maps, uint8 pictures or :class:`Heat` maps.
        captions: one per tile, wrapped to the tile's width.
        ncols: tiles per row (default: all in one row).
        tile_height: the tiles' height in screen pixels at most (less when the row would be wider
            than :data:`MAX_WIDTH_PX`).
        title: above the grid.
        zoom: ``(y0, x0, y1, x1)`` in the first tile's pixels: outlined on every tile and shown
            magnified in a row under each row of tiles (every tile is resized to the first tile's size).
    """
    import matplotlib.pyplot as plt

    if not tiles:
        raise ValueError("show needs at least one tile")
    if captions is not None and len(captions) != len(tiles):
        raise ValueError(f"{len(captions)} captions for {len(tiles)} tiles")
    ncols = min(ncols or len(tiles), len(tiles))
    nrows = -(-len(tiles) // ncols)
    pics = [as_rgb(t) for t in tiles]
    aspect = max(p.shape[1] / p.shape[0] for p in pics)
    bar_px = 66 if any(isinstance(t, Heat) for t in tiles) else 0  # colour bar, its ticks and its name
    gap_px = 10
    tile_h = min(float(tile_height), (MAX_WIDTH_PX - gap_px - ncols * (bar_px + gap_px)) / (ncols * aspect))
    tile_w = tile_h * aspect
    cell_w = tile_w + bar_px + gap_px
    chars = max(8, int(tile_w / (0.6 * _CAPTION_PT * DPI / 72)))  # a caption is centred over its tile
    wrapped = [c if "$" in c else textwrap.fill(c, chars) for c in captions] if captions else None  # never split math
    cap_lines = max((w.count("\n") + 1 for w in wrapped), default=0) if wrapped else 0
    cap_px = cap_lines * _CAPTION_PT * DPI / 72 * 1.3 + (6 if wrapped else 0)
    zoom_px = tile_h if zoom is not None else 0.0
    row_px = tile_h + cap_px + zoom_px + gap_px
    title_px = 30 if title else 0
    width_px, height_px = ncols * cell_w + gap_px, nrows * row_px + title_px + gap_px
    fig = plt.figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    if title:
        fig.suptitle(title, fontsize=_CAPTION_PT + 1, y=1 - 6 / height_px, va="top")
    h0, w0 = pics[0].shape[:2]
    for k, (tile, pic) in enumerate(zip(tiles, pics, strict=True)):
        r, c = divmod(k, ncols)
        x = (gap_px + c * cell_w) / width_px
        y_top = height_px - title_px - r * row_px - cap_px
        ax = fig.add_axes((x, (y_top - tile_h) / height_px, tile_w / width_px, tile_h / height_px))
        ax.set_axis_off()
        if isinstance(tile, Heat):
            _draw_heat(fig, ax, tile, 4 / width_px, 9 / width_px)
        else:
            ax.imshow(pic, interpolation="nearest" if pic.shape[0] < tile_h else "antialiased")
        if wrapped:
            ax.set_title(wrapped[k], fontsize=_CAPTION_PT, pad=4)
        if zoom is not None:
            zax = fig.add_axes((x, (y_top - tile_h - zoom_px - 4) / height_px, tile_w / width_px,
                                zoom_px / height_px))
            _draw_zoom(ax, zax, pic, zoom, (h0, w0), tile_h)
    return fig


def _draw_zoom(ax, zax, pic: np.ndarray, zoom: tuple[int, int, int, int], first: tuple[int, int],
               tile_h: float) -> None:
    """Outline ``zoom`` (in the first tile's pixels, ``first`` = its (H, W)) on ``ax`` and show it magnified in
    ``zax``."""
    import matplotlib.pyplot as plt

    (y0, x0, y1, x1), (h0, w0) = zoom, first
    sy, sx = pic.shape[0] / h0, pic.shape[1] / w0
    ax.add_patch(plt.Rectangle((x0 * sx - 0.5, y0 * sy - 0.5), (x1 - x0) * sx, (y1 - y0) * sy,
                               fill=False, edgecolor="#ff00ff", lw=1.5))
    crop = cv2.resize(pic, (w0, h0), interpolation=cv2.INTER_AREA if pic.shape[0] > h0 else
                      cv2.INTER_NEAREST)[y0:y1, x0:x1]
    zax.imshow(crop, interpolation="nearest")
    zax.set_axis_off()
    zax.text(0.02, 0.02, f"zoom ×{tile_h / (y1 - y0) * h0 / pic.shape[0]:.1f}", transform=zax.transAxes,
             fontsize=_TICK_PT, color="white", bbox={"facecolor": "black", "alpha": 0.5, "pad": 1})


def _draw_heat(fig, ax, heat: Heat, offset: float, width: float) -> None:
    """A heat map over a grey picture, with its colour bar at the tile's right (``offset`` and ``width``
    in figure fractions)."""
    from matplotlib.ticker import MaxNLocator

    values = heat.array()
    if heat.image is not None:
        base = as_rgb(heat.image)
        h, w = base.shape[:2]
        ax.imshow(cv2.cvtColor(base, cv2.COLOR_RGB2GRAY), cmap="gray", vmin=0, vmax=255)
        values = cv2.resize(values, (w, h), interpolation=cv2.INTER_NEAREST)
    im = ax.imshow(values, cmap="viridis", vmin=0, vmax=heat.top(), alpha=heat.alpha if heat.image is not None else 1,
                   interpolation="nearest")
    box = ax.get_position()
    cax = fig.add_axes((box.x1 + offset, box.y0, width, box.height))
    cb = fig.colorbar(im, cax=cax)
    cb.locator = MaxNLocator(4)
    cb.formatter.set_useOffset(False)
    cb.update_ticks()
    cb.ax.tick_params(labelsize=_TICK_PT, length=2, pad=1)
    if heat.label:
        cb.set_label(heat.label, fontsize=_TICK_PT)


def show(tiles: list, captions: list[str] | None = None, ncols: int | None = None, tile_height: int = 192,
         title: str | None = None, zoom: tuple[int, int, int, int] | None = None) -> None:
    """Display :func:`figure` of the tiles inline."""
    import matplotlib.pyplot as plt

    figure(tiles, captions, ncols, tile_height, title, zoom)
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


def knn_panels(train_image, train_primitive, test_primitive, reach, test_image=None) -> tuple[list, list[str]]:
    """App. G's figure as tiles and captions: train pair | test primitive | 1-NN distance without TPS |
    with TPS | drop | generator output and error (if computed). The two distances share one scale."""
    top = float(max(reach.d_without.max(), reach.d_with.max()))
    base = test_image if test_image is not None else test_primitive
    tiles = [train_image, train_primitive, test_primitive,
             Heat(reach.d_without, base, vmax=top, label="1-NN distance"),
             Heat(reach.d_with, base, vmax=top, label="1-NN distance"),
             Heat(reach.drop.clamp_min(0), base, label="drop")]
    caps = ["train image", "train primitive", "test primitive", "1-NN, no TPS", f"1-NN, {reach.n_aug} TPS",
            "drop (no TPS - TPS)"]
    if reach.error is not None:
        tiles += [reach.generated, Heat(reach.error, base, label="|G - truth|")]
        caps += ["G(test primitive)", "prediction error"]
    return tiles, caps


def knn_figure(train_image, train_primitive, test_primitive, reach, test_image=None) -> np.ndarray:
    """:func:`knn_panels` in one captioned picture (for files; notebooks: ``show(*knn_panels(...), ncols=4)``).
    ``(H, W, 3)`` uint8."""
    return make_grid(*knn_panels(train_image, train_primitive, test_primitive, reach, test_image), tile_height=144)
