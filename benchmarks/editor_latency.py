"""Regenerate latency of the PrimitiveEditor: how long from an edit to the new photo (paper Fig. 1 use).

In the kernel, on the widget itself: a brush stroke sent as the messages the canvas's front end
(widgets/canvas.js) sends, then the Generate button. Three timings, medians over ``--repeats``:

* ``model``: ``DeepSIMModel.generate`` alone (encode + generator forward);
* ``regenerate``: the Generate button — render, PNG-encode the output, update the widget;
* ``stroke``: committing a brush stroke — the pure edit, sending the new primitive picture.

Side by side, the same measurement with the paper preset's generator architecture (random
weights: the cost does not depend on the weights) gives the lesson/paper ratio.

In a real browser (``--browser``, default when Chromium is installed; JupyterLab + Debian Chromium,
the harness of tests/_browser.py): what a hand on the mouse sees, medians over the moves of strokes
drawn with real mouse events —

* ``stroke_idle`` / ``stroke_busy``: pointer move -> the stroke's pixels on the canvas (the first
  animation frame that holds them), with the kernel idle, and while a cell keeps it busy;
* ``generate``: click on Generate -> the new output picture loaded in the page.

    python benchmarks/editor_latency.py              # lesson model of the astronaut at 256x256 (trains once, cached)
    python benchmarks/editor_latency.py --size 128 --no-browser

Writes ``benchmarks/results/editor_latency_<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from _common import device_name, write_result

import deepsim_lite as ds
from deepsim_lite.method.model import build_generator
from deepsim_lite.teaching.widgets import PrimitiveEditor
from deepsim_lite.weights.backbones import PretrainedWeightsMissing


def _stroke_and_generate(editor: PrimitiveEditor, row: int) -> tuple[float, float]:
    """One brush stroke across the canvas at primitive row ``row``, then Generate: (stroke ms, regenerate ms)."""
    canvas = editor.canvas
    h, w = editor.state.size
    y = row + 0.5
    xs = [w * f + 0.5 for f in (0.2, 0.4, 0.6, 0.8)]
    t0 = time.perf_counter()
    canvas._handle_custom_msg({"event": "down", "y": y, "x": xs[0]}, [])
    canvas._handle_custom_msg({"event": "moves", "points": [[y, x] for x in xs[1:]]}, [])
    canvas._handle_custom_msg({"event": "up", "y": y, "x": xs[-1]}, [])
    stroke = (time.perf_counter() - t0) * 1000
    editor.generate_button.click()
    return stroke, editor.last_regenerate_ms


def measure(model: ds.DeepSIMModel, primitive: ds.Primitive, repeats: int) -> dict:
    editor = PrimitiveEditor(model, primitive, display_size=512)
    editor.state.set_label((editor.state.label + 1) % primitive.n_labels)
    for _ in range(3):  # warm-up (allocator, first PNG encode)
        model.generate(primitive)
    gen, strokes, regens = [], [], []
    h = primitive.size[0]
    for i in range(repeats):
        t0 = time.perf_counter()
        model.generate(editor.primitive)
        gen.append((time.perf_counter() - t0) * 1000)
        s, r = _stroke_and_generate(editor, int(h * (0.1 + 0.8 * i / max(repeats - 1, 1))))
        strokes.append(s)
        regens.append(r)
    assert editor.state.can_undo and not editor.state.stale  # every stroke was an edit that got rendered
    med = statistics.median
    return {"model_ms": med(gen), "regenerate_ms": med(regens), "stroke_ms": med(strokes),
            "regenerate_ms_p90": sorted(regens)[int(0.9 * (len(regens) - 1))],
            "generator_params": sum(p.numel() for p in model.generator.parameters())}


_NOTEBOOK_CELLS = (
    "import deepsim_lite as ds\nfrom deepsim_lite.teaching.widgets import PrimitiveEditor\n"
    "model = ds.cached_model({sample!r}, 'seg_edges', 'tps', 'lesson', max_side={size}, progress=False)\n"
    "cfg = model.config\n"
    "pair = ds.load_sample({sample!r}, 'seg_edges', max_side=cfg.max_side, multiple=cfg.multiple,\n"
    "                      n_segments=cfg.n_segments)\n"
    "editor = PrimitiveEditor(model, pair.primitive, image=pair.image)\neditor",
    "import time\ntime.sleep(8)",
)

# click on Generate -> the output <img> has a new picture, loaded (ms)
_GENERATE_PROBE = """(root) => new Promise((resolve) => {
  const img = root.querySelector('.deepsim-output'), old = img.src, t0 = performance.now();
  const poll = () => (img.src !== old && img.complete ? resolve(performance.now() - t0) : requestAnimationFrame(poll));
  root.querySelector('.deepsim-generate').click();
  requestAnimationFrame(poll);
})"""


def _browser_harness():
    """tests/_browser.py, the browser harness the editor's test uses (one copy of it)."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import _browser

    return _browser


def browser(sample: str, size: int, repeats: int) -> dict:
    """Stroke and Generate latencies as a user meets them, in JupyterLab in Chromium."""
    b = _browser_harness()
    chromium_page, jupyter_lab, open_notebook, run_cell = b.chromium_page, b.jupyter_lab, b.open_notebook, b.run_cell
    stroke_latencies = b.stroke_latencies

    cells = [{"cell_type": "code", "metadata": {}, "source": src.format(sample=sample, size=size), "outputs": [],
              "execution_count": None} for src in _NOTEBOOK_CELLS]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    idle, busy, gen = [], [], []
    with tempfile.TemporaryDirectory() as tmp, jupyter_lab(Path(tmp)) as url, chromium_page() as page:
        (Path(tmp) / "editor.ipynb").write_text(json.dumps(nb))
        panel = open_notebook(page, url, "editor.ipynb")
        run_cell(page, panel, 0)
        editor = panel.locator(".deepsim-editor")
        editor.locator(".deepsim-status").filter(has_text="rendered").wait_for(timeout=600_000)
        box_of = editor.locator(".deepsim-canvas-box")
        for i in range(repeats):
            box_of.scroll_into_view_if_needed()
            idle += stroke_latencies(page, ".deepsim-canvas", box_of.bounding_box(), 0.1 + 0.8 * i / max(repeats, 1),
                                     0.1, 0.9, moves=12)
            editor.locator(".deepsim-status").filter(has_text="edited").wait_for(timeout=30_000)
            gen.append(editor.evaluate(_GENERATE_PROBE))
            editor.locator(".deepsim-status").filter(has_text="rendered").wait_for(timeout=30_000)
        run_cell(page, panel, 1)  # the kernel sleeps 8 s: strokes meanwhile cannot wait for it
        page.wait_for_timeout(500)
        for i in range(3):
            box_of.scroll_into_view_if_needed()
            busy += stroke_latencies(page, ".deepsim-canvas", box_of.bounding_box(), 0.15 + 0.3 * i, 0.1, 0.9, moves=12)
    med = statistics.median
    idle_ok, busy_ok = [v for v in idle if v is not None], [v for v in busy if v is not None]
    return {"stroke_idle_ms": med(idle_ok), "stroke_idle_ms_p90": sorted(idle_ok)[int(0.9 * (len(idle_ok) - 1))],
            "stroke_busy_ms": med(busy_ok), "stroke_moves": [len(idle), len(busy)],
            "stroke_moves_unchanged": [len(idle) - len(idle_ok), len(busy) - len(busy_ok)],
            "generate_ms": med(gen), "browser": "Debian chromium, headless, JupyterLab"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", default="astronaut")
    ap.add_argument("--size", type=int, default=256, help="longest side of the trained primitive")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default=None)
    ap.add_argument("--browser", action=argparse.BooleanOptionalAction, default=None,
                    help="also measure in JupyterLab in Chromium (default: when Chromium is installed)")
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cpu")
    warnings.simplefilter("ignore", PretrainedWeightsMissing)

    lesson = ds.cached_model(args.sample, "seg_edges", "tps", "lesson", max_side=args.size)
    cfg = lesson.config
    pair = ds.load_sample(args.sample, "seg_edges", max_side=cfg.max_side, multiple=cfg.multiple,
                          n_segments=cfg.n_segments)
    paper_cfg = ds.TrainConfig.preset("paper", primitive_kind="seg_edges")
    paper = ds.DeepSIMModel(build_generator(paper_cfg, pair.primitive.channels), pair.primitive.n_labels,
                            True, pair.primitive.size, paper_cfg)
    rows = {"lesson (trained)": measure(lesson, pair.primitive, args.repeats),
            "paper architecture (random init)": measure(paper, pair.primitive, max(3, args.repeats // 4))}
    h, w = pair.primitive.size
    print(f"PrimitiveEditor latency, {args.sample} super-primitive {h}x{w}, {device_name(device)}")
    print(f"{'generator':>34} | {'params':>11} | {'model ms':>8} | {'regenerate ms':>13} | {'stroke ms':>9}")
    for name, r in rows.items():
        print(f"{name:>34} | {r['generator_params']:>11,} | {r['model_ms']:8.1f} | {r['regenerate_ms']:13.1f} | "
              f"{r['stroke_ms']:9.1f}")
    ratio = rows["paper architecture (random init)"]["regenerate_ms"] / rows["lesson (trained)"]["regenerate_ms"]
    print(f"regenerate: lesson is {ratio:.1f}x faster than the paper architecture at {h}x{w}")
    seen = None
    if args.browser is not False:
        why = _browser_harness().why_no_browser()
        if why is None:
            seen = browser(args.sample, args.size, max(3, args.repeats // 4))
            print(f"in Chromium: stroke pixels {seen['stroke_idle_ms']:.1f} ms after the pointer (idle kernel), "
                  f"{seen['stroke_busy_ms']:.1f} ms (busy kernel); Generate -> new picture {seen['generate_ms']:.0f} ms"
                  " (medians)")
        elif args.browser:
            raise SystemExit(f"--browser: {why}")
    write_result({"benchmark": "editor_latency", "device": device_name(device), "torch": torch.__version__,
                  "sample": args.sample, "size": [h, w], "repeats": args.repeats, "rows": rows,
                  "paper_over_lesson_regenerate": ratio, "in_browser": seen,
                  "command": f"python benchmarks/editor_latency.py --size {args.size} --repeats {args.repeats}"
                             + (" --no-browser" if seen is None else "")},
                 "editor_latency", device, args.out)


if __name__ == "__main__":
    main()
