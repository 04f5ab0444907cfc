r"""Candidate samplers over V classes for the sampled losses, and the seed argument.

A sampler draws class indices in ``[0, V)`` with replacement from a fixed
distribution ``Q`` and reports ``log Q(k)``, which the sampled softmax
subtracts from its logits (the "logQ correction").

* ``'log_uniform'``: the Zipfian distribution of TensorFlow's
  ``log_uniform_candidate_sampler``, for classes sorted by decreasing frequency,

  .. math:: Q(k) = \frac{\log(k + 2) - \log(k + 1)}{\log(V + 1)},

  drawn exactly by inversion: ``k = floor(exp(u log(V + 1))) - 1`` for
  ``u ~ U[0, 1)``, since ``P(k + 1 <= e^{u L} < k + 2) = Q(k)``.
* ``'uniform'``: ``Q(k) = 1 / V``.
* a probability vector (``noise`` of ``negative_sampling_loss``, e.g. the
  unigram counts to the power 0.75 of Mikolov et al. 2013): any non-negative
  finite weights with a positive sum, normalised; drawn by inversion of the
  cumulative sum, so that a class of weight 0 is never drawn.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _policy

__all__ = ["Sampler", "make_sampler", "check_seed"]


class Sampler:
    """A distribution over ``[0, n_classes)``: ``draw(rng, size)`` and ``log_prob(k)``."""

    kind = "distribution"

    def __init__(self, n_classes: int):
        self.n_classes = n_classes

    def draw(self, rng: np.random.Generator, size) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def log_prob(self, k) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<sigmax sampler {self.kind!r} over {self.n_classes} classes>"


class LogUniform(Sampler):
    """TensorFlow's log-uniform (Zipfian) sampler (see the module docstring)."""

    kind = "log_uniform"

    def draw(self, rng, size):
        log_range = np.log1p(self.n_classes)  # log(V + 1)
        u = rng.random(size)
        # exp(u L) - 1 = expm1(u L); rounding at u -> 1 could reach V: clip.
        k = np.floor(np.expm1(u * log_range)).astype(np.intp)
        return np.minimum(k, self.n_classes - 1)

    def log_prob(self, k):
        k = np.asarray(k, dtype=np.float64)
        # log(k + 2) - log(k + 1) = log1p(1 / (k + 1)), without cancellation.
        return np.log(np.log1p(1.0 / (k + 1.0))) - np.log(np.log1p(self.n_classes))


class Uniform(Sampler):
    kind = "uniform"

    def draw(self, rng, size):
        return rng.integers(0, self.n_classes, size=size).astype(np.intp, copy=False)

    def log_prob(self, k):
        return np.full(np.shape(k), -np.log(self.n_classes))


class Categorical(Sampler):
    """A user probability vector (normalised weights)."""

    kind = "probabilities"

    def __init__(self, probs: np.ndarray):
        super().__init__(len(probs))
        cdf = np.cumsum(probs, dtype=np.float64)
        self.total = cdf[-1]
        self.cdf = cdf
        with np.errstate(divide="ignore"):  # log 0 = -inf for a class never drawn
            self.logp = np.log(probs) - np.log(self.total)

    def draw(self, rng, size):
        u = rng.random(size) * self.total
        # side='right': u in [cdf[k-1], cdf[k]) gives k; empty for weight 0.
        k = np.searchsorted(self.cdf, u, side="right")
        return np.minimum(k, self.n_classes - 1).astype(np.intp, copy=False)

    def log_prob(self, k):
        return self.logp[k]


_NAMED = {"log_uniform": LogUniform, "uniform": Uniform}


def make_sampler(spec, n_classes: int, fname: str, name: str = "sampler") -> Sampler:
    """A sampler from ``'log_uniform'``, ``'uniform'`` or a probability vector of length V."""
    if isinstance(spec, str):
        if spec not in _NAMED:
            raise _policy.ArgumentError(
                f"{fname}: {name} must be 'log_uniform', 'uniform' or a vector of {n_classes} "
                f"class probabilities; received {spec!r}")
        if n_classes == 0:
            raise _policy.ArgumentError(
                f"{fname}: {name} {spec!r} needs at least one class; weight has 0 rows")
        return _NAMED[spec](n_classes)
    probs = _policy.as_real_array(spec, fname, name)
    if probs.shape != (n_classes,):
        raise _policy.ArgumentError(
            f"{fname}: {name} of shape {probs.shape} does not match the {n_classes} classes of "
            f"weight; expected shape ({n_classes},)")
    probs = probs.astype(np.float64)
    bad = ~(np.isfinite(probs) & (probs >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise _policy.ArgumentError(
            f"{fname}: {name} holds {float(probs[i])!r} at index {i}; expected non-negative "
            f"finite probabilities")
    if not probs.sum() > 0:
        raise _policy.ArgumentError(
            f"{fname}: {name} sums to 0; expected probabilities with a positive sum")
    return Categorical(probs)


def check_seed(seed, fname: str) -> np.random.Generator:
    """``None``, a non-negative int or a ``numpy.random.Generator``; a Generator back."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(
            f"{fname}: seed must be None, a non-negative int or a numpy.random.Generator; "
            f"received {_policy.describe(seed)}")
    if seed < 0:
        raise _policy.ArgumentError(
            f"{fname}: seed must be None, a non-negative int or a numpy.random.Generator; "
            f"received {seed}")
    return np.random.default_rng(int(seed))
