"""The STFT and its inverse, chunk by chunk, for recordings of any length.

A long recording never has to be in memory as a whole: its STFT is computed a chunk of
frames at a time, from just the samples those frames cover, and the inverse STFT is
accumulated by overlap-add and handed out as soon as each stretch of samples is
complete. Both are exact at the seams:

- :func:`stft_frames` gives frames ``t0..t1`` of the STFT of the whole signal, equal to
  ``spectral.stft(x, config)[..., t0:t1]`` (``center=True`` included: the zero padding
  of the ends is applied where the whole signal would have it) to float rounding;
- :class:`OverlapAdd` takes the frames of an STFT in consecutive chunks and returns the
  samples of ``spectral.istft(X, config, length=N)`` in consecutive blocks, including
  the division by the summed squared window, to float rounding. Because it is linear,
  masked STFTs that sum to the mixture's STFT give signals that sum to the mixture, with
  no seam anywhere.

Audio comes from a :class:`SampleSource` (anything with ``n_channels``, ``n_samples``
and ``read(start, stop)``), so this module knows no files: an in-memory
recording (:class:`nmfaudio.audio.Audio`) or a file read in blocks
(:class:`nmfaudio.audio.AudioReader`).

Shapes: audio ``(C, N)``, STFT ``(..., F, T)`` as in :mod:`nmfaudio.spectral`.
"""

from __future__ import annotations

import math
from typing import Iterator, Protocol, Tuple

import numpy as np

from .errors import ParameterError
from .spectral import STFTConfig, _check_config, frames_within, window_values

__all__ = [
    "SampleSource",
    "n_frames",
    "chunk_ranges",
    "stft_frames",
    "stft_chunks",
    "OverlapAdd",
    "DEFAULT_CHUNK_FRAMES",
    "default_chunk_frames",
]

#: Frames per chunk by default: 512 frames of a 2048-point STFT of stereo audio are an
#: 8 MB complex chunk, small beside any model, large enough that the per-chunk Python
#: overhead is negligible (about 6 s of 44.1 kHz audio with a 512 hop).
DEFAULT_CHUNK_FRAMES = 512


def default_chunk_frames(n_bins: int) -> int:
    """Frames per chunk at an STFT of ``n_bins`` frequencies: :data:`DEFAULT_CHUNK_FRAMES`
    up to 1025 bins (n_fft 2048), fewer beyond, so that a chunk holds no more values: a
    dictionary's 8192-point frames (4097 bins) read 128 frames at a time, the same 6 s
    of 44.1 kHz audio (512 of them held 2.3 times the memory of the whole separation)."""
    return frames_within(DEFAULT_CHUNK_FRAMES, n_bins)


class SampleSource(Protocol):
    """Where :func:`stft_frames` reads audio: ``read(start, stop)`` -> (C, stop - start).

    ``start`` may be negative and ``stop`` beyond ``n_samples``: samples outside
    ``[0, n_samples)`` are zeros (the STFT's centre padding).
    """

    n_channels: int
    n_samples: int

    def read(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - protocol
        ...


def _pad(config: STFTConfig) -> int:
    return config.n_fft // 2 if config.center else 0


def n_frames(n_samples: int, config: STFTConfig) -> int:
    """T, the number of frames :func:`nmfaudio.spectral.stft` gives for ``n_samples``.

    Parameters
    ----------
    n_samples : int >= config.n_fft
    config : STFTConfig

    Returns
    -------
    int
        ``1 + (n_samples + 2 * pad - n_fft) // hop_length`` with ``pad = n_fft // 2``
        for ``center=True`` and 0 otherwise (``1 + n_samples // hop`` for even n_fft).
    """
    config = _check_config(config)
    if n_samples < config.n_fft:
        raise ParameterError(
            f"a signal of {n_samples} samples is shorter than one STFT frame "
            f"(n_fft={config.n_fft}); use a smaller n_fft or a longer signal"
        )
    return 1 + (int(n_samples) + 2 * _pad(config) - config.n_fft) // config.hop_length


def chunk_ranges(total: int, chunk: int) -> list:
    """``[(0, chunk), (chunk, 2 chunk), ..., (.., total)]``: consecutive half-open ranges."""
    if not isinstance(chunk, (int, np.integer)) or isinstance(chunk, bool) or chunk < 1:
        raise ParameterError(f"chunk_frames must be a positive integer, got {chunk!r}")
    return [(a, min(a + int(chunk), total)) for a in range(0, int(total), int(chunk))]


def _analysis_window(config: STFTConfig) -> np.ndarray:
    """The STFT window as librosa applies it: float64, shape=(n_fft, 1)."""
    return window_values(config.window, config.n_fft)[:, None]


#: Frames transformed at once inside :func:`stft_frames`: bounds its float64 temporaries
#: (64 frames of 2048 points of stereo are 2 MB) whatever the chunk size.
_FFT_BLOCK = 64


def stft_frames(source: SampleSource, config: STFTConfig, t0: int, t1: int) -> np.ndarray:
    """Frames ``t0 <= t < t1`` of the STFT of the whole signal of ``source``.

    Frame t covers the padded samples ``[t hop, t hop + n_fft)``, that is the signal's
    samples from ``t hop - pad`` on; exactly those are read (zeros beyond the ends, as
    librosa's constant centre padding) and transformed as :func:`librosa.stft` does
    (the float64 window times the frame, numpy's real FFT, stored as complex64), without
    importing librosa: its lazy modules and JIT compilation cost about 130 MB of
    resident memory, more than a chunk of the STFT.

    Returns
    -------
    X : np.ndarray, shape=(C, F, t1 - t0), complex64
    """
    hop, n_fft = config.hop_length, config.n_fft
    start = t0 * hop - _pad(config)
    segment = source.read(start, start + (t1 - t0 - 1) * hop + n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(segment, n_fft, axis=-1)[..., ::hop, :]
    frames = np.swapaxes(frames, -1, -2)  # (C, n_fft, n): librosa's layout
    window = _analysis_window(config)
    X = np.empty(segment.shape[:-1] + (config.n_bins, t1 - t0), dtype=np.complex64)
    for a in range(0, t1 - t0, _FFT_BLOCK):
        b = min(a + _FFT_BLOCK, t1 - t0)
        # samples beyond float32's range once transformed become inf here, which the
        # separation refuses as too loud (nmfaudio.pipeline.check_level), without a warning
        with np.errstate(over="ignore"):
            X[..., a:b] = np.fft.rfft(window * frames[..., a:b], axis=-2)
    return X


def stft_chunks(source: SampleSource, config: STFTConfig, *,
                chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> Iterator[Tuple[int, int, np.ndarray]]:
    """The whole STFT of ``source``, as ``(t0, t1, X[..., t0:t1])`` chunks in order.

    Each chunk reads only the samples its frames cover (``(t1 - t0 - 1) hop + n_fft``),
    so memory is one chunk whatever the length of the recording.
    """
    config = _check_config(config)
    total = n_frames(source.n_samples, config)
    for t0, t1 in chunk_ranges(total, chunk_frames):
        yield t0, t1, stft_frames(source, config, t0, t1)


class OverlapAdd:
    """The inverse STFT of frames given chunk by chunk, as consecutive blocks of samples.

    ``push(X_chunk)`` takes the next frames (any number, shape (..., F, n)) and returns
    the output samples that no later frame can change any more, shape (..., m) with
    m >= 0; ``finish()`` returns the rest. Concatenated, the blocks equal
    ``spectral.istft(X, config, length=length)`` to float rounding, where X is the
    concatenation of the chunks: the same windowed inverse FFT of every frame, the same
    overlap-add, the same division by the summed squared window (where it exceeds the
    smallest normal float, as librosa does), the same treatment of frames beyond
    ``length``. At most ``n_fft`` samples of each channel are held between calls.

    Parameters
    ----------
    config : STFTConfig
        The STFT the frames come from.
    n_frames : int
        T, the total number of frames that will be pushed.
    length : int
        N, the number of output samples (the length of the analysed signal).
    shape : tuple of int
        The leading axes of every chunk, e.g. ``(S, C)``.
    """

    def __init__(self, config: STFTConfig, *, n_frames: int, length: int, shape=()) -> None:
        self.config = _check_config(config)
        hop, n_fft, pad = config.hop_length, config.n_fft, _pad(config)
        if length < 1 or n_frames < 1:
            raise ParameterError(f"length and n_frames must be positive, got {length}, {n_frames}")
        padded_length = length + 2 * pad
        # librosa.istft(length=...) drops the frames that lie wholly beyond the output
        self.n_used = min(int(n_frames), math.ceil(padded_length / hop))
        self.n_frames, self.length, self.shape = int(n_frames), int(length), tuple(shape)
        window = window_values(config.window, n_fft)
        self._window = window.astype(np.float32)[:, None]
        self._win_sq = (window ** 2).astype(np.float32)
        self._pad = pad
        self._next = 0          # index of the next frame to be pushed
        self._emitted = 0       # output samples handed out so far
        self._base = 0          # padded index of the first sample in the carry buffers
        self._carry = np.zeros(self.shape + (0,), dtype=np.float32)
        self._carry_env = np.zeros(0, dtype=np.float32)
        self._tiny = np.finfo(np.float32).tiny
        self._finished = False

    @staticmethod
    def _add_frames(out: np.ndarray, frames: np.ndarray, hop: int) -> None:
        """out[..., t hop : t hop + n_fft] += frames[..., :, t] for every t (vectorized).

        Frame t's j-th hop-long piece lands at (t + j) hop, so all frames' j-th pieces
        form one contiguous run starting at j hop: ceil(n_fft / hop) additions in all.
        """
        n_fft, n = frames.shape[-2], frames.shape[-1]
        for j in range(math.ceil(n_fft / hop)):
            rows = frames[..., j * hop:(j + 1) * hop, :]          # (..., r, n), r <= hop
            r = rows.shape[-2]
            if r == hop:
                piece = np.swapaxes(rows, -1, -2).reshape(rows.shape[:-2] + (n * hop,))
                out[..., j * hop:j * hop + n * hop] += piece
            else:  # the last, shorter piece (n_fft not a multiple of hop)
                for t in range(n):
                    out[..., (t + j) * hop:(t + j) * hop + r] += rows[..., :, t]

    def push(self, X: np.ndarray) -> np.ndarray:
        """Add the next chunk of frames; return the output samples now complete."""
        X = np.asarray(X)
        if X.shape[:-2] != self.shape or X.shape[-2] != self.config.n_bins:
            raise ParameterError(
                f"chunk has shape {X.shape}; expected {self.shape + (self.config.n_bins,)} "
                "followed by the number of frames"
            )
        n = X.shape[-1]
        t0 = self._next
        if t0 + n > self.n_frames:
            raise ParameterError(f"{t0 + n} frames pushed, more than n_frames={self.n_frames}")
        self._next += n
        n_keep = max(0, min(n, self.n_used - t0))
        hop, n_fft = self.config.hop_length, self.config.n_fft
        if n_keep > 0:
            frames = np.fft.irfft(X[..., :n_keep], n=n_fft, axis=-2).astype(np.float32, copy=False)
            frames *= self._window
            width = (n_keep - 1) * hop + n_fft
            acc = np.zeros(self.shape + (width,), dtype=np.float32)
            env = np.zeros(width, dtype=np.float32)
            acc[..., :self._carry.shape[-1]] += self._carry
            env[:self._carry_env.shape[-1]] += self._carry_env
            self._add_frames(acc, frames, hop)
            self._add_frames(env, np.broadcast_to(self._win_sq[:, None], (n_fft, n_keep)), hop)
            self._carry, self._carry_env = acc, env
        if self._next >= self.n_used:
            # no frame still to come adds to the output: everything carried is final
            return self._emit(self._carry.shape[-1])
        # padded samples before the start of the next frame are final
        return self._emit(self._next * hop - self._base)

    def _emit(self, count: int) -> np.ndarray:
        """Normalize and hand out the first ``count`` carried samples (padded coordinates)."""
        block = self._carry[..., :count]
        env = self._carry_env[:count]
        nonzero = env > self._tiny
        block = np.divide(block, env, out=np.array(block), where=nonzero)
        start = self._base  # padded index of block[..., 0]
        self._carry = self._carry[..., count:]
        self._carry_env = self._carry_env[count:]
        self._base += count
        # padded index p is output sample p - pad; keep only [emitted, length)
        lo = max(self._emitted + self._pad - start, 0)
        hi = min(self.length + self._pad - start, count)
        out = block[..., lo:hi] if hi > lo else block[..., :0]
        self._emitted += out.shape[-1]
        return np.ascontiguousarray(out)

    def finish(self) -> np.ndarray:
        """The remaining output samples (zeros where no frame reaches, as librosa)."""
        if self._next < self.n_frames:
            raise ParameterError(
                f"only {self._next} of {self.n_frames} frames were pushed; push them all first"
            )
        if self._finished:
            raise ParameterError("finish() was already called")
        self._finished = True
        out = self._emit(self._carry.shape[-1])
        missing = self.length - self._emitted
        if missing > 0:
            out = np.concatenate([out, np.zeros(self.shape + (missing,), dtype=np.float32)], axis=-1)
            self._emitted = self.length
        return out
