"""SPEC section 4 accuracy targets on a modest sample (tests/accuracy.py measures them all).

Elementwise functions and their derivatives: <= 1 ULP in float64 and float32
(and in float16/bfloat16, which are computed wider and rounded once).
softmax / log_softmax / logsumexp: the targets of docs/accuracy.md, as the
ratio error / allowed error <= 1.  The sample is seeded, so a failure names
a reproducible input; docs/accuracy.md has the full-size table.
"""

from __future__ import annotations

import accuracy
import mpmath as mp
import numpy as np
import pytest

N = 1500  # elementwise inputs per (function, dtype)
ROWS = 40  # rows per dtype for the softmax family

# Known misses, by (path, dtype, name): conftest runs this module on the plain
# path and on the compiled kernels.  An entry makes the test a strict xfail:
# when the fix lands, the XPASS fails and the entry has to go.  Empty now:
# both paths meet every target on this sample (the softmax miss on long rows
# is pinned by test_softmax_of_a_long_row_is_within_its_target below).
KNOWN_MISSES: dict = {}


def _path(request):
    callspec = getattr(request.node, "callspec", None)
    return callspec.params.get("sigmax_path", "default") if callspec else "default"


def _expect(request, dtype, name):
    reason = KNOWN_MISSES.get((_path(request), dtype, name))
    if reason:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture(scope="module")
def impls():
    # "default": the conftest fixture has already chosen the path.
    return accuracy.sigmax_impls("default")


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("name", list(accuracy.ELEMENTWISE))
def test_elementwise_within_one_ulp(name, dtype, impls, request):
    _expect(request, dtype, name)
    inputs = accuracy.inputs_for(name, dtype, N if dtype in ("float64", "float32") else 400)
    res = accuracy.measure(name, impls[name], dtype, inputs)
    assert res.max_ulp <= 1.0, f"{name} {dtype}: {res.max_ulp:.3g} ULP at {res.worst_input!r}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(accuracy.FAMILY))
def test_softmax_family_within_its_target(name, dtype, impls, request):
    _expect(request, dtype, name)
    rows = accuracy.row_inputs(dtype, ROWS)
    res = accuracy.measure(name, impls[name], dtype, rows)
    assert res.worst_ratio <= 1.0, (
        f"{name} {dtype}: {res.worst_ratio:.3g} x the target ({res.max_ulp:.3g} ULP) "
        f"at {np.asarray(res.worst_input)!r}")


def test_softmax_of_a_long_row_is_within_its_target(impls):
    # A Gaussian row of 1000 entries (offset 30).  The terms e^(x_i - m) are
    # within 0.5 ULP; a plain pairwise sum of them rounds ~log2(n) times and
    # p_i = e_i / (1 + s) inherited 2.76 ULP where the target allows 2.53
    # (ratio 1.09).  The plain path now sums exactly split heads and tails
    # (_softmax._accurate_row_sum): 1.55 ULP; the kernel path measures 1.42.
    row = accuracy.row_inputs("float64", 200)[135]
    assert row.size == 1000
    res = accuracy.measure("softmax", impls["softmax"], "float64", [row])
    assert res.worst_ratio <= 1.0, res.worst_ratio


def test_softmax_of_a_short_row_is_within_its_target(impls):
    # A Gaussian row of 7 entries (scale 0.1).  The kernels vectorise rows of at
    # most 16 entries across rows; their row sum used to be a running sum, and
    # three of its roundings put p_2 2.61 ULP off where the target allows 2.36
    # (ratio 1.10).  With the sum exact in its heads (as _kernels._common.rest_sum)
    # the kernel path measures 0.83 ULP; the exps alone are within 0.72 ULP.
    row = accuracy.row_inputs("float64", 1638)[475]
    assert row.size == 7
    res = accuracy.measure("softmax", impls["softmax"], "float64", [row])
    assert res.worst_ratio <= 1.0, res.worst_ratio


def _correctly_rounded(r):
    """float(r) rounds twice below 2**-1022 (53 bits, then the subnormal grid)."""
    if r != 0 and abs(r) < mp.mpf(2) ** -1022:
        return float(mp.nint(r * mp.mpf(2) ** 1074)) * 2.0**-1074
    return float(r)


class TestHarness:
    """The measurement itself: it must see errors that are there."""

    def test_correct_rounding_is_at_most_half_an_ulp(self):
        x = accuracy.real_inputs("float64", 300)
        ref = accuracy.reference(accuracy.mp_sigmoid, x, "float64")
        with mp.workdps(50):
            rounded = np.array([_correctly_rounded(accuracy.mp_sigmoid(mp.mpf(v))) for v in x])
        assert accuracy.ulp_errors(rounded, ref).max() <= 0.5

    def test_one_step_off_is_between_half_and_one_and_a_half_ulp(self):
        x = np.array([-745.0, -709.0, -40.0, -1.0, 0.5, 3.0, 30.0])
        ref = accuracy.reference(accuracy.mp_sigmoid, x, "float64")
        with mp.workdps(50):
            rounded = np.array([_correctly_rounded(accuracy.mp_sigmoid(mp.mpf(v))) for v in x])
        err = accuracy.ulp_errors(np.nextafter(rounded, np.inf), ref)
        assert np.all((err >= 0.5) & (err <= 1.5)), err

    def test_the_naive_softplus_fails(self):
        def naive(x):
            with np.errstate(all="ignore"):
                return np.log(1 + np.exp(x))

        x = accuracy.real_inputs("float64", 300)
        res = accuracy.measure("softplus", naive, "float64", x)
        assert res.max_ulp > 1e6 and not res.meets_target

    def test_specials(self):
        # A NaN reference wants NaN; an infinite one, the same infinity.
        p = np.array([-0.5, 0.0, 1.0, np.nan])
        ref = accuracy.reference(accuracy.mp_logit, p, "float64")
        np.testing.assert_array_equal(
            accuracy.ulp_errors(np.array([np.nan, -np.inf, np.inf, np.nan]), ref), 0.0)
        assert np.isinf(accuracy.ulp_errors(np.array([0.0, np.inf, -np.inf, 1.0]), ref)).all()

    def test_subnormal_results_in_units_of_the_smallest_subnormal(self):
        ref = accuracy.Reference([mp.mpf(5e-324) * mp.mpf("0.4")], "float64")
        np.testing.assert_allclose(accuracy.ulp_errors(np.array([0.0]), ref), 0.4, rtol=1e-12)
        ref32 = accuracy.Reference([mp.mpf(2.0**-149) * 3], "float32")
        np.testing.assert_allclose(accuracy.ulp_errors(np.array([2.0**-149]), ref32), 2.0)

    def test_overflowing_reference_is_met_by_infinity(self):
        ref = accuracy.Reference([mp.mpf(2) ** 1024, -mp.mpf(2) ** 1030], "float64")
        np.testing.assert_array_equal(accuracy.ulp_errors(np.array([np.inf, -np.inf]), ref), 0)

    def test_peer_rows_are_measured_against_the_targets(self):
        # SciPy's softmax/log_softmax lose the log1p digits: the target catches it.
        special = pytest.importorskip("scipy.special")
        rows = accuracy.row_inputs("float64", 20)
        res = accuracy.measure("log_softmax", special.log_softmax, "float64", rows)
        assert res.worst_ratio > 1e3
