"""The primitive editor's state machine (paper Fig. 1, App. B), free of any front end.

:class:`EditorState` holds the primitive being edited, its undo/redo history, the current tool and
the selection, and turns pointer events — given in *primitive pixels*, ``(y, x)`` floats — into
calls to the pure functions of :mod:`deepsim_lite.primitives.edits`. Every change of the primitive goes
through :meth:`EditorState.apply`, which records one undo step. The Jupyter widget
(:class:`~deepsim_lite.teaching.widgets.PrimitiveEditor`) only converts canvas pixels to primitive pixels,
forwards events here and redraws what changed; tests drive this class directly.

Tools (keyboard shortcut in brackets):

* ``brush`` [b] paints the current label (a disc of ``radius`` pixels dragged along the stroke);
* ``pencil`` [p] draws edges, ``pencil_width`` pixels wide;
* ``eraser`` [e] removes edges under a disc of ``radius`` pixels;
* ``eyedropper`` [i] picks the label under the pointer, then returns to the brush;
* ``rect`` [r] and ``lasso`` [l] select a region; dragging from inside the selection moves it
  (or copies it, with ``copy=True``) — the paper's "move the car"; Delete removes it.

Other keys: Ctrl/Cmd+Z undo, Ctrl/Cmd+Shift+Z or Ctrl+Y redo, Escape clears the selection, arrows
nudge the selection by 1 pixel (10 with Shift), ``[`` and ``]`` change the brush radius, ``g``
generates.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from ..._image import to_uint8
from ...primitives import edits
from ...primitives.primitive import Primitive
from .debounce import Debouncer  # lives in .debounce; importable from here as before
from .history import EditHistory
from .tools import (
    TOOLS,
    Drag,
    ToolUnavailable,
    available_tools,
    box_outline,
    check_tool,
    clamp_radius,
    drag_selection,
    key_command,
    most_common_label,
    stroke,
)

__all__ = ["TOOLS", "EditorState", "Debouncer", "ToolUnavailable"]

Render = Callable[[Primitive], torch.Tensor]


class EditorState(EditHistory):
    """Editing state of one primitive: current tool, history, selection, last generated output.

    Args:
        primitive: the training primitive (what "reset" returns to).
        render: ``Primitive -> (3, H, W)`` float image in [-1, 1]; None for an editor that only edits.
        max_history: undo steps kept (each is one primitive, ~9 bytes per pixel for a super-primitive).
        background: the label ``fill="background"`` paints; None: the label around the primitive's frame
            (:func:`~deepsim_lite.primitives.edits.border_label`). Label numbers are k-means clusters of one
            image, so no fixed number is the background: the editor passes
            :func:`~deepsim_lite.primitives.samples.background_label` of its sample.

    The primitive and its history (:meth:`apply`, :meth:`undo`, :meth:`redo`) are those of
    :class:`~.history.EditHistory`; the tools are the pure functions of :mod:`.tools`. Listeners
    registered with :meth:`observe` are called with one word saying what changed: ``"primitive"``,
    ``"overlay"`` (stroke/selection preview), ``"tool"``, ``"output"`` or ``"busy"``.
    """

    def __init__(self, primitive: Primitive, render: Render | None = None, max_history: int = 100,
                 background: int | None = None) -> None:
        super().__init__(primitive, max_history)
        self.render = render
        self.tool = "brush" if primitive.labels is not None else "pencil"
        self._tool_before_eyedropper = self.tool
        self.label = most_common_label(primitive)
        self.radius = 4
        self.pencil_width = 1
        self.copy = False
        self.fill = "nearest"
        self.background = 0 if primitive.labels is None else edits.border_label(primitive)
        if background is not None:
            if primitive.labels is None or not 0 <= int(background) < primitive.n_labels:
                raise ValueError(f"background label {background} is not one of the model's labels "
                                 f"0..{primitive.n_labels - 1}")
            self.background = int(background)
        self.selection: torch.Tensor | None = None  # (H, W) bool
        self.selection_outline: list[tuple[float, float]] = []  # polygon (y, x) drawn around it
        self.drag: Drag | None = None
        self.pointer: tuple[float, float] | None = None
        self.output: torch.Tensor | None = None
        self.output_primitive: Primitive | None = None  # what ``output`` was rendered from
        self.render_ms: float | None = None
        self.busy = False

    @property
    def stale(self) -> bool:
        """True when the primitive changed since the output was rendered."""
        return self.output_primitive is None or not self.output_primitive == self.primitive

    # ---- tools and options ---------------------------------------------------------------------

    def available_tools(self) -> tuple[str, ...]:
        return available_tools(self.primitive)

    def set_tool(self, tool: str) -> None:
        check_tool(tool, self.primitive)
        if tool == "eyedropper" and self.tool != "eyedropper":
            self._tool_before_eyedropper = self.tool
        self.drag = None
        self.tool = tool
        self._emit("tool")

    def set_label(self, label: int) -> None:
        if self.primitive.labels is None:
            raise ToolUnavailable("this edge-only primitive has no labels to pick")
        if not 0 <= int(label) < self.primitive.n_labels:
            raise ValueError(f"label {label} is not one of the model's labels 0..{self.primitive.n_labels - 1}")
        self.label = int(label)
        self._emit("tool")

    def set_radius(self, radius: int) -> None:
        self.radius = clamp_radius(radius, self.size)
        self._emit("tool")

    # ---- history (the rest is EditHistory's) ---------------------------------------------------

    def _jumped(self) -> None:
        self.drag = None
        self.selection, self.selection_outline = None, []

    def reset(self) -> None:
        """Back to the training primitive (itself one undo step)."""
        self.clear_selection()
        self.apply(self.original)

    # ---- pointer events (primitive pixels) -----------------------------------------------------

    def _inside(self, y: float, x: float) -> bool:
        h, w = self.size
        return 0 <= y < h and 0 <= x < w

    def pointer_down(self, y: float, x: float) -> None:
        self.pointer = (y, x)
        if not self._inside(y, x):
            return
        if self.tool == "eyedropper":
            self.label = int(self.primitive.labels[int(y), int(x)])
            self.tool = self._tool_before_eyedropper
            self._emit("tool")
            return
        if self.tool in ("rect", "lasso"):
            grab = self.selection is not None and bool(self.selection[int(y), int(x)])
            self.drag = Drag("move" if grab else "select", [(y, x)])
        else:
            self.drag = Drag("stroke", [(y, x)])
        self._emit("overlay")

    def pointer_move(self, y: float, x: float) -> None:
        self.pointer = (y, x)
        if self.drag is not None:
            self.drag.add(y, x, self.tool)
        self._emit("overlay")

    def pointer_up(self, y: float, x: float) -> None:
        """End the drag: commit the stroke, the selection or the move."""
        self.pointer_move(y, x)
        drag, self.drag = self.drag, None
        if drag is None:
            return
        if drag.action == "stroke":
            new = stroke(self.primitive, self.tool, drag.points, self.radius, self.label, self.pencil_width)
            if new is not None:
                self.apply(new)
        elif drag.action == "select":
            self._commit_selection(drag.points)
        else:
            self.move_selection(*drag.offset)
        self._emit("overlay")

    def pointer_leave(self) -> None:
        """The pointer left the canvas: finish a drag where it was last seen (nothing gets stuck)."""
        if self.drag is not None and self.pointer is not None:
            self.pointer_up(*self.pointer)
        self.pointer = None
        self._emit("overlay")

    def _commit_selection(self, points: list[tuple[float, float]]) -> None:
        made = drag_selection(self.tool, points, self.size)
        if made is None:  # a click, not a drag (or a lasso of under three points): deselect
            self.clear_selection()
            return
        self.selection, self.selection_outline = made
        self._emit("overlay")

    # ---- selection -----------------------------------------------------------------------------

    def select(self, mask: torch.Tensor) -> None:
        """Select an ``(H, W)`` bool mask (e.g. :func:`deepsim_lite.primitives.edits.component_mask`)."""
        if mask.shape != self.size or mask.dtype != torch.bool or not bool(mask.any()):
            raise ValueError(f"a selection must be a non-empty {self.size} bool mask")
        self.selection = mask.clone()
        self.selection_outline = box_outline(mask)
        self._emit("overlay")

    def clear_selection(self) -> None:
        self.selection, self.selection_outline = None, []
        self._emit("overlay")

    def move_selection(self, dy: int, dx: int) -> None:
        """Move (or copy, with ``copy=True``) the selected pixels; the selection follows them."""
        if self.selection is None or (dy, dx) == (0, 0):
            return
        self.apply(edits.move_mask, self.selection, dy, dx, self.fill, self.background, self.copy)
        self.selection = edits.shift_map(self.selection, dy, dx)
        self.selection_outline = [(py + dy, px + dx) for py, px in self.selection_outline]
        if not bool(self.selection.any()):
            self.clear_selection()
        self._emit("overlay")

    def remove_selection(self) -> None:
        """Remove the selected object: edges go, labels are filled per ``fill``."""
        if self.selection is not None:
            self.apply(edits.remove_mask, self.selection, self.fill, self.background)

    # ---- keyboard ------------------------------------------------------------------------------

    def key(self, key: str, shift: bool = False, ctrl: bool = False, meta: bool = False) -> str | None:
        """Handle a key press (the browser's ``KeyboardEvent.key``); return the action taken, or None
        (the key means nothing, or nothing to do now: no undo left, no selection, no model)."""
        command = key_command(key, shift, ctrl or meta)
        action, arg = command if command is not None else (None, None)
        if action == "undo":
            return "undo" if self.undo() else None
        if action == "redo":
            return "redo" if self.redo() else None
        if action == "tool" and arg in self.available_tools():
            self.set_tool(arg)
            return f"tool:{arg}"
        if action == "deselect":
            self.drag = None
            self.clear_selection()
            return "deselect"
        if action == "remove" and self.selection is not None:
            self.remove_selection()
            return "remove"
        if action == "nudge" and self.selection is not None:
            self.move_selection(*arg)
            return "nudge"
        if action == "radius":
            self.set_radius(self.radius + arg)
            return "radius"
        if action == "generate" and self.render is not None:
            self.generate()
            return "generate"
        return None

    # ---- rendering -----------------------------------------------------------------------------

    def set_render(self, render: Render) -> None:
        """Render with something else from now on (another model, or the patch renderer): the output is stale
        until the next :meth:`generate`; the edit and its history stay."""
        if not callable(render):
            raise ValueError(f"a renderer is a callable Primitive -> image, got {type(render).__name__}")
        self.render = render
        self.output_primitive = None
        self._emit("render")

    def generate(self) -> torch.Tensor:
        """Render the current primitive: -> ``(3, H, W)`` float32 in [-1, 1] (also kept in ``output``)."""
        if self.render is None:
            raise ValueError("this editor has no model to render with; pass a trained model")
        primitive = self.primitive
        self.busy = True
        self._emit("busy")
        try:
            t0 = time.perf_counter()
            out = self.render(primitive)
            self.render_ms = (time.perf_counter() - t0) * 1000
        finally:
            self.busy = False
        if not isinstance(out, torch.Tensor) or out.shape != (3, *primitive.size):
            raise ValueError(f"the renderer must return a (3, {primitive.size[0]}, {primitive.size[1]}) image, "
                             f"got {getattr(out, 'shape', type(out).__name__)}")
        self.output = out.detach().float().cpu()
        self.output_primitive = primitive
        self._emit("output")
        return self.output

    @property
    def output_rgb(self):
        """The last output as an ``(H, W, 3)`` uint8 array, or None before the first render."""
        return None if self.output is None else to_uint8(self.output)
