"""The separation run chunk by chunk (nmfaudio.chunked) against the in-memory one."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from nmfaudio import pipeline, separate
from nmfaudio.audio import load, save
from nmfaudio.chunked import separate_to_files
from nmfaudio.dictionary import learn_dictionary
from nmfaudio.errors import AudioFileError
from nmfaudio.spectral import STFTConfig

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
MONO = FIXTURES / "example" / "mixture.wav"
STEREO = FIXTURES / "stereo" / "mixture.wav"
CONFIG = STFTConfig(n_fft=512, hop_length=128)
FAST = {"n_iter": 40}


@pytest.fixture(scope="module")
def dictionaries():
    return [learn_dictionary(FIXTURES / "example" / "train" / f"{name}.wav", 8, name=name,
                             stft_config=CONFIG, n_iter=30) for name in ("keys", "drums")]


def read(paths):
    return np.stack([sf.read(p, dtype="float32", always_2d=True)[0].T for p in paths])


def streamed(tmp_path, mixture, names, chunk, tag="", **kwargs):
    paths = [tmp_path / f"{tag}{chunk}_{name}.wav" for name in names]
    result = separate_to_files(mixture, paths, chunk_frames=chunk, **kwargs)
    return read(paths), result


def settings_of(mode, dictionaries):
    if mode == "supervised":
        return {"dictionaries": dictionaries}
    return {"n_sources": 2, "stft_config": CONFIG}


@pytest.mark.parametrize("mixture", [MONO, STEREO], ids=["mono", "stereo"])
@pytest.mark.parametrize("mode", ["supervised", "unsupervised"])
def test_chunked_equals_in_memory(tmp_path, dictionaries, mixture, mode):
    kwargs = dict(settings_of(mode, dictionaries), **FAST)
    reference = separate(mixture, **kwargs)
    for chunk in (7, 100_000):  # many chunks, and one chunk for the whole file
        sources, result = streamed(tmp_path, mixture, reference.source_names, chunk, **kwargs)
        np.testing.assert_allclose(sources, reference.sources, rtol=0, atol=1e-5)
        assert [g.tolist() for g in result.separation.groups] == \
            [g.tolist() for g in reference.groups]
        assert result.separation.n_chunks == (1 if chunk > 1000 else -(-result.separation.n_frames // 7))


@pytest.mark.parametrize("n_bins, frames", [(257, 2048), (1025, 2048), (2049, 1024),
                                            (4097, 512), (8193, 256)])
def test_fit_blocks_hold_at_most_2048_frames_of_1025_bins(n_bins, frames):
    """Dictionaries of 8192-point frames (about 200 ms at 44.1 kHz) fit blocks of 512
    frames, 24 s as 2048 frames at a 512 hop: a block's memory does not grow with the
    frame length (2048 frames of 4097 bins took 2.5 times the memory of a separation)."""
    assert pipeline.fit_frames(n_bins) == frames
    assert pipeline.fit_frames(n_bins) * n_bins <= pipeline.FIT_FRAMES * 1025


@pytest.mark.parametrize("n_bins", [257, 1025, 2049, 4097])
def test_stat_frames_and_chunks_hold_no_more_values_for_longer_frames(n_bins):
    from nmfaudio.streaming import DEFAULT_CHUNK_FRAMES, default_chunk_frames

    frames = pipeline.stat_frames(10 ** 6, n_bins)
    assert frames.size * n_bins <= pipeline.STAT_FRAMES * 1025
    assert frames.size == min(pipeline.STAT_FRAMES, pipeline.STAT_FRAMES * 1025 // n_bins)
    assert np.all(np.diff(frames) > 0) and frames[0] == 0 and frames[-1] < 10 ** 6
    assert np.array_equal(pipeline.stat_frames(100, n_bins), np.arange(100))
    chunk = default_chunk_frames(n_bins)
    assert chunk * n_bins <= DEFAULT_CHUNK_FRAMES * 1025 and chunk == min(
        DEFAULT_CHUNK_FRAMES, DEFAULT_CHUNK_FRAMES * 1025 // n_bins)


def test_supervised_blocks_and_stat_frames_do_not_depend_on_the_chunks(tmp_path, dictionaries,
                                                                       monkeypatch):
    """Activations fitted per block of a fixed grid, gains on a subset of frames: the same
    whether the audio is read whole or in chunks that straddle the blocks."""
    monkeypatch.setattr(pipeline, "FIT_FRAMES", 50)
    monkeypatch.setattr(pipeline, "STAT_FRAMES", 40)
    kwargs = dict(dictionaries=dictionaries, **FAST)
    reference = separate(STEREO, **kwargs)
    assert reference.nmf.activations.shape[1] > 50 * 10
    for chunk in (7, 64):
        sources, result = streamed(tmp_path, STEREO, reference.source_names, chunk, **kwargs)
        np.testing.assert_allclose(sources, reference.sources, rtol=0, atol=1e-5)
        np.testing.assert_allclose(result.separation.channel_gains, reference.channel_gains,
                                   rtol=1e-6)
        assert result.separation.fit == "blocks"


def test_resampled_chunked_equals_in_memory(tmp_path, dictionaries):
    at_16k = load(MONO, sample_rate=16000)
    path = tmp_path / "mix16k.wav"
    save(path, at_16k.samples, 16000, subtype="FLOAT")
    reference = separate(path, dictionaries=dictionaries, **FAST)
    sources, result = streamed(tmp_path, path, reference.source_names, 7,
                               dictionaries=dictionaries, residual_path=tmp_path / "res.wav",
                               **FAST)
    assert result.sample_rate == 16000 and sources.shape == reference.sources.shape
    np.testing.assert_allclose(sources, reference.sources, rtol=0, atol=1e-5)
    residual = read([tmp_path / "res.wav"])[0]
    np.testing.assert_allclose(sources.sum(axis=0) + residual, at_16k.samples, atol=1e-5)


def test_sources_add_up_to_the_mixture_at_every_sample(tmp_path):
    mixture = load(STEREO).samples
    sources, result = streamed(tmp_path, STEREO, ["a", "b", "c"], 5, n_sources=3,
                               stft_config=CONFIG, **FAST)
    assert result.separation.n_chunks > 50
    error = np.abs(sources.sum(axis=0) - mixture)
    assert error.max() < 1e-6
    seams = np.arange(5, result.separation.n_frames, 5) * CONFIG.hop_length - CONFIG.n_fft // 2
    assert error[:, seams[seams > 0]].max() < 1e-6


def test_progress_moves_with_the_chunks(tmp_path):
    calls = []
    streamed(tmp_path, MONO, ["a", "b"], 50, n_sources=2, stft_config=CONFIG, n_iter=5,
             progress=lambda done, total, stage: calls.append((done, total, stage)))
    stages = [c[2] for c in calls]
    assert stages[0] == "analysis" and "fit" in stages and stages[-1] == "synthesis"
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[-1] == calls[-1][1]


@pytest.mark.parametrize("fit", ["whole", "online"])
def test_a_failed_separation_leaves_no_file(tmp_path, fit):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(4000, dtype=np.float32), 8000, subtype="FLOAT")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(AudioFileError, match="silent"):
        separate_to_files(silent, [out / "a.wav", out / "b.wav"], n_sources=2,
                          stft_config=CONFIG, n_iter=5, fit=fit)
    assert os.listdir(out) == []


@pytest.mark.parametrize("channel_masks", ["spatial", "gains"])
def test_unsupervised_stereo_on_a_subset_of_frames_does_not_depend_on_the_chunks(
        tmp_path, channel_masks, monkeypatch):
    """Directions (spatial) or balances and gains fitted on STAT_FRAMES frames; spatial
    shares summed chunk by chunk: the same as the whole-signal separation."""
    monkeypatch.setattr(pipeline, "STAT_FRAMES", 40)
    kwargs = dict(n_sources=2, stft_config=CONFIG, channel_masks=channel_masks, **FAST)
    reference = separate(STEREO, **kwargs)
    sources, result = streamed(tmp_path, STEREO, reference.source_names, 9, **kwargs)
    np.testing.assert_allclose(sources, reference.sources, rtol=0, atol=1e-5)
    assert [g.tolist() for g in result.separation.groups] == \
        [g.tolist() for g in reference.groups]


def test_blind_default_stft_follows_the_rate_as_in_memory(tmp_path):
    reference = separate(MONO, n_sources=2, n_iter=20)
    sources, _ = streamed(tmp_path, MONO, reference.source_names, 11, n_sources=2, n_iter=20)
    np.testing.assert_allclose(sources, reference.sources, rtol=0, atol=1e-5)


@pytest.fixture
def small_batches(monkeypatch):
    """Online learning in batches of 128 frames, so that the fixtures give several."""
    monkeypatch.setattr(pipeline, "FIT_FRAMES", 128)


def test_online_fit_streams_adds_up_and_reports_its_passes(tmp_path, small_batches):
    mixture = load(STEREO).samples
    calls = []
    sources, result = streamed(tmp_path, STEREO, ["a", "b", "c"], 50, n_sources=3,
                               stft_config=CONFIG, fit="online", n_iter=20,
                               progress=lambda done, total, stage: calls.append((done, total, stage)))
    assert result.separation.fit == "online"
    assert np.abs(sources.sum(axis=0) - mixture).max() < 1e-6
    assert np.isfinite(sources).all() and np.abs(sources).max() > 0
    stages = [c[2] for c in calls]
    assert stages[0] == "learning" and "analysis" in stages and stages[-1] == "synthesis"
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[-1] == calls[-1][1]
    assert calls[-1][1] == 3 * result.separation.n_chunks


def test_online_fit_is_deterministic_and_does_not_depend_on_the_chunks(tmp_path, small_batches):
    a, _ = streamed(tmp_path, MONO, ["a", "b"], 50, tag="x", n_sources=2, stft_config=CONFIG,
                    fit="online", n_iter=20)
    b, _ = streamed(tmp_path, MONO, ["a", "b"], 50, tag="y", n_sources=2, stft_config=CONFIG,
                    fit="online", n_iter=20)
    c, _ = streamed(tmp_path, MONO, ["a", "b"], 7, n_sources=2, stft_config=CONFIG,
                    fit="online", n_iter=20)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(c, a, atol=1e-5)


def test_auto_learns_online_only_above_the_size(tmp_path, monkeypatch):
    from nmfaudio import chunked

    _, whole = streamed(tmp_path, MONO, ["a", "b"], 50, tag="w", n_sources=2,
                        stft_config=CONFIG, n_iter=5)
    assert whole.separation.fit == "whole"
    monkeypatch.setattr(chunked, "ONLINE_V_BYTES", 1000)  # V of the fixture is larger
    _, online = streamed(tmp_path, MONO, ["a", "b"], 50, tag="o", n_sources=2,
                         stft_config=CONFIG, n_iter=5)
    assert online.separation.fit == "online"


def test_fit_modes_are_checked(tmp_path, dictionaries):
    from nmfaudio.chunked import fit_mode
    from nmfaudio.errors import ParameterError

    with pytest.raises(ParameterError, match="fit must be one of"):
        separate_to_files(MONO, [tmp_path / "a.wav", tmp_path / "b.wav"], n_sources=2,
                          fit="fast")
    assert not any(tmp_path.iterdir())
    fixed = pipeline.separation_settings(dictionaries=dictionaries)
    assert fit_mode(fixed, 10**9, "online") == "blocks"  # every template is fixed already
    partly = pipeline.separation_settings(dictionaries=dictionaries, n_free=2)
    assert fit_mode(partly, 10**9) == "whole"
    with pytest.raises(ParameterError, match="online"):
        fit_mode(partly, 100, "online")
