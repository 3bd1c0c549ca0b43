"""List the functions of the nmfaudio package longer than a limit (default 100 lines).

Usage::

    python tools/long_functions.py [LIMIT]

A function's length is the span of its ``def`` statement, decorators excluded and its
docstring and nested functions included, as ``ast`` reports it (``end_lineno - lineno +
1``): the number one reads when scrolling through it. tests/test_function_length.py
asserts the limit for the package.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nmfaudio"


def function_lengths(package: Path = PACKAGE) -> list:
    """``(module, qualified name, lines)`` of every function and method in ``package``
    and its subpackages (``module`` relative to it, e.g. ``"cli.core"``)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = ".".join(path.relative_to(package).with_suffix("").parts)  # e.g. cli.core
        found.extend(_walk(tree, module, prefix=""))
    return found


def _walk(node, module: str, prefix: str) -> list:
    found = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + child.name
            found.append((module, name, child.end_lineno - child.lineno + 1))
            found.extend(_walk(child, module, name + "."))
        elif isinstance(child, ast.ClassDef):
            found.extend(_walk(child, module, prefix + child.name + "."))
    return found


def long_functions(limit: int = 100, package: Path = PACKAGE) -> list:
    """The functions over ``limit`` lines, longest first."""
    return sorted((f for f in function_lengths(package) if f[2] > limit), key=lambda f: -f[2])


if __name__ == "__main__":
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rows = long_functions(limit)
    for module, name, lines in rows:
        print(f"{lines:5d}  nmfaudio.{module}  {name}")
    print(f"{len(rows)} function(s) over {limit} lines")
    sys.exit(1 if rows else 0)
