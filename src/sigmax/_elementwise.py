"""sigmoid, log_sigmoid, softplus and logit, with their derivatives.

Each function is an :class:`~sigmax._function.ElementwiseFunction`: the forward
formula and the derivative formula sit side by side below.  Both are evaluated
from the input ``x`` (never from a rounded output), so that, for example,
``sigmoid.derivative(40.0)`` is ``4.248354255291589e-18`` and not 0.

The compute dtype is float64 (float32, float16 and bfloat16 inputs are rounded
back once at the end), which keeps float32 results correctly rounded in all but
rare double-rounding cases.
"""

from __future__ import annotations

import numpy as np

from ._function import ElementwiseFunction

__all__ = ["sigmoid", "log_sigmoid", "softplus", "logit"]


def _one_plus(t):
    """``1 + t`` for ``0 <= t <= 1`` as an unevaluated sum ``s + c`` (Fast2Sum, exact)."""
    s = 1.0 + t
    c = (1.0 - s) + t
    return s, c


def _sigmoid_core(x):
    # t = exp(-|x|) never overflows.  sigma(|x|) = 1 / (1 + t) and
    # sigma(-|x|) = t / (1 + t).  The rounding error c of 1 + t is folded back
    # in to first order, 1 / (s + c) = (1 / s)(1 - c / s), which removes one of
    # the three roundings from the error budget.
    t = np.exp(-np.abs(x))
    s, c = _one_plus(t)
    q = 1.0 / s
    corr = 1.0 - c * q
    return np.where(x >= 0, q * corr, (t / s) * corr)


def _softplus_core(x):
    # softplus(x) = max(x, 0) + log1p(exp(-|x|)): both terms are >= 0, so the
    # sum loses nothing to cancellation, and exp never overflows.
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


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
        # sigma'(x) = t / (1 + t)^2 with t = exp(-|x|); even in x.
        t = np.exp(-np.abs(x))
        s, c = _one_plus(t)
        q = 1.0 / s
        return (t * q) * q * (1.0 - 2.0 * c * q)


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

    Evaluated in four ranges so that no step loses accuracy to cancellation:
    ``log(p) - log1p(-p)`` below 1/4, ``-log1p((1 - 2p)/p)`` on [1/4, 1/2),
    ``log1p((2p - 1)/(1 - p))`` on [1/2, 3/4] and ``log(p/(1 - p))`` above 3/4
    (where ``1 - p``, ``1 - 2p`` and ``2p - 1`` are exact by Sterbenz' lemma).
    ``logit(0)`` is ``-inf``, ``logit(1)`` is ``inf``; ``p`` outside [0, 1]
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
        lo = np.log(p) - np.log1p(-p)
        mid_lo = -np.log1p((1.0 - 2.0 * p) / p)
        mid_hi = np.log1p((2.0 * p - 1.0) / (1.0 - p))
        hi = np.log(p / (1.0 - p))
        return np.where(
            p < 0.25, lo, np.where(p < 0.5, mid_lo, np.where(p <= 0.75, mid_hi, hi))
        )

    def _derivative(self, p):
        # 1 / (p (1 - p)); 1 - p is exact for p >= 1/2.  NaN outside [0, 1].
        inside = (p >= 0.0) & (p <= 1.0)
        return np.where(inside, 1.0 / (p * (1.0 - p)), np.nan)


sigmoid = Sigmoid()
log_sigmoid = LogSigmoid()
softplus = Softplus()
logit = Logit()
