import numpy as np
import pytest
import torch

from deepsim_lite import viz
from deepsim_lite.primitives import Primitive, to_rgb


def test_as_rgb_of_each_kind_of_tile():
    img = torch.full((3, 4, 6), -1.0)
    img[0] = 1.0  # pure red
    assert viz.as_rgb(img)[0, 0].tolist() == [255, 0, 0]
    p = Primitive(torch.zeros(4, 6, dtype=torch.long), None, 2)
    assert np.array_equal(viz.as_rgb(p), to_rgb(p))
    ramp = torch.arange(6.0).expand(4, 6)
    g = viz.as_rgb(ramp)
    assert g[0, 0].tolist() == [0, 0, 0] and g[0, -1].tolist() == [255, 255, 255]  # scaled to its range
    assert viz.as_rgb(torch.ones(4, 6)).max() == 0  # a constant map is black, not a division by zero
    with pytest.raises(ValueError, match="cannot display"):
        viz.as_rgb(np.zeros((2, 3, 4, 5)))


def test_make_grid_layout():
    tiles = [torch.zeros(3, 10, 20), torch.zeros(3, 10, 10), torch.zeros(3, 20, 20)]
    grid = viz.make_grid(tiles, ["a", "b", "c"], ncols=2, tile_height=30, pad=4)
    # 2 columns of the widest scaled tile (60 px), 2 rows of 30 px tiles with an 18 px caption strip
    assert grid.shape == (4 + 2 * (30 + 18 + 4), 4 + 2 * (60 + 4), 3) and grid.dtype == np.uint8
    assert grid[0, 0].tolist() == [255, 255, 255]  # white background
    assert grid[4 + 18, 4].tolist() == [128, 128, 128]  # 0 in [-1, 1] is 127.5, rounded to even
    with pytest.raises(ValueError, match="2 captions for 3 tiles"):
        viz.make_grid(tiles, ["a", "b"])
    with pytest.raises(ValueError, match="at least one tile"):
        viz.make_grid([])


def test_checkerboard_and_heatmap():
    board = viz.checkerboard(8, 8, squares=2)
    assert board[0, 0, 0] == -1 and board[0, 0, 4] == 1 and board[0, 4, 4] == -1
    hm = viz.heatmap(torch.tensor([[0.0, 1.0]]), size=(2, 4))
    assert hm.shape == (2, 4, 3)
    assert not np.array_equal(hm[0, 0], hm[0, 3])  # low and high ends of the scale differ
    capped = viz.heatmap(torch.tensor([[0.0, 1.0]]), size=(2, 4), vmax=2.0)
    assert not np.array_equal(capped[0, 3], hm[0, 3])  # a shared vmax changes the colour of 1.0
