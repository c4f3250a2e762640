"""Training pairs and sizes (primitives/pairs.py): fit_size, resizing, load_pair(s)."""

import warnings
from pathlib import Path

import pytest
import torch

import deepsim_lite as ds
from deepsim_lite.primitives.samples import data_dir

ROOT = Path(__file__).resolve().parents[2]


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


def test_huge_photos_are_bounded_and_tiny_ones_refused():
    big = torch.zeros(3, 1100, 2200)
    with pytest.warns(ds.SizeAdjustedWarning, match="to 512x1024"):
        pair = ds.load_pair(big, None, "edges", multiple=16)
    assert pair.size == (512, 1024)
    with pytest.raises(ValueError, match="is 20x30 pixels; a network that halves it 4 times needs at least 32"):
        ds.load_pair(torch.zeros(3, 20, 30), None, "edges", multiple=16)
    with pytest.raises(ValueError, match="multiple must be a positive integer"):
        ds.load_pair(torch.zeros(3, 20, 30), None, "edges", multiple=0)


def test_load_pairs_gives_one_segmentation_and_one_size():
    frames = [ds.data_dir() / "videos" / "carphone" / f"frame_{i:03d}.png" for i in (0, 15)]
    pairs = ds.load_pairs(frames, kind="seg_edges", multiple=4, max_side=64)
    assert [p.name for p in pairs] == ["frame_000", "frame_015"] and pairs[0].size == pairs[1].size
    assert pairs[0].primitive.n_labels == pairs[1].primitive.n_labels
    alone = ds.load_pair(frames[0], None, "seg_edges", 4, 64)
    assert pairs[0].primitive == alone.primitive, "the first image's labels are its own segmentation"
    with pytest.raises(ValueError, match="2 images but 1 primitives"):
        ds.load_pairs(frames, [alone.primitive], multiple=4, max_side=64)


def test_load_pairs_renumbers_to_a_reference_pairs_labels():
    frame = ds.data_dir() / "videos" / "carphone" / "frame_015.png"
    ref = ds.load_pair(ds.data_dir() / "videos" / "carphone" / "frame_000.png", None, "seg", 4, 64)
    n = ref.primitive.n_labels
    perm = torch.roll(torch.arange(n), 1)  # the model's label k is label k+1 of a fresh fit
    shuffled = ds.Pair(ref.image, ref.primitive.replace(labels=perm[ref.primitive.labels]))
    plain = ds.load_pairs([frame], kind="seg", multiple=4, max_side=64, reference=ref)[0]
    moved = ds.load_pairs([frame], kind="seg", multiple=4, max_side=64, reference=shuffled)[0]
    assert torch.equal(moved.primitive.labels, perm[plain.primitive.labels])
    noise = ds.Pair(ref.image, ref.primitive.replace(labels=torch.randint(0, n, ref.size)))
    with pytest.raises(ValueError, match="agrees with its labels on \\d+% of the pixels only"):
        ds.load_pairs([frame], kind="seg", multiple=4, max_side=64, reference=noise)
