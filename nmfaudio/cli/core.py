"""The click group, exit codes and one-line messages shared by every command."""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
import warnings

import click
import numpy as np

from .. import __version__
from ..errors import NMFAudioError
from ..factorization import BETA_NAMES
from . import signals

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

BUG_HINT = "this is a bug, please report it"

#: click >= 8.2 raises this for a bare ``nmfaudio`` (help, exit 2); older clicks exit 0
#: with the help on their own. ``except ()`` matches nothing.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class CLIError(NMFAudioError):
    """A user mistake found by the command line itself (outputs, folders, inputs)."""



# --------------------------------------------------------------------------- output helpers


def _one_line(message) -> str:
    """Collapse any whitespace (newlines included) so that an error is one line."""
    return " ".join(str(message).split())


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
        with warnings.catch_warnings(), signals.handled():
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
