"""Pruning (sw/prune.py): masks, block tiles, index storage, the iterative schedule."""

import numpy as np
import pytest

from sw.model import MLP, ModelConfig, ModelError
from sw.model_data import synthetic_frames
from sw.prune import (
    apply_masks,
    block_masks,
    index_storage,
    magnitude_masks,
    masks_for,
    prune_schedule,
)
from sw.train import TrainConfig, evaluate, train

CONFIG = ModelConfig(num_pdfs=6, hidden=(18, 12), feature_bins=10, context=1)  # 30 inputs
FINETUNE = TrainConfig(batch_size=32, learning_rate=3e-3, epochs=1)


@pytest.fixture(scope="module")
def data():
    return synthetic_frames(seed=4, num_pdfs=6, input_dim=30, frames=(2000, 400, 400),
                            separation=1.2)


@pytest.fixture(scope="module")
def model():
    return MLP.initialize(CONFIG, seed=7)


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.98])
def test_magnitude_masks_prune_the_smallest_weights_of_every_layer(model, sparsity):
    masks = magnitude_masks(model, sparsity)
    for w, m in zip(model.weights, masks, strict=True):
        assert m.size - m.sum() == round(w.size * sparsity)
        if 0 < m.sum() < m.size:
            assert np.abs(w[m]).min() >= np.abs(w[~m]).max()


def test_magnitude_masks_of_increasing_sparsity_are_nested(model):
    low = magnitude_masks(model, 0.5)
    high = magnitude_masks(apply_masks(model, low), 0.8)
    for a, b in zip(low, high, strict=True):
        assert not np.any(b & ~a)


@pytest.mark.parametrize("block", [(1, 4), (4, 4), (4, 1), (5, 7)])
def test_block_masks_zero_whole_tiles(model, block):
    bh, bw = block
    for w, m in zip(model.weights, block_masks(model, 0.7, block), strict=True):
        assert 1 - m.mean() >= 0.7
        rows, cols = w.shape
        for r in range(0, rows, bh):
            for c in range(0, cols, bw):
                tile = m[r:r + bh, c:c + bw]  # edge tiles are smaller
                assert tile.all() or not tile.any()


def test_block_masks_overshoot_by_less_than_one_tile(model):
    for w, m in zip(model.weights, block_masks(model, 0.6, (4, 4)), strict=True):
        assert (1 - m.mean()) * w.size < 0.6 * w.size + 16


def test_index_storage_counts_one_index_per_weight_or_per_block():
    mask = np.zeros((8, 8), dtype=bool)
    mask[0:4, 0:4] = True  # one 4x4 block: 16 weights
    mask[4:8, 4:8] = True  # another
    report = index_storage(mask, (4, 4), index_bits=4)
    assert report["nonzero_weights"] == 32 and report["nonzero_blocks"] == 2
    assert report["fine_relative_index_bits"] == 32 * 4  # gaps < 16: no padding
    assert report["coarse_relative_index_bits"] == 2 * 4
    assert report["fine_absolute_index_bits"] == 32 * 3  # rows 0..7
    assert report["coarse_absolute_index_bits"] == 2 * 1  # block rows 0..1
    assert report["relative_index_saving"] == pytest.approx(1 - 8 / 128)


def test_index_storage_counts_padding_entries_like_the_engine():
    mask = np.zeros((40, 1), dtype=bool)
    mask[[0, 35]] = True  # gap of 34 zeros: 34 >> 4 = 2 padding entries with 4-bit indices
    report = index_storage(mask, (1, 1), index_bits=4)
    assert report["fine_relative_index_bits"] == (2 + 2) * 4


def test_schedule_prunes_fine_tunes_and_keeps_masks(model, data):
    results = prune_schedule(model, data["train"], data["dev"], method="magnitude",
                             sparsities=(0.0, 0.5, 0.8), finetune=FINETUNE, progress=False)
    assert [r["sparsity"] for r in results] == [0.0, 0.5, 0.8]
    previous = None
    for result in results:
        pruned = result["model"]
        assert pruned.sparsity() == pytest.approx([result["sparsity"]] * 3, abs=0.01)
        if previous is not None:  # zeros of a level stay zeros at the next
            for a, b in zip(previous.weights, pruned.weights, strict=True):
                assert not np.any(b[a == 0])
        previous = pruned
    assert results[1]["history"]["steps"] > 0
    assert results[2]["model"].info["pruning"] == "magnitude"


def test_schedule_of_block_and_entropy_methods(model, data):
    block = prune_schedule(model, data["train"], data["dev"], method="block",
                           sparsities=(0.5,), finetune=FINETUNE, block=(2, 2), progress=False)
    assert block[0]["model"].info["block"] == [2, 2]
    entropy = prune_schedule(model, data["train"], data["dev"], method="entropy",
                             sparsities=(0.5,), finetune=FINETUNE, entropy_coef=0.5,
                             progress=False)
    assert entropy[0]["history"]["config"]["entropy_coef"] == 0.5
    assert entropy[0]["model"].sparsity() == pytest.approx([0.5] * 3, abs=0.01)


def test_schedule_distils_from_the_dense_model(model, data):
    dense, _ = train(model, data["train"], data["dev"], FINETUNE.replace(epochs=2),
                     progress=False)
    results = prune_schedule(dense, data["train"], data["dev"], method="magnitude",
                             sparsities=(0.5, 0.8),
                             finetune=FINETUNE.replace(distill_weight=0.7), progress=False)
    assert results[1]["history"]["config"]["distill_weight"] == 0.7
    assert results[1]["model"].sparsity() == pytest.approx([0.8] * 3, abs=0.01)
    assert evaluate(results[1]["model"], *data["test"])["frame_accuracy"] > 0.5


def test_gradual_schedule_reaches_each_level_with_cubic_steps(model, data):
    from sw.prune import _gradual_steps

    plan = _gradual_steps("magnitude", 0.9, 0.8, 4, (1, 4), "layer", 400)
    assert [step for step, _ in plan] == [0, 66, 133, 200]  # over the first half of 400
    sparsities = [plan[0][1]] + [f.args[1] for _, f in plan[1:]]
    assert sparsities == pytest.approx([0.9 - 0.1 * (3 / 4) ** 3, 0.9 - 0.1 * (2 / 4) ** 3,
                                        0.9 - 0.1 * (1 / 4) ** 3, 0.9])
    results = prune_schedule(model, data["train"], data["dev"], method="magnitude",
                             sparsities=(0.5, 0.8), finetune=FINETUNE, gradual=3,
                             progress=False)
    # the model kept is one at the level's sparsity (dev evaluations during the cuts, of less
    # sparse models, do not count)
    for result in results:
        assert result["model"].sparsity() == pytest.approx([result["sparsity"]] * 3, abs=0.01)
    for a, b in zip(results[0]["model"].weights, results[1]["model"].weights, strict=True):
        assert not np.any(b[a == 0])


@pytest.mark.parametrize("gradual", [0, 65, 2.5, True])
def test_bad_gradual_step_count_is_refused(model, data, gradual):
    with pytest.raises(ModelError, match=r"gradual must be an int from 1 to 64 \(pruning steps "
                                         r"per level\), not "):
        prune_schedule(model, data["train"], data["dev"], sparsities=(0.5,),
                       finetune=FINETUNE, gradual=gradual, progress=False)


def test_reprune_steps_outside_the_run_are_refused(model, data):
    with pytest.raises(ModelError, match=r"reprune steps must be ints from 0 to"):
        train(model, data["train"], data["dev"], FINETUNE, reprune={10**6: lambda m: None},
              progress=False)


def test_sparsity_of_one_is_refused(model):
    with pytest.raises(ModelError, match=r"sparsity must be a number from 0 to below 1, not "
                                         r"1.0"):
        magnitude_masks(model, 1.0)


def test_bad_block_shape_is_refused(model):
    with pytest.raises(ModelError, match=r"block sides must be ints from 1 to 256, not "
                                         r"\(0, 4\)"):
        block_masks(model, 0.5, (0, 4))


def test_block_must_have_two_sides(model):
    with pytest.raises(ModelError, match=r"block must be \(rows, cols\), not 4"):
        block_masks(model, 0.5, 4)


def test_unknown_method_is_refused(model):
    with pytest.raises(ModelError, match=r"pruning method must be one of magnitude, block, "
                                         r"entropy, not 'random'"):
        masks_for("random", model, 0.5)


def test_entropy_method_needs_a_coefficient(model, data):
    with pytest.raises(ModelError, match=r"the entropy method needs entropy_coef > 0, not 0"):
        prune_schedule(model, data["train"], data["dev"], method="entropy",
                       sparsities=(0.5,), entropy_coef=0, progress=False)


def test_sparsities_must_increase(model, data):
    with pytest.raises(ModelError, match=r"sparsities must be increasing, not \[0.9, 0.5\]"):
        prune_schedule(model, data["train"], data["dev"], sparsities=(0.9, 0.5),
                       progress=False)


def test_global_scope_ranks_all_layers_together(model):
    masks = magnitude_masks(model, 0.8, scope="global")
    kept = np.concatenate([np.abs(w[m]) for w, m in zip(model.weights, masks, strict=True)])
    dropped = np.concatenate([np.abs(w[~m]) for w, m in zip(model.weights, masks, strict=True)])
    total = sum(w.size for w in model.weights)
    assert len(dropped) == round(0.8 * total)
    assert kept.min() >= dropped.max()
    # He initialisation: the wider-input first layer has the smallest weights, loses the most
    assert 1 - masks[0].mean() > 0.8 > 1 - masks[-1].mean()


def test_global_block_masks_reach_the_total_sparsity(model):
    masks = block_masks(model, 0.6, (2, 2), scope="global")
    zeros = sum(int((~m).sum()) for m in masks)
    total = sum(m.size for m in masks)
    assert 0.6 * total <= zeros < 0.6 * total + 4


def test_unknown_scope_is_refused(model):
    with pytest.raises(ModelError, match=r"scope must be one of layer, global, not 'model'"):
        magnitude_masks(model, 0.5, scope="model")


def test_global_scope_never_prunes_a_layer_away():
    # a first layer of tiny weights would vanish entirely under a plain global ranking
    model = MLP.initialize(CONFIG, seed=3)
    model.weights[0] *= 0.01
    masks = magnitude_masks(model, 0.98, scope="global")
    cap = 1 - 0.02 / 4
    assert 1 - masks[0].mean() == pytest.approx(cap, abs=1 / masks[0].size)
    assert sum(int((~m).sum()) for m in masks) == round(0.98 * sum(m.size for m in masks))


def test_level_epochs_set_the_fine_tuning_of_each_level(model, data):
    results = prune_schedule(model, data["train"], data["dev"], method="magnitude",
                             sparsities=(0.0, 0.5, 0.8), finetune=FINETUNE,
                             level_epochs=(0.5, 2), progress=False)
    assert results[0]["history"] is None  # level 0 is not fine-tuned: no entry for it
    assert [r["history"]["config"]["epochs"] for r in results[1:]] == [0.5, 2.0]
    assert results[2]["model"].sparsity() == pytest.approx([0.8] * 3, abs=0.01)


@pytest.mark.parametrize("level_epochs", [(1,), (1, 1, 1), (1, 0), (1, -2), (1, float("nan")),
                                          (1, True), (1, 1001), 3])
def test_bad_level_epochs_are_refused(model, data, level_epochs):
    with pytest.raises(ModelError, match=r"level_epochs must be (a sequence of )?2 numbers"):
        prune_schedule(model, data["train"], data["dev"], sparsities=(0.0, 0.5, 0.8),
                       finetune=FINETUNE, level_epochs=level_epochs, progress=False)
