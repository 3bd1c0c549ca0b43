"""Held-out pitched mixtures: blind separation of General MIDI instruments that are not
in ../shared/audio, side by side with the peers of ``blind_peers.py``.

Usage::

    python benchmarks/rendered_mixtures.py [--seeds 2] [--rate 22050] [--cache DIR]
                                           [--pans P ...] [--markdown] [--verbose]

Needs the Debian packages ``fluidsynth`` and ``fluid-soundfont-gm`` (``apt-get install
fluidsynth fluid-soundfont-gm``; the script says so and exits with status 2 without
them). Nothing is downloaded and nothing is written into the project.

What it does
------------
1. Writes, per seed, a four-bar chord progression in a random key at 80 to 120 bpm and
   one part per role on it: a bass line (roots and fifths, E1 to D#2), chords (three or
   four notes from C3 to C4, on every beat or held for the bar) and a melody (chord
   tones and passing notes, C5 to B6, eighths and quarters). The parts share the
   harmony and the beat, as the instruments of a song do.
2. Renders each part with a General MIDI instrument of the Fluid R3 soundfont (MIT
   licence), reverb and chorus off, 44.1 kHz, each part in its own file (its stem);
   the drum parts are the loops of ``drum_loops.py``. The mixture is the sum of the
   stems, each at the same RMS, resampled (soxr, as nmfaudio resamples) to ``--rate``.
3. Separates each mixture into its number of stems with every method and scores it like
   ``bench_quality.py``'s blind table (BSS Eval v3 SDR, best permutation by mean SDR).
   With ``--pans`` the stems are panned to stereo, scored with ``bss_eval_images``, and
   ours runs twice: with its defaults (spatial masks, where the fitted directions are
   distinct) and with ``channel_masks="shared"`` (one mask for both channels, the CLI's
   ``--channel-masks shared``), the column "nmfaudio (shared masks)".

The mixtures cover what the shared tasks do not: two pitched instruments without drums
(the case the harmonic/percussive split cannot help with), pitched instruments other
than piano and bass, and pitched + drums at other timbres, two and three at a time.
Some defaults were chosen with them in view (the register split of pitched-only
mixtures, the carried-share rule, the 80 ms frame, 32 components for three sources);
the README's Quality section says which and by how much.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drum_loops import RATE, has_fluidsynth, make_loop, render, render_one_shots  # noqa: E402

#: General MIDI programs (0-based) of the instruments used.
PROGRAMS = {"piano": 0, "epiano": 4, "organ": 16, "guitar": 24, "bass": 33, "strings": 48,
            "trumpet": 56, "sax": 65, "flute": 73}
#: Mixtures: name -> parts, each (instrument, role) or ("drums", kit).
MIXTURES = {
    "piano chords + bass": (("piano", "chords"), ("bass", "bass")),
    "flute melody + guitar chords": (("flute", "melody"), ("guitar", "chords")),
    "sax melody + piano chords": (("sax", "melody"), ("piano", "chords")),
    "strings chords + bass": (("strings", "chords"), ("bass", "bass")),
    "trumpet melody + organ chords": (("trumpet", "melody"), ("organ", "chords")),
    "epiano chords + drums": (("epiano", "chords"), ("drums", "standard")),
    "guitar chords + drums": (("guitar", "chords"), ("drums", "room")),
    "flute melody + drums": (("flute", "melody"), ("drums", "jazz")),
    "piano + bass + drums": (("piano", "chords"), ("bass", "bass"), ("drums", "power")),
    "sax + strings + bass": (("sax", "melody"), ("strings", "chords"), ("bass", "bass")),
    # A band of three, a pitched pair over each drum kit: the shape of A_piano_bass_drums
    # with other timbres (what a user's trio or band recording is likelier to be).
    "epiano + bass + drums": (("epiano", "chords"), ("bass", "bass"), ("drums", "standard")),
    "guitar + bass + drums": (("guitar", "chords"), ("bass", "bass"), ("drums", "room")),
    "organ + bass + drums": (("organ", "chords"), ("bass", "bass"), ("drums", "jazz")),
    "trumpet + bass + drums": (("trumpet", "melody"), ("bass", "bass"), ("drums", "standard")),
    "sax + piano + drums": (("sax", "melody"), ("piano", "chords"), ("drums", "brush")),
    "flute + guitar + drums": (("flute", "melody"), ("guitar", "chords"), ("drums", "electronic")),
}
TICKS = 480  # per quarter note
MAJOR = (0, 2, 4, 5, 7, 9, 11)
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 4), (0, 4, 5, 3), (5, 3, 0, 4))  # degrees: I vi IV V ...


def _delta(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def midi_file(program: int, notes, bpm: float) -> bytes:
    """A format-0 MIDI file on channel 1: tempo, program, then ``notes`` (start tick,
    length in ticks, pitch, velocity)."""
    events = []
    for start, length, pitch, velocity in notes:
        events.append((start, 1, pitch, velocity))
        events.append((start + length, 0, pitch, 0))
    events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at one tick
    tempo = int(round(60e6 / bpm))
    data = (_delta(0) + b"\xff\x51\x03" + tempo.to_bytes(3, "big")
            + _delta(0) + bytes([0xC0, program]))
    now = 0
    for tick, on, pitch, velocity in events:
        data += _delta(tick - now) + bytes([0x90 if on else 0x80, pitch, velocity])
        now = tick
    data += _delta(TICKS) + b"\xff\x2f\x00"
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS)
            + b"MTrk" + struct.pack(">I", len(data)) + data)


def song(seed: int) -> dict:
    """The parts of one seed: {"bpm": float, "bass"|"chords"|"melody": notes}."""
    rng = np.random.default_rng(seed)
    key = int(rng.integers(0, 12))
    bpm = float(rng.uniform(80, 120))
    progression = PROGRESSIONS[seed % len(PROGRESSIONS)]
    bar = 4 * TICKS
    parts = {"bass": [], "chords": [], "melody": []}
    held = rng.random() < 0.5
    for b, degree in enumerate(progression * 2):  # eight bars
        root = key + MAJOR[degree]
        triad = [root + MAJOR[(degree + i) % 7] - MAJOR[degree] + 12 * ((degree + i) // 7)
                 for i in (0, 2, 4)]
        t0 = b * bar
        for beat in range(4):  # bass: root on 1 and 3, fifth or root elsewhere
            pitch = 28 + (triad[0] if beat % 2 == 0 else triad[2]) % 12
            parts["bass"].append((t0 + beat * TICKS, TICKS - 40, pitch,
                                  int(rng.integers(80, 110))))
        chord = [48 + (p % 12) for p in triad] + ([60 + triad[0] % 12] if rng.random() < 0.5 else [])
        if held:
            parts["chords"] += [(t0, bar - 60, p, 70) for p in chord]
        else:
            for beat in range(4):
                parts["chords"] += [(t0 + beat * TICKS, TICKS - 60, p,
                                     int(rng.integers(60, 90))) for p in chord]
        t = 0
        while t < bar:  # melody: eighths and quarters on chord tones, some passing notes
            length = TICKS // 2 if rng.random() < 0.6 else TICKS
            if rng.random() < 0.1:  # a rest
                t += length
                continue
            tones = triad if rng.random() < 0.75 else [key + MAJOR[int(rng.integers(0, 7))]]
            pitch = 72 + int(rng.choice(tones)) % 12 + (12 if rng.random() < 0.2 else 0)
            parts["melody"].append((t0 + t, length - 20, pitch, int(rng.integers(70, 110))))
            t += length
    parts["bpm"] = bpm
    return parts


def render_part(cache: Path, instrument: str, role: str, seed: int) -> np.ndarray:
    """One part of one seed as a mono float32 stem at 44.1 kHz (cached)."""
    import soundfile as sf

    out = cache / f"{instrument}_{role}_{seed}.wav"
    if not out.exists():
        parts = song(seed)
        midi = cache / "part.mid"
        midi.write_bytes(midi_file(PROGRAMS[instrument], parts[role], parts["bpm"]))
        render(midi, out)
    x, _ = sf.read(str(out), dtype="float32", always_2d=True)
    return x.mean(axis=1)


def stems_of(cache: Path, parts, seed: int, rate: int) -> np.ndarray:
    """The stems of one mixture, shape=(S, 1, N), float32, each at an RMS of 0.05."""
    stems = []
    for i, (instrument, role) in enumerate(parts):
        if instrument == "drums":
            render_one_shots(cache, [role])
            x = make_loop(cache, role, 200 + seed).sum(axis=0)
        else:
            x = render_part(cache, instrument, role, seed)
        stems.append(x)
    n = min(len(x) for x in stems)
    stems = np.stack([x[:n] for x in stems]).astype(np.float64)
    if rate != RATE:
        import librosa

        stems = librosa.resample(stems, orig_sr=RATE, target_sr=rate, res_type="soxr_hq")
    stems /= np.sqrt(np.mean(stems ** 2, axis=1, keepdims=True))
    return (0.05 * stems[:, None, :]).astype(np.float32)


def panned(stems: np.ndarray, pans) -> np.ndarray:
    """Mono stems, shape=(S, 1, N), panned to stereo by constant power: shape=(S, 2, N),
    ``pans[s]`` from -1 (left) to 1 (right); each stem keeps its power."""
    angles = (np.asarray(pans, dtype=np.float64) + 1.0) * (np.pi / 4)
    gains = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (S, 2)
    return (gains[:, :, None] * stems).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="songs per mixture")
    parser.add_argument("--rate", type=int, default=22050)
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "nmfaudio-rendered-parts")
    parser.add_argument("--mixtures", nargs="+", default=None, metavar="NAME",
                        help=f"some of: {'; '.join(MIXTURES)}")
    parser.add_argument("--pans", type=float, nargs="+", default=None, metavar="P",
                        help="stereo: pan each part by constant power, -1 (left) to 1 "
                             "(right), one value per part; only mixtures of that many parts. "
                             "Adds a column: ours with channel_masks='shared'")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="every mixture's SDRs")
    args = parser.parse_args(argv)
    if not has_fluidsynth():
        return 2
    names = args.mixtures or [n for n, parts in MIXTURES.items()
                              if args.pans is None or len(parts) == len(args.pans)]
    unknown = [n for n in names if n not in MIXTURES]
    if unknown:
        print(f"rendered_mixtures: unknown mixture(s) {unknown}", file=sys.stderr)
        return 2
    if args.pans is not None:
        wrong = [n for n in names if len(MIXTURES[n]) != len(args.pans)]
        if wrong or not all(-1 <= p <= 1 for p in args.pans) or not names:
            print(f"rendered_mixtures: --pans needs one value from -1 to 1 per part of each "
                  f"mixture; {len(args.pans)} given, mixtures {wrong or names}", file=sys.stderr)
            return 2
    from blind_peers import METHODS, ours_shared_masks, run_blind

    from nmfaudio.audio import Audio

    args.cache.mkdir(parents=True, exist_ok=True)
    contenders = dict(METHODS)
    if args.pans is not None:  # stereo: also ours grouped as one channel, beside ours
        ours = "nmfaudio (defaults)"
        contenders = {ours: METHODS[ours], "nmfaudio (shared masks)": ours_shared_masks,
                      **METHODS}
    methods = list(contenders)
    rows = []
    for name in names:
        per_seed = []
        for seed in range(args.seeds):
            references = stems_of(args.cache, MIXTURES[name], seed, args.rate)
            if args.pans is not None:
                references = panned(references, args.pans)
            results = run_blind(Audio(references.sum(axis=0), args.rate), references,
                                log=lambda m: None, methods=contenders)
            per_seed.append(results)
            if args.verbose:
                print(f"{name} seed {seed}: " + "; ".join(
                    f"{m} {np.round(r['sdr'], 2)}" for m, r in results.items() if "sdr" in r),
                    flush=True)
        rows.append((name, per_seed))
    sep = " | " if args.markdown else "  "
    if args.markdown:
        stereo = "" if args.pans is None else f", panned {' '.join(f'{p:g}' for p in args.pans)}"
        print(f"| mixture ({args.seeds} songs, {args.rate} Hz{stereo}) | "
              + " | ".join(methods) + " |")
        print("|---|" + "---:|" * len(methods))
    else:
        print(sep.join(["mixture"] + methods))
    best = dict.fromkeys(methods, 0)
    means = {m: [] for m in methods}
    for name, per_seed in rows:
        cells, medians = [], {}
        for m in methods:
            scores = [r[m]["sdr"] for r in per_seed if "sdr" in r[m]]
            if not scores:
                cells.append("-")
                continue
            median = float(np.mean([np.median(s) for s in scores]))
            worst = float(np.mean([np.min(s) for s in scores]))
            medians[m] = median
            means[m].append((median, worst))
            cells.append(f"{median:.2f} ({worst:.2f})")
        winner = max(medians, key=medians.get)
        best[winner] += 1
        if args.markdown:
            cells = [f"**{c}**" if m == winner else c for m, c in zip(methods, cells)]
        line = [name] + cells
        print(("| " + " | ".join(line) + " |") if args.markdown else sep.join(line))
    print()
    print("mean over seeds of the median SDR (of the worst source), dB; best median: "
          + ", ".join(f"{m} {n}/{len(rows)}" for m, n in best.items()))
    for m, values in means.items():
        if values:
            values = np.array(values)
            print(f"{m}: mean of median {values[:, 0].mean():.2f}, mean of worst "
                  f"{values[:, 1].mean():.2f} over {len(values)} mixtures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
