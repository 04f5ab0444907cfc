"""logsumexp: mpmath references, properties, ``b`` / ``return_sign`` / ``keepdims`` / ``where``.

The derivatives (vjp, jvp) are checked against finite differences in
test_softmax_derivatives.py, the SPEC section 4 rules in test_softmax_policy.py
and the error messages in test_softmax_errors.py.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sigmax as sx

# ---------------------------------------------------------------------------
# References: mpmath at 50 significant digits on the exact binary inputs,
# rounded once with float() (or np.float32).  The generating snippets:
#
#   import mpmath as mp; mp.mp.dps = 50
#   def mp_lse(x):   # max + log1p(rest): 50 digits suffice however much one entry dominates
#       x = [mp.mpf(v) for v in x]; k = x.index(max(x))
#       return x[k] + mp.log1p(mp.fsum(mp.exp(v - x[k]) for i, v in enumerate(x) if i != k))
#   def mp_lse_b(x, b):   # (log|S|, sign S) for S = sum b e^x
#       s = mp.fsum(mp.mpf(c) * mp.exp(mp.mpf(v)) for v, c in zip(x, b))
#       return mp.log(abs(s)), mp.sign(s)
#
# These functions are defined below and test_references_regenerate recomputes
# every literal from them, so the literals and snippets cannot drift apart.


def mp_lse(x):
    with mp.workdps(50):
        x = [mp.mpf(v) for v in x]
        k = x.index(max(x))
        return x[k] + mp.log1p(mp.fsum(mp.exp(v - x[k]) for i, v in enumerate(x) if i != k))


def mp_lse_b(x, b):
    with mp.workdps(50):
        s = mp.fsum(mp.mpf(c) * mp.exp(mp.mpf(v)) for v, c in zip(x, b))
        return mp.log(abs(s)), mp.sign(s)


LSE_REFERENCES = [
    # (x, expected)
    ([0.0, -40.0], 4.248354255291589e-18),  # float(mp_lse([0.0, -40.0])): log1p needed
    ([0.0, -740.0], 4.2e-322),  # float(mp_lse([0.0, -740.0])): a subnormal result
    ([1000.0, 1000.0], 1000.6931471805599),  # float(mp_lse([1000.0, 1000.0]))
    ([1e308, 1e308], 1e308),  # float(mp_lse([1e308, 1e308])): exp would overflow
    ([-1e308, -1e308], -1e308),  # float(mp_lse([-1e308, -1e308]))
    ([1e308, -1e308], 1e308),  # float(mp_lse([1e308, -1e308])): spread overflows
    ([-745.0, -745.0], -744.3068528194401),  # float(mp_lse([-745.0, -745.0]))
    ([5.0], 5.0),  # float(mp_lse([5.0])): a row of one element
    ([0.1, 0.2, 0.3], 1.301942848229244),  # float(mp_lse([0.1, 0.2, 0.3]))
    ([-0.5, 0.25, 3.0, 10.5], 10.500604960546251),  # float(mp_lse([-0.5, 0.25, 3.0, 10.5]))
]

LSE_B_REFERENCES = [
    # (x, b, expected log|S|, expected sign)
    ([1.0, 2.0], [1.0, -1.0], 1.5413248546129181, -1.0),  # mp_lse_b([1.0, 2.0], [1.0, -1.0])
    ([0.0, -40.0], [1.0, -1.0], -4.248354255291589e-18, 1.0),  # mp_lse_b([0.0, -40.0], [1.0, -1.0])
    ([0.0, 1.0, 2.0], [3.0, 0.5, 0.25], 1.8255818134885973, 1.0),
    # ^ mp_lse_b([0.0, 1.0, 2.0], [3.0, 0.5, 0.25])
    ([0.0, 0.0], [1.0, -0.9999999], -16.118095651484676, 1.0),
    # ^ mp_lse_b([0.0, 0.0], [1.0, -0.9999999]): cancellation of the maximal terms
    ([3.0, 0.0], [-1.0, 1.0], 2.9489308190572983, -1.0),  # mp_lse_b([3.0, 0.0], [-1.0, 1.0])
]

# float32: x32 = [float(np.float32(v)) for v in (1.0, 0.1, -50.0)]
# float(np.float32(mp_lse(x32)))
LSE_F32_X = [1.0, 0.1, -50.0]
LSE_F32 = 1.341153860092163


class TestLogSumExp:
    @pytest.mark.parametrize("x, expected", LSE_REFERENCES)
    def test_mpmath_reference(self, x, expected):
        got = sx.logsumexp(np.array(x))
        assert isinstance(got, np.float64)
        np.testing.assert_array_max_ulp(got, np.float64(expected), maxulp=1)

    @pytest.mark.parametrize("x, b, expected, sign", LSE_B_REFERENCES)
    def test_mpmath_reference_weighted(self, x, b, expected, sign):
        lse, sgn = sx.logsumexp(np.array(x), b=np.array(b), return_sign=True)
        assert sgn == sign
        np.testing.assert_array_max_ulp(lse, np.float64(expected), maxulp=2)

    def test_mpmath_reference_float32(self):
        got = sx.logsumexp(np.array(LSE_F32_X, dtype=np.float32))
        assert got.dtype == np.float32
        np.testing.assert_array_max_ulp(got, np.float32(LSE_F32), maxulp=1)

    def test_references_regenerate(self):
        for x, expected in LSE_REFERENCES:
            assert float(mp_lse(x)) == expected, x
        for x, b, expected, sign in LSE_B_REFERENCES:
            lse, sgn = mp_lse_b(x, b)
            assert (float(lse), float(sgn)) == (expected, sign), (x, b)
        x32 = [float(np.float32(v)) for v in LSE_F32_X]
        assert float(np.float32(mp_lse(x32))) == LSE_F32

    def test_batch_of_rows_matches_rowwise(self):
        rows = [x for x, _ in LSE_REFERENCES if len(x) == 2]
        got = sx.logsumexp(np.array(rows))
        np.testing.assert_array_equal(got, [sx.logsumexp(np.array(r)) for r in rows])

    def test_keepdims_shapes(self, rng):
        x = rng.normal(size=(2, 3, 4))
        assert sx.logsumexp(x, axis=1, keepdims=True).shape == (2, 1, 4)
        assert sx.logsumexp(x, axis=(0, 2), keepdims=True).shape == (1, 3, 1)
        assert sx.logsumexp(x, axis=None, keepdims=True).shape == (1, 1, 1)
        assert sx.logsumexp(x, axis=(0, 2)).shape == (3,)
        full = sx.logsumexp(x, axis=None)
        assert isinstance(full, np.float64)
        np.testing.assert_allclose(full, np.log(np.exp(x).sum()), rtol=1e-15)
        kept = sx.logsumexp(x, axis=(0, 2), keepdims=True)
        np.testing.assert_array_equal(kept.ravel(), sx.logsumexp(x, axis=(0, 2)))

    def test_tuple_axis_equals_reshape(self, rng):
        x = rng.normal(size=(3, 2, 4))
        got = sx.logsumexp(x, axis=(0, 2))
        flat = np.moveaxis(x, 1, 0).reshape(2, 12)
        np.testing.assert_allclose(got, sx.logsumexp(flat, axis=-1), rtol=1e-15)

    def test_axis_empty_tuple_reduces_nothing(self, rng):
        # A reduction over no axis is the identity: log(exp(x)) == x.
        x = rng.normal(size=(2, 3))
        np.testing.assert_array_equal(sx.logsumexp(x, axis=()), x)

    def test_return_sign_positive(self, rng):
        x = rng.normal(size=(3, 5))
        lse, sign = sx.logsumexp(x, return_sign=True)
        np.testing.assert_array_equal(lse, sx.logsumexp(x))
        np.testing.assert_array_equal(sign, 1.0)
        assert sign.dtype == lse.dtype == np.float64

    def test_b_broadcasts(self, rng):
        x = rng.normal(size=(3, 4))
        b = np.array([1.0, 2.0, 0.5, 3.0])
        np.testing.assert_allclose(sx.logsumexp(x, b=b), np.log((b * np.exp(x)).sum(-1)),
                                   rtol=1e-14)

    def test_b_zero_excludes_entry_even_at_inf(self):
        x = np.array([np.inf, 1.0, 2.0, np.nan])
        b = np.array([0.0, 1.0, 1.0, 0.0])
        np.testing.assert_allclose(sx.logsumexp(x, b=b), sx.logsumexp([1.0, 2.0]), rtol=1e-15)

    def test_b_cancels_to_zero_gives_minus_inf(self):
        lse, sign = sx.logsumexp([1.0, 1.0], b=[2.0, -2.0], return_sign=True)
        assert lse == -np.inf and sign == 0.0

    def test_where_combined_with_b(self):
        x = np.array([[1.0, 2.0, 3.0], [0.0, 5.0, -1.0]])
        b = np.array([[2.0, -1.0, 0.5], [1.0, 1.0, 1.0]])
        mask = np.array([[True, False, True], [True, True, False]])
        got, sign = sx.logsumexp(x, where=mask, b=b, return_sign=True)
        want = [np.log(2 * np.e + 0.5 * np.exp(3.0)), np.log(1.0 + np.exp(5.0))]
        np.testing.assert_allclose(got, want, rtol=1e-15)
        np.testing.assert_array_equal(sign, [1.0, 1.0])


_tame = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                   elements=st.floats(-30, 30))


class TestLogSumExpProperties:
    @settings(max_examples=40, deadline=None)
    @given(_tame)
    def test_equals_naive_on_tame_inputs(self, x):
        with np.errstate(all="raise"):
            naive = np.log(np.sum(np.exp(x), axis=-1))
        np.testing.assert_allclose(sx.logsumexp(x), naive, rtol=1e-14, atol=1e-14)

    @settings(max_examples=40, deadline=None)
    @given(_tame, st.data())
    def test_positive_b_equals_shift_by_log_b(self, x, data):
        b = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(1e-3, 1e3)))
        with np.errstate(all="raise"):
            shifted = x + np.log(b)
        np.testing.assert_allclose(sx.logsumexp(x, b=b), sx.logsumexp(shifted),
                                   rtol=1e-14, atol=1e-13)

    @settings(max_examples=40, deadline=None)
    @given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                      elements=st.integers(-4000, 4000).map(lambda k: k / 8)),
           st.integers(-10**6, 10**6))
    def test_translation_equivariance(self, x, c):
        # x + c is exact for these dyadic x and integer c, so the shift is exact too.
        # Each side is within ~1 ULP of its own magnitude, and lse(x) + c rounds
        # once more: allow 2 ULP of each (x=[74.375, 78.625], c=-69 differs by
        # 7.1e-15, half an ULP of 78.6, which a relative tolerance on the
        # shifted value 9.6 would call a failure).
        shifted, moved = sx.logsumexp(x + c), sx.logsumexp(x)
        tol = 2 * (np.spacing(np.abs(shifted)) + np.spacing(np.abs(moved)))
        assert np.all(np.abs(shifted - (moved + c)) <= tol), (shifted, moved + c)

    @settings(max_examples=40, deadline=None)
    @given(hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e3, 1e3)),
           hnp.arrays(np.bool_, (3, 4)))
    def test_where_equals_dropping_entries(self, x, mask):
        got = sx.logsumexp(x, where=mask)
        for r in range(3):
            kept = x[r][mask[r]]
            np.testing.assert_allclose(got[r], sx.logsumexp(kept), rtol=1e-15, atol=1e-15)

    @settings(max_examples=30, deadline=None)
    @given(hnp.arrays(np.float64, (2, 3, 4), elements=st.floats(-1e3, 1e3)),
           st.integers(0, 2), st.booleans())
    def test_axis_equals_moveaxis(self, x, k, keepdims):
        got = sx.logsumexp(x, axis=k, keepdims=keepdims)
        want = sx.logsumexp(np.moveaxis(x, k, -1), axis=-1, keepdims=keepdims)
        if keepdims:
            want = np.moveaxis(want, -1, k)
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-15)
