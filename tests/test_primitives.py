import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import deepsim_lite as ds
from deepsim_lite.primitives import EDGE_INDEX, PALETTE, auto_canny_thresholds, labels_from_levels


class TestCanny:
    def test_binary_and_nonempty_on_real_photos(self, samples_128):
        for name, pair in samples_128.items():
            e = ds.canny_edges(pair.image)
            assert e.dtype == torch.bool and e.shape == pair.image.shape[1:], name
            frac = e.float().mean().item()
            assert 0.005 < frac < 0.3, f"{name}: {frac:.3f} of pixels are edges"

    def test_higher_thresholds_give_fewer_edges(self, samples_128):
        img = samples_128["coffee"].image
        counts = [int(ds.canny_edges(img, lo, 2 * lo).sum()) for lo in (20, 60, 120)]
        assert counts[0] > counts[1] > counts[2] > 0

    def test_auto_thresholds_follow_median(self):
        gray = np.full((10, 10), 100, np.uint8)
        assert auto_canny_thresholds(gray, 0.33) == pytest.approx((67.0, 133.0))
        assert auto_canny_thresholds(np.full((4, 4), 250, np.uint8))[1] == 255.0

    def test_flat_image_has_no_edges(self):
        assert not ds.canny_edges(torch.zeros(3, 32, 32)).any()

    def test_one_threshold_only_is_rejected(self, cat_small):
        with pytest.raises(ValueError, match="both Canny thresholds"):
            ds.canny_edges(cat_small.image, low=10)


class TestSegment:
    @pytest.mark.parametrize("k", [2, 5, 8])
    def test_label_count_bounded_and_contiguous(self, samples_128, k):
        for name, pair in samples_128.items():
            labels = ds.segment(pair.image, k)
            assert labels.dtype == torch.int64 and labels.shape == pair.image.shape[1:]
            present = torch.unique(labels).tolist()
            assert present == list(range(len(present))), name
            assert 2 <= len(present) <= k, name

    def test_regions_are_coherent(self, samples_128):
        # Few connected regions: no salt-and-pepper left after the majority filter and merging.
        import cv2

        labels = ds.segment(samples_128["coffee"].image, 6).numpy()
        n_regions = sum(cv2.connectedComponents((labels == j).astype(np.uint8))[0] - 1 for j in np.unique(labels))
        assert n_regions < 60
        h, w = labels.shape
        for j in np.unique(labels):
            n, _, stats, _ = cv2.connectedComponentsWithStats((labels == j).astype(np.uint8), connectivity=4)
            assert stats[1:, cv2.CC_STAT_AREA].min() >= 0.002 * h * w - 1

    def test_deterministic_given_seed(self, cat_small):
        a = ds.segment(cat_small.image, 6, seed=3)
        b = ds.segment(cat_small.image, 6, seed=3)
        assert torch.equal(a, b)

    def test_largest_region_is_label_zero(self, samples_128):
        labels = ds.segment(samples_128["rocket"].image, 6)
        counts = torch.bincount(labels.ravel())
        assert counts.argmax().item() == 0

    def test_fitted_segmenter_is_consistent_across_images(self, samples_128):
        img = samples_128["chelsea"].image
        seg = ds.fit_segmenter(img, 6)
        shifted = torch.roll(img, 4, dims=2)
        a, b = seg(img), seg(shifted)
        # Same cluster ids on a slightly shifted frame: most pixels keep their label.
        agree = (torch.roll(a, 4, dims=1) == b)[:, 8:-8].float().mean()
        assert agree > 0.9

    def test_bad_arguments(self, cat_small):
        with pytest.raises(ValueError, match="n_segments"):
            ds.segment(cat_small.image, 0)
        with pytest.raises(ValueError, match="odd"):
            ds.fit_segmenter(cat_small.image, 4, smooth=4)


label_maps = st.tuples(st.integers(1, 12), st.integers(4, 20), st.integers(4, 20), st.integers(0, 2**31 - 1)).map(
    lambda t: (t[0], torch.randint(0, t[0], (t[1], t[2]), generator=torch.Generator().manual_seed(t[3])), t[3])
)


class TestEncoding:
    @settings(max_examples=60, deadline=None)
    @given(label_maps, st.sampled_from(ds.KINDS))
    def test_round_trip_exact(self, lm, kind):
        n, labels, seed = lm
        edges = torch.rand(labels.shape, generator=torch.Generator().manual_seed(seed + 1)) < 0.2
        prim = ds.Primitive(
            labels if kind != "edges" else None, edges if kind != "seg" else None, n if kind != "edges" else 0
        )
        x = ds.encode(prim)
        assert x.shape == (prim.channels, *labels.shape) and x.dtype == torch.float32
        assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
        if prim.n_labels:
            assert torch.all(x[: prim.n_labels].sum(0) == 1)
        assert ds.decode(x, prim.n_labels, prim.has_edges) == prim

    def test_channels(self, cat_small):
        p = cat_small.primitive
        assert p.kind == "seg_edges" and p.channels == p.n_labels + 1
        assert p.replace(edges=None).channels == p.n_labels
        assert p.replace(labels=None, n_labels=0).channels == 1

    def test_decode_wrong_channel_count(self, cat_small):
        x = ds.encode(cat_small.primitive)
        with pytest.raises(ValueError, match=r"must be \(\d+, H, W\)"):
            ds.decode(x[1:], cat_small.primitive.n_labels, True)

    def test_to_rgb_uses_stable_palette_and_black_edges(self, cat_small):
        p = cat_small.primitive
        rgb = ds.to_rgb(p)
        assert rgb.shape == (*p.size, 3) and rgb.dtype == np.uint8
        e = p.edges.numpy()
        lab = p.labels.numpy()
        assert np.all(rgb[e] == 0)
        assert np.array_equal(rgb[~e], PALETTE[lab[~e]])
        only_edges = ds.to_rgb(p.replace(labels=None, n_labels=0))
        assert np.all(only_edges[~e] == 255)

    def test_palette_colours_are_distinct(self):
        assert len({tuple(c) for c in PALETTE[:EDGE_INDEX]}) >= 250


class TestPrimitiveValidation:
    def test_needs_something(self):
        with pytest.raises(ValueError, match="neither"):
            ds.Primitive()

    def test_label_out_of_range(self):
        with pytest.raises(ValueError, match="label 5 but the model knows 3 labels"):
            ds.Primitive(torch.full((8, 8), 5), None, 3)

    def test_negative_label(self):
        with pytest.raises(ValueError, match="negative label"):
            ds.Primitive(torch.full((8, 8), -1), None, 3)

    def test_float_labels(self):
        with pytest.raises(ValueError, match="int64"):
            ds.Primitive(torch.zeros(8, 8), None, 1)

    def test_edges_must_be_bool(self):
        with pytest.raises(ValueError, match="bool"):
            ds.Primitive(None, torch.zeros(8, 8))

    def test_sizes_must_agree(self):
        with pytest.raises(ValueError, match="differ in size"):
            ds.Primitive(torch.zeros(8, 8, dtype=torch.long), torch.zeros(8, 9, dtype=torch.bool), 1)

    def test_tiny_map(self):
        with pytest.raises(ValueError, match="only 1x1 pixels"):
            ds.Primitive(None, torch.zeros(1, 1, dtype=torch.bool))

    def test_unknown_kind(self, cat_small):
        with pytest.raises(ValueError, match="unknown primitive kind 'depth'"):
            ds.make_primitive(cat_small.image, "depth")


class TestLevels:
    def test_levels_map_in_order(self):
        v = np.array([[0, 50], [200, 50]])
        assert labels_from_levels(v).tolist() == [[0, 1], [2, 1]]

    def test_known_levels_keep_numbers_after_a_region_is_removed(self):
        v = np.array([[0, 200], [200, 200]])
        assert labels_from_levels(v, [0, 50, 200]).tolist() == [[0, 2], [2, 2]]

    def test_unknown_level(self):
        with pytest.raises(ValueError, match="gray levels \\[7\\]"):
            labels_from_levels(np.array([[0, 7]]), [0, 50])
