"""softmax, log_softmax, logsumexp and softmax2d, with their derivatives.

All four share one core, :func:`_shift`, which implements the algorithm of
Blanchard, Higham & Higham, "Accurately computing the log-sum-exp and softmax
functions", IMA J. Numer. Anal. 41(4), 2021, doi:10.1093/imanum/draa038:

* shift by the row maximum ``m`` so that no ``exp`` overflows;
* sum the terms *excluding* the maximum, ``s = sum_{i != k} exp(x_i - m)``,
  and take ``log1p(s)``, which keeps full relative accuracy when one entry
  dominates (``log(1 + s)`` would round ``s`` away);
* ``log_softmax = (x - m) - log1p(s)``, never ``log(softmax)``.

On top of the paper, the rounding error of each ``x_i - m`` is recovered
exactly (TwoSum) and folded into ``exp`` to first order, so the result does not
inherit an error proportional to ``|x_i - m|`` from the subtraction.

Special rows (SPEC section 4): a row whose entries are all ``-inf`` or masked
gives softmax 0, log_softmax ``-inf``, logsumexp ``-inf`` and zero gradients; a
row with ``+inf`` entries shares the probability equally among them (the
function is locally constant there, so its gradients are 0); an unmasked NaN
in a row makes the row NaN, values and derivatives alike.  A temperature scales
``x - m`` after the shift, never ``x`` alone (``x / T`` can overflow).
"""

from __future__ import annotations

import numpy as np

from . import _dispatch, _policy
from ._function import Function

__all__ = ["softmax", "log_softmax", "logsumexp", "softmax2d"]


# ----------------------------------------------------------------------------
# The shared core.

class _Shifted:
    """Row quantities of the shifted algorithm (all with keepdims over ``axes``).

    Attributes
    ----------
    x : masked input (not scaled by the temperature), masked entries ``-inf``.
    m : row maximum of ``x`` (``-inf`` for empty/all-masked rows, NaN for NaN rows).
    z, dz : ``(x - m) / T`` and its rounding error, ``(x - m) / T = z + dz``
        (exact for ``T == 1``, TwoSum).
    e : ``exp(x - m)`` (with the ``dz`` correction).
    rest : the sum of ``e`` excluding one maximal entry (``>= 0``).
    pos_inf : rows whose maximum is ``+inf``; ``n_inf`` counts their ``+inf``.
    empty : rows with no unmasked finite-or-inf entry (maximum ``-inf``).
    """

    __slots__ = ("x", "m", "z", "dz", "e", "rest", "pos_inf", "n_inf", "empty", "axes")


def _shift(x, axes, mask=None, temperature=1.0) -> _Shifted:
    r = _Shifted()
    r.axes = axes
    if mask is not None:
        x = np.where(mask, x, -np.inf)
    r.x = x
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    r.m = m
    r.pos_inf = m == np.inf
    r.empty = m == -np.inf
    # Shift by m where it is finite; NaN rows stay NaN.
    m0 = np.where(np.isinf(m), 0.0, m)
    z = x - m0
    # TwoSum: x + (-m0) = z + dz exactly (Knuth); dz is 0 where z is not finite.
    bp = z - x
    ap = z - bp
    dz = (x - ap) + (-m0 - bp)
    dz = np.where(np.isfinite(z), dz, 0.0)
    if temperature != 1.0:
        # Scale after the shift (softmax is shift invariant): x / T alone can
        # overflow and tie logits that differ (x = [1e308, 9e307], T = 0.1 gave
        # [0.5, 0.5]); (x - m) / T <= 0 only overflows to -inf, where exp is 0
        # anyway.  Where x - m itself overflowed, a T > 1 can bring the term
        # back into range: scale each side first there.
        zt = z / temperature
        if temperature > 1.0:
            zt = np.where(np.isneginf(z) & np.isfinite(x),
                          x / temperature - m0 / temperature, zt)
        z, dz = zt, dz / temperature
    r.z, r.dz = z, dz
    e = np.exp(z)
    e = e + e * dz
    r.e = e
    # The maximal entries have z == 0 exactly (x - m rounds to 0 only when
    # x == m); leave them out of the sum and add back all but one as an exact
    # integer, which is the "sum excluding the maximum" of the paper.
    top = z == 0.0
    n_top = np.sum(top, axis=axes, keepdims=True)
    r.rest = _accurate_row_sum(np.where(top, 0.0, e), axes, np.maximum(n_top - 1, 0))
    r.n_inf = np.sum(x == np.inf, axis=axes, keepdims=True)
    return r


def _accurate_row_sum(e, axes, extra):
    """``extra + sum(e)`` along ``axes`` for terms ``0 <= e <= 1``, within about 1 ULP.

    A plain (pairwise) sum of n terms can be ~log2(n) ULP off, which a long
    softmax row passes on to every probability.  Each term is split instead
    into a head on a grid and an exact tail (one extraction step of Rump,
    Ogita & Oishi's AccSum, SIAM J. Sci. Comput. 31(1), 2008,
    doi:10.1137/050645671).  Per row, with ``M = max(max(e), extra) < 2**E``::

        hi = (e + sigma) - sigma,   sigma = 1.5 * 2**(E + 52 - k)   (e rounded to 2**(E-k))
        lo = e - hi                                                  (exact)

    With ``k = 52 - bit_length(n + 1)``, every partial sum of the heads (and
    of the integer ``extra``) is a multiple of ``2**(E-k)`` below
    ``(n + 1) 2**E``, so it has at most 53 significant bits: the heads sum
    exactly in any order.  Each tail is at most its term and at most half the
    grid, so the tails' own rounding error is below ``log2(n) n**2 2**-52``
    of the total (negligible for rows up to ~2**20 terms; longer rows are
    never worse than the pairwise sum), and the result rounds once at the
    end.  The grid follows each row's largest term, so rows of tiny terms are
    summed as accurately as rows of large ones.  NaN terms give NaN.
    """
    n = 1
    for a in axes:
        n *= e.shape[a]
    k = 52 - (n + 1).bit_length()
    if k < 1 or e.size == 0:  # pragma: no cover - rows of 2**51 terms
        return np.sum(e, axis=axes, keepdims=True) + extra
    top = np.maximum(np.max(e, axis=axes, keepdims=True), extra)
    _, E = np.frexp(top)  # top < 2**E (E = 0 for a row of zeros or NaN)
    sigma = np.ldexp(1.5, E + (52 - k))
    hi = (e + sigma) - sigma
    lo = e - hi
    return (np.sum(hi, axis=axes, keepdims=True) + extra) + np.sum(lo, axis=axes, keepdims=True)


def _softmax_from(r: _Shifted):
    p = r.e / (1.0 + r.rest)
    p = np.where(r.empty, 0.0, p)
    # +inf entries share the mass equally; everything else in such a row is 0.
    share = np.where(r.x == np.inf, 1.0, 0.0) / np.maximum(r.n_inf, 1)
    return np.where(r.pos_inf, share, p)


def _log_softmax_from(r: _Shifted):
    out = (r.z + r.dz) - np.log1p(r.rest)
    out = np.where(r.empty, -np.inf, out)
    inf_row = np.where(r.x == np.inf, 0.0 - np.log(np.maximum(r.n_inf, 1)), -np.inf)
    return np.where(r.pos_inf, inf_row, out)


def _logsumexp_from(r: _Shifted):
    # m + log1p(rest) is m for empty rows (-inf) and +inf rows.
    out = r.m + np.log1p(r.rest)
    return np.where(r.empty | r.pos_inf, r.m, out)


def _live(r: _Shifted):
    """Entries with a derivative: unmasked in a row with a finite maximum, or any in a NaN row.

    A NaN row has a NaN value everywhere, so its derivatives are NaN everywhere too.
    """
    return ((r.x > -np.inf) & ~r.pos_inf) | np.isnan(r.m)


def _row_sum(a, axes):
    return np.sum(a, axis=axes, keepdims=True)


# ----------------------------------------------------------------------------
# The public objects.

class _AxisFunction(Function):
    """Common prologue of the functions that reduce along ``axis``."""

    kind = "along-an-axis"

    def _kernel(self, glue, x, *args):
        """The result of the compiled kernel path, or ``NotImplemented`` for the plain one."""
        if _dispatch.use_kernel(x, "softmax"):
            return getattr(_dispatch.kernels(), glue)(self, *args)
        return NotImplemented

    def _setup(self, method, x, axis, where, temperature=1.0):
        fname = self._method_name(method)
        arr, out_dtype = _policy.as_input(x, fname, "x")
        axes = _policy.normalize_axis(axis, arr.ndim, fname, arr.shape)
        mask = _policy.check_where(where, arr.shape, fname)
        t = _policy.check_temperature(temperature, fname)
        return fname, arr, out_dtype, axes, mask, t

    def _jacobian_from_rows(self, arr, axes, rows_fn):
        """Build ``x.shape + (n,)`` from a function of the flattened rows.

        ``rows_fn(P)`` receives the reduced axes moved last and flattened to
        ``(..., n)`` and returns ``(..., n, n)`` with ``[..., i, j] = dy_i/dx_j``.
        """
        nb = arr.ndim - len(axes)
        red_shape = tuple(arr.shape[a] for a in axes)
        n = int(np.prod(red_shape, dtype=np.int64))
        moved = np.moveaxis(arr, axes, range(nb, arr.ndim))
        flat = moved.reshape(moved.shape[:nb] + (n,))
        jac = rows_fn(flat)
        jac = jac.reshape(moved.shape[:nb] + red_shape + (n,))
        return np.moveaxis(jac, range(nb, arr.ndim), axes)



class _NormalisedFunction(_AxisFunction):
    """softmax and log_softmax: the value and the O(n) products share one prologue.

    Subclasses define ``_value(r)`` (from the shifted row quantities) and
    ``_product_core(method, r, p, tl, axes, temp)``, the vjp or jvp of live
    entries (``tl`` is the cotangent or tangent, zero where not live).
    """

    def __call__(self, x, axis=-1, *, where=None, temperature=1.0):
        routed = self._route("__call__", (x,), dict(axis=axis, where=where,
                                                   temperature=temperature))
        if routed is not NotImplemented:
            return routed
        fast = self._kernel("softmax_method", x, None, x, None, axis, where, temperature)
        if fast is not NotImplemented:
            return fast
        _, arr, out_dtype, axes, mask, t = self._setup(None, x, axis, where, temperature)
        with np.errstate(all="ignore"):
            out = self._value(_shift(arr, axes, mask, t))
        return _policy.finish(out, out_dtype)

    def _product(self, method, tname, x, t, axis, where, temperature):
        routed = self._route(method, (x, t), dict(axis=axis, where=where,
                                                 temperature=temperature))
        if routed is not NotImplemented:
            return routed
        fast = self._kernel("softmax_method", x, method, x, t, axis, where, temperature)
        if fast is not NotImplemented:
            return fast
        fname, arr, out_dtype, axes, mask, temp = self._setup(method, x, axis, where,
                                                              temperature)
        tarr = _policy.check_cotangent(t, arr.shape, arr.dtype, fname, tname)
        with np.errstate(all="ignore"):
            r = _shift(arr, axes, mask, temp)
            p = _softmax_from(r)
            live = _live(r)
            tl = np.where(live, tarr, 0.0)
            # Masked and +inf rows give 0.
            out = np.where(live, self._product_core(method, r, p, tl, axes, temp), 0.0)
        return _policy.finish(out, out_dtype)

    def vjp(self, x, g, axis=-1, *, where=None, temperature=1.0):
        """Gradient of ``sum(g * f(x))`` w.r.t. ``x`` in O(n) per row."""
        return self._product("vjp", "g", x, g, axis, where, temperature)

    def jvp(self, x, v, axis=-1, *, where=None, temperature=1.0):
        """Directional derivative of ``f`` at ``x`` along ``v``, O(n) per row."""
        return self._product("jvp", "v", x, v, axis, where, temperature)

    def _jacobian(self, x, axis, where, temperature, rows, zero_dead_rows):
        """The Jacobian from ``rows(P, temp)`` of the live probabilities."""
        routed = self._route("jacobian", (x,), dict(axis=axis, where=where,
                                                   temperature=temperature))
        if routed is not NotImplemented:
            return routed
        _, arr, out_dtype, axes, mask, temp = self._setup("jacobian", x, axis, where,
                                                          temperature)
        with np.errstate(all="ignore"):
            r = _shift(arr, axes, mask, temp)
            live = _live(r)
            p = np.where(live, _softmax_from(r), 0.0)
            jac = self._jacobian_from_rows(p, axes, lambda P: rows(P, temp))
            if zero_dead_rows:
                jac = np.where(live[..., None], jac, 0.0)
        return _policy.finish(jac, out_dtype)

class Softmax(_NormalisedFunction):
    r"""The softmax along an axis: probabilities that sum to 1.

    .. math::

        \operatorname{softmax}(x)_i = \frac{e^{x_i/T}}{\sum_j e^{x_j/T}}
        = \frac{e^{(x_i - m)/T}}{1 + \sum_{j \ne k} e^{(x_j - m)/T}},
        \qquad m = x_k = \max_j x_j

    Shifted by the maximum (Blanchard, Higham & Higham 2021,
    doi:10.1093/imanum/draa038), so that large logits cannot overflow; tiny
    probabilities are kept, subnormals included.  Translation invariant:
    ``softmax(x + c) == softmax(x)``.  For two classes,
    ``softmax(x)[..., 0] == sigmoid(x[..., 0] - x[..., 1])``.

    Parameters
    ----------
    x : array_like
        Logits.
    axis : int, tuple of ints or None, default -1
        The axis or axes that sum to 1; ``None`` means all axes.
    where : array_like of bool, optional
        Mask broadcastable to ``x``; masked-out entries take no part and get
        probability 0.  A row with nothing left (or only ``-inf``) gives zeros.
    temperature : float, default 1.0
        Positive scale :math:`T`; the result is ``softmax(x / T)``.

    Returns
    -------
    ndarray
        Same shape and (float) dtype as ``x``.

    Methods
    -------
    vjp(x, g, axis=-1, *, where=None, temperature=1.0)
        :math:`p \odot (g - \langle p, g\rangle) / T`, O(n) per row.
    jvp(x, v, axis=-1, *, where=None, temperature=1.0)
        :math:`p \odot (v - \langle p, v\rangle) / T` (the Jacobian is symmetric).
    jacobian(x, axis=-1, *, where=None, temperature=1.0)
        :math:`(\operatorname{diag}(p) - p p^\top)/T`, shape ``x.shape + (n,)``:
        ``J[..., i, ..., j] = d softmax_i / d x_j`` with ``i`` at the position
        of ``axis`` and ``j`` last (``n`` is the product of the reduced sizes).

    See Also
    --------
    log_softmax, logsumexp, sigmoid

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> x = np.array([[-0.3, -0.7], [0.3, 0.7], [1.1, -0.7], [-1.1, 0.7]])
    >>> sx.softmax(x, axis=1).round(4)
    array([[0.5987, 0.4013],
           [0.4013, 0.5987],
           [0.8581, 0.1419],
           [0.1419, 0.8581]])

    The naive formula overflows where the shifted one does not:

    >>> big = np.array([1000.0, 999.0])
    >>> with np.errstate(all="ignore"):
    ...     np.exp(big) / np.exp(big).sum()
    array([nan, nan])
    >>> sx.softmax(big)
    array([0.73105858, 0.26894142])
    """

    name = "softmax"
    methods = ("vjp", "jvp", "jacobian")

    def _value(self, r):
        return _softmax_from(r)

    def _product_core(self, method, r, p, tl, axes, temp):
        # d softmax = p * (t - <p, t>) / T, for the vjp and the jvp alike
        # (the Jacobian is symmetric).
        return p * (tl - _row_sum(p * tl, axes)) / temp

    def jacobian(self, x, axis=-1, *, where=None, temperature=1.0):
        """The Jacobian along ``axis``, shape ``x.shape + (n,)``; symmetric."""
        def rows(P, temp):
            # J = (diag(p) - p p^T) / T; p_i p_j == p_j p_i exactly, so J is symmetric.
            eye = np.eye(P.shape[-1], dtype=P.dtype)
            return (P[..., :, None] * eye - P[..., :, None] * P[..., None, :]) / temp

        return self._jacobian(x, axis, where, temperature, rows, zero_dead_rows=False)


class LogSoftmax(_NormalisedFunction):
    r"""The log of the softmax along an axis, computed without taking a log of it.

    .. math::

        \operatorname{log\_softmax}(x)_i = \frac{x_i - m}{T}
            - \log\!\Big(1 + \sum_{j \ne k} e^{(x_j - m)/T}\Big),
        \qquad m = x_k = \max_j x_j

    (Blanchard, Higham & Higham 2021, doi:10.1093/imanum/draa038).  Finite for
    every finite input, however far apart the logits are.

    Parameters
    ----------
    x : array_like
        Logits.
    axis : int, tuple of ints or None, default -1
        The axis or axes to normalise over.
    where : array_like of bool, optional
        Mask broadcastable to ``x``; masked-out entries get ``-inf``.
    temperature : float, default 1.0
        Positive scale :math:`T`; the result is ``log_softmax(x / T)``.

    Returns
    -------
    ndarray
        Same shape and (float) dtype as ``x``; ``exp`` of it is ``softmax(x)``.

    Methods
    -------
    vjp(x, g, axis=-1, *, where=None, temperature=1.0)
        :math:`(g - p \sum_j g_j)/T` over the live entries, O(n) per row.
    jvp(x, v, axis=-1, *, where=None, temperature=1.0)
        :math:`(v - \langle p, v\rangle)/T` over the live entries.
    jacobian(x, axis=-1, *, where=None, temperature=1.0)
        :math:`(I - \mathbf{1} p^\top)/T`, shape ``x.shape + (n,)``.

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> sx.log_softmax(np.array([0.0, -1000.0]))
    array([    0., -1000.])
    >>> with np.errstate(all="ignore"):          # the naive log(softmax)
    ...     np.log(np.exp([0.0, -1000.0]) / np.exp([0.0, -1000.0]).sum())
    array([  0., -inf])
    """

    name = "log_softmax"
    methods = ("vjp", "jvp", "jacobian")

    def _value(self, r):
        return _log_softmax_from(r)

    def _product_core(self, method, r, p, tl, axes, temp):
        if method == "vjp":
            # d/dx sum(g * (x - lse)) = g - p * sum(g)
            return (tl - p * _row_sum(tl, axes)) / temp
        return (tl - _row_sum(p * tl, axes)) / temp

    def jacobian(self, x, axis=-1, *, where=None, temperature=1.0):
        """The Jacobian along ``axis``, shape ``x.shape + (n,)``: ``I - 1 p^T``."""
        def rows(P, temp):
            # J = (I - 1 p^T) / T
            return (np.eye(P.shape[-1], dtype=P.dtype) - P[..., None, :]) / temp

        # Rows i of masked (or +inf-row) outputs are constant: zero them.  A
        # masked column j already has p_j = 0 and no diagonal term in a live row.
        return self._jacobian(x, axis, where, temperature, rows, zero_dead_rows=True)


class LogSumExp(_AxisFunction):
    r"""The log of the sum of exponentials along an axis, optionally weighted.

    .. math::

        \operatorname{logsumexp}(x) = \log\sum_i b_i e^{x_i}
            = m + \log\!\Big(b_k + \sum_{i \ne k} b_i e^{x_i - m}\Big),
        \qquad m = x_k = \max_{i:\, b_i \ne 0} x_i

    evaluated as ``m + log1p(sum_{i != k} exp(x_i - m))`` when ``b`` is not given
    (Blanchard, Higham & Higham 2021, doi:10.1093/imanum/draa038): the terms
    other than the maximum are summed apart from it for precision.

    Parameters
    ----------
    x : array_like
        Input.
    axis : int, tuple of ints or None, default -1
        Axis or axes to reduce.
    keepdims : bool, default False
        Keep the reduced axes with size 1.
    where : array_like of bool, optional
        Mask broadcastable to ``x``; masked entries are left out.
    b : array_like, optional
        Weights broadcastable to ``x``, may be negative; entries with ``b == 0``
        are left out (also when ``x`` is ``inf`` there).
    return_sign : bool, default False
        If True return ``(log|S|, sign(S))`` for ``S = sum b e^x``; if False a
        negative ``S`` gives NaN.

    Returns
    -------
    ndarray or scalar, or a pair of them
        ``-inf`` for an empty or fully masked reduction (sign 0).

    Methods
    -------
    vjp(x, g, axis=-1, *, keepdims=False, where=None, b=None, return_sign=False)
        ``g * b * exp(x - logsumexp(x)) * sign``: the softmax for unit weights.
    jvp(x, v, axis=-1, *, keepdims=False, where=None, b=None, return_sign=False)
        ``sum(softmax-weights * v)`` along the axis.

    The derivatives are those of ``log|S|``; where ``S < 0`` and
    ``return_sign`` is False, the value is NaN and so are its derivatives.

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> float(sx.logsumexp([1000.0, 1000.0]))          # the naive form overflows
    1000.6931471805599
    >>> float(sx.logsumexp([0.0, -40.0]))               # log(1 + tiny) kept
    4.248354255291589e-18
    >>> sx.logsumexp([1.0, 2.0], b=[1.0, -1.0], return_sign=True)
    (np.float64(1.5413248546129181), np.float64(-1.0))
    """

    name = "logsumexp"
    methods = ("vjp", "jvp")

    def __call__(self, x, axis=-1, *, keepdims=False, where=None, b=None,
                 return_sign=False):
        kw = dict(axis=axis, keepdims=keepdims, where=where, b=b, return_sign=return_sign)
        routed = self._route("__call__", (x,), kw)
        if routed is not NotImplemented:
            return routed
        fast = self._kernel("logsumexp_method", x, None, x, None, axis, keepdims, where, b,
                            return_sign)
        if fast is not NotImplemented:
            return fast
        fname, arr, out_dtype, axes, mask, keepdims, barr, return_sign = \
            self._lse_setup(None, x, axis, keepdims, where, b, return_sign)
        with np.errstate(all="ignore"):
            lse, sign, _ = _lse_core(arr, axes, mask, barr)
            if not return_sign:
                lse = np.where(sign < 0, np.nan, lse)
        if not keepdims:
            lse = np.squeeze(lse, axis=axes)
            sign = np.squeeze(sign, axis=axes)
        if return_sign:
            return _policy.finish(lse, out_dtype), _policy.finish(sign, out_dtype)
        return _policy.finish(lse, out_dtype)

    def _lse_setup(self, method, x, axis, keepdims, where, b, return_sign):
        fname, arr, out_dtype, axes, mask, _ = self._setup(method, x, axis, where)
        keepdims = _policy.check_bool(keepdims, fname, "keepdims")
        return_sign = _policy.check_bool(return_sign, fname, "return_sign")
        barr = None
        if b is not None:
            barr = _policy.as_real_array(b, fname, "b")
            try:
                barr = np.broadcast_to(barr, arr.shape)
            except ValueError:
                raise _policy.ArgumentError(
                    f"{fname}: b of shape {barr.shape} does not broadcast to x's shape "
                    f"{arr.shape}"
                ) from None
            barr = barr.astype(arr.dtype, copy=False)
        return fname, arr, out_dtype, axes, mask, keepdims, barr, return_sign

    def _weights(self, method, x, t, axis, keepdims, where, b, return_sign):
        fname, arr, out_dtype, axes, mask, keepdims, barr, return_sign = \
            self._lse_setup(method, x, axis, keepdims, where, b, return_sign)
        with np.errstate(all="ignore"):
            lse, sign, w = _lse_core(arr, axes, mask, barr, weights=True)
            if not return_sign:
                # The value is NaN there (log of a negative sum): so is its derivative.
                w = np.where(sign < 0, np.nan, w)
        return fname, arr, out_dtype, axes, keepdims, lse, sign, w

    def vjp(self, x, g, axis=-1, *, keepdims=False, where=None, b=None, return_sign=False):
        """Gradient of ``sum(g * logsumexp(x))`` w.r.t. ``x``.

        ``g`` has the shape of the result (of ``log|S|`` when ``return_sign``).
        """
        kw = dict(axis=axis, keepdims=keepdims, where=where, b=b, return_sign=return_sign)
        routed = self._route("vjp", (x, g), kw)
        if routed is not NotImplemented:
            return routed
        fast = self._kernel("logsumexp_method", x, "vjp", x, g, axis, keepdims, where, b,
                            return_sign)
        if fast is not NotImplemented:
            return fast
        fname, arr, out_dtype, axes, keepdims, lse, sign, w = self._weights(
            "vjp", x, g, axis, keepdims, where, b, return_sign)
        out_shape = lse.shape if keepdims else np.squeeze(lse, axis=axes).shape
        garr = _policy.check_cotangent(g, out_shape, arr.dtype, fname, "g")
        if not keepdims:
            garr = np.expand_dims(garr, axes)
        with np.errstate(all="ignore"):
            out = np.where(w == 0, 0.0, garr * w)
        return _policy.finish(out, out_dtype)

    def jvp(self, x, v, axis=-1, *, keepdims=False, where=None, b=None, return_sign=False):
        """Directional derivative of ``logsumexp`` at ``x`` along ``v``."""
        kw = dict(axis=axis, keepdims=keepdims, where=where, b=b, return_sign=return_sign)
        routed = self._route("jvp", (x, v), kw)
        if routed is not NotImplemented:
            return routed
        fast = self._kernel("logsumexp_method", x, "jvp", x, v, axis, keepdims, where, b,
                            return_sign)
        if fast is not NotImplemented:
            return fast
        fname, arr, out_dtype, axes, keepdims, lse, sign, w = self._weights(
            "jvp", x, v, axis, keepdims, where, b, return_sign)
        varr = _policy.check_cotangent(v, arr.shape, arr.dtype, fname, "v")
        with np.errstate(all="ignore"):
            out = _row_sum(np.where(w == 0, 0.0, w * varr), axes)
        if not keepdims:
            out = np.squeeze(out, axis=axes)
        return _policy.finish(out, out_dtype)


def _lse_core(x, axes, mask, b, weights=False):
    """``(log|S|, sign(S), dlog|S|/dx or None)`` with keepdims, ``S = sum b e^x``."""
    if b is None:
        r = _shift(x, axes, mask)
        lse = _logsumexp_from(r)
        sign = np.where(r.empty, 0.0, np.where(np.isnan(lse), np.nan, 1.0))
        w = None
        if weights:
            w = np.where(_live(r), _softmax_from(r), 0.0)
        return lse, sign, w
    # Weighted: entries with b == 0 take no part (also where x is inf).
    keep = b != 0
    if mask is not None:
        keep = keep & mask
    r = _shift(x, axes, keep)
    # S / e^m = B0 + R: B0 sums b over the maximal entries, R the rest.
    top = r.z == 0.0
    b_top = _row_sum(np.where(top, b, 0.0), axes)
    rem = _row_sum(np.where(top | ~keep, 0.0, b * r.e), axes)
    total = b_top + rem
    sign = np.sign(total)
    ratio = rem / b_top
    # log|B0 + R| = log|B0| + log|1 + R/B0|, with log1p while 1 + R/B0 > 0.
    log_mag = np.where(
        b_top != 0,
        np.log(np.abs(b_top)) + np.where(ratio > -1.0, np.log1p(ratio),
                                         np.log(np.abs(1.0 + ratio))),
        np.log(np.abs(rem)),
    )
    lse = r.m + log_mag
    # +inf rows: the sign of the b-weighted sum of the +inf entries decides.
    inf_b = _row_sum(np.where(r.x == np.inf, b, 0.0), axes)
    lse = np.where(r.pos_inf, np.where(inf_b == 0, np.nan, np.inf), lse)
    sign = np.where(r.pos_inf, np.sign(inf_b), sign)
    lse = np.where(r.empty, -np.inf, lse)
    sign = np.where(r.empty, 0.0, sign)
    sign = np.where(np.isnan(lse) & ~r.pos_inf, np.nan, sign)
    w = None
    if weights:
        # d log|S| / dx_i = b_i e^(x_i - log|S|) sign(S); constant (0) where S is
        # 0 or +-inf, NaN throughout a row whose value is NaN.
        live = _live(r) & keep & ~np.isinf(lse)
        w = np.where(live, b * np.exp(r.x - lse) * sign, 0.0)
        w = np.where(np.isnan(lse), np.nan, w)
    return lse, sign, w


class Softmax2d(Softmax):
    r"""Softmax over the channel axis of a (C, H, W) or (N, C, H, W) array.

    Equal to ``softmax(x, axis=-3)`` (PyTorch's ``nn.Softmax2d``): at every
    pixel, the channels sum to 1.

    Parameters
    ----------
    x : array_like
        An array with 3 or 4 dimensions.

    Returns
    -------
    ndarray
        Same shape and (float) dtype as ``x``.

    Methods
    -------
    vjp(x, g), jvp(x, v), jacobian(x)
        Those of ``softmax`` along axis -3.

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> x = np.random.default_rng(0).normal(size=(1, 3, 2, 2))
    >>> bool(np.allclose(sx.softmax2d(x).sum(axis=1), 1.0))
    True
    """

    name = "softmax2d"
    methods = ("vjp", "jvp", "jacobian")

    def _route(self, method, args, kwargs):
        # Foreign arrays take the path of softmax along axis -3.
        return softmax._route(method, args, kwargs)

    def _check(self, method, x):
        # The dimension rule comes first; the rest of the checks (dtype, g/v
        # shape) are softmax's, under this function's name.
        fname = self._method_name(method)
        ndim = getattr(x, "ndim", None)
        if ndim is None:
            ndim = _policy.as_real_array(x, fname, "x").ndim
        if ndim not in (3, 4):
            raise _policy.ArgumentError(
                f"{fname}: x must have 3 dimensions (C, H, W) or 4 (N, C, H, W); "
                f"received shape {tuple(np.shape(x))}"
            )

    def __call__(self, x):
        self._check(None, x)
        return super().__call__(x, axis=-3)

    def vjp(self, x, g):
        """Gradient of ``sum(g * softmax2d(x))`` w.r.t. ``x``."""
        self._check("vjp", x)
        return super().vjp(x, g, axis=-3)

    def jvp(self, x, v):
        """Directional derivative of softmax2d at ``x`` along ``v``."""
        self._check("jvp", x)
        return super().jvp(x, v, axis=-3)

    def jacobian(self, x):
        """The channel Jacobian, shape ``x.shape + (C,)``."""
        self._check("jacobian", x)
        return super().jacobian(x, axis=-3)


softmax = Softmax()
log_softmax = LogSoftmax()
logsumexp = LogSumExp()
softmax2d = Softmax2d()
