"""``deepsim-lite train`` (one image, several of one scene, ``--resume``, ``--init-from``) and ``generate``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..method.checkpoints import RunFinishedError, training_pairs
from ..method.config import TrainConfig
from ..method.model import load_model
from ..method.train import TrainResult, fit, resume
from ..primitives.drawn import conform
from ..primitives.images import load_primitive, save_image, save_primitive
from ..primitives.pairs import load_pairs
from ._common import int_at_least, non_negative, positive

# What --resume honours; every option that configures a run (option, its dest) is refused with it.
_RESUME_HONOURS = ("--out", "--device", "--quiet")
_CONFIGURING = (("IMAGE", "images"), ("--primitive", "primitive"), ("--primitive-file", "primitive_file"),
                ("--preset", "preset"), ("--augmentation", "augmentation"), ("--iterations", "iterations"),
                ("--max-side", "max_side"), ("--seed", "seed"), ("--init-from", "init_from"),
                ("--segmentation", "segmentation"), ("--cuda-graph", "cuda_graph"))


def add_train(sub) -> None:
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
    p.add_argument("--preset", help="lesson (CPU, ~45 s; default) | laptop (CPU, ~10 min) | paper (GPU, 16k steps)")
    p.add_argument("--augmentation", help="tps (default) | crop_flip | none")
    p.add_argument("--iterations", type=positive, help="override the preset's iteration count")
    p.add_argument("--max-side", type=int_at_least(8), help="downscale the image to this longer side")
    p.add_argument("--device", help="auto | cuda | mps | cpu")
    p.add_argument("--cuda-graph", action="store_const", const=True, default=None,
                   help="on a CUDA GPU, replay each training step from one CUDA graph (TrainConfig.cuda_graph)")
    p.add_argument("--seed", type=non_negative, help="seed of the networks and the warps (default 0)")
    p.add_argument("--out", default="runs/latest", help="run directory")
    p.add_argument("--resume", action="store_true",
                   help=f"continue the interrupted run in --out (honours {', '.join(_RESUME_HONOURS)} only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def add_generate(sub) -> None:
    p = sub.add_parser("generate", help="render a primitive with a trained generator")
    p.add_argument("checkpoint", help="model.pt, checkpoints/last.pt, or a run directory")
    p.add_argument("primitive", help="primitive PNG (see deepsim_lite.primitives.images)")
    p.add_argument("--out", default="generated.png", help="output image (.png, .jpg or .jpeg)")
    p.set_defaults(func=_cmd_generate)


def _cmd_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.resume:
        given = [opt for opt, dest in _CONFIGURING if getattr(args, dest) not in (None, [])]
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
        pairs = load_pairs(args.images, prims, config.primitive_kind, config.multiple, config.max_side,
                           config.n_segments, config.seed, args.segmentation or "kmeans", reference=reference)
        result = fit(pairs, config, out, progress=not args.quiet, preview="files", init_from=args.init_from)
        _write_primitives(pairs, out)
    return _report_training(result, out)


def _write_primitives(pairs: list, out: Path) -> None:
    """The training primitives as PNGs in the run directory, at the trained size: what a person edits (in lesson 03's
    editor or any paint program) and renders with ``deepsim-lite generate``."""
    for i, pair in enumerate(pairs):
        save_primitive(out / ("primitive.png" if len(pairs) == 1 else f"primitive_{i:03d}.png"), pair.primitive)


def _train_config(args: argparse.Namespace):
    overrides = {name: getattr(args, name) for name in ("augmentation", "seed", "iterations", "max_side", "device",
                                                        "cuda_graph") if getattr(args, name) is not None}
    kind, prims = args.primitive or "auto", None
    if args.primitive_file:
        if len(args.primitive_file) != len(args.images):
            raise ValueError(f"{len(args.images)} images but {len(args.primitive_file)} --primitive-file; give one "
                             "primitive per image, in the same order")
        prims = [load_primitive(f, None if kind == "auto" else kind) for f in args.primitive_file]
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
    first = out / "primitive.png" if (out / "primitive.png").is_file() else out / "primitive_000.png"
    if first.is_file():
        print(f"its primitive: {first}; edit a copy and render it with: deepsim-lite generate {out} EDITED.png "
              "--out result.png")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    model = load_model(args.checkpoint)
    drawn = conform(args.primitive, model)  # a drawing from another program made readable, or refused
    for note in drawn.notes:
        print(f"deepsim-lite: note: {args.primitive}: {note}", file=sys.stderr)
    image = model.generate(drawn.primitive)
    save_image(args.out, image)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[2]})")
    return 0
