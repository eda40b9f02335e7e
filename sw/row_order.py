"""Which hidden unit each PE computes: an order of the rows that shares the work and pads less.

The engine gives row ``i`` to PE ``i % pes`` (DESIGN.md), and a layer takes as long as its
busiest PE's entries. Interleaving the rows as they come leaves two costs on the table:

- *load imbalance*: the PEs' nonzero counts differ (the digit model's second layer: the busiest
  of eight PEs does 10 % more than the mean);
- *padding entries*: a PE's column whose next nonzero lies more than ``max_skip`` local rows on
  needs a padding entry to get there (12 % of the first layer's entries on eight PEs).

A hidden layer's units can be put in any order as long as the next layer's columns follow them:
every output row is still the sum of the same products (the accumulators never wrap, so the
order of a sum does not matter) and the last layer's rows, the pdfs, keep their order, so the
costs are the same bit for bit. :func:`balance_rows` reorders every hidden layer this way for
the model's PE count: it hands the densest rows out first to the least loaded PE (longest
processing time first), then swaps rows while that does not raise the cost. The pdfs can move
too when the decoding graph's pdf labels follow them (:func:`balance_design`): each arc then
reads the same cost from its new place, and the search is the same. On the digit model the
pdfs' layer was the most uneven once the hidden layers were balanced (busiest of eight PEs 1,224
entries against a mean of 1,163; 1,172 balanced), and the ULX3S's design went from 333.4 to
330.6 cycles per frame (Verilator, 50 utterances).

The cost is the busiest PE's entries (padding included) in each run of a few columns, summed
over the runs, for the layer and for the next layer's columns in their new order: the engine
broadcasts a column to every PE at once and a PE's column FIFO lets it fall behind the others
by only so many columns, so a balance over the whole layer is not enough. Balancing each PE's
total entries alone lowered the busiest PE's share of the digit model by 7 % and measured 3
cycles per frame slower on Verilator (ULX3S design, 4 utterances: 372 against 369); this cost
gave 353 against 376 (8 utterances). Runs of ``4 x fifo_depth`` columns did a little better than
2 or 1 times it in a cycle model of the engine. The order depends only on the weights and the
seed, not on any data.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sw.csc import decode, encode
from sw.graph import GraphError, reorder_pdfs

__all__ = ["ROW_ORDERS", "balance_design", "balance_rows", "balanced_order", "padding_per_column"]

ROW_ORDERS = ("interleaved", "balanced")

# each swap tried recounts a few columns of two PEs: 20,000 take about 6 s on the digit model's
# eight PEs, and three times as many gained under 1 % more in a cycle model of the engine
DEFAULT_SWAPS = 20_000


def padding_per_column(nonzero: np.ndarray, max_skip: int) -> np.ndarray:
    """Padding entries each column of one PE's ``bool[local_rows, cols]`` pattern needs: a
    gap of ``g`` zero rows before a nonzero takes ``g // (max_skip + 1)`` (``sw.csc.encode``);
    the zeros after a column's last nonzero take none."""
    rows = nonzero.shape[0]
    index = np.arange(rows)[:, None]
    marked = np.where(nonzero, index, -1)
    before = np.vstack([np.full((1, nonzero.shape[1]), -1), marked[:-1]])
    previous = np.maximum.accumulate(before, axis=0)
    gaps = index - previous - 1
    return ((gaps // (max_skip + 1)) * nonzero).sum(axis=0)


def _column_lengths(nonzero: np.ndarray, pes: int, max_skip: int) -> tuple:
    """Per PE (rows interleaved) the nonzeros and the padding entries of each column:
    two ``[pes, cols]`` arrays, whose sum is ``EncodedLayer.column_lengths``."""
    weights = np.stack([nonzero[pe::pes].sum(axis=0) for pe in range(pes)])
    padding = np.stack([padding_per_column(nonzero[pe::pes], max_skip) for pe in range(pes)])
    return weights, padding


def _windowed_work(lengths: np.ndarray, window: int) -> int:
    """The busiest PE's entries in each run of ``window`` consecutive columns, summed over the
    runs (``lengths``: ``[pes, cols]`` entries of each column in each PE)."""
    whole = lengths.shape[1] // window * window
    runs = lengths[:, :whole].reshape(lengths.shape[0], -1, window).sum(axis=2)
    return int(runs.max(axis=0).sum() + lengths[:, whole:].sum(axis=1).max())


def _longest_first(nonzero: np.ndarray, pes: int) -> np.ndarray:
    """Positions of the rows when the densest go first to the PE with the fewest nonzeros
    (each PE keeps its interleaved row count); within a PE, densest first."""
    rows = nonzero.shape[0]
    counts = nonzero.sum(axis=1)
    capacity = np.array([len(range(pe, rows, pes)) for pe in range(pes)])
    load = np.zeros(pes, dtype=np.int64)
    members = [[] for _ in range(pes)]
    for row in np.argsort(-counts, kind="stable"):
        open_pes = np.flatnonzero([len(m) < c for m, c in zip(members, capacity, strict=True)])
        pe = int(open_pes[np.argmin(load[open_pes])])
        members[pe].append(int(row))
        load[pe] += counts[row]
    order = np.empty(rows, dtype=np.int64)
    for pe, rows_of_pe in enumerate(members):
        order[pe::pes] = rows_of_pe
    return order


def balanced_order(codes, next_lengths, pes: int, max_skip: int, *, window: int,
                   swaps: int = DEFAULT_SWAPS, seed: int = 0) -> np.ndarray:
    """An order of the rows of ``codes`` (``[rows, cols]``, zero where no weight) for ``pes``
    interleaved PEs: ``order[k]`` is the row placed at position ``k``, and so also the column
    the next layer reads ``k``-th (``next_lengths``: ``[pes, rows]``, the entries of each of
    its columns in each PE, in the order of ``codes``' rows; ``None`` for the last layer).

    The cost counted is :func:`_windowed_work` of this layer's entries (padding included) plus
    the next layer's in the new column order. It starts from :func:`_longest_first` and tries
    ``swaps`` random swaps of two positions, keeping each that does not raise the cost.
    """
    if not isinstance(pes, int) or pes < 1:
        raise ValueError(f"pes must be a positive integer, not {pes!r}")
    if not isinstance(swaps, int) or swaps < 0:
        raise ValueError(f"swaps must be a non-negative integer, not {swaps!r}")
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive integer, not {window!r}")
    nonzero = np.asarray(codes) != 0
    rows = nonzero.shape[0]
    order = _longest_first(nonzero, pes)
    weights, padding = _column_lengths(nonzero[order], pes, max_skip)
    following = (np.zeros((1, rows), dtype=np.int64) if next_lengths is None
                 else np.asarray(next_lengths)[:, order].copy())

    def cost() -> int:
        return _windowed_work(weights + padding, window) + _windowed_work(following, window)

    best = cost()
    rng = np.random.default_rng(seed)
    for _ in range(swaps if rows > 1 else 0):
        first, second = (int(k) for k in rng.choice(rows, size=2, replace=False))
        row_a, row_b = order[first], order[second]
        columns = np.flatnonzero(nonzero[row_a] != nonzero[row_b])
        touched = sorted({first % pes, second % pes})
        kept = (weights[touched][:, columns], padding[touched][:, columns])
        order[first], order[second] = row_b, row_a
        for pe in touched:
            mine = nonzero[order[pe::pes]][:, columns]
            weights[pe, columns] = mine.sum(axis=0)
            padding[pe, columns] = padding_per_column(mine, max_skip)
        following[:, [first, second]] = following[:, [second, first]]
        new = cost()
        if new <= best:
            best = new
            continue
        order[first], order[second] = row_a, row_b
        for index, pe in enumerate(touched):
            weights[pe, columns] = kept[0][index]
            padding[pe, columns] = kept[1][index]
        following[:, [first, second]] = following[:, [second, first]]
    return order


def _balanced(quantized, *, move_pdfs: bool, swaps: int, seed: int) -> tuple:
    """``quantized`` with each hidden layer's rows in the :func:`balanced_order` for its PE
    count (the next layer's columns following), and with ``move_pdfs`` the last layer's rows
    too; and the last layer's order (``order[k]``: the pdf now at output ``k``). Each layer is
    encoded once."""
    config = quantized.spmv
    codes = [decode(layer) for layer in quantized.layers]
    biases = [layer.bias for layer in quantized.layers]
    last = len(codes) - 1
    pdf_order = np.arange(quantized.layers[-1].rows)
    for index in range(last + 1 if move_pdfs else last):
        following = (None if index == last else
                     sum(_column_lengths(codes[index + 1] != 0, config.pes, config.max_skip)))
        order = balanced_order(codes[index], following, config.pes, config.max_skip,
                               window=4 * config.fifo_depth, swaps=swaps, seed=seed)
        codes[index], biases[index] = codes[index][order], biases[index][order]
        if index == last:
            pdf_order = order
        else:
            codes[index + 1] = codes[index + 1][:, order]
    layers = tuple(encode(layer_codes, layer.codebook, bias, config=config, relu=layer.relu)
                   for layer_codes, layer, bias in zip(codes, quantized.layers, biases,
                                                       strict=True))
    return replace(quantized, layers=layers), pdf_order


def balance_rows(quantized, *, swaps: int = DEFAULT_SWAPS, seed: int = 0):
    """``quantized`` (``sw.quantized.QuantizedModel``) with every hidden layer's units in the
    :func:`balanced_order` for its PE count, each next layer's columns following; the last
    layer's outputs, and so the costs, are the same bit for bit."""
    return _balanced(quantized, move_pdfs=False, swaps=swaps, seed=seed)[0]


def balance_design(quantized, graph, *, swaps: int = DEFAULT_SWAPS, seed: int = 0) -> tuple:
    """``quantized`` and its decoding ``graph`` (``sw.graph.Graph``) with every layer's rows
    balanced, the pdfs too: :func:`balance_rows`' hidden units, the last layer's rows in a
    :func:`balanced_order` as well, and the graph's pdf labels following them
    (:func:`sw.graph.reorder_pdfs`). Each score moves to another output, and each arc reads it
    there, so the search decodes the same words bit for bit. Raises ``sw.graph.GraphError`` if
    the graph's pdf count is not the model's output count.
    """
    if graph.num_pdfs != quantized.layers[-1].rows:
        raise GraphError(f"the graph has {graph.num_pdfs} pdfs; the model's last layer gives "
                         f"{quantized.layers[-1].rows} scores")
    balanced, pdf_order = _balanced(quantized, move_pdfs=True, swaps=swaps, seed=seed)
    return balanced, reorder_pdfs(graph, pdf_order)
