"""Where outputs go: checks of the targets, folders created, and the transaction that
stages every file of a mixture under a hidden name and renames them all at the end."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import audio as audio_io
from .._files import commit
from .core import CLIError

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



@dataclass(frozen=True)
class OutputSettings:
    subtype: str = "PCM_16"
    components_out: bool = False
    plot: bool = False
    overwrite: bool = False
    protected: tuple = ()


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
