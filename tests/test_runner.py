# amaranth: UnusedElaboratable=no
"""The simulator runner's Verilog for Icarus (the bit-exact cocotb tests run what it writes)."""

import re

import pytest

from hw.recognizer import Recognizer
from sim.runner import SimulatorError, icarus_verilog, run_cocotb
from sim.system_cases import small_design


@pytest.fixture(scope="module")
def core():
    design = small_design()
    return Recognizer(design.config, model=design.model, graph=design.image, scale=design.scale)


def test_icarus_verilog_has_no_behavioural_combinational_blocks(core):
    text = icarus_verilog(core, name="recognizer")
    # every switch became a $mux / $pmux cell: the slow Icarus threads and their time-zero
    # trouble are gone, and only clocked blocks remain
    assert "always @*" not in text
    assert "always_comb" not in text
    assert text.count("always @(posedge clk)") > 100


def test_icarus_verilog_keeps_the_ports_the_testbench_drives(core):
    text = icarus_verilog(core, name="recognizer")
    header = re.search(r"module recognizer\((.*?)\);", text, re.DOTALL).group(1)
    ports = {name.strip().lstrip("\\") for name in header.split(",")}
    for port in ("clk", "rst", "features__payload", "features__valid", "features__ready",
                 "words__payload", "words__valid", "words__ready", "start", "finish",
                 "frames", "engine_cycles", "viterbi_cycles", "utterance_cycles"):
        assert port in ports


def test_unknown_simulator_is_refused(core):
    with pytest.raises(SimulatorError, match="icarus, verilator.*'xsim'"):
        run_cocotb(core, toplevel="recognizer", test_module="sim.system_tb", simulator="xsim",
                   inputs={})
