"""Float reference Viterbi beam decoder with the semantics of Kaldi's ``FasterDecoder``.

It reproduces ``kaldi-decoder``'s ``faster-decoder.cc`` step by step, vectorised per frame with
NumPy, so that it agrees with the C++ decoder (:mod:`sw.peers`) on the word sequence and, to
rounding, on the cost — including the parts of Kaldi's search that depend on processing order:

- **Numbers.** Arc weights, final weights and acoustic log-likelihoods are 32-bit floats (as in
  the ``StdVectorFst`` and the ``DecodableCtc`` Kaldi reads); token costs accumulate in float64
  in Kaldi's order, ``(arc weight + token cost) + acoustic cost``. The beam, ``beam_delta`` and
  the adaptive beam are float32; ``GetCutoff`` ranks token costs as float32.
- **GetCutoff.** ``best`` = lowest token cost (first in list order); cutoff = ``best + beam``,
  unless more than ``max_active`` tokens make the ``max_active``-th smallest cost tighter, or
  ``min_active`` (with more than ``min_active`` tokens) makes its cost looser; those cases set the
  adaptive beam to ``cutoff - best + beam_delta``. With ``min_active`` or fewer tokens the cutoff
  is infinite (no pruning at all), exactly as in Kaldi.
- **ProcessEmitting.** Tokens with ``cost < cutoff`` (strict) are expanded in list order, arcs in
  CSR order. The next-frame cutoff starts from the best token's arcs (``min(new + adaptive
  beam)``) and tightens as arcs are processed; an arc survives if its cost is below the cutoff
  *at that moment* (the running cutoff is a prefix minimum, which is what makes this
  vectorisable). Same destination: the lower cost wins, ties keep the first.
- **Token list order** is Kaldi's ``HashList``: buckets ``state % hash_size`` in order of first
  use, elements within a bucket in insertion order; ``hash_size`` starts at 1000 and grows to
  ``tokens * hash_ratio``. The order decides ties, the running cutoff and the epsilon queue.
- **ProcessNonemitting.** A LIFO queue seeded with the list; a popped token above the cutoff is
  skipped; epsilon arcs whose new cost exceeds the cutoff are pruned; a strictly better token
  replaces the old one and is queued again. This part is a Python loop over the tokens whose
  state has epsilon arcs (few in our graphs).
- **End.** If any token sits in a final state, the best ``cost + final`` wins; otherwise the best
  token (``final_reached`` False). No tokens at all gives no words and an infinite cost.

Acoustic costs are ``-acoustic_scale * loglik`` (rounded to float32 once, by
:func:`scaled_loglikes`); the word insertion penalty is added to every arc with an output label
(:func:`kaldi_arc_costs`). :mod:`sw.peers` feeds Kaldi the same two arrays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from sw.graph import Graph

__all__ = ["DecodeResult", "DecoderError", "DecoderOptions", "PreparedGraph", "TuneResult",
           "decode", "kaldi_arc_costs", "kaldi_final_costs", "scaled_loglikes",
           "synthetic_loglikes", "tune", "word_errors"]

INT32_MAX = 2 ** 31 - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
INITIAL_HASH_SIZE = 1000  # FasterDecoder's constructor: toks_.SetSize(1000)


class DecoderError(ValueError):
    """Scores, graph or options that the decoder cannot use; the message says which and why."""


@dataclass(frozen=True)
class DecoderOptions:
    """Search options (Kaldi ``FasterDecoderOptions`` plus scale and penalty).

    Attributes
    ----------
    beam : float
        Decoding beam (> 0).
    max_active : int
        At most this many tokens are expanded per frame (> 1; ``2**31 - 1`` = unbounded).
    min_active : int
        No beam pruning while there are at most this many tokens (``0 <= min_active <
        max_active``). Kaldi's default is 20.
    beam_delta : float
        Added to the adaptive beam when max/min-active decide the cutoff (>= 0).
    hash_ratio : float
        Kaldi's hash size / token count (>= 1); it decides the token list order.
    acoustic_scale : float
        Acoustic costs are ``-acoustic_scale * loglik`` (> 0).
    word_penalty : float
        Added to the graph cost of every arc with an output label (any finite value).
    """

    beam: float = 16.0
    max_active: int = INT32_MAX
    min_active: int = 20
    beam_delta: float = 0.5
    hash_ratio: float = 2.0
    acoustic_scale: float = 1.0
    word_penalty: float = 0.0

    def __post_init__(self):
        _check_float("beam", self.beam, low=0.0, low_open=True)
        _check_int("max_active", self.max_active, 2, INT32_MAX)
        _check_int("min_active", self.min_active, 0, self.max_active - 1)
        _check_float("beam_delta", self.beam_delta, low=0.0)
        _check_float("hash_ratio", self.hash_ratio, low=1.0)
        _check_float("acoustic_scale", self.acoustic_scale, low=0.0, low_open=True)
        _check_float("word_penalty", self.word_penalty)


def _check_float(name, value, *, low=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value):
        raise DecoderError(f"{name} must be a finite number, not {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise DecoderError(f"{name} = {value!r} must be {'>' if low_open else '>='} {low}")


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DecoderError(f"{name} must be an int, not {value!r}")
    if not low <= value <= high:
        raise DecoderError(f"{name} = {value} is outside {low}..{high}")


def kaldi_arc_costs(graph: Graph, word_penalty: float = 0.0) -> np.ndarray:
    """Arc weights as Kaldi stores them: ``float32(cost + penalty if olabel else cost)``."""
    cost = graph.arc_cost + np.where(graph.arc_olabel != 0, float(word_penalty), 0.0)
    return cost.astype(np.float32)


def kaldi_final_costs(graph: Graph) -> np.ndarray:
    """Final weights as float32 (``inf`` for non-final states)."""
    return graph.final_cost.astype(np.float32)


def scaled_loglikes(loglik, num_pdfs: int, acoustic_scale: float = 1.0) -> np.ndarray:
    """``float32(acoustic_scale * loglik)``: the log-likelihoods both decoders read.

    Raises :class:`DecoderError` on a wrong shape or non-finite values.
    """
    loglik = np.asarray(loglik)
    if loglik.ndim != 2 or loglik.shape[1] != num_pdfs:
        raise DecoderError(f"scores must have shape (frames, {num_pdfs}) for this graph's "
                           f"{num_pdfs} pdfs, not {loglik.shape}")
    if loglik.dtype.kind not in "fiu":
        raise DecoderError(f"scores must be numbers, not dtype {loglik.dtype}")
    if not np.all(np.isfinite(loglik)):
        bad = np.argwhere(~np.isfinite(loglik))[0]
        raise DecoderError(f"scores[{bad[0]}, {bad[1]}] = {loglik[bad[0], bad[1]]} is not finite "
                           f"(NaN or infinite log-likelihood)")
    return np.ascontiguousarray(float(acoustic_scale) * loglik.astype(np.float64),
                                dtype=np.float32)


class PreparedGraph:
    """A graph split into emitting and epsilon CSR arrays with Kaldi's float32 weights.

    Build it once per (graph, word penalty) and reuse it for many utterances.
    """

    def __init__(self, graph: Graph, word_penalty: float = 0.0):
        if not isinstance(graph, Graph):
            raise DecoderError(f"graph must be a sw.graph.Graph, not {type(graph).__name__}")
        self.graph = graph
        self.word_penalty = float(word_penalty)
        weight = kaldi_arc_costs(graph, word_penalty).astype(np.float64)
        src = np.repeat(np.arange(graph.num_states), np.diff(graph.state_offset))
        emitting = graph.arc_ilabel != 0
        self.emit_offset = _offsets(src[emitting], graph.num_states)
        self.emit_dest = graph.arc_dest[emitting]
        self.emit_pdf = graph.arc_ilabel[emitting] - 1
        self.emit_olabel = graph.arc_olabel[emitting]
        self.emit_weight = weight[emitting]
        self.eps_arcs: list[tuple] = [()] * graph.num_states
        eps = np.flatnonzero(~emitting)  # CSR order: grouped by source state
        states, starts = np.unique(src[eps], return_index=True)
        groups = np.split(eps, starts[1:]) if eps.size else []
        for state, idx in zip(states.tolist(), groups, strict=True):
            self.eps_arcs[state] = tuple(zip(graph.arc_dest[idx].tolist(), weight[idx].tolist(),
                                             graph.arc_olabel[idx].tolist(), strict=True))
        self.has_eps = np.array([bool(a) for a in self.eps_arcs], dtype=bool)
        self.final = kaldi_final_costs(graph).astype(np.float64)


def _offsets(src: np.ndarray, num_states: int) -> np.ndarray:
    offsets = np.zeros(num_states + 1, dtype=np.int64)
    np.add.at(offsets, src + 1, 1)
    return np.cumsum(offsets)


def _gather(offset: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arc indices of ``states`` in order, and for each the position of its state."""
    starts, ends = offset[states], offset[states + 1]
    counts = ends - starts
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(states)), counts)
    first = np.cumsum(counts) - counts
    return starts[owner] + np.arange(total) - first[owner], owner


@dataclass
class DecodeResult:
    """Outcome of :func:`decode`.

    Attributes
    ----------
    words : tuple of int
        Word ids (output labels) of the best path.
    text : tuple of str
        The same words as strings (``graph.words``).
    cost : float
        Total cost of the best path (graph + scaled acoustic + final cost; ``inf`` if no token
        survived).
    final_reached : bool
        Whether a token ended in a final state (else the best token was used).
    tokens_per_frame : numpy.ndarray
        Tokens alive at the start of each frame (Kaldi's ``tok_cnt`` of ``GetCutoff``).
    expanded_per_frame : numpy.ndarray
        Tokens below the cutoff, whose emitting arcs were expanded.
    arcs_per_frame : numpy.ndarray
        Arcs evaluated per frame (emitting arcs of expanded tokens + epsilon arcs of the
        frame's non-emitting pass).
    seconds : float
        Wall time of the search.
    """

    words: tuple
    text: tuple
    cost: float
    final_reached: bool
    tokens_per_frame: np.ndarray
    expanded_per_frame: np.ndarray
    arcs_per_frame: np.ndarray
    seconds: float = 0.0

    @property
    def seconds_per_frame(self) -> float:
        """Wall time per frame (0 for an empty utterance)."""
        frames = len(self.tokens_per_frame)
        return self.seconds / frames if frames else 0.0


class _Trace:
    """Word back-pointers: entry ``i`` is (word, parent entry), -1 ends the chain."""

    def __init__(self):
        self.word = np.zeros(1024, dtype=np.int64)
        self.parent = np.zeros(1024, dtype=np.int64)
        self.size = 0

    def extend(self, words: np.ndarray, parents: np.ndarray) -> np.ndarray:
        need = self.size + len(words)
        if need > len(self.word):
            grow = max(need, 2 * len(self.word))
            self.word = np.resize(self.word, grow)
            self.parent = np.resize(self.parent, grow)
        self.word[self.size:need] = words
        self.parent[self.size:need] = parents
        index = np.arange(self.size, need)
        self.size = need
        return index

    def words(self, pointer: int) -> tuple:
        out = []
        while pointer >= 0:
            out.append(int(self.word[pointer]))
            pointer = int(self.parent[pointer])
        return tuple(reversed(out))


class _Tokens:
    """The token list of one frame, in Kaldi HashList order."""

    __slots__ = ("state", "cost", "trace")

    def __init__(self, state, cost, trace):
        self.state, self.cost, self.trace = state, cost, trace


class _Search:
    def __init__(self, prepared: PreparedGraph, options: DecoderOptions):
        self.g = prepared
        self.opt = options
        self.beam = float(np.float32(options.beam))
        self.beam_delta = float(np.float32(options.beam_delta))
        self.hash_size = INITIAL_HASH_SIZE
        self.trace = _Trace()
        self.where = np.full(prepared.graph.num_states, -1, dtype=np.int64)

    def cutoff(self, cost: np.ndarray) -> tuple[float, float, int]:
        """Kaldi ``GetCutoff``: (cutoff, adaptive beam, index of the best token)."""
        opt = self.opt
        best_index = int(np.argmin(cost))
        best = float(cost[best_index])
        beam_cutoff = best + self.beam
        if opt.max_active == INT32_MAX and opt.min_active == 0:
            return beam_cutoff, self.beam, best_index
        ranked = cost.astype(np.float32)  # Kaldi's tmp_array_ is a vector<float>
        count = len(cost)
        if count > opt.max_active:
            max_cut = float(np.partition(ranked, opt.max_active)[opt.max_active])
            if max_cut < beam_cutoff:
                return max_cut, float(np.float32(max_cut - best + self.beam_delta)), best_index
        min_cut = np.inf
        if count > opt.min_active:
            min_cut = best if opt.min_active == 0 else \
                float(np.partition(ranked, opt.min_active)[opt.min_active])
        if min_cut > beam_cutoff:
            return min_cut, float(np.float32(min_cut - best + self.beam_delta)), best_index
        return beam_cutoff, self.beam, best_index

    def emitting(self, toks: _Tokens, ac_cost: np.ndarray):
        """Kaldi ``ProcessEmitting``; returns (new list pieces, next cutoff, counters)."""
        g = self.g
        cutoff, adaptive, best_index = self.cutoff(toks.cost)
        new_size = int(np.float32(len(toks.cost)) * np.float32(self.opt.hash_ratio))
        self.hash_size = max(self.hash_size, new_size)

        best_state = int(toks.state[best_index])
        lo, hi = g.emit_offset[best_state], g.emit_offset[best_state + 1]
        bound = np.inf
        if hi > lo:
            new = (g.emit_weight[lo:hi] + toks.cost[best_index]) + ac_cost[g.emit_pdf[lo:hi]]
            bound = float(np.min(new + adaptive))

        expand = np.flatnonzero(toks.cost < cutoff)
        arcs, owner = _gather(g.emit_offset, toks.state[expand])
        parent = expand[owner]
        new = (g.emit_weight[arcs] + toks.cost[parent]) + ac_cost[g.emit_pdf[arcs]]
        running = np.minimum.accumulate(new + adaptive)
        before = np.empty_like(new)
        if len(new):
            before[0] = bound
            np.minimum(running[:-1], bound, out=before[1:])
        keep = np.flatnonzero(new < before)
        next_cutoff = float(min(bound, running[-1])) if len(new) else bound

        dest, cost = g.emit_dest[arcs[keep]], new[keep]
        # Winner per destination: lowest cost, ties to the earliest arc (Kaldi keeps the old).
        order = np.lexsort((cost, dest))  # stable: equal costs stay in arc order
        first_of_dest = np.ones(len(order), dtype=bool)
        first_of_dest[1:] = dest[order[1:]] != dest[order[:-1]]
        group = np.flatnonzero(first_of_dest)
        winners = order[group]
        states = dest[winners]
        # Insertion time of each element = its first surviving arc.
        first_time = np.minimum.reduceat(order, group) if len(group) else group
        trace = toks.trace[parent[keep[winners]]]
        olabel = g.emit_olabel[arcs[keep[winners]]]
        worded = np.flatnonzero(olabel)
        if worded.size:
            trace = trace.copy()
            trace[worded] = self.trace.extend(olabel[worded], trace[worded])
        return (states, cost[winners], trace, first_time.astype(np.int64),
                next_cutoff, len(expand), len(arcs))

    def order(self, states, times):
        """HashList order of elements inserted at ``times``: (permutation, bucket first-use)."""
        if not len(states):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        bucket = states % self.hash_size
        order_b = np.lexsort((times, bucket))
        b_sorted = bucket[order_b]
        starts = np.flatnonzero(np.r_[True, b_sorted[1:] != b_sorted[:-1]])
        first = np.minimum.reduceat(times[order_b], starts)
        key = np.repeat(first, np.diff(np.r_[starts, len(order_b)]))
        bucket_key = np.empty(len(states), dtype=np.int64)
        bucket_key[order_b] = key
        return np.lexsort((times, bucket_key)), bucket_key

    def nonemitting(self, states, cost, trace, times, cutoff):
        """Kaldi ``ProcessNonemitting`` on a list given as arrays (any order + insert times).

        Returns the list in HashList order and the number of epsilon arcs evaluated.
        """
        g = self.g
        perm, bucket_key = self.order(states, times)
        states, cost, trace, times = states[perm], cost[perm], trace[perm], times[perm]
        bucket_key = bucket_key[perm]
        queue = np.flatnonzero(g.has_eps[states]).tolist()
        if not queue:
            return _Tokens(states, cost, trace), 0
        # The list stays in NumPy; the loop keeps its changes in small overlays (touched and
        # new tokens only), so a frame costs O(epsilon work), not O(tokens), in Python.
        count = len(states)
        cost, trace = cost.copy(), trace.copy()
        over_cost, over_trace = {}, {}
        new_states, new_cost, new_trace, new_key = [], [], [], []
        hsize = self.hash_size
        bucket_of = np.full(hsize, -1, dtype=np.int64)
        bucket_of[states % hsize] = bucket_key
        where = self.where
        where[states] = np.arange(count)
        clock = int(times.max()) + 1
        eps_arcs = g.eps_arcs
        new_words, new_parents = [], []
        evaluated = 0
        while queue:
            i = queue.pop()
            if i < count:
                c = over_cost.get(i)
                if c is None:
                    c = float(cost[i])
                state = int(states[i])
                parent = over_trace.get(i)
                if parent is None:
                    parent = int(trace[i])
            else:
                c, state, parent = new_cost[i - count], new_states[i - count], \
                    new_trace[i - count]
            if c > cutoff:
                continue
            for dest, weight, olabel in eps_arcs[state]:
                evaluated += 1
                nc = c + weight
                if nc > cutoff:
                    continue
                j = int(where[dest])
                if j >= 0:
                    if j < count:
                        old = over_cost.get(j)
                        if old is None:
                            old = float(cost[j])
                    else:
                        old = new_cost[j - count]
                    if not old > nc:
                        continue
                if olabel:
                    new_words.append(olabel)
                    new_parents.append(parent)
                    pointer = -2 - (len(new_words) - 1)  # resolved after the loop
                else:
                    pointer = parent
                if j < 0:
                    j = count + len(new_states)
                    where[dest] = j
                    new_states.append(dest)
                    new_cost.append(nc)
                    new_trace.append(pointer)
                    bucket = dest % hsize
                    if bucket_of[bucket] < 0:
                        bucket_of[bucket] = clock
                    new_key.append(int(bucket_of[bucket]))
                    clock += 1
                elif j < count:
                    over_cost[j], over_trace[j] = nc, pointer
                else:
                    new_cost[j - count], new_trace[j - count] = nc, pointer
                queue.append(j)
        if over_cost:
            touched = np.fromiter(over_cost, dtype=np.int64, count=len(over_cost))
            cost[touched] = [over_cost[k] for k in touched.tolist()]
            trace[touched] = [over_trace[k] for k in touched.tolist()]
        if new_states:
            states = np.concatenate([states, np.array(new_states, dtype=np.int64)])
            cost = np.concatenate([cost, np.array(new_cost)])
            trace = np.concatenate([trace, np.array(new_trace, dtype=np.int64)])
            bucket_key = np.concatenate([bucket_key, np.array(new_key, dtype=np.int64)])
        where[states] = -1
        if new_words:
            parents = np.array(new_parents, dtype=np.int64)
            # Parents may themselves be pending entries of this pass; entries are created in
            # order, so resolving them in one batch keeps every parent before its child.
            index = self.trace.extend(np.array(new_words, dtype=np.int64),
                                      np.zeros(len(parents), dtype=np.int64))
            pending = parents <= -2
            parents[pending] = index[-2 - parents[pending]]
            self.trace.parent[index] = parents
            pending = trace <= -2
            trace[pending] = index[-2 - trace[pending]]
        if new_states:
            # Old elements are in (bucket, time) order and new ones came later, in time order:
            # a stable sort on the bucket key alone gives the HashList order.
            perm = np.argsort(bucket_key, kind="stable")
            states, cost, trace = states[perm], cost[perm], trace[perm]
        return _Tokens(states, cost, trace), evaluated


def decode(graph, loglik, options: DecoderOptions | None = None) -> DecodeResult:
    """Decode one utterance.

    Parameters
    ----------
    graph : Graph or PreparedGraph
        Decoding graph (a :class:`PreparedGraph` saves the preparation per utterance; its word
        penalty must equal ``options.word_penalty``).
    loglik : array_like, shape (frames, graph.num_pdfs)
        Acoustic log-likelihoods (or log-posteriors); costs are ``-acoustic_scale * loglik``.
    options : DecoderOptions, optional
        Search options; Kaldi's defaults when omitted.
    """
    options = DecoderOptions() if options is None else options
    if not isinstance(options, DecoderOptions):
        raise DecoderError(f"options must be a DecoderOptions, not {type(options).__name__}")
    if isinstance(graph, PreparedGraph):
        prepared = graph
        if prepared.word_penalty != float(options.word_penalty):
            raise DecoderError(f"the prepared graph has word_penalty {prepared.word_penalty}, "
                               f"the options {options.word_penalty}")
    else:
        prepared = PreparedGraph(graph, options.word_penalty)
    scores = scaled_loglikes(loglik, prepared.graph.num_pdfs, options.acoustic_scale)
    ac_costs = -scores.astype(np.float64)
    began = time.perf_counter()
    search = _Search(prepared, options)
    start = np.array([prepared.graph.start], dtype=np.int64)
    toks, _ = search.nonemitting(start, np.zeros(1), np.full(1, -1, dtype=np.int64),
                                 np.zeros(1, dtype=np.int64), FLOAT32_MAX)
    frames = scores.shape[0]
    tokens = np.zeros(frames, dtype=np.int64)
    expanded = np.zeros(frames, dtype=np.int64)
    arcs = np.zeros(frames, dtype=np.int64)
    for frame in range(frames):
        tokens[frame] = len(toks.cost)
        if not len(toks.cost):
            continue
        states, cost, trace, times, cutoff, n_expanded, n_arcs = search.emitting(
            toks, ac_costs[frame])
        toks, n_eps = search.nonemitting(states, cost, trace, times, cutoff)
        expanded[frame], arcs[frame] = n_expanded, n_arcs + n_eps
    words, total, final_reached = _best_path(search, toks)
    graph_words = prepared.graph.words
    return DecodeResult(words=words, text=tuple(graph_words[w] for w in words), cost=total,
                        final_reached=final_reached, tokens_per_frame=tokens,
                        expanded_per_frame=expanded, arcs_per_frame=arcs,
                        seconds=time.perf_counter() - began)


def _best_path(search: _Search, toks: _Tokens) -> tuple[tuple, float, bool]:
    """Kaldi ``ReachedFinal`` + ``GetBestPath`` (first of equal costs in list order)."""
    if not len(toks.cost):
        return (), float("inf"), False
    final = search.g.final[toks.state]
    reachable = np.isfinite(final) & np.isfinite(toks.cost)
    if reachable.any():
        total = np.where(reachable, toks.cost + final, np.inf)
        best = int(np.argmin(total))
        return search.trace.words(int(toks.trace[best])), float(total[best]), True
    best = int(np.argmin(toks.cost))
    return search.trace.words(int(toks.trace[best])), float(toks.cost[best]), False


def word_errors(reference, hypothesis) -> int:
    """Levenshtein distance between two word sequences (substitutions, insertions, deletions)."""
    reference, hypothesis = list(reference), list(hypothesis)
    row = np.arange(len(hypothesis) + 1)
    for i, ref in enumerate(reference, 1):
        previous, row = row, np.empty_like(row)
        row[0] = i
        for j, hyp in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref != hyp))
    return int(row[-1])


@dataclass
class TuneResult:
    """Outcome of :func:`tune`: the chosen options and every grid point's figures."""

    acoustic_scale: float
    word_penalty: float
    wer: float
    grid: list = field(default_factory=list)


def tune(graph: Graph, dev, *, scales=(0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0),
         penalties=(-2.0, -1.0, 0.0, 1.0, 2.0, 4.0), options: DecoderOptions | None = None,
         progress: bool = False, decoder: str = "float") -> TuneResult:
    """Choose the acoustic scale and word insertion penalty by grid search on a dev set.

    Every (scale, penalty) pair of the grid decodes all of ``dev``; the pair with the lowest
    word error rate wins, ties broken by fewer tokens per frame (cheaper search), then by the
    earlier grid point. Grid: ``scales`` x ``penalties`` (defaults cover the 0.1-0.2 scales
    seen for dense and pruned models in TOOLCHAIN.md).

    Parameters
    ----------
    graph : Graph
        Decoding graph.
    dev : iterable of (loglik, reference words)
        Dev utterances: log-likelihoods ``[frames, num_pdfs]`` and the reference, as word ids
        or as word strings (compared with ``graph.words``).
    options : DecoderOptions, optional
        Beam and active limits used for every grid point (their scale and penalty are replaced).
    progress : bool
        Show a tqdm bar over the grid.
    decoder : str
        ``"float"``: every grid point is decoded by :func:`decode`. ``"kaldi"``: every point's
        WER comes from Kaldi FasterDecoder (:mod:`sw.peers`; 3-5x faster here) and only the
        points tied at the lowest WER are decoded again by :func:`decode`, for their tokens per
        frame; the choice is the same as with ``"float"`` wherever the two decoders find the
        same words (as on all 8,000 decodes of the dark-side run), and a tied point where they
        do not is an error. Points not decoded by :func:`decode` have ``tokens_per_frame``
        None in ``grid``.

    Returns
    -------
    TuneResult
        The best pair, its WER, and ``grid``: one dict per point with ``acoustic_scale``,
        ``word_penalty``, ``wer``, ``tokens_per_frame``.
    """
    from tqdm import tqdm

    if decoder not in ("float", "kaldi"):
        raise DecoderError(f"tune's decoder must be 'float' or 'kaldi', not {decoder!r}")
    dev = list(dev)
    if not dev:
        raise DecoderError("tune needs at least one dev utterance")
    if not scales or not penalties:
        raise DecoderError("tune needs at least one scale and one penalty")
    options = DecoderOptions() if options is None else options
    points = [(s, p) for p in penalties for s in scales]
    score = _GridPoint(graph, dev, options)
    grid = [score(scale, penalty, kaldi=decoder == "kaldi")
            for scale, penalty in tqdm(points, desc="tune", disable=not progress)]
    if decoder == "kaldi":
        least = min(row["wer"] for row in grid)
        for row in grid:
            if row["wer"] == least:
                again = score(row["acoustic_scale"], row["word_penalty"], kaldi=False)
                if again["wer"] != row["wer"]:
                    raise DecoderError(
                        f"tune: Kaldi and the float decoder disagree at scale "
                        f"{row['acoustic_scale']}, penalty {row['word_penalty']}: dev WER "
                        f"{row['wer']:.4f} vs {again['wer']:.4f}")
                row["tokens_per_frame"] = again["tokens_per_frame"]
    best = min((i for i, row in enumerate(grid) if row["tokens_per_frame"] is not None),
               key=lambda i: (grid[i]["wer"], grid[i]["tokens_per_frame"], i))
    return TuneResult(acoustic_scale=grid[best]["acoustic_scale"],
                      word_penalty=grid[best]["word_penalty"], wer=grid[best]["wer"], grid=grid)


class _GridPoint:
    """One grid point of :func:`tune`: dev WER (and tokens per frame, from :func:`decode`)."""

    def __init__(self, graph: Graph, dev: list, options: DecoderOptions):
        self.graph, self.dev, self.options = graph, dev, options
        self.reference_words = sum(len(ref) for _, ref in dev)
        self.prepared = {}  # word penalty -> PreparedGraph

    def __call__(self, scale: float, penalty: float, *, kaldi: bool) -> dict:
        from dataclasses import replace

        opts = replace(self.options, acoustic_scale=scale, word_penalty=penalty)
        if kaldi:
            from sw.peers import KaldiFasterDecoder

            run = KaldiFasterDecoder(self.graph, opts).decode
        else:
            if penalty not in self.prepared:
                self.prepared[penalty] = PreparedGraph(self.graph, penalty)
            prepared = self.prepared[penalty]

            def run(loglik):
                return decode(prepared, loglik, opts)
        errors = frames = tokens = 0
        for loglik, reference in self.dev:
            result = run(loglik)
            reference = tuple(reference)
            spelled = bool(reference) and isinstance(reference[0], str)
            errors += word_errors(reference, result.text if spelled else result.words)
            if not kaldi:
                frames += len(result.tokens_per_frame)
                tokens += int(result.tokens_per_frame.sum())
        return {"acoustic_scale": float(scale), "word_penalty": float(penalty),
                "wer": errors / max(self.reference_words, 1),
                "tokens_per_frame": None if kaldi else tokens / max(frames, 1)}


def synthetic_loglikes(graph: Graph, seed: int, frames: int, *, boost: float = 4.0,
                       noise: float = 1.0) -> tuple[np.ndarray, tuple]:
    """SYNTHETIC scores for tests: a random walk through ``graph`` and noisy log-posteriors.

    The walk takes ``frames`` emitting arcs from the start state (epsilon arcs on the way,
    uniformly among a state's arcs); frame ``t``'s scores are ``log_softmax(noise * N(0, 1) +
    boost * onehot(pdf_t))``. Returns ``(loglik float64[frames, num_pdfs], words on the walk)``.
    Not speech: a stand-in until real acoustic-model outputs are available.
    """
    rng = np.random.default_rng(seed)
    state, pdfs, words = graph.start, [], []
    while len(pdfs) < frames:
        lo, hi = int(graph.state_offset[state]), int(graph.state_offset[state + 1])
        if hi == lo:
            break
        arc = int(rng.integers(lo, hi))
        if graph.arc_ilabel[arc]:
            pdfs.append(int(graph.arc_ilabel[arc]) - 1)
        if graph.arc_olabel[arc]:
            words.append(int(graph.arc_olabel[arc]))
        state = int(graph.arc_dest[arc])
    pdfs = np.array(pdfs + [0] * (frames - len(pdfs)), dtype=np.int64)
    logits = noise * rng.normal(size=(frames, graph.num_pdfs))
    logits[np.arange(frames), pdfs] += boost
    top = logits.max(axis=1, keepdims=True)
    loglik = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return loglik, tuple(words)
