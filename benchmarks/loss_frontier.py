"""The quality-time frontier of the lesson preset's reconstruction losses, drawn from lesson_quality results.

    python benchmarks/loss_frontier.py benchmarks/results/loss_decision_45s_cpu.json [more budgets ...]

Each input is a ``benchmarks/lesson_quality.py --speed-first`` result (one training budget, every candidate
trained for budget x its measured speed steps). The figure puts each candidate, at each budget, at its held-out
PSNR (right is better) and LPIPS (down is better), mean over seeds and over the tuning sample's test sets, with
the seeds' standard deviation as error bars; one marker per budget, a loss's budgets joined by a line (points are
named by the loss they ran: a candidate's name may mean another loss once the preset changes).
At one budget the lower-right points are the frontier: no other loss is better on both at that time. Writes
``docs/loss_frontier.png`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def per_seed(cells_dir: Path, result: dict, row: dict, metric: str) -> list[float]:
    """A candidate's per-seed means of ``metric`` (over test sets and items) for the seeds of that result."""
    budget = float(result["budget_label"].split(" s ")[0])
    out = []
    for seed in range(row["seeds"]):
        for sample in row["samples"]:
            candidate = row["candidate"].replace("/", "+")
            name = f"{sample}-{result['primitive']}-{candidate}-s{seed}-{budget:g}s-speed-first"
            cell = json.loads((cells_dir / f"{name}.json").read_text())
            out.append(float(np.mean([np.mean(v[metric]) for v in cell["scores"].values()])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--cells", type=Path, default=Path(__file__).parent / "results" / "lesson_quality")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "docs" / "loss_frontier.png")
    args = ap.parse_args()
    points: dict[str, list[tuple[float, dict]]] = {}
    for path in args.results:
        result = json.loads(path.read_text())
        budget = float(result["budget_label"].split(" s ")[0])
        for row in result["rows"]:
            if "lpips" in row:
                spread = {m: per_seed(args.cells, result, row, m) for m in ("lpips", "psnr")}
                name = row["reconstruction_loss"]  # the loss it ran (a candidate's name may change with the preset)
                points.setdefault(name, []).append((budget, spread))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    markers = {b: m for b, m in zip(sorted({p[0] for pts in points.values() for p in pts}), "osD^v", strict=False)}
    for i, (name, pts) in enumerate(sorted(points.items())):
        pts.sort(key=lambda p: p[0])
        color = f"C{i}"
        xs = [np.mean(p[1]["psnr"]) for p in pts]
        ys = [np.mean(p[1]["lpips"]) for p in pts]
        ax.plot(xs, ys, "-", color=color, alpha=0.5)
        for (budget, spread), x, y in zip(pts, xs, ys, strict=True):
            n = len(spread["psnr"])
            ax.errorbar(x, y, xerr=np.std(spread["psnr"], ddof=1) if n > 1 else 0,
                        yerr=np.std(spread["lpips"], ddof=1) if n > 1 else 0, marker=markers[budget], color=color,
                        capsize=3, label=f"{name}, {budget:g} s ({n} seeds)")
    ax.set(xlabel="held-out PSNR (dB) →  better", ylabel="held-out LPIPS (alex, ImageNet) ↓  better")
    ax.legend(fontsize=6, loc="upper left")
    ax.set_title("lesson preset: reconstruction loss at equal training time on 2 CPU cores\n"
                 "(tuning sample: warps of the cat; mean ± sd over seeds)", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
