"""Pruning of the acoustic model: fine-grained magnitude, coarse blocks, entropy-regularised.

Three methods share one iterative schedule (prune to the next sparsity, fine-tune with the masks
fixed, continue from the fine-tuned model):

- ``magnitude`` (Han et al. 2015): in every layer the smallest-magnitude weights are zeroed.
- ``block`` (Mao et al. 2017): every layer is tiled into blocks of ``block`` = (rows, cols);
  whole blocks with the smallest mean magnitude are zeroed. One index per nonzero block instead
  of one per nonzero weight is what it saves; :func:`index_storage` counts it.
- ``entropy`` (Gao et al., KDD 2020): magnitude masks, but fine-tuning adds
  ``entropy_coef * mean output entropy`` to the loss so the pruned model's posteriors stay
  peaked (a flat posterior widens the decoder's beam).

Sparsity is per layer by default (each weight matrix loses the same fraction); with
``scope="global"`` all weights are ranked together and the sparsity is the whole model's, so
layers of larger weights (the output layer) keep more. Biases are never pruned.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from hw.config import bits_for
from sw.model import MLP, ModelError
from sw.train import TrainConfig, evaluate, planned_steps, train

__all__ = [
    "DEFAULT_SPARSITIES",
    "METHODS",
    "SCOPES",
    "apply_masks",
    "block_masks",
    "check_block",
    "check_level_epochs",
    "check_sparsity",
    "index_storage",
    "magnitude_masks",
    "masks_for",
    "prune_schedule",
]

DEFAULT_SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
METHODS = ("magnitude", "block", "entropy")


def check_sparsity(sparsity) -> float:
    """Return ``sparsity`` as a float if it is in [0, 1); raise :class:`ModelError` otherwise."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not (
            0 <= sparsity < 1):
        raise ModelError(f"sparsity must be a number from 0 to below 1, not {sparsity!r}")
    return float(sparsity)


def check_block(block) -> tuple[int, int]:
    """Return ``block`` as ``(rows, cols)`` of positive ints; raise otherwise."""
    try:
        rows, cols = block
    except (TypeError, ValueError):
        raise ModelError(f"block must be (rows, cols), not {block!r}") from None
    for value in (rows, cols):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
            raise ModelError(f"block sides must be ints from 1 to 256, not {block!r}")
    return rows, cols


def _prune_count(size: int, sparsity: float) -> int:
    return int(round(size * sparsity))


SCOPES = ("layer", "global")


def magnitude_masks(model: MLP, sparsity: float, *, scope: str = "layer") -> list[np.ndarray]:
    """Keep-masks that zero the ``sparsity`` fraction of smallest-magnitude weights.

    ``scope="layer"`` prunes that fraction of every layer; ``"global"`` ranks all weights
    together, so layers of larger weights keep more of them. Weights already zero rank
    lowest, so masks of increasing sparsity are nested.
    """
    return block_masks(model, sparsity, (1, 1), scope=scope)


def _block_view(w: np.ndarray, block: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-block sums of ``|w|`` and element counts (edge blocks may be partial)."""
    bh, bw = block
    rows, cols = w.shape
    grid = (math.ceil(rows / bh), math.ceil(cols / bw))
    padded = np.zeros((grid[0] * bh, grid[1] * bw), dtype=np.float64)
    padded[:rows, :cols] = np.abs(w)
    ones = np.zeros_like(padded)
    ones[:rows, :cols] = 1.0
    sums = padded.reshape(grid[0], bh, grid[1], bw).sum(axis=(1, 3))
    counts = ones.reshape(grid[0], bh, grid[1], bw).sum(axis=(1, 3))
    return sums, counts


def block_masks(model: MLP, sparsity: float, block=(1, 4), *, scope: str = "layer"
                ) -> list[np.ndarray]:
    """Keep-masks that zero whole ``block``-shaped tiles, lowest mean ``|w|`` first, until at
    least ``sparsity`` of the weights (of each layer, or of all with ``scope="global"``) are
    zero. Edge tiles may be smaller."""
    sparsity = check_sparsity(sparsity)
    bh, bw = check_block(block)
    if scope not in SCOPES:
        raise ModelError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    views = [_block_view(w, (bh, bw)) for w in model.weights]
    keeps = [None] * len(views)
    if scope == "layer":
        for i in range(len(views)):
            target = _prune_count(views[i][1].sum(), sparsity)
            keeps[i] = _keep_lowest_pruned(views, [i], target)[0]
    else:
        # ranked together, except that no layer may lose more than `cap` of its weights (a
        # layer pruned away entirely would cut the network): capped layers are pruned to the
        # cap on their own and the rest of the target is shared by the others
        cap = 1 - (1 - sparsity) / 4
        free, target = list(range(len(views))), _prune_count(
            sum(w.size for w in model.weights), sparsity)
        while free:
            keep = _keep_lowest_pruned(views, free, target)
            over = [i for i, k in zip(free, keep, strict=True)
                    if _pruned_weights(views[i], k) > cap * views[i][1].sum()]
            if not over:
                for i, k in zip(free, keep, strict=True):
                    keeps[i] = k
                break
            for i in over:
                keeps[i] = _keep_lowest_pruned(views, [i],
                                               _prune_count(views[i][1].sum(), cap))[0]
                target -= _pruned_weights(views[i], keeps[i])
                free.remove(i)
    masks = []
    for w, keep in zip(model.weights, keeps, strict=True):
        full = np.repeat(np.repeat(keep, bh, axis=0), bw, axis=1)
        masks.append(full[:w.shape[0], :w.shape[1]].copy())
    return masks


def _pruned_weights(view, keep) -> int:
    return int(view[1][~keep].sum())


def _keep_lowest_pruned(views, layers, target: int):
    """Keep-arrays (block grid) of ``layers`` that prune their lowest-scoring blocks, ranked
    together, until at least ``target`` weights are pruned; one array per layer."""
    score = np.concatenate([(views[i][0] / views[i][1]).ravel() for i in layers])
    counts = np.concatenate([views[i][1].ravel() for i in layers])
    order = np.argsort(score, kind="stable")
    pruned = np.cumsum(counts[order])
    blocks = min(int(np.searchsorted(pruned, max(target, 0))) + 1, score.size) if target > 0 \
        else 0
    keep = np.ones(score.size, dtype=bool)
    keep[order[:blocks]] = False
    out, offset = [], 0
    for i in layers:
        size = views[i][0].size
        out.append(keep[offset:offset + size].reshape(views[i][0].shape))
        offset += size
    return out


def masks_for(method: str, model: MLP, sparsity: float, block=(1, 4), *, scope: str = "layer"
              ) -> list[np.ndarray]:
    """Masks of ``method`` (one of :data:`METHODS`) at ``sparsity``."""
    if method not in METHODS:
        raise ModelError(f"pruning method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "block":
        return block_masks(model, sparsity, block, scope=scope)
    return magnitude_masks(model, sparsity, scope=scope)


def apply_masks(model: MLP, masks) -> MLP:
    """A copy of ``model`` with the weights outside ``masks`` set to zero."""
    pruned = model.copy()
    for w, m in zip(pruned.weights, masks, strict=True):
        w *= m
    return pruned


def _relative_index_entries(mask: np.ndarray, index_bits: int) -> int:
    """Entries (nonzeros + padding) of a column-wise relative-index encoding of ``mask``.

    As in EIE: each nonzero stores the zeros skipped since the previous one in its column; a
    gap wider than ``2**index_bits - 1`` costs ``gap >> index_bits`` padding entries.
    """
    entries = 0
    for column in mask.T:
        rows = np.flatnonzero(column)
        if rows.size:
            gaps = np.diff(rows, prepend=-1) - 1
            entries += rows.size + int((gaps >> index_bits).sum())
    return entries


def index_storage(mask, block=(1, 4), *, index_bits: int = 4) -> dict:
    """Index storage of a pruned layer stored per weight (fine) vs per block (coarse), in bits.

    Both use a column-wise relative index of ``index_bits`` bits with padding entries (the
    engine's scheme), and for comparison an absolute row index. A fine-grained format needs one
    index per nonzero weight; a block format one per nonzero block (Mao et al. 2017). The block
    figures assume every nonzero block is stored whole.
    """
    mask = np.asarray(mask, dtype=bool)
    bh, bw = check_block(block)
    rows, cols = mask.shape
    sums, _ = _block_view(mask.astype(np.float64), (bh, bw))
    blocks = sums > 0
    fine_entries = _relative_index_entries(mask, index_bits)
    coarse_entries = _relative_index_entries(blocks, index_bits)
    nonzeros, nonzero_blocks = int(mask.sum()), int(blocks.sum())
    fine_bits = fine_entries * index_bits
    coarse_bits = coarse_entries * index_bits
    fine_abs = nonzeros * bits_for(rows - 1)
    coarse_abs = nonzero_blocks * bits_for(blocks.shape[0] - 1)
    return {
        "block": [bh, bw],
        "index_bits": index_bits,
        "nonzero_weights": nonzeros,
        "nonzero_blocks": nonzero_blocks,
        "stored_weights": nonzero_blocks * bh * bw,
        "fine_relative_index_bits": fine_bits,
        "coarse_relative_index_bits": coarse_bits,
        "relative_index_saving": 1 - coarse_bits / fine_bits if fine_bits else 0.0,
        "fine_absolute_index_bits": fine_abs,
        "coarse_absolute_index_bits": coarse_abs,
        "absolute_index_saving": 1 - coarse_abs / fine_abs if fine_abs else 0.0,
    }


def prune_schedule(model: MLP, train_data, dev_data, *, method: str = "magnitude",
                   sparsities=DEFAULT_SPARSITIES, finetune: TrainConfig | None = None,
                   entropy_coef: float = 0.0, block=(1, 4), scope: str = "layer",
                   teacher: MLP | None = None, gradual: int = 1, level_epochs=None,
                   progress: bool = True) -> list[dict]:
    """Iteratively prune ``model`` to each of ``sparsities`` (increasing), fine-tuning each.

    Parameters
    ----------
    model : MLP
        The trained dense (or less sparse) model; left unchanged.
    train_data, dev_data : tuple of numpy.ndarray
        ``(features, labels)`` for fine-tuning and for its early stopping.
    method : str
        ``"magnitude"``, ``"block"`` or ``"entropy"``.
    sparsities : sequence of float
        Increasing per-layer sparsities; 0 returns the model as it is.
    finetune : TrainConfig, optional
        Fine-tuning hyperparameters per level (default: one epoch); the entropy coefficient
        is taken from ``entropy_coef`` for the ``entropy`` method and is 0 otherwise.
    entropy_coef : float
        Weight of the entropy term for the ``entropy`` method (> 0 there).
    block : tuple of int
        Block shape for the ``block`` method.
    scope : str
        ``"layer"``: every layer reaches the sparsity; ``"global"``: all weights are ranked
        together and the sparsity is that of the whole model.
    teacher : MLP, optional
        Teacher of the fine-tuning when ``finetune.distill_weight`` > 0 (knowledge
        distillation); ``model`` itself (the dense model) when not given.
    gradual : int
        Pruning steps per level (1 to 64). 1 prunes to the level at once, then fine-tunes.
        More spread the pruning from the previous level over the first half of the level's
        fine-tuning on Zhu & Gupta's (2017) cubic schedule ``s_k = s + (s_prev - s)(1 -
        k/gradual)^3``: big cuts while many weights are redundant, small ones near the target,
        each followed by training before the next.
    level_epochs : sequence of float, optional
        Fine-tuning epochs of each level above 0, in the order of ``sparsities`` (each > 0 and
        at most 1000); ``finetune.epochs`` at every level when not given. The first cuts lose
        little (the dense model is redundant), the last ones much: the steps are better spent
        there.

    Returns
    -------
    list of dict
        Per sparsity: ``sparsity``, ``model`` (MLP), ``history`` (fine-tuning history or None),
        ``dev`` (dev metrics).
    """
    if method not in METHODS:
        raise ModelError(f"pruning method must be one of {', '.join(METHODS)}, not {method!r}")
    finetune = finetune or TrainConfig(epochs=1)
    levels = [check_sparsity(s) for s in sparsities]
    if levels != sorted(levels):
        raise ModelError(f"sparsities must be increasing, not {list(sparsities)}")
    if method == "entropy":
        if not (entropy_coef > 0 and math.isfinite(entropy_coef)):
            raise ModelError(f"the entropy method needs entropy_coef > 0, not {entropy_coef!r}")
        finetune = finetune.replace(entropy_coef=float(entropy_coef))
    else:
        finetune = finetune.replace(entropy_coef=0.0)
    block = check_block(block)
    if isinstance(gradual, bool) or not isinstance(gradual, int) or not 1 <= gradual <= 64:
        raise ModelError(f"gradual must be an int from 1 to 64 (pruning steps per level), not "
                         f"{gradual!r}")
    epochs = check_level_epochs(level_epochs, levels)
    if finetune.distill_weight and teacher is None:
        teacher = model
    # the sparsity the model starts from (it may be pruned already): where a gradual level
    # ramps from
    previous = model.total_sparsity() if scope == "global" else min(model.sparsity())
    results, current = [], model
    for level in levels:
        if level == 0:
            pruned, history = current.copy(), None
        else:
            tune = finetune if epochs is None else finetune.replace(epochs=epochs.pop(0))
            reprune = _gradual_steps(method, level, previous, gradual, block, scope,
                                     planned_steps(tune, len(train_data[1])))
            masks = masks_for(method, current, level if reprune is None else reprune[0][1],
                              block, scope=scope)
            pruned, history = train(apply_masks(current, masks), train_data, dev_data, tune,
                                    masks=masks, teacher=teacher, progress=progress,
                                    reprune=None if reprune is None else dict(reprune[1:]),
                                    desc=f"{method} {level:.0%}")
        if history:
            pruned.info["finetune"] = {"steps": history["steps"],
                                       "stopped_early": history["stopped_early"],
                                       "best_dev": history["best_dev"]}
        pruned.info.update({"pruning": method, "target_sparsity": level, "scope": scope,
                            "sparsity": pruned.sparsity(),
                            "total_sparsity": pruned.total_sparsity()})
        if method == "block":
            pruned.info["block"] = list(block)
        if method == "entropy":
            pruned.info["entropy_coef"] = float(entropy_coef)
        dev = history["best_dev"] if history else evaluate(pruned, *dev_data)
        results.append({"sparsity": level, "model": pruned, "history": history, "dev": dev})
        current, previous = pruned, level
    return results


def check_level_epochs(level_epochs, sparsities) -> list[float] | None:
    """Validate per-level fine-tuning epochs: None, or one number in (0, 1000] per sparsity
    above 0 of ``sparsities``; return them as a list of floats (or None)."""
    if level_epochs is None:
        return None
    count = sum(1 for s in sparsities if s > 0)
    try:
        values = list(level_epochs)
    except TypeError:
        raise ModelError(f"level_epochs must be a sequence of {count} numbers (one per sparsity "
                         f"above 0), not {level_epochs!r}") from None
    if len(values) != count or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and 0 < v <= 1000 for v in values):
        raise ModelError(f"level_epochs must be {count} numbers from above 0 to 1000 (one per "
                         f"sparsity above 0 of {list(sparsities)}), not {level_epochs!r}")
    return [float(v) for v in values]


def _gradual_steps(method, level, previous, gradual, block, scope, steps):
    """``[(step, sparsity or mask function)]`` of a gradual level: the first entry is the step 0
    sparsity, the others map fine-tuning steps to functions that prune the model then."""
    count = min(gradual, max(1, steps // 2))
    if count <= 1:
        return None
    ramp = steps // 2  # prune over the first half, fine-tune at the target in the second
    # cut k (0-based) at step k * ramp / (count - 1), to the cubic schedule's sparsity there
    targets = [level + (previous - level) * (1 - (k + 1) / count) ** 3 for k in range(count)]
    plan = [(0, targets[0])]
    for k in range(1, count):
        plan.append((k * ramp // (count - 1),
                     functools.partial(_masks_at, method, targets[k], block, scope)))
    return plan


def _masks_at(method, sparsity, block, scope, model):
    return masks_for(method, model, sparsity, block, scope=scope)
