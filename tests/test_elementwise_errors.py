"""Bad arguments to sigmoid, log_sigmoid, softplus and logit and their methods.

Every message must name the function (or method), the argument, what was
received and what was expected; each case pins all four with ``match=``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import sigmax as sx

FUNCS = [sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.logit]


def _methods(f):
    """(qualified name, argument name, call(x)) for the value and every method of f."""
    yield f.name, lambda x: f(x)
    yield f.name + ".derivative", lambda x: f.derivative(x)
    # Scalar cotangents and tangents broadcast to any shape.
    yield f.name + ".vjp", lambda x: f.vjp(x, 1.0)
    yield f.name + ".jvp", lambda x: f.jvp(x, 1.0)


ALL = [(name, f.argname, call) for f in FUNCS for name, call in _methods(f)]
IDS = [name for name, _, _ in ALL]


def raises(exc, *parts):
    """pytest.raises matching the message parts in order (each taken literally)."""
    return pytest.raises(exc, match="^" + ".*".join(re.escape(p) for p in parts))


class Opaque:
    """An object NumPy can only hold as dtype=object."""

    def __repr__(self):
        return "Opaque()"


@pytest.mark.parametrize("name, arg, call", ALL, ids=IDS)
class TestPrimaryArgument:
    @pytest.mark.parametrize("x, shown", [("abc", "'abc' (type str)"),
                                          (b"ab", "b'ab' (type bytes)"),
                                          (None, "None (type NoneType)"),
                                          ([[1.0, 2.0], [3.0]], "[[1.0, 2.0], [3.0]] (type list)")])
    def test_not_numbers(self, name, arg, call, x, shown):
        with raises(TypeError, f"{name}: {arg} must be a real number or array of real numbers; "
                    f"received {shown}"):
            call(x)

    @pytest.mark.parametrize("x, dtype", [(1 + 2j, "complex128"),
                                          (np.ones(3, dtype=np.complex64), "complex64"),
                                          (Opaque(), "object"),
                                          ([None, 1.0], "object"),
                                          (np.array(["a", "b"]), "<U1"),
                                          (np.zeros(2, dtype="datetime64[D]"), "datetime64[D]"),
                                          (np.zeros(2, dtype="timedelta64[s]"), "timedelta64[s]")])
    def test_not_real_dtypes(self, name, arg, call, x, dtype):
        with raises(TypeError, f"{name}: {arg} must be a real floating-point, integer or boolean "
                    f"array; received dtype {dtype}"):
            call(x)


@pytest.mark.parametrize("f", FUNCS, ids=lambda f: f.name)
class TestCotangentAndTangent:
    def test_shapes_that_do_not_broadcast(self, f):
        x = np.full((2, 3), 0.5)
        with raises(ValueError, f"{f.name}.vjp: g of shape (4,) does not broadcast to the "
                    "expected shape (2, 3)"):
            f.vjp(x, np.ones(4))
        with raises(ValueError, f"{f.name}.jvp: v of shape (3, 3) does not broadcast to the "
                    "expected shape (2, 3)"):
            f.jvp(x, np.ones((3, 3)))

    def test_a_wider_cotangent_does_not_broadcast_the_input(self, f):
        # The result has x's shape: g may not add dimensions.
        with raises(ValueError, f"{f.name}.vjp: g of shape (2, 3) does not broadcast to the "
                    "expected shape (3,)"):
            f.vjp(np.full(3, 0.5), np.ones((2, 3)))
        with raises(ValueError, f"{f.name}.jvp: v of shape (2,) does not broadcast to the "
                    "expected shape ()"):
            f.jvp(0.5, [1.0, 2.0])

    def test_types(self, f):
        x = np.full(3, 0.5)
        with raises(TypeError, f"{f.name}.vjp: g must be a real number or array of real "
                    "numbers; received 'g' (type str)"):
            f.vjp(x, "g")
        with raises(TypeError, f"{f.name}.vjp: g must be a real number or array of real "
                    "numbers; received None (type NoneType)"):
            f.vjp(x, None)
        with raises(TypeError, f"{f.name}.jvp: v must be a real floating-point, integer or "
                    "boolean array; received dtype complex128"):
            f.jvp(x, np.ones(3, dtype=complex))
        with raises(TypeError, f"{f.name}.jvp: v must be a real floating-point, integer or "
                    "boolean array; received dtype object"):
            f.jvp(x, [Opaque()] * 3)

    def test_the_input_is_checked_before_the_cotangent(self, f):
        with raises(TypeError, f"{f.name}.vjp: {f.argname} must be a real number"):
            f.vjp("x", "g")

    def test_missing_cotangent(self, f):
        with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'g'"):
            f.vjp(np.ones(2))


def test_logit_names_its_argument_p():
    assert sx.logit.argname == "p"
    with raises(TypeError, "logit.derivative: p must be a real number or array of real "
                "numbers; received 'q' (type str)"):
        sx.logit.derivative("q")


def test_values_outside_the_domain_are_not_errors():
    # logit of p outside [0, 1] is NaN (SPEC section 4), not an exception.
    assert np.isnan(sx.logit(2.0)) and np.isnan(sx.logit.derivative(-1.0))
