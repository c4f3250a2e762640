"""The editor's tools as pure functions: which tools a primitive allows, what a stroke or a selection drag
makes of the points it went through, and which key stands for what (see :mod:`.state` for the list).

Nothing here holds state or draws: :class:`~.state.EditorState` keeps the current tool, the drag and the
selection, and calls these; tests can call them directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...primitives import edits
from ...primitives.primitive import Primitive

__all__ = ["TOOLS", "MAX_RADIUS", "ToolUnavailable", "Drag", "available_tools", "check_tool", "most_common_label",
           "clamp_radius", "stroke", "drag_selection", "box_outline", "key_command"]

TOOLS = ("brush", "pencil", "eraser", "eyedropper", "rect", "lasso")
_NEEDS_LABELS = ("brush", "eyedropper")
_NEEDS_EDGES = ("pencil", "eraser")
_KEYS = {"b": "brush", "p": "pencil", "e": "eraser", "i": "eyedropper", "r": "rect", "l": "lasso"}
_ARROWS = {"ArrowUp": (-1, 0), "ArrowDown": (1, 0), "ArrowLeft": (0, -1), "ArrowRight": (0, 1)}
MAX_RADIUS = 32  # brush radius in primitive pixels; the slider goes this far

Point = tuple[float, float]


class ToolUnavailable(ValueError):
    """The tool needs a label map or an edge map that this primitive does not have."""


@dataclass
class Drag:
    """A pointer drag in progress: what it does and the points it went through ``(y, x)``."""

    action: str  # "stroke", "select" or "move"
    points: list[Point]

    @property
    def offset(self) -> tuple[int, int]:
        (y0, x0), (y1, x1) = self.points[0], self.points[-1]
        return int(round(y1 - y0)), int(round(x1 - x0))

    def add(self, y: float, x: float, tool: str) -> None:
        """The pointer moved to ``(y, x)``: a stroke or a lasso keeps every point, a rectangle or a move only
        needs the first and the last."""
        if self.action == "stroke" or (tool == "lasso" and self.action == "select"):
            self.points.append((y, x))
        else:
            self.points[1:] = [(y, x)]


# ---- which tools, labels and sizes ------------------------------------------------------------


def available_tools(primitive: Primitive) -> tuple[str, ...]:
    """The tools that can edit ``primitive``: no label tools without labels, no edge tools without edges."""
    return tuple(t for t in TOOLS if not (t in _NEEDS_LABELS and primitive.labels is None)
                 and not (t in _NEEDS_EDGES and primitive.edges is None))


def check_tool(tool: str, primitive: Primitive) -> None:
    """Raise ValueError for an unknown tool, :class:`ToolUnavailable` for one this primitive cannot use."""
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; choose one of {', '.join(TOOLS)}")
    if tool not in available_tools(primitive):
        needs = "a label map" if tool in _NEEDS_LABELS else "an edge map"
        raise ToolUnavailable(f"the {tool} needs {needs}, which this {primitive.kind} primitive does not have")


def most_common_label(primitive: Primitive) -> int:
    """The label covering most pixels (what the brush starts with); 0 for an edge-only primitive."""
    if primitive.labels is None:
        return 0
    return int(torch.bincount(primitive.labels.flatten(), minlength=primitive.n_labels).argmax())


def clamp_radius(radius: int, size: tuple[int, int]) -> int:
    """A brush radius in 0..MAX_RADIUS, and never past the primitive's diagonal (where
    edits.stroke_mask draws the line)."""
    return max(0, min(MAX_RADIUS, math.ceil(math.hypot(*size)), int(radius)))


# ---- what a drag makes ------------------------------------------------------------------------


def stroke(primitive: Primitive, tool: str, points: list[Point], radius: int, label: int,
           pencil_width: int) -> Primitive | None:
    """The primitive after a stroke of ``tool`` through ``points`` (clamped to the primitive); None for a tool
    that does not paint."""
    h, w = primitive.size
    pts = [(min(max(py, 0), h - 1), min(max(px, 0), w - 1)) for py, px in points]
    if tool == "brush":
        return edits.paint_stroke(primitive, pts, radius, label)
    if tool == "pencil":
        return edits.draw_edges(primitive, pts, pencil_width)
    if tool == "eraser":
        return edits.erase_edges(primitive, edits.stroke_mask(pts, radius, primitive.size))
    return None


def drag_selection(tool: str, points: list[Point],
                   size: tuple[int, int]) -> tuple[torch.Tensor, list[Point]] | None:
    """The ``(H, W)`` bool mask a ``rect`` or ``lasso`` drag selects and the outline drawn around it;
    None when the drag selects nothing (a click, or a lasso of under three points: deselect)."""
    h, w = size
    if tool == "rect":
        (ya, xa), (yb, xb) = points[0], points[-1]
        y0, y1 = sorted((int(min(max(ya, 0), h - 1)), int(min(max(yb, 0), h - 1))))
        x0, x1 = sorted((int(min(max(xa, 0), w - 1)), int(min(max(xb, 0), w - 1))))
        if y1 - y0 < 1 and x1 - x0 < 1:  # a click, not a drag
            return None
        return edits.box_mask((y0, x0, y1 + 1, x1 + 1), size), [(y0, x0), (y0, x1 + 1), (y1 + 1, x1 + 1), (y1 + 1, x0)]
    if len(points) < 3:
        return None
    return edits.polygon_mask(points, size), list(points)


def box_outline(mask: torch.Tensor) -> list[Point]:
    """The corners ``(y, x)`` of the bounding box of a non-empty ``(H, W)`` bool mask."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return [(y0, x0), (y0, x1), (y1, x1), (y1, x0)]


# ---- keys -------------------------------------------------------------------------------------


def key_command(key: str, shift: bool = False, mod: bool = False) -> tuple[str, object] | None:
    """What a key press (the browser's ``KeyboardEvent.key``; ``mod``: Ctrl or Cmd held) asks for, as
    ``(command, argument)``: ``undo``, ``redo``, ``tool`` (its name), ``deselect``, ``remove``, ``nudge``
    (``(dy, dx)``), ``radius`` (+1 or -1) or ``generate``; None for a key that means nothing. Whether the
    command can be done now (a tool the primitive has, a selection to move) is for the state to decide."""
    k = key.lower()
    if mod:
        if k == "z":
            return ("redo" if shift else "undo"), None
        return ("redo", None) if k == "y" else None
    if k in _KEYS:
        return "tool", _KEYS[k]
    if key == "Escape":
        return "deselect", None
    if key in ("Delete", "Backspace"):
        return "remove", None
    if key in _ARROWS:
        step = 10 if shift else 1
        return "nudge", (_ARROWS[key][0] * step, _ARROWS[key][1] * step)
    if key in ("[", "]"):
        return "radius", 1 if key == "]" else -1
    if k == "g":
        return "generate", None
    return None
