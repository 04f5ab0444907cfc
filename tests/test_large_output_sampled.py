"""sampled_softmax_loss, negative_sampling_loss and their samplers.

References: the losses written out in NumPy from the same draw (the samplers
are replayed from the seed), mpmath literals of the log-uniform
probabilities, finite differences in float64 at a fixed seed, chi-square tests
of the samplers, the full-softmax limit of the sampled gradient, SPEC section 4
and pinned error messages.
"""

from __future__ import annotations

import re
import warnings

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import sigmax as sx
from sigmax._samplers import Categorical, LogUniform, Uniform, check_seed

from conftest import fd_grad

ssl, nsl = sx.sampled_softmax_loss, sx.negative_sampling_loss


def raises(exc, *parts):
    return pytest.raises(exc, match="^" + ".*".join(re.escape(p) for p in parts))


def problem(rng, n=6, h=4, v=50):
    return (rng.normal(size=(n, h)), rng.normal(size=(v, h)), rng.normal(size=v),
            rng.integers(0, v, n))


def np_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


# ---------------------------------------------------------------------------
# Samplers.
#
# Log-uniform probabilities, mpmath at 50 digits:
#   import mpmath as mp; mp.mp.dps = 50
#   Q = lambda k, V: (mp.log(k + 2) - mp.log(k + 1)) / mp.log(V + 1)
#   float(mp.log(Q(k, V)))
LOG_UNIFORM_REFERENCES = [
    # (k, V, log Q(k))
    (0, 10, -1.2411043035053533),  # float(mp.log(Q(0, 10)))
    (9, 10, -3.2252100384369835),  # float(mp.log(Q(9, 10)))
    (0, 131072, -2.833213991517634),  # float(mp.log(Q(0, 131072)))
    (131071, 131072, -14.250206955140179),  # float(mp.log(Q(131071, 131072)))
    (10**9, 10**9 + 1, -23.754522861127096),  # float(mp.log(Q(10**9, 10**9 + 1)))
]


def _mp_log_q(k, v):
    with mp.workdps(50):
        return float(mp.log((mp.log(k + 2) - mp.log(k + 1)) / mp.log(v + 1)))


class TestSamplers:
    def test_references_regenerate(self):
        for k, v, want in LOG_UNIFORM_REFERENCES:
            assert _mp_log_q(k, v) == want

    @pytest.mark.parametrize("k, v, want", LOG_UNIFORM_REFERENCES)
    def test_log_uniform_log_prob(self, k, v, want):
        np.testing.assert_array_max_ulp(LogUniform(v).log_prob(k), np.float64(want), maxulp=4)

    @pytest.mark.parametrize("v", [1, 2, 7, 1000])
    def test_log_uniform_sums_to_one(self, v):
        np.testing.assert_allclose(np.exp(LogUniform(v).log_prob(np.arange(v))).sum(), 1.0,
                                   rtol=1e-12)

    @pytest.mark.parametrize("sampler, v", [(LogUniform(50), 50), (Uniform(30), 30),
                                            (Categorical(np.arange(20.0) ** 0.75), 20)],
                             ids=["log_uniform", "uniform", "probabilities"])
    def test_chi_square_of_1e5_draws(self, sampler, v):
        draws = sampler.draw(np.random.default_rng(12345), 10**5)
        assert draws.dtype == np.intp and draws.min() >= 0 and draws.max() < v
        expected = 1e5 * np.exp(sampler.log_prob(np.arange(v)))
        observed = np.bincount(draws, minlength=v)
        keep = expected > 0
        # Classes of probability 0 are never drawn.
        assert observed[~keep].sum() == 0
        _, p = stats.chisquare(observed[keep], expected[keep] * 1e5 / expected[keep].sum())
        assert p > 1e-3, p

    def test_chi_square_detects_a_wrong_distribution(self):
        # The test above can fail: uniform draws judged against log-uniform.
        draws = Uniform(50).draw(np.random.default_rng(12345), 10**5)
        expected = 1e5 * np.exp(LogUniform(50).log_prob(np.arange(50)))
        _, p = stats.chisquare(np.bincount(draws, minlength=50), expected)
        assert p < 1e-100

    def test_log_uniform_tail_of_a_large_range(self):
        # V = 10**9: the inversion reaches the top classes; the mean log-class matches.
        draws = LogUniform(10**9).draw(np.random.default_rng(7), 10**5)
        assert draws.max() < 10**9 and draws.max() > 10**7
        # P(k >= K) = 1 - log(K + 1) / log(V + 1).
        for big in (10, 1000, 10**6):
            want = 1 - np.log(big + 1) / np.log(10**9 + 1)
            assert abs(np.mean(draws >= big) - want) < 5 * np.sqrt(want * (1 - want) / 1e5)

    def test_seed(self):
        g = np.random.default_rng(3)
        assert check_seed(g, "f") is g
        a = LogUniform(100).draw(check_seed(5, "f"), 20)
        np.testing.assert_array_equal(a, LogUniform(100).draw(check_seed(5, "f"), 20))
        assert isinstance(check_seed(None, "f"), np.random.Generator)


# ---------------------------------------------------------------------------
# sampled_softmax_loss.

def sampled_reference(h, W, b, t, num_sampled, sampler, seed, remove=True):
    """TensorFlow's sampled softmax written out, from the same draw."""
    cand = sampler.draw(np.random.default_rng(seed), num_sampled)
    x_t = np.sum(h * W[t], axis=1) + b[t] - np.log(num_sampled * np.exp(sampler.log_prob(t)))
    x_s = h @ W[cand].T + b[cand] - np.log(num_sampled * np.exp(sampler.log_prob(cand)))
    if remove:
        x_s = np.where(cand[None, :] == t[:, None], -np.inf, x_s)
    z = np.concatenate([x_t[:, None], x_s], axis=1)
    m = z.max(axis=1, keepdims=True)
    return np.log(np.sum(np.exp(z - m), axis=1)) + m[:, 0] - x_t


class TestSampledSoftmax:
    @pytest.mark.parametrize("sampler", ["log_uniform", "uniform", "probs"])
    @pytest.mark.parametrize("remove", [True, False])
    def test_against_reference(self, rng, sampler, remove):
        h, W, b, t = problem(rng, n=7, v=30)
        spec = rng.uniform(0.5, 2.0, 30) if sampler == "probs" else sampler
        smp = (Categorical(spec) if sampler == "probs" else
               {"log_uniform": LogUniform(30), "uniform": Uniform(30)}[sampler])
        got = ssl(h, W, t, bias=b, num_sampled=25, sampler=spec, seed=11,
                  remove_accidental_hits=remove, reduction="none")
        want = sampled_reference(h, W, b, t, 25, smp, 11, remove)
        np.testing.assert_allclose(got, want, rtol=1e-13)
        assert np.isclose(ssl(h, W, t, bias=b, num_sampled=25, sampler=spec, seed=11,
                              remove_accidental_hits=remove), want.mean(), rtol=1e-13)

    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    @pytest.mark.parametrize("with_bias", [True, False])
    def test_finite_differences(self, rng, reduction, with_bias):
        h, W, b, t = problem(rng, n=5, h=3, v=12)
        b = b if with_bias else None
        kw = dict(num_sampled=8, seed=4, reduction=reduction)

        def total(hh, ww, bb):  # 'none' differentiates the sum of the losses
            return float(np.sum(ssl(hh, ww, t, bias=bb, **kw)))

        loss, (dh, dw, db) = ssl.value_and_grad(h, W, t, bias=b, **kw)
        np.testing.assert_allclose(np.sum(loss), total(h, W, b), rtol=1e-15)
        np.testing.assert_allclose(dh, fd_grad(lambda x: total(x, W, b), h), atol=1e-8)
        np.testing.assert_allclose(dw, fd_grad(lambda x: total(h, x, b), W), atol=1e-8)
        if with_bias:
            np.testing.assert_allclose(db, fd_grad(lambda x: total(h, W, x), b), atol=1e-8)
        else:
            assert db is None

    def test_weight_gradient_touches_only_scored_rows(self, rng):
        h, W, b, t = problem(rng, n=4, v=500)
        cand = LogUniform(500).draw(np.random.default_rng(9), 16)
        _, (_, dw, db) = ssl.value_and_grad(h, W, t, bias=b, num_sampled=16, seed=9)
        touched = np.zeros(500, bool)
        touched[t] = touched[cand] = True
        np.testing.assert_array_equal(dw[~touched], 0.0)
        np.testing.assert_array_equal(db[~touched], 0.0)

    def test_gradient_tends_to_the_full_softmax(self, rng):
        # With the logQ correction and no hit removal, the softmax over the samples
        # is self-normalised importance sampling: as S grows, d_hidden tends to the
        # full cross-entropy's.
        h, W, b, t = problem(rng, n=3, h=4, v=20)
        q = rng.uniform(0.2, 1.0, 20)
        _, (dh, dw, _) = ssl.value_and_grad(h, W, t, bias=b, num_sampled=400_000, sampler=q,
                                            remove_accidental_hits=False, seed=1)
        x = h @ W.T + b
        _, dx = sx.cross_entropy.value_and_grad(x, t)
        np.testing.assert_allclose(dh, dx @ W, atol=5e-3)
        np.testing.assert_allclose(dw, dx.T @ h, atol=5e-3)

    def test_accidental_hits_are_removed(self):
        # A sampler that only draws the target: every candidate is a hit, the
        # softmax is over the true class alone, the loss is 0 and so is the gradient.
        h, W = np.ones((2, 2)), np.arange(6.0).reshape(3, 2)
        q = np.array([0.0, 1.0, 0.0])
        loss, (dh, dw, _) = ssl.value_and_grad(h, W, [1, 1], num_sampled=5, sampler=q, seed=0)
        assert loss == 0.0
        np.testing.assert_array_equal(dh, 0.0)
        np.testing.assert_array_equal(dw, 0.0)
        kept = ssl(h, W, [1, 1], num_sampled=5, sampler=q, seed=0,
                   remove_accidental_hits=False)
        np.testing.assert_allclose(kept, np.log(6.0))  # 1 + 5 equal corrected logits

    def test_seed_reproducible_and_generator(self, rng):
        h, W, b, t = problem(rng)
        a = ssl(h, W, t, num_sampled=10, seed=3)
        assert a == ssl(h, W, t, num_sampled=10, seed=3)
        assert a != ssl(h, W, t, num_sampled=10, seed=4)
        assert a == ssl(h, W, t, num_sampled=10, seed=np.random.default_rng(3))
        assert a == ssl.value_and_grad(h, W, t, num_sampled=10, seed=3)[0]

    def test_no_overflow_and_dtypes(self, rng):
        h, W, b, t = problem(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss, (dh, dw, db) = ssl.value_and_grad(
                (h * 1e3).astype(np.float32), (W * 1e3).astype(np.float32), t,
                bias=b.astype(np.float32), num_sampled=10, seed=0)
        assert np.isfinite(loss) and loss.dtype == np.float32
        assert dh.dtype == dw.dtype == db.dtype == np.float32
        assert np.isfinite(dh).all() and np.isfinite(dw).all()

    def test_inputs_not_modified(self, rng):
        h, W, b, t = problem(rng)
        copies = [a.copy() for a in (h, W, b, t)]
        ssl.value_and_grad(h, W, t, bias=b, num_sampled=7, seed=1)
        for a, c in zip((h, W, b, t), copies):
            np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------
# negative_sampling_loss.

def negative_reference(h, W, b, t, k, sampler, seed):
    neg = sampler.draw(np.random.default_rng(seed), (len(t), k))
    s_pos = np.sum(h * W[t], axis=1) + b[t]
    s_neg = np.einsum("nh,nkh->nk", h, W[neg]) + b[neg]
    live = neg != t[:, None]
    return -np_log_sigmoid(s_pos) - np.sum(np.where(live, np_log_sigmoid(-s_neg), 0.0), axis=1)


class TestNegativeSampling:
    @pytest.mark.parametrize("noise", [None, "probs", "log_uniform"])
    def test_against_reference(self, rng, noise):
        h, W, b, t = problem(rng, n=9, v=15)
        q = rng.uniform(0.0, 1.0, 15) ** 0.75
        spec = q if noise == "probs" else noise
        smp = {None: Uniform(15), "probs": Categorical(q), "log_uniform": LogUniform(15)}[noise]
        got = nsl(h, W, t, bias=b, num_negatives=6, noise=spec, seed=2, reduction="none")
        np.testing.assert_allclose(got, negative_reference(h, W, b, t, 6, smp, 2), rtol=1e-13)

    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_finite_differences(self, rng, reduction):
        h, W, b, t = problem(rng, n=5, h=3, v=8)
        kw = dict(num_negatives=5, seed=6, reduction=reduction)

        def total(hh, ww, bb):
            return float(np.sum(nsl(hh, ww, t, bias=bb, **kw)))

        _, (dh, dw, db) = nsl.value_and_grad(h, W, t, bias=b, **kw)
        np.testing.assert_allclose(dh, fd_grad(lambda x: total(x, W, b), h), atol=1e-8)
        np.testing.assert_allclose(dw, fd_grad(lambda x: total(h, x, b), W), atol=1e-8)
        np.testing.assert_allclose(db, fd_grad(lambda x: total(h, W, x), b), atol=1e-8)

    def test_row_blocks_do_not_change_the_result(self, rng, monkeypatch):
        import sigmax._sampled_losses as mod

        h, W, b, t = problem(rng, n=11, v=20)
        want, want_g = nsl.value_and_grad(h, W, t, bias=b, num_negatives=3, seed=1)
        monkeypatch.setattr(mod, "_BLOCK_BUDGET", 8 * 3 * 4 * 2)  # two rows per block
        got, got_g = nsl.value_and_grad(h, W, t, bias=b, num_negatives=3, seed=1)
        assert got == want
        for a, c in zip(got_g, want_g):  # the scatter-adds group the sums differently
            np.testing.assert_allclose(a, c, rtol=1e-14, atol=1e-16)

    def test_large_scores_are_exact(self):
        # -log s(1000) = 0 (well, 0 + e^-1000) and -log s(-1000) = 1000: no overflow.
        h = np.array([[1.0]])
        W = np.array([[1000.0], [-1000.0], [1000.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ok = nsl(h, W, [0], num_negatives=3, noise=[0.0, 1.0, 0.0], seed=0)
            bad = nsl(h, W, [1], num_negatives=1, noise=[0.0, 0.0, 1.0], seed=0)
        assert ok == 0.0 and bad == 2000.0

    @settings(max_examples=25, deadline=None)
    @given(st.integers(1, 6), st.integers(1, 4), st.integers(2, 12), st.integers(1, 5),
           st.integers(0, 2**31))
    def test_property_directional_derivatives(self, n, hdim, v, k, seed):
        # At a fixed seed the loss is a smooth function: its derivatives along a
        # random direction of (hidden, weight) and along a uniform bias shift match
        # central differences; the loss is non-negative and reproducible.
        rng = np.random.default_rng(seed)
        h, W, b, t = problem(rng, n, hdim, v)
        du, dv = rng.normal(size=h.shape), rng.normal(size=W.shape)
        a, (dh, dw, db) = nsl.value_and_grad(h, W, t, bias=b, num_negatives=k, seed=seed)
        f = lambda hh, ww, bb: float(nsl(hh, ww, t, bias=bb, num_negatives=k, seed=seed))  # noqa: E731
        assert a >= 0 and a == f(h, W, b)
        e = 1e-6
        along = (f(h + e * du, W + e * dv, b) - f(h - e * du, W - e * dv, b)) / (2 * e)
        np.testing.assert_allclose(along, np.sum(dh * du) + np.sum(dw * dv), rtol=1e-5,
                                   atol=1e-7)
        shift = (f(h, W, b + e) - f(h, W, b - e)) / (2 * e)
        np.testing.assert_allclose(shift, db.sum(), rtol=1e-5, atol=1e-7)

    def test_hits_are_skipped(self):
        # Only the target can be drawn: the negatives are all skipped.
        h, W = np.array([[0.5, -1.0]]), np.array([[1.0, 2.0], [0.0, 1.0]])
        got = nsl(h, W, [0], num_negatives=4, noise=[1.0, 0.0], seed=0)
        np.testing.assert_allclose(got, -np_log_sigmoid(-1.5))


# ---------------------------------------------------------------------------
# Bad arguments.

H2, W3 = np.zeros((2, 4)), np.zeros((3, 4))


class TestErrors:
    @pytest.mark.parametrize("f, kname", [(ssl, "num_sampled"), (nsl, "num_negatives")])
    def test_counts(self, f, kname):
        with raises(ValueError, f"{f.name}: {kname} must be a positive int; received 0"):
            f(H2, W3, [0, 1], **{kname: 0})
        with raises(TypeError, f"{f.name}.value_and_grad: {kname} must be a positive int; "
                    "received 2.5 (type float)"):
            f.value_and_grad(H2, W3, [0, 1], **{kname: 2.5})

    @pytest.mark.parametrize("f, kw", [(ssl, dict(num_sampled=2)), (nsl, dict(num_negatives=2))])
    def test_shared_checks(self, f, kw):
        with raises(ValueError, f"{f.name}: weight of shape (3, 5) does not match hidden of "
                    "shape (2, 4); expected shape (V, 4)"):
            f(H2, np.zeros((3, 5)), [0, 1], **kw)
        with raises(ValueError, f"{f.name}: target holds 3 at index (1,); expected a class "
                    "index in [0, 2]"):
            f(H2, W3, [0, 3], **kw)
        with raises(TypeError, f"{f.name}: seed must be None, a non-negative int or a "
                    "numpy.random.Generator; received 1.5 (type float)"):
            f(H2, W3, [0, 1], seed=1.5, **kw)
        with raises(ValueError, f"{f.name}: seed must be None, a non-negative int or a "
                    "numpy.random.Generator; received -1"):
            f(H2, W3, [0, 1], seed=-1, **kw)
        with raises(ValueError, f"{f.name}: reduction must be one of 'mean', 'sum' or 'none'; "
                    "received 'avg'"):
            f(H2, W3, [0, 1], reduction="avg", **kw)

    def test_sampler(self):
        name = "sampled_softmax_loss"
        with raises(ValueError, f"{name}: sampler must be 'log_uniform', 'uniform' or a vector "
                    "of 3 class probabilities; received 'zipf'"):
            ssl(H2, W3, [0, 1], num_sampled=2, sampler="zipf")
        with raises(ValueError, f"{name}: sampler of shape (2,) does not match the 3 classes "
                    "of weight; expected shape (3,)"):
            ssl(H2, W3, [0, 1], num_sampled=2, sampler=[0.5, 0.5])
        with raises(ValueError, f"{name}: sampler holds -0.5 at index 1; expected "
                    "non-negative finite probabilities"):
            ssl(H2, W3, [0, 1], num_sampled=2, sampler=[1.0, -0.5, 1.0])
        with raises(ValueError, f"{name}: sampler sums to 0; expected probabilities with a "
                    "positive sum"):
            ssl(H2, W3, [0, 1], num_sampled=2, sampler=[0.0, 0.0, 0.0])
        with raises(ValueError, f"{name}: target holds 1 at index (1,), a class of probability "
                    "0 under the sampler; expected classes the sampler can draw"):
            ssl(H2, W3, [0, 1], num_sampled=2, sampler=[1.0, 0.0, 1.0])
        with raises(TypeError, f"{name}: remove_accidental_hits must be True or False; "
                    "received 1 (type int)"):
            ssl(H2, W3, [0, 1], num_sampled=2, remove_accidental_hits=1)

    def test_noise(self):
        with raises(ValueError, "negative_sampling_loss: noise of shape (4,) does not match "
                    "the 3 classes of weight; expected shape (3,)"):
            nsl(H2, W3, [0, 1], num_negatives=2, noise=np.ones(4))
        with raises(ValueError, "negative_sampling_loss: noise holds nan at index 0"):
            nsl(H2, W3, [0, 1], num_negatives=2, noise=[np.nan, 1.0, 1.0])
