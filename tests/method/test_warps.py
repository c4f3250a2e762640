"""The warp stream: drawn ahead in chunks, it is the stream of drawing one step at a time, and training on it gives
the losses the step gave before it existed (tests/method/data/step_losses_before.json, written by the 0.8-dev
code that drew and copied each step's warps on its own)."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from conftest import TINY

import deepsim_lite as ds
from deepsim_lite.method import augment, train
from deepsim_lite.method.warps import WarpStream

BEFORE = json.loads((Path(__file__).parent / "data" / "step_losses_before.json").read_text())
CASES = {
    "tps": ({}, 1),
    "crop_flip_b2": ({"augmentation": "crop_flip", "batch_size": 2}, 1),
    "tps_flip_two_pairs_b2": ({"flip": True, "batch_size": 2}, 2),
    "none_flip": ({"augmentation": "none", "flip": True}, 1),
}


def _pairs(small_pair, n):
    other = ds.Pair(small_pair.image.flip(-1), small_pair.primitive, "chelsea-flipped")
    return [small_pair, other][:n]


@pytest.mark.parametrize("case", list(CASES))
def test_training_on_the_stream_gives_the_losses_of_before(small_pair, case):
    over, n_pairs = CASES[case]
    assert BEFORE[case]["pairs"] == n_pairs and all(BEFORE[case]["config"][k] == v for k, v in over.items())
    torch.set_num_threads(1)  # as the file was written: a reduction's order follows the thread count
    try:
        t = train.Trainer(_pairs(small_pair, n_pairs), dataclasses.replace(TINY, **over))
        got = [{k: float(v) for k, v in t.train_step().items()} for _ in range(len(BEFORE[case]["losses"]))]
    finally:
        torch.set_num_threads(2)
    # The same to float32 rounding for the first steps (D now runs once on a batch of 2B: its convolutions
    # round differently); then Adam, which divides by the root of tiny second moments, grows that rounding,
    # so later steps are held to the trajectory, not the bits (tests/method/test_step.py checks the maths
    # exactly, in float64).
    for step, (a, b) in enumerate(zip(got, BEFORE[case]["losses"], strict=True)):
        tol = 1e-5 if step < 5 else 3e-2
        for k in b:
            assert a[k] == pytest.approx(b[k], rel=tol, abs=1e-6), f"{case}: {k} at step {step + 1}"


def _one_at_a_time(config, n_pairs, size, steps):
    """What training drew before the stream: each step's pairs then warps, straight from the generator."""
    g = torch.Generator().manual_seed(7)
    out = []
    for _ in range(steps):
        which = torch.randint(n_pairs, (config.batch_size,), generator=g) if n_pairs > 1 else None
        flip = config.flip and config.augmentation != "crop_flip"
        grid = augment.sample_grids(config.augmentation, config.batch_size, *size, generator=g, omega=config.omega,
                                    crop=config.crop, flip=flip)
        out.append((which, grid))
    return out, g


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_the_stream_is_the_one_step_at_a_time_stream_whatever_the_chunk(case, chunk):
    over, n_pairs = CASES[case]
    config, size = dataclasses.replace(TINY, **over), (16, 20)
    want, g_want = _one_at_a_time(config, n_pairs, size, 7)
    stream = WarpStream(config, n_pairs, size, torch.Generator().manual_seed(7), chunk=chunk)
    for which_want, grid_want in want:
        which, grid = stream.next()
        assert (which is None) == (which_want is None) and (which is None or torch.equal(which, which_want))
        assert torch.equal(grid, grid_want)
    assert torch.equal(stream.get_state(), g_want.get_state()), "the state is before the next step, not the chunk's"


def test_a_stream_set_to_a_saved_state_continues_exactly():
    config = dataclasses.replace(TINY, flip=True, batch_size=2)
    a = WarpStream(config, 2, (16, 20), torch.Generator().manual_seed(3), chunk=4)
    for _ in range(5):  # into the second chunk
        a.next()
    saved = a.get_state()
    b = WarpStream(config, 2, (16, 20), torch.Generator().manual_seed(99), chunk=3)
    b.set_state(saved)
    for _ in range(6):
        (wa, ga), (wb, gb) = a.next(), b.next()
        assert torch.equal(wa, wb) and torch.equal(ga, gb)


def test_a_chunk_of_no_steps_is_refused():
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        WarpStream(TINY, 1, (16, 20), torch.Generator(), chunk=0)
