"""vjp, jvp and jacobian of the softmax family against finite differences (float64).

Every configuration is checked three ways: the VJP against the finite-difference
gradient of ``sum(g * f(x))``, the JVP against the central difference along
``v``, and the Jacobian against the full finite-difference Jacobian arranged in
the documented layout ``J[..., i, ..., j] = d f_i / d x_j`` (``i`` at the place
of the reduced axes, ``j`` last, flattened in C order over the sorted reduced
axes); then vjp == g contracted with J and jvp == J @ v.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fd_grad

import sigmax as sx

H = 1e-6
ATOL = 2e-8  # central differences with h = 1e-6 on O(1) inputs: error ~1e-10


def _reduced_axes(shape, axis):
    nd = len(shape)
    if axis is None:
        return tuple(range(nd))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % nd for a in axes))


def fd_jvp(f, x, v, h=H):
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def fd_full_jacobian(f, x, h=H):
    """D[out..., in...] = d f(x)[out] / d x[in] by central differences."""
    out_shape = np.shape(f(x))
    D = np.zeros(out_shape + x.shape)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = 1.0
        D[(Ellipsis,) + k] = fd_jvp(f, x, e, h)
    return D


def full_from_layout(J, shape, axes):
    """The full (shape + shape) Jacobian that a ``shape + (n,)`` layout describes.

    Entries between different rows are zero: rows are independent.
    """
    red = tuple(shape[a] for a in axes)
    D = np.zeros(shape + shape)
    for o in np.ndindex(shape):
        for j, rj in enumerate(np.ndindex(red)):
            i = list(o)
            for a, v in zip(axes, rj):
                i[a] = v
            D[o + tuple(i)] = J[o + (j,)]
    return D


def rows_last(a, axes, extra=0):
    """Move the reduced axes last (before ``extra`` trailing axes) and flatten them."""
    nd = a.ndim - extra
    nb = nd - len(axes)
    moved = np.moveaxis(a, axes, range(nb, nd))
    n = int(np.prod([a.shape[ax] for ax in axes], dtype=np.int64))
    return moved.reshape(moved.shape[:nb] + (n,) + moved.shape[nd:])


# (shape, kwargs); the mask is drawn from the seed when kwargs has where=True.
ACTIVATION_CASES = [
    ((3, 4), dict()),
    ((3, 4), dict(axis=0)),
    ((2, 3, 2), dict(axis=(0, 2))),
    ((2, 3, 2), dict(axis=(2, 0), temperature=3.0)),
    ((2, 3), dict(axis=None)),
    ((3, 4), dict(temperature=0.5)),
    ((4, 4), dict(where=True)),
    ((2, 3, 2), dict(axis=(0, 2), where=True, temperature=2.5)),
    ((3, 1), dict()),
]
ACTIVATION_IDS = ["last", "axis0", "tuple", "tuple-unsorted-T", "None", "T", "where",
                  "tuple-where-T", "one-element"]


def _setup(shape, kwargs, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    kw = dict(kwargs)
    live = np.ones(shape, dtype=bool)
    if kw.get("where"):
        mask = rng.random(shape) < 0.6
        mask.reshape(-1)[0] = False  # at least one masked entry
        if len(shape) == 2:
            mask[-1] = False  # a fully masked row: its outputs are constant
        kw["where"] = mask
        live = mask
    return rng, x, kw, live


@pytest.mark.parametrize("shape, kwargs", ACTIVATION_CASES, ids=ACTIVATION_IDS)
@pytest.mark.parametrize("f", [sx.softmax, sx.log_softmax], ids=lambda f: f.name)
class TestActivationDerivatives:
    """softmax and log_softmax: the same checks, one configuration at a time."""

    def _value(self, f, kw, live):
        # Masked log_softmax entries are the constant -inf: compare the live part.
        return lambda x: np.where(live, f(x, **kw), 0.0)

    def test_vjp_matches_finite_differences(self, f, shape, kwargs):
        rng, x, kw, live = _setup(shape, kwargs)
        g = rng.normal(size=shape)
        F = self._value(f, kw, live)
        want = fd_grad(lambda y: np.sum(g * F(y)), x, eps=H)
        np.testing.assert_allclose(f.vjp(x, g, **kw), want, atol=ATOL, rtol=0)

    def test_jvp_matches_finite_differences(self, f, shape, kwargs):
        rng, x, kw, live = _setup(shape, kwargs)
        v = rng.normal(size=shape)
        want = fd_jvp(self._value(f, kw, live), x, v)
        np.testing.assert_allclose(f.jvp(x, v, **kw), want, atol=ATOL, rtol=0)

    def test_jacobian_matches_finite_differences(self, f, shape, kwargs):
        _, x, kw, live = _setup(shape, kwargs)
        axes = _reduced_axes(shape, kw.get("axis", -1))
        J = f.jacobian(x, **kw)
        n = int(np.prod([shape[a] for a in axes]))
        assert J.shape == shape + (n,)
        D = fd_full_jacobian(self._value(f, kw, live), x)
        np.testing.assert_allclose(full_from_layout(J, shape, axes), D, atol=ATOL, rtol=0)

    def test_vjp_and_jvp_are_jacobian_products(self, f, shape, kwargs):
        rng, x, kw, _ = _setup(shape, kwargs)
        axes = _reduced_axes(shape, kw.get("axis", -1))
        g, v = rng.normal(size=shape), rng.normal(size=shape)
        Jr = rows_last(f.jacobian(x, **kw), axes, extra=1)  # (..., n, n)
        gr, vr = rows_last(g, axes), rows_last(v, axes)
        np.testing.assert_allclose(rows_last(f.vjp(x, g, **kw), axes),
                                   np.einsum("...i,...ij->...j", gr, Jr), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(rows_last(f.jvp(x, v, **kw), axes),
                                   np.einsum("...ij,...j->...i", Jr, vr), rtol=1e-13, atol=1e-15)


class TestSoftmaxDerivatives:
    @pytest.mark.parametrize("shape, kwargs", ACTIVATION_CASES, ids=ACTIVATION_IDS)
    def test_jacobian_is_symmetric(self, shape, kwargs):
        _, x, kw, _ = _setup(shape, kwargs)
        axes = _reduced_axes(shape, kw.get("axis", -1))
        Jr = rows_last(sx.softmax.jacobian(x, **kw), axes, extra=1)
        np.testing.assert_array_equal(Jr, np.swapaxes(Jr, -1, -2))

    def test_jacobian_closed_form(self):
        x = np.array([0.5, -1.0, 2.0])
        p = sx.softmax(x)
        np.testing.assert_allclose(sx.softmax.jacobian(x), np.diag(p) - np.outer(p, p),
                                   rtol=1e-15, atol=1e-17)

    def test_jacobian_index_layout(self):
        # axis=0 of a (3, 2) input: J[i, b, j] = d softmax(x)[i, b] / d x[j, b].
        x = np.array([[0.1, 2.0], [-1.0, 0.5], [0.3, -0.2]])
        J = sx.softmax.jacobian(x, axis=0)
        assert J.shape == (3, 2, 3)
        for b in range(2):
            np.testing.assert_array_equal(J[:, b, :], sx.softmax.jacobian(x[:, b]))

    def test_vjp_is_linear_memory(self):
        # A row of 200 000 entries: an n x n Jacobian would need 320 GB.
        rng = np.random.default_rng(1)
        x, g = rng.normal(size=200_000), rng.normal(size=200_000)
        p = sx.softmax(x)
        np.testing.assert_allclose(sx.softmax.vjp(x, g), p * (g - p @ g), rtol=1e-12,
                                   atol=1e-20)


class TestLogSoftmaxDerivatives:
    def test_jacobian_closed_form(self):
        x = np.array([0.5, -1.0, 2.0])
        p = sx.softmax(x)
        np.testing.assert_allclose(sx.log_softmax.jacobian(x), np.eye(3) - p[None, :],
                                   rtol=1e-15, atol=1e-17)

    def test_vjp_of_one_hot_is_p_minus_onehot(self):
        # d/dx of -log_softmax(x)[k] = softmax(x) - e_k: the cross-entropy gradient.
        x = np.array([3.0, -1.0, 0.25, 7.0])
        g = np.array([0.0, 0.0, -1.0, 0.0])
        np.testing.assert_allclose(sx.log_softmax.vjp(x, g), sx.softmax(x) - [0, 0, 1, 0],
                                   rtol=1e-15, atol=1e-17)


# (shape, kwargs) for logsumexp; b is drawn when kwargs has b='pos', 'signed' or 'row'.
LSE_CASES = [
    ((3, 4), dict()),
    ((3, 4), dict(axis=0, keepdims=True)),
    ((2, 3, 2), dict(axis=(0, 2))),
    ((2, 3, 2), dict(axis=(2, 0), keepdims=True)),
    ((2, 3), dict(axis=None)),
    ((2, 3), dict(axis=None, keepdims=True)),
    ((3, 4), dict(where=True)),
    ((3, 4), dict(b="pos")),
    ((3, 4), dict(b="signed", return_sign=True)),
    ((2, 3, 4), dict(axis=(0, 2), keepdims=True, b="row", where=True)),
]
LSE_IDS = ["last", "axis0-keepdims", "tuple", "tuple-keepdims", "None", "None-keepdims",
           "where", "b", "b-signed", "tuple-b-where"]


def _lse_setup(shape, kwargs, seed=11):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    kw = dict(kwargs)
    if kw.get("where"):
        mask = rng.random(shape) < 0.7
        mask[(0,) * len(shape)] = False
        # Keep every reduction non-empty (an empty one is the constant -inf).
        axes = _reduced_axes(shape, kw.get("axis", -1))
        first = [slice(None)] * len(shape)
        for a in axes:
            first[a] = 1
        mask[tuple(first)] = True
        kw["where"] = mask
    if kw.get("b") == "pos":
        kw["b"] = rng.uniform(0.1, 3.0, size=shape)
    elif kw.get("b") == "signed":
        # One dominant positive weight per row keeps S away from 0; the sign varies.
        b = rng.uniform(-0.3, 0.3, size=shape)
        b[:, 0] = np.where(np.arange(shape[0]) % 2, 4.0, -4.0)
        x[:, 0] += 2.0
        kw["b"] = b
    elif kw.get("b") == "row":
        kw["b"] = rng.uniform(0.5, 2.0, size=shape[-1:])
    return rng, x, kw


class TestLogSumExpDerivatives:
    @staticmethod
    def _value(kw):
        def f(x):
            out = sx.logsumexp(x, **kw)
            return out[0] if kw.get("return_sign") else out
        return f

    @pytest.mark.parametrize("shape, kwargs", LSE_CASES, ids=LSE_IDS)
    def test_vjp_matches_finite_differences(self, shape, kwargs):
        rng, x, kw = _lse_setup(shape, kwargs)
        f = self._value(kw)
        g = rng.normal(size=np.shape(f(x)))
        want = fd_grad(lambda y: np.sum(g * f(y)), x, eps=H)
        got = sx.logsumexp.vjp(x, g, **kw)
        assert got.shape == x.shape
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)

    @pytest.mark.parametrize("shape, kwargs", LSE_CASES, ids=LSE_IDS)
    def test_jvp_matches_finite_differences(self, shape, kwargs):
        rng, x, kw = _lse_setup(shape, kwargs)
        f = self._value(kw)
        v = rng.normal(size=shape)
        got = sx.logsumexp.jvp(x, v, **kw)
        assert np.shape(got) == np.shape(f(x))
        np.testing.assert_allclose(got, fd_jvp(f, x, v), atol=ATOL, rtol=0)

    @pytest.mark.parametrize("shape, kwargs", LSE_CASES, ids=LSE_IDS)
    def test_jvp_is_the_vjp_weights_times_v(self, shape, kwargs):
        # The Jacobian of a reduction is one row, w = vjp(x, 1): jvp = sum(w * v).
        rng, x, kw = _lse_setup(shape, kwargs)
        v = rng.normal(size=shape)
        axes = _reduced_axes(shape, kw.get("axis", -1))
        w = sx.logsumexp.vjp(x, 1.0, **kw)
        want = np.sum(w * v, axis=axes, keepdims=kw.get("keepdims", False))
        np.testing.assert_allclose(sx.logsumexp.jvp(x, v, **kw), want, rtol=1e-13, atol=1e-15)

    def test_vjp_of_unweighted_is_softmax(self, rng):
        x = rng.normal(size=(3, 5))
        g = rng.normal(size=3)
        np.testing.assert_allclose(sx.logsumexp.vjp(x, g), g[:, None] * sx.softmax(x),
                                   rtol=1e-15)


class TestSoftmax2dDerivatives:
    @pytest.mark.parametrize("shape", [(3, 2, 2), (2, 3, 1, 2)])
    def test_methods_are_softmax_along_axis_minus_3(self, shape):
        rng = np.random.default_rng(3)
        x, g = rng.normal(size=shape), rng.normal(size=shape)
        np.testing.assert_array_equal(sx.softmax2d.vjp(x, g), sx.softmax.vjp(x, g, axis=-3))
        np.testing.assert_array_equal(sx.softmax2d.jvp(x, g), sx.softmax.jvp(x, g, axis=-3))
        np.testing.assert_array_equal(sx.softmax2d.jacobian(x), sx.softmax.jacobian(x, axis=-3))

    def test_matches_finite_differences(self):
        rng = np.random.default_rng(4)
        shape = (2, 3, 1, 2)
        x, g, v = (rng.normal(size=shape) for _ in range(3))
        np.testing.assert_allclose(sx.softmax2d.vjp(x, g),
                                   fd_grad(lambda y: np.sum(g * sx.softmax2d(y)), x, eps=H),
                                   atol=ATOL, rtol=0)
        np.testing.assert_allclose(sx.softmax2d.jvp(x, v), fd_jvp(sx.softmax2d, x, v),
                                   atol=ATOL, rtol=0)
        J = sx.softmax2d.jacobian(x)
        assert J.shape == shape + (3,)
        np.testing.assert_allclose(full_from_layout(J, shape, (1,)),
                                   fd_full_jacobian(sx.softmax2d, x), atol=ATOL, rtol=0)
