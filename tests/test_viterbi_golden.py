"""Golden Viterbi model: exact on unbounded tables, bounded on small ones, its errors."""

import numpy as np
import pytest

from hw.config import ConfigError, CostConfig, ViterbiConfig
from sw.golden.viterbi import ViterbiInputError, decode, set_index
from sw.graph import random_graph

EXACT = ViterbiConfig(sets=32, ways=1, beam=(1 << 24) - 1, max_epsilon_passes=16,
                      trace_depth=65536, cost=CostConfig(cost_width=24, cost_frac=8))


def reference(graph, costs, config):
    """Exhaustive Viterbi over all states with the same integer costs: (cost, words)."""
    arc_cost, final_cost = graph.fixed_point_costs(config.cost.cost_frac, config.cost_max)
    best = {graph.start: (0, ())}

    def close(tokens):
        changed = True
        while changed:
            changed = False
            for state, (cost, words) in list(tokens.items()):
                for arc in graph.arcs(state):
                    if graph.arc_ilabel[arc]:
                        continue
                    dest, olabel = int(graph.arc_dest[arc]), int(graph.arc_olabel[arc])
                    new = (cost + int(arc_cost[arc]), words + ((olabel,) if olabel else ()))
                    if dest not in tokens or new[0] < tokens[dest][0]:
                        tokens[dest] = new
                        changed = True
        return tokens

    best = close(best)
    for frame in range(costs.shape[0]):
        following = {}
        for state, (cost, words) in best.items():
            for arc in graph.arcs(state):
                ilabel = int(graph.arc_ilabel[arc])
                if not ilabel:
                    continue
                dest, olabel = int(graph.arc_dest[arc]), int(graph.arc_olabel[arc])
                new = (cost + int(arc_cost[arc]) + int(costs[frame, ilabel - 1]),
                       words + ((olabel,) if olabel else ()))
                if dest not in following or new[0] < following[dest][0]:
                    following[dest] = new
        best = close(following)
    finals = [(cost + int(final_cost[s]), words) for s, (cost, words) in best.items()
              if final_cost[s] < config.cost_max]
    return min(finals) if finals else None


def random_costs(rng, frames, pdfs):
    return rng.integers(0, 8 << 8, (frames, pdfs))


def test_unbounded_table_finds_the_exact_best_path_on_200_graphs():
    same_words = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        graph = random_graph(seed, num_states=20, num_pdfs=8, num_words=5)
        costs = random_costs(rng, int(rng.integers(1, 12)), graph.num_pdfs)
        expected = reference(graph, costs, EXACT)
        result = decode(graph, costs, EXACT)
        if expected is None:
            assert not result.final_reached
            continue
        assert result.final_reached and result.total_cost == expected[0], seed
        same_words += result.words == list(expected[1])
        assert result.counters.epsilon_limit_hit == 0
    assert same_words >= 190  # the rest are ties between equal-cost paths


@pytest.mark.parametrize("sets, ways", [(1, 1), (4, 2), (16, 4)])
def test_small_tables_bound_the_hypotheses(sets, ways):
    config = ViterbiConfig(sets=sets, ways=ways, beam=(1 << 16) - 1)
    rng = np.random.default_rng(sets)
    graph = random_graph(5, num_states=200, num_pdfs=10, arcs_per_state=4)
    result = decode(graph, random_costs(rng, 20, 10) >> 4, config)
    assert max(result.tokens_per_frame) <= sets * ways
    assert result.counters.drops + result.counters.replacements > 0


def test_tables_are_snapshotted_per_frame():
    graph = random_graph(1)
    costs = random_costs(np.random.default_rng(1), 4, graph.num_pdfs) >> 4
    result = decode(graph, costs, ViterbiConfig(sets=4, ways=2), keep_tables=True)
    assert len(result.tables) == 4 and result.tables[0].shape == (4, 2, 3)


def test_trace_overflow_sets_the_flag():
    graph = random_graph(3, num_states=30, num_words=5)
    costs = random_costs(np.random.default_rng(3), 30, graph.num_pdfs) >> 4
    config = ViterbiConfig(sets=8, ways=4, trace_depth=2, beam=(1 << 16) - 1)
    assert decode(graph, costs, config).trace_overflow
    assert not decode(graph, costs, config.__class__(sets=8, ways=4, trace_depth=65536,
                                                     beam=(1 << 16) - 1)).trace_overflow


def test_narrow_beam_prunes():
    graph = random_graph(4, num_states=50)
    costs = random_costs(np.random.default_rng(4), 10, graph.num_pdfs)
    wide = decode(graph, costs, ViterbiConfig(beam=(1 << 16) - 1))
    narrow = decode(graph, costs, ViterbiConfig(beam=16))
    assert narrow.counters.beam_pruned > wide.counters.beam_pruned
    assert sum(narrow.tokens_per_frame) < sum(wide.tokens_per_frame)


def test_xor_fold_and_multiplicative_hashes():
    config = ViterbiConfig(sets=16)
    assert set_index(0x1234, config) == 0x1 ^ 0x2 ^ 0x3 ^ 0x4
    multiplicative = ViterbiConfig(sets=16, hash="multiplicative")
    assert set_index(1, multiplicative) == 0x9E3779B1 >> 28
    assert set_index(12345, ViterbiConfig(sets=1)) == 0


@pytest.mark.parametrize("sets, ways", [(s, w) for s in (1, 4, 16, 64) for w in (1, 2, 4, 8)])
def test_every_geometry_is_valid(sets, ways):
    assert ViterbiConfig(sets=sets, ways=ways).table_entries == sets * ways


def test_rejects_sets_not_a_power_of_two():
    with pytest.raises(ConfigError, match=r"ViterbiConfig.sets must be a power of two from 1 "
                                          r"to 4096, not 12"):
        ViterbiConfig(sets=12)


def test_rejects_zero_ways():
    with pytest.raises(ConfigError, match=r"ViterbiConfig.ways must be an int from 1 to 16, "
                                          r"not 0"):
        ViterbiConfig(ways=0)


def test_rejects_unknown_hash():
    with pytest.raises(ConfigError, match=r"ViterbiConfig.hash must be one of 'xor_fold', "
                                          r"'multiplicative', not 'crc'"):
        ViterbiConfig(hash="crc")


def test_rejects_a_skip_flag_that_is_not_a_bool():
    with pytest.raises(ConfigError, match=r"ViterbiConfig.skip_settled_passes must be a bool, "
                                          r"not 1"):
        ViterbiConfig(skip_settled_passes=1)


def test_rejects_beam_wider_than_costs():
    with pytest.raises(ConfigError, match=r"ViterbiConfig.beam must be an int from 0 to 65535"):
        ViterbiConfig(beam=1 << 16)


def test_rejects_state_width_too_small_for_the_graph():
    graph = random_graph(0, num_states=20)
    with pytest.raises(ViterbiInputError, match=r"state_bits 4 holds 16 states; the graph has "
                                                r"20"):
        decode(graph, np.zeros((1, graph.num_pdfs), dtype=np.int64),
               ViterbiConfig(state_bits=4, max_states=16))


def test_rejects_wrong_number_of_pdfs():
    graph = random_graph(0)
    with pytest.raises(ViterbiInputError, match=r"costs must have shape \(frames, 10\) for this "
                                                r"graph's pdfs, not \(3, 9\)"):
        decode(graph, np.zeros((3, 9), dtype=np.int64), ViterbiConfig())


def test_rejects_nan_costs():
    graph = random_graph(0)
    with pytest.raises(ViterbiInputError, match=r"costs contain NaN or infinite values"):
        decode(graph, np.full((2, 10), np.nan), ViterbiConfig())


def test_rejects_float_costs():
    graph = random_graph(0)
    with pytest.raises(ViterbiInputError, match=r"costs must be unsigned fixed-point integers"):
        decode(graph, np.zeros((2, 10)), ViterbiConfig())


def test_rejects_costs_out_of_range():
    graph = random_graph(0)
    costs = np.zeros((2, 10), dtype=np.int64)
    costs[0, 0] = -1
    with pytest.raises(ViterbiInputError, match=r"costs must be within 0..65535 \(16-bit\), "
                                                r"found -1..0"):
        decode(graph, costs, ViterbiConfig())


# ---- word-trace collection ---------------------------------------------------------------

def _many_word_utterance(frames=300, num_words=120, seed=7):
    """A bigram over ``num_words`` words (a word label on every word's first arc, so every
    frame hypothesises many words) and one long synthetic utterance on it."""
    from sw.decoder import synthetic_loglikes
    from sw.experiments.tasks import fitted_config, loglik_costs
    from sw.graph_build import build_bigram_graph, random_lexicon, random_sentences

    lexicon = random_lexicon(seed, num_words=num_words, num_phones=20, max_phones_per_word=4)
    words = sorted(lexicon.prons)
    graph = build_bigram_graph(lexicon, random_sentences(seed, words, 400), words)
    config = fitted_config(graph, sets=16, ways=4, trace_depth=65536)
    loglik, _ = synthetic_loglikes(graph, seed, frames)
    return graph, loglik_costs(loglik, 1.0, config.cost), config


def _with(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


def test_collection_keeps_a_long_utterance_decoding_in_a_small_trace():
    graph, costs, config = _many_word_utterance()
    reference = decode(graph, costs, _with(config, trace_gc_free=0))  # 65,536 entries
    assert not reference.trace_overflow and reference.words
    assert reference.trace_appends > 4000  # what a trace without collection needs
    small = _with(config, trace_depth=512, trace_gc_free=256)
    assert decode(graph, costs, _with(small, trace_gc_free=0)).trace_overflow
    collected = decode(graph, costs, small)
    assert not collected.trace_overflow
    assert collected.counters.trace_collections >= 10
    assert collected.trace_peak <= 512 and collected.trace_appends == reference.trace_appends
    assert collected.words == reference.words
    assert collected.total_cost == reference.total_cost
    for name in ("inserts", "updates", "replacements", "drops", "beam_pruned"):
        assert getattr(collected.counters, name) == getattr(reference.counters, name)


def _chain(pointer, word, parent, free=frozenset()):
    """Words of the chain from ``pointer``; none of its entries may be free."""
    words = []
    while pointer != -1:
        assert pointer not in free, ("a live entry on the free list", pointer)
        assert len(words) < len(word), "a cycle"
        words.append(int(word[pointer]))
        pointer = int(parent[pointer])
    return words


def test_free_list_never_holds_an_entry_a_hypothesis_can_reach():
    """After every frame each table entry's chain reads the same words as with an unbounded,
    uncollected trace, and no entry on any chain is on the free list."""
    graph, costs, config = _many_word_utterance(frames=120)
    reference = decode(graph, costs, _with(config, trace_gc_free=0), keep_tables=True)
    small = _with(config, trace_depth=384, trace_gc_free=240)
    collected = decode(graph, costs, small, keep_tables=True)
    assert not collected.trace_overflow and collected.counters.trace_collections >= 5
    for frame, (table, trace) in enumerate(zip(collected.tables, collected.traces,
                                               strict=True)):
        word, parent, head, high_water = trace
        free, pointer = set(), head
        while pointer != -1:
            assert pointer not in free and 0 <= pointer < high_water, frame
            free.add(pointer)
            pointer = int(parent[pointer])
        reference_table = reference.tables[frame]
        reference_word, reference_parent = reference.traces[frame][:2]
        assert np.array_equal(table[..., :2], reference_table[..., :2]), frame

        for s, w in zip(*np.nonzero(table[..., 0] >= 0), strict=True):
            assert _chain(int(table[s, w, 2]), word, parent, free) == _chain(
                int(reference_table[s, w, 2]), reference_word, reference_parent), (frame, s, w)


def test_sweep_frees_upward_so_the_highest_free_entry_is_taken_first():
    from sw.golden.viterbi import WordTrace

    trace = WordTrace(8)
    for word in range(1, 7):  # entry word - 1; chains 3 -> 1 -> 0 and 2 -> 0; 4, 5 alone
        trace.append(word, {1: -1, 2: 0, 3: 0, 4: 1, 5: -1, 6: -1}[word])
    trace.collect([3, -1, 1, 3])  # live: 3 -> 1 -> 0 (1 and 3 reached twice)
    assert trace.free_list() == [5, 4, 2] and trace.free == 8 - 3
    assert trace.chain(3) == [4, 2, 1] and trace.chain(1) == [2, 1]
    assert [trace.append(9, 3) for _ in range(4)] == [5, 4, 2, 6]  # then the high-water mark
    assert trace.free == 1 and not any(trace.marked)


def test_trace_is_full_only_when_free_list_and_high_water_are_exhausted():
    from sw.golden.viterbi import WordTrace

    trace = WordTrace(2)
    assert [trace.append(1, -1), trace.append(2, 0), trace.append(3, 1)] == [0, 1, -1]
    trace.collect([0])
    assert trace.append(4, 0) == 1 and trace.append(5, 1) == -1


def test_digit_like_task_rarely_collects_with_the_default_threshold():
    from sw.decoder import synthetic_loglikes
    from sw.experiments.tasks import fitted_config, loglik_costs, task_graph

    graph, _ = task_graph("digits")
    config = fitted_config(graph, sets=64, ways=4)
    assert config.trace_gc_threshold == config.trace_depth // 2
    loglik, _ = synthetic_loglikes(graph, 3, 200)
    result = decode(graph, loglik_costs(loglik, 1.0, config.cost), config)
    assert result.counters.trace_collections == 0 and not result.trace_overflow


def test_rejects_gc_threshold_above_the_trace_depth():
    with pytest.raises(ConfigError, match=r"ViterbiConfig.trace_gc_free must be an int from 0 "
                                          r"to 64, not 65"):
        ViterbiConfig(trace_depth=64, trace_gc_free=65)


def test_rejects_negative_gc_threshold():
    with pytest.raises(ConfigError, match=r"ViterbiConfig.trace_gc_free must be an int from 0 "
                                          r"to 4096, not -1"):
        ViterbiConfig(trace_gc_free=-1)


@pytest.mark.parametrize("passes", [1, 2, 3, 8])
def test_skipping_settled_epsilon_passes_changes_no_table_only_the_work(passes):
    """The pass after a settled one would change nothing: skipping it (as the unit does) gives
    the literal closure's tables, traces, words and costs after every frame, and counts fewer
    arcs (with the prunes and drops those arcs would have met) on some utterances."""
    import dataclasses

    from sim.viterbi_cases import COLLECT_CONFIG, SIM_CONFIG, make_cases, make_collect_cases

    fewer = 0
    for cases, config in ((make_cases(120, seed=11), SIM_CONFIG),
                          (make_collect_cases(6, seed=12), COLLECT_CONFIG)):
        config = dataclasses.replace(config, max_epsilon_passes=passes)
        every_pass = dataclasses.replace(config, skip_settled_passes=False)
        for case in cases:
            literal = decode(case.graph, case.costs, every_pass, keep_tables=True)
            skipped = decode(case.graph, case.costs, config, keep_tables=True)
            assert skipped.words == literal.words, case.name
            assert skipped.total_cost == literal.total_cost, case.name
            assert (skipped.final_reached, skipped.trace_overflow, skipped.trace_appends) == (
                literal.final_reached, literal.trace_overflow, literal.trace_appends)
            for before, after in zip(literal.tables, skipped.tables, strict=True):
                np.testing.assert_array_equal(after, before)
            assert repr(skipped.traces) == repr(literal.traces), case.name
            for name in ("frames", "hypotheses_read", "inserts", "updates", "replacements",
                         "epsilon_limit_hit", "trace_collections"):
                assert getattr(skipped.counters, name) == getattr(literal.counters, name)
            for name in ("arcs_expanded", "beam_pruned", "drops"):
                assert getattr(skipped.counters, name) <= getattr(literal.counters, name)
            fewer += skipped.counters.arcs_expanded < literal.counters.arcs_expanded
    if passes > 1:  # with one pass allowed there is no next pass to skip
        assert fewer >= 10
    else:
        assert fewer == 0
