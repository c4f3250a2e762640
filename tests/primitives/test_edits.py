import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import deepsim_lite as ds
from deepsim_lite import edits
from deepsim_lite.primitives.primitive import Primitive


def _prim():
    labels = torch.zeros(20, 30, dtype=torch.long)
    labels[5:10, 5:10] = 2  # an object
    labels[:, 20:] = 1
    edges = torch.zeros(20, 30, dtype=torch.bool)
    edges[5, 5:10] = True
    return ds.Primitive(labels, edges, 3)


def test_move_keeps_area_and_label_set():
    p = _prim()
    q = edits.move_region(p, (5, 5, 10, 10), 6, 2)
    assert (q.labels == 2).sum() == (p.labels == 2).sum() == 25
    assert torch.equal(q.labels[11:16, 7:12], torch.full((5, 5), 2))
    assert set(q.labels.unique().tolist()) <= set(p.labels.unique().tolist())
    assert q.edges[11, 7:12].all() and not q.edges[5, 5:7].any()  # edge moved with it
    assert torch.equal(p.labels[5:10, 5:10], torch.full((5, 5), 2))  # input untouched
    assert q.n_labels == p.n_labels and q.kind == p.kind


def test_vacated_area_takes_the_surrounding_label():
    q = edits.move_region(_prim(), (5, 5, 10, 10), 0, 12)
    assert torch.all(q.labels[5:10, 5:10] == 0)


def test_fill_none_keeps_labels_but_drops_edges():
    q = edits.move_region(_prim(), (5, 5, 10, 10), 8, 0, fill="none")
    assert torch.all(q.labels[5:10, 5:10] == 2) and not q.edges[5].any()


def test_copy_keeps_the_source():
    q = edits.move_region(_prim(), (5, 5, 10, 10), 8, 0, copy=True)
    assert (q.labels == 2).sum() == 50 and q.edges[5, 5:10].all()


def test_out_of_bounds_move_is_clipped_with_a_message():
    with pytest.warns(edits.EditClippedWarning, match="clipped"):
        q = edits.move_region(_prim(), (5, 5, 10, 10), 12, 0)
    assert (q.labels[17:20, 5:10] == 2).all() and (q.labels == 2).sum() == 15


def test_errors():
    with pytest.raises(ValueError, match="not inside the 20x30 primitive"):
        edits.move_region(_prim(), (5, 5, 25, 10), 1, 1)
    with pytest.raises(ValueError, match="entirely outside"):
        edits.move_region(_prim(), (5, 5, 10, 10), 40, 0)
    with pytest.raises(ValueError, match="unknown fill"):
        edits.move_region(_prim(), (5, 5, 10, 10), 1, 1, fill="zero")


def test_move_component_moves_only_the_connected_object():
    p = _prim()
    q = edits.move_component(p, 7, 7, 0, 8, fill="background", background=0)
    assert torch.all(q.labels[5:10, 13:18] == 2) and torch.all(q.labels[5:10, 5:13] == 0)
    assert torch.equal(q.labels[:, 20:], p.labels[:, 20:])  # the other region is untouched


def test_component_of_an_edge_curve():
    p = _prim().replace(labels=None, n_labels=0)
    m = edits.component_mask(p, 5, 6)
    assert int(m.sum()) == 5
    with pytest.raises(ValueError, match="no edge at"):
        edits.component_mask(p, 0, 0)


def test_background_fill_defaults_to_the_label_around_the_frame():
    # k-means numbers labels by area, so label 0 is the largest region: here the middle, not the background
    labels = torch.zeros(20, 30, dtype=torch.long)
    labels[:2], labels[-2:], labels[:, :2], labels[:, -2:] = 1, 1, 1, 1  # a frame of label 1 around it
    labels[8:12, 12:18] = 2  # an object
    p = ds.Primitive(labels, None, 3)
    assert int((labels == 0).sum()) > int((labels == 1).sum())
    assert edits.border_label(p) == 1
    q = edits.remove_mask(p, labels == 2, fill="background")
    assert bool((q.labels[8:12, 12:18] == 1).all())
    moved = edits.move_region(p, (8, 12, 12, 18), 0, 4, fill="background")
    assert bool((moved.labels[8:12, 12:16] == 1).all())  # the vacated strip
    with pytest.raises(ValueError, match="no labels"):
        edits.border_label(p.replace(labels=None, edges=torch.zeros(20, 30, dtype=torch.bool), n_labels=0))


def test_background_fill_needs_a_known_label():
    with pytest.raises(ValueError, match="background label 7 is not one of the model's labels 0..2"):
        edits.move_region(_prim(), (5, 5, 10, 10), 1, 1, fill="background", background=7)


@pytest.mark.parametrize("factor", [0.5, 1.6])
def test_scale_region_changes_the_area_and_keeps_labels(factor):
    p = _prim()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", edits.EditClippedWarning)
        q = edits.scale_region(p, (4, 4, 11, 11), factor)
    area = int((q.labels == 2).sum())
    assert (area < 25) if factor < 1 else (area > 25)
    assert set(q.labels.unique().tolist()) <= {0, 1, 2} and q.edges.dtype == torch.bool


def test_paint_disc_and_stroke():
    p = _prim()
    q = edits.paint_disc(p, 15, 10, 2, 1)
    assert int((q.labels == 1).sum() - (p.labels == 1).sum()) == 13  # a radius-2 disc has 13 pixels
    s = edits.paint_stroke(p, [(15, 2), (15, 12)], 0, 2)
    assert torch.all(s.labels[15, 2:13] == 2)
    with pytest.raises(ValueError, match="label 3 is not one of the model's labels 0..2"):
        edits.paint_disc(p, 15, 10, 2, 3)
    with pytest.raises(ValueError, match="outside the 20x30 primitive"):
        edits.paint_disc(p, 25, 10, 2, 1)


def test_draw_and_erase_edges():
    p = _prim()
    q = edits.draw_edges(p, [(15, 0), (15, 29)])
    assert torch.all(q.edges[15]) and q.edges.sum() == p.edges.sum() + 30
    r = edits.erase_edges(q, (14, 0, 16, 10))
    assert not r.edges[15, :10].any() and r.edges[15, 10:].all()
    assert torch.equal(r.labels, p.labels)
    with pytest.raises(ValueError, match="no edge map"):
        edits.erase_edges(p.replace(edges=None), (0, 0, 2, 2))


def test_polygon_mask_is_the_lasso_inside():
    tri = edits.polygon_mask([(2, 2), (2, 17), (17, 2)], (20, 30))
    assert tri[2, 2] and tri[2, 17] and tri[17, 2] and tri[6, 6]  # vertices and interior
    assert not tri[15, 15] and not tri[:, 18:].any()
    assert 105 <= int(tri.sum()) <= 140  # right triangle of legs 15: area 112.5, plus its outline
    line = edits.polygon_mask([(5, 3), (5, 12)], (20, 30))  # no area: the outline is selected
    assert int(line.sum()) == 10 and line[5, 3:13].all()
    with pytest.raises(ValueError, match="at least one"):
        edits.polygon_mask([], (20, 30))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 19), st.floats(0, 29)), min_size=1, max_size=5), st.integers(0, 4))
def test_stroke_mask_covers_the_brush_discs_and_nothing_far(points, radius):
    m = edits.stroke_mask(points, radius, (20, 30))
    yy, xx = torch.meshgrid(torch.arange(20.0), torch.arange(30.0), indexing="ij")
    for y, x in points:
        y, x = round(y), round(x)
        assert bool(m[((yy - y) ** 2 + (xx - x) ** 2) <= radius ** 2].all())  # each dab is painted
    # nothing farther than radius + 1 from the polyline through the (rounded) points
    pts = torch.tensor([(round(y), round(x)) for y, x in points], dtype=torch.float32)
    grid = torch.stack([yy, xx], -1).reshape(-1, 2)
    if len(pts) == 1:
        dist = (grid - pts[0]).norm(dim=1)
    else:
        a, b = pts[:-1], pts[1:]
        ab = b - a
        t = (((grid[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-9)).clamp(0, 1)
        dist = (grid[:, None] - (a + t[..., None] * ab)).norm(dim=-1).min(1).values
    assert bool((dist[m.flatten()] <= radius + 1).all())


@settings(max_examples=40, deadline=None)
@given(st.integers(-25, 25), st.integers(-35, 35))
def test_shift_map_round_trip_keeps_what_stayed_in_frame(dy, dx):
    m = _prim().labels
    back = edits.shift_map(edits.shift_map(m, dy, dx), -dy, dx * -1)
    keep = edits.shift_map(edits.shift_map(torch.ones_like(m, dtype=torch.bool), dy, dx), -dy, -dx)
    assert torch.equal(back[keep], m[keep]) and bool((back[~keep] == 0).all())


def test_remove_mask_removes_the_object_and_its_edges():
    p = _prim()
    obj = edits.component_mask(p, 7, 7)
    q = edits.remove_mask(p, obj)
    assert not (q.labels == 2).any() and not q.edges[obj].any()
    assert torch.all(q.labels[5:10, 5:10] == 0)  # the surrounding region grew over it
    assert torch.equal(q.labels[~obj], p.labels[~obj])
    r = edits.remove_mask(p, obj, fill="background", background=1)
    assert torch.all(r.labels[obj] == 1)
    with pytest.raises(ValueError, match="mask must be an"):
        edits.remove_mask(p, obj[:5])


def test_brush_radius_is_bounded_by_the_primitive():
    p = Primitive(torch.zeros(20, 30, dtype=torch.long), None, 2)
    assert bool(edits.paint_disc(p, 0, 0, 37, 1).labels.eq(1).all())  # the diagonal (36.06, rounded up): allowed
    with pytest.raises(ValueError, match="brush radius 5000 is larger than the 20x30 primitive's diagonal; use at "
                                         "most 37"):
        edits.paint_disc(p, 10, 15, 5000, 1)
