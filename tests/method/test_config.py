import dataclasses
import math

import pytest
import torch

from deepsim_lite.method.config import (
    PRESETS,
    TrainConfig,
    amp_enabled,
    channels_last_enabled,
    preset_changes,
    select_device,
)
from deepsim_lite.method.tps import Omega


def test_presets_hold_the_paper_defaults():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        TrainConfig.preset("huge")
    paper = TrainConfig.preset("paper")
    assert (paper.lr, paper.beta1, paper.batch_size, paper.iterations, paper.decay_start) == (2e-4, 0.5, 1, 16000, 0.5)
    assert (paper.ngf, paper.n_downsample, paper.n_blocks, paper.ndf, paper.n_layers_d, paper.num_d) == (
        64, 4, 9, 64, 3, 2)
    assert (paper.lambda_feat, paper.lambda_vgg) == (10.0, 10.0) and paper.multiple == 16
    for cpu in ("lesson", "laptop"):  # CPU presets: small nets, pixel L1 without VGG weights, paper's init
        assert PRESETS[cpu].multiple == 4 and PRESETS[cpu].vgg_fallback == "l1" and PRESETS[cpu].batch_size == 1
        assert PRESETS[cpu].init == "pix2pixhd" and PRESETS[cpu].ngf < paper.ngf
    assert PRESETS["laptop"].max_side > PRESETS["lesson"].max_side
    assert PRESETS["laptop"].iterations > PRESETS["lesson"].iterations
    assert paper.init == "pix2pixhd"  # pix2pixHD's weights_init


def test_dict_round_trip_and_files_of_version_0_1():
    for cfg in PRESETS.values():
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    old = PRESETS["lesson"].to_dict()
    old["primitive"] = old.pop("primitive_kind")  # how 0.1 wrote it
    old["primitive"] = "edges"
    old["a_field_from_the_future"] = 1
    del old["lambda_fallback_l1"]  # 0.1 weighted the L1 fallback with lambda_vgg
    del old["init"]  # before 0.3 the networks kept PyTorch's default init
    del old["reconstruction"]  # before 0.8: VGG19 where its weights were, else the fallback
    old["lambda_vgg"] = 3.0
    assert TrainConfig.from_dict(old) == dataclasses.replace(PRESETS["lesson"], primitive_kind="edges",
                                                             lambda_vgg=3.0, lambda_fallback_l1=3.0, init="pytorch",
                                                             reconstruction="vgg19")


def test_preset_refuses_unknown_overrides():
    with pytest.raises(ValueError, match="unknown TrainConfig field\\(s\\) primitive, stepz"):
        TrainConfig.preset("lesson", stepz=3, primitive="edges")


def test_flip_is_refused_with_crop_flip():
    with pytest.raises(ValueError, match="crop_flip flips on its own"):
        TrainConfig(augmentation="crop_flip", flip=True)


@pytest.mark.parametrize("field,value,message", [
    ("iterations", 0, "iterations must be >= 1, got 0"),
    ("log_every", 0, "log_every must be >= 1"),
    ("checkpoint_every", 0, "checkpoint_every must be >= 1"),
    ("ngf", 0, "ngf must be >= 1"),
    ("num_d", 0, "num_d must be >= 1"),
    ("n_downsample", -1, "n_downsample must be >= 0"),
    ("n_downsample", 12, "n_downsample must be at most 8"),
    ("seed", 2**70, "seed must be below 2\\*\\*63"),
    ("seed", -1, "seed must be >= 0"),
    ("batch_size", 2.0, "batch_size must be an integer, got 2.0"),
    ("ngf", True, "ngf must be an integer, got True"),
    ("lambda_vgg", math.nan, "lambda_vgg must be a finite number, got nan"),
    ("lambda_feat", -1.0, "lambda_feat must be >= 0"),
    ("lr", math.inf, "lr must be a finite number"),
    ("lr", 0.0, "lr must be > 0"),
    ("beta1", 1.0, "beta1 must lie in \\[0, 1\\)"),
    ("decay_start", 1.5, "decay_start must lie in \\[0, 1\\]"),
    ("max_side", 3, "max_side must be >= 32"),
    ("primitive_kind", "lines", "unknown primitive_kind 'lines'; choose one of edges, seg, seg_edges"),
    ("augmentation", "cutmix", "unknown augmentation 'cutmix'"),
    ("device", "tpu", "unknown device 'tpu'"),
    ("padding", "wrap", "unknown padding 'wrap'"),
    ("init", "xavier", "unknown init 'xavier'; choose one of pix2pixhd, pytorch"),
    ("flip", 1, "flip must be True or False, got 1"),
])
def test_every_bad_field_is_one_named_error(field, value, message):
    with pytest.raises(ValueError, match=message) as err:
        dataclasses.replace(PRESETS["paper"], **{field: value})
    assert "\n" not in str(err.value)


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


@pytest.mark.parametrize("device,amp,bf16,expected", [
    ("cuda", None, True, True), ("cuda", None, False, False), ("cuda", False, True, False), ("cuda", True, True, True),
    ("cpu", None, False, False), ("cpu", True, False, True), ("cpu", False, False, False),
])
def test_amp_policy(device, amp, bf16, expected):
    assert amp_enabled(dataclasses.replace(PRESETS["lesson"], amp=amp), device, bf16) is expected


def test_channels_last_policy():
    ok = dataclasses.replace(PRESETS["lesson"], channels_last=True, batch_size=2)
    assert channels_last_enabled(ok, "cuda") == (True, "")
    assert channels_last_enabled(dataclasses.replace(ok, batch_size=1), "cuda")[1].endswith("(torch 2.14)")
    assert "on the CPU" in channels_last_enabled(ok, "cpu")[1]
    assert channels_last_enabled(PRESETS["lesson"], "cuda") == (False, "")


def test_preset_takes_omega_and_crop_as_mappings_and_names_its_changes():
    cfg = TrainConfig.preset("lesson", omega={"L": 5.0}, crop={"min_scale": 0.5})
    assert cfg.omega == Omega(L=5.0) and cfg.crop.min_scale == 0.5 and cfg.crop.flip_p == 0.5
    with pytest.raises(ValueError, match="unknown omega field.s. M; Omega has grid_size, L, lam, fixed_corners"):
        TrainConfig.preset("lesson", omega={"M": 1})
    with pytest.raises(ValueError, match="L must"):
        TrainConfig.preset("lesson", omega={"L": -1.0})
    # the same configuration reached two ways names the same changes; the preset's own values are no change
    assert preset_changes("lesson", seed=0, iterations=450, omega={"L": 10.0}) == {}
    by_object = preset_changes("lesson", omega=Omega(grid_size=3), lr=1e-3, seed=2)
    by_mapping = preset_changes("lesson", seed=2, omega={"grid_size": 3})
    assert by_object == by_mapping == {"omega": {"grid_size": 3}, "seed": 2}
    # an integer for a float field is that float: one configuration, one spelling (5 -> 5.0), bools untouched
    assert preset_changes("lesson", omega={"L": 5}, lr=1) == {"omega": {"L": 5.0}, "lr": 1.0}
    assert repr(TrainConfig.preset("lesson", omega={"L": 5}).omega.L) == "5.0"
    assert TrainConfig.preset("lesson", flip=True).flip is True
