"""The one-line progress bar on stderr."""

from __future__ import annotations

import shutil
import sys
import time

def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal.

    ``update(done)`` redraws (at most ten times a second), ``clear()`` wipes the line so
    that a result can be printed, ``close()`` wipes it for good. Disabled, every method
    does nothing, so callers need no ``if``.
    """

    def __init__(self, total: int, label: str, *, enabled: bool = True, unit: str = "it",
                 stream=None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.total = max(int(total), 1)
        self.label = label
        self.unit = unit
        self.enabled = bool(enabled) and _isatty(self.stream)
        self.done = 0
        self.info = ""
        self.fits = 1
        self._iteration = 0
        self._last = 0.0
        self._drawn = 0

    def update(self, done: int, info: str = "") -> None:
        if not self.enabled:
            return
        self.done = min(max(int(done), 0), self.total)
        self.info = info
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        self._draw()

    def callback(self, iteration: int, loss: float) -> None:
        """For ``separate(..., callback=)`` and ``learn_dictionary(..., callback=)``.

        A separation may fit more than once (a blind one: the NMF, then the NMFD of a
        drum kit, :mod:`nmfaudio.drums`; a long supervised one in memory: the activations
        block by block); when the iterations start again the bar says which fit it draws
        ("fit 2", ...), so that it does not seem to go backwards for no reason.
        """
        if iteration < self._iteration:
            self.fits += 1
        self._iteration = iteration
        which = f"fit {self.fits}  " if self.fits > 1 else ""
        self.update(iteration, f"{which}loss {loss:.4g}")

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns - 1
        width = 24
        filled = round(width * self.done / self.total)
        line = (f"{self.label} [{'#' * filled}{'-' * (width - filled)}] "
                f"{self.done}/{self.total} {self.unit}" + (f"  {self.info}" if self.info else ""))
        line = line[:max(columns, 10)]
        self.stream.write("\r" + line.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(line)

    def clear(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def redraw(self) -> None:
        if self.enabled:
            self._draw()

    close = clear

    def __enter__(self) -> Progress:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()
