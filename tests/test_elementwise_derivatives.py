"""derivative, vjp and jvp of the elementwise functions against finite differences (float64).

Central differences ``(f(x + h) - f(x - h)) / 2h`` have a truncation error
``h^2 f''' / 6`` and a rounding error ``eps |f| / h``; with ``h = 1e-6`` on
O(1) inputs both are below 1e-9 relative, so the tolerance 1e-7 is loose
enough never to flake and tight enough that a wrong formula (a missing
factor, ``sigma(x)`` for ``sigma(-x)``) fails by orders of magnitude.  In the
exponential tails the step is relative (``h = 1e-6 |x|``) and so is the check.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fd_grad

import sigmax as sx

FUNCS = [sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.logit]
RTOL = 1e-7


def inputs(f, rng, shape=(4, 5)):
    """Inputs inside the domain: p in (0.02, 0.98) for logit, x in (-8, 8) otherwise."""
    if f is sx.logit:
        return rng.uniform(0.02, 0.98, shape)
    return rng.uniform(-8.0, 8.0, shape)


def fd_jvp(f, x, v, h=1e-6):
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


@pytest.mark.parametrize("f", FUNCS, ids=lambda f: f.name)
class TestFiniteDifferences:
    def test_derivative(self, f, rng):
        # Elementwise: the central difference of each entry on its own.
        x = inputs(f, rng)
        np.testing.assert_allclose(f.derivative(x), fd_jvp(f, x, np.ones_like(x)), rtol=RTOL,
                                   atol=1e-12)

    def test_vjp(self, f, rng):
        # The gradient of the scalar sum(g * f(x)); the sum of 20 terms of O(8)
        # rounds to ~1e-14, which over 2h = 2e-6 gives the atol.
        x = inputs(f, rng)
        g = rng.normal(size=x.shape)
        want = fd_grad(lambda z: np.sum(g * f(z)), x, eps=1e-6)
        np.testing.assert_allclose(f.vjp(x, g), want, rtol=RTOL, atol=1e-7)

    def test_jvp(self, f, rng):
        x = inputs(f, rng)
        v = rng.normal(size=x.shape)
        np.testing.assert_allclose(f.jvp(x, v), fd_jvp(f, x, v), rtol=RTOL, atol=1e-12)

    def test_vjp_and_jvp_are_products_with_the_derivative(self, f, rng):
        # Elementwise: the Jacobian is diagonal, so vjp(x, g) = g f'(x) = jvp(x, g).
        x = inputs(f, rng)
        g = rng.normal(size=x.shape)
        d = f.derivative(x)
        np.testing.assert_array_equal(f.vjp(x, g), g * d)
        np.testing.assert_array_equal(f.jvp(x, g), g * d)

    def test_cotangent_broadcasts(self, f, rng):
        x = inputs(f, rng, (3, 4))
        d = f.derivative(x)
        np.testing.assert_array_equal(f.vjp(x, 2.0), 2.0 * d)
        row = rng.normal(size=4)
        np.testing.assert_array_equal(f.vjp(x, row), row * d)
        np.testing.assert_array_equal(f.jvp(x, row[None, :]), row * d)
        assert f.vjp(x, row).shape == x.shape

    def test_float32_derivatives_keep_their_dtype_and_agree(self, f, rng):
        x = inputs(f, rng).astype(np.float32)
        g = rng.normal(size=x.shape).astype(np.float32)
        wide = f.derivative(x.astype(np.float64))
        for out in (f.derivative(x), f.vjp(x, np.float32(1)), f.jvp(x, np.float32(1))):
            assert out.dtype == np.float32
            np.testing.assert_array_equal(out, wide.astype(np.float32))
        np.testing.assert_allclose(f.vjp(x, g), g.astype(np.float64) * wide, rtol=2e-7)


# Tails: (function, x) where the derivative is tiny or huge; relative steps.
TAILS = [
    (sx.sigmoid, -30.0), (sx.sigmoid, -700.0), (sx.softplus, -30.0), (sx.softplus, -700.0),
    (sx.log_sigmoid, 30.0), (sx.log_sigmoid, 700.0), (sx.log_sigmoid, -30.0),
    (sx.softplus, 30.0), (sx.logit, 1e-10), (sx.logit, 1e-300), (sx.logit, 0.5 + 1e-9),
]


@pytest.mark.parametrize("f, x", TAILS, ids=[f"{f.name}({x!r})" for f, x in TAILS])
def test_derivative_in_the_tails(f, x):
    h = 1e-6 * (abs(x) if f is sx.logit and x < 0.25 else max(1.0, abs(x)))
    if f is sx.log_sigmoid and x > 0:
        # log_sigmoid(x) = -softplus(-x) is -tiny there: difference the tiny
        # quantity itself, which keeps its digits (x +- h would lose them).
        want = (sx.softplus(-(x - h)) - sx.softplus(-(x + h))) / (2 * h)
    else:
        want = (f(x + h) - f(x - h)) / (2 * h)
    np.testing.assert_allclose(f.derivative(x), want, rtol=1e-6)


def test_derivatives_come_from_the_input_not_the_rounded_output():
    # SPEC section 3: sigma(40) rounds to 1, yet sigma'(40) = e^-40 / (1 + e^-40)^2
    # = 4.248354255291589e-18 (mpmath, test_elementwise.REFERENCES_64), not 1 * (1 - 1).
    assert sx.sigmoid(40.0) == 1.0
    assert sx.sigmoid.derivative(40.0) == 4.248354255291589e-18
    assert sx.softplus.derivative(-40.0) == 4.248354255291589e-18
    assert sx.log_sigmoid.derivative(40.0) == 4.248354255291589e-18
    # float32: sigma(17) rounds to 1 - 2^-24; its derivative keeps 8 digits.
    assert sx.sigmoid.derivative(np.float32(17.0)) == np.float32(4.139937459513021e-08)
