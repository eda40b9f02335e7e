"""Benchmark of the SpMV engine: measured cycles against the ideal bound, on a simulator.

The efficiency figure is the one EIE reports: the busiest PE's entries (padding included) for
the nonzero activations, divided by the cycles measured. MAC utilization counts only the
multiply-accumulates with a nonzero weight and a nonzero activation, over ``cycles x PEs``:
padding entries and load imbalance both lower it.
"""

import numpy as np

from hw.config import SpMVConfig
from sim.spmv import bench_layer
from sw.csc import encode, storage_report
from sw.golden.spmv import golden_spmv, ideal_cycles, nonzero_macs

__all__ = ["bench_one", "plot_sweep", "random_layer", "sweep"]


def random_layer(config: SpMVConfig, *, rows, cols, sparsity, seed):
    """A random 4-bit layer of the given sparsity and an activation vector, half of it zero.

    Returns the layer and ``x``, and the config with ``entry_depth`` set to what the layer needs.
    """
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((rows, cols)) >= sparsity, rng.integers(1, 16, (rows, cols)), 0)
    book = rng.integers(*config.codebook_range, endpoint=True, size=15)
    bias = rng.integers(-256, 256, rows)
    roomy = config.replace(entry_depth=1 << 20)
    layer = encode(codes, book, bias, config=roomy, relu=config.relu)
    config = config.replace(entry_depth=max(1, int(layer.entry_counts.max())))
    lo, hi = config.act_range
    x = np.where(rng.random(cols) < 0.5, 0, rng.integers(lo // 4, hi // 4, cols))
    return layer, x, config


def bench_one(config: SpMVConfig, *, rows, cols, sparsity, seed, simulators) -> dict:
    """Run one layer on each simulator; return the figures (and check every output)."""
    layer, x, config = random_layer(config, rows=rows, cols=cols, sparsity=sparsity, seed=seed)
    expected = golden_spmv(layer, x, config).tolist()
    ideal = ideal_cycles(layer, x)
    macs = nonzero_macs(layer, x)
    storage = storage_report(layer, config=config)
    report = {"pes": config.pes, "fifo_depth": config.fifo_depth,
              "index_bits": config.index_bits, "rows": rows, "cols": cols,
              "sparsity": sparsity, "nonzero_activations": int(np.count_nonzero(x)),
              "ideal_cycles": ideal, "nonzero_macs": macs,
              "padding_fraction": storage["padding_fraction"],
              "bits_per_nonzero": storage["bits_per_nonzero"], "storage": storage,
              "outputs_match_golden": True}
    for simulator in simulators:
        result = bench_layer(layer, x, simulator=simulator, config=config)
        report["outputs_match_golden"] &= result["outputs"] == expected
        report["cycles"] = result["compute_cycles"]
        report["output_cycles"] = result["output_cycles"]
        report[f"{simulator}_seconds"] = result["run_seconds"]
        report[f"{simulator}_build_seconds"] = result["build_seconds"]
    cycles = report["cycles"]
    report["efficiency"] = ideal / cycles if cycles else 1.0
    report["mac_utilization"] = macs / (cycles * config.pes) if cycles else 0.0
    if "icarus_seconds" in report and "verilator_seconds" in report:
        report["verilator_speedup"] = report["icarus_seconds"] / report["verilator_seconds"]
    return report


def sweep(*, rows, cols, sparsity, seed, simulator, pes_values=(8, 16),
          fifo_depths=(1, 2, 4, 8), index_widths=(4, 5, 6)) -> list[dict]:
    """The efficiency / MAC utilization / storage table (same layer weights everywhere)."""
    from tqdm import tqdm

    table = []
    grid = [(p, f, i) for p in pes_values for f in fifo_depths for i in index_widths]
    for pes, fifo_depth, index_bits in tqdm(grid, desc="sweep", unit="config"):
        config = SpMVConfig(pes=pes, fifo_depth=fifo_depth, index_bits=index_bits,
                            max_rows=rows, max_cols=cols, entry_depth=1)
        report = bench_one(config, rows=rows, cols=cols, sparsity=sparsity, seed=seed,
                           simulators=[simulator])
        report.pop("storage")
        table.append(report)
    return table


def plot_sweep(table, path) -> None:
    """Efficiency and MAC utilization against FIFO depth, one line per (PEs, index bits)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    keys = sorted({(r["pes"], r["index_bits"]) for r in table})
    for pes, index_bits in keys:
        rows = sorted((r for r in table if (r["pes"], r["index_bits"]) == (pes, index_bits)),
                      key=lambda r: r["fifo_depth"])
        depths = [r["fifo_depth"] for r in rows]
        style = "-" if pes == 8 else "--"
        label = f"{pes} PEs, {index_bits}-bit index"
        axes[0].plot(depths, [r["efficiency"] for r in rows], style, marker="o", label=label)
        axes[1].plot(depths, [r["mac_utilization"] for r in rows], style, marker="o",
                     label=label)
    axes[0].set_title("load-balance efficiency (ideal / cycles)")
    axes[1].set_title("MAC utilization (nonzero MACs / cycles x PEs)")
    for axis in axes:
        axis.set_xscale("log", base=2)
        axis.set_xlabel("activation FIFO depth")
        axis.grid(alpha=0.3)
    axes[0].axhline(0.998, color="grey", lw=0.8, ls=":")
    axes[1].axhline(0.83, color="grey", lw=0.8, ls=":")
    axes[1].legend(fontsize=7)
    fig.suptitle("SpMV engine, 90 % sparse layer, half the activations zero "
                 "(dotted: EIE reference simulator, 8 PEs)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
