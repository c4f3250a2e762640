"""A primitive under edit with its undo/redo history, and listeners told of every change.

:class:`EditHistory` is the bottom half of :class:`~.state.EditorState` (which adds the tools, the
pointer, the selection and rendering): every change of the primitive goes through :meth:`EditHistory.apply`,
which checks the edit and records one undo step. No front end; usable on its own.
"""

from __future__ import annotations

from collections.abc import Callable

from ...primitives.primitive import Primitive

__all__ = ["EditHistory"]


class EditHistory:
    """A primitive being edited: the current one, the original, and the steps to undo and redo.

    Args:
        primitive: the training primitive (what "reset" returns to).
        max_history: undo steps kept (each is one primitive, ~9 bytes per pixel for a super-primitive).

    Listeners registered with :meth:`observe` are called with one word saying what changed (here
    ``"primitive"``; :class:`~.state.EditorState` adds its own words).
    """

    def __init__(self, primitive: Primitive, max_history: int = 100) -> None:
        if not isinstance(primitive, Primitive):
            raise ValueError(f"expected a Primitive to edit, got {type(primitive).__name__}")
        self.original = primitive
        self.primitive = primitive
        self.max_history = max_history
        self._undo: list[Primitive] = []
        self._redo: list[Primitive] = []
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

    # ---- history -------------------------------------------------------------------------------

    def apply(self, edit: Callable[..., Primitive] | Primitive, *args, **kwargs) -> Primitive:
        """Make ``edit(primitive, *args, **kwargs)`` (or a ready primitive) the current primitive,
        as one undo step. Any function of :mod:`deepsim_lite.primitives.edits` can be passed."""
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
        self._jumped()
        self._emit("primitive")
        return True

    def _jumped(self) -> None:
        """Undo or redo replaced the primitive (called before the listeners hear of it): a subclass drops
        what referred to the primitive left behind."""
