"""Start-up shared by the cocotb testbenches (runs inside the simulator's Python)."""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

__all__ = ["start_clock_and_reset"]


async def start_clock_and_reset(dut, idle_inputs) -> None:
    """Start a 100 MHz clock on ``dut.clk``, drive ``idle_inputs`` to 0 and hold reset for
    three cycles."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name in idle_inputs:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
