"""Patch nearest-neighbour distances (paper App. G): how far is each test patch from every training patch?

The paper's explanation of TPS: a test primitive's patches that have no close neighbour among the
training patches are where the generator has nothing to recall, and TPS augmentation brings many of
them within reach. This module holds the weights-free reference of that analysis — raw patches of
the encoded primitive, compared with exact L2 distances in torch — which the failure-mode lesson
uses for "unseen objects".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["raw_patches", "nn_distance", "patch_nn_distance_map"]


def raw_patches(x: torch.Tensor, patch: int = 7, stride: int = 1) -> torch.Tensor:
    """Every ``patch``×``patch`` window of ``x`` ``(C, H, W)`` or ``(N, C, H, W)`` as a row.

    Windows are centred on pixels (reflection padding at the border), so with ``stride=1`` there is
    one row per pixel, in raster order. Returns ``(N*H'*W', C*patch*patch)`` float32.
    """
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"expected (C, H, W) or (N, C, H, W), got {tuple(x.shape)}")
    if patch < 1 or patch % 2 == 0:
        raise ValueError(f"patch must be a positive odd size, got {patch}")
    r = patch // 2
    xp = F.pad(x.float(), (r, r, r, r), mode="reflect") if r else x.float()
    cols = F.unfold(xp, patch, stride=stride)  # (N, C*p*p, L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def nn_distance(queries: torch.Tensor, bank: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Exact 1-NN L2 distance of each query row to the bank rows: ``(Q, D)``, ``(B, D)`` -> ``(Q,)``.

    Chunked so that at most ``chunk × B`` distances exist at once.
    """
    if queries.ndim != 2 or bank.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f"queries (Q, D) and bank (B, D) must share D, got {tuple(queries.shape)} and "
                         f"{tuple(bank.shape)}")
    if bank.shape[0] == 0:
        raise ValueError("the bank is empty")
    out = [torch.cdist(q, bank).min(1).values for q in queries.split(chunk)]
    return torch.cat(out).clamp_min(0)


def patch_nn_distance_map(
    query: torch.Tensor, bank: torch.Tensor, patch: int = 7, bank_stride: int = 2
) -> torch.Tensor:
    """Map of 1-NN raw-patch distances: for each pixel of ``query`` ``(C, H, W)``, the L2 distance of
    its patch to the nearest patch of ``bank`` ``(C, H', W')`` or ``(N, C, H', W')``.

    ``bank_stride`` subsamples bank windows (2 keeps a quarter; distances can only grow a little).
    Returns ``(H, W)`` float32, 0 where a query patch also occurs in the bank.
    """
    if query.ndim != 3:
        raise ValueError(f"query must be (C, H, W), got {tuple(query.shape)}")
    b = bank if bank.ndim == 4 else bank[None]
    if b.shape[1] != query.shape[0]:
        raise ValueError(f"query has {query.shape[0]} channels but the bank has {b.shape[1]}")
    q = raw_patches(query, patch)
    return nn_distance(q, raw_patches(b, patch, bank_stride)).reshape(query.shape[1:])
