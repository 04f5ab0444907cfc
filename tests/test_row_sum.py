"""The accurate row sum behind the softmax family (``_softmax._accurate_row_sum``)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sigmax._softmax import _accurate_row_sum

terms = hnp.arrays(np.float64, st.integers(1, 3000),
                   elements=st.floats(0.0, 1.0, allow_subnormal=True))


def _ulps(a, b):
    return abs(a - b) / math.ulp(b) if b else abs(a)


class TestAccurateRowSum:
    @settings(max_examples=200, deadline=None)
    @given(terms, st.integers(0, 5))
    def test_within_one_ulp_of_the_exact_sum(self, e, extra):
        got = _accurate_row_sum(e[None, :], (1,), np.array([[extra]]))[0, 0]
        exact = math.fsum(list(e) + [extra])  # correctly rounded
        assert _ulps(got, exact) <= 1.0

    def test_a_sum_the_pairwise_sum_gets_wrong(self):
        # Softmax-like terms e^-t, t ~ Exp(3), 1000 of them; seed 214 is the worst
        # of seeds 0-299 for NumPy's pairwise sum (2 ULP from the exact sum).
        rng = np.random.default_rng(214)
        e = np.exp(-rng.exponential(3.0, size=1000))
        exact = math.fsum(e)  # correctly rounded
        assert _ulps(np.sum(e), exact) >= 2.0  # the failure the split removes
        assert _ulps(_accurate_row_sum(e[None, :], (1,), np.zeros((1, 1)))[0, 0], exact) <= 0.5

    @pytest.mark.parametrize("tiny", [1.1754943508222875e-38, 5e-324 * 3, 2.0**-1000])
    def test_rows_of_tiny_terms_are_summed_as_accurately(self, tiny):
        # hypothesis found e = [1.17549435e-38] * n: 2 ULP off when the heads'
        # grid was fixed at 2**-k instead of following the row's largest term.
        rng = np.random.default_rng(3)
        e = tiny * rng.random(777)
        exact = math.fsum(e)
        assert _ulps(_accurate_row_sum(e[None, :], (1,), np.zeros((1, 1)))[0, 0], exact) <= 0.5

    def test_rows_axes_and_extra_are_independent(self):
        rng = np.random.default_rng(0)
        e = rng.random((3, 4, 50))
        got = _accurate_row_sum(e, (0, 2), np.array([[[1], [0], [2], [0]]]).reshape(1, 4, 1))
        for j, extra in enumerate([1, 0, 2, 0]):
            exact = math.fsum(list(e[:, j, :].ravel()) + [extra])
            assert _ulps(got[0, j, 0], exact) <= 1.0

    @pytest.mark.parametrize("bad", [np.nan])
    def test_nan_terms_give_nan(self, bad):
        e = np.array([[0.5, bad, 0.25], [0.5, 0.5, 0.0]])
        got = _accurate_row_sum(e, (1,), np.zeros((2, 1), dtype=np.int64))
        assert np.isnan(got[0, 0]) and got[1, 0] == 1.0

    def test_empty_rows_sum_to_extra(self):
        got = _accurate_row_sum(np.empty((2, 0)), (1,), np.array([[0], [3]]))
        assert got.tolist() == [[0.0], [3.0]]
