"""Held-out supervised separation: dictionaries learned from one part of a recording,
mixtures made of another, side by side with a scikit-learn + librosa pipeline.

Usage::

    python benchmarks/held_out_supervised.py [--rates HZ ...] [--rendered] [--rate 44100]
                                             [--cache DIR] [--markdown]

Why
---
The supervised defaults (48 templates per source, sparsity 0.2 while learning and 0.3
while separating, the dictionary's STFT) must hold on recordings that are not the shared
test clips. The mixtures here are built only from the ``train/`` clips of
../shared/audio: each clip is cut in two halves; the dictionaries are learned from one
half of every source and the mixture is the sum of the other halves (each at the same
RMS), then the halves swap (two folds). The pairs: B's speech and music, C's speech and
piano, the two cross pairs (C's speech over B's music, B's speech over C's piano), all
8 kHz, and A's piano, bass and drums (22.05 kHz), or all of them resampled to each of
``--rates`` (above 8 kHz the speech, music and C's piano are band-limited, as a phone
recording in a 44.1 kHz file would be). With ``--rendered`` (needs ``apt-get
install fluidsynth fluid-soundfont-gm``), the ten mixtures of
``rendered_mixtures.py`` too, at ``--rate``: the dictionaries learned from the stems of
one seeded song, the mixture of another song with the same instruments.

Methods, each on the same training and the same mixture:

- ``nmfaudio (defaults)``: ``learn_dictionary(clip, 48, name=...)`` per source, then
  ``separate(mixture, dictionaries=...)``, every other setting at its default (frames
  of about 200 ms, :func:`nmfaudio.dictionary.dictionary_stft`);
- ``nmfaudio, 64 ms frames``: the same with frames of about 64 ms, a power of two
  (:meth:`STFTConfig.for_sample_rate`; the blind default before ``blind_stft``, 46 ms
  at 22.05 and 44.1 kHz);
- ``nmfaudio, 2048 points``: the same with a fixed 2048 / 512 STFT (the default before);
- ``librosa + sklearn NMF``: the glue a researcher writes: scikit-learn's KL NMF (``mu``
  solver, 300 iterations, the same number of templates) of each source's magnitude
  spectrogram (``librosa.stft``, the defaults' STFT), the mixture's activations by
  ``non_negative_factorization`` with the templates fixed, Wiener-like masks of power 2
  (``librosa.util.softmask`` for two sources) and ``librosa.istft``.

Scoring: BSS Eval v3 (``nmfaudio.evaluate``, mir_eval), each estimate against its own
source (supervised outputs are named); median over sources and the worst source, SDR in
dB. It reads ../shared/audio (or $NMFAUDIO_SHARED_AUDIO) and exits with status 2, saying
why, when that folder is missing. Nothing is written into the project.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: (name, clips): each clip is (task, source) of a ``train/`` recording.
PAIRS = {
    "speech+music": (("B_speech_music", "speech"), ("B_speech_music", "music")),
    "speech+piano": (("C_speech_piano_supervised", "speech"), ("C_speech_piano_supervised", "piano")),
    "speech (C) + music (B)": (("C_speech_piano_supervised", "speech"), ("B_speech_music", "music")),
    "speech (B) + piano (C)": (("B_speech_music", "speech"), ("C_speech_piano_supervised", "piano")),
    "piano+bass+drums": (("A_piano_bass_drums", "piano"), ("A_piano_bass_drums", "bass"),
                         ("A_piano_bass_drums", "drums")),
}
#: Templates per source, as the CLI's ``learn`` default.
N_TEMPLATES = 48
METHODS = ("nmfaudio (defaults)", "nmfaudio, 64 ms frames", "nmfaudio, 2048 points",
           "librosa + sklearn NMF")


def rms_scaled(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return (x / np.sqrt(np.mean(x ** 2)) * 0.05).astype(np.float32)


def train_cases(folder: Path, rate=None):
    """(group, name, training clips [(1, N) each], references (S, 1, N), rate) for both
    folds, at the clips' own rates or resampled to ``rate``."""
    from nmfaudio import audio as audio_io

    for name, clips in PAIRS.items():
        recordings = [audio_io.load(folder / task / "train" / f"{source}.wav", sample_rate=rate)
                      for task, source in clips]
        n = min(r.n_samples for r in recordings)
        halves = [(0, n // 2), (n // 2, n)]
        for fold, (learn, test) in enumerate([(0, 1), (1, 0)]):
            a, b = halves[learn]
            c, d = halves[test]
            training = [r.samples[:1, a:b] for r in recordings]
            references = np.stack([rms_scaled(r.samples[:1, c:d]) for r in recordings])
            yield f"train/ halves{'' if rate is None else f', {rate} Hz'}", \
                f"{name}, fold {fold + 1}", training, references, recordings[0].sample_rate


def rendered_cases(cache: Path, rate: int):
    """The same for the rendered songs: learn from seed a's stems, separate seed b's mixture."""
    import rendered_mixtures as rm

    for name, parts in rm.MIXTURES.items():
        stems = {seed: rm.stems_of(cache, parts, seed, rate) for seed in (0, 1)}
        for learn, test in ((0, 1), (1, 0)):
            yield "rendered songs", f"{name}, fold {learn + 1}", list(stems[learn]), stems[test], rate


def ours(training, mixture, rate, stft_config=None) -> np.ndarray:
    import nmfaudio
    from nmfaudio.audio import Audio

    dictionaries = [nmfaudio.learn_dictionary(Audio(np.ascontiguousarray(x), rate), N_TEMPLATES,
                                              name=f"source{i}", stft_config=stft_config)
                    for i, x in enumerate(training)]
    return nmfaudio.separate(Audio(mixture, rate), dictionaries=dictionaries).sources


def sklearn_glue(training, mixture, rate) -> np.ndarray:
    """scikit-learn's KL NMF for the templates and the activations, librosa for the rest."""
    import librosa
    from sklearn.decomposition import NMF, non_negative_factorization

    from nmfaudio.dictionary import dictionary_stft

    config = dictionary_stft(rate)
    stft = dict(n_fft=config.n_fft, hop_length=config.hop_length)
    templates = []
    for x in training:
        S = np.abs(librosa.stft(x[0], **stft))
        model = NMF(N_TEMPLATES, beta_loss="kullback-leibler", solver="mu", max_iter=300,
                    init="nndsvda", random_state=0)
        model.fit(S.T)  # samples are frames
        templates.append(model.components_)  # (K, F)
    X = librosa.stft(mixture[0], **stft)
    components = np.concatenate(templates).astype(np.float64)
    activations, _, _ = non_negative_factorization(
        np.abs(X).T.astype(np.float64), H=components, n_components=components.shape[0],
        update_H=False, beta_loss="kullback-leibler", solver="mu", max_iter=300)
    models, k = [], 0
    for t in templates:
        models.append((activations[:, k:k + len(t)] @ t).T)  # (F, T)
        k += len(t)
    # Wiener-like masks of power 2 that sum to one over the sources, as ours (for two
    # sources this is librosa.util.softmask(model, other, power=2))
    powered = np.stack(models) ** 2
    total = powered.sum(axis=0)
    masks = np.where(total > 0, powered / np.where(total > 0, total, 1.0), 1.0 / len(models))
    return np.stack([librosa.istft(m * X, hop_length=config.hop_length, length=mixture.shape[-1])
                     for m in masks])[:, None]


def run_case(training, references, rate) -> dict:
    from nmfaudio import evaluate
    from nmfaudio.spectral import STFTConfig

    mixture = references.sum(axis=0)
    estimates = {
        METHODS[0]: ours(training, mixture, rate),
        METHODS[1]: ours(training, mixture, rate, STFTConfig.for_sample_rate(rate)),
        METHODS[2]: ours(training, mixture, rate, STFTConfig(n_fft=2048, hop_length=512)),
        METHODS[3]: sklearn_glue(training, mixture, rate),
    }
    return {m: np.asarray(evaluate(np.asarray(e, dtype=np.float32), references).sdr)
            for m, e in estimates.items()}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--rates", nargs="+", type=int, default=None, metavar="HZ",
                        help="resample the train/ clips to these rates [default: their own, "
                             "8 and 22.05 kHz]")
    parser.add_argument("--rendered", action="store_true",
                        help="also the rendered songs of rendered_mixtures.py (needs fluidsynth)")
    parser.add_argument("--rate", type=int, default=44100, help="the rendered songs' rate")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "nmfaudio-rendered-parts",
                        help="where the rendered parts are kept between runs")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from bench_quality import load_average, log, missing_extra, shared_audio_dir

    folder = shared_audio_dir()
    if not (folder / "B_speech_music" / "train").is_dir():
        print(f"held_out_supervised: {folder} has no train/ clips of the shared tasks (set "
              "NMFAUDIO_SHARED_AUDIO to the shared audio folder). Nothing was measured.",
              file=sys.stderr)
        return 2
    if missing_extra("held_out_supervised", "mir_eval", "sklearn", extra="bench"):
        return 2
    cases = [case for rate in (args.rates or [None]) for case in train_cases(folder, rate)]
    if args.rendered:
        from drum_loops import has_fluidsynth

        if not has_fluidsynth():
            print("held_out_supervised: --rendered needs fluidsynth and fluid-soundfont-gm "
                  "(apt-get install fluidsynth fluid-soundfont-gm)", file=sys.stderr)
            return 2
        args.cache.mkdir(parents=True, exist_ok=True)
        cases += list(rendered_cases(args.cache, args.rate))
    rows = []
    for group, name, training, references, rate in cases:
        log(f"{name} at {rate} Hz")
        rows.append((group, rate, name, run_case(training, references, rate)))
    print_table(rows, markdown=args.markdown)
    print(f"\n(load average {load_average()})")
    return 0


def print_table(rows, *, markdown: bool) -> None:
    header = ["rate", "mixture"] + list(METHODS)
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * 2 + "---:|" * len(METHODS))
    else:
        print("  ".join(header))
    for _, rate, name, scores in rows:
        best = max(METHODS, key=lambda m: float(np.median(scores[m])))
        cells = []
        for m in METHODS:
            text = f"{np.median(scores[m]):.2f} ({scores[m].min():.2f})"
            cells.append(f"**{text}**" if (markdown and m == best) else text)
        line = [str(rate), name] + cells
        print(("| " + " | ".join(line) + " |") if markdown else "  ".join(line))
    for group in dict.fromkeys(r[0] for r in rows):
        chosen = [r[3] for r in rows if r[0] == group]
        means = []
        for m in METHODS:
            med = np.mean([np.median(scores[m]) for scores in chosen])
            worst = np.mean([scores[m].min() for scores in chosen])
            means.append(f"{med:.2f} ({worst:.2f})")
        line = ["", f"mean, {group} ({len(chosen)})"] + means
        print(("| " + " | ".join(line) + " |") if markdown else "  ".join(line))


if __name__ == "__main__":
    sys.exit(main())
