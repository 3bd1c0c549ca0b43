"""Synthesize the small, license-free test audio in ``audio_fixtures/``.

Usage::

    python audio_fixtures/make_fixtures.py [OUT_DIR]

writes (into ``OUT_DIR``, by default the folder of this script)::

    example/mixture.wav          6 s mono 22050 Hz: keys + drums, exactly the sum of
    example/sources/keys.wav     the two stems, sample for sample
    example/sources/drums.wav
    example/train/keys.wav       6 s of other notes / another groove of the same
    example/train/drums.wav      instruments, for learning dictionaries
    stereo/mixture.wav           4 s stereo 22050 Hz: keys panned left, drums right
    stereo/sources/keys.wav      (constant-power pan law), stereo stems
    stereo/sources/drums.wav

Everything is computed from a fixed seed with ``numpy.random.default_rng`` (no global
RNG), quantized to 16-bit integers here, and written as 16-bit PCM WAV from those
integers, so re-running the script gives byte-identical files and each mixture is the
exact integer sum of its stems. The instruments are simple additive / subtractive
synthesis: no recorded audio is involved.

Instruments
-----------
keys
    Harmonic tones with 8 slightly inharmonic partials (amplitude ``k**-1.2``), a 5 ms
    attack and exponential decays that are faster for higher partials, played as a
    melody (C major scale, C5 to E6) over sustained triads (C major scale, octave 3).
drums
    kick: a sine sweeping down from about 155 Hz to 45 Hz with a decaying envelope;
    snare: a high-passed (800 Hz) noise burst plus two decaying tones (185, 330 Hz);
    hihat: a short noise burst high-passed at 7 kHz (open hihats in the train groove).
    Grooves are 16th-note patterns at 120 bpm with slightly varied velocities.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile

SAMPLE_RATE = 22050
SEED = 20250917
BPM = 120.0
STEP = 60.0 / BPM / 4  # one 16th note, in seconds
PEAK = 0.42  # peak of each stem before panning, so every mixture peaks below 0.85
EXAMPLE_SECONDS = 6.0  # example/ test clip and each train/ file
STEREO_SECONDS = 4.0  # stereo/ clip

# C major scale degrees (semitones above the tonic).
SCALE = (0, 2, 4, 5, 7, 9, 11)

# One chord (root scale degree of a triad) per second, per piece.
PROGRESSIONS = {
    "test": (0, 5, 3, 4, 0, 4),  # C Am F G C G
    "train": (1, 4, 2, 5, 3, 0),  # Dm G Em Am F C
    "stereo": (5, 3, 0, 4),  # Am F C G
}

# 16-step (one bar) drum patterns: "x" = hit, "o" = open hihat, "." = rest.
GROOVES = {
    "test": {
        "kick": "x.......x.x.....",
        "snare": "....x.......x...",
        "hihat": "x.x.x.x.x.x.x.x.",
    },
    "train": {
        "kick": "x..x..x...x..x..",
        "snare": "....x..x....x..x",
        "hihat": "xxxxxxoxxxxxxxox",
    },
    "stereo": {
        "kick": "x...x...x...x...",
        "snare": "....x.......x...",
        "hihat": "..x...o...x...o.",
    },
}

# Constant-power pan positions in [-1 (left), +1 (right)] for the stereo piece.
PAN = {"keys": -0.6, "drums": 0.6}


# --------------------------------------------------------------------------- keys


def _midi_to_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def _degree_to_midi(degree: int, tonic: int) -> int:
    return tonic + 12 * (degree // 7) + SCALE[degree % 7]


def _keys_tone(f0: float, duration: float, velocity: float) -> np.ndarray:
    """One keys note: ``duration`` seconds held, then a 60 ms release."""
    n = int(round((duration + 0.06) * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    tone = np.zeros(n)
    for k in range(1, 9):
        fk = k * f0 * np.sqrt(1.0 + 2e-4 * k * k)  # slight piano-like inharmonicity
        if fk > 0.45 * SAMPLE_RATE:
            break
        tau = 0.9 / k**0.7  # higher partials die away faster
        tone += k**-1.2 * np.exp(-t / tau) * np.sin(2 * np.pi * fk * t)
    attack = np.minimum(t / 0.005, 1.0)
    release = np.clip((duration + 0.06 - t) / 0.06, 0.0, 1.0)
    return velocity * tone * attack * release


def _keys(rng: np.random.Generator, piece: str, duration: float) -> np.ndarray:
    """Chords (one per second) and a random-walk melody on the C major scale."""
    out = np.zeros(int(round(duration * SAMPLE_RATE)))

    def add(start: float, signal: np.ndarray) -> None:
        i = int(round(start * SAMPLE_RATE))
        m = min(signal.size, out.size - i)
        out[i : i + m] += signal[:m]

    for bar, root in enumerate(PROGRESSIONS[piece]):
        for offset in (0, 2, 4):
            midi = _degree_to_midi(root + offset, tonic=48)
            add(bar * 1.0, _keys_tone(_midi_to_hz(midi), 0.95, 0.35))

    degree = int(rng.integers(0, 7))
    t = 0.0
    while t < duration - 1e-9:
        length = min(float(rng.choice([0.25, 0.5, 0.5, 1.0])), duration - t)
        degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, 9))
        velocity = 0.6 + 0.2 * float(rng.random())
        if rng.random() >= 0.1:  # a rest now and then
            midi = _degree_to_midi(degree, tonic=72)
            add(t, _keys_tone(_midi_to_hz(midi), length, velocity))
        t += length
    return out


# --------------------------------------------------------------------------- drums


def _kick() -> np.ndarray:
    t = np.arange(int(0.4 * SAMPLE_RATE)) / SAMPLE_RATE
    freq = 45.0 + 110.0 * np.exp(-t / 0.04)  # pitch drops quickly
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    return np.sin(phase) * np.exp(-t / 0.15) * np.minimum(t / 0.002, 1.0)


def _snare(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
    sos = scipy.signal.butter(2, 800.0, btype="highpass", fs=SAMPLE_RATE, output="sos")
    noise = scipy.signal.sosfilt(sos, rng.standard_normal(t.size))
    body = 0.6 * np.sin(2 * np.pi * 185.0 * t) + 0.3 * np.sin(2 * np.pi * 330.0 * t)
    return 0.5 * noise * np.exp(-t / 0.05) + body * np.exp(-t / 0.07)


def _hihat(rng: np.random.Generator, *, open_: bool) -> np.ndarray:
    length, tau = (0.3, 0.08) if open_ else (0.08, 0.015)
    t = np.arange(int(length * SAMPLE_RATE)) / SAMPLE_RATE
    sos = scipy.signal.butter(4, 7000.0, btype="highpass", fs=SAMPLE_RATE, output="sos")
    noise = scipy.signal.sosfilt(sos, rng.standard_normal(t.size))
    return noise * np.exp(-t / tau)


def _drums(rng: np.random.Generator, piece: str, duration: float) -> np.ndarray:
    """The piece's 16-step groove, repeated for ``duration`` seconds."""
    out = np.zeros(int(round(duration * SAMPLE_RATE)))
    groove = GROOVES[piece]
    levels = {"kick": 1.0, "snare": 0.7, "hihat": 0.35}
    for step in range(int(round(duration / STEP))):
        for name in ("kick", "snare", "hihat"):
            symbol = groove[name][step % 16]
            if symbol == ".":
                continue
            if name == "kick":
                hit = _kick()
            elif name == "snare":
                hit = _snare(rng)
            else:
                hit = _hihat(rng, open_=symbol == "o")
            velocity = levels[name] * (0.85 + 0.15 * float(rng.random()))
            i = int(round(step * STEP * SAMPLE_RATE))
            m = min(hit.size, out.size - i)
            out[i : i + m] += velocity * hit[:m]
    return out


# --------------------------------------------------------------------------- output


def _quantize(x: np.ndarray) -> np.ndarray:
    """Float samples (full scale 1.0) to int16, as soundfile reads them back (/ 32768)."""
    q = np.rint(x * 32768.0)
    if q.min() < -32768 or q.max() > 32767:
        raise ValueError("fixture audio would clip; lower PEAK")
    return q.astype(np.int16)


def _normalize(x: np.ndarray) -> np.ndarray:
    return x * (PEAK / np.max(np.abs(x)))


def _pan_gains(position: float) -> tuple[float, float]:
    """Constant-power pan law: gains (left, right) with left**2 + right**2 == 1."""
    theta = (position + 1.0) * np.pi / 4.0
    return float(np.cos(theta)), float(np.sin(theta))


def _mix(stems: list[np.ndarray]) -> np.ndarray:
    """Exact integer sum of int16 stems (checked not to overflow)."""
    total = np.sum([s.astype(np.int32) for s in stems], axis=0)
    if total.min() < -32768 or total.max() > 32767:
        raise ValueError("fixture mixture would clip; lower PEAK")
    return total.astype(np.int16)


def _write(path: Path, samples: np.ndarray, written: list[Path]) -> None:
    """Write int16 ``samples`` of shape (N,) or (N, C) as 16-bit PCM WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    written.append(path)


def main(out_dir: str | Path | None = None) -> list[Path]:
    """Synthesize every fixture into ``out_dir`` (default: this script's folder).

    Parameters
    ----------
    out_dir : path-like, optional
        Where to write ``example/`` and ``stereo/``; created if missing.

    Returns
    -------
    list of Path
        The files written, in the order written.
    """
    out = Path(__file__).resolve().parent if out_dir is None else Path(out_dir)
    # One independent, fixed stream per piece and instrument: changing one part of the
    # script does not change the random draws of the others.
    streams = np.random.SeedSequence(SEED).spawn(6)
    rng = dict(zip(
        ["keys_test", "drums_test", "keys_train", "drums_train", "keys_stereo", "drums_stereo"],
        (np.random.default_rng(s) for s in streams),
    ))
    written: list[Path] = []

    # example/: mono test clip and training material of the same length.
    keys = _quantize(_normalize(_keys(rng["keys_test"], "test", EXAMPLE_SECONDS)))
    drums = _quantize(_normalize(_drums(rng["drums_test"], "test", EXAMPLE_SECONDS)))
    _write(out / "example" / "sources" / "keys.wav", keys, written)
    _write(out / "example" / "sources" / "drums.wav", drums, written)
    _write(out / "example" / "mixture.wav", _mix([keys, drums]), written)
    keys = _quantize(_normalize(_keys(rng["keys_train"], "train", EXAMPLE_SECONDS)))
    drums = _quantize(_normalize(_drums(rng["drums_train"], "train", EXAMPLE_SECONDS)))
    _write(out / "example" / "train" / "keys.wav", keys, written)
    _write(out / "example" / "train" / "drums.wav", drums, written)

    # stereo/: keys panned left and drums right.
    stems = {}
    for name, make in (("keys", _keys), ("drums", _drums)):
        mono = _normalize(make(rng[f"{name}_stereo"], "stereo", STEREO_SECONDS))
        left, right = _pan_gains(PAN[name])
        stems[name] = _quantize(np.stack([left * mono, right * mono], axis=1))  # (N, 2)
        _write(out / "stereo" / "sources" / f"{name}.wav", stems[name], written)
    _write(out / "stereo" / "mixture.wav", _mix(list(stems.values())), written)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=None,
                        help="output folder (default: the folder of this script)")
    args = parser.parse_args()
    for path in main(args.out_dir):
        print(path)
