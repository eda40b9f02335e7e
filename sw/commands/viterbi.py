"""``asrhw verilog|sim|bench viterbi``: the Viterbi unit from the command line."""

import json
from pathlib import Path

from sw.commands.sim_report import add_sim_options, check_cases, report_sim

# 4096 entries (1024 x 4) elaborate and are checked in the golden model, but Verilator needs
# more than 12 GB to compile them (the valid bits are flip-flops indexed by set), so the sweep
# stops at 1024.
SWEEP_TABLES = ((4, 4), (16, 4), (64, 4), (256, 4))
SWEEP_TRACES = (256, 1024, 4096)


def _add_table_options(parser):
    group = parser.add_argument_group("hypothesis table (hw.config.ViterbiConfig)")
    group.add_argument("--sets", type=int, default=64, help="sets, a power of two")
    group.add_argument("--ways", type=int, default=4, help="ways per set")
    group.add_argument("--hash", choices=["xor_fold", "multiplicative"], default="xor_fold",
                       help="set index of a state")
    return group


def register(top, groups):
    """Add the viterbi subcommands to ``verilog``, ``sim`` and ``bench``."""
    verilog = groups["verilog"].add_parser(
        "viterbi", help="Verilog of the Viterbi unit",
        description="Write synthesizable Verilog of the Viterbi unit with its set-associative "
                    "hypothesis table. Graph memories start empty and are written through the "
                    "graph_load port.")
    group = _add_table_options(verilog)
    group.add_argument("--state-bits", type=int, default=16)
    group.add_argument("--max-states", type=int, default=1024)
    group.add_argument("--max-arcs", type=int, default=4096)
    group.add_argument("--max-pdfs", type=int, default=256)
    group.add_argument("--trace-depth", type=int, default=4096)
    verilog.add_argument("--output", type=Path, required=True, help="Verilog file to write")
    verilog.set_defaults(func=run_verilog)

    sim = groups["sim"].add_parser(
        "viterbi", help="random graphs on Icarus or Verilator, checked against the golden model",
        description="Build the unit once (an 8 x 2 table, narrow costs, a short trace memory), "
                    "then decode N random graphs with random costs, random score gaps and "
                    "word backpressure; words, total cost, flags, counters and the table after "
                    "every frame are compared with sw.golden.viterbi. Exits non-zero on any "
                    "mismatch.")
    add_sim_options(sim, default_simulator="verilator",
                    json_help="also write the per-utterance results here")
    sim.set_defaults(func=run_sim)

    bench = groups["bench"].add_parser(
        "viterbi", help="arcs per cycle and cycles per frame on the 1,000-word task",
        description="Decode utterances of a task on a unit sized for its graph (synthetic "
                    "scores: a random walk through the graph with noisy posteriors), check them "
                    "against the golden model, and report arcs per cycle in the expansion "
                    "phase, cycles per frame and hypotheses per frame. --sweep runs table sizes "
                    f"{', '.join(f'{s}x{w}' for s, w in SWEEP_TABLES)} and writes a PNG too; "
                    f"--trace-sweep runs word-trace depths "
                    f"{', '.join(str(d) for d in SWEEP_TRACES)} on one table and plots trace "
                    f"entries in use (collected) against words appended (not collected) and "
                    f"the share of cycles spent collecting.")
    _add_table_options(bench)
    bench.add_argument("--task", choices=["words", "digits"], default="words")
    bench.add_argument("--corpus", type=Path,
                       help="corpus directory (asrhw corpus) to build the graph from; default: "
                            "a synthetic graph of the same size")
    bench.add_argument("--utterances", type=int, default=2)
    bench.add_argument("--frames", type=int, default=100, help="frames per utterance")
    bench.add_argument("--beam", type=float, default=16.0, help="beam in cost units")
    bench.add_argument("--simulator", choices=["icarus", "verilator"], default="verilator")
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--trace-depth", type=int, default=4096, help="word-trace entries")
    bench.add_argument("--trace-gc-free", type=int, default=None,
                       help="collect the trace below this many free entries (0: never; "
                            "default: half the trace depth)")
    bench.add_argument("--sweep", action="store_true", help="run several table sizes")
    bench.add_argument("--trace-sweep", action="store_true",
                       help="run several word-trace depths (with their default threshold)")
    bench.add_argument("--json", type=Path, required=True, help="report to write")
    bench.set_defaults(func=run_bench)


def run_verilog(args) -> int:
    """Write the unit's Verilog."""
    from amaranth.back import verilog

    from hw.config import ConfigError, ViterbiConfig
    from hw.viterbi.unit import ViterbiUnit
    from sw.cli import CommandError

    try:
        config = ViterbiConfig(sets=args.sets, ways=args.ways, hash=args.hash,
                               state_bits=args.state_bits, max_states=args.max_states,
                               max_arcs=args.max_arcs, max_pdfs=args.max_pdfs,
                               trace_depth=args.trace_depth)
    except ConfigError as error:
        raise CommandError(str(error)) from error
    text = verilog.convert(ViterbiUnit(config), name="viterbi_unit")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text.splitlines())} lines, {config.sets} sets x "
          f"{config.ways} ways = {config.table_entries} hypotheses)")
    return 0


def run_sim(args) -> int:
    """Run random graphs; print the tally as the last line."""
    from sim.viterbi import simulate_cases

    check_cases(args)
    result = simulate_cases(simulator=args.simulator, count=args.cases, seed=args.seed)
    for failure in result["failures"]:
        print(f"MISMATCH {failure['case']}: {failure['field']}\n"
              f"  expected {failure['expected']}\n  got      {failure['got']}")
    return report_sim(args, result)


def _check_table(sets, ways):
    from hw.config import ConfigError, ViterbiConfig
    from sw.cli import CommandError

    try:
        ViterbiConfig(sets=sets, ways=ways)
    except ConfigError as error:
        raise CommandError(str(error)) from error


def _check_trace(depth, gc_free):
    from hw.config import ConfigError, ViterbiConfig
    from sw.cli import CommandError

    try:
        ViterbiConfig(trace_depth=depth, trace_gc_free=gc_free)
    except ConfigError as error:
        raise CommandError(str(error)) from error


def run_bench(args) -> int:
    """Benchmark one table size or the sweep; write JSON (and a PNG for the sweep)."""
    from sim.bench_viterbi import bench_table, plot_sweep, plot_trace, trace_usage
    from sim.viterbi_workload import task_graph
    from sw.cli import CommandError

    for name, low in (("utterances", 1), ("frames", 1)):
        if getattr(args, name) < low:
            raise CommandError(f"--{name} must be at least {low}, not {getattr(args, name)}")
    if args.corpus is not None and not args.corpus.is_dir():
        raise CommandError(f"--corpus {args.corpus} is not a directory (make one with "
                           f"`asrhw corpus --out DIR`)")
    if args.sweep and args.trace_sweep:
        raise CommandError("--sweep and --trace-sweep are exclusive: sweep one thing at a time")
    tables = SWEEP_TABLES if args.sweep else ((args.sets, args.ways),)
    for sets, ways in tables:
        _check_table(sets, ways)
    if args.trace_sweep:
        runs = [(args.sets, args.ways, depth, None) for depth in SWEEP_TRACES]
    else:
        runs = [(sets, ways, args.trace_depth, args.trace_gc_free) for sets, ways in tables]
    for _sets, _ways, depth, gc_free in runs:
        _check_trace(depth, gc_free)
    graph, source = task_graph(args.task, seed=args.seed, corpus=args.corpus)
    rows = []
    for sets, ways, depth, gc_free in runs:
        row = bench_table(task=args.task, sets=sets, ways=ways, utterances=args.utterances,
                          frames=args.frames, seed=args.seed, simulator=args.simulator,
                          beam=args.beam, hash_kind=args.hash, trace_depth=depth,
                          trace_gc_free=gc_free, graph=graph, source=source)
        rows.append(row)
        print(f"trace {depth} entries (collect below {row['trace_gc_threshold']} free): "
              f"{row['trace_collections']} collections, {row['trace_appends_per_frame']:.0f} "
              f"appends/frame, peak {row['trace_peak']} in use, "
              f"{row['collect_cycles_per_frame']:.0f} collect cycles/frame "
              f"({100 * row['collect_share']:.2f} % of cycles), "
              f"{row['trace_overflows']} overflowing utterance(s)")
        if len(runs) > 1:  # a long sweep keeps what it has measured so far
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"graph": source, "table": rows}, indent=1) + "\n")
        print(f"{sets:>5} x {ways:<2} ({row['table_entries']:>5} entries): "
              f"{row['arcs_per_cycle']:.3f} arcs/cycle in expansion, "
              f"{row['cycles_per_frame']:.0f} cycles/frame, "
              f"{row['tokens_per_frame']:.0f} hypotheses/frame, "
              f"{row['passed']}/{row['utterances']} bit-exact")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = rows[0] if len(rows) == 1 else {"graph": source, "table": rows}
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    written = [str(args.json)]
    if args.trace_sweep:
        from sim.viterbi_workload import fitted_config, workload

        curves = []
        for row in rows:
            config = fitted_config(graph, sets=args.sets, ways=args.ways, beam=args.beam,
                                   hash_kind=args.hash, trace_depth=row["trace_depth"])
            costs = workload(graph, utterances=1, frames=args.frames, seed=args.seed,
                             cost=config.cost)[0]
            curves.append(trace_usage(graph, costs, config))
        report["trace_curves"] = curves
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        picture = args.json.with_suffix(".png")
        plot_trace(rows, curves, picture)
        written.append(str(picture))
    elif len(rows) > 1:
        picture = args.json.with_suffix(".png")
        plot_sweep(rows, picture)
        written.append(str(picture))
    print(f"report written to {' and '.join(written)}")
    failed = sum(row["failed"] for row in rows)
    if failed:
        print(f"{failed} utterance(s) differ from the golden model")
    return 1 if failed else 0
