"""Defaults of blind (unsupervised) separation: the STFT follows the sample rate."""

import numpy as np
import pytest

from nmfaudio import separate
from nmfaudio.errors import ParameterError
from nmfaudio.spectral import STFTConfig


@pytest.mark.parametrize("rate, n_fft", [(8000, 512), (16000, 1024), (22050, 1024),
                                         (44100, 2048), (48000, 4096)])
def test_frames_of_about_64_ms(rate, n_fft):
    config = STFTConfig.for_sample_rate(rate)
    assert (config.n_fft, config.hop_length) == (n_fft, n_fft // 4)
    # within a factor sqrt(2) of 64 ms on a log scale
    assert abs(np.log2(config.n_fft / (0.064 * rate))) <= 0.5 + 1e-9


@pytest.mark.parametrize("rate", [0, -8000, 8000.5, "8000", None])
def test_bad_rate(rate):
    with pytest.raises(ParameterError, match="sample_rate"):
        STFTConfig.for_sample_rate(rate)


def test_blind_separation_uses_the_rate_default_unless_told():
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    sep = separate(x, sample_rate=8000, n_sources=2, n_iter=5)
    assert sep.stft == STFTConfig.for_sample_rate(8000)
    given = STFTConfig(n_fft=256, hop_length=64)
    assert separate(x, sample_rate=8000, n_sources=2, n_iter=5, stft_config=given).stft == given
