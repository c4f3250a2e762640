"""Command line: ``deepsim-lite train | generate | knn | bench video | primitives | demo``.

Errors are one line on stderr (``deepsim-lite: error: ...``) and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

from . import data, edits, primitives, train, viz

# The README demo: lift the cat's nose by 6 pixels (the paper's Fig. 1 "raising the nose"),
# on the lesson-size super-primitive of `chelsea`. `deepsim-lite primitives` writes this file.
DEMO_SAMPLE = "chelsea"
DEMO_EDIT = {"box": (56, 60, 74, 84), "dy": -6, "dx": 0}
DEMO_EDIT_FILE = "edits/chelsea_nose_up_seg_edges.png"


def demo_pair() -> data.Pair:
    cfg = train.TrainConfig.preset("lesson")
    return data.load_sample(DEMO_SAMPLE, cfg.primitive, max_side=cfg.max_side, multiple=cfg.multiple,
                            n_segments=cfg.n_segments)


def _cmd_primitives(args: argparse.Namespace) -> int:
    """Write each sample's edges / seg / seg_edges PNGs (full resolution), and the demo's edit."""
    names = args.samples or list(data.SAMPLES)
    out = Path(args.out)
    for name in names:
        image = data.load_image(data.sample_path(name))
        prim = primitives.make_primitive(image, "seg_edges", n_segments=args.n_segments, seed=args.seed)
        data.save_primitive(out / f"{name}_edges.png", prim.replace(labels=None, n_labels=0))
        data.save_primitive(out / f"{name}_seg.png", prim.replace(edges=None))
        data.save_primitive(out / f"{name}_seg_edges.png", prim)
        print(f"{name}: {prim.size[0]}x{prim.size[1]}, {prim.n_labels} labels, "
              f"{int(prim.edges.sum())} edge pixels -> {out}/{name}_{{edges,seg,seg_edges}}.png")
    if not args.samples:
        edited = edits.move_region(demo_pair().primitive, **DEMO_EDIT)
        path = out.parent / DEMO_EDIT_FILE
        data.save_primitive(path, edited)
        print(f"demo edit ({DEMO_EDIT}) -> {path}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.resume:
        result = train.resume(out, progress=not args.quiet, preview="files", device=args.device)
    else:
        overrides = {"augmentation": args.augmentation, "seed": args.seed}
        if args.iterations:
            overrides["iterations"] = args.iterations
        if args.max_side:
            overrides["max_side"] = args.max_side
        if args.device:
            overrides["device"] = args.device
        kind, prim = args.primitive, None
        if args.primitive_file:
            prim = data.load_primitive(args.primitive_file, None if kind == "auto" else kind)
            kind = prim.kind
        elif kind == "auto":
            kind = "seg_edges"
        config = train.TrainConfig.preset(args.preset, primitive=kind, **overrides)
        if (out / "checkpoints" / "last.pt").exists():
            raise ValueError(f"{out} already holds a run; use --resume to continue it or pick another --out")
        pair = data.load_pair(args.image, prim, config.primitive, config.multiple, config.max_side,
                              config.n_segments, config.seed, name=Path(args.image).stem)
        result = train.fit(pair, config, out, progress=not args.quiet, preview="files")
    print(f"trained {result.steps} steps in {result.wall_time_s:.1f} s ({result.steps_per_s:.2f} steps/s, "
          f"perceptual loss: {result.perceptual}) -> {out}/model.pt")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    model = train.load_model(args.checkpoint)
    prim = data.load_primitive(args.primitive, model.config.primitive, n_labels=model.n_labels or None)
    model.check_primitive(prim)
    image = model.generate(prim)
    data.save_image(args.out, image)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[2]})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Train the lesson preset on the cat with TPS, render the shipped edit, write a grid + JSON."""
    t0 = time.perf_counter()
    out = Path(args.out)
    pair = demo_pair()
    config = train.TrainConfig.preset("lesson", iterations=args.iterations or train.PRESETS["lesson"].iterations)
    edited = data.load_primitive(data.data_dir() / DEMO_EDIT_FILE, "seg_edges", n_labels=pair.primitive.n_labels)
    run = out / "run"
    if run.exists():
        import shutil

        shutil.rmtree(run)  # the demo always trains afresh
    result = train.fit(pair, config, run, progress=not args.quiet, preview="files")
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
    mse = torch.mean((recon - pair.image) ** 2).item()
    metrics = {
        "sample": DEMO_SAMPLE, "size_hw": list(pair.size), "primitive": config.primitive,
        "augmentation": config.augmentation, "preset": "lesson", "iterations": result.steps,
        "edit": {"file": f"data/{DEMO_EDIT_FILE}", **DEMO_EDIT},
        "perceptual_loss": result.perceptual,
        "train_wall_s": round(result.wall_time_s, 2), "steps_per_s": round(result.steps_per_s, 2),
        "generate_ms": round(1000 * t_gen, 1), "generate_edit_ms": round(1000 * t_edit, 1),
        "reconstruction_psnr_db": round(10 * torch.log10(torch.tensor(4.0 / mse)).item(), 2),
        "total_wall_s": round(time.perf_counter() - t0, 2),
        "device": str(result.model.device), "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
    }
    data.atomic_write_bytes(out / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"wrote {out}/demo.png and {out}/metrics.json: {result.steps} steps in {result.wall_time_s:.1f} s "
          f"({result.steps_per_s:.1f} steps/s), reconstruction PSNR {metrics['reconstruction_psnr_db']} dB, "
          f"total {metrics['total_wall_s']:.1f} s")
    return 0


def _cmd_knn(args: argparse.Namespace) -> int:
    """App. G: 1-NN patch distances of a test primitive to the training primitive, without and with TPS."""
    from . import knn

    out = Path(args.out)
    model = "cached" if args.model is None else (None if args.model == "none" else train.load_model(args.model))
    tr, te, reach = knn.run_experiment(args.train, args.test, args.primitive, args.features, args.weights, args.n_aug,
                                       args.scale, model, seed=args.seed, progress=not args.quiet)
    data.save_image(out / "knn.png", viz.knn_figure(tr.image, tr.primitive, te.primitive, reach, te.image))
    summary = {"train": args.train or "data/videos/carphone/frame_000.png",
               "test": args.test or "data/videos/carphone/frame_060.png", "primitive": args.primitive,
               **reach.summary()}
    data.atomic_write_bytes(out / "knn.json", (json.dumps(summary, indent=2) + "\n").encode())
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
                                  args.frames, progress=not args.quiet, **overrides)
    table = video.markdown_table(results)
    data.atomic_write_bytes(Path(args.out) / "table.md", (table + "\n").encode())
    print(table)
    print(f"wrote {args.out}/table.md and one JSON per cell")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepsim-lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a generator on one image and its primitive")
    p.add_argument("image", nargs="?", help="training image (PNG/JPEG)")
    p.add_argument("--primitive", default="auto", help="edges | seg | seg_edges (default: seg_edges, or the "
                   "kind of --primitive-file)")
    p.add_argument("--primitive-file", help="primitive PNG instead of extracting one from the image")
    p.add_argument("--preset", default="lesson", help="lesson (CPU, minutes) | paper (GPU, 16k iterations)")
    p.add_argument("--augmentation", default="tps", help="tps | crop_flip | none")
    p.add_argument("--iterations", type=int, help="override the preset's iteration count")
    p.add_argument("--max-side", type=int, help="downscale the image to this longer side")
    p.add_argument("--device", help="auto | cuda | mps | cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/latest", help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("generate", help="render a primitive with a trained generator")
    p.add_argument("checkpoint", help="model.pt, checkpoints/last.pt, or a run directory")
    p.add_argument("primitive", help="primitive PNG (see deepsim_lite.data)")
    p.add_argument("--out", default="generated.png")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("knn", help="App. G: does TPS bring test patches closer to the training patches?")
    p.add_argument("--train", help="training image (default: data/videos/carphone/frame_000.png)")
    p.add_argument("--test", help="test image, same size (default: data/videos/carphone/frame_060.png)")
    p.add_argument("--primitive", default="edges", help="edges | seg | seg_edges")
    p.add_argument("--features", default="resnet50", help="resnet50 (layer3) | raw (16x16 pixel patches)")
    p.add_argument("--weights", default="auto", help="auto | imagenet | random (ResNet50)")
    p.add_argument("--n-aug", type=int, default=50, help="TPS warps added to the bank (paper: 50)")
    p.add_argument("--scale", type=float, default=2.0, help="analysis size relative to the lesson model's")
    p.add_argument("--model", help="trained model.pt (default: train the lesson model once, cached); 'none' "
                   "skips the prediction error")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs/knn")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_knn)

    p = sub.add_parser("bench", help="benchmarks of the paper")
    bench = p.add_subparsers(dest="bench", required=True)
    p = bench.add_parser("video", help="Sec. 4.2: train on frame 0, score every other frame")
    p.add_argument("--clips", nargs="+", default=["carphone", "bikes"], help="shipped names, frame folders or videos")
    p.add_argument("--primitives", nargs="+", default=["seg", "edges", "seg_edges"])
    p.add_argument("--augmentations", nargs="+", default=["crop_flip", "tps"])
    p.add_argument("--preset", default="lesson")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--iterations", type=int)
    p.add_argument("--out", default="outputs/video")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_bench_video)

    p = sub.add_parser("primitives", help="regenerate the committed sample primitives (data/primitives)")
    p.add_argument("--out", default=None, help="output folder (default: <data>/primitives)")
    p.add_argument("--samples", nargs="*", choices=list(data.SAMPLES), help="samples (default: all)")
    p.add_argument("--n-segments", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_primitives)

    p = sub.add_parser("demo", help="the README's demo: train on the cat, render an edited primitive")
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--iterations", type=int, help="override the lesson preset's iteration count")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "primitives" and args.out is None:
        args.out = str(data.data_dir() / "primitives")
    if args.command == "train" and not args.resume and not args.image:
        print("deepsim-lite: error: train needs an IMAGE (or --resume with --out RUN_DIR)", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", data.SizeAdjustedWarning)
            warnings.formatwarning = lambda msg, *a, **k: f"deepsim-lite: note: {msg}\n"
            return args.func(args)
    except (ValueError, FileNotFoundError, PermissionError, OSError) as err:
        print(f"deepsim-lite: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepsim-lite: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
