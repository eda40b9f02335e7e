"""The Viterbi unit's graph memories as integers: what sim/ and boards/ load into the RTL.

Each state's arcs are stored emitting first, then epsilon, each group in CSR order: the golden
model visits only emitting arcs while expanding a frame and only epsilon arcs in the epsilon
passes, both in CSR order, so the hardware can walk one contiguous range per phase. Words are
packed with the field order of ``ViterbiConfig.state_record_fields`` / ``arc_record_fields``
(least significant field first), the same order the RTL's layouts use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.config import ConfigError, ViterbiConfig
from sw.graph import Graph

__all__ = ["ViterbiImage", "graph_image", "pack", "unpack"]


def pack(fields, values: dict) -> int:
    """Pack ``values`` into one word with ``fields`` = ``(name, width)``, LSB first."""
    word, shift = 0, 0
    for name, width in fields:
        value = int(values[name])
        if not 0 <= value < 1 << width:
            raise ValueError(f"field {name} = {value} does not fit {width} bits")
        word |= value << shift
        shift += width
    return word


def unpack(fields, word: int) -> dict:
    """Inverse of :func:`pack`."""
    values, shift = {}, 0
    for name, width in fields:
        values[name] = (int(word) >> shift) & ((1 << width) - 1)
        shift += width
    return values


@dataclass(frozen=True)
class ViterbiImage:
    """Memory contents of one graph for one configuration.

    Attributes
    ----------
    states : list of int
        Packed state records, one per state.
    arcs : list of int
        Packed arc records in hardware order.
    start : int
        Start state.
    start_has_eps : bool
        Whether the start state has epsilon arcs.
    num_pdfs : int
        Scores per frame.
    """

    states: list
    arcs: list
    start: int
    start_has_eps: bool
    num_pdfs: int


def graph_image(graph: Graph, config: ViterbiConfig) -> ViterbiImage:
    """Lay ``graph`` out in the unit's memories; raise ``ConfigError`` if it does not fit."""
    config.check_graph(graph.num_states, len(graph.words))
    config.check_memories(graph.num_states, graph.num_arcs, graph.num_pdfs)
    arc_cost, final_cost = graph.fixed_point_costs(config.cost.cost_frac, config.cost_max)
    emitting = graph.arc_ilabel != 0
    has_eps = np.zeros(graph.num_states, dtype=bool)
    for state in range(graph.num_states):
        arcs = graph.arcs(state)
        has_eps[state] = len(arcs) > 0 and bool(np.any(~emitting[arcs.start:arcs.stop]))
    states, arcs = [], []
    for state in range(graph.num_states):
        span = graph.arcs(state)
        order = [a for a in span if emitting[a]] + [a for a in span if not emitting[a]]
        split = span.start + int(np.count_nonzero(emitting[span.start:span.stop]))
        states.append(pack(config.state_record_fields, {
            "begin": span.start, "split": split, "end": span.stop,
            "final": final_cost[state]}))
        for a in order:
            if graph.arc_olabel[a] >= 1 << config.word_bits:
                raise ConfigError(f"word id {int(graph.arc_olabel[a])} does not fit "
                                  f"word_bits {config.word_bits}")
            dest = int(graph.arc_dest[a])
            arcs.append(pack(config.arc_record_fields, {
                "dest": dest, "pdf": max(int(graph.arc_ilabel[a]) - 1, 0),
                "word": int(graph.arc_olabel[a]), "cost": arc_cost[a],
                "dest_has_eps": has_eps[dest]}))
    return ViterbiImage(states=states, arcs=arcs, start=int(graph.start),
                        start_has_eps=bool(has_eps[graph.start]), num_pdfs=int(graph.num_pdfs))
