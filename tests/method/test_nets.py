import pytest
import torch

from deepsim_lite import nets


def global_generator_params(c_in: int, ngf: int, n_down: int, n_blocks: int, c_out: int = 3) -> int:
    """pix2pixHD's global generator counted by hand: conv weights k*k*in*out plus one bias per output."""
    total = 7 * 7 * c_in * ngf + ngf  # c7s1-ngf
    c = ngf
    for _ in range(n_down):  # d(2c): 3x3 stride-2 convs
        total += 3 * 3 * c * 2 * c + 2 * c
        c *= 2
    total += n_blocks * 2 * (3 * 3 * c * c + c)  # residual blocks, two 3x3 convs each
    for _ in range(n_down):  # u(c/2): 3x3 transposed convs
        total += 3 * 3 * c * (c // 2) + c // 2
        c //= 2
    total += 7 * 7 * ngf * c_out + c_out  # c7s1-3
    return total


def test_paper_preset_parameter_count_matches_hand_count():
    c_p = 9  # 8 labels + edge channel (super-primitive)
    g = nets.GlobalGenerator(c_p, 3, ngf=64, n_downsample=4, n_blocks=9)
    assert nets.count_parameters(g) == global_generator_params(c_p, 64, 4, 9)
    assert global_generator_params(c_p, 64, 4, 9) == 182_462_083  # the number quoted in the README


def test_lesson_preset_parameter_count_matches_hand_count():
    g = nets.GlobalGenerator(9, 3, ngf=24, n_downsample=2, n_blocks=4)
    assert nets.count_parameters(g) == global_generator_params(9, 24, 2, 4)


def test_generator_shapes_and_range():
    g = nets.GlobalGenerator(5, 3, ngf=8, n_downsample=2, n_blocks=1)
    y = g(torch.randn(2, 5, 16, 24))
    assert y.shape == (2, 3, 16, 24) and y.abs().max() < 1


def test_generator_rejects_bad_size():
    g = nets.GlobalGenerator(5, 3, ngf=8, n_downsample=2, n_blocks=1)
    with pytest.raises(ValueError, match="multiples of 4"):
        g(torch.randn(1, 5, 18, 24))


def test_multiscale_discriminator_features():
    d = nets.MultiscaleDiscriminator(8, ndf=8, n_layers_d=3, num_d=2)
    out = d(torch.randn(1, 8, 64, 64))
    assert len(out) == 2 and all(len(scale) == 5 for scale in out)  # n_layers_d + 1 features + logits
    assert out[0][-1].shape[1] == 1
    assert out[1][-1].shape[-1] < out[0][-1].shape[-1]  # coarser scale, fewer patches
    assert [f.shape[1] for f in out[0][:-1]] == [8, 16, 32, 64]


def test_pix2pixhd_init_draws_conv_weights_from_n_0_002():
    torch.manual_seed(0)
    g = nets.init_weights(nets.GlobalGenerator(9, 3, ngf=16, n_downsample=2, n_blocks=2))
    convs = [m for m in g.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    w = torch.cat([m.weight.flatten() for m in convs])
    assert abs(w.mean().item()) < 2e-3 and abs(w.std().item() - 0.02) < 1e-3
    for m in convs:  # every layer, not just the big ones
        assert abs(m.weight.std().item() - 0.02) < 0.006, m
    # normal, not PyTorch's default Kaiming-uniform, which is bounded by 1/sqrt(fan_in) = 1/21 on the 7x7 conv
    assert g.model[1].weight.abs().max().item() > 0.06  # 7,056 draws of N(0, 0.02) reach past 3 sigma
    torch.manual_seed(0)
    default = nets.init_weights(nets.GlobalGenerator(9, 3, ngf=16, n_downsample=2, n_blocks=2), "pytorch")
    assert default.model[1].weight.abs().max().item() <= 1 / 21
    d = nets.init_weights(nets.MultiscaleDiscriminator(12, ndf=16, num_d=2))
    assert all(abs(m.weight.std().item() - 0.02) < 0.006 for m in d.modules() if isinstance(m, torch.nn.Conv2d))


def test_init_is_seeded_and_sets_affine_norms():
    torch.manual_seed(3)
    a = nets.init_weights(nets.NLayerDiscriminator(6, 8))
    torch.manual_seed(3)
    b = nets.init_weights(nets.NLayerDiscriminator(6, 8))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    norm = nets.init_weights(torch.nn.Sequential(torch.nn.BatchNorm2d(4000)))[0]
    assert abs(norm.weight.mean().item() - 1) < 2e-3 and abs(norm.weight.std().item() - 0.02) < 2e-3
    assert torch.equal(norm.bias, torch.zeros(4000))
    with pytest.raises(ValueError, match="unknown init 'xavier'; choose one of pix2pixhd, pytorch"):
        nets.init_weights(a, "xavier")
