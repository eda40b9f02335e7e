"""``asrhw compare``: the same utterances through golden, the simulators and a board.

The design is the digit recognizer: an exported model (``asrhw model pipeline`` writes
``DIR/export``), the digit-loop graph of the corpus, and a Viterbi unit sized for that graph.
Every answer (words and status) is held against the golden system model; the simulators'
cycle counters give cycles per frame, which at a board's Fmax (its ``asrhw build`` report)
project the hardware's time per frame. The CPU peer is what the same job costs in software:
the model's NumPy forward pass and Kaldi's FasterDecoder on the same graph, timed here.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from hw.config import ConfigError, config_to_dict
from sim.system import check_core, simulate_core
from sim.system_cases import Utterance
from sw.system import DesignChoice, SystemDesign, golden_recognize, system_design

__all__ = ["MAX_CPU_REPEATS", "MAX_JOBS", "CompareError", "DesignChoice", "cpu_peer",
           "digit_design", "load_test_utterances", "projected", "run_compare",
           "simulate_in_parallel", "split_by_frames"]

REPORTS = Path(__file__).resolve().parent.parent / "boards" / "reports"
MAX_JOBS = 64  # simulator processes at once
MAX_CPU_REPEATS = 100  # runs of the CPU peer per utterance


class CompareError(RuntimeError):
    """Inputs for a comparison are missing or inconsistent; the message says what to run."""


def _export_dir(model: Path) -> Path:
    for candidate in (model, model / "export"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise CompareError(f"{model} holds no exported model (manifest.json): run 'asrhw model "
                       f"pipeline --out {model}' (add --quick for a small one) first")


def model_summary(design: SystemDesign, model: Path) -> dict:
    """Which model ``design`` was made from, for a report: its export directory and whether the
    log-priors are folded into the last bias. The two exports of one pipeline run decode the
    same words from other scores, so other hypotheses fill the beam and the cycles differ."""
    return {"export": str(_export_dir(Path(model))),
            "priors_folded": bool(design.quantized.priors_folded)}


def priors_text(priors_folded: bool) -> str:
    """Whether a model's log-priors are folded, in the words of compare's and build's reports."""
    return "log-priors folded into the last bias" if priors_folded else "log-priors not folded"


def describe_model(summary: dict) -> str:
    """:func:`model_summary` in words."""
    return f"{summary['export']} ({priors_text(summary['priors_folded'])})"


def digit_design(model: Path, corpus: Path, choice: DesignChoice | None = None
                 ) -> SystemDesign:
    """The digit recognizer of ``model`` (pipeline or export directory) and ``corpus``, built
    as ``choice`` says (default: :class:`DesignChoice`'s defaults)."""
    choice = DesignChoice() if choice is None else choice
    from sw.corpus import CorpusError
    from sw.experiments.tasks import fitted_config, task_graph
    from sw.graph import GraphError
    from sw.model import ModelError
    from sw.quantized import load_export, reencode
    from sw.row_order import ROW_ORDERS, balance_design

    if choice.row_order not in ROW_ORDERS:
        raise CompareError(f"the row order (--row-order) must be one of "
                           f"{', '.join(ROW_ORDERS)}, not {choice.row_order!r}")
    quantized = load_export(_export_dir(Path(model)))
    # the FIFO depth, batch, banks and multiplier and accumulate stages are the engine's, and
    # the cost width is the cost unit's saturation, not the encoding's: the model's codes stay
    # as they are
    try:
        engine = {name: getattr(choice, name) for name in (
            "fifo_depth", "batch", "accumulator_banks", "multiplier_stages",
            "accumulate_stages")
            if getattr(choice, name) is not None}
        if engine:
            quantized = dataclasses.replace(quantized, spmv=quantized.spmv.replace(**engine))
        if choice.cost_width is not None:
            quantized = dataclasses.replace(quantized, cost=dataclasses.replace(
                quantized.cost, cost_width=choice.cost_width))
    except ConfigError as error:
        raise CompareError(str(error)) from error
    if choice.pes is not None or choice.index_bits is not None:
        try:
            quantized = reencode(quantized, quantized.spmv.pes if choice.pes is None
                                 else choice.pes, index_bits=choice.index_bits)
        except ModelError as error:
            raise CompareError(str(error)) from error
    try:
        graph, _ = task_graph("digits", corpus=corpus)
    except (CorpusError, FileNotFoundError) as error:
        raise CompareError(f"{corpus} is not a usable corpus ({error}): run 'asrhw corpus "
                           f"--out {corpus}' first") from error
    if choice.row_order == "balanced":
        try:
            quantized, graph = balance_design(quantized, graph)
        except GraphError as error:
            raise CompareError(f"{model} does not fit the digit loop of {corpus}: {error}"
                               ) from error
    try:
        viterbi = fitted_config(graph, sets=choice.sets, ways=choice.ways, beam=choice.beam,
                                trace_depth=choice.trace_depth, cost=quantized.cost,
                                skip_settled_passes=choice.skip_settled_passes)
        return system_design(quantized, graph, viterbi, splice_context=choice.splice_context)
    except ConfigError as error:
        raise CompareError(str(error)) from error


def load_test_utterances(design: SystemDesign, corpus: Path, count: int) -> list:
    """The first ``count`` test-voice digit utterances, quantized as the host sends them."""
    from sw.corpus import load_utterances
    from sw.quantized import quantize_features

    chosen = load_utterances(corpus, "digits", "test")[:count]
    if len(chosen) < count:
        raise CompareError(f"the corpus has {len(chosen)} digit test utterances; "
                           f"--utterances asked for {count}")
    index = {word: i for i, word in enumerate(design.graph.words)}
    utterances = [Utterance(name=u.uid, activations=quantize_features(
                                u.features, design.config.spmv, input_dim=design.input_dim),
                            reference=tuple(index[w] for w in u.words if w in index))
                  for u in chosen]
    for utterance in utterances:
        try:
            design.host_frames(utterance.activations)
        except ValueError as error:
            raise CompareError(f"{utterance.name}: {error}; the core's splice_context must be "
                               f"the context the corpus' features were spliced with") from error
    return utterances


def cpu_peer(design: SystemDesign, utterances, *, repeats: int = 5) -> dict:
    """Seconds per frame of the software recognizer on one core of this CPU: the model's
    float32 NumPy forward pass (OpenBLAS on one thread, a whole utterance at once), then Kaldi
    FasterDecoder on the same graph with the same beam and as many active tokens as the
    hardware table holds. (OpenBLAS's own threads, competing with other processes, made the
    forward pass 20x slower here: one thread is the fair and stable figure.)

    Each utterance's forward pass and search run ``repeats`` times and the fastest of each
    counts: a single pass took 19 to 31 us per frame depending on what else the machine ran,
    and every speed-up ratio moved with it; the minimum is the CPU's own cost."""
    if not 1 <= repeats <= MAX_CPU_REPEATS:
        raise CompareError(f"repeats must be from 1 to {MAX_CPU_REPEATS}, not {repeats}")
    from sw.decoder import DecoderOptions
    from sw.model import log_softmax
    from sw.peers import KaldiFasterDecoder
    from sw.quantized import float_model
    from sw.train import blas_threads

    viterbi, quantized = design.config.viterbi, design.quantized
    options = DecoderOptions(acoustic_scale=quantized.acoustic_scale,
                             beam=viterbi.beam / (1 << viterbi.cost.cost_frac),
                             max_active=viterbi.table_entries)
    decoder = KaldiFasterDecoder(design.graph, options)
    model = float_model(quantized)
    unit = np.float32(2.0 ** -quantized.spmv.act_frac)
    dnn = search = 0.0
    frames = 0
    words = []
    for utterance in utterances:
        features = utterance.activations.astype(np.float32) * unit
        dnn_times, search_times = [], []
        for _ in range(repeats):
            with blas_threads(1):
                began = time.perf_counter()
                loglik = log_softmax(model.forward(features).astype(np.float64))
                dnn_times.append(time.perf_counter() - began)
            result = decoder.decode(loglik)
            search_times.append(result.seconds)
        dnn += min(dnn_times)
        search += min(search_times)
        frames += len(utterance.activations)
        words.append(list(result.words))
    frames = max(frames, 1)
    return {"dnn_seconds_per_frame": dnn / frames, "search_seconds_per_frame": search / frames,
            "seconds_per_frame": (dnn + search) / frames, "frames": frames, "repeats": repeats,
            "words": words}


def projected(cycles_per_frame: float, config=None, reports=REPORTS) -> list:
    """Hardware time per frame at the Fmax of each board's system build report; with
    ``config`` (a ``SystemConfig``) only reports of a build with the same engine, Viterbi unit
    and splicing (another design's Fmax says nothing about this one)."""
    def engine(spmv: dict) -> dict:
        # where the board keeps the model and the PEs' queues (SPRAM, block RAM, LUT RAM,
        # registers) changes no cycle; a report written before batches (or accumulator banks,
        # or multiplier or accumulate stages) existed is of an unbatched engine with one bank
        # and one stage of each
        kept = {k: v for k, v in spmv.items() if k not in (
            "entry_memory", "pointer_memory", "codebook_memory", "accumulator_memory",
            "column_queue_memory")}
        return {"batch": 1, "accumulator_banks": 1, "multiplier_stages": 1,
                "accumulate_stages": 1, **kept}

    def search(viterbi: dict) -> dict:
        # nor how the unit keeps its free trace entries, nor whether it skips settled epsilon
        # passes (a flag and a branch in its control; the ULX3S's reports were built without
        # it, the cycles are the compare's own); nor did it have two score banks
        return {"score_banks": 1, **{k: v for k, v in viterbi.items()
                                     if k not in ("free_list", "skip_settled_passes")}}

    rows = []
    for path in sorted(Path(reports).glob("system_*.json")):
        report = json.loads(path.read_text())
        fmax = report.get("fmax_mhz")
        built = report.get("config", {})
        if config is not None and (
                engine(built.get("spmv", {})) != engine(config_to_dict(config.spmv))
                or search(built.get("viterbi", {})) != search(config_to_dict(config.viterbi))
                # a report written before the core could splice is of a host that splices
                or built.get("splice_context", 0) != config.splice_context):
            continue
        if fmax:
            rows.append({"board": report["board"], "fmax_mhz": fmax, "report": path.name,
                         "seconds_per_frame": cycles_per_frame / (fmax * 1e6)})
    return rows


def split_by_frames(utterances, parts: int) -> list:
    """``utterances`` in at most ``parts`` runs of consecutive utterances with about as many
    frames each (a simulator's time goes with the frames); none empty, order kept."""
    utterances = list(utterances)
    parts = max(1, min(parts, len(utterances)))
    total = sum(len(u.activations) for u in utterances)
    chunks, current, done = [], [], 0
    for index, utterance in enumerate(utterances):
        current.append(utterance)
        done += len(utterance.activations)
        left = len(utterances) - index - 1
        wanted = parts - len(chunks) - 1  # chunks still to start after this one
        if wanted and (done >= total * (len(chunks) + 1) / parts or left == wanted):
            chunks.append(current)
            current = []
    chunks.append(current)
    return chunks


def simulate_in_parallel(design: SystemDesign, utterances, *, simulator: str, jobs: int
                         ) -> dict:
    """:func:`sim.system.simulate_core` on ``jobs`` simulator processes at once, each with a
    run of consecutive utterances (the core starts every utterance afresh, so the answers and
    counters are those of one run); ``run_seconds`` is the wall time of them all."""
    from concurrent.futures import ThreadPoolExecutor

    chunks = split_by_frames(utterances, jobs)
    began = time.perf_counter()
    # threads suffice: each job waits on its own simulator process
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        results = list(pool.map(lambda chunk: simulate_core(design, chunk, simulator=simulator,
                                                            name="compare"), chunks))
    return {"utterances": [u for result in results for u in result["utterances"]],
            "build_seconds": max(result["build_seconds"] for result in results),
            "run_seconds": time.perf_counter() - began, "jobs": len(chunks)}


def run_compare(design: SystemDesign, utterances, *, simulators, board_link=None,
                progress=print, jobs: int = 1) -> dict:
    """Every utterance through golden, each simulator (on ``jobs`` processes at once) and
    (``board_link``, a ``sw.link.HostLink``) the board; per-utterance answers, tallies and
    timing."""
    if not 1 <= jobs <= MAX_JOBS:
        raise CompareError(f"jobs must be from 1 to {MAX_JOBS}, not {jobs}")
    rows = []
    began = time.perf_counter()
    golden = [golden_recognize(design, u.activations) for u in utterances]
    golden_seconds = time.perf_counter() - began
    for utterance, result in zip(utterances, golden, strict=True):
        rows.append({"name": utterance.name, "frames": len(utterance.activations),
                     "reference": list(utterance.reference),
                     "golden": {"words": result.words, "status": result.status}})
    runs = {}
    for simulator in simulators:
        progress(f"{simulator}: building and running {len(utterances)} utterances"
                 f"{f' on {jobs} processes' if jobs > 1 else ''} ...")
        result = simulate_in_parallel(design, utterances, simulator=simulator, jobs=jobs)
        checks = check_core(design, utterances, result)
        runs[simulator] = {"build_seconds": result["build_seconds"],
                           "run_seconds": result["run_seconds"], "jobs": result["jobs"]}
        for row, check in zip(rows, checks, strict=True):
            row[simulator] = {"words": check.words, "status": check.status,
                              "match": check.matches, **check.counters}
    if board_link is not None:
        progress(f"board: {len(utterances)} utterances over the link ...")
        for row, utterance in zip(rows, utterances, strict=True):
            words, status = board_link.utterance(design.host_frames(utterance.activations))
            row["board"] = {"words": words, "status": status,
                            "match": (words, status) == (row["golden"]["words"],
                                                         row["golden"]["status"])}
    targets = [*simulators] + (["board"] if board_link is not None else [])
    for row in rows:
        row["match"] = all(row[target]["match"] for target in targets)
    passed = sum(row["match"] for row in rows)
    report = {"utterances": len(rows), "passed": passed, "failed": len(rows) - passed,
              "compared": ["golden", *targets], "runs": runs,
              "golden_seconds": golden_seconds, "rows": rows}
    counted = [row[simulators[0]] for row in rows] if simulators else []
    frames = sum(row["frames"] for row in rows)
    if counted and frames:
        cycles = sum(c["utterance_cycles"] for c in counted)
        report["cycles_per_frame"] = cycles / frames
        report["engine_cycles_per_frame"] = sum(c["engine_cycles"] for c in counted) / frames
        report["viterbi_cycles_per_frame"] = sum(c["viterbi_cycles"] for c in counted) / frames
    references = [(row["reference"], row["golden"]["words"]) for row in rows
                  if row["reference"]]
    if references:
        from sw.decoder import word_errors

        report["golden_wer"] = (sum(word_errors(r, h) for r, h in references)
                                / max(1, sum(len(r) for r, _ in references)))
    return report

