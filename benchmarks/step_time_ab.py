"""Training step time of two source trees of deepsim-lite, one after the other on this machine (A/B).

For a refactor that must not change training: each tree runs the same steps of the same preset in its own
process (``PYTHONPATH=<tree>``), alternating A B, B A, A B, ... so that drift of the machine hits both alike.
It prints steps/s of each (median over rounds), the ratio B / A (of the medians, and the median of each
round's ratio), and whether both trees gave the same losses bit for bit. Writes
``benchmarks/results/step_time_ab_cpu.json`` with the device.

    git worktree add /tmp/before HEAD~3
    python benchmarks/step_time_ab.py /tmp/before .          # lesson preset at 128x192 on the CPU

Works with any tree whose package has ``ds.train.Trainer`` with ``train_step()`` (0.5 and later).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from _common import device_name, write_result

# Run in each tree's own process: warm-up, then timed steps; prints one JSON line.
CHILD = r"""
import json, sys, time, warnings
import torch
warnings.simplefilter("ignore")
import deepsim_lite as ds
preset = sys.argv[1]
side, warmup, steps, threads = (int(a) for a in sys.argv[2:6])
torch.set_num_threads(threads)
cfg = ds.TrainConfig.preset(preset)
pair = ds.load_sample("chelsea", cfg.primitive_kind, max_side=side, multiple=cfg.multiple)
trainer = ds.train.Trainer(pair, cfg)
for _ in range(warmup):
    trainer.train_step()
losses = []
t0 = time.perf_counter()
for _ in range(steps):
    losses.append({k: float(v) for k, v in trainer.train_step().items()})
dt = time.perf_counter() - t0
print(json.dumps({"steps_per_s": steps / dt, "losses": losses, "size": list(pair.size),
                  "package": ds.__file__}))
"""


def run_tree(tree: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree.resolve()), "DEEPSIM_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, args.preset, str(args.side), str(args.warmup),
                          str(args.steps), str(args.threads)], env=env, capture_output=True, text=True,
                         cwd=tree, check=False)
    if out.returncode:
        raise SystemExit(f"{tree}: the step run failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(result["package"]).resolve().is_relative_to(tree.resolve()):  # e.g. an editable install first
        raise SystemExit(f"{tree}: the run imported {result['package']}, not this tree")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="source tree A (the baseline)")
    ap.add_argument("b", type=Path, help="source tree B (the change)")
    ap.add_argument("--preset", default="lesson")
    ap.add_argument("--side", type=int, default=192, help="longer side of the training image (lesson: 128x192)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200, help="timed steps per round and tree")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/step_time_ab_cpu.json)")
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    for r in range(args.rounds):
        order = (("a", args.a), ("b", args.b)) if r % 2 == 0 else (("b", args.b), ("a", args.a))  # ABBA...
        for key, tree in order:
            runs[key].append(run_tree(tree, args))
            print(f"round {r + 1}: {key.upper()} {tree}: {runs[key][-1]['steps_per_s']:.2f} steps/s", flush=True)
    med = {k: statistics.median(x["steps_per_s"] for x in v) for k, v in runs.items()}
    paired = [b["steps_per_s"] / a["steps_per_s"] for a, b in zip(runs["a"], runs["b"], strict=True)]  # per round
    same = all(x["losses"] == runs["a"][0]["losses"] for x in runs["a"] + runs["b"])
    result = {"device": device_name(torch.device("cpu")), "preset": args.preset, "size": runs["a"][0]["size"],
              "threads": args.threads, "steps_per_round": args.steps, "rounds": args.rounds,
              "a": {"tree": str(args.a), "median_steps_per_s": med["a"],
                    "steps_per_s": [x["steps_per_s"] for x in runs["a"]]},
              "b": {"tree": str(args.b), "median_steps_per_s": med["b"],
                    "steps_per_s": [x["steps_per_s"] for x in runs["b"]]},
              "ratio_b_over_a": med["b"] / med["a"], "paired_ratios": paired,
              "median_paired_ratio": statistics.median(paired), "identical_losses": same,
              "command": "python benchmarks/step_time_ab.py " + " ".join(sys.argv[1:])}
    print(f"A {med['a']:.2f} steps/s, B {med['b']:.2f} steps/s, B/A = {med['b'] / med['a']:.3f} (median of the "
          f"rounds' ratios {statistics.median(paired):.3f}, range {min(paired):.3f}-{max(paired):.3f}); "
          f"losses {'identical' if same else 'DIFFER'} across trees and rounds")
    write_result(result, "step_time_ab", torch.device("cpu"), args.out)


if __name__ == "__main__":
    main()
