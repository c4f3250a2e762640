"""The paper's video benchmark (Sec. 4.2, Tables 2–3): train on one frame, predict every other frame.

A single frame of a video (frame 0) is the training pair; the generator then renders every other frame
from that frame's primitive, and each output is scored against the true frame (LPIPS for prediction
error, SIFID for fidelity, plus PSNR, SSIM and L1). The paper compares the crop+flip baseline
(pix2pixHD-SIA) with TPS, and segmentation with the super-primitive.

Clips: a folder of frames (any images, sorted by name — e.g. a Cityscapes ``leftImg8bit`` sequence
folder) or a video file OpenCV reads (e.g. an LRS2 ``.mp4``). Shipped excerpts (``data/videos``):
``carphone`` (a talking head, the LRS2 analogue) and ``bikes`` (a street seen from above, the Cityscapes
analogue), 30 frames each. The segmentation is fitted on the training frame; by default
(``segmentation="flow"``) its labels are carried to every test frame by dense optical flow, so a test
primitive holds the frame's geometry but none of its colours. This stands in for the paper's ground-truth
semantic maps only partly: flow moves and deforms the training frame's regions, but no region can
appear that frame 0 does not have (a car entering, an opened mouth takes the label of whatever it
covers), so the benchmark cannot test new objects through the primitive, and its test primitives are
easier than true ones. ``"kmeans"`` applies the fitted colour k-means to each test frame instead, which
leaks the frame's colours into its primitive (and flatters the scores); tables say which was used.

Besides the augmentations a generator trains with (``tps``, ``crop_flip``, ``none``), a cell's method can be
``patchnn``: no training, the frame rendered from frame 0's own patches
(:class:`~deepsim_lite.analysis.patchnn.PatchNN`,
the training-free baseline). Every cell records its rendering time per frame.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch

from .._image import from_uint8
from .._io import write_json
from ..method.cache import cached_model
from ..method.config import TrainConfig, preset_changes
from ..method.viz import make_grid
from ..primitives.extract import SEGMENTATIONS, extract_primitives
from ..primitives.images import load_image
from ..primitives.pairs import Pair, fit_size, resize_pair
from ..primitives.samples import data_dir
from . import metrics
from .patchnn import PatchNN, PatchNNConfig

__all__ = ["CLIPS", "clip_path", "clip_source", "clip_name", "method_model", "load_frames", "clip_pairs", "cell_path",
           "finished_cell", "run_cell", "run_benchmark", "markdown_table", "comparison_panels", "comparison_figure"]

CLIPS = {"carphone": "videos/carphone", "bikes": "videos/bikes"}
PATCHNN = "patchnn"  # the training-free method of a cell, beside the augmentations of a trained generator
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def clip_path(name: str) -> Path:
    """Path of a shipped clip (:data:`CLIPS`)."""
    if name not in CLIPS:
        raise ValueError(f"unknown clip {name!r}; choose one of {', '.join(CLIPS)} or pass a folder or video file")
    return data_dir() / CLIPS[name]


def clip_source(clip: str | os.PathLike) -> Path:
    """A shipped clip's name (:data:`CLIPS`) or a folder of frames / a video file, as a path."""
    return clip_path(str(clip)) if str(clip) in CLIPS else Path(clip)


def clip_name(clip: str | os.PathLike) -> str:
    """What names a clip in result files and tables: a shipped clip's name, else the path's stem."""
    return str(clip) if str(clip) in CLIPS else Path(clip).stem


def method_model(pair: Pair, primitive_kind: str, method: str, preset: str = "lesson", progress: bool = False,
                 **overrides):
    """What renders a cell: the training-free :class:`~deepsim_lite.analysis.patchnn.PatchNN` for ``"patchnn"``, else a
    generator trained on ``pair`` with that augmentation (:func:`~deepsim_lite.method.cache.cached_model`)."""
    if method == PATCHNN:
        return PatchNN(pair)
    return cached_model(pair, primitive_kind, method, preset, progress=progress, **overrides)


def load_frames(source: str | os.PathLike, max_frames: int | None = None) -> list[torch.Tensor]:
    """Frames ``(3, H, W)`` in [-1, 1] of a folder of images (sorted by name) or a video file."""
    p = Path(source)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist; give a folder of frames or a video file")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{p} holds no image frames ({', '.join(IMAGE_SUFFIXES)})")
        frames = [load_image(f) for f in files[:max_frames]]
    else:
        cap = cv2.VideoCapture(str(p))
        frames = []
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(from_uint8(np.ascontiguousarray(bgr[:, :, ::-1])))
        cap.release()
        if not frames:
            raise ValueError(f"{p} is not a video OpenCV can read (no frame decoded)")
    sizes = {tuple(f.shape) for f in frames}
    if len(sizes) > 1:
        raise ValueError(f"frames of {p} differ in size: {sorted(sizes)[:3]}")
    if len(frames) < 2:
        raise ValueError(f"{p} has {len(frames)} frame; the benchmark needs a training frame and test frames")
    return frames


def clip_pairs(frames: list[torch.Tensor], primitive_kind: str, config: TrainConfig, name: str = "clip",
               train_index: int = 0, seed: int = 0, segmentation: str = "flow") -> list[Pair]:
    """Every frame at the config's working size with its primitive; segmentation fitted on the training frame
    and given to the others by ``segmentation`` (``"flow"`` or ``"kmeans"``, module docstring)."""
    size = fit_size(*frames[0].shape[-2:], config.multiple, config.max_side)
    imgs = [resize_pair(f, None, size)[0] if tuple(f.shape[-2:]) != size else f for f in frames]
    prims = extract_primitives(imgs, primitive_kind, fit_on=train_index, n_segments=config.n_segments, seed=seed,
                               segmentation=segmentation)
    return [Pair(img, prim, f"{name}_f{i:03d}") for i, (img, prim) in enumerate(zip(imgs, prims, strict=True))]


def _scorers() -> dict:
    return {"lpips": metrics.LPIPS(), "sifid": metrics.SIFID()}


def cell_changes(method: str, preset: str, overrides: dict) -> dict:
    """What a cell's settings change in its preset (:func:`~deepsim_lite.method.config.preset_changes`); nothing for
    ``patchnn``, which trains nothing."""
    return {} if method == PATCHNN else preset_changes(preset, **overrides)


def cell_path(out_dir: str | os.PathLike, clip: str, primitive_kind: str, method: str, preset: str = "lesson",
              segmentation: str = "flow", overrides: dict | None = None) -> Path:
    """Where :func:`run_cell` keeps a cell: ``<clip>-<primitive>[-<segmentation>]-<method>-<preset>[-<changes>].json``,
    the changes being the fields that differ from the preset (``seed=1``, ``omega.L=5.0``), so a cell with other
    settings never overwrites another (a long list of changes is named by its hash)."""
    labels = "" if primitive_kind == "edges" else f"-{segmentation}"  # edges: nothing to carry
    flat = []
    for key, value in cell_changes(method, preset, overrides or {}).items():
        flat += [(f"{key}.{k}", v) for k, v in value.items()] if isinstance(value, dict) else [(key, value)]
    tag = ",".join(f"{k}={v}" for k, v in flat)
    if len(tag) > 100 or re.search(r"[^A-Za-z0-9._=,+-]", tag):  # long, or not a plain file name: its hash
        changes = cell_changes(method, preset, overrides or {})
        tag = "cfg" + hashlib.sha1(json.dumps(changes, sort_keys=True).encode()).hexdigest()[:12]
    return Path(out_dir) / f"{clip}-{primitive_kind}{labels}-{method}-{preset}{'-' + tag if tag else ''}.json"


def run_cell(pairs: list[Pair], clip: str, primitive_kind: str, augmentation: str, preset: str = "lesson",
             out_dir: str | os.PathLike | None = None, train_index: int = 0, scorers: dict | None = None,
             progress: bool = False, segmentation: str = "flow", **overrides) -> dict:
    """Train on ``pairs[train_index]`` with one augmentation, render and score every other frame.

    ``segmentation`` names how ``pairs`` were labelled (:func:`clip_pairs`); it is recorded with the result.
    Results go to :func:`cell_path` in ``out_dir``; a finished cell is read back instead of recomputed (re-runs
    resume). Returns the result dict with per-frame scores and their mean ± std.
    """
    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"unknown segmentation {segmentation!r}; choose one of {', '.join(SEGMENTATIONS)}")
    if primitive_kind == "edges":
        segmentation = "none"
    path = None
    scorers = scorers or _scorers()
    if out_dir is not None:
        path = cell_path(out_dir, clip, primitive_kind, augmentation, preset, segmentation, overrides)
        done = finished_cell(path, primitive_kind, augmentation, preset, segmentation, len(pairs), pairs[0].size,
                             overrides, train_index, labels={k: m.label for k, m in scorers.items()})
        if done is not None:
            return done
    trained = augmentation != PATCHNN
    config = _cell_settings(primitive_kind, augmentation, preset, overrides)
    t0 = time.perf_counter()
    model = method_model(pairs[train_index], primitive_kind, augmentation, preset, progress, **overrides)
    t_train = time.perf_counter() - t0
    rows, render_s = [], []
    for i, pair in enumerate(pairs):
        if i == train_index:
            continue
        t = time.perf_counter()
        out = model.generate(pair.primitive).cpu()  # on the host: the time includes the device's work
        render_s.append(time.perf_counter() - t)
        row = {"frame": i, "psnr": float(metrics.psnr(out, pair.image)), "ssim": float(metrics.ssim(out, pair.image)),
               "l1": float(metrics.l1(out, pair.image))}
        row.update({k: float(m(out, pair.image)) for k, m in scorers.items()})
        rows.append(row)
    keys = [k for k in rows[0] if k != "frame"]
    summary = {k: {"mean": float(np.mean([r[k] for r in rows])), "std": float(np.std([r[k] for r in rows]))}
               for k in keys}
    result = {"clip": clip, "primitive": primitive_kind, "segmentation": segmentation, "augmentation": augmentation,
              "preset": preset, "frames": len(pairs), "train_frame": train_index, "size_hw": list(pairs[0].size),
              "overrides": cell_changes(augmentation, preset, overrides), "config": config,
              "labels": {k: m.label for k, m in scorers.items()},
              "perceptual_loss": model.info.get("perceptual") if trained else "no training",
              "train_or_load_s": t_train, "ms_per_frame": 1000 * float(np.median(render_s)),
              "summary": summary, "per_frame": rows}

    if path is not None:
        write_json(path, result)
    return result


def _cell_settings(primitive_kind: str, method: str, preset: str, overrides: dict) -> dict:
    """What makes a cell's result, as its file stores it: the training config, or PatchNN's settings."""
    settings = (asdict(PatchNNConfig()) if method == PATCHNN else
                TrainConfig.preset(preset, primitive_kind=primitive_kind, augmentation=method, **overrides).to_dict())
    return json.loads(json.dumps(settings))


def finished_cell(path: str | os.PathLike, primitive_kind: str, method: str, preset: str, segmentation: str,
                  frames: int, size_hw: tuple[int, int], overrides: dict, train_index: int = 0,
                  labels: dict[str, str] | None = None) -> dict | None:
    """The result in ``path`` if it is this cell's, finished: the same settings, frame count, frame size and
    test labels, and (``labels`` given) scored by the same metrics (e.g. not random-init ones, now that real
    weights are here); None when the file is missing, cut off or stale (with a note naming it)."""
    path = Path(path)
    if not path.exists():
        return None
    if primitive_kind == "edges":
        segmentation = "none"
    done = _read_cell(path, _cell_settings(primitive_kind, method, preset, overrides), preset)
    if (done is not None and done.get("frames") == frames and done.get("size_hw") == list(size_hw)
            and done.get("overrides") == cell_changes(method, preset, overrides)
            and done.get("segmentation") == segmentation and done.get("train_frame") == train_index
            and (labels is None or all(done["labels"].get(k) == v for k, v in labels.items()))):
        return done
    return None


_CELL_KEYS = ("clip", "primitive", "augmentation", "preset", "frames", "train_frame", "overrides", "labels",
              "summary", "per_frame")


def _read_cell(path: Path, config: dict, preset: str) -> dict | None:
    """A finished cell's JSON, or None (with a note naming the file) when it is cut off, stale or not a cell:
    trained with another ``config`` than its preset gives now (a preset changed between versions)."""
    try:
        done = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        print(f"deepsim-lite: note: {path} is not readable JSON ({type(err).__name__}); recomputing the cell")
        return None
    missing = [k for k in _CELL_KEYS if not isinstance(done, dict) or k not in done]
    if missing:
        print(f"deepsim-lite: note: {path} lacks {', '.join(missing[:3])} (another version?); recomputing the cell")
        return None
    if done.get("config") != config:
        old = done.get("config") or {}
        changed = [f"{k} {old[k]} -> {v}" for k, v in config.items() if k in old and old[k] != v][:3]
        print(f"deepsim-lite: note: {path} was trained with another configuration of preset {preset!r} "
              f"({', '.join(changed) or 'not recorded: written before 0.4'}); recomputing the cell")
        return None
    return done


def run_benchmark(clips: list[str], primitive_kinds: list[str], augmentations: list[str], preset: str = "lesson",
                  out_dir: str | os.PathLike = "outputs/video", max_frames: int = 30, progress: bool = True,
                  segmentation: str = "flow", **overrides) -> list[dict]:
    """Every (clip, primitive, augmentation) cell; clips are shipped names, folders or video files.
    ``segmentation``: how test frames get labels (``"flow"``, the default, or ``"kmeans"``)."""
    config = TrainConfig.preset(preset, **overrides)
    sources = {clip: clip_source(clip) for clip in clips}
    for source in sources.values():  # fail on a bad path before building metrics or training anything
        if not source.exists():
            raise FileNotFoundError(f"{source} does not exist; give a folder of frames or a video file")
    scorers = _scorers()
    results = []
    for clip, source in sources.items():
        name = clip_name(clip)
        frames = load_frames(source, max_frames)
        for kind in primitive_kinds:
            pairs = clip_pairs(frames, kind, config, name, segmentation=segmentation)
            for aug in augmentations:
                t0 = time.perf_counter()
                r = run_cell(pairs, name, kind, aug, preset, out_dir, scorers=scorers, progress=progress,
                             segmentation=segmentation, **overrides)
                results.append(r)
                if progress:
                    s = r["summary"]
                    print(f"{name:>9} {kind:>9} {aug:>9}: LPIPS {s['lpips']['mean']:.3f} SIFID "
                          f"{s['sifid']['mean']:.3f} PSNR {s['psnr']['mean']:.2f} ({time.perf_counter() - t0:.0f} s)")
    return results


def markdown_table(results: list[dict]) -> str:
    """One row per (clip, primitive, augmentation): mean ± std over the test frames.

    The table carries its own labels: the test frames' segmentation in the primitive column, the preset and
    reconstruction loss in a column, the metrics' backbone weights in their headers.
    """
    if not results:
        return ""
    metric_labels = {k: sorted({r["labels"][k] for r in results}) for k in ("lpips", "sifid")}

    def header(name: str, key: str) -> str:
        inner = "; ".join(v.split("[", 1)[1].rstrip("]") for v in metric_labels[key])
        return f"{name} ↓ [{inner}]"

    head = (f"| clip | primitive (test labels) | method | preset, loss | {header('LPIPS', 'lpips')} | "
            f"{header('SIFID', 'sifid')} | PSNR ↑ | SSIM ↑ | ms/frame |\n|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in results:
        s = r["summary"]
        seg = r.get("segmentation", "kmeans")
        prim = r["primitive"] if r["primitive"] == "edges" else f"{r['primitive']} ({seg})"
        lines.append(f"| {r['clip']} | {prim} | {r['augmentation']} | {r['preset']}, {r.get('perceptual_loss')} | "
                     f"{s['lpips']['mean']:.3f} ± {s['lpips']['std']:.3f} | {s['sifid']['mean']:.3f} ± "
                     f"{s['sifid']['std']:.3f} | {s['psnr']['mean']:.2f} ± {s['psnr']['std']:.2f} | "
                     f"{s['ssim']['mean']:.3f} ± {s['ssim']['std']:.3f} | {_ms(r)} |")
    note = (f"\n\nMean ± std over frames 1–{results[0]['frames'] - 1}, trained on frame {results[0]['train_frame']}. "
            "Test labels: flow = the training frame's segmentation carried by optical flow (geometry only); "
            "kmeans = colour k-means of each test frame (carries its colours). ms/frame: median time to render one "
            "frame on the machine that ran the cell (patchnn: nearest-neighbour patches of frame 0, no training).")
    if any("random-init" in v for r in results for v in r["labels"].values()):
        note += (" LPIPS and SIFID ran on seeded random-init backbones (no ImageNet weights on this machine): "
                 "deterministic feature distances, not the paper's metrics; whether they order outputs as the "
                 "ImageNet ones do is unmeasured.")
    return head + "\n".join(lines) + note


def _ms(result: dict) -> str:
    ms = result.get("ms_per_frame")
    return "" if ms is None else f"{ms:.0f}"


def comparison_panels(pairs: list[Pair], models: dict, frames: list[int]) -> tuple[list, list[str]]:
    """Rows of frames as tiles and captions: primitive / truth / one output per model (e.g. crop+flip, TPS);
    ``viz.show(*comparison_panels(...), ncols=2 + len(models))``."""
    tiles, caps = [], []
    for i in frames:
        tiles += [pairs[i].primitive, pairs[i].image] + [m.generate(pairs[i].primitive) for m in models.values()]
        caps += [f"frame {i} primitive", "truth"] + [f"{name}, frame {i}" for name in models]
    return tiles, caps


def comparison_figure(pairs: list[Pair], models: dict, frames: list[int]) -> np.ndarray:
    """:func:`comparison_panels` in one captioned picture, for files. ``(H, W, 3)`` uint8."""
    return make_grid(*comparison_panels(pairs, models, frames), ncols=2 + len(models), tile_height=120)
