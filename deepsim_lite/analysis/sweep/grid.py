"""A sweep's grid: a :class:`Cell` (one benchmark run), the :class:`Grid` of cells with the checks of its axes
and config fields, and what reads a grid from a command line (:func:`parse_value`) or a file (:func:`read_grid`)."""

from __future__ import annotations

import dataclasses
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from ...method.augment import MODES as AUGMENTATIONS
from ...method.config import PRESETS, TrainConfig
from ...primitives.extract import SEGMENTATIONS
from ...primitives.primitive import KINDS
from .. import video

METHODS = (*AUGMENTATIONS, video.PATCHNN)  # a generator trained with an augmentation, or the patch baseline
AXES = ("clips", "primitives", "methods", "seeds")  # the grid's own axes; every other factor is a config field
DATA_FIELDS = ("max_side", "n_downsample", "n_segments")  # fields that change a clip's frames or labels
INSTALL = 'pip install "deepsim-lite[sweep]"'  # what the extra needs; read_grid (PyYAML) and require_ray (Ray)


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
    """A grid file (YAML ``.yaml``/``.yml`` or TOML ``.toml``) as :class:`Grid` keyword arguments.

    A YAML grid, for example::

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
