"""A training-free baseline: render a primitive from the training pair's own patches (GPNN-style).

Generative patch nearest-neighbours ("Drop the GAN", Granot et al., CVPR 2022) makes new images from one
image by copying its patches, coarse to fine, in seconds and with no training. :class:`PatchNN` is its
conditional form for DeepSIM's setting — the question App. G asks of a TPS-trained generator: how far is it
from patch retrieval?

Given the training pair (primitive x, image y) and a new primitive x', every patch of x' finds its nearest
patch of x, and the output is composed from the *matching patches of y*, overlapping patches averaged. The
bank of (x, y) patches can also hold TPS warps of the pair (``n_aug``; App. G's bank). Over a small pyramid,
coarse to fine: at the coarsest level the primitive alone chooses; then each level's query also holds the
output so far, upsampled, matched against y blurred the same way (GPNN's query and key), so that neighbouring
choices agree; further passes at a level match the output against y itself. The edge channel is blurred a
little before matching, so a stroke one pixel off still finds its patch, and each window also carries its place
in the frame (weighted by ``position_weight``), so that among similar windows the one from the same place wins.
For speed, windows are compared in their 64 principal components and queried every other pixel.

Search is :func:`~deepsim_lite.analysis.patches.nn_search` (faiss: exact by default, IVF-PQ for a bank over
``exact_max_rows``; a GPU index when faiss-gpu and CUDA are there). A :class:`PatchNN` has the input and output
conventions of :class:`~deepsim_lite.method.model.DeepSIMModel` (``generate``, ``check_primitive``, ``size``), so it is
one more "method" for the editor, the video benchmark and the held-out scores.

Example:
    >>> renderer = PatchNN(pair)                      # builds the patch banks: no training
    >>> image = renderer.generate(edited_primitive)   # (3, H, W) in [-1, 1]
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..method import augment
from ..primitives.pairs import Pair
from ..primitives.primitive import Primitive, check_reads, encode
from .patches import as_rows, build_index, nn_search, raw_patches

__all__ = ["PatchNNConfig", "PatchNN"]


@dataclass(frozen=True)
class PatchNNConfig:
    """How :class:`PatchNN` matches and composes. Defaults: GPNN's 7x7 patches over a 3-level pyramid."""

    patch: int = 7  # window side in pixels (odd)
    levels: int = 3  # pyramid levels, each twice the side of the one before (fewer if the image is small)
    passes: int = 2  # matching passes per level (GPNN: 10); the first uses the upsampled output of the level below
    image_weight: float = 1.0  # weight of the output-so-far in a query, against 1 for the primitive's one-hot
    edge_sigma: float = 1.0  # Gaussian blur (pixels) of the edge channel before matching
    n_aug: int = 0  # TPS warps of the training pair added to the bank (App. G uses 50)
    bank_stride: int = 2  # keep the bank window at every k-th pixel (2: a quarter of them)
    query_stride: int = 2  # match the window at every k-th output pixel (overlapping windows still cover all)
    pca_dims: int | None = 64  # match in this many principal components of the bank's windows (None: all)
    # weight of a window's place in the frame (0..1 per axis): among similar windows, take the one from the same
    # place — an edge map's flat windows match anywhere. Set by trying 0, 1 and 3 on carphone's frames (a quick
    # check, not a committed benchmark), so that clip's patchnn rows in the video table are tuned on it.
    position_weight: float = 3.0
    exact_max_rows: int = 400_000  # banks up to this many rows are searched exactly, larger ones with IVF-PQ
    seed: int = 0  # the bank's warps

    def __post_init__(self) -> None:
        for name, low in (("patch", 1), ("levels", 1), ("passes", 1), ("bank_stride", 1), ("query_stride", 1),
                          ("exact_max_rows", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.patch % 2 == 0:
            raise ValueError(f"patch must be odd (a window centred on its pixel), got {self.patch}")
        if self.query_stride > self.patch // 2 + 1:  # the last window centre is within k - 1 of the border
            raise ValueError(f"query_stride {self.query_stride} would leave border pixels no window covers; at most "
                             f"{self.patch // 2 + 1} for {self.patch}x{self.patch} windows")
        if self.pca_dims is not None and (isinstance(self.pca_dims, bool) or not isinstance(self.pca_dims, int)
                                          or self.pca_dims < 1):
            raise ValueError(f"pca_dims must be a positive integer or None, got {self.pca_dims!r}")
        if isinstance(self.n_aug, bool) or not isinstance(self.n_aug, int) or self.n_aug < 0:
            raise ValueError(f"n_aug must be an integer >= 0, got {self.n_aug!r}")
        for name in ("image_weight", "edge_sigma", "position_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


class PatchNN:
    """Render primitives from one training pair's patches, GPNN-style (module docstring). No training."""

    def __init__(self, pair: Pair, config: PatchNNConfig | None = None) -> None:
        if not isinstance(pair, Pair):
            raise ValueError(f"expected a Pair (image + primitive), got {type(pair).__name__}")
        self.config = config or PatchNNConfig()
        self.pair = pair
        p = pair.primitive
        self.n_labels, self.has_edges, self.size = p.n_labels, p.has_edges, p.size
        t0 = time.perf_counter()
        self.sizes = self._pyramid(p.size)
        images, prims = self._bank_pairs()
        # per level: the keys each pass matches against (see _level_bank)
        self._levels = [self._level_bank(images, prims, size, level == 0) for level, size in enumerate(self.sizes)]
        self.info = {"method": "patchnn", "name": pair.name, "config": asdict(self.config),
                     "bank_rows": int(self._levels[-1]["values"].shape[0]), "build_s": time.perf_counter() - t0}

    # -- what DeepSIMModel offers
    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def check_primitive(self, primitive: Primitive) -> None:
        """Raise a one-line ``ValueError`` if ``primitive`` is not of the training pair's kind and labels."""
        check_reads(primitive, self.n_labels, self.has_edges, "the patch renderer's pair has")
        if primitive.size != self.size:
            raise ValueError(f"the primitive is {primitive.size[0]}x{primitive.size[1]} but the pair is "
                             f"{self.size[0]}x{self.size[1]}; resize it first (ds.resize_pair)")

    def generate(self, primitive: Primitive | torch.Tensor) -> torch.Tensor:
        """Render a primitive: ``(3, H, W)`` float in [-1, 1] (a batch of encodings ``(N, C_p, H, W)`` gives
        ``(N, 3, H, W)``), as :meth:`DeepSIMModel.generate` does."""
        if isinstance(primitive, torch.Tensor):
            x = (primitive if primitive.ndim == 4 else primitive[None]).detach().cpu()
            expected = self.n_labels + int(self.has_edges)
            if x.ndim != 4 or x.shape[1] != expected or tuple(x.shape[-2:]) != self.size:
                raise ValueError(f"encoded primitive has shape {tuple(primitive.shape)}; expected (C_p, H, W) or "
                                 f"(N, C_p, H, W) with C_p = {expected} and H, W = {self.size}")
            out = torch.stack([self._render(xi.float()) for xi in x])
            return out if primitive.ndim == 4 else out[0]
        self.check_primitive(primitive)
        return self._render(encode(primitive))

    __call__ = generate

    # -- the banks
    def _pyramid(self, size: tuple[int, int]) -> list[tuple[int, int]]:
        """Level sizes, coarsest first; a level needs sides above the patch radius (reflection padding)."""
        h, w = size
        sizes = [(h, w)]
        while len(sizes) < self.config.levels:
            nh, nw = round(sizes[-1][0] / 2), round(sizes[-1][1] / 2)
            if min(nh, nw) < 2 * self.config.patch:
                break
            sizes.append((nh, nw))
        if min(h, w) <= self.config.patch // 2:
            raise ValueError(f"the pair is {h}x{w}; {self.config.patch}x{self.config.patch} patches need sides above "
                             f"{self.config.patch // 2}")
        return sizes[::-1]

    def _bank_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training pair and, with ``n_aug``, its TPS warps: images ``(N, 3, H, W)``, encodings
        ``(N, C_p, H, W)``."""
        image, cond = self.pair.image[None], encode(self.pair.primitive)[None]
        if not self.config.n_aug:
            return image, cond
        g = torch.Generator().manual_seed(self.config.seed)
        warped_img, warped_cond = augment.augment_pair(image, cond, "tps", batch=self.config.n_aug, generator=g)
        return torch.cat([image, warped_img]), torch.cat([cond, warped_cond])

    def _features(self, cond: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Matching features of encodings ``(N, C_p, H, W)`` at ``size``: the edge channel blurred, then resized."""
        x = cond.float()
        if self.has_edges and self.config.edge_sigma > 0:
            x = torch.cat([x[:, :-1], _blur(x[:, -1:], self.config.edge_sigma)], 1)
        return _resize(x, size)

    def _level_bank(self, images: torch.Tensor, prims: torch.Tensor, size: tuple[int, int], coarsest: bool) -> dict:
        """A level's image windows (the values) and the indexes its passes search: at the coarsest level the
        first pass matches the primitive alone; at a finer one the primitive + y blurred as an upsampled
        output of the level below is; later passes match the primitive + y."""
        c, k = self.config, self.config.bank_stride
        y = _resize(images, size)
        prim_rows = raw_patches(self._features(prims, size), c.patch, k)
        w = c.image_weight
        where = _centres(size, k).repeat(len(images), 1)  # the bank's rows: picture, then window row, then column
        if coarsest:
            first = self._index(prim_rows, where)
        else:
            blurred = _resize(_resize(images, (round(size[0] / 2), round(size[1] / 2))), size)
            first = self._index(torch.cat([prim_rows, w * raw_patches(blurred, c.patch, k)], 1), where)
        later = (self._index(torch.cat([prim_rows, w * raw_patches(y, c.patch, k)], 1), where)
                 if c.passes > 1 else None)
        return {"size": size, "values": raw_patches(y, c.patch, k), "first": first, "later": later}

    def _index(self, rows: torch.Tensor, where: torch.Tensor) -> dict:
        """A faiss index over ``rows`` in their first ``pca_dims`` principal components, with the windows' places
        ``where`` ``(N, 2)`` (queries are projected the same way by :meth:`_project`)."""
        mean, basis = rows.mean(0), None
        k = self.config.pca_dims
        if k is not None and rows.shape[1] > k:  # the top eigenvectors of the D x D covariance (not an N x D SVD)
            centred = rows - mean
            _, vectors = torch.linalg.eigh(centred.T.double() @ centred.double())
            basis = vectors[:, -k:].flip(1).float()  # (D, k), largest variance first
        arr = self._project(rows, where, {"mean": mean, "basis": basis})
        exact = len(arr) <= self.config.exact_max_rows
        if not exact:  # IVF-PQ wants the width a multiple of its 64 sub-quantisers: zero columns change no distance
            arr = np.ascontiguousarray(np.pad(arr, ((0, 0), (0, -arr.shape[1] % 64))))
        return {"index": build_index(arr, exact=exact), "mean": mean, "basis": basis}

    def _project(self, rows: torch.Tensor, where: torch.Tensor, bank: dict) -> np.ndarray:
        x = rows if bank["basis"] is None else (rows - bank["mean"]) @ bank["basis"]
        if self.config.position_weight > 0:
            x = torch.cat([x, self.config.position_weight * where], 1)
        return as_rows(x)

    # -- rendering
    def _render(self, cond: torch.Tensor) -> torch.Tensor:
        c = self.config
        out = None
        k = c.query_stride
        for bank in self._levels:
            size = bank["size"]
            prim_rows = raw_patches(self._features(cond[None], size), c.patch, k)
            for p in range(c.passes):
                if out is None:  # the coarsest level's first pass: the primitive alone
                    query = prim_rows
                else:
                    if out.shape[-2:] != size:
                        out = _resize(out[None], size)[0]
                    query = torch.cat([prim_rows, c.image_weight * raw_patches(out, c.patch, k)], 1)
                out = self._compose(query, _centres(size, k), bank["first"] if p == 0 else bank["later"],
                                    bank["values"], size)
        return out.clamp(-1, 1)

    def _compose(self, query: torch.Tensor, where: torch.Tensor, bank: dict, values: torch.Tensor,
                 size: tuple[int, int]) -> torch.Tensor:
        """Each query window's nearest bank window -> that window of y, overlapping windows averaged ``(3, H, W)``.

        Query windows are centred on every ``query_stride``-th pixel; each output pixel is the mean of the
        windows that cover it (``patch²`` of them at stride 1)."""
        q = self._project(query, where, bank)
        if q.shape[1] != bank["index"].d:  # the zero columns of a padded IVF index
            q = np.ascontiguousarray(np.pad(q, ((0, 0), (0, bank["index"].d - q.shape[1]))))
        _, nearest = nn_search(q, index=bank["index"], with_index=True)
        if (nearest < 0).any():  # IVF found nothing in the cells it probed: never take a wrong window silently
            raise RuntimeError(f"the approximate patch search found no neighbour for {int((nearest < 0).sum())} "
                               "windows; raise PatchNNConfig.exact_max_rows to search this bank exactly")
        patches = values[torch.from_numpy(nearest)]  # (h'*w', 3*p*p)
        (h, w), p, k = size, self.config.patch, self.config.query_stride
        r = p // 2
        hq, wq = math.ceil(h / k), math.ceil(w / k)  # window centres (i*k, j*k), as raw_patches lays them out
        canvas = ((hq - 1) * k + p, (wq - 1) * k + p)  # the padded frame those windows tile
        summed = F.fold(patches.T[None], canvas, p, stride=k)[0, :, r:r + h, r:r + w]
        count = F.fold(torch.ones(1, p * p, hq * wq), canvas, p, stride=k)[0, :, r:r + h, r:r + w]
        return summed / count


def _centres(size: tuple[int, int], stride: int) -> torch.Tensor:
    """``(h' * w', 2)`` places (y, x) in [0, 1) of the windows :func:`raw_patches` centres every ``stride`` pixels,
    in its row order."""
    h, w = size
    ys, xs = torch.arange(0, h, stride) / h, torch.arange(0, w, stride) / w
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2).float()


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(N, C, H, W)`` to ``size``: area when shrinking, bilinear when growing, unchanged at its own size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if size[0] <= x.shape[-2] and size[1] <= x.shape[-1]:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, 1, H, W)``, reflecting at the border, peak scaled back to 1 (so a
    one-pixel line keeps its weight against the one-hot label channels)."""
    r = max(1, int(math.ceil(2.5 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)  # peak 1, not unit sum: a line keeps 1 at its centre (clamped below)
    x = F.pad(x, (r, r, 0, 0), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, r, r), mode="reflect")
    return F.conv2d(x, k.view(1, 1, -1, 1)).clamp(max=1)

