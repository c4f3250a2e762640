"""Single-image training (paper Sec. 3.3): learn G: primitive -> image from ONE pair under random warps.

    D', G' = min_G max_D  E_{f ~ Ω} ℓ_total(f(x), f(y); D, G)                     (Eq. 5)

Each step draws ``batch_size`` warps f (TPS from Ω, or the crop+flip baseline) on the training
device, applies each to the encoded primitive x and the image y together, and takes one pix2pixHD
step: G on LSGAN + feature matching + reconstruction loss, then D on LSGAN. Adam (2e-4, β1 0.5),
16,000 iterations, learning rate constant for the first half then linearly to 0 (pix2pixHD
defaults kept by the paper).

Several pairs of one scene (frames of a clip, photos of one object, all the same size and with one
segmentation): each step first draws which pair, then its warp. ``init_from`` starts from a trained
model's G (and D, from a training checkpoint) instead of from scratch: fine-tuning on a neighbouring frame.

Training is three units: :mod:`.step` (one G and one D update: tensors in, losses out), this module (the
loop: warps, learning-rate schedule, logging, previews, Ctrl-C, progress) and :mod:`.checkpoints` (the whole
state written atomically to ``checkpoints/last.pt`` and restored exactly). A run directory (:mod:`.rundir`)
holds ``config.json``, ``metrics.jsonl``, ``samples/`` and the checkpoint; :func:`resume` continues it.

Example:
    >>> import deepsim_lite as ds
    >>> pair = ds.load_sample("chelsea", "seg_edges", max_side=192, multiple=4)
    >>> result = ds.fit(pair, ds.TrainConfig.preset("lesson"), run_dir="runs/cat")
    >>> image = result.model.generate(pair.primitive)       # (3, H, W) in [-1, 1]
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._io import in_notebook, png_bytes, write_json, write_png
from ..primitives.pairs import Pair
from ..primitives.primitive import Primitive, decode, encode
from . import augment, checkpoints, rundir
from .checkpoints import NonFiniteLossError, RunFinishedError, training_pairs
from .config import TrainConfig
from .graphed import GraphedStep, warped_batch
from .model import DeepSIMModel, render
from .nets import count_parameters
from .step import LOSS_TERMS, TrainStep, region
from .viz import make_grid
from .warps import WarpStream

__all__ = ["TrainResult", "Trainer", "fit", "resume", "lr_factor",
           # where they were before 0.7; they live in .checkpoints
           "training_pairs", "NonFiniteLossError", "RunFinishedError"]


@dataclass
class TrainResult:
    """What :func:`fit` returns: the trained model, the loss history, and where things were written."""

    model: DeepSIMModel
    history: list[dict] = field(default_factory=list)
    run_dir: Path | None = None
    steps: int = 0
    wall_time_s: float = 0.0
    steps_per_s: float = 0.0
    perceptual: str = ""
    interrupted: bool = False  # stopped by Ctrl-C: the checkpoint holds the last completed step
    previews: list[np.ndarray] = field(default_factory=list)  # (H, W, 3) uint8 training previews, in order


def lr_factor(step: int, total: int, decay_start: float) -> float:
    """1 for the first ``decay_start`` of training, then linearly to 0 at ``total``."""
    start = int(total * decay_start)
    if step < start:
        return 1.0
    return max(0.0, (total - step) / max(1, total - start))



@contextmanager
def _deferred_interrupt():
    """Turn the first Ctrl-C (SIGINT) into a flag the loop reads between steps, so an interrupted run
    stops at a step boundary and its checkpoint is exact; a second Ctrl-C interrupts at once.
    Outside the main thread signals cannot be caught: Ctrl-C then interrupts at once."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if flag["set"]:
            raise KeyboardInterrupt
        flag["set"] = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        # None: a handler installed from C, which Python cannot put back; Python's own is the next best
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _checked_pairs(pairs: Pair | Sequence[Pair], config: TrainConfig) -> list[Pair]:
    """The pairs of a run as a list, refused with one line if they cannot train together under ``config``."""
    pairs = [pairs] if isinstance(pairs, Pair) else list(pairs) if isinstance(pairs, (list, tuple)) else pairs
    if not isinstance(pairs, list) or not pairs:
        raise ValueError(f"expected a Pair (image + primitive) or a non-empty list of them, got "
                         f"{type(pairs).__name__}")
    for i, pair in enumerate(pairs):
        if not isinstance(pair, Pair):
            raise ValueError(f"expected a Pair (image + primitive), got {type(pair).__name__} at position {i}")
    pair = pairs[0]
    if pair.primitive.kind != config.primitive_kind:
        raise ValueError(f"pair has a {pair.primitive.kind!r} primitive but the config asks for "
                         f"{config.primitive_kind!r}")
    m = config.multiple
    if pair.size[0] % m or pair.size[1] % m or min(pair.size) < 2 * m:
        raise ValueError(f"pair is {pair.size[0]}x{pair.size[1]}; sides must be multiples of {m} and at least "
                         f"{2 * m} (load it with load_pair(..., multiple={m}))")
    for i, other in enumerate(pairs[1:], 1):
        p, q = pair.primitive, other.primitive
        if other.size != pair.size:
            raise ValueError(f"pair {i} is {other.size[0]}x{other.size[1]} but pair 0 is {pair.size[0]}x"
                             f"{pair.size[1]}; the pairs of one run must have one size (load_pairs does it)")
        if (q.kind, q.n_labels) != (p.kind, p.n_labels):
            raise ValueError(f"pair {i} has a {q.kind} primitive with {q.n_labels} labels but pair 0 a {p.kind} "
                             f"one with {p.n_labels}; label k must mean one region in every pair (one "
                             "segmentation for all: load_pairs or extract_primitives)")
    return pairs


class Trainer:
    """Trains one DeepSIM generator on one pair, or several pairs of one scene. ``fit()`` runs (or
    continues) it; see :func:`fit`.

    Building a trainer leaves the caller's random state alone: networks are initialised under a
    forked RNG seeded with ``config.seed`` (:class:`~.step.TrainStep`), warps (and which pair each step
    uses) come from the trainer's own generator. With one pair the warp stream is exactly that of earlier
    versions. ``gan`` is the step unit: G, D, their optimisers, one update of each per call.
    """

    def __init__(self, pairs: Pair | Sequence[Pair], config: TrainConfig, run_dir: str | os.PathLike | None = None,
                 init_from: DeepSIMModel | str | os.PathLike | None = None, reset_optimiser: bool = True) -> None:
        self.pairs = _checked_pairs(pairs, config)
        self.config = config
        self.pair = self.pairs[0]  # previews and the model's metadata use the first pair
        self.run_dir = Path(run_dir) if run_dir is not None else None
        start = (checkpoints.read_init(config, self.pair.primitive, init_from, reset_optimiser)
                 if init_from is not None else None)  # refused before any network or loss is built
        self.gan = TrainStep(config, self.pair.primitive.channels)
        self.device = self.gan.device
        self.init_from = checkpoints.load_init(self.gan, *start, reset_optimiser) if start is not None else None
        # the warp stream: drawn ahead in chunks from one generator, in the order steps use it
        self.warps = WarpStream(config, len(self.pairs), self.pair.size, torch.Generator().manual_seed(config.seed + 1),
                                self.device)
        self.cond = torch.stack([encode(p.primitive, self.device) for p in self.pairs])  # (N, C_p, H, W)
        self.real = torch.stack([p.image for p in self.pairs]).to(self.device)  # (N, 3, H, W)
        self.step = 0
        self.history: list[dict] = []
        self.previews: list[np.ndarray] = []
        self._preview_prim = self._held_out_warp()
        self._writer = checkpoints.BackgroundWriter()
        self.lr, self._graphed_step = config.lr, None  # the last step's learning rate; the graph step (.graphed)
        if config.cuda_graph and self.device.type != "cuda":
            warnings.warn(f"cuda_graph applies on a CUDA device; on {self.device.type} the step runs eagerly",
                          UserWarning, stacklevel=2)

    # -- one step of Eq. 5: warps drawn here, the update in TrainStep
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        which, grid = self.warps.next()
        return warped_batch(self.cond, self.real, which, grid, self.config.batch_size, self.config.padding)

    @property
    def graphed(self) -> GraphedStep | None:
        """The CUDA-graph step (``config.cuda_graph`` on a CUDA device), made at the first step, after a restored
        checkpoint, so that it captures the restored optimiser state."""
        if self._graphed_step is None and self.config.cuda_graph and self.device.type == "cuda":
            self._graphed_step = GraphedStep(self.gan, self.warps, self.cond, self.real, self.config.padding,
                                             before_capture=self._writer.wait)
        return self._graphed_step

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The scheduled learning rate, a fresh batch of warped pairs, one G and one D update.

        Args:
            batch: optional ``(cond (B, C_p, H, W), real (B, 3, H, W))`` from elsewhere (e.g. a
                DataLoader, as the benchmark's reference path does); default: warps sampled here.

        Returns the loss terms as device tensors (no host synchronisation).
        """
        c = self.config
        self.lr = c.lr * lr_factor(self.step, c.iterations, c.decay_start)
        self.gan.set_lr(self.lr)
        if self.graphed is not None and batch is None:
            losses = self.graphed()
        else:
            with region("augment"):
                cond, real = self._batch() if batch is None else (t.to(self.device, non_blocking=True) for t in batch)
            losses = self.gan(cond, real)
        self.step += 1
        return losses

    # -- the loop
    def fit(self, steps: int | None = None, progress: bool = True, preview: str = "auto") -> TrainResult:
        """Train until ``config.iterations`` (or ``steps`` more steps, for an interruptible lesson).

        Args:
            steps: stop after this many steps (a checkpoint is written); ``resume`` continues.
            progress: show a tqdm.auto bar with the losses.
            preview: ``"auto"`` (inline in a notebook, else files in the run dir), ``"inline"``,
                ``"files"`` or ``"none"``; only every ``config.preview_every`` steps.

        Ctrl-C stops after the current step, writes a checkpoint of it and returns with
        ``interrupted=True``. A non-finite loss raises :class:`NonFiniteLossError` and leaves the last
        good checkpoint in place.
        """
        if preview not in ("auto", "inline", "files", "none"):
            raise ValueError(f"preview must be auto, inline, files or none, got {preview!r}")
        if steps is not None and steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        c = self.config
        end = c.iterations if steps is None else min(c.iterations, self.step + steps)
        if self.run_dir is not None:
            self._prepare_run_dir()
        start_step, t0 = self.step, time.perf_counter()
        last_save = t0
        with self._progress_bar(progress) as bar, _deferred_interrupt() as interrupt, self._writer_drained():
            sums: torch.Tensor | None = None  # the loss terms summed on the device since the last row
            n_acc = 0
            while self.step < end and not interrupt["set"]:
                terms = torch.stack(list(self.train_step().values()))
                sums = terms if sums is None else sums + terms
                n_acc += 1
                bar.update(1)
                if self.step % c.log_every == 0 or self.step == end or interrupt["set"]:
                    self._log_row(sums, n_acc, t0, bar)
                    sums, n_acc = None, 0
                if c.preview_every and self.step % c.preview_every == 0:
                    self._preview(preview)
                due = self.step % c.checkpoint_every == 0 or (
                    c.checkpoint_seconds > 0 and time.perf_counter() - last_save >= c.checkpoint_seconds)
                if self.run_dir is not None and due and self.step < end:
                    checkpoints.check_finite(self.gan, self.step)
                    self.save_checkpoint(background=True)
                    last_save = time.perf_counter()
            if n_acc:  # Ctrl-C landed during a preview or checkpoint: log the steps since the last row
                self._log_row(sums, n_acc, t0, bar)
        wall = time.perf_counter() - t0
        interrupted = interrupt["set"] and self.step < end
        self._finish()
        done = self.step - start_step
        return TrainResult(self.model(), list(self.history), self.run_dir, self.step, wall,
                           done / wall if wall > 0 else 0.0, self.gan.perceptual, interrupted, list(self.previews))

    def _progress_bar(self, progress: bool):
        from tqdm.auto import tqdm

        # Redirected to a file (CI logs) a bar would write a line every 0.1 s; every 10 s is plenty there.
        quiet_log = not in_notebook() and not sys.stderr.isatty()
        return tqdm(total=self.config.iterations, initial=self.step, disable=not progress, desc="DeepSIM", leave=True,
                    mininterval=10.0 if quiet_log else 0.1)

    @contextmanager
    def _writer_drained(self):
        """Checkpoints written in the background are on disk when the loop ends, however it ends; a failed
        write raises (unless the loop is already raising)."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self._writer.wait()
            raise
        self._writer.wait()

    def _log_row(self, sums: torch.Tensor, n: int, t0: float, bar) -> None:
        means = (sums / n).tolist()  # the one host synchronisation of log_every steps
        row = {"step": self.step, **dict(zip(LOSS_TERMS, means, strict=True)),
               "lr": self.lr, "time_s": time.perf_counter() - t0}
        if not all(np.isfinite(v) for v in row.values()):
            bad = ", ".join(k for k, v in row.items() if not np.isfinite(v))
            kept = "; the last good checkpoint is kept" if self.run_dir is not None else ""
            raise NonFiniteLossError(f"training diverged: non-finite {bad} at step {self.step}{kept} "
                                     "(lower lr or check the inputs)")
        self.history.append(row)
        if self.run_dir is not None:
            rundir.append_metrics(self.run_dir, row)
        bar.set_postfix(G=f"{row['G_gan'] + row['G_feat'] + row['G_rec']:.3f}",
                        D=f"{row['D_real'] + row['D_fake']:.3f}")

    def _finish(self) -> None:
        """Checkpoint the last completed step; at the end of training also write model.pt."""
        if self.run_dir is None:
            return
        checkpoints.check_finite(self.gan, self.step)
        self.save_checkpoint()
        if self.step >= self.config.iterations:
            self.model().save(self.run_dir / "model.pt")

    def model(self) -> DeepSIMModel:
        """The current generator as a :class:`DeepSIMModel` (a copy: training can continue)."""
        gen = copy.deepcopy(self.gan.G).eval()
        p = self.pair.primitive
        info = {"perceptual": self.gan.perceptual, "steps": self.step, "name": self.pair.name}
        if len(self.pairs) > 1:
            info["pairs"] = [q.name for q in self.pairs]
        if self.init_from is not None:
            info["init_from"] = self.init_from
        return DeepSIMModel(gen, p.n_labels, p.has_edges, p.size, self.config, info)

    # -- run directory, checkpoints, previews
    def _prepare_run_dir(self) -> None:
        rundir.prepare(self.run_dir, self.step)
        gan = self.gan
        cfg = {"config": self.config.to_dict(), "perceptual": gan.perceptual,
               "reconstruction": {"loss": gan.perceptual, "weight": gan.rec_weight if gan.rec_loss else 0.0},
               "device": str(self.device), "amp_bf16": gan.amp, "torch": torch.__version__, "pair": self.pair.name,
               "pairs": [q.name for q in self.pairs], "init_from": self.init_from,
               "size": list(self.pair.size), "generator_params": count_parameters(self.gan.G),
               "discriminator_params": count_parameters(self.gan.D)}
        write_json(self.run_dir / "config.json", cfg)

    def _held_out_warp(self) -> Primitive:
        """A fixed TPS warp of the training primitive (never a training sample: its own seed)."""
        g = torch.Generator().manual_seed(10_000 + self.config.seed)
        grid = augment.sample_grids("tps", 1, *self.pair.size, generator=g, device=self.device)
        warped = augment.warp(self.cond[:1], grid, "nearest", "reflection")
        p = self.pair.primitive
        return decode(warped[0], p.n_labels, p.has_edges)

    def preview_image(self) -> np.ndarray:
        """``(H, W, 3)`` uint8: training pair, G on the training primitive, a held-out warp and G on it."""
        p = self.pair.primitive
        self.gan.G.eval()
        out = render(self.gan.G, torch.stack([self.cond[0], encode(self._preview_prim, self.device)]))
        self.gan.G.train()
        return make_grid([self.pair.image, p, out[0], self._preview_prim, out[1]],
                         ["image", "primitive", f"G(x) @ {self.step}", "held-out warp", "G(warp)"], tile_height=128)

    def _preview(self, mode: str) -> None:
        img = self.preview_image()
        self.previews.append(img)  # kept in the result (and in cache entries) even when not shown
        if mode == "none":
            return
        inline = mode == "inline" or (mode == "auto" and in_notebook())
        if inline:
            from IPython.display import Image, display

            display(Image(data=png_bytes(img)))
        if self.run_dir is not None and (mode == "files" or not inline):
            write_png(self.run_dir / "samples" / f"step_{self.step:06d}.png", img)

    def save_checkpoint(self, path: str | os.PathLike | None = None, background: bool = False) -> Path:
        """Write the full training state atomically (default ``<run_dir>/checkpoints/last.pt``).

        ``background``: copy the state (:func:`~.checkpoints.snapshot`) and write it in a thread while training
        goes on (the loop's checkpoints); otherwise wait for any such write, then write here and return.
        """
        if path is None:
            if self.run_dir is None:
                raise ValueError("no run directory: pass a path to save_checkpoint")
            path = self.run_dir / "checkpoints" / "last.pt"
        if background:
            self._writer.submit(path, checkpoints.snapshot(self.checkpoint_state()))
            return Path(path)
        self._writer.wait()
        return checkpoints.write(path, self.checkpoint_state())

    def checkpoint_state(self) -> dict:
        """The whole training state as tensors and plain types (:func:`~.checkpoints.training_state`)."""
        return checkpoints.training_state(self.step, self.config, self.pairs, self.gan, self.warps, self.history,
                                          self.init_from, self.model())

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, run_dir: str | os.PathLike | None = None,
                        device: str | None = None) -> Trainer:
        """Rebuild a trainer exactly as it was when ``path`` was written."""
        state, config, pairs = checkpoints.read(path, device)
        trainer = cls(pairs, config, run_dir)  # outside read's checks: its own errors (out of memory) say what they are
        trainer.step, trainer.history, trainer.init_from = checkpoints.restore(state, trainer.gan, trainer.warps,
                                                                               path)
        return trainer


def fit(pairs: Pair | Sequence[Pair], config: TrainConfig | None = None, run_dir: str | os.PathLike | None = None,
        progress: bool = True, preview: str = "auto", steps: int | None = None,
        init_from: DeepSIMModel | str | os.PathLike | None = None, reset_optimiser: bool = True) -> TrainResult:
    """Train a DeepSIM generator (see :class:`Trainer`). ``config`` defaults to the paper's.

    Args:
        pairs: one :class:`Pair`, or several of one scene (same size, one segmentation): each step draws
            one of them, then its warp.
        init_from: fine-tune: start from this model's generator (a :class:`DeepSIMModel`, ``model.pt``, a
            run directory or a training checkpoint; the last also gives the discriminator). It needs the
            config's architecture; ``config.iterations`` is the new, usually shorter, schedule.
        reset_optimiser: with ``init_from`` a training checkpoint, ``False`` also keeps its Adam moments.
    """
    return Trainer(pairs, config or TrainConfig(), run_dir, init_from, reset_optimiser).fit(steps, progress, preview)


def resume(run_dir: str | os.PathLike, progress: bool = True, preview: str = "auto",
           steps: int | None = None, device: str | None = None) -> TrainResult:
    """Continue an interrupted run from ``<run_dir>/checkpoints/last.pt``.

    Raises :class:`~.checkpoints.RunFinishedError` when the run already reached its last step (nothing is trained).
    """
    ckpt = checkpoints.resumable_checkpoint(run_dir)
    trainer = Trainer.from_checkpoint(ckpt, run_dir, device)
    before = _recorded_loss(run_dir)
    if before is not None and before != trainer.gan.perceptual:  # e.g. a run begun without weights, now here
        raise ValueError(f"{run_dir} trained with the reconstruction loss {before!r}; here it would continue with "
                         f"{trainer.gan.perceptual!r}, which is not the same run. Resume where the same weights are "
                         "(DEEPSIM_OFFLINE / TORCH_HOME), or start a new run")
    return trainer.fit(steps, progress, preview)


def _recorded_loss(run_dir: str | os.PathLike) -> str | None:
    """The reconstruction loss label the run's ``config.json`` recorded, if it has one."""
    try:
        return json.loads((Path(run_dir) / "config.json").read_text()).get("perceptual")
    except (OSError, ValueError, AttributeError):
        return None
