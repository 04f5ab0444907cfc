"""The layer shared by every sigmax loss: reductions, blocks and loss arguments.

Losses compute a per-example value first; the reduction (``'mean'``,
``'sum'`` or ``'none'``) is a separate layer, :func:`reduce_loss`, whose
gradient factor is :func:`reduction_scale`.  They are used by
:mod:`sigmax._losses` (cross_entropy, nll_loss), :mod:`sigmax._losses_binary`
and :mod:`sigmax._large_output`, and re-exported by :mod:`sigmax._losses`.

The NumPy paths of the losses run over blocks of about :data:`_BLOCK_ELEMENTS`
elements (:func:`row_blocks`), each converted to float64 on its own, so that
their temporaries never scale with the input.
"""

from __future__ import annotations

import numpy as np

from . import _policy

__all__ = ["reduce_loss", "reduction_scale", "weighted", "check_target_shape", "loss_input",
           "row_blocks"]

# Elements per block of the fused pass: _shift holds about ten float64
# temporaries of a block.  2**13 elements keep each at 64 KiB, under glibc's
# default mmap threshold (128 KiB), so they come from the heap instead of fresh
# zeroed pages on every call (larger blocks spent half their time in page
# faults), and all of them fit in L2; the per-block Python overhead (about 40
# NumPy calls) stays small against the work.
_BLOCK_ELEMENTS = 1 << 13


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


# ----------------------------------------------------------------------------
# Shared pieces of the losses.

def weighted(w, v):
    """``w * v`` with ``0 * inf = 0``: a term without weight takes no part.

    NaN in ``v`` stays NaN (an input was NaN).
    """
    return np.where((w == 0) & ~np.isnan(v), 0.0, w * v)


def check_target_shape(target, shape, fname: str, name: str = "target") -> None:
    if target.shape != tuple(shape):
        raise _policy.ArgumentError(
            f"{fname}: {name} of shape {target.shape} does not match the expected shape "
            f"{tuple(shape)}"
        )


def loss_input(value, fname: str, name: str):
    """``(array, out_dtype, compute_dtype)`` without converting the whole array.

    The fused cores convert block by block, so a float32 input never gets a
    full float64 copy.
    """
    arr = _policy.as_real_array(value, fname, name)
    out_dtype = _policy.result_dtype(fname, name, arr.dtype)
    return arr, out_dtype, _policy.compute_dtype(arr.dtype)


def row_blocks(lead, n_classes, max_elements=None):
    """Index tuples that cover an array of shape ``lead + (C,)`` in blocks of rows.

    Each index is some leading ints and one slice, so ``a[idx]`` is a view of
    at most about ``max_elements`` elements (at least one row) whose rows are
    consecutive in C order.
    """
    if max_elements is None:
        max_elements = _BLOCK_ELEMENTS
    budget = max(1, max_elements // max(n_classes, 1))
    k, inner = len(lead), 1
    while k > 0 and inner * lead[k - 1] <= budget:
        inner *= lead[k - 1]
        k -= 1
    if k == 0:
        yield ()
        return
    step = max(1, budget // inner)
    for outer in np.ndindex(*lead[:k - 1]):
        for start in range(0, lead[k - 1], step):
            yield outer + (slice(start, min(start + step, lead[k - 1])),)
