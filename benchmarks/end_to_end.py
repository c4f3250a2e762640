"""The paper preset end to end: from the command starting to model.pt written, checkpoints on, the VGG19 term on.

    python benchmarks/end_to_end.py --size 256x256 --steps 16000 --cuda-graph      # the issue's headline
    python benchmarks/end_to_end.py --size 320x640 --steps 16000 --cuda-graph

Everything a user waits for counts: building the networks and the VGG19 (real weights where the converted file
is in TORCH_HOME — ``deepsim-lite weights fetch`` — else a random-init VGG19 of the same shape, labelled),
training with checkpoints every ``--checkpoint-every`` steps into a run directory, and writing ``model.pt``.
The model is then scored on held-out data it never trained on (TPS warps of another family and affine +
elastic warps of the training pair: PSNR, SSIM, and LPIPS with real weights). Writes
``benchmarks/results/gpu/end_to_end.json`` (or ``--out``): device, preset, size, steps, end_to_end_s,
steps_per_s, peak_memory_mib, reconstruction, held-out scores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import device_name, write_result
from train_speed import make_pair, peak_memory_mib, reset_peak, sync

import deepsim_lite as ds
from deepsim_lite import heldout, metrics, train
from deepsim_lite.method.config import amp_enabled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="256x256", help="HxW")
    ap.add_argument("--steps", type=int, default=16000)
    ap.add_argument("--cuda-graph", action="store_true", help="replay the step from a CUDA graph")
    ap.add_argument("--amp", choices=["auto", "on", "off"], default="auto", help="bf16 autocast (auto: on CUDA)")
    ap.add_argument("--checkpoint-every", type=int, default=500)
    ap.add_argument("--time-limit", type=float, default=None, help="stop training after about this many seconds "
                    "(checked every 1000 steps) and report the steps done with a projection: the JSON is written "
                    "even when the run is too slow for its time box")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    h, w = (int(v) for v in args.size.lower().split("x"))
    amp = {"auto": None, "on": True, "off": False}[args.amp]
    reset_peak(device)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        t0 = time.perf_counter()
        config = ds.TrainConfig.preset("paper", iterations=args.steps, device=device.type, amp=amp,
                                       cuda_graph=args.cuda_graph and device.type == "cuda",
                                       checkpoint_every=args.checkpoint_every, log_every=100)
        pair = make_pair((h, w), config.multiple)
        trainer = train.Trainer(pair, config, run)
        setup_s, train_s = time.perf_counter() - t0, 0.0
        chunk = args.steps if args.time_limit is None else 1000
        while True:  # in chunks only to honour --time-limit; each chunk's end is a (synchronous) checkpoint
            result = trainer.fit(steps=chunk, progress=False, preview="none")
            train_s += result.wall_time_s
            if trainer.step >= args.steps or (args.time_limit and time.perf_counter() - t0 > args.time_limit):
                break
        sync(device)
        completed = trainer.step >= args.steps
        assert (run / "model.pt").is_file() or not completed, "the run ended without model.pt"
        wall = time.perf_counter() - t0
        checkpoint_mib = (run / "checkpoints" / "last.pt").stat().st_size / 2**20
    bf16 = amp_enabled(config, device.type, device.type == "cuda" and torch.cuda.is_bf16_supported())
    grids = heldout.warp_grids(h, w, 16)
    sets = [heldout.warp_set(pair, name, g) for name, g in grids.items()]
    lpips = metrics.LPIPS()
    scorers = {"lpips": lpips} if "random-init" not in lpips.label else {}
    scores = {s.name: {m: float(np.mean(v)) for m, v in heldout.score(result.model, s, scorers).items()}
              for s in sets}
    steps_per_s = trainer.step / (wall - setup_s) if wall > setup_s else 0.0  # checkpoints and saving included
    out = {"benchmark": "end_to_end", "device": device_name(device), "torch": torch.__version__, "preset": "paper",
           "size": [h, w], "steps": trainer.step, "completed": completed, "end_to_end_s": wall if completed else None,
           "projected_end_to_end_s": setup_s + args.steps / steps_per_s if steps_per_s else None,
           "steps_per_s": steps_per_s, "training_steps_per_s": trainer.step / train_s if train_s else 0.0,
           "wall_s": wall, "setup_s": setup_s,
           "peak_memory_mib": peak_memory_mib(device), "reconstruction": result.perceptual,
           "cuda_graph": config.cuda_graph, "amp_bf16": bf16,
           "checkpoint_every": args.checkpoint_every, "checkpoint_mib": checkpoint_mib,
           "held_out": scores, "lpips": lpips.label if scorers else f"not reported ({lpips.label})",
           "official_code_reference": "paper: 63 min for 248x186, 185 min for 640x320 on an RTX 2080 Ti",
           "command": f"python benchmarks/end_to_end.py --size {args.size} --steps {args.steps}"
                      + (" --cuda-graph" if args.cuda_graph else "") + f" --amp {args.amp}"}
    print(f"paper preset {h}x{w}, {trainer.step} of {args.steps} steps: {wall:.0f} s end to end "
          f"({steps_per_s:.1f} steps/s, {result.perceptual})")
    write_result(out, "end_to_end", device, args.out)


if __name__ == "__main__":
    main()
