r"""The array-API path of linear_cross_entropy: chunked over the classes.

The contract of :mod:`sigmax._large_output`: equal to
``cross_entropy(hidden @ weight.T + bias, target, ...)`` without ever holding
the ``(N, V)`` logits.  The classes are walked in chunks of ``chunk_size``
(the NumPy path's default from an 8 MiB budget); each chunk's row statistics
``(m, rest, n_inf)`` are merged into the running ones with the same
exclude-the-maximum recurrence as Dask's chunks (:func:`sigmax._generic._merge_stats`,
Milakov & Gimelshein 2018, arXiv:1805.02867), so that

.. math::

    \ell_i = -(1 - \varepsilon) \log p_{i t_i}
             + \varepsilon \Big(\operatorname{lse}_i - \frac{1}{V}\sum_j x_{ij}\Big),
    \qquad x_{ij} = h_i \cdot w_j + b_j,

with ``log p_{i t_i}`` from the merged statistics (``+inf`` and all ``-inf``
rows follow SPEC section 4).  The backward pass recomputes each chunk's
logits: :math:`\partial\ell_i/\partial x_{ij} = p_{ij} - (1 - \varepsilon)[j = t_i]
- \varepsilon / V` (0 at ``-inf`` logits and through special rows), then
``d_hidden = dx W``, ``d_weight = dx^T h``, ``d_bias = 1^T dx``.

float32 (and smaller) inputs are multiplied in float32; the statistics are
accumulated in the compute dtype (float64 where the library has it).
"""

from __future__ import annotations

import math

import numpy as np

from . import _generic, _policy
from ._generic import _INF, _merge_stats, _row_stats
from ._generic_losses import _range_checked
from ._generic_softmax import _live_elem, _log_softmax_elem, _softmax_elem
from ._large_output import check_layer_shapes, check_positive_int, chunk_size_for

__all__ = ["layer_arrays", "class_targets"]


def layer_arrays(ctx, fname, hidden, weight, bias):
    """``([(array, name), ...], n, v)`` for ``hidden``, ``weight`` and ``bias`` (if given)."""
    inputs = [(ctx._own(hidden, fname, "hidden"), "hidden"),
              (ctx._own(weight, fname, "weight"), "weight")]
    if bias is not None:
        inputs.append((ctx._own(bias, fname, "bias"), "bias"))
    n, _, v = check_layer_shapes(fname, *(tuple(a.shape) for a, _ in inputs))
    return inputs, n, v


def class_targets(ctx, fname, target, n, v, ignore_index):
    """``target`` checked: integer class indices of shape ``(n,)`` in ``[0, v)``."""
    xp = ctx.xp
    target = ctx._own(target, fname, "target")
    if ctx.kind(target.dtype) != "integer" or target.dtype == xp.bool:
        raise TypeError(
            f"{fname}: target must be an integer array of class indices; received dtype "
            f"{target.dtype} (float and bool labels are not accepted, even with integral values)")
    if tuple(target.shape) != (n,):
        raise _policy.ArgumentError(f"{fname}: target of shape {tuple(target.shape)} does not "
                                    f"match the expected shape {(n,)}")
    return _range_checked(ctx, fname, target, v, ignore_index)


def _linear_cross_entropy(ctx, name, method, args, kwargs):
    fname = name if method == "__call__" else f"{name}.{method}"
    xp = ctx.xp
    inputs, n, v = layer_arrays(ctx, fname, args[0], args[1], kwargs.get("bias"))
    cast = [ctx.input(a, fname, nm) for a, nm in inputs]
    out_dtypes = [o for _, o in cast]
    out = xp.result_type(*out_dtypes)
    # float32 (and smaller) inputs multiply in float32, the rest in the compute dtype.
    small = all(ctx.kind(o) == "float" and o != xp.float64 for o in out_dtypes)
    mm = xp.float32 if small else ctx.cdtype
    xs = tuple(ctx.astype(c, mm) for c, _ in cast)
    # float32 products are not exact in float64: the TwoSum of the shift would
    # correct nothing the float32 rounding keeps.
    exact = not small

    reduction = _policy.check_reduction(kwargs.get("reduction", "mean"), fname)
    eps = _policy.check_label_smoothing(kwargs.get("label_smoothing", 0.0), fname)
    ignore_index = _policy.check_ignore_index(kwargs.get("ignore_index"), fname)
    chunk = kwargs.get("chunk_size")
    chunk = (chunk_size_for(n, v, 4 if small else 8) if chunk is None
             else check_positive_int(chunk, fname, "chunk_size"))
    target = class_targets(ctx, fname, args[2], n, v, ignore_index)
    if ctx.lib == "dask":
        return _dask_linear_cross_entropy(
            method, xs, target, dict(small=small, exact=exact, reduction=reduction, eps=eps,
                                     ignore_index=ignore_index, chunk=kwargs.get("chunk_size"),
                                     out=out, out_dtypes=out_dtypes))
    t = xp.reshape(target, (n, 1))
    keep = t == t if ignore_index is None else t != ignore_index
    n_counted = xp.sum(ctx.astype(keep, ctx.cdtype))
    scale = xp.where(n_counted == 0, 0.0, 1.0 / xp.where(n_counted == 0, 1.0, n_counted))
    bounds = [(v0, min(v0 + chunk, v)) for v0 in range(0, v, chunk)]

    def product(h, w, v0, v1):
        return ctx.astype(h @ xp.matrix_transpose(w[v0:v1, :]), ctx.cdtype)

    def logits(xs, v0, v1):
        lg = product(xs[0], xs[1], v0, v1)
        return lg + ctx.astype(xs[2][v0:v1], ctx.cdtype) if len(xs) == 3 else lg

    def onehot(v0, v1):
        cls = xp.reshape(xp.arange(v0, v1, dtype=target.dtype, device=ctx.device), (1, -1))
        return (t == cls) & keep

    def statistics(xs):
        col = xp.zeros((n, 1), dtype=ctx.cdtype, device=ctx.device)
        m, rest, n_inf, x_t, sum_x = col - _INF, col, col, col, col
        for v0, v1 in bounds:
            lg = logits(xs, v0, v1)
            parts = zip((m, rest, n_inf), _row_stats(xp, lg, (1,), 1.0, exact))
            m, rest, n_inf = _merge_stats(xp, *(xp.concat(p, axis=1) for p in parts), (1,),
                                          1.0, exact)
            x_t = x_t + xp.sum(xp.where(onehot(v0, v1), lg, 0.0), axis=1, keepdims=True)
            if eps:
                sum_x = sum_x + xp.sum(lg, axis=1, keepdims=True)
        return m, rest, n_inf, x_t, sum_x

    def value(*xs):
        m, rest, n_inf, x_t, sum_x = statistics(xs)
        per = -_log_softmax_elem(1.0, exact)(xp, x_t, m, rest, n_inf)
        if eps:
            lse = xp.where(xp.isinf(m), m, m + xp.log1p(rest))
            # The mean of -log p over the classes; +inf in every class: log V.
            smooth = xp.where(m == _INF, xp.where(n_inf == v, xp.full_like(m, math.log(v)), _INF),
                              xp.where(m == -_INF, _INF, lse - sum_x / v))
            per = smooth if eps == 1.0 else (1.0 - eps) * per + eps * smooth
        per = xp.reshape(xp.where(keep, per, 0.0), (n,))
        if reduction == "none":
            return per
        return xp.sum(per) if reduction == "sum" else xp.sum(per) * scale

    def d_logits(xs, stats, g, v0, v1):
        m, rest, n_inf = stats[:3]
        lg = logits(xs, v0, v1)
        p = _softmax_elem(1.0, exact)(xp, lg, m, rest, n_inf)
        cot = (1.0 - eps) * xp.astype(onehot(v0, v1), ctx.cdtype) + eps / v
        live = _live_elem(xp, lg, m) & keep
        return xp.where(live, (p - cot) * g, 0.0)

    def row_cotangent(g):
        if reduction == "none":
            return xp.reshape(ctx.astype(g, ctx.cdtype), (n, 1))
        return g * scale if reduction == "mean" else g

    def vjp(xs, g):
        stats, g = statistics(xs), row_cotangent(g)
        d_h = xp.zeros(tuple(xs[0].shape), dtype=ctx.cdtype, device=ctx.device)
        d_w, d_b = [], []
        for v0, v1 in bounds:
            d = ctx.astype(d_logits(xs, stats, g, v0, v1), mm)
            d_h = d_h + ctx.astype(d @ xs[1][v0:v1, :], ctx.cdtype)
            d_w.append(xp.matrix_transpose(d) @ xs[0])
            d_b.append(xp.sum(d, axis=0))
        grads = (d_h, xp.concat(d_w, axis=0) if d_w else xp.zeros_like(xs[1]),
                 xp.concat(d_b, axis=0) if d_b else xp.zeros((0,), dtype=mm, device=ctx.device))
        return tuple(ctx.astype(gr, x.dtype) for gr, x in zip(grads, xs))

    def jvp(xs, vs):
        # <d loss, (dh, dW, db)> = sum_ij dx_ij (dh_i . w_j + h_i . dw_j + db_j): linear in vs.
        stats = statistics(xs)
        one = xp.ones((n,) if reduction == "none" else (), dtype=ctx.cdtype, device=ctx.device)
        g, acc = row_cotangent(one), xp.zeros((n, 1), dtype=ctx.cdtype, device=ctx.device)
        for v0, v1 in bounds:
            d = d_logits(xs, stats, g, v0, v1)
            tangent = product(vs[0], xs[1], v0, v1) + product(xs[0], vs[1], v0, v1)
            if len(xs) == 3:
                tangent = tangent + ctx.astype(vs[2][v0:v1], ctx.cdtype)
            acc = acc + xp.sum(d * tangent, axis=1, keepdims=True)
        acc = xp.reshape(acc, (n,))
        return acc if reduction == "none" else xp.sum(acc)

    if method == "value_and_grad":
        grads = vjp(xs, xp.ones((n,) if reduction == "none" else (), dtype=ctx.cdtype,
                                device=ctx.device))
        grads = tuple(ctx.astype(gr, o) for gr, o in zip(grads, out_dtypes))
        if len(xs) == 2:  # no bias
            grads = grads + (None,)
        return ctx.astype(value(*xs), out), grads
    return ctx.astype(ctx.differentiable_many(value, vjp, jvp, xs), out)


# ----------------------------------------------------------------------------
# Dask: a grid of (row block, class block) tasks.

_FIELDS = ("m", "rest", "n_inf", "x_t", "sum_x")


def _pack(*fields):
    out = np.empty(np.shape(fields[0]), dtype=[(f, np.float64) for f in _FIELDS])
    for name, value in zip(_FIELDS, fields):
        out[name] = value
    return out


def _unpack(s):
    return tuple(np.asarray(s[f]) for f in _FIELDS)


class _DaskBlocks:
    """The per-block computations of the Dask path (NumPy blocks, quiet, picklable).

    A block ``(i, j)`` is the rows ``i`` of ``hidden`` against the classes ``j``
    of ``weight``: its logits ``h_i W_j^T + b_j`` exist only inside the task.
    """

    def __init__(self, exact, eps, v, ignore_index):
        self.exact, self.eps, self.v, self.ignore_index = exact, eps, v, ignore_index

    def _ns(self, a):
        import array_api_compat

        return array_api_compat.array_namespace(a)

    def logits(self, xp, h, w, b):
        lg = xp.astype(h @ xp.matrix_transpose(w), xp.float64)
        return lg if b is None else lg + xp.astype(b, xp.float64)

    def keep(self, xp, t):
        t = xp.reshape(t, (-1, 1))
        return t == t if self.ignore_index is None else t != self.ignore_index

    def onehot(self, xp, t, cls):
        return (xp.reshape(t, (-1, 1)) == xp.reshape(cls, (1, -1))) & self.keep(xp, t)

    def stats(self, h, w, cls, t, *b):
        """The block's ``(m, rest, n_inf, x_t, sum_x)`` per row, shape (rows, 1)."""
        with np.errstate(all="ignore"):
            xp = self._ns(h)
            lg = self.logits(xp, h, w, b[0] if b else None)
            m, rest, n_inf = _row_stats(xp, lg, (1,), 1.0, self.exact)
            x_t = xp.sum(xp.where(self.onehot(xp, t, cls), lg, 0.0), axis=1, keepdims=True)
            return _pack(m, rest, n_inf, x_t, xp.sum(lg, axis=1, keepdims=True))

    def merge(self, s, axis, keepdims):
        """Merge the statistics of class blocks concatenated along axis 1."""
        with np.errstate(all="ignore"):
            m, rest, n_inf, x_t, sum_x = _unpack(s)
            xp = self._ns(m)
            m, rest, n_inf = _merge_stats(xp, m, rest, n_inf, (1,), 1.0, self.exact)
            return _pack(m, rest, n_inf, xp.sum(x_t, axis=1, keepdims=True),
                         xp.sum(sum_x, axis=1, keepdims=True))

    @staticmethod
    def identity(s, axis, keepdims):
        return s

    def per_row(self, s, t):
        """Each row's loss (0 for ignored rows), shape (rows,)."""
        with np.errstate(all="ignore"):
            m, rest, n_inf, x_t, sum_x = (a[:, None] for a in _unpack(s))
            xp = self._ns(m)
            per = -_log_softmax_elem(1.0, self.exact)(xp, x_t, m, rest, n_inf)
            eps, v = self.eps, self.v
            if eps:
                lse = xp.where(xp.isinf(m), m, m + xp.log1p(rest))
                smooth = xp.where(m == _INF,
                                  xp.where(n_inf == v, xp.full_like(m, math.log(v)), _INF),
                                  xp.where(m == -_INF, _INF, lse - sum_x / v))
                per = smooth if eps == 1.0 else (1.0 - eps) * per + eps * smooth
            return xp.reshape(xp.where(self.keep(xp, t), per, 0.0), (-1,))

    def d_logits(self, h, w, cls, t, s, b):
        """``d loss_i / d x_ij`` for a unit cotangent of each counted row."""
        xp = self._ns(h)
        m, rest, n_inf = (a[:, None] for a in _unpack(s)[:3])
        lg = self.logits(xp, h, w, b[0] if b else None)
        p = _softmax_elem(1.0, self.exact)(xp, lg, m, rest, n_inf)
        cot = (1.0 - self.eps) * xp.astype(self.onehot(xp, t, cls), xp.float64) + self.eps / self.v
        live = _live_elem(xp, lg, m) & self.keep(xp, t)
        return xp.astype(xp.where(live, p - cot, 0.0), h.dtype)

    def d_hidden(self, h, w, cls, t, s, *b):
        with np.errstate(all="ignore"):
            d = self.d_logits(h, w, cls, t, s, b)
            return self._ns(d).astype(d @ w, np.float64)[:, None, :]

    def d_weight(self, h, w, cls, t, s, *b):
        with np.errstate(all="ignore"):
            d = self.d_logits(h, w, cls, t, s, b)
            xp = self._ns(d)
            return xp.astype(xp.matrix_transpose(d) @ h, np.float64)[None, :, :]

    def d_bias(self, h, w, cls, t, s, *b):
        with np.errstate(all="ignore"):
            d = self.d_logits(h, w, cls, t, s, b)
            return self._ns(d).sum(d, axis=0, dtype=np.float64)[None, :]


def _dask_linear_cross_entropy(method, xs, target, o):
    """linear_cross_entropy of Dask arrays, lazily.

    ``hidden`` is taken in its blocks of rows and ``weight`` (with ``bias``) in
    its blocks of classes (``chunk_size`` rechunks the classes); the hidden
    axis is one chunk.  One task per (row block, class block) computes the
    statistics of its logits; a tree reduction merges them across the class
    blocks (:func:`sigmax._generic._merge_stats`).  The gradients recompute
    each block's logits: ``d_hidden`` sums ``dx_ij W_j`` over the class blocks,
    ``d_weight`` and ``d_bias`` sum ``dx_ij^T h_i`` and ``1^T dx_ij`` over the
    row blocks, all lazily.
    """
    import dask.array as da

    mm = np.float32 if o["small"] else np.float64
    hidden = xs[0].astype(mm).rechunk({1: -1})
    weight = xs[1].astype(mm).rechunk({1: -1})
    if o["chunk"] is not None:
        weight = weight.rechunk({0: o["chunk"]})
    n, v = hidden.shape[0], weight.shape[0]
    vch = weight.chunks[0]
    target = target.rechunk((hidden.chunks[0],))
    cls = da.arange(v, chunks=(vch,), dtype=np.int64)
    extra = [] if len(xs) == 2 else [xs[2].astype(mm).rechunk((vch,)), "j"]
    blocks = _DaskBlocks(o["exact"], o["eps"], v, o["ignore_index"])
    rec = np.dtype([(f, np.float64) for f in _FIELDS])

    def grid(fn, out_index, dtype, adjust, *more):
        ndim = len(out_index)
        return da.blockwise(fn, out_index, hidden, "ik", weight, "jk", cls, "j", target, "i",
                            *more, *extra, dtype=dtype, adjust_chunks=adjust, concatenate=True,
                            meta=np.empty((0,) * ndim, dtype=dtype))

    parts = grid(blocks.stats, "ij", rec, {"j": 1})
    stats = da.reduction(parts, blocks.identity, blocks.merge, combine=blocks.merge, axis=1,
                         keepdims=True, dtype=rec, concatenate=True,
                         meta=np.empty((0, 0), dtype=rec))[:, 0]
    per = da.blockwise(blocks.per_row, "i", stats, "i", target, "i", dtype=np.float64,
                       meta=np.empty((0,), dtype=np.float64))
    reduction = o["reduction"]
    ignore_index = o["ignore_index"]
    counted = (target != ignore_index) if ignore_index is not None else None
    n_counted = n if counted is None else da.sum(counted.astype(np.float64))
    if reduction == "mean":
        scale = (da.where(n_counted == 0, 0.0, 1.0 / da.where(n_counted == 0, 1.0, n_counted))
                 if counted is not None else (1.0 / n if n else 0.0))
    else:
        scale = 1.0
    value = per if reduction == "none" else (da.sum(per) * scale if reduction == "mean"
                                             else da.sum(per))
    value = value.astype(o["out"])
    if method != "value_and_grad":
        return value
    f64 = np.float64            # the partial gradients are summed in float64
    d_h = grid(blocks.d_hidden, "ijk", f64, {"j": 1}, stats, "i").sum(axis=1)
    d_w = grid(blocks.d_weight, "ijk", f64, {"i": 1}, stats, "i").sum(axis=0)
    grads = [d_h, d_w]
    if len(xs) == 3:
        grads.append(grid(blocks.d_bias, "ij", f64, {"i": 1}, stats, "i").sum(axis=0))
    grads = [(g * scale).astype(dt) for g, dt in zip(grads, o["out_dtypes"])]
    return value, tuple(grads) + ((None,) if len(xs) == 2 else ())


_generic._IMPLEMENTATIONS["linear_cross_entropy"] = _linear_cross_entropy
