"""The guides run as written: every ``bash`` and ``python`` block of the guides that a reader runs on their own files
(edit your own photo, several images and fine-tuning, drawn primitives), in order, in a fresh folder holding sample
photos under the names the guide uses. The only changes: training runs 3 steps at 32 pixels (the lesson preset made
small, and ``--max-side 32 --iterations 3`` on ``deepsim-lite train``). The GPU and teaching guides install
packages and run make targets: their commands are the Makefile's and the CLI's, tested there."""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import replace
from pathlib import Path

import torch
from conftest import run_cli
from PIL import Image

import deepsim_lite as ds
from deepsim_lite.method.config import PRESETS

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "docs" / "guides"
GUIDE = GUIDES / "edit_your_photo.md"
SMALL = ["--max-side", "32", "--iterations", "3", "--quiet"]


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block, in order."""
    return re.findall(r"^```(\w+)\n(.*?)^```$", text, flags=re.S | re.M)


def run_shell(code: str) -> None:
    for line in code.splitlines():
        words = shlex.split(line)
        if not words:
            continue
        if words[0] == "cp":
            shutil.copy(words[1], words[2])
            continue
        assert words[0] == "deepsim-lite", f"the guide runs {words[0]!r}; teach this test how"
        small = ["--quiet"] if "--resume" in words else SMALL  # a resumed run keeps its own configuration
        args = words[1:] + (small if words[1] == "train" else [])
        r = run_cli(*args)
        assert r.returncode == 0, f"{line}\n{r.stderr}"


def test_edit_your_own_photo_runs_as_written(tmp_path, monkeypatch):
    code = blocks(GUIDE.read_text())
    assert [lang for lang, _ in code] == ["bash", "bash", "python", "python", "python"]
    monkeypatch.chdir(tmp_path)
    Image.open(ds.sample_path("coffee")).convert("RGB").save("my_photo.jpg", quality=95)
    monkeypatch.setitem(PRESETS, "lesson", replace(PRESETS["lesson"], iterations=3, max_side=32))
    monkeypatch.delenv("DEEPSIM_MODE", raising=False)
    for _, body in code[:2]:
        run_shell(body)
    size = ds.load_model("runs/my_photo").size
    assert ds.load_image("result.png").shape == (3, *size)  # the edited primitive, rendered
    shutil.rmtree("runs")
    namespace: dict = {}
    for _, body in code[2:]:
        exec(compile(body, str(GUIDE), "exec"), namespace)  # noqa: S102 — the guide's own code, as a reader runs it
    assert {p.name for p in Path("edits/my_edit").iterdir()} == {"primitive.png", "output.png"}
    assert ds.load_image("result.png").shape == (3, *namespace["pair"].size)
    moved = ds.load_primitive("edited.png", n_labels=namespace["moved"].n_labels)
    assert moved.size == namespace["pair"].size and (Path("runs/my_photo") / "model.pt").is_file()


def _small_lesson_preset(monkeypatch) -> None:
    monkeypatch.setitem(PRESETS, "lesson", replace(PRESETS["lesson"], iterations=3, max_side=32))
    monkeypatch.delenv("DEEPSIM_MODE", raising=False)


def _run_in_order(code: list[tuple[str, str]], guide: Path) -> dict:
    namespace: dict = {}
    for lang, body in code:
        if lang == "bash":
            run_shell(body)
        else:
            exec(compile(body, str(guide), "exec"), namespace)  # noqa: S102 — the guide's own code, as a reader runs it
    return namespace


def test_several_images_and_fine_tuning_run_as_written(tmp_path, monkeypatch):
    guide = GUIDES / "several_images.md"
    code = blocks(guide.read_text())
    assert [lang for lang, _ in code] == ["bash", "python", "python", "bash", "bash"]
    monkeypatch.chdir(tmp_path)
    frames = ds.video.load_frames(ds.video.clip_path("bikes"), 21)
    for name, i in (("view1.jpg", 0), ("view2.jpg", 10), ("view3.jpg", 20)):
        ds.save_image(name, frames[i])
    _small_lesson_preset(monkeypatch)
    ns = _run_in_order(code, guide)
    assert sorted(p.name for p in Path("runs/both").glob("primitive_*.png")) == ["primitive_000.png",
                                                                                 "primitive_001.png"]
    assert ns["two"].steps == 3 and ns["tuned"].steps == 200  # the fine-tune's own, longer schedule
    assert ds.load_image("frame29.png").shape == (3, *ns["pairs"][29].size)
    assert ds.load_model("runs/view3").size == ds.load_model("runs/both").size  # fine-tuned from the CLI too


def test_drawn_primitives_run_as_written(tmp_path, monkeypatch):
    guide = GUIDES / "drawn_primitives.md"
    code = blocks(guide.read_text())
    assert [lang for lang, _ in code] == ["python", "python"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path / "cache"))
    ns = _run_in_order(code, guide)
    assert not (tmp_path / "cache").exists()  # the lessons' model of the cat ships: nothing was trained
    canvas = Image.open("to_paint.png")
    assert canvas.size == (3 * ns["pair"].size[1], 3 * ns["pair"].size[0])
    drawn, truth = ns["drawn"].primitive, ns["pair"].primitive  # an unpainted canvas reads back as what it was
    assert drawn.size == truth.size and torch.equal(drawn.edges, truth.edges)  # thin black lines, resized back
    assert torch.equal(drawn.labels[~truth.edges], truth.labels[~truth.edges])  # under a line: the nearest label
    assert ns["drawn"].notes and ds.load_image("painted.png").shape == (3, *ns["pair"].size)
