"""Shared test parameters: the dtypes of SPEC section 4 and tolerance helpers."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

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


# ---------------------------------------------------------------------------
# Both paths.  The Foundation tests of these modules run twice: on the plain
# NumPy path and on the compiled kernels (the threshold forced to 0, so that
# even the smallest array takes them).  Selected with -k plain / -k kernel.

_BOTH_PATHS = ("test_softmax", "test_logsumexp", "test_elementwise", "test_accuracy")

# A class's hypothesis test runs once per path, from a class instance per path:
# hypothesis' "differing executors" check would flag that (the two runs are two
# test ids, the executor is the only thing that differs).
settings.register_profile("sigmax", suppress_health_check=[HealthCheck.differing_executors])
settings.load_profile("sigmax")


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rpartition(".")[2]
    if module.startswith(_BOTH_PATHS) and "sigmax_path" not in metafunc.fixturenames:
        # Only the test ids and the grouping come from this parametrization:
        # a name appended to ``metafunc.fixturenames`` is not a fixture the
        # test requests (pytest 9 never ran an indirect ``sigmax_path`` here,
        # so both ids ran the default path).  ``_forced_path`` below reads the
        # id's value and forces the path for the test.
        metafunc.fixturenames.append("sigmax_path")
        metafunc.parametrize("sigmax_path", ["plain", "kernel"], scope="module")


def _threshold_for(path):
    return 0 if path == "kernel" else 2**62


@pytest.fixture(autouse=True)
def _forced_path(request):
    """Force the path named by a test's ``sigmax_path`` parameter, if it has one."""
    callspec = getattr(request.node, "callspec", None)
    path = callspec.params.get("sigmax_path") if callspec else None
    if path is None:
        yield
        return
    from sigmax import _dispatch

    previous = _dispatch.set_threshold(_threshold_for(path))
    try:
        yield
    finally:
        _dispatch.set_threshold(previous)


@pytest.fixture(scope="module")
def sigmax_path(request):
    """``"plain"`` or ``"kernel"``, for the modules that parametrize it indirectly.

    ``_forced_path`` forces the path for every test that carries the parameter,
    however it was parametrized.
    """
    return request.param
