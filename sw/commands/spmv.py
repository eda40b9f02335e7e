"""``asrhw verilog|sim|bench spmv``: the sparse matrix-vector engine from the command line."""

import json
from pathlib import Path

from sw.commands.sim_report import add_sim_options, check_cases, report_sim


def _add_config_options(parser, *, pes=4, fifo_depth=8, index_bits=4):
    group = parser.add_argument_group("engine configuration (hw.config.SpMVConfig)")
    group.add_argument("--pes", type=int, default=pes, help="processing elements")
    group.add_argument("--fifo-depth", type=int, default=fifo_depth,
                       help="activation FIFO depth per PE")
    group.add_argument("--index-bits", type=int, default=index_bits,
                       help="width of the relative row index z (4 as in EIE)")
    return group


def register(top, groups):
    """Add the spmv subcommands to ``verilog``, ``sim`` and ``bench``."""
    verilog = groups["verilog"].add_parser(
        "spmv", help="Verilog of the sparse matrix-vector engine",
        description="Write synthesizable Verilog of the EIE-style sparse engine. Its memories "
                    "start empty and are written through the load port at run time.")
    config = _add_config_options(verilog)
    config.add_argument("--max-rows", type=int, default=1024)
    config.add_argument("--max-cols", type=int, default=1024)
    config.add_argument("--entry-depth", type=int, default=16384,
                        help="entries each PE's memory holds")
    config.add_argument("--act-width", type=int, default=16)
    config.add_argument("--codebook-width", type=int, default=8)
    verilog.add_argument("--output", type=Path, required=True, help="Verilog file to write")
    verilog.set_defaults(func=run_verilog)

    sim = groups["sim"].add_parser(
        "spmv", help="random layers on Icarus or Verilator, checked against the golden model",
        description="Build the engine once, then load and run N random and edge-case layers "
                    "(shapes 1x1 to 300x300, empty columns, padding, saturation) with random "
                    "input gaps and output backpressure; every output is compared with "
                    "sw.golden.spmv. Exits non-zero on any mismatch.")
    add_sim_options(sim, default_simulator="icarus",
                    json_help="also write the per-case results here")
    sim.set_defaults(func=run_sim)

    bench = groups["bench"].add_parser(
        "spmv", help="cycles of one pruned layer vs the ideal bound",
        description="Simulate one random layer (half of the activations zero) and report "
                    "cycles, the ideal bound (busiest PE's entries), efficiency, MAC "
                    "utilization, storage, and simulator wall times. --sweep runs the table "
                    "over FIFO depth 1/2/4/8, 8/16 PEs and index bits 4/5/6 instead.")
    _add_config_options(bench, pes=8)
    bench.add_argument("--rows", type=int, default=1024)
    bench.add_argument("--cols", type=int, default=1024)
    bench.add_argument("--sparsity", type=float, default=0.9,
                       help="fraction of zero weights (0 to 1)")
    bench.add_argument("--simulator", choices=["icarus", "verilator", "both"], default="both")
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--sweep", action="store_true", help="run the whole table")
    bench.add_argument("--json", type=Path, required=True, help="report to write")
    bench.set_defaults(func=run_bench)


def _config(args, **fixed):
    from hw.config import ConfigError, SpMVConfig
    from sw.cli import CommandError

    try:
        return SpMVConfig(pes=args.pes, fifo_depth=args.fifo_depth, index_bits=args.index_bits,
                          **fixed)
    except ConfigError as error:
        raise CommandError(str(error)) from error


def run_verilog(args) -> int:
    """Write the engine's Verilog."""
    from amaranth.back import verilog

    from hw.spmv import SpMVEngine

    config = _config(args, max_rows=args.max_rows, max_cols=args.max_cols,
                     entry_depth=args.entry_depth, act_width=args.act_width,
                     act_frac=min(8, args.act_width - 1), codebook_width=args.codebook_width,
                     codebook_frac=min(6, args.codebook_width - 1))
    text = verilog.convert(SpMVEngine(config), name="spmv_engine")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text.splitlines())} lines, {config.pes} PEs)")
    return 0


def run_sim(args) -> int:
    """Run random cases; print the tally as the last line."""
    from sim.spmv import simulate_cases

    check_cases(args)
    result = simulate_cases(simulator=args.simulator, count=args.cases, seed=args.seed)
    for failure in result["failures"]:
        print(f"MISMATCH case {failure['case']} (index {failure['index']}): first wrong row "
              f"{failure['first_wrong_row']}\n  expected {failure['expected']}\n"
              f"  got      {failure['got']}")
    return report_sim(args, result)


def run_bench(args) -> int:
    """Benchmark one layer or the sweep; write JSON (and a PNG for the sweep)."""
    from sim.bench_spmv import bench_one, plot_sweep, sweep
    from sw.cli import CommandError

    if not 0 <= args.sparsity < 1:
        raise CommandError(f"--sparsity must be from 0 to below 1, not {args.sparsity}")
    for name in ("rows", "cols"):
        if not 1 <= getattr(args, name) <= 65536:
            raise CommandError(f"--{name} must be from 1 to 65536, not {getattr(args, name)}")
    simulators = ["icarus", "verilator"] if args.simulator == "both" else [args.simulator]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    if args.sweep:
        rows = sweep(rows=args.rows, cols=args.cols, sparsity=args.sparsity, seed=args.seed,
                     simulator=simulators[-1])
        report = {"rows": args.rows, "cols": args.cols, "sparsity": args.sparsity,
                  "simulator": simulators[-1], "table": rows}
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        picture = args.json.with_suffix(".png")
        plot_sweep(rows, picture)
        print(f"{'PEs':>4} {'FIFO':>4} {'idx':>3} {'eff':>6} {'MAC':>6} {'bits/nz':>7}")
        for row in rows:
            print(f"{row['pes']:>4} {row['fifo_depth']:>4} {row['index_bits']:>3} "
                  f"{row['efficiency']:>6.3f} {row['mac_utilization']:>6.3f} "
                  f"{row['bits_per_nonzero']:>7.2f}")
        print(f"report written to {args.json} and {picture}")
        return 0
    config = _config(args, max_rows=args.rows, max_cols=args.cols, entry_depth=1)
    report = bench_one(config, rows=args.rows, cols=args.cols, sparsity=args.sparsity,
                       seed=args.seed, simulators=simulators)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"cycles {report['cycles']} (ideal {report['ideal_cycles']}): efficiency "
          f"{report['efficiency']:.4f}, MAC utilization {report['mac_utilization']:.4f}")
    for simulator in simulators:
        print(f"{simulator}: {report[simulator + '_seconds']:.2f} s simulation")
    if "verilator_speedup" in report:
        print(f"Verilator is {report['verilator_speedup']:.1f}x faster than Icarus")
    print(f"report written to {args.json}")
    return 0 if report["outputs_match_golden"] else 1
