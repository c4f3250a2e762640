"""One GPU check, ready to run: everything the CUDA path needs proven, in one command (`make gpu-check`).

A person with one CUDA GPU runs it once; it must finish within 9 minutes on one H100. Parts, each a
subprocess with its own time limit, each writing one JSON with the device name into ``--out``
(default ``benchmarks/results/gpu/``):

1. ``env.json`` — torch, CUDA, the GPU, its memory and capability;
2. ``unit_tests.json`` — the trainer, model, TPS, augmentation and network tests with CUDA as the
   default device (``device="auto"`` picks it); exact-resume tests may show CUDA's nondeterminism;
3. ``tps_speed_cuda.json`` — batched TPS warps vs the per-sample scipy reference (target: >= 100x);
4. ``train_speed_cuda.json`` — the paper preset at 256x256 and 640x320: steps/s, projected minutes for
   16k steps, MFU, peak GPU memory (targets: 16k steps at 256x256 in <= 5 min, <= 8 GB);
5. ``precision_cuda.json`` — bf16 autocast vs fp32 held-out quality of the same run;
6. ``cat_paper.json`` + ``cat_paper.png`` — a short paper-preset training of the cat and its picture.

    python benchmarks/gpu_check.py                 # or: make gpu-check
    python benchmarks/gpu_check.py --budget 300    # a shorter time limit for every part
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CAT = """
import json, sys, time, warnings, torch, deepsim_lite as ds
from deepsim_lite import metrics
from _common import device_name
warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
out, steps = sys.argv[1], int(sys.argv[2])
torch.backends.cudnn.benchmark = True
cfg = ds.TrainConfig.preset("paper", iterations=steps, max_side=256, checkpoint_every=10**9, log_every=100)
pair = ds.load_sample("chelsea", cfg.primitive_kind, max_side=256, multiple=cfg.multiple)
t0 = time.perf_counter()
r = ds.fit(pair, cfg, progress=False, preview="none")
cuda = torch.cuda.is_available()
if cuda:
    torch.cuda.synchronize()
wall = time.perf_counter() - t0
nose = ds.sample_region("chelsea", "nose", pair.size)
edited = ds.edits.move_region(pair.primitive, nose, -round(6 * pair.size[0] / 84), 0)
grid = ds.make_grid([pair.image, pair.primitive, r.model.generate(pair.primitive), edited, r.model.generate(edited)],
                    ["training image", "primitive", "G(primitive)", "edited: nose up", "G(edited)"], tile_height=256)
ds.save_image(out + "/cat_paper.png", grid)
json.dump({"part": "cat_paper", "device": device_name(r.model.device), "preset": "paper", "size": list(pair.size),
           "steps": steps, "train_s": wall, "steps_per_s": steps / wall,
           "projected_16k_steps_min": 16000 / (steps / wall) / 60, "reconstruction": r.perceptual,
           "peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
           "psnr_training_pair_db": float(metrics.psnr(r.model.generate(pair.primitive).cpu(), pair.image))},
          open(out + "/cat_paper.json", "w"), indent=2)
print(f"cat, paper preset, {steps} steps at {pair.size}: {steps / wall:.1f} steps/s [{r.perceptual}]")
"""


NEEDED = ("cv2", "scipy", "PIL", "tqdm", "torchvision", "numpy")  # deepsim_lite imports these
OPTIONAL = ("pytest", "hypothesis", "faiss", "lpips")  # unit tests; kNN and LPIPS only


def env_report() -> dict:
    import importlib.util

    import torch

    report = {"part": "env", "python": sys.version.split()[0], "torch": torch.__version__,
              "cuda_available": torch.cuda.is_available(), "cuda": torch.version.cuda,
              "missing": [m for m in NEEDED if importlib.util.find_spec(m) is None],
              "missing_optional": [m for m in OPTIONAL if importlib.util.find_spec(m) is None]}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        report.update(device=torch.cuda.get_device_name(0), capability=f"{p.major}.{p.minor}",
                      memory_gib=round(p.total_memory / 2**30, 1), bf16=torch.cuda.is_bf16_supported())
    return report


def run_part(name: str, cmd: list[str], limit: float, out: Path, log: list) -> None:
    """Run one part with a time limit; its output goes to <out>/<name>.log, its outcome into the summary."""
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}{os.pathsep}" + os.environ.get("PYTHONPATH", ""),
           "DEEPSIM_OFFLINE": os.environ.get("DEEPSIM_OFFLINE", "1"), "PYTHONUNBUFFERED": "1"}
    with open(out / f"{name}.log", "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the part and everything it started (compile workers, loaders)
            proc.wait()
            code = "timeout"
    log.append({"part": name, "exit": code, "seconds": round(time.perf_counter() - t0, 1)})
    print(f"{name:>12}: exit {code} in {log[-1]['seconds']} s (log: {out / (name + '.log')})", flush=True)
    (out / "summary.json").write_text(json.dumps({"parts": log}, indent=2) + "\n")  # after every part


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "results" / "gpu"))
    ap.add_argument("--budget", type=float, default=540, help="seconds for all parts together (default 9 min)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = env_report()
    (out / "env.json").write_text(json.dumps(env, indent=2) + "\n")
    print(json.dumps(env))
    if not env["cuda_available"]:
        sys.exit("gpu_check: no CUDA device; run this on a machine with a GPU")
    if env["missing"]:
        sys.exit(f"gpu_check: install {', '.join(env['missing'])} first (pip install -e .)")
    py, b, log = sys.executable, args.budget, []
    if "pytest" in env["missing_optional"]:
        log.append({"part": "unit_tests", "exit": "skipped: pytest is not installed"})
    else:  # CUDA is the default device of these tests; the ones that assert CPU-only behaviour are left out
        units = ("step", "train", "checkpoints", "model", "tps", "augment", "nets", "config")
        tests = [f"tests/method/test_{m}.py" for m in units]
        run_part("unit_tests", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, "-k",
                                "not cpu_defaults and not refused_on_the_cpu", f"--junitxml={out / 'unit_tests.xml'}"],
                 0.15 * b, out, log)
        (out / "unit_tests.json").write_text(json.dumps(junit_counts(out / "unit_tests.xml", env), indent=2) + "\n")
    run_part("tps_speed", [py, str(HERE / "tps_speed.py"), "--device", "cuda", "--seconds", "2",
                           "--out", str(out / "tps_speed_cuda.json")], 0.05 * b, out, log)
    run_part("train_speed", [py, str(HERE / "train_speed.py"), "--device", "cuda", "--steps", "60", "--warmup", "10",
                             "--quality-steps", "0", "--compile-mode", "default",
                             "--out", str(out / "train_speed_cuda.json")], 0.4 * b, out, log)
    run_part("precision", [py, str(HERE / "precision.py"), "--device", "cuda", "--steps", "500",
                           "--out", str(out / "precision_cuda.json")], 0.2 * b, out, log)
    run_part("cat_paper", [py, "-c", CAT, str(out), "600"], 0.2 * b, out, log)
    print(f"wrote {out}/summary.json")


def junit_counts(xml: Path, env: dict) -> dict:
    """Pass/fail counts of the unit-test part from pytest's JUnit XML (absent when the part was killed)."""
    import xml.etree.ElementTree as ET

    result = {"part": "unit_tests", "device": env.get("device")}
    if not xml.exists():
        return {**result, "error": "no JUnit file: the part timed out or did not start"}
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None or
              c.find("error") is not None]
    return {**result, **{k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")},
            "failed": failed}


if __name__ == "__main__":
    main()
