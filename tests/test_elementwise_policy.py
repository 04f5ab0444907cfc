"""SPEC section 4 (numerical policy) for sigmoid, log_sigmoid, softplus and logit.

One test class per rule; each covers the value and the three derivative
methods of the four functions.
"""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest

import sigmax as sx

INF, NAN = np.inf, np.nan
FUNCS = [sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.logit]
_ids = lambda f: f.name  # noqa: E731


def every_output(x, g=1.0):
    """{name: result} for the value, derivative, vjp and jvp of the four functions at x."""
    out = {}
    for f in FUNCS:
        out[f.name] = f(x)
        out[f.name + ".derivative"] = f.derivative(x)
        out[f.name + ".vjp"] = f.vjp(x, g)
        out[f.name + ".jvp"] = f.jvp(x, g)
    return out


# Inputs at every edge: infinities, NaN, the largest and smallest floats, the
# over/underflow thresholds of exp, and each dtype's extremes.
NASTY = [
    np.array([INF, -INF, NAN, 0.0, -0.0]),
    np.array([1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308]),
    np.array([5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, -1e-300]),
    np.array([709.78, 709.79, 710.0, -745.13, -745.14, -746.0, 36.7, 37.0, -37.0]),
    np.array([0.5, 0.25, 0.75, 1.0, 1.0 + 2**-52, -2**-52, 1 - 2**-53]),
    np.array([3.4028235e38, -3.4028235e38, 1e-45, 88.72, -103.97, INF, NAN], dtype=np.float32),
    np.array([65504.0, -65504.0, 6e-08, 11.09, -17.33, INF, NAN], dtype=np.float16),
    np.array([3.38e38, -3.38e38, 1e-40, 88.5, -104.0, INF], dtype=ml_dtypes.bfloat16),
    np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0, 1]),
    np.array([True, False]),
    np.zeros((2, 0)),
]


class TestNoWarnings:
    @pytest.mark.parametrize("x", NASTY, ids=range(len(NASTY)))
    def test_no_floating_point_warning_for_any_input(self, x):
        # errstate(all="raise"): stricter than NumPy's default, which ignores
        # underflow (the final cast of a tiny result to float32 underflows).
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            out = every_output(x)
            every_output(x, g=np.zeros(x.shape))
        assert len(out) == 16

    @pytest.mark.parametrize("x", NASTY, ids=range(len(NASTY)))
    def test_no_warning_under_numpys_default_error_state(self, x):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            every_output(x)
            every_output(x, g=np.zeros(x.shape))

    def test_no_warning_for_huge_or_zero_cotangents(self):
        x = np.array([0.0, 1.0, 0.5, 1e-300])
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            every_output(x, g=np.array([1e308, -1e308, 0.0, 5e-324]))


class TestNaNOnlyFromNaNOrOutsideTheDomain:
    REALS = np.concatenate([np.array([INF, -INF, 0.0, -0.0, 5e-324, 1e308, -1e308]),
                            np.linspace(-800, 800, 161)])

    def test_no_nan_for_any_real_input(self):
        x = self.REALS
        for name, v in every_output(x).items():
            if not name.startswith("logit"):
                assert not np.isnan(v).any(), name

    def test_logit_no_nan_inside_zero_one(self):
        p = np.array([0.0, -0.0, 5e-324, 1e-300, 0.25, 0.5, 0.75, 1 - 2**-53, 1.0])
        for name in ("logit", "logit.derivative", "logit.vjp", "logit.jvp"):
            assert not np.isnan(every_output(p)[name]).any(), name

    def test_logit_is_nan_outside_zero_one(self):
        p = np.array([-5e-324, -0.5, 1.0 + 2**-52, 2.0, INF, -INF])
        for name in ("logit", "logit.derivative", "logit.vjp", "logit.jvp"):
            assert np.isnan(every_output(p)[name]).all(), name

    def test_nan_input_gives_nan_everywhere(self):
        x = np.array([NAN, 0.5])
        for name, v in every_output(x).items():
            assert np.isnan(v[0]) and not np.isnan(v[1]), name

    def test_nan_cotangent_gives_nan_only_there(self):
        x = np.array([0.5, 0.25])
        for f in FUNCS:
            out = f.vjp(x, np.array([NAN, 1.0]))
            assert np.isnan(out[0]) and not np.isnan(out[1]), f.name


class TestExactLimits:
    def test_values_at_the_ends(self):
        assert (sx.sigmoid(INF), sx.sigmoid(-INF)) == (1.0, 0.0)
        assert (sx.log_sigmoid(INF), sx.log_sigmoid(-INF)) == (0.0, -INF)
        assert (sx.softplus(INF), sx.softplus(-INF)) == (INF, 0.0)
        assert (sx.logit(0.0), sx.logit(1.0), sx.logit(0.5)) == (-INF, INF, 0.0)
        assert sx.logit(-0.0) == -INF
        assert np.signbit(sx.sigmoid(-INF)) == np.signbit(sx.softplus(-INF)) == False  # noqa: E712

    def test_derivatives_at_the_ends(self):
        assert (sx.sigmoid.derivative(INF), sx.sigmoid.derivative(-INF)) == (0.0, 0.0)
        assert (sx.log_sigmoid.derivative(INF), sx.log_sigmoid.derivative(-INF)) == (0.0, 1.0)
        assert (sx.softplus.derivative(INF), sx.softplus.derivative(-INF)) == (1.0, 0.0)
        # logit' = 1 / (p (1 - p)) is +inf at both ends, -0.0 included.
        assert sx.logit.derivative(0.0) == sx.logit.derivative(1.0) == INF
        assert sx.logit.derivative(-0.0) == INF

    def test_zero_cotangent_where_the_derivative_is_infinite(self):
        p = np.array([0.0, 1.0, 0.5])
        np.testing.assert_array_equal(sx.logit.vjp(p, np.array([0.0, 0.0, 1.0])), [0, 0, 4])
        np.testing.assert_array_equal(sx.logit.jvp(p, np.array([0.0, 0.0, 2.0])), [0, 0, 8])
        np.testing.assert_array_equal(sx.logit.vjp(p, np.array([1.0, -1.0, 0.0])),
                                      [INF, -INF, 0])

    def test_saturation_is_exact(self):
        # Beyond the thresholds the results are the exact roundings (no flush to 0).
        assert sx.sigmoid(-745.0) == 5e-324 and sx.sigmoid(-746.0) == 0.0
        assert sx.softplus(-745.0) == 5e-324 and sx.softplus(1e308) == 1e308
        assert sx.log_sigmoid(745.0) == -5e-324 and sx.log_sigmoid(-1e308) == -1e308
        assert sx.sigmoid(np.float32(-103.5)) == np.float32(1.401298464324817e-45)


class TestDtypes:
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_float64_and_float32_are_kept(self, dtype, rng):
        x = rng.uniform(0.01, 0.99, 7).astype(dtype)
        for name, out in every_output(x, g=x).items():
            assert out.dtype == dtype, name

    @pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
    def test_small_floats_are_computed_wider_and_rounded_back(self, dtype):
        # Every finite value of the format: the result is the wide result rounded once.
        everything = np.arange(2**16, dtype=np.uint16).view(dtype)
        x = everything[np.isfinite(everything.astype(np.float32))]
        g = np.ones_like(x)
        wide = every_output(x.astype(np.float64), g.astype(np.float64))
        for name, out in every_output(x, g).items():
            assert out.dtype == dtype, name
            with np.errstate(over="ignore"):  # logit' near 0 and 1 is beyond 65504
                want = wide[name].astype(dtype)
            np.testing.assert_array_equal(out, want, err_msg=name)

    @pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.uint64,
                                       np.bool_])
    def test_integers_and_bools_become_float64(self, dtype):
        x = np.array([0, 1, 1, 0], dtype=dtype)
        for name, out in every_output(x, g=x).items():
            assert out.dtype == np.float64, name
        np.testing.assert_array_equal(sx.sigmoid(x), sx.sigmoid(x.astype(np.float64)))
        np.testing.assert_array_equal(sx.logit(x), [-INF, INF, INF, -INF])

    def test_python_ints_and_floats_become_float64(self):
        assert isinstance(sx.sigmoid(3), np.float64)
        assert isinstance(sx.softplus(True), np.float64)
        assert isinstance(sx.logit.derivative(0.25), np.float64)

    @pytest.mark.parametrize("f", FUNCS, ids=_ids)
    def test_complex_raises_type_error(self, f):
        z = np.ones(3, dtype=np.complex128)
        with pytest.raises(TypeError, match=rf"^{f.name}: {f.argname} must be a real .*complex128"):
            f(z)
        with pytest.raises(TypeError, match=rf"^{f.name}\.derivative: .*complex128"):
            f.derivative(z)
        with pytest.raises(TypeError, match=rf"^{f.name}\.vjp: g must be a real .*complex128"):
            f.vjp(z.real, z)
        with pytest.raises(TypeError, match=rf"^{f.name}\.jvp: {f.argname} must be a real "):
            f.jvp(1j, 1.0)


class TestInputsNotModified:
    def test_read_only_inputs(self, rng):
        x = rng.uniform(0.01, 0.99, (3, 4))
        g = rng.normal(size=(3, 4))
        for a in (x, g):
            a.setflags(write=False)
        keep = x.copy(), g.copy()
        every_output(x, g)
        np.testing.assert_array_equal(x, keep[0])
        np.testing.assert_array_equal(g, keep[1])

    def test_writable_inputs_with_special_values_are_unchanged(self):
        x = np.array([INF, -INF, NAN, -0.0, 5e-324, 1e308, 0.5, 2.0])
        g = np.array([0.0, -0.0, NAN, INF, 1.0, -1.0, 5e-324, 3.0])
        kx, kg = x.copy(), g.copy()
        every_output(x, g)
        np.testing.assert_array_equal(x, kx)
        np.testing.assert_array_equal(g, kg)
        assert np.signbit(x[3]) and np.signbit(g[1])

    def test_results_do_not_share_memory_with_the_input(self):
        x = np.array([0.5, 0.25])
        for name, out in every_output(x).items():
            assert not np.shares_memory(out, x), name


class TestShapes:
    @pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 2, 2)])
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_empty_arrays(self, shape, dtype):
        x = np.zeros(shape, dtype=dtype)
        for name, out in every_output(x, g=x).items():
            assert out.shape == shape and out.dtype == dtype, name

    def test_zero_dim_inputs_give_numpy_scalars(self):
        for x, t in [(0.5, np.float64), (np.float64(0.5), np.float64),
                     (np.float32(0.5), np.float32), (np.array(0.5), np.float64),
                     (np.float16(0.5), np.float16), (1, np.float64)]:
            for name, out in every_output(x).items():
                assert type(out) is t, (x, name)

    def test_lists_are_accepted(self):
        for name, out in every_output([0.25, 0.5, 1]).items():
            assert out.shape == (3,) and out.dtype == np.float64, name
        np.testing.assert_array_equal(sx.sigmoid([[0.0, 1.0], [2.0, 3.0]]),
                                      sx.sigmoid(np.array([[0.0, 1.0], [2.0, 3.0]])))
        np.testing.assert_array_equal(sx.logit.vjp([0.5, 0.25], [1, 2]),
                                      sx.logit.vjp(np.array([0.5, 0.25]), np.array([1.0, 2.0])))

    def test_shape_and_order_are_kept(self, rng):
        x = np.asfortranarray(rng.uniform(0.1, 0.9, (3, 4, 2)))[:, ::2]
        for name, out in every_output(x, g=x).items():
            assert out.shape == x.shape, name
        np.testing.assert_array_equal(sx.sigmoid(x), sx.sigmoid(np.ascontiguousarray(x)))
