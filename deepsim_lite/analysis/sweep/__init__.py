"""Sweeps: a grid of video-benchmark cells run as Ray tasks, on this machine or on a cluster.

A :class:`Grid` is clips × primitive kinds × methods × seeds × values of any
:class:`~deepsim_lite.method.config.TrainConfig` field (``omega.L``, ``crop.min_scale`` for the fields of Ω and
of crop+flip). Each :class:`Cell` is one :func:`deepsim_lite.analysis.video.run_cell`: train on frame 0 of a clip,
render and score every other frame. Each cell writes its own JSON atomically in the output folder
(:func:`deepsim_lite.analysis.video.cell_path`), so a re-run skips every finished cell and runs only the rest.

Cells run as Ray tasks (https://docs.ray.io): each declares what it needs (``num_gpus=1`` where the cluster
has GPUs, ``num_cpus`` = its torch threads) and Ray runs as many at once as the machine or cluster holds.
A cell whose worker dies (killed, out of memory) or that raises is retried ``max_retries`` times, then
reported; the other cells go on. Without an address Ray starts on this machine with its cores; with
``address="auto"`` or ``"ray://host:10001"`` the same grid runs on an existing cluster (docs/cluster.md).

    >>> grid = Grid(clips=("carphone",), primitives=("seg_edges",), methods=("crop_flip", "tps"), seeds=(0, 1, 2))
    >>> outcome = run(grid, "outputs/sweep")
    >>> print(markdown_tables(summarise(outcome.results, grid)))   # mean ± std over seeds; TPS − crop+flip

The parts: :mod:`.grid` (the grid and what reads it), :mod:`.runner` (running cells on Ray, resuming,
retries, progress) and :mod:`.tables` (the summary, the paired comparisons, the report, and
:func:`sweep_table`: the table the package ships, or your own sweep's). Their public names
are here.

Ray is optional: ``pip install "deepsim-lite[sweep]"``.
"""

from __future__ import annotations

from .grid import METHODS, Cell, Grid, flat_fields, parse_value, read_grid
from .runner import Outcome, RayMissing, require_ray, run, run_one
from .tables import METRICS, SHIPPED_TABLE, markdown_tables, summarise, sweep_table, write_report


def __getattr__(name: str):
    """The parts' other module-level names (``sweep.AXES``, ``sweep.INSTALL``, ...), as 0.6's one module had them."""
    from . import grid, runner, tables

    for part in (grid, runner, tables):
        if not name.startswith("__") and name in vars(part):
            return vars(part)[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Grid", "Cell", "Outcome", "RayMissing", "read_grid", "parse_value", "run", "summarise", "markdown_tables",
           "write_report", "sweep_table", "require_ray", "run_one", "flat_fields", "METHODS", "METRICS",
           "SHIPPED_TABLE"]
