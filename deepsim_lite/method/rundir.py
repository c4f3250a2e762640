"""A training run's folder: ``config.json``, ``metrics.jsonl``, ``samples/``, ``checkpoints/last.pt``.

What :class:`~deepsim_lite.method.train.Trainer` needs of it, kept apart from the training maths: the folder
is made and checked writable before any step runs, what a killed run left behind (temporary files,
a cut-off metrics line, rows logged after the checkpoint it resumes from) is cleaned up, and metric
rows are appended one JSON object per line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .._io import atomic_write_bytes

__all__ = ["prepare", "append_metrics", "truncate_metrics"]


def prepare(rd: Path, step: int) -> None:
    """Make ``rd`` ready for a run that starts (or resumes) at ``step``; raise ``PermissionError``
    with one line if it cannot be created or written."""
    try:
        (rd / "checkpoints").mkdir(parents=True, exist_ok=True)
        (rd / "samples").mkdir(exist_ok=True)
    except (PermissionError, FileExistsError, NotADirectoryError) as err:
        raise PermissionError(f"cannot create the run directory {rd}: {err.strerror or err}") from None
    if not os.access(rd, os.W_OK) or not os.access(rd / "checkpoints", os.W_OK):
        raise PermissionError(f"run directory {rd} is not writable; pick another --out")
    for folder in (rd, rd / "samples", rd / "checkpoints"):  # temp files left by a kill during a write
        for orphan in folder.glob(".*.tmp"):
            orphan.unlink(missing_ok=True)
    truncate_metrics(rd / "metrics.jsonl", step)


def append_metrics(rd: Path, row: dict) -> None:
    """Append one row to ``metrics.jsonl`` (a kill mid-write leaves at most a cut-off last line)."""
    with open(rd / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def truncate_metrics(path: Path, step: int) -> None:
    """Keep the metric rows up to ``step`` (the state a run starts from); a line cut off by a kill
    mid-write, or rows logged after the checkpoint an interrupted run resumes from, are dropped."""
    if not path.exists():
        return
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            rows.append(line)
    atomic_write_bytes(path, ("\n".join(rows) + "\n" if rows else "").encode())
