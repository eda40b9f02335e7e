"""Bit-exact model of the hardware Viterbi unit: the specification its RTL must meet.

Every rule is written once, here:

- **Costs** are unsigned integers of ``cost.cost_width`` bits; every addition saturates at
  ``cost_max``. Graph costs come from ``Graph.fixed_point_costs(cost.cost_frac, cost_max)``,
  acoustic costs from the cost unit (``sw/golden/cost.py``).
- **Relative costs.** The table being filled holds costs relative to the base of the frame that
  produced them; when it becomes the current table its best cost ``b`` is subtracted from every
  entry as it is read (so the best reads as 0) and ``b`` is added to a wide running total. The
  table width therefore never overflows however long the utterance.
- **Set index** (:func:`set_index`): ``xor_fold`` or ``multiplicative``, see ``ViterbiConfig``.
- **Insert** (:meth:`HypothesisTable.insert`): same state present -> keep the lower cost (ties
  keep the old entry); else a free way (lowest index) -> insert; else the way with the highest
  cost (ties: lowest way index) is replaced if the new cost is lower; else the hypothesis is
  dropped.
- **Beam** (order-exact): while a frame is expanded, ``best`` is the lowest new cost produced
  so far in processing order (``cost_max`` at the start of the frame); a new hypothesis with
  ``cost > best + beam`` (saturating) is pruned, otherwise ``best`` is updated and it is
  inserted. The same running ``best`` continues through the frame's epsilon passes.
- **Order**: the current table is read set by set, way by way; each hypothesis's arcs in CSR
  order; emitting arcs only (``ilabel != 0``), new cost = read cost + arc cost + acoustic cost
  of pdf ``ilabel - 1``.
- **Epsilon passes**: after the emitting expansion, the next table is scanned in the same
  order; every valid entry's epsilon arcs are expanded into the same table (new cost = entry
  cost + arc cost). Scans repeat until one changes nothing or ``max_epsilon_passes`` scans
  have run (then ``epsilon_limit_hit`` is counted). A scan that changed the table but
  *settled* it ends the passes too: every offer it let through the beam went to a state with
  no epsilon arcs, replaced no entry and did not lower ``best``. The next scan would then
  re-offer exactly the same hypotheses (no entry it reads has changed) against entries at
  least as good, under the same threshold, and change nothing, so it is not run (nor are its
  arcs counted; ``ViterbiConfig.skip_settled_passes``, on by default). The start state is
  closed the same way before frame 0.
- **Traceback**: taking an arc with an output label appends ``(word, parent)`` to the trace
  memory (:class:`WordTrace`) when the hypothesis is inserted (or improves an entry); the
  hypothesis then points at that trace entry, otherwise it inherits its parent's pointer (-1 =
  no word yet). A full trace memory sets ``trace_overflow`` and the word is lost.
- **Trace allocation**: a free list linked through the entries' ``parent`` field (``head``,
  -1 = empty) and a high-water mark for entries never used. An append pops the free list's
  head if it is not empty, else takes the high-water entry and increments the mark; with
  neither, the trace is full.
- **Trace collection** (:meth:`WordTrace.collect`): at a frame boundary, before the current
  table is read for expansion, when fewer than ``config.trace_gc_threshold`` entries are free
  (never at the end of the utterance). *Mark*: for every valid entry of the current table in
  read order, follow its pointer chain, marking entries, until -1 or an entry already marked.
  *Sweep*: for index 0 .. high-water - 1 in increasing order, a marked entry is unmarked, an
  unmarked one is pushed on the free list, rebuilt from empty (its ``parent`` becomes the old
  head), so the head ends as the highest free index. The sweep order fixes which pointers
  later appends get, so the RTL follows it exactly; the mark order does not matter (marking
  is idempotent). Only the current table is live at that moment: the next one is empty, and
  the final choice reads only the current table. Entries appended during a frame are not
  reclaimed before the next boundary, so a frame that traces more words than are free still
  overflows.
- **End**: the best of ``read cost + final cost`` over the final table (ties: first in order)
  gives the words; with no final state in the table, the best hypothesis is used and
  ``final_reached`` is False.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from hw.config import ConfigError, ViterbiConfig
from sw.graph import Graph

__all__ = ["GoldenResult", "HypothesisTable", "ViterbiInputError", "WordTrace", "decode",
           "set_index"]

EMPTY = -1


class ViterbiInputError(ValueError):
    """Costs or graph do not fit the decoder; the message says what and how."""


def set_index(state: int, config: ViterbiConfig) -> int:
    """Set of ``state`` under the configured hash."""
    bits = config.set_bits
    if bits == 0:
        return 0
    if config.hash == "multiplicative":
        return ((state * 0x9E3779B1) & 0xFFFFFFFF) >> (32 - bits)
    folded, mask = 0, config.sets - 1
    while state:
        folded ^= state & mask
        state >>= bits
    return folded


@dataclass
class Counters:
    """What the unit counts (the experiments and the RTL tests read these)."""

    frames: int = 0
    hypotheses_read: int = 0
    arcs_expanded: int = 0
    inserts: int = 0
    updates: int = 0
    replacements: int = 0
    drops: int = 0
    beam_pruned: int = 0
    epsilon_limit_hit: int = 0
    trace_collections: int = 0


# What :meth:`HypothesisTable.place` decides for a hypothesis.
UNCHANGED, UPDATE, INSERT, REPLACE, DROP = range(5)
CHANGES = (UPDATE, INSERT, REPLACE)  # the outcomes that write the table


class HypothesisTable:
    """``sets x ways`` entries of (state, cost, trace pointer); ``state == -1`` is free.

    The entries are plain Python lists (one per set): the model runs hypothesis by
    hypothesis, and NumPy's per-call overhead on 4-way rows would cost more than the work.
    """

    def __init__(self, config: ViterbiConfig):
        self.config = config
        self.state = [[EMPTY] * config.ways for _ in range(config.sets)]
        self.cost = [[0] * config.ways for _ in range(config.sets)]
        self.trace = [[EMPTY] * config.ways for _ in range(config.sets)]

    def entries(self):
        """Valid entries as ``(set, way, state, cost, trace)`` in read order."""
        rows = zip(self.state, self.cost, self.trace, strict=True)
        for s, (states, costs, traces) in enumerate(rows):
            for w, state in enumerate(states):
                if state != EMPTY:
                    yield s, w, state, costs[w], traces[w]

    def place(self, s: int, state: int, cost: int) -> tuple[int, int]:
        """The insert rule for ``state`` (of set ``s``) at ``cost``: ``(outcome, way)``.

        Same state present -> ``UPDATE`` if the cost is lower (ties keep the old entry), else
        ``UNCHANGED``; else the lowest free way -> ``INSERT``; else the way with the highest
        cost (ties: lowest index) -> ``REPLACE`` if the new cost is lower, else ``DROP``.
        """
        states = self.state[s]
        if state in states:
            w = states.index(state)
            return (UPDATE, w) if cost < self.cost[s][w] else (UNCHANGED, w)
        if EMPTY in states:
            return INSERT, states.index(EMPTY)
        costs = self.cost[s]
        worst = max(costs)
        return (REPLACE, costs.index(worst)) if cost < worst else (DROP, -1)

    def write(self, s: int, w: int, state: int, cost: int, trace: int) -> None:
        """Store an entry in set ``s``, way ``w``."""
        self.state[s][w], self.cost[s][w], self.trace[s][w] = state, cost, trace

    def insert(self, state: int, cost: int, trace: int, counters: Counters) -> bool:
        """Apply the insert rule; return whether the table changed."""
        s = set_index(state, self.config)
        outcome, w = self.place(s, state, cost)
        return _count_and_write(self, counters, outcome, s, w, state, cost, trace)

    def would_change(self, state: int, cost: int) -> bool:
        """Whether :meth:`insert` would change the table (without counting anything)."""
        return self.place(set_index(state, self.config), state, cost)[0] in CHANGES

    def best(self) -> int:
        """Lowest cost in the table (``0`` when empty)."""
        return min((cost for states, costs in zip(self.state, self.cost, strict=True)
                    for state, cost in zip(states, costs, strict=True) if state != EMPTY),
                   default=0)

    def snapshot(self) -> np.ndarray:
        """``int64[sets, ways, 3]`` copy of (state, cost, trace): what the RTL tests compare."""
        return np.array([self.state, self.cost, self.trace], dtype=np.int64).transpose(1, 2, 0)


def _count_and_write(table, counters, outcome, s, w, state, cost, trace) -> bool:
    """Count ``outcome`` and store the entry when it changes the table."""
    if outcome == UNCHANGED:
        return False
    if outcome == DROP:
        counters.drops += 1
        return False
    if outcome == UPDATE:
        counters.updates += 1
    elif outcome == INSERT:
        counters.inserts += 1
    else:
        counters.replacements += 1
    table.write(s, w, state, cost, trace)
    return True


class WordTrace:
    """The word-trace memory: ``(word, parent)`` entries, a free list and its collector.

    Parameters
    ----------
    depth : int
        Entries (``config.trace_depth``).
    """

    def __init__(self, depth: int):
        self.depth = depth
        self.word = [0] * depth
        self.parent = [EMPTY] * depth
        self.marked = [False] * depth
        self.head = EMPTY  # first free entry below the high-water mark
        self.high_water = 0  # entries at and above were never used
        self.free = depth  # entries an append can still take
        self.appends = 0
        self.peak_in_use = 0

    def append(self, word: int, parent: int) -> int:
        """Store ``(word, parent)``; return its index, or ``EMPTY`` when the trace is full."""
        if self.head != EMPTY:
            index = self.head
            self.head = self.parent[index]
        elif self.high_water < self.depth:
            index = self.high_water
            self.high_water += 1
        else:
            return EMPTY
        self.word[index], self.parent[index] = word, parent
        self.free -= 1
        self.appends += 1
        self.peak_in_use = max(self.peak_in_use, self.depth - self.free)
        return index

    def chain(self, pointer: int) -> list:
        """Words from entry ``pointer`` back to the first, last word first."""
        words = []
        while pointer != EMPTY:
            if len(words) == self.depth:  # only a broken free list can link a cycle
                raise RuntimeError("word-trace chain longer than the trace: a cycle")
            words.append(self.word[pointer])
            pointer = self.parent[pointer]
        return words

    def collect(self, pointers) -> None:
        """Mark every entry reachable from ``pointers`` (in order), free all the others."""
        marked = self.marked
        for pointer in pointers:
            while pointer != EMPTY and not marked[pointer]:
                marked[pointer] = True
                pointer = self.parent[pointer]
        self.head = EMPTY
        self.free = self.depth - self.high_water
        for index in range(self.high_water):
            if marked[index]:
                marked[index] = False
            else:
                self.parent[index] = self.head
                self.head = index
                self.free += 1

    def free_list(self) -> list:
        """Indices on the free list, head first (for checks)."""
        out, pointer = [], self.head
        while pointer != EMPTY and len(out) <= self.depth:
            out.append(pointer)
            pointer = self.parent[pointer]
        return out

    def snapshot(self) -> tuple:
        """Copy of ``(word, parent, head, high_water)`` up to the high-water mark."""
        return (np.array(self.word[:self.high_water], dtype=np.int64),
                np.array(self.parent[:self.high_water], dtype=np.int64),
                self.head, self.high_water)


@dataclass
class GoldenResult:
    """Outcome of :func:`decode`; ``trace_appends`` counts words traced, ``trace_peak`` the
    most trace entries in use at once (both equal without collections)."""

    words: list
    total_cost: int
    final_reached: bool
    trace_overflow: bool
    counters: Counters
    tokens_per_frame: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    traces: list = field(default_factory=list)
    trace_appends: int = 0
    trace_peak: int = 0


@dataclass(frozen=True)
class _Arcs:
    """A graph's arcs as Python lists per state, split as the unit reads them: emitting arcs
    ``(dest, set of dest, arc cost, pdf, olabel)`` and epsilon arcs ``(dest, set of dest,
    arc cost, olabel)``, in CSR order; and the fixed-point final costs."""

    emitting: list
    epsilon: list
    final_cost: list


# Graph -> {(cost_frac, cost_max, sets, hash): _Arcs}: an experiment decodes many utterances on
# one graph, and building the lists costs as much as decoding a short utterance.
_ARCS_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _graph_arcs(graph: Graph, config: ViterbiConfig) -> _Arcs:
    key = (config.cost.cost_frac, config.cost_max, config.sets, config.hash)
    per_graph = _ARCS_CACHE.setdefault(graph, {})
    if key not in per_graph:
        arc_cost, final_cost = graph.fixed_point_costs(config.cost.cost_frac, config.cost_max)
        sets = [set_index(state, config) for state in range(graph.num_states)]
        dest, ilabel, olabel = (graph.arc_dest.tolist(), graph.arc_ilabel.tolist(),
                                graph.arc_olabel.tolist())
        cost, offset = arc_cost.tolist(), graph.state_offset.tolist()
        emitting, epsilon = [], []
        for state in range(graph.num_states):
            arcs = range(offset[state], offset[state + 1])
            emitting.append([(dest[a], sets[dest[a]], cost[a], ilabel[a] - 1, olabel[a])
                             for a in arcs if ilabel[a]])
            epsilon.append([(dest[a], sets[dest[a]], cost[a], olabel[a])
                            for a in arcs if not ilabel[a]])
        per_graph[key] = _Arcs(emitting, epsilon, final_cost.tolist())
    return per_graph[key]


class _Search:
    """One utterance's search state; methods are the unit's phases."""

    def __init__(self, graph, config):
        self.arcs = _graph_arcs(graph, config)
        self.config = config
        self.cost_max, self.beam = config.cost_max, config.beam
        self.counters = Counters()
        self.trace = WordTrace(config.trace_depth)
        self.trace_overflow = False
        self.best = config.cost_max

    def add(self, a, b):
        return min(a + b, self.cost_max)

    def offer(self, table, s, state, cost, parent, olabel):
        """Beam check, then insert; a word is traced only when the insert changes the table."""
        limit = self.best + self.beam
        if cost > (limit if limit < self.cost_max else self.cost_max):
            self.counters.beam_pruned += 1
            return False
        if cost < self.best:
            self.best = cost
        outcome, w = table.place(s, state, cost)
        pointer = parent
        if olabel and outcome in CHANGES:
            index = self.trace.append(olabel, parent)
            if index != EMPTY:
                pointer = index
            else:
                self.trace_overflow = True
        return _count_and_write(table, self.counters, outcome, s, w, state, cost, pointer)

    def expand(self, current, following, frame_costs, base) -> int:
        """The emitting expansion of one frame; returns the hypotheses read."""
        emitting, offer, cost_max = self.arcs.emitting, self.offer, self.cost_max
        count = arcs = 0
        for _s, _w, state, stored, parent in current.entries():
            count += 1
            cost = stored - base
            for dest, s, arc_cost, pdf, olabel in emitting[state]:
                arcs += 1
                # saturating adds, spelled out: this loop is the model's running time
                new = cost + arc_cost
                new = (new if new < cost_max else cost_max) + frame_costs[pdf]
                offer(following, s, dest, new if new < cost_max else cost_max, parent, olabel)
        self.counters.arcs_expanded += arcs
        self.counters.hypotheses_read += count
        return count

    def epsilon_passes(self, table):
        epsilon, offer, cost_max = self.arcs.epsilon, self.offer, self.cost_max
        counters, passes = self.counters, self.config.max_epsilon_passes
        for number in range(passes):
            changed, settled = False, True
            for s_, states in enumerate(table.state):
                for w, state in enumerate(states):
                    # Entries are read one at a time, so an entry written by this pass is
                    # seen with its new cost when the scan reaches it, as in the unit.
                    if state == EMPTY:
                        continue
                    cost, parent = table.cost[s_][w], table.trace[s_][w]
                    for dest, s, arc_cost, olabel in epsilon[state]:
                        counters.arcs_expanded += 1
                        pruned, replaced, best = (counters.beam_pruned, counters.replacements,
                                                  self.best)
                        changed |= offer(table, s, dest, min(cost + arc_cost, cost_max), parent,
                                         olabel)
                        if counters.beam_pruned == pruned and (
                                epsilon[dest] or counters.replacements != replaced
                                or self.best != best):
                            settled = False
            if not changed:
                return
            if settled and self.config.skip_settled_passes and number + 1 < passes:
                # the next pass would change nothing
                return
        counters.epsilon_limit_hit += 1


def _check_inputs(graph: Graph, costs, config: ViterbiConfig) -> np.ndarray:
    if not isinstance(config, ViterbiConfig):
        raise ViterbiInputError(f"config must be a ViterbiConfig, not {config!r}")
    try:
        config.check_graph(graph.num_states, len(graph.words))
    except ConfigError as error:
        raise ViterbiInputError(str(error)) from error
    costs = np.asarray(costs)
    if costs.ndim != 2 or costs.shape[1] != graph.num_pdfs:
        raise ViterbiInputError(f"costs must have shape (frames, {graph.num_pdfs}) for this "
                                f"graph's pdfs, not {costs.shape}")
    if costs.dtype.kind not in "iu":
        if costs.dtype.kind == "f" and not np.all(np.isfinite(costs)):
            raise ViterbiInputError("costs contain NaN or infinite values")
        raise ViterbiInputError(f"costs must be unsigned fixed-point integers, not {costs.dtype}")
    if costs.size and (costs.min() < 0 or costs.max() > config.cost_max):
        raise ViterbiInputError(f"costs must be within 0..{config.cost_max} "
                                f"({config.cost.cost_width}-bit), found "
                                f"{int(costs.min())}..{int(costs.max())}")
    return costs.astype(np.int64)


def decode(graph: Graph, costs, config: ViterbiConfig, *, keep_tables: bool = False
           ) -> GoldenResult:
    """Decode one utterance exactly as the hardware does.

    Parameters
    ----------
    graph : Graph
        Decoding graph; its costs are converted to ``config.cost`` fixed point.
    costs : array_like of int, shape (frames, graph.num_pdfs)
        Acoustic costs per frame and pdf (the cost unit's output).
    config : ViterbiConfig
        Table geometry, hash, beam, widths.
    keep_tables : bool
        Keep a snapshot of the table and of the trace memory (:meth:`WordTrace.snapshot`)
        after every frame (for RTL comparisons and checks).
    """
    costs = _check_inputs(graph, costs, config)
    search = _Search(graph, config)
    current = HypothesisTable(config)
    current.insert(graph.start, 0, EMPTY, search.counters)
    search.epsilon_passes(current)
    total = 0
    tokens, tables, traces = [], [], []
    trace = search.trace
    for frame_costs in costs.tolist():
        search.best = config.cost_max
        if trace.free < config.trace_gc_threshold:
            trace.collect(entry[4] for entry in current.entries())
            search.counters.trace_collections += 1
        base = current.best()
        total += base
        following = HypothesisTable(config)
        tokens.append(search.expand(current, following, frame_costs, base))
        search.epsilon_passes(following)
        search.counters.frames += 1
        current = following
        if keep_tables:
            tables.append(current.snapshot())
            traces.append(trace.snapshot())

    base = current.best()
    final_cost = search.arcs.final_cost
    best_final = best_any = None
    for _s, _w, state, stored, parent in current.entries():
        cost = stored - base
        if best_any is None or cost < best_any[0]:
            best_any = (cost, parent)
        ending = search.add(cost, final_cost[state])
        if final_cost[state] < config.cost_max and (best_final is None
                                                     or ending < best_final[0]):
            best_final = (ending, parent)
    chosen = best_final or best_any
    words = trace.chain(chosen[1])[::-1] if chosen is not None else []
    return GoldenResult(words=words, total_cost=total + base + (chosen[0] if chosen else 0),
                        final_reached=best_final is not None,
                        trace_overflow=search.trace_overflow, counters=search.counters,
                        tokens_per_frame=tokens, tables=tables, traces=traces,
                        trace_appends=trace.appends, trace_peak=trace.peak_in_use)
