"""A training pair (image + primitive of the same size) and the sizes a network accepts.

:func:`load_pair` reads or takes an image and its primitive, sizes both for a network that halves them
``n_downsample`` times (extracting the primitive at the working size when none is given); :func:`load_pairs`
does it for several images of one scene with ONE segmentation.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .._image import check_image, check_size, from_uint8, to_uint8
from .extract import extract_primitives, make_primitive
from .images import load_image, load_primitive
from .primitive import Primitive, labels_under_edges

__all__ = ["MAX_TRAIN_SIDE", "Pair", "SizeAdjustedWarning", "fit_size", "resize_pair", "load_pair", "load_pairs"]

# Without an explicit max_side a training pair is downscaled to this longer side (with a note).
MAX_TRAIN_SIDE = 1024


class SizeAdjustedWarning(UserWarning):
    """An image or primitive was resized or padded to fit the network."""


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
    optical flow (frames of a video; see :func:`~deepsim_lite.primitives.extract.extract_primitives`).

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
