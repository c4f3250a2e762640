"""What the editor shows for an :class:`~.state.EditorState`, as plain values: the outlines and dragged pixels
Python draws over the canvas, how the browser previews a stroke, the pointer's colour names and the status
line. Pure functions of the state (numpy only, no ipywidgets); :class:`~.panel.EditorPanel` puts the values
into its widgets.
"""

from __future__ import annotations

from html import escape

import numpy as np

from ..._io import png_bytes
from ...primitives.primitive import EDGE_INDEX, PALETTE, to_rgb
from .state import EditorState

__all__ = ["png", "hex_colour", "colour_names", "outlines", "pen", "dragged_pixels", "status_html", "error_html"]


def png(rgb: np.ndarray) -> bytes:
    """``(H, W, 3)`` uint8 -> PNG bytes for display (fast compression: this runs on every render)."""
    return png_bytes(rgb, fast=True)


def hex_colour(rgb) -> str:
    """An ``(r, g, b)`` colour as CSS ``#rrggbb``."""
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def colour_names(n_labels: int, names: dict[int, str]) -> dict[str, str]:
    """What the pointer's tooltip says over each colour of the canvas ("r,g,b" -> text): the label's number
    and name, or "edge"."""
    out = {",".join(str(int(v)) for v in PALETTE[k]): f"{k}: {names.get(k, 'label')}" for k in range(n_labels)}
    out[",".join(str(int(v)) for v in PALETTE[EDGE_INDEX])] = "edge"
    return out


def outlines(s: EditorState) -> tuple[list[dict], tuple[int, int]]:
    """What the browser cannot know by itself: the dashed outlines of a selection (being drawn, made or
    dragged), as the canvas's ``shapes``, and how far the selection is being dragged (``(0, 0)`` when it is
    not, or there is none)."""
    drag = s.drag
    shapes: list[dict] = []
    if drag is not None and drag.action == "select":
        if s.tool == "rect":
            (ya, xa), (yb, xb) = drag.points[0], drag.points[-1]
            shapes.append({"points": [[ya, xa], [ya, xb], [yb, xb], [yb, xa]], "closed": True})
        elif len(drag.points) > 1:
            shapes.append({"points": [list(p) for p in drag.points], "closed": False})
    dy, dx = 0, 0
    if s.selection is not None:
        dy, dx = drag.offset if drag is not None and drag.action == "move" else (0, 0)
        shapes.append({"points": [[py + dy, px + dx] for py, px in s.selection_outline], "closed": True})
    return shapes, (dy, dx)


def pen(s: EditorState) -> dict:
    """How the browser previews a stroke of the current tool (widths in primitive pixels)."""
    disc = 2 * s.radius + 1
    if s.tool == "brush":
        return {"colour": hex_colour(PALETTE[s.label]), "width": disc, "cursor": s.radius + 0.5}
    if s.tool == "pencil":
        return {"colour": hex_colour(PALETTE[EDGE_INDEX]), "width": max(1, s.pencil_width), "cursor": None}
    if s.tool == "eraser":
        return {"colour": "rgba(255,255,255,0.7)", "width": disc, "cursor": s.radius + 0.5}
    return {"colour": "#000000", "width": 0, "cursor": None}


def dragged_pixels(s: EditorState, dy: int, dx: int) -> np.ndarray:
    """``(H, W, 4)``: the selected pixels, half transparent, where the drag would put them."""
    h, w = s.size
    mask = s.selection.numpy()
    rgb = to_rgb(s.primitive)
    out = np.zeros((h, w, 4), np.uint8)
    ys, xs = np.nonzero(mask)
    ty, tx = ys + dy, xs + dx
    keep = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
    out[ty[keep], tx[keep], :3] = rgb[ys[keep], xs[keep]]
    out[ty[keep], tx[keep], 3] = 200
    return out


def status_html(s: EditorState, last_regenerate_ms: float | None) -> str | None:
    """The status line for the state (HTML): no model, edited, or rendered and how fast; None while a render
    runs (the line keeps saying so)."""
    if s.render is None:
        return "no model: editing only"
    if s.busy:
        return None
    if s.stale:
        return "<span style='color:#a60'>edited &mdash; press Generate</span>"
    h, w = s.size
    shown = f", {last_regenerate_ms:.0f} ms with display" if last_regenerate_ms is not None else ""
    return f"<span style='color:#070'>rendered {h}&times;{w}: model {s.render_ms:.0f} ms{shown}</span>"


def error_html(text: str) -> str:
    """An error for the status line: red, the text escaped (it may quote anything)."""
    return f"<span style='color:#b00'>{escape(text)}</span>"
