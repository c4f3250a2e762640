import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import deepsim_lite as ds
from deepsim_lite import augment, tps


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


class TestAugmentPair:
    @settings(max_examples=25, deadline=None)
    @given(st.integers(0, 2**31 - 1), st.sampled_from(augment.MODES), st.sampled_from(["reflection", "border"]))
    def test_warps_preserve_label_sets_and_binary_edges(self, seed, mode, padding):
        g = _gen(seed)
        labels = torch.randint(0, 5, (24, 32), generator=g)
        labels[labels == 3] = 4  # a label set with a hole: {0, 1, 2, 4}
        edges = torch.rand(24, 32, generator=g) < 0.1
        image = torch.rand(3, 24, 32, generator=g) * 2 - 1
        _, lab = augment.augment_pair(image, labels, mode, batch=3, generator=_gen(seed), padding=padding)
        _, edg = augment.augment_pair(image, edges, mode, batch=3, generator=_gen(seed), padding=padding)
        assert lab.dtype == torch.int64 and lab.shape == (3, 24, 32)
        assert set(lab.unique().tolist()) <= {0, 1, 2, 4}
        assert edg.dtype == torch.bool and edg.shape == (3, 24, 32)

    def test_same_geometry_for_image_and_primitive(self, cat_small):
        # Encode the image's own gray level as a "label map": warped labels must match the warped image.
        img = cat_small.image
        levels = ((img[0] + 1) * 3.5).round().long().clamp(0, 7)
        coded = levels.float()[None].repeat(3, 1, 1) / 3.5 - 1  # image whose pixels are exactly the levels
        out_img, out_lab = augment.augment_pair(coded, levels, "tps", batch=4, generator=_gen(1))
        grid = augment.sample_grids("tps", 4, *levels.shape, generator=_gen(1))
        near_img = augment.warp(coded[None].expand(4, -1, -1, -1), grid, "nearest")
        assert torch.equal(((near_img[:, 0] + 1) * 3.5).round().long(), out_lab)
        assert out_img.shape == (4, 3, *levels.shape)

    def test_primitive_objects_round_trip_through_warps(self, cat_small):
        out_img, prims = augment.augment_pair(cat_small.image, cat_small.primitive, "tps", batch=2, generator=_gen())
        assert len(prims) == 2 and all(isinstance(p, ds.Primitive) for p in prims)
        assert all(p.n_labels == cat_small.primitive.n_labels and p.kind == "seg_edges" for p in prims)
        assert not torch.equal(prims[0].labels, prims[1].labels)

    def test_encoded_primitive_stays_one_hot(self, cat_small):
        x = ds.encode(cat_small.primitive)
        n = cat_small.primitive.n_labels
        for padding in ("reflection", "border"):
            _, out = augment.augment_pair(cat_small.image, x, "tps", batch=4, generator=_gen(), padding=padding)
            assert out.shape == (4, *x.shape)
            assert torch.all(out[:, :n].sum(1) == 1) and set(out.unique().tolist()) <= {0.0, 1.0}

    def test_zeros_padding(self, cat_small):
        x = ds.encode(cat_small.primitive)
        grid = tps.pixel_grid(*x.shape[1:])[None] * 1.5  # zoom out: the border samples outside
        img, out = augment.augment_pair(cat_small.image, x, grid=grid, padding="zeros")
        assert torch.all(out[0, :, 0, 0] == 0) and torch.all(img[0, :, 0, 0] == 0)
        with pytest.raises(ValueError, match="padding='zeros' would put label 0 outside"):
            augment.augment_pair(cat_small.image, cat_small.primitive.labels, padding="zeros")

    def test_none_mode_is_identity(self, cat_small):
        img, out = augment.augment_pair(cat_small.image, cat_small.primitive.labels, "none", batch=2)
        assert torch.allclose(img, cat_small.image.expand(2, -1, -1, -1), atol=1e-6)
        assert torch.equal(out, cat_small.primitive.labels.expand(2, -1, -1))

    def test_zero_jitter_tps_is_identity(self, cat_small):
        om = tps.Omega(L=1e12)
        img, out = augment.augment_pair(cat_small.image, cat_small.primitive.labels, "tps", omega=om, generator=_gen())
        assert torch.allclose(img[0], cat_small.image, atol=1e-5)
        assert torch.equal(out[0], cat_small.primitive.labels)

    def test_batch_of_pairs_gets_independent_warps_matching_one_by_one(self, cat_small):
        imgs = cat_small.image[None].repeat(3, 1, 1, 1)
        grid = augment.sample_grids("tps", 3, *imgs.shape[-2:], generator=_gen(4))
        batched, _ = augment.augment_pair(imgs, cat_small.primitive.labels, grid=grid)
        for i in range(3):
            one, _ = augment.augment_pair(cat_small.image, cat_small.primitive.labels, grid=grid[i : i + 1])
            assert torch.allclose(batched[i], one[0], atol=1e-6)

    def test_errors(self, cat_small):
        with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
            augment.augment_pair(cat_small.image, cat_small.primitive, "rotate")
        with pytest.raises(ValueError, match="does not match image"):
            augment.augment_pair(cat_small.image, torch.zeros(8, 8, dtype=torch.long))
        with pytest.raises(ValueError, match="unknown padding"):
            augment.augment_pair(cat_small.image, cat_small.primitive, padding="wrap")
        with pytest.raises(ValueError, match="3 channels"):
            augment.augment_pair(torch.zeros(1, 8, 8), torch.zeros(8, 8, dtype=torch.long))


class TestCropFlip:
    def test_crop_stays_inside_and_flips(self):
        cfg = augment.CropFlip(min_scale=0.5, flip_p=0.5)
        g = augment.crop_flip_grids(cfg, 400, 16, 16, _gen())
        assert g.abs().max() <= 1.0
        flipped = g[:, 0, 0, 0] > g[:, 0, -1, 0]
        assert 0.35 < flipped.float().mean() < 0.65

    def test_flip_only_is_a_mirror(self):
        x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(1, 3, 1, 1) / 16 * 2 - 1
        g = augment.crop_flip_grids(augment.CropFlip(min_scale=1.0, flip_p=1.0), 1, 4, 4, _gen())
        assert torch.allclose(augment.warp(x, g), x.flip(-1), atol=1e-6)

    def test_bad_config(self):
        with pytest.raises(ValueError, match="min_scale"):
            augment.CropFlip(min_scale=0)
