"""Compiled kernels of cross-entropy: the loss and its gradient in one pass per row.

The kernels work on a C-contiguous ``(rows, C)`` array of logits (the class
axis moved last, see :mod:`sigmax._kernels.cross_entropy_glue`) and are
compiled once per dtype.  Per row, with the arithmetic of
:func:`sigmax._softmax._shift` (Blanchard, Higham & Higham, IMA J. Numer.
Anal. 2021, doi:10.1093/imanum/draa038)::

    m    = max_j x_j                             pass 1 (16 independent maxima)
    e_j  = exp(x_j - m)                          pass 2, into a float64 row buffer
    rest = sum_{e_j != 1} e_j + (#{e_j == 1} - 1)       the sum excluding the max
    L    = log1p(rest),  d = 1 + rest            so that lse - x_j = L - (x_j - m)
    grad_j = a e_j / d - s w_j                   pass 3, the row still in cache

Integer targets ``y`` with class weights ``w`` (``W = sum w``), label
smoothing ``eps`` over ``C`` classes and the reduction's factor ``scale``
(PyTorch's definitions, as :mod:`sigmax._losses` writes them)::

    loss   = (1 - eps) w_y (L - z_y) + (eps / C) sum_c w_c (L - z_c),   z = x - m
    dloss/dx_c = a p_c - b [c == y] - s w_c,
    a = ((1 - eps) w_y + eps W / C) scale,  b = (1 - eps) w_y scale,  s = eps scale / C

where ``p = e / d``.  At the target ``a p_y - b`` is formed as
``(b ((e_y - 1) - rest) + (a - b) e_y) / d`` (no cancellation of ``p_y - 1``
where the target is the maximum, as on the plain path).  Probability targets
``q`` (``wq = w ((1 - eps) q + eps / C)``, ``S = sum wq``)::

    loss = sum_c wq_c (L - z_c)   (0 log 0 = 0: a term without mass is 0)
    dloss/dx_c = ((e_c S - wq_c) - wq_c rest) scale / d

Both gradients are 0 at ``-inf`` (masked) logits.  For float64 the rounding
error of ``x_j - m`` is recovered by TwoSum and folded into the exp; float32
is computed in float64 throughout and rounded once.  Rows whose maximum is not
finite (``+inf``, all ``-inf``) or that hold a NaN are only flagged in
``special``: the caller computes them on the plain path (SPEC section 4).
Ignored rows (``keep == 0``) get loss 0 and a zero gradient.

Integer targets with the class axis in the middle of a C-contiguous array
(``(N, C, H, W)`` with ``axis=1``) have their own kernel, :func:`label_tiles`,
which reads the array in place as ``(outer, C, inner)`` and runs every loop
across a tile of inner positions (the same arithmetic, with the exps summed
class by class and a vectorised ``log1p``).  Rows of at most :data:`SMALL`
classes are computed the same way, in blocks of rows transposed into such
tiles (:func:`_label_small`): a loop along a row of a few classes costs more
in overhead than in arithmetic.

A row's result depends on the row alone, never on the batch, the tile or the
number of threads.  The sums of the loss over rows are left to the caller (NumPy's
pairwise float64 sum, as on the plain path).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import _pool
from ._common import JIT, exp_for, is64, rest_sum, row_sum
from ._common import two_sum_shift as _shift
from ._vmath import log1p64

__all__ = ["label_rows", "label_tiles", "prob_rows"]


@njit(inline="always", **JIT)
def _weighted(w, v):
    """``w * v`` with ``0 * inf = 0`` (NaN stays NaN), as ``_losses_common.weighted``."""
    return 0.0 if (w == 0.0 and v == v) else w * v


@njit(inline="always", **JIT)
def _row_coefs(labels, keep, r, w, has_w, eps, scale, wtot, n):
    """``(y, w_y, a, b)`` of row ``r``, in the order of operations of ``_LabelPass``.

    ``y`` is 0 on an ignored row (whose label may be any integer).
    """
    y = labels[r] if keep[r] else 0
    wy = w[y] if has_w else 1.0
    a = ((1.0 - eps) * wy + (eps / n) * wtot) * scale
    b = (1.0 - eps) * scale * wy
    return y, wy, a, b


@njit(**JIT)
def _fill(xi, n, m, e):
    """``e[:n] = exp(xi[:n] - m)`` (exactly 1 at the maxima, 0 at ``-inf``)."""
    proto = xi[0]
    exact = is64(proto)
    for j in range(n):
        z, dz = _shift(xi[j], m, exact)
        e[j] = exp_for(proto, z, dz)


@njit(**JIT)
def _nll_terms(xi, n, m, L, w, has_w, t):
    """``t[:n] = w_c (L - z_c)``: the terms of the smoothing (or probability) sum."""
    exact = is64(xi[0])
    for j in range(n):
        z, dz = _shift(xi[j], m, exact)
        v = L - (z + dz)
        t[j] = _weighted(w[j], v) if has_w else v


#: Rows of at most SMALL classes are computed in transposed blocks (_label_small).
SMALL = 32

#: Independent maxima of :func:`_row_max` (16 float32 logits: one 64-byte line).
_LANES = 16


@njit(**JIT)
def _row_max(xi, n, acc):
    """``max(xi[:n])`` (``-inf`` if empty); a NaN may be ignored (the sum sees it).

    LLVM does not vectorise a select-based max reduction (it would need the
    no-NaNs function attribute, which numba does not set), so that a plain
    loop runs at one element per cycle, slower than the memory it reads.  The
    ``_LANES`` maxima in ``acc`` (a scratch array of that length) are
    independent chains the processor overlaps: twice as fast, and a
    maximum is exact in any order.
    """
    for k in range(_LANES):
        acc[k] = -np.inf
    top = n - n % _LANES
    for j in range(0, top, _LANES):
        for k in range(_LANES):
            v = np.float64(xi[j + k])
            acc[k] = v if v > acc[k] else acc[k]
    m = -np.inf
    for k in range(_LANES):
        m = acc[k] if acc[k] > m else m
    for j in range(top, n):
        v = np.float64(xi[j])
        m = v if v > m else m
    return m


@njit(**JIT)
def _row_stats(xi, n, e, acc):
    """``(m, rest, ok)``: the max, the sum excluding it, and False for a special row."""
    m = _row_max(xi, n, acc)
    if not (m > -np.inf and m < np.inf):
        return m, 0.0, False
    _fill(xi, n, m, e)
    s, c = rest_sum(e, n)
    if s != s:  # a NaN the max skipped reaches the sum through exp(NaN)
        return m, 0.0, False
    return m, s + (c - 1), True


@njit(**JIT)
def _write_plain(e, n, coef, out_row):
    for j in range(n):
        out_row[j] = e[j] * coef


@njit(**JIT)
def _write_smoothed(xi, e, n, coef, s, w, has_w, out_row):
    for j in range(n):
        wj = w[j] if has_w else 1.0
        out_row[j] = e[j] * coef - s * wj if xi[j] > -np.inf else 0.0


@njit(**JIT)
def _zero(out_row, n):
    for j in range(n):
        out_row[j] = 0.0


@njit(**JIT)
def _label_range(x, labels, keep, w, has_w, eps, scale, wtot, s, want_grad, out, per, special,
                 r0, r1):
    """Rows ``r0:r1`` of :func:`label_rows`."""
    n = x.shape[1]
    e = np.empty(n)
    t = np.empty(n)
    acc = np.empty(_LANES)
    exact = is64(x[0, 0])
    for i in range(r0, r1):
        if not keep[i]:
            per[i] = 0.0
            if want_grad:
                _zero(out[i], n)
            continue
        xi = x[i]
        m, rest, ok = _row_stats(xi, n, e, acc)
        if not ok:
            special[i] = 1
            continue
        L = math.log1p(rest)
        d = 1.0 + rest
        y, wy, a, b = _row_coefs(labels, keep, i, w, has_w, eps, scale, wtot, n)
        zy, dzy = _shift(xi[y], m, exact)
        nls_y = L - (zy + dzy)
        loss = (1.0 - eps) * (_weighted(wy, nls_y) if has_w else nls_y)
        if eps != 0.0:
            _nll_terms(xi, n, m, L, w, has_w, t)
            loss += (eps / n) * row_sum(t, n)
        per[i] = loss
        if not want_grad:
            continue
        coef = a / d
        if eps != 0.0:
            _write_smoothed(xi, e, n, coef, s, w, has_w, out[i])
        else:
            # e is 0 at -inf logits: the gradient is 0 there without a test.
            _write_plain(e, n, coef, out[i])
        ey = e[y]
        g = (b * ((ey - 1.0) - rest) + (a - b) * ey) / d
        g -= s * (w[y] if has_w else 1.0)
        out[i, y] = g if xi[y] > -np.inf else 0.0


def label_rows(x, labels, keep, w, eps, scale, wtot, out, per, special, threads=1):
    """Cross-entropy of integer targets over the rows of ``x`` (``rows, C >= 1``).

    ``labels`` (int64, ``(rows,)``; any integer on ignored rows), ``keep``
    (uint8, 0 on ignored rows), ``w`` the class weights (float64 ``(C,)``) or
    None, ``eps`` the smoothing, ``scale`` the reduction's gradient factor and
    ``wtot`` the sum of the weights (``C`` without weights): the row
    coefficients ``a``, ``b`` of the module docstring are formed from them per
    row.  Writes the per-row losses into ``per`` (float64), the gradient into
    ``out`` (``x``'s shape and dtype, or None for the loss alone) and 1 into
    ``special`` (uint8, zeros) for the rows left to the caller.  ``threads``:
    the number of threads.
    """
    want_grad = out is not None
    out = out if want_grad else np.zeros((1, 1), dtype=x.dtype)
    has_w = w is not None
    w = w if has_w else np.ones(1)
    s = (eps / x.shape[1]) * scale
    args = (x, labels, keep, w, has_w, float(eps), float(scale), float(wtot), float(s),
            want_grad, out, per, special)
    if x.shape[1] <= SMALL:
        _pool.run(_label_small, args + (_TILE,), (x.shape[0] + _TILE - 1) // _TILE, threads)
    else:
        _pool.run(_label_range, args, x.shape[0], threads)


# ----------------------------------------------------------------------------
# Integer targets with the class axis in the middle: x3 of shape (outer, C,
# inner), C-contiguous (e.g. (N, C, H, W) with axis=1, inner = H W).  A task is a
# tile of up to B consecutive inner positions of one outer index; every loop
# runs across the tile (contiguous memory), so nothing is copied or transposed.
# Row r = o * inner + k, the C order of the non-class axes.  The arithmetic per
# row is that of _label_range; only the order of the sum of the exps differs
# (here class by class).

@njit(**JIT)
def _column_fill(xr, mref, er, sm, cnt, nb):
    """One class of a tile: ``er[q] = exp(xr[q] - mref[q])``, added to ``sm`` / ``cnt``.

    On 1-d views, so that LLVM vectorises it (it did not through the 3-d indexing).
    """
    proto = xr[0]
    exact = is64(proto)
    for q in range(nb):
        z, dz = _shift(xr[q], mref[q], exact)
        v = exp_for(proto, z, dz)
        er[q] = v
        sm[q] += v if v != 1.0 else 0.0
        cnt[q] += 1.0 if v == 1.0 else 0.0


@njit(**JIT)
def _column_max(xr, m, nb):
    for q in range(nb):
        v = np.float64(xr[q])
        m[q] = v if v > m[q] else m[q]


@njit(**JIT)
def _tile_rows(sm, cnt, a, L, coef, nb):
    """Per column: ``L = log1p(rest)`` (vectorised log1p) and ``coef = a / (1 + rest)``.

    ``a`` holds the columns' ``a`` (a (B,) scratch array other than ``coef``).
    """
    for q in range(nb):
        rest = sm[q] + (cnt[q] - 1.0)
        L[q] = log1p64(rest) if rest > -1.0 else 0.0
        coef[q] = a[q] / (1.0 + rest)


@njit(**JIT)
def _tile_fill(x3, o, k0, nb, mref, e, sm, cnt):
    """``e[c, q] = exp(x3[o, c, k0 + q] - mref[q])``; ``sm``, ``cnt``: rest_sum per column."""
    for q in range(nb):
        sm[q] = 0.0
        cnt[q] = 0.0
    for c in range(x3.shape[1]):
        _column_fill(x3[o, c, k0:k0 + nb], mref, e[c], sm, cnt, nb)


@njit(**JIT)
def _tile_smooth(x3, o, k0, nb, mref, L, w, has_w, acc):
    """``acc[q] = sum_c w_c (L_q - z_cq)``, the smoothing sum of each column."""
    exact = is64(x3[0, 0, 0])
    for q in range(nb):
        acc[q] = 0.0
    for c in range(x3.shape[1]):
        wc = w[c] if has_w else 1.0
        for q in range(nb):
            z, dz = _shift(x3[o, c, k0 + q], mref[q], exact)
            v = L[q] - (z + dz)
            acc[q] += _weighted(wc, v) if has_w else v


@njit(**JIT)
def _column_write(xr, er, coef, sw, smoothed, outr, nb):
    if smoothed:
        for q in range(nb):
            g = er[q] * coef[q] - sw
            outr[q] = g if xr[q] > -np.inf else 0.0
    else:
        for q in range(nb):
            outr[q] = er[q] * coef[q]


@njit(**JIT)
def _tile_write(x3, o, k0, nb, e, coef, s, w, has_w, smoothed, out3):
    for c in range(x3.shape[1]):
        sw = s * (w[c] if has_w else 1.0)
        _column_write(x3[o, c, k0:k0 + nb], e[c], coef, sw, smoothed, out3[o, c, k0:k0 + nb],
                      nb)


@njit(**JIT)
def _tile(x3, o, k0, nb, r0, labels, keep, w, has_w, eps, scale, wtot, s, want_grad, out3, per,
          special, e, m, mref, sm, cnt, L, coef, acc):
    """One tile: columns ``k0:k0 + nb`` of ``x3[o]``, rows ``r0:r0 + nb`` of the per-row arrays.

    ``e`` (C, B) and the (B,) arrays after it are scratch.
    """
    n = x3.shape[1]
    exact = is64(x3[0, 0, 0])
    for q in range(nb):
        m[q] = -np.inf
    for c in range(n):
        _column_max(x3[o, c, k0:k0 + nb], m, nb)
    for q in range(nb):
        mref[q] = m[q] if (m[q] > -np.inf and m[q] < np.inf) else 0.0
    _tile_fill(x3, o, k0, nb, mref, e, sm, cnt)
    # acc holds the columns' a here (an array apart from coef, so that the
    # loop of _tile_rows vectorises), and the smoothing sums below.
    for q in range(nb):
        acc[q] = _row_coefs(labels, keep, r0 + q, w, has_w, eps, scale, wtot, n)[2]
    _tile_rows(sm, cnt, acc, L, coef, nb)
    if eps != 0.0:
        _tile_smooth(x3, o, k0, nb, mref, L, w, has_w, acc)
    if want_grad:
        _tile_write(x3, o, k0, nb, e, coef, s, w, has_w, eps != 0.0, out3)
    for q in range(nb):
        r = r0 + q
        k = k0 + q
        if not keep[r]:
            per[r] = 0.0
            if want_grad:
                for c in range(n):
                    out3[o, c, k] = 0.0
            continue
        if not (m[q] > -np.inf and m[q] < np.inf) or sm[q] != sm[q]:
            special[r] = 1
            continue
        y, wy, a, b = _row_coefs(labels, keep, r, w, has_w, eps, scale, wtot, n)
        zy, dzy = _shift(x3[o, y, k], m[q], exact)
        nls_y = L[q] - (zy + dzy)
        loss = (1.0 - eps) * (_weighted(wy, nls_y) if has_w else nls_y)
        if eps != 0.0:
            loss += (eps / n) * acc[q]
        per[r] = loss
        if want_grad:
            rest = sm[q] + (cnt[q] - 1.0)
            ey = e[y, q]
            g = (b * ((ey - 1.0) - rest) + (a - b) * ey) / (1.0 + rest)
            g -= s * (w[y] if has_w else 1.0)
            out3[o, y, k] = g if x3[o, y, k] > -np.inf else 0.0


@njit(**JIT)
def _label_tiles(x3, labels, keep, w, has_w, eps, scale, wtot, s, want_grad, out3, per, special,
                 B, t0, t1):
    """Tiles ``t0:t1`` of :func:`label_tiles`."""
    outer, n, inner = x3.shape
    ntile = (inner + B - 1) // B
    e = np.empty((n, B))
    m, mref, sm, cnt = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    L, coef, acc = np.empty(B), np.empty(B), np.empty(B)
    for t in range(t0, t1):
        o = t // ntile
        k0 = (t % ntile) * B
        _tile(x3, o, k0, min(B, inner - k0), o * inner + k0, labels, keep, w, has_w, eps, scale,
              wtot, s, want_grad, out3, per, special, e, m, mref, sm, cnt, L, coef, acc)


@njit(**JIT)
def _label_small(x, labels, keep, w, has_w, eps, scale, wtot, s, want_grad, out, per, special,
                 B, t0, t1):
    """Blocks ``t0:t1`` of B rows of a (rows, C) array with few classes.

    Each block is transposed into a (1, C, B) tile, computed as a tile of
    :func:`_label_tiles` (loops across the rows instead of along a short row),
    and its gradient transposed back.
    """
    rows, n = x.shape
    xt = np.empty((1, n, B), dtype=x.dtype)
    ot = np.empty((1, n, B), dtype=out.dtype)
    e = np.empty((n, B))
    m, mref, sm, cnt = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    L, coef, acc = np.empty(B), np.empty(B), np.empty(B)
    for t in range(t0, t1):
        r0 = t * B
        nb = min(B, rows - r0)
        for q in range(nb):
            for c in range(n):
                xt[0, c, q] = x[r0 + q, c]
        _tile(xt, 0, 0, nb, r0, labels, keep, w, has_w, eps, scale, wtot, s, want_grad, ot, per,
              special, e, m, mref, sm, cnt, L, coef, acc)
        if want_grad:
            for q in range(nb):
                for c in range(n):
                    out[r0 + q, c] = ot[0, c, q]


#: Tile widths of :func:`label_tiles`: at most this many inner positions, and a
#: float64 exp buffer of at most _TILE_ELEMENTS (256 KiB, in L2).
_TILE, _TILE_ELEMENTS = 256, 1 << 15


def label_tiles(x3, labels, keep, w, eps, scale, wtot, out3, per, special, threads=1):
    """:func:`label_rows` for ``x3`` of shape ``(outer, C, inner)`` (classes in the middle).

    The arguments are those of :func:`label_rows`, the per-row ones in the C
    order of ``(outer, inner)``; ``out3`` has ``x3``'s shape, or is None.
    """
    outer, n, inner = x3.shape
    B = int(max(1, min(_TILE, inner, _TILE_ELEMENTS // n)))
    want_grad = out3 is not None
    out3 = out3 if want_grad else np.zeros((1, 1, 1), dtype=x3.dtype)
    has_w = w is not None
    w = w if has_w else np.ones(1)
    s = (eps / n) * scale
    args = (x3, labels, keep, w, has_w, float(eps), float(scale), float(wtot), float(s),
            want_grad, out3, per, special, B)
    _pool.run(_label_tiles, args, outer * ((inner + B - 1) // B), threads)


@njit(**JIT)
def _wq_fill(qi, n, eps, w, has_w, wq):
    """``wq[:n] = w ((1 - eps) q + eps / n)`` (just ``q`` without weights or smoothing)."""
    u = eps / n
    for j in range(n):
        v = (1.0 - eps) * qi[j] + u if eps != 0.0 else np.float64(qi[j])
        wq[j] = v * w[j] if has_w else v


@njit(**JIT)
def _prob_terms(xi, n, m, L, wq, t):
    """``t[:n] = wq_c (L - z_c)`` with ``0 * inf = 0``."""
    exact = is64(xi[0])
    for j in range(n):
        z, dz = _shift(xi[j], m, exact)
        t[j] = _weighted(wq[j], L - (z + dz))


@njit(**JIT)
def _prob_write(xi, e, wq, n, total, rest, f, out_row):
    for j in range(n):
        g = e[j] * total
        g -= wq[j]
        g -= wq[j] * rest
        out_row[j] = g * f if xi[j] > -np.inf else 0.0


@njit(**JIT)
def _prob_range(x, q, w, has_w, eps, scale, want_grad, out, per, special, r0, r1):
    """Rows ``r0:r1`` of :func:`prob_rows`."""
    n = x.shape[1]
    e = np.empty(n)
    t = np.empty(n)
    wq = np.empty(n)
    acc = np.empty(_LANES)
    for i in range(r0, r1):
        xi = x[i]
        m, rest, ok = _row_stats(xi, n, e, acc)
        if not ok:
            special[i] = 1
            continue
        L = math.log1p(rest)
        _wq_fill(q[i], n, eps, w, has_w, wq)
        _prob_terms(xi, n, m, L, wq, t)
        per[i] = row_sum(t, n)
        if want_grad:
            _prob_write(xi, e, wq, n, row_sum(wq, n), rest, scale / (1.0 + rest), out[i])


def prob_rows(x, q, w, eps, scale, out, per, special, threads=1):
    """Cross-entropy of probability targets ``q`` (``x``'s shape, float32 or float64).

    ``w`` the class weights (float64 ``(C,)``) or None, ``eps`` the smoothing,
    ``scale`` the reduction's factor; ``out``, ``per``, ``special`` and
    ``threads`` as for :func:`label_rows`.
    """
    want_grad = out is not None
    out = out if want_grad else np.zeros((1, 1), dtype=x.dtype)
    has_w = w is not None
    w = w if has_w else np.ones(1)
    args = (x, q, w, has_w, float(eps), float(scale), want_grad, out, per, special)
    _pool.run(_prob_range, args, x.shape[0], threads)
