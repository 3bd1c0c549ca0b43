"""Tests of the research entry points of the pipeline: separate_stft on a caller's own
complex STFT, separate on a numpy array, the source STFTs and the masks actually applied,
the settings checked once (separation_settings), and hypothesis tests that the sources
add up to the mixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nmfaudio
from nmfaudio import STFTConfig, learn_dictionary, load, separate, separate_stft
from nmfaudio.errors import DictionaryMismatchError, ParameterError
from nmfaudio.pipeline import (DEFAULT_L1_SUPERVISED, SeparationSettings, separation_settings,
                               source_masks)
from nmfaudio.spectral import istft, stft

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
EXAMPLE = FIXTURES / "example"
STEREO = FIXTURES / "stereo"
CONFIG = STFTConfig(n_fft=1024, hop_length=256)


@pytest.fixture(scope="module")
def dictionaries():
    return [learn_dictionary(EXAMPLE / "train" / f"{name}.wav", 8, name=name, stft_config=CONFIG,
                             n_iter=40) for name in ("keys", "drums")]


def _relative_error(estimate: np.ndarray, target: np.ndarray) -> float:
    return float(np.linalg.norm((estimate - target).ravel()) / np.linalg.norm(target.ravel()))


# --------------------------------------------------------------------------- separate_stft


def test_separate_stft_on_a_complex_stft_matches_separate(dictionaries):
    mixture = load(EXAMPLE / "mixture.wav")
    X = stft(mixture.samples, CONFIG)
    before = X.copy()
    sep = separate_stft(X, sample_rate=mixture.sample_rate, stft=CONFIG,
                        dictionaries=dictionaries, n_iter=40)
    assert np.array_equal(X, before)  # input not modified
    assert sep.source_stfts.shape == (2,) + X.shape and sep.source_stfts.dtype == X.dtype
    assert sep.applied_masks.shape == (2,) + X.shape
    assert sep.sources is None and sep.mixture is None and sep.sample_rate == 22050
    assert _relative_error(sep.source_stfts.sum(axis=0), X) < 1e-5
    # the same separation as separate() from the signal
    whole = separate(mixture, dictionaries=dictionaries, n_iter=40)
    assert np.array_equal(whole.source_stfts, sep.source_stfts)
    signals = istft(sep.source_stfts, CONFIG, length=mixture.n_samples)
    assert np.array_equal(signals, whole.sources)


def test_separate_stft_stereo_gains_masks_differ_per_channel_and_add_up():
    mixture = load(STEREO / "mixture.wav")
    X = stft(mixture.samples, CONFIG)
    # "gains" is the supervised default; without dictionaries it must be asked for
    sep = separate_stft(X, sample_rate=mixture.sample_rate, stft=CONFIG, n_sources=2,
                        n_iter=30, channel_masks="gains")
    assert sep.channel_gains.shape == (2, 2)
    np.testing.assert_allclose(sep.applied_masks.sum(axis=0), 1.0, atol=1e-5)
    # panned sources: the masks of the two channels are not the same
    assert np.abs(sep.applied_masks[:, 0] - sep.applied_masks[:, 1]).max() > 0.01
    np.testing.assert_array_equal(sep.source_stfts, sep.applied_masks * X[None])
    assert _relative_error(sep.source_stfts.sum(axis=0), X) < 1e-5


def test_shared_masks_are_the_same_on_every_channel():
    mixture = load(STEREO / "mixture.wav")
    X = stft(mixture.samples, CONFIG)
    sep = separate_stft(X, sample_rate=mixture.sample_rate, stft=CONFIG, n_sources=2,
                        n_iter=20, channel_masks="shared")
    assert sep.channel_gains is None
    assert np.array_equal(sep.applied_masks[:, 0], sep.masks)
    assert np.array_equal(sep.applied_masks[:, 1], sep.masks)


@pytest.mark.parametrize("X,match", [
    (np.ones((1, 513, 10), dtype=np.float32), "complex"),
    (np.ones((513, 10), dtype=np.complex64), r"\(C, F, T\)"),
    (np.ones((1, 500, 10), dtype=np.complex64), "frequency bins"),
    (np.zeros((1, 513, 10), dtype=np.complex64), "all zero"),
    (np.full((1, 513, 10), np.nan, dtype=np.complex64), "NaN"),
])
def test_separate_stft_refuses_bad_stfts(X, match):
    with pytest.raises(ParameterError, match=match):
        separate_stft(X, sample_rate=22050, stft=CONFIG, n_sources=2)


def test_separate_stft_with_dictionaries_needs_their_rate(dictionaries):
    X = stft(load(EXAMPLE / "mixture.wav").samples, CONFIG)
    with pytest.raises(DictionaryMismatchError, match="16000 Hz.*22050 Hz"):
        separate_stft(X, sample_rate=16000, stft=CONFIG, dictionaries=dictionaries)
    with pytest.raises(ParameterError, match="sample_rate"):
        separate_stft(X, sample_rate=0, stft=CONFIG, n_sources=2)


# --------------------------------------------------------------------------- separate


def test_separate_on_a_numpy_array_matches_separate_on_audio(dictionaries):
    mixture = load(EXAMPLE / "mixture.wav")
    samples = np.array(mixture.samples)
    from_array = separate(samples, sample_rate=mixture.sample_rate, dictionaries=dictionaries,
                          n_iter=30)
    from_audio = separate(mixture, dictionaries=dictionaries, n_iter=30)
    assert np.array_equal(from_array.sources, from_audio.sources)
    assert np.array_equal(samples, mixture.samples)  # not modified
    mono = separate(samples[0], sample_rate=mixture.sample_rate, dictionaries=dictionaries,
                    n_iter=30)
    assert mono.sources.shape == (2, 1, mixture.n_samples)
    assert np.array_equal(mono.sources, from_audio.sources)


def test_separate_array_rules():
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    with pytest.raises(ParameterError, match="needs sample_rate"):
        separate(x, n_sources=2)
    with pytest.raises(ParameterError, match="for a numpy array"):
        separate(EXAMPLE / "mixture.wav", sample_rate=22050, n_sources=2)
    with pytest.raises(ParameterError, match="sample_rate"):
        separate(x, sample_rate=-1, n_sources=2)


def test_separate_resampled_array_keeps_the_residual(dictionaries):
    mixture = load(EXAMPLE / "mixture.wav")
    from nmfaudio.audio import resample

    high = resample(mixture, 32000)
    sep = separate(np.array(high.samples), sample_rate=32000, dictionaries=dictionaries, n_iter=20)
    assert sep.analysis_rate == 22050 and sep.sample_rate == 32000
    assert sep.source_stfts.shape[2] == CONFIG.n_bins
    total = sep.sources.sum(axis=0) + sep.residual
    assert np.abs(total - high.samples).max() < 1e-4


# --------------------------------------------------------------------------- settings


def test_settings_hold_the_defaults_once(dictionaries):
    sup = separation_settings(dictionaries=dictionaries, n_free=2)
    assert isinstance(sup, SeparationSettings)
    assert sup.supervised and sup.source_names == ("keys", "drums", "other")
    assert sup.n_components == 18 and sup.stft == CONFIG and sup.sample_rate == 22050
    assert sup.l1_activations == DEFAULT_L1_SUPERVISED and sup.beta == dictionaries[0].beta
    assert sup.labels().tolist() == [0] * 8 + [1] * 8 + [2] * 2
    blind = separation_settings(n_sources=3)
    assert not blind.supervised and blind.n_components == 32 and blind.stft == STFTConfig()
    assert separation_settings(n_sources=2).n_components == 16  # 16 more per source after two
    assert blind.beta == "kl" and blind.l1_activations == 0.0 and blind.sample_rate is None


@pytest.mark.parametrize("kwargs,match", [
    ({}, "either dictionaries"),
    ({"n_sources": 2, "n_free": 1}, "n_free is for supervised"),
    ({"n_sources": 3, "n_components": 2}, "n_components must be an integer >= n_sources"),
    ({"n_sources": 2, "mask_power": 0}, "mask_power"),
    ({"n_sources": 2, "channel_masks": "x"}, "channel_masks"),
    ({"n_sources": 2, "source_names": ["a", "a"]}, "distinct"),
])
def test_settings_refuse_unclear_modes(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        separation_settings(**kwargs)


def test_settings_refuse_another_stft_with_dictionaries(dictionaries):
    with pytest.raises(ParameterError, match="unsupervised"):
        separation_settings(dictionaries=dictionaries, n_components=4)
    with pytest.raises(DictionaryMismatchError, match="learned with"):
        separation_settings(dictionaries=dictionaries, stft=STFTConfig())


# --------------------------------------------------------------------------- properties


@st.composite
def _mixtures(draw):
    n_channels = draw(st.sampled_from([1, 2]))
    n_samples = draw(st.integers(min_value=1024, max_value=4000))
    seed = draw(st.integers(min_value=0, max_value=2**16))
    rng = np.random.default_rng(seed)
    gains = rng.uniform(0.05, 1.0, size=(n_channels, 1))
    samples = (gains * rng.standard_normal((n_channels, n_samples))).astype(np.float32)
    return samples


SMALL = STFTConfig(n_fft=256, hop_length=64)
PROPERTY = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(samples=_mixtures(), channel_masks=st.sampled_from(["gains", "shared"]),
       n_sources=st.integers(1, 3), mask_power=st.sampled_from([1.0, 2.0, 5.0]))
def test_sources_add_up_to_the_mixture_through_separate(samples, channel_masks, n_sources,
                                                        mask_power):
    sep = separate(samples, sample_rate=8000, n_sources=n_sources, stft_config=SMALL,
                   n_iter=5, channel_masks=channel_masks, mask_power=mask_power)
    assert sep.sources.shape == (n_sources,) + samples.shape
    assert np.all(np.isfinite(sep.sources))
    scale = np.abs(samples).max()
    assert np.abs(sep.sources.sum(axis=0) - samples).max() <= 1e-4 * scale


@PROPERTY
@given(samples=_mixtures(), channel_masks=st.sampled_from(["gains", "shared"]),
       n_sources=st.integers(1, 3))
def test_source_stfts_add_up_to_x_through_separate_stft(samples, channel_masks, n_sources):
    X = stft(samples, SMALL)
    sep = separate_stft(X, sample_rate=8000, stft=SMALL, n_sources=n_sources, n_iter=5,
                        channel_masks=channel_masks)
    assert sep.source_stfts.shape == (n_sources,) + X.shape
    np.testing.assert_allclose(sep.applied_masks.sum(axis=0), 1.0, atol=1e-5)
    assert _relative_error(sep.source_stfts.sum(axis=0), X) < 1e-5
    if channel_masks == "shared" or samples.shape[0] == 1:
        assert sep.channel_gains is None


@PROPERTY
@given(models=st.integers(0, 2**16).map(
           lambda seed: np.random.default_rng(seed).random((3, 5, 7)).astype(np.float32)),
       gains=st.lists(st.floats(0.01, 100.0), min_size=6, max_size=6))
def test_source_masks_with_gains_sum_to_one(models, gains):
    masks, applied = source_masks(models, mask_power=2.0, n_channels=2,
                                  gains=np.array(gains).reshape(3, 2))
    assert applied.shape == (3, 2, 5, 7)
    np.testing.assert_allclose(applied.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(masks.sum(axis=0), 1.0, atol=1e-5)


def test_separate_stft_is_exported():
    assert nmfaudio.separate_stft is separate_stft
