import numpy as np
import pytest
import torch
from scipy import stats

import deepsim_lite as ds
from deepsim_lite import heldout, tps
from deepsim_lite.analysis.stats import block_bootstrap_interval


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


class TestAffineElastic:
    def test_zero_ranges_give_the_identity(self):
        zero = heldout.AffineElastic(rotation=0, scale=0, shear=0, shift=0, elastic=0)
        g = heldout.affine_elastic_grids(3, 12, 20, _gen(), zero)
        assert torch.allclose(g, tps.pixel_grid(12, 20).expand(3, -1, -1, -1), atol=1e-6)

    def test_elastic_field_reaches_its_amplitude_in_pixels(self):
        only = heldout.AffineElastic(rotation=0, scale=0, shear=0, shift=0, elastic=3.0, sigma=4.0)
        h, w = 40, 80
        g = heldout.affine_elastic_grids(4, h, w, _gen(), only)
        disp = (g - tps.pixel_grid(h, w)) * torch.tensor([w / 2, h / 2])  # pixels
        assert torch.allclose(disp.abs().amax(dim=(1, 2, 3)), torch.full((4,), 3.0), atol=1e-4)
        # smooth: neighbours move nearly alike
        assert (disp[:, :, 1:] - disp[:, :, :-1]).abs().max() < 1.0

    def test_a_rotation_keeps_pixel_distances_on_a_non_square_image(self):
        rot = heldout.AffineElastic(rotation=30, scale=0, shear=0, shift=0, elastic=0)
        h, w = 30, 90
        g = heldout.affine_elastic_grids(2, h, w, _gen(1), rot).double()
        px = (g + 1) * torch.tensor([w / 2, h / 2], dtype=torch.float64)
        ref = (tps.pixel_grid(h, w, dtype=torch.float64) + 1) * torch.tensor([w / 2, h / 2], dtype=torch.float64)
        a, b = (0, 0), (h - 1, w - 1)
        d_ref = (ref[a] - ref[b]).norm()
        assert torch.allclose((px[:, a[0], a[1]] - px[:, b[0], b[1]]).norm(dim=-1), d_ref.expand(2), rtol=1e-5)
        assert not torch.allclose(g.float(), tps.pixel_grid(h, w).expand(2, -1, -1, -1), atol=0.05)


class TestSets:
    def test_warp_sets_are_seeded_and_consistent(self, cat_small):
        a, b = heldout.warp_sets(cat_small, n=4), heldout.warp_sets(cat_small, n=4)
        c = heldout.warp_sets(cat_small, n=4, seed=7)
        assert [s.name for s in a] == ["tps_L6_3x3", "affine_elastic"]
        for s, t, u in zip(a, b, c, strict=True):
            assert len(s) == 4 and s.images.shape == (4, 3, *cat_small.size)
            assert torch.equal(s.images, t.images) and not torch.equal(s.images, u.images)
            labels = set(cat_small.primitive.labels.unique().tolist())
            assert all(set(p.labels.unique().tolist()) <= labels for p in s.primitives)
        # the identity grid gives the pair itself, all inside; a zoom-out marks its border as outside
        h, w = cat_small.size
        ident = heldout.warp_set(cat_small, "x", tps.pixel_grid(h, w)[None])
        assert torch.allclose(ident.images[0], cat_small.image, atol=1e-5) and ident.inside.all()
        assert torch.equal(ident.primitives[0].labels, cat_small.primitive.labels)
        zoom = heldout.warp_set(cat_small, "x", tps.pixel_grid(h, w)[None] * 1.25)
        assert zoom.inside[0, h // 2, w // 2] and not zoom.inside[0, 0, 0] and not zoom.inside[0].all()

    def test_frame_set_leaves_out_the_training_frame(self, cat_small):
        pairs = [ds.Pair(cat_small.image * k, cat_small.primitive, f"f{k}") for k in (1.0, 0.5, 0.25)]
        s = heldout.frame_set(pairs, train_index=1)
        assert len(s) == 2 and torch.equal(s.images[1], pairs[2].image)
        with pytest.raises(ValueError, match="at least one frame besides the training frame"):
            heldout.frame_set(pairs[:1])

    def test_score_is_per_item(self, cat_small):
        s = heldout.warp_sets(cat_small, n=3)[0]

        class Answers:  # renders each test primitive as its known answer, but the second one darker
            def generate(self, p):
                i = next(k for k, q in enumerate(s.primitives) if q is p)
                return s.images[i] * (0.5 if i == 1 else 1.0)

        out = heldout.score(Answers(), s)
        assert set(out) == {"psnr", "ssim"} and len(out["psnr"]) == 3
        assert out["psnr"][0] == float("inf") and np.isfinite(out["psnr"][1]) and out["ssim"][2] == pytest.approx(1)

    def test_score_ignores_pixels_taken_from_outside_the_image(self, cat_small):
        h, w = cat_small.size
        s = heldout.warp_set(cat_small, "zoom", tps.pixel_grid(h, w)[None] * 1.25)

        class WrongBorder:  # right inside, wrong where the warp reflected the image at its border
            def generate(self, p):
                return torch.where(s.inside[0], s.images[0], -s.images[0])

        out = heldout.score(WrongBorder(), s)
        assert out["psnr"][0] == float("inf") and out["ssim"][0] == pytest.approx(1)


class TestAcrossSizes:
    def test_resizing_the_identity_gives_the_identity_at_the_new_size(self):
        g = tps.pixel_grid(40, 64)[None].expand(2, -1, -1, -1)
        assert torch.allclose(heldout.resize_grids(g, (20, 32)), tps.pixel_grid(20, 32)[None], atol=1e-6)
        up = heldout.resize_grids(g, (80, 128))  # the border pixels too
        assert torch.allclose(up, tps.pixel_grid(80, 128)[None], atol=1e-6)
        # an affine warp stays exactly that affine warp at any size
        a = torch.tensor([[0.9, 0.2], [-0.1, 1.1]])
        affine = lambda h, w: torch.einsum("ij,hwj->hwi", a, tps.pixel_grid(h, w)) + 0.05  # noqa: E731
        assert torch.allclose(heldout.resize_grids(affine(40, 64)[None], (20, 32))[0], affine(20, 32), atol=1e-5)
        up = heldout.resize_grids(affine(40, 64)[None], (80, 128))[0]  # beyond the old centres: clamped
        assert torch.allclose(up[1:-1, 1:-1], affine(80, 128)[1:-1, 1:-1], atol=1e-5)
        assert heldout.resize_grids(g, (40, 64)) is g
        with pytest.raises(ValueError, match=r"\(N, H, W, 2\)"):
            heldout.resize_grids(g[0], (20, 32))

    def test_resized_grids_move_the_same_points(self):
        # a smooth picture: warping it small with the resized grid = warping it large, then shrinking
        h, w = 64, 96
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        big = torch.stack([torch.sin(2 * xx), torch.cos(3 * yy), xx * yy])[None]
        grids = heldout.affine_elastic_grids(3, h, w, _gen(4))
        small_grids = heldout.resize_grids(grids, (32, 48))
        warped_big = torch.nn.functional.grid_sample(big.expand(3, -1, -1, -1), grids, align_corners=False,
                                                     padding_mode="reflection")
        small = torch.nn.functional.interpolate(big, size=(32, 48), mode="bilinear", antialias=True)
        warped_small = torch.nn.functional.grid_sample(small.expand(3, -1, -1, -1), small_grids,
                                                       align_corners=False, padding_mode="reflection")
        shrunk = torch.nn.functional.interpolate(warped_big, size=(32, 48), mode="bilinear", antialias=True)
        assert (warped_small - shrunk)[..., 2:-2, 2:-2].abs().max() < 0.05
        still = tps.pixel_grid(32, 48).expand(3, -1, -1, -1)
        wrong = torch.nn.functional.grid_sample(small.expand(3, -1, -1, -1), still, align_corners=False)
        assert (wrong - shrunk)[..., 2:-2, 2:-2].abs().max() > 0.2

    def test_a_smaller_model_is_scored_against_the_full_size_pictures(self, cat_small):
        s = heldout.warp_sets(cat_small, n=2)[1]
        h, w = cat_small.size
        half = torch.nn.functional.interpolate(s.images, size=(h // 2, w // 2), mode="bilinear", antialias=True)

        class Small:  # renders the known answer at half the size
            def generate(self, p):
                return half[next(k for k, q in enumerate(s.primitives) if q is p)]

        blurred = heldout.score(Small(), s)["psnr"]
        assert all(20 < v < float("inf") for v in blurred)  # close, but the lost detail costs something

        class Dark(Small):
            def generate(self, p):
                return super().generate(p) * 0.5

        assert all(d < b - 3 for d, b in zip(heldout.score(Dark(), s)["psnr"], blurred, strict=True))


class TestPairedDifference:
    def test_one_seed_falls_back_to_a_paired_interval_over_items(self):
        b = np.random.default_rng(0).normal(size=(1, 10))
        r = heldout.paired_difference(b + 1, b)
        assert r["interval_over"] == "items" and r["mean"] == pytest.approx(1)
        assert r["ci_low"] == pytest.approx(1) and r["ci_high"] == pytest.approx(1)
        assert r["items"] == 10 and r["a_better_fraction"] == 1.0
        assert heldout.paired_difference(b + 1, b, higher_is_better=False)["a_better_fraction"] == 0.0
        rng = np.random.default_rng(1)
        a, c = rng.normal(0.3, 1, size=25), rng.normal(0, 1, size=25)
        ci = stats.ttest_rel(a, c).confidence_interval(0.95)
        r = heldout.paired_difference(a, c)
        assert r["ci_low"] == pytest.approx(ci.low) and r["ci_high"] == pytest.approx(ci.high)

    def test_seeds_make_the_interval_welchs_over_per_seed_means(self):
        rng = np.random.default_rng(2)
        items = rng.normal(size=20)  # hard and easy items, the same for both methods
        a = items + rng.normal(0.5, 0.3, size=(3, 1))  # each training run shifts every item
        b = items + rng.normal(0.0, 0.3, size=(4, 1))
        r = heldout.paired_difference(a, b)
        ci = stats.ttest_ind(a.mean(1), b.mean(1), equal_var=False).confidence_interval(0.95)
        assert r["interval_over"] == "seeds" and r["seeds"] == [3, 4]
        assert r["ci_low"] == pytest.approx(ci.low) and r["ci_high"] == pytest.approx(ci.high)
        # per-item pairing alone would claim near-certainty: every item moved by the same seed shift
        narrow = heldout.paired_difference(a.mean(0), b.mean(0))
        assert narrow["ci_high"] - narrow["ci_low"] < 0.1 * (r["ci_high"] - r["ci_low"])

    def test_equal_seeds_are_paired_seed_by_seed(self):
        """Seed i of both methods shares its init and warp stream: a t interval over the per-seed differences
        (df = n - 1), as scipy's paired t test gives it; a shared seed effect cancels out."""
        rng = np.random.default_rng(3)
        items = rng.normal(size=15)
        seed_effect = rng.normal(0, 1.0, size=(4, 1))  # large, and the same for both methods of one seed
        a = items + seed_effect + 0.4 + rng.normal(0, 0.05, size=(4, 1))
        b = items + seed_effect + rng.normal(0, 0.05, size=(4, 1))
        r = heldout.paired_difference(a, b)
        ci = stats.ttest_rel(a.mean(1), b.mean(1)).confidence_interval(0.95)
        assert r["interval_over"] == "seeds (paired)" and r["seeds"] == [4, 4]
        assert r["ci_low"] == pytest.approx(ci.low) and r["ci_high"] == pytest.approx(ci.high)
        welch = stats.ttest_ind(a.mean(1), b.mean(1), equal_var=False).confidence_interval(0.95)
        assert welch.low < 0 < 0.3 < r["ci_low"]  # unpaired, the seed effect hides the gain

    def test_ordered_items_get_a_block_bootstrap_that_covers_where_a_t_interval_does_not(self):
        """Frames of a clip are alike in runs: on AR(1) series (phi 0.9) with true mean 0, the 95% block
        bootstrap interval covers 0 clearly more often than the t interval over frames, which assumes independence
        (neither reaches 95% with 29 strongly dependent frames: an interval over frames says little)."""
        rng = np.random.default_rng(4)
        cover_block = cover_t = 0
        for _ in range(200):
            e = rng.normal(size=29)
            x = np.empty(29)
            x[0] = e[0] / np.sqrt(1 - 0.81)
            for i in range(1, 29):
                x[i] = 0.9 * x[i - 1] + e[i]
            block = heldout.paired_difference(x, np.zeros(29), ordered_items=True, n_boot=500)
            t = heldout.paired_difference(x, np.zeros(29))
            assert block["interval_over"] == "frames (block bootstrap)" and t["interval_over"] == "items"
            cover_block += block["ci_low"] <= 0 <= block["ci_high"]
            cover_t += t["ci_low"] <= 0 <= t["ci_high"]
        assert cover_t < 0.5 * 200 and cover_block > cover_t + 15

    def test_the_block_bootstrap_with_blocks_of_one_is_the_iid_percentile_bootstrap(self):
        x = np.random.default_rng(5).normal(1.0, 2.0, size=40)
        low, high = block_bootstrap_interval(x, block=1, n_boot=20000, seed=1)
        ref = stats.bootstrap((x,), np.mean, n_resamples=20000, method="percentile", random_state=2).confidence_interval
        assert low == pytest.approx(ref.low, abs=0.06) and high == pytest.approx(ref.high, abs=0.06)
        assert block_bootstrap_interval(x, seed=3) == block_bootstrap_interval(x, seed=3)
        with pytest.raises(ValueError, match="block must be between 1 and the series' length 40, got 41"):
            block_bootstrap_interval(x, block=41)

    def test_errors(self):
        with pytest.raises(ValueError, match="different items: 3 vs 4"):
            heldout.paired_difference(np.zeros((2, 3)), np.zeros((2, 4)))
        with pytest.raises(ValueError, match="2 seeds per method or at least 2 test items"):
            heldout.paired_difference(np.zeros(1), np.zeros(1))
