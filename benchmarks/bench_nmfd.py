"""Speed and final KL of nmfaudio's NMFD against libnmfd's NMFD, in one process.

Usage::

    python benchmarks/bench_nmfd.py [--repeats 5] [--iterations 30] [--seconds 20]
                                    [--components 3] [--frames 8]

What is measured
----------------
Input. ``V`` is the magnitude STFT (n_fft 2048, hop 512, Hann, centred; the STFT of the
drum tasks' ``task.json``) of the two drum-loop mixtures of the shared recordings
(``drums_808``, ``drums_funky``: real audio, the material NMFD is for), mixed to mono at
44.1 kHz, concatenated and looped or cut to ``--seconds`` (20 s: V is 1025 x 1723). The
recordings are read from ``NMFAUDIO_SHARED_AUDIO`` if set, else ``../shared/audio``;
without them the script says so and exits with status 2.

Contenders, all from the same ``V`` and the same initial templates ``W0`` (F, K, L) and
activations ``H0`` (K, T), drawn once from a seeded ``numpy.random.Generator``
(K = 3 components and L = 8 frames by default, libnmfd's drum setting):

- ``ours f64`` / ``ours f32``: ``nmfaudio.nmfd(V, templates=W0, activations=H0, beta="kl",
  n_iter=N, tol=0, dtype=...)``, its defaults otherwise (loss every 10 iterations, one lane
  per core), V, W0 and H0 given in that dtype;
- ``libnmfd``: ``libnmfd.core.nmfconv.nmfd(V, num_comp=K, num_frames=T, num_iter=N,
  num_template_frames=L, init_W=[W0[:, k, :] ...], init_H=H0 / V.sum())``, in float64 (it
  allocates its own float64 arrays). It fits ``V / V.sum()``, so its H is started at
  ``H0 / V.sum()``: the same model relative to its data. It computes its KL every iteration
  (that is part of its time, as our checks every 10 are of ours). Its progress bar
  (``tqdm.tnrange``, for notebooks) is replaced by ``range`` inside this script only;
  nothing else of it is changed. It is installed with ``pip install --no-deps libnmfd``
  (it also imports tqdm); when it is missing the script says why and times ours alone.

Timing: wall clock of the whole call, divided by the iterations: ms per iteration
(libnmfd's includes building its per-component spectrograms once at the end, as its
function does). One untimed 2-iteration warm-up per contender, then ``--repeats``
interleaved rounds (ours f64, ours f32, libnmfd, then again), medians reported, with the
spread (max / min) and the load average as noise indicators. ``--one-thread`` limits BLAS
to one thread for everyone and runs ours in one lane: the work per iteration on equal
terms (on a busy machine a multithreaded BLAS loses far more than one thread does).

Accuracy: the KL divergence of the returned model, ``beta_divergence(V, Lambda, "kl")`` in
float64. libnmfd rescales its templates to unit sum after each iteration without moving
the scale into H, so its returned model is not at the scale of V: its KL is reported at
the best scale, ``c Lambda`` with ``c = sum(V) / sum(Lambda)`` (which can only lower it).
libnmfd's updates are Smaragdis' (per-lag W updates, H from the average of per-lag ratios),
not an MM step, so the two do not take the same steps; both final KLs are printed.

Memory: peak traced memory (tracemalloc) of a 5-iteration run of each, minus the traced
memory before the call, in MB (numpy reports its buffers to tracemalloc; BLAS's own are
not seen). Inputs are made before the call and not counted; the returned factors are.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

SHARED_AUDIO_ENV = "NMFAUDIO_SHARED_AUDIO"
TASKS = ("drums_808", "drums_funky")
SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 512
SEED = 20261128


def shared_audio_dir() -> Path:
    configured = os.environ.get(SHARED_AUDIO_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / "shared" / "audio"


def spectrogram(folder: Path, seconds: float) -> np.ndarray:
    """|STFT| (float64, C order) of the drum mixtures, looped or cut to ``seconds``."""
    import librosa

    signal = np.concatenate([
        librosa.load(folder / task / "mixture.wav", sr=SAMPLE_RATE, mono=True, dtype=np.float64)[0]
        for task in TASKS
    ])
    n = round(seconds * SAMPLE_RATE)
    signal = np.tile(signal, -(-n // signal.size))[:n]
    S = librosa.stft(signal, n_fft=N_FFT, hop_length=HOP, window="hann", center=True)
    return np.ascontiguousarray(np.abs(S))


def initial_factors(F, T, K, L, mean_v):
    """W0 (F, K, L), H0 (K, T) uniform in [0.1, 1), scaled so that the model ~ mean(V)."""
    rng = np.random.default_rng(SEED)
    scale = np.sqrt(mean_v / (K * L)) / 0.55  # 0.55 = mean of U[0.1, 1)
    return rng.uniform(0.1, 1.0, (F, K, L)) * scale, rng.uniform(0.1, 1.0, (K, T)) * scale


def run_ours(V, W0, H0, n_iter, n_threads=None):
    """V, W0, H0 already in the dtype to fit in; returns (seconds, templates, activations)."""
    from nmfaudio import nmfd

    start = time.perf_counter()
    fit = nmfd(V, beta="kl", templates=W0, activations=H0, n_iter=n_iter, tol=0, dtype=V.dtype,
               n_threads=n_threads)
    return time.perf_counter() - start, fit.templates, fit.activations


def libnmfd_function():
    """libnmfd's NMFD function with its notebook progress bar replaced, or the reason not."""
    try:
        from libnmfd.core import nmfconv
    except ImportError as exc:
        return None, f"libnmfd is not usable here ({exc}); pip install --no-deps libnmfd tqdm"
    nmfconv.tnrange = lambda n, **_: range(n)  # only the progress bar, in this process only
    return nmfconv, None


def run_libnmfd(nmfconv, V, W0, H0, n_iter):
    K, L = W0.shape[1], W0.shape[2]
    init_W = [W0[:, k, :].copy() for k in range(K)]
    init_H = H0 / V.sum()
    start = time.perf_counter()
    _, H, _, _, tensor_W = nmfconv.nmfd(V, num_comp=K, num_frames=V.shape[1], num_iter=n_iter,
                                        num_template_frames=L, init_W=init_W, init_H=init_H)
    return time.perf_counter() - start, tensor_W, H


def final_kl(V, W, H, rescale: bool) -> float:
    """KL of V from the model of (W, H), at the best scale when ``rescale`` (libnmfd)."""
    from nmfaudio.convolutive import convolutive_model
    from nmfaudio.factorization import beta_divergence

    lam = convolutive_model(W.astype(np.float64), H.astype(np.float64))
    if rescale:
        lam *= V.sum() / lam.sum()
    return beta_divergence(V, lam, "kl")


def peak_mb(fn) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - before) / 1e6


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--components", type=int, default=3)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--one-thread", action="store_true",
                        help="BLAS limited to one thread for everyone and ours with n_threads=1: "
                             "the work per iteration on equal terms")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    folder = shared_audio_dir()
    missing = [t for t in TASKS if not (folder / t / "mixture.wav").is_file()]
    if missing:
        print(f"bench_nmfd: {', '.join(missing)} not found in {folder}; set {SHARED_AUDIO_ENV}. "
              "Nothing was measured.", file=sys.stderr)
        return 2
    from threadpoolctl import threadpool_limits

    V = spectrogram(folder, args.seconds)
    F, T = V.shape
    K, L, N = args.components, args.frames, args.iterations
    W0, H0 = initial_factors(F, T, K, L, float(V.mean()))
    f32 = tuple(x.astype(np.float32) for x in (V, W0, H0))  # converted outside the timings
    lanes = 1 if args.one_thread else None
    contenders = {
        "ours f64": lambda n: run_ours(V, W0, H0, n, lanes),
        "ours f32": lambda n: run_ours(*f32, n, lanes),
    }
    nmfconv, reason = libnmfd_function()
    if nmfconv is None:
        print(f"libnmfd skipped: {reason}")
    else:
        contenders["libnmfd"] = lambda n: run_libnmfd(nmfconv, V, W0, H0, n)

    print(f"V: {F} x {T} ({args.seconds:g} s of {' + '.join(TASKS)}, n_fft {N_FFT}, hop {HOP}), "
          f"K = {K}, L = {L}, {N} iterations, KL, median of {args.repeats} interleaved repeats"
          + (", BLAS 1 thread, ours 1 lane" if args.one_thread else ", default threads"))
    with threadpool_limits(limits=1 if args.one_thread else None, user_api="blas"):
        for fn in contenders.values():
            fn(2)  # warm-up
        times = {name: [] for name in contenders}
        factors = {}
        for _ in range(args.repeats):
            for name, fn in contenders.items():
                elapsed, *factors[name] = fn(N)
                times[name].append(elapsed)
        memory = {name: peak_mb(lambda fn=fn: fn(5)) for name, fn in contenders.items()}

    ref = statistics.median(times["ours f64"])
    print(f"{'contender':10s} {'ms/iter':>9s} {'x ours f64':>11s} {'spread':>7s} "
          f"{'peak MB':>8s} {'final KL':>12s}")
    for name in contenders:
        med = statistics.median(times[name])
        kl = final_kl(V, *factors[name], rescale=name == "libnmfd")
        print(f"{name:10s} {1e3 * med / N:9.2f} {med / ref:10.2f}x "
              f"{max(times[name]) / min(times[name]):7.2f} {memory[name]:8.1f} {kl:12.6g}")
    if "libnmfd" in contenders:
        speedup = statistics.median(times["libnmfd"]) / ref
        print(f"libnmfd / ours (float64, median ms per iteration): {speedup:.2f}x")
    print(f"peak MB: tracemalloc, 5 iterations; one F x T float64 array is {F * T * 8 / 1e6:.1f} MB")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
