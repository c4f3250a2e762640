"""``deepsim-lite lessons``: make the lessons' models ready (or rebuild the shipped ones), list them, or build the
student version."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..teaching.lessons import MODES, distinct, lesson_config, lesson_models, prepare
from ..teaching.student import build_student


def add_parser(sub) -> None:
    p = sub.add_parser("lessons", help="the lessons: make their models ready ahead of a class, or build the student "
                                       "version")
    p.add_argument("action", choices=["prepare", "list", "student"],
                   help="prepare: check the shipped lesson models and train what is missing or stale into the model "
                        "cache; list: show them and where each comes from; student: write the lessons with "
                        "solutions stubbed and outputs cleared")
    p.add_argument("--notebooks", default="notebooks", help="student: the lessons' folder (default: notebooks)")
    p.add_argument("--out", default="dist/student", help="student: where to write them (default: dist/student)")
    p.add_argument("--mode", choices=list(MODES), help="lesson scale (default: $DEEPSIM_MODE, else lesson)")
    p.add_argument("--retrain", action="store_true",
                   help="prepare: rebuild every lesson model from its seed (lesson mode: the shipped ones, with their "
                        "training records and held-out scores; minutes each on 2 cores)")
    p.add_argument("--models-out", help="prepare --retrain in lesson mode: where to write the rebuilt models "
                                        "(default: the shipped models' folder, $DEEPSIM_MODELS or data/models)")
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
        rows = [("lessons", f"model ({lesson.mode} mode)", "ready?")]
        rows += [(m.lessons, m.what, m.status(lesson, pair)) for m, pair in distinct(lesson_models(lesson), lesson)]
        width = [max(len(r[i]) for r in rows) for i in (0, 1)]
        for lessons, what, cached in rows:
            print(f"{lessons:<{width[0]}} | {what:<{width[1]}} | {cached}")
        return 0
    if args.models_out and not (args.retrain and lesson.mode == "lesson"):
        print("deepsim-lite lessons: --models-out goes with prepare --retrain in lesson mode (the shipped models); "
              "drop it, or add --retrain", file=sys.stderr)
        return 2
    if args.retrain and lesson.mode == "lesson":  # say so before minutes of training, not after
        from ..method.shipped import shipped_dir

        folder = Path(args.models_out) if args.models_out else shipped_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            print(f"deepsim-lite lessons: cannot write the rebuilt models to {folder} ({err.strerror or err}); "
                  "give a writable folder with --models-out", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    rows = prepare(args.mode, progress=not args.quiet, retrain=args.retrain, out=args.models_out)
    counts = ", ".join(f"{sum(r['action'] == a for r in rows)} {a}" for a in ("shipped", "loaded", "trained", "rebuilt")
                       if any(r["action"] == a for r in rows))
    print(f"{len(rows)} lesson models ready ({counts}) in {time.perf_counter() - t0:.0f} s; the lessons now start warm")
    return 0
