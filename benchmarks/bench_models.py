"""SoftmaxClassifier / SigmoidClassifier against scikit-learn's LogisticRegression.

    python benchmarks/bench_models.py [--C 1.0 0.1] [--repeat 5] [--markdown]

On scikit-learn's bundled digits, iris, wine and breast-cancer data (offline),
each split 75/25 (stratified, ``random_state=0``) and standardised on the
training part, it fits at the same ``C``:

* single-label: ``SoftmaxClassifier(C)`` beside ``LogisticRegression(C)``
  (lbfgs, multinomial for more than two classes; both at their default
  ``tol=1e-4``; sklearn with ``max_iter=10000`` so that it converges);
* multi-label, on the digits (even, >= 5, prime): ``SigmoidClassifier(C)``
  beside ``MultiOutputClassifier(LogisticRegression(C))`` (one binary
  logistic regression per label: the same objective).

Reported: held-out accuracy (multi-label: all labels right) and log-loss
(multi-label: mean over labels), the relative log-loss difference
``sigmax / sklearn - 1``, and the median wall and CPU time of ``--repeat`` fits
(one thread each for BLAS: ``threadpoolctl``).  The issue's target: log-loss
within 2% at the same C.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sigmax.models import SigmoidClassifier, SoftmaxClassifier

DATASETS = {"digits": load_digits, "iris": load_iris, "wine": load_wine,
            "breast_cancer": load_breast_cancer}


def split(load):
    X, y = load(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0,
                                              stratify=y)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def digit_labels(d):
    return np.stack([d % 2 == 0, d >= 5, np.isin(d, [2, 3, 5, 7])], axis=1).astype(int)


def timed_fit(make, X, y, repeat):
    """The last fitted estimator, median wall and CPU seconds of ``repeat`` fits."""
    walls, cpus = [], []
    for _ in range(repeat):
        est = make()
        w0, c0 = time.perf_counter(), time.process_time()
        est.fit(X, y)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return est, statistics.median(walls), statistics.median(cpus)


def scores(est, X, y, multilabel):
    if multilabel:
        p = est.predict_proba(X)
        p = np.stack([q[:, 1] for q in p], axis=1) if isinstance(p, list) else p
        ll = float(np.mean([log_loss(y[:, j], p[:, j], labels=[0, 1])
                            for j in range(y.shape[1])]))
    else:
        ll = log_loss(y, est.predict_proba(X), labels=est.classes_)
    return accuracy_score(y, est.predict(X)), ll


def run(Cs, repeat):
    rows = []
    for C in Cs:
        jobs = [(name, False, split(load)) for name, load in DATASETS.items()]
        X_tr, X_te, d_tr, d_te = split(load_digits)
        jobs.append(("digits even/>=5/prime", True,
                     (X_tr, X_te, digit_labels(d_tr), digit_labels(d_te))))
        for name, multilabel, (X_tr, X_te, y_tr, y_te) in jobs:
            if multilabel:
                ours = (lambda: SigmoidClassifier(C=C), "SigmoidClassifier")
                ref = (lambda: MultiOutputClassifier(LogisticRegression(C=C, max_iter=10000)),
                       "MultiOutput(LogisticRegression)")
            else:
                ours = (lambda: SoftmaxClassifier(C=C), "SoftmaxClassifier")
                ref = (lambda: LogisticRegression(C=C, max_iter=10000), "LogisticRegression")
            res = {}
            for make, label in (ours, ref):
                est, wall, cpu = timed_fit(make, X_tr, y_tr, repeat)
                res[label] = (*scores(est, X_te, y_te, multilabel), wall, cpu)
            (a_lab, a), (b_lab, b) = res.items()
            rows.append([name, f"{C:g}", f"{a[0]:.4f} / {b[0]:.4f}", f"{a[1]:.4f} / {b[1]:.4f}",
                         f"{100 * (a[1] / b[1] - 1):+.2f}%",
                         f"{a[2] * 1e3:.1f} / {b[2] * 1e3:.1f}",
                         f"{a[3] * 1e3:.0f} / {b[3] * 1e3:.0f}", f"{a_lab} / {b_lab}"])
    return rows


HEADER = ["data", "C", "accuracy (sigmax / sklearn)", "log-loss (sigmax / sklearn)",
          "log-loss diff", "fit wall ms", "fit CPU ms", "models"]


def format_rows(rows, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(r[i])) for r in [HEADER] + rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths))
                     for r in [HEADER] + rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--C", nargs="+", type=float, default=[1.0, 0.1])
    parser.add_argument("--repeat", type=int, default=5, help="fits per median")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        rows = run(args.C, args.repeat)
    print(format_rows(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
