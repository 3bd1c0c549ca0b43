"""How far the blind drum kit is from what its model can do: the shared drum loops
separated by nmfaudio's defaults and by the same NMFD told each drum's true template.

Usage::

    python benchmarks/drum_ceiling.py [--tasks drums_808 drums_funky] [--n-fft N --hop H]

Rows, per task (median over the drums, and the worst, of BSS Eval v3 SDR in dB, best
permutation by mean SDR, as ``bench_quality.py``'s blind table):

- ``blind``: ``nmfaudio.separate(mixture, n_sources=3)``, every default (the drum kit of
  ``nmfaudio/drums.py`` where it takes the mixture; the row says which grouping ran);
- ``own templates, fixed``: :func:`nmfaudio.convolutive.nmfd` of the mixture with each
  drum's template fitted to its true stem alone (one component, the kit's template
  length) and held fixed: only the activations are learned. A cheat, and the ceiling
  of any start or prior of the templates: no drum-class prior knows a kit better than
  its own stems;
- ``own templates, learned``: the same templates as the start, then learned from the
  mixture with the activations (what the blind kit does from its register bands);
- ``oracle Wiener mask``: the true stems' magnitudes, squared and normalised, as masks:
  the ceiling of any mask on this STFT.

The kit's masks (:func:`nmfaudio.drums.drum_kit_masks`, exponent 2), iterations (300,
stopping at 1e-3) and seed (0) are the blind defaults'. The STFT is the blind default
for the rate and length (``nmfaudio.pipeline.blind_stft``) unless ``--n-fft`` is given.
Reads ../shared/audio (or $NMFAUDIO_SHARED_AUDIO) and exits with status 2, saying why,
when it is missing or mir_eval is not installed. Nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TASKS = ("drums_808", "drums_funky")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), metavar="TASK")
    parser.add_argument("--n-fft", type=int, default=None)
    parser.add_argument("--hop", type=int, default=None, help="default: n_fft / 4")
    return parser.parse_args(argv)


def rows_for(folder: Path, task: str, n_fft, hop) -> list:
    """[(row name, SDR per drum or None, note)] for one task."""
    from bench_quality import load_task
    from blind_peers import score_best_permutation

    from nmfaudio import separate
    from nmfaudio.convolutive import nmfd
    from nmfaudio.drums import drum_kit_masks, template_frames
    from nmfaudio.pipeline import (DEFAULT_MASK_POWER, DEFAULT_N_ITER, DEFAULT_TOL,
                                   DEFAULT_TOL_UNSUPERVISED, blind_stft)
    from nmfaudio.spectral import STFTConfig, istft, spectrogram, stft

    _, names, mixture, references = load_task(folder / task)
    rate, length = mixture.sample_rate, mixture.n_samples
    config = (blind_stft(rate, length) if n_fft is None
              else STFTConfig(n_fft=n_fft, hop_length=hop or max(n_fft // 4, 1)))
    rows = []
    if n_fft is None:
        blind = separate(mixture, n_sources=len(names))
        rows.append(("blind", score_best_permutation(np.asarray(blind.sources), references),
                     f"grouping {blind.grouping}"))
    X = stft(mixture.samples, config)
    V = spectrogram(X)
    L = min(template_frames(rate, config.hop_length), V.shape[1])
    # each stem's own template, fitted as closely as a dictionary is (the supervised tol)
    own = np.concatenate([nmfd(spectrogram(stft(r, config)), 1, L, n_iter=DEFAULT_N_ITER,
                               tol=DEFAULT_TOL, seed=0).templates for r in references], axis=1)

    def kit_sources(fixed: bool) -> np.ndarray:
        fit = nmfd(V, len(names), L, templates=own, fixed_templates=fixed,
                   n_iter=DEFAULT_N_ITER, tol=DEFAULT_TOL_UNSUPERVISED, seed=0)
        masks = drum_kit_masks(fit.templates, lambda a, b: fit.activations[:, a:b], 0,
                               V.shape[1], power=DEFAULT_MASK_POWER)
        return istft(masks[:, None] * X[None], config, length=length)

    rows.append(("own templates, fixed", score_best_permutation(kit_sources(True), references), ""))
    rows.append(("own templates, learned", score_best_permutation(kit_sources(False), references), ""))
    power = np.stack([np.abs(stft(r, config)) ** 2 for r in references])
    masks = power / np.maximum(power.sum(axis=0), np.finfo(np.float32).tiny)
    oracle = istft(masks * X[None], config, length=length)
    rows.append(("oracle Wiener mask", score_best_permutation(oracle, references), ""))
    return [(f"{task} ({config.n_fft} / {config.hop_length})", *row) for row in rows]


def main(argv=None) -> int:
    args = parse_args(argv)
    from bench_quality import missing_extra, shared_audio_dir

    folder = shared_audio_dir()
    missing = [t for t in args.tasks if not (folder / t / "task.json").is_file()]
    if missing:
        print(f"drum_ceiling: {folder} has no task {', '.join(missing)} (set "
              f"NMFAUDIO_SHARED_AUDIO to the shared audio folder). Nothing was measured.",
              file=sys.stderr)
        return 2
    if missing_extra("drum_ceiling", "mir_eval"):
        return 2
    print("| task (n_fft / hop) | model | median | worst | per drum | note |")
    print("|---|---|---:|---:|---|---|")
    for task in args.tasks:
        for label, name, sdr, note in rows_for(folder, task, args.n_fft, args.hop):
            per = ", ".join(f"{x:.2f}" for x in sdr)
            print(f"| {label} | {name} | {np.median(sdr):.2f} | {sdr.min():.2f} | {per} | {note} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
