"""Utterances on real-sized graphs for the Viterbi unit's benches and checks.

Graphs and the unit sized for them come from :mod:`sw.experiments.tasks`. Scores come from
``sw.decoder.synthetic_loglikes`` (a random walk through the graph with noisy posteriors,
labelled synthetic) and become fixed-point costs as the cost unit makes them.
"""

from __future__ import annotations

from sw.experiments.tasks import DEFAULT_COST, fitted_config, loglik_costs, task_graph

__all__ = ["fitted_config", "loglik_costs", "task_graph", "workload"]


def workload(graph, *, utterances: int, frames: int, seed: int, acoustic_scale: float = 1.0,
             cost=DEFAULT_COST, boost: float = 4.0) -> list:
    """``utterances`` SYNTHETIC cost matrices of ``frames`` frames for ``graph``."""
    from sw.decoder import synthetic_loglikes

    return [loglik_costs(synthetic_loglikes(graph, seed * 1000 + i, frames, boost=boost)[0],
                         acoustic_scale, cost) for i in range(utterances)]
