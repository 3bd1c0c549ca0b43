"""The argument checks that several modules share, each written once.

Every check raises :class:`~nmfaudio.errors.ParameterError` with a message that names the
argument, says what was wrong and (through ``hint``) what to pass instead. Private: the
public functions document their own rules; this module only keeps the wording and the
edge cases (bool is not a number, 0-d arrays are scalars, NaN is not positive) the same
everywhere.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ParameterError

__all__ = [
    "plain",
    "is_integer",
    "positive_number",
    "positive_integer",
    "sample_rate",
    "finite_array",
    "nonnegative_finite_array",
    "real_float_array",
]


def plain(value):
    """A 0-d numpy array or numpy scalar as its Python scalar (``np.load`` gives those)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def is_integer(value) -> bool:
    """True for Python and numpy integers, but not for bool (``True`` is never a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def positive_number(value, name: str, *, hint: str = "", allow_inf: bool = False) -> float:
    """``value`` as a float > 0 that is finite (or +inf with ``allow_inf``).

    ``hint`` is added to the message, e.g. ``" (1 for magnitude, 2 for power)"``.
    """
    value = plain(value)
    ok = _is_real(value) and not np.isnan(value) and value > 0
    if ok and not allow_inf:
        ok = bool(np.isfinite(value))
    if not ok:
        kind = "positive number (or inf)" if allow_inf else "positive finite number"
        raise ParameterError(f"{name} must be a {kind}{hint}, got {value!r}")
    return float(value)


def positive_integer(value, name: str, *, hint: str = "") -> int:
    """``value`` as an int > 0 (Python or numpy integer; not bool, not 2.0)."""
    value = plain(value)
    if not is_integer(value) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer{hint}, got {value!r}")
    return int(value)


def sample_rate(value, name: str = "sample_rate") -> int:
    """A sample rate: a positive whole number of samples per second, as an ``int``.

    ``22050.0`` (e.g. read from a JSON file) is accepted; ``22050.5`` and ``True`` are not.
    """
    value = plain(value)
    ok = _is_real(value) and np.isfinite(value) and float(value).is_integer() and value > 0
    if not ok:
        raise ParameterError(
            f"{name} must be a positive integer number of samples per second (Hz), "
            f"got {value!r}"
        )
    return int(value)


def finite_array(array: np.ndarray, name: str) -> None:
    """Raise unless every value of ``array`` is finite (counting the bad ones)."""
    if not np.all(np.isfinite(array)):
        n_bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ParameterError(f"{name} contains {n_bad} NaN or infinite values; it must be finite")


def real_float_array(array, name: str, shape: str) -> np.ndarray:
    """``array`` as a real floating numpy array: float64 stays, the rest becomes float32.

    ``shape`` describes the expected shape for the message, e.g. ``"shape=(S, F, T)"``.
    """
    try:
        array = np.asarray(array)
    except (ValueError, TypeError) as err:  # ragged lists and the like
        raise ParameterError(f"{name} must be an array of {shape}: {err}") from None
    if array.dtype.kind not in "iuf":
        raise ParameterError(f"{name} ({shape}) must be real numbers, got dtype {array.dtype}")
    if array.dtype != np.float64:
        array = array.astype(np.float32, copy=False)
    return array


def nonnegative_finite_array(array: np.ndarray, name: str, *, why: str = "") -> None:
    """Raise unless ``array`` is finite and has no negative value.

    ``why`` ends the message about negative values, e.g. ``"NMF factors must be
    nonnegative"``.
    """
    finite_array(array, name)
    if array.size and array.min() < 0:
        n_bad = int(np.count_nonzero(array < 0))
        reason = f"; {why}" if why else "; it must be nonnegative"
        raise ParameterError(
            f"{name} has {n_bad} negative values (min {float(array.min()):.6g}){reason}"
        )
