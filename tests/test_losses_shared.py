"""The loss helpers shared with the large-output losses.

``sigmax._policy.check_labels``, ``check_label_smoothing``,
``check_ignore_index`` and ``sigmax._losses.reduce_loss`` /
``reduction_scale``: values, properties and pinned messages.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sigmax import _policy
from sigmax._losses import reduce_loss, reduction_scale

from conftest import fd_grad


def raises(exc, *parts):
    """pytest.raises matching the message parts in order (each taken literally)."""
    return pytest.raises(exc, match="^" + ".*".join(re.escape(p) for p in parts))


class TestCheckLabels:
    def test_returns_intp(self):
        for dtype in (np.int8, np.uint8, np.int32, np.uint64, np.int64):
            out = _policy.check_labels(np.array([[0, 2], [1, 1]], dtype=dtype), (2, 2), 3, "f")
            assert out.dtype == np.intp
            np.testing.assert_array_equal(out, [[0, 2], [1, 1]])

    def test_lists_and_scalars(self):
        np.testing.assert_array_equal(_policy.check_labels([1, 0], (2,), 2, "f"), [1, 0])
        assert _policy.check_labels(3, (), 4, "f")[()] == 3

    def test_ignored_entries_pass_and_keep_their_value(self):
        out = _policy.check_labels([0, -100, 2], (3,), 3, "f", ignore_index=-100)
        np.testing.assert_array_equal(out, [0, -100, 2])
        # An ignore_index inside the class range is just not checked.
        _policy.check_labels([1, 1], (2,), 2, "f", ignore_index=1)

    def test_input_not_modified(self):
        t = np.array([2, 0], dtype=np.int32)
        _policy.check_labels(t, (2,), 3, "f")
        np.testing.assert_array_equal(t, [2, 0])

    def test_first_offending_position_and_value(self):
        t = np.array([[0, 1, 2], [1, 5, -1]])
        with raises(ValueError, "cross_entropy: target holds 5 at index (1, 1); "
                    "expected a class index in [0, 2]"):
            _policy.check_labels(t, (2, 3), 3, "cross_entropy")
        with raises(ValueError, "f: target holds -1 at index (1, 2); expected a class index "
                    "in [0, 2] or ignore_index=5"):
            _policy.check_labels(t, (2, 3), 3, "f", ignore_index=5)
        with raises(ValueError, "f: labels holds 3 at index (); expected a class index in [0, 2]"):
            _policy.check_labels(3, (), 3, "f", name="labels")
        with raises(ValueError, "f: target holds 0 at index (0,); expected no class index "
                    "(there are 0 classes)"):
            _policy.check_labels([0], (1,), 0, "f")

    def test_uint64_beyond_intp_does_not_wrap(self):
        with raises(ValueError, f"f: target holds {2**63 + 1} at index (0,)"):
            _policy.check_labels(np.array([2**63 + 1], dtype=np.uint64), (1,), 3, "f",
                                 ignore_index=-1)

    @pytest.mark.parametrize("target, dtype", [(np.array([1.0, 0.0]), "float64"),
                                               (np.array([1.0, 0.0], np.float32), "float32"),
                                               (np.array([True, False]), "bool")])
    def test_float_and_bool_rejected(self, target, dtype):
        with raises(TypeError, f"f: target must be an integer array of class indices; "
                    f"received dtype {dtype} (float and bool labels are not accepted"):
            _policy.check_labels(target, (2,), 2, "f")

    def test_non_numeric(self):
        with raises(TypeError, "f: target must be a real number or array of real numbers; "
                    "received 'a' (type str)"):
            _policy.check_labels("a", (), 2, "f")
        with raises(TypeError, "f: target must be a real floating-point, integer or boolean "
                    "array; received dtype complex128"):
            _policy.check_labels(np.ones(2, complex), (2,), 2, "f")

    def test_shape(self):
        with raises(ValueError, "f: target of shape (3,) does not match the expected shape (2,)"):
            _policy.check_labels([0, 1, 0], (2,), 2, "f")
        with raises(ValueError, "f: target of shape (2, 1) does not match the expected "
                    "shape (2,)"):
            _policy.check_labels([[0], [1]], (2,), 2, "f")


class TestCheckLabelSmoothing:
    @pytest.mark.parametrize("value", [0, 0.0, 0.1, 1, 1.0, np.float32(0.5), np.array(0.25)])
    def test_accepts(self, value):
        out = _policy.check_label_smoothing(value, "f")
        assert type(out) is float and out == float(value)

    @pytest.mark.parametrize("value, shown", [(-0.1, "-0.1"), (1.5, "1.5"), (2, "2"),
                                              (float("nan"), "nan"), (float("inf"), "inf")])
    def test_out_of_range(self, value, shown):
        with raises(ValueError, f"f: label_smoothing must be in [0, 1]; received {shown}"):
            _policy.check_label_smoothing(value, "f")

    @pytest.mark.parametrize("value, shown", [("0.1", "'0.1' (type str)"),
                                              (None, "None (type NoneType)"),
                                              (True, "True (type bool)"),
                                              (np.ones(2), "an array of shape (2,)")])
    def test_type(self, value, shown):
        with raises(TypeError, f"f: label_smoothing must be a real number in [0, 1]; "
                    f"received {shown}"):
            _policy.check_label_smoothing(value, "f")


class TestCheckIgnoreIndex:
    def test_accepts(self):
        assert _policy.check_ignore_index(None, "f") is None
        assert _policy.check_ignore_index(-100, "f") == -100
        out = _policy.check_ignore_index(np.int32(3), "f")
        assert type(out) is int and out == 3

    @pytest.mark.parametrize("value, shown", [(1.0, "1.0 (type float)"), (True, "True (type bool)"),
                                              ("3", "'3' (type str)")])
    def test_type(self, value, shown):
        with raises(TypeError, f"f: ignore_index must be an int or None; received {shown}"):
            _policy.check_ignore_index(value, "f")


class TestReduceLoss:
    def test_values(self):
        per = np.array([1.0, 2.0, 6.0])
        assert reduce_loss(per, "none") is per
        assert float(reduce_loss(per, "sum")) == 9.0
        assert float(reduce_loss(per, "mean")) == 3.0
        assert float(reduce_loss(per, "mean", weight_sum=4.5)) == 2.0
        # weight_sum is only the mean's denominator.
        assert float(reduce_loss(per, "sum", weight_sum=4.5)) == 9.0

    def test_zero_denominator_gives_zero(self):
        for per, ws in [(np.zeros(3), 0.0), (np.zeros(0), None), (np.ones(2), 0)]:
            out = reduce_loss(per, "mean", weight_sum=ws)
            assert out.shape == () and float(out) == 0.0
            assert reduction_scale("mean", per.size, weight_sum=ws) == 0.0
        assert float(reduce_loss(np.zeros(0), "sum")) == 0.0

    def test_float32_accumulates_in_float64(self):
        # 2**24 + 1 ones: a float32 running sum would stop at 2**24.
        per = np.ones(2**24 + 1, dtype=np.float32)
        assert reduce_loss(per, "sum").dtype == np.float64
        assert float(reduce_loss(per, "sum")) == 2**24 + 1

    def test_scale(self):
        assert reduction_scale("none", 7) == 1.0
        assert reduction_scale("sum", 7) == 1.0
        assert reduction_scale("mean", 4) == 0.25
        assert reduction_scale("mean", 4, weight_sum=0.5) == 2.0

    @settings(max_examples=40, deadline=None)
    @given(hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e3, 1e3)),
           st.sampled_from(["mean", "sum"]), st.one_of(st.none(), st.floats(0.5, 10.0)))
    def test_scale_is_the_gradient_of_the_reduction(self, per, reduction, weight_sum):
        grad = fd_grad(lambda p: float(reduce_loss(p, reduction, weight_sum=weight_sum)), per)
        scale = reduction_scale(reduction, per.size, weight_sum=weight_sum)
        np.testing.assert_allclose(grad, scale, rtol=1e-6)
        total = float(reduce_loss(per, "sum"))
        np.testing.assert_allclose(float(reduce_loss(per, reduction, weight_sum=weight_sum)),
                                   total * scale, rtol=1e-12, atol=1e-12)

    @pytest.mark.parametrize("name, f", [("reduce_loss", lambda r: reduce_loss(np.ones(2), r)),
                                         ("reduction_scale", lambda r: reduction_scale(r, 2))])
    def test_bad_reduction(self, name, f):
        with raises(ValueError, f"{name}: reduction must be one of 'mean', 'sum' or 'none'; "
                    "received 'avg' (type str)"):
            f("avg")
