"""Command line: ``deepsim-lite train | generate | knn | bench video | sweep | primitives | weights | demo``.

Errors are one line on stderr (``deepsim-lite: error: ...``) and exit code 2, never a traceback;
an interrupted training run (Ctrl-C) saves its checkpoint, says how to resume and exits 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import cv2
import torch

from . import data, edits, metrics, viz
from ._io import write_json, write_text
from .config import PRESETS, TrainConfig
from .drawn import conform
from .extract import make_primitive
from .features import BACKBONES
from .lessons import MODES, build_student, lesson_config, lesson_models, prepare
from .model import load_model
from .train import RunFinishedError, TrainResult, fit, resume, training_pairs

# The README demo: lift the cat's nose by 6 pixels (the paper's Fig. 1 "raising the nose"),
# on the lesson-size super-primitive of `chelsea`. `deepsim-lite primitives` writes this file.
DEMO_SAMPLE = "chelsea"
DEMO_LIFT = 6 / 84  # of the image height: 6 pixels at 84x128 (the 0.3 lesson size), 9 at 128x192
DEMO_EDIT_FILE = "edits/chelsea_nose_up_seg_edges.png"
# What a demo run folder holds; anything else in it is the user's and is never deleted.
_RUN_FILES = {"config.json", "metrics.jsonl", "model.pt", "samples", "checkpoints"}


def demo_pair() -> data.Pair:
    """The demo's training pair: the cat at the lesson preset's size with its super-primitive."""
    cfg = PRESETS["lesson"]
    return data.load_sample(DEMO_SAMPLE, cfg.primitive_kind, max_side=cfg.max_side, multiple=cfg.multiple,
                            n_segments=cfg.n_segments)


def demo_edit(pair: data.Pair) -> dict:
    """The demo's edit as keyword arguments of :func:`~deepsim_lite.edits.move_region`."""
    return {"box": data.sample_region(DEMO_SAMPLE, "nose", pair.size), "dy": -round(DEMO_LIFT * pair.size[0]), "dx": 0}


def _cmd_primitives(args: argparse.Namespace) -> int:
    """Write each sample's edges / seg / seg_edges PNGs (full resolution), and the demo's edit."""
    names = args.samples or list(data.SAMPLES)
    default = args.out is None
    out = data.data_dir() / "primitives" if default else Path(args.out)
    for name in names:
        image = data.load_image(data.sample_path(name))
        prim = make_primitive(image, "seg_edges", n_segments=args.n_segments, seed=args.seed)
        data.save_primitive(out / f"{name}_edges.png", prim.replace(labels=None, n_labels=0))
        data.save_primitive(out / f"{name}_seg.png", prim.replace(edges=None))
        data.save_primitive(out / f"{name}_seg_edges.png", prim)
        print(f"{name}: {prim.size[0]}x{prim.size[1]}, {prim.n_labels} labels, "
              f"{int(prim.edges.sum())} edge pixels -> {out}/{name}_{{edges,seg,seg_edges}}.png")
    if not args.samples:
        pair = demo_pair()
        edit = demo_edit(pair)
        # the shipped edit lives in data/edits; with --out everything stays inside that folder
        path = data.data_dir() / DEMO_EDIT_FILE if default else out / Path(DEMO_EDIT_FILE).name
        data.save_primitive(path, edits.move_region(pair.primitive, **edit))
        print(f"demo edit ({edit}) -> {path}")
    return 0


_RESUME_HONOURS = ("--out", "--device", "--quiet")


def _cmd_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.resume:
        given = [opt for opt, dest in (("IMAGE", "images"), ("--primitive", "primitive"), ("--primitive-file",
                 "primitive_file"), ("--preset", "preset"), ("--augmentation", "augmentation"), ("--iterations",
                 "iterations"), ("--max-side", "max_side"), ("--seed", "seed"), ("--init-from", "init_from"),
                 ("--segmentation", "segmentation")) if getattr(args, dest) not in (None, [])]
        if given:
            raise ValueError(f"--resume continues the run as it was configured and honours only "
                             f"{', '.join(_RESUME_HONOURS)}; drop {', '.join(given)}")
        try:
            result = resume(out, progress=not args.quiet, preview="files", device=args.device)
        except RunFinishedError as done:
            print(f"deepsim-lite: {done.summary}. To train it further: deepsim-lite train IMAGE --init-from {out} "
                  "--out NEW_RUN")
            return 0
    else:
        if not args.images:
            raise ValueError("train needs an IMAGE (or several of one scene, or --resume with --out RUN_DIR)")
        config, prims = _train_config(args)
        if (out / "checkpoints" / "last.pt").exists():
            raise ValueError(f"{out} already holds a run; use --resume to continue it or pick another --out")
        reference = None
        if args.init_from and prims is None and config.primitive_kind != "edges":
            reference = training_pairs(args.init_from)[0]  # labels must mean what they meant to the source model
        pairs = data.load_pairs(args.images, prims, config.primitive_kind, config.multiple, config.max_side,
                                config.n_segments, config.seed, args.segmentation or "kmeans", reference=reference)
        result = fit(pairs, config, out, progress=not args.quiet, preview="files", init_from=args.init_from)
    return _report_training(result, out)


def _train_config(args: argparse.Namespace):
    overrides = {name: getattr(args, name) for name in ("augmentation", "seed", "iterations", "max_side", "device")
                 if getattr(args, name) is not None}
    kind, prims = args.primitive or "auto", None
    if args.primitive_file:
        if len(args.primitive_file) != len(args.images):
            raise ValueError(f"{len(args.images)} images but {len(args.primitive_file)} --primitive-file; give one "
                             "primitive per image, in the same order")
        prims = [data.load_primitive(f, None if kind == "auto" else kind) for f in args.primitive_file]
        kinds = {p.kind for p in prims}
        if len(kinds) > 1:
            raise ValueError(f"the primitive files hold different kinds ({', '.join(sorted(kinds))}); give one kind")
        kind = prims[0].kind
    if args.init_from:  # fine-tuning: the source's configuration (its networks), with what the command line sets
        if args.preset:
            raise ValueError("--init-from fine-tunes with the source model's configuration; drop --preset (use "
                             "--iterations for a shorter schedule)")
        source = load_model(args.init_from).config
        overrides.setdefault("device", "auto")  # not the source machine's device
        return dataclasses.replace(source, **({} if kind == "auto" else {"primitive_kind": kind}), **overrides), prims
    return TrainConfig.preset(args.preset or "lesson", primitive_kind="seg_edges" if kind == "auto" else kind,
                              **{"augmentation": "tps", "seed": 0, **overrides}), prims


def _report_training(result: TrainResult, out: Path) -> int:
    if result.interrupted:
        print(f"deepsim-lite: interrupted at step {result.steps}; checkpoint {out}/checkpoints/last.pt; continue "
              f"with: deepsim-lite train --resume --out {out}", file=sys.stderr)
        return 130
    print(f"trained {result.steps} steps in {result.wall_time_s:.1f} s ({result.steps_per_s:.2f} steps/s, "
          f"perceptual loss: {result.perceptual}) -> {out}/model.pt")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    model = load_model(args.checkpoint)
    drawn = conform(args.primitive, model)  # a drawing from another program made readable, or refused
    for note in drawn.notes:
        print(f"deepsim-lite: note: {args.primitive}: {note}", file=sys.stderr)
    image = model.generate(drawn.primitive)
    data.save_image(args.out, image)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[2]})")
    return 0


def _demo_run_dir(out: Path) -> Path:
    """``out/run`` emptied of a previous demo's files; refuses when it holds anything else."""
    run = out / "run"
    if not run.exists():
        return run
    if not run.is_dir():
        raise ValueError(f"{run} is a file; the demo writes its run folder there: move it or pick another --out")
    def ours(name: str, known) -> bool:  # a file the demo writes, or the temp file of an interrupted write
        return any(name == k or (name.startswith(f".{k}.") and name.endswith(".tmp")) for k in known)

    samples = [p.name for p in (run / "samples").glob("*")]
    foreign = sorted(p.name for p in run.iterdir() if not ours(p.name, _RUN_FILES))
    foreign += sorted(f"samples/{n}" for n in samples
                      if not (n.startswith("step_") or (n.startswith(".step_") and n.endswith(".tmp"))))
    foreign += sorted(f"checkpoints/{p.name}" for p in (run / "checkpoints").glob("*")
                      if not ours(p.name, ["last.pt"]))
    if foreign:
        raise ValueError(f"{run} holds files the demo did not write ({', '.join(foreign[:3])}); move them or "
                         "pick another --out")
    for p in run.iterdir():
        if p.is_file():
            p.unlink()
    for sub in ("samples", "checkpoints"):
        for p in (run / sub).glob("*"):
            p.unlink()
    return run


def _cmd_demo(args: argparse.Namespace) -> int:
    """Train the lesson preset on the cat with TPS, render the shipped edit, write a grid + JSON."""
    t0 = time.perf_counter()
    out = Path(args.out)
    pair = demo_pair()
    config = TrainConfig.preset("lesson", **({"iterations": args.iterations} if args.iterations else {}))
    edited = data.load_primitive(data.data_dir() / DEMO_EDIT_FILE, "seg_edges", n_labels=pair.primitive.n_labels)
    result = fit(pair, config, _demo_run_dir(out), progress=not args.quiet, preview="files")
    if result.interrupted:
        print("deepsim-lite: demo interrupted; run it again to start afresh", file=sys.stderr)
        return 130
    t_gen = time.perf_counter()
    recon = result.model.generate(pair.primitive)
    t_gen = time.perf_counter() - t_gen
    t_edit = time.perf_counter()
    rendered = result.model.generate(edited)
    t_edit = time.perf_counter() - t_edit
    grid = viz.make_grid([pair.image, pair.primitive, recon, edited, rendered],
                         ["training image", "its primitive", "G(primitive)", "edited: nose up", "G(edited)"],
                         tile_height=168)
    data.save_image(out / "demo.png", grid)
    data.save_image(out / "generated_edit.png", rendered)
    summary = {
        "sample": DEMO_SAMPLE, "size_hw": list(pair.size), "primitive": config.primitive_kind,
        "augmentation": config.augmentation, "preset": "lesson", "iterations": result.steps,
        "edit": {"file": f"data/{DEMO_EDIT_FILE}", **demo_edit(pair)},
        "perceptual_loss": result.perceptual,
        "train_wall_s": round(result.wall_time_s, 2), "steps_per_s": round(result.steps_per_s, 2),
        "generate_ms": round(1000 * t_gen, 1), "generate_edit_ms": round(1000 * t_edit, 1),
        "reconstruction_psnr_db": round(float(metrics.psnr(recon, pair.image)), 2),
        "total_wall_s": round(time.perf_counter() - t0, 2),
        "device": str(result.model.device), "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
    }
    write_json(out / "metrics.json", summary)
    print(f"wrote {out}/demo.png and {out}/metrics.json: {result.steps} steps in {result.wall_time_s:.1f} s "
          f"({result.steps_per_s:.1f} steps/s), reconstruction PSNR {summary['reconstruction_psnr_db']} dB, "
          f"total {summary['total_wall_s']:.1f} s")
    return 0


def _cmd_knn(args: argparse.Namespace) -> int:
    """App. G: 1-NN patch distances of a test primitive to the training primitive, without and with TPS."""
    from . import knn

    out = Path(args.out)
    model = "cached" if args.model is None else (None if args.model == "none" else load_model(args.model))
    tr, te, reach = knn.run_experiment(args.train, args.test, args.primitive, args.features, args.weights, args.n_aug,
                                       args.scale, model, seed=args.seed, progress=not args.quiet)
    data.save_image(out / "knn.png", viz.knn_figure(tr.image, tr.primitive, te.primitive, reach, te.image))
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
    from . import video

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
    from . import sweep

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
    from . import sweep

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


def _cmd_weights(args: argparse.Namespace) -> int:
    """List the ImageNet backbones the toolkit uses and whether their files are cached; or fetch them."""
    from . import features

    unknown = [n for n in args.names if n not in features.BACKBONES]
    if unknown or (args.names and args.action == "list"):
        raise ValueError(f"unknown backbone {unknown[0]!r}; choose from {', '.join(features.BACKBONES)}" if unknown
                         else "names go with 'weights fetch'; 'weights' alone lists every backbone")
    if args.action == "fetch":
        names = args.names or list(features.BACKBONES)
        failed = []
        for name in names:
            member = features.weights_enum(name)
            url = args.mirror.rstrip("/") + "/" + Path(member.url).name if args.mirror else None
            try:
                path = features.fetch(member, url, progress=not args.quiet)
                print(f"{name:>9}: {path}")
            except features.WeightsUnavailable as err:
                failed.append(name)
                print(f"deepsim-lite: error: {name}: {err}", file=sys.stderr)
        if failed:
            return 2
    for row in features.weights_status():
        state = f"cached, {row['mb']} MB" if row["cached"] else "missing"
        print(f"{row['name']:>9}  {state:<17}  {row['use']:<52}  {row['file']}")
    if features.offline():
        print("DEEPSIM_OFFLINE is set: nothing is downloaded; missing weights fall back to labelled random init")
    return 0


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are the CLI's one line (no usage block)."""

    def error(self, message: str):
        where = self.prog.partition(" ")[2]
        self.exit(2, f"deepsim-lite: error: {where + ': ' if where else ''}{message}\n")


def build_parser() -> argparse.ArgumentParser:  # long by design: one declarative table of every command's options
    parser = _Parser(prog="deepsim-lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    positive, non_negative = _int_at_least(1), _int_at_least(0)

    p = sub.add_parser("train", help="train a generator on one image and its primitive")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="training image (PNG/JPEG); several images of one "
                   "scene (frames, photos of one object, one size) train one model together")
    p.add_argument("--primitive", help="edges | seg | seg_edges (default: seg_edges, or the kind of --primitive-file)")
    p.add_argument("--primitive-file", nargs="+", help="primitive PNG(s) instead of extracting them, one per IMAGE")
    p.add_argument("--segmentation", choices=["kmeans", "flow"], help="several images: how the first image's "
                   "segmentation labels the others: kmeans (by colour; default) | flow (frames of a video)")
    p.add_argument("--init-from", help="fine-tune: start from this run directory or checkpoint (or model.pt) with "
                   "its configuration (set --iterations for a shorter schedule); labels are fitted on its training "
                   "image so they mean what they meant to it")
    p.add_argument("--preset", help="lesson (CPU, ~90 s; default) | laptop (CPU, ~15 min) | paper (GPU, 16k steps)")
    p.add_argument("--augmentation", help="tps (default) | crop_flip | none")
    p.add_argument("--iterations", type=positive, help="override the preset's iteration count")
    p.add_argument("--max-side", type=_int_at_least(8), help="downscale the image to this longer side")
    p.add_argument("--device", help="auto | cuda | mps | cpu")
    p.add_argument("--seed", type=non_negative, help="seed of the networks and the warps (default 0)")
    p.add_argument("--out", default="runs/latest", help="run directory")
    p.add_argument("--resume", action="store_true",
                   help=f"continue the interrupted run in --out (honours {', '.join(_RESUME_HONOURS)} only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("generate", help="render a primitive with a trained generator")
    p.add_argument("checkpoint", help="model.pt, checkpoints/last.pt, or a run directory")
    p.add_argument("primitive", help="primitive PNG (see deepsim_lite.data)")
    p.add_argument("--out", default="generated.png", help="output image (.png, .jpg or .jpeg)")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("knn", help="App. G: does TPS bring test patches closer to the training patches?")
    p.add_argument("--train", help="training image (default: data/videos/carphone/frame_000.png)")
    p.add_argument("--test", help="test image, same size (default: data/videos/carphone/frame_060.png)")
    p.add_argument("--primitive", default="edges", choices=["edges", "seg", "seg_edges"])
    p.add_argument("--features", default="resnet50", choices=["resnet50", "raw"],
                   help="resnet50 (layer3) | raw (16x16 pixel patches)")
    p.add_argument("--weights", default="auto", choices=["auto", "imagenet", "random"], help="ResNet50 weights")
    p.add_argument("--n-aug", type=non_negative, default=50, help="TPS warps added to the bank (paper: 50)")
    p.add_argument("--scale", type=_positive_float, default=2.0, help="analysis size relative to the lesson model's")
    p.add_argument("--model", help="trained model.pt (default: train the lesson model once, cached); 'none' "
                   "skips the prediction error")
    p.add_argument("--seed", type=non_negative, default=0)
    p.add_argument("--out", default="outputs/knn")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_knn)

    p = sub.add_parser("bench", help="benchmarks of the paper")
    bench = p.add_subparsers(dest="bench", required=True, parser_class=_Parser)
    p = bench.add_parser("video", help="Sec. 4.2: train on frame 0, score every other frame")
    p.add_argument("--clips", nargs="+", default=["carphone", "bikes"], help="shipped names, frame folders or videos")
    p.add_argument("--primitives", nargs="+", default=["seg", "edges", "seg_edges"],
                   choices=["edges", "seg", "seg_edges"])
    p.add_argument("--augmentations", nargs="+", default=["crop_flip", "tps"],
                   choices=["tps", "crop_flip", "none", "patchnn"],
                   help="methods: a generator trained with tps / crop_flip / none, or patchnn (patch nearest "
                        "neighbours, no training)")
    p.add_argument("--preset", default="lesson", choices=list(PRESETS))
    p.add_argument("--frames", type=_int_at_least(2), default=30, help="frames read per clip (training frame included)")
    p.add_argument("--segmentation", default="flow", choices=["flow", "kmeans"],
                   help="test-frame labels: the training frame's carried by optical flow (default) or colour k-means")
    p.add_argument("--iterations", type=positive)
    p.add_argument("--out", default="outputs/video")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_bench_video)

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
    p.add_argument("--frames", type=_int_at_least(2), help="frames read per clip (default 30)")
    p.add_argument("--segmentation", choices=["flow", "kmeans"], help="test-frame labels (default flow)")
    p.add_argument("--out", default="outputs/sweep", help="one JSON per cell, sweep.md and sweep.json")
    p.add_argument("--address", help="join a running Ray cluster: auto | ray://HOST:10001 (default: start Ray here)")
    p.add_argument("--num-cpus", type=positive, help="cores Ray may use on this machine (default: all)")
    p.add_argument("--cpus-per-cell", type=positive, default=1, help="cores (torch threads) each cell declares")
    p.add_argument("--gpus-per-cell", type=float, help="GPUs each cell declares (default: 1 if the cluster has GPUs)")
    p.add_argument("--max-retries", type=non_negative, default=2, help="further attempts of a failed cell")
    p.add_argument("--quiet", action="store_true", help="no line per cell, no progress bar")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("primitives", help="regenerate the committed sample primitives (data/primitives)")
    p.add_argument("--out", default=None, help="output folder (default: <data>/primitives, and the demo edit in "
                   "<data>/edits)")
    p.add_argument("--samples", nargs="*", choices=list(data.SAMPLES), help="samples (default: all)")
    p.add_argument("--n-segments", type=_int_at_least(1), default=8)
    p.add_argument("--seed", type=non_negative, default=0)
    p.set_defaults(func=_cmd_primitives)

    p = sub.add_parser("weights", help="ImageNet weights the toolkit uses: list them (cached or not), or fetch them")
    p.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    p.add_argument("names", nargs="*", metavar="NAME", help=f"backbones to fetch (default: all): {' '.join(BACKBONES)}")
    p.add_argument("--mirror", help="download from this URL prefix (a mirror with the same file names) "
                   "instead of torchvision's URL")
    p.add_argument("--quiet", action="store_true", help="no download progress bar")
    p.set_defaults(func=_cmd_weights)

    p = sub.add_parser("lessons", help="the lessons: train their models ahead of a class, or build the student version")
    p.add_argument("action", choices=["prepare", "list", "student"],
                   help="prepare: train (or verify) every lesson model; list: show them; student: write the lessons "
                        "with solutions stubbed and outputs cleared")
    p.add_argument("--notebooks", default="notebooks", help="student: the lessons' folder (default: notebooks)")
    p.add_argument("--out", default="dist/student", help="student: where to write them (default: dist/student)")
    p.add_argument("--mode", choices=list(MODES), help="lesson scale (default: $DEEPSIM_MODE, else lesson)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_lessons)

    p = sub.add_parser("demo", help="the README's demo: train on the cat, render an edited primitive")
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--iterations", type=positive, help="override the lesson preset's iteration count")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)
    return parser


def _cmd_lessons(args) -> int:
    if args.action == "student":
        names = build_student(args.notebooks, args.out)
        print(f"wrote {len(names)} student notebooks (solutions stubbed, instructor notes dropped, outputs cleared) "
              f"to {args.out}")
        return 0
    lesson = lesson_config(args.mode)
    if args.action == "list":
        for m in lesson_models(lesson):
            print(f"{m.lessons:>8} | {m.what:<40} | {'cached' if m.is_cached(lesson) else 'not cached'}")
        return 0
    t0 = time.perf_counter()
    rows = prepare(args.mode, progress=not args.quiet)
    trained = sum(r["action"] == "trained" for r in rows)
    print(f"{len(rows)} lesson models ready ({trained} trained, {len(rows) - trained} loaded) in "
          f"{time.perf_counter() - t0:.0f} s; the lessons now start warm")
    return 0


def _note(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"deepsim-lite: note: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores warnings.showwarning on the way out
            warnings.simplefilter("always", data.SizeAdjustedWarning)
            warnings.showwarning = _note
            return args.func(args)
    except (ValueError, OSError, MemoryError, RuntimeError, ImportError, cv2.error) as err:
        if os.environ.get("DEEPSIM_DEBUG"):
            raise
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not isinstance(err, (ValueError, OSError)):  # not a message of ours: say what kind of failure it was
            text = f"{type(err).__name__}: {text} (set DEEPSIM_DEBUG=1 for the traceback)"
        print(f"deepsim-lite: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepsim-lite: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
