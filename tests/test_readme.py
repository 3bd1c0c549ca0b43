"""The README's Python example runs as written (from the repository root)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no Python example"
    (tmp_path / "audio_fixtures").symlink_to(ROOT / "audio_fixtures")
    monkeypatch.chdir(tmp_path)  # the example writes keys.wav and drums.wav here
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["drums.wav", "keys.wav"]
    assert "(1025, 32) (32, 259)" in capsys.readouterr().out
