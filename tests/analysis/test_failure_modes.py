import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

import deepsim_lite as ds
from deepsim_lite import edits, patches
from deepsim_lite import failure_modes as fm
from deepsim_lite._image import to_uint8

FUR, NOSE, BACKGROUND = torch.tensor([0.2, 0.0, -0.4]), torch.tensor([0.9, -0.8, -0.8]), torch.tensor([0.5, 0.5, 0.5])


def _scene():
    """A 'fur' image with a red 'nose' square on it; label 1 = nose, 0 = fur; grey background at right."""
    img = FUR[:, None, None].repeat(1, 32, 48)
    img[:, :, 36:] = BACKGROUND[:, None, None]  # columns 36..47
    img[:, 10:16, 10:16] = NOSE[:, None, None]  # rows and columns 10..15
    labels = torch.zeros(32, 48, dtype=torch.long)
    labels[:, 36:] = 2
    labels[10:16, 10:16] = 1
    return img, ds.Primitive(labels, None, 3)


class Painter:
    """A 'generator' that paints the nose colour where label 1 is and the fur everywhere else, except a
    'stuck' variant that leaves the nose where it was trained (empty-space interpolation at its worst)."""

    def __init__(self, image, stuck=False):
        self.image, self.stuck = image, stuck

    def generate(self, prim):
        out = self.image.clone()
        if not self.stuck:
            out[:, (prim.labels != 1) & (prim.labels != 2)] = FUR[:, None]
            out[:, prim.labels == 1] = NOSE[:, None]
        return out


def test_ring_and_vacated():
    m = torch.zeros(10, 10, dtype=torch.bool)
    m[4:6, 4:6] = True
    assert int(fm.ring(m, 1).sum()) == 16 - 4
    assert int(fm.vacated(m, 1, 0).sum()) == 2


def _reference_delta_e(a: torch.Tensor, b: torch.Tensor) -> float:
    """CIE76 ΔE of two colours in [-1, 1], through scikit-image's Lab (not the cv2 path under test)."""
    lab = rgb2lab(np.stack([to_uint8(c[:, None, None]) for c in (a, b)])[:, 0])[:, 0]
    return float(np.linalg.norm(lab[0] - lab[1]))


def _moved(img, mask, dy, dx, hole):
    """``img`` with the nose under ``mask`` moved by ``(dy, dx)`` and the pixels it left painted ``hole`` (3, K)."""
    out = img.clone()
    new = edits.shift_map(mask, dy, dx)
    out[:, new] = NOSE[:, None]
    out[:, mask & ~new] = hole
    return out


def _mix(n, k, a, b):
    """``(3, n)`` colours: ``k`` of colour ``a``, then ``n - k`` of ``b``."""
    return torch.cat([a[:, None].expand(3, k), b[:, None].expand(3, n - k)], 1)


def test_drift_is_zero_for_a_perfect_generator_and_one_when_the_object_stays():
    img, prim = _scene()
    mask = prim.labels == 1
    shifts = [(0, 0), (3, 0), (6, 0)]
    for stuck, colour, expected in ((False, FUR, 0.0), (True, NOSE, 1.0)):
        _, outs = fm.shift_series(Painter(img, stuck), prim, mask, shifts)
        rows = fm.empty_space_drift(outs, img, mask, shifts, background=prim.labels == 2)
        assert rows[0]["vacated_px"] == 0 and "drift" not in rows[0]
        assert [r["vacated_px"] for r in rows[1:]] == [18, 36]
        for r in rows[1:]:
            assert r["drift"] == pytest.approx(expected, abs=1e-4)
            de_surround, de_object = _reference_delta_e(colour, FUR), _reference_delta_e(colour, NOSE)
            de_background = _reference_delta_e(colour, BACKGROUND)
            assert r["de_surround"] == pytest.approx(de_surround, abs=0.5)
            assert r["de_object"] == pytest.approx(de_object, abs=0.5)
            assert r["de_background"] == pytest.approx(de_background, abs=0.5)
            assert r["drift_background"] == pytest.approx(de_surround / (de_surround + de_background), abs=0.01)


@pytest.mark.parametrize("shift", [(3, 0), (0, -6)])  # 18 vacated pixels (half the nose), 36 (all of it)
@pytest.mark.parametrize("share", [0, 1 / 3, 1 / 2, 1])
def test_drift_is_the_share_of_the_hole_painted_like_the_object(shift, share):
    # Surround and object are uniform, so the hole's mean Lab colour is (1 - s)·fur + s·nose: ΔE to the surround
    # is s·D and to the object (1 - s)·D, hence drift = s; likewise drift_background with background paint.
    img, prim = _scene()
    mask = prim.labels == 1
    n = int(fm.vacated(mask, *shift).sum())
    k = round(share * n)
    assert k == share * n
    for paint, key in ((NOSE, "drift"), (BACKGROUND, "drift_background")):
        out = _moved(img, mask, *shift, _mix(n, k, paint, FUR))
        [row] = fm.empty_space_drift([out], img, mask, [shift], background=prim.labels == 2)
        assert row["vacated_px"] == n
        assert row[key] == pytest.approx(share, abs=1e-4)
        if share == 0:
            assert row["de_surround"] == pytest.approx(0, abs=1e-3)


def test_delta_e_of_known_colours():
    assert fm.delta_e([50, 0, 0], [53, 4, 0]) == pytest.approx(5.0)
    white = torch.ones(3, 4, 4)
    lab = fm.mean_lab(white, torch.ones(4, 4, dtype=torch.bool))
    assert lab[0] == pytest.approx(100, abs=0.5) and abs(lab[1]) < 0.5


def test_duplication_score():
    img, prim = _scene()
    mask = torch.zeros(32, 48, dtype=torch.bool)
    mask[8:18, 8:18] = True  # nose plus a fur margin, moved onto the background
    dy, dx = 0, 30
    copied = img.clone()
    src = torch.stack([edits.shift_map(c, dy, dx) for c in img])
    grown = fm.ring(edits.shift_map(mask, dy, dx), 4) | edits.shift_map(mask, dy, dx)
    copied[:, grown] = src[:, grown]  # the old surround dragged along
    dup = fm.duplication_score(copied, img, mask, dy, dx)
    clean = fm.duplication_score(img, img, mask, dy, dx)
    assert dup["duplication"] == 1 and dup["l1_to_old_surround"] == 0
    assert clean["duplication"] == 0 and clean["l1_to_local_background"] == 0


@pytest.mark.parametrize("t", [0, 0.25, 0.5, 1])
def test_duplication_of_a_blend_of_old_surround_and_local_background(t):
    img, _ = _scene()
    mask = torch.zeros(32, 48, dtype=torch.bool)
    mask[8:18, 8:18] = True  # moved by 30 columns to 8:18 x 38:48
    dy, dx = 0, 30
    old_surround = torch.stack([edits.shift_map(c, dy, dx) for c in img])
    out = (1 - t) * img + t * old_surround
    # The new ring (width 4) is rows 4..21 x columns 34..47 less the moved mask: 18·14 - 100 = 152 pixels. The old
    # surround carried there is all fur; the image there is fur in columns 34, 35 (36 px) and background elsewhere.
    # Per pixel |out - img| = t·|fur - bg| and |out - old| = (1 - t)·|fur - bg|, with channel mean 1.7 / 3.
    d = (152 - 36) / 152 * (0.3 + 0.5 + 0.9) / 3  # |fur - bg| = (0.3, 0.5, 0.9)
    r = fm.duplication_score(out, img, mask, dy, dx)
    assert r["l1_to_local_background"] == pytest.approx(t * d, abs=1e-6)
    assert r["l1_to_old_surround"] == pytest.approx((1 - t) * d, abs=1e-6)
    assert r["duplication"] == pytest.approx(t, abs=1e-6)


def test_duplication_needs_a_move_that_leaves_the_old_surround():
    img, prim = _scene()
    with pytest.raises(ValueError, match="the move is too small"):
        fm.duplication_score(img, img, prim.labels == 1, 0, 0)


class TestRawPatchNN:
    """The 'unseen objects' measure: raw primitive patches far from every training patch."""

    def test_zero_distance_for_the_training_primitive(self):
        _, prim = _scene()
        x = ds.encode(prim)
        d = patches.patch_nn_distance_map(x, x, patch=5, bank_stride=1)
        assert d.shape == (32, 48) and float(d.max()) == 0.0

    def test_unseen_content_is_far(self):
        _, prim = _scene()
        new = edits.paint_disc(prim, 25, 30, 3, 2)  # a background-label disc in the fur: never seen
        d = patches.patch_nn_distance_map(ds.encode(new), ds.encode(prim), patch=5, bank_stride=1)
        # the disc rim has horizontal fur/background borders the training primitive never had
        assert d[22, 30] > 1 and d[2, 2] == 0 and d[5:9, 40:44].max() == 0

    def test_matches_brute_force(self):
        g = torch.Generator().manual_seed(0)
        q, b = torch.randn(50, 8, generator=g), torch.randn(70, 8, generator=g)
        brute = torch.tensor([min(float(torch.norm(qi - bj)) for bj in b) for qi in q])
        assert torch.allclose(patches.nn_distance(q, b, chunk=16), brute, atol=1e-4)

    def test_errors(self):
        with pytest.raises(ValueError, match="3 channels but the bank has 4"):
            patches.patch_nn_distance_map(torch.zeros(3, 8, 8), torch.zeros(4, 8, 8))
        with pytest.raises(ValueError, match="positive odd"):
            patches.raw_patches(torch.zeros(3, 8, 8), 4)
        with pytest.raises(ValueError, match="bank is empty"):
            patches.nn_distance(torch.zeros(2, 3), torch.zeros(0, 3))
        assert np.isfinite(patches.nn_distance(torch.zeros(2, 3), torch.ones(1, 3)).numpy()).all()


class EdgeGuided:
    """A 'generator' that paints fur where the primitive has edges nearby and background where a 5x5
    window has none: the empty-region failure in its purest form."""

    def generate(self, prim):
        near = torch.nn.functional.max_pool2d(prim.edges[None, None].float(), 5, 1, 2)[0, 0] > 0
        out = BACKGROUND[:, None, None].repeat(1, *prim.size)
        out[:, near] = FUR[:, None]
        return out


def test_empty_squares_erase_edges_and_drift_grows_to_background():
    edges = torch.zeros(32, 48, dtype=torch.bool)
    edges[::2, :36] = True  # a dense texture of edges over the fur
    prim = ds.Primitive(None, edges, 0)
    fur = FUR[:, None, None].repeat(1, 32, 48)  # the training image: fur, background at the right
    fur[:, :, 36:] = BACKGROUND[:, None, None]
    background = torch.zeros(32, 48, dtype=torch.bool)
    background[:, 36:] = True
    masks, prims, outs = fm.empty_squares(EdgeGuided(), prim, (16, 18), [4, 12, 24])
    assert [int(m.sum()) for m in masks] == [16, 144, 576]
    for p, m in zip(prims, masks, strict=True):  # edges erased inside the square, untouched outside
        assert not bool((p.edges & m).any()) and bool(p.edges[~m].eq(edges[~m]).all())
    rows = fm.empty_region_drift(outs, fur, masks, background)
    drifts = [r["drift_background"] for r in rows]
    # the share of the square painted as background (0, 1/2, 73%): small gaps filled like fur, large ones not
    assert drifts == pytest.approx([0, 0.5, 0.729], abs=0.01)
    assert rows[0]["de_truth"] < 1e-3 and rows[2]["pixels"] == 576
    with pytest.raises(ValueError, match="erases edges"):
        fm.empty_squares(EdgeGuided(), ds.Primitive(torch.zeros(32, 48, dtype=torch.long), None, 1), (16, 18), [4])
