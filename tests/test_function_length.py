"""No function in the package is over 100 lines (issue 8), measured by
tools/long_functions.py (def to last line, docstring included)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "long_functions.py"
LIMIT = 100

def _tool():
    spec = importlib.util.spec_from_file_location("long_functions", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tool_measures_spans(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.py").write_text("def f():\n" + "    pass\n" * 101)
    (tmp_path / "m.py").write_text(
        "def short():\n    return 1\n\n\nclass C:\n    def method(self):\n"
        + "        x = 1\n" * 120 + "        return x\n")
    lengths = {name: lines for _, name, lines in _tool().function_lengths(tmp_path)}
    assert lengths == {"short": 2, "C.method": 122, "f": 102}
    assert [(module, name) for module, name, _ in _tool().long_functions(100, tmp_path)] == [
        ("m", "C.method"), ("sub.deep", "f")]


def test_no_function_over_100_lines():
    long = list(_tool().long_functions(LIMIT))
    assert not long, "\n".join(f"nmfaudio.{m} {n}: {k} lines" for m, n, k in long)
