"""Patch nearest-neighbour distances (paper App. G): how far is each test patch from every training patch?

The paper's explanation of TPS: a test primitive's patches that have no close neighbour among the
training patches are where the generator has nothing to recall, and TPS augmentation brings many of
them within reach; the regions that stay far are where the generator errs. The experiment:

1. :class:`PatchFeatures` — ResNet50 ``layer3`` activations of the primitive picture where its ImageNet
   weights exist; else VGG16's ``relu5_3`` (ImageNet, from torchvision's file or the package index: the
   VGG16 layer with layer3's stride, 16, and the widest receptive field at that stride, 196 px against
   layer3's 267); a labelled random init only as a last resort; or raw 16×16 pixel tiles
   (:func:`~deepsim_lite.analysis.patches.raw_patches`) as a weights-free reference;
2. :func:`build_bank` — the features of the training primitive alone, or with K TPS warps of it (paper: 50);
3. :func:`knn_distance_map` — each test position's 1-NN distance to the bank, searched with faiss
   (exact ``IndexFlatL2`` by default; IVF-PQ for banks that do not fit in memory);
4. :func:`prediction_error_map` — L1 between the features of the generated and the true test image;
5. :func:`correlation` and :func:`region_drop` — how the maps relate.

Every result carries the label of the features that produced it (e.g. ``resnet50-layer3[random-init]``).
Patches and the 1-NN search itself live in :mod:`~deepsim_lite.analysis.patches` (one faiss search, exact by default).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..method import augment
from ..method.tps import Omega
from ..weights.backbones import Backbone, PretrainedWeightsMissing, has_weights, resnet50_layer3, vgg16_features
from .patches import as_rows, build_index, nn_search, raw_patches
from .stats import correlation

__all__ = [
    "PatchFeatures",
    "Bank",
    "build_bank",
    "bank_memory_bytes",
    "faiss_index",
    "knn_distance_map",
    "recall_at_1",
    "prediction_error_map",
    "correlation",
    "region_drop",
    "TPSReach",
    "tps_reach",
    "run_experiment",
    "shipped_pair_paths",
]


class PatchFeatures:
    """Patch features of a picture ``(N, 3, H, W)`` in [-1, 1] -> ``(N, D, h, w)`` on a grid.

    Args:
        name: ``"auto"`` (ResNet50 where its ImageNet weights are at hand, else VGG16 where its are, else a
            random-init ResNet50), ``"resnet50"`` (layer3, D = 1024, stride 16), ``"vgg16"`` (relu5_3,
            D = 512, stride 16) or ``"raw"`` (16×16 pixel tiles from the top-left corner at stride 16,
            :func:`raw_patches` with ``centred=False``; grid ``(H // 16, W // 16)``, D = 3·16·16 = 768 in
            [-1, 1]: the weights-free reference).
        weights: for the networks, ``"auto"`` / ``"imagenet"`` / ``"random"``
            (see :mod:`deepsim_lite.weights.backbones`).
        device: where to run (default: CUDA if available, else CPU).
    """

    STRIDE = 16

    def __init__(self, name: str = "auto", weights: str = "auto", device: str | torch.device | None = None,
                 seed: int = 0) -> None:
        if name not in ("auto", "resnet50", "vgg16", "raw"):
            raise ValueError(f"unknown features {name!r}; choose 'auto', 'resnet50', 'vgg16' or 'raw'")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net, self.normalize = None, None
        if name == "raw":
            self.name, self.label, self.dim = name, "raw-patches-16px", 3 * 16 * 16
            return
        backbone = _patch_backbone(name, weights, seed)
        self.name = "vgg16" if backbone.label.startswith("vgg16") else "resnet50"
        if self.name == "vgg16":
            backbone.net = backbone.net[:30]  # up to relu5_3, before the last max-pool: stride 16
            backbone.label = backbone.label.replace("vgg16", "vgg16-relu5_3")
        self.net, self.label, self.normalize = backbone.net.to(self.device), backbone.label, backbone.normalize
        self.dim = 512 if self.name == "vgg16" else 1024

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"features need pictures (N, 3, H, W) in [-1, 1], got {tuple(images.shape)}; "
                             "draw a primitive first with to_picture()")
        h, w = images.shape[-2:]
        if h < self.STRIDE or w < self.STRIDE:
            raise ValueError(f"pictures must be at least {self.STRIDE}x{self.STRIDE} pixels, got {h}x{w}")
        x = images.to(self.device, torch.float32)
        if self.name == "raw":
            rows = raw_patches(x, self.STRIDE, self.STRIDE, centred=False)  # (N*h*w, 768)
            gh, gw = self.grid(h, w)
            return rows.reshape(x.shape[0], gh, gw, self.dim).permute(0, 3, 1, 2).contiguous()  # (N, 768, h, w)
        return self.net(self.normalize(x))

    def grid(self, h: int, w: int) -> tuple[int, int]:
        """Feature grid size for an ``h``×``w`` picture."""
        if self.name in ("raw", "vgg16"):  # VGG16: four 2x2 max-pools, each rounding down
            return h // self.STRIDE, w // self.STRIDE
        def down(n: int) -> int:  # conv1 (s2), maxpool (s2), layer2 (s2), layer3 (s2), each ceil-ish
            for _ in range(4):
                n = (n + 1) // 2
            return n
        return down(h), down(w)


def _patch_backbone(name: str, weights: str, seed: int) -> Backbone:
    """ResNet50 ``layer3`` or VGG16 for :class:`PatchFeatures`; ``"auto"``: the paper's ResNet50 where its ImageNet
    weights are (cached, else downloadable), else VGG16 where its are, else a random-init ResNet50."""
    if name != "auto":
        return resnet50_layer3(weights, seed) if name == "resnet50" else vgg16_features(weights, seed)
    if weights == "random" or has_weights("resnet50") or not has_weights("vgg16"):
        with warnings.catch_warnings(record=True) as missed:  # said below, once, if VGG16 cannot stand in either
            warnings.simplefilter("always", PretrainedWeightsMissing)
            resnet = resnet50_layer3(weights, seed)
        if resnet.pretrained or weights == "random":
            return resnet
        vgg = vgg16_features("auto", seed)  # from the package index, where torchvision's host failed
        if vgg.pretrained:
            return vgg
        for w in missed:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return resnet
    return vgg16_features(weights, seed)


@dataclass
class Bank:
    """Training patch features: ``vectors`` ``(M, D)`` float32 from ``n_images`` pictures, ``label`` of the features."""

    vectors: torch.Tensor
    n_images: int
    grid: tuple[int, int]
    label: str

    @property
    def nbytes(self) -> int:
        return self.vectors.numel() * self.vectors.element_size()


def bank_memory_bytes(n_images: int, grid: tuple[int, int], dim: int) -> int:
    """Memory of a float32 bank of ``n_images`` feature maps of ``grid`` positions and ``dim`` channels."""
    return n_images * grid[0] * grid[1] * dim * 4


def _flatten(feats: torch.Tensor) -> torch.Tensor:
    """``(N, D, h, w)`` -> ``(N*h*w, D)`` float32 on the CPU."""
    return feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1]).float().cpu()


def build_bank(picture: torch.Tensor, features: PatchFeatures, n_aug: int = 0, generator: torch.Generator | None = None,
               omega: Omega | None = None, batch: int = 8) -> Bank:
    """Features of a training picture ``(3, H, W)`` and of ``n_aug`` TPS warps of it (nearest sampling,
    so a drawn primitive stays crisp), computed ``batch`` pictures at a time on the features' device."""
    if picture.ndim != 3 or picture.shape[0] != 3:
        raise ValueError(f"training picture must be (3, H, W), got {tuple(picture.shape)}")
    if n_aug < 0:
        raise ValueError(f"n_aug must be >= 0, got {n_aug}")
    h, w = picture.shape[-2:]
    pic = picture.to(features.device)
    chunks = [_flatten(features(pic[None]))]
    done = 0
    while done < n_aug:
        b = min(batch, n_aug - done)
        grid = augment.sample_grids("tps", b, h, w, generator, features.device, omega=omega)
        warped = augment.warp(pic[None].expand(b, -1, -1, -1), grid, "nearest", "reflection")
        chunks.append(_flatten(features(warped)))
        done += b
    return Bank(torch.cat(chunks), 1 + n_aug, features.grid(h, w), features.label)


def faiss_index(bank: Bank, exact: bool = True, nlist: int | None = None, m: int = 64, nprobe: int = 8,
                use_gpu: bool | None = None):
    """A faiss index over the bank's ``(M, D)`` vectors.

    Args:
        exact: ``IndexFlatL2`` (exact). False -> ``IndexIVFPQ`` with ``nlist`` cells (default
            ≈ 4·sqrt(M)), ``nprobe`` of them searched per query, and ``m`` sub-quantisers of 8 bits:
            D·4/m times less memory, approximate.
            What it costs, measured with :func:`recall_at_1` on the shipped carphone example (10,608
            ResNet50 vectors, random-init weights): recall@1 0.71 with m = 64 (41 MiB -> 0.65 MiB of
            codes), 0.40 with m = 16; PQ distances are approximate too (mean 139.0 vs 139.8 exact).
        use_gpu: move the index to the GPU (default: when faiss-gpu and CUDA are both present).
    """
    return build_index(as_rows(bank.vectors), exact, nlist, m, nprobe, use_gpu)


def knn_distance_map(test_feats: torch.Tensor, bank: Bank, index=None, exact: bool = True) -> torch.Tensor:
    """1-NN L2 distance of every position of ``test_feats`` ``(D, h, w)`` (or ``(1, D, h, w)``) to the bank.

    Searches ``index`` (from :func:`faiss_index` over this bank) if given, else a new exact
    ``IndexFlatL2`` (``exact=False``: IVF-PQ with :func:`faiss_index`'s defaults).
    Returns ``(h, w)`` float32 >= 0 on the CPU (faiss reports squared distances; we take the root,
    clamping the rounding error of ‖a‖² + ‖b‖² − 2ab at 0).
    """
    if test_feats.ndim == 3:
        test_feats = test_feats[None]
    if test_feats.ndim != 4 or test_feats.shape[0] != 1:
        raise ValueError(f"test features must be (D, h, w), got {tuple(test_feats.shape)}")
    if test_feats.shape[1] != bank.vectors.shape[1]:
        raise ValueError(f"test features have {test_feats.shape[1]} channels but the bank has {bank.vectors.shape[1]}")
    rows = as_rows(bank.vectors) if index is None else None
    d = nn_search(as_rows(_flatten(test_feats)), rows, index, exact)
    h, w = test_feats.shape[-2:]
    return torch.from_numpy(d).reshape(h, w)


def recall_at_1(index, bank: Bank, queries: torch.Tensor) -> float:
    """Fraction of ``queries`` ``(Q, D)`` whose nearest neighbour from ``index`` is the exact one."""
    exact = faiss_index(bank, exact=True, use_gpu=False)
    q = np.ascontiguousarray(queries.float().numpy())
    _, a = index.search(q, 1)
    _, b = exact.search(q, 1)
    return float((a[:, 0] == b[:, 0]).mean())


@torch.no_grad()
def prediction_error_map(generated: torch.Tensor, truth: torch.Tensor, features: PatchFeatures) -> torch.Tensor:
    """The paper's prediction error: mean over channels of ``|φ(G(x)) − φ(y)|`` per feature position.

    Args:
        generated, truth: images ``(3, H, W)`` in [-1, 1].

    Returns:
        ``(h, w)`` float32 on the features' grid.
    """
    if generated.shape != truth.shape:
        raise ValueError(f"generated {tuple(generated.shape)} and true {tuple(truth.shape)} images differ in size")
    f = features(torch.stack([generated, truth]))
    return (f[0] - f[1]).abs().mean(0).cpu()


def region_drop(without: torch.Tensor, with_tps: torch.Tensor, labels: torch.Tensor) -> dict[int, float]:
    """Mean drop of the 1-NN distance (without − with TPS) per label of a ``(H, W)`` label map,
    which is reduced to the distance maps' grid by majority vote."""
    h, w = without.shape
    onehot = F.one_hot(labels.long(), int(labels.max()) + 1).permute(2, 0, 1).float()[None]
    votes = F.adaptive_avg_pool2d(onehot, (h, w))[0].argmax(0)
    drop = without - with_tps
    return {int(k): float(drop[votes == k].mean()) for k in torch.unique(votes)}



# ----------------------------------------------------------------------------------------------
# The whole App. G experiment


@dataclass
class TPSReach:
    """Result of :func:`tps_reach`: maps on the feature grid ``(h, w)`` and the numbers about them."""

    features: str  # which features produced the distances, e.g. "resnet50-layer3[random-init]"
    n_aug: int
    d_without: torch.Tensor  # 1-NN distance to the training picture alone
    d_with: torch.Tensor  # ... to the training picture and n_aug TPS warps of it
    error: torch.Tensor | None = None  # prediction error |φ(G(x_test)) − φ(y_test)|
    pixel_error: torch.Tensor | None = None  # (H, W) mean |G(x_test) − y_test| over colour channels
    generated: torch.Tensor | None = None
    feature_norm: torch.Tensor | None = None  # (h, w) norm of the test features: a confounder of both maps

    @property
    def drop(self) -> torch.Tensor:
        return self.d_without - self.d_with

    def summary(self) -> dict:
        """Means and correlations as plain numbers (what the CLI writes to JSON)."""
        out = {"features": self.features, "n_aug": self.n_aug, "grid": list(self.d_with.shape),
               "mean_1nn_without_tps": float(self.d_without.mean()),
               "mean_1nn_with_tps": float(self.d_with.mean()),
               "mean_drop": float(self.drop.mean()),
               "fraction_of_positions_closer": float((self.drop > 0).float().mean())}
        if self.error is not None:
            out["corr_error_vs_1nn_with_tps"] = correlation(self.d_with, self.error, self.feature_norm)
            out["corr_error_vs_1nn_without_tps"] = correlation(self.d_without, self.error, self.feature_norm)
            out["mean_prediction_error"] = float(self.error.mean())
        if self.pixel_error is not None:
            out["mean_pixel_l1"] = float(self.pixel_error.mean())
        return out


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    kw = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x[None].float(), size=size, mode=mode, **kw)[0]


def tps_reach(train_picture: torch.Tensor, test_picture: torch.Tensor, features: PatchFeatures, n_aug: int = 50,
              seed: int = 0, size: tuple[int, int] | None = None, generated: torch.Tensor | None = None,
              truth: torch.Tensor | None = None, exact: bool = True) -> TPSReach:
    """The App. G experiment on one train/test pair of primitive pictures.

    Args:
        train_picture, test_picture: ``(3, H, W)`` pictures of the primitives in [-1, 1]
            (:func:`~deepsim_lite.primitives.to_picture`), same size.
        features: the patch features to compare.
        n_aug: TPS warps added to the bank (paper: 50).
        size: analysis size ``(H', W')``: pictures are resized to it (nearest), images bilinearly.
        generated, truth: optional generated and true test images ``(3, h, w)`` in [-1, 1] for the
            prediction-error map.
    """
    if train_picture.shape != test_picture.shape:
        raise ValueError(f"train {tuple(train_picture.shape)} and test {tuple(test_picture.shape)} pictures "
                         "differ in size")
    size = size or tuple(train_picture.shape[-2:])
    train_p, test_p = _resize(train_picture, size, "nearest"), _resize(test_picture, size, "nearest")
    g = torch.Generator().manual_seed(seed)
    augmented = build_bank(train_p, features, n_aug, g)
    n_plain = augmented.grid[0] * augmented.grid[1]  # the unwarped picture's vectors come first
    plain = Bank(augmented.vectors[:n_plain], 1, augmented.grid, augmented.label)
    test_f = features(test_p[None])
    result = TPSReach(features.label, n_aug, knn_distance_map(test_f, plain, exact=exact),
                      knn_distance_map(test_f, augmented, exact=exact), feature_norm=test_f[0].norm(dim=0).cpu())
    if generated is not None and truth is not None:
        gen, tru = _resize(generated, size, "bilinear"), _resize(truth, size, "bilinear")
        result.error = prediction_error_map(gen.clamp(-1, 1), tru.clamp(-1, 1), features)
        result.pixel_error = (gen - tru).abs().mean(0)
        result.generated = gen.clamp(-1, 1)
    return result


def shipped_pair_paths() -> tuple[str, str]:
    """The shipped App. G example: frames 0 and 60 of the `carphone` clip (data/videos/carphone)."""
    from ..primitives.samples import data_dir

    root = data_dir() / "videos" / "carphone"
    return str(root / "frame_000.png"), str(root / "frame_060.png")


def run_experiment(train_image=None, test_image=None, primitive_kind: str = "edges", features: str = "auto",
                   weights: str = "auto", n_aug: int = 50, scale: float = 2.0, model="cached", preset: str = "lesson",
                   seed: int = 0, progress: bool = False):
    """App. G end to end on two images (default: the shipped carphone frames 0 and 60).

    Extracts both primitives at the model's working size (one segmentation, fitted on the training
    frame), trains (or loads from the cache) a ``preset`` generator on the training pair with TPS,
    renders the test primitive, and runs :func:`tps_reach` at ``scale`` × that size.

    Args:
        model: ``"cached"`` (train once via ``cached_model``), a :class:`~deepsim_lite.method.model.DeepSIMModel`,
            or None (distances only, no prediction error).

    Returns:
        ``(train_pair, test_pair, reach)``.
    """
    from pathlib import Path

    from ..method.cache import cached_model
    from ..method.config import TrainConfig
    from ..method.model import DeepSIMModel
    from ..primitives.extract import extract_primitives
    from ..primitives.images import load_image
    from ..primitives.pairs import Pair, fit_size, resize_pair
    from ..primitives.primitive import to_picture

    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    default_train, default_test = shipped_pair_paths()
    paths = [train_image or default_train, test_image or default_test]
    cfg = TrainConfig.preset(preset, primitive_kind=primitive_kind)
    images = [load_image(p) for p in paths]
    if images[0].shape != images[1].shape:
        raise ValueError(f"train image is {images[0].shape[1]}x{images[0].shape[2]} but test image is "
                         f"{images[1].shape[1]}x{images[1].shape[2]}; use two frames of one video")
    work = fit_size(*images[0].shape[-2:], cfg.multiple, cfg.max_side)
    images = [resize_pair(im, None, work)[0] if tuple(im.shape[-2:]) != work else im for im in images]
    prims = extract_primitives(images, primitive_kind, fit_on=0, n_segments=cfg.n_segments, seed=seed)
    train, test = (Pair(im, pr, Path(p).stem) for im, pr, p in zip(images, prims, paths, strict=True))
    if model == "cached":
        model = cached_model(train, primitive_kind, "tps", preset, progress=progress)
    if model is not None and not isinstance(model, DeepSIMModel):
        raise ValueError(f"model must be 'cached', a DeepSIMModel or None, got {type(model).__name__}")
    generated = model.generate(test.primitive) if model is not None else None
    size = (int(round(train.size[0] * scale)), int(round(train.size[1] * scale)))
    reach = tps_reach(to_picture(train.primitive), to_picture(test.primitive),
                      PatchFeatures(features, weights, seed=seed), n_aug, seed, size, generated,
                      test.image if model is not None else None)
    return train, test, reach
