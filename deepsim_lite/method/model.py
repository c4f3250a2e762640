"""The trained model: a generator with what it needs to read a primitive, and its file format.

``DeepSIMModel.generate`` is what a user calls after editing a primitive (paper Fig. 1). The same
``render`` (encode -> generator -> clamp) serves the model, the trainer's previews and the editor.

Files (``model.pt``; training checkpoints add optimiser and RNG state, see :mod:`~deepsim_lite.method.train`)
are torch zip archives of tensors and plain Python types only, read back with
``torch.load(weights_only=True)``: opening a model file never runs code from it.

Example:
    >>> model = load_model("runs/cat")                     # a run directory, model.pt or a checkpoint
    >>> image = model.generate(edited_primitive)           # (3, H, W) float in [-1, 1]
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from .._io import write_torch
from ..primitives.pairs import SizeAdjustedWarning, resize_pair
from ..primitives.primitive import Primitive, check_reads, decode, encode
from .config import TrainConfig
from .nets import GlobalGenerator

__all__ = ["DeepSIMModel", "build_generator", "render", "load_model", "read_checkpoint", "add_checksum",
           "CHECKPOINT_VERSION",
           "MODEL_FORMAT", "CHECKPOINT_FORMAT"]

CHECKPOINT_VERSION = 3  # 2: weights_only-safe files, "format" key, config.primitive_kind; 3: "pairs" (several)
MODEL_FORMAT = "deepsim-lite model"  # a generator and its metadata (model.pt, cache entries)
CHECKPOINT_FORMAT = "deepsim-lite checkpoint"  # the whole training state (checkpoints/last.pt)


def add_checksum(state: dict) -> dict:
    """``state`` with a ``"checksum"`` entry: a hash of every tensor in it (and of where each sits), so a
    bit flip on disk is caught on load instead of training an all-NaN model."""
    return {**state, "checksum": _digest(state)}


def _digest(state: dict) -> str:
    h = hashlib.blake2b(digest_size=16)

    def walk(obj, path: str) -> None:
        if isinstance(obj, torch.Tensor):
            t = obj.detach().cpu().contiguous()
            h.update(f"{path}:{t.dtype}:{tuple(t.shape)};".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
        elif isinstance(obj, dict):
            for k in sorted(obj, key=str):
                if not (path == "" and k == "checksum"):
                    walk(obj[k], f"{path}/{k}")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{path}/{i}")

    walk(state, "")
    return h.hexdigest()


def build_generator(config: TrainConfig, input_nc: int) -> GlobalGenerator:
    """The generator a run with ``config`` trains, for primitives that encode to ``input_nc`` channels."""
    return GlobalGenerator(input_nc, 3, config.ngf, config.n_downsample, config.n_blocks)


def render(generator: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """G on encoded primitives ``(N, C_p, H, W)`` -> images ``(N, 3, H, W)`` float32 in [-1, 1].

    Runs on the generator's device; no gradient is recorded. Non-finite inputs are refused.
    """
    if not torch.isfinite(x).all():
        raise ValueError("the encoded primitive holds NaN or infinite values")
    device = next(generator.parameters()).device
    with torch.no_grad():
        return generator(x.to(device, torch.float32)).float().clamp(-1, 1)


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
        check_reads(primitive, self.n_labels, self.has_edges, "the model was trained on",
                    f" ({self.config.primitive_kind})")

    def generate(self, primitive: Primitive | torch.Tensor) -> torch.Tensor:
        """Render an (edited) primitive: -> ``(3, H, W)`` float in [-1, 1] at the trained size.

        Args:
            primitive: a :class:`Primitive` of the trained kind and label count, or its encoding
                ``(C_p, H, W)`` / ``(N, C_p, H, W)`` (then the output is ``(N, 3, H, W)``). Another
                size is resized to the trained one with a :class:`SizeAdjustedWarning`.
        """
        if isinstance(primitive, torch.Tensor):
            batched = primitive.ndim == 4
            x = primitive if batched else primitive[None]
            expected = self.n_labels + int(self.has_edges)
            if x.ndim != 4 or x.shape[1] != expected:
                raise ValueError(f"encoded primitive has shape {tuple(primitive.shape)}; the model expects "
                                 f"(C_p, H, W) or (N, C_p, H, W) with C_p = {expected}")
            if tuple(x.shape[-2:]) != self.size:
                x = torch.stack([encode(self._fit(decode(p, self.n_labels, self.has_edges))) for p in x])
            out = render(self.generator, x)
            return out if batched else out[0]
        self.check_primitive(primitive)
        return render(self.generator, encode(self._fit(primitive))[None])[0]

    def _fit(self, primitive: Primitive) -> Primitive:
        if primitive.size == self.size:
            return primitive
        warnings.warn(f"resized primitive from {primitive.size[0]}x{primitive.size[1]} to the trained size "
                      f"{self.size[0]}x{self.size[1]} (HxW)", SizeAdjustedWarning, stacklevel=3)
        return resize_pair(None, primitive, self.size)[1]

    def state(self) -> dict:
        """The model as tensors and plain types (what :meth:`save` writes)."""
        return {"format": MODEL_FORMAT, "version": CHECKPOINT_VERSION, "config": self.config.to_dict(),
                "n_labels": self.n_labels, "has_edges": self.has_edges, "size": list(self.size),
                "generator": self.generator.state_dict(), "info": self.info}

    def save(self, path: str | os.PathLike) -> None:
        """Write the generator and its metadata atomically (``load_model`` reads it back)."""
        write_torch(path, add_checksum(self.state()))

    @classmethod
    def from_state(cls, state: dict, device: torch.device | str | None = None) -> DeepSIMModel:
        """Rebuild a model from :meth:`state` (raises ``ValueError`` naming what is missing or wrong)."""
        try:
            config = TrainConfig.from_dict(state["config"])
            gen = build_generator(config, state["n_labels"] + int(state["has_edges"]))
            gen.load_state_dict(state["generator"])
            model = cls(gen, state["n_labels"], state["has_edges"], tuple(state["size"]), config, state.get("info"))
        except KeyError as err:
            raise ValueError(f"the model state has no {err.args[0]!r} entry") from None
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"the model state does not fit its config ({str(err).splitlines()[0][:120]})") from None
        return model.to(device or "cpu")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a model file or training checkpoint safely (``weights_only=True``) -> its state dict.

    ``path`` may be a run directory (its ``model.pt``, else ``checkpoints/last.pt``). Raises
    ``FileNotFoundError`` or a one-line ``ValueError`` that names the file.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {p} does not exist; check the path")
    if p.is_dir():
        for candidate in (p / "model.pt", p / "checkpoints" / "last.pt"):
            if candidate.is_file():
                return read_checkpoint(candidate)
        raise FileNotFoundError(f"{p} holds no model.pt or checkpoints/last.pt")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" in str(err) or "allowed global" in str(err):  # a reference to code, refused by torch
            raise ValueError(f"{p} holds Python objects besides tensors; deepsim-lite refuses to run code from a "
                             "model file; retrain it, or re-save it with DeepSIMModel.save") from None
        raise ValueError(f"{p} is not a readable checkpoint (truncated or corrupt); retrain or pick another file"
                         ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError, TypeError) as err:
        raise ValueError(f"{p} is not a readable checkpoint (truncated or corrupt: {_first_line(err)}); "
                         "retrain or pick another file") from None
    fmt = state.get("format", state.get("kind")) if isinstance(state, dict) else None
    if fmt not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise ValueError(f"{p} is not a deepsim-lite checkpoint")
    if "checksum" in state and state["checksum"] != _digest(state):
        raise ValueError(f"{p} is corrupt: its tensors do not match the checksum written with them (a damaged copy?); "
                         "retrain or pick another file")
    state["format"] = fmt
    return state


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:100] if lines else type(err).__name__


def load_model(path: str | os.PathLike, device: torch.device | str | None = None) -> DeepSIMModel:
    """Load a trained model from ``model.pt``, a training checkpoint, or a run directory."""
    state = read_checkpoint(path)
    if state["format"] == CHECKPOINT_FORMAT:
        state = state.get("model")
        if not isinstance(state, dict):
            raise ValueError(f"{path}: the checkpoint holds no model")
    try:
        return DeepSIMModel.from_state(state, device)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
