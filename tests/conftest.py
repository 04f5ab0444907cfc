"""Shared test parameters: the dtypes of SPEC section 4 and tolerance helpers."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

#: Float dtypes that keep their dtype through sigmax (SPEC section 4).
FLOAT_DTYPES = [np.float64, np.float32, np.float16, ml_dtypes.bfloat16]
#: The two dtypes with ULP accuracy targets.
EXACT_DTYPES = [np.float64, np.float32]


@pytest.fixture(params=FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def float_dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=EXACT_DTYPES, ids=lambda d: np.dtype(d).name)
def exact_dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


def fd_grad(f, x, eps=None):
    """Central finite-difference gradient of the scalar function ``f`` at ``x`` (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        h = eps if eps is not None else 1e-6 * max(1.0, abs(x[i]))
        xp = x.copy()
        xm = x.copy()
        xp[i] += h
        xm[i] -= h
        grad[i] = (f(xp) - f(xm)) / (2 * h)
    return grad
