"""Training checkpoints: the whole state of a run (``checkpoints/last.pt``), written, read back and resumed exactly.

A checkpoint holds tensors and plain types only (read with ``weights_only=True``, :func:`.model.read_checkpoint`)
and is written atomically with a checksum (:func:`.model.add_checksum`): the step, the config, every training
pair, G and D, both optimisers, the warp stream's state, the loss history and the model as ``model.pt``
would hold it. :func:`restore` puts such a state back into a :class:`~.step.TrainStep` and warp stream, so a
resumed run continues bit for bit. :func:`load_init` starts a new run from another run's weights
(fine-tuning). The loop that writes them is :mod:`.train`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from pathlib import Path

import torch
from torch.nn.utils import get_total_norm

from .._io import write_torch
from ..primitives.pairs import Pair
from ..primitives.primitive import Primitive, describe_channels
from .config import TrainConfig
from .model import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, DeepSIMModel, add_checksum, read_checkpoint
from .step import TrainStep
from .warps import WarpStream

__all__ = ["NonFiniteLossError", "RunFinishedError", "training_state", "write", "snapshot", "BackgroundWriter", "read",
           "restore", "check_finite", "generator_state",
           "read_init", "load_init", "training_pairs", "resumable_checkpoint"]

# Architecture fields a model must share with a config to start a run from its weights (``init_from``).
_ARCHITECTURE = ("ngf", "n_downsample", "n_blocks", "ndf", "n_layers_d", "num_d")


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss; the last good checkpoint is kept."""


class RunFinishedError(ValueError):
    """:func:`~.train.resume` was asked to continue a run that already reached its last step (``.step``)."""

    def __init__(self, run_dir: Path, step: int, note: str = "") -> None:
        self.run_dir, self.step = run_dir, step
        self.summary = f"the run in {run_dir} finished at step {step}{note}; nothing to resume"
        super().__init__(f"{self.summary}. To train it further, fine-tune it into a new run directory: "
                         f"fit(..., init_from={str(run_dir)!r})")


def training_state(step: int, config: TrainConfig, pairs: list[Pair], gan: TrainStep, warps: WarpStream,
                   history: list[dict], init_from: str | None, model: DeepSIMModel) -> dict:
    """The whole training state as tensors and plain types (safe to load with ``weights_only``)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": step,
        "config": config.to_dict(),
        "pairs": [{"image": q.image.cpu(), "labels": q.primitive.labels, "edges": q.primitive.edges,
                   "n_labels": q.primitive.n_labels, "name": q.name} for q in pairs],
        "init_from": init_from,
        "D": gan.D.state_dict(),  # G is stored once, in "model" (before 0.8 also as "G")
        "opt_G": gan.opt_G.state_dict(),
        "opt_D": gan.opt_D.state_dict(),
        "rng": {"aug": warps.get_state()},
        "history": history,
        "model": model.state(),
    }


def generator_state(state: dict) -> dict:
    """G's weights in a training checkpoint: in its ``"model"`` (0.8 on), or its own ``"G"`` entry (before)."""
    if "G" in state:
        return state["G"]
    try:
        return state["model"]["generator"]
    except (KeyError, TypeError):
        raise KeyError("G") from None


def write(path: str | os.PathLike, state: dict) -> Path:
    """Write a :func:`training_state` atomically, with its checksum."""
    write_torch(path, add_checksum(state))
    return Path(path)


def snapshot(state: dict) -> dict:
    """A copy of a :func:`training_state` that training can no longer change: every tensor copied to host
    memory (page-locked from a GPU, copied without blocking, then waited for once), plain values as they are.
    What :class:`BackgroundWriter` serialises and hashes while the next steps run."""
    pending = []

    def copy(obj):
        if isinstance(obj, torch.Tensor):
            t = obj.detach()
            if t.device.type == "cpu":
                return t.clone()
            host = torch.empty(t.shape, dtype=t.dtype, pin_memory=t.device.type == "cuda")
            pending.append(host.copy_(t, non_blocking=True))
            return host
        if isinstance(obj, dict):
            return {k: copy(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(copy(v) for v in obj)
        return obj

    out = copy(state)
    if pending and torch.cuda.is_available():
        torch.cuda.synchronize()  # the non-blocking copies have landed before another thread reads them
    return out


class BackgroundWriter:
    """Writes checkpoints in a thread, one at a time, so that serialising, hashing (blake2b) and writing a
    checkpoint (about 3 GB for the paper preset) overlap training instead of stopping it.

    :meth:`submit` takes a :func:`snapshot` (training may change the live tensors at once); it first waits for
    the previous write, and raises that write's error if it failed. :meth:`wait` does the same at the end of a
    run, so no write is lost or left half done (each file is written atomically in any case).
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, path: str | os.PathLike, state: dict) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(path, state), name="deepsim-checkpoint")
        self._thread.start()

    def _write(self, path: str | os.PathLike, state: dict) -> None:
        try:
            write(path, state)
        except BaseException as err:  # re-raised in the training thread by wait()
            self._error = err

    def wait(self) -> None:
        """Block until the write in flight (if any) is on disk; raise its error if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise err


def read(path: str | os.PathLike, device: str | None = None) -> tuple[dict, TrainConfig, list[Pair]]:
    """A training checkpoint's ``(state, config, pairs)``; ``device`` overrides the config's."""
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
    return state, config, pairs


def restore(state: dict, gan: TrainStep, warps: WarpStream, path: str | os.PathLike
            ) -> tuple[int, list[dict], str | None]:
    """Put a checkpoint's networks, optimisers and warp-stream state back; -> ``(step, history, init_from)``."""
    try:
        gan.G.load_state_dict(generator_state(state))
        gan.D.load_state_dict(state["D"])
        _load_moments(gan, state)  # this run's optimiser settings (a run saved from a CUDA graph resumes eagerly)
        warps.set_state(state["rng"]["aug"])
        return int(state["step"]), list(state["history"]), state.get("init_from")
    except KeyError as err:
        raise ValueError(f"{path}: the checkpoint has no {err.args[0]!r} entry; it cannot be resumed") from None
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{path}: the checkpoint does not fit its config ({str(err).splitlines()[0][:100]})"
                         ) from None


def check_finite(gan: TrainStep, step: int) -> None:
    """Refuse to checkpoint a model whose weights went NaN or infinite. The test runs on the device, as one
    reduction per network (the largest ``|weight|``, NaN if any is), and reads one flag: one synchronisation."""
    nets = (("generator", gan.G), ("discriminator", gan.D))
    peaks = torch.stack([get_total_norm(list(net.parameters()), float("inf")) for _, net in nets])
    if bool(torch.isfinite(peaks).all()):
        return
    for (name, _), peak in zip(nets, peaks.tolist(), strict=True):
        if not math.isfinite(peak):
            raise NonFiniteLossError(f"training diverged: the {name} has non-finite weights at step {step}; "
                                     "the last good checkpoint is kept (lower lr or check the inputs)")


def _init_state(source: DeepSIMModel | str | os.PathLike) -> tuple[dict, str]:
    """A model's or checkpoint's weights as ``(state with G [, D, opt_G, opt_D], n_labels, has_edges, config;
    a description of the source)``."""
    if isinstance(source, DeepSIMModel):
        state = {"format": "model", "config": source.config.to_dict(), "n_labels": source.n_labels,
                 "has_edges": source.has_edges, "G": source.generator.state_dict()}
        return state, f"model {source.info.get('name') or '(unnamed)'} at step {source.info.get('steps', '?')}"
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"init_from must be a DeepSIMModel, a model file, a checkpoint or a run directory, got "
                         f"{type(source).__name__}")
    ckpt = Path(source) / "checkpoints" / "last.pt"  # a run directory: its checkpoint also holds D
    source = ckpt if Path(source).is_dir() and ckpt.is_file() else source
    raw = read_checkpoint(source)
    if raw["format"] == CHECKPOINT_FORMAT:
        pr = raw.get("pairs", [raw.get("pair", {})])[0]
        state = {**raw, "n_labels": pr.get("n_labels"), "has_edges": pr.get("edges") is not None,
                 "G": generator_state(raw)}
    else:
        state = {**raw, "G": raw.get("generator")}
    return state, f"{source} at step {raw.get('step', raw.get('info', {}).get('steps', '?'))}"


def read_init(config: TrainConfig, primitive: Primitive, source: DeepSIMModel | str | os.PathLike,
              reset_optimiser: bool) -> tuple[dict, str]:
    """Read and check what a run starts from (``init_from``) before any network is built: ``(its state, a
    description of the source for config.json and the model's info)``; :func:`load_init` then copies it.

    ``primitive``: the new run's (first) training primitive; the source must read the same channels."""
    state, what = _init_state(source)
    try:
        src = TrainConfig.from_dict(state["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"init_from {what}: its configuration is missing or unreadable ({err})") from None
    compared = _ARCHITECTURE if "D" in state else _ARCHITECTURE[:3]  # a model file carries no D
    differ = [f"{k} {getattr(src, k)} (config: {getattr(config, k)})" for k in compared
              if getattr(src, k) != getattr(config, k)]
    if differ:
        raise ValueError(f"init_from {what} has another architecture: {', '.join(differ)}; fine-tune with its "
                         "preset's networks (e.g. dataclasses.replace(model.config, iterations=...))")
    p = primitive
    if (state["n_labels"], state["has_edges"]) != (p.n_labels, p.has_edges):
        raise ValueError(f"init_from {what} reads {describe_channels(state['n_labels'], state['has_edges'])}; "
                         f"the pairs have {describe_channels(p.n_labels, p.has_edges)}")
    if "D" not in state and not reset_optimiser:
        raise ValueError(f"init_from {what} is a trained model without optimiser state; keep "
                         "reset_optimiser=True or start from its training checkpoint (checkpoints/last.pt)")
    return state, what


def load_init(gan: TrainStep, state: dict, what: str, reset_optimiser: bool) -> str:
    """Copy a checked :func:`read_init` state into ``gan``: G, and from a training checkpoint D and, unless
    ``reset_optimiser``, both optimisers' moments; -> ``what`` (the source's description)."""
    try:
        gan.G.load_state_dict(state["G"])
        if "D" in state:
            gan.D.load_state_dict(state["D"])
            if not reset_optimiser:
                _load_moments(gan, state)
    except KeyError as err:
        raise ValueError(f"init_from {what} has no {err.args[0]!r} entry") from None
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"init_from {what} does not fit this run ({str(err).splitlines()[0][:100]})") from None
    return what


def _load_moments(gan: TrainStep, state: dict) -> None:
    """The source's Adam moments (and step counts), with this run's own settings: ``load_state_dict``
    would also bring the source's betas, eps and kernel choice (fused / foreach) along."""
    for opt, key in ((gan.opt_G, "opt_G"), (gan.opt_D, "opt_D")):
        own = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        opt.load_state_dict(state[key])
        for group, settings in zip(opt.param_groups, own, strict=True):
            group.update(settings)
            on_device = group.get("capturable") or group.get("fused")  # where this Adam keeps its step counts
            for p in group["params"]:
                if "step" in opt.state.get(p, {}):
                    opt.state[p]["step"] = opt.state[p]["step"].to(p.device if on_device else "cpu", torch.float32)


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


def resumable_checkpoint(run_dir: str | os.PathLike) -> Path:
    """``<run_dir>/checkpoints/last.pt`` when there is something to resume there; raises
    :class:`RunFinishedError` when the run already reached its last step (writing its ``model.pt`` if a kill
    between the last two writes left it missing) and ``FileNotFoundError`` when there is no checkpoint."""
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
    return ckpt
