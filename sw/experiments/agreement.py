"""Does the bit-exact hardware decoder find the float decoder's best path?

With a table that never evicts (one set per state, or enough ways) and fine fixed point, the
golden hardware model differs from the float reference decoder only by its beam rule
(order-exact running best instead of Kaldi's previous-frame cutoff) and by rounding. This
counts utterances whose word sequences agree and keeps the others for inspection.
"""

from __future__ import annotations

import numpy as np

from hw.config import CostConfig, ViterbiConfig, bits_for
from sw.experiments.tasks import fitted_config, loglik_costs

__all__ = ["FINE_COST", "agreement", "unbounded_config"]

FINE_COST = CostConfig(cost_width=28, cost_frac=10)


def unbounded_config(graph, *, beam: float = 16.0, cost: CostConfig = FINE_COST
                     ) -> ViterbiConfig:
    """A table that holds every state of ``graph`` without eviction (xor-fold of a state id
    below ``sets`` is the id itself, so each set holds at most ``ceil(states / sets)``)."""
    states = graph.num_states
    sets = min(4096, 1 << bits_for(states - 1))
    ways = -(-states // sets)
    if ways > 16:
        raise ValueError(f"a graph of {states} states needs {ways} ways per set (at most 16)")
    return fitted_config(graph, sets=sets, ways=ways, beam=beam, trace_depth=65536,
                         max_epsilon_passes=16, cost=cost)


def agreement(graph, logliks, *, acoustic_scale: float, beam: float = 16.0) -> dict:
    """Decode every log-likelihood matrix with both decoders; count equal word sequences."""
    from sw.decoder import DecoderOptions, PreparedGraph, decode
    from sw.golden.viterbi import decode as golden_decode

    config = unbounded_config(graph, beam=beam)
    options = DecoderOptions(beam=beam, acoustic_scale=acoustic_scale)
    prepared = PreparedGraph(graph, 0.0)
    differing = []
    for index, loglik in enumerate(logliks):
        reference = decode(prepared, loglik, options)
        # The cost unit subtracts each frame's best score; that shifts every path of a frame
        # by the same amount, so the best path is unchanged.
        costs = loglik_costs(np.asarray(loglik), acoustic_scale, config.cost)
        golden = golden_decode(graph, costs, config)
        if tuple(golden.words) != tuple(reference.words):
            differing.append({"utterance": index, "float": list(reference.words),
                              "golden": list(golden.words),
                              "float_final": bool(reference.final_reached),
                              "golden_final": bool(golden.final_reached),
                              "golden_drops": golden.counters.drops,
                              "trace_overflow": golden.trace_overflow})
    count = len(logliks)
    return {"utterances": count, "same_words": count - len(differing),
            "fraction": (count - len(differing)) / max(1, count), "table_entries":
            config.table_entries, "cost_width": config.cost.cost_width,
            "cost_frac": config.cost.cost_frac, "differing": differing}
