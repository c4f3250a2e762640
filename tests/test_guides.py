"""The guides run as written: every ``bash`` and ``python`` block of docs/guides/edit_your_photo.md, in order, in a
fresh folder holding a sample photo as ``my_photo.jpg``. The only changes: training runs 3 steps at 32 pixels (the
lesson preset made small, and ``--max-side 32 --iterations 3`` on ``deepsim-lite train``)."""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import replace
from pathlib import Path

from conftest import run_cli
from PIL import Image

import deepsim_lite as ds
from deepsim_lite.method.config import PRESETS

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guides" / "edit_your_photo.md"
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
        args = words[1:] + (SMALL if words[1] == "train" else [])
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
