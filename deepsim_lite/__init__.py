"""deepsim-lite: DeepSIM (Vinker et al., "Deep Single Image Manipulation") for learning and analysis.

A conditional GAN trained on ONE image and its primitive (edges, segmentation or both), made to
generalise by thin-plate-spline warps of that single pair. Start with ``notebooks/``.

The way from photo to edited photo, one module each: :mod:`data` (load a pair), :mod:`extract`
(primitives from photos), :mod:`primitives` (the Primitive type), :mod:`tps` and :mod:`augment`
(warps), :mod:`config` (TrainConfig), :mod:`train` (fit), :mod:`model` (generate, save, load),
:mod:`cache` (lesson models), :mod:`edits` and :mod:`widgets` (editing), :mod:`drawn` (primitives
drawn in another program). Measuring: :mod:`video` (the paper's video benchmark), :mod:`heldout`,
:mod:`sweep` (grids of benchmark cells on Ray, this machine or a cluster).
"""

from . import augment, drawn, edits, extract, heldout, nets, tps, viz
from ._version import __version__
from .augment import CropFlip, augment_pair
from .cache import cache_dir, cached_model
from .config import PRESETS, TrainConfig
from .data import (
    SAMPLES,
    Pair,
    SizeAdjustedWarning,
    fit_size,
    load_image,
    load_pair,
    load_pairs,
    load_primitive,
    load_sample,
    resize_pair,
    sample_path,
    sample_region,
    save_image,
    save_primitive,
)
from .drawn import conform
from .extract import (
    KMeansSegmenter,
    canny_edges,
    carry_labels,
    extract_primitives,
    fit_segmenter,
    make_primitive,
    segment,
)
from .lessons import lesson_config
from .model import DeepSIMModel, load_model
from .primitives import KINDS, Primitive, decode, encode, to_rgb
from .tps import Omega
from .train import fit, resume
from .viz import make_grid, show

__all__ = [
    "__version__",
    "KINDS",
    "PRESETS",
    "SAMPLES",
    "CropFlip",
    "DeepSIMModel",
    "KMeansSegmenter",
    "Omega",
    "Pair",
    "Primitive",
    "SizeAdjustedWarning",
    "TrainConfig",
    "augment",
    "augment_pair",
    "cache_dir",
    "cached_model",
    "canny_edges",
    "conform",
    "decode",
    "drawn",
    "carry_labels",
    "edits",
    "encode",
    "extract",
    "extract_primitives",
    "fit",
    "fit_segmenter",
    "fit_size",
    "heldout",
    "lesson_config",
    "load_image",
    "load_model",
    "load_pair",
    "load_pairs",
    "load_primitive",
    "load_sample",
    "make_grid",
    "make_primitive",
    "nets",
    "resize_pair",
    "resume",
    "sample_path",
    "sample_region",
    "save_image",
    "save_primitive",
    "segment",
    "show",
    "to_rgb",
    "tps",
    "viz",
]
