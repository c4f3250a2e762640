import pytest
import torch

from deepsim_lite import features


def test_cached_weights_path_follows_torch_home(tmp_path, monkeypatch):
    from torchvision.models import VGG19_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = features.cached_weights_path(VGG19_Weights.IMAGENET1K_V1)
    assert path.startswith(str(tmp_path)) and path.endswith(".pth")
    assert not features.vgg19_cached()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    open(path, "wb").write(b"not a checkpoint")
    assert features.vgg19_cached()
    with pytest.raises(ValueError, match="cached vgg19 weights at .* are unreadable"):
        features.vgg19_features("auto")


def test_random_backbone_is_seeded_and_labelled():
    a, b = features.vgg19_features("random", seed=1), features.vgg19_features("random", seed=1)
    assert a.label == "vgg19[random-init]" and not a.pretrained
    assert torch.equal(a.net[0].weight, b.net[0].weight)


def test_random_init_does_not_touch_the_callers_rng():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    features.resnet50_layer3("random", seed=0)
    assert torch.equal(torch.get_rng_state(), before)


def test_imagenet_normalize_maps_the_mean_to_zero():
    mean = torch.tensor(features.IMAGENET_MEAN).view(1, 3, 1, 1) * 2 - 1  # the mean colour in [-1, 1]
    assert features.imagenet_normalize(mean.expand(1, 3, 2, 2)).abs().max() < 1e-6
    white = features.imagenet_normalize(torch.ones(1, 3, 1, 1)).flatten()
    expected = (1 - torch.tensor(features.IMAGENET_MEAN)) / torch.tensor(features.IMAGENET_STD)
    assert torch.allclose(white, expected)
