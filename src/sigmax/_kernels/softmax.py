"""Compiled kernels of the softmax family: softmax, log_softmax, logsumexp, their vjp/jvp.

One kernel, :func:`family`, serves every method; it works on a C-contiguous
``(rows, n)`` array (the reduced axes moved last and flattened, see
:mod:`sigmax._kernels.glue`) and is compiled once per dtype.  The arithmetic
is that of :func:`sigmax._softmax._shift` (Blanchard, Higham & Higham, IMA J.
Numer. Anal. 2021, doi:10.1093/imanum/draa038)::

    m    = max_j x_j                          pass 1 (vectorised max)
    e_j  = exp((x_j - m) / T)                 pass 2, fused with the sum
    rest = sum_{e_j != 1} e_j + (#{e_j == 1} - 1)      "the sum excluding the max"
    softmax_j     = e_j / (1 + rest)          pass 3, while the row is in cache
    log_softmax_j = (x_j - m) / T - log1p(rest)
    logsumexp     = m + log1p(rest)

with the rounding error of ``x_j - m`` recovered by TwoSum and folded into the
exp for float64 (float32 is computed in float64 throughout and rounded once).
The vjp/jvp add one row reduction and a write pass:

    softmax:      p (t - <p, t>) / T          log_softmax.vjp: (g - p sum g) / T
    logsumexp.vjp: g p                        log_softmax.jvp: (v - <p, v>) / T
    logsumexp.jvp: <p, v>

Rows are split in three ways, each chosen by ``n`` alone, so that a row's
result depends only on the row (not on the batch it came in, nor on the
number of threads):

* ``n <= SMALL``: blocks of rows, every loop vectorised *across* the rows;
* ``n <= CHUNK``: one row per task, all passes while the row is in cache;
* longer rows: chunks of ``CHUNK`` entries are tasks too (threads share a
  row); each chunk's max and shifted sum are combined exactly as in the
  paper's pairwise formula, ``rest = sum_c (count_c + s_c) e^{(m_c - m)/T} - 1``
  with the ``- 1`` taken from the integer count of a chunk holding the max.

Special rows (a maximum of ``+-inf``, a NaN, nothing unmasked) are only
flagged here; the caller recomputes them on the plain path, which owns their
rules (SPEC section 4).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import _pool
from ._common import JIT, exp_for, is64, rest_sum, row_max, row_sum
from ._common import two_sum_shift as _shift1
from ._vmath import log1p64

__all__ = ["family", "SOFTMAX", "LOG_SOFTMAX", "LSE", "SM_PROD", "LSM_VJP", "LSM_JVP",
           "LSE_VJP", "LSE_JVP", "SMALL", "CHUNK"]

# The methods (``mode``); the *_PROD/VJP/JVP modes take a cotangent.
SOFTMAX, LOG_SOFTMAX, LSE, SM_PROD, LSM_VJP, LSM_JVP, LSE_VJP, LSE_JVP = range(8)
#: Rows of at most SMALL entries are vectorised across rows.
SMALL = 16
#: Rows longer than CHUNK entries are split into chunks (256 KiB of float64).
CHUNK = 1 << 15
_BLOCK = 256  # rows per task on the small-row path


@njit(inline="always", **JIT)
def _shiftT(v, m, T, exact):
    """``(z, dz)`` with ``(v - m) / T = z + dz``, as :func:`sigmax._softmax._shift`.

    Scaled after the shift; where ``v - m`` overflowed, a ``T > 1`` scales
    each side first (a select, so that the loop stays branch-free).
    """
    z, dz = _shift1(v, m, exact)
    zt = z / T
    zt = (v / T - m / T) if (T > 1.0 and z == -np.inf and v > -np.inf) else zt
    return zt, dz / T


@njit(inline="always", **JIT)
def _over(e, d, rd, exact):
    """``e / d``: divided for float64 results, times ``rd = 1/d`` for float32 ones.

    The product has one more float64 rounding (2**-53 relative), invisible
    once rounded to float32, and vectorises at a fraction of a division's cost.
    """
    return e / d if exact else e * rd


@njit(**JIT)
def _load(x, mask, has_mask, i, j0, j1, xv):
    """``xv[:j1 - j0] = x[i, j0:j1]`` in float64, ``-inf`` where masked out."""
    # Every loop of this module runs over range(n) of row views: LLVM does not
    # vectorise ``a[i, j0 + j]`` (numba's negative-index wraparound select).
    xr = x[i, j0:j1]
    if has_mask:
        mr = mask[i, j0:j1]
        for j in range(xr.size):
            xv[j] = np.float64(xr[j]) if mr[j] else -np.inf
    else:
        for j in range(xr.size):
            xv[j] = xr[j]


# One loop per function where exp is inlined: numba's IR checks warn about
# the second copy of an inlined function within one function.

@njit(**JIT)
def _fill1(proto, xv, n, m, e):
    exact = is64(proto)
    for j in range(n):
        z, dz = _shift1(xv[j], m, exact)
        e[j] = exp_for(proto, z, dz)


@njit(**JIT)
def _fillT(proto, xv, n, m, T, e):
    exact = is64(proto)
    for j in range(n):
        z, dz = _shiftT(xv[j], m, T, exact)
        e[j] = exp_for(proto, z, dz)


@njit(**JIT)
def _fill(proto, xv, n, m, T, e):
    """``e[:n] = exp((xv[:n] - m) / T)``; exactly 1 at the maxima."""
    if T == 1.0:
        _fill1(proto, xv, n, m, e)
    else:
        _fillT(proto, xv, n, m, T, e)


@njit(**JIT)
def _fill_across1(proto, xt, mref, e):
    exact = is64(proto)
    for j in range(xt.shape[0]):
        for b in range(xt.shape[1]):
            z, dz = _shift1(xt[j, b], mref[b], exact)
            e[j, b] = exp_for(proto, z, dz)


@njit(**JIT)
def _fill_acrossT(proto, xt, mref, T, e):
    exact = is64(proto)
    for j in range(xt.shape[0]):
        for b in range(xt.shape[1]):
            z, dz = _shiftT(xt[j, b], mref[b], T, exact)
            e[j, b] = exp_for(proto, z, dz)


@njit(**JIT)
def _stats_of(proto, src, n, T, e):
    """``(m, s, c)`` of the row segment ``src[:n]`` (x's own row, or its masked copy)."""
    m = row_max(src, n)
    # Where m is not finite the row is special; exp(v - 0) still carries a NaN.
    mref = m if (m > -np.inf and m < np.inf) else 0.0
    _fill(proto, src, n, mref, T, e)
    s, c = rest_sum(e, n)
    return m, s, c


@njit(**JIT)
def _stats(x, mask, has_mask, i, j0, j1, T, xv, e):
    """``(m, s, c)`` of a segment: max, sum of the other exps, count of the maxima.

    Unmasked rows are read in place (a view of ``x``, converted element by
    element); only masked rows are copied into ``xv`` with ``-inf`` filled in.
    """
    if has_mask:
        _load(x, mask, has_mask, i, j0, j1, xv)
        return _stats_of(x[i, j0], xv, j1 - j0, T, e)
    return _stats_of(x[i, j0], x[i, j0:j1], j1 - j0, T, e)


@njit(**JIT)
def _aux(g, mode, i, j0, j1, d, xv, e, w):
    """The row reduction of the derivative modes over one segment (0 for the others)."""
    n = j1 - j0
    uses_g = mode == SM_PROD or mode == LSM_VJP or mode == LSM_JVP or mode == LSE_JVP
    gr = g[i, j0:j1] if uses_g else g[0, 0:0]  # g is a (1, 1) dummy otherwise
    if mode == SM_PROD or mode == LSM_JVP:
        # <p, t> over the live entries (p is 0 elsewhere; t may be inf there).
        for j in range(n):
            w[j] = (e[j] / d) * gr[j] if xv[j] > -np.inf else 0.0
    elif mode == LSM_VJP:
        for j in range(n):
            w[j] = gr[j] if xv[j] > -np.inf else 0.0
    elif mode == LSE_JVP:
        for j in range(n):
            p = e[j] / d
            w[j] = 0.0 if p == 0.0 else p * gr[j]
    else:
        return 0.0
    return row_sum(w, n)


@njit(**JIT)
def _write(proto, g, grow, mode, i, j0, j1, m, d, L, aux, T, xv, e, out):
    """The write pass of one segment, one branch-free loop per mode."""
    n = j1 - j0
    exact = is64(proto)
    orow = out[i, j0:j1]
    gr = g[i, j0:j1] if (mode == SM_PROD or mode == LSM_VJP or mode == LSM_JVP) else g[0, 0:0]
    rd = 1.0 / d
    if mode == SOFTMAX:
        for j in range(n):
            orow[j] = _over(e[j], d, rd, exact)
    elif mode == LOG_SOFTMAX and T == 1.0:
        for j in range(n):
            z, dz = _shift1(xv[j], m, exact)
            orow[j] = (z + dz) - L
    elif mode == LOG_SOFTMAX:
        for j in range(n):
            z, dz = _shiftT(xv[j], m, T, exact)
            orow[j] = (z + dz) - L
    elif mode == SM_PROD:
        for j in range(n):
            p = _over(e[j], d, rd, exact)
            orow[j] = p * (gr[j] - aux) / T if xv[j] > -np.inf else 0.0
    elif mode == LSM_VJP:
        for j in range(n):
            p = _over(e[j], d, rd, exact)
            orow[j] = (gr[j] - p * aux) / T if xv[j] > -np.inf else 0.0
    elif mode == LSM_JVP:
        for j in range(n):
            orow[j] = (gr[j] - aux) / T if xv[j] > -np.inf else 0.0
    elif mode == LSE_VJP:
        gi = grow[i]
        for j in range(n):
            p = _over(e[j], d, rd, exact)
            orow[j] = 0.0 if p == 0.0 else gi * p


@njit(**JIT)
def _row(proto, src, g, grow, mode, T, out, rowout, special, i, n, e, w):
    """Row ``i`` (``src``: its entries, masked ones ``-inf``), every pass in cache."""
    m, s, c = _stats_of(proto, src, n, T, e)
    if not (m > -np.inf and m < np.inf) or s != s:
        special[i] = 1
        return
    rest = s + (c - 1)
    d = 1.0 + rest
    L = math.log1p(rest)
    if mode == LSE:
        rowout[i] = m + L
        return
    aux = _aux(g, mode, i, 0, n, d, src, e, w)
    if mode == LSE_JVP:
        rowout[i] = aux
        return
    _write(proto, g, grow, mode, i, 0, n, m, d, L, aux, T, src, e, out)


@njit(**JIT)
def _row_range(x, mask, has_mask, g, grow, mode, T, out, rowout, special, r0, r1):
    """Rows ``r0:r1``, one at a time; unmasked rows are read in place (see _stats)."""
    n = x.shape[1]
    xv = np.empty(n)
    e = np.empty(n)
    w = np.empty(n)
    for i in range(r0, r1):
        if has_mask:
            _load(x, mask, has_mask, i, 0, n, xv)
            _row(x[i, 0], xv, g, grow, mode, T, out, rowout, special, i, n, e, w)
        else:
            _row(x[i, 0], x[i], g, grow, mode, T, out, rowout, special, i, n, e, w)


@njit(**JIT)
def _chunk_stats(x, mask, has_mask, T, M, S, C, t0, t1):
    nc = M.shape[1]
    xv = np.empty(CHUNK)
    e = np.empty(CHUNK)
    for t in range(t0, t1):
        i, c = t // nc, t % nc
        M[i, c], S[i, c], C[i, c] = _stats(x, mask, has_mask, i, c * CHUNK,
                                           min(x.shape[1], (c + 1) * CHUNK), T, xv, e)


@njit(**JIT)
def _combine(x, T, M, S, C, m_row, d_row, L_row, special):
    """Per row: the max and ``rest`` from the chunks' ``(M_c, S_c, C_c)``."""
    rows, nc = M.shape
    proto = x[0, 0]
    exact = is64(proto)
    for i in range(rows):
        m = -np.inf
        bad = False
        for c in range(nc):
            m = M[i, c] if M[i, c] > m else m
            bad = bad or S[i, c] != S[i, c] or M[i, c] != M[i, c]
        if bad or not (m > -np.inf and m < np.inf):
            special[i] = 1
            m = 0.0
        # rest = sum_c (C_c + S_c) e^{(M_c - m)/T} - 1, the -1 from a chunk holding m.
        rest = 0.0
        first = True
        for c in range(nc):
            cnt = C[i, c]
            if M[i, c] == m and first:
                cnt -= 1
                first = False
            z, dz = _shiftT(M[i, c], m, T, exact)
            f = 1.0 if M[i, c] == m else exp_for(proto, z, dz)
            rest += (cnt + S[i, c]) * f
        m_row[i] = m
        d_row[i] = 1.0 + rest
        L_row[i] = math.log1p(rest) if rest > -1.0 else 0.0


@njit(**JIT)
def _chunk_body(proto, src, g, grow, mode, T, m, d, L, aux, out, write, i, j0, j1, e, w):
    # The exps only where this pass reads them: log_softmax's write (and its
    # jvp's) needs x - m and the row's log-sum alone, log_softmax.vjp's aux g alone.
    if write:
        needs_e = mode == SOFTMAX or mode == SM_PROD or mode == LSM_VJP or mode == LSE_VJP
    else:
        needs_e = mode == SM_PROD or mode == LSM_JVP or mode == LSE_JVP
    if needs_e:
        _fill(proto, src, j1 - j0, m, T, e)
    if write:
        _write(proto, g, grow, mode, i, j0, j1, m, d, L, aux, T, src, e, out)
        return 0.0
    return _aux(g, mode, i, j0, j1, d, src, e, w)


@njit(**JIT)
def _chunk_pass(x, mask, has_mask, g, grow, mode, T, m_row, d_row, L_row, aux_row,
                special, A, out, write, t0, t1):
    """Chunks ``t0:t1`` with the rows' m and d known: the aux reduction, or the write."""
    nc = A.shape[1]
    xv = np.empty(CHUNK)
    e = np.empty(CHUNK)
    w = np.empty(CHUNK)
    for t in range(t0, t1):
        i, c = t // nc, t % nc
        if special[i]:
            continue
        j0, j1 = c * CHUNK, min(x.shape[1], (c + 1) * CHUNK)
        args = (g, grow, mode, T, m_row[i], d_row[i], L_row[i], aux_row[i], out, write,
                i, j0, j1, e, w)
        if has_mask:
            _load(x, mask, has_mask, i, j0, j1, xv)
            a = _chunk_body(x[i, j0], xv, *args)
        else:
            a = _chunk_body(x[i, j0], x[i, j0:j1], *args)
        if not write:
            A[i, c] = a


@njit(**JIT)
def _small_blocks(x, mask, has_mask, g, grow, mode, T, out, rowout, special, t0, t1):
    for t in range(t0, t1):
        _small_block(x, mask, has_mask, g, grow, mode, T, out, rowout, special, t * _BLOCK)


@njit(**JIT)
def _small_block(x, mask, has_mask, g, grow, mode, T, out, rowout, special, r0):
    """Rows ``r0:r0 + _BLOCK`` of at most SMALL entries: each loop runs across the rows.

    The block is transposed once into ``xt[j, b]`` (masked entries ``-inf``),
    so that every later loop reads contiguous memory across the rows ``b``.
    """
    rows, n = x.shape
    proto = x[0, 0]
    exact = is64(proto)
    B = min(rows, r0 + _BLOCK) - r0
    # Views of the block's rows, indexed from 0 (see _load).
    r1 = r0 + B
    x, out, rowout, special = x[r0:r1], out[r0:r1], rowout[r0:r1], special[r0:r1]
    mask = mask[r0:r1] if has_mask else mask
    g = g[r0:r1] if (mode == SM_PROD or mode == LSM_VJP or mode == LSM_JVP
                     or mode == LSE_JVP) else g
    grow = grow[r0:r1] if mode == LSE_VJP else grow
    xt = np.empty((n, B))
    if has_mask:
        for j in range(n):
            for b in range(B):
                xt[j, b] = np.float64(x[b, j]) if mask[b, j] else -np.inf
    else:
        for j in range(n):
            for b in range(B):
                xt[j, b] = x[b, j]
    m = np.full(B, -np.inf)
    for j in range(n):
        for b in range(B):
            v = xt[j, b]
            m[b] = v if v > m[b] else m[b]
    mref = np.empty(B)
    for b in range(B):
        mref[b] = m[b] if (m[b] > -np.inf and m[b] < np.inf) else 0.0
    e = np.empty((n, B))
    if T == 1.0:
        _fill_across1(proto, xt, mref, e)
    else:
        _fill_acrossT(proto, xt, mref, T, e)
    # The sum excluding the maxima, exact in its integer heads as in rest_sum
    # (a plain running sum of 7 terms put a softmax 2.6 ULP off, 1.1x its target).
    _, ex = math.frexp(float(n + 1))
    scale = math.ldexp(1.0, 52 - ex)
    inv = 1.0 / scale
    heads = np.zeros(B, dtype=np.int64)
    tails = np.zeros(B)
    c = np.zeros(B)
    for j in range(n):
        for b in range(B):
            ej = e[j, b]
            w = ej if ej != 1.0 else 0.0
            q = np.int64(w * scale) if w == w else np.int64(0)
            heads[b] += q
            tails[b] += w - q * inv
            c[b] += 1.0 if ej == 1.0 else 0.0
    s = np.empty(B)
    d = np.empty(B)
    for b in range(B):
        s[b] = heads[b] * inv + tails[b]
        d[b] = 1.0 + (s[b] + (c[b] - 1.0))
        if not (m[b] > -np.inf and m[b] < np.inf) or s[b] != s[b]:
            special[b] = 1
    L = np.empty(B)
    if mode == LSE or mode == LOG_SOFTMAX:
        for b in range(B):
            L[b] = log1p64(s[b] + (c[b] - 1.0))
    if mode == LSE:
        for b in range(B):
            rowout[b] = m[b] + L[b]
        return
    aux = np.zeros(B)
    if mode == SM_PROD or mode == LSM_JVP:
        for j in range(n):
            for b in range(B):
                aux[b] += (e[j, b] / d[b]) * g[b, j] if xt[j, b] > -np.inf else 0.0
    elif mode == LSM_VJP:
        for j in range(n):
            for b in range(B):
                aux[b] += g[b, j] if xt[j, b] > -np.inf else 0.0
    elif mode == LSE_JVP:
        for j in range(n):
            for b in range(B):
                p = e[j, b] / d[b]
                aux[b] += 0.0 if p == 0.0 else p * g[b, j]
        for b in range(B):
            rowout[b] = aux[b]
        return
    rd = 1.0 / d
    if mode == SOFTMAX:
        for j in range(n):
            for b in range(B):
                out[b, j] = _over(e[j, b], d[b], rd[b], exact)
    elif mode == LOG_SOFTMAX and T == 1.0:
        for j in range(n):
            for b in range(B):
                z, dz = _shift1(xt[j, b], mref[b], exact)
                out[b, j] = (z + dz) - L[b]
    elif mode == LOG_SOFTMAX:
        for j in range(n):
            for b in range(B):
                z, dz = _shiftT(xt[j, b], mref[b], T, exact)
                out[b, j] = (z + dz) - L[b]
    elif mode == SM_PROD:
        for j in range(n):
            for b in range(B):
                p = e[j, b] / d[b]
                live = xt[j, b] > -np.inf
                out[b, j] = p * (g[b, j] - aux[b]) / T if live else 0.0
    elif mode == LSM_VJP:
        for j in range(n):
            for b in range(B):
                p = e[j, b] / d[b]
                live = xt[j, b] > -np.inf
                out[b, j] = (g[b, j] - p * aux[b]) / T if live else 0.0
    elif mode == LSM_JVP:
        for j in range(n):
            for b in range(B):
                live = xt[j, b] > -np.inf
                out[b, j] = (g[b, j] - aux[b]) / T if live else 0.0
    elif mode == LSE_VJP:
        for j in range(n):
            for b in range(B):
                p = e[j, b] / d[b]
                out[b, j] = 0.0 if p == 0.0 else grow[b] * p


def family(x, mask, g, grow, mode, T, out, rowout, special, threads=1):
    """Run ``mode`` on the ``(rows, n)`` array ``x`` (``rows, n >= 1``).

    ``mask`` (bool, same shape) or None; ``g`` the cotangent (same shape and
    dtype as ``x``) or None; ``grow`` a float64 ``(rows,)`` row cotangent
    (logsumexp.vjp) or None; ``out`` the ``(rows, n)`` result of ``x``'s dtype
    or None; ``rowout`` a float64 ``(rows,)`` result (logsumexp and its jvp).
    ``special`` (uint8, zeros) is set to 1 on the rows left to the plain path.
    ``threads``: the number of threads to run on.
    """
    dummy = np.zeros((1, 1), dtype=x.dtype)
    has_mask = mask is not None
    mask = mask if has_mask else np.ones((1, 1), dtype=np.bool_)
    g = dummy if g is None else g
    grow = np.zeros(1) if grow is None else grow
    out = dummy if out is None else out
    rowout = np.zeros(1) if rowout is None else rowout
    rows, n = x.shape
    T = float(T)
    args = (x, mask, has_mask, g, grow, mode, T, out, rowout, special)
    if n <= SMALL:
        _pool.run(_small_blocks, args, (rows + _BLOCK - 1) // _BLOCK, threads)
    elif n <= CHUNK:
        _pool.run(_row_range, args, rows, threads)
    else:
        _chunked(x, mask, has_mask, g, grow, mode, T, out, rowout, special, threads)


def _chunked(x, mask, has_mask, g, grow, mode, T, out, rowout, special, threads):
    """Rows longer than CHUNK: chunks are the tasks of three passes."""
    rows, n = x.shape
    nc = (n + CHUNK - 1) // CHUNK
    M = np.empty((rows, nc))
    S = np.empty((rows, nc))
    C = np.empty((rows, nc), dtype=np.int64)
    _pool.run(_chunk_stats, (x, mask, has_mask, T, M, S, C), rows * nc, threads)
    m_row, d_row, L_row = np.empty(rows), np.empty(rows), np.empty(rows)
    _combine(x, T, M, S, C, m_row, d_row, L_row, special)
    if mode == LSE:
        rowout[:] = m_row + L_row
        return
    aux_row = np.zeros(rows)
    A = np.zeros((rows, nc))
    if mode in (SM_PROD, LSM_VJP, LSM_JVP, LSE_JVP):
        _pool.run(_chunk_pass, (x, mask, has_mask, g, grow, mode, T, m_row, d_row, L_row,
                                aux_row, special, A, out, False), rows * nc, threads)
        # Summed chunk by chunk in order, whatever the number of threads.
        for c in range(nc):
            aux_row += A[:, c]
    if mode == LSE_JVP:
        rowout[:] = aux_row
        return
    _pool.run(_chunk_pass, (x, mask, has_mask, g, grow, mode, T, m_row, d_row, L_row,
                            aux_row, special, A, out, True), rows * nc, threads)
