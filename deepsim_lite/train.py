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

A run directory (:mod:`~deepsim_lite.rundir`) holds ``config.json``, ``metrics.jsonl``, ``samples/`` and
``checkpoints/last.pt`` (the whole training state, written atomically); :func:`resume` continues it exactly.

Example:
    >>> import deepsim_lite as ds
    >>> pair = ds.load_sample("chelsea", "seg_edges", max_side=192, multiple=4)
    >>> result = ds.fit(pair, ds.TrainConfig.preset("lesson"), run_dir="runs/cat")
    >>> image = result.model.generate(pair.primitive)       # (3, H, W) in [-1, 1]
"""

from __future__ import annotations

import copy
import dataclasses
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

from . import augment, rundir
from ._io import in_notebook, png_bytes, write_json, write_png, write_torch
from .config import TrainConfig, amp_enabled, channels_last_enabled, select_device
from .data import Pair
from .losses import feature_matching_loss, lsgan_loss, perceptual_loss
from .model import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    DeepSIMModel,
    add_checksum,
    build_generator,
    read_checkpoint,
    render,
)
from .nets import MultiscaleDiscriminator, count_parameters, init_weights
from .primitives import Primitive, decode, describe_channels, encode
from .viz import make_grid

__all__ = ["TrainResult", "Trainer", "fit", "resume", "training_pairs", "NonFiniteLossError", "RunFinishedError"]


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss; the last good checkpoint is kept."""


class RunFinishedError(ValueError):
    """:func:`resume` was asked to continue a run that already reached its last step (``.step``)."""

    def __init__(self, run_dir: Path, step: int, note: str = "") -> None:
        self.run_dir, self.step = run_dir, step
        self.summary = f"the run in {run_dir} finished at step {step}{note}; nothing to resume"
        super().__init__(f"{self.summary}. To train it further, fine-tune it into a new run directory: "
                         f"fit(..., init_from={str(run_dir)!r})")

# Architecture fields a model must share with a config to start a run from its weights (``init_from``).
_ARCHITECTURE = ("ngf", "n_downsample", "n_blocks", "ndf", "n_layers_d", "num_d")


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


def _lr_factor(step: int, total: int, decay_start: float) -> float:
    """1 for the first ``decay_start`` of training, then linearly to 0 at ``total``."""
    start = int(total * decay_start)
    if step < start:
        return 1.0
    return max(0.0, (total - step) / max(1, total - start))


def _region(name: str):
    """A named span for ``torch.profiler`` (``benchmarks/step_profile.py`` splits a step's time by these);
    a few microseconds when no profiler runs."""
    return torch.profiler.record_function(f"deepsim::{name}")


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


class Trainer:
    """Trains one DeepSIM generator on one pair, or several pairs of one scene. ``fit()`` runs (or
    continues) it; see :func:`fit`.

    Building a trainer leaves the caller's random state alone: networks are initialised under a
    forked RNG seeded with ``config.seed``, warps (and which pair each step uses) come from the
    trainer's own generator. With one pair the warp stream is exactly that of earlier versions.
    """

    def __init__(self, pairs: Pair | Sequence[Pair], config: TrainConfig, run_dir: str | os.PathLike | None = None,
                 init_from: DeepSIMModel | str | os.PathLike | None = None, reset_optimiser: bool = True) -> None:
        self.pairs = self._check_pairs(pairs, config)
        self.config = config
        self.pair = self.pairs[0]  # previews and the model's metadata use the first pair
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = select_device(config.device)
        cuda_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.amp = amp_enabled(config, self.device.type, cuda_bf16)
        self.channels_last, why_not = channels_last_enabled(config, self.device.type)
        if why_not:
            warnings.warn(why_not, UserWarning, stacklevel=2)
        self._build_networks()
        self._build_optimisers()
        self.init_from = self._load_init(init_from, reset_optimiser) if init_from is not None else None
        self.rec_loss, self.perceptual, self.rec_weight = self._reconstruction_loss()
        self.G_step, self.D_step = self._maybe_compile()
        self.aug_gen = torch.Generator().manual_seed(config.seed + 1)
        self.cond = torch.stack([encode(p.primitive, self.device) for p in self.pairs])  # (N, C_p, H, W)
        self.real = torch.stack([p.image for p in self.pairs]).to(self.device)  # (N, 3, H, W)
        self.step = 0
        self.history: list[dict] = []
        self.previews: list[np.ndarray] = []
        self._preview_prim = self._held_out_warp()

    # -- set-up, one helper per concern
    @staticmethod
    def _check_pairs(pairs: Pair | Sequence[Pair], config: TrainConfig) -> list[Pair]:
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
                                 f"{pair.size[1]}; the pairs of one run must have one size (data.load_pairs does it)")
            if (q.kind, q.n_labels) != (p.kind, p.n_labels):
                raise ValueError(f"pair {i} has a {q.kind} primitive with {q.n_labels} labels but pair 0 a {p.kind} "
                                 f"one with {p.n_labels}; label k must mean one region in every pair (one "
                                 "segmentation for all: data.load_pairs or extract.extract_primitives)")
        return pairs

    def _build_networks(self) -> None:
        c, c_p = self.config, self.pair.primitive.channels
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(c.seed)
            self.G = init_weights(build_generator(c, c_p), c.init).to(self.device)
            d = MultiscaleDiscriminator(c_p + 3, c.ndf, c.n_layers_d, c.num_d)
            self.D = init_weights(d, c.init).to(self.device)
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)

    def _build_optimisers(self) -> None:
        c, cuda = self.config, self.device.type == "cuda"
        fused = cuda if c.fused_adam is None else c.fused_adam
        kw = {"fused": True} if fused else {"foreach": cuda}
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), **kw)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), **kw)

    def _load_init(self, source: DeepSIMModel | str | os.PathLike, reset_optimiser: bool) -> str:
        """Copy a trained model's G (and D and, unless ``reset_optimiser``, both optimisers, from a training
        checkpoint) into this run; -> a description of the source for config.json and the model's info."""
        if isinstance(source, DeepSIMModel):
            state = {"format": "model", "config": source.config.to_dict(), "n_labels": source.n_labels,
                     "has_edges": source.has_edges, "G": source.generator.state_dict()}
            what = f"model {source.info.get('name') or '(unnamed)'} at step {source.info.get('steps', '?')}"
        elif not isinstance(source, (str, os.PathLike)):
            raise ValueError(f"init_from must be a DeepSIMModel, a model file, a checkpoint or a run directory, got "
                             f"{type(source).__name__}")
        else:
            ckpt = Path(source) / "checkpoints" / "last.pt"  # a run directory: its checkpoint also holds D
            source = ckpt if Path(source).is_dir() and ckpt.is_file() else source
            raw = read_checkpoint(source)
            if raw["format"] == CHECKPOINT_FORMAT:
                pr = raw.get("pairs", [raw.get("pair", {})])[0]
                state = {**raw, "n_labels": pr.get("n_labels"), "has_edges": pr.get("edges") is not None}
            else:
                state = {**raw, "G": raw.get("generator")}
            what = f"{source} at step {raw.get('step', raw.get('info', {}).get('steps', '?'))}"
        try:
            src = TrainConfig.from_dict(state["config"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"init_from {what}: its configuration is missing or unreadable ({err})") from None
        compared = _ARCHITECTURE if "D" in state else _ARCHITECTURE[:3]  # a model file carries no D
        differ = [f"{k} {getattr(src, k)} (config: {getattr(self.config, k)})" for k in compared
                  if getattr(src, k) != getattr(self.config, k)]
        if differ:
            raise ValueError(f"init_from {what} has another architecture: {', '.join(differ)}; fine-tune with its "
                             "preset's networks (e.g. dataclasses.replace(model.config, iterations=...))")
        p = self.pair.primitive
        if (state["n_labels"], state["has_edges"]) != (p.n_labels, p.has_edges):
            raise ValueError(f"init_from {what} reads {describe_channels(state['n_labels'], state['has_edges'])}; "
                             f"the pairs have {describe_channels(p.n_labels, p.has_edges)}")
        if "D" not in state and not reset_optimiser:
            raise ValueError(f"init_from {what} is a trained model without optimiser state; keep "
                             "reset_optimiser=True or start from its training checkpoint (checkpoints/last.pt)")
        try:
            self.G.load_state_dict(state["G"])
            if "D" in state:
                self.D.load_state_dict(state["D"])
                if not reset_optimiser:
                    self._load_moments(state)
        except KeyError as err:
            raise ValueError(f"init_from {what} has no {err.args[0]!r} entry") from None
        except (RuntimeError, TypeError, ValueError) as err:
            raise ValueError(f"init_from {what} does not fit this run ({str(err).splitlines()[0][:100]})") from None
        return what

    def _load_moments(self, state: dict) -> None:
        """The source's Adam moments (and step counts), with this run's own settings: ``load_state_dict``
        would also bring the source's betas, eps and kernel choice (fused / foreach) along."""
        for opt, key in ((self.opt_G, "opt_G"), (self.opt_D, "opt_D")):
            own = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
            opt.load_state_dict(state[key])
            for group, settings in zip(opt.param_groups, own, strict=True):
                group.update(settings)

    def _reconstruction_loss(self) -> tuple[torch.nn.Module | None, str, float]:
        """(loss module or None, its label, its weight): VGG19 weighted by ``lambda_vgg``, or the pixel
        L1 that replaces it without weights, weighted by ``lambda_fallback_l1``."""
        c = self.config
        rec, label = perceptual_loss(c.use_vgg_loss, c.vgg_fallback)
        weight = c.lambda_vgg if label.startswith("vgg19") else c.lambda_fallback_l1
        return (rec.to(self.device) if rec is not None else None), label, weight

    def _maybe_compile(self):
        c = self.config
        if not c.compile:
            return self.G, self.D
        return torch.compile(self.G, mode=c.compile_mode), torch.compile(self.D, mode=c.compile_mode)

    # -- one step of Eq. 5
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        real, cond, batch = self.real, self.cond, c.batch_size
        if len(self.pairs) > 1:  # which pair each warp transforms, drawn from the warp stream first
            which = torch.randint(len(self.pairs), (c.batch_size,), generator=self.aug_gen).to(self.device)
            real, cond, batch = real[which], cond[which], None
        real, cond = augment.augment_pair(real, cond, c.augmentation, batch=batch,
                                          generator=self.aug_gen, omega=c.omega, crop=c.crop, padding=c.padding,
                                          flip=c.flip)
        return cond, real

    def _set_lr(self) -> None:
        factor = _lr_factor(self.step, self.config.iterations, self.config.decay_start)
        for opt in (self.opt_G, self.opt_D):
            for g in opt.param_groups:
                g["lr"] = self.config.lr * factor

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One generator and one discriminator update on a fresh batch of warped pairs.

        Args:
            batch: optional ``(cond (B, C_p, H, W), real (B, 3, H, W))`` from elsewhere (e.g. a
                DataLoader, as the benchmark's reference path does); default: warps sampled here.

        Returns the loss terms as device tensors (no host synchronisation).
        """
        c = self.config
        self._set_lr()
        with _region("augment"):
            cond, real = self._batch() if batch is None else (t.to(self.device, non_blocking=True) for t in batch)
            if self.channels_last:
                cond = cond.contiguous(memory_format=torch.channels_last)
                real = real.contiguous(memory_format=torch.channels_last)
        zero = torch.zeros((), device=self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            with _region("G forward"):
                fake = self.G_step(cond)
            with _region("D forward"):
                pred_fake = self.D_step(torch.cat([cond, fake], 1))
                pred_real = self.D_step(torch.cat([cond, real], 1))
            with _region("losses"):
                loss_g_gan = lsgan_loss(pred_fake, True)
                loss_g_feat = feature_matching_loss(pred_fake, pred_real) * c.lambda_feat
                loss_g_rec = self.rec_loss(fake.float(), real) * self.rec_weight if self.rec_loss is not None else zero
                loss_g_l1 = (fake.float() - real).abs().mean() * c.lambda_l1 if c.lambda_l1 else zero
                loss_g = loss_g_gan + loss_g_feat + loss_g_rec + loss_g_l1
        with _region("G backward"):
            self.opt_G.zero_grad(set_to_none=True)
            loss_g.backward()
        with _region("optimiser"):
            self.opt_G.step()

        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            with _region("D forward"):
                pred_fake_d = self.D_step(torch.cat([cond, fake.detach()], 1))
            with _region("losses"):
                loss_d_fake = lsgan_loss(pred_fake_d, False)
                loss_d_real = lsgan_loss([[s[-1]] for s in pred_real], True)
                loss_d = 0.5 * (loss_d_fake + loss_d_real)
        with _region("D backward"):
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.backward()
        with _region("optimiser"):
            self.opt_D.step()
        self.step += 1
        return {"G_gan": loss_g_gan.detach(), "G_feat": loss_g_feat.detach(), "G_rec": loss_g_rec.detach(),
                "G_l1": loss_g_l1.detach(), "D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach()}

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
        with self._progress_bar(progress) as bar, _deferred_interrupt() as interrupt:
            sums: dict[str, torch.Tensor] = {}
            n_acc = 0
            while self.step < end and not interrupt["set"]:
                for k, v in self.train_step().items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                n_acc += 1
                bar.update(1)
                if self.step % c.log_every == 0 or self.step == end or interrupt["set"]:
                    self._log_row(sums, n_acc, t0, bar)
                    sums, n_acc = {}, 0
                if c.preview_every and self.step % c.preview_every == 0:
                    self._preview(preview)
                if self.run_dir is not None and self.step % c.checkpoint_every == 0 and self.step < end:
                    self._check_finite()
                    self.save_checkpoint()
            if n_acc:  # Ctrl-C landed during a preview or checkpoint: log the steps since the last row
                self._log_row(sums, n_acc, t0, bar)
        wall = time.perf_counter() - t0
        interrupted = interrupt["set"] and self.step < end
        self._finish()
        done = self.step - start_step
        return TrainResult(self.model(), list(self.history), self.run_dir, self.step, wall,
                           done / wall if wall > 0 else 0.0, self.perceptual, interrupted, list(self.previews))

    def _progress_bar(self, progress: bool):
        from tqdm.auto import tqdm

        # Redirected to a file (CI logs) a bar would write a line every 0.1 s; every 10 s is plenty there.
        quiet_log = not in_notebook() and not sys.stderr.isatty()
        return tqdm(total=self.config.iterations, initial=self.step, disable=not progress, desc="DeepSIM", leave=True,
                    mininterval=10.0 if quiet_log else 0.1)

    def _log_row(self, sums: dict[str, torch.Tensor], n: int, t0: float, bar) -> None:
        row = {"step": self.step, **{k: float(v) / n for k, v in sums.items()},
               "lr": self.opt_G.param_groups[0]["lr"], "time_s": time.perf_counter() - t0}
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

    def _check_finite(self) -> None:
        """Refuse to checkpoint a model whose weights went NaN or infinite."""
        for name, net in (("generator", self.G), ("discriminator", self.D)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                raise NonFiniteLossError(f"training diverged: the {name} has non-finite weights at step {self.step}; "
                                         "the last good checkpoint is kept (lower lr or check the inputs)")

    def _finish(self) -> None:
        """Checkpoint the last completed step; at the end of training also write model.pt."""
        if self.run_dir is None:
            return
        self._check_finite()
        self.save_checkpoint()
        if self.step >= self.config.iterations:
            self.model().save(self.run_dir / "model.pt")

    def model(self) -> DeepSIMModel:
        """The current generator as a :class:`DeepSIMModel` (a copy: training can continue)."""
        gen = copy.deepcopy(self.G).eval()
        p = self.pair.primitive
        info = {"perceptual": self.perceptual, "steps": self.step, "name": self.pair.name}
        if len(self.pairs) > 1:
            info["pairs"] = [q.name for q in self.pairs]
        if self.init_from is not None:
            info["init_from"] = self.init_from
        return DeepSIMModel(gen, p.n_labels, p.has_edges, p.size, self.config, info)

    # -- run directory, checkpoints, previews
    def _prepare_run_dir(self) -> None:
        rundir.prepare(self.run_dir, self.step)
        cfg = {"config": self.config.to_dict(), "perceptual": self.perceptual,
               "reconstruction": {"loss": self.perceptual, "weight": self.rec_weight if self.rec_loss else 0.0},
               "device": str(self.device), "amp_bf16": self.amp, "torch": torch.__version__, "pair": self.pair.name,
               "pairs": [q.name for q in self.pairs], "init_from": self.init_from,
               "size": list(self.pair.size), "generator_params": count_parameters(self.G),
               "discriminator_params": count_parameters(self.D)}
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
        self.G.eval()
        out = render(self.G, torch.stack([self.cond[0], encode(self._preview_prim, self.device)]))
        self.G.train()
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

    def checkpoint_state(self) -> dict:
        """The whole training state as tensors and plain types (safe to load with ``weights_only``)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "config": self.config.to_dict(),
            "pairs": [{"image": q.image.cpu(), "labels": q.primitive.labels, "edges": q.primitive.edges,
                       "n_labels": q.primitive.n_labels, "name": q.name} for q in self.pairs],
            "init_from": self.init_from,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "rng": {"aug": self.aug_gen.get_state()},
            "history": self.history,
            "model": self.model().state(),
        }

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write the full training state atomically (default ``<run_dir>/checkpoints/last.pt``)."""
        if path is None:
            if self.run_dir is None:
                raise ValueError("no run directory: pass a path to save_checkpoint")
            path = self.run_dir / "checkpoints" / "last.pt"
        write_torch(path, add_checksum(self.checkpoint_state()))
        return Path(path)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, run_dir: str | os.PathLike | None = None,
                        device: str | None = None) -> Trainer:
        """Rebuild a trainer exactly as it was when ``path`` was written."""
        state = read_checkpoint(path)
        if state["format"] != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} holds a trained model only, not a training checkpoint; it cannot be resumed")
        try:
            config = TrainConfig.from_dict(state["config"])
            if device is not None:
                config = dataclasses.replace(config, device=device)
            pairs = _pairs_of(state)
        except (KeyError, TypeError) as err:
            what = f"has no {err.args[0]!r} entry" if isinstance(err, KeyError) else f"is malformed ({err})"
            raise ValueError(f"{path}: the checkpoint {what}; it cannot be resumed") from None
        trainer = cls(pairs, config, run_dir)  # outside the try: its own errors (e.g. out of memory) say what they are
        try:
            trainer.G.load_state_dict(state["G"])
            trainer.D.load_state_dict(state["D"])
            trainer.opt_G.load_state_dict(state["opt_G"])
            trainer.opt_D.load_state_dict(state["opt_D"])
            trainer.aug_gen.set_state(state["rng"]["aug"])
            trainer.step = int(state["step"])
            trainer.history = list(state["history"])
            trainer.init_from = state.get("init_from")
        except KeyError as err:
            raise ValueError(f"{path}: the checkpoint has no {err.args[0]!r} entry; it cannot be resumed") from None
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"{path}: the checkpoint does not fit its config ({str(err).splitlines()[0][:100]})"
                             ) from None
        return trainer


def _pairs_of(state: dict) -> list[Pair]:
    return [Pair(pr["image"], Primitive(pr["labels"], pr["edges"], pr["n_labels"]), pr["name"])
            for pr in (state["pairs"] if "pairs" in state else [state["pair"]])]  # "pair": before 0.6


def training_pairs(path: str | os.PathLike) -> list[Pair]:
    """The pairs a run trained on, from its training checkpoint (a run directory or ``checkpoints/last.pt``);
    a model file does not keep them."""
    p = Path(path)
    state = read_checkpoint(p / "checkpoints" / "last.pt" if p.is_dir() and (p / "checkpoints").is_dir() else p)
    if state["format"] != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is a trained model without its training pairs; give its run directory or "
                         "checkpoints/last.pt")
    try:
        return _pairs_of(state)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the checkpoint's training pairs are unreadable ({err})") from None


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

    Raises :class:`RunFinishedError` when the run already reached its last step (nothing is trained).
    """
    ckpt = Path(run_dir) / "checkpoints" / "last.pt"
    if not ckpt.exists():
        raise FileNotFoundError(f"{ckpt} does not exist; nothing to resume in {run_dir}")
    state = read_checkpoint(ckpt)
    step, total = int(state.get("step", 0)), int(state.get("config", {}).get("iterations", 0) or 0)
    if total and step >= total:
        model_pt = Path(run_dir) / "model.pt"
        wrote = ""
        if not model_pt.is_file() and isinstance(state.get("model"), dict):  # killed between the two last writes
            DeepSIMModel.from_state(state["model"]).save(model_pt)
            wrote = " (wrote its missing model.pt)"
        raise RunFinishedError(Path(run_dir), step, f" of {total}{wrote}")
    return Trainer.from_checkpoint(ckpt, run_dir, device).fit(steps, progress, preview)
