"""The lessons' run-time headers are written from benchmarks/results/lesson_timings_cpu.json
(scripts/lesson_headers.py, run by scripts/make_docs.py), never typed: a header that disagrees with the committed
result fails here."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lesson_headers", ROOT / "scripts" / "lesson_headers.py")
headers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(headers)


def test_every_lesson_header_agrees_with_the_committed_timings():
    result = json.loads(headers.RESULT.read_text())
    loading = headers.lessons_loading_models()
    assert loading == {"02", "03", "04", "05", "06", "07"}
    stale = [t["notebook"] for n, t in result["lessons"].items()
             if len(set(headers.updated(ROOT / "notebooks" / t["notebook"], t, n in loading))) != 1]
    assert not stale, f"run python scripts/make_docs.py: {stale}"


def test_a_header_is_written_whole_from_the_timings_and_nothing_else_changes(tmp_path):
    def timing(cold, warm, trained):
        return {"cold": {"seconds": cold, "models_trained": trained}, "warm": {"seconds": warm}}

    live = headers.header(timing(100.0, 12.4, 1), loads_models=True)
    assert live == ("*Run time: 1.7 min on a fresh machine, where it trains 1 model in front of you (about 88 s); "
                    "12 s once that is in the model cache (lesson mode, this project's 2-core CPU; "
                    "`benchmarks/lesson_timings.py`). The models it compares with ship with the package.*")
    assert headers.header(timing(7.2, 6.6, 0), loads_models=True).startswith("*Run time: 7 s (lesson mode, ") and (
        "; 7 s on a fresh machine with an empty model cache): its models ship" in headers.header(timing(7.2, 6.6, 0),
                                                                                                True))
    assert headers.header(timing(5, 5, 0), loads_models=False).endswith("it needs no trained model.*")
    book = tmp_path / "00_x.ipynb"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "\n", "*Run time: 8 s with its\n",
                                                                  "2 models (old).*\n", "\n", "More text."]},
             {"cell_type": "code", "metadata": {}, "source": ["print('*Run time: code*')"], "outputs": [],
              "execution_count": None}]
    book.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n")
    now, new = headers.updated(book, timing(5, 5, 0), loads_models=False)
    after = json.loads(new)["cells"]
    assert "".join(after[0]["source"]) == ("# Title\n\n*Run time: 5 s (lesson mode, this project's 2-core CPU; "
                                           "`benchmarks/lesson_timings.py`); it needs no trained model.*\n\nMore text.")
    assert after[1] == cells[1] and json.loads(now)["cells"] == cells
