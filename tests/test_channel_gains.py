"""The per-channel gain fit of the stereo path (nmfaudio.pipeline.channel_gains)."""

from __future__ import annotations

import numpy as np
import pytest

from nmfaudio import pipeline


def panned(S=3, C=2, F=40, T=300, seed=0):
    """Source models, known gains, and a mixture STFT whose magnitude is their weighted sum."""
    rng = np.random.default_rng(seed)
    models = (rng.random((S, F, 4)) @ rng.random((4, T)))[:, :, :] ** 2  # (S, F, T)
    models = models.astype(np.float32)
    gains = rng.uniform(0.3, 2.0, (S, C))
    magnitude = np.einsum("sc,sft->cft", gains, models.astype(np.float64))
    X = magnitude * np.exp(2j * np.pi * rng.random(magnitude.shape))
    return X.astype(np.complex64), models, gains


@pytest.mark.parametrize("max_frames", [10_000, 64])  # all frames; every 5th frame
def test_recovers_known_gains(monkeypatch, max_frames):
    monkeypatch.setattr(pipeline, "GAIN_FIT_MAX_FRAMES", max_frames)
    X, models, gains = panned()
    fitted = pipeline.channel_gains(X, models, n_iter=500)
    assert fitted.shape == gains.shape
    np.testing.assert_allclose(fitted, gains, rtol=2e-3)


def test_silent_bins_and_inputs_untouched():
    X, models, _ = panned(T=50)
    X[:, :, :5] = 0
    models[:, :, :5] = 0
    X_before, models_before = X.copy(), models.copy()
    fitted = pipeline.channel_gains(X, models)
    assert np.isfinite(fitted).all() and (fitted > 0).all()
    assert np.array_equal(X, X_before) and np.array_equal(models, models_before)


def test_subsampled_fit_agrees_with_the_full_fit(monkeypatch):
    """Real mixtures are not exact sums of the models: reading a regular subset of frames
    still gives the gains of the full fit (within 0.1 dB on these 40 000 of 160 000 bins
    with 30% noise; on A_stereo_panned looped to 5 min, every 4th frame: within 0.015 dB)."""
    X, models, _ = panned(F=200, T=800, seed=3)
    rng = np.random.default_rng(4)
    X = X * rng.uniform(0.7, 1.3, X.shape)  # the models explain the mixture only roughly
    full = pipeline.channel_gains(X, models, n_iter=200)
    monkeypatch.setattr(pipeline, "GAIN_FIT_MAX_FRAMES", 200)  # every 4th frame
    sub = pipeline.channel_gains(X, models, n_iter=200)
    assert np.max(np.abs(20 * np.log10(sub / full))) < 0.1
