"""SPEC section 4 (numerical policy) for softmax, log_softmax, logsumexp and softmax2d.

One test class per rule; each test covers the values and the derivative methods.
"""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest

import sigmax as sx

INF, NAN = np.inf, np.nan
ACTIVATIONS = [sx.softmax, sx.log_softmax]
_ids = lambda f: f.name  # noqa: E731


def every_output(x, where=None, temperature=1.0, g=None, b=None):
    """Every value and derivative of the four functions at ``x`` (last axis)."""
    x = np.asarray(x)
    g = np.ones(x.shape) if g is None else g
    out = {}
    for f in ACTIVATIONS:
        kw = dict(where=where, temperature=temperature)
        out[f.name] = f(x, **kw)
        out[f.name + ".vjp"] = f.vjp(x, g, **kw)
        out[f.name + ".jvp"] = f.jvp(x, g, **kw)
        out[f.name + ".jacobian"] = f.jacobian(x, **kw)
    kw = dict(where=where, b=b)
    out["logsumexp"] = sx.logsumexp(x, **kw)
    out["logsumexp.sign"] = sx.logsumexp(x, return_sign=True, **kw)[1]
    out["logsumexp.vjp"] = sx.logsumexp.vjp(x, np.ones(x.shape[:-1]), **kw)
    out["logsumexp.jvp"] = sx.logsumexp.jvp(x, g, **kw)
    if x.ndim in (3, 4) and where is None and temperature == 1.0:
        out["softmax2d"] = sx.softmax2d(np.swapaxes(x, -1, -3))
        out["softmax2d.vjp"] = sx.softmax2d.vjp(np.swapaxes(x, -1, -3), np.swapaxes(g, -1, -3))
    return out


# Inputs that stress every branch: overflow, underflow, inf, NaN, masks, dtypes.
NASTY = [
    (np.array([1e308, -1e308, 0.0]), {}),
    (np.array([INF, -INF, NAN, 0.0]), {}),
    (np.array([[INF, INF], [-INF, -INF]]), {}),
    (np.array([[INF, 1.0], [NAN, -INF]]), dict(temperature=1e-300)),
    (np.array([5e-324, -5e-324, 0.0]), dict(temperature=1e300)),
    (np.array([[1.0, 2.0], [3.0, NAN]]), dict(where=np.array([[False, False], [True, False]]))),
    (np.array([3e38, -3e38, 0.0], dtype=np.float32), dict(temperature=1e-30)),
    (np.array([65504.0, -65504.0, INF], dtype=np.float16), {}),
    (np.array([3e38, -3e38, 1.0], dtype=ml_dtypes.bfloat16), dict(temperature=1e-5)),
    (np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min]), {}),
    (np.array([True, False, False]), {}),
    (np.zeros((3, 0)), {}),
    (np.array([[700.0, 710.0], [-750.0, -740.0]]), dict(b=np.array([-1.0, 1.0]))),
    (np.array([INF, 1.0, INF]), dict(b=np.array([1.0, 2.0, -1.0]))),
    (np.array([1.0, 1.0]), dict(b=np.array([1.0, -1.0]))),
    (np.array([1.0, 2.0, 3.0]), dict(g=np.array([INF, NAN, -INF]))),
    (np.arange(24.0).reshape(2, 3, 4) * 300 - 3000, {}),
]


class TestNoWarnings:
    @pytest.mark.parametrize("x, kw", NASTY, ids=range(len(NASTY)))
    def test_no_floating_point_warning_for_any_input(self, x, kw):
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            out = every_output(x, **kw)
        assert out  # the call returned for every function and method


class TestMaxShiftLog1p:
    def test_large_logits_do_not_overflow(self):
        x = np.array([1000.0, 1000.0, 999.0])
        np.testing.assert_allclose(sx.softmax(x), sx.softmax(x - 1000.0), rtol=1e-15)
        np.testing.assert_allclose(sx.logsumexp(x), 1000.0 + np.log(2 + np.exp(-1.0)),
                                   rtol=1e-15)

    def test_log1p_keeps_the_sum_excluding_the_maximum(self):
        # log(1 + e^-40) rounds to 0; log1p(e^-40) is 4.248354255291589e-18
        # (float(mpmath.log1p(mpmath.exp(-40))) at mp.dps = 50).
        assert sx.logsumexp([0.0, -40.0]) == 4.248354255291589e-18
        assert sx.log_softmax([0.0, -40.0])[0] == -4.248354255291589e-18


class TestMinusInfIsMasked:
    @pytest.mark.parametrize("f", ACTIVATIONS + [sx.logsumexp], ids=_ids)
    def test_minus_inf_equals_masking(self, f):
        x = np.array([[-INF, 1.0, 2.5], [0.5, -INF, -INF]])
        mask = x > -INF
        finite = np.where(mask, x, 0.0)
        np.testing.assert_array_equal(f(x), f(finite, where=mask))
        g = np.array([[1.0, 2.0, -1.0], [3.0, 0.5, 1.0]])
        gl = g if f is not sx.logsumexp else g[:, 0]
        np.testing.assert_array_equal(f.vjp(x, gl), f.vjp(finite, gl, where=mask))
        np.testing.assert_array_equal(f.jvp(x, g), f.jvp(finite, g, where=mask))

    def test_values_and_gradients_at_minus_inf(self):
        x = np.array([-INF, 1.0, 2.5])
        assert sx.softmax(x)[0] == 0.0
        assert sx.log_softmax(x)[0] == -INF
        np.testing.assert_allclose(sx.softmax(x)[1:], sx.softmax(x[1:]), rtol=1e-15)
        assert sx.logsumexp(x) == sx.logsumexp(x[1:])
        g = np.array([5.0, 1.0, 2.0])
        for f in ACTIVATIONS:
            assert f.vjp(x, g)[0] == 0.0 and f.jvp(x, g)[0] == 0.0
            J = f.jacobian(x)
            assert not J[0].any() and not J[:, 0].any()
        assert sx.logsumexp.vjp(x, 1.0)[0] == 0.0


class TestEmptyRows:
    """All -inf or all masked: softmax 0, log_softmax -inf, logsumexp -inf, gradients 0."""

    CASES = {
        "all-minus-inf": (np.array([[-INF, -INF, -INF], [1.0, 2.0, 3.0]]), None),
        "all-masked": (np.array([[NAN, INF, 1.0], [1.0, 2.0, 3.0]]),
                       np.array([[False, False, False], [True, True, True]])),
        "masked-and-minus-inf": (np.array([[-INF, 7.0, -INF], [1.0, 2.0, 3.0]]),
                                 np.array([[True, False, True], [True, True, True]])),
    }

    @pytest.mark.parametrize("case", list(CASES))
    def test_values_and_derivatives_of_an_empty_row(self, case):
        x, mask = self.CASES[case]
        g = np.array([[1.0, -2.0, 3.0], [1.0, 1.0, 1.0]])
        out = every_output(x, where=mask, g=g)
        np.testing.assert_array_equal(out["softmax"][0], 0.0)
        np.testing.assert_array_equal(out["log_softmax"][0], -INF)
        assert out["logsumexp"][0] == -INF and out["logsumexp.sign"][0] == 0.0
        for name in ("softmax.vjp", "softmax.jvp", "softmax.jacobian", "log_softmax.vjp",
                     "log_softmax.jvp", "log_softmax.jacobian", "logsumexp.vjp"):
            np.testing.assert_array_equal(out[name][0], 0.0, err_msg=name)
        assert out["logsumexp.jvp"][0] == 0.0
        # The other row is untouched.
        np.testing.assert_allclose(out["softmax"][1], sx.softmax([1.0, 2.0, 3.0]), rtol=1e-15)
        assert not any(np.isnan(v).any() for v in out.values())

    def test_softmax2d_pixel_of_minus_inf(self):
        x = np.zeros((3, 2, 2))
        x[:, 0, 1] = -INF
        g = np.ones_like(x)
        np.testing.assert_array_equal(sx.softmax2d(x)[:, 0, 1], 0.0)
        np.testing.assert_array_equal(sx.softmax2d.vjp(x, g)[:, 0, 1], 0.0)
        np.testing.assert_array_equal(sx.softmax2d.jacobian(x)[:, 0, 1], 0.0)
        np.testing.assert_allclose(sx.softmax2d(x)[:, 1, 1], 1 / 3, rtol=1e-15)

    def test_all_zero_weights(self):
        lse, sign = sx.logsumexp([1.0, 2.0], b=[0.0, 0.0], return_sign=True)
        assert (lse, sign) == (-INF, 0.0)
        np.testing.assert_array_equal(sx.logsumexp.vjp([1.0, 2.0], 1.0, b=[0.0, 0.0]), 0.0)


class TestPlusInf:
    def test_plus_inf_entries_share_the_probability(self):
        x = np.array([[INF, 1.0, INF, -INF], [INF, 2.0, 3.0, 4.0]])
        np.testing.assert_array_equal(sx.softmax(x), [[0.5, 0, 0.5, 0], [1, 0, 0, 0]])
        np.testing.assert_array_equal(sx.softmax(x, temperature=0.25), sx.softmax(x))
        np.testing.assert_allclose(sx.log_softmax(x), [[-np.log(2), -INF, -np.log(2), -INF],
                                                       [0.0, -INF, -INF, -INF]], rtol=1e-15)
        np.testing.assert_array_equal(sx.logsumexp(x), [INF, INF])
        np.testing.assert_array_equal(sx.softmax([INF, INF, INF]), [1 / 3] * 3)

    def test_plus_inf_rows_have_zero_gradients(self):
        x = np.array([[INF, 1.0, INF], [INF, 2.0, 3.0]])
        g = np.array([[1.0, 2.0, 3.0], [-1.0, 4.0, 0.5]])
        out = every_output(x, g=g)
        for name in ("softmax.vjp", "softmax.jvp", "softmax.jacobian", "log_softmax.vjp",
                     "log_softmax.jvp", "log_softmax.jacobian", "logsumexp.vjp",
                     "logsumexp.jvp"):
            np.testing.assert_array_equal(out[name], 0.0, err_msg=name)

    def test_masked_plus_inf_takes_no_part(self):
        x = np.array([INF, 1.0, 2.0])
        mask = np.array([False, True, True])
        np.testing.assert_allclose(sx.softmax(x, where=mask), [0.0, *sx.softmax([1.0, 2.0])],
                                   rtol=1e-15)


class TestNaN:
    def test_nan_propagates_only_within_its_row(self):
        x = np.array([[NAN, 1.0, 2.0], [INF, NAN, 0.0], [-INF, NAN, -INF], [1.0, 2.0, 3.0]])
        out = every_output(x)
        for name, v in out.items():
            if name == "logsumexp.jvp" or name == "logsumexp" or name == "logsumexp.sign":
                assert np.isnan(v[:3]).all() and not np.isnan(v[3]), name
            else:
                assert np.isnan(v[:3]).all(), name
                assert not np.isnan(v[3]).any(), name
        np.testing.assert_allclose(out["softmax"][3], sx.softmax([1.0, 2.0, 3.0]), rtol=1e-15)

    def test_masked_nan_does_not_propagate(self):
        x = np.array([[NAN, 1.0, 2.0], [3.0, NAN, 0.0]])
        mask = ~np.isnan(x)
        g = np.where(mask, 1.5, NAN)  # NaN cotangents at masked entries are ignored too
        out = every_output(x, where=mask, g=g)
        for name, v in out.items():
            assert not np.isnan(v).any(), name
        np.testing.assert_allclose(out["softmax"][0, 1:], sx.softmax([1.0, 2.0]), rtol=1e-15)
        assert sx.logsumexp(x, b=mask.astype(float))[0] == sx.logsumexp([1.0, 2.0])


class TestSubnormals:
    def test_subnormal_probabilities_are_kept(self):
        # mpmath: float(mp.exp(-745) / (1 + mp.exp(-745))) == 5e-324 (mp.dps = 50).
        assert sx.softmax([0.0, -745.0])[1] == 5e-324
        # float(mp.exp(-740) / (1 + 2 * mp.exp(-740))) == 4.2e-322
        assert sx.softmax([-740.0, 0.0, -740.0])[0] == 4.2e-322
        # float32: float(np.float32(mp.exp(-103) / (1 + mp.exp(-103)))) == 1.401298464324817e-45
        p32 = sx.softmax(np.array([0.0, -103.0], dtype=np.float32))
        assert p32[1] == np.float32(1.401298464324817e-45)
        # -log1p(e^-745) rounds to -5e-324, not -0.
        assert sx.log_softmax([0.0, -745.0])[0] == -5e-324
        assert sx.logsumexp([0.0, -740.0]) == 4.2e-322

    def test_subnormal_inputs(self):
        x = np.array([5e-324, 0.0, -5e-324])
        np.testing.assert_array_equal(sx.softmax(x), [1 / 3] * 3)
        # The exps round to 1, so the result is log(3) = 1.0986122886681096914
        # (mpmath), correctly rounded 1.0986122886681098; the kernels' log1p
        # gives the float below it (0.59 ULP), within logsumexp's bound.
        assert abs(sx.logsumexp(x) - 1.0986122886681096914) <= np.spacing(np.log(3.0))


def _all_methods(x, g):
    """(name, result) for every function/method whose result has x's dtype rules."""
    yield "softmax", sx.softmax(x)
    yield "softmax.vjp", sx.softmax.vjp(x, g)
    yield "softmax.jvp", sx.softmax.jvp(x, g)
    yield "softmax.jacobian", sx.softmax.jacobian(x)
    yield "log_softmax", sx.log_softmax(x)
    yield "log_softmax.vjp", sx.log_softmax.vjp(x, g)
    yield "log_softmax.jvp", sx.log_softmax.jvp(x, g)
    yield "log_softmax.jacobian", sx.log_softmax.jacobian(x)
    yield "logsumexp", sx.logsumexp(x)
    yield "logsumexp.sign", sx.logsumexp(x, return_sign=True)[1]
    yield "logsumexp.vjp", sx.logsumexp.vjp(x, g[..., 0])
    yield "logsumexp.jvp", sx.logsumexp.jvp(x, g)
    yield "softmax2d", sx.softmax2d(x.reshape(2, 3, 2))
    yield "softmax2d.vjp", sx.softmax2d.vjp(x.reshape(2, 3, 2), g.reshape(2, 3, 2))


class TestDtypes:
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_float64_and_float32_are_kept(self, dtype, rng):
        x = rng.normal(size=(3, 4)).astype(dtype)
        g = rng.normal(size=(3, 4)).astype(dtype)
        for name, out in _all_methods(x, g):
            assert out.dtype == dtype, name

    @pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
    def test_small_floats_are_computed_wider_and_rounded_back(self, dtype, rng):
        x = (rng.normal(size=(3, 4)) * 4).astype(dtype)
        g = rng.normal(size=(3, 4)).astype(dtype)
        wide = dict(_all_methods(x.astype(np.float64), g.astype(np.float64)))
        for name, out in _all_methods(x, g):
            assert out.dtype == dtype, name
            np.testing.assert_array_equal(out, wide[name].astype(dtype), err_msg=name)

    @pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, np.bool_])
    def test_integers_and_bools_become_float64(self, dtype):
        x = np.array([[1, 0, 1], [0, 1, 1]], dtype=dtype)
        assert sx.softmax(x).dtype == np.float64
        np.testing.assert_array_equal(sx.softmax(x), sx.softmax(x.astype(np.float64)))
        assert sx.logsumexp(x).dtype == np.float64
        assert sx.log_softmax.vjp(x, x).dtype == np.float64
        assert sx.softmax.jacobian(x).dtype == np.float64

    def test_python_lists_and_scalars(self):
        assert sx.softmax([1, 2]).dtype == np.float64
        assert isinstance(sx.logsumexp([1, 2]), np.float64)
        assert isinstance(sx.logsumexp(3.0, axis=None), np.float64)

    @pytest.mark.parametrize("f", [sx.softmax, sx.log_softmax, sx.logsumexp, sx.softmax2d],
                             ids=_ids)
    def test_complex_raises_type_error(self, f):
        z = np.ones((2, 2, 2), dtype=complex)
        with pytest.raises(TypeError, match=rf"^{f.name}: x must be a real .*complex128"):
            f(z)
        with pytest.raises(TypeError, match=rf"^{f.name}\.vjp: g must be a real .*complex128"):
            f.vjp(z.real, z if f is not sx.logsumexp else z[..., 0])


class TestFloat32AccumulatesInFloat64:
    def test_row_of_two_to_the_twenty_equal_entries(self):
        x = np.full(2**20, 3.25, dtype=np.float32)
        p = sx.softmax(x)
        assert p.dtype == np.float32
        assert np.all(p == np.float32(2.0**-20))
        assert sx.log_softmax(x)[0] == np.float32(-20 * np.log(2.0))
        assert sx.logsumexp(x) == np.float32(3.25 + 20 * np.log(2.0))

    def test_float32_rounds_once_from_the_float64_result(self):
        # Float32 accumulation of these rows differs in ~3/4 of the elements.
        x = (np.random.default_rng(5).normal(size=(4, 4096)) * 3).astype(np.float32)
        wide = x.astype(np.float64)
        np.testing.assert_array_equal(sx.softmax(x), sx.softmax(wide).astype(np.float32))
        np.testing.assert_array_equal(sx.log_softmax(x), sx.log_softmax(wide).astype(np.float32))
        np.testing.assert_array_equal(sx.logsumexp(x), sx.logsumexp(wide).astype(np.float32))


class TestInputsNotModified:
    def test_read_only_inputs_are_left_as_they_were(self, rng):
        def frozen(a):
            a = np.array(a)
            a.setflags(write=False)
            return a

        x = frozen(rng.normal(size=(2, 3, 4)))
        g = frozen(rng.normal(size=(2, 3, 4)))
        mask = frozen(rng.random((2, 3, 4)) < 0.7)
        b = frozen(rng.uniform(-1, 2, size=(2, 3, 4)))
        copies = [a.copy() for a in (x, g, mask, b)]
        for f in ACTIVATIONS:
            kw = dict(axis=(0, 2), where=mask, temperature=0.7)
            f(x, **kw), f.vjp(x, g, **kw), f.jvp(x, g, **kw), f.jacobian(x, **kw)
        kw = dict(axis=(0, 2), where=mask, b=b, return_sign=True)
        sx.logsumexp(x, **kw), sx.logsumexp.vjp(x, g[0, :, 0], **kw)
        sx.logsumexp.jvp(x, g, **kw)
        sx.softmax2d(x), sx.softmax2d.vjp(x, g), sx.softmax2d.jvp(x, g), sx.softmax2d.jacobian(x)
        for a, c in zip((x, g, mask, b), copies):
            np.testing.assert_array_equal(a, c)

    def test_writable_inputs_with_special_values_are_unchanged(self):
        x = np.array([[INF, NAN, -INF, 1.0], [1e308, -1e308, 0.0, 5e-324]])
        keep = x.copy()
        every_output(x)
        np.testing.assert_array_equal(x, keep)


class TestEmptyAxes:
    def test_logsumexp_of_nothing_is_minus_inf(self):
        assert sx.logsumexp(np.zeros(0)) == -INF
        assert isinstance(sx.logsumexp(np.zeros(0)), np.float64)
        np.testing.assert_array_equal(sx.logsumexp(np.zeros((3, 0))), [-INF] * 3)
        assert sx.logsumexp(np.zeros((3, 0)), keepdims=True).shape == (3, 1)
        assert sx.logsumexp(np.zeros(0), return_sign=True) == (-INF, 0.0)
        assert sx.logsumexp(np.zeros((0, 3)), axis=-1).shape == (0,)
        assert sx.logsumexp(np.zeros((0, 3)), axis=0).tolist() == [-INF] * 3
        assert sx.logsumexp.vjp(np.zeros((3, 0)), np.ones(3)).shape == (3, 0)
        np.testing.assert_array_equal(sx.logsumexp.jvp(np.zeros((3, 0)), np.zeros((3, 0))), 0.0)

    @pytest.mark.parametrize("f", ACTIVATIONS, ids=_ids)
    def test_activation_of_an_empty_row_is_empty(self, f):
        x = np.zeros((3, 0), dtype=np.float32)
        assert f(x).shape == (3, 0) and f(x).dtype == np.float32
        assert f(np.zeros(0)).shape == (0,)
        assert f.vjp(x, x).shape == (3, 0)
        assert f.jvp(x, x).shape == (3, 0)
        assert f.jacobian(x).shape == (3, 0, 0)
        assert f(np.zeros((0, 4)), axis=-1).shape == (0, 4)
        assert f.jacobian(np.zeros((0, 4))).shape == (0, 4, 4)


class TestNegativeWeightedSum:
    def test_negative_sum_is_nan_without_return_sign(self):
        x, b = np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([1.0, -1.0])
        got = sx.logsumexp(x, b=b)
        assert np.isnan(got[0])
        np.testing.assert_allclose(got[1], np.log(np.e**2 - np.e), rtol=1e-15)
        # The derivatives of a NaN value are NaN in that row only.
        vjp = sx.logsumexp.vjp(x, np.ones(2), b=b)
        assert np.isnan(vjp[0]).all() and not np.isnan(vjp[1]).any()
        jvp = sx.logsumexp.jvp(x, np.ones((2, 2)), b=b)
        assert np.isnan(jvp[0]) and not np.isnan(jvp[1])

    def test_return_sign_gives_the_sign(self):
        x, b = np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([1.0, -1.0])
        lse, sign = sx.logsumexp(x, b=b, return_sign=True)
        np.testing.assert_array_equal(sign, [-1.0, 1.0])
        np.testing.assert_allclose(lse, [np.log(np.e**2 - np.e)] * 2, rtol=1e-15)
        # d log|S| / dx = b e^x / S for either sign.
        vjp = sx.logsumexp.vjp(x, np.ones(2), b=b, return_sign=True)
        S = (b * np.exp(x)).sum(-1, keepdims=True)
        np.testing.assert_allclose(vjp, b * np.exp(x) / S, rtol=1e-14)

    def test_minus_inf_weighted_by_plus_inf(self):
        # S = -inf: log|S| = inf with sign -1; NaN without return_sign.
        lse, sign = sx.logsumexp([INF, 1.0], b=[-1.0, 1.0], return_sign=True)
        assert (lse, sign) == (INF, -1.0)
        assert np.isnan(sx.logsumexp([INF, 1.0], b=[-1.0, 1.0]))
