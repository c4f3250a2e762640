import numpy as np
import pytest
import torch

import deepsim_lite as ds
from deepsim_lite import edits, knn
from deepsim_lite import failure_modes as fm


def _scene():
    """A 'fur' image with a red 'nose' square on it; label 1 = nose, 0 = fur; grey background at right."""
    img = torch.zeros(3, 32, 48)
    img[0], img[1], img[2] = 0.2, 0.0, -0.4  # fur
    img[:, :, 36:] = 0.5  # background
    img[:, 10:16, 10:16] = torch.tensor([0.9, -0.8, -0.8])[:, None, None]  # nose
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
            fur = self.image[:, 0, 0][:, None]
            out[:, (prim.labels != 1) & (prim.labels != 2)] = fur
            out[:, prim.labels == 1] = torch.tensor([0.9, -0.8, -0.8])[:, None]
        return out


def test_ring_and_vacated():
    m = torch.zeros(10, 10, dtype=torch.bool)
    m[4:6, 4:6] = True
    assert int(fm.ring(m, 1).sum()) == 16 - 4
    assert int(fm.vacated(m, 1, 0).sum()) == 2


def test_drift_is_zero_for_a_perfect_generator_and_one_when_the_object_stays():
    img, prim = _scene()
    mask = prim.labels == 1
    shifts = [(0, 0), (3, 0), (6, 0)]
    for stuck, expected in ((False, 0.0), (True, 1.0)):
        _, outs = fm.shift_series(Painter(img, stuck), prim, mask, shifts)
        rows = fm.empty_space_drift(outs, img, mask, shifts, background=prim.labels == 2)
        assert rows[0]["vacated_px"] == 0 and "drift" not in rows[0]
        assert [r["vacated_px"] for r in rows[1:]] == [18, 36]
        for r in rows[1:]:
            assert r["drift"] == pytest.approx(expected, abs=0.02)
            assert 0 <= r["drift_background"] <= 1
            assert r["de_background"] > 5


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
    assert dup["duplication"] > 0.9 and clean["duplication"] < 0.1


class TestRawPatchNN:
    def test_zero_distance_for_the_training_primitive(self):
        _, prim = _scene()
        x = ds.encode(prim)
        d = knn.patch_nn_distance_map(x, x, patch=5, bank_stride=1)
        assert d.shape == (32, 48) and float(d.max()) == 0.0

    def test_unseen_content_is_far(self):
        _, prim = _scene()
        new = edits.paint_disc(prim, 25, 30, 3, 2)  # a background-label disc in the fur: never seen
        d = knn.patch_nn_distance_map(ds.encode(new), ds.encode(prim), patch=5, bank_stride=1)
        # the disc rim has horizontal fur/background borders the training primitive never had
        assert d[22, 30] > 1 and d[2, 2] == 0 and d[5:9, 40:44].max() == 0

    def test_matches_brute_force(self):
        g = torch.Generator().manual_seed(0)
        q, b = torch.randn(50, 8, generator=g), torch.randn(70, 8, generator=g)
        brute = torch.tensor([min(float(torch.norm(qi - bj)) for bj in b) for qi in q])
        assert torch.allclose(knn.nn_distance(q, b, chunk=16), brute, atol=1e-4)

    def test_errors(self):
        with pytest.raises(ValueError, match="3 channels but the bank has 4"):
            knn.patch_nn_distance_map(torch.zeros(3, 8, 8), torch.zeros(4, 8, 8))
        with pytest.raises(ValueError, match="positive odd"):
            knn.raw_patches(torch.zeros(3, 8, 8), 4)
        with pytest.raises(ValueError, match="bank is empty"):
            knn.nn_distance(torch.zeros(2, 3), torch.zeros(0, 3))
        assert np.isfinite(knn.nn_distance(torch.zeros(2, 3), torch.ones(1, 3)).numpy()).all()
