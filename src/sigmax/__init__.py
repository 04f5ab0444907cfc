"""sigmax: everything between a model's logits and its probabilities, losses and gradients.

The sigmoid / softmax family done exactly and fast.  Every public function is
a callable object that also carries its derivatives (``f.derivative``,
``f.vjp``, ``f.jvp``, ``f.jacobian``; ``value_and_grad`` on the losses).

>>> import sigmax as sx
>>> sx.softmax([1000.0, 999.0]).round(4)
array([0.7311, 0.2689])
"""

from ._elementwise import log_sigmoid, logit, sigmoid, softplus
from ._softmax import log_softmax, logsumexp, softmax, softmax2d
from . import _generic  # noqa: F401  (registers the array-API path for foreign arrays)
from ._losses import cross_entropy, nll_loss
from ._losses_binary import (binary_cross_entropy, binary_cross_entropy_with_logits,
                             sigmoid_focal_loss)
from ._large_output import linear_cross_entropy
from ._sampled_losses import negative_sampling_loss, sampled_softmax_loss
from ._dispatch import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "set_num_threads",
    "get_num_threads",
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "logit",
    "softmax",
    "log_softmax",
    "logsumexp",
    "softmax2d",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "sigmoid_focal_loss",
    "linear_cross_entropy",
    "sampled_softmax_loss",
    "negative_sampling_loss",
    "__version__",
]
