"""Exceptions raised by nmfaudio.

Every error the library raises on purpose derives from :class:`NMFAudioError`, so a
caller (the command line among them) can tell a user's mistake from a bug with one
``except`` clause. The subclasses also derive from :class:`ValueError` because that is
what they are: a value the caller passed was not acceptable.
"""

from __future__ import annotations

__all__ = ["NMFAudioError", "ParameterError", "AudioFileError", "DictionaryMismatchError",
           "MissingDependencyError", "InsufficientMemoryError"]


class NMFAudioError(Exception):
    """Base class of every exception nmfaudio raises on purpose."""


class ParameterError(NMFAudioError, ValueError):
    """An argument (array, shape, option) is not acceptable; the message says which and why."""


class AudioFileError(NMFAudioError, ValueError):
    """An audio file cannot be used: missing, not audio, empty, silent, NaN samples, ...

    The message names the file and the problem.
    """


class DictionaryMismatchError(ParameterError):
    """A learned dictionary does not fit the audio or settings it is used with."""


class MissingDependencyError(NMFAudioError, ImportError):
    """An optional dependency needed for this function is not installed.

    The message says which package is missing and how to install it (e.g. mir_eval,
    the ``eval`` extra, for :func:`nmfaudio.metrics.evaluate`).
    """


class InsufficientMemoryError(NMFAudioError, MemoryError):
    """A run would need more memory than is available; refused before any work.

    The message says how much, for what, and which option to change. It derives from
    :class:`MemoryError` too, so ``except MemoryError`` still catches it.
    """
