import pytest

import deepsim_lite as ds
from deepsim_lite.method.config import PRESETS


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


def test_lesson_models_cover_every_lesson_and_build_their_pairs(monkeypatch):
    monkeypatch.delenv("DEEPSIM_MODE", raising=False)
    models = ds.lessons.lesson_models()
    assert {n for m in models for n in m.lessons.split()} == {"02", "03", "04", "05", "06", "07"}  # 01 trains none
    cat = models[0].pair()
    assert cat.size == (128, 192) and cat.primitive.kind == "seg_edges"  # what lessons 02-04 load
    assert models[3].pair().size == (144, 176) and models[3].primitive_kind == "edges"  # carphone at its own size


def test_prepare_trains_what_is_missing_then_only_loads(small_pair, tmp_path, monkeypatch, capsys):
    from dataclasses import replace

    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path))
    monkeypatch.setitem(PRESETS, "lesson", replace(PRESETS["lesson"], iterations=2))
    tiny = [ds.lessons.LessonModel("02", "tiny tps", lambda: small_pair, "seg_edges", "tps"),
            ds.lessons.LessonModel("02", "tiny crop+flip", lambda: small_pair, "seg_edges", "crop_flip"),
            ds.lessons.LessonModel("05", "the same tps model again", lambda: small_pair, "seg_edges", "tps")]
    monkeypatch.setattr(ds.lessons, "lesson_models", lambda lesson=None: tiny)
    first = ds.lessons.prepare("lesson", progress=False)
    assert [r["action"] for r in first] == ["trained", "trained"] and len(list(tmp_path.glob("*.pt"))) == 2
    assert "2 to train" in capsys.readouterr().out
    again = ds.lessons.prepare("lesson", progress=False)
    assert [r["action"] for r in again] == ["loaded", "loaded"] and len(list(tmp_path.glob("*.pt"))) == 2
    assert "0 to train" in capsys.readouterr().out


def test_hosted_setup_turns_on_colabs_widget_manager_and_the_gpu_preset_only_where_they_exist(monkeypatch, capsys):
    import sys
    import types

    import torch

    monkeypatch.delenv("DEEPSIM_MODE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ds.lessons.hosted_setup() == [] and capsys.readouterr().out == ""  # a laptop: nothing happens
    assert ds.lesson_config().mode == "lesson"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ds.lessons.hosted_setup() == [] and ds.lesson_config().mode == "lesson"  # a GPU workstation keeps its mode

    calls = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("on"))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Tesla T4")
    done = ds.lessons.hosted_setup()
    assert calls == ["on"] and len(done) == 2 and "Tesla T4" in capsys.readouterr().out
    assert ds.lesson_config().mode == "full"  # the GPU preset

    monkeypatch.setenv("DEEPSIM_MODE", "lesson")  # a choice made before the cell is kept
    assert len(ds.lessons.hosted_setup()) == 1 and ds.lesson_config().mode == "lesson"
