"""cocotb testbench of ``hw.spram.SPRAM`` (the SB_SPRAM256KA blocks, run on yosys' model).

The input file lists ``writes`` (address, value) and then ``reads`` (addresses); the test writes
every pair, one per cycle, then reads the addresses back one per cycle and reports what came out.
As in the other testbenches, everything for one cycle happens after one ``RisingEdge``.
"""

import json
import os

import cocotb
from cocotb.triggers import RisingEdge

from sim.tb_reset import start_clock_and_reset


@cocotb.test()
async def spram_run(dut):
    """Write, then read back; write what the reads returned."""
    with open(os.environ["ASRHW_TB_INPUT"]) as handle:
        request = json.load(handle)
    await start_clock_and_reset(dut, ("write_enable", "address", "write_data"))
    for address, value in request["writes"]:
        dut.address.value, dut.write_data.value, dut.write_enable.value = address, value, 1
        await RisingEdge(dut.clk)
    dut.write_enable.value = 0
    answers = []
    for address in request["reads"]:
        dut.address.value = address
        await RisingEdge(dut.clk)
        answers.append(dut.read_data.value)  # the previous cycle's read, if any
    await RisingEdge(dut.clk)
    answers.append(dut.read_data.value)
    # the first sample answers no read; a word never written may be X: report it as None
    read = [int(value) if value.is_resolvable else None for value in answers[1:]]
    with open(os.environ["ASRHW_TB_OUTPUT"], "w") as handle:
        json.dump({"read": read}, handle)
