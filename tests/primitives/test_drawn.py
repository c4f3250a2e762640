"""Hand-drawn primitives (drawn.py): colours snap to the model's palette or are refused, drawn edges are
binarised and thinned, other sizes resized or refused — tested on drawn-looking inputs."""

import io
import re

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

import deepsim_lite as ds
from deepsim_lite.primitives.drawn import Target, conform, thin
from deepsim_lite.primitives.primitive import PALETTE, to_rgb


@pytest.fixture(scope="module")
def cat():
    """The cat's super-primitive at 64x96 (6 labels)."""
    return ds.load_sample("chelsea", "seg_edges", max_side=96, multiple=4, n_segments=6).primitive


def target_of(p: ds.Primitive) -> Target:
    return Target(p.kind, p.n_labels, p.size, 4)


def jpeg(rgb: np.ndarray, quality: int) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


# -- thinning
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(8, 24), st.integers(8, 24))
def test_thin_matches_guo_hall_as_scikit_image_implements_it(seed, h, w):
    from skimage.morphology import thin as sk_thin

    rng = np.random.default_rng(seed)
    mask = ndimage.binary_dilation(rng.random((h, w)) < 0.08, iterations=int(rng.integers(0, 3)))
    assert np.array_equal(thin(mask), sk_thin(mask))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_thinning_keeps_every_piece_and_never_adds(seed):
    rng = np.random.default_rng(seed)
    mask = ndimage.binary_dilation(rng.random((30, 40)) < 0.03, iterations=2)
    out = thin(mask)
    assert not (out & ~mask).any()
    eight = np.ones((3, 3))
    assert ndimage.label(out, eight)[1] == ndimage.label(mask, eight)[1]


def test_a_five_pixel_bar_thins_to_its_centre_line():
    bar = np.zeros((20, 60), bool)
    bar[8:13, 5:55] = True
    out = thin(bar)
    cols = out[:, 10:50]
    assert (cols.sum(0) == 1).all() and set(np.nonzero(cols)[0]) == {10}


# -- round trips: what to_rgb draws (and save_primitive writes) comes back exactly
@pytest.mark.parametrize("kind", ["seg_edges", "seg", "edges"])
def test_the_picture_of_a_primitive_reads_back_as_it(cat, kind):
    p = {"seg_edges": cat, "seg": cat.replace(edges=None), "edges": cat.replace(labels=None, n_labels=0)}[kind]
    got = conform(to_rgb(p), target_of(p))
    if kind == "edges":
        assert got.notes == ("dark lines on a light canvas: inverted to light edges on dark, as Canny draws them",)
    else:
        assert got.notes == ()
    assert got.primitive.kind == kind and got.primitive.n_labels == p.n_labels
    if p.edges is not None:
        assert torch.equal(got.primitive.edges, p.edges)
    if p.labels is not None:
        off = ~p.edges if p.edges is not None else torch.ones_like(p.labels, dtype=torch.bool)
        assert torch.equal(got.primitive.labels[off], p.labels[off])


def test_a_saved_canvas_reads_back_as_the_primitive(cat, tmp_path):
    ds.drawn.save_canvas(tmp_path / "canvas.png", cat, scale=3)
    assert Image.open(tmp_path / "canvas.png").size == (cat.size[1] * 3, cat.size[0] * 3)
    got = conform(tmp_path / "canvas.png", target_of(cat))
    assert got.notes == ("resized from 192x288 to the model's 64x96 (labels nearest neighbour, edges kept thin)",)
    assert torch.equal(got.primitive.edges, cat.edges)
    assert torch.equal(got.primitive.labels[~cat.edges], cat.labels[~cat.edges])
    with pytest.raises(ValueError, match="scale must be an integer from 1 to 16, got 0"):
        ds.drawn.save_canvas(tmp_path / "x.png", cat, scale=0)


def test_a_palette_png_keeps_its_indices(cat, tmp_path):
    ds.save_primitive(tmp_path / "p.png", cat)
    got = conform(tmp_path / "p.png", target_of(cat))
    assert got.notes == () and torch.equal(got.primitive.edges, cat.edges)
    assert torch.equal(got.primitive.labels, ds.load_primitive(tmp_path / "p.png").labels)


# -- drawn-looking inputs
def test_a_thick_anti_aliased_stroke_becomes_a_one_pixel_edge(cat):
    p = cat.replace(labels=None, n_labels=0)
    canvas = to_rgb(p).copy()  # black edges on white, as a painting program shows them
    canvas[20:45, 10:85] = 255  # clear the area, then draw one thick soft line through it
    cv2.line(canvas, (15, 32), (80, 32), (0, 0, 0), thickness=5, lineType=cv2.LINE_AA)
    got = conform(canvas, target_of(p))
    assert any("binarised" in n for n in got.notes)
    assert any(n.startswith("1 brush-drawn lines about") and "thinned to 1-px skeletons" in n for n in got.notes), \
        got.notes
    edges = got.primitive.edges.numpy()
    stroke = edges[28:37, 20:76]
    assert (stroke.sum(0) == 1).all(), "one pixel across the stroke along its length"
    assert set(np.nonzero(stroke)[0] + 28) <= {31, 32, 33}, "on the line's centre"
    untouched = np.ones_like(edges)
    untouched[20:45, 10:85] = False
    assert np.array_equal(edges[untouched], p.edges.numpy()[untouched]), "the thin Canny edges stay exactly"


def upscaled(rgb: np.ndarray, f: int) -> np.ndarray:
    """A primitive's picture at ``f`` times its size, as a person would open it to paint on."""
    return cv2.resize(rgb, (rgb.shape[1] * f, rgb.shape[0] * f), interpolation=cv2.INTER_NEAREST)


def test_a_jpeg_compressed_label_map_with_a_soft_stroke_snaps_to_the_palette(cat):
    p = cat.replace(edges=None)
    meant = upscaled(p.labels.numpy().astype(np.int32), 4)  # painted at 4x: label 2 along a line
    cv2.line(meant, (40, 160), (340, 80), 2, thickness=28)
    truth_labels = cv2.resize(meant, (96, 64), interpolation=cv2.INTER_NEAREST)
    drawn = upscaled(to_rgb(p), 4)  # what the painting program saved: a soft brush, then JPEG
    cv2.line(drawn, (40, 160), (340, 80), tuple(int(v) for v in PALETTE[2]), thickness=28, lineType=cv2.LINE_AA)
    got = conform(jpeg(drawn, 80), target_of(p))
    notes = " ".join(got.notes)
    assert "snapped to the nearest label colour" in notes and "of blended or noisy colour" in notes, got.notes
    assert "scattered pixels of stray colour (JPEG ringing)" in notes
    assert "resized from 256x384 to the model's 64x96" in notes
    labels = got.primitive.labels.numpy()
    wrong = labels != truth_labels
    assert wrong.mean() < 0.03, f"{wrong.mean():.1%} of pixels got another label than drawn"
    boundary = ndimage.morphological_gradient(truth_labels, size=3) > 0
    assert not (wrong & ~boundary).any(), "errors only on the pixels along region borders"


def test_an_anti_aliased_png_super_primitive_resolves_every_blend(cat):
    drawn = upscaled(to_rgb(cat), 3)  # saved losslessly: every off-palette pixel is a brush's blend
    cv2.line(drawn, (30, 150), (260, 40), tuple(int(v) for v in PALETTE[1]), 20, cv2.LINE_AA)
    cv2.line(drawn, (20, 20), (270, 170), (0, 0, 0), 3, cv2.LINE_AA)
    got = conform(Image.fromarray(drawn), target_of(cat))
    notes = " ".join(got.notes)
    assert "of blended or noisy colour" in notes and "scattered" not in notes, got.notes
    assert any(re.match(r"\d+ pixels \(\d\.\d%\) of nearly-right colour snapped", n) for n in got.notes), \
        "counted once, never negative"
    meant = upscaled(cat.labels.numpy().astype(np.int32), 3)
    cv2.line(meant, (30, 150), (260, 40), 1, 20)
    meant = cv2.resize(meant, (96, 64), interpolation=cv2.INTER_NEAREST)
    near_border = ndimage.binary_dilation(ndimage.morphological_gradient(meant, size=3) > 0)
    off = ~near_border & ~ndimage.binary_dilation(got.primitive.edges.numpy(), iterations=2)
    assert np.array_equal(got.primitive.labels.numpy()[off], meant[off])


def test_a_region_painted_in_a_near_but_other_colour_is_refused(cat):
    p = cat.replace(edges=None)
    drawn = upscaled(to_rgb(p), 2)
    other = np.clip(PALETTE[0].astype(int) + [0, 35, 50], 0, 255).astype(np.uint8)  # 61 from label 0's colour
    drawn[20:70, 40:90] = other
    hex_code = f"#{other[0]:02x}{other[1]:02x}{other[2]:02x}"
    with pytest.raises(ValueError, match=hex_code + r" \(\d+ px, y 2\d-6\d, x 4\d-8\d\)"):
        conform(drawn, target_of(p))


def test_an_edges_model_reads_the_edges_of_a_super_primitive_file(cat, tmp_path):
    ds.save_primitive(tmp_path / "sp.png", cat)
    got = conform(tmp_path / "sp.png", Target("edges", 0, cat.size, 4))
    assert got.notes == () and torch.equal(got.primitive.edges, cat.edges)
    with pytest.raises(ValueError, match="sp.png holds edges \\(palette index 255\\) but the model reads labels only"):
        conform(tmp_path / "sp.png", Target("seg", cat.n_labels, cat.size, 4))


def test_gray_label_maps_are_label_numbers_or_refused(cat):
    seg = cat.replace(edges=None)
    got = conform(seg.labels.numpy().astype(np.uint8), target_of(seg))
    assert got.notes == ("gray label map: each gray value read as the label of that number",)
    assert torch.equal(got.primitive.labels, seg.labels)
    with pytest.raises(ValueError, match=f"gray values go up to 40 but the model knows labels 0..{seg.n_labels - 1}"):
        conform(np.full(seg.size, 40, np.uint8), target_of(seg))
    with pytest.raises(ValueError, match="a super-primitive \\(seg_edges\\) needs colours"):
        conform(seg.labels.numpy().astype(np.uint8), target_of(cat))


def test_a_jpeg_super_primitive_with_black_edges_reads_back(cat):
    got = conform(jpeg(upscaled(to_rgb(cat), 3), 90), target_of(cat))
    assert any("dark pixels" in n and "read as edges" in n for n in got.notes), got.notes
    edges, truth = got.primitive.edges.numpy(), cat.edges.numpy()
    assert not (edges & ~ndimage.binary_dilation(truth)).any(), "no edge appears away from a drawn one"
    assert (truth & ndimage.binary_dilation(edges)).sum() >= 0.9 * truth.sum(), "the drawn edges are found"
    assert edges.sum() <= 1.3 * truth.sum(), "and stay thin"


def test_an_unknown_colour_is_one_line_naming_it_its_count_and_place(cat):
    p = cat.replace(edges=None)
    drawn = to_rgb(p).copy()
    drawn[10:14, 20:25] = (255, 0, 255)  # magenta: no label has it
    with pytest.raises(ValueError) as err:
        conform(drawn, target_of(p))
    msg = str(err.value)
    assert "\n" not in msg
    assert "1 colour(s) in 20 pixels are neither a label colour" in msg
    assert "#ff00ff (20 px, y 10-13, x 20-24)" in msg and "paint only with #e69f00" in msg


def test_a_foreign_colour_is_refused_through_jpeg_noise_too(cat):
    p = cat.replace(edges=None)
    drawn = upscaled(to_rgb(p), 4)
    drawn[100:140, 200:240] = (255, 0, 255)
    with pytest.raises(ValueError, match=r"are neither a label colour .*: #f[ef]0[0-3]f[ef] \(\d+ px, y 1\d\d-1\d\d, "
                                         r"x 2\d\d-2\d\d\)"):
        conform(jpeg(drawn, 85), target_of(p))


def test_black_is_an_edge_only_in_a_super_primitive(cat):
    seg = cat.replace(edges=None)
    drawn = to_rgb(seg).copy()
    drawn[30, 10:60] = 0
    with pytest.raises(ValueError, match="#000000 \\(50 px, y 30-30, x 10-59\\)"):
        conform(drawn, target_of(seg))
    got = conform(drawn, target_of(cat))
    assert got.primitive.edges[30, 10:60].all()


def test_strokes_on_a_transparent_layer_are_read_from_alpha(cat):
    rgba = np.zeros((*cat.size, 4), np.uint8)
    cv2.line(rgba, (5, 5), (90, 60), (0, 0, 0, 255), thickness=1)
    got = conform(rgba, Target("edges", 0, cat.size, 4))
    assert got.notes[0].startswith("read the strokes from the transparency")
    assert got.primitive.edges.sum() == (rgba[..., 3] > 127).sum()


def test_another_size_is_resized_and_another_aspect_refused(cat):
    big = cv2.resize(to_rgb(cat), (cat.size[1] * 3, cat.size[0] * 3), interpolation=cv2.INTER_NEAREST)
    got = conform(big, target_of(cat))
    assert f"resized from 192x288 to the model's {cat.size[0]}x{cat.size[1]}" in " ".join(got.notes)
    assert got.primitive.size == cat.size
    off = ~cat.edges
    assert (got.primitive.labels[off] == cat.labels[off]).float().mean() > 0.97
    assert (got.primitive.edges == cat.edges).float().mean() > 0.97
    square = np.full((96, 96, 3), PALETTE[0], np.uint8)
    with pytest.raises(ValueError, match=r"is 96x96 \(aspect 1.00\) but the model was trained at 64x96 \(aspect "
                                         r"1.50\); crop it"):
        conform(square, target_of(cat))


def test_bad_inputs_are_one_line(cat, tmp_path):
    with pytest.raises(ValueError, match="a drawing array must be uint8"):
        conform(np.zeros((4, 4), np.float32), target_of(cat))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        conform(tmp_path / "none.png", target_of(cat))
    rgba = np.zeros((*cat.size, 4), np.uint8)
    with pytest.raises(ValueError, match="has transparent pixels; a label map needs a colour everywhere"):
        conform(rgba, target_of(cat))
    with pytest.raises(ValueError, match="holds no edge"):
        conform(np.full(cat.size, 255, np.uint8), Target("edges", 0, cat.size))
    with pytest.raises(ValueError, match="a edges primitive has no labels"):
        Target("edges", 3, cat.size)


def test_cli_generate_reads_a_drawing_and_prints_what_it_did(cat, tmp_path):
    from conftest import TINY, run_cli

    pair = ds.Pair(ds.resize_pair(ds.load_sample("chelsea", max_side=96, multiple=4).image, None, cat.size)[0], cat)
    ds.train.Trainer(pair, TINY).model().save(tmp_path / "m.pt")
    jpeg(upscaled(to_rgb(cat), 3), 90).save(tmp_path / "drawn.jpg")
    r = run_cli("generate", tmp_path / "m.pt", tmp_path / "drawn.jpg", "--out", tmp_path / "o.png")
    assert r.returncode == 0, r.stderr
    assert "deepsim-lite: note: " in r.stderr and "snapped to the nearest label colour" in r.stderr
    assert "drawn.jpg: resized from 192x288" in r.stderr
    assert ds.load_image(tmp_path / "o.png").shape == (3, *cat.size)
