"""deepsim-lite: DeepSIM (Vinker et al., "Deep Single Image Manipulation") for learning and analysis.

A conditional GAN trained on ONE image and its primitive (edges, segmentation or both), made to
generalise by thin-plate-spline warps of that single pair. Start with ``notebooks/``.
"""

from . import augment, edits, nets, tps, viz
from .augment import CropFlip, augment_pair
from .data import (
    SAMPLES,
    Pair,
    SizeAdjustedWarning,
    fit_size,
    load_image,
    load_pair,
    load_primitive,
    load_sample,
    resize_pair,
    sample_path,
    save_image,
    save_primitive,
)
from .primitives import (
    KINDS,
    KMeansSegmenter,
    Primitive,
    canny_edges,
    decode,
    encode,
    fit_segmenter,
    make_primitive,
    segment,
    to_rgb,
)
from .tps import Omega
from .train import DeepSIMModel, TrainConfig, cached_model, fit, load_model, resume
from .viz import make_grid, show

__version__ = "0.1.0"

__all__ = [
    "DeepSIMModel",
    "TrainConfig",
    "cached_model",
    "edits",
    "fit",
    "load_model",
    "nets",
    "resume",
    "CropFlip",
    "Omega",
    "augment",
    "augment_pair",
    "show",
    "tps",
    "viz",
    "KINDS",
    "KMeansSegmenter",
    "Pair",
    "Primitive",
    "SAMPLES",
    "SizeAdjustedWarning",
    "canny_edges",
    "decode",
    "encode",
    "fit_segmenter",
    "fit_size",
    "load_image",
    "load_pair",
    "load_primitive",
    "load_sample",
    "make_grid",
    "make_primitive",
    "resize_pair",
    "sample_path",
    "save_image",
    "save_primitive",
    "segment",
    "to_rgb",
]
