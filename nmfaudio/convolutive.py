"""Convolutive NMF (NMFD) with the beta-divergence, by majorization-minimization.

This module is part of the numerical core: it knows nothing of audio, files or plots. It
factorizes a nonnegative matrix ``V`` of shape ``(F, T)`` into templates ``W`` of shape
``(F, K, L)`` (each component a short spectrogram of ``L`` frames, e.g. a drum hit with
its decay) and activations ``H`` of shape ``(K, T)``, so that

    V ~ Lambda = sum_{tau=0}^{L-1} W_tau shift_tau(H),    shift_tau(H)[:, t] = H[:, t - tau]

(zero for t < tau), the model of

    P. Smaragdis, "Non-negative matrix factor deconvolution; extraction of multiple sound
    sources from monophonic inputs", Proc. ICA 2004, eq. (3), and
    M. N. Schmidt and M. Mørup, "Nonnegative matrix factor 2-D deconvolution for blind
    single channel source separation", Proc. ICA 2006, eq. (1) with one pitch shift.

With ``L = 1`` it is the NMF of :func:`nmfaudio.nmf` (and gives the same factors).

Algorithm
---------
Lambda is linear in H and, jointly over all lags, in W: it is the NMF
``[W_0 ... W_{L-1}] @ [shift_0(H); ...; shift_{L-1}(H)]``. The MM updates of

    C. Févotte and J. Idier, "Algorithms for nonnegative matrix factorization with the
    beta-divergence", Neural Computation 23(9), 2011, eqs. (45)-(47) (the auxiliary
    function of Sec. 4 and the exponent gamma(beta) of Table 2),

apply to any nonnegative linear model, so with ``P = Lambda^(beta-2) * V`` and
``Q = Lambda^(beta-1)``:

    H <- H * ( sum_tau shift_-tau(W_tau^T P) / (sum_tau shift_-tau(W_tau^T Q) + l1 c) )^gamma
    W_tau <- W_tau * ( P shift_tau(H)^T / Q shift_tau(H)^T )^gamma      (all tau at once)

The H update sums the numerators and the denominators over the lags *before* dividing:
that is the MM step of the whole linear model, so the loss never increases. Smaragdis'
update (and libnmfd's) instead averages L separate per-lag ratios, and updates each W_tau
from a Lambda that the previous lag's update has already made stale; neither is an MM
step. gamma(beta) = 1/(2-beta) for beta < 1, 1 for 1 <= beta <= 2, 1/(beta-1) for beta > 2
(:func:`nmfaudio.factorization._gamma`). One iteration updates all of H from one Lambda
(a Jacobi step, whatever the column blocks below), then all of W from the new Lambda.

Sparsity (``l1_activations``) is the scale-invariant penalty of :func:`nmfaudio.nmf`
(Marmin, Goulart & Févotte, IEEE TSP 2023), ``l1 * sum_k ||W_k||_F ||h_k||_1`` with
``W_k = W[:, k, :]`` the whole (F, L) template: the free templates are rescaled to unit
Frobenius norm after every W update, with the scale moved into H, which changes neither
Lambda nor the penalty. The penalty is linear in H (it adds ``l1 c_k``, ``c_k = ||W_k||_F``,
to the H denominator); in W it is majorized at the unit-norm templates by
``l1 s_k (||W_k||_F^2 + 1) / 2`` (``s_k = ||h_k||_1``), which the W update minimizes in
closed form for beta = 1 and beta >= 2 and by bisection otherwise, exactly as for NMF.
The penalized loss therefore never increases either (tested for beta in {0, 1, 2}).

Memory
------
The iterations run over blocks of columns of V (the width :func:`nmf` uses,
``factorization._block_width``). The H update of a block ``[a, b)`` needs P over
``[a, b + L - 1)`` and Lambda there needs H over ``[a - L + 1, b + L - 1)``: each block
reads ``L - 1`` columns of overlap on each side. Those overlap columns of H are copied
before the H pass starts (``2 (L - 1) K`` numbers per block), so that every block is
updated from the old H whichever thread runs it and in whatever order. Extra memory is a
few ``(F, block + L - 1)`` and ``(L K, block + L - 1)`` buffers per thread, however long V
is; the blocks are shared by threads as in :func:`nmf`.

Numerical floor
---------------
Exactly as in :func:`nmf`: ``eps = finfo(dtype).eps * mean(V)``, applied in two places:
the model is ``Lambda + eps``, an extra fixed component of constant level computed inside
the same matrix product (``[W_flat | eps] @ [stack of shifted H; 1]``), so silent bins
give 0 / eps = 0 instead of 0/0, and the updates minimize exactly ``D(V | Lambda + eps)``;
and for ``beta <= 0`` (Itakura-Saito) V is floored at eps, because the divergence of an
exact zero is infinite there. Nothing else is clipped; the caller's arrays are never
written to.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

from .errors import ParameterError
from .factorization import (
    _INITS,
    _FitResult,
    _Workers,
    _bisect_surrogate_root,
    _balanced_width,
    _block_width,
    _check_nonnegative,
    _column_mask,
    _divergence_terms,
    _gamma,
    _n_lanes,
    _nndsvda,
    _numer_denom,
    _overflow_error,
    _raise_to_gamma,
    _random_factor,
    parse_beta,
)

__all__ = ["nmfd", "NMFDResult", "convolutive_model"]


@dataclass(frozen=True)
class NMFDResult(_FitResult):
    """The outcome of :func:`nmfd`.

    Attributes
    ----------
    templates : np.ndarray, shape=(F, K, L)
        Nonnegative templates: ``templates[:, k, tau]`` is frame ``tau`` of component k
        (alias ``W``).
    activations : np.ndarray, shape=(K, T)
        Nonnegative activations (onsets of each template over time), often written H
        (alias ``H``).
    loss_history : np.ndarray, shape=(n_checks,)
        The loss (``D_beta(V | Lambda + eps)`` plus the sparsity penalty) at the
        iterations in ``loss_iterations``; the first at the initialization, the last at
        the returned factors (``final_loss``).
    loss_iterations : np.ndarray, shape=(n_checks,)
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

    @property
    def n_frames(self) -> int:
        """L, the number of frames of each template."""
        return self.templates.shape[2]

    def reconstruction(self, components=None) -> np.ndarray:
        """The model ``sum_tau W_tau shift_tau(H)``, shape=(F, T), of all components or some.

        Parameters
        ----------
        components : sequence of int or np.ndarray of bool, shape=(K,), optional
            Which components to add up (e.g. those of one source, for a mask); all of
            them by default.
        """
        if components is None:
            return convolutive_model(self.templates, self.activations)
        mask = _column_mask(components, self.n_components, "components")
        return convolutive_model(self.templates[:, mask], self.activations[mask])


def convolutive_model(templates: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """``Lambda = sum_tau W_tau shift_tau(H)``, the NMFD model (no eps added).

    Parameters
    ----------
    templates : np.ndarray, shape=(F, K, L)
    activations : np.ndarray, shape=(K, T)

    Returns
    -------
    np.ndarray, shape=(F, T)
        In the common dtype of the inputs.
    """
    W = np.asarray(templates)
    H = np.asarray(activations)
    if W.ndim != 3 or H.ndim != 2 or W.shape[1] != H.shape[0]:
        raise ParameterError(
            f"templates must be (F, K, L) and activations (K, T) with the same K; "
            f"got {W.shape} and {H.shape}"
        )
    T = H.shape[1]
    out = np.zeros((W.shape[0], T), dtype=np.result_type(W, H))
    for tau in range(min(W.shape[2], T)):
        out[:, tau:] += W[:, :, tau] @ H[:, : T - tau]
    return out


# ---------------------------------------------------------------------------------------
# checks and initialization


def _is_int(value, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def _check_options(n_iter, tol, l1_activations, init, seed, dtype, check_every, callback,
                   n_threads, fixed_activations) -> np.dtype:
    """Check the scalar options (the same rules and messages as :func:`nmf`); the dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ParameterError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    dtype = dt
    if not _is_int(n_iter, 0):
        raise ParameterError(f"n_iter must be a nonnegative integer, got {n_iter!r}")
    if not _is_int(check_every, 1):
        raise ParameterError(f"check_every must be a positive integer, got {check_every!r}")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not np.isfinite(tol) or tol < 0:
        raise ParameterError(f"tol must be a finite number >= 0, got {tol!r}")
    if (isinstance(l1_activations, bool) or not isinstance(l1_activations, numbers.Real)
            or not np.isfinite(l1_activations) or l1_activations < 0):
        raise ParameterError(f"l1_activations must be a finite number >= 0, got {l1_activations!r}")
    if not isinstance(init, str) or init not in _INITS:
        raise ParameterError(f"unknown init {init!r}: use one of {', '.join(_INITS)}")
    if n_threads is not None and not _is_int(n_threads, 1):
        raise ParameterError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    if callback is not None and not callable(callback):
        raise ParameterError("callback must be callable as callback(iteration, loss)")
    if not isinstance(fixed_activations, (bool, np.bool_)):
        raise ParameterError(f"fixed_activations must be True or False, got {fixed_activations!r}")
    if not (seed is None or isinstance(seed, np.random.Generator) or _is_int(seed, 0)):
        raise ParameterError(
            f"seed must be None, an integer >= 0 or a numpy.random.Generator, got {seed!r}")
    return dtype


def _check_shapes(V, n_components, n_frames, templates, activations):
    """Check V, the given factors and K, L against each other; (V, W0, H0, K, L)."""
    V = _check_nonnegative(V, "V", ndim=2)
    F, T = V.shape
    W0 = None if templates is None else _check_nonnegative(templates, "templates", ndim=3)
    H0 = None if activations is None else _check_nonnegative(activations, "activations", ndim=2)
    if W0 is not None and W0.shape[0] != F:
        raise ParameterError(f"templates have {W0.shape[0]} rows but V has {F} (frequency bins); "
                             "they must match (same STFT size?)")
    if H0 is not None and H0.shape[1] != T:
        raise ParameterError(f"activations have {H0.shape[1]} columns but V has {T} (frames)")
    if n_components is None:
        if W0 is None and H0 is None:
            raise ParameterError("give n_components (or templates / activations to take it from)")
        n_components = W0.shape[1] if W0 is not None else H0.shape[0]
    if not _is_int(n_components, 1):
        raise ParameterError(f"n_components must be a positive integer, got {n_components!r}")
    K = int(n_components)
    if n_frames is None:
        if W0 is None:
            raise ParameterError("give n_frames, the length L of the templates in frames "
                                 "(or templates of shape (F, K, L) to take it from)")
        n_frames = W0.shape[2]
    if not _is_int(n_frames, 1):
        raise ParameterError(f"n_frames must be a positive integer, got {n_frames!r}")
    L = int(n_frames)
    if L > T:
        raise ParameterError(f"n_frames={L} is longer than V ({T} frames); use at most {T}")
    if W0 is not None and W0.shape[2] != L:
        raise ParameterError(f"templates have {W0.shape[2]} frames but n_frames is {L}")
    if W0 is not None and W0.shape[1] > K:
        raise ParameterError(f"templates have {W0.shape[1]} components, more than n_components={K}")
    if H0 is not None and H0.shape[0] != K:
        raise ParameterError(f"activations have {H0.shape[0]} rows but n_components is {K}")
    return V, W0, H0, K, L


def _fixed_mask(fixed_templates, W0, K) -> np.ndarray:
    """Which components keep their given templates (all L frames of each)."""
    if fixed_templates is not False and fixed_templates is not None and W0 is None:
        raise ParameterError("fixed_templates needs templates: pass the templates to keep fixed")
    if fixed_templates is True:
        fixed = np.zeros(K, dtype=bool)
        fixed[: W0.shape[1]] = True
        return fixed
    fixed = _column_mask(fixed_templates, K, "fixed_templates")
    if W0 is not None and fixed[W0.shape[1]:].any():
        raise ParameterError(f"fixed_templates marks components beyond the {W0.shape[1]} given "
                             "templates; only given templates can be fixed")
    return fixed


def _initial_factors(Vw, W0, H0, K, L, init, rng, dtype):
    """Our own copies of the starting factors: W as (F, L, K) (lag-major), H as (K, T).

    Random templates are drawn in the public (F, K, L) order; NNDSVDa gives each template
    the NNDSVDa column of V spread evenly over its L frames (so a smooth H reproduces the
    NMF start), and the NNDSVDa activations. Random is the default because it finds
    convolutive structure better: on the synthetic mixture of the tests (K = 3, L = 6)
    random starts recovered V exactly from 3 of 3 seeds, NNDSVDa stalled at 33% relative
    error.
    """
    F, T = Vw.shape
    mean_v = float(Vw.mean(dtype=np.float64))
    W_nn = H_nn = None
    need_w = W0 is None or W0.shape[1] < K
    if init == "nndsvda" and (need_w or (H0 is None and W0 is None)):
        if K > min(F, T):
            raise ParameterError(
                f"init='nndsvda' needs n_components <= min(F, T) = {min(F, T)}; use init='random'")
        W_nn, H_nn = _nndsvda(Vw, K, rng)
    W = np.empty((F, K, L), dtype=dtype)
    k0 = 0 if W0 is None else W0.shape[1]
    if W0 is not None:
        W[:, :k0] = W0
    if need_w:
        if W_nn is not None:
            W[:, k0:] = (W_nn[:, k0:, None] / L).astype(dtype)
        else:
            W[:, k0:] = _random_factor(rng, (F, K - k0, L), np.sqrt(mean_v / (K * L)), dtype)
    if H0 is not None:
        H = np.array(H0, dtype=dtype, order="C", copy=True)
    elif H_nn is not None and W0 is None:
        H = H_nn.astype(dtype)
    else:
        # Lambda should start near mean(V): K L terms of mean(W) mean(H)
        h_scale = mean_v / max(K * L * float(W.mean(dtype=np.float64)), np.finfo(np.float64).tiny)
        H = _random_factor(rng, (K, T), h_scale, dtype)
    return np.ascontiguousarray(W.transpose(0, 2, 1)), H


# ---------------------------------------------------------------------------------------
# the fit


def nmfd(
    V: np.ndarray, n_components: Optional[int] = None, n_frames: Optional[int] = None, *,
    beta: Union[float, str] = "kl", templates: Optional[np.ndarray] = None,
    activations: Optional[np.ndarray] = None,
    fixed_templates: Union[bool, Sequence[int], np.ndarray] = False,
    fixed_activations: bool = False, l1_activations: float = 0.0, n_iter: int = 200,
    tol: float = 1e-4, init: str = "random", seed: Union[None, int, np.random.Generator] = None,
    dtype=np.float32, check_every: int = 10,
    callback: Optional[Callable[[int, float], None]] = None, n_threads: Optional[int] = None,
) -> NMFDResult:
    """Convolutive NMF: ``V ~ sum_tau W_tau shift_tau(H)`` by beta-divergence MM updates.

    Parameters
    ----------
    V : np.ndarray, shape=(F, T)
        Nonnegative, finite data, e.g. a magnitude spectrogram. Never modified, and not
        copied when it already has ``dtype``.
    n_components : int > 0, optional
        K. Defaults to the number of components of ``templates`` or rows of
        ``activations``. If ``templates`` has fewer components than K, the missing ones
        are appended, initialized by ``init`` and learned.
    n_frames : int > 0, optional
        L, the length of each template in frames (at most T). Defaults to
        ``templates.shape[2]``. About 100 ms holds a drum hit's decay (e.g. L = 8 at
        hop 256 and 22.05 kHz).
    beta : float or str
        0 or "is", 1 or "kl" (default), 2 or "euclidean", or any real number.
    templates : np.ndarray, shape=(F, K0, L) with K0 <= K, optional
        Initial (or fixed) templates. Copied, never modified.
    activations : np.ndarray, shape=(K, T), optional
        Initial (or fixed) activations. Copied, never modified.
    fixed_templates : bool, sequence of int, or np.ndarray of bool, shape=(K,)
        Which components keep their given templates (all L frames): False (none,
        default), True (all given ones), component indices, or a boolean mask over K.
        Fixed templates are returned bit-identical.
    fixed_activations : bool
        Keep ``activations`` as given and learn only the templates.
    l1_activations : float >= 0
        Weight of the scale-invariant L1 penalty ``l1 * sum_k ||W_k||_F ||h_k||_1`` (see
        the module docstring); the free templates are then kept at unit Frobenius norm.
    n_iter : int >= 0
        Maximum number of iterations (one updates H, then W).
    tol : float >= 0
        Stop when the relative decrease of the loss between two checks falls below it.
    init : {"random", "nndsvda"}
        What is not given starts uniform random (default), or from NNDSVDa of V spread
        evenly over the L frames (see ``_initial_factors`` for why random is the default).
    seed : int, np.random.Generator or None
        Seed of the initialization; the same seed and n_threads give identical bits.
    dtype : np.float32 or np.float64
        Precision of the computation (float32 by default, as :func:`nmf`).
    check_every : int > 0
        Compute the loss (and test convergence) every this many iterations.
    callback : callable(iteration, loss), optional
        Called after each loss evaluation.
    n_threads : int, optional
        Threads that share the column blocks (default: the usable cores).

    Returns
    -------
    NMFDResult
        ``templates`` (F, K, L), ``activations`` (K, T), the loss history, iterations
        run and whether the fit converged.

    Raises
    ------
    ParameterError
        If V is not a finite nonnegative 2-D array, or an argument, shape or mask does
        not fit; the message names the argument.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> W, H = rng.random((20, 2, 3)), rng.random((2, 40)) * (rng.random((2, 40)) < 0.2)
    >>> V = convolutive_model(W, H)
    >>> fit = nmfd(V, 2, 3, n_iter=300, tol=0, seed=0, dtype=np.float64)
    >>> fit.templates.shape, fit.activations.shape
    ((20, 2, 3), (2, 40))
    >>> bool(fit.final_loss < 1e-2 * fit.loss_history[0])
    True
    """
    beta = parse_beta(beta)
    dtype = _check_options(n_iter, tol, l1_activations, init, seed, dtype, check_every,
                           callback, n_threads, fixed_activations)
    ctx = _setup(V, n_components, n_frames, templates, activations, fixed_templates,
                 bool(fixed_activations), float(l1_activations), init, seed, dtype, beta)
    W, H, l1 = ctx.W, ctx.H, ctx.l1
    losses, its, converged = _iterate(ctx, n_iter, tol, check_every, callback, n_threads)
    if not (np.isfinite(W).all() and np.isfinite(H).all()):
        raise _overflow_error(beta, dtype, its[-1])
    return NMFDResult(
        templates=np.ascontiguousarray(W.transpose(0, 2, 1)), activations=H,
        loss_history=np.asarray(losses, dtype=np.float64),
        loss_iterations=np.asarray(its, dtype=np.int64),
        n_iter=its[-1], converged=converged, beta=beta, l1_activations=l1,
    )


def _setup(V, n_components, n_frames, templates, activations, fixed_templates,
           fixed_activations, l1, init, seed, dtype, beta) -> "_Context":
    """The checked inputs, the working copy of V, the starting factors: the fit's context."""
    V_in, W0, H0, K, L = _check_shapes(V, n_components, n_frames, templates, activations)
    fixed = _fixed_mask(fixed_templates, W0, K)
    if fixed_activations and H0 is None:
        raise ParameterError("fixed_activations needs activations: pass the activations to keep fixed")
    if fixed_activations and l1 > 0:
        raise ParameterError("l1_activations penalizes activations; it has no effect when they are fixed")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    Vw = V_in if V_in.dtype == dtype else V_in.astype(dtype)  # no copy when V has dtype
    mean_v = float(Vw.mean(dtype=np.float64))
    if mean_v <= 0.0:
        raise ParameterError("V is all zeros (silence): there is nothing to factorize")
    W, H = _initial_factors(Vw, W0, H0, K, L, init, rng, dtype)
    free = np.flatnonzero(~fixed)
    ctx = _Context(Vw, W, H, beta, float(np.finfo(dtype).eps) * mean_v, l1, free,
                   update_H=not fixed_activations, update_W=free.size > 0)
    if l1 > 0 and ctx.update_W:
        _normalize_free(W, H, free)
    return ctx


def _iterate(ctx, n_iter, tol, check_every, callback, n_threads):
    """The iterations; returns (losses, iterations at which they were taken, converged)."""
    F, T = ctx.Vw.shape
    width = _block_width(F, T, ctx.Vw.dtype.itemsize)
    n_lanes = _n_lanes(n_threads, -(-T // width))
    width = _balanced_width(T, width, n_lanes)
    ctx.starts = list(range(0, T, width))
    ctx.width = width
    lanes = [_Lane(ctx.starts[i::n_lanes], ctx) for i in range(n_lanes)]
    losses: list = []
    its: list = []
    converged = stopping = False

    def record(iteration: int, value: float) -> bool:
        if not np.isfinite(value):
            raise _overflow_error(ctx.beta, ctx.Vw.dtype, iteration)
        losses.append(value)
        its.append(iteration)
        if callback is not None:
            callback(iteration, value)
        if len(losses) >= 2 and tol > 0:
            return (losses[-2] - losses[-1]) <= tol * max(abs(losses[-1]), np.finfo(np.float64).tiny)
        return False

    it = 0
    with _Workers(n_lanes) as workers:
        while True:
            if it == n_iter or stopping:
                if not its or its[-1] != it:
                    converged = record(it, _run(workers, lanes, ctx, "loss", True)) or converged
                return losses, its, converged
            want_loss = it % check_every == 0
            # the loss of the current factors comes from the first pass's Lambda
            loss = None
            if ctx.update_H:
                loss = _run(workers, lanes, ctx, "H", want_loss)
            if ctx.update_W:
                w_loss = _run(workers, lanes, ctx, "W", want_loss and not ctx.update_H)
                loss = w_loss if loss is None else loss
            if not (ctx.update_H or ctx.update_W):
                loss = _run(workers, lanes, ctx, "loss", want_loss)
            if want_loss and record(it, loss):
                stopping = converged = True
            it += 1


def _run(workers, lanes, ctx, mode, want_loss):
    """One pass over the column blocks; returns the penalized loss of the factors before it."""
    penalty = _penalty(ctx.W, ctx.H, ctx.l1) if want_loss else 0.0
    ctx.prepare(mode)
    parts = workers.run(lanes, ctx, want_loss=want_loss)
    if mode == "W":
        num = _sum([p.num for p in parts])
        den = _sum([p.den for p in parts])
        _update_templates(ctx, num, den)
    # partial sums are added in lane order: the result does not depend on timing
    return penalty + sum(p.loss for p in parts)


def _sum(parts):
    if parts[0] is None:
        return None
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _penalty(W, H, l1) -> float:
    """l1 * sum_k ||W_k||_F ||h_k||_1 over all components (W stored as (F, L, K))."""
    if l1 == 0.0:
        return 0.0
    norms = np.sqrt(np.square(W, dtype=np.float64).sum(axis=(0, 1)))
    return l1 * float(norms @ H.sum(axis=1, dtype=np.float64))


def _normalize_free(W, H, free) -> None:
    """Give the free templates unit Frobenius norm, the scale moved into H (Lambda unchanged)."""
    norms = np.sqrt(np.square(W[:, :, free], dtype=np.float64).sum(axis=(0, 1)))
    norms = np.where(norms > 0, norms, 1.0)
    W[:, :, free] /= norms.astype(W.dtype)
    H[free, :] *= norms.astype(H.dtype)[:, None]


class _Context:
    """What every lane reads during one pass: data, factors, per-pass quantities."""

    def __init__(self, Vw, W, H, beta, eps, l1, free, *, update_H, update_W):
        self.Vw, self.W, self.H = Vw, W, H  # W is (F, L, K): W.reshape(F, L*K) is W_flat
        self.beta, self.gamma, self.eps, self.l1 = beta, _gamma(beta), eps, l1
        self.free, self.update_H, self.update_W = free, update_H, update_W
        F, L, K = W.shape
        self.L, self.K = L, K
        self.all_free = free.size == K
        # columns of W_flat (lag-major: tau * K + k) that the W update touches
        self.flat_free = (np.arange(L)[:, None] * K + free[None, :]).ravel()
        self.mode = None

    def prepare(self, mode: str) -> None:
        """Quantities computed once per pass, before the lanes start."""
        W, H, L, K = self.W, self.H, self.L, self.K
        F = W.shape[0]
        self.mode = mode
        self.W_aug = np.empty((F, L * K + 1), dtype=W.dtype)  # [W_flat | eps], see _Lane
        self.W_aug[:, :-1] = W.reshape(F, L * K)
        self.W_aug[:, -1] = self.eps
        if mode == "H":
            cs = W.sum(axis=0, dtype=np.float64)  # (L, K): 1^T W_tau, the KL denominators
            self.kl_den = np.cumsum(cs, axis=0).astype(W.dtype)  # lags 0..m, for the last frames
            self.c = (np.sqrt(np.square(W, dtype=np.float64).sum(axis=(0, 1))).astype(W.dtype)
                      if self.l1 > 0 else None)
            self.edges = _snapshot_edges(H, self.starts, L)
        if mode == "W" and self.beta == 1.0:
            # KL: Q = 1, so Q shift_tau(H)^T = sum_{t < T - tau} h_t, the same for every f
            rows = H.sum(axis=1, dtype=np.float64)
            tail = np.cumsum(H[:, ::-1][:, : L - 1], axis=1, dtype=np.float64)
            den = np.concatenate([rows[None, :], rows[None, :] - tail.T], axis=0)  # (L, K)
            self.kl_den_w = den.ravel()[self.flat_free].astype(W.dtype)


def _snapshot_edges(H, starts, L):
    """Old H over [s - L + 1, s + L - 1) at every block start s, zero outside [0, T).

    The H pass of a block reads these instead of H beyond its own columns, so that every
    block is updated from the old H (a Jacobi step), in any order and in any thread.
    """
    K, T = H.shape
    edges = np.zeros((len(starts), K, 2 * (L - 1)), dtype=H.dtype)
    for j, s in enumerate(starts):
        lo, hi = s - L + 1, min(s + L - 1, T)
        edges[j, :, max(lo, 0) - lo: hi - lo] = H[:, max(lo, 0):hi]
    return edges


class _Partial:
    __slots__ = ("loss", "num", "den")

    def __init__(self):
        self.loss = 0.0
        self.num = self.den = None


class _Lane:
    """One worker's share of the column blocks, with its own buffers and partial sums."""

    def __init__(self, starts, ctx: _Context):
        F, L, K = ctx.W.shape
        ext = ctx.width + L - 1
        dtype = ctx.W.dtype
        self.starts = starts
        self.hctx = np.zeros((K, ctx.width + 2 * (L - 1)), dtype=dtype)
        self.stack = np.empty((L * K + 1, ext), dtype=dtype)  # [shift_0(H); ...; 1]
        self.stack[-1] = 1
        # (F, ext) buffers in V's own layout, so that the copy of V's block is a plain copy
        Vw = ctx.Vw
        order = "F" if (Vw.flags.f_contiguous and not Vw.flags.c_contiguous) else "C"

        def buffer():
            return np.empty((F, ext), dtype=dtype, order=order)

        self.lam = buffer()
        self.buf = buffer()
        self.buf2 = buffer() if ctx.beta not in (1.0, 2.0) else None
        # V's block, copied once per pass: the elementwise work then reads contiguous
        # memory (Fortran-ordered V, as np.abs(librosa.stft(y)) is, ran 20-30% slower per
        # iteration from strided views into C-ordered buffers)
        self.v_block = buffer()
        self.g = np.empty((L * K, ext), dtype=dtype)

    def run(self, ctx: _Context, want_loss: bool, loss_only: bool = False) -> _Partial:
        part = _Partial()
        if ctx.mode == "W":
            n_cols = ctx.flat_free.size
            part.num = np.zeros((ctx.W.shape[0], n_cols), dtype=ctx.W.dtype)
            if ctx.beta != 1.0:
                part.den = np.zeros_like(part.num)
        for a in self.starts:
            if ctx.mode == "H":
                part.loss += self._update_h(ctx, a, want_loss)
            else:
                part.loss += self._model_block(ctx, a, want_loss, part)
        return part

    def _fill_stack(self, L, K, n_out):
        """Rows tau*K..(tau+1)*K of the stack: shift_tau(H) over the output columns."""
        for tau in range(L):
            self.stack[tau * K:(tau + 1) * K, :n_out] = self.hctx[:, L - 1 - tau: L - 1 - tau + n_out]

    def _lambda(self, ctx, a, e):
        """Lambda + eps over columns [a, e) into self.lam, and the (floored) V there."""
        n = e - a
        lam = np.matmul(ctx.W_aug, self.stack[:, :n], out=self.lam[:, :n])
        Vb = self.v_block[:, :n]
        if ctx.beta <= 0.0:
            np.maximum(ctx.Vw[:, a:e], ctx.eps, out=Vb)
        else:
            np.copyto(Vb, ctx.Vw[:, a:e])
        return lam, Vb

    def _pq(self, ctx, Vb, lam):
        """P = Lambda^(beta-2) V and Q = Lambda^(beta-1) (None for KL, where Q = 1)."""
        n = lam.shape[1]
        if ctx.beta == 1.0:
            return np.divide(Vb, lam, out=self.buf[:, :n]), None
        if ctx.beta == 2.0:
            return Vb, lam
        return _numer_denom(Vb, lam, ctx.beta, self.buf[:, :n], self.buf2[:, :n])

    def _update_h(self, ctx, a, want_loss) -> float:
        """Jacobi H update of block [a, b) from the old H (Févotte & Idier eq. (45), summed
        over the lags as the MM step of the whole linear model)."""
        H, L, K, T, width = ctx.H, ctx.L, ctx.K, ctx.H.shape[1], ctx.width
        j = a // width
        b = min(a + width, T)
        n = b - a
        e = min(b + L - 1, T)
        n_ext = e - a
        self.hctx[:, : L - 1] = ctx.edges[j, :, : L - 1]
        self.hctx[:, L - 1: L - 1 + n] = H[:, a:b]
        if e > b:
            self.hctx[:, L - 1 + n: L - 1 + n_ext] = ctx.edges[j + 1, :, L - 1: L - 1 + e - b]
        self._fill_stack(L, K, n_ext)
        lam, Vb = self._lambda(ctx, a, e)
        loss = _block_loss(Vb[:, :n], lam[:, :n], ctx.beta, self.buf[:, :n]) if want_loss else 0.0
        P, Q = self._pq(ctx, Vb, lam)
        W_flat_t = ctx.W_aug[:, :-1].T
        numer = _lag_sum(np.matmul(W_flat_t, P, out=self.g[:, :n_ext]), L, K, n)
        if Q is None:
            denom = np.empty_like(numer)
            denom[:] = ctx.kl_den[-1][:, None]
            # the last L - 1 frames of V see only the lags that stay inside V
            for col in range(max(0, n_ext - L + 1), n):
                denom[:, col] = ctx.kl_den[n_ext - col - 1]
        else:
            denom = _lag_sum(np.matmul(W_flat_t, Q, out=self.g[:, :n_ext]), L, K, n)
        if ctx.l1:
            denom += (ctx.l1 * ctx.c)[:, None]
        np.maximum(denom, np.finfo(denom.dtype).tiny, out=denom)
        numer /= denom
        _raise_to_gamma(numer, ctx.gamma)
        H[:, a:b] *= numer
        return loss

    def _model_block(self, ctx, a, want_loss, part) -> float:
        """Lambda over block [a, b) from the current H; the W sums (eq. (46)) in mode "W"."""
        H, L, K, T = ctx.H, ctx.L, ctx.K, ctx.H.shape[1]
        b = min(a + ctx.width, T)
        n = b - a
        lo = max(a - L + 1, 0)
        self.hctx[:, : L - 1 - (a - lo)] = 0
        self.hctx[:, L - 1 - (a - lo): L - 1 + n] = H[:, lo:b]
        self._fill_stack(L, K, n)
        lam, Vb = self._lambda(ctx, a, b)
        loss = _block_loss(Vb, lam, ctx.beta, self.buf[:, :n]) if want_loss else 0.0
        if ctx.mode == "W":
            P, Q = self._pq(ctx, Vb, lam)
            S = self.stack[: L * K, :n] if ctx.all_free else self.stack[ctx.flat_free, :n]
            part.num += P @ S.T
            if Q is not None:
                part.den += Q @ S.T
        return loss


def _block_loss(Vb, lam, beta, scratch) -> float:
    return float(_divergence_terms(Vb, lam, beta, scratch).sum(dtype=np.float64))


def _lag_sum(G, L, K, n):
    """sum_tau shift_-tau(G_tau) over the first n columns; G has the lags stacked in rows."""
    n_ext = G.shape[1]
    out = G[:K, :n].copy()
    for tau in range(1, L):
        m = min(n, n_ext - tau)
        if m <= 0:
            break
        out[:, :m] += G[tau * K:(tau + 1) * K, tau: tau + m]
    return out


def _update_templates(ctx, num, den) -> None:
    """W update of the free templates, all lags at once (Févotte & Idier eq. (46)).

    With sparsity the surrogate of the penalty adds ``mu w`` to the gradient, with
    ``mu = l1 ||h_k||_1`` for every (f, tau) of template k; its minimizer is found as in
    :func:`nmfaudio.factorization._update_templates` (closed form for beta = 1 and
    beta >= 2, bisection otherwise).
    """
    W, H, free, beta, gamma, l1 = ctx.W, ctx.H, ctx.free, ctx.beta, ctx.gamma, ctx.l1
    F = W.shape[0]
    W_flat = W.reshape(F, -1)
    tiny = np.finfo(W.dtype).tiny
    A = np.maximum(ctx.kl_den_w[None, :] if beta == 1.0 else den, tiny)
    B = num
    if not l1:
        factor = _raise_to_gamma((B / A).astype(W.dtype, copy=False), gamma)
    else:
        w0 = W_flat[:, ctx.flat_free].astype(np.float64)
        s = np.tile(H[free].sum(axis=1, dtype=np.float64), ctx.L)  # ||h_k||_1, lag-major
        mu_w0 = l1 * s[None, :] * w0
        A = np.broadcast_to(A, B.shape).astype(np.float64)
        B = B.astype(np.float64)
        if beta == 1.0:
            factor = 2.0 * B / (A + np.sqrt(A * A + 4.0 * mu_w0 * B))
        elif beta >= 2.0:
            factor = (B / (A + mu_w0)) ** (1.0 / (beta - 1.0))
        else:
            factor = _bisect_surrogate_root(A, B, mu_w0, beta, gamma)
        factor = factor.astype(W.dtype)
    if ctx.all_free:
        W_flat *= factor
    else:
        W_flat[:, ctx.flat_free] *= factor
    if l1 > 0:
        _normalize_free(W, H, free)
