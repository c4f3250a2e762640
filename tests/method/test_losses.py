import warnings

import pytest
import torch

from deepsim_lite import features, losses, nets


def test_lsgan_targets():
    preds = [[torch.zeros(1, 1, 4, 4)], [torch.ones(1, 1, 2, 2)]]
    assert losses.lsgan_loss(preds, True).item() == pytest.approx(1.0)  # (0-1)^2 + (1-1)^2
    assert losses.lsgan_loss(preds, False).item() == pytest.approx(1.0)  # 0 + 1


def test_feature_matching_zero_for_identical_and_weighted():
    d = nets.MultiscaleDiscriminator(6, ndf=8, n_layers_d=2, num_d=2)
    x = torch.randn(1, 6, 32, 32)
    a = d(x)
    assert losses.feature_matching_loss(a, a).item() == 0.0
    b = [[f + 1 for f in scale] for scale in a]  # every feature off by exactly 1
    # per scale: (n_layers_d + 1) feature maps, each weight 4/(n_layers_d+1)/num_d -> total 4
    assert losses.feature_matching_loss(a, b).item() == pytest.approx(4.0, rel=1e-5)


def test_vgg_loss_with_random_backbone():
    backbone = features.vgg19_features("random").net
    loss = losses.VGGLoss(backbone)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert loss(x, x).item() == 0.0
    noisy = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)
    assert loss(noisy, x).item() > 0
    assert not any(p.requires_grad for p in loss.parameters())


def test_missing_weights_fall_back_with_one_warning_and_a_label(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    monkeypatch.setenv("DEEPSIM_OFFLINE", "1")  # and no network
    monkeypatch.setattr(features, "_warned", set())
    with pytest.warns(features.PretrainedWeightsMissing, match="DEEPSIM_OFFLINE is set.*replaced by pixel L1"):
        mod, label = losses.perceptual_loss(True, "l1")
    assert isinstance(mod, torch.nn.L1Loss) and label == "l1 (no vgg19 weights)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once only
        mod, label = losses.perceptual_loss(True, "drop")
    assert mod is None and label == "dropped (no vgg19 weights)"
    assert losses.perceptual_loss(False) == (None, "off")
    with pytest.raises(FileNotFoundError, match="weights are not at .* run `deepsim-lite weights fetch`"):
        features.vgg19_features("imagenet")
