"""sigmoid, log_sigmoid, softplus and logit: mpmath references, identities, peers.

Derivatives: test_elementwise_derivatives.py; SPEC section 4 rules:
test_elementwise_policy.py; error messages: test_elementwise_errors.py; the
ULP measurement over whole ranges: test_accuracy.py.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from accuracy import (mp_log_sigmoid, mp_log_sigmoid_derivative, mp_logit,
                      mp_logit_derivative, mp_sigmoid, mp_sigmoid_derivative, mp_softplus)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sigmax as sx

# ---------------------------------------------------------------------------
# References: mpmath at 50 significant digits on the exact binary input,
# rounded once with float() (then np.float32 for the float32 rows).  The
# snippet (the functions live in tests/accuracy.py, which measures with them):
#
#   import mpmath as mp; mp.mp.dps = 50
#   def mp_sigmoid(x): return 1 / (1 + mp.exp(-x))
#   def mp_log_sigmoid(x): return -mp.log1p(mp.exp(-x))
#   def mp_softplus(x): return mp.log1p(mp.exp(x))
#   def mp_logit(p): return mp.log(p) - mp.log1p(-p)        # +-inf at 1 and 0
#   def mp_sigmoid_derivative(x): t = mp.exp(-abs(x)); return t / (1 + t)**2
#   def mp_log_sigmoid_derivative(x): return mp_sigmoid(-x)
#   def mp_logit_derivative(p): return 1 / (p * (1 - p))     # inf at 0 and 1
#   # softplus.derivative is mp_sigmoid.
#   float(MP[name](mp.mpf(x)))                               # a float64 row
#   float(np.float32(float(MP[name](mp.mpf(x32)))))          # a float32 row
#
# test_references_regenerate recomputes every literal from these functions.

MP = {
    "sigmoid": mp_sigmoid, "log_sigmoid": mp_log_sigmoid, "softplus": mp_softplus,
    "logit": mp_logit, "sigmoid.derivative": mp_sigmoid_derivative,
    "log_sigmoid.derivative": mp_log_sigmoid_derivative, "softplus.derivative": mp_sigmoid,
    "logit.derivative": mp_logit_derivative,
}

REFERENCES_64 = [
    ("sigmoid", -1e308, 0.0),
    ("sigmoid", -745.0, 5e-324),  # the smallest subnormal, not 0
    ("sigmoid", -744.5, 5e-324),
    ("sigmoid", -709.0, 1.216780750623423e-308),  # subnormal
    ("sigmoid", -40.0, 4.248354255291589e-18),
    ("sigmoid", -0.3, 0.425557483188341),
    ("sigmoid", 0.0, 0.5),
    ("sigmoid", 1e-300, 0.5),
    ("sigmoid", 0.7, 0.668187772168166),
    ("sigmoid", 2.5, 0.9241418199787564),
    ("sigmoid", 36.0, 0.9999999999999998),
    ("sigmoid", 40.0, 1.0),  # 1 - 4.2e-18 rounds to 1
    ("sigmoid", 710.0, 1.0),
    ("log_sigmoid", -1e308, -1e308),
    ("log_sigmoid", -1000.0, -1000.0),  # log(sigmoid(x)) would be -inf
    ("log_sigmoid", -40.0, -40.0),
    ("log_sigmoid", -1.0, -1.3132616875182228),
    ("log_sigmoid", 0.0, -0.6931471805599453),
    ("log_sigmoid", 1e-08, -0.6931471755599453),
    ("log_sigmoid", 2.0, -0.1269280110429725),
    ("log_sigmoid", 40.0, -4.248354255291589e-18),  # not 0
    ("log_sigmoid", 709.0, -1.216780750623423e-308),
    ("log_sigmoid", 745.0, -5e-324),
    ("softplus", -745.0, 5e-324),
    ("softplus", -740.0, 4.2e-322),
    ("softplus", -40.0, 4.248354255291589e-18),
    ("softplus", -1e-08, 0.6931471755599453),
    ("softplus", 0.0, 0.6931471805599453),
    ("softplus", 0.5, 0.9740769841801067),
    ("softplus", 36.0, 36.0),
    ("softplus", 40.0, 40.0),
    ("softplus", 1000.0, 1000.0),  # log(1 + exp(x)) would be inf
    ("softplus", 1e308, 1e308),
    ("logit", 5e-324, -744.4400719213812),  # subnormal p
    ("logit", 2.2250738585072014e-308, -708.3964185322641),
    ("logit", 1e-300, -690.7755278982137),
    ("logit", 1e-05, -11.512915464920228),
    ("logit", 0.1, -2.197224577336219),
    ("logit", 0.25, -1.0986122886681098),
    ("logit", 0.3, -0.8472978603872037),
    ("logit", 0.5 - 2**-54, -2.220446049250313e-16),  # the float just below 1/2
    ("logit", 0.5, 0.0),
    ("logit", 0.5 + 2**-53, 4.440892098500626e-16),  # the float just above 1/2
    ("logit", 0.75, 1.0986122886681098),
    ("logit", 0.9, 2.1972245773362196),
    ("logit", 1 - 2**-53, 36.7368005696771),  # the float just below 1
    ("sigmoid.derivative", -745.0, 5e-324),
    ("sigmoid.derivative", -40.0, 4.248354255291589e-18),
    ("sigmoid.derivative", -3.9e-07, 0.2499999999999905),
    ("sigmoid.derivative", 0.0, 0.25),
    ("sigmoid.derivative", 1.5, 0.14914645207033286),
    ("sigmoid.derivative", 40.0, 4.248354255291589e-18),  # SPEC section 3: not 0
    ("sigmoid.derivative", 700.0, 9.85967654375977e-305),
    ("log_sigmoid.derivative", -40.0, 1.0),
    ("log_sigmoid.derivative", 0.0, 0.5),
    ("log_sigmoid.derivative", 3.0, 0.04742587317756678),
    ("log_sigmoid.derivative", 40.0, 4.248354255291589e-18),
    ("log_sigmoid.derivative", 745.0, 5e-324),
    ("softplus.derivative", -745.0, 5e-324),
    ("softplus.derivative", -40.0, 4.248354255291589e-18),
    ("softplus.derivative", 0.0, 0.5),
    ("softplus.derivative", 3.0, 0.9525741268224333),
    ("softplus.derivative", 40.0, 1.0),
    ("logit.derivative", 5e-324, np.inf),  # 1 / (p (1 - p)) beyond the largest float
    ("logit.derivative", 1e-300, 9.999999999999999e+299),
    ("logit.derivative", 1e-05, 100001.00001000009),
    ("logit.derivative", 0.25, 5.333333333333333),
    ("logit.derivative", 0.5, 4.0),
    ("logit.derivative", 0.75, 5.333333333333333),
    ("logit.derivative", 1 - 2**-53, 9007199254740994.0),
]

REFERENCES_32 = [  # the inputs are float32 values, written as the float64 they equal
    ("sigmoid", -103.5, 1.401298464324817e-45),  # the smallest float32 subnormal
    ("sigmoid", -88.0, 6.054601485195952e-39),
    ("sigmoid", -17.0, 4.139937459513021e-08),
    ("sigmoid", 0.10000000149011612, 0.5249791741371155),
    ("sigmoid", 17.0, 0.9999999403953552),
    ("log_sigmoid", -100.0, -100.0),
    ("log_sigmoid", -0.10000000149011612, -0.7443966865539551),
    ("log_sigmoid", 17.0, -4.139937459513021e-08),
    ("log_sigmoid", 88.0, -6.054601485195952e-39),
    ("softplus", -103.5, 1.401298464324817e-45),
    ("softplus", -17.0, 4.139937459513021e-08),
    ("softplus", 0.10000000149011612, 0.7443966865539551),
    ("softplus", 100.0, 100.0),
    ("logit", 1.401298464324817e-45, -103.2789306640625),
    ("logit", 9.999999682655225e-21, -46.051700592041016),
    ("logit", 0.30000001192092896, -0.8472977876663208),
    ("logit", 0.5000000596046448, 2.384185791015625e-07),
    ("logit", 0.9999999403953552, 16.63553237915039),
    ("sigmoid.derivative", -103.5, 1.401298464324817e-45),
    ("sigmoid.derivative", -17.0, 4.139937459513021e-08),
    ("sigmoid.derivative", 0.0, 0.25),
    ("sigmoid.derivative", 17.0, 4.139937459513021e-08),
    ("log_sigmoid.derivative", -17.0, 0.9999999403953552),
    ("log_sigmoid.derivative", 17.0, 4.139937459513021e-08),
    ("log_sigmoid.derivative", 100.0, 3.783505853677006e-44),
    ("softplus.derivative", -103.5, 1.401298464324817e-45),
    ("softplus.derivative", 17.0, 0.9999999403953552),
    ("logit.derivative", 9.999999682655225e-21, 1.0000000200408773e+20),
    ("logit.derivative", 0.30000001192092896, 4.761904716491699),
    ("logit.derivative", 0.9999999403953552, 16777218.0),
]


def method(name):
    """``sx.sigmoid`` for "sigmoid", ``sx.sigmoid.derivative`` for "sigmoid.derivative"."""
    fname, _, meth = name.partition(".")
    f = getattr(sx, fname)
    return getattr(f, meth) if meth else f


def test_references_regenerate():
    with mp.workdps(50):
        for name, x, want in REFERENCES_64:
            assert float(MP[name](mp.mpf(x))) == want, (name, x)
        for name, x, want in REFERENCES_32:
            assert float(np.float32(x)) == x, (name, x)
            assert float(np.float32(float(MP[name](mp.mpf(x))))) == want, (name, x)


class TestMpmathReferences:
    """Within 1 ULP (SPEC section 4), one input at a time and all at once."""

    @pytest.mark.parametrize("dtype, name, x, want",
                             [(np.float64, *r) for r in REFERENCES_64]
                             + [(np.float32, *r) for r in REFERENCES_32],
                             ids=[f"float64-{n}({x!r})" for n, x, _ in REFERENCES_64]
                             + [f"float32-{n}({x!r})" for n, x, _ in REFERENCES_32])
    def test_scalar(self, dtype, name, x, want):
        got = method(name)(dtype(x))
        assert type(got) is dtype
        np.testing.assert_array_max_ulp(got, dtype(want), maxulp=1)

    @pytest.mark.parametrize("name", list(MP))
    def test_arrays_agree_with_scalars(self, name):
        rows = [(x, w) for n, x, w in REFERENCES_64 if n == name]
        x, want = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
        np.testing.assert_array_max_ulp(method(name)(x), want, maxulp=1)
        np.testing.assert_array_equal(method(name)(x), [method(name)(v) for v in x])


# ---------------------------------------------------------------------------
# Identities (hypothesis).  Tolerances: each side is within an ULP of its
# exact value, so a sum or difference of two of them is within
# eps * (|a| + |b|) plus its own rounding.

EPS = np.finfo(np.float64).eps
_reals = st.floats(allow_nan=False, allow_infinity=False)
_moderate = st.floats(-700.0, 700.0, allow_nan=False)
_arrays = hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=6), elements=_reals)


class TestIdentities:
    @settings(max_examples=100, deadline=None)
    @given(_arrays)
    def test_log_sigmoid_is_minus_softplus_of_minus_x(self, x):
        np.testing.assert_array_equal(sx.log_sigmoid(x), -sx.softplus(-x))

    @pytest.mark.parametrize("f", [sx.log_sigmoid, sx.softplus], ids=lambda f: f.name)
    @settings(max_examples=100, deadline=None)
    @given(x=_arrays)
    def test_difference_at_x_and_minus_x_is_x(self, f, x):
        # log_sigmoid(x) - log_sigmoid(-x) = x = softplus(x) - softplus(-x).
        a, b = f(x), f(-x)
        finite = np.isfinite(a) & np.isfinite(b)
        err = np.abs(np.where(finite, a - b, x) - x)
        assert np.all(err <= 2 * EPS * (np.abs(a) + np.abs(b)) + 5e-324)

    @settings(max_examples=100, deadline=None)
    @given(_arrays)
    def test_sigmoid_of_x_and_minus_x_sum_to_one(self, x):
        np.testing.assert_allclose(sx.sigmoid(x) + sx.sigmoid(-x), 1.0, rtol=0, atol=2 * EPS)

    @settings(max_examples=100, deadline=None)
    @given(st.floats(-700.0, 0.0))
    def test_logit_inverts_sigmoid_below_one_half(self, x):
        # sigma(x) < 1/2 has full relative accuracy, so logit gets x back to
        # eps (1 + |x|): the rounding of sigma(x) moves logit by <= 2 eps/2.
        back = sx.logit(sx.sigmoid(x))
        assert abs(back - x) <= EPS * (1 + abs(x))

    @settings(max_examples=100, deadline=None)
    @given(st.floats(1e-300, 1.0))
    def test_sigmoid_inverts_logit(self, p):
        # logit(p) has relative error eps/2; sigma' / sigma = 1 - sigma <= 1.
        np.testing.assert_allclose(sx.sigmoid(sx.logit(p)), p, rtol=EPS * (2 + abs(np.log(p))))

    @settings(max_examples=100, deadline=None)
    @given(hnp.arrays(np.float64, st.integers(1, 8), elements=_moderate))
    def test_sigmoid_derivative_is_sigmoid_times_sigmoid_of_minus_x(self, x):
        np.testing.assert_allclose(sx.sigmoid.derivative(x), sx.sigmoid(x) * sx.sigmoid(-x),
                                   rtol=4 * EPS)

    @settings(max_examples=100, deadline=None)
    @given(_arrays)
    def test_derivatives_of_log_sigmoid_and_softplus_are_sigmoids(self, x):
        np.testing.assert_array_equal(sx.log_sigmoid.derivative(x), sx.sigmoid(-x))
        np.testing.assert_array_equal(sx.softplus.derivative(x), sx.sigmoid(x))

    @settings(max_examples=100, deadline=None)
    @given(hnp.arrays(np.float64, st.integers(2, 20), elements=_reals))
    def test_monotone_and_bounded(self, x):
        x = np.sort(x)
        s, ls, sp = sx.sigmoid(x), sx.log_sigmoid(x), sx.softplus(x)
        assert np.all(np.diff(s) >= 0) and np.all(np.diff(ls) >= 0) and np.all(np.diff(sp) >= 0)
        assert np.all((s >= 0) & (s <= 1)) and np.all(ls <= 0)
        assert np.all(sp >= np.maximum(x, 0.0))
        lp = sx.logit(np.sort(sx.sigmoid(x)))
        assert np.all(np.diff(lp[np.isfinite(lp)]) >= 0)

    @settings(max_examples=100, deadline=None)
    @given(hnp.arrays(np.float32, st.integers(1, 8),
                      elements=st.floats(-200, 200, width=32)))
    def test_float32_is_the_float64_result_rounded_once(self, x):
        for f in (sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.sigmoid.derivative):
            np.testing.assert_array_equal(f(x), f(x.astype(np.float64)).astype(np.float32))


class TestSiblings:
    """Cross-checks with the softmax family (STYLE: sibling APIs agree)."""

    def test_sigmoid_is_a_two_way_softmax(self, rng):
        x = rng.normal(size=50) * 10
        pair = np.stack([x, np.zeros_like(x)], axis=-1)
        np.testing.assert_array_max_ulp(sx.sigmoid(x), sx.softmax(pair)[:, 0], maxulp=2)
        np.testing.assert_array_max_ulp(sx.log_sigmoid(x), sx.log_softmax(pair)[:, 0], maxulp=2)
        np.testing.assert_array_max_ulp(sx.softplus(x), sx.logsumexp(pair), maxulp=2)

    def test_first_seed_batch(self):
        # torch.sigmoid of the first seed's batch, printed to 4 decimals there.
        x = np.array([[-0.3, -0.7], [0.3, 0.7], [1.1, -0.7], [-1.1, 0.7]])
        np.testing.assert_array_equal(np.round(sx.sigmoid(x), 4),
                                      [[0.4256, 0.3318], [0.5744, 0.6682],
                                       [0.7503, 0.3318], [0.2497, 0.6682]])


class TestPeers:
    """SciPy and PyTorch agree on tame inputs (within their own accuracy, 2 ULP)."""

    X = np.linspace(-30.0, 30.0, 241)
    P = np.linspace(0.001, 0.999, 241)

    def test_scipy(self):
        special = pytest.importorskip("scipy.special")
        np.testing.assert_array_max_ulp(sx.sigmoid(self.X), special.expit(self.X), maxulp=2)
        np.testing.assert_array_max_ulp(sx.log_sigmoid(self.X), special.log_expit(self.X),
                                        maxulp=2)
        np.testing.assert_array_max_ulp(sx.logit(self.P), special.logit(self.P), maxulp=2)

    def test_pytorch(self):
        torch = pytest.importorskip("torch")
        F = torch.nn.functional
        x, p = torch.from_numpy(self.X), torch.from_numpy(self.P)
        np.testing.assert_array_max_ulp(sx.sigmoid(self.X), torch.sigmoid(x).numpy(), maxulp=2)
        np.testing.assert_array_max_ulp(sx.log_sigmoid(self.X), F.logsigmoid(x).numpy(),
                                        maxulp=2)
        # F.softplus returns x itself above its threshold 20; compare below it.
        tame = self.X < 20
        np.testing.assert_array_max_ulp(sx.softplus(self.X[tame]),
                                        F.softplus(x[torch.from_numpy(tame)]).numpy(), maxulp=2)
        # torch.logit is log(p / (1 - p)): 16 ULP off near 1/2, an absolute 4 eps.
        np.testing.assert_allclose(sx.logit(self.P), torch.logit(p).numpy(), rtol=2 * EPS,
                                   atol=4 * EPS)
