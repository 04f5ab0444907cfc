"""Tour steps on the losses and the derivatives.

Seed 1's single-label example (log_softmax, one-hot encoding, ``nll_loss ==
cross_entropy``) and its multi-label one (``sigmoid + binary_cross_entropy ==
binary_cross_entropy_with_logits``); seed 3's derivatives: ``sigmoid_back``,
the softmax Jacobian built with einsum against sigmax's O(n) VJP (timed), and
the ``softmax - onehot`` gradient of the fused loss.
"""

from __future__ import annotations

import time

import numpy as np

import sigmax as sx

from . import _figures
from ._console import table


def slc_losses(t):
    """Seed 1's 'example in SLC': log_softmax, one-hot, NLL, cross-entropy."""
    t.section("5. Single-label: log_softmax + nll_loss == cross_entropy (seed 1)")
    rng = np.random.default_rng(0)
    batch_size, n_classes = 10, 5
    x = rng.normal(size=(batch_size, n_classes))
    target = rng.integers(n_classes, size=batch_size)
    t.show("target", target)
    with np.errstate(all="ignore"):  # the seed's log_softmax, without the max shift
        naive_pred = x - np.log(np.exp(x).sum(-1))[:, None]
    pred = sx.log_softmax(x)
    t.check("sx.log_softmax(x) == x - log(sum(exp(x))) on tame inputs",
            np.allclose(pred, naive_pred, rtol=1e-14, atol=1e-14))
    t.check("exp(log_softmax(x)) == softmax(x)",
            np.allclose(np.exp(pred), sx.softmax(x), rtol=1e-14, atol=0))
    ohe = np.zeros((batch_size, n_classes))
    ohe[range(batch_size), target] = 1
    t.show("ohe (one-hot target)", ohe[:3])
    pe = pred[range(batch_size), target]
    t.show("pe = pred[range(10), target]", pe)
    negmean = -pe.mean()
    t.show("negmean = -pe.mean()  (the seed's nll_loss)", negmean)
    t.show("sx.nll_loss(pred, target)", sx.nll_loss(pred, target))
    t.show("sx.cross_entropy(x, target)", sx.cross_entropy(x, target))
    t.check("sx.nll_loss(log_softmax(x), target) == -pred[range, target].mean()",
            np.isclose(sx.nll_loss(pred, target), negmean, rtol=1e-14))
    t.check("sx.cross_entropy(x, target) == nll_loss(log_softmax(x), target)",
            np.isclose(sx.cross_entropy(x, target), negmean, rtol=1e-14))
    t.check("cross_entropy with one-hot probability targets == with class indices",
            np.isclose(sx.cross_entropy(x, ohe), negmean, rtol=1e-14)
            and np.isclose(-(ohe * pred).sum(1).mean(), negmean, rtol=1e-14))
    # Seed 3: 'for the regular softmax loss function, you will get a - y'.
    loss, grad = sx.cross_entropy.value_and_grad(x, target)
    t.check("cross_entropy.value_and_grad: gradient == (softmax(x) - onehot) / batch (a - y)",
            np.isclose(loss, negmean, rtol=1e-14)
            and np.allclose(grad, (sx.softmax(x) - ohe) / batch_size, rtol=1e-13, atol=1e-17))
    big = x * 1000.0
    with np.errstate(all="ignore"):
        naive_big = -(big - np.log(np.exp(big).sum(-1))[:, None])[range(batch_size), target]
    t.check("logits x 1000: the seed's log_softmax gives inf/NaN, cross_entropy stays finite",
            not np.isfinite(naive_big).all() and np.isfinite(sx.cross_entropy(big, target)))


def mlc_losses(t):
    """Seed 1's MLC case: sigmoid + binary_cross_entropy == binary_cross_entropy_with_logits."""
    t.section("6. Multi-label: sigmoid + binary_cross_entropy == ..._with_logits (seed 1)")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 4)) * 2
    y = (rng.random((10, 4)) < 0.4).astype(np.float64)

    def naive_bce(p, y):  # the seed's binary_cross_entropy
        return -(np.log(p) * y + (1 - y) * np.log(1 - p)).mean()

    seed = naive_bce(_figures.naive_sigmoid(x), y)
    composed = sx.binary_cross_entropy(sx.sigmoid(x), y)
    fused = sx.binary_cross_entropy_with_logits(x, y)
    t.show("seed's bce(sigmoid(x), y), sx.binary_cross_entropy(sx.sigmoid(x), y), "
           "sx.binary_cross_entropy_with_logits(x, y)", np.array([seed, composed, fused]))
    t.check("sigmoid + binary_cross_entropy == binary_cross_entropy_with_logits",
            np.isclose(composed, fused, rtol=1e-13) and np.isclose(seed, fused, rtol=1e-13))
    loss, grad = sx.binary_cross_entropy_with_logits.value_and_grad(x, y)
    t.check("its gradient is (sigmoid(x) - y) / n, one independent sigmoid per label",
            np.allclose(grad, (sx.sigmoid(x) - y) / y.size, rtol=1e-13, atol=1e-17))
    z = np.array([-800.0, 800.0, 40.0])
    yz = np.array([1.0, 0.0, 1.0])
    with np.errstate(all="ignore"):
        naive_z = -(np.log(_figures.naive_sigmoid(z)) * yz
                    + (1 - yz) * np.log(1 - _figures.naive_sigmoid(z)))
    fused_z = sx.binary_cross_entropy_with_logits(z, yz, reduction="none")
    t.show("per element at logits [-800, 800, 40], targets [1, 0, 1]: naive, with_logits",
           np.stack([naive_z, fused_z]))
    t.check("with logits the loss is exact where the composed pair gives inf "
            "(800, 800, 4.248e-18)",
            np.isinf(naive_z[:2]).all()
            and np.allclose(fused_z, [800.0, 800.0, 4.248354255291589e-18], rtol=1e-15))


def _softmax_back_einsum(da, z):
    """Seed 3's ``softmax_back``: the (m, n, n) Jacobian tensor, then its product with da."""
    m, n = z.shape
    p = sx.softmax(z)
    tensor1 = np.einsum("ij,ik->ijk", p, p)
    tensor2 = np.einsum("ij,jk->ijk", p, np.eye(n, n))
    return np.einsum("ijk,ik->ij", tensor2 - tensor1, da)


def derivatives(t, n_rows=500, n_classes=128):
    """Seed 3: sigmoid', sigmoid_back, the softmax Jacobian, and the O(n) VJP, timed."""
    t.section("7. Derivatives: sigmoid', sigmoid_back, the Jacobian and the O(n) VJP (seed 3)")
    x = np.array([-40.0, -2.0, 0.0, 2.0, 40.0])
    d = sx.sigmoid.derivative(x)
    t.show("sigmoid.derivative(x) for x = [-40, -2, 0, 2, 40]", d)
    a = sx.sigmoid(x)
    t.check("sigmoid' == a (1 - a) (the seed's sigmoid_derivative) where that is accurate",
            np.allclose(d[1:4], (a * (1 - a))[1:4], rtol=1e-15))
    t.check("sigmoid.derivative(40.) == 4.248354255291589e-18, not a (1 - a) = 0",
            d[-1] == 4.248354255291589e-18 and a[-1] * (1 - a[-1]) == 0.0)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 3)) * 3
    da = rng.normal(size=(6, 3))
    a = sx.sigmoid(z)
    t.check("seed 3's sigmoid_back(da, z) = da * a * (1 - a) == sigmoid.vjp(z, da)",
            np.allclose(da * a * (1 - a), sx.sigmoid.vjp(z, da), rtol=1e-14, atol=0))
    t.check("log_sigmoid(x) - log_sigmoid(-x) == x",
            np.allclose(sx.log_sigmoid(x) - sx.log_sigmoid(-x), x, rtol=1e-15, atol=0))
    v = np.array([0.5, 1.0, 2.0])
    jac = sx.softmax.jacobian(v)
    t.show("softmax.jacobian([0.5, 1, 2])", jac)
    p = sx.softmax(v)
    t.check("the Jacobian is diag(p) - p p^T and symmetric",
            np.allclose(jac, np.diag(p) - np.outer(p, p), rtol=1e-15, atol=1e-17)
            and np.array_equal(jac, jac.T))
    t.check("its diagonal is p (1 - p): the sigmoid's derivative again",
            np.allclose(np.diag(jac), p * (1 - p), rtol=1e-15))

    z = rng.normal(size=(n_rows, n_classes))
    da = rng.normal(size=(n_rows, n_classes))
    t0 = time.perf_counter()
    ref = _softmax_back_einsum(da, z)
    t_einsum = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = sx.softmax.vjp(z, da)
    t_vjp = time.perf_counter() - t0
    t.out(table(["method", f"time for ({n_rows}, {n_classes})", "memory"], [
        ["seed 3's einsum Jacobian (m, n, n)", f"{t_einsum * 1e3:.1f} ms",
         f"{n_rows * n_classes * n_classes * 8 * 2 / 2**20:.0f} MiB"],
        ["sx.softmax.vjp, O(n) per row", f"{t_vjp * 1e3:.1f} ms",
         f"{n_rows * n_classes * 8 / 2**20:.1f} MiB"],
    ]))
    t.check("softmax.vjp equals the einsum Jacobian product",
            np.allclose(fast, ref, rtol=1e-12, atol=1e-15))
    t.figure("sigmoid.png", _figures.elementwise, "sigmoid")
