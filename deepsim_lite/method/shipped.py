"""Models that ship with the package: the lessons' models, trained once and long, found before the model cache.

``data/models/`` (``deepsim_lite/sample_data/models`` in a wheel; ``$DEEPSIM_MODELS`` if set) holds, per model,
``<name>.pt`` (a model file like any other, read with ``weights_only=True``), ``<name>.json`` (its training
record: the pair it was trained on as a hash of its picture and primitive, its preset and full recipe, steps,
time, machine, losses and held-out scores) and ``<name>-previews.png`` (the previews it recorded while training).

:func:`find` matches a request (pair, :class:`TrainConfig`, preset) against the records: the same pair, primitive
kind, augmentation and preset, and the same recipe field for field (bookkeeping fields aside). A record for that
pair and preset whose recipe differs is *stale*: :func:`~deepsim_lite.method.cache.cached_model` then trains the
asked-for model into the cache and says why in one line. :func:`ship` trains one model from its seed and writes
those three files; ``deepsim-lite lessons prepare --retrain`` runs it for every lesson model.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .._image import to_uint8
from .._io import write_json, write_png
from .._version import __version__
from ..primitives.pairs import Pair
from ..primitives.primitive import encode
from .config import TrainConfig
from .model import CHECKPOINT_VERSION, DeepSIMModel
from .train import fit

__all__ = ["BOOKKEEPING", "SHIPPED_PRESETS", "shipped_dir", "pair_digest", "recipe", "records", "find", "ship"]

# Fields that change how a run is observed, not what it computes: not part of a recipe (nor of a cache key).
BOOKKEEPING = ("log_every", "preview_every", "checkpoint_every", "checkpoint_seconds")
# Presets whose models ship with the package: a request of one that finds none says so before training.
SHIPPED_PRESETS = ("lesson_long",)


def shipped_dir() -> Path:
    """``$DEEPSIM_MODELS``, else the sample data's ``models/`` folder."""
    from ..primitives.samples import data_dir

    env = os.environ.get("DEEPSIM_MODELS")
    return Path(env) if env else data_dir() / "models"


def pair_digest(pair: Pair) -> str:
    """16 hex digits of a hash of the pair's picture (as uint8) and its encoded primitive."""
    h = hashlib.sha256(to_uint8(pair.image).tobytes())
    h.update(encode(pair.primitive).numpy().tobytes())
    return h.hexdigest()[:16]


def recipe(config: TrainConfig) -> dict:
    """What a model's weights depend on in ``config``: every field but the bookkeeping ones (JSON-ready)."""
    return {k: v for k, v in config.to_dict().items() if k not in BOOKKEEPING}


def records(folder: str | os.PathLike | None = None) -> list[dict]:
    """The training records in ``folder`` (default :func:`shipped_dir`), sorted by name; an unreadable record
    is left out (its model is then not found, and trained instead)."""
    folder = Path(folder) if folder is not None else shipped_dir()
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and {"name", "file", "pair", "pair_name", "preset", "recipe"} <= rec.keys():
            found.append(rec)
    return found


def find(pair: Pair, config: TrainConfig, preset: str,
         folder: str | os.PathLike | None = None) -> tuple[Path | None, str | None]:
    """The shipped model file for ``pair`` trained with exactly ``config`` (from ``preset``).

    Returns ``(path, None)`` for a match; ``(None, why)`` when a model was shipped for this pair (or a pair of
    the same name), primitive kind, augmentation and preset but with another recipe or pair, ``why`` saying how
    they differ; ``(None, None)`` when none was.
    """
    folder = Path(folder) if folder is not None else shipped_dir()
    digest, want = pair_digest(pair), recipe(config)
    stale = None
    for rec in records(folder):
        if (rec["preset"], rec["recipe"].get("primitive_kind"), rec["recipe"].get("augmentation")) != (
                preset, config.primitive_kind, config.augmentation):
            continue
        if rec["pair"] != digest and rec["pair_name"] != pair.name:
            continue
        if rec["pair"] != digest:
            stale = (f"the shipped model {rec['name']} was trained on another {pair.name!r} pair (its picture or "
                     "primitive differs from the one made here)")
        elif (theirs := _recipe_of(rec)) != want:
            stale = f"the shipped model {rec['name']} was trained with another recipe ({_differences(theirs, want)})"
        elif (folder / rec["file"]).is_file():
            return folder / rec["file"], None
        else:
            stale = f"the shipped model {rec['name']} has a record but no {rec['file']}"
    return None, stale


def _recipe_of(rec: dict) -> dict:
    """A record's recipe as this version reads it: fields added since it was written take their defaults."""
    try:
        return recipe(TrainConfig.from_dict(rec["recipe"]))
    except (TypeError, ValueError):
        return rec["recipe"]


def _differences(shipped: dict, asked: dict, most: int = 3) -> str:
    keys = sorted(k for k in shipped.keys() | asked.keys() if shipped.get(k) != asked.get(k))
    said = [f"{k}: {shipped.get(k)!r} shipped, {asked.get(k)!r} asked for" for k in keys[:most]]
    return "; ".join(said) + (f"; and {len(keys) - most} more" if len(keys) > most else "")


def ship(pair: Pair, config: TrainConfig, preset: str, name: str, folder: str | os.PathLike | None = None,
         what: str = "", held_out: Callable[[DeepSIMModel], dict] | None = None, progress: bool = True) -> dict:
    """Train a model on ``pair`` with ``config`` from its seed and write ``<name>.pt``, ``<name>.json`` and
    ``<name>-previews.png`` into ``folder`` (default :func:`shipped_dir`), each atomically. Returns the record.

    Reproducible: the same seed on the same machine gives the same weights (bit for bit on a CPU; a CUDA device,
    which ``config.device="auto"`` picks where there is one, gives other weights than a CPU).

    Args:
        preset: the preset ``config`` comes from (what a lesson asks :func:`find` for).
        what: the model in words, for the record.
        held_out: scores the trained model on held-out data (JSON-ready), kept in the record as ``held_out``.
    """
    folder = Path(folder) if folder is not None else shipped_dir()
    if not config.preview_every:
        config = replace(config, preview_every=max(1, config.iterations // 4))
    result = fit(pair, config, progress=progress, preview="none")
    if result.interrupted:
        raise KeyboardInterrupt  # never ship a half-trained model
    model: DeepSIMModel = result.model
    losses = result.history[-1] if result.history else {}
    record = {
        "name": name, "what": what, "file": f"{name}.pt", "previews": f"{name}-previews.png",
        "pair": pair_digest(pair), "pair_name": pair.name, "size": list(pair.size), "preset": preset,
        "recipe": recipe(config), "steps": result.steps, "wall_time_s": round(result.wall_time_s, 1),
        "steps_per_s": round(result.steps_per_s, 2), "reconstruction": result.perceptual,
        "final_losses": {k: round(float(v), 4) for k, v in losses.items() if isinstance(v, (int, float))},
        "held_out": held_out(model) if held_out else {},
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads" if model.device.type == "cpu"
        else torch.cuda.get_device_name(model.device),
        "torch": str(torch.__version__), "deepsim_lite": __version__, "checkpoint_version": CHECKPOINT_VERSION,
    }
    # the previews go in their PNG, not in the model file: four full-size previews would double its size
    model.info.update(history=result.history, wall_time_s=result.wall_time_s, steps_per_s=result.steps_per_s,
                      shipped=record)
    model.save(folder / record["file"])
    if result.previews:
        write_png(folder / record["previews"], np.concatenate(result.previews, axis=0))
    write_json(folder / f"{name}.json", record)
    return record
