"""What every ``asrhw sim UNIT`` command shares: its options and how it reports a run."""

import json
from pathlib import Path


def add_sim_options(parser, *, default_simulator: str, json_help: str) -> None:
    """``--simulator``, ``--cases``, ``--seed`` and ``--json`` of a ``sim`` subcommand."""
    parser.add_argument("--simulator", choices=["icarus", "verilator"],
                        default=default_simulator)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help=json_help)


def check_cases(args) -> None:
    """Refuse a run of no cases."""
    from sw.cli import CommandError

    if args.cases < 1:
        raise CommandError(f"--cases must be at least 1, not {args.cases}")


def report_sim(args, result: dict) -> int:
    """Write ``--json``, print the wall times and the tally as the last line; exit status."""
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.simulator}: build {result['build_seconds']:.1f} s, run "
          f"{result['run_seconds']:.1f} s")
    print(f"{result['passed']} passed, {result['failed']} failed")
    return 0 if result["failed"] == 0 and result["passed"] == args.cases else 1
