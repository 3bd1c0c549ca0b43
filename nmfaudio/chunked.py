"""The separation pipeline of :mod:`nmfaudio.pipeline`, run chunk by chunk.

For recordings of any length, in memory that does not hold the recording, its STFT or
any per-source array of it::

    pass 1  chunks of audio --stft--> V (F, T) float32          (|X| at a few frames, stereo)
    fit     unsupervised: the NMF of the whole V (column-blocked); the blind grouping
            supervised, every template fixed: each fit_frames(F) block's activations as its
            V block is complete, spilled to a temporary file; V is never whole
    pass 2  chunks of audio --stft--> masks of the block --inverse stft, overlap-add-->
            each source's writer, as it goes

The steps are :mod:`nmfaudio.pipeline`'s own (settings, factorization, grouping, channel
gains, masks, applying them), called on blocks of frames: the results equal
:func:`nmfaudio.pipeline.separate`'s to float rounding, and do not depend on the chunk
size. Because the masks of every block sum to one and the overlap-add is that of the
whole inverse STFT, the sources add up to the mixture at every sample, seams included.

This module knows no files: audio comes from a :class:`nmfaudio.streaming.SampleSource`
and goes to objects with ``write(block)`` (:class:`nmfaudio.audio.AudioWriter` for
files, :class:`ArraySink` in memory).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

import numpy as np

from .audio import round_together
from .errors import AudioFileError, ParameterError
from .factorization import NMFResult
from .masks import component_models
from . import pipeline as _pipeline
from .masks import groups_from_labels
from .pipeline import (SeparationSettings, _apply, _factorize, drum_kit_groups, fallback_groups,
                       fit_activations, fitted_drum_kit, fixed_templates,
                       source_masks, spatial_model, stat_frames, uses_harmonic, uses_register)
from .convolutive import NMFDResult
from .drums import drum_kit_masks, may_be_drum_kit, percussive_energy
from .harmonic import (fused_masks, harmonic_percussive_grouping, percussive_mask_of_frames,
                       share_statistics)
from .spatial import (N_ROUNDS, normalize_shares, share_numerators,
                      spatial_likelihoods, spatial_posteriors)
from .spectral import STFTConfig, spectrogram
from .streaming import OverlapAdd, chunk_ranges, default_chunk_frames, n_frames, stft_frames

__all__ = ["StreamedSeparation", "separate_stream", "ArraySink"]


@dataclass(frozen=True)
class StreamedSeparation:
    """What :func:`separate_stream` did (the signals went to the sinks).

    Attributes
    ----------
    source_names : tuple of str
    groups : tuple of np.ndarray
        The component indices of each source.
    channel_gains : np.ndarray, shape=(S, C), or None
    n_components : int
    n_iter : int
        Iterations of the fit (the most any block ran, when fitted by blocks).
    converged : bool
    final_loss : float
    n_frames : int
        T.
    n_chunks : int
        Chunks of ``chunk_frames`` frames each pass read.
    fit : str
        ``"whole"`` (one NMF of all of V), ``"online"`` (templates learned online, then
        activations by blocks) or ``"blocks"`` (fixed templates, activations
        per :func:`nmfaudio.pipeline.fit_frames` frames).
    grouping : str
        How components became sources: ``"dictionaries"``, ``"spatial"``,
        ``"drum-kit"``, ``"harmonic-percussive"``, ``"register"`` or ``"timbre"`` (see
        :attr:`nmfaudio.pipeline.Separation.grouping`).
    stft : STFTConfig or None
        The STFT the separation ran with (the blind default follows the rate and a
        short recording's length).
    """

    source_names: tuple
    groups: tuple
    channel_gains: Optional[np.ndarray]
    n_components: int
    n_iter: int
    converged: bool
    final_loss: float
    n_frames: int
    n_chunks: int
    fit: str
    grouping: str = "timbre"
    stft: Optional[STFTConfig] = None


class ArraySink:
    """Collects written blocks in memory; ``samples`` is their concatenation (C, N)."""

    def __init__(self) -> None:
        self._blocks = []

    def write(self, block: np.ndarray) -> None:
        self._blocks.append(np.array(block, dtype=np.float32))

    @property
    def samples(self) -> np.ndarray:
        return np.concatenate(self._blocks, axis=-1)


class _SpilledActivations:
    """Activations (K, T) kept in a temporary file, frame-major, read back by frames.

    Keeps the supervised separation's memory flat: H grows with the recording (96
    components of an hour at 44.1 kHz are 120 MB), a chunk of it does not.
    """

    def __init__(self, n_components: int, dtype) -> None:
        self._file = tempfile.TemporaryFile()
        self.K, self.dtype = n_components, np.dtype(dtype)
        self.n_frames = 0

    def append(self, H: np.ndarray) -> None:
        self._file.seek(0, 2)
        self._file.write(np.ascontiguousarray(H.T, dtype=self.dtype).tobytes())
        self.n_frames += H.shape[1]

    def read(self, t0: int, t1: int) -> np.ndarray:
        size = self.dtype.itemsize * self.K
        self._file.seek(t0 * size)
        data = np.frombuffer(self._file.read((t1 - t0) * size), dtype=self.dtype)
        return data.reshape(t1 - t0, self.K).T

    def close(self) -> None:
        self._file.close()


def _level_checked_spectrogram(X: np.ndarray, settings: SeparationSettings, label: str) -> np.ndarray:
    """V of a chunk; samples that overflowed float32 in the STFT (the reader has checked
    them finite) are refused as too loud (:func:`nmfaudio.pipeline.check_level`)."""
    try:
        return spectrogram(X, power=settings.spectrogram_power)
    except ParameterError:
        if np.isfinite(X).all():
            raise
        _pipeline.check_level(np.inf, label=label)
        raise


class _FrameBlocks:
    """Chunks of frames regrouped into consecutive blocks of ``width`` frames (the last one
    shorter), in one reused buffer: ``add(V_chunk)`` calls ``on_block(start, V_block)``
    for every block it completes, ``start`` being the block's first frame."""

    def __init__(self, n_bins: int, n_frames: int, width: int, on_block) -> None:
        self.T, self.width, self.on_block = n_frames, width, on_block
        self.buffer = np.empty((n_bins, min(width, n_frames)), dtype=np.float32, order="F")
        self.start = self.filled = 0  # the current block's first frame, frames received

    def add(self, Vc: np.ndarray) -> None:
        done = 0
        while done < Vc.shape[1]:
            width = min(self.width, self.T - self.start)
            take = min(width - self.filled, Vc.shape[1] - done)
            self.buffer[:, self.filled:self.filled + take] = Vc[:, done:done + take]
            self.filled, done = self.filled + take, done + take
            if self.filled == width:
                self.on_block(self.start, self.buffer[:, :width])
                self.start, self.filled = self.start + width, 0


class _Pass1:
    """What the first pass keeps: V (or the block fits), and |X| at the stat frames."""

    def __init__(self, source, settings: SeparationSettings, T: int, dtype, fit_args: dict,
                 seed, templates: Optional[np.ndarray] = None) -> None:
        C, F = source.n_channels, settings.stft.n_bins
        self.settings, self.T, self.fit_args = settings, T, fit_args
        self.label = _label(source)
        self.frames = stat_frames(T, F)
        self.magnitudes = np.zeros((C, F, self.frames.size if C > 1 else 0), dtype=np.float32)
        # templates: learned online (fit="online"); then fitted by blocks as if supervised
        self.W_fixed = fixed_templates(settings) if templates is None else templates
        self.loudest = 0.0
        if self.W_fixed is None:
            self.V = np.empty((F, T), dtype=np.float32, order="F")  # as spectrogram() returns
        else:
            self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
            self.blocks = _FrameBlocks(F, T, _pipeline.fit_frames(F), self._fit_block)
            self.H = _SpilledActivations(self.W_fixed.shape[1], dtype)
            self.H_stat = np.empty((self.W_fixed.shape[1], self.frames.size), dtype=dtype)
            self.fits = []

    def add(self, t0: int, X: np.ndarray) -> None:
        Vc = _level_checked_spectrogram(X, self.settings, self.label)
        self.loudest = max(self.loudest, float(Vc.max()))
        t1 = t0 + X.shape[-1]
        if self.magnitudes.shape[-1]:
            lo, hi = np.searchsorted(self.frames, [t0, t1])
            self.magnitudes[..., lo:hi] = np.abs(X[..., self.frames[lo:hi] - t0])
        if self.W_fixed is None:
            self.V[:, t0:t1] = Vc
        else:  # each block's activations are fitted when the block is complete
            self.blocks.add(Vc)

    def _fit_block(self, start: int, V_block: np.ndarray) -> None:
        fit = _pipeline.fit_within_level(
            V_block, lambda: fit_activations(V_block, self.W_fixed, self.settings, rng=self.rng,
                                             **self.fit_args), label=self.label)
        self.H.append(fit.activations)
        lo, hi = np.searchsorted(self.frames, [start, start + V_block.shape[1]])
        self.H_stat[:, lo:hi] = fit.activations[:, self.frames[lo:hi] - start]
        # keep only the summary of each block's fit: its activations are spilled
        self.fits.append((fit.final_loss, fit.n_iter, fit.converged, fit.beta, fit.l1_activations))

    def result(self) -> NMFResult:
        """The fixed-template fit, with the activations of the stat frames only."""
        loss = sum(f[0] for f in self.fits)
        n_iter = max(f[1] for f in self.fits)
        return NMFResult(templates=self.W_fixed, activations=self.H_stat,
                         loss_history=np.array([loss]), loss_iterations=np.array([n_iter]),
                         n_iter=n_iter, converged=all(f[2] for f in self.fits),
                         beta=self.fits[0][3], l1_activations=self.fits[0][4])


#: Above this size of V (float32), unsupervised templates are learned online: 1 GiB is
#: about 49 minutes of audio at 44.1 kHz with a hop a quarter of n_fft (V holds about
#: 2 values per sample whatever n_fft: 2048 / 512 or the blind default 3072 / 768).
#: A fixed size rather than the memory available, so that a recording gets the same
#: result on every machine (a Dask worker, a laptop).
ONLINE_V_BYTES = 1 << 30

_FIT_MODES = ("auto", "whole", "online")


def fit_mode(settings: SeparationSettings, n_frames: int, fit: str = "auto") -> str:
    """How the model is fitted: "blocks" (every template fixed: each block's activations
    on their own), "whole" (the NMF of the whole V) or "online" (templates learned from
    batches of frames, :class:`nmfaudio.online.OnlineNMF`, then fitted by blocks).

    ``fit="auto"`` learns online where V would take more than :data:`ONLINE_V_BYTES`.
    """
    if fit not in _FIT_MODES:
        raise ParameterError(f"fit must be one of {', '.join(_FIT_MODES)}, got {fit!r}")
    if fixed_templates(settings) is not None:
        return "blocks"
    if settings.supervised:  # free templates beside fixed ones: the whole V
        if fit == "online":
            raise ParameterError("fit='online' learns every template; it does not combine "
                                 "with dictionaries (use fit='whole' or 'auto')")
        return "whole"
    if fit == "auto":
        return "online" if 4 * settings.stft.n_bins * n_frames > ONLINE_V_BYTES else "whole"
    return fit


def _learn_online(source, settings: SeparationSettings, ranges, seed, nmf_args: dict,
                  report) -> np.ndarray:
    """A pass over the recording that learns the templates from batches of
    :func:`~nmfaudio.pipeline.fit_frames` frames (nmfaudio.online)."""
    from .online import OnlineNMF

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    model = OnlineNMF(settings.n_components, beta=settings.beta, seed=rng,
                      l1_activations=settings.l1_activations,
                      dtype=nmf_args.get("dtype", np.float32))
    # too quiet is known only once the whole is read (a quiet passage of a recording is
    # not a quiet recording): each batch is fitted within the level's checks
    batches = _FrameBlocks(settings.stft.n_bins, ranges[-1][1],
                           _pipeline.fit_frames(settings.stft.n_bins),
                           lambda start, V_batch: _pipeline.fit_within_level(
                               V_batch, lambda: model.partial_fit(V_batch), label=_label(source)))
    loudest = 0.0
    for i, (t0, t1) in enumerate(ranges):
        V_chunk = _level_checked_spectrogram(stft_frames(source, settings.stft, t0, t1),
                                             settings, _label(source))
        loudest = max(loudest, float(V_chunk.max(initial=0.0)))
        batches.add(V_chunk)
        report(i + 1)
    if model.templates is None:
        raise AudioFileError(f"{_label(source)} is silent (all samples are 0): nothing to separate")
    _pipeline.check_level(loudest, label=_label(source))
    return model.templates


def _analysis(source, settings: SeparationSettings, ranges, T: int, mode: str, seed,
              nmf_args: dict, report) -> "_Pass1":
    """The learning pass (online only), then pass 1; ``report(done, stage)`` after every
    chunk. Raises AudioFileError for a silent recording."""
    templates = None
    if mode == "online":
        templates = _learn_online(source, settings, ranges, seed, nmf_args,
                                  lambda i: report(i, "learning"))
    first = _Pass1(source, settings, T, nmf_args.get("dtype", np.float32), nmf_args, seed,
                   templates=templates)
    try:
        offset = len(ranges) if mode == "online" else 0
        for i, (t0, t1) in enumerate(ranges):
            first.add(t0, stft_frames(source, settings.stft, t0, t1))
            report(offset + i + 1, "analysis")
        if first.loudest <= 0:
            raise AudioFileError(f"{_label(source)} is silent (all samples are 0): nothing to separate")
        _pipeline.check_level(first.loudest, label=_label(source))
    except BaseException:
        if first.W_fixed is not None:
            first.H.close()
        raise
    return first


def _fit(first: "_Pass1", settings: SeparationSettings, seed, nmf_args: dict):
    """The NMF of the first pass: on the whole V (free templates), or the activations
    gathered block by block (every template fixed). Returns (result, the whole
    activations or None, "whole" or "blocks")."""
    if first.W_fixed is None:
        result = _factorize(first.V, settings, seed=seed, **nmf_args)
        first.V = None  # the fit is done: V is not needed for the masks
        return result, result.activations, "whole"
    return first.result(), None, "blocks"


def _register_sums(source, settings, ranges, result, activations, model) -> Optional[np.ndarray]:
    """With ``grouping="register"`` (:func:`nmfaudio.pipeline.uses_register`; ``model``:
    the spatial model or None): the components' share statistics with no percussive
    class, summed over the recording in one pass, shape=(3, K) (the second row 0).
    Otherwise None."""
    if not uses_register(settings, source.n_channels, spatial=model is not None):
        return None
    W = result.templates
    statistics = np.zeros((3, W.shape[1]))
    for t0, t1 in ranges:
        V = _spectrogram_of(source, settings, t0, t1)
        statistics += share_statistics(W, activations(t0, t1), V, None)
    return statistics


def _harmonic_sums(source, settings, ranges, T, W, activations):
    """One pass over the chunks, each with the context its median filters need: the
    percussive energy (:func:`nmfaudio.drums.percussive_energy`, shape=(2,)) and the
    components' share statistics (:func:`nmfaudio.harmonic.share_statistics`,
    shape=(3, K)), both summed over the recording.

    The STFT is read again rather than V kept from the first pass: the median filters
    (and numba's compiler, about 120 MB) would then run beside V, which took the peak of
    10 minutes of mono audio from about 294 to 385 MB.
    """
    energy, statistics = np.zeros(2), np.zeros((3, W.shape[1]))
    for t0, t1 in ranges:
        V, percussive = percussive_mask_of_frames(
            lambda a, b: _spectrogram_of(source, settings, a, b), t0, t1, T)
        energy += percussive_energy(V, percussive)
        statistics += share_statistics(W, activations(t0, t1), V, percussive)
    return energy, statistics


def _drum_kit_instead(source, settings, ranges, T, result, energy, *, sample_rate: int,
                      seed, nmf_args: dict, announce=lambda: None) -> Optional[NMFDResult]:
    """The drum kit that replaces the whole-V NMF ``result``, as in
    :func:`nmfaudio.pipeline.separate_stft`, or None. Only a mostly percussive recording
    reads V again (one more pass of the STFT) for the NMFD; ``announce()`` is called
    first (the NMFD can take as long as the NMF: a progress bar should say so)."""
    if not may_be_drum_kit(tuple(energy), sample_rate=sample_rate):
        return None
    announce()
    V = np.empty((settings.stft.n_bins, T), dtype=np.float32, order="F")  # as pass 1 holds it
    for t0, t1 in ranges:
        V[:, t0:t1] = _spectrogram_of(source, settings, t0, t1)
    return fitted_drum_kit(V, result, settings, sample_rate=sample_rate, seed=seed, **nmf_args)


def separate_stream(
    source,
    settings: SeparationSettings,
    sinks: Sequence,
    *,
    sample_rate: int,
    chunk_frames: Optional[int] = None,
    progress: Optional[Callable[[int, int, str], None]] = None,
    seed=0,
    fit: str = "auto",
    **nmf_args,
) -> StreamedSeparation:
    """Separate the audio of ``source`` chunk by chunk, writing each source to a sink.

    Parameters
    ----------
    source : SampleSource
        ``n_channels``, ``n_samples`` and ``read(start, stop)`` (an
        :class:`~nmfaudio.audio.Audio`, an :class:`~nmfaudio.audio.AudioReader`), at
        the analysis rate (the dictionaries' rate when supervised).
    settings : SeparationSettings
        From :func:`nmfaudio.pipeline.separation_settings`.
    sinks : sequence of S objects with ``write(block)``
        One per source, in the order of ``settings.source_names``; each receives
        consecutive float32 blocks of shape (C, m) adding up to (C, N); rounded together
        when every sink has the same integer ``subtype`` (AudioWriters of "PCM_16" or
        "PCM_24": :func:`nmfaudio.audio.round_together`), so that the files add up too.
    sample_rate : int
        The rate of ``source`` (for the grouping's frequencies).
    chunk_frames : int > 0, optional
        STFT frames per chunk (memory, speed; not the result): :func:`default_chunk_frames`.
    progress : callable(done, total, stage), optional
        Called after every chunk of each pass (stage "learning" when the templates are
        learned online, "analysis", then "synthesis") and at the fit (stage "fit"; then
        "drum kit" when a mostly percussive recording is fitted again as a drum kit,
        :mod:`nmfaudio.drums`); ``total`` counts the chunks of all passes.
    fit : {"auto", "whole", "online"}
        Unsupervised: the NMF of the whole V (in memory), or templates learned online in
        a pass of their own (:class:`nmfaudio.online.OnlineNMF`), then activations by
        blocks. "auto": online where V would exceed :data:`ONLINE_V_BYTES`.
    seed, **nmf_args
        ``n_iter``, ``tol``, ``dtype``, ``callback``, ``n_threads`` of the NMF.

    Returns
    -------
    StreamedSeparation

    Raises
    ------
    AudioFileError
        The recording is shorter than one STFT frame, or silent.
    """
    config = settings.stft
    if len(sinks) != settings.n_sources:
        raise ParameterError(f"{len(sinks)} sinks for {settings.n_sources} sources")
    if source.n_samples < config.n_fft:
        raise AudioFileError(_pipeline.too_short(_label(source), source.n_samples, config.n_fft))
    T = n_frames(source.n_samples, config)
    mode = fit_mode(settings, T, fit)
    ranges = chunk_ranges(T, default_chunk_frames(config.n_bins) if chunk_frames is None else chunk_frames)
    done_before = len(ranges) if mode == "online" else 0  # the learning pass
    total = done_before + 2 * len(ranges)
    say = progress or (lambda done, total, stage: None)
    report = lambda done, stage: say(done, total, stage)  # noqa: E731
    first = None
    limit = _one_blas_thread()
    try:
        first = _analysis(source, settings, ranges, T, mode, seed, nmf_args, report)
        result, H_of, fit_kind = _fit(first, settings, seed, nmf_args)
        fit_kind = "online" if mode == "online" else fit_kind
        report(done_before + len(ranges), "fit")
        activations = (lambda a, b: H_of[:, a:b]) if H_of is not None else first.H.read
        model = spatial_model(settings, first.magnitudes)
        statistics = _register_sums(source, settings, ranges, result, activations, model)
        if uses_harmonic(settings, source.n_channels, spatial=model is not None):
            energy, statistics = _harmonic_sums(source, settings, ranges, T,
                                                result.templates, activations)
            kit = None if H_of is None else _drum_kit_instead(
                source, settings, ranges, T, result, energy, sample_rate=sample_rate,
                seed=seed, nmf_args=nmf_args,
                announce=lambda: report(done_before + len(ranges), "drum kit"))
            if kit is not None:
                result, H_of, statistics = kit, kit.activations, None
                activations = lambda a, b: H_of[:, a:b]  # noqa: E731
        groups, gains, masks_of, grouping = _mask_maker(source, settings, ranges, T, first,
                                                        result, H_of, activations, sample_rate,
                                                        model, statistics)
        _synthesize(source, settings, sinks, ranges, T, masks_of,
                    lambda i: report(done_before + len(ranges) + i, "synthesis"))
    finally:
        limit.restore_original_limits()
        if first is not None and first.W_fixed is not None:
            first.H.close()
    return StreamedSeparation(
        source_names=settings.source_names, groups=groups, channel_gains=gains,
        n_components=int(result.templates.shape[1]), n_iter=int(result.n_iter),
        converged=bool(result.converged), final_loss=float(result.final_loss), n_frames=T,
        n_chunks=len(ranges), fit=fit_kind, grouping=grouping, stft=settings.stft)


def _mask_maker(source, settings, ranges, T, first, result, H_of, activations, sample_rate,
                model, statistics):
    """How the components become sources, for the synthesis pass: (groups, gains or
    None, ``masks_of(t0, t1, X)`` giving the (S, C, F, n) masks of a chunk, the name of
    the grouping). ``model``: the source directions (:func:`spatial_model`) or None;
    ``statistics``: :func:`_harmonic_sums`'s share statistics where the pipeline tries
    the harmonic/percussive model, else None. Drops the first pass's magnitudes once
    they are used."""
    gains = None
    if isinstance(result, NMFDResult):
        first.magnitudes = None

        def drum_masks(t0, t1, X):
            masks = drum_kit_masks(result.templates, activations, t0, t1,
                                   power=settings.mask_power)
            return np.broadcast_to(masks[:, None], (masks.shape[0],) + X.shape)
        return drum_kit_groups(settings.n_sources), None, drum_masks, "drum-kit"
    if model is not None:
        spatial = _SpatialStream(source, settings, ranges, result.templates, activations, model)
        first.magnitudes = None
        return spatial.groups, None, spatial.applied, "spatial"
    hp = None if statistics is None else harmonic_percussive_grouping(
        result.templates, statistics, settings.n_sources, sample_rate=sample_rate,
        n_fft=settings.stft.n_fft)
    if hp is not None:
        first.magnitudes = None

        def harmonic_masks(t0, t1, X):
            _, percussive = percussive_mask_of_frames(
                lambda a, b: _spectrogram_of(source, settings, a, b), t0, t1, T)
            masks = fused_masks(result.templates, activations(t0, t1), hp, percussive,
                                power=settings.mask_power)
            return np.broadcast_to(masks[:, None], (masks.shape[0],) + X.shape)
        groups = groups_from_labels(hp.labels, n_sources=settings.n_sources)
        return groups, None, harmonic_masks, "harmonic-percussive"
    groups, gains, grouping = fallback_groups(result, settings, statistics,
                                              magnitudes=first.magnitudes, frames=first.frames,
                                              sample_rate=sample_rate,
                                              frame_activations=None if H_of is not None
                                              else result.activations)
    first.magnitudes = None

    def model_masks(t0, t1, X):
        models = component_models(result.templates, activations(t0, t1), groups)
        return source_masks(models, mask_power=settings.mask_power,
                            n_channels=X.shape[0], gains=gains)[1]
    return groups, gains, model_masks, grouping


def _spectrogram_of(source, settings, t0: int, t1: int) -> np.ndarray:
    """V of frames t0..t1, as the analysis pass computes it."""
    return spectrogram(stft_frames(source, settings.stft, t0, t1), power=settings.spectrogram_power)


def _one_blas_thread():
    """BLAS on one thread for the whole separation: a product split over BLAS threads
    sums in an order that depends on their number, so the outputs would depend on the
    machine (a Dask worker runs BLAS on one thread, a command line on all cores). The
    parallelism is the NMF's own threads (``n_threads``), which use one BLAS thread each
    anyway; the other products are a small part of the time."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _synthesize(source, settings, sinks, ranges, T, masks_of, report):
    """Pass 2: every chunk's masks applied to its STFT, inverted by overlap-add.

    ``masks_of(t0, t1, X)`` gives the (S, C, F, n) masks of frames t0..t1.
    """
    config, C = settings.stft, source.n_channels
    # one overlap-add per source: the per-chunk arrays are then (C, F, n), not (S, C, F, n)
    olas = [OverlapAdd(config, n_frames=T, length=source.n_samples, shape=(C,))
            for _ in sinks]
    subtypes = {getattr(sink, "subtype", None) for sink in sinks}
    rounding = subtypes.pop() if len(subtypes) == 1 and subtypes <= {"PCM_16", "PCM_24"} else None

    def write(blocks):
        if rounding is not None:  # the blocks cover the same samples: the overlap-adds run in step
            blocks = round_together(np.stack(blocks), subtype=rounding)
        for sink, block in zip(sinks, blocks):
            sink.write(block)

    for i, (t0, t1) in enumerate(ranges):
        X = stft_frames(source, config, t0, t1)
        applied = masks_of(t0, t1, X)
        write([ola.push(_apply(applied[s:s + 1], X)[0]) for s, ola in enumerate(olas)])
        del applied
        report(i + 1)
    write([ola.finish() for ola in olas])


class _SpatialStream:
    """Blind multichannel masks (:func:`nmfaudio.pipeline.spatial_grouping`) chunk by chunk.

    The same steps as the whole-signal version: directions (fitted on the stat frames),
    then rounds of (posteriors -> component shares), the shares summed over chunks
    (each round one more pass over the audio's STFT), then a pass for the sources'
    spectral centroids, which order them. V is recomputed from each chunk's STFT.
    """

    def __init__(self, source, settings, ranges, W, activations, model) -> None:
        self.source, self.settings, self.W, self.activations = source, settings, W, activations
        self.model = model
        self.shares = None
        for _ in range(N_ROUNDS):
            r = 0.0
            for t0, t1 in ranges:
                like, V, H = self._chunk(t0, t1)
                post = spatial_posteriors(like, W, H, self.shares, power=settings.mask_power)
                r = r + share_numerators(W, H, V, post)
            self.shares = normalize_shares(r)
        spectra = 0.0
        for t0, t1 in ranges:
            like, V, H = self._chunk(t0, t1)
            post = spatial_posteriors(like, W, H, self.shares, power=settings.mask_power)
            spectra = spectra + np.einsum("sft,ft->sf", post.astype(np.float32), V,
                                          optimize=True)
        bins = np.arange(W.shape[0])
        centroids = (spectra @ bins) / np.maximum(spectra.sum(axis=1), np.finfo(np.float64).tiny)
        self.order = np.argsort(centroids, kind="stable")
        self.groups = groups_from_labels(np.argmax(self.shares[self.order], axis=0),
                                         n_sources=settings.n_sources)

    def _chunk(self, t0, t1):
        X = stft_frames(self.source, self.settings.stft, t0, t1)
        V = spectrogram(X, power=self.settings.spectrogram_power)
        return spatial_likelihoods(np.abs(X), self.model), V, self.activations(t0, t1)

    def applied(self, t0, t1, X):
        like = spatial_likelihoods(np.abs(X), self.model)
        post = spatial_posteriors(like, self.W, self.activations(t0, t1), self.shares,
                                  power=self.settings.mask_power)
        masks = post.astype(np.float32)[self.order]
        return np.broadcast_to(masks[:, None], (masks.shape[0],) + X.shape)


def _label(source) -> str:
    path = getattr(source, "path", None)
    return f"'{path}'" if path else "the mixture"


@dataclass(frozen=True)
class FileSeparation:
    """What :func:`separate_to_files` wrote.

    Attributes
    ----------
    input : str
    paths : tuple of str
        The file of each source, in the order of ``separation.source_names``.
    reports : tuple of SaveReport
        Peak and clipped samples of each source file.
    residual_path : str or None
        Resampled supervised separations: the file of what no source carries (see
        :attr:`nmfaudio.pipeline.Separation.residual`), when asked for.
    residual_peak : float
        Largest ``|sample|`` of the residual (0 when there is none).
    separation : StreamedSeparation
    sample_rate, n_channels, n_samples : int
        Of the mixture (and of every output).
    """

    input: str
    paths: tuple
    reports: tuple
    residual_path: Optional[str]
    separation: StreamedSeparation
    sample_rate: int
    n_channels: int
    n_samples: int
    residual_peak: float = 0.0

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate


def _stream_to_writers(source, settings: SeparationSettings, paths, *, subtype: str,
                       overwrite: bool, guard, chunk_frames: int, progress, nmf_args: dict):
    """Run :func:`separate_stream` into one atomic writer per path; on any failure or
    interruption every writer is aborted (nothing is left under a final name).
    Returns (the StreamedSeparation, the writers' reports)."""
    from . import audio as audio_io

    writers = []
    try:
        for path in paths:
            writers.append(_Guarded(audio_io.AudioWriter(
                path, n_channels=source.n_channels, sample_rate=source.sample_rate,
                subtype=subtype, on_clip="clip", overwrite=overwrite), guard))
        result = separate_stream(source, settings, writers, sample_rate=source.sample_rate,
                                 chunk_frames=chunk_frames, progress=progress, **nmf_args)
        return result, tuple(writer.close() for writer in writers)
    except BaseException:
        for writer in writers:
            writer.abort()
        raise


def separate_to_files(
    mixture,
    paths: Sequence,
    *,
    residual_path=None,
    subtype: str = "FLOAT",
    overwrite: bool = False,
    chunk_frames: Optional[int] = None,
    progress: Optional[Callable[[int, int, str], None]] = None,
    guard: Optional[Callable] = None,
    seed=0,
    n_iter: int = 300,
    tol: Optional[float] = None,
    dtype=np.float32,
    callback=None,
    n_threads: Optional[int] = None,
    fit: str = "auto",
    **settings_args,
) -> FileSeparation:
    """Separate an audio file into one file per source, in bounded memory.

    The recording is read in blocks and the sources are written as they are computed
    (see the module docstring), each to a hidden temporary file renamed to its final
    name only when the whole separation has succeeded: a failure or an interruption
    leaves no file, complete or partial, under any of ``paths``.

    Parameters
    ----------
    mixture : str or os.PathLike
        The recording (WAV, FLAC, OGG... in blocks; other formats are decoded whole).
    paths : sequence of str or os.PathLike
        One output file per source, in the order of the sources (dictionary names, then
        ``"other"``; or ``source1``, ``source2``...). Their folders must exist.
    residual_path : str or os.PathLike, optional
        The residual of a resampled supervised separation (else nothing is written).
    subtype : {"FLOAT", "PCM_16", "PCM_24"}
        Sample encoding. FLOAT (default) keeps the sources exactly, so that they add
        up to the mixture; integer subtypes clip samples beyond full scale (counted in
        ``reports``).
    overwrite : bool
        Replace existing files.
    chunk_frames : int, optional
        STFT frames per chunk (:func:`separate_stream`).
    progress : callable(done, total, stage), optional
        See :func:`separate_stream`.
    guard : callable() -> context manager, optional
        Entered around every write to a file (the command line holds signals back
        there: an exception inside libsndfile's I/O would be lost).
    seed, n_iter, tol, dtype, callback, n_threads
        Of the NMF, as in :func:`nmfaudio.separate` (``tol`` None: the mode's default).
    fit : {"auto", "whole", "online"}
        Unsupervised: see :func:`separate_stream` (auto: online above ~49 min at 44.1 kHz).
    **settings_args
        The separation's settings, as in :func:`nmfaudio.separate` (``dictionaries``,
        ``n_sources``, ``mask_power``, ``on_rate_mismatch``...).

    Returns
    -------
    FileSeparation

    Raises
    ------
    AudioFileError, DictionaryMismatchError, ParameterError
        As :func:`nmfaudio.separate`, and when an output cannot be written.

    Notes
    -----
    A supervised separation of a mixture at another rate than the dictionaries' is
    resampled whole, in memory (twice the recording as float32, plus its sources).
    """
    from . import audio as audio_io
    from .pipeline import separation_settings

    if "stft_config" in settings_args:  # separate()'s name for it
        settings_args["stft"] = settings_args.pop("stft_config")
    settings = separation_settings(**settings_args)
    blind_default_stft = not settings.supervised and settings_args.get("stft") is None
    paths = [str(p) for p in paths]
    if len(paths) != settings.n_sources:
        raise ParameterError(f"{len(paths)} output paths for the {settings.n_sources} sources "
                             f"{list(settings.source_names)}; give one per source")
    for path in paths + ([str(residual_path)] if residual_path is not None else []):
        audio_io._format_for(path, subtype)
    source = audio_io.open_source(mixture)
    if blind_default_stft:  # as separate(): frames of about 80 ms whatever the rate
        settings = replace(settings, stft=_pipeline.blind_stft(source.sample_rate, source.n_samples))
    fit_mode(settings, 0, fit)  # checks fit before anything is read
    nmf_args = dict(seed=seed, n_iter=n_iter, dtype=dtype, callback=callback, n_threads=n_threads,
                    tol=_pipeline.default_tol(settings) if tol is None else tol)
    if settings.supervised and source.sample_rate != settings.sample_rate:
        return _separate_resampled(source, settings, paths, residual_path, subtype, overwrite,
                                   chunk_frames, progress, nmf_args, guard)
    result, reports = _stream_to_writers(source, settings, paths, subtype=subtype,
                                         overwrite=overwrite, guard=guard,
                                         chunk_frames=chunk_frames, progress=progress,
                                         nmf_args=dict(nmf_args, fit=fit))
    return FileSeparation(input=str(mixture), paths=tuple(paths), reports=reports,
                          residual_path=None, separation=result,
                          sample_rate=source.sample_rate, n_channels=source.n_channels,
                          n_samples=source.n_samples)


class _Guarded:
    """A writer whose ``write`` and ``close`` run inside ``guard()`` (if any)."""

    def __init__(self, writer, guard) -> None:
        self.writer, self.guard = writer, guard
        self.subtype = writer.subtype

    def _call(self, method, *args):
        if self.guard is None:
            return method(*args)
        with self.guard():
            return method(*args)

    def write(self, block):
        return self._call(self.writer.write, block)

    def close(self):
        return self._call(self.writer.close)

    def abort(self):
        self.writer.abort()


def _separate_resampled(source, settings, paths, residual_path, subtype, overwrite,
                        chunk_frames, progress, nmf_args, guard=None) -> FileSeparation:
    """Supervised, mixture at another rate than the dictionaries': resampled in memory."""
    from . import audio as audio_io
    from .errors import DictionaryMismatchError
    from .pipeline import _back_to_mixture_rate

    label = _label(source)
    if settings.on_rate_mismatch == "error":
        raise DictionaryMismatchError(
            f"{label} is at {source.sample_rate} Hz but the dictionaries are at "
            f"{settings.sample_rate} Hz; resample one of them (on_rate_mismatch='resample')")
    original = source if isinstance(source, audio_io.Audio) else audio_io.load(source.path)
    mix = audio_io.resample(original, settings.sample_rate)
    sinks = [ArraySink() for _ in paths]
    result = separate_stream(mix, settings, sinks, sample_rate=mix.sample_rate,
                             chunk_frames=chunk_frames, progress=progress, **nmf_args)
    sources, residual = _back_to_mixture_rate(np.stack([s.samples for s in sinks]), mix,
                                              original)
    targets = list(zip(paths, sources))
    if residual_path is not None:
        targets.append((str(residual_path), residual))
    # the files (the residual too) add up to the mixture after rounding as before it
    targets = list(zip([path for path, _ in targets],
                       round_together(np.stack([x for _, x in targets]), subtype=subtype)))
    writers = []
    try:
        for path, samples in targets:
            writer = _Guarded(audio_io.AudioWriter(
                path, n_channels=original.n_channels, sample_rate=original.sample_rate,
                subtype=subtype, on_clip="clip", overwrite=overwrite), guard)
            writers.append(writer)
            writer.write(samples)
        reports = [writer.close() for writer in writers]
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    return FileSeparation(input=str(original.path), paths=tuple(paths),
                          reports=tuple(reports[:len(paths)]),
                          residual_path=None if residual_path is None else str(residual_path),
                          separation=result, sample_rate=original.sample_rate,
                          n_channels=original.n_channels, n_samples=original.n_samples,
                          # as written (rounded with the sources): a caller that drops a
                          # residual under one step then drops no step the sum needs
                          residual_peak=float(np.max(np.abs(
                              targets[-1][1] if residual_path is not None else residual))))
