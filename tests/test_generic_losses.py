"""The losses on the array-API path: values and gradients equal the NumPy path.

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

LP = sx.log_softmax(X)
P = sx.sigmoid(np.array([[-800.0, -3.0, 0.0, 2.0], [40.0, 800.0, -1.0, 1.5]]))
P[0, 2] = 0.0                    # log 0 clamped at -100 (PyTorch)
Z = np.array([[-INF, -3.0, 0.0, 2.0], [40.0, INF, -1.0, 1e308]])
B = np.array([[1.0, 0.0, 1.0, 0.3], [0.0, 1.0, 0.5, 1.0]])
BW = np.array([0.5, 2.0, 1.0, 0.0])

CASES = {
    "ce-labels": (sx.cross_entropy, (X, Y), {}),
    "ce-weight-smoothing": (sx.cross_entropy, (X, Y), dict(weight=W, label_smoothing=0.1)),
    "ce-ignore-sum": (sx.cross_entropy, (X, Y), dict(ignore_index=2, reduction="sum")),
    "ce-none-weight": (sx.cross_entropy, (X, Y), dict(reduction="none", weight=W)),
    "ce-all-ignored": (sx.cross_entropy, (X, np.full(5, 2)), dict(ignore_index=2)),
    "ce-probs": (sx.cross_entropy, (X, Q), {}),
    "ce-probs-smoothing-none": (sx.cross_entropy, (X, Q),
                                dict(label_smoothing=0.2, weight=W, reduction="none")),
    "ce-axis0": (sx.cross_entropy, (X.T.copy(), Y), dict(axis=0)),
    "nll": (sx.nll_loss, (LP, Y), {}),
    "nll-weight-ignore": (sx.nll_loss, (LP, Y), dict(weight=W, ignore_index=3)),
    "nll-none": (sx.nll_loss, (LP, Y), dict(reduction="none")),
    "bce": (sx.binary_cross_entropy, (P, B), {}),
    "bce-weight-none": (sx.binary_cross_entropy, (P, B), dict(weight=BW, reduction="none")),
    "bce-logits": (sx.binary_cross_entropy_with_logits, (Z, B), {}),
    "bce-logits-pos-weight": (sx.binary_cross_entropy_with_logits, (Z, B),
                              dict(pos_weight=np.array([3.0, 1.0, 0.5, 2.0]), weight=BW,
                                   reduction="sum")),
    "focal": (sx.sigmoid_focal_loss, (Z, B), {}),
    "focal-no-alpha-none": (sx.sigmoid_focal_loss, (Z, B),
                            dict(alpha=-1, gamma=1.5, reduction="none")),
    "focal-gamma0": (sx.sigmoid_focal_loss, (Z, B), dict(gamma=0.0)),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_value_and_grad_equal_the_numpy_path(lib, case):
    f, (x, t), kw = CASES[case]
    want_value, want_grad = f.value_and_grad(x, t, **kw)
    kw_lib = {k: lib.to(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    value, grad = back_all(lib, lib.apply(f, "value_and_grad", lib.to(x), lib.to(t),
                                          **kw_lib))
    np.testing.assert_allclose(value, want_value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-13, atol=1e-15)
    plain = back_all(lib, lib.apply(f, "__call__", lib.to(x), lib.to(t), **kw_lib))
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


def test_exact_limits(lib):
    # SPEC section 4: bce_with_logits(+inf, 1) is 0 and (-inf, 1) is inf.
    z, one = np.array([INF, -INF]), np.ones(2)
    per = back_all(lib, lib.apply(sx.binary_cross_entropy_with_logits, "__call__", lib.to(z),
                                  lib.to(one), reduction="none"))
    np.testing.assert_array_equal(per, [0.0, INF])


@pytest.mark.parametrize("f", [sx.binary_cross_entropy_with_logits, sx.sigmoid_focal_loss,
                               sx.nll_loss], ids=lambda f: f.name)
def test_torch_autograd_of_the_other_losses(f):
    torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
    x, t = (LP, Y) if f is sx.nll_loss else (Z, B)
    xt = torch.tensor(x, requires_grad=True)
    f(xt, torch.tensor(t)).backward()
    np.testing.assert_allclose(xt.grad.numpy(), f.value_and_grad(x, t)[1], rtol=1e-13,
                               atol=1e-15)


def test_labels_out_of_range_name_the_first_index(lib):
    # Eager arrays raise at the call; Dask raises when the loss is computed
    # (the chunks are [0 1 2], [7 9]: the first bad label is in the second).
    msg = r"^cross_entropy: target holds 7 at index \(3,\); expected a class index in \[0, 3\]"
    with pytest.raises(ValueError, match=msg):
        back_all(lib, lib.apply(sx.cross_entropy, "__call__", lib.to(X),
                                lib.to(np.array([0, 1, 2, 7, 9]))))


def test_dask_labels_are_checked_lazily_and_name_the_first_index():
    da = pytest.importorskip("dask.array", reason="Dask is the sigmax[dask] extra")
    x = da.from_array(X, chunks=(2, 4))
    # Blocks [0 -1] [2 9] [-1]: the first bad label is at (1,), in the first
    # block; the second block's 9 comes later even though it is also bad.
    y = da.from_array(np.array([0, -1, 2, 9, -1]), chunks=2)
    loss = sx.cross_entropy(x, y, ignore_index=-1)            # nothing raised yet: lazy
    assert isinstance(loss, da.Array)
    with pytest.raises(ValueError, match=r"^cross_entropy: target holds 9 at index \(3,\); "
                       r"expected a class index in \[0, 3\] or ignore_index=-1"):
        loss.compute()
    y2 = da.from_array(np.array([[0, 1], [5, 1], [2, -3]]), chunks=(1, 1))
    loss = sx.cross_entropy(da.from_array(np.zeros((3, 2, 4)), chunks=2), y2, reduction="none")
    with pytest.raises(ValueError, match=r"^cross_entropy: target holds 5 at index \(1, 0\)"):
        loss.compute()
    # Valid labels compute as before.
    ok = sx.cross_entropy(x, da.from_array(np.array([0, -1, 2, 3, -1]), chunks=2),
                          ignore_index=-1)
    np.testing.assert_allclose(ok.compute(), sx.cross_entropy(X, [0, -1, 2, 3, -1],
                                                              ignore_index=-1), rtol=1e-15)


def test_jax_labels_are_checked_when_concrete():
    jax = pytest.importorskip("jax", reason="JAX is the sigmax[jax] extra")
    jnp = jax.numpy
    y = jnp.asarray(np.array([0, 1, 2, 7, 9]))
    with pytest.raises(ValueError, match=r"^cross_entropy: target holds 7 at index \(3,\)"):
        sx.cross_entropy(jnp.asarray(X), y)
    # Traced labels cannot be read: under jit a bad label selects no class, so
    # its row is left out like an ignored one (documented in sigmax._generic_losses).
    with jax.enable_x64(True):
        got = jax.jit(lambda x, y: sx.cross_entropy(x, y, reduction="none"))(
            jnp.asarray(X), jnp.asarray(np.array([0, 1, 2, 7, 9])))
    want = sx.cross_entropy(X, [0, 1, 2, -1, -1], ignore_index=-1, reduction="none")
    np.testing.assert_array_equal(np.asarray(got), want)
    with jax.enable_x64(True):
        mean = jax.jit(sx.cross_entropy)(jnp.asarray(X), jnp.asarray(np.array([0, 1, 2, 7, 9])))
    np.testing.assert_allclose(float(mean), sx.cross_entropy(X, [0, 1, 2, -1, -1],
                                                             ignore_index=-1), rtol=1e-15)
