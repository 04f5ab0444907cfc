"""Tour steps on the activations: the seeds' sigmoid and softmax examples.

Seed 0 (the 4 x 2 batch and the 2-class identity), seed 2 (``[2.0, 1.0,
0.1]`` and the max shift), seed 1 (softmax along ``dim=0``, ``Softmax2d``, the
5 sigmoid logits, the cat/dog/cow/zebra threshold, ``logit(sigmoid(x))``) and
seed 3 (the 2-D softmax surface, the max shift over the whole array).
"""

from __future__ import annotations

import numpy as np

from .. import _elementwise as ew
from .. import _softmax as sm
from . import _figures
from ._console import table


def seed_batch(t):
    """Seed 0: sigmoid and softmax of the 4 x 2 batch, and why they differ."""
    t.section("1. Sigmoid is not softmax, even for two classes (seed 0)")
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
    # The seed's three equivalent forms: softmax, softmax of the input
    # translated relative to x0, and [1 - sigmoid, sigmoid] of the translation.
    translated = x - x[:, :1]
    t.check("softmax(x - x[:, 0]) == softmax(x)",
            np.allclose(sm.softmax(translated, axis=1), soft, rtol=1e-15, atol=0))
    stacked = np.stack([1 - ew.sigmoid(translated[:, 1]), ew.sigmoid(translated[:, 1])], axis=1)
    t.check("[1 - sigmoid(x2 - x1), sigmoid(x2 - x1)] == softmax(x)",
            np.allclose(stacked, soft, rtol=1e-15, atol=1e-16))
    t.figure("softmax_2d.png", _figures.softmax_surface)


def translation(t):
    """Seed 2's example; softmax only sees differences; the max shift prevents overflow."""
    t.section("2. Seed 2's [2.0, 1.0, 0.1]; translation invariance and the max shift")
    x = np.array([2.0, 1.0, 0.1])
    t.show("x", x)
    sig, soft = ew.sigmoid(x), sm.softmax(x, axis=0)
    t.show("sigmoid(x)  (per element: does not sum to 1)", sig)
    t.show("softmax(x, axis=0)  (a distribution: sums to 1)", soft)
    t.check("sigmoid([2.0, 1.0, 0.1]) == [0.8808, 0.7311, 0.5250]",
            np.allclose(sig, [0.8808, 0.7311, 0.5250], atol=5e-5))
    t.check("softmax([2.0, 1.0, 0.1]) == [0.6590, 0.2424, 0.0986]",
            np.allclose(soft, [0.6590, 0.2424, 0.0986], atol=5e-5))
    t.check("sigmoid's outputs are all > 0.5 and sum to more than 1, softmax's sum to 1",
            (sig > 0.5).all() and sig.sum() > 1 and np.isclose(soft.sum(), 1.0, rtol=1e-15))
    for c in (-1000.0, 1000.0):
        t.check(f"softmax(x + {c:g}) == softmax(x)",
                np.allclose(sm.softmax(x + c), soft, rtol=1e-13, atol=0))
    big = x + 1000.0
    with np.errstate(all="ignore"):
        naive = np.exp(big) / np.exp(big).sum()
    t.show("naive exp(x + 1000) / sum", naive)
    t.show("sigmax softmax(x + 1000)", sm.softmax(big))
    t.check("the naive formula gives NaN, sigmax does not",
            np.isnan(naive).all() and np.isfinite(sm.softmax(big)).all())
    t.check("logsumexp(x + 1000) == 1000 + logsumexp(x)",
            np.isclose(sm.logsumexp(big), 1000.0 + sm.logsumexp(x), rtol=1e-15))
    # Seed 3's shifted softmax subtracts the maximum of the whole array, not of
    # each row: a row far below the overall maximum underflows to 0 / 0.
    z = np.array([[1000.0, 999.0], [0.0, 1.0]])
    with np.errstate(all="ignore"):
        e = np.exp(z - np.max(z))
        seed3 = e / np.sum(e, axis=1, keepdims=True)
    t.show("seed 3's exp(z - max(z)) / sum, z = [[1000, 999], [0, 1]]", seed3)
    t.show("sigmax softmax(z, axis=1)", sm.softmax(z, axis=1))
    t.check("one max for the whole array leaves a row 0/0 = NaN; the row max does not",
            np.isnan(seed3[1]).all()
            and np.allclose(sm.softmax(z, axis=1)[1], sm.softmax(z, axis=1)[0][::-1]))


def axes_and_thresholds(t):
    """Seed 1: softmax along dim 0 (both examples), Softmax2d, sigmoid, the threshold."""
    t.section("3. Along which axis? softmax2d; sigmoid picks several, softmax one (seed 1)")
    examples = [
        ([[-1.2928, -2.9990, -1.8886], [0.1079, -3.6320, -1.6835]],
         [[0.1977, 0.6532, 0.4489], [0.8023, 0.3468, 0.5511]], "nn.Softmax(dim=0)"),
        ([[0.9096, -2.5876, -2.2403], [-0.8566, 0.2757, -1.9268]],
         [[0.8540, 0.0540, 0.4223], [0.1460, 0.9460, 0.5777]], "F.softmax(inp, dim=0)"),
    ]
    for inp, printed, what in examples:
        out = sm.softmax(np.array(inp), axis=0)
        t.show(f"softmax(inp, axis=0) for the seed's {what} example", out)
        t.check(f"{what}: matches the seed's printed output, and its total is 3.0",
                np.allclose(out, printed, atol=5e-5) and np.isclose(out.sum(), 3.0))
    rng = np.random.default_rng(0)
    img = rng.normal(size=(1, 3, 2, 2))
    t.check("softmax2d(x) == softmax(x, axis=1) exactly on a (1, 3, 2, 2) input",
            np.array_equal(sm.softmax2d(img), sm.softmax(img, axis=1)))
    s = ew.sigmoid(np.array([-0.4010, 0.0468, -0.4071, 0.6252, 1.0899]))
    t.show("sigmoid of the seed's 5 logits", s)
    t.check("sigmoid of the seed's 5 logits matches its printed output",
            np.allclose(s, [0.4011, 0.5117, 0.3996, 0.6514, 0.7484], atol=5e-5))
    # The seed's spreadsheet (an image, its numbers not in the text) scores
    # cat, dog, cow and zebra; these logits are illustrative, chosen so that
    # two of them pass the seed's threshold of 3.
    names = ["cat", "dog", "cow", "zebra"]
    logits = np.array([3.4, 1.2, -0.8, 3.1])
    p_soft, p_sig = sm.softmax(logits), ew.sigmoid(logits)
    threshold = ew.sigmoid(3.0)
    t.out(table(["class", "logit", "exp(logit)", "softmax", "sigmoid", "sigmoid > sigmoid(3)"],
                [[n, f"{z:.1f}", f"{np.exp(z):.2f}", f"{a:.4f}", f"{b:.4f}", str(b > threshold)]
                 for n, z, a, b in zip(names, logits, p_soft, p_sig)],
                title="cat / dog / cow / zebra: one answer or several?"))
    picked = [n for n, b in zip(names, p_sig) if b > threshold]
    t.out(f"softmax's one answer: {names[int(np.argmax(p_soft))]}; "
          f"sigmoid over the threshold: {', '.join(picked)}")
    t.check("softmax sums to 1 and argmax picks exactly one class (cat)",
            np.isclose(p_soft.sum(), 1.0) and names[int(np.argmax(p_soft))] == "cat")
    t.check("sigmoid with threshold 3 (on the logits) keeps two classes: cat and zebra",
            picked == ["cat", "zebra"])


def logit_roundtrip(t):
    """Seed 1: logit(sigmoid(x)) is not stable written naively."""
    t.section("4. logit(sigmoid(x)): the naive pair against sigmax's (seed 1)")
    # The seed's own range and dtype (torch.arange(-20, 20, 1e-4), float32).
    x32 = np.arange(-20.0, 20.0, 1e-4).astype(np.float32)
    with np.errstate(all="ignore"):
        naive32 = _figures.naive_logit(_figures.naive_sigmoid(x32))
    stable32 = ew.logit(ew.sigmoid(x32))
    first = [float(x32[~np.isfinite(y)].min()) for y in (naive32, stable32)]
    t.show("float32 on the seed's [-20, 20): first x where the round trip is inf "
           "(naive, sigmax)", np.array(first))
    t.check("in float32 sigmax's sigmoid stays below 1 further (x < 17.33 vs 16.64); past "
            "that no logit can recover x: keep logits as logits",
            first[1] > first[0] + 0.5)
    # In float64 the naive pair breaks where exp(-x) overflows.
    z = np.linspace(-740.0, 0.0, 20001)
    with np.errstate(all="ignore"):
        naive = _figures.naive_logit(_figures.naive_sigmoid(z))
    stable = ew.logit(ew.sigmoid(z))
    bad_naive = int(np.sum(~np.isfinite(naive)))
    t.show("float64 on [-740, 0]: non-finite results (naive, sigmax)",
           np.array([bad_naive, int(np.sum(~np.isfinite(stable)))]))
    keep = z > -700  # below that sigmoid(x) is subnormal and has few digits left
    t.show("max relative error of sigmax's round trip on (-700, 0]",
           np.max(np.abs(stable[keep] - z[keep]) / np.maximum(np.abs(z[keep]), 1)))
    t.check("the naive round trip overflows below -709; sigmax's stays finite",
            bad_naive > 0 and np.isfinite(stable).all())
    d = 2.0 ** -30  # logit(1/2 + d) = 4d + (16/3) d^3 + ..., exact here to 1e-27
    exact = 4 * d + 16 / 3 * d**3
    naive_err = abs(_figures.naive_logit(0.5 + d) - exact) / exact
    stable_err = abs(ew.logit(0.5 + d) - exact) / exact
    t.show("relative error of logit(1/2 + 2^-30): naive, sigmax",
           np.array([naive_err, stable_err]))
    t.check("sigmax's logit keeps full precision near p = 1/2",
            stable_err < 4.5e-16 and naive_err > 1e-10)
    t.figure("logit_roundtrip.png", _figures.logit_roundtrip)
