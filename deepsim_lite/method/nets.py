"""pix2pixHD networks (paper Sec. 3.1): the global generator and the multiscale PatchGAN discriminator.

Class names follow pix2pixHD (Wang et al. 2018) so the code maps onto that paper:

* :class:`GlobalGenerator` — 7×7 conv, ``n_downsample`` stride-2 convs (channels doubling),
  ``n_blocks`` residual blocks, as many transposed convs back up, 7×7 conv, tanh. Instance norm,
  reflection padding. Input: the encoded primitive ``(N, C_p, H, W)``; output ``(N, 3, H, W)`` in (-1, 1).
* :class:`MultiscaleDiscriminator` — ``num_d`` :class:`NLayerDiscriminator` PatchGANs, each on the
  input downsampled once more; the input is the primitive concatenated with an image
  ``(N, C_p + 3, H, W)``. Returns, per scale, every intermediate feature map (for feature matching)
  with the patch logits last.

H and W must be multiples of ``2 ** n_downsample``. :func:`init_weights` is pix2pixHD's initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["INITS", "ResnetBlock", "GlobalGenerator", "NLayerDiscriminator", "MultiscaleDiscriminator",
           "init_weights", "count_parameters"]

INITS = ("pix2pixhd", "pytorch")


def _norm(channels: int) -> nn.Module:
    # pix2pixHD's instance norm: no learned affine, no running statistics.
    return nn.InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    """x + [pad, conv3×3, norm, ReLU, pad, conv3×3, norm](x), channel count unchanged."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class GlobalGenerator(nn.Module):
    """pix2pixHD's global generator G: primitive -> image.

    Args:
        input_nc: channels of the encoded primitive, C_p.
        output_nc: image channels (3).
        ngf: channels after the first conv ("number of generator filters"); doubles per downsampling.
        n_downsample: stride-2 convolutions (paper preset 4; H, W must be multiples of 2**n).
        n_blocks: residual blocks at the bottleneck (paper preset 9).

    Shapes: ``(N, input_nc, H, W)`` -> ``(N, output_nc, H, W)`` in (-1, 1).
    """

    def __init__(self, input_nc: int, output_nc: int = 3, ngf: int = 64, n_downsample: int = 4, n_blocks: int = 9):
        super().__init__()
        if input_nc < 1:
            raise ValueError(f"input_nc must be >= 1, got {input_nc}")
        self.n_downsample = n_downsample
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), _norm(ngf), nn.ReLU(True)]
        for i in range(n_downsample):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(2 * c), nn.ReLU(True)]
        c = ngf * 2**n_downsample
        layers += [ResnetBlock(c) for _ in range(n_blocks)]
        for i in range(n_downsample):
            c = ngf * 2 ** (n_downsample - i)
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                _norm(c // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        m = 2**self.n_downsample
        if cond.shape[-1] % m or cond.shape[-2] % m:
            raise ValueError(
                f"generator input is {cond.shape[-2]}x{cond.shape[-1]}; H and W must be multiples of {m} "
                "(resize with deepsim_lite.load_pair)"
            )
        return self.model(cond)


class NLayerDiscriminator(nn.Module):
    """A PatchGAN: 4×4 convs, ``n_layers_d`` of them stride 2, LeakyReLU(0.2); one logit per patch.

    ``forward`` returns the list of every layer's output (features for matching), logits last.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers_d: int = 3) -> None:
        super().__init__()
        kw, pad = 4, math.ceil((4 - 1) / 2)
        blocks = [nn.Sequential(nn.Conv2d(input_nc, ndf, kw, 2, pad), nn.LeakyReLU(0.2, True))]
        nf = ndf
        for _ in range(1, n_layers_d):
            prev, nf = nf, min(nf * 2, 512)
            blocks.append(nn.Sequential(nn.Conv2d(prev, nf, kw, 2, pad), _norm(nf), nn.LeakyReLU(0.2, True)))
        prev, nf = nf, min(nf * 2, 512)
        blocks.append(nn.Sequential(nn.Conv2d(prev, nf, kw, 1, pad), _norm(nf), nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Sequential(nn.Conv2d(nf, 1, kw, 1, pad)))  # LSGAN: raw scores, no sigmoid
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_d`` PatchGANs on the input at full, 1/2, 1/4, ... resolution (3×3 average pooling).

    Shapes: ``(N, C_p + 3, H, W)`` -> ``num_d`` lists of feature maps, finest scale first.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers_d: int = 3, num_d: int = 2) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(NLayerDiscriminator(input_nc, ndf, n_layers_d) for _ in range(num_d))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i, d in enumerate(self.discriminators):
            if i:
                x = self.downsample(x)
            out.append(d(x))
        return out


def init_weights(module: nn.Module, scheme: str = "pix2pixhd") -> nn.Module:
    """Initialise every layer of ``module`` in place and return it.

    ``"pix2pixhd"`` is pix2pixHD's ``weights_init``: convolution and transposed-convolution weights
    ~ N(0, 0.02); weights of norm layers that have them ~ N(1, 0.02) and their biases 0 (our instance norms
    have no affine parameters, as in pix2pixHD). Convolution biases keep PyTorch's default, as pix2pixHD
    leaves them. ``"pytorch"`` leaves PyTorch's default init (Kaiming-uniform) untouched. Draws from the
    global torch RNG: seed it first.
    """
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; choose one of {', '.join(INITS)}")
    if scheme == "pytorch":
        return module
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
