"""``sigmax compare``: sigmoid vs softmax vs sigmoid(x - flip(x)) for given logits."""

from __future__ import annotations

import numpy as np

from .._elementwise import sigmoid
from .._softmax import softmax
from ._console import CommandError, console, table


def compare(x: np.ndarray):
    """Return the three arrays the command prints, for rows of ``x``."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return sigmoid(x), softmax(x, axis=1), sigmoid(x - np.flip(x, axis=1))


def _vec(v) -> str:
    return "[" + ", ".join(f"{float(a):.4f}" for a in v) + "]"


def run(logits, row_size=None) -> int:
    values = np.asarray(logits, dtype=np.float64)
    n = row_size or (2 if values.size % 2 == 0 else values.size)
    if n < 1 or values.size % n:
        raise CommandError(f"--row-size {n} does not divide the {values.size} logits given; "
                           "expected a positive divisor")
    x = values.reshape(-1, n)
    sig, soft, flip = compare(x)
    header = ["x", "sigmoid(x)", "softmax(x, axis=1)"] + (["sigmoid(x - flip(x))"] if n == 2
                                                          else [])
    rows = [[_vec(x[i]), _vec(sig[i]), _vec(soft[i])] + ([_vec(flip[i])] if n == 2 else [])
            for i in range(x.shape[0])]
    console.print(table(header, rows))
    if n == 2:
        same = bool(np.allclose(soft, flip, rtol=1e-15, atol=0))
        console.print(f"softmax(x) == sigmoid(x - flip(x)): {same}   "
                      f"sigmoid(x) == softmax(x): {bool(np.allclose(sig, soft))}")
    return 0
