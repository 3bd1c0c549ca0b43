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
  Nothing is written outside OUTDIR. With ``--overwrite``, what an earlier run wrote in
  OUTDIR/<stem>/ (listed in its hidden manifest) and this run does not write again is
  removed, so that the folder still adds up to the mixture.
- Before any work, a run's memory is estimated from the inputs' headers and refused
  with one line naming the option to change when it cannot fit (:mod:`nmfaudio._budget`).
- SIGINT, SIGTERM and SIGHUP all stop a run the same way: clean-up, ``interrupted``,
  exit 130 (:mod:`.signals`).

Only this package prints or exits (see DESIGN.md); it imports :mod:`nmfaudio.plot`
(matplotlib) lazily, in the commands that draw.

Modules, one job each:

- :mod:`.core`: the click group, exit codes, one-line errors and warnings, JSON output;
- :mod:`.settings`: the model options (``--dict``, ``--sources``, ...) checked up front;
- :mod:`.commands`: the commands separate, demo, learn, evaluate, plot;
- :mod:`.separation`: one mixture separated and its outputs written;
- :mod:`.outputs`: output checks, folders, and the transaction that stages and renames;
- :mod:`.batch`: ``--jobs N``, a pool of worker processes;
- :mod:`.progress`: the progress bar;
- :mod:`.signals`: the signals that stop a run, held back while a file is written.
"""


from __future__ import annotations

from . import commands as _commands  # noqa: F401  (registers the commands with the group)
from .. import __version__  # noqa: F401  (nmfaudio.cli.__version__, as before the split)
from .core import CLIError, cli, main
from .progress import Progress

__all__ = ["CLIError", "Progress", "cli", "main"]
