"""softmax, log_softmax and softmax2d: mpmath references and properties.

Derivatives: test_softmax_derivatives.py; SPEC section 4 rules:
test_softmax_policy.py; error messages: test_softmax_errors.py; SciPy and
PyTorch: test_softmax_peers.py.
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
# rounded once with float() (np.float32 for the float32 rows).  The snippets:
#
#   import mpmath as mp; mp.mp.dps = 50
#   def mp_lse(z):   # max + log1p(rest): 50 digits suffice however much one entry dominates
#       z = [mp.mpf(v) for v in z]; k = z.index(max(z))
#       return z[k] + mp.log1p(mp.fsum(mp.exp(v - z[k]) for i, v in enumerate(z) if i != k))
#   def mp_softmax(x, t=1.0):
#       z = [mp.mpf(v) / mp.mpf(t) for v in x]; lse = mp_lse(z)
#       return [mp.exp(v - lse) for v in z]
#   def mp_log_softmax(x, t=1.0):
#       z = [mp.mpf(v) / mp.mpf(t) for v in x]; lse = mp_lse(z)
#       return [v - lse for v in z]
#
# The functions are defined below; test_references_regenerate recomputes every
# literal from them.


def mp_lse(z):
    with mp.workdps(50):
        z = [mp.mpf(v) for v in z]
        k = z.index(max(z))
        return z[k] + mp.log1p(mp.fsum(mp.exp(v - z[k]) for i, v in enumerate(z) if i != k))


def mp_softmax(x, t=1.0):
    with mp.workdps(50):
        z = [mp.mpf(v) / mp.mpf(t) for v in x]
        lse = mp_lse(z)
        return [mp.exp(v - lse) for v in z]


def mp_log_softmax(x, t=1.0):
    with mp.workdps(50):
        z = [mp.mpf(v) / mp.mpf(t) for v in x]
        lse = mp_lse(z)
        return [v - lse for v in z]


SOFTMAX_REFERENCES = [
    # (x, temperature, expected)
    ([0.0, -745.0], 1.0, [1.0, 5e-324]),  # mp_softmax([0.0, -745.0]): smallest subnormal kept
    ([-740.0, 0.0, -740.0], 1.0, [4.2e-322, 1.0, 4.2e-322]),  # mp_softmax([-740.0, 0.0, -740.0])
    ([1000.0, 999.0, 0.0], 1.0, [0.7310585786300049, 0.2689414213699951, 0.0]),
    # ^ mp_softmax([1000.0, 999.0, 0.0]): exp(1000) overflows, exp(-1000) underflows
    ([709.0, -709.0, 0.0], 1.0, [1.0, 0.0, 1.216780750623423e-308]),
    # ^ mp_softmax([709.0, -709.0, 0.0]): a spread of 1418
    ([3.0, -3.0, 0.125, 10.5], 1.0,
     [0.0005527606413377378, 1.37015664289141e-06, 3.1184621453907254e-05, 0.9994146845805655]),
    # ^ mp_softmax([3.0, -3.0, 0.125, 10.5])
    ([123.456], 1.0, [1.0]),  # mp_softmax([123.456]): a row of one element
    ([0.1, 0.2, 0.3], 1.0, [0.3006096053557273, 0.3322249935333472, 0.36716540111092544]),
    # ^ mp_softmax([0.1, 0.2, 0.3])
    ([1e6, 1e6 + 1], 1.0, [0.2689414213699951, 0.7310585786300049]),  # mp_softmax([1e6, 1e6 + 1])
    ([1e308, -1e308], 1.0, [1.0, 0.0]),  # mp_softmax([1e308, -1e308]): x - max overflows
    ([-1e308, -5e307], 1.0, [0.0, 1.0]),  # mp_softmax([-1e308, -5e307])
    ([1.0, 2.0, 3.0], 0.25, [0.00032932043896389293, 0.017980286735531547, 0.9816903928255045]),
    # ^ mp_softmax([1.0, 2.0, 3.0], 0.25)
    ([1.0, 2.0, 3.0], 10.0, [0.3006096053557273, 0.3322249935333472, 0.3671654011109255]),
    # ^ mp_softmax([1.0, 2.0, 3.0], 10.0)
    ([1e308, 9e307], 0.1, [1.0, 0.0]),  # mp_softmax([1e308, 9e307], 0.1): x / T overflows
    ([1.0, 2.0], 1e-310, [0.0, 1.0]),  # mp_softmax([1.0, 2.0], 1e-310): x / T overflows
    ([1e308, -1e308], 1e308, [0.8807970779778824, 0.11920292202211756]),
    # ^ mp_softmax([1e308, -1e308], 1e308): x - max overflows, (x - max) / T does not
]

LOG_SOFTMAX_REFERENCES = [
    ([0.0, -40.0], 1.0, [-4.248354255291589e-18, -40.0]),
    # ^ mp_log_softmax([0.0, -40.0]): -log1p(e^-40), which log(1 + e^-40) rounds to 0
    ([0.0, -745.0], 1.0, [-5e-324, -745.0]),  # mp_log_softmax([0.0, -745.0])
    ([1e308, -1e308], 1.0, [0.0, -np.inf]),  # mp_log_softmax([1e308, -1e308]): -2e308 rounds to -inf
    ([1000.0, 999.0], 1.0, [-0.3132616875182228, -1.3132616875182228]),
    # ^ mp_log_softmax([1000.0, 999.0])
    ([-0.5, 0.25, 3.0, 10.5], 1.0,
     [-11.000604960546251, -10.250604960546251, -7.5006049605462515, -0.0006049605462513467]),
    # ^ mp_log_softmax([-0.5, 0.25, 3.0, 10.5])
    ([5.0], 1.0, [0.0]),  # mp_log_softmax([5.0])
    ([0.1, 0.2, 0.3], 1.0, [-1.201942848229244, -1.1019428482292442, -1.001942848229244]),
    # ^ mp_log_softmax([0.1, 0.2, 0.3])
    ([1.0, 1.0 + 2**-52], 1.0, [-0.6931471805599454, -0.6931471805599452]),
    # ^ mp_log_softmax([1.0, 1.0 + 2**-52])
    ([1.0, 2.0, 3.0], 0.25, [-8.018479302594658, -4.018479302594658, -0.018479302594657483]),
    # ^ mp_log_softmax([1.0, 2.0, 3.0], 0.25)
    ([1.0, 2.0, 3.0], 3.0, [-1.4686451261342413, -1.135311792800908, -0.8019784594675746]),
    # ^ mp_log_softmax([1.0, 2.0, 3.0], 3.0)
    ([1e-300, 0.0], 1e-300, [-0.3132616875182228, -1.3132616875182228]),
    # ^ mp_log_softmax([1e-300, 0.0], 1e-300)
    ([1e308, 9e307], 0.1, [0.0, -9.999999999999996e+307]),  # mp_log_softmax([1e308, 9e307], 0.1)
]

# float32 rows: x32 = [float(np.float32(v)) for v in x]; the references are
# [float(np.float32(v)) for v in mp_softmax(x32)] and likewise for mp_log_softmax.
F32_REFERENCES = [
    ([0.0, -100.0, 88.5],
     [3.672301610145117e-39, 0.0, 1.0],  # a float32 subnormal probability
     [-88.5, -188.5, -3.672301610145117e-39]),
    ([1.0, 0.1, -50.0],
     [0.7109494805335999, 0.28905048966407776, 5.044523781907011e-23],
     [-0.3411538898944855, -1.2411538362503052, -51.34115219116211]),
    ([0.0, -103.0],
     [1.0, 1.401298464324817e-45],  # the smallest float32 subnormal
     [-1.401298464324817e-45, -103.0]),
]


def _f32(values):
    return [float(np.float32(v)) for v in values]


def test_references_regenerate():
    for x, t, expected in SOFTMAX_REFERENCES:
        assert [float(v) for v in mp_softmax(x, t)] == expected, (x, t)
    for x, t, expected in LOG_SOFTMAX_REFERENCES:
        assert [float(v) for v in mp_log_softmax(x, t)] == expected, (x, t)
    for x, p, logp in F32_REFERENCES:
        x32 = _f32(x)
        assert _f32(mp_softmax(x32)) == p, x
        assert _f32(mp_log_softmax(x32)) == logp, x


# Strategies shared by the property tests.
_rows = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                   elements=st.floats(-1e4, 1e4))
_dyadic = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                     elements=st.integers(-4000, 4000).map(lambda k: k / 8))
_temperatures = st.sampled_from([1.0, 0.5, 3.0, 0.1])


REFERENCE_CASES = (
    [(sx.softmax, x, t, p) for x, t, p in SOFTMAX_REFERENCES]
    + [(sx.log_softmax, x, t, logp) for x, t, logp in LOG_SOFTMAX_REFERENCES]
)
F32_CASES = ([(sx.softmax, x, p) for x, p, _ in F32_REFERENCES]
             + [(sx.log_softmax, x, logp) for x, _, logp in F32_REFERENCES])


class TestMpmathReferences:
    @pytest.mark.parametrize("f, x, t, expected", REFERENCE_CASES)
    def test_float64(self, f, x, t, expected):
        got = f(np.array(x), temperature=t)
        assert got.dtype == np.float64
        np.testing.assert_array_max_ulp(got, np.array(expected), maxulp=2)

    @pytest.mark.parametrize("f, x, expected", F32_CASES)
    def test_float32(self, f, x, expected):
        got = f(np.array(x, dtype=np.float32))
        assert got.dtype == np.float32
        np.testing.assert_array_max_ulp(got, np.array(expected, dtype=np.float32), maxulp=1)


class TestSoftmax:
    def test_first_seed_batch(self):
        # The 4x2 batch of the first seed; each row is sigmoid of the difference.
        x = np.array([[-0.3, -0.7], [0.3, 0.7], [1.1, -0.7], [-1.1, 0.7]])
        got = sx.softmax(x, axis=1)
        np.testing.assert_allclose(got[:, 0], sx.sigmoid(x[:, 0] - x[:, 1]), rtol=1e-15)
        np.testing.assert_allclose(got[:, 1], sx.sigmoid(x[:, 1] - x[:, 0]), rtol=1e-15)

    def test_axis_none_normalises_everything(self, rng):
        x = rng.normal(size=(2, 3, 4))
        got = sx.softmax(x, axis=None)
        np.testing.assert_allclose(got.sum(), 1.0, rtol=1e-15)
        np.testing.assert_allclose(got, np.exp(x) / np.exp(x).sum(), rtol=1e-14)

    def test_tuple_axis_equals_reshape(self, rng):
        x = rng.normal(size=(3, 2, 4))
        got = sx.softmax(x, axis=(2, 0))
        flat = np.moveaxis(x, 1, 0).reshape(2, 12)
        want = np.moveaxis(sx.softmax(flat).reshape(2, 3, 4), 0, 1)
        np.testing.assert_allclose(got, want, rtol=1e-15)
        np.testing.assert_allclose(got.sum(axis=(0, 2)), 1.0, rtol=1e-15)

    def test_axis_empty_tuple_gives_ones(self, rng):
        # Every entry is its own row of one element.
        x = rng.normal(size=(2, 3))
        np.testing.assert_array_equal(sx.softmax(x, axis=()), np.ones((2, 3)))

    def test_zero_dim_input_with_axis_none(self):
        assert sx.softmax(3.5, axis=None) == 1.0

    @settings(max_examples=40, deadline=None)
    @given(_rows, _temperatures)
    def test_rows_sum_to_one(self, x, t):
        total = sx.softmax(x, temperature=t).sum(axis=-1)
        n = x.shape[-1]
        np.testing.assert_allclose(total, 1.0, rtol=0, atol=4 * n * np.finfo(float).eps)

    def test_where_broadcasts(self, rng):
        x = rng.normal(size=(4, 3))
        mask = np.array([True, False, True])
        got = sx.softmax(x, where=mask)
        np.testing.assert_array_equal(got[:, 1], 0.0)
        np.testing.assert_allclose(got[:, [0, 2]], sx.softmax(x[:, [0, 2]]), rtol=1e-15)

    def test_two_classes_is_sigmoid_of_the_difference(self, rng):
        x = rng.normal(scale=20, size=(50, 2))
        np.testing.assert_allclose(sx.softmax(x)[:, 0], sx.sigmoid(x[:, 0] - x[:, 1]),
                                   rtol=1e-14, atol=1e-300)


class TestLogSoftmax:
    def test_equals_x_minus_logsumexp(self, rng):
        x = rng.normal(scale=5, size=(4, 6))
        want = x - sx.logsumexp(x, axis=-1, keepdims=True)
        np.testing.assert_allclose(sx.log_softmax(x), want, rtol=1e-14, atol=1e-14)

    def test_tuple_axis_and_none(self, rng):
        x = rng.normal(size=(3, 2, 4))
        got = sx.log_softmax(x, axis=(0, 2))
        np.testing.assert_allclose(got, x - sx.logsumexp(x, axis=(0, 2), keepdims=True),
                                   rtol=1e-14, atol=1e-14)
        got = sx.log_softmax(x, axis=None)
        np.testing.assert_allclose(got, x - sx.logsumexp(x, axis=None), rtol=1e-14, atol=1e-14)

    @settings(max_examples=40, deadline=None)
    @given(_rows, _temperatures)
    def test_exp_equals_softmax(self, x, t):
        logp = sx.log_softmax(x, temperature=t)
        p = sx.softmax(x, temperature=t)
        eps = np.finfo(float).eps
        # exp turns an absolute error eps|log p| into a relative one.
        tol = 4 * eps * (1 + np.abs(logp)) * p + 1e-320
        assert np.all(np.abs(np.exp(logp) - p) <= tol)

# (function, value of a masked entry, absolute tolerance of the comparisons)
@pytest.mark.parametrize("f, masked, atol", [(sx.softmax, 0.0, 1e-300),
                                             (sx.log_softmax, -np.inf, 1e-14)],
                         ids=["softmax", "log_softmax"])
class TestSharedProperties:
    """Properties that softmax and log_softmax share."""

    @settings(max_examples=40, deadline=None)
    @given(x=_dyadic, c=st.integers(-10**6, 10**6), t=_temperatures)
    def test_translation_invariance(self, f, masked, atol, x, c, t):
        # x + c is exact for dyadic x and integer c: the shifted rows are equal.
        np.testing.assert_array_equal(f(x + c, temperature=t), f(x, temperature=t))

    @settings(max_examples=30, deadline=None)
    @given(x=hnp.arrays(np.float64, (2, 3, 4), elements=st.floats(-1e4, 1e4)),
           k=st.integers(-3, 2))
    def test_axis_equals_moveaxis(self, f, masked, atol, x, k):
        want = np.moveaxis(f(np.moveaxis(x, k, -1)), -1, k)
        np.testing.assert_allclose(f(x, axis=k), want, rtol=1e-14, atol=atol)

    @settings(max_examples=40, deadline=None)
    @given(x=hnp.arrays(np.float64, (3, 5), elements=st.floats(-1e3, 1e3)),
           mask=hnp.arrays(np.bool_, (3, 5)), t=_temperatures)
    def test_where_equals_dropping_entries(self, f, masked, atol, x, mask, t):
        got = f(x, where=mask, temperature=t)
        for r in range(3):
            np.testing.assert_array_equal(got[r][~mask[r]], masked)
            np.testing.assert_allclose(got[r][mask[r]], f(x[r][mask[r]], temperature=t),
                                       rtol=1e-14, atol=atol)


class TestSoftmax2d:
    @settings(max_examples=20, deadline=None)
    @given(hnp.arrays(np.float64, st.sampled_from([(3, 2, 2), (2, 4, 1, 3)]),
                      elements=st.floats(-1e3, 1e3)))
    def test_equals_softmax_over_axis_minus_3(self, x):
        np.testing.assert_array_equal(sx.softmax2d(x), sx.softmax(x, axis=-3))

    def test_channels_sum_to_one(self, rng):
        x = rng.normal(size=(2, 5, 3, 3))
        got = sx.softmax2d(x)
        assert got.shape == x.shape and got.dtype == np.float64
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-15)

    def test_reference_pixel(self):
        # One pixel of a (C, H, W) = (4, 1, 1) input is the softmax reference row.
        x, _, expected = SOFTMAX_REFERENCES[4]
        got = sx.softmax2d(np.array(x).reshape(4, 1, 1))
        np.testing.assert_array_max_ulp(got.ravel(), np.array(expected), maxulp=2)

    def test_float32_kept(self, rng):
        x = rng.normal(size=(3, 2, 2)).astype(np.float32)
        assert sx.softmax2d(x).dtype == np.float32


def test_each_path_id_forces_its_path(request):
    # The conftest runs this module on both paths; a parametrization that only
    # renamed the tests (pytest 9 ignored a fixture name appended in
    # pytest_generate_tests) ran both ids on the default path for a while.
    from sigmax import _dispatch

    path = request.node.callspec.params["sigmax_path"]
    small = np.zeros((2, 3))
    assert _dispatch.use_kernel(small, "softmax") == (path == "kernel")
    assert _dispatch.use_kernel(small.astype(np.float32), "elementwise") == (path == "kernel")
