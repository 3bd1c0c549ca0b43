"""Memory estimates of a run, made before any work, so that a run that cannot fit is
refused at once with a clear message instead of failing minutes later (or swapping).

The estimates count the large arrays a run holds at once: the audio, the complex STFT
``X`` (C, F, T), the spectrogram ``V`` (F, T), the NMF factors and their per-thread
buffers, the (F, K) float64 temporaries of the template update, the (K, K) distance
matrices of the unsupervised grouping, and the per-source masks and spectra. They
err on the high side (arrays that are freed before others are allocated are counted
together) and leave out everything of the size of a block or smaller.

What is available is the least of:

- ``MemAvailable`` of ``/proc/meminfo`` (``os.sysconf`` where there is no /proc);
- the address-space limit of this process (``ulimit -v``, ``RLIMIT_AS``) minus what it
  already maps;
- the memory limit of its control group (cgroup v2 ``memory.max`` minus
  ``memory.current``), as in containers.

A run may use :data:`MARGIN` of it: the rest is left for what the estimate does not
count (the interpreter, libraries, block buffers) and for other programs.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field

from .errors import InsufficientMemoryError

__all__ = ["MARGIN", "MemoryEstimate", "available_bytes", "separation_estimate",
           "learning_estimate", "nmf_estimate", "check_memory", "check_memory_bytes",
           "format_bytes"]

#: Share of the available memory a run may plan to use.
MARGIN = 0.8


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of a run, in bytes, by part.

    Attributes
    ----------
    parts : dict of str to int
        ``"audio"`` (samples), ``"spectrogram"`` (STFT, V, masks: everything of size
        F x T), ``"nmf"`` (factors and update buffers: F x K and K x T), ``"grouping"``
        (K x K distances).
    frames : int
        T, the number of STFT frames.
    """

    parts: dict = field(default_factory=dict)
    frames: int = 0

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()))

    @property
    def largest(self) -> str:
        """The part that needs the most memory: the one worth changing."""
        return max(self.parts, key=self.parts.get)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = 0
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    mapped = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(soft - mapped, 0)


def _cgroup_left() -> int | None:
    try:
        with open("/proc/self/cgroup", encoding="ascii") as handle:
            relative = next((line.strip().split(":", 2)[2] for line in handle
                             if line.startswith("0::")), None)
        if relative is None:
            return None
        folder = os.path.join("/sys/fs/cgroup", relative.lstrip("/"))
        with open(os.path.join(folder, "memory.max"), encoding="ascii") as handle:
            limit = handle.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(folder, "memory.current"), encoding="ascii") as handle:
            current = int(handle.read().strip())
        return max(int(limit) - current, 0)
    except (OSError, ValueError, IndexError):
        return None


def available_bytes() -> int | None:
    """Memory this process can still use, in bytes (None when it cannot be told)."""
    known = [v for v in (_meminfo_available(), _address_space_left(), _cgroup_left())
             if v is not None]
    return min(known) if known else None


def format_bytes(n: float) -> str:
    """``1.5 GB``, ``320 MB``: sizes in messages."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{max(n, 0) / 1e3:.3g} kB"


def _frames(n_samples: int, hop_length: int) -> int:
    return 1 + int(n_samples) // int(hop_length)  # centred frames, as spectral.stft


def nmf_estimate(n_bins: int, n_frames: int, n_components: int, *, n_free: int | None = None,
                 itemsize: int = 4, beta: float = 1.0, n_threads: int = 2,
                 nndsvda: bool = False) -> int:
    """Bytes :func:`nmfaudio.factorization.nmf` holds for V (F, T) and K components.

    ``n_free`` components are learned (default all K); ``n_threads`` lanes each keep
    their own partial sums of the template update.
    """
    F, T, K = int(n_bins), int(n_frames), int(n_components)
    Kf = K if n_free is None else int(n_free)
    lanes = max(int(n_threads), 1)
    factors = itemsize * (2 * F * K + K * T)  # W, [W | eps], H
    # per lane: numerator and denominator of the W update, HHt for the Euclidean case
    partials = (lanes + 1) * (itemsize * 2 * F * Kf + (8 * Kf * K if beta == 2.0 else 0))
    update = 6 * 8 * F * Kf  # float64 temporaries of the template update
    gram = itemsize * K * K if beta == 2.0 else 0
    blocks = lanes * itemsize * (K + 1) * 64
    # random initial factors are drawn in float64 (two arrays at once); NNDSVDa works on
    # a float64 copy of V and float64 factors
    init = 16 * (F * Kf + K * T) + (8 * (F * T + F * K + K * T) if nndsvda else 0)
    return factors + partials + update + gram + blocks + init


def separation_estimate(n_samples: int, n_channels: int, *, n_fft: int, hop_length: int,
                        n_components: int, n_sources: int, n_free: int | None = None,
                        supervised: bool = False, beta: float = 1.0, n_threads: int = 2,
                        itemsize: int = 4, resampled_samples: int | None = None,
                        components_out: bool = False) -> MemoryEstimate:
    """Peak memory of :func:`nmfaudio.pipeline.separate` on a recording of this size.

    Parameters
    ----------
    n_samples, n_channels : int
        The mixture's length and channels (at the rate the separation runs at).
    n_fft, hop_length : int
        The STFT.
    n_components, n_sources : int
        K (all components, fixed and learned) and S.
    n_free : int, optional
        Learned components (supervised: the free ones; default all K).
    supervised : bool
        No grouping with dictionaries.
    resampled_samples : int, optional
        The mixture's length at its own rate, when it is resampled to the dictionaries'.
    components_out : bool
        The command line also writes one signal per component.
    """
    C, N, K, S = int(n_channels), int(n_samples), int(n_components), int(n_sources)
    F, T = int(n_fft) // 2 + 1, _frames(N, hop_length)
    audio = 4 * C * N * (3 if resampled_samples is None else 3 + 2 * int(resampled_samples) / N)
    # X (complex64), |X| and V, the models and masks of every source, the masked spectra
    # of all sources (shared masks) and the inverse STFT's buffers
    spectra = C * F * T * 8 + C * F * T * 4 + F * T * 4 + 3 * S * F * T * 4 \
        + S * C * F * T * 8 + 2 * F * T * 8 + 2 * S * C * N * 4
    if components_out:
        spectra += K * C * N * 4 + 2 * F * T * 8
    parts = {"audio": int(audio), "spectrogram": int(spectra),
             "nmf": nmf_estimate(F, T, K, n_free=n_free, itemsize=itemsize, beta=beta,
                                 n_threads=n_threads, nndsvda=not supervised)}
    if not supervised:
        # distance matrices (spectral, temporal, combined, spatial), log-activations,
        # and the stereo balance's two (F, T) ratios; one channel: the harmonic/
        # percussive grouping's mask, median filters and statistics beside what the
        # masks need anyway (measured: 3 minutes at 22.05 kHz, S = 3, peak 950 MB
        # against 791 with the timbre clustering, 5 float32 (F, T) arrays)
        parts["grouping"] = 8 * (8 * K * K + K * T) + (3 * F * T * 8 if C > 1 else 5 * F * T * 4)
    return MemoryEstimate(parts=parts, frames=T)


def learning_estimate(frames, n_channels: int, *, n_fft: int, n_components: int,
                      beta: float = 1.0, n_threads: int = 2, itemsize: int = 4) -> MemoryEstimate:
    """Peak memory of :func:`nmfaudio.dictionary.learn_dictionary` (after reading the audio).

    Parameters
    ----------
    frames : sequence of int
        STFT frames of each training recording (their spectrograms are concatenated).
    n_channels : int
        Most channels of a recording (its complex STFT is held while V is made).
    """
    F, T, K = int(n_fft) // 2 + 1, int(sum(frames)), int(n_components)
    longest = max(frames)
    spectra = int(n_channels) * F * longest * 12 + 2 * F * T * 4  # one X and |X|; V twice
    return MemoryEstimate(parts={"spectrogram": spectra,
                                 "nmf": nmf_estimate(F, T, K, itemsize=itemsize, beta=beta,
                                                     n_threads=n_threads)}, frames=T)


def check_memory_bytes(total: int, *, what: str, advice: str = "",
                       available: int | None = None) -> None:
    """Raise :class:`InsufficientMemoryError` if ``total`` bytes cannot fit."""
    check_memory(MemoryEstimate(parts={"data": int(total)}), what=what,
                 advice={"data": advice}, available=available)


def check_memory(estimate: MemoryEstimate, *, what: str, advice: dict,
                 available: int | None = None) -> None:
    """Raise :class:`InsufficientMemoryError` if ``estimate`` cannot fit.

    Parameters
    ----------
    estimate : MemoryEstimate
    what : str
        The run, for the message (e.g. ``"separating 'mix.wav'"``).
    advice : dict of str to str
        What to change, by part of the estimate; the largest part's advice is given.
    available : int, optional
        Bytes available (default: :func:`available_bytes`).
    """
    available = available_bytes() if available is None else available
    if available is None or estimate.total <= MARGIN * available:
        return
    part = estimate.largest
    hint = advice.get(part) or next(iter(advice.values()), "")
    share = (f" ({format_bytes(estimate.parts[part])} for {_PART_NAMES.get(part, part)})"
             if len(estimate.parts) > 1 else "")
    raise InsufficientMemoryError(
        f"{what} would need about {format_bytes(estimate.total)} of memory{share}, but only "
        f"{format_bytes(available)} are available{'; ' + hint if hint else ''}")


_PART_NAMES = {"audio": "the audio", "spectrogram": "the spectrograms and masks",
               "nmf": "the NMF", "grouping": "grouping the components"}
