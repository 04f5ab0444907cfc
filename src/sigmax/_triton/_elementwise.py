"""Triton kernels for the sigmoid family: sigmoid, log_sigmoid, softplus, logit.

One kernel, :func:`_elementwise_kernel`, computes for one of the four functions
(``OP``) either the value, the derivative, or the product ``t * f'(x)`` (the
vjp and the jvp of an elementwise function are the same product), over a
flat contiguous tensor in blocks of ``BLOCK`` elements: one read and one write
(two reads for the product), the traffic of a device copy.

Formulas (float32 arithmetic for every input dtype, stored in the input's
dtype; ``e = exp(-|x|)`` never overflows):

* ``sigmoid(x)  = 1 / (1 + e)`` for ``x >= 0``, ``e / (1 + e)`` otherwise;
  ``sigmoid'(x) = e / (1 + e)**2`` (from ``x``, so ``sigmoid'(40)`` is
  ``4.2e-18``, not ``0``).
* ``log_sigmoid(x) = min(x, 0) - log1p(e)``; derivative ``sigmoid(-x)``.
* ``softplus(x) = max(x, 0) + log1p(e)``; derivative ``sigmoid(x)``.
* ``logit(p) = log1p((2p - 1) / (1 - p))`` on ``[1/4, 3/4]`` (``2p - 1`` is
  exact there by Sterbenz's lemma, so values near ``p = 1/2`` keep their
  relative accuracy) and ``log(p) - log1p(-p)`` elsewhere; derivative
  ``1 / (p (1 - p))``.  NaN outside ``[0, 1]``, ``-inf`` / ``+inf`` at 0 / 1.

``log1p`` is :func:`._rows.log1p` (Goldberg's trick; libdevice is not run by
the interpreter).  The infinities follow the NumPy path: ``sigmoid(-inf) = 0``,
``log_sigmoid(-inf) = -inf``, ``softplus(+inf) = +inf``, derivatives 0 at
``+-inf``.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from ._rows import log1p

__all__ = ["OPS", "apply"]

OPS = {"sigmoid": 0, "log_sigmoid": 1, "softplus": 2, "logit": 3}
VALUE, DERIVATIVE, PRODUCT = 0, 1, 2
BLOCK = 4096


@triton.jit
def _sigmoid(x):
    e = tl.exp(-tl.abs(x))
    return tl.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@triton.jit
def _value(x, OP: tl.constexpr):
    if OP == 0:
        y = _sigmoid(x)
    elif OP == 1:
        y = tl.minimum(x, 0.0) - log1p(tl.exp(-tl.abs(x)))
    elif OP == 2:
        y = tl.maximum(x, 0.0) + log1p(tl.exp(-tl.abs(x)))
    else:
        mid = (x >= 0.25) & (x <= 0.75)
        one_minus = 1.0 - x
        safe = tl.where(mid, one_minus, 1.0)
        near = log1p((2.0 * x - 1.0) / safe)
        far = tl.log(x) - log1p(-x)
        y = tl.where(mid, near, far)
        y = tl.where((x < 0.0) | (x > 1.0), float("nan"), y)
    return tl.where(x != x, x, y)


@triton.jit
def _derivative(x, OP: tl.constexpr):
    if OP == 0:
        e = tl.exp(-tl.abs(x))
        d = e / ((1.0 + e) * (1.0 + e))
    elif OP == 1:
        d = _sigmoid(-x)
    elif OP == 2:
        d = _sigmoid(x)
    else:
        d = 1.0 / (x * (1.0 - x))
        d = tl.where((x < 0.0) | (x > 1.0), float("nan"), d)
    return tl.where(x != x, x, d)


@triton.jit
def _elementwise_kernel(x_ptr, t_ptr, out_ptr, n, OP: tl.constexpr, WHAT: tl.constexpr,
                        BLOCK: tl.constexpr):
    start = tl.program_id(0).to(tl.int64) * BLOCK
    offs = start + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.5).to(tl.float32)
    if WHAT == 0:
        out = _value(x, OP)
    elif WHAT == 1:
        out = _derivative(x, OP)
    else:
        t = tl.load(t_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        out = tl.where(t == 0.0, 0.0, t * _derivative(x, OP))   # a zero cotangent gives 0
    tl.store(out_ptr + offs, out, mask=mask)


def apply(name: str, what: int, x: torch.Tensor, t: torch.Tensor | None = None):
    """``f(x)``, ``f'(x)`` or ``t * f'(x)`` for ``f = name`` on a float tensor, same shape."""
    x = x.contiguous()
    out = torch.empty_like(x)
    n = x.numel()
    if n == 0:
        return out
    t_arg = x if t is None else t.contiguous()
    grid = (triton.cdiv(n, BLOCK),)
    with np.errstate(all="ignore"):  # the interpreter computes in NumPy
        _elementwise_kernel[grid](x, t_arg, out, n, OP=OPS[name], WHAT=what, BLOCK=BLOCK,
                                  num_warps=8)
    return out
