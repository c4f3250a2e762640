"""What the lesson notebooks share: the run mode and its preset, and the models they load.

Every lesson opens with ``lesson = ds.lesson_config()``. ``DEEPSIM_MODE`` picks the scale:
``lesson`` (default; the small preset, about 45 s per model on a 2-core CPU, what CI runs), ``laptop``
(sharper: about 12 min per model on a 4-core laptop, 17 on 2 cores) or ``full`` (the paper's preset, a GPU job).

In lesson mode the models the lessons load ship with the package (:mod:`~deepsim_lite.method.shipped`: the lesson
network trained once for 4000 steps, preset ``lesson_long``), so every lesson opens warm on any machine; lesson 02
also trains one live, at the lesson preset. In the other modes they are trained once into the model cache.
:func:`lesson_models` lists them all, built exactly as the notebooks build them; :func:`prepare` (``deepsim-lite
lessons prepare``) checks the shipped ones and trains what is missing or stale ahead of a class, and with
``retrain=True`` rebuilds the shipped ones from their seeds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..method.config import TrainConfig

__all__ = ["MODES", "MODEL_PRESETS", "Lesson", "lesson_config", "LessonModel", "lesson_models", "distinct",
           "prepare", "hosted_setup"]

MODES = {"lesson": "lesson", "laptop": "laptop", "full": "paper"}  # DEEPSIM_MODE -> training preset
# DEEPSIM_MODE -> the preset of the models the lessons load: in lesson mode the long-trained ones that ship with the
# package (method.shipped); at the other scales the mode's own preset, trained into the model cache.
MODEL_PRESETS = {"lesson": "lesson_long", "laptop": "laptop", "full": "paper"}


@dataclass(frozen=True)
class Lesson:
    """The mode a lesson runs in and the training configuration that goes with it."""

    mode: str  # "lesson", "laptop" or "full"
    preset: str  # the TrainConfig preset of that mode, what a lesson trains live: "lesson", "laptop" or "paper"
    config: TrainConfig  # that preset with the lesson's overrides
    work_side: int  # longer side of the working images (the preset's max_side, else 512 at full scale)
    model_preset: str  # the preset of the models the lessons load (MODEL_PRESETS): "lesson_long", "laptop", "paper"

    def __str__(self) -> str:
        return (f"mode: {self.mode} | preset: {self.preset} | the lessons' models: {self.model_preset} | working size: "
                f"longer side {self.work_side} px")


def lesson_config(mode: str | None = None, **overrides) -> Lesson:
    """The lesson's mode (``mode``, else ``$DEEPSIM_MODE``, else ``"lesson"``) and its config.

    Args:
        mode: ``"lesson"``, ``"laptop"`` or ``"full"``; None reads ``DEEPSIM_MODE``.
        overrides: :class:`TrainConfig` fields, e.g. ``primitive_kind="edges"``.
    """
    mode = mode or os.environ.get("DEEPSIM_MODE", "lesson")
    if mode not in MODES:
        raise ValueError(f"DEEPSIM_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    config = TrainConfig.preset(MODES[mode], **overrides)
    return Lesson(mode, MODES[mode], config, config.max_side or 512, MODEL_PRESETS[mode])


@dataclass(frozen=True)
class LessonModel:
    """One model a lesson loads with :func:`~deepsim_lite.cached_model`, and how the lesson builds its pair."""

    name: str  # its file name in the shipped models (lesson mode), e.g. "cat-seg_edges-tps"
    lessons: str  # the notebooks that load it, e.g. "02 03 04"
    what: str  # what it is, in words
    pair: Callable  # () -> Pair, exactly as the notebooks build it
    primitive_kind: str  # "edges" or "seg_edges"
    augmentation: str  # "tps" or "crop_flip"
    live: bool = False  # trained by its lesson in front of the student (the lesson's preset), never shipped

    def preset(self, lesson: Lesson) -> str:
        """The preset it is trained with: the lesson's own when it trains live, else the lessons' model preset."""
        return lesson.preset if self.live else lesson.model_preset

    def config(self, lesson: Lesson) -> TrainConfig:
        return TrainConfig.preset(self.preset(lesson), primitive_kind=self.primitive_kind,
                                  augmentation=self.augmentation)

    def load(self, lesson: Lesson, progress: bool = False, pair=None, retrain: bool = False):
        """Load it (shipped, else from the model cache), training it first when it is missing, stale or unusable;
        ``pair``: its pair, if already built; ``retrain``: train it again into the cache."""
        from ..method.cache import cached_model

        return cached_model(pair or self.pair(), self.primitive_kind, self.augmentation, self.preset(lesson),
                            progress=progress, retrain=retrain)

    def cache_name(self, lesson: Lesson, pair=None) -> str:
        """The file name of its model cache entry (what :func:`~deepsim_lite.cached_model` names it)."""
        from ..method.cache import entry_name

        return entry_name(pair or self.pair(), self.config(lesson), self.preset(lesson))

    def status(self, lesson: Lesson, pair=None) -> str:
        """``"shipped"`` (found with the package), ``"cached"``, ``"stale, cached"``, ``"stale"`` (a shipped one of
        another recipe or pair, nothing in the cache yet), ``"not cached"``, or for a live model not yet trained
        ``"trained live"`` (its lesson trains it in front of the student)."""
        from ..method.cache import cache_dir
        from ..method.shipped import find

        pair = pair or self.pair()
        found, stale = find(pair, self.config(lesson), self.preset(lesson))
        if found is not None:
            return "shipped"
        if (cache_dir() / self.cache_name(lesson, pair)).is_file():
            return "stale, cached" if stale else "cached"
        if self.live:
            return "trained live"
        return "stale" if stale else "not cached"


def lesson_models(lesson: Lesson | None = None) -> list[LessonModel]:
    """Every model the lessons load, in the order the lessons first need them (one entry per model: lesson 05's
    frame 0 and lesson 06's are the same pair, so one model), and lesson 02's live one."""
    from ..analysis import knn, video
    from ..primitives.pairs import load_pair
    from ..primitives.samples import load_sample

    lesson = lesson or lesson_config()
    config = lesson.config

    def cat(kind: str) -> Callable:
        return lambda: load_sample("chelsea", kind, max_side=lesson.work_side, multiple=config.multiple)

    def carphone_frame0():
        edges = lesson_config(lesson.mode, primitive_kind="edges").config
        return load_pair(knn.shipped_pair_paths()[0], None, "edges", edges.multiple, edges.max_side,
                         name="carphone_000")

    def clip_frame0():
        n = 30 if lesson.mode == "full" else 10
        frames = video.load_frames(video.clip_path("carphone"), max_frames=n)
        return video.clip_pairs(frames, "edges", config, "carphone")[0]

    models = [
        LessonModel("cat-seg_edges-tps-live", "02", "the cat, super-primitive, TPS, at the lesson preset",
                    cat("seg_edges"), "seg_edges", "tps", live=True),
        LessonModel("cat-seg_edges-tps", "02 03 04 07", "the cat, super-primitive, TPS", cat("seg_edges"),
                    "seg_edges", "tps"),
        LessonModel("cat-seg_edges-crop_flip", "02", "the cat, super-primitive, crop+flip", cat("seg_edges"),
                    "seg_edges", "crop_flip"),
        LessonModel("cat-edges-tps", "04", "the cat, edges, TPS", cat("edges"), "edges", "tps"),
        # lesson 05 loads frame 0 from its file, lessons 06-07 from the clip: the same pair below full scale
        LessonModel("carphone-edges-tps", "05 06 07" if lesson.mode != "full" else "05",
                    "carphone frame 0, edges, TPS", carphone_frame0, "edges", "tps"),
        LessonModel("carphone-edges-crop_flip", "06", "carphone frame 0, edges, crop+flip", clip_frame0, "edges",
                    "crop_flip"),
    ]
    if lesson.mode == "full":
        models.append(LessonModel("carphone-clip-edges-tps", "06 07", "carphone clip frame 0, edges, TPS", clip_frame0,
                                  "edges", "tps"))
    return models


def distinct(models: list[LessonModel], lesson: Lesson) -> list[tuple[LessonModel, object]]:
    """(model, its pair) for each distinct model: outside lesson mode lesson 02's live model is the TPS model the
    other lessons load (one preset for both), and one entry stands for both; each pair is built once."""
    seen, out = set(), []
    for m in models:
        pair = m.pair()
        name = m.cache_name(lesson, pair)
        if name not in seen:
            seen.add(name)
            out.append((m, pair))
    return out


def prepare(mode: str | None = None, progress: bool = True, log: Callable[[str], None] = print,
            retrain: bool = False, out: str | os.PathLike | None = None) -> list[dict]:
    """Make every lesson model of ``mode`` ready, with one progress bar: shipped ones are checked, missing or stale
    ones trained into the model cache (lesson 02's live one too, so that a class starts warm).

    ``retrain``: rebuild them all from their seeds instead — in lesson mode the shipped ones, written with their
    training records into ``out`` (default: the shipped models' folder, :func:`~deepsim_lite.method.shipped.
    shipped_dir`) and scored on held-out warps with real LPIPS where its weights are found; in the other modes
    into the model cache. Same seed, same machine: the same weights.

    Returns one row per model: ``lessons``, ``what``, ``action`` ("shipped", "loaded", "trained" or "rebuilt"),
    ``seconds``, ``entry`` (its file name).
    """
    from tqdm.auto import tqdm

    lesson = lesson_config(mode)
    models = distinct(lesson_models(lesson), lesson)
    status = {m.name: ("rebuild" if retrain else m.status(lesson, pair)) for m, pair in models}
    todo = [m for m, _ in models if status[m.name] in ("rebuild", "not cached", "stale", "trained live")]
    seconds = {p: _seconds_per_model(lesson, p) for p in {m.preset(lesson) for m in todo}}
    log(f"{len(models)} lesson models ({lesson.mode} mode, preset {lesson.model_preset}; lesson 02's live one "
        f"{lesson.preset}): {len(models) - len(todo)} ready, {len(todo)} to train, about "
        f"{sum(seconds[m.preset(lesson)] for m in todo) / 60:.0f} min here")
    rows = []
    with tqdm(total=len(models), unit="model", disable=not progress) as bar:
        for m, pair in models:
            bar.set_postfix_str(m.what)
            t0 = time.perf_counter()
            action = {"shipped": "shipped", "rebuild": "rebuilt"}.get(status[m.name],
                                                                        "trained" if m in todo else "loaded")
            if retrain and lesson.mode == "lesson" and not m.live:
                _ship(m, lesson, pair, out, progress=False)
            else:
                m.load(lesson, pair=pair, retrain=retrain)
            rows.append({"lessons": m.lessons, "what": m.what, "action": action,
                         "seconds": round(time.perf_counter() - t0, 1), "entry": m.name})
            bar.update(1)
    return rows


def _ship(m: LessonModel, lesson: Lesson, pair, out, progress: bool) -> dict:
    """Train ``m`` from its seed with its recipe and write it as a shipped model, scored on 8 held-out warps of each
    of :func:`~deepsim_lite.analysis.heldout.warp_sets`' families: PSNR, SSIM and LPIPS (ImageNet weights where
    found, else a labelled random init)."""
    import numpy as np

    from ..analysis import heldout
    from ..analysis.metrics import LPIPS
    from ..method.shipped import ship

    lpips = LPIPS()

    def held_out(model) -> dict:
        scores = {t.name: {k: round(float(np.mean(v)), 4) for k, v in heldout.score(model, t, {"lpips": lpips}).items()}
                  for t in heldout.warp_sets(pair, n=8, seed=2024)}
        return {**scores, "lpips_label": lpips.label}

    return ship(pair, m.config(lesson), m.preset(lesson), m.name, out, what=m.what, held_out=held_out,
                progress=progress)


def _seconds_per_model(lesson: Lesson, preset: str) -> float:
    """Training time of one lesson model of ``preset``: from the shipped and cached models' own records when there are
    any, else the preset's steps at this project's 2-core CPU speed (10 steps/s at 128x192, 0.8 lesson)."""
    import torch

    from ..method.cache import cache_dir
    from ..method.shipped import records

    times = [float(r["wall_time_s"]) for r in records() if r["preset"] == preset and r.get("wall_time_s")]
    for path in cache_dir().glob(f"*-{preset}-*.pt"):
        try:
            info = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("info", {})  # no full read
        except Exception:  # noqa: BLE001 — an unreadable entry is retrained by prepare; it just gives no estimate
            continue
        if info.get("wall_time_s"):
            times.append(float(info["wall_time_s"]))
    if times:
        return sorted(times)[len(times) // 2]
    return TrainConfig.preset(preset).iterations / 10 * (lesson.work_side / 192) ** 2


def hosted_setup() -> list[str]:
    """What a lesson's first cell does on hosted notebooks; nothing elsewhere. Returns what it did, and prints it.

    * In Colab: turns on Colab's custom widget manager, which third-party widgets (the editor's canvas)
      need to render (``google.colab.output.enable_custom_widget_manager()``).
    * In Colab with a CUDA GPU and no ``DEEPSIM_MODE`` set: picks the GPU preset for the lessons (``full``);
      set ``DEEPSIM_MODE=lesson`` first to keep the quick CPU-sized one. Only on a hosted runtime: a
      workstation keeps the mode its model cache was prepared for.
    """
    import importlib.util
    import sys

    done = []
    colab = "google.colab" in sys.modules or bool(importlib.util.find_spec("google")
                                                   and importlib.util.find_spec("google.colab"))
    if colab:
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
        done.append("Colab: custom widget manager on (the editor's canvas needs it)")
    import torch

    if colab and "DEEPSIM_MODE" not in os.environ and torch.cuda.is_available():
        os.environ["DEEPSIM_MODE"] = "full"
        done.append(f"CUDA GPU ({torch.cuda.get_device_name(0)}): lessons use the paper preset (DEEPSIM_MODE=full; "
                    "set DEEPSIM_MODE=lesson before this cell for the quick one)")
    for line in done:
        print(line)
    return done


# Names 0.6's lessons module held, and where they live now; ds.lessons.<name> reads through for one release.
_MOVED_NAMES = {"check": "exercises", "student_notebook": "student", "build_student": "student", "BEGIN": "student",
                "END": "student", "INSTRUCTOR_TAG": "student"}


def __getattr__(name: str):
    if name in _MOVED_NAMES:
        import importlib
        import warnings

        where = f"deepsim_lite.teaching.{_MOVED_NAMES[name]}"
        warnings.warn(f"lessons.{name} moved to {where}.{name} in 0.7; the old name goes in 0.8", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module(where), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
