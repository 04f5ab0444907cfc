"""Classification losses over a class axis: cross_entropy and nll_loss.

Losses compute a per-example value first; the reduction is a separate layer,
:func:`reduce_loss` with its gradient factor :func:`reduction_scale` (defined
in :mod:`sigmax._losses_common`, re-exported here for
:mod:`sigmax._large_output`).

Cross-entropy is evaluated from the log-sum-exp core of :mod:`sigmax._softmax`
(:func:`~sigmax._softmax._shift`, Blanchard, Higham & Higham 2021,
doi:10.1093/imanum/draa038) as ``lse - x[target]`` in shifted form,
``log1p(rest) - (x[target] - m)``: for integer targets without smoothing only
the target's log-probability is formed, never the whole log_softmax.

``value_and_grad`` runs one fused pass over blocks of rows: each block of
logits is shifted once and yields both its losses and its gradient rows
(``softmax - onehot``, scaled by the weights and the reduction), which are
rounded straight into the output array.  The extra memory is therefore the
gradient itself (one copy of the logits, in their dtype) plus a few blocks of
float64 temporaries, whatever the batch size.  The scale of a ``'mean'`` is
known before the pass: it depends on the targets and weights only.
"""

from __future__ import annotations

import numpy as np

from . import _dispatch, _policy
from ._function import LossFunction
from ._losses_common import (check_target_shape, loss_input, reduce_loss, reduction_scale,
                             row_blocks, weighted)
from ._softmax import _live, _log_softmax_from, _shift, _Shifted

__all__ = ["cross_entropy", "nll_loss", "reduce_loss", "reduction_scale"]


# ----------------------------------------------------------------------------
# Helpers of the class-axis losses.

def _kernel_glue(arr):
    """The glue of the compiled cross-entropy kernels where ``arr`` takes them, else None.

    NumPy float32/float64 logits of at least the softmax family's threshold
    (:func:`sigmax._dispatch.use_kernel`); ``SIGMAX_KERNELS=0`` and
    :func:`~sigmax._dispatch.plain_only` keep the plain path.
    """
    if _dispatch.use_kernel(arr, "softmax"):
        from ._kernels import cross_entropy_glue
        return cross_entropy_glue
    return None


def _class_weight(weight, n_classes, fname):
    if weight is None:
        return None
    w = _policy.as_real_array(weight, fname, "weight")
    if w.shape != (n_classes,):
        raise _policy.ArgumentError(
            f"{fname}: weight must have shape ({n_classes},), one weight per class; "
            f"received shape {w.shape}"
        )
    return w.astype(np.float64)


def _plain_rows(r: _Shifted) -> bool:
    """True when no row is empty, has a ``+inf`` or a NaN maximum.

    Then softmax is ``e / (1 + rest)`` throughout (``-inf`` entries have
    ``e == 0``), and the special-row selections can be skipped.
    """
    return not (r.pos_inf.any() or r.empty.any() or np.isnan(r.m).any())


def _write_masked(out, grad, r, keep=None):
    """``out[...] = grad``, zero where log_softmax is locally constant (not live).

    Not live are ``-inf`` (masked) logits and every entry of an empty or a
    ``+inf`` row; NaN rows stay NaN.  ``keep`` (rows, 1) zeroes ignored rows.
    """
    if keep is None and _plain_rows(r):
        np.copyto(out, np.where(r.x == -np.inf, 0.0, grad), casting="unsafe")
        return
    live = _live(r)
    if keep is not None:
        live &= keep
    np.copyto(out, np.where(live, grad, 0.0), casting="unsafe")


# ----------------------------------------------------------------------------
# The cross-entropy passes.  A pass sees the row blocks in C order
# (``block(idx, xb, out)``, xb (rows, C) in float64, ``out`` the (rows, C) block of
# the gradient in the result dtype, or None) and returns the per-row losses
# from ``finish``.
#
# Integer targets y with class weights w (W = sum w), smoothing eps over C classes:
#   loss = (1 - eps) w_y (lse - x_y) + (eps / C) sum_c w_c (lse - x_c)
#   dloss/dx_c = a p_c - b [c == y] - (eps / C) w_c,
#   a = (1 - eps) w_y + eps W / C,  b = (1 - eps) w_y
# Probability targets q (smoothed q' = (1 - eps) q + eps / C), wq = w q':
#   loss = sum_c wq_c (lse - x_c),   dloss/dx_c = S p_c - wq_c,  S = sum_k wq_k
# with p = softmax(x) = e / (1 + rest) in the shifted form.  The gradient is
# log_softmax's vjp with cotangent -wq: zero at -inf (masked) logits and
# throughout +inf and empty rows, where the log-probabilities are locally
# constant (SPEC section 4); so softmax's special-row values are never needed.
#
# Where the target sits on the row maximum, p - 1 = -rest / (1 + rest) is tiny
# and p rounded first would cancel to 0 (x = [0, -40], y = 0 has gradient
# -4.2e-18 at the target); a p_y - b is formed as
# (b ((e_y - 1) - rest) + (a - b) e_y) / (1 + rest), where e_y == 1 exactly at
# the maximum.

def _target_entry(a, b, e_y, rest):
    """``a p_y - b`` without the cancellation of ``p_y - 1`` (see above)."""
    return (b * ((e_y - 1.0) - rest) + (a - b) * e_y) / (1.0 + rest)


class _LabelPass:
    """Cross-entropy of integer targets, with the row-level work batched.

    A block costs its shift and one gradient pass, ``out = e * a / (1 + rest)``
    rounded once into the result.  What the loss and the target entries need
    per row (the target's shifted logit and the row sums of the shift) is
    gathered into full-length arrays and finished in one vectorised step after
    the last block, so that a block of a single long row costs little more
    than its arithmetic.  Blocks with special rows (empty, ``+inf``, NaN) or
    with label smoothing complete their gradient rows themselves.
    """

    def __init__(self, labels, keep, w, eps, scale, n_classes):
        self.n_classes, self.w, self.eps, self.scale = n_classes, w, eps, scale
        self.keep = keep.reshape(-1)
        self.cols = np.where(self.keep, labels.reshape(-1), 0)
        n = self.keep.size
        self.wy = np.ones(n) if w is None or n_classes == 0 else w[self.cols]
        w_total = n_classes if w is None else np.sum(w)
        self.a = np.where(self.keep, ((1.0 - eps) * self.wy
                                      + (eps / max(n_classes, 1)) * w_total) * scale, 0.0)
        self.b = np.where(self.keep, (1.0 - eps) * scale * self.wy, 0.0)
        # The target's row quantities, in the layout _log_softmax_from reads.
        g = self.g = _Shifted()
        for name in ("x", "z", "dz", "e", "rest"):
            setattr(g, name, np.zeros((n, 1)))
        g.pos_inf, g.empty = np.zeros((n, 1), bool), np.ones((n, 1), bool)
        g.n_inf = np.zeros((n, 1), np.intp)
        self.smooth = np.zeros(n) if eps else None
        self.done = np.zeros(n, bool)  # rows whose gradient a block completed
        self.start = 0
        self._rows = {}

    def _arange(self, n):
        if n not in self._rows:
            self._rows[n] = np.arange(n)
        return self._rows[n]

    def block(self, idx, xb, out):
        s = self.start
        e = self.start = s + xb.shape[0]
        if self.n_classes == 0:  # every label was ignored (check_labels saw to that)
            return
        r = _shift(xb, (1,))
        rows, cols, g = self._arange(e - s), self.cols[s:e], self.g
        for name in ("x", "z", "dz", "e"):
            getattr(g, name)[s:e, 0] = getattr(r, name)[rows, cols]
        for name in ("rest", "pos_inf", "empty", "n_inf"):
            getattr(g, name)[s:e] = getattr(r, name)
        eps = self.eps
        if eps:
            nls = -_log_softmax_from(r)
            self.smooth[s:e] = np.sum(nls if self.w is None else weighted(self.w, nls), axis=1)
            del nls
        if out is None:
            return
        a = self.a[s:e, None]
        coef = a / (1.0 + r.rest)
        if not eps and _plain_rows(r):
            # The common case: the target entries are written by finish().
            np.multiply(r.e, coef, out=out, casting="unsafe")
            return
        grad = r.e * coef
        grad[rows, cols] = _target_entry(a[:, 0], self.b[s:e], g.e[s:e, 0], g.rest[s:e, 0])
        if eps:
            grad -= (eps / self.n_classes) * self.scale * (1.0 if self.w is None else self.w)
        _write_masked(out, grad, r, self.keep[s:e, None])
        self.done[s:e] = True

    def finish(self, gmoved):
        g, eps = self.g, self.eps
        nls_y = -_log_softmax_from(g)[:, 0]
        per = (1.0 - eps) * (nls_y if self.w is None else weighted(self.wy, nls_y))
        if eps:
            per = per + (eps / self.n_classes) * self.smooth
        per = np.where(self.keep, per, 0.0)
        todo = np.flatnonzero(~self.done)
        if gmoved is not None and todo.size and self.n_classes:
            g_y = _target_entry(self.a[todo], self.b[todo], g.e[todo, 0], g.rest[todo, 0])
            g_y = np.where(g.x[todo, 0] == -np.inf, 0.0, g_y)
            lead = gmoved.shape[:-1]
            where = np.unravel_index(todo, lead) if lead else ()
            gmoved[where + (self.cols[todo],)] = g_y
        return per


class _ProbPass:
    """Cross-entropy of probability targets, one block at a time."""

    def __init__(self, qmoved, w, eps, scale, n_rows):
        self.qmoved, self.w, self.eps, self.scale = qmoved, w, eps, scale
        self.per = np.zeros(n_rows)
        self.start = 0

    def block(self, idx, xb, out):
        s = self.start
        e = self.start = s + xb.shape[0]
        n_classes, eps = xb.shape[1], self.eps
        qb = self.qmoved[idx].reshape(xb.shape).astype(np.float64, copy=False)
        r = _shift(xb, (1,))
        wq = qb if not eps else (1.0 - eps) * qb + eps / n_classes
        if self.w is not None:
            wq = wq * self.w
        # 0 * log 0 = 0: a class without target mass takes no part, even at a -inf logit.
        self.per[s:e] = np.sum(weighted(wq, -_log_softmax_from(r)), axis=1)
        if out is None:
            return
        total = np.sum(wq, axis=1, keepdims=True)
        # S p - wq = ((e S - wq) - wq rest) / (1 + rest): exact cancellation at a
        # one-hot target on the maximum (e == S == wq == 1).
        grad = r.e * total
        grad -= wq
        grad -= wq * r.rest
        grad *= self.scale / (1.0 + r.rest)
        _write_masked(out, grad, r)

    def finish(self, gmoved):
        return self.per


# ----------------------------------------------------------------------------
# The public objects.

class _ClassLoss(LossFunction):
    """Shared driver of the losses over a class axis: validation, blocks, reduction."""

    def _routed(self, method, args, kwargs):
        return self._route(method, args, kwargs)

    @staticmethod
    def _drive(arr, axis, cdt, out_dtype, lead, loss_pass, want_grad):
        """Feed the row blocks of ``arr`` (class axis last) to ``loss_pass``.

        Each block gets ``out``, the (rows, C) block of the gradient to fill (a
        view of the result where the layout allows, else a buffer copied
        back), or None.  Returns the per-example losses (float64, shape
        ``lead``) and the gradient (``arr``'s shape, ``out_dtype``) or None.
        """
        n_classes = arr.shape[axis]
        moved = np.moveaxis(arr, axis, -1)
        grad = np.empty(arr.shape, dtype=out_dtype) if want_grad else None
        gmoved = np.moveaxis(grad, axis, -1) if want_grad else None
        for idx in row_blocks(lead, n_classes):
            xview = moved[idx]
            rows = int(np.prod(xview.shape[:-1], dtype=np.int64))
            xb = xview.reshape(rows, n_classes).astype(cdt, copy=False)
            gview = gblock = None
            if want_grad:
                gview = gmoved[idx]
                gblock = gview.reshape(rows, n_classes)
            loss_pass.block(idx, xb, gblock)
            if want_grad and not np.may_share_memory(gblock, gview):
                gview[...] = gblock.reshape(gview.shape)
        return loss_pass.finish(gmoved).reshape(lead), grad


class CrossEntropy(_ClassLoss):
    r"""Cross-entropy between logits and integer or probability targets.

    For an integer target :math:`y` with class weights :math:`w` and label
    smoothing :math:`\varepsilon` over :math:`C` classes (PyTorch's definitions):

    .. math::

        \ell = (1 - \varepsilon)\, w_y \big(\operatorname{lse}(x) - x_y\big)
             + \frac{\varepsilon}{C} \sum_c w_c \big(\operatorname{lse}(x) - x_c\big),
        \qquad \operatorname{lse}(x) = \log \sum_c e^{x_c}

    and for a probability target :math:`q`, with :math:`q' = (1-\varepsilon) q +
    \varepsilon / C`:

    .. math::

        \ell = -\sum_c w_c\, q'_c \log\operatorname{softmax}(x)_c ,
        \qquad 0 \log 0 = 0 .

    The log-sum-exp is the max-shifted one of Blanchard, Higham & Higham (2021),
    doi:10.1093/imanum/draa038, and :math:`\operatorname{lse}(x) - x_y` is formed
    as ``log1p(rest) - (x_y - max)``: ``cross_entropy([[1000, 0]], [1])`` is
    exactly 1000 and a confident right answer keeps its tiny loss.

    Parameters
    ----------
    logits : array_like
        Unnormalised scores, the classes along ``axis``.
    target : array_like
        Integer class indices with the shape of ``logits`` without ``axis``, or
        floating-point class probabilities with the shape of ``logits`` (rows
        that do not sum to 1 are used as given: the loss is linear in ``q``).
        Float arrays are always probabilities, never labels.
    axis : int, default -1
        The class axis, anywhere (``axis=1`` for ``(N, C, H, W)``).
    weight : array_like, optional
        One weight per class, shape ``(C,)``.  With integer targets a weighted
        ``'mean'`` divides by the sum of the weights of the counted targets
        (PyTorch's convention); with probability targets it divides by the
        number of examples.
    ignore_index : int, optional
        Integer targets equal to it take no part (loss and gradient 0, not
        counted by ``'mean'``).  Not allowed with probability targets.
    label_smoothing : float in [0, 1], default 0.0
        Mixes the target with the uniform distribution over the classes.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'none'`` returns the per-example losses (the shape of ``logits``
        without ``axis``).  With every target ignored, ``'mean'`` is 0.0 (not
        NaN, unlike PyTorch) and its gradient zero; an empty batch likewise.

    Returns
    -------
    scalar or ndarray
        In the (float) dtype of ``logits``; float32 sums accumulate in float64.

    Methods
    -------
    value_and_grad(logits, target, **kw)
        ``(loss, d loss / d logits)`` from one fused pass; the gradient is
        ``softmax(x) - onehot`` scaled by the weights and the reduction (for
        ``'none'``, the gradient of the sum of the losses).

    Notes
    -----
    A ``-inf`` logit is a masked class: allowed where the target has no mass
    (its gradient is 0), an infinite loss where it has.  A row with ``+inf``
    logits shares the probability among them (SPEC section 4): the loss is
    ``log(count)`` for a target there, ``inf`` elsewhere, and the gradient of
    that row is 0.  NaN logits give NaN losses and gradients in their row.

    See Also
    --------
    nll_loss, log_softmax, binary_cross_entropy_with_logits

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 3.0, 0.0]])
    >>> float(sx.cross_entropy(logits, [0, 2]))
    1.668117126539059
    >>> float(sx.cross_entropy([[1000.0, 0.0]], [1]))     # no overflow, exact
    1000.0
    >>> loss, grad = sx.cross_entropy.value_and_grad(logits, [0, 2], reduction="sum")
    >>> grad.round(4)                                     # softmax - onehot
    array([[-0.2144,  0.1753,  0.0391],
           [ 0.0453,  0.9094, -0.9547]])
    """

    name = "cross_entropy"

    def __call__(self, logits, target, *, axis=-1, weight=None, ignore_index=None,
                 label_smoothing=0.0, reduction="mean"):
        kw = dict(axis=axis, weight=weight, ignore_index=ignore_index,
                  label_smoothing=label_smoothing, reduction=reduction)
        routed = self._route("__call__", (logits, target), kw)
        if routed is not NotImplemented:
            return routed
        return self._evaluate(None, logits, target, want_grad=False, **kw)[0]

    def value_and_grad(self, logits, target, *, axis=-1, weight=None, ignore_index=None,
                       label_smoothing=0.0, reduction="mean"):
        """``(loss, d loss / d logits)`` in one fused pass (arguments as for the call)."""
        kw = dict(axis=axis, weight=weight, ignore_index=ignore_index,
                  label_smoothing=label_smoothing, reduction=reduction)
        routed = self._route("value_and_grad", (logits, target), kw)
        if routed is not NotImplemented:
            return routed
        return self._evaluate("value_and_grad", logits, target, want_grad=True, **kw)

    def _evaluate(self, method, logits, target, *, want_grad, axis, weight, ignore_index,
                  label_smoothing, reduction):
        fname = self._method_name(method)
        arr, out_dtype, cdt = loss_input(logits, fname, "logits")
        ax = _policy.check_class_axis(axis, arr.ndim, fname)
        n_classes = arr.shape[ax]
        lead = arr.shape[:ax] + arr.shape[ax + 1:]
        tarr = _policy.as_real_array(target, fname, "target")
        ignore_index = _policy.check_ignore_index(ignore_index, fname)
        w = _class_weight(weight, n_classes, fname)
        eps = _policy.check_label_smoothing(label_smoothing, fname)
        reduction = _policy.check_reduction(reduction, fname)
        if tarr.dtype.kind == "b":
            raise TypeError(
                f"{fname}: target must be integer class indices or floating-point class "
                f"probabilities; received dtype bool"
            )
        glue, result = _kernel_glue(arr), NotImplemented
        with np.errstate(all="ignore"):
            if tarr.dtype.kind in "iu":
                if tarr.shape == arr.shape and arr.shape != lead:
                    raise _policy.ArgumentError(
                        f"{fname}: target of shape {tarr.shape} and dtype {tarr.dtype} does "
                        f"not match the expected shape {lead}: integer targets are class "
                        f"indices; pass class probabilities (e.g. one-hot rows) as floats"
                    )
                labels = _policy.check_labels(tarr, lead, n_classes, fname,
                                              ignore_index=ignore_index)
                keep = (np.ones(lead, dtype=bool) if ignore_index is None
                        else labels != ignore_index)
                if w is None:
                    weight_sum = float(np.count_nonzero(keep))
                else:
                    weight_sum = float(np.sum(w[labels[keep]]))
                scale = reduction_scale(reduction, keep.size, weight_sum=weight_sum)
                if glue is not None:
                    result = glue.label_loss(arr, ax, labels, keep, w, eps, scale, want_grad,
                                             out_dtype)
                if result is NotImplemented:
                    loss_pass = _LabelPass(labels, keep, w, eps, scale, n_classes)
            else:
                check_target_shape(tarr, arr.shape, fname)
                if ignore_index is not None:
                    raise _policy.ArgumentError(
                        f"{fname}: ignore_index applies to integer targets only; received "
                        f"ignore_index={ignore_index} with probability targets of dtype "
                        f"{tarr.dtype}"
                    )
                weight_sum = None
                scale = reduction_scale(reduction, int(np.prod(lead, dtype=np.int64)))
                if glue is not None:
                    result = glue.prob_loss(arr, ax, tarr, w, eps, scale, want_grad, out_dtype)
                if result is NotImplemented:
                    loss_pass = _ProbPass(np.moveaxis(tarr, ax, -1), w, eps, scale,
                                          int(np.prod(lead, dtype=np.int64)))
            if result is NotImplemented:
                per, grad = self._drive(arr, ax, cdt, out_dtype, lead, loss_pass, want_grad)
            else:
                per, grad = result
            loss = _policy.finish(reduce_loss(per, reduction, weight_sum=weight_sum),
                                  out_dtype)
        if not want_grad:
            return loss, None
        return loss, (grad[()] if grad.ndim == 0 else grad)


class NLLLoss(_ClassLoss):
    r"""Negative log-likelihood of integer targets, given log-probabilities.

    .. math::

        \ell = -w_y\, a_y, \qquad
        \frac{\partial \ell}{\partial a_c} = -w_y\, [c = y]

    where :math:`a` are log-probabilities along ``axis`` (e.g. the output of
    ``log_softmax``); ``nll_loss(log_softmax(x), y) == cross_entropy(x, y)``.
    The input is used as given: it is not checked to be normalised.

    Parameters
    ----------
    log_probs : array_like
        Log-probabilities, the classes along ``axis``.
    target : array_like of int
        Class indices, the shape of ``log_probs`` without ``axis``.
    axis : int, default -1
        The class axis.
    weight : array_like, optional
        One weight per class, shape ``(C,)``; a weighted ``'mean'`` divides by
        the sum of the weights of the counted targets (PyTorch's convention).
    ignore_index : int, optional
        Targets equal to it take no part.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        With every target ignored, ``'mean'`` is 0.0 and its gradient zero.

    Returns
    -------
    scalar or ndarray
        In the (float) dtype of ``log_probs``.

    Methods
    -------
    value_and_grad(log_probs, target, **kw)
        ``(loss, d loss / d log_probs)``: ``-w_y`` (times the reduction's
        scale) at the targets, 0 elsewhere.

    See Also
    --------
    cross_entropy, log_softmax

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> lp = sx.log_softmax(np.array([[2.0, 0.5, -1.0], [0.0, 3.0, 0.0]]))
    >>> float(sx.nll_loss(lp, [0, 2]))
    1.668117126539059
    >>> sx.nll_loss.value_and_grad(lp, [0, 2], weight=[1.0, 1.0, 3.0])[1]
    array([[-0.25,  0.  ,  0.  ],
           [ 0.  ,  0.  , -0.75]])
    """

    name = "nll_loss"

    def __call__(self, log_probs, target, *, axis=-1, weight=None, ignore_index=None,
                 reduction="mean"):
        kw = dict(axis=axis, weight=weight, ignore_index=ignore_index, reduction=reduction)
        routed = self._route("__call__", (log_probs, target), kw)
        if routed is not NotImplemented:
            return routed
        return self._evaluate(None, log_probs, target, want_grad=False, **kw)[0]

    def value_and_grad(self, log_probs, target, *, axis=-1, weight=None, ignore_index=None,
                       reduction="mean"):
        """``(loss, d loss / d log_probs)`` (arguments as for the call)."""
        kw = dict(axis=axis, weight=weight, ignore_index=ignore_index, reduction=reduction)
        routed = self._route("value_and_grad", (log_probs, target), kw)
        if routed is not NotImplemented:
            return routed
        return self._evaluate("value_and_grad", log_probs, target, want_grad=True, **kw)

    def _evaluate(self, method, log_probs, target, *, want_grad, axis, weight, ignore_index,
                  reduction):
        fname = self._method_name(method)
        arr, out_dtype, cdt = loss_input(log_probs, fname, "log_probs")
        ax = _policy.check_class_axis(axis, arr.ndim, fname, "log_probs")
        n_classes = arr.shape[ax]
        lead = arr.shape[:ax] + arr.shape[ax + 1:]
        ignore_index = _policy.check_ignore_index(ignore_index, fname)
        labels = _policy.check_labels(target, lead, n_classes, fname, ignore_index=ignore_index)
        w = _class_weight(weight, n_classes, fname)
        reduction = _policy.check_reduction(reduction, fname)
        keep = np.ones(lead, dtype=bool) if ignore_index is None else labels != ignore_index
        cols = np.expand_dims(np.where(keep, labels, 0), ax)
        wy = np.ones(lead) if w is None else np.where(keep, w[np.where(keep, labels, 0)], 0.0)
        wy = np.where(keep, wy, 0.0)
        weight_sum = float(np.sum(wy))
        with np.errstate(all="ignore"):
            # Only the target entries are read: a gather, no pass over the classes.
            a_y = np.take_along_axis(arr, cols, axis=ax).astype(cdt, copy=False)
            per = np.where(keep, weighted(wy, -np.squeeze(a_y, ax)), 0.0)
            loss = _policy.finish(reduce_loss(per, reduction, weight_sum=weight_sum),
                                  out_dtype)
            if not want_grad:
                return loss, None
            scale = reduction_scale(reduction, keep.size, weight_sum=weight_sum)
            grad = np.zeros(arr.shape, dtype=out_dtype)
            np.put_along_axis(grad, cols, np.expand_dims(-scale * wy, ax).astype(out_dtype),
                              axis=ax)
        return loss, grad


cross_entropy = CrossEntropy()
nll_loss = NLLLoss()
