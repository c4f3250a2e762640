"""Shared helpers of the widget tests: a small primitive and a recording renderer."""

from __future__ import annotations

import torch

import deepsim_lite as ds
from deepsim_lite.method.nets import GlobalGenerator


def _prim() -> ds.Primitive:
    labels = torch.zeros(32, 48, dtype=torch.long)
    labels[8:16, 8:16] = 2  # an object
    labels[:, 36:] = 1
    edges = torch.zeros(32, 48, dtype=torch.bool)
    edges[8, 8:16] = True
    return ds.Primitive(labels, edges, 3)


class Recorder:
    """A real (random-init) generator that also records every primitive it was asked to render."""

    def __init__(self, prim: ds.Primitive) -> None:
        config = ds.TrainConfig.preset("lesson", primitive_kind=prim.kind, ngf=4, n_downsample=2, n_blocks=1)
        gen = GlobalGenerator(prim.channels, 3, config.ngf, config.n_downsample, config.n_blocks)
        self.model = ds.DeepSIMModel(gen, prim.n_labels, prim.has_edges, prim.size, config)
        self.calls: list[ds.Primitive] = []

    def __call__(self, p: ds.Primitive) -> torch.Tensor:
        self.calls.append(p)
        return self.model.generate(p)
