"""Loading and validating a training pair (image + primitive); the shipped sample registry.

Everything that touches paths lives here (and in ``cli.py``); the rest of the library takes
tensors. Files: images are any format PIL reads; primitives are PNGs:

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
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ._image import check_image, check_size, from_uint8, to_uint8
from ._io import atomic_write_bytes, write_png
from .extract import extract_primitives, make_primitive
from .primitives import EDGE_INDEX, KINDS, PALETTE, Primitive, labels_from_levels, labels_under_edges

__all__ = [
    "Pair",
    "SampleInfo",
    "SAMPLES",
    "SizeAdjustedWarning",
    "data_dir",
    "sample_path",
    "load_image",
    "save_image",
    "load_primitive",
    "save_primitive",
    "fit_size",
    "resize_pair",
    "load_pair",
    "load_pairs",
    "load_sample",
    "sample_region",
]


class SizeAdjustedWarning(UserWarning):
    """An image or primitive was resized or padded to fit the network."""


@dataclass(frozen=True)
class SampleInfo:
    """A shipped photo: its file under ``data/images``, where it comes from, and named regions."""

    file: str
    title: str
    source: str
    licence: str
    # Named boxes (y0, x0, y1, x1), end-exclusive, in pixels of an image of ``region_size`` (H, W);
    # :func:`sample_region` scales them to any working size.
    regions: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    region_size: tuple[int, int] = (0, 0)


SAMPLES: dict[str, SampleInfo] = {
    "chelsea": SampleInfo(
        "chelsea.png", "Chelsea the cat (451x300)", "scikit-image skimage.data.chelsea; photo by Stefan van der Walt",
        "CC0",
        # at the lesson size 84x128 (max_side 128)
        regions={"nose": (56, 60, 74, 84), "right_eye": (28, 80, 48, 100), "left_eye": (20, 34, 44, 62),
                 "background": (0, 108, 84, 128)},
        region_size=(84, 128)),
    "astronaut": SampleInfo(
        "astronaut.png", "Astronaut Eileen Collins (512x512)", "scikit-image skimage.data.astronaut; NASA",
        "public domain"),
    "coffee": SampleInfo(
        "coffee.png", "Coffee cup on a wooden table (600x400)",
        "scikit-image skimage.data.coffee; photo by Rachel Michetti, courtesy of Pikolo Espresso Bar", "CC0"),
    "rocket": SampleInfo(
        "rocket.jpg", "Falcon 9 launch of DSCOVR: rocket, tower, smoke, sky, ground (640x427)",
        "scikit-image skimage.data.rocket; SpaceX", "public domain"),
}


def data_dir() -> Path:
    """The sample-data folder (photos, primitives, shipped edits, clips): ``$DEEPSIM_DATA`` if set, else the
    source tree's ``data/`` (beside the package), else the copy an installed wheel carries
    (``deepsim_lite/sample_data``)."""
    if "DEEPSIM_DATA" in os.environ:
        root = Path(os.environ["DEEPSIM_DATA"])
    else:
        here = Path(__file__).resolve().parent
        root = next((p for p in (here.parent / "data", here / "sample_data") if (p / "images").is_dir()),
                    here.parent / "data")
    if not (root / "images").is_dir():
        raise FileNotFoundError(
            f"sample data folder {root}/images does not exist; set DEEPSIM_DATA to the repo's data/ (or reinstall "
            "the package: its wheel carries the data)"
        )
    return root


def sample_path(name: str) -> Path:
    """Path of the shipped sample photo ``name`` (see :data:`SAMPLES`)."""
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    return data_dir() / "images" / SAMPLES[name].file


def sample_region(name: str, region: str, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A named box of a shipped sample, ``(y0, x0, y1, x1)`` end-exclusive, scaled to an ``size`` = (H, W) image.

    Example:
        >>> sample_region("chelsea", "nose", (84, 128))
        (56, 60, 74, 84)
    """
    info = SAMPLES.get(name)
    if info is None:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    if region not in info.regions:
        known = ", ".join(info.regions) or "none"
        raise ValueError(f"sample {name!r} has no region {region!r}; its regions: {known}")
    (rh, rw), (h, w) = info.region_size, size
    y0, x0, y1, x1 = info.regions[region]
    return (round(y0 * h / rh), round(x0 * w / rw), round(y1 * h / rh), round(x1 * w / rw))


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
# Without an explicit max_side a training pair is downscaled to this longer side (with a note).
MAX_TRAIN_SIDE = 1024


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


# ----------------------------------------------------------------------------------------------
# Pairs and sizes


@dataclass(frozen=True, eq=False)
class Pair:
    """A training pair: ``image`` ``(3, H, W)`` float in [-1, 1] and its :class:`Primitive` of the same size."""

    image: torch.Tensor
    primitive: Primitive
    name: str = ""

    def __post_init__(self) -> None:
        check_image(self.image)
        if tuple(self.image.shape[-2:]) != self.primitive.size:
            raise ValueError(
                f"primitive is {self.primitive.size[0]}x{self.primitive.size[1]} but the image is "
                f"{self.image.shape[-2]}x{self.image.shape[-1]} (HxW); they must be the same size"
            )

    @property
    def size(self) -> tuple[int, int]:
        return self.primitive.size


def fit_size(h: int, w: int, multiple: int = 16, max_side: int | None = None) -> tuple[int, int]:
    """Size the network accepts: scaled so the longer side is at most ``max_side`` (if given),
    then each side rounded to the nearest multiple of ``multiple`` (at least one multiple)."""
    check_size(h, w)
    if max_side is not None and max(h, w) > max_side:
        s = max_side / max(h, w)
        h, w = h * s, w * s

    def r(v: float) -> int:
        return max(multiple, int(round(v / multiple)) * multiple)

    return r(h), r(w)


def _resize_primitive(p: Primitive, size: tuple[int, int]) -> Primitive:
    h, w = size
    labels = edges = None
    if p.labels is not None:
        labels = torch.from_numpy(
            cv2.resize(p.labels.numpy().astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int64)
        )
    if p.edges is not None:
        # Max-pool style downsampling keeps thin edges connected where nearest would drop them.
        e = p.edges.numpy().astype(np.float32)
        e = cv2.resize(e, (w, h), interpolation=cv2.INTER_AREA if h * w < e.size else cv2.INTER_NEAREST)
        edges = torch.from_numpy(e > 0.2)
    return Primitive(labels, edges, p.n_labels)


def resize_pair(
    image: torch.Tensor | None, primitive: Primitive | None, size: tuple[int, int]
) -> tuple[torch.Tensor | None, Primitive | None]:
    """Resize an image (area/bilinear) and a primitive (labels nearest, edges kept thin and binary)."""
    h, w = size
    out_img = None
    if image is not None:
        arr = to_uint8(check_image(image))
        interp = cv2.INTER_AREA if h * w < arr.shape[0] * arr.shape[1] else cv2.INTER_LINEAR
        out_img = from_uint8(cv2.resize(arr, (w, h), interpolation=interp))
    out_prim = _resize_primitive(primitive, size) if primitive is not None else None
    return out_img, out_prim


def _sized(
    image: str | os.PathLike | torch.Tensor,
    primitive: str | os.PathLike | Primitive | None,
    kind: str,
    multiple: int,
    max_side: int | None,
    name: str,
) -> tuple[torch.Tensor, Primitive | None]:
    """Read an image (and its primitive, if given) and size both for a network with ``multiple`` = 2^k."""
    img = load_image(image) if isinstance(image, (str, os.PathLike)) else check_image(image)
    prim = None
    if primitive is not None:
        prim = load_primitive(primitive, kind) if isinstance(primitive, (str, os.PathLike)) else primitive
        if not isinstance(prim, Primitive):
            raise ValueError(f"primitive must be a path or a Primitive, got {type(prim).__name__}")
        if prim.size != tuple(img.shape[-2:]):
            raise ValueError(
                f"primitive is {prim.size[0]}x{prim.size[1]} but the image is {img.shape[-2]}x{img.shape[-1]} "
                "(HxW); they must be the same size"
            )
    if not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be a positive integer (2**n_downsample), got {multiple!r}")
    h, w = img.shape[-2:]
    if min(h, w) < 2 * multiple:
        raise ValueError(f"{name or 'the image'} is {h}x{w} pixels; a network that halves it "
                         f"{multiple.bit_length() - 1} times needs at least {2 * multiple} per side; use a larger "
                         "image or a preset with fewer downsamplings")
    if max_side is None and max(h, w) > MAX_TRAIN_SIDE:
        max_side = MAX_TRAIN_SIDE  # bounds memory and time up front (k-means, training) for a huge photo
    size = fit_size(h, w, multiple, max_side)
    if size != tuple(img.shape[-2:]):
        warnings.warn(
            f"resized {name or 'image'} from {img.shape[-2]}x{img.shape[-1]} to {size[0]}x{size[1]} (HxW): "
            f"sides must be multiples of {multiple}" + (f" and at most {max_side}" if max_side else ""),
            SizeAdjustedWarning,
            stacklevel=3,
        )
        img, prim = resize_pair(img, prim, size)
    return img, prim


def load_pair(
    image: str | os.PathLike | torch.Tensor,
    primitive: str | os.PathLike | Primitive | None = None,
    kind: str = "seg_edges",
    multiple: int = 16,
    max_side: int | None = None,
    n_segments: int = 8,
    seed: int = 0,
    name: str = "",
) -> Pair:
    """Load and validate an image + primitive pair, sized for a network with ``multiple`` = 2^k.

    Args:
        image: a path or a ``(3, H, W)`` tensor in [-1, 1].
        primitive: a PNG path, a :class:`Primitive`, or None to extract ``kind`` from the image
            (after resizing, so edges are one pixel wide at the training size).
        kind: primitive kind when it is extracted or read from a file.
        multiple: both sides are rounded to a multiple of this (16 for 4 downsamplings).
        max_side: optionally scale the image down so its longer side is at most this (None: at most
            ``MAX_TRAIN_SIDE`` = 1024, so a huge photo cannot exhaust memory).

    A resize is announced with a :class:`SizeAdjustedWarning` stating old and new sizes.
    """
    img, prim = _sized(image, primitive, kind, multiple, max_side, name)
    if prim is None:
        prim = make_primitive(img, kind, n_segments=n_segments, seed=seed)
    return Pair(img, prim, name)


def load_pairs(
    images: list[str | os.PathLike | torch.Tensor],
    primitives: list[str | os.PathLike | Primitive] | None = None,
    kind: str = "seg_edges",
    multiple: int = 16,
    max_side: int | None = None,
    n_segments: int = 8,
    seed: int = 0,
    segmentation: str = "kmeans",
    names: list[str] | None = None,
    reference: Pair | None = None,
) -> list[Pair]:
    """Several pairs of one scene (frames of a clip, photos of one object) for one training run.

    Each is loaded as :func:`load_pair` does; they must come out the same size. Extracted primitives share
    ONE segmentation, fitted on the first image (label k is one region in every pair):
    ``segmentation="kmeans"`` labels each image by colour, ``"flow"`` carries the first image's labels by
    optical flow (frames of a video; see :func:`~deepsim_lite.extract.extract_primitives`).

    ``reference``: a model's training pair (fine-tuning): the segmentation is fitted on ITS image instead and
    renumbered to its labels, so label k means what it meant to the model.
    """
    images = list(images)
    if not images:
        raise ValueError("load_pairs needs at least one image")
    if primitives is not None and len(primitives) != len(images):
        raise ValueError(f"{len(images)} images but {len(primitives)} primitives; give one primitive per image")
    names = names or [Path(p).stem if isinstance(p, (str, os.PathLike)) else f"pair{i}" for i, p in enumerate(images)]
    sized = []
    for i, im in enumerate(images):  # a loop, not a comprehension: the size warning's stacklevel counts frames
        sized.append(_sized(im, None if primitives is None else primitives[i], kind, multiple, max_side, names[i]))
    sizes = [tuple(img.shape[-2:]) for img, _ in sized]
    if reference is not None and primitives is None and kind != "edges":
        sizes, names = [reference.size, *sizes], ["the model's training image", *names]
    if len(set(sizes)) > 1:
        listed = ", ".join(f"{n} {s[0]}x{s[1]}" for n, s in zip(names, sizes, strict=True))
        raise ValueError(f"the images come out at different sizes ({listed}); the pairs of one run need one size: "
                         "crop or resize them alike")
    if reference is not None and primitives is None and kind != "edges":
        names = names[1:]
        prims = _labelled_like(reference, [img for img, _ in sized], kind, n_segments, seed, segmentation)
    elif primitives is None:
        prims = extract_primitives([img for img, _ in sized], kind, fit_on=0, n_segments=n_segments, seed=seed,
                                   segmentation=segmentation)
    else:
        prims = [p for _, p in sized]
        counts = {p.n_labels for p in prims}
        if len(counts) > 1:  # files of one segmentation: give them the largest label count
            prims = [p.replace(n_labels=max(counts)) for p in prims]
    return [Pair(img, prim, name) for (img, _), prim, name in zip(sized, prims, names, strict=True)]


def _labelled_like(reference: Pair, images: list[torch.Tensor], kind: str, n_segments: int, seed: int,
                   segmentation: str) -> list[Primitive]:
    """Primitives of ``images`` with the segmentation fitted on ``reference.image``, renumbered so that each
    label is the reference primitive's label it covers (refused when they agree on less than 98% of it)."""
    prims = extract_primitives([reference.image, *images], kind, fit_on=0, n_segments=n_segments, seed=seed,
                               segmentation=segmentation)
    new, old = prims[0].labels.numpy(), reference.primitive.labels.numpy()
    table = np.full(max(int(p.labels.max()) for p in prims) + 1, -1)
    for j in np.unique(new):
        table[j] = np.bincount(old[new == j]).argmax()
    agree = float((table[new] == old).mean())
    if agree < 0.98:
        raise ValueError(f"the segmentation fitted again on the model's training image agrees with its labels on "
                         f"{agree:.0%} of the pixels only (n_segments or seed differ?); give the primitives instead")
    out = []
    for p in prims[1:]:
        labels = table[p.labels.numpy()]
        if (labels < 0).any():  # a cluster the reference does not use: its pixels take the labels around them
            labels = labels_under_edges(labels, labels < 0)
        out.append(Primitive(torch.from_numpy(labels), p.edges, reference.primitive.n_labels))
    return out


def load_sample(
    name: str, kind: str = "seg_edges", max_side: int | None = None, multiple: int = 16, **kwargs
) -> Pair:
    """A shipped sample photo as a :class:`Pair`, its primitive extracted at the working size.

    Example:
        >>> pair = load_sample("chelsea", "edges", max_side=128)
        >>> pair.image.shape, pair.primitive.kind
        (torch.Size([3, 80, 128]), 'edges')
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SizeAdjustedWarning)  # the caller asked for a size
        return load_pair(sample_path(name), None, kind, multiple, max_side, name=name, **kwargs)
