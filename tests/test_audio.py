"""Tests of nmfaudio.audio: Audio, load, save, check_samples, resample."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from nmfaudio import audio as audio_mod
from nmfaudio.audio import Audio, SaveReport, check_samples, load, resample, round_together, save
from nmfaudio.errors import AudioFileError, NMFAudioError, ParameterError

# A 16-bit round trip is off by at most 1.5 steps of 2**-15 (libsndfile 1.2 rounds a float
# down to the step below when writing and reads back n / 32768; exact for n / 32768).
PCM16_ATOL = 1.5 / 2**15 + 1e-7
PCM24_ATOL = 1.5 / 2**23 + 1e-9


def tone(n_channels=2, n_samples=4000, sample_rate=8000, peak=0.5, seed=0):
    """A (C, N) float32 test signal: a different sine per channel plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate
    rows = [np.sin(2 * np.pi * (220 * (c + 1)) * t) for c in range(n_channels)]
    x = np.array(rows) + 0.05 * rng.standard_normal((n_channels, n_samples))
    return (peak * x / np.abs(x).max()).astype(np.float32)


def folder_listing(path):
    return sorted(os.listdir(path))


# --------------------------------------------------------------------------- Audio


def test_audio_copies_makes_read_only_and_reports_properties():
    x = tone(2, 8000)
    audio = Audio(x, 8000, path="x.wav")
    assert audio.samples.shape == (2, 8000) and audio.samples.dtype == np.float32
    assert audio.n_channels == 2 and audio.n_samples == 8000 and audio.duration == 1.0
    assert not audio.samples.flags.writeable
    assert x.flags.writeable, "the caller's array must stay writable"
    x[0, 0] = 99.0
    assert audio.samples[0, 0] != 99.0, "Audio must hold its own copy"
    with pytest.raises(ValueError):
        audio.samples[0, 0] = 1.0
    with pytest.raises(AttributeError):
        audio.sample_rate = 16000  # frozen
    assert "n_channels=2" in repr(audio) and "x.wav" in repr(audio)


def test_audio_mono_vector_and_float64_become_c_n_float32():
    audio = Audio(np.linspace(-1, 1, 100), 16000.0)
    assert audio.samples.shape == (1, 100) and audio.samples.dtype == np.float32
    assert audio.sample_rate == 16000 and isinstance(audio.sample_rate, int)


@pytest.mark.parametrize("rate", [0, -8000, 8000.5, "8000", None, True])
def test_audio_rejects_bad_sample_rate(rate):
    with pytest.raises(ParameterError, match="sample_rate"):
        Audio(tone(1, 100), rate)


# --------------------------------------------------------------------------- check_samples


def test_check_samples_returns_c_n_float32_without_touching_input():
    x = np.linspace(-1, 1, 50)  # float64, 1-D
    before = x.copy()
    out = check_samples(x)
    assert out.shape == (1, 50) and out.dtype == np.float32
    np.testing.assert_array_equal(x, before)
    y = tone(2, 100)
    assert check_samples(y) is y  # already valid: no copy


@pytest.mark.parametrize(
    "samples, match",
    [
        (np.zeros((2, 0), np.float32), "empty"),
        (np.zeros(0), "empty"),
        (np.zeros((1, 2, 3)), r"shape \(N,\) or \(C, N\)"),
        (np.float32(1.0), r"shape \(N,\) or \(C, N\)"),
        (np.array([0.0, np.nan, 0.1]), "NaN or infinite"),
        (np.array([[0.0, 0.1], [np.inf, 0.0]]), "channel 1, sample 0"),
        (np.array([1e39, 0.0]), "float32 range"),
        (np.zeros(10, dtype=np.int16), "floating-point"),
        (np.zeros(10, dtype=np.complex64), "floating-point"),
        (np.zeros((1000, 2)), "transposed"),
    ],
)
def test_check_samples_rejects(samples, match):
    with pytest.raises(ParameterError, match=match):
        check_samples(samples, source="mixture")


def test_check_samples_names_the_source():
    with pytest.raises(ParameterError, match="^mixture"):
        check_samples(np.array([np.nan]), source="mixture")


# --------------------------------------------------------------------------- save / load


@pytest.mark.parametrize(
    "subtype, atol", [("PCM_16", PCM16_ATOL), ("PCM_24", PCM24_ATOL), ("FLOAT", 0.0)]
)
def test_save_load_round_trip(tmp_path, subtype, atol):
    x = tone(2, 5001, 22050, peak=0.9)
    path = tmp_path / "stereo.wav"
    report = save(path, x, 22050, subtype=subtype)
    assert isinstance(report, SaveReport)
    assert report.path == str(path) and report.gain == 1.0 and report.n_clipped == 0
    assert report.peak == pytest.approx(0.9, rel=1e-6)
    assert sf.info(str(path)).subtype == subtype

    audio = load(path)
    assert audio.sample_rate == 22050
    assert audio.samples.shape == (2, 5001) and audio.samples.dtype == np.float32
    assert audio.path == str(path)
    np.testing.assert_allclose(audio.samples, x, rtol=0, atol=atol)


def test_save_mono_vector_and_flac(tmp_path):
    x = tone(1, 3000)[0]
    save(tmp_path / "mono.flac", x, 8000)
    audio = load(tmp_path / "mono.flac")
    assert audio.samples.shape == (1, 3000) and audio.sample_rate == 8000
    np.testing.assert_allclose(audio.samples[0], x, atol=PCM16_ATOL)


def test_save_does_not_modify_callers_array(tmp_path):
    x = 3 * tone(2, 1000)
    before = x.copy()
    save(tmp_path / "a.wav", x, 8000, on_clip="scale")
    save(tmp_path / "b.wav", x, 8000, on_clip="clip")
    np.testing.assert_array_equal(x, before)


def test_on_clip_scale_divides_by_the_peak_and_reports_the_gain(tmp_path):
    x = tone(2, 2000, peak=2.0)
    report = save(tmp_path / "loud.wav", x, 8000, on_clip="scale")
    assert report.peak == pytest.approx(2.0) and report.gain == pytest.approx(0.5)
    assert report.n_clipped == 0
    written = load(tmp_path / "loud.wav").samples
    np.testing.assert_allclose(written, x / 2.0, atol=PCM16_ATOL)


def test_on_clip_clip_counts_clipped_samples(tmp_path):
    x = np.array([[0.5, 1.5, -2.0, 1.0, -0.25]], dtype=np.float32)
    report = save(tmp_path / "c.wav", x, 8000, on_clip="clip")
    assert report.n_clipped == 2 and report.gain == 1.0 and report.peak == 2.0
    written = load(tmp_path / "c.wav").samples
    np.testing.assert_allclose(written, np.clip(x, -1, 1), atol=PCM16_ATOL)


def test_on_clip_error_raises_and_writes_nothing(tmp_path):
    x = tone(1, 1000, peak=1.01)
    with pytest.raises(ParameterError, match="on_clip"):
        save(tmp_path / "e.wav", x, 8000, on_clip="error")
    assert folder_listing(tmp_path) == []


def test_full_scale_is_not_clipping(tmp_path):
    x = np.array([1.0, -1.0, 0.0], dtype=np.float32)
    report = save(tmp_path / "f.wav", x, 8000, on_clip="error")
    assert report.gain == 1.0 and report.n_clipped == 0


def test_float_subtype_keeps_values_beyond_full_scale(tmp_path):
    x = tone(2, 1000, peak=3.0)
    report = save(tmp_path / "f.wav", x, 8000, subtype="FLOAT", on_clip="error")
    assert report.gain == 1.0 and report.n_clipped == 0 and report.peak == pytest.approx(3.0)
    np.testing.assert_array_equal(load(tmp_path / "f.wav").samples, x)


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "out.wav"
    save(path, tone(1, 1000, peak=0.5), 8000)
    original = path.read_bytes()
    with pytest.raises(AudioFileError, match="out.wav.*overwrite=True"):
        save(path, tone(1, 1000, peak=0.1), 8000)
    assert path.read_bytes() == original
    assert folder_listing(tmp_path) == ["out.wav"]

    save(path, tone(1, 500, peak=0.1), 8000, overwrite=True)
    assert load(path).n_samples == 500
    assert folder_listing(tmp_path) == ["out.wav"]


def test_save_leaves_no_temporary_file_when_writing_fails(tmp_path, monkeypatch):
    class Exploding(sf.SoundFile):
        def write(self, data):
            raise sf.LibsndfileError(0, "simulated failure after the header: ")

    monkeypatch.setattr(audio_mod.sf, "SoundFile", Exploding)
    with pytest.raises(AudioFileError, match="half.wav"):
        save(tmp_path / "half.wav", tone(2, 1000), 8000)
    assert folder_listing(tmp_path) == []


def test_interrupted_save_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "keep.wav"
    save(path, tone(1, 1000), 8000)
    original = path.read_bytes()

    class Interrupted(sf.SoundFile):
        def write(self, data):
            super().write(data[: len(data) // 2])
            raise KeyboardInterrupt

    monkeypatch.setattr(audio_mod.sf, "SoundFile", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(path, tone(1, 1000, seed=1), 8000, overwrite=True)
    assert path.read_bytes() == original
    assert folder_listing(tmp_path) == ["keep.wav"]


def test_save_writes_through_a_hidden_temporary_then_renames(tmp_path, monkeypatch):
    seen = []
    real_replace, real_link = os.replace, os.link

    def spy_replace(src, dst):
        seen.append((os.path.basename(src), os.path.basename(dst)))
        return real_replace(src, dst)

    def spy_link(src, dst):
        seen.append((os.path.basename(src), os.path.basename(dst)))
        return real_link(src, dst)

    monkeypatch.setattr(audio_mod.os, "replace", spy_replace)
    monkeypatch.setattr(audio_mod.os, "link", spy_link)
    save(tmp_path / "x.wav", tone(1, 100), 8000)
    save(tmp_path / "x.wav", tone(1, 100), 8000, overwrite=True)
    assert len(seen) == 2
    for src, dst in seen:
        assert dst == "x.wav" and src.startswith(".x.wav.tmp-")
    assert folder_listing(tmp_path) == ["x.wav"]


def test_saved_file_gets_the_usual_permissions(tmp_path):
    if sys.platform == "win32":
        pytest.skip("POSIX permissions")
    umask = os.umask(0o022)
    try:
        save(tmp_path / "p.wav", tone(1, 100), 8000)
    finally:
        os.umask(umask)
    assert (tmp_path / "p.wav").stat().st_mode & 0o777 == 0o644


def test_save_into_missing_folder_names_the_folder(tmp_path):
    with pytest.raises(AudioFileError, match="no_such_dir.*does not exist.*create it"):
        save(tmp_path / "no_such_dir" / "x.wav", tone(1, 100), 8000)


def test_save_onto_a_directory_is_refused(tmp_path):
    (tmp_path / "d.wav").mkdir()
    with pytest.raises(AudioFileError, match="d.wav.*directory"):
        save(tmp_path / "d.wav", tone(1, 100), 8000, overwrite=True)


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root (or Windows) ignores permissions"
)
def test_save_into_read_only_folder_names_it(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(AudioFileError, match="ro"):
            save(folder / "x.wav", tone(1, 100), 8000)
        assert folder_listing(folder) == []
    finally:
        folder.chmod(0o755)


def test_unwritable_folder_error_names_it_even_as_root(tmp_path, monkeypatch):
    """The same path as above, simulated, since root may write anywhere."""

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(audio_mod.os, "open", denied)
    with pytest.raises(AudioFileError, match=r"x.wav.*folder.*Permission denied.*writable"):
        save(tmp_path / "x.wav", tone(1, 100), 8000)
    assert folder_listing(tmp_path) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"subtype": "PCM_8"}, "subtype"),
        ({"subtype": "pcm_16"}, "subtype"),
        ({"on_clip": "wrap"}, "on_clip"),
        ({"overwrite": "yes"}, "overwrite"),
    ],
)
def test_save_rejects_bad_options(tmp_path, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        save(tmp_path / "x.wav", tone(1, 100), 8000, **kwargs)
    assert folder_listing(tmp_path) == []


@pytest.mark.parametrize(
    "samples, match",
    [
        (np.array([0.1, np.nan, 0.2]), "NaN"),
        (np.array([0.1, np.inf, 0.2]), "NaN or infinite"),
        (np.zeros(0), "empty"),
    ],
)
def test_save_rejects_bad_samples(tmp_path, samples, match):
    with pytest.raises(ParameterError, match=match):
        save(tmp_path / "x.wav", samples, 8000)
    assert folder_listing(tmp_path) == []


def test_save_rejects_unknown_extension_and_impossible_subtype(tmp_path):
    with pytest.raises(ParameterError, match="extension"):
        save(tmp_path / "x.xyz", tone(1, 100), 8000)
    with pytest.raises(ParameterError, match="FLAC.*FLOAT"):
        save(tmp_path / "x.flac", tone(1, 100), 8000, subtype="FLOAT")
    with pytest.raises(ParameterError, match="sample_rate"):
        save(tmp_path / "x.wav", tone(1, 100), 0)
    assert folder_listing(tmp_path) == []


# --------------------------------------------------------------------------- load errors


def write_text(path, text="this is not audio\n"):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: d / "missing.wav", "does not exist"),
        (lambda d: (d / "folder.wav").mkdir() or d / "folder.wav", "directory"),
        (lambda d: write_text(d / "text.wav"), "not an audio file"),
        (
            lambda d: sf.write(str(d / "empty.wav"), np.zeros((0, 1), np.float32), 8000)
            or d / "empty.wav",
            "no samples",
        ),
        (
            lambda d: sf.write(
                str(d / "nan.wav"), np.array([0.1, np.nan, 0.2], np.float32), 8000, "FLOAT"
            )
            or d / "nan.wav",
            "NaN or infinite",
        ),
        (
            lambda d: sf.write(
                str(d / "inf.wav"), np.array([[0.1, 0.0], [0.0, -np.inf]], np.float32), 8000,
                "FLOAT",
            )
            or d / "inf.wav",
            "channel 1, sample 1",
        ),
        (
            lambda d: sf.write(str(d / "silent.wav"), np.zeros((800, 2), np.float32), 8000)
            or d / "silent.wav",
            "silent.*allow_silent=True",
        ),
        (
            lambda d: sf.write(str(d / "short.wav"), np.full((1, 2), 0.5, np.float32), 8000)
            or d / "short.wav",
            "2 channels of only 1 sample",
        ),
    ],
    ids=["missing", "directory", "text", "empty", "nan", "inf", "silent", "short"],
)
def test_load_bad_files_raise_audio_file_error_naming_the_file(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(AudioFileError, match=match) as info:
        load(path)
    assert path.name in str(info.value)
    assert isinstance(info.value, NMFAudioError) and isinstance(info.value, ValueError)


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root (or Windows) ignores permissions"
)
def test_load_unreadable_file_says_permission_denied(tmp_path):
    path = tmp_path / "locked.wav"
    save(path, tone(1, 100), 8000)
    path.chmod(0o000)
    try:
        with pytest.raises(AudioFileError, match="locked.wav.*permission denied"):
            load(path)
    finally:
        path.chmod(0o644)


def test_unreadable_file_error_even_as_root(tmp_path, monkeypatch):
    path = tmp_path / "locked.wav"
    save(path, tone(1, 100), 8000)
    monkeypatch.setattr(audio_mod.os, "access", lambda *args, **kwargs: False)
    with pytest.raises(AudioFileError, match="locked.wav.*permission denied"):
        load(path)


def test_load_silent_file_when_allowed(tmp_path):
    sf.write(str(tmp_path / "silent.wav"), np.zeros((800, 2), np.float32), 8000)
    audio = load(tmp_path / "silent.wav", allow_silent=True)
    assert audio.samples.shape == (2, 800) and not audio.samples.any()


def test_load_rejects_bad_arguments(tmp_path):
    save(tmp_path / "x.wav", tone(1, 100), 8000)
    with pytest.raises(ParameterError, match="sample_rate"):
        load(tmp_path / "x.wav", sample_rate=-1)
    with pytest.raises(ParameterError, match="allow_silent"):
        load(tmp_path / "x.wav", allow_silent="no")
    with pytest.raises(ParameterError, match="path"):
        load(42)


def test_load_falls_back_to_librosa(tmp_path, monkeypatch):
    """When soundfile.read refuses a file, librosa decodes it, still as (C, N)."""
    x = tone(2, 2000)
    save(tmp_path / "x.wav", x, 8000, subtype="FLOAT")

    def refuse(*args, **kwargs):
        raise sf.LibsndfileError(0, "Format not recognised: ")

    monkeypatch.setattr(audio_mod.sf, "read", refuse)
    audio = load(tmp_path / "x.wav")
    assert audio.sample_rate == 8000 and audio.samples.shape == (2, 2000)
    np.testing.assert_array_equal(audio.samples, x)


# --------------------------------------------------------------------------- resampling


def test_load_with_sample_rate_resamples(tmp_path):
    x = tone(2, 4410, 44100)
    save(tmp_path / "x.wav", x, 44100, subtype="FLOAT")
    audio = load(tmp_path / "x.wav", sample_rate=22050)
    assert audio.sample_rate == 22050 and audio.samples.shape == (2, 2205)
    assert audio.samples.dtype == np.float32
    same = load(tmp_path / "x.wav", sample_rate=44100)
    np.testing.assert_array_equal(same.samples, x)


def test_resample_keeps_a_tone_at_its_frequency():
    rate, new_rate, freq = 22050, 8000, 440.0
    t = np.arange(rate) / rate
    audio = Audio(np.stack([np.sin(2 * np.pi * freq * t), 0.5 * np.sin(2 * np.pi * freq * t)]),
                  rate, path="a.wav")
    out = resample(audio, new_rate)
    assert out.sample_rate == new_rate and out.n_samples == new_rate and out.n_channels == 2
    assert out.path == "a.wav"
    expected = np.sin(2 * np.pi * freq * np.arange(new_rate) / new_rate)
    # Away from the edges (filter transients) the resampled tone is the tone.
    np.testing.assert_allclose(out.samples[0, 200:-200], expected[200:-200], atol=1e-3)
    np.testing.assert_allclose(out.samples[1], 0.5 * out.samples[0], atol=1e-6)
    assert resample(audio, rate) is audio


def test_resample_rejects_bad_input():
    with pytest.raises(ParameterError, match="Audio"):
        resample(np.zeros((1, 100)), 8000)
    with pytest.raises(ParameterError, match="sample_rate"):
        resample(Audio(tone(1, 100), 8000), 0)


# --------------------------------------------------------------------------- real audio


def test_load_real_stereo_recording(shared_audio):
    path = shared_audio / "A_stereo_panned" / "mixture.wav"
    audio = load(path)
    info = sf.info(str(path))
    assert audio.sample_rate == info.samplerate == 22050
    assert audio.samples.shape == (2, info.frames)
    assert 0 < np.abs(audio.samples).max() <= 1


# --------------------------------------------------------------------------- round_together


@settings(max_examples=60, deadline=None)
@given(n_signals=st.integers(1, 40), n_channels=st.integers(1, 3), n=st.integers(1, 300),
       seed=st.integers(0, 2**32 - 1), subtype=st.sampled_from(["PCM_16", "PCM_24"]))
def test_round_together_keeps_the_sum(n_signals, n_channels, n, seed, subtype):
    """On the grid, each sample within half a step (the loudest: S/2 steps more), and the
    sum of the rounded signals is the rounded sum of the originals, exactly."""
    rng = np.random.default_rng(seed)
    x = (rng.uniform(-1, 1, (n_signals, n_channels, n)) / n_signals).astype(np.float32)
    before = x.copy()
    out = round_together(x, subtype=subtype, block=7)
    np.testing.assert_array_equal(x, before)  # not modified
    scale = 2.0 ** ({"PCM_16": 16, "PCM_24": 24}[subtype] - 1)
    steps = out.astype(np.float64) * scale
    np.testing.assert_array_equal(steps, np.rint(steps))
    np.testing.assert_array_equal(steps.sum(axis=0),
                                  np.rint(x.astype(np.float64).sum(axis=0) * scale))
    assert np.abs(steps - x * scale).max() <= 0.5 + n_signals / 2


def test_round_together_files_add_up_and_edges(tmp_path):
    rng = np.random.default_rng(0)
    mix = np.rint(rng.uniform(-0.5, 0.5, (2, 4000)) * 32768) / 32768  # a 16-bit mixture
    parts = rng.dirichlet(np.ones(5), size=(2, 4000)).transpose(2, 0, 1) * mix  # 5 sources
    alone = sum(np.rint(p * 32768) for p in parts) / 32768
    assert np.abs(alone - mix).max() > 1.5 / 32768  # rounded alone: off by steps
    paths = []
    for k, p in enumerate(round_together(parts, subtype="PCM_16")):
        paths.append(tmp_path / f"{k}.wav")
        save(paths[-1], p, 8000)
    total = sum(sf.read(str(p), dtype="float64", always_2d=True)[0].T for p in paths)
    np.testing.assert_array_equal(total, mix)
    # full scale: +1.0 is one step above what 16 bits hold; beyond it is the writer's
    edge = round_together(np.array([[[1.0, -1.0, 1.5]]]), subtype="PCM_16")
    np.testing.assert_array_equal(edge, [[[32767 / 32768, -1.0, 1.5]]])
    floats = np.array([[[0.1, 0.2]]], dtype=np.float64)
    np.testing.assert_array_equal(round_together(floats, subtype="FLOAT"),
                                  floats.astype(np.float32))
    with pytest.raises(ParameterError, match="shape"):
        round_together(np.zeros((2, 3)), subtype="PCM_16")
    with pytest.raises(ParameterError, match="shape"):
        round_together(np.zeros((0, 1, 3)), subtype="PCM_16")
    with pytest.raises(ParameterError, match="subtype"):
        round_together(np.zeros((1, 1, 3)), subtype="PCM_8")
    with pytest.raises(ParameterError, match="floating"):
        round_together(np.zeros((1, 1, 3), dtype=np.int16), subtype="PCM_16")
    for block in (0, -1, 2.5, True):
        with pytest.raises(ParameterError, match="block"):
            round_together(np.zeros((1, 1, 3)), subtype="PCM_16", block=block)
    with pytest.raises(ParameterError, match="out"):
        round_together(np.zeros((1, 1, 3)), subtype="PCM_16", out=np.zeros((1, 1, 3)))
    for bad in (np.nan, np.inf):
        for subtype in ("PCM_16", "FLOAT"):
            x = np.zeros((3, 1, 5))
            x[1, 0, 2] = bad
            with pytest.raises(ParameterError, match="NaN or infinite"):
                round_together(x, subtype=subtype)


@pytest.mark.parametrize("signals, expected", [
    # the leftover step belongs to the loudest, which has no room above: the next one takes it
    ([32766.6, -0.6, 0.4, 0.4], None),
    ([-32767.6, 0.6, -0.4, -0.4], None),
    ([0.45, 0.45, 0.5, 0.6], [0, 0, 0, 2]),
    # +1.0 (32768 steps) is one step above 16 bits: the sum is held at the top step
    ([32768.0, 0.2, 0.2], [32767, 0, 0]),
])
def test_round_together_at_full_scale(signals, expected):
    x = np.array(signals)[:, None, None] / 32768
    steps = round_together(x, subtype="PCM_16")[:, 0, 0].astype(np.float64) * 32768
    assert np.all((steps >= -32768) & (steps <= 32767)), steps  # nothing for the writer to clip
    assert steps.sum() == min(np.rint(sum(signals)), 32767)
    if expected is not None:
        np.testing.assert_array_equal(steps, expected)


def test_round_together_in_place_and_beyond_full_scale():
    x = np.array([[[0.30001, 1.5]], [[0.2, -0.2]]], dtype=np.float32)
    total = np.rint(x[:, 0, 0].astype(np.float64).sum() * 32768)
    same = round_together(x, subtype="PCM_16", out=x)
    assert same is x
    assert x[0, 0, 1] == 1.5  # left for the writer to clip and count
    assert x[1, 0, 1] * 32768 == np.rint(np.float32(-0.2) * 32768.0)  # the other one rounded
    assert x[0, 0, 0] * 32768 + x[1, 0, 0] * 32768 == total  # in place, the sum still holds
