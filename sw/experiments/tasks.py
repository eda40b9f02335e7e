"""The two recognition tasks as decoding graphs, and what the hardware needs to decode them.

A task's graph comes from a corpus (``asrhw corpus``): the digit loop over the digit words, or
the bigram over the training sentences of the >= 1,000-word task. Without a corpus, a random
lexicon and random sentences of the same size stand in (labelled ``synthetic``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hw.config import CostConfig, ViterbiConfig, bits_for
from sw.graph import Graph

__all__ = ["DEFAULT_COST", "fitted_config", "loglik_costs", "penalized", "task_graph"]

DEFAULT_COST = CostConfig()


def task_graph(task: str, *, seed: int = 0, corpus=None) -> tuple[Graph, str]:
    """The decoding graph of ``task`` (``words`` or ``digits``) and where it came from."""
    from sw.graph_build import (
        build_bigram_graph,
        build_digit_loop,
        random_lexicon,
        random_sentences,
    )

    if task not in ("words", "digits"):
        raise ValueError(f"task must be 'words' or 'digits', not {task!r}")
    if corpus is not None:
        from sw.corpus import load_lexicon_of, train_sentences

        lexicon = load_lexicon_of(corpus)
        if task == "digits":
            digits = sorted({w for s in train_sentences(corpus, "digits") for w in s})
            return build_digit_loop(lexicon, digits), f"corpus {corpus}"
        sentences = train_sentences(corpus, "words")
        vocabulary = sorted({w for s in sentences for w in s})
        return build_bigram_graph(lexicon, sentences, vocabulary), f"corpus {corpus}"
    if task == "digits":
        lexicon = random_lexicon(seed, num_words=11, num_phones=20, max_phones_per_word=4)
        return build_digit_loop(lexicon), "synthetic 11-word digit-like loop"
    lexicon = random_lexicon(seed, num_words=1000, num_phones=40, max_phones_per_word=6)
    words = sorted(lexicon.prons)
    sentences = random_sentences(seed, words, 3000)
    return build_bigram_graph(lexicon, sentences, words), "synthetic 1,000-word bigram"


def penalized(graph: Graph, penalty: float) -> Graph:
    """``graph`` with ``penalty`` added to every arc with an output label (the word insertion
    penalty as the hardware sees it: part of the graph's unsigned costs)."""
    if penalty == 0:
        return graph
    if not np.isfinite(penalty) or penalty < 0:
        raise ValueError(f"word penalty must be a finite number >= 0 for the hardware's "
                         f"unsigned graph costs, not {penalty!r}")
    cost = graph.arc_cost + np.where(graph.arc_olabel != 0, float(penalty), 0.0)
    return dataclasses.replace(graph, arc_cost=cost)


def loglik_costs(loglik, acoustic_scale: float, cost: CostConfig = DEFAULT_COST) -> np.ndarray:
    """Fixed-point costs ``round(scale * (max_t - loglik) * 2**cost_frac)``, saturated: what
    the cost unit hands the Viterbi unit (relative to the frame's best pdf)."""
    loglik = np.asarray(loglik, dtype=np.float64)
    if not np.all(np.isfinite(loglik)):
        raise ValueError("log-likelihoods contain NaN or infinite values")
    relative = loglik.max(axis=1, keepdims=True) - loglik if loglik.size else loglik
    scaled = np.rint(acoustic_scale * relative * (1 << cost.cost_frac))
    return np.minimum(scaled, (1 << cost.cost_width) - 1).astype(np.int64)


def fitted_config(graph: Graph, *, sets: int, ways: int, beam: float = 16.0,
                  trace_depth: int = 4096, max_epsilon_passes: int = 4,
                  hash_kind: str = "xor_fold", cost: CostConfig = DEFAULT_COST,
                  skip_settled_passes: bool = True) -> ViterbiConfig:
    """A unit whose memories and widths just hold ``graph``; ``beam`` in cost units (float)."""
    return ViterbiConfig(sets=sets, ways=ways, hash=hash_kind,
                         state_bits=bits_for(graph.num_states - 1),
                         max_states=graph.num_states, max_arcs=max(1, graph.num_arcs),
                         max_pdfs=graph.num_pdfs, word_bits=bits_for(len(graph.words) - 1),
                         beam=int(round(beam * (1 << cost.cost_frac))), trace_depth=trace_depth,
                         max_epsilon_passes=max_epsilon_passes, cost=cost,
                         skip_settled_passes=skip_settled_passes)
