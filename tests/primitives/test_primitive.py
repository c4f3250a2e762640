import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import deepsim_lite as ds
from deepsim_lite.primitives.primitive import (
    EDGE_INDEX,
    PALETTE,
    Primitive,
    colour_name,
    labels_from_levels,
    name_labels,
)

label_maps = st.tuples(st.integers(1, 12), st.integers(4, 20), st.integers(4, 20), st.integers(0, 2**31 - 1)).map(
    lambda t: (t[0], torch.randint(0, t[0], (t[1], t[2]), generator=torch.Generator().manual_seed(t[3])), t[3])
)


class TestEncoding:
    @settings(max_examples=60, deadline=None)
    @given(label_maps, st.sampled_from(ds.KINDS))
    def test_round_trip_exact(self, lm, kind):
        n, labels, seed = lm
        edges = torch.rand(labels.shape, generator=torch.Generator().manual_seed(seed + 1)) < 0.2
        prim = ds.Primitive(
            labels if kind != "edges" else None, edges if kind != "seg" else None, n if kind != "edges" else 0
        )
        x = ds.encode(prim)
        assert x.shape == (prim.channels, *labels.shape) and x.dtype == torch.float32
        assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
        if prim.n_labels:
            assert torch.all(x[: prim.n_labels].sum(0) == 1)
        assert ds.decode(x, prim.n_labels, prim.has_edges) == prim

    def test_channels(self, cat_small):
        p = cat_small.primitive
        assert p.kind == "seg_edges" and p.channels == p.n_labels + 1
        assert p.replace(edges=None).channels == p.n_labels
        assert p.replace(labels=None, n_labels=0).channels == 1

    def test_decode_wrong_channel_count(self, cat_small):
        x = ds.encode(cat_small.primitive)
        with pytest.raises(ValueError, match=r"must be \(\d+, H, W\)"):
            ds.decode(x[1:], cat_small.primitive.n_labels, True)

    def test_to_rgb_uses_stable_palette_and_black_edges(self, cat_small):
        p = cat_small.primitive
        rgb = ds.to_rgb(p)
        assert rgb.shape == (*p.size, 3) and rgb.dtype == np.uint8
        e = p.edges.numpy()
        lab = p.labels.numpy()
        assert np.all(rgb[e] == 0)
        assert np.array_equal(rgb[~e], PALETTE[lab[~e]])
        only_edges = ds.to_rgb(p.replace(labels=None, n_labels=0))
        assert np.all(only_edges[~e] == 255)

    def test_palette_colours_are_distinct(self):
        assert len({tuple(c) for c in PALETTE[:EDGE_INDEX]}) >= 250


class TestPrimitiveValidation:
    def test_needs_something(self):
        with pytest.raises(ValueError, match="neither"):
            ds.Primitive()

    def test_label_out_of_range(self):
        with pytest.raises(ValueError, match="label 5 but the model knows 3 labels"):
            ds.Primitive(torch.full((8, 8), 5), None, 3)

    def test_negative_label(self):
        with pytest.raises(ValueError, match="negative label"):
            ds.Primitive(torch.full((8, 8), -1), None, 3)

    def test_float_labels(self):
        with pytest.raises(ValueError, match="int64"):
            ds.Primitive(torch.zeros(8, 8), None, 1)

    def test_edges_must_be_bool(self):
        with pytest.raises(ValueError, match="bool"):
            ds.Primitive(None, torch.zeros(8, 8))

    def test_sizes_must_agree(self):
        with pytest.raises(ValueError, match="differ in size"):
            ds.Primitive(torch.zeros(8, 8, dtype=torch.long), torch.zeros(8, 9, dtype=torch.bool), 1)

    def test_tiny_map(self):
        with pytest.raises(ValueError, match="only 1x1 pixels"):
            ds.Primitive(None, torch.zeros(1, 1, dtype=torch.bool))

    def test_unknown_kind(self, cat_small):
        with pytest.raises(ValueError, match="unknown primitive kind 'depth'"):
            ds.make_primitive(cat_small.image, "depth")


class TestLevels:
    def test_levels_map_in_order(self):
        v = np.array([[0, 50], [200, 50]])
        assert labels_from_levels(v).tolist() == [[0, 1], [2, 1]]

    def test_known_levels_keep_numbers_after_a_region_is_removed(self):
        v = np.array([[0, 200], [200, 200]])
        assert labels_from_levels(v, [0, 50, 200]).tolist() == [[0, 2], [2, 2]]

    def test_unknown_level(self):
        with pytest.raises(ValueError, match="gray levels \\[7\\]"):
            labels_from_levels(np.array([[0, 7]]), [0, 50])


@pytest.mark.parametrize("rgb, name", [
    ((10, 10, 10), "black"), ((128, 128, 128), "grey"), ((250, 250, 250), "white"), ((220, 30, 30), "red"),
    ((40, 60, 200), "blue"), ((30, 160, 40), "green"), ((110, 70, 40), "brown"), ((60, 40, 20), "dark brown"),
    ((30, 15, 70), "dark purple"), ((250, 160, 200), "light pink"), ((235, 215, 60), "yellow"),
])
def test_colour_name_names_plain_colours(rgb, name):
    assert colour_name(rgb) == name


@pytest.mark.parametrize("rgb, name", [
    ((230, 159, 0), "orange"),  # the palette's label 0 (Okabe-Ito orange; hue 41 degrees), not yellow
    ((213, 94, 0), "orange"), ((0, 114, 178), "blue"), ((0, 158, 115), "green"), ((240, 228, 66), "yellow"),
    ((204, 121, 167), "pink"),  # the palette's labels 5, 4, 2, 3, 6
    ((139, 0, 0), "dark red"), ((128, 0, 0), "dark red"),  # dark reds are not brown
    ((128, 128, 0), "olive"),  # a dark yellow is not brown either
    ((160, 82, 45), "brown"), ((139, 69, 19), "brown"), ((140, 86, 75), "brown"),  # sienna, saddle brown, tab:brown
    ((210, 180, 140), "light brown"), ((170, 132, 106), "light brown"),  # tan; the cat's light fur, not orange
    ((255, 218, 185), "light orange"), ((210, 105, 30), "orange"),  # peach, chocolate
    ((48, 11, 5), "dark brown"), ((13, 10, 9), "black"),  # the coffee; the astronaut's black
])
def test_colour_name_says_what_a_person_calls_the_colour(rgb, name):
    assert colour_name(rgb) == name


def test_name_labels_from_mean_colour_and_place():
    labels = torch.zeros(30, 30, dtype=torch.long)
    labels[:10] = 1  # top band
    labels[20:, 20:] = 2  # bottom right corner
    prim = Primitive(labels=labels, n_labels=4)
    image = np.full((30, 30, 3), 128, np.uint8)
    image[:10] = (40, 60, 200)
    image[20:, 20:] = (220, 30, 30)
    names = name_labels(prim, image)
    assert names == ["centre, grey in the photo", "top, blue in the photo", "bottom right, red in the photo", "unused"]
    twin = Primitive(labels=torch.tensor([[0] * 3 + [1] * 3] * 6), n_labels=2)  # two grey labels, left and right
    assert name_labels(twin, np.full((6, 6, 3), 128, np.uint8)) == ["left, grey in the photo",
                                                                    "right, grey in the photo"]
    same = Primitive(labels=torch.tensor([[0, 0, 1, 1, 0, 0]] * 6), n_labels=2)  # both centred, both grey
    assert name_labels(same, np.full((6, 6, 3), 128, np.uint8)) == ["centre, grey in the photo",
                                                                    "centre, grey in the photo (2)"]
    with pytest.raises(ValueError, match=r"expected a \(30, 30, 3\) uint8 image"):
        name_labels(prim, image[:20])


def test_label_names_are_distinct_for_every_shipped_sample(lesson_samples):
    """Each label of a lesson-size sample gets its own name, told apart by place and look, not by a number."""
    for name, pair in lesson_samples.items():
        image = ((pair.image.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        names = name_labels(pair.primitive, image)
        assert len(set(names)) == len(names), (name, names)
        assert not any(n.endswith(")") for n in names), (name, names)
