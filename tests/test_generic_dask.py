"""Dask: lazy results, chunks along the reduced axis, a dask.distributed cluster.

The row statistics cross chunks through one ``da.reduction`` (chunk / combine
/ aggregate of ``(max, sum-exp excluding the maximum, count of +inf)``); the
tests chunk the reduced axis into pieces no size divides, put the maximum, the
``+inf`` and the ``-inf`` entries of a row in different chunks, and compare
with the NumPy path.
"""

from __future__ import annotations

import numpy as np
import pytest

import sigmax as sx

da = pytest.importorskip("dask.array", reason="Dask is the sigmax[dask] extra")

INF = np.inf


def _logits(rng, shape=(7, 23), scale=20.0):
    x = rng.normal(scale=scale, size=shape)
    x[1, :] = -INF                 # a fully masked row
    x[2, [3, 17]] = INF            # +inf in two chunks
    x[3, 20] = 1e308               # the maximum alone in the last chunk
    x[4, :5] = -INF                # a chunk of -inf in a live row
    return x


def _eq(got, want, rtol=1e-14):
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), want, rtol=rtol, atol=1e-300)


class TestChunkedAlongTheReducedAxis:
    @pytest.mark.parametrize("chunks", [(3, 5), (7, 1), (2, 23)], ids=["5", "1", "whole"])
    def test_softmax_log_softmax_logsumexp(self, rng, chunks):
        x = _logits(rng)
        dx = da.from_array(x, chunks=chunks)
        _eq(sx.softmax(dx), sx.softmax(x))
        _eq(sx.log_softmax(dx), sx.log_softmax(x))
        _eq(sx.logsumexp(dx), sx.logsumexp(x))
        _eq(sx.softmax(dx, temperature=7.0), sx.softmax(x, temperature=7.0))
        _eq(sx.log_softmax(dx, axis=0), sx.log_softmax(x, axis=0))
        _eq(sx.logsumexp(dx, axis=None), sx.logsumexp(x, axis=None))

    def test_derivatives(self, rng):
        x = _logits(rng)
        g = rng.normal(size=x.shape)
        dx, dg = da.from_array(x, chunks=(4, 6)), da.from_array(g, chunks=(4, 6))
        for f in (sx.softmax, sx.log_softmax):
            _eq(f.vjp(dx, dg), f.vjp(x, g), rtol=1e-13)
            _eq(f.jvp(dx, dg), f.jvp(x, g), rtol=1e-13)
        _eq(sx.logsumexp.vjp(dx, dg[:, 0]), sx.logsumexp.vjp(x, g[:, 0]))

    def test_merge_keeps_the_log1p_accuracy(self):
        # The maximum 0 in one chunk, e^-40 in another: float(mpmath.log1p(mpmath.exp(-40)))
        # at mp.dps = 50 is 4.248354255291589e-18, which log(1 + e^-40) would round to 0.
        dx = da.from_array(np.array([[-INF, -40.0, 0.0, -INF]]), chunks=(1, 1))
        assert sx.logsumexp(dx).compute()[0] == 4.248354255291589e-18

    def test_reduction_is_lazy_and_one_pass(self, rng):
        x = rng.normal(size=(6, 40))
        dx = da.from_array(x, chunks=(3, 8))
        y = sx.logsumexp(dx)
        assert isinstance(y, da.Array) and y.chunks == ((3, 3),)
        # One reading of each input chunk feeds every statistic: the graph holds
        # the 10 input chunks once and a tree of partial reductions over them.
        layers = y.__dask_graph__().layers
        assert sum("reduction" in k or "sum" in k or "max" in k for k in layers) <= 3
        np.testing.assert_allclose(y.compute(), sx.logsumexp(x), rtol=1e-14)

    def test_mask_and_float32(self, rng):
        x = rng.normal(size=(5, 9)).astype(np.float32)
        mask = rng.random(size=(5, 9)) > 0.3
        dx = da.from_array(x, chunks=(2, 4))
        y = sx.softmax(dx, where=mask)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.compute(), sx.softmax(x, where=mask), rtol=1e-6)


class TestLinearCrossEntropy:
    """hidden in blocks of rows, weight in blocks of classes: a grid of tasks, merged lazily."""

    def _inputs(self, rng, n=9, v=31, h=4, dtype=np.float64):
        hid = rng.normal(size=(n, h)).astype(dtype)
        w = rng.normal(scale=2.0, size=(v, h)).astype(dtype)
        b = rng.normal(size=v).astype(dtype)
        b[[3, 17]] = -INF                          # classes switched off, in two blocks
        y = rng.integers(0, v, n)
        y[2] = 3                                   # a target whose logit is -inf
        return hid, w, b, y

    @pytest.mark.parametrize("kw", [{}, dict(label_smoothing=0.3, reduction="sum"),
                                    dict(ignore_index=5, reduction="none"),
                                    dict(chunk_size=4)], ids=["mean", "smooth-sum",
                                                              "ignore-none", "chunk4"])
    def test_equals_the_numpy_path(self, rng, kw):
        hid, w, b, y = self._inputs(rng)
        if "ignore_index" in kw:
            y[[0, 4]] = 5
        args = (da.from_array(hid, chunks=(4, 2)), da.from_array(w, chunks=(10, 4)),
                da.from_array(y, chunks=5))
        value, grads = sx.linear_cross_entropy.value_and_grad(*args, bias=da.from_array(
            b, chunks=7), **kw)
        want_value, want_grads = sx.linear_cross_entropy.value_and_grad(hid, w, y, bias=b,
                                                                        **kw)
        _eq(value, want_value, rtol=1e-13)
        for got, want in zip(grads, want_grads):
            assert isinstance(got, da.Array) and got.dtype == want.dtype
            np.testing.assert_allclose(got.compute(), want, rtol=1e-12, atol=1e-15)
        _eq(sx.linear_cross_entropy(*args, bias=da.from_array(b, chunks=7), **kw), want_value,
            rtol=1e-13)

    def test_lazy_grid_of_tasks(self, rng, monkeypatch):
        hid, w, b, y = self._inputs(rng, n=12, v=30)
        dh, dw = da.from_array(hid, chunks=(4, 4)), da.from_array(w, chunks=(10, 4))
        monkeypatch.setattr(da.Array, "__array__", lambda self, *a, **k: (_ for _ in ()).throw(
            AssertionError("__array__ on a dask array")))
        loss = sx.linear_cross_entropy(dh, dw, da.from_array(y, chunks=4), reduction="none")
        assert isinstance(loss, da.Array) and loss.chunks == ((4, 4, 4),)
        # One statistics task per (row block, class block): 3 x 3.
        graph = loss.__dask_graph__()
        stats = [k for k in graph.layers if k.startswith("stats")]
        assert len(stats) == 1 and len(graph.layers[stats[0]]) == 9
        got = loss.compute()
        monkeypatch.undo()
        np.testing.assert_allclose(got, sx.linear_cross_entropy(hid, w, y, reduction="none"),
                                   rtol=1e-13)

    def test_float32_and_bad_labels(self, rng):
        hid, w, b, y = self._inputs(rng, dtype=np.float32)
        args = (da.from_array(hid, chunks=(3, 4)), da.from_array(w, chunks=(8, 4)))
        value, (gh, gw, gb) = sx.linear_cross_entropy.value_and_grad(*args, y, bias=b)
        want, (wh, ww, wb) = sx.linear_cross_entropy.value_and_grad(hid, w, y, bias=b)
        assert value.dtype == gh.dtype == gw.dtype == gb.dtype == np.float32
        np.testing.assert_allclose(value.compute(), want, rtol=1e-6)
        for got, ref in ((gh, wh), (gw, ww), (gb, wb)):
            np.testing.assert_allclose(got.compute(), ref, rtol=1e-5, atol=1e-7)
        y[6] = 31
        loss = sx.linear_cross_entropy(*args, da.from_array(y, chunks=3))
        with pytest.raises(ValueError, match=r"^linear_cross_entropy: target holds 31 at index "
                           r"\(6,\); expected a class index in \[0, 30\]"):
            loss.compute()


@pytest.mark.slow
def test_on_a_local_cluster_with_two_worker_processes(rng):
    distributed = pytest.importorskip("distributed", reason="sigmax[dask] extra")
    x = _logits(rng, shape=(40, 300))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        dx = da.from_array(x, chunks=(20, 70))
        p, lp, lse = client.compute([sx.softmax(dx), sx.log_softmax(dx), sx.logsumexp(dx)],
                                    sync=True)
        # linear_cross_entropy: rows and classes in blocks, the tasks spread on both workers.
        hid, w, y = rng.normal(size=(40, 8)), rng.normal(size=(300, 8)), rng.integers(0, 300, 40)
        value, grads = sx.linear_cross_entropy.value_and_grad(
            da.from_array(hid, chunks=(10, 8)), da.from_array(w, chunks=(75, 8)),
            da.from_array(y, chunks=10), label_smoothing=0.1)
        got = client.compute([value, *grads[:2]], sync=True)
    want_value, want_grads = sx.linear_cross_entropy.value_and_grad(hid, w, y,
                                                                    label_smoothing=0.1)
    np.testing.assert_allclose(got[0], want_value, rtol=1e-13)
    for g, want in zip(got[1:], want_grads[:2]):
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p, sx.softmax(x), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(lp, sx.log_softmax(x), rtol=1e-14)
    np.testing.assert_allclose(lse, sx.logsumexp(x), rtol=1e-14)
