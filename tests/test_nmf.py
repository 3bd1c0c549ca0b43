"""Tests of the NMF core (nmfaudio.nmf): monotonicity, agreement with a textbook
implementation, exact recovery, fixed columns, sparsity, zeros, determinism, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmfaudio.errors import ParameterError
from nmfaudio.factorization import BETA_NAMES, NMFResult, beta_divergence, nmf, parse_beta

BETAS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]


def low_rank(F=60, T=80, K=4, seed=0, noise=0.0, zeros=0.0):
    """W0 @ H0 (+ noise); ``zeros`` of the entries of W0 and H0 set to 0 (identifiable)."""
    rng = np.random.default_rng(seed)
    W0, H0 = rng.random((F, K)), rng.random((K, T))
    W0[rng.random(W0.shape) < zeros] = 0
    H0[rng.random(H0.shape) < zeros] = 0
    V = W0 @ H0
    if noise:
        V = V + noise * rng.random((F, T))
    return V


def gamma(beta):
    return 1 / (2 - beta) if beta < 1 else (1.0 if beta <= 2 else 1 / (beta - 1))


def textbook(V, W, H, beta, n_iter):
    """Plain float64 MM updates of Févotte & Idier (2011), H then W, no tricks."""
    W, H = W.astype(np.float64).copy(), H.astype(np.float64).copy()
    g = gamma(beta)
    for _ in range(n_iter):
        WH = W @ H
        H = H * ((W.T @ (WH ** (beta - 2) * V)) / (W.T @ WH ** (beta - 1))) ** g
        WH = W @ H
        W = W * (((WH ** (beta - 2) * V) @ H.T) / (WH ** (beta - 1) @ H.T)) ** g
    return W, H


def reference_divergence(V, Y, beta):
    if beta == 0:
        return np.sum(V / Y - np.log(V / Y) - 1)
    if beta == 1:
        return np.sum(V * np.log(V / Y) - V + Y)
    return np.sum(V**beta + (beta - 1) * Y**beta - beta * V * Y ** (beta - 1)) / (beta * (beta - 1))


# --------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("beta", BETAS)
def test_beta_divergence_matches_formula(beta):
    rng = np.random.default_rng(1)
    V, Y = rng.random((7, 9)) + 0.1, rng.random((7, 9)) + 0.1
    assert beta_divergence(V, Y, beta) == pytest.approx(reference_divergence(V, Y, beta), rel=1e-10)
    assert beta_divergence(V, V, beta) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(beta=st.sampled_from(BETAS + [-0.5, 2.5]), seed=st.integers(0, 10_000))
def test_beta_divergence_nonnegative_and_zero_only_at_equality(beta, seed):
    rng = np.random.default_rng(seed)
    V = rng.random((5, 6)) + 0.01
    Y = V * rng.uniform(0.5, 2.0, V.shape)
    d = beta_divergence(V, Y, beta)
    assert d > 0
    assert np.isfinite(d)


def test_beta_names_and_aliases():
    assert parse_beta("KL") == parse_beta("kullback-leibler") == 1.0
    assert parse_beta("is") == parse_beta("Itakura-Saito") == 0.0
    assert parse_beta("euclidean") == 2.0
    assert set(BETA_NAMES.values()) == {0.0, 1.0, 2.0}
    # the scalar names the same thing
    V, Y = low_rank(5, 6, 2), low_rank(5, 6, 2, seed=3)
    assert beta_divergence(V, Y, "kl") == beta_divergence(V, Y, 1)


def test_kl_of_zero_data_is_finite():
    V = np.zeros((3, 4))
    V[0, 0] = 1.0
    Y = np.full((3, 4), 0.5)
    assert np.isfinite(beta_divergence(V, Y, "kl"))
    assert np.isfinite(beta_divergence(V, Y, "is"))


# --------------------------------------------------------------------------- monotonicity


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_loss_never_increases_and_falls(beta, dtype, rtol):
    V = low_rank(60, 90, 5, noise=0.05)
    result = nmf(V, 5, beta=beta, n_iter=300, tol=0, seed=3, dtype=dtype, check_every=5)
    loss = result.loss_history
    assert loss.size == 61 and result.loss_iterations[-1] == 300
    increases = np.diff(loss) / loss[1:]
    assert increases.max() <= rtol, f"loss rose by {increases.max():.2e} (relative)"
    assert loss[-1] < 0.2 * loss[0]


@pytest.mark.parametrize("beta", BETAS)
def test_agrees_with_textbook_float64(beta):
    V = low_rank(40, 50, 3, noise=0.1)
    rng = np.random.default_rng(7)
    W0, H0 = rng.random((40, 3)) + 0.1, rng.random((3, 50)) + 0.1
    result = nmf(V, beta=beta, templates=W0, activations=H0, n_iter=50, tol=0, dtype=np.float64)
    W_ref, H_ref = textbook(V, W0, H0, beta, 50)
    assert np.linalg.norm(result.W - W_ref) / np.linalg.norm(W_ref) < 1e-6
    assert np.linalg.norm(result.H - H_ref) / np.linalg.norm(H_ref) < 1e-6


@pytest.mark.parametrize("beta", BETAS)
def test_w_first_order_takes_one_w_step_first(beta):
    """update_order="WH": the textbook's H-then-W iterations after one textbook W step."""
    from nmfaudio.factorization import _nndsvda

    V = low_rank(40, 50, 3, noise=0.1)
    result = nmf(V, 3, beta=beta, init="nndsvda", seed=0, n_iter=50, tol=0, dtype=np.float64,
                 check_every=1, update_order="WH")
    W0, H0 = _nndsvda(V, 3, np.random.default_rng(0))
    WH = W0 @ H0
    W1 = W0 * (((WH ** (beta - 2) * V) @ H0.T) / (WH ** (beta - 1) @ H0.T)) ** gamma(beta)
    W_ref, H_ref = textbook(V, W1, H0, beta, 50)
    assert np.linalg.norm(result.W - W_ref) / np.linalg.norm(W_ref) < 1e-6
    assert np.linalg.norm(result.H - H_ref) / np.linalg.norm(H_ref) < 1e-6
    assert result.loss_iterations[0] == 0 and result.loss_iterations[-1] == 50
    assert np.diff(result.loss_history).max() <= 1e-10 * result.loss_history[0]


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_threads_agree_and_are_deterministic(monkeypatch, n_threads):
    """Blocks shared by several threads give the same factors as one thread, every time."""
    import importlib

    core = importlib.import_module("nmfaudio.factorization")
    monkeypatch.setattr(core, "_BLOCK_BYTES", 30 * 8 * 64)  # 8 blocks of 64 columns
    V = low_rank(30, 500, 3, noise=0.1)
    one = nmf(V, 3, n_iter=20, tol=0, seed=0, dtype=np.float64, n_threads=1)
    runs = [nmf(V, 3, n_iter=20, tol=0, seed=0, dtype=np.float64, n_threads=n_threads) for _ in range(3)]
    for run in runs:
        np.testing.assert_allclose(run.W, one.W, rtol=1e-12)
        assert np.array_equal(run.W, runs[0].W) and np.array_equal(run.H, runs[0].H)


def test_block_processing_does_not_change_the_result(monkeypatch):
    """Many column blocks (long inputs) give the same factors as one block."""
    import importlib

    core = importlib.import_module("nmfaudio.factorization")

    V = low_rank(30, 500, 3, noise=0.1)
    whole = nmf(V, 3, n_iter=20, tol=0, seed=0, dtype=np.float64)
    monkeypatch.setattr(core, "_BLOCK_BYTES", 30 * 8 * 64)  # 64-column blocks -> 8 blocks
    assert core._block_width(30, 500, 8) == 64
    blocked = nmf(V, 3, n_iter=20, tol=0, seed=0, dtype=np.float64)
    np.testing.assert_allclose(blocked.W, whole.W, rtol=1e-12)
    np.testing.assert_allclose(blocked.H, whole.H, rtol=1e-12)


@pytest.mark.parametrize("beta", ["kl", "euclidean"])
@pytest.mark.parametrize("K,F,T", [(3, 50, 120), (4, 120, 80), (5, 200, 200)])
def test_exact_recovery_of_low_rank_data(beta, K, F, T):
    V = low_rank(F, T, K, seed=K, zeros=0.4)
    result = nmf(V, K, beta=beta, n_iter=5000, tol=1e-12, init="nndsvda", seed=0, dtype=np.float64)
    error = np.linalg.norm(V - result.reconstruction()) / np.linalg.norm(V)
    assert error < 1e-3


def test_converges_early_with_tolerance():
    V = low_rank(40, 60, 3)
    result = nmf(V, 3, n_iter=5000, tol=1e-3, seed=0)
    assert result.converged
    assert result.n_iter < 5000
    assert result.loss_iterations[-1] == result.n_iter  # last loss is of what is returned


# --------------------------------------------------------------------------- fixed parts


@pytest.mark.parametrize("l1", [0.0, 0.5])
def test_fixed_columns_are_bit_identical_and_free_ones_learned(l1):
    V = low_rank(50, 70, 4, noise=0.05)
    rng = np.random.default_rng(5)
    W0 = rng.random((50, 4)).astype(np.float32) + 0.1
    before = W0.copy()
    result = nmf(V, templates=W0, fixed_templates=[0, 2], l1_activations=l1, n_iter=60, tol=0, seed=1)
    assert np.array_equal(result.W[:, [0, 2]], W0[:, [0, 2]])
    assert not np.allclose(result.W[:, [1, 3]], W0[:, [1, 3]])
    assert np.array_equal(W0, before)  # the caller's array is untouched


def test_all_fixed_templates_only_learn_activations():
    V = low_rank(30, 40, 3)
    W0 = np.random.default_rng(2).random((30, 3)) + 0.1
    result = nmf(V, templates=W0, fixed_templates=True, n_iter=50, seed=0, dtype=np.float64)
    assert np.array_equal(result.W, W0)
    assert np.diff(result.loss_history).max() <= 1e-10 * result.loss_history[0]


def test_semi_supervised_appends_free_columns():
    V = low_rank(30, 40, 4)
    W0 = np.random.default_rng(2).random((30, 2)) + 0.1
    result = nmf(V, 4, templates=W0, fixed_templates=True, n_iter=50, seed=0, dtype=np.float64)
    assert result.W.shape == (30, 4)
    assert np.array_equal(result.W[:, :2], W0)
    assert result.loss_history[-1] < result.loss_history[0]


def test_fixed_activations_learn_templates():
    V = low_rank(30, 40, 3)
    H0 = np.random.default_rng(3).random((3, 40)) + 0.1
    result = nmf(V, activations=H0, fixed_activations=True, n_iter=50, seed=0, dtype=np.float64)
    assert np.array_equal(result.H, H0)
    assert result.loss_history[-1] < result.loss_history[0]


# --------------------------------------------------------------------------- sparsity


@pytest.mark.parametrize("beta", BETAS)
def test_sparsity_rises_and_penalized_loss_never_increases(beta):
    rng = np.random.default_rng(4)
    H0 = rng.random((6, 100))
    H0[rng.random(H0.shape) < 0.6] = 0  # sparse activations, as in music
    V = rng.random((60, 6)) @ H0 + 0.01 * rng.random((60, 100))

    def near_zero_fraction(H):
        return float(np.mean(H < 1e-3 * H.max()))

    dense = nmf(V, 6, beta=beta, n_iter=300, tol=0, seed=0, dtype=np.float64)
    sparse = nmf(V, 6, beta=beta, n_iter=300, tol=0, seed=0, dtype=np.float64, l1_activations=0.5,
                 check_every=1)
    assert near_zero_fraction(sparse.H) > near_zero_fraction(dense.H) + 0.05
    assert np.diff(sparse.loss_history).max() <= 1e-10 * sparse.loss_history[0]
    # templates are kept at unit L2 norm, so the penalty is l1 * ||H||_1
    np.testing.assert_allclose(np.linalg.norm(sparse.W, axis=0), 1.0, rtol=1e-10)
    expected = beta_divergence(V, sparse.reconstruction(), beta) + 0.5 * sparse.H.sum()
    assert sparse.final_loss == pytest.approx(expected, rel=1e-8)


# --------------------------------------------------------------------------- zeros


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_row_and_column_give_finite_factors(beta, dtype):
    V = low_rank(40, 50, 3)
    V[:, 7] = 0.0  # a silent frame
    V[12, :] = 0.0  # a frequency bin with no energy
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero or invalid-value warnings either
        result = nmf(V, 3, beta=beta, n_iter=200, tol=0, seed=0, dtype=dtype)
    assert np.isfinite(result.W).all() and np.isfinite(result.H).all()
    assert np.isfinite(result.loss_history).all()
    assert (result.W >= 0).all() and (result.H >= 0).all()


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bits_and_inputs_untouched():
    V = low_rank(30, 40, 3).astype(np.float32)
    V_before = V.copy()
    a = nmf(V, 3, seed=11, n_iter=30)
    b = nmf(V, 3, seed=11, n_iter=30)
    c = nmf(V, 3, seed=12, n_iter=30)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.H, b.H)
    assert not np.array_equal(a.W, c.W)
    assert np.array_equal(V, V_before)
    assert a.W.dtype == np.float32  # float32 by default


def test_generator_seed_and_nndsvda_are_deterministic():
    V = low_rank(30, 40, 3)
    a = nmf(V, 3, init="nndsvda", seed=np.random.default_rng(3), n_iter=10)
    b = nmf(V, 3, init="nndsvda", seed=np.random.default_rng(3), n_iter=10)
    assert np.array_equal(a.W, b.W)


@settings(max_examples=25, deadline=None)
@given(beta=st.sampled_from([0.0, 1.0, 2.0]), init=st.sampled_from(["nndsvda", "random"]),
       exponent=st.integers(-20, 20), seed=st.integers(0, 10_000))
def test_scaling_v_by_a_power_of_four_scales_the_fit_exactly(beta, init, exponent, seed):
    """Gain invariance: V * 4**e gives W * 2**e and H * 2**e bit for bit (every float
    operation is scaled exactly, and the start, eps and floors are relative to V), so a
    recording separates the same at any level. NNDSVDa's fill of sqrt(mean(V)) is what
    makes this hold: the paper's mean(V) made the fit depend on the gain."""
    V = low_rank(30, 40, 3, seed=seed, zeros=0.3).astype(np.float32)
    scale = np.float32(4.0 ** exponent)
    a = nmf(V, 4, beta=beta, init=init, seed=seed, n_iter=15, tol=0)
    b = nmf(V * scale, 4, beta=beta, init=init, seed=seed, n_iter=15, tol=0)
    np.testing.assert_array_equal(b.templates, a.templates * np.float32(2.0 ** exponent))
    np.testing.assert_array_equal(b.activations, a.activations * np.float32(2.0 ** exponent))


def test_does_not_touch_global_rng():
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    nmf(low_rank(), 3, n_iter=5)
    assert np.random.random() == expected


def test_callback_sees_every_check():
    seen = []
    nmf(low_rank(), 3, n_iter=40, tol=0, check_every=10, callback=lambda i, loss: seen.append(i))
    assert seen == [0, 10, 20, 30, 40]


def test_result_is_frozen():
    result = nmf(low_rank(), 3, n_iter=5)
    assert isinstance(result, NMFResult)
    with pytest.raises(AttributeError):
        result.n_iter = 3  # type: ignore[misc]


@settings(max_examples=25, deadline=None)
@given(
    F=st.integers(2, 30),
    T=st.integers(2, 30),
    K=st.integers(1, 6),
    beta=st.sampled_from(BETAS),
    seed=st.integers(0, 1000),
)
def test_property_shapes_finite_and_monotone(F, T, K, beta, seed):
    V = np.random.default_rng(seed).random((F, T)) ** 2
    result = nmf(V, K, beta=beta, n_iter=30, tol=0, seed=seed, dtype=np.float64, check_every=3)
    assert result.W.shape == (F, K) and result.H.shape == (K, T)
    assert np.isfinite(result.W).all() and np.isfinite(result.H).all()
    assert (np.diff(result.loss_history) <= 1e-9 * result.loss_history[0]).all()


# --------------------------------------------------------------------------- bad input

V_OK = low_rank(10, 12, 2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(V=-V_OK, n_components=2), "negative"),
        (dict(V=np.where(V_OK > 0.5, np.nan, V_OK), n_components=2), "NaN"),
        (dict(V=np.full((3, 3), np.inf), n_components=2), "inf"),
        (dict(V=V_OK[0], n_components=2), "2-D"),
        (dict(V=np.zeros((0, 3)), n_components=2), "empty"),
        (dict(V=np.zeros((4, 3)), n_components=2), "all zeros"),
        (dict(V=V_OK, n_components=0), "n_components"),
        (dict(V=V_OK, n_components=2.5), "n_components"),
        (dict(V=V_OK), "n_components"),
        (dict(V=V_OK, n_components=2, beta="kld"), "unknown beta"),
        (dict(V=V_OK, n_components=2, beta=None), "beta must be"),
        (dict(V=V_OK, n_components=2, beta=float("nan")), "finite"),
        (dict(V=V_OK, n_components=2, templates=np.ones((9, 2))), "rows"),
        (dict(V=V_OK, n_components=2, templates=np.ones((10, 3))), "more than"),
        (dict(V=V_OK, n_components=2, activations=np.ones((2, 11))), "columns"),
        (dict(V=V_OK, n_components=2, activations=np.ones((3, 12))), "rows"),
        (dict(V=V_OK, n_components=2, templates=np.ones((10, 2)), fixed_templates=[5]), "out of range"),
        (dict(V=V_OK, n_components=2, templates=np.ones((10, 2)), fixed_templates=np.ones(3, bool)), "mask"),
        (dict(V=V_OK, n_components=2, fixed_templates=True), "needs templates"),
        (dict(V=V_OK, n_components=3, templates=np.ones((10, 2)), fixed_templates=[2]), "beyond"),
        (dict(V=V_OK, n_components=2, fixed_activations=True), "needs activations"),
        (dict(V=V_OK, n_components=2, templates=-np.ones((10, 2))), "negative"),
        (dict(V=V_OK, n_components=2, n_iter=-1), "n_iter"),
        (dict(V=V_OK, n_components=2, tol=-1), "tol"),
        (dict(V=V_OK, n_components=2, l1_activations=-0.1), "l1_activations"),
        (dict(V=V_OK, n_components=2, init="svd"), "unknown init"),
        (dict(V=V_OK, n_components=2, dtype=np.int32), "dtype"),
        (dict(V=V_OK, n_components=20, init="nndsvda"), "nndsvda"),
        (dict(V=np.array([["a"]], dtype=object), n_components=1), "numeric"),
        (dict(V=V_OK, n_components=2, n_threads=0), "n_threads"),
        (dict(V=V_OK, n_components=2, update_order="W"), "update_order"),
    ],
)
def test_bad_input_raises_a_clear_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        nmf(**kwargs)
    assert isinstance(info.value, ParameterError)


def test_divergence_shape_mismatch():
    with pytest.raises(ParameterError, match="shape"):
        beta_divergence(np.ones((2, 3)), np.ones((3, 2)), 1)


def test_fortran_ordered_input_gives_the_same_factors():
    """np.abs(librosa.stft(y)) is Fortran-ordered; it is read in place, with equal results."""
    V = low_rank(40, 300, 3, noise=0.1).astype(np.float32)
    c = nmf(np.ascontiguousarray(V), 3, n_iter=20, tol=0, seed=0, n_threads=1)
    f = nmf(np.asfortranarray(V), 3, n_iter=20, tol=0, seed=0, n_threads=1)
    np.testing.assert_allclose(f.W, c.W, rtol=1e-5)
    np.testing.assert_allclose(f.H, c.H, rtol=1e-5)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_layouts_and_blocks_agree_with_silent_blocks(monkeypatch, beta, n_threads):
    """C and F order and a strided view, one block or several, some of them silent
    (floored for IS): the same factors and losses as one C-ordered block."""
    import importlib

    core = importlib.import_module("nmfaudio.factorization")
    V = low_rank(30, 500, 3, noise=0.1)
    V[:, 70:140] = 0.0  # one block that needs the IS floor, next to blocks that do not
    V[5, 300] = 0.0
    whole = nmf(V, 3, beta=beta, n_iter=15, tol=0, seed=0, dtype=np.float64, n_threads=1)
    strided = np.zeros((30, 1000))
    strided[:, ::2] = V
    view = strided[:, ::2]  # neither C- nor F-contiguous
    one_block = nmf(view, 3, beta=beta, n_iter=15, tol=0, seed=0, dtype=np.float64, n_threads=1)
    np.testing.assert_allclose(one_block.W, whole.W, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(one_block.H, whole.H, rtol=1e-9, atol=1e-300)
    monkeypatch.setattr(core, "_BLOCK_BYTES", 30 * 8 * 64)  # 64-column blocks
    for layout in (np.ascontiguousarray, np.asfortranarray, lambda _: view):
        run = nmf(layout(V), 3, beta=beta, n_iter=15, tol=0, seed=0, dtype=np.float64,
                  n_threads=n_threads)
        np.testing.assert_allclose(run.W, whole.W, rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(run.H, whole.H, rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(run.loss_history, whole.loss_history, rtol=1e-11)


@pytest.mark.parametrize("seed", [-1, 1.5, "a"])
def test_bad_seed_is_a_parameter_error(seed):
    with pytest.raises(ParameterError, match="seed"):
        nmf(V_OK, 2, seed=seed)


def test_concurrent_fits_restore_the_blas_thread_count(monkeypatch):
    """BLAS threads are global: overlapping fits must leave them as they found them."""
    import importlib
    import threading

    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is a dependency")
    core = importlib.import_module("nmfaudio.factorization")
    monkeypatch.setattr(core, "_BLOCK_BYTES", 30 * 8 * 64)  # several blocks -> two lanes
    V = low_rank(30, 600, 3, noise=0.1)

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    started = threading.Event()

    def long_fit():
        nmf(V, 3, n_iter=300, tol=0, n_threads=2, dtype=np.float64,
            callback=lambda i, loss: started.set())

    thread = threading.Thread(target=long_fit)
    thread.start()
    started.wait(10)
    nmf(V, 3, n_iter=5, tol=0, n_threads=2, dtype=np.float64)  # starts and ends inside the other
    thread.join()
    assert blas_threads() == before


@pytest.mark.parametrize("beta,scale", [(-1.0, 1e-6), (10.0, 1e-6), (-5.0, 1.0)])
def test_float_overflow_is_an_error_not_nan(beta, scale):
    V = np.random.default_rng(0).random((50, 80)) * scale
    V[:, ::4] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow notes
        with pytest.raises(ParameterError, match="float64"):
            nmf(V, 5, beta=beta, n_iter=50, seed=0)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-4)])
def test_fused_is_kernel_matches_numpy(monkeypatch, dtype, rtol):
    """The numba kernel for IS (floor, 1/WH and V/WH^2 in one pass) and the numpy passes
    it replaces give the same fit; float32 differs by the kernel's float64 products."""
    import nmfaudio._kernels as kernels

    assert kernels.is_ratios() is not None, "numba (a dependency of librosa) should compile the kernel"
    V = low_rank(40, 300, 3, noise=0.1)
    V[:, :20] = 0.0  # the floor matters
    fused = nmf(V, 3, beta="is", n_iter=30, tol=0, seed=0, dtype=dtype)
    monkeypatch.setattr(kernels, "is_ratios", lambda: None)
    plain = nmf(V, 3, beta="is", n_iter=30, tol=0, seed=0, dtype=dtype)
    np.testing.assert_allclose(fused.W, plain.W, rtol=rtol)
    np.testing.assert_allclose(fused.H, plain.H, rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(fused.loss_history, plain.loss_history, rtol=rtol)
