"""A sweep's tables: :func:`summarise` (mean ± std over seeds per group, and paired comparisons of each
factor's values), :func:`markdown_tables`, :func:`write_report` (``sweep.json`` and ``sweep.md``), and
:func:`sweep_table` (the table the package ships, or that of your own sweep)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ..._io import write_json, write_text
from ...primitives.samples import data_dir
from ..heldout import paired_difference
from .grid import Cell, Grid
from .runner import Outcome

METRICS = {"psnr": True, "ssim": True, "lpips": False, "sifid": False}  # name -> higher is better
SHIPPED_TABLE = "results/video_sweep.md"  # in the sample data: the committed sweep's (scripts/ship_video_table.py)


def _group_key(cell: Cell) -> tuple:
    """The cell's factors other than the seed: ``(("clip", ..), ("primitive", ..), ("method", ..), *fields)``."""
    return (("clip", cell.name), ("primitive", cell.primitive), ("method", cell.method), *cell.fields)


def summarise(results: list[tuple[Cell, dict]], grid: Grid, confidence: float = 0.95) -> dict:
    """Mean ± std over seeds per group of the other factors, and a paired comparison per factor.

    ``rows``: one per (clip, primitive, method, field values): each metric's mean over the test frames of
    every seed's run, then their mean and standard deviation (n − 1) over seeds.
    ``comparisons``: for each factor with several values (method, primitive, each field), every pair of values,
    the later in the grid's order minus the earlier (tps − crop_flip, patchnn − crop_flip, patchnn − tps), per
    group of the other factors and pooled over all of them:
    :func:`deepsim_lite.analysis.heldout.paired_difference` on (seeds, frames) scores — a t interval over the
    per-seed differences (the same seed pairs the two runs); two deterministic runs (patchnn − patchnn) compare
    over the frames with a moving-block bootstrap, the frames of a clip being alike in runs. A deterministic
    method (patchnn) has one run; it stands for every seed.
    """
    groups: dict[tuple, dict[int | None, dict]] = {}
    for cell, result in results:
        groups.setdefault(_group_key(cell), {})[cell.seed] = result
    rows = []
    for key, runs in groups.items():
        first = next(iter(runs.values()))
        means = {m: np.array([r["summary"][m]["mean"] for r in runs.values()], dtype=float) for m in METRICS}
        rows.append({**dict(key), "seeds": [s for s in runs if s is not None], "runs": len(runs),
                     "perceptual_loss": first.get("perceptual_loss"), "labels": first["labels"],
                     "segmentation": first.get("segmentation"),
                     "ms_per_frame": float(np.mean([r.get("ms_per_frame") or np.nan for r in runs.values()])),
                     **{m: {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None}
                        for m, v in means.items()}})
    factors = [("method", list(grid.methods)), ("primitive", list(grid.primitives))] + [
        (k, list(v)) for k, v in grid.fields]
    comparisons = []
    for factor, values in factors:
        for i, earlier in enumerate(values):
            for later in values[i + 1:]:
                comparisons += _compare(groups, factor, later, earlier, grid.seeds, confidence)
    return {"grid": grid.to_dict(), "confidence": confidence, "rows": rows, "comparisons": comparisons}


def _scores(runs: dict, seeds: tuple[int, ...], metric: str) -> np.ndarray | None:
    """``(seeds, frames)``: the run of each seed; a seedless run repeated for every seed; None if any is missing."""
    if None in runs:
        per = [runs[None]] * len(seeds)
    elif all(s in runs for s in seeds):
        per = [runs[s] for s in seeds]
    else:
        return None
    return np.array([[row[metric] for row in r["per_frame"]] for r in per], dtype=float)  # null (inf PSNR): nan


def _compare(groups, factor: str, a_value, b_value, seeds, confidence) -> list[dict]:
    """A − B for one factor's two values, per group of the other factors and pooled."""
    sides: dict = {a_value: {}, b_value: {}}
    for key, runs in groups.items():
        level = dict(key).get(factor)
        if level in sides:
            sides[level][tuple((k, v) for k, v in key if k != factor)] = runs
    everywhere = list(dict.fromkeys([*sides[a_value], *sides[b_value]]))

    def runs_for(side: dict, rest: tuple) -> dict | None:
        # a patchnn group (clip and primitive only: it has no training fields) pairs with every field value
        return side.get(rest, side.get(rest[:2]) if factor == "method" else None)

    out, pooled, fixed = [], {m: ([], []) for m in METRICS}, []
    for rest in everywhere:
        if factor == "method" and len(rest) == 2 and any(len(k) > 2 and k[:2] == rest for k in everywhere):
            continue  # a patchnn group: compared under each field value of the other method
        pair = {a_value: runs_for(sides[a_value], rest), b_value: runs_for(sides[b_value], rest)}
        if pair[a_value] is None or pair[b_value] is None:
            continue
        scores = {m: (_scores(pair[a_value], seeds, m), _scores(pair[b_value], seeds, m)) for m in METRICS}
        if any(a is None or b is None for a, b in scores.values()):
            continue  # a failed or missing seed: no paired comparison for this group
        both_fixed = None in pair[a_value] and None in pair[b_value]  # two deterministic runs: compare over frames
        fixed.append(both_fixed)
        row = {"factor": factor, "a": a_value, "b": b_value, "where": dict(rest)}
        for m, (a, b) in scores.items():
            row[m] = paired_difference(a[:1] if both_fixed else a, b[:1] if both_fixed else b,
                                       higher_is_better=METRICS[m], confidence=confidence, ordered_items=True)
            pooled[m][0].append(a)
            pooled[m][1].append(b)
        out.append(row)
    if len(out) > 1:
        row = {"factor": factor, "a": a_value, "b": b_value, "where": "all"}
        keep = slice(0, 1) if all(fixed) else slice(None)  # nothing but deterministic runs: over frames
        for m, (a, b) in pooled.items():
            row[m] = paired_difference(np.concatenate(a, axis=1)[keep], np.concatenate(b, axis=1)[keep],
                                       higher_is_better=METRICS[m], confidence=confidence, ordered_items=True)
        out.append(row)
    return out


# What each kind of interval in a table is (a table made by an earlier version keeps its own kinds, and says so)
_INTERVAL_NOTES = {
    "seeds": "Over seeds: Welch's interval over each seed's mean; a deterministic method's one run stands for every "
             "seed.",
    "seeds (paired)": "Over seeds (paired): a t interval over the per-seed differences, the two runs of one seed "
                      "sharing its initialisation and warps; a deterministic method's one run stands for every seed.",
    "items": "Over items: a paired interval over the frames, where nothing else varies (one seed, or two "
             "deterministic runs such as patchnn − patchnn).",
    "frames (block bootstrap)": "Over frames: a moving-block bootstrap over the frames (blocks of ⌈√n⌉, since "
                                "neighbouring frames are alike), where nothing else varies (two deterministic runs "
                                "such as patchnn − patchnn).",
}


def markdown_tables(summary: dict) -> str:
    """The summary as two Markdown tables (per group: mean ± std over seeds; per factor: A − B) with labels."""
    rows, grid = summary["rows"], summary["grid"]
    if not rows:
        return "(no finished cells)"
    fields = list(grid["fields"])
    labels = {m: sorted({r["labels"][m] for r in rows}) for m in ("lpips", "sifid")}

    def weights(m: str) -> str:
        return "; ".join(v.split("[", 1)[1].rstrip("]") if "[" in v else v for v in labels[m])

    heads = {"psnr": "PSNR ↑", "ssim": "SSIM ↑", "lpips": f"LPIPS ↓ [{weights('lpips')}]",
             "sifid": f"SIFID ↓ [{weights('sifid')}]"}
    digits = {"psnr": 2, "ssim": 3, "lpips": 3, "sifid": 3}
    head = ["clip", "primitive", "method", *fields, "runs (seeds)", *heads.values(), "ms/frame"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        runs = f"{r['runs']} ({', '.join(map(str, r['seeds']))})" if r["seeds"] else "1 (deterministic)"
        cells = [r["clip"], r["primitive"] if r["primitive"] == "edges" else f"{r['primitive']} ({r['segmentation']})",
                 r["method"], *(str(r.get(f, "—")) for f in fields), runs]
        for m in METRICS:
            d = digits[m]
            std = r[m]["std"]
            cells.append(f"{r[m]['mean']:.{d}f}" + (f" ± {std:.{d}f}" if std is not None else ""))
        cells.append(f"{r['ms_per_frame']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    losses = sorted({str(r["perceptual_loss"]) for r in rows})
    note = (f"\n\nPreset {grid['preset']}; reconstruction loss: {', '.join(losses)}. Each run trains on frame 0 and "
            f"is scored on frames 1–{grid['frames'] - 1} (its mean over frames); the table gives the mean ± std "
            "(n − 1) of those means over the training seeds. ms/frame: median time to render one frame, on the "
            "machine and with the cells that shared it during the sweep.")
    if any("random-init" in v for vs in labels.values() for v in vs):
        note += (" LPIPS and SIFID ran on seeded random-init backbones (no ImageNet weights on this machine): "
                 "deterministic feature distances, not the paper's metrics.")
    comps = summary["comparisons"]
    if comps:
        level = f"{100 * summary['confidence']:g}"
        chead = ["A − B", "where", *(f"Δ{heads[m]}" for m in METRICS)]
        lines2 = ["| " + " | ".join(chead) + " |", "|" + "---|" * len(chead)]
        for c in comps:
            where = "all (pooled)" if c["where"] == "all" else ", ".join(
                str(v) if k in ("clip", "primitive", "method") else f"{k}={v}" for k, v in c["where"].items())
            vals = []
            for m in METRICS:
                d = c[m]
                p = digits[m] + (1 if m != "psnr" else 0)
                vals.append(f"{d['mean']:+.{p}f} [{d['ci_low']:+.{p}f}, {d['ci_high']:+.{p}f}] "
                            f"({100 * d['a_better_fraction']:.0f}%)")
            lines2.append(f"| {c['a']} − {c['b']} | {where} | " + " | ".join(vals) + " |")
        over = sorted({c[m]["interval_over"] for c in comps for m in METRICS})
        kind = "interval" if "frames (block bootstrap)" in over else "t interval"
        note2 = (f"\n\nA − B: the difference of means, [{level}% {kind} over {' / '.join(over)}], (the share of "
                 "frames where A is better). " + " ".join(v for k, v in _INTERVAL_NOTES.items() if k in over)
                 + " Pooled: every group's frames together.")
        return "\n".join(lines) + note + "\n\n" + "\n".join(lines2) + note2
    return "\n".join(lines) + note


def write_report(out_dir: str | os.PathLike, grid: Grid, outcome: Outcome, command: str = "",
                 device: str = "") -> tuple[Path, Path]:
    """``sweep.json`` (the grid, the summary, and one record per invocation of this grid in ``out_dir``: what
    ran, what was skipped or failed, wall time) and ``sweep.md`` (the tables) in ``out_dir``.

    A sweep resumed over several invocations (a SLURM job resubmitted after its time limit) keeps every
    invocation's record in ``history``; a different grid starts a new history.
    """
    out = Path(out_dir)
    summary = summarise(outcome.results, grid)
    table = _report(summary, outcome.failed)
    history = []
    try:
        old = json.loads((out / "sweep.json").read_text())
        if old.get("grid") == json.loads(json.dumps(grid.to_dict())):
            history = list(old.get("history", []))
    except (OSError, ValueError, AttributeError):
        pass  # none yet, or unreadable: start again
    history.append({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": command, "device": device,
                    "wall_s": outcome.wall_s, "cluster": outcome.cluster, "ran": outcome.ran,
                    "skipped": len(outcome.skipped), "failed": outcome.failed})
    write_json(out / "sweep.json", {**summary, "history": history})
    write_text(out / "sweep.md", table)
    return out / "sweep.json", out / "sweep.md"


def _report(summary: dict, failed: dict[str, str]) -> str:
    """``sweep.md``: the tables, and the cells that failed."""
    table = markdown_tables(summary)
    if failed:
        table += "\n\nFailed cells (re-run the same command to retry them): " + "; ".join(
            f"{k}: {v}" for k, v in failed.items())
    return table + "\n"


def sweep_table(folder: str | os.PathLike | None = None) -> str:
    """The video benchmark's table as Markdown: without ``folder``, the one shipped with the package (the lesson
    preset's sweep measured for the README, :data:`SHIPPED_TABLE` in the sample data); with it, that of your own
    sweep in ``folder`` (``deepsim-lite sweep --out FOLDER``): where it ran, then its ``sweep.md``, made from its
    ``sweep.json``. A folder of ``deepsim-lite bench video`` (one seed) gives its ``table.md``."""
    if folder is None:
        return (data_dir() / SHIPPED_TABLE).read_text()
    folder = Path(folder)
    if not (folder / "sweep.json").is_file():
        if (folder / "table.md").is_file():
            return (folder / "table.md").read_text()
        raise FileNotFoundError(f"no sweep in {folder}: neither sweep.json (deepsim-lite sweep --out {folder}) nor "
                                f"table.md (deepsim-lite bench video --out {folder})")
    report = json.loads((folder / "sweep.json").read_text())
    last = report["history"][-1] if report.get("history") else {}
    where = (f"Sweep `{last.get('command') or 'deepsim-lite sweep'}`, last run {(last.get('finished') or '?')[:10]}; "
             f"its device, as recorded: {last.get('device') or 'not recorded'}.")
    return where + "\n\n" + _report(report, last.get("failed") or {})
