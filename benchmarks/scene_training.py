"""Several pairs of one scene, and fine-tuning: what do they buy on a shipped clip?

    DEEPSIM_OFFLINE=1 python benchmarks/scene_training.py            # carphone, lesson preset (about 12 min here)

Both parts use the carphone clip (frames 0–29 and 60 are shipped; frames 0–29 here) at the lesson preset, its
segmentation fitted on frame 0 and carried to every other frame by optical flow (as the video benchmark does),
so label k is one region in every frame.

1. **Several pairs.** Same total steps (the preset's 500), trained on frame {0} alone and on frames {0, 15}
   (each step draws one of them, then its TPS warp). Both are scored on frames 1–29 (PSNR, SSIM, L1, LPIPS);
   the table also gives frames 1–29 without 15 (which the second model trained on), and 16–29 (nearest to
   frame 15, furthest from 0). One row per primitive (super-primitive and edges).
2. **Fine-tuning.** The target is frame 15. From scratch: the preset's 500-step schedule, scored every 50 steps.
   Fine-tuned: part 1's frame-0 run (super-primitive) trained on frame 15 with ``init_from`` its run directory
   (G and D from its checkpoint, a fresh optimiser) and shorter schedules of 10–200 steps (each with its own
   constant-then-decay learning rate).
   Quality: mean PSNR on frames 16–29, which neither saw (and LPIPS beside it). "Steps saved" = 500 minus the
   shortest fine-tuning schedule whose quality reaches the from-scratch model's at 500 steps.

This measures quality, not speed (the JSON's ``train_s`` are wall times, not benchmark timings). LPIPS runs on
ImageNet AlexNet when its weights are cached, else on a seeded random-init one (labelled in the
JSON): a deterministic feature distance then, not the paper's metric. Writes
``benchmarks/results/scene_training_cpu.{json,md}`` (``--out`` for another folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import device_name

import deepsim_lite as ds
from deepsim_lite import metrics, video
from deepsim_lite._io import write_json, write_text
from deepsim_lite.method.train import Trainer

FINE_TUNE_SCHEDULES = (10, 25, 50, 100, 200)
SCRATCH_EVERY = 50


def score(model: ds.DeepSIMModel, pairs: list[ds.Pair], frames: list[int], lpips: metrics.LPIPS) -> dict:
    """Mean PSNR, SSIM, L1 and LPIPS of ``model`` over ``frames`` (each rendered from its own primitive)."""
    outs = torch.stack([model.generate(pairs[i].primitive) for i in frames])
    truth = torch.stack([pairs[i].image for i in frames])
    rows = {"psnr": metrics.psnr(outs, truth), "ssim": metrics.ssim(outs, truth), "l1": metrics.l1(outs, truth),
            "lpips": lpips(outs, truth)}
    return {k: float(torch.as_tensor(v, dtype=torch.float64).mean()) for k, v in rows.items()}


def per_frame_psnr(model: ds.DeepSIMModel, pairs: list[ds.Pair], frames: list[int]) -> list[float]:
    return [round(float(metrics.psnr(model.generate(pairs[i].primitive), pairs[i].image)), 3) for i in frames]


def several_pairs(frames: list[torch.Tensor], kind: str, config: ds.TrainConfig,
                  lpips) -> tuple[dict, Path, list[ds.Pair]]:
    config = dataclasses.replace(config, primitive_kind=kind)
    pairs = video.clip_pairs(frames, kind, config, "carphone", segmentation="flow")
    sets = {"all 1-29": list(range(1, 30)), "1-29 without 15": [i for i in range(1, 30) if i != 15],
            "16-29": list(range(16, 30))}
    row = {"primitive": kind, "size_hw": list(pairs[0].size), "models": {}}
    run_0 = Path(tempfile.mkdtemp()) / f"frame0-{kind}"  # its checkpoint (G and D) is what part 2 fine-tunes
    for name, train_on in (("{0}", [0]), ("{0, 15}", [0, 15])):
        t0 = time.perf_counter()
        result = ds.fit([pairs[i] for i in train_on], config, run_0 if train_on == [0] else None, progress=False,
                        preview="none")
        scores = {s: score(result.model, pairs, idx, lpips) for s, idx in sets.items()}
        row["models"][name] = {"train_s": round(time.perf_counter() - t0, 1), "perceptual": result.perceptual,
                               "scores": scores, "psnr_per_frame_1_29": per_frame_psnr(result.model, pairs,
                                                                                      sets["all 1-29"])}
        print(f"{kind:>9} {name:>8}: PSNR {scores['all 1-29']['psnr']:.2f} dB on 1-29, "
              f"{scores['16-29']['psnr']:.2f} on 16-29, LPIPS {scores['all 1-29']['lpips']:.3f}", flush=True)
    a, b = row["models"]["{0}"]["scores"], row["models"]["{0, 15}"]["scores"]
    row["gain"] = {s: {k: round(b[s][k] - a[s][k], 4) for k in a[s]} for s in sets}
    return row, run_0, pairs


def fine_tuning(pairs: list[ds.Pair], run_0: Path, config: ds.TrainConfig, lpips) -> dict:
    target, judge = pairs[15], list(range(16, 30))
    curve = []
    trainer = Trainer(target, config)
    t0 = time.perf_counter()
    while trainer.step < config.iterations:
        trainer.fit(steps=SCRATCH_EVERY, progress=False, preview="none")
        curve.append({"step": trainer.step, **score(trainer.model(), pairs, judge, lpips)})
    scratch_s = time.perf_counter() - t0
    print(f"from scratch on frame 15: PSNR {curve[-1]['psnr']:.2f} dB on 16-29 after {config.iterations} steps",
          flush=True)
    tuned = [{"steps": 0, **score(ds.load_model(run_0), pairs, judge, lpips)}]
    for n in FINE_TUNE_SCHEDULES:
        t0 = time.perf_counter()
        r = ds.fit(target, dataclasses.replace(config, iterations=n), progress=False, preview="none", init_from=run_0)
        tuned.append({"steps": n, "train_s": round(time.perf_counter() - t0, 1), **score(r.model, pairs, judge, lpips)})
        print(f"fine-tuned {n:>3} steps: PSNR {tuned[-1]['psnr']:.2f} dB", flush=True)
    goal = curve[-1]["psnr"]
    reached = next((t["steps"] for t in tuned if t["psnr"] >= goal), None)
    scratch_reach = next((c["step"] for c in curve if c["psnr"] >= goal), None)
    return {"target_frame": 15, "judged_on": "frames 16-29", "scratch_schedule": config.iterations,
            "scratch_curve": curve, "scratch_train_s": round(scratch_s, 1), "fine_tuned": tuned,
            "goal_psnr": goal, "fine_tune_steps_to_goal": reached,
            "steps_saved": None if reached is None else config.iterations - reached,
            "scratch_steps_to_goal_within_its_schedule": scratch_reach}


def markdown(result: dict) -> str:
    lines = [f"# Several pairs and fine-tuning (carphone, lesson preset, {result['device']})", "",
             f"Command: `{result['command']}`. Reconstruction loss: {result['perceptual']}; LPIPS: "
             f"{result['lpips']}. Same total steps ({result['iterations']}) for every model of part 1.", "",
             "## 1. Training on frames {0} vs {0, 15}, scored on other frames (mean over frames)", "",
             "| primitive | trained on | PSNR 1–29 ↑ | PSNR 1–29 w/o 15 ↑ | PSNR 16–29 ↑ | SSIM 1–29 ↑ | "
             "LPIPS 1–29 ↓ |", "|---|---|---|---|---|---|---|"]
    for row in result["several_pairs"]:
        for name, m in row["models"].items():
            s = m["scores"]
            lines.append(f"| {row['primitive']} | {name} | {s['all 1-29']['psnr']:.2f} | "
                         f"{s['1-29 without 15']['psnr']:.2f} | {s['16-29']['psnr']:.2f} | {s['all 1-29']['ssim']:.3f}"
                         f" | {s['all 1-29']['lpips']:.3f} |")
        g = row["gain"]
        lines.append(f"| {row['primitive']} | **gain** | **{g['all 1-29']['psnr']:+.2f} dB** | "
                     f"{g['1-29 without 15']['psnr']:+.2f} dB | {g['16-29']['psnr']:+.2f} dB | "
                     f"{g['all 1-29']['ssim']:+.3f} | {g['all 1-29']['lpips']:+.3f} |")
    ft = result["fine_tuning"]
    lines += ["", "## 2. Fine-tuning the frame-0 model on frame 15 (super-primitive), judged on frames 16–29", "",
              "| model | steps on frame 15 | PSNR 16–29 ↑ | LPIPS 16–29 ↓ |", "|---|---|---|---|"]
    for c in ft["scratch_curve"]:
        lines.append(f"| from scratch ({ft['scratch_schedule']}-step schedule) | {c['step']} | {c['psnr']:.2f} | "
                     f"{c['lpips']:.3f} |")
    for t in ft["fine_tuned"]:
        what = "frame-0 model as is" if t["steps"] == 0 else f"fine-tuned ({t['steps']}-step schedule)"
        lines.append(f"| {what} | {t['steps']} | {t['psnr']:.2f} | {t['lpips']:.3f} |")
    saved = ("not reached within the schedules tried" if ft["steps_saved"] is None else
             f"{ft['fine_tune_steps_to_goal']} steps reach it: **{ft['steps_saved']} steps saved** "
             f"({ft['steps_saved'] / ft['scratch_schedule']:.0%})")
    lines += ["", f"From-scratch quality after {ft['scratch_schedule']} steps: {ft['goal_psnr']:.2f} dB; fine-tuning: "
              f"{saved}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--kinds", nargs="+", default=["seg_edges", "edges"])
    parser.add_argument("--iterations", type=int, help="override the preset's 500 (a quick check of the script)")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the JSON in --out")
    args = parser.parse_args()
    if args.markdown_only:
        done = json.loads((Path(args.out) / "scene_training_cpu.json").read_text())
        write_text(Path(args.out) / "scene_training_cpu.md", markdown(done))
        return
    torch.manual_seed(0)
    config = ds.TrainConfig.preset("lesson", device="cpu",  # a CPU measurement (the file name says so)
                                   **({"iterations": args.iterations} if args.iterations else {}))
    frames = video.load_frames(video.clip_path("carphone"), 30)
    lpips = metrics.LPIPS()
    t0 = time.perf_counter()
    rows, tune = [], None
    for kind in args.kinds:
        row, run_0, pairs = several_pairs(frames, kind, config, lpips)
        rows.append(row)
        if kind == "seg_edges":
            tune = fine_tuning(pairs, run_0, dataclasses.replace(config, primitive_kind=kind), lpips)
    result = {"device": device_name(torch.device("cpu")), "torch": torch.__version__, "preset": "lesson",
              "iterations": config.iterations, "perceptual": rows[0]["models"]["{0}"]["perceptual"],
              "lpips": lpips.label, "command": "DEEPSIM_OFFLINE=1 python benchmarks/scene_training.py",
              "several_pairs": rows, "fine_tuning": tune, "wall_s": round(time.perf_counter() - t0, 1),
              "mean_psnr_check": float(np.mean(rows[0]["models"]["{0}"]["psnr_per_frame_1_29"]))}
    if args.iterations:
        result["command"] += f" --iterations {args.iterations}"
    out = Path(args.out)
    write_json(out / "scene_training_cpu.json", result)
    write_text(out / "scene_training_cpu.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
