"""Training checkpoints (method/checkpoints.py): old layouts, init_from, training pairs, finished runs."""

import dataclasses
import json

import pytest
import torch
from conftest import TINY

import deepsim_lite as ds
from deepsim_lite import train
from deepsim_lite.method import checkpoints


def test_a_checkpoint_of_0_5_with_one_pair_entry_still_resumes(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=4, checkpoint_every=2)
    trainer = train.Trainer(small_pair, cfg, tmp_path)
    trainer.fit(steps=2, progress=False)
    state = trainer.checkpoint_state()
    state["pair"] = state.pop("pairs")[0]  # the layout 0.5 wrote
    del state["init_from"]
    torch.save(ds.model.add_checksum(state), tmp_path / "checkpoints" / "last.pt")
    resumed = train.resume(tmp_path, progress=False)
    full = train.fit(small_pair, cfg, progress=False)
    assert resumed.steps == 4 and torch.equal(resumed.model.generate(small_pair.primitive),
                                              full.model.generate(small_pair.primitive))


@pytest.fixture(scope="module")
def source_run(small_pair, tmp_path_factory):
    run = tmp_path_factory.mktemp("source")
    return train.fit(small_pair, dataclasses.replace(TINY, iterations=6, log_every=2), run, progress=False), run


def test_init_from_a_model_starts_from_its_generator(small_pair, source_run):
    result, _ = source_run
    trainer = train.Trainer(small_pair, dataclasses.replace(TINY, iterations=3), init_from=result.model)
    assert trainer.step == 0
    assert torch.equal(trainer.model().generate(small_pair.primitive), result.model.generate(small_pair.primitive))
    fresh_d = train.Trainer(small_pair, TINY).gan.D.state_dict()
    assert all(torch.equal(v, fresh_d[k]) for k, v in trainer.gan.D.state_dict().items()), "a model carries no D"
    assert trainer.model().info["init_from"].startswith("model chelsea at step 6")


def test_init_from_a_run_takes_g_d_and_optionally_the_optimisers(small_pair, source_run, tmp_path):
    _, run = source_run
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    fresh = train.Trainer(small_pair, dataclasses.replace(TINY, iterations=3), init_from=run)
    assert all(torch.equal(v, state["model"]["generator"][k]) for k, v in fresh.gan.G.state_dict().items())
    assert all(torch.equal(v, state["D"][k]) for k, v in fresh.gan.D.state_dict().items())
    assert fresh.gan.opt_G.state_dict()["state"] == {}, "a fresh optimiser by default"
    own = dataclasses.replace(TINY, iterations=3, beta1=0.8, fused_adam=False)
    kept = train.Trainer(small_pair, own, init_from=run, reset_optimiser=False)
    moments = kept.gan.opt_G.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(moments, state["opt_G"]["state"][0]["exp_avg"])
    assert kept.gan.opt_G.param_groups[0]["betas"] == (0.8, TINY.beta2), "the moments come along, not the settings"
    result = train.fit(small_pair, dataclasses.replace(TINY, iterations=3, log_every=1), tmp_path, progress=False,
                       init_from=run)
    assert [r["step"] for r in result.history] == [1, 2, 3] and result.history[0]["lr"] == TINY.lr
    assert json.loads((tmp_path / "config.json").read_text())["init_from"].endswith("last.pt at step 6")


def test_training_pairs_come_from_the_checkpoint_not_from_a_model_file(small_pair, source_run):
    _, run = source_run
    (pair,) = train.training_pairs(run)
    assert torch.equal(pair.image, small_pair.image) and pair.primitive == small_pair.primitive
    with pytest.raises(ValueError, match="is a trained model without its training pairs"):
        train.training_pairs(run / "model.pt")


def test_init_from_refuses_what_does_not_fit(small_pair, source_run, monkeypatch):
    result, run = source_run

    def no_networks(*args, **kwargs):
        raise AssertionError("networks and losses were built before init_from was checked")

    monkeypatch.setattr(train, "TrainStep", no_networks)  # every refusal below comes before any network
    with pytest.raises(ValueError, match=r"another architecture: ngf 12 \(config: 16\)"):
        train.Trainer(small_pair, dataclasses.replace(TINY, ngf=16), init_from=result.model)
    edges = ds.load_sample("chelsea", "edges", max_side=48, multiple=4)
    with pytest.raises(ValueError, match="reads 8 labels \\+ edges; the pairs have 0 labels \\+ edges"):
        train.Trainer(edges, dataclasses.replace(TINY, primitive_kind="edges"), init_from=result.model)
    with pytest.raises(ValueError, match="without optimiser state"):
        train.Trainer(small_pair, TINY, init_from=run / "model.pt", reset_optimiser=False)
    with pytest.raises(ValueError, match="init_from must be a DeepSIMModel, a model file, a checkpoint or a run"):
        train.Trainer(small_pair, TINY, init_from=result)  # the TrainResult, not its model


def test_resuming_a_finished_run_says_so_and_trains_nothing(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=2)
    train.fit(small_pair, cfg, tmp_path, progress=False)
    before = (tmp_path / "checkpoints" / "last.pt").stat().st_mtime_ns
    with pytest.raises(train.RunFinishedError, match="finished at step 2 of 2; nothing to resume"):
        train.resume(tmp_path, progress=False)
    assert (tmp_path / "checkpoints" / "last.pt").stat().st_mtime_ns == before
    kept = ds.load_model(tmp_path).generate(small_pair.primitive)
    (tmp_path / "model.pt").unlink()  # killed between the checkpoint and model.pt of the last step
    with pytest.raises(train.RunFinishedError, match="finished at step 2 of 2 \\(wrote its missing model.pt\\)"):
        train.resume(tmp_path, progress=False)
    assert torch.equal(ds.load_model(tmp_path / "model.pt").generate(small_pair.primitive), kept)


# -- what a checkpoint costs (issue: the paper preset in minutes)
def test_a_checkpoint_stores_g_once_and_one_of_0_7_with_its_own_g_still_resumes(small_pair, tmp_path):
    cfg = dataclasses.replace(TINY, iterations=4, checkpoint_every=2)
    trainer = train.Trainer(small_pair, cfg, tmp_path)
    trainer.fit(steps=2, progress=False)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert "G" not in state, "G is in state['model'] only"
    live = trainer.gan.G.state_dict()
    assert all(torch.equal(v, state["model"]["generator"][k]) for k, v in live.items())
    old = trainer.checkpoint_state()
    old["G"] = {k: v.clone() for k, v in old["model"]["generator"].items()}  # the layout 0.7 wrote
    old["model"]["generator"] = {k: torch.zeros_like(v) for k, v in old["G"].items()}  # "G" must be the one read
    torch.save(ds.model.add_checksum(old), tmp_path / "checkpoints" / "last.pt")
    resumed = train.resume(tmp_path, progress=False)
    full = train.fit(small_pair, cfg, progress=False)
    assert torch.equal(resumed.model.generate(small_pair.primitive), full.model.generate(small_pair.primitive))


def test_a_snapshot_is_a_copy_training_cannot_change(small_pair):
    trainer = train.Trainer(small_pair, TINY)
    trainer.train_step()
    snap = checkpoints.snapshot(trainer.checkpoint_state())
    before = snap["D"][next(iter(snap["D"]))].clone()
    moment = snap["opt_G"]["state"][0]["exp_avg"].clone()
    for _ in range(2):
        trainer.train_step()
    assert torch.equal(snap["D"][next(iter(snap["D"]))], before)
    assert torch.equal(snap["opt_G"]["state"][0]["exp_avg"], moment)
    live = trainer.gan.D.state_dict()[next(iter(snap["D"]))]
    assert not torch.equal(live, before), "training moved on"
    assert snap["step"] == 1 and snap["config"] == TINY.to_dict()


def test_the_background_writer_writes_in_order_and_raises_a_failed_write_on_wait(tmp_path):
    writer = checkpoints.BackgroundWriter()
    writer.submit(tmp_path / "a.pt", {"x": torch.arange(3)})
    writer.submit(tmp_path / "a.pt", {"x": torch.arange(5)})  # waits for the first
    writer.wait()
    assert torch.load(tmp_path / "a.pt", weights_only=True)["x"].tolist() == [0, 1, 2, 3, 4]
    (tmp_path / "blocked").write_text("a file where a folder must be")
    writer.submit(tmp_path / "blocked" / "b.pt", {"x": torch.ones(1)})
    with pytest.raises(OSError):
        writer.wait()
    writer.wait()  # the error was raised once; the writer is usable again
    writer.submit(tmp_path / "c.pt", {"x": torch.ones(1)})
    writer.wait()
    assert (tmp_path / "c.pt").is_file()


def test_checkpoints_also_come_by_wall_time(small_pair, tmp_path, monkeypatch):
    saved = []
    real_save = train.Trainer.save_checkpoint

    def record(self, path=None, background=False):
        saved.append((self.step, background))
        return real_save(self, path, background)

    monkeypatch.setattr(train.Trainer, "save_checkpoint", record)
    by_steps = dataclasses.replace(TINY, iterations=5, checkpoint_every=1000)
    train.fit(small_pair, by_steps, tmp_path / "steps", progress=False)
    assert saved == [(5, False)], "by steps alone: only the final checkpoint"
    saved.clear()
    train.fit(small_pair, dataclasses.replace(by_steps, checkpoint_seconds=1e-9), tmp_path / "time", progress=False)
    assert saved == [(1, True), (2, True), (3, True), (4, True), (5, False)], "in the background while training"
    assert train.Trainer.from_checkpoint(tmp_path / "time" / "checkpoints" / "last.pt").step == 5


@pytest.mark.parametrize("net, name", [("G", "generator"), ("D", "discriminator")])
def test_non_finite_weights_are_found_and_named(small_pair, net, name):
    trainer = train.Trainer(small_pair, TINY)
    checkpoints.check_finite(trainer.gan, 0)
    with torch.no_grad():
        list(getattr(trainer.gan, net).parameters())[-1].view(-1)[-1] = float("inf" if net == "G" else "nan")
    with pytest.raises(train.NonFiniteLossError, match=f"the {name} has non-finite weights at step 3"):
        checkpoints.check_finite(trainer.gan, 3)
