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
def _load(x, mask, has_mask, i, j):
    v = np.float64(x[i, j])
    if has_mask:
        v = v if mask[i, j] else -np.inf
    return v


@njit(inline="always", **JIT)
def _shifted(v, m, T, exact):
    """``(z, dz)`` with ``(v - m) / T = z + dz``, as :func:`sigmax._softmax._shift`."""
    z = v - m
    dz = 0.0
    if exact:
        # TwoSum (Knuth): v + (-m) = z + dz exactly; dz is 0 where z is -inf.
        bp = z - v
        ap = z - bp
        dz = (v - ap) + (-m - bp)
        dz = dz if z > -np.inf else 0.0
    if T != 1.0:
        # Scale after the shift; where v - m overflowed, a T > 1 scales each side.
        zt = z / T
        if T > 1.0:
            zt = (v / T - m / T) if (z == -np.inf and v > -np.inf) else zt
        z = zt
        dz = dz / T
    return z, dz


@njit(**JIT)
def _fill(x, mask, has_mask, i, j0, j1, m, T, e):
    """``e[:j1 - j0] = exp((x[i, j0:j1] - m) / T)``; exactly 1 at the maxima."""
    proto = x[i, j0]
    exact = is64(proto)
    for j in range(j0, j1):
        z, dz = _shifted(_load(x, mask, has_mask, i, j), m, T, exact)
        e[j - j0] = exp_for(proto, z, dz)


@njit(**JIT)
def _stats(x, mask, has_mask, i, j0, j1, T, e):
    """``(m, s, c)`` of a segment: max, sum of the other exps, count of the maxima."""
    m = row_max(x, mask, has_mask, i, j0, j1)
    # Where m is not finite the row is special; exp(v - 0) still carries a NaN.
    mref = m if (m > -np.inf and m < np.inf) else 0.0
    _fill(x, mask, has_mask, i, j0, j1, mref, T, e)
    s, c = rest_sum(e, j1 - j0)
    return m, s, c


@njit(**JIT)
def _aux(x, mask, has_mask, g, mode, i, j0, j1, d, e, w):
    """The row reduction of the derivative modes over one segment."""
    n = j1 - j0
    if mode == SM_PROD or mode == LSM_JVP:
        # <p, t> over the live entries (p is 0 elsewhere; t may be inf there).
        for j in range(j0, j1):
            live = _load(x, mask, has_mask, i, j) > -np.inf
            w[j - j0] = (e[j - j0] / d) * g[i, j] if live else 0.0
    elif mode == LSM_VJP:
        for j in range(j0, j1):
            live = _load(x, mask, has_mask, i, j) > -np.inf
            w[j - j0] = g[i, j] if live else 0.0
    elif mode == LSE_JVP:
        for j in range(j0, j1):
            p = e[j - j0] / d
            w[j - j0] = 0.0 if p == 0.0 else p * g[i, j]
    else:
        return 0.0
    return row_sum(w, n)


@njit(**JIT)
def _write(x, mask, has_mask, g, grow, mode, i, j0, j1, m, d, L, aux, T, e, out):
    """The write pass of one segment, one loop per mode (no branch inside)."""
    exact = is64(x[i, j0])
    if mode == SOFTMAX:
        for j in range(j0, j1):
            out[i, j] = e[j - j0] / d
    elif mode == LOG_SOFTMAX:
        for j in range(j0, j1):
            z, dz = _shifted(_load(x, mask, has_mask, i, j), m, T, exact)
            out[i, j] = (z + dz) - L
    elif mode == SM_PROD:
        for j in range(j0, j1):
            live = _load(x, mask, has_mask, i, j) > -np.inf
            p = e[j - j0] / d
            out[i, j] = p * (g[i, j] - aux) / T if live else 0.0
    elif mode == LSM_VJP:
        for j in range(j0, j1):
            live = _load(x, mask, has_mask, i, j) > -np.inf
            p = e[j - j0] / d
            out[i, j] = (g[i, j] - p * aux) / T if live else 0.0
    elif mode == LSM_JVP:
        for j in range(j0, j1):
            live = _load(x, mask, has_mask, i, j) > -np.inf
            out[i, j] = (g[i, j] - aux) / T if live else 0.0
    elif mode == LSE_VJP:
        gi = grow[i]
        for j in range(j0, j1):
            p = e[j - j0] / d
            out[i, j] = 0.0 if p == 0.0 else gi * p


@njit(**JIT)
def _finish_row(x, mask, has_mask, g, grow, mode, T, i, n, m, s, c, e, w,
                out, rowout, special):
    """Everything after the statistics of a row held in ``e`` (the one-task path)."""
    if not (m > -np.inf and m < np.inf) or s != s:
        special[i] = 1
        return
    rest = s + (c - 1)
    d = 1.0 + rest
    L = math.log1p(rest)
    if mode == LSE:
        rowout[i] = m + L
        return
    aux = _aux(x, mask, has_mask, g, mode, i, 0, n, d, e, w)
    if mode == LSE_JVP:
        rowout[i] = aux
        return
    _write(x, mask, has_mask, g, grow, mode, i, 0, n, m, d, L, aux, T, e, out)


@njit(**JIT)
def _row_range(x, mask, has_mask, g, grow, mode, T, out, rowout, special, r0, r1):
    n = x.shape[1]
    e = np.empty(n)
    w = np.empty(n)
    for i in range(r0, r1):
        m, s, c = _stats(x, mask, has_mask, i, 0, n, T, e)
        _finish_row(x, mask, has_mask, g, grow, mode, T, i, n, m, s, c, e, w,
                    out, rowout, special)


@njit(**JIT)
def _chunk_stats(x, mask, has_mask, T, M, S, C, t0, t1):
    nc = M.shape[1]
    e = np.empty(CHUNK)
    for t in range(t0, t1):
        i, c = t // nc, t % nc
        M[i, c], S[i, c], C[i, c] = _stats(x, mask, has_mask, i, c * CHUNK,
                                           min(x.shape[1], (c + 1) * CHUNK), T, e)


@njit(**JIT)
def _combine(x, T, M, S, C, m_row, d_row, L_row, special):
    """Per row: the max and ``rest`` from the chunks' ``(M_c, S_c, C_c)``."""
    rows, nc = M.shape
    exact = is64(x[0, 0])
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
            z, dz = _shifted(M[i, c], m, T, exact)
            f = 1.0 if M[i, c] == m else exp_for(x[0, 0], z, dz)
            rest += (cnt + S[i, c]) * f
        m_row[i] = m
        d_row[i] = 1.0 + rest
        L_row[i] = math.log1p(rest) if rest > -1.0 else 0.0


@njit(**JIT)
def _chunk_aux(x, mask, has_mask, g, mode, T, m_row, d_row, special, A, t0, t1):
    nc = A.shape[1]
    e = np.empty(CHUNK)
    w = np.empty(CHUNK)
    for t in range(t0, t1):
        i, c = t // nc, t % nc
        if not special[i]:
            j0, j1 = c * CHUNK, min(x.shape[1], (c + 1) * CHUNK)
            _fill(x, mask, has_mask, i, j0, j1, m_row[i], T, e)
            A[i, c] = _aux(x, mask, has_mask, g, mode, i, j0, j1, d_row[i], e, w)


@njit(**JIT)
def _chunk_write(x, mask, has_mask, g, grow, mode, T, m_row, d_row, L_row, aux_row,
                 special, out, nc, t0, t1):
    e = np.empty(CHUNK)
    for t in range(t0, t1):
        i, c = t // nc, t % nc
        if not special[i]:
            j0, j1 = c * CHUNK, min(x.shape[1], (c + 1) * CHUNK)
            _fill(x, mask, has_mask, i, j0, j1, m_row[i], T, e)
            _write(x, mask, has_mask, g, grow, mode, i, j0, j1, m_row[i], d_row[i],
                   L_row[i], aux_row[i], T, e, out)


@njit(**JIT)
def _small_blocks(x, mask, has_mask, g, grow, mode, T, out, rowout, special, t0, t1):
    for t in range(t0, t1):
        _small_block(x, mask, has_mask, g, grow, mode, T, out, rowout, special, t * _BLOCK)


@njit(**JIT)
def _small_block(x, mask, has_mask, g, grow, mode, T, out, rowout, special, r0):
    """Rows ``r0:r0 + _BLOCK`` of at most SMALL entries: each loop runs across the rows."""
    rows, n = x.shape
    proto = x[0, 0]
    exact = is64(proto)
    B = min(rows, r0 + _BLOCK) - r0
    m = np.full(B, -np.inf)
    e = np.empty((n, B))
    for j in range(n):
        for b in range(B):
            v = _load(x, mask, has_mask, r0 + b, j)
            m[b] = v if v > m[b] else m[b]
    mref = np.empty(B)
    for b in range(B):
        mref[b] = m[b] if (m[b] > -np.inf and m[b] < np.inf) else 0.0
    s = np.zeros(B)
    c = np.zeros(B, dtype=np.int64)
    for j in range(n):
        for b in range(B):
            z, dz = _shifted(_load(x, mask, has_mask, r0 + b, j), mref[b], T, exact)
            ej = exp_for(proto, z, dz)
            e[j, b] = ej
            s[b] += ej if ej != 1.0 else 0.0
            c[b] += ej == 1.0
    d = np.empty(B)
    L = np.empty(B)
    for b in range(B):
        if not (m[b] > -np.inf and m[b] < np.inf) or s[b] != s[b]:
            special[r0 + b] = 1
        rest = s[b] + (c[b] - 1)
        d[b] = 1.0 + rest
        L[b] = math.log1p(rest) if rest > -1.0 else 0.0
    if mode == LSE:
        for b in range(B):
            rowout[r0 + b] = m[b] + L[b]
        return
    aux = np.zeros(B)
    if mode == SM_PROD or mode == LSM_JVP:
        for j in range(n):
            for b in range(B):
                live = _load(x, mask, has_mask, r0 + b, j) > -np.inf
                aux[b] += (e[j, b] / d[b]) * g[r0 + b, j] if live else 0.0
    elif mode == LSM_VJP:
        for j in range(n):
            for b in range(B):
                live = _load(x, mask, has_mask, r0 + b, j) > -np.inf
                aux[b] += g[r0 + b, j] if live else 0.0
    elif mode == LSE_JVP:
        for j in range(n):
            for b in range(B):
                p = e[j, b] / d[b]
                aux[b] += 0.0 if p == 0.0 else p * g[r0 + b, j]
        for b in range(B):
            rowout[r0 + b] = aux[b]
        return
    if mode == SOFTMAX:
        for j in range(n):
            for b in range(B):
                out[r0 + b, j] = e[j, b] / d[b]
    elif mode == LOG_SOFTMAX:
        for j in range(n):
            for b in range(B):
                z, dz = _shifted(_load(x, mask, has_mask, r0 + b, j), mref[b], T, exact)
                out[r0 + b, j] = (z + dz) - L[b]
    elif mode == SM_PROD:
        for j in range(n):
            for b in range(B):
                live = _load(x, mask, has_mask, r0 + b, j) > -np.inf
                p = e[j, b] / d[b]
                out[r0 + b, j] = p * (g[r0 + b, j] - aux[b]) / T if live else 0.0
    elif mode == LSM_VJP:
        for j in range(n):
            for b in range(B):
                live = _load(x, mask, has_mask, r0 + b, j) > -np.inf
                p = e[j, b] / d[b]
                out[r0 + b, j] = (g[r0 + b, j] - p * aux[b]) / T if live else 0.0
    elif mode == LSM_JVP:
        for j in range(n):
            for b in range(B):
                live = _load(x, mask, has_mask, r0 + b, j) > -np.inf
                out[r0 + b, j] = (g[r0 + b, j] - aux[b]) / T if live else 0.0
    elif mode == LSE_VJP:
        for j in range(n):
            for b in range(B):
                p = e[j, b] / d[b]
                out[r0 + b, j] = 0.0 if p == 0.0 else grow[r0 + b] * p


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
    if mode in (SM_PROD, LSM_VJP, LSM_JVP, LSE_JVP):
        A = np.zeros((rows, nc))
        _pool.run(_chunk_aux, (x, mask, has_mask, g, mode, T, m_row, d_row, special, A),
                  rows * nc, threads)
        # Summed chunk by chunk in order, whatever the number of threads.
        for c in range(nc):
            aux_row += A[:, c]
    if mode == LSE_JVP:
        rowout[:] = aux_row
        return
    _pool.run(_chunk_write, (x, mask, has_mask, g, grow, mode, T, m_row, d_row, L_row,
                             aux_row, special, out, nc), rows * nc, threads)
