"""Row statistics shared by the Triton kernels: the online max / sum-exp merge.

Every row kernel (softmax, log_softmax, logsumexp, cross_entropy, the linear
cross-entropy) reduces a row to four numbers, accumulated in float32 block by
block:

* ``m``  the largest *finite* entry (``-inf`` when there is none),
* ``s``  the sum of ``exp(x - m)`` over the finite entries *excluding one
  maximum*, so that ``logsumexp = m + log1p(s)`` (Blanchard, Higham & Higham,
  IMA J. Numer. Anal. 2021: the ``log1p`` keeps the small tails that
  ``log(1 + s)`` would round away),
* ``k``  the number of ``+inf`` entries (they share the probability equally,
  SPEC section 4),
* ``q``  the number of NaN entries (a NaN anywhere makes the whole row NaN, as
  on the NumPy path).

Excluding one maximum is exact and costs nothing: in a block whose maximum is
``b`` with multiplicity ``c``, ``sum(exp(x - b) for x < b) + (c - 1)`` is the sum
excluding one of them.  Two partial states ``(m1, s1)`` and ``(m2, s2)`` with
``m1 >= m2`` merge into ``(m1, s1 + (s2 + 1) * exp(m2 - m1))``: the ``+ 1`` puts
back the maximum that ``s2`` excluded, and the maximum of the merged state is
``m1``'s, still excluded.  A dead state (``m = -inf``) contributes nothing and
``exp(-inf - (-inf))`` is never evaluated, so all-``-inf`` rows give ``m =
-inf, s = 0`` and no NaN.  This is the one-read "online softmax" of Milakov &
Gimelshein (arXiv:1805.02867) in the accurate form of sigmax's NumPy path.

``log1p`` is not among Triton's portable primitives (libdevice is not run by
the interpreter), so :func:`log1p` uses Goldberg's exact trick
``log(u) * z / (u - 1)`` with ``u = 1 + z`` (Goldberg, "What every computer
scientist should know about floating-point arithmetic", 1991, theorem 4).
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["log1p", "block_stats", "merge", "finish_lse"]


@triton.jit
def log1p(z):
    """``log(1 + z)`` accurate for small ``z`` (Goldberg's trick), float32."""
    u = 1.0 + z
    d = u - 1.0
    safe = tl.where(d == 0.0, 1.0, d)
    return tl.where(d == 0.0, z, tl.log(u) * (z / safe))


@triton.jit
def block_stats(x):
    """``(m, s, k, q)`` of one block of float32 values (padding must be ``-inf``)."""
    isnan = x != x
    ispinf = x == float("inf")
    xf = tl.where(isnan | ispinf, float("-inf"), x)
    b = tl.max(xf, axis=0)
    live = b > float("-inf")
    b_safe = tl.where(live, b, 0.0)
    e = tl.where(xf < b, tl.exp(xf - b_safe), 0.0)
    c = tl.sum(tl.where(xf == b, 1.0, 0.0), axis=0)
    s = tl.where(live, tl.sum(e, axis=0) + (c - 1.0), 0.0)
    k = tl.sum(ispinf.to(tl.int32), axis=0)
    q = tl.sum(isnan.to(tl.int32), axis=0)
    return b, s, k, q


@triton.jit
def merge(m1, s1, m2, s2):
    """Merge two ``(max, sum excluding one max)`` states into one."""
    hi = tl.maximum(m1, m2)
    first = m1 >= m2
    lo = tl.where(first, m2, m1)
    s_hi = tl.where(first, s1, s2)
    s_lo = tl.where(first, s2, s1)
    lo_live = lo > float("-inf")
    diff = tl.where(lo_live, lo - hi, 0.0)
    s = s_hi + tl.where(lo_live, (s_lo + 1.0) * tl.exp(diff), 0.0)
    return hi, s


@triton.jit
def finish_lse(m, s, k, q):
    """logsumexp of a row from its state: NaN, ``+inf``, ``-inf`` (dead) or ``m + log1p(s)``."""
    lse = tl.where(m > float("-inf"), m + log1p(s), float("-inf"))
    lse = tl.where(k > 0, float("inf"), lse)
    return tl.where(q > 0, float("nan"), lse)
