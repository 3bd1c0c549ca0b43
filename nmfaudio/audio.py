"""Reading, checking, resampling and writing audio.

Audio inside nmfaudio is always an array of shape ``(C, N)`` (channels first, as in
librosa) of ``float32`` samples in ``[-1, 1]``, carried together with its sample rate in an
:class:`Audio`. This module is the only one that touches audio files:

- :func:`load` reads a file (WAV, FLAC, OGG through soundfile; anything else librosa can
  decode) and refuses files that would make a separation meaningless (empty, silent,
  NaN samples) with an :class:`~nmfaudio.errors.AudioFileError` naming the file.
- :func:`save` writes a file atomically and never clips a sample without saying so.
- :func:`check_samples` validates an in-memory array, :func:`resample` changes the rate.
"""

from __future__ import annotations

import errno
import os
import struct
import warnings
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ._files import atomic_write, check_destination
from ._validation import sample_rate as _check_sample_rate
from .errors import AudioFileError, ParameterError

__all__ = ["Audio", "SaveReport", "load", "save", "check_samples", "resample", "AudioReader",
           "AudioWriter", "open_source", "round_together"]

#: Sample encodings :func:`save` writes, and its ways of handling peaks beyond full scale.
SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
ON_CLIP = ("scale", "clip", "error")

# librosa's polyphase resampler of the soxr library: high quality, fast, and the librosa
# default; named here so load() and resample() cannot drift apart.
_RES_TYPE = "soxr_hq"


# --------------------------------------------------------------------------- helpers


def _check_path_type(path, *, name: str = "path") -> str:
    """Return ``path`` as a ``str`` or raise ParameterError."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ParameterError(
            f"{name} must be a str or os.PathLike naming a file, got {type(path).__name__}"
        )
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ParameterError(f"{name} is an empty string; pass the path of an audio file")
    return path


# --------------------------------------------------------------------------- Audio


@dataclass(frozen=True, eq=False)
class Audio:
    """A multichannel recording: samples and the rate they were taken at.

    Instances are immutable: ``samples`` is a private read-only copy, so an ``Audio``
    can be shared freely without anyone changing the signal under another's feet.

    Parameters
    ----------
    samples : np.ndarray [shape=(C, N) or (N,), real floating]
        The signal, channels first. A 1-D array is taken as one channel. Stored as a
        read-only ``float32`` copy of shape ``(C, N)``.
    sample_rate : int > 0
        Samples per second (Hz).
    path : str or None
        The file the audio came from, if any (for messages and provenance only).

    Attributes
    ----------
    n_channels : int
        ``C``.
    n_samples : int
        ``N``, samples per channel.
    duration : float
        ``N / sample_rate``, in seconds.

    Notes
    -----
    Equality is identity (``eq=False``): comparing two recordings sample by sample is
    the caller's decision (``np.array_equal(a.samples, b.samples)``), and an ndarray
    field would make the generated ``__eq__`` raise.

    Examples
    --------
    >>> import numpy as np
    >>> audio = Audio(np.zeros((2, 8000), dtype=np.float32), 8000)
    >>> audio.n_channels, audio.n_samples, audio.duration
    (2, 8000, 1.0)
    >>> audio.samples.flags.writeable
    False
    """

    samples: np.ndarray
    sample_rate: int
    path: str | None = None

    def __post_init__(self) -> None:
        samples = check_samples(self.samples, source="Audio samples")
        # Always copy, even when check_samples returned the caller's own float32 array:
        # making that read-only would change the caller's array, and leaving it shared
        # would let the caller change ours.
        samples = np.array(samples, dtype=np.float32, order="C", copy=True)
        samples.flags.writeable = False
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", _check_sample_rate(self.sample_rate))
        if self.path is not None:
            object.__setattr__(self, "path", _check_path_type(self.path))

    @property
    def n_channels(self) -> int:
        """Number of channels ``C``."""
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples per channel ``N``."""
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds, ``N / sample_rate``."""
        return self.n_samples / self.sample_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        """``samples[:, start:stop]`` as a new array, zeros outside the recording.

        The interface of :class:`AudioReader`, so that streaming code takes either.
        """
        out = np.zeros((self.n_channels, stop - start), dtype=np.float32)
        lo, hi = max(int(start), 0), min(int(stop), self.n_samples)
        if hi > lo:
            out[:, lo - start:hi - start] = self.samples[:, lo:hi]
        return out

    def __repr__(self) -> str:
        # The default repr would print the samples; this one says what a reader needs.
        return (
            f"Audio(n_channels={self.n_channels}, n_samples={self.n_samples}, "
            f"sample_rate={self.sample_rate}, path={self.path!r})"
        )


@dataclass(frozen=True)
class SaveReport:
    """What :func:`save` wrote.

    Attributes
    ----------
    path : str
        The file written.
    peak : float
        Largest ``|sample|`` of the samples passed in, before any scaling or clipping.
    gain : float
        Factor the samples were multiplied by before writing: ``1 / peak`` when
        ``on_clip="scale"`` had to act, else ``1.0``.
    n_clipped : int
        Number of samples (over all channels) clipped to full scale when
        ``on_clip="clip"`` had to act, else ``0``.
    """

    path: str
    peak: float
    gain: float
    n_clipped: int


# --------------------------------------------------------------------------- checking


def check_samples(samples, *, source: str = "samples") -> np.ndarray:
    """Validate an audio signal and return it as a ``(C, N)`` ``float32`` array.

    Parameters
    ----------
    samples : np.ndarray [shape=(N,) or (C, N), real floating]
        The signal. A 1-D array is one channel.
    source : str
        What to call the array in error messages (e.g. ``"mixture"``).

    Returns
    -------
    samples : np.ndarray [shape=(C, N), dtype=float32]
        The same values. This is ``samples`` itself (not a copy) when it already has that
        shape and dtype, so treat it as read-only; otherwise a new array.

    Raises
    ------
    ParameterError
        If ``samples`` is not a real floating array, has not 1 or 2 dimensions, has more
        channels than samples (an ``(N, C)`` array by mistake), is empty, or holds NaN,
        infinite, or float32-overflowing values.

    Examples
    --------
    >>> import numpy as np
    >>> check_samples(np.zeros(4)).shape
    (1, 4)
    """
    try:
        array = np.asarray(samples)
    except Exception as err:  # ragged lists and the like; the cause is chained
        raise ParameterError(f"{source} cannot be converted to a numpy array: {err}") from err
    if not np.issubdtype(array.dtype, np.floating):
        # Like librosa: integer PCM is ambiguous (full scale 2**15? 2**23?), so the
        # caller must say how to scale it.
        raise ParameterError(
            f"{source} must be a real floating-point array, got dtype {array.dtype}; "
            "convert integer PCM to floats in [-1, 1] first (e.g. x / 32768 for int16)"
        )
    if array.ndim == 1:
        array = array[np.newaxis, :]
    elif array.ndim != 2:
        raise ParameterError(
            f"{source} must have shape (N,) or (C, N) (channels first), got shape {array.shape}"
        )
    n_channels, n_samples = array.shape
    if array.size == 0:
        raise ParameterError(f"{source} is empty (shape {array.shape}); pass at least one sample")
    if n_channels > n_samples:
        raise ParameterError(
            f"{source} has shape {array.shape}: {n_channels} channels of {n_samples} samples; "
            "audio is channels first (C, N) here, so an (N, C) array from soundfile must be "
            "transposed (samples.T)"
        )
    _check_finite(array, source)
    if array.dtype == np.float32:
        return array
    largest = float(np.max(np.abs(array)))
    if largest > float(np.finfo(np.float32).max):
        # The cast to float32 would turn these into inf.
        raise ParameterError(
            f"{source} has values up to {largest:.3g}, beyond the float32 range (as float32 "
            "they would be infinite); audio samples are expected in [-1, 1]"
        )
    return array.astype(np.float32)


def _first_nonfinite(array: np.ndarray):
    """``(count, channel, sample)`` of the NaN/inf values of a (C, N) array, or None."""
    finite = np.isfinite(array)
    if finite.all():
        return None
    bad = np.argwhere(~finite)
    channel, index = (int(i) for i in bad[0])
    return len(bad), channel, index


def _check_finite(array: np.ndarray, source: str) -> None:
    found = _first_nonfinite(array)
    if found is not None:
        count, channel, index = found
        raise ParameterError(
            f"{source} contains {count} NaN or infinite values (first at channel "
            f"{channel}, sample {index}); audio must be finite"
        )


# --------------------------------------------------------------------------- loading


def load(path, *, sample_rate: int | None = None, allow_silent: bool = False) -> Audio:
    """Read an audio file, keeping all of its channels.

    Parameters
    ----------
    path : str or os.PathLike
        The file. WAV, FLAC and OGG (and whatever else libsndfile reads) go through
        soundfile; for other formats librosa's fallback decoder is tried.
    sample_rate : int > 0 or None
        If given and different from the file's rate, resample to it (soxr, high quality).
        ``None`` keeps the file's own rate.
    allow_silent : bool
        Accept a file whose samples are all exactly zero. Off by default because
        separating silence is almost always a wrong path or an export mistake.

    Returns
    -------
    audio : Audio
        ``samples`` of shape ``(C, N)``, ``float32`` (in ``[-1, 1]`` for integer
        formats); ``path`` is the path given, as a ``str``.

    Raises
    ------
    AudioFileError
        Naming the file, if it does not exist, is a directory, cannot be read or decoded,
        has no samples (or fewer than channels), has NaN or infinite samples, or is
        silent (unless ``allow_silent``).
    ParameterError
        If ``sample_rate`` is not a positive integer.

    See Also
    --------
    save, resample

    Examples
    --------
    >>> audio = load("mixture.wav")  # doctest: +SKIP
    >>> audio.samples.shape          # doctest: +SKIP
    (2, 441000)
    """
    path = _check_path_type(path)
    target_rate = None if sample_rate is None else _check_sample_rate(sample_rate)
    if not isinstance(allow_silent, (bool, np.bool_)):
        raise ParameterError(f"allow_silent must be True or False, got {allow_silent!r}")
    _check_readable(path)
    _check_decoded_size(path, target_rate)
    samples, native_rate = _read(path)
    _warn_if_cut_short(path, samples.shape[1], native_rate)

    n_channels, n_samples = samples.shape
    if n_samples == 0:
        raise AudioFileError(
            f"{path!r} contains no samples ({n_channels} channel(s) of 0 frames); "
            "re-export it or pass another file"
        )
    found = _first_nonfinite(samples)
    if found is not None:
        count, channel, index = found
        raise AudioFileError(
            f"{path!r} contains {count} NaN or infinite samples (first at channel "
            f"{channel}, sample {index}, {index / native_rate:.3f} s); repair or re-export it"
        )
    if not allow_silent and not np.any(samples):
        raise AudioFileError(
            f"{path!r} is silent (all {samples.size} samples are 0); "
            "check it is the right file, or pass allow_silent=True"
        )

    if target_rate is not None and target_rate != native_rate:
        samples = _resample_array(samples, native_rate, target_rate)
        native_rate = target_rate
    if samples.shape[1] < n_channels:
        # Audio would take such an array for a transposed (N, C) one; for a file the
        # only problem is that it is too short to be of any use.
        raise AudioFileError(
            f"{path!r} has {n_channels} channels of only {samples.shape[1]} sample(s) "
            f"at {native_rate} Hz; it is too short to separate"
        )
    return Audio(samples, native_rate, path=path)


def _check_decoded_size(path: str, target_rate: int | None) -> None:
    """Refuse, from its header, a file whose samples cannot fit in memory once decoded."""
    try:
        info = sf.info(path)
        frames, channels, rate = int(info.frames), int(info.channels), int(info.samplerate)
    except Exception:  # noqa: BLE001  (not for soundfile: _read says why, or librosa decodes it)
        return
    from ._budget import check_memory_bytes

    # float32 as read (N, C) and channels first (C, N); a resampled copy on top
    scale = 8 + (4 * target_rate / rate if target_rate and target_rate != rate else 0)
    check_memory_bytes(frames * channels * scale,
                       what=f"reading {path!r} ({frames / max(rate, 1) / 60:.1f} minutes, "
                            f"{channels} channels)",
                       advice="cut it into shorter files")


def _wav_shortfall(path: str):
    """``(declared, present)`` data bytes of a WAV file whose data chunk is cut short.

    libsndfile reads such a file up to its end without a word; the RIFF chunk header
    still says how long it was meant to be. None for anything else (and for the sizes
    0 and 0xFFFFFFFF that streaming writers put there when they do not know the length).
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            order = "<" if head[:4] == b"RIFF" else ">"
            position = 12
            while position + 8 <= size:
                handle.seek(position)
                chunk = handle.read(8)
                declared = struct.unpack(order + "I", chunk[4:8])[0]
                if chunk[:4] == b"data":
                    present = size - position - 8
                    if declared in (0, 0xFFFFFFFF) or declared <= present:
                        return None
                    return declared, present
                position += 8 + declared + (declared & 1)
    except (OSError, struct.error):
        return None
    return None


def _warn_if_cut_short(path: str, n_samples: int, sample_rate: int) -> None:
    shortfall = _wav_shortfall(path)
    if shortfall is None or n_samples == 0:
        return
    declared, present = shortfall
    seconds = n_samples / sample_rate
    warnings.warn(
        f"{path!r} is cut short: its header declares {seconds * declared / max(present, 1):.2f} s "
        f"of audio but the file holds {seconds:.2f} s; only those are used (re-export or "
        "copy the file again to get all of it)", stacklevel=3)


def _read(path: str) -> tuple[np.ndarray, int]:
    """Decode ``path`` to ``(float32 samples (C, N), sample rate)`` or raise AudioFileError."""
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as sf_err:
        # libsndfile does not read every format (e.g. MP4/AAC); librosa can hand those to
        # audioread/ffmpeg. Its fallback announces itself with warnings meant for
        # interactive use, and fails with whatever its backend raises (EOFError with no
        # message, NoBackendError, ...), hence the broad except: any failure here means
        # "cannot decode this file" and is reported with both causes.
        try:
            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, rate = librosa.load(path, sr=None, mono=False, dtype=np.float32)
        except Exception as lr_err:
            raise AudioFileError(
                f"{path!r} is not an audio file soundfile or librosa can read "
                f"(soundfile: {sf_err}; librosa: {type(lr_err).__name__}: {lr_err}); "
                "convert it to WAV or FLAC"
            ) from lr_err
        data = np.atleast_2d(np.asarray(data, dtype=np.float32))  # librosa: (N,) or (C, N)
        return data, int(rate)
    except OSError as err:  # permission denied and the like, if raised before libsndfile
        raise AudioFileError(f"{path!r} cannot be opened: {err}") from err
    # soundfile is frames first (N, C); nmfaudio is channels first.
    return np.ascontiguousarray(data.T), int(rate)


# --------------------------------------------------------------------------- resampling


def _resample_array(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    import librosa

    out = librosa.resample(
        samples, orig_sr=orig_rate, target_sr=target_rate, res_type=_RES_TYPE, axis=-1
    )
    return np.asarray(out, dtype=np.float32)


def resample(audio: Audio, sample_rate: int) -> Audio:
    """Change the sample rate of a recording (soxr, high quality, via librosa).

    Parameters
    ----------
    audio : Audio
        The recording, ``samples`` of shape ``(C, N)``.
    sample_rate : int > 0
        The new rate in Hz.

    Returns
    -------
    resampled : Audio
        ``samples`` of shape ``(C, ceil(N * sample_rate / audio.sample_rate))``, same
        ``path``. ``audio`` itself when the rate is already ``sample_rate`` (an
        ``Audio`` is immutable, so sharing it is safe).

    Raises
    ------
    ParameterError
        If ``audio`` is not an :class:`Audio` or ``sample_rate`` not a positive integer.

    Examples
    --------
    >>> import numpy as np
    >>> audio = Audio(np.ones((1, 44100), dtype=np.float32), 44100)
    >>> resample(audio, 22050).n_samples
    22050
    """
    if not isinstance(audio, Audio):
        raise ParameterError(
            f"audio must be an nmfaudio Audio (from load() or Audio(samples, sample_rate)), "
            f"got {type(audio).__name__}"
        )
    target_rate = _check_sample_rate(sample_rate)
    if target_rate == audio.sample_rate:
        return audio
    samples = _resample_array(audio.samples, audio.sample_rate, target_rate)
    return Audio(samples, target_rate, path=audio.path)


# --------------------------------------------------------------------------- saving


#: Bits of the integer subtypes, for :func:`round_together`.
_BITS = {"PCM_16": 16, "PCM_24": 24}


def round_together(signals, *, subtype: str, block: int = 1 << 16, out=None) -> np.ndarray:
    """Round S signals to an integer subtype's steps so that they still add up.

    libsndfile turns a float sample into a 16-bit one by rounding down, so each of S
    signals written on its own is off by up to a step, and their sum by up to S steps
    (12 sources of a 16-bit drum loop: 11 steps, 3.4e-4, seen): the files of a separation
    would no longer add up to the mixture. Here every sample of every signal is rounded
    to the nearest step within the subtype's range, and the difference between the
    rounded sum of the originals and the sum of the rounded signals (whole steps) is
    added to the signal that is loudest at that sample, where it is least audible (to
    the next loudest where that one has no room left before full scale). The rounded
    signals then add up to their own sum rounded to the nearest step: to a 16-bit
    mixture exactly, as long as the signals add up to it within half a step (separated
    sources do, to float32 rounding; a 24-bit step is finer than that, so 24-bit files
    may be a step off). Files written with ``subtype`` keep these values exactly
    (libsndfile writes and reads ``k / 2**(bits - 1)`` without change).

    Parameters
    ----------
    signals : np.ndarray, shape=(S, C, N), real floating, finite
        Not modified unless it is ``out``.
    subtype : {"PCM_16", "PCM_24", "FLOAT"}
        "FLOAT": the signals as float32, unrounded.
    block : int > 0
        Samples rounded at a time (bounds the float64 temporaries).
    out : np.ndarray, shape=(S, C, N), float32, optional
        Where to write the result (``signals`` itself is allowed: rounded in place).

    Returns
    -------
    np.ndarray, shape=(S, C, N), float32
        A sample beyond full scale is left as it is (the writer clips and counts it;
        the sum cannot hold there, and no leftover step is given out at that instant); a
        positive full-scale sample, which the subtype cannot hold, becomes its top step.

    Raises
    ------
    ParameterError
        ``signals`` not (S, C, N) with S >= 1, not real floating, or not finite; a bad
        ``subtype``, ``block`` or ``out``.
    """
    signals = np.asarray(signals)
    if signals.ndim != 3 or signals.shape[0] < 1:
        raise ParameterError(f"signals must have shape (S, C, N) with S >= 1, got {signals.shape}")
    if not np.issubdtype(signals.dtype, np.floating):
        raise ParameterError(f"signals must be real floating samples, got dtype {signals.dtype}")
    if subtype not in SUBTYPES:
        raise ParameterError(f"subtype must be one of {SUBTYPES}, got {subtype!r}")
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ParameterError(f"block must be a positive integer, got {block!r}")
    if out is None:
        out = np.empty(signals.shape, dtype=np.float32)
    elif not (isinstance(out, np.ndarray) and out.shape == signals.shape and out.dtype == np.float32):
        raise ParameterError(f"out must be a float32 array of shape {signals.shape}")
    scale = 2.0 ** (_BITS[subtype] - 1) if subtype in _BITS else None
    for a in range(0, signals.shape[2], block):
        part = signals[:, :, a:a + block]
        steps = None if scale is None else _rounded_block(
            np.multiply(part, scale, dtype=np.float64), scale)
        # NaN or inf in any signal makes the steps' sum over signals NaN or inf (float64
        # cannot overflow on float32 samples): one small check instead of a pass over all
        if not np.isfinite(part if steps is None else steps.sum(axis=0)).all():
            raise ParameterError("signals have NaN or infinite values; they cannot be rounded "
                                 "to add up")
        out[:, :, a:a + block] = part if steps is None else steps / scale
    return out


def _rounded_block(x: np.ndarray, scale: float) -> np.ndarray:
    """:func:`round_together` of one block, in steps: x shape=(S, C, n), float64."""
    top = scale - 1  # +1.0 is one step above what the subtype holds
    # the loudest signal of each sample, one signal at a time (contiguous, not strided)
    peak = np.abs(x[0])
    loudest = np.zeros(peak.shape, dtype=np.intp)
    for s in range(1, len(x)):
        level = np.abs(x[s])
        loudest[level > peak] = s
        np.maximum(peak, level, out=peak)
    steps = np.rint(x)
    # at most S/2 + 1 steps go to a signal: far enough from full scale, nothing to clamp
    near_full_scale = peak.max(initial=0.0) + len(x) / 2 + 1 >= top
    if near_full_scale:
        np.clip(steps, -scale, top, out=steps)
        missing = np.clip(np.rint(x.sum(axis=0)), -scale, top) - steps.sum(axis=0)
        beyond = peak > scale
        missing[beyond] = 0.0  # the writer clips there: no sum to keep
    else:
        missing = np.rint(x.sum(axis=0)) - steps.sum(axis=0)
    for s in range(len(x)):
        steps[s] += np.where(loudest == s, missing, 0.0)
    if not near_full_scale:
        return steps
    # where the loudest had no room for all of it, the rest goes down the order of loudness
    kept = np.clip(steps, -scale, top)
    left = (steps - kept).sum(axis=0)
    steps = kept
    if left.any():
        c, t = np.nonzero(left)
        order = np.argsort(-np.abs(x[:, c, t]), axis=0, kind="stable")
        rest = left[c, t]
        for rank in order:
            have = steps[rank, c, t]
            given = np.clip(have + rest, -scale, top) - have
            steps[rank, c, t] = have + given
            rest -= given
    return np.where(np.abs(x) <= scale, steps, x) if beyond.any() else steps


def _format_for(path: str, subtype: str) -> str:
    """The libsndfile major format for ``path``'s extension, checked against ``subtype``."""
    extension = os.path.splitext(path)[1]
    fmt = extension[1:].upper()
    if fmt not in sf.available_formats():
        raise ParameterError(
            f"cannot tell the audio format of {path!r} from its extension "
            f"{extension or '(none)'!r}; use a .wav or .flac file name"
        )
    if not sf.check_format(fmt, subtype):
        usable = [s for s in SUBTYPES if sf.check_format(fmt, s)]
        hint = f"use subtype {' or '.join(map(repr, usable))}" if usable else "use a .wav file"
        raise ParameterError(
            f"{fmt} files (here {path!r}) cannot hold subtype {subtype!r}; {hint}"
        )
    return fmt


def save(
    path,
    samples,
    sample_rate: int,
    *,
    subtype: str = "PCM_16",
    on_clip: str = "error",
    overwrite: bool = False,
) -> SaveReport:
    """Write audio to a file, atomically and without silent clipping.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its extension chooses the format (``.wav``, ``.flac``, ...).
        Its folder must exist: creating folders is the caller's decision.
    samples : np.ndarray [shape=(C, N) or (N,), real floating]
        The signal, channels first, nominally in ``[-1, 1]``. Not modified.
    sample_rate : int > 0
        Samples per second (Hz).
    subtype : {"PCM_16", "PCM_24", "FLOAT"}
        Sample encoding: 16- or 24-bit integers, or 32-bit floats (which can hold values
        beyond full scale, so ``on_clip`` does not apply).
    on_clip : {"error", "scale", "clip"}
        What to do, for an integer ``subtype``, when some ``|sample| > 1`` (beyond full
        scale): ``"error"`` (default) raises ParameterError, so that nothing is changed
        behind the caller's back; ``"scale"`` divides everything by the peak (reported as
        ``gain``; note that scaling one separated source alone breaks its sum with the
        others); ``"clip"`` clips those samples to ``±1`` (reported as ``n_clipped``).
        Separated sources can exceed full scale where they cancel in the mixture: write
        them with ``subtype="FLOAT"`` to keep them exactly.
    overwrite : bool
        Replace ``path`` if it exists. Off by default so a separation never destroys an
        input or an earlier result by accident.

    Returns
    -------
    report : SaveReport
        The path written, the input's peak, and the gain or clipping applied.

    Raises
    ------
    ParameterError
        For bad samples (see :func:`check_samples`), sample rate, subtype, on_clip, a
        subtype the format cannot hold, an unknown extension, or a peak beyond full scale
        with ``on_clip="error"``.
    AudioFileError
        Naming the file or folder, if ``path`` exists and ``overwrite`` is False, is a
        directory, its folder does not exist or is not writable, or writing fails.

    Notes
    -----
    The audio is written to a hidden temporary file in the same folder
    (``.NAME.tmp-XXXXXXXX``), flushed to disk, then renamed over ``path`` in one step
    (``os.replace``), so ``path`` holds either its old content or the complete new file,
    never a partial one. The temporary file is removed on any error, including
    ``KeyboardInterrupt``.

    Examples
    --------
    >>> import numpy as np
    >>> report = save("loud.wav", 2 * np.ones(100), 8000)  # doctest: +SKIP
    >>> report.peak, report.gain                              # doctest: +SKIP
    (2.0, 0.5)
    """
    path = _check_path_type(path)
    samples = check_samples(samples, source="samples")
    sample_rate = _check_sample_rate(sample_rate)
    if subtype not in SUBTYPES:
        raise ParameterError(f"subtype must be one of {SUBTYPES}, got {subtype!r}")
    if on_clip not in ON_CLIP:
        raise ParameterError(f"on_clip must be one of {ON_CLIP}, got {on_clip!r}")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise ParameterError(f"overwrite must be True or False, got {overwrite!r}")
    fmt = _format_for(path, subtype)

    peak = float(np.max(np.abs(samples)))
    gain, n_clipped = 1.0, 0
    if subtype != "FLOAT" and peak > 1.0:
        if on_clip == "error":
            raise ParameterError(
                f"samples for {path!r} peak at {peak:.6g}, beyond the full scale 1.0 of "
                f"subtype {subtype!r}; pass on_clip='scale' or on_clip='clip', "
                "or subtype='FLOAT'"
            )
        if on_clip == "scale":
            gain = 1.0 / peak
            # Dividing by the peak (rather than multiplying by gain) maps the peak to
            # exactly 1.0, so nothing is left for libsndfile to clip.
            samples = samples / np.float32(peak)
        else:
            n_clipped = int(np.count_nonzero(np.abs(samples) > 1.0))
            samples = np.clip(samples, -1.0, 1.0)

    check_destination(path, overwrite=overwrite)  # before any work on the samples' behalf
    _write_atomically(path, samples, sample_rate, subtype, fmt, overwrite=overwrite)
    return SaveReport(path=path, peak=peak, gain=gain, n_clipped=n_clipped)


class _Writes:
    """A file handle whose I/O returns instead of raising, keeping the first error.

    libsndfile calls ``write``, ``seek`` and ``tell`` through cffi callbacks: an OSError
    raised there (disk full, file too large) would be printed by cffi as a traceback,
    and soundfile would then fail with an AssertionError that says nothing. The kept
    error is raised once libsndfile has returned. The unbuffered file underneath is
    used, so that a failing write is reported by ``write`` itself, not by a later
    ``seek`` flushing a buffer.
    """

    def __init__(self, handle) -> None:
        self._handle = getattr(handle, "raw", handle)
        self.error: OSError | None = None

    def _call(self, name: str, *args):
        if self.error is None:
            try:
                return getattr(self._handle, name)(*args)
            except OSError as error:
                self.error = error
        return 0

    def write(self, data) -> int:
        # an unbuffered write may write part of the data (a nearly full disk), then fail
        view, done = memoryview(data).cast("B"), 0
        while self.error is None and done < len(view):
            written = self._call("write", view[done:])
            if not written and self.error is None:
                self.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done += written or 0
        return done

    def seek(self, *args) -> int:
        return self._call("seek", *args)

    def tell(self) -> int:
        return self._call("tell")

    def __getattr__(self, name):
        return getattr(self._handle, name)


def _write_atomically(path: str, samples: np.ndarray, sample_rate: int, subtype: str,
                      fmt: str, *, overwrite: bool) -> None:
    with atomic_write(path, overwrite=overwrite) as handle:
        target = _Writes(handle)
        try:
            with sf.SoundFile(target, mode="w", samplerate=sample_rate,
                              channels=samples.shape[0], subtype=subtype, format=fmt) as sound:
                sound.write(np.ascontiguousarray(samples.T))  # soundfile wants (N, C)
        except (AssertionError, RuntimeError, sf.SoundFileError) as error:
            if target.error is not None:
                raise target.error from None
            if isinstance(error, AssertionError):  # soundfile: fewer frames written than given
                raise AudioFileError(f"cannot write {path!r}: libsndfile stopped before the "
                                     "end of the samples") from None
            raise
        if target.error is not None:
            raise target.error


# --------------------------------------------------------------------------- streaming


class AudioReader:
    """A file read in blocks: ``read(start, stop)`` -> float32 samples (C, stop - start).

    What :mod:`nmfaudio.streaming` computes the STFT from, chunk by chunk, so that a
    recording never has to be in memory as a whole. Samples outside the file
    (``start < 0`` or ``stop > n_samples``) are zeros: the STFT's centre padding.

    Parameters
    ----------
    path : str or os.PathLike
        A file soundfile can read (WAV, FLAC, OGG, ...). Use :func:`open_source`, which
        falls back to decoding into memory for other formats.

    Attributes
    ----------
    n_channels, n_samples, sample_rate : int
    path : str

    Raises
    ------
    AudioFileError
        When the file is missing, unreadable, empty, or (from ``read``) holds NaN or
        infinite samples, naming the file and the position.
    """

    def __init__(self, path) -> None:
        path = _check_path_type(path)
        _check_readable(path)
        try:
            info = sf.info(path)
        except (sf.SoundFileError, RuntimeError) as err:
            raise AudioFileError(f"{path!r} is not an audio file soundfile can read ({err})") from err
        self.path = path
        self.n_channels = int(info.channels)
        self.n_samples = int(info.frames)
        self.sample_rate = int(info.samplerate)
        if self.n_samples == 0:
            raise AudioFileError(
                f"{path!r} contains no samples ({self.n_channels} channel(s) of 0 frames); "
                "re-export it or pass another file"
            )
        _warn_if_cut_short(path, self.n_samples, self.sample_rate)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.sample_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.zeros((self.n_channels, stop - start), dtype=np.float32)
        lo, hi = max(int(start), 0), min(int(stop), self.n_samples)
        if hi <= lo:
            return out
        try:
            with sf.SoundFile(self.path) as sound:
                sound.seek(lo)
                data = sound.read(hi - lo, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, OSError) as err:
            raise AudioFileError(f"{self.path!r} cannot be read at sample {lo}: {err}") from err
        if data.shape[0] != hi - lo:
            raise AudioFileError(
                f"{self.path!r} ended after {lo + data.shape[0]} samples, though its header "
                f"says {self.n_samples}; the file is truncated: re-export it"
            )
        found = _first_nonfinite(data.T)
        if found is not None:
            count, channel, index = found
            raise AudioFileError(
                f"{self.path!r} contains NaN or infinite samples (first at channel {channel}, "
                f"sample {lo + index}, {(lo + index) / self.sample_rate:.3f} s); repair or "
                "re-export it"
            )
        out[:, lo - start:hi - start] = data.T
        return out


def _check_readable(path: str) -> None:
    """Refuse a missing path, a folder or an unreadable file, naming it (load and the
    block reader share these checks)."""
    if not os.path.exists(path):
        raise AudioFileError(f"{path!r}: file does not exist; check the path")
    if os.path.isdir(path):
        raise AudioFileError(f"{path!r} is a directory, not an audio file; pass a file in it")
    if not os.access(path, os.R_OK):
        # libsndfile would only say "System error", which reads like a corrupt file.
        raise AudioFileError(f"{path!r} cannot be read: permission denied")


def open_source(path):
    """An :class:`AudioReader` for ``path``, or, for formats only librosa decodes (MP3,
    AAC...), the whole file decoded into memory (an :class:`Audio` with ``read``).

    Returns
    -------
    AudioReader or Audio
        Either has ``n_channels``, ``n_samples``, ``sample_rate``, ``path`` and
        ``read(start, stop)``.
    """
    path = _check_path_type(path)
    _check_readable(path)
    try:
        sf.info(path)
    except (sf.SoundFileError, RuntimeError):
        return load(path)
    return AudioReader(path)


class AudioWriter:
    """Write a file block by block, atomically: it appears under ``path`` only on ``close()``.

    The blocks go to a hidden temporary file beside ``path`` (as :func:`save` does);
    ``close()`` flushes, syncs and renames it, ``abort()`` (or any exception inside a
    ``with`` block) removes it, so an interrupted or failed run leaves nothing under the
    final name.

    Parameters
    ----------
    path : str or os.PathLike
        The final file; its extension chooses the format.
    n_channels, sample_rate : int
    subtype : {"PCM_16", "PCM_24", "FLOAT"}
    on_clip : {"clip", "error"}
        For integer subtypes, samples beyond full scale are clipped (and counted in
        ``n_clipped``) or raise ParameterError. (Scaling by the peak, as :func:`save`
        can, would need the whole signal before the first block is written.)
    overwrite : bool

    Attributes
    ----------
    peak : float
        Largest ``|sample|`` written so far (before clipping).
    n_clipped : int
        Samples clipped so far.
    """

    def __init__(self, path, *, n_channels: int, sample_rate: int, subtype: str = "PCM_16",
                 on_clip: str = "clip", overwrite: bool = False) -> None:
        from ._files import commit, temporary_name

        self.path = _check_path_type(path)
        self.sample_rate = _check_sample_rate(sample_rate)
        if subtype not in SUBTYPES:
            raise ParameterError(f"subtype must be one of {SUBTYPES}, got {subtype!r}")
        if on_clip not in ("clip", "error"):
            raise ParameterError(f"on_clip must be 'clip' or 'error' when writing in blocks, got {on_clip!r}")
        fmt = _format_for(self.path, subtype)
        check_destination(self.path, overwrite=overwrite)
        self.subtype, self.on_clip, self.overwrite = subtype, on_clip, overwrite
        self.n_channels = int(n_channels)
        self.peak, self.n_clipped, self.n_written = 0.0, 0, 0
        self._commit = commit
        try:
            self._tmp, fd = temporary_name(self.path)
        except OSError as err:
            raise AudioFileError(f"cannot write {self.path!r}: {err.strerror or err}") from err
        self._handle = os.fdopen(fd, "wb")
        # through a Python handle that keeps OS errors (disk full) to report them by name
        self._target = _Writes(self._handle)
        try:
            self._sound = sf.SoundFile(self._target, mode="w", samplerate=self.sample_rate,
                                       channels=self.n_channels, subtype=subtype, format=fmt)
        except (sf.SoundFileError, RuntimeError, OSError, AssertionError) as err:
            self.abort()
            raise self._error(err) from (self._target.error or err)

    def _error(self, err) -> AudioFileError:
        cause = self._target.error or err
        return AudioFileError(f"cannot write {self.path!r}: "
                              f"{getattr(cause, 'strerror', None) or cause}")

    def _check_io(self) -> None:
        if self._target.error is not None:
            error = self._error(self._target.error)
            cause = self._target.error
            self.abort()
            raise error from cause

    def write(self, block: np.ndarray) -> None:
        """Append samples of shape (C, n)."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self.n_channels:
            raise ParameterError(f"block must have shape ({self.n_channels}, n), got {block.shape}")
        if block.shape[1] == 0:
            return
        self.peak = max(self.peak, float(np.max(np.abs(block))))
        if self.subtype != "FLOAT" and self.peak > 1.0:
            beyond = np.abs(block) > 1.0
            if beyond.any():
                if self.on_clip == "error":
                    self.abort()
                    raise ParameterError(
                        f"samples for {self.path!r} peak at {self.peak:.6g}, beyond the full "
                        f"scale 1.0 of subtype {self.subtype!r}; use subtype='FLOAT'")
                self.n_clipped += int(np.count_nonzero(beyond))
                block = np.clip(block, -1.0, 1.0)
        try:
            self._sound.write(np.ascontiguousarray(block.T))
        except (sf.SoundFileError, RuntimeError, OSError, AssertionError) as err:
            error, cause = self._error(err), self._target.error or err
            self.abort()
            raise error from cause
        self._check_io()
        self.n_written += block.shape[1]

    def close(self) -> SaveReport:
        """Finish the file and give it its final name."""
        try:
            self._sound.close()  # writes the final header
            self._check_io()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._commit(self._tmp, self.path, overwrite=self.overwrite)
        except (OSError, RuntimeError, AssertionError) as err:
            error, cause = self._error(err), self._target.error or err
            self.abort()
            raise error from cause
        return SaveReport(path=self.path, peak=self.peak, gain=1.0, n_clipped=self.n_clipped)

    def abort(self) -> None:
        """Remove the temporary file; nothing appears under ``path``."""
        for closing in (getattr(self, "_sound", None), self._handle):
            try:
                if closing is not None:
                    closing.close()
            except Exception:  # noqa: BLE001  (best effort while already failing)
                pass
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        try:
            os.unlink(self._tmp)
        except OSError:
            pass

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.abort()
