"""The memory contract of value_and_grad: peak memory about one copy of the input.

The gradient is the one copy (it is the result); the temporaries are a few
cache-sized float64 blocks (a few MiB at most), whatever the batch size.
Measured with tracemalloc, to which NumPy reports its buffers.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import sigmax as sx


MiB = 2**20


def _bound(nbytes):
    """One copy (the result) plus a constant for the blocks and a tenth for row arrays."""
    return 1.1 * nbytes + 4 * MiB


def _peak_bytes(call):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak


@pytest.mark.parametrize("shape, axis, target", [
    ((3000, 700), -1, "labels"),
    ((40, 20000), -1, "labels"),      # long rows: blocks of one row
    ((8, 50, 30, 20), 1, "labels"),   # class axis 1: gradient blocks copied back
    ((3000, 700), -1, "probs"),
])
def test_cross_entropy_value_and_grad_is_one_copy(shape, axis, target):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    lead = np.moveaxis(x, axis, -1).shape[:-1]
    n = shape[axis]
    if target == "labels":
        t = rng.integers(0, n, size=lead)
    else:
        t = np.moveaxis(rng.dirichlet(np.ones(n), size=lead).astype(np.float32), -1, axis)
    # Warm-up outside the traced region: the first kernel call imports numba
    # and loads its cache (~22 MB, once per process), which is not the call's.
    sx.cross_entropy.value_and_grad(x, t, axis=axis)
    sx.cross_entropy(x, t, axis=axis)
    peak = _peak_bytes(lambda: sx.cross_entropy.value_and_grad(x, t, axis=axis))
    assert peak <= _bound(x.nbytes), peak / x.nbytes
    peak = _peak_bytes(lambda: sx.cross_entropy(x, t, axis=axis))
    assert peak <= _bound(0), peak / x.nbytes


@pytest.mark.parametrize("f, kw", [
    (sx.binary_cross_entropy_with_logits, dict(pos_weight=np.ones(500, np.float32) * 2)),
    (sx.binary_cross_entropy_with_logits, dict(weight=np.ones((2000, 1)))),
    (sx.sigmoid_focal_loss, dict()),
    (sx.binary_cross_entropy, dict()),
])
def test_binary_value_and_grad_is_one_copy(f, kw):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.01, 0.99, size=(2000, 500)).astype(np.float32)
    y = (rng.random((2000, 500)) < 0.5).astype(np.float32)
    peak = _peak_bytes(lambda: f.value_and_grad(x, y, **kw))
    assert peak <= _bound(x.nbytes), peak / x.nbytes
    peak = _peak_bytes(lambda: f(x, y, reduction="none", **kw))
    assert peak <= _bound(x.nbytes), peak / x.nbytes
    peak = _peak_bytes(lambda: f(x, y, **kw))
    assert peak <= _bound(0), peak / x.nbytes
