"""SoftmaxClassifier and SigmoidClassifier: scikit-learn's checks, the anchor, the gradients."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_iris, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import sigmax as sx
from sigmax.models import SigmoidClassifier, SoftmaxClassifier, TwoHeadClassifier

from conftest import fd_grad


# The default (linear) estimators pass every check.  The MLP bodies are not in
# this list: on the checks' small random problems a non-convex fit runs to
# max_iter (a ConvergenceWarning, an error here) and takes minutes; they are
# tested below on their own (gradients, moons, pickling).
@parametrize_with_checks([SoftmaxClassifier(), SigmoidClassifier()])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def _scaled(load):
    X, y = load(return_X_y=True)
    return StandardScaler().fit_transform(X), y


# -- the anchor: scikit-learn's LogisticRegression at the same C ------------------

@pytest.mark.parametrize("load", [load_iris, load_breast_cancer], ids=["iris", "cancer"])
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_softmax_equals_logistic_regression(load, C):
    X, y = _scaled(load)
    ours = SoftmaxClassifier(C=C, tol=1e-10).fit(X, y)
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape  # one row for two classes, as sklearn
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X),
                               rtol=1e-4, atol=1e-5)


def test_sigmoid_binary_equals_softmax_binary():
    # softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)] (seed 0): the same model.
    X, y = _scaled(load_breast_cancer)
    a = SoftmaxClassifier(C=0.5, tol=1e-10).fit(X, y)
    b = SigmoidClassifier(C=0.5, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-8)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_one_vs_rest_and_multilabel_equal_independent_logistic_regressions():
    # The multi-label objective is a sum over labels with a separable penalty:
    # each column is its own binary logistic regression.
    X, y = _scaled(load_iris)
    Y = np.stack([y == 0, y == 1, y == 2], axis=1).astype(int)
    multi = SigmoidClassifier(C=2.0, tol=1e-10).fit(X, Y)
    ovr = SigmoidClassifier(C=2.0, tol=1e-10).fit(X, y)
    for j in range(3):
        ref = LogisticRegression(C=2.0, tol=1e-10, max_iter=10000).fit(X, Y[:, j])
        np.testing.assert_allclose(multi.coef_[j], ref.coef_[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ovr.coef_[j], ref.coef_[0], rtol=1e-4, atol=1e-6)
    q = sx.sigmoid(ovr.decision_function(X))
    np.testing.assert_allclose(ovr.predict_proba(X), q / q.sum(1, keepdims=True), rtol=1e-13)
    np.testing.assert_array_equal(multi.predict(X), (multi.predict_proba(X) > 0.5).astype(int))


# -- the gradient L-BFGS is given: finite differences in float64 ------------------

_GRAD_CASES = {
    "softmax-linear": (SoftmaxClassifier(C=0.7), "multiclass"),
    "softmax-binary": (SoftmaxClassifier(C=0.7, class_weight="balanced"), "binary"),
    "softmax-mlp": (SoftmaxClassifier(C=0.7, hidden_layer_sizes=(4, 3), activation="tanh",
                                      random_state=0), "multiclass"),
    "sigmoid-multilabel": (SigmoidClassifier(C=0.7, class_weight="balanced"), "multilabel"),
    "sigmoid-mlp-logistic": (SigmoidClassifier(C=0.7, hidden_layer_sizes=(3,),
                                               activation="logistic", random_state=0,
                                               fit_intercept=False), "multilabel"),
    "sigmoid-ovr-relu": (SigmoidClassifier(C=0.7, hidden_layer_sizes=(5,), random_state=1,
                                           class_weight={0: 2.0}), "multiclass"),
}


@pytest.mark.parametrize("case", list(_GRAD_CASES))
def test_objective_gradient_matches_finite_differences(case, rng):
    est, kind = _GRAD_CASES[case]
    X = rng.normal(size=(12, 3))
    y = {"multiclass": rng.integers(3, size=12), "binary": rng.integers(2, size=12),
         "multilabel": (rng.random((12, 2)) < 0.5).astype(int)}[kind]
    if kind == "multilabel":
        y[0], y[1] = [0, 0], [1, 1]  # both values in every column
    else:
        y[:3] = np.arange(3) % (2 if kind == "binary" else 3)
    sw = rng.uniform(0.5, 2.0, size=12)
    X, Y, weights, total, net = est._prepare(X, y, sw)
    objective = est._objective(net, X, Y, weights, total)
    theta = rng.normal(size=net.n_params) * 0.5
    f, g = objective(theta)
    assert np.isfinite(f)
    np.testing.assert_allclose(g, fd_grad(lambda t: objective(t)[0], theta), rtol=1e-6,
                               atol=1e-8)


def test_loss_is_sigmax_cross_entropy():
    # The objective at theta is the weighted mean of sx.cross_entropy plus the penalty.
    X, y = _scaled(load_iris)
    est = SoftmaxClassifier(C=3.0).fit(X, y)
    logits = est.decision_function(X)
    expected = sx.cross_entropy(logits, y) + np.sum(est.coef_ ** 2) / (2 * 3.0 * len(y))
    np.testing.assert_allclose(est.loss_, expected, rtol=1e-12)


# -- predictions ----------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1e-3, 1e3), seed=st.integers(0, 2**16))
def test_probabilities_are_consistent(scale, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 3))
    y = np.arange(20) % 3
    with warnings.catch_warnings():  # a few iterations: any logits, not only optimal ones
        warnings.simplefilter("ignore", ConvergenceWarning)
        soft = SoftmaxClassifier(max_iter=5).fit(X, y)
        sig = SigmoidClassifier(max_iter=5).fit(X, (X[:, :2] > 0).astype(int))
    Xs = X * scale
    for est in (soft, sig):
        p, lp = est.predict_proba(Xs), est.predict_log_proba(Xs)
        assert np.all((p >= 0) & (p <= 1)) and not np.isnan(lp).any()
        np.testing.assert_allclose(np.exp(lp), p, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(soft.predict_proba(Xs).sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(soft.predict(Xs),
                                  soft.classes_[soft.predict_proba(Xs).argmax(axis=1)])
    np.testing.assert_allclose(sig.predict_proba(Xs), sx.sigmoid(sig.decision_function(Xs)),
                               rtol=1e-15)


def test_log_proba_is_exact_where_proba_underflows():
    X = np.array([[-1.0], [1.0]])
    est = SoftmaxClassifier(C=1e6, tol=1e-12).fit(X, [0, 1])
    z = est.decision_function(np.array([[-800.0]]))  # a logit far below -745
    lp = est.predict_log_proba(np.array([[-800.0]]))
    assert est.predict_proba(np.array([[-800.0]]))[0, 1] == 0.0
    np.testing.assert_allclose(lp[0, 1], z[0], rtol=1e-12)  # log sigmoid(z) = z there
    assert np.isfinite(lp).all()


def test_mlp_solves_what_a_linear_model_cannot():
    X, y = make_moons(n_samples=300, noise=0.1, random_state=0)
    linear = SoftmaxClassifier().fit(X, y).score(X, y)
    mlp = SoftmaxClassifier(hidden_layer_sizes=(16,), C=100.0, random_state=0).fit(X, y)
    assert linear < 0.9 < 0.98 <= mlp.score(X, y)
    assert [w.shape for w in mlp.coefs_] == [(2, 16), (16, 1)]
    assert not hasattr(mlp, "coef_")


# -- parameters -----------------------------------------------------------------

def test_warm_start_continues_from_the_previous_solution():
    X, y = _scaled(load_iris)
    est = SoftmaxClassifier(warm_start=True, tol=1e-8).fit(X, y)
    first = est.n_iter_
    est.fit(X, y)
    assert first > 5 and est.n_iter_ <= 2
    cold = SoftmaxClassifier(warm_start=False, tol=1e-8).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == first


def test_fit_intercept_false_and_class_weight():
    X, y = _scaled(load_iris)
    est = SoftmaxClassifier(fit_intercept=False).fit(X, y)
    np.testing.assert_array_equal(est.intercept_, 0.0)
    # A class weight is a sample weight per class.
    a = SoftmaxClassifier(class_weight={0: 3.0, 2: 0.5}, tol=1e-10).fit(X, y)
    b = SoftmaxClassifier(tol=1e-10).fit(X, y, sample_weight=np.choose(y, [3.0, 1.0, 0.5]))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)
    # Multi-label: {0: w0, 1: w1} weighs negatives and positives of every label.
    Y = np.stack([y == 0, y >= 1], axis=1).astype(int)
    c = SigmoidClassifier(class_weight={1: 4.0}, tol=1e-10).fit(X, Y)
    d = SigmoidClassifier(class_weight="balanced", tol=1e-10).fit(X, Y)
    e = SigmoidClassifier(tol=1e-10).fit(X, Y)
    assert (c.predict_proba(X).mean(0) > e.predict_proba(X).mean(0)).all()
    assert not np.allclose(d.coef_, e.coef_)


def test_max_iter_warns_convergence():
    X, y = _scaled(load_iris)
    with pytest.warns(ConvergenceWarning, match=r"SoftmaxClassifier: L-BFGS did not converge "
                                                r"in max_iter=1 iterations"):
        SoftmaxClassifier(max_iter=1).fit(X, y)


def test_pickle_round_trip():
    X, y = _scaled(load_iris)
    est = SigmoidClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("make, fit_args, match", [
    (lambda: SoftmaxClassifier(hidden_layer_sizes=(3, 0)), None,
     r"SoftmaxClassifier: hidden_layer_sizes must be None or a sequence of positive ints; "
     r"received \(3, 0\)"),
    (lambda: SoftmaxClassifier(), ([[0.0], [1.0]], [1, 1]),
     r"SoftmaxClassifier: y needs samples of at least 2 classes; got 1 class \(1\)"),
    (lambda: SoftmaxClassifier(class_weight={7: 2.0}), None,
     r"SoftmaxClassifier: class_weight names the class 7, which is not in y; "
     r"expected one of \[0, 1, 2\]"),
    (lambda: SigmoidClassifier(class_weight={2: 1.0}), ([[0.0], [1.0]], [[0, 1], [1, 0]]),
     r"SigmoidClassifier: with a multi-label target class_weight keys must be 0 and 1 "
     r"\(negatives, positives\); received \[2\]"),
    (lambda: SoftmaxClassifier(), ([[0.0], [1.0]], [0, 1], [0.0, 0.0]),
     r"Sample weights must contain at least one non-zero number"),
    (lambda: SoftmaxClassifier(class_weight={0: 0.0, 1: 0.0}), ([[0.0], [1.0]], [0, 1]),
     r"SoftmaxClassifier: the sample weights sum to 0.0; expected a positive total weight"),
    (lambda: SoftmaxClassifier(C=-1.0), None, r"The 'C' parameter of SoftmaxClassifier"),
])
def test_bad_arguments_raise_value_errors(make, fit_args, match):
    X, y = _scaled(load_iris)
    args = fit_args or (X, y)
    with pytest.raises(ValueError, match=match):
        make().fit(*args[:2], sample_weight=args[2] if len(args) > 2 else None)


# -- TwoHeadClassifier: a softmax head and a sigmoid head on one body -------------

def _two_head_data():
    X, y = _scaled(load_iris)
    labels = np.stack([X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(int)
    return X, y, labels, np.column_stack([y, labels])


def test_two_heads_without_hidden_layers_equal_the_two_classifiers():
    # The penalty and the losses are sums over the heads: the heads fit apart.
    X, y, labels, Y = _two_head_data()
    both = TwoHeadClassifier(C=2.0, tol=1e-10).fit(X, Y)
    soft = SoftmaxClassifier(C=2.0, tol=1e-10).fit(X, y)
    sig = SigmoidClassifier(C=2.0, tol=1e-10).fit(X, labels)
    np.testing.assert_allclose(both.coef_[:3], soft.coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(both.coef_[3:], sig.coef_, rtol=1e-4, atol=1e-6)
    p_class, p_labels = both.predict_proba(X)
    np.testing.assert_allclose(p_class, soft.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(p_labels, sig.predict_proba(X), atol=1e-6)
    pred = both.predict(X)
    assert pred.shape == (150, 3)
    np.testing.assert_array_equal(pred[:, 0], soft.predict(X))
    assert both.score(X, Y) == np.mean(np.all(pred == Y, axis=1)) > 0.8


@pytest.mark.parametrize("n_classes", [2, 3])
def test_two_heads_gradient_matches_finite_differences(rng, n_classes):
    est = TwoHeadClassifier(C=0.5, hidden_layer_sizes=(4,), activation="tanh",
                            class_weight="balanced", random_state=0)
    X = rng.normal(size=(12, 3))
    y = np.column_stack([np.arange(12) % n_classes, (rng.random((12, 2)) < 0.5)])
    X, Y, weights, total, net = est._prepare(X, y.astype(int), rng.uniform(0.5, 2, size=12))
    objective = est._objective(net, X, Y, weights, total)
    theta = rng.normal(size=net.n_params) * 0.5
    np.testing.assert_allclose(objective(theta)[1], fd_grad(lambda t: objective(t)[0], theta),
                               rtol=1e-6, atol=1e-8)


def test_two_heads_share_an_mlp_body():
    X, y, labels, Y = _two_head_data()
    est = TwoHeadClassifier(hidden_layer_sizes=(8,), C=10.0, activation="tanh",
                            random_state=0).fit(X, Y)
    assert [w.shape for w in est.coefs_] == [(4, 8), (8, 5)]
    p_class, _ = est.predict_proba(X)
    lp_class, lp_labels = est.predict_log_proba(X)
    np.testing.assert_allclose(np.exp(lp_class), p_class, rtol=1e-12)
    assert est.score(X, Y) > 0.95


@pytest.mark.parametrize("y, match", [
    (np.zeros(4), r"TwoHeadClassifier: y must be 2-D with the classes in column 0 and at "
                  r"least one 0/1 label column; received shape \(4,\)"),
    (np.array([[0, 2], [1, 0], [0, 1], [1, 1]]),
     r"TwoHeadClassifier: columns 1.. of y must hold 0 or 1 only"),
])
def test_two_heads_bad_targets(y, match):
    with pytest.raises(ValueError, match=match):
        TwoHeadClassifier().fit(np.arange(8.0).reshape(4, 2), y)
