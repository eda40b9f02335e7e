"""Float reference decoder: exact Viterbi without pruning, Kaldi rules, options, errors."""

import numpy as np
import pytest

from sw.decoder import (
    DecoderError,
    DecoderOptions,
    PreparedGraph,
    decode,
    scaled_loglikes,
    tune,
    word_errors,
)
from sw.graph import from_arc_list, random_graph

UNPRUNED = DecoderOptions(beam=1e6, min_active=0)


def exhaustive(graph, costs):
    """Plain Viterbi over every state (no pruning): (best cost, words) or None."""
    best = {graph.start: (0.0, ())}

    def close(tokens):
        changed = True
        while changed:
            changed = False
            for state, (cost, words) in list(tokens.items()):
                for arc in graph.arcs(state):
                    if graph.arc_ilabel[arc]:
                        continue
                    olabel = int(graph.arc_olabel[arc])
                    new = (cost + graph.arc_cost[arc], words + ((olabel,) if olabel else ()))
                    dest = int(graph.arc_dest[arc])
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
                olabel = int(graph.arc_olabel[arc])
                new = (cost + graph.arc_cost[arc] + costs[frame, ilabel - 1],
                       words + ((olabel,) if olabel else ()))
                dest = int(graph.arc_dest[arc])
                if dest not in following or new[0] < following[dest][0]:
                    following[dest] = new
        best = close(following)
    finals = [(cost + graph.final_cost[s], words) for s, (cost, words) in best.items()
              if np.isfinite(graph.final_cost[s])]
    return min(finals) if finals else None


def test_without_pruning_the_decoder_is_exact_viterbi_on_50_graphs():
    checked = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        graph = random_graph(seed, num_states=int(rng.integers(4, 25)), num_pdfs=6)
        loglik = rng.normal(size=(int(rng.integers(1, 15)), 6))
        want = exhaustive(graph, -loglik)
        got = decode(graph, loglik, UNPRUNED)
        if want is None:
            assert not got.final_reached
            continue
        checked += 1
        assert got.final_reached
        assert got.cost == pytest.approx(want[0], rel=1e-5)
        assert got.words == want[1]
    assert checked >= 30


def line_graph():
    """0 -a-> 1 -b-> 2 (final), with a competing non-final branch 0 -c-> 3 -c-> 3."""
    arcs = [(0, 1, 1, 1, 0.5), (1, 2, 2, 2, 0.5), (0, 3, 3, 3, 0.1), (3, 3, 3, 0, 0.1)]
    return from_arc_list(4, 0, arcs, {2: 0.0}, num_pdfs=3,
                         words=("<eps>", "a", "b", "c"))


def test_known_answer_on_a_small_graph():
    loglik = np.log(np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]))
    result = decode(line_graph(), loglik, UNPRUNED)
    assert result.text == ("a", "b")
    assert result.cost == pytest.approx(1.0 - 2 * np.log(0.8), rel=1e-6)
    assert result.final_reached
    assert list(result.tokens_per_frame) == [1, 2]


def test_acoustic_scale_and_word_penalty_shift_the_cost():
    loglik = np.log(np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]))
    options = DecoderOptions(beam=1e6, min_active=0, acoustic_scale=0.5, word_penalty=0.25)
    result = decode(line_graph(), loglik, options)
    assert result.cost == pytest.approx(1.0 + 2 * 0.25 - 0.5 * 2 * np.log(0.8), rel=1e-6)


def test_best_token_is_used_when_no_final_state_is_reached():
    loglik = np.log(np.array([[0.8, 0.1, 0.1]]))
    result = decode(line_graph(), loglik, UNPRUNED)
    assert not result.final_reached
    assert result.text == ("a",)
    assert result.cost == pytest.approx(0.5 - np.log(0.8), rel=1e-6)


def test_max_active_bounds_the_expanded_tokens():
    graph = random_graph(3, num_states=400, num_pdfs=8, arcs_per_state=4.0)
    loglik = np.random.default_rng(3).normal(size=(30, 8)) * 0.1
    free = decode(graph, loglik, DecoderOptions(beam=50.0, min_active=0))
    bounded = decode(graph, loglik, DecoderOptions(beam=50.0, max_active=20, min_active=0))
    assert free.expanded_per_frame.max() > 20
    # Kaldi ranks costs as float32 and expands tokens strictly below the 21st smallest: 20
    # tokens, plus any whose float64 cost sits within float32 rounding of that value.
    assert bounded.expanded_per_frame.max() <= 22
    assert np.median(bounded.expanded_per_frame) == 20
    assert bounded.arcs_per_frame.sum() < free.arcs_per_frame.sum()


def test_a_prepared_graph_gives_the_same_result():
    graph = random_graph(5, num_states=30, num_pdfs=5)
    loglik = np.random.default_rng(5).normal(size=(12, 5))
    options = DecoderOptions(beam=6.0, word_penalty=0.5)
    a = decode(graph, loglik, options)
    b = decode(PreparedGraph(graph, 0.5), loglik, options)
    assert (a.words, a.cost) == (b.words, b.cost)


def test_word_errors():
    assert word_errors("a b c".split(), "a x c d".split()) == 2
    assert word_errors([], [1, 2]) == 2
    assert word_errors([1, 2], []) == 2


def test_tune_picks_the_grid_point_with_the_lowest_wer():
    graph = line_graph()
    good = np.log(np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]))
    result = tune(graph, [(good, (1, 2))], scales=(0.5, 1.0), penalties=(0.0, 1.0),
                  options=UNPRUNED)
    assert result.wer == 0.0
    assert len(result.grid) == 4
    assert {row["acoustic_scale"] for row in result.grid} == {0.5, 1.0}


# One test per error message.

def test_nan_scores_are_refused():
    loglik = np.zeros((3, 3))
    loglik[1, 2] = np.nan
    with pytest.raises(DecoderError, match=r"scores\[1, 2\] = nan is not finite"):
        decode(line_graph(), loglik)


def test_wrong_number_of_pdfs_is_refused():
    with pytest.raises(DecoderError, match=r"shape \(frames, 3\) for this graph's 3 pdfs"):
        decode(line_graph(), np.zeros((4, 5)))


def test_non_numeric_scores_are_refused():
    with pytest.raises(DecoderError, match="scores must be numbers"):
        scaled_loglikes(np.array([["a", "b", "c"]]), 3)


def test_beam_must_be_positive():
    with pytest.raises(DecoderError, match=r"beam = 0.0 must be > 0"):
        DecoderOptions(beam=0.0)


def test_beam_must_be_finite():
    with pytest.raises(DecoderError, match="beam must be a finite number"):
        DecoderOptions(beam=float("inf"))


def test_max_active_must_exceed_one():
    with pytest.raises(DecoderError, match=r"max_active = 1 is outside 2\.\."):
        DecoderOptions(max_active=1)


def test_min_active_must_be_below_max_active():
    with pytest.raises(DecoderError, match=r"min_active = 50 is outside 0\.\.9"):
        DecoderOptions(max_active=10, min_active=50)


def test_max_active_must_be_an_int():
    with pytest.raises(DecoderError, match="max_active must be an int"):
        DecoderOptions(max_active=10.0)


def test_acoustic_scale_must_be_positive():
    with pytest.raises(DecoderError, match="acoustic_scale = -1.0 must be > 0"):
        DecoderOptions(acoustic_scale=-1.0)


def test_hash_ratio_must_be_at_least_one():
    with pytest.raises(DecoderError, match="hash_ratio = 0.5 must be >= 1.0"):
        DecoderOptions(hash_ratio=0.5)


def test_options_must_be_decoder_options():
    with pytest.raises(DecoderError, match="options must be a DecoderOptions"):
        decode(line_graph(), np.zeros((1, 3)), {"beam": 3})


def test_graph_must_be_a_graph():
    with pytest.raises(DecoderError, match="graph must be a sw.graph.Graph"):
        decode("graph.npz", np.zeros((1, 3)))


def test_prepared_graph_penalty_must_match_the_options():
    with pytest.raises(DecoderError, match="prepared graph has word_penalty 0.0"):
        decode(PreparedGraph(line_graph()), np.zeros((1, 3)), DecoderOptions(word_penalty=1.0))


def test_tune_needs_dev_data():
    with pytest.raises(DecoderError, match="at least one dev utterance"):
        tune(line_graph(), [])


def test_tune_needs_a_grid():
    with pytest.raises(DecoderError, match="at least one scale and one penalty"):
        tune(line_graph(), [(np.zeros((1, 3)), ())], scales=())
