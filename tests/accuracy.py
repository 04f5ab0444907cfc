"""Accuracy of sigmax (and of SciPy and PyTorch) against mpmath, in ULPs.

Run ``python tests/accuracy.py`` for the full Markdown table of
docs/accuracy.md (``--quick`` for a small sample); import it to measure any
implementation::

    import accuracy
    inputs = accuracy.real_inputs("float32", 2000)
    result = accuracy.measure("sigmoid", my_sigmoid, "float32", inputs)
    result.max_ulp, result.p999_ulp, result.worst_ratio

Definitions (also in docs/accuracy.md):

* The reference is the exact function of the exact binary input, computed by
  mpmath at 50 significant digits.
* ``ulp(r) = 2**(max(e, emin) - p + 1)`` for ``2**e <= |r| < 2**(e + 1)``, in
  the result's dtype (precision ``p``, smallest normal exponent ``emin``): the
  spacing of the binade of the *exact* value, the smallest subnormal below the
  normal range.  A correctly rounded result is within 0.5 ULP.  A reference
  beyond the largest finite number counts as matched by the infinity of its
  sign; a NaN reference (logit outside [0, 1]) is matched by NaN only.
* Targets (SPEC section 4), as the ratio error / allowed error (<= 1 passes):
  elementwise functions 1 ULP; softmax ``2 ULP + eps p_i |x_i - sum_j p_j x_j|``;
  log_softmax ``2 eps (|x_i - m| + log sum_j e^(x_j - m))`` with ``m`` the row
  maximum (at least 1 ULP, which only matters for subnormal results); logsumexp the
  first-order Blanchard-Higham-Higham bound (:func:`lse_bound`).  The three add
  ``(n - 1)/2`` times the smallest subnormal for the gradual underflow of the
  terms of the sum, which the paper's model of arithmetic leaves out.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from typing import Callable

import ml_dtypes
import mpmath as mp
import numpy as np

__all__ = [
    "DTYPES", "ELEMENTWISE", "FAMILY", "Result", "Reference", "measure", "real_inputs",
    "prob_inputs", "row_inputs", "inputs_for", "reference", "ulp_errors", "lse_bound",
    "sigmax_impls", "scipy_impls", "torch_impls", "run", "markdown",
]

DPS = 50
DTYPES = ("float64", "float32", "float16", "bfloat16")


@dataclasses.dataclass(frozen=True)
class Format:
    """The parameters of a binary floating-point format."""

    p: int      # precision in bits, counting the implicit one
    emin: int   # exponent of the smallest normal number
    emax: int   # exponent of the largest finite number

    @property
    def eps(self) -> float:
        return 2.0 ** (1 - self.p)

    @property
    def overflow(self):
        """The smallest magnitude that rounds to infinity."""
        return mp.ldexp(mp.mpf(2) - mp.ldexp(1, -self.p), self.emax)


FORMATS = {
    "float64": Format(53, -1022, 1023),
    "float32": Format(24, -126, 127),
    "float16": Format(11, -14, 15),
    "bfloat16": Format(8, -126, 127),
}


def _np_dtype(dtype) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if str(dtype) == "bfloat16" else np.dtype(dtype)


# ---------------------------------------------------------------------------
# The mpmath references (mp.dps = 50 inside every call).

def mp_sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def mp_log_sigmoid(x):
    return -mp.log1p(mp.exp(-x))


def mp_softplus(x):
    return mp.log1p(mp.exp(x))


def mp_logit(p):
    if mp.isnan(p) or p < 0 or p > 1:
        return mp.nan
    if p == 0 or p == 1:
        return mp.inf if p == 1 else -mp.inf
    return mp.log(p) - mp.log1p(-p)


def mp_sigmoid_derivative(x):
    t = mp.exp(-abs(x))
    return t / (1 + t) ** 2


def mp_log_sigmoid_derivative(x):
    return mp_sigmoid(-x)


def mp_logit_derivative(p):
    if mp.isnan(p) or p < 0 or p > 1:
        return mp.nan
    if p == 0 or p == 1:
        return mp.inf
    return 1 / (p * (1 - p))


def _mp_shifted(row):
    """``(z, a, log1p(s))``: the row as mpf, its maximum and ``log sum_j e^(z_j - a)``.

    Working with ``z_i - a`` keeps every digit of a log_softmax near 0 (``z_i - lse``
    would lose the digits of ``log1p(s)`` below 50 digits of ``|lse|``).
    """
    z = [mp.mpf(float(v)) for v in row]
    k = z.index(max(z))
    a = z[k]
    return z, a, mp.log1p(mp.fsum(mp.exp(v - a) for i, v in enumerate(z) if i != k))


def mp_logsumexp(row):
    z, a, l1p = _mp_shifted(row)
    return a + l1p


def mp_softmax(row):
    z, a, l1p = _mp_shifted(row)
    return [mp.exp((v - a) - l1p) for v in z]


def mp_log_softmax(row):
    z, a, l1p = _mp_shifted(row)
    return [(v - a) - l1p for v in z]


#: Elementwise functions: name -> (mpmath reference, input generator name).
ELEMENTWISE = {
    "sigmoid": (mp_sigmoid, "real"),
    "log_sigmoid": (mp_log_sigmoid, "real"),
    "softplus": (mp_softplus, "real"),
    "logit": (mp_logit, "prob"),
    "sigmoid.derivative": (mp_sigmoid_derivative, "real"),
    "log_sigmoid.derivative": (mp_log_sigmoid_derivative, "real"),
    "softplus.derivative": (mp_sigmoid, "real"),
    "logit.derivative": (mp_logit_derivative, "prob"),
}
#: Functions along an axis (measured on rows): name -> mpmath reference of a row.
FAMILY = {
    "softmax": mp_softmax,
    "log_softmax": mp_log_softmax,
    "logsumexp": lambda row: [mp_logsumexp(row)],
}


# ---------------------------------------------------------------------------
# ULP errors.

class Reference:
    """Exact values in units of their own ULP: ``r = (hi + lo) * 2**uexp``.

    ``hi + lo`` is a double-double of magnitude below ``2**p``, so errors of a
    fraction of an ULP are resolved even for subnormal results.  ``special``
    is NaN for a NaN reference, +-inf for a reference that is infinite or
    rounds to infinity, and 0 otherwise.
    """

    def __init__(self, values, dtype):
        fmt = FORMATS[str(dtype)]
        n = len(values)
        self.hi, self.lo = np.zeros(n), np.zeros(n)
        self.uexp = np.zeros(n, dtype=np.int64)
        self.special = np.zeros(n)
        self.value = np.zeros(n)  # float64 rounding of r, for the conditioning terms
        big = fmt.overflow
        with mp.workdps(DPS):
            for i, r in enumerate(values):
                if mp.isnan(r):
                    self.special[i] = np.nan
                    continue
                if mp.isinf(r) or abs(r) >= big:
                    self.special[i] = math.copysign(math.inf, r)
                self.value[i] = float(r)
                if mp.isinf(r):
                    continue
                e = mp.frexp(r)[1] - 1 if r != 0 else fmt.emin
                u = max(e, fmt.emin) - fmt.p + 1
                scaled = mp.ldexp(r, -u)
                self.uexp[i] = u
                self.hi[i] = float(scaled)
                self.lo[i] = float(scaled - self.hi[i])


def reference(fn, xs, dtype) -> Reference:
    """The :class:`Reference` of ``fn`` (an mpmath function) at the float inputs ``xs``."""
    with mp.workdps(DPS):
        values = [fn(mp.mpf(float(x))) for x in np.asarray(xs, dtype=np.float64)]
    return Reference(values, dtype)


def ulp_errors(got, ref: Reference) -> np.ndarray:
    """``|got - r| / ulp(r)`` elementwise (0 where a special reference is matched)."""
    y = np.asarray(got).astype(np.float64).ravel()
    with np.errstate(all="ignore"):
        err = np.abs((np.ldexp(y, -ref.uexp) - ref.hi) - ref.lo)
    err = np.where(np.isfinite(y), err, np.inf)
    nan_ref = np.isnan(ref.special)
    err = np.where(nan_ref, np.where(np.isnan(y), 0.0, np.inf), err)
    matched_inf = ~nan_ref & (ref.special != 0) & (y == ref.special)
    return np.where(matched_inf, 0.0, err)


# ---------------------------------------------------------------------------
# Inputs.

def _finite_values(dtype) -> np.ndarray:
    """Every finite value of a 16-bit format, as float64."""
    with np.errstate(invalid="ignore"):  # the NaN bit patterns
        bits = np.arange(2**16, dtype=np.uint16).view(_np_dtype(dtype)).astype(np.float64)
    return bits[np.isfinite(bits)]


def _exp_thresholds(dtype):
    """(log of the largest finite, log of the smallest subnormal) of ``dtype``."""
    fmt = FORMATS[dtype]
    return math.log(2.0) * (fmt.emax + 1), math.log(2.0) * (fmt.emin - fmt.p + 1)


def _round(values, dtype) -> np.ndarray:
    with np.errstate(all="ignore"):
        out = np.asarray(values, dtype=np.float64).astype(_np_dtype(dtype)).astype(np.float64)
    return np.unique(out)


def real_inputs(dtype, n=4000, seed=0) -> np.ndarray:
    """Inputs of the functions of x, as float64 values exactly representable in ``dtype``.

    A quarter log-uniform over every magnitude (subnormal to the largest
    finite, both signs), a quarter uniform across the range where exp over-
    and underflows, a quarter in [-40, 40] (where the functions bend), the
    rest clustered around the overflow/underflow thresholds (11.09/88.72/709.78
    and -17.33/-103.97/-745.13 for float16/32/64) and the specials.  The
    16-bit formats are measured exhaustively when ``n`` >= 2**16.
    """
    dtype = str(dtype)
    if dtype in ("float16", "bfloat16") and n >= 2**16:
        return np.concatenate([_finite_values(dtype), [np.inf, -np.inf, np.nan]])
    rng = np.random.default_rng(seed)
    fmt = FORMATS[dtype]
    hi, lo = _exp_thresholds(dtype)
    q = n // 4
    tiny = fmt.emin - fmt.p + 1
    mags = np.exp2(rng.uniform(tiny, fmt.emax + 0.999, q)) * rng.choice([-1, 1], q)
    spread = rng.uniform(lo - 3, hi + 3, q)
    centre = rng.uniform(-40, 40, q)
    edges = np.array([hi, -hi, lo, math.log(2.0) * fmt.emin, -math.log(2.0) * fmt.p, 0.0])
    near = rng.choice(edges, n - 3 * q) + rng.normal(0, 1, n - 3 * q) * rng.choice(
        [1e-6, 1e-3, 0.1, 1.0], n - 3 * q)
    fmax = float(mp.ldexp(mp.mpf(2) - mp.ldexp(1, 1 - fmt.p), fmt.emax))
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, fmax, -fmax, 2.0**tiny, -(2.0**tiny),
                2.0**fmt.emin, 1.0, -1.0]
    return np.concatenate([_round(np.concatenate([mags, spread, centre, near]), dtype),
                           specials])


def prob_inputs(dtype, n=4000, seed=0) -> np.ndarray:
    """Inputs of logit: p in [0, 1] (log-uniform towards 0 and towards 1, uniform,
    around the range splits 1/4, 1/2, 3/4, subnormal p) and a few outside it."""
    dtype = str(dtype)
    if dtype in ("float16", "bfloat16") and n >= 2**16:
        v = _finite_values(dtype)
        return np.concatenate([v[(v >= 0) & (v <= 1)], [-0.5, 2.0, np.inf, np.nan]])
    rng = np.random.default_rng(seed)
    fmt = FORMATS[dtype]
    q = n // 4
    small = np.exp2(rng.uniform(fmt.emin - fmt.p + 1, -1, q))
    near_one = 1.0 - np.exp2(rng.uniform(-fmt.p, -1, q))
    uniform = rng.uniform(0, 1, q)
    splits = rng.choice([0.25, 0.5, 0.75], n - 3 * q) * (
        1 + rng.normal(0, 1, n - 3 * q) * rng.choice([fmt.eps, 1e-3, 0.05], n - 3 * q))
    specials = [0.0, 1.0, 0.5, 0.25, 0.75, -0.0, 2.0 ** (fmt.emin - fmt.p + 1),
                1.0 - fmt.eps / 2, -0.25, 1.5, np.nan, np.inf, -np.inf]
    p = _round(np.concatenate([small, near_one, uniform, splits]), dtype)
    return np.concatenate([p[(p >= 0) & (p <= 1)], specials])


def row_inputs(dtype, n_rows=120, seed=0) -> list:
    """Rows for softmax, log_softmax and logsumexp, rounded to ``dtype``.

    Gaussian rows of 2 to 1000 entries at several scales and offsets, rows
    with one dominant entry (the log1p regime), rows whose small entries have
    subnormal probabilities, rows spanning the whole exp range, and rows of
    nearly equal entries.
    """
    dtype = str(dtype)
    rng = np.random.default_rng(seed)
    hi, lo = _exp_thresholds(dtype)
    rows = []
    kinds = ("gauss", "dominant", "subnormal", "spread", "near-equal")
    for i in range(n_rows):
        kind = kinds[i % len(kinds)]
        n = int(rng.choice([2, 3, 7, 30, 100, 1000]))
        if kind == "gauss":
            row = rng.normal(0, rng.choice([0.1, 1.0, 10.0, 100.0]), n) + rng.choice(
                [0.0, 0.0, 30.0, -1e3])
        elif kind == "dominant":
            row = np.concatenate([[0.0], rng.uniform(-45.0, -20.0, n - 1)])
        elif kind == "subnormal":
            row = np.concatenate([[0.0], rng.uniform(lo + 1, 0.95 * lo, n - 1)])
        elif kind == "spread":
            row = rng.uniform(lo, hi, n)
        else:
            row = 1.0 + rng.integers(-4, 5, n) * FORMATS[dtype].eps * rng.choice([1, 2 ** 20])
        with np.errstate(all="ignore"):
            rows.append(np.asarray(row, dtype=np.float64).astype(_np_dtype(dtype)))
    return rows


def inputs_for(name, dtype, n=4000, seed=0):
    """The inputs :func:`run` measures ``name`` on."""
    if name in FAMILY:
        return row_inputs(dtype, max(10, n // 40), seed)
    kind = ELEMENTWISE[name][1]
    return (real_inputs if kind == "real" else prob_inputs)(dtype, n, seed)


# ---------------------------------------------------------------------------
# Targets of the softmax family.

def lse_bound(row, lse_ref, dtype):
    r"""First-order rounding-error bound of the shifted log1p algorithm for logsumexp.

    After Blanchard, Higham & Higham (2021, section 4), for
    :math:`y = a + \operatorname{log1p}(s)`, :math:`a = \max_i x_i`,
    :math:`s = \sum_{i \ne k} e^{x_i - a}`, with unit roundoff :math:`u`:

    .. math::

        |\hat y - y| \le u \Big(|y| + \operatorname{log1p}(s)
            + (n - 1)\frac{s}{1 + s} + \sum_{i \ne k} p_i |x_i - a|\Big)

    (the final rounding, the rounding of log1p, the summation of the ``n - 1``
    terms, and the rounding of each ``x_i - a`` amplified by ``exp``; ``p_i``
    are the softmax probabilities), plus half the smallest subnormal, which
    the paper's model leaves out.  Returned as an mpf.
    """
    fmt = FORMATS[str(dtype)]
    with mp.workdps(DPS):
        u = mp.mpf(fmt.eps) / 2
        z = [mp.mpf(float(v)) for v in row]
        k = z.index(max(z))
        a = z[k]
        rest = [v for i, v in enumerate(z) if i != k]
        s = mp.fsum(mp.exp(v - a) for v in rest)
        shift = mp.fsum(mp.exp(v - a) * abs(v - a) for v in rest) / (1 + s)
        bound = u * (abs(lse_ref) + mp.log1p(s) + (len(z) - 1) * s / (1 + s) + shift)
        return bound + mp.ldexp(1, fmt.emin - fmt.p)


def _allowed_ulps(name, rows, refs, dtype):
    """The allowed error of every element of ``rows``, in ULPs of the exact result."""
    fmt = FORMATS[str(dtype)]
    tiny_exp = fmt.emin - fmt.p + 1  # the smallest subnormal is 2**tiny_exp
    out = []
    for row, ref in zip(rows, refs):
        x = np.asarray(row, dtype=np.float64)
        m = x.max()
        # Gradual underflow: each of the n - 1 terms e^(x_j - m) of the sum may
        # be subnormal and carry an absolute error of half the smallest one.
        underflow = np.ldexp((x.size - 1) / 2, tiny_exp - ref.uexp)
        if name == "softmax":
            p = ref.value
            xbar = math.fsum(p * x)
            out.append(2.0 + fmt.eps * (ref.hi + ref.lo) * np.abs(x - xbar) + underflow)
        elif name == "log_softmax":
            k = int(np.argmax(x))
            shifted = math.log1p(math.fsum(np.exp(np.delete(x, k) - m)))
            scale = np.ldexp(np.abs(x - m) + shifted, -ref.uexp)
            out.append(np.maximum(2.0 * fmt.eps * scale, 1.0) + underflow)
        else:
            with mp.workdps(DPS):
                lse = mp.ldexp(mp.mpf(ref.hi[0]) + ref.lo[0], int(ref.uexp[0]))
                b = lse_bound(row, lse, dtype)
                out.append(np.array([float(mp.ldexp(b, -int(ref.uexp[0])))]) + underflow)
    return np.concatenate(out)


# ---------------------------------------------------------------------------
# Measurement.

@dataclasses.dataclass
class Result:
    """Accuracy of one implementation of one function in one dtype."""

    name: str
    dtype: str
    count: int
    max_ulp: float
    p999_ulp: float
    worst_ratio: float   # max of error / allowed error (<= 1 meets the target)
    worst_input: object  # the input (or row) of the largest ratio

    @property
    def meets_target(self) -> bool:
        return self.worst_ratio <= 1.0


_REF_CACHE: dict = {}


def _references(name, dtype, inputs):
    key = (name, str(dtype), id(inputs))
    if key not in _REF_CACHE:
        if name in FAMILY:
            refs = []
            with mp.workdps(DPS):
                for row in inputs:
                    refs.append(Reference(FAMILY[name](row), dtype))
            _REF_CACHE[key] = (inputs, refs, _allowed_ulps(name, inputs, refs, dtype))
        else:
            fn = ELEMENTWISE[name][0]
            _REF_CACHE[key] = (inputs, reference(fn, inputs, dtype), None)
    return _REF_CACHE[key][1:]


def measure(name: str, impl: Callable, dtype, inputs) -> Result:
    """Measure ``impl`` (a callable taking an array of ``dtype``) as function ``name``.

    ``inputs`` are float64 values representable in ``dtype`` (elementwise
    functions, see :func:`real_inputs`, :func:`prob_inputs`) or a list of rows
    (softmax family, see :func:`row_inputs`).  References are computed once per
    (name, dtype, inputs) object and reused for every implementation.
    """
    dtype = str(dtype)
    ref, allowed = _references(name, dtype, inputs)
    npd = _np_dtype(dtype)
    with np.errstate(all="ignore"):
        if name in FAMILY:
            errs = np.concatenate([ulp_errors(impl(np.asarray(row, dtype=npd)), r)
                                   for row, r in zip(inputs, ref)])
            owners = np.concatenate([[i] * r.hi.size for i, r in enumerate(ref)])
        else:
            x = np.asarray(inputs, dtype=np.float64).astype(npd)
            errs = ulp_errors(impl(x), ref)
            allowed = np.ones_like(errs)
            owners = np.arange(errs.size)
        ratio = np.where(errs == 0, 0.0, errs / allowed)
    worst = int(np.argmax(ratio))
    return Result(
        name=name, dtype=dtype, count=errs.size,
        max_ulp=float(errs.max()),
        p999_ulp=float(np.percentile(errs, 99.9, method="higher")),
        worst_ratio=float(ratio[worst]),
        worst_input=inputs[owners[worst]],
    )


# ---------------------------------------------------------------------------
# Implementations under test: name -> callable(array) -> array.

def sigmax_impls(path="plain") -> dict:
    """sigmax's functions on one path: ``"plain"`` (NumPy) or ``"kernels"`` (compiled).

    The path is forced for every call (``sigmax._dispatch``), whatever the size
    of the input; ``"default"`` leaves the choice to sigmax.
    """
    import contextlib

    import sigmax as sx

    try:
        from sigmax import _dispatch
    except ImportError:  # pragma: no cover - before the kernels issue
        _dispatch = None

    def forced():
        if _dispatch is None or path == "default":
            return contextlib.nullcontext()
        if path == "plain":
            return _dispatch.plain_only()
        return _kernels_forced(_dispatch)

    def wrap(fn):
        def call(x):
            with forced():
                return fn(x)
        return call

    fns = {}
    for f in (sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.logit):
        fns[f.name] = f
        fns[f.name + ".derivative"] = f.derivative
    fns.update(softmax=sx.softmax, log_softmax=sx.log_softmax, logsumexp=sx.logsumexp)
    return {name: wrap(fn) for name, fn in fns.items()}


class _kernels_forced:
    """Threshold 0 for the duration of the block: every float32/float64 array takes a kernel."""

    def __init__(self, dispatch):
        self.dispatch = dispatch

    def __enter__(self):
        if self.dispatch.kernels() is None:
            raise RuntimeError("the compiled kernels are not available")
        self.previous = self.dispatch.set_threshold(0)

    def __exit__(self, *exc):
        self.dispatch.set_threshold(self.previous)


def scipy_impls() -> dict:
    try:
        from scipy import special
    except ImportError:  # pragma: no cover - scipy is a dev dependency
        return {}

    def rounded(fn):
        # SciPy has no float16/bfloat16 loops: it computes float16 in float32;
        # the result is rounded back to the input dtype before measuring.
        def call(x):
            if x.dtype not in (np.float64, np.float32, np.float16):
                raise TypeError("unsupported dtype")
            return np.asarray(fn(x)).astype(x.dtype)
        return call

    return {
        "sigmoid": rounded(special.expit), "log_sigmoid": rounded(special.log_expit),
        "logit": rounded(special.logit), "softmax": rounded(special.softmax),
        "log_softmax": rounded(special.log_softmax), "logsumexp": rounded(special.logsumexp),
    }


def torch_impls() -> dict:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:  # pragma: no cover
        return {}
    tdt = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32,
           np.dtype(np.float16): torch.float16, np.dtype(ml_dtypes.bfloat16): torch.bfloat16}

    def to_torch(x):
        return torch.from_numpy(x.astype(np.float32) if x.dtype == ml_dtypes.bfloat16
                                else x.copy()).to(tdt[x.dtype])

    def back(t, dtype):
        return t.detach().to(torch.float64).numpy().astype(dtype)

    def value(fn):
        return lambda x: back(fn(to_torch(x)), x.dtype)

    def grad(fn):
        def call(x):
            t = to_torch(x).requires_grad_(True)
            fn(t).backward(torch.ones_like(t))
            return back(t.grad, x.dtype)
        return call

    fns = {"sigmoid": torch.sigmoid, "log_sigmoid": F.logsigmoid, "softplus": F.softplus,
           "logit": torch.logit}
    out = {name: value(fn) for name, fn in fns.items()}
    out.update({name + ".derivative": grad(fn) for name, fn in fns.items()})
    out["softmax"] = value(lambda t: torch.softmax(t, -1))
    out["log_softmax"] = value(lambda t: torch.log_softmax(t, -1))
    out["logsumexp"] = value(lambda t: torch.logsumexp(t, -1))
    return out


LIBRARIES = {"sigmax": sigmax_impls, "sigmax kernels": lambda: sigmax_impls("kernels"),
             "SciPy": scipy_impls, "PyTorch": torch_impls}


def run(names=None, dtypes=DTYPES, n=4000, libraries=tuple(LIBRARIES),
        progress=None) -> list:
    """Measure every (function, dtype, library); returns ``[(library, Result)]``."""
    names = list(names or (*ELEMENTWISE, *FAMILY))
    impls = {lib: LIBRARIES[lib]() for lib in libraries}
    results = []
    for dtype in dtypes:
        for name in names:
            if name in FAMILY and dtype not in ("float64", "float32"):
                continue
            inputs = inputs_for(name, dtype, n)
            for lib, table in impls.items():
                if name not in table:
                    continue
                try:
                    res = measure(name, table[name], dtype, inputs)
                except (TypeError, RuntimeError):
                    continue  # the library has no such dtype
                results.append((lib, res))
                if progress:
                    progress(lib, res)
    return results


def _cell(res: Result | None) -> str:
    if res is None:
        return "n/a"
    mark = "" if res.meets_target else " (!)"
    return f"{res.max_ulp:.3g} / {res.p999_ulp:.3g}{mark}"


def markdown(results) -> str:
    """The results as a Markdown table: max / 99.9th-percentile ULP per library."""
    libs = list(dict.fromkeys(lib for lib, _ in results))
    by_key = {(r.name, r.dtype, lib): r for lib, r in results}
    keys = list(dict.fromkeys((r.name, r.dtype) for _, r in results))
    head = ["function", "dtype", "inputs", *(f"{lib} max / 99.9%" for lib in libs),
            "sigmax worst / target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, dtype in keys:
        mine = by_key.get((name, dtype, "sigmax"))
        count = next(r.count for lib in libs if (r := by_key.get((name, dtype, lib))))
        cells = [name, dtype, str(count), *(_cell(by_key.get((name, dtype, lib)))
                                            for lib in libs),
                 f"{mine.worst_ratio:.3g}" if mine else "n/a"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small sample (seconds)")
    parser.add_argument("-n", type=int, default=None, help="inputs per function and dtype")
    parser.add_argument("--only", nargs="*", help="function names to measure")
    parser.add_argument("--dtypes", nargs="*", default=list(DTYPES))
    parser.add_argument("--libraries", nargs="*", default=list(LIBRARIES))
    args = parser.parse_args(argv)
    n = args.n or (400 if args.quick else 2**16)
    results = run(args.only, args.dtypes, n, args.libraries,
                  progress=lambda lib, r: print(f"  {lib:8s} {r.dtype:9s} {r.name:24s} "
                                                f"max {r.max_ulp:.3g} ULP", file=sys.stderr))
    print(markdown(results))
    missed = [(lib, r) for lib, r in results if lib.startswith("sigmax") and not r.meets_target
              and r.dtype in ("float64", "float32")]
    for lib, r in missed:
        shown = np.array2string(np.asarray(r.worst_input), precision=17, threshold=8)
        print(f"\n{lib} misses the target: {r.name} {r.dtype} worst ratio "
              f"{r.worst_ratio:.3g} at {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
