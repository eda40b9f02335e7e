"""Acoustic features: 40 log-mel filterbanks, per-utterance CMVN, ±5 frames of context.

``features(samples) = splice(cmvn(fbank(samples)))`` gives ``float32[T, 440]``.

Frames follow Kaldi's ``snip_edges=false`` convention: frame ``t`` is the 25 ms window centred
on sample ``160 t + 80`` (16 kHz), so it describes the 10 ms from ``10 t`` to ``10 t + 10`` ms
and an utterance of ``N`` samples has ``T = (N + 80) // 160`` frames (:func:`num_frames`). The
corpus labels frame ``t`` with the HMM state active at that centre, so labels and features count
the same frames by construction.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONTEXT", "FRAME_SHIFT", "NUM_BINS", "SAMPLE_RATE", "FeatureError", "cmvn",
           "fbank", "features", "num_frames", "splice"]

SAMPLE_RATE = 16000
FRAME_SHIFT = 160  # samples (10 ms)
NUM_BINS = 40
CONTEXT = 5
_STD_FLOOR = 1e-5  # a constant channel (digital silence) is centred, not blown up


class FeatureError(ValueError):
    """Audio or features that cannot be (or were not) turned into valid features."""


def num_frames(num_samples: int) -> int:
    """Frames of an utterance of ``num_samples`` samples (10 ms shift, centred windows)."""
    return (int(num_samples) + FRAME_SHIFT // 2) // FRAME_SHIFT


def _options(sample_rate: int):
    import kaldi_native_fbank as knf

    options = knf.FbankOptions()
    options.frame_opts.samp_freq = float(sample_rate)
    options.frame_opts.dither = 0.0  # deterministic; synthetic audio gets its noise floor upstream
    options.frame_opts.snip_edges = False
    options.mel_opts.num_bins = NUM_BINS
    return options


def fbank(samples, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """40 log-mel filterbank energies, ``float32[T, 40]``, 25 ms windows every 10 ms.

    Parameters
    ----------
    samples : array_like
        Mono audio. Integer arrays are taken at int16 scale; float arrays as [-1, 1] and scaled
        by 32768 (Kaldi's convention is int16 scale; it matters only for the log floor).
    sample_rate : int
        Must be 16000.
    """
    import kaldi_native_fbank as knf

    if sample_rate != SAMPLE_RATE:
        raise FeatureError(f"sample rate must be {SAMPLE_RATE} Hz, not {sample_rate} Hz")
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise FeatureError(f"samples must be one channel (1-D), not shape {samples.shape}")
    if samples.size < FRAME_SHIFT:
        raise FeatureError(f"audio has {samples.size} samples; at least {FRAME_SHIFT} (10 ms) "
                           f"are needed for one frame")
    if np.issubdtype(samples.dtype, np.integer):
        wave = samples.astype(np.float32)
    else:
        wave = samples.astype(np.float32) * 32768.0
    if not np.all(np.isfinite(wave)):
        raise FeatureError(f"audio has {int(np.sum(~np.isfinite(wave)))} NaN or infinite "
                           f"samples")
    computer = knf.OnlineFbank(_options(sample_rate))
    computer.accept_waveform(float(sample_rate), wave)
    computer.input_finished()
    frames = [computer.get_frame(t) for t in range(computer.num_frames_ready)]
    return np.asarray(frames, dtype=np.float32).reshape(-1, NUM_BINS)


def _check_features(feats: np.ndarray, what: str) -> np.ndarray:
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise FeatureError(f"{what} must be a non-empty [frames, dims] array, not shape "
                           f"{feats.shape}")
    bad = ~np.isfinite(feats)
    if bad.any():
        frame = int(np.flatnonzero(bad.any(axis=1))[0])
        raise FeatureError(f"{what} contain NaN or infinite values ({int(bad.sum())} of "
                           f"{feats.size}, first at frame {frame})")
    return feats


def cmvn(feats) -> np.ndarray:
    """Per-utterance mean and variance normalised copy (each dimension: mean 0, std 1)."""
    feats = _check_features(feats, "features")
    mean = feats.mean(axis=0)
    std = np.maximum(feats.std(axis=0), _STD_FLOOR)
    return ((feats - mean) / std).astype(np.float32)


def splice(feats, context: int = CONTEXT) -> np.ndarray:
    """Stack frames ``t - context .. t + context`` (edge frames repeated): ``[T, D * (2c+1)]``.

    Row ``t`` holds frame ``t - context`` first and ``t + context`` last.
    """
    feats = _check_features(feats, "features")
    if not isinstance(context, int) or context < 0:
        raise FeatureError(f"context must be an int >= 0, not {context!r}")
    count = feats.shape[0]
    index = np.clip(np.arange(count)[:, None] + np.arange(-context, context + 1), 0, count - 1)
    return feats[index].reshape(count, -1)


def features(samples, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``splice(cmvn(fbank(samples)))``: ``float32[T, 440]``, the acoustic model's input."""
    return splice(cmvn(fbank(samples, sample_rate)))
