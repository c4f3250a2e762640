import numpy as np
import pytest
import torch

import deepsim_lite as ds
from deepsim_lite.primitives.extract import auto_canny_thresholds, extract_primitives


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


class TestExtractPrimitives:
    def test_one_segmentation_fitted_on_the_chosen_frame(self, samples_128):
        img = samples_128["chelsea"].image
        frames = [img, torch.roll(img, 4, dims=2), img.flip(-1)]
        prims = extract_primitives(frames, "seg_edges", fit_on=1, n_segments=6)
        seg = ds.fit_segmenter(frames[1], 6)
        assert [p.kind for p in prims] == ["seg_edges"] * 3
        assert all(p.n_labels == seg.n_segments for p in prims)
        for frame, prim in zip(frames, prims, strict=True):
            assert torch.equal(prim.labels, seg(frame)) and torch.equal(prim.edges, ds.canny_edges(frame))
        # fitted on another frame, the segmentation of a shifted frame is not the same labelling
        other = extract_primitives(frames, "seg", fit_on=2, n_segments=6)
        assert other[0].edges is None
        assert not all(torch.equal(a.labels, b.labels) for a, b in zip(prims, other, strict=True))

    def test_flow_carries_the_fitted_labels_with_the_motion(self, samples_128):
        img = samples_128["chelsea"].image
        shifted = torch.roll(img, (2, 5), dims=(1, 2))  # the scene moved 2 px down and 5 px right
        prims = extract_primitives([img, shifted], "seg_edges", fit_on=0, n_segments=6, segmentation="flow")
        fitted = ds.fit_segmenter(img, 6)(img)
        assert torch.equal(prims[0].labels, fitted)
        moved = torch.roll(fitted, (2, 5), dims=(0, 1))
        inner = (slice(10, -10), slice(10, -10))
        assert (prims[1].labels[inner] == moved[inner]).float().mean() > 0.97
        assert set(prims[1].labels.unique().tolist()) <= set(fitted.unique().tolist())
        assert torch.equal(prims[1].edges, ds.canny_edges(shifted))  # edges stay the frame's own

    def test_flow_labels_ignore_a_colour_change_that_kmeans_follows(self, samples_128):
        img = samples_128["chelsea"].image
        recoloured = img.clone()
        recoloured[:, :, 64:] = recoloured[:, :, 64:].roll(1, 0)  # right half: RGB -> BRG, same layout
        by_flow = extract_primitives([img, recoloured], "seg", n_segments=6, segmentation="flow")[1].labels
        by_colour = extract_primitives([img, recoloured], "seg", n_segments=6, segmentation="kmeans")[1].labels
        fitted = ds.fit_segmenter(img, 6)(img)
        flow_agree = (by_flow == fitted)[:, 70:].float().mean()
        colour_agree = (by_colour == fitted)[:, 70:].float().mean()
        assert flow_agree > 0.98 and colour_agree < 0.85

    def test_carry_labels_checks_shapes(self, samples_128):
        img = samples_128["coffee"].image
        with pytest.raises(ValueError, match="must share H and W"):
            ds.carry_labels(torch.zeros(5, 5, dtype=torch.long), img, img)
        with pytest.raises(ValueError, match="unknown segmentation 'sam'; choose one of flow, kmeans"):
            extract_primitives([img, img], "seg", segmentation="sam")

    def test_edges_only_has_no_labels(self, samples_128):
        prims = extract_primitives([samples_128["coffee"].image] * 2, "edges")
        assert all(p.labels is None and p.n_labels == 0 and p.edges.any() for p in prims)

    def test_errors(self, samples_128):
        img = samples_128["coffee"].image
        with pytest.raises(ValueError, match="unknown primitive kind 'lines'"):
            extract_primitives([img], "lines")
        with pytest.raises(ValueError, match="fit_on=3 is not a frame index"):
            extract_primitives([img, img], "seg", fit_on=3)
        with pytest.raises(ValueError, match="frames differ in size"):
            extract_primitives([img, img[:, :64]], "seg")
        with pytest.raises(ValueError, match="at least one frame"):
            extract_primitives([], "seg")
