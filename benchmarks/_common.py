"""The per-sample CPU augmentation of the official pipeline, rebuilt for side-by-side benchmarks.

For every training sample: draw a random TPS from Ω (4×4 control points moved by U(−d/L, d/L) pixels),
solve the TPS system with numpy, evaluate it at every pixel, and resample each channel with
``scipy.ndimage.map_coordinates`` (bilinear for images, nearest for primitives). Written from the
paper's description; no code from the official repository.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage


def reference_tps_coords(h: int, w: int, rng: np.random.Generator, grid: int = 4, L: float = 10.0):  # noqa: N803
    """Pixel coordinates ``[rows (H, W), cols (H, W)]`` where a random TPS warp samples its input."""
    ys, xs = np.linspace(0, h - 1, grid), np.linspace(0, w - 1, grid)
    cy, cx = np.meshgrid(ys, xs, indexing="ij")
    ctrl = np.stack([cx.ravel(), cy.ravel()], 1)
    dst = ctrl + rng.uniform(-1, 1, ctrl.shape) * np.array([w / L, h / L])
    n = len(ctrl)
    d2 = ((ctrl[:, None] - ctrl[None]) ** 2).sum(-1)
    k = np.where(d2 > 0, d2 * np.log(np.maximum(d2, 1e-300)), 0)
    p = np.concatenate([np.ones((n, 1)), ctrl], 1)
    system = np.block([[k, p], [p.T, np.zeros((3, 3))]])
    coef = np.linalg.solve(system, np.concatenate([dst, np.zeros((3, 2))]))
    gy, gx = np.mgrid[0:h, 0:w]
    pts = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64)
    r2 = ((pts[:, None] - ctrl[None]) ** 2).sum(-1)
    u = np.where(r2 > 0, r2 * np.log(np.maximum(r2, 1e-300)), 0)
    mapped = u @ coef[:n] + np.concatenate([np.ones((len(pts), 1)), pts], 1) @ coef[n:]
    return [mapped[:, 1].reshape(h, w), mapped[:, 0].reshape(h, w)]


def warp_channels(chw: np.ndarray, coords, order: int) -> np.ndarray:
    """Resample every channel of ``(C, H, W)`` at ``coords`` (reflecting at the border)."""
    return np.stack([ndimage.map_coordinates(c, coords, order=order, mode="reflect") for c in chw])


class ReferenceTPSDataset(torch.utils.data.Dataset):
    """An endless-ish dataset of TPS-warped (primitive, image) pairs, one CPU warp per item."""

    def __init__(self, cond: torch.Tensor, real: torch.Tensor, length: int, seed: int = 0) -> None:
        self.cond = cond.cpu().numpy().astype(np.float32)  # (C_p, H, W)
        self.real = real.cpu().numpy().astype(np.float32)  # (3, H, W)
        self.length, self.seed = length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng((self.seed, i))
        coords = reference_tps_coords(*self.real.shape[1:], rng)
        cond = warp_channels(self.cond, coords, 0)
        real = warp_channels(self.real, coords, 1)
        return torch.from_numpy(cond), torch.from_numpy(real)


def step_flops(trainer) -> int:
    """FLOPs of one full training step (G and D forward and backward), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step()
    return counter.get_total_flops()


def device_name(device: torch.device) -> str:
    """A readable name of the machine that produced a number."""
    import platform

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def write_result(result: dict, name: str, device: torch.device, out: str | None) -> None:
    """Write a benchmark's JSON (default ``benchmarks/results/<name>_<device>.json``) and say where."""
    import json
    from pathlib import Path

    path = Path(out or Path(__file__).parent / "results" / f"{name}_{device.type}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
