import dataclasses
import json
import warnings

import cv2
import numpy as np
import pytest
import torch

import deepsim_lite as ds
from deepsim_lite import video
from deepsim_lite.method.config import TrainConfig

TINY = {"iterations": 3}


@pytest.fixture(scope="module")
def carphone():
    return video.load_frames(video.clip_path("carphone"), max_frames=4)


def test_shipped_clips_load(carphone):
    assert len(carphone) == 4 and carphone[0].shape == (3, 144, 176)
    bikes = video.load_frames(video.clip_path("bikes"))
    assert len(bikes) == 30 and bikes[0].shape == (3, 136, 320)
    assert not torch.equal(carphone[0], carphone[3])


def test_video_file_round_trip(tmp_path, carphone):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (176, 144))
    for f in carphone:
        writer.write(ds.viz.as_rgb(f)[:, :, ::-1].copy())
    writer.release()
    frames = video.load_frames(path)
    assert len(frames) == 4 and frames[0].shape == (3, 144, 176)
    assert (frames[0] - carphone[0]).abs().mean() < 0.05  # MJPG is lossy


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        video.load_frames(tmp_path / "none")
    with pytest.raises(ValueError, match="holds no image frames"):
        video.load_frames(tmp_path)
    (tmp_path / "x.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="not a video OpenCV can read"):
        video.load_frames(tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="unknown clip 'cityscapes'"):
        video.clip_path("cityscapes")


def test_segmentation_is_consistent_across_frames(carphone):
    cfg = TrainConfig.preset("lesson")
    pairs = video.clip_pairs(carphone, "seg_edges", cfg, "carphone")
    assert len({p.primitive.n_labels for p in pairs}) == 1
    a, b = pairs[0].primitive.labels, pairs[1].primitive.labels
    assert (a == b).float().mean() > 0.8  # consecutive frames: mostly the same labels in the same places
    assert pairs[0].size == (144, 176) and pairs[2].name == "carphone_f002"  # the clip at full size


def test_flow_labels_are_the_default_and_recorded(carphone, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig.preset("lesson", **TINY)
    flow = video.clip_pairs(carphone, "seg", cfg, "carphone")
    kmeans = video.clip_pairs(carphone, "seg", cfg, "carphone", segmentation="kmeans")
    assert torch.equal(flow[0].primitive.labels, kmeans[0].primitive.labels)  # the training frame is the same
    fitted = ds.fit_segmenter(flow[0].image, cfg.n_segments)
    assert torch.equal(kmeans[3].primitive.labels, fitted(kmeans[3].image))
    carried = ds.carry_labels(flow[0].primitive.labels, flow[0].image, flow[3].image)
    assert torch.equal(flow[3].primitive.labels, carried)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
        r = video.run_cell(flow, "carphone", "seg", "tps", out_dir=tmp_path, **TINY)
        old = json.loads((tmp_path / "carphone-seg-flow-tps-lesson-iterations=3.json").read_text())
        assert r["segmentation"] == old["segmentation"] == "flow"
        rk = video.run_cell(kmeans, "carphone", "seg", "tps", out_dir=tmp_path, segmentation="kmeans", **TINY)
    assert (tmp_path / "carphone-seg-kmeans-tps-lesson-iterations=3.json").exists() and rk["summary"] != r["summary"]
    table = video.markdown_table([r, rk])
    assert "| carphone | seg (flow) | tps |" in table and "| carphone | seg (kmeans) | tps |" in table
    with pytest.raises(ValueError, match="unknown segmentation 'sam'"):
        video.run_cell(flow, "carphone", "seg", "tps", segmentation="sam")


def test_cell_scores_resume_and_table(carphone, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig.preset("lesson", **TINY)
    pairs = video.clip_pairs(carphone, "edges", cfg, "carphone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
        r = video.run_cell(pairs, "carphone", "edges", "tps", out_dir=tmp_path, **TINY)
    assert [row["frame"] for row in r["per_frame"]] == [1, 2, 3]
    assert set(r["summary"]) == {"psnr", "ssim", "l1", "lpips", "sifid"}
    assert r["summary"]["psnr"]["mean"] == pytest.approx(np.mean([x["psnr"] for x in r["per_frame"]]))
    saved = json.loads((tmp_path / "carphone-edges-tps-lesson-iterations=3.json").read_text())
    assert saved["summary"] == r["summary"]
    calls = []
    monkeypatch.setattr(video, "cached_model", lambda *a, **k: calls.append(1))
    again = video.run_cell(pairs, "carphone", "edges", "tps", out_dir=tmp_path, **TINY)
    assert calls == [] and again["summary"] == r["summary"]  # a finished cell is read back
    table = video.markdown_table([r])
    assert f"| carphone | edges | tps | lesson, {r['perceptual_loss']} |" in table
    cheap = ", relu1_1-relu3_1, input 1/2"  # the lesson preset's loss, with whichever VGG19 weights, else L1
    assert r["perceptual_loss"] in ("vgg19[imagenet, caffe, 8-bit]" + cheap, "vgg19[imagenet, torchvision]" + cheap,
                                    "l1 (no vgg19 weights)")
    assert f"LPIPS ↓ [{r['labels']['lpips'].split('[')[1]}" in table  # the weights label in the header itself

    # a cut-off or stale cell file is recomputed with a note naming it, never a KeyError
    class Recomputed(Exception):
        pass

    def recompute(*a, **k):
        raise Recomputed

    monkeypatch.setattr(video, "cached_model", recompute)
    path = tmp_path / "carphone-edges-tps-lesson-iterations=3.json"
    for broken, note in (('{"clip": "carphone", "summ', "is not readable JSON"), ('{"clip": "carphone"}', "lacks")):
        path.write_text(broken)
        with pytest.raises(Recomputed):
            video.run_cell(pairs, "carphone", "edges", "tps", out_dir=tmp_path, **TINY)
        assert f"{path} {note}" in capsys.readouterr().out

    # a cell trained under another definition of its preset (e.g. the 0.3 lesson preset) is stale, not reused
    path.write_text(json.dumps(saved))
    monkeypatch.setitem(ds.config.PRESETS, "lesson", dataclasses.replace(ds.config.PRESETS["lesson"], ngf=8))
    with pytest.raises(Recomputed):
        video.run_cell(pairs, "carphone", "edges", "tps", out_dir=tmp_path, **TINY)
    assert f"{path} was trained with another configuration of preset 'lesson' (ngf" in capsys.readouterr().out


def test_cells_with_other_settings_keep_their_own_files(carphone, tmp_path, monkeypatch):
    """A seed (or any field) that differs from the preset is another cell: its own file, never an overwrite.
    Overrides equal to the preset's value name the same cell as none at all."""
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig.preset("lesson", **TINY)
    pairs = video.clip_pairs(carphone[:3], "edges", cfg, "carphone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
        r0 = video.run_cell(pairs, "carphone", "edges", "tps", out_dir=tmp_path, seed=0, **TINY)
        r1 = video.run_cell(pairs, "carphone", "edges", "tps", out_dir=tmp_path, seed=1, omega={"L": 5.0}, **TINY)
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert names == ["carphone-edges-tps-lesson-iterations=3,omega.L=5.0,seed=1.json",
                     "carphone-edges-tps-lesson-iterations=3.json"]
    assert r0["overrides"] == {"iterations": 3} and r1["overrides"] == {"iterations": 3, "omega": {"L": 5.0}, "seed": 1}
    assert r1["config"]["omega"]["L"] == 5.0 and r1["config"]["seed"] == 1 and r1["summary"] != r0["summary"]
    assert video.cell_path(tmp_path, "carphone", "edges", "tps", "lesson", "flow", {"seed": 0, **TINY}) == (
        tmp_path / names[1])
    # seed 0 stated or not is the same cell; another seed or training frame is not
    for stated in ({"seed": 0, **TINY}, TINY):
        assert video.finished_cell(tmp_path / names[1], "edges", "tps", "lesson", "none", len(pairs), pairs[0].size,
                                   stated) == r0
    assert video.finished_cell(tmp_path / names[1], "edges", "tps", "lesson", "none", len(pairs), pairs[0].size, TINY,
                               train_index=1) is None
    assert video.finished_cell(tmp_path / names[1], "edges", "tps", "lesson", "none", len(pairs), pairs[0].size,
                               {**TINY, "seed": 1}) is None
