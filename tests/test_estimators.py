"""Tests of nmfaudio.NMF, the scikit-learn estimator over nmf(): scikit-learn's own
check_estimator, librosa.decompose with it, and its own options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nmfaudio
from nmfaudio import NMF, load
from nmfaudio.errors import ParameterError

EXAMPLE = Path(__file__).resolve().parents[1] / "audio_fixtures" / "example"


def _kl(V: np.ndarray, WH: np.ndarray) -> float:
    """Generalized KL divergence D(V | WH) in float64, written out here on purpose (not
    the library's beta_divergence), so the comparison does not trust our own code."""
    V, WH = V.astype(np.float64), np.maximum(WH.astype(np.float64), 1e-300)
    pos = V > 0
    return float(np.sum(V[pos] * np.log(V[pos] / WH[pos])) - V.sum() + WH.sum())


@pytest.fixture(scope="module")
def spectrogram():
    import librosa

    y = load(EXAMPLE / "mixture.wav").samples[0, : 2 * 22050]
    return np.abs(librosa.stft(y, n_fft=1024, hop_length=256)).astype(np.float64)  # (F, T)


def test_check_estimator_passes():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(NMF())  # raises on the first failed check


@pytest.mark.slow  # scikit-learn's MU in float64 takes most of the time
def test_librosa_decompose_is_no_worse_than_sklearn_mu_from_the_same_start(spectrogram):
    import librosa
    from sklearn.decomposition import NMF as SklearnNMF

    S, K, n_iter = spectrogram, 8, 60
    settings = dict(n_components=K, init="nndsvda", random_state=0, beta_loss="kullback-leibler")
    # our start, made by the very same estimator settings with no iteration
    start = NMF(max_iter=0, **settings).fit(S.T)
    W0, H0 = start.components_.T, start.result_.activations  # (F, K), (K, T)
    reference = SklearnNMF(n_components=K, solver="mu", beta_loss="kullback-leibler",
                           init="custom", max_iter=n_iter, tol=0)
    codes = reference.fit_transform(S.T, W=np.array(H0.T), H=np.array(W0.T))
    kl_sklearn = _kl(S, (codes @ reference.components_).T)

    ours = NMF(max_iter=n_iter, tol=0, **settings)
    components, activations = librosa.decompose.decompose(S, transformer=ours)
    assert components.shape == (S.shape[0], K) and activations.shape == (K, S.shape[1])
    assert np.array_equal(components, ours.components_.T)
    # from the same start, the same number of iterations: the fit is no worse (measured
    # 2682.6 against 3323.8: nmf() takes one W step first after NNDSVDa; with plain MU
    # both agreed to 1e-12)...
    assert ours.n_iter_ == n_iter
    assert _kl(S, ours.result_.reconstruction()) <= kl_sklearn * (1 + 1e-9)
    # ...and neither are the activations librosa gets (solved again over the learned
    # components)
    assert _kl(S, components @ activations) <= kl_sklearn


def test_orientation_and_inverse_transform(spectrogram):
    X = spectrogram.T  # (T, F) as librosa passes it
    model = NMF(n_components=6, random_state=0, max_iter=50)
    codes = model.fit_transform(X)
    assert codes.shape == (X.shape[0], 6) and model.components_.shape == (6, X.shape[1])
    assert model.n_features_in_ == X.shape[1] and model.n_components_ == 6
    np.testing.assert_allclose(model.inverse_transform(codes), codes @ model.components_)
    assert model.reconstruction_err_ == pytest.approx(
        np.sqrt(2 * _kl(X.T, model.result_.reconstruction())), rel=1e-6)
    assert codes.dtype == np.float64
    assert model.fit_transform(X.astype(np.float32)).dtype == np.float32


def test_fit_transform_is_fit_then_transform(spectrogram):
    X = spectrogram.T
    model = NMF(n_components=4, random_state=1, max_iter=40)
    codes = model.fit_transform(X)
    assert np.array_equal(codes, model.transform(X))
    # each sample's codes depend only on that sample
    np.testing.assert_allclose(model.transform(X[:7]), codes[:7], rtol=1e-9, atol=1e-12)


def test_fixed_components_stay_as_given(spectrogram):
    X = spectrogram.T
    fixed = NMF(n_components=3, random_state=0, max_iter=30).fit(X).components_
    model = NMF(n_components=5, fixed_components=fixed, random_state=0, max_iter=30,
                l1_activations=0.2).fit(X)
    assert np.array_equal(model.components_[:3], fixed)
    assert not np.array_equal(model.components_[3:], 0)
    assert model.result_.l1_activations == 0.2
    # learned components are kept at unit L2 norm under the sparsity penalty
    np.testing.assert_allclose(np.linalg.norm(model.components_[3:], axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    ({"init": "nndsvd"}, "init must be one of"),
    ({"n_components": 0}, "n_components"),
    ({"beta_loss": "cosine"}, "beta"),
    ({"fixed_components": np.ones((2, 3))}, "fixed_components"),
    ({"max_iter": -1}, "max_iter"),
])
def test_bad_settings_are_parameter_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        NMF(**kwargs).fit(np.ones((10, 4)))


def test_custom_factors_need_init_custom():
    with pytest.raises(ParameterError, match="init='custom'"):
        NMF(n_components=2).fit(np.ones((10, 4)), H=np.ones((2, 4)))


def test_nmf_is_exported_without_importing_sklearn_up_front():
    assert nmfaudio.NMF is nmfaudio.estimators.NMF
    root = Path(nmfaudio.__file__).resolve().parents[1]
    code = "import sys, nmfaudio; print('sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=root)
    assert done.stdout.strip() == "False"
