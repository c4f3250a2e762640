"""Command line: ``deepsim-lite train | generate | knn | bench video | sweep | primitives | weights | demo``.

Errors are one line on stderr (``deepsim-lite: error: ...``) and exit code 2, never a traceback;
an interrupted training run (Ctrl-C) saves its checkpoint, says how to resume and exits 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import cv2

from ..primitives.pairs import SizeAdjustedWarning
from . import analysis, demo, lessons, train, weights
from ._common import Parser
from .analysis import grid_from_args

__all__ = ["main", "build_parser", "grid_from_args"]


def build_parser() -> argparse.ArgumentParser:
    """Every command's parser; each command module adds its own, in the order ``deepsim-lite --help`` lists them."""
    parser = Parser(prog="deepsim-lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train.add_train(sub)
    train.add_generate(sub)
    analysis.add_knn(sub)
    analysis.add_bench(sub)
    analysis.add_sweep(sub)
    demo.add_primitives(sub)
    weights.add_parser(sub)
    lessons.add_parser(sub)
    demo.add_demo(sub)
    return parser


def _note(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"deepsim-lite: note: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores warnings.showwarning on the way out
            warnings.simplefilter("always", SizeAdjustedWarning)
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
