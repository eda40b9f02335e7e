"""The acoustic model (sw/model.py) and its training (sw/train.py), on synthetic frames."""

import numpy as np
import pytest

from sw.csc import encode, save_layer
from sw.model import (
    MLP,
    ModelConfig,
    ModelError,
    check_frames,
    entropy,
    load_model,
    save_model,
    softmax,
)
from sw.model_data import synthetic_frames
from sw.train import TrainConfig, evaluate, label_log_priors, loss_and_gradients, train

SMALL = ModelConfig(num_pdfs=6, hidden=(16, 12), feature_bins=8, context=1)  # 24 inputs


@pytest.fixture(scope="module")
def data():
    return synthetic_frames(seed=3, num_pdfs=6, input_dim=24, frames=(3000, 600, 600),
                            separation=1.2)


def quick(**changes):
    """Few, small, fast steps: the synthetic task is small."""
    return TrainConfig(**{"batch_size": 32, "learning_rate": 1e-2, "epochs": 2, **changes})


def test_default_config_is_440_256_256_pdfs():
    config = ModelConfig(num_pdfs=120)
    assert config.layer_sizes == (440, 256, 256, 120)
    model = MLP.initialize(config, seed=0)
    assert [w.shape for w in model.weights] == [(256, 440), (256, 256), (120, 256)]
    assert all(w.dtype == np.float32 for w in model.weights + model.biases)


def test_save_load_round_trip_keeps_everything(tmp_path):
    model = MLP.initialize(SMALL, seed=1)
    model.log_priors = np.log(np.full(6, 1 / 6, dtype=np.float32))
    model.info["note"] = {"sparsity": [0.5]}
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz", expect=SMALL)
    assert loaded.config == SMALL
    for a, b in zip(model.weights + model.biases, loaded.weights + loaded.biases, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(loaded.log_priors, model.log_priors)
    assert loaded.info == model.info


def test_load_refuses_a_model_of_another_config(tmp_path):
    save_model(tmp_path / "m.npz", MLP.initialize(SMALL, seed=1))
    other = ModelConfig(num_pdfs=9, hidden=(16, 12), feature_bins=8, context=1)
    with pytest.raises(ModelError, match=r"holds a model of another config: num_pdfs=6 "
                                         r"\(expected 9\)"):
        load_model(tmp_path / "m.npz", expect=other)


def test_load_refuses_another_file_format(tmp_path):
    from hw.config import SpMVConfig

    layer = encode(np.eye(4, dtype=np.int64), [1], config=SpMVConfig(pes=2))
    save_layer(tmp_path / "layer.npz", layer)
    with pytest.raises(ModelError, match=r"is not an asrhw model file \(format "
                                         r"'asrhw.spmv-layer'\)"):
        load_model(tmp_path / "layer.npz")


def test_load_refuses_another_version(tmp_path):
    model = MLP.initialize(SMALL, seed=1)
    save_model(tmp_path / "m.npz", model)
    with np.load(tmp_path / "m.npz") as data:
        arrays = dict(data)
    arrays["version"] = np.array(7)
    np.savez(tmp_path / "v7.npz", **arrays)
    with pytest.raises(ModelError, match=r"is model format version 7; this asrhw reads "
                                         r"version 1"):
        load_model(tmp_path / "v7.npz")


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"model file .*nothing.npz does not exist"):
        load_model(tmp_path / "nothing.npz")


def test_load_refuses_a_file_that_is_not_npz(tmp_path):
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelError, match=r"is not an .npz model file"):
        load_model(tmp_path / "text.npz")


def test_config_rejects_zero_pdfs():
    with pytest.raises(ModelError, match=r"ModelConfig.num_pdfs must be an int from 1 to "
                                         r"65536, not 0"):
        ModelConfig(num_pdfs=0)


def test_config_rejects_a_list_of_hidden_widths():
    with pytest.raises(ModelError, match=r"ModelConfig.hidden must be a tuple of ints"):
        ModelConfig(num_pdfs=3, hidden=[4])


def test_model_rejects_weights_of_the_wrong_shape():
    model = MLP.initialize(SMALL, seed=0)
    weights = list(model.weights)
    weights[1] = weights[1][:, :5]
    with pytest.raises(ModelError, match=r"layer 1 must have weights \(12, 16\)"):
        MLP(SMALL, weights, model.biases)


def test_nan_features_are_refused_with_the_first_bad_frame():
    x = np.zeros((5, 24), dtype=np.float32)
    x[3, 2] = np.nan
    with pytest.raises(ModelError, match=r"features contain NaN or infinite values \(1 "
                                         r"frames, first at frame 3\)"):
        check_frames(x, input_dim=24)


def test_features_of_the_wrong_width_are_refused():
    with pytest.raises(ModelError, match=r"features must have shape \(frames, 24\), not "
                                         r"\(5, 20\)"):
        check_frames(np.zeros((5, 20)), input_dim=24)


def test_empty_features_are_refused():
    with pytest.raises(ModelError, match=r"features hold no frames"):
        check_frames(np.zeros((0, 24)), input_dim=24)


def test_labels_outside_the_pdfs_are_refused():
    with pytest.raises(ModelError, match=r"label 6 is outside the model's pdfs 0..5"):
        check_frames(np.zeros((3, 24)), np.array([0, 6, 1]), input_dim=24, num_pdfs=6)


def test_labels_must_match_the_frames():
    with pytest.raises(ModelError, match=r"labels must be 3 integers \(one per frame\)"):
        check_frames(np.zeros((3, 24)), np.array([0, 1]), input_dim=24, num_pdfs=6)


def test_training_rejects_nan_features(data):
    x, y = data["train"]
    x = x.copy()
    x[10, 0] = np.inf
    with pytest.raises(ModelError, match=r"training features contain NaN or infinite values"):
        train(MLP.initialize(SMALL), (x, y), data["dev"], progress=False)


def test_train_config_rejects_a_bad_learning_rate():
    with pytest.raises(ModelError, match=r"TrainConfig.learning_rate must be a finite number "
                                         r"> 0, not -1"):
        TrainConfig(learning_rate=-1)


def test_entropy_matches_its_definition():
    z = np.array([[0.0, 0.0], [10.0, -10.0]])
    assert np.allclose(entropy(z), [np.log(2), 0.0], atol=1e-7)


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("distill_weight", 1.5, "a number from 0 to 1"),
    ("distill_weight", -0.1, "a number from 0 to 1"),
    ("lr_schedule", "linear", "one of plateau, cosine"),
    ("min_lr_fraction", 2.0, "a number from 0 to 1"),
    ("dropout", 1.0, "a number from 0 to below 1"),
    ("dropout", -0.2, "a number from 0 to below 1"),
    ("distill_temperature", 0.5, "a number from 1 to 20"),
    ("distill_temperature", 21, "a number from 1 to 20"),
    ("distill_temperature", True, "a number from 1 to 20"),
])
def test_train_config_rejects_bad_new_options(field, value, rule):
    with pytest.raises(ModelError, match=rf"TrainConfig.{field} must be {rule}, not "):
        TrainConfig(**{field: value})


def test_distillation_needs_a_teacher(data):
    with pytest.raises(ModelError, match=r"TrainConfig.distill_weight is 0.5: distillation "
                                         r"needs a teacher model"):
        train(MLP.initialize(SMALL, seed=0), data["train"], data["dev"],
              quick(distill_weight=0.5), progress=False)


def test_distillation_refuses_a_teacher_of_other_outputs(data):
    other = MLP.initialize(ModelConfig(num_pdfs=7, hidden=(4,), feature_bins=8, context=1))
    with pytest.raises(ModelError, match=r"the teacher maps 24 inputs to 7 pdfs; the model "
                                         r"24 to 6"):
        train(MLP.initialize(SMALL, seed=0), data["train"], data["dev"],
              quick(distill_weight=0.5), teacher=other, progress=False)


def test_distillation_pulls_the_student_towards_the_teacher(data):
    teacher, _ = train(MLP.initialize(SMALL, seed=0), data["train"], data["dev"], quick(),
                       progress=False)
    student = MLP.initialize(SMALL, seed=1)
    config = quick(epochs=1, learning_rate=3e-3)
    plain, _ = train(student, data["train"], data["dev"], config, progress=False)
    taught, _ = train(student, data["train"], data["dev"], config.replace(distill_weight=1.0),
                      teacher=teacher, progress=False)
    x = data["test"][0]

    def agreement(model):
        return float(np.mean(model.logits(x).argmax(1) == teacher.logits(x).argmax(1)))

    assert agreement(taught) > agreement(plain)


def test_distillation_temperature_one_is_the_mixed_target(data):
    teacher = MLP.initialize(SMALL, seed=3)
    x, y = data["train"][0][:50], data["train"][1][:50]
    soft = softmax(teacher.forward(x))
    model = MLP.initialize(SMALL, seed=0)
    mixed = loss_and_gradients(model, x, y, soft_targets=soft, distill_weight=0.6)
    explicit = loss_and_gradients(model, x, y, soft_targets=soft, distill_weight=0.6,
                                  temperature=1.0)
    assert mixed[0] == explicit[0]
    # at T = 2 the soft part is weighted by T^2 against softer posteriors: a different loss
    warm = loss_and_gradients(model, x, y, soft_targets=softmax(teacher.forward(x) / 2),
                              distill_weight=0.6, temperature=2.0)
    assert warm[0] != pytest.approx(mixed[0])
    _, history = train(model, data["train"], data["dev"],
                       quick(epochs=1, distill_weight=0.6, distill_temperature=2.0),
                       teacher=teacher, progress=False)
    assert history["config"]["distill_temperature"] == 2.0


def test_cosine_schedule_anneals_the_learning_rate(data):
    config = quick(lr_schedule="cosine", min_lr_fraction=0.1, evals_per_epoch=4, patience=100)
    _, history = train(MLP.initialize(SMALL, seed=0), data["train"], data["dev"], config,
                       progress=False)
    rates = [e["learning_rate"] for e in history["evaluations"][1:]]
    assert rates == sorted(rates, reverse=True) and rates[0] < 1e-2
    assert rates[-1] == pytest.approx(1e-3, rel=0.05)  # 10 % of the start at the last step


def test_dropout_trains_and_is_deterministic(data):
    config = quick(dropout=0.2)
    first, _ = train(MLP.initialize(SMALL, seed=0), data["train"], data["dev"], config,
                     progress=False)
    second, _ = train(MLP.initialize(SMALL, seed=0), data["train"], data["dev"], config,
                      progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(first.weights, second.weights, strict=True))
    assert evaluate(first, *data["test"])["frame_accuracy"] > 0.7


def test_dropout_needs_a_generator():
    model = MLP.initialize(SMALL, seed=0)
    with pytest.raises(ModelError, match="dropout needs a random generator"):
        loss_and_gradients(model, np.zeros((2, 24), np.float32), np.array([0, 1]), dropout=0.5)


@pytest.mark.parametrize(("coef", "distill", "dropout", "temperature"),
                         [(0.0, 0.0, 0.0, 1.0), (0.7, 0.0, 0.0, 1.0), (0.0, 0.6, 0.0, 1.0),
                          (0.3, 0.6, 0.4, 1.0), (0.0, 0.6, 0.0, 3.0), (0.3, 0.6, 0.4, 2.0)])
def test_gradients_match_finite_differences(coef, distill, dropout, temperature):
    rng = np.random.default_rng(0)
    config = ModelConfig(num_pdfs=4, hidden=(5,), feature_bins=6, context=0)
    model = MLP.initialize(config, seed=2)
    model.biases[0] += 0.3  # keep ReLUs away from their kink
    x = rng.normal(size=(7, 6)).astype(np.float32)
    y = rng.integers(0, 4, 7)
    soft = rng.dirichlet(np.ones(4), size=7).astype(np.float32)

    def loss_and_grads():
        # a fresh generator per call: the same units are dropped in every evaluation
        return loss_and_gradients(model, x, y, entropy_coef=coef, soft_targets=soft,
                                  distill_weight=distill, temperature=temperature,
                                  dropout=dropout, rng=np.random.default_rng(9))

    _, gw, gb = loss_and_grads()
    eps = 1e-2
    for layer in range(model.num_layers):
        for params, grads in ((model.weights, gw), (model.biases, gb)):
            flat = params[layer].reshape(-1)
            for index in range(0, flat.size, 3):
                saved = flat[index]
                flat[index] = saved + eps
                up = loss_and_grads()[0]
                flat[index] = saved - eps
                down = loss_and_grads()[0]
                flat[index] = saved
                numeric = (up - down) / (2 * eps)
                assert grads[layer].reshape(-1)[index] == pytest.approx(numeric, abs=2e-3)


def test_training_learns_and_is_deterministic(data):
    config = quick(seed=5)
    model = MLP.initialize(SMALL, seed=0)
    first, history = train(model, data["train"], data["dev"], config, progress=False)
    second, _ = train(model, data["train"], data["dev"], config, progress=False)
    for a, b in zip(first.weights, second.weights, strict=True):
        assert np.array_equal(a, b)
    before = evaluate(model, *data["test"])["frame_accuracy"]
    after = evaluate(first, *data["test"])["frame_accuracy"]
    assert after > 0.7 > before
    assert history["best_dev"]["frame_accuracy"] == max(
        e["frame_accuracy"] for e in history["evaluations"])


def test_early_stopping_keeps_the_best_dev_model(data):
    # a huge learning rate makes dev accuracy fall after the first evaluations
    config = quick(epochs=20, learning_rate=0.5, patience=2, evals_per_epoch=4)
    model, history = train(MLP.initialize(SMALL, seed=0), data["train"], data["dev"], config,
                           progress=False)
    assert history["stopped_early"]
    assert evaluate(model, *data["dev"])["frame_accuracy"] == pytest.approx(
        history["best_dev"]["frame_accuracy"])


def test_masked_weights_stay_exactly_zero(data):
    model = MLP.initialize(SMALL, seed=0)
    rng = np.random.default_rng(1)
    masks = [rng.random(w.shape) < 0.3 for w in model.weights]
    tuned, _ = train(model, data["train"], data["dev"], quick(epochs=1), masks=masks,
                     progress=False)
    for w, m in zip(tuned.weights, masks, strict=True):
        assert not np.any(w[~m])
        assert np.count_nonzero(w) == np.count_nonzero(m)


def test_entropy_regulariser_lowers_output_entropy(data):
    model = MLP.initialize(SMALL, seed=0)
    plain, _ = train(model, data["train"], data["dev"], quick(), progress=False)
    peaked, _ = train(model, data["train"], data["dev"], quick(entropy_coef=1.0),
                      progress=False)
    assert (evaluate(peaked, *data["test"])["mean_entropy"]
            < 0.8 * evaluate(plain, *data["test"])["mean_entropy"])


def test_log_priors_are_smoothed_frequencies():
    priors = label_log_priors(np.array([0, 0, 0, 1]), 3)
    assert np.allclose(np.exp(priors), [4 / 7, 2 / 7, 1 / 7])


def test_blas_threads_is_set_inside_and_restored_after():
    from sw.train import _openblas, blas_threads

    functions = _openblas()
    if functions is None:
        pytest.skip("NumPy is not linked against OpenBLAS here")
    set_threads, get_threads = functions
    before = int(get_threads())
    with blas_threads(1):
        assert int(get_threads()) == 1
    assert int(get_threads()) == before
