"""Features: frame count convention, CMVN, splicing, and one test per error message."""

import numpy as np
import pytest

from sw.features import FeatureError, cmvn, fbank, features, num_frames, splice


def tone(seconds=0.5, freq=440.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    return (8000 * np.sin(2 * np.pi * freq * t) + rng.normal(0, 100, t.size)).astype(np.int16)


@pytest.mark.parametrize("count", [160, 239, 240, 400, 8000, 8079, 8080])
def test_frame_count_is_centred_windows(count):
    samples = np.random.default_rng(count).normal(0, 1000, count).astype(np.int16)
    assert num_frames(count) == (count + 80) // 160
    assert fbank(samples).shape == (num_frames(count), 40)


def test_float_input_is_int16_scale_over_32768():
    samples = tone()
    assert np.allclose(fbank(samples), fbank(samples / 32768.0), atol=1e-4)


def test_cmvn_normalises_each_dimension_and_survives_constant_channels():
    feats = fbank(tone())
    feats[:, 3] = 7.0
    out = cmvn(feats)
    assert np.allclose(out.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(out[:, np.arange(40) != 3].std(axis=0), 1, atol=1e-3)
    assert np.all(out[:, 3] == 0)


def test_splice_repeats_edges_and_centres_the_frame():
    feats = np.arange(4 * 2, dtype=np.float32).reshape(4, 2)
    out = splice(feats, context=2)
    assert out.shape == (4, 10)
    assert out[0].tolist() == [0, 1, 0, 1, 0, 1, 2, 3, 4, 5]
    assert out[3].tolist() == [2, 3, 4, 5, 6, 7, 6, 7, 6, 7]
    assert np.array_equal(out[:, 4:6], feats)


def test_features_are_440_wide_float32():
    out = features(tone())
    assert out.shape == (num_frames(8000), 440) and out.dtype == np.float32
    assert np.array_equal(out[:, 200:240], cmvn(fbank(tone())))


def test_error_sample_rate():
    with pytest.raises(FeatureError, match="sample rate must be 16000 Hz, not 8000 Hz"):
        fbank(tone(), sample_rate=8000)


def test_error_two_channels():
    with pytest.raises(FeatureError, match="samples must be one channel \\(1-D\\), not shape "
                                           "\\(2, 100\\)"):
        fbank(np.zeros((2, 100), dtype=np.int16))


def test_error_too_short():
    with pytest.raises(FeatureError, match="audio has 100 samples; at least 160"):
        fbank(np.ones(100, dtype=np.int16))


def test_error_nan_samples():
    samples = tone() / 32768.0
    samples[10] = np.nan
    with pytest.raises(FeatureError, match="audio has 1 NaN or infinite samples"):
        fbank(samples)


def test_error_nan_features():
    feats = np.zeros((5, 40), dtype=np.float32)
    feats[2, 7] = np.nan
    with pytest.raises(FeatureError, match="features contain NaN or infinite values \\(1 of "
                                           "200, first at frame 2\\)"):
        cmvn(feats)


def test_error_empty_features():
    with pytest.raises(FeatureError, match="must be a non-empty \\[frames, dims\\] array"):
        splice(np.zeros((0, 40)))


def test_error_negative_context():
    with pytest.raises(FeatureError, match="context must be an int >= 0, not -1"):
        splice(np.zeros((3, 40)), context=-1)
