"""The dark-side experiment's mechanics on a tiny synthetic run (the real run is a command)."""

import json
from dataclasses import replace

import pytest

from sw.cli import main
from sw.experiments.darkside import DarksideSettings, run_darkside, smallest_table

TINY = DarksideSettings(tasks=("digits",), sparsities=(0.0, 0.9), table_entries=(16, 64),
                        utterances=4, dev_utterances=3, golden_utterances=2, frames=40,
                        scales=(0.3, 1.0), penalties=(0.0,))


def test_tiny_run_writes_rows_summary_and_plot(tmp_path):
    report = run_darkside(tmp_path, settings=TINY, progress=False)
    saved = json.loads((tmp_path / "darkside.json").read_text())
    assert (tmp_path / "darkside.png").stat().st_size > 0
    assert saved["summary"] == report["summary"]
    rows = saved["rows"]
    for key in ("task", "sparsity", "decoder", "table_entries", "wer", "tokens_per_frame",
                "arcs_per_frame", "seconds_per_frame", "scale_mode"):
        assert all(key in row for row in rows)
    decoders = {(r["decoder"], r["table_entries"]) for r in rows}
    assert decoders == {("kaldi", None), ("float", None), ("golden", 16), ("golden", 64)}
    assert {r["scale_mode"] for r in rows} == {"fixed", "tuned"}
    assert all("SYNTHETIC" in source for source in saved["score_sources"].values())
    # The bounded table never holds more hypotheses than it has entries.
    for row in rows:
        if row["decoder"] == "golden":
            assert row["peak_tokens_per_frame"] <= row["table_entries"]
    # Kaldi and the float decoder run the same search: same WER.
    for mode in ("fixed", "tuned"):
        for sparsity in TINY.sparsities:
            kaldi, float_ = ([r["wer"] for r in rows if r["decoder"] == name
                              and r["scale_mode"] == mode and r["sparsity"] == sparsity]
                             for name in ("kaldi", "float"))
            assert kaldi == float_
        # ... and every utterance's words and cost agree (the 1e-3 relative).
        agreement = saved["summary"][f"digits/{mode}"]["float_equals_kaldi"]
        assert agreement["utterances"] == agreement["same"] == 4 * len(TINY.sparsities)
        assert agreement["max_relative_cost_difference"] <= 1e-3


def test_models_without_corpus_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "darkside", "--out", str(tmp_path), "--models", str(tmp_path)])
    assert "--models needs --corpus" in capsys.readouterr().err


def test_golden_rows_report_trace_and_use_the_default_trace_depth(tmp_path):
    from hw.config import ViterbiConfig

    report = run_darkside(tmp_path, settings=TINY, progress=False)
    golden = [r for r in report["rows"] if r["decoder"] == "golden"]
    assert golden
    for row in golden:
        assert row["trace_depth"] == ViterbiConfig().trace_depth
        assert row["trace_overflows"] == 0
        assert row["trace_overflows_at_default"] == 0
        assert 0 < row["trace_peak_entries"] <= row["trace_depth"] == row["trace_depth_default"]
        assert row["sets"] * row["ways"] == row["table_entries"]
    summary = report["summary"]["digits/tuned"]
    assert summary["golden_run"] and summary["golden_trace_overflows"] == 0


def test_fixed_and_tuned_share_decodes_and_golden_modes_are_honoured(tmp_path):
    settings = replace(TINY, golden_modes=("tuned",), golden_utterances=(("digits", 1),))
    report = run_darkside(tmp_path, settings=settings, progress=False)
    golden = [r for r in report["rows"] if r["decoder"] == "golden"]
    assert {r["scale_mode"] for r in golden} == {"tuned"}
    assert all(r["utterances"] == 1 for r in golden)
    assert report["complete"] is True
    assert report["summary"]["digits/fixed"]["golden_run"] is False


def test_golden_table_caps_run_big_tables_on_fewer_utterances(tmp_path):
    settings = replace(TINY, sparsities=(0.0,), golden_utterances=3,
                       golden_table_caps=((64, 1),))
    assert [settings.golden_count("digits", e) for e in (None, 16, 64, 4096)] == [3, 3, 1, 1]
    report = run_darkside(tmp_path, settings=settings, progress=False)
    golden = {r["table_entries"]: r for r in report["rows"]
              if r["decoder"] == "golden" and r["scale_mode"] == "tuned"}
    assert golden[16]["utterances"] == 3 and golden[64]["utterances"] == 1


@pytest.mark.parametrize("caps", [((0, 5),), ((64, -1),), ((64,),), ((64.0, 5),)])
def test_bad_golden_table_caps_are_refused(caps):
    with pytest.raises(ValueError, match="golden_table_caps holds"):
        DarksideSettings(golden_table_caps=caps)


def test_cli_golden_table_caps_need_pairs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "darkside", "--out", str(tmp_path), "--golden-table-caps", "100"])
    assert "--golden-table-caps takes ENTRIES=N pairs" in capsys.readouterr().err


def _golden(sparsity, entries, wer, float_wer):
    return {"sparsity": sparsity, "table_entries": entries, "wer": wer,
            "float_wer_same_utterances": float_wer}


def test_smallest_table_keeps_the_float_wer_at_every_sparsity_up_to_90():
    rows = [_golden(0.0, 16, 0.10, 0.02), _golden(0.9, 16, 0.20, 0.03),
            _golden(0.0, 64, 0.02, 0.02), _golden(0.9, 64, 0.04, 0.03),  # 1 % worse at 90 %
            _golden(0.0, 256, 0.024, 0.02), _golden(0.9, 256, 0.035, 0.03),
            _golden(0.95, 256, 0.5, 0.05)]  # above 90 %: not counted
    assert smallest_table(rows) == 256
    assert smallest_table(rows, margin=0.02) == 64
    assert smallest_table([_golden(0.0, 16, 0.5, 0.0)]) is None


def test_per_task_counts_and_their_errors():
    settings = DarksideSettings(utterances=(("words", 100), ("digits", 500)),
                                golden_utterances=7)
    assert settings.test_count("digits") == 500 and settings.test_count("words") == 100
    assert settings.golden_count("words") == 7
    with pytest.raises(ValueError, match="golden_utterances must be counts >= 0"):
        DarksideSettings(golden_utterances=(("words", -1),))
    with pytest.raises(ValueError, match="golden_modes holds 'fixed' and/or 'tuned'"):
        DarksideSettings(golden_modes=("both",))


def test_cli_bad_golden_mode_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "darkside", "--out", str(tmp_path), "--golden-modes", "sometimes"])
    assert "golden_modes holds" in capsys.readouterr().err


def test_cli_counts():
    from sw.commands.experiment import _counts

    assert _counts("20") == 20
    assert _counts("digits=40, words=5".replace(" ", "")) == (("digits", 40), ("words", 5))


def test_an_overflowing_trace_is_counted_and_the_row_reruns_at_the_depth_it_needs(tmp_path):
    settings = replace(TINY, sparsities=(0.0,), table_entries=(64,), trace_depth=4,
                       golden_utterances=2)
    report = run_darkside(tmp_path, settings=settings, progress=False)
    row = next(r for r in report["rows"] if r["decoder"] == "golden")
    assert row["trace_depth_default"] == 4
    assert row["trace_overflows_at_default"] == 2  # every utterance traces more than 4 words
    assert row["trace_overflows"] == 0
    assert row["trace_depth"] > 4 and row["trace_depth"] & (row["trace_depth"] - 1) == 0
    assert row["trace_peak_entries"] <= row["trace_depth"]
    summary = report["summary"]["digits/tuned"]
    assert summary["golden_trace_overflows_at_default_depth"] == 2
    assert summary["golden_trace_depth_by_table"] == {"64": row["trace_depth"]}


def test_the_golden_tables_use_the_configured_hash():
    from sw.experiments.darkside import golden_config
    from sw.experiments.tasks import task_graph

    graph, _ = task_graph("digits")
    assert golden_config(graph, 64, TINY).hash == "xor_fold"
    assert golden_config(graph, 64, replace(TINY, hash="multiplicative")).hash == "multiplicative"
    with pytest.raises(ValueError, match=r"hash must be one of \('xor_fold', 'multiplicative'\)"):
        replace(TINY, hash="crc")


def test_kaldi_scored_tuning_chooses_the_same_scales(tmp_path):
    by_float = run_darkside(tmp_path / "float", settings=TINY, progress=False)
    by_kaldi = run_darkside(tmp_path / "kaldi", settings=replace(TINY, tune_decoder="kaldi"),
                            progress=False)
    chosen = [[(t["acoustic_scale"], t["word_penalty"], t["dev_wer"]) for t in report["tuning"]]
              for report in (by_float, by_kaldi)]
    assert chosen[0] == chosen[1]
    assert by_kaldi["settings"]["tune_decoder"] == "kaldi"


def test_cli_bad_tune_decoder_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "darkside", "--out", str(tmp_path), "--tune-decoder", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err


def test_a_bad_tune_decoder_setting_is_refused():
    with pytest.raises(ValueError, match="tune_decoder must be 'float' or 'kaldi', not 'gpu'"):
        replace(TINY, tune_decoder="gpu")


def test_cli_golden_modes_none_runs_kaldi_and_float_only(tmp_path, capsys):
    assert main(["experiment", "darkside", "--quick", "--out", str(tmp_path), "--tasks",
                 "digits", "--sparsities", "0,0.9", "--utterances", "2", "--dev-utterances",
                 "2", "--golden-modes", "none"]) == 0
    rows = json.loads((tmp_path / "darkside.json").read_text())["rows"]
    assert {r["decoder"] for r in rows} == {"kaldi", "float"}
