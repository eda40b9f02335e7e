"""Synthetic speech corpus of two tasks, spoken by espeak-ng, with frame-level HMM-state labels.

Tasks (:data:`TASKS`): ``digits`` (1-7 words from zero..nine and oh) and ``words`` (template
sentences over more than 1,000 words, :mod:`sw.wordlist`). Each has ``train``, ``dev`` and
``test`` splits, **split by voice**: a voice is an espeak-ng dialect plus a voice variant
(``en-us+m3``), and the variants of each split (:data:`VARIANTS`) never occur in another split,
so test speakers are unseen. Every utterance draws its speaking rate, pitch and pitch range at
random; part of every split gets additive noise at 10-20 dB SNR (:data:`NOISY_FRACTION`), and
every utterance gets a faint noise floor and a random stretch of leading/trailing silence.

Labels come from espeak-ng's phoneme events: a phone lasts from its event to the next event;
the stretch before the first phone, pause events (``_``, ``_:``, ...) and the stretch after the
last phone are silence (``sil``); consecutive silences merge. Each phone segment is cut into
``STATES_PER_PHONE`` equal parts (HMM states 0, 1, 2). A silence is cut the same way except
that its first and last state last at most :data:`SILENCE_EDGE_S` (the middle state takes the
rest): the thirds of a long silence look identical, and labelling them apart cost about 10
points of frame accuracy in a trial. Frame ``t`` gets the pdf
``lexicon.pdf(phone, state)`` of the part holding its centre sample ``160 t + 80``
(see :mod:`sw.features`), so there are exactly as many labels as feature frames;
:func:`fit_labels` trims/pads (repeating the last label) should a caller's counts ever differ.

Pronunciations "as spoken": espeak-ng's phonemizer (``espeak_TextToPhonemes``) returns the
same phonemes as the synthesis events (checked for every utterance), grouped into espeak's word
groups; the word events' text positions say which words each group covers. A group covering one
word is that word's pronunciation in context; a group covering several words (espeak joins
function words such as "on the") is split where the words' isolated pronunciations align best
(edit distance). The lexicon holds, per word, the in-context forms seen in the *training*
utterances (most frequent first) and the isolated form in every dialect, for every word of the
vocabulary (so the decoding graph can cover the whole vocabulary). The phone inventory is every
phone that occurs in any utterance or pronunciation.

Reproducibility: espeak-ng's wave generator keeps state from one utterance to the next, so the
corpus renders fixed shards of :data:`SHARD_SIZE` utterances, each in a new process
(:func:`render_fresh`); the files are then a function of the seed and the sizes only, whatever
the number of workers.

On disk (``out_dir``): ``manifest.json`` (arguments, voices, counts; written last, it marks a
complete build and lets an identical re-run reuse the cache), ``lexicon.json``,
``<task>_<split>.npz`` (raw filterbanks, labels, transcripts, voices, SNRs) and
``<task>_<split>.txt`` (transcripts, ``uid word word ...``, the format of
:func:`load_wav_folder`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import wave
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sw import wordlist
from sw.features import (
    FRAME_SHIFT,
    SAMPLE_RATE,
    FeatureError,
    cmvn,
    fbank,
    num_frames,
    splice,
)
from sw.lexicon import SILENCE, STATES_PER_PHONE, Lexicon, load_lexicon, save_lexicon

__all__ = ["CORPUS_FORMAT", "DIALECTS", "FULL", "NOISY_FRACTION", "QUICK", "SHARD_SIZE",
           "SILENCE_EDGE_S", "SPLITS", "TASKS", "VARIANTS", "CorpusError", "CorpusSizes",
           "Rendered", "Utterance", "UtteranceSpec", "build_corpus", "fit_labels",
           "frame_labels", "load_frames", "load_lexicon_of", "load_utterances",
           "load_wav_folder", "plan_corpus", "read_wav", "render", "render_fresh",
           "resample_to_16k", "train_sentences", "write_wav"]

CORPUS_FORMAT = ("asrhw.corpus", 1)
TASKS = ("digits", "words")
SPLITS = ("train", "dev", "test")

# Dialects are shared by all splits (one phone inventory, one lexicon); speakers are not.
# American only: British dialects reuse phone names for other vowel qualities, which cost about
# 1-2 points of frame accuracy on test voices in a trial (4 dialects vs these 2).
DIALECTS = ("en-us", "en-us-nyc")
# espeak-ng voice variants (`espeak-ng --voices=variant`) per split: disjoint, so test voices are
# unseen in training. Whisper, novelty voices and "norbert" (second formant moved 25 % down,
# which turns vowels into other vowels) are left out.
VARIANTS = {
    "train": ("m1", "m2", "m3", "m5", "m6", "m8", "f1", "f2", "f4", "Alex", "Alicia", "Andy",
              "Annie", "adam", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb",
              "david", "Denis", "ed", "edward", "Gene", "gustave", "Henrique", "Hugo", "iven",
              "john", "Lee", "linda", "Marco", "max", "Michael", "miguel", "Mike", "Nguyen",
              "pablo", "paul", "pedro", "robert", "steph", "travis", "victor", "zac", "klatt",
              "klatt2", "grandpa"),
    "dev": ("m4", "f3", "Diogo", "edward2", "iven2", "michel", "quincy", "shelby"),
    "test": ("m7", "f5", "Andrea", "Mario", "rob", "steph2", "iven3", "Gene2", "klatt3",
             "grandma", "sandro"),
}
RATE_WPM = (120, 240)  # espeak words per minute (default 175)
PITCH = (20, 80)  # espeak pitch 0..100 (default 50)
PITCH_RANGE = (20, 90)
NOISY_FRACTION = 1 / 3  # of every split; the rest is clean apart from a faint noise floor
SNR_DB = (10.0, 20.0)
NOISE_FLOOR_DB = (45.0, 60.0)  # below the speech power
EDGE_SILENCE_S = (0.05, 0.3)  # extra silence before and after the speech
SILENCE_EDGE_S = 0.03  # longest first/last state of a silence
SHARD_SIZE = 128  # utterances rendered per fresh process (see render_fresh)
_ESPEAK_RATE = 22050
_RATIO = (320, 441)  # 16000 / 22050 in lowest terms


class CorpusError(ValueError):
    """A corpus directory, a WAV folder or a transcript that cannot be used."""


@dataclass(frozen=True)
class CorpusSizes:
    """Utterances per task in each split."""

    train: int
    dev: int
    test: int

    def __post_init__(self):
        for split in SPLITS:
            value = getattr(self, split)
            if not isinstance(value, int) or value < 1:
                raise CorpusError(f"sizes.{split} must be an int >= 1, not {value!r}")

    def __getitem__(self, split: str) -> int:
        return getattr(self, split)


FULL = CorpusSizes(train=3000, dev=300, test=500)
QUICK = CorpusSizes(train=300, dev=60, test=60)


@dataclass(frozen=True, eq=False)
class Utterance:
    """One utterance ready for the acoustic model.

    Attributes
    ----------
    uid : str
    words : tuple of str
        Transcript.
    features : numpy.ndarray
        ``float32[T, 440]`` (:func:`sw.features.features`).
    labels : numpy.ndarray
        ``int64[T]`` pdf ids; ``int64[0]`` for user recordings.
    voice : str
        espeak-ng voice (``"en-us+m7"``), ``""`` for user recordings.
    snr_db : float or None
        SNR of the added noise, None when clean.
    """

    uid: str
    words: tuple
    features: np.ndarray
    labels: np.ndarray
    voice: str
    snr_db: float | None


@dataclass(frozen=True)
class UtteranceSpec:
    """Everything needed to render one utterance (all random choices already made)."""

    uid: str
    task: str
    split: str
    words: tuple
    dialect: str
    variant: str
    rate: int
    pitch: int
    pitch_range: int
    snr_db: float | None
    noise_floor_db: float
    lead_s: float
    trail_s: float
    noise_seed: int

    @property
    def voice(self) -> str:
        return f"{self.dialect}+{self.variant}"


@dataclass(frozen=True, eq=False)
class Rendered:
    """Audio, raw features, frame labels (phone names + states) and in-context pronunciations.

    ``prons`` has one phone tuple per word, or is None when the phonemizer and the synthesis
    disagreed (then the utterance adds nothing to the lexicon; its labels are still exact).
    ``audio`` (int16, 16 kHz) is empty in the results of :func:`render_fresh`.
    """

    audio: np.ndarray
    fbank: np.ndarray
    frame_phones: tuple
    frame_states: np.ndarray
    prons: tuple | None


# ---------------------------------------------------------------- planning (deterministic)


def plan_corpus(seed: int, sizes: CorpusSizes) -> list[UtteranceSpec]:
    """All utterances of all tasks and splits; a function of ``seed`` and ``sizes`` only."""
    specs = []
    for task in TASKS:
        for split in SPLITS:
            rng = random.Random(f"asrhw-corpus/{seed}/{task}/{split}")
            for index in range(sizes[split]):
                if task == "digits":
                    words = wordlist.digit_sentence(rng)
                else:
                    words = wordlist.word_sentence(rng)
                noisy = rng.random() < NOISY_FRACTION
                specs.append(UtteranceSpec(
                    uid=f"{task}-{split}-{index:05d}", task=task, split=split, words=words,
                    dialect=rng.choice(DIALECTS), variant=rng.choice(VARIANTS[split]),
                    rate=rng.randint(*RATE_WPM), pitch=rng.randint(*PITCH),
                    pitch_range=rng.randint(*PITCH_RANGE),
                    snr_db=round(rng.uniform(*SNR_DB), 2) if noisy else None,
                    noise_floor_db=round(rng.uniform(*NOISE_FLOOR_DB), 2),
                    lead_s=round(rng.uniform(*EDGE_SILENCE_S), 3),
                    trail_s=round(rng.uniform(*EDGE_SILENCE_S), 3),
                    noise_seed=rng.getrandbits(63)))
    return specs


# ---------------------------------------------------------------- rendering one utterance


def _smooth_at_least(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast FFT sizes)."""
    best = 1 << max(0, math.ceil(math.log2(max(n, 1))))
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            value = power35
            while value < n:
                value *= 2
            best = min(best, value)
            power35 *= 3
        power5 *= 5
    return best


def resample_to_16k(samples: np.ndarray) -> np.ndarray:
    """espeak's 22050 Hz audio at 16 kHz (float64), by FFT: zero padding, band limit, inverse.

    Sample ``s`` at 22050 Hz lands at ``s * 320 / 441``; the band edge has a short cosine taper
    (7.6-8 kHz) instead of a brick wall to limit ringing.
    """
    up, down = _RATIO
    blocks = _smooth_at_least(math.ceil((len(samples) + 2 * down) / down))
    padded = np.zeros(blocks * down)
    padded[:len(samples)] = samples
    spectrum = np.fft.rfft(padded)
    out_len = blocks * up
    kept = spectrum[:out_len // 2 + 1].copy()
    freqs = np.arange(len(kept)) * (_ESPEAK_RATE / len(padded))
    taper = np.clip((8000.0 - freqs) / 400.0, 0.0, 1.0)
    kept *= 0.5 - 0.5 * np.cos(np.pi * taper)
    result = np.fft.irfft(kept, out_len) * (out_len / len(padded))
    return result[:round(len(samples) * up / down)]


def _noise(rng: np.random.Generator, count: int, kind: str) -> np.ndarray:
    white = rng.standard_normal(count)
    if kind == "white":
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(count, 1.0 / SAMPLE_RATE), 20.0)
    if kind == "pink":
        spectrum /= np.sqrt(freqs)
    else:  # "hum": low-frequency rumble like a fan or a car
        spectrum /= freqs
    return np.fft.irfft(spectrum, count)


def _db_scaled(noise: np.ndarray, speech_power: float, snr_db: float) -> np.ndarray:
    power = float(np.mean(noise ** 2)) or 1.0
    return noise * math.sqrt(speech_power / power / 10 ** (snr_db / 10))


def _segments(phones, lead: int, speech_end: int, end: int):
    """``(name, start, stop)`` at 16 kHz, silences merged, covering ``0..end``.

    ``phones`` are espeak's events (22050 Hz samples); speech occupies ``lead..speech_end``.
    """
    up, down = _RATIO
    events = [(SILENCE if _is_pause(name) else name, lead + round(start * up / down))
              for name, start in phones]
    events.append((SILENCE, speech_end))
    segments = []
    cursor, current = 0, SILENCE
    for name, start in events:
        start = min(max(start, cursor), end)
        if start > cursor:
            segments.append((current, cursor, start))
        cursor, current = start, name
    if end > cursor:
        segments.append((current, cursor, end))
    merged = []
    for name, start, stop in segments:
        if merged and name == SILENCE and merged[-1][0] == SILENCE:
            merged[-1] = (SILENCE, merged[-1][1], stop)
        else:
            merged.append((name, start, stop))
    return merged


def _is_pause(name: str) -> bool:
    from sw.espeak import is_pause

    return is_pause(name)


def frame_labels(segments, frames: int) -> tuple[tuple, np.ndarray]:
    """Phone name and HMM state of every frame from ``(name, start, stop)`` segments."""
    bounds, names, states = [], [], []
    for name, start, stop in segments:
        part = (stop - start) / STATES_PER_PHONE
        if name == SILENCE:
            # Thirds of a long silence look alike; keep its entry and exit states short
            # (<= SILENCE_EDGE_S) so the context window can tell them apart.
            part = min(part, SILENCE_EDGE_S * SAMPLE_RATE)
        bounds.extend((start, start + part, stop - part))
        names.extend((name,) * STATES_PER_PHONE)
        states.extend(range(STATES_PER_PHONE))
    centres = np.arange(frames) * FRAME_SHIFT + FRAME_SHIFT // 2
    index = np.clip(np.searchsorted(np.asarray(bounds), centres, side="right") - 1,
                    0, len(bounds) - 1)
    return tuple(names[i] for i in index), np.asarray(states, dtype=np.int8)[index]


def _edit_distance(a, b) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def _split_group(phones: list, isolated: list) -> list | None:
    """Cut ``phones`` into ``len(isolated)`` non-empty parts closest to the isolated forms."""
    count = len(isolated)
    if len(phones) < count:
        return None
    # best[k][i]: cost of the first k words covering phones[:i]
    inf = float("inf")
    best = [[inf] * (len(phones) + 1) for _ in range(count + 1)]
    back = [[0] * (len(phones) + 1) for _ in range(count + 1)]
    best[0][0] = 0
    for k in range(1, count + 1):
        for i in range(k, len(phones) - (count - k) + 1):
            for j in range(k - 1, i):
                if best[k - 1][j] < inf:
                    cost = best[k - 1][j] + _edit_distance(phones[j:i], isolated[k - 1])
                    if cost < best[k][i]:
                        best[k][i], back[k][i] = cost, j
    parts, stop = [], len(phones)
    for k in range(count, 0, -1):
        start = back[k][stop]
        parts.append(tuple(phones[start:stop]))
        stop = start
    return parts[::-1]


def _word_prons(engine, spec: UtteranceSpec, synthesis) -> tuple | None:
    """In-context pronunciation of every word of ``spec`` (see the module docstring)."""
    text = " ".join(spec.words)
    groups = engine.phonemize(text, voice=spec.dialect)
    spoken = [name for name, _ in synthesis.phones if not _is_pause(name)]
    if [p for g in groups for p in g] != spoken:
        return None
    starts, position = {}, 1
    for index, word in enumerate(spec.words):
        starts[position] = index
        position += len(word) + 1
    first_words = [starts.get(p) for p in synthesis.word_positions]
    if (len(first_words) != len(groups) or None in first_words or first_words[0] != 0
            or first_words != sorted(set(first_words))):
        return None
    prons = []
    for g, group in enumerate(groups):
        stop = first_words[g + 1] if g + 1 < len(groups) else len(spec.words)
        covered = spec.words[first_words[g]:stop]
        if len(covered) == 1:
            prons.append(tuple(group))
            continue
        isolated = [[p for grp in engine.phonemize(w, voice=spec.dialect) for p in grp]
                    for w in covered]
        parts = _split_group(group, isolated)
        if parts is None:
            return None
        prons.extend(parts)
    return tuple(prons)


def render(spec: UtteranceSpec) -> Rendered:
    """Synthesize ``spec``: 16 kHz int16 audio, raw filterbanks, frame labels, pronunciations."""
    from sw.espeak import engine as espeak_engine

    engine = espeak_engine()
    synthesis = engine.synthesize(" ".join(spec.words), voice=spec.voice, rate=spec.rate,
                                  pitch=spec.pitch, pitch_range=spec.pitch_range)
    if synthesis.sample_rate != _ESPEAK_RATE:
        raise CorpusError(f"espeak-ng runs at {synthesis.sample_rate} Hz; the corpus expects "
                          f"{_ESPEAK_RATE} Hz")
    speech = resample_to_16k(synthesis.samples.astype(np.float64))
    lead = round(spec.lead_s * SAMPLE_RATE)
    audio = np.concatenate([np.zeros(lead), speech, np.zeros(round(spec.trail_s * SAMPLE_RATE))])
    rng = np.random.default_rng(spec.noise_seed)
    speech_power = float(np.mean(speech ** 2)) if speech.size else 1.0
    audio += _db_scaled(_noise(rng, audio.size, "white"), speech_power, spec.noise_floor_db)
    if spec.snr_db is not None:
        kind = ("white", "pink", "hum")[int(rng.integers(3))]
        audio += _db_scaled(_noise(rng, audio.size, kind), speech_power, spec.snr_db)
    audio = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
    feats = fbank(audio)
    segments = _segments(synthesis.phones, lead, lead + speech.size, audio.size)
    phones, states = frame_labels(segments, feats.shape[0])
    return Rendered(audio=audio, fbank=feats, frame_phones=phones, frame_states=states,
                    prons=_word_prons(engine, spec, synthesis))


def fit_labels(labels: np.ndarray, frames: int) -> np.ndarray:
    """``labels`` trimmed or padded (repeating the last label) to ``frames`` entries."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size >= frames:
        return labels[:frames]
    if labels.size == 0:
        raise CorpusError(f"cannot pad an empty label sequence to {frames} frames")
    return np.concatenate([labels, np.full(frames - labels.size, labels[-1])])


# ---------------------------------------------------------------- building the corpus


def _manifest_key(seed: int, sizes: CorpusSizes) -> dict:
    return {"format": CORPUS_FORMAT[0], "version": CORPUS_FORMAT[1], "seed": seed,
            "sizes": asdict(sizes), "shard_size": SHARD_SIZE, "dialects": list(DIALECTS),
            "variants": {s: list(v) for s, v in VARIANTS.items()}}


def _read_manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def build_corpus(out_dir, *, seed: int = 0, quick: bool = False, progress: bool = True,
                 sizes: CorpusSizes | None = None, workers: int | None = None) -> None:
    """Synthesize both tasks, all splits, into ``out_dir`` (reused when already built alike).

    Parameters
    ----------
    out_dir : path
        Created if missing.
    seed : int
        Every random choice (sentences, voices, rates, noise) follows from it.
    quick : bool
        Small corpus (:data:`QUICK`) instead of :data:`FULL`.
    progress : bool
        Show a tqdm progress bar.
    sizes : CorpusSizes, optional
        Overrides ``quick`` (tests use tiny corpora).
    workers : int, optional
        Processes rendering utterances; default 2 when there is more than one shard.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise CorpusError(f"seed must be an int >= 0, not {seed!r}")
    sizes = sizes or (QUICK if quick else FULL)
    out_dir = Path(out_dir)
    key = _manifest_key(seed, sizes)
    manifest = _read_manifest(out_dir)
    if manifest is not None and manifest.get("key") == key and all(
            (out_dir / f"{t}_{s}.npz").exists() for t in TASKS for s in SPLITS):
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)

    specs = plan_corpus(seed, sizes)
    workers = workers or (2 if len(specs) > SHARD_SIZE else 1)
    rendered = render_fresh(specs, workers=workers, progress=progress)
    lexicon, stats = _make_lexicon(specs, rendered)
    save_lexicon(out_dir / "lexicon.json", lexicon)
    counts = {}
    for task in TASKS:
        for split in SPLITS:
            chosen = [(s, r) for s, r in zip(specs, rendered, strict=True)
                      if s.task == task and s.split == split]
            counts[f"{task}/{split}"] = _save_split(out_dir, task, split, chosen, lexicon)
    summary = {"key": key, "counts": counts, "phones": len(lexicon.phones),
               "num_pdfs": lexicon.num_pdfs, "lexicon_words": len(lexicon.prons),
               "vocabulary": {"digits": len(wordlist.DIGIT_WORDS),
                              "words": len(wordlist.vocabulary())},
               "pronunciations": sum(len(v) for v in lexicon.prons.values()), **stats}
    (out_dir / "manifest.json").write_text(json.dumps(summary, indent=1) + "\n")


def _render_shard(specs) -> list[Rendered]:
    # audio is not needed after the features; leaving it out keeps the pipe traffic small
    return [dataclasses.replace(render(spec), audio=np.zeros(0, dtype=np.int16))
            for spec in specs]


def render_fresh(specs, *, workers: int = 1, progress: bool = False) -> list[Rendered]:
    """Render ``specs`` bit-reproducibly (audio left out): shards of :data:`SHARD_SIZE`, each
    in a new process.

    espeak-ng's wave generator carries state from one utterance to the next (samples and
    phone timings of the same text differ by a few samples depending on what was spoken
    before), so an utterance is reproducible only together with the history of its process.
    A fresh process per fixed shard makes the output independent of ``workers`` and of
    scheduling.
    """
    import multiprocessing

    from tqdm import tqdm

    specs = list(specs)
    shards = [specs[i:i + SHARD_SIZE] for i in range(0, len(specs), SHARD_SIZE)]
    bar = tqdm(total=len(specs), desc="corpus", unit="utt", disable=not progress)
    results = []
    context = multiprocessing.get_context("spawn")
    with context.Pool(max(1, min(workers, len(shards))), maxtasksperchild=1) as pool:
        for shard in pool.imap(_render_shard, shards):
            results.extend(shard)
            bar.update(len(shard))
    bar.close()
    return results


def _make_lexicon(specs, rendered) -> tuple[Lexicon, dict]:
    from sw.espeak import engine as espeak_engine

    engine = espeak_engine()
    contextual: dict[str, Counter] = {}
    unaligned = 0
    for spec, result in zip(specs, rendered, strict=True):
        if result.prons is None:
            unaligned += 1
            continue
        if spec.split != "train":
            continue
        for word, pron in zip(spec.words, result.prons, strict=True):
            contextual.setdefault(word, Counter())[pron] += 1
    vocabulary = sorted(set(wordlist.vocabulary()) | set(wordlist.DIGIT_WORDS))
    prons = {}
    for word in vocabulary:
        variants = [p for p, _ in sorted(contextual.get(word, Counter()).items(),
                                         key=lambda item: (-item[1], item[0]))]
        for dialect in DIALECTS:
            isolated = tuple(p for g in engine.phonemize(word, voice=dialect) for p in g)
            if isolated and isolated not in variants:
                variants.append(isolated)
        prons[word] = tuple(variants)
    phones = {p for variants in prons.values() for v in variants for p in v}
    for result in rendered:
        phones.update(result.frame_phones)
    phones.discard(SILENCE)
    lexicon = Lexicon(phones=(SILENCE, *sorted(phones)), prons=prons)
    return lexicon, {"unaligned_utterances": unaligned}


def _save_split(out_dir: Path, task: str, split: str, chosen, lexicon: Lexicon) -> dict:
    index = {p: i for i, p in enumerate(lexicon.phones)}
    feats, labels, offsets = [], [], [0]
    for _, result in chosen:
        phone_ids = np.fromiter((index[p] for p in result.frame_phones), dtype=np.int64,
                                count=len(result.frame_phones))
        pdfs = STATES_PER_PHONE * phone_ids + result.frame_states
        labels.append(fit_labels(pdfs, result.fbank.shape[0]))
        feats.append(result.fbank)
        offsets.append(offsets[-1] + result.fbank.shape[0])
    specs = [s for s, _ in chosen]
    np.savez(out_dir / f"{task}_{split}.npz",
             format=np.array(CORPUS_FORMAT[0]), version=np.array(CORPUS_FORMAT[1]),
             task=np.array(task), split=np.array(split),
             fbank=np.concatenate(feats).astype(np.float32),
             labels=np.concatenate(labels), offsets=np.asarray(offsets, dtype=np.int64),
             uids=np.array([s.uid for s in specs], dtype=str),
             transcripts=np.array([" ".join(s.words) for s in specs], dtype=str),
             voices=np.array([s.voice for s in specs], dtype=str),
             snr_db=np.array([np.nan if s.snr_db is None else s.snr_db for s in specs]),
             rates=np.array([s.rate for s in specs], dtype=np.int64),
             pitches=np.array([s.pitch for s in specs], dtype=np.int64))
    (out_dir / f"{task}_{split}.txt").write_text(
        "".join(f"{s.uid} {' '.join(s.words)}\n" for s in specs))
    return {"utterances": len(specs), "frames": int(offsets[-1]),
            "voices": len({s.voice for s in specs}),
            "noisy": sum(s.snr_db is not None for s in specs)}


# ---------------------------------------------------------------- loading


def _check_task_split(task: str, split: str) -> None:
    if task not in TASKS:
        raise CorpusError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    if split not in SPLITS:
        raise CorpusError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")


def _open_split(out_dir, task: str, split: str):
    _check_task_split(task, split)
    path = Path(out_dir) / f"{task}_{split}.npz"
    if not path.exists():
        raise CorpusError(f"{path} does not exist; build the corpus first "
                          f"(`asrhw corpus --out {out_dir}`)")
    data = np.load(path, allow_pickle=False)
    name = str(data["format"]) if "format" in data else None
    if name != CORPUS_FORMAT[0] or int(data["version"]) != CORPUS_FORMAT[1]:
        raise CorpusError(f"{path} is not an asrhw corpus file (format {name!r}); expected "
                          f"{CORPUS_FORMAT[0]!r} version {CORPUS_FORMAT[1]}")
    return data


def load_lexicon_of(out_dir) -> Lexicon:
    """The lexicon of a built corpus."""
    path = Path(out_dir) / "lexicon.json"
    if not path.exists():
        raise CorpusError(f"{path} does not exist; build the corpus first")
    return load_lexicon(path)


def load_utterances(out_dir, task: str, split: str) -> list[Utterance]:
    """Utterances of one task and split with their 440-dim features and pdf labels."""
    with _open_split(out_dir, task, split) as data:
        feats, labels, offsets = data["fbank"], data["labels"], data["offsets"]
        snrs = data["snr_db"]
        result = []
        for i, (uid, text, voice) in enumerate(zip(data["uids"], data["transcripts"],
                                                    data["voices"], strict=True)):
            start, stop = int(offsets[i]), int(offsets[i + 1])
            result.append(Utterance(
                uid=str(uid), words=tuple(str(text).split()),
                features=splice(cmvn(feats[start:stop])), labels=labels[start:stop].copy(),
                voice=str(voice), snr_db=None if np.isnan(snrs[i]) else float(snrs[i])))
    return result


def load_frames(out_dir, tasks, split: str) -> tuple[np.ndarray, np.ndarray]:
    """All frames of ``tasks`` in ``split``: ``X float32[N, 440]`` and ``y int64[N]``."""
    if isinstance(tasks, str):
        tasks = (tasks,)
    parts = []
    for task in tasks:
        with _open_split(out_dir, task, split) as data:
            parts.append((data["fbank"], data["labels"], data["offsets"]))
    total = sum(len(labels) for _, labels, _ in parts)
    width = parts[0][0].shape[1] * 11 if parts else 440
    x = np.empty((total, width), dtype=np.float32)
    y = np.empty(total, dtype=np.int64)
    row = 0
    for feats, labels, offsets in parts:
        for start, stop in zip(offsets[:-1], offsets[1:], strict=True):
            x[row:row + stop - start] = splice(cmvn(feats[start:stop]))
            row += stop - start
        y[row - len(labels):row] = labels
    return x, y


def train_sentences(out_dir, task: str) -> list[tuple]:
    """Transcripts of the training split of ``task`` (the source of its grammar)."""
    with _open_split(out_dir, task, "train") as data:
        return [tuple(str(t).split()) for t in data["transcripts"]]


# ---------------------------------------------------------------- user recordings


_SILENT_PEAK_DBFS = -60.0


def write_wav(path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM."""
    samples = np.asarray(samples)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(int(sample_rate))
        handle.writeframes(samples.astype("<i2").tobytes())


def read_wav(path) -> tuple[np.ndarray, int]:
    """Samples and sample rate of a mono WAV: 16-bit PCM (int16) or 32-bit float (float32).

    Raises :class:`CorpusError` for other layouts. Parses the RIFF chunks itself because the
    standard library's :mod:`wave` reads PCM only.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise CorpusError(f"{path} is not a WAV file (no RIFF/WAVE header)")
    fmt, samples, position = None, None, 12
    while position + 8 <= len(data):
        chunk, size = data[position:position + 4], int.from_bytes(data[position + 4:position + 8],
                                                                  "little")
        body = data[position + 8:position + 8 + size]
        if chunk == b"fmt ":
            fmt = body
        elif chunk == b"data":
            samples = body
        position += 8 + size + (size & 1)
    if fmt is None or samples is None or len(fmt) < 16:
        raise CorpusError(f"{path} has no complete 'fmt ' and 'data' chunks")
    code = int.from_bytes(fmt[0:2], "little")
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if code == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the subformat decides
        code = int.from_bytes(fmt[24:26], "little")
    if channels != 1:
        raise CorpusError(f"{path} has {channels} channels; only mono WAV files are accepted")
    if code == 1 and bits == 16:
        array = np.frombuffer(samples[:len(samples) // 2 * 2], dtype="<i2").astype(np.int16)
    elif code == 3 and bits == 32:
        array = np.frombuffer(samples[:len(samples) // 4 * 4], dtype="<f4").astype(np.float32)
    else:
        raise CorpusError(f"{path} holds format code {code} with {bits} bits per sample; only "
                          f"16-bit PCM and 32-bit float are accepted")
    return array, rate


def _read_transcripts(transcript_file: Path) -> dict[str, tuple]:
    if not transcript_file.is_file():
        raise CorpusError(f"transcript file {transcript_file} does not exist")
    transcripts = {}
    for number, line in enumerate(transcript_file.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise CorpusError(f"{transcript_file}:{number}: utterance {fields[0]!r} has no "
                              f"words (expected 'uid word word ...')")
        if fields[0] in transcripts:
            raise CorpusError(f"{transcript_file}:{number}: utterance {fields[0]!r} appears "
                              f"twice")
        transcripts[fields[0]] = tuple(w.lower() for w in fields[1:])
    if not transcripts:
        raise CorpusError(f"transcript file {transcript_file} lists no utterances")
    return transcripts


def _names(items) -> str:
    items = sorted(items)
    shown = ", ".join(items[:5])
    return shown + (f" and {len(items) - 5} more" if len(items) > 5 else "")


def load_wav_folder(folder, transcript_file) -> list[Utterance]:
    """User recordings: ``folder/<uid>.wav`` (16 kHz mono) + ``uid word word ...`` lines.

    Every transcript line needs its WAV file and every WAV file its line. Returns utterances in
    transcript order with features and empty labels.
    """
    folder, transcript_file = Path(folder), Path(transcript_file)
    if not folder.is_dir():
        raise CorpusError(f"WAV folder {folder} does not exist")
    transcripts = _read_transcripts(transcript_file)
    wavs = {p.stem: p for p in folder.iterdir() if p.suffix.lower() == ".wav"}
    missing = set(transcripts) - set(wavs)
    if missing:
        raise CorpusError(f"{len(missing)} utterance(s) of {transcript_file} have no WAV file "
                          f"in {folder}: {_names(missing)}")
    extra = set(wavs) - set(transcripts)
    if extra:
        raise CorpusError(f"{len(extra)} WAV file(s) in {folder} are not in {transcript_file}: "
                          f"{_names(extra)}")
    utterances = []
    for uid, words in transcripts.items():
        path = wavs[uid]
        samples, rate = read_wav(path)
        if rate != SAMPLE_RATE:
            raise CorpusError(f"{path} has sample rate {rate} Hz; resample it to "
                              f"{SAMPLE_RATE} Hz")
        if samples.size == 0:
            raise CorpusError(f"{path} is empty (no samples)")
        scale = 32768.0 if samples.dtype == np.int16 else 1.0
        with np.errstate(invalid="ignore"):
            peak = float(np.max(np.abs(samples.astype(np.float64)))) / scale
        if np.isfinite(peak) and peak <= 10 ** (_SILENT_PEAK_DBFS / 20):
            level = "-inf" if peak == 0 else f"{20 * math.log10(peak):.1f}"
            raise CorpusError(f"{path} is silent (peak {level} dBFS, below "
                              f"{_SILENT_PEAK_DBFS:.0f} dBFS)")
        if samples.size < FRAME_SHIFT:
            raise CorpusError(f"{path} is too short ({samples.size} samples; at least "
                              f"{FRAME_SHIFT} needed)")
        try:
            feats = splice(cmvn(fbank(samples)))
        except FeatureError as error:
            raise CorpusError(f"{path}: {error}") from None
        if feats.shape[0] != num_frames(samples.size):
            raise CorpusError(f"{path}: {feats.shape[0]} frames, expected "
                              f"{num_frames(samples.size)}")
        utterances.append(Utterance(uid=uid, words=words, features=feats,
                                    labels=np.zeros(0, dtype=np.int64), voice="",
                                    snr_db=None))
    return utterances
