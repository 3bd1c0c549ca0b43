"""Speed, memory and accuracy of nmfaudio's NMF against scikit-learn and a BLAS floor.

Usage::

    python benchmarks/bench_nmf.py [--quick] [--repeats N] [--json out.json]
                                   [--sections base long quality stages batch]

What is measured
----------------
Input. ``V`` is the magnitude STFT (n_fft 2048, hop 1024, Hann, centred frames) of real
audio: every ``*/mixture.wav`` and ``*/train/*.wav`` of the shared recordings (sorted by
path), each mixed to mono and resampled to 44.1 kHz by librosa (``soxr_hq``), concatenated
and then cut or looped to the length needed. 60 s give ``V`` of shape 1025 x 2584. The
recordings are read from ``NMFAUDIO_SHARED_AUDIO`` if set, else ``../shared/audio`` next
to the checkout; without them the script says so and exits with status 2.

Contenders, all from the same ``V`` and the same initial ``W0`` (F x K), ``H0`` (K x T)
drawn once from a seeded ``numpy.random.Generator`` (K = 32):

- ours: ``nmfaudio.nmf(V, templates=W0, activations=H0, beta=..., n_iter=N, tol=0,
  dtype=...)`` with its defaults otherwise (``check_every=10``, one lane per core);
- sklearn: ``NMF(n_components=32, solver="mu", beta_loss=..., init="custom", tol=0,
  max_iter=N).fit_transform(V, W=W0.copy(), H=H0.copy())``. scikit-learn factorizes
  ``X ~ W H`` with ``X`` of shape (n_samples, n_features) = (F, T), so its W is our
  templates and its H (``components_``) our activations. With ``tol=0`` it never tests
  convergence inside the loop (it still computes the loss at the start and at the end),
  runs exactly ``max_iter`` iterations (checked through ``n_iter_``) and raises no
  ConvergenceWarning (silenced anyway);
- floor: the four matrix products one KL iteration needs, ``W @ H``, ``W.T @ R``,
  ``W @ H`` again and ``R @ H.T`` (six for IS: ``W.T @`` and ``@ H.T`` twice each), on
  full F x T matrices with numpy
  (output of ``W @ H`` preallocated), timed alone: no elementwise work, no allocation.
  It is timed twice, with numpy's default BLAS threads and with BLAS limited to one
  thread (on a busy 2-core machine a 2-thread BLAS can be several times slower than one
  thread); the faster median is the floor that ours/floor is taken against.

Both fits are run in float32 and float64 (V, W0 and H0 passed in that dtype, so neither
makes a copy of V), for KL (beta = 1) and IS (beta = 0). Each contender gets V in the
layout it runs fastest on (``layout_for``): ours in Fortran order, the layout of
``np.abs(librosa.stft(y))`` and of ``nmfaudio.spectral.spectrogram``; scikit-learn and the
floor in C order (scikit-learn's MU ran 2.2x slower on a Fortran-ordered V). Every timed
run starts after a pause of ``BLAS_IDLE_SECONDS`` (see there).

Timing. Wall-clock time (``time.perf_counter``) of the whole call, divided by the number
of iterations: ms per iteration, including each side's input checks and loss evaluations.
Every contender is first run once untimed for 2 iterations (warm-up). Then the runs are
interleaved (floor, 1-thread floor, ours, sklearn, ours, sklearn, ..., then the next
repeat), so that load from other processes on the machine hits all contenders alike; the
median over the repeats is reported, with the fastest-run ratio and the spread (max / min)
as noise indicators, and the load average. Caution: on a busy machine a multithreaded BLAS
(scikit-learn, the floor) loses far more than our one-BLAS-thread-per-lane design, so the
default-thread speed-ups there overstate the difference; ``--threads 1`` compares the work
per iteration on equal terms.

Memory. A separate run of each fit (at most 20 iterations, enough to cover our loss
checks every 10 iterations and scikit-learn's loss at start and end) under
``tracemalloc``, which numpy reports its array buffers to: peak traced memory minus the
traced memory before the call, in MB (10^6 bytes) and in units of one F x T array of the
fit's dtype. Inputs made before the call (V, W0, H0) are not counted; the returned
factors and any internal copies are. BLAS-internal work buffers are not seen.
V is in Fortran order, the layout of ``np.abs(librosa.stft(y))`` and of
``nmfaudio.spectral.spectrogram``; ours is also timed on a C-ordered copy (whose column
blocks it copies once per pass), after the main runs.

Accuracy. The final divergence of both fits is computed the same way,
``nmfaudio.factorization.beta_divergence(V, W @ H, beta)`` in float64 on the returned factors.
The two do not take identical steps (we update H then W, scikit-learn W then H; the
floors differ), so only "ours <= sklearn's" and the relative difference are reported.

Long inputs. The KL fit in float32 on 4 and 16 minutes of audio (looped), fewer
iterations (20), ms per iteration and peak extra memory for both.

Time to quality (``--sections quality``). scikit-learn's KL after 200 iterations is the
target; the time ours needs to reach it, from the same start, against scikit-learn's time
for its 200 iterations. Inputs: the 60 s V above (K = 32) and the V of a real separation
(60 s of the same audio, float32 |STFT| with ``separate``'s default 2048/512, K = 16).
Starts: ``init="random"`` and ``init="nndsvda"`` (ours, given to scikit-learn as custom
factors). See :func:`time_to_quality`.

Stages (``--sections stages``). One ``separate`` of 5 minutes of stereo (the
A_stereo_panned mixture at 44.1 kHz, looped; blind, 3 sources, channel_masks="gains")
and the writing of its sources, with the wall time inside each stage's functions.

Batch (``--sections batch``). ``python -m nmfaudio separate FILES -o OUT -q --jobs J``
in a new process on 20 stereo files of 10 s (A_stereo_panned from 20 offsets), J = 1 and
2 interleaved, ``--repeats`` times each: files per minute and user CPU seconds per file
(from the children's rusage), with the load average before each run. Where ``taskset``
exists, a third run per repeat measures the machine's ceiling for any ``--jobs 2``: two
independent ``--jobs 1`` processes at once, each pinned to its own core and given half
the files (no pool, no sharing; what two perfectly efficient workers could do).

At the end the targets are checked from the medians and marked PASS or FAIL:
KL and IS float32 at least 1.3x faster per iteration than scikit-learn and at most 1.2x
their floors (4 and 6 products), with a final loss no worse than scikit-learn's; peak
extra memory of ours no more than 2 F x T arrays; at 16 minutes at least 3x faster than
scikit-learn and under 100 MB extra; time to quality at most half of scikit-learn's; the
gain fit at most 10% of the 5-minute separation; --jobs 2 at least 1.6x the files per
minute of --jobs 1 with user CPU per file within 15%.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

SHARED_AUDIO_ENV = "NMFAUDIO_SHARED_AUDIO"
SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
K = 32
SEED = 20240601
BASE_SECONDS = 60.0
BETAS = {"KL": 1.0, "IS": 0.0}
SKLEARN_BETA = {1.0: "kullback-leibler", 0.0: "itakura-saito"}
DTYPES = (np.float32, np.float64)
MB = 1e6

# targets
MIN_SPEEDUP = 1.3
MAX_FLOOR_RATIO = 1.2
MAX_EXTRA_ARRAYS = 2.0
MIN_SPEEDUP_LONG = 3.0
MAX_EXTRA_MB_LONG = 100.0
# OpenBLAS worker threads spin for about 0.2 s after a multithreaded product before they
# sleep. A contender that starts inside that window shares its cores with them: measured
# on 2 cores, our 60-iteration KL fit ran at 5.2 ms per iteration right after the floor's
# 2-thread products and at 4.3 after a 0.2 s pause. Every contender starts after the same
# pause, so none pays for the one before it.
BLAS_IDLE_SECONDS = 0.3
MAX_FLOOR_RATIO_TARGET = 1.2  # issue 11: KL at most 1.2x its 4-product floor, IS its 6-product one
MIN_SPEEDUP_TARGET = 1.3
SECTIONS = ("base", "long", "quality", "stages", "batch")


# ---------------------------------------------------------------------------------------
# input


def shared_audio_dir() -> Path:
    """The folder of shared recordings: $NMFAUDIO_SHARED_AUDIO, else ../shared/audio."""
    configured = os.environ.get(SHARED_AUDIO_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / "shared" / "audio"


def audio_files(folder: Path) -> list[Path]:
    """Every */mixture.wav and */train/*.wav under ``folder``, sorted by path."""
    return sorted(list(folder.glob("*/mixture.wav")) + list(folder.glob("*/train/*.wav")))


def load_signal(files: list[Path]) -> np.ndarray:
    """The files mixed to mono, resampled to 44.1 kHz (soxr_hq) and concatenated, float64."""
    import librosa

    parts = [
        librosa.load(path, sr=SAMPLE_RATE, mono=True, res_type="soxr_hq", dtype=np.float64)[0]
        for path in files
    ]
    return np.concatenate(parts)


def fit_length(signal: np.ndarray, n_samples: int) -> np.ndarray:
    """``signal`` cut, or looped and cut, to exactly ``n_samples`` samples."""
    n_loops = -(-n_samples // signal.size)
    return np.tile(signal, n_loops)[:n_samples] if n_loops > 1 else signal[:n_samples]


def magnitude_spectrogram(signal: np.ndarray, seconds: float) -> np.ndarray:
    """|STFT| (float64, shape (1025, 1 + N // 1024)) of ``seconds`` of the signal."""
    import librosa

    y = fit_length(signal, round(seconds * SAMPLE_RATE))
    S = librosa.stft(y, n_fft=N_FFT, hop_length=HOP, window="hann", center=True)
    # Fortran order, as librosa returns it and as nmfaudio.spectral.spectrogram returns it
    # (run_base also times ours on a C-ordered copy)
    return np.asfortranarray(np.abs(S))


def initial_factors(F: int, T: int, mean_v: float, seed: int = SEED):
    """W0 (F, K) and H0 (K, T) in float64, uniform in [0.1, 1) scaled so that W0 @ H0 ~ mean(V).

    W0 is drawn first, so it is the same whatever T.
    """
    rng = np.random.default_rng(seed)
    scale = np.sqrt(mean_v / K) / 0.55  # 0.55 = mean of U[0.1, 1)
    W0 = rng.uniform(0.1, 1.0, size=(F, K)) * scale
    H0 = rng.uniform(0.1, 1.0, size=(K, T)) * scale
    return W0, H0


# ---------------------------------------------------------------------------------------
# contenders: each runs a fit and returns (seconds, W, H, iterations run)


def run_ours(V, W0, H0, beta: float, n_iter: int, n_threads: int | None = None):
    from nmfaudio.factorization import nmf

    start = time.perf_counter()
    result = nmf(V, W0.shape[1], beta=beta, templates=W0, activations=H0,
                 n_iter=n_iter, tol=0, dtype=V.dtype, n_threads=n_threads)
    elapsed = time.perf_counter() - start
    return elapsed, result.templates, result.activations, result.n_iter


def run_sklearn(V, W0, H0, beta: float, n_iter: int):
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    model = NMF(n_components=W0.shape[1], solver="mu", beta_loss=SKLEARN_BETA[beta],
                init="custom", tol=0, max_iter=n_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        W = model.fit_transform(V, W=W0.copy(), H=H0.copy())
        elapsed = time.perf_counter() - start
    return elapsed, W, model.components_, model.n_iter_


def run_floor(V, W0, H0, beta: float, n_iter: int):
    """The matrix products of one iteration, ``n_iter`` times: four for KL (W @ H, W.T @ R,
    W @ H, R @ H.T), six for the other betas (two W.T @ and two @ H.T)."""
    W, H = W0, H0
    WH = np.empty(V.shape, dtype=V.dtype)
    R = V.copy()  # stands for V / WH: realistic values, same layout
    n_each = 1 if beta == 1.0 else 2
    start = time.perf_counter()
    for _ in range(n_iter):
        np.matmul(W, H, out=WH)
        for _ in range(n_each):
            W.T @ R
        np.matmul(W, H, out=WH)
        for _ in range(n_each):
            R @ H.T
    elapsed = time.perf_counter() - start
    return elapsed, None, None, n_iter


def run_floor_1thread(V, W0, H0, beta: float, n_iter: int):
    """:func:`run_floor` with BLAS limited to one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return run_floor(V, W0, H0, beta, n_iter)


CONTENDERS: dict[str, Callable] = {"ours": run_ours, "sklearn": run_sklearn, "floor": run_floor,
                                   "floor1": run_floor_1thread}
FLOORS = ("floor", "floor1")


def peak_extra_bytes(fn: Callable[[], object]) -> int:
    """Peak traced memory during ``fn()`` minus the traced memory before it, in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def final_divergence(V64: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float) -> float:
    """beta_divergence(V, W @ H) in float64: the same formula for every contender."""
    from nmfaudio.factorization import beta_divergence

    return beta_divergence(V64, W.astype(np.float64) @ H.astype(np.float64), beta)


# ---------------------------------------------------------------------------------------
# the measurement loop


@dataclass
class Case:
    """One contender on one input: its timings, memory and result."""

    contender: str
    dtype: str
    beta: float
    label: str  # e.g. "KL"
    seconds: list[float] = field(default_factory=list)
    n_iter_run: list[int] = field(default_factory=list)
    extra_bytes: int | None = None
    divergence: float | None = None

    def ms_per_iter(self, n_iter: int) -> float:
        return 1e3 * statistics.median(self.seconds) / n_iter

    def best_ms_per_iter(self, n_iter: int) -> float:
        """The fastest run: the one least disturbed by other processes."""
        return 1e3 * min(self.seconds) / n_iter

    def spread(self) -> float:
        return max(self.seconds) / min(self.seconds)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or '?' where unavailable."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "?"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_C_ORDER_COPIES: dict = {}


def layout_for(contender: str, inputs: tuple) -> tuple:
    """(V, W0, H0) in the layout each contender runs fastest on: Fortran order (as librosa
    and nmfaudio.spectral.spectrogram return V) for ours; C order for scikit-learn (14.4
    against 6.4 ms per KL iteration on the 60 s V, measured) and the floor (its products
    ran 8 to 13% faster). The C-ordered copy is made once, outside every timing."""
    if contender == "ours":
        return inputs
    V, W0, H0 = inputs
    key = (id(V), V.dtype.str)
    if key not in _C_ORDER_COPIES:
        _C_ORDER_COPIES[key] = (V, np.ascontiguousarray(V))
    return (_C_ORDER_COPIES[key][1], W0, H0)


def measure(contenders: dict[str, Callable], cases: list[Case], inputs: dict, n_iter: int,
            repeats: int, mem_iter: int, V64: np.ndarray | None) -> None:
    """Warm up, time ``repeats`` interleaved rounds, then measure memory and divergence.

    ``inputs[dtype] = (V, W0, H0)`` in that dtype, V in Fortran order; the peers get V in C
    order (:func:`layout_for`).
    """
    for case in cases:  # warm-up: BLAS threads, imports, first-touch of pages
        V, W0, H0 = layout_for(case.contender, inputs[case.dtype])
        contenders[case.contender](V, W0, H0, case.beta, 2)
    last = {}
    for r in range(repeats):
        for case in cases:
            V, W0, H0 = layout_for(case.contender, inputs[case.dtype])
            time.sleep(BLAS_IDLE_SECONDS)
            elapsed, W, H, ran = contenders[case.contender](V, W0, H0, case.beta, n_iter)
            case.seconds.append(elapsed)
            case.n_iter_run.append(int(ran))
            last[id(case)] = (W, H)
            log(f"  repeat {r + 1}/{repeats} {case.contender:8s}{case.dtype:8s}{case.label:3s}"
                f" {1e3 * elapsed / n_iter:9.2f} ms/it")
    for case in cases:
        if case.contender in FLOORS:
            continue
        V, W0, H0 = layout_for(case.contender, inputs[case.dtype])
        fn = contenders[case.contender]
        case.extra_bytes = peak_extra_bytes(partial(fn, V, W0, H0, case.beta, mem_iter))
        log(f"  memory   {case.contender:8s}{case.dtype:8s}{case.label:3s}"
            f" {case.extra_bytes / MB:9.1f} MB")
        W, H = last[id(case)]
        if V64 is not None:
            case.divergence = final_divergence(V64, W, H, case.beta)
    _C_ORDER_COPIES.clear()


def find(cases: list[Case], contender: str, dtype: str, label: str) -> Case:
    return next(c for c in cases if (c.contender, c.dtype, c.label) == (contender, dtype, label))


# ---------------------------------------------------------------------------------------
# report


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def environment() -> dict:
    import sklearn
    import threadpoolctl

    import nmfaudio

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "nmfaudio": nmfaudio.__version__,
        "threadpool_info": threadpoolctl.threadpool_info(),
    }


def print_environment(env: dict) -> None:
    print(f"python {env['python']}  numpy {env['numpy']}  scikit-learn {env['sklearn']}  "
          f"nmfaudio {env['nmfaudio']}")
    print(f"{env['platform']}, {env['cpus']} CPUs ({env['cpus_usable']} usable)")
    for lib in env["threadpool_info"]:
        print(f"  {lib.get('user_api')}: {lib.get('internal_api')} {lib.get('version')}, "
              f"{lib.get('num_threads')} threads, {lib.get('threading_layer', '-')}, "
              f"{lib.get('architecture', '-')}  ({Path(lib.get('filepath', '')).name})")


def fmt_mem(nbytes: int | None, array_bytes: int) -> str:
    if nbytes is None:
        return "-"
    return f"{nbytes / MB:.1f} ({nbytes / array_bytes:.2f})"


def floor_ms(cases: list[Case], dtype: str, n_iter: int, label: str = "KL") -> float:
    """The floor: the faster median of the products with default and with 1 BLAS thread."""
    return min(find(cases, name, dtype, label).ms_per_iter(n_iter) for name in FLOORS)


def report_base(cases: list[Case], F: int, T: int, n_iter: int, repeats: int,
                mem_iter: int) -> None:
    print(f"\n== {BASE_SECONDS:.0f} s of audio: V {F} x {T}, K = {K}, {n_iter} iterations, "
          f"median of {repeats} interleaved repeats ==")
    print(f"load average at the end of this section: {load_average()} "
          f"({os.cpu_count()} CPUs; above that, other processes competed for them)")
    rows = []
    for dtype in (np.dtype(d).name for d in DTYPES):
        for label in BETAS:
            floor, floor1 = (find(cases, name, dtype, label) for name in FLOORS)
            f = floor_ms(cases, dtype, n_iter, label)
            ours, sk = find(cases, "ours", dtype, label), find(cases, "sklearn", dtype, label)
            o, s = ours.ms_per_iter(n_iter), sk.ms_per_iter(n_iter)
            best = sk.best_ms_per_iter(n_iter) / ours.best_ms_per_iter(n_iter)
            rows.append([dtype, label, f"{o:.2f}", f"{s:.2f}", f"{floor.ms_per_iter(n_iter):.2f}",
                         f"{floor1.ms_per_iter(n_iter):.2f}", f"{s / o:.2f}x", f"{best:.2f}x",
                         f"{o / f:.2f}x",
                         "/".join(f"{c.spread():.2f}" for c in (ours, sk, floor, floor1))])
    print(table(["dtype", "beta", "ours", "sklearn", "floor", "floor 1thr", "sklearn/ours",
                 "(best runs)", "ours/floor", "spread max/min o/s/f/f1"], rows))
    print("times in ms per iteration. floor = the matrix products of one iteration on full\n"
          "F x T matrices (KL: 4, W@H twice, W.T@ and @H.T; IS: 6, with W.T@ and @H.T twice),\n"
          "with numpy's default BLAS threads and with 1 BLAS thread, timed in the same rounds;\n"
          "ours/floor uses the faster of the two.")

    print(f"\nPeak extra memory (tracemalloc, {mem_iter} iterations): MB (in F x T arrays "
          "of the dtype)")
    rows = []
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        array_bytes = F * T * np.dtype(dtype).itemsize
        for label in BETAS:
            ours, sk = find(cases, "ours", name, label), find(cases, "sklearn", name, label)
            rows.append([name, label, f"{array_bytes / MB:.1f}",
                         fmt_mem(ours.extra_bytes, array_bytes),
                         fmt_mem(sk.extra_bytes, array_bytes)])
    print(table(["dtype", "beta", "F x T array MB", "ours", "sklearn"], rows))

    print("\nFinal divergence, beta_divergence(V, W @ H, beta) in float64 on the returned factors")
    rows = []
    for dtype in (np.dtype(d).name for d in DTYPES):
        for label in BETAS:
            ours, sk = find(cases, "ours", dtype, label), find(cases, "sklearn", dtype, label)
            rel = (ours.divergence - sk.divergence) / abs(sk.divergence)
            rows.append([dtype, label, f"{ours.divergence:.8g}", f"{sk.divergence:.8g}",
                         f"{rel:+.3e}", "yes" if ours.divergence <= sk.divergence else "NO",
                         f"{set(ours.n_iter_run)}/{set(sk.n_iter_run)}"])
    print(table(["dtype", "beta", "ours", "sklearn", "(ours-sk)/sk", "ours <= sk",
                 "iterations run o/s"], rows))


def report_long(long_cases: dict, F: int, n_iter: int, repeats: int) -> None:
    print(f"\n== Long inputs: KL, float32, {n_iter} iterations, median of {repeats} "
          "interleaved repeats; memory in MB (F x T arrays) ==")
    print(f"load average at the end of this section: {load_average()}")
    rows = []
    for minutes, (T, cases) in long_cases.items():
        ours, sk = find(cases, "ours", "float32", "KL"), find(cases, "sklearn", "float32", "KL")
        o, s = ours.ms_per_iter(n_iter), sk.ms_per_iter(n_iter)
        best = sk.best_ms_per_iter(n_iter) / ours.best_ms_per_iter(n_iter)
        array_bytes = F * T * 4
        rows.append([f"{minutes:g} min", f"{F} x {T}", f"{o:.1f}", f"{s:.1f}", f"{s / o:.2f}x",
                     f"{best:.2f}x", fmt_mem(ours.extra_bytes, array_bytes),
                     fmt_mem(sk.extra_bytes, array_bytes),
                     f"{ours.spread():.2f}/{sk.spread():.2f}"])
    print(table(["length", "V", "ours ms/it", "sklearn ms/it", "sklearn/ours", "(best runs)",
                 "ours extra", "sklearn extra", "spread o/s"], rows))


def evaluate_targets(cases, long_cases, F, T, n_iter, long_iter) -> list[dict]:
    """Each target: name, measured value, limit, PASS/FAIL."""
    targets = []

    def add(name, value, limit, ok, unit=""):
        targets.append({"target": name, "value": value, "limit": limit, "unit": unit,
                        "status": "PASS" if ok else "FAIL"})

    for label in BETAS:
        o = find(cases, "ours", "float32", label).ms_per_iter(n_iter)
        s = find(cases, "sklearn", "float32", label).ms_per_iter(n_iter)
        add(f"{label} float32 speed-up over sklearn >= {MIN_SPEEDUP:g}x", s / o, MIN_SPEEDUP,
            s / o >= MIN_SPEEDUP, "x")
        f = floor_ms(cases, "float32", n_iter, label)
        add(f"{label} float32 ours/floor <= {MAX_FLOOR_RATIO:g}x", o / f, MAX_FLOOR_RATIO,
            o / f <= MAX_FLOOR_RATIO, "x")
        ours, sk = find(cases, "ours", "float32", label), find(cases, "sklearn", "float32", label)
        if ours.divergence is not None:
            rel = (ours.divergence - sk.divergence) / abs(sk.divergence)
            add(f"{label} float32 final loss ours <= sklearn's (same start)", rel, 0.0,
                rel <= 0.0, " (relative)")
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        array_bytes = F * T * np.dtype(dtype).itemsize
        for label in BETAS:
            extra = find(cases, "ours", name, label).extra_bytes / array_bytes
            add(f"{label} {name} peak extra memory <= {MAX_EXTRA_ARRAYS:g} F x T arrays", extra,
                MAX_EXTRA_ARRAYS, extra <= MAX_EXTRA_ARRAYS, " arrays")
    longest = max(long_cases) if long_cases else None
    if longest is not None:
        _, lc = long_cases[longest]
        o = find(lc, "ours", "float32", "KL").ms_per_iter(long_iter)
        s = find(lc, "sklearn", "float32", "KL").ms_per_iter(long_iter)
        add(f"{longest:g} min KL float32 speed-up over sklearn >= {MIN_SPEEDUP_LONG:g}x", s / o,
            MIN_SPEEDUP_LONG, s / o >= MIN_SPEEDUP_LONG, "x")
        mb = find(lc, "ours", "float32", "KL").extra_bytes / MB
        add(f"{longest:g} min KL float32 peak extra memory < {MAX_EXTRA_MB_LONG:g} MB", mb,
            MAX_EXTRA_MB_LONG, mb < MAX_EXTRA_MB_LONG, " MB")
    else:
        targets.append({"target": "long-input targets (16 min)", "value": None,
                        "limit": None, "unit": "", "status": "NOT RUN"})
    return targets


def print_targets(targets: list[dict]) -> None:
    print("\n== Targets ==")
    rows = [[t["target"], "-" if t["value"] is None else f"{t['value']:.2f}{t['unit']}",
             t["status"]] for t in targets]
    print(table(["target", "measured", "status"], rows))
    n_pass = sum(t["status"] == "PASS" for t in targets)
    print(f"{n_pass} of {len(targets)} targets pass")


# ---------------------------------------------------------------------------------------
# time to quality


TTQ_SKLEARN_ITER = 200
TTQ_MAX_ITER = 2000
TTQ_TARGET = 0.5  # ours at most half of scikit-learn's time to the same loss


def separation_spectrogram(signal: np.ndarray, seconds: float) -> np.ndarray:
    """V as ``nmfaudio.separate`` makes it: float32 |STFT| with its default STFT (2048/512)."""
    from nmfaudio.spectral import STFTConfig, spectrogram, stft

    y = fit_length(signal, round(seconds * SAMPLE_RATE)).astype(np.float32)
    return spectrogram(stft(y[None], STFTConfig()), power=1.0)


def time_to_quality(V: np.ndarray, n_components: int, init: str, repeats: int) -> dict:
    """Seconds for ours to reach scikit-learn's 200-iteration KL, both from one start.

    The start is ours (``nmf(..., init=init, seed=SEED, n_iter=0)``), given to scikit-learn
    as ``init="custom"``; ours makes it again inside every timed run (its SVD or random
    draw is in our time, not in scikit-learn's). A first run of ours with a loss at every
    iteration finds how many iterations reach the target; the timed runs then do exactly
    that many with the default loss checks, interleaved with scikit-learn's 200.
    """
    from nmfaudio.factorization import beta_divergence, nmf

    V = np.maximum(V, np.finfo(np.float32).tiny)  # scikit-learn's MU divides by V's zeros
    V64 = V.astype(np.float64)
    V_peer = layout_for("sklearn", (V, None, None))[0]
    start = nmf(V, n_components, init=init, seed=SEED, n_iter=0)
    sk_seconds, ours_seconds = [], []
    _, W, H, _ = run_sklearn(V_peer, start.W, start.H, 1.0, TTQ_SKLEARN_ITER)
    target = beta_divergence(V64, W.astype(np.float64) @ H.astype(np.float64), 1.0)
    trace = nmf(V, n_components, init=init, seed=SEED, n_iter=TTQ_MAX_ITER, tol=0,
                check_every=1)
    reached = np.flatnonzero(trace.loss_history <= target)
    if reached.size == 0:
        return {"target": target, "iterations": None}
    n_needed = int(trace.loss_iterations[reached[0]])

    def ours():
        t0 = time.perf_counter()
        result = nmf(V, n_components, init=init, seed=SEED, n_iter=n_needed, tol=0)
        return time.perf_counter() - t0, result

    for _ in range(repeats):
        time.sleep(BLAS_IDLE_SECONDS)
        sk_seconds.append(run_sklearn(V_peer, start.W, start.H, 1.0, TTQ_SKLEARN_ITER)[0])
        time.sleep(BLAS_IDLE_SECONDS)
        seconds, result = ours()
        ours_seconds.append(seconds)
    final = beta_divergence(V64, result.W.astype(np.float64) @ result.H.astype(np.float64), 1.0)
    _C_ORDER_COPIES.clear()
    return {"target": target, "iterations": n_needed, "final": final,
            "ours_s": statistics.median(ours_seconds), "sklearn_s": statistics.median(sk_seconds),
            "ratio": statistics.median(o / s for o, s in zip(ours_seconds, sk_seconds)),
            "loss_at_200": float(trace.loss_history[trace.loss_iterations == 200][0])}


def run_time_to_quality(args, signal) -> list[dict]:
    """Both inputs, both starts; prints their table."""
    inputs = [("60 s benchmark V", magnitude_spectrogram(signal, BASE_SECONDS).astype(np.float32), K),
              ("60 s separation V", separation_spectrogram(signal, BASE_SECONDS), 16)]
    rows, out = [], []
    for name, V, n_components in inputs:
        for init in ("random", "nndsvda"):
            log(f"time to quality: {name}, {init}")
            r = time_to_quality(V, n_components, init, args.repeats)
            r.update(input=name, shape=V.shape, K=n_components, init=init)
            out.append(r)
            if r["iterations"] is None:
                rows.append([name, f"{V.shape[0]} x {V.shape[1]}", n_components, init,
                             f"{r['target']:.6g}", f"> {TTQ_MAX_ITER}", "-", "-", "-", "FAIL"])
                continue
            rows.append([name, f"{V.shape[0]} x {V.shape[1]}", n_components, init,
                         f"{r['target']:.6g}", r["iterations"], f"{r['ours_s']:.2f}",
                         f"{r['sklearn_s']:.2f}", f"{r['ratio']:.2f}",
                         "PASS" if r["ratio"] <= TTQ_TARGET else "FAIL"])
    print(f"\n== Time to quality: KL float32, time for ours to reach scikit-learn's "
          f"{TTQ_SKLEARN_ITER}-iteration loss from the same start, median of {args.repeats} "
          f"interleaved runs (target: ours/sklearn <= {TTQ_TARGET:g}) ==")
    print(f"load average: {load_average()}")
    print(table(["input", "V", "K", "start", "sklearn KL @200", "ours: iterations",
                 "ours s", "sklearn s", "ours/sklearn", "target"], rows))
    return out


# ---------------------------------------------------------------------------------------
# stages of one stereo separation, and batches with --jobs


STEREO_TASK = "A_stereo_panned"
STAGE_MINUTES = 5.0
STAGE_RATE = 44100
MAX_GAINS_SHARE = 0.10


def stereo_mixture(folder: Path, seconds: float, rate: int, offset: float = 0.0):
    """The stereo task's mixture at ``rate``, looped from ``offset`` s to ``seconds`` s."""
    from nmfaudio import audio

    mix = audio.resample(audio.load(folder / STEREO_TASK / "mixture.wav"), rate)
    start = int(round(offset * rate)) % mix.n_samples
    samples = np.roll(mix.samples, -start, axis=1)
    n = int(round(seconds * rate))
    return audio.Audio(np.tile(samples, (1, -(-n // mix.n_samples)))[:, :n], rate)


class StageTimer:
    """Wall time spent inside chosen functions of nmfaudio's modules, by stage."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._patches = []

    def wrap(self, module, name: str, stage: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

        setattr(module, name, timed)
        self._patches.append((module, name, original))

    def restore(self) -> None:
        for module, name, original in reversed(self._patches):
            setattr(module, name, original)
        self._patches.clear()


STAGES = ("read", "STFT", "spectrogram", "NMF", "grouping", "gains", "masks",
          "inverse STFT", "write")


def run_stages(folder: Path, minutes: float, out_dir: Path) -> dict:
    """Wall time of each stage of ``separate`` + writing, on one stereo file of ``minutes``."""
    from nmfaudio import audio, pipeline

    path = out_dir / "stereo_mixture.wav"
    mix = stereo_mixture(folder, 60.0 * minutes, STAGE_RATE)
    audio.save(path, mix.samples, mix.sample_rate, subtype="FLOAT")
    timer = StageTimer()
    for module, name, stage in [
            (audio, "load", "read"), (pipeline, "stft_transform", "STFT"),
            (pipeline, "spectrogram", "spectrogram"), (pipeline, "_factorize", "NMF"),
            (pipeline, "group_components", "grouping"), (pipeline, "component_models", "masks"),
            (pipeline, "channel_gains", "gains"), (pipeline, "source_masks", "masks"),
            (pipeline, "_apply", "masks"), (pipeline, "istft", "inverse STFT")]:
        timer.wrap(module, name, stage)
    try:
        t0 = time.perf_counter()
        # the gain fit is the default of supervised stereo; blind stereo defaults to
        # channel_masks="spatial", so it is asked for here, as issue 11 measured it
        sep = pipeline.separate(path, n_sources=3, channel_masks="gains")
        t_write = time.perf_counter()
        for name, signal in zip(sep.source_names, sep.sources):
            audio.save(out_dir / f"{name}.wav", signal, sep.sample_rate, subtype="FLOAT",
                       overwrite=True)
        end = time.perf_counter()
    finally:
        timer.restore()
    timer.seconds["write"] = end - t_write
    total = end - t0
    seconds = {stage: timer.seconds.get(stage, 0.0) for stage in STAGES}
    seconds["other"] = total - sum(seconds.values())
    return {"minutes": minutes, "total": total, "seconds": seconds,
            "nmf_iterations": int(sep.nmf.n_iter), "shape": list(sep.spectrogram.shape)}


def report_stages(stages: dict) -> None:
    total = stages["total"]
    print(f"\n== Stages of one separation: {stages['minutes']:g} min of stereo at {STAGE_RATE} Hz "
          f"({STEREO_TASK} looped), unsupervised, 3 sources, channel_masks='gains'; V "
          f"{stages['shape'][0]} x {stages['shape'][1]}, {stages['nmf_iterations']} NMF "
          f"iterations ==")
    print(f"load average: {load_average()}")
    rows = [[stage, f"{s:.2f}", f"{100 * s / total:.1f}%"] for stage, s in stages["seconds"].items()]
    rows.append(["total", f"{total:.2f}", "100%"])
    print(table(["stage", "wall s", "share"], rows))
    print("'gains' is the per-channel gain fit (channel_gains); 'masks' the source models, "
          "the masks and their product with the STFT.")


def make_batch(folder: Path, out_dir: Path, n_files: int, seconds: float) -> list[Path]:
    """``n_files`` stereo files of ``seconds`` s (the stereo task at its own rate, each from
    another offset), written to ``out_dir``."""
    from nmfaudio import audio

    paths = []
    for i in range(n_files):
        path = out_dir / f"mix{i:02d}.wav"
        mix = stereo_mixture(folder, seconds, 22050, offset=1.7 * i)
        audio.save(path, mix.samples, mix.sample_rate, on_clip="scale")
        paths.append(path)
    return paths


def run_batch_once(paths: list[Path], out_dir: Path, jobs: int) -> tuple[float, float]:
    """Wall and user+system CPU seconds of ``nmfaudio separate FILES --jobs J`` (a new process)."""
    import resource
    import shutil
    import subprocess

    shutil.rmtree(out_dir, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nmfaudio", "separate", *map(str, paths),
                    "-o", str(out_dir), "-q", "--jobs", str(jobs)], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_utime - before.ru_utime


def run_pinned_pair(paths: list[Path], out_dir: Path) -> float:
    """Wall seconds of two ``--jobs 1`` processes at once, each pinned to its own core
    (``taskset``) with half of ``paths``."""
    import shutil
    import subprocess

    shutil.rmtree(out_dir, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    half = len(paths) // 2
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-m", "nmfaudio",
                               "separate", *map(str, part), "-o", str(out_dir / str(core)),
                               "-q"], env=env, stdout=subprocess.DEVNULL)
             for core, part in ((0, paths[:half]), (1, paths[half:]))]
    if any(p.wait() for p in procs):
        raise RuntimeError("a pinned nmfaudio process failed")
    return time.perf_counter() - t0


def run_batch(folder: Path, work: Path, n_files: int, seconds: float, repeats: int) -> dict:
    """--jobs 1 and --jobs 2 on the same files, interleaved; files per minute and CPU per
    file; and, where taskset exists, two pinned independent processes (the ceiling)."""
    import shutil

    paths = make_batch(folder, work, n_files, seconds)
    runs = {1: [], 2: []}
    pairs = []
    pinned = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    loads = []
    for r in range(repeats):
        for jobs in (1, 2):
            log(f"batch: repeat {r + 1}/{repeats}, --jobs {jobs}")
            loads.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
            runs[jobs].append(run_batch_once(paths, work / "out", jobs))
        if pinned:
            log(f"batch: repeat {r + 1}/{repeats}, two pinned --jobs 1 processes")
            pairs.append(run_pinned_pair(paths, work / "pair"))
    out = {"n_files": n_files, "seconds_per_file": seconds, "loads": loads, "runs": runs,
           "pairs": pairs}
    if pairs:
        out["ceiling"] = statistics.median(a[0] / b for a, b in zip(runs[1], pairs))
        out["of_ceiling"] = statistics.median(b / c[0] for c, b in zip(runs[2], pairs))
    for jobs, rs in runs.items():
        out[f"jobs{jobs}"] = {
            "files_per_min": statistics.median(60.0 * n_files / w for w, _, _ in rs),
            "user_cpu_per_file": statistics.median(u / n_files for _, _, u in rs),
            "cpu_per_file": statistics.median(c / n_files for _, c, _ in rs)}
    # ratio per interleaved pair, then the median: load changes hit both of a pair alike
    out["speedup"] = statistics.median(a[0] / b[0] for a, b in zip(runs[1], runs[2]))
    out["user_cpu_ratio"] = statistics.median(b[2] / a[2] for a, b in zip(runs[1], runs[2]))
    return out


def report_batch(batch: dict) -> None:
    print(f"\n== Batch: `nmfaudio separate` on {batch['n_files']} stereo files of "
          f"{batch['seconds_per_file']:g} s (22.05 kHz), --jobs 1 and 2 interleaved, "
          f"{len(batch['runs'][1])} runs each; medians ==")
    print("1-minute load average before each run: " + " ".join(f"{x:.1f}" for x in batch["loads"]))
    rows = [[f"--jobs {j}", f"{batch[f'jobs{j}']['files_per_min']:.1f}",
             f"{batch[f'jobs{j}']['user_cpu_per_file']:.2f}",
             f"{batch[f'jobs{j}']['cpu_per_file']:.2f}",
             " ".join(f"{w:.1f}" for w, _, _ in batch["runs"][j])] for j in (1, 2)]
    print(table(["", "files/min", "user CPU s/file", "user+sys s/file", "wall s per run"], rows))
    print(f"--jobs 2 / --jobs 1: {batch['speedup']:.2f}x files per minute (target >= 1.6), user "
          f"CPU per file {batch['user_cpu_ratio']:.2f}x (target <= 1.15)")
    if batch.get("pairs"):
        print(f"two pinned --jobs 1 processes (wall s: "
              f"{' '.join(f'{w:.1f}' for w in batch['pairs'])}) / --jobs 1: "
              f"{batch['ceiling']:.2f}x, the ceiling of any --jobs 2 on this machine; --jobs 2 "
              f"runs at {100 * batch['of_ceiling']:.0f}% of it")
    else:
        print("(no taskset: the pinned-pair ceiling was not measured)")


# ---------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 30 iterations (5 on long inputs)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per contender (>= 1)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="iterations on the 60 s input (default 200, --quick 30)")
    parser.add_argument("--long-iterations", type=int, default=None,
                        help="iterations on long inputs (default 20, --quick 5)")
    parser.add_argument("--long-minutes", type=float, nargs="*", default=[4.0, 16.0],
                        help="lengths of the long inputs in minutes (none to skip)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit every contender to this many threads (ours: n_threads; "
                             "scikit-learn and the floor: BLAS threads). Default: their own "
                             "defaults. 1 compares the work per iteration on a busy machine")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="what to measure (default: all)")
    parser.add_argument("--batch-files", type=int, default=20,
                        help="batch section: number of stereo files (default 20)")
    parser.add_argument("--batch-seconds", type=float, default=10.0,
                        help="batch section: seconds per file (default 10)")
    parser.add_argument("--stage-minutes", type=float, default=STAGE_MINUTES,
                        help=f"stage table: minutes of stereo audio (default {STAGE_MINUTES:g})")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.iterations is None:
        args.iterations = 30 if args.quick else 200
    if args.long_iterations is None:
        args.long_iterations = 5 if args.quick else 20
    return args


def run_base(args, contenders, signal) -> dict:
    """The 60 s measurements (speed, memory, divergence); prints their tables."""
    V64 = magnitude_spectrogram(signal, BASE_SECONDS)
    F, T = V64.shape
    n_zeros = int(np.count_nonzero(V64 == 0))
    if n_zeros:  # scikit-learn refuses IS on exact zeros; floor for every contender alike
        V64 = np.maximum(V64, np.finfo(np.float32).tiny)
    print(f"V: {F} x {T}, mean {V64.mean():.4g}, min {V64.min():.3g}, {n_zeros} exact zeros")
    W0, H0 = initial_factors(F, T, float(V64.mean()))
    inputs = {np.dtype(d).name: (np.asfortranarray(V64, dtype=d),)
              + tuple(np.ascontiguousarray(a, dtype=d) for a in (W0, H0)) for d in DTYPES}

    cases = []
    for dtype in (np.dtype(d).name for d in DTYPES):
        cases += [Case(name, dtype, beta, label) for name in FLOORS
                  for label, beta in BETAS.items()]
        for label, beta in BETAS.items():
            cases += [Case("ours", dtype, beta, label), Case("sklearn", dtype, beta, label)]
    mem_iter = min(args.iterations, 20)
    log(f"60 s input: {args.iterations} iterations x {args.repeats} repeats")
    measure(contenders, cases, inputs, args.iterations, args.repeats, mem_iter, V64)
    report_base(cases, F, T, args.iterations, args.repeats, mem_iter)

    # the same fits of ours on a C-ordered V, which nmf() copies block by block
    V32, W32, H32 = inputs["float32"]
    V_c = np.ascontiguousarray(V32)
    c_order = {}
    for label, beta in BETAS.items():
        runs = []
        for _ in range(args.repeats):
            time.sleep(BLAS_IDLE_SECONDS)
            runs.append(contenders["ours"](V_c, W32, H32, beta, args.iterations)[0])
        c_order[label] = 1e3 * float(np.median(runs)) / args.iterations
        f_order = 1e3 * float(np.median(find(cases, "ours", "float32", label).seconds)) / args.iterations
        print(f"ours, {label} float32, V in C order: {c_order[label]:.2f} ms/it "
              f"({c_order[label] / f_order:.2f}x the Fortran-ordered V's)")
    c_bytes = peak_extra_bytes(partial(contenders["ours"], V_c, W32, H32, 1.0, mem_iter))
    print(f"ours, KL float32, V in C order, peak extra memory: {fmt_mem(c_bytes, F * T * 4)}")
    return {"shape": (F, T), "cases": cases, "memory_iterations": mem_iter,
            "exact_zeros_in_V": n_zeros, "c_order_V_ms_per_iteration": c_order,
            "c_order_V_peak_extra_bytes": c_bytes}


def run_long(args, contenders, signal, F: int) -> dict:
    """The KL float32 fits on long inputs: {minutes: (T, cases)}; prints their table."""
    long_cases = {}
    for minutes in args.long_minutes:
        V_long = magnitude_spectrogram(signal, 60.0 * minutes).astype(np.float32)
        if not V_long.min() > 0:
            np.maximum(V_long, np.finfo(np.float32).tiny, out=V_long)
        W0, H0 = initial_factors(F, V_long.shape[1], float(V_long.mean(dtype=np.float64)))
        inputs = {"float32": (V_long, W0.astype(np.float32), H0.astype(np.float32))}
        cases = [Case("ours", "float32", 1.0, "KL"), Case("sklearn", "float32", 1.0, "KL")]
        log(f"{minutes:g} min input: V {F} x {V_long.shape[1]}, {args.long_iterations} iterations")
        measure(contenders, cases, inputs, args.long_iterations, args.repeats,
                args.long_iterations, None)
        long_cases[minutes] = (V_long.shape[1], cases)
        del V_long, inputs
        gc.collect()
    if long_cases:
        report_long(long_cases, F, args.long_iterations, args.repeats)
    return long_cases


def write_json(path: Path, args, env, files, base, long_cases, targets, total,
               extra=None) -> None:
    def case_dict(c: Case, n_iter: int) -> dict:
        return {"contender": c.contender, "dtype": c.dtype, "beta": c.beta, "label": c.label,
                "seconds": c.seconds, "n_iter_run": c.n_iter_run,
                "median_ms_per_iter": c.ms_per_iter(n_iter),
                "best_ms_per_iter": c.best_ms_per_iter(n_iter), "peak_extra_bytes": c.extra_bytes,
                "final_divergence": c.divergence}

    F, T = base["shape"] if base is not None else (None, None)
    base = base or {"memory_iterations": None, "exact_zeros_in_V": None, "cases": [],
                    "c_order_V_peak_extra_bytes": None, "c_order_V_ms_per_iteration": None}
    out = {
        "environment": env,
        "config": {"quick": args.quick, "repeats": args.repeats, "iterations": args.iterations,
                   "long_iterations": args.long_iterations, "threads": args.threads,
                   "memory_iterations": base["memory_iterations"], "K": K, "seed": SEED,
                   "sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": HOP,
                   "seconds": BASE_SECONDS, "shape": [F, T],
                   "audio_files": [str(p) for p in files],
                   "exact_zeros_in_V": base["exact_zeros_in_V"]},
        "ours_kl_float32_c_order_V_peak_extra_bytes": base["c_order_V_peak_extra_bytes"],
        "ours_float32_c_order_V_ms_per_iteration": base["c_order_V_ms_per_iteration"],
        "base": [case_dict(c, args.iterations) for c in base["cases"]],
        "long": {str(m): {"shape": [F, T_l],
                          "cases": [case_dict(c, args.long_iterations) for c in lc]}
                 for m, (T_l, lc) in long_cases.items()},
        "extra": extra or {},
        "targets": targets,
        "load_average_at_end": load_average(),
        "total_seconds": total,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"results written to {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    folder = shared_audio_dir()
    files = audio_files(folder) if folder.is_dir() else []
    if not files:
        print(f"bench_nmf: no recordings found in {folder} (no */mixture.wav or */train/*.wav); "
              f"set {SHARED_AUDIO_ENV} to the shared audio folder. Nothing was measured.",
              file=sys.stderr)
        return 2
    try:
        import sklearn  # noqa: F401  (fail now, not after minutes of measuring)
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        print(f"bench_nmf: {exc}; install the benchmark extra: pip install -e '.[bench]'",
              file=sys.stderr)
        return 2

    t_start = time.perf_counter()
    env = environment()
    print_environment(env)
    print(f"load average at start: {load_average()}")
    contenders = dict(CONTENDERS)
    if args.threads is not None:
        contenders["ours"] = partial(run_ours, n_threads=args.threads)
        print(f"--threads {args.threads}: ours n_threads={args.threads}, BLAS limited to "
              f"{args.threads} thread(s) for scikit-learn and the floor")
    log(f"loading {len(files)} files from {folder}")
    signal = load_signal(files)
    print(f"audio: {len(files)} files from {folder}, {signal.size / SAMPLE_RATE:.1f} s at "
          f"{SAMPLE_RATE} Hz after resampling (cut or looped to each length)")

    base, long_cases, extra = None, {}, {}
    with threadpool_limits(limits=args.threads, user_api="blas"):  # None: no limit
        if "base" in args.sections:
            base = run_base(args, contenders, signal)
        if "long" in args.sections:
            long_cases = run_long(args, contenders, signal, N_FFT // 2 + 1)
        if "quality" in args.sections:
            extra["time_to_quality"] = run_time_to_quality(args, signal)
    import tempfile

    if "stages" in args.sections:
        log(f"stages: one separation of {args.stage_minutes:g} min of stereo")
        with tempfile.TemporaryDirectory(prefix="nmfaudio-stages-") as work:
            extra["stages"] = run_stages(folder, args.stage_minutes, Path(work))
        report_stages(extra["stages"])
    if "batch" in args.sections:
        with tempfile.TemporaryDirectory(prefix="nmfaudio-batch-") as work:
            extra["batch"] = run_batch(folder, Path(work), args.batch_files, args.batch_seconds,
                                       args.repeats)
        report_batch(extra["batch"])

    targets = extra_targets(extra)
    if base is not None:
        F, T = base["shape"]
        targets = evaluate_targets(base["cases"], long_cases, F, T, args.iterations,
                                   args.long_iterations) + targets
    print_targets(targets)
    total = time.perf_counter() - t_start
    print(f"\ntotal time {total:.0f} s")
    if args.json is not None:
        write_json(args.json, args, env, files, base, long_cases, targets, total, extra)
    return 0


def extra_targets(extra: dict) -> list[dict]:
    """Targets of the time-to-quality, stage and batch sections that were run."""
    targets = []

    def add(name, value, limit, ok, unit=""):
        targets.append({"target": name, "value": value, "limit": limit, "unit": unit,
                        "status": "PASS" if ok else "FAIL"})

    for r in extra.get("time_to_quality", []):
        value = r.get("ratio", float("inf"))
        add(f"time to sklearn's KL@{TTQ_SKLEARN_ITER}, {r['input']}, {r['init']} start, "
            f"ours/sklearn <= {TTQ_TARGET:g}", value, TTQ_TARGET, value <= TTQ_TARGET, "x")
    if "stages" in extra:
        share = extra["stages"]["seconds"]["gains"] / extra["stages"]["total"]
        add(f"stereo gain fit <= {100 * MAX_GAINS_SHARE:g}% of a {extra['stages']['minutes']:g} "
            "min separation", 100 * share, 100 * MAX_GAINS_SHARE, share <= MAX_GAINS_SHARE, "%")
    if "batch" in extra:
        b = extra["batch"]
        add("--jobs 2 / --jobs 1 files per minute >= 1.6", b["speedup"], 1.6, b["speedup"] >= 1.6, "x")
        add("--jobs 2 / --jobs 1 user CPU per file <= 1.15", b["user_cpu_ratio"], 1.15,
            b["user_cpu_ratio"] <= 1.15, "x")
    return targets


if __name__ == "__main__":
    sys.exit(main())
