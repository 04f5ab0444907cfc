"""What the array-API path needs from particular libraries: autodiff and Dask.

The generic implementation (:mod:`sigmax._generic`) is written once against
the array API standard.  Three things cannot be said in that standard, and
live here, each imported lazily (``import sigmax`` never imports torch, jax or
dask):

* **PyTorch autograd.**  A value computed on tensors that require grad is
  wrapped in a :class:`torch.autograd.Function` whose backward is sigmax's own
  closed-form VJP, so that ``loss.backward()`` gives exactly the gradient of
  ``f.vjp`` (zero, not NaN, through fully masked rows).
* **JAX transformations.**  The value is a :func:`jax.custom_jvp` whose tangent
  rule is sigmax's closed-form JVP, written linearly in the tangent, so that
  JAX can transpose it for ``jax.grad`` / ``jax.vjp`` and trace it under
  ``jax.jit``.
* **Dask.**  Reductions along chunked axes use :func:`dask.array.reduction`
  with a chunk / combine / aggregate of the row statistics ``(max, sum of exp
  excluding one maximum, number of +inf)``, merged across chunks with the
  online-softmax recurrence (Milakov & Gimelshein 2018, arXiv:1805.02867) in
  the exclude-the-maximum form of Blanchard, Higham & Higham (2021).  Every
  elementwise step runs per block under ``np.errstate(all="ignore")``: the
  tasks run later, in the scheduler's threads or on cluster workers, where no
  caller's ``errstate`` reaches.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["torch_differentiable", "jax_differentiable", "dask_blockwise", "dask_row_sum",
           "dask_row_stats", "torch_differentiable_many", "jax_differentiable_many"]


# ----------------------------------------------------------------------------
# PyTorch

@functools.cache
def _torch_op():
    import torch

    class SigmaxOp(torch.autograd.Function):
        """``y = core(*xs)`` with the backward ``vjp(xs, g)``: sigmax's closed forms."""

        @staticmethod
        def forward(ctx, core, vjp, *xs):
            out = core(*xs)
            ctx.save_for_backward(*xs)
            ctx.vjp = vjp
            if isinstance(out, tuple):
                # Only the first output (e.g. log|S| of logsumexp) has a gradient.
                ctx.mark_non_differentiable(*out[1:])
            return out

        @staticmethod
        def backward(ctx, g, *unused):
            return (None, None) + tuple(ctx.vjp(ctx.saved_tensors, g))

    return SigmaxOp


def torch_differentiable_many(core, vjp, xs):
    """``core(*xs)``, differentiable by autograd through ``vjp(xs, g)`` (a gradient per input)."""
    import torch

    if not (torch.is_grad_enabled() and any(x.requires_grad for x in xs)):
        return core(*xs)
    return _torch_op().apply(core, vjp, *xs)


def torch_differentiable(core, vjp, x):
    """``core(x)``, differentiable by autograd through ``vjp(x, g)`` when ``x`` requires grad."""
    return torch_differentiable_many(core, lambda xs, g: (vjp(xs[0], g),), (x,))


# ----------------------------------------------------------------------------
# JAX

def jax_differentiable_many(core, jvp, xs):
    """``core(*xs)`` as a ``jax.custom_jvp`` with the rule ``jvp(xs, vs)`` (linear in vs)."""
    import jax
    import jax.numpy as jnp

    f = jax.custom_jvp(core)

    @f.defjvp
    def _rule(primals, tangents):
        out = core(*primals)
        if isinstance(out, tuple):
            return out, (jvp(primals, tangents),) + tuple(jnp.zeros_like(o) for o in out[1:])
        return out, jvp(primals, tangents)

    return f(*xs)


def jax_differentiable(core, jvp, x):
    """``core(x)`` as a ``jax.custom_jvp`` whose tangent rule is ``jvp(x, v)`` (linear in v)."""
    return jax_differentiable_many(core, lambda xs, vs: jvp(xs[0], vs[0]), (x,))


# ----------------------------------------------------------------------------
# Dask

def _quiet(fn):
    """Run ``fn`` under ``np.errstate(all="ignore")`` (the task runs outside the caller)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return run


def _block_namespace(*blocks):
    import array_api_compat

    return array_api_compat.array_namespace(*[b for b in blocks if hasattr(b, "dtype")])


def dask_blockwise(fn, arrays, dtype):
    """``fn(xp, *blocks)`` per block of the broadcast dask ``arrays``, lazily."""
    import dask.array as da

    ndim = max(a.ndim for a in arrays)
    # Align the chunks of full-length dimensions (a broadcast mask comes as
    # one chunk); dimensions of length 1 (row statistics) broadcast per block.
    chunks = [None] * ndim
    for a in arrays:
        for d, c in enumerate(a.chunks):
            if chunks[d] is None and len(c) > 1:
                chunks[d] = c
    arrays = [a.rechunk(tuple(c if (c is not None and a.shape[d] > 1) else a.chunks[d]
                              for d, c in enumerate(chunks)))
              for a in arrays]

    def block(*blocks):
        return fn(_block_namespace(*blocks), *blocks)

    meta = np.empty((0,) * ndim, dtype=dtype)
    return da.map_blocks(_quiet(block), *arrays, dtype=dtype, meta=meta)


def dask_row_sum(a, axes):
    """``sum(a, axis=axes, keepdims=True)`` as a quiet dask tree reduction."""
    import dask.array as da

    def part(b, axis, keepdims):
        xp = _block_namespace(b)
        return xp.sum(b, axis=axis, keepdims=keepdims)

    return da.reduction(a, _quiet(part), _quiet(part), axis=axes, keepdims=True,
                        dtype=a.dtype, meta=np.empty((0,) * a.ndim, dtype=a.dtype))


_STATS = ("m", "rest", "n_inf")


def _pack(m, rest, n_inf):
    out = np.empty(np.shape(m), dtype=[(k, np.asarray(m).dtype) for k in _STATS])
    out["m"], out["rest"], out["n_inf"] = m, rest, n_inf
    return out


def dask_row_stats(x, axes, temperature, exact, row_stats, merge_stats):
    """``(m, rest, n_inf)`` of the rows of the dask array ``x`` in one pass over it.

    ``row_stats(xp, block, axes, T)`` gives the statistics of a block and
    ``merge_stats(xp, m, rest, n_inf, axes, T)`` merges those of blocks
    concatenated along ``axes``; both come from :mod:`sigmax._generic`, so the
    merge is the same arithmetic as on one block.  The three statistics travel
    between tasks as one structured NumPy array.
    """
    import dask.array as da

    def chunk(b, axis, keepdims):
        return _pack(*row_stats(_block_namespace(b), b, tuple(axis), temperature, exact))

    def merge(s, axis, keepdims):
        parts = [np.asarray(s[k]) for k in _STATS]
        return _pack(*merge_stats(_block_namespace(*parts), *parts, tuple(axis), temperature,
                                  exact))

    dtype = np.dtype([(k, x.dtype) for k in _STATS])
    packed = da.reduction(x, _quiet(chunk), _quiet(merge), combine=_quiet(merge),
                          axis=axes, keepdims=True, dtype=dtype,
                          meta=np.empty((0,) * x.ndim, dtype=dtype))
    return tuple(packed[k] for k in _STATS)

