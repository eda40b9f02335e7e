"""The dark side of pruning, measured: flatter scores, more surviving hypotheses, and a bounded
set-associative hypothesis table that keeps the search flat.

For each task and sparsity, test utterances are decoded by Kaldi's FasterDecoder (the peer),
the float reference decoder (unbounded max-active) and the bit-exact golden model of the
hardware unit with tables of 16 to 4096 entries, at two acoustic scales: ``fixed`` (the one
tuned for the dense model) and ``tuned`` (re-tuned on dev for each model). Kaldi's Python
binding does not expose its token count; the float decoder runs the identical search (tested
equal to Kaldi word for word), so Kaldi rows carry its counts.

Scores come from the pruned acoustic models of ``asrhw model pipeline`` (``--models DIR``:
``DIR/models/magnitude_<percent>.npz``) on the corpus's test voices; without models they come
from a clearly labelled SYNTHETIC generator whose posteriors flatten as sparsity grows.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.config import ViterbiConfig
from sw.experiments.tasks import fitted_config, loglik_costs, penalized, task_graph
from sw.model import log_softmax

__all__ = ["DarksideSettings", "golden_config", "run_darkside", "smallest_table", "summarize",
           "scored_test_set", "write_plot"]


@dataclass(frozen=True)
class DarksideSettings:
    """What the experiment runs (``quick`` is a CI-sized version).

    ``golden_utterances`` is the number of test utterances the (slow, bit-exact) golden
    decoder runs per row, either one int for every task or ``((task, count), ...)``;
    ``golden_modes`` the scale modes it runs in. ``trace_depth`` is the golden decoder's
    word-trace memory (``None``: the ``ViterbiConfig`` default); a row whose utterances
    overflow it is run at the smallest power of two that does not, and reports both its
    overflows at the configured depth and the depth it needed, never hiding either.
    ``golden_table_caps`` holds ``(entries, count)`` pairs: tables of at least ``entries``
    run on at most ``count`` of those utterances, because the golden decoder's time grows with
    the hypotheses alive (a 4,096-entry table on the words task costs 8x a 1,024-entry one).
    Each row reports its own utterances and the float decoder's WER on exactly those.
    """

    tasks: tuple = ("digits", "words")
    sparsities: tuple = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)
    table_entries: tuple = (16, 64, 256, 1024, 4096)
    ways: int = 4
    hash: str = "xor_fold"  # the golden table's set hash (hw.config.ViterbiConfig.hash)
    utterances: int | tuple = 100
    dev_utterances: int = 30
    golden_utterances: int | tuple = 20
    golden_modes: tuple = ("fixed", "tuned")
    golden_table_caps: tuple = ()
    trace_depth: int | None = None
    frames: int = 150  # synthetic utterances only
    beam: float = 16.0
    scales: tuple = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
    penalties: tuple = (0.0, 1.0, 2.0)  # >= 0: the hardware's graph costs are unsigned
    # decoder of the dev-set tuning (sw.decoder.tune): "kaldi" scores the grid 3-5x faster
    # and chooses the same point, so more dev utterances fit in the same time
    tune_decoder: str = "float"
    seed: int = 0

    def __post_init__(self):
        for mode in self.golden_modes:
            if mode not in ("fixed", "tuned"):
                raise ValueError(f"golden_modes holds 'fixed' and/or 'tuned', not {mode!r}")
        for name in ("utterances", "golden_utterances"):
            value = getattr(self, name)
            counts = (value,) if isinstance(value, int) else tuple(c for _, c in value)
            if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts):
                raise ValueError(f"{name} must be counts >= 0, not {value!r}")
        if self.tune_decoder not in ("float", "kaldi"):
            raise ValueError(f"tune_decoder must be 'float' or 'kaldi', not "
                             f"{self.tune_decoder!r}")
        if self.hash not in ViterbiConfig.HASHES:
            raise ValueError(f"hash must be one of {ViterbiConfig.HASHES}, not {self.hash!r}")
        for pair in self.golden_table_caps:
            if (not isinstance(pair, tuple) or len(pair) != 2
                    or any(isinstance(v, bool) or not isinstance(v, int) for v in pair)
                    or pair[0] < 1 or pair[1] < 0):
                raise ValueError(f"golden_table_caps holds (entries >= 1, count >= 0) pairs, "
                                 f"not {pair!r}")

    def test_count(self, task: str) -> int:
        """Test utterances of ``task`` (``utterances``: one int or ``((task, n), ...)``)."""
        return _per_task(self.utterances, task)

    def golden_count(self, task: str, entries: int | None = None) -> int:
        """Test utterances the golden decoder runs on ``task`` (with a table of ``entries``:
        capped by ``golden_table_caps``)."""
        count = _per_task(self.golden_utterances, task)
        if entries is not None:
            count = min([count] + [cap for least, cap in self.golden_table_caps
                                   if entries >= least])
        return count

    @classmethod
    def quick(cls) -> DarksideSettings:
        return cls(sparsities=(0.0, 0.9, 0.95), table_entries=(16, 64, 256), utterances=12,
                   dev_utterances=6, golden_utterances=4, frames=60, scales=(0.1, 0.3, 1.0),
                   penalties=(0.0, 1.0))


def _per_task(value, task: str) -> int:
    return value if isinstance(value, int) else dict(value).get(task, 0)


# ---- score sources -----------------------------------------------------------------------

def synthetic_boost(sparsity: float) -> float:
    """SYNTHETIC scores: the label's logit boost shrinks as the model is pruned (flatter)."""
    return 1.2 + 3.3 * (1.0 - sparsity) ** 0.5


class _Utterances:
    """Test and dev utterances of one task: (loglik function input, reference words)."""

    def __init__(self, task, graph, settings, corpus):
        self.task, self.graph, self.settings = task, graph, settings
        self.corpus = corpus
        index = {word: i for i, word in enumerate(graph.words)}
        if corpus is not None:
            from sw.corpus import load_utterances

            def pick(split, count):
                chosen = load_utterances(corpus, task, split)[:count]
                return [(u.features, u.labels, tuple(index[w] for w in u.words if w in index))
                        for u in chosen]
            self.test = pick("test", settings.test_count(task))
            self.dev = pick("dev", settings.dev_utterances)
        else:
            from sw.decoder import synthetic_loglikes

            def walk(offset, count):
                items = []
                for i in range(count):
                    # The walk's pdfs are the labels; features are unused.
                    loglik, words = synthetic_loglikes(graph, settings.seed * 7919 + offset + i,
                                                       settings.frames, boost=50.0, noise=0.0)
                    items.append((None, loglik.argmax(axis=1), tuple(words)))
                return items
            self.test = walk(0, settings.test_count(task))
            self.dev = walk(100_000, settings.dev_utterances)


def _scorer(sparsity, models, seed, num_pdfs):
    """A function (features, labels, key) -> loglik for the model of ``sparsity``."""
    if models is not None:
        from sw.model import load_model

        path = Path(models) / "models" / f"magnitude_{int(round(sparsity * 100))}.npz"
        model = load_model(path)
        priors = model.log_priors if model.log_priors is not None else 0.0

        def score(features, labels, key):
            return log_softmax(model.logits(features).astype(np.float64)) - priors
        return score, f"model {path.name}"
    boost = synthetic_boost(sparsity)

    def score(features, labels, key):
        rng = np.random.default_rng([seed, key])
        logits = rng.normal(size=(len(labels), num_pdfs))
        logits[np.arange(len(labels)), labels] += boost
        return log_softmax(logits)
    return score, f"SYNTHETIC (label boost {boost:.2f} + N(0,1) noise)"


def scored_test_set(graph, task, sparsity, settings, corpus, models):
    """``([(loglik, reference)], score source)`` of the test utterances of ``task`` scored by
    the model of ``sparsity`` (the same keys as :func:`run_darkside`, so the same scores)."""
    data = _Utterances(task, graph, settings, corpus)
    score, source = _scorer(sparsity, models, settings.seed, graph.num_pdfs)
    return [(score(f, lab, 1_000 + i), ref) for i, (f, lab, ref) in enumerate(data.test)], source


# ---- decoding --------------------------------------------------------------------------------

def _wer(pairs):
    from sw.decoder import word_errors

    errors = sum(word_errors(ref, hyp) for ref, hyp in pairs)
    return errors / max(1, sum(len(ref) for ref, _ in pairs))


def _float_rows(graph, scored, options):
    """Decode with the float decoder (and Kaldi); per-utterance figures."""
    from sw.decoder import PreparedGraph, decode
    from sw.peers import KaldiFasterDecoder, same_result

    prepared = PreparedGraph(graph, options.word_penalty)
    kaldi = KaldiFasterDecoder(graph, options)
    out = []
    for loglik, reference in scored:
        result = decode(prepared, loglik, options)
        peer = kaldi.decode(loglik)
        out.append({"reference": reference, "float": result.words, "kaldi": peer.words,
                    "tokens": result.tokens_per_frame, "arcs": result.arcs_per_frame,
                    "float_seconds": result.seconds, "kaldi_seconds": peer.seconds,
                    "frames": len(loglik), "same_as_kaldi": same_result(result, peer),
                    "cost_difference": _relative_difference(result.cost, peer.cost)})
    return out


def _relative_difference(ours: float, theirs: float) -> float | None:
    """:func:`sw.peers.cost_difference`; ``None`` when either is infinite (no path)."""
    from sw.peers import cost_difference

    if not (np.isfinite(ours) and np.isfinite(theirs)):
        return None
    return cost_difference(ours, theirs)


def _largest_known(values) -> float | None:
    """Largest of ``values`` that is not ``None`` (``None`` if there is none)."""
    return max((v for v in values if v is not None), default=None)


def golden_config(graph, entries: int, settings: DarksideSettings) -> ViterbiConfig:
    """The hardware unit of a darkside row: ``entries`` in sets of ``settings.ways`` ways and a
    hardware-sized word trace (``settings.trace_depth``, default the config's, collected)."""
    depth = {} if settings.trace_depth is None else {"trace_depth": settings.trace_depth}
    return fitted_config(graph, sets=max(1, entries // settings.ways),
                         ways=min(settings.ways, entries), beam=settings.beam,
                         hash_kind=settings.hash, **depth)


def _golden_rows(graph, scored, *, scale, penalty, entries, settings):
    """Golden decodes of ``scored``. An utterance whose word trace overflows at the configured
    depth is decoded again with the depth doubled until it fits (at most 65,536 entries):
    without an overflow the words and counters do not depend on the depth (a collection frees
    only entries no hypothesis reaches), so the row equals one run at the largest depth any
    utterance needed, the smallest power of two with no overflow; the overflows at the
    configured depth are counted, not hidden."""
    from sw.golden.viterbi import decode as golden_decode

    config = golden_config(graph, entries, settings)
    hardware_graph = penalized(graph, penalty)
    out = []
    for loglik, reference in scored:
        costs = loglik_costs(loglik, scale, config.cost)
        began = time.perf_counter()
        used = config
        result = golden_decode(hardware_graph, costs, used)
        overflowed_at_default = result.trace_overflow
        while result.trace_overflow and used.trace_depth < 65536:
            used = dataclasses.replace(used, trace_depth=used.trace_depth * 2)
            result = golden_decode(hardware_graph, costs, used)
        out.append({"reference": reference, "words": tuple(result.words),
                    "tokens": np.array(result.tokens_per_frame),
                    "arcs": result.counters.arcs_expanded, "frames": len(loglik),
                    "trace_overflow": result.trace_overflow,
                    "trace_overflow_at_default": overflowed_at_default,
                    "trace_depth": used.trace_depth, "trace_peak": result.trace_peak,
                    "trace_collections": result.counters.trace_collections,
                    "final_reached": result.final_reached,
                    "seconds": time.perf_counter() - began})
    return out, config


def _golden_row(golden, config, float_subset_wer):
    """One darkside row of golden results (with its trace figures, overflows included)."""
    frames = sum(g["frames"] for g in golden)
    tokens = np.concatenate([g["tokens"] for g in golden]) if golden else np.zeros(1)
    peak_trace = max((g["trace_peak"] for g in golden), default=0)
    return {"decoder": "golden", "table_entries": config.table_entries,
            "sets": config.sets, "ways": config.ways, "utterances": len(golden),
            "frames": frames, "wer": _wer([(g["reference"], g["words"]) for g in golden]),
            "float_wer_same_utterances": float_subset_wer,
            "tokens_per_frame": float(tokens.mean()), "peak_tokens_per_frame": int(tokens.max()),
            "arcs_per_frame": sum(g["arcs"] for g in golden) / max(1, frames),
            "seconds_per_frame": sum(g["seconds"] for g in golden) / max(1, frames),
            "trace_depth_default": config.trace_depth,
            "trace_overflows_at_default": sum(bool(g["trace_overflow_at_default"])
                                              for g in golden),
            "trace_depth": max((g["trace_depth"] for g in golden), default=config.trace_depth),
            "trace_overflows": sum(bool(g["trace_overflow"]) for g in golden),
            "trace_peak_entries": peak_trace,
            "trace_collections": sum(g["trace_collections"] for g in golden),
            "final_not_reached": sum(not g["final_reached"] for g in golden)}


def run_darkside(out_dir, *, settings: DarksideSettings | None = None, corpus=None, models=None,
                 progress: bool = True) -> dict:
    """Run the experiment; write ``darkside.json`` and ``darkside.png`` into ``out_dir``."""
    from dataclasses import replace

    from tqdm import tqdm

    from sw.decoder import DecoderOptions, tune

    settings = settings or DarksideSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if models is not None and corpus is None:
        raise ValueError("--models needs --corpus: the models score the corpus's test voices")
    rows, tuning, sources = [], [], {}
    base_options = DecoderOptions(beam=settings.beam)
    golden_cache = {}
    for task in settings.tasks:
        graph, graph_source = task_graph(task, seed=settings.seed, corpus=corpus)
        data = _Utterances(task, graph, settings, corpus)
        fixed = None
        for sparsity in tqdm(settings.sparsities, desc=f"darkside {task}", disable=not progress):
            score, score_source = _scorer(sparsity, models, settings.seed, graph.num_pdfs)
            sources[f"{task}/{sparsity}"] = score_source
            test = [(score(f, lab, 1_000 + i), ref) for i, (f, lab, ref) in enumerate(data.test)]
            dev = [(score(f, lab, 2_000_000 + i), ref) for i, (f, lab, ref) in enumerate(data.dev)]
            tuned = tune(graph, dev, scales=settings.scales, penalties=settings.penalties,
                         options=base_options, decoder=settings.tune_decoder)
            if fixed is None:  # the first sparsity is the dense model
                fixed = tuned
            tuning.append({"task": task, "sparsity": sparsity, "acoustic_scale":
                           tuned.acoustic_scale, "word_penalty": tuned.word_penalty,
                           "dev_wer": tuned.wer})
            float_cache = {}
            for mode, chosen in (("fixed", fixed), ("tuned", tuned)):
                options = replace(base_options, acoustic_scale=chosen.acoustic_scale,
                                  word_penalty=chosen.word_penalty)
                if options not in float_cache:  # fixed = tuned at the dense model
                    float_cache[options] = _float_rows(graph, test, options)
                decoded = float_cache[options]
                frames = sum(d["frames"] for d in decoded)
                common = {"task": task, "sparsity": sparsity, "scale_mode": mode,
                          "acoustic_scale": chosen.acoustic_scale,
                          "word_penalty": chosen.word_penalty, "graph": graph_source,
                          "scores": score_source, "utterances": len(decoded), "frames": frames}
                tokens = np.concatenate([d["tokens"] for d in decoded]) if decoded else np.zeros(1)
                arcs = sum(int(d["arcs"].sum()) for d in decoded)
                # the float decoder's claim to Kaldi's semantics, on every test utterance
                agreement = {"same_as_kaldi": sum(d["same_as_kaldi"] for d in decoded),
                             "max_relative_cost_difference": _largest_known(
                                 d["cost_difference"] for d in decoded)}
                for name, key, seconds in (("kaldi", "kaldi", "kaldi_seconds"),
                                           ("float", "float", "float_seconds")):
                    rows.append({**common, **agreement, "decoder": name, "table_entries": None,
                                 "wer": _wer([(d["reference"], d[key]) for d in decoded]),
                                 "tokens_per_frame": float(tokens.mean()),
                                 "peak_tokens_per_frame": int(tokens.max()),
                                 "arcs_per_frame": arcs / max(1, frames),
                                 "seconds_per_frame": sum(d[seconds] for d in decoded)
                                 / max(1, frames)})
                if mode not in settings.golden_modes:
                    continue
                for entries in settings.table_entries:
                    count = settings.golden_count(task, entries)
                    subset = test[:count]
                    float_subset = _wer([(d["reference"], d["float"]) for d in decoded[:count]])
                    key = (task, sparsity, chosen.acoustic_scale, chosen.word_penalty, entries,
                           count)
                    if key not in golden_cache:  # fixed = tuned at the dense model
                        golden_cache[key] = _golden_rows(
                            graph, subset, scale=chosen.acoustic_scale,
                            penalty=chosen.word_penalty, entries=entries, settings=settings)
                    rows.append({**common, **_golden_row(*golden_cache[key], float_subset)})
            # A long run leaves its rows so far on disk (marked incomplete) after every model.
            _write(out_dir, settings, corpus, models, sources, tuning, rows, complete=False)
    return _write(out_dir, settings, corpus, models, sources, tuning, rows, complete=True)


def _write(out_dir, settings, corpus, models, sources, tuning, rows, *, complete):
    report = {"settings": dataclasses.asdict(settings), "corpus": str(corpus) if corpus else None,
              "models": str(models) if models else None, "complete": complete,
              "score_sources": sources, "tuning": tuning, "rows": rows}
    report["summary"] = summarize(rows, settings)
    (out_dir / "darkside.json").write_text(json.dumps(report, indent=1) + "\n")
    write_plot(rows, out_dir / "darkside.png", report["summary"])
    return report


def smallest_table(golden_rows, float_rows=None, *, up_to: float = 0.9,
                   margin: float = 0.005):
    """The smallest table whose golden WER is within ``margin`` (absolute) of the unbounded
    float decoder's on the same utterances at every sparsity ``<= up_to`` (None if none is)."""
    sparsities = {r["sparsity"] for r in golden_rows if r["sparsity"] <= up_to}
    for entries in sorted({r["table_entries"] for r in golden_rows}):
        at = {r["sparsity"]: r for r in golden_rows
              if r["table_entries"] == entries and r["sparsity"] <= up_to}
        if sparsities and set(at) == sparsities and all(
                r["wer"] <= r["float_wer_same_utterances"] + margin + 1e-12
                for r in at.values()):
            return entries
    return None


def summarize(rows, settings) -> dict:
    """Ratios against dense with WER beside them, and the smallest table that keeps the float
    decoder's WER (within 0.5 % absolute at every sparsity up to 90 %) against a quarter of the
    float decoder's peak active tokens per frame."""
    summary = {}
    for task in settings.tasks:
        for mode in ("fixed", "tuned"):
            kaldi = {r["sparsity"]: r for r in rows if r["task"] == task and
                     r["scale_mode"] == mode and r["decoder"] == "kaldi"}
            dense = kaldi.get(0.0)
            ratios = {str(s): (r["tokens_per_frame"] / dense["tokens_per_frame"]
                               if dense and dense["tokens_per_frame"] else None)
                      for s, r in kaldi.items()}
            golden = [r for r in rows if r["task"] == task and r["scale_mode"] == mode
                      and r["decoder"] == "golden"]
            smallest = smallest_table(golden)
            floats = [r for r in rows if r["task"] == task and r["scale_mode"] == mode
                      and r["decoder"] == "float"]
            peak = max((r["peak_tokens_per_frame"] for r in rows if r["task"] == task
                        and r["scale_mode"] == mode and r["decoder"] == "float"
                        and r["sparsity"] <= 0.9), default=None)
            summary[f"{task}/{mode}"] = {
                "kaldi_tokens_ratio_vs_dense": ratios,
                "kaldi_tokens_per_frame": {str(s): r["tokens_per_frame"]
                                           for s, r in kaldi.items()},
                "kaldi_wer": {str(s): r["wer"] for s, r in kaldi.items()},
                "acoustic_scale": {str(s): r["acoustic_scale"] for s, r in kaldi.items()},
                "golden_run": bool(golden),
                "smallest_table_within_0.5pct_wer_up_to_90pct": smallest,
                "float_peak_tokens_per_frame_up_to_90pct": peak,
                "smallest_table_over_peak": (smallest / peak) if smallest and peak else None,
                "smallest_table_at_most_quarter_of_peak": (smallest <= peak / 4)
                if smallest and peak else None,
                "golden_tokens_never_exceed_table": all(
                    r["peak_tokens_per_frame"] <= r["table_entries"] for r in golden),
                "golden_trace_overflows": sum(r["trace_overflows"] for r in golden),
                "golden_trace_overflows_at_default_depth": sum(
                    r["trace_overflows_at_default"] for r in golden),
                "golden_trace_depth_by_table": {
                    str(e): max(r["trace_depth"] for r in golden if r["table_entries"] == e)
                    for e in sorted({r["table_entries"] for r in golden})},
                "golden_trace_peak_entries": max((r["trace_peak_entries"] for r in golden),
                                                 default=None),
                "float_equals_kaldi": {
                    "utterances": sum(r["utterances"] for r in floats),
                    "same": sum(r["same_as_kaldi"] for r in floats),
                    "max_relative_cost_difference": _largest_known(
                        r["max_relative_cost_difference"] for r in floats)},
            }
    return summary


def write_plot(rows, path, summary=None) -> None:
    """Tokens per frame and WER against sparsity, per task and scale mode; the title of each
    column names the smallest table that keeps the float decoder's WER (``summary``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows})
    figure, axes = plt.subplots(2, max(1, len(tasks)) * 2, figsize=(6 * len(tasks) * 2 / 1.5, 8),
                                squeeze=False)
    for column, (task, mode) in enumerate((t, m) for t in tasks for m in ("fixed", "tuned")):
        top, bottom = axes[0][column], axes[1][column]
        selected = [r for r in rows if r["task"] == task and r["scale_mode"] == mode]
        lines = [("kaldi", None)] + sorted({("golden", r["table_entries"]) for r in selected
                                            if r["decoder"] == "golden"}, key=lambda x: x[1])
        for decoder, entries in lines:
            points = sorted((r["sparsity"], r["tokens_per_frame"], r["wer"]) for r in selected
                            if r["decoder"] == decoder and r["table_entries"] == entries)
            if not points:
                continue
            label = "Kaldi FasterDecoder (= float)" if decoder == "kaldi" \
                else f"golden, table {entries}"
            style = "k-o" if decoder == "kaldi" else "--."
            top.plot([p[0] for p in points], [p[1] for p in points], style, label=label)
            bottom.plot([p[0] for p in points], [100 * p[2] for p in points], style, label=label)
        title = f"{task}, {mode} scale"
        found = (summary or {}).get(f"{task}/{mode}", {})
        if found.get("golden_run"):
            smallest = found["smallest_table_within_0.5pct_wer_up_to_90pct"]
            title += (f"\nsmallest table within 0.5 % WER: {smallest}"
                      f"\nfloat peak tokens/frame: "
                      f"{found['float_peak_tokens_per_frame_up_to_90pct']} (both <= 90 %)")
        top.set(yscale="log", title=title, xlabel="sparsity", ylabel="hypotheses per frame")
        bottom.set(xlabel="sparsity", ylabel="WER %")
        top.legend(fontsize=7)
        top.title.set_fontsize(9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
