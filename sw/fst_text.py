"""Import (and export) decoding graphs in OpenFST / Kaldi text form, so users can bring their own.

Input is what ``fstprint`` writes: one arc per line ``src dest ilabel olabel [weight]`` and one
final state per line ``state [weight]`` (fields separated by tabs or spaces; a missing weight is
0, i.e. probability 1). As in ``fstprint``, the state of the first line is the start state.
Labels are integers, or symbols when a symbol table is given (``fstprint --isymbols/--osymbols``
output).

Input labels. Our graphs take ``ilabel = pdf id + 1`` (0 = epsilon). Kaldi HCLG graphs carry
*transition-ids* instead; turning those into pdfs needs Kaldi's transition model and is out of
scope here. An input label is therefore either taken as ``pdf + 1`` directly, or mapped through
an optional mapping file with lines ``label pdf`` (e.g. made with Kaldi's ``show-transitions``
or ``ali-to-pdf`` tables); 0 stays epsilon.

Output labels come from a ``words.txt`` symbol table (``word id`` per line, ``<eps>`` = 0).
Word ids are renumbered densely in id order (``words[0] = "<eps>"``); states are renumbered
densely in increasing id order, and the arcs sorted by source (stably, so each state keeps its
``fstprint`` arc order) into the CSR form of :mod:`sw.graph`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sw.graph import Graph, GraphError, from_arrays

__all__ = ["read_fst_text", "read_symbol_table", "write_fst_text"]


def read_symbol_table(path) -> dict:
    """Read an OpenFST symbol table (``symbol id`` per line) into ``{symbol: id}``."""
    table = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not _is_int(fields[1]) or int(fields[1]) < 0:
            raise GraphError(f"{path}:{number}: expected 'symbol id' with id >= 0, got {line!r}")
        if fields[0] in table:
            raise GraphError(f"{path}:{number}: symbol {fields[0]!r} appears twice")
        table[fields[0]] = int(fields[1])
    if len(set(table.values())) != len(table):
        raise GraphError(f"{path}: two symbols share an id")
    return table


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _weight(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GraphError(f"{where}: weight {text!r} is not a number") from None
    if math.isnan(value):
        raise GraphError(f"{where}: weight is NaN")
    return value


def _label(text: str, symbols: dict | None, kind: str, where: str) -> int:
    if _is_int(text):
        value = int(text)
    elif symbols is not None and text in symbols:
        value = symbols[text]
    else:
        source = "the symbol table" if symbols is not None else "no symbol table was given"
        raise GraphError(f"{where}: {kind} {text!r} is not an integer and not in {source}")
    if value < 0:
        raise GraphError(f"{where}: {kind} {value} is negative")
    return value


def read_fst_text(path, *, num_pdfs: int, words_path=None, isymbols_path=None,
                  ilabel_map_path=None) -> Graph:
    """Read a graph from ``fstprint`` text (see the module docstring).

    Parameters
    ----------
    path : path-like
        The ``fstprint`` output.
    num_pdfs : int
        Acoustic-model outputs the graph's input labels refer to.
    words_path : path-like, optional
        ``words.txt`` (output symbols). Without it, words are named by their numbers.
    isymbols_path : path-like, optional
        Input symbol table, when the text has symbolic input labels.
    ilabel_map_path : path-like, optional
        Lines ``label pdf``: input label -> pdf id (the graph gets ``pdf + 1``).
    """
    if isinstance(num_pdfs, bool) or not isinstance(num_pdfs, int) or num_pdfs < 1:
        raise GraphError(f"num_pdfs must be a positive int, not {num_pdfs!r}")
    words_table = read_symbol_table(words_path) if words_path is not None else None
    isymbols = read_symbol_table(isymbols_path) if isymbols_path is not None else None
    pdf_of = _read_ilabel_map(ilabel_map_path) if ilabel_map_path is not None else None

    arcs, finals, start = [], {}, None
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if not _is_int(fields[0]) or int(fields[0]) < 0:
            raise GraphError(f"{where}: state {fields[0]!r} must be an integer >= 0")
        if start is None:
            start = int(fields[0])
        if len(fields) in (1, 2):
            cost = _weight(fields[1], where) if len(fields) == 2 else 0.0
            finals[int(fields[0])] = min(cost, finals.get(int(fields[0]), math.inf))
        elif len(fields) in (4, 5):
            if not _is_int(fields[1]) or int(fields[1]) < 0:
                raise GraphError(f"{where}: destination {fields[1]!r} must be an integer >= 0")
            ilabel = _label(fields[2], isymbols, "input label", where)
            if pdf_of is not None and ilabel != 0:
                if ilabel not in pdf_of:
                    raise GraphError(f"{where}: input label {ilabel} is not in the ilabel map "
                                     f"{ilabel_map_path}")
                ilabel = pdf_of[ilabel] + 1
            olabel = _label(fields[3], words_table, "output label", where)
            cost = _weight(fields[4], where) if len(fields) == 5 else 0.0
            arcs.append((int(fields[0]), int(fields[1]), ilabel, olabel, cost))
        else:
            raise GraphError(f"{where}: expected 'src dest ilabel olabel [weight]' or "
                             f"'state [weight]', got {len(fields)} fields: {line!r}")
    if start is None:
        raise GraphError(f"{path} holds no arcs and no final states")

    table = np.array(arcs, dtype=np.float64).reshape(-1, 5)
    src, dest = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    ilabel, olabel = table[:, 2].astype(np.int64), table[:, 3].astype(np.int64)
    ids = np.unique(np.concatenate([src, dest, np.array([start, *finals], dtype=np.int64)]))
    final = np.full(len(ids), np.inf)
    for state, cost in finals.items():
        final[np.searchsorted(ids, state)] = cost

    if words_table is not None:
        by_id = sorted(words_table.items(), key=lambda item: item[1])
        if not by_id or by_id[0][1] != 0:
            raise GraphError(f"{words_path}: id 0 must be the epsilon symbol '<eps>'")
        known = np.array([i for _, i in by_id], dtype=np.int64)
        words = ("<eps>",) + tuple(w for w, _ in by_id[1:])
    else:
        known = np.arange(int(olabel.max(initial=0)) + 1)
        words = ("<eps>",) + tuple(str(i) for i in known[1:])
    position = np.searchsorted(known, olabel)
    unknown = (position >= len(known)) | (known[np.minimum(position, len(known) - 1)] != olabel)
    if unknown.any():
        raise GraphError(f"output label {int(olabel[unknown][0])} is not in {words_path}")
    return from_arrays(len(ids), int(np.searchsorted(ids, start)), np.searchsorted(ids, src),
                       np.searchsorted(ids, dest), ilabel, position, table[:, 4], final,
                       num_pdfs=num_pdfs, words=words)


def _read_ilabel_map(path) -> dict:
    mapping = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not all(_is_int(f) and int(f) >= 0 for f in fields):
            raise GraphError(f"{path}:{number}: expected 'label pdf' (integers >= 0), got "
                             f"{line!r}")
        mapping[int(fields[0])] = int(fields[1])
    return mapping


def write_fst_text(graph: Graph, path, words_path=None) -> None:
    """Write ``graph`` as ``fstprint`` text (numeric labels; weights with 9 significant digits,
    enough for float32) and optionally its ``words.txt``. The start state is written first."""
    lines = []
    if not len(graph.arcs(graph.start)):  # the first line must name the start state
        lines.append(f"{graph.start}\t{graph.final_cost[graph.start]:.9g}")
    order = [graph.start] + [s for s in range(graph.num_states) if s != graph.start]
    for state in order:
        for arc in graph.arcs(state):
            lines.append(f"{state}\t{graph.arc_dest[arc]}\t{graph.arc_ilabel[arc]}\t"
                         f"{graph.arc_olabel[arc]}\t{graph.arc_cost[arc]:.9g}")
    for state in np.flatnonzero(np.isfinite(graph.final_cost)).tolist():
        if lines and state == graph.start and not len(graph.arcs(state)):
            continue
        lines.append(f"{state}\t{graph.final_cost[state]:.9g}")
    if not lines:
        lines.append(f"{graph.start}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if words_path is not None:
        Path(words_path).write_text("".join(f"{w} {i}\n" for i, w in enumerate(graph.words)),
                                    encoding="utf-8")
