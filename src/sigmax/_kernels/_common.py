"""Pieces shared by the kernel families: dtype-specialised exp, and plain reductions.

The kernels are compiled once per dtype (float32 and float64 arrays); the
choice of arithmetic inside follows the element type through ``@overload``
(resolved at compile time, so no branch is left in the loops):

* float64 arrays: ``exp64`` with the TwoSum correction of the shift,
* float32 arrays: ``exp32`` (relative error below 1e-11) without it (``dz``
  is ignored: the callers pass 0); every
  intermediate is float64 and the result is rounded to float32 once.

The sums below are compiled with ``fastmath`` flags so that LLVM may
vectorise them (reassociation); the max keeps eight explicit lanes.  They
are separate functions on purpose: fast-math flags apply to the instructions
of the function that carries them, and the exp/TwoSum arithmetic, whose
rounding must not be reassociated, lives in the callers.  A NaN that the max
ignores still reaches the sum through ``exp(NaN)``, which is how the kernels
detect NaN rows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._vmath import exp32, exp64

__all__ = ["JIT", "is64", "exp_for", "two_sum_shift", "row_max", "row_sum", "rest_sum"]

#: Options of every kernel: compiled on first use, cached on disk, NumPy's
#: floating-point semantics (x / 0 is inf, not ZeroDivisionError), no GIL (the
#: thread pool), and ``a * b + c`` contracted to one FMA.  Contraction only
#: removes roundings; the error-free transformations (TwoSum, Fast2Sum) have
#: no products, and Cody-Waite's ``z - k ln2_hi`` is exact either way.
JIT = dict(cache=True, error_model="numpy", nogil=True, fastmath={"contract"})


def is64(proto):  # pragma: no cover - replaced by the overload inside kernels
    """True when ``proto`` (an element of the array) is float64."""


@overload(is64, inline="always")
def _is64(proto):
    if proto == types.float64:
        return lambda proto: True
    return lambda proto: False


def exp_for(proto, z, dz):  # pragma: no cover - replaced by the overload
    """``exp(z + dz)`` at the accuracy the dtype of ``proto`` needs."""


@overload(exp_for, inline="always")
def _exp_for(proto, z, dz):
    if proto == types.float64:
        return lambda proto, z, dz: exp64(z, dz)
    # float32: the callers' dz is 0 (no TwoSum); z + 0.0 would cost an add
    # that LLVM may not remove (-0.0 + 0.0 is +0.0).
    return lambda proto, z, dz: exp32(z)


@njit(**JIT)
def row_max(a, n):
    """Maximum of ``a[:n]`` in float64 (``-inf`` if empty); a NaN may be ignored (see above).

    Eight running maxima, one per lane of a vector: LLVM does not vectorise
    the select reduction ``m = v if v > m else m`` (0.7 ns/element measured),
    but it packs the eight independent selects of each step into one vector
    compare and blend.  A maximum is exact in any order.
    """
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = -np.inf
    top = n - n % 8
    for j in range(0, top, 8):
        v0, v1 = np.float64(a[j]), np.float64(a[j + 1])
        v2, v3 = np.float64(a[j + 2]), np.float64(a[j + 3])
        v4, v5 = np.float64(a[j + 4]), np.float64(a[j + 5])
        v6, v7 = np.float64(a[j + 6]), np.float64(a[j + 7])
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
        m4 = v4 if v4 > m4 else m4
        m5 = v5 if v5 > m5 else m5
        m6 = v6 if v6 > m6 else m6
        m7 = v7 if v7 > m7 else m7
    for j in range(top, n):
        v = np.float64(a[j])
        m0 = v if v > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    m4 = m5 if m5 > m4 else m4
    m6 = m7 if m7 > m6 else m6
    m0 = m2 if m2 > m0 else m0
    m4 = m6 if m6 > m4 else m4
    return m4 if m4 > m0 else m0


@njit(inline="always", **JIT)
def two_sum_shift(v, m, exact):
    """``(z, dz)`` with ``v - m = z + dz`` exactly (TwoSum, Knuth) for float64.

    ``exact`` is a compile-time constant (float64 arrays); without it ``dz`` is 0.
    """
    z = v - m
    dz = 0.0
    if exact:
        bp = z - v
        ap = z - bp
        dz = (v - ap) + (-m - bp)
        dz = dz if z > -np.inf else 0.0
    return z, dz


@njit(**dict(JIT, fastmath={"reassoc", "nsz", "contract"}))
def row_sum(a, n):
    """``sum(a[:n])`` in any order (vectorised); NaN and inf propagate."""
    s = 0.0
    for j in range(n):
        s += a[j]
    return s


@njit(**dict(JIT, fastmath={"reassoc", "nsz", "contract"}))
def rest_sum(e, n):
    """``(sum of e[:n] other than the 1s, number of 1s)``: the sum excluding the maxima.

    The maxima (``x_i == m``) have ``e_i == exp(0) == 1`` exactly; they are
    counted as integers instead of summed (Blanchard, Higham & Higham).  An
    entry ``x_i != m`` whose exp rounds to 1 lands in the count as well, which
    changes nothing but the order of one rounding.  NaN is summed (and so
    propagates).

    The sum itself is exact in its heads and rounds once: each term
    ``0 <= v < 1`` is split into ``q / 2**k`` with the integer
    ``q = trunc(v 2**k)`` and the exact tail ``v - q / 2**k < 2**-k``, with
    ``k = 52 - bit_length(n + 1)`` so that the integer sum of the ``q`` cannot
    overflow 53 bits.  Integer sums are exact in any order and the float-int
    round trip cannot be reassociated away, so the loop stays vectorised under
    ``reassoc``; the tails' own rounding is negligible (their total is below
    ``n 2**-k``).  The plain path does the same (``_softmax._accurate_row_sum``):
    a plain vectorised sum was up to 1.34x the float64 softmax target.
    """
    _, ex = math.frexp(float(n + 1))  # n + 1 < 2**ex
    scale = math.ldexp(1.0, 52 - ex)
    inv = 1.0 / scale
    heads = 0
    tails = 0.0
    c = 0
    for j in range(n):
        v = e[j]
        w = v if v != 1.0 else 0.0
        q = np.int64(w * scale) if w == w else np.int64(0)
        heads += q
        tails += w - q * inv
        c += v == 1.0
    s = heads * inv + tails
    return s, c
