"""How long each lesson takes to run top to bottom, with a cold and with a warm model cache.

Runs the lesson notebooks in order in a Jupyter kernel (nbclient), as a student running a course would:

* **cold**: an empty model cache (a fresh ``DEEPSIM_CACHE``), as on a fresh machine: the lessons load the models
  that ship with the package and train only what is not shipped (lesson 02's live model);
* **warm**: the same notebooks again with that cache filled: what a student meets after
  ``deepsim-lite lessons prepare`` (or on reopening a lesson).

Also counts the outputs a student would see as warnings (stderr streams: JupyterLab's pink boxes). Exits
non-zero when the warm run trained a model, when any lesson showed a warning, or (all run) when the
cache entries the lessons made are not exactly the models ``lessons prepare`` would train (those not shipped).

    python benchmarks/lesson_timings.py                 # lesson mode, DEEPSIM_OFFLINE as set in the environment
    python benchmarks/lesson_timings.py --only 04 05    # a subset

Writes ``benchmarks/results/lesson_timings_<device>.{json,md}``; the table goes into the README and the
lessons' headers.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import nbformat
import torch
from _common import device_name, write_result
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))


def run_notebook(path: Path, timeout_s: int) -> dict:
    """Execute one notebook in a fresh kernel; its wall time, cells, and stderr outputs."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
                   ).execute()
    seconds = time.perf_counter() - t0
    stderr = [("".join(o.get("text", "")))[:200] for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("name") == "stderr"]
    return {"seconds": round(seconds, 1), "cells": len(nb.cells), "stderr_outputs": len(stderr),
            "stderr_first": stderr[:3]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="lesson numbers, e.g. 02 04 (default: all)")
    ap.add_argument("--timeout", type=int, default=3600, help="per cell, seconds")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    books = [p for p in NOTEBOOKS if not args.only or p.name[:2] in args.only]
    mode = os.environ.get("DEEPSIM_MODE", "lesson")
    rows = {p.name[:2]: {"notebook": p.name} for p in books}
    with tempfile.TemporaryDirectory(prefix="lesson-cache-") as cache:
        os.environ["DEEPSIM_CACHE"] = cache  # the kernels inherit it
        for run in ("cold", "warm"):
            for p in books:
                before = set(Path(cache).glob("*.pt"))
                r = run_notebook(p, args.timeout)
                trained = len(set(Path(cache).glob("*.pt")) - before)
                rows[p.name[:2]][run] = {**r, "models_trained": trained}
                print(f"{run:>4} {p.name}: {r['seconds']:6.1f} s, {trained} model(s) trained, "
                      f"{r['stderr_outputs']} stderr output(s)", flush=True)
        import deepsim_lite as ds

        entries = {p.name for p in Path(cache).glob("*.pt")}
        lesson = ds.lesson_config(mode)
        # what the lessons put in the cache is exactly what prepare would train there: in lesson mode only the live
        # model (the others ship: a stale one would be trained and show here), elsewhere every model
        models = ds.lessons.distinct(ds.lessons.lesson_models(lesson), lesson)
        prepared = {m.cache_name(lesson, pair) for m, pair in models if m.live or lesson.mode != "lesson"} == entries
    warm_trained = sum(r["warm"]["models_trained"] for r in rows.values())
    total = {run: round(sum(r[run]["seconds"] for r in rows.values()), 1) for run in ("cold", "warm")}
    print(f"warm run trained {warm_trained} model(s); the {len(entries)} cache entries the lessons made are "
          f"{'exactly' if prepared else 'NOT'} what "
          "`deepsim-lite lessons prepare` lists")
    result = {"benchmark": "lesson_timings", "device": device_name(torch.device("cpu")), "torch": torch.__version__,
              "mode": mode, "offline": os.environ.get("DEEPSIM_OFFLINE", ""), "lessons": rows, "total_s": total,
              "warm_run_trained": warm_trained, "cache_entries": sorted(entries),
              "prepare_lists_every_entry": prepared, "command": "python benchmarks/lesson_timings.py"}
    write_result(result, "lesson_timings", torch.device("cpu"), args.out)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / "lesson_timings_cpu.json"
    md = markdown(result)
    print(md)
    out.with_suffix(".md").write_text(md)
    boxes = sum(r[run]["stderr_outputs"] for r in rows.values() for run in ("cold", "warm"))
    if warm_trained or boxes or (not args.only and not prepared):
        raise SystemExit(f"lesson_timings: {warm_trained} model(s) trained in the warm run, {boxes} warning output(s), "
                         f"prepare lists every entry: {prepared} (want 0, 0, True)")


def markdown(result: dict) -> str:
    """The table: each lesson's cold and warm time, the models it trained cold, its warning outputs; the total."""
    rows, total = result["lessons"], result["total_s"]
    lines = [f"Lesson run times, {result['mode']} mode, {result['device']}, torch {result['torch']}; "
             f"`python benchmarks/lesson_timings.py` (DEEPSIM_OFFLINE={result['offline']})", "",
             "| lesson | cold cache | models it trains (cold) | warm cache | warning outputs |",
             "|---|---|---|---|---|"]
    for r in rows.values():
        lines.append(f"| {r['notebook']} | {r['cold']['seconds']:.0f} s | {r['cold']['models_trained']} | "
                     f"{r['warm']['seconds']:.0f} s | {r['cold']['stderr_outputs'] + r['warm']['stderr_outputs']} |")
    lines.append(f"| all | {total['cold'] / 60:.1f} min | {sum(r['cold']['models_trained'] for r in rows.values())} | "
                 f"{total['warm'] / 60:.1f} min | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
