"""Generated Verilog of the SpMV engine on Icarus and Verilator, checked against golden."""

import json

import pytest

from sim.spmv import simulate_cases
from sw.cli import main


@pytest.mark.icarus
def test_1000_cases_bit_exact_on_icarus():
    result = simulate_cases(simulator="icarus", count=1000, seed=1)
    assert result["failures"] == []
    assert (result["passed"], result["failed"]) == (1000, 0)
    shapes = {case["name"].split("-")[0] for case in result["cases"]}
    assert {"one_by_one", "all_zero_matrix", "all_zero_x", "dense", "empty_columns",
            "long_gaps", "saturating", "largest", "random"} <= shapes


@pytest.mark.verilator
def test_cases_bit_exact_on_verilator():
    result = simulate_cases(simulator="verilator", count=200, seed=2)
    assert result["failures"] == []
    assert (result["passed"], result["failed"]) == (200, 0)


@pytest.mark.slow
@pytest.mark.verilator
def test_10000_cases_bit_exact_on_verilator():
    result = simulate_cases(simulator="verilator", count=10_000, seed=3)
    assert result["failures"] == []
    assert (result["passed"], result["failed"]) == (10_000, 0)


@pytest.mark.icarus
def test_sim_command_prints_the_tally_last(capsys, tmp_path):
    status = main(["sim", "spmv", "--simulator", "icarus", "--cases", "12", "--seed", "5",
                   "--json", str(tmp_path / "r.json")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    assert lines[-1] == "12 passed, 0 failed"
    assert json.loads((tmp_path / "r.json").read_text())["passed"] == 12


@pytest.mark.icarus
@pytest.mark.verilator
def test_bench_command_reports_cycles_and_simulator_speed(tmp_path, capsys):
    out = tmp_path / "bench.json"
    status = main(["bench", "spmv", "--pes", "4", "--rows", "96", "--cols", "80",
                   "--sparsity", "0.8", "--json", str(out)])
    report = json.loads(out.read_text())
    assert status == 0 and report["outputs_match_golden"]
    assert 0 < report["efficiency"] <= 1 and report["cycles"] >= report["ideal_cycles"]
    assert 0 < report["mac_utilization"] <= 1
    assert report["icarus_seconds"] > 0 and report["verilator_seconds"] > 0
    assert report["verilator_speedup"] == pytest.approx(
        report["icarus_seconds"] / report["verilator_seconds"])


def test_sim_command_rejects_zero_cases():
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "spmv", "--cases", "0"])
    assert exit_info.value.code == 2


def test_bench_command_rejects_bad_sparsity(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "spmv", "--sparsity", "1.5", "--json", str(tmp_path / "x.json")])
    assert exit_info.value.code == 2


def test_verilog_command_writes_a_module(tmp_path, capsys):
    out = tmp_path / "spmv.v"
    assert main(["verilog", "spmv", "--pes", "4", "--output", str(out)]) == 0
    assert "module spmv_engine" in out.read_text()


def test_verilog_command_rejects_bad_config(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["verilog", "spmv", "--pes", "0", "--output", str(tmp_path / "x.v")])
    assert exit_info.value.code == 2
    assert "SpMVConfig.pes must be an int from 1 to 64, not 0" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.icarus
@pytest.mark.parametrize("pes, index_bits, efficiency, mac_utilization", [
    (8, 4, 0.99, 0.80),
    (8, 6, 0.99, 0.90),
    (16, 4, 0.98, 0.80),
])
def test_engine_beats_the_eie_cycle_model(pes, index_bits, efficiency, mac_utilization):
    # EIE's reference simulator: 0.998 / 0.993 efficiency, 0.83 MAC utilization (FIFO 8)
    from hw.config import SpMVConfig
    from sim.bench_spmv import bench_one

    config = SpMVConfig(pes=pes, fifo_depth=8, index_bits=index_bits, max_rows=1024,
                        max_cols=1024, entry_depth=1)
    report = bench_one(config, rows=1024, cols=1024, sparsity=0.9, seed=1,
                       simulators=["icarus"])
    assert report["outputs_match_golden"]
    assert report["efficiency"] >= efficiency
    assert report["mac_utilization"] >= mac_utilization
