"""The levels a recording may have for a fit: one range, measured, and its refusals.

Both the separation (:mod:`nmfaudio.pipeline`, :mod:`nmfaudio.chunked`) and learning
(:mod:`nmfaudio.dictionary`) check a recording's level here, so that a file too quiet or
too loud for float32 is refused in one line that names it, before a fit fails part-way.
Knows no files: the caller names the recording (``label``).
"""

from __future__ import annotations

import numpy as np

from .errors import AudioFileError

__all__ = ["LEVEL_RANGE", "check_level", "check_sample_level"]


#: The spectrogram peaks (of V as factorized) that a separation, or learning, accepts.
#: On the shared tasks, with V scaled by powers of two, the fit left float32's range at a peak of
#: 2**-100 with beta=0 and at 2**40 with beta=2 (beta=1 held from 2**-120 to 2**64),
#: and the drum kit's NMFD with beta=2 drifted below 2**-64 (its squares of V leave
#: float32's normal range at 2**-63). The bounds keep about 10 bits of margin on both
#: sides: a float file is refused below about -290 to -345 dBFS or above +126 to +180
#: dBFS (a click or a tone, through a window's gain of 1 to n_fft / 4); 16-bit audio
#: cannot be outside, nor a float file in the integer scale of 16-bit audio (peaks near
#: 32768). Measured for the default magnitude
#: spectrogram and float32; with ``spectrogram_power=2`` or float64 the fits would
#: reach further, but the same range is applied. A mistake, not a recording, refused in
#: so many words rather than failing part-way with a message about V.
LEVEL_RANGE = (2.0 ** -48, 2.0 ** 30)
_LEVEL_ADVICE = ("where the fit stays within floating point; scale the recording to a peak "
                 "near 1 (normalise it) and try again")


def check_level(peak: float, *, label: str = "the mixture", task: str = "separate") -> None:
    """Raise AudioFileError when a nonzero spectrogram peak is outside
    :data:`LEVEL_RANGE` or not finite (a zero peak, silence, is refused elsewhere in its
    own words). ``label`` names the recording, ``task`` what was to be done with it
    ("separate", "learn from")."""
    low, high = LEVEL_RANGE
    if 0 < peak < low or not peak <= high:
        where = (f"peaks at {peak:.3g}" if np.isfinite(peak) else "overflows float32")
        raise AudioFileError(
            f"{label} is too {'quiet' if 0 < peak < low else 'loud'} to {task}: its "
            f"spectrogram {where}, outside {low:.3g} to {high:.3g} {_LEVEL_ADVICE}")


def check_sample_level(peak: float, *, label: str, task: str = "separate") -> None:
    """Refuse samples so loud that the STFT would overflow float32, before it runs: a
    frame centred on a sample holds it at a window weight near 1, so beyond twice
    :data:`LEVEL_RANGE`'s top the spectrogram is beyond it too."""
    if peak > 2 * LEVEL_RANGE[1]:
        raise AudioFileError(
            f"{label} is too loud to {task}: its samples peak at {peak:.3g}, its "
            f"spectrogram beyond {LEVEL_RANGE[1]:.3g} {_LEVEL_ADVICE}")
