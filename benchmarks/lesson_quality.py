"""Which lesson configuration gives the best held-out picture for a fixed CPU budget?

    python benchmarks/lesson_quality.py                      # every candidate, 90 s each, cat + carphone, 1 seed
    python benchmarks/lesson_quality.py --candidates lesson-0.3 lesson --seeds 3   # the margin, over seeds
    python benchmarks/lesson_quality.py --candidates laptop --budget 0   # a preset at its own iterations

Every candidate is a set of :class:`TrainConfig` overrides. Each trains on one pair under the *same wall-clock
budget* (``--budget`` seconds, one run at a time, ``--threads`` threads, compile time included): a few steps
measure its speed, then its iterations are set so that training ends at the budget (the learning-rate
schedule — constant, then linear decay over the second half — fits the steps it gets). ``--budget 0`` trains
a candidate at its preset's own iterations instead.

Scores come from data none of them trained on (:mod:`deepsim_lite.analysis.heldout`): TPS warps of another family
(3×3, L = 6), affine + elastic warps and, for a video sample, the clip's other frames with flow-carried
labels. Candidates train at different sizes, so all are judged at one reference size per sample (the largest
any candidate uses): the test warps are resampled to each model's size (``heldout.resize_grids``), its output
is resized back (bilinear) and compared with the reference-size picture — a model that trains small pays for
the detail it cannot draw. PSNR and SSIM count pixels a warp took from inside the image; LPIPS is reported
only with ImageNet weights (random-init LPIPS ranks nothing).

Results per (sample, candidate, seed) go to ``benchmarks/results/lesson_quality/`` and are read back on a re-run
(``--fresh`` retrains); the summary goes to ``benchmarks/results/lesson_quality_cpu.{json,md}`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from _common import device_name

import deepsim_lite as ds
from deepsim_lite import heldout, metrics, video
from deepsim_lite._io import write_json, write_text
from deepsim_lite.method.config import channels_last_enabled, select_device
from deepsim_lite.method.train import Trainer

# The lesson preset as it was in 0.3 (hand-picked): the baseline every candidate is compared with. Pixel L1 as
# ℓ_rec, as 0.3 and 0.4 trained it (without VGG weights then; explicit now that the weights are here), so that the
# size and width candidates compare at the loss they were chosen with.
LESSON_0_3 = dict(max_side=128, ngf=24, n_downsample=2, n_blocks=4, ndf=24, n_layers_d=3, num_d=2,
                  reconstruction="l1", vgg_fallback="l1", lr=1e-3, batch_size=1)
CANDIDATES: dict[str, dict] = {  # name: TrainConfig overrides on LESSON_0_3 ("coarse": see train_budget)
    "lesson-0.3": {},
    "side192": {"max_side": 192},
    "side256": {"max_side": 256},
    "side128-b4": {"batch_size": 4},
    "side128-b8": {"batch_size": 8},
    "side192-b2": {"max_side": 192, "batch_size": 2},
    "side192-b4": {"max_side": 192, "batch_size": 4},
    "side192-b4-channels_last": {"max_side": 192, "batch_size": 4, "channels_last": True},
    "side192-lr2e-4": {"max_side": 192, "lr": 2e-4},
    "side192-lr2e-3": {"max_side": 192, "lr": 2e-3},
    "side192-ngf16": {"max_side": 192, "ngf": 16, "ndf": 16},
    "side192-ngf32": {"max_side": 192, "ngf": 32, "ndf": 32},
    "side192-ngf12": {"max_side": 192, "ngf": 12, "ndf": 12},
    "side192-ngf8": {"max_side": 192, "ngf": 8, "ndf": 8},
    "side256-ngf16": {"max_side": 256, "ngf": 16, "ndf": 16},
    "side192-deep": {"max_side": 192, "n_downsample": 3, "n_blocks": 6},
    "side192-compile": {"max_side": 192, "compile": True},
    "side192-coarse": {"max_side": 192, "coarse": 128},
}
PRESET_CANDIDATES = ("lesson", "lesson_long", "laptop")  # the presets as this version ships them (TrainConfig.preset)
# The lesson preset with another reconstruction loss ℓ_rec (issue: which loss serves the lesson best at equal time)
LOSS_CANDIDATES: dict[str, dict] = {  # ("lesson" itself was pixel L1 when the 45 s comparison ran: lesson/l1 now)
    "lesson/l1": {"reconstruction": "l1", "vgg_layers": 5, "vgg_downsample": 1},
    "lesson/vgg19": {"reconstruction": "vgg19"},  # the paper's term (Caffe weights here, torchvision's elsewhere)
    "lesson/vgg16": {"reconstruction": "vgg16"},
    "lesson/vgg19-3": {"reconstruction": "vgg19", "vgg_layers": 3},  # relu1_1-relu3_1 only
    "lesson/vgg19-half": {"reconstruction": "vgg19", "vgg_downsample": 2},  # on 2x average-pooled images
    "lesson/vgg19-3-half": {"reconstruction": "vgg19", "vgg_layers": 3, "vgg_downsample": 2},
    # the shipped models' recipe (lesson_long: pixel L1, 4000 steps) with the lesson's cheap VGG19 term instead
    "lesson_long/vgg19-3-half": {"reconstruction": "vgg19", "vgg_layers": 3, "vgg_downsample": 2},
    # the laptop preset (pixel L1) with the cheap VGG19 term, and with the paper's full one
    "laptop/vgg19-3-half": {"reconstruction": "vgg19", "vgg_layers": 3, "vgg_downsample": 2},
    "laptop/vgg19": {"reconstruction": "vgg19"},
}
SAMPLES = {"chelsea": None, "carphone": "carphone"}  # name: video clip (its other frames are a test set)
WARMUP_STEPS, SPEED_STEPS = 5, 15


def candidate_config(name: str, kind: str) -> tuple[ds.TrainConfig, int | None]:
    """(config, coarse side or None) of a candidate; its iterations are set later by the budget."""
    if name in PRESET_CANDIDATES:
        return ds.TrainConfig.preset(name, primitive_kind=kind), None
    if name in LOSS_CANDIDATES:
        base = name.split("/")[0]  # the preset it changes: lesson, lesson_long or laptop
        return ds.TrainConfig.preset(base, primitive_kind=kind, **LOSS_CANDIDATES[name]), None
    over = dict(CANDIDATES[name])
    coarse = over.pop("coarse", None)
    return ds.TrainConfig(primitive_kind=kind, **{**LESSON_0_3, **over}), coarse


class Sample:
    """One training scene at every size a candidate asks for, and its test sets at the reference size."""

    def __init__(self, name: str, kind: str, ref_side: int, n_warps: int, n_frames: int) -> None:
        self.name, self.kind, self.clip = name, kind, SAMPLES[name]
        self._cache: dict = {}
        self.frames = video.load_frames(video.clip_path(self.clip), n_frames) if self.clip else None
        ref = self._pairs(ds.TrainConfig(primitive_kind=kind, max_side=ref_side, n_downsample=2))
        self.ref_size = ref[0].size
        self.grids = heldout.warp_grids(*self.ref_size, n_warps)  # the same test warps as benchmarks/heldout.py
        self.ref_sets = [heldout.warp_set(ref[0], n, grids) for n, grids in self.grids.items()]
        if self.frames:
            self.ref_sets.append(heldout.frame_set(ref))

    def _pairs(self, config: ds.TrainConfig) -> list[ds.Pair]:
        key = (config.max_side, config.multiple, config.n_segments)
        if key not in self._cache:
            if self.frames is None:
                self._cache[key] = [ds.load_sample(self.name, self.kind, max_side=config.max_side,
                                                   multiple=config.multiple, n_segments=config.n_segments)]
            else:
                self._cache[key] = video.clip_pairs(self.frames, self.kind, config, self.name, segmentation="flow")
        return self._cache[key]

    def size(self, config: ds.TrainConfig) -> tuple[int, int]:
        return self._pairs(config)[0].size

    def for_config(self, config: ds.TrainConfig) -> tuple[ds.Pair, list[heldout.HeldOutSet]]:
        """The training pair at the config's size and the test sets with primitives at that size."""
        pairs = self._pairs(config)
        sets = []
        for ref_set in self.ref_sets:
            if ref_set.name in self.grids:
                grids = heldout.resize_grids(self.grids[ref_set.name], pairs[0].size)
                prims = heldout.warp_set(pairs[0], ref_set.name, grids).primitives
            else:
                prims = heldout.frame_set(pairs).primitives
            sets.append(dataclasses.replace(ref_set, primitives=prims))
        return pairs[0], sets


def _timed_steps(trainer: Trainer, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        trainer.train_step()
    return time.perf_counter() - t


def train_budget(pair: ds.Pair, config: ds.TrainConfig, budget_s: float, coarse_pair: ds.Pair | None = None
                 ) -> tuple[ds.DeepSIMModel, dict]:
    """Train for about ``budget_s`` seconds of wall clock (building the networks, compile, warm-up, speed
    measurement and training all count). The step count is fixed from the speed of the first steps, so a machine
    whose speed drifts overshoots or undershoots: the cell records the real ``train_s``. With ``coarse_pair``
    the first half of the budget trains on it (the same
    networks at a lower resolution, constant learning rate), the second half continues on ``pair`` with the
    learning rate decaying to 0: the usual schedule, its first half spent at the coarse size."""
    info: dict = {}
    t0 = time.perf_counter()
    open_ended = dataclasses.replace(config, iterations=10**9)  # constant lr while the speed is measured
    stages = [(coarse_pair, budget_s / 2), (pair, budget_s)] if coarse_pair is not None else [(pair, budget_s)]
    trainer = None
    for i, (p, until) in enumerate(stages):
        last = i == len(stages) - 1
        previous, trainer = trainer, Trainer(p, open_ended)
        if previous is not None:  # fully convolutional: the coarse networks and Adam state carry over
            for name in ("G", "D", "opt_G", "opt_D"):
                getattr(trainer.gan, name).load_state_dict(getattr(previous.gan, name).state_dict())
        warm = _timed_steps(trainer, WARMUP_STEPS)
        rate = SPEED_STEPS / _timed_steps(trainer, SPEED_STEPS)
        n = trainer.step + max(0, int((until - (time.perf_counter() - t0)) * rate))
        if last:
            # stage-local schedule: a coarse stage already spent the constant half
            trainer.config = dataclasses.replace(config, iterations=n, decay_start=0.0 if i else config.decay_start)
        while trainer.step < n:
            trainer.train_step()
        info.setdefault("stages", []).append({"size": list(p.size), "steps": n, "warmup_s": warm,
                                              "steps_per_s": rate})
    info["train_s"] = time.perf_counter() - t0
    info["steps"] = sum(s["steps"] for s in info["stages"])
    return trainer.model(), info


def train_iterations(pair: ds.Pair, config: ds.TrainConfig) -> tuple[ds.DeepSIMModel, dict]:
    """Train a preset at its own iterations (``--budget 0``)."""
    result = ds.fit(pair, config, progress=False, preview="none")
    return result.model, {"train_s": result.wall_time_s, "steps": result.steps,
                          "stages": [{"size": list(pair.size), "steps": result.steps,
                                      "steps_per_s": result.steps_per_s}]}


def cell_key(sample: Sample, name: str, seed: int) -> str:
    """What a cell trains, whatever its name: two candidates that come to the same size and config (e.g. a
    larger max_side on a small video) are one cell."""
    config, coarse = candidate_config(name, sample.kind)
    size = sample.size(config)
    d = dataclasses.replace(config, seed=seed, max_side=None).to_dict()
    coarse_size = list(sample.size(dataclasses.replace(config, max_side=coarse))) if coarse else None
    return json.dumps([sample.name, list(size), coarse_size, d], sort_keys=True, default=str)


def measure_rate(sample: Sample, name: str, steps: int = 30) -> float:
    """Training steps per second of a candidate on the sample (after 5 warm-up steps), measured alone: the
    ``--speed-first`` runs fix every cell's steps from these, so the cells themselves may share the machine."""
    config, _ = candidate_config(name, sample.kind)
    trainer = Trainer(sample.for_config(config)[0], dataclasses.replace(config, iterations=10**9))
    _timed_steps(trainer, WARMUP_STEPS)
    return steps / _timed_steps(trainer, steps)


def run_cell(sample: Sample, name: str, seed: int, budget: float, scorers: dict, out_dir: Path,
             fresh: bool, steps: int | None = None) -> dict:
    """Train and score one (sample, candidate, seed): for ``budget`` seconds, or (``steps``, from
    :func:`measure_rate`) for that many steps at the preset's schedule."""
    tag = f"{budget:g}s" if steps is None else f"{budget:g}s-speed-first"
    path = out_dir / f"{sample.name}-{sample.kind}-{name.replace('/', '+')}-s{seed}-{tag}.json"
    config, coarse = candidate_config(name, sample.kind)
    config = dataclasses.replace(config, seed=seed, **({"iterations": steps} if steps is not None else {}))
    if path.exists() and not fresh:
        cell = json.loads(path.read_text())
        if "refused" in cell or _same_setup(cell, config, coarse, sample):
            return cell
        print(f"{path.name}: trained with another config or test set (a preset changed?); training again")
    use_nhwc, why_not = channels_last_enabled(config, select_device(config.device).type)
    if config.channels_last and not use_nhwc:
        cell = {"sample": sample.name, "candidate": name, "seed": seed, "refused": why_not}
        write_json(path, cell)
        return cell
    pair, sets = sample.for_config(config)
    coarse_pair = None
    if coarse is not None:
        coarse_pair = sample.for_config(dataclasses.replace(config, max_side=coarse))[0]
    if budget > 0 and steps is None:
        model, info = train_budget(pair, config, budget, coarse_pair)
    else:
        model, info = train_iterations(pair, config)
    scores = {s.name: heldout.score(model, s, scorers) for s in sets}
    cell = {"sample": sample.name, "candidate": name, "seed": seed, "budget_s": budget, "size": list(pair.size),
            "reference_size": list(sample.ref_size), "config": config.to_dict(), "coarse_side": coarse,
            "reconstruction_loss": model.info.get("perceptual"), **info, "scores": scores}
    write_json(path, cell)
    return cell


def _same_setup(cell: dict, config: ds.TrainConfig, coarse: int | None, sample: Sample) -> bool:
    """Whether a stored cell was trained and scored as this run would: same config, coarse stage, reference
    size and test sets (a changed preset, e.g. ``lesson`` between versions, must not be read back)."""
    sizes = {s.name: len(s) for s in sample.ref_sets}
    now, default = json.loads(json.dumps(config.to_dict())), ds.TrainConfig().to_dict()
    stored = cell.get("config") or {}
    # a field added since the cell was written matches when it is at its default (it did not exist then)
    same_config = all(stored.get(k, default[k]) == v for k, v in now.items()) and set(stored) <= set(now)
    return (same_config and cell.get("coarse_side") == coarse
            and cell.get("reference_size") == list(sample.ref_size)
            and {k: len(v["psnr"]) for k, v in cell.get("scores", {}).items()} == sizes)


def summarise(cells: list[dict], baseline: str) -> list[dict]:
    """One row per candidate: speed, and mean PSNR/SSIM per sample and test set (averaged over seeds)."""
    rows = []
    for name in dict.fromkeys(c["candidate"] for c in cells):
        mine = [c for c in cells if c["candidate"] == name]
        if any("refused" in c for c in mine):
            rows.append({"candidate": name, "refused": mine[0]["refused"]})
            continue
        row = {"candidate": name, "seeds": len({c["seed"] for c in mine}), "samples": {},
               "reconstruction_loss": mine[0].get("reconstruction_loss")}
        for sample in dict.fromkeys(c["sample"] for c in mine):
            sc = [c for c in mine if c["sample"] == sample]
            sets = {s: {m: float(np.mean([np.mean(c["scores"][s][m]) for c in sc])) for m in sc[0]["scores"][s]}
                    for s in sc[0]["scores"]}
            row["samples"][sample] = {"size": sc[0]["size"], "steps": float(np.mean([c["steps"] for c in sc])),
                                      "train_s": float(np.mean([c["train_s"] for c in sc])),
                                      "steps_per_s": sc[0]["stages"][-1]["steps_per_s"], "sets": sets}
        per_sample = [np.mean([v["psnr"] for v in s["sets"].values()]) for s in row["samples"].values()]
        row["psnr"] = float(np.mean(per_sample))
        for metric in ("ssim", "lpips", "sifid"):
            if all(metric in v for s in row["samples"].values() for v in s["sets"].values()):
                row[metric] = float(np.mean([np.mean([v[metric] for v in s["sets"].values()])
                                             for s in row["samples"].values()]))
        rows.append(row)
    base = next((r for r in rows if r["candidate"] == baseline and "psnr" in r), None)
    for r in rows:
        if base is not None and "psnr" in r:
            r["delta_psnr_vs_baseline"] = r["psnr"] - base["psnr"]
    return sorted(rows, key=lambda r: -r.get("psnr", -np.inf))


def margins(cells: list[dict], a: str, b: str) -> list[dict]:
    """A − B per (sample, test set): PSNR difference with a 95% interval (over seeds when both have >= 2)."""
    out = []
    for sample in dict.fromkeys(c["sample"] for c in cells):
        ca = sorted((c for c in cells if c["candidate"] == a and c["sample"] == sample), key=lambda c: c["seed"])
        cb = sorted((c for c in cells if c["candidate"] == b and c["sample"] == sample), key=lambda c: c["seed"])
        if not ca or not cb or "scores" not in ca[0] or "scores" not in cb[0]:
            continue
        for s in ca[0]["scores"]:
            for m in ca[0]["scores"][s]:
                d = heldout.paired_difference([c["scores"][s][m] for c in ca], [c["scores"][s][m] for c in cb],
                                              higher_is_better=m in ("psnr", "ssim"), ordered_items=s == "frames")
                out.append({"a": a, "b": b, "sample": sample, "set": s, "metric": m, **d})
    return out


def markdown(result: dict) -> str:
    labels = f"{result['budget_label']}, {result['device']}"
    samples = result["samples"]
    head = " | ".join(f"{s}: size, steps in training time (steps/s)" for s in samples)
    sets = {s: list(next(r["samples"][s]["sets"] for r in result["rows"] if "samples" in r)) for s in samples}
    set_cols = " | ".join(f"PSNR {s}: {t}" for s in samples for t in sets[s])
    extra = [m for m in ("lpips", "sifid") if any(m in r for r in result["rows"])]
    extra_head = "".join(f" {m.upper()} ↓ [{result[m]}] |" for m in extra)
    lines = [f"| candidate ({labels}) | ℓ_rec | {head} | PSNR ↑ (mean) | Δ vs {result['baseline']} | SSIM ↑ |"
             f"{extra_head} {set_cols} |",
             "|---" * (5 + len(samples) + len(extra) + sum(map(len, sets.values()))) + "|"]
    for r in result["rows"]:
        if "refused" in r:
            lines.append(f"| {r['candidate']} | not trained: {r['refused']} |")
            continue
        measured = result.get("measured_steps_per_s", {})
        cols = [f"{v['size'][0]}×{v['size'][1]}, {v['steps']:.0f} in {v['steps'] / measured[s][r['candidate']]:.0f} s "
                f"({measured[s][r['candidate']]:.1f}/s, measured alone)" if s in measured else
                f"{v['size'][0]}×{v['size'][1]}, {v['steps']:.0f} in {v['train_s']:.0f} s "
                f"({v['steps'] / v['train_s']:.1f}/s)" for s, v in r["samples"].items()]
        per_set = [f"{r['samples'][s]['sets'][t]['psnr']:.2f}" for s in samples for t in sets[s]]
        seeds = f" ({r['seeds']} seeds)" if r["seeds"] > 1 else ""
        lines.append(f"| {r['candidate']}{seeds} | {r.get('reconstruction_loss') or result['reconstruction_loss']} | "
                     + " | ".join(cols) + f" | {r['psnr']:.2f} | {r.get('delta_psnr_vs_baseline', float('nan')):+.2f}"
                     f" | {r['ssim']:.3f} |" + "".join(f" {r[m]:.3f} |" if m == "lpips" else f" {r[m]:.2f} |"
                                                          for m in extra) + " " + " | ".join(per_set) + " |")
    if result["margins"]:
        lines += ["", "| A − B | sample | test set | metric | difference [95% interval] (items A wins) "
                  "| interval over |",
                  "|---|---|---|---|---|---|"]
        for m in result["margins"]:
            digits = 3 if m["metric"] in ("ssim", "lpips") else 2
            lines.append(f"| {m['a']} − {m['b']} | {m['sample']} | {m['set']} | {m['metric']} | "
                         f"{m['mean']:+.{digits}f} [{m['ci_low']:+.{digits}f}, {m['ci_high']:+.{digits}f}] "
                         f"({m['a_better_fraction']:.0%}) | {m['interval_over']} ({m['seeds'][0]} vs {m['seeds'][1]} "
                         "seeds) |")
    return "\n".join(lines)


def main() -> None:
    names = [*CANDIDATES, *PRESET_CANDIDATES, *LOSS_CANDIDATES]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=names)
    ap.add_argument("--samples", nargs="+", default=list(SAMPLES), choices=list(SAMPLES))
    ap.add_argument("--budget", type=float, default=90.0, help="training seconds per candidate (0: own iterations)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--seeds-only", nargs="+", default=None, metavar="CANDIDATE",
                    help="only these candidates get --seeds seeds; the others one")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--primitive", default="seg_edges", choices=["edges", "seg", "seg_edges"])
    ap.add_argument("--reference-side", type=int, default=256, help="longer side at which every model is scored")
    ap.add_argument("--warps", type=int, default=16, help="items per warped test set")
    ap.add_argument("--frames", type=int, default=30, help="frames of a clip (frame 0 trains)")
    ap.add_argument("--baseline", default="lesson-0.3", choices=names)
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), default=None,
                    help="margin A − B (default: best − baseline)")
    ap.add_argument("--speed-first", action="store_true", help="measure every candidate's speed first (alone), "
                    "then train each cell for budget x speed steps: cells robust to other work on the machine")
    ap.add_argument("--rates-from", default=None, metavar="JSON", help="the steps/s of an earlier --speed-first "
                    "result instead of measuring again (more seeds for the same cells; a sample it lacks is measured)")
    ap.add_argument("--fresh", action="store_true", help="retrain cells that are already on disk (cells trained "
                    "with another config or test set are retrained anyway)")
    ap.add_argument("--cells", type=Path, default=Path(__file__).parent / "results" / "lesson_quality",
                    help="folder of the per-cell results (read back on a re-run)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/lesson_quality_<device>.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lpips, sifid = metrics.LPIPS(), metrics.SIFID()
    scorers = {name: m for name, m in (("lpips", lpips), ("sifid", sifid)) if "random-init" not in m.label}
    cells, t0, speeds = [], time.perf_counter(), {}
    earlier = json.loads(Path(args.rates_from).read_text())["measured_steps_per_s"] if args.rates_from else {}
    for sname in args.samples:
        sample = Sample(sname, args.primitive, args.reference_side, args.warps, args.frames)
        done: dict[str, dict] = {}
        rates = {}
        if sname in earlier:  # the speeds an earlier --speed-first run measured: its cells are read back
            rates = speeds[sname] = earlier[sname]
        elif args.speed_first or args.rates_from:  # a sample the earlier run did not reach: measured now
            rates = {name: measure_rate(sample, name) for name in args.candidates}
            print(f"{sname:>9} steps/s: " + ", ".join(f"{n} {r:.2f}" for n, r in rates.items()), flush=True)
            speeds[sname] = rates
        for name in args.candidates:
            seeds = args.seeds if args.seeds_only is None or name in args.seeds_only else 1
            for seed in range(seeds):
                t = time.perf_counter()
                key = cell_key(sample, name, seed)
                if key in done:  # the same training as an earlier candidate: not run twice
                    cell = {**done[key], "candidate": name, "same_as": done[key]["candidate"]}
                else:
                    steps = max(1, round(args.budget * rates[name])) if rates else None
                    cell = done[key] = run_cell(sample, name, seed, args.budget, scorers, args.cells, args.fresh, steps)
                cells.append(cell)
                what = cell.get("refused") or (f"{cell['size'][0]}x{cell['size'][1]}, {cell['steps']} steps in "
                                               f"{cell['train_s']:.0f} s, PSNR " + ", ".join(
                                                   f"{s} {np.mean(v['psnr']):.2f}" for s, v in cell["scores"].items()))
                print(f"{sname:>9} {name:>26} s{seed}: {what} ({time.perf_counter() - t:.0f} s)", flush=True)
    rows = summarise(cells, args.baseline)
    best = next((r["candidate"] for r in rows if "psnr" in r), None)
    a, b = args.compare or (best, args.baseline)
    device = torch.device("cpu")
    trained = [c for c in cells if "scores" in c]
    result = {
        "benchmark": "lesson_quality", "device": device_name(device), "torch": torch.__version__,
        "command": "python benchmarks/lesson_quality.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items() if v is not None and v is not False and k not in ("out", "cells")),
        "budget_label": (f"{args.budget:g} s per candidate" + (" (steps from speeds measured first)"
                                                               if args.speed_first else ""))
        if args.budget else "each preset's own iterations",
        "primitive": args.primitive, "baseline": args.baseline, "baseline_config": LESSON_0_3,
        "candidates": {n: CANDIDATES.get(n, LOSS_CANDIDATES.get(n, f"preset {n!r}")) for n in args.candidates},
        "samples": {s: {"reference_size": next(c["reference_size"] for c in trained if c["sample"] == s)}
                    for s in args.samples if any(c["sample"] == s for c in trained)},
        "reconstruction_loss": next((c["reconstruction_loss"] for c in trained), None),
        "lpips": scorers["lpips"].label if "lpips" in scorers else f"not reported ({lpips.label})",
        "sifid": scorers["sifid"].label if "sifid" in scorers else f"not reported ({sifid.label})",
        "wall_s": time.perf_counter() - t0, "rows": rows, "measured_steps_per_s": speeds,
        "margins": margins(cells, a, b) if a and a != b else [],
    }
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / "lesson_quality_cpu.json"
    write_json(out, result)
    table = markdown(result)
    write_text(out.with_suffix(".md"), table + "\n")
    print(table)
    print(f"wall time {result['wall_s'] / 60:.1f} min; wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
