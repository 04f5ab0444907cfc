r"""The array-API path of the elementwise losses: the two BCEs and the sigmoid focal loss.

The formulas of :mod:`sigmax._losses_binary`, namespace-generic.  The logit
forms are built from the two softplus terms, which share one
``log1p(exp(-|x|))``:

.. math::

    \operatorname{BCE}(x, y) = a \operatorname{softplus}(-x)
        + (1 - y) \operatorname{softplus}(x), \qquad
    \frac{\partial}{\partial x} = (1 - y)\,\sigma(x) - a\,\sigma(-x)

with ``a = pos_weight * y``; every term is a non-negative coefficient times a
non-negative softplus, and a zero coefficient times an infinite softplus
counts as 0, so ``bce_with_logits(+inf, 1)`` is 0 and ``(-inf, 1)`` is inf
(SPEC section 4).  ``binary_cross_entropy`` clamps each log at -100
(PyTorch's convention).  ``'mean'`` averages over every element.
"""

from __future__ import annotations

import math

from . import _generic, _policy
from ._generic import _clip_below_zero, _sigmoid

__all__ = []

# PyTorch clamps each log of binary_cross_entropy at -100.
_LOG_FLOOR = -100.0


def _weighted(xp, w, v):
    """``w * v`` with ``0 * inf = 0``; NaN in ``v`` stays NaN."""
    return xp.where((w == 0) & ~xp.isnan(v), 0.0, w * v)


def _softplus_pair(xp, x):
    """``(softplus(x), softplus(-x))`` with one shared ``log1p(exp(-|x|))``."""
    t = xp.log1p(xp.exp(-xp.abs(x)))
    return _clip_below_zero(xp, x) + t, _clip_below_zero(xp, -x) + t


def _bce_core(xp, p, y):
    log_p = xp.log(p)
    log_q = xp.log1p(-p)
    # max(log, -100) that keeps NaN (NaN < -100 is False).
    per = -(y * xp.where(log_p < _LOG_FLOOR, _LOG_FLOOR, log_p)
            + (1.0 - y) * xp.where(log_q < _LOG_FLOOR, _LOG_FLOOR, log_q))
    inside = (p >= 0.0) & (p <= 1.0)
    d_pos = xp.where(log_p > _LOG_FLOOR, y / p, 0.0)
    d_neg = xp.where(log_q > _LOG_FLOOR, (1.0 - y) / (1.0 - p), 0.0)
    return per, xp.where(inside, d_neg - d_pos, math.nan)


def _bce_logits_core(xp, x, y, pos_weight=None):
    sp_pos, sp_neg = _softplus_pair(xp, x)
    a = y if pos_weight is None else pos_weight * y
    per = _weighted(xp, a, sp_neg) + _weighted(xp, 1.0 - y, sp_pos)
    return per, (1.0 - y) * _sigmoid(xp, x) - a * _sigmoid(xp, -x)


def _focal_core(xp, x, y, alpha, gamma):
    # (T.-Y. Lin et al., ICCV 2017, arXiv:1708.02002), the factor (1 - p_t)^gamma
    # in log space: log u = log(sigma(x) (1 - y) + sigma(-x) y).
    sp_pos, sp_neg = _softplus_pair(xp, x)
    ce = _weighted(xp, y, sp_neg) + _weighted(xp, 1.0 - y, sp_pos)
    if gamma:
        log_u = xp.logaddexp(xp.log1p(-y) - sp_neg, xp.log(y) - sp_pos)
        mod = xp.exp(gamma * log_u)
    else:
        mod = xp.ones_like(ce)
    per = _weighted(xp, mod, ce)
    grad = mod * ((1.0 - y) * _sigmoid(xp, x) - y * _sigmoid(xp, -x))
    if gamma:
        # gamma u^(gamma-1) (1 - 2y) sigma(x) sigma(-x) ce, in log space; its limit
        # at infinite logits is 0 (sigma' decays faster than ce grows).
        log_term = (gamma - 1.0) * log_u - sp_pos - sp_neg
        second = gamma * (1.0 - 2.0 * y) * _weighted(xp, ce, xp.exp(log_term))
        grad = grad + xp.where(xp.isinf(x), 0.0, second)
    if alpha >= 0:
        alpha_t = alpha * y + (1.0 - alpha) * (1.0 - y)
        per, grad = _weighted(xp, alpha_t, per), alpha_t * grad
    return per, grad


def _focal_options(fname, kwargs):
    alpha, shown = _policy.check_real(kwargs.get("alpha", 0.25), fname, "alpha")
    if not alpha <= 1.0:
        raise _policy.ArgumentError(
            f"{fname}: alpha must be in [0, 1], or negative to disable the weighting; "
            f"received {shown!r}")
    gamma, shown = _policy.check_real(kwargs.get("gamma", 2.0), fname, "gamma")
    if not 0.0 <= gamma < math.inf:
        raise _policy.ArgumentError(
            f"{fname}: gamma must be a non-negative finite number; received {shown!r}")
    return alpha, gamma


def _elementwise_loss(ctx, name, method, args, kwargs):
    fname = name if method == "__call__" else f"{name}.{method}"
    xp = ctx.xp
    argname = "probs" if name == "binary_cross_entropy" else "logits"
    x, out = ctx.input(args[0], fname, argname)
    shape = tuple(x.shape)
    target = ctx._own(args[1], fname, "target")
    if tuple(target.shape) != shape:
        raise _policy.ArgumentError(f"{fname}: target of shape {tuple(target.shape)} does "
                                    f"not match the expected shape {shape}")
    y = ctx.operand(target, fname, "target", shape)
    extra = []                  # arrays the core reads besides x and y
    if name == "binary_cross_entropy":
        def core(xp, x, y):
            return _bce_core(xp, x, y)
    elif name == "binary_cross_entropy_with_logits":
        pw = kwargs.get("pos_weight")
        if pw is not None:
            extra.append(ctx.operand(pw, fname, "pos_weight", shape))

        def core(xp, x, y, *pw):
            return _bce_logits_core(xp, x, y, *pw)
    else:
        alpha, gamma = _focal_options(fname, kwargs)

        def core(xp, x, y):
            return _focal_core(xp, x, y, alpha, gamma)
    reduction = _policy.check_reduction(kwargs.get("reduction", "mean"), fname)
    w = kwargs.get("weight")
    weights = [] if w is None else [ctx.operand(w, fname, "weight", shape)]
    n = math.prod(shape)
    scale = (1.0 / n if n else 0.0) if reduction == "mean" else 1.0

    def part(i):
        # The per-element loss (i = 0) or its derivative (i = 1), weighted.
        def fn(xp, x, y, *rest):
            out = core(xp, x, y, *rest[:len(extra)])[i]
            if not weights:
                return out
            wb = rest[len(extra)]
            return _weighted(xp, wb, out) if i == 0 else wb * out
        return lambda x: ctx.blockwise(fn, x, y, *extra, *weights)

    per_of, grad_of = part(0), part(1)

    def reduce(per):
        return per if reduction == "none" else xp.sum(per) * scale

    def value(x):
        return reduce(per_of(x))

    def vjp(x, g):
        return grad_of(x) * (g * scale)

    def jvp(x, v):
        return reduce(grad_of(x) * v)

    if method == "value_and_grad":
        return ctx.astype(value(x), out), ctx.astype(grad_of(x) * scale, out)
    return ctx.astype(ctx.differentiable(value, vjp, jvp, x), out)


_generic._IMPLEMENTATIONS.update(
    binary_cross_entropy=_elementwise_loss,
    binary_cross_entropy_with_logits=_elementwise_loss,
    sigmoid_focal_loss=_elementwise_loss,
)
