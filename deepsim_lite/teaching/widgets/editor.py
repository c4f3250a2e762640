"""``PrimitiveEditor``: edit a primitive on a canvas in JupyterLab and regenerate the photo (paper Fig. 1).

This module is only wiring: pointer and key events of the :class:`~.canvas.DrawingCanvas` (in
primitive pixels; the browser draws a stroke's preview itself, as the pointer moves) are handed to
:class:`~deepsim_lite.teaching.widgets.state.EditorState`, which edits with the pure functions of
:mod:`deepsim_lite.primitives.edits`; the editor then shows what the state says changed. The widgets, their
layout and how they show the state are :class:`~.panel.EditorPanel`'s, which the editor extends.

Example (in a notebook cell)::

    import deepsim_lite as ds
    from deepsim_lite.teaching.widgets import PrimitiveEditor
    model = ds.cached_model("chelsea", "seg_edges")
    pair = ds.load_sample("chelsea", "seg_edges", max_side=192, multiple=4)   # the lesson model's size
    editor = PrimitiveEditor(model, pair)   # the pair's primitive, its image, and its sample's background
    editor                     # draw, press Generate; then editor.primitive / editor.output
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from html import escape
from pathlib import Path

import numpy as np
import torch

from ...method.model import DeepSIMModel
from ...method.nets import GlobalGenerator
from ...primitives.images import save_image, save_primitive
from ...primitives.pairs import Pair
from ...primitives.primitive import Primitive, name_labels
from ...primitives.samples import background_label
from .debounce import Debouncer
from .display import error_html, png
from .panel import EditorPanel
from .renderer import as_renderer, reference_picture
from .state import EditorState, Render

__all__ = ["PrimitiveEditor"]


class PrimitiveEditor(EditorPanel):
    """Edit a primitive with brush, pencil, eraser, selections; regenerate the photo with the model.

    Args:
        model: a trained :class:`~deepsim_lite.method.model.DeepSIMModel` (or path, patch renderer, generator or
            callable, see :func:`as_renderer`); None for an editor without output; or a dict of them by name,
            e.g. ``{"GAN": model, "patch NN": PatchNN(pair)}``: a "method" switch then renders the same edit with
            each (the first is shown first).
        primitive: the primitive to start from (normally the training primitive), at the model's size; or the
            training :class:`~deepsim_lite.primitives.pairs.Pair`: its primitive, its image (unless ``image`` is
            given) and, for a shipped sample, the sample's background (``background``).
        image: the training image ``(3, H, W)`` in [-1, 1] (or ``(H, W, 3)`` uint8), shown for reference.
        label_names: a name per label (list, or dict label -> name) for the palette and the pointer's
            tooltip; by default each label is named from the training image (where it lies and its mean
            colour in the photo, :func:`~deepsim_lite.primitives.name_labels`), or numbered when there is no image.
        background: the label ``fill: background`` paints; default
            :func:`~deepsim_lite.primitives.samples.background_label` of the pair (a shipped sample: the label
            covering most of its named background; otherwise the label around the frame).
        display_size: longest side, in screen pixels, of the canvas and output at most (they shrink,
            keeping their aspect ratio, when the notebook is narrower).
        auto: regenerate automatically, ``debounce_s`` seconds after the last edit.
        save_dir: default folder of the Save button.

    Attributes ``primitive`` (the edited :class:`Primitive`), ``output`` (``(3, H, W)`` float in
    [-1, 1]) and ``output_rgb`` (``(H, W, 3)`` uint8) let a notebook continue from an edit.
    """

    def __init__(self, model: DeepSIMModel | GlobalGenerator | Render | str | os.PathLike | dict | None,
                 primitive: Primitive | Pair, image: torch.Tensor | np.ndarray | None = None,
                 label_names: list[str] | dict[int, str] | None = None, display_size: int = 384,
                 auto: bool = False, debounce_s: float = 0.25, save_dir: str | os.PathLike = "edits",
                 background: int | None = None) -> None:
        if isinstance(primitive, Pair):
            pair, primitive = primitive, primitive.primitive
            image = pair.image if image is None else image
            if background is None and primitive.labels is not None:
                background = background_label(pair)
        if not isinstance(primitive, Primitive):
            raise ValueError(f"expected a Primitive to edit, got {type(primitive).__name__} (or its training Pair)")
        if not 16 <= display_size <= 4096:
            raise ValueError(f"display_size is the canvas's longest side in screen pixels; got {display_size}, "
                             "use 16 to 4096 (default 384)")
        reference = None if image is None else reference_picture(image, primitive.size)
        models = model if isinstance(model, dict) else ({} if model is None else {"model": model})
        if isinstance(model, dict) and not model:
            raise ValueError("the dict of models is empty; give at least one, or None for an editor without output")
        self._renders = {str(name): as_renderer(m, primitive) for name, m in models.items()}
        render = next(iter(self._renders.values()), None)
        self._moving = False  # inside a batch of pointer moves: draw the overlay once, at its end
        self._debounce = Debouncer(self._auto_generate, debounce_s)
        if label_names is None and reference is not None and primitive.n_labels:
            label_names = name_labels(primitive, reference)
        names = label_names or {}
        names = dict(enumerate(names)) if isinstance(names, list) else dict(names)
        super().__init__(EditorState(primitive, render, background=background), reference, names, display_size,
                         list(self._renders), auto, save_dir)
        self._wire_events()
        self._redraw()
        if render is not None:
            self.generate()
        self._sync_controls()

    def _wire_events(self) -> None:
        """Widget and canvas events -> :class:`EditorState` calls; state changes -> redraws."""
        self.tools.observe(self._on_tool_widget, "value")
        self.size_slider.observe(lambda c: self.state.set_radius(c["new"]), "value")
        self.mode.observe(lambda c: setattr(self.state, "copy", c["new"] == "copy"), "value")
        self.fill.observe(lambda c: setattr(self.state, "fill", c["new"]), "value")
        for k, b in enumerate(self.palette):
            b.on_click(lambda _, k=k: self._pick_label(k))
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
        """Apply a function of :mod:`deepsim_lite.primitives.edits` to the current primitive, as one undo step
        (the programmatic twin of a drawing action): ``editor.apply(edits.move_region, box, 0, 12)``."""
        return self.state.apply(edit, *args, **kwargs)

    def generate(self) -> torch.Tensor | None:
        """Render the current primitive now and show it; returns ``output``. Errors show in the status."""
        self._debounce.cancel()
        t0 = time.perf_counter()
        try:
            out = self.state.generate()
        except Exception as err:  # the widget must survive a failing model; say what happened
            self.status.value = error_html(f"generate failed: {type(err).__name__}: {err}")
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


    # ---- events --------------------------------------------------------------------------------

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
            self.status.value = error_html(str(err))

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
            self.output_view.value = png(self.state.output_rgb)
            self._sync_controls()

    def _generate_clicked(self) -> None:
        try:
            self.generate()
        except Exception:  # noqa: BLE001 — generate() already put the error in the status line
            pass

    def _save_clicked(self) -> None:
        try:
            paths = self.save()
        except (OSError, ValueError) as err:
            self.status.value = error_html(f"save failed: {err}")
            return
        self.status.value = "saved " + escape(", ".join(str(p) for p in paths.values()))
