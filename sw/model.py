"""The acoustic model: a NumPy multilayer perceptron from spliced features to pdf posteriors.

Layer ``l`` computes ``h = W[l] @ x + b[l]`` with ``W[l]`` of shape (outputs, inputs) — the
engine's orientation, so a weight matrix goes to :func:`sw.csc.encode` as it is. Hidden layers
apply ReLU; the last layer's outputs are logits whose softmax is the pdf posterior. Everything
is float32. A saved model is an ``.npz`` with a ``format`` name and version and the
:class:`ModelConfig` it was built for; :func:`load_model` refuses any other format and, when
asked, any other config, naming what differs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "MODEL_FORMAT",
    "MLP",
    "ModelConfig",
    "ModelError",
    "check_frames",
    "entropy",
    "entropy_of_log_probs",
    "load_model",
    "log_softmax",
    "save_model",
    "softmax",
]

MODEL_FORMAT = ("asrhw.mlp", 1)


class ModelError(ValueError):
    """A model, model file or its input data is not valid; the message says what and why."""


def _check_positive_int(name: str, value, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise ModelError(f"ModelConfig.{name} must be an int from 1 to {hi}, not {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the acoustic model and of the features it expects.

    Parameters
    ----------
    num_pdfs : int
        Outputs: one per HMM state (pdf) of the lexicon (1 to 65536).
    hidden : tuple of int
        Width of each hidden ReLU layer (each 1 to 65536; may be empty).
    feature_bins : int
        Filterbank bins per frame (1 to 1024).
    context : int
        Frames spliced on each side (0 to 50); the input has
        ``feature_bins * (2 * context + 1)`` values.
    """

    num_pdfs: int
    hidden: tuple = (256, 256)
    feature_bins: int = 40
    context: int = 5

    def __post_init__(self):
        _check_positive_int("num_pdfs", self.num_pdfs, 65536)
        if not isinstance(self.hidden, tuple):
            raise ModelError(f"ModelConfig.hidden must be a tuple of ints, not {self.hidden!r}")
        for width in self.hidden:
            _check_positive_int("hidden", width, 65536)
        _check_positive_int("feature_bins", self.feature_bins, 1024)
        if (isinstance(self.context, bool) or not isinstance(self.context, int)
                or not 0 <= self.context <= 50):
            raise ModelError(f"ModelConfig.context must be an int from 0 to 50, not "
                             f"{self.context!r}")

    @property
    def input_dim(self) -> int:
        """Values per spliced input frame."""
        return self.feature_bins * (2 * self.context + 1)

    @property
    def layer_sizes(self) -> tuple:
        """``(input_dim, *hidden, num_pdfs)``."""
        return (self.input_dim, *self.hidden, self.num_pdfs)

    def to_dict(self) -> dict:
        """JSON-able form; :meth:`from_dict` inverts it."""
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Rebuild from :meth:`to_dict`, refusing unknown fields."""
        known = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) - known:
            extra = sorted(set(data) - known) if isinstance(data, dict) else data
            raise ModelError(f"model config has unknown field(s) {extra}")
        data = dict(data)
        if "hidden" in data:
            data["hidden"] = tuple(data["hidden"])
        return cls(**data)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def entropy(logits: np.ndarray) -> np.ndarray:
    """Entropy in nats of the softmax of each row of ``logits``."""
    return entropy_of_log_probs(log_softmax(logits.astype(np.float64)))


def entropy_of_log_probs(logp: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of log-probabilities ``logp``."""
    return -(np.exp(logp) * logp).sum(axis=-1)


def check_frames(features, labels=None, *, input_dim: int, num_pdfs: int | None = None,
                 name: str = "features") -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a frame matrix (and labels) for a model; return float32 / int64 copies.

    Raises :class:`ModelError` naming the first bad frame.
    """
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[1] != input_dim:
        raise ModelError(f"{name} must have shape (frames, {input_dim}), not {x.shape}")
    if x.shape[0] == 0:
        raise ModelError(f"{name} hold no frames")
    if x.dtype.kind not in "fiu":
        raise ModelError(f"{name} must be numeric, not dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise ModelError(f"{name} contain NaN or infinite values ({int((~finite).sum())} "
                         f"frames, first at frame {first})")
    if labels is None:
        return x, None
    y = np.asarray(labels)
    if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
        raise ModelError(f"labels must be {x.shape[0]} integers (one per frame), not "
                         f"{y.dtype} of shape {y.shape}")
    y = y.astype(np.int64)
    if num_pdfs is not None and (y.min() < 0 or y.max() >= num_pdfs):
        bad = int(y[(y < 0) | (y >= num_pdfs)][0])
        raise ModelError(f"label {bad} is outside the model's pdfs 0..{num_pdfs - 1}")
    return x, y


class MLP:
    """Feed-forward acoustic model: ReLU hidden layers, softmax output.

    Parameters
    ----------
    config : ModelConfig
        Layer sizes and feature shape.
    weights, biases : list of numpy.ndarray
        ``float32[out, in]`` and ``float32[out]`` per layer.
    log_priors : numpy.ndarray, optional
        ``float32[num_pdfs]`` log of the pdf frequencies in the training labels, kept so a
        decoder can turn posteriors into scaled likelihoods.
    info : dict, optional
        JSON-able notes (training history, pruning method, sparsity) saved with the model.
    """

    def __init__(self, config: ModelConfig, weights, biases, *, log_priors=None, info=None):
        if not isinstance(config, ModelConfig):
            raise ModelError(f"config must be a ModelConfig, not {config!r}")
        sizes = config.layer_sizes
        if len(weights) != len(sizes) - 1 or len(biases) != len(sizes) - 1:
            raise ModelError(f"the config has {len(sizes) - 1} layers; got {len(weights)} "
                             f"weight matrices and {len(biases)} bias vectors")
        self.config = config
        self.weights = []
        self.biases = []
        for index, (w, b) in enumerate(zip(weights, biases, strict=True)):
            shape = (sizes[index + 1], sizes[index])
            w = np.asarray(w, dtype=np.float32)
            b = np.asarray(b, dtype=np.float32)
            if w.shape != shape or b.shape != shape[:1]:
                raise ModelError(f"layer {index} must have weights {shape} and bias "
                                 f"({shape[0]},), not {w.shape} and {b.shape}")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ModelError(f"layer {index} has NaN or infinite weights")
            self.weights.append(w.copy())
            self.biases.append(b.copy())
        if log_priors is not None:
            log_priors = np.asarray(log_priors, dtype=np.float32)
            if log_priors.shape != (config.num_pdfs,):
                raise ModelError(f"log_priors must have {config.num_pdfs} values, not "
                                 f"{log_priors.shape}")
        self.log_priors = log_priors
        self.info = dict(info or {})

    @classmethod
    def initialize(cls, config: ModelConfig, *, seed: int = 0) -> MLP:
        """He-initialised weights (suited to ReLU), zero biases, deterministic from ``seed``."""
        rng = np.random.default_rng(seed)
        sizes = config.layer_sizes
        weights = [rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in)).astype(np.float32)
                   for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
        biases = [np.zeros(n_out, dtype=np.float32) for n_out in sizes[1:]]
        return cls(config, weights, biases)

    @property
    def num_layers(self) -> int:
        """Weight layers (hidden + output)."""
        return len(self.weights)

    def copy(self) -> MLP:
        """An independent copy (weights, biases, priors, info)."""
        return MLP(self.config, self.weights, self.biases, log_priors=self.log_priors,
                   info=json.loads(json.dumps(self.info)))

    def masks(self) -> list[np.ndarray]:
        """Boolean masks of the nonzero weights, per layer."""
        return [w != 0 for w in self.weights]

    def sparsity(self) -> list[float]:
        """Fraction of zero weights, per layer."""
        return [float(1.0 - np.count_nonzero(w) / w.size) for w in self.weights]

    def total_sparsity(self) -> float:
        """Fraction of zero weights over all layers."""
        zeros = sum(w.size - np.count_nonzero(w) for w in self.weights)
        return float(zeros / sum(w.size for w in self.weights))

    def forward(self, x: np.ndarray, *, keep: bool = False, dropout: float = 0.0,
                rng: np.random.Generator | None = None):
        """Logits for frames ``x[N, input_dim]``.

        With ``keep=True`` also returns the list of each layer's input (for backpropagation).
        ``dropout`` (training only, with ``rng``) zeroes each hidden output with that
        probability and scales the rest by ``1 / (1 - dropout)``.
        """
        if dropout and rng is None:
            raise ModelError("dropout needs a random generator (rng)")
        keep_scale = np.float32(1.0 / (1.0 - dropout))
        h = np.asarray(x, dtype=np.float32)
        inputs = []
        for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            inputs.append(h)
            h = h @ w.T + b
            if index < self.num_layers - 1:
                h = np.maximum(h, 0.0)
                if dropout:
                    h *= (rng.random(h.shape, dtype=np.float32) >= dropout) * keep_scale
        return (h, inputs) if keep else h

    def logits(self, x: np.ndarray, *, batch: int = 8192) -> np.ndarray:
        """Logits of many frames, computed in batches to bound memory."""
        x = np.asarray(x)
        return np.concatenate([self.forward(x[i:i + batch]) for i in range(0, len(x), batch)])

    def posteriors(self, x: np.ndarray) -> np.ndarray:
        """Softmax outputs ``float32[N, num_pdfs]``."""
        return softmax(self.logits(x))


def save_model(path, model: MLP) -> None:
    """Write ``model`` to an ``.npz`` file (no pickles)."""
    arrays = {}
    for index, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        arrays[f"weight_{index}"] = w
        arrays[f"bias_{index}"] = b
    if model.log_priors is not None:
        arrays["log_priors"] = model.log_priors
    np.savez(path, format=np.array(MODEL_FORMAT[0]), version=np.array(MODEL_FORMAT[1]),
             config=np.array(json.dumps(model.config.to_dict())),
             info=np.array(json.dumps(model.info)), **arrays)


def _config_difference(found: ModelConfig, expected: ModelConfig) -> str:
    diffs = []
    for field in dataclasses.fields(ModelConfig):
        a, b = getattr(found, field.name), getattr(expected, field.name)
        if a != b:
            diffs.append(f"{field.name}={a!r} (expected {b!r})")
    return ", ".join(diffs)


def load_model(path, *, expect: ModelConfig | None = None) -> MLP:
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.
    expect : ModelConfig, optional
        Refuse a model built for any other config (the message lists the fields that differ).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ModelError(f"{path} is not an .npz model file ({error})") from None
    with data:
        name = str(data["format"]) if "format" in data else None
        version = int(data["version"]) if "version" in data else None
        if name != MODEL_FORMAT[0]:
            raise ModelError(f"{path} is not an asrhw model file (format {name!r}); expected "
                             f"{MODEL_FORMAT[0]!r}")
        if version != MODEL_FORMAT[1]:
            raise ModelError(f"{path} is model format version {version}; this asrhw reads "
                             f"version {MODEL_FORMAT[1]}")
        config = ModelConfig.from_dict(json.loads(str(data["config"])))
        if expect is not None and config != expect:
            raise ModelError(f"{path} holds a model of another config: "
                             f"{_config_difference(config, expect)}")
        layers = len(config.layer_sizes) - 1
        try:
            weights = [data[f"weight_{i}"] for i in range(layers)]
            biases = [data[f"bias_{i}"] for i in range(layers)]
        except KeyError as error:
            raise ModelError(f"{path} lacks array {error} that its config needs") from None
        priors = data["log_priors"] if "log_priors" in data else None
        info = json.loads(str(data["info"])) if "info" in data else {}
    return MLP(config, weights, biases, log_priors=priors, info=info)
