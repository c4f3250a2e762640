"""Regenerate latency of the PrimitiveEditor: how long from an edit to the new photo (paper Fig. 1 use).

Measured on the widget itself (no browser): a brush stroke sent as the mouse messages ipycanvas's
front end sends, then the Generate button. Three timings, medians over ``--repeats``:

* ``model``: ``DeepSIMModel.generate`` alone (encode + generator forward);
* ``regenerate``: the Generate button — render, PNG-encode the output, update the widget;
* ``stroke``: committing a brush stroke — the pure edit, redrawing the primitive canvas.

Side by side, the same measurement with the paper preset's generator architecture (random
weights: the cost does not depend on the weights) gives the lesson/paper ratio.

    python benchmarks/editor_latency.py              # lesson model of the astronaut at 256x256 (trains once, cached)
    python benchmarks/editor_latency.py --size 128

Writes ``benchmarks/results/editor_latency_<device>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from _common import device_name, write_result

import deepsim_lite as ds
from deepsim_lite.features import PretrainedWeightsMissing
from deepsim_lite.model import build_generator
from deepsim_lite.widgets import PrimitiveEditor


def _stroke_and_generate(editor: PrimitiveEditor, row: int) -> tuple[float, float]:
    """One brush stroke across the canvas at primitive row ``row``, then Generate: (stroke ms, regenerate ms)."""
    canvas = editor.canvas._canvases[-1]
    h, w = editor.state.size
    y = (row + 0.5) * editor._zy
    xs = [(w * f + 0.5) * editor._zx for f in (0.2, 0.4, 0.6, 0.8)]
    t0 = time.perf_counter()
    canvas._handle_frontend_event(None, {"event": "mouse_down", "x": xs[0], "y": y}, [])
    for x in xs[1:]:
        canvas._handle_frontend_event(None, {"event": "mouse_move", "x": x, "y": y}, [])
    canvas._handle_frontend_event(None, {"event": "mouse_up", "x": xs[-1], "y": y}, [])
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", default="astronaut")
    ap.add_argument("--size", type=int, default=256, help="longest side of the trained primitive")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default=None)
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
    write_result({"benchmark": "editor_latency", "device": device_name(device), "torch": torch.__version__,
                  "sample": args.sample, "size": [h, w], "repeats": args.repeats, "rows": rows,
                  "paper_over_lesson_regenerate": ratio,
                  "command": f"python benchmarks/editor_latency.py --size {args.size} --repeats {args.repeats}"},
                 "editor_latency", device, args.out)


if __name__ == "__main__":
    main()
