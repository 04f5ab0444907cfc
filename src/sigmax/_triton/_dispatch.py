"""The calls the Triton path covers: argument checks, layout, and the autograd Functions.

Every handler returns ``NotImplemented`` for anything it does not cover (see
:mod:`sigmax._triton`); otherwise it moves the reduced axis last, makes the
rows contiguous, runs the kernel and restores the caller's layout.
"""

from __future__ import annotations

import torch

from . import _autograd, _elementwise, _softmax
from ._autograd import CrossEntropy, Elementwise, LinearCrossEntropy, LogSumExp, Softmax

__all__ = ["HANDLERS"]

_FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def _float(x):
    return isinstance(x, torch.Tensor) and x.dtype in _FLOATS and x.numel() > 0


def _axis(x, axis):
    """The one reduced axis as a non-negative int, or None when not covered."""
    if isinstance(axis, tuple) and len(axis) == 1:
        axis = axis[0]
    if isinstance(axis, bool) or not isinstance(axis, int):
        return None
    if not -x.ndim <= axis < x.ndim:
        return None
    return axis % x.ndim


def _rows(x, axis):
    moved = x.movedim(axis, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape


def _unrows(y, shape, axis):
    return y.reshape(shape).movedim(-1, axis)


def _same(x, t):
    return (isinstance(t, torch.Tensor) and t.shape == x.shape and t.device == x.device
            and t.dtype in _FLOATS + (torch.float64,))


# -- softmax, log_softmax ------------------------------------------------------
def _normalised(mode):
    def call(x, axis=-1, *, where=None, temperature=1.0):
        ax = _axis(x, axis) if _float(x) else None
        if ax is None or where is not None or temperature != 1.0:
            return NotImplemented
        rows, shape = _rows(x, ax)
        return _unrows(Softmax.apply(rows, mode), shape, ax)

    def product(method):
        def run(x, t, axis=-1, *, where=None, temperature=1.0):
            ax = _axis(x, axis) if _float(x) else None
            if (ax is None or where is not None or temperature != 1.0 or not _same(x, t)
                    or x.requires_grad or t.requires_grad):
                return NotImplemented
            rows, shape = _rows(x, ax)
            trows, _ = _rows(t, ax)
            y, lse = _softmax.forward(rows, mode, out_dtype=torch.float32)
            if mode == _softmax.SOFTMAX:
                pmode = _softmax.VJP_SOFTMAX
            else:
                pmode = _softmax.VJP_LOG if method == "vjp" else _softmax.JVP_LOG
            out = _softmax.product(y, trows, lse, pmode, out_dtype=x.dtype)
            return _unrows(out, shape, ax)
        return run

    return call, product("vjp"), product("jvp")


# -- logsumexp -----------------------------------------------------------------
def _lse_ok(x, axis, where, b, return_sign):
    ax = _axis(x, axis) if _float(x) else None
    if ax is None or where is not None or b is not None or return_sign is not False:
        return None
    return ax


def _logsumexp(x, axis=-1, *, keepdims=False, where=None, b=None, return_sign=False):
    ax = _lse_ok(x, axis, where, b, return_sign)
    if ax is None:
        return NotImplemented
    rows, shape = _rows(x, ax)
    out = LogSumExp.apply(rows).reshape(shape[:-1])
    return out.unsqueeze(ax) if keepdims else out


def _lse_product(method):
    def run(x, t, axis=-1, *, keepdims=False, where=None, b=None, return_sign=False):
        ax = _lse_ok(x, axis, where, b, return_sign)
        if ax is None or x.requires_grad or not isinstance(t, torch.Tensor) \
                or t.requires_grad:
            return NotImplemented
        rows, shape = _rows(x, ax)
        if method == "vjp":
            g = t.squeeze(ax) if keepdims and t.ndim == x.ndim else t
            if g.shape != shape[:-1]:
                return NotImplemented
            out = _autograd.lse_product(rows, g.reshape(-1))
            return _unrows(out.to(x.dtype), shape, ax)
        if not _same(x, t):
            return NotImplemented
        trows, _ = _rows(t, ax)
        p, lse = _softmax.forward(rows, _softmax.SOFTMAX, out_dtype=torch.float32)
        d = (p * trows.to(torch.float32)).sum(-1)
        d = torch.where(torch.isinf(lse), 0.0, d).reshape(shape[:-1]).to(x.dtype)
        return d.unsqueeze(ax) if keepdims else d
    return run


# -- sigmoid family ------------------------------------------------------------
def _elementwise_handlers(name):
    def call(x):
        return Elementwise.apply(x, name) if _float(x) else NotImplemented

    def derivative(x):
        if not _float(x) or x.requires_grad:
            return NotImplemented
        return _elementwise.apply(name, _elementwise.DERIVATIVE, x)

    def prod(x, t):
        if not _float(x) or not _same(x, t) or x.requires_grad or t.requires_grad:
            return NotImplemented
        return _elementwise.apply(name, _elementwise.PRODUCT, x, t.to(x.dtype))

    return {(name, "__call__"): call, (name, "derivative"): derivative,
            (name, "vjp"): prod, (name, "jvp"): prod}


# -- cross_entropy ---------------------------------------------------------------
_INT = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _targets_ok(t, n_classes, ignore_index):
    bad = (t < 0) | (t >= n_classes)
    if ignore_index is not None:
        bad &= t != ignore_index
    return not bool(bad.any())


def _ce_args(logits, target, axis, weight, ignore_index, label_smoothing, reduction):
    ax = _axis(logits, axis) if _float(logits) and logits.ndim >= 1 else None
    if (ax is None or weight is not None or reduction not in ("mean", "sum", "none")
            or not isinstance(target, torch.Tensor) or target.dtype not in _INT
            or target.device != logits.device
            or isinstance(ignore_index, bool)
            or not (ignore_index is None or isinstance(ignore_index, int))
            or isinstance(label_smoothing, bool)
            or not isinstance(label_smoothing, (int, float))
            or not 0.0 <= label_smoothing <= 1.0):
        return None
    rows, shape = _rows(logits, ax)
    if tuple(target.shape) != tuple(shape[:-1]) or not _targets_ok(target, shape[-1],
                                                                   ignore_index):
        return None
    return ax, rows, shape, target.reshape(-1)


def _ce_call(logits, target, *, axis=-1, weight=None, ignore_index=None,
             label_smoothing=0.0, reduction="mean"):
    a = _ce_args(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    if a is None:
        return NotImplemented
    _, rows, shape, t = a
    loss = CrossEntropy.apply(rows, t, ignore_index, float(label_smoothing), reduction)
    if reduction == "none":
        loss = loss.reshape(shape[:-1])
    return loss.to(logits.dtype)


def _ce_value_and_grad(logits, target, *, axis=-1, weight=None, ignore_index=None,
                       label_smoothing=0.0, reduction="mean"):
    a = _ce_args(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    if a is None or logits.requires_grad:
        return NotImplemented
    ax, rows, shape, t = a
    from ._cross_entropy import cross_entropy_rows
    loss, grad = cross_entropy_rows(rows, t, ignore_index=ignore_index,
                                    eps=float(label_smoothing), reduction=reduction,
                                    want_grad=True)
    if reduction == "none":
        loss = loss.reshape(shape[:-1])
    return loss.to(logits.dtype), _unrows(grad, shape, ax)


# -- linear_cross_entropy ----------------------------------------------------------
def _lce_args(hidden, weight, target, bias, ignore_index, label_smoothing, reduction,
              chunk_size):
    ok = (_float(hidden) and hidden.ndim == 2 and isinstance(weight, torch.Tensor)
          and weight.ndim == 2 and weight.dtype == hidden.dtype
          and weight.shape[1] == hidden.shape[1] and weight.shape[0] > 0
          and weight.device == hidden.device
          and isinstance(target, torch.Tensor) and target.dtype in _INT
          and tuple(target.shape) == (hidden.shape[0],) and target.device == hidden.device
          and (bias is None or (isinstance(bias, torch.Tensor) and bias.dtype == hidden.dtype
                                and tuple(bias.shape) == (weight.shape[0],)))
          and reduction in ("mean", "sum", "none")
          and not isinstance(label_smoothing, bool)
          and isinstance(label_smoothing, (int, float)) and 0.0 <= label_smoothing <= 1.0
          and (ignore_index is None or (isinstance(ignore_index, int)
                                        and not isinstance(ignore_index, bool)))
          and (chunk_size is None or (isinstance(chunk_size, int) and chunk_size > 0)))
    if not ok or not _targets_ok(target, weight.shape[0], ignore_index):
        return False
    return True


def _lce_call(hidden, weight, target, *, bias=None, ignore_index=None, label_smoothing=0.0,
              reduction="mean", chunk_size=None):
    if not _lce_args(hidden, weight, target, bias, ignore_index, label_smoothing, reduction,
                     chunk_size):
        return NotImplemented
    loss = LinearCrossEntropy.apply(hidden.contiguous(), weight.contiguous(),
                                    None if bias is None else bias.contiguous(),
                                    target.contiguous(), ignore_index, float(label_smoothing),
                                    reduction, chunk_size)
    return loss.to(hidden.dtype)


def _lce_value_and_grad(hidden, weight, target, *, bias=None, ignore_index=None,
                        label_smoothing=0.0, reduction="mean", chunk_size=None):
    if not _lce_args(hidden, weight, target, bias, ignore_index, label_smoothing, reduction,
                     chunk_size):
        return NotImplemented
    leaves = [hidden.detach().requires_grad_(), weight.detach().requires_grad_(),
              None if bias is None else bias.detach().requires_grad_()]
    with torch.enable_grad():
        loss = LinearCrossEntropy.apply(leaves[0].contiguous(), leaves[1].contiguous(),
                                        None if bias is None else leaves[2].contiguous(),
                                        target.contiguous(), ignore_index,
                                        float(label_smoothing), reduction, chunk_size)
        inputs = [v for v in leaves if v is not None]
        grads = torch.autograd.grad(loss.sum(), inputs)
    dh, dw = grads[0], grads[1]
    db = grads[2] if bias is not None else None
    return loss.detach().to(hidden.dtype), (dh, dw, db)


HANDLERS = {}
for _mode, _name in ((_softmax.SOFTMAX, "softmax"), (_softmax.LOG_SOFTMAX, "log_softmax")):
    _c, _v, _j = _normalised(_mode)
    HANDLERS[(_name, "__call__")] = _c
    HANDLERS[(_name, "vjp")] = _v
    HANDLERS[(_name, "jvp")] = _j
HANDLERS[("logsumexp", "__call__")] = _logsumexp
HANDLERS[("logsumexp", "vjp")] = _lse_product("vjp")
HANDLERS[("logsumexp", "jvp")] = _lse_product("jvp")
for _name in _elementwise.OPS:
    HANDLERS.update(_elementwise_handlers(_name))
HANDLERS[("cross_entropy", "__call__")] = _ce_call
HANDLERS[("cross_entropy", "value_and_grad")] = _ce_value_and_grad
HANDLERS[("linear_cross_entropy", "__call__")] = _lce_call
HANDLERS[("linear_cross_entropy", "value_and_grad")] = _lce_value_and_grad
