"""Sweeps: a grid of video-benchmark cells run as Ray tasks, on this machine or on a cluster.

A :class:`Grid` is clips × primitive kinds × methods × seeds × values of any
:class:`~deepsim_lite.config.TrainConfig` field (``omega.L``, ``crop.min_scale`` for the fields of Ω and of
crop+flip). Each :class:`Cell` is one :func:`deepsim_lite.video.run_cell`: train on frame 0 of a clip, render
and score every other frame. Each cell writes its own JSON atomically in the output folder
(:func:`deepsim_lite.video.cell_path`), so a re-run skips every finished cell and runs only the rest.

Cells run as Ray tasks (https://docs.ray.io): each declares what it needs (``num_gpus=1`` where the cluster
has GPUs, ``num_cpus`` = its torch threads) and Ray runs as many at once as the machine or cluster holds.
A cell whose worker dies (killed, out of memory) or that raises is retried ``max_retries`` times, then
reported; the other cells go on. Without an address Ray starts on this machine with its cores; with
``address="auto"`` or ``"ray://host:10001"`` the same grid runs on an existing cluster (docs/cluster.md).

    >>> grid = Grid(clips=("carphone",), primitives=("seg_edges",), methods=("crop_flip", "tps"), seeds=(0, 1, 2))
    >>> outcome = run(grid, "outputs/sweep")
    >>> print(markdown_tables(summarise(outcome.results, grid)))   # mean ± std over seeds; TPS − crop+flip

Ray is optional: ``pip install "deepsim-lite[sweep]"``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import video
from ._io import write_json, write_text
from .augment import MODES as AUGMENTATIONS
from .config import PRESETS, TrainConfig
from .data import fit_size
from .extract import SEGMENTATIONS
from .heldout import paired_difference
from .primitives import KINDS

__all__ = ["Grid", "Cell", "Outcome", "RayMissing", "read_grid", "parse_value", "run", "summarise", "markdown_tables",
           "write_report", "require_ray", "run_one", "flat_fields", "METHODS", "METRICS"]

METHODS = (*AUGMENTATIONS, video.PATCHNN)  # a generator trained with an augmentation, or the patch baseline
METRICS = {"psnr": True, "ssim": True, "lpips": False, "sifid": False}  # name -> higher is better
AXES = ("clips", "primitives", "methods", "seeds")  # the grid's own axes; every other factor is a config field
DATA_FIELDS = ("max_side", "n_downsample", "n_segments")  # fields that change a clip's frames or labels
INSTALL = 'pip install "deepsim-lite[sweep]"'
FORWARDED_ENV = ("DEEPSIM_OFFLINE", "DEEPSIM_CACHE", "DEEPSIM_MODE", "TORCH_HOME")  # to workers on a cluster
PATH_ENV = ("DEEPSIM_CACHE", "TORCH_HOME")  # made absolute before they travel


class RayMissing(ImportError):
    """Ray is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Cell:
    """One run of the video benchmark: a clip, a primitive kind, a method, a seed and config field values."""

    clip: str  # a shipped clip's name, a folder of frames or a video file
    primitive: str  # "edges" | "seg" | "seg_edges"
    method: str  # an augmentation ("tps", "crop_flip", "none") or "patchnn"
    seed: int | None  # the training seed; None for patchnn, which trains nothing
    fields: tuple[tuple[str, object], ...] = ()  # (("omega.L", 5.0), ("iterations", 250))

    @property
    def name(self) -> str:
        """The clip's name in file names and tables (a path's stem)."""
        return video.clip_name(self.clip)

    def overrides(self) -> dict:
        """The cell's :class:`TrainConfig` overrides: ``{"seed": 1, "omega": {"L": 5.0}}``."""
        out: dict = {} if self.seed is None else {"seed": self.seed}
        for key, value in self.fields:
            outer, _, inner = key.partition(".")
            if inner:
                out.setdefault(outer, {})[inner] = value
            else:
                out[key] = value
        return out

    def label(self) -> str:
        """``carphone seg_edges tps seed 1 omega.L=5.0``"""
        seed = "" if self.seed is None else f" seed {self.seed}"
        return f"{self.name} {self.primitive} {self.method}{seed}" + "".join(f" {k}={v}" for k, v in self.fields)


@dataclass(frozen=True)
class Grid:
    """What a sweep runs: every combination of the axes and field values (lists are taken as tuples)."""

    clips: tuple[str, ...] = tuple(video.CLIPS)  # shipped names, folders of frames or video files
    primitives: tuple[str, ...] = ("seg", "edges", "seg_edges")
    methods: tuple[str, ...] = ("crop_flip", "tps")  # augmentations of a trained generator, or "patchnn"
    seeds: tuple[int, ...] = (0,)  # training seeds; patchnn (deterministic, no training) runs once
    fields: tuple[tuple[str, tuple], ...] = ()  # TrainConfig fields and their values: (("omega.L", (5.0, 10.0)),)
    preset: str = "lesson"  # the TrainConfig preset every cell starts from
    frames: int = 30  # frames read per clip: frame 0 trains, the others are scored
    segmentation: str = "flow"  # how test frames get labels: "flow" (carried from frame 0) or "kmeans"

    def __post_init__(self) -> None:
        for name in AXES:
            object.__setattr__(self, name, _axis(name, getattr(self, name), int if name == "seeds" else str))
        object.__setattr__(self, "fields", flat_fields(self.fields))
        for kind in self.primitives:
            _check_choice("primitive", kind, KINDS)
        for method in self.methods:
            _check_choice("method", method, METHODS)
        for seed in self.seeds:
            if seed < 0:
                raise ValueError(f"seeds must be integers >= 0, got {seed}")
        for name, choices in (("preset", PRESETS), ("segmentation", SEGMENTATIONS)):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be one name, got {getattr(self, name)!r}")
            _check_choice(name, getattr(self, name), choices)
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 2:
            raise ValueError(f"frames must be an integer >= 2 (a training frame and a test frame), got {self.frames!r}")
        names = {}
        for clip in self.clips:  # cells are named by the clip's name: two clips of one name would share files
            other = names.setdefault(Cell(clip, "", "", None).name, clip)
            if other != clip:
                raise ValueError(f"clips {other} and {clip} have the same name {Path(clip).stem!r}, which names their "
                                 "result files; rename or link one of them")
        for key, values in self.fields:
            if key.split(".")[0] in ("seed", "primitive_kind", "augmentation"):
                raise ValueError(f"{key} is an axis of the grid, not a field: use seeds / primitives / methods")
            if len(set(values)) != len(values):  # 5 and 5.0 are one value
                raise ValueError(f"field {key} needs distinct values, got {list(values)}")
            if video.PATCHNN in self.methods and key.split(".")[0] in DATA_FIELDS:
                raise ValueError(f"{key} changes the frames or their labels, but patchnn renders at the preset's: "
                                 f"sweep {key} without patchnn")
        if self.fields and all(m == video.PATCHNN for m in self.methods):
            raise ValueError("fields change the training, and patchnn trains nothing: add a trained method "
                             "(tps, crop_flip, none) or drop the fields")
        for cell in self.cells():  # every combination must make a valid configuration before anything runs
            try:
                if cell.method != video.PATCHNN:
                    TrainConfig.preset(self.preset, primitive_kind=cell.primitive, augmentation=cell.method,
                                       **cell.overrides())
            except (ValueError, TypeError) as err:
                raise ValueError(f"cell {cell.label()}: {err}") from None

    def cells(self) -> list[Cell]:
        """Every cell, clip-major; patchnn cells once (no seed, no training fields)."""
        keys = [k for k, _ in self.fields]
        combos = list(itertools.product(*(v for _, v in self.fields)))
        out = []
        for clip, kind, method in itertools.product(self.clips, self.primitives, self.methods):
            if method == video.PATCHNN:
                out.append(Cell(clip, kind, method, None))
                continue
            for values in combos:
                out += [Cell(clip, kind, method, seed, tuple(zip(keys, values, strict=True))) for seed in self.seeds]
        return out

    def command(self) -> str:
        """The ``deepsim-lite sweep`` command line that runs this grid."""
        parts = ["deepsim-lite sweep"] + [f"--{name} {' '.join(map(str, getattr(self, name)))}" for name in AXES]
        parts += [f"--set {k}={','.join(map(str, v))}" for k, v in self.fields]
        parts += [f"--preset {self.preset}", f"--frames {self.frames}", f"--segmentation {self.segmentation}"]
        return " ".join(parts)

    def to_dict(self) -> dict:
        return {**{name: list(getattr(self, name)) for name in AXES}, "fields": {k: list(v) for k, v in self.fields},
                "preset": self.preset, "frames": self.frames, "segmentation": self.segmentation}


def _axis(name: str, values, kind: type) -> tuple:
    """One axis of the grid as a tuple of distinct values of ``kind`` (a single value is a list of one)."""
    if isinstance(values, (str, int)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple)):
        what = "integers" if kind is int else "names"
        raise ValueError(f"the grid's {name} must be a list of {what}, got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, kind):
            hint = "" if kind is int else " (quote it in a grid file)"
            raise ValueError(f"the grid's {name} must be {'integers' if kind is int else 'names'}, got {v!r}{hint}")
    if not values:
        raise ValueError(f"the grid's {name} list is empty; give at least one value")
    if len(set(values)) != len(values):
        raise ValueError(f"the grid's {name} list repeats a value: {list(values)}")
    return tuple(values)


def flat_fields(fields) -> tuple[tuple[str, tuple], ...]:
    """``{"omega": {"L": [5, 10]}, "lr": 1e-3}`` (as YAML and TOML read nested keys) as
    ``(("omega.L", (5, 10)), ("lr", (0.001,)))``; values must be numbers, booleans, names or None."""
    if fields is None:  # an empty "fields:" in YAML
        return ()
    if isinstance(fields, dict):
        fields = list(fields.items())
    if not isinstance(fields, (list, tuple)):
        raise ValueError(f"the grid's fields must map a config field to its values, got {fields!r}")
    flat = []
    for item in fields:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"the grid's fields must map a config field to its values, got {item!r}")
        key, values = item
        if isinstance(values, dict):  # omega: {L: [5, 10]}
            flat += flat_fields({f"{key}.{k}": v for k, v in values.items()})
            continue
        values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        if not values:
            raise ValueError(f"field {key} has no values")
        values = tuple(parse_value(v) if isinstance(v, str) else v for v in values)  # YAML reads 1e-3 as text
        for v in values:
            if not (v is None or isinstance(v, (bool, int, float, str))):
                raise ValueError(f"field {key}: a value must be a number, true/false, a name or none, got {v!r}")
        flat.append((key, values))
    keys = [k for k, _ in flat]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the grid names a field twice: {sorted({k for k in keys if keys.count(k) > 1})}")
    return tuple(flat)


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")


def parse_value(text: str):
    """A command-line value as the type it reads as: ``3`` int, ``1e-3`` float, ``true``/``false``, ``none``."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_grid(path: str | os.PathLike) -> dict:
    """A grid file (YAML ``.yaml``/``.yml`` or TOML ``.toml``) as :class:`Grid` keyword arguments::

        clips: [carphone, bikes]
        primitives: [seg, edges, seg_edges]
        methods: [crop_flip, tps, patchnn]
        seeds: [0, 1, 2]
        preset: lesson
        fields: {iterations: [250, 500], omega.L: [5.0, 10.0]}
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"grid file {p} does not exist")
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ValueError(f"grid file {p} must end in .yaml, .yml or .toml")
    text = p.read_text()
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            try:
                import tomli as tomllib
            except ModuleNotFoundError:
                raise ImportError("TOML grid files need Python 3.11 or tomli (pip install tomli); "
                                  "or write the grid in YAML") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"grid file {p} is not valid TOML: {str(err).splitlines()[0]}") from None
    else:
        try:
            import yaml
        except ModuleNotFoundError:
            raise ImportError(f'reading {p.name} needs PyYAML: {INSTALL} (or pip install pyyaml)') from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"grid file {p} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"grid file {p} must hold a mapping of keys (clips, primitives, methods, seeds, fields, ...)")
    known = {f.name for f in dataclasses.fields(Grid)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"grid file {p}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if data.get("fields") is not None and not isinstance(data["fields"], dict):
        raise ValueError(f"grid file {p}: fields must be a mapping of a config field to its values")
    return data


# --- running ---------------------------------------------------------------------------------------------------


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
            # workers Ray starts here inherit this environment; a cluster's get DEEPSIM_* through the runtime env
            env = {k: os.path.abspath(os.environ[k]) if k in PATH_ENV else os.environ[k]
                   for k in FORWARDED_ENV if k in os.environ} if address else {}
            ray.init(address=address or "local", num_cpus=num_cpus if address is None else None,
                     include_dashboard=False, log_to_driver=False, logging_level="warning",
                     runtime_env={"env_vars": env} if env else None)
        try:
            outcome.cluster = {k: float(v) for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
            gpus = gpus_per_cell if gpus_per_cell is not None else (1 if outcome.cluster.get("GPU", 0) >= 1 else 0)
            short = [f"{need:g} {kind}" for kind, need in (("CPU", cpus_per_cell), ("GPU", gpus))
                     if need > outcome.cluster.get(kind, 0)]
            if short and not address:  # a cluster may autoscale; here the cells would wait forever
                raise ValueError(f"each cell asks for {' and '.join(short)} but Ray here has "
                                 f"{', '.join(f'{v:g} {k}' for k, v in outcome.cluster.items())}: lower "
                                 "--cpus-per-cell / --gpus-per-cell or raise --num-cpus")
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


# --- the table --------------------------------------------------------------------------------------------------


def _group_key(cell: Cell) -> tuple:
    """The cell's factors other than the seed: ``(("clip", ..), ("primitive", ..), ("method", ..), *fields)``."""
    return (("clip", cell.name), ("primitive", cell.primitive), ("method", cell.method), *cell.fields)


def summarise(results: list[tuple[Cell, dict]], grid: Grid, confidence: float = 0.95) -> dict:
    """Mean ± std over seeds per group of the other factors, and a paired comparison per factor.

    ``rows``: one per (clip, primitive, method, field values): each metric's mean over the test frames of
    every seed's run, then their mean and standard deviation (n − 1) over seeds.
    ``comparisons``: for each factor with several values (method, primitive, each field), every value against
    the grid's first (e.g. tps − crop_flip), per group of the other factors and pooled over all of them:
    :func:`deepsim_lite.heldout.paired_difference` on (seeds, frames) scores — Welch's interval over the
    seeds' means. A deterministic method (patchnn) has one run; it stands for every seed.
    """
    groups: dict[tuple, dict[int | None, dict]] = {}
    for cell, result in results:
        groups.setdefault(_group_key(cell), {})[cell.seed] = result
    rows = []
    for key, runs in groups.items():
        first = next(iter(runs.values()))
        means = {m: np.array([r["summary"][m]["mean"] for r in runs.values()], dtype=float) for m in METRICS}
        rows.append({**dict(key), "seeds": [s for s in runs if s is not None], "runs": len(runs),
                     "perceptual_loss": first.get("perceptual_loss"), "labels": first["labels"],
                     "segmentation": first.get("segmentation"),
                     "ms_per_frame": float(np.mean([r.get("ms_per_frame") or np.nan for r in runs.values()])),
                     **{m: {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None}
                        for m, v in means.items()}})
    factors = [("method", list(grid.methods)), ("primitive", list(grid.primitives))] + [
        (k, list(v)) for k, v in grid.fields]
    comparisons = []
    for factor, values in factors:
        for value in values[1:]:
            comparisons += _compare(groups, factor, value, values[0], grid.seeds, confidence)
    return {"grid": grid.to_dict(), "confidence": confidence, "rows": rows, "comparisons": comparisons}


def _scores(runs: dict, seeds: tuple[int, ...], metric: str) -> np.ndarray | None:
    """``(seeds, frames)``: the run of each seed; a seedless run repeated for every seed; None if any is missing."""
    if None in runs:
        per = [runs[None]] * len(seeds)
    elif all(s in runs for s in seeds):
        per = [runs[s] for s in seeds]
    else:
        return None
    return np.array([[row[metric] for row in r["per_frame"]] for r in per], dtype=float)  # null (inf PSNR): nan


def _compare(groups, factor: str, a_value, b_value, seeds, confidence) -> list[dict]:
    """A − B for one factor's two values, per group of the other factors and pooled."""
    sides: dict = {a_value: {}, b_value: {}}
    for key, runs in groups.items():
        level = dict(key).get(factor)
        if level in sides:
            sides[level][tuple((k, v) for k, v in key if k != factor)] = runs
    everywhere = list(dict.fromkeys([*sides[a_value], *sides[b_value]]))

    def runs_for(side: dict, rest: tuple) -> dict | None:
        # a patchnn group (clip and primitive only: it has no training fields) pairs with every field value
        return side.get(rest, side.get(rest[:2]) if factor == "method" else None)

    out, pooled, fixed = [], {m: ([], []) for m in METRICS}, []
    for rest in everywhere:
        if factor == "method" and len(rest) == 2 and any(len(k) > 2 and k[:2] == rest for k in everywhere):
            continue  # a patchnn group: compared under each field value of the other method
        pair = {a_value: runs_for(sides[a_value], rest), b_value: runs_for(sides[b_value], rest)}
        if pair[a_value] is None or pair[b_value] is None:
            continue
        scores = {m: (_scores(pair[a_value], seeds, m), _scores(pair[b_value], seeds, m)) for m in METRICS}
        if any(a is None or b is None for a, b in scores.values()):
            continue  # a failed or missing seed: no paired comparison for this group
        both_fixed = None in pair[a_value] and None in pair[b_value]  # two deterministic runs: compare over frames
        fixed.append(both_fixed)
        row = {"factor": factor, "a": a_value, "b": b_value, "where": dict(rest)}
        for m, (a, b) in scores.items():
            row[m] = paired_difference(a[:1] if both_fixed else a, b[:1] if both_fixed else b,
                                       higher_is_better=METRICS[m], confidence=confidence)
            pooled[m][0].append(a)
            pooled[m][1].append(b)
        out.append(row)
    if len(out) > 1:
        row = {"factor": factor, "a": a_value, "b": b_value, "where": "all"}
        keep = slice(0, 1) if all(fixed) else slice(None)  # nothing but deterministic runs: over frames
        for m, (a, b) in pooled.items():
            row[m] = paired_difference(np.concatenate(a, axis=1)[keep], np.concatenate(b, axis=1)[keep],
                                       higher_is_better=METRICS[m], confidence=confidence)
        out.append(row)
    return out


def markdown_tables(summary: dict) -> str:
    """The summary as two Markdown tables (per group: mean ± std over seeds; per factor: A − B) with labels."""
    rows, grid = summary["rows"], summary["grid"]
    if not rows:
        return "(no finished cells)"
    fields = list(grid["fields"])
    labels = {m: sorted({r["labels"][m] for r in rows}) for m in ("lpips", "sifid")}

    def weights(m: str) -> str:
        return "; ".join(v.split("[", 1)[1].rstrip("]") if "[" in v else v for v in labels[m])

    heads = {"psnr": "PSNR ↑", "ssim": "SSIM ↑", "lpips": f"LPIPS ↓ [{weights('lpips')}]",
             "sifid": f"SIFID ↓ [{weights('sifid')}]"}
    digits = {"psnr": 2, "ssim": 3, "lpips": 3, "sifid": 3}
    head = ["clip", "primitive", "method", *fields, "runs (seeds)", *heads.values(), "ms/frame"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        runs = f"{r['runs']} ({', '.join(map(str, r['seeds']))})" if r["seeds"] else "1 (deterministic)"
        cells = [r["clip"], r["primitive"] if r["primitive"] == "edges" else f"{r['primitive']} ({r['segmentation']})",
                 r["method"], *(str(r.get(f, "—")) for f in fields), runs]
        for m in METRICS:
            d = digits[m]
            std = r[m]["std"]
            cells.append(f"{r[m]['mean']:.{d}f}" + (f" ± {std:.{d}f}" if std is not None else ""))
        cells.append(f"{r['ms_per_frame']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    losses = sorted({str(r["perceptual_loss"]) for r in rows})
    note = (f"\n\nPreset {grid['preset']}; reconstruction loss: {', '.join(losses)}. Each run trains on frame 0 and "
            f"is scored on frames 1–{grid['frames'] - 1} (its mean over frames); the table gives the mean ± std "
            "(n − 1) of those means over the training seeds. ms/frame: median time to render one frame, on the "
            "machine and with the cells that shared it during the sweep.")
    if any("random-init" in v for vs in labels.values() for v in vs):
        note += (" LPIPS and SIFID ran on seeded random-init backbones (no ImageNet weights on this machine): "
                 "deterministic feature distances, not the paper's metrics.")
    comps = summary["comparisons"]
    if comps:
        level = f"{100 * summary['confidence']:g}"
        chead = ["A − B", "where", *(f"Δ{heads[m]}" for m in METRICS)]
        lines2 = ["| " + " | ".join(chead) + " |", "|" + "---|" * len(chead)]
        for c in comps:
            where = "all (pooled)" if c["where"] == "all" else ", ".join(
                str(v) if k in ("clip", "primitive", "method") else f"{k}={v}" for k, v in c["where"].items())
            vals = []
            for m in METRICS:
                d = c[m]
                p = digits[m] + (1 if m != "psnr" else 0)
                vals.append(f"{d['mean']:+.{p}f} [{d['ci_low']:+.{p}f}, {d['ci_high']:+.{p}f}] "
                            f"({100 * d['a_better_fraction']:.0f}%)")
            lines2.append(f"| {c['a']} − {c['b']} | {where} | " + " | ".join(vals) + " |")
        over = sorted({c[m]["interval_over"] for c in comps for m in METRICS})
        note2 = (f"\n\nA − B: the difference of means, [{level}% t interval over {' / '.join(over)}], (the share of "
                 "frames where A is better). Over seeds: Welch's interval over each seed's mean; a deterministic "
                 "method's one run stands for every seed. Over items: a paired interval over the frames, where "
                 "nothing else varies (one seed, or two deterministic runs such as patchnn − patchnn). Pooled: every "
                 "group's frames together.")
        return "\n".join(lines) + note + "\n\n" + "\n".join(lines2) + note2
    return "\n".join(lines) + note


def write_report(out_dir: str | os.PathLike, grid: Grid, outcome: Outcome, command: str = "",
                 device: str = "") -> tuple[Path, Path]:
    """``sweep.json`` (the grid, the summary, and one record per invocation of this grid in ``out_dir``: what
    ran, what was skipped or failed, wall time) and ``sweep.md`` (the tables) in ``out_dir``.

    A sweep resumed over several invocations (a SLURM job resubmitted after its time limit) keeps every
    invocation's record in ``history``; a different grid starts a new history.
    """
    out = Path(out_dir)
    summary = summarise(outcome.results, grid)
    table = markdown_tables(summary)
    if outcome.failed:
        table += "\n\nFailed cells (re-run the same command to retry them): " + "; ".join(
            f"{k}: {v}" for k, v in outcome.failed.items())
    history = []
    try:
        old = json.loads((out / "sweep.json").read_text())
        if old.get("grid") == json.loads(json.dumps(grid.to_dict())):
            history = list(old.get("history", []))
    except (OSError, ValueError, AttributeError):
        pass  # none yet, or unreadable: start again
    history.append({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": command, "device": device,
                    "wall_s": outcome.wall_s, "cluster": outcome.cluster, "ran": outcome.ran,
                    "skipped": len(outcome.skipped), "failed": outcome.failed})
    write_json(out / "sweep.json", {**summary, "history": history})
    write_text(out / "sweep.md", table + "\n")
    return out / "sweep.json", out / "sweep.md"
