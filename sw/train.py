"""Training of the acoustic model: minibatch Adam on frame cross-entropy, early stopping on dev.

The loss is ``mean cross-entropy + entropy_coef * mean entropy of the softmax output``; the
second term (zero by default) is the regulariser that keeps the posteriors of a pruned model
peaked (Gao et al., KDD 2020). Its gradient with respect to the logits ``z`` of a frame is
``-p * (log p + H)`` with ``p = softmax(z)`` and ``H`` the frame's entropy.

Knowledge distillation (Hinton et al. 2015, temperature 1): with a ``teacher`` model and
``distill_weight`` = a, the cross-entropy target of a frame is ``(1 - a) * onehot(label) +
a * softmax(teacher(x))``. Pruned models are fine-tuned this way with the dense model as the
teacher: its posteriors carry which states are confusable, far more information per frame than
the label, so the pruned model recovers in fewer steps.

Learning rate: ``lr_schedule="plateau"`` keeps the step size until a dev evaluation does not
improve, then multiplies it by ``lr_decay``; ``"cosine"`` also anneals it over the run to
``min_lr_fraction`` of the start (Loshchilov & Hutter 2017), which settles the weights into a
better minimum than a constant step. ``dropout`` zeroes that fraction of every hidden unit's
outputs in training (inverted dropout; none at evaluation).

Pruned models are fine-tuned with fixed masks: gradients of pruned weights are zeroed and the
weights are multiplied by the mask after every step, so a pruned weight stays exactly zero.
The run is deterministic for a given seed (shuffling and subsampling use one generator).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
from dataclasses import asdict, dataclass

import numpy as np

from sw.model import MLP, ModelError, check_frames, entropy_of_log_probs, log_softmax, softmax

__all__ = ["LR_SCHEDULES", "TrainConfig", "blas_threads", "evaluate", "label_log_priors",
           "loss_and_gradients", "planned_steps", "train"]

LR_SCHEDULES = ("plateau", "cosine")

_BLAS_SYMBOLS = (  # (set, get) in the OpenBLAS builds NumPy wheels ship
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


@functools.cache
def _openblas():
    """``(set, get)`` thread-count functions of the OpenBLAS NumPy loaded, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _BLAS_SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                return getattr(lib, set_name), getattr(lib, get_name)
    return None


@contextlib.contextmanager
def blas_threads(count: int | None):
    """Run the body with OpenBLAS limited to ``count`` threads (no-op if None or not found).

    The minibatch products are small: on a shared 2-core machine (or under pytest-xdist)
    OpenBLAS's waiting threads compete with the other processes and a training step became
    ~40x slower than with one thread; one thread per process is the robust choice.
    """
    functions = _openblas() if count else None
    if functions is None:
        yield
        return
    set_threads, get_threads = functions
    previous = int(get_threads())
    set_threads(int(count))
    try:
        yield
    finally:
        set_threads(previous)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training or fine-tuning run.

    Parameters
    ----------
    learning_rate : float
        Adam step size (> 0).
    batch_size : int
        Frames per minibatch (1 to 65536).
    epochs : float
        Most passes over ``frames_per_epoch`` frames (> 0; fractions allowed).
    frames_per_epoch : int or None
        Frames drawn (without replacement) per epoch; all training frames when None.
    evals_per_epoch : int
        Dev evaluations per epoch (1 to 100).
    patience : int
        Consecutive dev evaluations without improvement that stop the run (1 to 100); each
        one also multiplies the learning rate by ``lr_decay``.
    lr_decay : float
        Learning-rate factor after a dev evaluation without improvement (0 < x <= 1).
    entropy_coef : float
        Weight of the mean output entropy in the loss (>= 0).
    weight_decay : float
        L2 penalty on the weights (>= 0), added to the gradient.
    dev_frames : int or None
        Dev frames used for early stopping (a fixed random subset); all when None.
    distill_weight : float
        Fraction of the target taken from a teacher's posteriors (0 to 1; > 0 needs
        ``teacher`` in :func:`train`).
    distill_temperature : float
        Temperature T of the distillation term (1 to 20): teacher and model posteriors are
        both taken of the logits / T and the term is weighted by T^2 (Hinton et al. 2015), so
        T > 1 also passes on how the teacher ranks the unlikely states.
    lr_schedule : str
        ``"plateau"`` (step size only cut on a dev evaluation without improvement) or
        ``"cosine"`` (annealed over the run as well).
    min_lr_fraction : float
        Final step size of the cosine schedule as a fraction of the first (0 to 1).
    dropout : float
        Fraction of hidden-unit outputs zeroed per training frame (0 to below 1).
    seed : int
        Seed of the shuffling generator.
    blas_threads : int or None
        OpenBLAS threads during the run (see :func:`blas_threads`); None leaves it as it is.
    """

    learning_rate: float = 1e-3
    batch_size: int = 256
    epochs: float = 10.0
    frames_per_epoch: int | None = None
    evals_per_epoch: int = 2
    patience: int = 4
    lr_decay: float = 0.5
    entropy_coef: float = 0.0
    weight_decay: float = 0.0
    dev_frames: int | None = 50_000
    distill_weight: float = 0.0
    distill_temperature: float = 1.0
    lr_schedule: str = "plateau"
    min_lr_fraction: float = 0.0
    dropout: float = 0.0
    seed: int = 0
    blas_threads: int | None = 1

    def __post_init__(self):
        def fail(name, rule):
            raise ModelError(f"TrainConfig.{name} must be {rule}, not {getattr(self, name)!r}")

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            fail("learning_rate", "a finite number > 0")
        if not (is_int(self.batch_size) and 1 <= self.batch_size <= 65536):
            fail("batch_size", "an int from 1 to 65536")
        if not (self.epochs > 0 and math.isfinite(self.epochs)):
            fail("epochs", "a finite number > 0")
        if self.frames_per_epoch is not None and not (
                is_int(self.frames_per_epoch) and self.frames_per_epoch >= 1):
            fail("frames_per_epoch", "None or an int >= 1")
        if not (is_int(self.evals_per_epoch) and 1 <= self.evals_per_epoch <= 100):
            fail("evals_per_epoch", "an int from 1 to 100")
        if not (is_int(self.patience) and 1 <= self.patience <= 100):
            fail("patience", "an int from 1 to 100")
        if not 0 < self.lr_decay <= 1:
            fail("lr_decay", "in (0, 1]")
        if not (self.entropy_coef >= 0 and math.isfinite(self.entropy_coef)):
            fail("entropy_coef", "a finite number >= 0")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            fail("weight_decay", "a finite number >= 0")
        if self.dev_frames is not None and not (is_int(self.dev_frames) and self.dev_frames >= 1):
            fail("dev_frames", "None or an int >= 1")
        if not (isinstance(self.distill_weight, (int, float))
                and not isinstance(self.distill_weight, bool)
                and 0 <= self.distill_weight <= 1):
            fail("distill_weight", "a number from 0 to 1")
        if not (isinstance(self.distill_temperature, (int, float))
                and not isinstance(self.distill_temperature, bool)
                and 1 <= self.distill_temperature <= 20):
            fail("distill_temperature", "a number from 1 to 20")
        if self.lr_schedule not in LR_SCHEDULES:
            fail("lr_schedule", f"one of {', '.join(LR_SCHEDULES)}")
        if not (isinstance(self.min_lr_fraction, (int, float))
                and not isinstance(self.min_lr_fraction, bool)
                and 0 <= self.min_lr_fraction <= 1):
            fail("min_lr_fraction", "a number from 0 to 1")
        if not (isinstance(self.dropout, (int, float)) and not isinstance(self.dropout, bool)
                and 0 <= self.dropout < 1):
            fail("dropout", "a number from 0 to below 1")
        if not is_int(self.seed):
            fail("seed", "an int")
        if self.blas_threads is not None and not (
                is_int(self.blas_threads) and 1 <= self.blas_threads <= 64):
            fail("blas_threads", "None or an int from 1 to 64")

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied (validated again)."""
        return TrainConfig(**{**asdict(self), **changes})


def label_log_priors(labels: np.ndarray, num_pdfs: int) -> np.ndarray:
    """Log relative frequency of each pdf in ``labels`` (add-one smoothed)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_pdfs) + 1.0
    return np.log(counts / counts.sum()).astype(np.float32)


def evaluate(model: MLP, features: np.ndarray, labels: np.ndarray, *, batch: int = 8192
             ) -> dict:
    """Frame accuracy, mean output entropy (nats) and mean cross-entropy on labelled frames."""
    correct, ent, xent = 0, 0.0, 0.0
    for start in range(0, len(features), batch):
        z = model.forward(features[start:start + batch])
        y = labels[start:start + batch]
        correct += int(np.count_nonzero(z.argmax(axis=1) == y))
        # one float64 log-softmax serves both the entropy and the cross-entropy: a second
        # one was a third of the time of every evaluation
        logp = log_softmax(z.astype(np.float64))
        ent += float(entropy_of_log_probs(logp).sum())
        xent -= float(logp[np.arange(len(y)), y].sum())
    n = len(features)
    return {"frame_accuracy": correct / n, "mean_entropy": ent / n, "cross_entropy": xent / n}


def loss_and_gradients(model: MLP, x: np.ndarray, y: np.ndarray, *, entropy_coef: float = 0.0,
                       soft_targets: np.ndarray | None = None, distill_weight: float = 0.0,
                       temperature: float = 1.0, dropout: float = 0.0,
                       rng: np.random.Generator | None = None) -> tuple[float, list, list]:
    """Loss of one minibatch and its gradients ``(dW per layer, db per layer)``.

    ``soft_targets`` (``[N, num_pdfs]`` posteriors of a teacher, at ``temperature``) are
    mixed into the one-hot targets with weight ``distill_weight``: the loss is ``(1 - a) *
    CE(label, p) + a * T^2 * CE(soft, p_T)`` with ``p_T`` the softmax of the logits / T (at
    T = 1 one cross-entropy against the mixed target); ``dropout`` (with ``rng``) drops
    hidden outputs.
    """
    n = len(y)
    z, inputs = model.forward(x, keep=True, dropout=dropout, rng=rng)
    keep_scale = 1.0 / (1.0 - dropout)
    p = softmax(z)
    logp = log_softmax(z)
    if soft_targets is not None and distill_weight and temperature != 1:
        logp_t = log_softmax(z / np.float32(temperature))
        t2 = temperature * temperature
        loss = (-(1.0 - distill_weight) * float(logp[np.arange(n), y].mean())
                - distill_weight * t2 * float((soft_targets * logp_t).sum(axis=1).mean()))
        # d/dz of T^2 * CE(soft, softmax(z / T)) is T * (p_T - soft)
        dz = (distill_weight * temperature) * (np.exp(logp_t) - soft_targets)
        dz += (1.0 - distill_weight) * p
        dz[np.arange(n), y] -= 1.0 - distill_weight
    elif soft_targets is not None and distill_weight:
        targets = distill_weight * soft_targets
        targets[np.arange(n), y] += 1.0 - distill_weight
        loss = -float((targets * logp).sum(axis=1).mean())
        dz = p - targets
    else:
        loss = -float(logp[np.arange(n), y].mean())
        dz = p.copy()
        dz[np.arange(n), y] -= 1.0
    if entropy_coef:
        h = -(p * logp).sum(axis=1, keepdims=True)
        loss += entropy_coef * float(h.mean())
        dz -= entropy_coef * p * (logp + h)
    dz /= n
    grads_w, grads_b = [None] * model.num_layers, [None] * model.num_layers
    for index in range(model.num_layers - 1, -1, -1):
        grads_w[index] = dz.T @ inputs[index]
        grads_b[index] = dz.sum(axis=0)
        if index:
            # the input of layer index is the ReLU output of the layer before it (times the
            # dropout scale where the unit was kept; dropped units are 0 like inactive ones)
            dz = (dz @ model.weights[index]) * ((inputs[index] > 0) * np.float32(keep_scale))
    return loss, grads_w, grads_b


class _Adam:
    """Adam (Kingma & Ba) over a list of arrays, updated in place."""

    def __init__(self, params, lr: float, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params, self.lr = params, lr
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        c1 = 1 - self.beta1 ** self.t
        c2 = 1 - self.beta2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= (self.lr / c1) * m / (np.sqrt(v / c2) + self.eps)


def train(model: MLP, train_data, dev_data, config: TrainConfig = TrainConfig(), *,
          masks=None, tied=None, teacher: MLP | None = None, reprune=None,
          progress: bool = True, desc: str = "train") -> tuple[MLP, dict]:
    """Train a copy of ``model``; return the copy with the best dev frame accuracy and a history.

    Parameters
    ----------
    model : MLP
        Starting point (left unchanged).
    train_data, dev_data : tuple of numpy.ndarray
        ``(features float32[N, input_dim], labels int64[N])``.
    config : TrainConfig
        Hyperparameters.
    masks : list of numpy.ndarray, optional
        Boolean keep-masks per layer; masked weights are held at zero throughout.
    tied : list of numpy.ndarray, optional
        Shared-weight codes per layer (``int``, 0 = zero weight, 1..15 = cluster): after every
        step each cluster's weights are replaced by their mean, so each layer keeps at most 15
        distinct values and the step moves the shared values (Han et al.'s trained
        quantization, with Adam's per-weight steps averaged over the cluster).
    teacher : MLP, optional
        Model whose posteriors are mixed into the targets (``config.distill_weight``); it must
        take the same input and have the same outputs.
    reprune : dict, optional
        Gradual pruning: ``{step: function(model) -> masks}``; before that step the masks are
        replaced by the function's (computed from the weights as they are then). Dev
        evaluations before the last of these steps are recorded but neither keep a model nor
        count towards early stopping: the run keeps the best model at the final sparsity.
    progress : bool
        Show a tqdm progress bar.
    desc : str
        Label of the progress bar.
    """
    with blas_threads(config.blas_threads):
        return _train(model, train_data, dev_data, config, masks, tied, teacher, reprune,
                      progress, desc)


def _tie(weights: np.ndarray, codes: np.ndarray) -> None:
    """Replace each cluster's weights by their mean (code 0 stays zero), in place."""
    flat = codes.ravel()
    sums = np.bincount(flat, weights=weights.ravel(), minlength=16)
    counts = np.bincount(flat, minlength=16)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    means[0] = 0.0
    weights[...] = means[codes].astype(weights.dtype)


def planned_steps(config: TrainConfig, train_frames: int) -> int:
    """Steps a run of ``config`` on ``train_frames`` frames takes unless it stops early."""
    per_epoch = min(config.frames_per_epoch or train_frames, train_frames)
    return max(1, round(config.epochs * max(1, per_epoch // config.batch_size)))


def _lr_factor(config: TrainConfig, step: int, total_steps: int) -> float:
    """Factor of the schedule on the step size at ``step`` (0-based) of ``total_steps``."""
    if config.lr_schedule == "plateau":
        return 1.0
    low = config.min_lr_fraction
    return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def _train(model, train_data, dev_data, config, masks, tied, teacher, reprune, progress,
           desc):
    from tqdm import tqdm

    dims = dict(input_dim=model.config.input_dim, num_pdfs=model.config.num_pdfs)
    x_train, y_train = check_frames(*train_data, name="training features", **dims)
    x_dev, y_dev = check_frames(*dev_data, name="dev features", **dims)
    rng = np.random.default_rng(config.seed)
    if config.dev_frames is not None and len(x_dev) > config.dev_frames:
        keep = np.sort(rng.choice(len(x_dev), config.dev_frames, replace=False))
        x_dev, y_dev = x_dev[keep], y_dev[keep]

    if config.distill_weight and teacher is None:
        raise ModelError(f"TrainConfig.distill_weight is {config.distill_weight}: distillation "
                         f"needs a teacher model")
    if teacher is not None and (teacher.config.input_dim, teacher.config.num_pdfs) != (
            model.config.input_dim, model.config.num_pdfs):
        raise ModelError(f"the teacher maps {teacher.config.input_dim} inputs to "
                         f"{teacher.config.num_pdfs} pdfs; the model "
                         f"{model.config.input_dim} to {model.config.num_pdfs}")
    # a generator of its own, so dropout does not change the shuffling of a given seed
    dropout_rng = np.random.default_rng([config.seed, 1])

    model = model.copy()
    if masks is not None:
        masks = [np.asarray(m, dtype=bool) for m in masks]
        if [m.shape for m in masks] != [w.shape for w in model.weights]:
            raise ModelError("masks must have the shapes of the model's weight matrices")
        for w, m in zip(model.weights, masks, strict=True):
            w *= m
    if tied is not None:
        tied = [np.asarray(c, dtype=np.int64) for c in tied]
        if [c.shape for c in tied] != [w.shape for w in model.weights]:
            raise ModelError("tied codes must have the shapes of the model's weight matrices")
        if min(int(c.min()) for c in tied) < 0 or max(int(c.max()) for c in tied) > 15:
            raise ModelError("tied codes must be 0..15")
        masks = [c != 0 for c in tied] if masks is None else masks
        for w, c in zip(model.weights, tied, strict=True):
            _tie(w, c)
    params = model.weights + model.biases
    adam = _Adam(params, config.learning_rate)

    per_epoch = min(config.frames_per_epoch or len(x_train), len(x_train))
    steps_per_epoch = max(1, per_epoch // config.batch_size)
    total_steps = planned_steps(config, len(x_train))
    eval_every = max(1, steps_per_epoch // config.evals_per_epoch)
    reprune = dict(reprune or {})
    if reprune and (tied is not None or not all(
            isinstance(k, int) and 0 <= k < total_steps for k in reprune)):
        raise ModelError(f"reprune steps must be ints from 0 to {total_steps - 1} (and cannot "
                         f"be combined with tied weights), not {sorted(reprune)}")
    last_reprune = max(reprune) if reprune else -1

    best = evaluate(model, x_dev, y_dev)
    best_params = [p.copy() for p in params]
    history = {"config": asdict(config), "evaluations": [{"step": 0, **best}],
               "stopped_early": False}
    bad_evals, order, cursor, losses = 0, np.empty(0, dtype=np.int64), 0, []
    base_lr = config.learning_rate  # cut on a plateau; the schedule scales it per step
    bar = tqdm(range(total_steps), desc=desc, disable=not progress, leave=False,
               mininterval=0.5)
    for step in bar:
        if cursor + config.batch_size > len(order):
            order = rng.permutation(len(x_train))[:per_epoch]
            cursor = 0
        batch = order[cursor:cursor + config.batch_size]
        cursor += config.batch_size
        if step in reprune:
            masks = [np.asarray(m, dtype=bool) for m in reprune[step](model)]
            for w, m in zip(model.weights, masks, strict=True):
                w *= m
            if step == last_reprune:  # final sparsity reached: keep the best model from here
                best, bad_evals = evaluate(model, x_dev, y_dev), 0
                best_params = [p.copy() for p in params]
        x_batch = x_train[batch]
        soft = (softmax(teacher.forward(x_batch) / np.float32(config.distill_temperature))
                if teacher is not None and config.distill_weight else None)
        adam.lr = base_lr * _lr_factor(config, step, total_steps)
        loss, gw, gb = loss_and_gradients(model, x_batch, y_train[batch],
                                          entropy_coef=config.entropy_coef, soft_targets=soft,
                                          distill_weight=config.distill_weight,
                                          temperature=config.distill_temperature,
                                          dropout=config.dropout, rng=dropout_rng)
        losses.append(loss)
        if config.weight_decay:
            gw = [g + config.weight_decay * w for g, w in zip(gw, model.weights, strict=True)]
        if masks is not None:
            gw = [g * m for g, m in zip(gw, masks, strict=True)]
        adam.step(gw + gb)
        if masks is not None:
            for w, m in zip(model.weights, masks, strict=True):
                w *= m
        if tied is not None:
            for w, c in zip(model.weights, tied, strict=True):
                _tie(w, c)
        if (step + 1) % eval_every == 0 or step + 1 == total_steps:
            result = evaluate(model, x_dev, y_dev)
            record = {"step": step + 1, "train_loss": float(np.mean(losses)),
                      "learning_rate": adam.lr, **result}
            history["evaluations"].append(record)
            losses = []
            bar.set_postfix(dev_acc=f"{result['frame_accuracy']:.3f}",
                            ent=f"{result['mean_entropy']:.2f}")
            if step < last_reprune:
                continue  # still pruning: neither a model to keep nor a plateau
            if result["frame_accuracy"] > best["frame_accuracy"]:
                best, bad_evals = result, 0
                best_params = [p.copy() for p in params]
            else:
                bad_evals += 1
                base_lr *= config.lr_decay
                if bad_evals >= config.patience:
                    history["stopped_early"] = True
                    break
    bar.close()
    for p, saved in zip(params, best_params, strict=True):
        p[...] = saved
    history["best_dev"] = best
    history["steps"] = step + 1
    return model, history
