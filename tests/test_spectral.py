"""Tests of nmfaudio.spectral: STFTConfig, stft/istft, spectrogram, axes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from nmfaudio.errors import ParameterError
from nmfaudio.spectral import STFTConfig, frequencies, istft, spectrogram, stft, times


def noise(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


def read_real(path, seconds=None):
    """(C, N) float32 samples of a shared recording (optionally only the first seconds)."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if seconds is not None:
        data = data[: int(seconds * rate)]
    return np.ascontiguousarray(data.T), rate


# --------------------------------------------------------------------------- STFTConfig


def test_config_defaults_and_n_bins():
    config = STFTConfig()
    assert (config.n_fft, config.hop_length, config.window, config.center) == (
        2048, 512, "hann", True,
    )
    assert config.n_bins == 1025
    assert STFTConfig(n_fft=511, hop_length=100).n_bins == 256
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_fft = 1024


def test_config_is_hashable_and_compares_by_value():
    assert STFTConfig(1024, 256) == STFTConfig(n_fft=1024, hop_length=256)
    assert len({STFTConfig(), STFTConfig(), STFTConfig(window=["kaiser", 8])}) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_fft": 0}, "n_fft"),
        ({"n_fft": -2048}, "n_fft"),
        ({"n_fft": 2048.0}, "n_fft"),
        ({"n_fft": True}, "n_fft"),
        ({"n_fft": 1, "hop_length": 1}, "n_fft"),
        ({"hop_length": 0}, "hop_length"),
        ({"hop_length": 128.5}, "hop_length"),
        ({"hop_length": 2048}, r"n_fft // 2"),
        ({"hop_length": 1025}, r"hop_length <= 1024"),
        ({"window": "no-such-window"}, "get_window"),
        ({"window": 3}, "window"),
        ({"window": np.hanning(2048)}, "get_window"),
        ({"window": ("kaiser", "big")}, "numbers"),
        ({"window": ("gaussian", 1.0)}, "overlap-add"),
        ({"window": ("kaiser", 1000.0)}, "non-finite"),
        ({"center": "yes"}, "center"),
        ({"center": 1}, "center"),
    ],
)
def test_config_rejects(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        STFTConfig(**kwargs)


def test_config_to_dict_from_dict_round_trip_through_npz(tmp_path):
    for config in (
        STFTConfig(),
        STFTConfig(n_fft=1024, hop_length=256, window=("kaiser", 8.0), center=False),
    ):
        settings_ = config.to_dict()
        assert set(settings_) == {"n_fft", "hop_length", "window", "center"}
        assert STFTConfig.from_dict(settings_) == config
        np.savez(tmp_path / "d.npz", **settings_)
        with np.load(tmp_path / "d.npz") as data:
            assert STFTConfig.from_dict({k: data[k] for k in data.files}) == config


def test_from_dict_is_strict():
    good = STFTConfig().to_dict()
    with pytest.raises(ParameterError, match=r"missing keys \['hop_length'\]"):
        STFTConfig.from_dict({k: v for k, v in good.items() if k != "hop_length"})
    with pytest.raises(ParameterError, match=r"unknown keys \['sr'\]"):
        STFTConfig.from_dict({**good, "sr": 22050})
    with pytest.raises(ParameterError, match="mapping"):
        STFTConfig.from_dict([("n_fft", 2048)])
    with pytest.raises(ParameterError, match="hop_length"):
        STFTConfig.from_dict({**good, "hop_length": -1})


# --------------------------------------------------------------------------- stft / istft


def test_stft_shapes_and_dtypes():
    config = STFTConfig(n_fft=512, hop_length=128)
    X = stft(noise(4000), config)
    assert X.shape == (257, 1 + 4000 // 128) and X.dtype == np.complex64
    X64 = stft(noise(4000, np.float64), config)
    assert X64.dtype == np.complex128
    X2 = stft(noise((2, 4000)), config)
    assert X2.shape == (2, 257, 32) and X2.dtype == np.complex64
    np.testing.assert_allclose(X2[0], stft(noise((2, 4000))[0], config), atol=1e-5)
    assert stft(noise(4000).astype(np.float16), config).dtype == np.complex64


def test_stft_does_not_modify_input():
    x = noise((2, 3000))
    before = x.copy()
    stft(x, STFTConfig(n_fft=256, hop_length=64))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    "samples, match",
    [
        (np.zeros(100, np.float32), "fewer than n_fft=256"),
        (np.r_[np.zeros(500), np.nan].astype(np.float32), "NaN or infinite"),
        (np.r_[np.zeros(500), np.inf], "NaN or infinite"),
        (np.zeros(1000, np.int16), "floating-point"),
        (np.zeros(1000, np.complex64), "floating-point"),
        (np.float32(0.0), "scalar"),
    ],
)
def test_stft_rejects(samples, match):
    with pytest.raises(ParameterError, match=match):
        stft(samples, STFTConfig(n_fft=256, hop_length=64))


def test_stft_needs_a_config():
    with pytest.raises(ParameterError, match="STFTConfig"):
        stft(noise(4000), {"n_fft": 256})


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("length", [2048, 2049, 3000, 4096, 5119, 22050, 22051])
def test_istft_returns_exactly_the_requested_length(length, center):
    config = STFTConfig(n_fft=1024, hop_length=256, center=center)
    x = noise((2, length))
    y = istft(stft(x, config), config, length=length)
    assert y.shape == (2, length) and y.dtype == np.float32
    if center:
        np.testing.assert_allclose(y, x, atol=1e-5)
    else:
        # Uncentred frames leave the tail after the last whole frame unreconstructed,
        # and the first and last hop are divided by a tiny window sum; between, exact.
        covered = (length - 1024) // 256 * 256 + 1024
        inside = slice(256, covered - 256)
        np.testing.assert_allclose(y[:, inside], x[:, inside], atol=1e-5)


def test_istft_to_another_length_pads_or_truncates():
    config = STFTConfig(n_fft=512, hop_length=128)
    x = noise(3000, np.float64)
    X = stft(x, config)
    short = istft(X, config, length=1000)
    long = istft(X, config, length=4000)
    assert short.shape == (1000,) and long.shape == (4000,)
    np.testing.assert_allclose(short, x[:1000], atol=1e-12)
    np.testing.assert_allclose(long[:3000], x, atol=1e-12)
    assert np.abs(long[3200:]).max() == 0


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.zeros((257, 10), np.complex64), {"length": 0}, "length"),
        (np.zeros((257, 10), np.complex64), {"length": 100.0}, "length"),
        (np.zeros((256, 10), np.complex64), {"length": 1000}, "256 frequency bins.*257"),
        (np.zeros((257, 10), np.float32), {"length": 1000}, "complex"),
        (np.full((257, 10), np.nan, np.complex64), {"length": 1000}, "NaN"),
        (np.zeros((257, 0), np.complex64), {"length": 1000}, "at least one"),
        (np.zeros(257, np.complex64), {"length": 1000}, r"\(\.\.\., F, T\)"),
    ],
)
def test_istft_rejects(X, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        istft(X, STFTConfig(n_fft=512, hop_length=128), **kwargs)


def test_istft_length_is_keyword_only():
    config = STFTConfig(n_fft=512, hop_length=128)
    with pytest.raises(TypeError):
        istft(np.zeros((257, 10), np.complex64), config, 1000)


@settings(max_examples=40, deadline=None)
@given(
    log2_n_fft=st.integers(5, 10),
    hop_divisor=st.sampled_from([2, 3, 4, 8]),
    window=st.sampled_from(["hann", "hamming", "blackman", ("kaiser", 8.0)]),
    extra=st.integers(0, 3000),
    n_channels=st.integers(1, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_property(log2_n_fft, hop_divisor, window, extra, n_channels, seed):
    """istft(stft(x)) == x for any centred, half-overlapping config and any length."""
    n_fft = 2**log2_n_fft
    config = STFTConfig(n_fft=n_fft, hop_length=max(1, n_fft // hop_divisor), window=window)
    x = noise((n_channels, n_fft + extra), np.float64, seed)
    y = istft(stft(x, config), config, length=x.shape[-1])
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-10)


def test_round_trip_on_real_audio(shared_audio):
    """float32 round trip of real recordings, mono and stereo, error below 1e-5."""
    config = STFTConfig(n_fft=2048, hop_length=512)
    for task in ("A_piano_bass_drums", "A_stereo_panned", "B_speech_music"):
        x, _ = read_real(shared_audio / task / "mixture.wav")
        X = stft(x, config)
        assert X.dtype == np.complex64 and X.shape[:2] == (x.shape[0], 1025)
        y = istft(X, config, length=x.shape[-1])
        assert y.shape == x.shape and y.dtype == np.float32
        error = float(np.abs(y - x).max())
        assert error < 1e-5, f"{task}: round trip error {error:.3g}"


# --------------------------------------------------------------------------- spectrogram


def test_spectrogram_power_and_channel_mean():
    config = STFTConfig(n_fft=256, hop_length=64)
    X = stft(noise((2, 2000)), config)
    V1 = spectrogram(X)
    V2 = spectrogram(X, power=2.0)
    Vh = spectrogram(X, power=0.5)
    assert V1.shape == (129, X.shape[-1]) and V1.dtype == np.float32
    assert V2.dtype == np.float32 and Vh.dtype == np.float32
    np.testing.assert_allclose(V1, np.abs(X).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(V2, (np.abs(X) ** 2).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(Vh, np.sqrt(np.abs(X)).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(spectrogram(X[0]), np.abs(X[0]), rtol=1e-6)
    assert spectrogram(X.astype(np.complex128)).dtype == np.float64


def test_spectrogram_of_identical_channels_equals_mono():
    x = noise(3000)
    config = STFTConfig(n_fft=256, hop_length=64)
    stereo = stft(np.stack([x, x]), config)
    np.testing.assert_allclose(spectrogram(stereo), spectrogram(stft(x, config)), rtol=1e-6)


@pytest.mark.parametrize(
    "X, power, match",
    [
        (np.ones((5, 3), np.complex64), 0.0, "power"),
        (np.ones((5, 3), np.complex64), -1.0, "power"),
        (np.ones((5, 3), np.complex64), np.nan, "power"),
        (np.ones((5, 3), np.complex64), "2", "power"),
        (np.ones((5, 3), np.float32), 1.0, "complex"),
        (np.ones((2, 2, 5, 3), np.complex64), 1.0, r"\(F, T\) or \(C, F, T\)"),
        (np.full((5, 3), np.inf, np.complex64), 1.0, "NaN or infinite"),
    ],
)
def test_spectrogram_rejects(X, power, match):
    with pytest.raises(ParameterError, match=match):
        spectrogram(X, power=power)


# --------------------------------------------------------------------------- axes


def test_frequencies_and_times():
    config = STFTConfig(n_fft=1024, hop_length=256)
    f = frequencies(22050, config)
    assert f.shape == (513,) and f[0] == 0 and f[-1] == pytest.approx(11025)
    assert f[1] == pytest.approx(22050 / 1024)
    t = times(10, 22050, config)
    np.testing.assert_allclose(t, np.arange(10) * 256 / 22050)
    uncentred = STFTConfig(n_fft=1024, hop_length=256, center=False)
    np.testing.assert_allclose(times(10, 22050, uncentred), (np.arange(10) * 256 + 512) / 22050)
    assert times(0, 22050, config).shape == (0,)


def test_times_match_the_stft_frames():
    config = STFTConfig(n_fft=512, hop_length=128)
    X = stft(noise(8000), config)
    assert times(X.shape[-1], 8000, config).shape == (X.shape[-1],)


@pytest.mark.parametrize("rate", [0, -1, 8000.5, "8000"])
def test_axes_reject_bad_rates(rate):
    with pytest.raises(ParameterError, match="sample_rate"):
        frequencies(rate, STFTConfig())
    with pytest.raises(ParameterError, match="sample_rate"):
        times(3, rate, STFTConfig())


def test_times_rejects_bad_frame_count():
    with pytest.raises(ParameterError, match="n_frames"):
        times(-1, 8000, STFTConfig())


def test_the_built_in_hann_window_is_scipys_to_the_bit_and_always_nola():
    """spectral.window_values computes "hann" without importing scipy.signal (start-up);
    it must be exactly scipy's, and satisfy NOLA wherever STFTConfig skips the check."""
    import scipy.signal

    from nmfaudio.spectral import window_values

    for n_fft in list(range(2, 300)) + [511, 512, 1024, 2048, 4096]:
        ours = window_values("hann", n_fft)
        assert np.array_equal(ours, scipy.signal.get_window("hann", n_fft, fftbins=True)), n_fft
        for hop in sorted({1, max(1, n_fft // 4), n_fft // 2} - {0}):
            assert scipy.signal.check_NOLA(ours, n_fft, n_fft - hop), (n_fft, hop)
    assert np.array_equal(window_values("hamming", 64),
                          scipy.signal.get_window("hamming", 64, fftbins=True))


def test_a_default_separation_does_not_import_scipy_signal():
    import subprocess
    import sys

    code = ("import sys; from nmfaudio.spectral import STFTConfig; from nmfaudio import streaming;"
            "c = STFTConfig(); streaming._analysis_window(c);"
            "print('scipy.signal' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=str(Path(__file__).resolve().parents[1]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
