"""``sigmax tour``: the seeds' examples, run for real, with their identities checked.

Each step prints what it computes and checks an identity; the command exits
with status 1 if any check fails.  Nothing here touches the network.
"""

from __future__ import annotations

import time

import numpy as np

from .. import _elementwise as ew
from .. import _softmax as sm
from ._format import table

HELP = """Walk through the examples of the documents sigmax was born from:
sigmoid vs softmax on a batch, the 2-class identity softmax(x) = sigmoid(x - flip(x)),
translation invariance, the overflow the max shift prevents, logit(sigmoid(x)) naive
vs stable, the derivatives, and the softmax Jacobian built with einsum vs sigmax's
O(n) VJP, timed.  Every identity is checked; the exit status is 1 if one fails."""


class Tour:
    """Collects the printed steps and the identity checks."""

    def __init__(self, out=print):
        self.out = out
        self.checks = []

    def section(self, title: str):
        self.out("")
        self.out(title)
        self.out("=" * len(title))

    def show(self, label: str, value):
        text = np.array2string(np.asarray(value), precision=4, suppress_small=False)
        if "\n" in text:
            self.out(f"{label}:")
            self.out("  " + text.replace("\n", "\n  "))
        else:
            self.out(f"{label}: {text}")

    def check(self, label: str, ok) -> bool:
        ok = bool(ok)
        self.checks.append((label, ok))
        self.out(f"  [{'ok' if ok else 'FAILED'}] {label}")
        return ok


def _naive_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _naive_logit(p):
    return np.log(p / (1.0 - p))


def seed_batch(t: Tour):
    """Seed 0: sigmoid and softmax of the 4x2 batch, and why they differ."""
    t.section("1. Sigmoid is not softmax, even for two classes")
    x = np.array([[-0.3, -0.7], [0.3, 0.7], [1.1, -0.7], [-1.1, 0.7]])
    t.show("x_batch", x)
    sig = ew.sigmoid(x)
    soft = sm.softmax(x, axis=1)
    t.show("sigmoid(x_batch)", sig)
    t.show("softmax(x_batch, axis=1)", soft)
    t.check("sigmoid(x) matches the seed's printed values",
            np.allclose(sig, [[0.4256, 0.3318], [0.5744, 0.6682],
                              [0.7503, 0.3318], [0.2497, 0.6682]], atol=5e-5))
    t.check("softmax(x) matches the seed's printed values",
            np.allclose(soft, [[0.5987, 0.4013], [0.4013, 0.5987],
                               [0.8581, 0.1419], [0.1419, 0.8581]], atol=5e-5))
    t.check("sigmoid(x) != softmax(x)", not np.allclose(sig, soft))
    flip = ew.sigmoid(x - np.flip(x, axis=1))
    t.show("sigmoid(x - flip(x))", flip)
    t.check("softmax(x) == sigmoid(x - flip(x))  (softmax(x)_1 = sigmoid(x1 - x2))",
            np.allclose(soft, flip, rtol=2e-16 * 4, atol=0))
    translated = x - x[:, :1]
    t.check("softmax(x - x[:, 0]) == softmax(x)",
            np.allclose(sm.softmax(translated, axis=1), soft, rtol=1e-15, atol=0))
    stacked = np.stack([1 - ew.sigmoid(translated[:, 1]), ew.sigmoid(translated[:, 1])], axis=1)
    t.check("[1 - sigmoid(x2 - x1), sigmoid(x2 - x1)] == softmax(x)",
            np.allclose(stacked, soft, rtol=1e-15, atol=1e-16))


def translation(t: Tour):
    """Softmax only sees differences; the max shift keeps exp from overflowing."""
    t.section("2. Translation invariance and the max shift")
    x = np.array([2.0, 1.0, 0.1])
    t.show("x", x)
    t.show("sigmoid(x)  (independent, does not sum to 1)", ew.sigmoid(x))
    t.show("softmax(x)  (sums to 1)", sm.softmax(x))
    for c in (-1000.0, 1000.0):
        t.check(f"softmax(x + {c:g}) == softmax(x)",
                np.allclose(sm.softmax(x + c), sm.softmax(x), rtol=1e-13, atol=0))
    big = x + 1000.0
    with np.errstate(all="ignore"):
        naive = np.exp(big) / np.exp(big).sum()
    t.show("naive exp(x + 1000) / sum", naive)
    t.show("sigmax softmax(x + 1000)", sm.softmax(big))
    t.check("the naive formula gives NaN, sigmax does not",
            np.isnan(naive).all() and np.isfinite(sm.softmax(big)).all())
    lse = sm.logsumexp(big)
    t.check("logsumexp(x + 1000) == 1000 + logsumexp(x)",
            np.isclose(lse, 1000.0 + sm.logsumexp(x), rtol=1e-15))


def pytorch_examples(t: Tour):
    """Seed 1: softmax along dim 0, softmax2d, SLC with log_softmax + NLL, logit(sigmoid)."""
    t.section("3. Along which axis? softmax2d; SLC with log_softmax + NLL")
    inp = np.array([[-1.2928, -2.9990, -1.8886], [0.1079, -3.6320, -1.6835]])
    out = sm.softmax(inp, axis=0)
    t.show("softmax(inp, axis=0)", out)
    t.check("softmax over axis 0 matches the seed", np.allclose(
        out, [[0.1977, 0.6532, 0.4489], [0.8023, 0.3468, 0.5511]], atol=5e-5))
    t.check("its total is 3.0 (one per column)", np.isclose(out.sum(), 3.0))
    rng = np.random.default_rng(0)
    img = rng.normal(size=(1, 3, 2, 2))
    t.check("softmax2d(x) == softmax(x, axis=1) on (1, 3, 2, 2)",
            np.array_equal(sm.softmax2d(img), sm.softmax(img, axis=1)))
    s = ew.sigmoid(np.array([-0.4010, 0.0468, -0.4071, 0.6252, 1.0899]))
    t.check("sigmoid of the seed's 5 logits",
            np.allclose(s, [0.4011, 0.5117, 0.3996, 0.6514, 0.7484], atol=5e-5))
    batch_size, n_classes = 10, 5
    x = rng.normal(size=(batch_size, n_classes))
    target = rng.integers(n_classes, size=batch_size)
    pred = sm.log_softmax(x)
    with np.errstate(all="ignore"):
        naive_pred = x - np.log(np.exp(x).sum(-1))[:, None]
    loss = -pred[np.arange(batch_size), target].mean()
    t.show("NLL of log_softmax (10 x 5 batch)", loss)
    t.check("log_softmax == x - log(sum(exp(x))) on tame inputs",
            np.allclose(pred, naive_pred, rtol=1e-14, atol=1e-14))
    t.check("exp(log_softmax(x)) == softmax(x)",
            np.allclose(np.exp(pred), sm.softmax(x), rtol=1e-14, atol=0))
    # logit(sigmoid(x)): the naive pair breaks where sigmax's does not.  (Above
    # x ~ 37 sigmoid(x) rounds to 1.0 in float64 and no logit can recover x:
    # keep logits as logits there.)
    z = np.linspace(-740.0, 0.0, 20001)
    with np.errstate(all="ignore"):
        naive = _naive_logit(_naive_sigmoid(z))
    stable = ew.logit(ew.sigmoid(z))
    bad_naive = int(np.sum(~np.isfinite(naive)))
    t.show("naive logit(sigmoid(x)) non-finite on [-740, 0] (count)", bad_naive)
    t.show("sigmax logit(sigmoid(x)) non-finite on [-740, 0] (count)",
           int(np.sum(~np.isfinite(stable))))
    keep = z > -700  # below that sigmoid(x) is subnormal and has few digits left
    t.show("max relative error of sigmax's round trip on (-700, 0]",
           np.max(np.abs(stable[keep] - z[keep]) / np.maximum(np.abs(z[keep]), 1)))
    t.check("the naive round trip overflows below -709; sigmax's stays finite",
            bad_naive > 0 and np.isfinite(stable).all())
    d = 2.0 ** -30  # logit(1/2 + d) = 4d + (16/3) d^3 + ..., exact here to 1e-27
    exact = 4 * d + 16 / 3 * d**3
    naive_err = abs(_naive_logit(0.5 + d) - exact) / exact
    stable_err = abs(ew.logit(0.5 + d) - exact) / exact
    t.show("relative error of logit(1/2 + 2^-30): naive, sigmax",
           np.array([naive_err, stable_err]))
    t.check("sigmax's logit keeps full precision near p = 1/2",
            stable_err < 4.5e-16 and naive_err > 1e-10)


def derivatives(t: Tour, n_rows=500, n_classes=128):
    """Seed 3: the derivatives; the einsum Jacobian vs the O(n) VJP, timed."""
    t.section("4. Derivatives: sigmoid', the softmax Jacobian, and the O(n) VJP")
    x = np.array([-40.0, -2.0, 0.0, 2.0, 40.0])
    d = ew.sigmoid.derivative(x)
    t.show("sigmoid.derivative(x) for x = [-40, -2, 0, 2, 40]", d)
    s = ew.sigmoid(x)
    t.check("sigmoid' == s (1 - s) where that is accurate",
            np.allclose(d[1:4], (s * (1 - s))[1:4], rtol=1e-15))
    t.check("sigmoid.derivative(40.) == 4.248354255291589e-18, not s(1 - s) = 0",
            d[-1] == 4.248354255291589e-18 and s[-1] * (1 - s[-1]) == 0.0)
    v = np.array([0.5, 1.0, 2.0])
    jac = sm.softmax.jacobian(v)
    t.show("softmax.jacobian([0.5, 1, 2])", jac)
    p = sm.softmax(v)
    t.check("the Jacobian is diag(p) - p p^T and symmetric",
            np.allclose(jac, np.diag(p) - np.outer(p, p), rtol=1e-15, atol=1e-17)
            and np.array_equal(jac, jac.T))

    rng = np.random.default_rng(1)
    z = rng.normal(size=(n_rows, n_classes))
    da = rng.normal(size=(n_rows, n_classes))

    def softmax_back_einsum(da, z):
        m, n = z.shape
        p = sm.softmax(z)
        tensor1 = np.einsum("ij,ik->ijk", p, p)
        tensor2 = np.einsum("ij,jk->ijk", p, np.eye(n, n))
        return np.einsum("ijk,ik->ij", tensor2 - tensor1, da)

    t0 = time.perf_counter()
    ref = softmax_back_einsum(da, z)
    t_einsum = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = sm.softmax.vjp(z, da)
    t_vjp = time.perf_counter() - t0
    t.out(table(["method", f"time for ({n_rows}, {n_classes})", "memory"], [
        ["einsum Jacobian (m, n, n)", f"{t_einsum * 1e3:.1f} ms",
         f"{n_rows * n_classes * n_classes * 8 * 2 / 2**20:.0f} MiB"],
        ["softmax.vjp, O(n) per row", f"{t_vjp * 1e3:.1f} ms",
         f"{n_rows * n_classes * 8 / 2**20:.1f} MiB"],
    ]))
    t.check("softmax.vjp equals the einsum Jacobian product",
            np.allclose(fast, ref, rtol=1e-12, atol=1e-15))
    t.check("log_sigmoid(x) - log_sigmoid(-x) == x",
            np.allclose(ew.log_sigmoid(x) - ew.log_sigmoid(-x), x, rtol=1e-15, atol=0))


STEPS = [seed_batch, translation, pytorch_examples, derivatives]


def run_tour(out=print) -> Tour:
    t = Tour(out)
    out("sigmax tour: the seeds' examples, computed and checked")
    for step in STEPS:
        step(t)
    failed = [label for label, ok in t.checks if not ok]
    out("")
    out(f"{len(t.checks) - len(failed)} of {len(t.checks)} checks passed")
    for label in failed:
        out(f"FAILED: {label}")
    return t


def add_parser(sub):
    import argparse

    p = sub.add_parser("tour", help="the seeds' examples with checked identities (main job)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    t = run_tour()
    return 0 if all(ok for _, ok in t.checks) else 1
