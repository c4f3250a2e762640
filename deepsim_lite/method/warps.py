"""The warp stream (paper Sec. 3.3's f ~ Ω, one batch per step): every step's random numbers drawn ahead.

Training draws, for each step, which pair each warp transforms (several pairs) and the warp's random numbers
(:func:`~.augment.draw_warps`) from one CPU generator seeded with ``config.seed + 1``. Drawn one step at a
time and copied to the GPU one step at a time, that is a handful of small host-to-device copies per step.
:class:`WarpStream` draws the numbers of ``chunk`` steps at once, **with the same per-step calls in the same
order** (so the stream, the results and a resumed run are those of drawing them one by one), and moves each
kind of number to the device in one copy; a step then reads its row, a view, and turns it into sampling grids
on the device (:func:`~.augment.grids_from_draws`), from the pixel grid made once.

The generator runs ahead of training by up to a chunk, so the stream keeps the generator's state before each
drawn step: :meth:`WarpStream.get_state` is the state before the next step's draws — what a checkpoint stores
and what :meth:`WarpStream.set_state` continues from (the meaning ``rng.aug`` always had).

Example:
    >>> stream = WarpStream(config, n_pairs=1, size=(128, 192), generator=torch.Generator().manual_seed(1))
    >>> which, grid = stream.next()         # None (one pair) and (B, 128, 192, 2) on config's device
"""

from __future__ import annotations

import torch

from . import augment
from .config import TrainConfig
from .tps import pixel_grid, warp_basis

__all__ = ["WarpStream"]


class WarpStream:
    """Every step's warps, drawn ``chunk`` steps ahead from ``generator`` and moved to ``device`` per chunk.

    Args:
        config: the run's augmentation, omega, crop, flip and batch size.
        n_pairs: training pairs; with more than one, each step first draws which pair each warp transforms.
        size: ``(H, W)`` of the training pairs.
        generator: the warp generator (CPU); it runs up to ``chunk`` steps ahead of :meth:`next`.
        device: where grids are made (default: the CPU).
        chunk: steps drawn per host-to-device copy.
    """

    def __init__(self, config: TrainConfig, n_pairs: int, size: tuple[int, int], generator: torch.Generator,
                 device: torch.device | str | None = None, chunk: int = 64) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.config, self.n_pairs, self.size, self.generator, self.chunk = config, n_pairs, size, generator, chunk
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.base = pixel_grid(*size, self.device)  # (H, W, 2): made once, not per step
        # the TPS basis, held here: a CUDA graph reads it at every replay, so no cache may free it
        self.basis = warp_basis(config.omega, *size, self.device) if config.augmentation == "tps" else None
        self._rows: dict[str, torch.Tensor] = {}  # each kind of number, (chunk, ...) on the device
        self._states: list[torch.Tensor] = []  # the generator's state before each drawn step
        self._next = 0  # the next unread row

    def _draw_one(self) -> dict[str, torch.Tensor]:
        """One step's numbers, in the order training has always drawn them: the pairs, then the warps."""
        c = self.config
        draw = {}
        if self.n_pairs > 1:
            draw["which"] = torch.randint(self.n_pairs, (c.batch_size,), generator=self.generator)
        flip = c.flip and c.augmentation != "crop_flip"
        return {**draw, **augment.draw_warps(c.augmentation, c.batch_size, self.generator, c.omega, flip)}

    def _refill(self) -> None:
        states, draws = [], []
        for _ in range(self.chunk):
            states.append(self.generator.get_state())
            draws.append(self._draw_one())
        self._states = states
        self._rows = {k: torch.stack([d[k] for d in draws]).to(self.device, non_blocking=True) for k in draws[0]}
        self._next = 0

    def next_draw(self) -> dict[str, torch.Tensor]:
        """The next step's numbers on the device (views into the chunk): ``"which"`` ``(B,)`` with several pairs,
        and :func:`~.augment.draw_warps`'s keys."""
        if self._next >= len(self._states):
            self._refill()
        row = {k: v[self._next] for k, v in self._rows.items()}
        self._next += 1
        return row

    def grids(self, draw: dict[str, torch.Tensor]) -> torch.Tensor:
        """The sampling grids ``(B, H, W, 2)`` of a step's numbers: device arithmetic only."""
        c = self.config
        return augment.grids_from_draws(c.augmentation, draw, c.batch_size, *self.size, self.device,
                                        omega=c.omega, crop=c.crop, base=self.base, basis=self.basis)

    def next(self) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``(which pair each warp transforms (B,) or None, sampling grids (B, H, W, 2))`` of the next step."""
        draw = self.next_draw()
        return draw.get("which"), self.grids(draw)

    def get_state(self) -> torch.Tensor:
        """The generator's state before the next step's draws (what a checkpoint stores)."""
        return self._states[self._next] if self._next < len(self._states) else self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Continue from a :meth:`get_state` (drawn-ahead steps are dropped and drawn again from it)."""
        self.generator.set_state(state)
        self._rows, self._states, self._next = {}, [], 0
