"""Graph builders (HMM x lexicon x grammar), bigram estimation, graph validation errors."""

import math
import time

import numpy as np
import pytest

from sw.decoder import DecoderOptions, decode
from sw.graph import Graph, GraphError, from_arrays, load_graph, save_graph
from sw.graph_build import (
    SENTENCE_END,
    SENTENCE_START,
    bigram_grammar,
    build_bigram_graph,
    build_digit_loop,
    estimate_bigram,
    random_lexicon,
    random_sentences,
)
from sw.lexicon import Lexicon

UNPRUNED = DecoderOptions(beam=1e6, min_active=0)


def toy_lexicon():
    return Lexicon(phones=("sil", "a", "b", "c", "d"),
                   prons={"one": (("a", "b"),), "two": (("c",), ("c", "d")),
                          "three": (("d", "a", "c"),)})


def spoken(lexicon, words, *, frames_per_state=2, silence=True, variant=0):
    """One-hot log-likelihoods of ``words`` spoken with the given pronunciation variant."""
    pdfs = []
    sil = [lexicon.pdf("sil", k) for k in range(3)]
    if silence:
        pdfs += sil
    for word in words:
        prons = lexicon.prons[word]
        for phone in prons[min(variant, len(prons) - 1)]:
            pdfs += [lexicon.pdf(phone, k) for k in range(3)]
    if silence:
        pdfs += sil
    pdfs = np.repeat(pdfs, frames_per_state)
    loglik = np.full((len(pdfs), lexicon.num_pdfs), np.log(0.01))
    loglik[np.arange(len(pdfs)), pdfs] = np.log(0.9)
    return loglik


def test_digit_loop_structure():
    lexicon = toy_lexicon()
    graph = build_digit_loop(lexicon)
    assert graph.words == ("<eps>", "one", "three", "two")
    hmm_states = 3 * (2 + 3 + 1 + 2) + 3  # word chains + silence
    assert graph.num_states == 1 + hmm_states
    entries = graph.arcs(0)
    olabels = graph.arc_olabel[entries]
    assert sorted(olabels.tolist()) == [0, 1, 2, 3, 3]  # silence, one, three, two x 2 variants
    two = [a for a in entries if graph.arc_olabel[a] == 3]
    assert all(graph.arc_ilabel[a] == lexicon.pdf("c", 0) + 1 for a in two)
    assert np.allclose(graph.arc_cost[[a for a in entries if graph.arc_olabel[a]]], math.log(3))
    assert graph.final_cost[0] == 0.0
    assert graph.num_pdfs == lexicon.num_pdfs


def test_hmm_topology_self_loops_and_forward_arcs():
    graph = build_digit_loop(toy_lexicon(), silence=False)
    for state in range(1, graph.num_states):
        arcs = list(graph.arcs(state))
        assert graph.arc_dest[arcs[0]] == state  # self-loop first
        assert graph.arc_cost[arcs[0]] == pytest.approx(math.log(2))
        assert len(arcs) == 2
        exit_arc = arcs[1]
        if graph.arc_ilabel[exit_arc] == 0:
            assert graph.arc_dest[exit_arc] == 0  # epsilon back to the loop state
        else:
            assert graph.arc_dest[exit_arc] == state + 1


@pytest.mark.parametrize("variant", [0, 1])
def test_digit_loop_decodes_what_was_spoken(variant):
    lexicon = toy_lexicon()
    graph = build_digit_loop(lexicon)
    sentence = ("two", "one", "three", "two")
    result = decode(graph, spoken(lexicon, sentence, variant=variant), UNPRUNED)
    assert result.text == sentence
    assert result.final_reached


def test_word_penalty_raises_the_word_cost():
    graph = build_digit_loop(toy_lexicon(), word_penalty=1.5)
    costs = graph.arc_cost[graph.arc_olabel != 0]
    assert np.allclose(costs, math.log(3) + 1.5)


def test_bigram_probabilities_sum_to_one():
    sentences = [("one", "two"), ("two", "three", "one"), ("one", "two", "two")]
    model = estimate_bigram(sentences)
    for history in (SENTENCE_START,) + model.vocabulary:
        total = sum(model.prob(history, w) for w in model.vocabulary + (SENTENCE_END,))
        assert total == pytest.approx(1.0)
    assert 0.1 <= model.discount <= 0.9


def test_bigram_grammar_has_one_backoff_state_with_epsilon_arcs():
    model = estimate_bigram([("one", "two"), ("two", "three", "one")])
    grammar = bigram_grammar(model)
    backoff = grammar.num_states - 1
    eps = grammar.word == 0
    assert np.all(grammar.dest[eps] == backoff)
    assert eps.sum() == len(model.vocabulary) + 1
    assert np.isfinite(grammar.final_cost[backoff])
    from_backoff = grammar.src == backoff
    assert sorted(grammar.word[from_backoff].tolist()) == [1, 2, 3]


def test_bigram_graph_decodes_a_training_sentence():
    lexicon = toy_lexicon()
    sentences = [("one", "two"), ("two", "three", "one"), ("three", "three")]
    graph = build_bigram_graph(lexicon, sentences)
    for sentence in sentences + [("one", "one", "three")]:  # the last one needs backoff
        result = decode(graph, spoken(lexicon, sentence), UNPRUNED)
        assert result.text == sentence
        assert result.final_reached
    assert np.all(graph.arc_cost >= 0)


def test_bigram_with_vocabulary_beyond_the_training_words():
    lexicon = toy_lexicon()
    graph = build_bigram_graph(lexicon, [("one", "two")], vocabulary=lexicon.words,
                               silence=False)
    assert graph.words == ("<eps>", "one", "three", "two")
    result = decode(graph, spoken(lexicon, ("three",), silence=False), UNPRUNED)
    assert result.text == ("three",)


def test_thousand_word_bigram_builds_in_seconds(tmp_path):
    lexicon = random_lexicon(1, num_words=1000, num_phones=40, max_phones_per_word=6)
    sentences = random_sentences(1, lexicon.words, 3000, min_length=4, max_length=12)
    began = time.perf_counter()
    graph = build_bigram_graph(lexicon, sentences)
    seconds = time.perf_counter() - began
    assert seconds < 10.0
    assert graph.num_states > 10_000
    assert graph.num_arcs > 2 * graph.num_states
    save_graph(tmp_path / "g.npz", graph)
    again = load_graph(tmp_path / "g.npz")
    assert again.words == graph.words
    assert np.array_equal(again.arc_dest, graph.arc_dest)
    assert np.array_equal(again.arc_cost, graph.arc_cost)


# Graph validation: one test per message.

def tiny(**change):
    fields = dict(start=0, state_offset=np.array([0, 1, 1]), arc_dest=np.array([1]),
                  arc_ilabel=np.array([1]), arc_olabel=np.array([1]),
                  arc_cost=np.array([0.5]), final_cost=np.array([np.inf, 0.0]), num_pdfs=2,
                  words=("<eps>", "a"))
    fields.update(change)
    return Graph(**fields)


def test_tiny_graph_is_valid():
    assert tiny().num_arcs == 1


def test_state_offset_too_short():
    with pytest.raises(GraphError, match="state_offset must have S \\+ 1 >= 2 entries"):
        tiny(state_offset=np.array([0]))


def test_arc_arrays_of_different_lengths():
    with pytest.raises(GraphError, match="arc_ilabel has shape"):
        tiny(arc_ilabel=np.array([1, 1]))


def test_state_offset_must_rise_to_the_arc_count():
    with pytest.raises(GraphError, match="state_offset must rise from 0 to the arc count 1"):
        tiny(state_offset=np.array([0, 1, 2]))


def test_final_cost_shape():
    with pytest.raises(GraphError, match="final_cost has shape"):
        tiny(final_cost=np.zeros(3))


def test_start_state_out_of_range():
    with pytest.raises(GraphError, match="start state 5 is outside 0..1"):
        tiny(start=5)


def test_dangling_arc():
    with pytest.raises(GraphError, match=r"arc_dest\[0\] = 7 is out of range 0..1 "
                                         r"\(dangling arc\)"):
        tiny(arc_dest=np.array([7]))


def test_ilabel_out_of_range():
    with pytest.raises(GraphError, match=r"arc_ilabel\[0\] = 3 .*pdf id \+ 1 <= 2"):
        tiny(arc_ilabel=np.array([3]))


def test_olabel_out_of_range():
    with pytest.raises(GraphError, match=r"arc_olabel\[0\] = 2 .*word id < 2"):
        tiny(arc_olabel=np.array([2]))


def test_negative_arc_cost():
    with pytest.raises(GraphError, match=r"arc_cost\[0\] = -1.0 must be finite and >= 0"):
        tiny(arc_cost=np.array([-1.0]))


def test_nan_final_cost():
    with pytest.raises(GraphError, match="final_cost must be >= 0"):
        tiny(final_cost=np.array([np.inf, np.nan]))


def test_no_reachable_final_state():
    with pytest.raises(GraphError, match="no final state is reachable from the start state"):
        tiny(final_cost=np.array([np.inf, np.inf]))


def test_arc_source_out_of_range():
    with pytest.raises(GraphError, match="arc source 4 is outside 0..1"):
        from_arrays(2, 0, [4], [1], [1], [0], [0.0], [np.inf, 0.0], num_pdfs=2,
                    words=("<eps>",))


def test_foreign_npz_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", format=np.array("other"), version=np.array(1))
    with pytest.raises(GraphError, match="is not an asrhw graph file"):
        load_graph(tmp_path / "x.npz")


# Builder errors: one test per message.

def test_word_missing_from_the_lexicon():
    with pytest.raises(GraphError, match="word 'four' is not in the lexicon"):
        build_digit_loop(toy_lexicon(), ["one", "four"])


def test_word_listed_twice():
    with pytest.raises(GraphError, match="lists a word twice"):
        build_digit_loop(toy_lexicon(), ["one", "one"])


def test_reserved_word():
    lexicon = Lexicon(phones=("sil", "a"), prons={"<s>": (("a",),)})
    with pytest.raises(GraphError, match="'<s>' is reserved"):
        build_digit_loop(lexicon)


def test_empty_digit_loop():
    with pytest.raises(GraphError, match="needs at least one word"):
        build_digit_loop(toy_lexicon(), [])


def test_penalty_making_word_costs_negative():
    with pytest.raises(GraphError, match="word_penalty = -5.0 makes the word cost"):
        build_digit_loop(toy_lexicon(), word_penalty=-5.0)


def test_self_loop_probability_range():
    with pytest.raises(GraphError, match="self_loop_prob = 1.0 must be a probability"):
        build_digit_loop(toy_lexicon(), self_loop_prob=1.0)


def test_silence_cost_must_be_non_negative():
    with pytest.raises(GraphError, match="silence_cost = -1.0 must be a finite cost >= 0"):
        build_digit_loop(toy_lexicon(), silence_cost=-1.0)


def test_bigram_needs_sentences():
    with pytest.raises(GraphError, match="at least one training sentence"):
        build_bigram_graph(toy_lexicon(), [])


def test_training_word_outside_the_vocabulary():
    with pytest.raises(GraphError, match="training word 'two' is not in the vocabulary"):
        estimate_bigram([("one", "two")], vocabulary=["one"])


def test_discount_range():
    with pytest.raises(GraphError, match="discount = 1.5 must be strictly between 0 and 1"):
        estimate_bigram([("one", "two")], discount=1.5)


def test_bigram_word_penalty_must_be_non_negative():
    with pytest.raises(GraphError, match="word_penalty = -1.0 must be a finite cost >= 0"):
        build_bigram_graph(toy_lexicon(), [("one",)], word_penalty=-1.0)
