"""``sigmax train [DATA.csv] --target COL [--multilabel COLS]``: fit, score, save.

``--target`` names a column of classes, fitted with a SoftmaxClassifier
(single-label); ``--multilabel`` names 0/1 columns, fitted together with a
SigmoidClassifier (multi-label); both may be given.  Every other column is a
numeric feature.  Features are standardised (a scikit-learn pipeline
``StandardScaler -> classifier``), a stratified part is held out, the held-out
metrics are printed and the fitted pipelines are pickled to ``--model`` as::

    {"features": [...], "single_label": {"target": COL, "model": pipeline} or None,
     "multi_label": {"labels": [...], "model": pipeline} or None}

Without DATA the bundled digits are used: the digit (single-label) and
even / >= 5 / prime (multi-label).
"""

from __future__ import annotations

import csv
import pickle
import time
import warnings
from pathlib import Path

import numpy as np

from ._console import CommandError, console, err_console, progress, require, table


def _hidden(text: str) -> tuple:
    if not text.strip():
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise CommandError(f"--hidden must be comma-separated positive ints such as 64,32; "
                           f"received {text!r}")
    return sizes


def _as_number(values, column, path):
    try:
        return np.array([float(v) for v in values])
    except ValueError:
        bad = next(i for i, v in enumerate(values) if not _is_float(v))
        raise CommandError(f"{path}: column {column!r} must be numeric; line {bad + 2} holds "
                           f"{values[bad]!r}") from None


def _is_float(v) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def read_table(path: Path, target, multilabel):
    """Features, single-label target and multi-label matrix from a CSV with a header."""
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise CommandError(f"{path}: expected a header row and at least one data row")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if any(len(r) != len(header) for r in body):
        bad = next(i for i, r in enumerate(body) if len(r) != len(header))
        raise CommandError(f"{path}: line {bad + 2} has {len(body[bad])} fields; expected "
                           f"{len(header)} (the header's)")
    labels = [c.strip() for c in multilabel.split(",")] if multilabel else []
    for col in ([target] if target else []) + labels:
        if col not in header:
            raise CommandError(f"{path}: no column {col!r}; the columns are "
                               f"{', '.join(header)}")
    cols = {h: [r[i].strip() for r in body] for i, h in enumerate(header)}
    features = [h for h in header if h != target and h not in labels]
    if not features:
        raise CommandError(f"{path}: no feature columns left besides the targets")
    X = np.column_stack([_as_number(cols[h], h, path) for h in features])
    y = None
    if target:
        raw = cols[target]
        y = np.array([int(v) for v in raw]) if all(v.lstrip("-").isdigit() for v in raw) \
            else np.array(raw)
    Y = None
    if labels:
        Y = np.column_stack([_as_number(cols[c], c, path) for c in labels])
        if not np.isin(Y, (0, 1)).all():
            c = labels[int(np.argmax(~np.isin(Y, (0, 1)).all(axis=0)))]
            raise CommandError(f"{path}: multi-label column {c!r} must hold 0 or 1 only")
        Y = Y.astype(int)
    return features, X, y, target, Y, labels


def run(data, target, multilabel, C, hidden, test_size, seed, model_path) -> int:
    require("sklearn", "sklearn")
    from sklearn.model_selection import train_test_split

    sizes = _hidden(hidden)
    if not 0 < test_size < 1:
        raise CommandError(f"--test-size must be in (0, 1); received {test_size}")
    if data is None:
        if target or multilabel:
            raise CommandError("--target and --multilabel name columns of DATA.csv; "
                               "without DATA the bundled digits are used")
        from sklearn.datasets import load_digits

        from ._tour_models import LABELS, digit_labels

        X, y = load_digits(return_X_y=True)
        features, target, labels, Y = [f"pixel_{i}" for i in range(64)], "digit", \
            list(LABELS), digit_labels(y)
        source = "the bundled digits"
    else:
        if not (target or multilabel):
            raise CommandError("give --target COL and/or --multilabel COL1,COL2,...")
        features, X, y, target, Y, labels = read_table(Path(data), target, multilabel)
        source = str(data)
    idx = np.arange(X.shape[0])
    stratify = y if y is not None and np.unique(y, return_counts=True)[1].min() >= 2 else None
    try:
        train, test = train_test_split(idx, test_size=test_size, random_state=seed,
                                       stratify=stratify)
    except ValueError as exc:
        raise CommandError(f"cannot hold out {test_size} of {X.shape[0]} rows: {exc}") from None
    console.print(f"{source}: {len(train)} training rows, {len(test)} held out, "
                  f"{len(features)} features; C = {C}, hidden layers {sizes or 'none'}")
    jobs = []
    if y is not None:
        jobs.append(("single_label", y))
    if Y is not None:
        jobs.append(("multi_label", Y))
    saved = {"features": features, "single_label": None, "multi_label": None}
    rows = []
    with progress(transient=True) as bar:
        task = bar.add_task("fitting", total=len(jobs))
        for kind, target_values in jobs:
            pipe, seconds = _fit(kind, X[train], target_values[train], C, sizes, seed)
            rows.append(_metrics(kind, pipe, X[test], target_values[test], seconds))
            saved[kind] = ({"target": target, "model": pipe} if kind == "single_label"
                           else {"labels": labels, "model": pipe})
            bar.advance(task)
    console.print(table(["model", "target", "accuracy", "log-loss", "hamming loss",
                         "iterations", "fit time"],
                        [[r[0], target if r[0].startswith("Softmax") else ", ".join(labels),
                          *r[1:]] for r in rows]))
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    with open(model_path, "wb") as f:
        pickle.dump(saved, f)
    console.print(f"saved the model to {model_path}")
    return 0


def _fit(kind, X, y, C, sizes, seed):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..models import SigmoidClassifier, SoftmaxClassifier

    cls = SoftmaxClassifier if kind == "single_label" else SigmoidClassifier
    pipe = make_pipeline(StandardScaler(), cls(C=C, hidden_layer_sizes=sizes or None,
                                               random_state=seed))
    from sklearn.exceptions import ConvergenceWarning

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            pipe.fit(X, y)
        except ValueError as exc:
            raise CommandError(f"cannot fit {cls.__name__}: {exc}") from None
    for w in caught:  # one line each on stderr, not a traceback-like warning
        err_console.print(f"note: {w.message}", markup=False)
    return pipe, time.perf_counter() - t0


def _metrics(kind, pipe, X, y, seconds):
    from sklearn.metrics import accuracy_score, hamming_loss, log_loss

    clf = pipe[-1]
    p = pipe.predict_proba(X)
    pred = pipe.predict(X)
    if kind == "single_label":
        ll = log_loss(y, p, labels=clf.classes_)
        ham = "-"
    else:
        ll = float(np.mean([log_loss(y[:, j], p[:, j], labels=[0, 1])
                            for j in range(y.shape[1])]))
        ham = f"{hamming_loss(y, pred):.4f}"
    return [type(clf).__name__, f"{accuracy_score(y, pred):.4f}", f"{ll:.4f}", ham,
            str(clf.n_iter_), f"{seconds * 1e3:.0f} ms"]
