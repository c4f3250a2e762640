"""Statistics for dependent scores (analysis/stats.py), each checked against an independent computation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from deepsim_lite.analysis.stats import correlation


def _smooth_field(rng: np.random.Generator, shape=(18, 22), blur: int = 7) -> torch.Tensor:
    """Noise smoothed over ``blur`` positions: neighbours alike, as on a feature grid."""
    x = torch.from_numpy(rng.normal(size=(1, 1, shape[0] + blur - 1, shape[1] + blur - 1)))
    return F.avg_pool2d(x, blur, stride=1)[0, 0]


def test_point_estimates_agree_with_scipy_including_ties():
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.normal(size=(9, 11)))
    b = a + torch.from_numpy(rng.normal(size=(9, 11)))
    b[b > 1] = 1.0  # ties
    r = correlation(a, b)
    assert r["pearson"] == pytest.approx(stats.pearsonr(a.flatten(), b.flatten())[0], abs=1e-12)
    assert r["spearman"] == pytest.approx(stats.spearmanr(a.flatten(), b.flatten())[0], abs=1e-12)


def test_partial_spearman_removes_a_common_driver():
    """Distance and error both grow with the features' norm, and with nothing else: Spearman says they are
    related, the partial correlation (the textbook formula on scipy's Spearman coefficients) says not."""
    rng = np.random.default_rng(1)
    norm = torch.from_numpy(rng.gamma(2.0, size=(18, 22)))
    dist = norm + 0.3 * torch.from_numpy(rng.normal(size=(18, 22)))
    err = norm + 0.3 * torch.from_numpy(rng.normal(size=(18, 22)))
    r = correlation(dist, err, control=norm)
    xy, xz, yz = (stats.spearmanr(u.flatten(), v.flatten())[0] for u, v in ((dist, err), (dist, norm), (err, norm)))
    assert r["partial_spearman"] == pytest.approx((xy - xz * yz) / np.sqrt((1 - xz**2) * (1 - yz**2)), abs=1e-12)
    assert r["spearman"] > 0.7 and abs(r["partial_spearman"]) < 0.15


def test_the_block_interval_covers_zero_on_unrelated_smooth_maps_where_an_iid_one_does_not():
    rng = np.random.default_rng(2)
    cover_block = cover_iid = 0
    for trial in range(60):
        a, b = _smooth_field(rng), _smooth_field(rng)  # independent: the true correlation is 0
        r = correlation(a, b, n_boot=300, seed=trial)
        assert r["spearman_ci"][0] < r["spearman_ci"][1]
        x, y = stats.rankdata(a.flatten()), stats.rankdata(b.flatten())
        idx = rng.integers(0, len(x), size=(300, len(x)))  # the iid bootstrap a position-by-position reading implies
        boot = [np.corrcoef(stats.rankdata(x[i]), stats.rankdata(y[i]))[0, 1] for i in idx]
        cover_block += r["spearman_ci"][0] <= 0 <= r["spearman_ci"][1]
        cover_iid += np.quantile(boot, 0.025) <= 0 <= np.quantile(boot, 0.975)
    assert cover_iid < 0.5 * 60 and cover_block > cover_iid + 15


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"maps differ in shape: \(2, 3\) vs \(2, 3\) vs \(3, 2\)"):
        correlation(torch.zeros(2, 3), torch.zeros(2, 3), control=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="at least 3 values"):
        correlation(torch.zeros(2), torch.zeros(2))
