import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deepsim_lite import knn, patches

# ----------------------------------------------------------------------------------------------
# The raw-patch featuriser and the 1-NN search it shares with knn_distance_map


def test_raw_patches_tiled_rows_are_the_tiles():
    x = torch.arange(2 * 3 * 9 * 11, dtype=torch.float32).reshape(2, 3, 9, 11)  # every pixel value distinct
    rows = patches.raw_patches(x, 4, 3, centred=False)
    h, w = (9 - 4) // 3 + 1, (11 - 4) // 3 + 1  # 2 x 3 windows per picture
    assert rows.shape == (2 * h * w, 3 * 4 * 4) and rows.dtype == torch.float32
    for n in range(2):
        for i in range(h):
            for j in range(w):
                tile = x[n, :, 3 * i:3 * i + 4, 3 * j:3 * j + 4]
                assert torch.equal(rows[(n * h + i) * w + j], tile.reshape(-1)), (n, i, j)


def test_raw_patches_centred_row_is_the_window_around_its_pixel():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 7, generator=g)
    padded = np.pad(x.numpy(), ((0, 0), (2, 2), (2, 2)), mode="reflect")  # numpy's reflect: no edge repeat
    rows = patches.raw_patches(x, 5)
    assert rows.shape == (6 * 7, 2 * 25)
    for y in range(6):
        for xx in range(7):
            want = padded[:, y:y + 5, xx:xx + 5].reshape(-1)  # centred on (y, xx)
            np.testing.assert_array_equal(rows[y * 7 + xx].numpy(), want, err_msg=f"pixel {(y, xx)}")
    strided = patches.raw_patches(x, 5, stride=2)  # windows centred on (2i, 2j): ceil(6/2) x ceil(7/2)
    assert strided.shape == (3 * 4, 50)
    assert torch.equal(strided, rows.reshape(6, 7, 50)[::2, ::2].reshape(-1, 50))


def test_raw_features_are_the_tiles_and_keep_the_old_layout():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 40, 53, generator=g) * 2 - 1  # borders of 8 and 5 pixels are dropped
    f = knn.PatchFeatures("raw", device="cpu")(x)
    assert f.shape == (2, 768, 2, 3) == (2, knn.PatchFeatures("raw").dim, *knn.PatchFeatures("raw").grid(40, 53))
    assert torch.equal(f[1, :, 1, 2], x[1, :, 16:32, 32:48].reshape(-1))
    old = F.unfold(x, 16, stride=16).reshape(2, 768, 2, 3)  # the featuriser before raw_patches replaced it
    assert torch.equal(f, old)


def test_raw_patches_errors():
    with pytest.raises(ValueError, match="positive odd"):
        patches.raw_patches(torch.zeros(3, 8, 8), 4)
    with pytest.raises(ValueError, match="larger than 4x4"):
        patches.raw_patches(torch.zeros(3, 4, 8), 9)  # reflection padding of 4 needs more than 4 rows
    with pytest.raises(ValueError, match=r"patch <= min\(H, W\) = 8"):
        patches.raw_patches(torch.zeros(3, 8, 20), 9, 9, centred=False)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        patches.raw_patches(torch.zeros(3, 8, 8), 3, 0)
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(N, C, H, W\)"):
        patches.raw_patches(torch.zeros(8, 8), 3)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(lambda d: st.tuples(
    hnp.arrays(np.float32, st.tuples(st.integers(1, 25), st.just(d)), elements=st.floats(-8, 8, width=32)),
    hnp.arrays(np.float32, st.tuples(st.integers(1, 30), st.just(d)), elements=st.floats(-8, 8, width=32)),
    st.integers(1, 30))))
def test_nn_distance_is_brute_force(arrays):
    q, b, chunk = arrays
    diff = q[:, None, :].astype(np.float64) - b[None, :, :].astype(np.float64)
    brute = np.sqrt((diff**2).sum(-1).min(1))  # (Q,)
    d = patches.nn_distance(torch.from_numpy(q), torch.from_numpy(b), chunk=chunk)
    assert d.shape == (len(q),) and d.dtype == torch.float32
    scale = 1.0 + float((q.astype(np.float64) ** 2).sum(1).max() + (b.astype(np.float64) ** 2).sum(1).max())
    np.testing.assert_allclose(d.numpy().astype(np.float64) ** 2, brute**2, rtol=1e-5, atol=1e-5 * scale)


def test_nn_distance_agrees_with_knn_distance_map_and_the_removed_cdist_path():
    g = torch.Generator().manual_seed(0)
    bank = torch.randn(500, 75, generator=g)
    q = torch.cat([torch.randn(290, 75, generator=g), bank[100:110]])  # the last 10 rows are bank rows
    d = patches.nn_distance(q, bank)
    assert torch.allclose(d, patches.nn_distance(q, bank, chunk=7), atol=1e-5)  # chunking does not change it
    cdist = torch.cat([torch.cdist(c, bank).min(1).values for c in q.split(4096)]).clamp_min(0)  # the old path
    assert torch.allclose(d[:-10], cdist[:-10], rtol=1e-5, atol=1e-4) and float(d[:-10].min()) > 1.0
    # bank members: cdist's ‖a‖² + ‖b‖² − 2ab left up to 4e-3 (sqrt of float32 rounding at ‖a‖² ≈ 75); faiss ~0
    assert torch.all(d[-10:] <= 1e-3) and torch.all(cdist[-10:] <= 1e-2)
    feats = q[:288].T.reshape(1, 75, 16, 18)  # position (i, j) holds query 18 i + j
    d_map = knn.knn_distance_map(feats, knn.Bank(bank, 1, (20, 25), "t"))
    assert torch.allclose(d_map, d[:288].reshape(16, 18), atol=1e-5)


def test_patch_nn_distance_map_equals_the_old_torch_path():
    g = torch.Generator().manual_seed(0)
    bank = (torch.rand(2, 3, 12, 14, generator=g) > 0.5).float()  # 0/1 like an encoded primitive
    query = bank[0].clone()
    query[:, 3:7, 4:9] = 1 - query[:, 3:7, 4:9]  # unseen content in the middle

    def old(query, bank, patch, stride):  # reflection-padded unfold + cdist, as before the faiss merge
        def rows(x, s):
            r = patch // 2
            cols = F.unfold(F.pad(x, (r, r, r, r), mode="reflect"), patch, stride=s)
            return cols.transpose(1, 2).reshape(-1, cols.shape[1])
        return torch.cdist(rows(query[None], 1), rows(bank, stride)).min(1).values.reshape(query.shape[1:])

    for patch, stride in ((3, 1), (5, 2), (7, 1)):
        d = patches.patch_nn_distance_map(query, bank, patch=patch, bank_stride=stride)
        assert d.shape == (12, 14)
        assert torch.allclose(d, old(query, bank, patch, stride), atol=1e-4), (patch, stride)
    d = patches.patch_nn_distance_map(query, bank, patch=3, bank_stride=1)
    assert float(d[0, 0]) == 0.0 and float(d[5, 6]) > 1.0  # untouched corner vs inside the flipped block
    assert float(patches.patch_nn_distance_map(bank[1], bank, patch=5, bank_stride=1).max()) == 0.0


def test_nn_distance_errors():
    with pytest.raises(ValueError, match="bank is empty"):
        patches.nn_distance(torch.zeros(2, 3), torch.zeros(0, 3))
    with pytest.raises(ValueError, match="must share D"):
        patches.nn_distance(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        patches.nn_distance(torch.zeros(2, 3), torch.zeros(4, 3), chunk=0)
    with pytest.raises(ValueError, match="3 channels but the bank has 4"):
        patches.patch_nn_distance_map(torch.zeros(3, 8, 8), torch.zeros(4, 8, 8))
    assert patches.nn_distance(torch.zeros(0, 3), torch.ones(1, 3)).shape == (0,)


