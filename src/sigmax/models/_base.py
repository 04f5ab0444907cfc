r"""What the two classifiers share: parameters, validation, the L-BFGS fit, the outputs.

The objective minimised over the body's parameters :math:`\theta` is the
weighted loss of the head plus an L2 penalty on the weights (never the
intercepts), both divided by the total weight :math:`S = \sum_i s_i`:

.. math::

    f(\theta) = \frac{1}{S} \Big( \sum_i s_i\, \ell(z_i(\theta), y_i)
                + \frac{1}{2C} \lVert W \rVert^2 \Big)

which has the minimiser of scikit-learn's ``LogisticRegression`` objective
:math:`C \sum_i s_i \ell_i + \tfrac12 \lVert w \rVert^2` (the factor only
scales the tolerance), with :math:`s_i` the sample weight times the class
weight.  The head's loss and its gradient with respect to the logits come from
sigmax's own ``value_and_grad``; :class:`~sigmax.models._network.Network`
chains that gradient through the body; scipy's L-BFGS-B does the rest.
"""

from __future__ import annotations

import contextlib
import numbers
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._network import ACTIVATIONS, Network

__all__ = ["LinearOrMLPClassifier"]

#: Below this many (samples x parameters) a fit runs BLAS on one thread.
_SMALL_PROBLEM = 2**22


def _check_hidden(sizes, owner: str) -> tuple:
    """``None`` or a sequence of positive ints (one int is one layer)."""
    if sizes is None:
        return ()
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    try:
        out = tuple(sizes)
    except TypeError:
        out = None
    if out is None or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                              and s > 0 for s in out):
        raise ValueError(
            f"{owner}: hidden_layer_sizes must be None or a sequence of positive ints; "
            f"received {sizes!r}")
    return tuple(int(s) for s in out)


class LinearOrMLPClassifier(ClassifierMixin, BaseEstimator):
    """Base class: a linear (or small MLP) body under a softmax or sigmoid head.

    Subclasses implement

    * ``_encode(y)``: set ``classes_`` (and what else describes the target)
      and return ``(Y, n_outputs, class_weight_of_each_entry)``;
    * ``_loss(outputs, Y, weights)``: ``(sum_i s_i loss_i, d/d outputs)``,
      from the sigmax loss's ``value_and_grad``;
    * the prediction methods, from :meth:`decision_function`.
    """

    _parameter_constraints: dict = {
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "hidden_layer_sizes": [None, "array-like", Interval(numbers.Integral, 1, None,
                                                             closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "random_state": ["random_state"],
    }

    def __init__(self, *, C=1.0, fit_intercept=True, class_weight=None, max_iter=1000,
                 tol=1e-4, warm_start=False, hidden_layer_sizes=None, activation="relu",
                 random_state=None):
        self.C = C
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` (n_samples, n_features) and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like
            See the class docstring for the targets each classifier takes.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each sample (multiplied by ``class_weight``).

        Returns
        -------
        self
        """
        X, Y, weights, total, net = self._prepare(X, y, sample_weight)
        owner = type(self).__name__
        theta0 = None
        if self.warm_start and getattr(self, "_network", None) is not None \
                and self._network.sizes == net.sizes \
                and self._network.fit_intercept == net.fit_intercept \
                and self._network.activation == net.activation:
            theta0 = self._theta
        if theta0 is None:
            theta0 = net.init(check_random_state(self.random_state))
        objective = self._objective(net, X, Y, weights, total)
        # L-BFGS-B's own vector updates call BLAS; on a small problem BLAS threads
        # only contend with each other (wine, 178 x 13, on 2 busy cores: 0.64 s
        # with 2 OpenBLAS threads, 0.05 s with 1).  Large problems keep them for
        # the matrix products of the forward and backward passes.
        small = X.shape[0] * net.n_params < _SMALL_PROBLEM
        with threadpool_limits(1, user_api="blas") if small else contextlib.nullcontext():
            res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                           options={"maxiter": self.max_iter, "maxls": 50, "gtol": self.tol,
                                    "ftol": 64 * np.finfo(float).eps})
        if res.status == 1:
            warnings.warn(f"{owner}: L-BFGS did not converge in max_iter={self.max_iter} "
                          "iterations; increase max_iter or scale the data",
                          ConvergenceWarning, stacklevel=2)
        self._network, self._theta = net, res.x
        self.n_iter_ = int(res.nit)
        self.loss_ = float(res.fun)
        layers = net.layers(res.x)
        self.coefs_ = [W.copy() for W, _ in layers]
        self.intercepts_ = [np.zeros(W.shape[1]) if b is None else b.copy() for W, b in layers]
        if len(layers) == 1:
            # scikit-learn's LogisticRegression layout: (n_outputs, n_features).
            self.coef_ = self.coefs_[0].T.copy()
            self.intercept_ = self.intercepts_[0].copy()
        else:
            for name in ("coef_", "intercept_"):
                self.__dict__.pop(name, None)
        return self

    def _prepare(self, X, y, sample_weight):
        """Validate; return ``(X, Y, weights, total weight, network)`` for the objective."""
        self._validate_params()
        owner = type(self).__name__
        hidden = _check_hidden(self.hidden_layer_sizes, owner)
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=self._multi_output,
                             y_numeric=False)
        check_classification_targets(y)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        Y, n_outputs, class_w = self._encode(y)
        if class_w is None:
            weights = sw
        elif class_w.ndim == 2:  # per (sample, label): the multi-label head
            weights = sw[:, None] * class_w
        else:
            weights = sw * class_w
        total = float(np.sum(weights if weights.ndim == 1 else sw))
        if not total > 0:
            raise ValueError(f"{owner}: the sample weights sum to {total}; expected a "
                             "positive total weight")
        net = Network((X.shape[1], *hidden, n_outputs), self.activation, self.fit_intercept)
        return X, Y, weights, total, net

    def _objective(self, net, X, Y, weights, total):
        """``theta -> (f(theta), grad f(theta))``, the function L-BFGS minimises."""
        inv_c = 1.0 / float(self.C)

        def objective(theta):
            outputs, cache = net.forward(theta, X)
            loss, d_outputs = self._loss(outputs, Y, weights)
            pen, d_pen = net.penalty(theta)
            grad = net.backward(theta, cache, d_outputs)
            return (loss + inv_c * pen) / total, (grad + inv_c * d_pen) / total

        return objective

    @property
    def _multi_output(self) -> bool:
        return False

    def _balanced(self, y_codes, n_classes):
        """'balanced' weights, ``n / (n_classes * count)``, per class code."""
        count = np.bincount(y_codes, minlength=n_classes).astype(np.float64)
        with np.errstate(divide="ignore"):
            return np.where(count > 0, y_codes.size / (n_classes * np.maximum(count, 1)), 0.0)

    def _class_weights(self, y_codes, n_classes):
        """The class weight of each sample (``None`` when there is none)."""
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, str):
            return self._balanced(y_codes, n_classes)[y_codes]
        per_class = np.ones(n_classes)
        for label, w in cw.items():
            where = np.flatnonzero(self.classes_ == label)
            if where.size == 0:
                raise ValueError(f"{type(self).__name__}: class_weight names the class "
                                 f"{label!r}, which is not in y; expected one of "
                                 f"{self.classes_.tolist()}")
            per_class[where[0]] = float(w)
        return per_class[y_codes]

    # -- outputs ---------------------------------------------------------

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._network.forward(self._theta, X)[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
