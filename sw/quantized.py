"""The acoustic model as the engine runs it: 4-bit shared weights, fixed point, per-PE layers.

:func:`quantize_model` shares every layer's nonzero weights with k-means (15 values + zero),
rounds the codebooks and biases to the engine's fixed point and encodes each layer in the EIE
per-PE format. Two forward passes use exactly the engine's arithmetic:

- :func:`golden_forward` runs one frame through :func:`sw.golden.spmv.golden_spmv` layer by
  layer and through :func:`sw.golden.cost.golden_costs` at the end — the reference;
- :func:`fast_forward` does the same integer arithmetic for a whole utterance at once. The
  products are at most ``act_width + codebook_width`` bits and a row sums at most ``cols`` of
  them, so when that bound is below 2**53 a float64 matrix product is exact (every partial sum
  is an integer a double holds exactly, in any order) and BLAS can do the work; otherwise it
  falls back to int64.

Per-layer power-of-two scaling: ReLU is positively homogeneous, so multiplying layer ``l``'s
weights by ``2**a[l]`` and its bias by ``2**c[l]`` (``c[l] = a[0] + ... + a[l]``) multiplies
its outputs by ``2**c[l]`` and changes nothing else. :func:`choose_exponents` picks ``a`` so
each codebook uses its fixed-point range while activations stay clear of saturation on
calibration frames; the final logits come out scaled by ``2**c[-1]``, which the fixed-point
acoustic scale undoes (``scale = acoustic_scale * 2**-c[-1]``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hw.config import ConfigError, CostConfig, SpMVConfig, config_from_dict, config_to_dict
from sw.csc import decode, encode, load_layer, save_layer, storage_report
from sw.golden.cost import golden_costs, scale_to_fixed
from sw.golden.spmv import golden_spmv
from sw.model import MLP, ModelConfig, ModelError, check_frames, entropy, log_softmax
from sw.share import fixed_point_codebook, shared_centroids

__all__ = [
    "EXPORT_FORMAT",
    "QuantizedModel",
    "choose_exponents",
    "evaluate_quantized",
    "export",
    "fast_forward",
    "layer_activations",
    "finetune_shared",
    "golden_forward",
    "load_export",
    "quantize_features",
    "quantize_model",
    "reencode",
    "share_weights",
    "float_model",
    "shared_float_model",
]

EXPORT_FORMAT = ("asrhw.model-export", 1)


@dataclass(frozen=True, eq=False)
class QuantizedModel:
    """Encoded layers plus everything needed to turn features into costs like the engine.

    Attributes
    ----------
    layers : tuple of EncodedLayer
        One per model layer; all but the last apply ReLU.
    spmv : SpMVConfig
        The engine the layers are encoded for.
    cost : CostConfig
        Format of the costs.
    acoustic_scale : float
        Scale of the float logits that the costs represent.
    scale : int
        The cost unit's fixed-point scale (``acoustic_scale * 2**-exponents_total``).
    exponents : tuple of int
        Per-layer power-of-two weight scaling ``a`` (see the module docstring).
    model_config : ModelConfig
        The float model's config (input size, pdfs).
    priors_folded : bool
        Whether the log-priors were subtracted in the last layer's bias.
    saturated : tuple of dict
        Per layer, how many codebook values and biases hit the fixed-point limits.
    """

    layers: tuple
    spmv: SpMVConfig
    cost: CostConfig
    acoustic_scale: float
    scale: int
    exponents: tuple
    model_config: ModelConfig
    priors_folded: bool = False
    saturated: tuple = ()

    def __post_init__(self):
        # integer weight matrices decoded once from the encoded layers (not from the float
        # model), so the fast path reads exactly what the engine stores
        object.__setattr__(self, "_dense", tuple(
            layer.codebook[decode(layer)] for layer in self.layers))

    @property
    def logit_exponent(self) -> int:
        """The last layer's outputs are the float logits times ``2**logit_exponent``."""
        return int(sum(self.exponents))

    def cost_kwargs(self) -> dict:
        """Arguments of :func:`sw.golden.cost.golden_costs` for this model."""
        return dict(scale=self.scale, act_frac=self.spmv.act_frac,
                    scale_frac=self.cost.scale_frac, cost_frac=self.cost.cost_frac,
                    cost_width=self.cost.cost_width)

    def output_logits(self, y: np.ndarray) -> np.ndarray:
        """Float logits represented by last-layer engine outputs ``y``."""
        return np.asarray(y, dtype=np.float64) / 2.0 ** (self.spmv.act_frac
                                                         + self.logit_exponent)


def quantize_features(features, config: SpMVConfig, *, input_dim: int | None = None
                      ) -> np.ndarray:
    """Float features to the engine's activation fixed point (round to nearest, saturate)."""
    x, _ = check_frames(features, input_dim=input_dim or np.shape(features)[-1])
    lo, hi = config.act_range
    return np.clip(np.round(x.astype(np.float64) * (1 << config.act_frac)), lo, hi
                   ).astype(np.int64)


def _float_activations_peak(model: MLP, features: np.ndarray) -> list[float]:
    """Largest output of every layer over ``features``: after ReLU for hidden layers; for the
    last, the largest logit — very negative logits may saturate, as their costs saturate
    anyway, but the best-scoring pdfs must not."""
    peaks = [0.0] * model.num_layers
    for start in range(0, len(features), 8192):
        h = np.asarray(features[start:start + 8192], dtype=np.float32)
        for index, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
            h = h @ w.T + b
            if index < model.num_layers - 1:
                h = np.maximum(h, 0.0)
            peaks[index] = max(peaks[index], float(h.max()))
    return peaks


def choose_exponents(model: MLP, config: SpMVConfig, calibration=None, *,
                     headroom: float = 0.75, max_total: int | None = None) -> tuple[int, ...]:
    """Per-layer power-of-two weight scaling that uses each codebook's fixed-point range.

    Layer ``l`` would fill its codebook with exponent ``d[l]`` (largest weight just below the
    codebook maximum); each bit below that costs one bit of weight resolution. Subject to the
    constraints — no codebook overflow (``a[l] <= d[l]``), every scaled layer output and bias
    within ``headroom`` of its range on the calibration frames, and ``sum(a) <= max_total`` —
    the exponents minimise the largest resolution loss of any layer, then the total loss.

    Parameters
    ----------
    model : MLP
        The (pruned) float model.
    config : SpMVConfig
        Engine fixed point.
    calibration : numpy.ndarray, optional
        Feature frames for the output peaks. Without it every exponent is 0 (no scaling).
    headroom : float
        Fraction of the activation and bias range the scaled peaks may use (0 < x <= 1).
    max_total : int, optional
        Upper bound of the logits' exponent (the sum of all exponents), so that the cost unit's
        fixed-point scale, which must undo it, keeps its precision.
    """
    if calibration is None:
        return (0,) * model.num_layers
    if not 0 < headroom <= 1:
        raise ModelError(f"headroom must be in (0, 1], not {headroom!r}")
    x, _ = check_frames(calibration, input_dim=model.config.input_dim,
                        name="calibration features")
    peaks = _float_activations_peak(model, x)
    book_hi = config.codebook_range[1] / (1 << config.codebook_frac)
    act_hi = headroom * config.act_range[1] / (1 << config.act_frac)
    bias_hi = headroom * config.bias_range[1] / (1 << config.act_frac)
    fill, ceiling = [], []  # d[l]; bound of the cumulative exponent c[l]
    for w, b, peak in zip(model.weights, model.biases, peaks, strict=True):
        largest = float(np.abs(w).max())
        fill.append(math.floor(math.log2(book_hi / largest)) if largest else 0)
        bound = 64
        if peak > 0:
            bound = min(bound, math.floor(math.log2(act_hi / peak)))
        biggest_bias = float(np.abs(b).max())
        if biggest_bias > 0:
            bound = min(bound, math.floor(math.log2(bias_hi / biggest_bias)))
        ceiling.append(bound)
    if max_total is not None:
        ceiling[-1] = min(ceiling[-1], max_total)
    candidates = _feasible_exponents(fill, ceiling)
    if not candidates:  # nothing within 6 bits of the fill: greedy, each layer as high as it can
        best, total = [], 0
        for d, bound in zip(fill, ceiling, strict=True):
            best.append(min(d, bound - total))
            total += best[-1]
        return tuple(int(a) for a in best)
    if len(candidates) == 1:
        return tuple(candidates[0])
    # the resolution count is only a proxy: pick the candidate whose simulated fixed point
    # disturbs the shared model's posteriors least on the calibration frames
    shared, _ = share_weights(model)
    sample = x[:: max(1, len(x) // 500)]
    reference = log_softmax(shared.forward(sample).astype(np.float64))
    scores = []
    for exponents in candidates:
        logp = log_softmax(_simulate_fixed_point(shared, exponents, config, sample))
        scores.append(float((np.exp(reference) * (reference - logp)).sum(axis=1).mean()))
    return tuple(int(a) for a in candidates[int(np.argmin(scores))])


def _feasible_exponents(fill, ceiling, span: int = 6, keep: int = 12) -> list:
    """Exponents ``a[l]`` in ``[d[l] - span, d[l]]`` within the ceilings: the ``keep`` best by
    (largest resolution loss, total loss), exhaustive for small models (else empty)."""
    import itertools

    if (span + 1) ** len(fill) > 200_000:
        return []
    found = []
    for loss in itertools.product(range(span + 1), repeat=len(fill)):
        exponents = [d - lost for d, lost in zip(fill, loss, strict=True)]
        cumulative = itertools.accumulate(exponents)
        if all(c <= bound for c, bound in zip(cumulative, ceiling, strict=True)):
            found.append(((max(loss), sum(loss), tuple(reversed(loss))), exponents))
    found.sort()
    if not found:
        return []
    worst = found[0][0][0] + 1  # at most one bit worse than the best in any layer
    return [e for key, e in found if key[0] <= worst][:keep]


def _simulate_fixed_point(model: MLP, exponents, config: SpMVConfig, x) -> np.ndarray:
    """Float imitation of the engine's arithmetic (for ranking scalings, not bit-exact)."""
    act_lo, act_hi = config.act_range
    book_lo, book_hi = config.codebook_range
    bias_lo, bias_hi = config.bias_range
    unit = float(1 << config.act_frac)
    h = np.clip(np.round(x.astype(np.float64) * unit), act_lo, act_hi) / unit
    total = 0
    for index, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        total += exponents[index]
        wscale = 2.0 ** (config.codebook_frac + exponents[index])
        weights = np.clip(np.round(w * wscale), book_lo, book_hi) / wscale
        scale = 2.0 ** (config.act_frac + total)
        bias = np.clip(np.round(b * scale), bias_lo, bias_hi)
        y = np.floor((h @ weights.T) * scale) + bias
        if index < model.num_layers - 1:
            y = np.maximum(y, 0)
        h = np.clip(y, act_lo, act_hi) / scale
    return h


def quantize_model(model: MLP, config: SpMVConfig, *, cost: CostConfig | None = None,
                   acoustic_scale: float = 0.1, exponents=None, calibration=None,
                   fold_priors: bool = False) -> QuantizedModel:
    """Share, round and encode every layer of ``model`` for the engine ``config``.

    Parameters
    ----------
    model : MLP
        The pruned float model.
    config : SpMVConfig
        Engine parameters (PEs, index width, fixed point, memory sizes).
    cost : CostConfig, optional
        Cost format of the last layer's conversion (default ``CostConfig()``).
    acoustic_scale : float
        Scale of the float logits in the costs (> 0).
    exponents : sequence of int, optional
        Per-layer power-of-two weight scaling; when omitted, the model's
        ``info["shared_exponents"]`` if it has them (a shared model), otherwise chosen by
        :func:`choose_exponents` from ``calibration``.
    calibration : numpy.ndarray, optional
        Feature frames for :func:`choose_exponents`.
    fold_priors : bool
        Subtract the model's log-priors from the last bias (scaled likelihoods).
    """
    if not isinstance(config, SpMVConfig):
        raise ModelError(f"config must be an SpMVConfig, not {config!r}")
    cost = cost or CostConfig()
    if exponents is None and len(model.info.get("shared_exponents", ())) == model.num_layers:
        # a model from shared_float_model: its values are exact only with its own scaling
        exponents = model.info["shared_exponents"]
    if exponents is None:
        # keep the fixed-point cost scale >= 8 (its rounding changes the scale by <= 1/16)
        max_total = math.floor(math.log2(acoustic_scale * (1 << cost.scale_frac) / 8))
        exponents = choose_exponents(model, config, calibration, max_total=max_total)
    exponents = tuple(int(e) for e in exponents)
    if len(exponents) != model.num_layers:
        raise ModelError(f"exponents must have {model.num_layers} values (one per layer), not "
                         f"{len(exponents)}")
    if fold_priors and model.log_priors is None:
        raise ModelError("fold_priors needs a model with log_priors (train it with labels)")
    layers, saturated, total = [], [], 0
    book_lo, book_hi = config.codebook_range
    for index, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        total += exponents[index]
        if not np.any(w):
            raise ModelError(f"layer {index} has no nonzero weight to encode")
        centroids = shared_centroids(w)
        scaled = centroids * 2.0 ** exponents[index]
        book = fixed_point_codebook(scaled, config)
        # nearest centroid in the float domain: the same assignment as sw.share.share_layer
        codes = np.where(w != 0, np.abs(w[..., None] - centroids).argmin(axis=-1) + 1, 0)
        bias = b.astype(np.float64)
        if fold_priors and index == model.num_layers - 1:
            bias = bias - model.log_priors
        lo, hi = config.bias_range
        rounded = np.round(bias * 2.0 ** (total + config.act_frac))
        fixed_bias = np.clip(rounded, lo, hi)
        exact_book = np.round(scaled * (1 << config.codebook_frac))
        saturated.append({
            "codebook": int(np.count_nonzero((exact_book < book_lo) | (exact_book > book_hi))),
            "bias": int(np.count_nonzero(rounded != fixed_bias))})
        layers.append(encode(codes, book, fixed_bias.astype(np.int64), config=config,
                             relu=index < model.num_layers - 1))
    scale = scale_to_fixed(acoustic_scale * 2.0 ** -total, cost.scale_frac, cost.scale_width)
    return QuantizedModel(layers=tuple(layers), spmv=config, cost=cost,
                          acoustic_scale=float(acoustic_scale), scale=scale,
                          exponents=exponents, model_config=model.config,
                          priors_folded=bool(fold_priors), saturated=tuple(saturated))


def share_weights(model: MLP) -> tuple[MLP, list[np.ndarray]]:
    """Every layer's nonzero weights replaced by the nearest of its (at most) 15 shared values
    (:func:`sw.share.shared_centroids`); also returns the codes (0 = zero, 1..15)."""
    shared, codes = model.copy(), []
    for w in shared.weights:
        if not np.any(w):
            codes.append(np.zeros(w.shape, dtype=np.int64))
            continue
        centroids = shared_centroids(w)
        code = np.where(w != 0, np.abs(w[..., None] - centroids).argmin(axis=-1) + 1, 0)
        w[...] = np.concatenate([[0.0], centroids])[code]
        codes.append(code)
    return shared, codes


def finetune_shared(model: MLP, train_data, dev_data, config, *, progress: bool = True
                    ) -> tuple[MLP, dict]:
    """Share every layer (k-means, 15 values + zero), then fine-tune the shared values and the
    biases with the codes fixed (:func:`sw.train.train` with ``tied``). The result has at most
    15 distinct nonzero values per layer, which :func:`quantize_model` keeps as its codebook."""
    from sw.train import train

    shared, codes = share_weights(model)
    tuned, history = train(shared, train_data, dev_data, config, tied=codes, progress=progress,
                           desc="share")
    tuned.info["shared_finetune"] = {"steps": history["steps"], "best_dev": history["best_dev"]}
    return tuned, history


def float_model(quantized: QuantizedModel) -> MLP:
    """The engine's layers as a float MLP: the shared weights and fixed-point biases the
    engine stores, in float arithmetic; its outputs are logits (log-priors stay in the last
    bias if they were folded there)."""
    weights, biases, total = [], [], 0
    frac, act_frac = quantized.spmv.codebook_frac, quantized.spmv.act_frac
    for layer, exponent in zip(quantized.layers, quantized.exponents, strict=True):
        total += exponent
        values = layer.codebook[decode(layer)].astype(np.float64)
        weights.append(values / 2.0 ** (frac + exponent))
        biases.append(layer.bias / 2.0 ** (act_frac + total))
    return MLP(quantized.model_config, weights, biases)


def shared_float_model(model: MLP, quantized: QuantizedModel) -> MLP:
    """The float model with the engine's shared, fixed-point weights and biases (float
    arithmetic): isolates the cost of weight sharing from that of fixed-point activations.

    Its ``info["shared_exponents"]`` records the scaling, which :func:`quantize_model` reuses
    so that quantizing it again reproduces ``quantized`` exactly."""
    layers = float_model(quantized)
    info = {**model.info, "shared_exponents": list(quantized.exponents)}
    shared = MLP(model.config, layers.weights, layers.biases, log_priors=model.log_priors,
                 info=info)
    if quantized.priors_folded:
        shared.biases[-1] += model.log_priors
    return shared


def golden_forward(quantized: QuantizedModel, frame) -> tuple[np.ndarray, np.ndarray]:
    """One quantized frame ``int64[input_dim]`` through the golden engine: last-layer outputs
    and costs (both ``int64[num_pdfs]``)."""
    h = np.asarray(frame)
    for layer in quantized.layers:
        h = golden_spmv(layer, h, quantized.spmv)
    return h, golden_costs(h, **quantized.cost_kwargs())


def _exact_in_float64(dense: np.ndarray, config: SpMVConfig) -> bool:
    largest_weight = int(np.abs(dense).max(initial=0))
    largest_act = 1 << (config.act_width - 1)
    return largest_weight * largest_act * dense.shape[1] < (1 << 53)


def fast_forward(quantized: QuantizedModel, frames) -> tuple[np.ndarray, np.ndarray]:
    """Quantized frames ``int64[T, input_dim]`` through the engine's arithmetic at once:
    last-layer outputs and costs (``int64[T, num_pdfs]``), equal to :func:`golden_forward`
    frame by frame."""
    h = layer_activations(quantized, frames)[-1]
    return h, golden_costs(h, **quantized.cost_kwargs())


def layer_activations(quantized: QuantizedModel, frames) -> list[np.ndarray]:
    """Every layer's input for quantized frames ``int64[T, input_dim]``, then the last layer's
    outputs: ``len(layers) + 1`` arrays ``int64[T, width]``, the engine's arithmetic (what
    :func:`fast_forward` computes, kept layer by layer)."""
    config = quantized.spmv
    h = np.asarray(frames)
    if h.ndim != 2 or h.shape[1] != quantized.layers[0].cols or h.dtype.kind not in "iu":
        raise ModelError(f"frames must be integers of shape (T, {quantized.layers[0].cols}), "
                         f"not {h.dtype} {h.shape}")
    lo, hi = config.act_range
    if h.size and (h.min() < lo or h.max() > hi):
        raise ModelError(f"frames must be within the activation range [{lo}, {hi}]")
    h = h.astype(np.int64)
    activations = [h]
    for layer, dense in zip(quantized.layers, quantized._dense, strict=True):
        if _exact_in_float64(dense, config):
            acc = np.rint(h.astype(np.float64) @ dense.T.astype(np.float64)).astype(np.int64)
        else:
            acc = h @ dense.T
        h = (acc >> config.codebook_frac) + layer.bias
        if layer.relu:
            h = np.maximum(h, 0)
        h = np.clip(h, lo, hi)
        activations.append(h)
    return activations


def evaluate_quantized(quantized: QuantizedModel, features, labels, *, batch: int = 8192
                       ) -> dict:
    """Frame accuracy and mean entropy of the engine's outputs (entropy of the softmax of the
    logits the fixed-point outputs represent)."""
    x, y = check_frames(features, labels, input_dim=quantized.model_config.input_dim,
                        num_pdfs=quantized.model_config.num_pdfs)
    correct, ent = 0, 0.0
    for start in range(0, len(x), batch):
        out, _ = fast_forward(quantized, quantize_features(x[start:start + batch],
                                                           quantized.spmv))
        correct += int(np.count_nonzero(out.argmax(axis=1) == y[start:start + batch]))
        ent += float(entropy(quantized.output_logits(out)).sum())
    return {"frame_accuracy": correct / len(x), "mean_entropy": ent / len(x)}


def export(model: MLP, config: SpMVConfig, out_dir, *, cost: CostConfig | None = None,
           acoustic_scale: float = 0.1, calibration=None, exponents=None,
           fold_priors: bool = False, quantized: QuantizedModel | None = None) -> dict:
    """Write every layer of ``model`` in the engine's per-PE format plus ``manifest.json``.

    Files: ``layer_<i>.npz`` (:func:`sw.csc.save_layer`) and ``manifest.json`` (format
    ``asrhw.model-export`` v1: engine and cost configs, the fixed-point acoustic scale of the
    cost conversion, per-layer exponents, shapes, storage). Returns the manifest. Pass
    ``quantized`` to export an already quantized model as it is.
    """
    if quantized is None:
        quantized = quantize_model(model, config, cost=cost, acoustic_scale=acoustic_scale,
                                   exponents=exponents, calibration=calibration,
                                   fold_priors=fold_priors)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = []
    for index, layer in enumerate(quantized.layers):
        name = f"layer_{index}.npz"
        save_layer(out_dir / name, layer)
        layers.append({"file": name, "rows": layer.rows, "cols": layer.cols,
                       "relu": layer.relu, "exponent": quantized.exponents[index],
                       "max_entries_per_pe": int(layer.entry_counts.max()),
                       "storage": storage_report(layer, config=quantized.spmv)})
    manifest = {
        "format": EXPORT_FORMAT[0], "version": EXPORT_FORMAT[1],
        "model_config": quantized.model_config.to_dict(),
        "spmv_config": config_to_dict(quantized.spmv),
        "cost_config": config_to_dict(quantized.cost),
        "acoustic_scale": quantized.acoustic_scale,
        "cost_scale": quantized.scale,
        "logit_exponent": quantized.logit_exponent,
        "priors_folded": quantized.priors_folded,
        "input": {"act_frac": quantized.spmv.act_frac, "rounding": "nearest, saturate"},
        "cost_conversion": "cost = min(((max(y) - y) * cost_scale) >> (act_frac + scale_frac "
                           "- cost_frac), 2**cost_width - 1)",
        "sparsity": model.sparsity() if model is not None else None,
        "saturated": list(quantized.saturated),
        "layers": layers,
        "total_entries": int(sum(int(layer.entry_counts.sum()) for layer in quantized.layers)),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_export(out_dir, *, config: SpMVConfig | None = None) -> QuantizedModel:
    """Read a directory written by :func:`export`; refuse one made for another engine."""
    out_dir = Path(out_dir)
    path = out_dir / "manifest.json"
    if not path.is_file():
        raise ModelError(f"{out_dir} has no manifest.json (not an exported model)")
    manifest = json.loads(path.read_text())
    if (manifest.get("format"), manifest.get("version")) != EXPORT_FORMAT:
        raise ModelError(f"{path} is format {manifest.get('format')!r} version "
                         f"{manifest.get('version')!r}; expected {EXPORT_FORMAT[0]!r} version "
                         f"{EXPORT_FORMAT[1]}")
    try:
        spmv = config_from_dict(manifest["spmv_config"])
        cost = config_from_dict(manifest["cost_config"])
    except ConfigError as error:
        raise ModelError(f"{path}: {error}") from None
    if config is not None and config != spmv:
        diffs = [f"{k}={getattr(spmv, k)!r} (engine has {getattr(config, k)!r})"
                 for k in config_to_dict(config) if k != "class"
                 and getattr(spmv, k) != getattr(config, k)]
        raise ModelError(f"{out_dir} was exported for another engine: {', '.join(diffs)}")
    layers = tuple(load_layer(out_dir / entry["file"], config=spmv)
                   for entry in manifest["layers"])
    return QuantizedModel(layers=layers, spmv=spmv, cost=cost,
                          acoustic_scale=float(manifest["acoustic_scale"]),
                          scale=int(manifest["cost_scale"]),
                          exponents=tuple(e["exponent"] for e in manifest["layers"]),
                          model_config=ModelConfig.from_dict(manifest["model_config"]),
                          priors_folded=bool(manifest["priors_folded"]))


def reencode(quantized: QuantizedModel, pes: int, *, index_bits: int | None = None
             ) -> QuantizedModel:
    """The same model encoded for an engine with ``pes`` processing elements (and
    ``index_bits``-bit relative row indices, when given).

    The codes, codebooks, biases and exponents stay as they are, so every output is the same
    bit for bit; only how the rows are interleaved over the PEs (and the padding that needs)
    changes. The PE count and the index width are choices of the board, not of the model: an
    export made for one engine runs on a wider one this way.
    """
    what = f"{pes} PEs"
    if index_bits is None:
        index_bits = quantized.spmv.index_bits
    else:
        what += f" and {index_bits}-bit row indices"
    try:
        spmv = replace(quantized.spmv, pes=pes, index_bits=index_bits)
    except ConfigError as error:
        raise ModelError(f"cannot re-encode for {what}: {error}") from None
    if spmv == quantized.spmv:
        return quantized
    layers = tuple(encode(decode(layer), layer.codebook, layer.bias, config=spmv,
                          relu=layer.relu) for layer in quantized.layers)
    return replace(quantized, layers=layers, spmv=spmv)
