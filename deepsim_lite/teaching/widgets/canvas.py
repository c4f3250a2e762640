"""``DrawingCanvas``: the editor's drawing surface, a small anywidget front end (``canvas.js``).

Why not ipycanvas (what 0.4 used): every pixel of an ipycanvas drawing is a command sent from the
Python kernel, so a stroke appeared only after a round trip — 50–70 ms on an idle kernel in
Chromium, and not until the kernel was free when it was busy (a render, a training cell): 4.2–5 s
behind the hand in ``benchmarks/editor_latency.py``'s busy-kernel case. Here the browser draws the
stroke's preview and the brush cursor itself, as the pointer moves, and sends the stroke to Python
in batches (one message per animation frame); Python applies the edit with
:mod:`deepsim_lite.primitives.edits` and sends the new primitive back. What Python draws — selection outlines,
a selection being dragged — is described by traits (``shapes``, ``patch``), not drawing commands.

Coordinates on both sides are primitive pixels ``(y, x)`` (floats); the canvas fills its cell's
width and keeps the primitive's aspect ratio (CSS ``aspect-ratio``), so the layout can shrink it
without distorting it or the pointer mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anywidget
import numpy as np
import traitlets as T

from ..._io import png_bytes

__all__ = ["DrawingCanvas"]

PointerHandler = Callable[[float, float], None]
MovesHandler = Callable[[list[tuple[float, float]]], None]


class DrawingCanvas(anywidget.AnyWidget):
    """A canvas showing an ``(H, W, 3)`` picture of the primitive; pointer and key events to Python.

    Traits (synced with the browser): ``height``/``width`` (primitive pixels), ``base`` (PNG of the
    primitive's colours), ``patch`` (RGBA PNG over it, or empty), ``shapes`` (dashed outlines: dicts
    with ``points`` [[y, x], ...] and ``closed``), ``pen`` (how the browser previews a stroke:
    ``colour`` (CSS), ``width`` (primitive pixels; 0 = no preview: the tool does not paint) and
    ``cursor`` (radius of the brush cursor, or None)), ``colour_names`` ("r,g,b" -> the name the
    pointer's tooltip shows over that colour).
    """

    _esm = Path(__file__).with_name("canvas.js")
    height = T.Int(1).tag(sync=True)
    width = T.Int(1).tag(sync=True)
    base = T.Bytes(b"").tag(sync=True)
    patch = T.Bytes(b"").tag(sync=True)
    shapes = T.List(T.Dict()).tag(sync=True)
    pen = T.Dict({"colour": "#000000", "width": 0, "cursor": None}).tag(sync=True)
    colour_names = T.Dict().tag(sync=True)

    def __init__(self, height: int, width: int, **kwargs) -> None:
        super().__init__(height=height, width=width, **kwargs)
        self._down: list[PointerHandler] = []
        self._move: list[MovesHandler] = []
        self._up: list[PointerHandler] = []
        self._key: list[Callable[[str, bool, bool, bool], None]] = []
        self.on_msg(self._on_msg)

    # ---- Python -> browser ----------------------------------------------------------------------

    def show(self, rgb: np.ndarray) -> None:
        """Show an ``(H, W, 3)`` uint8 picture of the primitive (lossless PNG: label colours stay exact)."""
        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"expected a ({self.height}, {self.width}, 3) picture, got {rgb.shape}")
        self.base = png_bytes(rgb, fast=True)

    def show_patch(self, rgba: np.ndarray | None) -> None:
        """Show an ``(H, W, 4)`` uint8 layer over the primitive (None clears it)."""
        self.patch = b"" if rgba is None else png_bytes(rgba, fast=True)

    # ---- browser -> Python ----------------------------------------------------------------------

    def on_pointer_down(self, fn: PointerHandler) -> None:
        self._down.append(fn)

    def on_pointer_moves(self, fn: MovesHandler) -> None:
        """``fn(points)``: a drag's moves since the last call, ``[(y, x), ...]`` (a batch per animation frame)."""
        self._move.append(fn)

    def on_pointer_up(self, fn: PointerHandler) -> None:
        self._up.append(fn)

    def on_key(self, fn: Callable[[str, bool, bool, bool], None]) -> None:
        """``fn(key, shift, ctrl, meta)`` on a key press while the canvas has the focus."""
        self._key.append(fn)

    def _on_msg(self, _widget: DrawingCanvas, content: dict, _buffers: list) -> None:
        event = content.get("event")
        if event == "down":
            for fn in self._down:
                fn(float(content["y"]), float(content["x"]))
        elif event == "moves":
            points = [(float(y), float(x)) for y, x in content["points"]]
            for fn in self._move:
                fn(points)
        elif event == "up":
            try:
                for fn in self._up:
                    fn(float(content["y"]), float(content["x"]))
            finally:  # after the new picture (sent first): the browser drops this drag's preview
                self.send({"event": "committed", "id": content.get("id")})
        elif event == "key":
            for fn in self._key:
                fn(str(content["key"]), bool(content.get("shift")), bool(content.get("ctrl")),
                   bool(content.get("meta")))
