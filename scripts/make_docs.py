"""Every benchmark figure in the README, the docs and the lessons' headers, made from its committed result file.

    python scripts/make_docs.py            # rewrite whatever differs (`make docs`; `make site` runs it first)
    python scripts/make_docs.py --check    # exit 1 naming each file that differs from its regeneration

It writes three kinds of file, each only from committed results (``benchmarks/results/``, ``data/models/``):

- the result tables in ``benchmarks/results/``, each by its benchmark's own ``markdown`` (``result_tables.py``);
- the generated blocks of ``README.md`` and ``docs/**/*.md``, between ``<!-- generated: NAME -->`` and
  ``<!-- end generated -->`` (``doc_blocks.py``);
- the ``*Run time: ...*`` paragraph at the top of each lesson (``lesson_headers.py``).

A number typed by hand into one of them, or left behind when its result changed, differs from the regeneration:
``tests/test_make_docs.py`` runs the check. To change a figure, re-run its benchmark (the command sits next to
the figure), commit the JSON, and run this script.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import doc_blocks
import lesson_headers
import result_tables

ROOT = result_tables.ROOT


def targets() -> list[tuple[Path, str]]:
    """(file, the text it should have) for every generated file; the tables first, the pages that quote them after."""
    return [*result_tables.targets(), *doc_blocks.targets(), *lesson_headers.targets()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 naming each file that differs")
    args = ap.parse_args(argv)
    from deepsim_lite._io import write_text  # atomic: an interrupted run leaves the old file (every text ends in \n)

    todo = targets()
    stale = [path for path, text in todo if not path.is_file() or path.read_text() != text]
    if not args.check:
        for path, text in todo:
            if path in stale:
                write_text(path, text)
    names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
    verb = "differ from their regeneration" if args.check else "rewritten"
    print(f"{len(stale)} of {len(todo)} generated files {verb}" + (f": {names}" if names else "")
          + (" (run python scripts/make_docs.py)" if args.check and stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
