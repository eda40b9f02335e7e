"""Lanes: one value per frame of a batch (``SpMVConfig.batch``), side by side in one signal.

With ``batch == 1`` a lane signal is the plain signed value, so the engine's ports, its Verilog
and every testbench of an unbatched engine stay as they were; with more lanes it is an
``ArrayLayout`` of them, lane ``f`` holding frame ``f`` of the batch.
"""

from amaranth import Cat, signed
from amaranth.lib import data

__all__ = ["any_nonzero", "lane_shape", "lanes_of"]


def lane_shape(width: int, batch: int):
    """The shape of ``batch`` signed ``width``-bit values side by side."""
    return signed(width) if batch == 1 else data.ArrayLayout(signed(width), batch)


def lanes_of(value, batch: int) -> list:
    """The ``batch`` lanes of ``value`` (a signal or view of :func:`lane_shape`)."""
    return [value] if batch == 1 else [value[lane] for lane in range(batch)]


def any_nonzero(value, batch: int):
    """Whether any lane of ``value`` is nonzero: the column's weights must be read."""
    return Cat(lane != 0 for lane in lanes_of(value, batch)).any()
