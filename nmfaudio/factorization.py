"""Nonnegative matrix factorization with the beta-divergence, by multiplicative updates.

This module is the numerical core of nmfaudio. It knows nothing of audio, files or plots:
it factorizes a nonnegative matrix ``V`` of shape ``(F, T)`` into templates ``W`` of shape
``(F, K)`` and activations ``H`` of shape ``(K, T)`` so that ``V ~ W @ H``.

Algorithm
---------
The updates are the majorization-minimization (MM) multiplicative updates of

    C. Févotte and J. Idier, "Algorithms for nonnegative matrix factorization with the
    beta-divergence", Neural Computation 23(9), 2011 (Section 4, the MM algorithm),

    H <- H * ( W^T [(WH)^(beta-2) * V] / (W^T (WH)^(beta-1) + l1 * c) )^gamma(beta)
    W <- W * ( [(WH)^(beta-2) * V] H^T / ((WH)^(beta-1) H^T + l1 * s) )^gamma(beta)

with the exponent gamma(beta) = 1/(2-beta) for beta < 1, 1 for 1 <= beta <= 2 and
1/(beta-1) for beta > 2, which makes the loss non-increasing for every beta (the plain
"heuristic" updates with gamma = 1 are only proven monotone for beta in [0, 2]).

Sparsity follows the scale-invariant formulation of

    A. Marmin, J. H. de M. Goulart and C. Févotte, "Majorization-minimization for sparse
    nonnegative matrix factorization with the beta-divergence", IEEE Trans. Signal
    Processing 71, 2023:

the penalty is ``l1 * sum_k ||w_k||_2 ||h_k||_1`` (``c_k = ||w_k||_2`` above). After
every update of W, its free columns are rescaled to unit L2 norm and the scale is moved
into the rows of H. Rescaling leaves both WH and the penalty unchanged, so the penalized
loss stays non-increasing, and at every recorded iterate the penalty equals
``l1 * ||H||_1`` (when the fixed columns, if any, have unit L2 norm too, as learned
dictionaries do). The L2 norm matters: with unit-L1 columns and KL, ``||H||_1`` equals
``sum(WH)``, so the penalty would only rescale the model and never make H sparse. The
linear penalty in H is majorized by ``l1 * h0 * (r**beta / beta + 1 - 1/beta)`` where
needed (beta > 1), which is why it can simply be added to the denominator for every beta;
the W step majorizes the norm (see ``_update_templates``).

Updates alternate H first, then W, within one pass over blocks of columns of V: the H
update of a block needs only W, and the W update only sums over blocks, so peak extra
memory is a few ``(F, block)`` buffers whatever the length of V (see ``_block_width``).
With ``update_order="WH"`` one W-only pass comes first (see ``_ORDERS``).

Numerical floor
---------------
``eps = finfo(dtype).eps * mean(V)`` (relative to the data, so that it means the same for
quiet and loud inputs). It is applied in exactly two places:

- the model is ``WH + eps``: an extra, fixed component of constant level eps, computed
  inside the same matrix product (``[W | eps] @ [H; 1]``). Silent bins (exact zeros in V
  and in WH) then give 0 / eps = 0 rather than 0/0 = NaN, no pass over the data is
  spent on a floor, and the MM updates minimize exactly ``D(V | WH + eps)``, so the
  monotonicity argument holds as it is;
- for ``beta <= 0`` (Itakura-Saito), V is floored at ``eps`` too, because the divergence
  of an exact zero is infinite there.

Nothing else is clipped; the caller's arrays are never written to.
"""

from __future__ import annotations

import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _kernels
from .errors import ParameterError

__all__ = ["nmf", "NMFResult", "beta_divergence", "parse_beta", "BETA_NAMES"]

#: Names accepted for ``beta``, and the value each stands for.
BETA_NAMES = {
    "kl": 1.0,
    "kullback-leibler": 1.0,
    "is": 0.0,
    "itakura-saito": 0.0,
    "euclidean": 2.0,
    "frobenius": 2.0,
}

_INITS = ("random", "nndsvda")

# Extra memory budget of one column block's buffers, in bytes: small enough that a
# block's V, WH and ratio stay in the L2 cache between the matrix products, large enough
# that the products still run at full BLAS speed. Measured while writing this (KL,
# float32, F = 1025, T = 2584, K = 32, one thread): 0.25 MB blocks 14.8 ms/iteration,
# 1 MB 13.6, 4 MB 17.3, the whole matrix 14.5.
_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class _FitResult:
    """What :class:`NMFResult` and :class:`nmfaudio.convolutive.NMFDResult` share: the
    factors, the loss trace and how the fit ended (documented on each)."""

    templates: np.ndarray
    activations: np.ndarray
    loss_history: np.ndarray
    loss_iterations: np.ndarray
    n_iter: int
    converged: bool
    beta: float
    l1_activations: float = 0.0

    @property
    def W(self) -> np.ndarray:
        """Alias of :attr:`templates`."""
        return self.templates

    @property
    def H(self) -> np.ndarray:
        """Alias of :attr:`activations`, shape=(K, T)."""
        return self.activations

    @property
    def n_components(self) -> int:
        """K, the number of components."""
        return self.templates.shape[1]

    @property
    def final_loss(self) -> float:
        """The loss at the returned factors."""
        return float(self.loss_history[-1])


@dataclass(frozen=True)
class NMFResult(_FitResult):
    """The outcome of :func:`nmf`.

    Attributes
    ----------
    templates : np.ndarray, shape=(F, K)
        Nonnegative templates (spectral bases), often written W (alias ``W``).
    activations : np.ndarray, shape=(K, T)
        Nonnegative activations (gains over time), often written H (alias ``H``).
    loss_history : np.ndarray, shape=(L,)
        The loss (beta-divergence plus the sparsity penalty) at the iterations in
        ``loss_iterations``; the first entry is at the initialization, the last at the
        returned factors (``final_loss``).
    loss_iterations : np.ndarray, shape=(L,)
        Iteration counts at which ``loss_history`` was computed (0 = the initialization).
    n_iter : int
        Number of iterations run.
    converged : bool
        True when the relative decrease of the loss fell below ``tol`` before ``n_iter``.
    beta : float
        The beta of the divergence that was minimized.
    l1_activations : float
        The weight of the sparsity penalty.
    n_components : int
        K.
    """

    def reconstruction(self) -> np.ndarray:
        """The model ``W @ H``, shape=(F, T)."""
        return self.templates @ self.activations


# ---------------------------------------------------------------------------------------
# beta and the divergence


def parse_beta(beta: Union[float, str]) -> float:
    """Turn ``beta`` (a number or a name from :data:`BETA_NAMES`) into a float.

    Raises
    ------
    ParameterError
        If ``beta`` is neither a finite real number nor a known name.
    """
    if isinstance(beta, str):
        key = beta.strip().lower()
        if key not in BETA_NAMES:
            raise ParameterError(
                f"unknown beta {beta!r}: use a number or one of {', '.join(sorted(BETA_NAMES))}"
            )
        return BETA_NAMES[key]
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise ParameterError(
            f"beta must be a number or one of {', '.join(sorted(BETA_NAMES))}, "
            f"not {type(beta).__name__}"
        )
    value = float(beta)
    if not np.isfinite(value):
        raise ParameterError(f"beta must be finite, got {beta!r}")
    return value


def _gamma(beta: float) -> float:
    """MM exponent gamma(beta) of Févotte & Idier (2011), Sec. 4."""
    if beta < 1.0:
        return 1.0 / (2.0 - beta)
    if beta <= 2.0:
        return 1.0
    return 1.0 / (beta - 1.0)


def _divergence_terms(V: np.ndarray, WH: np.ndarray, beta: float, out: np.ndarray) -> np.ndarray:
    """Elementwise d_beta(V | WH) into ``out`` (every term >= 0, so sums do not cancel).

    ``WH`` must already be floored (> 0); for beta <= 0, V too.
    """
    if beta == 2.0:
        np.subtract(V, WH, out=out)
        np.square(out, out=out)
        out *= 0.5
        return out
    ratio = np.divide(V, WH, out=out)  # R = V / WH
    if beta == 1.0:
        # V log(V/WH) - V + WH, written as WH * (R log R - R + 1) so that V = 0 gives WH.
        logr = np.log(np.maximum(ratio, np.finfo(ratio.dtype).tiny))
        logr *= ratio
        logr -= ratio
        logr += 1.0
        np.multiply(logr, WH, out=out)
        return out
    if beta == 0.0:
        logr = np.log(ratio)
        ratio -= logr
        ratio -= 1.0
        return ratio
    # 1/(b(b-1)) * WH^b * (R^b + (b-1) - b R): the general case, via the ratio.
    powered = np.power(ratio, beta)
    powered += beta - 1.0
    ratio *= beta
    powered -= ratio
    powered *= np.power(WH, beta)
    np.multiply(powered, 1.0 / (beta * (beta - 1.0)), out=out)
    return out


def beta_divergence(V: np.ndarray, WH: np.ndarray, beta: Union[float, str]) -> float:
    """The beta-divergence ``D_beta(V | WH) = sum_ft d_beta(V_ft | WH_ft)``.

    Computed in float64. WH (and, for beta <= 0, V) is floored at
    ``eps = finfo(float64).eps * mean(V)`` so that exact zeros give a finite value; this
    differs from the ``D(V | WH + eps)`` that :func:`nmf` records only by terms of the
    order of eps.

    Parameters
    ----------
    V : np.ndarray, shape=(F, T)
        Nonnegative data.
    WH : np.ndarray, shape=(F, T)
        Nonnegative model of V.
    beta : float or str
        0 (or "is"), 1 (or "kl"), 2 (or "euclidean"), or any real number.

    Returns
    -------
    float
        The divergence; 0 when ``WH == V``.

    Examples
    --------
    >>> import numpy as np
    >>> V = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> beta_divergence(V, V, "kl")
    0.0
    """
    beta = parse_beta(beta)
    V = _check_nonnegative(V, "V", ndim=2)
    WH = _check_nonnegative(WH, "WH", ndim=2)
    if V.shape != WH.shape:
        raise ParameterError(f"V has shape {V.shape} but WH has shape {WH.shape}; they must match")
    V = V.astype(np.float64)
    eps = np.finfo(np.float64).eps * max(float(V.mean()), np.finfo(np.float64).tiny)
    WH = np.maximum(WH.astype(np.float64), eps)
    if beta <= 0.0:
        V = np.maximum(V, eps)
    return float(_divergence_terms(V, WH, beta, np.empty_like(V)).sum())


# ---------------------------------------------------------------------------------------
# input checks


def _check_nonnegative(X, name: str, *, ndim: int) -> np.ndarray:
    """Check that X is a real, finite, nonnegative array of ``ndim`` dimensions.

    Uses min/max reductions (which propagate NaN) rather than boolean masks, so the check
    allocates nothing of the size of X.
    """
    try:
        X = np.asarray(X)
    except (ValueError, TypeError):  # ragged nested lists
        raise ParameterError(f"{name} must be a rectangular numeric array (all rows of the "
                             "same length), e.g. a 2-D np.ndarray") from None
    if X.dtype == object or not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise ParameterError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    if X.ndim != ndim:
        raise ParameterError(f"{name} must be {ndim}-D, got shape {X.shape}")
    if X.size == 0:
        raise ParameterError(f"{name} is empty (shape {X.shape})")
    lo, hi = X.min(), X.max()
    if np.isnan(lo) or np.isnan(hi):
        raise ParameterError(f"{name} contains NaN; remove or replace them before factorizing")
    if np.isinf(lo) or np.isinf(hi):
        raise ParameterError(f"{name} contains inf; the input must be finite")
    if lo < 0:
        raise ParameterError(
            f"{name} has negative entries (min {lo:.3g}); NMF needs a nonnegative matrix, "
            "e.g. a magnitude or power spectrogram"
        )
    return X


def _column_mask(spec, n_columns: int, name: str) -> np.ndarray:
    """Turn ``fixed_templates`` (bool, boolean mask or indices) into a boolean mask."""
    if spec is None or spec is False:
        return np.zeros(n_columns, dtype=bool)
    if spec is True:
        return np.ones(n_columns, dtype=bool)
    arr = np.asarray(spec)
    if arr.dtype == bool:
        if arr.shape != (n_columns,):
            raise ParameterError(
                f"{name} as a boolean mask must have one entry per component ({n_columns}), "
                f"got shape {arr.shape}"
            )
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
        raise ParameterError(
            f"{name} must be True/False, a boolean mask of length {n_columns} "
            f"or a list of column indices, got {spec!r}"
        )
    if arr.size and (arr.min() < -n_columns or arr.max() >= n_columns):
        raise ParameterError(
            f"{name} has an index out of range for {n_columns} components: {arr.tolist()}"
        )
    mask = np.zeros(n_columns, dtype=bool)
    mask[arr] = True
    return mask


# ---------------------------------------------------------------------------------------
# initialization


def _random_factor(rng: np.random.Generator, shape, scale: float, dtype) -> np.ndarray:
    # Drawn in float64 whatever dtype, so that float32 and float64 fits from one seed
    # start from the same point; kept away from exact 0, which MU could never leave.
    values = rng.random(shape)
    np.maximum(values, 1e-3, out=values)
    return (values * scale).astype(dtype)


def _product(V: np.ndarray, M: np.ndarray, *, transpose: bool = False) -> np.ndarray:
    """``V @ M`` (or ``V.T @ M``) in float64, V cast one block of columns at a time.

    The random projections need float64, but a float64 copy of a long float32 V would
    double the memory of the whole fit; a block of columns at a time costs a few MB.
    """
    F, T = V.shape
    width = _block_width(F, T, 8)
    if transpose:
        out = np.empty((T, M.shape[1]))
        for a in range(0, T, width):
            out[a:a + width] = V[:, a:a + width].astype(np.float64).T @ M
        return out
    out = np.zeros((F, M.shape[1]))
    for a in range(0, T, width):
        out += V[:, a:a + width].astype(np.float64) @ M[a:a + width]
    return out


def _randomized_svd(V: np.ndarray, rank: int, rng: np.random.Generator, n_power: int = 4):
    """Rank-``rank`` truncated SVD by the randomized range finder (Halko et al., 2011)."""
    n_oversample = 10
    width = min(rank + n_oversample, min(V.shape))
    Q = _product(V, rng.standard_normal((V.shape[1], width)))
    for _ in range(n_power):  # power iterations sharpen the spectrum of slowly decaying V
        Q, _ = np.linalg.qr(Q)
        Q, _ = np.linalg.qr(_product(V, Q, transpose=True))
        Q = _product(V, Q)
    Q, _ = np.linalg.qr(Q)
    U_small, S, Vt = np.linalg.svd(_product(V, Q, transpose=True).T, full_matrices=False)
    return (Q @ U_small)[:, :rank], S[:rank], Vt[:rank]


def _nndsvda(V: np.ndarray, rank: int, rng: np.random.Generator):
    """NNDSVDa initialization (Boutsidis & Gallopoulos, 2008): NNDSVD with zeros set to mean(V)."""
    U, S, Vt = _randomized_svd(V, rank, rng)  # in float64, without a float64 copy of V
    W = np.zeros((V.shape[0], rank))
    H = np.zeros((rank, V.shape[1]))
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(Vt[0, :])
    for j in range(1, rank):
        x, y = U[:, j], Vt[j, :]
        xp, yp = np.maximum(x, 0), np.maximum(y, 0)
        xn, yn = np.maximum(-x, 0), np.maximum(-y, 0)
        xpn, ypn = np.linalg.norm(xp), np.linalg.norm(yp)
        xnn, ynn = np.linalg.norm(xn), np.linalg.norm(yn)
        # keep the sign pattern that carries more of the singular pair
        if xpn * ypn >= xnn * ynn:
            u, v, sigma = xp / max(xpn, 1e-300), yp / max(ypn, 1e-300), xpn * ypn
        else:
            u, v, sigma = xn / max(xnn, 1e-300), yn / max(ynn, 1e-300), xnn * ynn
        lbd = np.sqrt(S[j] * sigma)
        W[:, j] = lbd * u
        H[j, :] = lbd * v
    # Zeros are filled with the level of one factor, sqrt(mean(V)), not mean(V) as in
    # the paper and scikit-learn: W and H each carry the square root of V's scale, so
    # mean(V) made the start (and the whole fit) depend on the recording's gain. The two
    # agree where mean(V) = 1; with sqrt, V * c gives W and H * sqrt(c), exactly so for
    # c a power of 4 (tests/test_nmf.py).
    fill = np.sqrt(float(V.mean(dtype=np.float64)))
    W[W < 1e-12 * fill] = fill
    H[H < 1e-12 * fill] = fill
    return W, H


# ---------------------------------------------------------------------------------------
# the fit


def _block_width(n_rows: int, n_columns: int, itemsize: int) -> int:
    width = _BLOCK_BYTES // max(1, n_rows * itemsize)
    return int(min(n_columns, max(64, width)))


# Update orders: "HW" (H, then W, in every iteration) and "WH" (one W-only update first,
# then as "HW"). Measured (iterations to reach scikit-learn's 200-iteration KL, float32,
# same start, K = 16 unless said): from random starts "HW" needed 80 to 162 on five real
# spectrograms, "WH" 200 on all; from NNDSVDa "HW" needed 145 and 147 on the 60 s
# separation V and B_speech_music but 233 to 649 on three others (624 on the 60 s
# benchmark V, K = 32), "WH" 200 on all. Blind separations (NNDSVDa) with "WH" scored
# lower median SDR on 4 of the 6 shared tasks (e.g. drums_funky 12.4 -> 7.4 dB,
# A_piano_bass_drums 3.9 -> 1.7 dB), so "HW" is the default everywhere.
_ORDERS = ("HW", "WH")


def _balanced_width(n_columns: int, width: int, n_lanes: int) -> int:
    """A block width near ``width`` that gives every lane the same number of blocks.

    Lanes meet at the end of every pass, so the pass lasts as long as the busiest lane:
    11 blocks on 2 lanes (6 and 5) idle one core for a twelfth of every pass. Measured
    on 2 cores (float32, 1025 x 2584, K = 32): 12 blocks of 216 columns against 11 of 235
    took 4.7 instead of 5.6 ms per KL iteration and 7.4 instead of 8.4 for IS.
    """
    n_blocks = -(-n_columns // width)
    n_blocks = -(-n_blocks // n_lanes) * n_lanes
    return -(-n_columns // n_blocks)


def _is_count(minimum: int):
    def check(value) -> bool:
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and value >= minimum)
    return check


def _is_finite_nonnegative(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and bool(np.isfinite(value)) and value >= 0)


def _is_seed(value) -> bool:
    return value is None or isinstance(value, np.random.Generator) or _is_count(0)(value)


#: nmf()'s scalar arguments: name -> (test, message when the test fails).
_PARAMETER_CHECKS = {
    "n_iter": (_is_count(0), "n_iter must be a nonnegative integer, got {value!r}"),
    "check_every": (_is_count(1), "check_every must be a positive integer, got {value!r}"),
    "tol": (_is_finite_nonnegative, "tol must be a finite number >= 0, got {value!r}"),
    "l1_activations": (_is_finite_nonnegative,
                       "l1_activations must be a finite number >= 0, got {value!r}"),
    "init": (lambda v: isinstance(v, str) and v in _INITS,
             "unknown init {value!r}: use one of " + ", ".join(_INITS)),
    "n_threads": (lambda v: v is None or _is_count(1)(v),
                  "n_threads must be a positive integer or None, got {value!r}"),
    "callback": (lambda v: v is None or callable(v),
                 "callback must be callable as callback(iteration, loss), got {value!r}"),
    "update_order": (lambda v: v in _ORDERS, "update_order must be 'HW' or 'WH', got {value!r}"),
    "seed": (_is_seed, "seed must be None, an integer >= 0 or a numpy.random.Generator, "
                       "got {value!r}"),
}


def _check_parameters(values: dict) -> None:
    for name, (test, message) in _PARAMETER_CHECKS.items():
        if not test(values[name]):
            raise ParameterError(message.format(value=values[name]))


def _check_dtype(dtype) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ParameterError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ParameterError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def nmf(
    V: np.ndarray, n_components: Optional[int] = None, *, beta: Union[float, str] = "kl",
    templates: Optional[np.ndarray] = None, activations: Optional[np.ndarray] = None,
    fixed_templates: Union[bool, Sequence[int], np.ndarray] = False,
    fixed_activations: bool = False, n_iter: int = 200, tol: float = 1e-4,
    l1_activations: float = 0.0, init: str = "random",
    seed: Union[None, int, np.random.Generator] = None, dtype=np.float32,
    check_every: int = 10, callback: Optional[Callable[[int, float], None]] = None,
    n_threads: Optional[int] = None, update_order: str = "HW",
) -> NMFResult:
    """Factorize ``V ~ W @ H`` with nonnegative W, H by beta-divergence multiplicative updates.

    Parameters
    ----------
    V : np.ndarray, shape=(F, T)
        Nonnegative, finite data (e.g. a magnitude spectrogram; zeros are fine). Never modified.
    n_components : int > 0, optional
        K (default: from ``templates`` or ``activations``). Columns missing from
        ``templates`` are added, initialized by ``init`` and learned (semi-supervised).
    beta : float or str
        0 or "is", 1 or "kl" (default), 2 or "euclidean" (see BETA_NAMES), or any real number.
    templates, activations : np.ndarray, shape=(F, K0 <= K) and (K, T), optional
        Initial (or fixed) templates W and activations H. Copied, never modified.
    fixed_templates : bool, sequence of int, or np.ndarray of bool, shape=(K,)
        Columns of W kept bit-identical: none, all given, these indices, or a mask.
    fixed_activations : bool
        Keep ``activations`` as given and learn only W.
    n_iter : int >= 0
        Maximum number of iterations (one update of H and one of W each).
    tol : float >= 0
        Stop when ``(previous - current) / current`` of the loss between two checks falls
        below ``tol``; 0 runs all ``n_iter``.
    l1_activations : float >= 0
        Weight of the sparsity penalty ``l1 * sum_k ||w_k||_2 ||h_k||_1`` (free columns
        of W kept at unit L2 norm; see the module docstring). The divergence scales as
        ``V**beta`` and the penalty as ``V``: for KL the weight does not depend on the
        level of V (0.1 to 0.5 are typical for audio).
    init : {"random", "nndsvda"}
        Initialization of factors not given: uniform random scaled to V, or NNDSVDa
        (Boutsidis & Gallopoulos, 2008) from a randomized SVD.
    update_order : {"HW", "WH"}
        "HW" (default): H, then W. "WH": one W update first (from some NNDSVDa starts it
        reaches a given loss sooner, but not from random ones; see ``_ORDERS``).
    seed : int, np.random.Generator or None
        Seed for the initialization; the same seed gives bit-identical results.
    dtype : np.float32 or np.float64
        float32 (default) suffices for audio (KL losses agree to ~1e-6); eps is relative to
        ``finfo(dtype).eps``, so IS fits of digital silence differ by a few percent.
    check_every : int > 0
        Compute the loss (and test convergence) every this many iterations.
    callback : callable(iteration, loss), optional
        Called after each loss evaluation (e.g. for a progress bar).
    n_threads : int, optional
        Threads sharing the column blocks (default: the cores this process may use);
        bit-identical results for the same seed and n_threads.

    Returns
    -------
    NMFResult
        ``templates`` (F, K), ``activations`` (K, T), loss history, iterations, convergence.

    Raises
    ------
    ParameterError
        If V is not a finite nonnegative 2-D array, or a shape, mask or option does not fit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> V = rng.random((20, 2)) @ rng.random((2, 30))
    >>> result = nmf(V, 2, beta="kl", n_iter=500, tol=0, seed=0)
    >>> result.templates.shape, result.activations.shape
    ((20, 2), (2, 30))
    >>> bool(np.linalg.norm(V - result.reconstruction()) < 1e-2 * np.linalg.norm(V))
    True
    """
    beta, dtype = parse_beta(beta), _check_dtype(dtype)
    _check_parameters(locals())
    V_in = _check_nonnegative(V, "V", ndim=2)
    W0, H0, K = _check_factors(V_in.shape, n_components, templates, activations)
    fixed = _fixed_columns(fixed_templates, W0, K)
    _check_fixed_activations(fixed_activations, H0, l1_activations)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    Vw = V_in if V_in.dtype == dtype else V_in.astype(dtype)  # blocks are read in place
    mean_v = float(Vw.mean(dtype=np.float64))
    if mean_v <= 0.0:
        raise ParameterError("V is all zeros (silence): there is nothing to factorize")
    W, H = _initial_factors(Vw, mean_v, K, W0, H0, init, rng)
    free = np.flatnonzero(~fixed)
    l1 = float(l1_activations)
    if l1 > 0 and free.size:
        _normalize_free_columns(W, H, free)
    ctx = _Context(Vw, W, H, beta, float(np.finfo(dtype).eps) * mean_v, l1, free,
                   update_H=not fixed_activations, update_W=bool(free.size))
    return _fit(ctx, n_iter=n_iter, tol=float(tol), check_every=check_every,
                callback=callback, n_threads=n_threads, w_first=update_order == "WH")


def _check_factors(shape, n_components, templates, activations):
    """Check the given factors against V's shape and K; returns (W0, H0, K)."""
    F, T = shape
    W0 = None if templates is None else _check_nonnegative(templates, "templates", ndim=2)
    H0 = None if activations is None else _check_nonnegative(activations, "activations", ndim=2)
    if W0 is not None and W0.shape[0] != F:
        raise ParameterError(
            f"templates have {W0.shape[0]} rows but V has {F} (frequency bins); "
            "they must match (same STFT size?)"
        )
    if H0 is not None and H0.shape[1] != T:
        raise ParameterError(f"activations have {H0.shape[1]} columns but V has {T} (frames)")
    if n_components is None:
        if W0 is None and H0 is None:
            raise ParameterError("give n_components (or templates / activations to take it from)")
        n_components = W0.shape[1] if W0 is not None else H0.shape[0]
    if not _is_count(1)(n_components):
        raise ParameterError(f"n_components must be a positive integer, got {n_components!r}")
    K = int(n_components)
    if W0 is not None and W0.shape[1] > K:
        raise ParameterError(f"templates have {W0.shape[1]} columns, more than n_components={K}")
    if H0 is not None and H0.shape[0] != K:
        raise ParameterError(f"activations have {H0.shape[0]} rows but n_components is {K}")
    return W0, H0, K


def _check_fixed_activations(fixed_activations, H0, l1_activations) -> None:
    if fixed_activations and H0 is None:
        raise ParameterError("fixed_activations needs activations: pass the activations to keep fixed")
    if fixed_activations and l1_activations > 0:
        raise ParameterError("l1_activations penalizes activations; it has no effect when they are fixed")


def _fixed_columns(fixed_templates, W0, K: int) -> np.ndarray:
    """The boolean mask (K,) of fixed columns of W."""
    if fixed_templates is not False and fixed_templates is not None and W0 is None:
        raise ParameterError("fixed_templates needs templates: pass the templates to keep fixed")
    if fixed_templates is True:
        fixed = np.zeros(K, dtype=bool)
        fixed[: W0.shape[1]] = True
        return fixed
    fixed = _column_mask(fixed_templates, K, "fixed_templates")
    if W0 is not None and fixed[W0.shape[1]:].any():
        raise ParameterError(
            f"fixed_templates marks columns beyond the {W0.shape[1]} given templates; "
            "only given columns can be fixed"
        )
    return fixed


def _initial_factors(Vw, mean_v: float, K: int, W0, H0, init: str, rng):
    """W (F, K) and H (K, T) in V's dtype, C-ordered: our own copies of what was given,
    the rest from ``init``."""
    (F, T), dtype = Vw.shape, Vw.dtype
    W_init = H_init = None
    need_w = W0 is None or W0.shape[1] < K
    if init == "nndsvda" and (need_w or (H0 is None and W0 is None)):
        if K > min(F, T):
            raise ParameterError(f"init='nndsvda' needs n_components <= min(F, T) = {min(F, T)}; use init='random'")
        W_init, H_init = _nndsvda(Vw, K, rng)
    W = np.empty((F, K), dtype=dtype)
    if W0 is not None:
        W[:, : W0.shape[1]] = W0
    if need_w:
        k0 = 0 if W0 is None else W0.shape[1]
        W[:, k0:] = (W_init[:, k0:].astype(dtype) if W_init is not None
                     else _random_factor(rng, (F, K - k0), np.sqrt(mean_v / K), dtype))
    if H0 is not None:
        H = np.array(H0, dtype=dtype, order="C", copy=True)
    elif W_init is not None and W0 is None:
        H = H_init.astype(dtype)
    else:
        # match the scale of the given templates: W @ H should start near mean(V)
        h_scale = mean_v / max(K * float(W.mean(dtype=np.float64)), np.finfo(np.float64).tiny)
        H = _random_factor(rng, (K, T), h_scale, dtype)
    return W, H


class _LossLog:
    """The recorded losses, the callback and the convergence test."""

    def __init__(self, tol: float, callback, beta: float, dtype):
        self.tol, self.callback, self.beta, self.dtype = tol, callback, beta, dtype
        self.losses: list = []
        self.iterations: list = []

    def record(self, iteration: int, value: float) -> bool:
        """Store a loss; True when the fit has converged."""
        if not np.isfinite(value):
            raise _overflow_error(self.beta, self.dtype, iteration)
        self.losses.append(value)
        self.iterations.append(iteration)
        if self.callback is not None:
            self.callback(iteration, value)
        if len(self.losses) >= 2 and self.tol > 0:
            prev, cur = self.losses[-2], self.losses[-1]
            return (prev - cur) <= self.tol * max(abs(cur), np.finfo(np.float64).tiny)
        return False


def _pass(workers, lanes, ctx, *, want_loss: bool, loss_only: bool = False, w_only: bool = False):
    """One pass of the lanes over the column blocks; returns their partial sums."""
    ctx.prepare(update_H=ctx.update_H and not (loss_only or w_only))
    return workers.run(lanes, ctx, want_loss=want_loss, loss_only=loss_only, w_only=w_only)


def _fit(ctx: "_Context", *, n_iter, tol, check_every, callback, n_threads, w_first) -> NMFResult:
    """The iterations: passes over the column blocks, each updating H, then W.

    The loss of the current (W, H) is computed inside a pass, from the WH it needs anyway,
    so a check costs no extra matrix product.
    """
    W, H, beta, l1 = ctx.W, ctx.H, ctx.beta, ctx.l1
    F, T = ctx.Vw.shape
    width = _block_width(F, T, W.dtype.itemsize)
    n_lanes = _n_lanes(n_threads, -(-T // width))
    width = _balanced_width(T, width, n_lanes)
    starts = list(range(0, T, width))
    lanes = [_Lane(starts[i::n_lanes], width, ctx) for i in range(n_lanes)]
    log = _LossLog(tol, callback, beta, W.dtype)
    converged = stopping = False
    it = 0
    with _Workers(n_lanes) as workers:
        if w_first and ctx.update_W and ctx.update_H and n_iter > 0:
            parts = _pass(workers, lanes, ctx, want_loss=True, w_only=True)
            stopping = converged = log.record(0, _penalty(W, H, l1) + sum(p.loss for p in parts))
            ctx.update_templates(parts)
        while True:
            if it == n_iter or stopping:
                if not log.iterations or log.iterations[-1] != it:
                    parts = _pass(workers, lanes, ctx, want_loss=True, loss_only=True)
                    converged = log.record(it, sum(p.loss for p in parts) + _penalty(W, H, l1)) or converged
                break
            want_loss = it % check_every == 0 and not (it == 0 and log.iterations)
            penalty = _penalty(W, H, l1) if want_loss else 0.0
            parts = _pass(workers, lanes, ctx, want_loss=want_loss)
            # partial sums are added in lane order: the result does not depend on timing
            if want_loss and log.record(it, penalty + sum(p.loss for p in parts)):
                stopping = converged = True  # finish this iteration, then record the loss of what is returned
            ctx.update_templates(parts)
            it += 1
    if not (np.isfinite(W).all() and np.isfinite(H).all()):
        raise _overflow_error(beta, W.dtype, it)
    return NMFResult(templates=W, activations=H, loss_history=np.asarray(log.losses, dtype=np.float64),
                     loss_iterations=np.asarray(log.iterations, dtype=np.int64), n_iter=it,
                     converged=converged, beta=beta, l1_activations=l1)


def _overflow_error(beta: float, dtype, iteration: int) -> ParameterError:
    # (WH)^(beta - 2) and (WH)^beta leave the float range for extreme beta at some data
    # levels; say so rather than return NaN
    return ParameterError(
        f"the fit left the range of {np.dtype(dtype).name} at iteration {iteration} "
        f"(beta={beta:g} raises the model to powers of {beta - 2:g} and {beta:g}); use "
        "dtype=np.float64, a beta between 0 and 2, or rescale V to values near 1"
    )


def _penalty(W: np.ndarray, H: np.ndarray, l1: float) -> float:
    """l1 * sum_k ||w_k||_2 ||h_k||_1: the scale-invariant form of l1 * ||H||_1."""
    if l1 == 0.0:
        return 0.0
    return l1 * float(np.linalg.norm(W.astype(np.float64), axis=0) @ H.sum(axis=1, dtype=np.float64))


def _normalize_free_columns(W: np.ndarray, H: np.ndarray, free: np.ndarray) -> None:
    """Give the free columns of W unit L2 norm and move the scale into H (WH unchanged)."""
    norms = np.linalg.norm(W[:, free].astype(np.float64), axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    W[:, free] /= norms.astype(W.dtype)
    H[free, :] *= norms.astype(H.dtype)[:, None]


def _model(W_aug, Hb, h_aug, out):
    """W @ Hb + eps into ``out``, as one product: [W | eps] @ [Hb; 1].

    Folding eps into the product saves a pass over the (F, block) result, and makes the
    model exactly that of an extra, fixed component (see the module docstring).
    """
    n = Hb.shape[1]
    h_aug[:-1, :n] = Hb
    return np.matmul(W_aug, h_aug[:, :n], out=out)


def _block_loss(Vb, WHb, beta, scratch) -> float:
    return float(_divergence_terms(Vb, WHb, beta, scratch).sum(dtype=np.float64))


def _numer_denom(Vb, WHb, beta, numer, denom):
    """(WH)^(beta-2) * V into ``numer`` and (WH)^(beta-1) into ``denom``, beta not in {1, 2}."""
    if beta == 0.0:
        # IS: V / WH^2 and 1 / WH, with one division
        np.divide(1.0, WHb, out=denom)
        np.multiply(Vb, denom, out=numer)
        numer *= denom
        return numer, denom
    np.power(WHb, beta - 2.0, out=numer)
    np.multiply(numer, WHb, out=denom)
    numer *= Vb
    return numer, denom


def _raise_to_gamma(ratio: np.ndarray, gamma: float) -> np.ndarray:
    """``ratio ** gamma`` in place. IS has gamma = 1/2, and np.sqrt is 4 times faster than
    np.power(x, 0.5) (which has no fast path when called as a ufunc)."""
    if gamma == 0.5:
        np.sqrt(ratio, out=ratio)
    elif gamma != 1.0:
        np.power(ratio, gamma, out=ratio)
    return ratio


def _activation_step(ctx, Hb, numer, denom) -> None:
    """Hb <- Hb * (numer / (denom + l1 c))^gamma, in place (numer is overwritten).

    The penalty l1 * ||w_k||_2 ||h_k||_1 is linear in H, so it adds l1 * c_k to the
    denominator (exact MM for beta <= 1; for beta > 1 after majorizing the linear term
    by l1 * h0 * (r**beta / beta + 1 - 1/beta), r = h / h0).
    """
    if ctx.l1:
        denom += ctx.l1_c
    np.maximum(denom, np.finfo(denom.dtype).tiny, out=denom)
    numer /= denom
    _raise_to_gamma(numer, ctx.gamma)
    Hb *= numer


def _update_templates(W, H, free, beta, gamma, num_W, den_W, HHt, l1) -> None:
    """W update of the free columns from the accumulated sums B = num_W and A (below).

    Without sparsity this is W <- W * (B / A)^gamma. With sparsity the penalty
    l1 * ||w_k||_2 ||h_k||_1 is majorized, at the current unit-norm columns, by
    l1 * s_k * (||w_k||^2 + 1) / 2 (s_k = ||h_k||_1; sqrt is concave), which adds
    mu * w with mu = l1 * s_k to the gradient of the surrogate. In r = w / w0 the
    minimizer of the surrogate solves, elementwise,

        A r^(beta-1) - B r^(beta-2) + mu w0 r = 0        (1 <= beta <= 2)
        A            - B r^(beta-2) + mu w0 r = 0        (beta < 1)
        A r^(beta-1) - B            + mu w0 r = 0        (beta > 2)

    closed-form for beta = 1 (a quadratic) and beta >= 2 (after majorizing r^2 by
    (2/beta) r^beta + 1 - 2/beta), and found by bisection otherwise: the left side
    increases in r, so its root is unique and lies in (0, (B/A)^gamma].
    """
    Hf = H if free.size == H.shape[0] else H[free]
    s = Hf.sum(axis=1, dtype=np.float64)  # ||h_k||_1
    tiny = np.finfo(W.dtype).tiny
    if beta == 1.0:
        A = np.broadcast_to(s[None, :], num_W.shape)
    elif beta == 2.0:
        A = W.astype(np.float64) @ HHt.T  # W (H H_f^T)
    else:
        A = den_W
    A = np.maximum(A, tiny)
    B = num_W
    if not l1:
        factor = _raise_to_gamma((B / A).astype(W.dtype, copy=False), gamma)
    else:
        w0 = (W if free.size == W.shape[1] else W[:, free]).astype(np.float64)
        mu_w0 = (l1 * s)[None, :] * w0
        B = B.astype(np.float64)
        if beta == 1.0:
            # mu w0 r^2 + s r - B = 0, in the cancellation-free form of the positive root
            factor = 2.0 * B / (A + np.sqrt(A * A + 4.0 * mu_w0 * B))
        elif beta >= 2.0:
            factor = (B / (A + mu_w0)) ** (1.0 / (beta - 1.0))
        else:
            factor = _bisect_surrogate_root(A.astype(np.float64), B, mu_w0, beta, gamma)
        factor = factor.astype(W.dtype)
    if free.size == W.shape[1]:
        W *= factor
    else:
        W[:, free] *= factor


def _bisect_surrogate_root(A, B, mu_w0, beta, gamma, n_steps: int = 40):
    """Root in r of the W surrogate's gradient for beta < 2, beta != 1 (see above)."""
    lo = np.zeros_like(A)
    hi = np.maximum((B / A) ** gamma, np.finfo(np.float64).tiny)
    for _ in range(n_steps):
        mid = 0.5 * (lo + hi)
        grad = (A * mid ** (beta - 1.0) if beta >= 1.0 else A) - B * mid ** (beta - 2.0) + mu_w0 * mid
        positive = grad > 0
        hi = np.where(positive, mid, hi)
        lo = np.where(positive, lo, mid)
    return 0.5 * (lo + hi)


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (where the OS has one), or its
    share when a worker limited it with :func:`nmfaudio._threads.limit_threads`."""
    from ._threads import thread_share

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    share = thread_share()
    return cores if share is None else max(1, min(cores, share))


def _n_lanes(n_threads: Optional[int], n_blocks: int) -> int:
    if n_threads is None:
        n_threads = usable_cores()
    return max(1, min(int(n_threads), n_blocks))


class _Context:
    """What every lane reads during one pass: the data, the factors and per-pass sums."""

    def __init__(self, Vw, W, H, beta, eps, l1, free, *, update_H, update_W):
        self.Vw, self.W, self.H = Vw, W, H
        self.beta, self.gamma, self.eps, self.l1 = beta, _gamma(beta), eps, l1
        self.free, self.update_H, self.update_W = free, update_H, update_W
        self.all_free = free.size == W.shape[1]
        # lane buffers in V's own layout, so elementwise work runs over contiguous memory
        self.order = "F" if (Vw.flags.f_contiguous and not Vw.flags.c_contiguous) else "C"
        # IS and other betas: numerator and denominator as the two contiguous halves of
        # one buffer (see _Lane._numer_denom), so that one of the two steps multiplies
        # both in one product. (In C order, [numer | denom] as (F, 2n) would serve the H
        # step too, but its halves are strided: the elementwise work into them ran at a
        # third of the speed, measured 692 against 238 us per block: a net loss.)
        self.stacked = beta not in (1.0, 2.0)
        self.is_kernel = _kernels.is_ratios() if beta == 0.0 else None

    def prepare(self, update_H: bool) -> None:
        """Per-pass quantities of W, computed once before the lanes start."""
        W, dtype = self.W, self.W.dtype
        self.W_aug = np.empty((W.shape[0], W.shape[1] + 1), dtype=dtype)
        self.W_aug[:, :-1] = W
        self.W_aug[:, -1] = self.eps
        self.Wt = np.ascontiguousarray(W.T)
        if update_H:
            # column sums (W^T 1, the KL denominator) and L2 norms (the penalty's weights)
            colsum = W.sum(axis=0, dtype=np.float64)
            c = np.linalg.norm(W.astype(np.float64), axis=0) if self.l1 > 0 else 0.0
            self.kl_denom = np.maximum(colsum + self.l1 * c, np.finfo(dtype).tiny).astype(dtype)[:, None]
            self.l1_c = (self.l1 * c).astype(dtype)[:, None] if self.l1 > 0 else None
            self.WtW = W.T @ W if self.beta == 2.0 else None

    def update_templates(self, parts) -> None:
        """The W update from the lanes' partial sums (added in lane order: deterministic)."""
        if not self.update_W:
            return
        num_W = _sum_parts([p.num_W for p in parts])
        den_W = _sum_parts([p.den_W for p in parts])
        if num_W is not None and self.order == "F":  # [num_W^T, den_W^T] or num_W^T
            num_W, den_W = (num_W[0].T, num_W[1].T) if self.stacked else (num_W.T, den_W)
        elif num_W is not None and self.stacked:  # [num_W; den_W]
            num_W, den_W = num_W[: self.W.shape[0]], num_W[self.W.shape[0]:]
        HHt = _sum_parts([p.HHt for p in parts])
        _update_templates(self.W, self.H, self.free, self.beta, self.gamma, num_W, den_W, HHt, self.l1)
        if self.l1 > 0:
            _normalize_free_columns(self.W, self.H, self.free)


class _Partial:
    __slots__ = ("loss", "num_W", "den_W", "HHt")

    def __init__(self, ctx, update_W: bool):
        self.loss = 0.0
        self.num_W = self.den_W = self.HHt = None
        if update_W:
            F, n_free, K, dtype = ctx.W.shape[0], ctx.free.size, ctx.W.shape[1], ctx.W.dtype
            if ctx.order == "F":  # transposed, see _Lane._accumulate_W
                self.num_W = np.zeros(((2,) if ctx.stacked else ()) + (n_free, F), dtype=dtype)
            else:
                self.num_W = np.zeros((2 * F if ctx.stacked else F, n_free), dtype=dtype)
            if ctx.beta == 2.0:
                self.HHt = np.zeros((n_free, K), dtype=np.float64)


def _sum_parts(parts):
    if parts[0] is None:
        return None
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


class _Lane:
    """One worker's share of the column blocks, with its own buffers and partial sums.

    Lanes run in parallel threads (numpy releases the GIL in BLAS and ufuncs); each
    writes only its own columns of H and its own partial sums. Buffers are flat and
    viewed as (F, n) for a block of n columns, so every view is contiguous.
    """

    def __init__(self, starts, width, ctx: _Context):
        F, K = ctx.W.shape
        T, dtype = ctx.Vw.shape[1], ctx.W.dtype
        self.starts, self.width, self.order = starts, width, ctx.order
        self.h_aug = np.empty((K + 1, width), dtype=dtype)  # [H block; 1], see _model
        self.h_aug[-1] = 1
        self.wh = np.empty(F * width, dtype=dtype)  # the model, then (KL) V / WH in place
        self.scratch = np.empty(F * width, dtype=dtype)  # loss terms
        self.stack = np.empty(2 * F * width, dtype=dtype) if ctx.stacked else None
        # A column block of a C-ordered V is strided; elementwise work on it ran at half
        # the speed of contiguous memory (measured: 1.1 against 0.5 ms per pass over the
        # 60 s V), so each block is copied once per pass into a contiguous buffer, which
        # both of the pass's divisions then read. For IS the copy also applies the floor.
        # (also a V that is neither C- nor F-contiguous, e.g. a view V[:, ::2]: every block
        # copied, so that the blocks the lanes work on are always contiguous)
        self.strided = ctx.order == "C" and not (ctx.Vw.flags.c_contiguous and width >= T)
        # IS floors V at eps (module docstring). The fused IS kernel floors as it reads;
        # without it, blocks that hold a value below eps are copied with the floor
        # applied, and the others are read in place, exactly as if floored.
        self.floored = set()
        if ctx.beta <= 0.0 and not self.strided and ctx.is_kernel is None:
            self.floored = {a for a in starts if ctx.Vw[:, a:a + width].min() < ctx.eps}
        self.v_copy = np.empty(F * width, dtype=dtype) if (self.strided or self.floored) else None

    def _view(self, flat, n, columns=1):
        rows = flat.shape[0] // (self.width * columns)
        return flat[: rows * columns * n].reshape((rows, columns * n), order=self.order)

    def _v_block(self, ctx, a, b):
        Vb = ctx.Vw[:, a:b]
        if not (self.strided or a in self.floored):
            return Vb
        out = self._view(self.v_copy, b - a)
        if ctx.beta <= 0.0:  # the divergence of an exact zero is infinite for beta <= 0
            return np.maximum(Vb, ctx.eps, out=out)
        np.copyto(out, Vb)
        return out

    def run(self, ctx: _Context, want_loss: bool, loss_only: bool = False, *,
            w_only: bool = False) -> _Partial:
        update_H = ctx.update_H and not (loss_only or w_only)
        update_W = ctx.update_W and not loss_only
        part = _Partial(ctx, update_W)
        T = ctx.Vw.shape[1]
        for a in self.starts:
            b = min(a + self.width, T)
            Vb, Hb, WH = self._v_block(ctx, a, b), ctx.H[:, a:b], self._view(self.wh, b - a)
            loss_here = want_loss  # the loss is of the factors before this pass updates them
            if update_H:
                if ctx.beta != 2.0 or loss_here:
                    _model(ctx.W_aug, Hb, self.h_aug, WH)
                if loss_here:
                    part.loss += self._loss(ctx, Vb, WH)
                    loss_here = False
                self._update_H(ctx, Vb, Hb, WH)
            if update_W or loss_here:
                if ctx.beta != 2.0 or loss_here:
                    _model(ctx.W_aug, Hb, self.h_aug, WH)
                if loss_here:
                    part.loss += self._loss(ctx, Vb, WH)
            if update_W:
                self._accumulate_W(ctx, part, Vb, Hb, WH)
        return part

    def _loss(self, ctx, Vb, WH) -> float:
        scratch = self._view(self.scratch, WH.shape[1])
        if ctx.beta <= 0.0:  # the floor of V, if _v_block has not applied it (the IS kernel)
            Vb = np.maximum(Vb, ctx.eps, out=scratch)
        return _block_loss(Vb, WH, ctx.beta, scratch)

    def _update_H(self, ctx, Vb, Hb, WH) -> None:
        """H update of one block of columns (in place on the view Hb); WH = W Hb + eps."""
        if ctx.beta == 1.0:  # KL: H <- H * W^T (V / WH) / (W^T 1 + l1 c)
            numer = ctx.Wt @ np.divide(Vb, WH, out=WH)
            numer /= ctx.kl_denom
            Hb *= numer
        elif ctx.beta == 2.0:  # Euclidean: W^T W is K x K, so no WH is needed
            _activation_step(ctx, Hb, ctx.Wt @ Vb, ctx.WtW @ Hb)
        else:
            numer, denom, stacked = self._numer_denom(ctx, Vb, WH)
            if self.order == "F":  # W^T [numer | denom] in one product
                n = Hb.shape[1]
                both = ctx.Wt @ stacked
                _activation_step(ctx, Hb, both[:, :n], both[:, n:])
            else:
                _activation_step(ctx, Hb, ctx.Wt @ numer, ctx.Wt @ denom)

    def _numer_denom(self, ctx, Vb, WH):
        """(WH)^(beta-2) V and (WH)^(beta-1), each contiguous, as the halves of one array:
        [numer; denom], (2F, n), in C order; [numer | denom], (F, 2n), in F order. The
        stacked array lets one product serve both: the W step's in C order, the H step's
        in F order."""
        F, n = WH.shape
        flat = self.stack[: 2 * F * n]
        numer = flat[: F * n].reshape((F, n), order=self.order)
        denom = flat[F * n:].reshape((F, n), order=self.order)
        if ctx.is_kernel is not None:  # IS in one fused pass (nmfaudio._kernels); Vb is contiguous
            order = self.order
            ctx.is_kernel(Vb.ravel(order), WH.ravel(order), WH.dtype.type(ctx.eps),
                          flat[: F * n], flat[F * n:])
        else:
            _numer_denom(Vb, WH, ctx.beta, numer, denom)
        if self.order == "C":
            return numer, denom, flat.reshape(2 * F, n)
        return numer, denom, flat.reshape((F, 2 * n), order="F")

    def _accumulate_W(self, ctx, part, Vb, Hb, WH) -> None:
        """Add one block's share to the numerator (and denominator) of the W update.

        In F order the sums are kept transposed, H (R^T) rather than R H^T: with R's
        columns contiguous, that product ran 10% faster (measured on one thread, 1025 x
        216 blocks, K = 32: 1565 against 1747 us per 60 s of columns).
        """
        Hf = Hb if ctx.all_free else Hb[ctx.free]
        if ctx.beta == 2.0:
            part.HHt += Hf.astype(np.float64) @ Hb.T.astype(np.float64)
        if ctx.beta in (1.0, 2.0):
            R = np.divide(Vb, WH, out=WH) if ctx.beta == 1.0 else Vb
            part.num_W += Hf @ R.T if self.order == "F" else R @ Hf.T
            return
        numer, denom, stacked = self._numer_denom(ctx, Vb, WH)
        if self.order == "C":  # [numer; denom] @ H^T in one product
            part.num_W += stacked @ Hf.T
        else:  # H [numer^T; denom^T], as (2, n, F), in one call
            n, F = Hb.shape[1], numer.shape[0]
            part.num_W += np.matmul(Hf, stacked.T.reshape(2, n, F))


class _BLASLimit:
    """Process-wide "one BLAS thread" while any multi-lane fit runs.

    BLAS thread counts are global to the process, so concurrent fits (threads of one
    program) share one limit: the first to start sets it, the last to finish restores
    the original. Without the count, a fit finishing while another still ran would
    leave the process at one BLAS thread for good.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._limits = None

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                try:
                    from threadpoolctl import threadpool_limits
                except ImportError:  # pragma: no cover - a dependency, but work without it
                    return
                self._limits = threadpool_limits(limits=1, user_api="blas")

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._limits is not None:
                self._limits.restore_original_limits()
                self._limits = None


_single_threaded_blas = _BLASLimit()


class _Workers:
    """Runs the lanes of a pass: lane 0 in the calling thread, the others in a pool.

    While several lanes run, BLAS is limited to one thread per lane: many small
    products that each wake a BLAS thread pool are slower than one lane per core.
    Measured while writing this on 2 cores (KL, float32, 1025 x 2584, K = 32): 1 MB
    blocks with 2-thread BLAS 22 ms/iteration, two lanes of 1-thread BLAS 9 ms,
    unblocked 2-thread BLAS 9.5 ms (but with several F x T temporaries).
    """

    def __init__(self, n_lanes: int):
        self.n_lanes = n_lanes
        self._pool = None

    def __enter__(self):
        if self.n_lanes > 1:
            self._pool = ThreadPoolExecutor(max_workers=self.n_lanes - 1,
                                            thread_name_prefix="nmfaudio-lane")
            _single_threaded_blas.acquire()
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            _single_threaded_blas.release()
        return False

    def run(self, lanes, ctx, *, want_loss: bool, loss_only: bool = False, **options):
        """``lane.run(ctx, want_loss, loss_only, **options)`` for every lane, in lane order."""
        args = (ctx, want_loss, loss_only)
        if self._pool is None:
            return [lane.run(*args, **options) for lane in lanes]
        futures = [self._pool.submit(lane.run, *args, **options) for lane in lanes[1:]]
        first = lanes[0].run(*args, **options)
        return [first] + [future.result() for future in futures]
