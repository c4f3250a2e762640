"""The CUDA-graph step (method/graphed.py) on the CPU: everything but the capture — static warp buffers, device
learning rates, capturable Adam — trains as the eager step does; benchmarks/gpu_check.py compares replays on a GPU."""

import dataclasses

import pytest
import torch
from conftest import TINY

from deepsim_lite import train
from deepsim_lite.method.graphed import GraphedStep, make_capturable

FUSED = dataclasses.replace(TINY, fused_adam=True, batch_size=2, flip=True, iterations=12, log_every=4,
                            checkpoint_every=6)


def _static_path(trainer: train.Trainer) -> GraphedStep:
    step = GraphedStep(trainer.gan, trainer.warps, trainer.cond, trainer.real, trainer.config.padding, capture=False)
    trainer._graphed_step = step  # what Trainer.graphed makes on CUDA with config.cuda_graph
    return step


def test_the_static_buffer_step_trains_as_the_eager_step(small_pair):
    eager, graphed = train.Trainer(small_pair, FUSED), train.Trainer(small_pair, FUSED)
    step = _static_path(graphed)
    lr_tensor = graphed.gan.opt_G.param_groups[0]["lr"]
    for i in range(8):  # capturable Adam computes its bias correction with tensors: it rounds differently
        a, b = eager.train_step(), graphed.train_step()
        for k in a:
            tol = 1e-6 if i < 5 else 1e-3  # (then Adam grows the rounding: tests/method/test_warps.py says why)
            assert float(b[k]) == pytest.approx(float(a[k]), rel=tol, abs=1e-7), f"{k} at step {i + 1}"
    assert step.steps == 8 and set(step.static) == {"d", "r"}, "the TPS displacements and the flips, static"
    assert graphed.gan.opt_G.param_groups[0]["lr"] is lr_tensor, "the rate is filled in place, never replaced"
    assert float(lr_tensor) == pytest.approx(eager.gan.opt_G.param_groups[0]["lr"])
    # the convolutions' weights took the same path; their biases before an instance norm have gradients of pure
    # rounding noise, which Adam turns into steps of about lr either way (tests/method/test_step.py)
    apart = [float((p - q).detach().abs().max()) for (name, p), q in zip(eager.gan.G.named_parameters(),
                                                                graphed.gan.G.parameters(), strict=True)
             if name.endswith("weight")]
    assert max(apart) < 1e-4


def test_a_run_of_the_graph_path_resumes_eagerly_and_the_other_way(small_pair, tmp_path):
    full = train.fit(small_pair, FUSED, progress=False)
    part = train.Trainer(small_pair, FUSED, tmp_path)
    _static_path(part)
    part.fit(steps=6, progress=False)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["opt_G"]["param_groups"][0]["capturable"] is True
    resumed = train.resume(tmp_path, progress=False)  # eager, with this run's own optimiser settings
    assert resumed.steps == FUSED.iterations
    assert [r["step"] for r in resumed.history] == [4, 6, 8, 12], "a row where the first part stopped"
    for a, b in zip([r for r in resumed.history if r["step"] != 6], full.history, strict=True):
        assert a["step"] == b["step"] and a["lr"] == pytest.approx(b["lr"])
        assert a["D_real"] + a["D_fake"] == pytest.approx(b["D_real"] + b["D_fake"], rel=0.05)
    again = train.Trainer.from_checkpoint(tmp_path / "checkpoints" / "last.pt")
    make_capturable(again.gan)  # an eager checkpoint, captured: the step counts move to the device as floats
    steps = [s["step"] for s in again.gan.opt_G.state.values()]
    assert all(s.dtype == torch.float32 and float(s) == FUSED.iterations for s in steps)


def test_the_graph_step_refuses_what_it_cannot_capture(small_pair):
    t = train.Trainer(small_pair, FUSED)
    with pytest.raises(ValueError, match="a CUDA graph needs a CUDA device; this step runs on cpu"):
        GraphedStep(t.gan, t.warps, t.cond, t.real, "reflection", capture=True)
    plain = train.Trainer(small_pair, dataclasses.replace(FUSED, fused_adam=False))
    with pytest.raises(ValueError, match="must be fused"):
        GraphedStep(plain.gan, plain.warps, plain.cond, plain.real, "reflection", capture=False)
    with pytest.raises(ValueError, match="set compile=False"):
        dataclasses.replace(FUSED, cuda_graph=True, compile=True)
    with pytest.raises(ValueError, match="cuda_graph must be True or False"):
        dataclasses.replace(FUSED, cuda_graph=1)
    with pytest.warns(UserWarning, match="cuda_graph applies on a CUDA device; on cpu the step runs eagerly"):
        eager = train.Trainer(small_pair, dataclasses.replace(FUSED, cuda_graph=True))
    assert eager.graphed is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="a CUDA graph needs a CUDA GPU (make gpu-check runs this)")
def test_fifty_replayed_steps_give_the_eager_losses_on_a_gpu(small_pair, monkeypatch):
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)  # undone after the test
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    config = dataclasses.replace(TINY, device="cuda", amp=False, iterations=50)
    eager, graphed = train.Trainer(small_pair, config), train.Trainer(small_pair, dataclasses.replace(
        config, cuda_graph=True))
    a = [{k: float(v) for k, v in eager.train_step().items()} for _ in range(50)]
    b = [{k: float(v) for k, v in graphed.train_step().items()} for _ in range(50)]
    assert graphed.graphed is not None and graphed.graphed.graph is not None, "steps 5-50 were replays"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        for k in x:
            tol = 1e-4 if i < 5 else 5e-2  # capturable Adam's rounding, grown by Adam (see above)
            assert y[k] == pytest.approx(x[k], rel=tol, abs=1e-5), f"{k} at step {i + 1}"
