"""Every committed result table is what its JSON makes (scripts/result_tables.py): a table typed by hand, or left
behind when its script changed, fails here."""

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("result_tables", ROOT / "scripts" / "result_tables.py")
tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tables)


def test_every_committed_table_regenerates_from_its_json(capsys):
    assert tables.main(["--check"]) == 0, capsys.readouterr().out + " (run python scripts/result_tables.py)"
    for table, (inputs, _) in tables.TABLES.items():  # each names inputs that exist
        assert (tables.RESULTS / table).is_file() and all((tables.RESULTS / n).is_file() for n in inputs), table


def test_a_hand_edited_table_is_found_and_rewritten(tmp_path, monkeypatch, capsys):
    skip = shutil.ignore_patterns("video", "lesson_quality", "gpu")
    shutil.copytree(tables.RESULTS, tmp_path / "results", ignore=skip)
    monkeypatch.setattr(tables, "RESULTS", tmp_path / "results")
    edited = tmp_path / "results" / "scene_training_cpu.md"
    edited.write_text(edited.read_text().replace("| seg_edges | {0} | 23.18 |", "| seg_edges | {0} | 25.00 |"))
    assert tables.main(["--check"]) == 1
    assert capsys.readouterr().out == (f"1 of {len(tables.TABLES)} result tables differ from their JSON: "
                                       "scene_training_cpu.md\n")
    assert tables.main([]) == 0 and "| seg_edges | {0} | 23.18 |" in edited.read_text()
    assert tables.main(["--check"]) == 0
