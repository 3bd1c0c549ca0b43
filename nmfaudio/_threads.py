"""Thread pools of one worker process, held to its share of the cores.

A process that runs next to others (a ``--jobs`` worker, a Dask worker) must keep every
thread pool it has to its share of the cores; otherwise each pool starts one thread per
core and the threads of all the workers spin against each other (measured on 2 cores:
``--jobs 2`` was several times slower than ``--jobs 1`` with the user CPU time of ten
files spent per file). The pools of this package's dependencies:

- BLAS (OpenBLAS or MKL, used by numpy and scipy) and OpenMP (used by scikit-learn's
  compiled parts, sometimes by BLAS): through threadpoolctl, which reaches every loaded
  copy;
- numba (librosa's compiled helpers): ``numba.set_num_threads`` when numba is loaded,
  and ``NUMBA_NUM_THREADS`` for a numba imported later;
- the environment variables every pool reads when it starts (``OMP_NUM_THREADS``,
  ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``), for libraries loaded afterwards;
- the NMF's own lanes (:func:`nmfaudio.factorization.nmf` with ``n_threads=None``), which
  follow :func:`thread_share`.

FFTs (numpy.fft and scipy.fft, used by librosa) run in the calling thread unless given
``workers``, which nothing in nmfaudio does, so they have no pool to limit.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Optional

__all__ = ["limit_threads", "thread_share", "warm_up"]

_ENV_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "NUMBA_NUM_THREADS")

_lock = threading.Lock()
_share: Optional[int] = None
_limits = None  # the threadpoolctl limiter, kept so that its limits are not undone
_warm = False


def thread_share() -> Optional[int]:
    """The number of threads this process was limited to by :func:`limit_threads`, if any."""
    return _share


def limit_threads(n_threads: int) -> int:
    """Hold every thread pool of this process to ``n_threads`` threads, for good.

    Call it first thing in a worker process (e.g. from a ``ProcessPoolExecutor``
    initializer, or a Dask worker plugin), with the worker's share of the cores:
    ``usable_cores() // n_workers``, at least 1.

    Parameters
    ----------
    n_threads : int >= 1
        Threads each pool may run.

    Returns
    -------
    int
        ``n_threads``.

    Raises
    ------
    ParameterError
        If ``n_threads`` is not a positive integer.
    """
    from .errors import ParameterError

    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise ParameterError(f"n_threads must be a positive integer, got {n_threads!r}")
    global _share, _limits
    with _lock:
        _share = n_threads
        for name in _ENV_VARIABLES:  # pools started from now on
            os.environ[name] = str(n_threads)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - a dependency
            _limits = None
        else:
            _limits = threadpool_limits(limits=n_threads)  # BLAS and OpenMP, every copy
        numba = sys.modules.get("numba")
        if numba is not None:
            # numba's pool cannot grow past the size it was loaded with
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    return n_threads


def warm_up() -> None:
    """Import and run once, on a tiny signal, what a separation runs: the streamed
    separation of :mod:`nmfaudio.chunked` (its STFT, NMF, grouping, masks and inverse
    STFT, and scipy.signal's windows) into memory sinks.

    A worker pays these imports (0.7 s or so) here, once, before its first file rather
    than on it. The streamed path does not use librosa, so librosa is not loaded here:
    warming it up instead cost each worker 1.1 s for nothing (measured: --jobs 2 over
    20 files of 10 s, 1.4 s of fixed cost against 0.5 s for --jobs 1). Idempotent.
    """
    global _warm
    if _warm:
        return
    import numpy as np

    from .audio import Audio
    from .chunked import ArraySink, separate_stream
    from .pipeline import separation_settings
    from .spectral import STFTConfig

    rate = 8000
    t = np.arange(4096, dtype=np.float32) / rate
    tone = Audio(np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]), rate)
    settings = separation_settings(n_sources=2, n_components=4, stft=STFTConfig(n_fft=256, hop_length=64))
    separate_stream(tone, settings, [ArraySink(), ArraySink()], sample_rate=rate, n_iter=2,
                    n_threads=1)
    _warm = True
