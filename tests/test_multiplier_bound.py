"""The multiplier floor (sw/multiplier_bound.py) against a count made with the golden engine."""

import json

import numpy as np
import pytest

from hw.config import SpMVConfig
from sw.cli import main
from sw.golden.spmv import batch_columns, golden_spmv, nonzero_macs
from sw.model import MLP, ModelConfig
from sw.multiplier_bound import BatchFloor, batch_floors, useful_products
from sw.prune import apply_masks, magnitude_masks
from sw.quantized import layer_activations, quantize_features, quantize_model

SMALL = ModelConfig(num_pdfs=10, hidden=(24, 20), feature_bins=8, context=2)  # 40 inputs
ENGINE = SpMVConfig(pes=3, index_bits=2)  # padding entries: they must not count


@pytest.fixture(scope="module")
def quantized_and_utterances():
    dense = MLP.initialize(SMALL, seed=0)
    model = apply_masks(dense, magnitude_masks(dense, 0.7))
    rng = np.random.default_rng(3)
    # biases below zero make the ReLUs give zeros: columns to skip
    for bias in model.biases:
        bias += rng.normal(-0.1, 0.3, bias.shape).astype(np.float32)
    # a third of the input values zero, so that the first layer skips columns too
    features = [np.where(rng.random((length, SMALL.input_dim)) < 0.33, 0.0,
                         rng.normal(0, 1, (length, SMALL.input_dim))).astype(np.float32)
                for length in (7, 12, 1, 9)]
    quantized = quantize_model(model, ENGINE, calibration=np.concatenate(features))
    utterances = [quantize_features(f, ENGINE) for f in features]
    # every layer's input has zeros and nonzeros, or the skipping goes untested
    for inputs in layer_activations(quantized, np.concatenate(utterances))[:-1]:
        assert 0 < np.count_nonzero(inputs) < inputs.size
    return quantized, utterances


def golden_count(quantized, utterances, batch):
    """Lane products and columns read per frame, frame by frame through the golden engine."""
    products = columns = frames = 0
    for activations in utterances:
        frames += len(activations)
        for first in range(0, len(activations), batch):
            lanes = [np.asarray(x) for x in activations[first:first + batch]]
            for layer in quantized.layers:
                read = batch_columns(lanes)
                products += nonzero_macs(layer, read) * len(lanes)
                columns += int(read.sum())
                lanes = [golden_spmv(layer, x, quantized.spmv) for x in lanes]
    return products / frames, columns / frames


@pytest.mark.parametrize("batch", [1, 2, 3, 8])
def test_floors_equal_a_golden_count_frame_by_frame(quantized_and_utterances, batch):
    quantized, utterances = quantized_and_utterances
    [floor] = batch_floors(quantized, utterances, batches=[batch], multipliers=5)
    products, columns = golden_count(quantized, utterances, batch)
    assert floor.lane_products == pytest.approx(products, abs=1e-9)
    assert floor.columns_read == pytest.approx(columns, abs=1e-9)
    assert floor.cycles == max(products / 5, columns)


def test_useful_products_are_the_nonzero_pairs(quantized_and_utterances):
    quantized, utterances = quantized_and_utterances
    products, _ = golden_count(quantized, utterances, 1)
    assert useful_products(quantized, utterances) == pytest.approx(products, abs=1e-9)
    # a batch only adds products (zero lanes of columns read)
    floors = batch_floors(quantized, utterances, batches=[1, 4], multipliers=1)
    assert floors[1].lane_products >= floors[0].lane_products


def test_cycles_are_set_by_the_multipliers_or_the_broadcast():
    assert BatchFloor(8, 1000.0, 20.0, 10).cycles == 100.0
    assert BatchFloor(1, 1000.0, 200.0, 10).cycles == 200.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"batches": [1], "multipliers": 0}, "multipliers must be a positive integer, not 0"),
    ({"batches": [0], "multipliers": 4}, "every batch must be an int from 1 to 64, not 0"),
])
def test_bad_arguments_are_refused(quantized_and_utterances, kwargs, message):
    quantized, utterances = quantized_and_utterances
    with pytest.raises(ValueError, match=message):
        batch_floors(quantized, utterances, **kwargs)


def test_no_frames_are_refused(quantized_and_utterances):
    quantized, _ = quantized_and_utterances
    with pytest.raises(ValueError, match="the utterances hold no frames"):
        batch_floors(quantized, [], batches=[1], multipliers=4)


def test_the_command_prints_and_writes_the_floors(quick_pipeline, tmp_path, capsys):
    report = tmp_path / "bound.json"
    assert main(["model", "bound", "--export", str(quick_pipeline.run / "export"), "--corpus",
                 str(quick_pipeline.corpus), "--utterances", "3", "--batches", "1,8",
                 "--fmax", "125,85", "--peer-us", "7.4", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "batch  8:" in out and "any engine (useful products only)" in out
    rows = json.loads(report.read_text())["rows"]
    assert [row["batch"] for row in rows] == [1, 8, None]
    for row in rows:
        for clock in ("125", "85"):
            assert row["us_per_frame"][clock] == pytest.approx(row["cycles"] / float(clock))
            assert row["speedup"][clock] == pytest.approx(7.4 / row["us_per_frame"][clock])
    assert rows[2]["cycles"] <= rows[1]["cycles"]  # no engine beats the useful products


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--batches", "1,x", r"--batches must be comma-separated integers, not '1,x'"),
    ("--batches", "0", r"--batches must be from 1 to 64, not '0'"),
    ("--fmax", "0", r"--fmax must be above 0 and at most 1000 MHz, not '0'"),
    ("--multipliers", "0", r"--multipliers must be from 1 to 100000, not 0"),
    ("--peer-us", "-1", r"--peer-us must be above 0, not -1.0"),
])
def test_the_command_refuses_bad_options(tmp_path, capsys, option, value, message):
    with pytest.raises(SystemExit) as info:
        main(["model", "bound", "--export", str(tmp_path), option, value])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_command_names_a_missing_export(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["model", "bound", "--export", str(tmp_path / "none"), "--corpus", str(tmp_path)])
    assert info.value.code == 2
    assert "none" in capsys.readouterr().err
