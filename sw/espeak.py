"""espeak-ng speech synthesis and phonemization through ctypes on ``libespeak-ng.so.1``.

The library keeps global state (one voice, one callback), so there is one :class:`Espeak` per
process (:func:`engine`). It runs in synchronous mode with phoneme events: each synthesized
chunk arrives with the events whose ``sample`` field is the start of a phoneme (type 7, the
mnemonic in ``id.string``) or of a word (type 1, ``text_position`` 1-based into the text).

Two facts the corpus relies on (checked on espeak-ng 1.51):

- The phoneme events of a synthesized text are the phonemes of
  ``espeak_TextToPhonemes`` of the same text and voice, stress marks removed; the latter groups
  them into espeak's words, space separated. Function words can be joined to a neighbour
  ("on the" -> ``O2 n D @2``), so a group may cover several words.
- Word events mark where each of these groups starts in the text (``text_position``), while their
  ``sample`` does not line up with phone starts; so the sample positions are not used.

And one trap: a voice change waits in the wave generator's command queue until something is
spoken, and some two dozen waiting changes make the next synthesis lose its first word's events
(:meth:`Espeak.set_voice` drains the queue before that).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

__all__ = ["PAUSE_PREFIXES", "Espeak", "EspeakError", "Synthesis", "engine", "is_pause"]

_SYNCHRONOUS = 2
_PHONEME_EVENTS = 1
_EVENT_END_OF_LIST = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_STRESS_MARKS = "'," + "%="
PAUSE_PREFIXES = ("_", ";")
# espeak-ng 1.51 loses events after ~24 queued voice changes (see Espeak.set_voice)
_VOICE_CHANGES_BEFORE_DRAIN = 8


def is_pause(name: str) -> bool:
    """True for espeak's pause pseudo-phonemes (``_``, ``_:``, ``_!``, ...), labelled silence."""
    return not name or name.startswith(PAUSE_PREFIXES)


class EspeakError(RuntimeError):
    """espeak-ng is missing or refused a voice or a text."""


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Synthesis:
    """One synthesized utterance.

    Attributes
    ----------
    samples : numpy.ndarray
        ``int16[N]`` at ``sample_rate``.
    sample_rate : int
        espeak-ng's output rate (22050 Hz).
    phones : tuple of (str, int)
        Every phoneme event in order: mnemonic and start sample; pauses included.
    word_positions : tuple of int
        1-based text positions of the word events (the start of each espeak word group).
    """

    samples: np.ndarray
    sample_rate: int
    phones: tuple
    word_positions: tuple


class Espeak:
    """The espeak-ng library, initialized for synchronous synthesis with phoneme events."""

    def __init__(self):
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self._lib = ctypes.CDLL(name)
        except OSError as error:
            raise EspeakError(f"cannot load {name} ({error}); install the Debian packages "
                              f"espeak-ng and libespeak-ng1") from None
        self.sample_rate = int(self._lib.espeak_Initialize(_SYNCHRONOUS, 0, None,
                                                           _PHONEME_EVENTS))
        if self.sample_rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({self.sample_rate})")
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._chunks: list[np.ndarray] = []
        self._phones: list[tuple[str, int]] = []
        self._words: list[int] = []
        self._callback = _CALLBACK(self._on_chunk)  # keep a reference: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._voice = None
        self._queued_voice_changes = 0

    def _on_chunk(self, wav, count, events):
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
        i = 0
        while events[i].type != _EVENT_END_OF_LIST:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self._phones.append((event.id.string.decode("ascii", "replace"), event.sample))
            elif event.type == _EVENT_WORD and event.text_position > 0:
                # position 0 marks no word (seen at the end of some clauses)
                self._words.append(event.text_position)
            i += 1
        return 0

    def _speak(self, data: bytes) -> None:
        self._chunks, self._phones, self._words = [], [], []
        self._queued_voice_changes = 0
        status = self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        if status != 0:
            raise EspeakError(f"espeak_Synth failed with status {status} on {data!r}")

    def set_voice(self, voice: str) -> None:
        """Select a voice with optional variant, e.g. ``"en-us+m3"``."""
        if voice != self._voice:
            status = self._lib.espeak_SetVoiceByName(voice.encode("ascii"))
            if status != 0:
                raise EspeakError(f"espeak-ng has no voice {voice!r} (status {status}); see "
                                  f"`espeak-ng --voices=en` and `--voices=variant`")
            self._voice = voice
            # A voice change is a command in the wave generator's queue, drained only by
            # synthesis. Some two dozen of them (phonemizing in alternating voices without
            # speaking, as the lexicon does) fill the queue, and the next synthesis silently
            # drops the phoneme and word events of its first word. Speaking the empty text
            # drains the queue, but it also moves the wave generator's state a little (the
            # next utterance's samples differ), so it is done only when changes pile up:
            # the corpus's render (at most two changes between utterances) never reaches it.
            self._queued_voice_changes += 1
            if self._queued_voice_changes >= _VOICE_CHANGES_BEFORE_DRAIN:
                self._speak(b"")

    def synthesize(self, text: str, *, voice: str, rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50) -> Synthesis:
        """Speak ``text`` (ASCII) with ``voice`` at ``rate`` words/minute and pitch 0..100."""
        self.set_voice(voice)
        # SetVoiceByName does not reset these when the voice is unchanged: set them every time.
        for parameter, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch),
                                 (_PARAM_RANGE, pitch_range)):
            self._lib.espeak_SetParameter(parameter, int(value), 0)
        self._speak(text.encode("ascii"))
        samples = (np.concatenate(self._chunks) if self._chunks
                   else np.zeros(0, dtype=np.int16)).astype(np.int16)
        return Synthesis(samples=samples, sample_rate=self.sample_rate,
                         phones=tuple(self._phones), word_positions=tuple(self._words))

    def phonemize(self, text: str, *, voice: str) -> list[list[str]]:
        """espeak's own phonemes of ``text``: a list of word groups, each a list of phone names.

        Stress marks are removed; pauses do not appear. A group may cover several words of the
        text (see the module docstring).
        """
        self.set_voice(voice)
        buffer = ctypes.create_string_buffer(text.encode("ascii"))
        pointer = ctypes.c_char_p(ctypes.addressof(buffer))
        pointer_ref = ctypes.cast(ctypes.pointer(pointer), ctypes.POINTER(ctypes.c_void_p))
        separator = ord("|") << 8  # phoneme names separated by '|', words by ' '
        groups = []
        while pointer.value:
            clause = self._lib.espeak_TextToPhonemes(pointer_ref, 0, separator)
            for word in (clause or b"").decode("ascii", "replace").split():
                phones = [p.lstrip(_STRESS_MARKS) for p in word.split("|")]
                phones = [p for p in phones if p and not is_pause(p)]
                if phones:
                    groups.append(phones)
        return groups


_ENGINE: Espeak | None = None


def engine() -> Espeak:
    """The process-wide :class:`Espeak` instance (created on first use)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Espeak()
    return _ENGINE
