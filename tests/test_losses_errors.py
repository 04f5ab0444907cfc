"""Bad arguments to the losses: every message names the function (or method), the
argument, what was received and what was expected; each case pins them with ``match=``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import sigmax as sx

X = np.zeros((2, 3))
Y = np.array([0, 2])
B = np.zeros((2, 3))


def raises(exc, *parts):
    """pytest.raises matching the message parts in order (each taken literally)."""
    return pytest.raises(exc, match="^" + ".*".join(re.escape(p) for p in parts))


def _both(f):
    """(qualified name, call) for the value and value_and_grad of a loss."""
    return [(f.name, f), (f.name + ".value_and_grad", f.value_and_grad)]


CLASS = _both(sx.cross_entropy) + _both(sx.nll_loss)
CE = _both(sx.cross_entropy)
BINARY = (_both(sx.binary_cross_entropy) + _both(sx.binary_cross_entropy_with_logits)
          + _both(sx.sigmoid_focal_loss))
ALL = CLASS + BINARY
_ids = lambda cases: [n for n, _ in cases]  # noqa: E731


def _first(name):
    return "log_probs" if name.startswith("nll_loss") else (
        "probs" if name.startswith("binary_cross_entropy") and "logits" not in name
        else "logits")


@pytest.mark.parametrize("name, call", ALL, ids=_ids(ALL))
class TestCommon:
    def test_first_argument_not_numeric(self, name, call):
        arg = _first(name)
        with raises(TypeError, f"{name}: {arg} must be a real number or array of real numbers; "
                    "received 'abc' (type str)"):
            call("abc", Y if (name, call) in CLASS else B)

    def test_first_argument_complex(self, name, call):
        with raises(TypeError, f"{name}: {_first(name)} must be a real floating-point, integer "
                    "or boolean array; received dtype complex128"):
            call(X.astype(complex), Y if (name, call) in CLASS else B)

    @pytest.mark.parametrize("red", ["avg", None, 0])
    def test_reduction(self, name, call, red):
        with raises(ValueError, f"{name}: reduction must be one of 'mean', 'sum' or 'none'; "
                    f"received {red!r} (type {type(red).__name__})"):
            call(X, Y if (name, call) in CLASS else B, reduction=red)

    def test_target_not_numeric(self, name, call):
        with raises(TypeError, f"{name}: target must be a real number or array of real numbers; "
                    "received None (type NoneType)"):
            call(X, None)


@pytest.mark.parametrize("name, call", CLASS, ids=_ids(CLASS))
class TestClassAxisLosses:
    def test_axis_type(self, name, call):
        for axis, shown in [((0, 1), "(0, 1) (type tuple)"), (None, "None (type NoneType)"),
                            (1.0, "1.0 (type float)"), (True, "True (type bool)")]:
            with raises(TypeError, f"{name}: axis must be an int (the class axis); "
                        f"received {shown}"):
                call(X, Y, axis=axis)

    def test_axis_range(self, name, call):
        with raises(ValueError, f"{name}: axis 2 is out of range for {_first(name)} with 2 "
                    "dimensions; expected an int in [-2, 1]"):
            call(X, Y, axis=2)

    def test_zero_dim_input(self, name, call):
        with raises(ValueError, f"{name}: {_first(name)} must have at least 1 dimension (the "
                    "class axis); received a 0-d array"):
            call(1.0, 0)

    def test_label_out_of_range_names_the_first_position(self, name, call):
        with raises(ValueError, f"{name}: target holds 3 at index (1, 0); expected a class "
                    "index in [0, 2]"):
            call(np.zeros((2, 2, 3)), np.array([[0, 1], [3, 5]]))
        with raises(ValueError, f"{name}: target holds -1 at index (1,); expected a class "
                    "index in [0, 2] or ignore_index=-100"):
            call(X, [0, -1], ignore_index=-100)

    def test_label_shape(self, name, call):
        with raises(ValueError, f"{name}: target of shape (3,) does not match the expected "
                    "shape (2,)"):
            call(X, [0, 1, 2])
        with raises(ValueError, f"{name}: target of shape (2,) does not match the expected "
                    "shape (3,)"):
            call(X, [0, 1], axis=0)

    def test_weight(self, name, call):
        with raises(ValueError, f"{name}: weight must have shape (3,), one weight per class; "
                    "received shape (2,)"):
            call(X, Y, weight=[1.0, 2.0])
        with raises(TypeError, f"{name}: weight must be a real number or array of real numbers; "
                    "received 'w' (type str)"):
            call(X, Y, weight="w")

    def test_ignore_index_type(self, name, call):
        with raises(TypeError, f"{name}: ignore_index must be an int or None; "
                    "received -100.0 (type float)"):
            call(X, Y, ignore_index=-100.0)


@pytest.mark.parametrize("name, call", CE, ids=_ids(CE))
class TestCrossEntropyTargets:
    def test_bool_target(self, name, call):
        with raises(TypeError, f"{name}: target must be integer class indices or floating-point "
                    "class probabilities; received dtype bool"):
            call(X, np.ones((2, 3), dtype=bool))

    def test_integer_one_hot_target(self, name, call):
        with raises(ValueError, f"{name}: target of shape (2, 3) and dtype int64 does not match "
                    "the expected shape (2,): integer targets are class indices; pass class "
                    "probabilities (e.g. one-hot rows) as floats"):
            call(X, np.eye(3, dtype=np.int64)[[0, 2]])

    def test_probability_target_shape(self, name, call):
        with raises(ValueError, f"{name}: target of shape (2,) does not match the expected "
                    "shape (2, 3)"):
            call(X, np.array([0.5, 0.5]))

    def test_ignore_index_with_probabilities(self, name, call):
        with raises(ValueError, f"{name}: ignore_index applies to integer targets only; received "
                    "ignore_index=-100 with probability targets of dtype float64"):
            call(X, np.full((2, 3), 1 / 3), ignore_index=-100)

    @pytest.mark.parametrize("eps, shown", [(-0.1, "-0.1"), (1.5, "1.5"), (float("nan"), "nan")])
    def test_label_smoothing_range(self, name, call, eps, shown):
        with raises(ValueError, f"{name}: label_smoothing must be in [0, 1]; received {shown}"):
            call(X, Y, label_smoothing=eps)

    def test_label_smoothing_type(self, name, call):
        with raises(TypeError, f"{name}: label_smoothing must be a real number in [0, 1]; "
                    "received '0.1' (type str)"):
            call(X, Y, label_smoothing="0.1")


def test_nll_loss_rejects_probability_targets():
    with raises(TypeError, "nll_loss: target must be an integer array of class indices; "
                "received dtype float64"):
        sx.nll_loss(X, np.full((2, 3), 1 / 3))


@pytest.mark.parametrize("name, call", BINARY, ids=_ids(BINARY))
class TestBinaryLosses:
    def test_target_shape(self, name, call):
        with raises(ValueError, f"{name}: target of shape (3,) does not match the expected "
                    "shape (2, 3)"):
            call(X, np.zeros(3))

    def test_target_dtype(self, name, call):
        with raises(TypeError, f"{name}: target must be a real floating-point, integer or "
                    "boolean array; received dtype complex128"):
            call(X, B.astype(complex))


@pytest.mark.parametrize("name, call", _both(sx.binary_cross_entropy)
                         + _both(sx.binary_cross_entropy_with_logits))
def test_weight_broadcast(name, call):
    with raises(ValueError, f"{name}: weight of shape (4,) does not broadcast to the expected "
                "shape (2, 3)"):
        call(X, B, weight=np.ones(4))


@pytest.mark.parametrize("name, call", _both(sx.binary_cross_entropy_with_logits))
def test_pos_weight_broadcast(name, call):
    with raises(ValueError, f"{name}: pos_weight of shape (2,) does not broadcast to the "
                "expected shape (2, 3)"):
        call(X, B, pos_weight=np.ones(2))
    with raises(TypeError, f"{name}: pos_weight must be a real number or array of real numbers; "
                "received 'p' (type str)"):
        call(X, B, pos_weight="p")


@pytest.mark.parametrize("name, call", _both(sx.sigmoid_focal_loss))
class TestFocalArguments:
    @pytest.mark.parametrize("alpha, shown", [(1.5, "1.5"), (float("nan"), "nan")])
    def test_alpha_range(self, name, call, alpha, shown):
        with raises(ValueError, f"{name}: alpha must be in [0, 1], or negative to disable the "
                    f"weighting; received {shown}"):
            call(X, B, alpha=alpha)

    @pytest.mark.parametrize("gamma, shown", [(-1.0, "-1.0"), (float("inf"), "inf")])
    def test_gamma_range(self, name, call, gamma, shown):
        with raises(ValueError, f"{name}: gamma must be a non-negative finite number; "
                    f"received {shown}"):
            call(X, B, gamma=gamma)

    @pytest.mark.parametrize("arg", ["alpha", "gamma"])
    def test_types(self, name, call, arg):
        with raises(TypeError, f"{name}: {arg} must be a real number; received None "
                    "(type NoneType)"):
            call(X, B, **{arg: None})
