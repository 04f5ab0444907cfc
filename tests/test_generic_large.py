"""linear_cross_entropy on the array-API path: equal to the NumPy path, chunked.

Through ``sigmax._generic.call`` (the same path the public object routes foreign
arrays to); values and the three gradients on awkward chunk sizes, with
``-inf`` biases (switched-off classes), ignore_index and label smoothing, and
torch autograd / ``jax.grad`` equal to ``value_and_grad``.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_generic_libs import back_all, lib  # noqa: F401 (lib is a fixture)

import sigmax as sx
from sigmax._generic import call

_rng = np.random.default_rng(11)
H = _rng.normal(size=(6, 3))
W = _rng.normal(size=(11, 3))
BIAS = _rng.normal(size=11)
BIAS[4] = -np.inf                # a class switched off
Y = np.array([1, 0, 10, 4, 3, 2])

CASES = {
    "plain": {},
    "bias-chunk3": dict(bias=BIAS, chunk_size=3),
    "smoothing-ignore-sum": dict(label_smoothing=0.1, chunk_size=4, ignore_index=2,
                                 reduction="sum"),
    "none-chunk5": dict(reduction="none", bias=BIAS, chunk_size=5),
    "all-ignored": dict(ignore_index=7, chunk_size=2),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_equals_the_numpy_path(lib, case):
    kw = CASES[case]
    y = np.full(6, 7) if case == "all-ignored" else Y
    want_value, want_grads = sx.linear_cross_entropy.value_and_grad(H, W, y, **kw)
    kw_lib = {k: lib.to(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    value, grads = call(sx.linear_cross_entropy, "value_and_grad", lib.to(H), lib.to(W),
                        lib.to(y), **kw_lib)
    np.testing.assert_allclose(back_all(lib, value), want_value, rtol=1e-13, atol=1e-15)
    for got, want in zip(grads, want_grads):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(back_all(lib, got), want, rtol=1e-13, atol=1e-15)
    plain = call(sx.linear_cross_entropy, "__call__", lib.to(H), lib.to(W), lib.to(y), **kw_lib)
    np.testing.assert_allclose(back_all(lib, plain), want_value, rtol=1e-13, atol=1e-15)


def test_equals_cross_entropy_of_the_logits(lib):
    got = call(sx.linear_cross_entropy, "__call__", lib.to(H), lib.to(W), lib.to(Y),
               bias=lib.to(BIAS), chunk_size=4, label_smoothing=0.2)
    want = sx.cross_entropy(H @ W.T + BIAS, Y, label_smoothing=0.2)
    np.testing.assert_allclose(back_all(lib, got), want, rtol=1e-13)


def test_torch_autograd_gives_the_three_gradients():
    torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
    ts = [torch.tensor(a, requires_grad=True) for a in (H, W, BIAS)]
    call(sx.linear_cross_entropy, "__call__", ts[0], ts[1], torch.tensor(Y), bias=ts[2],
         chunk_size=4).backward()
    _, want = sx.linear_cross_entropy.value_and_grad(H, W, Y, bias=BIAS)
    for t, w in zip(ts, want):
        np.testing.assert_allclose(t.grad.numpy(), w, rtol=1e-13, atol=1e-15)


def test_jax_jit_grad_gives_the_three_gradients():
    jax = pytest.importorskip("jax", reason="JAX is the sigmax[jax] extra")
    jnp = jax.numpy
    with jax.enable_x64(True):
        f = jax.jit(jax.grad(lambda h, w, b: call(sx.linear_cross_entropy, "__call__", h, w,
                                                  jnp.asarray(Y), bias=b, chunk_size=4),
                             argnums=(0, 1, 2)))
        got = f(jnp.asarray(H), jnp.asarray(W), jnp.asarray(BIAS))
    _, want = sx.linear_cross_entropy.value_and_grad(H, W, Y, bias=BIAS)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_shape_errors(lib):
    with pytest.raises(ValueError, match=r"^linear_cross_entropy: weight of shape \(11, 2\) "
                       r"does not match hidden of shape \(6, 3\); expected shape \(V, 3\)"):
        call(sx.linear_cross_entropy, "__call__", lib.to(H), lib.to(W[:, :2]), lib.to(Y))
    with pytest.raises(ValueError, match=r"^linear_cross_entropy: hidden must be a 2-d array"):
        call(sx.linear_cross_entropy, "__call__", lib.to(H[0]), lib.to(W), lib.to(Y))
