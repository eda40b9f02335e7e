"""The asrhw command line: every command has --help, errors are reported plainly."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sw.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def command_paths(parser, prefix=()):
    """Every runnable command path of the parser, e.g. ('verilog', 'spmv')."""
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(command_paths(sub, (*prefix, name)))
    return paths


@pytest.mark.parametrize("path", command_paths(build_parser()), ids=" ".join)
def test_every_command_has_help(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    assert "usage: asrhw" in capsys.readouterr().out


def _subparser(path):
    parser = build_parser()
    for name in path:
        parser = next(a for a in parser._actions
                      if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


@pytest.mark.parametrize("path", command_paths(build_parser()), ids=" ".join)
def test_help_names_every_default_once(path):
    parser = _subparser(path)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        text = formatter._expand_help(action) if action.help else ""
        assert text.count("default") <= 1, (action.option_strings, text)
        if action.default not in (None, False, argparse.SUPPRESS):
            assert "default" in text, (action.option_strings, text)


def test_console_script_starts_fast_without_heavy_imports():
    # --help must not import Amaranth, cocotb or the training code
    code = ("import sys; from sw.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('amaranth', 'cocotb', 'matplotlib', 'kaldifst') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_missing_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_readme_setup_line_installs_what_ci_installs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    apt_ci = set(re.search(r"apt-get install -y -qq ([^>]*)>", ci.replace("\\\n", " "))
                 .group(1).split())
    apt_readme = set(re.search(r"apt-get install -y ([^&]*)&&", readme).group(1).split())
    assert apt_ci == apt_readme
    assert 'pip install -e ".[test,fpga]"' in readme and '-e ".[test,fpga]"' in ci
    assert "bash .ci/run" in readme
