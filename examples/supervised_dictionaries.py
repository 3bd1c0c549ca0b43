"""Supervised separation with dictionaries learned from training recordings.

Learns 48 templates per source from recordings of each source alone, separates a
mixture with the templates fixed, and scores the result against the true stems (SDR,
SIR, SAR, SI-SDR beside the mixture-as-estimate baseline). Uses the synthetic keys +
drums example that ships in audio_fixtures/.

    python examples/supervised_dictionaries.py [OUTDIR]
"""

import sys
from pathlib import Path

import numpy as np

import nmfaudio

EXAMPLE = Path(__file__).resolve().parents[1] / "audio_fixtures" / "example"
out = Path(sys.argv[1] if len(sys.argv) > 1 else "separated_examples") / "supervised"
out.mkdir(parents=True, exist_ok=True)

dictionaries = [
    nmfaudio.learn_dictionary(EXAMPLE / "train" / f"{name}.wav", 48, name=name)
    for name in ("keys", "drums")
]
for dictionary in dictionaries:
    print("learned", dictionary, "->", dictionary.save(out / f"{dictionary.name}.npz", overwrite=True))

result = nmfaudio.separate(EXAMPLE / "mixture.wav", dictionaries=dictionaries)
for name, signal in zip(result.source_names, result.sources):
    nmfaudio.save(out / f"{name}.wav", signal, result.sample_rate, overwrite=True)

references = np.stack([nmfaudio.load(EXAMPLE / "sources" / f"{n}.wav").samples for n in result.source_names])
mixture = nmfaudio.load(EXAMPLE / "mixture.wav").samples
scores = nmfaudio.evaluate(result.sources[:, 0], references[:, 0], names=result.source_names,
                           mixture=mixture[0])
print(scores.table())
