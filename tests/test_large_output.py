"""linear_cross_entropy: against the naive path that holds the logits, mpmath, finite
differences, chunk-size invariance, SPEC section 4, memory and pinned error messages.

The sampled losses and the samplers: test_large_output_sampled.py.
"""

from __future__ import annotations

import re
import tracemalloc
import warnings

import ml_dtypes
import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sigmax as sx
from sigmax._large_output import chunk_size_for

from conftest import fd_grad

lce = sx.linear_cross_entropy


def raises(exc, *parts):
    """pytest.raises matching the message parts in order (each taken literally)."""
    return pytest.raises(exc, match="^" + ".*".join(re.escape(p) for p in parts))


def naive(h, W, t, b=None, **kw):
    """The contract: cross_entropy of the held logits, gradients by the chain rule."""
    x = h @ W.T + (0.0 if b is None else b)
    loss, dx = sx.cross_entropy.value_and_grad(x, t, **kw)
    return loss, (dx @ W, dx.T @ h, None if b is None else dx.sum(axis=0))


def problem(rng, n=37, h=19, v=1001, dtype=np.float64):
    hid = rng.normal(size=(n, h)).astype(dtype)
    w = (rng.normal(size=(v, h)) * 0.7).astype(dtype)
    b = rng.normal(size=v).astype(dtype)
    t = rng.integers(0, v, n)
    return hid, w, b, t


# ---------------------------------------------------------------------------
# References: mpmath at 50 digits on dyadic inputs (the logits are exact in
# binary, so the loss is the only rounding).  The snippet:
#
#   import mpmath as mp
#   def mp_lse(z):
#       k = z.index(max(z))
#       return z[k] + mp.log1p(mp.fsum(mp.exp(v - z[k]) for i, v in enumerate(z) if i != k))
#   def mp_linear_ce(h, W, t, b=None, eps=0.0):        # the 'mean' over the rows
#       with mp.workdps(50):
#           out = []
#           for hi, ti in zip(h, t):
#               x = [mp.fsum(mp.mpf(a) * mp.mpf(c) for a, c in zip(hi, w))
#                    + (mp.mpf(b[j]) if b else 0) for j, w in enumerate(W)]
#               out.append(mp_lse(x) - (1 - mp.mpf(eps)) * x[ti]
#                          - mp.mpf(eps) / len(W) * mp.fsum(x))
#           return mp.fsum(out) / len(out)


def mp_lse(z):
    k = z.index(max(z))
    return z[k] + mp.log1p(mp.fsum(mp.exp(v - z[k]) for i, v in enumerate(z) if i != k))


def mp_linear_ce(h, W, t, b=None, eps=0.0):
    with mp.workdps(50):
        out = []
        for hi, ti in zip(h, t):
            x = [mp.fsum(mp.mpf(a) * mp.mpf(c) for a, c in zip(hi, w))
                 + (mp.mpf(b[j]) if b else 0) for j, w in enumerate(W)]
            out.append(mp_lse(x) - (1 - mp.mpf(eps)) * x[ti] - mp.mpf(eps) / len(W) * mp.fsum(x))
        return mp.fsum(out) / len(out)


_H = [[0.5, -1.25], [2.0, 0.75], [-0.375, 1.5]]
_W = [[1.0, 0.5], [-0.25, 2.0], [0.125, -1.0], [3.0, 0.0], [-2.5, 1.75]]
_B = [0.0, 0.5, -1.0, 0.25, 2.0]

REFERENCES = [
    # (hidden, weight, target, bias, label_smoothing, expected float64)
    ([[1.0]], [[0.0], [-40.0]], [0], None, 0.0, 4.248354255291589e-18),
    # ^ mp_linear_ce([[1.0]], [[0.0], [-40.0]], [0]): log1p(e^-40), which 1 + e^-40 rounds away
    ([[8.0, -3.0]], [[125.0, 0.0], [124.875, 0.0], [0.0, 1.0]], [1], None, 0.0,
     1.3132616875182228),
    # ^ mp_linear_ce([[8.0, -3.0]], [[125.0, 0.0], [124.875, 0.0], [0.0, 1.0]], [1]): logits 1000, 999
    (_H, _W, [4, 0, 3], _B, 0.25, 4.495032104524446),  # mp_linear_ce(_H, _W, [4, 0, 3], _B, 0.25)
    (_H, _W, [4, 0, 3], _B, 0.0, 4.6801883545244465),  # mp_linear_ce(_H, _W, [4, 0, 3], _B, 0.0)
    (_H, _W, [4, 0, 3], _B, 1.0, 3.939563354524446),  # mp_linear_ce(_H, _W, [4, 0, 3], _B, 1.0)
]
# float32: float(np.float32(float(mp_linear_ce(...)))) of the same dyadic inputs.
F32_REFERENCES = [
    ([[1.0]], [[0.0], [-20.0]], [0], None, 0.0, 2.06115369216775e-09),
    # ^ mp_linear_ce([[1.0]], [[0.0], [-20.0]], [0])
    (_H, _W, [4, 0, 3], _B, 0.25, 4.49503231048584),
]


def test_references_regenerate():
    for h, W, t, b, eps, expected in REFERENCES:
        assert float(mp_linear_ce(h, W, t, b, eps)) == expected
    for h, W, t, b, eps, expected in F32_REFERENCES:
        assert float(np.float32(float(mp_linear_ce(h, W, t, b, eps)))) == expected


class TestMpmathReferences:
    @pytest.mark.parametrize("h, W, t, b, eps, expected", REFERENCES)
    @pytest.mark.parametrize("chunk", [1, 2, None])
    def test_float64(self, h, W, t, b, eps, expected, chunk):
        b = None if b is None else np.array(b)
        got = lce(np.array(h), np.array(W), np.array(t), bias=b, label_smoothing=eps,
                  chunk_size=chunk)
        assert got.dtype == np.float64
        np.testing.assert_array_max_ulp(got, np.float64(expected), maxulp=4)

    @pytest.mark.parametrize("h, W, t, b, eps, expected", F32_REFERENCES)
    def test_float32(self, h, W, t, b, eps, expected):
        f32 = lambda a: None if a is None else np.array(a, dtype=np.float32)  # noqa: E731
        got = lce(f32(h), f32(W), np.array(t), bias=f32(b), label_smoothing=eps, chunk_size=2)
        assert got.dtype == np.float32
        np.testing.assert_array_max_ulp(got, np.float32(expected), maxulp=2)


# ---------------------------------------------------------------------------
# Against the naive path, on shapes that no chunk size divides.

KWARGS = [dict(), dict(ignore_index=-100), dict(label_smoothing=0.1),
          dict(ignore_index=-100, label_smoothing=0.25), dict(label_smoothing=1.0)]


class TestAgainstNaive:
    @pytest.mark.parametrize("kw", KWARGS, ids=lambda kw: ",".join(kw) or "plain")
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    @pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
    def test_awkward_shapes_float64(self, rng, kw, reduction, with_bias):
        h, W, b, t = problem(rng)
        b = b if with_bias else None
        if "ignore_index" in kw:
            t[[0, 5, 36]] = -100
        loss, grads = lce.value_and_grad(h, W, t, bias=b, reduction=reduction, chunk_size=64,
                                         **kw)
        want, want_grads = naive(h, W, t, b, reduction=reduction, **kw)
        np.testing.assert_allclose(loss, want, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(lce(h, W, t, bias=b, reduction=reduction, chunk_size=64,
                                       **kw), want, rtol=1e-13, atol=1e-15)
        for got, ref in zip(grads, want_grads):
            if ref is None:
                assert got is None
            else:
                assert got.shape == ref.shape and got.dtype == np.float64
                np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-14)
        if "ignore_index" in kw:
            np.testing.assert_array_equal(grads[0][[0, 5, 36]], 0.0)

    @pytest.mark.parametrize("kw", KWARGS[1:4], ids=lambda kw: ",".join(kw))
    def test_awkward_shapes_float32(self, rng, kw):
        h, W, b, t = problem(rng, dtype=np.float32)
        if "ignore_index" in kw:
            t[[1, 2]] = -100
        loss, grads = lce.value_and_grad(h, W, t, bias=b, chunk_size=64, **kw)
        # The reference in float64 on the same float32 inputs.
        want, want_grads = naive(*(a.astype(np.float64) for a in (h, W)), t,
                                 b.astype(np.float64), **kw)
        assert loss.dtype == np.float32
        np.testing.assert_allclose(loss, want, rtol=2e-6)
        for got, ref in zip(grads, want_grads):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-5 * np.abs(ref).max())

    @pytest.mark.parametrize("chunk", [1, 7, 64, 1000, 1001, 5000, None])
    def test_every_chunk_size(self, rng, chunk):
        h, W, b, t = problem(rng, n=13, h=5, v=1001)
        loss, grads = lce.value_and_grad(h, W, t, bias=b, chunk_size=chunk,
                                         label_smoothing=0.05)
        want, want_grads = naive(h, W, t, b, label_smoothing=0.05)
        np.testing.assert_allclose(loss, want, rtol=1e-13)
        for got, ref in zip(grads, want_grads):
            np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-15)

    @settings(max_examples=30, deadline=None)
    @given(st.integers(1, 9), st.integers(1, 6), st.integers(1, 60), st.integers(1, 70),
           st.floats(0.0, 1.0), st.integers(0, 2**31), st.floats(0.1, 30.0))
    def test_property_equals_naive(self, n, hdim, v, chunk, eps, seed, scale):
        # Any shape, chunk and smoothing, logits up to ~|30 * 6| apart.
        rng = np.random.default_rng(seed)
        h, W, b, t = problem(rng, n, hdim, v)
        W *= scale
        loss, grads = lce.value_and_grad(h, W, t, bias=b, chunk_size=chunk,
                                         label_smoothing=eps)
        want, want_grads = naive(h, W, t, b, label_smoothing=eps)
        np.testing.assert_allclose(loss, want, rtol=1e-12, atol=1e-14)
        for got, ref in zip(grads, want_grads):
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13)


class TestFiniteDifferences:
    @pytest.mark.parametrize("kw", KWARGS, ids=lambda kw: ",".join(kw) or "plain")
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_all_three_gradients(self, rng, kw, reduction):
        h, W, b, t = problem(rng, n=4, h=3, v=11)
        if "ignore_index" in kw:
            t[1] = -100
        kw = dict(kw, reduction=reduction, chunk_size=4)

        def total(hh, ww, bb):  # 'none' differentiates the sum of the losses
            return float(np.sum(lce(hh, ww, t, bias=bb, **kw)))

        _, (dh, dw, db) = lce.value_and_grad(h, W, t, bias=b, **kw)
        np.testing.assert_allclose(dh, fd_grad(lambda x: total(x, W, b), h), atol=1e-8)
        np.testing.assert_allclose(dw, fd_grad(lambda x: total(h, x, b), W), atol=1e-8)
        np.testing.assert_allclose(db, fd_grad(lambda x: total(h, W, x), b), atol=1e-8)


# ---------------------------------------------------------------------------
# SPEC section 4.

class TestNumericalPolicy:
    def test_huge_logits_do_not_overflow(self, rng):
        h, W, b, t = problem(rng, n=6, h=4, v=300)
        W *= 400.0  # logits in the thousands
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss, grads = lce.value_and_grad(h, W, t, bias=b, chunk_size=32)
        want, want_grads = naive(h, W, t, b)
        assert np.isfinite(loss)
        np.testing.assert_allclose(loss, want, rtol=1e-12)
        for got, ref in zip(grads, want_grads):
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())

    @pytest.mark.parametrize("eps", [0.0, 0.3])
    def test_minus_inf_bias_switches_classes_off(self, rng, eps):
        h, W, b, t = problem(rng, n=8, h=3, v=50)
        b[[3, 17, 40]] = -np.inf
        t[0] = 17  # a target on a switched-off class: loss inf, gradient 0 there
        loss, grads = lce.value_and_grad(h, W, t, bias=b, chunk_size=8, reduction="none",
                                         label_smoothing=eps)
        want, want_grads = naive(h, W, t, b, reduction="none", label_smoothing=eps)
        np.testing.assert_allclose(loss, want, rtol=1e-13)
        assert loss[0] == np.inf
        for got, ref in zip(grads, want_grads):
            assert np.isfinite(got).all()
            np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-14)
        np.testing.assert_array_equal(grads[2][[3, 17, 40]], 0.0)

    def test_special_rows(self, rng):
        # +inf logits share the probability; an all -inf row has loss inf; both have
        # zero gradients.  A NaN hidden state gives a NaN loss in its row only.
        h, W, b, t = problem(rng, n=6, h=3, v=40)
        b[[7, 9]] = np.inf
        t[0], t[1] = 7, 2
        h[4, 0] = np.nan
        loss = lce(h, W, t, bias=b, chunk_size=8, reduction="none")
        x = h @ W.T + b
        np.testing.assert_array_equal(loss, sx.cross_entropy(x, t, reduction="none"))
        assert loss[0] == np.log(2) and loss[1] == np.inf and np.isnan(loss[4])
        b2 = np.full(40, -np.inf)
        loss, (dh, dw, db) = lce.value_and_grad(h[:3], W, t[:3], bias=b2, reduction="none")
        np.testing.assert_array_equal(loss, np.inf)
        for g in (dh, dw, db):
            np.testing.assert_array_equal(g, 0.0)

    def test_all_ignored_gives_zero(self, rng):
        h, W, b, t = problem(rng, n=5, h=3, v=7)
        t[:] = -1
        loss, (dh, dw, db) = lce.value_and_grad(h, W, t, bias=b, ignore_index=-1)
        assert loss == 0.0
        for g in (dh, dw, db):
            np.testing.assert_array_equal(g, 0.0)
        np.testing.assert_array_equal(lce(h, W, t, ignore_index=-1, reduction="none"), 0.0)

    def test_empty_batch(self):
        loss, (dh, dw, db) = lce.value_and_grad(np.zeros((0, 3)), np.ones((4, 3)),
                                                np.zeros(0, int), bias=np.zeros(4))
        assert loss == 0.0 and dh.shape == (0, 3)
        np.testing.assert_array_equal(dw, 0.0)
        np.testing.assert_array_equal(db, 0.0)
        assert lce(np.zeros((0, 3)), np.ones((4, 3)), np.zeros(0, int), reduction="sum") == 0

    @pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
    def test_small_floats_round_back(self, rng, dtype):
        h, W, b, t = problem(rng, n=5, h=3, v=30)
        args = [a.astype(dtype) for a in (h, W, b)]
        loss, grads = lce.value_and_grad(args[0], args[1], t, bias=args[2], chunk_size=8)
        assert loss.dtype == dtype and all(g.dtype == dtype for g in grads)
        want, _ = naive(*(a.astype(np.float64) for a in args[:2]), t,
                        args[2].astype(np.float64))
        np.testing.assert_allclose(float(loss), want, rtol=1e-2)

    def test_integer_inputs_become_float64(self):
        loss = lce(np.array([[1, 2]]), np.array([[1, 0], [0, 1], [1, 1]]), [2])
        assert loss.dtype == np.float64
        np.testing.assert_allclose(loss, np.log(np.exp(1) + np.exp(2) + np.exp(3)) - 3)

    def test_mixed_dtypes(self, rng):
        h, W, b, t = problem(rng, n=4, h=3, v=9)
        loss, (dh, dw, db) = lce.value_and_grad(h.astype(np.float32), W, t, bias=b)
        assert loss.dtype == np.float64 and dh.dtype == np.float32 and dw.dtype == np.float64

    def test_inputs_not_modified(self, rng):
        h, W, b, t = problem(rng, n=6, h=3, v=20)
        t[2] = -5
        copies = [a.copy() for a in (h, W, b, t)]
        lce.value_and_grad(h, W, t, bias=b, ignore_index=-5, label_smoothing=0.2,
                           chunk_size=3)
        for a, c in zip((h, W, b, t), copies):
            np.testing.assert_array_equal(a, c)

    @pytest.mark.parametrize("chunk", [2, None])
    def test_float32_normaliser_accumulates_in_float64(self, chunk):
        # The target at logit 0 and 16384 classes at -1e-4: a float32 running sum
        # of their exp (~0.9999 each) rounds every addition past 8192 up by 1e-4,
        # 60 float32 ULPs of the loss in all; float64 accumulation is exact here.
        v = 16385
        W = np.full((v, 1), -1e-4, np.float32)
        W[0] = 0.0
        h = np.ones((1, 1), np.float32)
        loss = lce(h, W, [0], chunk_size=chunk)
        want = sx.cross_entropy(W.astype(np.float64).T, [0])
        np.testing.assert_array_max_ulp(loss, np.float32(want), maxulp=1)

    def test_complex_rejected(self):
        with raises(TypeError, "linear_cross_entropy: hidden must be a real floating-point, "
                    "integer or boolean array; received dtype complex128"):
            lce(np.ones((2, 2), complex), np.ones((3, 2)), [0, 1])


class TestMemory:
    def test_peak_is_bounded_by_the_chunk(self, rng):
        # N=256, V=65536 float32: the logits would take 64 MiB.
        n, hdim, v = 256, 16, 65536
        h = rng.standard_normal((n, hdim), dtype=np.float32)
        W = rng.standard_normal((v, hdim), dtype=np.float32)
        b = np.zeros(v, np.float32)
        t = rng.integers(0, v, n)
        outputs = h.nbytes + W.nbytes + b.nbytes
        tracemalloc.start()
        try:
            lce.value_and_grad(h, W, t, bias=b, label_smoothing=0.1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        logits = 4 * n * v
        assert peak - outputs < 0.15 * logits, (peak - outputs) / logits

    def test_default_chunk_size(self):
        # An 8 MiB budget for the (N, C) buffer, a multiple of 128, at least 128.
        assert chunk_size_for(2048, 131072, 4) == 1024
        assert chunk_size_for(2048, 131072, 8) == 512
        assert chunk_size_for(10**6, 131072, 4) == 128
        assert chunk_size_for(3, 1001, 4) == 1001
        assert chunk_size_for(0, 50, 8) == 50


# ---------------------------------------------------------------------------
# Bad arguments.

H2, W3 = np.zeros((2, 4)), np.zeros((3, 4))


@pytest.mark.parametrize("method", ["", ".value_and_grad"])
class TestErrors:
    def call(self, method, *args, **kw):
        f = lce if not method else lce.value_and_grad
        return f(*args, **kw)

    def test_shapes(self, method):
        name = "linear_cross_entropy" + method
        with raises(ValueError, f"{name}: hidden must be a 2-d array of shape (N, H); "
                    "received shape (4,)"):
            self.call(method, np.zeros(4), W3, [0])
        with raises(ValueError, f"{name}: weight must be a 2-d array of shape (V, H); "
                    "received shape (3, 4, 1)"):
            self.call(method, H2, np.zeros((3, 4, 1)), [0, 0])
        with raises(ValueError, f"{name}: weight of shape (3, 5) does not match hidden of "
                    "shape (2, 4); expected shape (V, 4)"):
            self.call(method, H2, np.zeros((3, 5)), [0, 0])
        with raises(ValueError, f"{name}: bias of shape (4,) does not match weight of shape "
                    "(3, 4); expected shape (3,)"):
            self.call(method, H2, W3, [0, 0], bias=np.zeros(4))

    def test_target(self, method):
        name = "linear_cross_entropy" + method
        with raises(ValueError, f"{name}: target holds 3 at index (1,); expected a class "
                    "index in [0, 2] or ignore_index=-1"):
            self.call(method, H2, W3, [0, 3], ignore_index=-1)
        with raises(ValueError, f"{name}: target of shape (3,) does not match the expected "
                    "shape (2,)"):
            self.call(method, H2, W3, [0, 1, 2])
        with raises(TypeError, f"{name}: target must be an integer array of class indices; "
                    "received dtype float64"):
            self.call(method, H2, W3, [0.0, 1.0])

    def test_options(self, method):
        name = "linear_cross_entropy" + method
        with raises(ValueError, f"{name}: chunk_size must be a positive int; received 0"):
            self.call(method, H2, W3, [0, 0], chunk_size=0)
        with raises(TypeError, f"{name}: chunk_size must be a positive int; received 2.0 "
                    "(type float)"):
            self.call(method, H2, W3, [0, 0], chunk_size=2.0)
        with raises(ValueError, f"{name}: reduction must be one of 'mean', 'sum' or 'none'; "
                    "received 'avg'"):
            self.call(method, H2, W3, [0, 0], reduction="avg")
        with raises(ValueError, f"{name}: label_smoothing must be in [0, 1]; received 1.5"):
            self.call(method, H2, W3, [0, 0], label_smoothing=1.5)
        with raises(TypeError, f"{name}: ignore_index must be an int or None; received 1.0"):
            self.call(method, H2, W3, [0, 0], ignore_index=1.0)
        with raises(TypeError, f"{name}: bias must be a real number or array of real numbers; "
                    "received 'b' (type str)"):
            self.call(method, H2, W3, [0, 0], bias="b")


class TestForeignArrays:
    def test_torch_tensors_take_the_generic_path(self, rng):
        torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
        h, W, b, t = problem(rng, n=5, h=3, v=17)
        ts = [torch.tensor(a, requires_grad=True) for a in (h, W, b)]
        loss = lce(ts[0], ts[1], torch.tensor(t), bias=ts[2], chunk_size=4,
                   label_smoothing=0.1)
        assert isinstance(loss, torch.Tensor)
        loss.backward()
        want, grads = lce.value_and_grad(h, W, t, bias=b, label_smoothing=0.1)
        np.testing.assert_allclose(loss.item(), want, rtol=1e-13)
        for tensor, g in zip(ts, grads):
            np.testing.assert_allclose(tensor.grad.numpy(), g, rtol=1e-12, atol=1e-15)
        value, tgrads = lce.value_and_grad(*(torch.tensor(a) for a in (h, W, t)),
                                           bias=torch.tensor(b))
        assert all(isinstance(g, torch.Tensor) for g in tgrads)
        np.testing.assert_allclose(value.item(), lce(h, W, t, bias=b), rtol=1e-13)
