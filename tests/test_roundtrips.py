"""Hypothesis round trips of the objects nmfaudio writes and reads: STFTConfig through
to_dict / from_dict (also through an .npz file, as dictionaries store it) and Dictionary
through save / load."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nmfaudio import Dictionary, STFTConfig

WINDOWS = st.sampled_from(["hann", "hamming", "blackman", ("kaiser", 8.0), ("tukey", 0.5)])


@st.composite
def stft_configs(draw):
    n_fft = draw(st.integers(min_value=16, max_value=4096))
    divisor = draw(st.sampled_from([2, 3, 4, 8]))
    hop = max(1, n_fft // divisor)
    return STFTConfig(n_fft=n_fft, hop_length=hop, window=draw(WINDOWS),
                      center=draw(st.booleans()))


@settings(max_examples=30, deadline=None)
@given(config=stft_configs())
def test_stft_config_round_trip(config):
    assert STFTConfig.from_dict(config.to_dict()) == config
    # through an .npz file, where every value comes back as a numpy array
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.npz"
        np.savez(path, **config.to_dict())
        with np.load(path) as data:
            loaded = STFTConfig.from_dict({key: data[key] for key in data.files})
    assert loaded == config and loaded.n_bins == config.n_bins


NAMES = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), max_codepoint=0x2FF),
                min_size=1, max_size=12)


@st.composite
def dictionaries(draw):
    config = STFTConfig(n_fft=draw(st.sampled_from([16, 32, 64])), hop_length=8)
    k = draw(st.integers(min_value=1, max_value=5))
    seed = draw(st.integers(min_value=0, max_value=2**16))
    templates = np.random.default_rng(seed).random((config.n_bins, k))
    # unit L2 columns (or an all-zero one), as learn_dictionary writes and load requires
    templates /= np.linalg.norm(templates, axis=0)
    templates[:, 0] *= draw(st.sampled_from([0.0, 1.0]))
    templates = templates.astype(np.float32)
    return Dictionary(
        name=draw(NAMES), templates=templates,
        sample_rate=draw(st.integers(min_value=1, max_value=192000)), stft=config,
        beta=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, "kl", "is"])),
        spectrogram_power=draw(st.sampled_from([0.5, 1.0, 2.0])),
        metadata=draw(st.dictionaries(st.sampled_from(["source", "note", "n_iter"]),
                                      st.one_of(st.integers(-5, 5), NAMES), max_size=3)),
    )


@settings(max_examples=25, deadline=None)
@given(dictionary=dictionaries())
def test_dictionary_save_load_round_trip(dictionary):
    with tempfile.TemporaryDirectory() as folder:
        path = dictionary.save(Path(folder) / "d.npz")
        loaded = Dictionary.load(path)
    assert np.array_equal(loaded.templates, dictionary.templates)
    assert loaded.templates.dtype == dictionary.templates.dtype
    assert (loaded.name, loaded.sample_rate, loaded.stft, loaded.beta,
            loaded.spectrogram_power) == (dictionary.name, dictionary.sample_rate,
                                          dictionary.stft, dictionary.beta,
                                          dictionary.spectrogram_power)
    assert loaded.metadata == dictionary.metadata
