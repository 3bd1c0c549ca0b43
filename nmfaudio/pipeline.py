"""The separation pipeline: a mixture in, one signal per source out.

The one place that knows the whole flow (see DESIGN.md)::

    audio (C, N) --stft--> X (C, F, T) --mean_c |X|^p--> V (F, T) --nmf--> W (F, K), H (K, T)
      --groups--> masks (S, F, T), sum_s M_s = 1 --M_s * X, istft--> sources (S, C, N)

Because the masks sum to one in every bin and the inverse STFT is linear, the sources
add up to the mixture (to float rounding). One mask per source, computed from the
channel-averaged spectrogram, is applied to every channel, so stereo in gives stereo out
with the panning of each source kept.

Two modes:

- supervised: ``dictionaries=[piano, drums, ...]`` fixes each source's templates (learned
  by :func:`nmfaudio.dictionary.learn_dictionary`) and solves for the activations only;
  ``n_free > 0`` adds that many learned components as one more source, ``"other"``
  (semi-supervised NMF);
- unsupervised: ``n_sources=S, n_components=K`` factorizes with K components and groups
  them into S sources with :func:`nmfaudio.grouping.cluster_components`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import audio as audio_io
from .dictionary import Dictionary, _describe, check_compatible
from .errors import AudioFileError, DictionaryMismatchError, ParameterError
from .grouping import check_weight, cluster_components, component_balance
from .masks import _check_power, apply_masks, component_models, groups_from_labels, masks_from_models
from .factorization import NMFResult, nmf
from .spectral import STFTConfig, istft, spectrogram, stft

__all__ = ["separate", "Separation", "RATE_POLICIES"]

#: Sparsity used with dictionaries unless told otherwise; chosen on the tasks of
#: ../shared/audio (benchmarks/bench_quality.py), where it gained 1 to 2 dB median SDR.
DEFAULT_L1_SUPERVISED = 0.3

#: How multichannel masks are made (see :func:`separate`).
CHANNEL_MASKS = ("gains", "shared")

#: What to do when a dictionary's sample rate differs from the mixture's.
RATE_POLICIES = ("resample", "error")


@dataclass(frozen=True, eq=False)
class Separation:
    """The outcome of :func:`separate`.

    Attributes
    ----------
    sources : np.ndarray, shape=(S, C, N), float32
        One signal per source, with the mixture's channels and length; they add up to
        the mixture.
    source_names : tuple of str, length S
        Names of the sources (dictionary names, ``"other"`` for free components, or
        ``"source1"``... in unsupervised mode, ordered from low to high spectral centroid).
    masks : np.ndarray, shape=(S, F, T)
        The soft masks of the channel-averaged model, summing to 1 over sources in
        every bin (with ``channel_gains``, each channel's masks are these reweighted).
    groups : tuple of np.ndarray
        The component indices (into the columns of W) of each source.
    nmf : NMFResult
        The factorization (templates (F, K), activations (K, T), loss history).
    spectrogram : np.ndarray, shape=(F, T)
        The mixture's spectrogram V that was factorized.
    mixture : Audio
        The mixture as given.
    analysis : Audio
        The mixture at the rate the separation ran at (the dictionaries' rate); the same
        object as ``mixture`` unless it had to be resampled.
    channel_gains : np.ndarray, shape=(S, C), or None
        Each source's fitted gain in each channel (multichannel input with
        ``channel_masks="gains"``), else None.
    stft : STFTConfig
        The STFT used.
    mask_power : float
        The exponent of the soft masks.
    spectrogram_power : float
        The power of the spectrogram that was factorized (1 = magnitude).
    residual : np.ndarray, shape=(C, N), or None
        When the mixture was resampled to the dictionaries' rate: what the sources do
        not carry (``mixture - sum(sources)``; above the dictionaries' Nyquist frequency
        when they are at a lower rate). ``sources.sum(0) + residual == mixture``. None
        when no resampling was needed (then the sources alone add up to the mixture).
    """

    sources: np.ndarray
    source_names: tuple
    masks: np.ndarray
    groups: tuple
    nmf: NMFResult
    spectrogram: np.ndarray
    mixture: "audio_io.Audio"
    analysis: "audio_io.Audio"
    channel_gains: Optional[np.ndarray]
    stft: STFTConfig
    mask_power: float
    spectrogram_power: float = 1.0
    residual: Optional[np.ndarray] = None

    @property
    def sample_rate(self) -> int:
        """Sample rate of the sources (Hz)."""
        return self.mixture.sample_rate

    @property
    def n_sources(self) -> int:
        """S."""
        return len(self.source_names)

    def source(self, name: str) -> np.ndarray:
        """The signal of the source called ``name``, shape=(C, N)."""
        try:
            return self.sources[self.source_names.index(name)]
        except ValueError:
            raise ParameterError(f"no source named {name!r}; sources are {list(self.source_names)}") from None

    def component_signals(self) -> np.ndarray:
        """One signal per NMF component, shape=(K, C, N), adding up to the mixture.

        Each component k gets the soft mask ``(w_k h_k)^p / sum_j (w_j h_j)^p``; computed
        one component at a time, so memory stays at one complex STFT and a few (F, T)
        arrays whatever K (the output itself is K * C * N floats).
        """
        W, H = self.nmf.templates, self.nmf.activations
        K, p = W.shape[1], self.mask_power
        X = stft(self.analysis.samples, self.stft)
        # Two passes over the components, so that memory stays at a few (F, T) arrays
        # however many components there are: first the per-bin largest model and the
        # sum of (model / largest)^p, then one mask and one inverse STFT at a time.
        # Dividing by the largest model first keeps every ratio <= 1 (no overflow for
        # any p), as masks_from_models does.
        peak = np.zeros(X.shape[-2:], dtype=np.float32)
        for k in range(K):
            np.maximum(peak, np.outer(W[:, k], H[k]), out=peak)
        safe_peak = np.where(peak > 0, peak, 1.0).astype(np.float32)
        total = np.zeros_like(peak)
        for k in range(K):
            total += (np.outer(W[:, k], H[k]) / safe_peak) ** p
        silent = total <= 0  # every model is zero here: share the bin equally
        total[silent] = 1.0
        out = np.empty((K,) + self.mixture.samples.shape, dtype=np.float32)
        for k in range(K):
            mask = (np.outer(W[:, k], H[k]) / safe_peak) ** p / total
            mask[silent] = 1.0 / K
            signal = istft(mask * X, self.stft, length=self.analysis.n_samples)
            if self.analysis is not self.mixture:
                signal = _resample_exact(signal, self.analysis.sample_rate, self.mixture)
            out[k] = signal
        return out


def _resample_exact(samples: np.ndarray, rate: int, like: "audio_io.Audio") -> np.ndarray:
    """Resample (C, N') samples at ``rate`` to ``like``'s rate and exact length."""
    back = audio_io.resample(audio_io.Audio(samples, rate), like.sample_rate).samples
    out = np.zeros(like.samples.shape, dtype=np.float32)
    n = min(back.shape[-1], out.shape[-1])
    out[:, :n] = back[:, :n]
    return out


def channel_gains(X: np.ndarray, models: np.ndarray, *, spectrogram_power: float = 1.0,
                  n_iter: int = 50) -> np.ndarray:
    """Each source's gain in each channel, shape=(S, C).

    Fits ``|X_c|^q ~ sum_s g[s, c] models[s]`` under the KL divergence by multiplicative
    updates of g alone (the source models are fixed), starting from g = 1.

    Parameters
    ----------
    X : np.ndarray, shape=(C, F, T), complex
        The mixture's STFT.
    models : np.ndarray, shape=(S, F, T)
        Nonnegative model spectrogram of each source (channel-averaged).
    spectrogram_power : float
        q, the power the models were made for.
    """
    S, C = models.shape[0], X.shape[0]
    totals = models.sum(axis=(1, 2), dtype=np.float64)
    gains = np.ones((S, C))
    floor = np.finfo(np.float32).eps * max(float(models.mean()), np.finfo(np.float32).tiny)
    for c in range(C):
        target = np.abs(X[c]) ** spectrogram_power
        for _ in range(n_iter):
            fit = np.tensordot(gains[:, c].astype(models.dtype), models, axes=1)
            np.maximum(fit, floor, out=fit)  # silent bins: 0 / floor, not 0 / 0
            ratio = target / fit
            numer = np.tensordot(models, ratio, axes=([1, 2], [0, 1]))
            gains[:, c] *= numer / np.maximum(totals, np.finfo(np.float64).tiny)
    return gains


def _load_mixture(mixture) -> "audio_io.Audio":
    if isinstance(mixture, audio_io.Audio):
        if not np.any(mixture.samples):
            raise AudioFileError(f"{_label(mixture)} is silent (all samples are 0): nothing to separate")
        return mixture
    if isinstance(mixture, (str, os.PathLike)):
        return audio_io.load(mixture)
    raise ParameterError(f"mixture must be an Audio or a file path, got {type(mixture).__name__}")


def _label(audio: "audio_io.Audio") -> str:
    return f"'{audio.path}'" if audio.path else "the mixture"


def separate(
    mixture: Union["audio_io.Audio", str, os.PathLike],
    *,
    dictionaries: Optional[Sequence[Dictionary]] = None,
    n_free: int = 0,
    n_sources: Optional[int] = None,
    n_components: Optional[int] = None,
    source_names: Optional[Sequence[str]] = None,
    beta: Union[None, float, str] = None,
    mask_power: float = 2.0,
    spectrogram_power: Optional[float] = None,
    l1_activations: Optional[float] = None,
    n_iter: int = 300,
    tol: float = 1e-5,
    seed: Union[None, int, np.random.Generator] = 0,
    stft_config: Optional[STFTConfig] = None,
    on_rate_mismatch: str = "resample",
    temporal_weight: float = 0.3,
    init: str = "nndsvda",
    channel_masks: str = "gains",
    dtype=np.float32,
    callback: Optional[Callable[[int, float], None]] = None,
    n_threads: Optional[int] = None,
) -> Separation:
    """Separate a mixture into sources by NMF and soft masks.

    Parameters
    ----------
    mixture : Audio or path
        The recording, any number of channels.
    dictionaries : sequence of Dictionary, optional
        Supervised mode: one dictionary per source, all learned with the same sample
        rate, STFT and spectrogram power.
    n_free : int >= 0
        Supervised mode: extra components learned from the mixture, output as a source
        named ``"other"``.
    n_sources : int, optional
        Unsupervised mode: the number of sources S.
    n_components : int, optional
        Unsupervised mode: the number of NMF components K (default ``max(16, 4 * S + 4)``).
    source_names : sequence of str, optional
        Unsupervised mode: names for the sources (default ``source1``, ``source2``...).
    beta : float or str, optional
        Divergence of the NMF: "kl", "is", "euclidean" or a number. Default: the beta
        the dictionaries were learned with, or "kl" without dictionaries.
    mask_power : float > 0
        Exponent p of the soft masks ``(W_s H_s)^p / sum_j (W_j H_j)^p`` (2 = Wiener-like).
    spectrogram_power : float > 0, optional
        V = mean over channels of ``|X|**spectrogram_power`` (1 = magnitude). Default:
        the dictionaries' power, or 1 without dictionaries.
    l1_activations : float >= 0, optional
        Sparsity of the activations (see :func:`nmfaudio.factorization.nmf`). Default: 0.3 with
        dictionaries (sparse codes over a fixed dictionary separate better), 0 without.
        For KL the value does not depend on the level of the recording.
    n_iter, tol, seed, dtype, callback, n_threads
        Passed to :func:`nmfaudio.factorization.nmf`.
    stft_config : STFTConfig, optional
        Default: the dictionaries' STFT, or ``STFTConfig()`` (2048 / 512, Hann).
    on_rate_mismatch : {"resample", "error"}
        Supervised mode, when the mixture's rate differs from the dictionaries': resample
        the mixture to their rate (the sources come out at the mixture's rate again), or
        raise :class:`DictionaryMismatchError`.
    temporal_weight : float in [0, 1]
        Unsupervised mode: weight of activation correlation in the grouping.
    channel_masks : {"gains", "shared"}
        Multichannel input: "shared" applies each source's one mask to every channel;
        "gains" (default) first fits each source's gain in each channel,
        ``|X_c|^q ~ sum_s g[s, c] (W_s H_s)`` (KL, multiplicative updates, W and H
        fixed; q = spectrogram_power), and weights the masks per channel,
        ``M[s, c] = g[s, c] m_s^p / sum_j g[j, c] m_j^p``. Panned sources then leak less
        into each other's side (measured on A_stereo_panned: every stem's channel
        balance within 1 dB of the reference, median SDR +0.4 dB over "shared").
    init : {"nndsvda", "random"}
        Unsupervised mode: initialization of the NMF (see :func:`nmfaudio.factorization.nmf`).
        NNDSVDa (default) gave the same grouping for every seed in our measurements;
        random starts varied by several dB.

    Returns
    -------
    Separation
        Sources (S, C, N) at the mixture's sample rate, with masks, groups and the NMF.

    Raises
    ------
    AudioFileError
        The mixture file is missing, not audio, empty, silent or has NaN samples.
    DictionaryMismatchError
        Dictionaries do not fit each other, the STFT, or (with ``on_rate_mismatch="error"``)
        the mixture's sample rate.
    ParameterError
        A setting is out of range, or the mode is unclear (both or neither of
        ``dictionaries`` and ``n_sources``).
    """
    # settings that are only used after the NMF are checked before it
    _check_power(mask_power, "mask_power")
    check_weight(temporal_weight, "temporal_weight")
    if channel_masks not in CHANNEL_MASKS:
        raise ParameterError(f"channel_masks must be one of {CHANNEL_MASKS}, got {channel_masks!r}")
    if on_rate_mismatch not in RATE_POLICIES:
        raise ParameterError(f"on_rate_mismatch must be one of {RATE_POLICIES}, got {on_rate_mismatch!r}")
    if not isinstance(n_free, (int, np.integer)) or isinstance(n_free, bool) or n_free < 0:
        raise ParameterError(f"n_free must be a nonnegative integer, got {n_free!r}")
    supervised = dictionaries is not None
    if supervised == (n_sources is not None):
        raise ParameterError(
            "give either dictionaries (supervised) or n_sources (unsupervised), not both or neither"
        )
    mix = original = _load_mixture(mixture)

    if supervised:
        if n_components is not None or source_names is not None:
            raise ParameterError(
                "n_components and source_names are for unsupervised separation; with "
                "dictionaries the sources are named after them (n_free adds 'other')"
            )
        dictionaries = list(dictionaries)
        check_compatible(dictionaries)
        first = dictionaries[0]
        if beta is None:
            beta = first.beta
        if spectrogram_power is None:
            spectrogram_power = first.spectrogram_power
        config = stft_config if stft_config is not None else first.stft
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
        if mix.sample_rate != first.sample_rate:
            if on_rate_mismatch == "error":
                raise DictionaryMismatchError(
                    f"{_label(mix)} is at {mix.sample_rate} Hz but the dictionaries are at "
                    f"{first.sample_rate} Hz; resample one of them (on_rate_mismatch='resample')"
                )
            mix = audio_io.resample(mix, first.sample_rate)
        names = [d.name for d in dictionaries]
        W0 = np.concatenate([d.templates for d in dictionaries], axis=1)
        labels = np.concatenate([np.full(d.n_components, i) for i, d in enumerate(dictionaries)])
        if n_free:
            if "other" in names:
                raise ParameterError("a dictionary is named 'other', the name of the free components; rename it")
            names.append("other")
            labels = np.concatenate([labels, np.full(n_free, len(dictionaries))])
    else:
        beta = "kl" if beta is None else beta
        spectrogram_power = 1.0 if spectrogram_power is None else spectrogram_power
        config = stft_config if stft_config is not None else STFTConfig()
        if not isinstance(n_sources, (int, np.integer)) or isinstance(n_sources, bool) or n_sources < 1:
            raise ParameterError(f"n_sources must be a positive integer, got {n_sources!r}")
        if n_components is None:
            n_components = max(16, 4 * int(n_sources) + 4)
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

    if not isinstance(config, STFTConfig):
        raise ParameterError(f"stft_config must be an STFTConfig, got {type(config).__name__}")
    if mix.n_samples < config.n_fft:
        raise AudioFileError(
            f"{_label(mix)} is {mix.n_samples} samples long, shorter than one STFT frame "
            f"(n_fft={config.n_fft}); use a longer recording or a smaller n_fft"
        )

    if l1_activations is None:
        l1_activations = DEFAULT_L1_SUPERVISED if supervised else 0.0
    X = stft(mix.samples, config)  # (C, F, T), kept: the masks are applied to it
    V = spectrogram(X, power=spectrogram_power)
    if supervised:
        result = nmf(V, W0.shape[1] + n_free, beta=beta, templates=W0, fixed_templates=True,
                     n_iter=n_iter, tol=tol, l1_activations=l1_activations, seed=seed,
                     dtype=dtype, callback=callback, n_threads=n_threads)
    else:
        if init == "nndsvda" and n_components > min(V.shape):
            init = "random"  # NNDSVDa needs K <= min(F, T): a very short file or small n_fft
        result = nmf(V, int(n_components), beta=beta, n_iter=n_iter, tol=tol, init=init,
                     l1_activations=l1_activations, seed=seed, dtype=dtype, callback=callback,
                     n_threads=n_threads)
        balance = (component_balance(np.abs(X), result.templates, result.activations)
                   if X.shape[0] > 1 else None)
        labels = cluster_components(result.templates, result.activations, int(n_sources),
                                    sample_rate=mix.sample_rate, n_fft=config.n_fft,
                                    temporal_weight=temporal_weight, balance=balance)
    groups = groups_from_labels(labels, n_sources=len(names))
    W, H = result.templates, result.activations
    models = component_models(W, H, groups)
    masks = masks_from_models(models, power=mask_power)
    gains = None
    if X.shape[0] > 1 and channel_masks == "gains":
        gains = channel_gains(X, models, spectrogram_power=spectrogram_power)
        sources = np.empty((len(groups),) + mix.samples.shape, dtype=np.float32)
        for c in range(X.shape[0]):
            # M[s, c] = g[s, c] m_s^p / sum_j g[j, c] m_j^p: still sums to 1 in every bin
            weighted = models * (gains[:, c] ** (1.0 / mask_power))[:, None, None]
            channel_masks_c = masks_from_models(weighted, power=mask_power)
            sources[:, c] = istft(channel_masks_c * X[c], config, length=mix.n_samples)
    else:
        Y = apply_masks(masks, X)  # (S, C, F, T): the same mask on every channel
        sources = istft(Y, config, length=mix.n_samples).astype(np.float32)
        del Y

    residual = None
    if mix.sample_rate != original.sample_rate:
        # Back to the mixture's own rate and length. Resampling is linear, so the sources
        # add up to the mixture except for what the dictionaries' rate cannot carry
        # (content above their Nyquist frequency when the mixture was downsampled): that
        # part is kept as the residual, never silently dropped.
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
                stacklevel=2,
            )
    return Separation(
        sources=sources,
        source_names=tuple(names),
        masks=masks,
        groups=groups,
        nmf=result,
        spectrogram=V,
        channel_gains=gains,
        residual=residual,
        mixture=original,
        analysis=mix,
        stft=config,
        mask_power=float(mask_power),
        spectrogram_power=float(spectrogram_power),
    )
