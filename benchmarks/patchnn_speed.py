"""How fast is the training-free patch renderer, next to a generator's inference and its training?

    DEEPSIM_OFFLINE=1 python benchmarks/patchnn_speed.py          # 128x128 and 256x256, this machine

On the astronaut sample (square, super-primitive) at 128×128 and 256×256, one run at a time, measured side by
side in this process:

* ``patchnn``: :class:`~deepsim_lite.analysis.patchnn.PatchNN` with its defaults (7×7 patches, 3 levels, 2 passes, every
  other bank window): building the banks (once per training pair) and rendering one primitive (median of 5);
  also with 10 TPS warps in the bank (App. G's augmented bank, smaller) at 128×128;
* the generator's inference (``DeepSIMModel.generate``, median of 5) at the lesson preset and the paper preset
  (random weights: the cost does not depend on them);
* training: the lesson preset's steps per second over 30 steps (after 5 warm-up steps) and the time its 500 steps
  take at that rate (projected, labelled so).

Writes ``benchmarks/results/patchnn_speed_<device>.{json,md}`` with the device name (``--out`` for another folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch
from _common import device_name

import deepsim_lite as ds
from deepsim_lite._io import write_json, write_text
from deepsim_lite.analysis.patchnn import PatchNN, PatchNNConfig
from deepsim_lite.method.config import select_device
from deepsim_lite.method.model import build_generator
from deepsim_lite.method.train import Trainer

SIDES = (128, 256)


def median_s(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def generator_ms(pair: ds.Pair, preset: str, device: torch.device) -> float:
    config = ds.TrainConfig.preset(preset)
    gen = build_generator(config, pair.primitive.channels).to(device)
    model = ds.DeepSIMModel(gen, pair.primitive.n_labels, pair.primitive.has_edges, pair.size, config)
    model.generate(pair.primitive)  # warm-up
    return 1000 * median_s(lambda: model.generate(pair.primitive).cpu())  # .cpu(): waits for a GPU's work


def training(pair: ds.Pair, device: torch.device) -> dict:
    config = ds.TrainConfig.preset("lesson", device=device.type, iterations=500)
    trainer = Trainer(pair, config)
    trainer.fit(steps=5, progress=False, preview="none")
    t = time.perf_counter()
    trainer.fit(steps=30, progress=False, preview="none")
    rate = 30 / (time.perf_counter() - t)
    return {"steps_per_s": rate, "lesson_500_steps_s_projected": 500 / rate, "perceptual": trainer.gan.perceptual}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    device = select_device("auto")
    rows = []
    for side in SIDES:
        pair = ds.load_sample("astronaut", "seg_edges", max_side=side, multiple=16)
        edited = ds.edits.move_region(pair.primitive, (side // 4, side // 4, side // 2, side // 2), side // 16, 0)
        variants = {"patchnn": PatchNNConfig()}
        if side == SIDES[0]:
            variants["patchnn + 10 warps"] = dataclasses.replace(PatchNNConfig(), n_aug=10)
        row = {"side": side, "size_hw": list(pair.size)}
        for name, cfg in variants.items():
            t = time.perf_counter()
            renderer = PatchNN(pair, cfg)
            build = time.perf_counter() - t
            row[name] = {"build_s": build, "render_ms": 1000 * median_s(lambda r=renderer, e=edited: r.generate(e)),
                         "bank_rows": renderer.info["bank_rows"]}
        row["generator_ms"] = {p: generator_ms(pair, p, device) for p in ("lesson", "paper")}
        row["training"] = training(pair, device)
        rows.append(row)
        print(f"{side}: patchnn {row['patchnn']['render_ms']:.0f} ms/frame (banks {row['patchnn']['build_s']:.1f} s), "
              f"lesson G {row['generator_ms']['lesson']:.0f} ms, paper G {row['generator_ms']['paper']:.0f} ms, "
              f"lesson training {row['training']['lesson_500_steps_s_projected']:.0f} s", flush=True)
    result = {"benchmark": "patchnn_speed", "device": device_name(device), "torch": torch.__version__,
              "command": "DEEPSIM_OFFLINE=1 python benchmarks/patchnn_speed.py", "sample": "astronaut",
              "primitive": "seg_edges", "patchnn_config": dataclasses.asdict(PatchNNConfig()), "rows": rows}
    out = Path(args.out) / f"patchnn_speed_{device.type}.json"
    write_json(out, result)
    write_text(out.with_suffix(".md"), markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    lines = [f"Patch renderer vs generator ({result['device']}, `{result['command']}`)", "",
             "| size | patchnn: banks (once) | patchnn: one frame | + 10 warps: one frame | lesson G: one frame | "
             "paper G: one frame | lesson training, 500 steps (projected) |", "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        warps = f"{r['patchnn + 10 warps']['render_ms']:.0f} ms" if "patchnn + 10 warps" in r else "—"
        lines.append(f"| {r['size_hw'][0]}×{r['size_hw'][1]} | {r['patchnn']['build_s']:.2f} s | "
                     f"{r['patchnn']['render_ms']:.0f} ms | {warps} | {r['generator_ms']['lesson']:.0f} ms | "
                     f"{r['generator_ms']['paper']:.0f} ms | {r['training']['lesson_500_steps_s_projected']:.0f} s |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
