r"""The array-API path of the losses over a class axis: cross_entropy and nll_loss.

Written with the primitives of :mod:`sigmax._generic` and the semantics of
:mod:`sigmax._losses` (PyTorch's conventions):

.. math::

    \ell = \sum_c wq_c\,(-\log p_c), \qquad
    \frac{\partial \ell}{\partial x_c} = p_c \sum_k wq_k - wq_c

with ``wq = (1 - eps) w_y onehot(y) + (eps / C) w`` for integer targets
``y`` (class weights ``w``, smoothing ``eps`` over ``C`` classes) and
``wq = w ((1 - eps) q + eps / C)`` for probability targets ``q``.  The
gradient is zero at ``-inf`` (masked) logits and through empty and ``+inf``
rows; ``0 * log 0`` is 0.  ``nll_loss`` is ``-w_y a_y`` of given
log-probabilities ``a``.  A weighted ``'mean'`` divides by the sum of the
weights of the counted targets; with every target ignored it is 0 with a zero
gradient.

Labels are gathered by comparing them with the class indices (a one-hot mask),
which every library and Dask's chunks support.  Out-of-range labels raise the
NumPy path's ``ValueError`` (naming the first offending index and its value):
at once for eager arrays (PyTorch, array-api-strict, NumPy, concrete JAX
arrays), at compute time for Dask arrays (the target becomes a lazy array that
depends on a scan of the labels).  JAX labels traced under ``jax.jit`` (or
``vmap``) cannot be read and are not checked: there, a label outside
``[0, C)`` that is not ``ignore_index`` selects no class, so its row is left
out as an ignored one would be (loss 0, zero gradient, not counted by
``'mean'``) -- check labels outside the jitted function.
"""

from __future__ import annotations

import math

from . import _generic, _generic_softmax, _policy

__all__ = []


class _Labels:
    """Integer targets along a class axis: the one-hot mask and the weights of the targets.

    Attributes: ``onehot`` (bool, broadcast to the input with ``keep`` folded
    in), ``keep`` (bool, keepdims), ``wvec`` (the class weights, keepdims),
    ``wy`` (``w_y`` at the targets, 0 elsewhere) and ``denom`` (the sum of the
    weights of the counted targets, the weighted ``'mean'``'s denominator).
    """

    def __init__(self, ctx, fname, target, x, ax, ignore_index, w):
        xp = ctx.xp
        n_classes = x.shape[ax]
        lead = tuple(n for i, n in enumerate(x.shape) if i != ax)
        per_class = tuple(n_classes if i == ax else 1 for i in range(x.ndim))
        if tuple(target.shape) != lead:
            raise _policy.ArgumentError(f"{fname}: target of shape {tuple(target.shape)} "
                                        f"does not match the expected shape {lead}")
        target = _range_checked(ctx, fname, target, n_classes, ignore_index)
        y = xp.expand_dims(target, axis=ax)
        classes = xp.reshape(xp.arange(n_classes, dtype=target.dtype, device=ctx.device),
                             per_class)
        self.keep = y == y if ignore_index is None else y != ignore_index
        self.onehot = (y == classes) & self.keep
        self.wvec = xp.ones(per_class, dtype=x.dtype, device=ctx.device) if w is None else w
        self.wy = xp.where(self.onehot, self.wvec, 0.0)
        self.denom = xp.sum(self.wy)


def _range_checked(ctx, fname, target, n_classes, ignore_index):
    """``target``, checked to hold class indices in ``[0, C)`` (or ``ignore_index``).

    Eager arrays are checked now (one host read of a boolean); a Dask target
    comes back as a lazy array whose blocks raise at compute time; traced JAX
    labels are returned unchecked (see the module docstring).
    """
    if ctx.lib == "dask":
        return _dask_range_checked(fname, target, n_classes, ignore_index)
    if ctx.lib == "jax":
        import jax

        if isinstance(target, jax.core.Tracer):
            return target
    _check_range(ctx, fname, target, n_classes, ignore_index)
    return target


def _bad_labels(target, n_classes, ignore_index):
    bad = (target < 0) | (target >= n_classes)
    return bad if ignore_index is None else bad & (target != ignore_index)


def _range_error(fname, value, idx, n_classes, ignore_index):
    expected = (f"a class index in [0, {n_classes - 1}]" if n_classes > 0
                else "no class index (there are 0 classes)")
    if ignore_index is not None:
        expected += f" or ignore_index={ignore_index}"
    return _policy.ArgumentError(f"{fname}: target holds {value} at index {idx}; "
                                 f"expected {expected}")


def _unravel(flat, shape):
    idx = []
    for n in reversed(tuple(shape)):
        idx.append(flat % n)
        flat //= n
    return tuple(reversed(idx))


def _check_range(ctx, fname, target, n_classes, ignore_index):
    """The NumPy path's message for the first label outside ``[0, C)`` (one host read)."""
    xp = ctx.xp
    bad = _bad_labels(target, n_classes, ignore_index)
    if not bool(xp.any(bad)):
        return
    flat = xp.reshape(bad, (-1,))
    first = int(xp.argmax(xp.astype(flat, xp.int8)))
    value = int(xp.reshape(target, (-1,))[first])
    raise _range_error(fname, value, _unravel(first, target.shape), n_classes, ignore_index)


def _dask_range_checked(fname, target, n_classes, ignore_index):
    """A lazy ``target`` whose blocks raise the range error at compute time.

    Each block reports its first bad label as ``(C-order flat index, value)``
    (the flat index of the whole array, from the block's location); the
    smallest index over the blocks is the array's first bad label, the same
    one the NumPy path names.  Every block of the returned target depends on
    that scan, so no loss is computed from unchecked labels.
    """
    import dask.array as da
    import numpy as np

    shape = tuple(target.shape)
    size = math.prod(shape)
    if size == 0 or any(math.isnan(n) for n in shape):
        return target
    rec = np.dtype([("pos", np.int64), ("val", np.int64)])

    def first_bad(b, block_info=None):
        out = np.zeros((1,) * b.ndim, dtype=rec)
        out["pos"] = size
        if block_info is None or b.size == 0:
            return out
        bad = np.asarray(_bad_labels(b, n_classes, ignore_index)).ravel()
        if bad.any():
            local = np.unravel_index(int(np.argmax(bad)), b.shape)
            start = [lo for lo, _ in block_info[0]["array-location"]]
            out["pos"] = np.ravel_multi_index(tuple(s + i for s, i in zip(start, local)), shape)
            out["val"] = b.ravel()[int(np.argmax(bad))]
        return out

    found = da.map_blocks(first_bad, target, dtype=rec, chunks=(1,) * target.ndim,
                          meta=np.empty((0,) * target.ndim, dtype=rec))
    pos = found["pos"].min()
    val = da.where(found["pos"] == pos, found["val"], 0).sum()

    def checked(b, pos, val):
        if int(pos) < size:
            raise _range_error(fname, int(val), _unravel(int(pos), shape), n_classes,
                               ignore_index)
        return b

    return da.map_blocks(checked, target, pos, val, dtype=target.dtype,
                         meta=np.empty((0,) * target.ndim, dtype=target.dtype))


def _mean_scale(xp, denom, reduction):
    """``1 / denom`` for ``'mean'`` (0 when nothing was counted), None otherwise."""
    if reduction != "mean":
        return None
    return xp.where(denom == 0, 0.0, 1.0 / xp.where(denom == 0, 1.0, denom))


def _finish(ctx, reduction, lead, value_and_grad, value, vjp, jvp, x, out):
    """Return the value (differentiable) or ``(value, grad)`` in the result dtype."""
    xp = ctx.xp
    if value_and_grad:
        one = xp.ones(lead if reduction == "none" else (), dtype=x.dtype, device=ctx.device)
        return ctx.astype(value(x), out), ctx.astype(vjp(x, one), out)
    return ctx.astype(ctx.differentiable(value, vjp, jvp, x), out)


def _reduce(xp, per, reduction, scale):
    if reduction == "none":
        return per
    total = xp.sum(per)
    return total if reduction == "sum" else total * scale


def _class_weight(ctx, fname, weight, n_classes, per_class):
    if weight is None:
        return None
    w = ctx._own(weight, fname, "weight")
    if tuple(w.shape) != (n_classes,):
        raise _policy.ArgumentError(f"{fname}: weight must have shape ({n_classes},), one "
                                    f"weight per class; received shape {tuple(w.shape)}")
    return ctx.xp.reshape(ctx.operand(w, fname, "weight", (n_classes,)), per_class)


def _cross_entropy(ctx, name, method, args, kwargs):
    fname = name if method == "__call__" else f"{name}.{method}"
    xp = ctx.xp
    x, out = ctx.input(args[0], fname, "logits")
    ax = _policy.check_class_axis(kwargs.get("axis", -1), x.ndim, fname)
    n_classes = x.shape[ax]
    lead = tuple(n for i, n in enumerate(x.shape) if i != ax)
    per_class = tuple(n_classes if i == ax else 1 for i in range(x.ndim))
    ignore_index = _policy.check_ignore_index(kwargs.get("ignore_index"), fname)
    w = _class_weight(ctx, fname, kwargs.get("weight"), n_classes, per_class)
    eps = _policy.check_label_smoothing(kwargs.get("label_smoothing", 0.0), fname)
    reduction = _policy.check_reduction(kwargs.get("reduction", "mean"), fname)
    target = ctx._own(args[1], fname, "target")
    kind = ctx.kind(target.dtype)
    if target.dtype == xp.bool or kind is None:
        raise TypeError(f"{fname}: target must be integer class indices or floating-point "
                        f"class probabilities; received dtype {target.dtype}")
    if kind == "integer":
        labels = _Labels(ctx, fname, target, x, ax, ignore_index, w)
        coef = (1.0 - eps) * labels.wy
        if eps:
            coef = coef + xp.where(labels.keep, (eps / n_classes) * labels.wvec, 0.0)
        denom = labels.denom
    else:
        if tuple(target.shape) != tuple(x.shape):
            raise _policy.ArgumentError(f"{fname}: target of shape {tuple(target.shape)} "
                                        f"does not match the expected shape {tuple(x.shape)}")
        if ignore_index is not None:
            raise _policy.ArgumentError(
                f"{fname}: ignore_index applies to integer targets only; received "
                f"ignore_index={ignore_index} with probability targets of dtype {target.dtype}")
        q = ctx.astype(target, ctx.cdtype)
        coef = q if not eps else (1.0 - eps) * q + eps / n_classes
        if w is not None:
            coef = coef * w
        denom = xp.asarray(float(math.prod(lead)), dtype=x.dtype, device=ctx.device)
    coef = xp.broadcast_to(coef, tuple(x.shape))
    axes = (ax,)
    scale = _mean_scale(xp, denom, reduction)

    def value(x):
        logp = _generic_softmax._Rows(ctx, x, axes).log_softmax()
        # 0 * log 0 = 0: a class without target mass takes no part, even at -inf.
        terms = ctx.blockwise(
            lambda xp, c, lp: xp.where((c == 0) & ~xp.isnan(lp), 0.0, -c * lp), coef, logp)
        return _reduce(xp, xp.reshape(ctx.row_sum(terms, axes), lead), reduction, scale)

    def row_grad(x, cot):
        # d/dx_c sum_k cot_k (lse - x_k) = S p_c - cot_c with S = sum_k cot_k over
        # every class (a -inf logit's term still moves with lse); zero at masked
        # entries and throughout empty and +inf rows (the NumPy path's rule).
        rows = _generic_softmax._Rows(ctx, x, axes)
        total = ctx.row_sum(cot, axes)
        return ctx.blockwise(lambda xp, live, p, c, s: xp.where(live, s * p - c, 0.0),
                             rows.live(), rows.softmax(), cot, total)

    def vjp(x, g):
        return row_grad(x, coef * _cotangent_scale(xp, g, reduction, scale, ax))

    def jvp(x, v):
        # Linear in v (everything else comes from the primal), for JAX's transpose.
        d = xp.reshape(ctx.row_sum(row_grad(x, coef) * v, axes), lead)
        return _reduce(xp, d, reduction, scale)

    return _finish(ctx, reduction, lead, method == "value_and_grad", value, vjp, jvp, x, out)


def _cotangent_scale(xp, g, reduction, scale, ax):
    """The cotangent of the per-example losses, keepdims along the class axis."""
    if reduction == "none":
        return xp.expand_dims(g, axis=ax)
    return g if scale is None else g * scale


def _nll_loss(ctx, name, method, args, kwargs):
    fname = name if method == "__call__" else f"{name}.{method}"
    xp = ctx.xp
    x, out = ctx.input(args[0], fname, "log_probs")
    ax = _policy.check_class_axis(kwargs.get("axis", -1), x.ndim, fname, "log_probs")
    n_classes = x.shape[ax]
    lead = tuple(n for i, n in enumerate(x.shape) if i != ax)
    per_class = tuple(n_classes if i == ax else 1 for i in range(x.ndim))
    ignore_index = _policy.check_ignore_index(kwargs.get("ignore_index"), fname)
    target = ctx._own(args[1], fname, "target")
    if ctx.kind(target.dtype) != "integer" or target.dtype == xp.bool:
        raise TypeError(
            f"{fname}: target must be an integer array of class indices; received dtype "
            f"{target.dtype} (float and bool labels are not accepted, even with integral values)")
    w = _class_weight(ctx, fname, kwargs.get("weight"), n_classes, per_class)
    reduction = _policy.check_reduction(kwargs.get("reduction", "mean"), fname)
    labels = _Labels(ctx, fname, target, x, ax, ignore_index, w)
    wy = xp.broadcast_to(labels.wy, tuple(x.shape))
    onehot = xp.broadcast_to(labels.onehot, tuple(x.shape))
    scale = _mean_scale(xp, labels.denom, reduction)
    axes = (ax,)

    def value(x):
        # -w_y a_y, read at the counted targets only (a zero weight times an
        # infinite log-probability is 0; a NaN one stays NaN).
        terms = ctx.blockwise(
            lambda xp, t, w, a: xp.where(t & ~((w == 0) & ~xp.isnan(a)), -w * a, 0.0),
            onehot, wy, x)
        return _reduce(xp, xp.reshape(ctx.row_sum(terms, axes), lead), reduction, scale)

    def vjp(x, g):
        return -wy * _cotangent_scale(xp, g, reduction, scale, ax)

    def jvp(x, v):
        d = xp.reshape(ctx.row_sum(-wy * v, axes), lead)
        return _reduce(xp, d, reduction, scale)

    return _finish(ctx, reduction, lead, method == "value_and_grad", value, vjp, jvp, x, out)


_generic._IMPLEMENTATIONS.update(cross_entropy=_cross_entropy, nll_loss=_nll_loss)
