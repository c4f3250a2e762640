"""Running a sweep: every unfinished cell of a :class:`~.grid.Grid` as a Ray task (:func:`run`), one cell on
a worker (:func:`run_one`), what is already finished or running in the output folder (a cell's file and its
``.running`` marker), retries of failed cells, and the progress lines.

:func:`run_one` is the function Ray's tasks call: Ray pickles it by reference, so a worker imports it from
``deepsim_lite.analysis.sweep.runner`` (``deepsim-lite`` installed on every node)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..._io import write_json
from ...method.config import TrainConfig
from ...primitives.pairs import fit_size
from .. import video
from .grid import INSTALL, Cell, Grid

FORWARDED_ENV = ("DEEPSIM_OFFLINE", "DEEPSIM_CACHE", "DEEPSIM_MODE", "TORCH_HOME")  # to workers on a cluster
PATH_ENV = ("DEEPSIM_CACHE", "TORCH_HOME")  # made absolute before they travel


class RayMissing(ImportError):
    """Ray is not installed; the message says how to install it."""


@dataclass
class Outcome:
    """What a sweep did: ``results`` pairs every finished cell of the grid (this run's and earlier ones) with
    its result dict; ``failed`` maps a cell's label to one line saying why it failed after its retries."""

    results: list[tuple[Cell, dict]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    cluster: dict = field(default_factory=dict)  # Ray's resources at the start: {"CPU": 2.0, ...}


def require_ray():
    """The ``ray`` module, or :class:`RayMissing` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayMissing(f"sweeps run on Ray, which is not installed: {INSTALL}") from None
    return ray


def _clip_shapes(grid: Grid) -> dict[str, tuple[int, int, int]]:
    """``clip -> (frames, H, W)`` read on the driver: a bad clip fails here, before any cell starts."""
    shapes = {}
    for clip in grid.clips:
        frames = video.load_frames(video.clip_source(clip), grid.frames)
        shapes[clip] = (len(frames), *frames[0].shape[-2:])
    return shapes


def _cell_file(grid: Grid, cell: Cell, out_dir: Path) -> Path:
    return video.cell_path(out_dir, cell.name, cell.primitive, cell.method, grid.preset, grid.segmentation,
                           cell.overrides())


def _marker(grid: Grid, cell: Cell, out_dir: Path) -> Path:
    """``<cell file>.running``: which process runs the cell, which attempt."""
    path = _cell_file(grid, cell, out_dir)
    return path.with_name(path.name + ".running")


def _finished(grid: Grid, cell: Cell, out_dir: Path, shapes: dict) -> dict | None:
    n, h, w = shapes[cell.clip]
    config = TrainConfig.preset(grid.preset, **cell.overrides())
    return video.finished_cell(_cell_file(grid, cell, out_dir), cell.primitive, cell.method, grid.preset,
                               grid.segmentation, n, fit_size(h, w, config.multiple, config.max_side),
                               cell.overrides())


def run_one(cell: Cell, grid: Grid, out_dir: str | os.PathLike, threads: int = 1) -> dict:
    """Run one cell here (what each Ray task does): its clip's pairs, then :func:`video.run_cell`.

    A marker ``<cell file>.running`` says which process runs it and which attempt this is (a killed attempt
    leaves its marker, so the next one counts it); it is removed when the cell finishes.
    Returns ``{"result", "attempt", "host", "pid", "seconds"}``.
    """
    import torch

    torch.set_num_threads(threads)
    out: Path | None = Path(out_dir)
    overrides = cell.overrides()
    marker = _marker(grid, cell, out)
    try:
        attempt = int(json.loads(marker.read_text()).get("attempt", 0)) + 1
    except (OSError, ValueError, AttributeError):
        attempt = 1
    where = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        write_json(marker, {**where, "attempt": attempt, "cell": cell.label(), "started": time.time()})
    except OSError:  # a node that does not see the output folder: the result goes back to the driver only
        out = None
    t0 = time.perf_counter()
    config = TrainConfig.preset(grid.preset, **overrides)
    frames = video.load_frames(video.clip_source(cell.clip), grid.frames)
    pairs = video.clip_pairs(frames, cell.primitive, config, cell.name, segmentation=grid.segmentation)
    result = video.run_cell(pairs, cell.name, cell.primitive, cell.method, grid.preset, out,
                            segmentation=grid.segmentation, **overrides)
    if out is not None:
        marker.unlink(missing_ok=True)
    return {"result": result, "attempt": attempt, **where, "seconds": time.perf_counter() - t0}


def run(grid: Grid, out_dir: str | os.PathLike, address: str | None = None, num_cpus: int | None = None,
        cpus_per_cell: int = 1, gpus_per_cell: float | None = None, max_retries: int = 2,
        progress: bool = True) -> Outcome:
    """Run every unfinished cell of ``grid`` as a Ray task; collect every finished cell's result.

    Args:
        out_dir: where each cell's JSON is (and goes); on a cluster, a folder every node sees, or results
            come back through Ray and are written here by this process.
        address: ``None`` starts Ray on this machine (``num_cpus`` cores, default all); ``"auto"`` or
            ``"ray://host:10001"`` joins a running cluster. An already initialised Ray is used as it is.
        cpus_per_cell: CPU cores each cell declares and the torch threads it uses.
        gpus_per_cell: GPUs each cell declares; ``None``: 1 where the cluster has GPUs, else 0.
        max_retries: further attempts of a cell whose worker died or that raised.
        progress: one line per finished cell and an overall bar.
    """
    ray = require_ray()
    if cpus_per_cell < 1 or max_retries < 0 or (gpus_per_cell is not None and gpus_per_cell < 0):
        raise ValueError(f"cpus_per_cell must be >= 1, gpus_per_cell >= 0 and max_retries >= 0; got {cpus_per_cell}, "
                         f"{gpus_per_cell}, {max_retries}")
    if address and num_cpus:
        raise ValueError("num_cpus sets the cores of a Ray started here; a cluster (address) has its own")
    # workers may start in another folder (on a cluster, another machine): paths travel absolute
    grid = dataclasses.replace(grid, clips=tuple(c if c in video.CLIPS else os.path.abspath(c) for c in grid.clips))
    out = Path(os.path.abspath(out_dir))  # absolute, links kept: a linked clip keeps its own name
    out.mkdir(parents=True, exist_ok=True)
    shapes = _clip_shapes(grid)
    cells = grid.cells()
    outcome = Outcome()
    done = {cell: _finished(grid, cell, out, shapes) for cell in cells}
    pending = [cell for cell in cells if done[cell] is None]
    outcome.skipped = [cell.label() for cell in cells if done[cell] is not None]
    for cell in pending:
        _marker(grid, cell, out).unlink(missing_ok=True)  # a killed earlier sweep's: attempts count from 1
    say = _printer(progress)
    if outcome.skipped:
        say(f"sweep: {len(outcome.skipped)} of {len(cells)} cells already finished in {out}; " +
            (f"running the other {len(pending)}" if pending else "nothing to run"))
    t0 = time.perf_counter()
    if pending:
        started_here = not ray.is_initialized()
        if started_here:
            _init_ray(ray, address, num_cpus)
        try:
            outcome.cluster = {k: float(v) for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
            gpus = _gpus_per_cell(outcome.cluster, cpus_per_cell, gpus_per_cell, address)
            say(f"sweep: {len(pending)} cells on Ray ({', '.join(f'{v:g} {k}' for k, v in outcome.cluster.items())}; "
                f"each cell {cpus_per_cell} CPU{f', {gpus:g} GPU' if gpus else ''}; {max_retries} retries)")
            _run_pending(ray, grid, pending, out, shapes, cpus_per_cell, gpus, max_retries, outcome, progress,
                         len(cells))
        finally:
            if started_here:
                ray.shutdown()
    outcome.wall_s = time.perf_counter() - t0
    for cell in pending:  # what ran is read back from its file: the table never holds a result that is not there
        done[cell] = _finished(grid, cell, out, shapes)
        if done[cell] is None and cell.label() not in outcome.failed:
            outcome.failed[cell.label()] = f"no finished result in {out} after the run"
    outcome.results = [(cell, done[cell]) for cell in cells if done[cell] is not None]
    return outcome


def _init_ray(ray, address: str | None, num_cpus: int | None) -> None:
    """Start Ray on this machine (``address`` None) or join the cluster at ``address``."""
    # workers Ray starts here inherit this environment; a cluster's get DEEPSIM_* through the runtime env
    env = {k: os.path.abspath(os.environ[k]) if k in PATH_ENV else os.environ[k]
           for k in FORWARDED_ENV if k in os.environ} if address else {}
    ray.init(address=address or "local", num_cpus=num_cpus if address is None else None,
             include_dashboard=False, log_to_driver=False, logging_level="warning",
             runtime_env={"env_vars": env} if env else None)


def _gpus_per_cell(cluster: dict, cpus_per_cell: int, gpus_per_cell: float | None, address: str | None) -> float:
    """The GPUs each cell asks for (``None``: 1 where the cluster has GPUs, else 0); a ValueError where Ray
    started here cannot give a cell what it asks for."""
    gpus = gpus_per_cell if gpus_per_cell is not None else (1 if cluster.get("GPU", 0) >= 1 else 0)
    short = [f"{need:g} {kind}" for kind, need in (("CPU", cpus_per_cell), ("GPU", gpus))
             if need > cluster.get(kind, 0)]
    if short and not address:  # a cluster may autoscale; here the cells would wait forever
        raise ValueError(f"each cell asks for {' and '.join(short)} but Ray here has "
                         f"{', '.join(f'{v:g} {k}' for k, v in cluster.items())}: lower "
                         "--cpus-per-cell / --gpus-per-cell or raise --num-cpus")
    return gpus


def _run_pending(ray, grid: Grid, pending: list[Cell], out: Path, shapes: dict, cpus: int, gpus: float,
                 max_retries: int, outcome: Outcome, progress: bool, total: int) -> None:
    from tqdm.auto import tqdm

    task = ray.remote(run_one)
    refs = {task.options(num_cpus=cpus, num_gpus=gpus, max_retries=max_retries, retry_exceptions=True,
                         name=f"deepsim-lite sweep: {cell.label()}").remote(cell, grid, str(out), cpus): cell
            for cell in pending}
    # the bar on a terminal; in a log, each cell's line says how far the sweep is ([done/total])
    with tqdm(total=total, initial=total - len(pending), unit="cell", desc="sweep", file=sys.stdout,
              disable=not (progress and sys.stdout.isatty())) as bar:
        say = _printer(progress) if bar.disable else bar.write
        count = total - len(pending)
        try:
            while refs:
                (ref,), _ = ray.wait(list(refs), num_returns=1)
                cell = refs.pop(ref)
                count += 1
                try:
                    record = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - any failure of a cell is reported, the others go on
                    outcome.failed[cell.label()] = _one_line(err, max_retries)
                    say(f"[{count}/{total}] FAILED {cell.label()}: {outcome.failed[cell.label()]}")
                else:
                    result = record["result"]
                    if _finished(grid, cell, out, shapes) is None:  # a worker that did not see the folder
                        write_json(_cell_file(grid, cell, out), result)
                    outcome.ran.append(cell.label())
                    s = result["summary"]
                    again = f", attempt {record['attempt']}" if record["attempt"] > 1 else ""
                    say(f"[{count}/{total}] {cell.label()}: PSNR {_num(s['psnr']['mean'], 2)} LPIPS "
                        f"{_num(s['lpips']['mean'], 3)} ({record['seconds']:.0f} s on {record['host']}{again})")
                bar.update(1)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise


def _one_line(err: Exception, retries: int) -> str:
    cause = getattr(err, "cause", None)
    err = cause if isinstance(cause, Exception) else err  # a RayTaskError wraps what the cell raised
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''} (after {retries} retries)"


def _num(value, digits: int) -> str:
    """A score for a progress line; None where JSON holds an infinite value (identical frames' PSNR)."""
    return "inf" if value is None else f"{value:.{digits}f}"


def _printer(progress: bool):
    return (lambda text: print(text, flush=True)) if progress else (lambda text: None)
