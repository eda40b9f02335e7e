"""Decoding graphs (WFSTs) in the CSR form the Viterbi unit reads.

Contract (DESIGN.md): states ``0..S-1``; arcs sorted by source, state ``s`` owning arcs
``state_offset[s]:state_offset[s+1]``; each arc is ``(dest, ilabel, olabel, cost)`` with
``ilabel`` 0 for epsilon, otherwise pdf id + 1, and ``olabel`` 0 for none, otherwise a word id.
Costs are kept here as floats (-log probabilities, lower is better); fixed-point versions for
the golden model and the RTL come from :meth:`Graph.fixed_point_costs`.

Where graphs come from: :func:`random_graph` (tests), :mod:`sw.graph_build` (digit loop and
bigram from a lexicon), :mod:`sw.fst_text` (OpenFST / Kaldi ``fstprint`` text), and
:func:`from_arrays` / :func:`from_arc_list` for anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["GRAPH_FORMAT", "Graph", "GraphError", "from_arc_list", "from_arrays", "load_graph",
           "random_graph", "reorder_pdfs", "save_graph"]

GRAPH_FORMAT = ("asrhw.graph", 1)


class GraphError(ValueError):
    """A graph is malformed; the message names the array, the index and the value."""


@dataclass(frozen=True, eq=False)
class Graph:
    """A decoding WFST in CSR form.

    Attributes
    ----------
    start : int
        Start state.
    state_offset : numpy.ndarray
        ``int64[S + 1]``; arcs of state ``s`` are ``state_offset[s]:state_offset[s + 1]``.
    arc_dest, arc_ilabel, arc_olabel : numpy.ndarray
        ``int64[A]`` destination, input label (0 = epsilon, else pdf + 1), output label
        (0 = none, else word id).
    arc_cost : numpy.ndarray
        ``float64[A]`` graph cost of each arc (>= 0).
    final_cost : numpy.ndarray
        ``float64[S]`` final cost of each state, ``inf`` where the state is not final.
    num_pdfs : int
        Number of acoustic-model outputs (pdfs) the ilabels refer to.
    words : tuple of str
        Word of each output label; ``words[0]`` is ``"<eps>"``.
    """

    start: int
    state_offset: np.ndarray
    arc_dest: np.ndarray
    arc_ilabel: np.ndarray
    arc_olabel: np.ndarray
    arc_cost: np.ndarray
    final_cost: np.ndarray
    num_pdfs: int
    words: tuple

    def __post_init__(self):
        self.validate()

    @property
    def num_states(self) -> int:
        """Number of states S."""
        return len(self.state_offset) - 1

    @property
    def num_arcs(self) -> int:
        """Number of arcs A."""
        return len(self.arc_dest)

    def arcs(self, state: int) -> range:
        """Indices of the arcs leaving ``state``."""
        return range(int(self.state_offset[state]), int(self.state_offset[state + 1]))

    def validate(self) -> None:
        """Raise :class:`GraphError` on any inconsistency (shapes, ranges, reachability)."""
        offsets = self.state_offset
        if offsets.ndim != 1 or len(offsets) < 2:
            raise GraphError(f"state_offset must have S + 1 >= 2 entries, not shape "
                             f"{offsets.shape}")
        states, arcs = self.num_states, len(self.arc_dest)
        for name in ("arc_ilabel", "arc_olabel", "arc_cost"):
            if getattr(self, name).shape != (arcs,):
                raise GraphError(f"{name} has shape {getattr(self, name).shape}; arc_dest has "
                                 f"{arcs} arcs")
        if offsets[0] != 0 or offsets[-1] != arcs or np.any(np.diff(offsets) < 0):
            raise GraphError(f"state_offset must rise from 0 to the arc count {arcs}")
        if self.final_cost.shape != (states,):
            raise GraphError(f"final_cost has shape {self.final_cost.shape}; the graph has "
                             f"{states} states")
        if not 0 <= self.start < states:
            raise GraphError(f"start state {self.start} is outside 0..{states - 1}")
        _check_labels("arc_dest", self.arc_dest, 0, states - 1, "dangling arc")
        _check_labels("arc_ilabel", self.arc_ilabel, 0, self.num_pdfs,
                      f"ilabel must be 0 (epsilon) or a pdf id + 1 <= {self.num_pdfs}")
        _check_labels("arc_olabel", self.arc_olabel, 0, len(self.words) - 1,
                      f"olabel must be 0 or a word id < {len(self.words)}")
        if np.any(~np.isfinite(self.arc_cost)) or np.any(self.arc_cost < 0):
            bad = int(np.flatnonzero(~np.isfinite(self.arc_cost) | (self.arc_cost < 0))[0])
            raise GraphError(f"arc_cost[{bad}] = {self.arc_cost[bad]} must be finite and >= 0")
        if np.any(np.isnan(self.final_cost)) or np.any(self.final_cost < 0):
            raise GraphError("final_cost must be >= 0 (inf for non-final states), not NaN")
        reachable = self.reachable_states()
        if not np.any(np.isfinite(self.final_cost[reachable])):
            raise GraphError("no final state is reachable from the start state")

    def reachable_states(self) -> np.ndarray:
        """Indices of the states reachable from :attr:`start` (breadth-first, vectorised)."""
        seen = np.zeros(self.num_states, dtype=bool)
        seen[self.start] = True
        frontier = np.array([self.start], dtype=np.int64)
        while frontier.size:
            starts, ends = self.state_offset[frontier], self.state_offset[frontier + 1]
            counts = ends - starts
            first = np.cumsum(counts) - counts
            arcs = np.repeat(starts - first, counts) + np.arange(int(counts.sum()))
            dests = np.unique(self.arc_dest[arcs])
            frontier = dests[~seen[dests]]
            seen[frontier] = True
        return np.flatnonzero(seen)

    def fixed_point_costs(self, frac_bits: int, max_value: int) -> tuple[np.ndarray, np.ndarray]:
        """Arc and final costs as unsigned fixed point (round to nearest, saturate).

        Non-final states get ``max_value`` (the saturated "infinite" cost).
        """
        scale = float(1 << frac_bits)
        arc = np.minimum(np.round(self.arc_cost * scale), max_value).astype(np.int64)
        final = np.where(np.isfinite(self.final_cost), self.final_cost * scale, max_value)
        return arc, np.minimum(np.round(final), max_value).astype(np.int64)


def _check_labels(name: str, values: np.ndarray, lo: int, hi: int, why: str) -> None:
    bad = np.flatnonzero((values < lo) | (values > hi))
    if bad.size:
        raise GraphError(f"{name}[{int(bad[0])}] = {int(values[bad[0]])} is out of range "
                         f"{lo}..{hi} ({why})")


def from_arc_list(num_states: int, start: int, arcs, final_costs: dict, *, num_pdfs: int,
                  words) -> Graph:
    """Build a :class:`Graph` from ``(src, dest, ilabel, olabel, cost)`` tuples in any order."""
    table = np.array(list(arcs), dtype=np.float64).reshape(-1, 5)
    final = np.full(num_states, np.inf)
    for state, cost in final_costs.items():
        final[state] = cost
    return from_arrays(num_states, start, table[:, 0].astype(np.int64),
                       table[:, 1].astype(np.int64), table[:, 2].astype(np.int64),
                       table[:, 3].astype(np.int64), table[:, 4].copy(), final,
                       num_pdfs=num_pdfs, words=words)


def from_arrays(num_states: int, start: int, src, dest, ilabel, olabel, cost, final_cost, *,
                num_pdfs: int, words) -> Graph:
    """Build a :class:`Graph` from parallel arc arrays in any order (vectorised).

    Arcs are stably sorted by source, so each state keeps its arcs in the order given.
    ``final_cost`` is ``float[num_states]`` with ``inf`` for non-final states.
    """
    src = np.asarray(src, dtype=np.int64)
    if src.size and (src.min() < 0 or src.max() >= num_states):
        bad = int(src[(src < 0) | (src >= num_states)][0])
        raise GraphError(f"arc source {bad} is outside 0..{num_states - 1}")
    order = np.argsort(src, kind="stable")
    offsets = np.zeros(num_states + 1, dtype=np.int64)
    np.add.at(offsets, src + 1, 1)
    return Graph(start=int(start), state_offset=np.cumsum(offsets),
                 arc_dest=np.asarray(dest, dtype=np.int64)[order],
                 arc_ilabel=np.asarray(ilabel, dtype=np.int64)[order],
                 arc_olabel=np.asarray(olabel, dtype=np.int64)[order],
                 arc_cost=np.asarray(cost, dtype=np.float64)[order],
                 final_cost=np.asarray(final_cost, dtype=np.float64).copy(),
                 num_pdfs=int(num_pdfs), words=tuple(words))


def reorder_pdfs(graph: Graph, order) -> Graph:
    """``graph`` for an acoustic model whose output ``k`` is ``graph``'s pdf ``order[k]``: every
    arc reads the same score as before from its new position, so a search decodes the same.

    Raises :class:`GraphError` if ``order`` is not a permutation of ``0..num_pdfs - 1``.
    """
    order = np.asarray(order)
    if (order.shape != (graph.num_pdfs,) or order.dtype.kind not in "iu"
            or not np.array_equal(np.sort(order), np.arange(graph.num_pdfs))):
        raise GraphError(f"a pdf order must hold each of the graph's {graph.num_pdfs} pdfs once; "
                         f"got shape {order.shape}, dtype {order.dtype}")
    position = np.empty(graph.num_pdfs + 1, dtype=np.int64)
    position[0] = 0  # epsilon stays epsilon
    position[order + 1] = np.arange(1, graph.num_pdfs + 1)
    return replace(graph, arc_ilabel=position[graph.arc_ilabel])


def random_graph(seed: int, *, num_states: int = 20, num_pdfs: int = 10, num_words: int = 5,
                 arcs_per_state: float = 3.0, epsilon_fraction: float = 0.1) -> Graph:
    """A random graph for tests: every state reachable, at least one final state.

    A chain through all states guarantees reachability; epsilon arcs only go forward in state
    order, so the graph has no epsilon cycles.
    """
    rng = np.random.default_rng(seed)
    arcs = []
    for state in range(num_states):
        count = max(1, rng.poisson(arcs_per_state))
        for k in range(count):
            if k == 0 and state + 1 < num_states:
                dest = state + 1
            else:
                dest = int(rng.integers(num_states))
            epsilon = rng.random() < epsilon_fraction and dest > state
            ilabel = 0 if epsilon else int(rng.integers(1, num_pdfs + 1))
            olabel = int(rng.integers(1, num_words + 1)) if rng.random() < 0.3 else 0
            arcs.append((state, dest, ilabel, olabel, float(rng.exponential(2.0))))
    finals = {int(s): float(rng.exponential(1.0))
              for s in rng.choice(num_states, size=max(1, num_states // 5), replace=False)}
    finals[num_states - 1] = 0.5
    words = ["<eps>"] + [f"w{i}" for i in range(1, num_words + 1)]
    return from_arc_list(num_states, 0, arcs, finals, num_pdfs=num_pdfs, words=words)


def save_graph(path, graph: Graph) -> None:
    """Write ``graph`` to an ``.npz`` file (no pickles)."""
    np.savez(path, format=np.array(GRAPH_FORMAT[0]), version=np.array(GRAPH_FORMAT[1]),
             start=np.array(graph.start), state_offset=graph.state_offset,
             arc_dest=graph.arc_dest, arc_ilabel=graph.arc_ilabel, arc_olabel=graph.arc_olabel,
             arc_cost=graph.arc_cost, final_cost=graph.final_cost,
             num_pdfs=np.array(graph.num_pdfs), words=np.array(graph.words, dtype=str))


def load_graph(path) -> Graph:
    """Read a graph written by :func:`save_graph`, validating it."""
    with np.load(path, allow_pickle=False) as data:
        name = str(data["format"]) if "format" in data else None
        if name != GRAPH_FORMAT[0] or int(data["version"]) != GRAPH_FORMAT[1]:
            raise GraphError(f"{path} is not an asrhw graph file (format {name!r}); expected "
                             f"{GRAPH_FORMAT[0]!r} version {GRAPH_FORMAT[1]}")
        return Graph(start=int(data["start"]), state_offset=data["state_offset"],
                     arc_dest=data["arc_dest"], arc_ilabel=data["arc_ilabel"],
                     arc_olabel=data["arc_olabel"], arc_cost=data["arc_cost"],
                     final_cost=data["final_cost"], num_pdfs=int(data["num_pdfs"]),
                     words=tuple(str(w) for w in data["words"]))
