"""Objective quality of separated sources: BSS Eval (SDR, SIR, SAR) and SI-SDR.

Two families of measures, both in decibels, both "higher is better":

- **BSS Eval v3** (Vincent, Gribonval and Févotte 2006), computed by ``mir_eval``:
  the estimate of source ``j`` is split into the reference ``j`` filtered by a
  512-tap time-invariant filter, interference from the other references, and artifacts.
  SDR (signal to distortion), SIR (signal to interference) and SAR (signal to artifacts)
  are energy ratios of those parts. Mono sources use
  ``mir_eval.separation.bss_eval_sources``, multichannel sources
  ``mir_eval.separation.bss_eval_images``, both with ``compute_permutation=False``:
  estimate ``j`` is always scored against reference ``j``, in the order given.
  This is how the reference scores in ``../shared/audio/README.md`` were computed.
- **SI-SDR** (Le Roux, Wisdom, Erdogan and Hershey 2019), computed here: the energy
  ratio of the estimate's projection onto the reference to the rest of the estimate.
  It is invariant to the gain of the estimate and needs no filter.

``mir_eval`` is an optional dependency (the ``eval`` extra); it is imported only when
:func:`evaluate` needs it. :func:`si_sdr` works without it.

References
----------
E. Vincent, R. Gribonval and C. Févotte, "Performance measurement in blind audio source
separation", IEEE Trans. Audio, Speech and Language Processing 14(4), 2006.

J. Le Roux, S. Wisdom, H. Erdogan and J. R. Hershey, "SDR - half-baked or well done?",
Proc. ICASSP 2019.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

from . import audio as audio_io
from .errors import AudioFileError, MissingDependencyError, ParameterError

__all__ = [
    "match_sources",
    "si_sdr",
    "evaluate",
    "evaluate_files",
    "Evaluation",
    "MissingDependencyError",
    "SI_SDR_EPS",
]

PathLike = Union[str, os.PathLike]

#: Relative regularization of :func:`si_sdr`: both energies of the ratio get
#: ``SI_SDR_EPS * ||estimate||**2`` added, so a perfect estimate scores about
#: ``10 * log10(1 / SI_SDR_EPS)`` = +120 dB instead of +inf (and no division by zero),
#: while the score stays exactly invariant to the gain of either signal.
SI_SDR_EPS = 1e-12

_METRICS = ("sdr", "sir", "sar", "si_sdr")
_LABELS = {"sdr": "SDR", "sir": "SIR", "sar": "SAR", "si_sdr": "SI-SDR"}
_METHODS = ("bss_eval_sources", "bss_eval_images")
_INSTALL_HINT = "install the 'eval' extra: pip install 'nmfaudio[eval]'"


# --------------------------------------------------------------------------- checks


def _as_signal_array(x, name: str) -> np.ndarray:
    """Return ``x`` as a finite, non-empty float64 array (a copy; the input is not changed)."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # e.g. ragged nested lists
        raise ParameterError(f"{name} cannot be converted to an array: {exc}") from None
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ParameterError(
            f"{name} must be a real numeric array of audio samples, got dtype {arr.dtype}"
            + (" (take the real part or use istft first)" if np.iscomplexobj(arr) else "")
        )
    if arr.size == 0:
        raise ParameterError(f"{name} is empty (shape {arr.shape}); it must hold audio samples")
    arr = arr.astype(np.float64)  # always a copy
    if not np.all(np.isfinite(arr)):
        raise ParameterError(
            f"{name} contains NaN or inf; every sample must be finite "
            "(check the separation that produced it)"
        )
    return arr


def _check_names(names, n_sources: int) -> tuple[str, ...]:
    """Validate ``names`` (or make ``source1``, ``source2``, ... as separate() does)."""
    if names is None:
        return tuple(f"source{j + 1}" for j in range(n_sources))
    if isinstance(names, str):
        raise ParameterError(
            f"names must be a sequence of {n_sources} strings, got the single string {names!r}"
        )
    try:
        names = tuple(names)
    except TypeError:
        raise ParameterError(
            f"names must be a sequence of {n_sources} strings, got {type(names).__name__}"
        ) from None
    if len(names) != n_sources:
        raise ParameterError(
            f"names has {len(names)} entries but there are {n_sources} sources; "
            "give one name per source, in the order of the first axis"
        )
    for name in names:
        if not isinstance(name, str) or not name:
            raise ParameterError(f"every name must be a non-empty string, got {name!r}")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ParameterError(f"names must be unique, got {', '.join(map(repr, dupes))} twice")
    return names


# --------------------------------------------------------------------------- SI-SDR


def _si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SI-SDR of two checked, flattened, float64 signals (reference not silent)."""
    alpha = np.dot(estimate, reference) / np.dot(reference, reference)
    target = alpha * reference
    noise = estimate - target
    eps = SI_SDR_EPS * np.dot(estimate, estimate)
    return float(10.0 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def si_sdr(estimate, reference) -> float:
    """Scale-invariant signal to distortion ratio (SI-SDR) of one estimate, in dB.

    With ``s`` the reference and ``e`` the estimate (all channels concatenated into one
    vector), ``alpha = <e, s> / ||s||**2``, ``target = alpha * s`` and
    ``noise = e - target``::

        SI-SDR = 10 log10( (||target||**2 + eps) / (||noise||**2 + eps) ),
        eps = SI_SDR_EPS * ||e||**2   (SI_SDR_EPS = 1e-12)

    following Le Roux et al. (2019), without removing the mean. The small relative
    ``eps`` caps a perfect estimate at about +120 dB and keeps the value exactly
    invariant to the gain (including the sign) of either signal.

    Parameters
    ----------
    estimate : np.ndarray, shape=(N,) or (C, N)
        The estimated source, real samples.
    reference : np.ndarray, shape=(N,) or (C, N)
        The true source; same shape as ``estimate``, not all zeros.

    Returns
    -------
    float
        SI-SDR in dB: about +120 for a perfect estimate, 0 when the estimate holds as much
        energy of the reference as of everything else, very negative when the estimate
        is unrelated to the reference.

    Raises
    ------
    ParameterError
        If the shapes differ or are not 1-D/2-D, if either signal is empty or not finite,
        or if either signal is all zeros (SI-SDR is undefined then).

    Examples
    --------
    >>> import numpy as np
    >>> s = np.sin(np.linspace(0, 100, 1000))
    >>> round(si_sdr(0.5 * s, s))
    120
    >>> noise = np.random.default_rng(0).standard_normal(1000)
    >>> round(si_sdr(s + noise, s), 1)
    -2.8
    """
    est = _as_signal_array(estimate, "estimate")
    ref = _as_signal_array(reference, "reference")
    if est.shape != ref.shape:
        raise ParameterError(
            f"estimate has shape {est.shape} but reference has shape {ref.shape}; "
            "they must be the same (N,) or (C, N)"
        )
    if est.ndim not in (1, 2):
        raise ParameterError(
            f"estimate and reference must have shape (N,) or (C, N), got {est.shape}; "
            "for several sources call evaluate() or loop over the first axis"
        )
    if not np.any(ref):
        raise ParameterError("reference is all zeros: SI-SDR is undefined for a silent reference")
    if not np.any(est):
        raise ParameterError(
            "estimate is all zeros: SI-SDR is undefined for a silent estimate "
            "(did this source get any components?)"
        )
    return _si_sdr(est.ravel(), ref.ravel())


# --------------------------------------------------------------------------- results


def match_sources(estimates, references) -> np.ndarray:
    """The order of the estimates that best matches the references (unsupervised output).

    Unsupervised separation names its sources by itself; to score them against named
    references, each reference is paired with one estimate so that the total SI-SDR is
    largest (Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`).

    Parameters
    ----------
    estimates : np.ndarray, shape=(S, N) or (S, C, N)
    references : np.ndarray, same shape

    Returns
    -------
    np.ndarray, shape=(S,), int
        ``estimates[order]`` lines up with ``references``.
    """
    from scipy.optimize import linear_sum_assignment

    est = _as_signal_array(estimates, "estimates")
    ref = _as_signal_array(references, "references")
    if est.shape != ref.shape or est.ndim not in (2, 3):
        raise ParameterError(
            f"estimates {est.shape} and references {ref.shape} must have the same shape (S, N) or (S, C, N)"
        )
    n = est.shape[0]
    score = np.full((n, n), -np.inf)
    for i in range(n):
        for j in range(n):
            if np.any(est[j]) and np.any(ref[i]):
                score[i, j] = _si_sdr(est[j].ravel(), ref[i].ravel())
    rows, cols = linear_sum_assignment(np.nan_to_num(score, neginf=-1e9), maximize=True)
    return cols[np.argsort(rows)]


def _metric_array(values, name: str, n_sources: int) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)  # a copy, so the result owns its data
    if arr.shape != (n_sources,):
        raise ParameterError(
            f"{name} must have shape ({n_sources},), one value per source, got {arr.shape}"
        )
    arr.setflags(write=False)
    return arr


def _json_float(x: float) -> Optional[float]:
    """A float for JSON: non-finite values (JSON has no infinity) become None."""
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Scores of separated sources against their references (all in dB).

    Parameters
    ----------
    names : tuple of str, length S
        The sources, in the order of the metric arrays.
    sdr, sir, sar : np.ndarray, shape=(S,)
        BSS Eval v3 signal to distortion, interference and artifacts ratios.
    si_sdr : np.ndarray, shape=(S,)
        Scale-invariant SDR (:func:`si_sdr`).
    baseline : Evaluation or None
        The same measures with the mixture as the estimate of every source, when a
        mixture was given to :func:`evaluate`; ``None`` otherwise. Its own ``baseline``
        is ``None``.
    method : {"bss_eval_sources", "bss_eval_images"}
        Which BSS Eval function computed ``sdr``, ``sir`` and ``sar`` (mono or
        multichannel sources); the two are not comparable with each other.

    Notes
    -----
    The arrays are read-only copies. ``+inf`` occurs for a perfect estimate and for the SIR
    of a single source (there is no interference); :meth:`to_dict` writes it as ``None``.
    Two evaluations are equal when their names, method, values and baselines are.
    """

    names: tuple[str, ...]
    sdr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray
    si_sdr: np.ndarray
    baseline: Optional["Evaluation"] = None
    method: str = "bss_eval_sources"

    def __post_init__(self) -> None:
        names = self.names
        if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
            raise ParameterError(f"names must be a non-empty sequence of strings, got {names!r}")
        names = _check_names(names, len(names))
        object.__setattr__(self, "names", names)
        for metric in _METRICS:
            object.__setattr__(
                self, metric, _metric_array(getattr(self, metric), metric, len(names))
            )
        if self.baseline is not None:
            if not isinstance(self.baseline, Evaluation):
                raise ParameterError(
                    f"baseline must be an Evaluation or None, got {type(self.baseline).__name__}"
                )
            if self.baseline.names != names:
                raise ParameterError(
                    f"baseline is for sources {self.baseline.names} but this evaluation is "
                    f"for {names}; they must be the same sources in the same order"
                )
        if self.method not in _METHODS:
            raise ParameterError(f"method must be one of {_METHODS}, got {self.method!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Evaluation):
            return NotImplemented
        return (
            self.names == other.names
            and self.method == other.method
            and all(
                np.array_equal(getattr(self, m), getattr(other, m), equal_nan=True)
                for m in _METRICS
            )
            and self.baseline == other.baseline
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays: not hashable

    @property
    def n_sources(self) -> int:
        """Number of sources S."""
        return len(self.names)

    @property
    def median_sdr(self) -> float:
        """Median over sources of the SDR, in dB (the usual one-number summary)."""
        return float(np.median(self.sdr))

    @property
    def improvement(self) -> Optional[dict[str, np.ndarray]]:
        """Per-source gain over the mixture baseline, or ``None`` without a baseline.

        Returns
        -------
        dict or None
            ``{"sdr", "sir", "sar", "si_sdr"} -> np.ndarray, shape=(S,)``: this
            evaluation's values minus the baseline's (SDRi, SIRi, ...), in dB.
        """
        if self.baseline is None:
            return None
        return {m: getattr(self, m) - getattr(self.baseline, m) for m in _METRICS}

    def _scores_dict(self, values: dict[str, np.ndarray]) -> dict:
        return {
            "sources": {
                name: {m: _json_float(values[m][j]) for m in _METRICS}
                for j, name in enumerate(self.names)
            },
            "median": {m: _json_float(np.median(values[m])) for m in _METRICS},
        }

    def to_dict(self) -> dict:
        """All scores as plain Python values, ready for :func:`json.dumps`.

        Returns
        -------
        dict
            ``{"method", "names", "sources": {name: {"sdr", "sir", "sar", "si_sdr"}},
            "median": {...}, "baseline": {...} or None, "improvement": {...} or None}``.
            ``baseline`` has the same layout (its own ``baseline`` and ``improvement``
            are ``None``); ``improvement`` has ``"sources"`` and ``"median"``, where the
            median is taken over the per-source improvements. Non-finite values (e.g. the
            SIR of a single source, +inf) are ``None``, since JSON has no infinity.
        """
        values = {m: getattr(self, m) for m in _METRICS}
        out = {"method": self.method, "names": list(self.names)}
        out.update(self._scores_dict(values))
        out["baseline"] = None if self.baseline is None else self.baseline.to_dict()
        improvement = self.improvement
        out["improvement"] = None if improvement is None else self._scores_dict(improvement)
        return out

    def table(self, *, precision: int = 2) -> str:
        """A plain-text table of the scores, one row per source and a median row.

        Parameters
        ----------
        precision : int, default=2
            Digits after the decimal point.

        Returns
        -------
        str
            Columns SDR, SIR, SAR, SI-SDR (dB) and, when there is a baseline, SDRi and
            SI-SDRi (improvement over the mixture). No trailing newline; nothing is printed.
        """
        if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
            raise ParameterError(f"precision must be an int, got {precision!r}")
        if not 0 <= precision <= 10:
            raise ParameterError(f"precision must be between 0 and 10, got {precision}")
        columns = [(_LABELS[m], getattr(self, m)) for m in _METRICS]
        improvement = self.improvement
        if improvement is not None:
            columns += [("SDRi", improvement["sdr"]), ("SI-SDRi", improvement["si_sdr"])]

        def fmt(x: float) -> str:
            return f"{x:.{precision}f}" if math.isfinite(x) else str(float(x))  # inf, -inf, nan

        rows = [
            [name] + [fmt(values[j]) for _, values in columns]
            for j, name in enumerate(self.names)
        ]
        median_row = ["median"] + [fmt(float(np.median(values))) for _, values in columns]
        header = ["source (dB)"] + [label for label, _ in columns]
        widths = [max(len(r[i]) for r in rows + [median_row, header]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
            return "  ".join([first] + rest).rstrip()

        rule = "-" * len(line(header))
        return "\n".join([line(header), rule] + [line(r) for r in rows] + [rule, line(median_row)])


# --------------------------------------------------------------------------- BSS Eval


def _import_mir_eval_separation():
    try:
        import mir_eval.separation as separation
    except ImportError as exc:
        raise MissingDependencyError(
            f"BSS Eval needs mir_eval, which is not installed ({exc}); {_INSTALL_HINT}"
        ) from exc
    return separation


def _bss_eval(references: np.ndarray, estimates: np.ndarray) -> tuple:
    """BSS Eval v3 of checked ``(S, C, N)`` float64 arrays: ``(sdr, sir, sar, method)``."""
    separation = _import_mir_eval_separation()
    with warnings.catch_warnings():
        # mir_eval 0.8 marks its separation module deprecated; the numbers are what we
        # want (they are the reference implementation of BSS Eval v3), so don't nag.
        warnings.simplefilter("ignore", FutureWarning)
        try:
            if references.shape[1] == 1:
                sdr, sir, sar, _ = separation.bss_eval_sources(
                    references[:, 0], estimates[:, 0], compute_permutation=False
                )
                method = "bss_eval_sources"
            else:
                sdr, _isr, sir, sar, _ = separation.bss_eval_images(
                    references.transpose(0, 2, 1),
                    estimates.transpose(0, 2, 1),
                    compute_permutation=False,
                )
                method = "bss_eval_images"
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise ParameterError(f"BSS Eval (mir_eval) rejected the signals: {exc}") from exc
    return np.asarray(sdr), np.asarray(sir), np.asarray(sar), method


def _score(
    references: np.ndarray,
    estimates: np.ndarray,
    names: tuple[str, ...],
    baseline: Optional[Evaluation],
) -> Evaluation:
    """Evaluation of checked ``(S, C, N)`` float64 arrays."""
    sdr, sir, sar, method = _bss_eval(references, estimates)
    si = [_si_sdr(e.ravel(), r.ravel()) for e, r in zip(estimates, references)]
    return Evaluation(
        names=names, sdr=sdr, sir=sir, sar=sar, si_sdr=np.array(si),
        baseline=baseline, method=method,
    )


def evaluate(estimates, references, *, names=None, mixture=None) -> Evaluation:
    """Score separated sources against the true ones with BSS Eval v3 and SI-SDR.

    Estimate ``j`` is scored against reference ``j`` (no permutation search). Mono
    sources are scored with ``mir_eval.separation.bss_eval_sources``, multichannel ones
    with ``mir_eval.separation.bss_eval_images``; ``(S, 1, N)`` counts as mono.

    Parameters
    ----------
    estimates : np.ndarray, shape=(S, N) or (S, C, N)
        The separated sources, real samples, in the order of ``references``.
    references : np.ndarray, shape=(S, N) or (S, C, N)
        The true sources; same shape as ``estimates``. None may be all zeros (the
        metrics are undefined then) and no two may be identical.
    names : sequence of str, length S, optional
        Unique names of the sources, e.g. ``("piano", "bass", "drums")``; by default
        ``("source1", "source2", ...)``.
    mixture : np.ndarray, shape=(N,) or (C, N), optional
        The mixture the sources were separated from. When given, the same measures are
        computed with the mixture as the estimate of every source and stored in
        ``Evaluation.baseline``, which also gives ``Evaluation.improvement``.
        For ``(S, N)`` sources, ``(1, N)`` is accepted too.

    Returns
    -------
    Evaluation
        ``names``, ``sdr``, ``sir``, ``sar``, ``si_sdr`` (each shape=(S,), dB) and
        ``baseline``.

    Raises
    ------
    ParameterError
        If the shapes differ or are not 2-D/3-D, a signal is empty, not finite or not
        real, a reference or estimate is all zeros, two references are identical, the
        names do not fit, or the mixture's shape does not fit the sources.
    MissingDependencyError
        If mir_eval is not installed (``pip install 'nmfaudio[eval]'``).

    Notes
    -----
    BSS Eval is slow for long signals: about a second for 3 mono sources of 20 s at
    22.05 kHz, twice that with a mixture. Its decomposition uses 512-tap filters, so
    signals much shorter than 512 samples give meaningless values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> refs = rng.standard_normal((2, 4000))
    >>> ests = refs + 0.1 * rng.standard_normal((2, 4000))
    >>> ev = evaluate(ests, refs, names=["a", "b"], mixture=refs.sum(axis=0))
    >>> ev.median_sdr > 15 > ev.baseline.median_sdr
    True
    """
    est = _as_signal_array(estimates, "estimates")
    ref = _as_signal_array(references, "references")
    if est.shape != ref.shape:
        raise ParameterError(
            f"estimates have shape {est.shape} but references have shape {ref.shape}; "
            "they must be the same: (S, N) or (S, C, N) with sources on the first axis"
        )
    if ref.ndim not in (2, 3):
        raise ParameterError(
            f"estimates and references must have shape (S, N) or (S, C, N), got {ref.shape}; "
            "for a single source add an axis: x[np.newaxis]"
        )
    names = _check_names(names, ref.shape[0])
    ref3 = ref if ref.ndim == 3 else ref[:, np.newaxis, :]
    est3 = est if est.ndim == 3 else est[:, np.newaxis, :]

    _check_not_silent_or_repeated(ref3, est3, names)
    baseline = None
    if mixture is not None:
        mix_est = _mixture_estimate(mixture, ref, ref3)
        baseline = _score(ref3, mix_est, names, None)

    return _score(ref3, est3, names, baseline)


def _check_not_silent_or_repeated(ref3: np.ndarray, est3: np.ndarray, names) -> None:
    """Refuse silent references or estimates and identical references (measures undefined)."""
    for j, name in enumerate(names):
        if not np.any(ref3[j]):
            raise ParameterError(
                f"the reference of source {name!r} (index {j}) is all zeros: BSS Eval and "
                "SI-SDR are undefined for a silent reference; leave this source out "
                "(remove it from estimates, references and names)"
            )
    for j, name in enumerate(names):
        if not np.any(est3[j]):
            raise ParameterError(
                f"the estimate of source {name!r} (index {j}) is all zeros: the measures are "
                "undefined for a silent estimate; check the separation (did this source get "
                "any components?)"
            )
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if np.array_equal(ref3[i], ref3[j]):
                raise ParameterError(
                    f"the references of sources {names[i]!r} and {names[j]!r} are identical; "
                    "BSS Eval needs distinct references (was one file passed twice?)"
                )


def _mixture_estimate(mixture, ref: np.ndarray, ref3: np.ndarray) -> np.ndarray:
    """The mixture as every source's estimate, shape of ``ref3`` (S, C, N), for the baseline."""
    mix = _as_signal_array(mixture, "mixture")
    n_channels, n_samples = ref3.shape[1:]
    if mix.ndim == 1:
        mix = mix[np.newaxis, :]
    if mix.shape != (n_channels, n_samples):
        wanted = f"({n_samples},)" if ref.ndim == 2 else f"({n_channels}, {n_samples})"
        raise ParameterError(
            f"mixture has shape {np.shape(mixture)} but the sources have shape "
            f"{ref.shape}; the mixture must have shape {wanted}"
        )
    if not np.any(mix):
        raise ParameterError("mixture is all zeros: it cannot serve as a baseline estimate")
    return np.broadcast_to(mix, ref3.shape).copy()


# --------------------------------------------------------------------------- files


def _read(path: PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 samples of shape ``(C, N)`` and its sample rate.

    Through :func:`nmfaudio.audio.load` (its checks and messages); silent files are
    accepted, since a silent estimate is a result to score, not a mistake.

    Raises
    ------
    AudioFileError
        Naming the path, when the file is missing, unreadable, empty or not finite.
    """
    audio = audio_io.load(path, allow_silent=True)
    return audio.samples, audio.sample_rate


def _check_paths(paths, name: str) -> list[Path]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise ParameterError(f"{name} must be a list of paths, got the single path {paths!r}")
    try:
        paths = [Path(p) for p in paths]
    except TypeError as exc:
        raise ParameterError(f"{name} must be a list of file paths: {exc}") from None
    if not paths:
        raise ParameterError(f"{name} is empty; give one audio file per source")
    return paths


def evaluate_files(estimate_paths, reference_paths, *, names=None, mixture_path=None) -> Evaluation:
    """Score separated source files against reference files (see :func:`evaluate`).

    Parameters
    ----------
    estimate_paths : sequence of path-like, length S
        One audio file per separated source, in the order of ``reference_paths``.
    reference_paths : sequence of path-like, length S
        One audio file per true source. All files must share the sample rate, channel
        count and length (number of samples) of the first reference.
    names : sequence of str, length S, optional
        Source names; by default the reference file names without extension (when those
        are unique, else ``source1``, ``source2``, ...).
    mixture_path : path-like, optional
        The mixture, for the baseline (see :func:`evaluate`).

    Returns
    -------
    Evaluation

    Raises
    ------
    AudioFileError
        If a file is missing or unreadable, or its sample rate, channel count or length
        differs from the first reference's; the message names the file.
    ParameterError
        If the lists are empty or of different lengths, or as :func:`evaluate`.
    MissingDependencyError
        If mir_eval is not installed.
    """
    est_paths = _check_paths(estimate_paths, "estimate_paths")
    ref_paths = _check_paths(reference_paths, "reference_paths")
    if len(est_paths) != len(ref_paths):
        raise ParameterError(
            f"{len(est_paths)} estimate files but {len(ref_paths)} reference files; "
            "give one estimate per reference, in the same order"
        )
    if names is None:
        stems = tuple(p.stem for p in ref_paths)
        names = stems if len(set(stems)) == len(stems) and all(stems) else None

    first = ref_paths[0]
    ref0, sample_rate = _read(first)

    def load_like(path: Path) -> np.ndarray:
        samples, sr = _read(path)
        if sr != sample_rate:
            raise AudioFileError(
                f"{str(path)!r} has sample rate {sr} Hz but {str(first)!r} has {sample_rate} Hz; "
                "resample it to match"
            )
        if samples.shape != ref0.shape:
            raise AudioFileError(
                f"{str(path)!r} has {samples.shape[0]} channel(s) x {samples.shape[1]} samples "
                f"but {str(first)!r} has {ref0.shape[0]} x {ref0.shape[1]}; "
                "estimates, references and mixture must have the same channels and length"
            )
        return samples

    references = np.stack([ref0] + [load_like(p) for p in ref_paths[1:]])
    estimates = np.stack([load_like(p) for p in est_paths])
    mixture = None if mixture_path is None else load_like(Path(mixture_path))
    return evaluate(estimates, references, names=names, mixture=mixture)
