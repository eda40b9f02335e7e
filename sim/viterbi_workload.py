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


def model_workload(corpus, model_path, task: str, *, split: str = "test", count: int = 100,
                   acoustic_scale: float = 0.1, cost=DEFAULT_COST) -> list:
    """Cost matrices of ``count`` corpus utterances scored by a (pruned) acoustic model:
    ``log_softmax(logits) - log_priors`` as pseudo log-likelihoods, then the cost unit's
    conversion."""
    import numpy as np

    from sw.corpus import load_utterances
    from sw.model import load_model, log_softmax

    model = load_model(model_path)
    priors = model.log_priors if model.log_priors is not None else 0.0
    out = []
    for utterance in load_utterances(corpus, task, split)[:count]:
        log_posteriors = log_softmax(model.logits(utterance.features).astype(np.float64))
        out.append(loglik_costs(log_posteriors - priors, acoustic_scale, cost))
    return out
