import json

import pytest

from deepsim_lite import rundir


def test_truncate_keeps_rows_up_to_the_step_and_drops_a_cut_off_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 2, "G": 1.0}\n{"step": 4, "G": 0.5}\nnot json\n{"step": 6, "G": 0.2}\n{"step": 8, "G')
    rundir.truncate_metrics(path, 6)
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [2, 4, 6]
    rundir.truncate_metrics(path, 0)
    assert path.read_text() == ""
    rundir.truncate_metrics(tmp_path / "absent.jsonl", 3)  # nothing to do, no file made
    assert not (tmp_path / "absent.jsonl").exists()


def test_prepare_makes_the_folders_and_removes_what_a_kill_left(tmp_path):
    rd = tmp_path / "run"
    (rd / "checkpoints").mkdir(parents=True)
    (rd / "checkpoints" / ".last.pt.abc.tmp").write_bytes(b"x")
    (rd / ".config.json.def.tmp").write_bytes(b"x")
    (rd / "notes.tmp").write_text("a user's file, not a temp file of ours")
    rundir.append_metrics(rd, {"step": 5, "G": 1.0})
    rundir.prepare(rd, step=0)
    assert sorted(p.name for p in rd.iterdir()) == ["checkpoints", "metrics.jsonl", "notes.tmp", "samples"]
    assert list((rd / "checkpoints").iterdir()) == [] and (rd / "metrics.jsonl").read_text() == ""


def test_prepare_refuses_a_folder_it_cannot_make(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PermissionError, match="cannot create the run directory"):
        rundir.prepare(tmp_path / "file" / "run", step=0)
