"""EditorState (teaching/widgets/state.py) without a front end: pointer and key events become edits, undo, generate."""

from __future__ import annotations

import asyncio
import time

import pytest
import torch
from _widgets import Recorder, _prim

from deepsim_lite import edits
from deepsim_lite.teaching.widgets import Debouncer, EditorState, ToolUnavailable


def _stroke(state: EditorState, points: list[tuple[float, float]]) -> None:
    state.pointer_down(*points[0])
    for p in points[1:]:
        state.pointer_move(*p)
    state.pointer_up(*points[-1])


# ---- the state machine ------------------------------------------------------------------------


def test_tools_depend_on_the_primitive_kind():
    p = _prim()
    assert EditorState(p).available_tools() == ("brush", "pencil", "eraser", "eyedropper", "rect", "lasso")
    seg = EditorState(p.replace(edges=None))
    assert seg.available_tools() == ("brush", "eyedropper", "rect", "lasso") and seg.tool == "brush"
    edges = EditorState(p.replace(labels=None, n_labels=0))
    assert edges.tool == "pencil" and "brush" not in edges.available_tools()
    with pytest.raises(ToolUnavailable, match="the pencil needs an edge map, which this seg primitive does not have"):
        seg.set_tool("pencil")
    with pytest.raises(ValueError, match="unknown tool 'spray'; choose one of brush, pencil"):
        seg.set_tool("spray")
    with pytest.raises(ValueError, match="expected a Primitive to edit, got Tensor"):
        EditorState(p.labels)


def test_brush_stroke_paints_along_the_stroke_as_one_undo_step():
    p = _prim()
    s = EditorState(p)
    s.set_label(1)
    s.set_radius(1)
    _stroke(s, [(20, 4), (20, 10), (20, 20)])
    assert s.primitive == edits.paint_stroke(p, [(20, 4), (20, 10), (20, 20)], 1, 1)
    changed = s.primitive.labels != p.labels
    ys, xs = torch.nonzero(changed, as_tuple=True)
    assert ys.min() >= 19 and ys.max() <= 21 and xs.min() >= 3 and xs.max() <= 21
    assert s.can_undo and not s.can_redo
    assert s.undo() and s.primitive == p and not s.undo()
    assert s.redo() and s.primitive.labels[20, 10] == 1 and not s.redo()
    s.undo()
    s.set_tool("pencil")
    _stroke(s, [(2, 2), (2, 30)])
    assert not s.can_redo  # a new edit forgets the undone one
    assert s.primitive.edges[2, 2:31].all() and torch.equal(s.primitive.labels, p.labels)


def test_eraser_removes_edges_under_the_brush_only():
    s = EditorState(_prim())
    s.set_tool("eraser")
    s.set_radius(2)
    _stroke(s, [(8, 8), (8, 11)])
    assert not s.primitive.edges[8, 6:14].any() and s.primitive.edges[8, 14:16].all()


def test_eyedropper_picks_the_label_and_returns_to_the_tool():
    s = EditorState(_prim())
    assert s.label == 0  # the most common label
    s.set_tool("eraser")
    s.set_tool("eyedropper")
    s.pointer_down(10, 10)
    assert s.label == 2 and s.tool == "eraser"
    with pytest.raises(ValueError, match="label 5 is not one of the model's labels 0..2"):
        s.set_label(5)


@pytest.mark.parametrize("copy", [False, True])
def test_rect_select_then_drag_moves_or_copies_through_the_edit_function(copy):
    p = _prim()
    s = EditorState(p)
    s.copy = copy
    s.set_tool("rect")
    _stroke(s, [(8.2, 8.7), (15.9, 15.1)])
    assert torch.equal(s.selection, edits.box_mask((8, 8, 16, 16), p.size))
    assert not s.can_undo  # selecting is not an edit
    _stroke(s, [(10, 10), (14, 15), (20.4, 22.2)])  # grab inside the selection, drop 10 down, 12 right
    assert s.primitive == edits.move_region(p, (8, 8, 16, 16), 10, 12, copy=copy)
    assert torch.equal(s.selection, edits.box_mask((18, 20, 26, 28), p.size))  # the selection follows
    assert (s.primitive.labels == 2).sum() == (128 if copy else 64)
    s.pointer_down(2, 40)  # a click outside deselects
    s.pointer_up(2, 40)
    assert s.selection is None


def test_lasso_selects_the_polygon_and_delete_removes_it():
    p = _prim()
    s = EditorState(p)
    s.set_tool("lasso")
    pts = [(6, 6), (6, 18), (18, 18), (18, 6)]
    _stroke(s, pts)
    assert torch.equal(s.selection, edits.polygon_mask(pts, p.size))
    assert s.key("Delete") == "remove"
    assert not (s.primitive.labels == 2).any() and not s.primitive.edges.any()
    assert s.primitive == edits.remove_mask(p, edits.polygon_mask(pts, p.size))


def test_keyboard_shortcuts():
    p = _prim()
    s = EditorState(p)
    s.set_label(1)
    _stroke(s, [(20, 4), (20, 20)])
    edited = s.primitive
    assert s.key("z", ctrl=True) == "undo" and s.primitive == p
    assert s.key("Z", shift=True, ctrl=True) == "redo" and s.primitive == edited
    assert s.key("z", meta=True) == "undo" and s.key("y", ctrl=True) == "redo"
    assert s.key("z", ctrl=True) == "undo" and s.key("z", ctrl=True) is None  # nothing left to undo
    assert s.key("e") == "tool:eraser" and s.tool == "eraser"
    assert s.key("]") == "radius" and s.radius == 5 and s.key("[") == "radius" and s.radius == 4
    s.select(edits.component_mask(p, 10, 10))
    assert s.key("ArrowRight", shift=True) == "nudge"
    assert s.primitive == edits.move_component(p, 10, 10, 0, 10)
    assert s.key("Escape") == "deselect" and s.selection is None
    assert s.key("q") is None and s.key("g") is None  # no renderer: g does nothing


def test_reset_returns_to_the_training_primitive_and_is_undoable():
    p = _prim()
    s = EditorState(p)
    s.set_label(2)
    _stroke(s, [(20, 4), (20, 20)])
    s.set_tool("pencil")
    _stroke(s, [(2, 2), (2, 30)])
    edited = s.primitive
    s.reset()
    assert s.primitive == p and s.undo() and s.primitive == edited


def test_apply_rejects_edits_that_change_what_the_model_reads():
    s = EditorState(_prim())
    with pytest.raises(ValueError, match="must keep the primitive's size, labels and edges"):
        s.apply(s.primitive.replace(n_labels=4))
    with pytest.raises(ValueError, match="must return a Primitive, got Tensor"):
        s.apply(lambda p: p.labels)
    s.apply(s.primitive)  # no change: no undo step
    assert not s.can_undo


def test_history_is_bounded():
    s = EditorState(_prim(), max_history=3)
    for x in range(6):
        s.apply(edits.paint_disc, 25, 4 + 6 * x, 1, 1)
    assert sum(s.undo() for _ in range(10)) == 3


def test_leaving_the_canvas_mid_stroke_commits_it():
    s = EditorState(_prim())
    s.set_tool("pencil")
    s.pointer_down(3, 3)
    s.pointer_move(3, 20)
    s.pointer_leave()
    assert s.drag is None and s.primitive.edges[3, 3:21].all() and s.can_undo


def test_generate_renders_the_edited_primitive():
    p = _prim()
    rec = Recorder(p)
    s = EditorState(p, rec)
    seen = []
    s.observe(seen.append)
    s.set_label(1)
    _stroke(s, [(20, 4), (20, 20)])
    assert s.stale and s.output is None
    out = s.generate()
    assert rec.calls[-1] is s.primitive and not rec.calls[-1] == p
    assert out.shape == (3, 32, 48) and out.dtype == torch.float32 and out.abs().max() <= 1
    assert torch.equal(out, rec.model.generate(s.primitive))
    assert not s.stale and s.render_ms > 0 and s.output_rgb.shape == (32, 48, 3)
    assert seen[-2:] == ["busy", "output"] and not s.busy
    s.undo()
    assert s.stale
    bad = EditorState(p, lambda q: torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"must return a \(3, 32, 48\) image, got torch.Size\(\[3, 8, 8\]\)"):
        bad.generate()
    assert not bad.busy
    with pytest.raises(ValueError, match="no model to render with"):
        EditorState(p).generate()


def test_debouncer_calls_once_after_a_burst():
    calls = []
    d = Debouncer(lambda: calls.append(time.perf_counter()), delay_s=0.05)
    t0 = time.perf_counter()
    for _ in range(5):
        d()
        time.sleep(0.01)
    assert d.pending
    time.sleep(0.3)
    assert len(calls) == 1 and calls[0] - t0 >= 0.09 and not d.pending
    d()
    d.cancel()
    d.flush()  # nothing pending: no call
    time.sleep(0.1)
    assert len(calls) == 1
    d()
    d.flush()
    assert len(calls) == 2
    time.sleep(0.1)
    assert len(calls) == 2  # the flushed call does not fire again


def test_debouncer_uses_the_running_event_loop():
    calls = []

    async def main():
        d = Debouncer(lambda: calls.append(asyncio.get_running_loop()), delay_s=0.02)
        d()
        d()
        assert isinstance(d._handle, asyncio.TimerHandle)
        await asyncio.sleep(0.1)
        return asyncio.get_running_loop()

    loop = asyncio.run(main())
    assert calls == [loop]  # once, on the loop's own thread


# ---- the widget, driven by front-end messages -------------------------------------------------
