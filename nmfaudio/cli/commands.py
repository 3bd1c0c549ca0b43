"""The commands: separate, demo, learn, evaluate, plot."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

import click
import numpy as np
import soundfile as sf

from .. import __version__
from .. import audio as audio_io
from .._budget import check_memory, learning_estimate
from ..dictionary import check_name, learn_dictionary
from ..errors import NMFAudioError, ParameterError
from ..factorization import usable_cores
from ..metrics import evaluate_files, match_sources
from ..pipeline import separate
from ..cluster import NAMINGS, output_folders
from .batch import _separate_dask, _separate_parallel
from .core import (BETA, CONTEXT_SETTINGS, EXIT_FAILED, EXIT_OK, CLIError, _echo_error,
                   _echo_json, _echo_warning, _STATE, cli)
from .outputs import HINT_OUT, OutputSettings, _check_target, _make_dirs, _remove_empty_dirs
from . import signals
from .progress import Progress
from .separation import FileJob, separate_file
from .settings import (DEFAULT_DICT_COMPONENTS, DEFAULT_OUT, DEMO_SOURCES, learning_stft,
                       _demo_model, _demo_uses_dictionaries, _example_mixture, _model_options,
                       _model_settings)

#: Audio files ``evaluate`` looks for in its folders.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")

# --------------------------------------------------------------------------- separate / demo


def _output_options(function):
    options = [
        click.option("-o", "--out", "out_dir", default=DEFAULT_OUT, show_default=True,
                     metavar="OUTDIR", help="Output folder; each mixture gets OUTDIR/<stem>/."),
        click.option("--float32", is_flag=True,
                     help="Write 32-bit float WAVs (never clipped) instead of 16-bit PCM."),
        click.option("--components-out", is_flag=True,
                     help="Also write every NMF component: OUTDIR/<stem>/components/"
                          "component_XX.wav (XX = column of W; a drum kit's NMFD "
                          "component)."),
        click.option("--plot", is_flag=True,
                     help="Also draw the separation: OUTDIR/<stem>/separation.png."),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Separate this many files in parallel processes (with --dask "
                          "local: the number of worker processes)."),
        click.option("--dask", "dask_address", default=None, metavar="ADDRESS|local",
                     help="Separate the files on a Dask cluster, one task per file: a "
                          "scheduler address (tcp://HOST:8786) or 'local' (a LocalCluster). "
                          "Needs pip install 'nmfaudio[dask]'."),
        click.option("--naming", type=click.Choice(NAMINGS), default=NAMINGS[0],
                     show_default=True,
                     help="Output folder of each mixture: stem = OUTDIR/<file name>/, "
                          "parent = OUTDIR/<folder holding the file>/ (MUSDB's "
                          "track/mixture.wav), mirror = OUTDIR/<path below the inputs' "
                          "common folder>/."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print a JSON summary on stdout and nothing else there."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars, no summary lines."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@cli.command("separate", context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", nargs=-1, metavar="[MIX.wav]...")
@_model_options
@_output_options
def separate_command(inputs, **params) -> None:
    """Separate mixtures into sources: OUTDIR/<mixture stem>/<source>.wav.

    Unsupervised (default: --sources 2): the sources are named source1, source2, ...
    from low to high spectral centroid. Supervised: --dict NAME.npz per source
    (from `nmfaudio learn`), named after the dictionaries.

    With no MIX.wav, like `nmfaudio demo`: learns keys and drums dictionaries from
    training clips shipped with nmfaudio and separates the example mixture (keys +
    drums) with them into OUTDIR/example/ (with --sources, --components or --grouping:
    unsupervised).

    The sources have the mixture's sample rate, channels and length, and add up to it.
    With --overwrite, the outputs of an earlier nmfaudio run in OUTDIR/<stem>/ that
    this run does not write again are removed (only those: they are listed in a hidden
    manifest there). Exit code 1 if any input failed (the others are still written).

    A file whose name starts with '-' goes after '--', which ends the options:
    `nmfaudio separate -o out -- -take1.wav`.
    """
    _separate_main(inputs, params)


@cli.command(context_settings=CONTEXT_SETTINGS)
@_model_options
@_output_options
def demo(**params) -> None:
    """Separate the example mixture shipped with nmfaudio into ./separated/example/.

    Keys and drums, 6 s, 22050 Hz mono. Learns a dictionary per instrument from 6 s of
    other music played on it (also shipped with nmfaudio), then separates with them;
    with --sources, --components or --grouping, separates without dictionaries instead.
    The same as `nmfaudio separate` with no file.
    """
    _separate_main((), params)


def _separate_main(inputs, params: dict) -> None:
    start = time.perf_counter()
    ctx = click.get_current_context()
    as_json, quiet = params["as_json"], params["quiet"]
    verbose = not (as_json or quiet)
    model = _model_settings(params)
    with ExitStack() as stack:
        is_demo = not inputs
        paths = list(inputs) if inputs else [_example_mixture(stack)]
        if is_demo and _demo_uses_dictionaries(params):
            model = _demo_model(stack, model, params, verbose)
        jobs = []
        out_dir = Path(params["out_dir"])
        if params["naming"] == "stem":
            for path in paths:
                stem = Path(path).stem or Path(path).name
                if stem in ("", ".", "..") or os.sep in stem or (os.altsep and os.altsep in stem):
                    raise click.UsageError(
                        f"'{path}' cannot name its output folder (OUTDIR/<stem>/ would be "
                        f"'{out_dir / stem}', outside -o); rename or copy the file")
        try:
            folders = output_folders(paths, out_dir, naming=params["naming"])
        except NMFAudioError as error:
            raise click.UsageError(str(error).replace("(CLI: --naming", "(--naming")) from None
        for index, (path, folder) in enumerate(zip(paths, folders)):
            label = path if not is_demo else "example.wav (the example shipped with nmfaudio)"
            jobs.append(FileJob(index=index, input=path, label=label, folder=folder))
        protected = tuple(os.path.abspath(p) for p in list(paths) + list(model.dictionary_paths)
                          if os.path.exists(p))
        n_jobs = min(params["jobs"], len(jobs))
        if n_jobs > usable_cores():
            # more workers than cores only adds switching between them
            _echo_warning(f"--jobs {params['jobs']} is more than the {usable_cores()} cores "
                          f"this process may use; running {usable_cores()} jobs")
            n_jobs = usable_cores()
        out = OutputSettings(subtype="FLOAT" if params["float32"] else "PCM_16",
                             components_out=params["components_out"], plot=params["plot"],
                             overwrite=params["overwrite"], protected=protected,
                             out_dir=str(out_dir), n_jobs=n_jobs)
        if params["plot"]:
            from .. import plot  # noqa: F401  (fail now, not after the separations)
        created = _make_dirs(out_dir, HINT_OUT)

        results = []

        def report(result: dict) -> None:
            results.append(result)
            _report_file(result, verbose=verbose, quiet=quiet)

        try:
            if params["dask_address"]:
                _separate_dask(jobs, model, out, params["dask_address"], params["jobs"],
                               verbose, report)
            elif n_jobs <= 1:
                for job in jobs:
                    bar_label = (f"[{job.index + 1}/{len(jobs)}] {job.label}" if len(jobs) > 1
                                 else job.label)
                    result = separate_file(job, model, out, progress=verbose, bar_label=bar_label)
                    if is_demo:
                        result["label"] = job.label
                    report(result)
            else:
                _separate_parallel(jobs, model, out, n_jobs, verbose, report)
        finally:
            with signals.deferred():
                _remove_empty_dirs(created)  # only if nothing was written in them

    n_failed = sum(not r["ok"] for r in results)
    if as_json:
        _echo_json({
            "command": "demo" if is_demo else "separate",
            "version": __version__,
            "ok": n_failed == 0,
            "n_inputs": len(results),
            "n_failed": n_failed,
            "output_dir": str(out_dir),
            "settings": model.describe(),
            "subtype": out.subtype,
            "seconds": time.perf_counter() - start,
            "files": [{k: v for k, v in r.items() if k != "traceback"} for r in results],
        })
    elif verbose and is_demo and n_failed == 0:
        _echo_demo_hint(results[0])
    if n_failed and len(results) > 1:
        _echo_error(f"{n_failed} of {len(results)} inputs failed (see above); the others were "
                    "written")
    ctx.exit(EXIT_FAILED if n_failed else EXIT_OK)



def _report_file(result: dict, *, verbose: bool, quiet: bool) -> None:
    if not result["ok"]:
        _echo_error(result["error"])
        if result.get("bug") and result.get("traceback") and _STATE.debug:
            click.echo(result["traceback"], err=True, nl=False)
        return
    if not quiet:
        for message in result["warnings"]:
            _echo_warning(message)
    if verbose:
        names = ", ".join(Path(s["path"]).name for s in result["sources"])
        extras = ""
        if result["components"]:
            extras += f" + {len(result['components'])} components"
        if result.get("residual"):
            extras += " + residual.wav (above the dictionaries' band)"
        if result["plot"]:
            extras += " + separation.png"
        state = ", converged" if result["converged"] else ""
        if result.get("fit") == "online":  # chosen from the size: say so
            state += ", templates learned online (a long recording)"
        grouping = result.get("grouping")
        if grouping in _GROUPING_WORDS:  # blind: how the components became sources
            state += f", grouped {_GROUPING_WORDS[grouping]}"
        click.echo(f"{result.get('label', result['input'])} -> {result['output_dir']}{os.sep}: "
                   f"{names}{extras} ({result['iterations']} iterations{state}, "
                   f"{result['seconds']:.1f} s)")


#: How the summary line names each blind grouping (Separation.grouping).
_GROUPING_WORDS = {"spatial": "by direction", "harmonic-percussive": "by harmonic/percussive",
                   "drum-kit": "as a drum kit by register", "register": "by register",
                   "timbre": "by timbre"}


def _echo_demo_hint(result: dict) -> None:
    names = [Path(s["path"]).stem for s in result["sources"]]
    if names == list(DEMO_SOURCES):
        how = ("with a dictionary per instrument learned from 6 s of other music played on "
               "it (shipped with nmfaudio too)")
    else:
        how = f"into {len(names)} sources"
    click.echo(f"\nThat was the example mixture shipped with nmfaudio (keys + drums, 6 s), "
               f"separated {how}.")
    click.echo("Next:")
    click.echo("  nmfaudio separate YOUR.wav --sources 3           # your own recording")
    click.echo("  nmfaudio separate YOUR.wav --plot                # + a figure of W, H, masks")
    click.echo("  nmfaudio learn keys keys_solo.wav -o keys.npz     # a dictionary per source,")
    click.echo("  nmfaudio separate YOUR.wav --dict keys.npz --dict drums.npz   # then supervised")
    click.echo("  nmfaudio evaluate separated/YOUR REFERENCE_DIR    # SDR against true sources")


# --------------------------------------------------------------------------- learn


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.argument("training", nargs=-1, required=True, metavar="TRAIN.wav...")
@click.option("-o", "--out", "out_path", default=None, metavar="NAME.npz",
              help="Dictionary file to write [default: NAME.npz].")
@click.option("-k", "--components", type=click.IntRange(min=1),
              default=DEFAULT_DICT_COMPONENTS, show_default=True,
              help="Number of templates.")
@click.option("--n-fft", type=click.IntRange(min=16), default=None,
              help="STFT frame length; separation will use the same [default: about 200 ms "
                   "at the training rate: 2048 at 8 kHz, 4096 at 16 to 22.05 kHz, 8192 at "
                   "44.1 or 48 kHz].")
@click.option("--hop", type=click.IntRange(min=1), default=None,
              help="STFT hop [default: n_fft / 4].")
@click.option("--beta", type=BETA, default="kl", show_default=True,
              help="Divergence: kl, is, euclidean, or a number.")
@click.option("-n", "--iterations", type=click.IntRange(min=1), default=300, show_default=True,
              help="Maximum number of NMF iterations.")
@click.option("--sparsity", type=click.FloatRange(min=0), default=None,
              help="L1 weight on the activations while learning [default: 0.2].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the initialization.")
@click.option("--sample-rate", type=click.IntRange(min=1), default=None,
              help="Resample the training audio to this rate [default: the first file's].")
@click.option("--overwrite", is_flag=True, help="Replace an existing dictionary file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary line.")
def learn(name, training, out_path, components, n_fft, hop, beta, iterations, sparsity, seed,
          sample_rate, overwrite, as_json, quiet) -> None:
    """Learn the dictionary (spectral templates) of source NAME from recordings of it alone.

    Use the .npz with `nmfaudio separate MIX.wav --dict NAME.npz --dict OTHER.npz`; the
    separation takes the dictionary's sample rate and STFT. The dictionary records the
    training files by their base names only.

    A file whose name starts with '-' goes after '--': `nmfaudio learn piano -- -a.wav`.
    """
    start = time.perf_counter()
    try:
        check_name(name)
    except ParameterError:
        raise click.UsageError(f"NAME {name!r} names the source and its output files "
                               "(NAME.wav): give a plain name such as 'piano'") from None
    out_path = out_path if out_path is not None else f"{name}.npz"
    if not out_path.endswith(".npz"):
        raise click.UsageError(f"-o {out_path!r}: dictionary files end in .npz")
    config = learning_stft(training, n_fft, hop, sample_rate)
    if config is not None:
        _check_learning_memory(name, training, components, config, sample_rate)
    protected = tuple(p for p in training if os.path.exists(p))
    hint = "choose another file with -o"
    _check_target(Path(out_path), overwrite=overwrite, protected=protected, hint=hint)
    folder = Path(os.path.dirname(os.path.abspath(out_path)))
    created = _make_dirs(folder, hint)
    kwargs = {} if sparsity is None else {"l1_activations": sparsity}
    default_stft = n_fft is None and hop is None  # the library's, which says so if too long
    verbose = not (as_json or quiet)
    try:
        with Progress(iterations, f"learning {name}", enabled=verbose) as bar:
            dictionary = learn_dictionary(list(training), components, name=name, beta=beta,
                                          stft_config=None if default_stft else config,
                                          sample_rate=sample_rate,
                                          n_iter=iterations, seed=seed, callback=bar.callback,
                                          **kwargs)
        dictionary.save(out_path, overwrite=overwrite)
    except BaseException:
        _remove_empty_dirs(created)
        raise
    meta = dictionary.metadata
    summary = {
        "command": "learn",
        "version": __version__,
        "ok": True,
        "name": dictionary.name,
        "path": out_path,
        "n_components": dictionary.n_components,
        "sample_rate": dictionary.sample_rate,
        "n_fft": dictionary.stft.n_fft,
        "hop": dictionary.stft.hop_length,
        "beta": dictionary.beta,
        "training_files": list(training),
        "training_seconds": meta.get("training_seconds"),
        "iterations": meta.get("n_iter"),
        "final_loss": meta.get("final_loss"),
        "seconds": time.perf_counter() - start,
    }
    if as_json:
        _echo_json(summary)
    elif verbose:
        click.echo(f"learned '{name}': {dictionary.n_components} templates from "
                   f"{len(training)} file(s), {summary['training_seconds']:.1f} s at "
                   f"{dictionary.sample_rate} Hz (n_fft {dictionary.stft.n_fft}, hop "
                   f"{dictionary.stft.hop_length}) -> {out_path} "
                   f"({summary['iterations']} iterations, {summary['seconds']:.1f} s)")
        click.echo(f"use it: nmfaudio separate MIX.wav --dict {out_path} --dict OTHER.npz")


def _check_learning_memory(name, training, components, config, sample_rate) -> None:
    """Refuse, from the files' headers, a dictionary that cannot be learned in memory."""
    frames, channels = [], 1
    for path in training:
        try:
            info = sf.info(path)
        except Exception:  # noqa: BLE001  (audio.load will say what is wrong with it)
            continue
        n = int(info.frames) * (sample_rate or info.samplerate) // info.samplerate
        frames.append(1 + n // config.hop_length)
        channels = max(channels, int(info.channels))
    if not frames:
        return
    estimate = learning_estimate(frames, channels, n_fft=config.n_fft, n_components=components)
    check_memory(estimate, what=f"learning '{name}' with {components} templates",
                 advice={"nmf": f"use fewer templates (-k {components} now)",
                         "spectrogram": f"the training audio makes {sum(frames)} STFT frames: "
                                        "use a larger --hop or shorter training files"})


# --------------------------------------------------------------------------- evaluate


def _audio_files(folder: str) -> dict:
    """``{stem: path}`` of the visible audio files directly in ``folder``."""
    found = {}
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        stem, extension = os.path.splitext(entry)
        if entry.startswith(".") or extension.lower() not in AUDIO_EXTENSIONS \
                or not os.path.isfile(path):
            continue
        if stem in found:
            raise CLIError(f"'{found[stem]}' and '{path}' are two files for source '{stem}' in "
                           f"'{folder}'; keep one of them")
        found[stem] = path
    return found


def _best_assignment(estimates: dict, references: dict, estimates_dir: str) -> dict:
    """``{reference name: estimate path}`` maximizing the total SI-SDR (one to one).

    :func:`nmfaudio.metrics.match_sources` pairs as many estimates as references; the
    references are padded with silent rows (the worst match for every estimate), so
    the estimates paired with those are the ones left over.
    """
    if len(estimates) < len(references):
        raise CLIError(f"--match best needs at least as many estimates as references: "
                       f"'{estimates_dir}' has {len(estimates)} audio files, the references "
                       f"{len(references)}")
    ref_names, est_names = list(references), list(estimates)
    refs = [audio_io.load(references[n], allow_silent=True).samples for n in ref_names]
    ests = [audio_io.load(estimates[n], allow_silent=True).samples for n in est_names]
    paths = [estimates[n] for n in est_names] + [references[n] for n in ref_names]
    for path, signal in zip(paths, ests + refs):
        if signal.shape != refs[0].shape:
            raise CLIError(f"'{path}' has shape {signal.shape} but '{references[ref_names[0]]}' "
                           f"has {refs[0].shape} (channels, samples); estimates and references "
                           "must match")
    padded = refs + [np.zeros_like(refs[0])] * (len(ests) - len(refs))
    order = match_sources(np.stack(ests), np.stack(padded))
    paired = {ref_names[i]: estimates[est_names[j]] for i, j in enumerate(order[:len(refs)])}
    # estimates left over keep their own names, to be listed as unscored
    for j in order[len(refs):]:
        paired[f"{est_names[j]} (unmatched)"] = estimates[est_names[j]]
    return paired


def _check_folder(folder: str, what: str) -> None:
    if not os.path.exists(folder):
        raise CLIError(f"{what} '{folder}' does not exist; check the path")
    if not os.path.isdir(folder):
        raise CLIError(f"{what} '{folder}' is not a folder; give the folder that holds one "
                       "NAME.wav per source")


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("estimates_dir", metavar="ESTDIR")
@click.argument("references_dir", metavar="REFDIR")
@click.option("-m", "--mixture", default=None, metavar="MIX.wav",
              help="The mixture, for the baseline (mixture as estimate) and the improvement.")
@click.option("--match", type=click.Choice(["name", "best"], case_sensitive=False),
              default="name", show_default=True,
              help="Pair estimates with references by file name, or (best) by the assignment "
                   "with the highest SI-SDR, for unsupervised outputs named source1, source2...")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on unscored files.")
def evaluate(estimates_dir, references_dir, mixture, match, as_json, quiet) -> None:
    """Score separated sources against the true ones: SDR, SIR, SAR, SI-SDR (dB).

    Files are matched by name: ESTDIR/piano.wav is scored against REFDIR/piano.wav.
    Every reference needs an estimate; estimates without a reference are skipped.
    With --match best (for unsupervised outputs), each reference gets the estimate of
    the one-to-one assignment with the highest total SI-SDR.
    Needs mir_eval (pip install 'nmfaudio[eval]').
    """
    start = time.perf_counter()
    _check_folder(estimates_dir, "estimates folder")
    _check_folder(references_dir, "references folder")
    references = _audio_files(references_dir)
    if not references:
        raise CLIError(f"no audio files ({', '.join(AUDIO_EXTENSIONS[:2])}) in references folder "
                       f"'{references_dir}'; give the folder that holds one NAME.wav per source")
    estimates = _audio_files(estimates_dir)
    if match.lower() == "best":
        estimates = _best_assignment(estimates, references, estimates_dir)
    missing = [name for name in references if name not in estimates]
    if missing:
        found = ", ".join(Path(p).name for p in estimates.values()) or "none"
        raise CLIError(
            f"no estimate for reference '{references[missing[0]]}': expected "
            f"'{os.path.join(estimates_dir, missing[0] + '.wav')}' (estimates found: {found}); "
            "estimates and references are matched by file name; for unsupervised outputs "
            "(source1, source2...) use --match best")
    if mixture is not None and not os.path.exists(mixture):
        raise CLIError(f"mixture '{mixture}' does not exist; check the path")
    names = list(references)
    unscored = [estimates[n] for n in estimates if n not in references]
    evaluation = evaluate_files([estimates[n] for n in names], [references[n] for n in names],
                                names=names, mixture_path=mixture)
    if as_json:
        document = {"command": "evaluate", "version": __version__, "ok": True,
                    "estimates_dir": estimates_dir, "references_dir": references_dir,
                    "mixture": mixture,
                    "files": {n: {"estimate": estimates[n], "reference": references[n]}
                              for n in names},
                    "unscored": unscored, "seconds": time.perf_counter() - start}
        document.update(evaluation.to_dict())
        _echo_json(document)
        return
    if unscored and not quiet:
        click.echo("nmfaudio: note: no reference for "
                   + ", ".join(f"'{p}'" for p in unscored) + "; not scored", err=True)
    click.echo(f"{estimates_dir} vs {references_dir} ({evaluation.method}, SI-SDR)")
    click.echo(evaluation.table())


# --------------------------------------------------------------------------- plot


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("mixture", required=False, metavar="[MIX.wav]")
@click.option("-o", "--out", "out_path", default=None, metavar="FIG.png",
              help="Image to write (.png, .pdf, .svg, ...) [default: <stem>_separation.png].")
@_model_options
@click.option("--dpi", type=click.FloatRange(min=10, max=1200), default=100,
              show_default=True, help="Pixels per inch of raster images.")
@click.option("--linear-frequency", is_flag=True, help="Linear frequency axis (default log).")
@click.option("--overwrite", is_flag=True, help="Replace an existing image.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary line.")
def plot(mixture, out_path, dpi, linear_frequency, overwrite, as_json, quiet, **params) -> None:
    """Draw a separation (spectrogram, templates W, activations H, sources) without
    writing audio.

    Takes the separation options of `separate` (--dict, --sources, --n-fft, ...; not
    its output options); with no MIX.wav, plots the example mixture as `nmfaudio demo`
    separates it.
    """
    start = time.perf_counter()
    model = _model_settings(params)
    from matplotlib.figure import Figure

    from ..plot import plot_separation, save_figure

    with ExitStack() as stack:
        path = mixture if mixture is not None else _example_mixture(stack)
        if mixture is None and _demo_uses_dictionaries(params):
            model = _demo_model(stack, model, params, verbose=not (quiet or as_json))
        model = model.for_input(path)
        if out_path is None:
            out_path = f"{Path(path).stem}_separation.png"
        extension = os.path.splitext(out_path)[1].lower().lstrip(".") or "png"
        if extension not in Figure().canvas.get_supported_filetypes():
            raise click.UsageError(f"-o {out_path!r}: matplotlib cannot write .{extension} "
                                   "files; use .png, .pdf or .svg")
        protected = tuple(p for p in (path,) + model.dictionary_paths if os.path.exists(p))
        hint = "choose another file with -o"
        _check_target(Path(out_path), overwrite=overwrite, protected=protected, hint=hint)
        created = _make_dirs(Path(os.path.dirname(os.path.abspath(out_path))), hint)
        verbose = not (as_json or quiet)
        try:
            with Progress(model.n_iter, os.path.basename(path), enabled=verbose) as bar:
                separation = separate(path, callback=bar.callback, **model.kwargs())
            figure = plot_separation(separation, log_frequency=not linear_frequency, dpi=dpi)
            save_figure(figure, out_path, dpi=dpi, overwrite=overwrite)
        except BaseException:
            _remove_empty_dirs(created)
            raise
    summary = {"command": "plot", "version": __version__, "ok": True, "input": path,
               "plot": out_path, "sources": list(separation.source_names),
               "settings": model.describe(), "iterations": separation.nmf.n_iter,
               "converged": bool(separation.nmf.converged),
               "final_loss": separation.nmf.final_loss,
               "seconds": time.perf_counter() - start}
    if as_json:
        _echo_json(summary)
    elif verbose:
        click.echo(f"{path} -> {out_path} ({', '.join(separation.source_names)}; "
                   f"{separation.nmf.n_iter} iterations, {summary['seconds']:.1f} s)")
