"""The paper's analyses: ``deepsim-lite knn`` (App. G), ``bench video`` (Sec. 4.2) and ``sweep`` (its grid on Ray).

Each analysis module (knn, video, sweep) is imported by the command that runs it, not when the CLI starts.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

from .._io import write_json, write_text
from ..method import viz
from ..method.config import PRESETS
from ..method.model import load_model
from ..primitives.images import save_image
from ._common import Parser, int_at_least, non_negative, positive, positive_float


def add_knn(sub) -> None:
    p = sub.add_parser("knn", help="App. G: does TPS bring test patches closer to the training patches?")
    p.add_argument("--train", help="training image (default: data/videos/carphone/frame_000.png)")
    p.add_argument("--test", help="test image, same size (default: data/videos/carphone/frame_060.png)")
    p.add_argument("--primitive", default="edges", choices=["edges", "seg", "seg_edges"])
    p.add_argument("--features", default="auto", choices=["auto", "resnet50", "vgg16", "raw"],
                   help="auto (resnet50 where its ImageNet weights are here, else vgg16) | resnet50 (layer3) | "
                   "vgg16 (relu5_3) | raw (16x16 pixel patches)")
    p.add_argument("--weights", default="auto", choices=["auto", "imagenet", "random"], help="the network's weights")
    p.add_argument("--n-aug", type=non_negative, default=50, help="TPS warps added to the bank (paper: 50)")
    p.add_argument("--scale", type=positive_float, default=2.0, help="analysis size relative to the lesson model's")
    p.add_argument("--model", help="trained model.pt (default: train the lesson model once, cached); 'none' "
                   "skips the prediction error")
    p.add_argument("--seed", type=non_negative, default=0)
    p.add_argument("--out", default="outputs/knn")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_knn)


def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks of the paper")
    bench = p.add_subparsers(dest="bench", required=True, parser_class=Parser)
    p = bench.add_parser("video", help="Sec. 4.2: train on frame 0, score every other frame")
    p.add_argument("--clips", nargs="+", default=["carphone", "bikes"], help="shipped names, frame folders or videos")
    p.add_argument("--primitives", nargs="+", default=["seg", "edges", "seg_edges"],
                   choices=["edges", "seg", "seg_edges"])
    p.add_argument("--augmentations", nargs="+", default=["crop_flip", "tps"],
                   choices=["tps", "crop_flip", "none", "patchnn"],
                   help="methods: a generator trained with tps / crop_flip / none, or patchnn (patch nearest "
                        "neighbours, no training)")
    p.add_argument("--preset", default="lesson", choices=list(PRESETS))
    p.add_argument("--frames", type=int_at_least(2), default=30, help="frames read per clip (training frame included)")
    p.add_argument("--segmentation", default="flow", choices=["flow", "kmeans"],
                   help="test-frame labels: the training frame's carried by optical flow (default) or colour k-means")
    p.add_argument("--iterations", type=positive)
    p.add_argument("--out", default="outputs/video")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_bench_video)


def add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="a grid of video-benchmark cells as Ray tasks: this machine, or a cluster "
                       "(--address); mean ± std over seeds and paired comparisons")
    p.add_argument("grid", nargs="?", help="a YAML or TOML grid file (keys as the options below; fields: a mapping); "
                   "options given here override its keys")
    p.add_argument("--clips", nargs="+", help="shipped clips (carphone bikes), frame folders or video files")
    p.add_argument("--primitives", nargs="+", choices=["edges", "seg", "seg_edges"])
    p.add_argument("--methods", nargs="+", choices=["tps", "crop_flip", "none", "patchnn"],
                   help="a generator trained with tps / crop_flip / none, or patchnn (no training, runs once)")
    p.add_argument("--seeds", nargs="+", type=non_negative, help="training seeds (default: 0)")
    p.add_argument("--set", dest="fields", action="append", metavar="FIELD=V1,V2",
                   help="a TrainConfig field and its values, e.g. --set iterations=250,500 --set omega.L=5,10 "
                        "(omega.* and crop.* for Omega and crop+flip); repeat for more fields")
    p.add_argument("--preset", choices=list(PRESETS), help="default: lesson")
    p.add_argument("--frames", type=int_at_least(2), help="frames read per clip (default 30)")
    p.add_argument("--segmentation", choices=["flow", "kmeans"], help="test-frame labels (default flow)")
    p.add_argument("--out", default="outputs/sweep", help="one JSON per cell, sweep.md and sweep.json")
    p.add_argument("--address", help="join a running Ray cluster: auto | ray://HOST:10001 (default: start Ray here)")
    p.add_argument("--num-cpus", type=positive, help="cores Ray may use on this machine (default: all)")
    p.add_argument("--cpus-per-cell", type=positive, default=1, help="cores (torch threads) each cell declares")
    p.add_argument("--gpus-per-cell", type=float, help="GPUs each cell declares (default: 1 if the cluster has GPUs)")
    p.add_argument("--max-retries", type=non_negative, default=2, help="further attempts of a failed cell")
    p.add_argument("--quiet", action="store_true", help="no line per cell, no progress bar")
    p.set_defaults(func=_cmd_sweep)


def _cmd_knn(args: argparse.Namespace) -> int:
    """App. G: 1-NN patch distances of a test primitive to the training primitive, without and with TPS."""
    from ..analysis import knn

    out = Path(args.out)
    model = "cached" if args.model is None else (None if args.model == "none" else load_model(args.model))
    tr, te, reach = knn.run_experiment(args.train, args.test, args.primitive, args.features, args.weights, args.n_aug,
                                       args.scale, model, seed=args.seed, progress=not args.quiet)
    save_image(out / "knn.png", viz.knn_figure(tr.image, tr.primitive, te.primitive, reach, te.image))
    default_train, default_test = knn.shipped_pair_paths()
    summary = {"train": args.train or default_train, "test": args.test or default_test, "primitive": args.primitive,
               **reach.summary()}
    write_json(out / "knn.json", summary)
    line = (f"mean 1-NN distance {summary['mean_1nn_without_tps']:.2f} -> {summary['mean_1nn_with_tps']:.2f} with "
            f"{args.n_aug} TPS warps [{reach.features}]")
    if "corr_error_vs_1nn_with_tps" in summary:
        c = summary["corr_error_vs_1nn_with_tps"]
        line += f"; correlation with the prediction error: Pearson {c['pearson']:.2f}, Spearman {c['spearman']:.2f}"
    print(line)
    print(f"wrote {out}/knn.png and {out}/knn.json")
    return 0


def _cmd_bench_video(args: argparse.Namespace) -> int:
    """The paper's video benchmark (Sec. 4.2) on shipped clips or your own (folders of frames, video files)."""
    from ..analysis import video

    overrides = {"iterations": args.iterations} if args.iterations else {}
    results = video.run_benchmark(args.clips, args.primitives, args.augmentations, args.preset, args.out,
                                  args.frames, progress=not args.quiet, segmentation=args.segmentation, **overrides)
    table = video.markdown_table(results)
    name = "table.md" if args.segmentation == "flow" else f"table_{args.segmentation}.md"
    write_text(Path(args.out) / name, table)
    print(table)
    print(f"wrote {args.out}/{name} and one JSON per cell")
    return 0


def grid_from_args(args: argparse.Namespace):
    """The sweep's grid: the grid file's keys, then the options given, then each ``--set FIELD=V1,V2``."""
    from ..analysis import sweep

    kwargs = sweep.read_grid(args.grid) if args.grid else {}
    for name in ("clips", "primitives", "methods", "seeds", "preset", "frames", "segmentation"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    if args.fields:
        fields = dict(sweep.flat_fields(kwargs.get("fields") or {}))
        given = set()
        for item in args.fields:
            key, sep, values = item.partition("=")
            key = key.strip()
            if not sep or not key or not values.strip():
                raise ValueError(f"--set takes FIELD=VALUE[,VALUE...], e.g. --set omega.L=5,10; got {item!r}")
            if key in given:
                raise ValueError(f"--set {key} is given twice; give its values once: --set {key}=V1,V2")
            given.add(key)
            fields[key] = [sweep.parse_value(v) for v in values.split(",")]
        kwargs["fields"] = fields
    return sweep.Grid(**kwargs)


def _cmd_sweep(args: argparse.Namespace) -> int:
    """A grid of video-benchmark cells as Ray tasks; the table of mean ± std over seeds and paired comparisons."""
    from ..analysis import sweep

    try:
        sweep.require_ray()
    except sweep.RayMissing as err:
        print(f"deepsim-lite: error: {err}", file=sys.stderr)
        return 2
    grid = grid_from_args(args)
    outcome = sweep.run(grid, args.out, address=args.address, num_cpus=args.num_cpus, cpus_per_cell=args.cpus_per_cell,
                        gpus_per_cell=args.gpus_per_cell, max_retries=args.max_retries, progress=not args.quiet)
    resources = f" --cpus-per-cell {args.cpus_per_cell}" + (f" --num-cpus {args.num_cpus}" if args.num_cpus else "")
    resources += (f" --address {args.address}" if args.address else "") + f" --out {shlex.quote(str(args.out))}"
    where = "a Ray cluster at " + args.address if args.address else "this machine"
    device = f"{where}: driver {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    _, table = sweep.write_report(args.out, grid, outcome, command=grid.command() + resources, device=device)
    print(table.read_text(), end="")
    print(f"sweep: {len(outcome.ran)} cells run, {len(outcome.skipped)} already finished, {len(outcome.failed)} failed;"
          f" {outcome.wall_s / 60:.1f} min; wrote {table} and {Path(args.out) / 'sweep.json'}")
    if outcome.failed:
        print(f"deepsim-lite: error: {len(outcome.failed)} cells failed (listed above and in {table}); run the same "
              "command again to retry them, finished cells are kept", file=sys.stderr)
        return 1
    return 0
