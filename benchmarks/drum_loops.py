"""Held-out drum loops: blind kick / snare / hi-hat separation on kits that are not in
../shared/audio, side by side with the peers of ``blind_peers.py``.

Usage::

    python benchmarks/drum_loops.py [--kits standard tr808 ...] [--patterns 2]
                                    [--rate 44100] [--cache DIR] [--verbose]

Needs the Debian packages ``fluidsynth`` and ``fluid-soundfont-gm`` (``apt-get install
fluidsynth fluid-soundfont-gm``; the script says so and exits with status 2 without
them). Nothing is downloaded and nothing is written into the project.

What it does
------------
1. Renders one-shots (two velocities) of kick (GM note 36), snare (38), closed, pedal and
   open hi-hat (42, 44, 46) from seven General MIDI drum kits of the Fluid R3 soundfont
   (MIT licence; Standard, Room, Power, Electronic, TR-808, Jazz, Brush), reverb and
   chorus off, 44.1 kHz, into ``--cache`` (default: a folder under the system's temp
   folder).
2. Builds ``--patterns`` loops per kit from a seeded generator: two bars of 16ths at
   85 to 125 bpm, repeated three times; kick on beats 1 and 3 plus random 8ths, snare on
   2 and 4 plus rare ghosts, hi-hat on every 8th or 16th (sometimes pedal or open), each
   hit at a random velocity and gain. The three stems are the ground truth; the mixture is
   their sum, scaled to a peak of 0.8. ``--rate`` resamples the stems (soxr, as
   nmfaudio resamples) to another rate first.
3. Separates each mixture into 3 sources with every method and scores it like
   ``bench_quality.py``'s blind table (BSS Eval v3 SDR, best permutation by mean SDR).

These loops are where nmfaudio's drum-kit model (``nmfaudio/drums.py``: its threshold,
template length and number of components per source) was chosen; the test loops of
../shared/audio were only scored afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 44100
#: General MIDI drum kits: program number on channel 10 -> name.
KITS = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "tr808": 25, "jazz": 32,
        "brush": 40}
NOTES = {"kick": 36, "snare": 38, "hhclosed": 42, "hhpedal": 44, "hhopen": 46}
VELOCITIES = (70, 110)


def _midi_file(program: int, note: int, velocity: int) -> bytes:
    """A format-0 MIDI file: program change, then one note on channel 10 for 0.5 s."""
    def delta(n):
        out = [n & 0x7F]
        n >>= 7
        while n:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        return bytes(reversed(out))
    events = (delta(0) + bytes([0xC9, program]) + delta(0) + bytes([0x99, note, velocity])
              + delta(480) + bytes([0x89, note, 0]) + delta(960) + b"\xff\x2f\x00")
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
            + b"MTrk" + struct.pack(">I", len(events)) + events)


def has_fluidsynth() -> bool:
    """fluidsynth and the Fluid R3 soundfont are installed; else says how to get them."""
    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        print("needs fluidsynth and the Fluid R3 soundfont: "
              "apt-get install fluidsynth fluid-soundfont-gm", file=sys.stderr)
        return False
    return True


def render(midi: Path, out: Path) -> None:
    """``midi`` rendered to ``out`` (a WAV at :data:`RATE`), reverb and chorus off,
    written under another name first so that an interrupted render leaves no file."""
    partial = out.with_suffix(".part.wav")
    subprocess.run(["fluidsynth", "-ni", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(RATE),
                    "-F", str(partial), str(SOUNDFONT), str(midi)], check=True, capture_output=True)
    partial.rename(out)


def render_one_shots(cache: Path, kits) -> None:
    """Every (kit, drum, velocity) one-shot as ``cache/KIT_DRUM_VEL.wav`` (skips those
    already there)."""
    cache.mkdir(parents=True, exist_ok=True)
    for kit in kits:
        for drum, note in NOTES.items():
            for velocity in VELOCITIES:
                out = cache / f"{kit}_{drum}_{velocity}.wav"
                if out.exists():
                    continue
                midi = cache / "one.mid"
                midi.write_bytes(_midi_file(KITS[kit], note, velocity))
                render(midi, out)


def _one_shot(cache: Path, kit: str, drum: str, velocity: int) -> np.ndarray:
    import soundfile as sf

    x, _ = sf.read(str(cache / f"{kit}_{drum}_{velocity}.wav"), dtype="float32", always_2d=True)
    return x.mean(axis=1)


def make_loop(cache: Path, kit: str, seed: int) -> np.ndarray:
    """Stems (kick, snare, hi-hat) of one loop, shape=(3, N), float32."""
    rng = np.random.default_rng(seed)
    step = 60 / rng.uniform(85, 125) / 4  # a 16th note, s
    bar_samples = int(32 * step * RATE)  # two bars
    hat_every = 2 if seed % 2 == 0 else 1
    pattern = []
    for s in range(32):
        beat = s % 16
        if beat in (0, 8) or (rng.random() < 0.15 and beat % 2 == 0):
            pattern.append((s, 0, "kick"))
        if beat in (4, 12) or rng.random() < 0.08:
            pattern.append((s, 1, "snare"))
        if s % hat_every == 0:
            drum = "hhopen" if rng.random() < 0.08 else ("hhpedal" if rng.random() < 0.1
                                                           else "hhclosed")
            pattern.append((s, 2, drum))
    repeats = 3
    stems = np.zeros((3, bar_samples * repeats + RATE), dtype=np.float32)
    for r in range(repeats):
        for s, source, drum in pattern:
            velocity = VELOCITIES[1] if rng.random() < 0.6 else VELOCITIES[0]
            hit = _one_shot(cache, kit, drum, velocity) * rng.uniform(0.8, 1.2)
            start = r * bar_samples + int(s * step * RATE)
            n = min(hit.size, stems.shape[1] - start)
            stems[source, start:start + n] += hit[:n]
    stems = stems[:, :bar_samples * repeats]
    return stems / np.abs(stems.sum(axis=0)).max() * 0.8


def _methods():
    from blind_peers import METHODS

    from nmfaudio import separate

    import nmfaudio.drums

    def without_drum_kit(mixture, n_sources, config):
        """The default before nmfaudio.drums: harmonic/percussive shares, or the timbre
        clustering where either class holds under a quarter of the energy."""
        threshold = nmfaudio.drums.MIN_PERCUSSIVE_ENERGY
        nmfaudio.drums.MIN_PERCUSSIVE_ENERGY = np.inf
        try:
            return separate(mixture, n_sources=n_sources).sources
        finally:
            nmfaudio.drums.MIN_PERCUSSIVE_ENERGY = threshold
    methods = dict(METHODS)
    methods["nmfaudio without the drum kit"] = without_drum_kit
    return methods


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kits", nargs="+", choices=sorted(KITS), default=list(KITS))
    parser.add_argument("--patterns", type=int, default=2)
    parser.add_argument("--rate", type=int, default=RATE,
                        help="sample rate of the loops (rendered at 44100, then resampled)")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "nmfaudio-drum-one-shots")
    parser.add_argument("--verbose", action="store_true", help="every loop's SDRs")
    args = parser.parse_args(argv)
    if not has_fluidsynth():
        return 2
    from blind_peers import score_best_permutation

    from nmfaudio.audio import Audio
    from nmfaudio.drums import percussive_energy
    from nmfaudio.harmonic import percussive_mask
    from nmfaudio.pipeline import blind_stft
    from nmfaudio.spectral import spectrogram, stft

    render_one_shots(args.cache, args.kits)
    config = blind_stft(args.rate)  # the peers run on our default STFT
    methods = _methods()
    scores = {name: [] for name in methods}
    seconds = {name: [] for name in methods}
    for i, kit in enumerate(args.kits):
        for j in range(args.patterns):
            stems = make_loop(args.cache, kit, 100 + i + 50 * j)
            if args.rate != RATE:
                import librosa

                stems = librosa.resample(stems, orig_sr=RATE, target_sr=args.rate,
                                         res_type="soxr_hq").astype(np.float32)
            mixture = Audio(stems.sum(axis=0)[None], args.rate)
            V = spectrogram(stft(mixture.samples, config))
            p, whole = percussive_energy(V, percussive_mask(V))
            line = [f"{kit}{j} (percussive {p / whole:.2f})"]
            for name, method in methods.items():
                try:
                    t0 = time.perf_counter()
                    estimates = method(mixture, 3, config)
                except ImportError:
                    continue
                if estimates is None:  # a two-source method
                    continue
                seconds[name].append(time.perf_counter() - t0)
                estimates = np.asarray(estimates)
                sdr = score_best_permutation(estimates, stems[:, None])
                scores[name].append(sdr)
                line.append(f"{name}: {np.round(sdr, 1)}")
            if args.verbose:
                print("  ".join(line), flush=True)
    print(f"\n{len(scores['nmfaudio (defaults)'])} loops at {args.rate} Hz, "
          f"{', '.join(args.kits)} kits; "
          "SDR in dB (kick, snare, hi-hat in the best permutation)\n")
    print("| method | mean of median | mean of worst | worst of worst | median s per loop |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in scores.items():
        if not rows:
            print(f"| {name} | not run (not installed, or makes 2 sources) | | | |")
            continue
        rows = np.array(rows)
        print(f"| {name} | {np.median(rows, axis=1).mean():.2f} | {rows.min(axis=1).mean():.2f} | "
              f"{rows.min():.2f} | {np.median(seconds[name]):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
