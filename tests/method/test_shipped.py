"""Shipped models: written with their record, found for exactly their pair and recipe, stale otherwise (and said
so), reproducible from their seed, loaded before the cache; and the lessons' shipped models themselves."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import TINY
from PIL import Image

import deepsim_lite as ds
from deepsim_lite.analysis import heldout
from deepsim_lite.method import shipped
from deepsim_lite.method.cache import cached_model
from deepsim_lite.method.model import load_model, read_checkpoint

RECIPE = replace(TINY, iterations=4, preview_every=2)


def shipped_one_preview(pair):
    """One training preview of a model of ``pair``, as the trainer draws it."""
    from deepsim_lite.method.train import Trainer

    return Trainer([pair], replace(RECIPE, iterations=1)).preview_image()


def _same_weights(a, b) -> bool:
    sa, sb = a.generator.state_dict(), b.generator.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def shipped_one(small_pair, tmp_path):
    folder = tmp_path / "models"
    def psnr_on_two_warps(model):
        return {t.name: round(float(torch.tensor(heldout.score(model, t)["psnr"]).mean()), 4)
                for t in heldout.warp_sets(small_pair, n=2, seed=1)}

    record = shipped.ship(small_pair, RECIPE, "lesson", "tiny", folder, what="a tiny cat",
                          held_out=psnr_on_two_warps, progress=False)
    return folder, record


def test_ship_writes_the_model_its_record_and_previews(shipped_one, small_pair):
    folder, record = shipped_one
    assert sorted(p.name for p in folder.iterdir()) == ["tiny-previews.png", "tiny.json", "tiny.pt"]
    on_disk = json.loads((folder / "tiny.json").read_text())
    assert on_disk == record and record["steps"] == 4 and record["pair"] == shipped.pair_digest(small_pair)
    assert record["recipe"]["iterations"] == 4 and "preview_every" not in record["recipe"]
    model = load_model(folder / "tiny.pt")
    assert record["held_out"] == {t.name: round(float(torch.tensor(heldout.score(model, t)["psnr"]).mean()), 4)
                                  for t in heldout.warp_sets(small_pair, n=2, seed=1)}  # the model as shipped
    state = read_checkpoint(folder / "tiny.pt")  # weights_only=True inside
    assert state["info"]["shipped"] == record and "previews" not in state["info"]  # they are in the PNG
    strip = np.asarray(Image.open(folder / "tiny-previews.png"))
    preview = shipped_one_preview(small_pair)
    assert strip.shape == (2 * preview.shape[0], *preview.shape[1:])  # preview_every 2 of 4 steps: two, stacked


def test_find_matches_pair_and_recipe_exactly(shipped_one, small_pair):
    folder, _ = shipped_one
    assert shipped.find(small_pair, RECIPE, "lesson", folder) == (folder / "tiny.pt", None)
    assert shipped.find(small_pair, replace(RECIPE, log_every=1), "lesson", folder)[0] == folder / "tiny.pt"
    path, why = shipped.find(small_pair, replace(RECIPE, iterations=5), "lesson", folder)
    assert path is None and why == ("the shipped model tiny was trained with another recipe "
                                    "(iterations: 4 shipped, 5 asked for)")
    other = ds.load_sample("chelsea", "seg_edges", max_side=44, multiple=4)  # same name, another picture
    path, why = shipped.find(other, RECIPE, "lesson", folder)
    assert path is None and "trained on another 'chelsea' pair" in why
    assert shipped.find(small_pair, RECIPE, "laptop", folder) == (None, None)  # another preset: not this one's
    assert shipped.find(small_pair, replace(RECIPE, augmentation="crop_flip"), "lesson", folder) == (None, None)
    (folder / "tiny.json").write_text("{ not json")
    assert shipped.find(small_pair, RECIPE, "lesson", folder) == (None, None)  # an unreadable record: not found


def test_same_seed_same_weights(shipped_one, small_pair, tmp_path):
    folder, _ = shipped_one
    shipped.ship(small_pair, RECIPE, "lesson", "tiny", tmp_path / "again", progress=False)
    assert _same_weights(load_model(folder / "tiny.pt"), load_model(tmp_path / "again" / "tiny.pt"))
    shipped.ship(small_pair, replace(RECIPE, seed=1), "lesson", "tiny", tmp_path / "seed1", progress=False)
    assert not _same_weights(load_model(folder / "tiny.pt"), load_model(tmp_path / "seed1" / "tiny.pt"))


def test_cached_model_loads_the_shipped_one_first_and_says_why_it_retrains(shipped_one, small_pair, tmp_path,
                                                                          monkeypatch, capsys):
    folder, _ = shipped_one
    monkeypatch.setenv("DEEPSIM_MODELS", str(folder))
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(ds.PRESETS, "tiny", RECIPE)
    rec = json.loads((folder / "tiny.json").read_text())
    (folder / "tiny.json").write_text(json.dumps({**rec, "preset": "tiny"}))  # shipped as preset "tiny"'s model
    model = cached_model(small_pair, "seg_edges", "tps", "tiny", progress=False)
    assert _same_weights(model, load_model(folder / "tiny.pt")) and not (tmp_path / "cache").exists()  # not needed
    assert capsys.readouterr().out == ""
    cached_model(small_pair, "seg_edges", "tps", "tiny", progress=False, iterations=3)
    out = capsys.readouterr().out
    assert out == ("deepsim-lite: the shipped model tiny was trained with another recipe (iterations: 4 shipped, "
                   "3 asked for); training it here (3 steps)\n")
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1
    cached_model(small_pair, "seg_edges", "tps", "tiny", progress=False, iterations=3)  # now cached: no line
    assert capsys.readouterr().out == ""
    empty = tmp_path / "nothing-shipped"
    monkeypatch.setenv("DEEPSIM_MODELS", str(empty))  # a preset whose models ship, none found: said so
    cached_model(small_pair, "seg_edges", "tps", "lesson_long", progress=False, iterations=2)
    assert capsys.readouterr().out == (f"deepsim-lite: no model of this pair and recipe ships with the package (in "
                                       f"{empty}); training it here (2 steps)\n")
    monkeypatch.setenv("DEEPSIM_MODELS", str(folder))
    (folder / "tiny.pt").write_bytes(b"damaged")
    cached_model(small_pair, "seg_edges", "tps", "tiny", progress=False, retrain=False)
    assert "the shipped model tiny.pt is unusable" in capsys.readouterr().out


# ---- the models that ship with the package ---------------------------------------------------------------


def test_every_lesson_model_ships_loads_safely_matches_its_lesson_and_renders(monkeypatch, tmp_path):
    monkeypatch.delenv("DEEPSIM_MODELS", raising=False)
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path))  # empty: what is ready must be shipped
    lesson = ds.lesson_config("lesson")
    folder = shipped.shipped_dir()
    files = sorted(folder.glob("*.pt"))
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 16 * 2**20  # models, records and previews
    names = set()
    for m in ds.lessons.lesson_models(lesson):
        pair = m.pair()
        if m.live:
            assert m.status(lesson, pair) == "trained live"  # lesson 02 trains it in front of the student
            continue
        assert m.status(lesson, pair) == "shipped", m.name
        path, _ = shipped.find(pair, m.config(lesson), lesson.model_preset)
        assert path == folder / f"{m.name}.pt" and path.stat().st_size <= 2 * 2**20
        model = load_model(path)  # read_checkpoint uses torch.load(weights_only=True)
        out = model.generate(pair.primitive)
        assert out.shape == pair.image.shape and torch.isfinite(out).all()
        assert float(ds.metrics.psnr(out[None], pair.image[None])[0]) > 24, m.name  # it learnt its picture
        record = model.info["shipped"]
        assert record == json.loads((folder / f"{m.name}.json").read_text())  # the record beside it is its own
        assert record["steps"] == record["recipe"]["iterations"]  # trained to the end
        assert "imagenet" in record["held_out"]["lpips_label"] and record["held_out"]["affine_elastic"]["lpips"] < 0.3
        names.add(path.name)
    assert {p.name for p in files} == names  # nothing shipped that no lesson loads
