"""One GPU check, ready to run: everything the CUDA path needs proven, in one command (`make gpu-check`).

A person with one CUDA GPU runs it once; it must finish within 10 minutes on one H100. Parts, each a
subprocess with its own time limit (a share of ``--budget``), each writing one JSON with the device name into
``--out`` (default ``benchmarks/results/gpu/``):

1. ``env.json`` — torch, CUDA, the GPU, its memory and capability, the weights the run will use;
2. ``unit_tests.json`` — the trainer, step, graph, model, TPS, augmentation and network tests with CUDA as the
   default device (pytest comes from ``.gpu-carry/wheels`` when the machine has none: ``make gpu-carry``);
3. ``graph_step_speed_cuda.json`` — the paper preset's step at 256², eager vs replayed from a CUDA graph:
   steps/s, MFU, and a 5-step profile (kernels per step, GPU-busy ms, host ms);
4. ``graph_step_equivalence_cuda.json`` — 50 graph steps against 50 eager ones from the same seed (fp32);
5. ``precision_cuda.json`` — fp32 vs TF32 vs bf16 under graphs: speed and held-out quality;
6. ``end_to_end.json`` — ``16k`` paper-preset steps at 256² from start to ``model.pt``, checkpoints and the
   VGG19 term on, graph and the measured precision, with held-out scores (the issue's headline number).

Optional parts (``--parts``): ``tps_speed``, ``train_speed``, ``cat_paper`` (the 0.6 protocol's), and
``end_to_end_640`` (640×320).

    python benchmarks/gpu_check.py                  # or: make gpu-check
    python benchmarks/gpu_check.py --parts env graph_speed end_to_end --budget 420
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
    try:
        from deepsim_lite.weights.backbones import has_weights

        report["weights"] = {name: has_weights(name) for name in ("vgg19", "alexnet", "inception")}
    except Exception as err:  # noqa: BLE001 — a report, never a failure
        report["weights"] = f"unknown ({type(err).__name__})"
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


def _pytest_available(out: Path) -> bool:
    """pytest importable, or installed from carried wheels (``.gpu-carry/wheels``: the GPU machine has no
    network): ``pip install --no-index --find-links``."""
    import importlib.util

    if importlib.util.find_spec("pytest") is not None:
        return True
    wheels = ROOT / ".gpu-carry" / "wheels"
    if not wheels.is_dir():
        return False
    code = subprocess.call([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels),
                            "pytest", "hypothesis"], stdout=open(out / "wheels.log", "w"), stderr=subprocess.STDOUT)
    importlib.invalidate_caches()
    return code == 0 and importlib.util.find_spec("pytest") is not None


# name: (share of the budget, command after the interpreter); {out} is the output folder
PARTS = {
    "graph_speed": (0.10, ["benchmarks/graph_step.py", "--part", "speed", "--size", "256x256", "--steps", "200",
                           "--out", "{out}/graph_step_speed_cuda.json"]),
    "equivalence": (0.07, ["benchmarks/graph_step.py", "--part", "equivalence", "--size", "128x128", "--steps", "50",
                           "--out", "{out}/graph_step_equivalence_cuda.json"]),
    "precision": (0.12, ["benchmarks/precision.py", "--device", "cuda", "--steps", "600", "--cuda-graph",
                         "--out", "{out}/precision_cuda.json"]),
    "end_to_end": (0.58, ["benchmarks/end_to_end.py", "--size", "256x256", "--steps", "16000", "--cuda-graph",
                          "--time-limit", "270", "--out", "{out}/end_to_end.json"]),
    "end_to_end_640": (0.5, ["benchmarks/end_to_end.py", "--size", "320x640", "--steps", "16000", "--cuda-graph",
                             "--out", "{out}/end_to_end_640.json"]),
    "tps_speed": (0.05, ["benchmarks/tps_speed.py", "--device", "cuda", "--seconds", "2",
                         "--out", "{out}/tps_speed_cuda.json"]),
    "train_speed": (0.3, ["benchmarks/train_speed.py", "--device", "cuda", "--steps", "60", "--warmup", "10",
                          "--quality-steps", "0", "--compile-mode", "default", "--out", "{out}/train_speed_cuda.json"]),
    "cat_paper": (0.2, ["-c", CAT, "{out}", "600"]),
}
DEFAULT_PARTS = ("env", "unit_tests", "graph_speed", "equivalence", "precision", "end_to_end")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "results" / "gpu"))
    ap.add_argument("--budget", type=float, default=570, help="seconds for all parts together (default 9.5 min)")
    ap.add_argument("--parts", nargs="+", default=list(DEFAULT_PARTS), choices=["env", "unit_tests", *PARTS])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    carried = ROOT / ".gpu-carry" / "torch"
    if carried.is_dir() and "TORCH_HOME" not in os.environ:  # converted weights carried with the tree
        os.environ["TORCH_HOME"] = str(carried)
    env = env_report()
    (out / "env.json").write_text(json.dumps(env, indent=2) + "\n")
    print(json.dumps(env))
    if not env["cuda_available"]:
        sys.exit("gpu_check: no CUDA device; run this on a machine with a GPU")
    if env["missing"]:
        sys.exit(f"gpu_check: install {', '.join(env['missing'])} first (pip install -e .)")
    py, b, log = sys.executable, args.budget, []
    for part in args.parts:
        if part == "env":
            continue
        if part == "unit_tests":
            run_unit_tests(py, 0.13 * b, out, log, env)
            continue
        share, cmd = PARTS[part]
        run_part(part, [py, *(c.format(out=out) for c in cmd)], share * b, out, log)
    print(f"wrote {out}/summary.json")


def run_unit_tests(py: str, limit: float, out: Path, log: list, env: dict) -> None:
    """The method's tests with CUDA as the default device; the ones that assert CPU-only behaviour are left out."""
    if not _pytest_available(out):
        log.append({"part": "unit_tests", "exit": "skipped: no pytest, and no .gpu-carry/wheels to install it from"})
        return
    units = ("graphed", "warps", "step", "train", "checkpoints", "model", "tps", "augment", "nets", "config")
    tests = [f"tests/method/test_{m}.py" for m in units]  # the graph's own test first
    # CPU-only claims, CPU-calibrated tolerances (CUDA's backward is not deterministic), and torch.compile (minutes)
    cpu_only = ("cpu_defaults", "refused_on_the_cpu", "losses_of_before", "cannot_capture", "gpu_code_path",
                "fused_adam_gives_the_same", "static_buffer_step_trains_as_the_eager")
    run_part("unit_tests", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, "-k",
                            " and ".join(f"not {name}" for name in cpu_only),
                            f"--junitxml={out / 'unit_tests.xml'}"], limit, out, log)
    (out / "unit_tests.json").write_text(json.dumps(junit_counts(out / "unit_tests.xml", env), indent=2) + "\n")


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
