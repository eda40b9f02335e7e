"""A lane multiplier with its operands registered twice (``multiplier_stages=2``): the RTL form
in Amaranth's simulator, and the ECP5 form (a MULT18X18D instance) on Icarus with a model of the
block, both against ``weight * value`` two cycles later."""

import subprocess

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hw.spmv.multiplier import LaneMultiplier, uses_ecp5_dsp
from sim.mult18x18d import mult18x18d_model

WEIGHT_BITS, VALUE_BITS = 8, 16


def operands(count: int, seed: int) -> list:
    """Random signed operands, the extremes included."""
    rng = np.random.default_rng(seed)
    low_w, high_w = -(1 << (WEIGHT_BITS - 1)), (1 << (WEIGHT_BITS - 1)) - 1
    low_v, high_v = -(1 << (VALUE_BITS - 1)), (1 << (VALUE_BITS - 1)) - 1
    pairs = [(low_w, low_v), (low_w, high_v), (high_w, low_v), (high_w, high_v), (0, -1), (-1, 1)]
    pairs += [(int(w), int(v)) for w, v in zip(rng.integers(low_w, high_w + 1, count),
                                               rng.integers(low_v, high_v + 1, count),
                                               strict=True)]
    return pairs


def test_the_rtl_form_multiplies_in_two_cycles():
    dut = LaneMultiplier(WEIGHT_BITS, VALUE_BITS)
    pairs = operands(200, seed=1)
    products = []

    async def testbench(ctx):
        for weight, value in pairs + [(0, 0)] * 2:
            ctx.set(dut.weight, weight)
            ctx.set(dut.value, value)
            await ctx.tick()
            products.append(ctx.get(dut.product))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    # the operand registers take a pair at its tick, the product register at the next one
    assert products[1:len(pairs) + 1] == [w * v for w, v in pairs]


def test_only_an_ecp5_platform_gets_the_block():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    assert uses_ecp5_dsp(ULX3S_85F_Platform())
    assert not uses_ecp5_dsp(ICEBreakerPlatform())
    assert not uses_ecp5_dsp(None)


@pytest.mark.icarus
def test_the_ecp5_instance_multiplies_in_two_cycles(tmp_path):
    """The MULT18X18D instance (input registers on, product registered in the fabric), as
    elaborated for the ULX3S, on Icarus with :mod:`sim.mult18x18d`'s model of the block."""
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    text = verilog.convert(LaneMultiplier(WEIGHT_BITS, VALUE_BITS), name="lane_multiplier",
                           platform=ULX3S_85F_Platform())
    assert "MULT18X18D" in text
    pairs = operands(300, seed=2)
    # integer literals, truncated to the operands' widths: two's complement as they are
    stimulus = "\n".join(f"    weight = {w}; value = {v}; tick;" for w, v in pairs + [(0, 0)] * 2)
    bench = f"""\
`timescale 1ns/1ps
module bench;
  reg clk = 0, rst = 1;
  reg signed [{WEIGHT_BITS - 1}:0] weight = 0;
  reg signed [{VALUE_BITS - 1}:0] value = 0;
  wire signed [{WEIGHT_BITS + VALUE_BITS - 1}:0] product;
  lane_multiplier dut(.clk(clk), .rst(rst), .weight(weight), .value(value), .product(product));
  task tick; begin #5 clk = 1; #1 $display("%0d", product); #4 clk = 0; end endtask
  initial begin
    #5 clk = 1; #5 clk = 0; rst = 0;
{stimulus}
    $finish;
  end
endmodule
"""
    (tmp_path / "lane_multiplier.v").write_text(text)
    (tmp_path / "MULT18X18D.v").write_text(mult18x18d_model())
    (tmp_path / "bench.v").write_text(bench)
    subprocess.run(["iverilog", "-g2012", "-o", "bench.vvp", "bench.v", "lane_multiplier.v",
                    "MULT18X18D.v"], cwd=tmp_path, check=True, capture_output=True)
    run = subprocess.run(["vvp", "-n", "bench.vvp"], cwd=tmp_path, check=True,
                         capture_output=True, text=True)
    products = [int(line) for line in run.stdout.split() if line.lstrip("-").isdigit()]
    assert products[1:len(pairs) + 1] == [w * v for w, v in pairs]
