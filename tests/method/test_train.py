import dataclasses
import json
import os
import signal
import subprocess
import sys
import warnings

import pytest
import torch
from conftest import TINY

import deepsim_lite as ds
from deepsim_lite import augment, metrics, train, video


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(metrics.psnr(a, b).mean())


@pytest.fixture(scope="module")
def tps_result(small_pair):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
        return train.fit(small_pair, TINY, progress=False)


def test_lesson_network_overfits_the_pair(small_pair):
    cfg = dataclasses.replace(TINY, augmentation="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
        result = train.fit(small_pair, cfg, progress=False)
    trained = psnr(result.model.generate(small_pair.primitive), small_pair.image)
    # Baseline: the best constant image, the mean colour (18.4 dB here). A generator that learned the
    # pair must beat it by a wide margin: +10 dB is a 10x smaller squared error. 150 steps give ~31 dB.
    mean_colour = small_pair.image.mean((1, 2), keepdim=True).expand_as(small_pair.image)
    assert trained > psnr(mean_colour, small_pair.image) + 10


def test_tps_model_renders_held_out_warps_better_than_untrained(small_pair, tps_result):
    g = torch.Generator().manual_seed(999)
    imgs, prims = augment.augment_pair(small_pair.image, ds.encode(small_pair.primitive), "tps", batch=4, generator=g)
    trained = psnr(tps_result.model.generate(prims), imgs)
    untrained_trainer = train.Trainer(small_pair, TINY)
    untrained = psnr(untrained_trainer.model().generate(prims), imgs)
    assert trained > untrained + 5


def test_history_and_result(tps_result):
    h = tps_result.history
    assert [r["step"] for r in h] == list(range(10, 151, 10))
    assert h[0]["lr"] == TINY.lr and h[-1]["lr"] == pytest.approx(TINY.lr / 75)  # the last step, decaying to 0
    assert tps_result.perceptual == "l1"  # the test config's choice (conftest.TINY), the same on every machine
    assert tps_result.steps == 150 and tps_result.steps_per_s > 0


def test_lr_schedule():
    assert train.lr_factor(0, 100, 0.5) == 1.0 and train.lr_factor(49, 100, 0.5) == 1.0
    assert train.lr_factor(75, 100, 0.5) == pytest.approx(0.5) and train.lr_factor(100, 100, 0.5) == 0.0


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=6, log_every=2, checkpoint_every=2)
    full = train.fit(small_pair, cfg, tmp_path / "full", progress=False)
    part = train.fit(small_pair, cfg, tmp_path / "part", progress=False, steps=3)  # "interrupted" at step 3
    assert part.steps == 3 and not (tmp_path / "part" / "model.pt").exists()
    resumed = train.resume(tmp_path / "part", progress=False)
    assert resumed.steps == 6
    a, b = full.model.generator.state_dict(), resumed.model.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(x)["step"] for x in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert rows == [2, 3, 4, 6]
    loaded = ds.load_model(tmp_path / "part")
    assert torch.equal(loaded.generate(small_pair.primitive), resumed.model.generate(small_pair.primitive))
    cfg_json = json.loads((tmp_path / "full" / "config.json").read_text())
    assert cfg_json["config"]["iterations"] == 6 and "perceptual" in cfg_json


def test_resume_refuses_to_continue_with_another_reconstruction_loss(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=4, log_every=2, checkpoint_every=2)
    train.fit(small_pair, cfg, tmp_path / "run", progress=False, steps=2)
    config_json = tmp_path / "run" / "config.json"
    recorded = json.loads(config_json.read_text())
    assert recorded["perceptual"] == "l1"
    recorded["perceptual"] = "l1 (no vgg19 weights)"  # as a run begun before 0.8 without weights recorded it
    config_json.write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match=r"trained with the reconstruction loss 'l1 \(no vgg19 weights\)'; here it "
                                         r"would continue with 'l1', which is not the same run"):
        train.resume(tmp_path / "run", progress=False)


def test_run_directory_layout(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=4, log_every=2, preview_every=2)
    train.fit(small_pair, cfg, tmp_path, progress=False, preview="files")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "config.json", "metrics.jsonl",
                                                          "model.pt", "samples"]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.pt"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_trainer_rejects_mismatched_pair(small_pair):
    with pytest.raises(ValueError, match="config asks for 'edges'"):
        train.Trainer(small_pair, dataclasses.replace(TINY, primitive_kind="edges"))
    odd = ds.Pair(*ds.resize_pair(small_pair.image, small_pair.primitive, (36, 48)))
    with pytest.raises(ValueError, match="pair is 36x48; sides must be multiples of 16"):
        train.Trainer(odd, ds.TrainConfig.preset("paper"))


def test_external_batches_match_internal_sampling(small_pair):
    a, b = train.Trainer(small_pair, TINY), train.Trainer(small_pair, TINY)
    batch = b._batch()  # what the internal sampler of an identical trainer draws next
    la, lb = a.train_step(), b.train_step(batch)
    assert all(torch.equal(la[k], lb[k]) for k in la)


def test_flip_with_tps_reaches_the_training_batches(small_pair):
    t = train.Trainer(small_pair, dataclasses.replace(TINY, flip=True, batch_size=32))
    cond, real = t._batch()
    plain = train.Trainer(small_pair, dataclasses.replace(TINY, batch_size=32))
    cond0, real0 = plain._batch()
    same = [torch.equal(a, b) for a, b in zip(cond, cond0, strict=True)]
    assert 4 < sum(same) < 28  # about half of the warped pairs were mirrored


def test_ctrl_c_stops_at_a_step_boundary_and_resume_is_exact(small_pair, tmp_path, monkeypatch):
    cfg = dataclasses.replace(TINY, iterations=8, log_every=2, checkpoint_every=100)
    full = train.fit(small_pair, cfg, tmp_path / "full", progress=False)
    real_step = train.Trainer.train_step

    def step_then_ctrl_c(self, batch=None):
        out = real_step(self, batch)
        if self.step == 3:  # Ctrl-C arrives in the middle of the next step's work, as a real one would
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(train.Trainer, "train_step", step_then_ctrl_c)
    part = train.fit(small_pair, cfg, tmp_path / "part", progress=False)
    monkeypatch.undo()
    assert part.interrupted and part.steps == 3 and not (tmp_path / "part" / "model.pt").exists()
    resumed = train.resume(tmp_path / "part", progress=False)
    assert resumed.steps == 8 and not resumed.interrupted
    a, b = full.model.generator.state_dict(), resumed.model.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(small_pair, tmp_path, monkeypatch):
    cfg = dataclasses.replace(TINY, iterations=8, log_every=2, checkpoint_every=2)
    real_step = train.Trainer.train_step

    def poisoned(self, batch=None):
        if self.step == 2:  # after the checkpoint of step 2, a weight goes NaN (a bit flip, a bad lr)
            with torch.no_grad():
                next(self.gan.G.parameters()).view(-1)[0] = float("nan")
        return real_step(self, batch)

    monkeypatch.setattr(train.Trainer, "train_step", poisoned)
    with pytest.raises(train.NonFiniteLossError, match="non-finite .* at step 4; the last good checkpoint is kept"):
        train.fit(small_pair, cfg, tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"]["generator"].values())


def test_a_cut_off_metrics_line_and_orphaned_temp_files_do_not_block_resume(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=6, log_every=2, checkpoint_every=2)
    train.fit(small_pair, cfg, tmp_path, progress=False, steps=4)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "G_ga')  # a kill in the middle of a write
    (tmp_path / "checkpoints" / ".last.pt.x1y2.tmp").write_bytes(b"\0" * 1000)
    (tmp_path / ".model.pt.a1b2.tmp").write_bytes(b"\0" * 10)
    (tmp_path / "samples" / ".step_000004.png.c3d4.tmp").write_bytes(b"\0" * 10)
    resumed = train.resume(tmp_path, progress=False)
    assert resumed.steps == 6
    rows = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [2, 4, 6]
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.pt"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_fresh_run_after_an_early_kill_does_not_duplicate_metric_rows(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=4, log_every=2, checkpoint_every=100)
    (tmp_path / "metrics.jsonl").write_text('{"step": 2, "G_gan": 1.0}\n')  # logged before the kill, no checkpoint
    train.fit(small_pair, cfg, tmp_path, progress=False)
    rows = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [2, 4]


_CHILD = """
import sys, torch, deepsim_lite as ds
from pathlib import Path
torch.set_num_threads(1)
run, marker = Path(sys.argv[1]), Path(sys.argv[2])
pair = ds.load_sample("chelsea", "seg_edges", max_side=48, multiple=4)
cfg = ds.TrainConfig.preset("lesson", iterations=60, log_every=5, checkpoint_every=7)
trainer = (ds.train.Trainer.from_checkpoint(run / "checkpoints" / "last.pt", run)
           if (run / "checkpoints" / "last.pt").exists() else ds.train.Trainer(pair, cfg, run))
real_step = trainer.train_step
def step(batch=None):
    out = real_step(batch)
    if trainer.step == int(sys.argv[3]):
        marker.write_text("x")  # the parent signals once it sees this: mid-run, at a known point
    return out
trainer.train_step = step
r = trainer.fit(progress=False)
sys.exit(130 if r.interrupted else 0)
"""


def test_killed_and_interrupted_runs_resume_to_the_uninterrupted_weights(tmp_path):
    """SIGKILL and SIGINT mid-run (at steps between checkpoints); every restart resumes; the result is exact."""
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", _CHILD]
    subprocess.run([*cmd, str(tmp_path / "full"), str(tmp_path / "unused"), "-1"], check=True, env=env, timeout=300)
    run, codes = tmp_path / "killed", []
    for sig, at in ((signal.SIGKILL, 17), (signal.SIGINT, 38)):
        marker = tmp_path / f"marker-{at}"
        proc = subprocess.Popen([*cmd, str(run), str(marker), str(at)], env=env)
        deadline = time.time() + 120
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(sig)
        codes.append(proc.wait(timeout=120))
        step = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"]
        assert step < 60, "the run finished before the signal: the test proved nothing"
    assert codes == [-signal.SIGKILL, 130]
    subprocess.run([*cmd, str(run), str(tmp_path / "unused"), "-1"], check=True, env=env, timeout=300)
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)["generator"]
    b = torch.load(run / "model.pt", weights_only=True)["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list(run.rglob("*.tmp"))


def test_ctrl_c_during_a_checkpoint_logs_the_steps_and_on_the_last_step_is_no_interrupt(small_pair, tmp_path,
                                                                                          monkeypatch):
    cfg = dataclasses.replace(TINY, iterations=6, log_every=4, checkpoint_every=3)
    real_save = train.Trainer.save_checkpoint

    sent = []

    def save_then_ctrl_c(self, path=None, background=False):
        out = real_save(self, path, background)
        if self.step == 3 and not sent:  # one Ctrl-C while the checkpoint of step 3 is being written
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(train.Trainer, "save_checkpoint", save_then_ctrl_c)
    part = train.fit(small_pair, cfg, tmp_path / "a", progress=False)
    assert part.interrupted and part.steps == 3 and [r["step"] for r in part.history] == [3]
    monkeypatch.undo()
    real_step = train.Trainer.train_step

    def last_step_then_ctrl_c(self, batch=None):
        out = real_step(self, batch)
        if self.step == 6:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(train.Trainer, "train_step", last_step_then_ctrl_c)
    done = train.fit(small_pair, cfg, tmp_path / "b", progress=False)
    assert not done.interrupted and done.steps == 6 and (tmp_path / "b" / "model.pt").is_file()


def test_the_paper_preset_builds_steps_and_round_trips_on_the_cpu(tmp_path):
    cfg = ds.TrainConfig.preset("paper", iterations=1)
    pair = ds.load_sample("coffee", "seg_edges", max_side=64, multiple=cfg.multiple)  # 48x64: the smallest size
    t = train.Trainer(pair, cfg)
    assert (t.gan.G.n_downsample, len(t.gan.D.discriminators), t.gan.G.model[1].out_channels) == (4, 2, 64)  # pix2pixHD
    t.fit(progress=False)
    t.save_checkpoint(tmp_path / "last.pt")  # 2.2 GB: weights and Adam state of 188 M parameters
    resumed = train.Trainer.from_checkpoint(tmp_path / "last.pt")
    assert resumed.step == 1 and all(torch.equal(a, b) for a, b in zip(t.gan.G.parameters(), resumed.gan.G.parameters(),
                                                                          strict=True))


# -- several pairs of one scene (issue 20)
@pytest.fixture(scope="module")
def two_frames():
    """Frames 0 and 15 of the carphone clip at 32x40, one segmentation carried by flow."""
    frames = video.load_frames(video.clip_path("carphone"), 16)
    cfg = dataclasses.replace(TINY, max_side=40)
    pairs = video.clip_pairs([frames[0], frames[15]], "seg_edges", cfg, "carphone")
    return pairs


def test_several_pairs_each_step_draws_one_of_them(two_frames):
    trainer = train.Trainer(two_frames, dataclasses.replace(TINY, augmentation="none", batch_size=2))
    seen = []
    for _ in range(30):
        cond, real = trainer._batch()
        for c, r in zip(cond, real, strict=True):
            which = [i for i, p in enumerate(two_frames) if torch.allclose(r, p.image, atol=1e-4)]
            assert len(which) == 1, "every training image is one of the pairs, unwarped under 'none'"
            assert torch.allclose(c, ds.encode(two_frames[which[0]].primitive), atol=1e-4)  # with its own primitive
            seen.append(which[0])
    assert 15 <= seen.count(1) <= 45, f"pair 1 drawn {seen.count(1)} times of 60: not a fair draw"


def test_several_pairs_must_share_size_and_labels(two_frames, small_pair):
    with pytest.raises(ValueError, match="pair 1 is 32x48 but pair 0 is 32x40; the pairs of one run must have one"):
        train.Trainer([two_frames[0], small_pair], TINY)
    fewer = ds.Pair(two_frames[1].image, two_frames[1].primitive.replace(n_labels=two_frames[1].primitive.n_labels
                                                                         + 1))
    with pytest.raises(ValueError, match="label k must mean one region in every pair"):
        train.Trainer([two_frames[0], fewer], TINY)
    with pytest.raises(ValueError, match="non-empty list"):
        train.Trainer([], TINY)
    with pytest.raises(ValueError, match="got str at position 1"):
        train.Trainer([two_frames[0], "frame.png"], TINY)


def test_several_pairs_checkpoint_round_trip_and_exact_resume(two_frames, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=6, log_every=2, checkpoint_every=2)
    full = train.fit(two_frames, cfg, tmp_path / "full", progress=False)
    train.fit(two_frames, cfg, tmp_path / "part", progress=False, steps=3)
    again = train.Trainer.from_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    assert [p.name for p in again.pairs] == ["carphone_f000", "carphone_f001"]
    assert all(torch.equal(a.image, b.image) and a.primitive == b.primitive for a, b in zip(again.pairs, two_frames,
                                                                                          strict=True))
    resumed = train.resume(tmp_path / "part", progress=False)
    a, b = full.model.generator.state_dict(), resumed.model.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.model.info["pairs"] == ["carphone_f000", "carphone_f001"]
    assert json.loads((tmp_path / "full" / "config.json").read_text())["pairs"] == ["carphone_f000", "carphone_f001"]


# -- fine-tuning (init_from)


# -- resume restores everything (issue 20)
def test_resume_keeps_the_lr_schedule_the_warp_stream_and_the_cadence(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=10, log_every=1, checkpoint_every=4, preview_every=3, decay_start=0.3)
    full = train.Trainer(small_pair, cfg, tmp_path / "full")
    full.fit(progress=False, preview="files")
    part = train.Trainer(small_pair, cfg, tmp_path / "part")
    part.fit(steps=5, progress=False, preview="files")  # stops between checkpoints (4, 8) and previews (3, 6, 9)
    saved = []
    real_save = train.Trainer.save_checkpoint

    def record(self, path=None, background=False):
        saved.append(self.step)
        return real_save(self, path, background)

    train.Trainer.save_checkpoint = record
    try:
        probe = train.Trainer.from_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
        at5 = train.Trainer(small_pair, cfg)
        at5.fit(steps=5, progress=False, preview="none")
        assert torch.equal(probe._batch()[0], at5._batch()[0]), "the next warp is the one step 6 draws uninterrupted"
        again = train.Trainer.from_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt", tmp_path / "part")
        again.fit(progress=False, preview="files")
    finally:
        train.Trainer.save_checkpoint = real_save
    assert saved == [8, 10], "checkpoints keep the cadence of the run, not of the restart"
    assert [r["lr"] for r in again.history] == pytest.approx([r["lr"] for r in full.history])
    assert [r["lr"] for r in again.history][5] < cfg.lr, "the decay had started before the interruption"
    assert sorted(p.name for p in (tmp_path / "part" / "samples").iterdir()) == \
        sorted(p.name for p in (tmp_path / "full" / "samples").iterdir()) == \
        ["step_000003.png", "step_000006.png", "step_000009.png"]
    assert torch.equal(again.warps.get_state(), full.warps.get_state()), "the same number of warps was drawn"




