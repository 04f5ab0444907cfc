"""Triton kernels for softmax, log_softmax and logsumexp over the last axis, and their products.

Layout: the launchers take a contiguous 2-D float tensor ``(rows, n)`` (the
dispatch moves the reduced axis last); one program handles one row.

Design decisions
----------------
* **One read for rows that fit in registers.**  For ``n <= MAX_SINGLE`` the row
  is loaded once into registers, reduced with :func:`._rows.block_stats` and
  normalised from the registers: one read and one write of the row, the
  minimum traffic (what a device copy of the same bytes costs).  ``MAX_SINGLE``
  is 32768 elements with 32 warps.  ``ptxas -v`` for sm_90a
  (``python tests/triton_compile_sm90.py``): blocks up to 16384 with
  ``BLOCK / 1024`` warps use at most 128 registers and spill nothing; 32768
  with 32 warps spills 92 bytes a thread in the forward, 240 in the product
  and 516 in cross_entropy (local memory, cached in L1), 65536 spills 2-7 KB
  a thread, which is why rows beyond 32768 take the loop.  Whether 32768 is
  better in registers with those spills or in the two-read loop is for the GPU
  benchmark to settle.
* **Longer rows** (e.g. ``2**20`` classes) stream through the row in
  ``LOOP_BLOCK`` chunks with the online max / sum-exp merge of :mod:`._rows`.
  When there are fewer rows than :data:`TARGET_PROGRAMS` (the 256 rows of
  ``(256, 2**20)`` would leave most of an H100's 132 SMs idle), each row is
  split over ``S`` programs: pass 1 writes one partial state per span,
  :func:`merge_partials` merges them exactly (``4 * rows * S`` floats), and
  pass 2 normalises the spans.  ``logsumexp`` reads the input once (pass 1
  only); softmax and log_softmax read it twice, since a row of 4 MiB does not
  fit in one SM's 228 KiB of SRAM, which bounds them at 1.5 x the copy time
  on such rows (the issue's target is 1.2 x).  What would remove the second
  read: a cluster of CTAs holding the row in distributed shared memory (16
  CTAs x 228 KiB holds a bf16 row of 2**20), not expressible in Triton 3.9.
* **Accumulation in float32** for every input dtype (float32, float16,
  bfloat16); the result is stored in the input's dtype.  float64 tensors are
  not sent here (the dispatch returns NotImplemented and the generic path,
  which keeps float64, computes them).
* **Policy (SPEC section 4)**: all ``-inf`` rows give softmax 0, log_softmax and
  logsumexp ``-inf`` and zero products; ``+inf`` entries share the mass; a NaN
  makes the row NaN; ``exp`` is only evaluated on ``x - m <= 0`` (no overflow)
  and never on ``-inf - (-inf)``.
* **Products** (vjp / jvp, and autograd's backward) are computed from the
  saved output ``y`` and the per-row logsumexp: softmax ``y * (g - <g, y>)``,
  log_softmax vjp ``g - exp(y) * sum(g)`` and jvp ``v - <exp(y), v>``.  Rows
  whose logsumexp is infinite (dead or ``+inf`` rows) get zeros, as on the
  NumPy path.
* Block sizes come from :func:`launch_params` (a rule, not autotuning: the
  choice is the row length's power of two, and autotuning the interpreter
  would run every configuration).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import triton
import triton.language as tl

from ._rows import block_stats, finish_lse, log1p, merge

__all__ = ["MAX_SINGLE", "LOOP_BLOCK", "TARGET_PROGRAMS", "launch_params", "forward", "product",
           "split_state", "merge_partials"]

MAX_SINGLE = 32768
LOOP_BLOCK = 8192
TARGET_PROGRAMS = 1024      # split long rows over programs until about this many run

SOFTMAX, LOG_SOFTMAX, LSE = 0, 1, 2          # forward modes
VJP_SOFTMAX, VJP_LOG, JVP_LOG = 0, 1, 2      # product modes (softmax's jvp is its vjp)


@triton.jit
def _normalise(x, m, s, k, q, LOG: tl.constexpr):
    m_safe = tl.where(m > float("-inf"), m, 0.0)
    kf = k.to(tl.float32)
    if LOG:
        y = (x - m_safe) - log1p(s)
        y = tl.where(k > 0, tl.where(x == float("inf"), -tl.log(kf), float("-inf")), y)
    else:
        y = tl.exp(x - m_safe) / (1.0 + s)
        y = tl.where(k > 0, tl.where(x == float("inf"), 1.0 / kf, 0.0), y)
    return tl.where(q > 0, float("nan"), y)


@triton.jit
def _forward_kernel(x_ptr, y_ptr, lse_ptr, n, stride_x, stride_y,
                    MODE: tl.constexpr, BLOCK: tl.constexpr, SINGLE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_x
    y_row = y_ptr + row * stride_y
    offs = tl.arange(0, BLOCK)
    if SINGLE:
        mask = offs < n
        x = tl.load(x_row + offs, mask=mask, other=float("-inf")).to(tl.float32)
        m, s, k, q = block_stats(x)
        tl.store(lse_ptr + row, finish_lse(m, s, k, q))
        if MODE != 2:
            tl.store(y_row + offs, _normalise(x, m, s, k, q, MODE == 1), mask=mask)
    else:
        m = float("-inf")
        s = 0.0
        k = 0
        q = 0
        for start in range(0, n, BLOCK):
            mask = start + offs < n
            xb = tl.load(x_row + start + offs, mask=mask, other=float("-inf")).to(tl.float32)
            bm, bs, bk, bq = block_stats(xb)
            m, s = merge(m, s, bm, bs)
            k += bk
            q += bq
        tl.store(lse_ptr + row, finish_lse(m, s, k, q))
        if MODE != 2:
            for start in range(0, n, BLOCK):
                mask = start + offs < n
                xb = tl.load(x_row + start + offs, mask=mask,
                             other=float("-inf")).to(tl.float32)
                tl.store(y_row + start + offs, _normalise(xb, m, s, k, q, MODE == 1),
                         mask=mask)


@triton.jit
def _partial_kernel(x_ptr, state_ptr, n, stride_x, span, rows, S,
                    BLOCK: tl.constexpr):
    """Split rows, pass 1: the state ``(m, s, k, q)`` of one span of one row."""
    row = tl.program_id(0).to(tl.int64)
    split = tl.program_id(1)
    x_row = x_ptr + row * stride_x
    offs = tl.arange(0, BLOCK)
    lo = split * span
    hi = tl.minimum(lo + span, n)
    m = float("-inf")
    s = 0.0
    k = 0
    q = 0
    for start in range(lo, hi, BLOCK):
        mask = start + offs < hi
        xb = tl.load(x_row + start + offs, mask=mask, other=float("-inf")).to(tl.float32)
        bm, bs, bk, bq = block_stats(xb)
        m, s = merge(m, s, bm, bs)
        k += bk
        q += bq
    at = state_ptr + row * S + split
    plane = rows * S
    tl.store(at, m)
    tl.store(at + plane, s)
    tl.store(at + 2 * plane, k.to(tl.float32))
    tl.store(at + 3 * plane, q.to(tl.float32))


@triton.jit
def _write_kernel(x_ptr, y_ptr, stat_ptr, n, stride_x, stride_y, span, rows,
                  MODE: tl.constexpr, BLOCK: tl.constexpr):
    """Split rows, pass 2: normalise one span of one row from the merged row state."""
    row = tl.program_id(0).to(tl.int64)
    split = tl.program_id(1)
    x_row = x_ptr + row * stride_x
    y_row = y_ptr + row * stride_y
    m = tl.load(stat_ptr + row)
    s = tl.load(stat_ptr + rows + row)
    k = tl.load(stat_ptr + 2 * rows + row).to(tl.int32)
    q = tl.load(stat_ptr + 3 * rows + row).to(tl.int32)
    offs = tl.arange(0, BLOCK)
    lo = split * span
    hi = tl.minimum(lo + span, n)
    for start in range(lo, hi, BLOCK):
        mask = start + offs < hi
        xb = tl.load(x_row + start + offs, mask=mask, other=float("-inf")).to(tl.float32)
        tl.store(y_row + start + offs, _normalise(xb, m, s, k, q, MODE == 1), mask=mask)


def merge_partials(m, s, dim=-1):
    """Merge partial states along ``dim`` (torch): ``(M, S)``, the argmax part's sum kept apart."""
    M = m.max(dim, keepdim=True).values
    live = m > -math.inf
    diff = torch.where(live, m - torch.where(M > -math.inf, M, 0.0), 0.0)
    parts = torch.where(live, (s + 1.0) * torch.exp(diff), 0.0)
    top = torch.zeros_like(live).scatter_(dim, m.argmax(dim, keepdim=True), True)
    return M.squeeze(dim), torch.where(top, s, parts).sum(dim)


def split_state(x, blk, warps):
    """Pass 1 of the split rows: ``(M, S, K, Q, lse, splits, span)`` of every row (float32)."""
    rows, n = x.shape
    nblocks = triton.cdiv(n, blk)
    splits = max(1, min(nblocks, triton.cdiv(TARGET_PROGRAMS, rows)))
    span = triton.cdiv(nblocks, splits) * blk
    splits = triton.cdiv(n, span)
    state = torch.empty((4, rows, splits), dtype=torch.float32, device=x.device)
    with np.errstate(all="ignore"):
        _partial_kernel[(rows, splits)](x, state, n, x.stride(0), span, rows, splits,
                                        BLOCK=blk, num_warps=warps)
    M, S = merge_partials(state[0], state[1])
    K = state[2].sum(-1)
    Q = state[3].sum(-1)
    lse = torch.where(M > -math.inf, M + torch.log1p(S), -math.inf)
    lse = torch.where(K > 0, math.inf, lse)
    lse = torch.where(Q > 0, math.nan, lse)
    return M, S, K, Q, lse, splits, span


def _split_forward(x, y, lse, mode, blk, warps):
    """Rows longer than one block, spread over several programs a row."""
    rows, n = x.shape
    M, S, K, Q, row_lse, splits, span = split_state(x, blk, warps)
    lse.copy_(row_lse)
    if y is not None:
        stat = torch.stack([M, S, K, Q]).contiguous()
        with np.errstate(all="ignore"):
            _write_kernel[(rows, splits)](x, y, stat, n, x.stride(0), y.stride(0), span, rows,
                                          MODE=mode, BLOCK=blk, num_warps=warps)


@triton.jit
def _product_terms(y, t, MODE: tl.constexpr):
    """Per-entry terms of the row sum: ``<t, y>`` (softmax), ``sum t`` or ``<exp y, t>``."""
    if MODE == 0:
        r = tl.where(y != 0.0, t * y, 0.0)
    elif MODE == 1:
        r = tl.where(y > float("-inf"), t, 0.0)
    else:
        r = tl.where(y > float("-inf"), t * tl.exp(y), 0.0)
    return r


@triton.jit
def _product_value(y, t, r, MODE: tl.constexpr):
    if MODE == 0:
        out = y * (t - r)
    elif MODE == 1:
        out = t - tl.exp(y) * r
    else:
        out = t - r
    if MODE != 0:
        out = tl.where(y > float("-inf"), out, 0.0)
    return out


@triton.jit
def _pad(y, mask, MODE: tl.constexpr):
    """Padding of ``y`` beyond the row: 0 for softmax, ``-inf`` for log_softmax."""
    if MODE != 0:
        y = tl.where(mask, y, float("-inf"))
    return y


@triton.jit
def _product_kernel(y_ptr, t_ptr, lse_ptr, out_ptr, n, stride_y, stride_t, stride_o,
                    MODE: tl.constexpr, BLOCK: tl.constexpr, SINGLE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    y_row = y_ptr + row * stride_y
    t_row = t_ptr + row * stride_t
    o_row = out_ptr + row * stride_o
    lse = tl.load(lse_ptr + row)
    live = (lse > float("-inf")) & (lse < float("inf"))
    dead_value = tl.where(lse != lse, float("nan"), 0.0)
    offs = tl.arange(0, BLOCK)
    if SINGLE:
        mask = offs < n
        y = _pad(tl.load(y_row + offs, mask=mask, other=0.0).to(tl.float32), mask, MODE)
        t = tl.load(t_row + offs, mask=mask, other=0.0).to(tl.float32)
        r = tl.sum(_product_terms(y, t, MODE), axis=0)
        out = tl.where(live, _product_value(y, t, r, MODE), dead_value)
        tl.store(o_row + offs, out, mask=mask)
    else:
        r = 0.0
        for start in range(0, n, BLOCK):
            mask = start + offs < n
            y = _pad(tl.load(y_row + start + offs, mask=mask, other=0.0).to(tl.float32),
                     mask, MODE)
            t = tl.load(t_row + start + offs, mask=mask, other=0.0).to(tl.float32)
            r += tl.sum(_product_terms(y, t, MODE), axis=0)
        for start in range(0, n, BLOCK):
            mask = start + offs < n
            y = _pad(tl.load(y_row + start + offs, mask=mask, other=0.0).to(tl.float32),
                     mask, MODE)
            t = tl.load(t_row + start + offs, mask=mask, other=0.0).to(tl.float32)
            out = tl.where(live, _product_value(y, t, r, MODE), dead_value)
            tl.store(o_row + start + offs, out, mask=mask)


def launch_params(n: int, block: int | None = None):
    """``(BLOCK, SINGLE, num_warps)`` for rows of ``n`` elements (``block`` forces the loop)."""
    if block is not None:
        b = triton.next_power_of_2(block)
        return b, n <= b, 4
    if n <= MAX_SINGLE:
        b = max(16, triton.next_power_of_2(n))
        warps = (1 if b <= 256 else 4 if b <= 2048 else 8 if b <= 8192 else
                 16 if b <= 16384 else 32)
        return b, True, warps
    return LOOP_BLOCK, False, 8


def forward(x: torch.Tensor, mode: int, *, out_dtype=None, block: int | None = None):
    """Run the forward kernel on ``x`` ``(rows, n)``: ``(y or None, lse float32)``."""
    rows, n = x.shape
    x = x.contiguous()
    lse = torch.empty(rows, dtype=torch.float32, device=x.device)
    y = None if mode == LSE else torch.empty((rows, n), dtype=out_dtype or x.dtype,
                                             device=x.device)
    if rows == 0:
        return y, lse
    blk, single, warps = launch_params(n, block)
    if not single and rows < TARGET_PROGRAMS:
        _split_forward(x, y, lse, mode, blk, warps)
        return y, lse
    y_arg = lse if y is None else y
    with np.errstate(all="ignore"):  # the interpreter computes in NumPy
        _forward_kernel[(rows,)](x, y_arg, lse, n, x.stride(0),
                                 0 if y is None else y.stride(0), MODE=mode, BLOCK=blk,
                                 SINGLE=single, num_warps=warps)
    return y, lse


def product(y: torch.Tensor, t: torch.Tensor, lse: torch.Tensor, mode: int, *,
            out_dtype=None, block: int | None = None):
    """Run the product kernel: ``y`` the forward output, ``t`` the cotangent or tangent."""
    rows, n = y.shape
    y = y.contiguous()
    t = t.contiguous()
    out = torch.empty((rows, n), dtype=out_dtype or y.dtype, device=y.device)
    if rows == 0:
        return out
    blk, single, warps = launch_params(n, block)
    with np.errstate(all="ignore"):
        _product_kernel[(rows,)](y, t, lse, out, n, y.stride(0), t.stride(0), out.stride(0),
                                 MODE=mode, BLOCK=blk, SINGLE=single, num_warps=warps)
    return out
