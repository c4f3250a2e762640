"""``deepsim-lite lessons``: train the lessons' models ahead of a class, list them, or build the student version."""

from __future__ import annotations

import argparse
import time

from ..teaching.lessons import MODES, lesson_config, lesson_models, prepare
from ..teaching.student import build_student


def add_parser(sub) -> None:
    p = sub.add_parser("lessons", help="the lessons: train their models ahead of a class, or build the student version")
    p.add_argument("action", choices=["prepare", "list", "student"],
                   help="prepare: train (or verify) every lesson model; list: show them; student: write the lessons "
                        "with solutions stubbed and outputs cleared")
    p.add_argument("--notebooks", default="notebooks", help="student: the lessons' folder (default: notebooks)")
    p.add_argument("--out", default="dist/student", help="student: where to write them (default: dist/student)")
    p.add_argument("--mode", choices=list(MODES), help="lesson scale (default: $DEEPSIM_MODE, else lesson)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_lessons)


def _cmd_lessons(args: argparse.Namespace) -> int:
    if args.action == "student":
        names = build_student(args.notebooks, args.out)
        print(f"wrote {len(names)} student notebooks (solutions stubbed, instructor notes dropped, outputs cleared) "
              f"to {args.out}")
        return 0
    lesson = lesson_config(args.mode)
    if args.action == "list":
        rows = [("lessons", f"model ({lesson.mode} mode)", "in the model cache")]
        rows += [(m.lessons, m.what, "cached" if m.is_cached(lesson) else "not cached") for m in lesson_models(lesson)]
        width = [max(len(r[i]) for r in rows) for i in (0, 1)]
        for lessons, what, cached in rows:
            print(f"{lessons:<{width[0]}} | {what:<{width[1]}} | {cached}")
        return 0
    t0 = time.perf_counter()
    rows = prepare(args.mode, progress=not args.quiet)
    trained = sum(r["action"] == "trained" for r in rows)
    print(f"{len(rows)} lesson models ready ({trained} trained, {len(rows) - trained} loaded) in "
          f"{time.perf_counter() - t0:.0f} s; the lessons now start warm")
    return 0
