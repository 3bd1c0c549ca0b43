"""Spatial cues per time-frequency bin (nmfaudio.spatial)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nmfaudio.errors import ParameterError
from nmfaudio.spatial import (bin_directions, fit_directions, soft_assignment, spatial_likelihoods,
                              spatial_masks)


def panned_mixture(angles, rng, F=65, T=80):
    """Magnitudes (2, F, T) of sources with sparse random spectrograms panned at angles."""
    # sparse (gamma shape 0.1), so that most bins hold one source, as in real mixes
    sources = rng.gamma(0.1, 1.0, size=(len(angles), F, T))
    gains = np.array([[np.cos(a), np.sin(a)] for a in angles])  # (S, 2)
    return np.einsum("sc,sft->cft", gains, sources), sources, gains


def test_directions_of_panned_sources_are_found():
    rng = np.random.default_rng(1)
    angles = [0.3, np.pi / 4, 1.25]
    mags, _, gains = panned_mixture(angles, rng)
    model = fit_directions(mags, 3)
    # ordered from the first channel (left) to the second
    assert np.allclose(model.directions, gains, atol=0.08), model.directions
    assert np.isclose(model.weights.sum(), 1.0)
    assert np.all(model.spreads > 0)


def test_masks_sum_to_one_and_follow_the_dominant_source():
    rng = np.random.default_rng(2)
    mags, sources, _ = panned_mixture([0.2, 1.35], rng)
    V = mags.mean(axis=0)
    K = 6
    W = rng.random((V.shape[0], K)) + 0.1
    H = rng.random((K, V.shape[1])) + 0.1
    masks, shares, model = spatial_masks(mags, W, H, V, 2)
    assert masks.shape == (2,) + V.shape and masks.dtype == np.float32
    assert np.allclose(masks.sum(axis=0), 1.0, atol=1e-5)
    assert np.allclose(shares.sum(axis=0), 1.0)
    dominant = sources[0] > 10 * sources[1]
    assert masks[0][dominant].mean() > 0.9


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4))
def test_soft_assignment_is_a_distribution_over_sources(seed, S):
    rng = np.random.default_rng(seed)
    W = rng.random((9, 5)); H = rng.random((5, 7)); V = rng.random((9, 7))
    W[:, 0] = 0  # a silent component is shared equally, not NaN
    post = rng.random((S, 9, 7)); post /= post.sum(axis=0)
    r = soft_assignment(W, H, V, post)
    assert r.shape == (S, 5) and np.all(np.isfinite(r)) and np.all(r >= 0)
    assert np.allclose(r.sum(axis=0), 1.0)
    assert np.allclose(r[:, 0], 1.0 / S)


def test_silent_bins_have_a_direction_and_likelihoods_are_finite():
    mags = np.zeros((2, 5, 4)); mags[0, 0, 0] = 1.0; mags[1, 1, 1] = 1.0; mags[:, 2, 2] = 1.0
    u, energy = bin_directions(mags)
    assert np.allclose(np.linalg.norm(u, axis=0), 1.0)
    model = fit_directions(mags, 2)
    like = spatial_likelihoods(mags, model)
    assert np.all(np.isfinite(like)) and np.allclose(like.max(axis=0), 1.0)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(3)
    mags, _, _ = panned_mixture([0.3, 1.2], rng)
    V = mags.mean(0); W = rng.random((V.shape[0], 4)); H = rng.random((4, V.shape[1]))
    copies = [a.copy() for a in (mags, V, W, H)]
    spatial_masks(mags, W, H, V, 2)
    assert all(np.array_equal(a, b) for a, b in zip((mags, V, W, H), copies))


@pytest.mark.parametrize("mags, n, match", [
    (np.ones((1, 4, 4)), 2, "C >= 2"),
    (np.ones((4, 4)), 2, "C >= 2"),
    (np.ones((2, 4, 4)), 0, "positive integer"),
    (np.zeros((2, 4, 4)), 2, "non-silent"),
])
def test_bad_input(mags, n, match):
    with pytest.raises(ParameterError, match=match):
        fit_directions(mags, n)
