"""Shared fixtures.

The real recordings live outside the repository (their licences keep them out of it):
``../shared/audio`` next to the checkout, or wherever ``NMFAUDIO_SHARED_AUDIO`` points.
Tests that need them take the ``shared_audio`` fixture and are skipped, with the reason,
when the folder is not there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_AUDIO_ENV = "NMFAUDIO_SHARED_AUDIO"


def shared_audio_dir() -> Path:
    """Where the shared recordings should be: the environment variable, else ../shared/audio."""
    configured = os.environ.get(SHARED_AUDIO_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / "shared" / "audio"


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """The folder of real recordings with ground-truth stems (see its README.md)."""
    path = shared_audio_dir()
    if not path.is_dir():
        how = (
            f"{SHARED_AUDIO_ENV}={os.environ[SHARED_AUDIO_ENV]!r}"
            if os.environ.get(SHARED_AUDIO_ENV)
            else f"set {SHARED_AUDIO_ENV} to point elsewhere"
        )
        pytest.skip(f"../shared/audio not found: {path} is not a directory ({how})")
    return path
