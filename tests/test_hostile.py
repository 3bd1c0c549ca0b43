"""Hostile input and faults (issue 10): what a careful user or an attacker may try.

Every case states what must happen: the exception (Python API) or the exit code, exactly
one line on stderr without a traceback (command line), nothing left behind, inputs
unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

import nmfaudio
from nmfaudio.errors import ParameterError
from nmfaudio.grouping import _pairwise


# --------------------------------------------------------------------------- Python API


def test_nmf_ragged_list_is_a_parameter_error():
    with pytest.raises(ParameterError, match="rectangular"):
        nmfaudio.nmf([[1, 2], [3]])


def test_nmf_unknown_dtype_is_a_parameter_error():
    with pytest.raises(ParameterError, match="float32 or np.float64"):
        nmfaudio.nmf(np.ones((3, 3)), 2, dtype="banana")


def test_pairwise_distances_match_broadcasting():
    features = np.random.default_rng(0).random((30, 12))
    diff = features[:, None, :] - features[None, :, :]
    np.testing.assert_allclose(_pairwise(features), np.sqrt((diff ** 2).sum(-1)), atol=1e-12)
