"""Bit-exact model of the cost unit: last-layer outputs of one frame -> Viterbi acoustic costs.

``cost[p] = sat((max_q y[q] - y[p]) * scale >> shift)`` (DESIGN.md). Subtracting the frame's
maximum makes every cost non-negative and cancels the per-frame normalisation of a softmax, so
no exp/log hardware is needed. ``y`` has ``act_frac`` fractional bits, the acoustic scale is the
unsigned integer ``scale`` with ``scale_frac`` fractional bits, and costs have ``cost_frac``
fractional bits, so ``shift = act_frac + scale_frac - cost_frac`` (floor), and the result
saturates at ``2**cost_width - 1``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CostError", "golden_costs", "scale_to_fixed"]


class CostError(ValueError):
    """A cost conversion parameter or input is out of range; the message says which."""


def scale_to_fixed(acoustic_scale: float, scale_frac: int, scale_width: int = 16) -> int:
    """The unsigned fixed-point integer of ``acoustic_scale`` (round to nearest)."""
    if not np.isfinite(acoustic_scale) or acoustic_scale <= 0:
        raise CostError(f"acoustic_scale must be a finite number > 0, not {acoustic_scale!r}")
    value = int(round(acoustic_scale * (1 << scale_frac)))
    if not 1 <= value < (1 << scale_width):
        raise CostError(f"acoustic_scale {acoustic_scale} is {value} in fixed point with "
                        f"{scale_frac} fractional bits; it must be 1..{(1 << scale_width) - 1}")
    return value


def golden_costs(y, *, scale: int, act_frac: int, scale_frac: int, cost_frac: int,
                 cost_width: int) -> np.ndarray:
    """Costs (``int64``, same shape as ``y``) for one frame ``y[P]`` or frames ``y[T, P]``."""
    y = np.asarray(y)
    if y.dtype.kind not in "iu" or y.ndim not in (1, 2) or y.shape[-1] == 0:
        raise CostError(f"y must be a non-empty 1-D or 2-D integer array, not {y.dtype} of "
                        f"shape {y.shape}")
    shift = act_frac + scale_frac - cost_frac
    if shift < 0:
        raise CostError(f"act_frac + scale_frac - cost_frac must be >= 0, not {shift}")
    y = y.astype(np.int64)
    diff = y.max(axis=-1, keepdims=True) - y
    return np.minimum((diff * int(scale)) >> shift, (1 << cost_width) - 1)
