"""The README's Python examples run as written (from the repository root): the API in
ten lines, and the research API (separate_stft, separate on an array, NMF with
librosa.decompose, one plot panel on your own Axes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no Python example"
    (tmp_path / "audio_fixtures").symlink_to(ROOT / "audio_fixtures")
    monkeypatch.chdir(tmp_path)  # the example writes keys.wav and drums.wav here
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["drums.wav", "keys.wav"]
    assert "(2049, 32) (32, 130)" in capsys.readouterr().out  # the keys dictionary's 200 ms STFT


@pytest.mark.slow  # three separations and a decomposition of the 6 s example
def test_readme_research_example_runs(tmp_path, monkeypatch, capsys):
    import numpy as np
    from matplotlib.figure import Figure

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    research = [block for block in blocks if "separate_stft" in block]
    assert len(research) == 1, "the README's research example is missing"
    (tmp_path / "audio_fixtures").symlink_to(ROOT / "audio_fixtures")
    monkeypatch.chdir(tmp_path)
    names = {}
    exec(compile(research[0], "README.md", "exec"), names)
    X, sep = names["X"], names["sep"]
    assert sep.source_stfts.shape == (2,) + X.shape == sep.applied_masks.shape
    error = np.linalg.norm(sep.source_stfts.sum(axis=0) - X) / np.linalg.norm(X)
    assert error < 1e-5
    assert names["signals"].shape == (2,) + names["y"].shape == (2, 1, 132300)
    assert names["W"].shape == (X.shape[1], 16) and names["H"].shape == (16, X.shape[2])
    assert isinstance(names["fig"], Figure) and len(names["fig"].axes) == 2  # panel + bar
    assert "(2, 1, 1025, 259) (2, 1, 1025, 259)" in capsys.readouterr().out

    # the same lines with a stereo file: soundfile's (N, C) becomes channels first
    stereo = research[0].replace("example/mixture.wav", "stereo/mixture.wav")
    assert stereo != research[0]
    names = {}
    exec(compile(stereo, "README.md", "exec"), names)
    X, signals = names["X"], names["signals"]
    assert X.shape[0] == 2 and signals.shape == (2, 2, names["y"].shape[-1])
