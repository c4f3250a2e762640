"""The generated blocks of the README and the docs: each figure made from its committed result file.

A page marks a block it does not own with two comments; :func:`fill` rewrites what lies between them::

    <!-- generated: headline -->
    (whatever BLOCKS["headline"]() returns; edited by hand, it fails ``scripts/make_docs.py --check``)
    <!-- end generated -->

:data:`BLOCKS` maps each name to a function of the committed files alone (``benchmarks/results/``, the shipped
models' records in ``data/models/``, the lessons), so a page regenerates the same on any machine. ``table:NAME``
is the result table ``NAME`` as its benchmark's own ``markdown`` makes it (``result_tables.TABLES``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import result_tables

ROOT = result_tables.ROOT
RESULTS = result_tables.RESULTS
PAGES = ("README.md", "docs")  # the README and every Markdown page under docs/
BLOCK = re.compile(r"(<!-- generated: (?P<name>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _json(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _shown(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


def demo() -> str:
    d = _json("demo_cpu.json")
    h, w = d["size_hw"]
    return (f"On this project's 2-core CPU ({d['cpu']}, {d['torch_threads']} threads, torch {d['torch']}) `make demo` "
            f"took **{_shown(d['total_wall_s'])}** in all: {d['iterations']} steps of the `{d['preset']}` preset at "
            f"{h}×{w} in {d['train_wall_s']:.1f} s ({d['steps_per_s']:.1f} steps/s, ℓ_rec `{d['perceptual_loss']}`), "
            f"PSNR {d['reconstruction_psnr_db']:.2f} dB on the training pair, {d['generate_edit_ms']:.0f} ms to render "
            "the edit (`benchmarks/results/demo_cpu.json`: the run's `outputs/demo/metrics.json`).")


def _lesson_title(notebook: str) -> str:
    first = "".join(json.loads((ROOT / "notebooks" / notebook).read_text())["cells"][0]["source"])
    return re.sub(r"^#\s*\d+\s*—\s*", "", first.splitlines()[0]).strip()


def lessons(prefix: str) -> Callable[[], str]:
    """The lessons as a table with their run times; links to the notebooks from a page at ``prefix``."""
    def make() -> str:
        timings = _json("lesson_timings_cpu.json")["lessons"]
        rows = ["| lesson | run time (lesson mode, 2-core CPU) | on a fresh machine |", "|---|---|---|"]
        for number, t in sorted(timings.items()):
            rows.append(f"| {int(number)}. [{_lesson_title(t['notebook'])}]({prefix}notebooks/{t['notebook']}) "
                        f"| {_shown(t['warm']['seconds'])} | {_shown(t['cold']['seconds'])} |")
        return "\n".join(rows) + ("\n\nRun times: `python benchmarks/lesson_timings.py` "
                                  "(`benchmarks/results/lesson_timings_cpu.json`); on a fresh machine the model cache "
                                  "is empty and lesson 02 trains its live model.")
    return make


def headline() -> str:
    """The held-out summary's table of who is better where (its first table and the line on its intervals)."""
    return result_tables.heldout_summary("who_wins").strip()


def editor_latency() -> str:
    d = _json("editor_latency_cpu.json")
    b, lesson = d["in_browser"], d["rows"]["lesson (trained)"]
    paper = d["rows"]["paper architecture (random init)"]
    size = "×".join(map(str, d["size"]))
    return "\n".join([
        f"| what the hand waits for ({d['device']}, lesson model, {size}) | median |", "|---|---|",
        f"| pointer move → the stroke's pixels on the canvas, kernel idle ({b['browser']}) "
        f"| {b['stroke_idle_ms']:.1f} ms |",
        f"| the same while a cell keeps the kernel busy | {b['stroke_busy_ms']:.1f} ms |",
        f"| click on Generate → the new picture in the page | {b['generate_ms']:.0f} ms |",
        f"| Generate in the kernel: render + PNG + widget update ({lesson['model_ms']:.0f} ms of it the generator) "
        f"| {lesson['regenerate_ms']:.0f} ms |",
        f"| committing a stroke in the kernel | {lesson['stroke_ms']:.0f} ms |",
        f"| Generate with the paper preset's generator ({paper['generator_params']:,} parameters) "
        f"| {paper['regenerate_ms']:.0f} ms ({d['paper_over_lesson_regenerate']:.0f}×) |",
        "", f"`{d['command']}` → `benchmarks/results/editor_latency_cpu.json`."])


def tps_speed() -> str:
    d = _json("tps_speed_cpu.json")
    rows = [f"| size | reference ({d['reference_device']}, per sample) | ours (torch, batch {d['batch']}, "
            f"{d['device']}) | ratio |", "|---|---|---|---|"]
    rows += [f"| {r['size']}² | {r['reference_warps_per_s']:.1f} warps/s | {r['ours_warps_per_s']:.0f} warps/s "
             f"| {r['ratio']:.0f}× |" for r in d["rows"]]
    return "\n".join(rows) + f"\n\n`{d['command']}` → `benchmarks/results/tps_speed_cpu.json` ({d['what']})."


def train_speed(name: str) -> Callable[[], str]:
    """The paper's pipeline against ours, side by side in one run (``benchmarks/train_speed.py``)."""
    def make() -> str:
        d = _json(name)
        rows = [f"| {d['device']}, torch {d['torch']} | reference (fp32 loop) | this trainer | ratio |",
                "|---|---|---|---|"]
        for r in d["rows"]:
            ref, fast = r["reference"], r["fast"]
            rows.append(f"| {r['preset']} preset, {r['size']}: steps/s | {ref['steps_per_s']:.1f} | "
                        f"{fast['steps_per_s']:.1f} | {r['ratio_fast_over_reference']:.2f}× |")
            rows.append(f"| {r['preset']} preset, {r['size']}: 16,000 steps, projected | "
                        f"{ref['projected_16k_steps_min']:.1f} min | {fast['projected_16k_steps_min']:.1f} min | |")
            if ref.get("peak_memory_mib") and "cuda" in name:
                rows.append(f"| {r['preset']} preset, {r['size']}: peak GPU memory | "
                            f"{ref['peak_memory_mib'] / 1024:.1f} GiB | {fast['peak_memory_mib'] / 1024:.1f} GiB | |")
        return "\n".join(rows) + f"\n\n`{d['command']}` → `benchmarks/results/{name}`."
    return make


def step_profile() -> str:
    d = _json("step_profile_cpu.json")
    rounds = d["options_rounds_steps_per_s"]
    median = {k: sorted(v)[len(v) // 2] for k, v in rounds.items()}
    base = median["as shipped"]
    rows = [f"| option ({d['device']}, {d['preset']} preset, {d['size'][0]}×{d['size'][1]}) | median steps/s "
            f"over {len(rounds['as shipped'])} rounds | vs as shipped |", "|---|---|---|"]
    rows += [f"| {k} | {v:.2f} | {v / base:.2f}× |" for k, v in median.items()]
    return (f"One step: {d['step_gflop']:.2f} GFLOP, {d['steps_per_s']:.2f} steps/s in the profiled run "
            f"({d['step_gflop'] * d['steps_per_s']:.1f} GFLOP/s).\n\n" + "\n".join(rows)
            + f"\n\n`{d['command']}` → `benchmarks/results/step_profile_cpu.json`.")


def _parameters(preset: str) -> tuple[int, int]:
    import torch

    import deepsim_lite as ds
    from deepsim_lite.method.model import build_generator
    from deepsim_lite.method.nets import MultiscaleDiscriminator, count_parameters

    c = ds.TrainConfig.preset(preset)
    channels = ds.TrainConfig().n_segments + 1  # the super-primitive: one-hot labels + the edge channel
    with torch.device("meta"):  # shapes only: the paper preset's 182 M parameters are never allocated
        g, d = build_generator(c, channels), MultiscaleDiscriminator(channels + 3, c.ndf, c.n_layers_d, c.num_d)
    return count_parameters(g), count_parameters(d)


def _shipped_records() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((ROOT / "data" / "models").glob("*.json"))]


def presets() -> str:
    import deepsim_lite as ds

    demo_run, gpu = _json("demo_cpu.json"), _json("gpu/train_speed_cuda.json")
    laptop_rate = _json("loss_decision_laptop_515s_cpu.json")["measured_steps_per_s"]["chelsea"]["laptop"]
    shipped = [r for r in _shipped_records() if r["preset"] == "lesson_long"]
    gpu256 = next(r for r in gpu["rows"] if r["size"] == "256x256")["fast"]
    times = {
        "lesson": f"{_shown(demo_run['train_wall_s'])} on 2 CPU cores (`make demo`, `demo_cpu.json`)",
        "lesson_long": f"{min(r['wall_time_s'] for r in shipped) / 60:.1f}–"
                       f"{max(r['wall_time_s'] for r in shipped) / 60:.1f} min on 2 CPU cores (the shipped models' "
                       "records, `data/models/*.json`)",
        "laptop": f"about {_shown(4000 / laptop_rate)} on 2 CPU cores (4000 steps at {laptop_rate:.1f} steps/s, "
                  "measured alone: `loss_decision_laptop_515s_cpu.json`)",
        "paper": f"{gpu256['projected_16k_steps_min']:.0f} min on an {gpu['device']} at 256×256, VGG term dropped "
                 "(`gpu/train_speed_cuda.json`)",
    }
    rows = ["| preset | image | generator / discriminator parameters | steps | ℓ_rec | time |",
            "|---|---|---|---|---|---|"]
    for name in ("lesson", "lesson_long", "laptop", "paper"):
        c = ds.TrainConfig.preset(name)
        g, d = _parameters(name)
        side = f"{c.max_side} px" if c.max_side else "as given"
        perceptual = c.reconstruction != "l1"
        loss = (c.reconstruction + (f" to layer {c.vgg_layers}" if perceptual and c.vgg_layers < 5 else "")
                + (f", input 1/{c.vgg_downsample}" if perceptual and c.vgg_downsample > 1 else ""))
        rows.append(f"| `{name}` | {side}, ngf {c.ngf} | {g:,} / {d:,} | {c.iterations:,} | {loss} | {times[name]} |")
    return "\n".join(rows) + ("\n\nParameters counted for the super-primitive's input "
                              "(`_parameters` in `scripts/doc_blocks.py`).")


def shipped() -> str:
    records = _shipped_records()
    total_s = sum(r["wall_time_s"] for r in records)
    mib = sum((ROOT / "data" / "models" / r["file"]).stat().st_size for r in records) / 2**20
    steps = sorted({r["steps"] for r in records})
    return (f"{len(records)} models ship in `data/models/` ({mib:.1f} MiB of weights), each trained "
            f"{'/'.join(map(str, steps))} steps with preset `{records[0]['preset']}` on {records[0]['machine']}: "
            f"{_shown(total_s)} of training in all ({', '.join(_shown(r['wall_time_s']) for r in records)}).")


def video_sweep() -> str:
    from deepsim_lite.analysis.sweep import sweep_table

    return sweep_table(RESULTS / "video").strip()


def heldout_commands() -> str:
    """The commands that wrote the held-out summary's inputs (as each JSON records it), then the summary's."""
    lines = [f"DEEPSIM_OFFLINE=1 {_json(n)['command']} --out benchmarks/results/{n}"
             for n in result_tables.HELDOUT_SUMMARY_INPUTS]
    inputs = " ".join(f"benchmarks/results/{n}" for n in result_tables.HELDOUT_SUMMARY_INPUTS)
    return "```bash\n" + "\n".join(lines) + f"\npython benchmarks/heldout_summary.py {inputs}\n```"


def precision(name: str) -> Callable[[], str]:
    """bf16 against fp32 training, side by side (``benchmarks/precision.py``)."""
    def make() -> str:
        d = _json(name)
        rows = [f"| {d['device']}, {d['preset']} preset, {d['size']}, {d['steps']} steps | steps/s | held-out PSNR "
                f"({d['held_out_warps']} warps) | SSIM |", "|---|---|---|---|"]
        rows += [f"| {k} (ℓ_rec: {r['reconstruction']}) | {r['steps_per_s']:.1f} | {r['psnr_mean']:.2f} ± "
                 f"{r['psnr_std']:.2f} | {r['ssim_mean']:.3f} |" for k, r in d["runs"].items()]
        return "\n".join(rows) + f"\n\n`{d['command']}` → `benchmarks/results/{name}` (one seed)."
    return make


def cat_paper() -> str:
    d = _json("gpu/cat_paper.json")
    return (f"A {d['steps']}-step `{d['preset']}`-preset run on the cat at {d['size'][0]}×{d['size'][1]} on an "
            f"{d['device']}: {d['steps_per_s']:.1f} steps/s ({d['projected_16k_steps_min']:.1f} min for 16,000 steps, "
            f"projected), {d['peak_memory_mib'] / 1024:.1f} GiB peak, ℓ_rec {d['reconstruction']} "
            "(`benchmarks/results/gpu/cat_paper.json`, its picture `cat_paper.png`).")


def _gpu_rows() -> dict[str, dict]:
    return {r["size"]: r for r in _json("gpu/train_speed_cuda.json")["rows"]}


def cluster_costs() -> str:
    """What a sweep cell costs: this machine's last full sweep, and the paper preset's measured GPU speeds."""
    last = next(h for h in reversed(_json("video/sweep.json")["history"]) if h["ran"])
    ran = len(last["ran"])
    gpu, rows = _json("gpu/train_speed_cuda.json")["device"], _gpu_rows()
    lines = ["| where | preset | minutes per cell | source |", "|---|---|---|---|",
             f"| this project's CPU ({last['device']}), one cell at a time | lesson (450 steps), training and scoring "
             f"29 frames | {last['wall_s'] / 60 / ran:.1f} on average ({last['wall_s'] / 60:.1f} min for "
             f"{ran} cells; some found their models in the model cache and were only scored) "
             "| `benchmarks/results/video/sweep.json` (history) |"]
    for size, r in rows.items():
        lines.append(f"| {gpu}, one cell | paper (16k steps) at {size.replace('x', '×')} | "
                     f"{r['fast']['projected_16k_steps_min']:.1f} (compiled) to "
                     f"{r['reference']['projected_16k_steps_min']:.1f} (the official code's way), training only | "
                     f"`benchmarks/results/gpu/train_speed_cuda.json`: {r['fast']['steps_per_s']:.1f} and "
                     f"{r['reference']['steps_per_s']:.1f} steps/s |")
    return "\n".join(lines)


def cluster_grid() -> str:
    """The paper's video benchmark at its own scale, projected from the measured GPU speeds."""
    rows, (small, large) = _gpu_rows(), (288, 90)  # 16 LRS2 + 5 Cityscapes videos x 3 primitives x 2 augs x 3 seeds
    low = (small * rows["256x256"]["fast"]["projected_16k_steps_min"]
           + large * rows["640x320"]["fast"]["projected_16k_steps_min"]) / 60
    high = (small * rows["256x256"]["reference"]["projected_16k_steps_min"]
            + large * rows["640x320"]["reference"]["projected_16k_steps_min"]) / 60
    return (f"The paper's video benchmark at its own scale (16 LRS2 + 5 Cityscapes videos × 3 primitives × 2 "
            f"augmentations × 3 seeds = {small} cells near 256 px and {large} at 640×320) is then, for training alone "
            f"on GPUs like the one measured, between **{low:.0f} GPU-hours** (compiled) and **{high:.0f} GPU-hours** "
            f"(the official code's way): {low / 8:.0f}–{high / 8:.0f} hours of wall time on 8 GPUs, or "
            f"{low / 16:.0f}–{high / 16:.0f} hours on a 4-node × 4-GPU SLURM allocation (projected from "
            "`benchmarks/results/gpu/train_speed_cuda.json`, VGG term dropped; the lesson preset is a teaching "
            "configuration, not the paper's).")


def _table(name: str) -> Callable[[], str]:
    """A result table inside a page: its own headings two levels down (a page has one title, its own)."""
    def make() -> str:
        text = result_tables.TABLES[name][1]().strip()
        return re.sub(r"^(#{1,4}) ", lambda m: "#" * (len(m[1]) + 2) + " ", text, flags=re.M)
    return make


BLOCKS: dict[str, Callable[[], str]] = {
    "demo": demo, "readme-lessons": lessons(""), "headline": headline, "editor-latency": editor_latency,
    "tps-speed": tps_speed, "train-speed-cpu": train_speed("train_speed_cpu.json"),
    "train-speed-gpu": train_speed("gpu/train_speed_cuda.json"), "step-profile": step_profile,
    "presets": presets, "heldout-commands": heldout_commands,
    "precision-cpu": precision("precision_cpu.json"), "precision-gpu": precision("gpu/precision_cuda.json"),
    "cat-paper": cat_paper,
    "cluster-costs": cluster_costs, "cluster-grid": cluster_grid, "shipped": shipped, "video-sweep": video_sweep,
    **{f"table:{name}": _table(name) for name in result_tables.TABLES},
}


def fill(text: str, where: str = "page") -> str:
    """``text`` with every generated block rewritten; an unknown block name is an error naming the page."""
    def one(m: re.Match) -> str:
        if m["name"] not in BLOCKS:
            raise KeyError(f"{where}: unknown generated block {m['name']!r}; known: {', '.join(BLOCKS)}")
        return m[1] + BLOCKS[m["name"]]().strip("\n") + "\n" + m[4]
    return BLOCK.sub(one, text)


def pages() -> Iterator[Path]:
    for entry in PAGES:
        path = ROOT / entry
        yield from sorted(path.rglob("*.md")) if path.is_dir() else [path]


def targets() -> list[tuple[Path, str]]:
    """(page, its text with every block regenerated) for each page that has a generated block."""
    out = []
    for page in pages():
        text = page.read_text()
        if BLOCK.search(text):
            out.append((page, fill(text, str(page.relative_to(ROOT)))))
    return out
