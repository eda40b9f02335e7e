"""Bit-exact model of the sparse matrix-vector engine and its ideal cycle bound.

Arithmetic, exactly as the RTL does it (DESIGN.md): every stored weight ``codebook[code]``
times the activation is added in an accumulator wide enough never to wrap
(``SpMVConfig.acc_width``); the sum is shifted right arithmetically by ``codebook_frac``
(floor, not round), the bias is added, ReLU applied if the layer asks for it, and the result is
saturated to ``act_width`` bits.
"""

from __future__ import annotations

import numpy as np

from hw.config import SpMVConfig
from sw.csc import EncodedLayer, decode

__all__ = ["SpMVInputError", "batch_columns", "check_activations", "golden_spmv",
           "golden_spmv_batch", "ideal_cycles", "pe_work"]


class SpMVInputError(ValueError):
    """An activation vector does not fit the layer or the engine; the message says how."""


def check_activations(layer: EncodedLayer, x, config: SpMVConfig) -> np.ndarray:
    """Validate ``x`` for ``layer`` and return it as ``int64``."""
    array = np.asarray(x)
    if array.ndim != 1 or array.shape[0] != layer.cols:
        raise SpMVInputError(f"x must have {layer.cols} values (one per column), not shape "
                             f"{array.shape}")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise SpMVInputError("x contains NaN or infinite values")
        if not np.all(array == np.round(array)):
            raise SpMVInputError("x must hold integers (fixed-point activations)")
    elif array.dtype.kind not in "iub":
        raise SpMVInputError(f"x must be numeric, not dtype {array.dtype}")
    array = array.astype(np.int64)
    lo, hi = config.act_range
    if array.size and (array.min() < lo or array.max() > hi):
        raise SpMVInputError(f"x values must be within the {config.act_width}-bit activation "
                             f"range [{lo}, {hi}], found {int(array.min())}..{int(array.max())}")
    return array


def golden_spmv(layer: EncodedLayer, x, config: SpMVConfig) -> np.ndarray:
    """Outputs ``y[rows]`` (``int64``) the engine produces for ``layer`` and activations ``x``."""
    layer.check_fits(config)
    x = check_activations(layer, x, config)
    weights = layer.codebook[decode(layer)]
    acc = weights @ x  # exact in int64: SpMVConfig caps acc_width at 62 bits
    y = (acc >> config.codebook_frac) + layer.bias
    if layer.relu:
        y = np.maximum(y, 0)
    lo, hi = config.act_range
    return np.clip(y, lo, hi)


def pe_work(layer: EncodedLayer, x) -> np.ndarray:
    """Entries (padding included) each PE must process for the nonzero activations of ``x``."""
    nonzero = np.asarray(x) != 0
    return layer.column_lengths()[:, nonzero].sum(axis=1)


def golden_spmv_batch(layer: EncodedLayer, frames, config: SpMVConfig) -> np.ndarray:
    """Outputs ``y[rows, frame]`` of an engine with ``config.batch`` lanes for ``frames``
    (``[frame, column]``, up to ``config.batch`` of them): each lane is computed on its own, so
    it equals :func:`golden_spmv` of its frame."""
    frames = np.asarray(frames)
    if frames.ndim != 2 or not 1 <= frames.shape[0] <= config.batch:
        raise SpMVInputError(f"frames must be 1 to {config.batch} (SpMVConfig.batch) rows of "
                             f"{layer.cols} activations, not shape {frames.shape}")
    return np.stack([golden_spmv(layer, x, config) for x in frames], axis=1)


def batch_columns(frames) -> np.ndarray:
    """The columns a batched engine reads (1) or skips (0): those with a nonzero lane."""
    return np.any(np.asarray(frames) != 0, axis=0).astype(np.int64)


def ideal_cycles(layer: EncodedLayer, x) -> int:
    """No engine finishes before its busiest PE has processed one entry per cycle."""
    return int(pe_work(layer, x).max(initial=0))


def nonzero_macs(layer: EncodedLayer, x) -> int:
    """Multiply-accumulates with a nonzero weight and a nonzero activation."""
    nonzero = np.asarray(x) != 0
    total = 0
    for pe in range(layer.pes):
        codes = layer.codes(pe)
        for j in np.flatnonzero(nonzero):
            total += int(np.count_nonzero(codes[layer.col_ptr[pe, j]:layer.col_ptr[pe, j + 1]]))
    return total
