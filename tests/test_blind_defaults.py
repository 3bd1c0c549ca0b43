"""Defaults of blind (unsupervised) separation: the STFT follows the sample rate."""

import numpy as np
import pytest

from hypothesis import given, settings, strategies as st

from nmfaudio import separate
from nmfaudio.errors import ParameterError
from nmfaudio.pipeline import BLIND_FRAME_SECONDS, blind_stft
from nmfaudio.spectral import STFTConfig


@pytest.mark.parametrize("rate, n_fft", [(8000, 512), (16000, 1024), (22050, 1024),
                                         (44100, 2048), (48000, 4096)])
def test_frames_of_about_64_ms(rate, n_fft):
    config = STFTConfig.for_sample_rate(rate)
    assert (config.n_fft, config.hop_length) == (n_fft, n_fft // 4)
    # within a factor sqrt(2) of 64 ms on a log scale
    assert abs(np.log2(config.n_fft / (0.064 * rate))) <= 0.5 + 1e-9


@pytest.mark.parametrize("rate, n_fft", [(8000, 768), (16000, 1536), (22050, 1536),
                                         (44100, 3072), (48000, 4096)])
def test_blind_frames_of_about_80_ms(rate, n_fft):
    config = blind_stft(rate)
    assert (config.n_fft, config.hop_length) == (n_fft, n_fft // 4)
    assert 0.069 <= n_fft / rate <= 0.096


@settings(max_examples=200, deadline=None)
@given(rate=st.integers(1000, 400_000), frame_seconds=st.floats(0.005, 0.5))
def test_three_times_a_power_of_two_keeps_near_the_aim(rate, frame_seconds):
    n_fft = STFTConfig.for_sample_rate(rate, frame_seconds=frame_seconds,
                                       power_of_two=False).n_fft
    power = STFTConfig.for_sample_rate(rate, frame_seconds=frame_seconds).n_fft
    odd = n_fft // (n_fft & -n_fft)  # n_fft without its factors of two
    assert odd in (1, 3)
    aim = frame_seconds * rate
    if aim >= 16:
        # the sizes step by 3/2 and 4/3, so the nearest is within sqrt(3/2) of the aim
        assert abs(np.log2(n_fft / aim)) <= 0.5 * np.log2(1.5) + 1e-9
        assert abs(np.log2(n_fft / aim)) <= abs(np.log2(power / aim)) + 1e-9


@pytest.mark.parametrize("rate", [0, -8000, 8000.5, "8000", None])
def test_bad_rate(rate):
    with pytest.raises(ParameterError, match="sample_rate"):
        STFTConfig.for_sample_rate(rate)


def test_blind_separation_uses_the_rate_default_unless_told():
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    sep = separate(x, sample_rate=8000, n_sources=2, n_iter=5)
    assert sep.stft == blind_stft(8000) == STFTConfig.for_sample_rate(
        8000, frame_seconds=BLIND_FRAME_SECONDS, power_of_two=False)
    given = STFTConfig(n_fft=256, hop_length=64)
    assert separate(x, sample_rate=8000, n_sources=2, n_iter=5, stft_config=given).stft == given


@pytest.mark.parametrize("n_samples, n_fft", [(2205, 2048), (3071, 2048), (3072, 3072),
                                              (100, 96), (16, 16), (10, 3072)])
def test_a_clip_shorter_than_the_blind_frame_gets_one_it_holds(n_samples, n_fft):
    assert blind_stft(44100, n_samples).n_fft == n_fft  # under 16 samples: refused later


def test_a_50_ms_clip_separates_blind_with_a_shorter_frame():
    x = np.random.default_rng(1).standard_normal(2205).astype(np.float32)
    sep = separate(x, sample_rate=44100, n_sources=2, n_iter=5)
    assert sep.stft.n_fft == 2048
    np.testing.assert_allclose(sep.sources.sum(axis=0)[0], x, atol=1e-5)


def test_streamed_separation_shrinks_the_frame_as_in_memory(tmp_path):
    import soundfile as sf

    from nmfaudio.chunked import separate_to_files

    x = (0.1 * np.random.default_rng(2).standard_normal(2205)).astype(np.float32)
    path = tmp_path / "short.wav"
    sf.write(str(path), x, 44100, subtype="FLOAT")
    outs = [tmp_path / "a.wav", tmp_path / "b.wav"]
    separate_to_files(path, outs, n_sources=2, n_iter=5)
    streamed = np.stack([sf.read(str(p), dtype="float32")[0] for p in outs])
    in_memory = separate(path, n_sources=2, n_iter=5)
    assert in_memory.stft.n_fft == 2048
    np.testing.assert_allclose(streamed, in_memory.sources[:, 0], atol=1e-5)


@settings(max_examples=200, deadline=None)
@given(n_samples=st.integers(16, 10**7), power_of_two=st.booleans())
def test_fitting_n_fft_is_the_longest_size_of_its_kind_that_fits(n_samples, power_of_two):
    from nmfaudio.spectral import fitting_n_fft

    n_fft = fitting_n_fft(n_samples, power_of_two=power_of_two)
    odd = n_fft // (n_fft & -n_fft)
    assert 16 <= n_fft <= n_samples and odd in ((1,) if power_of_two else (1, 3))
    # the next size of the kind up does not fit
    following = 2 * n_fft if power_of_two else (4 * n_fft // 3 if odd == 3 else 3 * n_fft // 2)
    assert following > n_samples
