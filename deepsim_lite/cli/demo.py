"""``deepsim-lite demo`` (the README's demo) and ``primitives`` (the shipped sample primitives and the demo's edit)."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from .._io import write_json
from ..analysis import metrics
from ..method import viz
from ..method.config import PRESETS, TrainConfig
from ..method.train import fit
from ..primitives import edits
from ..primitives.extract import make_primitive
from ..primitives.images import load_image, load_primitive, save_image, save_primitive
from ..primitives.pairs import Pair
from ..primitives.samples import SAMPLES, data_dir, load_sample, sample_path, sample_region
from ._common import int_at_least, non_negative, positive

# The README demo: lift the cat's nose by 1/14 of the image height (the paper's Fig. 1 "raising the nose"),
# on the lesson-size super-primitive of `chelsea`. `deepsim-lite primitives` writes this file.
DEMO_SAMPLE = "chelsea"
DEMO_LIFT = 1 / 14  # of the image height: 9 pixels at the lesson size, 128x192
DEMO_EDIT_FILE = "edits/chelsea_nose_up_seg_edges.png"
# What a demo run folder holds; anything else in it is the user's and is never deleted.
_RUN_FILES = {"config.json", "metrics.jsonl", "model.pt", "samples", "checkpoints"}


def demo_pair() -> Pair:
    """The demo's training pair: the cat at the lesson preset's size with its super-primitive."""
    cfg = PRESETS["lesson"]
    return load_sample(DEMO_SAMPLE, cfg.primitive_kind, max_side=cfg.max_side, multiple=cfg.multiple,
                       n_segments=cfg.n_segments)


def demo_edit(pair: Pair) -> dict:
    """The demo's edit as keyword arguments of :func:`~deepsim_lite.primitives.edits.move_region`."""
    return {"box": sample_region(DEMO_SAMPLE, "nose", pair.size), "dy": -round(DEMO_LIFT * pair.size[0]), "dx": 0}


def add_primitives(sub) -> None:
    p = sub.add_parser("primitives", help="regenerate the committed sample primitives (data/primitives)")
    p.add_argument("--out", default=None, help="output folder (default: <data>/primitives, and the demo edit in "
                   "<data>/edits)")
    p.add_argument("--samples", nargs="*", choices=list(SAMPLES), help="samples (default: all)")
    p.add_argument("--n-segments", type=int_at_least(1), default=8)
    p.add_argument("--seed", type=non_negative, default=0)
    p.set_defaults(func=_cmd_primitives)


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the README's demo: train on the cat, render an edited primitive")
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--iterations", type=positive, help="override the lesson preset's iteration count")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)


def _cmd_primitives(args: argparse.Namespace) -> int:
    """Write each sample's edges / seg / seg_edges PNGs (full resolution), and the demo's edit."""
    names = args.samples or list(SAMPLES)
    default = args.out is None
    out = data_dir() / "primitives" if default else Path(args.out)
    for name in names:
        image = load_image(sample_path(name))
        prim = make_primitive(image, "seg_edges", n_segments=args.n_segments, seed=args.seed)
        save_primitive(out / f"{name}_edges.png", prim.replace(labels=None, n_labels=0))
        save_primitive(out / f"{name}_seg.png", prim.replace(edges=None))
        save_primitive(out / f"{name}_seg_edges.png", prim)
        print(f"{name}: {prim.size[0]}x{prim.size[1]}, {prim.n_labels} labels, "
              f"{int(prim.edges.sum())} edge pixels -> {out}/{name}_{{edges,seg,seg_edges}}.png")
    if not args.samples:
        pair = demo_pair()
        edit = demo_edit(pair)
        # the shipped edit lives in data/edits; with --out everything stays inside that folder
        path = data_dir() / DEMO_EDIT_FILE if default else out / Path(DEMO_EDIT_FILE).name
        save_primitive(path, edits.move_region(pair.primitive, **edit))
        print(f"demo edit ({edit}) -> {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Train the lesson preset on the cat with TPS, render the shipped edit, write a grid + JSON."""
    t0 = time.perf_counter()
    out = Path(args.out)
    pair = demo_pair()
    config = TrainConfig.preset("lesson", **({"iterations": args.iterations} if args.iterations else {}))
    edited = load_primitive(data_dir() / DEMO_EDIT_FILE, "seg_edges", n_labels=pair.primitive.n_labels)
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
    save_image(out / "demo.png", grid)
    save_image(out / "generated_edit.png", rendered)
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
