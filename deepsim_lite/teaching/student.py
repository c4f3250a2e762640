"""The student build of the lessons: solutions (nbgrader's markers) replaced by a stub that names its exercise,
instructor notes dropped.

``deepsim-lite lessons student`` (``make student``) writes it; the course site hides the same cells.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .._io import write_text

__all__ = ["BEGIN", "END", "INSTRUCTOR_TAG", "student_notebook", "build_student"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"  # nbgrader's markers: instructors who use it take them as is
INSTRUCTOR_TAG = "instructor"  # a cell for the instructor only ("what to look for"), dropped from the student build


def _stub_message(source: str) -> str:
    """What a stub says when run: the exercise its cell checks (``check.ex("05.2", ...)``), if exactly one."""
    keys = set(re.findall(r"""check\.ex\(\s*["'](\d\d\.\d+)["']""", source))
    what = "write your answer here, then run the cell"
    return f"exercise {keys.pop()}: {what}" if len(keys) == 1 else what


def _stub(source: str, where: str) -> str:
    """The code with every solution region replaced by ``raise NotImplementedError("exercise NN.N: ...")`` at its
    indentation (a generic message where the cell checks no one exercise)."""
    out, inside, message = [], None, json.dumps(_stub_message(source), ensure_ascii=False)
    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if stripped not in (BEGIN, END) and ("BEGIN SOLUTION" in stripped or "END SOLUTION" in stripped):
            raise ValueError(f"{where}: {stripped!r} is not a solution marker; write exactly {BEGIN!r} / {END!r}")
        if stripped == "# NBVAL_CHECK_OUTPUT":  # the test suite's marker: not for students
            continue
        if stripped == BEGIN:
            if inside is not None:
                raise ValueError(f"{where}: a second {BEGIN!r} before {END!r}")
            inside = line[: len(line) - len(line.lstrip())]
            out.append(f"{inside}# YOUR CODE HERE\n{inside}raise NotImplementedError({message})\n")
        elif stripped == END:
            if inside is None:
                raise ValueError(f"{where}: {END!r} without {BEGIN!r}")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise ValueError(f"{where}: {BEGIN!r} without {END!r}")
    return "".join(out)


def student_notebook(nb: dict, name: str = "notebook") -> dict:
    """The student version of a lesson (a notebook as JSON): solutions replaced by a stub, instructor cells
    dropped, every output cleared. The input is not changed."""
    cells = []
    for i, cell in enumerate(nb["cells"]):
        if INSTRUCTOR_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cell = {**cell, "metadata": dict(cell.get("metadata", {}))}
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            source = _stub(source, f"{name}, cell {i}")
            cell.update(outputs=[], execution_count=None)
        elif BEGIN in source:
            raise ValueError(f"{name}, cell {i}: solution markers in a {cell['cell_type']} cell")
        cell["source"] = source.splitlines(keepends=True)
        cells.append(cell)
    return {**nb, "cells": cells}


def build_student(source: str | os.PathLike, out: str | os.PathLike) -> list[str]:
    """Write the student version of every lesson notebook in ``source`` into ``out``; return their names."""
    src, dst = Path(source), Path(out)
    books = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not books:
        raise ValueError(f"no lesson notebooks (NN_name.ipynb) in {src}; give the folder of the lessons")
    if dst.resolve() == src.resolve():
        raise ValueError(f"the student build would overwrite the lessons in {src}; give another --out")
    dst.mkdir(parents=True, exist_ok=True)
    for old in dst.glob("[0-9][0-9]_*.ipynb"):  # a lesson renamed or removed since the last build
        old.unlink()
    for book in books:
        nb = student_notebook(json.loads(book.read_text()), book.name)
        write_text(dst / book.name, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return [b.name for b in books]
