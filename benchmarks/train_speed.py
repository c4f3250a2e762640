"""Training speed: the paper's pipeline (`reference`) vs everything we can do (`fast`), side by side.

* ``reference`` — as the official code runs it: fp32, one CPU TPS warp per sample with scipy in a
  DataLoader, no compile, a host synchronisation every step (losses logged each iteration);
* ``fast`` — warps sampled in batches on the training device, bf16 autocast (CUDA), channels_last
  (CUDA), fused Adam (CUDA), optional torch.compile, no host synchronisation inside the timed loop.

On a GPU it runs the paper preset at 256×256 and 640×320; on a CPU the lesson preset (the paper
preset would take hours). For each size it prints steps/s of both, the ratio fast / reference, the
projected wall time of 16,000 steps, peak memory and the model FLOP utilisation (FLOPs of one step
counted with ``torch.utils.flop_counter``; the peak from a small table of GPUs, or ``--peak-tflops``).
Then a quality check: both paths trained for the same number of steps from the same initial weights,
scored on held-out TPS warps (PSNR, SSIM).

    python benchmarks/train_speed.py --quick          # CPU: a couple of minutes
    python benchmarks/train_speed.py                  # GPU: paper preset, 256x256 and 640x320
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
import warnings

import torch
from _common import ReferenceTPSDataset, device_name, step_flops, write_result

import deepsim_lite as ds
from deepsim_lite import augment, metrics, train

# Dense bf16 (or fp16) tensor-core peaks in TFLOP/s, from the vendors' data sheets.
PEAK_TFLOPS = {"H100 SXM": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0,
               "L40S": 362.0, "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0, "RTX 2080 Ti": 107.0}


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_TFLOPS[key]
    return None


def make_pair(size: tuple[int, int], multiple: int) -> ds.Pair:
    """The cat, resized to ``size``, with its super-primitive."""
    image = ds.load_image(ds.sample_path("chelsea"))
    img, _ = ds.resize_pair(image, None, size)
    return ds.load_pair(img, None, "seg_edges", multiple)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (Linux: KiB)


def configs(preset: str, device: torch.device, compile_mode: str | None, iterations: int):
    base = ds.TrainConfig.preset(preset, iterations=iterations, log_every=10**9, checkpoint_every=10**9,
                                    device=device.type)
    reference = dataclasses.replace(base, amp=False, channels_last=False, fused_adam=False, compile=False)
    fast = dataclasses.replace(base, amp=None, channels_last=None, fused_adam=None,
                               compile=compile_mode is not None, compile_mode=compile_mode or "default")
    return reference, fast


def time_reference(trainer: train.Trainer, steps: int, warmup: int, workers: int) -> float:
    pair = trainer.pair
    dataset = ReferenceTPSDataset(ds.encode(pair.primitive), pair.image, steps + warmup)
    loader = torch.utils.data.DataLoader(dataset, batch_size=trainer.config.batch_size, num_workers=workers,
                                         pin_memory=trainer.device.type == "cuda", persistent_workers=workers > 0)
    it = iter(loader)
    for _ in range(warmup):
        float(sum(trainer.train_step(next(it)).values()))
    sync(trainer.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        float(sum(trainer.train_step(next(it)).values()))  # the per-iteration loss logging of the official loop
    sync(trainer.device)
    return steps / (time.perf_counter() - t0)


def time_fast(trainer: train.Trainer, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        trainer.train_step()
    sync(trainer.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    sync(trainer.device)
    return steps / (time.perf_counter() - t0)


def held_out_quality(model: ds.DeepSIMModel, pair: ds.Pair, n: int = 8) -> dict:
    g = torch.Generator().manual_seed(4242)
    truth, prims = augment.augment_pair(pair.image, ds.encode(pair.primitive), "tps", batch=n, generator=g)
    out = model.generate(prims.to(model.device)).cpu()
    p, s = metrics.psnr(out, truth), metrics.ssim(out, truth)
    return {"psnr_mean": p.mean().item(), "psnr_std": p.std().item(), "ssim_mean": s.mean().item(),
            "ssim_std": s.std().item()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few steps (CPU: a couple of minutes)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--preset", default=None, help="paper (default on CUDA) | lesson (default on CPU)")
    ap.add_argument("--sizes", nargs="+", default=None, help="HxW sizes (default: 256x256 640x320 on CUDA)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per path")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--quality-steps", type=int, default=None, help="training steps of the quality check (0: skip)")
    ap.add_argument("--compile-mode", default=None, help="torch.compile mode for the fast path "
                    "(default: 'max-autotune-no-cudagraphs' on CUDA, no compile on CPU; 'none' disables)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers of the reference path")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--flops-only", action="store_true", help="only count the FLOPs of one step per size")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    preset = args.preset or ("paper" if cuda else "lesson")
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in (args.sizes or (["256x256", "640x320"] if cuda
                                                                                 else ["84x128"]))]
    if args.steps:
        steps = args.steps
    else:
        steps = (30 if args.quick else 200) if cuda else (20 if args.quick else 100)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 3)
    quality_steps = args.quality_steps if args.quality_steps is not None else (300 if args.quick else 2000)
    compile_mode = args.compile_mode or ("max-autotune-no-cudagraphs" if cuda else None)
    compile_mode = None if compile_mode == "none" else compile_mode
    workers = args.workers if args.workers is not None else (2 if cuda else 0)
    peak = peak_tflops(device, args.peak_tflops)
    warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    if args.flops_only:
        for h, w in sizes:
            cfg, _ = configs(preset, device, None, 16000)
            pair = make_pair((h, w), cfg.multiple)
            reset_peak(device)
            flops = step_flops(train.Trainer(pair, cfg))
            print(f"{h}x{w} {preset}: {flops / 1e12:.4f} TFLOP per training step (batch {cfg.batch_size}), "
                  f"{16000 * flops / 1e15:.2f} PFLOP for 16,000 steps; peak memory "
                  f"{peak_memory_mib(device):.0f} MiB {'GPU' if cuda else 'RSS (process, so far)'}")
        return

    rows = []
    for h, w in sizes:
        ref_cfg, fast_cfg = configs(preset, device, compile_mode, 16000)
        pair = make_pair((h, w), ref_cfg.multiple)
        row = {"size": f"{h}x{w}", "preset": preset}
        for name, cfg in (("reference", ref_cfg), ("fast", fast_cfg)):
            reset_peak(device)
            trainer = train.Trainer(pair, cfg)
            t0 = time.perf_counter()
            sps = (time_reference(trainer, steps, warmup, workers) if name == "reference"
                   else time_fast(trainer, steps, warmup))
            flops = step_flops(train.Trainer(pair, dataclasses.replace(cfg, compile=False))) if name == "reference" \
                else row["reference"]["step_tflop"] * 1e12
            row[name] = {"steps_per_s": sps, "projected_16k_steps_min": 16000 / sps / 60,
                         "peak_memory_mib": peak_memory_mib(device),
                         "step_tflop": flops / 1e12, "achieved_tflops": flops * sps / 1e12,
                         "mfu": flops * sps / (peak * 1e12) if peak else None,
                         "reconstruction": trainer.gan.perceptual,  # e.g. "dropped (no vgg19 weights)": a lighter step
                         "wall_s": time.perf_counter() - t0}
            del trainer
        row["ratio_fast_over_reference"] = row["fast"]["steps_per_s"] / row["reference"]["steps_per_s"]
        rows.append(row)
        mem = "MiB GPU" if cuda else "MiB RSS (process)"
        for name in ("reference", "fast"):
            r = row[name]
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a (no peak known)"
            print(f"{h}x{w} {preset} {name:>9}: {r['steps_per_s']:7.2f} steps/s | 16k steps in "
                  f"{r['projected_16k_steps_min']:7.1f} min | peak {r['peak_memory_mib']:8.0f} {mem} | "
                  f"{r['step_tflop']:.3f} TFLOP/step | MFU {mfu}")
        print(f"{h}x{w}: fast / reference = {row['ratio_fast_over_reference']:.2f}x")

    quality = None
    if quality_steps:
        h, w = sizes[0]
        ref_cfg, fast_cfg = configs(preset, device, compile_mode, quality_steps)
        pair = make_pair((h, w), ref_cfg.multiple)
        quality = {"steps": quality_steps, "size": f"{h}x{w}", "held_out_warps": 8}
        for name, cfg in (("reference", ref_cfg), ("fast", fast_cfg)):
            trainer = train.Trainer(pair, cfg)
            if name == "reference":
                dataset = ReferenceTPSDataset(ds.encode(pair.primitive), pair.image, quality_steps, seed=1)
                loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, num_workers=workers)
                for batch in loader:
                    trainer.train_step(batch)
            else:
                for _ in range(quality_steps):
                    trainer.train_step()
            quality[name] = held_out_quality(trainer.model(), pair)
            del trainer
        q = quality
        print(f"quality after {quality_steps} steps on 8 held-out TPS warps: reference PSNR "
              f"{q['reference']['psnr_mean']:.2f} ± {q['reference']['psnr_std']:.2f} dB, SSIM "
              f"{q['reference']['ssim_mean']:.3f} | fast PSNR {q['fast']['psnr_mean']:.2f} ± "
              f"{q['fast']['psnr_std']:.2f} dB, SSIM {q['fast']['ssim_mean']:.3f}")

    result = {
        "benchmark": "train_speed",
        "device": device_name(device),
        "torch": torch.__version__, "peak_tflops": peak, "timed_steps": steps, "warmup_steps": warmup,
        "compile_mode": compile_mode, "reference_workers": workers, "rows": rows, "quality": quality,
        "command": "python benchmarks/train_speed.py " + " ".join(sys.argv[1:]),
    }
    write_result(result, "train_speed", device, args.out)


if __name__ == "__main__":
    main()
