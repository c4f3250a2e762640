"""What a training run depends on: :class:`TrainConfig` (paper defaults), named presets, the device.

The defaults are the paper's (pix2pixHD's networks and losses, 16,000 iterations, Sec. 3.3-3.4);
``PRESETS["lesson"]`` is the small configuration the notebooks train on a laptop CPU (about 45 s),
``PRESETS["laptop"]`` a sharper one for about ten minutes.

Example:
    >>> cfg = TrainConfig.preset("lesson", iterations=300)
    >>> cfg.multiple            # H and W must be multiples of this
    4
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass

import torch

from ..primitives.primitive import KINDS
from .augment import MODES as AUGMENTATIONS
from .augment import PADDINGS, CropFlip
from .nets import INITS
from .tps import Omega

__all__ = ["TrainConfig", "PRESETS", "preset_changes", "select_device", "amp_enabled", "channels_last_enabled"]

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Defaults are the paper's (pix2pixHD + 16k iterations).

    Override with ``dataclasses.replace`` or ``TrainConfig.preset("lesson", iterations=300)``.
    Every field is validated on construction: a bad value raises one ``ValueError`` naming it.
    """

    # --- primitive and augmentation (Sec. 3.2-3.4)
    primitive_kind: str = "seg_edges"  # "edges" | "seg" | "seg_edges" (super-primitive)
    n_segments: int = 8  # label bound of the unsupervised segmentation
    augmentation: str = "tps"  # "tps" (paper) | "crop_flip" (pix2pixHD-SIA baseline) | "none"
    omega: Omega = Omega()  # the TPS warp distribution: 4x4 control points, L = 10
    crop: CropFlip = CropFlip()  # the baseline's crop range and flip probability
    flip: bool = False  # also flip horizontally with p = 1/2 in "tps" / "none" (the official code's flip)
    padding: str = "reflection"  # what warps sample outside the image
    max_side: int | None = None  # downscale the training image to this longer side (None: as given)
    # --- networks (pix2pixHD names: ngf/ndf = generator/discriminator base channels)
    ngf: int = 64
    n_downsample: int = 4  # stride-2 convs in G; H and W must be multiples of 2**n_downsample
    n_blocks: int = 9  # residual blocks at G's bottleneck
    ndf: int = 64
    n_layers_d: int = 3  # stride-2 convs of each PatchGAN
    num_d: int = 2  # PatchGANs, each at half the resolution of the previous
    init: str = "pix2pixhd"  # weight init of G and D: "pix2pixhd" (convs ~ N(0, 0.02)) | "pytorch" (torch defaults)
    # --- losses (Eq. 1-3)
    lambda_feat: float = 10.0  # discriminator feature matching
    reconstruction: str = "vgg19"  # ℓ_rec: "vgg19" (the paper), "vgg16", or "l1" (pixel L1: no network, by choice)
    lambda_vgg: float = 10.0  # the VGG perceptual loss (only when ImageNet VGG weights are available)
    vgg_layers: int = 5  # the VGG term uses relu1_1 ... relu5_1 up to this many (5: the paper; fewer is cheaper)
    vgg_downsample: int = 1  # the VGG term sees both images average-pooled by this factor (1: the paper)
    use_vgg_loss: bool = True  # False: no reconstruction term at all
    vgg_fallback: str = "drop"  # without ImageNet VGG weights: "drop" the term, or "l1" (pixel L1 instead)
    lambda_fallback_l1: float = 10.0  # weight of pixel L1 when it is ℓ_rec (reconstruction="l1" or the fallback)
    lambda_l1: float = 0.0  # an extra pixel L1 term, always on when > 0 (not in the paper)
    # --- optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1  # warped pairs per step (the paper: 1)
    iterations: int = 16000
    decay_start: float = 0.5  # fraction of iterations after which lr decays linearly to 0
    seed: int = 0  # seeds network initialisation (seed) and the warp stream (seed + 1)
    # --- engineering (no effect on the maths)
    device: str = "auto"  # "auto" (cuda > mps > cpu) | "cuda" | "mps" | "cpu"
    amp: bool | None = None  # bf16 autocast: None = on CUDA only; True = on any device (the CPU too); False = off
    compile: bool = False  # torch.compile generator and discriminator
    compile_mode: str = "default"  # torch.compile mode: "default" | "reduce-overhead" (CUDA graphs) | "max-autotune"
    channels_last: bool | None = None  # NHWC memory format, CUDA at batch >= 2 only (wrong gradients elsewhere)
    fused_adam: bool | None = None  # fused Adam kernel; None: on CUDA only (foreach elsewhere)
    cuda_graph: bool = False  # on CUDA, replay the whole step from one CUDA graph (method/graphed.py); no compile
    log_every: int = 25  # losses are synchronised to the host only every N steps
    preview_every: int = 0  # 0: no previews during training
    checkpoint_every: int = 500  # steps between checkpoints in the run directory
    checkpoint_seconds: float = 0.0  # also checkpoint when this long has passed since the last one (0: steps only)

    def __post_init__(self) -> None:
        _choice("primitive_kind", self.primitive_kind, KINDS)
        _choice("augmentation", self.augmentation, AUGMENTATIONS)
        _choice("vgg_fallback", self.vgg_fallback, ("drop", "l1"))
        _choice("reconstruction", self.reconstruction, ("vgg19", "vgg16", "l1"))
        _choice("device", self.device, ("auto", "cuda", "mps", "cpu"))
        _choice("compile_mode", self.compile_mode, COMPILE_MODES)
        _choice("padding", self.padding, PADDINGS)
        _choice("init", self.init, INITS)
        if self.flip is not True and self.flip is not False:
            raise ValueError(f"flip must be True or False, got {self.flip!r}")
        if self.flip and self.augmentation == "crop_flip":
            raise ValueError("flip applies to augmentation 'tps' or 'none'; crop_flip flips on its own (crop.flip_p)")
        for name in ("ngf", "n_blocks", "ndf", "n_layers_d", "num_d", "batch_size", "iterations", "log_every",
                     "checkpoint_every", "n_segments"):
            _int_at_least(name, getattr(self, name), 1)
        _int_at_least("vgg_layers", self.vgg_layers, 1)
        if self.vgg_layers > 5:
            raise ValueError(f"vgg_layers must be at most 5 (relu1_1 ... relu5_1), got {self.vgg_layers}")
        _int_at_least("vgg_downsample", self.vgg_downsample, 1)
        for name in ("n_downsample", "preview_every"):
            _int_at_least(name, getattr(self, name), 0)
        if self.n_downsample > 8:
            raise ValueError(f"n_downsample must be at most 8 (sides multiples of 256), got {self.n_downsample}")
        _int_at_least("seed", self.seed, 0)
        if self.seed >= MAX_SEED:
            raise ValueError(f"seed must be below 2**63 - 1, got {self.seed}")
        if self.max_side is not None:
            _int_at_least("max_side", self.max_side, 2 * self.multiple)
        for name in ("lambda_feat", "lambda_vgg", "lambda_fallback_l1", "lambda_l1", "checkpoint_seconds"):
            _finite_at_least(name, getattr(self, name), 0.0)
        _finite_at_least("lr", self.lr, 0.0)
        if self.lr == 0:
            raise ValueError("lr must be > 0")
        for name in ("beta1", "beta2", "decay_start"):
            value = getattr(self, name)
            _finite_at_least(name, value, 0.0)
            if value > 1 or (name != "decay_start" and value == 1):
                raise ValueError(f"{name} must lie in [0, 1{']' if name == 'decay_start' else ')'}, got {value}")
        for name in ("amp", "channels_last", "fused_adam"):
            if not any(getattr(self, name) is v for v in (None, True, False)):
                raise ValueError(f"{name} must be True, False or None, got {getattr(self, name)!r}")
        if self.cuda_graph is not True and self.cuda_graph is not False:
            raise ValueError(f"cuda_graph must be True or False, got {self.cuda_graph!r}")
        if self.cuda_graph and self.compile:
            raise ValueError("cuda_graph captures the eager step: set compile=False (or compile with "
                             "compile_mode='reduce-overhead' instead of cuda_graph)")
        if not isinstance(self.omega, Omega) or not isinstance(self.crop, CropFlip):
            raise ValueError("omega must be a tps.Omega and crop an augment.CropFlip")

    @classmethod
    def preset(cls, name: str, **overrides) -> TrainConfig:
        """A named preset (:data:`PRESETS`) with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {', '.join(sorted(unknown))}")
        base = PRESETS[name]
        for sub in ("omega", "crop"):  # a mapping changes only the fields it names: omega={"L": 5.0}
            if isinstance(overrides.get(sub), dict):
                inner = getattr(base, sub)
                bad = set(overrides[sub]) - {f.name for f in dataclasses.fields(inner)}
                if bad:
                    raise ValueError(f"unknown {sub} field(s) {', '.join(sorted(bad))}; {type(inner).__name__} has "
                                     f"{', '.join(f.name for f in dataclasses.fields(inner))}")
                given = {k: _as_float_like(getattr(inner, k), v) for k, v in overrides[sub].items()}
                overrides[sub] = dataclasses.replace(inner, **given)
        return dataclasses.replace(base, **{k: _as_float_like(getattr(base, k), v) for k, v in overrides.items()})

    @property
    def multiple(self) -> int:
        """H and W of a training pair must be multiples of this (2 ** n_downsample)."""
        return 2**self.n_downsample

    def to_dict(self) -> dict:
        """Plain types only (what config.json and checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (files from newer versions)."""
        d = dict(d)
        if "primitive" in d and "primitive_kind" not in d:  # files written before 0.2
            d["primitive_kind"] = d.pop("primitive")
            d["amp"] = False if d.get("amp") is False else None  # 0.1's amp=True meant "on CUDA only"
        if "lambda_fallback_l1" not in d:  # before 0.2 the L1 fallback was weighted by lambda_vgg
            d["lambda_fallback_l1"] = d.get("lambda_vgg", 10.0)
        d.setdefault("init", "pytorch")  # before 0.3 networks kept PyTorch's default init
        d.setdefault("reconstruction", "vgg19")  # before 0.8 ℓ_rec was VGG19 (or its fallback)
        d["omega"] = Omega(**d["omega"])
        d["crop"] = CropFlip(**d["crop"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _as_float_like(current, value):
    """An integer given for a float field (``lr=1``, ``omega.L=5`` from a command line) as that float, so the
    same configuration is always written the same way."""
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def preset_changes(name: str, **overrides) -> dict:
    """The part of ``overrides`` that changes preset ``name``, in plain JSON types: a field set to the preset's
    own value is dropped, ``omega``/``crop`` become dicts of their changed fields. Two sets of overrides that
    build the same configuration give the same dict (what names a benchmark cell).

    >>> preset_changes("lesson", seed=0, iterations=300, omega={"L": 10.0, "grid_size": 3})
    {'iterations': 300, 'omega': {'grid_size': 3}}
    """
    base, built = PRESETS[name].to_dict() if name in PRESETS else {}, TrainConfig.preset(name, **overrides).to_dict()
    changes = {}
    for key in sorted(overrides):
        if isinstance(built[key], dict):
            inner = {k: v for k, v in built[key].items() if v != base[key][k]}
            if inner:
                changes[key] = inner
        elif built[key] != base[key]:
            changes[key] = built[key]
    return changes


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")


def _int_at_least(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _finite_at_least(name: str, value, low: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


PRESETS: dict[str, TrainConfig] = {
    # The paper: pix2pixHD global generator and discriminator, 16k iterations (a GPU job).
    "paper": TrainConfig(),
    # The notebooks' preset, chosen by measurement (benchmarks/lesson_quality.py): trained for the same 90 s on a
    # 2-core CPU, 192-pixel images (128x192 for the cat) with narrow nets (ngf = ndf = 12, 16 or 24, within seed
    # noise of each other) scored best on held-out data; ngf 8 and 32, batches of warps, lr 2e-4 or 2e-3, a deeper
    # G, coarse-to-fine and torch.compile did worse. ngf 12 takes the most steps per second of that group. One warp
    # per step, lr 1e-3. ℓ_rec chosen at equal time (45 s, 8 seeds, held out on the cat's warps, the tuning sample:
    # benchmarks/results/loss_decision_45s_8seeds_cpu.md): the VGG19 term on relu1_1-relu3_1 of 2x pooled images
    # scores LPIPS 0.030-0.040 lower than pixel L1 (interval excludes 0) at the same PSNR, and runs at 2/3 of its
    # speed; the full VGG19 term (6x slower) or VGG16 lose 2.7-3.2 dB PSNR at that time. Without VGG19 weights it
    # falls back to pixel L1 (faster: the time below holds everywhere). 450 steps: about 45 s on 2 cores.
    "lesson": TrainConfig(
        max_side=192, ngf=12, n_downsample=2, n_blocks=4, ndf=12, n_layers_d=3, num_d=2,
        reconstruction="vgg19", vgg_layers=3, vgg_downsample=2, vgg_fallback="l1", iterations=450, lr=1e-3,
        checkpoint_every=100,
    ),
    # The lessons' models as they ship with the package (deepsim_lite.method.shipped): the lesson preset's
    # network and pictures, trained once for 4000 steps instead of 450. Pixel L1: at 180 s it beat the cheap VGG19
    # term by 0.4-0.6 dB PSNR at a tied LPIPS (benchmarks/results/loss_decision_180s_cpu.md; the VGG term's edge
    # held at 45 s only), and it retrains to the same weights with or without VGG weights. ngf stays 12: the
    # editor's Generate takes 77 ms at 256x256 on 2 cores (benchmarks/results/editor_latency_cpu.json), and
    # compute grows with ngf squared (ngf 16: about 1.8x, past the 100 ms budget).
    "lesson_long": TrainConfig(
        max_side=192, ngf=12, n_downsample=2, n_blocks=4, ndf=12, n_layers_d=3, num_d=2,
        reconstruction="l1", vgg_fallback="l1", iterations=4000, lr=1e-3, checkpoint_every=500,
    ),
    # Pixel L1 also at this preset's budget: the cheap VGG19 term lost 0.5-0.7 dB PSNR at a tied LPIPS (3 seeds, 515 s,
    # benchmarks/results/loss_decision_laptop_515s_cpu.md).
    # A sharper model for a student with ten minutes: the lesson's recipe at 256 pixels (172x256 for the cat), a
    # little wider (ngf = ndf = 16), 4000 steps: 6.5 steps/s measured alone on this project's 2 cores, about 10 min
    # (benchmarks/results/loss_decision_laptop_515s_cpu.json; 0.4 measured 17 min on a slower day), +1.8 dB held
    # out over the 0.4 lesson preset on the cat (benchmarks/lesson_quality.py --candidates lesson laptop --budget 0
    # --samples chelsea).
    "laptop": TrainConfig(
        max_side=256, ngf=16, n_downsample=2, n_blocks=4, ndf=16, n_layers_d=3, num_d=2,
        reconstruction="l1", vgg_fallback="l1", iterations=4000, lr=1e-3, checkpoint_every=500,
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
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' requested but Apple MPS is not available; use device='auto' or 'cpu'")
    return torch.device(name)


def amp_enabled(config: TrainConfig, device_type: str, cuda_bf16: bool) -> bool:
    """bf16 autocast: on CUDA (with bf16) unless ``amp=False``; elsewhere only when ``amp=True`` (CPU
    autocast runs the same code as CUDA's: that is how the CPU tests exercise the GPU path)."""
    if device_type == "cuda":
        return config.amp is not False and cuda_bf16
    return config.amp is True


def channels_last_enabled(config: TrainConfig, device_type: str) -> tuple[bool, str]:
    """``(use NHWC, why not if it was asked for)``: CUDA at batch >= 2 only. torch 2.14 on the CPU returns
    wrong conv-weight gradients for Conv2d -> InstanceNorm2d in channels_last (tests/method/test_step.py measures
    160% error at batch 1, 3% at batch 4); on CUDA it is unproven at batch 1."""
    if not config.channels_last:
        return False, ""
    if device_type == "cpu" or config.batch_size == 1:
        where = "on the CPU" if device_type == "cpu" else "at batch_size 1"
        return False, (f"channels_last is disabled {where}: instance-norm backward gives wrong gradients in that "
                       "layout (torch 2.14)")
    return True, ""
