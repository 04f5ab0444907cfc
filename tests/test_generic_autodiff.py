"""Gradients of sigmax values through torch autograd and JAX equal sigmax's closed forms.

The values computed on tensors / JAX arrays are differentiable by the library's
own machinery, and its gradients must be those of ``f.vjp`` / ``f.jvp`` and of
a float64 finite difference -- zero, never NaN, through fully masked rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import fd_grad

import sigmax as sx

INF = np.inf
ELEMENTWISE = [sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.logit]
ACTIVATIONS = [sx.softmax, sx.log_softmax]
_ids = lambda f: f.name  # noqa: E731

# A live row, a row with a masked entry, a fully -inf row, a +inf row.
X = np.array([[0.5, -1.0, 2.0, 3.5],
              [1.0, -INF, 0.25, -2.0],
              [-INF, -INF, -INF, -INF],
              [INF, 1.0, -3.0, INF]])
G = np.array([[1.0, -2.0, 0.5, 3.0]] * 4)
MASK = np.array([[True, True, False, True]] * 2 + [[False] * 4] * 2)


def _x_for(f):
    return np.array([[0.1, 0.3, 0.5, 0.9]]) if f is sx.logit else X


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")


@pytest.fixture
def jax():
    jax = pytest.importorskip("jax", reason="JAX is the sigmax[jax] extra")
    with jax.enable_x64(True):
        yield jax


class TestTorchAutograd:
    def _grad(self, torch, f, x, g, **kw):
        t = torch.tensor(x, requires_grad=True)
        (f(t, **kw) * torch.tensor(g)).sum().backward()
        return t.grad.numpy()

    @pytest.mark.parametrize("f", ELEMENTWISE, ids=_ids)
    def test_elementwise(self, torch, f):
        x = _x_for(f)
        got = self._grad(torch, f, x, G[:1])
        # Exactly sigmax's vjp on tensors; the NumPy path to an ulp (torch's exp is not NumPy's).
        np.testing.assert_array_equal(got, f.vjp(torch.tensor(x), torch.tensor(G[:1])).numpy())
        np.testing.assert_allclose(got, f.vjp(x, G[:1]), rtol=1e-15)

    @pytest.mark.parametrize("f", ACTIVATIONS, ids=_ids)
    @pytest.mark.parametrize("kw", [{}, dict(where=MASK), dict(temperature=3.0, axis=0)],
                             ids=["plain", "where", "T-axis0"])
    def test_softmax_family_equals_vjp_zero_through_masked_rows(self, torch, f, kw):
        kw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        got = self._grad(torch, f, X, G, **kw)
        same = f.vjp(torch.tensor(X), torch.tensor(G), **kw).numpy()
        want = f.vjp(X, G, **{k: v.numpy() if hasattr(v, "numpy") else v
                              for k, v in kw.items()})
        np.testing.assert_array_equal(got, same)
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-300)
        assert not np.isnan(got).any()
        if "axis" not in kw:
            assert not got[2:].any()

    def test_logsumexp(self, torch):
        t = torch.tensor(X, requires_grad=True)
        lse, sign = sx.logsumexp(t, return_sign=True)
        assert not sign.requires_grad
        (lse * torch.arange(4.0, dtype=torch.float64)).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), sx.logsumexp.vjp(X, np.arange(4.0)),
                                   rtol=1e-15, atol=1e-300)

    def test_finite_differences(self, torch, rng):
        x = rng.normal(size=(3, 5))
        for f in ACTIVATIONS:
            np.testing.assert_allclose(
                self._grad(torch, f, x, G[:3, :1] * np.ones(5)),
                fd_grad(lambda a: float(np.sum(G[:3, :1] * f(a))), x), rtol=1e-7, atol=1e-9)

    def test_float32_and_bfloat16_keep_dtype_through_backward(self, torch):
        for dtype in (torch.float32, torch.bfloat16):
            t = torch.tensor(X[:2], dtype=dtype, requires_grad=True)
            y = sx.log_softmax(t)
            assert y.dtype == dtype
            y.sum().backward()
            assert t.grad.dtype == dtype and not torch.isnan(t.grad).any()

    def test_no_grad_needed_no_graph(self, torch):
        y = sx.softmax(torch.tensor(X))
        assert y.grad_fn is None

    def test_torch_compile(self, torch):
        g = torch.tensor(G)

        def loss(t):
            return (sx.log_softmax(t, where=torch.tensor(MASK)) * g).sum() + sx.sigmoid(t).sum()

        t = torch.tensor(X, requires_grad=True)
        with warnings.catch_warnings():
            # torch's own deprecation notices and Dynamo's about tracing
            # array-api-compat's helpers; none comes from sigmax.
            warnings.simplefilter("ignore")
            compiled = torch.compile(loss)
            value = compiled(t)
            value.backward()
        np.testing.assert_allclose(value.item(), loss(torch.tensor(X)).item(), rtol=1e-14)
        want = sx.log_softmax.vjp(X, G, where=MASK) + sx.sigmoid.derivative(X)
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-13, atol=1e-300)


class TestJax:
    @pytest.mark.parametrize("f", ELEMENTWISE, ids=_ids)
    def test_elementwise_grad_and_jvp(self, jax, f):
        x = jax.numpy.asarray(_x_for(f))
        grad = jax.grad(lambda a: (f(a) * G[:1]).sum())(x)
        np.testing.assert_allclose(grad, f.vjp(np.asarray(x), G[:1]), rtol=1e-15)
        _, tangent = jax.jvp(f, (x,), (jax.numpy.ones_like(x),))
        np.testing.assert_allclose(tangent, f.derivative(np.asarray(x)), rtol=1e-15)

    @pytest.mark.parametrize("f", ACTIVATIONS, ids=_ids)
    def test_jit_grad_with_a_traced_mask(self, jax, f):
        step = jax.jit(jax.grad(lambda a, m: (f(a, where=m) * G).sum()))
        got = np.asarray(step(jax.numpy.asarray(X), jax.numpy.asarray(MASK)))
        np.testing.assert_allclose(got, f.vjp(X, G, where=MASK), rtol=1e-14, atol=1e-300)
        assert not np.isnan(got).any() and not got[2:].any()

    @pytest.mark.parametrize("f", ACTIVATIONS, ids=_ids)
    def test_minus_inf_rows_give_zero_gradients(self, jax, f):
        got = np.asarray(jax.grad(lambda a: (f(a) * G).sum())(jax.numpy.asarray(X)))
        np.testing.assert_allclose(got, f.vjp(X, G), rtol=1e-14, atol=1e-300)
        assert not got[2:].any() and not np.isnan(got).any()

    @pytest.mark.parametrize("f", ACTIVATIONS, ids=_ids)
    def test_forward_mode(self, jax, f):
        _, tangent = jax.jvp(lambda a: f(a, temperature=0.5), (jax.numpy.asarray(X),),
                             (jax.numpy.asarray(G),))
        np.testing.assert_allclose(tangent, f.jvp(X, G, temperature=0.5), rtol=1e-14,
                                   atol=1e-300)

    def test_logsumexp_jit_grad(self, jax):
        step = jax.jit(jax.grad(lambda a: sx.logsumexp(a, b=np.array([1.0, 2.0, 0.5, 1.0]))
                                .sum()))
        b = np.array([1.0, 2.0, 0.5, 1.0])
        np.testing.assert_allclose(step(jax.numpy.asarray(X)),
                                   sx.logsumexp.vjp(X, np.ones(4), b=b), rtol=1e-14,
                                   atol=1e-300)

    def test_finite_differences(self, jax, rng):
        x = rng.normal(size=(3, 5))
        f = lambda a: (sx.log_softmax(a, axis=0) * x).sum()  # noqa: E731
        np.testing.assert_allclose(jax.grad(f)(jax.numpy.asarray(x)),
                                   fd_grad(lambda a: float(np.sum(x * sx.log_softmax(a, axis=0))),
                                           x), rtol=1e-7, atol=1e-9)

    def test_without_x64_float32_throughout(self):
        jax = pytest.importorskip("jax", reason="JAX is the sigmax[jax] extra")
        with jax.enable_x64(False):
            y = sx.softmax(jax.numpy.asarray([1, 2, 3]))
            assert y.dtype == jax.numpy.float32
            np.testing.assert_allclose(y, sx.softmax([1.0, 2.0, 3.0]), rtol=1e-6)
            assert float(sx.logsumexp(jax.numpy.asarray([0.0, -40.0]))) > 0
