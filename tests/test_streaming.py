"""Tests of nmfaudio.streaming (chunked STFT, overlap-add) and block file I/O in audio."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from nmfaudio.audio import Audio, AudioReader, AudioWriter, open_source
from nmfaudio.errors import AudioFileError, ParameterError
from nmfaudio.spectral import STFTConfig, istft, stft
from nmfaudio.streaming import OverlapAdd, chunk_ranges, n_frames, stft_chunks, stft_frames

CONFIGS = [
    STFTConfig(n_fft=256, hop_length=64),
    STFTConfig(n_fft=200, hop_length=60),                     # n_fft not a multiple of hop
    STFTConfig(n_fft=255, hop_length=100, center=False),      # odd, uncentred
    STFTConfig(n_fft=128, hop_length=64, window=("kaiser", 8.0)),
]


def noise(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def chunked_stft(audio, config, chunk):
    return np.concatenate([X for _, _, X in stft_chunks(audio, config, chunk_frames=chunk)], axis=-1)


def chunked_istft(X, config, length, chunk):
    ola = OverlapAdd(config, n_frames=X.shape[-1], length=length, shape=X.shape[:-2])
    blocks = [ola.push(X[..., a:b]) for a, b in chunk_ranges(X.shape[-1], chunk)]
    blocks.append(ola.finish())
    return np.concatenate(blocks, axis=-1), blocks


@settings(max_examples=30, deadline=None)
@given(config=st.sampled_from(CONFIGS), extra=st.integers(0, 3000),
       chunk=st.integers(1, 40), channels=st.integers(1, 2))
def test_chunked_stft_equals_whole_stft(config, extra, chunk, channels):
    n = config.n_fft + extra
    audio = Audio(noise((channels, n), seed=extra), 8000)
    X = stft(audio.samples, config)
    assert X.shape[-1] == n_frames(n, config)
    np.testing.assert_allclose(chunked_stft(audio, config, chunk), X, rtol=0,
                               atol=1e-6 * np.abs(X).max())


@settings(max_examples=30, deadline=None)
@given(config=st.sampled_from(CONFIGS), extra=st.integers(0, 3000),
       chunk=st.integers(1, 40), shape=st.sampled_from([(1,), (2,), (3, 2)]))
def test_overlap_add_equals_librosa_istft(config, extra, chunk, shape):
    n = config.n_fft + extra
    rng = np.random.default_rng(extra)
    T = n_frames(n, config)
    X = (rng.standard_normal(shape + (config.n_bins, T))
         + 1j * rng.standard_normal(shape + (config.n_bins, T))).astype(np.complex64)
    y, _ = chunked_istft(X, config, n, chunk)
    expected = istft(X, config, length=n)
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=0, atol=2e-5 * np.abs(expected).max())


def test_round_trip_returns_the_signal_exactly_at_the_seams():
    config = STFTConfig(n_fft=512, hop_length=128)
    x = noise((2, 10_001))
    X = stft(x, config)
    y, blocks = chunked_istft(X, config, x.shape[-1], 7)
    assert len(blocks) > 10
    np.testing.assert_allclose(y, x, rtol=0, atol=2e-6)


def test_blocks_come_out_as_chunks_go_in():
    config = STFTConfig(n_fft=512, hop_length=128)
    n = 20_000
    X = stft(noise((1, n)), config)
    ola = OverlapAdd(config, n_frames=X.shape[-1], length=n, shape=(1,))
    sizes = [ola.push(X[..., a:b]).shape[-1] for a, b in chunk_ranges(X.shape[-1], 10)]
    # every chunk of 10 frames but the first completes 10 hops; the first loses the padding
    assert sizes[0] == 10 * 128 - 256 and set(sizes[1:-1]) == {10 * 128}
    assert sum(sizes) + ola.finish().shape[-1] == n


def test_sum_of_masked_sources_is_the_mixture_across_seams():
    """Masks summing to 1, applied chunk by chunk: the sources add up to the mixture."""
    config = STFTConfig(n_fft=256, hop_length=64)
    audio = Audio(noise((2, 9_999)), 8000)
    T = n_frames(audio.n_samples, config)
    rng = np.random.default_rng(1)
    ola = OverlapAdd(config, n_frames=T, length=audio.n_samples, shape=(3, 2))
    out = []
    for t0, t1, X in stft_chunks(audio, config, chunk_frames=13):
        masks = rng.random((3, config.n_bins, t1 - t0)).astype(np.float32) ** 4
        masks /= masks.sum(axis=0)
        out.append(ola.push(masks[:, None] * X[None]))
    out.append(ola.finish())
    sources = np.concatenate(out, axis=-1)
    error = np.abs(sources.sum(axis=0) - audio.samples)
    assert error.max() < 5e-6
    seams = np.arange(13, T, 13) * 64  # sample at the start of each chunk's first frame
    assert error[:, seams].max() <= error.max()


def wav(tmp_path, samples, rate=8000, name="x.wav", subtype="FLOAT"):
    path = tmp_path / name
    sf.write(path, np.asarray(samples).T, rate, subtype=subtype)
    return path


@pytest.mark.parametrize("extra", [0, 1, 63, 64, 65, 64 * 5 - 1])
def test_file_not_a_multiple_of_the_chunk_and_a_one_frame_last_chunk(tmp_path, extra):
    config = STFTConfig(n_fft=256, hop_length=64)
    chunk = 5
    # T = 1 + n // hop: these lengths give T = 5 m + 1 (a last chunk of one frame) and others
    n = 64 * (5 * 8) + extra
    x = noise((2, n), seed=extra)
    reader = AudioReader(wav(tmp_path, x))
    assert (reader.n_channels, reader.n_samples, reader.sample_rate) == (2, n, 8000)
    T = n_frames(n, config)
    ranges = chunk_ranges(T, chunk)
    assert ranges[-1][1] == T and sum(b - a for a, b in ranges) == T
    X = chunked_stft(reader, config, chunk)
    np.testing.assert_allclose(X, stft(x, config), rtol=0, atol=1e-6 * np.abs(X).max())
    y, _ = chunked_istft(X, config, n, chunk)
    np.testing.assert_allclose(y, x, rtol=0, atol=2e-6)
    if extra in (0, 1, 63):
        assert ranges[-1][1] - ranges[-1][0] == 1


def test_stft_frames_of_any_range():
    config = STFTConfig(n_fft=256, hop_length=64)
    audio = Audio(noise((1, 3000)), 8000)
    X = stft(audio.samples, config)
    for t0, t1 in [(0, 1), (3, 4), (10, 20), (X.shape[-1] - 1, X.shape[-1])]:
        np.testing.assert_allclose(stft_frames(audio, config, t0, t1), X[..., t0:t1],
                                   rtol=0, atol=1e-6 * np.abs(X).max())


def test_overlap_add_checks_its_input():
    config = STFTConfig(n_fft=256, hop_length=64)
    ola = OverlapAdd(config, n_frames=4, length=200, shape=(1,))
    with pytest.raises(ParameterError, match="expected"):
        ola.push(np.zeros((2, 129, 2), dtype=np.complex64))
    with pytest.raises(ParameterError, match="push them all"):
        ola.finish()
    with pytest.raises(ParameterError, match="more than n_frames"):
        ola.push(np.zeros((1, 129, 5), dtype=np.complex64))
    with pytest.raises(ParameterError, match="positive integer"):
        chunk_ranges(10, 0)


def test_reader_pads_with_zeros_and_reports_nan(tmp_path):
    x = noise((1, 1000))
    reader = AudioReader(wav(tmp_path, x))
    block = reader.read(-10, 20)
    assert block.shape == (1, 30) and not block[:, :10].any()
    np.testing.assert_array_equal(block[:, 10:], x[:, :20])
    assert not reader.read(995, 1010)[:, 5:].any()
    x[0, 700] = np.nan
    bad = AudioReader(wav(tmp_path, x, name="nan.wav"))
    with pytest.raises(AudioFileError, match="sample 700"):
        bad.read(600, 800)
    with pytest.raises(AudioFileError, match="does not exist"):
        AudioReader(tmp_path / "missing.wav")


def test_open_source_decodes_other_formats_into_memory(tmp_path):
    path = wav(tmp_path, noise((1, 1000)))
    assert isinstance(open_source(path), AudioReader)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(AudioFileError, match="junk.wav"):
        open_source(junk)


def test_writer_is_atomic_and_counts_clipping(tmp_path):
    path = tmp_path / "out.wav"
    writer = AudioWriter(path, n_channels=2, sample_rate=8000, subtype="PCM_16")
    writer.write(np.full((2, 100), 0.5, dtype=np.float32))
    writer.write(np.full((2, 10), 1.5, dtype=np.float32))
    assert not path.exists() and len(os.listdir(tmp_path)) == 1  # only the hidden temporary
    report = writer.close()
    assert report.n_clipped == 20 and report.peak == pytest.approx(1.5)
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    assert data.shape == (110, 2) and rate == 8000 and data.max() <= 1.0

    aborted = tmp_path / "aborted.wav"
    with pytest.raises(RuntimeError):
        with AudioWriter(aborted, n_channels=1, sample_rate=8000) as writer:
            writer.write(np.zeros((1, 10), dtype=np.float32))
            raise RuntimeError("interrupted")
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]
    with pytest.raises(AudioFileError, match="already exists"):
        AudioWriter(path, n_channels=1, sample_rate=8000)
