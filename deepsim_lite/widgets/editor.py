"""``PrimitiveEditor``: edit a primitive on a canvas in JupyterLab and regenerate the photo (paper Fig. 1).

This module is only wiring: pointer and key events of the :class:`~.canvas.DrawingCanvas` (in
primitive pixels; the browser draws a stroke's preview itself, as the pointer moves) are handed to
:class:`~deepsim_lite.widgets.state.EditorState`, which edits with the pure functions of
:mod:`deepsim_lite.edits`; the editor then shows what the state says changed. Layout::

    [tools] [brush size] [move|copy] [fill]
    [label palette: one coloured button per label, named]
    [primitive canvas] [generated output] [training image]     (a grid: equal cells, wrapping when narrow)
    [undo] [redo] [reset] [Generate] [auto] [status]      [save to: ...] [Save]

Every picture keeps the primitive's aspect ratio and the canvas's size at any notebook width: the
three cells of the grid are equally wide (at most ``display_size`` pixels), and go below each other
when the notebook is too narrow for them side by side.

Example (in a notebook cell)::

    import deepsim_lite as ds
    from deepsim_lite.widgets import PrimitiveEditor
    model = ds.cached_model("chelsea", "seg_edges")
    pair = ds.load_sample("chelsea", "seg_edges", max_side=192, multiple=4)   # the lesson model's size
    editor = PrimitiveEditor(model, pair.primitive, image=pair.image)
    editor                     # draw, press Generate; then editor.primitive / editor.output
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from html import escape
from pathlib import Path

import ipywidgets as W
import numpy as np
import torch

from .._io import png_bytes
from ..data import save_image, save_primitive
from ..edits import FILLS
from ..model import DeepSIMModel
from ..nets import GlobalGenerator
from ..primitives import EDGE_INDEX, PALETTE, Primitive, name_labels, to_rgb
from .canvas import DrawingCanvas
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


def _fit() -> W.Layout:
    """A button or box as wide as its text (never truncated to "u…"), that keeps its width in a row."""
    return W.Layout(width="auto", flex="0 0 auto")


def _hex(rgb) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


MIN_CELL = 240  # narrowest a picture of the editor gets before the pictures go below each other (px)
GAP = 8  # between the pictures (px)


class PrimitiveEditor(W.VBox):
    """Edit a primitive with brush, pencil, eraser, selections; regenerate the photo with the model.

    Args:
        model: a trained :class:`~deepsim_lite.model.DeepSIMModel` (or path, patch renderer, generator or
            callable, see :func:`as_renderer`); None for an editor without output; or a dict of them by name,
            e.g. ``{"GAN": model, "patch NN": PatchNN(pair)}``: a "method" switch then renders the same edit with
            each (the first is shown first).
        primitive: the primitive to start from (normally the training primitive), at the model's size.
        image: the training image ``(3, H, W)`` in [-1, 1] (or ``(H, W, 3)`` uint8), shown for reference.
        label_names: a name per label (list, or dict label -> name) for the palette and the pointer's
            tooltip; by default each label is named from the training image (its mean colour and where
            it lies, :func:`~deepsim_lite.primitives.name_labels`), or numbered when there is no image.
        display_size: longest side, in screen pixels, of the canvas and output at most (they shrink,
            keeping their aspect ratio, when the notebook is narrower).
        auto: regenerate automatically, ``debounce_s`` seconds after the last edit.
        save_dir: default folder of the Save button.

    Attributes ``primitive`` (the edited :class:`Primitive`), ``output`` (``(3, H, W)`` float in
    [-1, 1]) and ``output_rgb`` (``(H, W, 3)`` uint8) let a notebook continue from an edit.
    """

    def __init__(self, model: DeepSIMModel | GlobalGenerator | Render | str | os.PathLike | dict | None,
                 primitive: Primitive, image: torch.Tensor | np.ndarray | None = None,
                 label_names: list[str] | dict[int, str] | None = None, display_size: int = 384,
                 auto: bool = False, debounce_s: float = 0.25, save_dir: str | os.PathLike = "edits") -> None:
        if not isinstance(primitive, Primitive):
            raise ValueError(f"expected a Primitive to edit, got {type(primitive).__name__}")
        if not 16 <= display_size <= 4096:
            raise ValueError(f"display_size is the canvas's longest side in screen pixels; got {display_size}, "
                             "use 16 to 4096 (default 384)")
        reference = None if image is None else reference_picture(image, primitive.size)
        models = model if isinstance(model, dict) else ({} if model is None else {"model": model})
        if isinstance(model, dict) and not model:
            raise ValueError("the dict of models is empty; give at least one, or None for an editor without output")
        self._renders = {str(name): as_renderer(m, primitive) for name, m in models.items()}
        render = next(iter(self._renders.values()), None)
        self.state = EditorState(primitive, render)
        h, w = primitive.size
        zoom = display_size / max(h, w)
        self._dh, self._dw = max(1, round(h * zoom)), max(1, round(w * zoom))
        self.last_regenerate_ms: float | None = None
        self._syncing = False
        self._moving = False  # inside a batch of pointer moves: draw the overlay once, at its end
        self._debounce = Debouncer(self._auto_generate, debounce_s)
        if label_names is None and reference is not None and primitive.n_labels:
            label_names = name_labels(primitive, reference)
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
        """The drawing canvas, the generated image and (if given) the training image, each titled; each
        fills its grid cell's width and keeps the primitive's aspect ratio."""
        h, w = self.state.size
        self.canvas = DrawingCanvas(h, w, layout=W.Layout(width="100%"))
        self.canvas.add_class("deepsim-canvas")
        self.canvas.colour_names = self._colour_names()
        fit = W.Layout(width="100%", height="auto", object_fit="contain")  # the PNG keeps its aspect ratio
        self.output_view = W.Image(format="png", layout=fit)
        self.output_view.add_class("deepsim-output")
        views = [self._titled("primitive (draw here)", self.canvas), self._titled("generated", self.output_view)]
        if reference is not None:
            train_view = W.Image(value=_png(reference), format="png", layout=fit)
            train_view.add_class("deepsim-training")
            views.append(self._titled("training image", train_view))
        return views

    def _colour_names(self) -> dict[str, str]:
        """What the pointer's tooltip says over each colour of the canvas: the label's number and name."""
        out = {",".join(str(int(v)) for v in PALETTE[k]): f"{k}: {self._names.get(k, 'label')}"
               for k in range(self.state.primitive.n_labels)}
        out[",".join(str(int(v)) for v in PALETTE[EDGE_INDEX])] = "edge"
        return out

    def _build_controls(self, n_labels: int, auto: bool, save_dir: str | os.PathLike, can_render: bool) -> None:
        """Tool buttons, brush size, move/copy, fill, palette, undo/redo/reset, Generate, status, Save."""
        tools = self.state.available_tools()
        self.tools = W.ToggleButtons(options=[(_TOOL_TEXT[t][0], t) for t in tools], value=self.state.tool,
                                     tooltips=[_TOOL_TEXT[t][2] for t in tools],
                                     icons=[_TOOL_TEXT[t][1] for t in tools],
                                     style=W.ToggleButtonsStyle(button_width="86px"),
                                     layout=W.Layout(flex_flow="row wrap"))
        self.size_slider = W.IntSlider(value=self.state.radius, min=0, max=MAX_RADIUS, description="brush radius",
                                       style={"description_width": "initial"}, layout=W.Layout(width="240px"))
        self.mode = W.ToggleButtons(options=["move", "copy"], value="move", tooltips=[
            "dragging a selection moves it; the space it leaves is filled", "dragging a selection copies it"],
            style=W.ToggleButtonsStyle(button_width="64px"))
        self.fill = W.Dropdown(options=list(FILLS), value=self.state.fill, description="fill",
                               tooltip="what fills the space a moved or removed region leaves",
                               layout=W.Layout(width="170px"), style={"description_width": "30px"})
        self.palette = [self._label_button(k) for k in range(n_labels)]
        self.undo_button = W.Button(description="undo", icon="undo", tooltip="undo [Ctrl+Z]", layout=_fit())
        self.redo_button = W.Button(description="redo", icon="repeat", tooltip="redo [Ctrl+Shift+Z / Ctrl+Y]",
                                    layout=_fit())
        self.reset_button = W.Button(description="reset", icon="refresh", tooltip="back to the training primitive",
                                     layout=_fit())
        self.generate_button = W.Button(description="Generate", icon="play", button_style="primary",
                                        tooltip="render the edited primitive [g]", disabled=not can_render,
                                        layout=_fit())
        self.generate_button.add_class("deepsim-generate")
        self.auto = W.Checkbox(value=auto, description="auto-regenerate", indent=False,
                               disabled=not can_render, layout=_fit())
        self.method = W.ToggleButtons(options=list(self._renders), description="method",
                                      tooltips=[f"render with {name}" for name in self._renders],
                                      style=W.ToggleButtonsStyle(button_width="auto", description_width="50px"),
                                      layout=W.Layout(flex_flow="row wrap", display="flex" if len(self._renders) > 1
                                                      else "none"))
        self.method.add_class("deepsim-method")
        self.status = W.HTML()
        self.status.add_class("deepsim-status")
        self.save_path = W.Text(value=str(save_dir), description="save to", layout=W.Layout(width="260px"),
                                style={"description_width": "50px"})
        self.save_button = W.Button(description="Save", icon="save", tooltip="write primitive.png and output.png",
                                    layout=_fit())

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
        self.method.observe(self._on_method, "value")
        self.save_button.on_click(lambda _: self._save_clicked())
        self.canvas.on_pointer_down(lambda y, x: self._guard(self.state.pointer_down, y, x))
        self.canvas.on_pointer_moves(self._pointer_moves)
        self.canvas.on_pointer_up(lambda y, x: self._guard(self.state.pointer_up, y, x))
        self.canvas.on_key(lambda key, shift, ctrl, meta: self._guard(self.state.key, key, shift, ctrl, meta))
        self.state.observe(self._on_state)

    def _layout(self, views: list[W.Widget]) -> list[W.Widget]:
        """Rows of the editor: options, palette, pictures, actions, saving."""
        options = [self.tools, self.size_slider, self.mode, self.fill]
        rows = [W.HBox(options, layout=W.Layout(flex_flow="row wrap", align_items="center"))]
        if self.palette:
            rows.append(W.HBox([W.HTML("<b>labels</b>&nbsp;")] + self.palette,
                               layout=W.Layout(flex_flow="row wrap", align_items="center")))
        n, cell = len(views), min(self._dw, MIN_CELL)
        rows.append(W.GridBox(views, layout=W.Layout(
            width="100%", max_width=f"{n * self._dw + (n - 1) * GAP}px", grid_gap=f"{GAP}px",
            grid_template_columns=f"repeat(auto-fit, minmax({cell}px, 1fr))", align_items="flex-start")))
        rows.append(W.HBox([self.undo_button, self.redo_button, self.reset_button, self.generate_button, self.auto,
                            self.method, self.status], layout=W.Layout(flex_flow="row wrap", align_items="center")))
        rows.append(W.HBox([self.save_path, self.save_button], layout=W.Layout(flex_flow="row wrap")))
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

    def _titled(self, title: str, widget: W.Widget) -> W.VBox:
        head = W.HTML(f"<b>{title}</b>", layout=W.Layout(overflow="hidden", height="1.6em"))
        return W.VBox([head, widget], layout=W.Layout(width="100%", min_width="0", max_width=f"{self._dw}px"))

    def _label_button(self, k: int) -> W.Button:
        colour = PALETTE[k]
        dark = colour @ np.array([0.299, 0.587, 0.114]) < 128
        name = self._names.get(k)
        b = W.Button(description=f"{k}: {name}" if name else str(k),
                     tooltip=f"paint label {k}{': ' + name if name else ''} [then b]",
                     layout=W.Layout(width="auto", min_width="34px", flex="0 0 auto"),
                     style=W.ButtonStyle(button_color=_hex(colour), text_color="white" if dark else "black"))
        b.add_class(f"deepsim-label-{k}")
        b.on_click(lambda _, k=k: self._pick_label(k))
        return b

    def _pick_label(self, k: int) -> None:
        self.state.set_label(k)
        if self.state.tool not in ("brush",):
            self.state.set_tool("brush")

    def _guard(self, fn: Callable, *args) -> None:
        """Run an event handler; an edit that cannot be done shows in the status instead of vanishing
        into the kernel log (a canvas callback has nowhere else to report)."""
        try:
            fn(*args)
        except ValueError as err:
            self.status.value = f"<span style='color:#b00'>{escape(str(err))}</span>"

    def _pointer_moves(self, points: list[tuple[float, float]]) -> None:
        self._moving = True
        try:
            for y, x in points:
                self._guard(self.state.pointer_move, y, x)
        finally:
            self._moving = False
        self._draw_overlay()

    def _on_tool_widget(self, change: dict) -> None:
        if not self._syncing:
            self._guard(self.state.set_tool, change["new"])

    def _on_auto(self, change: dict) -> None:
        if change["new"] and self.state.stale:
            self._debounce()

    def _auto_generate(self) -> None:
        if self.state.stale and self.state.render is not None:
            self.generate()

    def _on_method(self, change: dict) -> None:
        """The method switch: the same edit, rendered by the chosen model (a failure shows in the status)."""
        self.state.set_render(self._renders[change["new"]])
        self.output_view.value = b""  # never the other method's picture under this one's name
        with contextlib.suppress(Exception):  # generate() already wrote the error into the status line
            self.generate()

    def _on_state(self, what: str) -> None:
        if what == "primitive":
            self._draw_primitive()
            self._draw_overlay()
            if self.auto.value and self.state.render is not None:
                self._debounce()
            self._sync_controls()
        elif what == "overlay" and not self._moving:
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

    def _draw_primitive(self) -> None:
        self.canvas.show(to_rgb(self.state.primitive))

    def _draw_overlay(self) -> None:
        """What the browser cannot know by itself: outlines of a selection (being drawn, made or dragged),
        the dragged pixels, and how to preview a stroke of the current tool."""
        s = self.state
        drag = s.drag
        shapes: list[dict] = []
        if drag is not None and drag.action == "select":
            if s.tool == "rect":
                (ya, xa), (yb, xb) = drag.points[0], drag.points[-1]
                shapes.append({"points": [[ya, xa], [ya, xb], [yb, xb], [yb, xa]], "closed": True})
            elif len(drag.points) > 1:
                shapes.append({"points": [list(p) for p in drag.points], "closed": False})
        patch = None
        if s.selection is not None:
            dy, dx = drag.offset if drag is not None and drag.action == "move" else (0, 0)
            if (dy, dx) != (0, 0):
                patch = self._moving_selection(dy, dx)
            shapes.append({"points": [[py + dy, px + dx] for py, px in s.selection_outline], "closed": True})
        with self.canvas.hold_sync():  # one message for the three
            self.canvas.shapes = shapes
            if patch is not None or self.canvas.patch:
                self.canvas.show_patch(patch)
            self.canvas.pen = self._pen()

    def _pen(self) -> dict:
        """How the browser previews a stroke of the current tool (widths in primitive pixels)."""
        s = self.state
        disc = 2 * s.radius + 1
        if s.tool == "brush":
            return {"colour": _hex(PALETTE[s.label]), "width": disc, "cursor": s.radius + 0.5}
        if s.tool == "pencil":
            return {"colour": _hex(PALETTE[EDGE_INDEX]), "width": max(1, s.pencil_width), "cursor": None}
        if s.tool == "eraser":
            return {"colour": "rgba(255,255,255,0.7)", "width": disc, "cursor": s.radius + 0.5}
        return {"colour": "#000000", "width": 0, "cursor": None}

    def _moving_selection(self, dy: int, dx: int) -> np.ndarray:
        """``(H, W, 4)``: the selected pixels, half transparent, where the drag would put them."""
        h, w = self.state.size
        mask = self.state.selection.numpy()
        rgb = to_rgb(self.state.primitive)
        out = np.zeros((h, w, 4), np.uint8)
        ys, xs = np.nonzero(mask)
        ty, tx = ys + dy, xs + dx
        keep = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
        out[ty[keep], tx[keep], :3] = rgb[ys[keep], xs[keep]]
        out[ty[keep], tx[keep], 3] = 200
        return out
