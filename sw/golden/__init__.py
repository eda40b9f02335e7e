"""Bit-exact models of the hardware units: what the RTL must produce, stated once in NumPy.

Nothing here imports Amaranth; the RTL is tested against these models, never the reverse.
"""

from sw.golden.spmv import SpMVInputError, golden_spmv, ideal_cycles, pe_work

__all__ = ["SpMVInputError", "golden_spmv", "ideal_cycles", "pe_work"]
