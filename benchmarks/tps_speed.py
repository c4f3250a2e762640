"""TPS augmentation throughput: our batched torch warps vs a per-sample scipy reference.

Both warp image + primitive pairs (RGB image bilinear; label map and edge map nearest) with a
random TPS from Ω (4×4 control points, L = 10). The reference does what the official code does
per training sample on the CPU: solve the TPS system with numpy, evaluate it densely, then
``scipy.ndimage.map_coordinates`` per channel. Ours samples B warps with one matmul and applies
them with one ``grid_sample`` per tensor, on the chosen device.

    python benchmarks/tps_speed.py                 # CPU (and CUDA if present), 256² and 512²
    python benchmarks/tps_speed.py --device cuda --out benchmarks/results/tps_speed_h100.json

Prints warps/s for both and the ratio ours / reference; writes JSON with the device name.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from _common import device_name, reference_tps_coords, warp_channels, write_result

from deepsim_lite import augment


def reference_warp(image: np.ndarray, labels: np.ndarray, edges: np.ndarray, rng: np.random.Generator):
    """One pair, the per-sample way: numpy TPS fit + dense eval + map_coordinates (pixel units)."""
    coords = reference_tps_coords(*labels.shape, rng)
    img = warp_channels(image.transpose(2, 0, 1), coords, 1)
    return img, warp_channels(labels[None], coords, 0)[0], warp_channels(edges[None], coords, 0)[0]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_ours(size: int, device: torch.device, batch: int, seconds: float) -> float:
    g = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    prim = torch.stack(
        [torch.randint(0, 8, (size, size)).float(), (torch.rand(size, size) < 0.1).float()]
    ).to(device)  # label map + edge map as two channels
    augment.augment_pair(image, prim, "tps", generator=g)  # warm-up (builds the cached basis)
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        augment.augment_pair(image, prim, "tps", generator=g)
        n += batch
    _sync(device)
    return n / (time.perf_counter() - t0)


def bench_reference(size: int, seconds: float) -> float:
    rng = np.random.default_rng(0)
    image = rng.random((size, size, 3)).astype(np.float32)
    labels = rng.integers(0, 8, (size, size)).astype(np.int64)
    edges = (rng.random((size, size)) < 0.1).astype(np.uint8)
    reference_warp(image, labels, edges, rng)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 2:
        reference_warp(image, labels, edges, rng)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=3.0, help="timing window per measurement")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/tps_speed_<device>.json)")
    args = ap.parse_args()
    device = torch.device(args.device)
    rows = []
    for size in args.sizes:
        ref = bench_reference(size, args.seconds)
        ours = bench_ours(size, device, args.batch, args.seconds)
        rows.append({"size": size, "reference_warps_per_s": ref, "ours_warps_per_s": ours, "ratio": ours / ref})
        print(f"{size}x{size}: reference (scipy, per sample, CPU) {ref:8.1f} warps/s | "
              f"ours (batched torch, {device.type}, B={args.batch}) {ours:9.1f} warps/s | ratio {ours / ref:6.1f}x")
    result = {
        "benchmark": "tps_speed",
        "what": "image (3ch bilinear) + label map + edge map (nearest) warped by a random TPS from Omega (4x4, L=10)",
        "device": device_name(device),
        "reference_device": f"{platform.processor() or platform.machine()} CPU (numpy/scipy)",
        "torch": torch.__version__,
        "batch": args.batch,
        "rows": rows,
        "command": "python benchmarks/tps_speed.py " + " ".join(
            f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items()
            if v is not None
        ),
    }
    write_result(result, "tps_speed", device, args.out)


if __name__ == "__main__":
    main()
