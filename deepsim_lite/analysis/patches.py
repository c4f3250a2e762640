"""Raw pixel patches and 1-NN search: the patch machinery of the kNN analysis (App. G) and the lessons.

* :func:`raw_patches` — the one raw-patch featuriser: centred windows (one per pixel) or tiles;
* :func:`nn_distance` — each query row's L2 distance to its nearest bank row, with faiss (exact
  ``IndexFlatL2`` by default; IVF-PQ for banks that do not fit in memory);
* :func:`patch_nn_distance_map` — per pixel, how far its patch is from every patch of a bank of pictures
  (bright = content the training pair never showed).

Every 1-NN distance of the library (here, :mod:`~deepsim_lite.analysis.knn` and the failure-mode lesson) comes
from :func:`nn_search`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["raw_patches", "build_index", "nn_search", "nn_distance", "patch_nn_distance_map", "as_rows"]


def _faiss():
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - faiss is a declared dependency (cpu/gpu extra)
        raise ImportError("faiss is not installed: pip install 'deepsim-lite[cpu]' (or [gpu])") from err
    return faiss


def as_rows(x: torch.Tensor) -> np.ndarray:
    """``(M, D)`` tensor -> C-contiguous float32 numpy array on the CPU (what faiss takes)."""
    return np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())


def build_index(rows: np.ndarray, exact: bool = True, nlist: int | None = None, m: int = 64, nprobe: int = 8,
                 use_gpu: bool | None = None):
    """A faiss index over ``rows`` ``(M, D)`` float32.

    Args:
        exact: ``IndexFlatL2`` (exact). False -> ``IndexIVFPQ`` with ``nlist`` cells (default
            ≈ 4·sqrt(M)), ``nprobe`` of them searched per query, and ``m`` sub-quantisers of 8 bits:
            D·4/m times less memory, approximate (:func:`~deepsim_lite.analysis.knn.faiss_index` gives measured recall).
        use_gpu: move the index to the GPU (default: when faiss-gpu and CUDA are both present).
    """
    faiss = _faiss()
    d = rows.shape[1]
    if exact:
        index = faiss.IndexFlatL2(d)
    else:
        if d % m:
            raise ValueError(f"IVF-PQ needs the feature size {d} to be a multiple of m={m}")
        nlist = nlist or max(1, int(4 * math.sqrt(len(rows))))
        if len(rows) < 39 * nlist:
            nlist = max(1, len(rows) // 39)  # faiss wants ~39 training points per cell
        index = faiss.IndexIVFPQ(faiss.IndexFlatL2(d), d, nlist, m, 8)
        index.train(rows)
        index.nprobe = nprobe
    gpu = use_gpu if use_gpu is not None else (hasattr(faiss, "StandardGpuResources") and torch.cuda.is_available())
    if gpu:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(rows)
    return index


def nn_search(queries: np.ndarray, rows: np.ndarray | None = None, index=None, exact: bool = True,
              chunk: int | None = None, with_index: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The one 1-NN search of the library: L2 distance of each of ``queries`` ``(Q, D)`` float32 to its nearest row.

    Searches ``index`` if given, else a fresh :func:`build_index` over ``rows`` ``(M, D)`` float32 (exact
    ``IndexFlatL2`` unless ``exact=False``), ``chunk`` queries per faiss call (all at once if None).
    faiss reports squared distances; returns their root ``(Q,)`` float32 >= 0, clamping the rounding
    error of ‖a‖² + ‖b‖² − 2ab at 0; with ``with_index``, also the row number of each nearest row ``(Q,)`` int64.
    """
    if index is None:
        if rows is None or rows.shape[0] == 0:
            raise ValueError("the bank is empty")
        index = build_index(rows, exact)
    if index.ntotal == 0:
        raise ValueError("the bank is empty")
    if queries.ndim != 2 or queries.shape[1] != index.d:
        raise ValueError(f"queries must be (Q, {index.d}) like the bank, got {tuple(queries.shape)}")
    step = chunk or max(1, len(queries))
    found = [index.search(queries[i:i + step], 1) for i in range(0, len(queries), step)]
    d2 = np.concatenate([d[:, 0] for d, _ in found]) if found else np.zeros(0, np.float32)
    dist = np.sqrt(np.maximum(d2, 0)).astype(np.float32)
    if not with_index:
        return dist
    return dist, (np.concatenate([i[:, 0] for _, i in found]) if found else np.zeros(0, np.int64)).astype(np.int64)


def raw_patches(x: torch.Tensor, patch: int = 7, stride: int = 1, centred: bool = True) -> torch.Tensor:
    """Pixel windows of ``x`` ``(C, H, W)`` or ``(N, C, H, W)`` as rows: the one raw-patch featuriser.

    Args:
        x: pictures, any value range (kept as is, cast to float32).
        patch: window side in pixels.
        stride: step between window positions, in pixels.
        centred: True -> one window centred on each pixel ``(i·stride, j·stride)`` (``patch`` odd,
            reflection padding of ``patch // 2`` at the border, which must be < H and < W), so
            ``h = ceil(H / stride)``, ``w = ceil(W / stride)``; with ``stride=1``, one row per pixel.
            False -> windows tiled from the top-left corner, the window at ``(i, j)`` covering rows
            ``i·stride ... i·stride + patch − 1`` (and likewise columns), no padding:
            ``h = (H − patch) // stride + 1`` (``stride = patch`` tiles the picture; any border left over is dropped).

    Returns:
        ``(N·h·w, C·patch·patch)`` float32: rows in the order picture, then window row ``i``, then window
        column ``j``; columns in ``F.unfold`` order, column ``c·patch² + u·patch + v`` holding channel ``c``
        at offset ``(u, v)`` inside the window.

    Example:
        >>> raw_patches(torch.zeros(3, 32, 48), 7).shape  # centred, one row per pixel
        torch.Size([1536, 147])
        >>> raw_patches(torch.zeros(2, 3, 40, 50), 16, 16, centred=False).shape  # 2 x (2 x 3) tiles
        torch.Size([12, 768])
    """
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"expected (C, H, W) or (N, C, H, W), got {tuple(x.shape)}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    h, w = x.shape[-2:]
    if centred:
        if patch < 1 or patch % 2 == 0:
            raise ValueError(f"patch must be a positive odd size, got {patch}")
        r = patch // 2
        if r >= h or r >= w:
            raise ValueError(f"centred {patch}x{patch} windows need pictures larger than {r}x{r} for reflection "
                             f"padding, got {h}x{w}")
        xp = F.pad(x.float(), (r, r, r, r), mode="reflect") if r else x.float()
    else:
        if patch < 1 or patch > min(h, w):
            raise ValueError(f"tiled windows need 1 <= patch <= min(H, W) = {min(h, w)}, got {patch}")
        xp = x.float()
    cols = F.unfold(xp, patch, stride=stride)  # (N, C*p*p, h*w)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def nn_distance(queries: torch.Tensor, bank_rows: torch.Tensor, chunk: int = 4096, exact: bool = True) -> torch.Tensor:
    """1-NN L2 distance of each query row to the bank rows: ``(Q, D)``, ``(B, D)`` -> ``(Q,)`` float32 >= 0 on the CPU.

    The same faiss search as :func:`~deepsim_lite.analysis.knn.knn_distance_map`: exact ``IndexFlatL2`` by default
    (``exact=False``: IVF-PQ with :func:`build_index`'s defaults, D a multiple of 64). ``chunk`` queries go
    to faiss per call; the result does not depend on it. A query that equals a bank row gets 0: exactly for 0/1 data
    such as :func:`~deepsim_lite.primitives.encode` output, else up to the float32 rounding of
    ‖a‖² + ‖b‖² − 2ab, which faiss uses for large query sets.
    """
    if queries.ndim != 2 or bank_rows.ndim != 2 or queries.shape[1] != bank_rows.shape[1]:
        raise ValueError(f"queries (Q, D) and bank (B, D) must share D, got {tuple(queries.shape)} and "
                         f"{tuple(bank_rows.shape)}")
    if bank_rows.shape[0] == 0:
        raise ValueError("the bank is empty")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return torch.from_numpy(nn_search(as_rows(queries), as_rows(bank_rows), exact=exact, chunk=chunk))


def patch_nn_distance_map(
    query: torch.Tensor, bank: torch.Tensor, patch: int = 7, bank_stride: int = 2
) -> torch.Tensor:
    """Map of 1-NN raw-patch distances: for each pixel of ``query`` ``(C, H, W)``, the L2 distance of
    its centred ``patch``×``patch`` window to the nearest centred window of ``bank`` ``(C, H', W')`` or
    ``(N, C, H', W')`` (:func:`raw_patches`, searched exactly with :func:`nn_distance`).

    ``bank_stride`` subsamples bank windows (2 keeps a quarter; distances can only grow a little).
    Returns ``(H, W)`` float32 >= 0 on the CPU, 0 where a query patch also occurs in the bank (see
    :func:`nn_distance`).

    Example:
        >>> x = torch.randint(0, 2, (3, 16, 16)).float()  # a 0/1 picture, like an encoded primitive
        >>> float(patch_nn_distance_map(x, x, patch=5, bank_stride=1).max())
        0.0
    """
    if query.ndim != 3:
        raise ValueError(f"query must be (C, H, W), got {tuple(query.shape)}")
    b = bank if bank.ndim == 4 else bank[None]
    if b.ndim != 4:
        raise ValueError(f"bank must be (C, H', W') or (N, C, H', W'), got {tuple(bank.shape)}")
    if b.shape[1] != query.shape[0]:
        raise ValueError(f"query has {query.shape[0]} channels but the bank has {b.shape[1]}")
    q = raw_patches(query, patch)  # (H*W, C*patch*patch)
    return nn_distance(q, raw_patches(b, patch, bank_stride)).reshape(query.shape[1:])
