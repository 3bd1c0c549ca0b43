"""Unsupervised separation of a drum loop into kick, snare and hi-hat.

No training material: NMF learns 16 components from the loop itself and groups them
into three sources by spectral envelope and timing; sources come out ordered from low
to high (kick, snare, hi-hat). Uses the drum loop of ../shared/audio/drums_808 when it is
there, else the synthetic example that ships with nmfaudio.

    python examples/unsupervised_drums.py [OUTDIR]
"""

import sys
from pathlib import Path

import nmfaudio

HERE = Path(__file__).resolve().parent
loop = HERE.parents[1] / "shared" / "audio" / "drums_808" / "mixture.wav"
if not loop.exists():
    loop = HERE.parent / "audio_fixtures" / "example" / "mixture.wav"
out = Path(sys.argv[1] if len(sys.argv) > 1 else "separated_examples") / "drums"
out.mkdir(parents=True, exist_ok=True)

result = nmfaudio.separate(loop, n_sources=3, source_names=["low", "mid", "high"])
print(f"{loop.name}: {result.nmf.n_components} components, {result.nmf.n_iter} iterations")
for name, group, signal in zip(result.source_names, result.groups, result.sources):
    path = nmfaudio.save(out / f"{name}.wav", signal, result.sample_rate, overwrite=True).path
    print(f"  {name:5s} components {group.tolist()} -> {path}")
