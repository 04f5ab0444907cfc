"""The softmax family against SciPy and PyTorch on random inputs (values and gradients)."""

from __future__ import annotations

import numpy as np
import pytest

import sigmax as sx

AXES = [-1, 0, 1, (0, 2), None]
_axis_ids = ["last", "0", "1", "tuple", "None"]


@pytest.fixture(scope="module")
def special():
    return pytest.importorskip("scipy.special", reason="SciPy is the reference peer (sigmax[dev])")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is an optional peer (sigmax[torch])")


def _x(seed=0, shape=(4, 5, 3), scale=10.0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


class TestAgainstSciPy:
    @pytest.mark.parametrize("axis", AXES, ids=_axis_ids)
    def test_softmax(self, special, axis):
        x = _x()
        np.testing.assert_allclose(sx.softmax(x, axis=axis), special.softmax(x, axis=axis),
                                   rtol=1e-13, atol=1e-300)

    @pytest.mark.parametrize("axis", AXES, ids=_axis_ids)
    def test_log_softmax(self, special, axis):
        x = _x(1)
        np.testing.assert_allclose(sx.log_softmax(x, axis=axis),
                                   special.log_softmax(x, axis=axis), rtol=1e-13, atol=1e-13)

    @pytest.mark.parametrize("axis", AXES, ids=_axis_ids)
    @pytest.mark.parametrize("keepdims", [False, True])
    def test_logsumexp(self, special, axis, keepdims):
        x = _x(2)
        np.testing.assert_allclose(sx.logsumexp(x, axis=axis, keepdims=keepdims),
                                   special.logsumexp(x, axis=axis, keepdims=keepdims),
                                   rtol=1e-14, atol=1e-14)

    @pytest.mark.parametrize("axis", AXES, ids=_axis_ids)
    def test_logsumexp_signed_b(self, special, axis):
        x = _x(3, scale=2.0)
        b = np.random.default_rng(4).uniform(-1.0, 1.0, size=x.shape)
        got, sign = sx.logsumexp(x, axis=axis, b=b, return_sign=True)
        want, want_sign = special.logsumexp(x, axis=axis, b=b, return_sign=True)
        np.testing.assert_array_equal(sign, want_sign)
        # The condition number of log|S| is sum|b e^x| / |S|; keep the well-posed sums.
        mag = np.log(np.sum(np.abs(b) * np.exp(x), axis=axis))
        ok = mag - got < 10
        assert np.mean(ok) > 0.8
        np.testing.assert_allclose(np.where(ok, got, 0), np.where(ok, want, 0), rtol=1e-10,
                                   atol=1e-10)
        plain = sx.logsumexp(x, axis=axis, b=b)
        np.testing.assert_array_equal(np.isnan(plain), sign < 0)

    def test_float32(self, special):
        x = _x(5).astype(np.float32)
        got = sx.softmax(x)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, special.softmax(x.astype(np.float64), axis=-1),
                                   rtol=2e-7, atol=1e-38)


class TestAgainstTorch:
    @staticmethod
    def _t(torch, a):
        return torch.tensor(a, dtype=torch.float64, requires_grad=True)

    @pytest.mark.parametrize("dim", [-1, 0, 1])
    @pytest.mark.parametrize("name", ["softmax", "log_softmax"])
    def test_values_and_autograd_vjp(self, torch, name, dim):
        x, g = _x(6), _x(7, scale=1.0)
        xt = self._t(torch, x)
        yt = getattr(torch, name)(xt, dim=dim)
        yt.backward(torch.tensor(g))
        f = getattr(sx, name)
        np.testing.assert_allclose(f(x, axis=dim), yt.detach().numpy(), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(f.vjp(x, g, axis=dim), xt.grad.numpy(), rtol=1e-12,
                                   atol=1e-14)

    @pytest.mark.parametrize("name", ["softmax", "log_softmax"])
    def test_temperature_and_mask_vs_autograd(self, torch, name):
        x, g = _x(8, shape=(6, 5)), _x(9, shape=(6, 5), scale=1.0)
        mask = np.random.default_rng(10).random((6, 5)) < 0.7
        mask[:, 0] = True
        t = 0.7
        xt = self._t(torch, x)
        yt = getattr(torch, name)((xt / t).masked_fill(~torch.tensor(mask), -np.inf), dim=-1)
        live = torch.tensor(mask)
        (yt.where(live, 0.0) * torch.tensor(g)).sum().backward()
        f = getattr(sx, name)
        np.testing.assert_allclose(f(x, where=mask, temperature=t), yt.detach().numpy(),
                                   rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(f.vjp(x, np.where(mask, g, 0.0), where=mask, temperature=t),
                                   xt.grad.numpy(), rtol=1e-12, atol=1e-14)

    @pytest.mark.parametrize("name", ["softmax", "log_softmax"])
    def test_jvp_and_jacobian(self, torch, name):
        from torch.autograd.functional import jacobian, jvp

        x, v = _x(11, shape=(3, 4), scale=2.0), _x(12, shape=(3, 4), scale=1.0)
        tf = getattr(torch, name)
        f = getattr(sx, name)
        _, tjvp = jvp(lambda a: tf(a, dim=-1), (torch.tensor(x),), (torch.tensor(v),))
        np.testing.assert_allclose(f.jvp(x, v), tjvp.numpy(), rtol=1e-12, atol=1e-14)
        full = jacobian(lambda a: tf(a, dim=-1), torch.tensor(x)).numpy()  # (3, 4, 3, 4)
        blocks = np.stack([full[r, :, r, :] for r in range(3)])
        np.testing.assert_allclose(f.jacobian(x), blocks, rtol=1e-12, atol=1e-15)

    @pytest.mark.parametrize("dim, keepdim", [(-1, False), ((0, 2), True), ((0, 1, 2), False)])
    def test_logsumexp_and_autograd(self, torch, dim, keepdim):
        x = _x(13)
        xt = self._t(torch, x)
        yt = torch.logsumexp(xt, dim=dim, keepdim=keepdim)
        g = _x(14, shape=tuple(yt.shape), scale=1.0)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(sx.logsumexp(x, axis=dim, keepdims=keepdim),
                                   yt.detach().numpy(), rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(sx.logsumexp.vjp(x, g, axis=dim, keepdims=keepdim),
                                   xt.grad.numpy(), rtol=1e-12, atol=1e-14)

    def test_softmax2d_module(self, torch):
        x, g = _x(15, shape=(2, 3, 2, 2)), _x(16, shape=(2, 3, 2, 2), scale=1.0)
        xt = self._t(torch, x)
        yt = torch.nn.Softmax2d()(xt)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(sx.softmax2d(x), yt.detach().numpy(), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(sx.softmax2d.vjp(x, g), xt.grad.numpy(), rtol=1e-12,
                                   atol=1e-14)

    def test_float32_close_to_torch_and_closer_to_float64(self, torch):
        x = _x(17).astype(np.float32)
        theirs = torch.softmax(torch.tensor(x), dim=-1).numpy()
        ours = sx.softmax(x)
        assert ours.dtype == np.float32
        # torch computes in float32: its small probabilities carry |x - max| * eps32.
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-30)
        exact = sx.softmax(x.astype(np.float64))
        ours_err = np.max(np.abs(ours - exact) / exact)
        theirs_err = np.max(np.abs(theirs - exact) / exact)
        assert ours_err <= np.finfo(np.float32).eps / 2 * (1 + 1e-6)  # rounded once
        assert ours_err <= theirs_err
