"""Argument checks, dtype and axis normalisation, and the error messages.

This is the one place where sigmax decides what an argument may be.  Every
public function validates through these helpers, so the rules (and the wording
of the errors) are the same everywhere:

* dtypes: float64 and float32 keep their dtype; float16, bfloat16 and the other
  small ml_dtypes floats are computed in float32 precision or better and
  rounded back; integers and bools become float64; complex, object, string and
  datetime inputs raise ``TypeError``.  The plain NumPy path computes in
  float64 (so float32 sums accumulate in float64) and rounds once at the end.
* axes: an int, a tuple of ints, or ``None`` (all axes), normalised to a sorted
  tuple of non-negative ints.
* errors name the function, the argument, what was received and what was
  expected.
"""

from __future__ import annotations

import numbers
import operator
import sys

import numpy as np

__all__ = [
    "ArgumentError",
    "as_input",
    "as_real_array",
    "check_bool",
    "check_cotangent",
    "check_where",
    "check_temperature",
    "check_reduction",
    "finish",
    "normalize_axis",
    "describe",
]

# Small float formats that are computed in (at least) float32 and rounded back.
# ml_dtypes is not imported here: importing it costs most of a second, and an
# array can only have one of its dtypes once the caller has imported it.
_ML_SMALL_FLOAT_NAMES = ("bfloat16", "float8_e4m3fn", "float8_e5m2")


def is_small_float(dtype) -> bool:
    """Whether ``dtype`` is float16 or one of ml_dtypes' small floats."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return True
    ml_dtypes = sys.modules.get("ml_dtypes")
    if ml_dtypes is None:
        return False
    return any(
        dtype == np.dtype(getattr(ml_dtypes, name))
        for name in _ML_SMALL_FLOAT_NAMES
        if hasattr(ml_dtypes, name)
    )


class ArgumentError(ValueError):
    """Raised for a value that has the right type but an unusable value."""


def describe(value) -> str:
    """A short description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)) and len(repr(value)) > 60:
        return f"a {type(value).__name__} of length {len(value)}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def _dtype_error(fname: str, name: str, dtype) -> TypeError:
    return TypeError(
        f"{fname}: {name} must be a real floating-point, integer or boolean array; "
        f"received dtype {dtype}"
    )


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the plain NumPy path computes in for an input of ``dtype``."""
    if dtype == np.longdouble and dtype != np.float64:
        return dtype
    return np.dtype(np.float64)


def result_dtype(fname: str, name: str, dtype: np.dtype) -> np.dtype:
    """The dtype a result has for an input of ``dtype`` (SPEC section 4)."""
    if dtype in (np.float64, np.float32) or dtype == np.longdouble:
        return dtype
    if is_small_float(dtype):
        return dtype
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise _dtype_error(fname, name, dtype)


def as_real_array(value, fname: str, name: str) -> np.ndarray:
    """Convert ``value`` to an ndarray, rejecting what has no real dtype."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if isinstance(value, (str, bytes)) or value is None:
            raise TypeError(
                f"{fname}: {name} must be a real number or array of real numbers; "
                f"received {describe(value)}"
            )
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{fname}: {name} must be a real number or array of real numbers; "
                f"received {describe(value)} ({exc})"
            ) from None
    if arr.dtype.kind not in "biuf" and not is_small_float(arr.dtype):
        raise _dtype_error(fname, name, arr.dtype)
    return arr


def as_input(value, fname: str, name: str = "x"):
    """Validate a primary input and return ``(array_in_compute_dtype, out_dtype)``.

    The returned array may share memory with ``value``; cores never write to
    their inputs.
    """
    arr = as_real_array(value, fname, name)
    out_dtype = result_dtype(fname, name, arr.dtype)
    return arr.astype(compute_dtype(arr.dtype), copy=False), out_dtype


def finish(result: np.ndarray, out_dtype: np.dtype):
    """Round ``result`` to ``out_dtype``; 0-d results become NumPy scalars.

    A value beyond the range of ``out_dtype`` rounds to +-inf silently (e.g. a
    float16 log_softmax below -65504), and one below its smallest subnormal to
    0: the cast is the one rounding of the result, not an error.
    """
    with np.errstate(over="ignore", under="ignore"):
        out = result.astype(out_dtype, copy=False)
    if out.ndim == 0:
        return out[()]
    return out


def normalize_axis(axis, ndim: int, fname: str, shape=None) -> tuple:
    """Normalise ``axis`` (int, tuple of ints or None) to a sorted tuple."""
    where = f"x with {ndim} dimension{'s' if ndim != 1 else ''}"
    if shape is not None:
        where += f" (shape {tuple(shape)})"
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        items = list(axis)
    else:
        items = [axis]
    out = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(
                f"{fname}: axis must be an int, a tuple of ints or None; received {describe(axis)}"
            )
        try:
            ax = operator.index(item)
        except TypeError:
            raise TypeError(
                f"{fname}: axis must be an int, a tuple of ints or None; received {describe(axis)}"
            ) from None
        if not -ndim <= ax < ndim:
            raise ArgumentError(
                f"{fname}: axis {ax} is out of range for {where}; expected an int in "
                f"[{-ndim}, {ndim - 1}]" if ndim else
                f"{fname}: axis {ax} is out of range for {where}; a 0-d input only "
                f"accepts axis=None or axis=()"
            )
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ArgumentError(
            f"{fname}: axis {axis!r} repeats an axis of {where}; expected distinct axes"
        )
    return tuple(sorted(out))


def check_bool(value, fname: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fname}: {name} must be True or False; received {describe(value)}")
    return bool(value)


def check_where(where, shape, fname: str):
    """Validate a boolean mask and broadcast it to ``shape`` (None passes)."""
    if where is None:
        return None
    mask = np.asarray(where)
    if mask.dtype != np.bool_:
        raise TypeError(
            f"{fname}: where must be a boolean mask broadcastable to x's shape {tuple(shape)}; "
            f"received dtype {mask.dtype}"
        )
    try:
        return np.broadcast_to(mask, shape)
    except ValueError:
        raise ArgumentError(
            f"{fname}: where of shape {mask.shape} does not broadcast to x's shape {tuple(shape)}"
        ) from None


def check_temperature(temperature, fname: str) -> float:
    """A positive, finite scalar temperature."""
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(
        temperature, (numbers.Real, np.floating, np.integer)
    ):
        if isinstance(temperature, np.ndarray) and temperature.ndim == 0 and \
                temperature.dtype.kind in "iuf":
            temperature = temperature[()]
        else:
            raise TypeError(
                f"{fname}: temperature must be a positive real number; "
                f"received {describe(temperature)}"
            )
    t = float(temperature)
    if not (t > 0 and np.isfinite(t)):
        raise ArgumentError(
            f"{fname}: temperature must be a positive finite number; received {temperature!r}"
        )
    return t


_REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction, fname: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ArgumentError(
            f"{fname}: reduction must be one of 'mean', 'sum' or 'none'; "
            f"received {describe(reduction)}"
        )
    return reduction


def check_cotangent(g, out_shape, dtype, fname: str, name: str = "g") -> np.ndarray:
    """Validate a cotangent/tangent and broadcast it to ``out_shape``."""
    arr = as_real_array(g, fname, name)
    try:
        arr = np.broadcast_to(arr, out_shape)
    except ValueError:
        raise ArgumentError(
            f"{fname}: {name} of shape {arr.shape} does not broadcast to the expected "
            f"shape {tuple(out_shape)}"
        ) from None
    return arr.astype(dtype, copy=False)


# ----------------------------------------------------------------------------
# Loss arguments (shared by sigmax._losses and sigmax._large_output).

def check_labels(target, shape, n_classes, fname: str, *, ignore_index=None,
                 name: str = "target") -> np.ndarray:
    """Validate integer class labels and return them as an ``intp`` array.

    ``target`` must have an integer dtype (floating-point and boolean arrays
    are rejected with ``TypeError``, even when they hold integral values: a
    float target is a probability target, never a label), exactly ``shape``,
    and values in ``[0, n_classes)`` except entries equal to ``ignore_index``.
    The first offending entry (in C order) is named by its index tuple.
    Ignored entries keep their value in the result; callers mask them.
    """
    arr = as_real_array(target, fname, name)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{fname}: {name} must be an integer array of class indices; received dtype "
            f"{arr.dtype} (float and bool labels are not accepted, even with integral values)"
        )
    shape = tuple(shape)
    if arr.shape != shape:
        raise ArgumentError(
            f"{fname}: {name} of shape {arr.shape} does not match the expected shape {shape}"
        )
    # Compare in the label dtype: a uint64 label above the intp range must not wrap.
    bad = (arr < 0) | (arr >= n_classes)
    if ignore_index is not None:
        bad &= arr != ignore_index
    if bad.any():
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
        value = arr[idx]
        expected = (f"a class index in [0, {n_classes - 1}]" if n_classes > 0
                    else "no class index (there are 0 classes)")
        if ignore_index is not None:
            expected += f" or ignore_index={ignore_index}"
        raise ArgumentError(
            f"{fname}: {name} holds {int(value)} at index {idx}; expected {expected}"
        )
    return arr.astype(np.intp, copy=False)


def check_real(value, fname: str, name: str, expected: str = "a real number"):
    """``(float(value), value)`` for a real scalar (0-d arrays too); bools are not numbers.

    The second item is the scalar as received, for the messages of range checks.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Real, np.floating, np.integer)
    ):
        raise TypeError(f"{fname}: {name} must be {expected}; received {describe(value)}")
    return float(value), value


def check_label_smoothing(value, fname: str) -> float:
    """A real ``label_smoothing`` in [0, 1]."""
    eps, value = check_real(value, fname, "label_smoothing", "a real number in [0, 1]")
    if not 0.0 <= eps <= 1.0:
        raise ArgumentError(
            f"{fname}: label_smoothing must be in [0, 1]; received {value!r}"
        )
    return eps


def check_ignore_index(value, fname: str):
    """``None`` or an int label that takes no part in a loss."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fname}: ignore_index must be an int or None; "
                        f"received {describe(value)}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{fname}: ignore_index must be an int or None; "
                        f"received {describe(value)}") from None


def check_class_axis(axis, ndim: int, fname: str, name: str = "logits") -> int:
    """The class axis of a loss: one int in ``[-ndim, ndim)``, returned non-negative."""
    if isinstance(axis, (bool, np.bool_)) or axis is None or isinstance(axis, (tuple, list)):
        raise TypeError(f"{fname}: axis must be an int (the class axis); "
                        f"received {describe(axis)}")
    try:
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(f"{fname}: axis must be an int (the class axis); "
                        f"received {describe(axis)}") from None
    if ndim == 0:
        raise ArgumentError(f"{fname}: {name} must have at least 1 dimension (the class "
                            f"axis); received a 0-d array")
    if not -ndim <= ax < ndim:
        raise ArgumentError(f"{fname}: axis {ax} is out of range for {name} with {ndim} "
                            f"dimension{'s' if ndim != 1 else ''}; expected an int in "
                            f"[{-ndim}, {ndim - 1}]")
    return ax % ndim
