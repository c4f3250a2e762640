"""Write the run times in the lessons' headers from the timing script's result, so that no one types them.

    python scripts/lesson_headers.py              # rewrite notebooks/0*.ipynb from lesson_timings_cpu.json
    python scripts/lesson_headers.py --check      # exit 1 if a header disagrees with the result file

Each lesson's header says ``*Run time: W s with its ... (...). A cold cache adds about P s of training per model
no earlier lesson trained (C s for this lesson when the lessons run in order from 01)...*``: W and C are the
lesson's warm and cold times in ``benchmarks/results/lesson_timings_cpu.json`` (``benchmarks/lesson_timings.py``),
P the cold run's extra time per model it trained, averaged over the lessons that trained one (C from 100 s on in
minutes). Only those three
numbers change; the notebook is otherwise written back as it was (indent 1, UTF-8, a final newline).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "lesson_timings_cpu.json"
WARM = re.compile(r"(\*Run time: )\d+( s with)")
PER_MODEL = re.compile(r"(adds about )\d+( s of training per)")
COLD = re.compile(r"\(\d+(?:\.\d+)? (?:s|min)( for this\s+lesson when)")


def per_model_seconds(lessons: dict) -> int:
    """The cold run's extra seconds per trained model, averaged over the lessons that trained any."""
    extra = [(v["cold"]["seconds"] - v["warm"]["seconds"]) / v["cold"]["models_trained"]
             for v in lessons.values() if v["cold"]["models_trained"]]
    return round(sum(extra) / len(extra))


def rewrite(source: str, warm: float, cold: float, per_model: int) -> str:
    """``source`` (a header cell's text) with its three numbers replaced."""
    out = WARM.sub(lambda m: f"{m[1]}{round(warm)}{m[2]}", source, count=1)
    out = PER_MODEL.sub(lambda m: f"{m[1]}{per_model}{m[2]}", out, count=1)
    shown = f"{round(cold)} s" if cold < 100 else f"{cold / 60:.1f} min"
    return COLD.sub(lambda m: f"({shown}{m[1]}", out, count=1)


def updated(path: Path, timing: dict, per_model: int) -> tuple[str, str]:
    """(the notebook's text now, its text with the header from ``timing``)."""
    text = path.read_text()
    nb = json.loads(text)
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "*Run time:" in source:
            new = rewrite(source, timing["warm"]["seconds"], timing["cold"]["seconds"], per_model)
            lines = new.split("\n")
            cell["source"] = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
            break
    return text, json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args()
    result = json.loads(RESULT.read_text())
    per_model = per_model_seconds(result["lessons"])
    stale = []
    for _, timing in sorted(result["lessons"].items()):
        path = ROOT / "notebooks" / timing["notebook"]
        now, new = updated(path, timing, per_model)
        if now != new:
            stale.append(path.name)
            if not args.check:
                path.write_text(new)
    verb = "disagree with" if args.check else "rewritten from"
    print(f"{len(stale)} lesson header(s) {verb} {RESULT.name}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
