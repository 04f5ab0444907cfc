"""The array-API path of the losses over a class axis: cross_entropy.

Written with the primitives of :mod:`sigmax._generic` and the semantics of
:mod:`sigmax._losses` (PyTorch's conventions):

.. math::

    \\ell = \\sum_c wq_c\\,(-\\log p_c), \\qquad
    \\frac{\\partial \\ell}{\\partial x} = \\text{log\\_softmax.vjp}(x, -wq)

with ``wq = (1 - eps) w_y onehot(y) + (eps / C) w`` for integer targets
``y`` (class weights ``w``, smoothing ``eps`` over ``C`` classes) and
``wq = w ((1 - eps) q + eps / C)`` for probability targets ``q``.  The
gradient is zero at ``-inf`` (masked) logits and through empty and ``+inf``
rows; ``0 * log 0`` is 0.  A weighted ``'mean'``
divides by the sum of the weights of the counted targets; with every target
ignored it is 0 with a zero gradient.

Integer labels are not range-checked on this path: that needs the data on
the host (and is impossible under ``jax.jit``); a label outside ``[0, C)``
that is not ``ignore_index`` takes no part in the loss.
"""

from __future__ import annotations

from . import _generic, _policy

__all__ = []


def _cross_entropy(ctx, name, method, args, kwargs):
    fname = name if method == "__call__" else f"{name}.{method}"
    xp = ctx.xp
    x, out = ctx.input(args[0], fname, "logits")
    ax = _policy.check_class_axis(kwargs.get("axis", -1), x.ndim, fname)
    n_classes = x.shape[ax]
    lead = tuple(n for i, n in enumerate(x.shape) if i != ax)
    per_class = tuple(n_classes if i == ax else 1 for i in range(x.ndim))
    ignore_index = _policy.check_ignore_index(kwargs.get("ignore_index"), fname)
    eps = _policy.check_label_smoothing(kwargs.get("label_smoothing", 0.0), fname)
    reduction = _policy.check_reduction(kwargs.get("reduction", "mean"), fname)
    target = ctx._own(args[1], fname, "target")
    kind = ctx.kind(target.dtype)
    if target.dtype == xp.bool or kind is None:
        raise TypeError(f"{fname}: target must be integer class indices or floating-point "
                        f"class probabilities; received dtype {target.dtype}")
    weight = kwargs.get("weight")
    w = None if weight is None else xp.reshape(
        ctx.operand(weight, fname, "weight", (n_classes,)), per_class)

    if kind == "integer":
        if tuple(target.shape) != lead:
            raise _policy.ArgumentError(f"{fname}: target of shape {tuple(target.shape)} "
                                        f"does not match the expected shape {lead}")
        y = xp.expand_dims(target, axis=ax)
        classes = xp.reshape(xp.arange(n_classes, dtype=target.dtype, device=ctx.device),
                             per_class)
        keep = y == y if ignore_index is None else y != ignore_index
        onehot = (y == classes) & keep
        wvec = xp.ones(per_class, dtype=x.dtype, device=ctx.device) if w is None else w
        wy = xp.where(onehot, wvec, 0.0)
        coef = (1.0 - eps) * wy
        if eps:
            coef = coef + xp.where(keep, (eps / n_classes) * wvec, 0.0)
        denom = xp.sum(wy)
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
        denom = xp.asarray(float(_prod(lead)), dtype=x.dtype, device=ctx.device)
    axes = (ax,)
    # 'mean' scales by 1 / denom, and by 0 when nothing was counted.
    scale = (xp.where(denom == 0, 0.0, 1.0 / xp.where(denom == 0, 1.0, denom))
             if reduction == "mean" else None)

    def per_example(x):
        logp = _generic._Rows(ctx, x, axes).log_softmax()
        # 0 * log 0 = 0: a class without target mass takes no part, even at -inf.
        terms = ctx.blockwise(
            lambda xp, c, lp: xp.where((c == 0) & ~xp.isnan(lp), 0.0, -c * lp), coef, logp)
        return xp.reshape(ctx.row_sum(terms, axes), lead)

    def value(x):
        per = per_example(x)
        if reduction == "none":
            return per
        total = xp.sum(per)
        return total if reduction == "sum" else total * scale

    def row_grad(x, cot):
        # d/dx_c sum_k cot_k (lse - x_k) = S p_c - cot_c with S = sum_k cot_k over
        # every class (a -inf logit's term still moves with lse); zero at masked
        # entries and throughout empty and +inf rows (the NumPy path's rule).
        rows = _generic._Rows(ctx, x, axes)
        total = ctx.row_sum(xp.broadcast_to(cot, x.shape), axes)
        return ctx.blockwise(lambda xp, live, p, c, s: xp.where(live, s * p - c, 0.0),
                             rows.live(), rows.softmax(), xp.broadcast_to(cot, x.shape), total)

    def vjp(x, g):
        if reduction == "none":
            g = xp.reshape(g, tuple(1 if i == ax else n for i, n in enumerate(x.shape)))
        return row_grad(x, coef * (g if scale is None else g * scale))

    def jvp(x, v):
        # Linear in v (everything else comes from the primal), for JAX's transpose.
        d = xp.reshape(ctx.row_sum(row_grad(x, coef) * v, axes), lead)
        if reduction == "none":
            return d
        return xp.sum(d) if scale is None else xp.sum(d) * scale

    if method == "value_and_grad":
        one = xp.ones(lead if reduction == "none" else (), dtype=x.dtype, device=ctx.device)
        return ctx.astype(value(x), out), ctx.astype(vjp(x, one), out)
    return ctx.astype(ctx.differentiable(value, vjp, jvp, x), out)


def _prod(shape):
    n = 1
    for s in shape:
        n *= int(s)
    return n


_generic._IMPLEMENTATIONS["cross_entropy"] = _cross_entropy
