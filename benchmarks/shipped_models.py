"""What the shipped lesson models gain over a student's minute.

    DEEPSIM_OFFLINE=1 python benchmarks/shipped_models.py   # trains the missing lesson-preset models (~45 s each)

Each model that ships with the package (``data/models/``: the ``lesson_long`` preset, 4000 steps, pixel L1) is put
beside the lesson preset's model of the same pair, augmentation and seed (450 steps, the cheap VGG19 term: what a
student trains live), both scored on the held-out warps of the shipped records (8 of each of ``ds.heldout``'s two
families, seed 2024; the pair's own warps, so the lessons' tuning sample, not a test set of any reported table)
with PSNR, SSIM and LPIPS (real AlexNet weights where found, labelled). The difference is paired over the 16
warps (a t interval: one training run each, so the interval is over warps, not over training runs).

Writes ``benchmarks/results/shipped_models_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _common import device_name, write_result

import deepsim_lite as ds
from deepsim_lite import heldout, metrics
from deepsim_lite._io import write_text

HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False}


def scores(model, pair, lpips) -> dict[str, np.ndarray]:
    """Per-warp scores over both families, in order: ``{metric: (16,)}``."""
    rows: dict[str, list] = {}
    for test in heldout.warp_sets(pair, n=8, seed=2024):
        for k, v in heldout.score(model, test, {"lpips": lpips}).items():
            rows.setdefault(k, []).extend(v)
    return {k: np.array(v) for k, v in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/shipped_models_<device>.json)")
    args = ap.parse_args()
    lesson = ds.lesson_config("lesson")
    lpips = metrics.LPIPS()
    rows = []
    for m in ds.lessons.lesson_models(lesson):
        if m.live:
            continue
        pair = m.pair()
        shipped = ds.cached_model(pair, m.primitive_kind, m.augmentation, lesson.model_preset, progress=False)
        minute = ds.cached_model(pair, m.primitive_kind, m.augmentation, lesson.preset, progress=False)
        a, b = scores(shipped, pair, lpips), scores(minute, pair, lpips)
        record = shipped.info["shipped"]
        rows.append({"name": m.name, "lessons": m.lessons, "what": m.what, "shipped_steps": record["steps"],
                     "shipped_minutes": round(record["wall_time_s"] / 60, 1), "shipped_machine": record["machine"],
                     "lesson_steps": minute.info["steps"], "lesson_seconds": round(minute.info["wall_time_s"], 1),
                     "lesson_reconstruction": minute.info.get("perceptual"),
                     "shipped": {k: float(v.mean()) for k, v in a.items()},
                     "lesson": {k: float(v.mean()) for k, v in b.items()},
                     "difference": {k: heldout.paired_difference(a[k], b[k], HIGHER_IS_BETTER[k]) for k in a}})
        print(f"{m.name}: PSNR {rows[-1]['shipped']['psnr']:.2f} vs {rows[-1]['lesson']['psnr']:.2f} dB, "
              f"LPIPS {rows[-1]['shipped']['lpips']:.3f} vs {rows[-1]['lesson']['lpips']:.3f}", flush=True)
    command = "DEEPSIM_OFFLINE=1 python benchmarks/shipped_models.py"
    result = {"benchmark": "shipped_models", "device": device_name(torch.device("cpu")), "torch": torch.__version__,
              "lpips": lpips.label, "test": "8 tps_L6_3x3 + 8 affine_elastic warps of the pair (seed 2024)",
              "rows": rows, "command": command}
    write_result(result, "shipped_models", torch.device("cpu"), args.out)
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / "shipped_models_cpu.json"
    write_text(out.with_suffix(".md"), markdown(result))


def markdown(result: dict) -> str:
    """The table: each shipped model against the lesson preset's model of the same pair, and the difference."""
    def diff(d: dict, digits: int) -> str:
        return f"{d['mean']:+.{digits}f} [{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]"

    lines = [f"Shipped lesson models (`lesson_long`) against the lesson preset's model of the same pair, on "
             f"{result['test']}; {result['device']}; `{result['command']}`", "",
             "| model (lessons) | shipped: steps, time | lesson preset: steps, time, ℓ_rec | PSNR ↑ shipped / lesson "
             f"| ΔPSNR [95% t over warps] | LPIPS ↓ [{result['lpips']}] shipped / lesson | ΔLPIPS |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        s, le, d = r["shipped"], r["lesson"], r["difference"]
        lines.append(f"| {r['name']} ({r['lessons']}) | {r['shipped_steps']}, {r['shipped_minutes']} min | "
                     f"{r['lesson_steps']}, {r['lesson_seconds']:.0f} s, {r['lesson_reconstruction']} | "
                     f"{s['psnr']:.2f} / {le['psnr']:.2f} | {diff(d['psnr'], 2)} | "
                     f"{s['lpips']:.3f} / {le['lpips']:.3f} | {diff(d['lpips'], 3)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
