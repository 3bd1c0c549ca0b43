"""Tests of the NMFD core (nmfaudio.nmfd): monotone (penalized) loss, agreement with a
textbook implementation and with nmf() at L = 1, exact recovery, fixed parts, column
blocks and threads, determinism, untouched inputs, bad input."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nmfaudio
from nmfaudio.convolutive import NMFDResult, convolutive_model, nmfd
from nmfaudio.errors import ParameterError
from nmfaudio.factorization import beta_divergence, nmf

BETAS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
core = importlib.import_module("nmfaudio.factorization")


def convolutive_data(F=40, K=3, L=6, T=300, seed=1, density=0.05, noise=0.0):
    """V = sum_tau W_tau shift_tau(H) from sparse random W, H (+ noise), and W, H."""
    rng = np.random.default_rng(seed)
    W = rng.random((F, K, L)) * (rng.random((F, K, L)) < 0.5)
    H = rng.random((K, T)) * (rng.random((K, T)) < density)
    V = convolutive_model(W, H)
    if noise:
        V = V + noise * rng.random(V.shape)
    return V, W, H


def shift(X, tau):
    """Columns moved right by tau (left for tau < 0), zeros shifted in."""
    out = np.zeros_like(X)
    if tau >= 0:
        out[:, tau:] = X[:, : X.shape[1] - tau]
    else:
        out[:, :tau] = X[:, -tau:]
    return out


def gamma(beta):
    return 1 / (2 - beta) if beta < 1 else (1.0 if beta <= 2 else 1 / (beta - 1))


def textbook_nmfd(V, W, H, beta, n_iter):
    """Plain full-matrix float64 MM updates of NMFD, H (summed over lags) then all W_tau."""
    W, H = W.astype(np.float64).copy(), H.astype(np.float64).copy()
    g, L = gamma(beta), W.shape[2]
    for _ in range(n_iter):
        lam = convolutive_model(W, H)
        P, Q = lam ** (beta - 2) * V, lam ** (beta - 1)
        num = sum(shift(W[:, :, t].T @ P, -t) for t in range(L))
        den = sum(shift(W[:, :, t].T @ Q, -t) for t in range(L))
        H = H * (num / den) ** g
        lam = convolutive_model(W, H)
        P, Q = lam ** (beta - 2) * V, lam ** (beta - 1)
        factors = [((P @ shift(H, t).T) / (Q @ shift(H, t).T)) ** g for t in range(L)]
        W = W * np.stack(factors, axis=2)
    return W, H


@pytest.fixture
def small_blocks(monkeypatch):
    """64-column blocks (the smallest), so that short test inputs span several blocks."""
    monkeypatch.setattr(core, "_BLOCK_BYTES", 1)
    assert core._block_width(40, 300, 8) == 64


# --------------------------------------------------------------------------- the model


def test_convolutive_model_is_the_sum_of_shifted_products():
    rng = np.random.default_rng(0)
    W, H = rng.random((7, 3, 4)), rng.random((3, 11))
    expected = sum(W[:, :, t] @ shift(H, t) for t in range(4))
    np.testing.assert_allclose(convolutive_model(W, H), expected, rtol=1e-12)
    # one impulse draws the template itself
    impulse = np.zeros((3, 11))
    impulse[1, 2] = 1.0
    np.testing.assert_array_equal(convolutive_model(W, impulse)[:, 2:6], W[:, 1, :])


# --------------------------------------------------------------------------- monotonicity


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_loss_never_increases_and_falls(small_blocks, beta, dtype, rtol):
    V, _, _ = convolutive_data(noise=0.05)
    result = nmfd(V, 3, 6, beta=beta, n_iter=150, tol=0, seed=3, dtype=dtype, check_every=1)
    loss = result.loss_history
    assert loss.size == 151 and result.loss_iterations[-1] == 150
    increases = np.diff(loss) / loss[1:]
    assert increases.max() <= rtol, f"loss rose by {increases.max():.2e} (relative)"
    assert loss[-1] < 0.5 * loss[0]
    # the recorded loss is the divergence of the returned model (+ eps, negligible here)
    lam = result.reconstruction().astype(np.float64)
    assert result.final_loss == pytest.approx(beta_divergence(V, lam, beta), rel=1e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_sparsity_rises_and_penalized_loss_never_increases(small_blocks, beta):
    V, _, _ = convolutive_data(noise=0.05, density=0.3)
    dense = nmfd(V, 3, 6, beta=beta, n_iter=200, tol=0, seed=0, dtype=np.float64)
    sparse = nmfd(V, 3, 6, beta=beta, n_iter=200, tol=0, seed=0, dtype=np.float64,
                  l1_activations=2.0, check_every=1)

    def near_zero_fraction(H):
        return float(np.mean(H < 1e-3 * H.max()))

    def scale_free_l1(fit):
        return float(np.sqrt((fit.W ** 2).sum(axis=(0, 2))) @ fit.H.sum(axis=1))

    assert near_zero_fraction(sparse.H) > near_zero_fraction(dense.H) + 0.05
    assert scale_free_l1(sparse) < 0.9 * scale_free_l1(dense)
    assert np.diff(sparse.loss_history).max() <= 1e-10 * sparse.loss_history[0]
    # templates are kept at unit Frobenius norm over (F, L), so the penalty is l1 * ||H||_1
    np.testing.assert_allclose(np.sqrt((sparse.W ** 2).sum(axis=(0, 2))), 1.0, rtol=1e-10)
    expected = beta_divergence(V, sparse.reconstruction(), beta) + 2.0 * sparse.H.sum()
    assert sparse.final_loss == pytest.approx(expected, rel=1e-8)


@settings(max_examples=25, deadline=None)
@given(
    F=st.integers(2, 20),
    T=st.integers(2, 40),
    K=st.integers(1, 4),
    L=st.integers(1, 8),
    beta=st.sampled_from(BETAS),
    l1=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 1000),
)
def test_property_shapes_finite_and_monotone(F, T, K, L, beta, l1, seed):
    L = min(L, T)
    V = np.random.default_rng(seed).random((F, T)) ** 2
    result = nmfd(V, K, L, beta=beta, n_iter=20, tol=0, seed=seed, dtype=np.float64,
                  check_every=2, l1_activations=l1)
    assert result.W.shape == (F, K, L) and result.H.shape == (K, T)
    assert np.isfinite(result.W).all() and np.isfinite(result.H).all()
    assert (result.W >= 0).all() and (result.H >= 0).all()
    assert (np.diff(result.loss_history) <= 1e-9 * result.loss_history[0]).all()


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("beta", BETAS)
def test_agrees_with_textbook_nmfd_float64(small_blocks, beta):
    V, _, _ = convolutive_data(noise=0.1)
    rng = np.random.default_rng(7)
    W0, H0 = rng.random((40, 3, 6)) + 0.1, rng.random((3, 300)) + 0.1
    result = nmfd(V, beta=beta, templates=W0, activations=H0, n_iter=30, tol=0, dtype=np.float64)
    W_ref, H_ref = textbook_nmfd(V, W0, H0, beta, 30)
    assert np.linalg.norm(result.W - W_ref) / np.linalg.norm(W_ref) < 1e-6
    assert np.linalg.norm(result.H - H_ref) / np.linalg.norm(H_ref) < 1e-6


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("l1", [0.0, 0.2])
def test_one_frame_is_nmf(beta, l1):
    """With L = 1, nmfd takes the very steps of nmf from the same start."""
    V, _, _ = convolutive_data(noise=0.05)
    rng = np.random.default_rng(2)
    W0, H0 = rng.random((40, 3)) + 0.1, rng.random((3, 300)) + 0.1
    kwargs = dict(beta=beta, activations=H0, n_iter=30, tol=0, dtype=np.float64, l1_activations=l1)
    a = nmf(V, templates=W0, **kwargs)
    b = nmfd(V, templates=W0[:, :, None], **kwargs)
    np.testing.assert_allclose(b.W[:, :, 0], a.W, rtol=1e-10, atol=1e-14 * a.W.max())
    np.testing.assert_allclose(b.H, a.H, rtol=1e-10, atol=1e-14 * a.H.max())
    np.testing.assert_allclose(b.loss_history, a.loss_history, rtol=1e-10)


@pytest.mark.parametrize("L", [6, 70])  # 70: the overlap spans more than one 64-column block
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_blocks_and_threads_do_not_change_the_result(monkeypatch, L, n_threads):
    V, _, _ = convolutive_data(T=300, noise=0.1)
    whole = nmfd(V, 3, L, beta=0.5, n_iter=10, tol=0, seed=0, dtype=np.float64, n_threads=1)
    monkeypatch.setattr(core, "_BLOCK_BYTES", 1)  # 64-column blocks
    runs = [nmfd(V, 3, L, beta=0.5, n_iter=10, tol=0, seed=0, dtype=np.float64, n_threads=n_threads)
            for _ in range(2)]
    np.testing.assert_allclose(runs[0].W, whole.W, rtol=1e-9)
    np.testing.assert_allclose(runs[0].H, whole.H, rtol=1e-9, atol=1e-12 * whole.H.max())
    assert np.array_equal(runs[0].W, runs[1].W) and np.array_equal(runs[0].H, runs[1].H)


@pytest.mark.parametrize("beta", [1.0, 0.0])
def test_extra_memory_does_not_grow_with_the_length(beta):
    """Column blocks: 4x more frames cost the buffers nothing (only H and its init grow)."""
    import gc
    import tracemalloc

    rng = np.random.default_rng(0)
    peaks = []
    for T in (4000, 16000):
        V = (rng.random((257, T)) ** 2).astype(np.float32)
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            nmfd(V, 4, 8, beta=beta, n_iter=2, tol=0, seed=0, check_every=1)
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
        finally:
            tracemalloc.stop()
    one_array = 257 * 16000 * 4  # one F x T float32 array at the longer length
    assert peaks[1] - peaks[0] < 0.15 * one_array
    assert peaks[1] < one_array


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_fortran_ordered_input_gives_the_same_factors(small_blocks, beta):
    """np.abs(librosa.stft(y)) is Fortran-ordered: the blocks follow its layout, same result."""
    V, _, _ = convolutive_data(noise=0.1)
    c = nmfd(np.ascontiguousarray(V), 3, 6, beta=beta, n_iter=15, tol=0, seed=0, dtype=np.float64)
    f = nmfd(np.asfortranarray(V), 3, 6, beta=beta, n_iter=15, tol=0, seed=0, dtype=np.float64)
    np.testing.assert_allclose(f.W, c.W, rtol=1e-9)
    np.testing.assert_allclose(f.H, c.H, rtol=1e-9, atol=1e-12 * c.H.max())


# --------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_recovery_of_a_convolutive_mixture(small_blocks, seed):
    V, W, H = convolutive_data()
    result = nmfd(V, 3, 6, n_iter=2000, tol=0, seed=seed, dtype=np.float64)
    error = np.linalg.norm(V - result.reconstruction()) / np.linalg.norm(V)
    assert error < 1e-6
    # and no L = 1 model of the same size comes close (the data is really convolutive)
    flat = nmf(V, 3, n_iter=2000, tol=0, seed=seed, dtype=np.float64)
    assert np.linalg.norm(V - flat.reconstruction()) / np.linalg.norm(V) > 0.05


def test_true_templates_recover_the_activations(small_blocks):
    V, W, H = convolutive_data()
    result = nmfd(V, templates=W, fixed_templates=True, n_iter=1000, tol=0, seed=0, dtype=np.float64)
    assert np.array_equal(result.W, W)
    assert np.linalg.norm(result.H - H) / np.linalg.norm(H) < 1e-6


# --------------------------------------------------------------------------- fixed parts


@pytest.mark.parametrize("fixed", [[0, 2], np.array([True, False, True, False])])
@pytest.mark.parametrize("l1", [0.0, 0.5])
def test_fixed_templates_are_bit_identical_and_free_ones_learned(fixed, l1):
    V, _, _ = convolutive_data(noise=0.05)
    W0 = np.random.default_rng(5).random((40, 4, 6)).astype(np.float32) + 0.1
    before = W0.copy()
    result = nmfd(V, templates=W0, fixed_templates=fixed, l1_activations=l1, n_iter=40, tol=0, seed=1)
    assert np.array_equal(result.W[:, [0, 2]], W0[:, [0, 2]])
    assert not np.allclose(result.W[:, [1, 3]], W0[:, [1, 3]])
    assert np.array_equal(W0, before)
    assert np.diff(result.loss_history).max() <= 1e-5 * result.loss_history[0]


def test_semi_supervised_appends_free_templates():
    V, W, _ = convolutive_data()
    result = nmfd(V, 4, templates=W[:, :2], fixed_templates=True, n_iter=50, seed=0, dtype=np.float64)
    assert result.W.shape == (40, 4, 6)
    assert np.array_equal(result.W[:, :2], W[:, :2])
    assert result.loss_history[-1] < result.loss_history[0]


def test_fixed_activations_learn_templates():
    V, _, H = convolutive_data(noise=0.01)
    H0 = H + 0.01
    result = nmfd(V, 3, 6, activations=H0, fixed_activations=True, n_iter=50, seed=0, dtype=np.float64)
    assert np.array_equal(result.H, H0)
    assert result.loss_history[-1] < 0.5 * result.loss_history[0]


# --------------------------------------------------------------------------- results


def test_result_fields_and_component_reconstruction():
    V, _, _ = convolutive_data()
    result = nmfd(V, 3, 6, n_iter=5, seed=0)
    assert isinstance(result, NMFDResult)
    assert result.templates.shape == (40, 3, 6) and result.activations.shape == (3, 300)
    assert (result.n_components, result.n_frames) == (3, 6)
    assert result.W is result.templates and result.H is result.activations
    assert result.templates.dtype == np.float32  # float32 by default
    parts = result.reconstruction([0]) + result.reconstruction([1, 2])
    np.testing.assert_allclose(parts, result.reconstruction(), rtol=1e-5)
    with pytest.raises(AttributeError):
        result.n_iter = 3  # type: ignore[misc]


def test_public_names():
    assert nmfaudio.nmfd is nmfd and nmfaudio.NMFDResult is NMFDResult


def test_callback_sees_every_check_and_tolerance_stops_early():
    V, _, _ = convolutive_data()
    seen = []
    nmfd(V, 3, 6, n_iter=40, tol=0, check_every=10, callback=lambda i, loss: seen.append(i))
    assert seen == [0, 10, 20, 30, 40]
    result = nmfd(V, 3, 6, n_iter=5000, tol=1e-3, seed=0)
    assert result.converged and result.n_iter < 5000
    assert result.loss_iterations[-1] == result.n_iter


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_row_and_column_give_finite_factors(beta, dtype):
    V, _, _ = convolutive_data(density=0.2)
    V[:, 7] = 0.0
    V[12, :] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = nmfd(V, 3, 6, beta=beta, n_iter=100, tol=0, seed=0, dtype=dtype)
    assert np.isfinite(result.W).all() and np.isfinite(result.H).all()
    assert np.isfinite(result.loss_history).all()


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bits_and_inputs_untouched():
    V, W, H = convolutive_data(noise=0.01)
    V = V.astype(np.float32)
    copies = V.copy(), W.copy(), H.copy()
    a = nmfd(V, 3, 6, seed=11, n_iter=20)
    b = nmfd(V, 3, 6, seed=11, n_iter=20)
    c = nmfd(V, 3, 6, seed=12, n_iter=20)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.H, b.H)
    assert not np.array_equal(a.W, c.W)
    g1 = nmfd(V, 3, 6, seed=np.random.default_rng(4), n_iter=5, init="nndsvda")
    g2 = nmfd(V, 3, 6, seed=np.random.default_rng(4), n_iter=5, init="nndsvda")
    assert np.array_equal(g1.W, g2.W)
    nmfd(V, templates=W, activations=H + 0.1, n_iter=5, l1_activations=0.2)
    for before, after in zip(copies, (V, W, H)):
        assert np.array_equal(before, after)


def test_does_not_touch_global_rng():
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    nmfd(convolutive_data()[0], 3, 6, n_iter=5)
    assert np.random.random() == expected


# --------------------------------------------------------------------------- bad input

V_OK = convolutive_data(F=10, K=2, L=3, T=12, density=0.5)[0] + 0.01
W_OK = np.ones((10, 2, 3))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(V=-V_OK), "negative"),
        (dict(V=np.where(V_OK > 0.5, np.nan, V_OK)), "NaN"),
        (dict(V=np.full((3, 3), np.inf)), "inf"),
        (dict(V=V_OK[0]), "2-D"),
        (dict(V=np.zeros((0, 3))), "empty"),
        (dict(V=np.zeros((4, 3))), "all zeros"),
        (dict(V=np.array([["a"]], dtype=object), n_frames=1), "numeric"),
        (dict(V=V_OK, n_components=0), "n_components"),
        (dict(V=V_OK, n_components=2.5), "n_components"),
        (dict(V=V_OK, n_components=None), "n_components"),
        (dict(V=V_OK, n_frames=None), "n_frames"),
        (dict(V=V_OK, n_frames=0), "n_frames"),
        (dict(V=V_OK, n_frames=1.5), "n_frames"),
        (dict(V=V_OK, n_frames=13), "longer than V"),
        (dict(V=V_OK, beta="kld"), "unknown beta"),
        (dict(V=V_OK, beta=None), "beta must be"),
        (dict(V=V_OK, beta=float("nan")), "finite"),
        (dict(V=V_OK, templates=np.ones((10, 2))), "templates must be 3-D"),
        (dict(V=V_OK, templates=np.ones((9, 2, 3))), "rows"),
        (dict(V=V_OK, templates=np.ones((10, 3, 3))), "more than"),
        (dict(V=V_OK, templates=np.ones((10, 2, 4))), "frames"),
        (dict(V=V_OK, templates=-W_OK), "negative"),
        (dict(V=V_OK, activations=np.ones((2, 11))), "columns"),
        (dict(V=V_OK, activations=np.ones((3, 12))), "rows"),
        (dict(V=V_OK, activations=np.ones(12)), "activations must be 2-D"),
        (dict(V=V_OK, templates=W_OK, fixed_templates=[5]), "out of range"),
        (dict(V=V_OK, templates=W_OK, fixed_templates=np.ones(3, bool)), "mask"),
        (dict(V=V_OK, templates=W_OK, fixed_templates="yes"), "fixed_templates"),
        (dict(V=V_OK, fixed_templates=True), "needs templates"),
        (dict(V=V_OK, n_components=3, templates=W_OK, fixed_templates=[2]), "beyond"),
        (dict(V=V_OK, fixed_activations=True), "needs activations"),
        (dict(V=V_OK, fixed_activations="no"), "fixed_activations"),
        (dict(V=V_OK, activations=np.ones((2, 12)), fixed_activations=True, l1_activations=0.1), "no effect"),
        (dict(V=V_OK, l1_activations=-0.1), "l1_activations"),
        (dict(V=V_OK, l1_activations=float("inf")), "l1_activations"),
        (dict(V=V_OK, n_iter=-1), "n_iter"),
        (dict(V=V_OK, n_iter=2.0), "n_iter"),
        (dict(V=V_OK, tol=-1), "tol"),
        (dict(V=V_OK, tol=float("nan")), "tol"),
        (dict(V=V_OK, init="svd"), "unknown init"),
        (dict(V=V_OK, n_components=11, init="nndsvda"), "nndsvda"),
        (dict(V=V_OK, seed=-1), "seed"),
        (dict(V=V_OK, seed=1.5), "seed"),
        (dict(V=V_OK, dtype=np.int32), "dtype"),
        (dict(V=V_OK, dtype="nonsense"), "dtype"),
        (dict(V=V_OK, check_every=0), "check_every"),
        (dict(V=V_OK, callback=3), "callback"),
        (dict(V=V_OK, n_threads=0), "n_threads"),
    ],
)
def test_bad_input_raises_a_clear_parameter_error(kwargs, match):
    kwargs = {"n_components": 2, "n_frames": 3, **kwargs}
    with pytest.raises(ParameterError, match=match):
        nmfd(**kwargs)


@pytest.mark.parametrize("beta,scale", [(-1.0, 1e-6), (10.0, 1e-6)])
def test_float_overflow_is_an_error_not_nan(beta, scale):
    V = np.random.default_rng(0).random((50, 80)) * scale
    V[:, ::4] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ParameterError, match="float64"):
            nmfd(V, 5, 3, beta=beta, n_iter=50, seed=0)
