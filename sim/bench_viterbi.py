"""Cycles of the Viterbi unit on a real-sized task: arcs per cycle in the expansion phase and
cycles per frame against the table size, every utterance checked against the golden model;
word-trace use and the cycles its collection costs against the trace depth."""

from __future__ import annotations

import dataclasses
import time

from sim.viterbi import bench_utterances
from sim.viterbi_cases import ViterbiCase, expectation
from sim.viterbi_workload import fitted_config, task_graph, workload

__all__ = ["bench_table", "plot_sweep", "plot_trace", "trace_usage"]


def bench_table(*, task: str, sets: int, ways: int, utterances: int, frames: int, seed: int,
                simulator: str, corpus=None, beam: float = 16.0, hash_kind: str = "xor_fold",
                trace_depth: int = 4096, trace_gc_free=None, graph=None, source=None,
                build_root=None) -> dict:
    """Decode ``utterances`` of ``task`` on a ``sets x ways`` unit with a ``trace_depth``-entry
    word trace (collected below ``trace_gc_free`` free entries); return the figures."""
    if graph is None:
        graph, source = task_graph(task, seed=seed, corpus=corpus)
    config = dataclasses.replace(fitted_config(graph, sets=sets, ways=ways, beam=beam,
                                               hash_kind=hash_kind, trace_depth=trace_depth),
                                 trace_gc_free=trace_gc_free)
    started = time.monotonic()
    expectations = [expectation(ViterbiCase(f"{task}-{i}", graph, costs), config)
                    for i, costs in enumerate(workload(graph, utterances=utterances,
                                                       frames=frames, seed=seed,
                                                       cost=config.cost))]
    golden_seconds = time.monotonic() - started
    result = bench_utterances(expectations, simulator=simulator, config=config,
                              build_root=build_root)
    rows = result["utterances"]

    def total(name):
        return sum(row[name] for row in rows)

    frames_total = total("frames")
    return {
        "task": task, "graph": source, "states": graph.num_states, "arcs": graph.num_arcs,
        "sets": sets, "ways": ways, "table_entries": sets * ways, "hash": hash_kind,
        "beam": beam, "utterances": len(rows), "frames": frames_total,
        "passed": result["passed"], "failed": result["failed"],
        "failures": result["failures"],
        "cycles": total("cycles"), "cycles_per_frame": total("cycles") / max(1, frames_total),
        "expand_cycles": total("expand_cycles"), "expand_arcs": total("expand_arcs"),
        "arcs_per_cycle": total("expand_arcs") / max(1, total("expand_cycles")),
        "epsilon_cycles_per_frame": total("epsilon_cycles") / max(1, frames_total),
        "tokens_per_frame": total("hypotheses_read") / max(1, frames_total),
        "arcs_per_frame": total("arcs_expanded") / max(1, frames_total),
        "trace_depth": config.trace_depth, "trace_gc_threshold": config.trace_gc_threshold,
        "trace_collections": total("trace_collections"),
        "trace_overflows": sum(row["trace_overflow"] for row in rows),
        "collect_cycles": total("collect_cycles"),
        "collect_cycles_per_frame": total("collect_cycles") / max(1, frames_total),
        "collect_share": total("collect_cycles") / max(1, total("cycles")),
        "trace_appends_per_frame": sum(e["trace_appends"] for e in expectations)
        / max(1, frames_total),
        "trace_peak": max(e["trace_peak"] for e in expectations),
        "simulator": simulator, "build_seconds": result["build_seconds"],
        "run_seconds": result["run_seconds"], "golden_seconds": round(golden_seconds, 3),
    }


def trace_usage(graph, costs, config) -> dict:
    """Golden per-frame word-trace use of one utterance: entries in use after every frame
    with ``config``'s collection, and words traced so far without any (an unbounded trace)."""
    from sw.golden.viterbi import decode

    collected = decode(graph, costs, config, keep_tables=True)
    unbounded = decode(graph, costs, dataclasses.replace(config, trace_depth=65536,
                                                         trace_gc_free=0), keep_tables=True)
    in_use = []
    for _word, parent, head, high_water in collected.traces:
        free = 0
        while head != -1:
            free, head = free + 1, int(parent[head])
        in_use.append(high_water - free)
    return {"trace_depth": config.trace_depth, "in_use": in_use,
            "appended": [trace[3] for trace in unbounded.traces],
            "collections": collected.counters.trace_collections,
            "trace_overflow": collected.trace_overflow,
            "same_words": collected.words == unbounded.words}


def plot_trace(rows, curves, path) -> None:
    """Trace entries in use per frame with collection against words traced without it, and
    the share of cycles spent collecting, per trace depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(curves[0]["appended"], "k--", label="appended, no collection")
    for curve in curves:
        left.plot(curve["in_use"], label=f"in use, {curve['trace_depth']}-entry trace"
                  + (" (overflows)" if curve["trace_overflow"] else ""))
    left.set(yscale="log", xlabel="frame", ylabel="word-trace entries",
             title="word trace: in use with collection")
    left.legend(fontsize=8)
    labels = [str(row["trace_depth"]) for row in rows]
    right.bar(labels, [100 * row["collect_share"] for row in rows])
    for index, row in enumerate(rows):
        right.annotate(f"{row['collect_cycles_per_frame']:.0f} cyc/frame",
                       (index, 100 * row["collect_share"]), ha="center", va="bottom",
                       fontsize=8)
    right.set(xlabel="trace entries", ylabel="% of cycles collecting",
              title=f"collection cost ({rows[0]['sets']} x {rows[0]['ways']} table)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_sweep(rows, path) -> None:
    """Cycles per frame and tokens per frame against table entries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [row["table_entries"] for row in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(entries, [row["cycles_per_frame"] for row in rows], "o-", label="all phases")
    left.plot(entries, [row["expand_cycles"] / max(1, row["frames"]) for row in rows], "s--",
              label="expansion")
    left.set(xscale="log", yscale="log", xlabel="table entries (sets x ways)",
             ylabel="cycles per frame", title="Viterbi unit: cycles per frame")
    left.legend()
    right.plot(entries, [row["tokens_per_frame"] for row in rows], "o-",
               label="hypotheses per frame")
    right.plot(entries, entries, ":", color="grey", label="table size")
    right.set(xscale="log", yscale="log", xlabel="table entries",
              ylabel="hypotheses per frame", title="the table bounds the search")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
