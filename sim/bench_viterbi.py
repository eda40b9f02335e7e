"""Cycles of the Viterbi unit on a real-sized task: arcs per cycle in the expansion phase and
cycles per frame against the table size, every utterance checked against the golden model."""

from __future__ import annotations

import time

from sim.viterbi import bench_utterances
from sim.viterbi_cases import ViterbiCase, expectation
from sim.viterbi_workload import fitted_config, task_graph, workload

__all__ = ["bench_table", "plot_sweep"]


def bench_table(*, task: str, sets: int, ways: int, utterances: int, frames: int, seed: int,
                simulator: str, corpus=None, beam: float = 16.0, hash_kind: str = "xor_fold",
                graph=None, source=None, build_root=None) -> dict:
    """Decode ``utterances`` of ``task`` on a ``sets x ways`` unit; return the figures."""
    if graph is None:
        graph, source = task_graph(task, seed=seed, corpus=corpus)
    config = fitted_config(graph, sets=sets, ways=ways, beam=beam, hash_kind=hash_kind)
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
        "simulator": simulator, "build_seconds": result["build_seconds"],
        "run_seconds": result["run_seconds"], "golden_seconds": round(golden_seconds, 3),
    }


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
