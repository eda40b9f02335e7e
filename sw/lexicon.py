"""Phone inventory and pronunciation lexicon shared by the corpus, the acoustic model and the graph.

Contract (fixed by the lead): one phone inventory serves both tasks, because the acoustic model
has one output per pdf. ``phones[0]`` is the silence phone ``"sil"``; the other phones are the
espeak-ng phoneme mnemonics that occur in the corpus, sorted. Each phone has
:data:`STATES_PER_PHONE` HMM states and each state is one pdf:
``pdf(phone, state) = STATES_PER_PHONE * phones.index(phone) + state``.

Pronunciations are tuples of phone names; a word may have several (the forms espeak-ng actually
speaks in context, plus its isolated form).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LEXICON_FORMAT", "SILENCE", "STATES_PER_PHONE", "Lexicon", "LexiconError",
           "load_lexicon", "save_lexicon"]

SILENCE = "sil"
STATES_PER_PHONE = 3
LEXICON_FORMAT = ("asrhw.lexicon", 1)


class LexiconError(ValueError):
    """A lexicon is malformed or a lookup names an unknown phone/state/word."""


@dataclass(frozen=True)
class Lexicon:
    """Phones and word pronunciations.

    Parameters
    ----------
    phones : tuple of str
        ``phones[0] == "sil"``; the rest sorted, unique, without ``"sil"``.
    prons : dict
        ``word -> tuple of pronunciations``, each a non-empty tuple of phone names from
        ``phones`` (silence excluded).
    """

    phones: tuple
    prons: dict = field(hash=False)

    def __post_init__(self):
        phones = tuple(self.phones)
        object.__setattr__(self, "phones", phones)
        if not phones or phones[0] != SILENCE:
            raise LexiconError(f"phones[0] must be {SILENCE!r}, not "
                               f"{phones[0] if phones else None!r}")
        rest = phones[1:]
        if list(rest) != sorted(set(rest)) or SILENCE in rest:
            raise LexiconError("phones after 'sil' must be sorted, unique and not 'sil'")
        known = set(rest)
        prons = {}
        for word, variants in self.prons.items():
            if not isinstance(word, str) or not word or any(c.isspace() for c in word):
                raise LexiconError(f"word {word!r} must be a non-empty string without spaces")
            variants = tuple(tuple(v) for v in variants)
            if not variants:
                raise LexiconError(f"word {word!r} has no pronunciation")
            for variant in variants:
                if not variant:
                    raise LexiconError(f"word {word!r} has an empty pronunciation")
                unknown = [p for p in variant if p not in known]
                if unknown:
                    raise LexiconError(f"word {word!r}: phone {unknown[0]!r} of pronunciation "
                                       f"{' '.join(variant)!r} is not in the phone inventory")
            prons[word] = variants
        object.__setattr__(self, "prons", prons)
        object.__setattr__(self, "_index", {p: i for i, p in enumerate(phones)})

    @property
    def num_pdfs(self) -> int:
        """Number of pdfs = acoustic-model outputs = ``STATES_PER_PHONE * len(phones)``."""
        return STATES_PER_PHONE * len(self.phones)

    @property
    def words(self) -> tuple:
        """All words, sorted."""
        return tuple(sorted(self.prons))

    def pdf(self, phone: str, state: int) -> int:
        """The pdf id of HMM ``state`` (0..2) of ``phone``."""
        if phone not in self._index:
            raise LexiconError(f"phone {phone!r} is not in the inventory of {len(self.phones)} "
                               f"phones")
        if not (isinstance(state, int) and 0 <= state < STATES_PER_PHONE):
            raise LexiconError(f"state must be an int from 0 to {STATES_PER_PHONE - 1}, "
                               f"not {state!r}")
        return STATES_PER_PHONE * self._index[phone] + state

    def phone_of_pdf(self, pdf: int) -> tuple[str, int]:
        """Inverse of :meth:`pdf`: ``(phone, state)``."""
        if not 0 <= pdf < self.num_pdfs:
            raise LexiconError(f"pdf must be from 0 to {self.num_pdfs - 1}, not {pdf}")
        return self.phones[pdf // STATES_PER_PHONE], pdf % STATES_PER_PHONE


def save_lexicon(path, lexicon: Lexicon) -> None:
    """Write ``lexicon`` as JSON (``format`` + ``version`` + phones + prons)."""
    data = {"format": LEXICON_FORMAT[0], "version": LEXICON_FORMAT[1],
            "phones": list(lexicon.phones),
            "prons": {w: [list(v) for v in lexicon.prons[w]] for w in lexicon.words}}
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")


def load_lexicon(path) -> Lexicon:
    """Read a lexicon written by :func:`save_lexicon`, validating it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise LexiconError(f"{path} is not JSON: {error}") from None
    name = data.get("format") if isinstance(data, dict) else None
    if name != LEXICON_FORMAT[0] or data.get("version") != LEXICON_FORMAT[1]:
        raise LexiconError(f"{path} is not an asrhw lexicon (format {name!r}, version "
                           f"{data.get('version') if isinstance(data, dict) else None!r}); "
                           f"expected {LEXICON_FORMAT[0]!r} version {LEXICON_FORMAT[1]}")
    return Lexicon(phones=tuple(data["phones"]),
                   prons={w: tuple(tuple(v) for v in vs) for w, vs in data["prons"].items()})
