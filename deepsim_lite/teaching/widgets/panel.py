"""``EditorPanel``: the editor's widgets for one :class:`~.state.EditorState`, and how they show it.

The panel builds and lays out the widgets and redraws them from the state (with the values of
:mod:`.display`); it edits nothing and handles no event: :class:`~.editor.PrimitiveEditor` wires the
events to the state. Layout::

    [tools] [brush size] [move|copy] [fill]
    [label palette: one coloured button per label, named]
    [primitive canvas] [generated output] [training image]     (a grid: equal cells, wrapping when narrow)
    [undo] [redo] [reset] [Generate] [auto] [method] [status]      [save to: ...] [Save]

Every picture keeps the primitive's aspect ratio and the canvas's size at any notebook width: the
three cells of the grid are equally wide (at most ``display_size`` pixels), and go below each other
when the notebook is too narrow for them side by side.
"""

from __future__ import annotations

import os

import ipywidgets as W
import numpy as np

from ...primitives.edits import FILLS
from ...primitives.primitive import PALETTE, to_rgb
from .canvas import DrawingCanvas
from .display import colour_names, dragged_pixels, hex_colour, outlines, pen, png, status_html
from .state import EditorState
from .tools import MAX_RADIUS

__all__ = ["EditorPanel", "TOOL_TEXT"]

TOOL_TEXT = {  # button label, icon (Font Awesome 4), tooltip
    "brush": ("brush", "paint-brush", "label brush: paint the selected label [b]"),
    "pencil": ("pencil", "pencil", "edge pencil: draw edges [p]"),
    "eraser": ("eraser", "eraser", "eraser: remove edges [e]"),
    "eyedropper": ("pick", "eyedropper", "eyedropper: pick the label under the pointer [i]"),
    "rect": ("rect", "square-o", "rectangle select; drag the selection to move or copy it [r]"),
    "lasso": ("lasso", "pencil-square-o", "lasso select; drag the selection to move or copy it [l]"),
}
MIN_CELL = 240  # narrowest a picture of the editor gets before the pictures go below each other (px)
GAP = 8  # between the pictures (px)


def _fit() -> W.Layout:
    """A button or box as wide as its text (never truncated to "u…"), that keeps its width in a row."""
    return W.Layout(width="auto", flex="0 0 auto")


class EditorPanel(W.VBox):
    """The widgets of an editor of ``state`` (see the module's layout), drawn from the state.

    Args:
        state: what the panel shows.
        reference: the training image ``(H, W, 3)`` uint8, shown for reference; or None.
        names: a name per label, for the palette and the pointer's tooltip.
        display_size: longest side, in screen pixels, of the canvas and output at most.
        methods: the names of the renderers of the "method" switch (shown when there are two or more).
        auto: the "auto-regenerate" box's first value.
        save_dir: the "save to" box's first value.
    """

    def __init__(self, state: EditorState, reference: np.ndarray | None, names: dict[int, str], display_size: int,
                 methods: list[str], auto: bool, save_dir: str | os.PathLike) -> None:
        self.state = state
        h, w = state.size
        zoom = display_size / max(h, w)
        self._dh, self._dw = max(1, round(h * zoom)), max(1, round(w * zoom))
        self.last_regenerate_ms: float | None = None
        self._names = names
        self._syncing = False  # setting the tool widgets from the state, not the user
        views = self._build_views(reference)
        self._build_controls(auto, save_dir, methods)
        super().__init__(self._layout(views))
        self.add_class("deepsim-editor")

    # ---- construction -----------------------------------------------------------------------------

    def _build_views(self, reference: np.ndarray | None) -> list[W.Widget]:
        """The drawing canvas, the generated image and (if given) the training image, each titled; each
        fills its grid cell's width and keeps the primitive's aspect ratio."""
        h, w = self.state.size
        self.canvas = DrawingCanvas(h, w, layout=W.Layout(width="100%"))
        self.canvas.add_class("deepsim-canvas")
        self.canvas.colour_names = colour_names(self.state.primitive.n_labels, self._names)
        fit = W.Layout(width="100%", height="auto", object_fit="contain")  # the PNG keeps its aspect ratio
        self.output_view = W.Image(format="png", layout=fit)
        self.output_view.add_class("deepsim-output")
        views = [self._titled("primitive (draw here)", self.canvas), self._titled("generated", self.output_view)]
        if reference is not None:
            train_view = W.Image(value=png(reference), format="png", layout=fit)
            train_view.add_class("deepsim-training")
            views.append(self._titled("training image", train_view))
        return views

    def _build_controls(self, auto: bool, save_dir: str | os.PathLike, methods: list[str]) -> None:
        """Tool buttons, brush size, move/copy, fill, palette, undo/redo/reset, Generate, status, Save."""
        tools, can_render = self.state.available_tools(), self.state.render is not None
        self.tools = W.ToggleButtons(options=[(TOOL_TEXT[t][0], t) for t in tools], value=self.state.tool,
                                     tooltips=[TOOL_TEXT[t][2] for t in tools],
                                     icons=[TOOL_TEXT[t][1] for t in tools],
                                     style=W.ToggleButtonsStyle(button_width="86px"),
                                     layout=W.Layout(flex_flow="row wrap"))
        self.size_slider = W.IntSlider(value=self.state.radius, min=0, max=MAX_RADIUS, description="brush radius",
                                       style={"description_width": "initial"}, layout=W.Layout(width="240px"))
        self.mode = W.ToggleButtons(options=["move", "copy"], value="move", tooltips=[
            "dragging a selection moves it; the space it leaves is filled", "dragging a selection copies it"],
            style=W.ToggleButtonsStyle(button_width="64px"))
        self.fill = self._fill_dropdown()
        self.palette = [self._label_button(k) for k in range(self.state.primitive.n_labels)]
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
        self.method = W.ToggleButtons(options=list(methods), description="method",
                                      tooltips=[f"render with {name}" for name in methods],
                                      style=W.ToggleButtonsStyle(button_width="auto", description_width="initial"),
                                      layout=W.Layout(flex_flow="row wrap", margin="0 0 0 12px",
                                                      display="flex" if len(methods) > 1 else "none"))
        self.method.add_class("deepsim-method")
        self.status = W.HTML()
        self.status.add_class("deepsim-status")
        self.save_path = W.Text(value=str(save_dir), description="save to", layout=W.Layout(width="280px"),
                                style={"description_width": "initial"})
        self.save_button = W.Button(description="Save", icon="save", tooltip="write primitive.png and output.png",
                                    layout=_fit())

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

    def _fill_dropdown(self) -> W.Dropdown:
        """The fill of a moved or removed region; "background" says which label it paints (the state's
        ``background``: a label number means nothing fixed, k-means numbers the labels of each image anew)."""
        k, labelled = self.state.background, self.state.primitive.labels is not None
        text = {"background": f"background (label {k})"} if labelled else {}
        what = (f"label {k}" + (f", {self._names[k]}" if k in self._names else "")) if labelled else "no labels here"
        return W.Dropdown(options=[(text.get(f, f), f) for f in FILLS], value=self.state.fill, description="fill",
                          tooltip=f"what fills the space a moved or removed region leaves; background: {what}",
                          layout=W.Layout(width="230px"), style={"description_width": "initial"})

    def _titled(self, title: str, widget: W.Widget) -> W.VBox:
        head = W.HTML(f"<b>{title}</b>", layout=W.Layout(overflow="hidden", height="1.6em"))
        return W.VBox([head, widget], layout=W.Layout(width="100%", min_width="0", max_width=f"{self._dw}px"))

    def _label_button(self, k: int) -> W.Button:
        """Label ``k``'s palette chip, in its colour (what a click does is the editor's)."""
        colour = PALETTE[k]
        dark = colour @ np.array([0.299, 0.587, 0.114]) < 128
        name = self._names.get(k)
        b = W.Button(description=f"{k}: {name}" if name else str(k),
                     tooltip=f"paint label {k}{': ' + name if name else ''} [then b]",
                     layout=W.Layout(width="auto", min_width="34px", flex="0 0 auto"),
                     style=W.ButtonStyle(button_color=hex_colour(colour), text_color="white" if dark else "black"))
        b.add_class(f"deepsim-label-{k}")
        return b

    # ---- showing the state ---------------------------------------------------------------------

    def _sync_controls(self) -> None:
        """Tool, radius, chosen label, undo/redo/Generate buttons and the status line, as the state says."""
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
        status = status_html(s, self.last_regenerate_ms)
        if status is not None:
            self.status.value = status

    def _redraw(self) -> None:
        self._draw_primitive()
        self._draw_overlay()

    def _draw_primitive(self) -> None:
        self.canvas.show(to_rgb(self.state.primitive))

    def _draw_overlay(self) -> None:
        """What the browser cannot know by itself: outlines of a selection (being drawn, made or dragged),
        the dragged pixels, and how to preview a stroke of the current tool."""
        shapes, (dy, dx) = outlines(self.state)
        patch = self._moving_selection(dy, dx) if (dy, dx) != (0, 0) else None
        with self.canvas.hold_sync():  # one message for the three
            self.canvas.shapes = shapes
            if patch is not None or self.canvas.patch:
                self.canvas.show_patch(patch)
            self.canvas.pen = pen(self.state)

    def _moving_selection(self, dy: int, dx: int) -> np.ndarray:
        """``(H, W, 4)``: the selected pixels, half transparent, where the drag would put them."""
        return dragged_pixels(self.state, dy, dx)
