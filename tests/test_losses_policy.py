"""SPEC section 4 (numerical policy) for the classification losses.

One class per rule; each covers the value and ``value_and_grad`` of every loss.
"""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest

import sigmax as sx

INF, NAN = np.inf, np.nan

# Every test runs on both paths: the plain NumPy passes and the compiled
# cross-entropy kernel (the threshold forced to 0; conftest's sigmax_path).
pytestmark = [pytest.mark.usefixtures("sigmax_path"),
              pytest.mark.parametrize("sigmax_path", ["plain", "kernel"], indirect=True,
                                      scope="module")]
bce = sx.binary_cross_entropy
bcel = sx.binary_cross_entropy_with_logits
focal = sx.sigmoid_focal_loss


def _cases(rng, dtype=np.float64):
    """(loss, first argument, target, kwargs) for every loss and its main options."""
    x = (rng.normal(scale=3.0, size=(6, 4))).astype(dtype)
    y = rng.integers(0, 4, size=6)
    q = rng.dirichlet(np.ones(4), size=6)
    p = rng.uniform(0.01, 0.99, size=(6, 4)).astype(dtype)
    lp = np.log(rng.dirichlet(np.ones(4), size=6)).astype(dtype)
    b = (rng.random((6, 4)) < 0.5) * 1.0
    w = rng.uniform(0.5, 2.0, size=4)
    return [
        (sx.cross_entropy, x, y, dict()),
        (sx.cross_entropy, x, y, dict(weight=w, label_smoothing=0.1, reduction="sum")),
        (sx.cross_entropy, x, q, dict(weight=w)),
        (sx.nll_loss, lp, y, dict(weight=w)),
        (bce, p, b, dict(weight=w)),
        (bcel, x, b, dict(pos_weight=w)),
        (focal, x, b, dict()),
    ]


_ids = ["ce", "ce-w-smooth", "ce-probs", "nll", "bce", "bcel", "focal"]


@pytest.mark.parametrize("k", range(7), ids=_ids)
class TestDtypes:
    def test_float64_and_float32_keep_their_dtype(self, rng, k):
        for dtype in (np.float64, np.float32):
            f, x, t, kw = _cases(np.random.default_rng(1), dtype)[k]
            loss, g = f.value_and_grad(x, t, **kw)
            assert loss.dtype == dtype and g.dtype == dtype and g.shape == x.shape
            assert f(x, t, **kw).dtype == dtype
            assert f(x, t, **dict(kw, reduction="none")).dtype == dtype

    @pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16],
                             ids=["float32", "float16", "bfloat16"])
    def test_computed_wide_and_rounded_once(self, k, dtype):
        # float32 sums accumulate in float64; float16/bfloat16 are computed wide and
        # rounded back: the result is the float64 result on the same values, rounded.
        f, x, t, kw = _cases(np.random.default_rng(2), dtype)[k]
        loss, g = f.value_and_grad(x, t, **kw)
        wide_loss, wide_g = f.value_and_grad(x.astype(np.float64), t, **kw)
        assert loss.dtype == dtype and g.dtype == dtype
        assert loss == wide_loss.astype(dtype)
        np.testing.assert_array_equal(g, wide_g.astype(dtype))

    def test_integers_and_bools_become_float64(self, k):
        f, x, t, kw = _cases(np.random.default_rng(3))[k]
        as_int = np.round(x * 4).astype(np.int32) if f is not bce else (x > 0.5)
        loss, g = f.value_and_grad(as_int, t, **kw)
        assert loss.dtype == np.float64 and g.dtype == np.float64
        np.testing.assert_array_equal(loss, f(as_int.astype(np.float64), t, **kw))

    def test_complex_raises(self, k):
        f, x, t, kw = _cases(np.random.default_rng(4))[k]
        with pytest.raises(TypeError, match="must be a real floating-point"):
            f(x.astype(complex), t, **kw)
        with pytest.raises(TypeError, match="must be a real floating-point"):
            f.value_and_grad(x.astype(complex), t, **kw)

    def test_inputs_not_modified(self, k):
        for dtype in (np.float64, np.float32):
            f, x, t, kw = _cases(np.random.default_rng(5), dtype)[k]
            saved = [np.copy(a) for a in (x, t, *kw.values()) if isinstance(a, np.ndarray)]
            f(x, t, **kw)
            f.value_and_grad(x, t, **kw)
            after = [a for a in (x, t, *kw.values()) if isinstance(a, np.ndarray)]
            for a, b in zip(saved, after):
                np.testing.assert_array_equal(a, b)

    def test_python_lists(self, k):
        f, x, t, kw = _cases(np.random.default_rng(6))[k]
        np.testing.assert_array_equal(f(x.tolist(), t.tolist(), **kw), f(x, t, **kw))


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            return call()


class TestNoWarningsAndNoSpuriousNaN:
    def test_cross_entropy_special_rows(self):
        x = np.array([[INF, -40.0, INF], [-INF, -INF, -INF], [NAN, 0.0, 0.0],
                      [1.0, 2.0, -INF], [1e308, -1e308, 0.0], [-1e308, 1e308, -INF]])
        y = np.array([0, 1, 2, 1, 1, 1])
        per, g = _quiet(lambda: sx.cross_entropy.value_and_grad(x, y, reduction="none"))
        # +inf row: log(2) for a target on +inf; all -inf: inf; NaN row: NaN;
        # lse - x = 2e308 overflows to inf (the correctly rounded value).
        np.testing.assert_allclose(per, [np.log(2.0), INF, NAN, 0.31326168751822286, INF, 0.0],
                                   rtol=1e-15)
        # Constant rows (+inf, all -inf) and masked entries have zero gradient; NaN rows NaN.
        np.testing.assert_array_equal(g[[0, 1]], 0.0)
        assert np.isnan(g[2]).all()
        assert g[3, 2] == 0.0 and np.isfinite(g[[3, 4, 5]]).all()

    def test_minus_inf_where_the_target_has_no_mass(self):
        x = np.array([[-INF, 0.0, 1.0], [2.0, -INF, -INF]])
        q = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
        loss, g = _quiet(lambda: sx.cross_entropy.value_and_grad(x, q, reduction="none"))
        assert np.isfinite(loss).all() and loss[1] == 0.0
        np.testing.assert_array_equal(g[:, 0], [0.0, 0.0])
        np.testing.assert_array_equal(g[1], 0.0)
        # ... and with integer targets and smoothing over a weighted-out masked class.
        loss = _quiet(lambda: sx.cross_entropy(x, [2, 0], weight=[1.0, 0.0, 0.0],
                                               label_smoothing=0.1, ignore_index=2))
        assert loss == 0.0  # the only counted target is row 1, at its only class

    def test_label_smoothing_puts_mass_on_masked_classes(self):
        # eps > 0 spreads target mass over every class, so a -inf logit costs inf.
        per = _quiet(lambda: sx.cross_entropy([[0.0, -INF]], [0], label_smoothing=0.1,
                                              reduction="none"))
        assert per[0] == INF

    @pytest.mark.parametrize("f", [bcel, focal], ids=lambda f: f.name)
    def test_elementwise_extremes(self, f):
        x = np.array([INF, -INF, 1e308, -1e308, 0.0, 5e-324, 745.0, -745.0, NAN])
        for y in (0.0, 1.0, 0.5):
            loss, g = _quiet(lambda: f.value_and_grad(x, np.full(9, y), reduction="none"))
            assert np.isnan(loss[-1]) and np.isnan(g[-1])
            assert not np.isnan(loss[:-1]).any() and not np.isnan(g[:-1]).any()
            assert np.isfinite(g[:-1]).all()

    def test_bce_extremes(self):
        p = np.array([0.0, 1.0, 5e-324, 1 - 2**-53, 0.5, NAN])
        for y in (0.0, 1.0, 0.25):
            loss, g = _quiet(lambda: bce.value_and_grad(p, np.full(6, y), reduction="none"))
            assert np.isfinite(loss[:-1]).all() and np.isnan(loss[-1])
            assert np.isfinite(g[:-1]).all() and np.isnan(g[-1])
            assert loss[:-1].max() <= 100.0

    def test_zero_weights_and_infinite_losses(self):
        # 0 * inf = 0: a zero (pos_)weight silences an infinite term.
        loss = _quiet(lambda: bcel([-INF, INF], [1.0, 0.0], weight=[0.0, 0.0], reduction="sum"))
        assert loss == 0.0
        loss = _quiet(lambda: bcel([-INF], [1.0], pos_weight=0.0))
        assert loss == 0.0
        loss = _quiet(lambda: focal([INF, -INF], [0.0, 1.0], alpha=1.0, reduction="none"))
        np.testing.assert_array_equal(loss, [0.0, INF])  # alpha_t = 0 for the negatives


class TestEmpty:
    @pytest.mark.parametrize("reduction, want", [("mean", 0.0), ("sum", 0.0)])
    def test_empty_batch(self, reduction, want):
        loss, g = _quiet(lambda: sx.cross_entropy.value_and_grad(np.zeros((0, 5)),
                                                                 np.zeros(0, int),
                                                                 reduction=reduction))
        assert loss == want and g.shape == (0, 5)
        assert sx.cross_entropy(np.zeros((0, 5)), np.zeros(0, int), reduction="none").shape == (0,)
        loss, g = _quiet(lambda: sx.nll_loss.value_and_grad(np.zeros((0, 5)), np.zeros(0, int)))
        assert loss == 0.0 and g.shape == (0, 5)
        for f in (bce, bcel, focal):
            loss, g = _quiet(lambda: f.value_and_grad(np.zeros((0, 3)), np.zeros((0, 3)),
                                                      reduction=reduction))
            assert loss == want and g.shape == (0, 3)

    def test_no_classes_with_probability_targets(self):
        loss, g = _quiet(lambda: sx.cross_entropy.value_and_grad(np.zeros((3, 0)),
                                                                 np.zeros((3, 0)),
                                                                 reduction="none"))
        np.testing.assert_array_equal(loss, 0.0)
        assert g.shape == (3, 0)

    def test_no_classes_with_every_label_ignored(self):
        loss = _quiet(lambda: sx.cross_entropy(np.zeros((2, 0)), [-1, -1], ignore_index=-1))
        assert loss == 0.0
