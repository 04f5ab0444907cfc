"""Pieces shared by the kernel families: dtype-specialised exp, and plain reductions.

The kernels are compiled once per dtype (float32 and float64 arrays); the
choice of arithmetic inside follows the element type through ``@overload``
(resolved at compile time, so no branch is left in the loops):

* float64 arrays: ``exp64`` with the TwoSum correction of the shift,
* float32 arrays: ``exp32`` (relative error below 1e-11) without it; every
  intermediate is float64 and the result is rounded to float32 once.

The reductions below are compiled with ``fastmath`` flags so that LLVM may
vectorise them (reassociation of the sum, ``max`` without NaN ordering).  They
are separate functions on purpose: fast-math flags apply to the instructions
of the function that carries them, and the exp/TwoSum arithmetic, whose
rounding must not be reassociated, lives in the callers.  A NaN that the max
ignores still reaches the sum through ``exp(NaN)``, which is how the kernels
detect NaN rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._vmath import exp32, exp64

__all__ = ["JIT", "is64", "exp_for", "row_max", "row_sum", "rest_sum"]

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
    return lambda proto, z, dz: exp32(z + dz)


@njit(**dict(JIT, fastmath={"nnan", "nsz", "reassoc", "contract"}))
def row_max(a, n):
    """Maximum of ``a[:n]`` (``-inf`` if empty); a NaN may be ignored (see above)."""
    m = -np.inf
    for j in range(n):
        v = a[j]
        m = v if v > m else m
    return m


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
    """
    s = 0.0
    c = 0
    for j in range(n):
        v = e[j]
        s += v if v != 1.0 else 0.0
        c += v == 1.0
    return s, c
