"""Trained lesson models: shipped with the package, or cached so that every notebook trains each of them once.

:func:`cached_model` returns a trained model for (sample, primitive kind, augmentation, preset): one shipped
with the package for exactly that pair and recipe (:mod:`.shipped`) first; else the first call trains it and
stores it in :func:`cache_dir`, later calls (in any process) load it. Entries
are keyed by a hash of the full config (bookkeeping fields excluded), the training pair and the
package version; writes are atomic, and a lock file makes a second process wait for the first one's
training instead of training the same model again. A corrupt entry is retrained with a message.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

from .._image import to_uint8
from .._io import in_notebook, png_bytes
from .._version import __version__
from ..primitives.pairs import Pair
from ..primitives.primitive import encode
from ..primitives.samples import load_sample
from .config import TrainConfig
from .model import CHECKPOINT_VERSION, DeepSIMModel, load_model
from .shipped import BOOKKEEPING, SHIPPED_PRESETS, find, recipe, shipped_dir
from .train import fit

__all__ = ["cache_dir", "cached_model", "cache_key", "entry_name"]


def cache_dir() -> Path:
    """``$DEEPSIM_CACHE``, else ``$XDG_CACHE_HOME/deepsim-lite`` (``~/.cache/deepsim-lite``)."""
    env = os.environ.get("DEEPSIM_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deepsim-lite"


def cache_key(pair: Pair, config: TrainConfig) -> str:
    """20 hex digits of a hash of what the trained weights depend on."""
    h = hashlib.sha256()
    maths = {k: v for k, v in config.to_dict().items() if k not in BOOKKEEPING}
    h.update(json.dumps(maths, sort_keys=True).encode())
    h.update(to_uint8(pair.image).tobytes())
    h.update(encode(pair.primitive).numpy().tobytes())
    h.update(f"v{CHECKPOINT_VERSION}-{__version__}".encode())
    return h.hexdigest()[:20]


def entry_name(pair: Pair, config: TrainConfig, preset: str) -> str:
    """File name of the cache entry of a model of ``config`` (from ``preset``) trained on ``pair``."""
    return f"{config.primitive_kind}-{config.augmentation}-{preset}-{cache_key(pair, config)}.pt"


@contextmanager
def _locked(path: Path):
    """An exclusive lock on ``<path>.lock`` (POSIX ``flock``; no lock where that does not exist).

    A process that has to wait says so. The small ``.lock`` files stay in the cache on purpose:
    deleting one while another process waits on it would let a third process train the same model.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"deepsim-lite: waiting for another process that is training {path.name}", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _writable_cache(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create the model cache {folder} ({err.strerror or err}); "
                              "set DEEPSIM_CACHE to a writable folder") from None
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"the model cache {folder} is not writable; set DEEPSIM_CACHE to a writable folder")


def cached_model(sample: str | Pair, primitive_kind: str = "seg_edges", augmentation: str = "tps",
                 preset: str = "lesson", progress: bool = True, preview: str = "none", retrain: bool = False,
                 **overrides) -> DeepSIMModel:
    """A trained model for (sample, primitive kind, augmentation, preset): shipped, or trained once, then loaded.

    A model shipped with the package for exactly this pair and recipe (the lessons', :mod:`.shipped`) is loaded
    first; then the cache; else it is trained and cached. When the shipped model for this pair was trained with
    another recipe, one line says so before the training.

    The loss history is kept in ``model.info["history"]``, the training previews as ``(H, W, 3)``
    uint8 tensors in ``model.info["previews"]`` (recorded every ``preview_every`` steps; a quarter of
    the run when not given). A model loaded from the cache with ``preview="auto"`` (in a notebook) or
    ``"inline"`` shows the previews stored with it, so a warm cache shows what a cold one would.

    Args:
        sample: a sample name (:data:`~deepsim_lite.primitives.samples.SAMPLES`) or a :class:`Pair`.
        primitive_kind: ``"edges"``, ``"seg"`` or ``"seg_edges"``.
        progress, preview: passed to :func:`~deepsim_lite.method.train.fit` when training happens
            (``preview="auto"`` shows previews inline in a notebook; set ``preview_every`` too).
        retrain: train again even if the entry exists (and replace it).
        overrides: :class:`TrainConfig` fields, e.g. ``iterations=200``.
    """
    config = TrainConfig.preset(preset, primitive_kind=primitive_kind, augmentation=augmentation, **overrides)
    if not config.preview_every:  # bookkeeping (not in the key): record previews to keep with the model
        config = replace(config, preview_every=max(1, config.iterations // 4))
    pair = sample if isinstance(sample, Pair) else load_sample(
        sample, primitive_kind, max_side=config.max_side, multiple=config.multiple, n_segments=config.n_segments)
    model, stale = (None, None) if retrain else _shipped_model(pair, config, preset, preview)
    if model is not None:
        return model
    folder = cache_dir()
    _writable_cache(folder)
    # Named by content, not by the pair's name: the same frame loaded by two lessons is one model.
    path = folder / entry_name(pair, config, preset)
    with _locked(path):  # a second process waits here, then loads what the first one trained
        if path.exists() and not retrain:
            try:
                model = load_model(path)
                _show_stored_previews(model, preview)
                return model
            except ValueError as err:
                print(f"deepsim-lite: cached model {path.name} is unusable ({err}); retraining")
        elif stale:
            print(f"deepsim-lite: {stale}; training it here ({config.iterations} steps)", flush=True)
        result = fit(pair, config, progress=progress, preview=preview)
        if result.interrupted:
            raise KeyboardInterrupt  # never cache a half-trained model
        result.model.info.update(history=result.history, wall_time_s=result.wall_time_s,
                                 steps_per_s=result.steps_per_s,
                                 previews=[torch.from_numpy(p.copy()) for p in result.previews])
        result.model.save(path)
        return result.model


def _shipped_model(pair: Pair, config: TrainConfig, preset: str,
                   preview: str) -> tuple[DeepSIMModel | None, str | None]:
    """(the shipped model of exactly this pair and recipe, None), else (None, why none is used, or None)."""
    path, stale = find(pair, config, preset)
    if path is None:
        if stale is None and preset in SHIPPED_PRESETS:
            stale = f"no model of this pair and recipe ships with the package (in {shipped_dir()})"
        return None, stale
    try:
        model = load_model(path)
    except ValueError as err:
        return None, f"the shipped model {path.name} is unusable ({err})"
    if recipe(model.config) != recipe(config):  # its record said so; the file itself must agree
        return None, f"the shipped model {path.name} does not hold the recipe its record names"
    if preview == "inline" or (preview == "auto" and in_notebook()):
        _show_previews([path.with_name(model.info["shipped"]["previews"]).read_bytes()], model,
                       "shipped with the package")
    return model, None


def _show_stored_previews(model: DeepSIMModel, preview: str) -> None:
    """Show the previews a cached model recorded while it trained, where a training would show them live."""
    previews = model.info.get("previews") or []
    if previews and (preview == "inline" or (preview == "auto" and in_notebook())):
        _show_previews([png_bytes(p.numpy()) for p in previews], model, "loaded from the model cache")


def _show_previews(pngs: list[bytes], model: DeepSIMModel, where: str) -> None:
    from IPython.display import Image, display

    took = model.info.get("wall_time_s")
    print(f"{where}; the training previews it recorded" + (f" (it trained in {took:.0f} s):" if took else ":"))
    for png in pngs:
        display(Image(data=png))
