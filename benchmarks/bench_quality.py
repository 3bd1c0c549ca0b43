"""Separation quality of nmfaudio on the real recordings of ../shared/audio.

Usage::

    python benchmarks/bench_quality.py [--tasks NAME ...] [--json out.json] [--markdown]

What is measured
----------------
Every task folder of the shared recordings (a folder with a ``task.json``; see
``../shared/audio/README.md``) is read from ``NMFAUDIO_SHARED_AUDIO`` if set, else from
``../shared/audio`` next to the checkout; without it the script says so and exits with
status 2. Each task is run with its own STFT (``task.json`` ``"stft"``: ``n_fft``, ``hop``,
Hann, centred frames), in three ways:

- baseline: the mixture itself as the estimate of every source;
- supervised (only where ``train/`` exists): one dictionary per source,
  ``learn_dictionary(train/NAME.wav, 48, name=NAME, stft_config=config)``, then
  ``separate(mixture, dictionaries=[...])``, library defaults otherwise (as
  ``tests/test_quality.py`` does). The sources come out named, in the task's order;
  and the same with every default (``learn_dictionary(train/NAME.wav, 48, name=NAME)``:
  the dictionaries' own STFT, frames of about 200 ms), as a user runs it;
- unsupervised: ``separate(mixture, n_sources=S, stft_config=config)`` (the task's
  STFT), library defaults otherwise;
- blind, side by side with peers (``blind_peers.py``): ``separate(mixture,
  n_sources=S)`` with every default (the STFT too), librosa HPSS (two-source tasks),
  the librosa.decompose + scikit-learn NMF + KMeans glue and libnmfd's NMFD, all on
  the same STFT, scored with the permutation of best mean SDR; median and worst source
  per task. ``--no-blind`` skips it. Its sources are unnamed: each reference is paired with one
  estimate by :func:`nmfaudio.metrics.match_sources` (largest total SI-SDR; it uses the
  true stems, as the README's "oracle" row does, but only to pair whole sources, not to
  assign NMF components).

Scores. :func:`nmfaudio.metrics.evaluate`: BSS Eval v3 (mir_eval, no permutation
search) SDR, SIR and SAR, and SI-SDR, per source, in dB. Mono tasks use
``bss_eval_sources``, exactly as the README's reference scores were computed;
multichannel tasks (A_stereo_panned) use ``bss_eval_images`` on the (S, C, N) stems,
whose numbers are not comparable with the mono ones. For multichannel tasks each
stem's channel balance, ``10 log10(E_left / E_right)``, is printed for the references
and both estimates. The one-number summary is the median over sources of the SDR.

The README's reference pipelines (mixture baseline, unsupervised KL-NMF with an oracle
assigning components, supervised KL-NMF with 32 templates per source, ideal ratio mask)
are hard-coded in ``REFERENCE`` below for the three tasks it scores and printed beside ours.

Timing. Wall-clock time (``time.perf_counter``) of the library calls only: learning all
dictionaries of a task (training files are read inside the call, as in the tests), the
supervised ``separate`` call and the unsupervised one (the mixture is loaded once,
beforehand, and passed as an ``Audio``). Scoring is timed separately and not included.
Before the first task one small untimed separation warms up the lazy imports (librosa)
and the NMF thread pool. One run each: the machine is shared, so the load average at the
start and end is printed with the times.

Output. Per task a table of every score, medians, the reference scores, channel
balances (multichannel) and times; finally a summary with one row per task. With
``--markdown`` the summary is also printed as a markdown table ready for the README;
with ``--json`` everything is written to a file. The exit status is 0, or 1 when a
task failed (the traceback is printed and the other tasks still run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # blind_peers.py beside this file

SHARED_AUDIO_ENV = "NMFAUDIO_SHARED_AUDIO"
N_TEMPLATES = 48  # per source, as in tests/test_quality.py

#: Median SDR (dB) of the reference pipelines, copied from the table "Scores of reference
#: pipelines built from existing libraries" in ../shared/audio/README.md (BSS Eval v3,
#: bss_eval_sources, no permutation search, the task's STFT, soft masks with power 2).
#: Columns: mixture as estimate; unsupervised KL-NMF with components assigned by an
#: oracle; supervised KL-NMF (32 templates per source from train/); ideal ratio mask.
REFERENCE = {
    "A_piano_bass_drums": {"mixture": -4.18, "oracle_unsupervised": 3.02, "supervised": 6.81, "irm": 12.37},
    "B_speech_music": {"mixture": 0.01, "oracle_unsupervised": 1.86, "supervised": 4.66, "irm": 12.92},
    "C_speech_piano_supervised": {"mixture": 0.02, "oracle_unsupervised": 3.89, "supervised": 8.12, "irm": 12.58},
}
REFERENCE_LABELS = {
    "mixture": "mixture as estimate",
    "oracle_unsupervised": "unsupervised KL-NMF, oracle assignment",
    "supervised": "supervised KL-NMF, 32 templates/source",
    "irm": "ideal ratio mask (ceiling)",
}
METRICS = ("sdr", "sir", "sar", "si_sdr")
DASH = "-"


# ---------------------------------------------------------------------------------------
# helpers


def shared_audio_dir() -> Path:
    """The folder of shared recordings: $NMFAUDIO_SHARED_AUDIO, else ../shared/audio."""
    configured = os.environ.get(SHARED_AUDIO_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / "shared" / "audio"


def missing_extra(program: str, *modules: str, extra: str = "eval") -> bool:
    """True, having said on stderr which module is missing and how to install it, when
    one of ``modules`` cannot be imported: a benchmark checks before it measures, not
    after minutes of work."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            print(f"{program}: {exc}; install the {extra} extra: pip install -e '.[{extra}]'",
                  file=sys.stderr)
            return True
    return False


def find_tasks(folder: Path) -> list[Path]:
    """Every sub-folder of ``folder`` holding a task.json, sorted by name."""
    return sorted(p.parent for p in folder.glob("*/task.json"))


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (OSError, AttributeError):
        return "n/a"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt(x: Optional[float], width: int = 6, precision: int = 2) -> str:
    if x is None:
        return DASH.rjust(width)
    if not math.isfinite(x):
        return str(float(x)).rjust(width)
    return f"{x:{width}.{precision}f}"


def json_float(x) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def median(values) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def balance_db(x: np.ndarray) -> float:
    """10 log10 of left over right energy of a (2, N) signal."""
    x = np.asarray(x, dtype=np.float64)
    return float(10 * np.log10((x[0] ** 2).sum() / (x[1] ** 2).sum()))


def scores(ev) -> dict:
    """Per-source scores and medians of an Evaluation, as plain lists."""
    return {m: [float(v) for v in getattr(ev, m)] for m in METRICS}


# ---------------------------------------------------------------------------------------
# one task


def load_task(folder: Path) -> tuple:
    """``(meta, names, mixture, references)`` of a task folder: its task.json, its
    source names, the mixture (Audio) and the stems, shape=(S, C, N)."""
    from nmfaudio import load

    meta = json.loads((folder / "task.json").read_text())
    names = list(meta["sources"])
    mixture = load(folder / "mixture.wav")
    references = np.stack([load(folder / "sources" / f"{n}.wav").samples for n in names])
    if references.shape[1:] != mixture.samples.shape:
        raise RuntimeError(f"{folder.name}: stems {references.shape} do not fit the mixture "
                           f"{mixture.samples.shape}")
    return meta, names, mixture, references


def run_task(folder: Path, *, blind: bool = True) -> dict:
    from nmfaudio import STFTConfig, learn_dictionary, separate
    from nmfaudio.metrics import evaluate, match_sources

    meta, names, mixture, references = load_task(folder)
    config = STFTConfig(n_fft=meta["stft"]["n_fft"], hop_length=meta["stft"]["hop"])
    n_channels = mixture.n_channels
    out: dict = {
        "task": folder.name,
        "sources": names,
        "sample_rate": mixture.sample_rate,
        "channels": n_channels,
        "duration_s": mixture.duration,
        "stft": {"n_fft": config.n_fft, "hop": config.hop_length},
        "reference_readme": REFERENCE.get(folder.name),
    }
    eval_seconds = 0.0

    def score(estimates: np.ndarray):
        nonlocal eval_seconds
        t0 = time.perf_counter()
        ev = evaluate(estimates, references, names=names)
        eval_seconds += time.perf_counter() - t0
        return ev

    # baseline: the mixture as the estimate of every source
    log(f"{folder.name}: baseline")
    base = score(np.broadcast_to(mixture.samples, references.shape).copy())
    out["method"] = base.method
    out["baseline"] = scores(base)

    # supervised
    train = folder / "train"
    missing = [n for n in names if not (train / f"{n}.wav").is_file()]
    if not train.is_dir():
        out["supervised"] = {"skipped": "no train/ folder"}
    elif missing:
        out["supervised"] = {"skipped": f"train/ lacks {', '.join(m + '.wav' for m in missing)}"}
    else:
        log(f"{folder.name}: supervised, learning {len(names)} dictionaries of {N_TEMPLATES}")
        learn_times = {}
        dictionaries = []
        for n in names:
            t0 = time.perf_counter()
            dictionaries.append(learn_dictionary(train / f"{n}.wav", N_TEMPLATES, name=n, stft_config=config))
            learn_times[n] = time.perf_counter() - t0
        log(f"{folder.name}: supervised, separating")
        t0 = time.perf_counter()
        sep = separate(mixture, dictionaries=dictionaries)
        sep_time = time.perf_counter() - t0
        if list(sep.source_names) != names:
            raise RuntimeError(f"supervised sources came out as {sep.source_names}, expected {names}")
        ev = score(sep.sources)
        # as a user runs it: every default, the dictionaries' own STFT (about 200 ms)
        log(f"{folder.name}: supervised with every default")
        own = separate(mixture, dictionaries=[learn_dictionary(train / f"{n}.wav", N_TEMPLATES, name=n)
                                              for n in names])
        out["supervised_defaults"] = scores(score(own.sources))
        out["supervised"] = {
            **scores(ev),
            "learn_seconds": sum(learn_times.values()),
            "learn_seconds_per_source": learn_times,
            "separate_seconds": sep_time,
            "nmf_iterations": int(sep.nmf.n_iter),
            "sum_error": float(np.abs(sep.sources.sum(axis=0) - mixture.samples).max()),
            "estimates": sep.sources,  # removed before JSON
        }

    # unsupervised
    log(f"{folder.name}: unsupervised, separating into {len(names)}")
    t0 = time.perf_counter()
    sep = separate(mixture, n_sources=len(names), stft_config=config)
    sep_time = time.perf_counter() - t0
    order = match_sources(sep.sources, references)
    ev = score(sep.sources[order])
    out["unsupervised"] = {
        **scores(ev),
        "separate_seconds": sep_time,
        "nmf_iterations": int(sep.nmf.n_iter),
        "n_components": int(sep.nmf.templates.shape[1]),
        "pairing": {ref: sep.source_names[int(j)] for ref, j in zip(names, order)},
        "sum_error": float(np.abs(sep.sources.sum(axis=0) - mixture.samples).max()),
        "estimates": sep.sources[order],  # removed before JSON
    }

    if n_channels == 2:
        out["channel_balance_db"] = {
            n: {
                "reference": balance_db(references[j]),
                **{mode: balance_db(out[mode]["estimates"][j])
                   for mode in ("supervised", "unsupervised") if "estimates" in out[mode]},
            }
            for j, n in enumerate(names)
        }
    for mode in ("supervised", "unsupervised"):
        out[mode].pop("estimates", None)
    out["evaluate_seconds"] = eval_seconds
    if blind:
        from blind_peers import run_blind

        log(f"{folder.name}: blind, nmfaudio defaults and peers")
        out["blind"] = run_blind(mixture, references, log=lambda m: log(f"{folder.name}:{m}"))
    return out


# ---------------------------------------------------------------------------------------
# reports


def med(result: dict, mode: str, metric: str = "sdr") -> Optional[float]:
    part = result.get(mode, {})
    return median(part[metric]) if metric in part else None


def print_task(r: dict) -> None:
    names = r["sources"]
    title = (f"{r['task']}: {len(names)} sources, {r['channels']} ch, {r['sample_rate']} Hz, "
             f"{r['duration_s']:.2f} s, STFT {r['stft']['n_fft']}/{r['stft']['hop']}, "
             f"scored with {r['method']}")
    print("\n" + "=" * len(title))
    print(title)
    print("=" * len(title))
    sup, uns = r["supervised"], r["unsupervised"]
    groups = [("mixture (baseline)", r["baseline"]), ("supervised", sup), ("unsupervised", uns)]
    labels = ("SDR", "SIR", "SAR", "SI-SDR")
    w = max(8, max(len(n) for n in names))
    block = 4 * 7 - 1

    def cells(part: dict, j: Optional[int]) -> str:
        if "sdr" not in part:
            return " ".join(DASH.rjust(6) for _ in METRICS)
        if j is None:
            return " ".join(fmt(median(part[m])) for m in METRICS)
        return " ".join(fmt(part[m][j]) for m in METRICS)

    print(" " * w + " | " + " | ".join(g.center(block) for g, _ in groups))
    print("source".ljust(w) + " | " + " | ".join(" ".join(x.rjust(6) for x in labels) for _ in groups))
    rule = "-" * (w + 3 * (block + 3))
    print(rule)
    for j, n in enumerate(names):
        print(n.ljust(w) + " | " + " | ".join(cells(p, j) for _, p in groups))
    print(rule)
    print("median".ljust(w) + " | " + " | ".join(cells(p, None) for _, p in groups))
    if "skipped" in sup:
        print(f"supervised: skipped ({sup['skipped']})")
    print("unsupervised pairing (reference <- estimate): "
          + ", ".join(f"{ref} <- {est}" for ref, est in uns["pairing"].items()))

    ref = r.get("reference_readme")
    if ref:
        print("\nmedian SDR (dB)                          README reference     ours")
        ours = {"mixture": med(r, "baseline"), "oracle_unsupervised": med(r, "unsupervised"),
                "supervised": med(r, "supervised"), "irm": None}
        ours_label = {"mixture": "", "oracle_unsupervised": "  (ours: no oracle, match_sources pairing)",
                      "supervised": "  (ours: 48 templates/source)", "irm": ""}
        for key, label in REFERENCE_LABELS.items():
            print(f"  {label:<38} {ref[key]:>8.2f}     {fmt(ours[key])}{ours_label[key]}")
    elif r["channels"] > 1:
        print("\n(no README reference for this task; bss_eval_images scores are not comparable "
              "with those of the mono tasks)")

    if "channel_balance_db" in r:
        print("\nchannel balance 10 log10(E_L / E_R), dB:")
        print(f"  {'source'.ljust(w)}  reference  supervised (diff)  unsupervised (diff)")
        for n, b in r["channel_balance_db"].items():
            parts = []
            for mode in ("supervised", "unsupervised"):
                if mode in b:
                    parts.append(f"{b[mode]:+8.2f} ({b[mode] - b['reference']:+5.2f})")
                else:
                    parts.append(f"{DASH:>8} {'':7}")
            print(f"  {n.ljust(w)}  {b['reference']:+9.2f}  {parts[0]:>17}  {parts[1]:>19}")

    print("\nwall time (s): ", end="")
    times = []
    if "learn_seconds" in sup:
        per = ", ".join(f"{n} {t:.1f}" for n, t in sup["learn_seconds_per_source"].items())
        times.append(f"learn {sup['learn_seconds']:.1f} ({per})")
        times.append(f"separate supervised {sup['separate_seconds']:.1f} "
                     f"({sup['nmf_iterations']} it)")
    times.append(f"separate unsupervised {uns['separate_seconds']:.1f} "
                 f"({uns['nmf_iterations']} it, K={uns['n_components']})")
    times.append(f"scoring {r['evaluate_seconds']:.1f}")
    print("; ".join(times))
    errs = [f"{m} {r[m]['sum_error']:.1e}" for m in ("supervised", "unsupervised") if "sum_error" in r[m]]
    print("max |sum of sources - mixture|: " + ", ".join(errs))


SUMMARY_HEADER = ["task", "mixture", "ours supervised", "ours supervised, defaults",
                  "ours unsupervised", "reference supervised", "learn (s)", "separate sup. (s)", "separate unsup. (s)"]


def summary_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["task"], "error"] + [DASH] * (len(SUMMARY_HEADER) - 2))
            continue
        sup, uns = r["supervised"], r["unsupervised"]
        ref = r.get("reference_readme")
        task = r["task"] + (" *" if r["method"] == "bss_eval_images" else "")

        def f(x):
            return DASH if x is None else f"{x:.2f}"

        rows.append([
            task,
            f(med(r, "baseline")),
            f(med(r, "supervised")),
            f(med(r, "supervised_defaults")) if "supervised_defaults" in r else DASH,
            f(med(r, "unsupervised")),
            f(ref["supervised"] if ref else None),
            f"{sup['learn_seconds']:.1f}" if "learn_seconds" in sup else DASH,
            f"{sup['separate_seconds']:.1f}" if "separate_seconds" in sup else DASH,
            f"{uns['separate_seconds']:.1f}",
        ])
    return rows


SUMMARY_NOTE = ("Median over sources of SDR in dB (BSS Eval v3, no permutation search); "
                "ours supervised: the task's STFT, as the reference; 'defaults': the "
                "dictionaries' own STFT (frames of about 200 ms); "
                "reference supervised: KL-NMF with 32 templates per source, from "
                "../shared/audio/README.md. * multichannel, scored with bss_eval_images "
                "(not comparable with the mono rows). Unsupervised sources are paired with "
                "the references by match_sources (best total SI-SDR).")


def print_summary(results: list[dict]) -> None:
    rows = summary_rows(results)
    widths = [max(len(x) for x in col) for col in zip(SUMMARY_HEADER, *rows)]
    print("\nSUMMARY (median SDR, dB; wall times, s)")
    line = lambda cells: "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])
    print(line(SUMMARY_HEADER))
    print("-" * len(line(SUMMARY_HEADER)))
    for row in rows:
        print(line(row))


def blind_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the blind table: median (worst source) SDR per method."""
    methods: list[str] = []
    for r in results:
        for name in r.get("blind", {}):
            if name not in methods:
                methods.append(name)
    rows = []
    for r in results:
        if "blind" not in r:
            continue
        task = r["task"] + (" *" if r["method"] == "bss_eval_images" else "")
        cells = [task, f"{med(r, 'baseline'):.2f}"]
        for name in methods:
            part = r["blind"].get(name, {})
            if "sdr" in part:
                cells.append(f"{median(part['sdr']):.2f} ({min(part['sdr']):.2f})")
            else:
                cells.append(DASH)
        rows.append(cells)
    return ["task", "mixture"] + methods, rows


BLIND_NOTE = ("Blind separation, every default (STFT of about 80 ms at the file's rate, "
              "the same for the peers): median over sources of SDR in dB, worst source in "
              "brackets; BSS Eval v3, whole signal, permutation of best mean SDR. "
              "* stereo, bss_eval_images. - : not applicable (HPSS makes two sources).")


def print_blind(results: list[dict]) -> None:
    header, rows = blind_rows(results)
    if not rows:
        return
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    print("\nBLIND (median SDR (worst source), dB)")
    line = lambda cells: "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])
    print(line(header))
    print("-" * len(line(header)))
    for row in rows:
        print(line(row))
    skipped = {f"{name}: {part['skipped']}" for r in results for name, part in r.get("blind", {}).items()
               if "skipped" in part and "makes 2" not in part["skipped"]}
    for why in sorted(skipped):
        print(f"skipped {why}")


def markdown_blind(results: list[dict]) -> str:
    header, rows = blind_rows(results)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out) + "\n\n" + BLIND_NOTE


def markdown_summary(results: list[dict]) -> str:
    rows = summary_rows(results)
    out = ["| " + " | ".join(SUMMARY_HEADER) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(SUMMARY_HEADER) - 1)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out) + "\n\n" + SUMMARY_NOTE


# ---------------------------------------------------------------------------------------


def environment() -> dict:
    import mir_eval
    import scipy

    import nmfaudio

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "nmfaudio": nmfaudio.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "mir_eval": mir_eval.__version__,
    }


def warm_up() -> None:
    """One small untimed separation: lazy imports (librosa) and the NMF threads."""
    from nmfaudio import Audio, STFTConfig, separate

    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    separate(Audio(noise, 8000), n_sources=2, n_iter=5, stft_config=STFTConfig(n_fft=512, hop_length=128))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", metavar="NAME", default=None,
                        help="run only these task folders (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write all results here")
    parser.add_argument("--no-blind", action="store_true",
                        help="skip the blind table (nmfaudio defaults beside librosa, "
                             "scikit-learn and libnmfd)")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the summary as a markdown table for the README")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    folder = shared_audio_dir()
    tasks = find_tasks(folder) if folder.is_dir() else []
    if not tasks:
        how = (f"{SHARED_AUDIO_ENV}={os.environ[SHARED_AUDIO_ENV]!r}" if os.environ.get(SHARED_AUDIO_ENV)
               else f"set {SHARED_AUDIO_ENV} to the shared audio folder")
        print(f"bench_quality: no tasks found: {folder} is not a folder of tasks "
              f"(*/task.json) ({how}). Nothing was measured.", file=sys.stderr)
        return 2
    if args.tasks:
        by_name = {t.name: t for t in tasks}
        unknown = [t for t in args.tasks if t not in by_name]
        if unknown:
            print(f"bench_quality: unknown task(s) {', '.join(unknown)}; the tasks in {folder} are: "
                  f"{', '.join(by_name)}", file=sys.stderr)
            return 2
        tasks = [by_name[t] for t in dict.fromkeys(args.tasks)]
    if missing_extra("bench_quality", "mir_eval"):
        return 2

    t_start = time.perf_counter()
    env = environment()
    env["load_average_start"] = load_average()
    print("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    print(f"tasks from {folder}: {', '.join(t.name for t in tasks)}")
    warm_up()

    results = []
    status = 0
    for task in tasks:
        log(f"{task.name}: start")
        try:
            result = run_task(task, blind=not args.no_blind)
        except Exception:  # report and go on with the other tasks
            status = 1
            print(f"\n{task.name}: FAILED\n{traceback.format_exc()}", flush=True)
            results.append({"task": task.name, "error": traceback.format_exc()})
            continue
        results.append(result)
        print_task(result)
        sys.stdout.flush()

    print_summary(results)
    print_blind(results)
    env["load_average_end"] = load_average()
    total = time.perf_counter() - t_start
    print(f"\nload average: start {env['load_average_start']}, end {env['load_average_end']}; "
          f"total time {total:.0f} s")
    if args.markdown:
        print("\nMarkdown summary:\n")
        print(markdown_summary(results))
        if any("blind" in r for r in results):
            print("\n" + markdown_blind(results))

    if args.json is not None:
        def clean(x):
            if isinstance(x, float):
                return json_float(x)
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return x

        payload = {"environment": env, "shared_audio": str(folder), "n_templates": N_TEMPLATES,
                   "reference_readme": REFERENCE, "tasks": clean(results), "total_seconds": total}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"\nresults written to {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
