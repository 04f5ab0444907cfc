"""The compiled cross-entropy kernel against the plain NumPy path.

The plain path is the reference (its own values and gradients are checked
against mpmath and finite differences in test_losses_cross_entropy.py, which
also runs on the kernel path).  Here: the kernel is taken where it should be,
and agrees with the plain path over awkward shapes and layouts, every
argument, the SPEC section 4 rows, and any number of threads.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sigmax as sx
from sigmax import _dispatch

INF, NAN = np.inf, np.nan

pytest.importorskip("numba")


@pytest.fixture
def kernel_path():
    previous = _dispatch.set_threshold(0)
    yield
    _dispatch.set_threshold(previous)


@pytest.fixture
def calls(monkeypatch):
    """Counts of the kernel entry points taken (``label``, ``prob``)."""
    from sigmax._kernels import cross_entropy as k

    seen = {"label": 0, "prob": 0, "tiles": 0}
    label_rows, prob_rows, label_tiles = k.label_rows, k.prob_rows, k.label_tiles

    def count_tiles(*a, **kw):
        seen["tiles"] += 1
        return label_tiles(*a, **kw)

    def count_label(*a, **kw):
        seen["label"] += 1
        return label_rows(*a, **kw)

    def count_prob(*a, **kw):
        seen["prob"] += 1
        return prob_rows(*a, **kw)

    monkeypatch.setattr(k, "label_rows", count_label)
    monkeypatch.setattr(k, "prob_rows", count_prob)
    monkeypatch.setattr(k, "label_tiles", count_tiles)
    return seen


def _both(x, t, **kw):
    """``(kernel, plain)`` results of value_and_grad and of the call, kernel forced."""
    previous = _dispatch.set_threshold(0)
    try:
        got = sx.cross_entropy.value_and_grad(x, t, **kw)
        got_call = sx.cross_entropy(x, t, **kw)
    finally:
        _dispatch.set_threshold(previous)
    with _dispatch.plain_only():
        want = sx.cross_entropy.value_and_grad(x, t, **kw)
        want_call = sx.cross_entropy(x, t, **kw)
    return got, want, got_call, want_call


def _close(got, want, dtype, term=0.0):
    """Values and gradients within the accuracy targets of each dtype.

    With smoothing (or probability targets) a gradient entry is a difference,
    ``a p - s w``, which cancels where ``p`` is near its target mass (exactly,
    with one class): its error is relative to the terms, whose size ``term``
    (the reduction's scale times the largest weight) the caller gives.
    """
    (loss, g), (loss0, g0) = got, want
    assert loss.dtype == loss0.dtype and g.dtype == g0.dtype and g.shape == g0.shape
    term = max(term, float(np.max(np.abs(g0), initial=0.0)))
    if np.dtype(dtype) == np.float32:
        # Both compute in float64 and round once: at most a rounding-boundary flip.
        np.testing.assert_array_max_ulp(loss, loss0, maxulp=1)
        np.testing.assert_allclose(g, g0, rtol=1.2e-7, atol=1.2e-7 * term)
    else:
        np.testing.assert_allclose(loss, loss0, rtol=1e-14, atol=0)
        np.testing.assert_allclose(g, g0, rtol=1e-14, atol=1e-15 * term)


def _term(kw, y, n_rows):
    """The size of a gradient term: the reduction's scale times the largest weight."""
    w = kw.get("weight")
    wmax = 1.0 if w is None else float(np.max(w))
    if kw.get("reduction", "mean") != "mean":
        return wmax
    keep = np.ones(n_rows, bool) if "ignore_index" not in kw else (
        np.ravel(y) != kw["ignore_index"])
    total = keep.sum() if w is None else np.sum(np.asarray(w)[np.ravel(y)[keep]])
    return wmax / total if total else 0.0


def _labels(rng, shape, axis, ignore=None):
    lead = np.moveaxis(np.empty(shape), axis, -1).shape[:-1]
    y = rng.integers(0, shape[axis], size=lead)
    if ignore is not None:
        y = np.where(rng.random(lead) < 0.3, ignore, y)
    return y


# ---------------------------------------------------------------------------
# Dispatch.

class TestDispatch:
    def test_large_arrays_take_the_kernel(self, rng, calls):
        x = rng.standard_normal((64, 100), dtype=np.float32)  # above the threshold
        sx.cross_entropy.value_and_grad(x, rng.integers(0, 100, 64))
        sx.cross_entropy(x, rng.dirichlet(np.ones(100), 64))
        assert calls == {"label": 1, "prob": 1, "tiles": 0}

    def test_small_inputs_other_dtypes_and_lists_stay_plain(self, rng, calls):
        x = rng.standard_normal((4, 5))
        y = rng.integers(0, 5, 4)
        sx.cross_entropy.value_and_grad(x, y)                     # below the threshold
        big = rng.standard_normal((64, 100))
        yb = rng.integers(0, 100, 64)
        sx.cross_entropy(big.astype(np.float16), yb)            # no float16 kernel
        with _dispatch.plain_only():
            sx.cross_entropy(big, yb)
        assert calls == {"label": 0, "prob": 0, "tiles": 0}
        sx.cross_entropy(big.tolist(), yb)                      # converted to float64
        assert calls["label"] == 1

    def test_class_axis_in_the_middle_is_read_in_place(self, rng, calls):
        # (N, C, H, W) with axis=1, C-contiguous: the tiled kernel; a transposed
        # copy of it (not C-contiguous): row blocks moved by the glue.
        x = rng.standard_normal((2, 21, 16, 16), dtype=np.float32)  # above the threshold
        y = rng.integers(0, 21, (2, 16, 16))
        sx.cross_entropy.value_and_grad(x, y, axis=1)
        assert calls == {"label": 0, "prob": 0, "tiles": 1}
        xt = np.asfortranarray(x)
        sx.cross_entropy.value_and_grad(xt, y, axis=1)
        assert calls["tiles"] == 1 and calls["label"] >= 1

    def test_environment_switch(self, rng, calls, monkeypatch):
        monkeypatch.setenv("SIGMAX_KERNELS", "0")
        sx.cross_entropy(rng.standard_normal((64, 100)), rng.integers(0, 100, 64))
        assert calls["label"] == 0

    def test_empty_inputs_go_plain(self, kernel_path, calls):
        loss, g = sx.cross_entropy.value_and_grad(np.zeros((0, 5)), np.zeros(0, int))
        assert loss == 0.0 and g.shape == (0, 5)
        loss = sx.cross_entropy(np.zeros((2, 0)), [-1, -1], ignore_index=-1)
        assert loss == 0.0
        assert calls == {"label": 0, "prob": 0, "tiles": 0}


# ---------------------------------------------------------------------------
# Agreement with the plain path.

SHAPES = [((1, 1), -1), ((3, 1), -1), ((1, 7), 0), ((5, 17), -1), ((33, 1000), -1),
          ((2, 40000), -1), ((4, 7, 3, 5), 1), ((6, 9), 0), ((3, 4, 11), -2), ((13,), 0),
          ((3, 5, 300), 1), ((2, 1500, 40), 1)]  # tiles of 256 + 44, and of 21 + 19


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("shape, axis", SHAPES, ids=[f"{s}-ax{a}" for s, a in SHAPES])
@pytest.mark.parametrize("kw", [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(label_smoothing=0.2),
    dict(weight="w", ignore_index=-100, reduction="mean"),
    dict(weight="w", label_smoothing=0.1, ignore_index=-100, reduction="none"),
    dict(weight="w", label_smoothing=1.0, reduction="sum"),
], ids=["mean", "sum", "none", "smooth", "w-ignore", "w-smooth-ignore-none", "uniform-target"])
def test_integer_targets_agree(rng, dtype, shape, axis, kw):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    kw = dict(kw, axis=axis)
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.2, 3.0, shape[axis])
    y = _labels(rng, shape, axis, kw.get("ignore_index"))
    got, want, got_call, want_call = _both(x, y, **kw)
    _close(got, want, dtype, _term(kw, y, y.size))
    np.testing.assert_array_equal(got_call, got[0])  # the call is value_and_grad's value
    np.testing.assert_array_equal(want_call, want[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("shape, axis", SHAPES[3:], ids=[f"{s}-ax{a}" for s, a in SHAPES[3:]])
@pytest.mark.parametrize("kw", [dict(), dict(weight="w", label_smoothing=0.3, reduction="none")],
                         ids=["mean", "w-smooth-none"])
@pytest.mark.parametrize("qdtype", [np.float64, np.float32], ids=["q64", "q32"])
def test_probability_targets_agree(rng, dtype, shape, axis, kw, qdtype):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    kw = dict(kw, axis=axis)
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.2, 3.0, shape[axis])
    lead = np.moveaxis(x, axis, -1).shape[:-1]
    q = rng.dirichlet(np.ones(shape[axis]), size=lead)
    q[..., 0] = 0.0  # a class without mass, masked below: 0 log 0 = 0
    q = np.moveaxis(q, -1, axis).astype(qdtype)
    x[(slice(None),) * (axis % x.ndim) + (0,)] = -INF
    got, want, got_call, _ = _both(x, q, **kw)
    _close(got, want, dtype, _term(dict(kw, reduction="sum"), None, 0) / (
        1 if kw.get("reduction", "mean") != "mean" else q.size / q.shape[axis]))
    np.testing.assert_array_equal(got_call, got[0])


def test_layouts_transposed_sliced_read_only(rng, kernel_path):
    base = rng.standard_normal((300, 80))
    y = rng.integers(0, 300, 80)
    ro = base.copy()
    ro.flags.writeable = False
    # (rows, C) views of every kind: transposed, strided, broadcast (read-only), read-only.
    for x in (base.T, base[::2].T, np.broadcast_to(base[:1], (300, 80)).T, ro):
        yx = y[:x.shape[0]] % x.shape[1] if x.shape[0] <= y.size else np.arange(300) % 80
        got = sx.cross_entropy.value_and_grad(x, yx, label_smoothing=0.05)
        with _dispatch.plain_only():
            want = sx.cross_entropy.value_and_grad(x, yx, label_smoothing=0.05)
        _close(got, want, np.float64)
        assert got[1].flags.c_contiguous


def test_one_value_per_row_long_rows_bitwise_across_threads(rng, kernel_path):
    # A row's result depends on the row only: any thread count, any batch.
    x = (rng.standard_normal((70, 5000)) * 5).astype(np.float32)
    y = rng.integers(0, 5000, 70)
    previous = sx.set_num_threads(1)
    try:
        one = sx.cross_entropy.value_and_grad(x, y, reduction="none", label_smoothing=0.1)
        sx.set_num_threads(2)
        two = sx.cross_entropy.value_and_grad(x, y, reduction="none", label_smoothing=0.1)
        part = sx.cross_entropy.value_and_grad(x[7:19], y[7:19], reduction="none",
                                               label_smoothing=0.1)
    finally:
        sx.set_num_threads(previous)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(part[0], one[0][7:19])
    np.testing.assert_array_equal(part[1], one[1][7:19])


def test_few_classes_bitwise_across_threads_and_blocks(rng, kernel_path):
    x = (rng.standard_normal((5000, 7)) * 5).astype(np.float32)
    y = rng.integers(0, 7, 5000)
    previous = sx.set_num_threads(1)
    try:
        one = sx.cross_entropy.value_and_grad(x, y, reduction="none")
        sx.set_num_threads(2)
        two = sx.cross_entropy.value_and_grad(x, y, reduction="none")
        part = sx.cross_entropy.value_and_grad(x[300:301], y[300:301], reduction="none")
    finally:
        sx.set_num_threads(previous)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(part[0], one[0][300:301])
    np.testing.assert_array_equal(part[1], one[1][300:301])


# ---------------------------------------------------------------------------
# SPEC section 4 on the kernel: special rows among ordinary ones.

def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            return call()


SPECIAL_ROWS = np.array([
    [INF, -40.0, INF, 0.0], [-INF, -INF, -INF, -INF], [NAN, 0.0, 0.0, 1.0],
    [1.0, 2.0, -INF, 0.5], [1e308, -1e308, 0.0, 3.0], [-1e308, 1e308, -INF, 0.0],
    [0.0, -40.0, -745.0, -800.0], [1000.0, 0.0, -1000.0, 999.0], [-INF, 5.0, -INF, -INF],
])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kw", [dict(reduction="none"),
                                dict(reduction="none", label_smoothing=0.1, weight=[1, 2, 0, 3]),
                                dict(reduction="mean", weight=[1, 2, 0.5, 3]),
                                dict(reduction="none", ignore_index=2, label_smoothing=0.1)],
                         ids=["none", "smooth-w", "mean-w", "ignored"])
@pytest.mark.parametrize("width", [4, 40], ids=["few-classes", "rows"])
def test_special_rows_as_on_the_plain_path(rng, dtype, kw, width):
    # 4 classes: the transposed blocks of _label_small; 40: one row at a time
    # (the special rows padded with masked classes, which keeps their kind).
    with np.errstate(over="ignore"):
        x = np.concatenate([SPECIAL_ROWS, rng.standard_normal((40, 4))]).astype(dtype)
    x = x[rng.permutation(len(x))]
    if width > 4:
        x = np.concatenate([x, np.full((len(x), width - 4), -INF, dtype)], axis=1)
        if kw.get("weight") is not None:
            kw = dict(kw, weight=list(kw["weight"]) + [1.0] * (width - 4))
    for y in (np.zeros(len(x), int), rng.integers(0, 4, len(x)), np.full(len(x), 2)):
        got, want, got_call, want_call = _quiet(lambda: _both(x, y, **kw))
        np.testing.assert_array_equal(np.isnan(got[0]), np.isnan(want[0]))
        np.testing.assert_array_equal(np.isnan(got[1]), np.isnan(want[1]))
        np.testing.assert_array_equal(got[1] == 0, want[1] == 0)  # zeros stay zeros
        finite = np.isfinite(want[1])
        tol = 1.2e-7 if dtype == np.float32 else 1e-15
        # Terms of at most 3 (the largest weight): see _close.
        np.testing.assert_allclose(got[1][finite], want[1][finite], rtol=10 * tol,
                                   atol=3 * tol)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6 if dtype == np.float32
                                   else 1e-14, atol=0)
        np.testing.assert_array_equal(got_call, got[0])


@pytest.mark.parametrize("kw", [dict(reduction="none"),
                                dict(reduction="sum", label_smoothing=0.1, weight=[1, 2, 0, 3],
                                     ignore_index=1)], ids=["none", "smooth-w-ignore"])
def test_special_rows_with_the_classes_in_the_middle(rng, kw):
    # The tiled kernel (axis=1 of a C-contiguous array): special columns among others.
    with np.errstate(over="ignore"):
        rows = np.concatenate([SPECIAL_ROWS, rng.standard_normal((291, 4))])
    rows = rows[rng.permutation(len(rows))]
    x = np.ascontiguousarray(np.moveaxis(rows.reshape(2, 150, 4), -1, 1))  # (2, 4, 150)
    y = rng.integers(0, 4, (2, 150))
    got, want, got_call, _ = _quiet(lambda: _both(x, y, axis=1, **kw))
    np.testing.assert_array_equal(np.isnan(got[1]), np.isnan(want[1]))
    np.testing.assert_array_equal(got[1] == 0, want[1] == 0)
    finite = np.isfinite(want[1])
    np.testing.assert_allclose(got[1][finite], want[1][finite], rtol=1e-14, atol=3e-15)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-14, atol=0)
    np.testing.assert_array_equal(got_call, got[0])


def test_probability_special_rows(kernel_path):
    x = np.array([[-INF, 0.0, 1.0], [2.0, -INF, -INF], [INF, 0.0, INF], [NAN, 1.0, 2.0],
                  [-INF, -INF, -INF]])
    q = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.2, 0.3, 0.5],
                  [0.0, 0.0, 1.0]])
    loss, g = _quiet(lambda: sx.cross_entropy.value_and_grad(x, q, reduction="none"))
    with _dispatch.plain_only():
        loss0, g0 = _quiet(lambda: sx.cross_entropy.value_and_grad(x, q, reduction="none"))
    np.testing.assert_array_equal(loss, loss0)
    np.testing.assert_array_equal(g, g0)
    assert loss[1] == 0.0 and loss[2] == np.log(2.0) and np.isnan(loss[3]) and loss[4] == INF
    np.testing.assert_array_equal(g[[1, 2, 4]], 0.0)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_every_target_ignored_on_the_kernel(kernel_path, rng, eps):
    x = rng.standard_normal((50, 30), dtype=np.float32)
    y = np.full(50, -1)
    loss, g = sx.cross_entropy.value_and_grad(x, y, ignore_index=-1, label_smoothing=eps)
    assert loss == 0.0 and loss.dtype == np.float32
    np.testing.assert_array_equal(g, 0.0)
    per = sx.cross_entropy(x, y, ignore_index=-1, reduction="none")
    np.testing.assert_array_equal(per, 0.0)


def test_small_values_kept(kernel_path):
    # log1p(e^-40) and the gradient at a target on the maximum, without cancellation.
    x = np.tile([0.0, -40.0], (3000, 1))
    loss, g = sx.cross_entropy.value_and_grad(x, np.zeros(3000, int), reduction="none")
    np.testing.assert_array_equal(loss, 4.248354255291589e-18)
    np.testing.assert_array_equal(g, np.tile([-4.248354255291589e-18, 4.248354255291589e-18],
                                             (3000, 1)))
    loss = sx.cross_entropy(np.tile([0.0, -745.0], (3000, 1)), np.zeros(3000, int),
                            reduction="none")
    np.testing.assert_array_equal(loss, 5e-324)  # subnormal, not flushed


def test_inputs_not_modified(kernel_path, rng):
    x = rng.standard_normal((40, 30)).astype(np.float32)
    y = rng.integers(0, 30, 40)
    w = rng.uniform(0.5, 2.0, 30)
    q = rng.dirichlet(np.ones(30), 40)
    saved = [a.copy() for a in (x, y, w, q)]
    sx.cross_entropy.value_and_grad(x, y, weight=w, label_smoothing=0.1)
    sx.cross_entropy.value_and_grad(x, q, weight=w)
    for a, b in zip(saved, (x, y, w, q)):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Properties.

@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1,
                                                 max_side=12),
                    elements=st.one_of(st.floats(-50, 50), st.just(-INF))),
       data=st.data())
def test_random_batches_agree(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    lead = np.moveaxis(x, axis, -1).shape[:-1]
    y = data.draw(hnp.arrays(np.int64, lead, elements=st.integers(0, x.shape[axis] - 1)))
    eps = data.draw(st.sampled_from([0.0, 0.25, 1.0]))
    got, want, _, _ = _quiet(lambda: _both(x, y, axis=axis, label_smoothing=eps,
                                           reduction="none"))
    np.testing.assert_array_equal(np.isinf(got[0]), np.isinf(want[0]))
    finite = np.isfinite(want[0])
    np.testing.assert_allclose(got[0][finite], want[0][finite], rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13, atol=1e-15)  # terms <= 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_long_row_against_mpmath(kernel_path, dtype):
    # The kernel's plain float64 sum of a long row (the plain path sums it to 1 ULP):
    # the loss within 2 ULP of mpmath, the gradient within 5e-16 relative (measured
    # 0 ULP and 3.1e-16); float32 within 1 ULP of both.
    from test_losses_cross_entropy import mp_ce_grad, mp_cross_entropy

    x = (np.random.default_rng(5).standard_normal(2000) * 4).astype(dtype)
    y = 7
    loss, g = sx.cross_entropy.value_and_grad(x[None], [y], reduction="sum")
    xs = [float(v) for v in x]
    want = np.array(float(mp_cross_entropy(xs, y)), dtype=dtype)
    want_g = np.array([float(v) for v in mp_ce_grad(xs, y)])
    if dtype == np.float64:
        np.testing.assert_array_max_ulp(loss, want, maxulp=2)
        np.testing.assert_allclose(g[0], want_g, rtol=5e-16, atol=0)
    else:
        np.testing.assert_array_max_ulp(loss, want, maxulp=1)
        np.testing.assert_array_max_ulp(g[0], want_g.astype(np.float32), maxulp=1)


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1,
                                                 max_side=12),
                    elements=st.one_of(st.floats(-50, 50), st.just(-INF), st.just(INF))),
       data=st.data())
def test_random_probability_batches_agree(x, data):
    q = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0, 1)))
    q = np.where(x == -INF, 0.0, q)  # no mass on masked classes (else the loss is inf)
    got, want, _, _ = _quiet(lambda: _both(x, q, reduction="none", label_smoothing=0.0))
    np.testing.assert_array_equal(np.isnan(got[0]), np.isnan(want[0]))
    np.testing.assert_array_equal(np.isinf(got[0]), np.isinf(want[0]))
    finite = np.isfinite(want[0])
    np.testing.assert_allclose(got[0][finite], want[0][finite], rtol=1e-13, atol=1e-300)
    # Terms of at most 12 (the row sums of q): see _close.
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13, atol=1.2e-14)


@pytest.mark.parametrize("shape, axis", [((3000, 700), -1), ((8, 21, 64, 64), 1),
                                         ((40000, 8), -1)],
                         ids=["rows", "tiles", "few-classes"])
def test_extra_memory_is_the_gradient(rng, shape, axis):
    # After a warm-up call (numba's import and the cache load allocate on the
    # first one): the gradient, the per-row losses (8 bytes a row) and the
    # kernel's small buffers.
    import tracemalloc

    x = rng.standard_normal(shape, dtype=np.float32)
    y = _labels(rng, shape, axis)
    sx.cross_entropy.value_and_grad(x, y, axis=axis)
    rows = y.size
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = sx.cross_entropy.value_and_grad(x, y, axis=axis)
        _, peak = tracemalloc.get_traced_memory()
        del out
        tracemalloc.reset_peak()
        sx.cross_entropy(x, y, axis=axis)
        _, peak_call = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= x.nbytes + 8 * rows + 2**20, (peak - x.nbytes) / x.nbytes
    assert peak_call <= 8 * rows + 2**20, peak_call / x.nbytes
