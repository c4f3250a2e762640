"""Build the course site: the lessons executed and rendered as static HTML (Sphinx + myst-nb), into ``--out``.

    python scripts/build_site.py --out site      # what `make site` runs; site/ is not committed

The Sphinx sources are assembled in ``build/site_src/``, laid out as the repository is: ``docs/site/conf.py``,
``index.md`` (the landing page), ``_static/`` (the site's CSS: code lines wrap) and ``_templates/`` (autosummary's
module page, for the API reference) at the top; ``docs/`` (getting started, guides, results, reliability, the API
reference's index, architecture, changelog); and the lessons as students see them (instructor notes
dropped; solution cells and the hosted-notebook setup cell run but are not shown: myst-nb's ``remove-cell`` tag; a
note before each editor that it is live only in Jupyter). Every lesson is executed at build time in the current
``DEEPSIM_MODE`` (lesson by default): the lessons load the shipped models, and lesson 02's live one comes from the model
cache once trained; a lesson that raises fails the build with its traceback.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source tree: the lessons' markers come from the package itself
from deepsim_lite.teaching.student import BEGIN, INSTRUCTOR_TAG  # noqa: E402

EDITOR_NOTE = ("*The editor below is live only in Jupyter: it draws and renders through a running Python kernel, "
               "which this page does not have, so it shows nothing here. Open the lesson in JupyterLab (or a hosted "
               "notebook, see the README) to use it.*")


def shows_editor(source: str) -> bool:
    """Whether a code cell ends by showing a ``PrimitiveEditor`` it made (``editor = PrimitiveEditor(...)``, then
    ``editor``): a widget, blank on a static page."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    if not body or not (isinstance(body[-1], ast.Expr) and isinstance(body[-1].value, ast.Name)):
        return False
    shown = body[-1].value.id
    return any(isinstance(s, ast.Assign) and isinstance(s.value, ast.Call) and ast.unparse(s.value.func).endswith(
        "PrimitiveEditor") and any(isinstance(t, ast.Name) and t.id == shown for t in s.targets) for s in body)


def site_notebook(nb: dict) -> dict:
    """A lesson for the site: instructor cells dropped; solutions and the hosted-notebook setup hidden (still run); a
    note before each editor that it is live only in Jupyter."""
    cells = []
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if INSTRUCTOR_TAG in tags:
            continue
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and (BEGIN in source or "DEEPSIM_SOURCE = " in source):
            cell = {**cell, "metadata": {**cell.get("metadata", {}), "tags": [*tags, "remove-cell"]}}
        if cell["cell_type"] == "code" and shows_editor(source):
            note_id = f"{cell.get('id', len(cells))}-site-note"  # nbformat 4.5 cells carry an id
            cells.append({"cell_type": "markdown", "id": note_id, "metadata": {}, "source": [EDITOR_NOTE]})
        cells.append(cell)
    return {**nb, "cells": cells}


DOCS_LEFT_OUT = ("site", "screenshots")  # docs/site is the site's own configuration; screenshots are history


def assemble(src: Path) -> None:
    """The Sphinx source tree, laid out as the repository is (``index.md``, ``docs/``, ``notebooks/``), so that a
    relative link between docs pages and lessons works on GitHub and on the site alike."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    site = ROOT / "docs" / "site"
    for name in ("conf.py", "index.md"):
        shutil.copy(site / name, src / name)
    for folder in ("_static", "_templates"):  # the CSS (code lines wrap); autosummary's module page
        shutil.copytree(site / folder, src / folder)
    shutil.copytree(ROOT / "docs", src / "docs", ignore=lambda d, names: [n for n in names if Path(d) == ROOT / "docs"
                                                                          and n in DOCS_LEFT_OUT])
    for book in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        nb = json.loads(book.read_text())
        (src / "notebooks" / book.name).write_text(json.dumps(site_notebook(nb), indent=1, ensure_ascii=False))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "site"))
    ap.add_argument("--no-execute", action="store_true", help="render the lessons without running them (a quick "
                    "look at the docs pages while writing them; the lessons then show no outputs)")
    args = ap.parse_args()
    src = ROOT / "build" / "site_src"
    assemble(src)
    env = dict(os.environ)
    env.setdefault("DEEPSIM_MODE", "lesson")
    html = ROOT / "build" / "site_html"  # myst-nb writes its jupyter_execute/ beside the output: keep both in build/
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-d", str(src / "_doctrees"),
           str(src), str(html)] + (["-D", "nb_execution_mode=off"] if args.no_execute else [])
    done = subprocess.run(cmd, env=env)
    if done.returncode:
        print(f"build_site: sphinx-build failed ({done.returncode}); the log above says which lesson", file=sys.stderr)
        return done.returncode
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(html, out)
    print(f"course site written to {out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
