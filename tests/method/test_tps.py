import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepsim_lite import tps

f64 = torch.float64


def _points(seed: int, b: int, n: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, n, 2, generator=g, dtype=f64) * 2 - 1) * scale


seeds = st.integers(0, 2**31 - 1)
n_ctrl = st.integers(4, 20)
batches = st.integers(1, 4)
lams = st.floats(0.0, 10.0)


class TestFit:
    @settings(max_examples=50, deadline=None)
    @given(seeds, batches, n_ctrl)
    def test_lam_zero_interpolates(self, seed, b, n):
        src = _points(seed, b, n)
        dst = src + _points(seed + 1, b, n, 0.2)
        s = tps.fit_tps(src, dst, 0.0)
        assert torch.allclose(tps.tps_eval(s, src), dst, atol=1e-8)

    @settings(max_examples=50, deadline=None)
    @given(seeds, batches, n_ctrl, lams)
    def test_affine_targets_reproduced_for_any_lam(self, seed, b, n, lam):
        src = _points(seed, b, n)
        a = torch.randn(b, 2, 2, generator=torch.Generator().manual_seed(seed), dtype=f64)
        t = torch.randn(b, 1, 2, generator=torch.Generator().manual_seed(seed + 7), dtype=f64)
        dst = src @ a.transpose(1, 2) + t
        s = tps.fit_tps(src, dst, lam)
        assert torch.allclose(s.w, torch.zeros_like(s.w), atol=1e-8)
        pts = _points(seed + 3, b, 50, 2.0)  # also away from the control points
        assert torch.allclose(tps.tps_eval(s, pts), pts @ a.transpose(1, 2) + t, atol=1e-8)
        big_a, big_b = s.affine
        assert torch.allclose(big_a, a, atol=1e-8) and torch.allclose(big_b, t[:, 0], atol=1e-8)

    @settings(max_examples=30, deadline=None)
    @given(seeds, n_ctrl)
    def test_bending_energy_decreases_with_lam_to_affine_lstsq(self, seed, n):
        src = _points(seed, 1, n)
        dst = src + _points(seed + 1, 1, n, 0.3)
        energies = [tps.bending_energy(tps.fit_tps(src, dst, lam)).item() for lam in (0, 0.01, 0.1, 1, 10, 100, 1e4)]
        assert all(e1 <= e0 * (1 + 1e-9) + 1e-12 for e0, e1 in zip(energies, energies[1:], strict=False))
        assert energies[-1] < 1e-3 * max(energies[0], 1e-12) + 1e-9
        # ... and the fit itself tends to the least-squares affine map
        far = tps.fit_tps(src, dst, 1e7)
        lstsq = tps.affine_lstsq(src, dst)
        pts = _points(seed + 2, 1, 30)
        from deepsim_lite.method.tps import _affine_basis

        assert torch.allclose(tps.tps_eval(far, pts), _affine_basis(pts) @ lstsq, atol=1e-5)

    @settings(max_examples=30, deadline=None)
    @given(seeds, batches, n_ctrl, lams, st.floats(1e-3, 1.0))
    def test_bending_energy_nonnegative_and_zero_only_for_affine(self, seed, b, n, lam, amp):
        src = _points(seed, b, n)
        a = torch.randn(b, 2, 2, generator=torch.Generator().manual_seed(seed), dtype=f64)
        t = torch.randn(b, 1, 2, generator=torch.Generator().manual_seed(seed + 7), dtype=f64)
        dst = src @ a.transpose(1, 2) + t
        # affine targets: nothing bends, whatever lam
        e_affine = tps.bending_energy(tps.fit_tps(src, dst, lam))
        assert e_affine.shape == (b,) and torch.all(e_affine.abs() < 1e-12)
        # targets off the affine map: a random displacement minus its least-squares affine part, norm amp
        p = torch.cat([torch.ones_like(src[..., :1]), src], -1)  # rows [1, x, y]
        v = _points(seed + 1, b, n)
        v = v - p @ torch.linalg.lstsq(p, v).solution
        v = v / v.norm(dim=(1, 2), keepdim=True)
        e1, e2 = (tps.bending_energy(tps.fit_tps(src, dst + k * amp * v, lam)) for k in (1, 2))
        assert torch.all(e1 > 0)
        assert torch.allclose(e2, 4 * e1, rtol=1e-6, atol=0)  # quadratic in the departure from affine
        # A theory bound, not the code's formula: interpolating (lam = 0) with Pᵀv = 0 gives w = Q (QᵀKQ)⁻¹ Qᵀv (Q an
        # orthonormal basis of {x: Pᵀx = 0}), so J = 16π vᵀQ (QᵀKQ)⁻¹ Qᵀv >= 16π |v|² / ‖K‖ with
        # ‖K‖ <= n·max|U| = n·8 ln 8 for points in [-1, 1]² (r² <= 8).
        e0 = tps.bending_energy(tps.fit_tps(src, dst + amp * v, 0.0))
        assert torch.all(e0 >= 16 * math.pi * amp**2 / (n * 8 * math.log(8)))

    def test_bending_energy_equals_the_integral(self):
        # J = ∬ f_xx² + 2 f_xy² + f_yy², by finite differences over a large square: 16π wᵀKw.
        src = tps.control_grid(3, dtype=f64)
        dst = src + _points(0, 1, 9, 0.1)
        s = tps.fit_tps(src, dst)
        r, h = 5.0, 0.02
        xs = torch.arange(-r, r + h / 2, h, dtype=f64)
        gy, gx = torch.meshgrid(xs, xs, indexing="ij")
        f = tps.tps_eval(s, torch.stack([gx, gy], -1).reshape(1, -1, 2)).reshape(len(xs), len(xs), 2)
        fxx = (f[1:-1, 2:] - 2 * f[1:-1, 1:-1] + f[1:-1, :-2]) / h**2
        fyy = (f[2:, 1:-1] - 2 * f[1:-1, 1:-1] + f[:-2, 1:-1]) / h**2
        fxy = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / (4 * h * h)
        numeric = ((fxx**2 + 2 * fxy**2 + fyy**2).sum() * h * h).item()
        assert numeric == pytest.approx(tps.bending_energy(s).item(), rel=0.03)

    def test_float32_and_float64_agree(self):
        src = _points(0, 2, 16)
        dst = src + _points(1, 2, 16, 0.2)
        s64 = tps.fit_tps(src, dst)
        s32 = tps.fit_tps(src.float(), dst.float())
        assert s32.w.dtype == torch.float32
        pts = _points(2, 2, 40)
        assert torch.allclose(tps.tps_eval(s32, pts.float()).double(), tps.tps_eval(s64, pts), atol=1e-4)

    def test_gradcheck(self):
        src = _points(0, 1, 6)
        dst = (src + _points(1, 1, 6, 0.2)).requires_grad_()
        pts = _points(2, 1, 5)
        assert torch.autograd.gradcheck(lambda d: tps.tps_eval(tps.fit_tps(src, d, 0.1), pts), (dst,))

    @pytest.mark.parametrize(
        "src,dst,match",
        [
            (torch.zeros(4, 2), torch.zeros(4, 2), r"pts_src must be a \(B, N, 2\)"),
            (torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), r"pts_src must be a \(B, N, 2\)"),
            (torch.zeros(1, 4, 2), torch.zeros(1, 5, 2), "must have the same shape"),
            (torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), "at least 3 control points"),
            (torch.zeros(1, 4, 2, dtype=torch.long), torch.zeros(1, 4, 2), "float32 or float64"),
        ],
    )
    def test_bad_points(self, src, dst, match):
        with pytest.raises(ValueError, match=match):
            tps.fit_tps(src, dst)

    def test_negative_lam(self):
        with pytest.raises(ValueError, match="lam must be >= 0"):
            tps.fit_tps(_points(0, 1, 5), _points(1, 1, 5), -1.0)


def _pixel_space_reference(ctrl: torch.Tensor, disp: torch.Tensor, lam_pix: float, h: int, w: int) -> torch.Tensor:
    """The paper's spline written directly in pixel coordinates (numpy, U = r² log r²), returned as a
    normalised ``(H, W, 2)`` grid. ``ctrl`` ``(N, 2)`` and ``disp`` ``(N, 2)`` are normalised."""
    import numpy as np

    half = np.array([w / 2, h / 2])
    c = (ctrl.numpy() + 1) * half - 0.5  # pixel (col, row) of each control point
    v = c + disp.numpy() * half
    n = len(c)

    def u(r2):
        return np.where(r2 > 0, r2 * np.log(np.where(r2 > 0, r2, 1)), 0.0)

    k = u(((c[:, None] - c[None]) ** 2).sum(-1)) + lam_pix * np.eye(n)
    p = np.concatenate([np.ones((n, 1)), c], 1)
    system = np.block([[k, p], [p.T, np.zeros((3, 3))]])
    coef = np.linalg.solve(system, np.concatenate([v, np.zeros((3, 2))]))
    gy, gx = np.mgrid[0:h, 0:w]
    pts = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64)
    affine = np.concatenate([np.ones((h * w, 1)), pts], 1) @ coef[n:]
    mapped = u(((pts[:, None] - c[None]) ** 2).sum(-1)) @ coef[:n] + affine
    return torch.from_numpy(((2 * mapped + 1) / np.array([w, h]) - 1).reshape(h, w, 2))


class TestPixelSpace:
    @pytest.mark.parametrize("h,w,lam", [(84, 128, 0.0), (40, 80, 0.0), (84, 128, 0.5), (96, 48, 2.0)])
    def test_omega_warp_is_the_pixel_space_spline(self, h, w, lam):
        om = tps.Omega(lam=lam)
        d = tps.sample_displacements(om, 1, torch.Generator().manual_seed(3), f64)
        ours = tps.sample_tps_grids(om, 1, h, w, displacements=d, dtype=f64)[0]
        lam_pix = lam * (max(h, w) / 2) ** 2  # our λ is in pixel-proportional units (tps module docstring)
        ref = _pixel_space_reference(tps.control_grid(4, dtype=f64)[0], d[0], lam_pix, h, w)
        disp = (ref - tps.pixel_grid(h, w, dtype=f64)).abs().max()
        assert (ours - ref).abs().max() < 1e-9 * max(1.0, disp)
        general = tps.tps_grid(tps.fit_tps(tps.control_grid(4, dtype=f64), tps.control_grid(4, dtype=f64) + d, lam,
                                           shape=(h, w)), h, w)[0]
        assert (general - ref).abs().max() < 1e-9

    def test_normalised_fit_is_not_the_pixel_space_spline_on_a_non_square_image(self):
        # what Ω did before fitting in pixel-proportional coordinates: several % of the displacement off
        h, w = 84, 128
        d = tps.sample_displacements(tps.Omega(), 1, torch.Generator().manual_seed(3), f64)
        src = tps.control_grid(4, dtype=f64)
        ref = _pixel_space_reference(src[0], d[0], 0.0, h, w)
        old = tps.tps_grid(tps.fit_tps(src, src + d), h, w)[0]
        field = (ref - tps.pixel_grid(h, w, dtype=f64)).norm(dim=-1)
        rel = (old - ref).norm(dim=-1).max() / field.max()
        assert rel > 0.02

    @settings(max_examples=30, deadline=None)
    @given(seeds, st.integers(4, 12), st.integers(8, 200), st.integers(8, 200), lams)
    def test_shape_fit_keeps_interpolation_and_affine_maps(self, seed, n, h, w, lam):
        src = _points(seed, 2, n)
        dst = src + _points(seed + 1, 2, n, 0.2)
        assert torch.allclose(tps.tps_eval(tps.fit_tps(src, dst, 0.0, shape=(h, w)), src), dst, atol=1e-8)
        a = torch.randn(2, 2, 2, generator=torch.Generator().manual_seed(seed), dtype=f64)
        t = torch.randn(2, 1, 2, generator=torch.Generator().manual_seed(seed + 7), dtype=f64)
        s = tps.fit_tps(src, src @ a.transpose(1, 2) + t, lam, shape=(h, w))
        big_a, big_b = s.affine
        assert torch.allclose(big_a, a, atol=1e-8) and torch.allclose(big_b, t[:, 0], atol=1e-8)
        pts = _points(seed + 3, 2, 40, 2.0)
        assert torch.allclose(tps.tps_eval(s, pts), pts @ a.transpose(1, 2) + t, atol=1e-8)

    def test_square_images_need_no_rescaling(self):
        assert tps.aspect_scale(64, 64) == (1.0, 1.0)
        assert tps.aspect_scale(84, 128) == (1.0, 84 / 128)
        with pytest.raises(ValueError, match="image shape must be positive"):
            tps.aspect_scale(0, 5)


class TestGrids:
    def test_pixel_grid_is_grid_sample_identity(self):
        x = torch.randn(1, 3, 7, 11)
        g = tps.pixel_grid(7, 11)[None]
        out = torch.nn.functional.grid_sample(x, g, align_corners=False)
        assert torch.allclose(out, x, atol=1e-6)

    @settings(max_examples=20, deadline=None)
    @given(st.integers(4, 64), st.integers(4, 64), st.integers(2, 6), st.floats(0, 5), st.booleans())
    def test_zero_displacement_is_exactly_the_identity(self, h, w, n, lam, corners):
        om = tps.Omega(grid_size=n, lam=lam, fixed_corners=corners)
        d = torch.zeros(2, n * n, 2)
        grid = tps.sample_tps_grids(om, 2, h, w, displacements=d)
        assert (grid - tps.pixel_grid(h, w)).abs().max().item() < 1e-5
        # and via the general fit, too
        src = tps.control_grid(n)
        s = tps.fit_tps(src, src.clone(), lam)
        assert (tps.tps_grid(s, h, w)[0] - tps.pixel_grid(h, w)).abs().max().item() < 1e-5

    @settings(max_examples=20, deadline=None)
    @given(seeds, st.integers(1, 5), st.integers(2, 5), st.floats(0, 1))
    def test_batched_sampler_equals_one_by_one_fits(self, seed, b, n, lam):
        om = tps.Omega(grid_size=n, lam=lam)
        d = tps.sample_displacements(om, b, torch.Generator().manual_seed(seed), f64)
        batched = tps.sample_tps_grids(om, b, 12, 17, displacements=d, dtype=f64)
        src = tps.control_grid(n, dtype=f64)
        for i in range(b):
            one = tps.tps_grid(tps.fit_tps(src, src + d[i : i + 1], lam, shape=(12, 17)), 12, 17)
            assert torch.allclose(batched[i : i + 1], one, atol=1e-10)

    def test_sampler_interpolates_the_random_targets(self):
        om = tps.Omega()
        d = tps.sample_displacements(om, 3, torch.Generator().manual_seed(0), f64)
        src = tps.control_grid(4, dtype=f64)
        s = tps.fit_tps(src.expand(3, -1, -1), src + d)
        assert torch.allclose(tps.tps_eval(s, src.expand(3, -1, -1)), src + d, atol=1e-10)

    def test_displacement_bounds_follow_L(self):
        d = tps.sample_displacements(tps.Omega(L=10), 2000, torch.Generator().manual_seed(0))
        assert d.abs().max() <= 0.2 and d.abs().max() > 0.19  # U(-d/L, d/L) pixels = ±2/L normalised
        assert abs(d.mean().item()) < 0.01

    def test_official_variant_fixes_corners(self):
        om = tps.Omega.official()
        assert om.grid_size == 3 and om.L == pytest.approx(10)
        d = tps.sample_displacements(om, 5, torch.Generator().manual_seed(0))
        assert torch.all(d[:, [0, 2, 6, 8]] == 0) and torch.all(d[:, 4] != 0)

    def test_seeded(self):
        a = tps.sample_tps_grids(tps.Omega(), 2, 16, 16, torch.Generator().manual_seed(5))
        b = tps.sample_tps_grids(tps.Omega(), 2, 16, 16, torch.Generator().manual_seed(5))
        c = tps.sample_tps_grids(tps.Omega(), 2, 16, 16, torch.Generator().manual_seed(6))
        assert torch.equal(a, b) and not torch.equal(a, c)

    def test_warps_are_smooth_and_within_bounds(self):
        g = tps.sample_tps_grids(tps.Omega(), 8, 64, 64, torch.Generator().manual_seed(0))
        disp = g - tps.pixel_grid(64, 64)
        assert disp.abs().max() < 0.5
        # neighbouring pixels move alike: no folding at this jitter
        dx = g[:, :, 1:, 0] - g[:, :, :-1, 0]
        assert torch.all(dx > 0)

    def test_bad_omega(self):
        with pytest.raises(ValueError, match="grid_size must be >= 2"):
            tps.Omega(grid_size=1)
        with pytest.raises(ValueError, match="L must be > 0"):
            tps.Omega(L=0)
        with pytest.raises(ValueError, match=r"displacements must be \(2, 16, 2\)"):
            tps.sample_tps_grids(tps.Omega(), 2, 8, 8, displacements=torch.zeros(2, 9, 2))

    def test_kernel(self):
        r2 = torch.tensor([0.0, 1.0, math.e], dtype=f64)
        assert torch.allclose(tps.tps_kernel(r2), torch.tensor([0.0, 0.0, math.e], dtype=f64))
