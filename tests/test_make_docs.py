"""Every generated figure is what its committed result makes (scripts/make_docs.py): a result table, a block of the
README or the docs, or a lesson's run-time header typed by hand, or left behind when its result changed, fails here."""

import importlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))  # make_docs imports its three parts by name, as it does when run
make_docs = importlib.import_module("make_docs")
result_tables, doc_blocks = importlib.import_module("result_tables"), importlib.import_module("doc_blocks")


def test_every_generated_file_agrees_with_the_committed_results(capsys):
    assert make_docs.main(["--check"]) == 0, capsys.readouterr().out
    for table, (inputs, _) in result_tables.TABLES.items():  # each names inputs that exist
        assert (result_tables.RESULTS / table).is_file() and all((result_tables.RESULTS / n).is_file()
                                                                   for n in inputs), table
    used = {m["name"] for page in doc_blocks.pages() for m in doc_blocks.BLOCK.finditer(page.read_text())}
    assert {"demo", "readme-lessons", "headline", "presets"} <= used  # the README's own figures are generated
    assert not set(doc_blocks.BLOCKS) - used - {f"table:{t}" for t in result_tables.TABLES}, "a block no page uses"


def _planted(tmp_path, monkeypatch):
    """A copy of the results and one page, with make_docs pointed at them."""
    skip = shutil.ignore_patterns("video", "lesson_quality", "*.log", "*.png")
    shutil.copytree(result_tables.RESULTS, tmp_path / "results", ignore=skip)
    monkeypatch.setattr(result_tables, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(doc_blocks, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(doc_blocks, "ROOT", tmp_path)
    monkeypatch.setattr(doc_blocks, "PAGES", ("page.md",))
    monkeypatch.setattr(make_docs, "ROOT", tmp_path)
    monkeypatch.setattr(make_docs, "targets", lambda: [*result_tables.targets(), *doc_blocks.targets()])
    monkeypatch.setattr(result_tables, "TABLES", {k: v for k, v in result_tables.TABLES.items()
                                                  if k == "scene_training_cpu.md"})
    page = tmp_path / "page.md"
    page.write_text("# A page\n\nIt took:\n<!-- generated: demo -->\nold text\n<!-- end generated -->\n\nThe end.\n")
    return page


def test_a_hand_edited_table_is_found_and_rewritten(tmp_path, monkeypatch, capsys):
    _planted(tmp_path, monkeypatch)
    make_docs.main([])
    capsys.readouterr()
    edited = tmp_path / "results" / "scene_training_cpu.md"
    edited.write_text(edited.read_text().replace("| seg_edges | {0} | 23.18 |", "| seg_edges | {0} | 25.00 |"))
    assert make_docs.main(["--check"]) == 1
    assert capsys.readouterr().out == ("1 of 2 generated files differ from their regeneration: "
                                       "results/scene_training_cpu.md (run python scripts/make_docs.py)\n")
    assert make_docs.main([]) == 0 and "| seg_edges | {0} | 23.18 |" in edited.read_text()
    assert make_docs.main(["--check"]) == 0


def test_a_block_is_rewritten_from_its_json_and_nothing_else_on_the_page_changes(tmp_path, monkeypatch, capsys):
    page = _planted(tmp_path, monkeypatch)
    assert make_docs.main(["--check"]) == 1 and "page.md" in capsys.readouterr().out
    make_docs.main([])
    text = page.read_text()
    assert text.startswith("# A page\n\nIt took:\n<!-- generated: demo -->\nOn this project's")
    assert text.endswith("<!-- end generated -->\n\nThe end.\n") and "old text" not in text
    demo = json.loads((tmp_path / "results" / "demo_cpu.json").read_text())
    assert f"{demo['train_wall_s']:.1f} s" in text and f"{demo['reconstruction_psnr_db']:.2f} dB" in text
    demo["reconstruction_psnr_db"] = 30.5  # a new result: the page follows it
    (tmp_path / "results" / "demo_cpu.json").write_text(json.dumps(demo))
    assert make_docs.main(["--check"]) == 1
    make_docs.main([])
    assert "PSNR 30.50 dB" in page.read_text() and make_docs.main(["--check"]) == 0


def test_an_unknown_block_names_its_page(tmp_path, monkeypatch):
    page = _planted(tmp_path, monkeypatch)
    page.write_text("<!-- generated: no-such-block -->\n<!-- end generated -->\n")
    with pytest.raises(KeyError, match="page.md: unknown generated block 'no-such-block'"):
        make_docs.main(["--check"])


# A measured figure written into prose: a number with a unit of time, speed, quality or ratio. Not the 95% of an
# interval's confidence level, and not a training budget one chooses: budgets are written out ("45 seconds").
MEASURED = re.compile(r"(?<![\w.])(?!95%)\d+(?:\.\d+)?\s?(?:dB|ms|min|minutes?|hours?|s|steps/s|GiB|GB|MiB|×|%)"
                      r"(?![\w/])")


def _outside_blocks_and_code(text: str) -> str:
    text = doc_blocks.BLOCK.sub("", text)
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`]*`", "", text)


@pytest.mark.parametrize("page", ["README.md", "docs/getting_started.md", "docs/reliability.md",
                                  "docs/lesson_recipe.md", "docs/weights.md", "docs/cluster.md", "docs/api.md",
                                  *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "results").glob("*.md")),
                                  *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "guides").glob("*.md"))])
def test_measured_figures_on_a_page_come_from_generated_blocks(page):
    typed = MEASURED.findall(_outside_blocks_and_code((ROOT / page).read_text()))
    assert not typed, f"{page}: measured figures typed by hand (generate them: scripts/doc_blocks.py): {typed}"


def test_the_figure_check_finds_a_typed_figure_but_not_a_generated_one():
    typed = "The demo took 48 s and reached 27.18 dB, 9.9 steps/s, 3× faster, a 95% interval, about 11 minutes.\n"
    assert MEASURED.findall(_outside_blocks_and_code(typed)) == ["48 s", "27.18 dB", "9.9 steps/s", "3×", "11 minutes"]
    generated = "<!-- generated: demo -->\nIt took 48 s.\n<!-- end generated -->\nsee `took 3 s` and step 2 of 4\n"
    assert MEASURED.findall(_outside_blocks_and_code(generated)) == []
