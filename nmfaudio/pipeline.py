"""The separation pipeline: a mixture in, one signal per source out.

The one place that knows the whole flow (see the project's design notes, docs/ARCHITECTURE.md)::

    audio (C, N) --stft--> X (C, F, T) --mean_c |X|^p--> V (F, T) --nmf--> W (F, K), H (K, T)
      --groups--> masks (S, C, F, T), sum_s M_s = 1 --M_s * X--> source STFTs (S, C, F, T)
      --istft--> sources (S, C, N)

Because the masks sum to one in every bin and the inverse STFT is linear, the sources
add up to the mixture (to float rounding). The masks come from the channel-averaged
spectrogram, so stereo in gives stereo out with the panning of each source kept.

Entry points:

- :func:`separate_stft` works on a complex STFT ``X`` that the caller computed (any
  transform settings described by an :class:`~nmfaudio.spectral.STFTConfig`) and returns
  the source STFTs and the masks actually applied;
- :func:`separate` is a thin wrapper for signals: read (a file, an ``Audio`` or a numpy
  array), STFT, :func:`separate_stft`, inverse STFT;
- :func:`separation_settings` checks the mode rules and fills in the defaults, with no
  audio: both functions above call it, and so can a front end (the CLI) that wants to
  fail before reading anything.

Two modes:

- supervised: ``dictionaries=[piano, drums, ...]`` fixes each source's templates (learned
  by :func:`nmfaudio.dictionary.learn_dictionary`) and solves for the activations only;
  ``n_free > 0`` adds that many learned components as one more source, ``"other"``
  (semi-supervised NMF);
- unsupervised: ``n_sources=S, n_components=K`` factorizes with K components and groups
  them into S sources (:func:`group_components`).

The steps after the factorization (component models, masks, applying them) each take a
block of frames, so that they can run on a part of ``X`` at a time.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import audio as audio_io
from .dictionary import Dictionary, _describe, check_compatible
from .errors import AudioFileError, DictionaryMismatchError, ParameterError
from .convolutive import NMFDResult, convolutive_model
from .drums import (drum_kit_masks, explains_as_well, fit_drum_kit, may_be_drum_kit,
                    percussive_energy, rank_one_divergence)
from .grouping import check_weight, cluster_components, component_balance
from .harmonic import (fused_masks, harmonic_percussive_grouping, percussive_class_is_carried,
                       percussive_mask, register_grouping, share_statistics)
from .spatial import distinct_directions, fit_directions, spatial_masks
from .masks import (_check_power, component_models, groups_from_labels, masks_from_models,
                    powered_ratios, share)
from .factorization import NMFResult, nmf, parse_beta
from ._validation import is_integer
from ._validation import sample_rate as _check_rate
from .spectral import (MIN_DEFAULT_N_FFT, STFTConfig, _check_stft_matrix, fitting_n_fft,
                       frames_within, istft, spectrogram)
from ._levels import LEVEL_RANGE, check_level, check_sample_level
from .spectral import stft as stft_transform

__all__ = [
    "separate",
    "separate_stft",
    "Separation",
    "SeparationSettings",
    "separation_settings",
    "group_components",
    "source_masks",
    "channel_gains",
    "RATE_POLICIES",
    "CHANNEL_MASKS",
    "GROUPINGS",
    "BLIND_FRAME_SECONDS",
    "blind_stft",
]

# The defaults of separate(), separate_stft() and separation_settings(), kept here once
# so that front ends (the CLI) show and use the same values.

#: Sparsity used with dictionaries unless told otherwise; chosen on the tasks of
#: ../shared/audio (benchmarks/bench_quality.py), where it gained 1 to 2 dB median SDR.
DEFAULT_L1_SUPERVISED = 0.3
#: Sparsity without dictionaries unless told otherwise.
DEFAULT_L1_UNSUPERVISED = 0.0
#: Divergence without dictionaries (with them: the dictionaries' beta).
DEFAULT_BETA = "kl"
#: Spectrogram power without dictionaries (with them: the dictionaries' power).
DEFAULT_SPECTROGRAM_POWER = 1.0
#: Exponent of the soft masks (2 = Wiener-like).
DEFAULT_MASK_POWER = 2.0
#: Maximum NMF iterations, and the relative tolerance (the loss's relative decrease
#: between two checks, 10 iterations apart, under which the fit stops) of each mode.
#: Blind fits stop at 1e-3: the grouping and masks have settled by then (the median SDR
#: of each of the six shared tasks moved by -0.01 to +0.09 dB, A's worst source from
#: -2.43 to 0.58, with about a third fewer iterations); supervised fits keep going, as
#: their activations still gain (A_stereo supervised lost 0.9 dB at 1e-3).
DEFAULT_N_ITER = 300
DEFAULT_TOL = 1e-5
DEFAULT_TOL_UNSUPERVISED = 1e-3


def fit_within_level(V_block: np.ndarray, fit: Callable[[], "NMFResult"], *, label: str):
    """``fit()`` of a block of V read before the recording's whole level is known (the
    streamed and online passes). Too loud is refused first. A block under the range
    may be a quiet passage of a good recording: it is fitted with numpy's warnings off,
    and only a fit that then leaves float32's range is reported, as the level."""
    peak = float(np.max(V_block, initial=0.0))
    if not peak <= LEVEL_RANGE[1]:
        check_level(peak, label=label)
    if peak == 0 or peak >= LEVEL_RANGE[0]:
        return fit()
    # errstate is per thread and the fit's workers are threads: their RuntimeWarnings
    # are silenced by the (process-wide) warnings filter
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return fit()
        except ParameterError:
            check_level(peak, label=label)
            raise


def default_tol(settings: "SeparationSettings") -> float:
    """The NMF tolerance of a separation when none is given: per mode (see above)."""
    return DEFAULT_TOL if settings.supervised else DEFAULT_TOL_UNSUPERVISED
#: Seed of the NMF initialization.
DEFAULT_SEED = 0
#: Unsupervised grouping: weight of activation correlation.
DEFAULT_TEMPORAL_WEIGHT = 0.3
#: Unsupervised NMF initialization.
DEFAULT_INIT = "nndsvda"

#: How unsupervised components become sources (see :class:`SeparationSettings`); the
#: first is the default.
GROUPINGS = ("auto", "register", "timbre")

#: How multichannel masks are made (see :func:`separate`). Default: "spatial" without
#: dictionaries, "gains" with them.
CHANNEL_MASKS = ("gains", "shared", "spatial")

#: With every template fixed (supervised, no free components), the activations of each
#: block of this many frames (from frame 0: a grid independent of how the audio is read)
#: are fitted on their own, so that a separation streams in memory that does not grow
#: with the recording, and gives the same result whole or chunk by chunk. About 24 s
#: at 44.1 kHz with a 512 hop; recordings shorter than that are one block.
FIT_FRAMES = 2048


def fit_frames(n_bins: int) -> int:
    """Frames per block of the fixed-template fits and of the online passes at an STFT
    of ``n_bins`` frequencies: :data:`FIT_FRAMES`, or as many values of V
    (:func:`nmfaudio.spectral.frames_within`), so that a block's memory does not grow
    with the frame length: a dictionary's 8192-point frames at 44.1 kHz (4097 bins, hop
    2048) give blocks of 512 frames, 24 s as before (2048 frames would have been 95 s,
    and 2.5 times the memory)."""
    return frames_within(FIT_FRAMES, n_bins)


#: Channel balances (grouping) and channel gains are fitted on at most this many frames,
#: evenly spaced: they are a few numbers per source, and this keeps their memory bounded
#: whatever the length (about 48 s at 44.1 kHz with a 512 hop; shorter recordings use
#: every frame).
STAT_FRAMES = 4096

#: What to do when a dictionary's sample rate differs from the mixture's; the first is
#: the default.
RATE_POLICIES = ("resample", "error")


#: The blind separation's frame, in seconds (:func:`blind_stft`).
BLIND_FRAME_SECONDS = 0.08


def blind_stft(sample_rate: int, n_samples: Optional[int] = None) -> STFTConfig:
    """The STFT of a blind separation when none is given: frames of about
    :data:`BLIND_FRAME_SECONDS` at ``sample_rate``, n_fft a power of two or three times
    one (:meth:`STFTConfig.for_sample_rate`): 768 at 8 kHz, 1536 at 16 and 22.05 kHz,
    3072 at 44.1 kHz, 4096 at 48 kHz (70 to 96 ms), hop a quarter.

    Why: measured on mixtures of the ``train/`` clips at five rates and on rendered
    General MIDI songs (``benchmarks/held_out.py``, ``rendered_mixtures.py``), frames of
    70 to 139 ms beat 46 ms by 0.8 to 1.1 dB of mean median SDR at 22.05 and 44.1 kHz,
    where the old rule (64 ms, n_fft a power of two) gave 46 ms, and 96 ms beat 64 ms at
    8 and 16 kHz. The longest frames measured (93 to 139 ms) had the best mean median at
    every rate, 70 ms the best mean worst source at 22.05 and 44.1 kHz; 80 ms is between
    them (the shared test clips A, B, C and drums_808 were in view too: README, STFT
    item), and 256 ms at 8 kHz was much worse. The harmonics of a low note need the
    longer frame; allowing three times a power of two keeps every rate near the aim (a
    power of two alone is up to 41% off).

    Parameters
    ----------
    sample_rate : int > 0
        The mixture's rate, Hz.
    n_samples : int, optional
        The mixture's length. A recording shorter than the frame (a 50 ms clip at
        44.1 kHz) gets the longest frame of the same kind that it holds, at least 16
        samples: nobody chose the default, so it should not be what refuses the clip.
    """
    config = STFTConfig.for_sample_rate(sample_rate, frame_seconds=BLIND_FRAME_SECONDS,
                                        power_of_two=False)
    if n_samples is not None and MIN_DEFAULT_N_FFT <= n_samples < config.n_fft:
        n_fft = fitting_n_fft(n_samples, power_of_two=False)
        config = STFTConfig(n_fft=n_fft, hop_length=n_fft // 4)
    return config


def default_n_components(n_sources: int) -> int:
    """Unsupervised default number of NMF components for ``n_sources`` sources:
    ``max(16, 16 * (S - 1))``, 16 for two sources and 16 more for each further one.

    Two sources are split by class (harmonic/percussive) or by register, and 16
    components do (32 for every S, measured before the 80 ms frames, moved the 28
    held-out mixtures by +0.04 dB in the mean median and -0.15 in the mean worst
    source; README, Quality). A third
    source splits a class, most often the pitched instruments that a drum kit leaves
    about six of the 16 to; with 32 (and ``4 S + 4`` = 16 before) the 16 rendered
    three-source songs of ``benchmarks/rendered_mixtures.py`` went from 2.61 to 3.49 dB
    mean median SDR at 22.05 kHz and from 1.31 to 1.76 at 44.1 kHz, the held-out
    piano + bass + drums of ``benchmarks/held_out.py`` from 5.50 to 5.52 over five
    rates (worst source 4.49 to 4.70)."""
    return max(16, 16 * (int(n_sources) - 1))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Separation:
    """The outcome of :func:`separate` or :func:`separate_stft`.

    Attributes
    ----------
    sources : np.ndarray, shape=(S, C, N), float32, or None
        One signal per source, with the mixture's channels and length; they add up to
        the mixture. None from :func:`separate_stft`, which has no signal to invert to
        (use :func:`nmfaudio.spectral.istft` on ``source_stfts``).
    source_names : tuple of str, length S
        Names of the sources (dictionary names, ``"other"`` for free components, or
        ``"source1"``... in unsupervised mode, ordered from low to high spectral centroid).
    source_stfts : np.ndarray, shape=(S, C, F, T), complex
        The masked STFT of each source, ``applied_masks * X`` (the dtype of X);
        ``source_stfts.sum(axis=0)`` equals X to float rounding. At the analysis rate.
    applied_masks : np.ndarray, shape=(S, C, F, T)
        The masks actually applied to each channel, summing to 1 over sources in every
        bin. With ``channel_masks="shared"`` (or mono) every channel has ``masks``, and
        this is a read-only broadcast view of it (no extra memory).
    masks : np.ndarray, shape=(S, F, T)
        The soft masks of the channel-averaged model, summing to 1 over sources in
        every bin (with ``channel_gains``, each channel's masks are these reweighted).
    groups : tuple of np.ndarray
        The component indices (into the columns of W) of each source. With the soft
        "spatial" and "harmonic-percussive" groupings a component is shared between
        sources and is listed under the one holding its largest share (the masks use
        every share), so a source may have signal and an empty group.
    nmf : NMFResult or NMFDResult
        The factorization (templates (F, K), activations (K, T), loss history); the
        NMFD (templates (F, S, L)) when the blind grouping is ``"drum-kit"``.
    spectrogram : np.ndarray, shape=(F, T)
        The mixture's spectrogram V that was factorized.
    channel_gains : np.ndarray, shape=(S, C), or None
        Each source's fitted gain in each channel (multichannel input with
        ``channel_masks="gains"``), else None.
    stft : STFTConfig
        The STFT used.
    mask_power : float
        The exponent of the soft masks.
    spectrogram_power : float
        The power of the spectrogram that was factorized (1 = magnitude).
    analysis_rate : int
        The sample rate (Hz) the STFT was taken at: the dictionaries' rate when
        :func:`separate` had to resample the mixture, else the mixture's.
    mixture : Audio or None
        The mixture as given to :func:`separate` (None from :func:`separate_stft`).
    analysis : Audio or None
        The mixture at the rate the separation ran at; the same object as ``mixture``
        unless it had to be resampled (None from :func:`separate_stft`).
    grouping : str
        How the components became sources: ``"dictionaries"`` (supervised),
        ``"spatial"`` (blind multichannel, :mod:`nmfaudio.spatial`), ``"drum-kit"``
        (one NMFD component per source, :mod:`nmfaudio.drums`),
        ``"harmonic-percussive"`` (:mod:`nmfaudio.harmonic`), ``"register"`` (a mostly
        harmonic mixture, :func:`nmfaudio.harmonic.register_grouping`) or ``"timbre"``
        (:func:`nmfaudio.grouping.cluster_components`).
    residual : np.ndarray, shape=(C, N), or None
        When the mixture was resampled to the dictionaries' rate: what the sources do
        not carry (``mixture - sum(sources)``; above the dictionaries' Nyquist frequency
        when they are at a lower rate). ``sources.sum(0) + residual == mixture``. None
        when no resampling was needed (then the sources alone add up to the mixture).
    """

    source_names: tuple
    source_stfts: np.ndarray
    applied_masks: np.ndarray
    masks: np.ndarray
    groups: tuple
    nmf: NMFResult
    spectrogram: np.ndarray
    channel_gains: Optional[np.ndarray]
    stft: STFTConfig
    mask_power: float
    spectrogram_power: float
    analysis_rate: int
    grouping: str = "timbre"
    sources: Optional[np.ndarray] = None
    mixture: Optional["audio_io.Audio"] = None
    analysis: Optional["audio_io.Audio"] = None
    residual: Optional[np.ndarray] = None

    @property
    def sample_rate(self) -> int:
        """Sample rate of the sources (Hz): the mixture's, or the STFT's without one."""
        return self.mixture.sample_rate if self.mixture is not None else self.analysis_rate

    @property
    def n_sources(self) -> int:
        """S."""
        return len(self.source_names)

    def source(self, name: str) -> np.ndarray:
        """The signal of the source called ``name``, shape=(C, N)."""
        if self.sources is None:
            raise ParameterError("this separation has no signals (it came from separate_stft); "
                                 "use source_stfts and nmfaudio.spectral.istft")
        try:
            return self.sources[self.source_names.index(name)]
        except ValueError:
            raise ParameterError(f"no source named {name!r}; sources are {list(self.source_names)}") from None

    def _component_model(self, k: int) -> np.ndarray:
        """Component k's model, shape=(F, T): ``w_k h_k``, or its NMFD model (drum kit)."""
        W, H = self.nmf.templates, self.nmf.activations
        if W.ndim == 3:
            return convolutive_model(W[:, [k]], H[[k]])
        return np.outer(W[:, k], H[k])

    def component_signals(self) -> np.ndarray:
        """One signal per NMF component, shape=(K, C, N), adding up to the mixture.

        Each component k gets the soft mask ``(w_k h_k)^p / sum_j (w_j h_j)^p`` (with
        ``w_k h_k`` its convolutive model after a drum kit's NMFD) (the
        formula of :func:`nmfaudio.masks.masks_from_models`, applied to every channel);
        computed one component at a time, so memory stays at one complex STFT and a few
        (F, T) arrays whatever K (the output itself is K * C * N floats).
        """
        if self.analysis is None:
            raise ParameterError("component_signals needs the mixture's signal; this "
                                 "separation came from separate_stft (use separate)")
        K, p = self.nmf.templates.shape[1], self.mask_power
        X = stft_transform(self.analysis.samples, self.stft)
        # Two passes over the components, so that memory stays at a few (F, T) arrays
        # however many components there are: first the per-bin largest model and the
        # sum of the masks' numerators, then one mask and one inverse STFT at a time.
        peak = np.zeros(X.shape[-2:], dtype=np.float32)
        for k in range(K):
            np.maximum(peak, self._component_model(k), out=peak)
        total = np.zeros_like(peak)
        for k in range(K):
            total += powered_ratios(self._component_model(k), peak, p)
        out = np.empty((K,) + self.mixture.samples.shape, dtype=np.float32)
        for k in range(K):
            mask = share(powered_ratios(self._component_model(k), peak, p), total, peak, K)
            signal = istft(mask * X, self.stft, length=self.analysis.n_samples)
            if self.analysis is not self.mixture:
                signal = _resample_exact(signal, self.analysis.sample_rate, self.mixture)
            out[k] = signal
        return out


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, eq=False)
class SeparationSettings:
    """The settings of one separation, checked and with every default filled in.

    Made by :func:`separation_settings`; needs no audio, so a front end can check a
    command line before reading any file.

    These are the options of :func:`separate`, :func:`separate_stft` and
    :func:`separation_settings`, documented here once (the arguments have the same
    names; ``stft`` is :func:`separate`'s ``stft_config``).

    Attributes
    ----------
    supervised : bool
        True with dictionaries.
    dictionaries : tuple of Dictionary
        Supervised mode: one dictionary per source, all learned with the same sample
        rate, STFT and spectrogram power (empty when unsupervised).
    source_names : tuple of str, length S
        Dictionary names (and ``"other"`` with ``n_free``); unsupervised, the
        ``source_names`` argument (default ``source1``, ``source2``...), given to the
        sources ordered from low to high spectral centroid.
    n_components : int
        K, the number of NMF components: the dictionaries' templates + ``n_free``, or
        unsupervised the ``n_components`` argument (default ``max(16, 16 * (S - 1))``,
        :func:`default_n_components`).
    n_free : int >= 0
        Supervised mode: extra components learned from the mixture, output as a source
        named ``"other"`` (semi-supervised NMF).
    n_sources : int
        S. Unsupervised mode: the ``n_sources`` argument (required).
    beta : float or str
        Divergence of the NMF: "kl", "is", "euclidean" or a number. Default: the beta
        the dictionaries were learned with, or "kl" without dictionaries.
    spectrogram_power : float > 0
        V = mean over channels of ``|X|**spectrogram_power`` (1 = magnitude). Default:
        the dictionaries' power, or 1 without dictionaries.
    l1_activations : float >= 0
        Sparsity of the activations (see :func:`nmfaudio.factorization.nmf`). Default:
        0.3 with dictionaries (sparse codes over a fixed dictionary separate better,
        1 to 2 dB median SDR on ../shared/audio), 0 without. For KL the value does not
        depend on the level of the recording.
    mask_power : float > 0 or inf
        Exponent p of the soft masks ``(W_s H_s)^p / sum_j (W_j H_j)^p`` (2 =
        Wiener-like, the default; ``np.inf``: hard masks, each bin to the source with
        the largest model).
    stft : STFTConfig
        Default: the dictionaries' STFT, or ``STFTConfig()`` (2048 / 512, Hann); but
        :func:`separate` without dictionaries takes frames of about 80 ms at the
        mixture's rate, :func:`blind_stft`.
    init : {"nndsvda", "random"}
        Unsupervised mode: initialization of the NMF. NNDSVDa (default) gave the same
        grouping for every seed in our measurements; random starts varied by several dB.
    temporal_weight : float in [0, 1]
        Unsupervised mode: weight of activation correlation in the timbre clustering
        (default 0.3).
    grouping : {"auto", "register", "timbre"}
        Unsupervised mode, one channel (or several with ``channel_masks="shared"``, or
        "spatial" when the channels carry no distinct directions): how components
        become sources. "auto" (default): by harmonic/percussive class and register
        with soft shares (:mod:`nmfaudio.harmonic`) when the mixture holds both kinds of
        sound, at least a quarter of its energy each; a mostly harmonic one by register
        alone (:func:`nmfaudio.harmonic.register_grouping`); a mostly percussive one as
        a drum kit (:mod:`nmfaudio.drums`) where it is one; otherwise by clustering
        templates and activations (:mod:`nmfaudio.grouping`). "register": by register
        alone whatever the mixture (pitched instruments whose attacks "auto" takes for a
        percussive class: a piano over a bass line). "timbre": by the clustering.
        Measured, median SDR (worst source): B_speech_music 0.88 -> 2.53 dB, C 1.85 ->
        3.43, A_piano_bass_drums -0.26 (-10.85) -> 3.62 (-2.28).
    channel_masks : {"spatial", "gains", "shared"}
        Multichannel input. "spatial" (the default without dictionaries; not allowed
        with them) assigns every time-frequency bin by the direction of its channel
        magnitudes times the NMF's spectral prior, with components shared softly
        between sources (:mod:`nmfaudio.spatial`; A_stereo_panned 4.37 -> 9.6 dB median
        SDR over "gains"). "shared" applies each source's one mask to every channel;
        "gains" (the default with dictionaries) first fits each source's gain in each
        channel, ``|X_c|^q ~ sum_s g[s, c] (W_s H_s)`` (KL, multiplicative updates, W
        and H fixed; q = spectrogram_power), and weights the masks per channel,
        ``M[s, c] = g[s, c] m_s^p / sum_j g[j, c] m_j^p``. Panned sources then leak less
        into each other's side (measured on A_stereo_panned: every stem's channel
        balance within 1 dB of the reference, median SDR +0.4 dB over "shared").
    on_rate_mismatch : {"resample", "error"}
        :func:`separate` with dictionaries, when the mixture's rate differs from
        theirs: resample the mixture to their rate (the sources come out at the
        mixture's rate again; the default), or raise :class:`DictionaryMismatchError`.
    """

    supervised: bool
    dictionaries: tuple
    source_names: tuple
    n_components: int
    n_free: int
    n_sources: int
    beta: Union[float, str]
    spectrogram_power: float
    l1_activations: float
    mask_power: float
    stft: STFTConfig
    init: str
    temporal_weight: float
    grouping: str
    channel_masks: str
    on_rate_mismatch: str

    @property
    def sample_rate(self) -> Optional[int]:
        """The dictionaries' sample rate (Hz), the rate the separation runs at; None
        when unsupervised (any rate)."""
        return self.dictionaries[0].sample_rate if self.supervised else None

    def labels(self) -> np.ndarray:
        """Supervised: the source number of each component, shape=(K,)."""
        labels = [np.full(d.n_components, i) for i, d in enumerate(self.dictionaries)]
        labels.append(np.full(self.n_free, len(self.dictionaries)))
        return np.concatenate(labels)


def separation_settings(
    *,
    dictionaries: Optional[Sequence[Dictionary]] = None,
    n_free: int = 0,
    n_sources: Optional[int] = None,
    n_components: Optional[int] = None,
    source_names: Optional[Sequence[str]] = None,
    beta: Union[None, float, str] = None,
    mask_power: float = DEFAULT_MASK_POWER,
    spectrogram_power: Optional[float] = None,
    l1_activations: Optional[float] = None,
    stft: Optional[STFTConfig] = None,
    on_rate_mismatch: str = RATE_POLICIES[0],
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
    init: str = DEFAULT_INIT,
    channel_masks: Optional[str] = None,
    grouping: str = GROUPINGS[0],
) -> SeparationSettings:
    """Check a separation's mode and options and fill in the defaults.

    The rules of :func:`separate` and :func:`separate_stft` in one place: exactly one of
    ``dictionaries`` (supervised) and ``n_sources`` (unsupervised); ``n_free`` only with
    dictionaries; ``n_components`` and ``source_names`` only without; with dictionaries,
    the STFT and spectrogram power must be theirs. The parameters are described, with
    their defaults, as the attributes of :class:`SeparationSettings` (None means "the
    default"); the NMF's own arguments (``beta`` values, ``l1_activations``, ``init``
    names) are checked by :func:`nmfaudio.factorization.nmf`.

    Returns
    -------
    SeparationSettings
        Defaults: ``beta`` and ``spectrogram_power`` the dictionaries' (else "kl" and 1),
        ``stft`` the dictionaries' (else ``STFTConfig()``; :func:`separate` then
        replaces it by :func:`blind_stft` of the mixture), ``l1_activations`` 0.3 with
        dictionaries (else 0), ``n_components`` ``max(16, 16 * (n_sources - 1))``.

    Raises
    ------
    ParameterError
        A setting is out of range, or the mode is unclear (both or neither of
        ``dictionaries`` and ``n_sources``).
    DictionaryMismatchError
        The dictionaries do not fit each other, or the STFT or spectrogram power asked
        for is not theirs.
    """
    # settings that are only used after the NMF are checked before it
    mask_power = _check_power(mask_power, "mask_power")
    check_weight(temporal_weight, "temporal_weight")
    if grouping not in GROUPINGS:
        raise ParameterError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    if channel_masks is None:
        channel_masks = "gains" if dictionaries is not None else "spatial"
    if channel_masks not in CHANNEL_MASKS:
        raise ParameterError(f"channel_masks must be one of {CHANNEL_MASKS}, got {channel_masks!r}")
    if channel_masks == "spatial" and dictionaries is not None:
        raise ParameterError("channel_masks='spatial' is for unsupervised separation; with "
                             "dictionaries use 'gains' (the default) or 'shared'")
    if on_rate_mismatch not in RATE_POLICIES:
        raise ParameterError(f"on_rate_mismatch must be one of {RATE_POLICIES}, got {on_rate_mismatch!r}")
    if not is_integer(n_free) or n_free < 0:
        raise ParameterError(f"n_free must be a nonnegative integer, got {n_free!r}")
    if isinstance(dictionaries, Dictionary):
        dictionaries = (dictionaries,)  # one source's dictionary (n_free adds "other")
    supervised = dictionaries is not None
    if supervised == (n_sources is not None):
        raise ParameterError(
            "give either dictionaries (supervised) or n_sources (unsupervised), not both or neither"
        )
    if supervised:
        mode = _supervised_settings(dictionaries, n_free, n_components, source_names, beta,
                                    spectrogram_power, stft)
    else:
        mode = _unsupervised_settings(n_sources, n_free, n_components, source_names, beta,
                                      spectrogram_power, stft)
    if not isinstance(mode["stft"], STFTConfig):
        raise ParameterError(f"stft_config must be an STFTConfig, got {type(mode['stft']).__name__}")
    if l1_activations is None:
        l1_activations = DEFAULT_L1_SUPERVISED if supervised else DEFAULT_L1_UNSUPERVISED
    return SeparationSettings(
        supervised=supervised, n_free=int(n_free), l1_activations=l1_activations,
        mask_power=mask_power, init=init, temporal_weight=temporal_weight,
        grouping=grouping, channel_masks=channel_masks, on_rate_mismatch=on_rate_mismatch,
        **mode)


def _supervised_settings(dictionaries, n_free, n_components, source_names, beta,
                         spectrogram_power, config) -> dict:
    if n_components is not None or source_names is not None:
        raise ParameterError(
            "n_components and source_names are for unsupervised separation; with "
            "dictionaries the sources are named after them (n_free adds 'other')"
        )
    dictionaries = tuple(dictionaries)
    check_compatible(dictionaries)
    first = dictionaries[0]
    if beta is None:
        beta = first.beta
    if spectrogram_power is None:
        spectrogram_power = first.spectrogram_power
    config = config if config is not None else first.stft
    if config != first.stft:
        raise DictionaryMismatchError(
            f"the dictionaries were learned with {_describe(first.stft)} but the "
            f"separation asks for {_describe(config)}; use the dictionaries' STFT or "
            "learn them again"
        )
    if spectrogram_power != first.spectrogram_power:
        raise DictionaryMismatchError(
            f"the dictionaries were learned on power {first.spectrogram_power:g} spectrograms "
            f"but spectrogram_power={spectrogram_power:g} was asked for"
        )
    names = [d.name for d in dictionaries]
    if n_free:
        if "other" in names:
            raise ParameterError("a dictionary is named 'other', the name of the free components; rename it")
        names.append("other")
    return {"dictionaries": dictionaries, "source_names": tuple(names), "beta": beta,
            "spectrogram_power": float(spectrogram_power), "stft": config,
            "n_components": sum(d.n_components for d in dictionaries) + int(n_free),
            "n_sources": len(names)}


def _unsupervised_settings(n_sources, n_free, n_components, source_names, beta,
                           spectrogram_power, config) -> dict:
    beta = DEFAULT_BETA if beta is None else beta
    spectrogram_power = DEFAULT_SPECTROGRAM_POWER if spectrogram_power is None else spectrogram_power
    config = config if config is not None else STFTConfig()
    if not is_integer(n_sources) or n_sources < 1:
        raise ParameterError(f"n_sources must be a positive integer, got {n_sources!r}")
    if n_components is None:
        n_components = default_n_components(n_sources)
    if not isinstance(n_components, (int, np.integer)) or n_components < n_sources:
        raise ParameterError(
            f"n_components must be an integer >= n_sources ({n_sources}), got {n_components!r}"
        )
    if n_free:
        raise ParameterError("n_free is for supervised separation (with dictionaries)")
    if source_names is None:
        names = [f"source{i + 1}" for i in range(n_sources)]
    else:
        names = [str(n) for n in source_names]
        if len(names) != n_sources or len(set(names)) != len(names):
            raise ParameterError(f"source_names must be {n_sources} distinct names, got {names}")
    return {"dictionaries": (), "source_names": tuple(names), "beta": beta,
            "spectrogram_power": spectrogram_power, "stft": config,
            "n_components": int(n_components), "n_sources": int(n_sources)}


# --------------------------------------------------------------------------- steps


def _resample_exact(samples: np.ndarray, rate: int, like: "audio_io.Audio") -> np.ndarray:
    """Resample (C, N') samples at ``rate`` to ``like``'s rate and exact length."""
    back = audio_io.resample(audio_io.Audio(samples, rate), like.sample_rate).samples
    out = np.zeros(like.samples.shape, dtype=np.float32)
    n = min(back.shape[-1], out.shape[-1])
    out[:, :n] = back[:, :n]
    return out


# Frames the gain fit reads at most: S gains per channel are fitted from F x T bins, and a
# regular subset of frames gives the same gains (measured at 5 min: every 8th frame moved
# them by at most 0.009 dB) for a fraction of the passes over the (S, F, T) models. 1024
# frames (2 million bins a channel at n_fft 2048, for a handful of gains) left the scores
# of A_stereo_panned identical to 0.01 dB against 4096 (bench_quality, supervised and
# blind with gains), and took the fit from 0.38 to about 0.1 s of a 1-minute separation.
GAIN_FIT_MAX_FRAMES = 1024


def channel_gains(X: np.ndarray, models: np.ndarray, *, spectrogram_power: float = 1.0,
                  n_iter: int = 50) -> np.ndarray:
    """Each source's gain in each channel, shape=(S, C).

    Fits ``|X_c|^q ~ sum_s g[s, c] models[s]`` under the KL divergence by multiplicative
    updates of g alone (the source models are fixed), starting from g = 1. The fit reads
    at most ``GAIN_FIT_MAX_FRAMES`` evenly spaced frames, in float32, every channel at
    once, and stops once no gain moves by more than 1e-4 (relative, 0.0009 dB) in an
    iteration (on A_stereo_panned: within 0.001 dB of a 1000-iteration fit).

    Parameters
    ----------
    X : np.ndarray, shape=(C, F, T), complex
        The mixture's STFT.
    models : np.ndarray, shape=(S, F, T)
        Nonnegative model spectrogram of each source (channel-averaged).
    spectrogram_power : float
        q, the power the models were made for.
    n_iter : int
        Maximum number of multiplicative updates.
    """
    S, C, T = models.shape[0], X.shape[0], models.shape[2]
    step = -(-T // GAIN_FIT_MAX_FRAMES)
    # (S, N) and (C, N) with N = F * frames read: the updates are then two matrix products
    M = np.ascontiguousarray(models[:, :, ::step], dtype=np.float32).reshape(S, -1)
    Y = np.abs(X[:, :, ::step]).astype(np.float32)
    if spectrogram_power != 1.0:
        Y **= np.float32(spectrogram_power)
    Y = Y.reshape(C, -1)
    totals = np.maximum(M.sum(axis=1, dtype=np.float64), np.finfo(np.float64).tiny)
    # silent bins: 0 / floor, not 0 / 0 (floor relative to the models' level)
    floor = np.float32(np.finfo(np.float32).eps * max(float(M.mean(dtype=np.float64)),
                                                      np.finfo(np.float32).tiny))
    gains = np.ones((C, S))
    fit = np.empty_like(Y)
    for _ in range(n_iter):
        np.matmul(gains.astype(np.float32), M, out=fit)
        np.maximum(fit, floor, out=fit)
        np.divide(Y, fit, out=fit)
        factor = (fit @ M.T).astype(np.float64) / totals
        gains *= factor
        if np.max(np.abs(factor - 1.0)) < 1e-4:
            break
    return gains.T.copy()


def source_masks(models: np.ndarray, *, mask_power: float, n_channels: int,
                 gains: Optional[np.ndarray] = None) -> tuple:
    """The masks of a block of frames: the channel-averaged ones and those applied.

    Parameters
    ----------
    models : np.ndarray, shape=(S, F, T)
        Each source's model spectrogram (:func:`nmfaudio.masks.component_models`) for
        these frames.
    mask_power : float > 0
        p in ``m_s^p / sum_j m_j^p``.
    n_channels : int
        C, the channels of the STFT the masks are for.
    gains : np.ndarray, shape=(S, C), optional
        Each source's gain in each channel (:func:`channel_gains`); each channel's masks
        are then ``g[s, c] m_s^p / sum_j g[j, c] m_j^p``. None: every channel gets the
        same masks.

    Returns
    -------
    masks : np.ndarray, shape=(S, F, T)
        The masks of the channel-averaged model.
    applied : np.ndarray, shape=(S, C, F, T)
        The masks of each channel; a read-only broadcast view of ``masks`` without
        ``gains``. Both sum to 1 over sources in every bin.
    """
    masks = masks_from_models(models, power=mask_power)
    if gains is None:
        shape = (masks.shape[0], n_channels) + masks.shape[1:]
        return masks, np.broadcast_to(masks[:, None], shape)
    applied = np.empty((masks.shape[0], n_channels) + masks.shape[1:], dtype=masks.dtype)
    for c in range(n_channels):
        # M[s, c] = g[s, c] m_s^p / sum_j g[j, c] m_j^p: still sums to 1 in every bin
        # the gains in the models' precision: float64 gains would double every mask
        factor = (gains[:, c] ** (1.0 / mask_power)).astype(models.dtype)
        weighted = models * factor[:, None, None]
        applied[:, c] = masks_from_models(weighted, power=mask_power)
    return masks, applied


def _apply(applied: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``applied * X`` for a block of frames: (S, C, F, T) masks on (C, F, T), dtype of X."""
    return applied.astype(np.finfo(X.dtype).dtype, copy=False) * X[None]


def group_components(X: np.ndarray, result: NMFResult, n_sources: int, *, sample_rate: int,
                     n_fft: int, temporal_weight: float,
                     frames: Optional[np.ndarray] = None) -> np.ndarray:
    """Unsupervised: the source number of each NMF component, shape=(K,).

    The timbre clustering (:func:`nmfaudio.grouping.cluster_components`, with each
    component's channel balance for multichannel X): the blind grouping where neither
    the spatial model (:func:`spatial_model`) nor the harmonic/percussive one
    (:mod:`nmfaudio.harmonic`) applies, or with ``grouping="timbre"``.

    Parameters
    ----------
    X : np.ndarray, shape=(C, F, T) or (C, F, len(frames))
        The mixture's STFT (complex) or its magnitudes ``|X|``; with ``frames``, only
        those frames of it.
    result : NMFResult
        The factorization of its spectrogram.
    n_sources : int
        S.
    sample_rate, n_fft : int
        The STFT's sample rate (Hz) and frame length, for the frequency of each bin.
    temporal_weight : float in [0, 1]
        Weight of activation correlation.
    frames : np.ndarray of int, optional
        The frames X holds (:func:`stat_frames`): channel balances are measured on
        them; activation correlations always on every frame.
    """
    H = result.activations
    balance = None
    if X.shape[0] > 1:
        H_x = H if frames is None else H[:, frames]
        balance = component_balance(np.abs(X), result.templates, H_x)
    return cluster_components(result.templates, H, int(n_sources),
                              sample_rate=sample_rate, n_fft=n_fft,
                              temporal_weight=temporal_weight, balance=balance)


def groups_and_gains(result: NMFResult, settings: SeparationSettings, *,
                     magnitudes: np.ndarray, frames: np.ndarray, sample_rate: int,
                     frame_activations: Optional[np.ndarray] = None) -> tuple:
    """The components of each source and, for multichannel "gains", each source's gain
    in each channel: what the masks of every block of frames need.

    Parameters
    ----------
    result : NMFResult
        The factorization (H on every frame).
    settings : SeparationSettings
    magnitudes : np.ndarray, shape=(C, F, len(frames)), float32
        ``|X|`` of the mixture at ``frames`` (:func:`stat_frames` of T).
    frames : np.ndarray of int
    sample_rate : int
        The analysis rate.
    frame_activations : np.ndarray, shape=(K, len(frames)), optional
        ``H[:, frames]`` when ``result.activations`` is not the whole H (supervised
        streaming keeps only these columns in memory).

    Returns
    -------
    groups : tuple of np.ndarray
    gains : np.ndarray, shape=(S, C), or None
    """
    if settings.supervised:
        labels = settings.labels()
    else:
        labels = group_components(magnitudes, result, settings.n_sources,
                                  sample_rate=sample_rate, n_fft=settings.stft.n_fft,
                                  temporal_weight=settings.temporal_weight, frames=frames)
    groups = groups_from_labels(labels, n_sources=settings.n_sources)
    gains = None
    if magnitudes.shape[0] > 1 and settings.channel_masks == "gains":
        if frame_activations is None:
            frame_activations = result.activations[:, frames]
        models = component_models(result.templates, frame_activations, groups)
        gains = channel_gains(magnitudes, models, spectrogram_power=settings.spectrogram_power)
    return groups, gains


def fallback_groups(result: NMFResult, settings: SeparationSettings,
                    statistics: Optional[np.ndarray], *, magnitudes: np.ndarray,
                    frames: np.ndarray, sample_rate: int,
                    frame_activations: Optional[np.ndarray] = None) -> tuple:
    """(groups, gains or None, grouping name) where neither a drum kit, the spatial model
    nor the harmonic/percussive split applies. Where that split was tried
    (``statistics``, :func:`nmfaudio.harmonic.share_statistics`, given) and declined
    because the mixture is mostly harmonic (the percussive class too small, or carried
    by no component of its own: :func:`nmfaudio.harmonic.percussive_class_is_carried`),
    pitched instruments are told apart by register
    (:func:`nmfaudio.harmonic.register_grouping`). Otherwise (dictionaries,
    stereo "gains", ``grouping="timbre"``, a mostly percussive mixture that is no drum
    kit, or no S-way register split): :func:`groups_and_gains`. (Drum loops without
    the drum kit, 44.1 kHz, before the log-frequency register: register 4.67 dB mean
    median against the timbre clustering's 6.59.)"""
    if statistics is not None and not percussive_class_is_carried(statistics):
        labels = register_grouping(result.templates, statistics[0], settings.n_sources,
                                   sample_rate=sample_rate, n_fft=settings.stft.n_fft)
        if labels is not None:
            return groups_from_labels(labels, n_sources=settings.n_sources), None, "register"
    groups, gains = groups_and_gains(result, settings, magnitudes=magnitudes, frames=frames,
                                     sample_rate=sample_rate, frame_activations=frame_activations)
    return groups, gains, "dictionaries" if settings.supervised else "timbre"


def stat_frames(n_frames: int, n_bins: int) -> np.ndarray:
    """The frames channel balances and gains are fitted on: all of them, or
    :data:`STAT_FRAMES` evenly spaced ones for longer recordings (fewer for frames of
    over 1025 bins, so that they hold no more values: 1024 of a dictionary's 4097),
    shape=(T',), int."""
    most = frames_within(STAT_FRAMES, n_bins)
    if n_frames <= most:
        return np.arange(n_frames)
    return (np.arange(most, dtype=np.int64) * n_frames) // most


def fixed_templates(settings: SeparationSettings) -> Optional[np.ndarray]:
    """The dictionaries' templates side by side, shape=(F, K), when every template is
    fixed (supervised without free components); else None."""
    if not settings.supervised or settings.n_free:
        return None
    return np.concatenate([d.templates for d in settings.dictionaries], axis=1)


def fit_activations(V: np.ndarray, W: np.ndarray, settings: SeparationSettings, *,
                    rng: np.random.Generator, **nmf_args) -> NMFResult:
    """Activations of one block of frames (at most :func:`fit_frames`) over fixed W.

    ``rng`` is shared by the blocks of a recording in order, so the random starts do
    not depend on how the blocks are read. A silent block has zero activations.
    """
    if not np.any(V):
        K = W.shape[1]
        return NMFResult(templates=W, activations=np.zeros((K, V.shape[1]), dtype=W.dtype),
                         loss_history=np.zeros(1), loss_iterations=np.zeros(1, dtype=np.int64),
                         n_iter=0, converged=True, beta=float(parse_beta(settings.beta)),
                         l1_activations=float(settings.l1_activations))
    return nmf(V, W.shape[1], templates=W, fixed_templates=True, beta=settings.beta,
               l1_activations=settings.l1_activations, seed=rng, **nmf_args)


def _merge_block_fits(W: np.ndarray, fits: Sequence[NMFResult]) -> NMFResult:
    """One NMFResult for a recording whose activations were fitted block by block: the
    loss is the sum of the blocks' final losses, the iterations the most any block ran."""
    losses = np.array([sum(f.final_loss for f in fits)])
    return NMFResult(templates=W, activations=np.concatenate([f.activations for f in fits], axis=1),
                     loss_history=losses, loss_iterations=np.array([max(f.n_iter for f in fits)]),
                     n_iter=max(f.n_iter for f in fits), converged=all(f.converged for f in fits),
                     beta=fits[0].beta, l1_activations=fits[0].l1_activations)


def _factorize(V: np.ndarray, settings: SeparationSettings, *, seed=None,
               **nmf_args) -> NMFResult:
    """The NMF of the mixture's spectrogram, with fixed templates when supervised
    (activations fitted per :func:`fit_frames` block when all templates are fixed)."""
    common = dict(beta=settings.beta, l1_activations=settings.l1_activations, **nmf_args)
    W_fixed = fixed_templates(settings)
    if W_fixed is not None:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        block = fit_frames(V.shape[0])
        fits = [fit_activations(V[:, a:a + block], W_fixed, settings, rng=rng, **nmf_args)
                for a in range(0, V.shape[1], block)]
        return fits[0] if len(fits) == 1 else _merge_block_fits(W_fixed, fits)
    if settings.supervised:
        W0 = np.concatenate([d.templates for d in settings.dictionaries], axis=1)
        return nmf(V, settings.n_components, templates=W0, fixed_templates=True, seed=seed,
                   **common)
    init = settings.init
    if init == "nndsvda" and settings.n_components > min(V.shape):
        init = "random"  # NNDSVDa needs K <= min(F, T): a very short file or small n_fft
    return nmf(V, settings.n_components, init=init, seed=seed, **common)


def _check_mixture_stft(X, config: STFTConfig) -> np.ndarray:
    X = _check_stft_matrix(X, config)
    if X.ndim != 3:
        raise ParameterError(
            f"X must be a complex STFT of shape (C, F, T), got shape {X.shape}; "
            "for one channel use X[np.newaxis]"
        )
    if not np.any(X):
        raise ParameterError("X is all zero (a silent mixture): nothing to separate")
    return X


def separate_stft(
    X: np.ndarray,
    *,
    sample_rate: int,
    stft: STFTConfig,
    dictionaries: Optional[Sequence[Dictionary]] = None,
    n_free: int = 0,
    n_sources: Optional[int] = None,
    n_components: Optional[int] = None,
    source_names: Optional[Sequence[str]] = None,
    beta: Union[None, float, str] = None,
    mask_power: float = DEFAULT_MASK_POWER,
    spectrogram_power: Optional[float] = None,
    l1_activations: Optional[float] = None,
    n_iter: int = DEFAULT_N_ITER,
    tol: Optional[float] = None,
    seed: Union[None, int, np.random.Generator] = DEFAULT_SEED,
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
    init: str = DEFAULT_INIT,
    channel_masks: Optional[str] = None,
    grouping: str = GROUPINGS[0],
    dtype=np.float32,
    callback: Optional[Callable[[int, float], None]] = None,
    n_threads: Optional[int] = None,
) -> Separation:
    """Separate a mixture given as its complex STFT.

    The core of :func:`separate`, for a researcher with their own transform: no file,
    no resampling, no inverse STFT.

    Parameters
    ----------
    X : np.ndarray, shape=(C, F, T), complex
        The mixture's STFT, one channel or more (``X[np.newaxis]`` for one (F, T) STFT);
        ``F`` must be ``stft.n_bins``. Not modified.
    sample_rate : int > 0
        The rate (Hz) of the signal X was taken from. With dictionaries it must be theirs
        (an STFT cannot be resampled; :func:`separate` can resample the signal).
    stft : STFTConfig
        The settings X was computed with (with dictionaries: theirs). Unsupervised, the
        grouping uses its ``n_fft``; it is kept in the result for the inverse STFT.
    dictionaries, n_free, n_sources, n_components, source_names, beta, mask_power,
    spectrogram_power, l1_activations, n_iter, tol, seed, temporal_weight, init,
    channel_masks, grouping, dtype, callback, n_threads
        As in :func:`separate`, with the same defaults.

    Returns
    -------
    Separation
        With ``source_stfts`` (S, C, F, T), which add up to X, the ``applied_masks``
        (S, C, F, T), the channel-averaged ``masks``, groups and the NMF; ``sources``,
        ``mixture`` and ``analysis`` are None.

    Raises
    ------
    ParameterError
        X is not a finite complex (C, F, T) array with ``stft.n_bins`` bins, or all
        zero; a setting is out of range or the mode is unclear (see
        :func:`separation_settings`).
    DictionaryMismatchError
        The dictionaries do not fit each other, ``stft``, or ``sample_rate``.
    AudioFileError
        X's spectrogram peaks outside :data:`LEVEL_RANGE` (too quiet or too loud for
        the fit in float32).

    Examples
    --------
    >>> import numpy as np, nmfaudio
    >>> from nmfaudio.spectral import STFTConfig, stft
    >>> config = STFTConfig(n_fft=512, hop_length=128)
    >>> x = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32)
    >>> X = stft(x, config)
    >>> sep = nmfaudio.separate_stft(X, sample_rate=8000, stft=config, n_sources=2, n_iter=20)
    >>> sep.source_stfts.shape == (2,) + X.shape
    True
    """
    settings = separation_settings(
        dictionaries=dictionaries, n_free=n_free, n_sources=n_sources,
        n_components=n_components, source_names=source_names, beta=beta,
        mask_power=mask_power, spectrogram_power=spectrogram_power,
        l1_activations=l1_activations, stft=stft, temporal_weight=temporal_weight,
        init=init, channel_masks=channel_masks, grouping=grouping)
    sample_rate = _check_rate(sample_rate)
    if settings.supervised and sample_rate != settings.sample_rate:
        raise DictionaryMismatchError(
            f"X is at {sample_rate} Hz but the dictionaries are at {settings.sample_rate} Hz; "
            "take the STFT of the signal resampled to their rate (separate() can do it)"
        )
    X = _check_mixture_stft(X, settings.stft)
    tol = default_tol(settings) if tol is None else tol
    return _separate_checked(X, settings, sample_rate=sample_rate, n_iter=n_iter, tol=tol,
                             seed=seed, dtype=dtype, callback=callback, n_threads=n_threads)


def _separate_checked(X: np.ndarray, settings: SeparationSettings, *, sample_rate: int,
                      label: str = "the mixture", **nmf_args) -> Separation:
    """:func:`separate_stft` once X and the settings are checked."""
    V = spectrogram(X, power=settings.spectrogram_power)
    check_level(float(V.max(initial=0.0)), label=label)
    frames = stat_frames(X.shape[-1], X.shape[-2])
    magnitudes = np.abs(X[..., frames]) if X.shape[0] > 1 else X[:, :, :0]
    gains = None
    hp = None
    model = spatial_model(settings, magnitudes)
    percussive = None
    if uses_harmonic(settings, X.shape[0], spatial=model is not None):
        percussive = percussive_mask(V)
    result = _factorize(V, settings, **nmf_args)
    if percussive is not None and may_be_drum_kit(percussive_energy(V, percussive),
                                                  sample_rate=sample_rate):
        kit = fitted_drum_kit(V, result, settings, sample_rate=sample_rate, **nmf_args)
        if kit is not None:
            return _drum_kit_separation(X, V, kit, settings, sample_rate=sample_rate)
    statistics = None
    if percussive is not None:
        statistics = share_statistics(result.templates, result.activations, V, percussive)
        hp = harmonic_percussive_grouping(result.templates, statistics, settings.n_sources,
                                          sample_rate=sample_rate, n_fft=settings.stft.n_fft)
    elif uses_register(settings, X.shape[0], spatial=model is not None):  # no percussive class
        statistics = share_statistics(result.templates, result.activations, V, None)
    if model is not None:
        groups, masks = spatial_grouping(X, V, result, settings.n_sources,
                                         mask_power=settings.mask_power, model=model)
        applied = np.broadcast_to(masks[:, None], (masks.shape[0],) + X.shape)
        grouping = "spatial"
    elif hp is not None:
        groups = groups_from_labels(hp.labels, n_sources=settings.n_sources)
        masks = fused_masks(result.templates, result.activations, hp, percussive,
                            power=settings.mask_power)
        applied = np.broadcast_to(masks[:, None], (masks.shape[0],) + X.shape)
        grouping = "harmonic-percussive"
    else:
        groups, gains, grouping = fallback_groups(result, settings, statistics,
                                                  magnitudes=magnitudes, frames=frames,
                                                  sample_rate=sample_rate)
        models = component_models(result.templates, result.activations, groups)
        masks, applied = source_masks(models, mask_power=settings.mask_power,
                                      n_channels=X.shape[0], gains=gains)
    del magnitudes
    return Separation(
        source_names=settings.source_names,
        source_stfts=_apply(applied, X),
        applied_masks=applied,
        masks=masks,
        groups=groups,
        nmf=result,
        spectrogram=V,
        channel_gains=gains,
        stft=settings.stft,
        mask_power=float(settings.mask_power),
        spectrogram_power=float(settings.spectrogram_power),
        analysis_rate=sample_rate,
        grouping=grouping,
    )


def _drum_kit_separation(X: np.ndarray, V: np.ndarray, result: NMFDResult,
                         settings: SeparationSettings, *, sample_rate: int) -> Separation:
    """A drum kit: one NMFD component per source (:mod:`nmfaudio.drums`)."""
    masks = drum_kit_masks(result.templates, lambda a, b: result.activations[:, a:b],
                           0, V.shape[1], power=settings.mask_power)
    applied = np.broadcast_to(masks[:, None], (masks.shape[0],) + X.shape)
    return Separation(
        source_names=settings.source_names, source_stfts=_apply(applied, X),
        applied_masks=applied, masks=masks,
        groups=drum_kit_groups(settings.n_sources), nmf=result,
        spectrogram=V, channel_gains=None, stft=settings.stft,
        mask_power=float(settings.mask_power), spectrogram_power=float(settings.spectrogram_power),
        analysis_rate=sample_rate, grouping="drum-kit")


def fitted_drum_kit(V: np.ndarray, result: NMFResult, settings: SeparationSettings, *,
                    sample_rate: int, **nmf_args) -> Optional[NMFDResult]:
    """The drum kit of a mostly percussive V (:func:`nmfaudio.drums.fit_drum_kit` with
    the separation's divergence and sparsity) where it explains as well as the blind
    NMF ``result`` of the same V (:func:`nmfaudio.drums.explains_as_well`), else None."""
    kit = fit_drum_kit(V, settings.n_sources, sample_rate=sample_rate,
                       n_fft=settings.stft.n_fft, hop_length=settings.stft.hop_length,
                       beta=settings.beta, l1_activations=settings.l1_activations, **nmf_args)
    return kit if explains_as_well(kit, result, rank_one_divergence(V, result.beta)) else None


def drum_kit_groups(n_sources: int) -> tuple:
    """The groups of a drum kit: component s is source s."""
    return groups_from_labels(np.arange(n_sources), n_sources=n_sources)


def _groups_one_channel(settings: SeparationSettings, n_channels: int, spatial: bool) -> bool:
    """Blind, one channel, or several with shared masks or with spatial masks asked for
    but no distinct directions (``spatial`` False, see :func:`spatial_model`): where the
    ``grouping`` setting chooses how components become sources."""
    return (not settings.supervised and settings.n_sources > 1 and not spatial
            and (n_channels == 1 or settings.channel_masks in ("shared", "spatial")))


def uses_harmonic(settings: SeparationSettings, n_channels: int, *, spatial: bool) -> bool:
    """True when the grouping tries the harmonic/percussive model first
    (:mod:`nmfaudio.harmonic`; it may still find the mixture of one kind and decline):
    ``grouping="auto"`` where :func:`_groups_one_channel`."""
    return settings.grouping == "auto" and _groups_one_channel(settings, n_channels, spatial)


def uses_register(settings: SeparationSettings, n_channels: int, *, spatial: bool) -> bool:
    """True where ``grouping="register"`` asks for the register split alone (where "auto"
    would try the harmonic/percussive model)."""
    return settings.grouping == "register" and _groups_one_channel(settings, n_channels, spatial)


def spatial_model(settings: SeparationSettings, magnitudes: np.ndarray):
    """The source directions when the masks come from :func:`spatial_grouping`, else None.

    None for one channel, with dictionaries, with other ``channel_masks``, and when the
    fitted directions are not distinct (:func:`nmfaudio.spatial.distinct_directions`:
    the channels carry no direction, e.g. a mono recording copied to two channels); the
    separation is then grouped as a single channel's, with one mask for every channel.

    Parameters
    ----------
    settings : SeparationSettings
    magnitudes : np.ndarray, shape=(C, F, T')
        ``|X|`` at the frames the directions are fitted on (:func:`stat_frames`).
    """
    if not uses_spatial(settings, magnitudes.shape[0]):
        return None
    model = fit_directions(magnitudes, int(settings.n_sources))
    return model if distinct_directions(model) else None


def uses_spatial(settings: SeparationSettings, n_channels: int) -> bool:
    """True when the masks come from :func:`spatial_grouping` (blind, multichannel)."""
    return not settings.supervised and n_channels > 1 and settings.channel_masks == "spatial"


def spatial_grouping(X: np.ndarray, V: np.ndarray, result: NMFResult, n_sources: int, *,
                     mask_power: float, fit_magnitudes: Optional[np.ndarray] = None,
                     model=None) -> tuple:
    """Unsupervised multichannel: masks from each bin's direction and the NMF prior.

    See :mod:`nmfaudio.spatial`: every bin is weighed by how well its channel
    magnitudes point at each source's direction, times the Wiener-like share of that
    source's soft NMF model. Sources are ordered by the spectral centroid of their
    masked spectrograms, as the single-channel grouping orders them.

    Parameters
    ----------
    X : np.ndarray, shape=(C, F, T), complex, C >= 2
    V : np.ndarray, shape=(F, T)
        The spectrogram that was factorized.
    result : NMFResult
    n_sources : int
    mask_power : float
    fit_magnitudes : np.ndarray, shape=(C, F, T'), optional
        ``|X|`` at the frames the source directions are fitted on (:func:`stat_frames`,
        as the chunked pipeline does); default every frame.
    model : SpatialModel, optional
        The directions, already fitted (:func:`spatial_model`); then ``fit_magnitudes``
        is not used.

    Returns
    -------
    groups : tuple of S np.ndarray
        The components whose largest share lies in each source (the masks themselves
        use every component's soft shares).
    masks : np.ndarray, shape=(S, F, T), float32
        Sum to 1 over sources in every bin.
    """
    magnitudes = np.abs(X)
    if model is None:
        model = fit_directions(magnitudes if fit_magnitudes is None else fit_magnitudes,
                               int(n_sources))
    masks, shares, _ = spatial_masks(magnitudes, result.templates, result.activations, V,
                                     int(n_sources), power=mask_power, model=model)
    spectra = np.einsum("sft,ft->sf", masks, V, optimize=True)
    bins = np.arange(V.shape[0])
    centroids = (spectra @ bins) / np.maximum(spectra.sum(axis=1), np.finfo(np.float64).tiny)
    order = np.argsort(centroids, kind="stable")
    masks, shares = masks[order], shares[order]
    groups = groups_from_labels(np.argmax(shares, axis=0), n_sources=int(n_sources))
    return groups, np.ascontiguousarray(masks)


# --------------------------------------------------------------------------- signals


def _load_mixture(mixture, sample_rate) -> "audio_io.Audio":
    if isinstance(mixture, np.ndarray):
        if sample_rate is None:
            raise ParameterError("a numpy array mixture needs sample_rate= (in Hz)")
        mixture = audio_io.Audio(mixture, sample_rate)
    elif sample_rate is not None:
        raise ParameterError(
            "sample_rate= is for a numpy array mixture; an Audio or a file has its own rate "
            "(to resample one, use nmfaudio.audio.resample or load(path, sample_rate=...))"
        )
    if isinstance(mixture, (str, os.PathLike)):
        # separate() has no allow_silent: silence is refused below in its own words
        mixture = audio_io.load(mixture, allow_silent=True)
    if isinstance(mixture, audio_io.Audio):
        if not np.any(mixture.samples):
            raise AudioFileError(f"{_label(mixture)} is silent (all samples are 0): nothing to separate")
        check_sample_level(float(np.abs(mixture.samples).max()), label=_label(mixture))
        return mixture
    raise ParameterError(
        f"mixture must be an Audio, a file path or a numpy array, got {type(mixture).__name__}")


def _label(audio: "audio_io.Audio") -> str:
    return f"'{audio.path}'" if audio.path else "the mixture"


def separate(
    mixture: Union["audio_io.Audio", str, os.PathLike, np.ndarray],
    *,
    sample_rate: Optional[int] = None,
    dictionaries: Optional[Sequence[Dictionary]] = None,
    n_free: int = 0,
    n_sources: Optional[int] = None,
    n_components: Optional[int] = None,
    source_names: Optional[Sequence[str]] = None,
    beta: Union[None, float, str] = None,
    mask_power: float = DEFAULT_MASK_POWER,
    spectrogram_power: Optional[float] = None,
    l1_activations: Optional[float] = None,
    n_iter: int = DEFAULT_N_ITER,
    tol: Optional[float] = None,
    seed: Union[None, int, np.random.Generator] = DEFAULT_SEED,
    stft_config: Optional[STFTConfig] = None,
    on_rate_mismatch: str = RATE_POLICIES[0],
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
    init: str = DEFAULT_INIT,
    channel_masks: Optional[str] = None,
    grouping: str = GROUPINGS[0],
    dtype=np.float32,
    callback: Optional[Callable[[int, float], None]] = None,
    n_threads: Optional[int] = None,
) -> Separation:
    """Separate a mixture into sources by NMF and soft masks.

    Reads the mixture, takes its STFT, separates it with :func:`separate_stft` and
    inverts the source STFTs.

    Parameters
    ----------
    mixture : Audio, path or np.ndarray
        The recording, any number of channels. A numpy array (shape (C, N), or (N,) for
        one channel; real floating) needs ``sample_rate``.
    sample_rate : int > 0, optional
        The rate (Hz) of a numpy array ``mixture`` (only then).
    dictionaries : sequence of Dictionary, optional
        Supervised mode: one dictionary per source (``n_free`` adds a learned source
        ``"other"``).
    n_sources : int, optional
        Unsupervised mode: the number of sources S (with ``n_components`` and
        ``source_names``).
    n_free, n_components, source_names, beta, mask_power, spectrogram_power,
    l1_activations, on_rate_mismatch, temporal_weight, init, channel_masks, grouping
        The separation's options; what each does and its default are documented once,
        in :class:`SeparationSettings`.
    stft_config : STFTConfig, optional
        Default: the dictionaries' STFT, or without them frames of about 80 ms at the
        mixture's rate (:func:`blind_stft`: 1536 / 384 at 22.05 kHz).
    n_iter, tol, seed, dtype, callback, n_threads
        Passed to :func:`nmfaudio.factorization.nmf` (``tol`` None: :func:`default_tol`).

    Returns
    -------
    Separation
        Sources (S, C, N) at the mixture's sample rate, with the source STFTs, masks,
        groups and the NMF.

    Raises
    ------
    AudioFileError
        The mixture is missing, not audio, empty, silent, NaN, or beyond :data:`LEVEL_RANGE`.
    DictionaryMismatchError
        Dictionaries do not fit each other, the STFT, or (with ``on_rate_mismatch="error"``)
        the mixture's sample rate.
    ParameterError
        A setting is out of range, or the mode is unclear (both or neither of
        ``dictionaries`` and ``n_sources``); an array mixture without ``sample_rate``.

    Examples
    --------
    >>> import numpy as np, nmfaudio
    >>> x = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    >>> sep = nmfaudio.separate(x, sample_rate=22050, n_sources=2, n_iter=20)
    >>> sep.sources.shape
    (2, 1, 22050)
    """
    settings = separation_settings(
        dictionaries=dictionaries, n_free=n_free, n_sources=n_sources,
        n_components=n_components, source_names=source_names, beta=beta,
        mask_power=mask_power, spectrogram_power=spectrogram_power,
        l1_activations=l1_activations, stft=stft_config, on_rate_mismatch=on_rate_mismatch,
        temporal_weight=temporal_weight, init=init, channel_masks=channel_masks,
        grouping=grouping)
    original = _load_mixture(mixture, sample_rate)
    settings, mix = _prepare(original, settings, default_stft=stft_config is None,
                             n_threads=n_threads)
    config = settings.stft
    X = stft_transform(mix.samples, config)  # (C, F, T)
    separation = _separate_checked(X, settings, sample_rate=mix.sample_rate, label=_label(original),
                                   tol=default_tol(settings) if tol is None else tol, seed=seed,
                                   n_iter=n_iter, dtype=dtype, callback=callback, n_threads=n_threads)
    sources = istft(separation.source_stfts, config, length=mix.n_samples).astype(np.float32)
    residual = None
    if mix is not original:
        sources, residual = _back_to_mixture_rate(sources, mix, original)
    return replace(separation, sources=sources, mixture=original, analysis=mix,
                   residual=residual)


def check_separation_memory(settings: SeparationSettings, n_samples: int, n_channels: int, *,
                            what: str, n_threads: Optional[int] = None,
                            original_samples: Optional[int] = None,
                            components_out: bool = False, advice: Optional[dict] = None,
                            available: Optional[int] = None) -> None:
    """Refuse, before any work, a separation that cannot fit in the memory available.

    Parameters
    ----------
    settings : SeparationSettings
    n_samples, n_channels : int
        The mixture's size at the rate the separation runs at.
    what : str
        The run, for the message.
    original_samples : int, optional
        The mixture's length at its own rate, when it is resampled.
    advice : dict, optional
        What to change, by part of the estimate (see :mod:`nmfaudio._budget`); default
        names this function's keyword arguments.
    available : int, optional
        Bytes the run may use (default: what this process can still use).

    Raises
    ------
    InsufficientMemoryError
    """
    from ._budget import check_memory, separation_estimate
    from .factorization import parse_beta, usable_cores

    estimate = separation_estimate(
        n_samples, n_channels, n_fft=settings.stft.n_fft, hop_length=settings.stft.hop_length,
        n_components=settings.n_components, n_sources=settings.n_sources,
        n_free=settings.n_free if settings.supervised else None,
        supervised=settings.supervised, beta=parse_beta(settings.beta),
        n_threads=n_threads or usable_cores(), resampled_samples=original_samples,
        components_out=components_out)
    if advice is None:
        component_advice = ("use smaller dictionaries or fewer n_free components"
                            if settings.supervised else "use fewer n_components")
        advice = {"audio": "separate a shorter excerpt of the recording",
                  "spectrogram": (f"the STFT has {estimate.frames} frames of "
                                  f"{settings.stft.n_fft // 2 + 1} bins: use a larger "
                                  "hop_length (stft_config), or a shorter excerpt"),
                  "nmf": component_advice, "grouping": component_advice}
    check_memory(estimate, what=what, advice=advice, available=available)


def _prepare(original: "audio_io.Audio", settings: SeparationSettings, *, default_stft: bool,
             n_threads: Optional[int]) -> tuple:
    """:func:`separate`'s settings for this mixture, and the mixture at the rate the
    separation runs at; refuses one shorter than a frame or too large for the memory."""
    if not settings.supervised and default_stft:
        # frames of about 80 ms whatever the rate (a fixed 2048 is 256 ms at 8 kHz)
        settings = replace(settings, stft=blind_stft(original.sample_rate, original.n_samples))
    mix = _analysis_mixture(original, settings)
    check_separation_memory(settings, mix.n_samples, mix.n_channels, what=f"separating {_label(mix)}",
                            n_threads=n_threads, original_samples=(
                                None if mix is original else original.n_samples))
    return settings, mix


def _analysis_mixture(mix: "audio_io.Audio", settings: SeparationSettings) -> "audio_io.Audio":
    """The mixture at the rate the separation runs at, at least one STFT frame long."""
    if settings.supervised and mix.sample_rate != settings.sample_rate:
        if settings.on_rate_mismatch == "error":
            raise DictionaryMismatchError(
                f"{_label(mix)} is at {mix.sample_rate} Hz but the dictionaries are at "
                f"{settings.sample_rate} Hz; resample one of them (on_rate_mismatch='resample')"
            )
        mix = audio_io.resample(mix, settings.sample_rate)
    if mix.n_samples < settings.stft.n_fft:
        raise AudioFileError(too_short(_label(mix), mix.n_samples, settings.stft.n_fft))
    return mix


def too_short(label: str, n_samples: int, n_fft: int) -> str:
    """What to say of a recording shorter than one frame: under
    :data:`~nmfaudio.spectral.MIN_DEFAULT_N_FFT` samples no frame fits (the blind default
    shrinks down to it), so a smaller n_fft is no advice there."""
    advice = ("use a longer recording or a smaller n_fft" if n_samples >= MIN_DEFAULT_N_FFT else
              f"no STFT frame is shorter than {MIN_DEFAULT_N_FFT} samples; use a longer recording")
    return (f"{label} is {n_samples} samples long, shorter than one STFT frame "
            f"(n_fft={n_fft}); {advice}")


def _back_to_mixture_rate(sources: np.ndarray, mix: "audio_io.Audio",
                          original: "audio_io.Audio") -> tuple:
    """Sources at the mixture's own rate and length, and the residual they do not carry."""
    # Resampling is linear, so the sources add up to the mixture except for what the
    # dictionaries' rate cannot carry (content above their Nyquist frequency when the
    # mixture was downsampled): that part is kept as the residual, never silently dropped.
    sources = np.stack([_resample_exact(s, mix.sample_rate, original) for s in sources])
    residual = original.samples - sources.sum(axis=0)
    share = float(np.sum(residual.astype(np.float64) ** 2)
                  / max(np.sum(original.samples.astype(np.float64) ** 2), 1e-300))
    if mix.sample_rate < original.sample_rate and share > 1e-4:
        warnings.warn(
            f"{_label(original)} is at {original.sample_rate} Hz and the dictionaries at "
            f"{mix.sample_rate} Hz: {100 * share:.2g}% of its energy lies above "
            f"{mix.sample_rate // 2} Hz, where no dictionary can model it; it is in "
            "Separation.residual, not in the sources",
            stacklevel=3,
        )
    return sources, residual
