"""Blind sources by harmonic/percussive structure: the default unsupervised grouping.

Why
---
Harmonic sounds are smooth in time and sparse in frequency, percussive sounds the
reverse (Fitzgerald, "Harmonic/percussive separation using median filtering", DAFx
2010). That is a property of the *kind* of source, not of one recording, so it is a
cue that holds where clustering templates by timbre fails: our MFCC clustering put
voiced speech with the music, or a bass line with the piano, and left one source
nearly empty.

Model
-----
1. Median-filter V across time (harmonic) and across frequency (percussive) with
   librosa's default kernel of 31 frames / 31 bins, and take the soft percussive mask
   ``P^2 / (H^2 + P^2)`` (:func:`percussive_mask`).
2. Each NMF component k gets its percussive share ``p_k``: the fraction of its part of
   V, ``(w_k h_k / WH) V``, that the percussive mask holds
   (:func:`share_statistics`). Components are thereby shared *softly* between a
   harmonic class (weight ``1 - p_k``) and a percussive class (weight ``p_k``).
3. With S > 2, the group holding the most energy (the one a fair share per source
   says holds more than one source) is split in two by register (each template's mean
   log2 frequency: pitch is heard on a log scale), at the threshold of least energy-weighted
   within-group variance over the components that lie mostly in it (1-D 2-means,
   exact); repeated until there are S sources.
4. Masks: the Wiener-like masks of the soft source models ``W diag(g_s) H``, averaged
   with the median-filter masks of each source's class (shared within the class by the
   NMF models, :func:`fused_masks`). Two estimates of the same harmonic/percussive
   posterior, one from the NMF's low-rank model, one from local medians; their mean
   had a higher median SDR than the NMF's masks alone on four of the five held-out
   speech/music mixtures (README, Quality) and than the median-filter masks on all five.

When the mixture has little of one kind (a drum loop is mostly percussive, a piano
and bass duet mostly harmonic), the harmonic/percussive split says nothing about the
sources: :func:`harmonic_percussive_grouping` returns None when either class holds less
than :data:`MIN_CLASS_SHARE` of the energy (half of a fair share of two classes), and
the caller falls back to the register split (mostly harmonic) or timbre clustering
(:mod:`nmfaudio.grouping`). A percussive share is also no source when no component of
the NMF carries it (:func:`percussive_class_is_carried`): the median filters call a
bow's or a breath's noise percussive, spread thinly over harmonic components, and a
percussive source made of those components' small shares holds almost nothing (strings
chords + bass: a quarter of V "percussive", 4 to 5% of the power in that source).

What was measured, and on what: the kernel is librosa's default, untuned; the fusion
weight 1/2 and the 0.25 threshold were chosen on mixtures made from the ``train/``
clips of ../shared/audio (never the test clips), where the mixed tasks had a
percussive share of 0.29 to 0.41 and the drum loops of the test tasks 0.78 to 0.83.
:data:`MIN_CARRIED_SHARE` (0.1) was chosen on the held-out mixtures of
``benchmarks/held_out.py`` and the rendered songs of ``benchmarks/rendered_mixtures.py``
at 8, 22.05 and 44.1 kHz: where the split wins, components that are mostly percussive
hold 0.13 to 0.82 of V (speech over piano lowest, 0.13 to 0.20; the shared tasks A, B,
C: 0.20 to 0.43); in mixtures of pitched instruments alone 0 to 0.14 (strings + bass
and sax + strings + bass, which the split left with a nearly empty source, 0 to 0.07).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import ParameterError
from .masks import masks_from_models

__all__ = ["HPSS_KERNEL", "MIN_CLASS_SHARE", "MIN_CARRIED_SHARE", "FUSION",
           "HarmonicPercussive", "percussive_class_is_carried",
           "percussive_mask", "share_statistics", "harmonic_percussive_grouping",
           "register_grouping", "fused_masks"]

#: Median filter lengths, in frames (harmonic) and bins (percussive): librosa's
#: ``decompose.hpss`` default, not tuned here. With the default ~80 ms frames (a quarter
#: hop, :func:`nmfaudio.pipeline.blind_stft`) that is about 0.54 to 0.74 s and 320 to
#: 450 Hz: a note much shorter than half of it counts as percussive.
HPSS_KERNEL = 31
#: Frames of context a block of frames needs on each side for exact median filtering.
CONTEXT = HPSS_KERNEL // 2
#: Neither class may hold less than this share of the energy for the split to be made.
MIN_CLASS_SHARE = 0.25
#: ... and the components that are mostly percussive (percussive share over 1/2) must
#: hold at least this share of it: the class is carried by components of its own.
MIN_CARRIED_SHARE = 0.1
#: Weight of the median-filter masks against the NMF masks in the fused masks.
FUSION = 0.5

HARMONIC, PERCUSSIVE = 0, 1


@dataclass(frozen=True)
class HarmonicPercussive:
    """A soft assignment of NMF components to sources by harmonic/percussive class.

    Attributes
    ----------
    weights : np.ndarray, shape=(S, K)
        Each component's share in each source; every column sums to 1.
    classes : np.ndarray, shape=(S,), int
        0 (harmonic) or 1 (percussive): the class each source was split from.
    percussive_shares : np.ndarray, shape=(K,)
        ``p_k``, each component's percussive share.
    percussive_energy : float
        The percussive class's share of the whole mixture, in [0, 1].
    """

    weights: np.ndarray
    classes: np.ndarray
    percussive_shares: np.ndarray
    percussive_energy: float

    @property
    def labels(self) -> np.ndarray:
        """The source holding each component's largest share, shape=(K,)."""
        return np.argmax(self.weights, axis=0)


def percussive_mask(V: np.ndarray, *, kernel: int = HPSS_KERNEL) -> np.ndarray:
    """Soft percussive mask ``P^2 / (H^2 + P^2)`` of a spectrogram, shape=(F, T), float32.

    ``H`` and ``P`` are V median-filtered across ``kernel`` frames and ``kernel`` bins
    (edges reflected, as ``librosa.decompose.hpss``). Where both are 0 the bin is
    split evenly (0.5), so that the harmonic mask ``1 - mask`` and this one add up to 1.

    Parameters
    ----------
    V : np.ndarray, shape=(F, T)
        Nonnegative spectrogram.
    kernel : int > 0
        Filter length in frames and in bins.
    """
    V = np.asarray(V, dtype=np.float32)
    if V.ndim != 2:
        raise ParameterError(f"V must have shape (F, T), got {V.shape}")
    if not np.isfinite(V).all():
        raise ParameterError("V has NaN or infinite values; the percussive mask needs finite data")
    harmonic = _median_filter(V, kernel)
    percussive = np.ascontiguousarray(_median_filter(np.ascontiguousarray(V.T), kernel).T)
    # P^2 / (H^2 + P^2) written as 1 / (1 + (H / P)^2): the squares of V's values would
    # leave float32's range at either end (V ~ 1e20 or 1e-21), their ratio does not;
    # (H / P)^2 may overflow to inf, which gives the right limit, 0
    mask = np.full(V.shape, 0.5, dtype=np.float32)
    loud = percussive > 0
    ratio = np.divide(harmonic, percussive, out=np.zeros_like(harmonic), where=loud)
    with np.errstate(over="ignore"):
        np.square(ratio, out=ratio)
    ratio += 1.0
    np.divide(1.0, ratio, out=mask, where=loud)
    mask[~loud & (harmonic > 0)] = 0.0
    return mask


def _median_filter(x: np.ndarray, kernel: int) -> np.ndarray:
    """Median of ``kernel`` values along the last axis of a float32 (R, n) array, edges
    reflected (``scipy.ndimage.median_filter(x, size=(1, kernel), mode="reflect")``).

    A sliding sorted window in numba (:func:`nmfaudio._kernels.median_rows`): 0.3 s
    instead of 4.3 s for both filters of a minute at 44.1 kHz. scipy where numba is
    missing, or where the axis is shorter than the kernel (numpy's and scipy's edge
    extensions differ once the padding is longer than the signal).
    """
    from ._kernels import median_rows

    kernel_fn = median_rows() if kernel % 2 == 1 and x.shape[1] > kernel else None
    if kernel_fn is None:
        from scipy.ndimage import median_filter

        return median_filter(x, size=(1, kernel), mode="reflect")
    half = kernel // 2
    # numpy's "symmetric" (d c b a | a b c d) is scipy.ndimage's "reflect"
    padded = np.ascontiguousarray(np.pad(x, ((0, 0), (half, half)), mode="symmetric"))
    out = np.empty(x.shape, dtype=np.float32)
    kernel_fn(padded, kernel, out)
    return out


def percussive_mask_of_frames(spectrogram_of, start: int, stop: int,
                              n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """V and its :func:`percussive_mask` at frames ``start..stop`` of a longer
    spectrogram, exactly as on the whole: shape=(F, stop - start) each.

    ``spectrogram_of(a, b)`` gives V's frames a..b; :data:`CONTEXT` frames on each side
    (where they exist) make the median filters see what they see on the whole V.
    """
    a, b = max(0, start - CONTEXT), min(n_frames, stop + CONTEXT)
    V = spectrogram_of(a, b)
    part = slice(start - a, stop - a)
    return V[:, part], percussive_mask(V)[:, part]


def share_statistics(W: np.ndarray, H: np.ndarray, V: np.ndarray,
                     percussive: Optional[np.ndarray]) -> np.ndarray:
    """Each component's part of V, whole and percussive, and its energy: sums over
    frames, shape=(3, K).

    ``[0, k] = sum_ft (w_k h_k / WH) V``, ``[1, k]`` the same weighted by the
    percussive mask, and ``[2, k] = sum_ft ((w_k h_k / WH) V)^2``, the energy of the
    component's part (Parseval: what a source made of it holds, as SDR measures it; a
    magnitude sum counts a low floor over many bins as much as a few loud ones). Sums
    over blocks of frames add up to those of the whole.

    Parameters
    ----------
    W : np.ndarray, shape=(F, K)
    H : np.ndarray, shape=(K, T)
    V : np.ndarray, shape=(F, T)
    percussive : np.ndarray, shape=(F, T), or None
        None where no percussive class is asked for (``grouping="register"``): the
        second row is 0, without its product.
    """
    model = np.asarray(W @ H, dtype=np.float32)
    # WH is floored at the smallest normal float32 so that a bin where every component
    # is 0 gives a ratio of 0 (V is then 0 there too, up to the NMF's floor), not NaN
    np.maximum(model, np.finfo(np.float32).tiny, out=model)
    ratio = np.divide(V, model, dtype=np.float32)
    whole = ((W.T @ ratio) * H).sum(axis=1, dtype=np.float64)
    W32 = np.asarray(W, dtype=np.float32)
    energy = ((np.square(W32).T @ np.square(ratio)) * np.square(np.asarray(H, dtype=np.float32))
              ).sum(axis=1, dtype=np.float64)
    if percussive is None:
        return np.stack([whole, np.zeros_like(whole), energy])
    ratio *= percussive
    perc = ((W.T @ ratio) * H).sum(axis=1, dtype=np.float64)
    return np.stack([whole, perc, energy])


def percussive_class_is_carried(statistics: np.ndarray) -> bool:
    """True when the percussive class holds at least :data:`MIN_CLASS_SHARE` of V and
    the components that are mostly percussive hold at least :data:`MIN_CARRIED_SHARE`:
    enough percussive energy, in components of its own, for a percussive source (False
    for a silent V).

    Parameters
    ----------
    statistics : np.ndarray, shape=(3, K)
        :func:`share_statistics`, summed over every frame.
    """
    whole, perc = np.asarray(statistics, dtype=np.float64)[:2]
    total = whole.sum()
    if not total > 0:
        return False
    shares = perc / np.maximum(whole, np.finfo(np.float64).tiny)
    carried = whole[(whole > 0) & (shares > 0.5)].sum()
    return bool(perc.sum() >= MIN_CLASS_SHARE * total and carried >= MIN_CARRIED_SHARE * total)


def _register_split(register: np.ndarray, weight: np.ndarray) -> float:
    """Threshold of least weighted within-group variance (1-D 2-means, exact) among
    those that leave each side at least :data:`MIN_CLASS_SHARE` of the weight: a lone
    outlier (a component between classes) is not a source."""
    order = np.argsort(register, kind="stable")
    x, w = register[order], weight[order]
    total = w.sum()
    best, threshold = np.inf, None
    below = np.cumsum(w)
    for i in range(1, len(x)):
        if x[i] == x[i - 1]:
            continue
        cost = 0.0
        for part_x, part_w in ((x[:i], w[:i]), (x[i:], w[i:])):
            mass = part_w.sum()
            if mass > 0:
                mean = (part_w @ part_x) / mass
                cost += float(part_w @ (part_x - mean) ** 2)
        fair = min(below[i - 1], total - below[i - 1]) >= MIN_CLASS_SHARE * total
        if fair and cost < best:
            best, threshold = cost, 0.5 * (x[i - 1] + x[i])
    if threshold is None:  # no fair split: halve the weight
        i = int(np.searchsorted(below, 0.5 * total))
        i = min(max(i, 1), len(x) - 1)
        threshold = 0.5 * (x[i - 1] + x[i])
    return float(threshold)


def _split_largest(groups, register, whole, energy):
    """Split by register the group with the most energy (``energy``, each component's,
    weighted by its share in the group) that can be split (the one a fair share per
    source says holds more than one source): (index, low, high) with a part of V on both
    sides, or None when no group has two components of distinct register and nonzero
    energy.

    Energy, not the part of V: V sums magnitudes, and at 44.1 kHz cymbals spread over
    the many high bins made the percussive class of chords + bass + drums "larger" than
    the harmonic one, so the drums were split in two and the chords and the bass left
    together (measured 2026-11-29; README, Quality)."""
    for j in np.argsort([-float(g @ energy) for g in groups], kind="stable"):
        g = groups[j]
        members = g > 0.5  # the components that lie mostly in this group decide
        if np.unique(register[members & (whole > 0)]).size < 2:
            members = g > 0
        members &= whole > 0
        if np.unique(register[members]).size < 2:
            continue
        low = register < _register_split(register[members], (g * whole)[members])
        parts = g * low, g * ~low
        if all(float(part @ whole) > 0 for part in parts):
            return int(j), parts[0], parts[1]
    return None


def _registers(W: np.ndarray, sample_rate: int, n_fft: int) -> tuple:
    """(each template's sum, each bin's frequency, each template's register).

    The register is the mean of ``log2(f + 20 Hz)`` weighted by the template (the
    log-frequency centroid; the 20 Hz keep the DC bin finite), not the log of its
    spectral centroid: pitch is heard on a log scale, and a linear centroid follows a
    template's upper partials, so a bass note rich in them sat above a chord tone with
    few (its register was "higher"), and the harmonic class of chords + bass + drums was
    cut between the chords' low and high templates instead of at the bass. Chosen when it
    changed (2026-11-29) on the 16 General MIDI mixtures of
    ``benchmarks/rendered_mixtures.py`` (two songs each, 22.05 kHz; mean 6.82 -> 7.57
    dB), checked on them at 44.1 kHz (5.64 -> 6.55), on the held-out piano + bass +
    drums at five rates and on A, B and C (README, Quality)."""
    column = W.sum(axis=0)
    freqs = np.arange(W.shape[0]) * (sample_rate / n_fft)
    tiny = np.finfo(np.float64).tiny
    # an all-zero template gets the register of DC, as a template of DC alone would
    register = np.where(column > 0, (np.log2(freqs + 20.0) @ W) / np.maximum(column, tiny),
                        np.log2(20.0))
    return column, freqs, register


def _centroid_order(W, column, freqs, weights, whole) -> np.ndarray:
    """The sources (rows of ``weights``, shape (S, K)) from the lowest to the highest
    spectral centroid of each one's part of V, as indices, shape=(S,)."""
    tiny = np.finfo(np.float64).tiny
    spectra = (W / np.maximum(column, tiny)) @ (weights * whole).T  # (F, S)
    centroids = (freqs @ spectra) / np.maximum(spectra.sum(axis=0), tiny)
    return np.argsort(centroids, kind="stable")


def _split_until(groups, classes, n_sources, register, whole, energy):
    """Split ``groups`` (each of class ``classes[i]``) by register (:func:`_split_largest`)
    until there are S, both halves keeping the class. Returns (groups, classes), or None
    when no group can be split any more."""
    groups, classes = list(groups), list(classes)
    while len(groups) < n_sources:
        split = _split_largest(groups, register, whole, energy)
        if split is None:
            return None
        j, low, high = split
        groups[j:j + 1] = [low, high]
        classes[j:j + 1] = [classes[j], classes[j]]
    return groups, classes


def harmonic_percussive_grouping(W: np.ndarray, statistics: np.ndarray, n_sources: int, *,
                                 sample_rate: int, n_fft: int) -> Optional[HarmonicPercussive]:
    """Split the components into S sources by class, then by register (see module doc).

    Parameters
    ----------
    W : np.ndarray, shape=(F, K)
        Templates.
    statistics : np.ndarray, shape=(3, K)
        :func:`share_statistics`, summed over every frame (its first two rows alone,
        shape=(2, K), choose the group to split by the part of V instead of energy).
    n_sources : int >= 2
    sample_rate, n_fft : int
        For the frequency of each bin.

    Returns
    -------
    HarmonicPercussive or None
        None when either class holds less than :data:`MIN_CLASS_SHARE` of the mixture
        or no components carry the percussive class (:func:`percussive_class_is_carried`;
        or the mixture is silent): the classes are then not sources; also when no group
        has two components of distinct register left to split (S near K). Every source
        gets a part of the mixture's energy.
        Sources are ordered by increasing spectral centroid.
    """
    W = np.asarray(W, dtype=np.float64)
    statistics = np.asarray(statistics, dtype=np.float64)
    whole, perc = statistics[:2]
    component_energy = statistics[2] if len(statistics) > 2 else whole
    K = W.shape[1]
    if not isinstance(n_sources, (int, np.integer)) or not 2 <= n_sources <= K:
        raise ParameterError(f"n_sources must be an integer from 2 to n_components={K}, got {n_sources!r}")
    total = whole.sum()
    if not total > 0:
        return None
    p = np.clip(perc / np.maximum(whole, np.finfo(np.float64).tiny), 0.0, 1.0)
    p[whole <= 0] = 0.5
    energy = float(perc.sum() / total)
    if 1.0 - energy < MIN_CLASS_SHARE or not percussive_class_is_carried(statistics):
        return None
    column, freqs, register = _registers(W, sample_rate, n_fft)
    split = _split_until([1.0 - p, p], [HARMONIC, PERCUSSIVE], n_sources, register, whole,
                         component_energy)
    if split is None:  # too few distinct components for S sources: let the clustering decide
        return None
    weights = np.stack(split[0])
    order = _centroid_order(W, column, freqs, weights, whole)
    return HarmonicPercussive(weights=weights[order], classes=np.asarray(split[1])[order],
                              percussive_shares=p, percussive_energy=energy)


def register_grouping(W: np.ndarray, whole: np.ndarray, n_sources: int, *,
                      sample_rate: int, n_fft: int) -> Optional[np.ndarray]:
    """Split all components into S sources by register alone, as a class is split above:
    the blind grouping where the harmonic/percussive split declines (a mixture of one
    kind of sound) and there is no drum kit.

    Two pitched instruments are told apart by where they play (a bass line under chords,
    a melody over them) more reliably than by the MFCC envelope of their templates: on
    General MIDI songs rendered for ``benchmarks/rendered_mixtures.py`` and the real
    piano + bass of ../shared/audio's ``train/`` clips, register (then the log of the
    linear centroid) was better than the timbre clustering on 5 of 9 such mixtures,
    equal on 3 and worse on 1 (two pianos);
    each split keeps at least :data:`MIN_CLASS_SHARE` of the energy on either side where
    it can, so no source is left empty.

    Parameters
    ----------
    W : np.ndarray, shape=(F, K)
    whole : np.ndarray, shape=(K,)
        Each component's part of V (``share_statistics(...)[0]``).
    n_sources : int >= 2
    sample_rate, n_fft : int

    Returns
    -------
    np.ndarray, shape=(K,), int, or None
        The source of each component, sources ordered by increasing spectral centroid;
        None when no S-way split exists (too few components of distinct register).
    """
    W = np.asarray(W, dtype=np.float64)
    whole = np.asarray(whole, dtype=np.float64)
    K = W.shape[1]
    if not isinstance(n_sources, (int, np.integer)) or not 2 <= n_sources <= K:
        raise ParameterError(f"n_sources must be an integer from 2 to n_components={K}, got {n_sources!r}")
    if not whole.sum() > 0:
        return None
    column, freqs, register = _registers(W, sample_rate, n_fft)
    # one class of pitched sounds: the next group to split is chosen by its part of V
    # (by energy, sax + strings + bass lost 3 dB on one of its two rendered songs)
    split = _split_until([np.ones(K)], [HARMONIC], n_sources, register, whole, whole)
    if split is None:
        return None
    weights = np.stack(split[0])  # 0 or 1: one class, hard splits
    rank = np.argsort(_centroid_order(W, column, freqs, weights, whole), kind="stable")
    return rank[np.argmax(weights, axis=0)]


def fused_masks(W: np.ndarray, H: np.ndarray, grouping: HarmonicPercussive,
                percussive: np.ndarray, *, power: float) -> np.ndarray:
    """The sources' masks for a block of frames, shape=(S, F, T), float32, summing to 1.

    ``(1 - a) M_s + a C_c(s) M_s / sum_{j in c(s)} M_j`` with ``M`` the Wiener-like
    masks of the soft models ``W diag(weights_s) H`` (exponent ``power``), ``C`` the
    harmonic and percussive masks and ``a`` = :data:`FUSION`. Where no source of a
    class has any model, its class mask is shared evenly among them.

    Parameters
    ----------
    W : np.ndarray, shape=(F, K)
    H : np.ndarray, shape=(K, T)
    grouping : HarmonicPercussive
    percussive : np.ndarray, shape=(F, T)
        :func:`percussive_mask` of these frames.
    power : float
    """
    W32 = np.asarray(W, dtype=np.float32)
    H32 = np.asarray(H, dtype=np.float32)
    weights = grouping.weights.astype(np.float32)
    models = np.stack([W32 @ (weights[s][:, None] * H32) for s in range(len(weights))])
    masks = masks_from_models(models, power=power)
    out = masks * np.float32(1.0 - FUSION)
    for c, class_mask in ((HARMONIC, 1.0 - percussive), (PERCUSSIVE, percussive)):
        members = np.flatnonzero(grouping.classes == c)
        if members.size == 0:
            continue
        within = masks[members].sum(axis=0)
        share = np.full_like(masks[members], 1.0 / members.size)
        np.divide(masks[members], within, out=share, where=within > 0)
        out[members] += np.float32(FUSION) * class_mask * share
    return out
