import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepsim_lite._image import check_image, check_size, from_uint8, to_uint8


def test_uint8_round_trip():
    arr = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    t = from_uint8(arr)
    assert t.shape == (3, 7, 9) and t.min() >= -1 and t.max() <= 1
    assert np.array_equal(to_uint8(t), arr)


def test_empty_array():
    with pytest.raises(ValueError, match=r"empty \(0x5 pixels\)"):
        from_uint8(np.zeros((0, 5, 3), np.uint8))


@pytest.mark.parametrize("shape", [(2, 8, 8), (4, 8, 8)])
def test_wrong_channel_count_tensor(shape):
    with pytest.raises(ValueError, match="3 colour channels"):
        check_image(torch.zeros(shape))


def test_wrong_channel_count_array():
    with pytest.raises(ValueError, match="has 2 channels; expected 1 .* 3 .* or 4"):
        from_uint8(np.zeros((8, 8, 2), np.uint8))


def test_out_of_range_values():
    with pytest.raises(ValueError, match=r"\[-1, 1\], got \[0, 255\]"):
        check_image(torch.full((3, 8, 8), 255.0).index_fill_(1, torch.tensor([0]), 0))


@settings(max_examples=40, deadline=None)
@given(st.integers(4, 12), st.integers(4, 12), st.sampled_from([1, 3, 4]), st.integers(0, 2**31 - 1))
def test_from_uint8_then_to_uint8_is_exact_for_every_layout(h, w, c, seed):
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)
    back = to_uint8(from_uint8(arr))
    expected = np.repeat(arr, 3, 2) if c == 1 else arr[:, :, :3]
    assert np.array_equal(back, expected)


def test_non_finite_and_tiny_images_are_refused():
    x = torch.zeros(3, 8, 8)
    x[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="holds NaN or infinite values"):
        check_image(x)
    with pytest.raises(ValueError, match="only 3x9 pixels; need at least 4x4"):
        check_size(3, 9)
    assert check_image(torch.zeros(1, 3, 8, 8)).shape == (3, 8, 8)  # a batch of one is accepted
