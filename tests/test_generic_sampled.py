"""sampled_softmax_loss and negative_sampling_loss on the array-API path.

Through ``sigmax._generic.call`` (the public objects do not route foreign
arrays until ``_sampled_losses`` calls ``_route``; see the strict xfail below).
The same seed draws the same candidates on both paths, so values and the three
gradients equal the NumPy path's; torch autograd, ``jax.grad`` and
``jax.value_and_grad`` give the same gradients; central finite differences at a
fixed seed check the closed forms themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_generic_libs import back_all, lib  # noqa: F401 (lib is a fixture)

import sigmax as sx
from sigmax._generic import call

_rng = np.random.default_rng(5)
N, V, D = 7, 40, 3
H = _rng.normal(size=(N, D))
W = _rng.normal(size=(V, D))
BIAS = _rng.normal(size=V)
Y = _rng.integers(0, 8, N)            # frequent classes: log-uniform draws hit them
PROBS = _rng.random(V) ** 3
PROBS[30:] = 0.0                      # classes never drawn
Y_PROBS = np.array([1, 5, 29, 0, 3, 3, 12])

SS, NS = sx.sampled_softmax_loss, sx.negative_sampling_loss
CASES = {
    "ss-plain": (SS, Y, dict(num_sampled=12)),
    "ss-bias-sum": (SS, Y, dict(num_sampled=20, bias=BIAS, reduction="sum")),
    "ss-hits-kept-none": (SS, Y, dict(num_sampled=9, remove_accidental_hits=False,
                                      reduction="none", bias=BIAS)),
    "ss-uniform": (SS, Y, dict(num_sampled=15, sampler="uniform")),
    "ss-probs": (SS, Y_PROBS, dict(num_sampled=10, sampler=PROBS, bias=BIAS)),
    "ns-plain": (NS, Y, dict(num_negatives=4)),
    "ns-bias-none": (NS, Y, dict(num_negatives=6, bias=BIAS, reduction="none")),
    "ns-noise-sum": (NS, Y_PROBS, dict(num_negatives=3, noise=PROBS, reduction="sum")),
    "ns-log-uniform": (NS, Y, dict(num_negatives=5, noise="log_uniform", bias=BIAS)),
}


def _on(lib, kw):
    """``kw`` with the bias in ``lib`` (the sampler's probabilities stay NumPy)."""
    return {k: lib.to(v) if k == "bias" else v for k, v in kw.items()}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_equals_the_numpy_path_at_the_same_seed(lib, case):
    f, y, kw = CASES[case]
    if lib.name == "dask":
        with pytest.raises(TypeError, match=f"^{f.name}: Dask arrays are not supported"):
            call(f, "__call__", lib.to(H), lib.to(W), lib.to(y), seed=3, **_on(lib, kw))
        return
    want_value, want_grads = f.value_and_grad(H, W, y, seed=3, **kw)
    value, grads = call(f, "value_and_grad", lib.to(H), lib.to(W), lib.to(y), seed=3,
                        **_on(lib, kw))
    np.testing.assert_allclose(back_all(lib, value), want_value, rtol=1e-14, atol=1e-15)
    for got, want in zip(grads, want_grads):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(back_all(lib, got), want, rtol=1e-13, atol=1e-15)
    plain = call(f, "__call__", lib.to(H), lib.to(W), lib.to(y), seed=3, **_on(lib, kw))
    np.testing.assert_allclose(back_all(lib, plain), want_value, rtol=1e-14, atol=1e-15)
    # Another seed draws other candidates (the seed is really used).
    other = call(f, "__call__", lib.to(H), lib.to(W), lib.to(y), seed=4, **_on(lib, kw))
    assert not np.allclose(back_all(lib, other), want_value, rtol=1e-6)


@pytest.mark.parametrize("f", [SS, NS], ids=lambda f: f.name)
def test_float32_stays_float32(lib, f):
    if lib.name == "dask":
        pytest.skip("no Dask path (tested above)")
    kw = dict(num_sampled=12) if f is SS else dict(num_negatives=4)
    h32, w32 = H.astype(np.float32), W.astype(np.float32)
    value, (dh, dw, db) = call(f, "value_and_grad", lib.to(h32), lib.to(w32), lib.to(Y),
                               seed=2, **kw)
    want, (wh, ww, _) = f.value_and_grad(h32, w32, Y, seed=2, **kw)
    for got, ref in ((value, want), (dh, wh), (dw, ww)):
        got = back_all(lib, got)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=2e-7, atol=1e-8)
    assert db is None


def test_torch_autograd_gives_the_three_gradients():
    torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
    for case in ("ss-bias-sum", "ss-probs", "ns-bias-none", "ns-log-uniform"):
        f, y, kw = CASES[case]
        kw = dict(kw)
        ts = [torch.tensor(a, requires_grad=True) for a in (H, W, BIAS)]
        kw["bias"] = ts[2]
        loss = call(f, "__call__", ts[0], ts[1], torch.tensor(y), seed=8, **kw)
        assert isinstance(loss, torch.Tensor)
        loss.sum().backward()
        _, want = f.value_and_grad(H, W, y, seed=8, **dict(kw, bias=BIAS))
        for t, w in zip(ts, want):
            np.testing.assert_allclose(t.grad.numpy(), w, rtol=1e-13, atol=1e-15)


def test_jax_grad_and_value_and_grad_give_the_three_gradients():
    jax = pytest.importorskip("jax", reason="JAX is the sigmax[jax] extra")
    jnp = jax.numpy
    for case in ("ss-bias-sum", "ss-probs", "ns-bias-none", "ns-noise-sum"):
        f, y, kw = CASES[case]
        kw = {k: v for k, v in kw.items() if k != "bias"}
        with jax.enable_x64(True):
            def loss(h, w, b):
                return jnp.sum(call(f, "__call__", h, w, jnp.asarray(y), bias=b, seed=8, **kw))

            args = (jnp.asarray(H), jnp.asarray(W), jnp.asarray(BIAS))
            got = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(*args)
            value, got_vg = jax.value_and_grad(loss, argnums=(0, 1, 2))(*args)
        want_value, want = f.value_and_grad(H, W, y, bias=BIAS, seed=8, **kw)
        np.testing.assert_allclose(float(value), np.sum(want_value), rtol=1e-14)
        for g, g2, w in zip(got, got_vg, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(np.asarray(g2), w, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("case", ["ss-bias-sum", "ss-hits-kept-none", "ns-bias-none"])
def test_gradients_match_finite_differences_at_a_fixed_seed(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
    f, y, kw = CASES[case]
    kw = dict(kw, bias=BIAS)
    base = [H.copy(), W.copy(), BIAS.copy()]

    def loss(arrs):
        value = call(f, "__call__", torch.tensor(arrs[0]), torch.tensor(arrs[1]),
                     torch.tensor(y), seed=6, **dict(kw, bias=torch.tensor(arrs[2])))
        return float(value.sum())

    _, grads = call(f, "value_and_grad", *(torch.tensor(a) for a in base[:2]), torch.tensor(y),
                    seed=6, **dict(kw, bias=torch.tensor(base[2])))
    step = 1e-6
    for which, grad in enumerate(grads):
        grad = grad.numpy()                 # for reduction='none': the gradient of the sum
        # Every entry of hidden; the scored rows of weight / bias and one row that is not.
        flat = [np.unravel_index(i, base[which].shape) for i in range(base[which].size)]
        for idx in flat[:: max(1, len(flat) // 25)]:
            up, down = [a.copy() for a in base], [a.copy() for a in base]
            up[which][idx] += step
            down[which][idx] -= step
            fd = (loss(up) - loss(down)) / (2 * step)
            np.testing.assert_allclose(grad[idx], fd, rtol=1e-6, atol=1e-8,
                                       err_msg=f"argument {which} at {idx}")


def test_target_out_of_range_and_unreachable(lib):
    if lib.name == "dask":
        pytest.skip("no Dask path (tested above)")
    bad = Y.copy()
    bad[2] = V
    with pytest.raises(ValueError, match=rf"^sampled_softmax_loss: target holds {V} at index "
                       rf"\(2,\); expected a class index in \[0, {V - 1}\]"):
        call(SS, "__call__", lib.to(H), lib.to(W), lib.to(bad), num_sampled=3, seed=0)
    # Class 35 has probability 0 under PROBS: the NumPy path's message.
    y = Y_PROBS.copy()
    y[4] = 35
    with pytest.raises(ValueError, match=r"^sampled_softmax_loss: target holds 35 at index "
                       r"\(4,\), a class of probability 0 under the sampler"):
        call(SS, "__call__", lib.to(H), lib.to(W), lib.to(y), num_sampled=3, sampler=PROBS,
             seed=0)
    with pytest.raises(ValueError, match=r"^negative_sampling_loss: num_negatives must be a "
                       r"positive int; received 0"):
        call(NS, "__call__", lib.to(H), lib.to(W), lib.to(Y), num_negatives=0)


def test_masked_bias_gives_zero_not_nan_gradients():
    # Every candidate switched off (-inf bias): the rows' softmax is one-hot on
    # the target, the loss 0 and every gradient 0 -- no NaN from -inf - -inf.
    torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
    b = np.full(V, -np.inf)
    b[Y] = 0.0
    want_value, want = SS.value_and_grad(H, W, Y, bias=b, num_sampled=5, seed=1,
                                         sampler="uniform")
    ts = [torch.tensor(a, requires_grad=True) for a in (H, W)]
    loss = call(SS, "__call__", *ts, torch.tensor(Y), bias=torch.tensor(b), num_sampled=5,
                seed=1, sampler="uniform")
    loss.backward()
    np.testing.assert_allclose(loss.item(), want_value, rtol=1e-14, atol=1e-15)
    for t, w in zip(ts, want):
        assert not np.isnan(t.grad.numpy()).any()
        np.testing.assert_allclose(t.grad.numpy(), w, rtol=1e-13, atol=1e-15)


def test_noise_as_a_tensor_is_read_on_the_host():
    torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
    got = call(NS, "__call__", torch.tensor(H), torch.tensor(W), torch.tensor(Y_PROBS),
               num_negatives=3, noise=torch.tensor(PROBS), seed=9)
    want = NS(H, W, Y_PROBS, num_negatives=3, noise=PROBS, seed=9)
    np.testing.assert_allclose(got.item(), want, rtol=1e-14)


def test_public_objects_route_tensors():
    torch = pytest.importorskip("torch", reason="PyTorch is the sigmax[torch] extra")
    got = SS(torch.tensor(H), torch.tensor(W), torch.tensor(Y), num_sampled=5, seed=1)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.item(), SS(H, W, Y, num_sampled=5, seed=1), rtol=1e-14)
    loss, grads = NS.value_and_grad(torch.tensor(H), torch.tensor(W), torch.tensor(Y),
                                    num_negatives=3, seed=2)
    want_loss, want = NS.value_and_grad(H, W, Y, num_negatives=3, seed=2)
    assert isinstance(loss, torch.Tensor)
    assert [g is None for g in grads] == [w is None for w in want] == [False, False, True]
    assert all(isinstance(g, torch.Tensor) for g in grads[:2])
    np.testing.assert_allclose(loss.item(), want_loss, rtol=1e-14)
    for g, w in zip(grads, want):
        if w is not None:
            np.testing.assert_allclose(g.numpy(), w, rtol=1e-13, atol=1e-15)
