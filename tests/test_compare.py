"""``asrhw compare``: its refusals, the projection from board reports, and (slow) a real run."""

import dataclasses
import json
import re
import shutil

import pytest

from hw.config import SpMVConfig
from sim.compare import projected
from sw.cli import main


def fail(argv, capsys, pattern):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *argv])
    assert exit_info.value.code == 2
    assert re.search(pattern, capsys.readouterr().err)


def test_a_missing_model_says_how_to_make_one(tmp_path, capsys):
    fail(["--model", str(tmp_path / "none"), "--corpus", str(tmp_path)], capsys,
         r"holds no exported model \(manifest.json\): run 'asrhw model pipeline --out")


def test_unknown_simulators_are_refused(tmp_path, capsys):
    fail(["--simulators", "icarus,modelsim"], capsys,
         r"--simulators must list icarus and/or verilator \(or 'none'\), not 'icarus,modelsim'")


def test_nothing_to_compare_is_refused(capsys):
    fail(["--simulators", "none"], capsys, r"nothing to compare with the golden model")


def test_no_utterances_is_refused(capsys):
    fail(["--utterances", "0"], capsys, r"--utterances must be at least 1, not 0")


def test_an_impossible_job_count_is_refused(capsys):
    fail(["--jobs", "0"], capsys, r"--jobs must be from 1 to 64, not 0")


def test_a_design_other_than_the_boards_is_refused(capsys):
    fail(["--design", "ulx3s-85f", "--board", "icebreaker", "--port", "/dev/null"], capsys,
         r"--design ulx3s-85f differs from --board icebreaker")


def test_a_boards_choice_takes_only_the_options_given():
    from boards import board_named

    chosen = board_named("icebreaker").recognizer
    assert chosen.given(sets=None, ways=None) == chosen
    assert chosen.given(ways=4, pes=None) == dataclasses.replace(chosen, ways=4)
    assert (chosen.pes, chosen.cost_width) == (1, 12)


def test_load_without_a_board_is_refused(capsys):
    fail(["--load"], capsys, r"--load writes the model into a board: it needs --board and "
                             r"--port")


def test_load_sends_every_record_of_the_model_in_load_frames():
    from hw.protocol import FrameType, LoadFormat
    from sim.system_cases import small_design
    from sw.commands.compare import _load_model
    from sw.link import FrameDecoder, HostLink, encode_frame

    design = small_design()
    received = []

    class AckingBoard:
        """Answers every frame with ACK, as a board that takes LOAD frames does."""

        def __init__(self):
            self.decoder, self.replies = FrameDecoder(), b""

        def write(self, data):
            for frame in self.decoder.feed(data):
                received.append(frame)
                self.replies += encode_frame(FrameType.ACK, b"")

        def read(self, size):
            chunk, self.replies = self.replies[:size], self.replies[size:]
            return chunk

    _load_model(HostLink(AckingBoard(), config=design.config.link), design)
    load_format = LoadFormat.for_recognizer(design.config.spmv, len(design.model.slots))
    assert design.load_format == load_format
    assert {frame.type for frame in received} == {FrameType.LOAD}
    assert all(len(frame.payload) <= design.config.link.max_payload for frame in received)
    assert b"".join(frame.payload[1:] for frame in received) == b"".join(
        load_format.encode(*record) for record in design.model.load_records())


def test_no_cpu_runs_is_refused(capsys):
    fail(["--cpu-repeats", "0"], capsys, r"--cpu-repeats must be from 1 to 100, not 0")


def test_an_impossible_pe_count_is_refused(tmp_path, capsys):
    from hw.config import SpMVConfig
    from sw.model import MLP, ModelConfig
    from sw.quantized import export

    model = MLP.initialize(ModelConfig(num_pdfs=10, hidden=(24, 20), feature_bins=8,
                                       context=2), seed=0)
    export(model, SpMVConfig(pes=2), tmp_path / "export")
    fail(["--model", str(tmp_path), "--corpus", str(tmp_path), "--pes", "65"], capsys,
         r"cannot re-encode for 65 PEs: SpMVConfig.pes must be an int from 1 to 64, not 65")


def test_an_unknown_row_order_is_refused(tmp_path, capsys):
    from sw.model import MLP, ModelConfig
    from sw.quantized import export

    model = MLP.initialize(ModelConfig(num_pdfs=10, hidden=(24, 20), feature_bins=8,
                                       context=2), seed=0)
    export(model, SpMVConfig(pes=2), tmp_path / "export")
    fail(["--model", str(tmp_path), "--corpus", str(tmp_path), "--row-order", "sorted"],
         capsys, r"the row order \(--row-order\) must be one of interleaved, balanced, not "
                 r"'sorted'")


def test_an_impossible_index_width_is_refused(tmp_path, capsys):
    from sw.model import MLP, ModelConfig
    from sw.quantized import export

    model = MLP.initialize(ModelConfig(num_pdfs=10, hidden=(24, 20), feature_bins=8,
                                       context=2), seed=0)
    export(model, SpMVConfig(pes=2), tmp_path / "export")
    fail(["--model", str(tmp_path), "--corpus", str(tmp_path), "--index-bits", "9"], capsys,
         r"cannot re-encode for 2 PEs and 9-bit row indices: SpMVConfig.index_bits must be an "
         r"int from 2 to 8, not 9")


def test_the_ulx3s_balances_its_rows_and_both_boards_widen_their_row_indices():
    from boards import board_named
    from sw.system import DesignChoice

    assert (DesignChoice().row_order, DesignChoice().index_bits) == ("interleaved", None)
    ice, ulx3s = (board_named(name).recognizer for name in ("icebreaker", "ulx3s-85f"))
    # one PE with no padding entry has nothing to balance: the same entries in any order
    assert (ice.row_order, ulx3s.row_order) == ("interleaved", "balanced")
    # the longest gap in a column of one PE is a row short of its rows: 256 on one PE (8
    # bits), 32 on eight (5 bits), so neither board's digit model needs a padding entry
    assert (ice.index_bits, ulx3s.index_bits) == (8, 5)


@pytest.mark.parametrize(("option", "field"), [("--accumulator-banks", "accumulator_banks"),
                                               ("--multiplier-stages", "multiplier_stages"),
                                               ("--accumulate-stages", "accumulate_stages")])
def test_an_impossible_engine_choice_is_refused(tmp_path, capsys, option, field):
    from sw.model import MLP, ModelConfig
    from sw.quantized import export

    model = MLP.initialize(ModelConfig(num_pdfs=10, hidden=(24, 20), feature_bins=8,
                                       context=2), seed=0)
    export(model, SpMVConfig(pes=2), tmp_path / "export")
    fail(["--model", str(tmp_path), "--corpus", str(tmp_path), option, "3"],
         capsys, rf"SpMVConfig.{field} must be an int from 1 to 2, not 3")


def test_projection_uses_each_board_report(tmp_path):
    (tmp_path / "system_ulx3s-85f.json").write_text(json.dumps({"board": "ulx3s-85f",
                                                                "fmax_mhz": 50.0}))
    (tmp_path / "system_icebreaker.json").write_text(json.dumps({"board": "icebreaker",
                                                                 "fmax_mhz": None}))
    rows = projected(5000, reports=tmp_path)
    assert [(r["board"], r["seconds_per_frame"]) for r in rows] == [("ulx3s-85f", 1e-4)]


def test_projection_takes_the_board_build_of_the_same_engine_wherever_its_model_lives(tmp_path):
    from hw.config import SystemConfig, config_to_dict

    compared = SystemConfig(spmv=SpMVConfig(pes=1))
    built = config_to_dict(SystemConfig(spmv=SpMVConfig(pes=1, entry_memory="spram",
                                                        pointer_memory="spram",
                                                        codebook_memory="block",
                                                        accumulator_memory="block",
                                                        column_queue_memory="registers"),
                                        preload_model=False))
    other = config_to_dict(SystemConfig(spmv=SpMVConfig(pes=2)))
    for board, config in (("icebreaker", built), ("ulx3s-85f", other)):
        (tmp_path / f"system_{board}.json").write_text(json.dumps(
            {"board": board, "fmax_mhz": 25.0, "config": config}))
    rows = projected(25_000, compared, reports=tmp_path)
    assert [(r["board"], r["seconds_per_frame"]) for r in rows] == [("icebreaker", 1e-3)]


def test_projection_reads_a_report_from_before_batches_and_stages_as_one_of_each(tmp_path):
    from hw.config import SystemConfig, config_to_dict

    old = config_to_dict(SystemConfig(spmv=SpMVConfig(pes=2)))
    del old["spmv"]["batch"], old["viterbi"]["score_banks"]
    del old["spmv"]["multiplier_stages"], old["spmv"]["accumulate_stages"]
    del old["spmv"]["column_queue_memory"]  # nor before the queues' storage was a choice
    (tmp_path / "system_ulx3s-85f.json").write_text(json.dumps(
        {"board": "ulx3s-85f", "fmax_mhz": 50.0, "config": old}))
    unbatched = SystemConfig(spmv=SpMVConfig(pes=2))
    assert len(projected(5000, unbatched, reports=tmp_path)) == 1
    for other in ({"batch": 4}, {"multiplier_stages": 2}, {"accumulate_stages": 2}):
        assert projected(5000, SystemConfig(spmv=SpMVConfig(pes=2, **other)),
                         reports=tmp_path) == [], other


def test_projection_takes_only_a_build_that_splices_as_the_design_does(tmp_path):
    """A report from before the core could splice is of a host that splices; the splicer is
    logic on the board, so its Fmax says nothing about a design without it, or the reverse."""
    from hw.config import SystemConfig, config_to_dict

    old = config_to_dict(SystemConfig(spmv=SpMVConfig(pes=2)))
    del old["splice_context"]
    (tmp_path / "system_icebreaker.json").write_text(json.dumps(
        {"board": "icebreaker", "fmax_mhz": 50.0, "config": old}))
    (tmp_path / "system_ulx3s-85f.json").write_text(json.dumps(
        {"board": "ulx3s-85f", "fmax_mhz": 80.0,
         "config": config_to_dict(SystemConfig(spmv=SpMVConfig(pes=2), splice_context=5))}))
    host_splices = SystemConfig(spmv=SpMVConfig(pes=2))
    core_splices = SystemConfig(spmv=SpMVConfig(pes=2), splice_context=5)
    assert [r["board"] for r in projected(5000, host_splices, reports=tmp_path)] == ["icebreaker"]
    assert [r["board"] for r in projected(5000, core_splices, reports=tmp_path)] == ["ulx3s-85f"]


@pytest.mark.slow
def test_compare_on_the_quick_digit_model(tmp_path, capsys):
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed to build the corpus")
    corpus, run = tmp_path / "corpus", tmp_path / "run"
    assert main(["model", "pipeline", "--quick", "--corpus", str(corpus), "--out", str(run),
                 "--no-progress"]) == 0
    report = tmp_path / "compare.json"
    assert main(["compare", "--utterances", "2", "--simulators", "verilator", "--model",
                 str(run), "--corpus", str(corpus), "--json", str(report)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2 passed, 0 failed"
    result = json.loads(report.read_text())
    assert result["cycles_per_frame"] > 0 and result["cpu_peer"]["seconds_per_frame"] > 0
    assert result["cpu_peer"]["repeats"] == 5
    # the pipeline's own export: which one ran is in the report, as the cycles depend on it
    assert result["model"] == {"export": str(run / "export"), "priors_folded": False}


def test_utterances_are_split_into_runs_of_about_equal_frames():
    from types import SimpleNamespace

    from sim.compare import split_by_frames

    def utterances(*frames):
        return [SimpleNamespace(name=str(i), activations=[0] * f) for i, f in enumerate(frames)]

    def names(chunks):
        return [[u.name for u in chunk] for chunk in chunks]

    assert names(split_by_frames(utterances(10, 10, 10, 10), 2)) == [["0", "1"], ["2", "3"]]
    assert names(split_by_frames(utterances(30, 1, 1, 1), 2)) == [["0"], ["1", "2", "3"]]
    assert names(split_by_frames(utterances(1, 1, 30), 3)) == [["0"], ["1"], ["2"]]
    assert names(split_by_frames(utterances(0, 0, 0), 2)) == [["0"], ["1", "2"]]
    assert names(split_by_frames(utterances(5, 5), 8)) == [["0"], ["1"]]
    assert names(split_by_frames(utterances(5, 5, 5), 1)) == [["0", "1", "2"]]


def test_parallel_simulator_runs_answer_as_one_run(tmp_path, monkeypatch):
    from sim.compare import run_compare
    from sim.system_cases import small_design, small_utterances

    monkeypatch.setenv("ASRHW_SIM_BUILD", str(tmp_path))
    design = small_design(0)
    utterances = small_utterances(design, 6, seed=3)
    one = run_compare(design, utterances, simulators=["icarus"], progress=lambda _: None)
    two = run_compare(design, utterances, simulators=["icarus"], progress=lambda _: None,
                      jobs=2)
    assert one["passed"] == two["passed"] == 6
    assert two["runs"]["icarus"]["jobs"] == 2
    assert [row["icarus"] for row in one["rows"]] == [row["icarus"] for row in two["rows"]]


def test_the_report_names_the_model_and_whether_its_priors_are_folded(quick_pipeline, tmp_path):
    from sim.compare import describe_model, digit_design, model_summary

    plain = digit_design(quick_pipeline.run, quick_pipeline.corpus)
    assert model_summary(plain, quick_pipeline.run) == {
        "export": str(quick_pipeline.run / "export"), "priors_folded": False}
    folded_dir = tmp_path / "folded"
    assert main(["model", "export", "--model",
                 str(quick_pipeline.run / "models" / "magnitude_90_shared.npz"), "--fold-priors",
                 "--corpus", str(quick_pipeline.corpus), "--out", str(folded_dir)]) == 0
    summary = model_summary(digit_design(folded_dir, quick_pipeline.corpus), folded_dir)
    assert summary == {"export": str(folded_dir), "priors_folded": True}
    assert describe_model(summary) == f"{folded_dir} (log-priors folded into the last bias)"
