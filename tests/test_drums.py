"""A mostly percussive mixture as a drum kit (nmfaudio.drums): templates, masks, pipeline."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nmfaudio import separate
from nmfaudio.drums import (HIGHEST_HZ, LOWEST_HZ, MIN_EXPLAINED, MIN_PERCUSSIVE_ENERGY,
                            drum_kit_masks, explains_as_well, fit_drum_kit, may_be_drum_kit,
                            percussive_energy, rank_one_divergence, register_templates,
                            template_frames)
from nmfaudio.factorization import nmf
from nmfaudio.errors import ParameterError
from nmfaudio.harmonic import percussive_mask, percussive_mask_of_frames
from nmfaudio.metrics import evaluate, match_sources

RATE = 22050


def synthetic_kit(seconds=4.0, *, rate=RATE):
    """Kick (a 55 Hz thump), snare (mid-band noise) and hi-hat (high noise), each hit
    decaying, on an eighth-note grid at 120 bpm; stems shape=(3, N)."""
    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    t = np.arange(int(0.25 * rate)) / rate
    kick = np.sin(2 * np.pi * (55 + 60 * np.exp(-t / 0.02)) * t) * np.exp(-t / 0.08)
    noise = rng.standard_normal((2, t.size))
    snare_noise = np.convolve(noise[0], np.hanning(9), "same")  # low-passed: mid band
    snare = 0.5 * (snare_noise - np.convolve(snare_noise, np.ones(40) / 40, "same")) * np.exp(-t / 0.06)
    hat = 0.3 * np.diff(noise[1], prepend=0.0) * np.exp(-t / 0.02)  # differenced: high band
    stems = np.zeros((3, n))
    step = int(0.25 * rate)  # eighth notes at 120 bpm
    for i, start in enumerate(range(0, n - t.size, step)):
        if i % 4 == 0:
            stems[0, start:start + t.size] += kick
        if i % 4 == 2:
            stems[1, start:start + t.size] += snare
        stems[2, start:start + t.size] += hat
    return (0.5 * stems / np.abs(stems.sum(0)).max()).astype(np.float32)


def test_register_templates_tile_the_register_low_to_high():
    W = register_templates(3, 5, sample_rate=44100, n_fft=2048)
    assert W.shape == (1025, 3, 5) and W.dtype == np.float32
    assert (W > 0).all()  # a multiplicative update never leaves a zero
    np.testing.assert_allclose(W.sum(axis=(0, 2)), 1.0, rtol=1e-5)
    freqs = np.arange(1025) * 44100 / 2048
    peaks = freqs[W[:, :, 0].argmax(axis=0)]
    assert LOWEST_HZ < peaks[0] < peaks[1] < peaks[2] < HIGHEST_HZ
    assert (np.diff(W[:, :, :], axis=2) < 0).all()  # every frame decays


def test_register_templates_check_their_arguments():
    with pytest.raises(ParameterError, match="n_sources"):
        register_templates(0, 5, sample_rate=44100, n_fft=2048)
    with pytest.raises(ParameterError, match="n_frames"):
        register_templates(2, 0, sample_rate=44100, n_fft=2048)
    with pytest.raises(ParameterError, match="no register"):
        register_templates(2, 3, sample_rate=60, n_fft=16)


def test_template_frames_is_the_template_length():
    assert template_frames(44100, 512) == 17  # 0.2 s
    assert template_frames(8000, 4000) == 1


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 79), st.integers(0, 2**31 - 1))
def test_percussive_energy_adds_over_blocks(cut, seed):
    V = np.random.default_rng(seed).random((17, 80)).astype(np.float32)
    whole = percussive_energy(V, percussive_mask(V))
    parts = [percussive_energy(*percussive_mask_of_frames(lambda a, b: V[:, a:b], a, b, 80))
             for a, b in ((0, cut), (cut, 80))]
    np.testing.assert_allclose(np.sum(parts, axis=0), whole, rtol=1e-6)


def test_may_be_drum_kit_is_the_threshold():
    assert may_be_drum_kit((MIN_PERCUSSIVE_ENERGY, 1.0), sample_rate=RATE)
    assert not may_be_drum_kit((0.99 * MIN_PERCUSSIVE_ENERGY, 1.0), sample_rate=RATE)
    assert not may_be_drum_kit((0.0, 0.0), sample_rate=RATE)  # silence is no drum kit
    # no register above LOWEST_HZ for the bands: no drum kit, whatever the share
    assert not may_be_drum_kit((1.0, 1.0), sample_rate=int(2 * LOWEST_HZ))
    assert may_be_drum_kit((1.0, 1.0), sample_rate=int(2 * LOWEST_HZ) + 2)


def test_stationary_noise_is_under_the_threshold():
    """White noise is half percussive by the median filters: the margin keeps it out."""
    x = np.random.default_rng(3).standard_normal(3 * RATE).astype(np.float32)
    V, _ = _spectrogram(x)
    percussive, whole = percussive_energy(V, percussive_mask(V))
    assert abs(percussive / whole - 0.5) < 0.02
    assert not may_be_drum_kit((percussive, whole), sample_rate=RATE)


@pytest.mark.parametrize("rate", [40, 80])
def test_a_rate_too_low_for_a_kit_is_separated_without_one(rate):
    """A percussive recording at a rate that leaves no register above 40 Hz."""
    rng = np.random.default_rng(0)
    x = np.zeros(8 * rate, dtype=np.float32)
    x[::rate // 4] = rng.standard_normal(x[::rate // 4].size)  # clicks
    sep = separate(x, sample_rate=rate, n_sources=2, n_iter=20)
    assert sep.grouping != "drum-kit"
    np.testing.assert_allclose(sep.sources.sum(axis=0)[0], x, atol=1e-4)


def _spectrogram(x, rate=RATE):
    from nmfaudio.pipeline import blind_stft
    from nmfaudio.spectral import spectrogram, stft

    config = blind_stft(rate)  # the V a blind separation factorizes
    return spectrogram(stft(np.atleast_2d(x), config)), config


def test_a_kit_is_explained_as_well_and_a_tone_over_it_is_not():
    """The loss test: 3 drum templates explain a drum pattern about as well as 16 free
    spectra; a melody of steady tones over the same drums they do not."""
    stems = synthetic_kit()
    t = np.arange(stems.shape[1]) / RATE
    notes = 220 * 2 ** (np.floor(t * 2) % 5 / 12)  # a new note every half second
    melody = sum(0.3 / k * np.sin(2 * np.pi * k * np.cumsum(notes) / RATE) for k in (1, 2, 3))
    for x, expected in ((stems.sum(0), True), (stems.sum(0) + 0.5 * melody, False)):
        V, config = _spectrogram(x.astype(np.float32))
        kit = fit_drum_kit(V, 3, sample_rate=RATE, n_fft=config.n_fft,
                           hop_length=config.hop_length, tol=1e-3, seed=0)
        free = nmf(V, 16, init="nndsvda", tol=1e-3, seed=0)
        rank_one = rank_one_divergence(V, 1.0)
        share = (1 - kit.final_loss / rank_one) / (1 - free.final_loss / rank_one)
        assert explains_as_well(kit, free, rank_one) is expected, share
        assert (share >= MIN_EXPLAINED) is expected


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_rank_one_divergence_by_blocks_is_that_of_the_whole(beta):
    from nmfaudio.factorization import beta_divergence

    V = np.random.default_rng(2).random((9, 50)) + 0.1
    model = np.outer(V.sum(1), V.sum(0)) / V.sum()
    whole = beta_divergence(V, model, beta)
    np.testing.assert_allclose(rank_one_divergence(V, beta, block=7), whole, rtol=1e-10)
    assert rank_one_divergence(np.outer(V[:, 0], V[0]), beta) == pytest.approx(0.0, abs=1e-9)
    assert rank_one_divergence(np.zeros((3, 4)), beta) == 0.0


def test_an_nmf_that_explains_nothing_is_no_yardstick():
    """With the NMF worse than the rank-one model, a share of its (negative) explained
    part would let a worse drum kit pass."""
    from types import SimpleNamespace

    kit = SimpleNamespace(final_loss=10.0, beta=1.0)
    free = SimpleNamespace(final_loss=500.0, beta=1.0)
    assert not explains_as_well(kit, free, 100.0)
    assert explains_as_well(SimpleNamespace(final_loss=30.0, beta=1.0),
                            SimpleNamespace(final_loss=20.0, beta=1.0), 100.0)
    assert not explains_as_well(kit, free, 0.0)


def test_losses_of_different_divergences_do_not_compare():
    V, config = _spectrogram(synthetic_kit(1.0).sum(0))
    kit = fit_drum_kit(V, 2, sample_rate=RATE, n_fft=config.n_fft,
                       hop_length=config.hop_length, n_iter=5, seed=0)
    with pytest.raises(ParameterError, match="divergences"):
        explains_as_well(kit, nmf(V, 4, beta=2, n_iter=5, seed=0), 1.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(0, 59), st.integers(1, 60),
       st.sampled_from([1.0, 2.0]), st.integers(0, 2**31 - 1))
def test_masks_of_frames_equal_those_of_the_whole_and_sum_to_one(S, L, start, length, power,
                                                                  seed):
    rng = np.random.default_rng(seed)
    W = rng.random((9, S, L)).astype(np.float32)
    H = (rng.random((S, 60)) * (rng.random((S, 60)) < 0.3)).astype(np.float32)
    stop = min(60, start + length)
    whole = drum_kit_masks(W, lambda a, b: H[:, a:b], 0, 60, power=power)
    part = drum_kit_masks(W, lambda a, b: H[:, a:b], start, stop, power=power)
    np.testing.assert_allclose(part, whole[:, :, start:stop], atol=1e-6)
    assert np.isfinite(whole).all()
    np.testing.assert_allclose(whole.sum(axis=0), 1.0, atol=1e-5)


def test_fit_is_seeded_and_leaves_v_alone():
    V = np.abs(np.random.default_rng(1).standard_normal((65, 90))).astype(np.float32)
    before = V.copy()
    a = fit_drum_kit(V, 3, sample_rate=8000, n_fft=128, hop_length=32, n_iter=20, seed=5)
    b = fit_drum_kit(V, 3, sample_rate=8000, n_fft=128, hop_length=32, n_iter=20, seed=5)
    np.testing.assert_array_equal(a.templates, b.templates)
    np.testing.assert_array_equal(a.activations, b.activations)
    np.testing.assert_array_equal(V, before)
    assert a.templates.shape == (65, 3, template_frames(8000, 32))


def test_a_synthetic_kit_comes_apart_low_to_high():
    stems = synthetic_kit()
    mix = stems.sum(axis=0)
    sep = separate(mix, sample_rate=RATE, n_sources=3)
    assert sep.grouping == "drum-kit"
    assert sep.nmf.templates.shape[1:] == (3, template_frames(RATE, sep.stft.hop_length))
    assert [g.tolist() for g in sep.groups] == [[0], [1], [2]]
    np.testing.assert_allclose(sep.sources.sum(axis=0)[0], mix, atol=1e-4)
    order = match_sources(sep.sources, stems[:, None])
    assert order.tolist() == [0, 1, 2]  # kick, snare, hi-hat: low to high
    ev = evaluate(sep.sources[order], stems[:, None], names=["kick", "snare", "hat"],
                  mixture=mix[None])
    assert float(np.min(ev.sdr)) > 8.0, ev.table()
    # the timbre clustering, for scale: the drum kit must do better on its worst source
    other = separate(mix, sample_rate=RATE, n_sources=3, grouping="timbre")
    ev_other = evaluate(other.sources[match_sources(other.sources, stems[:, None])],
                        stems[:, None], names=["kick", "snare", "hat"], mixture=mix[None])
    assert float(np.min(ev.sdr)) > float(np.min(ev_other.sdr)), (ev.table(), ev_other.table())


def test_component_signals_and_plot_take_the_convolutive_fit():
    import matplotlib

    matplotlib.use("Agg")
    from nmfaudio.plot import plot_separation

    mix = synthetic_kit(2.0).sum(axis=0)
    sep = separate(mix, sample_rate=RATE, n_sources=3, n_iter=30)
    components = sep.component_signals()
    assert components.shape == (3, 1, mix.size)
    np.testing.assert_allclose(components.sum(axis=0)[0], mix, atol=1e-4)
    fig = plot_separation(sep)
    assert "NMFD" in fig._suptitle.get_text()


@pytest.mark.parametrize("chunk", [7, 64])
def test_streamed_equals_in_memory(tmp_path, chunk):
    """7 s: the percussive share and statistics are summed over many chunks, and over
    more than one at the default chunk size."""
    import soundfile as sf

    from nmfaudio.chunked import separate_to_files
    from nmfaudio.streaming import DEFAULT_CHUNK_FRAMES

    path = tmp_path / "kit.wav"
    x = synthetic_kit(7.0).sum(axis=0)
    assert x.size / 256 > DEFAULT_CHUNK_FRAMES  # hop 256 at 22.05 kHz
    sf.write(str(path), x, RATE, subtype="FLOAT")
    whole = separate(path, n_sources=3, n_iter=40)
    outs = [tmp_path / f"{s}.wav" for s in range(3)]
    stages = []
    done = separate_to_files(path, outs, n_sources=3, n_iter=40, chunk_frames=chunk,
                             progress=lambda done, total, stage: stages.append(stage))
    assert done.separation.grouping == whole.grouping == "drum-kit"
    # a progress bar says why the fit takes longer
    assert stages.index("fit") < stages.index("drum kit") < stages.index("synthesis")
    streamed = np.stack([sf.read(str(p), dtype="float32", always_2d=True)[0].T for p in outs])
    np.testing.assert_allclose(streamed, whole.sources, rtol=0, atol=1e-5)


def test_command_line_says_drum_kit(tmp_path):
    import json

    import soundfile as sf
    from click.testing import CliRunner

    from nmfaudio.cli import cli

    path = tmp_path / "kit.wav"
    sf.write(str(path), synthetic_kit(2.0).sum(axis=0), RATE)
    said = CliRunner().invoke(cli, ["separate", str(path), "--sources", "3", "-n", "20",
                                     "-o", str(tmp_path / "a")])
    assert said.exit_code == 0, said.output
    assert "grouped as a drum kit by register" in said.output
    said = CliRunner().invoke(cli, ["separate", str(path), "--sources", "3", "-n", "20",
                                     "-o", str(tmp_path / "b"), "--json"])
    assert json.loads(said.output)["files"][0]["grouping"] == "drum-kit"
