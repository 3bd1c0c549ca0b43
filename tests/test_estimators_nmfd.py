"""Tests of nmfaudio.NMFD, the scikit-learn estimator over nmfd(): scikit-learn's own
check_estimator (less the two checks that assume independent samples), orientation,
fixed and custom templates, agreement with NMF at n_frames = 1, bad settings."""

from __future__ import annotations

import numpy as np
import pytest

import nmfaudio
from nmfaudio import NMF, NMFD
from nmfaudio.convolutive import convolutive_model
from nmfaudio.errors import ParameterError

# A convolutive model ties each sample to its neighbours in time, so transforming a subset
# or a shuffled X cannot give the same rows as transforming X: these two checks assume
# independent samples and are expected to fail for NMFD (they pass for NMF).
NOT_FOR_CONVOLUTIVE = {
    "check_methods_sample_order_invariance":
        "samples are consecutive frames; activations depend on the neighbouring frames",
    "check_methods_subset_invariance":
        "samples are consecutive frames; a subset is another signal (and may be shorter "
        "than one template)",
}


@pytest.fixture(scope="module")
def frames():
    """X (T, F) = S.T of an exactly convolutive S, with its templates and activations."""
    rng = np.random.default_rng(1)
    W = rng.random((30, 3, 5)) * (rng.random((30, 3, 5)) < 0.5)
    H = rng.random((3, 200)) * (rng.random((3, 200)) < 0.05)
    return convolutive_model(W, H).T + 1e-3, W, H


def test_check_estimator_passes_except_independence_checks():
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(NMFD(), expected_failed_checks=NOT_FOR_CONVOLUTIVE, on_fail=None)
    status = {r["check_name"]: r["status"] for r in results}
    failed = sorted(name for name, s in status.items() if s == "failed")
    assert failed == [], failed
    assert len([s for s in status.values() if s == "passed"]) > 30


def test_orientation_fit_transform_and_inverse(frames):
    X, _, _ = frames
    model = NMFD(n_components=3, n_frames=5, random_state=0, max_iter=300, tol=0)
    codes = model.fit_transform(X)
    assert codes.shape == (200, 3) and model.components_.shape == (3, 5, 30)
    assert model.n_components_ == 3 and model.n_features_in_ == 30 and model.n_iter_ == 300
    np.testing.assert_array_equal(model.components_, model.result_.templates.transpose(1, 2, 0))
    assert np.array_equal(codes, model.transform(X))
    back = model.inverse_transform(codes)
    np.testing.assert_allclose(back, convolutive_model(model.result_.templates, codes.T).T)
    assert np.linalg.norm(back - X) / np.linalg.norm(X) < 0.05
    assert list(model.get_feature_names_out()) == ["nmfd0", "nmfd1", "nmfd2"]
    assert model.fit_transform(X.astype(np.float32)).dtype == np.float32


def test_one_frame_is_nmf_from_the_same_start(frames):
    X, _, _ = frames
    rng = np.random.default_rng(3)
    A0, C0 = rng.random((200, 4)) + 0.1, rng.random((4, 30)) + 0.1
    settings = dict(n_components=4, init="custom", max_iter=40, tol=0, random_state=0)
    a = NMF(**settings).fit(X, W=A0, H=C0)
    b = NMFD(n_frames=1, **settings).fit(X, W=A0, H=C0[:, None, :])
    np.testing.assert_allclose(b.components_[:, 0, :], a.components_, rtol=1e-10)
    assert b.reconstruction_err_ == pytest.approx(a.reconstruction_err_, rel=1e-10)


def test_fixed_components_stay_as_given(frames):
    X, W, _ = frames
    fixed = W[:, :2, :].transpose(1, 2, 0)  # (K0, L, F)
    model = NMFD(n_components=3, n_frames=5, fixed_components=fixed, random_state=0,
                 max_iter=30, l1_activations=0.1).fit(X)
    assert np.array_equal(model.components_[:2], fixed)
    assert not np.array_equal(model.components_[2], 0)
    np.testing.assert_allclose(np.sqrt((model.components_[2] ** 2).sum()), 1.0, rtol=1e-10)


def test_exported_lazily():
    assert nmfaudio.NMFD is nmfaudio.estimators.NMFD


@pytest.mark.parametrize("kwargs,match", [
    ({"init": "nndsvd"}, "init must be one of"),
    ({"n_components": 0}, "n_components"),
    ({"n_frames": 0}, "n_frames"),
    ({"n_frames": 2.5}, "n_frames"),
    ({"n_frames": 11}, "fewer than n_frames"),
    ({"beta_loss": "cosine"}, "beta"),
    ({"fixed_components": np.ones((2, 2, 4))}, "fixed_components must have shape"),
    ({"n_components": 1, "fixed_components": np.ones((2, 3, 4))}, "n_components=1"),
    ({"max_iter": -1}, "max_iter"),
])
def test_bad_settings_are_parameter_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        NMFD(**{"n_frames": 3, **kwargs}).fit(np.ones((10, 4)))


def test_custom_factors_need_init_custom_and_the_right_shape():
    with pytest.raises(ParameterError, match="init='custom'"):
        NMFD(n_components=2, n_frames=3).fit(np.ones((10, 4)), H=np.ones((2, 3, 4)))
    with pytest.raises(ParameterError, match="H must have shape"):
        NMFD(n_components=2, n_frames=3, init="custom").fit(np.ones((10, 4)), H=np.ones((2, 4)))
    model = NMFD(n_components=2, n_frames=3).fit(np.ones((10, 4)))
    with pytest.raises(ParameterError, match="inverse_transform"):
        model.inverse_transform(np.ones((10, 3)))
