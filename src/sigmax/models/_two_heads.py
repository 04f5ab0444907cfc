r"""TwoHeadClassifier: one body, a softmax head and a sigmoid head (seed 2's "same model").

When a task has a single-label part (exactly one class is right) and a
multi-label part (independent yes/no labels), both heads can sit on one body:
the outputs are split into the softmax's logits and the sigmoids' logits, and
the loss is the sum of the two heads' losses,

.. math::

    \ell_i = -\log \mathrm{softmax}(z^{(1)}_i)_{c_i}
             + \sum_j \mathrm{BCE}(z^{(2)}_{ij}, y_{ij}),

each from sigmax's ``value_and_grad``.  Without hidden layers the two heads
share nothing and the fit equals a SoftmaxClassifier and a SigmoidClassifier
fitted apart; with an MLP body the hidden layers learn features for both.
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelEncoder

from .. import _elementwise as ew
from .. import _softmax as sm
from ._base import LinearOrMLPClassifier
from ._classifiers import _COMMON_PARAMETERS, sigmoid_head_loss, softmax_head_loss, softmax_logits

__all__ = ["TwoHeadClassifier"]


class TwoHeadClassifier(LinearOrMLPClassifier):
    __doc__ = r"""Single-label and multi-label targets on one body: a softmax head and a sigmoid head.

    ``y`` is a 2-D array: column 0 holds the class of each sample (exactly one
    is right, softmax + cross-entropy), columns ``1..L`` are 0/1 labels
    (independent, sigmoids + binary cross-entropy).  The objective is the sum
    of the two heads' losses plus the L2 penalty, as for the other classifiers;
    ``class_weight`` weighs each sample by its class (column 0), in both heads.
    """ + _COMMON_PARAMETERS.format(
        cw_note=" of column 0 (a dict maps a class label to its weight)",
        classes_note="The class labels of column 0, sorted.") + r"""
    n_labels_ : int
        The number L of 0/1 label columns.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sigmax.models import TwoHeadClassifier
    >>> X, digit = load_digits(return_X_y=True)
    >>> y = np.column_stack([digit, digit % 2 == 0, digit >= 5]).astype(int)
    >>> clf = TwoHeadClassifier(C=0.1).fit(X / 16, y)
    >>> clf.predict(X[:3] / 16)          # [digit, even, >= 5]
    array([[0, 1, 0],
           [1, 0, 0],
           [2, 1, 0]])
    >>> p_class, p_labels = clf.predict_proba(X[:3] / 16)
    >>> p_class.shape, p_labels.shape
    ((3, 10), (3, 2))
    """

    @property
    def _multi_output(self) -> bool:
        return True

    def _encode(self, y):
        y = np.asarray(y)
        if y.ndim != 2 or y.shape[1] < 2:
            raise ValueError(f"TwoHeadClassifier: y must be 2-D with the classes in column 0 "
                             f"and at least one 0/1 label column; received shape {y.shape}")
        labels = y[:, 1:]
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("TwoHeadClassifier: columns 1.. of y must hold 0 or 1 only")
        enc = LabelEncoder()
        codes = enc.fit_transform(y[:, 0])
        self.classes_ = enc.classes_
        k = self.classes_.size
        if k < 2:
            raise ValueError(f"TwoHeadClassifier: column 0 of y needs at least 2 classes; "
                             f"got {k}")
        self._binary = k == 2
        self._n_class_outputs = 1 if self._binary else k
        self.n_labels_ = labels.shape[1]
        self._y_dtype = y.dtype
        Y = (codes, labels.astype(np.float64))
        return Y, self._n_class_outputs + self.n_labels_, self._class_weights(codes, k)

    def _loss(self, outputs, Y, weights):
        codes, labels = Y
        k = self._n_class_outputs
        ce, g_ce = softmax_head_loss(outputs[:, :k], codes, weights, self._binary)
        bce, g_bce = sigmoid_head_loss(outputs[:, k:], labels, weights)
        return ce + bce, np.concatenate([g_ce, g_bce], axis=1)

    def decision_function(self, X):
        """``(class logits (n, K), label logits (n, L))``; for two classes ``[0, z]``."""
        z = self._outputs(X)
        k = self._n_class_outputs
        return softmax_logits(z[:, :k], self._binary), z[:, k:]

    def predict_proba(self, X):
        """``(softmax over the classes (n, K), sigmoid per label (n, L))``."""
        zc, zl = self.decision_function(X)
        return sm.softmax(zc, axis=1), ew.sigmoid(zl)

    def predict_log_proba(self, X):
        """``(log_softmax (n, K), log_sigmoid (n, L))``, from the logits."""
        zc, zl = self.decision_function(X)
        return sm.log_softmax(zc, axis=1), ew.log_sigmoid(zl)

    def predict(self, X):
        """``(n, 1 + L)``: the most probable class, then each label's ``p > 1/2``."""
        zc, zl = self.decision_function(X)
        out = np.empty((zc.shape[0], 1 + zl.shape[1]), dtype=np.result_type(self._y_dtype,
                                                                             np.int8))
        out[:, 0] = self.classes_[np.argmax(zc, axis=1)]
        out[:, 1:] = zl > 0
        return out

    def score(self, X, y, sample_weight=None):
        """Fraction of samples whose class and every label are right (weighted)."""
        right = np.all(self.predict(X) == np.asarray(y), axis=1)
        return float(np.average(right, weights=sample_weight))
