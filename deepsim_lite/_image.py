"""Conversions between the library's image tensors and uint8 arrays (OpenCV, PIL, PNG files).

The library's convention (DESIGN.md): an image is a float tensor ``(3, H, W)`` (or ``(N, 3, H, W)``)
with values in [-1, 1]; files and OpenCV use ``(H, W, 3)`` uint8 RGB in [0, 255].
"""

from __future__ import annotations

import numpy as np
import torch

MIN_SIDE = 4  # below this no convolutional network of ours has anything to work with


def check_image(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """Validate an image tensor and return it as ``(3, H, W)`` float32 in [-1, 1].

    Raises ``ValueError`` with one line that says what was expected and what came.
    """
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (3, H, W) in [-1, 1], got {type(image).__name__}")
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3:
        raise ValueError(f"{name} must have shape (3, H, W), got {tuple(image.shape)}")
    if image.shape[0] != 3:
        raise ValueError(f"{name} must have 3 colour channels first (3, H, W), got {tuple(image.shape)}")
    check_size(image.shape[-2], image.shape[-1], name)
    if not image.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [-1, 1], got dtype {image.dtype}")
    if not torch.isfinite(image).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    lo, hi = float(image.min()), float(image.max())
    if lo < -1.001 or hi > 1.001:
        raise ValueError(f"{name} values must lie in [-1, 1], got [{lo:.3g}, {hi:.3g}]; use image * 2 - 1 for [0, 1]")
    return image.float()


def check_size(h: int, w: int, name: str = "image") -> None:
    if h == 0 or w == 0:
        raise ValueError(f"{name} is empty ({h}x{w} pixels)")
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"{name} is only {h}x{w} pixels; need at least {MIN_SIDE}x{MIN_SIDE}")


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [-1, 1] -> ``(H, W, 3)`` uint8 RGB."""
    image = image.detach()
    if image.ndim == 4:
        image = image[0]
    arr = ((image.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(1, 2, 0).cpu().numpy()


def from_uint8(arr: np.ndarray, name: str = "image") -> torch.Tensor:
    """``(H, W)`` / ``(H, W, 1|3|4)`` uint8 array -> ``(3, H, W)`` float32 in [-1, 1].

    Gray images are repeated to three channels; an alpha channel is dropped.
    """
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be an (H, W, C) array, got shape {arr.shape}")
    c = arr.shape[2]
    if c not in (1, 3, 4):
        raise ValueError(f"{name} has {c} channels; expected 1 (gray), 3 (RGB) or 4 (RGBA)")
    check_size(arr.shape[0], arr.shape[1], name)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name} array must be uint8 in [0, 255], got dtype {arr.dtype}")
    if c == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = np.ascontiguousarray(arr[:, :, :3])
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 127.5 - 1.0
