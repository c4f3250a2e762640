"""The shipped samples: photos with their sources and licences, named regions, and the data folder.

Example:
    >>> import deepsim_lite as ds
    >>> pair = ds.load_sample("chelsea", "edges", max_side=128)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .edits import border_label
from .pairs import Pair, SizeAdjustedWarning, load_pair
from .primitive import Primitive

__all__ = ["SampleInfo", "SAMPLES", "data_dir", "sample_path", "sample_region", "background_label", "load_sample"]


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
        package = Path(__file__).resolve().parent.parent  # deepsim_lite/
        root = next((p for p in (package.parent / "data", package / "sample_data") if (p / "images").is_dir()),
                    package.parent / "data")
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


def background_label(primitive: Primitive | Pair, sample: str | None = None) -> int:
    """The label of ``primitive`` that stands for the photo's background: what ``fill="background"`` paints.

    Labels are k-means clusters of one image at one size, so the background's number differs from photo to photo
    and from size to size; it is looked up in the primitive itself:

    * a shipped sample with a named ``"background"`` region (chelsea: the out-of-focus room at the right): the label
      covering most of that region (ties: the lower label);
    * any other primitive (no sample, or one without that region): the label covering most of the primitive's
      outer rows and columns (:func:`~deepsim_lite.primitives.edits.border_label`), as a photo's subject seldom
      fills the frame. On a close-up that can be the subject's: then pass the label to the edit yourself.

    Args:
        primitive: a primitive with labels, or a :class:`Pair` (its primitive; its name, when it is a shipped
            sample's, is the sample).
        sample: the shipped sample the primitive was made from (default: the pair's name, if it is one).

    Example:
        >>> pair = load_sample("chelsea", "seg", max_side=128, multiple=4)
        >>> k = background_label(pair)        # the room's label in THIS primitive
    """
    if isinstance(primitive, Pair):
        sample = sample if sample is not None else (primitive.name if primitive.name in SAMPLES else None)
        primitive = primitive.primitive
    if primitive.labels is None:
        raise ValueError("this edge-only primitive has no labels; a background label needs a segmentation")
    if sample is not None and sample not in SAMPLES:
        raise ValueError(f"unknown sample {sample!r}; choose one of {', '.join(SAMPLES)}")
    if sample is None or "background" not in SAMPLES[sample].regions:
        return border_label(primitive)
    y0, x0, y1, x1 = sample_region(sample, "background", primitive.size)
    inside = primitive.labels[y0:y1, x0:x1].reshape(-1)
    return int(torch.bincount(inside, minlength=primitive.n_labels).argmax())


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
