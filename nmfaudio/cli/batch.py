"""Many files: ``--jobs N`` (a pool of worker processes) and ``--dask`` (a Dask cluster)."""

from __future__ import annotations

import dataclasses
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from .._threads import limit_threads, warm_up
from ..factorization import usable_cores
from .core import CLIError, _one_line, _show_warning
from . import signals
from .progress import Progress
from .separation import separate_file


def _worker_init(n_threads: int) -> None:
    """Each worker: its share of the cores for every thread pool, and librosa loaded once
    (not on its first file); without the limit the workers' BLAS threads spin against
    each other (measured: --jobs 2 several times slower than --jobs 1)."""
    warnings.showwarning = _show_warning
    signals.worker_init()
    limit_threads(n_threads)
    warm_up()


def _worker_separate(job, model, out) -> dict:
    """:func:`separate_file` in a worker: SIGTERM/SIGHUP stop it (and clean up) only here."""
    with signals.job():
        return separate_file(job, model, out, False)


def _stop_workers(pool) -> None:
    """SIGTERM to every worker: each removes what its current file had staged.

    ``_processes`` is private to :mod:`concurrent.futures` (the same since Python 3.2);
    without it the workers still finish their current file and clean up normally.
    """
    processes = getattr(pool, "_processes", None)
    for process in list(processes.values()) if isinstance(processes, dict) else []:
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):
            pass


def _separate_parallel(jobs, model, out, n_jobs, verbose, report) -> None:
    """``--jobs N``: one file per worker process; results reported in input order."""
    results = [None] * len(jobs)
    # share the cores between the worker processes instead of each taking all of them
    share = max(1, usable_cores() // n_jobs)
    model = dataclasses.replace(model, n_threads=share)
    next_to_report = 0
    with Progress(len(jobs), f"separating {len(jobs)} files ({n_jobs} jobs)", unit="files",
                  enabled=verbose) as bar, \
            ProcessPoolExecutor(max_workers=n_jobs, initializer=_worker_init,
                                initargs=(share,)) as pool:
        futures = {pool.submit(_worker_separate, job, model, out): job for job in jobs}
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
            with signals.deferred():
                for future in futures:
                    future.cancel()
                _stop_workers(pool)
                pool.shutdown(wait=True, cancel_futures=True)
            raise


# --------------------------------------------------------------------------- --dask


def _separate_task(item) -> dict:
    """One file on a Dask worker: the same function as ``--jobs`` runs."""
    job, model, out = item
    # only the warnings: a Dask worker runs tasks in threads and owns its signals
    warnings.showwarning = _show_warning
    return separate_file(job, model, out, False)


def _cleanup_task(item) -> None:
    """What a worker killed while separating ``item`` may have left: hidden temporaries
    beside its outputs, and its folder if that is now empty."""
    import os

    from ..cluster import remove_temporaries

    job, model, out = item
    names = [f"{name}.wav" for name in model.source_names] + ["residual.wav",
                                                              "separation.png"]
    remove_temporaries(job.folder, names)
    try:
        os.rmdir(job.folder)
    except OSError:
        pass  # not empty (it has results) or not there


def _dask_client(address: str, n_workers: int):
    """A client of the scheduler at ``address``, or of a new LocalCluster ("local")."""
    import logging

    try:
        import distributed
    except ImportError:
        raise CLIError("--dask needs dask.distributed: pip install 'nmfaudio[dask]'") from None
    if address == "local":
        from ..cluster import local_client

        return local_client(n_workers=n_workers, silence_logs=logging.CRITICAL)
    try:
        return distributed.Client(address, timeout="30s")
    except (OSError, TimeoutError) as error:
        raise CLIError(f"--dask {address}: cannot reach the Dask scheduler ({_one_line(error)}); "
                       "check the address (tcp://HOST:8786) or use --dask local") from None


def _separate_dask(jobs, model, out, address, n_workers, verbose, report) -> None:
    """``--dask``: one task per file on a Dask cluster; results reported in input order.

    The NMF runs with the threads ``--jobs 1`` would use on this machine, whatever the
    workers' cores, so that the outputs are bit-identical to ``--jobs 1``. A file whose
    worker dies is run again once (after the scheduler's own retries) or reported; the
    temporaries it left are removed.
    """
    from ..cluster import run_on_cluster

    model = dataclasses.replace(model, n_threads=model.n_threads or usable_cores())
    client = _dask_client(address, n_workers)
    results = [None] * len(jobs)
    state = {"next": 0}
    with Progress(len(jobs), f"separating {len(jobs)} files on Dask", unit="files",
                  enabled=verbose) as bar:
        def on_result(index, result):
            results[index] = result
            bar.update(sum(r is not None for r in results))
            bar.clear()
            while state["next"] < len(jobs) and results[state["next"]] is not None:
                report(results[state["next"]])
                state["next"] += 1
            bar.redraw()

        try:
            bar.update(0)
            run_on_cluster(client, _separate_task, [(job, model, out) for job in jobs],
                           labels=[job.label for job in jobs], cleanup=_cleanup_task,
                           retries=1, on_result=on_result)
        finally:
            cluster = client.cluster if address == "local" else None
            client.close()
            if cluster is not None:
                cluster.close()
