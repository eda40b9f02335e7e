"""EIE-style sparse matrix-vector engine (see DESIGN.md and sw/csc.py for the format)."""

from hw.spmv.engine import LoadTarget, SpMVEngine, load_layout
from hw.spmv.pe import ProcessingElement, column_layout

__all__ = ["LoadTarget", "ProcessingElement", "SpMVEngine", "column_layout", "load_layout"]
