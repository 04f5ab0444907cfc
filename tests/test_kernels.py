"""The compiled kernels against the plain path: values, derivatives, special rows, dispatch.

The Foundation tests (test_softmax*.py, test_logsumexp.py, test_elementwise*.py,
test_accuracy.py) already run on both paths (conftest.py).  This module covers
what they do not: the three row layouts of the softmax kernels (rows of a few
classes vectorised across rows, one row per task, rows split into chunks),
the batch and thread-count invariance of a row's result, special rows mixed
into ordinary batches, and the dispatch rules.
"""

from __future__ import annotations

import os
import subprocess
import sys

import mpmath as mp
import numpy as np
import pytest

import accuracy
import sigmax as sx
from sigmax import _dispatch
from sigmax._kernels import softmax as ksoftmax

CHUNK = ksoftmax.CHUNK
# (rows, n) for each layout: across rows (n <= SMALL), a row per task, chunked rows.
SHAPES = {"small": (300, 7), "rows": (37, 300), "chunked": (3, 2 * CHUNK + 5)}
INF, NAN = np.inf, np.nan


@pytest.fixture
def kernel_path():
    previous = _dispatch.set_threshold(0)
    yield
    _dispatch.set_threshold(previous)


def both(fn, *args, **kw):
    """``(kernel result, plain result)`` of ``fn(*args, **kw)``."""
    previous = _dispatch.set_threshold(0)
    try:
        fast = fn(*args, **kw)
    finally:
        _dispatch.set_threshold(previous)
    with _dispatch.plain_only():
        plain = fn(*args, **kw)
    return fast, plain


def assert_close(fast, plain, dtype, rtol64=1e-13):
    """Values: float32 at most 1 ULP apart (both round a float64 result once);
    float64 within ``rtol64``.  A looser ``rtol64`` marks a product (vjp/jvp),
    whose cancellation ``g - <p, g>`` is compared at the scale of the array."""
    fast, plain = np.asarray(fast), np.asarray(plain)
    assert fast.dtype == plain.dtype and fast.shape == plain.shape
    scale = np.max(np.abs(plain[np.isfinite(plain)]), initial=1.0)
    if dtype == np.float32 and rtol64 == 1e-13:
        np.testing.assert_array_max_ulp(fast, plain, maxulp=1)
    elif dtype == np.float32:
        np.testing.assert_allclose(fast, plain, rtol=2e-6, atol=1e-7 * scale)
    else:
        np.testing.assert_allclose(fast, plain, rtol=rtol64, atol=1e-15 * scale)


def _inputs(layout, dtype, seed=0, scale=4.0):
    rng = np.random.default_rng(seed)
    shape = SHAPES[layout]
    x = rng.normal(scale=scale, size=shape).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    mask = rng.random(shape) > 0.2
    return x, g, mask


LAYOUTS = list(SHAPES)
DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
class TestAgainstPlain:
    @pytest.mark.parametrize("f", [sx.softmax, sx.log_softmax], ids=lambda f: f.name)
    @pytest.mark.parametrize("kw", [{}, {"temperature": 0.5}, {"temperature": 3.0},
                                    {"mask": True}], ids=["T1", "T0.5", "T3", "where"])
    def test_values_and_products(self, f, kw, layout, dtype):
        x, g, mask = _inputs(layout, dtype)
        kw = dict(kw)
        if kw.pop("mask", False):
            kw["where"] = mask
        assert_close(*both(f, x, **kw), dtype)
        # Products cancel (g - <p, g>): compare at the scale of the row.
        assert_close(*both(f.vjp, x, g, **kw), dtype, rtol64=1e-11)
        assert_close(*both(f.jvp, x, g, **kw), dtype, rtol64=1e-11)

    @pytest.mark.parametrize("masked", [False, True])
    def test_logsumexp(self, layout, dtype, masked):
        x, g, mask = _inputs(layout, dtype)
        where = mask if masked else None
        assert_close(*both(sx.logsumexp, x, where=where), dtype)
        fast, plain = both(sx.logsumexp, x, where=where, return_sign=True)
        assert_close(fast[0], plain[0], dtype)
        np.testing.assert_array_equal(fast[1], plain[1])
        assert_close(*both(sx.logsumexp, x, axis=-1, keepdims=True, where=where), dtype)
        assert_close(*both(sx.logsumexp.vjp, x, g[:, 0], where=where), dtype)
        assert_close(*both(sx.logsumexp.jvp, x, g, where=where), dtype, rtol64=1e-11)

    def test_other_axes(self, layout, dtype):
        # The reduced axes are moved last and flattened, then moved back.
        x, g, _ = _inputs(layout, dtype)
        x3 = x.reshape(x.shape[0], 1, x.shape[1]).swapaxes(0, 2)
        assert_close(*both(sx.softmax, x3, axis=0), dtype)
        assert_close(*both(sx.log_softmax.vjp, x3, x3, axis=(0, 1)), dtype, rtol64=1e-11)
        assert_close(*both(sx.logsumexp, x3, axis=(0, 2)), dtype)


def _special_batch(layout, dtype):
    """An ordinary batch with special rows spliced in (inf, -inf, NaN, all masked)."""
    rng = np.random.default_rng(1)
    shape = (9, SHAPES[layout][1] if layout != "chunked" else CHUNK + 3)
    x = rng.normal(scale=4.0, size=shape).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    mask = np.ones(shape, dtype=bool)
    mask[8, ::3] = False
    x[1, 3] = INF                    # one +inf: probability 1 there
    x[2, [0, 5]] = INF               # two +inf share it
    x[3, :] = -INF                   # all -inf: zeros, -inf, zero gradients
    x[4, 2] = NAN                    # NaN row
    x[5, 1] = -INF                   # a masked entry in an ordinary row
    mask[6, :] = False               # nothing unmasked
    mask[7, 4] = False
    x[7, 4] = NAN                    # a masked NaN takes no part
    return x, g, mask


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_special_rows_as_plain(layout, dtype):
    x, g, mask = _special_batch(layout, dtype)
    with np.errstate(all="raise"):  # and no warning leaks from either path
        for where in (None, mask):
            for f in (sx.softmax, sx.log_softmax):
                for fast, plain in (both(f, x, where=where), both(f.vjp, x, g, where=where),
                                    both(f.jvp, x, g, where=where)):
                    # Row 6 is all masked, row 7's NaN is masked out.
                    special = [1, 2, 3, 4, 7] if where is None else [1, 2, 3, 4, 6]
                    np.testing.assert_array_equal(fast[special], plain[special])
                    assert_close(fast, plain, dtype, rtol64=1e-11)
            fast, plain = both(sx.logsumexp, x, where=where, return_sign=True)
            np.testing.assert_array_equal(fast[1], plain[1])
            np.testing.assert_array_equal(np.isnan(fast[0]), np.isnan(plain[0]))
            assert_close(np.nan_to_num(fast[0]), np.nan_to_num(plain[0]), dtype)
            assert_close(*both(sx.logsumexp.vjp, x, g[:, 0], where=where), dtype)
            fast, plain = both(sx.logsumexp.jvp, x, g, where=where)
            np.testing.assert_array_equal(np.isnan(fast), np.isnan(plain))


class TestInvariance:
    @pytest.mark.parametrize("layout", LAYOUTS)
    def test_a_row_does_not_depend_on_its_batch(self, layout, kernel_path):
        x, g, _ = _inputs(layout, np.float64, seed=2)
        full = sx.log_softmax.vjp(x, g)
        for i in (0, x.shape[0] - 1):
            np.testing.assert_array_equal(full[i], sx.log_softmax.vjp(x[i:i + 1], g[i:i + 1])[0])
        np.testing.assert_array_equal(sx.logsumexp(x)[1], sx.logsumexp(x[1]))

    @pytest.mark.parametrize("layout", LAYOUTS)
    def test_threads_do_not_change_results(self, layout, kernel_path, monkeypatch):
        monkeypatch.setattr(_dispatch.kernels(), "_PER_THREAD", 1)  # small arrays split too
        x, g, _ = _inputs(layout, np.float32, seed=3)
        previous = sx.set_num_threads(1)
        try:
            one = [sx.softmax(x), sx.softmax.vjp(x, g), sx.logsumexp.jvp(x, g), sx.sigmoid(x)]
            sx.set_num_threads(2)
            two = [sx.softmax(x), sx.softmax.vjp(x, g), sx.logsumexp.jvp(x, g), sx.sigmoid(x)]
        finally:
            sx.set_num_threads(previous)
        for a, b in zip(one, two):
            np.testing.assert_array_equal(a, b)


def test_chunked_logsumexp_keeps_the_tiny_sum():
    # One 0 and 2*CHUNK + 4 entries of -40 spread over three chunks, the
    # maximum in the last one: lse = log1p((n - 1) e^-40), computed with
    #   mp.mp.dps = 50; float(mp.log1p((2 * 32768 + 4) * mp.exp(-40)))
    n = 2 * CHUNK + 5
    x = np.full(n, -40.0)
    x[-1] = 0.0
    previous = _dispatch.set_threshold(0)
    try:
        got = sx.logsumexp(x)
    finally:
        _dispatch.set_threshold(previous)
    with mp.workdps(50):
        assert float(mp.log1p((2 * 32768 + 4) * mp.exp(-40))) == 2.78437137891772e-13
    np.testing.assert_array_max_ulp(got, 2.78437137891772e-13, maxulp=2)


class TestFloat64ElementwiseKernels:
    """float64 elementwise functions in double-double arithmetic (sigmax._kernels._ddmath):
    within 1 ULP of the plain path, which is within 0.5 ULP of the exact value,
    and within 0.51 ULP themselves."""

    FUNCTIONS = [sx.sigmoid, sx.sigmoid.derivative, sx.softplus, sx.softplus.derivative,
                 sx.log_sigmoid, sx.log_sigmoid.derivative]

    @staticmethod
    def _inputs():
        rng = np.random.default_rng(21)
        x = np.concatenate([rng.normal(scale=30, size=20000), rng.uniform(-760, 760, 5000),
                            rng.uniform(-745.2, -708.0, 3000),  # subnormal results
                            rng.uniform(-41.0, -33.0, 2000)])   # log1p(t) ~ t
        x[:16] = [INF, -INF, NAN, 0.0, -0.0, 5e-324, -5e-324, 1e308, -1e308, -745.2,
                  -745.1, -708.4, 36.75, -36.75, 40.0, -40.0]
        return x

    @staticmethod
    def _probabilities():
        rng = np.random.default_rng(24)
        p = np.concatenate([rng.random(20000), 10.0 ** rng.uniform(-320, 0, 3000),
                            1.0 - 10.0 ** rng.uniform(-16, 0, 3000),
                            rng.uniform(0.24, 0.26, 1000), rng.uniform(0.74, 0.76, 1000)])
        p[:16] = [0.0, -0.0, 1.0, 0.5, -0.1, 1.5, NAN, INF, -INF, 5e-324, 1 - 2**-53,
                  0.25, 0.75, 2**-1022, 1e-300, 0.999]
        return p

    @pytest.mark.parametrize("f", [sx.logit, sx.logit.derivative])
    def test_logit_against_plain(self, f):
        p = self._probabilities()
        fast, plain = both(f, p)
        np.testing.assert_array_equal(fast[:16], plain[:16])
        np.testing.assert_array_max_ulp(fast, plain, maxulp=1)
        assert np.mean(fast == plain) > 0.995

    @pytest.mark.parametrize("f", FUNCTIONS)
    def test_against_plain(self, f):
        x = self._inputs()
        fast, plain = both(f, x)
        np.testing.assert_array_equal(fast[:16], plain[:16])
        np.testing.assert_array_max_ulp(fast, plain, maxulp=1)
        assert np.mean(fast == plain) > 0.995

    @pytest.mark.parametrize("name", list(accuracy.ELEMENTWISE))
    def test_within_half_an_ulp_and_a_little(self, name):
        inputs = accuracy.inputs_for(name, "float64", 6000)
        res = accuracy.measure(name, accuracy.sigmax_impls("kernels")[name], "float64", inputs)
        assert res.max_ulp <= 0.51, (res.max_ulp, res.worst_input)

    def test_products(self):
        x = self._inputs()
        p = self._probabilities()
        for f, arg in ((sx.sigmoid, x), (sx.softplus, x), (sx.log_sigmoid, x), (sx.logit, p)):
            g = np.random.default_rng(22).normal(size=arg.shape)
            g[::5] = 0.0
            for method in (f.vjp, f.jvp):
                fast, plain = both(method, arg, g)
                np.testing.assert_array_equal(np.isnan(fast), np.isnan(plain))
                assert np.all(fast[::5] == 0.0)
                # g f'(x) rounds twice on both paths; f' may differ by 1 ULP.
                np.testing.assert_array_max_ulp(np.nan_to_num(fast), np.nan_to_num(plain),
                                                maxulp=2)

    def test_derivative_against_finite_differences(self, kernel_path):
        x = np.linspace(-12.0, 12.0, 97)
        h = 1e-6
        fd = (sx.sigmoid(x + h) - sx.sigmoid(x - h)) / (2 * h)
        # The difference quotient's own error: about 1e-16 / h absolute.
        np.testing.assert_allclose(sx.sigmoid.derivative(x), fd, rtol=1e-7, atol=3e-10)
        for f in (sx.softplus, sx.log_sigmoid):
            fd = (f(x + h) - f(x - h)) / (2 * h)
            np.testing.assert_allclose(f.derivative(x), fd, rtol=1e-7, atol=3e-9)
        p = np.linspace(0.05, 0.95, 19)
        fd = (sx.logit(p + 1e-7) - sx.logit(p - 1e-7)) / 2e-7
        np.testing.assert_allclose(sx.logit.derivative(p), fd, rtol=1e-6)

    def test_threads_do_not_change_results(self):
        x = np.random.default_rng(23).normal(scale=10, size=200003)
        previous = sx.get_num_threads()
        try:
            sx.set_num_threads(1)
            one = sx.sigmoid(x)
            sx.set_num_threads(2)
            two = sx.sigmoid(x)
        finally:
            sx.set_num_threads(previous)
        np.testing.assert_array_equal(one, two)


class TestElementwiseKernels:
    """float32 takes every elementwise kernel."""

    @pytest.mark.parametrize("f", [sx.sigmoid, sx.log_sigmoid, sx.softplus])
    def test_against_plain(self, f):
        x = np.random.default_rng(4).normal(scale=30, size=5000).astype(np.float32)
        x[:6] = [INF, -INF, NAN, 0.0, -0.0, 1e-45]
        g = np.random.default_rng(5).normal(size=x.shape).astype(np.float32)
        g[:2] = 0.0
        for fast, plain in (both(f, x), both(f.derivative, x), both(f.vjp, x, g),
                            both(f.jvp, x, g)):
            np.testing.assert_array_equal(np.isnan(fast), np.isnan(plain))
            np.testing.assert_array_max_ulp(np.nan_to_num(fast), np.nan_to_num(plain), maxulp=1)

    @pytest.mark.parametrize("f", [sx.sigmoid, sx.log_sigmoid, sx.softplus])
    def test_rounds_as_the_float64_result(self, f, kernel_path):
        # The float32 kernels compute in float64 with exp32 (1e-11 relative)
        # and round once: the float64 plain result (0.5 ULP) rounded to float32
        # is matched almost everywhere, and within 1 ULP where the exact value
        # lies within that error of a float32 rounding boundary.  The edges of
        # exp32 (0 below -700, inf above 89) and the float32 subnormal range
        # (sigmoid(-100) is 3.7e-44) are in the sample.
        rng = np.random.default_rng(11)
        x = np.concatenate([rng.normal(scale=20, size=20000), rng.uniform(-120, 120, 5000),
                            [-1e4, -701.0, -700.0, -110.0, -104.0, -103.0, -100.0, -89.5,
                             -88.0, 88.0, 89.0, 89.5, 104.0, 700.0, 701.0, 1e4]])
        x = x.astype(np.float32)
        fast = f(x)
        with _dispatch.plain_only():
            ref = f(x.astype(np.float64)).astype(np.float32)
        np.testing.assert_array_max_ulp(fast, ref, maxulp=1)
        assert np.mean(fast == ref) > 0.99
        with _dispatch.plain_only():
            ref_d = f.derivative(x.astype(np.float64)).astype(np.float32)
        np.testing.assert_array_max_ulp(f.derivative(x), ref_d, maxulp=1)

    def test_logit(self):
        p = np.random.default_rng(6).random(5000).astype(np.float32)
        p[:7] = [0.0, -0.0, 1.0, 0.5, -0.1, 1.5, NAN]
        for fast, plain in (both(sx.logit, p), both(sx.logit.derivative, p)):
            np.testing.assert_array_equal(fast[:7], plain[:7])
            np.testing.assert_array_max_ulp(fast[7:], plain[7:], maxulp=1)

    def test_derivatives_against_finite_differences(self, kernel_path):
        # float64 central differences of the plain float64 function at the float32 points.
        x = np.linspace(-8, 8, 41).astype(np.float32)
        for f in (sx.sigmoid, sx.log_sigmoid, sx.softplus):
            h = 1e-6
            x64 = x.astype(np.float64)
            with _dispatch.plain_only():
                fd = (f(x64 + h) - f(x64 - h)) / (2 * h)
            np.testing.assert_allclose(f.derivative(x), fd, rtol=2e-6, atol=1e-9)
        p = np.linspace(0.05, 0.95, 19).astype(np.float32)
        with _dispatch.plain_only():
            fd = (sx.logit(p.astype(float) + 1e-7) - sx.logit(p.astype(float) - 1e-7)) / 2e-7
        np.testing.assert_allclose(sx.logit.derivative(p), fd, rtol=1e-6)


class TestDispatch:
    @pytest.fixture
    def calls(self, monkeypatch):
        """The kernels run: ``"softmax"`` (the softmax family) or ``"elementwise"``."""
        glue = _dispatch.kernels()
        seen = []
        for module, name, label in ((glue._k, "family", "softmax"),
                                    (glue._ew, "apply", "elementwise")):
            real = getattr(module, name)
            monkeypatch.setattr(module, name, lambda *a, _r=real, _l=label: (seen.append(_l),
                                                                            _r(*a))[1])
        return seen

    def test_threshold(self, calls):
        n = _dispatch.threshold("softmax")
        sx.softmax(np.zeros(n - 1))
        assert calls == []
        sx.softmax(np.zeros(n))
        assert calls == ["softmax"]
        sx.sigmoid(np.zeros(_dispatch.threshold("elementwise"), np.float32))
        assert calls == ["softmax", "elementwise"]

    @pytest.mark.parametrize("x", [np.zeros(10**5, np.float16), np.zeros(10**5, np.int64),
                                   [0.0] * 10**5, np.zeros(10**5, np.float64)])
    def test_what_stays_plain(self, x, calls):
        # float16, ints and lists always; a float64 cotangent on float32 x.
        sx.softplus.vjp(np.zeros(10**5, np.float32), np.zeros(10**5))  # float64 cotangent
        if not (isinstance(x, np.ndarray) and x.dtype == np.float64):
            sx.sigmoid(x)
            sx.logit(x)
            sx.softmax(x)
        assert calls == []

    def test_float64_elementwise_functions_take_the_kernels(self, calls):
        x = np.zeros(10**5)
        for f in (sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.logit):
            f(x)
            f.derivative(x)
            f.vjp(x, x)
        assert calls == ["elementwise"] * 12

    def test_kernels_off_by_environment(self, calls, monkeypatch):
        monkeypatch.setenv("SIGMAX_KERNELS", "0")
        sx.softmax(np.zeros(10**5))
        assert calls == []

    def test_b_takes_the_plain_path(self, kernel_path):
        x = np.random.default_rng(7).normal(size=(4, 50))
        b = np.linspace(-1, 1, 50)
        fast, plain = both(sx.logsumexp, x, b=b, return_sign=True)
        np.testing.assert_array_equal(fast[0], plain[0])

    def test_errors_are_the_plain_ones(self, kernel_path):
        x = np.zeros((3, 4))
        with pytest.raises(ValueError, match=r"^softmax: axis 2 is out of range"):
            sx.softmax(x, axis=2)
        with pytest.raises(ValueError, match=r"^log_softmax.vjp: g of shape \(5,\) does not"):
            sx.log_softmax.vjp(x, np.zeros(5))
        with pytest.raises(ValueError, match=r"^logsumexp.vjp: g of shape \(4,\) does not"):
            sx.logsumexp.vjp(x, np.zeros(4))
        with pytest.raises(TypeError, match=r"^logsumexp: keepdims must be True or False"):
            sx.logsumexp(x, keepdims=1)
        with pytest.raises(ValueError, match=r"^softmax: temperature must be a positive"):
            sx.softmax(x, temperature=-1.0)

    def test_inputs_are_not_modified(self, kernel_path):
        x, g, mask = _inputs("rows", np.float64)
        keep = x.copy(), g.copy()
        sx.softmax.vjp(x, g, where=mask)
        sx.logsumexp(x)
        np.testing.assert_array_equal(x, keep[0])
        np.testing.assert_array_equal(g, keep[1])

    def test_read_only_and_strided_inputs(self, kernel_path):
        x, _, _ = _inputs("rows", np.float64)
        ro = x.copy()
        ro.flags.writeable = False
        assert_close(*both(sx.softmax, ro), np.float64)
        assert_close(*both(sx.softmax, x[:, ::2]), np.float64)
        assert_close(*both(sx.sigmoid, x.astype(np.float32)[::3]), np.float32)


class TestThreads:
    def test_set_and_get(self):
        previous = sx.set_num_threads(1)
        try:
            assert sx.get_num_threads() == 1
            assert sx.set_num_threads(2) == 1
        finally:
            sx.set_num_threads(previous)

    def test_environment(self, monkeypatch):
        previous = sx.set_num_threads(None)
        try:
            monkeypatch.setenv("SIGMAX_NUM_THREADS", "1")
            assert sx.get_num_threads() == 1
        finally:
            sx.set_num_threads(previous)

    def test_threadpoolctl_limits(self):
        import threadpoolctl  # a dev dependency

        with threadpoolctl.threadpool_limits(1):
            assert sx.get_num_threads() == 1

    @pytest.mark.parametrize("n, exc, msg", [
        (0, ValueError, "set_num_threads: n must be a positive int or None; received 0"),
        (1.5, TypeError, "set_num_threads: n must be a positive int or None; received 1.5 "
                         "(type float)"),
        (True, TypeError, "set_num_threads: n must be a positive int or None; received True "
                          "(type bool)"),
    ])
    def test_bad_arguments(self, n, exc, msg):
        with pytest.raises(exc) as info:
            sx.set_num_threads(n)
        assert str(info.value) == msg


def test_import_does_not_load_numba():
    # Kernels compile lazily: import sigmax pulls in neither numba nor the kernels.
    code = ("import sys, sigmax; "
            "print('numba' in sys.modules, 'sigmax._kernels' in sys.modules)")
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["False", "False"]


class TestBenchmarkHelpers:
    """The benchmark's code paths run (their figures are measured, not tested here)."""

    def test_cpu_clock_rows(self):
        import time

        from sigmax import _bench

        res = _bench.run([(64, 10)], ("float32",), ["softmax"], ["sigmax", "numpy", "copy"],
                         repeat=3, threads=1, clock=time.thread_time)
        assert [r["peer"] for r in res] == ["sigmax", "numpy", "copy"]
        assert all(r["seconds"] >= 0 and r["threads"] == 1 for r in res)
        assert "vs_copy" in res[0] and "| softmax | 64x10 | float32 |" in _bench.format_table(res)

    def test_every_elementwise_function_with_its_peers(self):
        import time

        from sigmax import _bench

        res = _bench.run([(16, 300)], ("float64",), ["softplus", "logit"],
                         ["sigmax", "numpy", "scipy", "torch", "copy"], repeat=3, threads=1,
                         clock=time.thread_time)
        peers = {(r["function"], r["peer"]) for r in res}
        assert ("softplus", "numpy") in peers and ("logit", "numpy") in peers
        assert ("softplus", "scipy") not in peers  # SciPy has no softplus
        # logit is timed on probabilities: its result is finite.
        p = _bench._input_for("logit", np.linspace(-5, 5, 11))
        assert np.all((p > 0) & (p < 1)) and np.all(np.isfinite(sx.logit(p)))

    def test_hugepage_switch(self):
        from sigmax import _bench

        before = _bench.set_hugepages(False)
        try:
            assert _bench.set_hugepages(False) is False
        finally:
            _bench.set_hugepages(before)

    def test_pass_profile_and_fresh_output(self):
        from sigmax import _bench

        rows = _bench.pass_profile(rows=4, n=64, repeat=1)
        names = [name for dt, name, ns in rows if dt == "float32"]
        assert names[:5] == ["max", "+ exp", "+ sum", "+ write (softmax)", "sigmoid kernel"]
        assert all(ns >= 0 for _, _, ns in rows)
        prof = _bench.elementwise_profile(n=256, repeat=1)
        assert [(dt, name) for dt, name, *_ in prof][:4] == [
            ("float32", "sigmoid"), ("float32", "log_sigmoid"), ("float32", "softplus"),
            ("float32", "logit")] and len(prof) == 8
        assert all(k >= 0 and c >= 0 for _, _, k, c, _ in prof)
        one, two = _bench.pool_round_trip(repeat=3)
        assert one > 0 and two > 0
        (dt32, pre, fresh, faults, sys_t), _ = _bench.fresh_output_cost(n=1 << 12, repeat=1)
        assert dt32 == "float32" and pre >= 0 and fresh >= 0 and faults >= 0


class TestKernelCacheInvalidation:
    """numba's cache only watches the defining file; sigmax keys it on all the sources."""

    def _tree(self, tmp_path):
        (tmp_path / "_vmath.py").write_text("A = 1\n")
        (tmp_path / "softmax.py").write_text("B = 2\n")
        cache = tmp_path / "__pycache__"
        cache.mkdir()
        return cache

    def test_an_edit_of_a_helper_module_removes_the_cached_kernels(self, tmp_path, monkeypatch):
        from sigmax._kernels import invalidate_stale_cache

        monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
        cache = self._tree(tmp_path)
        assert invalidate_stale_cache(tmp_path) is False  # first stamp, nothing cached
        (cache / "softmax.k-1.py311.nbi").write_text("index")
        (cache / "softmax.k-1.py311.1.nbc").write_text("code")
        (cache / "softmax.cpython-311.pyc").write_text("bytecode")
        assert invalidate_stale_cache(tmp_path) is False  # same sources: kept
        assert len(list(cache.glob("*.nb?"))) == 2
        (tmp_path / "_vmath.py").write_text("A = 3\n")  # the inlined helper changes
        assert invalidate_stale_cache(tmp_path) is True
        assert list(cache.glob("*.nb?")) == []
        assert (cache / "softmax.cpython-311.pyc").exists()  # Python's own cache untouched

    def test_a_separate_numba_cache_dir_is_left_alone(self, tmp_path, monkeypatch):
        from sigmax._kernels import invalidate_stale_cache

        cache = self._tree(tmp_path)
        (cache / "softmax.k-1.py311.nbi").write_text("index")
        monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
        assert invalidate_stale_cache(tmp_path) is False
        assert (cache / "softmax.k-1.py311.nbi").exists()


class TestRestSum:
    """The kernels' sum excluding the maxima: exact heads, one rounding."""

    @pytest.mark.parametrize("seed", range(20))
    def test_within_one_ulp_of_the_exact_sum(self, seed):
        import math

        from sigmax._kernels._common import rest_sum

        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 5000))
        e = np.exp(-rng.exponential(3.0, size=n))
        e[rng.integers(0, n, size=3)] = 1.0  # the maxima: counted, not summed
        s, c = rest_sum(e, n)
        exact = math.fsum(v for v in e if v != 1.0)
        assert c == int(np.sum(e == 1.0))
        assert abs(s - exact) <= math.ulp(exact) if exact else s == 0.0

    def test_nan_propagates(self):
        from sigmax._kernels._common import rest_sum

        e = np.array([0.5, np.nan, 1.0, 0.25])
        s, c = rest_sum(e, 4)
        assert np.isnan(s) and c == 1
