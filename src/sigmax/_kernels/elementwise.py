"""Compiled kernels of the elementwise functions: sigmoid, log_sigmoid, softplus, logit.

The formulas are those of :mod:`sigmax._elementwise` (see there for why each
is stable), with the vectorisable ``exp``/``log``/``log1p`` of
:mod:`sigmax._kernels._vmath` in place of libm's:

* ``sigmoid(x)``: ``t = e^{-|x|}`` (``exp32``, relative error 1e-11),
  ``q = 1/(1 + t)`` in float64, then ``q`` or ``t q`` by the sign of ``x``;
  ``sigmoid'(x) = t q**2``.  Every error before the final rounding to float32
  is below 1e-9 relative, under 0.02 of a float32 ULP, so no correction of the
  rounding of ``1 + t`` is needed (the plain path's float64 formula needs one).
* ``softplus(x) = max(x, 0) + log1p(e^{-|x|})``; ``softplus' = sigmoid``.
* ``log_sigmoid(x) = -softplus(-x)``; ``log_sigmoid'(x) = sigmoid(-x)``.
* ``logit(p)``: ``log(p) - log1p(-p)`` below 1/4, ``-log1p((1 - 2p)/p)`` on
  [1/4, 1/2), ``log1p((2p - 1)/(1 - p))`` on [1/2, 3/4], ``log(p/(1 - p))``
  above; ``logit'(p) = 1/(p(1 - p))``, NaN outside [0, 1].

float32 arrays: every kernel works on flat C-contiguous arrays, computes in
float64 and rounds once to float32 (0.5 ULP measured by ``tests/accuracy.py``
on the kernel path; tests/test_kernels.py).

float64 arrays: those single-double formulas would give 1.2 to 3 ULP, so the
float64 kernels (the ``*64`` functions below) carry every intermediate as a
double-double, as the plain path does, with the vectorisable ``exp_dd`` and
``log1p_dd`` of :mod:`sigmax._kernels._ddmath` (relative error below
``2**-59``), and round once: within 0.51 ULP (plain path 0.501).

``vjp``/``jvp`` give ``t f'(x)`` with 0 wherever ``t == 0`` (even where ``f'``
is infinite), as the plain path.  The work is split over threads in blocks of
``_BLOCK`` elements (:mod:`._pool`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import _pool
from ._common import JIT
from ._ddmath import (exp_dd, fma, fast_two_sum, log1p_dd, recip_dd, round_scaled, scale,
                      two_prod, two_sum)
from ._vmath import _LN2_HI, _LN2_LO, _log_kf, _split, split_any
from ._vmath import exp32, log1p32

__all__ = ["apply", "FUNCTIONS"]

_BLOCK = 1 << 14

#: The functions, by the name of their public object.
FUNCTIONS = {"sigmoid": 0, "log_sigmoid": 1, "softplus": 2, "logit": 3}


@njit(inline="always", **JIT)
def _sigmoid(x):
    # float64 throughout, rounded once to float32 by the caller: the rounding
    # of 1 + t (2**-53 relative) and exp32's error (1e-11) are far below a
    # float32 ULP (6e-8 relative at least), so no Fast2Sum correction; one division.
    t = exp32(-abs(x))
    q = 1.0 / (1.0 + t)
    return q if x >= 0 else t * q


@njit(inline="always", **JIT)
def _sigmoid_derivative(x):
    t = exp32(-abs(x))
    q = 1.0 / (1.0 + t)
    return (t * q) * q


@njit(inline="always", **JIT)
def _softplus(x):
    # log1p32: float32 results need 2e-12 relative, not log1p64's 2e-18.
    return max(x, 0.0) + log1p32(exp32(-abs(x))) if x == x else x


@njit(inline="always", **JIT)
def _logit(p):
    # q = min(p, 1 - p) (1 - p exact for p >= 1/2); q < 1/4: log(q / (1 - q)),
    # q in [1/4, 1/2]: -log1p((1 - 2q) / q) (1 - 2q exact).  The branches
    # differ only in their operands, selected before the one division and the
    # one log: u = q / (1 - q), or u = 1 + w with the rounding error c of that
    # sum added back (as in log1p64).  Every rounding is below 2**-50 relative,
    # far under a float32 ULP.
    q = p if p <= 0.5 else 1.0 - p
    low = q < 0.25
    num = q if low else 1.0 - 2.0 * q
    den = 1.0 - q if low else q
    r = num / den
    u = r if low else 1.0 + r
    c = 0.0 if low else (((1.0 - u) + r) if r <= 1.0 else ((r - u) + 1.0)) / u
    uu = u if u > 0.0 else 1.0      # q == 0: the ends are selected below
    m, k = _split(uu)
    L = _log_kf(m, k, c)
    return _logit_ends(p, q, (L if low else -L) + 0.0)  # logit(1/2) is +0.0


@njit(inline="always", **JIT)
def _logit_ends(p, q, half):
    """``logit(p)`` from ``half = logit(q)``, ``q = min(p, 1 - p)``: the sign by the
    side of 1/2, ``+-inf`` at the ends, NaN outside [0, 1] (and for NaN)."""
    out = half if p <= 0.5 else -half
    end = -np.inf if p == 0.0 else np.inf
    out = end if q == 0.0 else out
    return out if (p >= 0.0 and p <= 1.0) else np.nan


@njit(inline="always", **JIT)
def _logit_derivative(p):
    # |p|: logit'(-0.0) is +inf, as logit'(+0.0).
    inside = p >= 0.0 and p <= 1.0
    return 1.0 / (abs(p) * (1.0 - p)) if inside else np.nan


@njit(inline="always", **JIT)
def _log_sigmoid(x):
    return -_softplus(-x)


@njit(inline="always", **JIT)
def _sigmoid_neg(x):
    return _sigmoid(-x)


# float64: the plain path's double-double arithmetic (sigmax._elementwise),
# vectorisable (sigmax._kernels._ddmath); rounded once.

@njit(inline="always", **JIT)
def _sigmoid_parts64(x):
    """``e^-|x| = 2**k (eh + el)`` and ``1 / (1 + e^-|x|) = ih + il``."""
    eh, el, k = exp_dd(-abs(x))
    sh, sl = fast_two_sum(1.0, scale(eh, k))
    ih, il = recip_dd(sh, sl + scale(el, k))
    return eh, el, k, ih, il


@njit(inline="always", **JIT)
def _finish(hi, lo, k, exact):
    """``(hi + lo) 2**k`` rounded once: on the subnormal grid where ``exact``
    (:func:`round_scaled`), else assuming a normal result (cheaper; the blocks
    take it for ``|x| <= _EDGE`` and redo the others with ``exact``)."""
    return round_scaled(hi, lo, k) if exact else scale(hi + lo, k)


#: Beyond this |x| a float64 result may be subnormal (e^-708.4 is the smallest
#: normal number); the blocks redo those elements with the exact rounding.
_EDGE = 700.0


@njit(inline="always", **JIT)
def _sigmoid64(x, exact):
    # 1 / (1 + t) for x >= 0, t / (1 + t) = 2**k (eh + el) (ih + il) below.
    eh, el, k, ih, il = _sigmoid_parts64(x)
    pos = x >= 0.0
    nh = 1.0 if pos else eh
    nl = 0.0 if pos else el
    p, pe = two_prod(nh, ih)
    return _finish(p, pe + (nh * il + nl * ih), 0 if pos else k, exact)


@njit(inline="always", **JIT)
def _sigmoid_derivative64(x, exact):
    # t / (1 + t)**2 = 2**k (eh + el) (ih + il)**2.
    eh, el, k, ih, il = _sigmoid_parts64(x)
    sh, se = two_prod(ih, ih)
    sl = se + 2.0 * ih * il
    p, pe = two_prod(eh, sh)
    return _finish(p, pe + (eh * sl + el * sh), k, exact)


@njit(inline="always", **JIT)
def _softplus64(x, exact):
    # max(x, 0) + log1p(t), t = e^-|x|: both terms >= 0, no cancellation.
    eh, el, k = exp_dd(-abs(x))
    th = scale(eh, k)
    lh, ll = log1p_dd(th, scale(el, k))
    s, e = two_sum(x if x > 0.0 else 0.0, lh)
    out = s + (e + ll)
    out = np.inf if x == np.inf else out
    # Below -40, log1p(t) = t - t**2/2 to 2**-114, formed at the scale of
    # e^-|x| and rounded once (subnormal results on their grid).
    tiny = _finish(eh, el - 0.5 * eh * th, k, exact)
    return tiny if x < -40.0 else out


@njit(inline="always", **JIT)
def _logit_half64(q):
    """``logit(q)`` for ``0 < q <= 1/2``: one quotient and one log, whichever the branch.

    * ``q < 1/4``: ``log(q / (1 - q)) = e ln2 + log1p(m / (1 - q) - 1)`` with
      ``q = 2**e m``, ``m`` in [sqrt(2)/2, sqrt(2)): the quotient is a pair in
      [0.7, 1.9] (``1 - q`` is exact as a pair) and ``e <= -2``, so the sum
      cancels at most one bit;
    * ``q`` in [1/4, 1/2]: ``-log1p((1 - 2q) / q)``, ``1 - 2q`` exact.

    The branches differ only in their operands, which are selected before the
    division and the log (each computed once per element).
    """
    low = q < 0.25
    m, e = split_any(q)
    oh, ol = fast_two_sum(1.0, -q)
    num = m if low else 1.0 - 2.0 * q
    dh = oh if low else q
    dl = ol if low else 0.0
    inv = 1.0 / dh
    rh = num * inv
    rl = (fma(-rh, dh, num) - rh * dl) * inv
    lh, ll = log1p_dd(rh - 1.0 if low else rh, rl)   # rh - 1 exact (Sterbenz)
    ef = np.float64(e) if low else 0.0
    s, err = two_sum(ef * _LN2_HI, lh)
    out = s + (err + (ll + ef * _LN2_LO))
    return out if low else -out


@njit(inline="always", **JIT)
def _logit64(p):
    # The smaller of p and 1 - p (exact for p >= 1/2); p = 1/2 gives +0.0,
    # the ends +-inf, outside [0, 1] (and NaN) NaN.
    q = p if p <= 0.5 else 1.0 - p
    return _logit_ends(p, q, _logit_half64(q if q > 0.0 else 0.5) + 0.0)


@njit(inline="always", **JIT)
def _logit_derivative64(p):
    # 1/(p (1 - p)) = 1/q + 1/(1 - q), q = min(p, 1 - p) = m 2**e: the sum
    # 2**-e (1/m + 2**e/(1 - q)) of two reciprocal pairs, scaled exactly.
    q = p if p <= 0.5 else 1.0 - p
    qq = q if q > 0.0 else 0.5
    m, e = split_any(qq)
    ah, al = recip_dd(m, 0.0)
    oh, ol = fast_two_sum(1.0, -qq)
    bh, bl = recip_dd(oh, ol)
    s, err = two_sum(ah, scale(bh, e))
    out = scale(s + (err + al + scale(bl, e)), -e)
    out = np.inf if q == 0.0 else out
    return out if (p >= 0.0 and p <= 1.0) else np.nan


# One block function per function, one loop per kind (0 the value, 1 the
# derivative, 2 t * derivative, 0 wherever t == 0 even where f' is infinite):
# written out so that each loop is branch-free and vectorises.

@njit(**JIT)
def _sigmoid_block(kind, x, t, out, k0, k1):
    # Slices, indexed from 0: LLVM vectorises a loop over range(n) of a view,
    # not one over range(k0, k1) (numba's negative-index wraparound select).
    xs, ts, outs = x[k0:k1], t[k0:k1], out[k0:k1]
    n = xs.size
    if kind == 0:
        for k in range(n):
            outs[k] = _sigmoid(np.float64(xs[k]))
    elif kind == 1:
        for k in range(n):
            outs[k] = _sigmoid_derivative(np.float64(xs[k]))
    else:
        for k in range(n):
            tk = np.float64(ts[k])
            outs[k] = 0.0 if tk == 0.0 else tk * _sigmoid_derivative(np.float64(xs[k]))


@njit(**JIT)
def _log_sigmoid_block(kind, x, t, out, k0, k1):
    # Slices, indexed from 0: LLVM vectorises a loop over range(n) of a view,
    # not one over range(k0, k1) (numba's negative-index wraparound select).
    xs, ts, outs = x[k0:k1], t[k0:k1], out[k0:k1]
    n = xs.size
    if kind == 0:
        for k in range(n):
            outs[k] = _log_sigmoid(np.float64(xs[k]))
    elif kind == 1:
        for k in range(n):
            outs[k] = _sigmoid_neg(np.float64(xs[k]))
    else:
        for k in range(n):
            tk = np.float64(ts[k])
            outs[k] = 0.0 if tk == 0.0 else tk * _sigmoid_neg(np.float64(xs[k]))


@njit(**JIT)
def _softplus_block(kind, x, t, out, k0, k1):
    # Slices, indexed from 0: LLVM vectorises a loop over range(n) of a view,
    # not one over range(k0, k1) (numba's negative-index wraparound select).
    xs, ts, outs = x[k0:k1], t[k0:k1], out[k0:k1]
    n = xs.size
    if kind == 0:
        for k in range(n):
            outs[k] = _softplus(np.float64(xs[k]))
    elif kind == 1:
        for k in range(n):
            outs[k] = _sigmoid(np.float64(xs[k]))
    else:
        for k in range(n):
            tk = np.float64(ts[k])
            outs[k] = 0.0 if tk == 0.0 else tk * _sigmoid(np.float64(xs[k]))


@njit(**JIT)
def _logit_block(kind, x, t, out, k0, k1):
    # Slices, indexed from 0: LLVM vectorises a loop over range(n) of a view,
    # not one over range(k0, k1) (numba's negative-index wraparound select).
    xs, ts, outs = x[k0:k1], t[k0:k1], out[k0:k1]
    n = xs.size
    if kind == 0:
        for k in range(n):
            outs[k] = _logit(np.float64(xs[k]))
    elif kind == 1:
        for k in range(n):
            outs[k] = _logit_derivative(np.float64(xs[k]))
    else:
        for k in range(n):
            tk = np.float64(ts[k])
            outs[k] = 0.0 if tk == 0.0 else tk * _logit_derivative(np.float64(xs[k]))


# The float64 blocks: every element with the normal-result rounding first,
# counting the elements beyond _EDGE; those (if any) are redone by _fix64.

@njit(**JIT)
def _sigmoid64_block(kind, x, t, out, k0, k1):
    xs, ts, outs = x[k0:k1], t[k0:k1], out[k0:k1]
    n = xs.size
    edge = 0
    if kind == 0:
        for k in range(n):
            v = xs[k]
            outs[k] = _sigmoid64(v, False)
            edge += 1 if abs(v) > _EDGE else 0
    elif kind == 1:
        for k in range(n):
            v = xs[k]
            outs[k] = _sigmoid_derivative64(v, False)
            edge += 1 if abs(v) > _EDGE else 0
    else:
        for k in range(n):
            v = xs[k]
            tk = ts[k]
            outs[k] = 0.0 if tk == 0.0 else tk * _sigmoid_derivative64(v, False)
            edge += 1 if abs(v) > _EDGE else 0
    if edge:
        _fix64(0 if kind == 0 else 1, 1.0, kind, xs, ts, outs)


@njit(**JIT)
def _sigmoid64_of(sign, kind, x, t, out, k0, k1):
    """``sigmoid(sign x)`` (kind 1) or ``t sigmoid(sign x)`` (kind 2): the
    derivatives of softplus (``sign`` 1) and log_sigmoid (``sign`` -1)."""
    xs, ts, outs = x[k0:k1], t[k0:k1], out[k0:k1]
    n = xs.size
    edge = 0
    if kind == 1:
        for k in range(n):
            v = sign * xs[k]
            outs[k] = _sigmoid64(v, False)
            edge += 1 if abs(v) > _EDGE else 0
    else:
        for k in range(n):
            v = sign * xs[k]
            tk = ts[k]
            outs[k] = 0.0 if tk == 0.0 else tk * _sigmoid64(v, False)
            edge += 1 if abs(v) > _EDGE else 0
    if edge:
        _fix64(0, sign, kind, xs, ts, outs)


@njit(**JIT)
def _softplus64_block(sign, kind, x, t, out, k0, k1):
    """``sign softplus(sign x)``: softplus (``sign`` 1) and log_sigmoid (-1); kind 0 only."""
    xs, ts, outs = x[k0:k1], t[k0:k1], out[k0:k1]
    edge = 0
    for k in range(xs.size):
        v = sign * xs[k]
        outs[k] = sign * _softplus64(v, False)
        edge += 1 if abs(v) > _EDGE else 0
    if edge:
        _fix64(2, sign, 0, xs, ts, outs)


@njit(**JIT)
def _fix64(fid, sign, kind, xs, ts, outs):
    """Redo the elements beyond _EDGE with the exact (subnormal) rounding.

    ``fid``: 0 sigmoid, 1 its derivative, 2 softplus (times ``sign``); ``kind``
    2 multiplies by the cotangent ``ts``, with 0 wherever it is 0.
    """
    for k in range(xs.size):
        v = sign * xs[k]
        if not abs(v) > _EDGE:
            continue
        if fid == 0:
            f = _sigmoid64(v, True)
        elif fid == 1:
            f = _sigmoid_derivative64(v, True)
        else:
            f = sign * _softplus64(v, True)
        if kind == 2:
            tk = ts[k]
            f = 0.0 if tk == 0.0 else tk * f
        outs[k] = f


_BLOCKS = (_sigmoid_block, _log_sigmoid_block, _softplus_block, _logit_block)


@njit(**JIT)
def _logit64_block(kind, x, t, out, k0, k1):
    xs, ts, outs = x[k0:k1], t[k0:k1], out[k0:k1]
    n = xs.size
    if kind == 0:
        for k in range(n):
            outs[k] = _logit64(xs[k])
    elif kind == 1:
        for k in range(n):
            outs[k] = _logit_derivative64(xs[k])
    else:
        for k in range(n):
            tk = ts[k]
            outs[k] = 0.0 if tk == 0.0 else tk * _logit_derivative64(xs[k])


#: The float64 kernels: (name, kind) -> (block, leading arguments).
_BLOCKS64 = {("sigmoid", 0): (_sigmoid64_block, ()), ("sigmoid", 1): (_sigmoid64_block, ()),
             ("sigmoid", 2): (_sigmoid64_block, ()),
             ("softplus", 0): (_softplus64_block, (1.0,)),
             ("softplus", 1): (_sigmoid64_of, (1.0,)), ("softplus", 2): (_sigmoid64_of, (1.0,)),
             ("log_sigmoid", 0): (_softplus64_block, (-1.0,)),
             ("log_sigmoid", 1): (_sigmoid64_of, (-1.0,)),
             ("log_sigmoid", 2): (_sigmoid64_of, (-1.0,)),
             ("logit", 0): (_logit64_block, ()), ("logit", 1): (_logit64_block, ()),
             ("logit", 2): (_logit64_block, ())}


def _kind(method):
    return 0 if method is None else (1 if method == "derivative" else 2)


def apply(name, method, x, t, out, threads=1):
    """``out[:] = f(x)`` (``method`` None), ``f'(x)`` (``"derivative"``) or ``t f'(x)``.

    ``x``, ``t`` and ``out`` are flat arrays of one dtype, float32 or float64.
    """
    kind = _kind(method)
    t = t if kind == 2 else np.zeros(1, dtype=x.dtype)
    if x.dtype == np.float64:
        block, lead = _BLOCKS64[(name, kind)]
    else:
        block, lead = _BLOCKS[FUNCTIONS[name]], ()
    nblk = (x.size + _BLOCK - 1) // _BLOCK
    _pool.run(_blocks, (block, lead, kind, x, t, out), nblk, threads)


def _blocks(block, lead, kind, x, t, out, b0, b1):
    block(*lead, kind, x, t, out, b0 * _BLOCK, min(x.size, b1 * _BLOCK))
