"""The wheel is a complete install: built from this tree, installed into a fresh virtual environment that reuses
the dependencies already installed here (no network), it loads a sample photo, its primitive, a shipped edit, a
clip, lesson 06's results table and the shipped lesson models without the source tree, and carries the editor's front
end."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import deepsim_lite as ds
from deepsim_lite import video
from importlib.resources import files
from deepsim_lite.primitives.samples import data_dir
root = data_dir()
assert "site-packages" in str(root) and root.name == "sample_data", root
pair = ds.load_sample("chelsea", "seg_edges", max_side=64, multiple=4)
frames = video.load_frames(video.clip_path("carphone"), max_frames=2)
edit = ds.load_primitive(root / "edits" / "chelsea_nose_up_seg_edges.png", n_labels=8)
assert (files("deepsim_lite.teaching.widgets") / "canvas.js").is_file()
table = ds.sweep.sweep_table()  # lesson 06's table, shipped as sample data
assert table.startswith("Sweep `deepsim-lite sweep ") and "| carphone | edges | tps | 3 (0, 1, 2) |" in table, table
import os
from pathlib import Path
from deepsim_lite.method.shipped import shipped_dir
assert shipped_dir() == root / "models", shipped_dir()
lesson = ds.lesson_config("lesson")
ready = {m.name: m.status(lesson) for m in ds.lessons.lesson_models(lesson) if not m.live}
assert set(ready.values()) == {"shipped"} and len(ready) == 5, ready  # every lesson model, shipped in the wheel
cat = ds.cached_model("chelsea", "seg_edges", "tps", lesson.model_preset)
assert cat.info["shipped"]["name"] == "cat-seg_edges-tps" and not Path(os.environ["DEEPSIM_CACHE"]).exists()
print("OK", ds.__version__, tuple(pair.size), len(frames), tuple(frames[0].shape), edit.kind)
"""


@pytest.mark.skipif(os.name != "posix", reason="the fresh venv's layout below is the POSIX one")
def test_wheel_is_a_complete_install(tmp_path: Path) -> None:
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                            "--quiet", "-w", str(tmp_path / "dist")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("deepsim_lite-*.whl")
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # reuse this environment's dependencies: its site-packages as a plain path (its .pth files, among them the
    # editable install of this tree, are not run from there), after the fresh venv's own site-packages
    (site / "reuse_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                              "--target", str(site), str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k not in ("DEEPSIM_DATA", "DEEPSIM_MODELS", "PYTHONPATH")}
    env["DEEPSIM_CACHE"] = str(tmp_path / "no-cache")  # loading a shipped model needs no cache folder
    run = subprocess.run([str(py), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("OK 0.") and "(44, 64) 2 (3, 144, 176) seg_edges" in run.stdout, run.stdout
