"""PrimitiveEditor (teaching/widgets/editor.py) without a browser, driven by the messages its canvas's front end
(widgets/canvas.js) sends: pointer events in primitive pixels, moves in batches, keys."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
import torch
from _widgets import Recorder, _prim
from PIL import Image

import deepsim_lite as ds
from deepsim_lite import edits
from deepsim_lite._image import to_uint8
from deepsim_lite.primitives.primitive import PALETTE, Primitive, colour_name
from deepsim_lite.teaching.widgets import PrimitiveEditor, display, panel


def _canvas_msg(editor: PrimitiveEditor, event: str, **content) -> None:
    """A message of canvas.js, through the widget's real custom-message path."""
    editor.canvas._handle_custom_msg({"event": event, **content}, [])


def _key(editor: PrimitiveEditor, key: str, shift: bool = False, ctrl: bool = False) -> None:
    _canvas_msg(editor, "key", key=key, shift=shift, ctrl=ctrl, meta=False)


def _drag(editor: PrimitiveEditor, pts: list[tuple[float, float]]) -> None:
    """(y, x) primitive points -> down at the first pixel's centre, the moves in batches of two, up at the last."""
    yx = [[y + 0.5, x + 0.5] for y, x in pts]
    _canvas_msg(editor, "down", id=7, y=yx[0][0], x=yx[0][1])
    for i in range(1, len(yx), 2):
        _canvas_msg(editor, "moves", points=yx[i:i + 2])
    _canvas_msg(editor, "up", id=7, y=yx[-1][0], x=yx[-1][1])


def _decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_canvas_events_edit_and_generate_renders_the_edit():
    p = _prim()
    rec = Recorder(p)
    ed = PrimitiveEditor(rec, p, image=torch.zeros(3, 32, 48), display_size=192)
    assert (ed.canvas.height, ed.canvas.width) == (32, 48) and (ed._dh, ed._dw) == (128, 192)
    assert np.array_equal(_decode_png(ed.canvas.base), ds.to_rgb(p))
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

    _key(ed, "z", ctrl=True)
    assert ed.primitive == p and ed.undo_button.disabled and not ed.redo_button.disabled
    ed.redo_button.click()
    assert ed.primitive.labels[20, 12] == 1
    ed.reset_button.click()
    assert ed.primitive == p


def test_tool_widgets_and_state_stay_in_sync():
    ed = PrimitiveEditor(None, _prim())
    assert ed.tools.options == tuple((label, t) for t, (label, _, _) in panel.TOOL_TEXT.items())
    assert ed.generate_button.disabled and ed.status.value == "no model: editing only"
    ed.tools.value = "lasso"
    assert ed.state.tool == "lasso"
    _key(ed, "p")
    assert ed.tools.value == "pencil"
    ed.palette[2].click()  # picking a colour goes back to the brush
    assert ed.tools.value == "brush" and ed.state.label == 2
    ed.mode.value = "copy"
    ed.fill.value = "background"
    assert ed.state.copy and ed.state.fill == "background"
    ed.size_slider.value = 7
    assert ed.state.radius == 7
    _key(ed, "]")
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


def test_bad_editor_input_gets_one_line_errors(tmp_path):
    p = _prim()
    with pytest.raises(ValueError, match="the training image is 16x16 but the primitive is 32x48 \\(HxW\\)"):
        PrimitiveEditor(None, p, image=torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"training image values must lie in \[-1, 1\]"):
        PrimitiveEditor(None, p, image=torch.full((3, 32, 48), 255.0))
    with pytest.raises(ValueError, match="use 16 to 4096"):
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


def test_status_line_escapes_error_text(tmp_path):
    p = Primitive(torch.zeros(16, 16, dtype=torch.long), torch.zeros(16, 16, dtype=torch.bool), 2)

    def failing(_):
        raise RuntimeError("<img src=x onerror=alert(1)>")

    ed = PrimitiveEditor(None, p)
    ed.state.render = failing
    ed._generate_clicked()  # the button swallows the error after showing it
    assert "<img" not in ed.status.value and "&lt;img src=x" in ed.status.value
    with pytest.raises(ValueError, match="use 16 to 4096"):
        PrimitiveEditor(None, p, display_size=100_000)


def test_canvas_tells_the_browser_how_to_preview_and_what_to_outline():
    p = _prim()
    ed = PrimitiveEditor(None, p, image=np.full((32, 48, 3), 128, np.uint8), display_size=96)
    sent = []
    ed.canvas.send = sent.append  # what goes to canvas.js as custom messages
    ed.canvas.observe(lambda change: sent.append("new base picture"), "base")
    ed.palette[2].click()
    ed.size_slider.value = 2
    assert ed.canvas.pen == {"colour": display.hex_colour(ds.primitives.PALETTE[2]), "width": 5, "cursor": 2.5}
    assert ed.palette[2].description == "2: left, grey in the photo"  # named from the training image
    assert ed.canvas.colour_names[",".join(map(str, ds.primitives.PALETTE[2]))] == "2: left, grey in the photo"
    _drag(ed, [(5, 5), (5, 20)])
    assert sent == ["new base picture", {"event": "committed", "id": 7}]  # the picture first, then the answer
    assert np.array_equal(_decode_png(ed.canvas.base), ds.to_rgb(ed.primitive))
    ed.tools.value = "rect"
    assert ed.canvas.pen["width"] == 0  # selections are outlined by Python, not previewed as strokes
    _canvas_msg(ed, "down", y=8.5, x=8.5)
    _canvas_msg(ed, "moves", points=[[15.5, 15.5]])
    assert ed.canvas.shapes == [{"points": [[8.5, 8.5], [8.5, 15.5], [15.5, 15.5], [15.5, 8.5]], "closed": True}]
    _canvas_msg(ed, "up", y=15.5, x=15.5)
    assert ed.canvas.shapes == [{"points": [[8, 8], [8, 16], [16, 16], [16, 8]], "closed": True}]
    _canvas_msg(ed, "down", y=10.5, x=10.5)  # grab the selection and drag it 3 rows down
    drawn = []
    real = ed._moving_selection
    ed._moving_selection = lambda dy, dx: drawn.append((dy, dx)) or real(dy, dx)
    _canvas_msg(ed, "moves", points=[[11.5, 10.5], [12.5, 10.5], [13.5, 10.5]])
    assert drawn == [(3, 0)]  # one batch of moves, one redraw (the dragged pixels are a PNG per redraw)
    patch = np.asarray(Image.open(io.BytesIO(ed.canvas.patch)))
    assert patch.shape == (32, 48, 4) and (patch[..., 3] > 0).sum() == 64
    assert (patch[11:19, 8:16, 3] == 200).all() and ed.canvas.shapes[0]["points"][0] == [11, 8]
    _canvas_msg(ed, "up", y=13.5, x=10.5)
    assert ed.canvas.patch == b"" and ed.state.can_undo


def test_fill_background_paints_the_label_of_the_samples_background(lesson_samples):
    """The cat's lesson pair: removing the right eye with ``fill: background`` puts the room's label in the hole
    (the label that lies mostly in the sample's background region), not label 0 (the cat's fur at the left)."""
    pair = lesson_samples["chelsea"]
    labels = pair.primitive.labels
    room = edits.box_mask(ds.sample_region("chelsea", "background", pair.size), pair.size)
    ed = PrimitiveEditor(None, pair)  # the pair: the image to show and the sample it comes from
    k = ed.state.background
    assert k == ds.background_label(pair) and int((labels[room] == k).sum()) > 0.5 * int((labels == k).sum())
    assert ed.fill.options == (("nearest", "nearest"), (f"background (label {k})", "background"), ("none", "none"))
    y0, x0, y1, x1 = ds.sample_region("chelsea", "right_eye", pair.size)
    ed.tools.value = "rect"
    _drag(ed, [(y0, x0), (y1 - 1, x1 - 1)])
    ed.fill.value = "background"
    _key(ed, "Delete")
    assert bool((ed.primitive.labels[y0:y1, x0:x1] == k).all())
    assert ed.primitive == edits.remove_mask(pair.primitive, edits.box_mask((y0, x0, y1, x1), pair.size),
                                             "background", k)
    # without the sample, the label around the frame; a label can also be given
    assert PrimitiveEditor(None, pair.primitive).state.background == edits.border_label(pair.primitive)
    assert PrimitiveEditor(None, pair, background=2).state.background == 2
    with pytest.raises(ValueError, match="background label 9 is not one of the model's labels 0..7"):
        PrimitiveEditor(None, pair, background=9)


COLOUR_WORDS = ("black", "grey", "white", "red", "orange", "yellow", "olive", "green", "cyan", "blue", "purple",
                "pink", "brown")


def test_label_chips_never_name_a_colour_that_is_not_theirs(lesson_samples):
    """A chip shows its label's palette colour; its text names the label by where it lies and how it looks in the
    photo. A colour word outside "... in the photo" would be read as the chip's own colour: it must be that colour."""
    for name, pair in lesson_samples.items():
        ed = PrimitiveEditor(None, pair.primitive, image=pair.image)
        image = to_uint8(pair.image)
        for k, chip in enumerate(ed.palette):
            text = chip.description.split(": ", 1)[1]
            chip_colour = colour_name(PALETTE[k])
            outside = re.sub(r"[a-z ]* in the photo", "", text)
            for word in COLOUR_WORDS:
                assert word not in outside or word in chip_colour, (name, k, chip.description, chip_colour)
            mean = image[(pair.primitive.labels == k).numpy()].reshape(-1, 3).mean(0)
            assert f"{colour_name(mean)} in the photo" in text, (name, k, chip.description, mean)
