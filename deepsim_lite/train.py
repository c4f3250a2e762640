"""Single-image training (paper Sec. 3.3): learn G: primitive -> image from ONE pair under random warps.

    D', G' = min_G max_D  E_{f ~ Ω} ℓ_total(f(x), f(y); D, G)                     (Eq. 5)

Each step draws ``batch_size`` warps f (TPS from Ω, or the crop+flip baseline) on the training
device, applies each to the encoded primitive x and the image y together, and takes one pix2pixHD
step: G on LSGAN + feature matching + perceptual loss, then D on LSGAN. Adam (2e-4, β1 0.5),
16,000 iterations, learning rate constant for the first half then linearly to 0 (pix2pixHD
defaults kept by the paper).

Example:
    >>> import deepsim_lite as ds
    >>> pair = ds.load_sample("chelsea", "seg_edges", max_side=128)
    >>> result = ds.fit(pair, ds.TrainConfig.preset("lesson"), run_dir="runs/cat")
    >>> image = result.model.generate(pair.primitive)       # (3, H, W) in [-1, 1]
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import sys
import time
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import augment
from ._image import to_uint8
from .augment import CropFlip
from .data import Pair, SizeAdjustedWarning, atomic_write_bytes, load_sample, resize_pair, save_image
from .losses import feature_matching_loss, lsgan_loss, perceptual_loss
from .nets import GlobalGenerator, MultiscaleDiscriminator, count_parameters
from .primitives import Primitive, decode, encode
from .tps import Omega
from .viz import make_grid

__all__ = ["TrainConfig", "PRESETS", "DeepSIMModel", "TrainResult", "Trainer", "fit", "resume", "load_model",
           "select_device", "cached_model", "cache_dir"]

CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Defaults are the paper's (pix2pixHD + 16k iterations).

    Override with ``dataclasses.replace`` or ``TrainConfig.preset("lesson", iterations=300)``.
    """

    # --- primitive and augmentation (Sec. 3.2-3.4)
    primitive: str = "seg_edges"  # "edges" | "seg" | "seg_edges" (super-primitive)
    n_segments: int = 8  # label bound of the unsupervised segmentation
    augmentation: str = "tps"  # "tps" (paper) | "crop_flip" (pix2pixHD-SIA baseline) | "none"
    omega: Omega = Omega()  # the TPS warp distribution: 4x4 control points, L = 10
    crop: CropFlip = CropFlip()  # the baseline's crop range and flip probability
    padding: str = "reflection"  # what warps sample outside the image
    max_side: int | None = None  # downscale the training image to this longer side (None: as given)
    # --- networks (pix2pixHD names: ngf/ndf = generator/discriminator base channels)
    ngf: int = 64
    n_downsample: int = 4  # H and W must be multiples of 2**n_downsample
    n_blocks: int = 9
    ndf: int = 64
    n_layers_d: int = 3
    num_d: int = 2
    # --- losses (Eq. 1-3)
    lambda_feat: float = 10.0  # discriminator feature matching
    lambda_vgg: float = 10.0  # perceptual loss (or its L1 replacement without VGG weights)
    lambda_l1: float = 0.0  # optional extra pixel L1 reconstruction term
    use_vgg_loss: bool = True
    vgg_fallback: str = "drop"  # without cached ImageNet VGG19: "drop" the term or use "l1"
    # --- optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1
    iterations: int = 16000
    decay_start: float = 0.5  # fraction of iterations after which lr decays linearly to 0
    seed: int = 0
    # --- engineering (no effect on the maths)
    device: str = "auto"  # "auto" (cuda > mps > cpu) | "cuda" | "mps" | "cpu"
    amp: bool = True  # bf16 autocast, CUDA only
    compile: bool = False  # torch.compile generator and discriminator
    compile_mode: str = "default"  # torch.compile mode: "default" | "reduce-overhead" (CUDA graphs) | "max-autotune"
    channels_last: bool | None = None  # NHWC memory format; None: off (see Trainer: unsafe at batch 1)
    fused_adam: bool | None = None  # fused Adam kernel; None: on CUDA only (foreach elsewhere)
    log_every: int = 25  # losses are synchronised to the host only every N steps
    preview_every: int = 0  # 0: no previews during training
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        from .primitives import KINDS

        if self.compile_mode not in ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"):
            raise ValueError(f"unknown compile_mode {self.compile_mode!r}")
        if self.primitive not in KINDS:
            raise ValueError(f"unknown primitive {self.primitive!r}; choose one of {', '.join(KINDS)}")
        if self.augmentation not in augment.MODES:
            raise ValueError(f"unknown augmentation {self.augmentation!r}; choose one of {', '.join(augment.MODES)}")
        if self.vgg_fallback not in ("drop", "l1"):
            raise ValueError(f"vgg_fallback must be 'drop' or 'l1', got {self.vgg_fallback!r}")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError("iterations and batch_size must be >= 1")
        if self.device not in ("auto", "cuda", "mps", "cpu"):
            raise ValueError(f"device must be auto, cuda, mps or cpu, got {self.device!r}")

    @classmethod
    def preset(cls, name: str, **overrides) -> TrainConfig:
        """A named preset (:data:`PRESETS`) with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)

    @property
    def multiple(self) -> int:
        return 2**self.n_downsample

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["omega"] = Omega(**d["omega"])
        d["crop"] = CropFlip(**d["crop"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


PRESETS: dict[str, TrainConfig] = {
    # The paper: pix2pixHD global generator and discriminator, 16k iterations (a GPU job).
    "paper": TrainConfig(),
    # Trains a recognisable result on a 2-core CPU in about a minute (~13 steps/s at 84x128):
    # a 128-pixel image, a generator with 2 downsamplings and 4 residual blocks (ngf 24), a slimmer
    # discriminator, a higher learning rate, and pixel L1 in place of VGG when its weights are missing.
    "lesson": TrainConfig(
        max_side=128, ngf=24, n_downsample=2, n_blocks=4, ndf=24, n_layers_d=3, num_d=2,
        vgg_fallback="l1", iterations=800, lr=1e-3, checkpoint_every=200,
    ),
}


def select_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else Apple MPS, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use device='auto' or 'cpu'")
    return torch.device(name)


# ----------------------------------------------------------------------------------------------
# The trained model


class DeepSIMModel:
    """A trained generator with what it needs to read a primitive: label count, edge channel, size.

    ``generate`` is what a user calls after editing a primitive.
    """

    def __init__(self, generator: GlobalGenerator, n_labels: int, has_edges: bool, size: tuple[int, int],
                 config: TrainConfig, info: dict | None = None) -> None:
        self.generator = generator.eval()
        self.n_labels = n_labels
        self.has_edges = has_edges
        self.size = tuple(size)
        self.config = config
        self.info = info or {}

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: torch.device | str) -> DeepSIMModel:
        self.generator.to(device)
        return self

    def check_primitive(self, primitive: Primitive) -> None:
        """Raise a one-line ``ValueError`` if ``primitive`` cannot be fed to this model."""
        if not isinstance(primitive, Primitive):
            raise ValueError(f"expected a Primitive, got {type(primitive).__name__}")
        if primitive.n_labels != self.n_labels or primitive.has_edges != self.has_edges:
            want = f"{self.n_labels} labels" + (" + edges" if self.has_edges else "")
            got = f"{primitive.n_labels} labels" + (" + edges" if primitive.has_edges else "")
            raise ValueError(f"the model was trained on a {want} primitive ({self.config.primitive}); got {got}")

    @torch.no_grad()
    def generate(self, primitive: Primitive | torch.Tensor) -> torch.Tensor:
        """Render an (edited) primitive: -> ``(3, H, W)`` float in [-1, 1] at the trained size.

        Args:
            primitive: a :class:`Primitive` of the trained kind and label count, or its encoding
                ``(C_p, H, W)`` / ``(N, C_p, H, W)`` (then the output is ``(N, 3, H, W)``). Another
                size is resized to the trained one with a :class:`SizeAdjustedWarning`.
        """
        batched = False
        if isinstance(primitive, torch.Tensor):
            x = primitive
            batched = x.ndim == 4
            x = x if batched else x[None]
            expected = self.n_labels + int(self.has_edges)
            if x.shape[1] != expected:
                raise ValueError(f"encoded primitive has {x.shape[1]} channels; the model expects {expected}")
            if tuple(x.shape[-2:]) != self.size:
                x = torch.stack([encode(self._fit(decode(p, self.n_labels, self.has_edges))) for p in x])
        else:
            self.check_primitive(primitive)
            x = encode(self._fit(primitive))[None]
        out = self.generator(x.to(self.device, torch.float32)).float().clamp(-1, 1)
        return out if batched else out[0]

    def _fit(self, primitive: Primitive) -> Primitive:
        if primitive.size == self.size:
            return primitive
        warnings.warn(f"resized primitive from {primitive.size[0]}x{primitive.size[1]} to the trained size "
                      f"{self.size[0]}x{self.size[1]} (HxW)", SizeAdjustedWarning, stacklevel=3)
        return resize_pair(None, primitive, self.size)[1]

    def state(self) -> dict:
        gen = getattr(self.generator, "_orig_mod", self.generator)
        return {"kind": "deepsim-lite model", "version": CHECKPOINT_VERSION, "config": self.config.to_dict(),
                "n_labels": self.n_labels, "has_edges": self.has_edges, "size": list(self.size),
                "generator": gen.state_dict(), "info": self.info}

    def save(self, path: str | os.PathLike) -> None:
        """Write the generator and its metadata atomically (``load_model`` reads it back)."""
        _atomic_torch_save(self.state(), path)

    @classmethod
    def from_state(cls, state: dict, device: torch.device | str | None = None) -> DeepSIMModel:
        config = TrainConfig.from_dict(state["config"])
        gen = _build_generator(config, state["n_labels"] + int(state["has_edges"]))
        gen.load_state_dict(state["generator"])
        model = cls(gen, state["n_labels"], state["has_edges"], tuple(state["size"]), config, state.get("info"))
        return model.to(device or "cpu")


def _build_generator(config: TrainConfig, input_nc: int) -> GlobalGenerator:
    return GlobalGenerator(input_nc, 3, config.ngf, config.n_downsample, config.n_blocks)


def _atomic_torch_save(obj: dict, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _load_checkpoint(path: str | os.PathLike) -> dict:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {p} does not exist; check the path")
    if p.is_dir():
        for candidate in (p / "model.pt", p / "checkpoints" / "last.pt"):
            if candidate.is_file():
                return _load_checkpoint(candidate)
        raise FileNotFoundError(f"{p} holds no model.pt or checkpoints/last.pt")
    try:
        state = torch.load(p, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise ValueError(f"{p} is not a readable checkpoint (truncated or corrupt: "
                         f"{str(err).splitlines()[0][:80]}); retrain or pick another file") from None
    if not isinstance(state, dict) or state.get("kind") not in ("deepsim-lite model", "deepsim-lite checkpoint"):
        raise ValueError(f"{p} is not a deepsim-lite checkpoint")
    return state


def load_model(path: str | os.PathLike, device: torch.device | str | None = None) -> DeepSIMModel:
    """Load a trained model from ``model.pt``, a training checkpoint, or a run directory."""
    state = _load_checkpoint(path)
    if state["kind"] == "deepsim-lite checkpoint":
        state = state["model"]
    return DeepSIMModel.from_state(state, device)


# ----------------------------------------------------------------------------------------------
# Training


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
    interrupted: bool = False


def _lr_factor(step: int, total: int, decay_start: float) -> float:
    """1 for the first ``decay_start`` of training, then linearly to 0 at ``total``."""
    start = int(total * decay_start)
    if step < start:
        return 1.0
    return max(0.0, (total - step) / max(1, total - start))


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


class Trainer:
    """Trains one DeepSIM generator on one pair. ``fit()`` runs (or continues) it; see :func:`fit`."""

    def __init__(self, pair: Pair, config: TrainConfig, run_dir: str | os.PathLike | None = None) -> None:
        if pair.primitive.kind != config.primitive:
            raise ValueError(f"pair has a {pair.primitive.kind!r} primitive but the config asks for "
                             f"{config.primitive!r}")
        m = config.multiple
        if pair.size[0] % m or pair.size[1] % m:
            raise ValueError(f"pair is {pair.size[0]}x{pair.size[1]}; sides must be multiples of {m} "
                             f"(load it with load_pair(..., multiple={m}))")
        self.config = config
        self.pair = pair
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = select_device(config.device)
        cuda = self.device.type == "cuda"
        self.amp = config.amp and cuda and torch.cuda.is_bf16_supported()
        self.channels_last = bool(config.channels_last)
        if self.channels_last and config.batch_size == 1:
            # torch 2.14 (CPU, seen in tests/test_train.py) returns wrong conv-weight gradients for
            # Conv2d -> InstanceNorm2d in channels_last when the batch has one image; unproven elsewhere.
            warnings.warn("channels_last is disabled at batch_size 1: instance-norm backward gives wrong gradients "
                          "in that layout (torch 2.14); use batch_size >= 2 to enable it", UserWarning, stacklevel=2)
            self.channels_last = False
        fused = cuda if config.fused_adam is None else config.fused_adam
        torch.manual_seed(config.seed)
        prim = pair.primitive
        c_p = prim.channels
        self.G = _build_generator(config, c_p).to(self.device)
        self.D = MultiscaleDiscriminator(c_p + 3, config.ndf, config.n_layers_d, config.num_d).to(self.device)
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        betas = (config.beta1, config.beta2)
        opt_kw = {"fused": True} if fused else {"foreach": cuda}
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=betas, **opt_kw)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=config.lr, betas=betas, **opt_kw)
        rec, self.perceptual = perceptual_loss(config.use_vgg_loss, config.vgg_fallback)
        self.rec_loss = rec.to(self.device) if rec is not None else None
        self.G_step = torch.compile(self.G, mode=config.compile_mode) if config.compile else self.G
        self.D_step = torch.compile(self.D, mode=config.compile_mode) if config.compile else self.D
        self.aug_gen = torch.Generator().manual_seed(config.seed + 1)
        self.cond = encode(prim, self.device)[None]  # (1, C_p, H, W)
        self.real = pair.image.to(self.device)[None]  # (1, 3, H, W)
        self.step = 0
        self.history: list[dict] = []
        self._preview_prim = self._held_out_warp()

    # -- one step of Eq. 5
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        real, cond = augment.augment_pair(self.real, self.cond, c.augmentation, batch=c.batch_size,
                                          generator=self.aug_gen, omega=c.omega, crop=c.crop, padding=c.padding)
        return cond, real

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One generator and one discriminator update on a fresh batch of warped pairs.

        Args:
            batch: optional ``(cond (B, C_p, H, W), real (B, 3, H, W))`` from elsewhere (e.g. a
                DataLoader, as the benchmark's reference path does); default: warps sampled here.

        Returns the loss terms as device tensors (no host synchronisation).
        """
        c = self.config
        factor = _lr_factor(self.step, c.iterations, c.decay_start)
        for opt in (self.opt_G, self.opt_D):
            for g in opt.param_groups:
                g["lr"] = c.lr * factor
        cond, real = self._batch() if batch is None else (t.to(self.device, non_blocking=True) for t in batch)
        if self.channels_last:
            cond = cond.contiguous(memory_format=torch.channels_last)
            real = real.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            fake = self.G_step(cond)
            pred_fake = self.D_step(torch.cat([cond, fake], 1))
            pred_real = self.D_step(torch.cat([cond, real], 1))
            loss_g_gan = lsgan_loss(pred_fake, True)
            loss_g_feat = feature_matching_loss(pred_fake, pred_real) * c.lambda_feat
            loss_g_rec = (self.rec_loss(fake.float(), real) * c.lambda_vgg if self.rec_loss is not None
                          else fake.new_zeros((), dtype=torch.float32))
            loss_g_l1 = ((fake.float() - real).abs().mean() * c.lambda_l1 if c.lambda_l1
                         else fake.new_zeros((), dtype=torch.float32))
            loss_g = loss_g_gan + loss_g_feat + loss_g_rec + loss_g_l1
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()

        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            pred_fake_d = self.D_step(torch.cat([cond, fake.detach()], 1))
            loss_d_fake = lsgan_loss(pred_fake_d, False)
            loss_d_real = lsgan_loss([[s[-1]] for s in pred_real], True)
            loss_d = 0.5 * (loss_d_fake + loss_d_real)
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
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

        Ctrl-C (KeyboardInterrupt) writes a checkpoint and returns the model trained so far.
        """
        from tqdm.auto import tqdm

        c = self.config
        end = c.iterations if steps is None else min(c.iterations, self.step + steps)
        if self.run_dir is not None:
            self._prepare_run_dir()
        # Redirected to a file (CI logs) a bar would write a line every 0.1 s; every 10 s is plenty there.
        quiet_log = not _in_notebook() and not sys.stderr.isatty()
        bar = tqdm(total=c.iterations, initial=self.step, disable=not progress, desc="DeepSIM", leave=True,
                   mininterval=10.0 if quiet_log else 0.1)
        sums: dict[str, torch.Tensor] = {}
        n_acc, t0, start_step = 0, time.perf_counter(), self.step
        interrupted = False
        try:
            while self.step < end:
                losses = self.train_step()
                for k, v in losses.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                n_acc += 1
                bar.update(1)
                if self.step % c.log_every == 0 or self.step == end:
                    row = {"step": self.step, **{k: float(v) / n_acc for k, v in sums.items()},
                           "lr": self.opt_G.param_groups[0]["lr"], "time_s": time.perf_counter() - t0}
                    self.history.append(row)
                    self._log(row)
                    bar.set_postfix(G=f"{row['G_gan'] + row['G_feat'] + row['G_rec']:.3f}",
                                    D=f"{row['D_real'] + row['D_fake']:.3f}")
                    sums, n_acc = {}, 0
                if c.preview_every and self.step % c.preview_every == 0:
                    self._preview(preview)
                if self.run_dir is not None and self.step % c.checkpoint_every == 0 and self.step < end:
                    self.save_checkpoint()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
        wall = time.perf_counter() - t0
        if self.run_dir is not None:
            self.save_checkpoint()
            if self.step >= c.iterations:
                self.model().save(self.run_dir / "model.pt")
        done = self.step - start_step
        return TrainResult(self.model(), list(self.history), self.run_dir, self.step, wall,
                           done / wall if wall > 0 else 0.0, self.perceptual, interrupted)

    def model(self) -> DeepSIMModel:
        """The current generator as a :class:`DeepSIMModel` (a copy: training can continue)."""
        import copy

        gen = copy.deepcopy(getattr(self.G, "_orig_mod", self.G)).eval()
        p = self.pair.primitive
        info = {"perceptual": self.perceptual, "steps": self.step, "name": self.pair.name}
        return DeepSIMModel(gen, p.n_labels, p.has_edges, p.size, self.config, info)

    # -- run directory, checkpoints, previews
    def _prepare_run_dir(self) -> None:
        rd = self.run_dir
        try:
            (rd / "checkpoints").mkdir(parents=True, exist_ok=True)
            (rd / "samples").mkdir(exist_ok=True)
        except (PermissionError, FileExistsError, NotADirectoryError) as err:
            raise PermissionError(f"cannot create the run directory {rd}: {err.strerror or err}") from None
        if not os.access(rd, os.W_OK):
            raise PermissionError(f"run directory {rd} is not writable; pick another --out")
        cfg = {"config": self.config.to_dict(), "perceptual": self.perceptual, "device": str(self.device),
               "amp_bf16": self.amp, "torch": torch.__version__, "pair": self.pair.name,
               "size": list(self.pair.size), "generator_params": count_parameters(self.G),
               "discriminator_params": count_parameters(self.D)}
        atomic_write_bytes(rd / "config.json", (json.dumps(cfg, indent=2) + "\n").encode())

    def _log(self, row: dict) -> None:
        if self.run_dir is not None:
            with open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    def _held_out_warp(self) -> Primitive:
        """A fixed TPS warp of the training primitive (never a training sample: its own seed)."""
        g = torch.Generator().manual_seed(10_000 + self.config.seed)
        grid = augment.sample_grids("tps", 1, *self.pair.size, generator=g, device=self.device)
        warped = augment.warp(self.cond, grid, "nearest", "reflection")
        p = self.pair.primitive
        return decode(warped[0], p.n_labels, p.has_edges)

    def preview_image(self) -> np.ndarray:
        """``(H, W, 3)`` uint8: training pair, G on the training primitive, a held-out warp and G on it."""
        p = self.pair.primitive
        self.G.eval()
        with torch.no_grad():
            out = self.G(torch.stack([self.cond[0], encode(self._preview_prim, self.device)]))
        self.G.train()
        return make_grid([self.pair.image, p, out[0], self._preview_prim, out[1]],
                         ["image", "primitive", f"G(x) @ {self.step}", "held-out warp", "G(warp)"], tile_height=128)

    def _preview(self, mode: str) -> None:
        if mode == "none":
            return
        inline = mode == "inline" or (mode == "auto" and _in_notebook())
        img = self.preview_image()
        if inline:
            from IPython.display import Image, display
            from PIL import Image as PILImage

            from .data import _png_bytes

            display(Image(data=_png_bytes(PILImage.fromarray(img))))
        if self.run_dir is not None and (mode == "files" or not inline):
            save_image(self.run_dir / "samples" / f"step_{self.step:06d}.png", img)

    def checkpoint_state(self) -> dict:
        return {
            "kind": "deepsim-lite checkpoint",
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "config": self.config.to_dict(),
            "pair": {"image": self.pair.image.cpu(), "labels": self.pair.primitive.labels,
                     "edges": self.pair.primitive.edges, "n_labels": self.pair.primitive.n_labels,
                     "name": self.pair.name},
            "G": getattr(self.G, "_orig_mod", self.G).state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "aug": self.aug_gen.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "history": self.history,
            "model": self.model().state(),
        }

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write the full training state atomically (default ``<run_dir>/checkpoints/last.pt``)."""
        if path is None:
            if self.run_dir is None:
                raise ValueError("no run directory: pass a path to save_checkpoint")
            path = self.run_dir / "checkpoints" / "last.pt"
        _atomic_torch_save(self.checkpoint_state(), path)
        return Path(path)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, run_dir: str | os.PathLike | None = None,
                        device: str | None = None) -> Trainer:
        """Rebuild a trainer exactly as it was when ``path`` was written."""
        state = _load_checkpoint(path)
        if state["kind"] != "deepsim-lite checkpoint":
            raise ValueError(f"{path} holds a trained model only, not a training checkpoint; it cannot be resumed")
        config = TrainConfig.from_dict(state["config"])
        if device is not None:
            config = dataclasses.replace(config, device=device)
        pr = state["pair"]
        pair = Pair(pr["image"], Primitive(pr["labels"], pr["edges"], pr["n_labels"]), pr["name"])
        trainer = cls(pair, config, run_dir)
        getattr(trainer.G, "_orig_mod", trainer.G).load_state_dict(state["G"])
        trainer.D.load_state_dict(state["D"])
        trainer.opt_G.load_state_dict(state["opt_G"])
        trainer.opt_D.load_state_dict(state["opt_D"])
        torch.set_rng_state(state["rng"]["torch"])
        trainer.aug_gen.set_state(state["rng"]["aug"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        trainer.step = state["step"]
        trainer.history = list(state["history"])
        if run_dir is not None:
            _truncate_metrics(Path(run_dir) / "metrics.jsonl", trainer.step)
        return trainer


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric rows logged after the checkpoint an interrupted run resumes from."""
    if not path.exists():
        return
    rows = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    atomic_write_bytes(path, ("\n".join(rows) + "\n" if rows else "").encode())


def fit(pair: Pair, config: TrainConfig | None = None, run_dir: str | os.PathLike | None = None,
        progress: bool = True, preview: str = "auto", steps: int | None = None) -> TrainResult:
    """Train a DeepSIM generator on one pair (see :class:`Trainer`). ``config`` defaults to the paper's."""
    return Trainer(pair, config or TrainConfig(), run_dir).fit(steps, progress, preview)


def resume(run_dir: str | os.PathLike, progress: bool = True, preview: str = "auto",
           steps: int | None = None, device: str | None = None) -> TrainResult:
    """Continue an interrupted run from ``<run_dir>/checkpoints/last.pt``."""
    ckpt = Path(run_dir) / "checkpoints" / "last.pt"
    if not ckpt.exists():
        raise FileNotFoundError(f"{ckpt} does not exist; nothing to resume in {run_dir}")
    return Trainer.from_checkpoint(ckpt, run_dir, device).fit(steps, progress, preview)


# ----------------------------------------------------------------------------------------------
# A cache of trained lesson models, so every notebook trains each of them once.


def cache_dir() -> Path:
    """``$DEEPSIM_CACHE``, else ``$XDG_CACHE_HOME/deepsim-lite`` (``~/.cache/deepsim-lite``)."""
    env = os.environ.get("DEEPSIM_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deepsim-lite"


# Fields that change how a run is observed, not what it computes: not part of a cache key.
_BOOKKEEPING = ("log_every", "preview_every", "checkpoint_every")


def _cache_key(pair: Pair, config: TrainConfig) -> str:
    h = hashlib.sha256()
    maths = {k: v for k, v in config.to_dict().items() if k not in _BOOKKEEPING}
    h.update(json.dumps(maths, sort_keys=True).encode())
    h.update(to_uint8(pair.image).tobytes())
    h.update(encode(pair.primitive).numpy().tobytes())
    from . import __version__

    h.update(f"v{CHECKPOINT_VERSION}-{__version__}".encode())
    return h.hexdigest()[:20]


def cached_model(sample: str | Pair, primitive: str = "seg_edges", augmentation: str = "tps",
                 preset: str = "lesson", progress: bool = True, preview: str = "none", retrain: bool = False,
                 **overrides) -> DeepSIMModel:
    """A trained model for (sample, primitive, augmentation, preset): trained once, then loaded.

    The cache entry (in :func:`cache_dir`) is keyed by a hash of the config (bookkeeping fields such
    as ``preview_every`` excluded) and of the training pair; writes are atomic; a corrupt entry is
    retrained with a message. The loss history is kept in ``model.info["history"]``.

    Args:
        sample: a sample name (:data:`~deepsim_lite.data.SAMPLES`) or a :class:`Pair`.
        progress, preview: passed to :func:`fit` when training happens (``preview="auto"`` shows
            previews inline in a notebook; set ``preview_every`` too).
        retrain: train again even if the entry exists (and replace it).
        overrides: :class:`TrainConfig` fields, e.g. ``iterations=200``.
    """
    config = TrainConfig.preset(preset, primitive=primitive, augmentation=augmentation, **overrides)
    pair = sample if isinstance(sample, Pair) else load_sample(
        sample, primitive, max_side=config.max_side, multiple=config.multiple, n_segments=config.n_segments)
    path = cache_dir() / f"{pair.name or 'pair'}-{primitive}-{augmentation}-{preset}-{_cache_key(pair, config)}.pt"
    if path.exists() and not retrain:
        try:
            return load_model(path)
        except (ValueError, KeyError, RuntimeError) as err:
            print(f"deepsim-lite: cached model {path.name} is unusable ({err}); retraining")
    result = fit(pair, config, progress=progress, preview=preview)
    result.model.info.update(history=result.history, wall_time_s=result.wall_time_s, steps_per_s=result.steps_per_s)
    result.model.save(path)
    return result.model
