"""Every public module is importable under its own name, and no function shadows it."""

from __future__ import annotations

import importlib
import pydoc
import subprocess
import sys
import types
from pathlib import Path

import pytest

import nmfaudio

PUBLIC_MODULES = ["audio", "cli", "convolutive", "dictionary", "errors", "estimators", "factorization", "grouping", "masks",
                  "metrics", "online", "pipeline", "plot", "spectral"]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_import_gives_the_module(name):
    root = Path(nmfaudio.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", f"import nmfaudio.{name} as m; print(type(m).__name__, m.__name__)"],
                          capture_output=True, text=True, check=False, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["module", f"nmfaudio.{name}"]


def test_no_package_attribute_shadows_a_module():
    for name in PUBLIC_MODULES:
        module = importlib.import_module(f"nmfaudio.{name}")
        assert isinstance(getattr(nmfaudio, name), types.ModuleType), name
        assert getattr(nmfaudio, name) is module


def test_pydoc_locates_module_members():
    assert pydoc.locate("nmfaudio.factorization.beta_divergence") is nmfaudio.beta_divergence
    assert pydoc.locate("nmfaudio.pipeline.separate") is nmfaudio.separate
    assert pydoc.locate("nmfaudio.metrics.evaluate") is nmfaudio.evaluate


def test_every_error_class_is_exported_at_the_top():
    """The README lists the errors a caller may catch as ``nmfaudio.<Name>``."""
    import nmfaudio.errors as errors

    for name in errors.__all__:
        assert getattr(nmfaudio, name) is getattr(errors, name), name
        assert name in nmfaudio.__all__, name
