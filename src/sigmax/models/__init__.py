"""scikit-learn classifiers on sigmax's losses: one softmax, or independent sigmoids.

* :class:`SoftmaxClassifier` - single-label (exactly one class is right):
  softmax + cross-entropy, multinomial logistic regression or a small MLP.
* :class:`SigmoidClassifier` - multi-label (several may be right) and binary:
  independent sigmoids + binary cross-entropy.
* :class:`TwoHeadClassifier` - both on one body, when a task has a single-label
  and a multi-label part.

Both are trained with scipy's L-BFGS on the gradients of sigmax's own
``value_and_grad``.  This package needs scikit-learn and scipy
(``pip install 'sigmax[sklearn]'``); ``import sigmax`` never imports it.
"""

try:
    import scipy.optimize  # noqa: F401
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is installed in the test env
    raise ImportError(
        "sigmax.models needs scikit-learn and scipy: pip install 'sigmax[sklearn]'"
    ) from exc

from ._classifiers import SigmoidClassifier, SoftmaxClassifier
from ._two_heads import TwoHeadClassifier

__all__ = ["SoftmaxClassifier", "SigmoidClassifier", "TwoHeadClassifier"]
