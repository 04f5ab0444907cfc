"""Vectorisable ``exp``, ``log`` and ``log1p`` for the numba kernels.

numba lowers ``math.exp`` to a call into libm, which LLVM cannot vectorise
(the llvmlite wheels ship no SVML).  The functions below are written only with
``+ - * /``, comparisons and selects, and one bit cast, so that a loop calling
them compiles to SIMD code.  They are ``inline="always"`` so that each loop
sees the whole body.

exp (Cody & Waite range reduction, then a polynomial)::

    z = k ln2 + r,  k = round(z / ln2),  |r| <= ln2 / 2
    r = (z - k ln2_hi) - k ln2_lo          ln2_hi has 32 significant bits, so
                                           k ln2_hi is exact for |k| < 2**21
    exp(z) = 2**k1 * 2**k2 * (1 + q(r)),   k1 = k >> 1, k2 = k - k1

``k`` is split in two so that both powers of two are normal numbers for every
``k`` in ``[-1587, 1024]``: the product rounds once into the subnormal range
(subnormal results are kept) or overflows to ``inf``.  ``q`` is the Taylor
polynomial ``r + r**2/2 + ... + r**13/13!`` (truncation below 5e-18 relative on
``|r| <= ln2/2``) for float64 results.  ``exp32``, whose result is rounded to
float32, uses a degree-8 Chebyshev fit (4.6e-12) and scales once (see its docstring).  A correction ``dz`` (the rounding error of
the argument, see the softmax kernels) is added to ``r``.

log (fdlibm's scheme): ``x = 2**k (1 + f)`` with ``sqrt(2)/2 <= 1 + f < sqrt(2)``,
``s = f / (2 + f)`` and

    log(1 + f) = 2 atanh(s) = f - (f**2/2 - s (f**2/2 + R(s**2))),
    R(z) = 2 sum_{j >= 1} z**j / (2j + 1),

summed to ``j = 11`` (truncation below 2e-18 relative for ``|s| <= 0.1716``).
``log1p(a)`` computes ``u = 1 + a`` and adds back the rounding error of that
sum, ``c / u`` (Goldberg's correction, as in fdlibm's ``log1p``).

The accuracy of each function is tested against mpmath in
tests/test_kernels_vmath.py.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic

__all__ = ["exp64", "exp32", "log64", "log1p64", "log1p32", "bits", "from_bits"]

_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238      # 32 significant bits
_LN2_LO = 1.9082149292705877e-10  # ln 2 - _LN2_HI
_LN2 = 0.6931471805599453
_SHIFT = 6755399441055744.0       # 1.5 * 2**52: adding it rounds to an integer
_SHIFT_BITS = 0x4338000000000000
_SQRT2 = 1.4142135623730951
_TWO54 = 18014398509481984.0


#: exp32's q(r) ~ (e^r - 1 - r)/r**2 on |r| <= ln2/2, highest degree first:
#:   import mpmath as mp; mp.mp.dps = 40; L = mp.log(2)/2
#:   q = lambda r: mp.mpf(1)/2 + r/6 if abs(r) < mp.mpf('1e-10') else (mp.exp(r) - 1 - r)/r**2
#:   [float(c) for c in mp.chebyfit(q, [-L, L], 7)]    # error 2.7e-11 in q, 4.6e-12 in e^r
_Q32 = (2.4859578222625295e-05, 0.0001989927395864936, 0.001388885404961482,
        0.008333298483754886, 0.041666666718980845, 0.16666666718997508, 0.5)


@intrinsic
def bits(typingctx, x):
    """The IEEE bits of a float64 as an int64 (a register move, vectorisable)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def from_bits(typingctx, i):
    """The float64 whose IEEE bits are the int64 ``i``."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def _reduce(z):
    """``(k, r)`` with ``z = k ln2 + r``; NaN stays NaN (no float-to-int conversion)."""
    # Clamp (NaN passes both tests unchanged): below -1100 exp is 0, above 710 inf.
    z = z if not (z < -1100.0) else -1100.0
    z = z if not (z > 710.0) else 710.0
    y = z * _INV_LN2 + _SHIFT
    kf = y - _SHIFT
    k = bits(y) - _SHIFT_BITS
    r = (z - kf * _LN2_HI) - kf * _LN2_LO
    return k, r


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def _scale(p, k):
    """``p * 2**k`` for ``k`` in [-1587, 1024], rounding once."""
    k1 = k >> 1
    k2 = k - k1
    return (p * from_bits((k1 + 1023) << 52)) * from_bits((k2 + 1023) << 52)


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def exp64(z, dz):
    """``exp(z + dz)`` to float64 accuracy (``dz`` a tiny correction, may be 0)."""
    k, r = _reduce(z)
    r = r + dz
    # 1 + (r + r**2 q): the leading 1 is added last, where it rounds once.
    # The Horner steps are written out: a loop over a tuple of coefficients,
    # inlined into the kernels' loops, trips numba's IR checks.
    q = exp_taylor_to_24(1.0 / 6227020800.0, r)
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    q = r + (r * r) * q
    return _scale(1.0 + q, k)


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def exp_taylor_to_24(q, r):
    """Horner steps of exp's Taylor series from ``1/12!`` down to ``1/4!``: ``q`` holds
    the higher terms (``1/13!`` for exp64, more for ``_ddmath.exp_dd``)."""
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    return q * r + 1.0 / 24.0


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def exp32(z):
    """``exp(z)`` in float64 with a relative error below 1e-11, for float32 results.

    Exact to that accuracy for ``-700 <= z <= 89``; 0 below -700 (the exact
    value, under 1e-304, rounds to 0 in float32) and ``inf`` above 89 (float32
    overflows from 88.73 on).  Cheaper than :func:`exp64`: ``1 + r + r**2 q(r)``
    with ``q`` the degree-6 Chebyshev fit of ``(e^r - 1 - r)/r**2`` (``_Q32``;
    4.6e-12 relative on ``|r| <= ln2/2``, where the degree-9 Taylor polynomial it
    replaced, one FMA more, gave 7e-12) after a one-constant reduction, no
    clamps, and one multiplication by ``2**k`` (``k`` in [-1010, 129] is a normal
    power of two; outside that range the arithmetic yields garbage that the two
    selects replace).  NaN stays NaN.  Not less accurate: a float32 softmax must
    round to the same float32 as the float64 result rounded
    (tests/test_softmax_policy.py); the degree-8 Taylor polynomial (2e-10)
    changed 2 of 16384 elements there.
    """
    y = z * _INV_LN2 + _SHIFT
    kf = y - _SHIFT
    k = bits(y) - _SHIFT_BITS
    # One FMA: ln 2 rounded to float64 (error 2.3e-17) times |k| <= 1010 moves
    # r by at most 2.3e-14, a relative error of exp that small.
    r = z - kf * _LN2
    q = _Q32[0]
    q = q * r + _Q32[1]
    q = q * r + _Q32[2]
    q = q * r + _Q32[3]
    q = q * r + _Q32[4]
    q = q * r + _Q32[5]
    q = q * r + _Q32[6]
    q = r + (r * r) * q
    out = (1.0 + q) * from_bits((k + 1023) << 52)
    out = 0.0 if z < -700.0 else out
    return np.inf if z > 89.0 else out


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def _log_kf(m, k, c):
    """``k ln2 + log(m) + c`` for ``m`` in [sqrt(2)/2, sqrt(2)) and a tiny ``c``."""
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    R = (atanh_series_to_5(z) * z + 2.0 / 3.0) * z
    return _log_combine(f, s, R, k, c)


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def atanh_series_to_5(z):
    """Horner steps of ``2 atanh(s)/s = 2 + 2 z/3 + 2 z**2/5 + ...`` from ``2/23``
    down to ``2/5`` (``z = s**2``); shared by ``_log_kf`` and ``_ddmath``'s log."""
    R = 2.0 / 23.0
    R = R * z + 2.0 / 21.0
    R = R * z + 2.0 / 19.0
    R = R * z + 2.0 / 17.0
    R = R * z + 2.0 / 15.0
    R = R * z + 2.0 / 13.0
    R = R * z + 2.0 / 11.0
    R = R * z + 2.0 / 9.0
    R = R * z + 2.0 / 7.0
    return R * z + 2.0 / 5.0


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def _log_combine(f, s, R, k, c):
    """fdlibm's ``k ln2 + log(1 + f) + c`` from ``s = f/(2 + f)`` and ``R = R(s**2)``:
    the small terms first, ``k ln2_hi`` (exact) and ``f`` last."""
    hfsq = 0.5 * f * f
    kf = np.float64(k)
    return kf * _LN2_HI - ((hfsq - (s * (hfsq + R) + (kf * _LN2_LO + c))) - f)


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def _split(x):
    """``(m, k)`` with ``x = m 2**k``, ``m`` in [sqrt(2)/2, sqrt(2)); ``x`` > 0 finite normal."""
    b = bits(x)
    k = ((b >> 52) & 0x7FF) - 1023
    m = from_bits((b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    k = k + 1 if big else k
    return m, k


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def split_any(x):
    """:func:`_split` for any finite ``x > 0``, subnormals included (scaled by 2**54 first)."""
    tiny = x < 2.2250738585072014e-308
    m, k = _split(x * _TWO54 if tiny else x)
    return m, (k - 54 if tiny else k)


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def log64(x):
    """``log(x)`` to float64 accuracy; ``-inf`` at 0, NaN below 0 and for NaN."""
    m, k = split_any(x)
    out = _log_kf(m, k, 0.0)
    out = -np.inf if x == 0.0 else out
    out = np.inf if x == np.inf else out
    return out if x >= 0.0 else np.nan


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def log1p64(a):
    """``log(1 + a)`` to float64 accuracy; ``-inf`` at -1, NaN below -1 and for NaN."""
    u = 1.0 + a
    m, k = _split(u)
    # The rounding error of u = 1 + a, exact by Fast2Sum (the larger operand
    # first), divided by u: log(1 + a) = log(u) + c / u to first order.
    c = ((1.0 - u) + a) if abs(a) <= 1.0 else ((a - u) + 1.0)
    c = c / u
    out = _log_kf(m, k, c)
    out = a if abs(a) < 1e-300 else out
    out = -np.inf if a == -1.0 else out
    out = np.inf if a == np.inf else out
    return out if a >= -1.0 else np.nan


@njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})
def log1p32(t):
    """``log(1 + t)`` for ``0 <= t <= 1``, relative error below 2e-12, for float32 results.

    :func:`log1p64` without its special cases (the callers' ``t = e^-|x|``
    has none but NaN, which they select themselves) and with ``R`` summed to
    ``j = 6`` (truncation ``s**14/15 < 1.3e-12`` relative for ``|s| <= 0.1716``).
    23% faster in the float32 softplus kernel (2.44 to 1.87 ns/element).
    """
    u = 1.0 + t
    c = ((1.0 - u) + t) / u     # Fast2Sum error of 1 + t (t <= 1), divided by u
    m, k = _split(u)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    R = 2.0 / 13.0
    R = R * z + 2.0 / 11.0
    R = R * z + 2.0 / 9.0
    R = R * z + 2.0 / 7.0
    R = R * z + 2.0 / 5.0
    R = R * z + 2.0 / 3.0
    R = R * z
    return _log_combine(f, s, R, k, c)
