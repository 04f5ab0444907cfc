"""The NumPy side of the kernel path: checks, layout, special rows, dtypes.

The public methods call these functions when :func:`sigmax._dispatch.use_kernel`
says so.  Each one validates its arguments with the same :mod:`sigmax._policy`
helpers, in the same order, as the plain path (so errors are identical), moves
the reduced axes last and flattens them into a C-contiguous ``(rows, n)``
array, runs the kernel, and hands the rows the kernel flagged as special
(``+-inf`` maxima, NaN, nothing unmasked) to the plain path, which owns their
rules.  A function returns ``NotImplemented`` where the plain path should do
the whole job (an empty reduction, ``logsumexp`` with ``b``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dispatch, _policy
from . import elementwise as _ew
from . import softmax as _k

__all__ = ["softmax_method", "logsumexp_method", "elementwise_method", "sigmoid_float64"]

_MODES = {
    ("softmax", None): _k.SOFTMAX, ("softmax", "vjp"): _k.SM_PROD,
    ("softmax", "jvp"): _k.SM_PROD,
    ("log_softmax", None): _k.LOG_SOFTMAX, ("log_softmax", "vjp"): _k.LSM_VJP,
    ("log_softmax", "jvp"): _k.LSM_JVP,
    ("logsumexp", None): _k.LSE, ("logsumexp", "vjp"): _k.LSE_VJP,
    ("logsumexp", "jvp"): _k.LSE_JVP,
}


#: Elements per thread below which a call stays on one thread: waking a pool
#: thread costs about as much as computing this many elements.
_PER_THREAD = 1 << 15


def _threads(size) -> int:
    """Threads for ``size`` elements (which never changes a result, only the speed)."""
    return max(1, min(_dispatch.get_num_threads(), size // _PER_THREAD))


def _same_or(given, checked):
    """``given`` itself where it already is the checked array (not a read-only view of it)."""
    if (isinstance(given, np.ndarray) and checked is not None and given.shape == checked.shape
            and given.dtype == checked.dtype):
        return given
    return checked


def _writeable(a):
    """``a``, or a copy where it is read-only (numba compiles read-only arrays apart)."""
    return a if a is None or a.flags.writeable else a.copy()


def _trailing(axes, ndim):
    return axes == tuple(range(ndim - len(axes), ndim))


def _to_rows(arr, axes):
    """``(x2, moved_shape)``: ``arr`` with ``axes`` moved last, as C-contiguous (rows, n)."""
    nb = arr.ndim - len(axes)
    # np.moveaxis costs more than a small kernel call: skip it for trailing axes.
    moved = arr if _trailing(axes, arr.ndim) else np.moveaxis(arr, axes, range(nb, arr.ndim))
    rows, n = math.prod(moved.shape[:nb]), math.prod(moved.shape[nb:])
    return np.ascontiguousarray(moved.reshape(rows, n)), moved.shape


def _from_rows(y2, moved_shape, axes):
    ndim = len(moved_shape)
    y = y2.reshape(moved_shape)
    return y if _trailing(axes, ndim) else np.moveaxis(y, range(ndim - len(axes), ndim), axes)


def _kernel_dtype(arr, t):
    """float32 only where ``x`` and the cotangent are both float32 arrays."""
    if arr.dtype == np.float32 and (t is None or (isinstance(t, np.ndarray)
                                                  and t.dtype == np.float32)):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _plain_functions():
    from .. import _softmax
    return {"softmax": _softmax.softmax, "log_softmax": _softmax.log_softmax,
            "logsumexp": _softmax.logsumexp}


def softmax_method(fn, method, x, t, axis, where, temperature):
    """``softmax``/``log_softmax`` (and softmax2d): the value, ``vjp`` or ``jvp``."""
    family = "log_softmax" if fn.name == "log_softmax" else "softmax"
    fname = fn._method_name(method)
    arr = x
    axes = _policy.normalize_axis(axis, arr.ndim, fname, arr.shape)
    mask = _policy.check_where(where, arr.shape, fname)
    temp = _policy.check_temperature(temperature, fname)
    kd = _kernel_dtype(arr, t if method else None)
    tarr = None
    if method is not None:
        tarr = _same_or(t, _policy.check_cotangent(t, arr.shape, kd, fname,
                                                   "g" if method == "vjp" else "v"))
    mask = _same_or(where, mask)
    x2, moved_shape = _to_rows(arr, axes)
    rows, n = x2.shape
    if rows == 0 or n == 0:
        return NotImplemented
    x2 = _writeable(x2.astype(kd, copy=False))
    m2 = None if mask is None else _writeable(_to_rows(mask, axes)[0])
    g2 = None if tarr is None else _writeable(_to_rows(tarr, axes)[0])
    out = np.empty_like(x2)
    special = np.zeros(rows, dtype=np.uint8)
    _k.family(x2, m2, g2, None, _MODES[family, method], temp, out, None, special,
              _threads(x2.size))
    if special.any():
        idx = np.flatnonzero(special)
        plain = _plain_functions()[family]
        kw = dict(axis=-1, where=None if m2 is None else m2[idx], temperature=temp)
        with _dispatch.plain_only():
            if method is None:
                out[idx] = plain(x2[idx], **kw)
            else:
                out[idx] = getattr(plain, method)(x2[idx], g2[idx], **kw)
    return _policy.finish(_from_rows(out, moved_shape, axes), arr.dtype)


def logsumexp_method(fn, method, x, t, axis, keepdims, where, b, return_sign):
    """``logsumexp`` without ``b``: the value (and sign), ``vjp`` or ``jvp``."""
    if b is not None:
        return NotImplemented
    fname = fn._method_name(method)
    arr = x
    axes = _policy.normalize_axis(axis, arr.ndim, fname, arr.shape)
    mask = _policy.check_where(where, arr.shape, fname)
    keepdims = _policy.check_bool(keepdims, fname, "keepdims")
    return_sign = _policy.check_bool(return_sign, fname, "return_sign")
    kept_shape = tuple(1 if a in axes else s for a, s in enumerate(arr.shape))
    red_shape = kept_shape if keepdims else tuple(
        s for a, s in enumerate(arr.shape) if a not in axes)
    kd = _kernel_dtype(arr, t if method else None)
    x2, moved_shape = _to_rows(arr, axes)
    rows, n = x2.shape
    grow = g2 = None
    if method == "vjp":
        grow = _policy.check_cotangent(t, red_shape, np.float64, fname, "g").reshape(rows)
        grow = np.ascontiguousarray(grow)
    elif method == "jvp":
        g2 = _to_rows(_same_or(t, _policy.check_cotangent(t, arr.shape, kd, fname, "v")),
                      axes)[0]
    mask = _same_or(where, mask)
    if rows == 0 or n == 0:
        return NotImplemented
    x2 = _writeable(x2.astype(kd, copy=False))
    m2 = None if mask is None else _writeable(_to_rows(mask, axes)[0])
    g2 = _writeable(g2)
    out = np.empty_like(x2) if method == "vjp" else None
    rowout = None if method == "vjp" else np.empty(rows)
    special = np.zeros(rows, dtype=np.uint8)
    _k.family(x2, m2, g2, grow, _MODES["logsumexp", method], 1.0, out, rowout, special,
              _threads(x2.size))
    sign = np.ones(rows)
    if special.any():
        idx = np.flatnonzero(special)
        plain = _plain_functions()["logsumexp"]
        kw = dict(axis=-1, where=None if m2 is None else m2[idx])
        with _dispatch.plain_only():
            if method is None:
                rowout[idx], sign[idx] = plain(x2[idx], return_sign=True, **kw)
            elif method == "vjp":
                out[idx] = plain.vjp(x2[idx], grow[idx], **kw)
            else:
                rowout[idx] = plain.jvp(x2[idx], g2[idx], **kw)
    if method == "vjp":
        return _policy.finish(_from_rows(out, moved_shape, axes), arr.dtype)
    value = _policy.finish(rowout.reshape(red_shape), arr.dtype)
    if method is None and return_sign:
        return value, _policy.finish(sign.reshape(red_shape), arr.dtype)
    return value


def elementwise_method(fn, method, x, t):
    """An elementwise function: the value, ``derivative``, ``vjp`` or ``jvp``."""
    fname = fn._method_name(method)
    arr = x
    kd = _kernel_dtype(arr, t if method in ("vjp", "jvp") else None)
    if kd != arr.dtype:
        return NotImplemented  # a float64 cotangent on float32 x: the plain path
    tarr = None
    if method in ("vjp", "jvp"):
        tarr = _same_or(t, _policy.check_cotangent(t, arr.shape, kd, fname,
                                                   "g" if method == "vjp" else "v"))
        tarr = np.ascontiguousarray(tarr).reshape(-1)
    flat = np.ascontiguousarray(arr, dtype=kd).reshape(-1)
    out = np.empty_like(flat)
    _ew.apply(fn.name, method, _writeable(flat), _writeable(tarr), out, _threads(flat.size))
    return _policy.finish(out.reshape(arr.shape), arr.dtype)


def sigmoid_float64(x):
    """``sigmoid(x)`` of a float64 array, on one thread: for the losses' blocks.

    The binary losses evaluate their gradients block by block (a few thousand
    elements each, already split by the caller), so no checks and no threads
    here; the double-double kernel is within 1 ULP of the plain path's.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _ew.apply("sigmoid", None, _writeable(x).reshape(-1), None, out.reshape(-1), 1)
    return out
