"""The array-API path: one implementation for every array library (SPEC section 5).

NumPy arrays take the NumPy path (:mod:`sigmax._elementwise`,
:mod:`sigmax._softmax`).  Any other array -- PyTorch, JAX, CuPy, Dask,
array-api-strict -- is routed here by :meth:`sigmax._function.Function._route`
and computed by the functions below, written once against the namespace that
``array_api_compat.array_namespace(x)`` returns.  The numerical policy is the
NumPy path's, formula for formula:

* float64 and float32 keep their dtype, float16 / bfloat16 are computed in the
  compute dtype and rounded back, integers and bools become float64, complex
  raises ``TypeError``.  The compute dtype is float64 wherever the library
  offers it on the array's device (float32 sums accumulate in float64, as on
  the NumPy path), else float32 (JAX without ``jax_enable_x64``).
* Max shift and ``log1p`` of the sum excluding the maximum (Blanchard, Higham
  & Higham, IMA J. Numer. Anal. 2021, doi:10.1093/imanum/draa038), the TwoSum
  correction of ``x - m``, ``-inf`` rows giving zeros and zero gradients,
  ``+inf`` entries sharing the mass.
* The result is the input's array type on its device; nothing is copied to
  the host and nothing branches on data (so JAX can ``jit`` it).

Each computation is made of three primitives of :class:`_Context` --
``blockwise`` (elementwise work), ``stats`` (the row maximum, the sum of
``exp`` excluding one maximum and the count of ``+inf``) and ``row_sum`` --
which on Dask become per-block tasks and tree reductions
(:mod:`sigmax._generic_backends`), and one hook, ``differentiable``, which
makes values differentiable by torch autograd and JAX through sigmax's own
closed-form derivatives.

The modules of the path: this one (the context, the row statistics, the
elementwise functions, the dispatch), :mod:`sigmax._generic_softmax`
(softmax, log_softmax, logsumexp), :mod:`sigmax._generic_losses`
(cross_entropy, nll_loss), :mod:`sigmax._generic_binary` (the BCEs, the
focal loss), :mod:`sigmax._generic_large` (linear_cross_entropy, Dask
included), :mod:`sigmax._generic_sampled` (sampled_softmax_loss,
negative_sampling_loss) and :mod:`sigmax._generic_backends` (torch autograd,
JAX custom_jvp, Dask).

``call(f, method, *args, **kwargs)`` runs this path on any array, NumPy
included, which is how the tests compare the two paths.
"""

from __future__ import annotations

import math

import numpy as np

from . import _generic_backends as _backends
from . import _policy
from ._function import Function

__all__ = ["call"]

_INF = math.inf


# ----------------------------------------------------------------------------
# One call's namespace, device, dtypes and primitives.

class _Context:
    """The array namespace, device and compute dtype of one call, and its primitives."""

    __slots__ = ("xp", "device", "lib", "cdtype", "default_float", "exact")

    def __init__(self, like):
        import array_api_compat as compat

        self.xp = xp = compat.array_namespace(like)
        self.device = compat.device(like)
        self.lib = ("torch" if compat.is_torch_array(like) else
                    "jax" if compat.is_jax_array(like) else
                    "dask" if compat.is_dask_array(like) else "other")
        info = xp.__array_namespace_info__()
        floats = info.dtypes(kind="real floating")
        self.cdtype = xp.float64 if "float64" in floats else xp.float32
        self.default_float = self.cdtype

    # -- arguments -------------------------------------------------------------
    def input(self, x, fname, name="x"):
        """``(x in the compute dtype, result dtype)``; complex and others raise TypeError."""
        x = self._own(x, fname, name)
        kind = self.kind(x.dtype)
        if kind is None:
            raise _policy._dtype_error(fname, name, x.dtype)
        out = x.dtype if kind == "float" else self.default_float
        # The shift x - m needs its TwoSum correction where x is as precise as
        # the compute dtype (float64, or integers made float64).
        self.exact = out == self.cdtype
        return self.astype(x, self.cdtype), out

    def kind(self, dt):
        """``"float"``, ``"integer"`` (bools included) or None (complex and the rest)."""
        if isinstance(dt, np.dtype):
            # NumPy-backed arrays (NumPy, Dask): ml_dtypes' bfloat16 is a float too.
            return ("float" if dt.kind == "f" or _policy.is_small_float(dt) else
                    "integer" if dt.kind in "biu" else None)
        return ("float" if self.xp.isdtype(dt, "real floating") else
                "integer" if self.xp.isdtype(dt, ("integral", "bool")) else None)

    def astype(self, a, dtype):
        return a if a.dtype == dtype else self.xp.astype(a, dtype)

    def operand(self, value, fname, name, shape, kind="real"):
        """A secondary argument (``g``, ``v``, ``where``, ``b``) broadcast to ``shape``.

        ``kind`` is ``"real"`` (cast to the compute dtype) or ``"bool"`` (a mask).
        """
        xp = self.xp
        value = self._own(value, fname, name)
        dt, vshape = value.dtype, tuple(value.shape)
        if kind == "bool":
            if dt != xp.bool:
                raise TypeError(f"{fname}: where must be a boolean mask broadcastable to x's "
                                f"shape {tuple(shape)}; received dtype {dt}")
            if not _broadcasts(vshape, shape):
                raise _policy.ArgumentError(f"{fname}: where of shape {vshape} does not "
                                            f"broadcast to x's shape {tuple(shape)}")
            return xp.broadcast_to(value, tuple(shape))
        if self.kind(dt) is None:
            raise _policy._dtype_error(fname, name, dt)
        if not _broadcasts(vshape, shape):
            what = "x's shape" if name == "b" else "the expected shape"
            raise _policy.ArgumentError(f"{fname}: {name} of shape {vshape} does not "
                                        f"broadcast to {what} {tuple(shape)}")
        return xp.broadcast_to(self.astype(value, self.cdtype), tuple(shape))

    def _own(self, value, fname, name):
        """``value`` as an array of this call's namespace (a NumPy ``g`` for a tensor ``x``)."""
        import array_api_compat as compat

        if compat.is_array_api_obj(value) and compat.array_namespace(value) is self.xp:
            return value
        if isinstance(value, (str, bytes)) or value is None:
            raise TypeError(f"{fname}: {name} must be a real number or array of real "
                            f"numbers; received {_policy.describe(value)}")
        return self.xp.asarray(value, device=self.device)

    # -- primitives ------------------------------------------------------------
    def blockwise(self, fn, *arrays, dtype=None):
        """``fn(xp, *arrays)``: elementwise work (per block and quiet on Dask)."""
        if self.lib == "dask":
            dtype = np.dtype(np.bool_) if dtype == "bool" else np.dtype(dtype or self.cdtype)
            return _backends.dask_blockwise(fn, arrays, dtype)
        return fn(self.xp, *arrays)

    def stats(self, x, axes, temperature):
        """Row statistics ``(m, rest, n_inf)`` of ``x`` along ``axes`` (keepdims)."""
        if self.lib == "dask":
            return _backends.dask_row_stats(x, axes, temperature, self.exact, _row_stats,
                                            _merge_stats)
        return _row_stats(self.xp, x, axes, temperature, self.exact)

    def row_sum(self, a, axes):
        if self.lib == "dask":
            return _backends.dask_row_sum(a, axes)
        return self.xp.sum(a, axis=axes, keepdims=True)

    def differentiable(self, core, vjp, jvp, x):
        """``core(x)``, differentiable through ``vjp`` (torch) or ``jvp`` (JAX)."""
        if self.lib == "torch":
            return _backends.torch_differentiable(core, vjp, x)
        if self.lib == "jax":
            return _backends.jax_differentiable(core, jvp, x)
        return core(x)

    def differentiable_many(self, core, vjp, jvp, xs):
        """``core(*xs)`` with ``vjp(xs, g)`` (one gradient per input) and ``jvp(xs, vs)``."""
        if self.lib == "torch":
            return _backends.torch_differentiable_many(core, vjp, xs)
        if self.lib == "jax":
            return _backends.jax_differentiable_many(core, jvp, xs)
        return core(*xs)


def _broadcasts(src, dst) -> bool:
    """Whether an array of shape ``src`` broadcasts to ``dst`` (and not beyond)."""
    if len(src) > len(dst):
        return False
    return all(s == 1 or s == d for s, d in zip(reversed(src), reversed(tuple(dst))))


def _clip_below_zero(xp, a):
    """``max(a, 0)`` that keeps NaN (``a < 0`` is False for NaN)."""
    return xp.where(a < 0, 0.0, a)


# ----------------------------------------------------------------------------
# Elementwise cores (the formulas of sigmax._elementwise, namespace-generic).

def _sigmoid(xp, x):
    # t = exp(-|x|) never overflows; 1 + t = s + c exactly (Fast2Sum) and the
    # error c is folded back to first order: 1 / (s + c) = (1 / s)(1 - c / s).
    t = xp.exp(-xp.abs(x))
    s = 1.0 + t
    c = (1.0 - s) + t
    q = 1.0 / s
    corr = 1.0 - c * q
    return xp.where(x >= 0, q * corr, (t / s) * corr)


def _sigmoid_derivative(xp, x):
    # sigma'(x) = t / (1 + t)^2 with t = exp(-|x|), from x (not from sigma(x)).
    t = xp.exp(-xp.abs(x))
    s = 1.0 + t
    c = (1.0 - s) + t
    q = 1.0 / s
    return (t * q) * q * (1.0 - 2.0 * c * q)


def _softplus(xp, x):
    # max(x, 0) + log1p(exp(-|x|)): two non-negative terms, no cancellation.
    return _clip_below_zero(xp, x) + xp.log1p(xp.exp(-xp.abs(x)))


def _log_sigmoid(xp, x):
    return -_softplus(xp, -x)


def _log_sigmoid_derivative(xp, x):
    return _sigmoid(xp, -x)


def _logit(xp, p):
    # Four ranges, each free of cancellation (1 - p, 1 - 2p, 2p - 1 are exact
    # where used, by Sterbenz' lemma).
    lo = xp.log(p) - xp.log1p(-p)
    mid_lo = -xp.log1p((1.0 - 2.0 * p) / p)
    mid_hi = xp.log1p((2.0 * p - 1.0) / (1.0 - p))
    hi = xp.log(p / (1.0 - p))
    return xp.where(p < 0.25, lo, xp.where(p < 0.5, mid_lo, xp.where(p <= 0.75, mid_hi, hi)))


def _logit_derivative(xp, p):
    inside = (p >= 0.0) & (p <= 1.0)
    return xp.where(inside, 1.0 / (p * (1.0 - p)), math.nan)


_ELEMENTWISE = {
    "sigmoid": (_sigmoid, _sigmoid_derivative),
    "log_sigmoid": (_log_sigmoid, _log_sigmoid_derivative),
    "softplus": (_softplus, _sigmoid),
    "logit": (_logit, _logit_derivative),
}


def _elementwise(ctx, name, method, args, kwargs):
    forward, derivative = _ELEMENTWISE[name]
    fname = name if method == "__call__" else f"{name}.{method}"
    argname = "p" if name == "logit" else "x"
    xc, out = ctx.input(args[0], fname, argname)

    def vjp(x, g):
        # A zero cotangent gives a zero gradient even where f' is infinite.
        return ctx.blockwise(lambda xp, x, g: xp.where(g == 0, 0.0, g * derivative(xp, x)),
                             x, g)

    if method == "__call__":
        def jvp(x, v):
            return derivative(ctx.xp, x) * v       # linear in v, for JAX's transpose

        y = ctx.differentiable(lambda x: ctx.blockwise(forward, x), vjp, jvp, xc)
    elif method == "derivative":
        y = ctx.blockwise(derivative, xc)
    else:
        t = ctx.operand(args[1], fname, "g" if method == "vjp" else "v", xc.shape)
        y = vjp(xc, t)
    return ctx.astype(y, out)


# ----------------------------------------------------------------------------
# The shifted-row core (the algorithm of sigmax._softmax, namespace-generic).

def _shifted(xp, x, m, temperature, exact=True, inf_rows_by_inf=False):
    """``z + dz = (x - m) / T`` (TwoSum) and ``e = exp(z)(1 + dz)``, elementwise.

    The shift is by ``m`` where it is finite (0 otherwise, so NaN rows stay NaN;
    with ``inf_rows_by_inf`` a row whose maximum is ``+inf`` is shifted by
    ``+inf``: its finite entries get ``e = 0``, its ``+inf`` entries NaN).
    ``exact=False`` leaves out the TwoSum correction: for float32 (and smaller)
    inputs computed in float64 the error of ``x - m`` (relative 2**-53 of
    ``|x - m|``) is far below the result's rounding.
    """
    m0 = xp.where((m == _INF) if inf_rows_by_inf else xp.isinf(m),
                  _INF if inf_rows_by_inf else 0.0, m)
    if inf_rows_by_inf:
        m0 = xp.where(m == -_INF, 0.0, m0)
    z = x - m0
    if not exact:
        if temperature != 1.0:
            z = z / temperature
            if temperature > 1.0:
                z = xp.where((x - m0 == -_INF) & xp.isfinite(x),
                             x / temperature - m0 / temperature, z)
        return z, 0.0, xp.exp(z)
    # TwoSum: x + (-m0) = z + dz exactly (Knuth); dz is 0 where z is not finite.
    bp = z - x
    ap = z - bp
    dz = xp.where(xp.isfinite(z), (x - ap) + (-m0 - bp), 0.0)
    if temperature != 1.0:
        # Scale after the shift: x / T alone can overflow and tie distinct
        # logits.  Where x - m overflowed, a T > 1 can bring the term back.
        zt = z / temperature
        if temperature > 1.0:
            zt = xp.where((z == -_INF) & xp.isfinite(x), x / temperature - m0 / temperature, zt)
        z, dz = zt, dz / temperature
    e = xp.exp(z)
    return z, dz, e + e * dz


def _count(xp, cond, like, axes):
    """The number of True entries along ``axes`` (keepdims), in ``like``'s dtype."""
    return xp.astype(xp.count_nonzero(cond, axis=axes, keepdims=True), like.dtype)


def _row_stats(xp, x, axes, temperature, exact=True):
    """``(m, rest, n_inf)`` with keepdims: the row maximum, the sum of ``exp((x - m)/T)``
    excluding one maximal entry, and the number of ``+inf`` entries."""
    return _row_stats_full(xp, x, axes, temperature, exact)[:3]


def _row_stats_full(xp, x, axes, temperature, exact=True):
    """``(m, rest, n_inf, z, dz, e, top)``: the statistics and the pieces they came from.

    ``z + dz = (x - m)/T`` and ``e = exp(z)(1 + dz)`` as in :func:`_shifted`,
    ``top = (x == m)`` the maximal entries.  One comparison serves two counts:
    in a row whose maximum is ``+inf`` the maximal entries are its ``+inf``
    entries, so ``n_inf`` is the number of maximal entries there (0 elsewhere);
    in a finite row ``x == m`` exactly where ``z == 0``.  An empty (all
    ``-inf``) row gets ``rest = 0``.  The softmax family reuses ``z``, ``dz``,
    ``e`` and ``top`` instead of recomputing them (eager libraries; Dask keeps
    only the statistics).
    """
    if axes == ():
        # Every entry is its own row (a 0-d input with axis=None).
        zero = xp.zeros_like(x)
        return (x, zero, xp.astype(x == _INF, x.dtype)) + _shifted(xp, x, x, temperature,
                                                                   exact) + (x == x,)
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    if any(x.shape[a] == 0 for a in axes):
        zeros = xp.zeros(kept, dtype=x.dtype, device=_device(x))
        empty = xp.zeros_like(x)
        return zeros - _INF, zeros, zeros, empty, 0.0, empty, empty == 1.0
    m = xp.max(x, axis=axes, keepdims=True)
    z, dz, e = _shifted(xp, x, m, temperature, exact, inf_rows_by_inf=True)
    # The maximal entries have e == 1 exactly (and the NaN of +inf rows is
    # theirs: see _shifted); leave them out of the sum and
    # add all but one back as an exact integer: the "sum excluding the maximum".
    top = x == m
    n_top = _count(xp, top, x, axes)
    rest = xp.sum(xp.where(top, 0.0, e), axis=axes, keepdims=True) + _clip_below_zero(
        xp, n_top - 1.0)
    rest = xp.where(m == -_INF, 0.0, rest)
    n_inf = xp.where(m == _INF, n_top, 0.0)
    return m, rest, n_inf, z, dz, e, top


def _merge_stats(xp, m, rest, n_inf, axes, temperature, exact=True):
    """Merge row statistics of blocks concatenated along ``axes`` (keepdims).

    With ``M = max_j m_j``, the blocks' sums rescale by ``exp((m_j - M)/T)``:
    a block holding the maximum keeps its own ``rest`` (its maximum is the one
    excluded), every other block adds ``(1 + rest_j) exp((m_j - M)/T)``.
    """
    M = xp.max(m, axis=axes, keepdims=True)
    z, _, scale = _shifted(xp, m, M, temperature, exact)
    top = z == 0.0
    part = xp.where(top, rest, (1.0 + rest) * scale)
    total = xp.sum(part, axis=axes, keepdims=True) + _clip_below_zero(
        xp, _count(xp, top, m, axes) - 1.0)
    total = xp.where(xp.isinf(M), 0.0, total)
    return M, total, xp.sum(n_inf, axis=axes, keepdims=True)


def _device(a):
    import array_api_compat as compat

    return compat.device(a)



# ----------------------------------------------------------------------------
# Dispatch.

#: name -> implementation(ctx, name, method, args, kwargs); the modules of the
#: softmax family and the losses add theirs when imported (end of this file).
_IMPLEMENTATIONS = {name: _elementwise for name in _ELEMENTWISE}


def _foreign_arrays(args):
    return [a for a in args if a is not None and hasattr(a, "dtype") and hasattr(a, "shape")]


def _handle(name, method, args, kwargs):
    """The hook of :meth:`Function._route`: compute ``name.method`` on foreign arrays."""
    impl = _IMPLEMENTATIONS.get(name)
    if impl is None:
        return NotImplemented
    arrays = [a for a in _foreign_arrays(args) if not isinstance(a, np.ndarray)]
    if arrays and type(arrays[0]).__module__.startswith("torch"):
        from . import _triton  # CUDA tensors: the Triton kernels when triton imports
        out = _triton.handle(name, method, args, kwargs)
        if out is not NotImplemented:
            return out
    ctx = _Context((arrays or _foreign_arrays(args))[0])
    # NumPy-backed namespaces (array-api-strict, NumPy itself) must not warn.
    with np.errstate(all="ignore"):
        return impl(ctx, name, method, args, kwargs)


def call(f: Function, method: str, *args, **kwargs):
    """Run ``f.method(*args, **kwargs)`` on the array-API path, whatever the arrays.

    >>> import numpy as np
    >>> import sigmax as sx
    >>> from sigmax._generic import call
    >>> call(sx.softmax, "__call__", np.array([0.0, -np.inf]))
    array([1., 0.])
    """
    name = "softmax" if f.name == "softmax2d" else f.name
    if f.name == "softmax2d":
        f._check(None if method == "__call__" else method, args[0])
        kwargs = dict(kwargs, axis=-3)
    if not _foreign_arrays(args[:1]):
        raise TypeError(f"{f.name}: the array-API path needs an array; received "
                        f"{_policy.describe(args[0])}")
    return _handle(name, method, args, kwargs)


Function._foreign_handler = _handle

# The softmax family and the losses register themselves in _IMPLEMENTATIONS.
from . import _generic_softmax  # noqa: E402,F401  (isort: skip)
from . import _generic_losses  # noqa: E402,F401  (isort: skip)
from . import _generic_binary  # noqa: E402,F401  (isort: skip)
from . import _generic_large  # noqa: E402,F401  (isort: skip)


def _sampled(ctx, name, method, args, kwargs):
    """The sampled losses, imported on first use (they are rarely on this path)."""
    from . import _generic_sampled

    return _generic_sampled.IMPLEMENTATIONS[name](ctx, name, method, args, kwargs)


_IMPLEMENTATIONS["sampled_softmax_loss"] = _IMPLEMENTATIONS["negative_sampling_loss"] = _sampled
