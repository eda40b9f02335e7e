"""The ``asrhw`` command line: one entry point for every part of the project.

Each command family lives in a module of :mod:`sw.commands` that only builds its argparse
parsers at import time; the heavy imports (Amaranth, cocotb, training code) happen inside the
function a subcommand runs, so ``asrhw --help`` and the model commands start fast.

A command module provides ``register(top, groups)``: ``top`` is the top-level subparsers
object (for commands such as ``asrhw model ...``), ``groups`` maps the unit-taking commands
``verilog``, ``sim`` and ``bench`` to their subparsers (for ``asrhw verilog spmv ...``). Every
parser it adds sets ``func`` to a callable taking the parsed arguments and returning the exit
status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Order sets the order in --help.
COMMAND_MODULES = (
    "sw.commands.demo",
    "sw.commands.spmv",
    "sw.commands.viterbi",
    "sw.commands.experiment",
    "sw.commands.board",
    "sw.commands.compare",
    "sw.commands.corpus",
    "sw.commands.model",
)

UNIT_GROUPS = {
    "verilog": "write synthesizable Verilog of a hardware unit",
    "sim": "run a unit's RTL against its golden model on Icarus or Verilator",
    "bench": "measure a unit's cycles on a simulator and write a JSON report",
}


class CommandError(Exception):
    """A user-facing failure: printed as ``asrhw: error: <message>``, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The full ``asrhw`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="asrhw",
        description="Hardware generator for speech recognition with pruned neural networks.")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups = {}
    for name, help_text in UNIT_GROUPS.items():
        group = top.add_parser(name, help=help_text, description=help_text)
        groups[name] = group.add_subparsers(dest="unit", metavar="UNIT", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(top, groups)
    _show_defaults(parser)
    return parser


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Make every command's ``--help`` name each default once: every parser formats with
    :class:`sw.commands.HelpFormatter`, and an option with a default but no help text gets a
    help line naming it (argparse prints nothing for an option without help)."""
    from sw.commands import HelpFormatter

    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                _show_defaults(command)
        elif (action.option_strings and action.help is None
              and action.default not in (None, False, argparse.SUPPRESS)):
            action.help = "default: %(default)s"


def main(argv: list[str] | None = None) -> int:
    """Run ``asrhw`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except CommandError as error:
        parser.exit(2, f"asrhw: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, "asrhw: interrupted\n")
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
