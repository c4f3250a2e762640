import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import deepsim_lite as ds
from deepsim_lite._image import check_image, from_uint8, to_uint8
from deepsim_lite.data import atomic_write_bytes, data_dir

ROOT = Path(__file__).resolve().parent.parent


class TestSamples:
    def test_every_sample_ships_with_primitives_and_readme_entry(self):
        readme = (ROOT / "data" / "README.md").read_text()
        for name, info in ds.SAMPLES.items():
            assert ds.sample_path(name).is_file()
            for kind in ds.KINDS:
                assert (data_dir() / "primitives" / f"{name}_{kind}.png").is_file(), (name, kind)
            assert info.file in readme and info.licence in readme

    def test_at_least_four_real_photos_and_small_folder(self):
        assert len(ds.SAMPLES) >= 4
        total = sum(f.stat().st_size for f in (ROOT / "data").rglob("*") if f.is_file())
        assert total < 5 * 2**20

    def test_committed_primitives_match_the_images(self):
        for name in ds.SAMPLES:
            img = ds.load_image(ds.sample_path(name))
            for kind in ds.KINDS:
                p = ds.load_primitive(data_dir() / "primitives" / f"{name}_{kind}.png", kind)
                assert p.kind == kind and p.size == tuple(img.shape[1:])

    def test_committed_primitives_are_reproducible(self):
        # `make primitives` must regenerate exactly what is committed.
        img = ds.load_image(ds.sample_path("chelsea"))
        fresh = ds.make_primitive(img, "seg_edges")
        committed = ds.load_primitive(data_dir() / "primitives" / "chelsea_seg.png", "seg")
        assert torch.equal(fresh.labels, committed.labels)
        edges = ds.load_primitive(data_dir() / "primitives" / "chelsea_edges.png", "edges")
        assert torch.equal(fresh.edges, edges.edges)

    def test_load_sample_sizes_are_network_multiples(self):
        pair = ds.load_sample("chelsea", "edges", max_side=128)
        assert tuple(pair.image.shape) == (3, 80, 128) and pair.primitive.kind == "edges"

    def test_unknown_sample(self):
        with pytest.raises(ValueError, match="unknown sample 'dog'; choose one of chelsea"):
            ds.sample_path("dog")


class TestImageIO:
    def test_uint8_round_trip(self):
        arr = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
        t = from_uint8(arr)
        assert t.shape == (3, 7, 9) and t.min() >= -1 and t.max() <= 1
        assert np.array_equal(to_uint8(t), arr)

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

    def test_empty_array(self):
        with pytest.raises(ValueError, match=r"empty \(0x5 pixels\)"):
            from_uint8(np.zeros((0, 5, 3), np.uint8))

    @pytest.mark.parametrize("shape", [(2, 8, 8), (4, 8, 8)])
    def test_wrong_channel_count_tensor(self, shape):
        with pytest.raises(ValueError, match="3 colour channels"):
            check_image(torch.zeros(shape))

    def test_wrong_channel_count_array(self):
        with pytest.raises(ValueError, match="has 2 channels; expected 1 .* 3 .* or 4"):
            from_uint8(np.zeros((8, 8, 2), np.uint8))

    def test_out_of_range_values(self):
        with pytest.raises(ValueError, match=r"\[-1, 1\], got \[0, 255\]"):
            check_image(torch.full((3, 8, 8), 255.0).index_fill_(1, torch.tensor([0]), 0))

    def test_save_is_atomic_and_leaves_no_temp_files(self, tmp_path):
        target = tmp_path / "out" / "x.png"
        ds.save_image(target, torch.zeros(3, 8, 8))
        assert target.is_file() and [p.name for p in target.parent.iterdir()] == ["x.png"]

        with pytest.raises(TypeError):
            atomic_write_bytes(target, object())  # write fails midway
        assert ds.load_image(target).shape == (3, 8, 8)  # old file intact
        assert [p.name for p in target.parent.iterdir()] == ["x.png"]


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


class TestPairs:
    def test_fit_size(self):
        assert ds.fit_size(300, 451) == (304, 448)
        assert ds.fit_size(300, 451, max_side=128) == (80, 128)
        assert ds.fit_size(5, 5) == (16, 16)
        assert ds.fit_size(100, 60, multiple=4) == (100, 60)

    def test_resize_is_announced(self, cat_small):
        img = torch.nn.functional.interpolate(cat_small.image[None], size=(70, 90))[0]
        with pytest.warns(ds.SizeAdjustedWarning, match=r"from 70x90 to 64x96 \(HxW\): sides must be multiples of 16"):
            pair = ds.load_pair(img, kind="edges")
        assert pair.image.shape == (3, 64, 96) and pair.primitive.size == (64, 96)

    def test_no_message_when_size_fits(self, cat_small):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pair = ds.load_pair(cat_small.image, cat_small.primitive)
        assert pair.primitive == cat_small.primitive

    def test_resized_primitive_keeps_labels_and_binary_edges(self, cat_small):
        with pytest.warns(ds.SizeAdjustedWarning):
            pair = ds.load_pair(cat_small.image, cat_small.primitive, multiple=16, max_side=48)
        p = pair.primitive
        assert p.size == (32, 48)
        assert set(p.labels.unique().tolist()) <= set(cat_small.primitive.labels.unique().tolist())
        assert p.edges.dtype == torch.bool and p.edges.any()

    def test_sizes_differ(self, cat_small):
        small = ds.Primitive(None, torch.zeros(32, 32, dtype=torch.bool))
        with pytest.raises(ValueError, match=r"primitive is 32x32 but the image is 64x96 \(HxW\)"):
            ds.load_pair(cat_small.image, small)
        with pytest.raises(ValueError, match="must be the same size"):
            ds.Pair(cat_small.image, small)

    def test_primitive_from_file(self, tmp_path):
        path = ds.sample_path("coffee")
        prim_path = data_dir() / "primitives" / "coffee_seg_edges.png"
        with pytest.warns(ds.SizeAdjustedWarning):
            pair = ds.load_pair(path, prim_path, max_side=96)
        assert pair.primitive.kind == "seg_edges" and pair.primitive.size == tuple(pair.image.shape[1:])
