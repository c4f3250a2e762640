"""PrimitiveEditor without a browser: the state machine driven by pointer/key events, and the widget
driven by the same messages ipycanvas's front end sends (mouse and key events in canvas pixels)."""

from __future__ import annotations

import asyncio
import io
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import deepsim_lite as ds
from deepsim_lite import edits
from deepsim_lite.nets import GlobalGenerator
from deepsim_lite.widgets import Debouncer, EditorState, PrimitiveEditor, ToolUnavailable, as_renderer
from deepsim_lite.widgets import editor as editor_module


def _prim() -> ds.Primitive:
    labels = torch.zeros(32, 48, dtype=torch.long)
    labels[8:16, 8:16] = 2  # an object
    labels[:, 36:] = 1
    edges = torch.zeros(32, 48, dtype=torch.bool)
    edges[8, 8:16] = True
    return ds.Primitive(labels, edges, 3)


class Recorder:
    """A real (random-init) generator that also records every primitive it was asked to render."""

    def __init__(self, prim: ds.Primitive) -> None:
        config = ds.TrainConfig.preset("lesson", primitive=prim.kind, ngf=4, n_downsample=2, n_blocks=1)
        gen = GlobalGenerator(prim.channels, 3, config.ngf, config.n_downsample, config.n_blocks)
        self.model = ds.DeepSIMModel(gen, prim.n_labels, prim.has_edges, prim.size, config)
        self.calls: list[ds.Primitive] = []

    def __call__(self, p: ds.Primitive) -> torch.Tensor:
        self.calls.append(p)
        return self.model.generate(p)


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


def _canvas_msg(editor: PrimitiveEditor, event: str, **content) -> None:
    """What ipycanvas's JavaScript sends for a mouse or key event on the top canvas layer."""
    editor.canvas._canvases[-1]._handle_frontend_event(None, {"event": event, **content}, [])


def _drag(editor: PrimitiveEditor, pts: list[tuple[float, float]]) -> None:
    """(y, x) primitive points -> mouse events at the centres of those pixels in canvas coordinates."""
    xy = [((x + 0.5) * editor._zx, (y + 0.5) * editor._zy) for y, x in pts]
    _canvas_msg(editor, "mouse_down", x=xy[0][0], y=xy[0][1])
    for x, y in xy[1:]:
        _canvas_msg(editor, "mouse_move", x=x, y=y)
    _canvas_msg(editor, "mouse_up", x=xy[-1][0], y=xy[-1][1])


def _decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_canvas_events_edit_and_generate_renders_the_edit():
    p = _prim()
    rec = Recorder(p)
    ed = PrimitiveEditor(rec, p, image=torch.zeros(3, 32, 48), display_size=192)
    assert (ed.canvas.width, ed.canvas.height) == (192, 128) and ed._zx == ed._zy == 4
    assert len(rec.calls) == 1 and rec.calls[0] is p  # the first render shows the training primitive
    assert np.array_equal(_decode_png(ed.output_view.value), ed.output_rgb)
    assert "rendered 32&times;48" in ed.status.value

    ed.palette[1].click()
    assert ed.state.label == 1 and ed.palette[1].layout.border.startswith("3px")
    ed.size_slider.value = 1
    _drag(ed, [(20, 4), (20, 12), (20, 20)])
    assert ed.primitive == edits.paint_stroke(p, [(20.5, 4.5), (20.5, 12.5), (20.5, 20.5)], 1, 1)
    assert "press Generate" in ed.status.value and not ed.undo_button.disabled

    ed.generate_button.click()
    assert rec.calls[-1] is ed.primitive and torch.equal(ed.output, rec.model.generate(ed.primitive))
    assert np.array_equal(_decode_png(ed.output_view.value), ed.output_rgb)

    _canvas_msg(ed, "key_down", key="z", shift_key=False, ctrl_key=True, meta_key=False)
    assert ed.primitive == p and ed.undo_button.disabled and not ed.redo_button.disabled
    ed.redo_button.click()
    assert ed.primitive.labels[20, 12] == 1
    ed.reset_button.click()
    assert ed.primitive == p


def test_tool_widgets_and_state_stay_in_sync():
    ed = PrimitiveEditor(None, _prim())
    assert ed.tools.options == tuple((label, t) for t, (label, _, _) in editor_module._TOOL_TEXT.items())
    assert ed.generate_button.disabled and ed.status.value == "no model: editing only"
    ed.tools.value = "lasso"
    assert ed.state.tool == "lasso"
    _canvas_msg(ed, "key_down", key="p", shift_key=False, ctrl_key=False, meta_key=False)
    assert ed.tools.value == "pencil"
    ed.palette[2].click()  # picking a colour goes back to the brush
    assert ed.tools.value == "brush" and ed.state.label == 2
    ed.mode.value = "copy"
    ed.fill.value = "background"
    assert ed.state.copy and ed.state.fill == "background"
    ed.size_slider.value = 7
    assert ed.state.radius == 7
    _canvas_msg(ed, "key_down", key="]", shift_key=False, ctrl_key=False, meta_key=False)
    assert ed.size_slider.value == 8


def test_selection_moved_off_the_canvas_reports_in_the_status():
    p = _prim()
    ed = PrimitiveEditor(None, p, display_size=96)
    ed.tools.value = "rect"
    _drag(ed, [(8, 8), (15, 15)])
    _drag(ed, [(10, 10), (10, 200)])  # the pointer went far past the canvas edge
    assert "entirely outside the 32x48 primitive" in ed.status.value
    assert ed.primitive == p and ed.state.drag is None


def test_save_writes_pngs_that_load_back(tmp_path):
    p = _prim()
    ed = PrimitiveEditor(Recorder(p), p)
    ed.apply(edits.move_region, (8, 8, 16, 16), 0, 12)
    ed.save_path.value = str(tmp_path / "edit1")
    ed.save_button.click()
    assert "saved" in ed.status.value
    back = ds.load_primitive(tmp_path / "edit1" / "primitive.png", "seg_edges", n_labels=3)
    assert back.edges.equal(ed.primitive.edges)
    off = ~ed.primitive.edges  # under an edge the PNG stores the edge index, not the label
    assert torch.equal(back.labels[off], ed.primitive.labels[off])
    assert not ed.state.stale  # saving rendered the edit first
    assert np.array_equal(np.asarray(Image.open(tmp_path / "edit1" / "output.png")), ed.output_rgb)


def test_auto_regenerate_is_debounced():
    p = _prim()
    rec = Recorder(p)
    ed = PrimitiveEditor(rec, p, auto=True, debounce_s=0.05)
    for x in (4, 10, 16):  # three quick edits
        ed.apply(edits.paint_disc, 20, x, 1, 1)
    assert len(rec.calls) == 1
    deadline = time.monotonic() + 5
    while len(rec.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.15)
    assert len(rec.calls) == 2 and rec.calls[-1] is ed.primitive and not ed.state.stale


def test_as_renderer_checks_the_model_against_the_primitive(tmp_path):
    p = _prim()
    rec = Recorder(p)
    with pytest.raises(ValueError, match="trained on a 3 labels \\+ edges primitive .*got 3 labels$"):
        as_renderer(rec.model, p.replace(edges=None))
    small = ds.Primitive(p.labels[:16, :24].contiguous(), p.edges[:16, :24].contiguous(), 3)
    with pytest.raises(ValueError, match="the primitive is 16x24 but the model was trained at 32x48"):
        as_renderer(rec.model, small)
    with pytest.raises(ValueError, match="takes 4 input channels but the primitive encodes to 3"):
        as_renderer(rec.model.generator, p.replace(edges=None))
    with pytest.raises(FileNotFoundError, match="does not exist; check the path"):
        as_renderer(str(tmp_path / "nope.pt"), p)
    with pytest.raises(ValueError, match="expected a trained DeepSIMModel, a generator, a model path or a callable"):
        as_renderer(42, p)
    # a bare generator and a saved model render what the model renders
    rec.model.save(tmp_path / "model.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = rec.model.generate(p)
        assert torch.allclose(as_renderer(rec.model.generator, p)(p), expected)
        assert torch.allclose(as_renderer(tmp_path / "model.pt", p)(p), expected)


def test_bad_editor_input_gets_one_line_errors(tmp_path):
    p = _prim()
    with pytest.raises(ValueError, match="the training image is 16x16 but the primitive is 32x48 \\(HxW\\)"):
        PrimitiveEditor(None, p, image=torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"training image values must lie in \[-1, 1\]"):
        PrimitiveEditor(None, p, image=torch.full((3, 32, 48), 255.0))
    with pytest.raises(ValueError, match="use at least 16"):
        PrimitiveEditor(None, p, display_size=0)
    with pytest.raises(ValueError, match="expected a Primitive to edit, got ndarray"):
        PrimitiveEditor(None, p.labels.numpy())
    (tmp_path / "taken").write_text("x")
    ed = PrimitiveEditor(None, p, image=np.zeros((32, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="it is a file; give a folder"):
        ed.save(tmp_path / "taken")
    ed.save_path.value = str(tmp_path / "taken")
    ed.save_button.click()
    assert "save failed: cannot save into" in ed.status.value
    assert ed.save(tmp_path / "new" / "dir") == {"primitive": tmp_path / "new" / "dir" / "primitive.png"}
