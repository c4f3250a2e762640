"""Held-out evaluation: TPS vs crop+flip vs no augmentation, scored where none of them trained.

    python benchmarks/heldout.py                 # carphone frame 0, super-primitive, lesson preset, 3 seeds
    python benchmarks/heldout.py --seeds 5 --variants tps crop_flip
    python benchmarks/heldout.py --preset paper  # on a GPU

Every variant trains on the same pair (frame 0 of a shipped clip) once per seed (models are cached: a
re-run only scores), then is scored on three test sets that are not the TPS training distribution
(``deepsim_lite.analysis.heldout``): TPS warps of another family (3×3 grid, L = 6), affine + elastic warps, and
the clip's other frames with the training frame's labels carried by optical flow. For each variant it
reports mean ± std over seeds; for each comparison (e.g. TPS − crop+flip) the difference with a 95% t
interval over the per-seed differences (the same seed pairs the two runs; the items are fixed) and the share of
items where A wins. PSNR and SSIM
count only the pixels a warp takes from inside the image; LPIPS and SIFID see whole images. Writes JSON and
a Markdown table to benchmarks/results/ (or --out).

Variants: ``tps`` (the paper), ``crop_flip`` (pix2pixHD-SIA), ``none``, ``tps+flip`` (TPS with the
official code's horizontal flip), ``tps/pytorch-init`` (TPS with PyTorch's default weight init instead of
pix2pixHD's). Each fixes ``flip`` and ``init`` explicitly, so its meaning does not follow the defaults.
``patchnn`` is the training-free baseline (:mod:`deepsim_lite.analysis.patchnn`): deterministic, so it is scored once
and its scores stand for every seed (its std over seeds is 0; the intervals then carry the generators' spread).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import device_name

from deepsim_lite import heldout, metrics, video
from deepsim_lite._io import write_json, write_text
from deepsim_lite.analysis.patchnn import PatchNN
from deepsim_lite.method.cache import cached_model
from deepsim_lite.method.config import TrainConfig

VARIANTS = {  # name: (augmentation, TrainConfig overrides)
    "tps": ("tps", {"flip": False, "init": "pix2pixhd"}),
    "crop_flip": ("crop_flip", {"flip": False, "init": "pix2pixhd"}),  # flips on its own (crop.flip_p)
    "none": ("none", {"flip": False, "init": "pix2pixhd"}),
    "tps+flip": ("tps", {"flip": True, "init": "pix2pixhd"}),
    "tps/pytorch-init": ("tps", {"flip": False, "init": "pytorch"}),
    "patchnn": (None, {}),  # no generator: patch nearest neighbours of the training pair
}
COMPARISONS = [("tps", "crop_flip"), ("tps", "none"), ("tps+flip", "tps"), ("tps", "tps/pytorch-init"),
               ("tps", "patchnn")]
METRICS = {"psnr": True, "ssim": True, "lpips": False, "sifid": False}  # name: higher is better


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="carphone", choices=list(video.CLIPS))
    ap.add_argument("--primitive", default="seg_edges", choices=["edges", "seg", "seg_edges"])
    ap.add_argument("--preset", default="lesson")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--warps", type=int, default=16, help="items per warped test set")
    ap.add_argument("--frames", type=int, default=30, help="frames of the clip (frame 0 trains)")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/heldout_<device>.json)")
    args = ap.parse_args()
    extra = {"iterations": args.iterations} if args.iterations else {}
    config = TrainConfig.preset(args.preset, **extra)
    frames = video.load_frames(video.clip_path(args.clip), args.frames)
    pairs = video.clip_pairs(frames, args.primitive, config, args.clip, segmentation="flow")
    sets = [*heldout.warp_sets(pairs[0], n=args.warps), heldout.frame_set(pairs)]
    scorers = {"lpips": metrics.LPIPS(), "sifid": metrics.SIFID()}
    t0 = time.perf_counter()
    scores: dict = {}  # variant -> set -> metric -> (seeds, items)
    loss_label, train_s = None, {}
    for name in args.variants:
        aug, overrides = VARIANTS[name]
        per_seed = []
        for seed in range(args.seeds):
            t = time.perf_counter()
            if aug is None:  # deterministic: one scoring stands for every seed
                if not per_seed:
                    per_seed.append({s.name: heldout.score(PatchNN(pairs[0]), s, scorers) for s in sets})
                else:
                    per_seed.append(per_seed[0])
                continue
            model = cached_model(pairs[0], args.primitive, aug, args.preset, progress=False, seed=seed, **overrides,
                                 **extra)
            train_s.setdefault(name, []).append(model.info.get("wall_time_s"))
            loss_label = model.info.get("perceptual")
            per_seed.append({s.name: heldout.score(model, s, scorers) for s in sets})
            print(f"{name:>16} seed {seed}: " + ", ".join(
                f"{s.name} PSNR {np.mean(per_seed[-1][s.name]['psnr']):.2f}" for s in sets)
                + f" ({time.perf_counter() - t:.0f} s)", flush=True)
        scores[name] = {s.name: {m: np.array([r[s.name][m] for r in per_seed]) for m in METRICS} for s in sets}
    wall = time.perf_counter() - t0

    summary = {name: {s: {m: {"mean": float(v.mean(1).mean()), "std_over_seeds": float(v.mean(1).std(ddof=1))
                              if len(v) > 1 else 0.0}
                          for m, v in by_metric.items()} for s, by_metric in by_set.items()}
               for name, by_set in scores.items()}
    paired = []
    for a, b in COMPARISONS:
        if a in scores and b in scores:
            for s in sets:
                row = {"a": a, "b": b, "set": s.name}
                row.update({m: heldout.paired_difference(scores[a][s.name][m], scores[b][s.name][m], higher)
                            for m, higher in METRICS.items()})
                paired.append(row)
    labels = {k: m.label for k, m in scorers.items()}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    result = {
        "benchmark": "heldout", "device": device_name(device), "torch": torch.__version__,
        "command": "python benchmarks/heldout.py " + " ".join(
            f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()
            if v is not None and k != "out"),
        "clip": args.clip, "primitive": args.primitive, "preset": args.preset, "size_hw": list(pairs[0].size),
        "iterations": config.iterations, "seeds": args.seeds, "reconstruction_loss": loss_label, "labels": labels,
        "test_sets": {s.name: len(s) for s in sets}, "train_wall_s": train_s, "wall_s": wall,
        "outside_share": {s.name: float(1 - s.inside.double().mean()) for s in sets if s.inside is not None},
        "summary": summary, "paired": paired,
        "per_item": {n: {s: {m: v.tolist() for m, v in d.items()} for s, d in by.items()} for n, by in scores.items()},
    }
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"heldout_{device.type}.json"
    write_json(out, result)
    table = markdown(result)
    write_text(out.with_suffix(".md"), table + "\n")
    print(table)
    print(f"wall time {wall / 60:.1f} min; wrote {out} and {out.with_suffix('.md')}")


def markdown(result: dict) -> str:
    """The two tables: mean ± std over seeds per (test set, variant), and the paired differences."""
    w = {k: v.split("[", 1)[1].rstrip("]") for k, v in result["labels"].items()}
    ctx = f"{result['preset']} preset, {result['reconstruction_loss']}, {result['seeds']} seeds"
    lines = [f"| test set ({ctx}) | variant | PSNR ↑ | SSIM ↑ | LPIPS ↓ [{w['lpips']}] | SIFID ↓ [{w['sifid']}] |",
             "|---|---|---|---|---|---|"]
    for s, n in result["test_sets"].items():
        for name, by_set in result["summary"].items():
            c = by_set[s]
            lines.append(f"| {s} ({n}) | {name} | " + " | ".join(
                f"{c[m]['mean']:.{p}f} ± {c[m]['std_over_seeds']:.{p}f}"
                for m, p in (("psnr", 2), ("ssim", 3), ("lpips", 3), ("sifid", 3))) + " |")
    over = sorted({row["psnr"]["interval_over"] for row in result["paired"]})
    lines += ["", f"| A − B ({ctx}; 95% t interval over {', '.join(over)}) | test set | ΔPSNR (items A wins) | "
              f"ΔSSIM | ΔLPIPS [{w['lpips']}] | ΔSIFID [{w['sifid']}] |", "|---|---|---|---|---|---|"]
    for row in result["paired"]:
        cells = [f"{row[m]['mean']:+.{p}f} [{row[m]['ci_low']:+.{p}f}, {row[m]['ci_high']:+.{p}f}] "
                 f"({row[m]['a_better_fraction']:.0%})"
                 for m, p in (("psnr", 2), ("ssim", 3), ("lpips", 4), ("sifid", 3))]
        lines.append(f"| {row['a']} − {row['b']} | {row['set']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
