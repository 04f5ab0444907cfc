"""Bad arguments to softmax, log_softmax, logsumexp and softmax2d.

Every message must name the function (or method), the argument, what was
received and what was expected; each case pins all four with ``match=``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import sigmax as sx

X = np.zeros((2, 3))
ARRAY_FUNCS = [sx.softmax, sx.log_softmax, sx.logsumexp]


def _methods(f):
    """(qualified name, call(x, **kw)) for the value and every derivative method of f."""
    # Scalar cotangents and tangents broadcast to any shape.
    yield f.name, lambda x, **kw: f(x, **kw)
    yield f.name + ".vjp", lambda x, **kw: f.vjp(x, 1.0, **kw)
    yield f.name + ".jvp", lambda x, **kw: f.jvp(x, 1.0, **kw)
    if f is not sx.logsumexp:
        yield f.name + ".jacobian", lambda x, **kw: f.jacobian(x, **kw)


ALL_METHODS = [m for f in ARRAY_FUNCS for m in _methods(f)]
ACTIVATION_METHODS = [m for f in (sx.softmax, sx.log_softmax) for m in _methods(f)]
LSE_METHODS = list(_methods(sx.logsumexp))
_ids = [name for name, _ in ALL_METHODS]


def raises(exc, *parts):
    """pytest.raises matching the message parts in order (each taken literally)."""
    return pytest.raises(exc, match="^" + ".*".join(re.escape(p) for p in parts))


@pytest.mark.parametrize("name, call", ALL_METHODS, ids=_ids)
class TestAxis:
    def test_out_of_range(self, name, call):
        with raises(ValueError, f"{name}: axis 2 is out of range for x with 2 dimensions",
                    "(shape (2, 3))", "expected an int in [-2, 1]"):
            call(X, axis=2)
        with raises(ValueError, f"{name}: axis -3 is out of range", "[-2, 1]"):
            call(X, axis=(0, -3))

    def test_repeated(self, name, call):
        with raises(ValueError, f"{name}: axis (1, -1) repeats an axis of x with 2 dimensions",
                    "expected distinct axes"):
            call(X, axis=(1, -1))

    @pytest.mark.parametrize("axis", [1.5, "0", True, [0, "a"], np.float64(1.0)])
    def test_wrong_type(self, name, call, axis):
        with raises(TypeError, f"{name}: axis must be an int, a tuple of ints or None; "
                    f"received {axis!r}"[:60]):
            call(X, axis=axis)

    def test_zero_dim_input_needs_axis_none(self, name, call):
        with raises(ValueError, f"{name}: axis -1 is out of range for x with 0 dimensions",
                    "a 0-d input only accepts axis=None or axis=()"):
            call(np.float64(1.0))


@pytest.mark.parametrize("name, call", ALL_METHODS, ids=_ids)
class TestWhere:
    def test_mask_dtype(self, name, call):
        with raises(TypeError, f"{name}: where must be a boolean mask broadcastable to x's shape "
                    "(2, 3); received dtype int64"):
            call(X, where=np.ones((2, 3), dtype=np.int64))

    def test_mask_shape(self, name, call):
        with raises(ValueError, f"{name}: where of shape (4,) does not broadcast to x's shape "
                    "(2, 3)"):
            call(X, where=np.ones(4, dtype=bool))


@pytest.mark.parametrize("name, call", ACTIVATION_METHODS, ids=[n for n, _ in ACTIVATION_METHODS])
class TestTemperature:
    @pytest.mark.parametrize("t, shown", [(0, "0"), (-1.5, "-1.5"), (0.0, "0.0"),
                                          (float("nan"), "nan"), (float("inf"), "inf"),
                                          (np.float32(-2.0), "np.float32(-2.0)")])
    def test_not_positive_finite(self, name, call, t, shown):
        with raises(ValueError, f"{name}: temperature must be a positive finite number; "
                    f"received {shown}"):
            call(X, temperature=t)

    @pytest.mark.parametrize("t, shown", [("hot", "'hot' (type str)"),
                                          (None, "None (type NoneType)"),
                                          (True, "True (type bool)"),
                                          (np.ones(2), "an array of shape (2,) and dtype float64")])
    def test_not_a_number(self, name, call, t, shown):
        with raises(TypeError, f"{name}: temperature must be a positive real number; "
                    f"received {shown}"):
            call(X, temperature=t)


@pytest.mark.parametrize("name, call", ALL_METHODS, ids=_ids)
class TestInput:
    @pytest.mark.parametrize("x, shown", [("abc", "'abc' (type str)"),
                                          (None, "None (type NoneType)"),
                                          ([[1.0, 2.0], [3.0]], "[[1.0, 2.0], [3.0]] (type list)")])
    def test_non_numeric(self, name, call, x, shown):
        with raises(TypeError, f"{name}: x must be a real number or array of real numbers; "
                    f"received {shown}"):
            call(x)

    @pytest.mark.parametrize("dtype", [np.complex128, np.complex64, object, "U1",
                                       "datetime64[D]"])
    def test_wrong_dtype(self, name, call, dtype):
        x = np.zeros((2, 3)).astype(dtype)
        with raises(TypeError, f"{name}: x must be a real floating-point, integer or boolean "
                    f"array; received dtype {np.dtype(dtype)}"):
            call(x)


class TestCotangent:
    @pytest.mark.parametrize("f", [sx.softmax, sx.log_softmax], ids=lambda f: f.name)
    def test_activation_g_and_v_shape(self, f):
        with raises(ValueError, f"{f.name}.vjp: g of shape (4,) does not broadcast to the "
                    "expected shape (2, 3)"):
            f.vjp(X, np.ones(4))
        with raises(ValueError, f"{f.name}.jvp: v of shape (3, 3) does not broadcast to the "
                    "expected shape (2, 3)"):
            f.jvp(X, np.ones((3, 3)))

    def test_logsumexp_g_has_the_result_shape(self):
        with raises(ValueError, "logsumexp.vjp: g of shape (3,) does not broadcast to the "
                    "expected shape (2,)"):
            sx.logsumexp.vjp(X, np.ones(3))
        with raises(ValueError, "logsumexp.vjp: g of shape (2,) does not broadcast to the "
                    "expected shape (2, 1)"):
            sx.logsumexp.vjp(X, np.ones(2), keepdims=True)
        with raises(ValueError, "logsumexp.jvp: v of shape (4,) does not broadcast to the "
                    "expected shape (2, 3)"):
            sx.logsumexp.jvp(X, np.ones(4))

    @pytest.mark.parametrize("f", ARRAY_FUNCS, ids=lambda f: f.name)
    def test_g_and_v_types(self, f):
        with raises(TypeError, f"{f.name}.vjp: g must be a real number or array of real "
                    "numbers; received 'g' (type str)"):
            f.vjp(X, "g")
        with raises(TypeError, f"{f.name}.jvp: v must be a real floating-point, integer or "
                    "boolean array; received dtype complex128"):
            f.jvp(X, np.ones((2, 3), dtype=complex))


@pytest.mark.parametrize("name, call", LSE_METHODS, ids=[n for n, _ in LSE_METHODS])
class TestLogSumExpArguments:
    def test_b_shape(self, name, call):
        with raises(ValueError, f"{name}: b of shape (4,) does not broadcast to x's shape (2, 3)"):
            call(X, b=np.ones(4))

    def test_b_type(self, name, call):
        with raises(TypeError, f"{name}: b must be a real number or array of real numbers; "
                    "received 'a' (type str)"):
            call(X, b="a")
        with raises(TypeError, f"{name}: b must be a real floating-point, integer or boolean "
                    "array; received dtype complex128"):
            call(X, b=np.ones(3, dtype=complex))

    @pytest.mark.parametrize("arg", ["keepdims", "return_sign"])
    @pytest.mark.parametrize("value, shown", [(1, "1 (type int)"), ("yes", "'yes' (type str)"),
                                              (None, "None (type NoneType)")])
    def test_flags_must_be_bool(self, name, call, arg, value, shown):
        with raises(TypeError, f"{name}: {arg} must be True or False; received {shown}"):
            call(X, **{arg: value})


class TestSoftmax2dArguments:
    @pytest.mark.parametrize("method", [None, "vjp", "jvp", "jacobian"])
    @pytest.mark.parametrize("shape", [(3,), (2, 2), (1, 1, 1, 1, 1), ()])
    def test_wrong_ndim(self, method, shape):
        x = np.zeros(shape)
        name = "softmax2d" if method is None else f"softmax2d.{method}"
        call = {None: lambda: sx.softmax2d(x), "vjp": lambda: sx.softmax2d.vjp(x, 1.0),
                "jvp": lambda: sx.softmax2d.jvp(x, 1.0),
                "jacobian": lambda: sx.softmax2d.jacobian(x)}[method]
        with raises(ValueError, f"{name}: x must have 3 dimensions (C, H, W) or 4 (N, C, H, W); "
                    f"received shape {shape}"):
            call()

    def test_nested_list_with_wrong_ndim(self):
        with raises(ValueError, "softmax2d: x must have 3 dimensions", "received shape (1, 2)"):
            sx.softmax2d([[1.0, 2.0]])

    def test_errors_of_softmax_name_softmax2d(self):
        with raises(TypeError, "softmax2d: x must be a real number or array of real numbers; "
                    "received 'abc' (type str)"):
            sx.softmax2d("abc")
        with raises(TypeError, "softmax2d: x must be a real floating-point",
                    "received dtype complex128"):
            sx.softmax2d(np.zeros((2, 2, 2), dtype=complex))
        with raises(ValueError, "softmax2d.vjp: g of shape (3,) does not broadcast to the "
                    "expected shape (2, 2, 2)"):
            sx.softmax2d.vjp(np.zeros((2, 2, 2)), np.ones(3))


def test_argument_errors_are_value_errors():
    # ArgumentError is a ValueError: callers can catch either.
    with pytest.raises(sx._policy.ArgumentError):
        sx.softmax(X, axis=3)
    assert issubclass(sx._policy.ArgumentError, ValueError)
