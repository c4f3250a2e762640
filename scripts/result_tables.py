"""Every committed result table remade from its committed JSON, so that no table is typed or left stale.

Run through ``python scripts/make_docs.py [--check]``, which also writes the docs' generated blocks and the
lessons' headers.

Each benchmark writes a JSON and a Markdown table made from it by the benchmark's own ``markdown`` function;
:data:`TABLES` says, for each committed table, which JSON files and which function make it. A table edited by hand,
or left behind when its script changed, differs from its regeneration: ``tests/test_make_docs.py`` runs the
check (``make_docs.py --check``). The video sweep's table is made by the library (``deepsim_lite.sweep.sweep_table``),
lesson 06's shipped copy of it by ``scripts/ship_video_table.py`` (checked by ``tests/analysis/test_sweep.py``).
"""

from __future__ import annotations

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


def heldout_summary(part: str = "report") -> str:
    """The held-out summary's ``report`` (the whole page) or ``who_wins`` (its head) from its committed inputs."""
    results = [json.loads((RESULTS / n).read_text()) for n in HELDOUT_SUMMARY_INPUTS]
    return _script("heldout_summary")[part](results) + "\n"


TABLES: dict[str, tuple[list[str], Callable[[], str]]] = {
    "shipped_models_cpu.md": _one("shipped_models", "shipped_models_cpu.json"),
    "scene_training_cpu.md": _one("scene_training", "scene_training_cpu.json"),
    "patchnn_speed_cpu.md": _one("patchnn_speed", "patchnn_speed_cpu.json"),
    "lesson_timings_cpu.md": _one("lesson_timings", "lesson_timings_cpu.json"),
    **{f"heldout_{n}_cpu.md": _one("heldout", f"heldout_{n}_cpu.json", newline=True)
       for n in ("bikes_seg_edges_450", "bikes_edges_450", "carphone_seg_edges_450", "bikes_seg_edges_4000")},
    "heldout_summary_cpu.md": (HELDOUT_SUMMARY_INPUTS, heldout_summary),
    "lesson_quality_cpu.md": _one("lesson_quality", "lesson_quality_cpu.json", newline=True),
    "lesson_quality_presets_cpu.md": _one("lesson_quality", "lesson_quality_presets_cpu.json", newline=True),
    **{f"loss_decision_{n}_cpu.md": _one("lesson_quality", f"loss_decision_{n}_cpu.json", newline=True)
       for n in ("45s", "45s_8seeds", "180s", "laptop_515s")},
}


def targets() -> list[tuple[Path, str]]:
    """(table path, the table its JSON makes now) for every committed table."""
    return [(RESULTS / table, make()) for table, (_, make) in TABLES.items()]
