"""Build the course site: the lessons executed and rendered as static HTML (Sphinx + myst-nb), into ``--out``.

    python scripts/build_site.py --out site      # what `make site` runs; site/ is not committed

The Sphinx sources are assembled in ``build/site_src/``: ``docs/site/conf.py`` and ``index.md``, a copy of
``notebooks/``, and a link to ``benchmarks/`` (lesson 06 reads its table from ``../benchmarks``). Every lesson is
executed at build time in the current ``DEEPSIM_MODE`` (lesson by default) with the model cache, so a warm cache
trains nothing; a lesson that raises fails the build with its traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def assemble(src: Path) -> None:
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    for name in ("conf.py", "index.md"):
        shutil.copy(ROOT / "docs" / "site" / name, src / name)
    for book in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        shutil.copy(book, src / "notebooks" / book.name)
    (src / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "site"))
    args = ap.parse_args()
    src = ROOT / "build" / "site_src"
    assemble(src)
    env = dict(os.environ)
    env.setdefault("DEEPSIM_MODE", "lesson")
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-d", str(src / "_doctrees"),
           str(src), args.out]
    done = subprocess.run(cmd, env=env)
    if done.returncode:
        print(f"build_site: sphinx-build failed ({done.returncode}); the log above says which lesson", file=sys.stderr)
        return done.returncode
    print(f"course site written to {args.out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
