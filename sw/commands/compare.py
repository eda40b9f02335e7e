"""``asrhw compare``: golden = Icarus = Verilator (= board) on real digit utterances."""

import json
from pathlib import Path


def register(top, groups):
    """Add ``compare`` to the ``asrhw`` parser."""
    compare = top.add_parser(
        "compare", help="the same utterances through golden, Icarus, Verilator and a board",
        description="Build the digit recognizer (exported model + the corpus's digit loop + "
                    "a Viterbi unit sized for it), run N test-voice utterances through the "
                    "golden system model, each simulator (the whole recognizer core: every "
                    "layer on the SpMV engine, cost unit, Viterbi unit) and, with --port, the "
                    "board; print words and match per utterance, cycles per frame, the "
                    "hardware-projected time per frame at each built board's Fmax "
                    "(boards/reports/system_*.json) next to the measured CPU time of the NumPy "
                    "forward pass + Kaldi FasterDecoder on the same model and graph. The last "
                    "line is 'N passed, M failed'; any mismatch exits non-zero.")
    compare.add_argument("--utterances", type=int, default=50, help="test utterances")
    compare.add_argument("--simulators", default="icarus,verilator",
                         help="comma-separated: icarus, verilator (or 'none')")
    compare.add_argument("--model", type=Path, default=Path("runs/pipeline"),
                         help="'asrhw model pipeline' output (or its export/ directory)")
    compare.add_argument("--corpus", type=Path, default=Path("runs/corpus"),
                         help="corpus directory ('asrhw corpus')")
    compare.add_argument("--pes", type=int, default=None,
                         help="SpMV processing elements of the compared design (default: the "
                              "board's, else the PE count the model was exported for); the "
                              "model is re-encoded, its outputs do not change")
    compare.add_argument("--fifo-depth", type=int, default=None,
                         help="each PE's column FIFO (default: the board's, else the model's)")
    compare.add_argument("--batch", type=int, default=None,
                         help="frames per pass over the weights, 1 to 16 (default: the "
                              "board's, else 1); outputs do not change, throughput rises")
    compare.add_argument("--accumulator-banks", type=int, default=None,
                         help="1 or 2: with 2 each layer computes while the one before is "
                              "read out (default: the board's, else 1); outputs do not change")
    compare.add_argument("--multiplier-stages", type=int, default=None,
                         help="1 or 2: with 2 each multiplier's operands are registered once "
                              "more, one cycle more per layer (default: the board's, else 1); "
                              "outputs do not change")
    compare.add_argument("--accumulate-stages", type=int, default=None,
                         help="1 or 2: with 2 each PE reads its accumulators a cycle ahead and "
                              "forwards the total just written, the same cycles (default: the "
                              "board's, else 1); outputs do not change")
    compare.add_argument("--index-bits", type=int, default=None,
                         help="bits of each entry's relative row index, 2 to 8 (default: the "
                              "board's, else the model's); the model is re-encoded, a wider "
                              "index needs fewer padding entries, its outputs do not change")
    compare.add_argument("--row-order", default=None,
                         help="the hidden units' order over the PEs: 'balanced' shares the "
                              "work and pads less (default: the board's, else interleaved); "
                              "the costs do not change")
    compare.add_argument("--splice-context", type=int, default=None,
                         help="frames of context the core splices on each side, 0 to 16 (0: "
                              "the host sends spliced frames; default: the board's, else 0)")
    compare.add_argument("--design", choices=["icebreaker", "ulx3s-85f"],
                         help="compare the recognizer this board builds (boards.Board."
                              "recognizer), with or without the board attached; --board "
                              "implies it")
    unit = compare.add_argument_group(
        "Viterbi unit of the compared design (defaults: with --design or --board, the design "
        "that board builds; otherwise 16 x 4, trace 1,024, the model's cost width)")
    unit.add_argument("--sets", type=int, default=None)
    unit.add_argument("--ways", type=int, default=None)
    unit.add_argument("--beam", type=float, default=None, help="beam in cost units (12)")
    unit.add_argument("--trace-depth", type=int, default=None)
    unit.add_argument("--cost-width", type=int, default=None,
                      help="bits of the costs the cost unit hands the Viterbi unit")
    board = compare.add_argument_group("board (optional)")
    board.add_argument("--board", choices=["icebreaker", "ulx3s-85f"],
                       help="also run the utterances on this board (flashed with the design)")
    board.add_argument("--port", help="its serial port, e.g. /dev/ttyUSB1")
    board.add_argument("--load", action="store_true",
                       help="write the model into the board over the link (LOAD frames) "
                            "before the utterances: for a bitstream built without it, or to "
                            "put a retrained model of the same layout on a flashed board")
    compare.add_argument("--jobs", type=int, default=1,
                         help="simulator processes at once (1 to 64), each with a run of "
                              "consecutive utterances; up to one per core")
    compare.add_argument("--cpu-repeats", type=int, default=5,
                         help="runs of the CPU peer per utterance (1 to 100); the fastest "
                              "counts, so the machine's other load does not move the ratio")
    compare.add_argument("--json", type=Path, help="write the full report here")
    compare.set_defaults(func=run_compare_command)


def _simulators(text):
    from sw.cli import CommandError

    if text == "none":
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ("icarus", "verilator")]
    if unknown or not names:
        raise CommandError(f"--simulators must list icarus and/or verilator (or 'none'), not "
                           f"{text!r}")
    return names


def _board_link(args, design):
    from sw.cli import CommandError
    from sw.link import HostLink

    if args.board is None:
        return None
    if not args.port:
        raise CommandError(f"--board {args.board} needs --port (the board's serial port)")
    try:
        import serial
    except ImportError as error:
        raise CommandError("the board link needs pyserial: pip install -e '.[fpga]'") from error
    from boards import board_named
    from boards.system import board_design
    from hw.config import ConfigError

    # the link as the board's build sets it up (its oscillator, boards.system.LINK_BAUD)
    try:
        link_config = board_design(design, board_named(args.board)).config.link
    except ConfigError as error:  # the board keeps something as this design cannot
        raise CommandError(str(error)) from error
    try:
        port = serial.Serial(args.port, link_config.baud, timeout=0.05)
    except serial.SerialException as error:
        raise CommandError(f"no {args.board} board found at {args.port}: {error}") from error
    return HostLink(port, config=link_config, timeout=2.0)


def _load_model(link, design) -> None:
    """Write ``design``'s model into the board over ``link``, with a progress bar."""
    from tqdm import tqdm

    with tqdm(desc="LOAD", unit="frame") as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        link.load(design.model.load_records(), design.load_format, progress=progress)


def run_compare_command(args) -> int:
    """Run the comparison and print the table."""
    from boards import board_named
    from sim.compare import (
        MAX_CPU_REPEATS,
        MAX_JOBS,
        CompareError,
        DesignChoice,
        cpu_peer,
        describe_model,
        digit_design,
        load_test_utterances,
        model_summary,
        projected,
        run_compare,
    )
    from sw.cli import CommandError

    simulators = _simulators(args.simulators)
    if not simulators and args.board is None:
        raise CommandError("nothing to compare with the golden model: name a simulator "
                           "(--simulators) or a board (--board, --port)")
    if args.utterances < 1:
        raise CommandError(f"--utterances must be at least 1, not {args.utterances}")
    # checked here too, before minutes of design building, not only where they are used
    if not 1 <= args.jobs <= MAX_JOBS:
        raise CommandError(f"--jobs must be from 1 to {MAX_JOBS}, not {args.jobs}")
    if args.load and args.board is None:
        raise CommandError("--load writes the model into a board: it needs --board and --port")
    if args.design and args.board and args.design != args.board:
        raise CommandError(f"--design {args.design} differs from --board {args.board}: the "
                           f"board runs the design it was built with")
    shaped_by = args.board or args.design
    if not 1 <= args.cpu_repeats <= MAX_CPU_REPEATS:
        raise CommandError(f"--cpu-repeats must be from 1 to {MAX_CPU_REPEATS}, not "
                           f"{args.cpu_repeats}")
    try:
        base = DesignChoice() if shaped_by is None else board_named(shaped_by).recognizer
        design = digit_design(args.model, args.corpus, base.given(
            sets=args.sets, ways=args.ways, beam=args.beam, trace_depth=args.trace_depth,
            pes=args.pes, fifo_depth=args.fifo_depth, batch=args.batch,
            accumulator_banks=args.accumulator_banks,
            multiplier_stages=args.multiplier_stages,
            accumulate_stages=args.accumulate_stages, cost_width=args.cost_width,
            splice_context=args.splice_context, row_order=args.row_order,
            index_bits=args.index_bits))
        utterances = load_test_utterances(design, args.corpus, args.utterances)
    except CompareError as error:
        raise CommandError(str(error)) from error
    model = model_summary(design, args.model)
    print(f"model: {describe_model(model)}; corpus: {args.corpus}")
    link = _board_link(args, design)
    if link is not None and not args.load and board_named(args.board).entry_memory == "spram":
        print(f"the {args.board} keeps the entries in SPRAM, so its bitstream holds no model: "
              f"loading it over the link")
        args.load = True
    if args.load:
        _load_model(link, design)
    report = run_compare(design, utterances, simulators=simulators, board_link=link,
                         jobs=args.jobs)
    report["model"] = model
    peer = cpu_peer(design, utterances, repeats=args.cpu_repeats)
    report["cpu_peer"] = {k: v for k, v in peer.items() if k != "words"}
    targets = report["compared"][1:]
    words = design.graph.words
    print(f"{'utterance':<28} {'frames':>6}  {'golden words':<34} "
          + " ".join(f"{t:>9}" for t in targets))
    for row in report["rows"]:
        text = " ".join(words[w] for w in row["golden"]["words"])
        if row["golden"]["status"]:
            text += f" [status {row['golden']['status']:#x}]"
        marks = " ".join(f"{'match' if row[t]['match'] else 'MISMATCH':>9}" for t in targets)
        print(f"{row['name'][:28]:<28} {row['frames']:>6}  {text[:34]:<34} {marks}")
    if "golden_wer" in report:
        print(f"golden WER against the transcripts: {100 * report['golden_wer']:.1f} %")
    if "cycles_per_frame" in report:
        cycles = report["cycles_per_frame"]
        print(f"cycles per frame: {cycles:.0f} (engine busy {report['engine_cycles_per_frame']:.0f}"
              f", Viterbi busy {report['viterbi_cycles_per_frame']:.0f}; they overlap)")
        cpu = peer["seconds_per_frame"]
        print(f"CPU peer (float32 NumPy forward pass + Kaldi FasterDecoder): {1e6 * cpu:.0f} "
              f"us/frame "
              f"(DNN {1e6 * peer['dnn_seconds_per_frame']:.0f}, search "
              f"{1e6 * peer['search_seconds_per_frame']:.0f}; fastest of "
              f"{peer['repeats']} runs)")
        report["projected"] = projected(cycles, design.config)
        for row in report["projected"]:
            row["speedup_vs_cpu"] = cpu / row["seconds_per_frame"]
            print(f"{row['board']}: {1e6 * row['seconds_per_frame']:.1f} us/frame at "
                  f"{row['fmax_mhz']} MHz -> {row['speedup_vs_cpu']:.2g}x the CPU peer")
        if not report["projected"]:
            board = shaped_by or "ulx3s-85f"
            print(f"no board build of this design (boards/reports/system_*.json with the same "
                  f"engine, Viterbi config and splicing): run 'asrhw build --board {board} "
                  f"--model ... --json boards/reports/system_{board}.json' for a projected "
                  f"time")
    for target, run in report["runs"].items():
        processes = f" on {run['jobs']} processes" if run["jobs"] > 1 else ""
        print(f"{target}: build {run['build_seconds']:.1f} s, run {run['run_seconds']:.1f} s"
              f"{processes}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['passed']} passed, {report['failed']} failed")
    return 0 if report["failed"] == 0 else 1
