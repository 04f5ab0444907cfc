"""cross_entropy on the array-API path: values and gradients equal the NumPy path.

Every library of ``test_generic_libs``; torch autograd and ``jax.grad`` give
``value_and_grad``'s gradient, zero through fully masked rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_generic_libs import back_all, lib  # noqa: F401 (lib is a fixture)

import sigmax as sx

INF = np.inf
_rng = np.random.default_rng(7)
X = _rng.normal(scale=3.0, size=(5, 4))
X[1] = -INF                      # a fully masked row
X[2, 1] = -INF                   # a masked class
Y = np.array([0, 2, 3, 1, 2])
W = np.array([1.0, 2.0, 0.5, 3.0])
Q = sx.softmax(_rng.normal(size=(5, 4)))
Q[0] = [1.0, 0.0, 0.0, 0.0]      # one-hot: 0 * log 0 = 0

CASES = {
    "labels": ((X, Y), {}),
    "weight-smoothing": ((X, Y), dict(weight=W, label_smoothing=0.1)),
    "ignore-sum": ((X, Y), dict(ignore_index=2, reduction="sum")),
    "none-weight": ((X, Y), dict(reduction="none", weight=W)),
    "all-ignored": ((X, np.full(5, 2)), dict(ignore_index=2)),
    "probs": ((X, Q), {}),
    "probs-smoothing-none": ((X, Q), dict(label_smoothing=0.2, weight=W, reduction="none")),
    "axis0": ((X.T.copy(), Y), dict(axis=0)),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_value_and_grad_equal_the_numpy_path(lib, case):
    (x, t), kw = CASES[case]
    want_value, want_grad = sx.cross_entropy.value_and_grad(x, t, **kw)
    kw_lib = {k: lib.to(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    value, grad = back_all(lib, lib.apply(sx.cross_entropy, "value_and_grad", lib.to(x),
                                          lib.to(t), **kw_lib))
    np.testing.assert_allclose(value, want_value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-13, atol=1e-15)
    plain = back_all(lib, lib.apply(sx.cross_entropy, "__call__", lib.to(x), lib.to(t),
                                    **kw_lib))
    np.testing.assert_allclose(plain, want_value, rtol=1e-13, atol=1e-15)


def test_all_ignored_mean_is_zero_with_zero_gradient(lib):
    value, grad = back_all(lib, lib.apply(sx.cross_entropy, "value_and_grad", lib.to(X),
                                          lib.to(np.full(5, 2)), ignore_index=2))
    assert value == 0.0 and not grad.any()


def test_torch_autograd():
    torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
    t = torch.tensor(X, requires_grad=True)
    sx.cross_entropy(t, torch.tensor(Y), weight=torch.tensor(W), label_smoothing=0.1).backward()
    want = sx.cross_entropy.value_and_grad(X, Y, weight=W, label_smoothing=0.1)[1]
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-13, atol=1e-15)
    assert not t.grad[1].any()


def test_jax_jit_grad():
    jax = pytest.importorskip("jax", reason="JAX is the sigmax[jax] extra")
    with jax.enable_x64(True):
        f = jax.jit(jax.grad(lambda a, q: sx.cross_entropy(a, q, reduction="sum")))
        got = f(jax.numpy.asarray(X), jax.numpy.asarray(Q))
    want = sx.cross_entropy.value_and_grad(X, Q, reduction="sum")[1]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_bad_target_dtype(lib):
    with pytest.raises(TypeError, match="^cross_entropy: target must be integer class indices"):
        lib.apply(sx.cross_entropy, "__call__", lib.to(X), lib.to(np.zeros(5, dtype=bool)))
