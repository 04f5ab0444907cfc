"""sigmoid, log_sigmoid, softplus and logit, with their derivatives.

Each function is an :class:`~sigmax._function.ElementwiseFunction`: the forward
formula and the derivative formula sit side by side below.  Both are evaluated
from the input ``x`` (never from a rounded output), so that, for example,
``sigmoid.derivative(40.0)`` is ``4.248354255291589e-18`` and not 0.

The compute dtype is float64 (float32, float16 and bfloat16 inputs are rounded
back once at the end).  SPEC section 4 asks for 1 ULP in float64 too, which a
composition of library calls cannot give: NumPy's float64 ``exp`` and
``log1p`` are themselves up to ~0.65 ULP off (its SIMD versions), and
``t / (1 + t)`` after ``exp`` adds two more roundings (measured: sigmoid 1.7,
its derivative 3.5 ULP).  So every intermediate is carried as a double-double
``hi + lo`` (about 106 bits; Dekker 1971), with ``exp`` and ``log1p`` of our
own whose error is below ``2**-58`` relative; the result is rounded once.
tests/accuracy.py measures the outcome (docs/accuracy.md): <= 0.51 ULP.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np

from ._function import ElementwiseFunction

__all__ = ["sigmoid", "log_sigmoid", "softplus", "logit"]


# ---------------------------------------------------------------------------
# Double-double arithmetic (Dekker, Numer. Math. 18, 1971; Knuth, TAOCP 2,
# 4.2.2).  A pair (hi, lo) stands for the unevaluated sum hi + lo.  NumPy has
# no fused multiply-add, so exact products split their factors (Veltkamp).

_SPLITTER = 134217729.0  # 2**27 + 1


def _two_sum(a, b):
    """``a + b = s + e`` exactly (Knuth), any magnitudes."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a, b):
    """``a + b = s + e`` exactly (Dekker), for ``|a| >= |b|``."""
    s = a + b
    return s, b - (s - a)


def _split(a):
    """Veltkamp's split ``a = hi + lo``, each half with at most 26 significant bits."""
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a, b):
    """``a * b = p + e`` exactly (Dekker), for factors below ``2**995``."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd_div(ah, al, bh, bl):
    """``(ah + al) / (bh + bl)`` as a pair, to ~2**-104 (one correction of the quotient)."""
    q = ah / bh
    p, e = _two_prod(q, bh)
    # ah - p is exact (Sterbenz): the remainder of the first quotient.
    r = (((ah - p) - e) + al) - q * bl
    return _fast_two_sum(q, r / bh)


# ---------------------------------------------------------------------------
# exp and log1p as double-doubles.


def _constants():
    """ln 2 split for Cody & Waite's reduction, and the table of e^(j/64), |j| <= 24.

    Computed once with the standard library's decimal module (40 digits,
    correctly rounded), so that no hand-typed constant can be wrong.  Table
    columns: hi, lo, and the Veltkamp halves of hi (for exact products).
    """
    with localcontext() as ctx:
        ctx.prec = 40
        ln2 = Decimal(2).ln()
        # 32 fractional bits: k * _LN2_HI is exact for |k| < 2**21.
        hi = math.ldexp(math.floor(math.ldexp(float(ln2), 32)), -32)
        lo = float(ln2 - Decimal(hi))
        values = [(Decimal(j) / 64).exp() for j in range(-24, 25)]
    thi = np.array([float(v) for v in values])
    tlo = np.array([float(v - Decimal(h)) for v, h in zip(values, thi.tolist())])
    return hi, lo, np.stack([thi, tlo, *_split(thi)], axis=-1)


_LN2_HI, _LN2_LO, _EXP_TABLE = _constants()
_INV_LN2 = 1.0 / math.log(2.0)


def _exp_dd(y):
    """``e^y = 2^k (hi + lo)`` with ``hi`` in [0.7, 1.42] and a relative error below 2**-64.

    Tang's table method: ``y = k ln2 + j/64 + b`` with ``|b| <= 1/128``, so
    ``e^y = 2^k e^(j/64) e^b``; ``e^b - 1`` is a degree-7 Taylor polynomial
    (truncation below 2**-70).  ``k`` is an int32 array; ``y`` is clamped to
    [-1500, 710] (``e^-1500`` is 0 in every format); NaN gives NaN.
    """
    y = np.maximum(np.minimum(y, 710.0), -1500.0)
    kf = np.rint(y * _INV_LN2)
    rh = y - kf * _LN2_HI  # exact (Cody & Waite): y = k ln2 + rh + rl
    rl = kf * -_LN2_LO
    jf = np.rint(rh * 64.0)
    b = rh - jf * (1 / 64)  # exact
    # fmin/fmax map a NaN j to a valid row (b is NaN there anyway).
    row = _EXP_TABLE[np.fmax(np.fmin(jf, 24.0), -24.0).astype(np.intp) + 24]
    th, tl, thh, thl = row[..., 0], row[..., 1], row[..., 2], row[..., 3]
    # e^(b + rl) - 1 = b + tail: the polynomial in b, then the factor e^rl.
    poly = b * b * (0.5 + b * (1 / 6 + b * (1 / 24 + b * (1 / 120 + b * (1 / 720 + b / 5040)))))
    tail = poly + (1.0 + b + poly) * (rl + 0.5 * rl * rl)
    # th * b = p + pe exactly (Dekker's product with the stored halves of th).
    bh, bl = _split(b)
    p = th * b
    pe = ((thh * bh - p) + thh * bl + thl * bh) + thl * bl
    hi, lo = _fast_two_sum(th, p)
    lo = lo + (pe + th * tail + tl * (1.0 + b + tail))
    hi, lo = _fast_two_sum(hi, lo)
    return hi, lo, kf.astype(np.int32)


_SERIES_BELOW = 2.0**-7


def _log1p_dd(h, l):
    """``log1p(h + l)`` as a pair for ``-0.3 <= h <= 2``, relative error below 2**-58.

    Below 2**-7 a Taylor series (10 terms, truncation 2**-63 relative);
    above, one Newton step on NumPy's log1p with our exact-to-2**-64 exp:
    ``L = L0 + (1 + h + l) e^-L0 - 1`` (quadratic: the error of L0 squared).
    """
    small = np.abs(h) < _SERIES_BELOW
    out_h, out_l = np.zeros_like(h, dtype=np.float64), np.zeros_like(h, dtype=np.float64)
    if small.any():
        hs = np.where(small, h, 0.0)
        tail = hs * hs * (-0.5 + hs * (1 / 3 + hs * (-0.25 + hs * (0.2 + hs * (
            -1 / 6 + hs * (1 / 7 + hs * (-0.125 + hs * (1 / 9 - hs * 0.1))))))))
        out_h, out_l = _fast_two_sum(hs, tail + l * (1.0 - hs))
    if not small.all():
        hn = np.where(small, 1.0, h)
        l0 = np.log1p(hn)
        eh, el, k = _exp_dd(-l0)
        eh, el = np.ldexp(eh, k), np.ldexp(el, k)
        oh, ol = _two_sum(1.0, hn)
        ph, pe = _two_prod(oh, eh)
        delta = (ph - 1.0) + (pe + (oh * el + (ol + l) * eh))  # ph - 1 is exact
        nh, nl = _fast_two_sum(l0, delta)
        out_h, out_l = np.where(small, out_h, nh), np.where(small, out_l, nl)
    return out_h, out_l


def _log_dd(q):
    """``log q`` as a pair for finite ``q > 0`` (subnormals included)."""
    m, e = np.frexp(q)  # q = m 2^e, m in [1/2, 1)
    low = m < 0.7071067811865476
    m = np.where(low, 2.0 * m, m)
    e = np.where(low, e - 1, e).astype(np.float64)
    lh, ll = _log1p_dd(m - 1.0, 0.0)  # m - 1 is exact (Sterbenz)
    s, err = _two_sum(e * _LN2_HI, lh)  # e * _LN2_HI is exact
    return _fast_two_sum(s, err + (ll + e * _LN2_LO))


_TINY = 2.0**-1022  # the smallest normal float64


def _ldexp_dd(hi, lo, k):
    """``(hi + lo) 2^k`` rounded once, for ``|hi| < 2`` and ``k`` an int array.

    Normal results: ``hi + lo`` rounds, the scaling is exact.  Subnormal ones
    are rounded on their own grid 2**-1074 (``ldexp(hi + lo, k)`` would round
    twice, which costs up to 0.75 ULP just below 2**-1022).
    """
    y = np.ldexp(hi + lo, k)
    if not (np.abs(y) < _TINY).any():
        return y
    s = k + 1074
    a, b = np.ldexp(hi, s), np.ldexp(lo, s)
    r = np.rint(a)
    h = a - r  # exact, in [-1/2, 1/2]
    d = h + b
    # Past the midpoint: d beyond 1/2, or a tie of a broken by b (h + b can
    # round to exactly 1/2 when b is tiny).
    up = (d > 0.5) | ((h == 0.5) & (b > 0))
    down = (d < -0.5) | ((h == -0.5) & (b < 0))
    r = r + np.where(up, 1.0, 0.0) - np.where(down, 1.0, 0.0)
    return np.where(np.abs(y) < _TINY, np.ldexp(r, -1074), y)


# ---------------------------------------------------------------------------
# The cores (float64 in, float64 out; also used by the binary losses).


def _sigmoid_parts(x):
    """``e^-|x| = 2^k (th + tl)`` and ``1 + e^-|x| = sh + sl``."""
    th, tl, k = _exp_dd(-np.abs(x))
    sh, sl = _fast_two_sum(1.0, np.ldexp(th, k))
    return th, tl, k, sh, sl + np.ldexp(tl, k)


def _sigmoid_core(x):
    # sigma(|x|) = 1 / (1 + t) and sigma(-|x|) = t / (1 + t), t = e^-|x| <= 1,
    # so exp never overflows; the quotient is formed in double-double and
    # rounded once (ldexp by 2^k is exact unless the result is subnormal).
    with np.errstate(all="ignore"):
        th, tl, k, sh, sl = _sigmoid_parts(x)
        pos = x >= 0
        qh, ql = _dd_div(np.where(pos, 1.0, th), np.where(pos, 0.0, tl), sh, sl)
        return _ldexp_dd(qh, ql, np.where(pos, 0, k))


def _softplus_core(x):
    # softplus(x) = max(x, 0) + log1p(e^-|x|): both terms are >= 0, so the
    # sum loses nothing to cancellation, and exp never overflows.
    with np.errstate(all="ignore"):
        th, tl, k = _exp_dd(-np.abs(x))
        t = np.ldexp(th, k)
        lh, ll = _log1p_dd(t, np.ldexp(tl, k))
        s, e = _two_sum(np.maximum(x, 0.0), lh)
        out = np.where(x == np.inf, np.inf, s + (e + ll))
        # Below -40, log1p(t) = t - t^2/2 to 2**-114, formed at the scale of
        # e^-|x| (scaling t first would lose its low half near 2**-1022).
        tiny = _ldexp_dd(th, tl - 0.5 * th * t, k)
        return np.where(x < -40.0, tiny, out)


def _logit_half(q):
    """``logit(q)`` for ``0 < q <= 1/2`` (``logit(p) = -logit(1 - p)`` gives the rest)."""
    # q < 1/4: log q - log1p(-q).  q in [1/4, 1/2]: -log1p((1 - 2q) / q), where
    # 1 - 2q is exact (Sterbenz) and the quotient is a double-double.
    ah, al = _log_dd(q)
    bh, bl = _log1p_dd(np.where(q < 0.25, -q, 0.0), 0.0)
    s, e = _two_sum(ah, -bh)
    low = s + (e + (al - bl))
    qm = np.where(q < 0.25, 0.5, q)
    wh, wl = _dd_div(1.0 - 2.0 * qm, 0.0, qm, 0.0)
    mh, ml = _log1p_dd(wh, wl)
    return np.where(q < 0.25, low, -(mh + ml))


class Sigmoid(ElementwiseFunction):
    r"""The logistic sigmoid, elementwise.

    .. math::

        \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad
        \sigma'(x) = \sigma(x)\,\sigma(-x) = \frac{e^{-|x|}}{(1 + e^{-|x|})^2}

    Computed as :math:`1/(1+e^{-|x|})` or :math:`e^{-|x|}/(1+e^{-|x|})` by the
    sign of ``x``, so ``exp`` never overflows and results below 0.5 keep their
    full relative accuracy down to the subnormal range.

    Parameters
    ----------
    x : array_like
        Real input (float64, float32, float16, bfloat16; integers and bools are
        computed as float64).

    Returns
    -------
    ndarray or scalar
        :math:`\sigma(x)`, same shape and (float) dtype as ``x``.

    Methods
    -------
    derivative(x)
        :math:`\sigma'(x)`, computed from ``x`` (``sigmoid.derivative(40.)`` is
        ``4.248354255291589e-18``, not 0).
    vjp(x, g)
        ``g * sigmoid'(x)``.
    jvp(x, v)
        ``sigmoid'(x) * v``.

    See Also
    --------
    log_sigmoid, logit, softmax

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> sx.sigmoid(np.array([-0.3, -0.7]))
    array([0.42555748, 0.33181223])
    >>> float(sx.sigmoid(-800.0)), float(sx.sigmoid(-40.0))
    (0.0, 4.248354255291589e-18)
    >>> float(sx.sigmoid.derivative(40.0))
    4.248354255291589e-18
    """

    name = "sigmoid"

    def _forward(self, x):
        return _sigmoid_core(x)

    def _derivative(self, x):
        # sigma'(x) = t / (1 + t)^2 with t = exp(-|x|); even in x.  The square
        # and the quotient are double-doubles, rounded once.
        th, tl, k, sh, sl = _sigmoid_parts(x)
        qh, ql = _two_prod(sh, sh)
        dh, dl = _dd_div(th, tl, qh, ql + 2.0 * sh * sl)
        return _ldexp_dd(dh, dl, k)


class LogSigmoid(ElementwiseFunction):
    r"""The log of the logistic sigmoid, elementwise.

    .. math::

        \log\sigma(x) = -\operatorname{softplus}(-x)
                      = \min(x, 0) - \log\!\left(1 + e^{-|x|}\right), \qquad
        \frac{d}{dx}\log\sigma(x) = \sigma(-x)

    Stable for all ``x``: ``log_sigmoid(-1000.)`` is ``-1000.`` (the naive
    ``log(sigmoid(x))`` gives ``-inf``), and ``log_sigmoid(40.)`` is
    ``-4.248354255291589e-18`` (not 0).

    Parameters
    ----------
    x : array_like
        Real input.

    Returns
    -------
    ndarray or scalar
        :math:`\log\sigma(x) \le 0`, same shape and (float) dtype as ``x``.

    Methods
    -------
    derivative(x), vjp(x, g), jvp(x, v)
        With :math:`\frac{d}{dx}\log\sigma(x) = \sigma(-x)`.

    Examples
    --------
    >>> import sigmax as sx
    >>> float(sx.log_sigmoid(-1000.0)), float(sx.log_sigmoid(40.0))
    (-1000.0, -4.248354255291589e-18)
    >>> float(sx.log_sigmoid.derivative(0.0))
    0.5
    """

    name = "log_sigmoid"

    def _forward(self, x):
        return -_softplus_core(-x)

    def _derivative(self, x):
        return _sigmoid_core(-x)


class Softplus(ElementwiseFunction):
    r"""The softplus function :math:`\log(1 + e^x)`, elementwise.

    .. math::

        \operatorname{softplus}(x) = \max(x, 0) + \log\!\left(1 + e^{-|x|}\right),
        \qquad \operatorname{softplus}'(x) = \sigma(x)

    Parameters
    ----------
    x : array_like
        Real input.

    Returns
    -------
    ndarray or scalar
        :math:`\log(1 + e^x) > 0` (0 only where it underflows), same shape and
        (float) dtype as ``x``.

    Methods
    -------
    derivative(x), vjp(x, g), jvp(x, v)
        With :math:`\operatorname{softplus}'(x) = \sigma(x)`.

    Examples
    --------
    >>> import sigmax as sx
    >>> float(sx.softplus(1000.0)), float(sx.softplus(-745.0))
    (1000.0, 5e-324)
    >>> float(sx.softplus.derivative(0.0))
    0.5
    """

    name = "softplus"

    def _forward(self, x):
        return _softplus_core(x)

    def _derivative(self, x):
        return _sigmoid_core(x)


class Logit(ElementwiseFunction):
    r"""The logit (log-odds), inverse of the sigmoid, elementwise.

    .. math::

        \operatorname{logit}(p) = \log\frac{p}{1 - p}, \qquad
        \operatorname{logit}'(p) = \frac{1}{p(1 - p)}

    Evaluated on ``q = min(p, 1 - p)`` (``1 - p`` is exact for ``p >= 1/2``)
    with ``logit(p) = -logit(1 - p)``: ``log(q) - log1p(-q)`` below 1/4 and
    ``-log1p((1 - 2q)/q)`` on [1/4, 1/2] (``1 - 2q`` is exact by Sterbenz'
    lemma), in double-double arithmetic and rounded once, so no step loses
    accuracy to cancellation.  ``logit(0)`` is ``-inf``, ``logit(1)`` is ``inf``; ``p`` outside [0, 1]
    gives NaN (its domain), without a warning.

    Parameters
    ----------
    p : array_like
        Probabilities in [0, 1].

    Returns
    -------
    ndarray or scalar
        The log-odds, same shape and (float) dtype as ``p``.

    Methods
    -------
    derivative(p), vjp(p, g), jvp(p, v)
        With :math:`\operatorname{logit}'(p) = 1/(p(1-p))` (``inf`` at 0 and 1).

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> x = np.array([-300.0, 0.5, 5.0])
    >>> sx.logit(sx.sigmoid(x))     # the stable round trip
    array([-300. ,    0.5,    5. ])
    >>> float(sx.logit.derivative(0.5))
    4.0
    """

    name = "logit"
    argname = "p"

    def __call__(self, p):
        return super().__call__(p)

    def _forward(self, p):
        # The smaller of p and 1 - p (exact for p >= 1/2) goes through
        # _logit_half; p = 1/2 gives +0.0, the ends +-inf, outside [0, 1] NaN.
        q = np.where(p <= 0.5, p, 1.0 - p)
        half = _logit_half(np.where(q > 0.0, q, 0.5)) + 0.0
        out = np.where(p <= 0.5, half, -half)
        out = np.where(q == 0.0, np.where(p == 0.0, -np.inf, np.inf), out)
        return np.where((p >= 0.0) & (p <= 1.0), out, np.nan)

    def _derivative(self, p):
        # 1 / (p (1 - p)) = 1/q + 1/(1 - q) with q = min(p, 1 - p) = m 2^e:
        # both quotients are double-doubles; 2^-e (1/m + 2^e / (1 - q)) scales
        # exactly, so tiny q neither overflows the products nor loses digits.
        q = np.where(p <= 0.5, p, 1.0 - p)
        m, e = np.frexp(np.where(q > 0.0, q, 0.5))
        ah, al = _dd_div(1.0, 0.0, m, 0.0)
        oh, ol = _fast_two_sum(1.0, -q)
        bh, bl = _dd_div(1.0, 0.0, oh, ol)
        s, err = _two_sum(ah, np.ldexp(bh, e))
        out = np.ldexp(s + (err + al + np.ldexp(bl, e)), -e)
        out = np.where(q == 0.0, np.inf, out)
        return np.where((p >= 0.0) & (p <= 1.0), out, np.nan)


sigmoid = Sigmoid()
log_sigmoid = LogSigmoid()
softplus = Softplus()
logit = Logit()
