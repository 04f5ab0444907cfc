"""sampled_softmax_loss and negative_sampling_loss: a few classes per step instead of V.

Both score only a handful of classes per example: the target and some drawn
candidates (:mod:`sigmax._samplers`), so that a step costs O(N (S + 1) H)
instead of O(N V H).  Their gradients for ``weight`` (and ``bias``) touch only
those rows; they are returned dense, shape ``(V, H)``, zero elsewhere.

The arithmetic is float64 (the plain path of SPEC section 4); only the rows of
``weight`` that are scored are converted.
"""

from __future__ import annotations

import numpy as np

from . import _policy
from ._elementwise import log_sigmoid, sigmoid
from ._function import LossFunction
from ._large_output import (check_large_output_inputs, check_positive_int, grads_out,
                            loss_out)
from ._losses import reduction_scale
from ._samplers import Uniform, check_seed, make_sampler
from ._softmax import _live, _log_softmax_from, _shift, _softmax_from

__all__ = ["sampled_softmax_loss", "negative_sampling_loss"]

# Row block of negative_sampling_loss: the gathered (block, K, H) float64
# weights stay under this many bytes.
_BLOCK_BUDGET = 16 * 2**20


def _scatter_add(out, idx, rows):
    """``out[idx[i]] += rows[i]`` for repeated indices (sort, then one reduceat)."""
    if len(idx) == 0:
        return
    order = np.argsort(idx, kind="stable")
    s = idx[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    out[s[starts]] += np.add.reduceat(rows[order], starts, axis=0).astype(out.dtype)


class _Grads:
    """Dense gradients in the output dtypes, filled by scatter-adds."""

    def __init__(self, a):
        self.a = a
        self.d_hidden = np.zeros((a.n, a.h))
        self.d_weight = np.zeros((a.v, a.h), dtype=a.grad_dtypes[1])
        self.d_bias = None if a.bias is None else np.zeros(a.v)

    def add(self, classes, d_score, hidden):
        """Scores ``s = h . w_c + b_c`` with gradient ``d_score`` per (row, class) pair."""
        _scatter_add(self.d_weight, classes, d_score[:, None] * hidden)
        if self.d_bias is not None:
            np.add.at(self.d_bias, classes, d_score)

    def out(self):
        return grads_out(self.a, self.d_hidden, self.d_weight, self.d_bias)


def _rows_of(a, classes):
    """``(weight[classes], bias[classes])`` in float64 (bias 0 without one)."""
    w = a.weight[classes].astype(np.float64)
    b = 0.0 if a.bias is None else a.bias[classes].astype(np.float64)
    return w, b


def _common(fname, hidden, weight, target, bias, reduction, seed):
    reduction = _policy.check_reduction(reduction, fname)
    a = check_large_output_inputs(fname, hidden, weight, target, bias)
    return a, reduction, check_seed(seed, fname)


# ----------------------------------------------------------------------------
# Sampled softmax.

def _sampled_softmax(a, num_sampled, sampler, remove_hits, reduction, rng, fname, with_grad):
    t = a.target
    cand = sampler.draw(rng, num_sampled)
    logq_t = sampler.log_prob(t)
    if a.n and np.isneginf(logq_t).any():
        i = int(np.argmax(np.isneginf(logq_t)))
        raise _policy.ArgumentError(
            f"{fname}: target holds {int(t[i])} at index ({i},), a class of probability 0 "
            f"under the sampler; expected classes the sampler can draw")
    # The logQ correction: subtract the log of each class's expected count
    # S Q(k) among the S draws (Jean et al. 2015; TensorFlow's subtract_log_q).
    log_s = np.log(num_sampled)
    h = a.hidden.astype(np.float64)
    w_t, b_t = _rows_of(a, t)
    w_s, b_s = _rows_of(a, cand)
    z = np.empty((a.n, num_sampled + 1))
    z[:, 0] = np.einsum("nh,nh->n", h, w_t) + b_t - (log_s + logq_t)
    z[:, 1:] = h @ w_s.T + b_s - (log_s + sampler.log_prob(cand))
    if remove_hits:
        # A candidate equal to the row's target is not a negative: masked out.
        z[:, 1:][cand[None, :] == t[:, None]] = -np.inf
    r = _shift(z, (1,))
    per = -_log_softmax_from(r)[:, 0]
    if not with_grad:
        return per, None
    scale = reduction_scale(reduction, a.n)
    # d loss / d z = softmax(z) - onehot(0); zero where the row is constant.
    dz = _softmax_from(r)
    dz[:, 0] -= 1.0
    dz = np.where(_live(r), dz, 0.0) * scale
    g = _Grads(a)
    g.d_hidden = dz[:, :1] * w_t + dz[:, 1:] @ w_s
    g.add(t, dz[:, 0], h)
    # The S candidates are shared by the batch: their weight rows get dz.T @ h.
    _scatter_add(g.d_weight, cand, dz[:, 1:].T @ h)
    if g.d_bias is not None:
        np.add.at(g.d_bias, cand, dz[:, 1:].sum(axis=0))
    return per, g


class SampledSoftmaxLoss(LossFunction):
    r"""Softmax cross-entropy over the target and ``num_sampled`` drawn classes.

    The sampled softmax of Jean, Cho, Memisevic & Bengio, "On using very large
    target vocabulary for neural machine translation", ACL 2015
    (arXiv:1412.2007), with TensorFlow's ``tf.nn.sampled_softmax_loss``
    semantics: ``S`` candidates :math:`s_1..s_S` are drawn with replacement
    from :math:`Q`, once for the whole batch; every logit is corrected by the
    log of its expected count, and a candidate equal to the target is removed:

    .. math::

        z_{i0} = h_i \cdot w_{t_i} + b_{t_i} - \log(S\,Q(t_i)), \qquad
        z_{ik} = h_i \cdot w_{s_k} + b_{s_k} - \log(S\,Q(s_k)),

    .. math::

        \ell_i = -\log \frac{e^{z_{i0}}}{e^{z_{i0}} + \sum_{k:\, s_k \ne t_i} e^{z_{ik}}} .

    As ``S`` grows the gradient estimate approaches that of the full softmax.

    Parameters
    ----------
    hidden : array_like, shape (N, H)
    weight : array_like, shape (V, H)
    target : array_like of int, shape (N,)
    num_sampled : int
        Number of candidates ``S`` drawn per call.
    sampler : {'log_uniform', 'uniform'} or array_like, default 'log_uniform'
        The candidate distribution :math:`Q`: TensorFlow's log-uniform
        (Zipfian, for classes sorted by decreasing frequency), uniform, or a
        vector of V non-negative weights (normalised).  Targets must have
        :math:`Q > 0`.
    remove_accidental_hits : bool, default True
        Mask the candidates that equal the row's target.
    bias : array_like, shape (V,), optional
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    seed : None, int or numpy.random.Generator
        Randomness of the draw; the same int gives the same candidates (and
        makes the loss a deterministic function, as the tests need).

    Returns
    -------
    loss : scalar or ndarray of shape (N,)

    Methods
    -------
    value_and_grad(hidden, weight, target, **kw)
        ``(loss, (d_hidden, d_weight, d_bias))`` for the same draw.

    See Also
    --------
    linear_cross_entropy : the exact loss at bounded memory.
    negative_sampling_loss

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> rng = np.random.default_rng(0)
    >>> h, W = rng.normal(size=(8, 4)), rng.normal(size=(1000, 4))
    >>> y = rng.integers(0, 1000, 8)
    >>> a = sx.sampled_softmax_loss(h, W, y, num_sampled=64, seed=1)
    >>> bool(a == sx.sampled_softmax_loss(h, W, y, num_sampled=64, seed=1))
    True
    >>> loss, (dh, dW, db) = sx.sampled_softmax_loss.value_and_grad(
    ...     h, W, y, num_sampled=64, seed=1)
    >>> bool(loss == a), dW.shape, int((dW != 0).any(axis=1).sum()) <= 8 + 64
    (True, (1000, 4), True)
    """

    name = "sampled_softmax_loss"

    def _run(self, method, hidden, weight, target, num_sampled, sampler,
             remove_accidental_hits, bias, reduction, seed, with_grad):
        # PyTorch, JAX, ... arrays take the array-API path (sigmax._generic_sampled),
        # which draws the same candidates from the same seed.
        routed = self._route(method or "__call__", (hidden, weight, target), dict(
            num_sampled=num_sampled, sampler=sampler, bias=bias, reduction=reduction,
            remove_accidental_hits=remove_accidental_hits, seed=seed))
        if routed is not NotImplemented:
            return routed
        fname = self._method_name(method)
        num_sampled = check_positive_int(num_sampled, fname, "num_sampled")
        remove = _policy.check_bool(remove_accidental_hits, fname, "remove_accidental_hits")
        a, reduction, rng = _common(fname, hidden, weight, target, bias, reduction, seed)
        smp = make_sampler(sampler, a.v, fname)
        with np.errstate(all="ignore"):
            per, g = _sampled_softmax(a, num_sampled, smp, remove, reduction, rng, fname,
                                      with_grad)
        loss = loss_out(per, reduction, None, a.out_dtype)
        return loss if not with_grad else (loss, g.out())

    def __call__(self, hidden, weight, target, *, num_sampled, sampler="log_uniform",
                 remove_accidental_hits=True, bias=None, reduction="mean", seed=None):
        return self._run(None, hidden, weight, target, num_sampled, sampler,
                         remove_accidental_hits, bias, reduction, seed, False)

    def value_and_grad(self, hidden, weight, target, *, num_sampled, sampler="log_uniform",
                       remove_accidental_hits=True, bias=None, reduction="mean", seed=None):
        """``(loss, (d_hidden, d_weight, d_bias))`` for one draw of candidates."""
        return self._run("value_and_grad", hidden, weight, target, num_sampled, sampler,
                         remove_accidental_hits, bias, reduction, seed, True)


# ----------------------------------------------------------------------------
# Negative sampling.

def _negative_sampling(a, num_negatives, noise, reduction, rng, with_grad):
    t = a.target
    neg = noise.draw(rng, (a.n, num_negatives))
    per = np.empty(a.n)
    g = _Grads(a) if with_grad else None
    scale = reduction_scale(reduction, a.n)
    block = max(1, _BLOCK_BUDGET // (8 * max(1, num_negatives * a.h)))
    for i0 in range(0, a.n, block):
        i1 = min(i0 + block, a.n)
        h = a.hidden[i0:i1].astype(np.float64)
        tb, nb = t[i0:i1], neg[i0:i1]
        w_t, b_t = _rows_of(a, tb)
        w_n, b_n = _rows_of(a, nb)                         # (B, K, H), (B, K)
        s_pos = np.einsum("bh,bh->b", h, w_t) + b_t
        s_neg = (w_n @ h[:, :, None])[:, :, 0] + b_n
        # A negative equal to the target is skipped, as word2vec does.
        live = nb != tb[:, None]
        per[i0:i1] = -log_sigmoid(s_pos) - np.sum(
            np.where(live, log_sigmoid(-s_neg), 0.0), axis=1)
        if g is None:
            continue
        # d/ds -log s(s) = -s(-s);  d/ds -log s(-s) = s(s).
        d_pos = -sigmoid(-s_pos) * scale
        d_neg = np.where(live, sigmoid(s_neg), 0.0) * scale
        g.d_hidden[i0:i1] = d_pos[:, None] * w_t + (d_neg[:, None, :] @ w_n)[:, 0, :]
        g.add(tb, d_pos, h)
        g.add(nb.ravel(), d_neg.ravel(), np.repeat(h, num_negatives, axis=0))
    return per, g


def noise_sampler(noise, v, fname, make=make_sampler):
    """The noise distribution of negative sampling: uniform by default, else ``make(noise)``."""
    if noise is None:
        if v == 0:
            raise _policy.ArgumentError(f"{fname}: weight has 0 rows; expected at least "
                                        f"one class to draw negatives from")
        return Uniform(v)
    return make(noise, v, fname, "noise")


class NegativeSamplingLoss(LossFunction):
    r"""word2vec's negative-sampling objective: one sigmoid per target and per negative.

    Mikolov, Sutskever, Chen, Corrado & Dean, "Distributed representations of
    words and phrases and their compositionality", NeurIPS 2013
    (arXiv:1310.4546): for each example, ``K`` negatives :math:`n_{ik}` are
    drawn from a noise distribution and

    .. math::

        \ell_i = -\log \sigma(h_i \cdot w_{t_i} + b_{t_i})
                 - \sum_{k=1}^{K} \log \sigma(-(h_i \cdot w_{n_{ik}} + b_{n_{ik}})),

    with :math:`-\log\sigma` evaluated as ``-log_sigmoid`` (no overflow).  A
    negative that equals the example's target is skipped, as in word2vec.

    Parameters
    ----------
    hidden : array_like, shape (N, H)
    weight : array_like, shape (V, H)
    target : array_like of int, shape (N,)
    num_negatives : int
        ``K``, negatives drawn per example (with replacement).
    noise : array_like, shape (V,), optional
        Noise weights (normalised), e.g. unigram counts to the power 0.75 as
        in the paper; default uniform.  ``'uniform'`` and ``'log_uniform'``
        are accepted too.
    bias : array_like, shape (V,), optional
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    seed : None, int or numpy.random.Generator

    Returns
    -------
    loss : scalar or ndarray of shape (N,)

    Methods
    -------
    value_and_grad(hidden, weight, target, **kw)
        ``(loss, (d_hidden, d_weight, d_bias))``, with
        :math:`\partial\ell/\partial s_{pos} = -\sigma(-s_{pos})` and
        :math:`\partial\ell/\partial s_{neg} = \sigma(s_{neg})`.

    Examples
    --------
    >>> import numpy as np
    >>> import sigmax as sx
    >>> h = np.array([[1.0, 0.0]]); W = np.array([[2.0, 0.0], [-1.0, 0.0], [0.0, 3.0]])
    >>> noise = np.array([0.0, 1.0, 0.0])          # always draws class 1
    >>> loss = sx.negative_sampling_loss(h, W, [0], num_negatives=2, noise=noise, seed=0)
    >>> bool(np.isclose(loss, -np.log(1 / (1 + np.exp(-2.0))) - 2 * np.log(1 / (1 + np.exp(-1.0)))))
    True
    """

    name = "negative_sampling_loss"

    def _run(self, method, hidden, weight, target, num_negatives, noise, bias, reduction,
             seed, with_grad):
        routed = self._route(method or "__call__", (hidden, weight, target), dict(
            num_negatives=num_negatives, noise=noise, bias=bias, reduction=reduction,
            seed=seed))
        if routed is not NotImplemented:
            return routed
        fname = self._method_name(method)
        num_negatives = check_positive_int(num_negatives, fname, "num_negatives")
        a, reduction, rng = _common(fname, hidden, weight, target, bias, reduction, seed)
        smp = noise_sampler(noise, a.v, fname)
        with np.errstate(all="ignore"):
            per, g = _negative_sampling(a, num_negatives, smp, reduction, rng, with_grad)
        loss = loss_out(per, reduction, None, a.out_dtype)
        return loss if not with_grad else (loss, g.out())

    def __call__(self, hidden, weight, target, *, num_negatives, noise=None, bias=None,
                 reduction="mean", seed=None):
        return self._run(None, hidden, weight, target, num_negatives, noise, bias,
                         reduction, seed, False)

    def value_and_grad(self, hidden, weight, target, *, num_negatives, noise=None, bias=None,
                       reduction="mean", seed=None):
        """``(loss, (d_hidden, d_weight, d_bias))`` for one draw of negatives."""
        return self._run("value_and_grad", hidden, weight, target, num_negatives, noise,
                         bias, reduction, seed, True)


sampled_softmax_loss = SampledSoftmaxLoss()
negative_sampling_loss = NegativeSamplingLoss()
