"""The losses against torch.nn.functional (and torchvision's focal-loss formula) on random
inputs: values and autograd gradients.  Skipped without PyTorch (an optional peer)."""

from __future__ import annotations

import numpy as np
import pytest

import sigmax as sx


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is an optional peer (sigmax[torch])")


@pytest.fixture(scope="module")
def F(torch):
    import torch.nn.functional as F

    return F


def _t(torch, a, grad=False):
    t = torch.tensor(np.asarray(a))
    return t.requires_grad_() if grad else t


def _torch_value_and_grad(torch, fn, x, *args, **kw):
    xt = _t(torch, x, grad=True)
    loss = fn(xt, *args, **kw)
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy()


def _check(got, want, rtol=1e-13, atol=1e-15):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


RED = ["mean", "sum", "none"]


class TestCrossEntropy:
    @pytest.mark.parametrize("reduction", RED)
    @pytest.mark.parametrize("opts", ["plain", "weight", "ignore", "smooth", "all"])
    def test_integer_targets(self, torch, F, opts, reduction):
        rng = np.random.default_rng(0)
        x = rng.normal(scale=3.0, size=(7, 5))
        y = rng.integers(0, 5, size=7)
        w = rng.uniform(0.2, 3.0, size=5)
        kw, tkw = dict(reduction=reduction), dict(reduction=reduction)
        if opts in ("weight", "all"):
            kw["weight"], tkw["weight"] = w, _t(torch, w)
        if opts in ("ignore", "all"):
            y[[1, 4]] = -100
            kw["ignore_index"] = tkw["ignore_index"] = -100
        if opts in ("smooth", "all"):
            kw["label_smoothing"] = tkw["label_smoothing"] = 0.15
        want = _torch_value_and_grad(torch, F.cross_entropy, x, _t(torch, y), **tkw)
        _check(sx.cross_entropy.value_and_grad(x, y, **kw), want)

    @pytest.mark.parametrize("reduction", RED)
    @pytest.mark.parametrize("opts", ["plain", "weight", "smooth-weight"])
    def test_probability_targets(self, torch, F, opts, reduction):
        rng = np.random.default_rng(1)
        x = rng.normal(scale=3.0, size=(6, 4))
        q = rng.dirichlet(np.ones(4), size=6)
        w = rng.uniform(0.2, 3.0, size=4)
        kw, tkw = dict(reduction=reduction), dict(reduction=reduction)
        if "weight" in opts:
            kw["weight"], tkw["weight"] = w, _t(torch, w)
        if "smooth" in opts:
            kw["label_smoothing"] = tkw["label_smoothing"] = 0.3
        want = _torch_value_and_grad(torch, F.cross_entropy, x, _t(torch, q), **tkw)
        _check(sx.cross_entropy.value_and_grad(x, q, **kw), want)

    def test_class_axis_1_of_nchw(self, torch, F):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(2, 5, 3, 4))
        y = rng.integers(0, 5, size=(2, 3, 4))
        y[0, 1, 2] = 255
        w = rng.uniform(0.5, 2.0, size=5)
        kw = dict(weight=w, ignore_index=255, label_smoothing=0.05)
        want = _torch_value_and_grad(torch, F.cross_entropy, x, _t(torch, y), weight=_t(torch, w),
                                     ignore_index=255, label_smoothing=0.05)
        _check(sx.cross_entropy.value_and_grad(x, y, axis=1, **kw), want)

    def test_float32(self, torch, F):
        rng = np.random.default_rng(3)
        x = rng.normal(scale=5.0, size=(64, 100)).astype(np.float32)
        y = rng.integers(0, 100, size=64)
        want = _torch_value_and_grad(torch, F.cross_entropy, x.astype(np.float64), _t(torch, y))
        loss, g = sx.cross_entropy.value_and_grad(x, y)
        assert loss.dtype == g.dtype == np.float32
        # Computed in float64 and rounded once: within half an ulp of float32.
        _check((loss, g), want, rtol=2**-24, atol=1e-12)

    def test_every_target_ignored_differs_on_purpose(self, torch, F):
        # PyTorch's weighted mean over nothing is NaN; sigmax's is 0.0 (SPEC section 2).
        x = np.zeros((2, 3))
        y = np.array([-100, -100])
        assert np.isnan(F.cross_entropy(_t(torch, x), _t(torch, y)).item())
        assert sx.cross_entropy(x, y, ignore_index=-100) == 0.0


class TestNLLLoss:
    @pytest.mark.parametrize("reduction", RED)
    def test_weights_and_ignore(self, torch, F, reduction):
        rng = np.random.default_rng(4)
        a = np.log(rng.dirichlet(np.ones(4), size=8))
        y = rng.integers(0, 4, size=8)
        y[3] = -1
        w = rng.uniform(0.2, 3.0, size=4)
        want = _torch_value_and_grad(torch, F.nll_loss, a, _t(torch, y), weight=_t(torch, w),
                                     ignore_index=-1, reduction=reduction)
        _check(sx.nll_loss.value_and_grad(a, y, weight=w, ignore_index=-1, reduction=reduction),
               want)


class TestBinary:
    @pytest.mark.parametrize("reduction", RED)
    def test_binary_cross_entropy(self, torch, F, reduction):
        rng = np.random.default_rng(5)
        p = rng.uniform(0.001, 0.999, size=(5, 3))
        y = rng.random((5, 3))
        w = rng.uniform(0.2, 2.0, size=3)
        want = _torch_value_and_grad(torch, F.binary_cross_entropy, p, _t(torch, y),
                                     weight=_t(torch, w), reduction=reduction)
        _check(sx.binary_cross_entropy.value_and_grad(p, y, weight=w, reduction=reduction), want)

    def test_binary_cross_entropy_clamp(self, torch, F):
        # Values agree at p = 0 and 1 (PyTorch's clamp of the log at -100).
        p = np.array([0.0, 1.0, 0.0, 1.0])
        y = np.array([1.0, 0.0, 0.0, 1.0])
        want = F.binary_cross_entropy(_t(torch, p), _t(torch, y), reduction="none").numpy()
        np.testing.assert_array_equal(sx.binary_cross_entropy(p, y, reduction="none"), want)

    @pytest.mark.parametrize("reduction", RED)
    @pytest.mark.parametrize("opts", ["plain", "weight", "pos_weight", "both"])
    def test_with_logits(self, torch, F, opts, reduction):
        rng = np.random.default_rng(6)
        x = rng.normal(scale=4.0, size=(6, 3))
        y = rng.random((6, 3))
        kw, tkw = dict(reduction=reduction), dict(reduction=reduction)
        if opts in ("weight", "both"):
            w = rng.uniform(0.2, 2.0, size=(6, 1))
            kw["weight"], tkw["weight"] = w, _t(torch, w)
        if opts in ("pos_weight", "both"):
            pw = rng.uniform(0.5, 4.0, size=3)  # one per label, broadcast over the batch
            kw["pos_weight"], tkw["pos_weight"] = pw, _t(torch, pw)
        want = _torch_value_and_grad(torch, F.binary_cross_entropy_with_logits, x,
                                     _t(torch, y), **tkw)
        _check(sx.binary_cross_entropy_with_logits.value_and_grad(x, y, **kw), want)

    @pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (-1, 2.0), (0.6, 0.5), (0.25, 0.0),
                                              (0.9, 4.0)])
    @pytest.mark.parametrize("reduction", RED)
    def test_sigmoid_focal_loss(self, torch, F, alpha, gamma, reduction):
        # torchvision.ops.sigmoid_focal_loss, written out (torchvision is not a dependency).
        def tv_focal(inputs, targets, alpha, gamma, reduction):
            p = torch.sigmoid(inputs)
            ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
            p_t = p * targets + (1 - p) * (1 - targets)
            loss = ce * ((1 - p_t) ** gamma)
            if alpha >= 0:
                alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
                loss = alpha_t * loss
            return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

        rng = np.random.default_rng(7)
        x = rng.normal(scale=3.0, size=(8, 3))
        for y in ((rng.random((8, 3)) < 0.3) * 1.0, rng.random((8, 3))):
            want = _torch_value_and_grad(torch, tv_focal, x, _t(torch, y), alpha, gamma,
                                         reduction)
            got = sx.sigmoid_focal_loss.value_and_grad(x, y, alpha=alpha, gamma=gamma,
                                                       reduction=reduction)
            _check(got, want, rtol=1e-12, atol=1e-15)
