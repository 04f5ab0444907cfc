"""``sigmax compare``: sigmoid vs softmax vs sigmoid(x - flip(x)) for given logits."""

from __future__ import annotations

import numpy as np

from .._elementwise import sigmoid
from .._softmax import softmax
from ._format import table

HELP = """Print sigmoid(x), softmax(x) and sigmoid(x - flip(x)) side by side.

The logits are read as rows of 2 (the first seed's example): for two classes
softmax(x) equals sigmoid(x - flip(x)), while sigmoid(x) alone is something
else.  Use `--` before negative numbers:  sigmax compare -- -0.3 -0.7 0.3 0.7
"""


def add_parser(sub):
    p = sub.add_parser("compare", help="sigmoid vs softmax for given logits",
                       description=HELP, formatter_class=_raw())
    p.add_argument("logits", nargs="+", type=float, metavar="LOGIT",
                   help="the logits; an even count is read as rows of 2, otherwise one row")
    p.add_argument("--row-size", type=int, default=None, metavar="N",
                   help="entries per row (default: 2 when the count is even)")
    p.set_defaults(func=run)
    return p


def _raw():
    import argparse
    return argparse.RawDescriptionHelpFormatter


def compare(x: np.ndarray):
    """Return the three arrays the command prints, for rows of ``x``."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return sigmoid(x), softmax(x, axis=1), sigmoid(x - np.flip(x, axis=1))


def run(args) -> int:
    values = np.asarray(args.logits, dtype=np.float64)
    n = args.row_size or (2 if values.size % 2 == 0 else values.size)
    if n < 1 or values.size % n:
        raise ValueError(f"--row-size {n} does not divide the {values.size} logits given")
    x = values.reshape(-1, n)
    sig, soft, flip = compare(x)
    header = ["x", "sigmoid(x)", "softmax(x, axis=1)"]
    if n == 2:
        header.append("sigmoid(x - flip(x))")
    rows = []
    for i in range(x.shape[0]):
        row = [_vec(x[i]), _vec(sig[i]), _vec(soft[i])]
        if n == 2:
            row.append(_vec(flip[i]))
        rows.append(row)
    print(table(header, rows))
    if n == 2:
        same = bool(np.allclose(soft, flip, rtol=1e-15, atol=0))
        print(f"\nsoftmax(x) == sigmoid(x - flip(x)): {same}   "
              f"sigmoid(x) == softmax(x): {bool(np.allclose(sig, soft))}")
    return 0


def _vec(v) -> str:
    return "[" + ", ".join(f"{float(a):.4f}" for a in v) + "]"
