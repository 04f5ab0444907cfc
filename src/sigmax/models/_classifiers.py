r"""SoftmaxClassifier (exactly one class is right) and SigmoidClassifier (several may be).

The seeds' practical rule: a softmax head with cross-entropy when the classes
are mutually exclusive, independent sigmoids with binary cross-entropy when
each label is its own yes/no question.  Both heads train with sigmax's losses
(``cross_entropy.value_and_grad`` and
``binary_cross_entropy_with_logits.value_and_grad``) on a linear or small MLP
body (:mod:`sigmax.models._base`).
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import type_of_target

from .. import _elementwise as ew
from .. import _softmax as sm
from ._base import LinearOrMLPClassifier

__all__ = ["SoftmaxClassifier", "SigmoidClassifier", "softmax_logits", "softmax_head_loss",
           "sigmoid_head_loss"]

_COMMON_PARAMETERS = """
    Parameters
    ----------
    C : float, default=1.0
        Inverse strength of the L2 penalty on the weights (intercepts are not
        penalised), as in scikit-learn's ``LogisticRegression``.
    fit_intercept : bool, default=True
        Whether the output layer has a bias.
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes{cw_note}; ``'balanced'`` uses
        ``n_samples / (n_classes * count)``.
    max_iter : int, default=1000
        Most L-BFGS iterations.
    tol : float, default=1e-4
        L-BFGS stops when the largest gradient component is below ``tol``.
    warm_start : bool, default=False
        Start from the previous solution when the network's shape is unchanged.
    hidden_layer_sizes : None, int or tuple of int, default=None
        Widths of an MLP body; ``None`` is a linear model (logistic regression).
    activation : {{'relu', 'tanh', 'logistic'}}, default='relu'
        The hidden layers' activation.
    random_state : int, RandomState or None, default=None
        Seeds the MLP's initial weights (a linear model starts from zeros).

    Attributes
    ----------
    classes_ : ndarray
        {classes_note}
    coef_, intercept_ : ndarray
        Weights ``(n_outputs, n_features)`` and intercepts of a linear model
        (absent with ``hidden_layer_sizes``).
    coefs_, intercepts_ : list of ndarray
        Every layer's weights ``(n_in, n_out)`` and biases.
    n_iter_ : int
        L-BFGS iterations run.
    loss_ : float
        The final value of the objective.
    n_features_in_ : int
"""


def softmax_logits(outputs, binary: bool):
    """The softmax's logits: the outputs, or ``[0, z]`` for two classes."""
    if binary:
        return np.concatenate([np.zeros_like(outputs), outputs], axis=1)
    return outputs


def softmax_head_loss(outputs, codes, weights, binary: bool):
    """``(sum_i w_i CE_i, d/d outputs)`` from ``cross_entropy.value_and_grad``.

    With ``reduction='none'`` the gradient is that of the unweighted sum; each
    sample's loss depends on its own row of logits only, so the rows scale by
    their weights.  For two classes only the second logit is an output.
    """
    import sigmax as sx

    loss, grad = sx.cross_entropy.value_and_grad(softmax_logits(outputs, binary), codes,
                                                 reduction="none")
    grad = grad * weights[:, None]
    return float(weights @ loss), grad[:, 1:] if binary else grad


def sigmoid_head_loss(outputs, Y, weights):
    """``(sum_ij w_ij BCE_ij, d/d outputs)`` from ``binary_cross_entropy_with_logits``."""
    import sigmax as sx

    w = weights if weights.ndim == 2 else weights[:, None]
    loss, grad = sx.binary_cross_entropy_with_logits.value_and_grad(
        outputs, Y, weight=np.broadcast_to(w, Y.shape), reduction="sum")
    return float(loss), grad


class SoftmaxClassifier(LinearOrMLPClassifier):
    __doc__ = r"""Single-label classifier: a softmax head trained with cross-entropy.

    Exactly one of ``K`` classes is right: the model's logits :math:`z = f(x)`
    give :math:`p = \mathrm{softmax}(z)` and the loss is
    :math:`-\log p_y = \mathrm{logsumexp}(z) - z_y`.  For two classes the first
    logit is fixed at 0, so that ``softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]``
    and the model is exactly binary logistic regression (``coef_`` has one row),
    as in scikit-learn.  Without hidden layers this is multinomial logistic
    regression with the objective of :class:`sklearn.linear_model.LogisticRegression`.
    """ + _COMMON_PARAMETERS.format(
        cw_note=" (a dict maps a class label to its weight)",
        classes_note="The class labels, sorted.") + r"""
    See Also
    --------
    SigmoidClassifier : independent sigmoids, for multi-label targets.

    References
    ----------
    .. [1] D. R. Cox, "The regression analysis of binary sequences", J. Roy.
       Stat. Soc. B 20(2), 1958.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sigmax.models import SoftmaxClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxClassifier(C=10.0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> round(clf.score(X, y), 2)
    0.98
    >>> float(clf.predict_proba(X[:1]).sum().round(12))
    1.0
    """

    def _encode(self, y):
        enc = LabelEncoder()
        codes = enc.fit_transform(y)
        self.classes_ = enc.classes_
        k = self.classes_.size
        if k < 2:
            raise ValueError(f"SoftmaxClassifier: y needs samples of at least 2 classes; got "
                             f"{k} class ({self.classes_.tolist()[0]!r})")
        self._binary = k == 2
        return codes, 1 if self._binary else k, self._class_weights(codes, k)

    def _logits(self, outputs):
        return softmax_logits(outputs, self._binary)

    def _loss(self, outputs, codes, weights):
        return softmax_head_loss(outputs, codes, weights, self._binary)

    def decision_function(self, X):
        """The logits: shape (n_samples,) for two classes (``z`` in ``[0, z]``), else (n, K)."""
        z = self._outputs(X)
        return z[:, 0] if self._binary else z

    def predict_log_proba(self, X):
        """``log_softmax`` of the logits (exact: never ``log`` of a rounded probability)."""
        return sm.log_softmax(self._logits(self._outputs(X)), axis=1)

    def predict_proba(self, X):
        """``softmax`` of the logits, shape (n_samples, n_classes); rows sum to 1."""
        return sm.softmax(self._logits(self._outputs(X)), axis=1)

    def predict(self, X):
        """The most probable class of each sample."""
        z = self._logits(self._outputs(X))
        return self.classes_[np.argmax(z, axis=1)]


class SigmoidClassifier(LinearOrMLPClassifier):
    __doc__ = r"""Multi-label (and binary) classifier: independent sigmoids with binary cross-entropy.

    Each of ``L`` labels is its own yes/no question: the logits :math:`z = f(x)`
    give :math:`p_j = \sigma(z_j)` and the loss is
    :math:`\sum_j -y_j \log \sigma(z_j) - (1 - y_j) \log \sigma(-z_j)`,
    computed from the logits (``binary_cross_entropy_with_logits``).

    Targets: a 2-D indicator matrix ``(n_samples, L)`` of 0/1 (multi-label;
    ``predict`` returns such a matrix, thresholding each probability at 1/2);
    a 1-D array of two classes (binary logistic regression); or of more classes,
    fitted one-vs-rest with ``K`` independent sigmoids (seed 3's "multiple
    sigmoids in a One vs. All manner"), whose probabilities are renormalised to
    sum to 1 for ``predict_proba``.
    """ + _COMMON_PARAMETERS.format(
        cw_note=(" (binary or one-vs-rest: a dict maps a class label to its weight; "
                 "multi-label: a dict ``{0: w0, 1: w1}`` weighs the negatives and "
                 "positives of every label, and ``'balanced'`` balances each label)"),
        classes_note=("The class labels (1-D targets), or ``arange(L)`` for a "
                      "multi-label indicator matrix.")) + r"""
    See Also
    --------
    SoftmaxClassifier : one softmax, for mutually exclusive classes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sigmax.models import SigmoidClassifier
    >>> X, digit = load_digits(return_X_y=True)
    >>> Y = np.stack([digit % 2 == 0, digit >= 5], axis=1).astype(int)  # even, >= 5
    >>> clf = SigmoidClassifier(C=0.1).fit(X / 16, Y)
    >>> clf.predict(X[:3] / 16)
    array([[1, 0],
           [0, 0],
           [1, 0]])
    >>> clf.predict_proba(X[:3] / 16).shape
    (3, 2)
    """

    @property
    def _multi_output(self) -> bool:
        return True

    def _encode(self, y):
        kind = type_of_target(y)
        owner = "SigmoidClassifier"
        if kind == "multilabel-indicator":
            Y = np.asarray(y)
            self._mode = "multilabel"
            self._y_dtype = Y.dtype
            self.classes_ = np.arange(Y.shape[1])
            Y = (Y > 0).astype(np.float64)
            return Y, Y.shape[1], self._label_weights(Y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"{owner}: y must be a 1-D array of class labels or a 2-D "
                             f"multi-label indicator matrix of 0/1; received a {kind} target")
        y = np.ravel(y) if np.ndim(y) == 2 and np.shape(y)[1] == 1 else y
        enc = LabelEncoder()
        codes = enc.fit_transform(y)
        self.classes_ = enc.classes_
        k = self.classes_.size
        if k < 2:
            raise ValueError(f"{owner}: y needs samples of at least 2 classes; got {k} class "
                             f"({self.classes_.tolist()[0]!r})")
        self._mode = "binary" if k == 2 else "ovr"
        cw = self._class_weights(codes, k)
        if k == 2:
            return codes[:, None].astype(np.float64), 1, None if cw is None else cw[:, None]
        # One-vs-rest: column j says "the class is j"; a class weight weighs a
        # sample in every column, as it does for the softmax head.
        Y = np.zeros((codes.size, k))
        Y[np.arange(codes.size), codes] = 1.0
        return Y, k, None if cw is None else np.repeat(cw[:, None], k, axis=1)

    def _label_weights(self, Y):
        """Weights of each (sample, label) entry for a multi-label target."""
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, str):  # 'balanced', per label
            pos = Y.sum(axis=0)
            neg = Y.shape[0] - pos
            with np.errstate(divide="ignore"):
                w_pos = np.where(pos > 0, Y.shape[0] / (2 * np.maximum(pos, 1)), 0.0)
                w_neg = np.where(neg > 0, Y.shape[0] / (2 * np.maximum(neg, 1)), 0.0)
            return np.where(Y > 0, w_pos, w_neg)
        unknown = set(cw) - {0, 1}
        if unknown:
            raise ValueError(f"SigmoidClassifier: with a multi-label target class_weight "
                             f"keys must be 0 and 1 (negatives, positives); received "
                             f"{sorted(unknown, key=repr)!r}")
        return np.where(Y > 0, float(cw.get(1, 1.0)), float(cw.get(0, 1.0)))

    def _loss(self, outputs, Y, weights):
        return sigmoid_head_loss(outputs, Y, weights)

    def decision_function(self, X):
        """The logits: shape (n_samples,) for a binary target, else (n_samples, L or K)."""
        z = self._outputs(X)
        return z[:, 0] if self._mode == "binary" else z

    def predict_log_proba(self, X):
        """Log-probabilities, from ``log_sigmoid`` of the logits (see :meth:`predict_proba`)."""
        z = self._outputs(X)
        if self._mode == "binary":
            return np.concatenate([ew.log_sigmoid(-z), ew.log_sigmoid(z)], axis=1)
        if self._mode == "ovr":
            # sigmoid(z_j) / sum_k sigmoid(z_k) = softmax(log_sigmoid(z))_j
            return sm.log_softmax(ew.log_sigmoid(z), axis=1)
        return ew.log_sigmoid(z)

    def predict_proba(self, X):
        """Probabilities.

        Binary: ``(n, 2)``, ``[1 - sigmoid(z), sigmoid(z)]``; multi-label:
        ``(n, L)``, ``sigmoid(z)`` per label (rows need not sum to 1);
        one-vs-rest: ``(n, K)``, the K sigmoids renormalised to sum to 1.
        """
        z = self._outputs(X)
        if self._mode == "binary":
            return np.concatenate([ew.sigmoid(-z), ew.sigmoid(z)], axis=1)
        if self._mode == "ovr":
            return sm.softmax(ew.log_sigmoid(z), axis=1)
        return ew.sigmoid(z)

    def predict(self, X):
        """Binary / one-vs-rest: the class labels; multi-label: the indicator matrix."""
        z = self._outputs(X)
        if self._mode == "binary":
            return self.classes_[(z[:, 0] > 0).astype(int)]
        if self._mode == "ovr":
            return self.classes_[np.argmax(z, axis=1)]
        return (z > 0).astype(self._y_dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags
