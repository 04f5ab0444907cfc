"""Vectorisable double-double arithmetic for the float64 elementwise kernels.

The plain path (:mod:`sigmax._elementwise`) carries every intermediate of the
float64 elementwise functions as a double-double ``hi + lo`` and rounds once,
so that its results are within 0.5 ULP (plus a negligible fraction).  The
kernels do the same arithmetic here, written so that a loop over them
compiles to SIMD code: only ``+ - * /``, fused multiply-adds, comparisons,
selects and bit casts; no table, no libm call.

* :func:`fma` is LLVM's ``llvm.fma.f64``: ``a * b + c`` rounded once (a
  vector FMA on x86-64 with FMA3, which every AVX2 machine has).  It makes the
  product error-free: ``a * b = p + fma(a, b, -p)`` exactly (no Veltkamp split).
* :func:`exp_dd` returns ``e^z = 2**k (hi + lo)`` with a relative error below
  ``2**-59``: Cody & Waite's reduction ``z = k ln2 + r`` kept as a pair
  ``r + rl``, then ``e^r = 1 + r + r**2/2 + r**3/6 + r**4 Q(r)`` with the
  first four terms formed from exact sums and products (TwoSum, FMA; ``1/6``
  as a pair) and ``Q`` the rest of the Taylor polynomial up to ``r**15/15!``
  (truncation below ``2**-68`` on ``|r| <= ln2/2``) in float64.
* :func:`log1p_dd` returns ``log1p`` as a pair, relative
  error below ``2**-59``: ``1 + a = 2**j (mh + ml)`` with ``mh`` in
  [sqrt(2)/2, sqrt(2)), then ``log m = 2 atanh(s)``, ``s = (m - 1)/(m + 1)``
  with ``s`` a pair (one division and a remainder correction) and
  ``2 atanh(s) = 2 s + (2/3) s**3 + s**5 R2(s**2)``, the cubic term from
  exact products, ``R2`` the series up to ``2 s**23/23`` (truncation below
  ``2**-65`` relative for ``|s| <= 0.1716``).
* :func:`recip_dd` is ``1 / (bh + bl)`` as a pair: one division and one
  remainder correction (``2**-104`` relative).
* :func:`round_scaled` rounds ``(hi + lo) 2**k`` once, on the subnormal grid
  ``2**-1074`` where the result is subnormal (as the plain path's
  ``_ldexp_dd``).

Tested against mpmath in tests/test_kernels_ddmath.py.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numba import njit, types
from numba.core.extending import intrinsic

from ._vmath import _split, atanh_series_to_5, bits, exp_taylor_to_24, from_bits

__all__ = ["fma", "two_sum", "fast_two_sum", "two_prod", "exp_dd", "log1p_dd", "scale",
           "recip_dd", "round_scaled"]

_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238      # 32 significant bits: k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10  # ln 2 - _LN2_HI (to 2**-87)
_SHIFT = 6755399441055744.0       # 1.5 * 2**52: adding it rounds to an integer
_SHIFT_BITS = 0x4338000000000000
_TINY = 2.2250738585072014e-308   # the smallest normal float64
_SIXTH_HI = 1.0 / 6.0
_SIXTH_LO = float(Fraction(1, 6) - Fraction(_SIXTH_HI))
_TWO_THIRDS_HI = 2.0 / 3.0
_TWO_THIRDS_LO = float(Fraction(2, 3) - Fraction(_TWO_THIRDS_HI))  # 3.7e-17

# Every function is inlined into the kernels' loops; "contract" lets LLVM fuse
# a * b + c where the source writes it (which only removes roundings); the
# error-free transformations below have no product to fuse.
_OPTS = dict(inline="always", cache=True, error_model="numpy", fastmath={"contract"})


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma.f64``)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@njit(**_OPTS)
def two_sum(a, b):
    """``a + b = s + e`` exactly (Knuth), any magnitudes."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(**_OPTS)
def fast_two_sum(a, b):
    """``a + b = s + e`` exactly (Dekker), for ``|a| >= |b|`` (or ``a == 0``)."""
    s = a + b
    return s, b - (s - a)


@njit(**_OPTS)
def two_prod(a, b):
    """``a * b = p + e`` exactly (no overflow or underflow)."""
    p = a * b
    return p, fma(a, b, -p)


@njit(**_OPTS)
def exp_dd(z):
    """``e^z = 2**k (hi + lo)``, ``hi`` in [0.7, 1.42], relative error below ``2**-59``.

    ``z`` is clamped to [-1100, 710] (``k`` in [-1587, 1024]); NaN gives NaN
    in ``hi`` and ``lo`` (and a meaningless ``k``).
    """
    z = z if not (z < -1100.0) else -1100.0
    z = z if not (z > 710.0) else 710.0
    y = z * _INV_LN2 + _SHIFT
    kf = y - _SHIFT
    k = bits(y) - _SHIFT_BITS
    # z - k ln2 = t - k ln2_lo, t exact (Cody & Waite); the product k ln2_lo
    # and the difference are kept as a pair r + rl.
    t = z - kf * _LN2_HI
    p, pe = two_prod(kf, _LN2_LO)
    r, rl = two_sum(t, -p)
    rl = rl - pe
    # e^r = 1 + r + r**2/2 + r**3/6 + r**4 Q(r), Q(r) = 1/4! + r/5! + ... + r**11/15!.
    # The cubic term (up to 0.7% of the result) is formed from exact products
    # and 1/6 as a pair, so that its rounding stays near 2**-60 of the result;
    # r**4 Q(r) is under 7e-4 of it.
    q = 1.0 / 1307674368000.0
    q = q * r + 1.0 / 87178291200.0
    q = exp_taylor_to_24(q * r + 1.0 / 6227020800.0, r)
    r2, r2e = two_prod(r, r)
    p3, p3e = two_prod(r, r2)           # r**3 = p3 + p3e + r r2e
    t1, t1e = two_prod(_SIXTH_HI, p3)
    small = (t1e + _SIXTH_HI * (p3e + r * r2e)) + _SIXTH_LO * p3
    higher = (p3 * r) * q
    s1, e1 = fast_two_sum(1.0, r)       # |r| <= 0.35
    s2, e2 = fast_two_sum(s1, 0.5 * r2)
    # e^(r + rl) = e^r (1 + rl): rl e^r ~ rl s2.
    lo = ((e1 + e2) + t1) + ((0.5 * r2e + small) + (higher + rl * s2))
    hi, lo = fast_two_sum(s2, lo)
    return hi, lo, k


@njit(**_OPTS)
def scale(v, k):
    """``v 2**k`` for ``k`` in [-1587, 1024], rounding once (two normal powers of two)."""
    k1 = k >> 1
    k2 = k - k1
    return (v * from_bits((k1 + 1023) << 52)) * from_bits((k2 + 1023) << 52)


@njit(**_OPTS)
def recip_dd(bh, bl):
    """``1 / (bh + bl)`` as a pair ``(ih, il)`` (``bh`` normal, ``|bl| <= ulp(bh)``)."""
    ih = 1.0 / bh
    rho = fma(-ih, bh, 1.0) - ih * bl   # the remainder 1 - ih (bh + bl)
    return ih, rho * ih


@njit(**_OPTS)
def round_scaled(hi, lo, k):
    """``(hi + lo) 2**k`` rounded once, for ``0 <= hi < 4`` and ``k`` in [-1587, 1024].

    Normal results: ``hi + lo`` rounds and the scaling is exact.  Subnormal
    ones are rounded on their own grid ``2**-1074`` (scaling the rounded
    ``hi + lo`` would round twice).  Branch-free: both are formed, one is
    selected.  NaN stays NaN.
    """
    y = scale(hi + lo, k)
    s = k + 1074
    s = s if s > -1000 else -1000
    a = scale(hi, s)
    b = scale(lo, s)
    r = (a + _SHIFT) - _SHIFT           # a < 2**52 wherever y is subnormal
    h = a - r                           # exact, in [-1/2, 1/2]
    d = h + b
    # Past the midpoint: d beyond 1/2, or a tie of a broken by b (h + b can
    # round to exactly 1/2 when b is tiny).
    up = d > 0.5 or (h == 0.5 and b > 0.0)
    down = d < -0.5 or (h == -0.5 and b < 0.0)
    r = r + (1.0 if up else 0.0) - (1.0 if down else 0.0)
    sub = r * 4.9406564584124654e-324
    return sub if abs(y) < _TINY else y


@njit(**_OPTS)
def _log_core(nh, nl, dh, dl, j):
    """``j ln2 + log(m)`` as a pair, from ``m - 1 = nh + nl`` and ``m + 1 = dh + dl``.

    ``m`` in [sqrt(2)/2, sqrt(2)); ``j`` a float.
    """
    inv = 1.0 / dh
    # s = (m - 1) / (m + 1): the quotient and its remainder correction (the
    # remainder only needs to be accurate to its own rounding).
    sh = nh * inv
    sl = (fma(-sh, dh, nh) + (nl - sh * dl)) * inv
    # 2 atanh(s) = 2 s + (2/3) s**3 + s**5 R2(s**2).  The cubic term is about
    # 1% of the result: formed from exact products and 2/3 as a pair, so that
    # its own rounding stays near 2**-60 of the result (plain float64 Horner
    # measured 2**-57); the higher terms are under 2e-4 of it.
    z, ze = two_prod(sh, sh)
    ze = ze + 2.0 * sh * sl
    R = atanh_series_to_5(z)
    p3, p3e = two_prod(sh, z)           # sh**3 = p3 + p3e + sh ze (+ 3 z sl)
    t1, t1e = two_prod(_TWO_THIRDS_HI, p3)
    small = (t1e + _TWO_THIRDS_HI * (p3e + sh * ze + z * sl)) + _TWO_THIRDS_LO * p3
    higher = (p3 * z) * R
    # j ln2_hi is exact; 2 sh and 2 sl are exact.
    a, ae = two_sum(j * _LN2_HI, 2.0 * sh)
    lo = (ae + t1) + ((2.0 * sl + (small + higher)) + j * _LN2_LO)
    return fast_two_sum(a, lo)


@njit(**_OPTS)
def log1p_dd(ah, al):
    """``log(1 + ah + al)`` as a pair, for ``-0.29 <= ah <= 2**50`` and ``|al| <= ulp(ah)``.

    With ``1 + a = 2**j m``, ``m - 1 = (a + (1 - 2**j)) 2**-j`` and
    ``m + 1 = (a + (1 + 2**j)) 2**-j`` are formed from ``a`` itself (TwoSum with
    the exact integers ``1 -+ 2**j``), so no bit of ``al`` is lost to the
    rounding of ``1 + a``: ``log1p_dd(1e-300, 0)`` is ``1e-300``, and a tiny
    ``ah + al`` keeps its relative accuracy.
    """
    _, j = _split(1.0 + ah)
    p = scale(1.0, j)
    w = scale(1.0, -j)
    nh, nl = two_sum(1.0 - p, ah)
    dh, dl = two_sum(1.0 + p, ah)
    # Scaling by 2**-j is exact (the values are normal or 0).
    return _log_core(nh * w, (nl + al) * w, dh * w, (dl + al) * w, np.float64(j))
