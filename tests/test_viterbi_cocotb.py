"""The generated Viterbi unit Verilog on Icarus and Verilator against the golden decoder."""

import dataclasses
import json

import pytest

from sim.viterbi import simulate_cases, simulate_expectations
from sim.viterbi_cases import ViterbiCase, expectation
from sw.cli import main


@pytest.mark.icarus
def test_random_graphs_bit_exact_on_icarus(tmp_path):
    result = simulate_cases(simulator="icarus", count=40, seed=11, build_root=tmp_path)
    assert result["failures"] == []
    assert (result["passed"], result["failed"]) == (40, 0)
    rows = result["utterances"]
    # The set of cases exercises what the golden model counts, not only the happy path.
    assert any(row["trace_overflow"] for row in rows)
    assert any(row["replacements"] for row in rows) and any(row["drops"] for row in rows)
    assert any(row["beam_pruned"] for row in rows)
    assert any(row["final_reached"] for row in rows)
    assert any(not row["final_reached"] for row in rows)


@pytest.mark.verilator
def test_random_graphs_bit_exact_on_verilator(tmp_path):
    result = simulate_cases(simulator="verilator", count=200, seed=12, build_root=tmp_path)
    assert result["failures"] == []
    assert (result["passed"], result["failed"]) == (200, 0)
    assert any(row["epsilon_limit_hit"] for row in result["utterances"])


@pytest.mark.slow
@pytest.mark.verilator
def test_1000_random_graphs_bit_exact_on_verilator(tmp_path):
    result = simulate_cases(simulator="verilator", count=1000, seed=13, build_root=tmp_path)
    assert result["failures"] == []
    assert (result["passed"], result["failed"]) == (1000, 0)


def _collect_expectations(count, seed):
    from sim.viterbi_cases import COLLECT_CONFIG, make_collect_cases

    return [expectation(case, COLLECT_CONFIG) for case in make_collect_cases(count, seed)]


@pytest.mark.icarus
@pytest.mark.parametrize(("free_list", "score_banks"),
                         [("linked", 1), ("stack", 1), ("stack", 2)])
def test_trace_collections_bit_exact_on_icarus(tmp_path, free_list, score_banks):
    """Tens of collections per utterance (48-entry trace, collected below 24 free entries):
    tables with their trace pointers, words and counters equal the golden model's."""
    from sim.viterbi_cases import COLLECT_CONFIG

    expectations = _collect_expectations(12, seed=21)
    config = dataclasses.replace(COLLECT_CONFIG, free_list=free_list,
                                 score_banks=score_banks)
    result = simulate_expectations(expectations, simulator="icarus", config=config,
                                   build_root=tmp_path, name="viterbi-collect")
    assert result["failures"] == []
    assert (result["passed"], result["failed"]) == (12, 0)
    assert sum(row["trace_collections"] for row in result["utterances"]) >= 12 * 10
    assert all(row["collect_cycles"] > 0 for row in result["utterances"])


@pytest.mark.verilator
@pytest.mark.parametrize(("free_list", "score_banks"), [("linked", 1), ("stack", 1)])
def test_trace_collections_bit_exact_on_verilator(tmp_path, free_list, score_banks):
    # two score banks run on Verilator in the batched system test (test_system_cocotb)
    from sim.viterbi_cases import COLLECT_CONFIG

    expectations = _collect_expectations(60, seed=22)
    config = dataclasses.replace(COLLECT_CONFIG, free_list=free_list,
                                 score_banks=score_banks)
    result = simulate_expectations(expectations, simulator="verilator", config=config,
                                   build_root=tmp_path, name="viterbi-collect")
    assert result["failures"] == []
    assert (result["passed"], result["failed"]) == (60, 0)
    rows = result["utterances"]
    assert sum(row["trace_collections"] for row in rows) >= 60 * 10
    assert any(row["trace_overflow"] for row in rows)  # a frame can still outgrow the trace


def _task_expectations(task, count, frames, sets, ways, seed):
    from sim.viterbi_workload import fitted_config, task_graph, workload

    graph, _ = task_graph(task, seed=seed)
    config = fitted_config(graph, sets=sets, ways=ways)
    costs = workload(graph, utterances=count, frames=frames, seed=seed, cost=config.cost)
    return config, [expectation(ViterbiCase(f"{task}-{i}", graph, c), config)
                    for i, c in enumerate(costs)]


@pytest.mark.verilator
def test_task_graph_utterances_bit_exact_on_verilator(tmp_path):
    """Both task graphs (synthetic scores) with the table read back after every frame."""
    for task, sets, ways in (("digits", 16, 2), ("words", 32, 4)):
        config, expectations = _task_expectations(task, 3, 30, sets, ways, seed=5)
        result = simulate_expectations(expectations, simulator="verilator", config=config,
                                       build_root=tmp_path, name=f"viterbi-{task}")
        assert result["failures"] == [], task
        assert result["passed"] == 3, task


@pytest.mark.slow
@pytest.mark.verilator
def test_200_task_utterances_bit_exact_on_verilator(tmp_path):
    for task, sets, ways in (("digits", 16, 4), ("words", 64, 4)):
        config, expectations = _task_expectations(task, 100, 100, sets, ways, seed=6)
        result = simulate_expectations(expectations, simulator="verilator", config=config,
                                       build_root=tmp_path, name=f"viterbi-{task}")
        assert result["failures"] == [], task
        assert result["passed"] == 100, task


@pytest.mark.slow
@pytest.mark.verilator
def test_model_scored_utterances_on_corpus_graphs_bit_exact_on_verilator(tmp_path):
    """Both tasks' real graphs, scored by the 90 %-pruned model of the quick pipeline."""
    from sim.viterbi_workload import fitted_config, model_workload, task_graph

    corpus, pipeline = tmp_path / "corpus", tmp_path / "pipeline"
    assert main(["corpus", "--out", str(corpus), "--quick"]) == 0
    assert main(["model", "pipeline", "--quick", "--corpus", str(corpus), "--out",
                 str(pipeline)]) == 0
    model = pipeline / "models" / "magnitude_90.npz"
    for task, sets, ways in (("digits", 16, 4), ("words", 64, 4)):
        graph, _ = task_graph(task, corpus=corpus)
        config = fitted_config(graph, sets=sets, ways=ways)
        costs = [c for split in ("test", "dev")
                 for c in model_workload(corpus, model, task, split=split, count=60,
                                         cost=config.cost)]
        expectations = [expectation(ViterbiCase(f"{task}-{i}", graph, c), config)
                        for i, c in enumerate(costs)]
        result = simulate_expectations(expectations, simulator="verilator", config=config,
                                       build_root=tmp_path, name=f"viterbi-model-{task}")
        assert result["failures"] == [], task
        assert result["passed"] == len(expectations) >= 100, task


@pytest.mark.icarus
def test_sim_command_prints_the_tally_last(capsys):
    assert main(["sim", "viterbi", "--simulator", "icarus", "--cases", "3", "--seed", "4"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 passed, 0 failed"


@pytest.mark.icarus
def test_bench_command_reports_arcs_per_cycle(tmp_path):
    report_path = tmp_path / "bench.json"
    assert main(["bench", "viterbi", "--task", "digits", "--sets", "16", "--ways", "2",
                 "--utterances", "1", "--frames", "20", "--simulator", "icarus",
                 "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    for key in ("arcs_per_cycle", "cycles_per_frame", "table_entries", "tokens_per_frame"):
        assert key in report
    assert report["table_entries"] == 32 and report["passed"] == 1
    assert 0 < report["arcs_per_cycle"] <= 1


def test_verilog_command_writes_a_module(tmp_path):
    output = tmp_path / "viterbi.v"
    assert main(["verilog", "viterbi", "--sets", "64", "--ways", "4", "--output",
                 str(output)]) == 0
    assert "module viterbi_unit" in output.read_text()


def test_verilog_command_rejects_sets_not_a_power_of_two(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["verilog", "viterbi", "--sets", "12", "--output", str(tmp_path / "v.v")])
    assert exit_info.value.code == 2
    assert "sets must be a power of two from 1 to 4096, not 12" in capsys.readouterr().err
    assert not (tmp_path / "v.v").exists()


def test_verilog_command_rejects_zero_ways(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["verilog", "viterbi", "--ways", "0", "--output", str(tmp_path / "v.v")])
    assert "ways must be an int from 1 to 16, not 0" in capsys.readouterr().err


def test_bench_command_rejects_a_gc_threshold_above_the_trace(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "viterbi", "--trace-depth", "256", "--trace-gc-free", "300",
              "--json", str(tmp_path / "b.json")])
    assert exit_info.value.code == 2
    assert "trace_gc_free must be an int from 0 to 256, not 300" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_bench_command_sweeps_one_thing_at_a_time(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "viterbi", "--sweep", "--trace-sweep", "--json", str(tmp_path / "b.json")])
    assert exit_info.value.code == 2
    assert "--sweep and --trace-sweep are exclusive" in capsys.readouterr().err
