"""Command line: ``deepsim-lite primitives | demo`` (train / generate / bench arrive with their modules).

Errors are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from . import data, primitives, viz


def _cmd_primitives(args: argparse.Namespace) -> int:
    """Write each sample's edges / seg / seg_edges PNGs (full resolution) into ``args.out``."""
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
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Extract the three primitives of every sample and write one picture of them."""
    t0 = time.perf_counter()
    tiles, captions = [], []
    for name in data.SAMPLES:
        pair = data.load_sample(name, "seg_edges", max_side=args.max_side, n_segments=args.n_segments)
        p = pair.primitive
        tiles += [pair.image, p.replace(labels=None, n_labels=0), p.replace(edges=None), p]
        captions += [f"{name}", "edges", f"seg ({p.n_labels} labels)", "super-primitive"]
    grid = viz.make_grid(tiles, captions, ncols=4)
    out = Path(args.out) / "primitives.png"
    data.save_image(out, grid)
    print(f"wrote {out} ({len(data.SAMPLES)} samples, {time.perf_counter() - t0:.1f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepsim-lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("primitives", help="regenerate the committed sample primitives (data/primitives)")
    p.add_argument("--out", default=None, help="output folder (default: <data>/primitives)")
    p.add_argument("--samples", nargs="*", choices=list(data.SAMPLES), help="samples (default: all)")
    p.add_argument("--n-segments", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_primitives)

    p = sub.add_parser("demo", help="the README's demo on the shipped samples")
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--max-side", type=int, default=256)
    p.add_argument("--n-segments", type=int, default=8)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "out", "") is None:
        args.out = str(data.data_dir() / "primitives")
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
