"""Writing files so that an interrupted write never leaves a half-written file.

Every file nmfaudio writes (audio, dictionaries, figures, the command line's outputs)
goes through :func:`atomic_write`: the content is written to a hidden temporary file
in the destination folder, flushed to disk, and only then renamed to its final name.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from typing import BinaryIO, Iterator, Optional

from .errors import AudioFileError

__all__ = ["atomic_write", "check_destination", "commit", "temporary_name"]


def _exists_error(path: str) -> AudioFileError:
    return AudioFileError(
        f"{path!r} already exists; pass overwrite=True to replace it, or choose another name"
    )


def check_destination(path: str, *, overwrite: bool) -> None:
    """Raise :class:`AudioFileError` if ``path`` cannot be written (fail before any work)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise AudioFileError(f"cannot write {path!r}: folder {folder!r} {what}; create it first")
    if os.path.isdir(path):
        raise AudioFileError(f"cannot write {path!r}: it is a directory; pass a file name")
    if os.path.lexists(path) and not overwrite:
        raise _exists_error(path)


def temporary_name(path: str) -> tuple[str, int]:
    """Create a fresh hidden file beside ``path``; returns its name and an open descriptor.

    O_EXCL claims a name no one else holds; mode 0o666 lets the umask decide the final
    permissions exactly as for a plain open() (tempfile.mkstemp would force 0o600).
    """
    folder, base = os.path.split(os.path.abspath(path))
    for _ in range(100):
        candidate = os.path.join(folder, f".{base}.tmp-{secrets.token_hex(4)}")
        try:
            return candidate, os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
    raise AudioFileError(f"cannot create a temporary file in {folder!r} for {path!r}")  # pragma: no cover


def commit(tmp: str, path: str, *, overwrite: bool, exists: Optional[Exception] = None) -> None:
    """Rename the complete file ``tmp`` to ``path``.

    Without ``overwrite``, a hard link fails atomically if ``path`` appeared since it was
    checked, closing the window in which another process could create it; file systems
    without hard links fall back to check-then-replace. ``exists`` is raised then
    (default: an :class:`AudioFileError` naming ``path``).
    """
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise (exists or _exists_error(path)) from None
    except OSError:
        if os.path.lexists(path):
            raise (exists or _exists_error(path)) from None
        os.replace(tmp, path)
    else:
        os.unlink(tmp)


@contextmanager
def atomic_write(path: str, *, overwrite: bool) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file: ``with atomic_write(p, ...) as handle:``.

    The file appears under its final name only when the block finishes without an
    exception; on any exception (KeyboardInterrupt included) the temporary file is
    removed. OS and libsndfile errors become :class:`AudioFileError` naming ``path``.
    """
    check_destination(path, overwrite=overwrite)
    tmp = None
    try:
        try:
            tmp, fd = temporary_name(path)
        except OSError as err:
            folder = os.path.dirname(os.path.abspath(path))
            raise AudioFileError(
                f"cannot write {path!r}: cannot create a file in folder {folder!r} "
                f"({err.strerror or err}); check that the folder is writable"
            ) from err
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            # Without fsync a crash soon after the rename can leave an empty file under
            # the final name on some file systems (ext4 delayed allocation).
            os.fsync(handle.fileno())
        commit(tmp, path, overwrite=overwrite)
        tmp = None
    except (OSError, RuntimeError) as err:  # libsndfile reports errors as RuntimeError
        raise AudioFileError(f"cannot write {path!r}: {err}") from err
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass  # best effort: never hide the error that brought us here
