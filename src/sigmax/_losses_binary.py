"""Elementwise (binary and multi-label) losses: the BCEs and the sigmoid focal loss.

Each label is an independent yes/no question, so these losses are
elementwise: ``target`` has the shape of the input, ``weight`` (and
``pos_weight``) broadcast to it, and ``'mean'`` averages over every element
(PyTorch's convention).  The logit forms are built from the two softplus
terms, ``softplus(x) = -log(1 - sigmoid(x))`` and ``softplus(-x) =
-log sigmoid(x)``, which share one ``log1p(exp(-|x|))``; every term is a
non-negative coefficient times a non-negative softplus, so nothing cancels,
and a zero coefficient times an infinite softplus counts as 0 (the exact limits
of SPEC section 4).
"""

from __future__ import annotations

import numpy as np

from . import _dispatch, _policy
from ._elementwise import _sigmoid_core
from ._function import LossFunction
from ._losses_common import (check_target_shape, loss_input, reduce_loss, reduction_scale,
                             row_blocks, weighted)

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal_loss"]

# PyTorch clamps each log of binary_cross_entropy at -100, so that p = 0 or 1
# with the wrong label costs 100 instead of inf.
_LOG_FLOOR = -100.0


def _softplus_pair(x):
    """``(softplus(x), softplus(-x))`` with one shared ``log1p(exp(-|x|))``."""
    t = np.log1p(np.exp(-np.abs(x)))
    return np.maximum(x, 0.0) + t, np.maximum(-x, 0.0) + t


def _sigmoid(x):
    """``sigmoid(x)`` in float64 for a block: the compiled kernel where the dispatch
    takes it (float64 double-double, within 1 ULP of the plain core), else the
    plain core.  The gradients' sigmoids were 90% of ``value_and_grad``'s time."""
    x = np.asarray(x, dtype=np.float64)
    if _dispatch.use_kernel(x, "elementwise"):
        return _dispatch.kernels().sigmoid_float64(x)
    return _sigmoid_core(x)


def broadcast_operand(value, shape, fname: str, name: str) -> np.ndarray:
    """A float64 read-only view of ``value`` broadcast to ``shape`` (None passes).

    Converted before broadcasting, so a ``(C,)`` weight never becomes a full
    float64 array.
    """
    if value is None:
        return None
    arr = _policy.as_real_array(value, fname, name).astype(np.float64, copy=False)
    return _policy.check_cotangent(arr, shape, np.float64, fname, name)


class _ElementwiseLoss(LossFunction):
    """Shared driver: validation, dtype, the optional weight and the reduction.

    The work runs over blocks of about ``_BLOCK_ELEMENTS`` elements: each block
    is converted to float64, evaluated, and its losses and gradient rounded
    into the results, so the temporaries stay a few cache-sized float64 blocks
    whatever the input size; ``'mean'`` and ``'sum'`` add the float64 block
    sums.
    """

    argname = "logits"

    def _run(self, method, args, kwargs):
        routed = self._route(method, args, kwargs)
        if routed is not NotImplemented:
            return routed
        fname = self._method_name(None if method == "__call__" else method)
        x, target = args
        arr, out_dtype, cdt = loss_input(x, fname, self.argname)
        tarr = _policy.as_real_array(target, fname, "target")
        check_target_shape(tarr, arr.shape, fname)
        shape = arr.shape
        opts = self._options(fname, shape, kwargs)
        opts["weight"] = broadcast_operand(kwargs.get("weight"), shape, fname, "weight")
        reduction = _policy.check_reduction(kwargs["reduction"], fname)
        want_grad = method == "value_and_grad"
        if arr.ndim == 0:  # one block of one element
            arr, tarr = arr.reshape(1), tarr.reshape(1)
            opts = {k: v.reshape(1) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
        scale = reduction_scale(reduction, arr.size)
        per_out = np.empty(arr.shape, out_dtype) if reduction == "none" else None
        grad = np.empty(arr.shape, out_dtype) if want_grad else None
        total = 0.0
        with np.errstate(all="ignore"):
            for idx in row_blocks(arr.shape[:-1], arr.shape[-1]):
                block = {k: v[idx] if isinstance(v, np.ndarray) else v for k, v in opts.items()}
                w = block.pop("weight")
                per, dper = self._core(arr[idx].astype(cdt, copy=False),
                                       tarr[idx].astype(np.float64, copy=False), want_grad,
                                       **block)
                if w is not None:
                    per = weighted(w, per)
                    dper = None if dper is None else w * dper
                if per_out is None:
                    total += float(np.sum(per))
                else:
                    np.copyto(per_out[idx], per, casting="unsafe")
                if want_grad:
                    np.multiply(dper, scale, out=grad[idx], casting="unsafe")
            if per_out is None:
                # The float64 sum of the block sums, reduced like any loss ('mean'
                # over the elements, 0.0 for none).
                loss = reduce_loss(np.array([total]), reduction, weight_sum=arr.size)
            else:
                loss = per_out.reshape(shape)
            loss = _policy.finish(loss, out_dtype)
            if not want_grad:
                return loss
            return loss, _policy.finish(grad.reshape(shape), out_dtype)

    def _options(self, fname, shape, kwargs):
        return {}

    def _core(self, x, y, want_grad, **opts):  # pragma: no cover - always overridden
        raise NotImplementedError


class BinaryCrossEntropy(_ElementwiseLoss):
    r"""Binary cross-entropy of probabilities, elementwise.

    .. math::

        \ell = -w\,\big[y \max(\log p, -100) + (1 - y) \max(\log(1 - p), -100)\big]

    with ``log(1 - p)`` taken as ``log1p(-p)``.  Each log is clamped at -100, as
    in PyTorch, so that ``p = 0`` or ``1`` with the wrong label costs 100
    (finite) instead of ``inf``; prefer :data:`binary_cross_entropy_with_logits`
    on logits, which needs no clamp.  ``p`` outside [0, 1] is outside the
    domain and gives NaN (no warning).

    Parameters
    ----------
    probs : array_like
        Probabilities in [0, 1].
    target : array_like
        Labels (or soft labels) with the shape of ``probs``.
    weight : array_like, optional
        Rescales each element's loss; broadcasts to the shape of ``probs``.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` averages over all elements.

    Returns
    -------
    scalar or ndarray
        In the (float) dtype of ``probs``.

    Methods
    -------
    value_and_grad(probs, target, **kw)
        ``(loss, d loss / d probs)`` with
        :math:`\partial\ell/\partial p = w\,[(1 - y)/(1 - p) - y / p]`, each
        term taken only where its log is above the clamp (the clamped log is
        flat: its derivative there is 0).  PyTorch instead caps the gradient at
        ``|p - y| / 1e-12`` for ``p (1 - p) < 1e-12``; the two agree elsewhere.

    See Also
    --------
    binary_cross_entropy_with_logits

    Examples
    --------
    >>> import sigmax as sx
    >>> float(sx.binary_cross_entropy(0.8, 1.0))
    0.2231435513142097
    >>> float(sx.binary_cross_entropy(0.0, 1.0))          # clamped, as in PyTorch
    100.0
    >>> sx.binary_cross_entropy.value_and_grad([0.25, 0.5], [0.0, 1.0], reduction="sum")
    (np.float64(0.9808292530117262), array([ 1.33333333, -2.        ]))
    """

    name = "binary_cross_entropy"
    argname = "probs"

    def __call__(self, probs, target, *, weight=None, reduction="mean"):
        return self._run("__call__", (probs, target), dict(weight=weight, reduction=reduction))

    def value_and_grad(self, probs, target, *, weight=None, reduction="mean"):
        """``(loss, d loss / d probs)`` (arguments as for the call)."""
        return self._run("value_and_grad", (probs, target),
                         dict(weight=weight, reduction=reduction))

    def _core(self, p, y, want_grad):
        log_p = np.log(p)
        log_q = np.log1p(-p)
        per = -(y * np.maximum(log_p, _LOG_FLOOR) + (1.0 - y) * np.maximum(log_q, _LOG_FLOOR))
        if not want_grad:
            return per, None
        inside = (p >= 0.0) & (p <= 1.0)
        d_pos = np.where(log_p > _LOG_FLOOR, y / p, 0.0)
        d_neg = np.where(log_q > _LOG_FLOOR, (1.0 - y) / (1.0 - p), 0.0)
        return per, np.where(inside, d_neg - d_pos, np.nan)


class BinaryCrossEntropyWithLogits(_ElementwiseLoss):
    r"""Binary cross-entropy on logits, elementwise, with an optional positive weight.

    .. math::

        \ell = -w\,\big[\,p_w\, y \log\sigma(x) + (1 - y) \log(1 - \sigma(x))\big]
             = w\,\big[\,p_w\, y \operatorname{softplus}(-x)
                      + (1 - y) \operatorname{softplus}(x)\big]

    This equals PyTorch's ``(1 - y) x + (1 + (p_w - 1) y) softplus(-x)``, but
    the two-softplus form has no cancellation: ``(x, y) = (-100, 0)`` gives
    3.720075976020836e-44 where ``-100 + softplus(100)`` gives 0.  The limits
    are exact (SPEC section 4): ``(+inf, 1)`` gives 0, ``(-inf, 1)`` gives inf.

    Parameters
    ----------
    logits : array_like
        Real scores; ``sigmoid(logits)`` are the probabilities.
    target : array_like
        Labels (or soft labels in [0, 1]) with the shape of ``logits``.
    weight : array_like, optional
        Rescales each element's loss; broadcasts to the shape of ``logits``.
    pos_weight : array_like, optional
        Weight :math:`p_w` of the positive term, broadcast over the label axis
        (shape ``(C,)`` for ``(N, C)`` logits); ``p_w > 1`` raises recall.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` averages over all elements.

    Returns
    -------
    scalar or ndarray
        In the (float) dtype of ``logits``.

    Methods
    -------
    value_and_grad(logits, target, **kw)
        ``(loss, d loss / d logits)`` with
        :math:`\partial\ell/\partial x = w\,[(1 - y)\sigma(x) - p_w y\,\sigma(-x)]`,
        which is ``sigmoid(x) - y`` without weights.

    See Also
    --------
    binary_cross_entropy, sigmoid_focal_loss, cross_entropy

    Examples
    --------
    >>> import sigmax as sx
    >>> f = sx.binary_cross_entropy_with_logits
    >>> float(f(-100.0, 0.0)), float(f(float("inf"), 1.0)), float(f(float("-inf"), 1.0))
    (3.720075976020836e-44, 0.0, inf)
    >>> f.value_and_grad(-120.0, 1.0, pos_weight=3.0)
    (np.float64(360.0), np.float64(-3.0))
    """

    name = "binary_cross_entropy_with_logits"

    def __call__(self, logits, target, *, weight=None, pos_weight=None, reduction="mean"):
        return self._run("__call__", (logits, target),
                         dict(weight=weight, pos_weight=pos_weight, reduction=reduction))

    def value_and_grad(self, logits, target, *, weight=None, pos_weight=None,
                       reduction="mean"):
        """``(loss, d loss / d logits)`` (arguments as for the call)."""
        return self._run("value_and_grad", (logits, target),
                         dict(weight=weight, pos_weight=pos_weight, reduction=reduction))

    def _options(self, fname, shape, kwargs):
        return dict(pos_weight=broadcast_operand(kwargs["pos_weight"], shape, fname,
                                                 "pos_weight"))

    def _core(self, x, y, want_grad, pos_weight):
        sp_pos, sp_neg = _softplus_pair(x)
        a = y if pos_weight is None else pos_weight * y
        per = weighted(a, sp_neg) + weighted(1.0 - y, sp_pos)
        if not want_grad:
            return per, None
        return per, (1.0 - y) * _sigmoid(x) - a * _sigmoid(-x)


class SigmoidFocalLoss(_ElementwiseLoss):
    r"""The focal loss of Lin et al. on logits, elementwise (torchvision's definition).

    .. math::

        \ell = \alpha_t\,(1 - p_t)^\gamma\,\operatorname{BCE}(x, y), \qquad
        p_t = p y + (1 - p)(1 - y), \quad p = \sigma(x), \quad
        \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    (T.-Y. Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017,
    arXiv:1708.02002).  The factor is computed in log space,
    :math:`(1 - p_t)^\gamma = \exp\big(\gamma \log(\sigma(x)(1 - y) + \sigma(-x) y)\big)`
    with :math:`\log\sigma(\pm x) = -\operatorname{softplus}(\mp x)` and a
    ``logaddexp``, so a confident right answer keeps its tiny (not zero) loss.

    Parameters
    ----------
    logits : array_like
        Real scores.
    target : array_like
        Labels (or soft labels in [0, 1]) with the shape of ``logits``.
    alpha : float, default 0.25
        Weight of the positives in [0, 1]; a negative value (e.g. -1)
        disables the weighting (:math:`\alpha_t = 1`), as in torchvision.
    gamma : float, default 2.0
        Focusing exponent, >= 0; 0 gives the (alpha-weighted) BCE.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` averages over all elements.

    Returns
    -------
    scalar or ndarray
        In the (float) dtype of ``logits``.

    Methods
    -------
    value_and_grad(logits, target, **kw)
        ``(loss, d loss / d logits)``, with :math:`u = 1 - p_t`:
        :math:`\alpha_t\,[u^\gamma (\sigma(x) - y) + \gamma u^{\gamma-1}
        (1 - 2y)\,\sigma(x)\sigma(-x)\operatorname{BCE}]`, the second term in log
        space (it vanishes at infinite logits).

    See Also
    --------
    binary_cross_entropy_with_logits

    Examples
    --------
    >>> import sigmax as sx
    >>> float(sx.sigmoid_focal_loss(2.0, 1.0))
    0.0004508907088100937
    >>> float(sx.sigmoid_focal_loss(40.0, 1.0, alpha=-1, gamma=2.0))     # tiny, not 0
    7.667648073721999e-53
    """

    name = "sigmoid_focal_loss"

    def __call__(self, logits, target, *, alpha=0.25, gamma=2.0, reduction="mean"):
        return self._run("__call__", (logits, target),
                         dict(alpha=alpha, gamma=gamma, reduction=reduction))

    def value_and_grad(self, logits, target, *, alpha=0.25, gamma=2.0, reduction="mean"):
        """``(loss, d loss / d logits)`` (arguments as for the call)."""
        return self._run("value_and_grad", (logits, target),
                         dict(alpha=alpha, gamma=gamma, reduction=reduction))

    def _options(self, fname, shape, kwargs):
        alpha, shown = _policy.check_real(kwargs["alpha"], fname, "alpha")
        if not alpha <= 1.0:
            raise _policy.ArgumentError(
                f"{fname}: alpha must be in [0, 1], or negative to disable the weighting; "
                f"received {shown!r}"
            )
        gamma, shown = _policy.check_real(kwargs["gamma"], fname, "gamma")
        if not 0.0 <= gamma < np.inf:
            raise _policy.ArgumentError(
                f"{fname}: gamma must be a non-negative finite number; received {shown!r}"
            )
        return dict(alpha=alpha, gamma=gamma)

    def _core(self, x, y, want_grad, alpha, gamma):
        sp_pos, sp_neg = _softplus_pair(x)
        ce = weighted(y, sp_neg) + weighted(1.0 - y, sp_pos)
        alpha_t = 1.0 if alpha < 0 else alpha * y + (1.0 - alpha) * (1.0 - y)
        if gamma:
            # log u = log(sigma(x) (1 - y) + sigma(-x) y), u = 1 - p_t.
            log_u = np.logaddexp(np.log1p(-y) - sp_neg, np.log(y) - sp_pos)
            mod = np.exp(gamma * log_u)
        else:
            mod = np.ones_like(ce)
        per = weighted(alpha_t, weighted(mod, ce))
        if not want_grad:
            return per, None
        d_ce = (1.0 - y) * _sigmoid(x) - y * _sigmoid(-x)
        grad = mod * d_ce
        if gamma:
            # gamma u^(gamma-1) du/dx ce with du/dx = (1 - 2y) sigma(x) sigma(-x);
            # log(sigma(x) sigma(-x)) = -softplus(x) - softplus(-x).  Its limit at
            # infinite logits is 0 (sigma' decays faster than ce grows).
            log_term = (gamma - 1.0) * log_u - sp_pos - sp_neg
            second = gamma * (1.0 - 2.0 * y) * weighted(ce, np.exp(log_term))
            grad = grad + np.where(np.isinf(x), 0.0, second)
        return per, alpha_t * grad


binary_cross_entropy = BinaryCrossEntropy()
binary_cross_entropy_with_logits = BinaryCrossEntropyWithLogits()
sigmoid_focal_loss = SigmoidFocalLoss()
