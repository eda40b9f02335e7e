"""The balanced row order (sw/row_order.py): the same costs, fewer entries in the busiest PE."""

import numpy as np
import pytest

from hw.config import SpMVConfig
from sim.system_cases import small_design
from sw.csc import decode, encode
from sw.golden.viterbi import decode as viterbi_decode
from sw.graph import GraphError, from_arc_list, random_graph, reorder_pdfs
from sw.model import MLP, ModelConfig
from sw.prune import apply_masks, magnitude_masks
from sw.quantized import fast_forward, golden_forward, quantize_features, quantize_model
from sw.row_order import (
    _longest_first,
    _windowed_work,
    balance_design,
    balance_rows,
    balanced_order,
    padding_per_column,
)


def quantized_model(pes, *, index_bits=2, seed=0, sparsity=0.8):
    shape = ModelConfig(num_pdfs=12, hidden=(40, 32), feature_bins=8, context=2)  # 40 inputs
    model = MLP.initialize(shape, seed=seed)
    rng = np.random.default_rng(seed)
    for bias in model.biases:
        bias += rng.normal(0, 0.3, bias.shape).astype(np.float32)
    model = apply_masks(model, magnitude_masks(model, sparsity))
    calibration = rng.normal(0, 1, (64, shape.input_dim)).astype(np.float32)
    config = SpMVConfig(pes=pes, index_bits=index_bits, fifo_depth=4)
    return quantize_model(model, config, calibration=calibration), calibration


@pytest.mark.parametrize("index_bits", [2, 3, 4])
def test_padding_per_column_counts_what_the_encoder_pads(index_bits):
    rng = np.random.default_rng(index_bits)
    config = SpMVConfig(pes=1, index_bits=index_bits, entry_depth=1 << 16)
    for _ in range(20):
        codes = np.where(rng.random((int(rng.integers(1, 100)), 9)) < 0.15,
                         rng.integers(1, 16), 0)
        lengths = encode(codes, np.arange(1, 16), config=config, relu=False).column_lengths()
        padding = padding_per_column(codes != 0, config.max_skip)
        assert np.array_equal(padding, lengths[0] - np.count_nonzero(codes, axis=0))


def test_padding_needs_a_gap_wider_than_the_skip():
    column = np.zeros((40, 1), dtype=bool)
    column[[3, 20, 37], 0] = True  # gaps 3, 16, 16: one padding entry each for the last two
    assert padding_per_column(column, 15).tolist() == [2]
    assert padding_per_column(column, 16).tolist() == [0]  # a gap of 16 fits a skip of 16
    assert padding_per_column(np.zeros((5, 2), dtype=bool), 1).tolist() == [0, 0]


@pytest.mark.parametrize("pes", [1, 3, 4])
def test_balanced_rows_give_the_same_outputs_and_costs_on_every_frame(pes):
    quantized, calibration = quantized_model(pes)
    balanced = balance_rows(quantized)
    frames = quantize_features(calibration, quantized.spmv)
    expected = fast_forward(quantized, frames)
    got = fast_forward(balanced, frames)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    for t in range(0, len(frames), 7):  # and the golden engine, layer by layer, on its encoding
        out, costs = golden_forward(balanced, frames[t])
        assert np.array_equal(out, expected[0][t]) and np.array_equal(costs, expected[1][t])
    # the hidden layers' rows are a permutation of the model's, the pdfs keep their order
    before, after = [decode(layer) for layer in quantized.layers], [
        decode(layer) for layer in balanced.layers]
    assert sorted(map(tuple, before[0])) == sorted(map(tuple, after[0]))
    assert sorted(quantized.layers[0].bias.tolist()) == sorted(balanced.layers[0].bias.tolist())
    assert np.array_equal(np.sort(before[-1], axis=1), np.sort(after[-1], axis=1))
    assert np.array_equal(quantized.layers[-1].bias, balanced.layers[-1].bias)


def test_a_skewed_layer_is_evened_out_over_the_pes():
    # the rows that PE 0 would get interleaved are the dense ones
    rng = np.random.default_rng(3)
    rows, cols, pes = 32, 48, 4
    dense = (np.arange(rows) % pes == 0)[:, None]
    codes = np.where(rng.random((rows, cols)) < np.where(dense, 0.6, 0.1), 7, 0)
    config = SpMVConfig(pes=pes, index_bits=2)
    interleaved = encode(codes, np.arange(1, 16), config=config, relu=False)
    order = balanced_order(codes, None, pes, config.max_skip, window=8)
    assert sorted(order.tolist()) == list(range(rows))
    balanced = encode(codes[order], np.arange(1, 16), config=config, relu=False)
    assert balanced.entry_counts.max() < 0.75 * interleaved.entry_counts.max()
    assert balanced.entry_counts.sum() <= interleaved.entry_counts.sum()  # no more padding
    cost = _windowed_work(balanced.column_lengths(), 8)
    assert cost < _windowed_work(interleaved.column_lengths(), 8)


def test_the_order_depends_only_on_the_weights_and_the_seed():
    quantized, _ = quantized_model(4)
    codes = decode(quantized.layers[0])
    first = balanced_order(codes, None, 4, 3, window=8, seed=5)
    assert np.array_equal(first, balanced_order(codes, None, 4, 3, window=8, seed=5))
    assert np.array_equal(balance_rows(quantized, swaps=3000).layers[1].entries[0],
                          balance_rows(quantized, swaps=3000).layers[1].entries[0])


def test_no_swaps_keeps_the_longest_first_start_and_a_swap_never_raises_the_cost():
    quantized, _ = quantized_model(4, seed=2)
    codes = decode(quantized.layers[0])
    config = quantized.spmv

    def cost(order):
        layer = encode(codes[order], quantized.layers[0].codebook, config=config)
        return _windowed_work(layer.column_lengths(), 8)

    start = balanced_order(codes, None, 4, config.max_skip, window=8, swaps=0)
    assert np.array_equal(start, _longest_first(codes != 0, 4))
    searched = balanced_order(codes, None, 4, config.max_skip, window=8, swaps=2000)
    assert cost(searched) <= cost(start)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"pes": 0}, r"pes must be a positive integer, not 0"),
    ({"swaps": -1}, r"swaps must be a non-negative integer, not -1"),
    ({"window": 0}, r"window must be a positive integer, not 0")])
def test_impossible_settings_are_refused(arguments, message):
    settings = {"pes": 2, "max_skip": 3, "window": 4, "swaps": 10, **arguments}
    with pytest.raises(ValueError, match=message):
        balanced_order(np.eye(4, dtype=int), None, **settings)


def test_reordered_pdfs_decode_the_same_from_the_moved_scores():
    config = small_design().config.viterbi
    rng = np.random.default_rng(4)
    for seed in range(6):
        graph = random_graph(seed, num_states=40, num_pdfs=12, num_words=10,
                             arcs_per_state=2.5, epsilon_fraction=0.15)
        order = rng.permutation(12)
        moved = reorder_pdfs(graph, order)
        assert np.array_equal(moved.arc_ilabel == 0, graph.arc_ilabel == 0)
        costs = rng.integers(0, 40 * 16, (30, 12))
        before = viterbi_decode(graph, costs, config, keep_tables=True)
        after = viterbi_decode(moved, costs[:, order], config, keep_tables=True)
        assert (after.words, after.total_cost, after.tokens_per_frame) == (
            before.words, before.total_cost, before.tokens_per_frame)
        assert all(np.array_equal(a, b) for a, b in zip(after.tables, before.tables,
                                                        strict=True))


@pytest.mark.parametrize("order", [[0, 1, 1], [0, 1], [0.0, 1.0, 2.0], [0, 1, 3]])
def test_a_pdf_order_that_is_not_a_permutation_is_refused(order):
    graph = from_arc_list(2, 0, [(0, 1, 1, 0, 1.0), (1, 1, 3, 0, 0.5)], {1: 0.0}, num_pdfs=3,
                          words=["<eps>"])
    with pytest.raises(GraphError, match=r"each of the graph's 3 pdfs once"):
        reorder_pdfs(graph, np.array(order))
    assert reorder_pdfs(graph, np.array([2, 0, 1])).arc_ilabel.tolist() == [2, 1]


@pytest.mark.parametrize("pes", [1, 3, 4])
def test_a_balanced_design_moves_the_scores_and_its_graph_follows(pes):
    quantized, calibration = quantized_model(pes)
    graph = random_graph(pes, num_states=30, num_pdfs=12, num_words=6)
    balanced, moved = balance_design(quantized, graph)
    frames = quantize_features(calibration, quantized.spmv)
    expected, got = fast_forward(quantized, frames)[1], fast_forward(balanced, frames)[1]
    # each pdf's cost is now at the output its new label names
    pdf_at = np.empty(12, dtype=np.int64)
    for old, new in zip(graph.arc_ilabel, moved.arc_ilabel, strict=True):
        if old:
            pdf_at[new - 1] = old - 1
    used = np.unique(moved.arc_ilabel[moved.arc_ilabel > 0]) - 1
    assert np.array_equal(got[:, used], expected[:, pdf_at[used]])
    assert np.array_equal(np.sort(got, axis=1), np.sort(expected, axis=1))
    assert np.array_equal(moved.arc_ilabel == 0, graph.arc_ilabel == 0)
    assert balanced.layers[-1].entry_counts.max() <= quantized.layers[-1].entry_counts.max()


def test_a_graph_with_another_pdf_count_is_refused_before_any_work():
    quantized, _ = quantized_model(2)
    graph = random_graph(0, num_states=10, num_pdfs=11)
    with pytest.raises(GraphError, match=r"the graph has 11 pdfs; the model's last layer gives "
                                         r"12 scores"):
        balance_design(quantized, graph, swaps=0)
