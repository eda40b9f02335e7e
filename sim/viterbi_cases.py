"""Utterances for the Viterbi unit's RTL checks: graph, per-frame costs, and what the golden
model says the unit must produce, deterministic from a seed.

One generator serves pytest, ``asrhw sim viterbi`` and the cocotb testbench, so a failing case
is reproduced by its seed and index alone. The expectation is plain JSON-able data because it
travels to the cocotb process through a file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hw.config import CostConfig, ViterbiConfig
from sw.golden.viterbi import Counters, decode
from sw.golden.viterbi_image import graph_image
from sw.graph import Graph, random_graph

__all__ = ["COLLECT_CONFIG", "SIM_CONFIG", "ViterbiCase", "expectation", "make_case",
           "make_cases", "make_collect_cases"]

GOLDEN_COUNTERS = tuple(field.name for field in dataclasses.fields(Counters))

# The design the simulator suites build once and load every graph into at run time: a small
# table so that sets fill up, replacements and drops happen, and the beam bites; narrow costs
# so that they saturate; a short trace memory, collected only when nearly full, so that it is
# collected and can still overflow.
SIM_CONFIG = ViterbiConfig(sets=8, ways=2, hash="xor_fold", state_bits=8, max_states=256,
                           max_arcs=1024, max_pdfs=64, beam=40 * 16, trace_depth=48,
                           trace_gc_free=4, max_epsilon_passes=3, word_bits=6,
                           cost=CostConfig(cost_width=12, cost_frac=4))

# The same unit collecting its trace when half of it is in use: with the long, word-rich
# utterances of :func:`make_collect_cases`, a collection at most frame boundaries.
COLLECT_CONFIG = dataclasses.replace(SIM_CONFIG, trace_gc_free=24)


@dataclass(frozen=True)
class ViterbiCase:
    """One utterance: a graph and its acoustic costs (``int[frames, pdfs]``)."""

    name: str
    graph: Graph
    costs: np.ndarray


def make_case(index: int, seed: int, config: ViterbiConfig = SIM_CONFIG) -> ViterbiCase:
    """Case ``index`` of the sequence for ``seed``: a random graph and random costs."""
    rng = np.random.default_rng([seed, index])
    max_words = (1 << config.word_bits) - 1
    while True:
        num_states = int(rng.integers(1, min(config.max_states, 60) + 1))
        graph = random_graph(int(rng.integers(1 << 30)), num_states=num_states,
                             num_pdfs=int(rng.integers(1, config.max_pdfs + 1)),
                             num_words=int(rng.integers(1, min(max_words, 20) + 1)),
                             arcs_per_state=float(rng.choice([1.0, 2.0, 3.0, 5.0])),
                             epsilon_fraction=float(rng.choice([0.0, 0.1, 0.3])))
        if graph.num_arcs <= config.max_arcs:
            break
    frames = int(rng.choice([0, 1, 3, 8, 20])) if index else 0
    # Mostly moderate costs so that the beam keeps several hypotheses alive, some saturating.
    high = int(rng.choice([16, 64, 256, config.cost_max]))
    costs = rng.integers(0, min(high, config.cost_max) + 1, size=(frames, graph.num_pdfs))
    return ViterbiCase(name=f"random-{seed}-{index}", graph=graph, costs=costs)


def make_cases(count: int, seed: int, config: ViterbiConfig = SIM_CONFIG) -> list:
    """The first ``count`` cases for ``seed``."""
    return [make_case(index, seed, config) for index in range(count)]


def make_collect_cases(count: int, seed: int, config: ViterbiConfig = COLLECT_CONFIG) -> list:
    """``count`` long utterances (30 to 60 frames) on graphs with many words, so that the
    trace of ``config`` is collected many times per utterance."""
    cases = []
    for index in range(count):
        rng = np.random.default_rng([seed, index, 7])
        while True:
            graph = random_graph(int(rng.integers(1 << 30)),
                                 num_states=int(rng.integers(10, min(config.max_states, 60) + 1)),
                                 num_pdfs=int(rng.integers(4, config.max_pdfs + 1)),
                                 num_words=int(rng.integers(5, min((1 << config.word_bits) - 1,
                                                                   40) + 1)),
                                 arcs_per_state=float(rng.choice([2.0, 3.0, 5.0])),
                                 epsilon_fraction=float(rng.choice([0.0, 0.1, 0.3])))
            if graph.num_arcs <= config.max_arcs:
                break
        frames = int(rng.integers(30, 61))
        high = int(rng.choice([16, 64, 256]))
        costs = rng.integers(0, min(high, config.cost_max) + 1, size=(frames, graph.num_pdfs))
        cases.append(ViterbiCase(name=f"collect-{seed}-{index}", graph=graph, costs=costs))
    return cases


def expectation(case: ViterbiCase, config: ViterbiConfig) -> dict:
    """What the unit must load and produce for ``case``, as JSON-able data."""
    image = graph_image(case.graph, config)
    result = decode(case.graph, case.costs, config, keep_tables=True)
    tables = []
    for snapshot in result.tables:
        entries = []
        for s in range(config.sets):
            for w in range(config.ways):
                state, cost, trace = (int(v) for v in snapshot[s, w])
                if state >= 0:
                    entries.append([s, w, state, cost, trace])
        tables.append(entries)
    return {
        "name": case.name,
        "states": image.states, "arcs": image.arcs, "start": image.start,
        "start_has_eps": int(image.start_has_eps),
        "costs": case.costs.astype(int).tolist(),
        "words": [int(w) for w in result.words], "total_cost": int(result.total_cost),
        "final_reached": int(result.final_reached),
        "trace_overflow": int(result.trace_overflow),
        "trace_appends": result.trace_appends, "trace_peak": result.trace_peak,
        "counters": {name: int(getattr(result.counters, name)) for name in GOLDEN_COUNTERS},
        "tables": tables,
    }
