import numpy as np
import pytest
import torch

from deepsim_lite import viz
from deepsim_lite.primitives.primitive import Primitive, to_rgb


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


def _texts(fig) -> list:
    return [t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
            if t.get_text().strip() and t.get_visible()]


def test_figure_is_readable_at_the_notebook_width():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = torch.zeros(3, 40, 60)
    heat = viz.Heat(torch.rand(10, 15), img, vmax=2.0, label="distance")
    caps = ["a long caption that would have been cut at the tile's width, bright = unseen"]
    caps += [f"t{i}" for i in range(7)]
    fig = viz.figure([heat] + [img] * 6 + [heat], caps, ncols=8, tile_height=200, zoom=(5, 5, 20, 30))
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")  # what the inline backend sends to the notebook
    assert Image.open(buf).size[0] <= viz.MAX_WIDTH_PX  # shown 1:1, not scaled down; no caption sticks out
    sizes = {t.get_text(): t.get_fontsize() * fig.dpi / 72 for t in _texts(fig)}
    assert min(sizes.values()) >= viz.MIN_TEXT_PX, sizes
    assert any("bright = unseen" in t.replace("\n", " ") for t in sizes)  # wrapped, never truncated
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "distance"]
    assert len(bars) == 2 and bars[0].get_ylim() == (0.0, 2.0)  # a colour bar per heat map, on the shared scale
    assert sum(1 for ax in fig.axes if ax.images and ax.images[0].get_array().shape[:2] == (15, 25)) == 8  # zooms
    plt.close(fig)
    with pytest.raises(ValueError, match="2 captions for 3 tiles"):
        viz.figure([img] * 3, ["a", "b"])


def test_make_grid_wraps_long_captions_instead_of_cutting_them():
    tiles = [torch.zeros(3, 30, 30)]
    one = viz.make_grid(tiles, ["short"], tile_height=60)
    two = viz.make_grid(tiles, ["a caption longer than tile"], tile_height=60)
    extra = two.shape[0] - one.shape[0]
    assert extra >= 18 and extra % 18 == 0  # more caption lines, not a cut
