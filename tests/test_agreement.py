"""The golden hardware decoder with an unbounded table and fine fixed point finds the float
decoder's best path (the slow run uses >= 200 utterances)."""

import pytest

from sw.decoder import synthetic_loglikes
from sw.experiments.agreement import agreement, unbounded_config
from sw.experiments.tasks import task_graph
from sw.graph import random_graph


def _random_cases(count, seed):
    cases = []
    for index in range(count):
        graph = random_graph(seed * 1000 + index, num_states=30, num_pdfs=12, num_words=6)
        loglik, _ = synthetic_loglikes(graph, index, 25, boost=3.0)
        cases.append((graph, loglik))
    return cases


def _agreeing(cases):
    same = 0
    for graph, loglik in cases:
        same += agreement(graph, [loglik], acoustic_scale=1.0)["same_words"]
    return same


def test_random_graphs_agree():
    assert _agreeing(_random_cases(30, seed=1)) >= 29  # >= 95 %


def test_digit_task_agrees():
    graph, _ = task_graph("digits")
    logliks = [synthetic_loglikes(graph, i, 60)[0] for i in range(10)]
    result = agreement(graph, logliks, acoustic_scale=1.0)
    assert result["fraction"] >= 0.95, result["differing"]


def test_unbounded_config_never_evicts():
    graph = random_graph(5, num_states=300)
    config = unbounded_config(graph)
    assert config.table_entries >= graph.num_states


@pytest.mark.slow
def test_200_utterances_agree():
    cases = _random_cases(150, seed=2)
    graph, _ = task_graph("digits")
    logliks = [synthetic_loglikes(graph, 1000 + i, 80)[0] for i in range(50)]
    same = _agreeing(cases) + agreement(graph, logliks, acoustic_scale=1.0)["same_words"]
    assert same / 200 >= 0.95


def test_ablation_changes_one_setting_at_a_time():
    from hw.config import CostConfig
    from sw.experiments.agreement import FINE_COST, ablation

    graph, _ = task_graph("digits")
    scored = [synthetic_loglikes(graph, 40 + i, 40, boost=3.0) for i in range(3)]
    variants = {"base": {}, "fine cost": {"cost": FINE_COST},
                "more ways": {"sets": 2, "ways": 8}}
    result = ablation(graph, scored, acoustic_scale=1.0, word_penalty=1.0,
                      base={"sets": 4, "ways": 4, "cost": CostConfig()}, variants=variants)
    assert result["utterances"] == 3 and 0 <= result["float"]["wer"]
    base, fine, ways = (result["variants"][name] for name in variants)
    assert base["table_entries"] == 16 and base["cost_frac"] == 4 and base["beam_units"] == 256
    assert fine["cost_frac"] == 10 and fine["beam_units"] == 16 << 10
    assert ways["table_entries"] == 16 and ways["change"] == {"sets": 2, "ways": 8}
    for row in result["variants"].values():
        assert row["same_words_as_float"] + len(row["differing"]) == 3
        assert row["trace_overflows"] == 0


def test_penalized_refuses_a_negative_penalty():
    from sw.experiments.tasks import penalized

    graph, _ = task_graph("digits")
    assert penalized(graph, 0.0) is graph
    with pytest.raises(ValueError, match="word penalty must be a finite number >= 0"):
        penalized(graph, -1.0)


def test_hardware_variants_change_one_setting_each():
    from sw.experiments.agreement import hardware_variants

    graph, _ = task_graph("digits")
    variants = hardware_variants(graph, 64)
    assert variants["darkside"] == {}
    assert variants["4 x 16 (same entries)"] == {"sets": 4, "ways": 16}
    assert variants["2x entries"] == {"sets": 32}
    assert variants["beam 20"] == {"beam": 20.0}
    assert all(len(change) <= 2 for change in variants.values())  # sets + ways move together


def test_ablation_cli_needs_existing_directories(tmp_path, capsys):
    from sw.cli import main

    with pytest.raises(SystemExit):
        main(["experiment", "ablation", "--out", str(tmp_path), "--corpus",
              str(tmp_path / "none"), "--models", str(tmp_path), "--scale", "1.0"])
    assert "--corpus" in capsys.readouterr().err


def test_ablation_cli_refuses_an_unknown_variant_before_scoring(tmp_path, capsys, monkeypatch):
    import sw.experiments.tasks as tasks
    from sw.cli import main

    synthetic = tasks.task_graph
    monkeypatch.setattr(tasks, "task_graph", lambda task, **_: synthetic(task))
    with pytest.raises(SystemExit):
        main(["experiment", "ablation", "--out", str(tmp_path), "--corpus", str(tmp_path),
              "--models", str(tmp_path), "--scale", "1.0", "--tables", "64",
              "--variant", "darkside", "--variant", "bigger cache"])
    error = capsys.readouterr().err
    assert "--variant 'bigger cache' is not a variant of the 64-entry table" in error
    assert "'multiplicative hash'" in error
