"""Spatial cues per time-frequency bin for multichannel unsupervised separation.

Why
---
In a panned (instantaneous, amplitude-panned) mix each source reaches the channels with
fixed gains, so in a bin where one source dominates the vector of channel magnitudes
``(|X_1|, ..., |X_C|)`` points in that source's direction. Grouping whole NMF components
by their average balance (:func:`nmfaudio.grouping.component_balance`) throws this away
where components overlap; assigning every bin by its own direction is what the classic
spatial separators do (DUET, Yilmaz & Rickard 2004; nussl's spatial clustering, which
scores 9.04 dB on A_stereo_panned).

Model
-----
1. Direction of every bin: ``u(f, t) = |X(f, t)| / ||X(f, t)||`` (unit vector in C
   dimensions; for stereo, one pan angle).
2. ``S`` source directions ``d_s`` and spreads ``sigma_s`` by energy-weighted k-means on the
   unit sphere, started deterministically at weighted quantiles along the principal axis
   (for stereo: quantiles of the pan angle), so no random restarts are needed.
3. Spatial likelihood of bin ``(f, t)`` under source s: an isotropic Gaussian
   ``N(u; d_s, sigma_s^2)``.
4. Spectral prior: NMF components are assigned to the sources *softly*, each in
   proportion to how much of its energy lies in bins whose direction is that source's,
   ``r[s, k] ~ sum_ft (w_k h_k / WH) V p_s`` with ``p_s`` the spatial posterior; the
   prior of source s in a bin is its Wiener-like share of the resulting models
   ``m_s = W diag(r_s) H``.
5. Mask = spatial likelihood x spectral prior, normalized over sources (so the masks sum
   to one in every bin and the sources add up to the mixture). A few rounds of this
   (new posterior, new r) refine both.

So a bin goes where its direction says unless the direction is ambiguous (near two
sources, or in a bin of low energy), where the spectral model decides. Nothing here is
tuned to a particular recording: the only constants are numerical floors, documented
where they are applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ParameterError

__all__ = ["SpatialModel", "bin_directions", "fit_directions", "distinct_directions",
           "spatial_likelihoods",
           "soft_assignment", "share_numerators", "normalize_shares", "spatial_posteriors",
           "spatial_masks", "N_ROUNDS"]

#: Rounds of (posterior -> component shares -> prior -> posterior) of :func:`spatial_masks`.
N_ROUNDS = 3

#: Smallest spread (in unit-vector distance, about radians) of a source direction: a
#: perfectly panned synthetic source would otherwise get a zero-width likelihood and
#: divide by zero; 0.02 rad is about 1 degree of pan.
MIN_SPREAD = 0.02

#: At most this many bins (a regular subsample) are used to fit the directions.
MAX_FIT_BINS = 1 << 18


@dataclass(frozen=True)
class SpatialModel:
    """Source directions fitted to a multichannel STFT.

    Attributes
    ----------
    directions : np.ndarray, shape=(S, C)
        Unit vectors of channel magnitudes, one per source.
    spreads : np.ndarray, shape=(S,)
        Energy-weighted RMS distance of a source's bins from its direction.
    weights : np.ndarray, shape=(S,)
        Share of the energy of the bins nearest each direction (sums to 1).
    """

    directions: np.ndarray
    spreads: np.ndarray
    weights: np.ndarray


def bin_directions(magnitudes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit direction and energy of every bin.

    Parameters
    ----------
    magnitudes : np.ndarray, shape=(C, F, T), C >= 2
        ``|X_c|`` of each channel.

    Returns
    -------
    directions : np.ndarray, shape=(C, F, T)
        ``|X| / ||X||`` over channels; silent bins get the diagonal ``1 / sqrt(C)``.
    energy : np.ndarray, shape=(F, T)
        ``sum_c |X_c|^2``.
    """
    magnitudes = np.asarray(magnitudes)
    if magnitudes.ndim != 3 or magnitudes.shape[0] < 2:
        raise ParameterError(f"magnitudes must be (C, F, T) with C >= 2, got shape {magnitudes.shape}")
    energy = np.sum(magnitudes.astype(np.float64) ** 2, axis=0)
    norm = np.sqrt(energy)
    silent = norm <= 0
    u = magnitudes / np.where(silent, 1.0, norm)[None]
    u[:, silent] = 1.0 / np.sqrt(magnitudes.shape[0])
    return u, energy


def _weighted_quantile_init(points: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """n centres at weighted quantiles (k + 1/2) / n along the principal axis."""
    mean = weights @ points / weights.sum()
    centred = points - mean
    cov = (centred * weights[:, None]).T @ centred
    axis = np.linalg.eigh(cov)[1][:, -1]
    proj = centred @ axis
    order = np.argsort(proj, kind="stable")
    cum = np.cumsum(weights[order])
    cum /= cum[-1]
    picks = np.searchsorted(cum, (np.arange(n) + 0.5) / n)
    return points[order[np.minimum(picks, len(order) - 1)]].copy()


def fit_directions(magnitudes: np.ndarray, n_sources: int, *, n_iter: int = 50) -> SpatialModel:
    """Fit ``n_sources`` source directions to the bins of a multichannel STFT.

    Energy-weighted k-means of the bin directions (see the module notes), deterministic.

    Parameters
    ----------
    magnitudes : np.ndarray, shape=(C, F, T), C >= 2
    n_sources : int >= 1
    n_iter : int
        Maximum k-means iterations (it stops when the assignment no longer changes).
    """
    if not isinstance(n_sources, (int, np.integer)) or isinstance(n_sources, bool) or n_sources < 1:
        raise ParameterError(f"n_sources must be a positive integer, got {n_sources!r}")
    u, energy = bin_directions(magnitudes)
    # bins more than 120 dB under the loudest carry no usable direction (rounding noise)
    keep = energy > energy.max() * 1e-12
    if np.count_nonzero(keep) < n_sources:
        raise ParameterError(f"only {np.count_nonzero(keep)} non-silent bins for {n_sources} sources")
    points = u[:, keep].T.astype(np.float64)  # (B, C)
    w = energy[keep]
    if len(w) > MAX_FIT_BINS:
        # a regular subsample keeps the fit's memory bounded for long recordings; the
        # directions are averages over many bins, so this changes them very little
        step = -(-len(w) // MAX_FIT_BINS)
        points, w = points[::step], w[::step]
    centres = _weighted_quantile_init(points, w, n_sources)
    labels = None
    for _ in range(n_iter):
        dist = 2.0 - 2.0 * points @ centres.T  # |u - d|^2 of unit vectors
        new = np.argmin(dist, axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for s in range(n_sources):
            mine = labels == s
            if w[mine].sum() > 0:
                c = w[mine] @ points[mine]
                centres[s] = c / max(np.linalg.norm(c), np.finfo(float).tiny)
    dist = np.maximum(2.0 - 2.0 * points @ centres.T, 0.0)
    labels = np.argmin(dist, axis=1)
    spreads = np.empty(n_sources)
    weights = np.empty(n_sources)
    for s in range(n_sources):
        mine = labels == s
        total = w[mine].sum()
        weights[s] = total
        spreads[s] = np.sqrt(w[mine] @ dist[mine, s] / total) if total > 0 else 1.0
    spreads = np.maximum(spreads, MIN_SPREAD)
    # order sources by their direction along the first channel (stereo: left to right)
    order = np.argsort(-centres[:, 0], kind="stable")
    return SpatialModel(directions=centres[order], spreads=spreads[order],
                        weights=weights[order] / weights.sum())


def distinct_directions(model: SpatialModel) -> bool:
    """True when some two source directions lie farther apart than :data:`MIN_SPREAD`.

    Otherwise the channels carry no direction that tells the sources apart (a mono
    recording copied to both channels, or every source in the centre): the spatial
    model would split bins at random, and the caller should group as for one channel.
    Measured: on A's stems copied to both channels, spatial masks gave 0.1 dB median SDR
    against 4.62 with the one-channel grouping; with pans only +-5% apart (1.2 degrees)
    the directions are distinct and spatial masks gave 4.78 against 2.78.
    """
    d = model.directions
    if len(d) < 2:
        return False
    gaps = np.linalg.norm(d[:, None, :] - d[None, :, :], axis=-1)
    return bool(gaps.max() > MIN_SPREAD)


def spatial_likelihoods(magnitudes: np.ndarray, model: SpatialModel) -> np.ndarray:
    """Gaussian likelihood of every bin's direction under every source, shape=(S, F, T).

    Computed relative to the most likely source of each bin (so the largest is 1 and
    nothing underflows to 0 / 0 when the posteriors are normalized).
    """
    u, _ = bin_directions(magnitudes)
    d = model.directions
    C = d.shape[1]
    dist2 = np.stack([((u - d[s][:, None, None]) ** 2).sum(0) for s in range(len(d))])
    s2 = (model.spreads ** 2)[:, None, None]
    # log N(u; d_s, sigma_s^2 I) up to a constant, with the (C - 1)-dimensional normalizer
    # of a direction on the sphere
    logl = -0.5 * dist2 / s2 - (C - 1) * np.log(model.spreads)[:, None, None]
    logl -= logl.max(axis=0, keepdims=True)
    return np.exp(logl)


def share_numerators(W: np.ndarray, H: np.ndarray, V: np.ndarray,
                     posteriors: np.ndarray) -> np.ndarray:
    """Unnormalized shares ``r[s, k] = w_k^T ((V / WH) * p_s) h_k``, shape=(S, K).

    Additive over blocks of frames (H, V and the posteriors of each block), so a long
    recording can be summed chunk by chunk; :func:`normalize_shares` finishes them.
    """
    WH = W @ H
    tiny = np.finfo(np.float32).tiny
    ratio = V / np.maximum(WH, tiny)  # silent bins: V = 0 there, so the ratio is 0
    return np.stack([np.einsum("fk,ft,kt->k", W, ratio * p, H, optimize=True)
                     for p in posteriors])


def normalize_shares(r: np.ndarray) -> np.ndarray:
    """Shares from :func:`share_numerators`: each column sums to 1."""
    total = r.sum(axis=0, keepdims=True)
    # a component with no energy at all is shared equally
    return np.where(total > 0, r / np.where(total > 0, total, 1.0), 1.0 / r.shape[0])


def soft_assignment(W: np.ndarray, H: np.ndarray, V: np.ndarray, posteriors: np.ndarray) -> np.ndarray:
    """Share of each NMF component in each source, shape=(S, K), columns sum to 1.

    ``r[s, k] ~ w_k^T ((V / WH) * p_s) h_k``: the energy of component k (its soft mask
    times V) that lies in the bins the posteriors give to source s. Computed without any
    (F, T) array per component.

    Parameters
    ----------
    W : np.ndarray, shape=(F, K)
    H : np.ndarray, shape=(K, T)
    V : np.ndarray, shape=(F, T)
    posteriors : np.ndarray, shape=(S, F, T), summing to 1 over S
    """
    return normalize_shares(share_numerators(W, H, V, posteriors))


def spatial_posteriors(like: np.ndarray, W: np.ndarray, H: np.ndarray,
                       shares, *, power: float = 2.0) -> np.ndarray:
    """Posterior of each source in each bin of a block of frames, shape=(S, F, T).

    ``like`` from :func:`spatial_likelihoods`; without ``shares`` (the first round) the
    likelihoods alone, else times the Wiener-like prior of the models
    ``W diag(shares[s]) H``; normalized over sources.
    """
    from .masks import masks_from_models

    if shares is None:
        return like / like.sum(axis=0, keepdims=True)
    models = np.stack([(W * shares[s]) @ H for s in range(shares.shape[0])])
    post = masks_from_models(models, power=power) * like
    total = post.sum(axis=0, keepdims=True)
    # both factors vanish only where the prior is 0 for every source (empty model)
    return np.where(total > 0, post / np.where(total > 0, total, 1.0), 1.0 / shares.shape[0])


def spatial_masks(magnitudes: np.ndarray, W: np.ndarray, H: np.ndarray, V: np.ndarray,
                  n_sources: int, *, power: float = 2.0, n_rounds: int = N_ROUNDS,
                  model: "SpatialModel | None" = None):
    """Masks from the spatial likelihood of every bin times the NMF spectral prior.

    Parameters
    ----------
    magnitudes : np.ndarray, shape=(C, F, T), C >= 2
        ``|X_c|`` of the mixture.
    W, H : np.ndarray, shapes (F, K), (K, T)
        The NMF of the channel-averaged spectrogram V.
    V : np.ndarray, shape=(F, T)
    n_sources : int
    power : float > 0
        Exponent of the Wiener-like spectral prior.
    n_rounds : int >= 1
        Rounds of (posterior -> component shares -> prior -> posterior).
    model : SpatialModel, optional
        The source directions, if already fitted (default: :func:`fit_directions` of
        ``magnitudes``).

    Returns
    -------
    masks : np.ndarray, shape=(S, F, T), float32
        Sum to 1 over sources in every bin.
    shares : np.ndarray, shape=(S, K)
        Each component's share in each source.
    model : SpatialModel
    """
    if model is None:
        model = fit_directions(magnitudes, n_sources)
    like = spatial_likelihoods(magnitudes, model)
    post = spatial_posteriors(like, W, H, None)
    for _ in range(max(1, int(n_rounds))):
        shares = soft_assignment(W, H, V, post)
        post = spatial_posteriors(like, W, H, shares, power=power)
    return post.astype(np.float32), shares, model
