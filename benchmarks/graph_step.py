"""The step eager and replayed from a CUDA graph: speed with a 5-step profile, and the same losses for 50 steps.

    python benchmarks/graph_step.py --part speed --size 256x256        # steps/s, kernels, GPU-busy and host ms
    python benchmarks/graph_step.py --part equivalence --steps 50      # 50 graph steps vs 50 eager, same seed

``speed``: the paper preset (the VGG19 term on: real weights where the converted file is in TORCH_HOME, else a
random-init VGG19 of the same shape, labelled) at one size, eager and with ``cuda_graph``: warm-up steps, then
timed steps (synchronised at both ends), then 5 steps under ``torch.profiler``: CUDA kernels per step, the GPU's
busy time per step (the sum of kernel durations) and the host's time per step. ``equivalence``: two runs from
one seed in fp32 (TF32 off), eager and graph, their per-step losses compared (the capturable Adam rounds a
little differently, so the first steps agree to float precision and later ones to the trajectory).
Each writes one JSON with the device name (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from _common import device_name, step_flops, write_result
from train_speed import make_pair, peak_tflops, sync

import deepsim_lite as ds
from deepsim_lite import train


def _profile(trainer: train.Trainer, steps: int = 5) -> dict:
    """Kernels per step, GPU-busy ms per step (sum of kernel times) and host ms per step, over ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile

    sync(trainer.device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        host = time.perf_counter() - t0
        sync(trainer.device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy_us = sum(getattr(e, "device_time", None) or getattr(e, "cuda_time", 0) for e in kernels)
    return {"kernels_per_step": len(kernels) / steps, "gpu_busy_ms_per_step": busy_us / 1000 / steps,
            "host_ms_per_step": host * 1000 / steps}


def speed(pair: ds.Pair, base: ds.TrainConfig, warmup: int, steps: int, device: torch.device) -> dict:
    init = getattr(getattr(torch.profiler, "_utils", None), "_init_for_cuda_graphs", None)
    if init is not None:  # the profiler must be set up before a graph is captured (CUPTI)
        init()
    runs = {}
    for name, graph in (("eager", False), ("graph", True)):
        trainer = train.Trainer(pair, dataclasses.replace(base, cuda_graph=graph))
        for _ in range(warmup):
            trainer.train_step()
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        sync(device)
        rate = steps / (time.perf_counter() - t0)
        runs[name] = {"steps_per_s": rate, "projected_16k_steps_s": 16000 / rate, **_profile(trainer),
                      "reconstruction": trainer.gan.perceptual}
        if not graph:  # a replay hides its ops from the counter: the step's FLOPs are counted eagerly
            flops = step_flops(trainer)
    peak = peak_tflops(device, None)
    for name in ("eager", "graph"):
        runs[name]["step_gflop"] = flops / 1e9
        runs[name]["mfu"] = flops * runs[name]["steps_per_s"] / (peak * 1e12) if peak else None
    runs["graph_over_eager"] = runs["graph"]["steps_per_s"] / runs["eager"]["steps_per_s"]
    return runs


def equivalence(pair: ds.Pair, base: ds.TrainConfig, steps: int) -> dict:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    config = dataclasses.replace(base, amp=False)
    rows = {}
    for name, graph in (("eager", False), ("graph", True)):
        trainer = train.Trainer(pair, dataclasses.replace(config, cuda_graph=graph))
        rows[name] = [{k: float(v) for k, v in trainer.train_step().items()} for _ in range(steps)]
    rel = [{k: abs(g[k] - e[k]) / max(abs(e[k]), 1e-6) for k in e}
           for e, g in zip(rows["eager"], rows["graph"], strict=True)]
    worst = [max(r.values()) for r in rel]
    return {"steps": steps, "max_rel_diff_per_step": worst, "max_rel_diff_first_5": max(worst[:5]),
            "max_rel_diff": max(worst), "same_to_float_rounding_first_5": max(worst[:5]) < 1e-4,
            "losses": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["speed", "equivalence"], required=True)
    ap.add_argument("--size", default="256x256", help="HxW")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (speed, default 200) or compared steps "
                    "(equivalence, default 50)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device("cuda")
    if not torch.cuda.is_available():
        raise SystemExit("graph_step: needs a CUDA device")
    torch.backends.cudnn.benchmark = args.part == "speed"
    h, w = (int(v) for v in args.size.lower().split("x"))
    base = ds.TrainConfig.preset("paper", device="cuda", log_every=10**9, checkpoint_every=10**9)
    pair = make_pair((h, w), base.multiple)
    t0 = time.perf_counter()
    if args.part == "speed":
        body = {"runs": speed(pair, base, args.warmup, args.steps or 200, device)}
    else:
        body = equivalence(pair, base, args.steps or 50)
    result = {"benchmark": f"graph_step_{args.part}", "device": device_name(device), "torch": torch.__version__,
              "preset": "paper", "size": [h, w], "amp_bf16": torch.cuda.is_bf16_supported() and args.part == "speed",
              "wall_s": time.perf_counter() - t0, **body,
              "command": f"python benchmarks/graph_step.py --part {args.part} --size {args.size}"}
    write_result(result, f"graph_step_{args.part}", device, args.out)


if __name__ == "__main__":
    main()
