"""Where outputs go: checks of the targets, folders created, and the transaction that
stages every file of a mixture under a hidden name and renames them all at the end."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import audio as audio_io
from .._files import atomic_write, commit
from ..errors import AudioFileError
from .core import CLIError
from .signals import deferred

if TYPE_CHECKING:
    from .separation import FileJob

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
            try:
                os.mkdir(item)
            except FileExistsError:
                if not os.path.isdir(item):
                    raise
                continue  # another run made it meanwhile: not ours to remove
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


@contextlib.contextmanager
def _all_or_nothing(folder: Path, overwrite: bool, hint: str):
    """One mixture's outputs, all or none: creates ``folder`` (and its parents) as
    needed, yields ``(transaction, created)`` to stage the files in, and commits when
    the block ends. On any exception, interruption included, the staged files and the
    folders it created are removed (signals held back meanwhile) and the exception
    propagates."""
    created = _make_dirs(folder, hint)
    transaction = _Transaction(overwrite, folder)
    try:
        yield transaction, created
        transaction.commit()
    except BaseException:
        with deferred():
            transaction.rollback()
            _remove_empty_dirs(created)
        raise


class _Transaction:
    """Stage files under hidden names, then rename them all; on any failure remove them.

    ``stage(final)`` returns the temporary path to write; ``commit()`` renames every
    staged file. If anything fails before or during ``commit`` (or the run is
    interrupted), the staged files and those already renamed in this transaction are
    removed, so a mixture gets all of its outputs or none.

    With a ``folder``, ``commit()`` then records the outputs in the folder's manifest
    (:data:`MANIFEST`) and removes the files an earlier run recorded there that this
    run did not write again (see :func:`_remove_stale`). Signals wait until a commit or
    a rollback is complete (:func:`.signals.deferred`).
    """

    def __init__(self, overwrite: bool, folder: Path | None = None) -> None:
        self.overwrite = overwrite
        self.folder = folder
        self.staged: list = []
        self.committed: list = []

    def stage(self, final: Path) -> Path:
        tmp = _staging_path(final)
        self.staged.append((tmp, final))  # before writing: cleanup must know it
        return tmp

    def discard(self, tmp: Path) -> None:
        """Drop a staged file that turned out not to be wanted (and remove it)."""
        self.staged = [(t, f) for t, f in self.staged if t != tmp]
        try:
            os.unlink(tmp)
        except OSError:
            pass

    def commit(self) -> None:
        with deferred():
            for tmp, final in self.staged:
                _commit(tmp, final, overwrite=self.overwrite)
                self.committed.append(final)
            self.staged = []
            if self.folder is not None:
                earlier = _read_manifest(self.folder)
                kept = {os.path.relpath(path, self.folder) for path in self.committed}
                # without --overwrite nothing is removed; the earlier outputs still
                # there stay listed, for a later run with --overwrite
                carried = {} if self.overwrite else {
                    name: identity for name, identity in earlier.items()
                    if name not in kept and _identity(self.folder / name) == identity}
                _write_manifest(self.folder, self.committed, carried)
                if self.overwrite:
                    _remove_stale(self.folder, earlier, self.committed)

    def rollback(self) -> None:
        with deferred():
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


# --------------------------------------------------------------------------- manifest

#: Hidden file in OUTDIR/<stem>/ listing the outputs nmfaudio wrote there, with the size,
#: modification time and inode each had, so that a later run removes only files that
#: are still exactly the ones it wrote.
MANIFEST = ".nmfaudio-outputs.json"


def _identity(path: Path):
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def _read_manifest(folder: Path) -> dict:
    """``{relative path: identity}`` of an earlier run's outputs in ``folder`` (or {})."""
    try:
        with open(folder / MANIFEST, encoding="utf-8") as handle:
            document = json.load(handle)
        files = document["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # none, or not ours: then nothing is removed
    if not isinstance(files, dict):
        return {}
    return {name: value for name, value in files.items()
            if isinstance(name, str) and isinstance(value, list)}


def _write_manifest(folder: Path, written, carried: dict) -> None:
    files = dict(carried)
    for path in written:
        relative = os.path.relpath(path, folder)
        identity = _identity(Path(path))
        if identity is not None and not relative.startswith(os.pardir):
            files[relative] = identity
    document = {"written_by": "nmfaudio", "files": files}
    try:
        with atomic_write(str(folder / MANIFEST), overwrite=True) as handle:
            handle.write(json.dumps(document, indent=1).encode("utf-8"))
    except AudioFileError as error:
        raise _write_error(folder / MANIFEST, error, None) from None


def _remove_stale(folder: Path, earlier: dict, written) -> None:
    """Remove what an earlier run wrote in ``folder`` and this one did not write again.

    Only files listed in the earlier manifest, inside ``folder``, and still identical
    (same size, modification time and inode) to what was written then: never a file
    someone else put or changed there.
    """
    kept = {os.path.relpath(path, folder) for path in written}
    emptied = set()
    for relative, identity in earlier.items():
        parts = Path(relative).parts
        if relative in kept or not parts or os.pardir in parts or os.path.isabs(relative):
            continue
        path = folder / relative
        if _identity(path) == identity:
            try:
                os.unlink(path)
            except OSError:
                continue
            if len(parts) > 1:
                emptied.add(path.parent)
    for sub in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        try:
            os.rmdir(sub)  # only if nothing else is in it
        except OSError:
            pass


def _stale_outputs(folder: Path, names_written) -> list:
    """Files an earlier run recorded in ``folder`` that a run writing ``names_written``
    (relative paths) would leave stale."""
    earlier = _read_manifest(folder)
    return [folder / relative for relative, identity in sorted(earlier.items())
            if relative not in names_written and _identity(folder / relative) == identity]


def _write_error(final: Path, error: Exception, tmp) -> CLIError:
    """One line naming the final file, for a failed write of its staged copy."""
    cause = error
    while cause is not None and not (isinstance(cause, OSError) and cause.strerror):
        cause = cause.__cause__
    if cause is not None:
        return CLIError(f"cannot write '{final}': {cause.strerror}")
    message = str(error)
    if tmp is not None:
        message = message.replace(repr(str(tmp)), f"'{final}'").replace(str(tmp), str(final))
    return CLIError(message)


@dataclass(frozen=True)
class OutputSettings:
    subtype: str = "PCM_16"
    components_out: bool = False
    plot: bool = False
    overwrite: bool = False
    protected: tuple = ()
    out_dir: str = "."
    n_jobs: int = 1


HINT_OUT = "choose another output folder with -o"


def _check_inside(folder: Path, out: OutputSettings) -> None:
    """Refuse an output folder that leads outside OUTDIR (``..``, a symbolic link)."""
    root = os.path.realpath(out.out_dir)
    where = os.path.realpath(folder)
    if os.path.commonpath([root, where]) != root or where == root:
        raise CLIError(f"refusing to write into '{folder}': it leads outside the output "
                       f"folder '{out.out_dir}' (to '{where}'); rename the input or remove "
                       f"the link, or {HINT_OUT}")


def _check_outputs(job: FileJob, names, out: OutputSettings) -> None:
    """Check every output path of ``job`` before any work (see the module docstring)."""
    folder = Path(job.folder)
    _check_inside(folder, out)
    targets = [folder / f"{name}.wav" for name in names]
    if out.plot:
        targets.append(folder / "separation.png")
    for target in targets:
        _check_target(target, overwrite=out.overwrite, protected=out.protected, hint=HINT_OUT)
    if not out.overwrite:
        planned = {target.name for target in targets} | {"residual.wav"}
        stale = [path for path in _stale_outputs(folder, planned)
                 if not (out.components_out and path.parent.name == "components")]
        if stale:
            raise CLIError(f"'{stale[0]}' is from an earlier nmfaudio run into '{folder}' and "
                           "would no longer add up with the new outputs; pass --overwrite "
                           f"to replace that run's outputs, or {HINT_OUT}")
    if out.components_out:
        components = folder / "components"
        if os.path.lexists(components) and not os.path.isdir(components):
            raise CLIError(f"'{components}' is a file, but --components-out writes a folder "
                           f"there; remove it or {HINT_OUT}")
        _check_inside(components, out)
        if os.path.isdir(components):
            for existing in sorted(components.glob("component_*.wav")):
                _check_target(existing, overwrite=out.overwrite, protected=out.protected,
                              hint=HINT_OUT)


def _save_staged(transaction: _Transaction, final: Path, samples, sample_rate: int,
                 subtype: str):
    tmp = transaction.stage(final)
    try:
        with deferred():
            return audio_io.save(tmp, samples, sample_rate, subtype=subtype, on_clip="clip",
                                 overwrite=False)
    except AudioFileError as error:
        raise _write_error(final, error, tmp) from None
