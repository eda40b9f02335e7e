"""Will a design fit a device? Its memories and multipliers against the device's budget.

The memories are read from the elaborated design itself (every ``Memory`` with its width,
depth and port kinds, and every SPRAM block), so the check cannot drift from the RTL. Each
memory is costed in the device's block RAM (iCE40 EBR: 4 Kbit, 256 x 16 up to 2048 x 2; ECP5
DP16KD: 18 Kbit, 1024 x 18 up to 16384 x 1) the way yosys maps it; memories read
asynchronously (FIFO storage) and tiny ones become logic. The estimate runs before synthesis,
so a design that cannot fit is refused in seconds with what does not fit and by how much;
nextpnr's report remains the measured figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth import Shape
from amaranth.hdl import Fragment, Instance

from boards.synth import DEVICES
from hw.spram import PRIMITIVE as SPRAM_PRIMITIVE

__all__ = ["FitError", "MemoryUse", "check_fit", "estimate", "memories", "spram_blocks"]

# (width, depth) shapes of one block RAM
BLOCK_SHAPES = {
    "ice40": ((16, 256), (8, 512), (4, 1024), (2, 2048)),
    "ecp5": ((18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)),
}
BLOCK_RESOURCE = {"ice40": "ICESTORM_RAM", "ecp5": "DP16KD"}
MULTIPLIER_RESOURCE = {"ice40": ("ICESTORM_DSP", 16), "ecp5": ("MULT18X18D", 18)}
# SB_SPRAM256KA blocks, counted under nextpnr's name; only the iCE40UP5K has them
SPRAM_RESOURCE = "ICESTORM_SPRAM"
# below this many bits yosys keeps an ECP5 memory in logic (LUT RAM)
ECP5_LOGIC_BITS = 2048
# yosys' memory_libmap costs a bit of RAM in flip-flops at 1 and an iCE40 EBR at 64 (its
# brams.txt): a memory whose blocks, counting a copy per read port, cost as much as its bits
# stays in flip-flops. Seen in the iCEBreaker builds: a 4 x 4 hypothesis table's 32 x 8 ways
# (two read ports: 4 EBRs) went to 256 flip-flops each, a 1 x 255 mark memory to an EBR. For
# memories of a few hundred bits yosys adds to the RAM's cost the logic around it, so this
# counts at most a few EBRs too many (5 of 20 in the reduced design), never too few.
ICE40_BLOCK_COST = 64
# yosys' costs of an ECP5 block RAM and of a 16 x 4 LUT RAM (DPR16X4) in memory_libmap: a
# shallow memory whose LUT RAMs cost less than its block RAMs goes to LUT RAM, however wide.
# Seen in the ULX3S builds: batch 8's accumulators, 32 rows of 256 bits, in LUT RAM (1,846
# TRELLIS_RAMW, 59 DP16KD where counting them as block RAM said 188).
ECP5_BLOCK_COST = 128
ECP5_LUT_RAM_COST = 4


class FitError(ValueError):
    """The design does not fit the device; the message lists every shortfall."""


@dataclass(frozen=True)
class MemoryUse:
    """One memory of the design and the block RAMs it takes."""

    path: str
    width: int
    depth: int
    blocks: int


def _walk(design, visit) -> None:
    def walk(fragment, path):
        for sub, name, *_ in fragment.subfragments:
            where = f"{path}.{name}" if path else str(name)
            visit(sub, where)
            walk(sub, where)

    walk(Fragment.get(design, None), "")


def memories(design) -> list:
    """``(path, width, depth, read_ports, synchronous, block)`` of every memory in the
    elaborated ``design``; ``block``: its ``ram_style`` attribute asks yosys for block RAM."""
    found = []

    def visit(sub, where):
        if type(sub).__name__ == "MemoryInstance":
            data = sub._data
            synchronous = all(port._domain != "comb" for port in sub._read_ports)
            forced = sub._attrs.get("ram_style") == "block"
            found.append((where, Shape.cast(data.shape).width, data.depth,
                          len(sub._read_ports), synchronous, forced))

    _walk(design, visit)
    return found


def spram_blocks(design) -> list:
    """Paths of the design's SPRAM blocks (``SB_SPRAM256KA`` instances, :mod:`hw.spram`)."""
    found = []
    _walk(design, lambda sub, where: found.append(where)
          if isinstance(sub, Instance) and sub.type == SPRAM_PRIMITIVE else None)
    return found


def _blocks(family: str, width: int, depth: int) -> int:
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in BLOCK_SHAPES[family])


def estimate(design, *, device: str, multipliers) -> dict:
    """Block RAMs and multipliers ``design`` needs on ``device``.

    ``multipliers`` lists the ``(a_bits, b_bits)`` of every hardware multiplier (the PEs' MACs,
    the cost unit's scale), which the elaborated netlist does not name.
    """
    family = DEVICES[device].family
    uses = []
    for path, width, depth, reads, synchronous, block in memories(design):
        # a block RAM has one read port: yosys copies the memory for every further one
        blocks = max(1, reads) * _blocks(family, width, depth)
        if family == "ice40":
            in_logic = width * depth <= ICE40_BLOCK_COST * blocks
        else:
            lut_rams = max(1, reads) * math.ceil(width / 4) * math.ceil(depth / 16)
            in_logic = (width * depth < ECP5_LOGIC_BITS
                        or lut_rams * ECP5_LUT_RAM_COST < blocks * ECP5_BLOCK_COST)
        in_logic = in_logic and not block
        uses.append(MemoryUse(path, width, depth, 0 if in_logic or not synchronous else blocks))
    resource, size = MULTIPLIER_RESOURCE[family]
    dsp = sum(math.ceil(a / size) * math.ceil(b / size) for a, b in multipliers)
    return {"memories": uses, BLOCK_RESOURCE[family]: sum(u.blocks for u in uses),
            resource: dsp, SPRAM_RESOURCE: len(spram_blocks(design))}


def check_fit(design, *, device: str, multipliers) -> dict:
    """:func:`estimate`, raising :class:`FitError` when a resource exceeds the device."""
    family = DEVICES[device].family
    need = estimate(design, device=device, multipliers=multipliers)
    budget = DEVICES[device].budget
    problems = []
    for resource in (BLOCK_RESOURCE[family], MULTIPLIER_RESOURCE[family][0], SPRAM_RESOURCE):
        have = budget.get(resource, 0)
        if need[resource] > have:
            problems.append(f"{resource}: needs {need[resource]}, the device has {have} "
                            f"({need[resource] - have} more)")
    if problems:
        biggest = sorted(need["memories"], key=lambda u: -u.blocks)[:6]
        users = ", ".join(f"{u.path} {u.width}x{u.depth} = {u.blocks}" for u in biggest)
        raise FitError(f"the design does not fit {device}: {'; '.join(problems)}. Largest "
                       f"block RAM users: {users}")
    return need
