"""Draw the figure of a decomposition: mixture spectrogram, templates grouped by source,
activations over time, and each separated source's spectrogram.

    python examples/plot_decomposition.py [OUT.png]
"""

import sys
from pathlib import Path

import nmfaudio
from nmfaudio.plot import plot_separation, save_figure

EXAMPLE = Path(__file__).resolve().parents[1] / "audio_fixtures" / "example"
out = Path(sys.argv[1] if len(sys.argv) > 1 else "separated_examples/decomposition.png")
out.parent.mkdir(parents=True, exist_ok=True)

result = nmfaudio.separate(EXAMPLE / "mixture.wav", n_sources=2, source_names=["low", "high"])
figure = plot_separation(result, title="Unsupervised NMF of the example mixture")
print("wrote", save_figure(figure, out, overwrite=True))
