"""Regenerate the video-benchmark table the package ships (``data/results/video_sweep.md``; lesson 06 shows it, a
wheel carries it) from the committed sweep in ``benchmarks/results/video/``. tests/analysis/test_sweep.py checks
that the shipped file is what this writes.

    .venv/bin/python scripts/ship_video_table.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deepsim_lite._io import write_text
from deepsim_lite.analysis.sweep import SHIPPED_TABLE, sweep_table

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default=str(ROOT / "benchmarks" / "results" / "video"), help="the sweep's folder")
    ap.add_argument("--out", default=str(ROOT / "data" / SHIPPED_TABLE))
    args = ap.parse_args(argv)
    write_text(args.out, sweep_table(args.sweep))
    print(f"wrote {args.out} from {args.sweep}/sweep.json")


if __name__ == "__main__":
    main()
