"""softmax, log_softmax, logsumexp (and softmax2d) on the array-API path.

The formulas of :mod:`sigmax._softmax`, written with the primitives of
:class:`sigmax._generic._Context` (``blockwise``, ``stats``, ``row_sum``):
the row statistics ``(m, rest, n_inf)`` come from one reduction (one pass
over a Dask array), everything else is elementwise given them.  softmax2d is
routed here as softmax along axis -3.
"""

from __future__ import annotations

import math

from . import _generic, _policy
from ._generic import _INF, _row_stats_full, _shifted

__all__ = []

def _softmax_elem(temperature, exact=True):
    def fn(xp, x, m, rest, n_inf):
        _, _, e = _shifted(xp, x, m, temperature, exact)
        # e is 0 throughout an empty row; dividing by inf there keeps it 0 (the
        # row-level where is cheaper than an elementwise one).
        p = e / xp.where(m == -_INF, _INF, 1.0 + rest)
        # +inf entries share the mass equally; everything else in such a row is 0.
        share = xp.where(x == _INF, 1.0 / xp.where(n_inf < 1, 1.0, n_inf), 0.0)
        return xp.where(m == _INF, share, p)
    return fn


def _log_softmax_elem(temperature, exact=True):
    def fn(xp, x, m, rest, n_inf):
        z, dz, _ = _shifted(xp, x, m, temperature, exact)
        out = xp.where(m == -_INF, -_INF, (z + dz) - xp.log1p(rest))
        inf_row = xp.where(x == _INF, -xp.log(xp.where(n_inf < 1, 1.0, n_inf)), -_INF)
        return xp.where(m == _INF, inf_row, out)
    return fn


def _live_elem(xp, x, m):
    """Entries with a derivative: unmasked in a row with a finite maximum, or any in a NaN row."""
    return ((x > -_INF) & (m != _INF)) | xp.isnan(m)


class _Rows:
    """``x`` masked along ``axes`` with its row statistics."""

    def __init__(self, ctx, x, axes, mask=None, temperature=1.0):
        if mask is not None:
            x = ctx.blockwise(lambda xp, x, k: xp.where(k, x, -_INF), x, mask)
        self.ctx, self.x, self.axes, self.t = ctx, x, axes, temperature
        self._pieces = None
        if ctx.lib == "dask":
            self.m, self.rest, self.n_inf = ctx.stats(x, axes, temperature)
        else:
            # Eager (and traced) arrays: keep the shifted row and its exps, so
            # that softmax / log_softmax need no second exp (fewer passes).
            (self.m, self.rest, self.n_inf, *self._pieces) = _row_stats_full(
                ctx.xp, x, axes, temperature, ctx.exact)

    def _apply(self, elem):
        return self.ctx.blockwise(elem(self.t, self.ctx.exact), self.x, self.m, self.rest,
                                  self.n_inf)

    def softmax(self):
        if self._pieces is None:
            return self._apply(_softmax_elem)
        xp, m = self.ctx.xp, self.m
        _, _, e, top = self._pieces
        # Row-level factors: 1/(1 + rest) in live rows (0 in empty and +inf
        # rows); at the maximal entries that factor (e = 1 there), or 1/n_inf
        # at the +inf entries of a +inf row.  The other entries of a +inf row
        # have e = 0 (shifted by +inf, see _row_stats_full): one where in all.
        # A division by the row's 1 + rest (inf in special rows), not a product
        # with its reciprocal: one rounding, as on the NumPy path.
        denom = xp.where(xp.isinf(m), _INF, 1.0 + self.rest)
        at_top = xp.where(m == _INF, 1.0 / xp.where(self.n_inf < 1, 1.0, self.n_inf),
                          1.0 / denom)
        return xp.where(top, at_top, e / denom)

    def log_softmax(self):
        if self._pieces is None:
            return self._apply(_log_softmax_elem)
        xp, m = self.ctx.xp, self.m
        z, dz, _, top = self._pieces
        # (z + dz) - log1p(rest); an empty row is -inf by itself (z = -inf,
        # rest = 0); +inf rows: -log(n_inf) at the +inf entries, -inf elsewhere.
        out = (z + dz if self.ctx.exact else z) - xp.log1p(self.rest)
        inf_row = xp.where(top, -xp.log(xp.where(self.n_inf < 1, 1.0, self.n_inf)), -_INF)
        return xp.where(m == _INF, inf_row, out)

    def live(self):
        return self.ctx.blockwise(_live_elem, self.x, self.m, dtype="bool")

    def logsumexp(self):
        # m + log1p(rest), and m itself for empty (-inf) and +inf rows.
        return self.ctx.blockwise(
            lambda xp, m, r: xp.where(xp.isinf(m), m, m + xp.log1p(r)), self.m, self.rest)


# ----------------------------------------------------------------------------
# softmax, log_softmax (and softmax2d, routed here as softmax along axis -3).

def _axis_setup(ctx, fname, x, axis=-1, where=None, temperature=1.0):
    xc, out = ctx.input(x, fname)
    axes = _policy.normalize_axis(axis, xc.ndim, fname, tuple(xc.shape))
    mask = None if where is None else ctx.operand(where, fname, "where", xc.shape, "bool")
    t = _policy.check_temperature(temperature, fname)
    return xc, out, axes, mask, t


def _scaled(a, temp):
    """``a / T``, without a pass over ``a`` when ``T == 1``."""
    return a if temp == 1.0 else a / temp


def _softmax_product(ctx, rows, t, log, method):
    """vjp (``method == "vjp"``) or jvp of softmax / log_softmax; linear in ``t``."""
    axes, temp = rows.axes, rows.t
    p = rows.softmax()
    live = rows.live()
    tl = ctx.blockwise(lambda xp, live, t: xp.where(live, t, 0.0), live, t)
    if log:
        if method == "vjp":
            # d/dx sum(g * (x - lse)) = g - p sum(g)
            s = ctx.row_sum(tl, axes)
            def f(xp, live, tl, p, s):
                return xp.where(live, _scaled(tl - p * s, temp), 0.0)
        else:
            s = ctx.row_sum(ctx.blockwise(lambda xp, p, t: p * t, p, tl), axes)
            f = lambda xp, live, tl, p, s: xp.where(live, _scaled(tl - s, temp), 0.0)  # noqa: E731
    else:
        # d softmax = p (t - <p, t>) / T, symmetric: the same for vjp and jvp.
        s = ctx.row_sum(ctx.blockwise(lambda xp, p, t: p * t, p, tl), axes)
        def f(xp, live, tl, p, s):
            return xp.where(live, _scaled(p * (tl - s), temp), 0.0)
    return ctx.blockwise(f, live, tl, p, s)


def _jacobian(ctx, rows, log):
    xp, axes, temp = ctx.xp, rows.axes, rows.t
    live = rows.live()
    p = xp.where(live, rows.softmax(), 0.0)
    ndim = p.ndim
    nb = ndim - len(axes)
    red_shape = tuple(p.shape[a] for a in axes)
    n = math.prod(red_shape)
    moved = xp.moveaxis(p, axes, tuple(range(nb, ndim)))
    P = xp.reshape(moved, tuple(moved.shape[:nb]) + (n,))
    eye = xp.eye(n, dtype=P.dtype, device=ctx.device)
    col = xp.expand_dims(P, axis=-1)
    row = xp.expand_dims(P, axis=-2)
    # softmax: (diag(p) - p p^T) / T, symmetric as p_i p_j == p_j p_i exactly;
    # log_softmax: (I - 1 p^T) / T.
    jac = (eye - row) / temp if log else (col * eye - col * row) / temp
    jac = xp.reshape(jac, tuple(moved.shape[:nb]) + red_shape + (n,))
    jac = xp.moveaxis(jac, tuple(range(nb, ndim)), axes)
    if log:
        # Rows of masked (or +inf-row) outputs are constant: zero them.
        jac = xp.where(xp.expand_dims(live, axis=-1), jac, 0.0)
    return jac


def _softmax_family(ctx, name, method, args, kwargs):
    log = name == "log_softmax"
    fname = name if method == "__call__" else f"{name}.{method}"
    xc, out, axes, mask, temp = _axis_setup(ctx, fname, args[0], **kwargs)

    def rows(x):
        return _Rows(ctx, x, axes, mask, temp)

    if method == "__call__":
        def value(x):
            r = rows(x)
            return r.log_softmax() if log else r.softmax()

        y = ctx.differentiable(
            value,
            lambda x, g: _softmax_product(ctx, rows(x), g, log, "vjp"),
            lambda x, v: _softmax_product(ctx, rows(x), v, log, "jvp"),
            xc)
    elif method == "jacobian":
        y = _jacobian(ctx, rows(xc), log)
    else:
        t = ctx.operand(args[1], fname, "g" if method == "vjp" else "v", xc.shape)
        y = _softmax_product(ctx, rows(xc), t, log, method)
    return ctx.astype(y, out)


# ----------------------------------------------------------------------------
# logsumexp

def _lse_core(ctx, x, axes, mask, b, weights):
    """``(log|S|, sign(S), d log|S| / dx or None)`` with keepdims, ``S = sum b e^x``."""
    if b is None:
        r = _Rows(ctx, x, axes, mask)
        lse = r.logsumexp()
        sign = ctx.blockwise(
            lambda xp, m, lse: xp.where(m == -_INF, 0.0, xp.where(xp.isnan(lse), lse, 1.0)),
            r.m, lse)
        w = None
        if weights:
            w = ctx.blockwise(lambda xp, live, p: xp.where(live, p, 0.0), r.live(), r.softmax())
        return lse, sign, w
    # Weighted: entries with b == 0 take no part (also where x is inf).
    keep = ctx.blockwise(lambda xp, b: b != 0, b, dtype="bool")
    if mask is not None:
        keep = ctx.blockwise(lambda xp, k, mk: k & mk, keep, mask, dtype="bool")
    r = _Rows(ctx, x, axes, keep)
    exact = ctx.exact

    # S / e^m = B0 + R: B0 sums b over the maximal entries, R the rest.
    def parts(which):
        def fn(xp, x, m, b, keep):
            z, _, e = _shifted(xp, x, m, 1.0, exact)
            top = z == 0.0
            if which == "top":
                return xp.where(top, b, 0.0)
            if which == "rest":
                return xp.where(top | ~keep, 0.0, b * e)
            return xp.where(x == _INF, b, 0.0)
        return ctx.row_sum(ctx.blockwise(fn, r.x, r.m, b, keep), axes)

    b_top, rem, inf_b = parts("top"), parts("rest"), parts("inf")

    def combine(xp, m, b_top, rem, inf_b):
        sign = xp.sign(b_top + rem)
        ratio = rem / b_top
        # log|B0 + R| = log|B0| + log|1 + R/B0|, with log1p while 1 + R/B0 > 0.
        log_mag = xp.where(
            b_top != 0,
            xp.log(xp.abs(b_top)) + xp.where(ratio > -1.0, xp.log1p(ratio),
                                             xp.log(xp.abs(1.0 + ratio))),
            xp.log(xp.abs(rem)))
        lse = m + log_mag
        # +inf rows: the sign of the b-weighted sum of the +inf entries decides.
        pos_inf, empty = m == _INF, m == -_INF
        lse = xp.where(pos_inf, xp.where(inf_b == 0, math.nan, xp.full_like(m, _INF)), lse)
        sign = xp.where(pos_inf, xp.sign(inf_b), sign)
        lse = xp.where(empty, -_INF, lse)
        sign = xp.where(empty, 0.0, sign)
        sign = xp.where(xp.isnan(lse) & ~pos_inf, math.nan, sign)
        return lse, sign

    lse = ctx.blockwise(lambda *a: combine(*a)[0], r.m, b_top, rem, inf_b)
    sign = ctx.blockwise(lambda *a: combine(*a)[1], r.m, b_top, rem, inf_b)
    w = None
    if weights:
        # d log|S| / dx_i = b_i e^(x_i - log|S|) sign(S); 0 where S is 0 or
        # +-inf, NaN throughout a row whose value is NaN.
        def weight(xp, x, m, keep, b, lse, sign):
            live = _live_elem(xp, x, m) & keep & ~xp.isinf(lse)
            w = xp.where(live, b * xp.exp(x - lse) * sign, 0.0)
            return xp.where(xp.isnan(lse), math.nan, w)
        w = ctx.blockwise(weight, r.x, r.m, keep, b, lse, sign)
    return lse, sign, w


def _logsumexp(ctx, name, method, args, kwargs):
    fname = name if method == "__call__" else f"{name}.{method}"
    kw = dict(kwargs)
    xc, out, axes, mask, _ = _axis_setup(ctx, fname, args[0], kw.pop("axis", -1),
                                         kw.pop("where", None), 1.0)
    keepdims = _policy.check_bool(kw.pop("keepdims", False), fname, "keepdims")
    return_sign = _policy.check_bool(kw.pop("return_sign", False), fname, "return_sign")
    b = kw.pop("b", None)
    if b is not None:
        b = ctx.operand(b, fname, "b", xc.shape)
    xp = ctx.xp
    kept_shape = tuple(1 if i in axes else n for i, n in enumerate(xc.shape))
    out_shape = kept_shape if keepdims else tuple(
        n for i, n in enumerate(xc.shape) if i not in axes)

    def squeeze(a):
        return a if keepdims else xp.reshape(a, out_shape)

    def weights(x):
        _, sign, w = _lse_core(ctx, x, axes, mask, b, weights=True)
        if not return_sign:
            # The value is NaN there (log of a negative sum): so is its derivative.
            w = ctx.blockwise(lambda xp, s, w: xp.where(s < 0, math.nan, w), sign, w)
        return w

    def vjp(x, g):
        g = xp.reshape(g, kept_shape)
        return ctx.blockwise(lambda xp, g, w: xp.where(w == 0, 0.0, g * w), g, weights(x))

    def jvp(x, v):
        # Linear in v (the mask comes from the primal), for JAX's transpose.
        prod = ctx.blockwise(lambda xp, v, w: xp.where(w == 0, 0.0, w * v), v, weights(x))
        return squeeze(ctx.row_sum(prod, axes))

    if method == "__call__":
        def value(x):
            lse, sign, _ = _lse_core(ctx, x, axes, mask, b, weights=False)
            if not return_sign:
                lse = ctx.blockwise(lambda xp, s, v: xp.where(s < 0, math.nan, v), sign, lse)
                return squeeze(lse)
            return squeeze(lse), squeeze(sign)

        y = ctx.differentiable(value, vjp, jvp, xc)
        if return_sign:
            return ctx.astype(y[0], out), ctx.astype(y[1], out)
        return ctx.astype(y, out)
    if method == "vjp":
        g = ctx.operand(args[1], fname, "g", out_shape)
        return ctx.astype(vjp(xc, g), out)
    v = ctx.operand(args[1], fname, "v", xc.shape)
    return ctx.astype(jvp(xc, v), out)


_generic._IMPLEMENTATIONS.update(softmax=_softmax_family, log_softmax=_softmax_family,
                                 logsumexp=_logsumexp)
