"""Triton kernel for cross_entropy with integer targets: loss and gradient in one kernel.

``loss_i = -log_softmax(x_i)[t_i]``, with label smoothing ``eps``
``(1 - eps) * loss_i + eps * mean_j(-log_softmax(x_i)_j)``, and the gradient
``d loss_i / d x_ij = scale_i * (softmax(x_i)_j - (1 - eps) [j = t_i] - eps / V)``.

Design decisions
----------------
* **The gradient is written during the forward pass** when the caller asks for
  it (``value_and_grad``, or autograd with ``logits.requires_grad``): the same
  program that reduced the row writes ``softmax - one_hot`` from the registers
  (rows up to :data:`._softmax.MAX_SINGLE`, 32768: one read of the logits, one write
  of the gradient, the whole forward+backward), so autograd's backward is a
  scale by the incoming gradient (a multiply in place for a scalar loss)
  instead of a second pass over the logits.  This is the memory traffic of
  Liger-Kernel's and Unsloth's fused losses; the kernel itself is sigmax's.
* Few long rows (fewer than :data:`._softmax.TARGET_PROGRAMS`, e.g. ``(256,
  2**20)``) are split over several programs a row as in :mod:`._softmax`:
  pass 1 the partial states, merged exactly; the loss from the merged state
  and the target's logit (a gather) in torch; pass 2 the gradient.
* ``scale`` (``1 / count of counted targets`` for ``'mean'``, 1 otherwise) is
  read from a device tensor, so nothing synchronises with the host; with every
  target ignored the mean is 0 and the gradient zero (SPEC section 2).
* Row statistics are the online merge of :mod:`._rows` in float32 (bf16 and
  fp16 logits included); the gradient is stored in the logits' dtype.
* Policy: a target on a ``-inf`` logit gives ``+inf`` loss and, as on the NumPy
  path, ``softmax`` as the gradient of the live entries; dead and ``+inf`` rows
  give zero gradients; a NaN in the row gives NaN loss and gradient.
* Not here (the dispatch returns NotImplemented and the generic path computes
  them): per-class ``weight``, probability targets, float64 logits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import triton
import triton.language as tl

from . import _softmax
from ._rows import block_stats, finish_lse, merge
from ._softmax import launch_params

__all__ = ["cross_entropy_rows"]


@triton.jit
def _grad_block(x, j, t, m, s, lse, q, scale, n, eps, ignored):
    live_row = (lse > float("-inf")) & (lse < float("inf"))
    m_safe = tl.where(m > float("-inf"), m, 0.0)
    p = tl.exp(x - m_safe) / (1.0 + s)
    g = p - tl.where(j == t, 1.0 - eps, 0.0) - eps / n
    g = tl.where(x > float("-inf"), g, 0.0) * scale
    g = tl.where(live_row & (ignored == 0), g, 0.0)
    return tl.where(q > 0, float("nan"), g)


@triton.jit
def _ce_kernel(x_ptr, t_ptr, loss_ptr, grad_ptr, scale_ptr, n, stride_x, stride_g,
               ignore_index, eps, HAS_IGNORE: tl.constexpr, SMOOTH: tl.constexpr,
               WRITE_GRAD: tl.constexpr, BLOCK: tl.constexpr, SINGLE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_x
    t = tl.load(t_ptr + row).to(tl.int64)
    if HAS_IGNORE:
        ignored = (t == ignore_index).to(tl.int32)
    else:
        ignored = (t != t).to(tl.int32)
    t_safe = tl.where(ignored != 0, 0, t)
    offs = tl.arange(0, BLOCK)
    if SINGLE:
        mask = offs < n
        x = tl.load(x_row + offs, mask=mask, other=float("-inf")).to(tl.float32)
        m, s, k, q = block_stats(x)
        sx = tl.sum(tl.where(mask, x, 0.0), axis=0)
    else:
        m = float("-inf")
        s = 0.0
        k = 0
        q = 0
        sx = 0.0
        for start in range(0, n, BLOCK):
            mask = start + offs < n
            xb = tl.load(x_row + start + offs, mask=mask, other=float("-inf")).to(tl.float32)
            bm, bs, bk, bq = block_stats(xb)
            m, s = merge(m, s, bm, bs)
            k += bk
            q += bq
            sx += tl.sum(tl.where(mask, xb, 0.0), axis=0)
    lse = finish_lse(m, s, k, q)
    xt = tl.load(x_row + t_safe).to(tl.float32)
    kf = k.to(tl.float32)
    # -log_softmax at the target, with the +inf and dead-row conventions.
    ce = tl.where(m > float("-inf"), lse - xt, float("inf"))
    ce = tl.where(k > 0, tl.where(xt == float("inf"), tl.log(kf), float("inf")), ce)
    if SMOOTH:
        smooth = tl.where(m > float("-inf"), lse - sx / n, float("inf"))
        smooth = tl.where(k > 0, tl.where(k == n, tl.log(kf), float("inf")), smooth)
        loss = (1.0 - eps) * ce + eps * smooth
    else:
        loss = ce
    loss = tl.where(q > 0, float("nan"), loss)
    tl.store(loss_ptr + row, tl.where(ignored != 0, 0.0, loss))
    if WRITE_GRAD:
        scale = tl.load(scale_ptr)
        g_row = grad_ptr + row * stride_g
        if SINGLE:
            g = _grad_block(x, offs, t, m, s, lse, q, scale, n, eps, ignored)
            tl.store(g_row + offs, g, mask=mask)
        else:
            for start in range(0, n, BLOCK):
                mask = start + offs < n
                xb = tl.load(x_row + start + offs, mask=mask,
                             other=float("-inf")).to(tl.float32)
                g = _grad_block(xb, start + offs, t, m, s, lse, q, scale, n, eps, ignored)
                tl.store(g_row + start + offs, g, mask=mask)


@triton.jit
def _grad_split_kernel(x_ptr, t_ptr, stat_ptr, scale_ptr, grad_ptr, n, rows, stride_x,
                       stride_g, span, ignore_index, eps, HAS_IGNORE: tl.constexpr,
                       BLOCK: tl.constexpr):
    """Split rows, pass 2: the gradient of one span of one row from the merged row state."""
    row = tl.program_id(0).to(tl.int64)
    split = tl.program_id(1)
    t = tl.load(t_ptr + row).to(tl.int64)
    if HAS_IGNORE:
        ignored = (t == ignore_index).to(tl.int32)
    else:
        ignored = (t != t).to(tl.int32)
    m = tl.load(stat_ptr + row)
    s = tl.load(stat_ptr + rows + row)
    lse = tl.load(stat_ptr + 2 * rows + row)
    q = tl.load(stat_ptr + 3 * rows + row).to(tl.int32)
    scale = tl.load(scale_ptr)
    x_row = x_ptr + row * stride_x
    g_row = grad_ptr + row * stride_g
    offs = tl.arange(0, BLOCK)
    lo = split * span
    hi = tl.minimum(lo + span, n)
    for start in range(lo, hi, BLOCK):
        mask = start + offs < hi
        xb = tl.load(x_row + start + offs, mask=mask, other=float("-inf")).to(tl.float32)
        g = _grad_block(xb, start + offs, t, m, s, lse, q, scale, n, eps, ignored)
        tl.store(g_row + start + offs, g, mask=mask)


def _split_rows(x, target, losses, grad, scale, ignore_index, eps, blk, warps):
    """Few long rows: the state over several programs a row, the loss in torch, pass 2."""
    rows, n = x.shape
    M, S, K, Q, lse, splits, span = _softmax.split_state(x, blk, warps)
    ignored = (target == ignore_index) if ignore_index is not None else \
        torch.zeros_like(target, dtype=torch.bool)
    t_safe = torch.where(ignored, 0, target).to(torch.int64)
    xt = x.gather(1, t_safe[:, None])[:, 0].to(torch.float32)
    ce = torch.where(M > -math.inf, lse - xt, math.inf)
    ce = torch.where(K > 0, torch.where(xt == math.inf, torch.log(K), math.inf), ce)
    loss = ce
    if eps:
        sx = x.sum(-1, dtype=torch.float32)
        smooth = torch.where(M > -math.inf, lse - sx / n, math.inf)
        smooth = torch.where(K > 0, torch.where(K == n, torch.log(K), math.inf), smooth)
        loss = (1.0 - eps) * ce + eps * smooth
    loss = torch.where(Q > 0, math.nan, loss)
    losses.copy_(torch.where(ignored, 0.0, loss))
    if grad is not None:
        stat = torch.stack([M, S, lse, Q]).contiguous()
        with np.errstate(all="ignore"):
            _grad_split_kernel[(rows, splits)](
                x, target, stat, scale, grad, n, rows, x.stride(0), grad.stride(0), span,
                0 if ignore_index is None else int(ignore_index), float(eps),
                HAS_IGNORE=ignore_index is not None, BLOCK=blk, num_warps=warps)


def cross_entropy_rows(x: torch.Tensor, target: torch.Tensor, *, ignore_index, eps: float,
                       reduction: str, want_grad: bool, block: int | None = None):
    """``(loss, grad or None)`` for logits ``x`` ``(rows, V)`` and int targets ``(rows,)``.

    ``loss`` is reduced as asked (a 0-d float32 tensor, or per row for
    ``'none'``); ``grad`` is ``d sum(loss) / d x`` in ``x``'s dtype.
    """
    rows, n = x.shape
    x = x.contiguous()
    target = target.contiguous()
    losses = torch.empty(rows, dtype=torch.float32, device=x.device)
    grad = torch.empty((rows, n), dtype=x.dtype, device=x.device) if want_grad else None
    if ignore_index is None:
        count = torch.full((), float(rows), dtype=torch.float32, device=x.device)
    else:
        count = (target != ignore_index).sum().to(torch.float32)
    if reduction == "mean":
        scale = torch.where(count > 0, 1.0 / count.clamp_min(1.0), torch.zeros_like(count))
    else:
        scale = torch.ones((), dtype=torch.float32, device=x.device)
    if rows:
        blk, single, warps = launch_params(n, block)
    if rows and not single and rows < _softmax.TARGET_PROGRAMS:
        _split_rows(x, target, losses, grad, scale, ignore_index, eps, blk, warps)
    elif rows:
        with np.errstate(all="ignore"):  # the interpreter computes in NumPy
            _ce_kernel[(rows,)](x, target, losses, losses if grad is None else grad, scale,
                                n, x.stride(0), 0 if grad is None else grad.stride(0),
                                0 if ignore_index is None else int(ignore_index), float(eps),
                                HAS_IGNORE=ignore_index is not None, SMOOTH=eps != 0.0,
                                WRITE_GRAD=want_grad, BLOCK=blk, SINGLE=single,
                                num_warps=warps)
    if reduction == "none":
        loss = losses
    elif reduction == "sum":
        loss = losses.sum()
    else:
        loss = losses.sum() * scale
    return loss, grad
