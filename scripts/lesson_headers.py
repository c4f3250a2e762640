"""The run times in the lessons' headers, written from the timing script's result so that no one types them.

Run through ``python scripts/make_docs.py [--check]`` (with the result tables and the docs' generated blocks).

Each lesson's header holds one italic paragraph ``*Run time: ...*``, written whole by :func:`header` from the
lesson's cold and warm times in ``benchmarks/results/lesson_timings_cpu.json`` (``benchmarks/lesson_timings.py``;
cold: an empty model cache, a fresh machine) and from what the lesson does with models: trains one live (lesson
02), loads shipped ones, or needs none. Nothing else in the notebook changes; it is written back as it was
(indent 1, UTF-8, a final newline).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "lesson_timings_cpu.json"
PARAGRAPH = re.compile(r"\*Run time: [^*]*\*")


def _shown(seconds: float) -> str:
    return f"{round(seconds)} s" if seconds < 100 else f"{seconds / 60:.1f} min"


def header(timing: dict, loads_models: bool) -> str:
    """The header paragraph of a lesson: its warm time, its cold time, and what it does with models."""
    warm, cold, trained = timing["warm"]["seconds"], timing["cold"]["seconds"], timing["cold"]["models_trained"]
    where = "lesson mode, this project's 2-core CPU; `benchmarks/lesson_timings.py`"
    if trained:
        return (f"*Run time: {_shown(cold)} on a fresh machine, where it trains {trained} model{'s' * (trained > 1)} "
                f"in front of you (about {_shown(cold - warm)}); {_shown(warm)} once that is in the model cache "
                f"({where}).{' The models it compares with ship with the package.' * loads_models}*")
    if loads_models:
        return (f"*Run time: {_shown(warm)} ({where}; {_shown(cold)} on a fresh machine with an empty model cache): "
                "its models ship with the package, trained once for 4000 steps.*")
    return f"*Run time: {_shown(warm)} ({where}); it needs no trained model.*"


def lessons_loading_models() -> set[str]:
    """The lesson numbers that load a model they do not train live (lesson mode)."""
    import deepsim_lite as ds

    return {n for m in ds.lessons.lesson_models(ds.lesson_config("lesson")) if not m.live for n in m.lessons.split()}


def updated(path: Path, timing: dict, loads_models: bool) -> tuple[str, str]:
    """(the notebook's text now, its text with the header from ``timing``)."""
    text = path.read_text()
    nb = json.loads(text)
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and PARAGRAPH.search(source):
            new = PARAGRAPH.sub(lambda _: header(timing, loads_models), source, count=1)
            lines = new.split("\n")
            cell["source"] = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
            break
    return text, json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def targets() -> list[tuple[Path, str]]:
    """(notebook, its text with the header written from the timing result) for every timed lesson."""
    result = json.loads(RESULT.read_text())
    loading = lessons_loading_models()
    return [(path, updated(path, timing, number in loading)[1]) for number, timing in sorted(result["lessons"].items())
            for path in [ROOT / "notebooks" / timing["notebook"]]]
