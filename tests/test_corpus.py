"""espeak-ng corpus: determinism, label/feature alignment, voice split, lexicon, loaders, errors.

One tiny corpus (a few utterances per task and split) is built once per session.
"""

import dataclasses
import json
import math

import numpy as np
import pytest

from sw import wordlist
from sw.cli import main
from sw.corpus import (
    DIALECTS,
    SPLITS,
    TASKS,
    VARIANTS,
    CorpusError,
    CorpusSizes,
    _split_group,
    build_corpus,
    fit_labels,
    frame_labels,
    load_frames,
    load_lexicon_of,
    load_utterances,
    load_wav_folder,
    plan_corpus,
    render,
    render_fresh,
    resample_to_16k,
    train_sentences,
    write_wav,
)
from sw.espeak import engine
from sw.features import cmvn, fbank, num_frames, splice
from sw.lexicon import SILENCE

TINY = CorpusSizes(train=10, dev=3, test=5)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, seed=3, sizes=TINY, progress=False, workers=1)
    return out


@pytest.fixture(scope="session")
def spec():
    return plan_corpus(3, TINY)[0]


# ---------------------------------------------------------------- plan and voices


def test_plan_is_deterministic_from_the_seed():
    assert plan_corpus(5, TINY) == plan_corpus(5, TINY)
    assert plan_corpus(5, TINY) != plan_corpus(6, TINY)
    assert len(plan_corpus(5, TINY)) == len(TASKS) * (10 + 3 + 5)


def test_splits_use_disjoint_voice_variants(corpus):
    for a in SPLITS:
        for b in SPLITS:
            if a != b:
                assert not set(VARIANTS[a]) & set(VARIANTS[b])
    seen = {split: set() for split in SPLITS}
    for task in TASKS:
        for split in SPLITS:
            for utterance in load_utterances(corpus, task, split):
                seen[split].add(utterance.voice.split("+")[1])
    assert seen["train"].isdisjoint(seen["test"]) and seen["train"].isdisjoint(seen["dev"])
    assert seen["test"] <= set(VARIANTS["test"])


def test_digit_and_word_sentences_follow_the_tasks():
    for spec in plan_corpus(1, CorpusSizes(train=50, dev=1, test=1)):
        if spec.task == "digits":
            assert 1 <= len(spec.words) <= 7
            assert set(spec.words) <= set(wordlist.DIGIT_WORDS)
        else:
            assert set(spec.words) <= wordlist.vocabulary()


def test_vocabulary_has_more_than_1000_words():
    vocabulary = wordlist.vocabulary()
    assert len(vocabulary) >= 1000
    assert all(w.isascii() and w.isalpha() and w.islower() for w in vocabulary)


# ---------------------------------------------------------------- rendering and labels


def test_fresh_rendering_is_reproducible():
    # espeak-ng carries state between utterances: only a fresh process per shard reproduces
    specs = plan_corpus(3, TINY)[:3]
    first, second = render_fresh(specs), render_fresh(specs)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.fbank, b.fbank) and a.frame_phones == b.frame_phones
        assert np.array_equal(a.frame_states, b.frame_states) and a.prons == b.prons


def test_fresh_rendering_does_not_depend_on_the_worker_count(monkeypatch):
    import sw.corpus

    monkeypatch.setattr(sw.corpus, "SHARD_SIZE", 3)
    specs = plan_corpus(4, TINY)[:6]
    one, two = render_fresh(specs, workers=1), render_fresh(specs, workers=2)
    assert all(np.array_equal(a.fbank, b.fbank) for a, b in zip(one, two, strict=True))


def test_labels_and_features_count_the_same_frames(spec):
    result = render(spec)
    assert result.audio.dtype == np.int16
    frames = num_frames(result.audio.size)
    assert result.fbank.shape == (frames, 40)
    assert len(result.frame_phones) == frames == result.frame_states.size
    # leading and trailing silence (>= 50 ms) are labelled silence, speech is not
    assert result.frame_phones[0] == result.frame_phones[-1] == SILENCE
    assert any(p != SILENCE for p in result.frame_phones)


def test_phone_states_split_the_duration_in_three_and_silence_edges_are_short():
    # 30 frames of silence, a 30-frame phone, 3 frames of silence (16 kHz samples)
    segments = [(SILENCE, 0, 4800), ("a", 4800, 9600), (SILENCE, 9600, 10080)]
    phones, states = frame_labels(segments, 63)
    assert phones[30:60] == ("a",) * 30
    assert states[30:60].tolist() == [0] * 10 + [1] * 10 + [2] * 10
    # a long silence: first and last state at most 30 ms (3 frames)
    assert states[:30].tolist() == [0] * 3 + [1] * 24 + [2] * 3
    assert states[60:].tolist() == [0, 1, 2]


def test_in_context_pronunciations_concatenate_to_the_spoken_phones(spec):
    result = render(spec)
    assert result.prons is not None and len(result.prons) == len(spec.words)
    spoken = [p for g in engine().phonemize(" ".join(spec.words), voice=spec.dialect) for p in g]
    assert [p for pron in result.prons for p in pron] == spoken


def test_phonemizing_in_many_voices_keeps_the_next_synthesis_events(spec):
    # espeak-ng queues every voice change until something is spoken; unchecked, ~24 of them
    # made the next synthesis drop its first word's events (the lexicon phonemizes each word
    # in both dialects, so a test after it in the same process saw this)
    espeak = engine()
    text = " ".join(spec.words)
    before = espeak.synthesize(text, voice=spec.voice, rate=spec.rate, pitch=spec.pitch)
    for _ in range(30):
        for dialect in DIALECTS:
            espeak.phonemize("angrily", voice=dialect)
    after = espeak.synthesize(text, voice=spec.voice, rate=spec.rate, pitch=spec.pitch)
    assert [name for name, _ in after.phones] == [name for name, _ in before.phones]
    assert after.word_positions == before.word_positions


def test_joined_words_split_where_isolated_forms_align():
    parts = _split_group(["O2", "n", "D", "@2"], [["0", "n"], ["D", "@"]])
    assert parts == [("O2", "n"), ("D", "@2")]
    assert _split_group(["a"], [["a"], ["b"]]) is None


def test_resampling_keeps_frequency_and_timing():
    rate = 22050
    t = np.arange(rate // 2) / rate
    out = resample_to_16k(np.sin(2 * np.pi * 1000 * t))
    assert out.size == round(t.size * 320 / 441)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    assert abs(np.argmax(spectrum) * 16000 / out.size - 1000) < 5
    assert np.max(np.abs(out[200:-200])) == pytest.approx(1.0, abs=0.02)


def test_fit_labels_trims_and_pads():
    assert fit_labels(np.array([1, 2, 3]), 2).tolist() == [1, 2]
    assert fit_labels(np.array([1, 2, 3]), 5).tolist() == [1, 2, 3, 3, 3]
    with pytest.raises(CorpusError, match="cannot pad an empty label sequence to 4 frames"):
        fit_labels(np.zeros(0), 4)


# ---------------------------------------------------------------- built corpus


def test_corpus_files_and_manifest(corpus):
    manifest = json.loads((corpus / "manifest.json").read_text())
    for task in TASKS:
        for split in SPLITS:
            counts = manifest["counts"][f"{task}/{split}"]
            assert counts["utterances"] == TINY[split]
            assert (corpus / f"{task}_{split}.npz").exists()
    assert manifest["vocabulary"]["words"] >= 1000
    assert manifest["phones"] == len(load_lexicon_of(corpus).phones)


def test_utterances_have_aligned_features_and_labels(corpus):
    lexicon = load_lexicon_of(corpus)
    for task in TASKS:
        for utterance in load_utterances(corpus, task, "dev"):
            frames = utterance.features.shape[0]
            assert utterance.features.shape == (frames, 440)
            assert utterance.features.dtype == np.float32
            assert utterance.labels.shape == (frames,) and utterance.labels.dtype == np.int64
            assert 0 <= utterance.labels.min() and utterance.labels.max() < lexicon.num_pdfs
            assert utterance.labels[0] in {lexicon.pdf(SILENCE, s) for s in range(3)}
            assert utterance.snr_db is None or 10 <= utterance.snr_db <= 20


def test_load_frames_concatenates_utterances(corpus):
    x, y = load_frames(corpus, TASKS, "test")
    utterances = [u for task in TASKS for u in load_utterances(corpus, task, "test")]
    assert np.array_equal(x, np.concatenate([u.features for u in utterances]))
    assert np.array_equal(y, np.concatenate([u.labels for u in utterances]))


def test_lexicon_covers_the_vocabulary_and_the_labels(corpus):
    lexicon = load_lexicon_of(corpus)
    assert set(lexicon.words) == set(wordlist.vocabulary()) | set(wordlist.DIGIT_WORDS)
    assert lexicon.phones[0] == SILENCE
    assert all(len(v) >= 1 for v in lexicon.prons.values())


def test_train_sentences_are_the_training_transcripts(corpus):
    sentences = train_sentences(corpus, "words")
    assert sentences == [u.words for u in load_utterances(corpus, "words", "train")]
    assert len(sentences) == TINY.train


def test_same_arguments_reuse_the_cache(corpus):
    before = {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()}
    build_corpus(corpus, seed=3, sizes=TINY, progress=False, workers=1)
    assert {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()} == before


def _differing_utterances(a, b) -> list:
    """``(uid, voice, frames that differ)`` of the utterances whose filterbanks differ."""
    out = []
    offsets = a["offsets"]
    for i, uid in enumerate(a["uids"]):
        x, y = a["fbank"][offsets[i]:offsets[i + 1]], b["fbank"][offsets[i]:offsets[i + 1]]
        if x.shape != y.shape or not np.array_equal(x, y):
            rows = int((x != y).any(axis=1).sum()) if x.shape == y.shape else "shape"
            out.append((str(uid), str(a["voices"][i]), rows))
    return out


def test_rebuild_with_the_same_seed_is_identical(corpus, tmp_path):
    build_corpus(tmp_path, seed=3, sizes=TINY, progress=False, workers=1)
    for name in ("words_test.npz", "digits_train.npz"):
        with np.load(corpus / name) as a, np.load(tmp_path / name) as b:
            assert sorted(a.files) == sorted(b.files)
            for key in a.files:
                same = np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f")
                # name the utterances and voices that differ: the failure seen once in CI
                # could not be reproduced, and this is what the next occurrence must tell
                assert same, (name, key, _differing_utterances(a, b) if key == "fbank" else "")
    assert (corpus / "lexicon.json").read_text() == (tmp_path / "lexicon.json").read_text()


def test_cli_prints_the_summary(corpus, capsys, monkeypatch):
    import sw.corpus

    # the CLI has no size option; point its default sizes at the tiny corpus already built
    monkeypatch.setattr(sw.corpus, "FULL", TINY)
    assert main(["corpus", "--out", str(corpus), "--seed", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "digits/test" in out and "words/train" in out and "phones:" in out


def test_cli_rejects_a_negative_seed(tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        main(["corpus", "--out", str(tmp_path), "--seed", "-1"])
    assert error.value.code == 2
    assert "--seed must be >= 0, not -1" in capsys.readouterr().err


# ---------------------------------------------------------------- user WAV folders


@pytest.fixture(scope="session")
def recording(spec):
    return render(spec).audio


def wav_folder(tmp_path, audio, uids=("a", "b"), lines=None, rate=16000):
    folder = tmp_path / "wavs"
    folder.mkdir()
    for uid in uids:
        write_wav(folder / f"{uid}.wav", audio, rate)
    transcript = tmp_path / "text"
    transcript.write_text("".join(lines if lines is not None else
                                  [f"{uid} one two\n" for uid in uids]))
    return folder, transcript


def test_wav_folder_gives_the_corpus_features(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording)
    utterances = load_wav_folder(folder, transcript)
    assert [u.uid for u in utterances] == ["a", "b"]
    assert utterances[0].words == ("one", "two")
    assert np.array_equal(utterances[0].features, splice(cmvn(fbank(recording))))
    assert utterances[0].labels.shape == (0,)


def test_error_wav_sample_rate(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, rate=22050)
    with pytest.raises(CorpusError, match="has sample rate 22050 Hz; resample it to 16000 Hz"):
        load_wav_folder(folder, transcript)


def test_error_empty_wav(tmp_path):
    folder, transcript = wav_folder(tmp_path, np.zeros(0, dtype=np.int16))
    with pytest.raises(CorpusError, match="is empty \\(no samples\\)"):
        load_wav_folder(folder, transcript)


def test_error_silent_wav(tmp_path):
    folder, transcript = wav_folder(tmp_path, np.full(16000, 3, dtype=np.int16))
    with pytest.raises(CorpusError, match="is silent \\(peak -80.8 dBFS, below -60 dBFS\\)"):
        load_wav_folder(folder, transcript)


def test_error_too_short_wav(tmp_path):
    folder, transcript = wav_folder(tmp_path, np.full(100, 3000, dtype=np.int16))
    with pytest.raises(CorpusError, match="is too short \\(100 samples; at least 160 needed\\)"):
        load_wav_folder(folder, transcript)


def test_error_transcript_uid_without_wav(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, lines=["a x\n", "b y\n", "c z\n"])
    with pytest.raises(CorpusError, match="1 utterance\\(s\\) of .* have no WAV file in .*: c"):
        load_wav_folder(folder, transcript)


def test_error_wav_without_transcript_line(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, lines=["a x\n"])
    with pytest.raises(CorpusError, match="1 WAV file\\(s\\) in .* are not in .*: b"):
        load_wav_folder(folder, transcript)


def test_error_duplicate_uid(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, lines=["a x\n", "b y\n", "a z\n"])
    with pytest.raises(CorpusError, match=":3: utterance 'a' appears twice"):
        load_wav_folder(folder, transcript)


def test_error_uid_without_words(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, lines=["a x\n", "b\n"])
    with pytest.raises(CorpusError, match=":2: utterance 'b' has no words"):
        load_wav_folder(folder, transcript)


def test_error_empty_transcript(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, lines=["\n"])
    with pytest.raises(CorpusError, match="lists no utterances"):
        load_wav_folder(folder, transcript)


def test_error_missing_transcript_file(tmp_path, recording):
    folder, _ = wav_folder(tmp_path, recording)
    with pytest.raises(CorpusError, match="transcript file .*nothing does not exist"):
        load_wav_folder(folder, tmp_path / "nothing")


def test_error_missing_folder(tmp_path):
    with pytest.raises(CorpusError, match="WAV folder .*nowhere does not exist"):
        load_wav_folder(tmp_path / "nowhere", tmp_path / "text")


def float_wav(path, samples, rate=16000, code=3, bits=32, channels=1):
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = (code.to_bytes(2, "little") + channels.to_bytes(2, "little")
           + rate.to_bytes(4, "little") + (rate * 4).to_bytes(4, "little")
           + (4).to_bytes(2, "little") + bits.to_bytes(2, "little"))
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" \
        + len(data).to_bytes(4, "little") + data
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)


def test_float_wav_is_read(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, uids=())
    transcript.write_text("a one\n")
    float_wav(folder / "a.wav", recording / 32768.0)
    utterance, = load_wav_folder(folder, transcript)
    assert np.allclose(utterance.features, splice(cmvn(fbank(recording))), atol=1e-3)


def test_error_nan_features_from_a_float_wav(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, uids=())
    transcript.write_text("a one\n")
    samples = recording / 32768.0
    samples[100] = math.nan
    float_wav(folder / "a.wav", samples)
    with pytest.raises(CorpusError, match="a.wav: audio has 1 NaN or infinite samples"):
        load_wav_folder(folder, transcript)


def test_error_stereo_wav(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, uids=())
    transcript.write_text("a one\n")
    float_wav(folder / "a.wav", recording / 32768.0, channels=2)
    with pytest.raises(CorpusError, match="has 2 channels; only mono WAV files are accepted"):
        load_wav_folder(folder, transcript)


def test_error_unsupported_wav_encoding(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, uids=())
    transcript.write_text("a one\n")
    float_wav(folder / "a.wav", recording / 32768.0, code=1, bits=32)
    with pytest.raises(CorpusError, match="holds format code 1 with 32 bits per sample"):
        load_wav_folder(folder, transcript)


def test_error_not_a_wav(tmp_path, recording):
    folder, transcript = wav_folder(tmp_path, recording, uids=())
    transcript.write_text("a one\n")
    (folder / "a.wav").write_bytes(b"ID3 not audio")
    with pytest.raises(CorpusError, match="is not a WAV file \\(no RIFF/WAVE header\\)"):
        load_wav_folder(folder, transcript)


# ---------------------------------------------------------------- corpus errors


def test_error_unknown_task(corpus):
    with pytest.raises(CorpusError, match="task must be one of digits, words, not 'letters'"):
        load_utterances(corpus, "letters", "test")


def test_error_unknown_split(corpus):
    with pytest.raises(CorpusError, match="split must be one of train, dev, test, not 'eval'"):
        load_frames(corpus, ["digits"], "eval")


def test_error_corpus_not_built(tmp_path):
    with pytest.raises(CorpusError, match="does not exist; build the corpus first"):
        load_utterances(tmp_path, "digits", "test")


def test_error_lexicon_not_built(tmp_path):
    with pytest.raises(CorpusError, match="lexicon.json does not exist; build the corpus"):
        load_lexicon_of(tmp_path)


def test_error_not_a_corpus_file(tmp_path):
    np.savez(tmp_path / "digits_test.npz", format=np.array("asrhw.graph"), version=np.array(1))
    with pytest.raises(CorpusError, match="is not an asrhw corpus file \\(format 'asrhw.graph'"):
        load_utterances(tmp_path, "digits", "test")


def test_error_bad_sizes():
    with pytest.raises(CorpusError, match="sizes.test must be an int >= 1, not 0"):
        CorpusSizes(train=1, dev=1, test=0)


def test_error_bad_seed(tmp_path):
    with pytest.raises(CorpusError, match="seed must be an int >= 0, not -2"):
        build_corpus(tmp_path, seed=-2, sizes=TINY, progress=False)


def test_utterance_spec_is_frozen(spec):
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.rate = 1
