"""deepsim-lite: DeepSIM (Vinker et al., "Deep Single Image Manipulation") for learning and analysis.

A conditional GAN trained on ONE image and its primitive (edges, segmentation or both), made to
generalise by thin-plate-spline warps of that single pair. Start with ``notebooks/``.

The package is in layers, each importing only those below it (docs/architecture.md):

* :mod:`.primitives` — the Primitive type, extraction, edits, drawn primitives, images, pairs, samples;
* :mod:`.method` — TPS warps, augmentation, networks, losses, config, training (step, loop, checkpoints),
  the trained model, the model cache, pictures;
* :mod:`.analysis` — metrics, kNN (App. G), the patch baseline, the video benchmark, held-out sets,
  failure modes, sweeps;
* :mod:`.teaching` — lessons, exercises, the student build, the editor widget;
* :mod:`.cli` on top; plumbing (``_io``, ``_image``) and :mod:`.weights` (ImageNet backbones) at the bottom.

``import deepsim_lite as ds`` gives the names lessons and docs use: the functions and classes below, and
each concept module by its name (``ds.tps``, ``ds.knn``, ``ds.video``, ...), loaded when first used.
"""


import importlib

from . import _moved
from ._version import __version__
from .method.augment import CropFlip, augment_pair
from .method.cache import cache_dir, cached_model
from .method.config import PRESETS, TrainConfig
from .method.model import DeepSIMModel, load_model
from .method.tps import Omega
from .method.train import fit, resume
from .method.viz import make_grid, show
from .primitives.drawn import conform
from .primitives.extract import (
    KMeansSegmenter,
    canny_edges,
    carry_labels,
    extract_primitives,
    fit_segmenter,
    make_primitive,
    segment,
)
from .primitives.images import load_image, load_primitive, save_image, save_primitive
from .primitives.pairs import Pair, SizeAdjustedWarning, fit_size, load_pair, load_pairs, resize_pair
from .primitives.primitive import KINDS, Primitive, decode, encode, to_rgb
from .primitives.samples import SAMPLES, background_label, data_dir, load_sample, sample_path, sample_region
from .teaching.lessons import lesson_config

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
    "background_label",
    "cache_dir",
    "cached_model",
    "data_dir",
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


_moved.install()  # old module paths (deepsim_lite.train, ...) keep working for one release, with a warning


def __getattr__(name: str):
    """``ds.tps``, ``ds.knn``, ...: a concept module by its name, imported on first use."""
    if name in _moved.PUBLIC_MODULES:
        return importlib.import_module(f"{__name__}.{_moved.PUBLIC_MODULES[name]}")
    if name in _moved.MOVED:  # an old module path that is not a public name (ds.data): warns
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_moved.PUBLIC_MODULES})
