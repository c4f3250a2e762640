"""Image and primitive files: reading any photo PIL reads, writing PNG/JPEG, primitives as PNGs.

Everything that touches an image or primitive file lives here (paths of a pair: :mod:`.pairs`; of the shipped
samples: :mod:`.samples`); the rest of the library takes tensors. Primitives are PNGs:

* edges: gray PNG (8 or 16 bit), value above half scale on an edge pixel (white lines on black, Canny's output);
* seg: palette ("P") PNG whose palette index is the label, or a gray PNG with one level per
  region (levels mapped to 0..K-1 in increasing order, see :func:`~deepsim_lite.primitives.labels_from_levels`);
* seg_edges (super-primitive): palette PNG, index = label, index 255 = edge pixel; the label under an
  edge pixel is taken from the nearest non-edge pixel.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .._image import check_image, check_size, from_uint8, to_uint8
from .._io import atomic_write_bytes, write_png
from .primitive import EDGE_INDEX, KINDS, PALETTE, Primitive, labels_from_levels, labels_under_edges

__all__ = ["MAX_PIXELS", "load_image", "save_image", "load_primitive", "save_primitive"]


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist; check the path")
    if p.is_dir():
        raise ValueError(f"{p} is a folder, expected an image file")
    return p


# Larger images are refused before they are decoded (a 200 MP PNG can be a few hundred KB: a
# "decompression bomb"); this is well above any photo the networks train on.
MAX_PIXELS = 64_000_000


def _read_pil(path: str | os.PathLike) -> Image.Image:
    p = _check_path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(p)
            if img.width * img.height > MAX_PIXELS:
                raise Image.DecompressionBombError(f"{img.width}x{img.height} pixels")
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ValueError(f"{p} is too large to read ({str(err).split(',')[0]}; at most {MAX_PIXELS // 10**6} "
                         "megapixels); downscale it first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{p} is not a readable image ({err.__class__.__name__}); give a PNG or JPEG file") from None
    check_size(img.height, img.width, str(p))
    return img


def _gray_levels(img: Image.Image) -> tuple[np.ndarray, int]:
    """A one-channel image's values and their full-scale value: 8-bit -> 255, 16-bit -> 65535."""
    arr = np.array(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return arr.astype(np.int64), 65535
    if img.mode == "I":  # 16-bit PGM, older Pillow's 16-bit PNG, 32-bit TIFF: read as 16-bit, never by content
        if arr.min() < 0 or arr.max() > 65535:
            raise ValueError(f"32-bit gray values in [{arr.min()}, {arr.max()}]; save the image with 8 or 16 bits")
        return arr.astype(np.int64), 65535
    if img.mode == "F":
        raise ValueError("floating-point images are not supported; save an 8- or 16-bit PNG")
    return np.array(img.convert("L")).astype(np.int64), 255


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image file -> ``(3, H, W)`` float32 in [-1, 1].

    8- and 16-bit files, gray, gray+alpha, RGB, RGBA and palette images are read at their full scale
    (16-bit values divided by 257); gray is repeated to three channels, alpha dropped.
    """
    img = _read_pil(path)
    try:
        if img.mode.startswith("I") or img.mode == "F":
            values, full = _gray_levels(img)
            arr = np.rint(values * (255 / full)).astype(np.uint8)
        else:
            arr = np.array(img.convert("RGB"))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return from_uint8(arr, str(path))


def save_image(path: str | os.PathLike, image: torch.Tensor | np.ndarray) -> None:
    """Write an image atomically in the format its suffix names (``.png``; ``.jpg``/``.jpeg`` at quality 95).

    ``image`` is ``(3, H, W)`` float in [-1, 1] or ``(H, W, 3)`` uint8.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"{path}: cannot write a {suffix or 'suffix-less'} file; name it .png, .jpg or .jpeg")
    arr = image if isinstance(image, np.ndarray) else to_uint8(check_image(image))
    if suffix == ".png":
        write_png(path, arr)
    else:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=95)
        atomic_write_bytes(path, buf.getvalue())


def save_primitive(path: str | os.PathLike, primitive: Primitive) -> None:
    """Write a primitive as PNG (format in the module docstring), atomically."""
    if primitive.labels is None:
        img = Image.fromarray(primitive.edges.cpu().numpy().astype(np.uint8) * 255, mode="L")
    else:
        if primitive.n_labels > EDGE_INDEX:
            raise ValueError(f"a PNG primitive holds at most {EDGE_INDEX} labels, got {primitive.n_labels}")
        idx = primitive.labels.cpu().numpy().astype(np.uint8)
        if primitive.edges is not None:
            idx = idx.copy()
            idx[primitive.edges.cpu().numpy()] = EDGE_INDEX
        img = Image.fromarray(idx, mode="P")
        img.putpalette(PALETTE.ravel().tolist())
    write_png(path, img)


def load_primitive(
    path: str | os.PathLike,
    kind: str | None = None,
    n_labels: int | None = None,
    levels: list[int] | None = None,
) -> Primitive:
    """Read a primitive PNG (format in the module docstring).

    Args:
        path: PNG file.
        kind: ``"edges"``, ``"seg"`` or ``"seg_edges"``; None -> inferred (gray with only 0/255 ->
            edges; palette with index 255 -> seg_edges; else seg).
        n_labels: label count the model expects; labels >= it are rejected. None -> max label + 1.
        levels: gray level of each label for gray label images (see ``labels_from_levels``).
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown primitive kind {kind!r}; choose one of {', '.join(KINDS)}")
    img = _read_pil(path)
    if img.mode in ("RGB", "RGBA"):
        raise ValueError(
            f"{path} is a colour image; save label maps as palette or gray PNGs (deepsim_lite.save_primitive)"
        )
    palette = img.mode == "P"
    try:
        arr, full = (np.array(img), 255) if palette else _gray_levels(img)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    if kind is None:
        if palette:
            kind = "seg_edges" if np.any(arr == EDGE_INDEX) else "seg"
        else:
            kind = "edges" if set(np.unique(arr).tolist()) <= {0, full} else "seg"
    if kind == "edges":
        if palette:
            return Primitive(None, torch.from_numpy(arr == EDGE_INDEX), 0)
        return Primitive(None, torch.from_numpy(arr > full // 2), 0)
    edges = None
    if kind == "seg_edges":
        if not palette:
            raise ValueError(f"{path}: a super-primitive must be a palette PNG with index {EDGE_INDEX} on edges")
        edge_mask = arr == EDGE_INDEX
        try:
            arr = labels_under_edges(arr, edge_mask)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        edges = torch.from_numpy(edge_mask)
    labels = torch.from_numpy(arr.astype(np.int64)) if palette else labels_from_levels(arr, levels)
    n = int(labels.max()) + 1 if n_labels is None else n_labels
    try:
        return Primitive(labels, edges, n)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
