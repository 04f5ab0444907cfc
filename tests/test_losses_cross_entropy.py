"""cross_entropy and nll_loss: mpmath references, equivalences, properties, gradients.

SPEC section 4 rules: test_losses_policy.py; messages: test_losses_errors.py;
PyTorch: test_losses_peers.py.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sigmax as sx

from conftest import fd_grad

INF = np.inf

# Every test runs on both paths: the plain NumPy passes and the compiled
# cross-entropy kernel (the threshold forced to 0; conftest's sigmax_path).
pytestmark = [pytest.mark.usefixtures("sigmax_path"),
              pytest.mark.parametrize("sigmax_path", ["plain", "kernel"], indirect=True,
                                      scope="module")]

# ---------------------------------------------------------------------------
# References: mpmath at 50 digits on the exact binary inputs, rounded once with
# float().  The snippets (defined below and rerun by test_references_regenerate):
#
#   import mpmath as mp; mp.mp.dps = 50
#   def mp_lse(z):   # max + log1p(rest)
#       z = [mp.mpf(v) for v in z]; k = z.index(max(z))
#       return z[k] + mp.log1p(mp.fsum(mp.exp(v - z[k]) for i, v in enumerate(z) if i != k))
#   def mp_cross_entropy(x, y, w=None, eps=0.0):       # PyTorch's definition
#       c = len(x); w = w or [1] * c; lse = mp_lse(x); nll = [lse - mp.mpf(v) for v in x]
#       return (1 - eps) * w[y] * nll[y] + eps / c * mp.fsum(w[i] * nll[i] for i in range(c))
#   def mp_ce_grad(x, y, w=None, eps=0.0):             # a p - b onehot - eps/C w
#       p = [mp.exp(v - mp_lse(x)) for v in x]; a = (1 - eps) w[y] + eps / c * sum(w)
#       return [a p[i] - (1 - eps) w[y] [i == y] - eps / c w[i] for i in range(c)]
#   def mp_cross_entropy_probs(x, q, w=None, eps=0.0):  # 0 log 0 = 0
#       q' = (1 - eps) q + eps / c; lse over the finite x
#       return mp.fsum(w[i] q'[i] (lse - x[i]) for i with w[i] q'[i] != 0)


def mp_lse(z):
    with mp.workdps(50):
        z = [mp.mpf(v) for v in z]
        k = z.index(max(z))
        return z[k] + mp.log1p(mp.fsum(mp.exp(v - z[k]) for i, v in enumerate(z) if i != k))


def mp_cross_entropy(x, y, w=None, eps=0.0):
    with mp.workdps(50):
        c = len(x)
        w = [1] * c if w is None else w
        lse = mp_lse(x)
        nll = [lse - mp.mpf(v) for v in x]
        return ((1 - mp.mpf(eps)) * mp.mpf(w[y]) * nll[y]
                + mp.mpf(eps) / c * mp.fsum(mp.mpf(w[i]) * nll[i] for i in range(c)))


def mp_ce_grad(x, y, w=None, eps=0.0):
    with mp.workdps(50):
        c = len(x)
        w = [1] * c if w is None else w
        lse = mp_lse(x)
        p = [mp.exp(mp.mpf(v) - lse) for v in x]
        a = (1 - mp.mpf(eps)) * w[y] + mp.mpf(eps) / c * sum(w)
        return [a * p[i] - (1 - mp.mpf(eps)) * w[y] * (i == y) - mp.mpf(eps) / c * w[i]
                for i in range(c)]


def mp_cross_entropy_probs(x, q, w=None, eps=0.0):
    with mp.workdps(50):
        c = len(x)
        w = [1] * c if w is None else w
        lse = mp_lse([v for v in x if v != -INF])
        qs = [(1 - mp.mpf(eps)) * mp.mpf(v) + mp.mpf(eps) / c for v in q]
        return mp.fsum(mp.mpf(w[i]) * qs[i] * (lse - mp.mpf(x[i])) for i in range(c)
                       if qs[i] * w[i] != 0)


# (x, y, weight, label_smoothing, loss, gradient); loss = float(mp_cross_entropy(x, y, w, eps)),
# gradient = [float(v) for v in mp_ce_grad(x, y, w, eps)].
LABEL_REFERENCES = [
    ([1000.0, 0.0], 1, None, 0.0, 1000.0, [1.0, -1.0]),  # exactly 1000: exp(1000) overflows
    ([0.0, -40.0], 0, None, 0.0, 4.248354255291589e-18,
     [-4.248354255291589e-18, 4.248354255291589e-18]),  # log1p(e^-40); p - 1 without cancellation
    ([0.0, -745.0], 0, None, 0.0, 5e-324, [0.0, 5e-324]),  # the smallest subnormal loss
    ([1.0, 2.0, 3.0], 0, None, 0.0, 2.40760596444438,
     [-0.9099694268296196, 0.24472847105479764, 0.6652409557748219]),
    ([3.0, -3.0, 0.125, 10.5], 2, None, 0.1, 10.122460486783377,
     [-0.024447239358662262, -0.02499862984335711, -0.9249688153785461, 0.9744146845805655]),
    ([0.5, -1.5, 2.0], 1, [0.2, 3.0, 1.5], 0.25, 9.371493746720141,
     [0.45362979287877014, -2.436352295442242, 1.982722502563472]),
    ([1e6, 1e6 + 1], 0, None, 0.0, 1.3132616875182228, [-0.7310585786300049, 0.7310585786300049]),
    ([709.0, -709.0, 0.0], 2, None, 1.0, 709.0,
     [0.6666666666666666, -0.3333333333333333, -0.3333333333333333]),  # uniform target
    ([1e308, -1e308], 0, None, 0.0, 0.0, [0.0, 0.0]),  # x - max overflows
    ([-1e308, -5e307], 0, None, 0.0, 5e307, [-1.0, 1.0]),
]

# (x, q, weight, label_smoothing, loss); loss = float(mp_cross_entropy_probs(x, q, w, eps)).
PROB_REFERENCES = [
    ([1.0, 2.0, 3.0], [0.2, 0.3, 0.5], None, 0.0, 1.1076059644443803),
    ([-INF, 0.0, 1.0], [0.0, 0.5, 0.5], None, 0.0, 0.8132616875182228),  # 0 log 0 at -inf
    ([0.0, -40.0], [1.0, 0.0], None, 0.0, 4.248354255291589e-18),
    ([2.0, -1.0, 0.5], [0.7, 0.1, 0.2], [1.0, 2.0, 0.5], 0.3, 1.4533768614900149),
    ([1000.0, 0.0, -1000.0], [0.0, 1.0, 0.0], None, 0.0, 1000.0),
]


def test_references_regenerate():
    for x, y, w, eps, loss, grad in LABEL_REFERENCES:
        assert float(mp_cross_entropy(x, y, w, eps)) == loss, x
        assert [float(v) for v in mp_ce_grad(x, y, w, eps)] == grad, x
    for x, q, w, eps, loss in PROB_REFERENCES:
        assert float(mp_cross_entropy_probs(x, q, w, eps)) == loss, x


def _ce(x, y, w, eps, **kw):
    return sx.cross_entropy.value_and_grad(np.array([x]), np.array([y]), weight=w,
                                           label_smoothing=eps, reduction="sum", **kw)


class TestMpmathReferences:
    @pytest.mark.parametrize("x, y, w, eps, loss, grad", LABEL_REFERENCES)
    def test_integer_targets(self, x, y, w, eps, loss, grad):
        got, g = _ce(x, y, w, eps)
        assert got.dtype == np.float64
        np.testing.assert_array_max_ulp(got, np.float64(loss), maxulp=2)
        assert float(sx.cross_entropy([x], [y], weight=w, label_smoothing=eps,
                                      reduction="sum")) == float(got)
        np.testing.assert_allclose(g[0], grad, rtol=4e-16, atol=1e-300)

    @pytest.mark.parametrize("x, q, w, eps, loss", PROB_REFERENCES)
    def test_probability_targets(self, x, q, w, eps, loss):
        got, _ = _ce(x, q, w, eps)
        np.testing.assert_array_max_ulp(got, np.float64(loss), maxulp=2)

    def test_issue_closed_forms(self):
        assert sx.cross_entropy([[1000.0, 0.0]], [1]) == 1000.0
        assert sx.cross_entropy([[1000.0, 0.0]], [0]) == 0.0
        # Ties: log(n) exactly rounded.
        assert sx.cross_entropy(np.zeros((1, 4)), [3]) == np.log(4.0)

    def test_float32_references(self):
        # x32 = [1000, 999.5, 0]: loss = float32(mp_cross_entropy(x32, 1)) = 0.974077
        x = np.array([[1000.0, 999.5, 0.0]], dtype=np.float32)
        got = sx.cross_entropy(x, [1])
        assert got.dtype == np.float32
        want = np.float32(float(mp_cross_entropy([1000.0, 999.5, 0.0], 1)))
        np.testing.assert_array_max_ulp(got, want, maxulp=1)


# ---------------------------------------------------------------------------
# Equivalences and properties.

def _batch(rng, shape=(6, 5), scale=3.0):
    x = rng.normal(scale=scale, size=shape)
    y = rng.integers(0, shape[-1], size=shape[:-1])
    return x, y


def _onehot(y, n):
    return np.eye(n)[y]


class TestEquivalences:
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    @pytest.mark.parametrize("eps", [0.0, 0.2])
    def test_integer_and_one_hot_targets_agree(self, rng, reduction, eps):
        x, y = _batch(rng)
        kw = dict(reduction=reduction, label_smoothing=eps)
        li, gi = sx.cross_entropy.value_and_grad(x, y, **kw)
        lq, gq = sx.cross_entropy.value_and_grad(x, _onehot(y, 5), **kw)
        np.testing.assert_allclose(li, lq, rtol=1e-14)
        np.testing.assert_allclose(gi, gq, rtol=1e-14, atol=1e-16)

    def test_weighted_one_hot_sum_agrees(self, rng):
        # With weights the two 'mean's differ by convention (weight sum vs N); 'sum' agrees.
        x, y = _batch(rng)
        w = rng.uniform(0.1, 3.0, size=5)
        li, gi = sx.cross_entropy.value_and_grad(x, y, weight=w, reduction="sum")
        lq, gq = sx.cross_entropy.value_and_grad(x, _onehot(y, 5), weight=w, reduction="sum")
        np.testing.assert_allclose(li, lq, rtol=1e-14)
        np.testing.assert_allclose(gi, gq, rtol=1e-14, atol=1e-15)
        mean_i = sx.cross_entropy(x, y, weight=w)
        mean_q = sx.cross_entropy(x, _onehot(y, 5), weight=w)
        np.testing.assert_allclose(mean_i, li / w[y].sum(), rtol=1e-14)
        np.testing.assert_allclose(mean_q, lq / 6, rtol=1e-14)

    @pytest.mark.parametrize("prob", [False, True], ids=["labels", "probs"])
    def test_axis_1_is_moveaxis(self, rng, prob):
        x = rng.normal(size=(2, 4, 3, 5))
        y = rng.integers(0, 4, size=(2, 3, 5))
        t = np.moveaxis(_onehot(y, 4), -1, 1) * 0.9 + 0.025 if prob else y
        tl = np.moveaxis(t, 1, -1) if prob else y
        for reduction in ("none", "mean"):
            l1, g1 = sx.cross_entropy.value_and_grad(x, t, axis=1, reduction=reduction)
            l2, g2 = sx.cross_entropy.value_and_grad(np.moveaxis(x, 1, -1), tl,
                                                     reduction=reduction)
            np.testing.assert_allclose(l1, l2, rtol=1e-15)
            np.testing.assert_allclose(g1, np.moveaxis(g2, -1, 1), rtol=1e-15, atol=1e-17)
            assert g1.shape == x.shape

    def test_axis_0_and_negative_axes(self, rng):
        x, y = _batch(rng, (5, 7))
        l0 = sx.cross_entropy(x.T, y, axis=0, reduction="none")
        np.testing.assert_array_equal(l0, sx.cross_entropy(x, y, axis=-1, reduction="none"))
        np.testing.assert_array_equal(l0, sx.cross_entropy(x.T, y, axis=-2, reduction="none"))

    def test_one_dimensional_logits(self):
        # A single example: logits (C,), target a scalar label.
        loss, grad = sx.cross_entropy.value_and_grad(np.array([1.0, 2.0, 3.0]), 0)
        assert loss == sx.cross_entropy([[1.0, 2.0, 3.0]], [0])
        np.testing.assert_allclose(grad, sx.softmax([1.0, 2.0, 3.0]) - [1, 0, 0], rtol=1e-15)

    def test_is_nll_of_log_softmax(self, rng):
        x, y = _batch(rng)
        y[1] = -1
        w = rng.uniform(0.5, 2.0, size=5)
        kw = dict(weight=w, ignore_index=-1)
        np.testing.assert_allclose(sx.cross_entropy(x, y, **kw),
                                   sx.nll_loss(sx.log_softmax(x), y, **kw), rtol=1e-14)

    @pytest.mark.parametrize("eps", [0.0, 0.3])
    def test_gradient_is_the_log_softmax_vjp(self, rng, eps):
        # d/dx sum(-wq * log_softmax(x)): the fused gradient is this vjp.
        x, y = _batch(rng)
        w = rng.uniform(0.5, 2.0, size=5)
        wq = ((1 - eps) * _onehot(y, 5) + eps / 5) * w
        _, g = sx.cross_entropy.value_and_grad(x, _onehot(y, 5), weight=w, label_smoothing=eps,
                                               reduction="sum")
        np.testing.assert_allclose(g, sx.log_softmax.vjp(x, -wq), rtol=1e-13, atol=1e-15)

    def test_big_blocks_and_awkward_shapes(self, rng):
        # Rows that no block size divides, several leading axes, a long class axis.
        for shape, axis in [((3, 7, 1500), -1), ((2, 2500, 5), 1), ((40001, 3), -1),
                            ((1, 9000), -1), ((3, 4, 5, 6), 2)]:
            x = rng.normal(size=shape)
            moved = np.moveaxis(x, axis, -1)
            y = rng.integers(0, shape[axis], size=moved.shape[:-1])
            loss, g = sx.cross_entropy.value_and_grad(x, y, axis=axis, reduction="sum")
            # The naive formulas are fine on tame inputs.
            e = np.exp(moved - moved.max(axis=-1, keepdims=True))
            want = e / e.sum(axis=-1, keepdims=True) - _onehot(y, shape[axis])
            np.testing.assert_allclose(np.moveaxis(g, axis, -1), want, rtol=1e-13, atol=1e-16)
            lse = np.log(np.exp(moved).sum(axis=-1))
            x_y = np.take_along_axis(moved, y[..., None], -1)[..., 0]
            np.testing.assert_allclose(loss, np.sum(lse - x_y), rtol=1e-12)


_logit_rows = hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
                         elements=st.floats(-300, 300))


class TestProperties:
    @settings(max_examples=50, deadline=None)
    @given(_logit_rows, st.data())
    def test_nonnegative_shift_invariant_and_sums(self, x, data):
        n, c = x.shape
        y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
        eps = data.draw(st.sampled_from([0.0, 0.1, 1.0]))
        per, g = sx.cross_entropy.value_and_grad(x, y, label_smoothing=eps, reduction="none")
        assert np.all(per >= 0)
        shifted = sx.cross_entropy(x + 17.0, y, label_smoothing=eps, reduction="none")
        np.testing.assert_allclose(shifted, per, rtol=1e-12, atol=1e-12)
        # softmax and the (smoothed) target both sum to 1: each gradient row sums to 0.
        np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-14)
        assert np.all(np.abs(g) <= 1.0)
        np.testing.assert_allclose(sx.cross_entropy(x, y, label_smoothing=eps, reduction="sum"),
                                   per.sum(), rtol=1e-14)

    @settings(max_examples=50, deadline=None)
    @given(_logit_rows, st.data())
    def test_value_and_grad_value_is_the_call(self, x, data):
        n, c = x.shape
        y = np.array(data.draw(st.lists(st.integers(-1, c - 1), min_size=n, max_size=n)))
        w = data.draw(hnp.arrays(np.float64, c, elements=st.floats(0, 5)))
        kw = dict(weight=w, ignore_index=-1, reduction=data.draw(st.sampled_from(
            ["mean", "sum", "none"])))
        loss, _ = sx.cross_entropy.value_and_grad(x, y, **kw)
        np.testing.assert_array_equal(loss, sx.cross_entropy(x, y, **kw))

    @settings(max_examples=30, deadline=None)
    @given(_logit_rows, st.data())
    def test_probability_target_loss_is_at_least_its_entropy(self, x, data):
        # Gibbs: -sum q log p >= -sum q log q.
        q = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0.01, 1.0)))
        q = q / q.sum(axis=1, keepdims=True)
        per = sx.cross_entropy(x, q, reduction="none")
        entropy = -np.sum(q * np.log(q), axis=1)
        assert np.all(per >= entropy - 1e-9 * (1 + np.abs(per)))


class TestTargetsOptions:
    def test_weighted_mean_divides_by_counted_weights(self):
        x = np.array([[1.0, 2.0, 0.0], [0.5, 0.5, 0.5], [3.0, -1.0, 2.0]])
        y = np.array([2, 0, -100])
        w = np.array([0.5, 2.0, 4.0])
        per = sx.cross_entropy(x, y, weight=w, ignore_index=-100, reduction="none")
        assert per[2] == 0.0
        lp = sx.log_softmax(x)
        np.testing.assert_allclose(per[:2], [-4.0 * lp[0, 2], -0.5 * lp[1, 0]], rtol=1e-15)
        np.testing.assert_allclose(sx.cross_entropy(x, y, weight=w, ignore_index=-100),
                                   per.sum() / 4.5, rtol=1e-15)

    @pytest.mark.parametrize("w", [None, [1.0, 2.0, 3.0]])
    @pytest.mark.parametrize("eps", [0.0, 0.4])
    def test_every_target_ignored(self, w, eps):
        x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
        y = np.array([7, 7])
        loss, g = sx.cross_entropy.value_and_grad(x, y, ignore_index=7, weight=w,
                                                  label_smoothing=eps)
        assert loss == 0.0 and loss.dtype == np.float64
        np.testing.assert_array_equal(g, 0.0)
        np.testing.assert_array_equal(
            sx.cross_entropy(x, y, ignore_index=7, reduction="none"), [0.0, 0.0])

    def test_ignored_rows_have_zero_gradient(self, rng):
        x, y = _batch(rng)
        y[[0, 3]] = -100
        _, g = sx.cross_entropy.value_and_grad(x, y, ignore_index=-100, label_smoothing=0.2)
        np.testing.assert_array_equal(g[[0, 3]], 0.0)
        keep = y != -100
        _, g_kept = sx.cross_entropy.value_and_grad(x[keep], y[keep], label_smoothing=0.2)
        np.testing.assert_allclose(g[keep], g_kept, rtol=1e-15, atol=1e-17)

    def test_ignore_index_inside_the_class_range(self, rng):
        x, y = _batch(rng)
        per = sx.cross_entropy(x, y, ignore_index=2, reduction="none")
        np.testing.assert_array_equal(per[y == 2], 0.0)
        np.testing.assert_array_equal(per[y != 2],
                                      sx.cross_entropy(x, y, reduction="none")[y != 2])

    def test_label_smoothing_mixes_with_uniform(self, rng):
        x, y = _batch(rng)
        eps = 0.3
        want = (1 - eps) * sx.cross_entropy(x, y, reduction="none") + eps * \
            sx.cross_entropy(x, np.full(x.shape, 1 / 5), reduction="none")
        np.testing.assert_allclose(sx.cross_entropy(x, y, label_smoothing=eps,
                                                    reduction="none"), want, rtol=1e-14)
        q = rng.dirichlet(np.ones(5), size=6)
        np.testing.assert_allclose(
            sx.cross_entropy(x, q, label_smoothing=eps),
            sx.cross_entropy(x, (1 - eps) * q + eps / 5), rtol=1e-14)

    def test_unnormalised_probability_targets_are_linear(self, rng):
        # Rows not summing to 1 are used as given: the loss is linear in q.
        x, _ = _batch(rng)
        q = rng.uniform(0, 2, size=x.shape)
        per = sx.cross_entropy(x, q, reduction="none")
        np.testing.assert_allclose(sx.cross_entropy(x, 3 * q, reduction="none"), 3 * per,
                                   rtol=1e-14)
        np.testing.assert_allclose(per, -np.sum(q * sx.log_softmax(x), axis=1), rtol=1e-13)

    def test_zero_class_weight_with_minus_inf_logit(self):
        # 0 * inf = 0: a class without weight takes no part, even where its logit is -inf.
        x = np.array([[0.0, 1.0, -INF]])
        loss, g = sx.cross_entropy.value_and_grad(x, [1], weight=[1.0, 1.0, 0.0],
                                                  label_smoothing=0.5)
        lp = sx.log_softmax(x[0, :2])
        # (1 - eps) w_y nll_y + eps / C sum_c w_c nll_c, over the weight w_y = 1
        np.testing.assert_allclose(loss, -(2 / 3 * lp[1] + 1 / 6 * lp[0]), rtol=1e-15)
        assert g[0, 2] == 0.0 and np.all(np.isfinite(g))


# ---------------------------------------------------------------------------
# Gradients against central finite differences (float64).

FD_CASES = [
    # (shape, axis, kwargs, prob)
    ((4, 5), -1, dict(), False),
    ((4, 5), -1, dict(reduction="sum"), False),
    ((4, 5), -1, dict(reduction="none"), False),
    ((4, 5), -1, dict(weight="w"), False),
    ((4, 5), -1, dict(ignore_index=-100), False),
    ((4, 5), -1, dict(label_smoothing=0.25), False),
    ((4, 5), -1, dict(weight="w", ignore_index=-100, label_smoothing=0.3), False),
    ((2, 3, 2, 2), 1, dict(weight="w", label_smoothing=0.1), False),
    ((4, 5), -1, dict(), True),
    ((4, 5), -1, dict(weight="w", label_smoothing=0.2), True),
    ((2, 3, 4), 0, dict(weight="w", reduction="sum"), True),
]


@pytest.mark.parametrize("shape, axis, kwargs, prob", FD_CASES)
def test_cross_entropy_gradient_matches_finite_differences(shape, axis, kwargs, prob):
    rng = np.random.default_rng(sum(shape) + 7 * len(kwargs))
    x = rng.normal(scale=2.0, size=shape)
    n = shape[axis]
    kw = dict(kwargs, axis=axis)
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.2, 3.0, size=n)
    if prob:
        t = rng.dirichlet(np.ones(n), size=np.moveaxis(x, axis, -1).shape[:-1])
        t = np.moveaxis(t, -1, axis)
    else:
        t = rng.integers(0, n, size=np.moveaxis(x, axis, -1).shape[:-1])
        if "ignore_index" in kw:
            t.reshape(-1)[::3] = kw["ignore_index"]
    loss, g = sx.cross_entropy.value_and_grad(x, t, **kw)
    want = fd_grad(lambda z: float(np.sum(sx.cross_entropy(z, t, **kw))), x, eps=1e-6)
    np.testing.assert_allclose(g, want, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(loss, sx.cross_entropy(x, t, **kw))


@pytest.mark.parametrize("kwargs", [dict(), dict(weight="w"), dict(ignore_index=1),
                                    dict(weight="w", ignore_index=-1, reduction="sum"),
                                    dict(reduction="none"), dict(axis=0)])
def test_nll_loss_gradient_matches_finite_differences(kwargs):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 4))
    kw = dict(kwargs)
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.2, 3.0, size=4 if kw.get("axis", -1) == -1 else 5)
    n_classes = a.shape[kw.get("axis", -1)]
    y = rng.integers(0, n_classes, size=a.shape[1 - (kw.get("axis", -1) % 2)])
    if "ignore_index" in kw:
        y[::2] = kw["ignore_index"]
    loss, g = sx.nll_loss.value_and_grad(a, y, **kw)
    want = fd_grad(lambda z: float(np.sum(sx.nll_loss(z, y, **kw))), a, eps=1e-6)
    np.testing.assert_allclose(g, want, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(loss, sx.nll_loss(a, y, **kw))


class TestNLLLoss:
    def test_values(self):
        a = np.array([[-0.5, -1.0, -2.0], [-3.0, -0.25, -1.5]])
        assert sx.nll_loss(a, [2, 1]) == (2.0 + 0.25) / 2
        assert sx.nll_loss(a, [2, 1], weight=[1.0, 3.0, 0.5]) == (0.5 * 2.0 + 3.0 * 0.25) / 3.5
        np.testing.assert_array_equal(sx.nll_loss(a, [2, 9], ignore_index=9, reduction="none"),
                                      [2.0, 0.0])

    def test_gradient_is_minus_weighted_onehot(self):
        a = np.zeros((3, 4))
        loss, g = sx.nll_loss.value_and_grad(a, [1, 3, 0], weight=[2.0, 1.0, 1.0, 4.0],
                                             reduction="sum")
        np.testing.assert_array_equal(g, -np.array([[0, 1, 0, 0], [0, 0, 0, 4], [2, 0, 0, 0]]))

    def test_every_target_ignored(self):
        loss, g = sx.nll_loss.value_and_grad(np.zeros((2, 3)), [-1, -1], ignore_index=-1)
        assert loss == 0.0
        np.testing.assert_array_equal(g, 0.0)

    def test_class_axis_1(self, rng):
        a = rng.normal(size=(2, 3, 4))
        y = rng.integers(0, 3, size=(2, 4))
        l1, g1 = sx.nll_loss.value_and_grad(a, y, axis=1, reduction="none")
        l2, g2 = sx.nll_loss.value_and_grad(np.moveaxis(a, 1, -1), y, reduction="none")
        np.testing.assert_array_equal(l1, l2)
        np.testing.assert_array_equal(g1, np.moveaxis(g2, -1, 1))

    def test_minus_inf_log_probability(self):
        # Zero probability on the target: infinite loss, finite gradient; zero weight: 0.
        a = np.array([[-INF, 0.0], [-INF, 0.0]])
        loss, g = sx.nll_loss.value_and_grad(a, [0, 1], reduction="none")
        np.testing.assert_array_equal(loss, [INF, 0.0])
        np.testing.assert_array_equal(g, [[-1.0, 0.0], [0.0, -1.0]])
        assert sx.nll_loss(a, [0, 1], weight=[0.0, 1.0], reduction="sum") == 0.0
