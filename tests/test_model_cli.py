"""``asrhw model ...`` end to end on synthetic frames, and its error messages."""

import json
import time

import numpy as np
import pytest

from sw.cli import main
from sw.model import MLP, ModelConfig, save_model


def run(argv):
    return main(["model", *argv])


def fail(argv, capsys, pattern):
    """The command exits with status 2 and prints ``pattern`` as its error."""
    with pytest.raises(SystemExit) as info:
        run(argv)
    assert info.value.code == 2
    import re

    err = capsys.readouterr().err
    assert re.search(pattern, err), err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small dense model trained on the synthetic stand-in through the CLI."""
    path = tmp_path_factory.mktemp("model") / "dense.npz"
    assert run(["train", "--synthetic", "--hidden", "32,24", "--epochs", "3", "--batch-size",
                "64", "--learning-rate", "3e-3",
                "--out", str(path), "--no-progress"]) == 0
    return path


def test_train_prune_share_export_eval(trained, tmp_path, capsys):
    pruned = tmp_path / "pruned.npz"
    assert run(["prune", "--synthetic", "--model", str(trained), "--out", str(pruned),
                "--method", "block", "--block", "2x2", "--sparsity", "0.7",
                "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "block 50% dev" in out and "block 70% test" in out and "bits per block" in out
    shared = tmp_path / "shared.npz"
    assert run(["share", "--synthetic", "--model", str(pruned), "--out", str(shared),
                "--json", str(tmp_path / "share.json")]) == 0
    figures = json.loads((tmp_path / "share.json").read_text())
    assert set(figures) >= {"float", "shared_float", "engine"}
    assert run(["export", "--synthetic", "--model", str(shared), "--out",
                str(tmp_path / "export"), "--pes", "4"]) == 0
    assert (tmp_path / "export" / "layer_2.npz").is_file()
    assert run(["eval", "--synthetic", "--export", str(tmp_path / "export"),
                "--json", str(tmp_path / "eval.json")]) == 0
    engine = json.loads((tmp_path / "eval.json").read_text())
    # exporting the shared model re-uses its values: same engine accuracy as `share` measured
    assert engine["frame_accuracy"] == figures["engine"]["frame_accuracy"]


def test_pipeline_quick_on_synthetic_frames(tmp_path, capsys):
    start = time.perf_counter()
    assert run(["pipeline", "--synthetic", "--quick", "--hidden", "32,32", "--out",
                str(tmp_path), "--no-progress"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["methods"]) == {"magnitude", "block", "entropy"}
    for entries in report["methods"].values():
        assert [e["sparsity"] for e in entries] == [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98]
        for entry in entries:
            assert {"frame_accuracy", "mean_entropy", "shared_frame_accuracy",
                    "shared_mean_entropy"} <= set(entry)
    assert report["export"]["golden_check"] == {"frames": 50, "mismatching_frames": 0}
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert (tmp_path / "export" / "manifest.json").is_file()
    assert "magnitude_90_drop_points" in report["targets"]
    assert {"data", "train", "prune_magnitude", "total"} <= set(report["seconds"])
    assert time.perf_counter() - start < 60


def test_pipeline_quick_on_the_corpus(quick_pipeline):
    # the issue asks for the --quick pipeline end to end in CI: ~100 s (quick corpus included)
    report = json.loads((quick_pipeline.run / "report.json").read_text())
    assert report["export"]["golden_check"]["mismatching_frames"] == 0
    # The 3-minute budget is for the work, so it is counted in CPU seconds (this process and
    # the corpus's synthesis workers): CI's other pytest worker on the same two cores must not
    # count against it. The pipeline runs one BLAS thread, so on a quiet machine CPU time is at
    # least its wall time.
    print(f"quick pipeline: {quick_pipeline.cpu_seconds:.1f} CPU s, "
          f"{quick_pipeline.wall_seconds:.1f} s wall")
    assert quick_pipeline.cpu_seconds < 180


def test_model_of_another_config_is_refused(trained, tmp_path, capsys):
    other = tmp_path / "other.npz"
    save_model(other, MLP.initialize(ModelConfig(num_pdfs=7, hidden=(8,))))
    fail(["eval", "--synthetic", "--model", str(other)], capsys,
         r"asrhw: error: model .*other.npz has 7 outputs \(pdfs\) but the data has 24 pdfs")


def test_a_file_that_is_not_a_model_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    fail(["eval", "--synthetic", "--model", str(tmp_path / "x.npz")], capsys,
         r"is not an asrhw model file \(format None\)")


def test_a_missing_corpus_is_refused(tmp_path, capsys):
    fail(["train", "--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "m.npz")],
         capsys, r"corpus directory .*none does not exist; build it with `asrhw corpus`")


def test_bad_block_shape_is_refused(trained, tmp_path, capsys):
    fail(["prune", "--synthetic", "--model", str(trained), "--out", str(tmp_path / "p.npz"),
          "--method", "block", "--block", "4by4"], capsys,
         r"--block must look like 1x4 \(ROWSxCOLS\), not '4by4'")


def test_bad_sparsity_is_refused(trained, tmp_path, capsys):
    fail(["prune", "--synthetic", "--model", str(trained), "--out", str(tmp_path / "p.npz"),
          "--sparsity", "1.5"], capsys, r"sparsity must be a number from 0 to below 1, not 1.5")


def test_prune_distils_gradually_with_a_cosine_schedule(trained, tmp_path, capsys):
    assert run(["prune", "--synthetic", "--model", str(trained), "--out",
                str(tmp_path / "p.npz"), "--sparsity", "0.8", "--distill-weight", "0.5",
                "--gradual", "3", "--lr-schedule", "cosine", "--weight-decay", "1e-5",
                "--no-progress"]) == 0
    assert "magnitude 80% test" in capsys.readouterr().out


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--distill-weight", "2", r"TrainConfig.distill_weight must be a number from 0 to 1, not 2"),
    ("--lr-schedule", "step", r"TrainConfig.lr_schedule must be one of plateau, cosine, not "
                              r"'step'"),
    ("--weight-decay", "-1", r"TrainConfig.weight_decay must be a finite number >= 0, not -1"),
    ("--distill-temperature", "0.5", r"TrainConfig.distill_temperature must be a number from 1 "
                                     r"to 20, not 0.5"),
    ("--gradual", "0", r"gradual must be an int from 1 to 64 \(pruning steps per level\), "
                       r"not 0"),
])
def test_bad_prune_options_are_refused(trained, tmp_path, capsys, option, value, message):
    fail(["prune", "--synthetic", "--model", str(trained), "--out", str(tmp_path / "p.npz"),
          option, value], capsys, message)


def test_bad_hidden_widths_are_refused(tmp_path, capsys):
    fail(["train", "--synthetic", "--hidden", "32,abc", "--out", str(tmp_path / "m.npz")],
         capsys, r"--hidden must be comma-separated widths, not '32,abc'")


def test_bad_engine_config_is_refused(trained, tmp_path, capsys):
    fail(["export", "--model", str(trained), "--out", str(tmp_path / "e"), "--pes", "0"],
         capsys, r"SpMVConfig.pes must be an int from 1 to 64, not 0")


def test_model_too_big_for_the_engine_memory_is_refused(trained, tmp_path, capsys):
    fail(["export", "--model", str(trained), "--out", str(tmp_path / "e"), "--pes", "1",
          "--entry-depth", "1000"], capsys,
         r"layer needs \d+ entries in one PE; the engine holds entry_depth=1000")


@pytest.mark.parametrize("gradual", [0, 65, 1.5])
def test_pipeline_settings_refuse_a_bad_gradual_count(gradual):
    from sw.model import ModelError
    from sw.model_pipeline import PipelineSettings

    with pytest.raises(ModelError, match=r"PipelineSettings.gradual must be an int from 1 to "
                                         r"64, not "):
        PipelineSettings(gradual=gradual)


@pytest.mark.parametrize("epochs", [(1, 1), (1, 1, 1, 0, 1, 1), (1, 1, 1, 1, 1, "x")])
def test_pipeline_settings_refuse_bad_finetune_epochs(epochs):
    from sw.model import ModelError
    from sw.model_pipeline import PipelineSettings

    with pytest.raises(ModelError, match=r"PipelineSettings.finetune_epochs: level_epochs must "
                                         r"be 6 numbers from above 0 to 1000 \(one per sparsity "
                                         r"above 0 of \[0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98\]\)"):
        PipelineSettings(finetune_epochs=epochs)


def test_pipeline_records_its_fine_tuning_options(tmp_path):
    assert run(["pipeline", "--synthetic", "--quick", "--hidden", "16,16", "--finetune-epochs",
                "0.5,0.5,1,2,1,0.5", "--distill-temperature", "3", "--distill-weight", "0.5",
                "--out", str(tmp_path),
                "--no-progress"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["settings"]["finetune_epochs"] == [0.5, 0.5, 1, 2, 1, 0.5]
    assert report["settings"]["finetune"]["distill_temperature"] == 3.0
    assert report["settings"]["finetune"]["distill_weight"] == 0.5
    epochs = [0.5, 0.5, 1, 2, 1, 0.5]
    steps = [e["finetune_steps"] for e in report["methods"]["magnitude"][1:]]
    per_epoch = steps[2]  # the 1-epoch level (the quick runs are too short to stop early)
    assert steps == [round(e * per_epoch) for e in epochs]


def test_pipeline_figures_do_not_depend_on_the_workers(tmp_path):
    reports = {}
    for workers in (1, 2):
        out = tmp_path / f"workers{workers}"
        assert run(["pipeline", "--synthetic", "--quick", "--hidden", "16,16", "--workers",
                    str(workers), "--out", str(out), "--no-progress"]) == 0
        reports[workers] = json.loads((out / "report.json").read_text())
    one, two = reports[1], reports[2]
    assert two["settings"]["workers"] == 2
    assert one["methods"] == two["methods"] and one["dense"] == two["dense"]
    assert one["export"] == two["export"]
    for model in sorted((tmp_path / "workers1" / "models").glob("*.npz")):
        with np.load(model) as a, np.load(tmp_path / "workers2" / "models" / model.name) as b:
            assert a.files == b.files
            assert all(np.array_equal(a[name], b[name]) for name in a.files), model.name


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--workers", "0", r"PipelineSettings.workers must be an int from 1 to 64, not 0"),
    ("--finetune-epochs", "1,x", r"--finetune-epochs must be comma-separated numbers, not "
                                 r"'1,x'"),
    ("--finetune-epochs", "1,1", r"PipelineSettings.finetune_epochs: level_epochs must be 6 "
                                 r"numbers"),
    ("--distill-temperature", "30", r"TrainConfig.distill_temperature must be a number from 1 "
                                    r"to 20, not 30.0"),
    ("--distill-weight", "1.5", r"TrainConfig.distill_weight must be a number from 0 to 1"),
])
def test_bad_pipeline_fine_tuning_options_are_refused(tmp_path, capsys, option, value,
                                                      message):
    fail(["pipeline", "--synthetic", "--quick", option, value, "--out", str(tmp_path)], capsys,
         message)
