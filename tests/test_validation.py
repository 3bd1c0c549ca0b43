"""Tests of nmfaudio._validation, the argument checks shared by the modules."""

from __future__ import annotations

import numpy as np
import pytest

from nmfaudio import _validation as v
from nmfaudio.errors import ParameterError


@pytest.mark.parametrize("value", [0, -1.0, np.nan, np.inf, True, "2", None, np.array([1.0])])
def test_positive_number_rejects(value):
    with pytest.raises(ParameterError, match="x must be a positive finite number"):
        v.positive_number(value, "x")


@pytest.mark.parametrize("value", [2, 0.5, np.float32(3), np.array(4.0), np.int64(1)])
def test_positive_number_accepts_scalars_of_any_kind(value):
    assert v.positive_number(value, "x") == float(value)
    assert isinstance(v.positive_number(value, "x"), float)


def test_positive_number_inf_only_when_allowed():
    assert v.positive_number(np.inf, "p", allow_inf=True) == np.inf
    with pytest.raises(ParameterError, match=r"p must be a positive number \(or inf\) \(hint\)"):
        v.positive_number(-np.inf, "p", allow_inf=True, hint=" (hint)")


@pytest.mark.parametrize("value,expected", [(22050, 22050), (22050.0, 22050), (np.int32(8000), 8000),
                                            (np.array(16000), 16000)])
def test_sample_rate_accepts_whole_numbers(value, expected):
    assert v.sample_rate(value) == expected and isinstance(v.sample_rate(value), int)


@pytest.mark.parametrize("value", [0, -8000, 22050.5, True, np.inf, np.nan, "44100", None])
def test_sample_rate_rejects(value):
    with pytest.raises(ParameterError, match="rate must be a positive integer number"):
        v.sample_rate(value, "rate")


def test_arrays():
    with pytest.raises(ParameterError, match="A contains 2 NaN or infinite"):
        v.finite_array(np.array([1.0, np.nan, np.inf]), "A")
    with pytest.raises(ParameterError, match=r"A has 1 negative values \(min -2\); why"):
        v.nonnegative_finite_array(np.array([1.0, -2.0]), "A", why="why")
    v.nonnegative_finite_array(np.zeros((0, 3)), "A")  # empty is fine
    assert v.real_float_array([1, 2], "A", "shape=(N,)").dtype == np.float32
    assert v.real_float_array(np.ones(2), "A", "shape=(N,)").dtype == np.float64
    with pytest.raises(ParameterError, match="real numbers"):
        v.real_float_array(np.ones(2, complex), "A", "shape=(N,)")


def test_integers():
    assert v.is_integer(3) and v.is_integer(np.int8(3))
    assert not v.is_integer(True) and not v.is_integer(3.0)
    assert v.positive_integer(np.int64(5), "n") == 5
    with pytest.raises(ParameterError, match="n must be a positive integer"):
        v.positive_integer(0, "n")
