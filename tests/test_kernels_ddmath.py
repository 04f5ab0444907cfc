"""The kernels' double-double arithmetic (sigmax._kernels._ddmath) against mpmath.

Compiled into loops here, as in the kernels: exp_dd's relative error, the
reciprocal's, the subnormal rounding of round_scaled, the error-free
transformations, and SIMD code for the loop that uses them all.
"""

from __future__ import annotations

import mpmath as mp
import numba
import numpy as np
import pytest

from sigmax._kernels._ddmath import (exp_dd, fma, log1p_dd, recip_dd, round_scaled,
                                    two_prod, two_sum)

_rng = np.random.default_rng(31)


@numba.njit(error_model="numpy")
def _vexp_dd(z, hi, lo, k):
    for i in range(z.size):
        hi[i], lo[i], k[i] = exp_dd(z[i])


@numba.njit(error_model="numpy")
def _vrecip(bh, bl, ih, il):
    for i in range(bh.size):
        ih[i], il[i] = recip_dd(bh[i], bl[i])


@numba.njit(error_model="numpy")
def _vround(hi, lo, k, out):
    for i in range(hi.size):
        out[i] = round_scaled(hi[i], lo[i], k[i])


@numba.njit(error_model="numpy")
def _vexact(a, b, s, e, p, pe, f):
    for i in range(a.size):
        s[i], e[i] = two_sum(a[i], b[i])
        p[i], pe[i] = two_prod(a[i], b[i])
        f[i] = fma(a[i], b[i], 1.0)


@numba.njit(error_model="numpy")
def _vlog1p_dd(ah, al, hi, lo):
    for i in range(ah.size):
        hi[i], lo[i] = log1p_dd(ah[i], al[i])


def _exp_dd(z):
    z = np.asarray(z, dtype=np.float64)
    hi, lo, k = np.empty_like(z), np.empty_like(z), np.empty(z.size, dtype=np.int64)
    _vexp_dd(z, hi, lo, k)
    return hi, lo, k


def test_exp_dd_relative_error_below_2_to_minus_59():
    z = np.concatenate([_rng.uniform(-1, 1, 3000), _rng.uniform(-745, 0, 3000),
                        _rng.uniform(0, 709, 1000), [0.0, -0.5 * np.log(2.0),
                                                     0.5 * np.log(2.0), -745.0, 709.0]])
    hi, lo, k = _exp_dd(z)
    with mp.workdps(50):
        worst = max(abs((mp.ldexp(mp.mpf(h) + mp.mpf(l), int(kk)) - mp.exp(mp.mpf(v)))
                        / mp.exp(mp.mpf(v))) for h, l, kk, v in zip(hi, lo, k, z))
    assert worst < mp.mpf(2) ** -59, float(worst)
    # hi carries the value, lo the next 53 bits: |lo| <= ulp(hi) / 2.
    assert np.all(np.abs(lo) <= np.spacing(hi) / 2)
    assert np.all((hi >= 0.7) & (hi <= 1.42))


def test_exp_dd_ends():
    hi, lo, k = _exp_dd([np.nan, -np.inf, np.inf, -2000.0, 2000.0])
    assert np.isnan(hi[0]) and np.isnan(lo[0])
    # Clamped to [-1100, 710]: e^-1100 and e^710 as 2**k (hi + lo).
    with mp.workdps(30):
        for i, z in ((1, -1100), (2, 710), (3, -1100), (4, 710)):
            got = mp.ldexp(mp.mpf(hi[i]) + mp.mpf(lo[i]), int(k[i]))
            assert abs(got / mp.exp(z) - 1) < mp.mpf(2) ** -59


def test_recip_dd():
    bh = np.concatenate([_rng.uniform(1.0, 2.0, 2000), [1.0, 2.0, 1.5]])
    bl = _rng.uniform(-0.5, 0.5, bh.size) * np.spacing(bh)
    ih, il = np.empty_like(bh), np.empty_like(bh)
    _vrecip(bh, bl, ih, il)
    with mp.workdps(50):
        worst = max(abs((mp.mpf(a) + mp.mpf(b)) * (mp.mpf(h) + mp.mpf(lo)) - 1)
                    for a, b, h, lo in zip(ih, il, bh, bl))
    assert worst < mp.mpf(2) ** -100, float(worst)


def _round(hi, lo, k):
    hi, lo = np.asarray(hi, dtype=np.float64), np.asarray(lo, dtype=np.float64)
    out = np.empty_like(hi)
    _vround(hi, lo, np.asarray(k, dtype=np.int64), out)
    return out


def _correctly_rounded(v):
    """float(v) for an mpf, on the subnormal grid where it is below 2**-1022."""
    if abs(v) < mp.mpf(2) ** -1022:
        return float(mp.nint(v * mp.mpf(2) ** 1074)) * 2.0**-1074
    return float(v)


def test_round_scaled_rounds_once_on_the_subnormal_grid():
    hi = _rng.uniform(0.5, 2.0, 3000)
    lo = _rng.uniform(-0.5, 0.5, hi.size) * np.spacing(hi)
    k = _rng.integers(-1130, 10, hi.size)
    # Halfway cases on the subnormal grid: 2**-1074 (m + 1/2) +- a little.
    m = _rng.integers(1, 2**20, 200).astype(np.float64)
    hi = np.concatenate([hi, (m + 0.5) * 2.0**-30, (m + 0.5) * 2.0**-30, (m + 0.5) * 2.0**-30])
    lo = np.concatenate([lo, np.zeros(200), np.full(200, 2.0**-90), np.full(200, -2.0**-90)])
    k = np.concatenate([k, np.full(600, -1044)])
    got = _round(hi, lo, k)
    with mp.workdps(60):
        ref = [_correctly_rounded(mp.ldexp(mp.mpf(h) + mp.mpf(low), int(kk)))
               for h, low, kk in zip(hi, lo, k)]
    np.testing.assert_array_equal(got, ref)
    assert np.any(got[-600:] < 2.0**-1022)


def test_round_scaled_specials():
    got = _round([np.nan, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0, -1074, -1075, 1024])
    assert np.isnan(got[0]) and got[1] == 0.0 and got[2] == 0.0 and got[3] == np.inf


def test_error_free_transformations():
    a = _rng.normal(size=1000) * 2.0 ** _rng.integers(-40, 40, 1000)
    b = _rng.normal(size=1000) * 2.0 ** _rng.integers(-40, 40, 1000)
    s, e, p, pe, f = (np.empty_like(a) for _ in range(5))
    _vexact(a, b, s, e, p, pe, f)
    with mp.workdps(120):
        for i in range(a.size):
            A, B = mp.mpf(a[i]), mp.mpf(b[i])
            assert mp.mpf(s[i]) + mp.mpf(e[i]) == A + B
            assert mp.mpf(p[i]) + mp.mpf(pe[i]) == A * B
            assert f[i] == float(A * B + 1)


@numba.njit(error_model="numpy")
def _vexp_sum(z, out):
    for i in range(z.size):
        hi, lo, k = exp_dd(z[i])
        out[i] = round_scaled(hi, lo, k)


def test_loop_compiles_to_simd():
    z = np.linspace(-700.0, 700.0, 64)
    out = np.empty_like(z)
    _vexp_sum(z, out)
    with mp.workdps(40):
        ref = np.array([float(mp.exp(mp.mpf(v))) for v in z])
    np.testing.assert_array_max_ulp(out, ref, maxulp=1)
    asm = next(iter(_vexp_sum.inspect_asm().values()))
    # Packed double arithmetic (the exact products are packed FMAs).
    assert "vmulpd" in asm and ("vfmsub" in asm or "vfnmadd" in asm), \
        "exp_dd's loop did not vectorise"


@pytest.mark.parametrize("z", [-0.3, 1e-300, 30.0])
def test_exp_dd_small_literals(z):
    # References: mp.exp(mp.mpf(z)) at mp.mp.dps = 50.
    ref = {-0.3: "0.7408182206817178742916082359446519848763474027395", 1e-300: "1.0",
           30.0: "10686474581524.462146990468650741401650024495005473"}[z]
    hi, lo, k = _exp_dd([z])
    with mp.workdps(50):
        got = mp.ldexp(mp.mpf(hi[0]) + mp.mpf(lo[0]), int(k[0]))
        assert abs(got / mp.mpf(ref) - 1) < mp.mpf(2) ** -59


def _worst_relative(hi, lo, refs):
    with mp.workdps(50):
        return max(abs((mp.mpf(h) + mp.mpf(lo_) - r) / r) for h, lo_, r in zip(hi, lo, refs)
                   if r != 0)


def test_log1p_dd_relative_error_below_2_to_minus_59():
    ah = np.concatenate([_rng.uniform(-0.29, 2.0, 3000), 10.0 ** _rng.uniform(-300, 0, 1500),
                         -(10.0 ** _rng.uniform(-300, np.log10(0.29), 500)),
                         [np.sqrt(2.0) - 1, 1.0, 2.0, 1e-300, 2.0**-53, 3 * 2.0**-54]])
    # A low part below ulp(ah) / 2: tiny arguments must keep it (log1p(a) ~ a).
    al = _rng.uniform(-0.5, 0.5, ah.size) * np.spacing(np.abs(ah))
    hi, lo = np.empty_like(ah), np.empty_like(ah)
    _vlog1p_dd(ah, al, hi, lo)
    with mp.workdps(50):
        refs = [mp.log1p(mp.mpf(a) + mp.mpf(b)) for a, b in zip(ah, al)]
    worst = _worst_relative(hi, lo, refs)
    assert worst < mp.mpf(2) ** -59, float(worst)
