"""The PrimitiveEditor in a real browser: JupyterLab + Debian Chromium driven by Playwright.

A notebook builds the editor on a tiny trained model and the patch renderer (so the "method" switch
shows). The test first checks the layout at window widths 1100, 1400 and 1920 (every picture keeps the
primitive's aspect ratio and the canvas's size; every button, label, title and dropdown choice shows
its whole text, no "meth…"), then draws a stroke with real mouse events on the canvas, timing each
move until its pixels are on the canvas (≤ 50 ms: the browser draws the preview itself), asks the
kernel (by running a second cell) where the primitive changed,
presses Generate and compares screenshots of the output image before and after. Then it
rectangle-selects the nose and drags it up, undoes everything with Ctrl+Z and regenerates with
the "g" key (the output must be the first one again), and finally ticks auto-regenerate and
repeats the first stroke: the output must update by itself to the first stroke's. Last, a stroke
drawn while the kernel is busy (a cell sleeping) must appear as fast, and be applied once the kernel
is free.

``DEEPSIM_EDITOR_SCREENSHOT=docs/editor.png`` also saves a screenshot of the whole editor there
(how the README's picture is made; it then uses the cached lesson model of the cat).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _browser import chromium_page, jupyter_lab, open_notebook, run_cell, stroke_latencies, wait_idle, why_no_browser
from PIL import Image

import deepsim_lite as ds

pytestmark = pytest.mark.skipif(why_no_browser() is not None, reason=str(why_no_browser()))

DISPLAY = 384  # canvas size on screen, longest side (PrimitiveEditor's display_size)
RADIUS = 3
WIDTHS = (1100, 1400, 1920)  # browser windows the layout is checked at (JupyterLab's file browser open)
SHOT_WIDTHS = (1100, 1920)  # the README's pictures of the editor at a window width: docs/editor-1100.png, -1920.png
MAX_STROKE_MS = 50  # pointer move -> the stroke's pixels on the canvas, 90th percentile


def _notebook(n_labels: int) -> dict:
    build = (
        "import torch\n"
        "import deepsim_lite as ds\n"
        "from deepsim_lite.analysis.patchnn import PatchNN\n"
        "from deepsim_lite.teaching.widgets import PrimitiveEditor\n"
        "model = ds.load_model('model.pt')\n"
        f"prim = ds.load_primitive('primitive.png', n_labels={n_labels})\n"
        "image = ds.load_image('image.png')\n"
        "pair = ds.Pair(image, prim, 'chelsea')\n"
        "methods = {'GAN': model, 'patch NN': PatchNN(pair)}  # two methods: the editor shows its method switch\n"
        f"editor = PrimitiveEditor(methods, pair, display_size={DISPLAY})\n"
        f"editor.state.set_radius({RADIUS})\n"
        "editor"
    )
    report = (
        "changed = editor.primitive.labels != prim.labels\n"
        "ys, xs = torch.nonzero(changed, as_tuple=True)\n"
        "print('CHANGED', int(changed.sum()), int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max()),\n"
        "      'LABELS', sorted(set(editor.primitive.labels[changed].tolist())))"
    )
    busy = "import time\ntime.sleep(4)\nprint('AWAKE')"
    cells = [{"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
             for src in (build, report, busy)]
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def _tiny_model(tmp: Path) -> tuple[ds.Primitive, tuple[int, int]]:
    """Train a small model for a few steps (seconds) and write model.pt, primitive.png, image.png."""
    if os.environ.get("DEEPSIM_EDITOR_SCREENSHOT"):
        model = ds.cached_model("chelsea", "seg_edges", "tps", "lesson", progress=False)
        cfg = model.config
        pair = ds.load_sample("chelsea", "seg_edges", max_side=cfg.max_side, multiple=cfg.multiple,
                              n_segments=cfg.n_segments)
    else:
        pair = ds.load_sample("chelsea", "seg_edges", max_side=96, n_segments=6)
        config = ds.TrainConfig.preset("lesson", iterations=30, max_side=96, n_segments=6)
        model = ds.fit(pair, config, progress=False, preview="none").model
    model.save(tmp / "model.pt")
    ds.save_primitive(tmp / "primitive.png", pair.primitive)
    ds.save_image(tmp / "image.png", pair.image)
    return pair.primitive, pair.primitive.size


def _shot(locator) -> np.ndarray:  # for the output: [2:-2, 2:-2], the box can overhang the picture by a pixel
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(np.int16)


# In the page: the texts of the editor that do not show whole. An element that clips what overflows it (buttons,
# widget labels such as "method" with an ellipsis, the pictures' titles) cuts its text when a copy of it, free to
# take the width it wants, is wider than the element by any fraction of a pixel (scrollWidth rounds: "method" is
# 50.2 px wide, its label 50 px, the browser shows "meth…" and scrollWidth = clientWidth = 50), or when its text
# is taller than the element. A dropdown shows its chosen option: each option must fit the box less its padding
# (where the arrow is).
CUT_TEXTS = """el => {
  const cut = [];
  for (const e of el.querySelectorAll('*')) {
    const text = (e.innerText || '').trim();
    if (!text || e.offsetParent === null || e.tagName === 'SELECT' || e.tagName === 'OPTION') continue;
    if (e.querySelector('.jupyter-widgets, canvas, img')) continue;  // a box of widgets or pictures: its parts count
    const st = getComputedStyle(e), box = e.getBoundingClientRect();
    if (st.overflowX === 'visible' && st.overflowY === 'visible' && st.textOverflow !== 'ellipsis') continue;
    if (st.whiteSpace.startsWith('nowrap') || st.textOverflow === 'ellipsis') {
      const twin = e.cloneNode(true);
      twin.style.cssText = 'position: absolute; visibility: hidden; width: max-content; min-width: 0; max-width: none';
      e.parentNode.appendChild(twin);
      const wanted = twin.getBoundingClientRect().width;
      twin.remove();
      if (wanted > box.width + 0.05) { cut.push(text); continue; }
    }
    if (st.overflowY !== 'visible') {
      const range = document.createRange();
      range.selectNodeContents(e);
      const inner = box.height - parseFloat(st.borderTopWidth) - parseFloat(st.borderBottomWidth);
      if (range.getBoundingClientRect().height > inner + 1) cut.push(text);
    }
  }
  const ctx = document.createElement('canvas').getContext('2d');
  for (const s of el.querySelectorAll('select')) {
    if (s.offsetParent === null) continue;
    const st = getComputedStyle(s);
    ctx.font = `${st.fontStyle} ${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
    const room = s.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight);
    for (const o of s.options) if (ctx.measureText(o.text).width > room + 1) cut.push(o.text);
  }
  return [...new Set(cut)];
}"""


def _check_layout(page, editor, h: int, w: int, width: int) -> None:
    """At window ``width``: each picture has the primitive's aspect ratio and the canvas's size; every text of
    the editor (buttons, labels, titles, dropdown choices) shows whole."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_timeout(800)  # the grid reflows, the canvas's ResizeObserver redraws
    canvas = editor.locator(".deepsim-canvas-box").bounding_box()
    for name in (".deepsim-canvas-box", ".deepsim-output", ".deepsim-training"):
        box = editor.locator(name).first.bounding_box()
        assert box and abs(box["width"] / box["height"] - w / h) < 0.03 * w / h, (width, name, box)
        assert abs(box["width"] - canvas["width"]) <= 2 and abs(box["height"] - canvas["height"]) <= 2, (
            width, name, box, canvas)
    assert canvas["width"] >= 200, (width, canvas)  # narrow windows put pictures below each other instead
    assert editor.locator(".deepsim-method").is_visible(), "the method switch is hidden: nothing checks its label"
    cut = editor.evaluate(CUT_TEXTS)
    assert not cut, f"texts cut short at window width {width}: {cut}"


def _fast_enough(latencies: list, what: str) -> float:
    """Most moves show up (a move over pixels already of the brush's colour shows nothing), fast."""
    seen = sorted(v for v in latencies if v is not None)
    assert len(seen) >= 0.75 * len(latencies), (what, latencies)
    median, p90 = float(np.median(seen)), seen[int(0.9 * (len(seen) - 1))]
    assert p90 <= MAX_STROKE_MS, f"{what}: stroke pixels {median:.0f} ms (p90 {p90:.0f}) after the pointer: {seen}"
    return median


def test_draw_stroke_and_generate_in_jupyterlab(tmp_path: Path) -> None:
    t_start = time.perf_counter()
    prim, (h, w) = _tiny_model(tmp_path)
    # a horizontal stroke through the middle, painted with the label least present along it
    y_p, x0_p, x1_p = h // 2, w // 4, 3 * w // 4
    along = prim.labels[y_p, x0_p:x1_p]
    label = int(torch.bincount(along, minlength=prim.n_labels)[: prim.n_labels].argmin())
    (tmp_path / "editor.ipynb").write_text(json.dumps(_notebook(prim.n_labels)))

    with jupyter_lab(tmp_path) as url, chromium_page() as page:
        panel = open_notebook(page, url, "editor.ipynb")
        run_cell(page, panel, 0)
        editor = panel.locator(".deepsim-editor")
        status = editor.locator(".deepsim-status")
        status.filter(has_text="rendered").wait_for(timeout=120_000)
        output = editor.locator(".deepsim-output")
        page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=output.element_handle())
        before = _shot(output)[2:-2, 2:-2]

        shots = os.environ.get("DEEPSIM_EDITOR_SCREENSHOT")
        for width in WIDTHS:
            _check_layout(page, editor, h, w, width)
            if shots and width in SHOT_WIDTHS:
                editor.screenshot(path=str(Path(shots).with_name(f"{Path(shots).stem}-{width}.png")))
        page.set_viewport_size({"width": 1600, "height": 1000})
        page.wait_for_timeout(800)

        editor.locator(f".deepsim-label-{label}").click()
        canvas = editor.locator(".deepsim-canvas-box")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        zoom = box["width"] / w  # screen pixels per primitive pixel (the layout may shrink the canvas)

        def stroke_first() -> list:  # the first stroke, drawn twice (the same path on the canvas both times)
            canvas.scroll_into_view_if_needed()
            return stroke_latencies(page, ".deepsim-canvas", canvas.bounding_box(), (y_p + 0.5) / h,
                                    (x0_p + 0.5) / w, (x1_p + 0.5) / w, moves=12)

        idle_ms = _fast_enough(stroke_first(), "idle kernel")
        status.filter(has_text="edited").wait_for(timeout=30_000)

        # kernel side: where did the primitive change?
        run_cell(page, panel, 1)
        report = panel.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output", has_text="CHANGED")
        report.wait_for(timeout=60_000)
        m = re.search(r"CHANGED (\d+) (\d+) (\d+) (\d+) (\d+) LABELS \[([\d, ]*)\]", report.inner_text())
        assert m, report.inner_text()
        n, ymin, ymax, xmin, xmax = (int(v) for v in m.groups()[:5])
        assert n > 0
        assert [int(v) for v in m.group(6).split(",")] == [label]
        slack = RADIUS + 1  # brush radius, plus a pixel for the canvas-to-primitive rounding
        assert y_p - slack <= ymin <= ymax <= y_p + slack
        assert x0_p - slack <= xmin <= xmax <= x1_p + slack
        assert xmax - xmin >= (x1_p - x0_p) // 2  # the change follows the stroke, not one dab

        editor.locator(".deepsim-generate").click()
        status.filter(has_text="rendered").wait_for(timeout=60_000)
        wait_idle(page)
        page.wait_for_timeout(300)  # the new PNG is decoded after the status line updates
        after = _shot(output)[2:-2, 2:-2]

        # rectangle-select the nose and drag it up 1/14 of the height (9 px at 128x192): the paper's "lift the nose"
        editor.locator(".widget-toggle-button", has_text="rect").click()
        scale = h / 84  # the lift is given for an 84-row image (6 px) and scaled

        def at(y: float, x: float) -> tuple[float, float]:
            return box["x"] + (x + 0.5) * zoom, box["y"] + (y + 0.5) * zoom

        ny0, nx0, ny1, nx1 = ds.sample_region("chelsea", "nose", (h, w))
        canvas_before = _shot(canvas)
        page.mouse.move(*at(ny0, nx0))
        page.mouse.down()
        page.mouse.move(*at(ny1 - 1, nx1 - 1), steps=5)
        page.mouse.up()
        cy, cx = (ny0 + ny1) / 2, (nx0 + nx1) / 2
        page.mouse.move(*at(cy, cx))
        page.mouse.down()
        page.mouse.move(*at(cy - round(6 * scale), cx), steps=6)
        page.mouse.up()
        status.filter(has_text="edited").wait_for(timeout=30_000)
        editor.locator(".deepsim-generate").click()
        status.filter(has_text="rendered").wait_for(timeout=60_000)
        wait_idle(page)
        page.wait_for_timeout(300)
        moved = np.abs(_shot(canvas) - canvas_before).sum(2) > 30
        cz = moved.shape[0] / h  # screen pixels per primitive pixel on the canvas screenshot
        assert moved[int((ny0 - 7 * scale) * cz): int(ny1 * cz), int(nx0 * cz): int(nx1 * cz)].mean() > 0.1
        shot_path = os.environ.get("DEEPSIM_EDITOR_SCREENSHOT", str(tmp_path / "editor.png"))
        editor.screenshot(path=shot_path)

        # keyboard shortcuts reach the kernel: Ctrl+Z twice undoes the move and the stroke, "g" renders again
        canvas.click(position={"x": 2, "y": 2})  # focus the canvas (a click with the rect tool deselects)
        page.keyboard.press("Control+z")
        page.keyboard.press("Control+z")
        status.filter(has_text="edited").wait_for(timeout=30_000)
        page.keyboard.press("g")
        status.filter(has_text="rendered").wait_for(timeout=60_000)
        wait_idle(page)
        page.wait_for_timeout(300)
        undone = _shot(output)[2:-2, 2:-2]

        # auto-regenerate (debounced on the kernel's event loop): the same stroke again, no button pressed
        editor.locator(".widget-checkbox input").check()
        editor.locator(".widget-toggle-button", has_text="brush").click()
        stroke_first()
        deadline = time.monotonic() + 60
        auto = _shot(output)[2:-2, 2:-2]
        while np.abs(auto - after).max() > 2 and time.monotonic() < deadline:
            page.wait_for_timeout(250)
            auto = _shot(output)[2:-2, 2:-2]
        wait_idle(page)

        # a stroke while the kernel is busy: drawn as fast; applied (and auto-rendered) once the kernel is free
        run_cell(page, panel, 2)
        page.wait_for_timeout(500)
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        status.filter(has_text="rendered").wait_for(timeout=30_000)
        yb = min(range(h // 10, 3 * h // 10), key=lambda y: int((prim.labels[y, w // 10: 9 * w // 10] == label).sum()))
        busy_ms = _fast_enough(stroke_latencies(page, ".deepsim-canvas", box, (yb + 0.5) / h, 0.1, 0.9, moves=12),
                               "busy kernel")
        awake = panel.locator(".jp-Cell").nth(2).locator(".jp-OutputArea-output", has_text="AWAKE")
        assert awake.count() == 0, "the kernel was no longer busy when the stroke ended: not a busy-kernel test"
        awake.wait_for(timeout=60_000)
        wait_idle(page)
        run_cell(page, panel, 1)  # where does the primitive differ from the training one now?
        wait_idle(page)
        page.wait_for_timeout(300)
        m = re.search(r"CHANGED (\d+) (\d+)", panel.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
                      .first.inner_text())
        assert m and abs(int(m.group(2)) - yb) <= slack, ("the stroke drawn while the kernel was busy was lost",
                                                         m and m.group(0), yb)

    assert before.shape == after.shape
    diff = np.abs(after - before).sum(2)
    oy, ox = diff.shape[0] / h, diff.shape[1] / w  # screen pixels per primitive pixel in the output
    near = np.zeros(diff.shape, bool)  # within 8 primitive pixels of the stroke
    near[int((y_p - 8) * oy): int((y_p + 9) * oy), int((x0_p - 8) * ox): int((x1_p + 9) * ox)] = True
    assert (diff > 30).sum() > 50, "the rendered output did not change after Generate"
    assert diff[near].mean() > 2 * diff[~near].mean(), "the output changed, but not mostly where the stroke went"
    assert np.abs(undone - before).max() <= 2, "after undo the output differs from the training primitive's"
    assert np.abs(auto - after).max() <= 2, "auto-regenerate did not render the repeated stroke"
    print(f"browser test: {time.perf_counter() - t_start:.1f} s; stroke pixels after the pointer: "
          f"{idle_ms:.1f} ms (idle kernel), {busy_ms:.1f} ms (busy kernel), median")
