import warnings

import pytest
import torch
import torch.nn.functional as F

import deepsim_lite as ds
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
    with pytest.raises(FileNotFoundError, match="no ImageNet vgg19 weights: .* run `deepsim-lite weights fetch`"):
        features.vgg19_features("imagenet")
    mod, label = losses.perceptual_loss("l1")  # chosen: no network, and (warnings were said above) no weights needed
    assert isinstance(mod, torch.nn.L1Loss) and label == "l1"
    with pytest.raises(ValueError, match="reconstruction loss must be one of vgg19, vgg16, l1, off, got 'vgg11'"):
        losses.perceptual_loss("vgg11")


def test_the_caffe_and_torchvision_conventions_agree_on_the_first_layer():
    """A first layer moved from torchvision's convention (RGB, ImageNet mean/std on [0, 1]) to Caffe's (BGR, 0-255,
    mean pixel subtracted) -- weights divided by 255·std and flipped to BGR, the means folded into the bias --
    gives the same response to the same image in [-1, 1] when each is fed through its own normalisation."""
    from deepsim_lite.weights import backbones as bb

    torch.manual_seed(0)
    w, b = torch.randn(8, 3, 3, 3, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    mean, std = torch.tensor(bb.IMAGENET_MEAN, dtype=torch.float64), torch.tensor(bb.IMAGENET_STD, dtype=torch.float64)
    caffe_mean_rgb = torch.tensor(bb.CAFFE_MEAN_BGR, dtype=torch.float64).flip(0) / 255
    w_caffe = (w / (255 * std).view(1, 3, 1, 1)).flip(1)  # input channels in BGR order
    b_caffe = b + (w * ((caffe_mean_rgb - mean) / std).view(1, 3, 1, 1)).sum((1, 2, 3))
    x = torch.rand(2, 3, 9, 11, dtype=torch.float64) * 2 - 1
    tv = torch.nn.functional.conv2d(bb.imagenet_normalize(x), w, b)
    caffe = torch.nn.functional.conv2d(bb.caffe_normalize(x), w_caffe, b_caffe)
    torch.testing.assert_close(caffe, tv, rtol=1e-10, atol=1e-10)
    white = bb.caffe_normalize(torch.ones(1, 3, 1, 1)).flatten()  # [-1, 1] white is 255 in every channel
    assert white.tolist() == pytest.approx([255 - m for m in bb.CAFFE_MEAN_BGR])
    assert bb.CAFFE_INPUT_RATIO == pytest.approx(127.5 / (0.5 / (sum(bb.IMAGENET_STD) / 3)))


def test_vgg_loss_takes_images_in_minus_one_to_one_in_either_convention():
    from deepsim_lite.weights import backbones as bb

    x = torch.rand(1, 3, 32, 32) * 2 - 1
    y = (x + 0.2 * torch.randn_like(x)).clamp(-1, 1)
    net = bb.vgg19_features("random").net
    tv = losses.VGGLoss(bb.Backbone(net, "vgg19[random-init]"))
    caffe = losses.VGGLoss(bb.Backbone(net, "vgg19[random-init]", bb.caffe_normalize, 1 / bb.CAFFE_INPUT_RATIO))
    assert tv(x, x).item() == 0.0 and caffe(x, x).item() == 0.0
    # the same weights see a 57.6x larger input under Caffe's convention; the scale brings the loss back near
    # torchvision's (not exactly: biases and the mean pixel differ)
    assert 0.2 < caffe(y, x).item() / tv(y, x).item() < 5
    unscaled = losses.VGGLoss(bb.Backbone(net, "vgg19[random-init]", bb.caffe_normalize))
    assert unscaled(y, x).item() / caffe(y, x).item() == pytest.approx(bb.CAFFE_INPUT_RATIO, rel=1e-4)


def test_the_losses_input_convention_is_a_module_equal_to_the_function():
    from deepsim_lite.weights import backbones as bb

    x = torch.rand(2, 3, 5, 7, dtype=torch.float64) * 2 - 1
    for fn in (bb.imagenet_normalize, bb.caffe_normalize):
        norm = bb.InputNorm(fn).double()  # buffers follow the module (here: its dtype), made once
        torch.testing.assert_close(norm(x), fn(x), rtol=1e-6, atol=1e-5)  # float32 constants
        assert norm.state_dict() == {}  # constants, not weights: nothing in a checkpoint
    custom = bb.InputNorm(lambda t: t * 2)
    assert torch.equal(custom(x), x * 2)
    loss = losses.VGGLoss(bb.Backbone(bb.vgg19_features("random").net, "vgg19[random-init]", bb.caffe_normalize))
    assert loss.normalize.flip and loss.normalize.scale.flatten().tolist() == [127.5] * 3


def test_the_cheaper_vgg_terms_are_the_first_layers_and_the_pooled_images():
    """layers=k keeps the first k weighted terms of the full loss; downsample=f is the full loss on images
    average-pooled by f (computed here from the network's layers directly)."""
    from deepsim_lite.weights import backbones as bb

    torch.manual_seed(1)
    net = bb.vgg19_features("random").net
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    feats = []
    a, b = bb.imagenet_normalize(x), bb.imagenet_normalize(y)
    for i, layer in enumerate(net[:losses.VGG_LAYERS[-1] + 1]):
        a, b = layer(a), layer(b)
        if i in losses.VGG_LAYERS:
            feats.append((a - b).abs().mean().item())
    terms = [w * f for w, f in zip(losses.VGG_WEIGHTS, feats, strict=True)]
    backbone = bb.Backbone(net, "vgg19[random-init]")
    assert losses.VGGLoss(backbone)(x, y).item() == pytest.approx(sum(terms), rel=1e-5)
    assert losses.VGGLoss(backbone, losses.VGG_LAYERS[:3])(x, y).item() == pytest.approx(sum(terms[:3]), rel=1e-5)
    pooled = losses.VGGLoss(backbone, downsample=2)(x, y).item()
    assert pooled == pytest.approx(losses.VGGLoss(backbone)(F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)).item(), rel=1e-6)
    with pytest.raises(ValueError, match="downsample must be an integer >= 1"):
        losses.VGGLoss(backbone, downsample=0)
    with pytest.raises(ValueError, match="1 to 5 layers"):
        losses.VGGLoss(backbone, ())


@pytest.mark.parametrize("over, message", [({"vgg_layers": 0}, "vgg_layers must be >= 1"),
                                           ({"vgg_layers": 6}, "vgg_layers must be at most 5"),
                                           ({"vgg_downsample": 0}, "vgg_downsample must be >= 1")])
def test_the_cheaper_vgg_settings_are_checked(over, message):
    with pytest.raises(ValueError, match=message):
        ds.TrainConfig(**over)
