"""One table of who wins where, from several ``benchmarks/heldout.py`` results (clips, primitives, training budgets).

    python benchmarks/heldout_summary.py benchmarks/results/heldout_bikes_seg_edges_450_cpu.json ... \\
        --out benchmarks/results/heldout_summary_cpu.md

For each result and each comparison it ran (TPS − crop+flip: the paper's augmentation against pix2pixHD-SIA's;
TPS − patchnn: the generator against the training-free patch baseline), one row per test set: the difference of
means with its 95% interval (paired over seeds; see ``heldout.paired_difference``) for PSNR, LPIPS and SIFID, and
a verdict per metric — ``A`` or ``B`` where the interval excludes 0, ``tie`` where it does not. A clip the lesson
preset or the patch baseline was tuned on is marked so (``TUNED_ON``). The frames' row also has a ``late frames``
companion: frames 20-29, whose layout moved furthest from frame 0 (no window of frame 0 holds them exactly), from
the per-item scores (per-seed means over those frames, then the same paired interval).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from deepsim_lite import heldout

# what each shipped clip was used to tune (tuning hygiene: these rows are not an unbiased test)
TUNED_ON = {"carphone": "the lesson preset (0.4 sweep) and patchnn's position_weight were chosen on it"}
METRICS = {"psnr": (True, 2), "lpips": (False, 3), "sifid": (False, 2)}  # higher is better, digits
LATE = slice(19, 29)  # frames 20-29 of the 29 scored frames (frame 0 trains)


def verdict(d: dict, a: str, b: str) -> str:
    if d["ci_low"] > 0 or d["ci_high"] < 0:  # the difference's sign is the better method's only with direction
        return a if (d["mean"] > 0) == d["higher_is_better"] else b
    return "tie"


def _diff(scores_a: np.ndarray, scores_b: np.ndarray, metric: str) -> dict:
    higher, _ = METRICS[metric]
    d = heldout.paired_difference(scores_a, scores_b, higher)
    return {**d, "higher_is_better": higher}


def rows_of(result: dict) -> list[dict]:
    out = []
    per_item = result["per_item"]
    for a, b in (("tps", "crop_flip"), ("tps", "patchnn")):
        if a not in per_item or b not in per_item:
            continue
        for test_set in per_item[a]:
            subsets = [(test_set, slice(None))] + ([("late frames (20-29)", LATE)] if test_set == "frames" else [])
            for label, items in subsets:
                cells = {}
                for m in METRICS:
                    sa, sb = np.asarray(per_item[a][test_set][m]), np.asarray(per_item[b][test_set][m])
                    cells[m] = _diff(sa[:, items], sb[:, items], m)
                out.append({"a": a, "b": b, "set": label, "cells": cells})
    return out


def markdown(results: list[dict]) -> str:
    lines = []
    for r in results:
        tuned = TUNED_ON.get(r["clip"])
        head = (f"**{r['clip']}, {r['primitive']}, lesson preset, {r['iterations']} steps, {r['seeds']} seeds** "
                f"({r['reconstruction_loss']}; {r['labels']['lpips']}, {r['labels']['sifid']})"
                + (f" — tuned on this clip: {tuned}" if tuned else " — nothing was tuned on this clip"))
        lines += [head, "", "| A − B | test set | ΔPSNR ↑ | ΔLPIPS ↓ | ΔSIFID ↓ | better (PSNR / LPIPS / SIFID) |",
                  "|---|---|---|---|---|---|"]
        for row in rows_of(r):
            cells = []
            for m, (_, digits) in METRICS.items():
                d = row["cells"][m]
                cells.append(f"{d['mean']:+.{digits}f} [{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]")
            who = " / ".join(verdict(row["cells"][m], row["a"], row["b"]) for m in METRICS)
            lines.append(f"| {row['a']} − {row['b']} | {row['set']} | " + " | ".join(cells) + f" | {who} |")
        lines.append("")
    return "\n".join(lines)


def compact(results: list[dict]) -> str:
    """One row per (result, comparison): the better method per test set, as PSNR / LPIPS / SIFID verdicts."""
    sets = ["tps_L6_3x3", "affine_elastic", "frames", "late frames (20-29)"]
    lines = ["| clip, primitive, steps (lesson preset, 3 seeds) | A vs B | " + " | ".join(sets) + " |",
             "|---" * (2 + len(sets)) + "|"]
    for r in results:
        rows = rows_of(r)
        where = f"{r['clip']}{' (tuned on)' if r['clip'] in TUNED_ON else ''}, {r['primitive']}, {r['iterations']}"
        for a, b in dict.fromkeys((row["a"], row["b"]) for row in rows):
            cells = {row["set"]: " / ".join(verdict(row["cells"][m], a, b) for m in METRICS)
                     for row in rows if (row["a"], row["b"]) == (a, b)}
            lines.append(f"| {where} | {a} vs {b} | " + " | ".join(cells.get(t, "") for t in sets) + " |")
    return "\n".join(lines)


def who_wins(results: list[dict]) -> str:
    """The summary's head: who is better where, and what the intervals are."""
    return ("Who is better where (PSNR / LPIPS / SIFID; `tie`: the 95% interval includes 0):\n\n" + compact(results)
            + "\n\nIntervals: 95%, paired over training seeds (patchnn is deterministic: its one run pairs with every "
            "seed).")


def report(results: list[dict]) -> str:
    """The summary page: who is better where, then every interval."""
    return who_wins(results) + "\n\n" + markdown(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "heldout_summary_cpu.md")
    args = ap.parse_args()
    results = [json.loads(p.read_text()) for p in args.results]
    text = report(results)
    args.out.write_text(text + "\n")
    print(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
