"""Thin-plate-spline warps (paper Sec. 3.2, Eq. 4): fit, evaluate, bending energy, and the warp
distribution Ω the paper samples its training pairs from.

A thin-plate spline maps points p = (x, y) of the plane::

    f(p) = A·p + b + Σ_i w_i U(‖p − c_i‖),        U(r) = r² log r²   (U(0) = 0)

with control points c_i (``pts_src``). Given targets v_i (``pts_dst``) and a smoothing weight λ ≥ 0
the coefficients solve (Donato & Belongie 2002)::

    [ K + λI  P ] [ w ]   [ v ]        K_ij = U(‖c_i − c_j‖),  P_i = [1, x_i, y_i]
    [ Pᵀ      0 ] [ a ] = [ 0 ],

which minimises Σ_i ‖v_i − f(c_i)‖² + λ·J(f) (Eq. 4, J = bending energy / 16π, see
:func:`bending_energy`). λ = 0 interpolates the targets; λ → ∞ gives the least-squares affine map.
λ convention: with U = r² log r² (ours, Donato & Belongie's) K is twice the K of U = r² log r, so our λ
equals 2× the λ of code written with r² log r (same spline for λ_ours = 2 λ_theirs).
We fit the *displacement* v_i − c_i and add p back: the same spline (the identity is affine, and
affine maps are reproduced exactly), but a zero displacement gives exactly zero coefficients, so
zero jitter is the identity warp to the last bit.

Coordinates are normalised (x, y) in [-1, 1], ``align_corners=False``: the convention of
``torch.nn.functional.grid_sample``. A warp is a backward map: output pixel p samples the input
at f(p) (the paper's f(x)(i, j) = x(f(i, j))).

Pixel space. The paper's spline lives in pixel coordinates, where a pixel step is the same length
along x and y. Normalised coordinates stretch the shorter side, so a radial basis U(‖p − c‖) in them
is not the pixel-space spline on a non-square image (lesson 01 measures the gap: a median 10% of the
largest displacement for Ω's warps at 84×128). Given the image ``shape``, :func:`fit_tps` and Ω's
sampler therefore fit and evaluate in *pixel-proportional* coordinates q = (x·W/m, y·H/m),
m = max(H, W) (:func:`aspect_scale`): q is pixel space scaled by 2/m, and since uniform scaling leaves
an interpolating TPS unchanged, the warp equals the pixel-space TPS exactly; a smoothing λ in q units is
λ·(m/2)² in pixel units. Points, targets and grids stay normalised in the API.

Example:
    >>> import torch
    >>> from deepsim_lite import tps
    >>> src = tps.control_grid(4).expand(2, -1, -1)             # (2, 16, 2)
    >>> dst = src + 0.05 * torch.randn(2, 16, 2)
    >>> spline = tps.fit_tps(src, dst)                           # λ = 0: interpolates
    >>> torch.allclose(tps.tps_eval(spline, src), dst, atol=1e-5)
    True
    >>> tps.tps_grid(spline, 64, 96).shape                       # for grid_sample
    torch.Size([2, 64, 96, 2])
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

__all__ = [
    "ThinPlateSpline",
    "Omega",
    "tps_kernel",
    "fit_tps",
    "tps_eval",
    "tps_grid",
    "pixel_grid",
    "aspect_scale",
    "control_grid",
    "bending_energy",
    "affine_lstsq",
    "sample_displacements",
    "sample_tps_grids",
    "tps_field",
    "warp_basis",
]


def tps_kernel(r2: torch.Tensor) -> torch.Tensor:
    """The radial basis U as a function of the squared distance: ``U = r² log r²``, 0 at r = 0."""
    return torch.where(r2 > 0, r2 * torch.log(r2.clamp_min(torch.finfo(r2.dtype).tiny)), torch.zeros_like(r2))


def _radial(pts: torch.Tensor, ctrl: torch.Tensor) -> torch.Tensor:
    """``(B, M, 2)``, ``(B, N, 2)`` -> ``(B, M, N)`` matrix of U(‖p_m − c_n‖)."""
    d2 = (pts[:, :, None, :] - ctrl[:, None, :, :]).pow(2).sum(-1)
    return tps_kernel(d2)


def _affine_basis(pts: torch.Tensor) -> torch.Tensor:
    """``(..., M, 2)`` -> ``(..., M, 3)`` rows [1, x, y]."""
    return torch.cat([torch.ones_like(pts[..., :1]), pts], -1)


def aspect_scale(h: int, w: int) -> tuple[float, float]:
    """``(sx, sy) = (W/m, H/m)``, m = max(H, W): normalised (x, y) times these are pixel-proportional.

    1 along the longer side, so on a square image pixel-proportional and normalised coordinates agree.
    """
    if h < 1 or w < 1:
        raise ValueError(f"image shape must be positive, got {h}x{w}")
    m = max(h, w)
    return w / m, h / m


def _check_points(pts: torch.Tensor, name: str) -> None:
    if not isinstance(pts, torch.Tensor) or pts.ndim != 3 or pts.shape[-1] != 2:
        raise ValueError(f"{name} must be a (B, N, 2) tensor of (x, y) points, got {getattr(pts, 'shape', pts)}")
    if not pts.is_floating_point():
        raise ValueError(f"{name} must be float32 or float64, got {pts.dtype}")


@dataclass(frozen=True)
class ThinPlateSpline:
    """A batch of fitted splines. In fitting coordinates q = p·s (s = ``scale``, see :func:`aspect_scale`)
    the displacement is P(q)·a + Σ w_i U(‖q − q_i‖), and f(p) = p + displacement / s.

    Attributes:
        ctrl: ``(B, N, 2)`` control points c_i (normalised x, y).
        w: ``(B, N, 2)`` radial weights in fitting units (Σ_i w_i = 0 and Σ_i w_i q_iᵀ = 0).
        a: ``(B, 3, 2)`` affine coefficients of the displacement in fitting units, rows for [1, q_x, q_y].
        scale: ``(sx, sy)``, normalised -> fitting coordinates; (1, 1) when fitted without a shape.
    """

    ctrl: torch.Tensor
    w: torch.Tensor
    a: torch.Tensor
    scale: tuple[float, float] = (1.0, 1.0)

    def _s(self) -> torch.Tensor:
        return torch.tensor(self.scale, dtype=self.ctrl.dtype, device=self.ctrl.device)

    @property
    def affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The affine part of f as ``(A (B, 2, 2), b (B, 2))`` with f(p) ≈ A p + b far away (normalised)."""
        s = self._s()
        eye = torch.eye(2, dtype=self.a.dtype, device=self.a.device)
        # displacement_d = (a_0d + Σ_e a_(1+e)d s_e p_e) / s_d
        return eye + self.a[:, 1:].transpose(1, 2) * s[None, None, :] / s[None, :, None], self.a[:, 0] / s


def _system(ctrl: torch.Tensor, lam: float) -> torch.Tensor:
    """The ``(B, N+3, N+3)`` TPS system matrix [[K + λI, P], [Pᵀ, 0]]."""
    b, n, _ = ctrl.shape
    k = _radial(ctrl, ctrl) + lam * torch.eye(n, dtype=ctrl.dtype, device=ctrl.device)
    p = _affine_basis(ctrl)
    top = torch.cat([k, p], 2)
    bottom = torch.cat([p.transpose(1, 2), torch.zeros(b, 3, 3, dtype=ctrl.dtype, device=ctrl.device)], 2)
    return torch.cat([top, bottom], 1)


def fit_tps(pts_src: torch.Tensor, pts_dst: torch.Tensor, lam: float = 0.0,
            shape: tuple[int, int] | None = None) -> ThinPlateSpline:
    """Fit splines f with f(pts_src) ≈ pts_dst, one per batch element (one batched solve).

    Args:
        pts_src: ``(B, N, 2)`` control points, normalised (x, y); N ≥ 3 and not all collinear.
        pts_dst: ``(B, N, 2)`` targets.
        lam: smoothing λ ≥ 0 (0 interpolates; large values tend to the least-squares affine map).
        shape: ``(H, W)`` of the image the warp is for: fit in pixel-proportional coordinates, so f is
            the pixel-space spline (module docstring). None: fit in the coordinates as given.

    Returns:
        :class:`ThinPlateSpline` in the dtype and device of the inputs.
    """
    _check_points(pts_src, "pts_src")
    _check_points(pts_dst, "pts_dst")
    if pts_src.shape != pts_dst.shape:
        raise ValueError(f"pts_src {tuple(pts_src.shape)} and pts_dst {tuple(pts_dst.shape)} must have the same shape")
    if pts_src.shape[1] < 3:
        raise ValueError(f"a thin-plate spline needs at least 3 control points, got {pts_src.shape[1]}")
    if lam < 0:
        raise ValueError(f"smoothing lam must be >= 0, got {lam}")
    b, n, _ = pts_src.shape
    scale = aspect_scale(*shape) if shape is not None else (1.0, 1.0)
    s = torch.tensor(scale, dtype=pts_src.dtype, device=pts_src.device)
    rhs = torch.cat([(pts_dst - pts_src) * s, pts_src.new_zeros(b, 3, 2)], 1)
    coef = torch.linalg.solve(_system(pts_src * s, lam), rhs)  # (B, N+3, 2)
    return ThinPlateSpline(pts_src, coef[:, :n], coef[:, n:], scale)


def tps_eval(spline: ThinPlateSpline, pts: torch.Tensor) -> torch.Tensor:
    """Evaluate f at arbitrary points: ``(B, M, 2)`` (or ``(M, 2)``, shared) -> ``(B, M, 2)``."""
    if pts.ndim == 2:
        pts = pts.expand(spline.ctrl.shape[0], -1, -1)
    _check_points(pts, "pts")
    s = spline._s()
    q = pts * s
    return pts + (_radial(q, spline.ctrl * s) @ spline.w + _affine_basis(q) @ spline.a) / s


def pixel_grid(h: int, w: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32):
    """Normalised (x, y) of every pixel centre, ``align_corners=False``: ``(H, W, 2)``.

    Pixel (i, j) sits at x = (2j + 1)/W − 1, y = (2i + 1)/H − 1; ``grid_sample`` with this grid
    returns its input unchanged.
    """
    ys = (torch.arange(h, device=device, dtype=dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=device, dtype=dtype) * 2 + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1)


def tps_grid(spline: ThinPlateSpline, h: int, w: int) -> torch.Tensor:
    """Sampling grid ``(B, H, W, 2)`` for ``grid_sample``: f evaluated at every pixel centre."""
    p = pixel_grid(h, w, spline.ctrl.device, spline.ctrl.dtype).reshape(1, h * w, 2)
    return tps_eval(spline, p.expand(spline.ctrl.shape[0], -1, -1)).reshape(-1, h, w, 2)


def control_grid(n: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(1, n*n, 2)`` equispaced control points spanning the image, corners at (±1, ±1)."""
    if n < 2:
        raise ValueError(f"a control grid needs at least 2 points per axis, got {n}")
    t = torch.linspace(-1, 1, n, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)[None]


def bending_energy(spline: ThinPlateSpline) -> torch.Tensor:
    """Bending energy ``J(f) = ∬ f_xx² + 2 f_xy² + f_yy² dx dy``, summed over both output coordinates.

    For U = r² log r² the biharmonic operator gives Δ²U = 16π δ, so J = 16π Σ_d w_dᵀ K w_d
    (the affine part bends nothing). Measured in the fitting coordinates (normalised, or
    pixel-proportional when fitted with a ``shape``). Returns ``(B,)``, in the spline's dtype; ≥ 0.
    """
    q = spline.ctrl * spline._s()
    k = _radial(q, q)
    return 16 * math.pi * torch.einsum("bnd,bnm,bmd->b", spline.w, k, spline.w)


def affine_lstsq(pts_src: torch.Tensor, pts_dst: torch.Tensor) -> torch.Tensor:
    """Least-squares affine map ``(B, 3, 2)`` (rows for [1, x, y]) with P(src)·M ≈ dst, the λ → ∞ limit."""
    _check_points(pts_src, "pts_src")
    return torch.linalg.lstsq(_affine_basis(pts_src), pts_dst).solution


# ----------------------------------------------------------------------------------------------
# Ω: the random warp distribution of the paper, sampled in batches on the training device.


@dataclass(frozen=True)
class Omega:
    """Parameters of the random TPS warp distribution Ω (Sec. 3.2).

    Attributes:
        grid_size: control points per axis, equispaced over the image (paper: 4 -> 16 points).
        L: each control point moves by U(−d/L, d/L) pixels along an axis of d pixels (paper: 10),
            i.e. up to 2/L in normalised units.
        lam: TPS smoothing λ of Eq. 4 (0 = interpolate the random targets), in pixel-proportional units
            with U = r² log r² (λ·(m/2)² in pixels, m the longer side; see the module docstring).
        fixed_corners: keep the four image corners in place (the official code's variant).
    """

    grid_size: int = 4
    L: float = 10.0
    lam: float = 0.0
    fixed_corners: bool = False

    @classmethod
    def paper(cls) -> Omega:
        """Ω as the paper describes it: 4×4 grid, L = 10, all points jittered."""
        return cls()

    @classmethod
    def official(cls, jitter: float = 0.1) -> Omega:
        """The official code's variant: 3×3 grid, corners fixed, jitter as a fraction of the side."""
        return cls(grid_size=3, L=1.0 / jitter, fixed_corners=True)

    def __post_init__(self) -> None:
        if self.grid_size < 2:
            raise ValueError(f"Omega.grid_size must be >= 2, got {self.grid_size}")
        if self.L <= 0:
            raise ValueError(f"Omega.L must be > 0, got {self.L}")
        if self.lam < 0:
            raise ValueError(f"Omega.lam must be >= 0, got {self.lam}")


def sample_displacements(
    omega: Omega, batch: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Random control-point displacements ``(B, n*n, 2)``, normalised units, on the generator's device.

    Drawing on the generator's device (CPU by default) makes a seed give the same warps whatever
    device trains.
    """
    n = omega.grid_size
    dev = generator.device if generator is not None else "cpu"
    u = torch.rand(batch, n * n, 2, generator=generator, device=dev, dtype=dtype)
    d = (2 * u - 1) * (2.0 / omega.L)
    if omega.fixed_corners:
        corners = torch.tensor([0, n - 1, n * (n - 1), n * n - 1], device=dev)
        d[:, corners] = 0
    return d


def warp_basis(omega: Omega, h: int, w: int, device: torch.device | str, dtype: torch.dtype = torch.float32
               ) -> torch.Tensor:
    """``(H*W, N)``: the displacement field of every warp of Ω is this matrix times its control displacements
    (cached per size, Ω, device and dtype)."""
    return _warp_basis(h, w, omega.grid_size, float(omega.lam), str(torch.device(device)), dtype)


@functools.lru_cache(maxsize=16)
def _warp_basis(h: int, w: int, grid_size: int, lam: float, device: str, dtype: torch.dtype) -> torch.Tensor:
    """``(H*W, N)`` matrix M with (displacement field) = M @ (control displacements).

    Every warp of Ω shares its control points, so the TPS system and the radial basis at the
    pixels are the same for all of them: the solve collapses into this one precomputed matrix
    and sampling B warps is a single matmul. Built in pixel-proportional coordinates; both output
    coordinates share the one scalar basis, so M maps normalised displacements to normalised ones.
    """
    s = torch.tensor(aspect_scale(h, w), dtype=torch.float64)
    ctrl = control_grid(grid_size, device="cpu", dtype=torch.float64) * s
    n = ctrl.shape[1]
    sys_inv = torch.linalg.inv(_system(ctrl, lam))[0]  # (N+3, N+3); float64 for an exact identity
    p = pixel_grid(h, w, "cpu", torch.float64).reshape(1, h * w, 2) * s
    phi = torch.cat([_radial(p, ctrl), _affine_basis(p)], -1)[0]  # (HW, N+3)
    return (phi @ sys_inv[:, :n]).to(device=device, dtype=dtype)


def sample_tps_grids(
    omega: Omega,
    batch: int,
    h: int,
    w: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    displacements: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sample B warps f ~ Ω and return their sampling grids ``(B, H, W, 2)`` on ``device``.

    One matmul per call, no per-sample loop: see :func:`_warp_basis`. Equal (to float rounding)
    to ``tps_grid(fit_tps(ctrl, ctrl + d, omega.lam, shape=(h, w)), h, w)`` for the same displacements d:
    the pixel-space spline (module docstring).

    Args:
        displacements: optional ``(B, N, 2)`` control displacements instead of random ones
            (zeros give the identity grid exactly).
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    d = sample_displacements(omega, batch, generator, dtype) if displacements is None else displacements
    if d.shape != (batch, omega.grid_size**2, 2):
        raise ValueError(f"displacements must be ({batch}, {omega.grid_size ** 2}, 2), got {tuple(d.shape)}")
    d = d.to(device=device, dtype=dtype, non_blocking=True)
    return pixel_grid(h, w, device, dtype) + tps_field(omega, d, h, w, dtype)


def tps_field(omega: Omega, displacements: torch.Tensor, h: int, w: int, dtype: torch.dtype = torch.float32,
              basis: torch.Tensor | None = None) -> torch.Tensor:
    """The displacement field ``(B, H, W, 2)`` of the warps whose control points move by ``displacements``
    ``(B, N, 2)`` (on the device the field is made on): one matmul with :func:`warp_basis`, no host work.
    :func:`sample_tps_grids` adds the pixel grid to it. ``basis``: :func:`warp_basis` held by the caller (a CUDA
    graph must read a tensor that nobody frees; the cache alone may drop it)."""
    if basis is None:
        basis = warp_basis(omega, h, w, displacements.device, dtype)
    return torch.einsum("mn,bnd->bmd", basis, displacements).reshape(displacements.shape[0], h, w, 2)
