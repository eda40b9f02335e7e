"""Decoding graphs from an HMM topology, a lexicon and a grammar (digit loop or bigram).

Structure (no determinisation or minimisation: the graph is the plain expansion, so it is easy
to check and its size is what the hardware must hold):

- **Grammar states** come first (ids ``0..G-1``): the digit loop has one, the bigram one per
  history (``<s>`` and every word) plus one backoff state.
- **Word chains.** Every pronunciation of a word that enters grammar state ``g`` owns a chain of
  ``3 * len(phones)`` HMM states (3-state left-to-right per phone): a self-loop on every HMM
  state emitting its own pdf, a forward arc to the next HMM state emitting the next pdf, and an
  epsilon exit from the last state back to ``g``. Loop and forward costs are ``-log p`` and
  ``-log (1 - p)`` with ``p = self_loop_prob``; the exit costs ``-log (1 - p)``.
- **Word entry.** A grammar arc ``h -> g`` for word ``w`` becomes, per pronunciation, one
  emitting arc from ``h`` into the chain's first HMM state (pdf of the first phone's state 0)
  carrying the output label ``w`` (word id) and the grammar cost. Pronunciation variants are
  parallel chains with the same entry cost (the best-scoring variant wins, as with Kaldi's
  max-normalised pronunciation probabilities).
- **Optional silence.** With ``silence=True`` every grammar state owns a 3-state ``sil`` chain
  entered from it (no output label, cost ``silence_cost``) and left by an epsilon arc back to
  it: silence before the first word, between words and after the last.

Labels follow the contract: ``ilabel = lexicon.pdf(phone, state) + 1``, ``olabel`` = word id,
``words[0] = "<eps>"`` and the other words sorted. Graph costs must be >= 0 (the hardware's
costs are unsigned), so a backoff weight above 1 is capped at cost 0.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from sw.graph import Graph, GraphError, from_arrays
from sw.lexicon import SILENCE, STATES_PER_PHONE

__all__ = ["Bigram", "Grammar", "bigram_grammar", "build_bigram_graph", "build_digit_loop",
           "estimate_bigram", "expand_grammar", "random_lexicon", "random_sentences"]

SENTENCE_START, SENTENCE_END = "<s>", "</s>"


@dataclass(frozen=True)
class Grammar:
    """A word acceptor: arcs ``(src, dest, word, cost)`` with ``word`` 0 for epsilon.

    Attributes
    ----------
    num_states : int
        Grammar states ``0..num_states-1``.
    start : int
        Start state.
    src, dest, word : numpy.ndarray
        ``int64[arcs]``; ``word`` is an index into ``words`` (0 = epsilon).
    cost : numpy.ndarray
        ``float64[arcs]`` costs (>= 0).
    final_cost : numpy.ndarray
        ``float64[num_states]``, ``inf`` where not final.
    words : tuple of str
        ``words[0] == "<eps>"``.
    """

    num_states: int
    start: int
    src: np.ndarray
    dest: np.ndarray
    word: np.ndarray
    cost: np.ndarray
    final_cost: np.ndarray
    words: tuple


def _check_probability(name, value):
    if not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise GraphError(f"{name} = {value!r} must be a probability strictly between 0 and 1")


def _check_cost(name, value):
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise GraphError(f"{name} = {value!r} must be a finite cost >= 0")


def _check_vocabulary(lexicon, words):
    missing = [w for w in words if w not in lexicon.prons]
    if missing:
        raise GraphError(f"word {missing[0]!r} is not in the lexicon ({len(missing)} missing "
                         f"words)")
    if len(set(words)) != len(words):
        raise GraphError("the vocabulary lists a word twice")
    reserved = {"<eps>", SENTENCE_START, SENTENCE_END} & set(words)
    if reserved:
        raise GraphError(f"{sorted(reserved)[0]!r} is reserved and cannot be a word")


def expand_grammar(grammar: Grammar, lexicon, *, self_loop_prob: float = 0.5,
                   silence: bool = True, silence_cost: float = math.log(2.0)) -> Graph:
    """Expand a word grammar into an HMM-level decoding graph (see the module docstring).

    Parameters
    ----------
    grammar : Grammar
        Word acceptor over ``grammar.words`` (all of them, but ``"<eps>"``, in ``lexicon``).
    lexicon : sw.lexicon.Lexicon
        Phones, pdf numbering and pronunciations.
    self_loop_prob : float
        HMM self-loop probability ``p`` (0 < p < 1).
    silence : bool
        Add an optional silence chain at every grammar state.
    silence_cost : float
        Cost of entering a silence chain (>= 0).
    """
    _check_probability("self_loop_prob", self_loop_prob)
    _check_cost("silence_cost", silence_cost)
    _check_vocabulary(lexicon, grammar.words[1:])
    loop_cost, forward_cost = -math.log(self_loop_prob), -math.log(1.0 - self_loop_prob)

    # Chains: one per (word, pronunciation, destination grammar state), in first-use order.
    is_word = grammar.word != 0
    entry_keys = np.stack([grammar.word[is_word], grammar.dest[is_word]], axis=1)
    keys, key_of_arc = np.unique(entry_keys, axis=0, return_inverse=True)
    key_of_arc = key_of_arc.reshape(-1)
    chain_pdfs, chain_dest, chain_word, chain_of_key = [], [], [], []
    for word_id, dest in keys.tolist():
        ids = []
        for pron in lexicon.prons[grammar.words[word_id]]:
            ids.append(len(chain_pdfs))
            chain_pdfs.append([lexicon.pdf(p, k) for p in pron for k in range(STATES_PER_PHONE)])
            chain_dest.append(dest)
            chain_word.append(word_id)
        chain_of_key.append(ids)
    silence_pdfs = [lexicon.pdf(SILENCE, k) for k in range(STATES_PER_PHONE)]
    silence_chains = []
    if silence:
        for state in range(grammar.num_states):
            silence_chains.append(len(chain_pdfs))
            chain_pdfs.append(silence_pdfs)
            chain_dest.append(state)
            chain_word.append(0)

    lengths = np.array([len(p) for p in chain_pdfs], dtype=np.int64)
    base = grammar.num_states + np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    num_states = grammar.num_states + int(lengths.sum())
    flat_pdf = np.array([p for pdfs in chain_pdfs for p in pdfs], dtype=np.int64)
    hmm_state = np.arange(grammar.num_states, num_states)
    last = np.zeros(len(hmm_state), dtype=bool)
    last[base - grammar.num_states + lengths - 1] = True

    src, dest, ilabel, olabel, cost = [], [], [], [], []

    def add(s, d, i, o, c):
        src.append(s)
        dest.append(d)
        ilabel.append(i)
        olabel.append(o)
        cost.append(np.broadcast_to(np.asarray(c, dtype=np.float64), np.shape(s)))

    # Grammar epsilon arcs (backoff) stay as they are.
    eps = ~is_word
    add(grammar.src[eps], grammar.dest[eps], np.zeros(int(eps.sum()), np.int64),
        np.zeros(int(eps.sum()), np.int64), grammar.cost[eps])
    # Word entries: every word arc x every pronunciation of its word.
    entry_src, entry_chain, entry_cost, entry_word = [], [], [], []
    word_src, word_cost, word_ids = grammar.src[is_word], grammar.cost[is_word], \
        grammar.word[is_word]
    most = max((len(ids) for ids in chain_of_key), default=0)
    chain_table = np.full((len(chain_of_key), most), -1, dtype=np.int64)
    for k, ids in enumerate(chain_of_key):
        chain_table[k, :len(ids)] = ids
    for v in range(most):
        chain = chain_table[key_of_arc, v]
        sel = chain >= 0
        entry_src.append(word_src[sel])
        entry_chain.append(chain[sel])
        entry_cost.append(word_cost[sel])
        entry_word.append(word_ids[sel])
    if silence:
        chains = np.array(silence_chains, dtype=np.int64)
        entry_src.append(np.arange(grammar.num_states))
        entry_chain.append(chains)
        entry_cost.append(np.full(len(chains), float(silence_cost)))
        entry_word.append(np.zeros(len(chains), dtype=np.int64))
    if entry_src:
        chain = np.concatenate(entry_chain)
        add(np.concatenate(entry_src), base[chain], flat_pdf[base[chain] - grammar.num_states] + 1,
            np.concatenate(entry_word), np.concatenate(entry_cost))
    # Self-loops on every HMM state, forward arcs inside chains, epsilon exits.
    add(hmm_state, hmm_state, flat_pdf + 1, np.zeros(len(hmm_state), np.int64), loop_cost)
    inner = hmm_state[~last]
    add(inner, inner + 1, flat_pdf[inner + 1 - grammar.num_states] + 1,
        np.zeros(len(inner), np.int64), forward_cost)
    exits = base + lengths - 1
    add(exits, np.array(chain_dest, dtype=np.int64), np.zeros(len(exits), np.int64),
        np.zeros(len(exits), np.int64), forward_cost)

    final = np.full(num_states, np.inf)
    final[:grammar.num_states] = grammar.final_cost
    return from_arrays(num_states, grammar.start, np.concatenate(src), np.concatenate(dest),
                       np.concatenate(ilabel), np.concatenate(olabel), np.concatenate(cost),
                       final, num_pdfs=lexicon.num_pdfs, words=grammar.words)


def build_digit_loop(lexicon, words=None, *, word_penalty: float = 0.0,
                     self_loop_prob: float = 0.5, silence: bool = True,
                     silence_cost: float = math.log(2.0)) -> Graph:
    """A loop accepting any sequence of ``words`` (default: all lexicon words).

    One grammar state, start and final (final cost 0); each word costs ``log(len(words)) +
    word_penalty`` (a uniform loop; the penalty must keep that >= 0).
    """
    words = tuple(sorted(lexicon.words if words is None else words))
    if not words:
        raise GraphError("the digit loop needs at least one word")
    _check_vocabulary(lexicon, words)
    cost = math.log(len(words)) + float(word_penalty)
    if not math.isfinite(cost) or cost < 0:
        raise GraphError(f"word_penalty = {word_penalty!r} makes the word cost {cost} negative; "
                         f"it must be >= {-math.log(len(words)):.4f}")
    count = len(words)
    grammar = Grammar(num_states=1, start=0, src=np.zeros(count, np.int64),
                      dest=np.zeros(count, np.int64), word=np.arange(1, count + 1),
                      cost=np.full(count, cost), final_cost=np.zeros(1),
                      words=("<eps>",) + words)
    return expand_grammar(grammar, lexicon, self_loop_prob=self_loop_prob, silence=silence,
                          silence_cost=silence_cost)


@dataclass(frozen=True)
class Bigram:
    """A backoff bigram model (absolute discounting, Laplace-smoothed unigrams).

    Attributes
    ----------
    vocabulary : tuple of str
        Words (sorted), without ``<s>`` / ``</s>``.
    unigram : dict
        ``word or "</s>" -> P1``; sums to 1.
    bigram : dict
        ``(history, word or "</s>") -> P(word | history)`` for seen pairs; history may be
        ``"<s>"``.
    backoff : dict
        ``history -> alpha(history)``, the weight of the unigram distribution.
    discount : float
        The absolute discount D.
    """

    vocabulary: tuple
    unigram: dict
    bigram: dict
    backoff: dict
    discount: float

    def prob(self, history: str, word: str) -> float:
        """``P(word | history)``: the discounted bigram if seen, else ``alpha(h) * P1(word)``.

        The graph keeps the backoff path for seen pairs too (the usual WFST approximation);
        Viterbi takes the better of the two.
        """
        if (history, word) in self.bigram:
            return self.bigram[(history, word)]
        return self.backoff[history] * self.unigram[word]


def estimate_bigram(sentences, vocabulary=None, *, discount: float | None = None) -> Bigram:
    """Estimate a backoff bigram from training sentences (tuples of words).

    Unigrams: ``(count + 1) / (N + |V| + 1)`` over the vocabulary and ``</s>`` (every word keeps
    some mass). Bigrams: ``(c(h, w) - D) / c(h)`` for seen pairs, the discounted mass
    ``D * types(h) / c(h)`` going to the unigrams renormalised over the unseen successors
    (``alpha(h)``). ``D`` defaults to Ney's ``n1 / (n1 + 2 n2)`` from the bigram count-of-counts,
    clipped to 0.1..0.9.
    """
    sentences = [tuple(s) for s in sentences]
    if not sentences:
        raise GraphError("the bigram needs at least one training sentence")
    seen_words = sorted({w for s in sentences for w in s})
    vocabulary = tuple(sorted(set(vocabulary))) if vocabulary is not None else tuple(seen_words)
    outside = [w for w in seen_words if w not in set(vocabulary)]
    if outside:
        raise GraphError(f"training word {outside[0]!r} is not in the vocabulary")
    unigram_counts = Counter(w for s in sentences for w in s + (SENTENCE_END,))
    total = sum(unigram_counts.values())
    events = vocabulary + (SENTENCE_END,)
    unigram = {w: (unigram_counts[w] + 1) / (total + len(events)) for w in events}
    pairs = Counter((h, w) for s in sentences
                    for h, w in zip((SENTENCE_START,) + s, s + (SENTENCE_END,), strict=True))
    if discount is None:
        count_of_counts = Counter(pairs.values())
        n1, n2 = count_of_counts[1], count_of_counts[2]
        discount = min(max(n1 / (n1 + 2 * n2) if n1 + n2 else 0.5, 0.1), 0.9)
    elif not 0.0 < discount < 1.0:
        raise GraphError(f"discount = {discount!r} must be strictly between 0 and 1")
    history_count, history_types = Counter(), Counter()
    for (h, _w), c in pairs.items():
        history_count[h] += c
        history_types[h] += 1
    bigram, seen_mass = {}, Counter()
    for (h, w), c in pairs.items():
        bigram[(h, w)] = (c - discount) / history_count[h]
        seen_mass[h] += unigram[w]
    backoff = {}
    for h in (SENTENCE_START,) + vocabulary:
        if history_count[h]:
            left = discount * history_types[h] / history_count[h]
            backoff[h] = left / max(1.0 - seen_mass[h], 1e-12)
        else:
            backoff[h] = 1.0
    return Bigram(vocabulary=vocabulary, unigram=unigram, bigram=bigram, backoff=backoff,
                  discount=float(discount))


def bigram_grammar(model: Bigram) -> Grammar:
    """The bigram as a word acceptor with one backoff state.

    States: ``0`` = ``<s>``, ``1..V`` = history word ``i``, ``V+1`` = backoff. Seen pairs are
    direct arcs, every history has an epsilon arc to the backoff state (cost ``-log alpha``,
    capped at 0), and the backoff state reaches every word with its unigram cost. Final costs:
    ``-log P(</s> | h)`` where seen, ``-log P1(</s>)`` at the backoff state.
    """
    vocab = model.vocabulary
    index = {w: i + 1 for i, w in enumerate(vocab)}
    index[SENTENCE_START] = 0
    num_states = len(vocab) + 2
    backoff_state = len(vocab) + 1
    src, dest, word, cost = [], [], [], []
    final = np.full(num_states, np.inf)
    for (h, w), p in model.bigram.items():
        if w == SENTENCE_END:
            final[index[h]] = -math.log(p)
            continue
        src.append(index[h])
        dest.append(index[w])
        word.append(index[w])
        cost.append(-math.log(p))
    for h in (SENTENCE_START,) + vocab:
        src.append(index[h])
        dest.append(backoff_state)
        word.append(0)
        cost.append(max(-math.log(model.backoff[h]), 0.0))
    for w in vocab:
        src.append(backoff_state)
        dest.append(index[w])
        word.append(index[w])
        cost.append(-math.log(model.unigram[w]))
    final[backoff_state] = -math.log(model.unigram[SENTENCE_END])
    return Grammar(num_states=num_states, start=0, src=np.array(src, np.int64),
                   dest=np.array(dest, np.int64), word=np.array(word, np.int64),
                   cost=np.array(cost), final_cost=final, words=("<eps>",) + vocab)


def build_bigram_graph(lexicon, sentences, vocabulary=None, *, discount: float | None = None,
                       word_penalty: float = 0.0, self_loop_prob: float = 0.5,
                       silence: bool = True, silence_cost: float = math.log(2.0)) -> Graph:
    """Decoding graph of a bigram estimated from ``sentences`` (see :func:`estimate_bigram`).

    ``word_penalty`` (>= 0 here, since graph costs are unsigned) is added to every word arc;
    the decoder's own ``word_penalty`` option can also be negative.
    """
    _check_cost("word_penalty", word_penalty)
    model = estimate_bigram(sentences, vocabulary, discount=discount)
    _check_vocabulary(lexicon, model.vocabulary)
    grammar = bigram_grammar(model)
    if word_penalty:
        grammar = Grammar(num_states=grammar.num_states, start=grammar.start, src=grammar.src,
                          dest=grammar.dest, word=grammar.word,
                          cost=grammar.cost + np.where(grammar.word != 0, word_penalty, 0.0),
                          final_cost=grammar.final_cost, words=grammar.words)
    return expand_grammar(grammar, lexicon, self_loop_prob=self_loop_prob, silence=silence,
                          silence_cost=silence_cost)


def random_lexicon(seed: int, *, num_words: int = 50, num_phones: int = 12,
                   max_phones_per_word: int = 5, variant_fraction: float = 0.3):
    """A random :class:`~sw.lexicon.Lexicon` for tests and benchmarks (words ``w0000``...).

    Phones are ``p00``...; each word has 1..``max_phones_per_word`` phones and, with
    probability ``variant_fraction``, a second pronunciation.
    """
    from sw.lexicon import Lexicon

    rng = np.random.default_rng(seed)
    phones = tuple(f"p{i:02d}" for i in range(num_phones))
    prons = {}
    for i in range(num_words):
        count = int(rng.integers(1, max_phones_per_word + 1))
        variants = [tuple(rng.choice(phones, count).tolist())]
        if rng.random() < variant_fraction:
            variants.append(tuple(rng.choice(phones, int(rng.integers(1, count + 2))).tolist()))
        prons[f"w{i:04d}"] = tuple(dict.fromkeys(variants))
    return Lexicon(phones=(SILENCE,) + phones, prons=prons)


def random_sentences(seed: int, words, count: int, *, min_length: int = 2,
                     max_length: int = 10) -> list[tuple]:
    """``count`` random sentences over ``words`` with Zipf-like word frequencies (for tests)."""
    rng = np.random.default_rng(seed)
    words = tuple(words)
    weights = 1.0 / np.arange(1, len(words) + 1)
    weights /= weights.sum()
    return [tuple(words[j] for j in rng.choice(len(words), int(rng.integers(
        min_length, max_length + 1)), p=weights)) for _ in range(count)]
