"""Lexicon contract: pdf numbering, JSON round trip, and one test per error message."""

import json

import pytest

from sw.lexicon import (
    SILENCE,
    STATES_PER_PHONE,
    Lexicon,
    LexiconError,
    load_lexicon,
    save_lexicon,
)

PHONES = (SILENCE, "@", "D", "i:", "k", "s")


def small():
    return Lexicon(phones=PHONES, prons={"see": (("s", "i:"),), "the": (("D", "@"), ("D", "i:"))})


def test_pdf_numbering_follows_the_contract():
    lexicon = small()
    assert STATES_PER_PHONE == 3
    assert lexicon.num_pdfs == 3 * len(PHONES)
    assert [lexicon.pdf(SILENCE, s) for s in range(3)] == [0, 1, 2]
    assert lexicon.pdf("D", 2) == 3 * PHONES.index("D") + 2
    for pdf in range(lexicon.num_pdfs):
        assert lexicon.pdf(*lexicon.phone_of_pdf(pdf)) == pdf
    assert lexicon.words == ("see", "the")


def test_json_round_trip(tmp_path):
    path = tmp_path / "lexicon.json"
    save_lexicon(path, small())
    data = json.loads(path.read_text())
    assert (data["format"], data["version"]) == ("asrhw.lexicon", 1)
    loaded = load_lexicon(path)
    assert loaded == small()
    assert loaded.prons["the"] == (("D", "@"), ("D", "i:"))


def test_error_silence_first():
    with pytest.raises(LexiconError, match="phones\\[0\\] must be 'sil', not 'a'"):
        Lexicon(phones=("a", "b"), prons={})


def test_error_phones_sorted():
    with pytest.raises(LexiconError, match="must be sorted, unique and not 'sil'"):
        Lexicon(phones=(SILENCE, "s", "k"), prons={})


def test_error_unknown_phone_in_pronunciation():
    with pytest.raises(LexiconError, match="word 'cat': phone 'a' of pronunciation 'k a t' is "
                                           "not in the phone inventory"):
        Lexicon(phones=PHONES, prons={"cat": (("k", "a", "t"),)})


def test_error_empty_pronunciation():
    with pytest.raises(LexiconError, match="word 'x' has an empty pronunciation"):
        Lexicon(phones=PHONES, prons={"x": ((),)})


def test_error_word_without_pronunciation():
    with pytest.raises(LexiconError, match="word 'x' has no pronunciation"):
        Lexicon(phones=PHONES, prons={"x": ()})


def test_error_word_with_space():
    with pytest.raises(LexiconError, match="word 'a b' must be a non-empty string without "
                                           "spaces"):
        Lexicon(phones=PHONES, prons={"a b": (("s",),)})


def test_error_unknown_phone_lookup():
    with pytest.raises(LexiconError, match="phone 'zz' is not in the inventory of 6 phones"):
        small().pdf("zz", 0)


def test_error_state_out_of_range():
    with pytest.raises(LexiconError, match="state must be an int from 0 to 2, not 3"):
        small().pdf("s", 3)


def test_error_pdf_out_of_range():
    with pytest.raises(LexiconError, match="pdf must be from 0 to 17, not 18"):
        small().phone_of_pdf(18)


def test_error_wrong_file_format(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "asrhw.graph", "version": 1}))
    with pytest.raises(LexiconError, match="is not an asrhw lexicon \\(format 'asrhw.graph'"):
        load_lexicon(path)


def test_error_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(LexiconError, match="is not JSON"):
        load_lexicon(path)
