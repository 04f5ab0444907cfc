"""The array-API path on every library: values, derivatives and SPEC section 4.

Each test runs on PyTorch, JAX (x64), Dask (two chunks along every axis),
array-api-strict and the generic path on NumPy (``lib`` fixture of
``test_generic_libs``); the result must be the library's own array type and
equal the NumPy path, which carries the mpmath references of its own tests.
A few mpmath literals are checked here directly as well.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_generic_libs import BF16, LIBS, back_all, lib  # noqa: F401 (lib is a fixture)

import sigmax as sx
from sigmax._policy import ArgumentError

INF, NAN = np.inf, np.nan
ELEMENTWISE = [sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.logit]
ACTIVATIONS = [sx.softmax, sx.log_softmax]
_ids = lambda f: f.name  # noqa: E731

# Rows that stress every branch: overflow, -inf masked, all -inf, +inf shares, NaN.
NASTY = np.array([
    [1.0, 2.0, -INF, 3.0],
    [-INF, -INF, -INF, -INF],
    [INF, 0.0, INF, 1.0],
    [1e308, -1e308, 0.0, 5e-324],
    [NAN, 1.0, 2.0, 3.0],
    [-750.0, -745.0, -740.0, -1000.0],
])
G = np.arange(24.0).reshape(6, 4) - 7.0


def _eq(got, want, rtol=1e-14):
    """Equal up to a few ulp (XLA's exp/log1p are not NumPy's), NaN where NaN."""
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                               np.asarray(want, dtype=np.float64), rtol=rtol, atol=1e-300)


def run(lib, f, method, *arrays, **kwargs):
    """``f.method`` on the library's arrays, read back as NumPy."""
    args = [lib.to(a) if isinstance(a, np.ndarray) else a for a in arrays]
    kwargs = {k: lib.to(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    return back_all(lib, lib.apply(f, method, *args, **kwargs))


class TestSameAsNumpy:
    """Every function and method equals the NumPy path, special rows included."""

    @pytest.mark.parametrize("f", ELEMENTWISE, ids=_ids)
    def test_elementwise(self, lib, f):
        x = NASTY if f is not sx.logit else np.array([[0.0, 1e-300, 0.25, 0.5],
                                                      [0.75, 1.0, 1.5, NAN]])
        g = np.ones(x.shape) if f is not sx.logit else np.array([[1.0, 0.0, 2.0, 1.0]] * 2)
        _eq(run(lib, f, "__call__", x), f(x))
        _eq(run(lib, f, "derivative", x), f.derivative(x))
        _eq(run(lib, f, "vjp", x, g), f.vjp(x, g))
        _eq(run(lib, f, "jvp", x, g), f.jvp(x, g))

    @pytest.mark.parametrize("f", ACTIVATIONS, ids=_ids)
    @pytest.mark.parametrize("kw", [{}, dict(temperature=0.5), dict(temperature=1e300),
                                    dict(where=NASTY > 0)], ids=["plain", "T", "T-big", "where"])
    def test_softmax_family(self, lib, f, kw):
        _eq(run(lib, f, "__call__", NASTY, **kw), f(NASTY, **kw))
        _eq(run(lib, f, "vjp", NASTY, G, **kw), f.vjp(NASTY, G, **kw))
        _eq(run(lib, f, "jvp", NASTY, G, **kw), f.jvp(NASTY, G, **kw))
        _eq(run(lib, f, "jacobian", NASTY, **kw), f.jacobian(NASTY, **kw))

    @pytest.mark.parametrize("axis", [0, 1, (0, 2), None], ids=["0", "1", "tuple", "None"])
    def test_axes(self, lib, axis, rng):
        x = rng.normal(scale=30.0, size=(3, 4, 5))
        for f in ACTIVATIONS:
            _eq(run(lib, f, "__call__", x, axis=axis), f(x, axis=axis))
            # g - p sum(g) cancels: its error is relative to sum|g| ~ 1e3.
            np.testing.assert_allclose(run(lib, f, "vjp", x, x, axis=axis),
                                       f.vjp(x, x, axis=axis), rtol=1e-14, atol=1e-12)
        _eq(run(lib, sx.logsumexp, "__call__", x, axis=axis, keepdims=True),
            sx.logsumexp(x, axis=axis, keepdims=True))

    @pytest.mark.parametrize("kw", [{}, dict(where=NASTY > 0), dict(keepdims=True)],
                             ids=["plain", "where", "keepdims"])
    def test_logsumexp(self, lib, kw):
        f = sx.logsumexp
        g = G[:, :1] if kw.get("keepdims") else G[:, 0]
        _eq(run(lib, f, "__call__", NASTY, **kw), f(NASTY, **kw))
        _eq(run(lib, f, "__call__", NASTY, return_sign=True, **kw),
            f(NASTY, return_sign=True, **kw))
        _eq(run(lib, f, "vjp", NASTY, g, **kw), f.vjp(NASTY, g, **kw))
        _eq(run(lib, f, "jvp", NASTY, G, **kw), f.jvp(NASTY, G, **kw))

    def test_logsumexp_signed_b(self, lib):
        x = np.array([[700.0, 710.0, 1.0], [1.0, 1.0, 3.0], [INF, 1.0, INF], [2.0, 1.0, -INF]])
        b = np.array([[-1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 2.0, -1.0], [-1.0, 1.0, 1.0]])
        f = sx.logsumexp
        _eq(run(lib, f, "__call__", x, b=b, return_sign=True), f(x, b=b, return_sign=True))
        _eq(run(lib, f, "__call__", x, b=b), f(x, b=b))
        _eq(run(lib, f, "vjp", x, np.ones(4), b=b), f.vjp(x, np.ones(4), b=b))
        _eq(run(lib, f, "jvp", x, x, b=b, return_sign=True), f.jvp(x, x, b=b, return_sign=True))

    def test_softmax2d(self, lib, rng):
        x = rng.normal(size=(2, 3, 2, 2))
        _eq(run(lib, sx.softmax2d, "__call__", x), sx.softmax2d(x))
        _eq(run(lib, sx.softmax2d, "vjp", x, x), sx.softmax2d.vjp(x, x))

    @settings(max_examples=25, deadline=None)
    @given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                        elements=st.floats(allow_nan=True, allow_infinity=True)))
    def test_property_any_input_matches(self, x):
        # One library per example keeps this quick; array-api-strict catches
        # any non-standard call, the NumPy-generic path any warning.
        for lib in LIBS[3:]:
            if lib.available():
                for f in ACTIVATIONS + [sx.logsumexp] + ELEMENTWISE:
                    _eq(run(lib, f, "__call__", x), f(x))


class TestMpmathReferences:
    # float(mpmath.log1p(mpmath.exp(-40))) with mp.dps = 50: 4.248354255291589e-18,
    # which is also sigmoid(-40) and -log_sigmoid(40) to double precision.
    def test_log1p_of_the_sum_excluding_the_maximum(self, lib):
        x = np.array([0.0, -40.0])
        assert run(lib, sx.logsumexp, "__call__", x) == 4.248354255291589e-18
        assert run(lib, sx.log_softmax, "__call__", x)[0] == -4.248354255291589e-18

    def test_elementwise_tails(self, lib):
        x = np.array([-40.0, 40.0])
        assert run(lib, sx.sigmoid, "__call__", x)[0] == 4.248354255291589e-18
        assert run(lib, sx.sigmoid, "derivative", x)[1] == 4.248354255291589e-18
        assert run(lib, sx.log_sigmoid, "__call__", x)[1] == -4.248354255291589e-18
        # mpmath.log(1 + mpmath.exp(1000)) == 1000 to double precision.
        assert run(lib, sx.softplus, "__call__", np.array([1000.0]))[0] == 1000.0

    def test_logit_round_trip(self, lib):
        # logit(sigmoid(-300)): sigmoid(-300) = 5.14820022507e-131 is exact enough
        # that mpmath.log(p / (1 - p)) gives -300.0 at mp.dps = 50.
        p = sx.sigmoid(np.array([-300.0, 0.5, 5.0]))
        _eq(run(lib, sx.logit, "__call__", p), [-300.0, 0.5, 5.0], rtol=1e-15)


class TestPolicy:
    """SPEC section 4, rule by rule, on each library."""

    def test_empty_and_masked_rows(self, lib):
        x = np.array([[-INF, -INF], [1.0, 2.0]])
        assert not run(lib, sx.softmax, "__call__", x)[0].any()
        assert (run(lib, sx.log_softmax, "__call__", x)[0] == -INF).all()
        assert run(lib, sx.logsumexp, "__call__", x)[0] == -INF
        for f in ACTIVATIONS:
            grad = run(lib, f, "vjp", x, np.ones(x.shape))
            assert not grad[0].any() and not np.isnan(grad).any()
        mask = np.array([[False, False], [True, True]])
        y = run(lib, sx.softmax, "__call__", np.array([[NAN, INF], [1.0, 2.0]]), where=mask)
        assert not y[0].any()

    def test_plus_inf_shares(self, lib):
        y = run(lib, sx.softmax, "__call__", np.array([INF, 1.0, INF, -INF]))
        np.testing.assert_array_equal(y, [0.5, 0.0, 0.5, 0.0])

    def test_empty_axis(self, lib):
        if lib.name == "dask":
            pytest.skip("dask cannot chunk an empty axis into two")
        assert run(lib, sx.logsumexp, "__call__", np.zeros((2, 0)))[0] == -INF
        assert run(lib, sx.softmax, "__call__", np.zeros((2, 0))).shape == (2, 0)

    def test_dtypes(self, lib):
        x = np.array([[0.25, -3.0, 7.5]])
        for dtype in lib.dtypes:
            xd = x.astype(dtype)
            for f in ACTIVATIONS + ELEMENTWISE:
                y = run(lib, f, "__call__", xd)
                assert y.dtype == dtype, (f.name, dtype)
                # Small floats are computed in float32 or better and rounded once.
                _eq(y, f(xd), rtol=0.0 if dtype in (np.float16, BF16) else 1e-6)

    def test_float32_within_one_ulp_of_the_numpy_path(self, lib, rng):
        # Both compute in float64 and round once: the results agree to an ulp
        # (the libraries' float64 exp/log1p differ in the last bits).
        x = (rng.normal(scale=20.0, size=(8, 16))).astype(np.float32)
        for f in ACTIVATIONS + ELEMENTWISE[:3]:
            np.testing.assert_array_max_ulp(run(lib, f, "__call__", x), f(x), maxulp=1)
        np.testing.assert_array_max_ulp(run(lib, sx.logsumexp, "__call__", x),
                                        sx.logsumexp(x), maxulp=1)

    def test_integers_and_bools_become_float64(self, lib):
        if lib.name == "array_api_strict":
            ints = [np.array([1, 2, 3])]
        else:
            ints = [np.array([1, 2, 3]), np.array([True, False, True])]
        for x in ints:
            y = run(lib, sx.softmax, "__call__", x)
            assert y.dtype == np.float64
            _eq(y, sx.softmax(x))

    def test_complex_raises(self, lib):
        if lib.name == "dask":
            pytest.skip("covered by the NumPy-generic entry (dask wraps NumPy)")
        x = lib.to(np.array([1.0 + 1j]))
        for f in (sx.softmax, sx.sigmoid):
            with pytest.raises(TypeError, match=f"^{f.name}: x must be a real floating-point"):
                lib.apply(f, "__call__", x)

    def test_input_is_not_modified(self, lib):
        x = lib.to(NASTY.copy())
        for f in ACTIVATIONS + [sx.logsumexp] + ELEMENTWISE:
            back_all(lib, lib.apply(f, "__call__", x))
        np.testing.assert_array_equal(lib.back(x), NASTY)


class TestErrors:
    """The NumPy path's messages, on foreign arrays."""

    def test_axis(self, lib):
        x = lib.to(np.zeros((2, 3)))
        with pytest.raises(ArgumentError, match=r"^softmax: axis 2 is out of range for x with 2 "
                           r"dimensions \(shape \(2, 3\)\); expected an int in \[-2, 1\]"):
            lib.apply(sx.softmax, "__call__", x, axis=2)
        with pytest.raises(TypeError, match="^log_softmax.vjp: axis must be an int"):
            lib.apply(sx.log_softmax, "vjp", x, x, axis=1.5)

    def test_where(self, lib):
        x = lib.to(np.zeros((2, 3)))
        with pytest.raises(TypeError, match=r"^softmax: where must be a boolean mask "
                           r"broadcastable to x's shape \(2, 3\); received dtype"):
            lib.apply(sx.softmax, "__call__", x, where=lib.to(np.zeros((2, 3))))
        with pytest.raises(ArgumentError, match=r"^softmax.jvp: where of shape \(2,\) does not "
                           r"broadcast to x's shape \(2, 3\)"):
            lib.apply(sx.softmax, "jvp", x, x, where=lib.to(np.array([True, False])))

    def test_cotangent_shape(self, lib):
        x = lib.to(np.zeros((2, 3)))
        with pytest.raises(ArgumentError, match=r"^sigmoid.vjp: g of shape \(2,\) does not "
                           r"broadcast to the expected shape \(2, 3\)"):
            lib.apply(sx.sigmoid, "vjp", x, lib.to(np.zeros(2)))
        with pytest.raises(ArgumentError, match=r"^logsumexp.vjp: g of shape \(2, 3\) does not "
                           r"broadcast to the expected shape \(2,\)"):
            lib.apply(sx.logsumexp, "vjp", x, x)
        with pytest.raises(ArgumentError, match=r"^logsumexp: b of shape \(4,\) does not "
                           r"broadcast to x's shape \(2, 3\)"):
            lib.apply(sx.logsumexp, "__call__", x, b=lib.to(np.ones(4)))

    def test_other_arguments(self, lib):
        x = lib.to(np.zeros((2, 3)))
        with pytest.raises(ArgumentError, match="^softmax: temperature must be a positive"):
            lib.apply(sx.softmax, "__call__", x, temperature=0.0)
        with pytest.raises(TypeError, match="^logsumexp: keepdims must be True or False"):
            lib.apply(sx.logsumexp, "__call__", x, keepdims=1)
        with pytest.raises(ArgumentError, match="^softmax2d: x must have 3 dimensions"):
            lib.apply(sx.softmax2d, "__call__", x)
        with pytest.raises(TypeError, match="^sigmoid.vjp: g must be a real number"):
            lib.apply(sx.sigmoid, "vjp", x, "g")


def test_bfloat16_is_computed_in_float32_or_better():
    # bfloat16(1.5) - bfloat16(0.0): softmax [0.62246, 0.37754] rounds to
    # [0.62109375, 0.376953125] in bfloat16; a bfloat16 computation gives 0.375.
    torch = pytest.importorskip("torch", reason="sigmax[torch] extra")
    y = sx.softmax(torch.tensor([1.5, 0.0], dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16
    want = sx.softmax(np.array([1.5, 0.0])).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(y.float().numpy(), want.astype(np.float32))
