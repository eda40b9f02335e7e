"""The engine-arithmetic forward pass (sw/quantized.py): bit-exact with the golden engine."""

import json

import numpy as np
import pytest

from hw.config import CostConfig, SpMVConfig
from sw.csc import decode, load_layer
from sw.golden.cost import golden_costs
from sw.model import MLP, ModelConfig, ModelError
from sw.prune import apply_masks, magnitude_masks
from sw.quantized import (
    choose_exponents,
    evaluate_quantized,
    export,
    fast_forward,
    golden_forward,
    load_export,
    quantize_features,
    quantize_model,
    reencode,
    shared_float_model,
)
from sw.train import evaluate

SMALL = ModelConfig(num_pdfs=10, hidden=(24, 20), feature_bins=8, context=2)  # 40 inputs


def pruned_model(config=SMALL, sparsity=0.7, seed=0):
    model = MLP.initialize(config, seed=seed)
    rng = np.random.default_rng(seed)
    for b in model.biases:
        b += rng.normal(0, 0.2, b.shape).astype(np.float32)
    model.log_priors = np.log(rng.dirichlet(np.ones(config.num_pdfs))).astype(np.float32)
    return apply_masks(model, magnitude_masks(model, sparsity))


def frames(count, dim, seed=1, scale=1.0):
    return (np.random.default_rng(seed).normal(0, scale, (count, dim))).astype(np.float32)


def assert_fast_equals_golden(quantized, x_int):
    fast_out, fast_costs = fast_forward(quantized, x_int)
    for t in range(len(x_int)):  # every frame
        out, costs = golden_forward(quantized, x_int[t])
        assert np.array_equal(out, fast_out[t]), f"frame {t}"
        assert np.array_equal(costs, fast_costs[t]), f"frame {t}"
    return fast_out


ENGINES = {
    "default": SpMVConfig(pes=4),
    "3 PEs, 2-bit index (padding)": SpMVConfig(pes=3, index_bits=2),
    "narrow, saturating": SpMVConfig(pes=2, act_width=8, act_frac=3, codebook_width=5,
                                     codebook_frac=3, bias_width=8),
    "wide: int64 path": SpMVConfig(pes=5, act_width=32, act_frac=12, codebook_width=18,
                                   codebook_frac=14, bias_width=32, max_cols=64),
}


@pytest.mark.parametrize("name", list(ENGINES))
def test_fast_forward_equals_golden_on_every_frame(name):
    config = ENGINES[name]
    model = pruned_model()
    x = frames(150, SMALL.input_dim, scale=3.0 if "saturating" in name else 1.0)
    if "saturating" in name:  # scale up on purpose (calibration would avoid saturation)
        quantized = quantize_model(model, config, exponents=(2, 1, 1))
    else:
        quantized = quantize_model(model, config, calibration=x[:50])
    out = assert_fast_equals_golden(quantized, quantize_features(x, config))
    if "saturating" in name:  # the saturation path really ran
        assert (out == config.act_range[1]).any() or (out == config.act_range[0]).any()


def test_fast_forward_equals_golden_on_the_full_size_model():
    model = pruned_model(ModelConfig(num_pdfs=60), sparsity=0.9)
    x = frames(12, 440)
    config = SpMVConfig(pes=8)
    quantized = quantize_model(model, config, calibration=x)
    assert_fast_equals_golden(quantized, quantize_features(x, config))


def test_reencoding_for_another_pe_count_keeps_every_output():
    model = pruned_model()
    x = frames(60, SMALL.input_dim)
    quantized = quantize_model(model, SpMVConfig(pes=4), calibration=x[:30])
    x_int = quantize_features(x, quantized.spmv)
    expected = fast_forward(quantized, x_int)
    for pes in (1, 3, 16):
        wider = reencode(quantized, pes)
        assert wider.spmv.pes == pes and all(layer.pes == pes for layer in wider.layers)
        for before, after in zip(quantized.layers, wider.layers, strict=True):
            assert np.array_equal(decode(before), decode(after))
        out = assert_fast_equals_golden(wider, x_int)  # golden engine on the new encoding
        assert np.array_equal(out, expected[0])
    assert reencode(quantized, 4) is quantized


def test_reencoding_with_wider_row_indices_drops_the_padding_and_keeps_every_output():
    model = pruned_model(sparsity=0.9)
    x = frames(40, SMALL.input_dim)
    quantized = quantize_model(model, SpMVConfig(pes=1, index_bits=2), calibration=x[:20])
    x_int = quantize_features(x, quantized.spmv)
    expected = fast_forward(quantized, x_int)
    assert sum(layer.padding_count for layer in quantized.layers) > 0
    wider = reencode(quantized, 1, index_bits=5)  # 24 rows at most: every gap fits 5 bits
    assert wider.spmv.index_bits == 5 and all(layer.index_bits == 5 for layer in wider.layers)
    assert sum(layer.padding_count for layer in wider.layers) == 0
    for before, after in zip(quantized.layers, wider.layers, strict=True):
        assert np.array_equal(decode(before), decode(after))
    out = assert_fast_equals_golden(wider, x_int)
    assert np.array_equal(out, expected[0])
    assert reencode(quantized, 1, index_bits=2) is quantized
    with pytest.raises(ModelError, match="cannot re-encode for 1 PEs and 9-bit row indices: "
                                         "SpMVConfig.index_bits must be an int from 2 to 8"):
        reencode(quantized, 1, index_bits=9)


def test_reencoding_refuses_an_impossible_pe_count():
    quantized = quantize_model(pruned_model(), SpMVConfig(pes=4))
    with pytest.raises(ModelError, match="cannot re-encode for 0 PEs: SpMVConfig.pes must be "
                                         "an int from 1 to 64, not 0"):
        reencode(quantized, 0)


def test_costs_are_the_cost_unit_of_the_last_layer():
    config = SpMVConfig(pes=4)
    quantized = quantize_model(pruned_model(), config, acoustic_scale=0.25,
                               cost=CostConfig(scale_frac=10))
    out, costs = fast_forward(quantized, quantize_features(frames(20, 40), config))
    assert quantized.scale == round(0.25 * 2 ** -quantized.logit_exponent * 1024)
    assert np.array_equal(costs, golden_costs(out, scale=quantized.scale, act_frac=8,
                                              scale_frac=10, cost_frac=4, cost_width=16))
    assert (costs.min(axis=1) == 0).all()


def test_engine_outputs_approximate_the_float_logits():
    model = pruned_model()
    x = frames(200, 40)
    quantized = quantize_model(model, SpMVConfig(), calibration=x)
    out, _ = fast_forward(quantized, quantize_features(x, SpMVConfig()))
    shared = shared_float_model(model, quantized).forward(x)
    assert np.abs(quantized.output_logits(out) - shared).max() < 0.1


def test_power_of_two_scaling_fills_the_codebook_and_keeps_the_function():
    model = pruned_model()
    x = frames(100, 40)
    config = SpMVConfig()
    exponents = choose_exponents(model, config, x)
    assert exponents[0] > 0  # He-initialised weights are far below the codebook's +-2
    quantized = quantize_model(model, config, exponents=exponents)
    assert max(abs(v) for v in quantized.layers[0].codebook) > config.codebook_range[1] / 2
    plain = quantize_model(model, config, exponents=(0, 0, 0))
    # both represent the same float model; scaling only changes the rounding
    a = shared_float_model(model, quantized).forward(x)
    b = shared_float_model(model, plain).forward(x)
    assert np.abs(a - model.forward(x)).mean() <= np.abs(b - model.forward(x)).mean()


def test_sharing_a_shared_model_changes_nothing():
    model = pruned_model()
    config = SpMVConfig()
    first = quantize_model(model, config, exponents=(1, 0, 0))
    again = quantize_model(shared_float_model(model, first), config)  # its own exponents
    for a, b in zip(first.layers, again.layers, strict=True):
        # same stored values (k-means may leave unused codebook entries the second run drops)
        assert np.array_equal(a.codebook[decode(a)], b.codebook[decode(b)])
        assert np.array_equal(a.bias, b.bias)


def test_folded_priors_shift_the_last_bias():
    model = pruned_model()
    config = SpMVConfig()
    plain = quantize_model(model, config, exponents=(0, 0, 0))
    folded = quantize_model(model, config, exponents=(0, 0, 0), fold_priors=True)
    expected = np.round((model.biases[-1] - model.log_priors) * 256)
    assert np.array_equal(folded.layers[-1].bias, expected)
    assert not np.array_equal(plain.layers[-1].bias, folded.layers[-1].bias)


def test_export_writes_loadable_layers_and_a_manifest(tmp_path):
    model = pruned_model()
    config = SpMVConfig(pes=4)
    x = frames(60, 40)
    manifest = export(model, config, tmp_path, calibration=x)
    stored = json.loads((tmp_path / "manifest.json").read_text())
    assert stored == manifest
    assert stored["format"] == "asrhw.model-export" and len(stored["layers"]) == 3
    assert [layer["relu"] for layer in stored["layers"]] == [True, True, False]
    layer0 = load_layer(tmp_path / "layer_0.npz", config=config)
    assert (layer0.rows, layer0.cols) == (24, 40)
    loaded = load_export(tmp_path, config=config)
    direct = quantize_model(model, config, calibration=x)
    q = quantize_features(x, config)
    assert np.array_equal(fast_forward(loaded, q)[1], fast_forward(direct, q)[1])


def test_evaluation_of_the_engine_model_is_close_to_float():
    model = pruned_model(sparsity=0.5)
    x = frames(400, 40)
    labels = model.forward(x).argmax(axis=1)  # the float model is right on every frame
    quantized = quantize_model(model, SpMVConfig(), calibration=x)
    assert evaluate(model, x, labels)["frame_accuracy"] == 1.0
    # an untrained model has small margins, so 4-bit sharing flips some frames
    assert evaluate_quantized(quantized, x, labels)["frame_accuracy"] > 0.85
    shared = shared_float_model(model, quantized).forward(x).argmax(axis=1)
    # fixed-point activations on top of sharing change almost nothing
    assert evaluate_quantized(quantized, x, shared)["frame_accuracy"] > 0.97


def test_load_export_refuses_another_engine(tmp_path):
    export(pruned_model(), SpMVConfig(pes=4), tmp_path)
    with pytest.raises(ModelError, match=r"was exported for another engine: pes=4 \(engine "
                                         r"has 8\)"):
        load_export(tmp_path, config=SpMVConfig(pes=8))


def test_load_export_needs_a_manifest(tmp_path):
    with pytest.raises(ModelError, match=r"has no manifest.json \(not an exported model\)"):
        load_export(tmp_path)


def test_load_export_refuses_another_format(tmp_path):
    export(pruned_model(), SpMVConfig(pes=4), tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["version"] = 9
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"is format 'asrhw.model-export' version 9; expected"):
        load_export(tmp_path)


def test_fold_priors_needs_priors():
    model = pruned_model()
    model.log_priors = None
    with pytest.raises(ModelError, match=r"fold_priors needs a model with log_priors"):
        quantize_model(model, SpMVConfig(), fold_priors=True)


def test_exponents_need_one_value_per_layer():
    with pytest.raises(ModelError, match=r"exponents must have 3 values \(one per layer\), "
                                         r"not 2"):
        quantize_model(pruned_model(), SpMVConfig(), exponents=(0, 0))


def test_fast_forward_refuses_frames_outside_the_activation_range():
    quantized = quantize_model(pruned_model(), SpMVConfig())
    with pytest.raises(ModelError, match=r"frames must be within the activation range "
                                         r"\[-32768, 32767\]"):
        fast_forward(quantized, np.full((1, 40), 40000, dtype=np.int64))


def test_quantize_features_refuses_nan():
    x = frames(3, 40)
    x[1, 5] = np.nan
    with pytest.raises(ModelError, match=r"features contain NaN or infinite values"):
        quantize_features(x, SpMVConfig())


def test_an_all_zero_layer_is_refused():
    model = pruned_model()
    model.weights[1][:] = 0
    with pytest.raises(ModelError, match=r"layer 1 has no nonzero weight to encode"):
        quantize_model(model, SpMVConfig())


def test_finetuned_sharing_keeps_15_values_and_the_zeros():
    from sw.model_data import synthetic_frames
    from sw.quantized import finetune_shared
    from sw.train import TrainConfig

    data = synthetic_frames(seed=2, num_pdfs=10, input_dim=40, frames=(1500, 300, 300),
                            separation=1.0)
    model = pruned_model(sparsity=0.6)
    tuned, history = finetune_shared(model, data["train"], data["dev"],
                                     TrainConfig(epochs=1, batch_size=32, learning_rate=3e-3),
                                     progress=False)
    assert history["steps"] > 0
    for before, after in zip(model.weights, tuned.weights, strict=True):
        assert np.array_equal(before == 0, after == 0)
        assert len(np.unique(after[after != 0])) <= 15
    # quantizing it takes those values as the codebook: only fixed-point rounding remains
    quantized = quantize_model(tuned, SpMVConfig(), exponents=(0, 0, 0))
    shared = shared_float_model(tuned, quantized)
    for w, s in zip(tuned.weights, shared.weights, strict=True):
        assert np.abs(w - s).max() <= 2 ** -7 + 1e-7
