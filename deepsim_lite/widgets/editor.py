"""``PrimitiveEditor``: edit a primitive on a canvas in JupyterLab and regenerate the photo (paper Fig. 1).

This module is only wiring: ipycanvas mouse and key events are converted from canvas pixels to
primitive pixels and handed to :class:`~deepsim_lite.widgets.state.EditorState`, which edits with
the pure functions of :mod:`deepsim_lite.edits`; the editor then redraws what the state says
changed. Layout::

    [tools] [brush size] [move|copy] [fill]
    [label palette: one coloured button per label]
    [primitive canvas] [generated output] [training image]
    [undo] [redo] [reset] [Generate] [auto] [status]      [save to: ...] [Save]

Example (in a notebook cell)::

    import deepsim_lite as ds
    from deepsim_lite.widgets import PrimitiveEditor
    model = ds.cached_model("chelsea", "seg_edges")
    pair = ds.load_sample("chelsea", "seg_edges", max_side=192, multiple=4)   # the lesson model's size
    editor = PrimitiveEditor(model, pair.primitive, image=pair.image)
    editor                     # draw, press Generate; then editor.primitive / editor.output
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from html import escape
from pathlib import Path

import cv2
import ipywidgets as W
import numpy as np
import torch
from ipycanvas import MultiCanvas, hold_canvas

from .._io import png_bytes
from ..data import save_image, save_primitive
from ..edits import FILLS
from ..model import DeepSIMModel
from ..nets import GlobalGenerator
from ..primitives import EDGE_INDEX, PALETTE, Primitive, to_rgb
from .renderer import as_renderer, reference_picture
from .state import MAX_RADIUS, Debouncer, EditorState, Render

__all__ = ["PrimitiveEditor"]

_TOOL_TEXT = {  # button label, icon (Font Awesome 4), tooltip
    "brush": ("brush", "paint-brush", "label brush: paint the selected label [b]"),
    "pencil": ("pencil", "pencil", "edge pencil: draw edges [p]"),
    "eraser": ("eraser", "eraser", "eraser: remove edges [e]"),
    "eyedropper": ("pick", "eyedropper", "eyedropper: pick the label under the pointer [i]"),
    "rect": ("rect", "square-o", "rectangle select; drag the selection to move or copy it [r]"),
    "lasso": ("lasso", "pencil-square-o", "lasso select; drag the selection to move or copy it [l]"),
}


def _png(rgb: np.ndarray) -> bytes:
    """``(H, W, 3)`` uint8 -> PNG bytes for display (fast compression: this runs on every render)."""
    return png_bytes(rgb, fast=True)


def _hex(rgb) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _rgba(rgb: np.ndarray, alpha: np.ndarray | int = 255) -> np.ndarray:
    a = np.broadcast_to(np.asarray(alpha, np.uint8), rgb.shape[:2])
    return np.dstack([rgb, a])


class PrimitiveEditor(W.VBox):
    """Edit a primitive with brush, pencil, eraser, selections; regenerate the photo with the model.

    Args:
        model: a trained :class:`~deepsim_lite.model.DeepSIMModel` (or path, generator or callable,
            see :func:`as_renderer`); None for an editor without output.
        primitive: the primitive to start from (normally the training primitive), at the model's size.
        image: the training image ``(3, H, W)`` in [-1, 1] (or ``(H, W, 3)`` uint8), shown for reference.
        label_names: a name per label (list, or dict label -> name) for the palette.
        display_size: longest side, in screen pixels, of the canvas and output (zoom to fit).
        auto: regenerate automatically, ``debounce_s`` seconds after the last edit.
        save_dir: default folder of the Save button.

    Attributes ``primitive`` (the edited :class:`Primitive`), ``output`` (``(3, H, W)`` float in
    [-1, 1]) and ``output_rgb`` (``(H, W, 3)`` uint8) let a notebook continue from an edit.
    """

    def __init__(self, model: DeepSIMModel | GlobalGenerator | Render | str | os.PathLike | None,
                 primitive: Primitive, image: torch.Tensor | np.ndarray | None = None,
                 label_names: list[str] | dict[int, str] | None = None, display_size: int = 384,
                 auto: bool = False, debounce_s: float = 0.25, save_dir: str | os.PathLike = "edits") -> None:
        if not isinstance(primitive, Primitive):
            raise ValueError(f"expected a Primitive to edit, got {type(primitive).__name__}")
        if not 16 <= display_size <= 4096:
            raise ValueError(f"display_size is the canvas's longest side in screen pixels; got {display_size}, "
                             "use 16 to 4096 (default 384)")
        reference = None if image is None else reference_picture(image, primitive.size)
        render = None if model is None else as_renderer(model, primitive)
        self.state = EditorState(primitive, render)
        h, w = primitive.size
        zoom = display_size / max(h, w)
        self._dh, self._dw = max(1, round(h * zoom)), max(1, round(w * zoom))
        self._zy, self._zx = self._dh / h, self._dw / w
        self.last_regenerate_ms: float | None = None
        self._syncing = False
        self._debounce = Debouncer(self._auto_generate, debounce_s)
        names = label_names or {}
        self._names = dict(enumerate(names)) if isinstance(names, list) else dict(names)

        views = self._build_views(reference)
        self._build_controls(primitive.n_labels, auto, save_dir, render is not None)
        self._wire_events()
        super().__init__(self._layout(views))
        self.add_class("deepsim-editor")
        self._redraw()
        if render is not None:
            self.generate()
        self._sync_controls()

    # ---- construction -----------------------------------------------------------------------------

    def _build_views(self, reference: np.ndarray | None) -> list[W.Widget]:
        """The drawing canvas, the generated image and (if given) the training image, each titled."""
        self.canvas = MultiCanvas(2, width=self._dw, height=self._dh)
        self.canvas.add_class("deepsim-canvas")
        self.output_view = W.Image(format="png", layout=W.Layout(width=f"{self._dw}px", height=f"{self._dh}px"))
        self.output_view.add_class("deepsim-output")
        views = [self._titled("primitive (draw here)", self.canvas), self._titled("generated", self.output_view)]
        if reference is not None:
            train_view = W.Image(value=_png(reference), format="png",
                                 layout=W.Layout(width=f"{self._dw}px", height=f"{self._dh}px"))
            views.append(self._titled("training image", train_view))

        return views

    def _build_controls(self, n_labels: int, auto: bool, save_dir: str | os.PathLike, can_render: bool) -> None:
        """Tool buttons, brush size, move/copy, fill, palette, undo/redo/reset, Generate, status, Save."""
        tools = self.state.available_tools()
        self.tools = W.ToggleButtons(options=[(_TOOL_TEXT[t][0], t) for t in tools], value=self.state.tool,
                                     tooltips=[_TOOL_TEXT[t][2] for t in tools],
                                     icons=[_TOOL_TEXT[t][1] for t in tools],
                                     style=W.ToggleButtonsStyle(button_width="86px"))
        self.size_slider = W.IntSlider(value=self.state.radius, min=0, max=MAX_RADIUS, description="brush radius",
                                       style={"description_width": "initial"}, layout=W.Layout(width="240px"))
        self.mode = W.ToggleButtons(options=["move", "copy"], value="move", tooltips=[
            "dragging a selection moves it; the space it leaves is filled", "dragging a selection copies it"],
            style=W.ToggleButtonsStyle(button_width="64px"))
        self.fill = W.Dropdown(options=list(FILLS), value=self.state.fill, description="fill",
                               tooltip="what fills the space a moved or removed region leaves",
                               layout=W.Layout(width="170px"), style={"description_width": "30px"})
        self.palette = [self._label_button(k) for k in range(n_labels)]
        self.undo_button = W.Button(description="undo", icon="undo", tooltip="undo [Ctrl+Z]",
                                    layout=W.Layout(width="80px"))
        self.redo_button = W.Button(description="redo", icon="repeat", tooltip="redo [Ctrl+Shift+Z / Ctrl+Y]",
                                    layout=W.Layout(width="80px"))
        self.reset_button = W.Button(description="reset", icon="refresh", tooltip="back to the training primitive",
                                     layout=W.Layout(width="80px"))
        self.generate_button = W.Button(description="Generate", icon="play", button_style="primary",
                                        tooltip="render the edited primitive [g]", disabled=not can_render)
        self.generate_button.add_class("deepsim-generate")
        self.auto = W.Checkbox(value=auto, description="auto-regenerate", indent=False,
                               disabled=not can_render, layout=W.Layout(width="140px"))
        self.status = W.HTML()
        self.status.add_class("deepsim-status")
        self.save_path = W.Text(value=str(save_dir), description="save to", layout=W.Layout(width="260px"),
                                style={"description_width": "50px"})
        self.save_button = W.Button(description="Save", icon="save", tooltip="write primitive.png and output.png",
                                    layout=W.Layout(width="80px"))

    def _wire_events(self) -> None:
        """Widget and canvas events -> :class:`EditorState` calls; state changes -> redraws."""
        self.tools.observe(self._on_tool_widget, "value")
        self.size_slider.observe(lambda c: self.state.set_radius(c["new"]), "value")
        self.mode.observe(lambda c: setattr(self.state, "copy", c["new"] == "copy"), "value")
        self.fill.observe(lambda c: setattr(self.state, "fill", c["new"]), "value")
        self.auto.observe(self._on_auto, "value")
        self.undo_button.on_click(lambda _: self.state.undo())
        self.redo_button.on_click(lambda _: self.state.redo())
        self.reset_button.on_click(lambda _: self.state.reset())
        self.generate_button.on_click(lambda _: self._generate_clicked())
        self.save_button.on_click(lambda _: self._save_clicked())
        self.canvas.on_mouse_down(self._canvas_event(self.state.pointer_down))
        self.canvas.on_mouse_move(self._canvas_event(self.state.pointer_move))
        self.canvas.on_mouse_up(self._canvas_event(self.state.pointer_up))
        self.canvas.on_mouse_out(lambda x, y: self._guard(self.state.pointer_leave))
        self.canvas.on_key_down(lambda key, shift, ctrl, meta: self._guard(self.state.key, key, shift, ctrl, meta))
        self.canvas.on_client_ready(self._redraw)
        self.state.observe(self._on_state)

    def _layout(self, views: list[W.Widget]) -> list[W.Widget]:
        """Rows of the editor: options, palette, pictures, actions, saving."""
        options = [self.tools, self.size_slider, self.mode, self.fill]
        rows = [W.HBox(options, layout=W.Layout(flex_flow="row wrap", align_items="center"))]
        if self.palette:
            rows.append(W.HBox([W.HTML("<b>labels</b>&nbsp;")] + self.palette,
                               layout=W.Layout(flex_flow="row wrap", align_items="center")))
        rows.append(W.HBox(views))
        rows.append(W.HBox([self.undo_button, self.redo_button, self.reset_button, self.generate_button, self.auto,
                            self.status], layout=W.Layout(align_items="center")))
        rows.append(W.HBox([self.save_path, self.save_button]))
        return rows

    # ---- what a notebook reads back ------------------------------------------------------------

    @property
    def primitive(self) -> Primitive:
        """The edited primitive."""
        return self.state.primitive

    @property
    def output(self) -> torch.Tensor | None:
        """The last generated image ``(3, H, W)`` float32 in [-1, 1] (None before the first render)."""
        return self.state.output

    @property
    def output_rgb(self) -> np.ndarray | None:
        return self.state.output_rgb

    def apply(self, edit: Callable[..., Primitive] | Primitive, *args, **kwargs) -> Primitive:
        """Apply a function of :mod:`deepsim_lite.edits` to the current primitive, as one undo step
        (the programmatic twin of a drawing action): ``editor.apply(edits.move_region, box, 0, 12)``."""
        return self.state.apply(edit, *args, **kwargs)

    def generate(self) -> torch.Tensor | None:
        """Render the current primitive now and show it; returns ``output``. Errors show in the status."""
        self._debounce.cancel()
        t0 = time.perf_counter()
        try:
            out = self.state.generate()
        except Exception as err:  # the widget must survive a failing model; say what happened
            text = escape(f"{type(err).__name__}: {err}")
            self.status.value = f"<span style='color:#b00'>generate failed: {text}</span>"
            self.generate_button.disabled = self.state.render is None
            raise
        self.last_regenerate_ms = (time.perf_counter() - t0) * 1000
        self._sync_controls()
        return out

    def save(self, directory: str | os.PathLike | None = None) -> dict[str, Path]:
        """Write ``primitive.png`` (palette PNG, :func:`deepsim_lite.load_primitive` reads it back) and
        ``output.png`` into ``directory`` (default: the "save to" box), atomically; return the paths."""
        folder = Path(directory if directory is not None else self.save_path.value).expanduser()
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"cannot save into {folder}: it is a file; give a folder (it is created if missing)")
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"primitive": folder / "primitive.png"}
        save_primitive(paths["primitive"], self.primitive)
        if self.state.render is not None:
            if self.state.stale:
                self.generate()
            paths["output"] = folder / "output.png"
            save_image(paths["output"], self.output)
        return paths

    # ---- wiring --------------------------------------------------------------------------------

    @staticmethod
    def _titled(title: str, widget: W.Widget) -> W.VBox:
        return W.VBox([W.HTML(f"<b>{title}</b>"), widget])

    def _label_button(self, k: int) -> W.Button:
        colour = PALETTE[k]
        dark = colour @ np.array([0.299, 0.587, 0.114]) < 128
        b = W.Button(description=self._names.get(k, str(k)), tooltip=f"paint label {k} [then b]",
                     layout=W.Layout(width="auto", min_width="34px"),
                     style=W.ButtonStyle(button_color=_hex(colour), text_color="white" if dark else "black"))
        b.add_class(f"deepsim-label-{k}")
        b.on_click(lambda _, k=k: self._pick_label(k))
        return b

    def _pick_label(self, k: int) -> None:
        self.state.set_label(k)
        if self.state.tool not in ("brush",):
            self.state.set_tool("brush")

    def _canvas_event(self, handler: Callable[[float, float], None]) -> Callable[[float, float], None]:
        def on_event(x: float, y: float) -> None:
            self._guard(handler, y / self._zy, x / self._zx)
        return on_event

    def _guard(self, fn: Callable, *args) -> None:
        """Run an event handler; an edit that cannot be done shows in the status instead of vanishing
        into the kernel log (a canvas callback has nowhere else to report)."""
        try:
            fn(*args)
        except ValueError as err:
            self.status.value = f"<span style='color:#b00'>{escape(str(err))}</span>"

    def _on_tool_widget(self, change: dict) -> None:
        if not self._syncing:
            self._guard(self.state.set_tool, change["new"])

    def _on_auto(self, change: dict) -> None:
        if change["new"] and self.state.stale:
            self._debounce()

    def _auto_generate(self) -> None:
        if self.state.stale and self.state.render is not None:
            self.generate()

    def _on_state(self, what: str) -> None:
        if what == "primitive":
            self._draw_primitive()
            self._draw_overlay()
            if self.auto.value and self.state.render is not None:
                self._debounce()
            self._sync_controls()
        elif what == "overlay":
            self._draw_overlay()
        elif what == "tool":
            self._sync_controls()
            self._draw_overlay()
        elif what == "busy":
            self.generate_button.disabled = True
            self.status.value = "<span style='color:#a60'>&#9203; rendering&hellip;</span>"
        elif what == "output":
            self.output_view.value = _png(self.state.output_rgb)
            self._sync_controls()

    def _sync_controls(self) -> None:
        s = self.state
        self._syncing = True
        try:
            self.tools.value = s.tool
            self.size_slider.value = s.radius
        finally:
            self._syncing = False
        for k, b in enumerate(self.palette):
            b.layout.border = "3px solid #222" if k == s.label else "1px solid #ccc"
        self.undo_button.disabled = not s.can_undo
        self.redo_button.disabled = not s.can_redo
        self.generate_button.disabled = s.render is None or s.busy
        if s.render is None:
            self.status.value = "no model: editing only"
        elif s.busy:
            return
        elif s.stale:
            self.status.value = "<span style='color:#a60'>edited &mdash; press Generate</span>"
        else:
            h, w = s.size
            shown = f", {self.last_regenerate_ms:.0f} ms with display" if self.last_regenerate_ms is not None else ""
            self.status.value = (f"<span style='color:#070'>rendered {h}&times;{w}: model {s.render_ms:.0f} ms"
                                 f"{shown}</span>")

    def _generate_clicked(self) -> None:
        try:
            self.generate()
        except Exception:  # noqa: BLE001 — generate() already put the error in the status line
            pass

    def _save_clicked(self) -> None:
        try:
            paths = self.save()
        except (OSError, ValueError) as err:
            self.status.value = f"<span style='color:#b00'>save failed: {escape(str(err))}</span>"
            return
        self.status.value = "saved " + escape(", ".join(str(p) for p in paths.values()))

    # ---- drawing -------------------------------------------------------------------------------

    def _redraw(self) -> None:
        self._draw_primitive()
        self._draw_overlay()

    def _upscale(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.resize(rgb, (self._dw, self._dh), interpolation=cv2.INTER_NEAREST)

    def _draw_primitive(self) -> None:
        # RGBA so ipycanvas sends a lossless PNG (RGB would go as JPEG and smear the label colours)
        with hold_canvas():
            self.canvas[0].put_image_data(_rgba(self._upscale(to_rgb(self.state.primitive))), 0, 0)

    def _xy(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * self._zx, y * self._zy) for y, x in points]

    def _draw_overlay(self) -> None:
        s, layer = self.state, self.canvas[1]
        with hold_canvas():
            layer.clear()
            drag = s.drag
            if drag is not None and drag.action == "stroke":
                self._draw_stroke(layer, drag.points)
            elif drag is not None and drag.action == "select":
                layer.set_line_dash([6, 4])
                layer.stroke_style, layer.line_width = "#ff00ff", 2
                if s.tool == "rect":
                    (ya, xa), (yb, xb) = drag.points[0], drag.points[-1]
                    layer.stroke_rect(min(xa, xb) * self._zx, min(ya, yb) * self._zy,
                                      abs(xb - xa) * self._zx, abs(yb - ya) * self._zy)
                elif len(drag.points) > 1:
                    layer.stroke_lines(self._xy(drag.points))
                layer.set_line_dash([])
            if s.selection is not None:
                dy, dx = drag.offset if drag is not None and drag.action == "move" else (0, 0)
                if (dy, dx) != (0, 0):
                    self._draw_moving_selection(layer, dy, dx)
                layer.set_line_dash([6, 4])
                layer.stroke_style, layer.line_width = "#ff00ff", 2
                layer.stroke_polygon(self._xy([(py + dy, px + dx) for py, px in s.selection_outline]))
                layer.set_line_dash([])
            if drag is None and s.pointer is not None and s.tool in ("brush", "eraser"):
                y, x = s.pointer
                layer.stroke_style, layer.line_width = "#ffffff", 1
                layer.stroke_circle(x * self._zx, y * self._zy, (s.radius + 0.5) * self._zx)

    def _draw_stroke(self, layer, points: list[tuple[float, float]]) -> None:
        s = self.state
        if s.tool == "brush":
            colour, width = _hex(PALETTE[s.label]), (2 * s.radius + 1) * self._zx
        elif s.tool == "pencil":
            colour, width = _hex(PALETTE[EDGE_INDEX]), max(1.0, s.pencil_width * self._zx)
        else:
            colour, width = "rgba(255,255,255,0.7)", (2 * s.radius + 1) * self._zx
        xy = self._xy(points)
        layer.fill_style = layer.stroke_style = colour
        layer.line_width, layer.line_cap, layer.line_join = width, "round", "round"
        if len(xy) == 1:
            layer.fill_circle(xy[0][0], xy[0][1], width / 2)
        else:
            layer.stroke_lines(xy)

    def _draw_moving_selection(self, layer, dy: int, dx: int) -> None:
        """The selected pixels, half transparent, where the drag would put them."""
        mask = self.state.selection.numpy()
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        rgb = to_rgb(self.state.primitive)[y0:y1, x0:x1]
        alpha = np.where(mask[y0:y1, x0:x1], 200, 0).astype(np.uint8)
        size = (max(1, round((x1 - x0) * self._zx)), max(1, round((y1 - y0) * self._zy)))
        patch = _rgba(cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST),
                      cv2.resize(alpha, size, interpolation=cv2.INTER_NEAREST))
        layer.put_image_data(patch, round((x0 + dx) * self._zx), round((y0 + dy) * self._zy))

