"""EIE CSC encoder: round trips, padding, pointers, storage, and one test per error message."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw.config import SpMVConfig
from sw.csc import (
    CSCError,
    decode,
    encode,
    load_layer,
    quantize_to_codes,
    save_layer,
    storage_report,
)

BOOK = np.arange(1, 16)


def random_codes(rng, rows, cols, density):
    return np.where(rng.random((rows, cols)) < density, rng.integers(1, 16, (rows, cols)), 0)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), pes=st.integers(1, 9),
       index_bits=st.integers(2, 6), density=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_decode_inverts_encode(rows, cols, pes, index_bits, density, seed):
    codes = random_codes(np.random.default_rng(seed), rows, cols, density)
    config = SpMVConfig(pes=pes, index_bits=index_bits, max_rows=64, max_cols=64)
    layer = encode(codes, BOOK, config=config)
    assert np.array_equal(decode(layer), codes)
    assert layer.nonzero_count == np.count_nonzero(codes)


def test_entries_follow_the_contract():
    # one PE, column 0 holds rows 0, 2 and 20; index_bits 2 -> z at most 3, so 20 needs padding
    codes = np.zeros((24, 1), dtype=int)
    codes[[0, 2, 20], 0] = [5, 6, 7]
    layer = encode(codes, BOOK, config=SpMVConfig(pes=1, index_bits=2, max_rows=24))
    words = [(int(w) >> 2, int(w) & 3) for w in layer.entries[0]]
    # row 0 (z=0), row 2 (z=1), padding rows 6, 10, 14, 18 (z=3 each), row 20 (z=1)
    assert words == [(5, 0), (6, 1), (0, 3), (0, 3), (0, 3), (0, 3), (7, 1)]
    assert layer.col_ptr.tolist() == [[0, 7]]


def test_rows_interleave_across_pes_and_pointers_mark_columns():
    codes = np.zeros((4, 3), dtype=int)
    codes[1, 0] = 1  # PE 1, local row 0
    codes[3, 2] = 2  # PE 1, local row 1
    layer = encode(codes, BOOK, config=SpMVConfig(pes=2, max_rows=4))
    assert layer.col_ptr.tolist() == [[0, 0, 0, 0], [0, 1, 1, 2]]
    assert layer.codes(1).tolist() == [1, 2]
    assert layer.skips(1).tolist() == [0, 1]
    assert layer.entry_counts.tolist() == [0, 2]


def test_padding_shrinks_with_wider_index():
    codes = random_codes(np.random.default_rng(1), 512, 64, 0.1)
    padding = []
    for bits in (4, 5, 6):
        layer = encode(codes, BOOK, config=SpMVConfig(pes=8, index_bits=bits))
        padding.append(storage_report(layer, config=SpMVConfig(pes=8, index_bits=bits))
                       ["padding_entries"])
    assert padding[0] > padding[1] > padding[2]


def test_storage_report_adds_up():
    config = SpMVConfig(pes=4)
    layer = encode(random_codes(np.random.default_rng(2), 100, 80, 0.2), BOOK, config=config)
    report = storage_report(layer, config=config)
    assert report["total_bits"] == (report["code_bits"] + report["index_bits"]
                                    + report["padding_bits"] + report["pointer_bits"])
    assert report["dense_bits"] == 100 * 80 * 4


def test_quantize_to_codes_keeps_zeros_and_picks_nearest():
    codes = quantize_to_codes([[0.0, 0.9, -1.1]], [-1.0, 1.0])
    assert codes.tolist() == [[0, 2, 1]]


def test_save_load_round_trip(tmp_path):
    config = SpMVConfig(pes=3)
    layer = encode(random_codes(np.random.default_rng(3), 30, 20, 0.3), BOOK,
                   np.arange(30), config=config, relu=False)
    save_layer(tmp_path / "layer.npz", layer)
    loaded = load_layer(tmp_path / "layer.npz", config=config)
    assert np.array_equal(decode(loaded), decode(layer))
    assert np.array_equal(loaded.bias, layer.bias) and loaded.relu is False


# -- one test per error message ----------------------------------------------------------------

def test_rejects_codebook_with_more_than_16_entries():
    with pytest.raises(CSCError, match=r"codebook has 17 entries; 4-bit codes allow at most 16"):
        encode(np.ones((2, 2), dtype=int), np.arange(17), config=SpMVConfig())


def test_rejects_16_entry_codebook_without_zero():
    with pytest.raises(CSCError, match=r"a 16-entry codebook must have 0 at code 0, not 3"):
        encode(np.ones((2, 2), dtype=int), np.arange(3, 19), config=SpMVConfig())


def test_rejects_codes_out_of_range():
    with pytest.raises(CSCError, match=r"codes must be 0..15, found 0..16"):
        encode(np.array([[0, 16]]), BOOK, config=SpMVConfig())


def test_rejects_matrix_with_more_rows_than_the_memories():
    with pytest.raises(CSCError, match=r"layer has 9 rows; the engine holds max_rows=8"):
        encode(np.ones((9, 2), dtype=int), BOOK, config=SpMVConfig(max_rows=8))


def test_rejects_matrix_with_more_columns_than_the_memories():
    with pytest.raises(CSCError, match=r"layer has 5 columns; the engine holds max_cols=4"):
        encode(np.ones((2, 5), dtype=int), BOOK, config=SpMVConfig(max_cols=4))


def test_rejects_layer_beyond_entry_memory():
    with pytest.raises(CSCError, match=r"needs 16 entries in one PE; .*entry_depth=10 "
                                       r"\(exceeded by 6\)"):
        encode(np.ones((4, 4), dtype=int), BOOK, config=SpMVConfig(pes=1, entry_depth=10))


def test_rejects_nan_weights():
    with pytest.raises(CSCError, match=r"codes contains NaN or infinite values"):
        encode(np.array([[np.nan, 1.0]]), BOOK, config=SpMVConfig())


def test_rejects_fractional_codes():
    with pytest.raises(CSCError, match=r"codes must hold integers"):
        encode(np.array([[0.5, 1.0]]), BOOK, config=SpMVConfig())


def test_rejects_non_numeric_codes():
    with pytest.raises(CSCError, match=r"codes must be numeric, not dtype <U1"):
        encode(np.array([["a"]]), BOOK, config=SpMVConfig())


def test_rejects_wrong_dimensions():
    with pytest.raises(CSCError, match=r"codes must have 2 dimension\(s\), not shape \(3,\)"):
        encode(np.ones(3, dtype=int), BOOK, config=SpMVConfig())


def test_rejects_empty_matrix():
    with pytest.raises(CSCError, match=r"at least one row and one column, not \(0, 3\)"):
        encode(np.ones((0, 3), dtype=int), BOOK, config=SpMVConfig())


def test_rejects_bias_of_wrong_length():
    with pytest.raises(CSCError, match=r"bias must have 2 values \(one per row\), not 3"):
        encode(np.ones((2, 2), dtype=int), BOOK, [1, 2, 3], config=SpMVConfig())


def test_rejects_codebook_value_outside_width():
    with pytest.raises(CSCError, match=r"codebook value 128 is outside the configured range "
                                       r"\[-128, 127\]"):
        encode(np.ones((2, 2), dtype=int), [128], config=SpMVConfig(codebook_width=8))


def test_rejects_bias_outside_width():
    with pytest.raises(CSCError, match=r"bias value -9 is outside the configured range \[-8, 7\]"):
        encode(np.ones((1, 1), dtype=int), BOOK, [-9], config=SpMVConfig(bias_width=4))


def test_rejects_layer_for_another_engine():
    layer = encode(np.ones((2, 2), dtype=int), BOOK, config=SpMVConfig(pes=2))
    with pytest.raises(CSCError, match=r"encoded for pes=2, index_bits=4; the engine has pes=4"):
        layer.check_fits(SpMVConfig(pes=4))


def test_rejects_foreign_npz(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(CSCError, match=r"is not an asrhw layer file \(format None\)"):
        load_layer(tmp_path / "other.npz")


def test_quantize_rejects_oversized_codebook():
    with pytest.raises(CSCError, match=r"codebook for quantization needs 1 to 15 values, not 16"):
        quantize_to_codes([1.0], np.arange(16))


def test_quantize_rejects_nan():
    with pytest.raises(CSCError, match=r"must not contain NaN or infinite values"):
        quantize_to_codes([np.inf], [1.0])
