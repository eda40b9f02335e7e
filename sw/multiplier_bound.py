"""How few cycles per frame an FPGA's multipliers allow: the floor under any SpMV engine's time.

A frame needs one product for every stored weight of every column whose activation is nonzero
(EIE skips the zero activations). An engine that serves ``batch`` frames per pass over the
weights (``SpMVConfig.batch``) multiplies each weight it reads with all of its lanes, so a
column is read when any lane is nonzero and then costs ``batch`` products, zero lanes included;
and it broadcasts one column per cycle, so a pass takes at least as many cycles as it has
columns to read. With ``multipliers`` products per cycle the floor of a frame is

    max(lane products per frame / multipliers, columns read per frame)    cycles,

where a pass's columns read count once for its ``batch`` frames; padding entries, load
imbalance and the read-out not counted: no engine of that shape is faster. The products of
the nonzero weights with the nonzero activations alone, over every multiplier, bound any engine
at all (one whose multipliers never idle on a zero lane).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.csc import decode
from sw.quantized import QuantizedModel, layer_activations

__all__ = ["BatchFloor", "batch_floors", "useful_products"]


@dataclass(frozen=True)
class BatchFloor:
    """The work of a frame in an engine of ``batch`` lanes, averaged over the frames given.

    Attributes
    ----------
    batch : int
        Frames per pass over the weights.
    lane_products : float
        Products per frame: every lane of every column read, times the column's weights.
    columns_read : float
        Columns per frame that have a nonzero lane (one broadcast cycle each, per pass).
    multipliers : int
        Products the FPGA makes per cycle.
    """

    batch: int
    lane_products: float
    columns_read: float
    multipliers: int

    @property
    def cycles(self) -> float:
        """Cycles per frame below which no engine of this shape runs on these multipliers."""
        return max(self.lane_products / self.multipliers, self.columns_read)

    def as_dict(self) -> dict:
        """The figures and :attr:`cycles`, for a JSON report."""
        return {"batch": self.batch, "lane_products": self.lane_products,
                "columns_read": self.columns_read, "multipliers": self.multipliers,
                "cycles": self.cycles}


def _column_weights(quantized: QuantizedModel) -> list[np.ndarray]:
    """Stored (nonzero-code) weights of every column, per layer."""
    return [np.count_nonzero(decode(layer), axis=0) for layer in quantized.layers]


def batch_floors(quantized: QuantizedModel, utterances, *, batches, multipliers: int) -> list:
    """A :class:`BatchFloor` per batch size for the quantized frames of ``utterances`` (a list
    of ``int64[T, input_dim]``); batches do not span utterances (the last one of each is short,
    as the system runs them)."""
    if not isinstance(multipliers, int) or multipliers < 1:
        raise ValueError(f"multipliers must be a positive integer, not {multipliers!r}")
    for batch in batches:
        if not isinstance(batch, int) or not 1 <= batch <= 64:
            raise ValueError(f"every batch must be an int from 1 to 64, not {batch!r}")
    weights = _column_weights(quantized)
    products = dict.fromkeys(batches, 0)
    columns = dict.fromkeys(batches, 0)
    frames = 0
    for activations in utterances:
        inputs = layer_activations(quantized, activations)[:-1]
        frames += len(activations)
        for layer_inputs, column_weights in zip(inputs, weights, strict=True):
            nonzero = layer_inputs != 0
            for batch in batches:
                for first in range(0, len(nonzero), batch):
                    lanes = nonzero[first:first + batch]
                    read = lanes.any(axis=0)
                    products[batch] += int(column_weights[read].sum()) * len(lanes)
                    columns[batch] += int(read.sum())
    if frames == 0:
        raise ValueError("the utterances hold no frames")
    return [BatchFloor(batch, products[batch] / frames, columns[batch] / frames, multipliers)
            for batch in batches]


def useful_products(quantized: QuantizedModel, utterances) -> float:
    """Products per frame of a nonzero weight and a nonzero activation: what any engine must
    compute (the lane products of batch 1)."""
    [floor] = batch_floors(quantized, utterances, batches=[1], multipliers=1)
    return floor.lane_products
