"""The committed synthetic audio in audio_fixtures/ is what make_fixtures.py produces,
each mixture is exactly the sum of its stems, and lengths and rates are as documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"

# (folder, channels, samples at 22050 Hz), as in audio_fixtures/README.md
LAYOUT = {"example": (1, 6 * 22050), "stereo": (2, 4 * 22050)}
STEMS = ("keys", "drums")


def committed_wavs() -> list[Path]:
    return sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*.wav"))


@pytest.fixture(scope="module")
def make_fixtures():
    """audio_fixtures/make_fixtures.py as a module (it is a script, not in the package)."""
    path = FIXTURES / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_expected_files_are_committed():
    expected = {Path(folder) / "mixture.wav" for folder in LAYOUT}
    expected |= {Path(folder) / "sources" / f"{s}.wav" for folder in LAYOUT for s in STEMS}
    expected |= {Path("example") / "train" / f"{s}.wav" for s in STEMS}
    assert set(committed_wavs()) == expected


def test_regenerating_gives_the_same_bytes(make_fixtures, tmp_path):
    written = make_fixtures.main(tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in written) == committed_wavs()
    for rel in committed_wavs():
        assert (tmp_path / rel).read_bytes() == (FIXTURES / rel).read_bytes(), (
            f"audio_fixtures/{rel} differs from what make_fixtures.py makes now: "
            "re-run `python audio_fixtures/make_fixtures.py` and commit the WAVs"
        )


@pytest.mark.parametrize("folder", sorted(LAYOUT))
def test_mixture_is_exactly_the_sum_of_the_sources(folder):
    mix = soundfile.read(str(FIXTURES / folder / "mixture.wav"), dtype="int16", always_2d=True)[0]
    stems = [
        soundfile.read(str(FIXTURES / folder / "sources" / f"{s}.wav"), dtype="int16",
                       always_2d=True)[0].astype(np.int32)
        for s in STEMS
    ]
    np.testing.assert_array_equal(mix.astype(np.int32), sum(stems))
    # ... and so also as the float32 samples that audio loaders return
    as_float = [soundfile.read(str(FIXTURES / folder / "sources" / f"{s}.wav"),
                               dtype="float32")[0] for s in STEMS]
    mix_float = soundfile.read(str(FIXTURES / folder / "mixture.wav"), dtype="float32")[0]
    np.testing.assert_array_equal(mix_float, as_float[0] + as_float[1])


def test_lengths_rates_channels_and_levels_are_as_documented():
    for path in committed_wavs():
        info = soundfile.info(str(FIXTURES / path))
        channels, frames = LAYOUT[path.parts[0]]
        assert (info.samplerate, info.channels, info.frames) == (22050, channels, frames), path
        assert info.format == "WAV" and info.subtype == "PCM_16", path
        samples = soundfile.read(str(FIXTURES / path), dtype="float32")[0]
        assert 0.1 < np.max(np.abs(samples)) < 0.9, path  # audible, not clipping


def test_stereo_stems_are_panned_left_and_right():
    keys = soundfile.read(str(FIXTURES / "stereo" / "sources" / "keys.wav"))[0]
    drums = soundfile.read(str(FIXTURES / "stereo" / "sources" / "drums.wav"))[0]
    energy = lambda x: np.sum(x**2, axis=0)  # noqa: E731  (left, right)
    assert energy(keys)[0] > 5 * energy(keys)[1]
    assert energy(drums)[1] > 5 * energy(drums)[0]


def test_fixtures_stay_small():
    total = sum((FIXTURES / p).stat().st_size for p in committed_wavs())
    assert total < 2.5e6  # committed to git: keep it small
