"""The paper's video benchmark table (Sec. 4.2): {crop+flip, TPS} x {seg, edges, super-primitive} per clip.

    python benchmarks/video_table.py                    # shipped clips, lesson preset (CPU), 30 frames
    python benchmarks/video_table.py --augmentations crop_flip tps patchnn   # + the training-free patch baseline
    python benchmarks/video_table.py --preset paper     # on a GPU

Each cell trains on frame 0 (cached: a re-run skips finished cells) and scores frames 1-29 with
LPIPS, SIFID, PSNR and SSIM. Writes per-cell JSON, a Markdown table and a JSON summary to
benchmarks/results/video/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from _common import device_name

from deepsim_lite import video
from deepsim_lite.method.config import TrainConfig
from deepsim_lite.primitives.images import save_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="+", default=list(video.CLIPS))
    ap.add_argument("--primitives", nargs="+", default=["seg", "edges", "seg_edges"])
    ap.add_argument("--augmentations", nargs="+", default=["crop_flip", "tps"],
                    help="crop_flip / tps / none (trained generators), patchnn (no training)")
    ap.add_argument("--preset", default="lesson")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--segmentation", default="flow", choices=["flow", "kmeans"],
                    help="test-frame labels: carried by optical flow from frame 0 (default) or colour k-means")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "video"))
    args = ap.parse_args()
    overrides = {"iterations": args.iterations} if args.iterations else {}
    t0 = time.perf_counter()
    results = video.run_benchmark(args.clips, args.primitives, args.augmentations, args.preset, args.out,
                                  args.frames, segmentation=args.segmentation, **overrides)
    wall = time.perf_counter() - t0
    table = video.markdown_table(results)
    out = Path(args.out)
    tag = "" if args.segmentation == "flow" else f"_{args.segmentation}"  # another labelling never overwrites flow's
    (out / f"table{tag}.md").write_text(table + "\n")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    summary = {"benchmark": "video_table", "device": device_name(device), "torch": torch.__version__,
               "wall_s": wall, "command": "python benchmarks/video_table.py " + " ".join(
                   f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()
                   if v is not None and k != "out"),
               "cells": [{k: r.get(k) for k in ("clip", "primitive", "segmentation", "augmentation", "preset",
                                                "perceptual_loss", "summary", "labels", "ms_per_frame")}
                         for r in results]}
    (out / f"summary{tag}.json").write_text(json.dumps(summary, indent=2) + "\n")
    # The figure: rows of frames, primitive / truth / crop+flip / TPS (super-primitive if it ran).
    config = TrainConfig.preset(args.preset, **overrides)
    prim = "seg_edges" if "seg_edges" in args.primitives else args.primitives[0]
    for clip in args.clips:
        if clip not in video.CLIPS:
            continue
        pairs = video.clip_pairs(video.load_frames(video.clip_path(clip), args.frames), prim, config, clip,
                                 segmentation=args.segmentation)
        models = {aug: video.method_model(pairs[0], prim, aug, args.preset, **overrides) for aug in args.augmentations}
        picked = [1, len(pairs) // 2, len(pairs) - 1]
        save_image(out / f"figure_{clip}_{prim}{tag}.png", video.comparison_figure(pairs, models, picked))
    print(table)
    print(f"wall time {wall / 60:.1f} min (cells; figures after); wrote {out}/table{tag}.md, summary{tag}.json "
          "and figures")


if __name__ == "__main__":
    main()
