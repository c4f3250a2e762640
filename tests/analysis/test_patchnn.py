"""The training-free patch renderer (patchnn.py): composition from the pair's own patches, its conventions,
its bank, and where it plugs in (editor switch, video benchmark)."""

import json

import numpy as np
import pytest
import torch
from _widgets import Recorder

import deepsim_lite as ds
from deepsim_lite import edits, metrics, video
from deepsim_lite.analysis.patchnn import PatchNN, PatchNNConfig
from deepsim_lite.teaching.widgets import PrimitiveEditor


@pytest.fixture(scope="module")
def pair():
    return ds.load_sample("chelsea", "seg_edges", max_side=64, multiple=4)  # 44x64


@pytest.fixture(scope="module")
def dense(pair):
    """Every bank window kept: the training primitive finds its own patches."""
    return PatchNN(pair, PatchNNConfig(bank_stride=1))


def test_the_training_primitive_renders_the_training_image(pair, dense):
    out = dense.generate(pair.primitive)
    assert out.shape == (3, *pair.size) and out.dtype == torch.float32
    assert float(metrics.psnr(out, pair.image)) > 30


def test_every_output_pixel_is_a_mix_of_training_pixels(pair, dense):
    edited = edits.move_region(pair.primitive, (10, 10, 30, 30), 6, 12)
    out = dense.generate(edited)
    lo, hi = pair.image.amin((1, 2)), pair.image.amax((1, 2))
    assert (out >= lo[:, None, None] - 1e-5).all() and (out <= hi[:, None, None] + 1e-5).all()


def test_a_moved_primitive_moves_the_picture(pair, dense):
    shift = 8
    moved = pair.primitive.replace(labels=torch.roll(pair.primitive.labels, shift, 1),
                                   edges=torch.roll(pair.primitive.edges, shift, 1))
    out = dense.generate(moved)
    inner = (slice(None), slice(4, -4), slice(shift + 6, -6))  # away from the seam the roll makes
    rolled = torch.roll(pair.image, shift, 2)
    assert float(metrics.psnr(out[inner], rolled[inner])) > float(metrics.psnr(out[inner], pair.image[inner])) + 3


def test_same_conventions_as_a_trained_model(pair, dense):
    x = torch.stack([ds.encode(pair.primitive), ds.encode(edits.erase_edges(pair.primitive, (0, 0, 20, 20)))])
    batch = dense.generate(x)
    assert batch.shape == (2, 3, *pair.size)
    assert torch.equal(batch[0], dense.generate(pair.primitive)), "deterministic, and an encoding is a primitive"
    assert torch.equal(dense.generate(x[1]), batch[1])
    with pytest.raises(ValueError, match="patch renderer's pair has a 8 labels \\+ edges primitive; got 0 labels"):
        dense.generate(pair.primitive.replace(labels=None, n_labels=0))
    with pytest.raises(ValueError, match="the primitive is 20x32 but the pair is 44x64"):
        dense.generate(ds.resize_pair(None, pair.primitive, (20, 32))[1])
    with pytest.raises(ValueError, match="expected \\(C_p, H, W\\) or \\(N, C_p, H, W\\) with C_p = 9"):
        dense.generate(torch.zeros(4, *pair.size))


def test_the_bank_holds_the_warps_and_large_banks_use_ivf(pair):
    plain = PatchNN(pair, PatchNNConfig(bank_stride=2))
    warped = PatchNN(pair, PatchNNConfig(bank_stride=2, n_aug=3))
    assert warped.info["bank_rows"] == 4 * plain.info["bank_rows"] == 4 * 22 * 32
    small = ds.load_sample("chelsea", "seg_edges", max_side=32, multiple=4)  # 20x32: 640 bank rows
    approx = PatchNN(small, PatchNNConfig(bank_stride=1, levels=1, exact_max_rows=300))  # IVF-PQ, width padded
    index = approx._levels[-1]["later"]["index"]
    assert index.d % 64 == 0 and index.ntotal == 640
    assert float(metrics.psnr(approx.generate(small.primitive), small.image)) > 20


@pytest.mark.parametrize("patch, stride", [(7, 1), (7, 2), (7, 4), (5, 3), (3, 2)])
def test_strided_queries_cover_every_pixel(pair, patch, stride):
    r = PatchNN(pair, PatchNNConfig(patch=patch, query_stride=stride, bank_stride=1, levels=1, passes=1))
    out = r.generate(pair.primitive)
    assert out.shape == (3, *pair.size) and torch.isfinite(out).all()
    assert float(metrics.psnr(out, pair.image)) > 30, "aligned windows of the training primitive find themselves"


def test_config_is_validated():
    with pytest.raises(ValueError, match="patch must be odd"):
        PatchNNConfig(patch=6)
    with pytest.raises(ValueError, match="query_stride 5 would leave border pixels no window covers; at most 4"):
        PatchNNConfig(patch=7, query_stride=5)
    with pytest.raises(ValueError, match="n_aug must be an integer >= 0, got -1"):
        PatchNNConfig(n_aug=-1)
    with pytest.raises(ValueError, match="image_weight must be a finite number >= 0"):
        PatchNNConfig(image_weight=float("nan"))
    with pytest.raises(ValueError, match="expected a Pair"):
        PatchNN("chelsea.png")


def test_the_editor_switches_methods_on_the_same_edit(pair, dense):
    gan = Recorder(pair.primitive)
    ed = PrimitiveEditor({"GAN": gan, "patch NN": dense}, pair.primitive, image=pair.image, display_size=128)
    assert ed.method.options == ("GAN", "patch NN") and ed.method.layout.display == "flex"
    ed.apply(edits.erase_edges, (0, 0, 20, 20))
    ed.generate()
    assert gan.calls[-1] == ed.primitive
    ed.method.value = "patch NN"
    assert torch.equal(ed.output, dense.generate(ed.primitive)) and not ed.state.stale
    assert len(ed.state._undo) == 1 and not ed.undo_button.disabled, "the edit and its history stay"
    single = PrimitiveEditor(gan, pair.primitive)
    assert single.method.layout.display == "none"


def test_a_patchnn_cell_of_the_video_benchmark(tmp_path):
    frames = video.load_frames(video.clip_path("carphone"), max_frames=3)
    cfg = ds.TrainConfig.preset("lesson", max_side=48)
    pairs = video.clip_pairs(frames, "edges", cfg, "carphone")
    r = video.run_cell(pairs, "carphone", "edges", "patchnn", out_dir=tmp_path, max_side=48)
    assert r["perceptual_loss"] == "no training" and r["ms_per_frame"] > 0 and r["config"]["patch"] == 7
    assert [row["frame"] for row in r["per_frame"]] == [1, 2]
    again = video.run_cell(pairs, "carphone", "edges", "patchnn", out_dir=tmp_path, max_side=48)
    assert again == json.loads(json.dumps(r)), "a finished cell is read back"
    table = video.markdown_table([r])
    assert "| carphone | edges | patchnn | lesson, no training |" in table and "ms/frame" in table
    assert np.isfinite(r["summary"]["psnr"]["mean"])
