"""linear_cross_entropy: the exact softmax loss over a large vocabulary at bounded memory.

``linear_cross_entropy(h, W, y, bias=b)`` equals
``cross_entropy(h @ W.T + b, y)`` without ever allocating the ``(N, V)``
logits.  The vocabulary is walked in chunks of ``C`` classes; each chunk's
logits live in one ``(N, C)`` buffer and are merged into a running
``(max, sum-exp)`` pair per row, the online-softmax recurrence of Milakov &
Gimelshein, "Online normalizer calculation for softmax", arXiv:1805.02867
(2018).  The backward pass recomputes each chunk's logits from the saved
log-normaliser instead of storing them: one extra matmul out of four, and the
elementwise work of a chunk stays in cache.

The running pair keeps the sum *excluding* one maximal entry, so that the
log-normaliser is ``m + log1p(rest)`` as in sigmax's log-sum-exp core
(Blanchard, Higham & Higham 2021, doi:10.1093/imanum/draa038): a loss of
``4e-18`` is not rounded to 0 when the target dominates.

This module also holds the argument checks shared with the sampled losses
(:mod:`sigmax._sampled_losses`).
"""

from __future__ import annotations

import operator

import numpy as np

from . import _policy
from ._function import LossFunction
from ._losses import reduce_loss, reduction_scale
from ._softmax import _live, _log_softmax_from, _shift, _softmax_from

__all__ = ["linear_cross_entropy", "check_large_output_inputs", "chunk_size_for"]


# ----------------------------------------------------------------------------
# Arguments shared by the three large-output losses.

class LargeOutputInputs:
    """Validated arguments: arrays (never copied), their dtypes and the sizes."""

    __slots__ = ("hidden", "weight", "bias", "target", "n", "h", "v", "dtype",
                 "out_dtype", "grad_dtypes")


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    # float32 stays float32 here (BLAS sgemm; the normaliser accumulates in
    # float64); float16/bfloat16 are computed in float32; the rest in float64.
    if dtype == np.float32 or _policy.is_small_float(dtype):
        return np.dtype(np.float32)
    return _policy.compute_dtype(dtype)


def check_layer_shapes(fname, hidden_shape, weight_shape, bias_shape=None):
    """``(N, H, V)`` from the shapes of ``hidden (N, H)``, ``weight (V, H)``, ``bias (V,)``.

    The one shape rule of the output layer, for the NumPy path and every other
    array library (``bias_shape`` None: no bias).
    """
    for name, shape, what in (("hidden", hidden_shape, "(N, H)"),
                              ("weight", weight_shape, "(V, H)")):
        if len(shape) != 2:
            raise _policy.ArgumentError(
                f"{fname}: {name} must be a 2-d array of shape {what}; received shape "
                f"{tuple(shape)}")
    (n, h), v = hidden_shape, weight_shape[0]
    if weight_shape[1] != h:
        raise _policy.ArgumentError(
            f"{fname}: weight of shape {tuple(weight_shape)} does not match hidden of shape "
            f"{tuple(hidden_shape)}; expected shape (V, {h})")
    if bias_shape is not None and tuple(bias_shape) != (v,):
        raise _policy.ArgumentError(
            f"{fname}: bias of shape {tuple(bias_shape)} does not match weight of shape "
            f"{tuple(weight_shape)}; expected shape ({v},)")
    return n, h, v


def check_large_output_inputs(fname, hidden, weight, target, bias, *,
                              ignore_index=None) -> LargeOutputInputs:
    """Check ``hidden (N, H)``, ``weight (V, H)``, ``target (N,)`` and ``bias (V,)``."""
    a = LargeOutputInputs()
    hid = _policy.as_real_array(hidden, fname, "hidden")
    wt = _policy.as_real_array(weight, fname, "weight")
    b = None if bias is None else _policy.as_real_array(bias, fname, "bias")
    a.n, a.h, a.v = check_layer_shapes(fname, hid.shape, wt.shape,
                                       None if b is None else b.shape)
    dtypes = [_policy.result_dtype(fname, name, x.dtype)
              for name, x in (("hidden", hid), ("weight", wt), ("bias", b)) if x is not None]
    a.grad_dtypes = tuple(dtypes) + ((None,) if b is None else ())
    a.out_dtype = np.result_type(*dtypes)
    a.dtype = np.result_type(*[_compute_dtype(d) for d in dtypes])
    a.hidden, a.weight, a.bias = hid, wt, b
    a.target = _policy.check_labels(target, (a.n,), a.v, fname, ignore_index=ignore_index)
    return a


def grads_out(a: LargeOutputInputs, d_hidden, d_weight, d_bias):
    """Round the gradients to the dtypes of their inputs (``None`` for no bias)."""
    dh = _policy.finish(d_hidden, a.grad_dtypes[0])
    dw = _policy.finish(d_weight, a.grad_dtypes[1])
    db = None if a.bias is None else _policy.finish(d_bias, a.grad_dtypes[2])
    return dh, dw, db


def loss_out(per_example, reduction, n_counted, out_dtype):
    """Reduce the float64 per-example losses and round once to ``out_dtype``."""
    return _policy.finish(np.asarray(reduce_loss(per_example, reduction,
                                                 weight_sum=n_counted)), out_dtype)


def check_positive_int(value, fname, name):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fname}: {name} must be a positive int; received {_policy.describe(value)}")
    try:
        k = operator.index(value)
    except TypeError:
        raise TypeError(f"{fname}: {name} must be a positive int; "
                        f"received {_policy.describe(value)}") from None
    if k < 1:
        raise _policy.ArgumentError(f"{fname}: {name} must be a positive int; received {k}")
    return k


# ----------------------------------------------------------------------------
# The chunk size.
#
# The working memory of a chunk is one (n, C) buffer in the compute dtype: the
# forward pass computes the logits into it, shifts, exponentiates and sums in
# place; the backward pass turns it into d_logits in place and hands it to
# BLAS.  Everything else is O(n + C*H) per chunk (row vectors, a view of C rows
# of the weight) or an input/output.  So for a budget of B bytes,
#     C = B / (n * itemsize),
# rounded down to a multiple of 128 (the GEMM kernels' panel widths divide it)
# and at least 128 (narrower GEMMs lose speed), at most V.  B = 8 MiB keeps the
# buffer and the weight chunk inside a 32 MiB L3 for the elementwise passes;
# at N=2048, H=512, float32 it gives C=1024 and about 13 MiB of working memory
# beside inputs and outputs (the buffer, d_hidden's per-chunk product, the
# scaled hidden), 1.2% of the 1 GiB the logits would take.
_CHUNK_BUDGET = 8 * 2**20
_CHUNK_FLOOR = 128


def chunk_size_for(n_rows: int, n_classes: int, itemsize: int,
                   budget: int = _CHUNK_BUDGET) -> int:
    """The default number of classes per chunk for ``n_rows`` rows (see the comment above)."""
    c = budget // max(1, n_rows * itemsize)
    c = max(_CHUNK_FLOOR, c - c % _CHUNK_FLOOR)
    return max(1, min(c, n_classes))


# ----------------------------------------------------------------------------
# The online-softmax core.

class _Rows:
    """The problem restricted to the counted rows, in the compute dtype."""

    __slots__ = ("h", "w", "b", "t", "order", "t_sorted", "n", "v", "chunk", "eps")


def _rows(a: LargeOutputInputs, keep, chunk_size, eps) -> _Rows:
    r = _Rows()
    hid = a.hidden if keep is None else a.hidden[keep]
    r.h = hid.astype(a.dtype, copy=False)
    r.w = a.weight.astype(a.dtype, copy=False)
    r.b = None if a.bias is None else a.bias.astype(a.dtype, copy=False)
    r.t = a.target if keep is None else a.target[keep]
    r.n, r.v = r.h.shape[0], a.v
    # Rows sorted by target: the rows whose target falls in chunk [v0, v1)
    # are one slice of `order`.
    r.order = np.argsort(r.t, kind="stable")
    r.t_sorted = r.t[r.order]
    r.chunk = chunk_size or chunk_size_for(r.n, r.v, r.h.dtype.itemsize)
    r.eps = eps
    return r


def _chunks(r: _Rows):
    """Yield ``(v0, v1, rows, cols)``: the chunk and the (row, column) of its targets."""
    for v0 in range(0, r.v, r.chunk):
        v1 = min(v0 + r.chunk, r.v)
        lo, hi = np.searchsorted(r.t_sorted, (v0, v1))
        yield v0, v1, r.order[lo:hi], r.t_sorted[lo:hi] - v0


def _logits(r: _Rows, v0, v1, buf):
    """The chunk's logits ``h @ W[v0:v1].T + b[v0:v1]`` into ``buf`` (BLAS, no copy)."""
    out = buf[:, : v1 - v0]
    np.matmul(r.h, r.w[v0:v1].T, out=out)
    if r.b is not None:
        out += r.b[v0:v1]
    return out


def _forward(r: _Rows):
    """Per-row ``(m, rest, lse, target_logit, bad)`` over the vocabulary, chunk by chunk.

    ``lse = m + log1p(rest)``, all float64.  ``bad`` marks rows with a +inf or NaN logit, or all logits -inf: their
    values are left to :func:`_special_rows`.
    """
    n = r.n
    rows_n = np.arange(n)
    # Running state: e^lse = e^m * (1 + rest), `rest` excluding one maximal entry.
    m = np.full(n, -np.inf)
    rest = np.zeros(n)
    x_t = np.zeros(n)
    bad = np.zeros(n, dtype=bool)
    buf = np.empty((n, min(r.chunk, r.v)), dtype=r.h.dtype)
    for v0, v1, rows, cols in _chunks(r):
        z = _logits(r, v0, v1, buf)
        x_t[rows] = z[rows, cols]
        k = np.argmax(z, axis=1)  # NaN counts as the maximum: such rows are bad
        mc = z[rows_n, k].astype(np.float64)
        finite = np.isfinite(mc)
        if not finite.all():
            bad |= np.isnan(mc) | (mc == np.inf)
            mc_shift = np.where(finite, mc, 0.0)
        else:
            mc_shift = mc
        z -= mc_shift[:, None].astype(z.dtype)
        np.exp(z, out=z)
        z[rows_n, k] = 0.0  # the sum excluding the maximum (exactly 1 before)
        rc = np.sum(z, axis=1, dtype=np.float64)
        # Merge (m, rest) with the chunk's (mc, rc) under the larger maximum:
        #   e^m (1 + rest) + e^mc (1 + rc) = e^M (1 + rest'),
        #   rest' = rc + (1 + rest) e^(m - mc)   if mc > m,
        #           rest + (1 + rc) e^(mc - m)   otherwise.
        # A chunk whose maximum is -inf adds nothing (its difference is NaN or -inf).
        up = mc > m
        d = np.where(up, m - mc, mc - m)
        d = np.where(np.isnan(d), -np.inf, d)
        scale = np.exp(d)
        rest = np.where(up, rc + (1.0 + rest) * scale, rest + (1.0 + rc) * scale)
        m = np.where(up, mc, m)
    bad |= m == -np.inf
    lse = m + np.log1p(rest)
    return m, rest, lse, x_t, bad


def _per_example(r: _Rows, m, rest, x_t, lse):
    """``-(1-eps) log p_t - eps/V sum_j log p_j`` in float64 for the good rows."""
    # (m - x_t) + log1p(rest): exact subtraction first, so a dominant target
    # keeps the relative accuracy of log1p(rest).
    nll = (m - x_t) + np.log1p(rest)
    if r.eps == 0.0:
        return nll
    # sum_j x_j = h . (sum_j W_j) + sum_j b_j: one matrix-vector product
    # instead of a pass over every chunk (the sums accumulate in float64).
    sum_x = r.h.astype(np.float64, copy=False) @ np.sum(r.w, axis=0, dtype=np.float64)
    if r.b is not None:
        sum_x = sum_x + np.sum(r.b, dtype=np.float64)
    smooth = lse - sum_x / r.v
    if r.eps == 1.0:
        return smooth
    return (1.0 - r.eps) * nll + r.eps * smooth


def _special_rows(r: _Rows, idx, scale, with_grad):
    """Rows with non-finite logits, on the plain path of sigmax's softmax core.

    Their V logits are held (only for these rows); the SPEC section 4 rules
    follow from the core: +inf logits share the probability, an all -inf row
    has loss inf, and both have zero gradients; NaN rows give NaN.
    """
    h = r.h[idx]
    x = (h @ r.w.T).astype(np.float64)
    if r.b is not None:
        x += r.b
    s = _shift(x, (1,))
    logp = _log_softmax_from(s)
    t = r.t[idx]
    loss = -logp[np.arange(len(idx)), t]
    if r.eps > 0:
        smooth = -np.mean(logp, axis=1) if r.v else np.zeros(len(idx))
        loss = smooth if r.eps == 1.0 else (1 - r.eps) * loss + r.eps * smooth
    if not with_grad:
        return loss, None, None, None
    dl = _softmax_from(s) - r.eps / max(r.v, 1)
    dl[np.arange(len(idx)), t] -= 1.0 - r.eps
    # In the compute dtype, so that W is never converted as a whole.
    dl = (np.where(_live(s), dl, 0.0) * scale).astype(h.dtype)
    return loss, dl @ r.w, dl.T @ h, dl.sum(axis=0, dtype=np.float64)


def _backward(r: _Rows, lse, good, scale):
    """``(d_hidden, d_weight, d_bias)`` of ``scale * sum(loss_i)`` over the good rows.

    Per chunk, with ``p = exp(logits - lse)`` recomputed in place:
    ``d_logits = p - (1 - eps) onehot(t) - eps / V`` (the gradient of the
    smoothed cross-entropy), then three BLAS products.  The reduction's scale
    multiplies ``hidden`` once before the weight product and ``d_hidden`` once
    at the end, never the chunk.
    """
    n, dt = r.n, r.h.dtype
    # Bad rows get lse = +inf: their p is 0 and their targets are skipped.
    lse_c = np.where(good, lse, np.inf).astype(dt)
    h_scaled = np.where(good[:, None], r.h * dt.type(scale), 0).astype(dt)
    ones = np.where(good, scale, 0.0).astype(dt)
    d_hidden = np.zeros((n, r.h.shape[1]), dtype=dt)
    d_weight = np.empty(r.w.shape, dtype=dt)
    d_bias = None if r.b is None else np.empty(r.v, dtype=dt)
    buf = np.empty((n, min(r.chunk, r.v)), dtype=dt)
    prod = np.empty_like(d_hidden)
    off = dt.type(r.eps / max(r.v, 1))
    # Classes switched off by a -inf bias have a zero gradient (log_softmax is
    # constant in them), also under label smoothing and as a row's target.
    off_classes = None if r.b is None else np.flatnonzero(r.b == -np.inf)
    for v0, v1, rows, cols in _chunks(r):
        z = _logits(r, v0, v1, buf)
        z -= lse_c[:, None]  # (+inf) - (+inf) on a bad row: zeroed below
        np.exp(z, out=z)
        if r.eps:
            z -= off
        keep = good[rows]
        z[rows[keep], cols[keep]] -= dt.type(1.0 - r.eps)
        if not good.all():
            z[~good] = 0.0
        if off_classes is not None and len(off_classes):
            lo, hi = np.searchsorted(off_classes, (v0, v1))
            z[:, off_classes[lo:hi] - v0] = 0.0
        np.matmul(z, r.w[v0:v1], out=prod)
        d_hidden += prod
        np.matmul(z.T, h_scaled, out=d_weight[v0:v1])
        if d_bias is not None:
            np.matmul(ones, z, out=d_bias[v0:v1])
    d_hidden *= dt.type(scale)
    return d_hidden, d_weight, d_bias


def _linear_ce(a: LargeOutputInputs, reduction, eps, chunk_size, ignore_index, with_grad):
    """The shared core of the value and of value_and_grad (float64 per-example losses)."""
    keep = None
    n_counted = a.n
    if ignore_index is not None:
        counted = a.target != ignore_index
        n_counted = int(counted.sum())
        if n_counted < a.n:
            keep = np.flatnonzero(counted)
    scale = reduction_scale(reduction, n_counted)
    r = _rows(a, keep, chunk_size, eps)
    m, rest, lse, x_t, bad = _forward(r)
    per = _per_example(r, m, rest, x_t, lse)
    special = np.flatnonzero(bad)
    grads = None
    if len(special):
        loss_s, dh_s, dw_s, db_s = _special_rows(r, special, scale, with_grad)
        per[special] = loss_s
    if with_grad:
        dh, dw, db = _backward(r, lse, ~bad, scale)
        if len(special):
            dh[special] = dh_s
            dw += dw_s.astype(dw.dtype)
            if db is not None:
                db += db_s.astype(db.dtype)
        if keep is not None:
            full = np.zeros((a.n, a.h), dtype=dh.dtype)
            full[keep] = dh
            dh = full
        grads = dh, dw, db
    if keep is not None:
        full = np.zeros(a.n)
        full[keep] = per
        per = full
    return per, n_counted, grads


class LinearCrossEntropy(LossFunction):
    r"""Softmax cross-entropy of a linear layer, chunked over the classes.

    Equal to ``cross_entropy(hidden @ weight.T + bias, target, ...)`` without
    ever holding the ``(N, V)`` logits: the classes are walked in chunks whose
    running maxima and sums of exponentials are merged with the online-softmax
    recurrence (Milakov & Gimelshein 2018, arXiv:1805.02867),

    .. math::

        m' = \max(m, m_c), \qquad
        s' = s\, e^{m - m'} + s_c\, e^{m_c - m'}, \qquad
        \operatorname{lse}_i = m + \log s,

    and the per-example loss with label smoothing :math:`\varepsilon` is

    .. math::

        \ell_i = \operatorname{lse}_i - (1 - \varepsilon)\, x_{i t_i}
                 - \frac{\varepsilon}{V} \sum_j x_{ij},
        \qquad x_{ij} = h_i \cdot w_j + b_j .

    The gradient recomputes each chunk's logits:
    :math:`\partial \ell_i / \partial x_{ij} = p_{ij} - (1 - \varepsilon)[j = t_i]
    - \varepsilon / V`, then :math:`\partial h = \partial x\, W`,
    :math:`\partial W = \partial x^\top h`, :math:`\partial b = \mathbf 1^\top
    \partial x`.

    Parameters
    ----------
    hidden : array_like, shape (N, H)
        Hidden states (the layer's inputs).
    weight : array_like, shape (V, H)
        One row of weights per class.
    target : array_like of int, shape (N,)
        Class indices in ``[0, V)`` (or ``ignore_index``).
    bias : array_like, shape (V,), optional
        Per-class bias; ``-inf`` switches a class off.
    ignore_index : int, optional
        Targets equal to it take no part (loss 0, zero gradient) and are not
        counted by ``'mean'``.
    label_smoothing : float, default 0.0
        Mix of the one-hot target with the uniform distribution over V classes.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    chunk_size : int, optional
        Classes per chunk.  By default from an 8 MiB budget for the chunk's
        ``(N, chunk)`` buffer (at least 128 classes).

    Returns
    -------
    loss : scalar or ndarray
        In the dtype of the inputs; shape ``(N,)`` for ``reduction='none'``.

    Methods
    -------
    value_and_grad(hidden, weight, target, **kw)
        ``(loss, (d_hidden, d_weight, d_bias))``, ``d_bias`` None without a
        bias; for ``'none'`` the gradient of the sum of the losses.

    Notes
    -----
    PyTorch, JAX and other array-API arrays take sigmax's generic path (same
    chunked algorithm, differentiable by their autograd); Dask arrays have no
    path yet.  float32 inputs are multiplied in float32 (BLAS) and the normaliser is
    accumulated in float64; float16 and bfloat16 are computed in float32.
    Working memory is one ``(N, chunk)`` buffer plus O(N H); rows with a
    ``+inf`` or NaN logit, or with every class at ``-inf``, are evaluated on
    the plain path (holding their own V logits) and follow SPEC section 4.

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> rng = np.random.default_rng(0)
    >>> h, W = rng.normal(size=(4, 3)), rng.normal(size=(10, 3))
    >>> y = np.array([1, 0, 9, 4])
    >>> loss = sx.linear_cross_entropy(h, W, y, chunk_size=3)
    >>> x = h @ W.T                                   # the (N, V) logits, held
    >>> naive = np.mean(np.log(np.exp(x).sum(axis=1)) - x[np.arange(4), y])
    >>> bool(np.isclose(loss, naive))
    True
    >>> loss, (dh, dW, db) = sx.linear_cross_entropy.value_and_grad(h, W, y)
    >>> dh.shape, dW.shape, db
    ((4, 3), (10, 3), None)
    """

    name = "linear_cross_entropy"

    def _setup(self, method, hidden, weight, target, bias, ignore_index, label_smoothing,
               reduction, chunk_size):
        fname = self._method_name(method)
        reduction = _policy.check_reduction(reduction, fname)
        eps = _policy.check_label_smoothing(label_smoothing, fname)
        ignore_index = _policy.check_ignore_index(ignore_index, fname)
        if chunk_size is not None:
            chunk_size = check_positive_int(chunk_size, fname, "chunk_size")
        a = check_large_output_inputs(fname, hidden, weight, target, bias,
                                      ignore_index=ignore_index)
        return a, reduction, eps, chunk_size, ignore_index

    def _routed(self, method, hidden, weight, target, **kw):
        # PyTorch, JAX, ... arrays take the array-API path (sigmax._generic_large).
        return self._route(method, (hidden, weight, target), kw)

    def __call__(self, hidden, weight, target, *, bias=None, ignore_index=None,
                 label_smoothing=0.0, reduction="mean", chunk_size=None):
        routed = self._routed("__call__", hidden, weight, target, bias=bias,
                              ignore_index=ignore_index, label_smoothing=label_smoothing,
                              reduction=reduction, chunk_size=chunk_size)
        if routed is not NotImplemented:
            return routed
        a, reduction, eps, chunk, ign = self._setup(
            None, hidden, weight, target, bias, ignore_index, label_smoothing, reduction,
            chunk_size)
        with np.errstate(all="ignore"):  # non-finite rows follow SPEC section 4 silently
            per, n_counted, _ = _linear_ce(a, reduction, eps, chunk, ign, with_grad=False)
        return loss_out(per, reduction, n_counted, a.out_dtype)

    def value_and_grad(self, hidden, weight, target, *, bias=None, ignore_index=None,
                       label_smoothing=0.0, reduction="mean", chunk_size=None):
        """``(loss, (d_hidden, d_weight, d_bias))``, one forward and one backward sweep."""
        routed = self._routed("value_and_grad", hidden, weight, target, bias=bias,
                              ignore_index=ignore_index, label_smoothing=label_smoothing,
                              reduction=reduction, chunk_size=chunk_size)
        if routed is not NotImplemented:
            return routed
        a, reduction, eps, chunk, ign = self._setup(
            "value_and_grad", hidden, weight, target, bias, ignore_index, label_smoothing,
            reduction, chunk_size)
        with np.errstate(all="ignore"):
            per, n_counted, grads = _linear_ce(a, reduction, eps, chunk, ign, with_grad=True)
        return loss_out(per, reduction, n_counted, a.out_dtype), grads_out(a, *grads)


linear_cross_entropy = LinearCrossEntropy()
