"""The scripts in examples/ run as documented. (How long they take is not asserted here: the
machine may be loaded; the benchmarks measure time.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import soundfile as sf

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done


def test_unsupervised_drums(tmp_path):
    done = run("unsupervised_drums.py", tmp_path)
    names = sorted(p.name for p in (tmp_path / "out" / "drums").glob("*.wav"))
    assert names == ["high.wav", "low.wav", "mid.wav"]
    assert "components" in done.stdout


def test_supervised_dictionaries(tmp_path):
    done = run("supervised_dictionaries.py", tmp_path)
    folder = tmp_path / "out" / "supervised"
    assert sorted(p.name for p in folder.iterdir()) == ["drums.npz", "drums.wav", "keys.npz", "keys.wav"]
    info = sf.info(folder / "keys.wav")
    assert (info.samplerate, info.channels, info.frames) == (22050, 1, 132300)
    assert "median" in done.stdout  # the score table


def test_plot_decomposition(tmp_path):
    run("plot_decomposition.py", tmp_path)  # OUT.png is given as tmp_path/out
    assert (tmp_path / "out").read_bytes()[:4] == b"\x89PNG"
