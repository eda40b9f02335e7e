"""Float decoder == Kaldi FasterDecoder: same words, cost within 1e-3 relative.

Cases mix random graphs (``sw.graph.random_graph``) with graphs from the builders (digit loop,
bigram over a random lexicon), random options (beam, max-active, min-active, scale, penalty)
and scores that are either pure noise or synthetic utterances (a random walk through the graph
with noisy one-hot log-posteriors, some rounded to provoke cost ties).
"""

import numpy as np
import pytest

from sw.decoder import DecoderError, DecoderOptions, PreparedGraph, decode, synthetic_loglikes
from sw.graph import random_graph
from sw.graph_build import build_bigram_graph, build_digit_loop, random_lexicon, random_sentences
from sw.peers import KaldiFasterDecoder, same_result, to_kaldi_fst


def make_graph(seed):
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:
        return random_graph(seed, num_states=int(rng.integers(3, 40)),
                            num_pdfs=int(rng.integers(2, 12)),
                            arcs_per_state=float(rng.uniform(1.2, 4.0)),
                            epsilon_fraction=float(rng.uniform(0.0, 0.4)))
    if kind == 1:
        return random_graph(seed, num_states=int(rng.integers(200, 2500)),
                            num_pdfs=int(rng.integers(10, 50)),
                            arcs_per_state=float(rng.uniform(1.5, 5.0)),
                            epsilon_fraction=float(rng.uniform(0.0, 0.3)))
    lexicon = random_lexicon(seed, num_words=int(rng.integers(3, 40)),
                             num_phones=int(rng.integers(3, 15)))
    if kind == 2:
        return build_digit_loop(lexicon, silence=bool(rng.integers(2)),
                                word_penalty=float(rng.uniform(0, 2)))
    sentences = random_sentences(seed, lexicon.words, int(rng.integers(5, 60)))
    return build_bigram_graph(lexicon, sentences, silence=bool(rng.integers(2)))


def make_options(rng):
    max_active = int(rng.choice([2 ** 31 - 1, rng.integers(2, 300)]))
    return DecoderOptions(beam=float(rng.uniform(1.0, 14.0)), max_active=max_active,
                          min_active=min(int(rng.choice([0, 1, 20])), max_active - 1),
                          beam_delta=float(rng.choice([0.0, 0.5])),
                          acoustic_scale=float(rng.uniform(0.2, 1.5)),
                          word_penalty=float(rng.uniform(-0.5, 1.0)))


def make_scores(graph, rng, seed):
    frames = int(rng.integers(1, 60))
    if rng.random() < 0.3:
        loglik = rng.normal(size=(frames, graph.num_pdfs)) * float(rng.uniform(0.2, 3.0))
    else:
        loglik, _ = synthetic_loglikes(graph, seed, frames, boost=float(rng.uniform(0.5, 5.0)))
    if rng.random() < 0.2:
        loglik = np.round(loglik, 1)  # equal costs: Kaldi's tie rules must hold too
    return loglik


def agree(ours, kaldi):
    return same_result(ours, kaldi, relative=1e-3)


def compare(graph_seeds, utterances_per_graph):
    results = []
    for seed in graph_seeds:
        graph = make_graph(seed)
        rng = np.random.default_rng(10_000 + seed)
        options = make_options(rng)
        prepared = PreparedGraph(graph, options.word_penalty)
        kaldi = KaldiFasterDecoder(graph, options)
        for u in range(utterances_per_graph):
            loglik = make_scores(graph, rng, 1000 * seed + u)
            ours, theirs = decode(prepared, loglik, options), kaldi.decode(loglik)
            results.append((seed, u, agree(ours, theirs), ours, theirs))
    return results


def test_float_decoder_equals_kaldi_on_20_graphs():
    results = compare(range(20), 2)
    bad = [(s, u, o.words, k.words, o.cost, k.cost) for s, u, ok, o, k in results if not ok]
    assert not bad, bad
    assert len(results) == 40


@pytest.mark.slow
def test_float_decoder_equals_kaldi_on_240_graphs_and_480_utterances():
    results = compare(range(100, 340), 2)
    bad = [(s, u, o.words, k.words, o.cost, k.cost) for s, u, ok, o, k in results if not ok]
    assert not bad, bad
    assert len(results) == 480


@pytest.mark.slow
def test_float_decoder_equals_kaldi_on_a_1000_word_bigram():
    lexicon = random_lexicon(7, num_words=1000, num_phones=40, max_phones_per_word=7)
    sentences = random_sentences(7, lexicon.words, 3000, min_length=4, max_length=12)
    graph = build_bigram_graph(lexicon, sentences)
    options = DecoderOptions(beam=14.0, max_active=5000, acoustic_scale=0.8)
    prepared, kaldi = PreparedGraph(graph), KaldiFasterDecoder(graph, options)
    for seed in range(20):
        loglik, _ = synthetic_loglikes(graph, seed, 200, boost=2.0, noise=1.0)
        ours, theirs = decode(prepared, loglik, options), kaldi.decode(loglik)
        assert agree(ours, theirs), (seed, ours.words, theirs.words, ours.cost, theirs.cost)


def test_kaldi_fst_has_the_graph_structure():
    graph = random_graph(2, num_states=30)
    fst = to_kaldi_fst(graph)
    assert fst.num_states == graph.num_states
    assert fst.start == graph.start
    assert sum(fst.num_arcs(s) for s in range(fst.num_states)) == graph.num_arcs


def test_kaldi_peer_reports_timing():
    graph = random_graph(4, num_states=50, num_pdfs=6)
    result = KaldiFasterDecoder(graph).decode(np.random.default_rng(0).normal(size=(25, 6)))
    assert result.frames == 25
    assert result.seconds_per_frame > 0


def test_kaldi_peer_refuses_nan_scores():
    loglik = np.zeros((3, 6))
    loglik[0, 0] = np.nan
    with pytest.raises(DecoderError, match=r"scores\[0, 0\] = nan is not finite"):
        KaldiFasterDecoder(random_graph(4, num_pdfs=6)).decode(loglik)


def test_kaldi_peer_refuses_a_wrong_number_of_pdfs():
    with pytest.raises(DecoderError, match=r"shape \(frames, 6\)"):
        KaldiFasterDecoder(random_graph(4, num_pdfs=6)).decode(np.zeros((3, 7)))


def test_kaldi_peer_needs_a_graph():
    with pytest.raises(DecoderError, match="graph must be a sw.graph.Graph"):
        KaldiFasterDecoder(None)


def test_costs_near_zero_are_compared_absolutely():
    from types import SimpleNamespace

    from sw.peers import cost_difference

    def result(cost, words=(1, 2)):
        return SimpleNamespace(words=words, cost=cost, final_reached=True)

    # a corpus utterance: total 0.0240 vs Kaldi's float32 0.0237 (terms in the hundreds)
    assert same_result(result(0.024011559784412384), result(0.0236968994140625))
    assert cost_difference(0.0240, 0.0237) == pytest.approx(3e-4)
    assert not same_result(result(0.0240), result(0.0260))  # 2e-3 absolute: too far
    assert same_result(result(1000.5), result(1000.0)) and not same_result(result(1002),
                                                                            result(1000))
    assert not same_result(result(5.0, (1,)), result(5.0))


def test_tuning_with_kaldi_chooses_what_the_float_decoder_chooses():
    from sw.decoder import tune

    lexicon = random_lexicon(5, num_words=12, num_phones=8)
    graph = build_bigram_graph(lexicon, random_sentences(5, lexicon.words, 30), silence=True)
    dev = []
    for seed in range(6):
        loglik, words = synthetic_loglikes(graph, seed, 40, boost=3.0, noise=1.5)
        dev.append((loglik, words))
    grid = dict(scales=(0.3, 0.6, 1.0, 2.0), penalties=(0.0, 1.0),
                options=DecoderOptions(beam=8.0, max_active=200))
    by_float = tune(graph, dev, **grid)
    by_kaldi = tune(graph, dev, decoder="kaldi", **grid)
    assert (by_kaldi.acoustic_scale, by_kaldi.word_penalty, by_kaldi.wer) == (
        by_float.acoustic_scale, by_float.word_penalty, by_float.wer)
    assert [row["wer"] for row in by_kaldi.grid] == [row["wer"] for row in by_float.grid]
    least = min(row["wer"] for row in by_float.grid)
    for ours, theirs in zip(by_kaldi.grid, by_float.grid, strict=True):
        # only the points tied at the lowest WER are decoded again, for their tokens
        expected = theirs["tokens_per_frame"] if theirs["wer"] == least else None
        assert ours["tokens_per_frame"] == expected


def test_tuning_with_an_unknown_decoder_is_refused():
    from sw.decoder import tune

    with pytest.raises(DecoderError, match="tune's decoder must be 'float' or 'kaldi', not 'x'"):
        tune(random_graph(1), [(np.zeros((2, 10)), ())], decoder="x")
