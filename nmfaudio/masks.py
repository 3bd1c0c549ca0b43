"""Soft (Wiener-like) masks from NMF component models, and component grouping.

After NMF has explained a spectrogram as ``W @ H`` with ``K`` components, each source is
a *group* of components. The model of source ``s`` is ``W[:, g_s] @ H[g_s, :]`` and its
mask is its share of the total model,

.. math:: M_s = \\frac{m_s^p}{\\sum_j m_j^p},

which is applied to the complex STFT of the mixture (every channel alike). Because the
masks sum to one in every bin, the separated sources sum back to the mixture. ``p = inf``
gives hard (binary) masks, the limit of the formula, as in ``librosa.util.softmask``:
each bin goes to the source with the largest model, shared equally between ties.

Only numpy is needed here: the module knows nothing of audio files or transforms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._validation import is_integer as _is_int
from ._validation import finite_array, nonnegative_finite_array, positive_number
from ._validation import real_float_array as _real_array
from .errors import ParameterError

__all__ = [
    "groups_from_labels",
    "check_groups",
    "component_models",
    "masks_from_models",
    "wiener_masks",
    "apply_masks",
    "powered_ratios",
    "share",
]


def _check_power(power, name: str = "power") -> float:
    """A mask exponent: a positive number, or inf for hard masks."""
    return positive_number(power, name, allow_inf=True,
                           hint=" (2 for Wiener-like masks, 1 for magnitude ratios, inf for "
                                "hard masks)")


def _check_nonnegative_finite(array: np.ndarray, name: str) -> None:
    nonnegative_finite_array(array, name, why="NMF factors and models must be nonnegative")


def powered_ratios(models: np.ndarray, peak: np.ndarray, power: float) -> np.ndarray:
    """The numerators of the masks: ``(models / peak) ** power``, 0 where ``peak == 0``.

    The one place the mask formula is evaluated (:func:`masks_from_models` for all the
    sources at once, ``Separation.component_signals`` one component at a time).
    Dividing by the per-bin largest model before the power keeps every ratio in [0, 1]:
    in float32, m**2 overflows for m > 1.8e19 and underflows to 0 for m < 1e-23, and a
    sum of underflowed terms would be 0 (or a denormal with few bits of precision) in
    bins that do hold energy. With the largest ratio exactly 1, the sum of the powered
    ratios is in [1, S] (no underflow in the denominator) for any p and any magnitude;
    ``p = inf`` leaves 1 for the largest model(s) and 0 elsewhere (hard masks).

    Parameters
    ----------
    models : np.ndarray [shape=(..., F, T), nonnegative]
        Model spectrograms (one, or a stack of S).
    peak : np.ndarray [shape=(F, T)]
        The largest model in each bin (over all the sources the masks share the bin
        between).
    power : float > 0 or inf

    Returns
    -------
    np.ndarray [shape of models], values in [0, 1].
    """
    active = peak > 0
    out = np.zeros(np.broadcast_shapes(models.shape, peak.shape), dtype=models.dtype)
    np.divide(models, peak, out=out, where=active)
    if power != 1.0:
        np.power(out, power, out=out)
    return out


def share(terms: np.ndarray, total: np.ndarray, peak: np.ndarray, n_sources: int) -> np.ndarray:
    """Masks from their numerators, in place: ``terms / total``, and ``1 / S`` in silent bins.

    ``total`` is the sum of the numerators of all ``n_sources`` sources. The only "safe
    value": bins where every model is exactly zero (``peak == 0``) carry no information,
    so the mixture there is shared equally; ``1 / S`` keeps the sum of the masks at 1.
    """
    active = peak > 0
    np.divide(terms, total, out=terms, where=active)
    terms[..., ~active] = 1.0 / n_sources
    return terms


# --------------------------------------------------------------------------- groups


def groups_from_labels(labels, n_sources: int | None = None) -> tuple[np.ndarray, ...]:
    """Group component indices by the source each component is labelled with.

    Parameters
    ----------
    labels : np.ndarray [shape=(K,), int]
        ``labels[k]`` is the source (``0 .. S-1``) component ``k`` belongs to, e.g.
        ``np.repeat([0, 1], 32)`` for two dictionaries of 32 templates, or cluster labels.
    n_sources : int > 0 or None
        Number of sources ``S``. ``None`` means ``labels.max() + 1``, and then every source
        must have a component: a missing label in between is taken for a mistake. Pass
        ``n_sources`` to allow sources without components (they get a zero model, i.e.
        silence).

    Returns
    -------
    groups : tuple of S np.ndarray [shape=(K_s,), dtype=intp]
        ``groups[s]`` holds the indices ``k`` with ``labels[k] == s``, ascending.

    Raises
    ------
    ParameterError
        If ``labels`` is not a non-empty 1-D integer array, has a label that is negative
        or ``>= n_sources``, or (``n_sources=None``) leaves a source without components.

    Examples
    --------
    >>> groups_from_labels([0, 1, 0, 2])
    (array([0, 2]), array([1]), array([3]))
    >>> groups_from_labels([0, 0], n_sources=2)
    (array([0, 1]), array([], dtype=int64))
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ParameterError(
            f"labels must be a non-empty 1-D array (one label per component), got shape "
            f"{labels.shape}"
        )
    if labels.dtype.kind not in "iu":
        raise ParameterError(
            f"labels must be integers (source numbers 0 .. S-1), got dtype {labels.dtype}"
        )
    if labels.min() < 0:
        k = int(np.argmax(labels < 0))
        raise ParameterError(
            f"labels must be source numbers >= 0, got labels[{k}] = {labels[k]}"
        )
    if n_sources is None:
        n = int(labels.max()) + 1
        unused = np.setdiff1d(np.arange(n), labels)
        if unused.size:
            raise ParameterError(
                f"labels use {labels.max()} as a source number but never {unused.tolist()}; "
                "renumber the sources 0 .. S-1, or pass n_sources to allow sources "
                "without components"
            )
    else:
        if not _is_int(n_sources) or n_sources <= 0:
            raise ParameterError(f"n_sources must be a positive integer, got {n_sources!r}")
        n = int(n_sources)
        if labels.max() >= n:
            k = int(np.argmax(labels >= n))
            raise ParameterError(
                f"labels[{k}] = {labels[k]} is not a source number for n_sources={n} "
                f"(expected 0 .. {n - 1})"
            )
    return tuple(np.flatnonzero(labels == s) for s in range(n))


def check_groups(groups, n_components: int) -> tuple[np.ndarray, ...]:
    """Check that groups of component indices partition ``range(n_components)``.

    Parameters
    ----------
    groups : sequence of S array-like [shape=(K_s,), int]
        ``groups[s]`` lists the components of source ``s``. A group may be empty (that
        source is silent), but every component must be in exactly one group.
    n_components : int > 0
        Number of components ``K``.

    Returns
    -------
    groups : tuple of S np.ndarray [shape=(K_s,), dtype=intp]
        The same indices as new integer arrays, in the order given.

    Raises
    ------
    ParameterError
        If ``groups`` is empty or not a sequence, a group is not 1-D integers, an index
        is out of ``0 .. K-1``, an index appears twice, or a component is in no group.

    Examples
    --------
    >>> check_groups([[0, 2], [1]], 3)
    (array([0, 2]), array([1]))
    """
    if not _is_int(n_components) or n_components <= 0:
        raise ParameterError(f"n_components must be a positive integer, got {n_components!r}")
    if isinstance(groups, np.ndarray) and groups.ndim == 2:
        groups = list(groups)  # equal-sized groups stacked in one array
    if isinstance(groups, (str, bytes)) or not isinstance(groups, (Sequence, np.ndarray)):
        raise ParameterError(
            "groups must be a sequence with one array of component indices per source, "
            f"got {type(groups).__name__}"
        )
    if len(groups) == 0:
        raise ParameterError("groups is empty; give one group of component indices per source")

    checked = []
    owner = np.full(n_components, -1, dtype=np.intp)  # group of each component so far
    for s, group in enumerate(groups):
        group = np.asarray(group)
        if group.size == 0:
            # np.asarray([]) is float64; an empty group has no dtype to get wrong.
            checked.append(np.empty(0, dtype=np.intp))
            continue
        if group.ndim != 1 or group.dtype.kind not in "iu":
            raise ParameterError(
                f"groups[{s}] must be a 1-D array of integer component indices, got "
                f"shape {group.shape} and dtype {group.dtype}"
            )
        out_of_range = (group < 0) | (group >= n_components)
        if out_of_range.any():
            bad = group[out_of_range].tolist()
            raise ParameterError(
                f"groups[{s}] has component indices {bad} outside 0 .. {n_components - 1} "
                f"(there are {n_components} components)"
            )
        group = group.astype(np.intp)
        values, counts = np.unique(group, return_counts=True)
        if (counts > 1).any():
            raise ParameterError(
                f"groups[{s}] lists components {values[counts > 1].tolist()} more than once"
            )
        taken = owner[group] >= 0
        if taken.any():
            k = int(group[taken][0])
            raise ParameterError(
                f"component {k} is in groups[{owner[k]}] and groups[{s}]; each component "
                "must belong to exactly one source"
            )
        owner[group] = s
        checked.append(group)
    missing = np.flatnonzero(owner < 0)
    if missing.size:
        raise ParameterError(
            f"components {missing.tolist()} are in no group; each of the {n_components} "
            "components must belong to exactly one source"
        )
    return tuple(checked)


# --------------------------------------------------------------------------- models, masks


def component_models(W, H, groups) -> np.ndarray:
    """The part of the NMF model ``W @ H`` that each group of components explains.

    Parameters
    ----------
    W : np.ndarray [shape=(F, K), nonnegative]
        Templates.
    H : np.ndarray [shape=(K, T), nonnegative]
        Activations.
    groups : sequence of S array-like [shape=(K_s,), int]
        A partition of ``range(K)`` (see :func:`check_groups`).

    Returns
    -------
    models : np.ndarray [shape=(S, F, T), nonnegative]
        ``models[s] = W[:, groups[s]] @ H[groups[s], :]``; zero for an empty group.
        ``models.sum(axis=0)`` equals ``W @ H`` up to rounding. ``float64`` if ``W`` or
        ``H`` is ``float64``, else ``float32``.

    Raises
    ------
    ParameterError
        If ``W`` or ``H`` is not a finite nonnegative real 2-D array, their inner
        dimensions differ, or ``groups`` is not a partition of ``range(K)``.

    Examples
    --------
    >>> import numpy as np
    >>> W, H = np.ones((4, 3)), np.ones((3, 5))
    >>> component_models(W, H, [[0, 1], [2]])[:, 0, 0]
    array([2., 1.])
    """
    W = _real_array(W, "W", "shape=(F, K)")
    H = _real_array(H, "H", "shape=(K, T)")
    if W.ndim != 2 or H.ndim != 2:
        raise ParameterError(
            f"W must have shape (F, K) and H shape (K, T), got {W.shape} and {H.shape}"
        )
    if W.shape[1] != H.shape[0]:
        raise ParameterError(
            f"W has {W.shape[1]} components (columns) but H has {H.shape[0]} (rows); "
            "they must come from the same factorization"
        )
    if W.shape[1] == 0 or W.shape[0] == 0 or H.shape[1] == 0:
        raise ParameterError(f"W {W.shape} and H {H.shape} must not have an empty dimension")
    _check_nonnegative_finite(W, "W")
    _check_nonnegative_finite(H, "H")
    groups = check_groups(groups, W.shape[1])

    dtype = np.result_type(W, H)
    models = np.zeros((len(groups), W.shape[0], H.shape[1]), dtype=dtype)
    for s, group in enumerate(groups):
        if group.size:
            np.matmul(W[:, group], H[group, :], out=models[s])
    return models


def masks_from_models(models, *, power: float = 2.0) -> np.ndarray:
    """Soft masks giving each source its share of the model in every bin.

    Parameters
    ----------
    models : np.ndarray [shape=(S, F, T), nonnegative]
        One nonnegative model spectrogram per source (e.g. from :func:`component_models`).
    power : float > 0 or inf
        Exponent ``p`` in ``M_s = m_s**p / sum_j m_j**p``: 2 gives Wiener-like masks for
        magnitude models, 1 magnitude ratios; larger values approach binary masks, and
        ``np.inf`` gives them: 1 for the source with the largest model in the bin, 0 for
        the others (``1 / n`` each for a tie between n sources).

    Returns
    -------
    masks : np.ndarray [shape=(S, F, T)]
        Values in ``[0, 1]`` with ``masks.sum(axis=0) == 1`` to float precision in every
        bin. Where every model is zero the bin is shared equally, ``1 / S``. ``float64``
        for ``float64`` models, else ``float32``.

    Raises
    ------
    ParameterError
        If ``models`` is not a 3-D finite nonnegative real array with at least one source,
        or ``power`` is not a positive number (or inf).

    Examples
    --------
    >>> import numpy as np
    >>> models = np.array([[[3.0, 0.0]], [[1.0, 0.0]]])   # S=2, F=1, T=2
    >>> masks_from_models(models, power=1)[:, 0, :]
    array([[0.75, 0.5 ],
           [0.25, 0.5 ]])
    >>> masks_from_models(models, power=np.inf)[:, 0, :]
    array([[1. , 0.5],
           [0. , 0.5]])
    """
    power = _check_power(power)
    models = _real_array(models, "models", "shape=(S, F, T)")
    if models.ndim != 3 or models.shape[0] == 0:
        raise ParameterError(
            f"models must have shape (S, F, T) with S >= 1, got shape {models.shape}"
        )
    _check_nonnegative_finite(models, "models")
    peak = models.max(axis=0)
    masks = powered_ratios(models, peak, power)
    return share(masks, masks.sum(axis=0), peak, models.shape[0])


def wiener_masks(W, H, groups, *, power: float = 2.0) -> np.ndarray:
    """Soft masks for the sources made of the given groups of NMF components.

    Shorthand for ``masks_from_models(component_models(W, H, groups), power=power)``.

    Parameters
    ----------
    W : np.ndarray [shape=(F, K), nonnegative]
        Templates.
    H : np.ndarray [shape=(K, T), nonnegative]
        Activations.
    groups : sequence of S array-like [shape=(K_s,), int]
        A partition of ``range(K)``: the components of each source.
    power : float > 0
        Mask exponent (see :func:`masks_from_models`).

    Returns
    -------
    masks : np.ndarray [shape=(S, F, T)]
        ``masks.sum(axis=0) == 1`` in every bin.

    Raises
    ------
    ParameterError
        See :func:`component_models` and :func:`masks_from_models`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> W, H = rng.random((513, 8)), rng.random((8, 100))
    >>> masks = wiener_masks(W, H, groups_from_labels([0, 0, 0, 0, 1, 1, 1, 1]))
    >>> masks.shape, bool(np.allclose(masks.sum(axis=0), 1))
    ((2, 513, 100), True)
    """
    return masks_from_models(component_models(W, H, groups), power=power)


def apply_masks(masks, X) -> np.ndarray:
    """Apply one mask per source to an STFT (the same mask to every channel).

    Parameters
    ----------
    masks : np.ndarray [shape=(S, F, T), real]
        Masks, e.g. from :func:`wiener_masks`.
    X : np.ndarray [shape=(F, T) or (C, F, T)]
        The mixture's STFT (complex), mono or multichannel.

    Returns
    -------
    Y : np.ndarray [shape=(S, F, T) or (S, C, F, T)]
        ``Y[s] = masks[s] * X``. Same dtype as ``X`` (masks are cast to its precision),
        so ``complex64`` stays ``complex64``.

    Raises
    ------
    ParameterError
        If the shapes do not match, ``masks`` is not a finite real 3-D array, or ``X``
        is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> masks = np.full((2, 3, 4), 0.5, dtype=np.float32)
    >>> X = np.ones((2, 3, 4), dtype=np.complex64)              # stereo
    >>> apply_masks(masks, X).shape
    (2, 2, 3, 4)
    """
    masks = _real_array(masks, "masks", "shape=(S, F, T)")
    X = np.asarray(X)
    if masks.ndim != 3:
        raise ParameterError(f"masks must have shape (S, F, T), got shape {masks.shape}")
    if X.dtype.kind not in "iufc" or X.ndim not in (2, 3):
        raise ParameterError(
            f"X must be a numeric STFT of shape (F, T) or (C, F, T), got shape {X.shape} "
            f"and dtype {X.dtype}"
        )
    if X.shape[-2:] != masks.shape[1:]:
        raise ParameterError(
            f"masks have (F, T) = {masks.shape[1:]} but X has {X.shape[-2:]}; compute the "
            "masks from a spectrogram of this STFT"
        )
    finite_array(masks, "masks")
    finite_array(X, "X")

    if X.dtype.kind in "iu":
        X = X.astype(np.float32)
    masks = masks.astype(np.finfo(X.dtype).dtype, copy=False)  # the real type of X
    if X.ndim == 3:
        # Insert the channel axis so that one (F, T) mask scales all C channels.
        return masks[:, np.newaxis, :, :] * X[np.newaxis, :, :, :]
    return masks * X[np.newaxis, :, :]
