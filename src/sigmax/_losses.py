"""Classification losses: cross_entropy and nll_loss, and the reduction layer.

Losses compute a per-example value first; the reduction (``'mean'``,
``'sum'`` or ``'none'``) is a separate layer, :func:`reduce_loss`, whose
gradient factor is :func:`reduction_scale`.  Both are shared with
:mod:`sigmax._large_output`.
"""

from __future__ import annotations

import numpy as np

from . import _policy

__all__ = ["reduce_loss", "reduction_scale"]


# ----------------------------------------------------------------------------
# The reduction layer.

def _denominator(n, weight_sum):
    return float(n if weight_sum is None else weight_sum)


def reduce_loss(per_example, reduction, *, weight_sum=None):
    """Reduce per-example losses: ``'none'`` keeps them, ``'sum'`` adds them up.

    ``'mean'`` divides the sum by ``weight_sum`` when it is given (PyTorch's
    weighted mean: the sum of the weights of the counted examples), else by the
    number of examples.  A zero denominator (every target ignored, an empty
    batch, or zero weights throughout) gives 0.0, not NaN, and the gradient of
    such a mean is zero (:func:`reduction_scale` is 0).

    Sums accumulate in float64 (or in longdouble for a longdouble input).

    Parameters
    ----------
    per_example : array_like
        The per-example losses (already weighted).
    reduction : {'mean', 'sum', 'none'}
    weight_sum : float, optional
        The denominator of ``'mean'``.

    Returns
    -------
    ndarray
        ``per_example`` itself for ``'none'``; a 0-d array otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from sigmax._losses import reduce_loss
    >>> float(reduce_loss(np.array([1.0, 2.0, 6.0]), "mean"))
    3.0
    >>> float(reduce_loss(np.array([1.0, 2.0, 6.0]), "mean", weight_sum=4.5))
    2.0
    >>> float(reduce_loss(np.array([0.0, 0.0]), "mean", weight_sum=0.0))
    0.0
    """
    reduction = _policy.check_reduction(reduction, "reduce_loss")
    per = np.asarray(per_example)
    if reduction == "none":
        return per
    acc = np.result_type(per.dtype, np.float64)
    total = np.sum(per, dtype=acc)
    if reduction == "sum":
        return np.asarray(total)
    denom = _denominator(per.size, weight_sum)
    if denom == 0:
        return np.zeros((), dtype=acc)
    return np.asarray(total / acc.type(denom))


def reduction_scale(reduction, n, *, weight_sum=None) -> float:
    """The factor the reduction's gradient applies to each per-example gradient.

    1 for ``'sum'`` and ``'none'`` (for ``'none'``, ``value_and_grad`` returns
    the gradient of the sum of the per-example losses), ``1 / weight_sum`` or
    ``1 / n`` for ``'mean'``, and 0 when that denominator is 0 (see
    :func:`reduce_loss`).

    Examples
    --------
    >>> from sigmax._losses import reduction_scale
    >>> reduction_scale("mean", 4), reduction_scale("sum", 4), reduction_scale("mean", 0)
    (0.25, 1.0, 0.0)
    """
    reduction = _policy.check_reduction(reduction, "reduction_scale")
    if reduction != "mean":
        return 1.0
    denom = _denominator(n, weight_sum)
    return 0.0 if denom == 0 else 1.0 / denom
