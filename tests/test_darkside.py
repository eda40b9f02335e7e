"""The dark-side experiment's mechanics on a tiny synthetic run (the real run is a command)."""

import json

import pytest

from sw.cli import main
from sw.experiments.darkside import DarksideSettings, run_darkside

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


def test_models_without_corpus_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "darkside", "--out", str(tmp_path), "--models", str(tmp_path)])
    assert "--models needs --corpus" in capsys.readouterr().err
