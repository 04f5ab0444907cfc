"""The Triton path (sigmax._triton) under Triton's interpreter, on CPU tensors.

``TRITON_INTERPRET=1`` is set here before the kernel modules are decorated
(if another module had imported them first, :func:`_interpreted` re-imports
them), and ``SIGMAX_TRITON_ON_CPU=1`` is set per call (monkeypatch) so that the
dispatch sends CPU tensors to the kernels.  Every result is compared with the
generic array-API path on the same tensors and with sigmax's NumPy closed
forms in float64.  Marked ``triton``; skipped where triton or torch is missing.
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest

# Triton decorates its own language helpers when it is first imported: if something
# (torch.compile, a doctest collection) imported it before TRITON_INTERPRET was set, the
# interpreter cannot run in this process, and this module runs in a subprocess instead.
_LATE = "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1"
os.environ["TRITON_INTERPRET"] = "1"
triton = pytest.importorskip("triton", reason="triton is not installed (extra sigmax[triton])")
torch = pytest.importorskip("torch", reason="torch is not installed")

import sigmax as sx  # noqa: E402

pytestmark = pytest.mark.triton


@pytest.fixture(autouse=True)
def _in_this_process(request):
    if _LATE and request.node.name != "test_module_in_a_fresh_process":
        pytest.skip("triton was imported before TRITON_INTERPRET was set: "
                    "test_module_in_a_fresh_process runs this module in a subprocess")

INF = math.inf
NAN = math.nan
_MODULES = ["_rows", "_softmax", "_elementwise", "_cross_entropy", "_linear_ce", "_autograd",
            "_dispatch"]


if _LATE:
    def test_module_in_a_fresh_process():
        env = dict(os.environ, TRITON_INTERPRET="1")
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            __file__], capture_output=True, text=True, env=env, timeout=900)
        assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
        assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], r.stdout


def _interpreted():
    if _LATE:
        return None
    from triton.runtime.interpreter import InterpretedFunction

    from sigmax._triton import _softmax
    if not isinstance(_softmax._forward_kernel, InterpretedFunction):
        for name in _MODULES:
            importlib.reload(importlib.import_module(f"sigmax._triton.{name}"))
    import sigmax._triton as T
    assert T.usable()
    return T


T = _interpreted()


@pytest.fixture
def on_triton(monkeypatch):
    """``run(f, *args, **kw)``: the call on the Triton path, checked to have been taken."""
    import sigmax._triton as package

    taken = []
    real = package.handle

    def spy(name, method, args, kwargs):
        out = real(name, method, args, kwargs)
        taken.append(out is not NotImplemented)
        return out

    def run(f, *args, **kw):
        taken.clear()
        monkeypatch.setenv("SIGMAX_TRITON_ON_CPU", "1")
        monkeypatch.setattr(package, "handle", spy)
        try:
            out = f(*args, **kw)
        finally:
            monkeypatch.delenv("SIGMAX_TRITON_ON_CPU")
            monkeypatch.setattr(package, "handle", real)
        assert taken and taken[0], "the call did not take the Triton path"
        return out
    return run


def generic(f, *args, **kw):
    assert os.environ.get("SIGMAX_TRITON_ON_CPU") != "1"
    return f(*args, **kw)


def close(a, b, rtol=2e-6, atol=1e-7):
    a = a.detach().to(torch.float64)
    b = b.detach().to(torch.float64) if isinstance(b, torch.Tensor) else torch.as_tensor(b)
    assert a.shape == b.shape
    torch.testing.assert_close(a, b.to(torch.float64), rtol=rtol, atol=atol, equal_nan=True)


SPECIAL = torch.tensor([[-INF, -INF, -INF, -INF, -INF],      # masked row
                        [1.0, INF, INF, 0.0, -INF],          # two +inf share the mass
                        [0.0, 1.0, 2.0, 3.0, 4.0],
                        [1.0, -INF, 2.0, -INF, 3.0],         # masked entries
                        [INF, 1.0, 2.0, 3.0, 4.0],
                        [NAN, 1.0, 2.0, 3.0, 4.0],
                        [-1e30, 1e30, 0.0, 88.0, -88.0]])
T_SPECIAL = torch.tensor([0, 1, 2, 1, 1, 1, 3])


def _random(shape, dtype=torch.float32, scale=4.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


# ---------------------------------------------------------------------------
# softmax, log_softmax, logsumexp
@pytest.fixture(params=["one-block", "online-merge", "split-rows"])
def block(request, monkeypatch):
    """Rows in one block, through the loop in blocks of 16 (the online merge), or split."""
    if request.param != "one-block":
        from sigmax._triton import _softmax
        monkeypatch.setattr(_softmax, "MAX_SINGLE", 8)
        monkeypatch.setattr(_softmax, "LOOP_BLOCK", 16)
        monkeypatch.setattr(_softmax, "TARGET_PROGRAMS",
                            64 if request.param == "split-rows" else 1)
    return request.param


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("n", [1, 7, 33, 100])
def test_values_match_generic_and_closed_form(on_triton, block, name, n):
    f = getattr(sx, name)
    x = _random((6, n), seed=n)
    got = on_triton(f, x)
    close(got, generic(f, x), rtol=4e-6, atol=2e-7)
    ref = torch.from_numpy(np.asarray(f(x.double().numpy())))
    close(got, ref, rtol=4e-6, atol=2e-7)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_special_rows(on_triton, block, name):
    f = getattr(sx, name)
    x = torch.cat([SPECIAL] * 8, dim=1)     # 40: three forced blocks, three split spans
    got = on_triton(f, x)
    close(got, generic(f, x), rtol=4e-6, atol=0)
    # the masked row: zeros / -inf, never NaN
    assert not torch.isnan(got[0]).any()
    g = _random(x.shape, seed=3) if name != "logsumexp" else _random((7,), seed=3)
    for method in ("vjp", "jvp"):
        t = g if method == "vjp" or name != "logsumexp" else _random(x.shape, seed=4)
        p = on_triton(getattr(f, method), x, t)
        close(p, generic(getattr(f, method), x, t), rtol=1e-5, atol=1e-6)
        assert (p[:2] == 0).all() and (p[4] == 0).all()     # masked and +inf rows
        assert torch.isnan(p[5]).all()


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_autograd_backward(on_triton, block, name):
    f = getattr(sx, name)
    x = torch.cat([SPECIAL[[0, 2, 3, 6]], _random((3, 5), seed=5)])
    x = torch.cat([x, x[:, :4]], dim=1)
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    w = _random(x.shape if name != "logsumexp" else x.shape[:1], seed=6)
    (on_triton(f, xa) * w).nan_to_num(0.0, 0.0, 0.0).sum().backward()
    (generic(f, xb) * w).nan_to_num(0.0, 0.0, 0.0).sum().backward()
    close(xa.grad, xb.grad, rtol=1e-5, atol=1e-6)
    assert (xa.grad[0] == 0).all() and not torch.isnan(xa.grad).any()


def test_axis_and_keepdims(on_triton):
    x = _random((4, 9, 3), seed=7)
    for axis in (0, 1, -1, (1,)):
        close(on_triton(sx.softmax, x, axis=axis), generic(sx.softmax, x, axis=axis))
    close(on_triton(sx.logsumexp, x, axis=1, keepdims=True),
          generic(sx.logsumexp, x, axis=1, keepdims=True))
    close(on_triton(sx.softmax2d, x), generic(sx.softmax2d, x))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_half_inputs_accumulate_in_float32(on_triton, block, dtype, name):
    f = getattr(sx, name)
    x = _random((5, 300), dtype=dtype, seed=8)
    got = on_triton(f, x)
    assert got.dtype == dtype
    ref = torch.from_numpy(np.asarray(f(x.double().numpy())))   # exact input, float64
    # one rounding to the half dtype (float32 accumulation adds nothing visible)
    expected = ref.to(dtype)
    eps = torch.finfo(dtype).eps
    close(got, expected, rtol=eps, atol=1e-30 if name != "log_softmax" else eps)


def test_long_rows_with_large_range(on_triton, block, monkeypatch):
    # The maximum sits in a late block: the online merge rescales the earlier sums.
    from sigmax._triton import _softmax
    calls = []
    real = _softmax._split_forward
    monkeypatch.setattr(_softmax, "_split_forward", lambda *a: calls.append(1) or real(*a))
    x = torch.linspace(-60.0, 60.0, 203).repeat(3, 1)
    x[1] = x[1].flip(0)
    x[2, 100] = 500.0
    for f in (sx.softmax, sx.log_softmax, sx.logsumexp):
        ref = torch.from_numpy(np.asarray(f(x.double().numpy())))
        close(on_triton(f, x), ref, rtol=4e-6, atol=1e-30)
    assert len(calls) == (3 if block == "split-rows" else 0)


def test_fallbacks_take_the_generic_path(monkeypatch):
    import sigmax._triton as package
    monkeypatch.setenv("SIGMAX_TRITON_ON_CPU", "1")
    x = _random((3, 5), seed=9)
    mask = torch.tensor([True, False, True, True, True])
    cases = [("softmax", "__call__", (x.double(),), {}),
             ("softmax", "__call__", (x,), {"where": mask}),
             ("softmax", "__call__", (x,), {"temperature": 2.0}),
             ("softmax", "jacobian", (x,), {}),
             ("logsumexp", "__call__", (x,), {"b": x}),
             ("cross_entropy", "__call__", (x, torch.tensor([0, 1, 2])), {"weight": x[0]}),
             ("cross_entropy", "__call__", (x, torch.tensor([0, 1, 9])), {}),  # out of range
             ("cross_entropy", "__call__", (x, sx.softmax(x)), {}),           # probabilities
             ("sigmoid", "__call__", (torch.zeros(0),), {})]
    for name, method, args, kwargs in cases:
        assert package.handle(name, method, args, kwargs) is NotImplemented, (name, kwargs)
    # and the public call still answers (generic path), with its errors
    got = sx.softmax(x, where=mask)
    with pytest.raises(ValueError, match="target"):
        sx.cross_entropy(x, torch.tensor([0, 1, 9]))
    monkeypatch.delenv("SIGMAX_TRITON_ON_CPU")
    close(got, generic(sx.softmax, x, where=mask))


def test_cpu_tensors_stay_generic_without_the_opt_in(monkeypatch):
    import sigmax._triton as package
    monkeypatch.delenv("SIGMAX_TRITON_ON_CPU", raising=False)
    assert package.handle("softmax", "__call__", (torch.zeros(2, 3),), {}) is NotImplemented
    assert not package.enabled_for(np.zeros(3))


def test_import_sigmax_imports_neither_torch_nor_triton():
    code = ("import sys, sigmax, sigmax._triton; "
            "assert 'triton' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# sigmoid family
POINTS = torch.tensor([-INF, -200.0, -88.0, -40.0, -20.0, -1.0, -1e-6, -0.0, 0.0, 1e-30,
                       1e-6, 0.5, 1.0, 3.0, 17.0, 40.0, 88.0, 200.0, INF, NAN])
PROBS = torch.tensor([0.0, 1e-38, 1e-20, 1e-6, 0.1, 0.2499, 0.25, 0.3, 0.4999, 0.5, 0.5001,
                      0.7, 0.75, 0.7501, 0.9, 1.0 - 2**-24, 1.0, -0.5, 1.5, NAN])


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "softplus", "logit"])
def test_elementwise(on_triton, name):
    f = getattr(sx, name)
    x = PROBS if name == "logit" else POINTS
    for method in (f, f.derivative):
        got = on_triton(method, x)
        ref = torch.from_numpy(np.asarray(method(x.double().numpy())))
        close(got, ref.float(), rtol=3e-7, atol=0)          # within about 2 ULP of float32
        close(got, generic(method, x), rtol=3e-7, atol=0)
    g = _random(x.shape, seed=10)
    close(on_triton(f.vjp, x, g), generic(f.vjp, x, g), rtol=3e-7, atol=0)
    close(on_triton(f.jvp, x, g), generic(f.jvp, x, g), rtol=3e-7, atol=0)
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    (on_triton(f, xa) * g).nan_to_num(0.0, 0.0, 0.0).sum().backward()
    (generic(f, xb) * g).nan_to_num(0.0, 0.0, 0.0).sum().backward()
    close(xa.grad, xb.grad, rtol=3e-7, atol=0)


def test_elementwise_half_and_odd_sizes(on_triton):
    from sigmax._triton import _elementwise
    x = _random((4099,), seed=11)                   # one more than a block
    close(on_triton(sx.sigmoid, x), generic(sx.sigmoid, x), rtol=3e-7, atol=0)
    assert _elementwise.BLOCK < x.numel()
    for dtype in (torch.bfloat16, torch.float16):
        xh = x[:50].to(dtype)
        got = on_triton(sx.softplus, xh)
        assert got.dtype == dtype
        ref = torch.from_numpy(sx.softplus(xh.double().numpy())).to(dtype)
        close(got, ref, rtol=torch.finfo(dtype).eps, atol=0)        # one rounding


# ---------------------------------------------------------------------------
# cross_entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy(on_triton, block, reduction, smoothing):
    x = _random((9, 37), seed=12)
    t = torch.tensor([0, 36, 5, -100, 7, 8, -100, 1, 2])
    kw = dict(ignore_index=-100, label_smoothing=smoothing, reduction=reduction)
    loss, grad = on_triton(sx.cross_entropy.value_and_grad, x, t, **kw)
    rl, rg = generic(sx.cross_entropy.value_and_grad, x, t, **kw)
    close(loss, rl, rtol=3e-6, atol=1e-7)
    close(grad, rg, rtol=3e-6, atol=1e-7)
    nl, ng = sx.cross_entropy.value_and_grad(x.double().numpy(), t.numpy(), **kw)
    close(loss, torch.as_tensor(nl), rtol=3e-6, atol=1e-7)
    close(grad, torch.from_numpy(ng), rtol=3e-6, atol=1e-7)
    assert (grad[3] == 0).all() and (grad[6] == 0).all()
    xa = x.clone().requires_grad_()
    out = on_triton(sx.cross_entropy, xa, t, **kw)
    close(out, rl, rtol=3e-6, atol=1e-7)
    out.sum().backward()
    close(xa.grad, rg, rtol=3e-6, atol=1e-7)


def test_cross_entropy_special_rows(on_triton, block, monkeypatch):
    from sigmax._triton import _cross_entropy
    calls = []
    real = _cross_entropy._split_rows
    monkeypatch.setattr(_cross_entropy, "_split_rows", lambda *a: calls.append(1) or real(*a))
    wide = torch.cat([SPECIAL] * 8, dim=1)      # 40 classes: three forced blocks and spans
    for smoothing in (0.0, 0.2):
        kw = dict(reduction="none", label_smoothing=smoothing)
        loss, grad = on_triton(sx.cross_entropy.value_and_grad, wide, T_SPECIAL, **kw)
        rl, rg = generic(sx.cross_entropy.value_and_grad, wide, T_SPECIAL, **kw)
        close(loss, rl, rtol=3e-6, atol=0)
        close(grad, rg, rtol=3e-6, atol=1e-7)
        assert (grad[0] == 0).all() and (grad[1] == 0).all()
        assert not torch.isnan(grad[[0, 1, 2, 3, 4, 6]]).any()
    assert len(calls) == (2 if block == "split-rows" else 0)


def test_cross_entropy_all_ignored_and_half(on_triton):
    x = _random((4, 10), seed=13)
    t = torch.full((4,), -1)
    loss, grad = on_triton(sx.cross_entropy.value_and_grad, x, t, ignore_index=-1)
    assert float(loss) == 0.0 and (grad == 0).all()
    for dtype in (torch.bfloat16, torch.float16):
        xh = _random((6, 300), dtype=dtype, seed=14)
        th = torch.arange(6) * 50
        loss, grad = on_triton(sx.cross_entropy.value_and_grad, xh, th)
        assert loss.dtype == dtype and grad.dtype == dtype
        nl, ng = sx.cross_entropy.value_and_grad(xh.double().numpy(), th.numpy())
        close(loss, torch.as_tensor(nl).to(dtype), rtol=torch.finfo(dtype).eps, atol=0)
        close(grad, torch.from_numpy(ng).to(dtype), rtol=torch.finfo(dtype).eps, atol=1e-9)


def test_cross_entropy_backward_twice_is_refused(on_triton):
    x = _random((3, 4), seed=15).requires_grad_()
    loss = on_triton(sx.cross_entropy, x, torch.tensor([0, 1, 2]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second backward"):
        loss.backward()


# ---------------------------------------------------------------------------
# linear_cross_entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_cross_entropy(on_triton, reduction, with_bias):
    n, h, v = 37, 20, 50                      # no tile divides them
    hid = _random((n, h), scale=1.0, seed=16)
    w = _random((v, h), scale=1.0, seed=17)
    b = _random((v,), scale=1.0, seed=18) if with_bias else None
    t = torch.randint(0, v, (n,), generator=torch.Generator().manual_seed(19))
    t[[3, 30]] = -100
    kw = dict(bias=b, ignore_index=-100, label_smoothing=0.1, reduction=reduction,
              chunk_size=16)
    loss, grads = on_triton(sx.linear_cross_entropy.value_and_grad, hid, w, t, **kw)
    rl, rgrads = generic(sx.linear_cross_entropy.value_and_grad, hid, w, t, **kw)
    close(loss, rl, rtol=3e-6, atol=1e-6)
    for a, r in zip(grads, rgrads):
        if r is None:
            assert a is None
        else:
            close(a, r, rtol=1e-5, atol=1e-6)
    # the closed form on materialised float64 logits
    logits = hid.double() @ w.double().T + (0 if b is None else b.double())
    nl = sx.cross_entropy(logits.numpy(), t.numpy(), ignore_index=-100, label_smoothing=0.1,
                          reduction=reduction)
    close(loss, torch.as_tensor(nl), rtol=3e-6, atol=1e-6)
    # autograd, with the default chunk
    leaves = [hid.clone().requires_grad_(), w.clone().requires_grad_()]
    out = on_triton(sx.linear_cross_entropy, *leaves, t, ignore_index=-100,
                    label_smoothing=0.1, reduction=reduction, bias=b)
    out.sum().backward()
    close(leaves[0].grad, rgrads[0], rtol=1e-5, atol=1e-6)
    close(leaves[1].grad, rgrads[1], rtol=1e-5, atol=1e-6)


def test_linear_cross_entropy_splits_and_bf16(on_triton):
    from sigmax._triton import _linear_ce
    hid = _random((20, 16), scale=1.0, seed=20)
    w = _random((70, 16), scale=1.0, seed=21)
    t = torch.arange(20) * 3
    loss1, lse1 = _linear_ce.forward(hid, w, None, t, ignore_index=None, eps=0.0, splits=1)
    loss4, lse4 = _linear_ce.forward(hid, w, None, t, ignore_index=None, eps=0.0, splits=4)
    close(lse4, lse1, rtol=2e-6, atol=0)
    ref = torch.from_numpy(sx.logsumexp((hid.double() @ w.double().T).numpy()))
    close(lse4, ref, rtol=2e-6, atol=0)
    close(loss4, loss1, rtol=2e-6, atol=1e-7)
    hb, wb = hid.bfloat16(), w.bfloat16()
    lb = on_triton(sx.linear_cross_entropy, hb, wb, t)
    assert lb.dtype == torch.bfloat16
    exact = sx.cross_entropy((hb.double() @ wb.double().T).numpy(), t.numpy())
    close(lb, torch.as_tensor(exact).bfloat16(), rtol=2**-8, atol=0)


def test_linear_cross_entropy_all_ignored(on_triton):
    hid = _random((5, 16), seed=22)
    w = _random((17, 16), seed=23)
    t = torch.full((5,), -100)
    loss, (dh, dw, db) = on_triton(sx.linear_cross_entropy.value_and_grad, hid, w, t,
                                   ignore_index=-100)
    assert float(loss) == 0.0 and (dh == 0).all() and (dw == 0).all() and db is None
