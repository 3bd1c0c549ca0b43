"""Worker processes hold every thread pool to their share of the cores (nmfaudio._threads)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nmfaudio._threads import limit_threads
from nmfaudio.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1]

# run in a fresh process: the limits are for good, as in a worker
CHILD = """
import json, os, sys
import numpy as np
import threadpoolctl
from nmfaudio import _threads, factorization
_threads.limit_threads(1)
_threads.warm_up(); _threads.warm_up()
import numba
pools = {i["user_api"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}
print(json.dumps({"pools": sorted(set(i["num_threads"] for i in threadpoolctl.threadpool_info())),
                  "apis": sorted(pools), "numba": numba.get_num_threads(),
                  "env": [os.environ[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                  "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")],
                  "cores": factorization.usable_cores(), "lanes": factorization._n_lanes(None, 8)}))
"""


def test_limit_threads_holds_every_pool_of_a_worker():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["pools"] == [1]  # every BLAS and OpenMP pool threadpoolctl sees
    assert "blas" in report["apis"]
    assert report["numba"] == 1
    assert report["env"] == ["1"] * 4
    assert report["cores"] == 1 and report["lanes"] == 1  # the NMF's lanes follow


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_limit_threads_refuses_a_bad_count(bad):
    with pytest.raises(ParameterError, match="n_threads"):
        limit_threads(bad)
