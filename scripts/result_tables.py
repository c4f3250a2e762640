"""Every committed result table remade from its committed JSON, so that no table is typed or left stale.

    python scripts/result_tables.py            # rewrite each table in benchmarks/results/ from its JSON
    python scripts/result_tables.py --check    # exit 1 naming each table that differs from its regeneration

Each benchmark writes a JSON and a Markdown table made from it by the benchmark's own ``markdown`` function;
:data:`TABLES` says, for each committed table, which JSON files and which function make it. A table edited by hand,
or left behind when its script changed, differs from its regeneration: ``tests/test_result_tables.py`` runs the
check. The video sweep's table is made by the library (``deepsim_lite.sweep.sweep_table``), lesson 06's shipped
copy of it by ``scripts/ship_video_table.py`` (checked by ``tests/analysis/test_sweep.py``).
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
# the held-out summary's inputs, in its order (README: `python benchmarks/heldout_summary.py` on these)
HELDOUT_SUMMARY_INPUTS = ["heldout_bikes_seg_edges_450_cpu.json", "heldout_bikes_seg_edges_4000_cpu.json",
                          "heldout_bikes_edges_450_cpu.json", "heldout_carphone_seg_edges_450_cpu.json"]


def _script(name: str) -> dict:
    """The functions of ``benchmarks/<name>.py`` (run as a module, not as ``__main__``)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # the benchmarks import their _common helpers
    return runpy.run_path(str(BENCH / f"{name}.py"), run_name=f"bench_{name}")


def _one(script: str, json_name: str, newline: bool = False) -> tuple[list[str], Callable[[], str]]:
    """A table made by ``script``'s ``markdown(result)`` from one JSON (``newline``: the script adds one)."""
    def make() -> str:
        text = _script(script)["markdown"](json.loads((RESULTS / json_name).read_text()))
        return text + "\n" if newline else text
    return [json_name], make


def _heldout_summary() -> str:
    s = _script("heldout_summary")
    results = [json.loads((RESULTS / n).read_text()) for n in HELDOUT_SUMMARY_INPUTS]
    return s["report"](results) + "\n"


TABLES: dict[str, tuple[list[str], Callable[[], str]]] = {
    "shipped_models_cpu.md": _one("shipped_models", "shipped_models_cpu.json"),
    "scene_training_cpu.md": _one("scene_training", "scene_training_cpu.json"),
    "patchnn_speed_cpu.md": _one("patchnn_speed", "patchnn_speed_cpu.json"),
    "lesson_timings_cpu.md": _one("lesson_timings", "lesson_timings_cpu.json"),
    **{f"heldout_{n}_cpu.md": _one("heldout", f"heldout_{n}_cpu.json", newline=True)
       for n in ("bikes_seg_edges_450", "bikes_edges_450", "carphone_seg_edges_450", "bikes_seg_edges_4000")},
    "heldout_summary_cpu.md": (HELDOUT_SUMMARY_INPUTS, _heldout_summary),
    **{f"loss_decision_{n}_cpu.md": _one("lesson_quality", f"loss_decision_{n}_cpu.json", newline=True)
       for n in ("45s", "45s_8seeds", "180s", "laptop_515s")},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args(argv)
    stale = []
    for table, (_, make) in TABLES.items():
        path = RESULTS / table
        new = make()
        if not path.is_file() or path.read_text() != new:
            stale.append(table)
            if not args.check:
                path.write_text(new)
    verb = "differ from their JSON" if args.check else "rewritten from their JSON"
    print(f"{len(stale)} of {len(TABLES)} result tables {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
