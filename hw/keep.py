"""Registers copied on purpose: one copy per group of loads, so that no one register drives
them all across the chip.

yosys' opt_merge makes registers with the same input one again; a copy made here carries
:data:`KEEP_ATTRIBUTE`, which the board flows (:data:`boards.synth.KEEP_COPIES`) turn into
yosys' ``keep`` on its flip-flops, which opt_merge respects. Simulation sees plain registers.
"""

from amaranth import Signal, Value

__all__ = ["KEEP_ATTRIBUTE", "kept_copies"]

KEEP_ATTRIBUTE = "asrhw_keep"


def kept_copies(m, value, count: int, *, name: str) -> list[Signal]:
    """``count`` registers of ``m``'s sync domain, each loaded with ``value`` every cycle and
    kept apart in synthesis; named ``name0``, ``name1``, ..."""
    value = Value.cast(value)
    copies = [Signal(value.shape(), name=f"{name}{index}", attrs={KEEP_ATTRIBUTE: 1})
              for index in range(count)]
    m.d.sync += [copy.eq(value) for copy in copies]
    return copies
