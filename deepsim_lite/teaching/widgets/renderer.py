"""What the editor renders with: a trained model, a model file, a bare generator or any callable,
turned into one ``Primitive -> (3, H, W)`` function and checked against the primitive being edited.

Needs no front end (no ipywidgets): usable from scripts and benchmarks too.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ..._image import check_image, to_uint8
from ...analysis.patchnn import PatchNN
from ...method.model import DeepSIMModel, load_model, render
from ...method.nets import GlobalGenerator
from ...method.viz import as_rgb
from ...primitives.primitive import Primitive, encode
from .state import Render

__all__ = ["as_renderer", "reference_picture"]


def as_renderer(model: DeepSIMModel | GlobalGenerator | Render | str | os.PathLike,
                primitive: Primitive) -> Render:
    """Turn what the user has into ``Primitive -> (3, H, W)`` image in [-1, 1], checked against ``primitive``.

    Accepts a trained :class:`~deepsim_lite.method.model.DeepSIMModel`, a path to one (``model.pt``, a
    checkpoint or a run directory), a :class:`~deepsim_lite.analysis.patchnn.PatchNN` patch renderer, a bare
    generator module (fed :func:`encode` of the primitive), or any callable with that signature.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if isinstance(model, PatchNN):
        model.check_primitive(primitive)
        return model.generate
    if isinstance(model, DeepSIMModel):
        model.check_primitive(primitive)
        if tuple(model.size) != primitive.size:
            raise ValueError(f"the primitive is {primitive.size[0]}x{primitive.size[1]} but the model was trained at "
                             f"{model.size[0]}x{model.size[1]}; edit a primitive of the trained size")
        return model.generate
    if isinstance(model, torch.nn.Module):
        first = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
        if first is not None and first.in_channels != primitive.channels:
            raise ValueError(f"the generator takes {first.in_channels} input channels but the primitive encodes to "
                             f"{primitive.channels}; pass the primitive it was trained on")
        generator = model.eval()

        def render_primitive(p: Primitive) -> torch.Tensor:
            return render(generator, encode(p)[None])[0].cpu()

        return render_primitive
    if callable(model):
        return model
    raise ValueError(f"expected a trained DeepSIMModel, a generator, a model path or a callable; "
                     f"got {type(model).__name__}")


def reference_picture(image: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The training image as ``(H, W, 3)`` uint8, checked to match the primitive's size."""
    rgb = to_uint8(check_image(image, "training image")) if isinstance(image, torch.Tensor) else as_rgb(image)
    if rgb.shape[:2] != tuple(size):
        raise ValueError(f"the training image is {rgb.shape[0]}x{rgb.shape[1]} but the primitive is "
                         f"{size[0]}x{size[1]} (HxW); pass the image the model was trained on")
    return rgb
