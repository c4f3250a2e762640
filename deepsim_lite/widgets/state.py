"""The primitive editor's state machine (paper Fig. 1, App. B), free of any front end.

:class:`EditorState` holds the primitive being edited, its undo/redo history, the current tool and
the selection, and turns pointer events — given in *primitive pixels*, ``(y, x)`` floats — into
calls to the pure functions of :mod:`deepsim_lite.edits`. Every change of the primitive goes
through :meth:`EditorState.apply`, which records one undo step. The Jupyter widget
(:class:`~deepsim_lite.widgets.PrimitiveEditor`) only converts canvas pixels to primitive pixels,
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

import asyncio
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import edits
from .._image import to_uint8
from ..primitives import Primitive

__all__ = ["TOOLS", "EditorState", "Debouncer", "ToolUnavailable"]

TOOLS = ("brush", "pencil", "eraser", "eyedropper", "rect", "lasso")
_NEEDS_LABELS = ("brush", "eyedropper")
_NEEDS_EDGES = ("pencil", "eraser")
_KEYS = {"b": "brush", "p": "pencil", "e": "eraser", "i": "eyedropper", "r": "rect", "l": "lasso"}
MAX_RADIUS = 32  # brush radius in primitive pixels; the slider goes this far

Render = Callable[[Primitive], torch.Tensor]


class ToolUnavailable(ValueError):
    """The tool needs a label map or an edge map that this primitive does not have."""


@dataclass
class _Drag:
    """A pointer drag in progress: what it does and the points it went through ``(y, x)``."""

    action: str  # "stroke", "select" or "move"
    points: list[tuple[float, float]]

    @property
    def offset(self) -> tuple[int, int]:
        (y0, x0), (y1, x1) = self.points[0], self.points[-1]
        return int(round(y1 - y0)), int(round(x1 - x0))


class EditorState:
    """Editing state of one primitive: current tool, history, selection, last generated output.

    Args:
        primitive: the training primitive (what "reset" returns to).
        render: ``Primitive -> (3, H, W)`` float image in [-1, 1]; None for an editor that only edits.
        max_history: undo steps kept (each is one primitive, ~9 bytes per pixel for a super-primitive).

    Listeners registered with :meth:`observe` are called with one word saying what changed:
    ``"primitive"``, ``"overlay"`` (stroke/selection preview), ``"tool"``, ``"output"`` or ``"busy"``.
    """

    def __init__(self, primitive: Primitive, render: Render | None = None, max_history: int = 100) -> None:
        if not isinstance(primitive, Primitive):
            raise ValueError(f"expected a Primitive to edit, got {type(primitive).__name__}")
        self.original = primitive
        self.primitive = primitive
        self.render = render
        self.max_history = max_history
        self._undo: list[Primitive] = []
        self._redo: list[Primitive] = []
        self.tool = "brush" if primitive.labels is not None else "pencil"
        self._tool_before_eyedropper = self.tool
        self.label = _most_common_label(primitive)
        self.radius = 4
        self.pencil_width = 1
        self.copy = False
        self.fill = "nearest"
        self.background = 0
        self.selection: torch.Tensor | None = None  # (H, W) bool
        self.selection_outline: list[tuple[float, float]] = []  # polygon (y, x) drawn around it
        self.drag: _Drag | None = None
        self.pointer: tuple[float, float] | None = None
        self.output: torch.Tensor | None = None
        self.output_primitive: Primitive | None = None  # what ``output`` was rendered from
        self.render_ms: float | None = None
        self.busy = False
        self._listeners: list[Callable[[str], None]] = []

    # ---- observation ---------------------------------------------------------------------------

    def observe(self, callback: Callable[[str], None]) -> None:
        self._listeners.append(callback)

    def _emit(self, what: str) -> None:
        for cb in self._listeners:
            cb(what)

    @property
    def size(self) -> tuple[int, int]:
        return self.primitive.size

    @property
    def stale(self) -> bool:
        """True when the primitive changed since the output was rendered."""
        return self.output_primitive is None or not self.output_primitive == self.primitive

    # ---- tools and options ---------------------------------------------------------------------

    def available_tools(self) -> tuple[str, ...]:
        p = self.primitive
        return tuple(t for t in TOOLS if not (t in _NEEDS_LABELS and p.labels is None)
                     and not (t in _NEEDS_EDGES and p.edges is None))

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; choose one of {', '.join(TOOLS)}")
        if tool not in self.available_tools():
            needs = "a label map" if tool in _NEEDS_LABELS else "an edge map"
            raise ToolUnavailable(f"the {tool} needs {needs}, which this {self.primitive.kind} primitive does not have")
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
        # never past the primitive's diagonal, where edits.stroke_mask draws the line
        self.radius = max(0, min(MAX_RADIUS, math.ceil(math.hypot(*self.size)), int(radius)))
        self._emit("tool")

    # ---- history -------------------------------------------------------------------------------

    def apply(self, edit: Callable[..., Primitive] | Primitive, *args, **kwargs) -> Primitive:
        """Make ``edit(primitive, *args, **kwargs)`` (or a ready primitive) the current primitive,
        as one undo step. Any function of :mod:`deepsim_lite.edits` can be passed."""
        new = edit if isinstance(edit, Primitive) else edit(self.primitive, *args, **kwargs)
        if not isinstance(new, Primitive):
            raise ValueError(f"an edit must return a Primitive, got {type(new).__name__}")
        if new.size != self.original.size or new.n_labels != self.original.n_labels \
                or new.has_edges != self.original.has_edges:
            raise ValueError(f"an edit must keep the primitive's size, labels and edges ({self.original!r}); "
                             f"got {new!r}")
        if new == self.primitive:
            return new
        self._undo.append(self.primitive)
        del self._undo[:-self.max_history]
        self._redo.clear()
        self.primitive = new
        self._emit("primitive")
        return new

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        """Go one edit back; False when there is nothing to undo."""
        return self._jump(self._undo, self._redo)

    def redo(self) -> bool:
        """Go one undone edit forward; False when there is nothing to redo."""
        return self._jump(self._redo, self._undo)

    def _jump(self, source: list[Primitive], other: list[Primitive]) -> bool:
        """Take the current primitive from ``source``, keeping the one left behind on ``other``."""
        if not source:
            return False
        other.append(self.primitive)
        self.primitive = source.pop()
        self.drag = None
        self.selection, self.selection_outline = None, []
        self._emit("primitive")
        return True

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
            self.drag = _Drag("move" if grab else "select", [(y, x)])
        else:
            self.drag = _Drag("stroke", [(y, x)])
        self._emit("overlay")

    def pointer_move(self, y: float, x: float) -> None:
        self.pointer = (y, x)
        if self.drag is not None:
            if self.drag.action == "stroke" or (self.tool == "lasso" and self.drag.action == "select"):
                self.drag.points.append((y, x))
            else:  # a rectangle or a move only needs the first and last point
                self.drag.points[1:] = [(y, x)]
        self._emit("overlay")

    def pointer_up(self, y: float, x: float) -> None:
        """End the drag: commit the stroke, the selection or the move."""
        self.pointer_move(y, x)
        drag, self.drag = self.drag, None
        if drag is None:
            return
        if drag.action == "stroke":
            self._commit_stroke(drag.points)
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

    def _commit_stroke(self, points: list[tuple[float, float]]) -> None:
        h, w = self.size
        pts = [(min(max(py, 0), h - 1), min(max(px, 0), w - 1)) for py, px in points]
        if self.tool == "brush":
            self.apply(edits.paint_stroke, pts, self.radius, self.label)
        elif self.tool == "pencil":
            self.apply(edits.draw_edges, pts, self.pencil_width)
        elif self.tool == "eraser":
            self.apply(edits.erase_edges, edits.stroke_mask(pts, self.radius, self.size))

    def _commit_selection(self, points: list[tuple[float, float]]) -> None:
        h, w = self.size
        if self.tool == "rect":
            (ya, xa), (yb, xb) = points[0], points[-1]
            y0, y1 = sorted((int(min(max(ya, 0), h - 1)), int(min(max(yb, 0), h - 1))))
            x0, x1 = sorted((int(min(max(xa, 0), w - 1)), int(min(max(xb, 0), w - 1))))
            if y1 - y0 < 1 and x1 - x0 < 1:  # a click, not a drag: deselect
                self.clear_selection()
                return
            self.selection = edits.box_mask((y0, x0, y1 + 1, x1 + 1), self.size)
            self.selection_outline = [(y0, x0), (y0, x1 + 1), (y1 + 1, x1 + 1), (y1 + 1, x0)]
        else:
            if len(points) < 3:
                self.clear_selection()
                return
            self.selection = edits.polygon_mask(points, self.size)
            self.selection_outline = list(points)
        self._emit("overlay")

    # ---- selection -----------------------------------------------------------------------------

    def select(self, mask: torch.Tensor) -> None:
        """Select an ``(H, W)`` bool mask (e.g. :func:`deepsim_lite.edits.component_mask`)."""
        if mask.shape != self.size or mask.dtype != torch.bool or not bool(mask.any()):
            raise ValueError(f"a selection must be a non-empty {self.size} bool mask")
        self.selection = mask.clone()
        ys, xs = torch.nonzero(mask, as_tuple=True)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        self.selection_outline = [(y0, x0), (y0, x1), (y1, x1), (y1, x0)]
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
        """Handle a key press (the browser's ``KeyboardEvent.key``); return the action taken, or None."""
        mod = ctrl or meta
        k = key.lower()
        if mod and k == "z":
            return ("redo" if self.redo() else None) if shift else ("undo" if self.undo() else None)
        if mod and k == "y":
            return "redo" if self.redo() else None
        if mod:
            return None
        if k in _KEYS and _KEYS[k] in self.available_tools():
            self.set_tool(_KEYS[k])
            return f"tool:{_KEYS[k]}"
        if key == "Escape":
            self.drag = None
            self.clear_selection()
            return "deselect"
        if key in ("Delete", "Backspace") and self.selection is not None:
            self.remove_selection()
            return "remove"
        arrows = {"ArrowUp": (-1, 0), "ArrowDown": (1, 0), "ArrowLeft": (0, -1), "ArrowRight": (0, 1)}
        if key in arrows and self.selection is not None:
            step = 10 if shift else 1
            self.move_selection(arrows[key][0] * step, arrows[key][1] * step)
            return "nudge"
        if key in ("[", "]"):
            self.set_radius(self.radius + (1 if key == "]" else -1))
            return "radius"
        if k == "g" and self.render is not None:
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


def _most_common_label(primitive: Primitive) -> int:
    if primitive.labels is None:
        return 0
    return int(torch.bincount(primitive.labels.flatten(), minlength=primitive.n_labels).argmax())


class Debouncer:
    """Call ``fn`` once, ``delay_s`` after the *last* of a burst of triggers.

    Inside a Jupyter kernel (a running asyncio loop in this thread) the call is scheduled on that
    loop, so it runs on the kernel's main thread between messages — no thread touches the
    editor. Elsewhere a daemon timer thread makes the call.
    """

    def __init__(self, fn: Callable[[], object], delay_s: float = 0.25) -> None:
        self.fn = fn
        self.delay_s = delay_s
        self._handle: asyncio.TimerHandle | threading.Timer | None = None
        self._ticket = 0  # a timer that fires after being superseded must not call fn
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def __call__(self) -> None:
        with self._lock:
            self._cancel()
            self._ticket += 1
            ticket = self._ticket
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._handle = loop.call_later(self.delay_s, self._fire, ticket)
            else:
                self._handle = threading.Timer(self.delay_s, self._fire, (ticket,))
                self._handle.daemon = True
                self._handle.start()

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def cancel(self) -> None:
        with self._lock:
            self._cancel()
            self._ticket += 1

    def flush(self) -> None:
        """Run a pending call now (and not again later)."""
        with self._lock:
            was = self._handle is not None
            self._cancel()
            self._ticket += 1
        if was:
            self.fn()

    def _fire(self, ticket: int) -> None:
        with self._lock:
            if ticket != self._ticket:
                return
            self._handle = None
        self.fn()
