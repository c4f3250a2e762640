import subprocess
import sys

import deepsim_lite as ds
from deepsim_lite import cli


def test_primitives_command_writes_three_pngs(tmp_path, capsys):
    assert cli.main(["primitives", "--out", str(tmp_path), "--samples", "chelsea"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chelsea_edges.png", "chelsea_seg.png", "chelsea_seg_edges.png",
    ]
    assert "chelsea: 300x451" in capsys.readouterr().out
    assert ds.load_primitive(tmp_path / "chelsea_seg_edges.png").kind == "seg_edges"


def test_error_is_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = subprocess.run(
        [sys.executable, "-m", "deepsim_lite.cli", "primitives", "--out", str(blocker / "sub"), "--samples", "chelsea"],
        capture_output=True, text=True,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("deepsim-lite: error:") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr
