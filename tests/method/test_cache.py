import multiprocessing
import os

import pytest
import torch

from deepsim_lite import cache
from deepsim_lite.method.config import TrainConfig
from deepsim_lite.primitives.pairs import Pair


def test_cached_model_trains_once_and_retrains_a_corrupt_entry(small_pair, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path))
    calls = []
    real_fit = cache.fit
    monkeypatch.setattr(cache, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    kw = dict(iterations=3, progress=False)
    a = cache.cached_model(small_pair, "seg_edges", "tps", "lesson", **kw)
    b = cache.cached_model(small_pair, "seg_edges", "tps", "lesson", **kw)
    assert len(calls) == 1
    assert torch.equal(a.generate(small_pair.primitive), b.generate(small_pair.primitive))
    assert [h["step"] for h in b.info["history"]] == [3]
    assert len(b.info["previews"]) == 3  # previews recorded without asking: every quarter of the run (here each step)
    (entry,) = [p for p in tmp_path.iterdir() if p.suffix == ".pt"]
    entry.write_bytes(b"garbage")
    cache.cached_model(small_pair, "seg_edges", "tps", "lesson", **kw)
    assert len(calls) == 2 and "unusable" in capsys.readouterr().out
    cache.cached_model(small_pair, "seg_edges", "tps", "lesson", iterations=4, progress=False)
    assert len(calls) == 3  # another config is another entry
    cache.cached_model(small_pair, "seg_edges", "tps", "lesson", iterations=4, progress=False, log_every=2)
    assert len(calls) == 3  # bookkeeping fields are not part of the key


def test_training_previews_are_kept_in_the_entry(small_pair, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path))
    m = cache.cached_model(small_pair, "seg_edges", "tps", "lesson", iterations=4, preview_every=2, progress=False)
    again = cache.cached_model(small_pair, "seg_edges", "tps", "lesson", iterations=4, preview_every=2,
                               progress=False)
    assert len(again.info["previews"]) == 2 and again.info["previews"][0].dtype == torch.uint8
    assert torch.equal(again.info["previews"][1], m.info["previews"][1])


def test_a_model_from_the_cache_shows_the_previews_it_recorded(small_pair, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path))
    kw = dict(iterations=4, preview_every=2, progress=False)
    cache.cached_model(small_pair, "seg_edges", "tps", "lesson", preview="none", **kw)
    capsys.readouterr()
    cache.cached_model(small_pair, "seg_edges", "tps", "lesson", preview="none", **kw)
    assert capsys.readouterr().out == ""  # "none": nothing shown
    cache.cached_model(small_pair, "seg_edges", "tps", "lesson", preview="inline", **kw)
    out = capsys.readouterr().out
    assert "loaded from the model cache" in out and out.count("Image object") == 2  # IPython's display, no kernel


def test_key_depends_on_config_pair_and_nothing_else(small_pair):
    cfg = TrainConfig.preset("lesson")
    k = cache.cache_key(small_pair, cfg)
    assert k == cache.cache_key(small_pair, TrainConfig.preset("lesson", log_every=1, preview_every=5))
    assert k != cache.cache_key(small_pair, TrainConfig.preset("lesson", seed=1))
    flipped = Pair(small_pair.image.flip(-1), small_pair.primitive)
    assert k != cache.cache_key(flipped, cfg)


def test_unwritable_cache_is_found_before_training(small_pair, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path / "file" / "cache"))
    monkeypatch.setattr(cache, "fit", lambda *a, **k: pytest.fail("trained before checking the cache folder"))
    with pytest.raises(PermissionError, match="cannot create the model cache .*set DEEPSIM_CACHE"):
        cache.cached_model(small_pair, "seg_edges", "tps", "lesson", iterations=2, progress=False)


def _train_in_child(cache_path: str, marker: str, arrived: str, wait_for: str | None, queue) -> None:
    os.environ["DEEPSIM_CACHE"] = cache_path
    torch.set_num_threads(1)
    import pathlib
    import time

    import deepsim_lite as ds

    pair = ds.load_sample("chelsea", "seg_edges", max_side=48, multiple=4)
    trained = []
    real_fit = cache.fit

    def slow_fit(*a, **k):  # holds the lock until the other process has arrived at it (a loaded CI machine
        trained.append(1)   # can take many seconds to start a spawned interpreter)
        pathlib.Path(marker).write_text("training")
        deadline = time.time() + 240
        while wait_for is not None and not pathlib.Path(wait_for).exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # from its marker to the lock the other process only builds a config and hashes the pair
        return real_fit(*a, **k)

    cache.fit = slow_fit
    pathlib.Path(arrived).write_text("here")
    cache.cached_model(pair, "seg_edges", "tps", "lesson", iterations=20, progress=False)
    queue.put(len(trained))


def test_a_second_process_waits_for_the_first_and_loads(tmp_path, capfd):
    import time

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    marker = tmp_path / "first-is-training"
    first = ctx.Process(target=_train_in_child, args=(str(tmp_path / "cache"), str(marker), str(tmp_path / "a1"),
                                                      str(tmp_path / "a2"), queue))
    first.start()
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the first process never started training"
    second = ctx.Process(target=_train_in_child, args=(str(tmp_path / "cache"), str(tmp_path / "m2"),
                                                       str(tmp_path / "a2"), None, queue))
    second.start()  # arrives while the first holds the lock
    for p in (first, second):
        p.join(timeout=300)
    assert first.exitcode == 0 and second.exitcode == 0
    assert [queue.get(timeout=5), queue.get(timeout=5)] == [1, 0]  # one trained, the other waited and loaded
    assert not (tmp_path / "m2").exists()
    assert "waiting for another process that is training" in capfd.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1


def test_the_same_pair_under_another_name_is_the_same_entry(small_pair, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path))
    calls = []
    real_fit = cache.fit
    monkeypatch.setattr(cache, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    cache.cached_model(Pair(small_pair.image, small_pair.primitive, "carphone_000"), iterations=2, progress=False)
    cache.cached_model(Pair(small_pair.image, small_pair.primitive, "carphone_f000"), iterations=2, progress=False)
    assert len(calls) == 1  # lessons 05 and 06 load frame 0 of the same clip: one model, trained once
