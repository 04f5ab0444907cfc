"""Tour step: single-label vs multi-label classification on the bundled digits.

The seeds' practical rule, run: SoftmaxClassifier for the digit (exactly one
class is right), SigmoidClassifier for three properties of it that can hold
together (even, >= 5, prime), and seed 3's "multiple sigmoids in a One vs.
All manner" on the digit for comparison.  Everything is offline: the digits
ship with scikit-learn.
"""

from __future__ import annotations

import time

import numpy as np

from . import _figures
from ._console import progress, require, table

#: The multi-label target derived from a digit.
LABELS = ("even", ">= 5", "prime")
_PRIMES = np.array([2, 3, 5, 7])


def digit_labels(digit) -> np.ndarray:
    """The (n, 3) indicator matrix [even, >= 5, prime] of the digits."""
    digit = np.asarray(digit)
    return np.stack([digit % 2 == 0, digit >= 5, np.isin(digit, _PRIMES)], axis=1).astype(int)


def digits_split(seed: int = 0, test_size: float = 0.25):
    """The digits, pixels scaled to [0, 1], split (stratified) into train and test."""
    require("sklearn", "sklearn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, digit = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, digit, test_size=test_size, random_state=seed,
                            stratify=digit)


def fit_models(X_train, d_train, C: float = 1.0, on_fit=None):
    """The three models of the tour, fitted: softmax (digit), sigmoids one-vs-rest (digit),
    sigmoids multi-label (even, >= 5, prime); ``on_fit(name, seconds)`` after each."""
    from ..models import SigmoidClassifier, SoftmaxClassifier

    jobs = [("softmax: digit (SLC)", SoftmaxClassifier(C=C), d_train),
            ("sigmoids one-vs-rest: digit", SigmoidClassifier(C=C), d_train),
            ("sigmoids: even, >=5, prime (MLC)", SigmoidClassifier(C=C),
             digit_labels(d_train))]
    fitted = {}
    for name, est, y in jobs:
        t0 = time.perf_counter()
        est.fit(X_train, y)
        fitted[name] = (est, time.perf_counter() - t0)
        if on_fit is not None:
            on_fit(name)
    return fitted


def _calibration_curves(models, X_test, d_test):
    slc = models["softmax: digit (SLC)"][0]
    mlc = models["sigmoids: even, >=5, prime (MLC)"][0]
    p = slc.predict_proba(X_test)
    curves = {"softmax: top-class confidence": (p.max(axis=1),
                                                slc.classes_[p.argmax(axis=1)] == d_test)}
    q = mlc.predict_proba(X_test)
    curves["sigmoids: every label's probability"] = (q, digit_labels(d_test))
    return curves


def calibration_figure(path, seed: int = 0):
    """Fit the tour's models and draw their reliability diagram to ``path``."""
    X_train, X_test, d_train, d_test = digits_split(seed)
    models = fit_models(X_train, d_train)
    return _figures.reliability(path, _calibration_curves(models, X_test, d_test))


def classifiers(t):
    """Train and score the classifiers; check the single- vs multi-label behaviour."""
    from sklearn.metrics import accuracy_score, hamming_loss, log_loss

    t.section("8. Single-label vs multi-label on the bundled digits (seeds 1, 2, 3)")
    X_train, X_test, d_train, d_test = digits_split()
    t.out(f"digits: {X_train.shape[0]} training and {X_test.shape[0]} held-out images of "
          f"8 x 8 pixels; C = 1.0, L-BFGS on sigmax's value_and_grad")
    with progress(transient=True) as bar:
        task = bar.add_task("fitting", total=3)
        models = fit_models(X_train, d_train, on_fit=lambda name: bar.advance(task))
    Y_test = digit_labels(d_test)
    rows = []
    for name, (est, seconds) in models.items():
        mlc = "MLC" in name
        y = Y_test if mlc else d_test
        p = est.predict_proba(X_test)
        ll = np.mean([log_loss(Y_test[:, j], p[:, j], labels=[0, 1]) for j in range(3)]) \
            if mlc else log_loss(d_test, p, labels=est.classes_)
        acc = accuracy_score(y, est.predict(X_test))
        ham = f"{hamming_loss(y, est.predict(X_test)):.4f}" if mlc else "-"
        rows.append([name, f"{acc:.4f}", ham, f"{ll:.4f}", str(est.n_iter_),
                     f"{seconds * 1e3:.0f} ms"])
    t.out(table(["model", "accuracy", "hamming", "log-loss", "iterations", "fit"], rows,
                title="held-out digits (MLC: accuracy = all 3 labels right, log-loss = mean "
                      "per label)"))
    slc = models["softmax: digit (SLC)"][0]
    ovr = models["sigmoids one-vs-rest: digit"][0]
    mlc = models["sigmoids: even, >=5, prime (MLC)"][0]
    p_slc, q_mlc = slc.predict_proba(X_test), mlc.predict_proba(X_test)
    t.check("SoftmaxClassifier gets >= 95% of the held-out digits right",
            slc.score(X_test, d_test) >= 0.95)
    t.check("softmax probabilities sum to 1 in every row (exactly one class is right)",
            np.allclose(p_slc.sum(axis=1), 1.0, rtol=1e-12))
    t.check("predict_log_proba == log_softmax(logits), finite even where proba rounds to 0",
            np.isfinite(slc.predict_log_proba(X_test)).all()
            and np.allclose(np.exp(slc.predict_log_proba(X_test)), p_slc, atol=1e-15))
    t.check("one-vs-rest sigmoids come close to the softmax on the digit (within 3 points)",
            abs(ovr.score(X_test, d_test) - slc.score(X_test, d_test)) <= 0.03)
    both = int(np.sum(Y_test.sum(axis=1) >= 2))
    pred = mlc.predict(X_test)
    t.out(f"held-out digits with two or more labels true (e.g. 7: >= 5 and prime): {both}; "
          f"SigmoidClassifier says yes to two or more for {int(np.sum(pred.sum(1) >= 2))}")
    t.check("SigmoidClassifier: hamming loss <= 0.1, and it says yes to several labels at once",
            hamming_loss(Y_test, pred) <= 0.1 and np.sum(pred.sum(axis=1) >= 2) > 0)
    t.check("sigmoid probabilities are independent: rows do not sum to 1",
            not np.allclose(q_mlc.sum(axis=1), 1.0, atol=1e-3))
    agree = np.mean(digit_labels(slc.predict(X_test)) == pred)
    t.out(f"labels derived from the softmax's digit agree with the sigmoids' labels on "
          f"{agree:.1%} of the entries")
    t.figure("calibration.png", _figures.reliability,
             _calibration_curves(models, X_test, d_test))
