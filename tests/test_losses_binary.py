"""binary_cross_entropy, binary_cross_entropy_with_logits and sigmoid_focal_loss.

mpmath references (values and derivatives), closed forms from the issue, sibling
identities, hypothesis properties and finite-difference gradients.  SPEC section
4 rules: test_losses_policy.py; messages: test_losses_errors.py; PyTorch and
torchvision's formula: test_losses_peers.py.
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
bce = sx.binary_cross_entropy
bcel = sx.binary_cross_entropy_with_logits
focal = sx.sigmoid_focal_loss

# ---------------------------------------------------------------------------
# References: mpmath at (at least) 50 digits, rounded once with float().  The
# derivatives are mp.diff of the same functions (hence workdps(max(dps, 50)):
# mp.diff raises the precision and the functions must keep it).  Snippets:
#
#   def mp_bce(p, y):   # PyTorch clamps each log at -100
#       lp = max(log p, -100) (-100 at p = 0); lq = max(log(1 - p), -100) (-100 at p = 1)
#       return -(y lp + (1 - y) lq)
#   def mp_bce_logits(x, y, pw=1):
#       return pw y log1p(exp(-x)) + (1 - y) log1p(exp(x))
#   def mp_focal(x, y, alpha=0.25, gamma=2):   # torchvision.ops.sigmoid_focal_loss
#       p = 1 / (1 + exp(-x)); u = p (1 - y) + (1 - p) y    # u = 1 - p_t
#       a = 1 if alpha < 0 else alpha y + (1 - alpha)(1 - y)
#       return a * mp_bce_logits(x, y) * u**gamma
#   loss = float(f(*args)); grad = float(mp.diff(lambda t: f(t, *args[1:]), args[0]))


def _dps():
    return mp.workdps(max(mp.mp.dps, 50))


def mp_bce(p, y):
    with _dps():
        p, y = mp.mpf(p), mp.mpf(y)
        lp = max(mp.log(p), -100) if p > 0 else mp.mpf(-100)
        lq = max(mp.log(1 - p), -100) if p < 1 else mp.mpf(-100)
        return -(y * lp + (1 - y) * lq)


def mp_bce_logits(x, y, pw=1.0):
    with _dps():
        x, y, pw = mp.mpf(x), mp.mpf(y), mp.mpf(pw)
        return pw * y * mp.log1p(mp.exp(-x)) + (1 - y) * mp.log1p(mp.exp(x))


def mp_focal(x, y, alpha=0.25, gamma=2.0):
    with _dps():
        x, y = mp.mpf(x), mp.mpf(y)
        p = 1 / (1 + mp.exp(-x))
        u = p * (1 - y) + (1 - p) * y
        a = 1 if alpha < 0 else alpha * y + (1 - mp.mpf(alpha)) * (1 - y)
        return a * mp_bce_logits(x, y) * u ** mp.mpf(gamma)


def mp_grad(f, x, *args):
    with _dps():
        return mp.diff(lambda t: f(t, *args), mp.mpf(x))


# (args, loss, d loss / d first argument)
BCE_LOGITS_REFERENCES = [
    ((-100.0, 0.0), 3.720075976020836e-44, 3.720075976020836e-44),  # -100 + softplus(100) is 0
    ((-120.0, 1.0, 3.0), 360.0, -3.0),                               # pos_weight 3
    ((40.0, 1.0), 4.248354255291589e-18, -4.248354255291589e-18),
    ((800.0, 0.0), 800.0, 1.0),
    ((0.5, 0.3), 0.8240769841801067, 0.32245933120185455),           # a soft label
    ((-745.0, 0.0), 5e-324, 5e-324),
    ((2.5, 0.25, 2.0), 1.973612167865687, 0.6551772749734456),
    ((-3.0, 1.0, 0.5), 1.524293675786871, -0.4762870634112166),      # pos_weight < 1
]
BCE_REFERENCES = [
    ((0.8, 1.0), 0.2231435513142097, -1.25),
    ((1e-30, 0.0), 1e-30, 1.0),                          # log1p(-p), not log(1 - p)
    ((1 - 2**-53, 1.0), 1.1102230246251565e-16, -1.0000000000000002),
    ((0.3, 0.6), 0.8650536601710546, -1.4285714285714286),
    ((0.25, 0.0), 0.2876820724517809, 1.3333333333333333),
    ((1e-20, 1.0), 46.051701859880914, -1e20),          # above the clamp: the exact 1/p
]
FOCAL_REFERENCES = [
    ((2.0, 1.0), 0.00045089070881009386, -0.0012177350488481917),
    ((40.0, 1.0, -1, 2.0), 7.667648073722e-53, -2.3002944221165997e-52),  # (1 - p)^2 in log space
    ((-3.0, 0.0), 8.196249337274815e-05, 0.00023615388486621097),
    ((0.5, 0.3, 0.5, 1.5), 0.16760115320914673, 0.10862898639720256),      # a soft label
    ((-30.0, 1.0, 0.25, 0.5), 7.499999999999672, -0.2500000000003158),     # gamma < 1
    ((5.0, 0.0, 0.9, 3.0), 0.4906859065355731, 0.1072018793318015),
    ((1.0, 1.0, 0.25, 0.0), 0.0783154218795557, -0.06723535534249878),     # gamma 0: alpha BCE
]


def test_references_regenerate():
    for f, refs in [(mp_bce_logits, BCE_LOGITS_REFERENCES), (mp_bce, BCE_REFERENCES),
                    (mp_focal, FOCAL_REFERENCES)]:
        for args, loss, grad in refs:
            assert float(f(*args)) == loss, args
            assert float(mp_grad(f, *args)) == grad, args


def _call(f, args):
    """(loss, grad) of a scalar case, unpacking the optional keyword arguments."""
    names = {bcel: ("pos_weight",), focal: ("alpha", "gamma"), bce: ()}[f]
    kw = dict(zip(names, args[2:]))
    return f.value_and_grad(args[0], args[1], **kw), f(args[0], args[1], **kw)


ALL_REFERENCES = ([(bcel, *r) for r in BCE_LOGITS_REFERENCES] + [(bce, *r) for r in BCE_REFERENCES]
                  + [(focal, *r) for r in FOCAL_REFERENCES])


@pytest.mark.parametrize("f, args, loss, grad", ALL_REFERENCES,
                         ids=[f"{c[0].name}{c[1]}" for c in ALL_REFERENCES])
def test_mpmath_references(f, args, loss, grad):
    (got, g), value = _call(f, args)
    assert value == got
    assert got.dtype == np.float64 and g.dtype == np.float64
    np.testing.assert_array_max_ulp(got, np.float64(loss), maxulp=4)
    np.testing.assert_allclose(g, grad, rtol=2e-15, atol=1e-300)


@pytest.mark.parametrize("f, args, loss, grad", ALL_REFERENCES[:len(BCE_LOGITS_REFERENCES)])
def test_float32_rounds_once(f, args, loss, grad):
    x32 = float(np.float32(args[0]))
    want = np.float32(float(mp_bce_logits(x32, *args[1:])))
    got = bcel(np.float32(args[0]), args[1], pos_weight=args[2] if len(args) > 2 else None)
    assert got.dtype == np.float32
    np.testing.assert_array_max_ulp(got, want, maxulp=1)


class TestClosedForms:
    def test_issue_values(self):
        loss, g = bcel.value_and_grad(-120.0, 1.0, pos_weight=3.0)
        assert loss == 360.0 and g == -3.0
        # The true value; the issue text's 3.7200779397888662e-44 is not mpmath's.
        assert bcel(-100.0, 0.0) == 3.720075976020836e-44

    def test_limits_are_exact(self):
        x = np.array([INF, -INF, INF, -INF, INF])
        y = np.array([1.0, 1.0, 0.0, 0.0, 0.5])
        loss, g = bcel.value_and_grad(x, y, reduction="none")
        np.testing.assert_array_equal(loss, [0.0, INF, INF, 0.0, INF])
        np.testing.assert_array_equal(g, [0.0, -1.0, 1.0, 0.0, 0.5])
        loss, g = bcel.value_and_grad(x, y, pos_weight=2.0, weight=0.5, reduction="none")
        np.testing.assert_array_equal(loss, [0.0, INF, INF, 0.0, INF])
        np.testing.assert_array_equal(g, [0.0, -1.0, 0.5, 0.0, 0.25])

    def test_focal_limits(self):
        x = np.array([INF, -INF, INF, -INF])
        y = np.array([1.0, 1.0, 0.0, 0.0])
        loss, g = focal.value_and_grad(x, y, alpha=0.25, gamma=2.0, reduction="none")
        np.testing.assert_array_equal(loss, [0.0, INF, INF, 0.0])
        # The limits of the derivative: -alpha_t on the wrong side, 0 on the right one.
        np.testing.assert_array_equal(g, [0.0, -0.25, 0.75, 0.0])
        loss, g = focal.value_and_grad(x, y, gamma=0.5, alpha=-1, reduction="none")
        np.testing.assert_array_equal(g, [0.0, -1.0, 1.0, 0.0])

    def test_bce_clamps_like_pytorch(self):
        p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50])
        y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
        loss, g = bce.value_and_grad(p, y, reduction="none")
        np.testing.assert_array_equal(loss, [100.0, 100.0, 0.0, 0.0, 100.0])
        # The clamped log is flat: its derivative is 0 there (documented).
        np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, -1.0, 0.0])

    def test_bce_outside_the_domain_is_nan(self):
        loss, g = bce.value_and_grad([-0.5, 1.5, 0.5], [1.0, 0.0, 1.0], reduction="none")
        np.testing.assert_array_equal(np.isnan(loss), [True, True, False])
        np.testing.assert_array_equal(np.isnan(g), [True, True, False])


# ---------------------------------------------------------------------------
# Sibling identities and properties.

_logits = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
                     elements=st.floats(-60, 60))


class TestProperties:
    @settings(max_examples=40, deadline=None)
    @given(_logits, st.data())
    def test_logits_form_is_bce_of_sigmoid(self, x, data):
        y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0, 1)))
        x = np.clip(x, -10, 10)  # where 1 - sigmoid(x) keeps most of its digits
        np.testing.assert_allclose(bcel(x, y, reduction="none"),
                                   bce(sx.sigmoid(x), y, reduction="none"),
                                   rtol=1e-10, atol=1e-14)

    @settings(max_examples=40, deadline=None)
    @given(_logits, st.data())
    def test_two_class_softmax_is_the_sigmoid(self, x, data):
        # cross_entropy over [0, x] with label 1 is BCE-with-logits of x with label 1.
        y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0, 1)))
        two = np.stack([np.zeros_like(x), x], axis=-1)
        q = np.stack([1 - y, y], axis=-1)
        ce, g2 = sx.cross_entropy.value_and_grad(two, q, reduction="none")
        b, g = bcel.value_and_grad(x, y, reduction="none")
        np.testing.assert_allclose(ce, b, rtol=1e-13, atol=1e-300)
        # sigma(x) - y cancels for soft y near sigma(x): compare absolutely there.
        np.testing.assert_allclose(g2[..., 1], g, rtol=1e-13, atol=1e-16)

    @settings(max_examples=40, deadline=None)
    @given(_logits, st.data())
    def test_focal_is_bounded_by_bce(self, x, data):
        y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.sampled_from([0.0, 1.0])))
        gamma = data.draw(st.sampled_from([0.0, 0.5, 2.0, 5.0]))
        fl = focal(x, y, alpha=-1, gamma=gamma, reduction="none")
        b = bcel(x, y, reduction="none")
        assert np.all(fl <= b * (1 + 1e-15))
        assert np.all(fl >= 0)
        if gamma == 0:
            np.testing.assert_allclose(fl, b, rtol=1e-15)
        alpha = focal(x, y, alpha=0.25, gamma=gamma, reduction="none")
        np.testing.assert_allclose(alpha, np.where(y == 1, 0.25, 0.75) * fl, rtol=1e-15)

    def test_pos_weight_one_is_no_pos_weight(self, rng):
        x, y = rng.normal(size=(4, 3)), rng.random((4, 3))
        np.testing.assert_array_equal(bcel(x, y, pos_weight=np.ones(3)), bcel(x, y))

    def test_pos_weight_scales_the_positive_term(self, rng):
        x, y = rng.normal(size=(4, 3)), (rng.random((4, 3)) < 0.5) * 1.0
        pw = np.array([1.0, 2.0, 5.0])
        per = bcel(x, y, pos_weight=pw, reduction="none")
        np.testing.assert_allclose(per, np.where(y == 1, pw, 1.0) * bcel(x, y, reduction="none"),
                                   rtol=1e-15)

    @pytest.mark.parametrize("f", [bce, bcel, focal], ids=lambda f: f.name)
    def test_reductions(self, rng, f):
        x = rng.uniform(0.05, 0.95, size=(3, 4))
        y = rng.random((3, 4))
        per = f(x, y, reduction="none")
        assert per.shape == (3, 4)
        np.testing.assert_allclose(f(x, y, reduction="sum"), per.sum(), rtol=1e-15)
        np.testing.assert_allclose(f(x, y), per.mean(), rtol=1e-15)
        _, g_none = f.value_and_grad(x, y, reduction="none")
        _, g_mean = f.value_and_grad(x, y)
        np.testing.assert_allclose(g_mean, g_none / 12, rtol=1e-15)


# ---------------------------------------------------------------------------
# Gradients against central finite differences (float64).

FD_CASES = [
    (bce, dict()),
    (bce, dict(weight="row", reduction="sum")),
    (bce, dict(weight="full", reduction="none")),
    (bcel, dict()),
    (bcel, dict(weight="row")),
    (bcel, dict(pos_weight="row", reduction="sum")),
    (bcel, dict(weight="col", pos_weight="row", reduction="none")),
    (focal, dict()),
    (focal, dict(alpha=-1, gamma=0.5, reduction="sum")),
    (focal, dict(alpha=0.6, gamma=3.0, reduction="none")),
    (focal, dict(alpha=0.25, gamma=0.0)),
]


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("f, kwargs", FD_CASES,
                         ids=[f"{f.name}-{'-'.join(kw)}" for f, kw in FD_CASES])
def test_gradient_matches_finite_differences(f, kwargs, soft):
    rng = np.random.default_rng(11)
    shape = (4, 3)
    x = rng.uniform(0.05, 0.95, size=shape) if f is bce else rng.normal(scale=2.0, size=shape)
    y = rng.random(shape) if soft else (rng.random(shape) < 0.5) * 1.0
    kw = dict(kwargs)
    sizes = {"row": (3,), "col": (4, 1), "full": shape}
    for name in ("weight", "pos_weight"):
        if name in kw:
            kw[name] = rng.uniform(0.2, 3.0, size=sizes[kw[name]])
    loss, g = f.value_and_grad(x, y, **kw)
    h = 1e-7 if f is bce else 1e-6
    want = fd_grad(lambda z: float(np.sum(f(z, y, **kw))), x, eps=h)
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(loss, f(x, y, **kw))
    assert g.shape == shape


class TestCompiledSigmoids:
    """Large blocks take the float64 sigmoid kernel for the gradients."""

    @pytest.mark.parametrize("f, kw", [(sx.binary_cross_entropy_with_logits, {}),
                                       (sx.binary_cross_entropy_with_logits,
                                        {"pos_weight": np.linspace(0.5, 2.0, 1000)}),
                                       (sx.sigmoid_focal_loss, {}),
                                       (sx.sigmoid_focal_loss, {"gamma": 0.0})])
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_same_as_the_plain_core(self, f, kw, dtype, monkeypatch):
        from sigmax import _dispatch

        glue = _dispatch.kernels()
        if glue is None:  # pragma: no cover - numba missing
            pytest.skip("no compiled kernels")
        rng = np.random.default_rng(41)
        x = rng.normal(scale=8, size=(24, 1000)).astype(dtype)
        x[0, :6] = [np.inf, -np.inf, 0.0, -0.0, 800.0, -800.0]
        y = (rng.random(x.shape) < 0.3).astype(dtype)
        calls = []
        real = glue.sigmoid_float64
        monkeypatch.setattr(glue, "sigmoid_float64", lambda a: (calls.append(a.size), real(a))[1])
        loss, grad = f.value_and_grad(x, y, reduction="none", **kw)
        assert calls and min(calls) >= _dispatch.threshold("elementwise")
        with _dispatch.plain_only():
            ploss, pgrad = f.value_and_grad(x, y, reduction="none", **kw)
        np.testing.assert_array_equal(loss, ploss)  # the values take no sigmoid
        # Each gradient is (1 - y) s(x) - a s(-x): one sigmoid is within 1 ULP of
        # the plain one, and the product and difference round as on the plain path.
        np.testing.assert_array_max_ulp(grad, pgrad, maxulp=2)
