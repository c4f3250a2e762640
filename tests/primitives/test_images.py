"""Image and primitive files (primitives/images.py): modes, bit depths, bad files."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import deepsim_lite as ds
from deepsim_lite._image import check_image, to_uint8

ROOT = Path(__file__).resolve().parents[2]


class TestImageIO:
    def test_gray_and_rgba_files(self, tmp_path):
        Image.fromarray(np.full((6, 5), 255, np.uint8)).save(tmp_path / "g.png")
        Image.fromarray(np.zeros((6, 5, 4), np.uint8)).save(tmp_path / "a.png")
        assert ds.load_image(tmp_path / "g.png").shape == (3, 6, 5)
        assert torch.all(ds.load_image(tmp_path / "g.png") == 1)
        assert torch.all(ds.load_image(tmp_path / "a.png") == -1)

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="nope.png does not exist; check the path"):
            ds.load_image(tmp_path / "nope.png")

    def test_not_an_image(self, tmp_path):
        (tmp_path / "x.png").write_text("hello")
        with pytest.raises(ValueError, match="x.png is not a readable image"):
            ds.load_image(tmp_path / "x.png")

    def test_folder(self, tmp_path):
        with pytest.raises(ValueError, match="is a folder"):
            ds.load_image(tmp_path)

    def test_one_pixel_image(self, tmp_path):
        Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "p.png")
        with pytest.raises(ValueError, match="only 1x1 pixels; need at least 4x4"):
            ds.load_image(tmp_path / "p.png")


class TestPrimitiveFiles:
    @pytest.mark.parametrize("kind", ds.KINDS)
    def test_round_trip(self, cat_small, tmp_path, kind):
        p = cat_small.primitive
        p = {"edges": p.replace(labels=None, n_labels=0), "seg": p.replace(edges=None), "seg_edges": p}[kind]
        ds.save_primitive(tmp_path / "p.png", p)
        q = ds.load_primitive(tmp_path / "p.png")  # kind inferred
        assert q.kind == kind and q.n_labels == p.n_labels
        if kind == "seg_edges":
            off = ~p.edges
            assert torch.equal(q.edges, p.edges) and torch.equal(q.labels[off], p.labels[off])
            # An edge pixel takes a label that exists next to it.
            assert set(q.labels[p.edges].tolist()) <= set(p.labels.unique().tolist())
        else:
            assert q == p

    def test_gray_label_image(self, tmp_path):
        Image.fromarray(np.array([[0, 0, 80, 80], [0, 0, 80, 80], [160] * 4, [160] * 4], np.uint8)).save(
            tmp_path / "g.png"
        )
        p = ds.load_primitive(tmp_path / "g.png", "seg")
        assert p.labels.tolist()[0] == [0, 0, 1, 1] and p.n_labels == 3

    def test_label_values_out_of_range(self, cat_small, tmp_path):
        ds.save_primitive(tmp_path / "p.png", cat_small.primitive.replace(edges=None))
        n = cat_small.primitive.n_labels
        with pytest.raises(ValueError, match=f"p.png: label map has label {n - 1} but the model knows 2 labels"):
            ds.load_primitive(tmp_path / "p.png", "seg", n_labels=2)

    def test_colour_label_image_rejected(self, tmp_path):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "c.png")
        with pytest.raises(ValueError, match="colour image; save label maps as palette or gray PNGs"):
            ds.load_primitive(tmp_path / "c.png")

    def test_missing_primitive(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            ds.load_primitive(tmp_path / "none.png")


class TestBitDepths:
    """Every bit depth and mode is read at full scale, or refused with one line (never a silent white image)."""

    def _ramp16(self):
        return (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)  # 0 .. 64491

    def test_16_bit_gray_image_is_scaled_not_clipped(self, tmp_path):
        ramp = self._ramp16()
        Image.fromarray(ramp).save(tmp_path / "g16.png")  # PIL writes mode I;16 as a 16-bit gray PNG
        img = ds.load_image(tmp_path / "g16.png")
        expected = np.rint(ramp / 257).astype(np.uint8)
        assert np.array_equal(to_uint8(img)[:, :, 0], expected)
        assert 0.3 < float((img[0] > 0).float().mean()) < 0.7  # not all white

    @pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
    def test_every_mode_reads_the_same_picture(self, tmp_path, mode):
        gray = np.tile(np.array([0, 255], np.uint8), (8, 4))  # 8x8 stripes, black and white
        base = Image.fromarray(gray)
        img = base.convert(mode) if mode != "I;16" else Image.fromarray(gray.astype(np.uint16) * 257)
        img.save(tmp_path / "x.png")
        back = to_uint8(ds.load_image(tmp_path / "x.png"))
        assert np.array_equal(back[:, :, 0], gray) and np.array_equal(back[:, :, 2], gray), mode

    def test_16_bit_edge_map_is_not_all_edges(self, tmp_path):
        edges = np.zeros((16, 16), np.uint16)
        edges[4, 2:14] = 65535
        Image.fromarray(edges).save(tmp_path / "e16.png")
        prim = ds.load_primitive(tmp_path / "e16.png")
        assert prim.kind == "edges" and int(prim.edges.sum()) == 12

    def test_float_image_is_refused(self, tmp_path):
        Image.fromarray(np.zeros((8, 8), np.float32)).save(tmp_path / "f.tiff")
        with pytest.raises(ValueError, match="f.tiff: floating-point images are not supported"):
            ds.load_image(tmp_path / "f.tiff")

    def test_nan_image_tensor_is_refused(self):
        x = torch.zeros(3, 8, 8)
        x[1, 2, 3] = float("nan")
        with pytest.raises(ValueError, match="image holds NaN or infinite values"):
            check_image(x)
        with pytest.raises(ValueError, match="NaN"):
            ds.load_pair(x)

    def test_jpeg_and_png_by_suffix(self, tmp_path):
        x = torch.rand(3, 16, 16) * 2 - 1
        ds.save_image(tmp_path / "a.jpg", x)
        ds.save_image(tmp_path / "a.png", x)
        assert (tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"
        assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
        with pytest.raises(ValueError, match="cannot write a .bmp file"):
            ds.save_image(tmp_path / "a.bmp", x)


_MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F"]


def _loads_or_one_line(path) -> None:
    for load in (lambda: ds.load_pair(path, None, "edges", multiple=4),
                 lambda: ds.load_primitive(path),
                 lambda: ds.load_pair(path, path, "edges", multiple=4)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # resize notes and PIL's palette-transparency note
                out = load()
        except ValueError as err:
            assert "\n" not in str(err) and str(err), repr(err)
        else:
            assert isinstance(out, (ds.Pair, ds.Primitive))


@settings(max_examples=60, deadline=5000)
@given(mode=st.sampled_from(_MODES), h=st.integers(1, 24), w=st.integers(1, 24), seed=st.integers(0, 2**16))
def test_fuzz_small_images_of_every_mode(mode, h, w, seed):
    import tempfile

    rng = np.random.default_rng(seed)
    if mode in ("I", "F"):
        arr = rng.integers(0, 70000, (h, w)).astype(np.int32 if mode == "I" else np.float32)
        img = Image.fromarray(arr, mode)
    elif mode == "I;16":
        img = Image.fromarray(rng.integers(0, 65536, (h, w)).astype(np.uint16))
    else:
        img = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA").convert(mode)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("x.tiff" if mode in ("I", "F") else "x.png")  # PNG holds no 32-bit modes
        img.save(path)
        _loads_or_one_line(path)


@settings(max_examples=80, deadline=5000)
@given(data=st.data())
def test_fuzz_damaged_and_random_files(data):
    import io
    import tempfile

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    good = bytearray(buf.getvalue())
    how = data.draw(st.sampled_from(["random", "truncate", "flip"]))
    if how == "random":
        blob = data.draw(st.binary(max_size=600))
    elif how == "truncate":
        blob = bytes(good[: data.draw(st.integers(0, len(good) - 1))])
    else:
        for i in data.draw(st.lists(st.integers(0, len(good) - 1), min_size=1, max_size=8)):
            good[i] ^= 0xFF
        blob = bytes(good)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "x.png").write_bytes(blob)
        _loads_or_one_line(Path(d) / "x.png")
