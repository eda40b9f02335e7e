"""Viterbi unit: set-associative hypothesis table, graph memories, expansion pipeline."""

from hw.viterbi.table import HypothesisTable, InsertOutcome, hypothesis_layout, insert_layout

__all__ = ["HypothesisTable", "InsertOutcome", "hypothesis_layout", "insert_layout"]
