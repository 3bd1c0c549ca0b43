"""Blind sources of a drum kit: convolutive NMF with one template per source, each
started in its own register.

Why
---
When most of a mixture's energy is percussive (a drum loop, a drum track), the
harmonic/percussive split of :mod:`nmfaudio.harmonic` says nothing about its sources,
and clustering NMF components by timbre let one component carrying the kick's click
join the snare, leaving the snare of drums_808 at -6 dB. Two facts about drum kits hold
for every kit, not one recording:

- each drum sits in its own register: the kick lowest, the snare and toms in the middle,
  hi-hats and cymbals highest;
- each hit is a spectro-temporal pattern (an attack and its decay) that repeats.

NMFD (:func:`nmfaudio.convolutive.nmfd`; Smaragdis 2004) models the second with
templates of :data:`TEMPLATE_SECONDS`; with one component per source no grouping is left
to get wrong. The first gives the start (:func:`register_templates`): source s begins as
a smooth band on a log-frequency axis, the S bands tiling :data:`LOWEST_HZ` to
:data:`HIGHEST_HZ` evenly in octaves, with a decaying envelope over the template's
frames. The fit is free to move them; the start decides which minimum it reaches and
which source is which (sources come out low to high).

When
----
A drum kit is a mixture that is mostly percussive and that S drum templates explain about
as well as K free spectra do:

1. :func:`may_be_drum_kit`: the median-filter percussive mask
   (:func:`nmfaudio.harmonic.percussive_mask`) holds at least
   :data:`MIN_PERCUSSIVE_ENERGY` of V: more than half, with a margin over stationary
   noise, which scores 0.50 (the two median filters see the same thing). This alone does
   not do: speech is about half "percussive" by this mask (its harmonics glide, its
   consonants are noise), so speech over drums 6 dB louder (0.61) scores like a drum
   loop (0.62 to 0.91). The sample rate must also leave a register above
   :data:`LOWEST_HZ`;
2. :func:`explains_as_well`: the NMFD explains at least :data:`MIN_EXPLAINED` (three
   quarters) of what the blind NMF (K components) explains of the same V, each measured
   as the part of the rank-one model's divergence (:func:`rank_one_divergence`) that it
   removes: ``1 - D(V | model) / D(V | rank one)``. A ratio of explained parts, not of
   losses, so that a mixture both models fit almost exactly (synthetic clicks: losses
   of 0.2% and 0.01% of V) is judged by what they explain. On the rendered loops below the
   kit explained 0.91 to 1.06 of what the NMF did; on speech, piano, or piano and bass
   over drums at 0 to +12 dB 0.36 to 0.68, save piano, bass and drums at +12 dB (0.81,
   where the drum kit also scored the higher median SDR, -1.6 against -6.7 dB); on the
   six shared tasks 0.96 and 0.98 (the drum loops) and 0.22 to 0.46 (the others).

What was measured, and on what
------------------------------
Every number here was chosen on drum loops rendered for the purpose from the General
MIDI kits of the Fluid R3 soundfont (seven kits, two patterns each;
``benchmarks/drum_loops.py``), never on the test loops of ../shared/audio, with the
blind frames of the time (2048 / 512 at 44.1 kHz). There, against
the default before (harmonic/percussive shares, or the timbre clustering), the mean
median SDR went from 5.84 to 14.49 dB and the mean worst source from -1.04 to 9.70 dB.
The template length was flat from 150 to 300 ms; one component per source beat two and
three (mean median 13.5 against 12.2 and 11.4 dB with 100 ms templates: extra components
are grouped by their start only); octave-even bands from 40 Hz to 16 kHz did as well as 30
Hz to 20 kHz. The threshold: those loops hold 0.62 to 0.91 of percussive energy,
mixtures of pitched sources with drums 0.29 to 0.41, speech over drums 0.58 to 0.64 (0
to +12 dB of drums), so the share is only the first test; what the kit explains decides.
The streamed path's online fit (recordings above ``ONLINE_V_BYTES``, about 49 minutes
at 44.1 kHz) does not try the drum kit: it never holds the whole V the NMFD needs.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .convolutive import NMFDResult, convolutive_model, nmfd
from .errors import ParameterError
from .factorization import beta_divergence
from .masks import masks_from_models

__all__ = ["TEMPLATE_SECONDS", "LOWEST_HZ", "HIGHEST_HZ", "MIN_PERCUSSIVE_ENERGY",
           "MIN_EXPLAINED", "percussive_energy", "may_be_drum_kit", "rank_one_divergence",
           "explains_as_well", "register_templates", "template_frames", "fit_drum_kit",
           "drum_kit_masks"]

#: Length of each source's template: a drum hit and most of its decay.
TEMPLATE_SECONDS = 0.2
#: The register the sources' starting bands tile, evenly in octaves.
LOWEST_HZ, HIGHEST_HZ = 40.0, 16000.0
#: A mixture may be a drum kit when its percussive energy reaches this share: most of it,
#: with a margin over stationary noise (0.50).
MIN_PERCUSSIVE_ENERGY = 0.55
#: ... and is one when its S templates explain this share of what the blind NMF explains.
MIN_EXPLAINED = 0.75


def percussive_energy(V: np.ndarray, percussive: np.ndarray) -> tuple[float, float]:
    """``(sum V * percussive, sum V)`` in float64; sums over blocks of frames add up
    to those of the whole, so a long recording can be judged chunk by chunk.

    Parameters
    ----------
    V : np.ndarray, shape=(F, T)
    percussive : np.ndarray, shape=(F, T)
        :func:`nmfaudio.harmonic.percussive_mask` of V.
    """
    # the products in V's dtype, summed in float64: no float64 copies of V and the mask
    return float((V * percussive).sum(dtype=np.float64)), float(V.sum(dtype=np.float64))


def may_be_drum_kit(energy: tuple[float, float], *, sample_rate: int) -> bool:
    """True when the percussive share of V's energy, from :func:`percussive_energy`,
    is at least :data:`MIN_PERCUSSIVE_ENERGY` and ``sample_rate`` leaves a register above
    :data:`LOWEST_HZ` for the bands (False for a silent V)."""
    percussive, whole = energy
    return (min(HIGHEST_HZ, sample_rate / 2) > LOWEST_HZ and whole > 0
            and percussive >= MIN_PERCUSSIVE_ENERGY * whole)


def rank_one_divergence(V: np.ndarray, beta: float, *, block: int = 512) -> float:
    """``D_beta(V | r c^T / sum V)`` with r and c V's row and column sums: the rank-one
    model (KL's best; a common reference for every beta), summed over column blocks so
    that no (F, T) model is held.

    Parameters
    ----------
    V : np.ndarray, shape=(F, T)
    beta : float
    block : int
        Columns per block.
    """
    rows = V.sum(axis=1, dtype=np.float64)
    total = float(rows.sum())
    if not total > 0:
        return 0.0
    columns = V.sum(axis=0, dtype=np.float64) / total
    return float(sum(beta_divergence(V[:, a:a + block], np.outer(rows, columns[a:a + block]), beta)
                     for a in range(0, V.shape[1], block)))


def explains_as_well(drum_kit, nmf, rank_one: float) -> bool:
    """True when the drum kit's fit explains at least :data:`MIN_EXPLAINED` of what the
    NMF of the same V explains, each as ``1 - final_loss / rank_one``.

    Parameters
    ----------
    drum_kit : NMFDResult
        :func:`fit_drum_kit`.
    nmf : NMFResult
        The blind NMF of the same V with the same divergence.
    rank_one : float
        :func:`rank_one_divergence` of V.
    """
    if drum_kit.beta != nmf.beta:
        raise ParameterError(f"the two fits used different divergences (beta {drum_kit.beta} "
                             f"and {nmf.beta}); their losses do not compare")
    if not rank_one > 0:  # V is its own rank-one model (or silent): nothing to explain
        return False
    kit, free = 1.0 - drum_kit.final_loss / rank_one, 1.0 - nmf.final_loss / rank_one
    # an NMF that explains nothing (e.g. no iterations) is no yardstick: a share of a
    # negative part would let a worse kit pass
    return bool(free > 0 and kit >= MIN_EXPLAINED * free)


def template_frames(sample_rate: int, hop_length: int) -> int:
    """L: the frames of :data:`TEMPLATE_SECONDS` at this rate and hop (at least 1)."""
    return max(1, int(round(TEMPLATE_SECONDS * sample_rate / hop_length)))


def register_templates(n_sources: int, n_frames: int, *, sample_rate: int,
                       n_fft: int) -> np.ndarray:
    """The starting templates: one band per source, low to high, shape=(F, S, L), float32.

    Band s is a Gaussian on log2-frequency centred in the s-th of S octave-even
    intervals of [:data:`LOWEST_HZ`, min(:data:`HIGHEST_HZ`, Nyquist)] with a standard
    deviation of half the interval, plus a floor of 1e-3 so that no bin starts at zero
    (a multiplicative update can never leave 0). Every frame of the template is that
    band times ``exp(-3 tau / L)``: a hit's decay. Each template sums to 1.

    Parameters
    ----------
    n_sources : int >= 1
    n_frames : int >= 1
        L.
    sample_rate : int
        Hz.
    n_fft : int
        F = n_fft // 2 + 1.
    """
    if not isinstance(n_sources, (int, np.integer)) or n_sources < 1:
        raise ParameterError(f"n_sources must be a positive integer, got {n_sources!r}")
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ParameterError(f"n_frames must be a positive integer, got {n_frames!r}")
    freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    top = min(HIGHEST_HZ, sample_rate / 2)
    if not top > LOWEST_HZ:
        raise ParameterError(f"a sample rate of {sample_rate} Hz leaves no register above "
                             f"{LOWEST_HZ:g} Hz for a drum kit")
    edges = np.linspace(np.log2(LOWEST_HZ), np.log2(top), n_sources + 1)
    centres, widths = 0.5 * (edges[:-1] + edges[1:]), 0.5 * np.diff(edges)
    # bins below 10 Hz (DC) are placed at 10 Hz: log2(0) is not a register
    octave = np.log2(np.maximum(freqs, 10.0))
    bands = np.exp(-0.5 * ((octave[:, None] - centres[None]) / widths[None]) ** 2) + 1e-3
    decay = np.exp(-3.0 * np.arange(n_frames) / n_frames)
    templates = bands[:, :, None] * decay[None, None, :]
    templates /= templates.sum(axis=(0, 2), keepdims=True)
    return templates.astype(np.float32)


def fit_drum_kit(V: np.ndarray, n_sources: int, *, sample_rate: int, n_fft: int,
                 hop_length: int, **nmfd_args) -> NMFDResult:
    """NMFD of V with one template per source, started by :func:`register_templates`.

    Parameters
    ----------
    V : np.ndarray, shape=(F, T)
        The mixture's spectrogram; never modified.
    n_sources : int >= 1
        S = K.
    sample_rate, n_fft, hop_length : int
        Of V's STFT.
    **nmfd_args
        ``beta``, ``l1_activations``, ``n_iter``, ``tol``, ``seed``, ``dtype``,
        ``callback``, ``n_threads`` of :func:`nmfaudio.convolutive.nmfd` (anything else
        is a TypeError there).

    Returns
    -------
    NMFDResult
        Templates (F, S, L), L = :func:`template_frames` (no longer than V).
    """
    L = min(template_frames(sample_rate, hop_length), V.shape[1])
    # nmfd scales its random start of H to these templates (the model starts near V's mean)
    start = register_templates(n_sources, L, sample_rate=sample_rate, n_fft=n_fft)
    return nmfd(V, n_sources, L, templates=start, **nmfd_args)


def drum_kit_masks(templates: np.ndarray, activations_of: Callable[[int, int], np.ndarray],
                   start: int, stop: int, *, power: float) -> np.ndarray:
    """The sources' Wiener-like masks at frames ``start..stop``, shape=(S, F, stop - start).

    Source s's model is its own NMFD model ``sum_tau W_s,tau h_s(t - tau)``; a frame's
    model needs the activations of the L - 1 frames before it, which
    ``activations_of(a, b)`` (frames a..b of H, shape (S, b - a)) gives, so that masks
    made block by block equal those of the whole.

    Parameters
    ----------
    templates : np.ndarray, shape=(F, S, L)
    activations_of : callable(a, b) -> np.ndarray, shape=(S, b - a)
    start, stop : int
        The frames wanted, 0 <= start < stop.
    power : float
        The masks' exponent (:func:`nmfaudio.masks.masks_from_models`).
    """
    L = templates.shape[2]
    a = max(0, start - (L - 1))
    H = np.asarray(activations_of(a, stop))
    models = np.stack([convolutive_model(templates[:, [s]], H[[s]])[:, start - a:]
                       for s in range(templates.shape[1])])
    return masks_from_models(models, power=power)
