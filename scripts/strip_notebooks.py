"""Execute lesson notebooks and keep only the outputs nbval compares.

    python scripts/strip_notebooks.py notebooks/01_tps_math.ipynb [...]   # run, then strip
    python scripts/strip_notebooks.py --no-run notebooks/*.ipynb           # strip only
    python scripts/strip_notebooks.py --executed outputs/lessons notebooks/04_failure_modes.ipynb
                                      # also keep the executed copy, every output (what the README quotes)

Cells marked ``# NBVAL_CHECK_OUTPUT`` keep their (text) outputs, which `make test` compares under
``--nbval-lax``; every other output and all execution counts are cleared, so notebooks stay small
in git. Run in lesson mode (``DEEPSIM_MODE=lesson``), as CI does.
"""

import argparse
import os

import nbformat
from nbclient import NotebookClient


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("widgets", None)  # saved widget state (progress bars) is output too
    nb.metadata.pop("language_info", None)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        if "NBVAL_CHECK_OUTPUT" in cell.source:
            count += 1  # nbval only compares cells that look executed
            cell.execution_count = count
            cell.outputs = [o for o in cell.outputs if o.get("output_type") == "stream"]
            for o in cell.outputs:
                o.pop("execution_count", None)
        else:
            cell.outputs = []
        cell.metadata.pop("execution", None)
    return nb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--no-run", action="store_true")
    ap.add_argument("--executed", metavar="DIR", help="also write each executed notebook, outputs and all, here")
    args = ap.parse_args()
    os.environ.setdefault("DEEPSIM_MODE", "lesson")
    for path in args.paths:
        nb = nbformat.read(path, as_version=4)
        if not args.no_run:
            NotebookClient(nb, timeout=1800, kernel_name="python3",
                           resources={"metadata": {"path": os.path.dirname(path) or "."}}).execute()
            if args.executed:
                os.makedirs(args.executed, exist_ok=True)
                nbformat.write(nb, os.path.join(args.executed, os.path.basename(path)))
        nbformat.write(strip(nb), path)
        print(f"{path}: stripped")


if __name__ == "__main__":
    main()
