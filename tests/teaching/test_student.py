"""The student build (teaching/student.py): solutions stubbed, instructor notes dropped, outputs cleared."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deepsim_lite import cli
from deepsim_lite.teaching import student

ROOT = Path(__file__).resolve().parents[2]


def _nb(*cells):
    return {"cells": [dict(c) for c in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_student_notebook_stubs_solutions_drops_instructor_cells_and_clears_outputs():
    solution = {"cell_type": "code", "metadata": {}, "execution_count": 3, "outputs": [{"output_type": "stream"}],
                "source": ["x = 1\n", "if x:\n", "    ### BEGIN SOLUTION\n", "    y = 2\n", "    ### END SOLUTION\n",
                           "check(y)\n"]}
    note = {"cell_type": "markdown", "metadata": {"tags": ["instructor"]}, "source": ["what to look for"]}
    text = {"cell_type": "markdown", "metadata": {}, "source": ["## Exercises"]}
    nb = _nb(text, solution, note)
    out = student.student_notebook(nb)
    assert [c["cell_type"] for c in out["cells"]] == ["markdown", "code"]
    code = "".join(out["cells"][1]["source"])
    assert code == ("x = 1\nif x:\n    # YOUR CODE HERE\n    raise NotImplementedError(\"write your answer here, then "
                    "run the cell\")\ncheck(y)\n")
    assert out["cells"][1]["outputs"] == [] and out["cells"][1]["execution_count"] is None
    assert nb["cells"][1]["outputs"] and len(nb["cells"]) == 3  # the instructor's notebook is untouched
    with pytest.raises(NotImplementedError, match="^write your answer here, then run the cell$"):
        exec(code, {"check": print})
    checked = dict(solution, source=["### BEGIN SOLUTION\n", "y = 2\n", "### END SOLUTION\n", 'check.ex("05.2", y)\n'])
    with pytest.raises(NotImplementedError, match=r"^exercise 05\.2: write your answer here, then run the cell$"):
        exec("".join(student.student_notebook(_nb(checked))["cells"][0]["source"]), {})
    broken = dict(solution, source=["### BEGIN SOLUTION\n", "y = 2\n"])
    with pytest.raises(ValueError, match="cell 0: '### BEGIN SOLUTION' without '### END SOLUTION'"):
        student.student_notebook(_nb(broken), "x.ipynb")
    typo = dict(solution, source=["#### BEGIN SOLUTION\n", "y = 2\n", "### END SOLUTION\n"])
    with pytest.raises(ValueError, match="is not a solution marker"):
        student.student_notebook(_nb(typo), "x.ipynb")
    checked = dict(solution, source=["# NBVAL_CHECK_OUTPUT\n", "### BEGIN SOLUTION\n", "y = 2\n", "### END SOLUTION\n"])
    assert "NBVAL" not in "".join(student.student_notebook(_nb(checked))["cells"][0]["source"])


def test_student_build_of_the_lessons(tmp_path, capsys):
    (tmp_path / "09_old_lesson.ipynb").write_text("{}")  # from an earlier build: removed
    assert cli.main(["lessons", "student", "--notebooks", str(ROOT / "notebooks"), "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "09_old_lesson.ipynb").exists()
    assert "wrote 7 student notebooks" in capsys.readouterr().out
    for book in sorted(tmp_path.glob("*.ipynb")):
        nb = json.loads(book.read_text())
        text = book.read_text()
        assert "BEGIN SOLUTION" not in text and "what to look for (instructor)" not in text.lower(), book.name
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), book.name
    one = "".join("".join(c["source"]) for c in json.loads((tmp_path / "01_tps_math.ipynb").read_text())["cells"]
                  if c["cell_type"] == "code")
    assert one.count("raise NotImplementedError") == 3 and one.count("check.ex(") == 3
    for key in ("01.1", "01.3", "01.4"):  # each stub names its exercise
        assert f'raise NotImplementedError("exercise {key}: write your answer here' in one, key
    for book in sorted(tmp_path.glob("*.ipynb")):  # nothing beside the student build: no ../benchmarks, no ../data
        code = "".join("".join(c["source"]) for c in json.loads(book.read_text())["cells"] if c["cell_type"] == "code")
        assert not re.search(r"""["']\.\.["']|\.\./|["']benchmarks["']""", code), book.name
    six = json.loads((tmp_path / "06_video_benchmark.ipynb").read_text())["cells"]
    six = "".join("".join(c["source"]) for c in six)
    assert "sweep.sweep_table()" in six  # lesson 06 shows the table the package ships
    assert cli.main(["lessons", "student", "--notebooks", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert cli.main(["lessons", "student", "--notebooks", str(tmp_path), "--out", str(tmp_path)]) == 2  # overwrite
