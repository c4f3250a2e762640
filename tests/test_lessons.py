import pytest

import deepsim_lite as ds
from deepsim_lite.config import PRESETS


def test_lesson_config_reads_the_mode(monkeypatch):
    monkeypatch.delenv("DEEPSIM_MODE", raising=False)
    lesson = ds.lesson_config()
    assert (lesson.mode, lesson.preset, lesson.config, lesson.work_side) == ("lesson", "lesson", PRESETS["lesson"], 192)
    monkeypatch.setenv("DEEPSIM_MODE", "laptop")
    assert (ds.lesson_config().preset, ds.lesson_config().work_side) == ("laptop", 256)
    monkeypatch.setenv("DEEPSIM_MODE", "full")
    full = ds.lesson_config(primitive_kind="edges")
    assert (full.preset, full.config.primitive_kind, full.config.ngf, full.work_side) == ("paper", "edges", 64, 512)
    monkeypatch.setenv("DEEPSIM_MODE", "fast")
    with pytest.raises(ValueError, match="DEEPSIM_MODE must be one of lesson, laptop, full, got 'fast'"):
        ds.lesson_config()
