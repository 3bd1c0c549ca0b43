"""The ``nmfaudio`` command: separate, learn, evaluate, plot, demo.

::

    nmfaudio separate MIX.wav [MIX2.wav ...] -o OUTDIR          # -> OUTDIR/<stem>/<source>.wav
    nmfaudio separate MIX.wav --sources 3 --components 24       # unsupervised
    nmfaudio separate MIX.wav --dict piano.npz --dict drums.npz # supervised (+ --free K)
    nmfaudio learn piano piano1.wav piano2.wav -o piano.npz     # a dictionary per source
    nmfaudio evaluate OUTDIR/mix REFDIR [--mixture MIX.wav]     # SDR / SIR / SAR / SI-SDR
    nmfaudio plot MIX.wav -o fig.png                            # the figure, no audio
    nmfaudio demo            # (= nmfaudio separate) the example shipped with nmfaudio

Conventions, shared by every command:

- Exit codes: 0 everything succeeded; 1 something failed (in a batch: at least one input;
  the others were still written); 2 the command line itself is wrong (click's usage
  errors, options that contradict each other); 130 interrupted.
- A mistake prints exactly one line, ``nmfaudio: error: <what, which file, what to do>``,
  on stderr and no traceback. An unexpected exception is reported on one line too, as a
  bug; ``nmfaudio --debug ...`` (or ``NMFAUDIO_DEBUG=1``) adds its traceback.
- Results go to stdout: a line per file, or with ``--json`` one JSON document and
  nothing else. Progress bars go to stderr, only on a terminal, never with ``-q`` or
  ``--json``.
- Nothing is overwritten without ``--overwrite``, no output may be an input, and all
  output paths of a mixture are checked before it is separated. Every file is written
  under a hidden temporary name and renamed only when all outputs of that mixture are
  complete, so an interrupted or failed run leaves no partial file under a final name.

Only this module prints or exits (see DESIGN.md); it imports :mod:`nmfaudio.plot`
(matplotlib) lazily, in the commands that draw.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import shutil
import sys
import time
import traceback
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from . import __version__
from . import audio as audio_io
from ._files import commit
from .dictionary import Dictionary, check_compatible, learn_dictionary
from .errors import NMFAudioError
from .metrics import evaluate_files
from .factorization import BETA_NAMES, usable_cores
from .pipeline import RATE_POLICIES, separate
from .spectral import STFTConfig

__all__ = ["CLIError", "cli", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Default output folder of ``separate`` and ``demo``.
DEFAULT_OUT = "separated"
#: The example mixture shipped inside the package (keys + drums, 22050 Hz mono, 6 s).
EXAMPLE_RESOURCE = ("data", "example.wav")

#: The instruments of the example; data/train_NAME.wav holds 6 s of each alone.
DEMO_SOURCES = ("keys", "drums")
#: Audio files ``evaluate`` looks for in its folders.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")
#: Defaults of ``learn``.
DEFAULT_DICT_COMPONENTS = 48
DEFAULT_N_FFT = 2048

BUG_HINT = "this is a bug, please report it"

#: click >= 8.2 raises this for a bare ``nmfaudio`` (help, exit 2); older clicks exit 0
#: with the help on their own. ``except ()`` matches nothing.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class CLIError(NMFAudioError):
    """A user mistake found by the command line itself (outputs, folders, inputs)."""


# --------------------------------------------------------------------------- output helpers


#: Library messages speak of keyword arguments; on the command line the options are named.
_CLI_WORDING = (
    ("pass overwrite=True (CLI: --overwrite)", "pass --overwrite"),
    ("pass overwrite=True", "pass --overwrite"),
    ("(on_rate_mismatch='resample')", "(--on-rate-mismatch resample)"),
    (", or pass allow_silent=True", ""),
)


def _one_line(message) -> str:
    """Collapse any whitespace (newlines included) so that an error is one line."""
    text = " ".join(str(message).split())
    for library, cli_words in _CLI_WORDING:
        text = text.replace(library, cli_words)
    return text


def _echo_error(message: str) -> None:
    click.echo(f"nmfaudio: error: {_one_line(message)}", err=True)


def _echo_warning(message: str) -> None:
    click.echo(f"nmfaudio: warning: {_one_line(message)}", err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings from libraries, as one line each (see :func:`warnings.showwarning`)."""
    _echo_warning(f"{message} ({category.__name__})")


def _json_safe(value):
    """Plain JSON values: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _echo_json(document: dict) -> None:
    click.echo(json.dumps(_json_safe(document), indent=2, allow_nan=False))


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal.

    ``update(done)`` redraws (at most ten times a second), ``clear()`` wipes the line so
    that a result can be printed, ``close()`` wipes it for good. Disabled, every method
    does nothing, so callers need no ``if``.
    """

    def __init__(self, total: int, label: str, *, enabled: bool = True, unit: str = "it",
                 stream=None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.total = max(int(total), 1)
        self.label = label
        self.unit = unit
        self.enabled = bool(enabled) and _isatty(self.stream)
        self.done = 0
        self.info = ""
        self._last = 0.0
        self._drawn = 0

    def update(self, done: int, info: str = "") -> None:
        if not self.enabled:
            return
        self.done = min(max(int(done), 0), self.total)
        self.info = info
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        self._draw()

    def callback(self, iteration: int, loss: float) -> None:
        """For ``separate(..., callback=)`` and ``learn_dictionary(..., callback=)``."""
        self.update(iteration, f"loss {loss:.4g}")

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns - 1
        width = 24
        filled = round(width * self.done / self.total)
        line = (f"{self.label} [{'#' * filled}{'-' * (width - filled)}] "
                f"{self.done}/{self.total} {self.unit}" + (f"  {self.info}" if self.info else ""))
        line = line[:max(columns, 10)]
        self.stream.write("\r" + line.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(line)

    def clear(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def redraw(self) -> None:
        if self.enabled:
            self._draw()

    close = clear

    def __enter__(self) -> Progress:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- click plumbing


class _State:
    """Per-invocation flags of the group (reset by every call of :func:`main`)."""

    debug = False


_STATE = _State()


class BetaType(click.ParamType):
    """``kl``, ``is``, ``euclidean`` (any case, or the long names) or a number."""

    name = "beta"

    def get_metavar(self, param, ctx=None) -> str:  # click < 8.2 passes no ctx
        return "[kl|is|euclidean|NUMBER]"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        text = str(value).strip().lower()
        if text in BETA_NAMES:
            return text
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is None or not math.isfinite(number):
            self.fail(f"{value!r} is not a beta: use kl, is, euclidean or a number such as 0.5",
                      param, ctx)
        return number


BETA = BetaType()


class NMFAudioGroup(click.Group):
    """A click group whose every failure is one line on stderr and a meaningful exit code.

    ``main`` runs click in non-standalone mode and handles the outcome itself, so that
    the same rules hold under :class:`click.testing.CliRunner`, the console script and
    ``python -m nmfaudio``.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        _STATE.debug = bool(os.environ.get("NMFAUDIO_DEBUG"))
        code = EXIT_OK
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                code = rv if isinstance(rv, int) and not isinstance(rv, bool) else EXIT_OK
            except _NO_ARGS_IS_HELP as error:
                error.show()
                code = error.exit_code
            except click.UsageError as error:
                where = error.ctx.command_path if error.ctx is not None else "nmfaudio"
                _echo_error(f"{error.format_message()} (see '{where} --help')")
                code = error.exit_code
            except click.ClickException as error:
                _echo_error(error.format_message())
                code = error.exit_code
            except (click.Abort, KeyboardInterrupt):
                _echo_error("interrupted; no partial output was left under a final name")
                code = EXIT_INTERRUPTED
            except NMFAudioError as error:
                _echo_error(str(error))
                code = EXIT_FAILED
            except Exception as error:  # noqa: BLE001  (a bug: one line, traceback on request)
                _echo_error(f"unexpected {type(error).__name__}: {error} -- {BUG_HINT}"
                            + ("" if _STATE.debug else " (rerun with nmfaudio --debug ... "
                               "to see the traceback)"))
                if _STATE.debug:
                    click.echo(traceback.format_exc(), err=True, nl=False)
                code = EXIT_FAILED
        sys.exit(code)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(name="nmfaudio", cls=NMFAudioGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="nmfaudio",
                      message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="NMFAUDIO_DEBUG",
              help="Show the traceback of unexpected errors (bugs).")
def cli(debug: bool) -> None:
    """Audio source separation with nonnegative matrix factorization.

    Start with `nmfaudio demo` (or `nmfaudio separate` with no file): it separates the
    example mixture shipped with nmfaudio into ./separated/example/.

    Exit codes: 0 all good, 1 some input failed, 2 usage error.
    """
    _STATE.debug = _STATE.debug or debug


def main(argv=None) -> None:
    """Entry point of the ``nmfaudio`` console script and of ``python -m nmfaudio``."""
    cli.main(args=argv, prog_name="nmfaudio")


# --------------------------------------------------------------------------- files and paths


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_target(path: Path, *, overwrite: bool, protected: tuple, hint: str) -> None:
    """Refuse to write ``path`` over an input, a folder, or (without --overwrite) a file."""
    text = str(path)
    for item in protected:
        if _same_file(text, item):
            raise CLIError(f"refusing to write '{text}': it is an input file ('{item}'); "
                           f"{hint}")
    if os.path.isdir(text):
        raise CLIError(f"cannot write '{text}': it is a folder; remove it or {hint}")
    if os.path.lexists(text) and not overwrite:
        raise CLIError(f"'{text}' already exists; pass --overwrite to replace it, or {hint}")


def _make_dirs(folder: Path, hint: str) -> list:
    """Create ``folder`` and its missing parents; return those created (deepest last)."""
    missing = []
    current = folder
    while not os.path.exists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    if os.path.exists(current) and not os.path.isdir(current):
        raise CLIError(f"cannot create folder '{folder}': '{current}' is a file, not a folder; "
                       f"{hint}")
    created = []
    try:
        for item in reversed(missing):
            os.mkdir(item)
            created.append(item)
    except OSError as error:
        _remove_empty_dirs(created)
        raise CLIError(f"cannot create folder '{folder}' ({error.strerror}); {hint}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"folder '{folder}' is not writable; {hint}")
    return created


def _remove_empty_dirs(created) -> None:
    for item in reversed(list(created)):
        try:
            os.rmdir(item)
        except OSError:
            pass  # not empty (someone else wrote there) or already gone: leave it


def _staging_path(final: Path) -> Path:
    """A hidden name next to ``final`` with the same extension (it picks the format)."""
    return final.with_name(f".{final.name}.partial-{secrets.token_hex(4)}{final.suffix}")


def _commit(tmp: Path, final: Path, *, overwrite: bool) -> None:
    """Rename a complete staged file to its final name (never over a newcomer without
    ``overwrite``)."""
    exists = CLIError(f"'{final}' appeared while nmfaudio was working; pass --overwrite to "
                      "replace it, or choose another output folder with -o")
    commit(str(tmp), str(final), overwrite=overwrite, exists=exists)


class _Transaction:
    """Stage files under hidden names, then rename them all; on any failure remove them.

    ``stage(final)`` returns the temporary path to write; ``commit()`` renames every
    staged file. If anything fails before or during ``commit`` (or the run is
    interrupted), the staged files and those already renamed in this transaction are
    removed, so a mixture gets all of its outputs or none.
    """

    def __init__(self, overwrite: bool) -> None:
        self.overwrite = overwrite
        self.staged: list = []
        self.committed: list = []

    def stage(self, final: Path) -> Path:
        tmp = _staging_path(final)
        self.staged.append((tmp, final))  # before writing: cleanup must know it
        return tmp

    def commit(self) -> None:
        for tmp, final in self.staged:
            _commit(tmp, final, overwrite=self.overwrite)
            self.committed.append(final)
        self.staged = []

    def rollback(self) -> None:
        for tmp, _ in self.staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        for final in self.committed:
            try:
                os.unlink(final)
            except OSError:
                pass
        self.staged, self.committed = [], []


# --------------------------------------------------------------------------- separation settings


@dataclass(frozen=True)
class ModelSettings:
    """What ``separate`` and ``plot`` pass to :func:`nmfaudio.pipeline.separate`."""

    dictionaries: tuple = ()
    dictionary_paths: tuple = ()
    n_free: int = 0
    n_sources: int | None = None
    n_components: int | None = None
    beta: object = None  # None: the dictionaries' beta, else kl (the library decides)
    n_iter: int = 300
    l1: float | None = None
    mask_power: float = 2.0
    stft: STFTConfig | None = None
    seed: int = 0
    on_rate_mismatch: str = "resample"
    n_threads: int | None = None  # NMF threads per process; None = all cores

    @property
    def supervised(self) -> bool:
        return bool(self.dictionaries)

    @property
    def source_names(self) -> tuple:
        if self.supervised:
            return tuple(d.name for d in self.dictionaries) + (("other",) if self.n_free else ())
        return tuple(f"source{i + 1}" for i in range(self.n_sources))

    def kwargs(self) -> dict:
        kw = {"beta": self.beta, "mask_power": self.mask_power, "n_iter": self.n_iter,
              "seed": self.seed, "on_rate_mismatch": self.on_rate_mismatch,
              "n_threads": self.n_threads}
        if self.l1 is not None:
            kw["l1_activations"] = self.l1
        if self.supervised:
            kw.update(dictionaries=list(self.dictionaries), n_free=self.n_free)
        else:
            kw.update(n_sources=self.n_sources, n_components=self.n_components,
                      stft_config=self.stft)
        return kw

    def describe(self) -> dict:
        out = {
            "mode": "supervised" if self.supervised else "unsupervised",
            "sources": list(self.source_names),
            "beta": self.beta if self.beta is not None else (
                self.dictionaries[0].beta if self.supervised else "kl"),
            "iterations": self.n_iter,
            "sparsity": self.l1,
            "mask_power": self.mask_power,
            "seed": self.seed,
        }
        if self.supervised:
            first = self.dictionaries[0]
            out.update(dictionaries=list(self.dictionary_paths), free_components=self.n_free,
                       n_fft=first.stft.n_fft, hop=first.stft.hop_length,
                       on_rate_mismatch=self.on_rate_mismatch)
        else:
            out.update(components=self.n_components or "auto: max(16, 4 * sources + 4)",
                       n_fft=self.stft.n_fft,
                       hop=self.stft.hop_length)
        return out


def _model_options(function):
    """The options shared by ``separate``, ``demo`` and ``plot``."""
    options = [
        click.option("-d", "--dict", "dict_paths", multiple=True, metavar="DICT.npz",
                     help="Supervised: a dictionary from `nmfaudio learn`, one per source "
                          "(repeat the option)."),
        click.option("--free", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Supervised: this many extra components learned from the mixture, "
                          "written as the source 'other'."),
        click.option("-s", "--sources", type=click.IntRange(min=1), default=None,
                     help="Unsupervised: number of sources (default 2)."),
        click.option("-k", "--components", type=click.IntRange(min=1), default=None,
                     help="Unsupervised: number of NMF components [default: max(16, 4 S + 4)]."),
        click.option("--beta", type=BETA, default=None,
                     help="Divergence: kl, is (Itakura-Saito), euclidean, or a number "
                          "[default: the dictionaries' beta, else kl]."),
        click.option("-n", "--iterations", type=click.IntRange(min=1), default=300,
                     show_default=True, help="Maximum number of NMF iterations."),
        click.option("--sparsity", type=click.FloatRange(min=0), default=None,
                     help="L1 weight on the activations [default: 0.3 with --dict, else 0]."),
        click.option("--mask-power", type=click.FloatRange(min=0, min_open=True), default=2.0,
                     show_default=True, help="Exponent of the soft masks (2 = Wiener-like)."),
        click.option("--n-fft", type=click.IntRange(min=16), default=None,
                     help="STFT frame length [default: 2048, or the dictionaries']."),
        click.option("--hop", type=click.IntRange(min=1), default=None,
                     help="STFT hop [default: n_fft / 4, or the dictionaries']."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of the NMF initialization."),
        click.option("--on-rate-mismatch", type=click.Choice(RATE_POLICIES, case_sensitive=False),
                     default="resample", show_default=True,
                     help="Supervised, when the mixture's sample rate differs from the "
                          "dictionaries': resample it, or stop with an error."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _model_settings(params: dict) -> ModelSettings:
    """Check the shared options and load the dictionaries (fail before any work)."""
    dict_paths = params["dict_paths"]
    n_fft, hop = params["n_fft"], params["hop"]
    common = {"beta": params["beta"], "n_iter": params["iterations"], "l1": params["sparsity"],
              "mask_power": params["mask_power"], "seed": params["seed"],
              "on_rate_mismatch": params["on_rate_mismatch"].lower()}
    if dict_paths:
        if params["sources"] is not None:
            raise click.UsageError("--sources is for unsupervised separation; with --dict the "
                                   "sources are the dictionaries (add --free K for one more)")
        if params["components"] is not None:
            raise click.UsageError("--components is for unsupervised separation; with --dict "
                                   "use --free K for extra components learned from the mixture")
        dictionaries = tuple(Dictionary.load(path) for path in dict_paths)
        check_compatible(dictionaries)
        first = dictionaries[0]
        if (n_fft is not None and n_fft != first.stft.n_fft) or \
                (hop is not None and hop != first.stft.hop_length):
            raise click.UsageError(
                f"--n-fft/--hop ({n_fft}, {hop}) do not match the dictionary '{dict_paths[0]}' "
                f"(n_fft {first.stft.n_fft}, hop {first.stft.hop_length}); drop them to use "
                "the dictionaries' STFT, or learn the dictionaries again with these values")
        if params["free"] and "other" in {d.name for d in dictionaries}:
            raise click.UsageError("a dictionary is named 'other', the name --free gives to the "
                                   "free components; learn it again under another name")
        return ModelSettings(dictionaries=dictionaries, dictionary_paths=tuple(dict_paths),
                             n_free=params["free"], **common)
    if params["free"]:
        raise click.UsageError("--free adds components to dictionaries; give --dict too, or use "
                               "--sources/--components for unsupervised separation")
    n_sources = params["sources"] if params["sources"] is not None else 2
    if params["components"] is not None and params["components"] < n_sources:
        raise click.UsageError(f"--components ({params['components']}) must be at least "
                               f"--sources ({n_sources})")
    n_fft = DEFAULT_N_FFT if n_fft is None else n_fft
    hop = max(n_fft // 4, 1) if hop is None else hop
    try:
        config = STFTConfig(n_fft=n_fft, hop_length=hop)
    except NMFAudioError as error:
        raise click.UsageError(f"--n-fft {n_fft} --hop {hop}: {error}") from None
    return ModelSettings(n_sources=n_sources, n_components=params["components"], stft=config,
                         **common)


def _example_mixture(stack: ExitStack) -> str:
    """Path of the example mixture inside the installed package."""
    return _packaged_file(stack, EXAMPLE_RESOURCE)


def _packaged_file(stack: ExitStack, parts: tuple) -> str:
    from importlib import resources

    resource = resources.files("nmfaudio").joinpath(*parts)
    if not resource.is_file():
        raise CLIError("the example audio is not installed with this nmfaudio "
                       f"(nmfaudio/{'/'.join(parts)} is missing); give a mixture: "
                       "nmfaudio separate MIX.wav")
    return str(stack.enter_context(resources.as_file(resource)))


def _demo_model(stack: ExitStack, model: ModelSettings, params: dict, verbose: bool) -> ModelSettings:
    """The demo learns a dictionary per instrument from the training clips shipped with
    nmfaudio (other notes and another groove than the mixture's), then separates with them."""
    n_fft = params["n_fft"] or DEFAULT_N_FFT
    config = STFTConfig(n_fft=n_fft, hop_length=params["hop"] or n_fft // 4)
    dictionaries = []
    for name in DEMO_SOURCES:
        path = _packaged_file(stack, ("data", f"train_{name}.wav"))
        with Progress(model.n_iter, f"learning '{name}' from its training clip", enabled=verbose,
                      unit="iterations") as bar:
            dictionaries.append(learn_dictionary(
                path, DEFAULT_DICT_COMPONENTS, name=name, stft_config=config, seed=model.seed,
                beta="kl" if model.beta is None else model.beta,
                n_iter=model.n_iter, callback=bar.callback))
    return dataclasses.replace(model, dictionaries=tuple(dictionaries), dictionary_paths=(),
                               n_sources=None, n_components=None, stft=None)


# --------------------------------------------------------------------------- separate: one file


@dataclass(frozen=True)
class OutputSettings:
    subtype: str = "PCM_16"
    components_out: bool = False
    plot: bool = False
    overwrite: bool = False
    protected: tuple = ()


@dataclass(frozen=True)
class FileJob:
    index: int
    input: str
    label: str
    folder: str


HINT_OUT = "choose another output folder with -o"


def _check_outputs(job: FileJob, names, out: OutputSettings) -> None:
    folder = Path(job.folder)
    targets = [folder / f"{name}.wav" for name in names]
    if out.plot:
        targets.append(folder / "separation.png")
    for target in targets:
        _check_target(target, overwrite=out.overwrite, protected=out.protected, hint=HINT_OUT)
    if out.components_out:
        components = folder / "components"
        if os.path.lexists(components) and not os.path.isdir(components):
            raise CLIError(f"'{components}' is a file, but --components-out writes a folder "
                           f"there; remove it or {HINT_OUT}")
        if os.path.isdir(components):
            for existing in sorted(components.glob("component_*.wav")):
                _check_target(existing, overwrite=out.overwrite, protected=out.protected,
                              hint=HINT_OUT)


def _save_staged(transaction: _Transaction, final: Path, samples, sample_rate: int,
                 subtype: str):
    tmp = transaction.stage(final)
    return audio_io.save(tmp, samples, sample_rate, subtype=subtype, on_clip="clip",
                         overwrite=False)


def _run_file(job: FileJob, model: ModelSettings, out: OutputSettings, progress: bool,
              bar_label: str) -> dict:
    start = time.perf_counter()
    names = model.source_names
    _check_outputs(job, names, out)
    folder = Path(job.folder)
    created = _make_dirs(folder, HINT_OUT)
    transaction = _Transaction(out.overwrite)
    warnings_out = []
    try:
        with Progress(model.n_iter, bar_label, enabled=progress) as bar:
            separation = separate(job.input, callback=bar.callback, **model.kwargs())
        if tuple(separation.source_names) != names:  # cannot happen today; stay safe
            names = tuple(separation.source_names)
            _check_outputs(job, names, out)
        rate = separation.sample_rate
        sources = []
        for name, samples in zip(names, separation.sources):
            final = folder / f"{name}.wav"
            report = _save_staged(transaction, final, samples, rate, out.subtype)
            sources.append({"name": name, "path": str(final), "peak": report.peak,
                            "clipped_samples": report.n_clipped})
            if report.n_clipped:
                warnings_out.append(
                    f"'{final}': {report.n_clipped} samples beyond full scale (peak "
                    f"{report.peak:.3f}) were clipped in the 16-bit file; use --float32 to keep "
                    "them (then the sources add up to the mixture exactly)")
        residual_path = None
        if separation.residual is not None and np.any(np.abs(separation.residual) > 1.0 / 32768):
            # resampled to the dictionaries' rate: what no source carries, so that the
            # files still add up to the mixture (the library warned why, on stderr)
            final = folder / "residual.wav"
            _check_target(final, overwrite=out.overwrite, protected=out.protected, hint=HINT_OUT)
            _save_staged(transaction, final, separation.residual, rate, out.subtype)
            residual_path = str(final)
        components = []
        if out.components_out:
            comp_folder = folder / "components"
            created += _make_dirs(comp_folder, HINT_OUT)
            signals = separation.component_signals()
            digits = max(2, len(str(len(signals) - 1)))
            source_of = {}
            for name, group in zip(names, separation.groups):
                for k in np.asarray(group).ravel():
                    source_of[int(k)] = name
            for k, samples in enumerate(signals):
                final = comp_folder / f"component_{k:0{digits}d}.wav"
                report = _save_staged(transaction, final, samples, rate, out.subtype)
                components.append({"index": k, "source": source_of.get(k), "path": str(final),
                                   "clipped_samples": report.n_clipped})
            n_clipped = sum(c["clipped_samples"] for c in components)
            if n_clipped:
                warnings_out.append(f"'{comp_folder}': {n_clipped} samples of components were "
                                    "clipped in the 16-bit files; use --float32 to keep them")
        plot_path = None
        if out.plot:
            from .plot import plot_separation, save_figure

            final = folder / "separation.png"
            figure = plot_separation(separation)
            save_figure(figure, transaction.stage(final), overwrite=False)
            plot_path = str(final)
        transaction.commit()
    except BaseException:
        transaction.rollback()
        _remove_empty_dirs(created)
        raise
    mixture = separation.mixture
    written = [s["path"] for s in sources] + [c["path"] for c in components]
    if plot_path:
        written.append(plot_path)
    return {
        "input": job.input,
        "ok": True,
        "output_dir": str(folder),
        "sources": sources,
        "components": components if out.components_out else None,
        "plot": plot_path,
        "written": written,
        "sample_rate": mixture.sample_rate,
        "channels": mixture.n_channels,
        "n_samples": mixture.n_samples,
        "duration": mixture.duration,
        "iterations": separation.nmf.n_iter,
        "residual": residual_path,
        "n_components": separation.nmf.n_components,
        "groups": {name: [int(k) for k in group]
                   for name, group in zip(separation.source_names, separation.groups)},
        "converged": bool(separation.nmf.converged),
        "final_loss": separation.nmf.final_loss,
        "clipped_samples": sum(s["clipped_samples"] for s in sources)
        + sum(c["clipped_samples"] for c in components),
        "seconds": time.perf_counter() - start,
        "warnings": warnings_out,
    }


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
        return _run_file(job, model, out, progress, bar_label or job.label)
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


def _worker_init() -> None:
    warnings.showwarning = _show_warning


# --------------------------------------------------------------------------- separate / demo


def _output_options(function):
    options = [
        click.option("-o", "--out", "out_dir", default=DEFAULT_OUT, show_default=True,
                     metavar="OUTDIR", help="Output folder; each mixture gets OUTDIR/<stem>/."),
        click.option("--float32", is_flag=True,
                     help="Write 32-bit float WAVs (never clipped) instead of 16-bit PCM."),
        click.option("--components-out", is_flag=True,
                     help="Also write every NMF component: OUTDIR/<stem>/components/"
                          "component_XX.wav (XX = column of W)."),
        click.option("--plot", is_flag=True,
                     help="Also draw the separation: OUTDIR/<stem>/separation.png."),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Separate this many files in parallel processes."),
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
    drums) with them into OUTDIR/example/ (with --sources or --components: unsupervised).

    The sources have the mixture's sample rate, channels and length, and add up to it.
    Exit code 1 if any input failed (the others are still written).
    """
    _separate_main(inputs, params)


@cli.command(context_settings=CONTEXT_SETTINGS)
@_model_options
@_output_options
def demo(**params) -> None:
    """Separate the example mixture shipped with nmfaudio into ./separated/example/.

    Keys and drums, 6 s, 22050 Hz mono. Learns a dictionary per instrument from 6 s of
    other music played on it (also shipped with nmfaudio), then separates with them;
    with --sources or --components, separates without dictionaries instead. The same as
    `nmfaudio separate` with no file.
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
        if is_demo and not (params["dict_paths"] or params["sources"] or params["components"]):
            model = _demo_model(stack, model, params, verbose)
        jobs, folders = [], {}
        out_dir = Path(params["out_dir"])
        for index, path in enumerate(paths):
            stem = Path(path).stem or Path(path).name
            folder = out_dir / stem
            if str(folder) in folders:
                raise click.UsageError(
                    f"'{folders[str(folder)]}' and '{path}' would both be written to "
                    f"'{folder}'; separate them in two calls with different -o folders")
            folders[str(folder)] = path
            label = path if not is_demo else "example.wav (the example shipped with nmfaudio)"
            jobs.append(FileJob(index=index, input=path, label=label, folder=str(folder)))
        protected = tuple(os.path.abspath(p) for p in list(paths) + list(model.dictionary_paths)
                          if os.path.exists(p))
        out = OutputSettings(subtype="FLOAT" if params["float32"] else "PCM_16",
                             components_out=params["components_out"], plot=params["plot"],
                             overwrite=params["overwrite"], protected=protected)
        if params["plot"]:
            from . import plot  # noqa: F401  (fail now, not after the separations)
        created = _make_dirs(out_dir, HINT_OUT)

        results = []

        def report(result: dict) -> None:
            results.append(result)
            _report_file(result, verbose=verbose, quiet=quiet)

        n_jobs = min(params["jobs"], len(jobs))
        try:
            if n_jobs <= 1:
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


def _separate_parallel(jobs, model, out, n_jobs, verbose, report) -> None:
    """``--jobs N``: one file per worker process; results reported in input order."""
    results = [None] * len(jobs)
    # share the cores between the worker processes instead of each taking all of them
    model = dataclasses.replace(model, n_threads=max(1, usable_cores() // n_jobs))
    next_to_report = 0
    with Progress(len(jobs), f"separating {len(jobs)} files ({n_jobs} jobs)", unit="files",
                  enabled=verbose) as bar, \
            ProcessPoolExecutor(max_workers=n_jobs, initializer=_worker_init) as pool:
        futures = {pool.submit(separate_file, job, model, out, False): job for job in jobs}
        pending = set(futures)
        bar.update(0)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = futures[future]
                    try:
                        results[job.index] = future.result()
                    except Exception as error:  # noqa: BLE001  (the worker died: killed, OOM)
                        results[job.index] = {
                            "input": job.input, "ok": False, "bug": False, "traceback": None,
                            "error": f"{job.label}: the worker process separating it failed "
                                     f"({type(error).__name__}: {_one_line(error)}); try "
                                     "again with fewer --jobs"}
                bar.update(sum(r is not None for r in results))
                bar.clear()
                while next_to_report < len(jobs) and results[next_to_report] is not None:
                    report(results[next_to_report])
                    next_to_report += 1
                bar.redraw()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


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
        click.echo(f"{result.get('label', result['input'])} -> {result['output_dir']}{os.sep}: "
                   f"{names}{extras} ({result['iterations']} iterations{state}, "
                   f"{result['seconds']:.1f} s)")


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
@click.option("--n-fft", type=click.IntRange(min=16), default=DEFAULT_N_FFT, show_default=True,
              help="STFT frame length (separation will use the same).")
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
    separation takes the dictionary's sample rate and STFT.
    """
    start = time.perf_counter()
    if not name.strip() or os.sep in name or (os.altsep and os.altsep in name) \
            or name in (".", ".."):
        raise click.UsageError(f"NAME {name!r} names the source and its output files "
                               "(NAME.wav): give a plain name such as 'piano'")
    out_path = out_path if out_path is not None else f"{name}.npz"
    if not out_path.endswith(".npz"):
        raise click.UsageError(f"-o {out_path!r}: dictionary files end in .npz")
    hop = max(n_fft // 4, 1) if hop is None else hop
    try:
        config = STFTConfig(n_fft=n_fft, hop_length=hop)
    except NMFAudioError as error:
        raise click.UsageError(f"--n-fft {n_fft} --hop {hop}: {error}") from None
    protected = tuple(p for p in training if os.path.exists(p))
    hint = "choose another file with -o"
    _check_target(Path(out_path), overwrite=overwrite, protected=protected, hint=hint)
    folder = Path(os.path.dirname(os.path.abspath(out_path)))
    created = _make_dirs(folder, hint)
    kwargs = {} if sparsity is None else {"l1_activations": sparsity}
    verbose = not (as_json or quiet)
    try:
        with Progress(iterations, f"learning {name}", enabled=verbose) as bar:
            dictionary = learn_dictionary(list(training), components, name=name, beta=beta,
                                          stft_config=config, sample_rate=sample_rate,
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
                   f"{dictionary.sample_rate} Hz (n_fft {n_fft}, hop {hop}) -> {out_path} "
                   f"({summary['iterations']} iterations, {summary['seconds']:.1f} s)")
        click.echo(f"use it: nmfaudio separate MIX.wav --dict {out_path} --dict OTHER.npz")


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
    """``{reference name: estimate path}`` maximizing the total SI-SDR (one to one)."""
    from scipy.optimize import linear_sum_assignment

    from .metrics import si_sdr

    if len(estimates) < len(references):
        raise CLIError(f"--match best needs at least as many estimates as references: "
                       f"'{estimates_dir}' has {len(estimates)} audio files, the references "
                       f"{len(references)}")
    ref_names, est_names = list(references), list(estimates)
    refs = [audio_io.load(references[n], allow_silent=True).samples for n in ref_names]
    ests = [audio_io.load(estimates[n], allow_silent=True).samples for n in est_names]
    scores = np.full((len(refs), len(ests)), -1e9)
    for i, ref in enumerate(refs):
        for j, est in enumerate(ests):
            if ref.shape != est.shape:
                raise CLIError(f"'{estimates[est_names[j]]}' has shape {est.shape} but "
                               f"'{references[ref_names[i]]}' has {ref.shape} (channels, "
                               "samples); estimates and references must match")
            try:
                scores[i, j] = si_sdr(est, ref)
            except NMFAudioError:
                pass  # a silent signal: the worst possible match
    rows, cols = linear_sum_assignment(-scores)
    paired = {ref_names[i]: estimates[est_names[j]] for i, j in zip(rows, cols)}
    # estimates left over keep their own names, to be listed as unscored
    for name in est_names:
        if estimates[name] not in paired.values():
            paired.setdefault(f"{name} (unmatched)", estimates[name])
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
            "estimates and references are matched by file name")
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

    Takes the options of `separate`; with no MIX.wav, plots the example mixture as
    `nmfaudio demo` separates it.
    """
    start = time.perf_counter()
    model = _model_settings(params)
    from matplotlib.figure import Figure

    from .plot import plot_separation, save_figure

    with ExitStack() as stack:
        path = mixture if mixture is not None else _example_mixture(stack)
        if mixture is None and not (params["dict_paths"] or params["sources"] or params["components"]):
            model = _demo_model(stack, model, params, verbose=not (quiet or as_json))
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


if __name__ == "__main__":  # pragma: no cover
    main()
