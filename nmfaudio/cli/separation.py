"""One mixture: separate it and write its outputs (in this process or a worker)."""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import round_together
from ..errors import AudioFileError, NMFAudioError
from .._budget import available_bytes, check_memory_bytes
from ..pipeline import blind_stft, check_separation_memory, separate
from .core import BUG_HINT, CLIError, _one_line
from .outputs import (HINT_OUT, OutputSettings, _all_or_nothing, _check_outputs, _check_target,
                      _make_dirs, _save_staged, _Transaction, _write_error)
from .progress import Progress
from .signals import deferred
from .settings import ModelSettings

@dataclass(frozen=True)
class FileJob:
    """One input of a ``separate`` call: its position, path, display name, output folder."""

    index: int
    input: str
    label: str
    folder: str


#: A residual whose peak is under one 16-bit step is not written: rounded with the sources
#: it holds no step of the files (both paths, in memory and streamed, use this).
RESIDUAL_FLOOR = 1.0 / 32768


def _rounded_outputs(separation, subtype: str):
    """The sources (S, C, N) and the residual (C, N), rounded together to ``subtype``'s
    steps so that the files add up to the mixture as the arrays do
    (:func:`nmfaudio.audio.round_together`); the residual is None when there is none or
    when, rounded, it is under one 16-bit step (then it holds none of the steps)."""
    S = separation.sources.shape[0]
    if separation.residual is None:
        # in place: the sources are ours, written once and not read again (the figure
        # uses the STFTs), and a copy would be S x C x N floats more than the memory
        # estimate counts
        return round_together(separation.sources, subtype=subtype, out=separation.sources), None
    rounded = np.concatenate([separation.sources, separation.residual[None]])
    round_together(rounded, subtype=subtype, out=rounded)
    audible = np.max(np.abs(rounded[S])) >= RESIDUAL_FLOOR
    return rounded[:S], (rounded[S] if audible else None)


def _refuse_all_zero(peaks, job: FileJob, subtype: str) -> None:
    """A mixture too quiet for the integer files (a float file peaking under half a step)
    would give files of zeros that add up to nothing: refuse, and say how to keep it.
    ``peaks``: of every file that would be written (the sources, and the residual when
    one is kept, which may carry all of a mixture above the dictionaries' band)."""
    if subtype != "FLOAT" and not any(peaks):
        raise CLIError(f"'{job.label}' is too quiet for {subtype.split('_')[1]}-bit files: "
                       "every source rounds to silence (the recording peaks under half a "
                       "step); use --float32, or normalise the recording")


def _write_sources(transaction: _Transaction, folder: Path, names, sources_out, sample_rate: int,
                   out: OutputSettings, warnings_out: list) -> list:
    """Stage ``<source>.wav`` per source (``sources_out``, shape (S, C, N)); returns their
    summaries."""
    sources = []
    for name, samples in zip(names, sources_out):
        final = folder / f"{name}.wav"
        report = _save_staged(transaction, final, samples, sample_rate, out.subtype)
        sources.append({"name": name, "path": str(final), "peak": report.peak,
                        "clipped_samples": report.n_clipped})
        if report.n_clipped:
            warnings_out.append(
                f"'{final}': {report.n_clipped} samples beyond full scale (peak "
                f"{report.peak:.3f}) were clipped in the 16-bit file; use --float32 to keep "
                "them (then the sources add up to the mixture exactly)")
    return sources


def _write_residual(transaction: _Transaction, folder: Path, residual, sample_rate: int,
                    out: OutputSettings) -> str | None:
    """Stage ``residual.wav`` for the residual :func:`_rounded_outputs` kept; its path,
    or None when there is none."""
    if residual is None:
        return None
    # resampled to the dictionaries' rate: what no source carries, so that the files
    # still add up to the mixture (the library warned why, on stderr)
    final = folder / "residual.wav"
    _check_target(final, overwrite=out.overwrite, protected=out.protected, hint=HINT_OUT)
    _save_staged(transaction, final, residual, sample_rate, out.subtype)
    return str(final)


def _write_components(transaction: _Transaction, folder: Path, names, separation,
                      out: OutputSettings, warnings_out: list, created: list) -> list:
    """Stage ``components/component_XX.wav`` per NMF component; returns their summaries."""
    comp_folder = folder / "components"
    created += _make_dirs(comp_folder, HINT_OUT)
    # rounded together, so that the component files add up as the components do (in place:
    # the components are ours, and the memory budget counts them once)
    signals = separation.component_signals()
    round_together(signals, subtype=out.subtype, out=signals)
    digits = max(2, len(str(len(signals) - 1)))
    source_of = {}
    for name, group in zip(names, separation.groups):
        for k in np.asarray(group).ravel():
            source_of[int(k)] = name
    components = []
    for k, samples in enumerate(signals):
        final = comp_folder / f"component_{k:0{digits}d}.wav"
        report = _save_staged(transaction, final, samples, separation.sample_rate, out.subtype)
        components.append({"index": k, "source": source_of.get(k), "path": str(final),
                           "clipped_samples": report.n_clipped})
    n_clipped = sum(c["clipped_samples"] for c in components)
    if n_clipped:
        warnings_out.append(f"'{comp_folder}': {n_clipped} samples of components were "
                            "clipped in the 16-bit files; use --float32 to keep them")
    return components


def _write_plot(transaction: _Transaction, folder: Path, separation) -> str:
    """Stage ``separation.png``; returns its path."""
    from ..plot import plot_separation, save_figure

    final = folder / "separation.png"
    save_figure(plot_separation(separation), transaction.stage(final), overwrite=False)
    return str(final)


def _summary(job: FileJob, separation, written: dict, out: OutputSettings,
             seconds: float) -> dict:
    """The JSON-able summary of one separated input (``--json`` prints it)."""
    mixture, result = separation.mixture, separation.nmf
    sources, components = written["sources"], written["components"]
    paths = [s["path"] for s in sources] + [c["path"] for c in components]
    if written["plot"]:
        paths.append(written["plot"])
    return {
        "input": job.input,
        "ok": True,
        "output_dir": job.folder,
        "sources": sources,
        "components": components if out.components_out else None,
        "plot": written["plot"],
        "written": paths,
        "sample_rate": mixture.sample_rate,
        "channels": mixture.n_channels,
        "n_samples": mixture.n_samples,
        "duration": mixture.duration,
        "iterations": result.n_iter,
        "residual": written["residual"],
        "n_components": result.n_components,
        "groups": {name: [int(k) for k in group]
                   for name, group in zip(separation.source_names, separation.groups)},
        "converged": bool(result.converged),
        "final_loss": result.final_loss,
        "clipped_samples": sum(s["clipped_samples"] for s in sources)
        + sum(c["clipped_samples"] for c in components),
        "seconds": seconds,
        "warnings": written["warnings"],
        "grouping": separation.grouping,
        "n_fft": separation.stft.n_fft, "hop": separation.stft.hop_length,
    }


#: Memory of a streamed separation beside V: a chunk's STFT, masks and sources, the
#: stat frames' magnitudes, the fit's block buffers (measured about 170 MB above the
#: interpreter and libraries for stereo 44.1 kHz).
STREAM_OVERHEAD = 256 * 2**20


def _check_input(job: FileJob, model: ModelSettings, out: OutputSettings,
                 streamed: bool = False) -> None:
    """What the input's header tells before any work: the residual's name is free, the
    rate fits the dictionaries (with --on-rate-mismatch error), and the run fits in
    memory. A header that cannot be read is left to the separation to report."""
    try:
        info = sf.info(job.input)
        n_samples, rate, channels = int(info.frames), int(info.samplerate), int(info.channels)
    except Exception:  # noqa: BLE001  (not for soundfile: audio.load says why, or decodes it)
        return
    settings = model.separation
    if not settings.supervised and model.stft is None:  # as separate() will choose it
        settings = dataclasses.replace(settings, stft=blind_stft(rate, n_samples))
    resampled = settings.supervised and rate != settings.sample_rate
    if resampled and model.on_rate_mismatch == "error":
        raise CLIError(f"'{job.label}' is at {rate} Hz but the dictionaries are at "
                       f"{settings.sample_rate} Hz; resample one of them "
                       "(--on-rate-mismatch resample)")
    if resampled and "residual" in settings.source_names:
        raise CLIError(f"a dictionary is named 'residual', the name of the file that carries "
                       f"what the dictionaries' {settings.sample_rate} Hz cannot of the "
                       f"{rate} Hz '{job.label}'; learn it again under another name")
    run_samples = math.ceil(n_samples * settings.sample_rate / rate) if resampled else n_samples
    available = available_bytes()
    component_advice = (f"use smaller dictionaries (nmfaudio learn -k) or a smaller --free "
                        f"({settings.n_components} components now)" if settings.supervised
                        else f"use fewer --components ({settings.n_components} now)")
    if streamed and not resampled:
        _check_streamed_memory(job, settings, run_samples, n_samples / rate, model, out,
                               available, component_advice)
        return
    check_separation_memory(
        settings, run_samples, channels, what=f"separating '{job.label}'",
        n_threads=model.n_threads, original_samples=n_samples if resampled else None,
        components_out=out.components_out,
        available=None if available is None else available // max(out.n_jobs, 1),
        advice={"audio": f"it is {n_samples / rate / 60:.0f} minutes long: separate shorter "
                         "pieces of it",
                "spectrogram": f"the STFT would have {1 + run_samples // settings.stft.hop_length}"
                               f" frames ({n_samples / rate / 60:.1f} minutes at hop "
                               f"{settings.stft.hop_length}): use a larger --hop, or separate "
                               "shorter pieces",
                "nmf": component_advice, "grouping": component_advice})


def _run_file(job: FileJob, model: ModelSettings, out: OutputSettings, progress: bool,
              bar_label: str) -> dict:
    """Separate ``job.input`` and write all its outputs into ``job.folder``, or none.

    The output paths are checked before the separation (no work is wasted on a run that
    could not be written); every file is staged under a hidden name by a
    :class:`_Transaction` and renamed only when all are complete. On any exception,
    interruption included, the staged files and the folders this call created are
    removed and the exception propagates. Returns the summary of :func:`_summary`.
    """
    start = time.perf_counter()
    names = model.source_names
    _check_outputs(job, names, out)
    _check_input(job, model, out)
    folder = Path(job.folder)
    written = {"warnings": [], "components": [], "plot": None}
    with _all_or_nothing(folder, out.overwrite, HINT_OUT) as (transaction, created):
        with Progress(model.n_iter, bar_label, enabled=progress) as bar:
            separation = separate(job.input, callback=bar.callback, **model.kwargs())
        if tuple(separation.source_names) != names:  # cannot happen today; stay safe
            names = tuple(separation.source_names)
            _check_outputs(job, names, out)
        sources_out, residual_out = _rounded_outputs(separation, out.subtype)
        _refuse_all_zero([np.any(source) for source in sources_out] + [residual_out is not None],
                         job, out.subtype)
        written["sources"] = _write_sources(transaction, folder, names, sources_out,
                                            separation.sample_rate, out, written["warnings"])
        written["residual"] = _write_residual(transaction, folder, residual_out,
                                              separation.sample_rate, out)
        if out.components_out:
            written["components"] = _write_components(transaction, folder, names, separation,
                                                      out, written["warnings"], created)
        if out.plot:
            written["plot"] = _write_plot(transaction, folder, separation)
    summary = _summary(job, separation, written, out, time.perf_counter() - start)
    summary.update(_resources(start, separation.mixture.duration))
    return summary


def _resources(start: float, duration: float) -> dict:
    """Peak resident memory of this process so far, and seconds per minute of audio."""
    import resource

    seconds = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6
    return {"seconds": seconds, "peak_memory_mb": peak,
            "seconds_per_audio_minute": seconds / max(duration / 60.0, 1e-9)}


def _check_streamed_memory(job, settings, n_samples, seconds, model, out, available,
                           component_advice) -> None:
    """Chunk by chunk, only V (when some templates are learned), the NMF's factors and
    the grouping grow with the recording; the rest is a chunk's worth."""
    from .._budget import nmf_estimate
    from ..chunked import fit_mode
    from ..factorization import parse_beta, usable_cores
    from ..pipeline import fit_frames

    F, K = settings.stft.n_bins, settings.n_components
    frames = 1 + n_samples // settings.stft.hop_length
    # online: templates from batches of fit_frames(F) frames, then fitted by blocks
    learned = fit_mode(settings, frames) == "whole"
    v_bytes = 4 * F * frames if learned else 0
    model_bytes = nmf_estimate(F, frames if learned else min(frames, fit_frames(F)), K,
                               n_free=settings.n_free if settings.supervised else None,
                               beta=parse_beta(settings.beta),
                               n_threads=model.n_threads or usable_cores())
    if not settings.supervised:
        model_bytes += 8 * (8 * K * K + K * frames)  # the grouping's distances and H
    advice = (component_advice if model_bytes > v_bytes else
              f"its spectrogram V has {frames} frames ({seconds / 60:.0f} minutes): use a "
              "larger --hop, or separate shorter pieces")
    check_memory_bytes(v_bytes + model_bytes + STREAM_OVERHEAD,
                       what=f"separating '{job.label}'", advice=advice,
                       available=None if available is None else available // max(out.n_jobs, 1))


def _run_streamed(job: FileJob, model: ModelSettings, out: OutputSettings, progress: bool,
                  bar_label: str) -> dict:
    """:func:`_run_file` for the sources alone, in memory that does not grow with the
    recording (:func:`nmfaudio.chunked.separate_to_files`): the audio is read and the
    sources written chunk by chunk, staged and renamed like every output."""
    from ..chunked import separate_to_files

    start = time.perf_counter()
    names = model.source_names
    _check_outputs(job, names, out)
    _check_input(job, model, out, streamed=True)
    folder = Path(job.folder)
    finals = [folder / f"{name}.wav" for name in names]
    with _all_or_nothing(folder, out.overwrite, HINT_OUT) as (transaction, _):
        staged = [transaction.stage(final) for final in finals]
        residual_final = folder / "residual.wav"
        staged_residual = transaction.stage(residual_final) if model.supervised else None
        with Progress(1, bar_label, enabled=progress, unit="chunks") as bar:
            def on_chunk(done, total, stage):
                bar.total = total
                bar.update(done, stage)

            try:
                done = separate_to_files(job.input, staged, residual_path=staged_residual,
                                         subtype=out.subtype, progress=on_chunk,
                                         guard=deferred, **model.kwargs())
            except AudioFileError as error:
                # a failed write names the staged file: say which output it was
                for tmp, final in zip(staged + [staged_residual], finals + [residual_final]):
                    if tmp is not None and str(tmp) in str(error):
                        raise _write_error(final, error, tmp) from None
                raise
        kept_residual = done.residual_path is not None and done.residual_peak >= RESIDUAL_FLOOR
        _refuse_all_zero([report.peak for report in done.reports] + [kept_residual], job,
                         out.subtype)
        residual = None
        if staged_residual is not None:
            if kept_residual:
                # resampled to the dictionaries' rate: what no source carries, so that the
                # files still add up to the mixture (the library warned why, on stderr)
                _check_target(residual_final, overwrite=out.overwrite,
                              protected=out.protected, hint=HINT_OUT)
                residual = str(residual_final)
            else:
                transaction.discard(staged_residual)
    result = done.separation
    sources = [{"name": name, "path": str(final), "peak": report.peak,
                "clipped_samples": report.n_clipped}
               for name, final, report in zip(names, finals, done.reports)]
    warnings_out = [
        f"'{s['path']}': {s['clipped_samples']} samples beyond full scale (peak "
        f"{s['peak']:.3f}) were clipped in the 16-bit file; use --float32 to keep them "
        "(then the sources add up to the mixture exactly)" for s in sources if s["clipped_samples"]]
    summary = {
        "input": job.input, "ok": True, "output_dir": job.folder, "sources": sources,
        "components": None, "plot": None,
        "written": [s["path"] for s in sources] + ([residual] if residual else []),
        "sample_rate": done.sample_rate, "channels": done.n_channels,
        "n_samples": done.n_samples, "duration": done.duration,
        "iterations": result.n_iter, "residual": residual,
        "n_components": result.n_components,
        "groups": {name: [int(k) for k in group] for name, group in zip(names, result.groups)},
        "converged": result.converged, "final_loss": result.final_loss,
        "clipped_samples": sum(s["clipped_samples"] for s in sources),
        "chunks": result.n_chunks, "warnings": warnings_out, "fit": result.fit,
        "grouping": result.grouping,
        "n_fft": result.stft.n_fft, "hop": result.stft.hop_length,
    }
    summary.update(_resources(start, done.duration))
    return summary


def _name_input(message: str, job: FileJob) -> str:
    message = _one_line(message)
    if job.input in message or job.label in message:
        return message
    return f"{job.label}: {message}"


def separate_file(job: FileJob, model: ModelSettings, out: OutputSettings,
                  progress: bool = False, bar_label: str | None = None) -> dict:
    """Separate one input and write its outputs; never raises except on interruption.

    Returns a JSON-able summary: ``{"input", "ok": True, ...}`` or ``{"input", "ok":
    False, "error": one line, "bug": bool, "traceback": str or None}``. Runs in worker
    processes for ``--jobs N``.
    """
    start = time.perf_counter()
    try:
        model = model.for_input(job.input, job.label)
        if out.components_out or out.plot:
            # components and the figure need the whole separation in memory
            return _run_file(job, model, out, progress, bar_label or job.label)
        return _run_streamed(job, model, out, progress, bar_label or job.label)
    except NMFAudioError as error:
        message, bug, trace = _name_input(str(error), job), False, None
    except OSError as error:
        where = f" '{error.filename}'" if error.filename else ""
        message = _name_input(f"{error.strerror or error}{where}", job)
        bug, trace = False, None
    except Exception as error:  # noqa: BLE001  (reported as a bug, the batch goes on)
        message = (f"unexpected {type(error).__name__} while separating '{job.label}': "
                   f"{_one_line(error)} -- {BUG_HINT}")
        bug, trace = True, traceback.format_exc()
    return {"input": job.input, "ok": False, "error": message, "bug": bug,
            "traceback": trace, "seconds": time.perf_counter() - start}
