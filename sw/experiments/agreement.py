"""Does the bit-exact hardware decoder find the float decoder's best path?

With a table that never evicts (one set per state, or enough ways) and fine fixed point, the
golden hardware model differs from the float reference decoder only by its beam rule
(order-exact running best instead of Kaldi's previous-frame cutoff) and by rounding. This
counts utterances whose word sequences agree and keeps the others for inspection.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hw.config import CostConfig, ViterbiConfig, bits_for
from sw.experiments.tasks import fitted_config, loglik_costs

__all__ = ["FINE_COST", "ablation", "agreement", "hardware_variants", "unbounded_config"]

FINE_COST = CostConfig(cost_width=28, cost_frac=10)


def unbounded_config(graph, *, beam: float = 16.0, cost: CostConfig = FINE_COST
                     ) -> ViterbiConfig:
    """A table that holds every state of ``graph`` without eviction (xor-fold of a state id
    below ``sets`` is the id itself, so each set holds at most ``ceil(states / sets)``)."""
    states = graph.num_states
    sets = min(4096, 1 << bits_for(states - 1))
    ways = -(-states // sets)
    if ways > 16:
        raise ValueError(f"a graph of {states} states needs {ways} ways per set (at most 16)")
    return fitted_config(graph, sets=sets, ways=ways, beam=beam, trace_depth=65536,
                         max_epsilon_passes=16, cost=cost)


def agreement(graph, logliks, *, acoustic_scale: float, beam: float = 16.0) -> dict:
    """Decode every log-likelihood matrix with both decoders; count equal word sequences."""
    from sw.decoder import DecoderOptions, PreparedGraph, decode
    from sw.golden.viterbi import decode as golden_decode

    config = unbounded_config(graph, beam=beam)
    options = DecoderOptions(beam=beam, acoustic_scale=acoustic_scale)
    prepared = PreparedGraph(graph, 0.0)
    differing = []
    for index, loglik in enumerate(logliks):
        reference = decode(prepared, loglik, options)
        # The cost unit subtracts each frame's best score; that shifts every path of a frame
        # by the same amount, so the best path is unchanged.
        costs = loglik_costs(np.asarray(loglik), acoustic_scale, config.cost)
        golden = golden_decode(graph, costs, config)
        if tuple(golden.words) != tuple(reference.words):
            differing.append({"utterance": index, "float": list(reference.words),
                              "golden": list(golden.words),
                              "float_final": bool(reference.final_reached),
                              "golden_final": bool(golden.final_reached),
                              "golden_drops": golden.counters.drops,
                              "trace_overflow": golden.trace_overflow})
    count = len(logliks)
    return {"utterances": count, "same_words": count - len(differing),
            "fraction": (count - len(differing)) / max(1, count), "table_entries":
            config.table_entries, "cost_width": config.cost.cost_width,
            "cost_frac": config.cost.cost_frac, "differing": differing}


def ablation(graph, scored, *, acoustic_scale: float, word_penalty: float = 0.0,
             beam: float = 16.0, base: dict, variants: dict, progress: bool = False) -> dict:
    """Change one hardware setting at a time and see what it does to the golden decoder.

    Parameters
    ----------
    graph : Graph
        Decoding graph (the word penalty is added to its word arcs for the golden decoder).
    scored : list of (loglik, reference word ids)
        Utterances; the float reference decoder (unbounded max-active) decodes them too.
    acoustic_scale, word_penalty, beam : float
        Search options shared by both decoders (beam in cost units, converted to each
        variant's fixed point).
    base : dict
        :func:`~sw.experiments.tasks.fitted_config` keywords of the configuration under study
        (``sets``, ``ways``, ``trace_depth``, ``max_epsilon_passes``, ``hash_kind``, ``cost``).
    variants : dict
        ``name -> keywords`` replacing some of ``base``; ``{}`` is the base itself.

    Returns
    -------
    dict
        ``float``: WER of the float decoder; ``variants``: per name its configuration, WER,
        utterances whose words equal the float decoder's, those that differ, and summed
        counters (drops, replacements, beam-pruned, epsilon limit hits, trace overflows,
        utterances with no final state reached).
    """
    from tqdm import tqdm

    from sw.decoder import DecoderOptions, PreparedGraph, decode, word_errors
    from sw.experiments.tasks import penalized
    from sw.golden.viterbi import decode as golden_decode

    options = DecoderOptions(beam=beam, acoustic_scale=acoustic_scale, word_penalty=word_penalty)
    prepared = PreparedGraph(graph, word_penalty)
    references = [tuple(reference) for _, reference in scored]
    words = max(1, sum(len(r) for r in references))
    floats = [decode(prepared, loglik, options) for loglik, _ in scored]
    float_errors = sum(word_errors(r, f.words) for r, f in zip(references, floats, strict=True))
    hardware_graph = penalized(graph, word_penalty)
    out = {"utterances": len(scored), "reference_words": words, "acoustic_scale": acoustic_scale,
           "word_penalty": word_penalty, "beam": beam,
           "float": {"wer": float_errors / words, "errors": float_errors,
                     "final_reached": sum(bool(f.final_reached) for f in floats)},
           "variants": {}}
    for name, change in tqdm(variants.items(), desc="ablation", disable=not progress):
        settings = {"beam": beam, **base, **change}
        config = fitted_config(graph, **settings)
        errors, differing = 0, []
        totals = {"drops": 0, "replacements": 0, "beam_pruned": 0, "epsilon_limit_hit": 0,
                  "trace_overflows": 0, "final_not_reached": 0}
        for index, ((loglik, _reference), reference_float) in enumerate(
                zip(scored, floats, strict=True)):
            costs = loglik_costs(np.asarray(loglik), acoustic_scale, config.cost)
            golden = golden_decode(hardware_graph, costs, config)
            errors += word_errors(references[index], golden.words)
            if tuple(golden.words) != tuple(reference_float.words):
                differing.append(index)
            for key in ("drops", "replacements", "beam_pruned", "epsilon_limit_hit"):
                totals[key] += getattr(golden.counters, key)
            totals["trace_overflows"] += bool(golden.trace_overflow)
            totals["final_not_reached"] += not golden.final_reached
        out["variants"][name] = {
            "change": {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v)
                       for k, v in change.items()},
            "table_entries": config.table_entries, "cost_width": config.cost.cost_width,
            "cost_frac": config.cost.cost_frac, "beam_units": config.beam,
            "max_epsilon_passes": config.max_epsilon_passes, "hash": config.hash,
            "wer": errors / words, "errors": errors,
            "same_words_as_float": len(scored) - len(differing), "differing": differing,
            **totals}
    return out


def hardware_variants(graph, entries: int, ways: int = 4) -> dict:
    """The single-setting changes of a darkside table of ``entries`` entries: finer and wider
    costs, more epsilon passes, the other hash, the same entries in more ways, more entries,
    a table that never evicts, and a wider beam (the hardware has no Kaldi ``min_active``)."""
    unbounded = unbounded_config(graph)
    sets = max(1, entries // ways)
    variants = {"darkside": {},
                "cost 16 bits, 8 fractional": {"cost": CostConfig(cost_width=16, cost_frac=8)},
                "cost 28 bits, 10 fractional": {"cost": FINE_COST},
                "16 epsilon passes": {"max_epsilon_passes": 16},
                "multiplicative hash": {"hash_kind": "multiplicative"}}
    for more in (4, 16):
        if more > ways and entries >= more:
            variants[f"{entries // more} x {more} (same entries)"] = {"sets": entries // more,
                                                                     "ways": more}
    for factor in (2, 4):
        variants[f"{factor}x entries"] = {"sets": min(4096, sets * factor)}
    variants["never evicts"] = {"sets": unbounded.sets, "ways": unbounded.ways}
    variants["beam 20"] = {"beam": 20.0}
    return variants
