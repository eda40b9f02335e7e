"""``asrhw demo``: generate Verilog, simulate a pruned layer on Icarus, compare with golden."""

import json
from pathlib import Path


def register(top, groups):
    """Add ``demo``."""
    demo = top.add_parser(
        "demo", help="Verilog + a 90 %%-pruned 4-bit layer on Icarus, checked against golden",
        description="Prune a 256x440 layer (the first layer of the acoustic model's shape) to "
                    "the given sparsity by magnitude, share its weights with 4-bit k-means, "
                    "encode it in the EIE format, write the engine's Verilog, simulate it on "
                    "Icarus and compare every output with the bit-exact golden model.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--pes", type=int, default=4)
    demo.add_argument("--sparsity", type=float, default=0.9)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus")
    demo.set_defaults(func=run_demo)


def run_demo(args) -> int:
    """Run the demo; exit 0 only when the RTL matched the golden model."""
    import numpy as np
    from amaranth.back import verilog

    from hw.config import SpMVConfig
    from hw.spmv import SpMVEngine
    from sim.spmv import bench_layer
    from sw.cli import CommandError
    from sw.csc import encode, storage_report
    from sw.golden.spmv import golden_spmv, ideal_cycles, nonzero_macs
    from sw.share import share_layer

    if not 0 <= args.sparsity < 1:
        raise CommandError(f"--sparsity must be from 0 to below 1, not {args.sparsity}")
    rng = np.random.default_rng(args.seed)
    rows, cols = 256, 440
    weights = rng.normal(0, 0.05, (rows, cols))
    threshold = np.quantile(np.abs(weights), args.sparsity)
    weights[np.abs(weights) <= threshold] = 0.0
    config = SpMVConfig(pes=args.pes, max_rows=rows, max_cols=cols, entry_depth=1 << 16)
    codes, book = share_layer(weights, config)
    bias = np.round(rng.normal(0, 0.1, rows) * (1 << config.act_frac)).astype(np.int64)
    layer = encode(codes, book, bias, config=config, relu=True)
    config = config.replace(entry_depth=int(layer.entry_counts.max()))
    # one spliced feature frame in the activation fixed point, about half of it zero
    x = np.round(rng.normal(0, 1, cols) * (1 << config.act_frac)).astype(np.int64)
    x[rng.random(cols) < 0.5] = 0

    args.out.mkdir(parents=True, exist_ok=True)
    verilog_file = args.out / "spmv.v"
    verilog_file.write_text(verilog.convert(SpMVEngine(config), name="spmv_engine"))
    print(f"1. Verilog of a {config.pes}-PE engine: {verilog_file}")
    storage = storage_report(layer, config=config)
    print(f"2. layer {rows}x{cols}, {args.sparsity:.0%} pruned, 4-bit shared: "
          f"{layer.nonzero_count} nonzeros, {storage['bits_per_nonzero']:.2f} bits/nonzero "
          f"({storage['vs_dense']:.1%} of dense 4-bit)")
    print(f"3. simulating on {args.simulator} ...", flush=True)
    result = bench_layer(layer, x, simulator=args.simulator, config=config)
    expected = golden_spmv(layer, x, config).tolist()
    matches = sum(int(a == b) for a, b in zip(result["outputs"], expected, strict=True))
    cycles, ideal = result["compute_cycles"], ideal_cycles(layer, x)
    summary = {"rows": rows, "cols": cols, "pes": config.pes, "sparsity": args.sparsity,
               "outputs_matching_golden": matches, "outputs": rows, "cycles": cycles,
               "ideal_cycles": ideal, "efficiency": ideal / cycles,
               "mac_utilization": nonzero_macs(layer, x) / (cycles * config.pes),
               "simulator": args.simulator, "simulation_seconds": result["run_seconds"],
               "storage": storage}
    (args.out / "demo.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"4. {matches}/{rows} outputs equal the golden model; {cycles} cycles for an ideal "
          f"of {ideal} (efficiency {ideal / cycles:.3f}); summary in {args.out / 'demo.json'}")
    return 0 if matches == rows else 1
