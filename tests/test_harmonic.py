"""The harmonic/percussive grouping (nmfaudio.harmonic): masks, statistics, grouping."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nmfaudio import separate
from nmfaudio.errors import ParameterError
from nmfaudio.harmonic import (CONTEXT, MIN_CARRIED_SHARE, HarmonicPercussive, fused_masks,
                               harmonic_percussive_grouping, percussive_class_is_carried,
                               percussive_mask, percussive_mask_of_frames, share_statistics)
from nmfaudio.pipeline import separation_settings

RATE = 8000


def tone_and_clicks(seconds=3.0, *, tone=True, clicks=True):
    """A steady 3-partial tone (harmonic) plus short noise bursts (percussive), shape=(N,)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    x = np.zeros_like(t)
    if tone:
        x += sum(0.3 / k * np.sin(2 * np.pi * 220 * k * t) for k in (1, 2, 3))
    if clicks:
        burst = rng.standard_normal(80) * np.exp(-np.arange(80) / 15)
        for start in range(1000, len(t) - 100, 2000):
            x[start:start + 80] += burst
    return x.astype(np.float32)


def test_percussive_mask_is_librosa_hpss():
    import librosa

    V = np.random.default_rng(1).random((65, 90)).astype(np.float32)
    _, expected = librosa.decompose.hpss(V, mask=True, power=2.0)
    np.testing.assert_allclose(percussive_mask(V), expected, atol=1e-6)


def test_percussive_mask_silence_is_split_evenly():
    mask = percussive_mask(np.zeros((40, 50)))
    assert mask.dtype == np.float32 and np.all(mask == 0.5)
    with pytest.raises(ParameterError, match="shape"):
        percussive_mask(np.zeros(10))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 79), st.integers(1, 80))
def test_mask_of_frames_is_exact(start, length):
    """Frames with CONTEXT on each side are filtered as on the whole V."""
    V = np.random.default_rng(2).random((33, 80)).astype(np.float32)
    stop = min(80, start + length)
    whole = percussive_mask(V)
    V_part, part = percussive_mask_of_frames(lambda a, b: V[:, a:b], start, stop, 80)
    np.testing.assert_array_equal(part, whole[:, start:stop])
    np.testing.assert_array_equal(V_part, V[:, start:stop])
    assert CONTEXT == 15


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 59), st.integers(0, 2**31 - 1))
def test_statistics_add_over_blocks(K, cut, seed):
    rng = np.random.default_rng(seed)
    W, H = rng.random((20, K)), rng.random((K, 60))
    V = (W @ H) * rng.uniform(0.5, 1.5, (20, 60))
    perc = rng.random((20, 60))
    whole = share_statistics(W, H, V, perc)
    parts = (share_statistics(W, H[:, :cut], V[:, :cut], perc[:, :cut])
             + share_statistics(W, H[:, cut:], V[:, cut:], perc[:, cut:]))
    np.testing.assert_allclose(parts, whole, rtol=1e-4)
    # the components' parts of V add up to V; the percussive part is a fraction of it
    np.testing.assert_allclose(whole[0].sum(), V.sum(), rtol=1e-4)
    assert np.all(whole[1] <= whole[0] * (1 + 1e-5)) and np.all(whole[1] >= 0)
    # no percussive class (the register split): the same parts, a zero second row
    alone = share_statistics(W, H, V, None)
    np.testing.assert_array_equal(alone[0], whole[0])
    assert not alone[1].any()
    # the third row is each component's part of V squared, summed: its energy
    parts_of_v = np.einsum("fk,kt->kft", W, H) / (W @ H)[None] * V[None]
    np.testing.assert_allclose(whole[2], (parts_of_v ** 2).sum(axis=(1, 2)), rtol=1e-4)
    np.testing.assert_array_equal(alone[2], whole[2])


def test_the_group_split_next_is_the_one_with_the_most_energy():
    """Three sources from two classes: the class holding more *energy* is split, even
    when the other holds more of V's magnitude sum (a low floor over many bins)."""
    from nmfaudio.harmonic import harmonic_percussive_grouping

    F, n_fft = 257, 512
    W = np.zeros((F, 4))
    W[[10, 12], [0, 1]] = 1.0          # two harmonic components, low and higher
    W[[60, 200], [2, 3]] = 1.0         # two percussive ones, low and high
    whole = np.array([1.0, 1.0, 1.5, 1.5])
    perc = np.array([0.0, 0.0, 1.5, 1.5])  # the percussive class: more of V ...
    energy = np.array([4.0, 4.0, 1.0, 1.0])  # ... the harmonic one: more energy
    by_energy = harmonic_percussive_grouping(W, np.stack([whole, perc, energy]), 3,
                                             sample_rate=RATE, n_fft=n_fft)
    assert sorted(by_energy.classes.tolist()) == [0, 0, 1]  # the harmonic class split
    by_magnitude = harmonic_percussive_grouping(W, np.stack([whole, perc]), 3,
                                                sample_rate=RATE, n_fft=n_fft)
    assert sorted(by_magnitude.classes.tolist()) == [0, 1, 1]


def _grouping(stats, S, K=4, F=33):
    W = np.abs(np.random.default_rng(3).random((F, K))) + np.linspace(0, 1, F)[:, None] * np.arange(K)
    return harmonic_percussive_grouping(W, stats, S, sample_rate=RATE, n_fft=2 * (F - 1))


@pytest.mark.parametrize("S", [2, 3, 4])
def test_grouping_shares_every_component_out(S):
    whole = np.array([4.0, 3.0, 2.0, 1.0])
    stats = np.stack([whole, whole * np.array([0.9, 0.1, 0.8, 0.2])])
    hp = _grouping(stats, S)
    assert isinstance(hp, HarmonicPercussive)
    assert hp.weights.shape == (S, 4) and np.all(hp.weights >= 0)
    np.testing.assert_allclose(hp.weights.sum(axis=0), 1.0)
    assert set(hp.classes.tolist()) == {0, 1}
    np.testing.assert_allclose(hp.percussive_shares, [0.9, 0.1, 0.8, 0.2])
    assert hp.percussive_energy == pytest.approx((3.6 + 0.3 + 1.6 + 0.2) / 10)


@pytest.mark.parametrize("share", [0.0, 0.1, 0.9, 1.0])
def test_mixture_of_one_kind_is_not_split(share):
    """A drum loop (nearly all percussive) or a duet of pitched instruments: None."""
    whole = np.array([4.0, 3.0, 2.0, 1.0])
    assert _grouping(np.stack([whole, whole * share]), 2) is None
    assert _grouping(np.zeros((2, 4)), 2) is None  # silence


@pytest.mark.parametrize("carrier", [0.0, 0.5 * MIN_CARRIED_SHARE, 0.99 * MIN_CARRIED_SHARE])
def test_percussive_share_no_component_carries_is_not_split(carrier):
    """A third of V "percussive" but spread over harmonic components (a bow's noise,
    each component 0.3 percussive), with at most one small component mostly percussive
    under MIN_CARRIED_SHARE of V: no split, and the fallback sees a harmonic mixture.
    A little more in that component carries the class, and the split is made."""
    shares = np.array([0.3, 0.3, 0.3, 0.3, 0.9])

    def statistics(carried):  # K = 5: four harmonic components and one percussive
        whole = np.append(np.array([4.0, 3.0, 2.0, 1.0]) * (1 - carried), 10 * carried)
        return np.stack([whole, whole * shares])

    stats = statistics(carrier)
    assert stats[1].sum() >= 0.25 * stats[0].sum()  # enough percussive energy
    assert not percussive_class_is_carried(stats)
    assert _grouping(stats, 2, K=5) is None
    stats = statistics(1.01 * MIN_CARRIED_SHARE)
    assert percussive_class_is_carried(stats)
    hp = _grouping(stats, 2, K=5)
    assert hp is not None and hp.labels[-1] != hp.labels[0]


def test_grouping_rejects_bad_source_counts():
    whole = np.ones(4)
    for S in (1, 5, 2.0):
        with pytest.raises(ParameterError, match="n_sources"):
            _grouping(np.stack([whole, whole / 2]), S)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 4), st.integers(0, 2**31 - 1), st.sampled_from([1.0, 2.0, np.inf]))
def test_fused_masks_sum_to_one(S, seed, power):
    rng = np.random.default_rng(seed)
    K = 6
    W, H = rng.random((17, K)) * (rng.random((17, K)) < 0.7), rng.random((K, 30))
    H[:, :3] = 0  # silent frames: no model anywhere
    stats = np.stack([np.ones(K), rng.uniform(0, 1, K)])
    stats[1, :2] = [0.05, 0.95]
    hp = harmonic_percussive_grouping(W, stats, S, sample_rate=RATE, n_fft=32)
    if hp is None:
        return
    masks = fused_masks(W, H, hp, rng.random((17, 30)).astype(np.float32), power=power)
    assert masks.shape == (S, 17, 30) and masks.dtype == np.float32
    assert np.isfinite(masks).all() and masks.min() >= 0
    np.testing.assert_allclose(masks.sum(axis=0), 1.0, atol=1e-5)


def test_separate_puts_tone_and_clicks_apart():
    """End to end: one source takes the tone, the other the clicks, and they add up."""
    x = tone_and_clicks()
    sep = separate(x, sample_rate=RATE, n_sources=2)
    tone = tone_and_clicks(clicks=False)
    clicks = tone_and_clicks(tone=False)

    def sdr(ref, est):
        return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - est) ** 2))

    scores = [max(sdr(tone, s[0]), sdr(clicks, s[0])) for s in sep.sources]
    assert min(scores) > 6.0, scores
    assert {int(np.argmax([sdr(tone, s[0]), sdr(clicks, s[0])])) for s in sep.sources} == {0, 1}
    np.testing.assert_allclose(sep.sources.sum(axis=0)[0], x, atol=1e-4)
    assert sep.grouping == "harmonic-percussive"
    # "timbre" keeps the component clustering; both add up to the mixture
    other = separate(x, sample_rate=RATE, n_sources=2, grouping="timbre")
    assert other.grouping == "timbre" and not np.allclose(other.sources, sep.sources)
    np.testing.assert_allclose(other.sources.sum(axis=0)[0], x, atol=1e-4)


def test_a_tone_alone_is_split_by_register():
    """Under MIN_CLASS_SHARE of percussive energy: the classes are not sources, the
    components are split by register; grouping="timbre" still asks for the clustering."""
    x = tone_and_clicks(clicks=False) + 1e-3 * tone_and_clicks(tone=False)
    assert separate(x, sample_rate=RATE, n_sources=2).grouping == "register"
    assert separate(x, sample_rate=RATE, n_sources=2, grouping="timbre").grouping == "timbre"


def test_register_can_be_asked_for():
    """grouping="register": the register split even where "auto" finds both classes; an
    unknown grouping is refused, naming the option."""
    x = tone_and_clicks()
    assert separate(x, sample_rate=RATE, n_sources=2).grouping == "harmonic-percussive"
    sep = separate(x, sample_rate=RATE, n_sources=2, grouping="register")
    assert sep.grouping == "register"
    np.testing.assert_allclose(sep.sources.sum(axis=0)[0], x, atol=1e-4)
    with pytest.raises(ParameterError, match="grouping"):
        separate(x, sample_rate=RATE, n_sources=2, grouping="pitch")


def two_pitched_parts(seconds=4.0):
    """A low part (notes of 5 partials from 82 to 123 Hz, 0.5 s each) and a high one (3
    partials, 660 to 990 Hz, 0.375 s each), sounding together with their own rhythms:
    shape=(2, N) stems. (Notes much shorter than half the median filter's 31 frames,
    0.74 s at 8 kHz, would count as percussive, as a drum's hits do.)"""
    t = np.arange(int(seconds * RATE)) / RATE
    stems = np.zeros((2, t.size))
    for part, (notes, partials, length) in enumerate((((82.4, 110.0, 123.5), 5, 0.5),
                                                      ((660.0, 880.0, 990.0), 3, 0.375))):
        for i, start in enumerate(np.arange(0, seconds, length)):
            f0, on = notes[i % 3], (t >= start) & (t < start + length)
            decay = np.exp(-3 * (t - start)) * on
            stems[part] += decay * sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, partials + 1))
    return stems.astype(np.float32)


def test_two_pitched_parts_come_apart_by_register_low_to_high():
    """No percussive class, no drum kit: the bass-like part and the melody-like part
    are each a source (10.0 and 10.1 dB measured), the low one first, and the sources add
    up; the timbre clustering of the same NMF leaves the low one at -0.8 dB."""
    from nmfaudio.metrics import evaluate

    stems = two_pitched_parts()
    sep = separate(stems.sum(axis=0), sample_rate=RATE, n_sources=2, n_iter=100)
    assert sep.grouping == "register"
    sdr = evaluate(sep.sources, stems[:, None]).sdr  # in order: low part first
    timbre = separate(stems.sum(axis=0), sample_rate=RATE, n_sources=2, n_iter=100,
                      grouping="timbre")
    sdr_timbre = evaluate(timbre.sources, stems[:, None]).sdr
    assert sdr.min() > 4.0, sdr
    assert sdr.min() > sdr_timbre.min() + 3.0, (sdr, sdr_timbre)
    np.testing.assert_allclose(sep.sources.sum(axis=0)[0], stems.sum(axis=0), atol=1e-4)
    spectra = np.abs(np.fft.rfft(sep.sources[:, 0], axis=-1))
    low = spectra[:, : spectra.shape[1] * 300 // (RATE // 2)].sum(axis=1) / spectra.sum(axis=1)
    assert low[0] > 0.5 > low[1], low  # sources ordered from low to high


def test_register_grouping_splits_by_centroid_and_says_when_it_cannot():
    from nmfaudio.harmonic import register_grouping

    F, n_fft = 129, 256
    W = np.zeros((F, 4))
    for k, peak in enumerate((5, 8, 60, 90)):  # two low templates, two high ones
        W[peak, k] = 1.0
    labels = register_grouping(W, np.ones(4), 2, sample_rate=RATE, n_fft=n_fft)
    assert labels.tolist() == [0, 0, 1, 1]
    # four registers, three sources: every source gets a component, low to high
    assert sorted(set(register_grouping(W, np.ones(4), 3, sample_rate=RATE,
                                        n_fft=n_fft).tolist())) == [0, 1, 2]
    same = np.repeat(W[:, :1], 4, axis=1)  # one register only: no split exists
    assert register_grouping(same, np.ones(4), 2, sample_rate=RATE, n_fft=n_fft) is None
    assert register_grouping(W, np.zeros(4), 2, sample_rate=RATE, n_fft=n_fft) is None
    with pytest.raises(ParameterError, match="n_sources"):
        register_grouping(W, np.ones(4), 5, sample_rate=RATE, n_fft=n_fft)


def test_register_is_heard_on_a_log_scale_a_bright_bass_sits_under_the_chords():
    """A bass note whose partials fall off as 1/k (its linear spectral centroid about
    nine times its fundamental) lies below chord tones of three partials: the register
    is the log-frequency centroid, and the split puts the basses together."""
    from nmfaudio.harmonic import _registers, register_grouping

    n_fft = 4096
    freqs = np.arange(n_fft // 2 + 1) * RATE / n_fft

    def tone(f0, n_partials):
        w = np.zeros_like(freqs)
        for k in range(1, n_partials + 1):
            if k * f0 < RATE / 2:
                w[np.argmin(np.abs(freqs - k * f0))] += 1.0 / k
        return w

    basses = [tone(f0, 40) for f0 in (41.2, 49.0, 55.0)]  # E1, G1, A1
    chords = [tone(f0, 3) for f0 in (261.6, 329.6, 392.0)]  # C4, E4, G4
    W = np.stack(basses + chords, axis=1)
    linear = (freqs @ W) / W.sum(axis=0)
    assert linear[:3].max() > linear[3:].min()  # by the linear centroid they interleave
    labels = register_grouping(W, np.ones(6), 2, sample_rate=RATE, n_fft=n_fft)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    # an empty template gets the register of DC (finite), as a template of DC alone
    silent = np.zeros((len(freqs), 1))
    dc = np.zeros((len(freqs), 1))
    dc[0] = 1.0
    registers = _registers(np.hstack([W, silent, dc]), RATE, n_fft)[2]
    assert np.all(np.isfinite(registers)) and registers[6] == registers[7] == np.log2(20.0)
    assert np.all(registers[:6] > registers[6])


def test_clicks_alone_are_a_drum_kit():
    """Mostly percussive: nmfaudio.drums, not the harmonic/percussive split."""
    sep = separate(tone_and_clicks(tone=False) + 1e-3 * tone_and_clicks(clicks=False),
                   sample_rate=RATE, n_sources=2)
    assert sep.grouping == "drum-kit"


@pytest.mark.parametrize("channels, S, extra, grouping", [
    (1, 2, {}, "harmonic-percussive"), (1, 3, {}, "harmonic-percussive"),
    (2, 2, {}, "harmonic-percussive"), (2, 2, {"channel_masks": "shared"}, "harmonic-percussive"),
    (1, 2, {}, "register"), (1, 3, {"grouping": "register"}, "register")],
    ids=["mono", "mono-3-sources", "copied-stereo", "stereo-shared", "pitched-register",
         "forced-register"])
def test_streamed_equals_in_memory_and_reports_the_grouping(tmp_path, channels, S, extra, grouping):
    """The command line's streamed path: same sources (any chunk size), same grouping."""
    import soundfile as sf

    from nmfaudio.chunked import separate_to_files

    x = tone_and_clicks() if grouping != "register" or extra else two_pitched_parts().sum(axis=0)
    if channels == 2:  # the right channel a little quieter and delayed: not a copy
        x = np.stack([x, x]) if not extra else np.stack([x, 0.7 * np.roll(x, 3)])
    path = tmp_path / "mix.wav"
    sf.write(str(path), x.T, RATE, subtype="FLOAT")
    whole = separate(path, n_sources=S, n_iter=60, **extra)
    assert whole.grouping == grouping
    for chunk in (7, 64):
        outs = [tmp_path / f"{chunk}_{s}.wav" for s in range(S)]
        done = separate_to_files(path, outs, n_sources=S, n_iter=60, chunk_frames=chunk, **extra)
        assert done.separation.grouping == grouping
        assert [g.tolist() for g in done.separation.groups] == [g.tolist() for g in whole.groups]
        streamed = np.stack([sf.read(str(p), dtype="float32", always_2d=True)[0].T for p in outs])
        np.testing.assert_allclose(streamed, whole.sources, rtol=0, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 120), st.sampled_from([1, 3, 5, 31]),
       st.integers(0, 2**31 - 1), st.booleans())
def test_fast_median_filter_is_scipys(rows, n, kernel, seed, ties):
    """The numba sliding median equals scipy.ndimage.median_filter (reflected edges),
    with ties (silence, quantized values) and kernels longer than the signal."""
    from scipy.ndimage import median_filter

    from nmfaudio.harmonic import _median_filter

    rng = np.random.default_rng(seed)
    x = rng.random((rows, n)).astype(np.float32)
    if ties:
        x = np.round(x * 3).astype(np.float32)
    expected = median_filter(x, size=(1, kernel), mode="reflect")
    np.testing.assert_array_equal(_median_filter(x, kernel), expected)


def test_two_identical_channels_are_grouped_as_one():
    """A mono recording copied to both channels has no direction to cluster: the
    spatial model is skipped (it would split bins at random) and the stereo result is
    the mono one on each channel."""
    from nmfaudio.spatial import SpatialModel, distinct_directions

    x = tone_and_clicks()
    mono = separate(x, sample_rate=RATE, n_sources=2)
    stereo = separate(np.stack([x, x]), sample_rate=RATE, n_sources=2)
    assert stereo.grouping == "harmonic-percussive"
    for c in range(2):
        np.testing.assert_allclose(stereo.sources[:, c], mono.sources[:, 0], atol=1e-5)
    centre = np.full((2, 2), np.sqrt(0.5))
    assert not distinct_directions(SpatialModel(centre, np.ones(2), np.ones(2) / 2))
    panned = np.array([[np.cos(0.6), np.sin(0.6)], [np.cos(0.9), np.sin(0.9)]])
    assert distinct_directions(SpatialModel(panned, np.ones(2), np.ones(2) / 2))
    assert not distinct_directions(SpatialModel(panned[:1], np.ones(1), np.ones(1)))


def test_grouping_setting_is_checked():
    with pytest.raises(ParameterError, match="grouping"):
        separation_settings(n_sources=2, grouping="harmonic")
    assert separation_settings(n_sources=2).grouping == "auto"


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 8), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_no_source_is_left_empty(K, S, seed):
    """Every source gets a part of the energy, or the grouping declines (None) and the
    clustering decides; also when S is close to K or components are silent."""
    rng = np.random.default_rng(seed)
    whole = rng.uniform(0, 5, K) * (rng.random(K) < 0.8)
    stats = np.stack([whole, whole * rng.choice([0.0, 0.1, 0.9, 1.0, 0.5], K)])
    W = rng.random((17, K)) * (rng.random((17, K)) < 0.6)
    try:
        hp = harmonic_percussive_grouping(W, stats, S, sample_rate=RATE, n_fft=32)
    except ParameterError:
        assert S > K
        return
    if hp is not None:
        assert np.all(hp.weights @ whole > 0), hp.weights
        np.testing.assert_allclose(hp.weights.sum(axis=0), 1.0)


def test_percussive_mask_is_scale_free_and_refuses_nan():
    V = np.random.default_rng(4).random((40, 60)).astype(np.float32)
    for scale in (1e-21, 1e20):
        np.testing.assert_allclose(percussive_mask(V * np.float32(scale)), percussive_mask(V),
                                   atol=1e-6)
    V[3, 4] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        percussive_mask(V)
