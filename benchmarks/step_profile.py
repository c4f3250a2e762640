"""Where a training step's time goes, and how close it runs to the CPU's convolution ceiling.

    python benchmarks/step_profile.py                 # lesson preset on the cat, 2 threads
    python benchmarks/step_profile.py --preset laptop --threads 4

1. **Split.** ``torch.profiler`` over a few steps: wall time per region of ``Trainer.train_step`` (augment,
   G forward, D forward, losses, G backward — through D and G —, D backward, optimiser), and over the whole
   step the share of convolution arithmetic (forward and backward kernels), normalisation, everything else
   torch runs, and Python/dispatch time between kernels.
2. **Ceiling.** FLOPs of one step (``torch.utils.flop_counter``) × steps/s = achieved GFLOP/s, against plain
   3×3 convolutions (forward + backward, the step's own channel widths and a wide one) timed on the same CPU.
3. **Options, side by side** on the same pair in one run: Adam as shipped, ``foreach`` or ``fused``;
   denormals flushed to zero; ``channels_last`` at batch 4 (speed only: on the CPU its gradients are wrong,
   so the trainer refuses it; see ``config.channels_last_enabled``); one thread instead of ``--threads``.

Writes ``benchmarks/results/step_profile_<device>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import defaultdict

import numpy as np
import torch
from _common import device_name, step_flops, write_result
from torch.profiler import ProfilerActivity, profile

import deepsim_lite as ds
from deepsim_lite.method.train import Trainer

CONV_OPS = ("convolution", "conv2d", "mkldnn_conv", "conv_transpose", "slow_conv")
NORM_OPS = ("batch_norm", "instance_norm")


def make_trainer(config: ds.TrainConfig, pair: ds.Pair, **overrides) -> Trainer:
    return Trainer(pair, dataclasses.replace(config, **overrides))


def steps_per_s(trainer: Trainer, steps: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        trainer.train_step()
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return steps / (time.perf_counter() - t)


def adam(trainer: Trainer, kind: str) -> None:
    """Replace the trainer's optimisers by Adam with ``foreach=True`` or ``fused=True``."""
    c = trainer.config
    for name, net in (("opt_G", trainer.gan.G), ("opt_D", trainer.gan.D)):
        opt = torch.optim.Adam(net.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), **{kind: True})
        setattr(trainer.gan, name, opt)


def split(trainer: Trainer, steps: int) -> dict:
    """Milliseconds per step: by region, and by kind of work over the whole step."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        wall = (time.perf_counter() - t) / steps * 1e3
    regions: dict[str, float] = defaultdict(float)
    kinds = {"convolution": 0.0, "normalisation": 0.0, "other torch ops": 0.0}
    annotated_self = 0.0
    others: dict[str, float] = {}
    for e in prof.key_averages():
        if e.key.startswith("deepsim::"):
            regions[e.key.removeprefix("deepsim::")] += e.cpu_time_total / 1e3 / steps
            annotated_self += e.self_cpu_time_total / 1e3 / steps
        elif e.key.startswith(("aten::", "autograd::", "Optimizer")) or "Backward" in e.key:
            name = e.key.lower()
            kind = ("convolution" if any(k in name for k in CONV_OPS) else
                    "normalisation" if any(k in name for k in NORM_OPS) else "other torch ops")
            kinds[kind] += e.self_cpu_time_total / 1e3 / steps
            if kind == "other torch ops":
                others[e.key] = e.self_cpu_time_total / 1e3 / steps
    kinds["python and dispatch (the rest of the wall time)"] = max(0.0, wall - sum(kinds.values()))
    top = dict(sorted(others.items(), key=lambda kv: -kv[1])[:8])
    return {"wall_ms_per_step": wall, "regions_ms": dict(regions), "kinds_ms": kinds,
            "region_self_ms": annotated_self, "top_other_ops_ms": top}


def conv_ceiling(shapes: list[tuple[int, tuple[int, int]]], batch: int) -> list[dict]:
    """GFLOP/s of a plain 3×3 convolution, forward + backward (input and weight gradients), per (channels, size)."""
    rows = []
    for c, size in shapes:
        conv = torch.nn.Conv2d(c, c, 3, padding=1)
        x = torch.randn(batch, c, *size, requires_grad=True)
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            conv(x).sum().backward()
        flops = counter.get_total_flops()
        for _ in range(3):
            conv(x).sum().backward()
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < 2.0:
            conv(x).sum().backward()
            n += 1
        rate = flops * n / (time.perf_counter() - t) / 1e9
        rows.append({"channels": c, "size": list(size), "batch": batch, "gflop": flops / 1e9, "gflops": rate})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="lesson")
    ap.add_argument("--sample", default="chelsea")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    ap.add_argument("--profile-steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds of the options")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = ds.TrainConfig.preset(args.preset, device="cpu", log_every=10**9, checkpoint_every=10**9)
    pair = ds.load_sample(args.sample, config.primitive_kind, max_side=config.max_side, multiple=config.multiple)
    base = make_trainer(config, pair)
    rate = steps_per_s(base, args.steps)
    flops = step_flops(base)
    prof = split(base, args.profile_steps)
    conv_ms = prof["kinds_ms"]["convolution"]
    h, w = pair.size  # the generator's own conv shapes (full size, after one and two downsamplings: the residual
    # blocks, about half its FLOPs), and a wide conv at full size as the CPU's practical ceiling
    shapes = [(config.ngf * 2**k, (h // 2**k, w // 2**k)) for k in range(min(config.n_downsample, 2) + 1)]
    ceiling = conv_ceiling([*shapes, (128, (h, w))], config.batch_size)
    best = max(r["gflops"] for r in ceiling)

    # Side by side: every variant gets a fresh trainer, then all are timed in interleaved rounds (the median
    # of the rounds is reported), so a machine that slows down during the run does not favour the first one.
    variants = {  # name: (trainer, flush denormals, threads)
        "as shipped": (make_trainer(config, pair), False, args.threads),
        "Adam foreach": (make_trainer(config, pair), False, args.threads),
        "Adam fused": (make_trainer(config, pair), False, args.threads),
        "flush denormals": (make_trainer(config, pair), True, args.threads),
        "1 thread": (make_trainer(config, pair), False, 1),
        "batch 4": (make_trainer(config, pair, batch_size=4), False, args.threads),
        # the trainer refuses channels_last on the CPU (wrong conv-weight gradients): forced here for its speed only
        "batch 4, channels_last (wrong gradients on the CPU: speed only)":
            (make_trainer(config, pair, batch_size=4), False, args.threads),
    }
    adam(variants["Adam foreach"][0], "foreach")
    adam(variants["Adam fused"][0], "fused")
    nhwc = variants["batch 4, channels_last (wrong gradients on the CPU: speed only)"][0]
    nhwc.gan.channels_last = True
    nhwc.gan.G.to(memory_format=torch.channels_last)
    nhwc.gan.D.to(memory_format=torch.channels_last)
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # each round starts with another option
            trainer, flush, threads = variants[name]
            torch.set_flush_denormal(flush)
            torch.set_num_threads(threads)
            try:
                n = args.steps // 4 if trainer.config.batch_size > 1 else args.steps
                rounds[name].append(steps_per_s(trainer, max(5, n), warmup=2))
            finally:
                torch.set_flush_denormal(False)
                torch.set_num_threads(args.threads)
    options = {name: float(np.median(r)) for name, r in rounds.items()}

    device = torch.device("cpu")
    result = {
        "benchmark": "step_profile", "device": device_name(device), "torch": torch.__version__,
        "command": f"python benchmarks/step_profile.py --preset {args.preset} --threads {args.threads}",
        "options_rounds_steps_per_s": rounds,
        "preset": args.preset, "size": list(pair.size), "batch": config.batch_size,
        "steps_per_s": rate, "step_gflop": flops / 1e9, "achieved_gflops": flops * rate / 1e9,
        "conv_gflops_inside_step": flops / 1e9 / (conv_ms / 1e3) if conv_ms else None,
        "conv_ceiling": ceiling, "ceiling_gflops": best, "share_of_ceiling": flops * rate / 1e9 / best,
        "profile": prof, "options_steps_per_s": options,
    }
    print(f"{args.preset} preset, {pair.size[0]}x{pair.size[1]}, batch {config.batch_size}, {args.threads} threads: "
          f"{rate:.2f} steps/s, {flops / 1e9:.2f} GFLOP/step -> {flops * rate / 1e9:.1f} GFLOP/s "
          f"({result['share_of_ceiling']:.0%} of the plain-conv ceiling {best:.1f} GFLOP/s)")
    print(f"profiled step: {prof['wall_ms_per_step']:.1f} ms")
    for k, v in prof["kinds_ms"].items():
        print(f"  {k:<50} {v:6.1f} ms  {v / prof['wall_ms_per_step']:5.1%}")
    for k, v in prof["top_other_ops_ms"].items():
        print(f"    {k:<48} {v:6.1f} ms")
    for k, v in sorted(prof["regions_ms"].items(), key=lambda kv: -kv[1]):
        print(f"  region {k:<43} {v:6.1f} ms  {v / prof['wall_ms_per_step']:5.1%}")
    for r in ceiling:
        size = f"{r['size'][0]}x{r['size'][1]}"
        print(f"  plain 3x3 conv {r['channels']:>3} ch at {size}, fwd+bwd: {r['gflops']:.1f} GFLOP/s")
    for k, v in options.items():
        print(f"  {k:<60} {v:.2f} steps/s")
    write_result(result, "step_profile", device, args.out)


if __name__ == "__main__":
    main()
