"""Tests of nmfaudio.evaluate: SI-SDR, BSS Eval through mir_eval, the Evaluation result,
file loading, and agreement with the reference scores of ../shared/audio."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from nmfaudio.errors import AudioFileError, NMFAudioError, ParameterError
from nmfaudio.metrics import (
    Evaluation,
    MissingDependencyError,
    evaluate,
    evaluate_files,
    si_sdr,
)

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"


def read(path: Path) -> np.ndarray:
    """(C, N) float32 samples of a WAV file."""
    return soundfile.read(str(path), dtype="float32", always_2d=True)[0].T


def signals(n_sources=2, n_samples=4000, seed=0):
    """Random references and slightly noisy estimates of them, shape (S, N)."""
    rng = np.random.default_rng(seed)
    refs = rng.standard_normal((n_sources, n_samples))
    return refs + 0.1 * rng.standard_normal(refs.shape), refs


# --------------------------------------------------------------------------- si_sdr


def test_si_sdr_perfect_estimate_is_very_large():
    _, ref = signals(1)
    assert si_sdr(ref[0], ref[0]) > 100.0


@pytest.mark.parametrize("gain", [1e-3, 0.5, 3.0, -2.0])
def test_si_sdr_is_scale_invariant(gain):
    est, ref = signals(1)
    value = si_sdr(est[0], ref[0])
    assert si_sdr(gain * est[0], ref[0]) == pytest.approx(value, abs=1e-9)
    assert si_sdr(est[0], gain * ref[0]) == pytest.approx(value, abs=1e-9)


def test_si_sdr_of_orthogonal_noise_is_the_energy_ratio():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(5000)
    noise = rng.standard_normal(5000)
    noise -= noise @ ref / (ref @ ref) * ref  # exactly orthogonal to the reference
    noise *= 0.1 * np.linalg.norm(ref) / np.linalg.norm(noise)  # 20 dB below it
    assert si_sdr(ref + noise, ref) == pytest.approx(20.0, abs=1e-6)


def test_si_sdr_decreases_with_noise():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal(5000)
    noise = rng.standard_normal(5000)
    values = [si_sdr(ref + level * noise, ref) for level in (0.0, 0.01, 0.1, 1.0)]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 3.0  # as much noise as signal: about 0 dB


def test_si_sdr_concatenates_channels():
    est, ref = signals(2)  # read as (C=2, N)
    assert si_sdr(est, ref) == pytest.approx(si_sdr(est.ravel(), ref.ravel()))


def test_si_sdr_does_not_modify_inputs():
    est, ref = signals(1)
    est0, ref0 = est.copy(), ref.copy()
    si_sdr(est, ref)
    np.testing.assert_array_equal(est, est0)
    np.testing.assert_array_equal(ref, ref0)


@pytest.mark.parametrize(
    "estimate, reference, match",
    [
        (np.ones(10), np.ones(11), r"shape \(10,\).*shape \(11,\)"),
        (np.ones((1, 2, 10)), np.ones((1, 2, 10)), r"\(N,\) or \(C, N\)"),
        (np.ones(10), np.zeros(10), "reference is all zeros"),
        (np.zeros(10), np.ones(10), "estimate is all zeros"),
        (np.full(10, np.nan), np.ones(10), "NaN"),
        (np.ones(10, dtype=complex), np.ones(10), "real"),
        (np.ones(0), np.ones(0), "empty"),
    ],
)
def test_si_sdr_rejects_bad_input(estimate, reference, match):
    with pytest.raises(ParameterError, match=match):
        si_sdr(estimate, reference)


# --------------------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def example():
    """True stems and mixture of audio_fixtures/example: (names, (S, N) refs, (N,) mix)."""
    folder = FIXTURES / "example"
    names = ("keys", "drums")
    refs = np.stack([read(folder / "sources" / f"{n}.wav")[0] for n in names])
    return names, refs, read(folder / "mixture.wav")[0]


@pytest.fixture(scope="module")
def example_evaluation(example):
    names, refs, mix = example
    return evaluate(refs, refs, names=names, mixture=mix)


def test_true_sources_score_very_high_and_beat_the_mixture(example_evaluation):
    ev = example_evaluation
    assert ev.names == ("keys", "drums")
    assert ev.method == "bss_eval_sources"
    assert np.all(ev.sdr > 60) and np.all(ev.sir > 60) and np.all(ev.sar > 60)
    assert np.all(ev.si_sdr > 100)
    base = ev.baseline
    assert base is not None and base.baseline is None
    assert np.all(base.sdr < 15) and np.all(base.si_sdr < 15)
    assert ev.median_sdr > base.median_sdr + 50
    assert np.all(ev.improvement["sdr"] > 50)


def test_evaluation_arrays_are_read_only_and_frozen(example_evaluation):
    ev = example_evaluation
    for metric in ("sdr", "sir", "sar", "si_sdr"):
        values = getattr(ev, metric)
        assert values.shape == (2,) and values.dtype == np.float64
        with pytest.raises(ValueError):
            values[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.sdr = np.zeros(2)


def test_to_dict_is_strict_json_with_baseline_and_improvement(example_evaluation):
    d = example_evaluation.to_dict()
    text = json.dumps(d, allow_nan=False)  # JSON has no inf/nan
    assert json.loads(text) == d
    assert d["names"] == ["keys", "drums"]
    assert set(d["sources"]["keys"]) == {"sdr", "sir", "sar", "si_sdr"}
    assert d["median"]["sdr"] == pytest.approx(example_evaluation.median_sdr)
    assert d["baseline"]["median"]["sdr"] == pytest.approx(example_evaluation.baseline.median_sdr)
    assert d["baseline"]["baseline"] is None
    sdr_i = d["improvement"]["sources"]["drums"]["sdr"]
    assert sdr_i == pytest.approx(example_evaluation.sdr[1] - example_evaluation.baseline.sdr[1])


def test_to_dict_writes_infinity_as_none():
    ev = Evaluation(names=("a",), sdr=[10.0], sir=[np.inf], sar=[10.0], si_sdr=[9.0])
    d = ev.to_dict()
    assert d["sources"]["a"]["sir"] is None and d["median"]["sir"] is None
    assert d["baseline"] is None and d["improvement"] is None


def test_table_lists_every_source_and_the_median(example_evaluation):
    text = example_evaluation.table(precision=1)
    lines = text.splitlines()
    assert lines[0].split() == ["source", "(dB)", "SDR", "SIR", "SAR", "SI-SDR", "SDRi", "SI-SDRi"]
    assert [ln.split()[0] for ln in lines[2:4]] == ["keys", "drums"]
    assert lines[-1].split()[0] == "median"
    assert f"{example_evaluation.median_sdr:.1f}" in lines[-1]
    no_baseline = Evaluation(names=("a",), sdr=[1.0], sir=[np.inf], sar=[1.0], si_sdr=[1.0])
    assert "SDRi" not in no_baseline.table() and "inf" in no_baseline.table()


def test_stereo_fixture_uses_bss_eval_images():
    folder = FIXTURES / "stereo"
    refs = np.stack([read(folder / "sources" / f"{n}.wav") for n in ("keys", "drums")])
    mix = read(folder / "mixture.wav")
    assert refs.shape == (2, 2, 88200)
    ev = evaluate(refs, refs, names=["keys", "drums"], mixture=mix)
    assert ev.method == "bss_eval_images" and ev.baseline.method == "bss_eval_images"
    assert np.all(ev.sdr > 60)
    assert np.all(ev.baseline.sdr < ev.sdr - 50)


def test_default_names_and_inputs_untouched():
    est, ref = signals(3)
    est0, ref0 = est.copy(), ref.copy()
    ev = evaluate(est, ref, mixture=ref.sum(axis=0))
    assert ev.names == ("source1", "source2", "source3")
    np.testing.assert_array_equal(est, est0)
    np.testing.assert_array_equal(ref, ref0)
    assert np.all(ev.sdr > 15) and np.all(ev.baseline.sdr < 0)


def test_mono_with_a_channel_axis_equals_mono():
    est, ref = signals(2)
    a = evaluate(est, ref)
    b = evaluate(est[:, None, :], ref[:, None, :])
    assert a == b


def test_evaluation_equality_and_validation():
    kw = dict(names=("a", "b"), sdr=[1.0, 2.0], sir=[3.0, 4.0], sar=[5.0, 6.0], si_sdr=[0.0, 1.0])
    assert Evaluation(**kw) == Evaluation(**kw)
    assert Evaluation(**kw) != Evaluation(**{**kw, "sdr": [1.0, 2.5]})
    with pytest.raises(ParameterError, match=r"sdr must have shape \(2,\)"):
        Evaluation(**{**kw, "sdr": [1.0]})
    with pytest.raises(ParameterError, match="unique"):
        Evaluation(**{**kw, "names": ("a", "a")})
    other = Evaluation(**{**kw, "names": ("x", "y")})
    with pytest.raises(ParameterError, match="baseline is for sources"):
        Evaluation(**kw, baseline=other)


# --------------------------------------------------------------------------- bad input


def test_shape_mismatch_names_both_shapes():
    est, ref = signals(2)
    with pytest.raises(ParameterError, match=r"\(2, 3999\).*\(2, 4000\)"):
        evaluate(est[:, :-1], ref)


def test_silent_reference_names_the_source():
    est, ref = signals(2)
    ref[1] = 0.0
    match = r"reference of source 'bass' \(index 1\) is all zeros"
    with pytest.raises(ParameterError, match=match):
        evaluate(est, ref, names=["piano", "bass"])


def test_silent_estimate_names_the_source():
    est, ref = signals(2)
    est[0] = 0.0
    with pytest.raises(ParameterError, match=r"estimate of source 'piano'.*all zeros"):
        evaluate(est, ref, names=["piano", "bass"])


@pytest.mark.parametrize(
    "mutate, kwargs, match",
    [
        (lambda e, r: (e[0], r[0]), {}, r"\(S, N\) or \(S, C, N\).*np.newaxis"),
        (lambda e, r: (e, r), {"names": ["a"]}, "names has 1 entries but there are 2 sources"),
        (lambda e, r: (e, r), {"names": "ab"}, "single string"),
        (lambda e, r: (e, r), {"mixture": np.ones(10)}, r"mixture has shape \(10,\).*\(4000,\)"),
        (lambda e, r: (e, r), {"mixture": np.zeros(4000)}, "mixture is all zeros"),
        (lambda e, r: (e, np.stack([r[0], r[0]])), {}, "identical"),
        (lambda e, r: (np.where(e > 3, np.nan, e), r), {}, "NaN"),
    ],
)
def test_evaluate_rejects_bad_input(mutate, kwargs, match):
    est, ref = mutate(*signals(2))
    with pytest.raises(ParameterError, match=match):
        evaluate(est, ref, **kwargs)


def test_missing_mir_eval_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mir_eval", None)  # makes `import mir_eval` fail
    monkeypatch.setitem(sys.modules, "mir_eval.separation", None)
    est, ref = signals(2)
    with pytest.raises(MissingDependencyError, match=r"pip install 'nmfaudio\[eval\]'") as info:
        evaluate(est, ref)
    assert isinstance(info.value, NMFAudioError) and isinstance(info.value, ImportError)


# --------------------------------------------------------------------------- files


def test_evaluate_files_matches_evaluate(example, example_evaluation):
    folder = FIXTURES / "example"
    sources = [folder / "sources" / "keys.wav", folder / "sources" / "drums.wav"]
    ev = evaluate_files(sources, sources, mixture_path=folder / "mixture.wav")
    assert ev.names == ("keys", "drums")  # from the reference file names
    assert ev == example_evaluation


def test_evaluate_files_names_the_bad_file(tmp_path):
    folder = FIXTURES / "example"
    refs = [folder / "sources" / "keys.wav", folder / "sources" / "drums.wav"]
    x = read(refs[0])[0]
    short = tmp_path / "short.wav"
    soundfile.write(str(short), x[:-1], 22050, subtype="PCM_16")
    with pytest.raises(AudioFileError, match=r"short\.wav.*132299 samples"):
        evaluate_files([short, refs[1]], refs)
    other_rate = tmp_path / "rate.wav"
    soundfile.write(str(other_rate), x, 16000, subtype="PCM_16")
    with pytest.raises(AudioFileError, match=r"rate\.wav.*16000 Hz"):
        evaluate_files(refs, refs, mixture_path=other_rate)
    with pytest.raises(AudioFileError, match=r"missing\.wav.*does not exist"):
        evaluate_files([tmp_path / "missing.wav", refs[1]], refs)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all")
    with pytest.raises(AudioFileError, match=r"garbage\.wav.*not an audio file"):
        evaluate_files([garbage, refs[1]], refs)
    with pytest.raises(ParameterError, match="1 estimate files but 2 reference files"):
        evaluate_files(refs[:1], refs)
    with pytest.raises(ParameterError, match="list of paths"):
        evaluate_files(str(refs[0]), refs)


# --------------------------------------------------------------------------- real audio


@pytest.fixture(scope="module")
def piano_bass_drums_mixture_as_estimate(shared_audio):
    """BSS Eval of A_piano_bass_drums with the mixture as the estimate of every source
    (a few seconds: computed once per module)."""
    task = shared_audio / "A_piano_bass_drums"
    if not task.is_dir():
        pytest.skip(f"task folder {task} not found")
    sources = [task / "sources" / f"{name}.wav" for name in ("piano", "bass", "drums")]
    return evaluate_files([task / "mixture.wav"] * 3, sources)


def test_mixture_baseline_matches_the_shared_audio_readme(piano_bass_drums_mixture_as_estimate):
    # ../shared/audio/README.md: "mixture as estimate" median SDR of A_piano_bass_drums is
    # -4.18 dB with mir_eval.separation.bss_eval_sources, no permutation: same computation.
    ev = piano_bass_drums_mixture_as_estimate
    assert ev.names == ("piano", "bass", "drums")
    assert ev.median_sdr == pytest.approx(-4.18, abs=0.05)
    assert np.all(ev.si_sdr < 1.0)
