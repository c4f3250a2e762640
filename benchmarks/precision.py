"""bf16 autocast vs TF32 vs fp32: the same training run in each precision, scored on held-out warps.

The default precision is chosen on evidence: the same config, seed and warps trained in fp32, on CUDA also
with TF32 matmuls/convolutions, and under bf16 autocast (``--cuda-graph``: each replayed from a CUDA graph),
then each model scored on held-out TPS warps of
another seed (PSNR, SSIM; mean ± std over the warps) and timed. On the CPU it trains the lesson preset at
lesson size; on a GPU the paper preset at 256x256.

    python benchmarks/precision.py                         # CPU: lesson preset, 800 steps each
    python benchmarks/precision.py --steps 2000            # GPU: paper preset at 256x256
    python benchmarks/precision.py --steps 600 --cuda-graph   # GPU, under graphs (make gpu-check)

Writes ``benchmarks/results/precision_<device>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings

import torch
from _common import device_name, write_result
from train_speed import held_out_quality, make_pair, sync

import deepsim_lite as ds
from deepsim_lite import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--preset", default=None, help="lesson (default on CPU) | paper (default on CUDA)")
    ap.add_argument("--size", default=None, help="HxW (default: 84x128 on CPU, 256x256 on CUDA)")
    ap.add_argument("--steps", type=int, default=None, help="training steps of each run (default: the lesson "
                    "preset's 800 on CPU, 2000 on CUDA)")
    ap.add_argument("--held-out", type=int, default=16, help="held-out TPS warps scored")
    ap.add_argument("--cuda-graph", action="store_true", help="every run replays its step from a CUDA graph")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    preset = args.preset or ("paper" if cuda else "lesson")
    h, w = (int(v) for v in (args.size or ("256x256" if cuda else "84x128")).lower().split("x"))
    steps = args.steps or (2000 if cuda else ds.PRESETS["lesson"].iterations)
    warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
    base = ds.TrainConfig.preset(preset, iterations=steps, device=device.type, log_every=10**9,
                                 checkpoint_every=10**9)
    pair = make_pair((h, w), base.multiple)
    runs = {}
    # fp32 (no TF32 tensor cores), then on CUDA fp32 with TF32 matmuls and convolutions, then bf16 autocast
    variants = (("fp32", False, False), ("tf32", False, True), ("bf16", True, True)) if cuda else \
        (("fp32", False, False), ("bf16", True, False))
    for name, amp, tf32 in variants:
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
        trainer = train.Trainer(pair, dataclasses.replace(base, amp=amp, cuda_graph=args.cuda_graph and cuda))
        if trainer.gan.amp != amp:
            sys.exit(f"precision: bf16 autocast is not available on {device}")
        sync(device)
        t0 = time.perf_counter()
        result = trainer.fit(progress=False, preview="none")
        sync(device)
        wall = time.perf_counter() - t0
        runs[name] = {"train_s": wall, "steps_per_s": steps / wall, "reconstruction": result.perceptual,
                      **held_out_quality(result.model, pair, args.held_out)}
        r = runs[name]
        print(f"{name}: {steps} steps in {wall:6.1f} s ({r['steps_per_s']:.2f} steps/s) | held-out PSNR "
              f"{r['psnr_mean']:.2f} ± {r['psnr_std']:.2f} dB, SSIM {r['ssim_mean']:.3f} ± {r['ssim_std']:.3f} "
              f"[{preset}, {h}x{w}, {result.perceptual}]")
    delta = runs["bf16"]["psnr_mean"] - runs["fp32"]["psnr_mean"]
    fastest = max(runs, key=lambda k: runs[k]["steps_per_s"])
    print(f"bf16 - fp32: {delta:+.2f} dB PSNR, speed x{runs['bf16']['steps_per_s'] / runs['fp32']['steps_per_s']:.2f}")
    write_result({"benchmark": "precision", "device": device_name(device), "torch": torch.__version__,
                  "preset": preset, "size": f"{h}x{w}", "steps": steps, "held_out_warps": args.held_out,
                  "runs": runs, "bf16_minus_fp32_psnr_db": delta, "fastest": fastest, "cuda_graph": args.cuda_graph,
                  "command": "python benchmarks/precision.py " + " ".join(sys.argv[1:])}, "precision", device, args.out)


if __name__ == "__main__":
    main()
