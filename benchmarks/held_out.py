"""Held-out mixtures: blind separation of recordings that are not the shared test clips,
at several sample rates, side by side with the peers of ``blind_peers.py``.

Usage::

    python benchmarks/held_out.py [--rates 8000 16000 22050 44100] [--seconds 20]
                                  [--mixtures speech+music ...] [--markdown]

Why
---
The shared tasks are six clips, and every choice of the blind model was checked against
them; a default tuned to them would not show there. These mixtures are built only from
the ``train/`` clips of ../shared/audio (never a test clip): B's speech and music, C's
speech and piano, A's piano, bass and drums, each excerpt scaled to the same RMS and
summed, so the mixture is exactly the sum of its stems. Each is scored at several rates
(stems resampled with soxr, as nmfaudio resamples), because the default STFT follows the
rate. Speech, B's music and C's piano are 8 kHz recordings: above 8 kHz they are
band-limited (nothing above 4 kHz), as a telephone recording in a 44.1 kHz file would be.

Scoring is ``bench_quality.py``'s blind table: BSS Eval v3 SDR in dB, whole signal,
estimates paired with the stems by the permutation of best mean SDR; median over sources
and the worst source. It reads ../shared/audio (or $NMFAUDIO_SHARED_AUDIO) and exits with
status 2, saying why, when that folder is missing. Nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: (name, stems): each stem is (task, clip, start in s) of a ``train/`` clip.
MIXTURES = {
    "speech+music": (("B_speech_music", "speech", 0), ("B_speech_music", "music", 0)),
    "speech+piano": (("C_speech_piano_supervised", "speech", 3),
                     ("C_speech_piano_supervised", "piano", 3)),
    "speech+piano (cross)": (("B_speech_music", "speech", 0),
                             ("C_speech_piano_supervised", "piano", 3)),
    "piano+drums": (("A_piano_bass_drums", "piano", 0), ("A_piano_bass_drums", "drums", 0)),
    "bass+drums": (("A_piano_bass_drums", "bass", 0), ("A_piano_bass_drums", "drums", 0)),
    "speech+drums": (("C_speech_piano_supervised", "speech", 3),
                     ("A_piano_bass_drums", "drums", 0)),
    "piano+bass+drums": (("A_piano_bass_drums", "piano", 0), ("A_piano_bass_drums", "bass", 0),
                         ("A_piano_bass_drums", "drums", 0)),
}
RATES = (8000, 16000, 22050, 44100)


def stem(folder: Path, task: str, clip: str, start: float, seconds: float, rate: int) -> np.ndarray:
    """A ``train/`` excerpt at ``rate``, mono, scaled to an RMS of 0.05: shape (1, N)."""
    from nmfaudio import audio as audio_io

    path = folder / task / "train" / f"{clip}.wav"
    recording = audio_io.load(path)
    a = int(round(start * recording.sample_rate))
    b = a + int(round(seconds * recording.sample_rate))
    samples = recording.samples[:1, a:b]
    if samples.shape[1] < int(0.9 * seconds * recording.sample_rate):
        raise SystemExit(f"held_out: {path} is shorter than {start + seconds:g} s; "
                         f"use a smaller --seconds")
    excerpt = audio_io.Audio(np.ascontiguousarray(samples), recording.sample_rate)
    if recording.sample_rate != rate:
        excerpt = audio_io.resample(excerpt, rate)
    x = excerpt.samples.astype(np.float64)
    return (x / np.sqrt(np.mean(x ** 2)) * 0.05).astype(np.float32)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", nargs="+", type=int, default=list(RATES), metavar="HZ")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--mixtures", nargs="+", default=None, metavar="NAME",
                        help=f"some of: {', '.join(MIXTURES)}")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from bench_quality import load_average, log, missing_extra, shared_audio_dir

    folder = shared_audio_dir()
    if not (folder / "A_piano_bass_drums" / "train").is_dir():
        print(f"held_out: {folder} has no train/ clips of the shared tasks (set "
              f"NMFAUDIO_SHARED_AUDIO to the shared audio folder). Nothing was measured.",
              file=sys.stderr)
        return 2
    names = args.mixtures or list(MIXTURES)
    unknown = [n for n in names if n not in MIXTURES]
    if unknown:
        print(f"held_out: unknown mixture(s) {', '.join(unknown)}; choose from "
              f"{', '.join(MIXTURES)}", file=sys.stderr)
        return 2
    if missing_extra("held_out", "mir_eval"):
        return 2
    from blind_peers import METHODS, run_blind

    from nmfaudio.audio import Audio

    rows = []
    for rate in args.rates:
        for name in names:
            stems = [stem(folder, *spec, args.seconds, rate) for spec in MIXTURES[name]]
            n = min(s.shape[1] for s in stems)
            references = np.stack([s[:, :n] for s in stems])
            log(f"{name} at {rate} Hz")
            results = run_blind(Audio(references.sum(axis=0), rate), references, log=lambda m: None)
            rows.append((rate, name, results))
    methods = list(METHODS)
    sep = " | " if args.markdown else "  "
    header = ["rate", "mixture"] + methods
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * 2 + "---:|" * len(methods))
    else:
        print(sep.join(header))
    best_count = dict.fromkeys(methods, 0)
    for rate, name, results in rows:
        medians = {m: float(np.median(r["sdr"])) for m, r in results.items() if "sdr" in r}
        winner = max(medians, key=medians.get)
        best_count[winner] += 1
        cells = []
        for m in methods:
            r = results[m]
            if "sdr" not in r:
                cells.append("-")
                continue
            sdr = np.asarray(r["sdr"])
            text = f"{np.median(sdr):.2f} ({sdr.min():.2f})"
            cells.append(f"**{text}**" if (m == winner and args.markdown) else text)
        line = [str(rate), name] + cells
        print(("| " + " | ".join(line) + " |") if args.markdown else sep.join(line))
    print()
    print("best median: " + ", ".join(f"{m} {c}/{len(rows)}" for m, c in best_count.items()))
    for m in methods:
        worst = [min(r[m]["sdr"]) for _, _, r in rows if "sdr" in r[m]]
        medians = [float(np.median(r[m]["sdr"])) for _, _, r in rows if "sdr" in r[m]]
        if medians:
            print(f"{m}: mean of median {np.mean(medians):.2f}, mean of worst {np.mean(worst):.2f} "
                  f"over {len(medians)} mixtures")
    print(f"load average: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
