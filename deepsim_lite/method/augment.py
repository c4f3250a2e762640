"""Paired augmentation (paper Sec. 3.3): one random geometry applied to the image AND its primitive.

"We use each random warp f ~ Ω to transform both the input primitive x and image y to create a new
training pair (f(x), f(y))" — :func:`augment_pair` is that sentence. Three modes:

* ``"tps"``: f ~ Ω, a thin-plate-spline warp (:mod:`deepsim_lite.method.tps`) — the paper's method;
* ``"crop_flip"``: the pix2pixHD-SIA baseline — a random crop (a fraction ``s ~ U(min_scale, 1)`` of
  each side, at a uniform position) resized back to H×W, then a horizontal flip with probability 1/2;
* ``"none"``: the pair unchanged (pix2pixHD trained on the single pair as is).

All three are sampling grids fed to ``grid_sample`` (normalised coordinates, ``align_corners=False``,
backward maps). Images are sampled bilinearly; primitives with nearest neighbour, so a label map
gets no label it did not have and an edge map stays binary.

Borders (``padding``): where f points outside the image, ``"reflection"`` (default) mirrors the
image at its border, ``"border"`` repeats the edge pixels, ``"zeros"`` fills with 0 — mid-gray for
images in [-1, 1], and "no label, no edge" (all channels 0) for encoded primitives. ``"zeros"`` is
refused for raw label maps, where 0 is a real label.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..primitives.primitive import Primitive, decode, encode
from .tps import Omega, pixel_grid, sample_displacements, tps_field

__all__ = ["MODES", "PADDINGS", "CropFlip", "sample_grids", "draw_warps", "grids_from_draws", "crop_flip_grids", "warp",
           "augment_pair"]

MODES = ("tps", "crop_flip", "none")
PADDINGS = ("reflection", "border", "zeros")


@dataclass(frozen=True)
class CropFlip:
    """The crop+flip baseline's parameters.

    Attributes:
        min_scale: smallest crop side as a fraction of the image side (the crop keeps the aspect).
        flip_p: probability of a horizontal flip.
    """

    min_scale: float = 0.8
    flip_p: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.min_scale <= 1:
            raise ValueError(f"CropFlip.min_scale must be in (0, 1], got {self.min_scale}")
        if not 0 <= self.flip_p <= 1:
            raise ValueError(f"CropFlip.flip_p must be in [0, 1], got {self.flip_p}")


def crop_flip_grids(
    cfg: CropFlip,
    batch: int,
    h: int,
    w: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Sampling grids ``(B, H, W, 2)`` of random crops (resized to H×W) with random flips."""
    draw = draw_warps("crop_flip", batch, generator, dtype=dtype)
    return grids_from_draws("crop_flip", {k: v.to(device) for k, v in draw.items()}, batch, h, w, device, dtype,
                            crop=cfg)


def draw_warps(
    mode: str,
    batch: int,
    generator: torch.Generator | None = None,
    omega: Omega | None = None,
    flip: bool = False,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """The random numbers of B warps of ``mode``, drawn from ``generator`` on its device (CPU by default): ``"d"``
    TPS control displacements ``(B, N, 2)``, ``"u"`` crop+flip uniforms ``(B, 4)`` (crop side, centre x, y,
    flip), ``"r"`` the flip's uniforms ``(B,)`` (``flip`` in "tps"/"none"). :func:`grids_from_draws` turns them
    into grids on any device, so the numbers of many steps can be drawn ahead and moved in one copy
    (:class:`~.warps.WarpStream`); :func:`sample_grids` is the two in one call."""
    if mode not in MODES:
        raise ValueError(f"unknown augmentation {mode!r}; choose one of {', '.join(MODES)}")
    dev = generator.device if generator is not None else "cpu"
    if mode == "crop_flip":
        return {"u": torch.rand(batch, 4, generator=generator, device=dev, dtype=dtype)}
    draw = {"d": sample_displacements(omega or Omega(), batch, generator, dtype)} if mode == "tps" else {}
    if flip:  # drawn after the warps, from the same generator
        draw["r"] = torch.rand(batch, generator=generator, device=dev)
    return draw


def grids_from_draws(
    mode: str,
    draw: dict[str, torch.Tensor],
    batch: int,
    h: int,
    w: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    omega: Omega | None = None,
    crop: CropFlip | None = None,
    base: torch.Tensor | None = None,
    basis: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sampling grids ``(batch, H, W, 2)`` from :func:`draw_warps`'s numbers (already on ``device``): pure tensor
    arithmetic, no random draw, no host copy. ``base``: :func:`~.tps.pixel_grid` ``(H, W, 2)`` made once by the
    caller (default: made here); ``basis``: the TPS basis (:func:`~.tps.warp_basis`) held by the caller."""
    p = pixel_grid(h, w, device, dtype) if base is None else base
    if mode == "crop_flip":
        u, cfg = draw["u"], crop or CropFlip()
        s = cfg.min_scale + (1 - cfg.min_scale) * u[:, 0]  # crop side fraction
        cx = (2 * u[:, 1] - 1) * (1 - s)  # crop centre, keeping the crop inside the image
        cy = (2 * u[:, 2] - 1) * (1 - s)
        sign = torch.where(u[:, 3] < cfg.flip_p, -1.0, 1.0).to(dtype)
        x = cx[:, None, None] + s[:, None, None] * sign[:, None, None] * p[None, ..., 0]
        y = cy[:, None, None] + s[:, None, None] * p[None, ..., 1]
        return torch.stack([x, y], -1)
    if mode == "tps":
        d = draw["d"]
        grid = tps_field(omega or Omega(), d, h, w, dtype, basis) + p
    else:
        grid = p.expand(batch, h, w, 2)
    if "r" not in draw:
        return grid
    sign = torch.where(draw["r"] < 0.5, -1.0, 1.0).to(dtype)
    return torch.stack([grid[..., 0] * sign[:, None, None], grid[..., 1]], -1)


def sample_grids(
    mode: str,
    batch: int,
    h: int,
    w: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    omega: Omega | None = None,
    crop: CropFlip | None = None,
    flip: bool = False,
) -> torch.Tensor:
    """B random sampling grids ``(B, H, W, 2)`` of the given augmentation ``mode``.

    ``flip``: in ``"tps"`` and ``"none"``, also negate each grid's x with probability 1/2, i.e. warp the
    mirrored pair (the official code's random flip, drawn after the warps from the same generator);
    ``"crop_flip"`` flips on its own (``crop.flip_p``) and ignores it.
    """
    draw = draw_warps(mode, batch, generator, omega, flip and mode != "crop_flip", dtype)
    draw = {k: v.to(device, non_blocking=True) for k, v in draw.items()}
    return grids_from_draws(mode, draw, batch, h, w, device, dtype, omega, crop)


def warp(x: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear", padding: str = "reflection") -> torch.Tensor:
    """Backward-warp ``x`` ``(B, C, H, W)`` float with ``grid`` ``(B, H', W', 2)`` -> ``(B, C, H', W')``."""
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; choose one of {', '.join(PADDINGS)}")
    if x.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or x.shape[0] != grid.shape[0]:
        raise ValueError(f"warp needs x (B, C, H, W) and grid (B, H, W, 2) with the same B, got "
                         f"{tuple(x.shape)} and {tuple(grid.shape)}")
    return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode=padding, align_corners=False)


def _as_batch(x: torch.Tensor, batch: int | None, name: str) -> torch.Tensor:
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{name} must be (C, H, W) or (N, C, H, W), got {tuple(x.shape)}")
    if batch is not None and x.shape[0] == 1 and batch > 1:
        x = x.expand(batch, -1, -1, -1)
    return x


def augment_pair(  # over 60 lines only by its docstring: the four accepted primitive forms are documented here
    image: torch.Tensor,
    primitive: torch.Tensor | Primitive,
    mode: str = "tps",
    batch: int | None = None,
    generator: torch.Generator | None = None,
    omega: Omega | None = None,
    crop: CropFlip | None = None,
    padding: str = "reflection",
    grid: torch.Tensor | None = None,
    flip: bool = False,
):
    """Apply one random geometry to an image and its primitive (the same geometry to both).

    Args:
        image: ``(3, H, W)`` or ``(N, 3, H, W)`` float in [-1, 1]; sampled bilinearly.
        primitive: same size as ``image``, one of
            - an encoded primitive ``(C_p, H, W)`` / ``(N, C_p, H, W)`` float (the training path),
            - a label map ``(H, W)`` int64, or an edge map ``(H, W)`` bool,
            - a :class:`~deepsim_lite.primitives.Primitive`;
            sampled with nearest neighbour.
        mode: ``"tps"``, ``"crop_flip"`` or ``"none"``.
        batch: number of augmented copies B of a single pair (default: N of the inputs);
            a batch of N pairs gets N independent geometries.
        generator: seeds the geometry (its device is where the random numbers are drawn).
        omega, crop: parameters of the TPS distribution / the crop+flip baseline.
        padding: ``"reflection"``, ``"border"`` or ``"zeros"`` (module docstring).
        grid: explicit sampling grids ``(B, H, W, 2)`` instead of random ones.
        flip: also flip horizontally with probability 1/2 (``"tps"``/``"none"``; see :func:`sample_grids`).

    Returns:
        ``(image_aug (B, 3, H, W), primitive_aug)`` with the primitive in the form it came in:
        ``(B, C_p, H, W)`` float, ``(B, H, W)`` int64/bool, or a list of B Primitives.
    """
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        raise ValueError("image must be a float tensor (3, H, W) or (N, 3, H, W) in [-1, 1]")
    img = _as_batch(image, batch, "image")
    if img.shape[1] != 3:
        raise ValueError(f"image must have 3 channels, got {tuple(image.shape)}")
    b, _, h, w = img.shape

    if isinstance(primitive, Primitive):
        form, prim = "primitive", encode(primitive, img.device)
    elif isinstance(primitive, torch.Tensor) and primitive.is_floating_point():
        form, prim = "tensor", primitive
    elif isinstance(primitive, torch.Tensor) and primitive.ndim in (2, 3):
        form = "edges" if primitive.dtype == torch.bool else "labels"
        if form == "labels" and padding == "zeros":
            raise ValueError("padding='zeros' would put label 0 outside the image; use 'reflection' or 'border'")
        prim = primitive.to(img.device, torch.float32).unsqueeze(-3)  # (H, W) -> (1, H, W); (N, H, W) -> (N, 1, H, W)
    else:
        raise ValueError(f"primitive must be a Primitive or a tensor, got {type(primitive).__name__}")
    prim = _as_batch(prim, b, "primitive")  # also repeats a single primitive over the B copies
    if prim.shape[0] != b or prim.shape[-2:] != (h, w):
        raise ValueError(
            f"primitive {tuple(prim.shape)} does not match image {tuple(img.shape)}: same N, H and W needed"
        )

    if grid is None:
        grid = sample_grids(mode, b, h, w, generator, img.device, img.dtype, omega, crop, flip)
    img_out = warp(img, grid, "bilinear", padding)
    prim_out = warp(prim.to(img.dtype), grid, "nearest", padding)

    if form == "primitive":
        return img_out, [decode(p, primitive.n_labels, primitive.has_edges) for p in prim_out]
    if form == "labels":
        return img_out, prim_out[:, 0].round().long()
    if form == "edges":
        return img_out, prim_out[:, 0] > 0.5
    return img_out, prim_out
