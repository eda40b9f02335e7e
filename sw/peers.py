"""Kaldi's FasterDecoder (``kaldi-decoder`` + ``kaldifst``) on our graphs and scores.

The graph becomes a ``kaldifst.StdVectorFst`` with the same state ids, the same arc order (no
arc sorting: FasterDecoder visits every arc of a state, and the order decides ties and the
running cutoff) and the float32 weights of :func:`sw.decoder.kaldi_arc_costs`. Scores go in
as ``DecodableCtc(float32(acoustic_scale * loglik))``, whose ``LogLikelihood(t, ilabel)`` reads
column ``ilabel - 1`` — our ``ilabel = pdf + 1`` convention. A fresh decoder per utterance keeps
Kaldi's hash size (which grows within one decoder object) from leaking between utterances.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sw.decoder import (
    DecoderError,
    DecoderOptions,
    kaldi_arc_costs,
    kaldi_final_costs,
    scaled_loglikes,
)
from sw.graph import Graph

__all__ = ["KaldiFasterDecoder", "KaldiResult", "cost_difference", "same_result",
           "to_kaldi_fst"]


def to_kaldi_fst(graph: Graph, word_penalty: float = 0.0):
    """``kaldifst.StdVectorFst`` equal to ``graph`` (weights with the word penalty)."""
    import kaldifst

    fst = kaldifst.StdVectorFst()
    for _ in range(graph.num_states):
        fst.add_state()
    fst.start = int(graph.start)
    weight = kaldi_arc_costs(graph, word_penalty).tolist()
    dest, ilabel, olabel = (graph.arc_dest.tolist(), graph.arc_ilabel.tolist(),
                            graph.arc_olabel.tolist())
    offset = graph.state_offset.tolist()
    for state in range(graph.num_states):
        for arc in range(offset[state], offset[state + 1]):
            fst.add_arc(state, kaldifst.StdArc(ilabel[arc], olabel[arc], weight[arc],
                                               dest[arc]))
    final = kaldi_final_costs(graph)
    for state in np.flatnonzero(np.isfinite(final)).tolist():
        fst.set_final(state, float(final[state]))
    return fst


@dataclass
class KaldiResult:
    """Outcome of one Kaldi decode.

    Attributes
    ----------
    words : tuple of int
        Output labels of the best path.
    text : tuple of str
        The words as strings.
    cost : float
        Graph + acoustic cost of the best path (``inf`` if Kaldi returned no path).
    final_reached : bool
        Kaldi's ``ReachedFinal()``.
    seconds : float
        Wall time of ``decode`` + ``get_best_path``.
    frames : int
        Frames decoded.
    """

    words: tuple
    text: tuple
    cost: float
    final_reached: bool
    seconds: float
    frames: int

    @property
    def seconds_per_frame(self) -> float:
        """Wall time per frame (0 for an empty utterance)."""
        return self.seconds / self.frames if self.frames else 0.0


def cost_difference(ours: float, theirs: float) -> float:
    """``|ours - theirs| / max(|theirs|, 1)``: relative, except that costs below 1 in size
    are compared absolutely. With log-likelihood-ratio scores a path's total can cross zero
    (0.024 on one corpus utterance) while Kaldi's float32 sums of terms in the hundreds are
    off by ~3e-4 absolute, which a purely relative test would call a 1 % disagreement."""
    return abs(ours - theirs) / max(abs(theirs), 1.0)


def same_result(ours, theirs, *, relative: float = 1e-3) -> bool:
    """Whether two decodes agree: same words, same final-state flag, and
    :func:`cost_difference` at most ``relative`` (both infinite counts as equal). Works on any
    two results with ``words``, ``cost`` and ``final_reached`` (float decoder, Kaldi)."""
    if tuple(ours.words) != tuple(theirs.words) or ours.final_reached != theirs.final_reached:
        return False
    if np.isinf(ours.cost) or np.isinf(theirs.cost):
        return ours.cost == theirs.cost
    return cost_difference(ours.cost, theirs.cost) <= relative


class KaldiFasterDecoder:
    """Kaldi ``FasterDecoder`` over one graph; build once, call :meth:`decode` per utterance.

    Parameters
    ----------
    graph : Graph
        Decoding graph.
    options : DecoderOptions
        The same options as the float decoder (scale and penalty applied here, since Kaldi's
        ``DecodableCtc`` has no acoustic scale).
    """

    def __init__(self, graph: Graph, options: DecoderOptions | None = None):
        if not isinstance(graph, Graph):
            raise DecoderError(f"graph must be a sw.graph.Graph, not {type(graph).__name__}")
        self.graph = graph
        self.options = DecoderOptions() if options is None else options
        self.fst = to_kaldi_fst(graph, self.options.word_penalty)

    def decode(self, loglik) -> KaldiResult:
        """Decode one utterance of log-likelihoods ``[frames, num_pdfs]``."""
        import kaldi_decoder
        import kaldifst

        opt = self.options
        scores = scaled_loglikes(loglik, self.graph.num_pdfs, opt.acoustic_scale)
        kaldi_options = kaldi_decoder.FasterDecoderOptions(
            beam=opt.beam, max_active=opt.max_active, min_active=opt.min_active,
            beam_delta=opt.beam_delta, hash_ratio=opt.hash_ratio)
        began = time.perf_counter()
        decoder = kaldi_decoder.FasterDecoder(self.fst, kaldi_options)
        decoder.decode(kaldi_decoder.DecodableCtc(scores))
        final_reached = decoder.reached_final()
        ok, path = decoder.get_best_path()
        seconds = time.perf_counter() - began
        words, cost = (), float("inf")
        if ok:
            linear_ok, _ilabels, olabels, weight = kaldifst.get_linear_symbol_sequence(path)
            if linear_ok:
                words = tuple(int(w) for w in olabels)
                cost = float(weight.value1) + float(weight.value2)
        return KaldiResult(words=words, text=tuple(self.graph.words[w] for w in words),
                           cost=cost, final_reached=bool(final_reached), seconds=seconds,
                           frames=scores.shape[0])
