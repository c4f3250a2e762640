"""The whole training step in one CUDA graph: warp grids, warps, G's and D's updates replayed by one launch.

At the paper preset a step is a few hundred small kernels whose launch costs more host time than the GPU
spends on them (the first CUDA run: 26 steps/s at 256², the same at 640×320 with 3× the FLOPs). A CUDA
graph records the kernels of one step once and replays them with one call. What that asks of the step:

- **static inputs**: each step's warp numbers (:class:`~.warps.WarpStream`) are copied into buffers made
  once; the grids, the warped pair and the update are all computed from them inside the graph;
- **no host work inside**: the learning rate is a device tensor the schedule fills (``TrainStep.set_lr``),
  Adam is capturable (its step counts on the device), autocast keeps no cast cache, losses stay on the device;
- **warm-up before capture**, on a side stream: the first ``warmup`` steps run eagerly there (they are real
  training steps; the optimisers' state is created by them), the next is captured and then replayed, and
  every later step is one copy of its warp numbers plus one replay. The sequence of steps, warps and
  updates is the eager one: the same losses to float rounding (``benchmarks/gpu_check.py`` compares 50).

On a CPU (``capture=False``) the same static-buffer path runs without a graph: the tests check everything
but the capture there.

Example:
    >>> step = GraphedStep(trainer.gan, trainer.warps, trainer.cond, trainer.real, config.padding)
    >>> trainer.gan.set_lr(2e-4)
    >>> losses = step()                 # the LOSS_TERMS as 0-d device tensors (the graph's outputs)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import augment
from .step import TrainStep
from .warps import WarpStream

__all__ = ["GraphedStep", "make_capturable", "warped_batch"]


def warped_batch(cond_all: torch.Tensor, real_all: torch.Tensor, which: torch.Tensor | None, grid: torch.Tensor,
                 batch: int, padding: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cond (B, C_p, H, W), real (B, 3, H, W))``: the training pairs ``(N, ...)`` warped by ``grid``
    ``(B, H, W, 2)``; ``which`` ``(B,)`` picks each warp's pair (several pairs), else the one pair is repeated."""
    real, cond, b = real_all, cond_all, batch
    if which is not None:
        real, cond, b = real[which], cond[which], None
    real, cond = augment.augment_pair(real, cond, batch=b, grid=grid, padding=padding)
    return cond, real


def make_capturable(gan: TrainStep) -> None:
    """Both optimisers' learning rates as device tensors and Adam capturable (its step counts on the device),
    as a graph needs; the moments are kept, so a restored run can be captured."""
    for opt in (gan.opt_G, gan.opt_D):
        for group in opt.param_groups:
            group["capturable"] = True
            if not isinstance(group["lr"], torch.Tensor):
                group["lr"] = torch.tensor(float(group["lr"]), device=gan.device)
        for state in opt.state.values():
            if "step" in state:
                state["step"] = state["step"].to(gan.device, torch.float32)


class GraphedStep:
    """One training step per call, replayed from a CUDA graph after ``warmup`` eager steps.

    Args:
        gan: the networks and optimisers (fused or foreach Adam; made capturable here).
        warps: the run's warp stream (its next numbers are each call's).
        cond_all, real_all: the encoded training primitives ``(N, C_p, H, W)`` and images ``(N, 3, H, W)``.
        padding: the warps' padding mode.
        warmup: eager steps on a side stream before the capture (3, as PyTorch's guide does).
        capture: record a CUDA graph (default: on CUDA); ``False`` runs the same static-buffer path eagerly.
        before_capture: called just before capturing (the trainer waits there for a checkpoint being written in
            another thread: capture must not overlap other work on the device's memory).

    The graph holds the optimisers' state tensors and the warp basis it captured: restoring a checkpoint into
    the same networks afterwards would not reach it; :meth:`~.train.Trainer.from_checkpoint` builds a new
    trainer, whose first steps capture afresh.
    """

    def __init__(self, gan: TrainStep, warps: WarpStream, cond_all: torch.Tensor, real_all: torch.Tensor,
                 padding: str, warmup: int = 3, capture: bool | None = None,
                 before_capture: Callable[[], None] | None = None) -> None:
        self.capture = gan.device.type == "cuda" if capture is None else capture
        if self.capture and gan.device.type != "cuda":
            raise ValueError(f"a CUDA graph needs a CUDA device; this step runs on {gan.device.type}")
        if gan.config.compile:
            raise ValueError("a CUDA graph captures the eager step; turn compile off (or use "
                             "compile_mode='reduce-overhead' without cuda_graph)")
        if not (gan.opt_G.defaults.get("fused") or gan.device.type == "cuda"):
            raise ValueError("a capturable Adam on the CPU must be fused (fused_adam=True)")
        make_capturable(gan)
        self.gan, self.warps, self.cond_all, self.real_all, self.padding = gan, warps, cond_all, real_all, padding
        self.warmup, self.steps = warmup, 0
        self.static: dict[str, torch.Tensor] | None = None  # this step's warp numbers, read by the graph
        self.graph: torch.cuda.CUDAGraph | None = None
        self.out: dict[str, torch.Tensor] | None = None  # the graph's loss outputs, rewritten by each replay
        self.before_capture = before_capture

    def _compute(self) -> dict[str, torch.Tensor]:
        """The step from the static buffers: grids, warped pairs, G's and D's updates."""
        draw = self.static
        grid = self.warps.grids(draw)
        cond, real = warped_batch(self.cond_all, self.real_all, draw.get("which"), grid,
                                  self.gan.config.batch_size, self.padding)
        return self.gan(cond, real)

    def __call__(self) -> dict[str, torch.Tensor]:
        """Train one step on the stream's next warps; -> the :data:`~.step.LOSS_TERMS` as 0-d device tensors
        (with a graph: its output buffers, valid until the next call)."""
        draw = self.warps.next_draw()
        if self.static is None:
            self.static = {k: v.clone() for k, v in draw.items()}
        else:
            for k, v in draw.items():
                self.static[k].copy_(v, non_blocking=True)
        self.steps += 1
        if not self.capture:
            return self._compute()
        if self.graph is not None:
            self.graph.replay()
            return self.out
        if self.steps <= self.warmup:  # eager, on a side stream: lets the allocator and cuDNN settle
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self._compute()
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.before_capture is not None:
            self.before_capture()
        for opt in (self.gan.opt_G, self.gan.opt_D):  # gradients are allocated inside the graph's pool
            opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = self._compute()
        self.graph.replay()  # capturing records the step; replaying it trains
        return self.out
