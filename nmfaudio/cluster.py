"""Many files: output naming for batches, and separating them on a Dask cluster.

- :func:`output_folders` names each input's output folder. MUSDB-style datasets hold
  one ``mixture.wav`` per track folder, so naming by the file's stem alone would send
  every track to the same folder; ``naming="parent"`` names by the track folder, and
  ``naming="mirror"`` mirrors the inputs' relative paths.
- :func:`separate_files` separates files on a ``dask.distributed`` cluster (``pip
  install 'nmfaudio[dask]'``), one task per file: the worker that separates a file
  writes its outputs, each under a hidden temporary name renamed when complete. A file
  that fails is reported and the others go on; a file whose worker dies is run again
  (by the scheduler, and once more here) or reported, and the temporary files the dead
  worker left are removed, so no partial file remains.
- :func:`run_on_cluster` is the part that knows Dask, for any per-file function (the
  command line's ``--dask`` runs the same per-file function as ``--jobs``).

``distributed`` is imported only by the functions that need it.
"""

from __future__ import annotations

import glob
import os
import secrets
from pathlib import Path
from typing import Callable, Optional, Sequence

from .errors import NMFAudioError, ParameterError

__all__ = ["NAMINGS", "output_folders", "remove_temporaries", "run_on_cluster",
           "separate_files", "local_client"]

#: Exceptions of a task that mean its worker died or was lost (retried), not a bug.
_WORKER_LOST = ("KilledWorker", "CommClosedError", "CancelledError", "FutureCancelledError",
                "WorkerLost")

#: How :func:`output_folders` names the folder of each input (the first is the default).
NAMINGS = ("stem", "parent", "mirror")


def output_folders(inputs: Sequence, out_dir, *, naming: str = "stem") -> list:
    """The output folder of each input, distinct, refusing any two that would collide.

    Parameters
    ----------
    inputs : sequence of str or os.PathLike
        The input files.
    out_dir : str or os.PathLike
        Where the folders go.
    naming : {"stem", "parent", "mirror"}
        ``"stem"``: ``OUT/<file name without extension>`` (``a/song.wav`` ->
        ``OUT/song``). ``"parent"``: ``OUT/<name of the folder holding the file>``
        (``musdb/train/Track A/mixture.wav`` -> ``OUT/Track A``). ``"mirror"``: the
        inputs' paths relative to the folder they all share, without the extension
        (``musdb/train/Track A/mixture.wav`` and ``musdb/test/Track B/mixture.wav`` ->
        ``OUT/train/Track A/mixture`` and ``OUT/test/Track B/mixture``).

    Returns
    -------
    list of str

    Raises
    ------
    ParameterError
        Unknown ``naming``, or two inputs that would share a folder (the message names
        both and the naming that separates them).
    """
    if naming not in NAMINGS:
        raise ParameterError(f"naming must be one of {NAMINGS}, got {naming!r}")
    paths = [Path(os.path.abspath(p)) for p in inputs]
    out = Path(out_dir)
    if naming == "stem":
        names = [Path(p.stem or p.name) for p in paths]
    elif naming == "parent":
        names = [Path(p.parent.name or p.stem) for p in paths]
    else:
        common = Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else Path()
        names = [p.relative_to(common).with_suffix("") for p in paths]
    folders, seen = [], {}
    for given, name in zip(inputs, names):
        folder = str(out / name)
        if folder in seen:
            other = "mirror" if naming != "mirror" else None
            hint = (f"use naming '{other}' (CLI: --naming {other}) to mirror the inputs' "
                    "folders" if other else "separate them in two calls with different output folders")
            raise ParameterError(
                f"'{seen[folder]}' and '{given}' would both be written to '{folder}' "
                f"(naming '{naming}'); {hint}")
        seen[folder] = given
        folders.append(folder)
    return folders


def remove_temporaries(folder, names: Sequence[str]) -> list:
    """Remove the hidden temporary files left beside ``folder/NAME`` by a writer that
    died (``.NAME.tmp-*``, ``.NAME.partial-*`` and their own temporaries); returns them.

    Only call this when no one is writing those files any more.
    """
    removed = []
    for name in names:
        for pattern in (f".{name}.tmp-*", f".{name}.partial-*", f"..{name}.partial-*"):
            for path in glob.glob(os.path.join(glob.escape(str(folder)), pattern)):
                try:
                    os.unlink(path)
                    removed.append(path)
                except OSError:
                    pass
    return removed


def _rmdir_if_empty(folder) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass  # not empty, or not there


def run_on_cluster(client, function: Callable, items: Sequence, *, labels: Sequence[str],
                   cleanup: Optional[Callable] = None, retries: int = 1,
                   on_result: Optional[Callable[[int, dict], None]] = None,
                   timeout: Optional[float] = None) -> list:
    """Run ``function(item)`` for every item on a ``distributed.Client``, one task each.

    ``function`` must return a dict with ``"ok"`` and never raise for a failure of its
    own (the per-file functions of nmfaudio report errors in the dict). An exception
    from a task means its worker died (killed, out of memory) or was lost: then
    ``cleanup(item)`` runs on this machine, and the item is submitted again up to
    ``retries`` times before being reported as ``{"ok": False, "error": ...}``.

    Parameters
    ----------
    client : distributed.Client
    function : callable(item) -> dict
        Importable by the workers (a module-level function).
    items : sequence
        Picklable arguments, one task each.
    labels : sequence of str
        How to name each item in messages (usually the input path).
    cleanup : callable(item), optional
        Removes what a dead worker may have left (:func:`remove_temporaries`); also run
        for every item at the end, when no task is running any more.
    retries : int >= 0
    on_result : callable(index, result), optional
        Called as each item finishes (in completion order).
    timeout : float, optional
        Seconds to wait for the whole batch before giving up (``TimeoutError``; the
        tasks still running are cancelled).

    Returns
    -------
    list of dict
        The results in the order of ``items``.
    """
    from distributed import as_completed

    batch = secrets.token_hex(4)
    results: list = [None] * len(items)
    attempts = [0] * len(items)

    def submit(i):
        # pure=False and a fresh key: a retry must run again, not reuse a failed result
        return client.submit(function, items[i], key=f"nmfaudio-{batch}-{i}-{attempts[i]}",
                             pure=False, retries=0)

    index = {}
    for i in range(len(items)):
        index[submit(i)] = i
    completed = as_completed(list(index), timeout=timeout)
    try:
        for future in completed:
            i = index.pop(future)
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001  (the worker died, or a bug)
                if cleanup is not None:
                    cleanup(items[i])
                if type(error).__name__ not in _WORKER_LOST:
                    result = {"input": labels[i], "ok": False, "bug": True, "traceback": None,
                              "error": f"unexpected {type(error).__name__} while separating "
                                       f"'{labels[i]}': {' '.join(str(error).split())}"}
                elif attempts[i] < retries:
                    attempts[i] += 1
                    again = submit(i)
                    index[again] = i
                    completed.add(again)
                    continue
                else:
                    result = {"input": labels[i], "ok": False, "bug": False, "traceback": None,
                              "error": f"{labels[i]}: the worker separating it died or was "
                                       f"lost ({type(error).__name__}: "
                                       f"{' '.join(str(error).split())}); nothing was written "
                                       "for it; run it again"}
            results[i] = result
            if on_result is not None:
                on_result(i, result)
    except BaseException:
        for future in index:
            future.cancel()
        raise
    finally:
        if cleanup is not None:
            for item in items:
                cleanup(item)
    return results


def _separate_one(task: dict) -> dict:
    """One file on a worker: the body of a :func:`separate_files` task."""
    from .chunked import separate_to_files

    folder = Path(task["folder"])
    paths = [folder / f"{name}.wav" for name in task["names"]]
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        done = separate_to_files(task["input"], paths, **task["kwargs"])
    except NMFAudioError as error:
        if created:
            _rmdir_if_empty(folder)
        return {"input": task["input"], "ok": False, "bug": False, "error": str(error)}
    except Exception as error:  # noqa: BLE001  (reported, the batch goes on)
        if created:
            _rmdir_if_empty(folder)
        return {"input": task["input"], "ok": False, "bug": True,
                "error": f"unexpected {type(error).__name__}: {error}"}
    return {"input": task["input"], "ok": True, "paths": [str(p) for p in paths],
            "n_iter": done.separation.n_iter, "converged": done.separation.converged,
            "duration": done.duration}


def _cleanup_one(task: dict) -> None:
    names = [f"{name}.wav" for name in task["names"]]
    remove_temporaries(task["folder"], names)


def separate_files(client, inputs: Sequence, out_dir, *, naming: str = "stem",
                   retries: int = 1, on_result=None, timeout: Optional[float] = None,
                   **kwargs) -> list:
    """Separate audio files on a Dask cluster: ``OUT/<folder>/<source>.wav`` per input.

    Parameters
    ----------
    client : distributed.Client
        Connected to the cluster (``Client("tcp://scheduler:8786")``, or
        :func:`local_client`). The workers must see the inputs and ``out_dir`` at the
        same paths (a shared file system).
    inputs : sequence of str or os.PathLike
    out_dir : str or os.PathLike
    naming : {"stem", "parent", "mirror"}
        See :func:`output_folders`.
    retries : int
        Extra attempts for a file whose worker died.
    on_result : callable(index, result), optional
    timeout : float, optional
        See :func:`run_on_cluster`.
    **kwargs
        Passed to :func:`nmfaudio.chunked.separate_to_files` on the worker: the
        separation's settings (``n_sources=``, ``dictionaries=``...), ``subtype``,
        ``overwrite``, ``seed``, ``n_iter``, ``n_threads``... Give ``n_threads`` for
        results that do not depend on the workers' cores.

    Returns
    -------
    list of dict
        One per input, in order: ``{"input", "ok": True, "paths", ...}`` or
        ``{"input", "ok": False, "error"}``.
    """
    from .pipeline import separation_settings

    settings_args = {k: v for k, v in kwargs.items()
                     if k not in ("subtype", "overwrite", "chunk_frames", "seed", "n_iter",
                                  "tol", "dtype", "n_threads", "residual_path")}
    if "stft_config" in settings_args:
        settings_args["stft"] = settings_args.pop("stft_config")
    names = separation_settings(**settings_args).source_names  # fail before submitting
    folders = output_folders(inputs, out_dir, naming=naming)
    tasks = [{"input": str(path), "folder": folder, "names": list(names), "kwargs": kwargs}
             for path, folder in zip(inputs, folders)]
    return run_on_cluster(client, _separate_one, tasks, labels=[str(p) for p in inputs],
                          cleanup=_cleanup_one, retries=retries, on_result=on_result,
                          timeout=timeout)


def local_client(n_workers: int = 2, **cluster_args):
    """A ``distributed.Client`` on a new ``LocalCluster`` of worker processes (one
    thread each); close it with ``client.close(); client.cluster.close()``."""
    from distributed import Client, LocalCluster

    cluster_args.setdefault("threads_per_worker", 1)
    cluster_args.setdefault("processes", True)
    cluster_args.setdefault("dashboard_address", None)
    cluster = LocalCluster(n_workers=n_workers, **cluster_args)
    return Client(cluster)
