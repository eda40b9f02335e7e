"""Golden SpMV model: arithmetic against an independent float-free reference, errors."""

import numpy as np
import pytest

from hw.config import SpMVConfig
from sw.csc import encode
from sw.golden.spmv import SpMVInputError, golden_spmv, ideal_cycles, nonzero_macs, pe_work


def reference(codes, book, bias, x, config, relu):
    """Row by row with Python integers: the contract, written the slow obvious way."""
    full_book = [0, *book]
    lo, hi = config.act_range
    out = []
    for i in range(codes.shape[0]):
        acc = sum(full_book[int(codes[i, j])] * int(x[j]) for j in range(codes.shape[1]))
        y = (acc >> config.codebook_frac) + int(bias[i])  # Python >> floors negatives
        y = max(y, 0) if relu else y
        out.append(min(hi, max(lo, y)))
    return out


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("relu", [False, True])
def test_matches_slow_reference(seed, relu):
    rng = np.random.default_rng(seed)
    config = SpMVConfig(pes=int(rng.integers(1, 9)), act_width=8, act_frac=4,
                        codebook_width=6, codebook_frac=3, bias_width=8, max_rows=40)
    rows, cols = rng.integers(1, 40, size=2)
    codes = np.where(rng.random((rows, cols)) < 0.4, rng.integers(1, 16, (rows, cols)), 0)
    book = rng.integers(-32, 32, 15)
    bias = rng.integers(-128, 128, rows)
    x = np.where(rng.random(cols) < 0.5, rng.integers(-128, 128, cols), 0)
    layer = encode(codes, book, bias, config=config, relu=relu)
    assert golden_spmv(layer, x, config).tolist() == reference(codes, book, bias, x, config, relu)


def test_saturates_both_ways():
    config = SpMVConfig(pes=1, act_width=8, act_frac=4, codebook_frac=0, max_rows=2)
    layer = encode(np.array([[1], [2]]), [127, -128], config=config, relu=False)
    assert golden_spmv(layer, [127], config).tolist() == [127, -128]


def test_shift_is_floor_not_truncation():
    config = SpMVConfig(pes=1, codebook_frac=2, max_rows=1)
    layer = encode(np.array([[1]]), [-1], config=config, relu=False)
    assert golden_spmv(layer, [1], config).tolist() == [-1]  # -1/4 floors to -1


def test_ideal_cycles_count_only_nonzero_activations():
    config = SpMVConfig(pes=2, max_rows=4)
    codes = np.array([[1, 1], [1, 0], [1, 1], [0, 0]])
    layer = encode(codes, np.arange(1, 16), config=config)
    assert pe_work(layer, [0, 5]).tolist() == [2, 0]
    assert ideal_cycles(layer, [3, 5]) == 4
    assert nonzero_macs(layer, [3, 0]) == 3


def test_rejects_x_of_wrong_length():
    layer = encode(np.ones((2, 3), dtype=int), [1], config=SpMVConfig())
    with pytest.raises(SpMVInputError, match=r"x must have 3 values \(one per column\), not "
                                             r"shape \(2,\)"):
        golden_spmv(layer, [1, 2], SpMVConfig())


def test_rejects_nan_activations():
    layer = encode(np.ones((2, 2), dtype=int), [1], config=SpMVConfig())
    with pytest.raises(SpMVInputError, match=r"x contains NaN or infinite values"):
        golden_spmv(layer, [1.0, np.nan], SpMVConfig())


def test_rejects_fractional_activations():
    layer = encode(np.ones((2, 2), dtype=int), [1], config=SpMVConfig())
    with pytest.raises(SpMVInputError, match=r"x must hold integers"):
        golden_spmv(layer, [1.0, 0.5], SpMVConfig())


def test_rejects_activations_outside_width():
    config = SpMVConfig(act_width=8, act_frac=4)
    layer = encode(np.ones((1, 2), dtype=int), [1], config=config)
    with pytest.raises(SpMVInputError, match=r"within the 8-bit activation range \[-128, 127\], "
                                             r"found 0..128"):
        golden_spmv(layer, [0, 128], config)


def test_rejects_non_numeric_activations():
    layer = encode(np.ones((1, 1), dtype=int), [1], config=SpMVConfig())
    with pytest.raises(SpMVInputError, match=r"x must be numeric"):
        golden_spmv(layer, np.array(["a"]), SpMVConfig())
