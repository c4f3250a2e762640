"""One training step of Eq. 5 (paper Sec. 3.3): one generator and one discriminator update, tensors in, losses out.

    G:  min  ℓ_LSGAN(D(x, G(x)), real) + λ_feat·ℓ_FM(D(x, G(x)), D(x, y)) + λ_rec·ℓ_rec(G(x), y)
    D:  min  ½·[ℓ_LSGAN(D(x, G(x)), fake) + ℓ_LSGAN(D(x, y), real)]

:class:`TrainStep` holds what a step changes — the generator G, the multiscale discriminator D, their Adam
optimisers — and what it needs to compute — the reconstruction loss, bf16 autocast, the memory layout, the
compiled networks. Calling it on a batch ``(cond, real)`` of warped pairs (already on the device) updates G,
then D, and returns the loss terms as device tensors: no file, no host synchronisation, no Python decision
that depends on a tensor's value. The loop around it (learning-rate schedule, warps, logging, previews,
checkpoints) is :mod:`.train`; saving and restoring this state is :mod:`.checkpoints`.

Example:
    >>> step = TrainStep(ds.TrainConfig.preset("lesson"), in_channels=pair.primitive.channels)
    >>> step.set_lr(2e-4)
    >>> losses = step(cond, real)        # cond (B, C_p, H, W), real (B, 3, H, W) in [-1, 1], on step.device
    >>> losses["G_gan"], losses["D_real"]  # 0-d tensors
"""

from __future__ import annotations

import warnings

import torch

from .config import TrainConfig, amp_enabled, channels_last_enabled, select_device
from .losses import feature_matching_loss, lsgan_loss, perceptual_loss
from .model import build_generator
from .nets import MultiscaleDiscriminator, init_weights

__all__ = ["LOSS_TERMS", "TrainStep", "region"]

# What a step returns, in this order: G's adversarial, feature-matching, reconstruction and pixel-L1 terms
# (each already weighted), then D's terms on real and on generated images.
LOSS_TERMS = ("G_gan", "G_feat", "G_rec", "G_l1", "D_real", "D_fake")


def region(name: str):
    """A named span for ``torch.profiler`` (``benchmarks/step_profile.py`` splits a step's time by these);
    a few microseconds when no profiler runs."""
    return torch.profiler.record_function(f"deepsim::{name}")


class _KeepGraph:
    """A compiled network whose graph G's backward keeps for D's (``retain_graph``). Compiled backwards
    donate their saved buffers by default, which forbids that; this compiles without donation (a setting
    scoped to the network's calls, not a global one)."""

    def __init__(self, compiled) -> None:
        self.compiled = compiled

    def __call__(self, x: torch.Tensor):
        from torch._functorch import config as functorch_config

        with functorch_config.patch(donated_buffer=False):
            return self.compiled(x)


class TrainStep:
    """G, D and their optimisers for one config, and one update of each per call.

    Args:
        config: the run's :class:`TrainConfig` (networks, losses, optimiser, precision, compile).
        in_channels: ``C_p``, the encoded primitive's channel count (``Primitive.channels``).
        device: where the networks live; default ``select_device(config.device)``.

    Networks are initialised under a forked RNG seeded with ``config.seed``: building a step leaves the
    caller's random state alone, and the same config gives the same initial weights.
    """

    def __init__(self, config: TrainConfig, in_channels: int, device: torch.device | None = None) -> None:
        self.config = config
        self.device = select_device(config.device) if device is None else device
        cuda_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.amp = amp_enabled(config, self.device.type, cuda_bf16)
        self.channels_last, why_not = channels_last_enabled(config, self.device.type)
        if why_not:
            warnings.warn(why_not, UserWarning, stacklevel=3)
        self._build_networks(in_channels)
        self._build_optimisers()
        self.rec_loss, self.perceptual, self.rec_weight = self._reconstruction_loss()
        self.G_step, self.D_step = self._maybe_compile()
        self._g_params, self._d_params = list(self.G.parameters()), list(self.D.parameters())
        self._zero = torch.zeros((), device=self.device)  # made once: the terms a config leaves out

    def _build_networks(self, in_channels: int) -> None:
        c = self.config
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(c.seed)
            self.G = init_weights(build_generator(c, in_channels), c.init).to(self.device)
            d = MultiscaleDiscriminator(in_channels + 3, c.ndf, c.n_layers_d, c.num_d)
            self.D = init_weights(d, c.init).to(self.device)
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)

    def _build_optimisers(self) -> None:
        c, cuda = self.config, self.device.type == "cuda"
        fused = cuda if c.fused_adam is None else c.fused_adam
        kw = {"fused": True} if fused else {"foreach": cuda}
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), **kw)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), **kw)

    def _reconstruction_loss(self) -> tuple[torch.nn.Module | None, str, float]:
        """(loss module or None, its label, its weight): a VGG term weighted by ``lambda_vgg``, or pixel
        L1 (chosen, or replacing VGG without weights) weighted by ``lambda_fallback_l1``."""
        c = self.config
        rec, label = perceptual_loss(c.reconstruction if c.use_vgg_loss else "off", c.vgg_fallback, c.vgg_layers,
                                     c.vgg_downsample)
        weight = c.lambda_vgg if label.startswith("vgg") else c.lambda_fallback_l1
        return (rec.to(self.device) if rec is not None else None), label, weight

    def _maybe_compile(self):
        c = self.config
        if not c.compile:
            return self.G, self.D
        return tuple(_KeepGraph(torch.compile(net, mode=c.compile_mode)) for net in (self.G, self.D))

    def set_lr(self, lr: float) -> None:
        """The learning rate of both optimisers for the next calls (the schedule is the loop's). A rate held as
        a device tensor (a CUDA graph reads it: :func:`~.graphed.make_capturable`) is filled in place."""
        for opt in (self.opt_G, self.opt_D):
            for g in opt.param_groups:
                if isinstance(g["lr"], torch.Tensor):
                    g["lr"].fill_(lr)
                else:
                    g["lr"] = lr

    def __call__(self, cond: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One G update and one D update, on a batch of warped pairs.

        D runs once, on ``[G(cond); real]`` (a batch of 2B), and both losses are read from that: G's
        adversarial and feature-matching terms, D's real and fake terms. G's backward stops at G's weights
        and D's at D's (``backward(inputs=...)``), so each network gets exactly the gradient of the paper's
        alternating step — D's from predictions of the weights it had before either update, as before,
        when D ran a second time on ``G(cond).detach()`` — with one D forward fewer.

        Args:
            cond: ``(B, C_p, H, W)`` encoded primitives on :attr:`device`.
            real: ``(B, 3, H, W)`` images in [-1, 1] on :attr:`device`, warped like ``cond``.

        Returns:
            The :data:`LOSS_TERMS` as detached 0-d device tensors (reading them is the caller's sync).
        """
        c = self.config
        if self.channels_last:
            with region("augment"):  # counted with the batch's preparation, as before the step was its own unit
                cond = cond.contiguous(memory_format=torch.channels_last)
                real = real.contiguous(memory_format=torch.channels_last)
        zero = self._zero
        b = cond.shape[0]
        # no weight-cast cache: D runs once per step, and a CUDA graph cannot hold a cache across replays
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp, cache_enabled=False):
            with region("G forward"):
                fake = self.G_step(cond)
            with region("D forward"):  # once, on [fake; real]: D is the same network for G's loss and its own
                pred = self.D_step(torch.cat([torch.cat([cond, fake], 1), torch.cat([cond, real], 1)], 0))
                pred_fake = [[t[:b] for t in scale] for scale in pred]
                pred_real = [[t[b:] for t in scale] for scale in pred]
            with region("losses"):
                loss_g_gan = lsgan_loss(pred_fake, True)
                loss_g_feat = feature_matching_loss(pred_fake, pred_real) * c.lambda_feat
                loss_g_rec = self.rec_loss(fake.float(), real) * self.rec_weight if self.rec_loss is not None else zero
                loss_g_l1 = (fake.float() - real).abs().mean() * c.lambda_l1 if c.lambda_l1 else zero
                loss_g = loss_g_gan + loss_g_feat + loss_g_rec + loss_g_l1
                # D's loss on the same predictions; backward(inputs=D's weights) keeps G out of it, as
                # fake.detach() did when D ran a second time
                loss_d_fake = lsgan_loss([[s[-1]] for s in pred_fake], False)
                loss_d_real = lsgan_loss([[s[-1]] for s in pred_real], True)
                loss_d = 0.5 * (loss_d_fake + loss_d_real)
        with region("G backward"):  # G's gradients only: D's weight gradients are not computed for G's loss
            self.opt_G.zero_grad(set_to_none=True)
            loss_g.backward(inputs=self._g_params, retain_graph=True)
        with region("D backward"):
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.backward(inputs=self._d_params)
        with region("optimiser"):
            self.opt_G.step()
            self.opt_D.step()
        terms = (loss_g_gan, loss_g_feat, loss_g_rec, loss_g_l1, loss_d_real, loss_d_fake)
        return {name: t.detach() for name, t in zip(LOSS_TERMS, terms, strict=True)}
