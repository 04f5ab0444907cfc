"""Fused linear cross-entropy in Triton: ``cross_entropy(h @ W.T + b, t)`` without the logits.

Shapes: hidden ``h`` ``(N, H)``, class weights ``W`` ``(V, H)``, optional bias
``b`` ``(V,)``, integer targets ``t`` ``(N,)``.  The approach is the one
published by Wijmans et al., "Cut Your Losses in Large-Vocabulary Language
Models" (arXiv:2411.09009): compute logit tiles in SRAM, reduce them at once,
recompute them in the backward.  The code is sigmax's.

Forward (:func:`_forward_kernel`)
    A grid of ``(row blocks of BN, SPLITS slices of the vocabulary)``.  Each
    program walks its slice ``BV`` classes at a time; for each tile it
    accumulates ``h[rows] @ W[cols].T`` over ``H`` in ``BH`` steps with
    ``tl.dot`` (float32 accumulation; bf16/fp16 operands use the tensor cores,
    float32 ones ``input_precision="ieee"``), adds the bias, and folds the
    tile into the row states of :mod:`._rows` (max, sum of exps excluding one
    max, ``+inf`` and NaN counts), the target's logit and the row sum (for
    label smoothing).  The logits never leave the registers.  Each program
    writes four float32 numbers per row; :func:`_merge_splits` merges the
    ``SPLITS`` partial states (exactly, the argmax split's sum kept apart) into
    the row's logsumexp.  Extra memory: ``4 * SPLITS * N`` floats.
Backward (:func:`_grad_kernel` + cuBLAS)
    Recomputation, chunk by chunk of ``chunk`` classes: the kernel recomputes
    the logit tiles of the chunk, turns them into ``d loss / d logits =
    scale_i * (exp(z - lse_i) - (1 - eps) [j = t_i] - eps / V)`` in SRAM and
    writes that gradient chunk ``G`` ``(N, chunk)`` in the input dtype; then
    ``dW[chunk] = G.T @ h`` (written once, no accumulation across chunks),
    ``dh += G @ W[chunk]`` (float32 accumulator) and ``db[chunk] = G.sum(0)``
    run on cuBLAS.  Working memory: ``G`` (``N * chunk`` elements, 128 MiB at
    N = 8192, chunk = 8192, bf16), the float32 ``dh`` accumulator (``4 N H``
    bytes) and one ``N * H`` product; with the outputs this stays under the
    issue's 1 GiB of extra memory at both LLM shapes.  A single fused
    backward kernel (both products in the kernel, as in the paper) needs
    atomic additions into ``dh`` and ``dW``: ``N H V / BV`` of them into
    ``dh`` alone, and a float32 ``dW`` accumulator of ``4 V H`` bytes (2 GiB at
    the issue's shapes), which is why the products go to cuBLAS here.
    FLOPs: forward ``2NHV`` (Triton), backward ``2NHV`` (recomputation,
    Triton) + ``4NHV`` (cuBLAS): 4/3 of the naive implementation's.

Policy: rows whose logsumexp is not finite (NaN or infinite inputs) get zero
gradients unless NaN; ignored targets count nothing; with every target ignored
the mean is 0 and the gradients are zero.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import triton
import triton.language as tl

from ._rows import log1p

__all__ = ["forward", "backward"]

_INTERPRET = bool(triton.knobs.runtime.interpret)


@triton.jit
def _tile(h_ptr, w_ptr, b_ptr, rows, cols, N, V, H, stride_h, stride_w,
          HAS_BIAS: tl.constexpr, BN: tl.constexpr, BV: tl.constexpr, BH: tl.constexpr,
          IEEE: tl.constexpr, UPCAST: tl.constexpr):
    """The ``(BN, BV)`` logit tile ``h[rows] @ W[cols].T + b[cols]`` in float32."""
    acc = tl.zeros((BN, BV), dtype=tl.float32)
    ks = tl.arange(0, BH)
    rmask = rows < N
    cmask = cols < V
    for k0 in range(0, H, BH):
        kmask = k0 + ks < H
        a = tl.load(h_ptr + rows[:, None].to(tl.int64) * stride_h + (k0 + ks)[None, :],
                    mask=rmask[:, None] & kmask[None, :], other=0.0)
        b = tl.load(w_ptr + cols[:, None].to(tl.int64) * stride_w + (k0 + ks)[None, :],
                    mask=cmask[:, None] & kmask[None, :], other=0.0)
        if UPCAST:  # Triton 3.9's interpreter gets tl.dot of bf16 tiles wrong
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        if IEEE:
            acc += tl.dot(a, tl.trans(b), input_precision="ieee")
        else:
            acc += tl.dot(a, tl.trans(b))
    if HAS_BIAS:
        acc += tl.load(b_ptr + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    return acc


@triton.jit
def _forward_kernel(h_ptr, w_ptr, b_ptr, t_ptr, state_ptr, N, V, H, stride_h, stride_w,
                    per_split, HAS_BIAS: tl.constexpr, BN: tl.constexpr, BV: tl.constexpr,
                    BH: tl.constexpr, IEEE: tl.constexpr, UPCAST: tl.constexpr):
    pid_n = tl.program_id(0)
    split = tl.program_id(1)
    rows = pid_n * BN + tl.arange(0, BN)
    rmask = rows < N
    t = tl.load(t_ptr + rows, mask=rmask, other=-1).to(tl.int64)
    m = tl.full((BN,), float("-inf"), tl.float32)
    s = tl.zeros((BN,), tl.float32)
    k = tl.zeros((BN,), tl.float32)
    q = tl.zeros((BN,), tl.float32)
    xt = tl.zeros((BN,), tl.float32)
    sx = tl.zeros((BN,), tl.float32)
    v_lo = split * per_split
    v_hi = tl.minimum(v_lo + per_split, V)
    for v0 in range(v_lo, v_hi, BV):
        cols = v0 + tl.arange(0, BV)
        z = _tile(h_ptr, w_ptr, b_ptr, rows, cols, N, V, H, stride_h, stride_w,
                  HAS_BIAS, BN, BV, BH, IEEE, UPCAST)
        cm = (cols < v_hi)[None, :]
        isnan = z != z
        ispinf = z == float("inf")
        zf = tl.where(cm & ~isnan & ~ispinf, z, float("-inf"))
        bm = tl.max(zf, axis=1)
        live = bm > float("-inf")
        bm_safe = tl.where(live, bm, 0.0)
        e = tl.where(zf < bm[:, None], tl.exp(zf - bm_safe[:, None]), 0.0)
        c = tl.sum(tl.where(zf == bm[:, None], 1.0, 0.0), axis=1)
        bs = tl.where(live, tl.sum(e, axis=1) + (c - 1.0), 0.0)
        # merge (m, s) with (bm, bs)
        hi = tl.maximum(m, bm)
        first = m >= bm
        lo = tl.where(first, bm, m)
        s_hi = tl.where(first, s, bs)
        s_lo = tl.where(first, bs, s)
        lo_live = lo > float("-inf")
        s = s_hi + tl.where(lo_live, (s_lo + 1.0) * tl.exp(tl.where(lo_live, lo - hi, 0.0)),
                            0.0)
        m = hi
        k += tl.sum(tl.where(cm & ispinf, 1.0, 0.0), axis=1)
        q += tl.sum(tl.where(cm & isnan, 1.0, 0.0), axis=1)
        xt += tl.sum(tl.where(cols[None, :] == t[:, None], z, 0.0), axis=1)
        sx += tl.sum(tl.where(cm, z, 0.0), axis=1)
    base = state_ptr + split.to(tl.int64) * 6 * N
    tl.store(base + rows, m, mask=rmask)
    tl.store(base + N + rows, s, mask=rmask)
    tl.store(base + 2 * N + rows, k, mask=rmask)
    tl.store(base + 3 * N + rows, q, mask=rmask)
    tl.store(base + 4 * N + rows, xt, mask=rmask)
    tl.store(base + 5 * N + rows, sx, mask=rmask)


@triton.jit
def _grad_kernel(h_ptr, w_ptr, b_ptr, t_ptr, lse_ptr, scale_ptr, g_ptr, N, V, H, v0, chunk,
                 stride_h, stride_w, stride_g, eps, HAS_BIAS: tl.constexpr,
                 BN: tl.constexpr, BV: tl.constexpr, BH: tl.constexpr, IEEE: tl.constexpr,
                 UPCAST: tl.constexpr):
    rows = tl.program_id(0) * BN + tl.arange(0, BN)
    local = tl.program_id(1) * BV + tl.arange(0, BV)
    cols = v0 + local
    rmask = rows < N
    cmask = (local < chunk) & (cols < V)
    z = _tile(h_ptr, w_ptr, b_ptr, rows, cols, N, V, H, stride_h, stride_w,
              HAS_BIAS, BN, BV, BH, IEEE, UPCAST)
    lse = tl.load(lse_ptr + rows, mask=rmask, other=0.0)
    scale = tl.load(scale_ptr + rows, mask=rmask, other=0.0)
    t = tl.load(t_ptr + rows, mask=rmask, other=-1).to(tl.int64)
    finite = (lse > float("-inf")) & (lse < float("inf"))
    lse_safe = tl.where(finite, lse, 0.0)
    p = tl.exp(z - lse_safe[:, None])
    g = p - tl.where(cols[None, :] == t[:, None], 1.0 - eps, 0.0) - eps / V
    g = tl.where(z > float("-inf"), g, 0.0) * scale[:, None]
    g = tl.where(finite[:, None], g, tl.where((lse != lse)[:, None], float("nan"), 0.0))
    ptrs = g_ptr + rows[:, None].to(tl.int64) * stride_g + local[None, :]
    tl.store(ptrs, g, mask=rmask[:, None] & cmask[None, :])


#: Tile configurations tried by the autotuner on a GPU (H100/H200: 228 KiB of shared
#: memory an SM, 64 K registers); the best is kept per (H, V, dtype, bias).  ``ptxas -v``
#: for sm_90a, bf16 (forward / grad spill bytes a thread): 4 / 0, 0 / 0, 248 / 16,
#: 232 / 12, 0 / 0; the 256-wide tiles spilled 0.5-1.5 KB and were left out
#: (``python tests/triton_compile_sm90.py`` prints them all).
_CONFIGS = [
    triton.Config({"BN": 128, "BV": 128, "BH": 32}, num_warps=8, num_stages=4),
    triton.Config({"BN": 128, "BV": 64, "BH": 64}, num_warps=8, num_stages=3),
    triton.Config({"BN": 128, "BV": 128, "BH": 64}, num_warps=8, num_stages=3),
    triton.Config({"BN": 128, "BV": 128, "BH": 64}, num_warps=16, num_stages=3),
    triton.Config({"BN": 64, "BV": 64, "BH": 32}, num_warps=4, num_stages=3),
]
_MAX_BV = max(c.kwargs["BV"] for c in _CONFIGS)
#: The interpreter's tiles (tl.dot needs 16 x 16 at least); no autotuning there.
_INTERPRETER_TILES = {"BN": 16, "BV": 16, "BH": 16}

if _INTERPRET:
    _forward_launch = _forward_kernel
    _grad_launch = _grad_kernel
else:  # pragma: no cover - needs a GPU
    _forward_launch = triton.autotune(configs=_CONFIGS, key=["H", "V", "HAS_BIAS", "IEEE"])(
        _forward_kernel)
    _grad_launch = triton.autotune(configs=_CONFIGS, key=["H", "V", "HAS_BIAS", "IEEE"])(
        _grad_kernel)


def _tiles():
    """Keyword arguments fixing the tiles (interpreter) or nothing (the autotuner's choice)."""
    return dict(_INTERPRETER_TILES, num_warps=1) if _INTERPRET else {}


def _merge_splits(state, eps: float, V: int):
    """Merge the per-split states ``(SPLITS, 6, N)``: ``(lse, -log_softmax[t], smooth term)``."""
    m, s, k, q, xt, sx = state.unbind(1)
    M = m.max(0).values
    arg = m.argmax(0, keepdim=True)
    live = m > -math.inf
    diff = torch.where(live, m - torch.where(M > -math.inf, M, 0.0), 0.0)
    parts = torch.where(live, (s + 1.0) * torch.exp(diff), 0.0)
    top = torch.zeros_like(parts, dtype=torch.bool).scatter_(0, arg, True)
    S = torch.where(top, s, parts).sum(0)
    K = k.sum(0)
    Q = q.sum(0)
    XT = xt.sum(0)
    SX = sx.sum(0)
    lse = torch.where(M > -math.inf, M + torch.log1p(S), -math.inf)
    lse = torch.where(K > 0, math.inf, lse)
    lse = torch.where(Q > 0, math.nan, lse)
    ce = torch.where(torch.isfinite(lse), lse - XT, math.inf)
    ce = torch.where(Q > 0, math.nan, ce)
    smooth = None
    if eps:
        smooth = torch.where(torch.isfinite(lse), lse - SX / V, math.inf)
        smooth = torch.where(Q > 0, math.nan, smooth)
    return lse, ce, smooth


def forward(h, w, b, t, *, ignore_index, eps: float, splits: int | None = None):
    """``(per-row losses float32 (0 where ignored), lse float32 (N,))``."""
    N, H = h.shape
    V = w.shape[0]
    step = _INTERPRETER_TILES["BV"] if _INTERPRET else _MAX_BV
    if splits is None:   # about 4 programs an SM of an H100 (132 SMs) with 128-row tiles
        splits = 1 if _INTERPRET else max(1, min(64, triton.cdiv(4 * 132, triton.cdiv(N, 128))))
    per_split = triton.cdiv(triton.cdiv(V, splits), step) * step   # a multiple of every BV
    splits = triton.cdiv(V, per_split)
    state = torch.empty((splits, 6, N), dtype=torch.float32, device=h.device)

    def grid(meta):
        return (triton.cdiv(N, meta["BN"]), splits)
    with np.errstate(all="ignore"):  # the interpreter computes in NumPy
        _forward_launch[grid](h, w, h if b is None else b, t, state, N, V, H, h.stride(0),
                              w.stride(0), per_split, HAS_BIAS=b is not None,
                              IEEE=h.dtype == torch.float32, UPCAST=_INTERPRET, **_tiles())
    lse, ce, smooth = _merge_splits(state, eps, V)
    loss = ce if not eps else (1.0 - eps) * ce + eps * smooth
    if ignore_index is not None:
        loss = torch.where(t == ignore_index, 0.0, loss)
    return loss, lse


def backward(h, w, b, t, lse, row_scale, *, eps: float, chunk: int | None = None,
             need_h=True, need_w=True, need_b=True):
    """``(dh, dW, db)`` for the row factors ``row_scale`` (``d loss / d loss_i``, 0 if ignored)."""
    N, H = h.shape
    V = w.shape[0]
    if chunk is None:   # G of about 128 MiB, a multiple of every tile width
        budget = 128 * 2**20 // h.element_size()
        chunk = max(_MAX_BV, min(V, budget // max(N, 1)) // _MAX_BV * _MAX_BV)
    dh = torch.zeros((N, H), dtype=torch.float32, device=h.device) if need_h else None
    dw = torch.empty_like(w) if need_w else None
    db = torch.empty_like(b) if (need_b and b is not None) else None
    row_scale = row_scale.to(torch.float32).contiguous()
    g = torch.empty((N, min(chunk, V)), dtype=h.dtype, device=h.device)
    for v0 in range(0, V, chunk):
        c = min(chunk, V - v0)
        gc = g[:, :c]

        def grid(meta, c=c):
            return (triton.cdiv(N, meta["BN"]), triton.cdiv(c, meta["BV"]))
        with np.errstate(all="ignore"):
            _grad_launch[grid](h, w, h if b is None else b, t, lse, row_scale, gc, N, V, H,
                               v0, c, h.stride(0), w.stride(0), gc.stride(0), float(eps),
                               HAS_BIAS=b is not None, IEEE=h.dtype == torch.float32,
                               UPCAST=_INTERPRET, **_tiles())
        if dh is not None:
            dh += (gc @ w[v0:v0 + c]).float()
        if dw is not None:
            torch.matmul(gc.t(), h, out=dw[v0:v0 + c])
        if db is not None:
            db[v0:v0 + c] = gc.float().sum(0).to(db.dtype)
    return (None if dh is None else dh.to(h.dtype)), dw, db
