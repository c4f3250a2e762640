"""The lessons' run-time headers are written from benchmarks/results/lesson_timings_cpu.json
(scripts/lesson_headers.py), never typed: a header that disagrees with the committed result fails here."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lesson_headers", ROOT / "scripts" / "lesson_headers.py")
headers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(headers)


def test_every_lesson_header_agrees_with_the_committed_timings():
    result = json.loads(headers.RESULT.read_text())
    per_model = headers.per_model_seconds(result["lessons"])
    stale = [t["notebook"] for t in result["lessons"].values()
             if len(set(headers.updated(ROOT / "notebooks" / t["notebook"], t, per_model))) != 1]
    assert not stale, f"run python scripts/lesson_headers.py: {stale}"


def test_the_three_numbers_of_a_header_are_rewritten_and_nothing_else():
    text = ("Intro.\n*Run time: 8 s with its 2 models in the model cache (x). A cold cache\nadds about 40 s of "
            "training per model no earlier lesson trained (98 s for this\nlesson when the lessons run in order "
            "from 01).*")
    out = headers.rewrite(text, warm=12.4, cold=130.0, per_model=47)
    assert out == text.replace("8 s with", "12 s with").replace("40 s of", "47 s of").replace("98 s for",
                                                                                              "2.2 min for")
    assert headers.per_model_seconds({"a": {"cold": {"seconds": 50, "models_trained": 1}, "warm": {"seconds": 10}},
                                      "b": {"cold": {"seconds": 100, "models_trained": 2}, "warm": {"seconds": 10}},
                                      "c": {"cold": {"seconds": 9, "models_trained": 0}, "warm": {"seconds": 9}}}) == 42
