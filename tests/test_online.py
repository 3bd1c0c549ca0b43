"""Online NMF (nmfaudio.online.OnlineNMF): templates from a stream of column batches."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmfaudio.errors import ParameterError
from nmfaudio.factorization import beta_divergence, nmf
from nmfaudio.online import OnlineNMF


def low_rank(F, T, K, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    return rng.random((F, K)) @ rng.random((K, T)) + noise * rng.random((F, T))


def stream(model, V, width):
    for a in range(0, V.shape[1], width):
        model.partial_fit(V[:, a:a + width])
    return model


@settings(max_examples=25, deadline=None)
@given(beta=st.sampled_from([0.0, 0.5, 1.0, 2.0]), width=st.integers(5, 60),
       K=st.integers(1, 5), seed=st.integers(0, 1000))
def test_templates_stay_finite_nonnegative_and_unit_norm(beta, width, K, seed):
    V = low_rank(12, 150, 3, seed=seed)
    before = V.copy()
    model = stream(OnlineNMF(K, beta=beta, seed=seed, n_inner=5, dtype=np.float64), V, width)
    W = model.templates
    assert W.shape == (12, K) and np.isfinite(W).all() and (W >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0, rtol=1e-6)
    assert model.n_frames == 150 and model.n_batches == -(-150 // width)
    assert model._A.shape == model._B.shape == (12, K)  # the state does not grow
    assert np.array_equal(V, before)  # the caller's batches are not written to


@pytest.mark.parametrize("beta", ["kl", "is"])
def test_online_templates_fit_nearly_as_well_as_the_batch_fit(beta):
    """Streamed in 10 batches, the templates explain the data about as well as 200
    iterations of the batch NMF: the activations refitted over them reach a loss within
    20% of the batch fit's (measured: 13% for KL, under 10% for IS)."""
    V = low_rank(40, 2000, 4, seed=1)
    batch = nmf(V, 4, beta=beta, n_iter=200, tol=0, seed=0, dtype=np.float64, init="nndsvda")
    model = stream(OnlineNMF(4, beta=beta, seed=0, dtype=np.float64), V, 200)
    refit = nmf(V, 4, beta=beta, templates=model.templates, fixed_templates=True, n_iter=200,
                tol=0, seed=0, dtype=np.float64)
    batch_loss = beta_divergence(V, batch.reconstruction(), beta)
    online_loss = beta_divergence(V, refit.reconstruction(), beta)
    assert online_loss <= 1.2 * batch_loss, (online_loss, batch_loss)
    # and far better than templates from the first batch alone
    first = OnlineNMF(4, beta=beta, seed=0, dtype=np.float64).partial_fit(V[:, :200])
    first_fit = nmf(V, 4, beta=beta, templates=first.templates, fixed_templates=True,
                    n_iter=200, tol=0, seed=0, dtype=np.float64)
    assert online_loss < beta_divergence(V, first_fit.reconstruction(), beta)


def test_the_same_seed_gives_the_same_templates():
    V = low_rank(20, 300, 3)
    a = stream(OnlineNMF(3, seed=7), V, 64).templates
    b = stream(OnlineNMF(3, seed=7), V, 64).templates
    assert np.array_equal(a, b) and a.dtype == np.float32


def test_silent_batches_are_skipped():
    V = low_rank(20, 300, 3)
    model = OnlineNMF(3, seed=0).partial_fit(np.zeros((20, 50)))
    assert model.templates is None and model.n_batches == 0
    model.partial_fit(V[:, :100]).partial_fit(np.zeros((20, 50)))
    assert model.n_batches == 1 and model.n_frames == 100


@pytest.mark.parametrize("kwargs,match", [
    ({"n_components": 0}, "n_components"),
    ({"n_components": 2, "forget": 0.0}, "forget"),
    ({"n_components": 2, "forget": 1.5}, "forget"),
    ({"n_components": 2, "n_inner": 0}, "n_inner"),
    ({"n_components": 2, "beta": "nope"}, "beta"),
])
def test_bad_parameters_say_what_is_wrong(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        OnlineNMF(**kwargs)


def test_bad_batches_say_what_is_wrong():
    model = OnlineNMF(2, seed=0).partial_fit(np.ones((10, 20)))
    with pytest.raises(ParameterError, match="10"):
        model.partial_fit(np.ones((12, 20)))
    with pytest.raises(ParameterError, match="negative"):
        model.partial_fit(-np.ones((10, 20)))
