"""Peak memory and time of ``nmfaudio separate`` on long stereo recordings, beside a
hand-written librosa + scikit-learn pipeline.

Usage::

    python benchmarks/bench_long.py [--minutes 1 10 30 60] [--modes unsupervised supervised]
        [--iterations 100] [--peer-max-minutes 10] [--repeats 1] [--workdir /tmp/nmfaudio_bench_long]
        [--json out.json]

What is measured
----------------
Input. Stereo 44.1 kHz 16-bit WAVs of 1, 10, 30 and 60 minutes, looped from the mixture
of ``A_stereo_panned`` in the shared recordings (20 s, 22.05 kHz, resampled by librosa,
``soxr_hq``), written to ``--workdir`` (under /tmp, never into the repository) once and
reused. Supervised mode uses three dictionaries (piano, bass, drums; 32 templates each,
n_fft 2048, hop 512, KL) learned with ``nmfaudio learn`` from ``A_stereo_panned/train``
resampled to 44.1 kHz, before anything is timed.

Contenders, each a fresh child process (so that its peak resident set is its own, read
from ``os.wait4``'s ``ru_maxrss``), one file at a time, the runs interleaved:

- ours: ``python -m nmfaudio separate FILE -o OUT --json -q -n ITER`` with
  ``--sources 3`` (unsupervised) or ``--dict piano.npz --dict bass.npz --dict drums.npz``
  (supervised), everything else default;
- peer (hand-written, the textbook pipeline): ``librosa.load(mono=False)``, per channel
  ``librosa.stft`` (2048 / 512), V = mean over channels of ``|X|``, scikit-learn
  ``NMF(solver="mu", beta_loss="kullback-leibler", init="nndsvda", max_iter=ITER,
  tol=1e-5)`` with K = 16 (unsupervised), or ``non_negative_factorization(...,
  update_H=False)`` over the fixed dictionaries (supervised), components grouped into 3 sources by spectral centroid (unsupervised)
  or by dictionary, masks ``librosa.util.softmask(model_s, model_rest, power=2)``, and
  ``librosa.istft`` per source, ``soundfile.write``. Run only up to
  ``--peer-max-minutes`` (default 10), since it holds the whole STFT, every mask and
  every masked STFT in memory.

Both run at most ITER iterations (default 100; ours may stop earlier on its relative
tolerance 1e-5, scikit-learn checks its tol every 10 iterations); the iterations each
ran are reported.

Reported per row: peak RSS (MB = 10^6 bytes), wall seconds, seconds per minute of
audio, and for equal lengths the ratio peer / ours of seconds per minute (> 1: ours is
faster). The load average is printed: the machine is shared, so compare ratios of the
same run, not absolute seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = 44100

PEER = r'''
import json, sys, time, warnings
import numpy as np, librosa, soundfile as sf
from sklearn.decomposition import NMF, non_negative_factorization
warnings.simplefilter("ignore")
path, out, mode, n_iter = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dicts = sys.argv[5:]
start = time.perf_counter()
y, sr = librosa.load(path, sr=None, mono=False)
X = np.stack([librosa.stft(c, n_fft=2048, hop_length=512) for c in y])   # (C, F, T)
V = np.abs(X).mean(axis=0)
if mode == "unsupervised":
    model = NMF(n_components=16, solver="mu", beta_loss="kullback-leibler", init="nndsvda",
                max_iter=n_iter, tol=1e-5)
    W = model.fit_transform(V)                    # (F, K)
    H = model.components_                         # (K, T)
    n_done = model.n_iter_
    freqs = librosa.fft_frequencies(sr=sr, n_fft=2048)
    centroid = (freqs @ W) / np.maximum(W.sum(axis=0), 1e-12)
    order = np.argsort(centroid)
    labels = np.empty(W.shape[1], dtype=int)
    labels[order] = np.arange(W.shape[1]) * 3 // W.shape[1]
else:
    Ws = [np.load(d)["templates"] for d in dicts]
    W = np.concatenate(Ws, axis=1).astype(V.dtype)
    labels = np.concatenate([np.full(w.shape[1], i) for i, w in enumerate(Ws)])
    # scikit-learn factorizes (samples, features) = V.T ~ H.T W.T: fixed W.T is its "H"
    HT, _, n_done = non_negative_factorization(
        V.T, H=W.T.copy(), update_H=False, n_components=W.shape[1], solver="mu",
        beta_loss="kullback-leibler", max_iter=n_iter, tol=1e-5)
    H = HT.T
models = [W[:, labels == s] @ H[labels == s] for s in range(3)]
total = sum(models)
for s in range(3):
    mask = librosa.util.softmask(models[s], total - models[s], power=2)
    source = np.stack([librosa.istft(mask * X[c], hop_length=512, length=y.shape[-1])
                       for c in range(X.shape[0])])
    sf.write(f"{out}/source{s + 1}.wav", source.T, sr, subtype="PCM_16")
print(json.dumps({"iterations": int(n_done),
                  "seconds": time.perf_counter() - start}))
'''


def log(*parts) -> None:
    print(*parts, flush=True)


def shared_audio() -> Path:
    configured = os.environ.get("NMFAUDIO_SHARED_AUDIO")
    path = Path(configured) if configured else ROOT.parent / "shared" / "audio"
    if not path.is_dir():
        path = Path("/work/shared/audio")
    if not path.is_dir():
        sys.exit("the shared recordings are not there (set NMFAUDIO_SHARED_AUDIO)")
    return path


def make_input(workdir: Path, minutes: float) -> Path:
    """A stereo 44.1 kHz WAV of ``minutes``, looped from A_stereo_panned (made once)."""
    import librosa
    import numpy as np
    import soundfile as sf

    path = workdir / f"stereo_{minutes:g}min.wav"
    if path.exists():
        return path
    x, sr = sf.read(shared_audio() / "A_stereo_panned" / "mixture.wav", dtype="float32",
                    always_2d=True)
    loop = librosa.resample(x.T, orig_sr=sr, target_sr=RATE, res_type="soxr_hq").T
    loop = np.clip(loop, -1.0, 1.0)
    total = int(minutes * 60 * RATE)
    tmp = path.with_suffix(".tmp.wav")
    with sf.SoundFile(tmp, "w", RATE, 2, "PCM_16") as out:
        done = 0
        while done < total:
            n = min(len(loop), total - done)
            out.write(loop[:n])
            done += n
    tmp.rename(path)
    return path


def make_dictionaries(workdir: Path) -> list:
    paths = []
    for name in ("piano", "bass", "drums"):
        out = workdir / f"{name}.npz"
        if not out.exists():
            train = shared_audio() / "A_stereo_panned" / "train" / f"{name}.wav"
            run_measured([sys.executable, "-m", "nmfaudio", "learn", name, str(train), "-o", str(out),
                 "-k", "32", "--sample-rate", str(RATE), "-q",
                 # the peer's STFT (learn's own default is about 200 ms: 8192 / 2048 here)
                 "--n-fft", "2048", "--hop", "512"])
        paths.append(str(out))
    return paths


def run_measured(argv):
    """Run a child; returns (exit code, stdout, seconds, its own peak RSS in MB)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        # stderr to a file: reading two pipes one after the other can deadlock
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, env=env,
                                 text=True)
        out = child.stdout.read()  # to the end, then reap the child ourselves for its rusage
        _, status, usage = os.wait4(child.pid, 0)
        errors.seek(0)
        err = errors.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        log(f"  child failed ({child.returncode}): {' '.join(argv[:6])} ...\n{err[-2000:]}")
    return child.returncode, out, seconds, usage.ru_maxrss * 1024 / 1e6  # KiB -> MB


def ours(path: Path, out: Path, mode: str, n_iter: int, dicts: list) -> dict:
    argv = [sys.executable, "-m", "nmfaudio", "separate", str(path), "-o", str(out), "--json",
            "-q", "--overwrite", "-n", str(n_iter)]
    if mode == "unsupervised":
        argv += ["--sources", "3"]
    else:
        for d in dicts:
            argv += ["--dict", d]
    code, stdout, seconds, rss = run_measured(argv)
    iterations = None
    if code == 0:
        files = json.loads(stdout)["files"]
        iterations = files[0].get("iterations")
    return {"ok": code == 0, "seconds": seconds, "rss_mb": rss, "iterations": iterations}


def peer(path: Path, out: Path, mode: str, n_iter: int, dicts: list) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", PEER, str(path), str(out), mode, str(n_iter)] + dicts
    code, stdout, seconds, rss = run_measured(argv)
    iterations = json.loads(stdout.strip().splitlines()[-1])["iterations"] if code == 0 else None
    return {"ok": code == 0, "seconds": seconds, "rss_mb": rss, "iterations": iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30, 60])
    parser.add_argument("--modes", nargs="+", default=["unsupervised", "supervised"],
                        choices=["unsupervised", "supervised"])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--peer-max-minutes", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workdir", default="/tmp/nmfaudio_bench_long")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args()

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dicts = make_dictionaries(workdir) if "supervised" in args.modes else []
    rows = []
    log(f"load average at start: {os.getloadavg()}")
    for minutes in args.minutes:
        path = make_input(workdir, minutes)
        for mode in args.modes:
            for repeat in range(args.repeats):
                contenders = [("ours", ours)]
                if minutes <= args.peer_max_minutes:
                    contenders.append(("peer", peer))
                for name, function in contenders:
                    out = workdir / "out" / f"{name}_{mode}_{minutes:g}"
                    result = function(path, out, mode, args.iterations, dicts)
                    result.update(contender=name, mode=mode, minutes=minutes, repeat=repeat,
                                  s_per_min=result["seconds"] / minutes,
                                  load=os.getloadavg()[0])
                    rows.append(result)
                    log(f"{mode:12s} {minutes:5g} min  {name:4s}  ok={result['ok']}  "
                        f"peak RSS {result['rss_mb']:8.0f} MB  {result['seconds']:8.1f} s  "
                        f"{result['s_per_min']:7.2f} s/min  iterations {result['iterations']}  "
                        f"load {result['load']:.1f}")
    log("\n| mode | minutes | ours peak RSS (MB) | ours s/min | peer peak RSS (MB) | "
        "peer s/min | peer/ours time |")
    log("|---|---:|---:|---:|---:|---:|---:|")
    for mode in args.modes:
        for minutes in args.minutes:
            def median(name, key):
                import statistics
                values = [r[key] for r in rows if r["contender"] == name and r["mode"] == mode
                          and r["minutes"] == minutes and r["ok"]]
                return statistics.median(values) if values else None
            o_rss, o_spm = median("ours", "rss_mb"), median("ours", "s_per_min")
            p_rss, p_spm = median("peer", "rss_mb"), median("peer", "s_per_min")
            ratio = f"{p_spm / o_spm:.2f}" if (o_spm and p_spm) else "-"
            fmt = (lambda v, f: f.format(v) if v is not None else "-")
            log(f"| {mode} | {minutes:g} | {fmt(o_rss, '{:.0f}')} | {fmt(o_spm, '{:.2f}')} | "
                f"{fmt(p_rss, '{:.0f}')} | {fmt(p_spm, '{:.2f}')} | {ratio} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
