"""What the lesson notebooks share: the run mode and its preset.

Every lesson opens with ``lesson = ds.lesson_config()``. ``DEEPSIM_MODE`` picks the scale:
``lesson`` (default; the small preset, about 90 s per model on a 2-core CPU, what CI runs), ``laptop``
(sharper: about 12 min per model on a 4-core laptop, 17 on 2 cores) or ``full`` (the paper's preset, a GPU job).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .config import TrainConfig

__all__ = ["MODES", "Lesson", "lesson_config"]

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
