"""Tests of nmfaudio.masks: grouping, component models, soft masks, applying them."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nmfaudio.errors import ParameterError
from nmfaudio.masks import (
    apply_masks,
    check_groups,
    component_models,
    groups_from_labels,
    masks_from_models,
    wiener_masks,
)
from nmfaudio.spectral import STFTConfig, istft, spectrogram, stft


def factors(F=20, K=6, T=15, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.random((F, K)).astype(dtype), rng.random((K, T)).astype(dtype)


def assert_sums_to_one(masks, atol):
    total = masks.sum(axis=0, dtype=np.float64)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=atol)


# --------------------------------------------------------------------------- groups


def test_groups_from_labels():
    groups = groups_from_labels([0, 1, 0, 2, 1])
    assert len(groups) == 3
    assert [g.tolist() for g in groups] == [[0, 2], [1, 4], [3]]
    assert all(g.dtype == np.intp for g in groups)
    assert [g.tolist() for g in groups_from_labels(np.repeat([0, 1], 3))] == [
        [0, 1, 2], [3, 4, 5],
    ]


def test_groups_from_labels_allows_empty_sources_only_when_counted():
    groups = groups_from_labels(np.array([0, 0, 2], dtype=np.uint8), n_sources=4)
    assert [g.tolist() for g in groups] == [[0, 1], [], [2], []]
    with pytest.raises(ParameterError, match=r"never \[1\].*n_sources"):
        groups_from_labels([0, 0, 2])


@pytest.mark.parametrize(
    "labels, n_sources, match",
    [
        ([0, -1, 1], None, r"labels\[1\] = -1"),
        ([0, 3, 1], 3, r"labels\[1\] = 3.*0 \.\. 2"),
        ([0.0, 1.0], None, "integers"),
        ([True, False], None, "integers"),
        ([], None, "non-empty"),
        ([[0, 1]], None, "1-D"),
        ([0, 1], 0, "n_sources"),
        ([0, 1], 2.0, "n_sources"),
    ],
)
def test_groups_from_labels_rejects(labels, n_sources, match):
    with pytest.raises(ParameterError, match=match):
        groups_from_labels(labels, n_sources)


def test_check_groups_accepts_partitions_in_any_form():
    out = check_groups([np.array([3, 0]), [1], (2,), []], 4)
    assert [g.tolist() for g in out] == [[3, 0], [1], [2], []]
    assert all(g.dtype == np.intp for g in out)
    assert [g.tolist() for g in check_groups(np.array([[0, 1], [2, 3]]), 4)] == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    "groups, match",
    [
        ([[0, 1], [1, 2]], r"component 1 is in groups\[0\] and groups\[1\]"),
        ([[0, 0, 1], [2]], r"groups\[0\] lists components \[0\] more than once"),
        ([[0, 1]], r"components \[2\] are in no group"),
        ([[0, 1], [2, 3]], r"groups\[1\] has component indices \[3\] outside 0 \.\. 2"),
        ([[0, -1], [1, 2]], r"\[-1\] outside"),
        ([[0.0, 1.0], [2]], "integer component indices"),
        ([[[0, 1]], [2]], "1-D"),
        ([], "empty"),
        ("012", "sequence"),
        (3, "sequence"),
    ],
)
def test_check_groups_rejects(groups, match):
    with pytest.raises(ParameterError, match=match):
        check_groups(groups, 3)


def test_check_groups_rejects_bad_component_count():
    with pytest.raises(ParameterError, match="n_components"):
        check_groups([[0]], 0)


# --------------------------------------------------------------------------- models


def test_component_models_split_the_model():
    W, H = factors()
    groups = [[0, 3], [1, 2, 5], [4]]
    models = component_models(W, H, groups)
    assert models.shape == (3, 20, 15) and models.dtype == np.float32
    np.testing.assert_allclose(models.sum(axis=0), W @ H, rtol=1e-5)
    np.testing.assert_allclose(models[1], W[:, [1, 2, 5]] @ H[[1, 2, 5]], rtol=1e-6)
    assert component_models(W.astype(np.float64), H, groups).dtype == np.float64


def test_component_models_empty_group_is_silent():
    W, H = factors(K=3)
    models = component_models(W, H, groups_from_labels([0, 0, 2], n_sources=3))
    assert not models[1].any()


def test_component_models_do_not_modify_inputs():
    W, H = factors()
    W0, H0 = W.copy(), H.copy()
    wiener_masks(W, H, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(H, H0)


@pytest.mark.parametrize(
    "W, H, match",
    [
        (np.ones((4, 3)), np.ones((2, 5)), "3 components.*2"),
        (np.ones(4), np.ones((3, 5)), r"shape \(F, K\)"),
        (-np.ones((4, 3)), np.ones((3, 5)), "W has 12 negative"),
        (np.ones((4, 3)), np.full((3, 5), np.nan), "H contains 15 NaN"),
        (np.ones((4, 3), complex), np.ones((3, 5)), "real"),
        (np.ones((0, 3)), np.ones((3, 5)), "empty"),
    ],
)
def test_component_models_rejects(W, H, match):
    with pytest.raises(ParameterError, match=match):
        component_models(W, H, [[0], [1, 2]])


# --------------------------------------------------------------------------- masks


def test_masks_are_the_share_of_the_powered_models():
    models = np.array([[[3.0, 0.0, 1e-3]], [[1.0, 0.0, 1e-3]]], dtype=np.float32)
    m1 = masks_from_models(models, power=1)
    np.testing.assert_allclose(m1[:, 0, :], [[0.75, 0.5, 0.5], [0.25, 0.5, 0.5]], rtol=1e-6)
    m2 = masks_from_models(models)  # power 2: 9 / 10
    np.testing.assert_allclose(m2[:, 0, 0], [0.9, 0.1], rtol=1e-6)
    assert m2.dtype == np.float32
    assert masks_from_models(models.astype(np.float64)).dtype == np.float64
    assert masks_from_models(models.astype(np.int64)).dtype == np.float32


def test_all_zero_bins_are_shared_equally():
    models = np.zeros((4, 3, 2), dtype=np.float32)
    models[2, 0, 0] = 5.0
    masks = masks_from_models(models)
    np.testing.assert_array_equal(masks[:, 0, 0], [0, 0, 1, 0])
    np.testing.assert_allclose(masks[:, 1:, :], 0.25)
    assert_sums_to_one(masks, 1e-6)


@pytest.mark.parametrize("scale", [1e30, 1e-30, 1e-42, 3e38])
@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 4.0])
def test_huge_and_tiny_models_neither_overflow_nor_underflow(scale, power):
    """m**2 of 1e30 overflows float32 and of 1e-30 underflows; the masks must not care."""
    ratio = np.array([[[1.0]], [[0.5]]], dtype=np.float64)
    models = (ratio * scale).astype(np.float32)
    assert models.min() > 0
    with np.errstate(all="raise"):  # no overflow, no division by zero, no invalid
        masks = masks_from_models(models, power=power)
    actual = models[1, 0, 0] / models[0, 0, 0]  # tiny subnormals are not exact halves
    expected = 1.0 / (1.0 + float(actual) ** power)
    np.testing.assert_allclose(masks[0, 0, 0], expected, rtol=1e-5)
    assert_sums_to_one(masks, 1e-6)


def test_masks_do_not_modify_models():
    models = np.random.default_rng(0).random((3, 10, 10)).astype(np.float32) * 1e20
    before = models.copy()
    masks_from_models(models, power=2.0)
    np.testing.assert_array_equal(models, before)


@pytest.mark.parametrize(
    "models, power, match",
    [
        (np.ones((2, 3, 4)), 0.0, "power"),
        (np.ones((2, 3, 4)), -2.0, "power"),
        (np.ones((2, 3, 4)), -np.inf, "power"),
        (np.ones((2, 3, 4)), np.nan, "power"),
        (np.ones((2, 3, 4)), True, "power"),
        (np.ones((2, 3, 4)), "2", "power"),
        (-np.ones((2, 3, 4)), 2.0, "negative"),
        (np.full((2, 3, 4), np.nan), 2.0, "NaN"),
        (np.ones((3, 4)), 2.0, r"shape \(S, F, T\)"),
        (np.ones((0, 3, 4)), 2.0, "S >= 1"),
        (np.ones((2, 3, 4), complex), 2.0, "real"),
    ],
)
def test_masks_from_models_rejects(models, power, match):
    with pytest.raises(ParameterError, match=match):
        masks_from_models(models, power=power)


def test_power_is_keyword_only():
    with pytest.raises(TypeError):
        masks_from_models(np.ones((2, 3, 4)), 2.0)


@settings(max_examples=60, deadline=None)
@given(
    models=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=6),
        elements=st.floats(0, float(np.finfo(np.float32).max), width=32, allow_subnormal=True),
    ),
    power=st.sampled_from([1.0, 2.0, 0.5]),
)
def test_masks_sum_to_one_property(models, power):
    """For any nonnegative finite models (zeros, subnormals, near float32 max) and p."""
    masks = masks_from_models(models, power=power)
    assert masks.shape == models.shape and masks.dtype == models.dtype
    assert np.all(np.isfinite(masks)) and masks.min() >= 0 and masks.max() <= 1
    eps = np.finfo(masks.dtype).eps
    assert_sums_to_one(masks, 4 * models.shape[0] * eps)
    # A larger model never gets a smaller mask in the same bin.
    order = np.argsort(models, axis=0, kind="stable")
    sorted_masks = np.take_along_axis(masks, order, axis=0)
    assert np.all(np.diff(sorted_masks.astype(np.float64), axis=0) >= -4 * eps)


@settings(max_examples=30, deadline=None)
@given(
    K=st.integers(1, 8),
    S=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    power=st.sampled_from([1.0, 2.0, 0.5]),
)
def test_wiener_masks_sum_to_one_for_any_grouping(K, S, seed, power):
    rng = np.random.default_rng(seed)
    W, H = factors(F=7, K=K, T=5, seed=seed)
    W[:, rng.random(K) < 0.3] = 0  # some silent components
    labels = rng.integers(0, S, K)
    masks = wiener_masks(W, H, groups_from_labels(labels, n_sources=S), power=power)
    assert masks.shape == (S, 7, 5)
    assert_sums_to_one(masks, 1e-6)


# --------------------------------------------------------------------------- apply


def test_apply_masks_mono_and_stereo_use_the_same_mask_on_every_channel():
    rng = np.random.default_rng(0)
    masks = masks_from_models(rng.random((3, 5, 4)))
    X = (rng.standard_normal((2, 5, 4)) + 1j * rng.standard_normal((2, 5, 4))).astype(
        np.complex64
    )
    Y = apply_masks(masks, X)
    assert Y.shape == (3, 2, 5, 4) and Y.dtype == np.complex64
    for s in range(3):
        for c in range(2):
            np.testing.assert_allclose(Y[s, c], masks[s] * X[c], rtol=1e-6)
    np.testing.assert_allclose(Y.sum(axis=0), X, atol=1e-6)
    mono = apply_masks(masks, X[0])
    assert mono.shape == (3, 5, 4)
    np.testing.assert_allclose(mono, Y[:, 0], rtol=1e-6)


def test_apply_masks_keeps_precision_of_x_and_leaves_inputs():
    masks = np.full((2, 3, 4), 0.5)
    X = np.ones((3, 4), np.complex128)
    masks0, X0 = masks.copy(), X.copy()
    assert apply_masks(masks.astype(np.float32), X).dtype == np.complex128
    assert apply_masks(masks, X.astype(np.complex64)).dtype == np.complex64
    np.testing.assert_array_equal(masks, masks0)
    np.testing.assert_array_equal(X, X0)


@pytest.mark.parametrize(
    "masks, X, match",
    [
        (np.ones((2, 3, 4)), np.ones((3, 5), complex), r"\(F, T\) = \(3, 4\).*\(3, 5\)"),
        (np.ones((3, 4)), np.ones((3, 4), complex), r"shape \(S, F, T\)"),
        (np.ones((2, 3, 4)), np.ones((1, 1, 3, 4), complex), r"\(F, T\) or \(C, F, T\)"),
        (np.full((2, 3, 4), np.nan), np.ones((3, 4), complex), "masks contains 24 NaN"),
        (np.ones((2, 3, 4)), np.full((3, 4), np.inf, complex), "X contains 12 NaN"),
        (np.ones((2, 3, 4), complex), np.ones((3, 4), complex), "real"),
    ],
)
def test_apply_masks_rejects(masks, X, match):
    with pytest.raises(ParameterError, match=match):
        apply_masks(masks, X)


# --------------------------------------------------------------------------- real audio


def read_task(folder, seconds=6.0):
    """Mixture (C, N) and stems (S, C, N) of a shared task, first `seconds` only."""
    def read(path):
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return np.ascontiguousarray(data[: int(seconds * rate)].T)

    names = sorted(p.stem for p in (folder / "sources").glob("*.wav"))
    mixture = read(folder / "mixture.wav")
    stems = np.stack([read(folder / "sources" / f"{name}.wav") for name in names])
    return mixture, stems


@pytest.mark.parametrize("task", ["A_piano_bass_drums", "A_stereo_panned"])
def test_masked_sources_sum_to_the_mixture_on_real_audio(shared_audio, task):
    """Masks from the stems' spectrograms (an oracle) applied to the mixture's STFT.

    Whatever the masks, they sum to one, so the inverted sources must add up to the
    mixture; with oracle models they must also be closer to the stems than the mixture.
    """
    mixture, stems = read_task(shared_audio / task)
    config = STFTConfig(n_fft=2048, hop_length=512)
    n_channels, n_samples = mixture.shape

    X = stft(mixture, config)                                            # (C, F, T)
    models = np.stack([spectrogram(stft(stem, config)) for stem in stems])  # (S, F, T)
    masks = masks_from_models(models, power=2.0)
    assert_sums_to_one(masks, 1e-6)

    Y = apply_masks(masks, X)                                            # (S, C, F, T)
    assert Y.shape == (len(stems), n_channels) + X.shape[-2:]
    sources = istft(Y, config, length=n_samples)                         # (S, C, N)
    assert sources.shape == stems.shape and sources.dtype == np.float32

    error = float(np.abs(sources.sum(axis=0) - mixture).max())
    assert error < 1e-4, f"sources sum to the mixture only within {error:.3g}"
    for s in range(len(stems)):
        assert np.sum((sources[s] - stems[s]) ** 2) < np.sum((mixture - stems[s]) ** 2)


def test_random_nmf_masks_also_sum_to_the_real_mixture(shared_audio):
    """The sum property holds for any factorization, not only a good one."""
    mixture, _ = read_task(shared_audio / "B_speech_music", seconds=10.0)
    config = STFTConfig(n_fft=1024, hop_length=256)
    X = stft(mixture, config)
    rng = np.random.default_rng(1)
    W = rng.random((config.n_bins, 10)).astype(np.float32)
    H = rng.random((10, X.shape[-1])).astype(np.float32)
    masks = wiener_masks(W, H, groups_from_labels([0, 1, 2] * 3 + [1]))
    sources = istft(apply_masks(masks, X), config, length=mixture.shape[-1])
    assert float(np.abs(sources.sum(axis=0) - mixture).max()) < 1e-4


# --------------------------------------------------------------------------- hard masks


def test_hard_masks_give_each_bin_to_the_largest_model():
    import librosa

    rng = np.random.default_rng(3)
    models = rng.random((2, 6, 9)).astype(np.float32)
    models[:, 0, 0] = 0.5  # a tie: shared equally
    models[:, 0, 1] = 0.0  # silence: shared equally
    hard = masks_from_models(models, power=np.inf)
    np.testing.assert_array_equal(hard.sum(axis=0), 1.0)
    assert hard[0, 0, 0] == hard[1, 0, 0] == 0.5 and hard[0, 0, 1] == 0.5
    untied = models[0] != models[1]
    expected = librosa.util.softmask(models[0], models[1], power=np.inf)
    np.testing.assert_array_equal(hard[0][untied], expected[untied].astype(np.float32))
    # the limit of the soft masks as p grows (where the two models are not too close)
    apart = models.min(axis=0) < 0.9 * models.max(axis=0)
    np.testing.assert_allclose(masks_from_models(models, power=500.0)[:, apart],
                               hard[:, apart], atol=1e-6)


def test_hard_masks_through_separate_add_up_to_the_mixture():
    from pathlib import Path

    from nmfaudio import STFTConfig, load, separate

    path = Path(__file__).resolve().parents[1] / "audio_fixtures" / "stereo" / "mixture.wav"
    sep = separate(path, n_sources=2, stft_config=STFTConfig(n_fft=512, hop_length=128),
                   n_iter=10, mask_power=np.inf)
    assert set(np.unique(sep.masks)) <= {0.0, 0.5, 1.0}
    assert set(np.unique(sep.applied_masks)) <= {0.0, 0.5, 1.0}
    mixture = load(path).samples
    assert np.abs(sep.sources.sum(axis=0) - mixture).max() < 1e-4
    parts = sep.component_signals()
    assert np.abs(parts.sum(axis=0) - mixture).max() < 1e-4
