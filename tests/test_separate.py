"""Tests of the pipeline on the project's own small fixtures: dictionaries, separation
modes, sums, shapes, stereo, and bad input (the real-audio quality tests are in
test_quality.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from nmfaudio import Audio, Dictionary, STFTConfig, learn_dictionary, load, separate
from nmfaudio.dictionary import DICTIONARY_FRAME_SECONDS, dictionary_stft
from nmfaudio.errors import AudioFileError, DictionaryMismatchError, NMFAudioError, ParameterError
from nmfaudio.metrics import evaluate, match_sources
from nmfaudio.grouping import cluster_components

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
EXAMPLE = FIXTURES / "example"
STEREO = FIXTURES / "stereo"
CONFIG = STFTConfig(n_fft=1024, hop_length=256)


@pytest.fixture(scope="module")
def dictionaries():
    return [
        learn_dictionary(EXAMPLE / "train" / f"{name}.wav", 16, name=name, stft_config=CONFIG, n_iter=100)
        for name in ("keys", "drums")
    ]


@pytest.fixture(scope="module")
def references():
    return np.stack([load(EXAMPLE / "sources" / f"{n}.wav").samples for n in ("keys", "drums")])


@pytest.fixture(scope="module")
def supervised(dictionaries):
    return separate(EXAMPLE / "mixture.wav", dictionaries=dictionaries, n_iter=100)


# --------------------------------------------------------------------------- dictionaries


def test_learned_dictionary_has_unit_norm_templates_and_settings(dictionaries):
    keys = dictionaries[0]
    assert keys.templates.shape == (CONFIG.n_bins, 16)
    np.testing.assert_allclose(np.linalg.norm(keys.templates, axis=0), 1.0, rtol=1e-5)
    assert keys.sample_rate == 22050 and keys.stft == CONFIG and keys.beta == 1.0
    assert not keys.templates.flags.writeable


def test_dictionary_round_trip(tmp_path, dictionaries):
    path = dictionaries[0].save(tmp_path / "keys.npz")
    loaded = Dictionary.load(path)
    assert np.array_equal(loaded.templates, dictionaries[0].templates)
    assert (loaded.name, loaded.sample_rate, loaded.stft, loaded.beta) == (
        "keys", 22050, CONFIG, 1.0)
    with pytest.raises(AudioFileError, match="already exists"):
        dictionaries[0].save(tmp_path / "keys.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.npz"]  # no temp file left


@pytest.mark.parametrize("content,match", [
    (b"not a zip", "not an nmfaudio dictionary"),
    (None, "does not exist"),
])
def test_dictionary_load_errors_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioFileError, match=match) as info:
        Dictionary.load(path)
    assert "bad.npz" in str(info.value)


def test_dictionary_of_another_version_is_refused(tmp_path, dictionaries):
    import json

    path = dictionaries[0].save(tmp_path / "keys.npz")
    with np.load(path) as data:
        header = json.loads(str(data["header"]))
        templates = data["templates"]
    header["format_version"] = 99
    np.savez(path, templates=templates, header=np.array(json.dumps(header)))
    with pytest.raises(AudioFileError, match="version 99"):
        Dictionary.load(path)


def test_dictionary_rejects_wrong_shape():
    with pytest.raises(ParameterError, match="frequency bins"):
        Dictionary("x", np.ones((10, 2)), 22050, CONFIG)


def test_learning_from_a_missing_file_names_it(tmp_path):
    with pytest.raises(AudioFileError, match="nothere.wav"):
        learn_dictionary(tmp_path / "nothere.wav", 4, name="x")


# --------------------------------------------------------------------------- supervised


def test_sources_add_up_to_the_mixture_with_its_shape(supervised):
    mixture = load(EXAMPLE / "mixture.wav")
    assert supervised.sources.shape == (2,) + mixture.samples.shape
    assert supervised.sources.dtype == np.float32
    assert supervised.source_names == ("keys", "drums")
    assert np.abs(supervised.sources.sum(axis=0) - mixture.samples).max() < 1e-4
    np.testing.assert_allclose(supervised.masks.sum(axis=0), 1.0, atol=1e-5)


def test_supervised_separation_beats_the_mixture(supervised, references):
    mixture = load(EXAMPLE / "mixture.wav").samples
    ev = evaluate(supervised.sources[:, 0], references[:, 0], mixture=mixture[0])
    assert (ev.sdr > ev.baseline.sdr + 5).all(), ev.table()


def test_dictionary_templates_stay_fixed(supervised, dictionaries):
    W = supervised.nmf.templates
    assert np.array_equal(W[:, :16], dictionaries[0].templates)
    assert np.array_equal(W[:, 16:32], dictionaries[1].templates)


def test_semi_supervised_adds_an_other_source(dictionaries):
    sep = separate(EXAMPLE / "mixture.wav", dictionaries=dictionaries[:1], n_free=4, n_iter=50)
    assert sep.source_names == ("keys", "other")
    assert sep.nmf.templates.shape[1] == 20
    mixture = load(EXAMPLE / "mixture.wav").samples
    assert np.abs(sep.sources.sum(axis=0) - mixture).max() < 1e-4


def test_component_signals_add_up_to_the_mixture(dictionaries):
    sep = separate(EXAMPLE / "mixture.wav", dictionaries=dictionaries, n_iter=20)
    parts = sep.component_signals()
    assert parts.shape == (32,) + sep.mixture.samples.shape
    assert np.abs(parts.sum(axis=0) - sep.mixture.samples).max() < 1e-4


def test_same_seed_same_sources(dictionaries):
    a = separate(EXAMPLE / "mixture.wav", n_sources=2, n_components=8, n_iter=30, seed=3)
    b = separate(EXAMPLE / "mixture.wav", n_sources=2, n_components=8, n_iter=30, seed=3)
    assert np.array_equal(a.sources, b.sources)


# --------------------------------------------------------------------------- mismatches


def test_stft_mismatch_is_refused(dictionaries):
    with pytest.raises(DictionaryMismatchError, match="n_fft=1024"):
        separate(EXAMPLE / "mixture.wav", dictionaries=dictionaries, stft_config=STFTConfig(2048, 512))


def test_dictionaries_of_different_stft_are_refused(dictionaries):
    other = learn_dictionary(EXAMPLE / "train" / "drums.wav", 4, name="other_drums",
                             stft_config=STFTConfig(2048, 512), n_iter=10)
    with pytest.raises(DictionaryMismatchError, match="other_drums"):
        separate(EXAMPLE / "mixture.wav", dictionaries=[dictionaries[0], other])


def test_sample_rate_mismatch_resamples_or_refuses(dictionaries):
    mixture = load(EXAMPLE / "mixture.wav")
    at_16k = load(EXAMPLE / "mixture.wav", sample_rate=16000)
    with pytest.raises(DictionaryMismatchError, match="16000 Hz"):
        separate(at_16k, dictionaries=dictionaries, on_rate_mismatch="error")
    sep = separate(at_16k, dictionaries=dictionaries, n_iter=30)
    assert sep.sample_rate == 16000
    assert sep.sources.shape == (2,) + at_16k.samples.shape
    # up to 16 kHz -> 22.05 kHz -> 16 kHz, the sources still add up to the mixture
    assert np.abs(sep.sources.sum(axis=0) - at_16k.samples).max() < 2e-2
    assert mixture.sample_rate == 22050


def test_downsampling_to_the_dictionaries_keeps_the_rest_as_residual(tmp_path):
    """A 22.05 kHz mixture with 8 kHz dictionaries: the band above 4 kHz is kept, not lost."""
    narrow = [learn_dictionary(EXAMPLE / "train" / f"{n}.wav", 8, name=n, sample_rate=8000,
                               stft_config=STFTConfig(512, 128), n_iter=20)
              for n in ("keys", "drums")]
    mixture = load(EXAMPLE / "mixture.wav")
    with pytest.warns(UserWarning, match="above 4000 Hz"):
        sep = separate(mixture, dictionaries=narrow, n_iter=10)
    assert sep.sources.shape == (2,) + mixture.samples.shape
    assert sep.residual is not None and sep.residual.shape == mixture.samples.shape
    np.testing.assert_allclose(sep.sources.sum(axis=0) + sep.residual, mixture.samples, atol=1e-6)
    assert np.sum(sep.residual ** 2) > 1e-3 * np.sum(mixture.samples ** 2)  # the hi-hats


def test_duplicate_names_are_refused(dictionaries):
    with pytest.raises(DictionaryMismatchError, match="named 'keys'"):
        separate(EXAMPLE / "mixture.wav", dictionaries=[dictionaries[0], dictionaries[0]])


# --------------------------------------------------------------------------- unsupervised


def test_unsupervised_separation_groups_components_by_itself(references):
    sep = separate(EXAMPLE / "mixture.wav", n_sources=2, stft_config=CONFIG, n_iter=150)
    assert sep.source_names == ("source1", "source2")
    assert sorted(np.concatenate(sep.groups).tolist()) == list(range(sep.nmf.templates.shape[1]))
    order = match_sources(sep.sources[:, 0], references[:, 0])
    mixture = load(EXAMPLE / "mixture.wav").samples[0]
    ev = evaluate(sep.sources[order, 0], references[:, 0], mixture=mixture)
    assert np.median(ev.sdr) > np.median(ev.baseline.sdr) + 3, ev.table()


def test_cluster_components_orders_sources_by_centroid():
    F, sr, n_fft = 513, 22050, 1024
    rng = np.random.default_rng(0)
    low = np.exp(-np.arange(F) / 20.0)[:, None] * (1 + 0.1 * rng.random((F, 3)))
    high = np.exp(-(F - np.arange(F)) / 40.0)[:, None] * (1 + 0.1 * rng.random((F, 3)))
    W = np.concatenate([high, low], axis=1)
    H = rng.random((6, 50))
    labels = cluster_components(W, H, 2, sample_rate=sr, n_fft=n_fft)
    assert labels.tolist() == [1, 1, 1, 0, 0, 0]


# --------------------------------------------------------------------------- stereo


def test_stereo_in_stereo_out_keeps_each_side(dictionaries):
    sep = separate(STEREO / "mixture.wav", dictionaries=dictionaries, n_iter=100)
    mixture = load(STEREO / "mixture.wav")
    assert sep.sources.shape == (2, 2, mixture.n_samples)
    assert np.abs(sep.sources.sum(axis=0) - mixture.samples).max() < 1e-4
    refs = np.stack([load(STEREO / "sources" / f"{n}.wav").samples for n in ("keys", "drums")])
    order = [0, 1]

    def balance(x):
        return 10 * np.log10((x[0] ** 2).sum() / (x[1] ** 2).sum())

    # each stem stays on its side; the 1 dB criterion is asserted on the real
    # recording A_stereo_panned in test_quality.py (these 4 s of synthetic audio train
    # dictionaries of only 6 s, so more of each source leaks into the other)
    for est, ref in zip(sep.sources[order], refs):
        assert np.sign(balance(est)) == np.sign(balance(ref))
        assert abs(balance(est) - balance(ref)) < 2.0


def test_shared_masks_are_available_for_stereo():
    sep = separate(STEREO / "mixture.wav", n_sources=2, stft_config=CONFIG, n_iter=30,
                   channel_masks="shared")
    assert sep.channel_gains is None
    mixture = load(STEREO / "mixture.wav")
    assert np.abs(sep.sources.sum(axis=0) - mixture.samples).max() < 1e-4


# --------------------------------------------------------------------------- bad input


def test_bad_files_raise_a_clear_error_naming_the_file(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(22050, dtype=np.float32), 22050)
    nan = tmp_path / "nan.wav"
    data = np.ones(22050, dtype=np.float32) * 0.1
    data[100] = np.nan
    sf.write(nan, data, 22050, subtype="FLOAT")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 22050)
    for path in (tmp_path / "missing.wav", text, silent, nan, empty):
        with pytest.raises(AudioFileError) as info:
            separate(path, n_sources=2)
        assert path.name in str(info.value)
        assert not list(tmp_path.glob("*.tmp*"))


def test_too_short_audio_is_refused():
    with pytest.raises(AudioFileError, match="shorter than one STFT frame"):
        separate(Audio(np.full(500, 0.1, dtype=np.float32), 22050), n_sources=2,
                 stft_config=STFTConfig(n_fft=1024, hop_length=256))
    # the blind default shrinks to a clip's length, down to 16 samples
    with pytest.raises(AudioFileError, match="no STFT frame is shorter than 16 samples"):
        separate(Audio(np.full(10, 0.1, dtype=np.float32), 22050), n_sources=2)


@pytest.mark.parametrize("kwargs,match", [
    (dict(), "either dictionaries"),
    (dict(n_sources=0), "n_sources"),
    (dict(n_sources=3, n_components=2), "n_components"),
    (dict(n_sources=2, source_names=["a"]), "source_names"),
    (dict(n_sources=2, n_free=2), "n_free"),
    (dict(n_sources=2, on_rate_mismatch="maybe"), "on_rate_mismatch"),
    (dict(n_sources=2, channel_masks="per-bin"), "channel_masks"),
    (dict(n_sources=2, beta="foo"), "unknown beta"),
])
def test_bad_settings_raise_parameter_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        separate(EXAMPLE / "mixture.wav", **kwargs)


def test_every_deliberate_error_is_an_nmfaudio_error():
    with pytest.raises(NMFAudioError):
        separate(EXAMPLE / "nothing.wav", n_sources=2)


def test_short_file_with_many_components_falls_back_to_random_init():
    audio = Audio(np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1, 8000)
    sep = separate(audio, n_sources=2, n_components=40, stft_config=STFTConfig(256, 64), n_iter=5)
    assert sep.nmf.templates.shape[1] == 40  # more components than frames: random init


@pytest.mark.parametrize("kwargs,match", [
    (dict(mask_power=0), "mask_power"),
    (dict(temporal_weight=2.0), "temporal_weight"),
])
def test_late_settings_are_checked_before_the_nmf(kwargs, match, monkeypatch):
    import importlib

    pipeline = importlib.import_module("nmfaudio.pipeline")  # the package exports separate()

    def fail(*args, **kw):  # the NMF must not even start
        raise AssertionError("nmf ran before the settings were checked")

    monkeypatch.setattr(pipeline, "nmf", fail)
    with pytest.raises(ParameterError, match=match):
        separate(EXAMPLE / "mixture.wav", n_sources=2, **kwargs)


def test_corrupt_dictionary_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:
        np.save(handle, np.ones(3))
    for path in (empty, single):
        with pytest.raises(AudioFileError, match="not an nmfaudio dictionary") as info:
            Dictionary.load(path)
        assert path.name in str(info.value)


def test_learning_from_a_too_short_file_names_it(tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.full(1000, 0.1, dtype=np.float32), 8000)
    with pytest.raises(AudioFileError, match=r"short.wav.*n_fft=2048"):
        learn_dictionary(short, 4, name="x")


@pytest.mark.parametrize("rate, n_fft", [(8000, 2048), (16000, 4096), (22050, 4096),
                                         (44100, 8192), (48000, 8192)])
def test_dictionaries_default_to_frames_of_about_200_ms(rate, n_fft):
    """Frames of the training rate's ~200 ms (not a fixed 2048 points, which is 46 ms at
    44.1 kHz and lost 0.7 dB on held-out rendered songs), hop a quarter; a given STFT wins."""
    noise = np.random.default_rng(0).random((1, rate // 2), dtype=np.float32) - 0.5
    learned = learn_dictionary(Audio(noise, rate), 2, name="noise", n_iter=2)
    assert learned.stft == STFTConfig(n_fft=n_fft, hop_length=n_fft // 4)
    assert learned.stft == dictionary_stft(rate)
    assert abs(np.log2(n_fft / (DICTIONARY_FRAME_SECONDS * rate))) <= 0.5
    given = learn_dictionary(Audio(noise, rate), 2, name="noise", n_iter=2, stft_config=CONFIG)
    assert given.stft == CONFIG


def test_component_signals_memory_does_not_grow_with_k(dictionaries):
    import tracemalloc

    sep = separate(EXAMPLE / "mixture.wav", dictionaries=dictionaries, n_iter=5)
    F, T = sep.spectrogram.shape
    tracemalloc.start()
    parts = sep.component_signals()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    output = parts.nbytes
    # far below K complex (F, T) masks (K = 32 here: 32 * F * T * 8 bytes = 31 MB)
    assert peak - output < 12 * F * T * 8


def test_separation_takes_beta_and_power_from_the_dictionaries():
    power2 = [learn_dictionary(EXAMPLE / "train" / f"{n}.wav", 4, name=n, stft_config=CONFIG,
                               beta="is", spectrogram_power=2.0, n_iter=10)
              for n in ("keys", "drums")]
    sep = separate(EXAMPLE / "mixture.wav", dictionaries=power2, n_iter=5)
    assert sep.nmf.beta == 0.0 and sep.spectrogram_power == 2.0
    with pytest.raises(DictionaryMismatchError, match="power 2"):
        separate(EXAMPLE / "mixture.wav", dictionaries=power2, spectrogram_power=1.0)


def test_unsupervised_options_with_dictionaries_are_refused(dictionaries):
    with pytest.raises(ParameterError, match="unsupervised"):
        separate(EXAMPLE / "mixture.wav", dictionaries=dictionaries, n_components=8)


def test_small_fft_grouping_gives_no_librosa_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sep = separate(EXAMPLE / "mixture.wav", n_sources=2, n_components=6,
                       stft_config=STFTConfig(64, 16), n_iter=5)
    assert len(sep.groups) == 2


def test_component_balance_finds_the_side_of_each_component():
    from nmfaudio.grouping import component_balance

    rng = np.random.default_rng(0)
    W = rng.random((20, 2)) + 0.1
    W[10:, 0] = 0  # component 0 lives in the low bins, component 1 in the high ones
    W[:10, 1] = 0
    H = rng.random((2, 30)) + 0.1
    left, right = np.outer(W[:, 0], H[0]), np.outer(W[:, 1], H[1])
    magnitudes = np.stack([left + 0.1 * right, 0.1 * left + right])  # 0 left, 1 right
    balance = component_balance(magnitudes, W, H)
    np.testing.assert_allclose(balance, [10.0, -10.0], atol=1e-3)  # 10 log10(1 / 0.1)
