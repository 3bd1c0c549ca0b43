"""SIGINT, SIGTERM and SIGHUP stop a run the same way, and leave nothing behind.

The first of them raises :class:`KeyboardInterrupt` in the main thread, so the clean-up
that Ctrl-C runs (staged files removed, folders this run created removed, exit 130)
runs for all three; the default actions of SIGTERM and SIGHUP would kill the process
with its hidden partial files still on disk. Two places hold a signal back:

- while a file is written (:func:`deferred`): an exception raised inside libsndfile's
  I/O callbacks would be printed by cffi as a traceback and turn into an unrelated
  error; the signal takes effect as soon as the write returns;
- while cleaning up: later signals are ignored, so that the clean-up itself is not cut
  short by an impatient second Ctrl-C.

Worker processes of ``--jobs N`` ignore SIGINT (the terminal sends it to the whole
process group; the main process then stops them with SIGTERM) and act on SIGTERM or
SIGHUP only while they separate a file (:func:`job`): an idle worker that raised
would print a traceback from inside :mod:`concurrent.futures`.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

#: The signals that stop a run.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class _State:
    armed = True  # False in an idle worker process
    stopped = False  # a worker was told to stop: every job it still gets stops at once
    depth = 0  # > 0 inside deferred()
    pending = False  # a signal came while deferred
    stopping = False  # KeyboardInterrupt already raised: ignore the rest


_STATE = _State()


def _raise() -> None:
    _STATE.pending = False
    _STATE.stopping = True
    raise KeyboardInterrupt


def _handler(signum, frame) -> None:
    _STATE.stopped = True
    if _STATE.stopping or not _STATE.armed:
        return
    if _STATE.depth:
        _STATE.pending = True
        return
    _raise()


@contextmanager
def deferred():
    """Hold signals back until the block is done (then raise KeyboardInterrupt)."""
    _STATE.depth += 1
    try:
        yield
    finally:
        _STATE.depth -= 1
        if not _STATE.depth and _STATE.pending and not _STATE.stopping:
            _raise()


@contextmanager
def handled():
    """Install the handlers for one command-line call; restore the previous ones after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    _STATE.armed, _STATE.depth, _STATE.pending, _STATE.stopping = True, 0, False, False
    _STATE.stopped = False
    for number in STOP_SIGNALS:
        signal.signal(number, _handler)
    try:
        yield
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


def worker_init() -> None:
    """Signal handling of a ``--jobs`` worker process (see the module docstring)."""
    _STATE.armed, _STATE.depth, _STATE.pending, _STATE.stopping = False, 0, False, False
    _STATE.stopped = False
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN if number == signal.SIGINT else _handler)


@contextmanager
def job():
    """In a worker: SIGTERM and SIGHUP stop the file being separated.

    A worker told to stop while idle (or starting) may still receive a file the main
    process had already queued: that file stops at once, before anything is written.
    """
    if _STATE.stopped:
        raise KeyboardInterrupt
    _STATE.armed, _STATE.stopping = True, False
    try:
        yield
    finally:
        _STATE.armed = False
