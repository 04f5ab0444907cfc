r"""The array-API path of sampled_softmax_loss and negative_sampling_loss.

The contract of :mod:`sigmax._sampled_losses`, on PyTorch, JAX, CuPy and
array-api-strict arrays: the same candidates as the NumPy path for the same
``seed``, so that both paths give the same loss and gradients.  The draw is made
on the host, by the NumPy path's own samplers (:mod:`sigmax._samplers`), from
the sizes alone (``num_sampled``, or ``(N, num_negatives)``): it never reads the
arrays.  Only the small index array of the draw travels to the input's device.
The sampler's distribution (a probability vector ``sampler`` / ``noise``) is a
parameter, not data: it is read on the host once per call (from NumPy, a list
or any array that supports DLPack on the CPU) and its ``log Q`` goes to the
device for the targets' logQ correction.

With the candidates fixed, the loss is a smooth function of ``(hidden, weight,
bias)`` and is made differentiable by torch autograd (the closed-form VJP
below) and JAX (a ``custom_jvp`` whose rule is linear in the tangents, so that
``jax.grad`` and ``jax.value_and_grad`` transpose it):

* sampled softmax, logits :math:`z_{i0} = h_i\cdot w_{t_i} + b_{t_i} - \log(S Q(t_i))`,
  :math:`z_{ik} = h_i\cdot w_{s_k} + b_{s_k} - \log(S Q(s_k))` (a hit masked to
  ``-inf``), :math:`\ell_i = -\log\operatorname{softmax}(z_i)_0` and
  :math:`\partial\ell_i/\partial z_i = \operatorname{softmax}(z_i) - e_0`;
* negative sampling, :math:`\ell_i = -\log\sigma(s_i) - \sum_k [n_{ik}\ne t_i]
  \log\sigma(-s_{ik})`, :math:`\partial/\partial s_i = -\sigma(-s_i)`,
  :math:`\partial/\partial s_{ik} = \sigma(s_{ik})`.

The gradient of ``weight`` (and ``bias``) is dense, shape ``(V, H)``, zero
outside the scored rows: rows are scatter-added with the library's own scatter
where it has one (``index_add`` in PyTorch, ``.at[].add`` in JAX) and with
one-hot products in blocks of classes otherwise (the array API standard has no
scatter).  The arithmetic is in the compute dtype (float64 where the library
offers it), as on the NumPy path.  Dask arrays are not supported (the draw is
per call, the step small): pass the blocks of rows one by one.
"""

from __future__ import annotations

import math

import numpy as np

from . import _generic, _policy
from ._generic import _INF, _log_sigmoid, _row_stats, _sigmoid
from ._generic_softmax import _live_elem, _log_softmax_elem, _softmax_elem
from ._large_output import check_positive_int
from ._sampled_losses import noise_sampler
from ._samplers import Categorical, LogUniform, Uniform, check_seed, make_sampler

__all__ = []

# Block of one-hot scatters and of the gathered (rows, K, H) negatives: this
# many elements in the compute dtype at most.
_BLOCK_ELEMENTS = 2**21


# ----------------------------------------------------------------------------
# The inputs.

class _Inputs:
    """``hidden``, ``weight``, ``bias`` in the compute dtype, the checked target, the dtypes."""

    def __init__(self, ctx, fname, hidden, weight, target, bias):
        from ._generic_large import class_targets, layer_arrays

        xp = ctx.xp
        inputs, self.n, self.v = layer_arrays(ctx, fname, hidden, weight, bias)
        self.h = inputs[0][0].shape[1]
        cast = [ctx.input(a, fname, nm) for a, nm in inputs]
        self.xs = tuple(c for c, _ in cast)
        self.out_dtypes = [o for _, o in cast]
        self.out = xp.result_type(*self.out_dtypes)
        ctx.exact = True          # every sum below is in the compute dtype
        self.target = class_targets(ctx, fname, target, self.n, self.v, None)


def _host_sampler(spec, v, fname, name):
    """The NumPy path's sampler; a probability vector of another library is read via DLPack."""
    import array_api_compat as compat

    if compat.is_array_api_obj(spec) and not isinstance(spec, np.ndarray):
        try:
            spec = np.from_dlpack(spec)
        except Exception as exc:  # a GPU array, or a library without DLPack
            raise TypeError(
                f"{fname}: {name} must be a string or a probability vector readable on the "
                f"host (NumPy, a list, or a CPU array with DLPack); received "
                f"{_policy.describe(spec)} ({exc})") from None
    return make_sampler(spec, v, fname, name)


def _log_q(ctx, sampler, k):
    """``log Q(k)`` of the device index array ``k``, in the compute dtype."""
    xp = ctx.xp
    if isinstance(sampler, LogUniform):
        kf = ctx.astype(k, ctx.cdtype)
        return xp.log(xp.log1p(1.0 / (kf + 1.0))) - math.log(math.log1p(sampler.n_classes))
    if isinstance(sampler, Uniform):
        return xp.full(tuple(k.shape), -math.log(sampler.n_classes), dtype=ctx.cdtype,
                       device=ctx.device)
    assert isinstance(sampler, Categorical)
    logp = xp.asarray(sampler.logp, dtype=ctx.cdtype, device=ctx.device)
    return xp.take(logp, xp.reshape(k, (-1,)), axis=0) if k.ndim != 1 else xp.take(logp, k,
                                                                                    axis=0)


def _to_device(ctx, idx):
    return ctx.xp.asarray(np.asarray(idx, dtype=np.int64), device=ctx.device)


def _rows(ctx, xs, idx):
    """``(weight[idx], bias[idx])`` (bias 0 without one) for a 1-d device index array."""
    xp = ctx.xp
    w = xp.take(xs[1], idx, axis=0)
    b = xp.take(xs[2], idx, axis=0) if len(xs) == 3 else 0.0
    return w, b


def _scatter_rows(ctx, idx, rows, v):
    """``out[idx[i]] += rows[i]`` into zeros of shape ``(v,) + rows.shape[1:]``."""
    xp = ctx.xp
    shape = (v,) + tuple(rows.shape[1:])
    if ctx.lib == "torch":
        import torch

        return torch.zeros(shape, dtype=rows.dtype, device=rows.device).index_add(0, idx, rows)
    if ctx.lib == "jax":
        import jax.numpy as jnp

        return jnp.zeros(shape, dtype=rows.dtype).at[idx].add(rows)
    if isinstance(rows, np.ndarray):
        out = np.zeros(shape, dtype=rows.dtype)
        np.add.at(out, np.asarray(idx), rows)
        return out
    # The standard has no scatter: one-hot products, in blocks of classes.
    flat = xp.reshape(rows, (rows.shape[0], -1))
    width = max(1, _BLOCK_ELEMENTS // max(1, rows.shape[0]))
    parts = []
    for v0 in range(0, v, width):
        v1 = min(v, v0 + width)
        cls = xp.reshape(xp.arange(v0, v1, dtype=idx.dtype, device=ctx.device), (1, -1))
        onehot = ctx.astype(xp.reshape(idx, (-1, 1)) == cls, rows.dtype)
        parts.append(xp.matrix_transpose(onehot) @ flat)
    if not parts:
        return xp.zeros(shape, dtype=rows.dtype, device=ctx.device)
    return xp.reshape(xp.concat(parts, axis=0), shape)


def _weight_grads(ctx, a, xs, pairs):
    """``(d_weight, d_bias)`` from ``[(idx, d_score, rows_of_hidden)]`` scatter pairs.

    Each pair scores ``s = h . w_idx + b_idx`` with gradient ``d_score`` per row.
    """
    xp = ctx.xp
    d_w = d_b = None
    for idx, d, h in pairs:
        w_part = _scatter_rows(ctx, idx, xp.reshape(d, (-1, 1)) * h, a.v)
        d_w = w_part if d_w is None else d_w + w_part
        if len(xs) == 3:
            b_part = _scatter_rows(ctx, idx, d, a.v)
            d_b = b_part if d_b is None else d_b + b_part
    return d_w, d_b


def _reduce(ctx, per, reduction, n):
    xp = ctx.xp
    if reduction == "none":
        return per
    total = xp.sum(per)
    return total if reduction == "sum" else total * (1.0 / n if n else 0.0)


def _row_cotangent(ctx, g, reduction, n):
    """The cotangent of each row's loss from that of the reduced loss, shape (N,)."""
    xp = ctx.xp
    if reduction == "none":
        return ctx.astype(g, ctx.cdtype)
    scale = (1.0 / n if n else 0.0) if reduction == "mean" else 1.0
    return xp.broadcast_to(xp.reshape(g * scale, (1,)), (n,))


def _finish(ctx, a, method, value, vjp, jvp, reduction):
    """The loss (differentiable), or ``(loss, grads)`` for ``value_and_grad``."""
    xp = ctx.xp
    if method == "value_and_grad":
        one = xp.ones((a.n,) if reduction == "none" else (), dtype=ctx.cdtype, device=ctx.device)
        grads = tuple(ctx.astype(gr, o) for gr, o in zip(vjp(a.xs, one), a.out_dtypes))
        if len(a.xs) == 2:
            grads = grads + (None,)
        return ctx.astype(value(*a.xs), a.out), grads
    return ctx.astype(ctx.differentiable_many(value, vjp, jvp, a.xs), a.out)


# ----------------------------------------------------------------------------
# Sampled softmax.

def _sampled_softmax(ctx, name, method, args, kwargs):
    fname = name if method == "__call__" else f"{name}.{method}"
    xp = ctx.xp
    if ctx.lib == "dask":
        raise TypeError(f"{fname}: Dask arrays are not supported; pass the hidden states in "
                        f"blocks of rows (NumPy or another array library)")
    num_sampled = check_positive_int(kwargs.get("num_sampled"), fname, "num_sampled")
    remove = _policy.check_bool(kwargs.get("remove_accidental_hits", True), fname,
                                "remove_accidental_hits")
    reduction = _policy.check_reduction(kwargs.get("reduction", "mean"), fname)
    a = _Inputs(ctx, fname, args[0], args[1], args[2], kwargs.get("bias"))
    rng = check_seed(kwargs.get("seed"), fname)
    sampler = _host_sampler(kwargs.get("sampler", "log_uniform"), a.v, fname, "sampler")
    cand_host = sampler.draw(rng, num_sampled)
    t, cand = a.target, _to_device(ctx, cand_host)
    logq_t = _log_q(ctx, sampler, t)
    _check_reachable(ctx, fname, t, logq_t)
    log_s = math.log(num_sampled)
    corr_t = xp.reshape(log_s + logq_t, (a.n, 1))
    corr_s = xp.reshape(log_s + _log_q(ctx, sampler, cand), (1, num_sampled))
    hit = (xp.reshape(cand, (1, -1)) == xp.reshape(ctx.astype(t, cand.dtype), (-1, 1))
           if remove else None)

    def logits(xs):
        h = xs[0]
        w_t, b_t = _rows(ctx, xs, t)
        w_s, b_s = _rows(ctx, xs, cand)
        z0 = xp.sum(h * w_t, axis=1, keepdims=True) - corr_t
        zs = h @ xp.matrix_transpose(w_s) - corr_s
        if len(xs) == 3:
            z0, zs = z0 + xp.reshape(b_t, (-1, 1)), zs + xp.reshape(b_s, (1, -1))
        if hit is not None:
            zs = xp.where(hit, -_INF, zs)
        return xp.concat([z0, zs], axis=1), w_t, w_s

    def stats(z):
        return _row_stats(xp, z, (1,), 1.0, True)

    def value(*xs):
        z, _, _ = logits(xs)
        m, rest, n_inf = stats(z)
        per = -_log_softmax_elem(1.0, True)(xp, z[:, :1], m, rest, n_inf)
        return _reduce(ctx, xp.reshape(per, (a.n,)), reduction, a.n)

    def d_logits(z, g):
        m, rest, n_inf = stats(z)
        p = _softmax_elem(1.0, True)(xp, z, m, rest, n_inf)
        first = xp.reshape(xp.arange(num_sampled + 1, device=ctx.device) == 0, (1, -1))
        d = p - ctx.astype(first, ctx.cdtype)
        # Zero where the logit is -inf (a hit) and through constant rows.
        live = _live_elem(xp, z, m)
        return xp.where(live, d * xp.reshape(_row_cotangent(ctx, g, reduction, a.n), (-1, 1)),
                        0.0)

    def vjp(xs, g):
        z, w_t, w_s = logits(xs)
        dz = d_logits(z, g)
        d0, ds = dz[:, :1], dz[:, 1:]
        d_h = d0 * w_t + ds @ w_s
        d_w, d_b = _weight_grads(ctx, a, xs, [(t, xp.reshape(d0, (-1,)), xs[0])])
        # The S candidates are shared by the batch: their rows get ds^T h.
        d_w = d_w + _scatter_rows(ctx, cand, xp.matrix_transpose(ds) @ xs[0], a.v)
        out = (d_h, d_w)
        if len(xs) == 3:
            out = out + (d_b + _scatter_rows(ctx, cand, xp.sum(ds, axis=0), a.v),)
        return out

    def jvp(xs, vs):
        # <dz, dZ> with dZ the tangent of the logits: linear in vs.
        z, w_t, w_s = logits(xs)
        one = xp.ones((a.n,) if reduction == "none" else (), dtype=ctx.cdtype,
                      device=ctx.device)
        dz = d_logits(z, one)
        h, dh = xs[0], vs[0]
        dw_t, db_t = _rows(ctx, vs, t)
        dw_s, db_s = _rows(ctx, vs, cand)
        t0 = xp.sum(dh * w_t + h * dw_t, axis=1, keepdims=True)
        ts = dh @ xp.matrix_transpose(w_s) + h @ xp.matrix_transpose(dw_s)
        if len(xs) == 3:
            t0, ts = t0 + xp.reshape(db_t, (-1, 1)), ts + xp.reshape(db_s, (1, -1))
        acc = xp.sum(dz * xp.concat([t0, ts], axis=1), axis=1)
        return acc if reduction == "none" else xp.sum(acc)

    return _finish(ctx, a, method, value, vjp, jvp, reduction)


def _check_reachable(ctx, fname, t, logq_t):
    """A target of probability 0 under the sampler raises (eager arrays), as on NumPy."""
    xp = ctx.xp
    if ctx.lib == "jax":
        import jax

        if isinstance(logq_t, jax.core.Tracer):
            return
    if t.shape[0] == 0 or not bool(xp.any(xp.isinf(logq_t))):
        return
    i = int(xp.argmax(ctx.astype(xp.isinf(logq_t), xp.int8)))
    raise _policy.ArgumentError(
        f"{fname}: target holds {int(t[i])} at index ({i},), a class of probability 0 "
        f"under the sampler; expected classes the sampler can draw")


# ----------------------------------------------------------------------------
# Negative sampling.

def _negative_sampling(ctx, name, method, args, kwargs):
    fname = name if method == "__call__" else f"{name}.{method}"
    xp = ctx.xp
    if ctx.lib == "dask":
        raise TypeError(f"{fname}: Dask arrays are not supported; pass the hidden states in "
                        f"blocks of rows (NumPy or another array library)")
    k = check_positive_int(kwargs.get("num_negatives"), fname, "num_negatives")
    reduction = _policy.check_reduction(kwargs.get("reduction", "mean"), fname)
    a = _Inputs(ctx, fname, args[0], args[1], args[2], kwargs.get("bias"))
    rng = check_seed(kwargs.get("seed"), fname)
    sampler = noise_sampler(kwargs.get("noise"), a.v, fname, make=_host_sampler)
    neg_host = sampler.draw(rng, (a.n, k))
    t = a.target
    neg = _to_device(ctx, neg_host)                       # (N, K)
    neg_flat = xp.reshape(neg, (-1,))
    live = neg != xp.reshape(ctx.astype(t, neg.dtype), (-1, 1))
    block = max(1, _BLOCK_ELEMENTS // max(1, k * a.h))
    blocks = [(i0, min(a.n, i0 + block)) for i0 in range(0, a.n, block)]

    def scores(xs):
        """``(s_pos (N,), s_neg (N, K), w_t)``; the negatives gathered in blocks of rows."""
        h = xs[0]
        w_t, b_t = _rows(ctx, xs, t)
        s_pos = xp.sum(h * w_t, axis=1) + b_t
        parts = []
        for i0, i1 in blocks:
            w_n, b_n = _rows(ctx, xs, neg_flat[i0 * k:i1 * k])
            w_n = xp.reshape(w_n, (i1 - i0, k, a.h))
            s = xp.sum(w_n * xp.reshape(h[i0:i1, :], (i1 - i0, 1, a.h)), axis=2)
            parts.append(s + (xp.reshape(b_n, (i1 - i0, k)) if len(xs) == 3 else 0.0))
        s_neg = (xp.concat(parts, axis=0) if parts else
                 xp.zeros((0, k), dtype=ctx.cdtype, device=ctx.device))
        return s_pos, s_neg, w_t

    def value(*xs):
        s_pos, s_neg, _ = scores(xs)
        per = -_log_sigmoid(xp, s_pos) - xp.sum(xp.where(live, _log_sigmoid(xp, -s_neg), 0.0),
                                                axis=1)
        return _reduce(ctx, per, reduction, a.n)

    def d_scores(xs, g):
        s_pos, s_neg, w_t = scores(xs)
        r = _row_cotangent(ctx, g, reduction, a.n)
        d_pos = -_sigmoid(xp, -s_pos) * r
        d_neg = xp.where(live, _sigmoid(xp, s_neg), 0.0) * xp.reshape(r, (-1, 1))
        return d_pos, d_neg, w_t

    def vjp(xs, g):
        d_pos, d_neg, w_t = d_scores(xs, g)
        h = xs[0]
        d_h = xp.reshape(d_pos, (-1, 1)) * w_t
        pairs = [(t, d_pos, h)]
        parts = []
        for i0, i1 in blocks:
            idx = neg_flat[i0 * k:i1 * k]
            w_n, _ = _rows(ctx, xs, idx)
            w_n = xp.reshape(w_n, (i1 - i0, k, a.h))
            dn = d_neg[i0:i1, :]
            parts.append(xp.sum(xp.reshape(dn, (i1 - i0, k, 1)) * w_n, axis=1))
            h_rep = xp.reshape(xp.broadcast_to(xp.reshape(h[i0:i1, :], (i1 - i0, 1, a.h)),
                                               (i1 - i0, k, a.h)), ((i1 - i0) * k, a.h))
            pairs.append((idx, xp.reshape(dn, (-1,)), h_rep))
        if parts:
            d_h = d_h + xp.concat(parts, axis=0)
        d_w, d_b = _weight_grads(ctx, a, xs, pairs)
        return (d_h, d_w) + ((d_b,) if len(xs) == 3 else ())

    def jvp(xs, vs):
        one = xp.ones((a.n,) if reduction == "none" else (), dtype=ctx.cdtype,
                      device=ctx.device)
        d_pos, d_neg, w_t = d_scores(xs, one)
        h, dh = xs[0], vs[0]
        dw_t, db_t = _rows(ctx, vs, t)
        acc = d_pos * (xp.sum(dh * w_t + h * dw_t, axis=1) + db_t)
        parts = []
        for i0, i1 in blocks:
            idx = neg_flat[i0 * k:i1 * k]
            w_n, _ = _rows(ctx, xs, idx)
            dw_n, db_n = _rows(ctx, vs, idx)
            shape3 = (i1 - i0, k, a.h)
            hb = xp.reshape(h[i0:i1, :], (i1 - i0, 1, a.h))
            dhb = xp.reshape(dh[i0:i1, :], (i1 - i0, 1, a.h))
            tan = xp.sum(dhb * xp.reshape(w_n, shape3) + hb * xp.reshape(dw_n, shape3), axis=2)
            if len(xs) == 3:
                tan = tan + xp.reshape(db_n, (i1 - i0, k))
            parts.append(xp.sum(d_neg[i0:i1, :] * tan, axis=1))
        if parts:
            acc = acc + xp.concat(parts, axis=0)
        return acc if reduction == "none" else xp.sum(acc)

    return _finish(ctx, a, method, value, vjp, jvp, reduction)


#: Registered in sigmax._generic on first use (this module is imported lazily).
IMPLEMENTATIONS = {"sampled_softmax_loss": _sampled_softmax,
                   "negative_sampling_loss": _negative_sampling}
_generic._IMPLEMENTATIONS.update(IMPLEMENTATIONS)
