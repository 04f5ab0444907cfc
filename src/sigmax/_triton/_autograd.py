"""torch.autograd.Function wrappers of the Triton kernels.

Each Function takes tensors already in the kernels' layout (rows last and
contiguous, see :mod:`sigmax._triton`) and returns tensors of the input's
dtype.  Backward passes are sigmax's closed forms computed by the same kernels
(first derivatives only: the Functions are ``once_differentiable``).

* softmax / log_softmax save their output and the per-row logsumexp
  (``N`` floats), and the backward is one product kernel.
* logsumexp saves its input and recomputes the softmax in the backward.
* the elementwise functions save their input: ``g * f'(x)`` in one kernel.
* cross_entropy computes the gradient *in the forward pass* when the logits
  require grad, keeps it (one tensor of the logits' size, which autograd
  would have allocated anyway), and the backward scales it by the incoming
  gradient in place; a second backward through the same graph
  (``retain_graph=True``) is therefore refused with a RuntimeError.
* linear_cross_entropy saves ``h``, ``W``, ``b``, ``t`` and the row
  logsumexp; the backward recomputes the logits tile by tile
  (:mod:`._linear_ce`).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import _cross_entropy, _elementwise, _linear_ce, _softmax

__all__ = ["Softmax", "LogSumExp", "Elementwise", "CrossEntropy", "LinearCrossEntropy"]


class Softmax(torch.autograd.Function):
    """softmax (``mode=SOFTMAX``) or log_softmax (``mode=LOG_SOFTMAX``) of ``(rows, n)``."""

    @staticmethod
    def forward(ctx, x, mode):
        y, lse = _softmax.forward(x, mode)
        ctx.save_for_backward(y, lse)
        ctx.mode = mode
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        y, lse = ctx.saved_tensors
        pmode = _softmax.VJP_SOFTMAX if ctx.mode == _softmax.SOFTMAX else _softmax.VJP_LOG
        return _softmax.product(y, g, lse, pmode), None


def lse_product(x, g):
    """``g[:, None] * softmax(x)``, zero on rows whose logsumexp is infinite (float32)."""
    p, lse = _softmax.forward(x, _softmax.SOFTMAX, out_dtype=torch.float32)
    out = p * g.to(torch.float32)[:, None]
    return torch.where(torch.isinf(lse)[:, None], 0.0, out)


class LogSumExp(torch.autograd.Function):
    """logsumexp of ``(rows, n)`` over the last axis, shape ``(rows,)``."""

    @staticmethod
    def forward(ctx, x):
        _, lse = _softmax.forward(x, _softmax.LSE)
        ctx.save_for_backward(x)
        return lse.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return lse_product(x, g).to(x.dtype)


class Elementwise(torch.autograd.Function):
    """sigmoid, log_sigmoid, softplus or logit (``name``) of any tensor."""

    @staticmethod
    def forward(ctx, x, name):
        ctx.save_for_backward(x)
        ctx.name = name
        return _elementwise.apply(name, _elementwise.VALUE, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return _elementwise.apply(ctx.name, _elementwise.PRODUCT, x, g), None


class CrossEntropy(torch.autograd.Function):
    """cross_entropy of logits ``(rows, V)`` and int targets ``(rows,)``; float32 loss."""

    @staticmethod
    def forward(ctx, x, target, ignore_index, eps, reduction):
        want = ctx.needs_input_grad[0]
        loss, grad = _cross_entropy.cross_entropy_rows(
            x, target, ignore_index=ignore_index, eps=eps, reduction=reduction,
            want_grad=want)
        ctx.grad = grad
        ctx.reduction = reduction
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, go):
        grad = ctx.grad
        if grad is None:
            raise RuntimeError("sigmax cross_entropy (Triton): the gradient written during the "
                               "forward pass was already used; a second backward through the "
                               "same graph is not supported")
        ctx.grad = None
        go = go.to(torch.float32)
        grad.mul_(go[:, None] if ctx.reduction == "none" else go)
        return grad, None, None, None, None


class LinearCrossEntropy(torch.autograd.Function):
    """``cross_entropy(h @ W.T + b, t)`` without the logits; float32 loss."""

    @staticmethod
    def forward(ctx, h, w, b, t, ignore_index, eps, reduction, chunk):
        losses, lse = _linear_ce.forward(h, w, b, t, ignore_index=ignore_index, eps=eps)
        if ignore_index is None:
            count = torch.full((), float(t.shape[0]), dtype=torch.float32, device=h.device)
        else:
            count = (t != ignore_index).sum().to(torch.float32)
        if reduction == "mean":
            scale = torch.where(count > 0, 1.0 / count.clamp_min(1.0),
                                torch.zeros_like(count))
            loss = losses.sum() * scale
        elif reduction == "sum":
            scale = torch.ones((), dtype=torch.float32, device=h.device)
            loss = losses.sum()
        else:
            scale = torch.ones((), dtype=torch.float32, device=h.device)
            loss = losses
        ctx.save_for_backward(h, w, b, t, lse, scale)
        ctx.options = (ignore_index, eps, reduction, chunk)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, go):
        h, w, b, t, lse, scale = ctx.saved_tensors
        ignore_index, eps, reduction, chunk = ctx.options
        go = go.to(torch.float32)
        row_scale = (go if reduction == "none" else go * scale).expand(t.shape[0])
        if ignore_index is not None:
            row_scale = torch.where(t == ignore_index, 0.0, row_scale)
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        dh, dw, db = _linear_ce.backward(h, w, b, t, lse, row_scale, eps=eps, chunk=chunk,
                                         need_h=need_h, need_w=need_w, need_b=need_b)
        return dh, dw, db, None, None, None, None, None
