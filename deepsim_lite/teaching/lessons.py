"""What the lesson notebooks share: the run mode and its preset, and the models they train.

Every lesson opens with ``lesson = ds.lesson_config()``. ``DEEPSIM_MODE`` picks the scale:
``lesson`` (default; the small preset, about 45 s per model on a 2-core CPU, what CI runs), ``laptop``
(sharper: about 12 min per model on a 4-core laptop, 17 on 2 cores) or ``full`` (the paper's preset, a GPU job).

:func:`lesson_models` lists every model the lessons load from the model cache, built exactly as the
notebooks build them; :func:`prepare` (``deepsim-lite lessons prepare``) trains the missing ones ahead of a
class, so every lesson starts warm.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..method.config import TrainConfig

__all__ = ["MODES", "Lesson", "lesson_config", "LessonModel", "lesson_models", "prepare", "hosted_setup"]

MODES = {"lesson": "lesson", "laptop": "laptop", "full": "paper"}  # DEEPSIM_MODE -> training preset


@dataclass(frozen=True)
class Lesson:
    """The mode a lesson runs in and the training configuration that goes with it."""

    mode: str  # "lesson", "laptop" or "full"
    preset: str  # the TrainConfig preset of that mode: "lesson", "laptop" or "paper"
    config: TrainConfig  # that preset with the lesson's overrides
    work_side: int  # longer side of the working images (the preset's max_side, else 512 at full scale)

    def __str__(self) -> str:
        return f"mode: {self.mode} | preset: {self.preset} | working size: longer side {self.work_side} px"


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
    return Lesson(mode, MODES[mode], config, config.max_side or 512)


@dataclass(frozen=True)
class LessonModel:
    """One model a lesson loads with :func:`~deepsim_lite.cached_model`, and how the lesson builds its pair."""

    lessons: str  # the notebooks that load it, e.g. "02 03 04"
    what: str  # what it is, in words
    pair: Callable  # () -> Pair, exactly as the notebooks build it
    primitive_kind: str  # "edges" or "seg_edges"
    augmentation: str  # "tps" or "crop_flip"

    def load(self, lesson: Lesson, progress: bool = False, pair=None):
        """Load it from the model cache, training it first when it is missing (or unusable); ``pair``: its pair,
        if already built."""
        from ..method.cache import cached_model

        return cached_model(pair or self.pair(), self.primitive_kind, self.augmentation, lesson.preset,
                            progress=progress)

    def cache_name(self, lesson: Lesson, pair=None) -> str:
        """The file name of its model cache entry (what :func:`~deepsim_lite.cached_model` names it)."""
        from ..method.cache import entry_name

        config = TrainConfig.preset(lesson.preset, primitive_kind=self.primitive_kind, augmentation=self.augmentation)
        return entry_name(pair or self.pair(), config, lesson.preset)

    def is_cached(self, lesson: Lesson) -> bool:
        from ..method.cache import cache_dir

        return (cache_dir() / self.cache_name(lesson)).is_file()


def lesson_models(lesson: Lesson | None = None) -> list[LessonModel]:
    """Every model the lessons load, in the order the lessons first need them (one entry per cache entry:
    lesson 05's frame 0 and lesson 06's are the same model when their pairs are equal, and share one entry)."""
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

    return [
        LessonModel("02 03 04 07", "the cat, super-primitive, TPS", cat("seg_edges"), "seg_edges", "tps"),
        LessonModel("02", "the cat, super-primitive, crop+flip", cat("seg_edges"), "seg_edges", "crop_flip"),
        LessonModel("04", "the cat, edges, TPS", cat("edges"), "edges", "tps"),
        LessonModel("05", "carphone frame 0, edges, TPS", carphone_frame0, "edges", "tps"),
        LessonModel("06", "carphone clip frame 0, edges, crop+flip", clip_frame0, "edges", "crop_flip"),
        LessonModel("06 07", "carphone clip frame 0, edges, TPS", clip_frame0, "edges", "tps"),
    ]


def prepare(mode: str | None = None, progress: bool = True, log: Callable[[str], None] = print) -> list[dict]:
    """Train (or verify, by loading) every lesson model of ``mode`` into the model cache, with one progress bar.

    Returns one row per cache entry (two lessons needing the same model share one): ``lessons``, ``what``,
    ``action`` ("loaded" or "trained"), ``seconds``, ``entry`` (its file name).
    """
    from tqdm.auto import tqdm

    from ..method.cache import cache_dir

    lesson = lesson_config(mode)
    entries: dict[str, tuple[LessonModel, object]] = {}  # cache entry -> (first model needing it, its pair)
    for m in lesson_models(lesson):
        pair = m.pair()  # built once (lesson 06's runs optical flow over the clip)
        entries.setdefault(m.cache_name(lesson, pair), (m, pair))
    missing = {name for name in entries if not (cache_dir() / name).is_file()}
    per_model = _seconds_per_model(lesson)
    log(f"{len(entries)} lesson models ({lesson.mode} mode, preset {lesson.preset}): {len(entries) - len(missing)} "
        f"in the cache, {len(missing)} to train, about {len(missing) * per_model / 60:.0f} min here "
        f"({per_model:.0f} s each, estimated); cache: {cache_dir()}")
    rows = []
    with tqdm(total=len(entries), unit="model", disable=not progress) as bar:
        for name, (m, pair) in entries.items():
            bar.set_postfix_str(m.what)
            t0 = time.perf_counter()
            m.load(lesson, pair=pair)
            rows.append({"lessons": m.lessons, "what": m.what, "action": "trained" if name in missing else "loaded",
                         "seconds": round(time.perf_counter() - t0, 1), "entry": name})
            bar.update(1)
    return rows


def _seconds_per_model(lesson: Lesson) -> float:
    """Training time of one lesson model here: from the cached models' own records when there are any (same
    preset), else the preset's steps at this project's 2-core CPU speed (6.7 steps/s at 128x192, 0.4 lesson)."""
    import torch

    from ..method.cache import cache_dir

    times = []
    for path in cache_dir().glob(f"*-{lesson.preset}-*.pt"):
        try:
            info = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("info", {})  # no full read
        except Exception:  # noqa: BLE001 — an unreadable entry is retrained by prepare; it just gives no estimate
            continue
        if info.get("wall_time_s"):
            times.append(float(info["wall_time_s"]))
    if times:
        return sorted(times)[len(times) // 2]
    return lesson.config.iterations / 6.7 * (lesson.work_side / 192) ** 2


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
