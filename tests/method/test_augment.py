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


def _identity_and_mirror(h, w, dtype=torch.float32):
    """Grids ``(2, H, W, 2)``: copy 0 the identity, copy 1 a left-right mirror; both map pixels onto pixels."""
    g = tps.pixel_grid(h, w, dtype=dtype)
    return torch.stack([g, g * torch.tensor([-1.0, 1.0], dtype=dtype)])


def _both(x):
    """What those two grids must make of a map ``x`` (..., H, W): ``(2, ..., H, W)``."""
    return torch.stack([x, x.flip(-1)])


class TestPrimitiveForms:
    """Each accepted primitive form comes back in the form it came in, warped exactly like the image."""

    @pytest.mark.parametrize(
        "form",
        ["labels", "labels_uint8", "edges", "encoded", "encoded_n1", "primitive"],
    )
    def test_single_pair_broadcast_over_batch(self, cat_small, form):
        prim = cat_small.primitive
        given = {
            "labels": prim.labels,
            "labels_uint8": prim.labels.to(torch.uint8),
            "edges": prim.edges,
            "encoded": ds.encode(prim),
            "encoded_n1": ds.encode(prim)[None],
            "primitive": prim,
        }[form]
        grid = _identity_and_mirror(*prim.size)
        img, out = augment.augment_pair(cat_small.image, given, batch=2, grid=grid)
        assert img.shape == (2, 3, *prim.size)
        assert torch.allclose(img, _both(cat_small.image), atol=1e-5)
        if form == "primitive":
            assert isinstance(out, list) and len(out) == 2
            assert out[0] == prim
            assert out[1] == ds.Primitive(prim.labels.flip(-1), prim.edges.flip(-1), prim.n_labels)
        elif form in ("labels", "labels_uint8"):
            assert out.dtype == torch.int64 and torch.equal(out, _both(prim.labels))
        elif form == "edges":
            assert out.dtype == torch.bool and torch.equal(out, _both(prim.edges))
        else:
            assert out.dtype == torch.float32 and torch.equal(out, _both(ds.encode(prim)))

    def test_batch_size_comes_from_the_image_without_batch(self, cat_small):
        imgs = torch.stack([cat_small.image, -cat_small.image])
        grid = _identity_and_mirror(*cat_small.primitive.size)
        img, out = augment.augment_pair(imgs, cat_small.primitive.labels, grid=grid)
        assert torch.allclose(img, torch.stack([imgs[0], imgs[1].flip(-1)]), atol=1e-5)
        assert torch.equal(out, _both(cat_small.primitive.labels))

    def test_batch_of_pairs_keeps_each_primitive(self, cat_small):
        prim = cat_small.primitive
        imgs = torch.stack([cat_small.image, -cat_small.image])
        grid = _identity_and_mirror(*prim.size)
        labels = torch.stack([prim.labels, prim.labels.flip(0)])  # (N, H, W): two different label maps
        edges = torch.stack([prim.edges, ~prim.edges])
        enc = torch.stack([ds.encode(prim), 1 - ds.encode(prim)])  # (N, C_p, H, W)
        _, lab = augment.augment_pair(imgs, labels, grid=grid)
        _, edg = augment.augment_pair(imgs, edges, grid=grid)
        _, out = augment.augment_pair(imgs, enc, grid=grid)
        assert lab.dtype == torch.int64 and torch.equal(lab, torch.stack([labels[0], labels[1].flip(-1)]))
        assert edg.dtype == torch.bool and torch.equal(edg, torch.stack([edges[0], edges[1].flip(-1)]))
        assert torch.equal(out, torch.stack([enc[0], enc[1].flip(-1)]))

    def test_encoded_primitive_takes_the_image_dtype(self, cat_small):
        x = ds.encode(cat_small.primitive)
        grid = _identity_and_mirror(*x.shape[1:], dtype=torch.float64)
        img, out = augment.augment_pair(cat_small.image.double(), x, batch=2, grid=grid)
        assert img.dtype == out.dtype == torch.float64 and torch.equal(out, _both(x).double())

    def test_rejected_forms(self, cat_small):
        image, labels = cat_small.image, cat_small.primitive.labels
        with pytest.raises(ValueError, match="primitive must be a Primitive or a tensor, got ndarray"):
            augment.augment_pair(image, labels.numpy())
        with pytest.raises(ValueError, match="primitive must be a Primitive or a tensor, got Tensor"):
            augment.augment_pair(image, labels[None, None])  # an integer tensor must be (H, W) or (N, H, W)
        with pytest.raises(ValueError, match=r"primitive must be \(C, H, W\) or \(N, C, H, W\)"):
            augment.augment_pair(image, labels.float())  # a float tensor is an encoded primitive
        with pytest.raises(ValueError, match="same N, H and W needed"):  # 2 images, 3 primitives
            augment.augment_pair(image.expand(2, -1, -1, -1), ds.encode(cat_small.primitive).expand(3, -1, -1, -1))


class TestFlipWithTPS:
    def test_flip_mirrors_about_half_of_the_warps_and_keeps_the_warp_stream(self):
        om = tps.Omega()
        plain = augment.sample_grids("tps", 400, 12, 20, _gen(), omega=om)
        flipped = augment.sample_grids("tps", 400, 12, 20, _gen(), omega=om, flip=True)
        assert torch.equal(plain[..., 1], flipped[..., 1])  # same warps, drawn first from the same stream
        mirrored = torch.isclose(flipped[..., 0], -plain[..., 0]).flatten(1).all(1)
        kept = torch.isclose(flipped[..., 0], plain[..., 0]).flatten(1).all(1)
        assert torch.all(mirrored ^ kept)
        assert 0.4 < mirrored.float().mean() < 0.6
        # a flipped grid samples the mirrored image with the same warp: flip first, then warp
        x = torch.randn(1, 3, 12, 20).expand(400, -1, -1, -1)
        i = int(mirrored.nonzero()[0])
        out = augment.warp(x[i : i + 1], flipped[i : i + 1])
        assert torch.allclose(out, augment.warp(x[i : i + 1].flip(-1), plain[i : i + 1]), atol=1e-5)

    def test_flip_of_the_unwarped_pair_is_a_mirror_of_image_and_primitive(self, cat_small):
        image = cat_small.image
        out, prim = augment.augment_pair(image, cat_small.primitive.labels, "none", batch=64, generator=_gen(),
                                         flip=True)
        same = [torch.allclose(o, image, atol=1e-5) for o in out]
        mirror = [torch.allclose(o, image.flip(-1), atol=1e-5) for o in out]
        assert all(a != b for a, b in zip(same, mirror, strict=True)) and 10 < sum(mirror) < 54
        for o_is_mirror, p in zip(mirror, prim, strict=True):
            expected = cat_small.primitive.labels.flip(-1) if o_is_mirror else cat_small.primitive.labels
            assert torch.equal(p, expected)

    def test_crop_flip_ignores_the_extra_flip(self):
        a = augment.sample_grids("crop_flip", 8, 12, 20, _gen())
        b = augment.sample_grids("crop_flip", 8, 12, 20, _gen(), flip=True)
        assert torch.equal(a, b)


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
