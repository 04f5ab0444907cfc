r"""The body of the classifiers: a linear layer, or a small MLP, as one flat parameter vector.

scipy's L-BFGS works on one vector ``theta``; :class:`Network` knows how the
layers' weights ``W`` (shape ``(n_in, n_out)``) and biases ``b`` are laid out
in it, runs the forward pass and chains a gradient with respect to the
outputs back to a gradient with respect to ``theta`` (reverse mode, by hand):

.. math::

    a_l = h_{l-1} W_l + b_l, \qquad h_l = \phi(a_l), \qquad
    \frac{\partial L}{\partial W_l} = h_{l-1}^T \delta_l, \quad
    \frac{\partial L}{\partial b_l} = \textstyle\sum_i \delta_{l,i}, \quad
    \delta_{l-1} = (\delta_l W_l^T) \odot \phi'(a_{l-1})

with :math:`\delta_L = \partial L / \partial a_L` given by the loss (its
``value_and_grad``).  The last layer has no activation (its outputs are the
logits) and a bias only when ``fit_intercept``; hidden layers always have one.
"""

from __future__ import annotations

import numpy as np

from .._elementwise import sigmoid

__all__ = ["Network", "ACTIVATIONS"]


def _relu_back(a, h, g):
    return np.where(a > 0, g, 0.0)


def _tanh_back(a, h, g):
    return g * (1.0 - h * h)  # tanh' = 1 - tanh^2


def _logistic_back(a, h, g):
    return sigmoid.vjp(a, g)  # sigma'(a), from a to full accuracy


#: Hidden-layer activations: forward ``h = f(a)`` and ``back(a, h, g) = g * f'(a)``.
ACTIVATIONS = {
    "relu": (lambda a: np.maximum(a, 0.0), _relu_back),
    "tanh": (np.tanh, _tanh_back),
    "logistic": (sigmoid, _logistic_back),
}


class Network:
    """Layout, forward and backward pass of ``sizes[0] -> ... -> sizes[-1]``.

    Parameters
    ----------
    sizes : sequence of int
        Input width, hidden widths, output width.
    activation : {'relu', 'tanh', 'logistic'}
        The hidden layers' activation.
    fit_intercept : bool
        Whether the output layer has a bias.
    """

    def __init__(self, sizes, activation: str = "relu", fit_intercept: bool = True):
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self.fit_intercept = fit_intercept
        n_layers = len(self.sizes) - 1
        self._slices = []  # per layer: (slice of W, shape of W, slice of b or None)
        start = 0
        for layer, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            w = slice(start, start + n_in * n_out)
            start = w.stop
            b = None
            if layer < n_layers - 1 or fit_intercept:
                b = slice(start, start + n_out)
                start = b.stop
            self._slices.append((w, (n_in, n_out), b))
        self.n_params = start
        # Penalised entries: the weights, never the biases.
        self._penalised = np.zeros(self.n_params, dtype=bool)
        for w, _, _ in self._slices:
            self._penalised[w] = True

    def layers(self, theta):
        """The ``(W, b)`` views of ``theta``, layer by layer (``b`` is None without bias)."""
        return [(theta[w].reshape(shape), None if b is None else theta[b])
                for w, shape, b in self._slices]

    def pack(self, layers) -> np.ndarray:
        """The flat vector of a list of ``(W, b)``."""
        theta = np.empty(self.n_params)
        for (w, _, b), (W, bias) in zip(self._slices, layers):
            theta[w] = np.ravel(W)
            if b is not None:
                theta[b] = bias
        return theta

    def init(self, random_state) -> np.ndarray:
        """Zeros for a linear model (convex: any start will do); Glorot-uniform for an MLP."""
        theta = np.zeros(self.n_params)
        if len(self._slices) == 1:
            return theta
        for w, (n_in, n_out), _ in self._slices:
            # Glorot & Bengio (2010), 'Understanding the difficulty of training
            # deep feedforward neural networks': U(-r, r), r = sqrt(6/(in + out)).
            r = np.sqrt(6.0 / (n_in + n_out))
            theta[w] = random_state.uniform(-r, r, size=n_in * n_out)
        return theta

    def forward(self, theta, X):
        """The outputs (logits) of ``X``, and what :meth:`backward` needs."""
        fwd = ACTIVATIONS[self.activation][0]
        layers = self.layers(theta)
        cache = []
        h = X
        for i, (W, b) in enumerate(layers):
            a = h @ W
            if b is not None:
                a += b
            cache.append((h, a))
            h = a if i == len(layers) - 1 else fwd(a)
        return h, cache

    def backward(self, theta, cache, grad_out) -> np.ndarray:
        """The gradient with respect to ``theta`` of a loss whose output gradient is ``grad_out``."""
        back = ACTIVATIONS[self.activation][1]
        layers = self.layers(theta)
        grad = np.empty(self.n_params)
        delta = grad_out
        for i in range(len(layers) - 1, -1, -1):
            (w, _, b), (W, _) = self._slices[i], layers[i]
            h_prev, _ = cache[i]
            grad[w] = (h_prev.T @ delta).ravel()
            if b is not None:
                grad[b] = delta.sum(axis=0)
            if i:
                a_prev = cache[i - 1][1]
                delta = back(a_prev, h_prev, delta @ W.T)
        return grad

    def penalty(self, theta):
        """``(||W||^2 / 2, its gradient)`` over every layer's weights."""
        w = np.where(self._penalised, theta, 0.0)
        return 0.5 * float(w @ w), w
