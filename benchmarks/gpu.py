"""GPU benchmark of sigmax's Triton path (issue 8): one command on a CUDA machine.

    python benchmarks/gpu.py            # the issue's shapes (several minutes on an H100)
    python benchmarks/gpu.py --quick    # one small shape of each kind (a smoke run)
    python benchmarks/gpu.py --check    # correctness on the GPU: Triton vs the generic path

Row functions (softmax, log_softmax, logsumexp, sigmoid, cross_entropy
forward+backward) at (65536, 1024), (8192, 32768), (4096, 131072), (256, 2**20)
in bfloat16 and float32: sigmax against torch eager, torch.compile, and a
device-to-device copy of the same bytes (``y.copy_(x)``), all timed with
``triton.testing.do_bench`` (medians, ms); the ratio to the copy time is the
figure the targets are written in.  Linear cross-entropy forward+backward at
(N, H, V) = (8192, 4096, 131072) and (8192, 2048, 262144) in bfloat16: time,
TFLOP/s (6 N H V FLOPs, the naive count) and the peak extra memory
(``torch.cuda.max_memory_allocated`` above what the inputs hold, with and
without the gradients of ``h`` and ``W`` themselves), for sigmax,
the naive ``F.cross_entropy(h @ W.T, t)`` and, when importable, liger-kernel and
cut-cross-entropy.  Prints markdown tables with the GPU's name.
"""

from __future__ import annotations

import argparse
import sys


def _need_cuda():
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks/gpu.py needs torch with CUDA (pip install 'sigmax[triton]')")
    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py needs a CUDA GPU: torch.cuda.is_available() is False. "
                 "The Triton kernels' correctness is tested without one "
                 "(pytest -m triton tests/test_triton.py, under TRITON_INTERPRET=1).")
    try:
        import triton  # noqa: F401
    except ImportError:
        sys.exit("benchmarks/gpu.py needs triton (pip install 'sigmax[triton]')")
    return torch


ROW_SHAPES = [(65536, 1024), (8192, 32768), (4096, 131072), (256, 2**20)]
LCE_SHAPES = [(8192, 4096, 131072), (8192, 2048, 262144)]


def _bench(fn):
    from triton.testing import do_bench
    return do_bench(fn, warmup=25, rep=100, return_mode="median")


def _compiled(f):
    import torch
    try:
        return torch.compile(f, dynamic=False)
    except Exception:  # pragma: no cover - depends on the machine
        return None


def _time_or_none(fn):
    try:
        return _bench(fn)
    except Exception as exc:  # a failing comparison must not stop the run
        print(f"  (skipped: {type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def _fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def row_table(torch, shapes, dtypes):
    import torch.nn.functional as F

    import sigmax as sx
    cases = {
        "softmax": (lambda x: sx.softmax(x), lambda x: torch.softmax(x, -1)),
        "log_softmax": (lambda x: sx.log_softmax(x), lambda x: torch.log_softmax(x, -1)),
        "logsumexp": (lambda x: sx.logsumexp(x), lambda x: torch.logsumexp(x, -1)),
        "sigmoid": (lambda x: sx.sigmoid(x), torch.sigmoid),
    }
    print("| function | shape | dtype | copy ms | sigmax ms | torch ms | compile ms "
          "| sigmax/copy | torch/copy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dtype in dtypes:
        for shape in shapes:
            x = torch.randn(shape, device="cuda", dtype=dtype)
            y = torch.empty_like(x)
            copy = _bench(lambda: y.copy_(x))
            for name, (ours, theirs) in cases.items():
                comp = _compiled(theirs)
                t_s = _time_or_none(lambda: ours(x))
                t_t = _time_or_none(lambda: theirs(x))
                t_c = _time_or_none(lambda: comp(x)) if comp is not None else None
                print(f"| {name} | {shape} | {str(dtype)[6:]} | {_fmt(copy)} | {_fmt(t_s)} "
                      f"| {_fmt(t_t)} | {_fmt(t_c)} | {_fmt(t_s and t_s / copy, 2)} "
                      f"| {_fmt(t_t and t_t / copy, 2)} |", flush=True)
            # cross_entropy forward + backward
            t = torch.randint(0, shape[1], (shape[0],), device="cuda")
            xg = x.detach().requires_grad_()

            def ce_sigmax():
                sx.cross_entropy(xg, t).backward()

            def ce_torch():
                F.cross_entropy(xg, t).backward()

            comp = _compiled(lambda a, b: F.cross_entropy(a, b))

            def ce_compiled():
                comp(xg, t).backward()

            t_s = _time_or_none(ce_sigmax)
            t_t = _time_or_none(ce_torch)
            t_c = _time_or_none(ce_compiled) if comp is not None else None
            print(f"| cross_entropy f+b | {shape} | {str(dtype)[6:]} | {_fmt(copy)} "
                  f"| {_fmt(t_s)} | {_fmt(t_t)} | {_fmt(t_c)} | {_fmt(t_s and t_s / copy, 2)} "
                  f"| {_fmt(t_t and t_t / copy, 2)} |", flush=True)
            del x, y, xg
            torch.cuda.empty_cache()


def _peak_extra(torch, fn):
    """``(median ms, peak bytes above the memory held before the call)``."""
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    return _bench(fn), peak


def lce_table(torch, shapes):
    import torch.nn.functional as F

    import sigmax as sx
    impls = {"sigmax": lambda h, w, t: sx.linear_cross_entropy(h, w, t),
             "torch naive": lambda h, w, t: F.cross_entropy((h @ w.T).float(), t)}
    try:
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy
        impls["liger-kernel"] = lambda h, w, t: liger_fused_linear_cross_entropy(h, w, t)
    except Exception:
        pass
    try:
        from cut_cross_entropy import linear_cross_entropy as cce
        impls["cut-cross-entropy"] = lambda h, w, t: cce(h, w, t)
    except Exception:
        pass
    print("\n| implementation | N, H, V | ms (f+b) | TFLOP/s | peak extra GiB "
          "| without the grads of h, W GiB |")
    print("|---|---|---|---|---|---|")
    for n, hdim, v in shapes:
        h = (torch.randn(n, hdim, device="cuda", dtype=torch.bfloat16) * 0.5).requires_grad_()
        w = (torch.randn(v, hdim, device="cuda", dtype=torch.bfloat16) * 0.02).requires_grad_()
        t = torch.randint(0, v, (n,), device="cuda")
        flops = 6.0 * n * hdim * v
        grads = (h.numel() + w.numel()) * h.element_size()
        for name, f in impls.items():
            def step():
                h.grad = None
                w.grad = None
                f(h, w, t).backward()
            try:
                ms, peak = _peak_extra(torch, step)
            except Exception as exc:
                print(f"| {name} | {n}, {hdim}, {v} | failed: {type(exc).__name__} | | | |")
                torch.cuda.empty_cache()
                continue
            print(f"| {name} | {n}, {hdim}, {v} | {ms:.2f} | {flops / ms / 1e9:.0f} "
                  f"| {peak / 2**30:.2f} | {(peak - grads) / 2**30:.2f} |", flush=True)
        del h, w, t
        torch.cuda.empty_cache()


CHECK_SHAPES = ((7, 5), (33, 1000), (4, 40000), (3, 200003))


def check(torch, device="cuda", shapes=CHECK_SHAPES):
    """On the GPU: the Triton path against the generic path (float64) on the same tensors."""
    import sigmax as sx
    import sigmax._triton as tri
    real = tri.enabled_for

    def generic(f, *a, **k):
        tri.enabled_for = lambda x: False
        try:
            return f(*a, **k)
        finally:
            tri.enabled_for = real

    inf = float("inf")
    failures = 0
    gen = torch.Generator(device=device).manual_seed(0)
    for dtype, rtol in ((torch.float32, 2e-5), (torch.bfloat16, 1e-2)):
        for shape in shapes:
            x = (torch.randn(shape, device=device, generator=gen) * 4).to(dtype)
            x[0] = -inf
            x[1, :3] = inf
            t = torch.randint(0, shape[1], (shape[0],), device=device, generator=gen)
            g = torch.randn(shape, device=device, generator=gen).to(dtype)
            cases = [("softmax", sx.softmax, (x,)), ("log_softmax", sx.log_softmax, (x,)),
                     ("logsumexp", sx.logsumexp, (x,)), ("softmax.vjp", sx.softmax.vjp, (x, g)),
                     ("log_softmax.vjp", sx.log_softmax.vjp, (x, g)),
                     ("sigmoid", sx.sigmoid, (x,)), ("softplus", sx.softplus, (x,)),
                     ("cross_entropy", lambda a, b: sx.cross_entropy.value_and_grad(
                         a, b, reduction="none")[1], (x, t))]
            for name, f, args in cases:
                got = f(*args).double()
                ref = generic(f, *(a.double() if a.is_floating_point() else a
                                   for a in args)).double()
                # products cancel (g - p * sum g): absolute error relative to the largest value
                scale = ref.nan_to_num(0.0, 0.0, 0.0).abs().max().item()
                ok = torch.allclose(got, ref, rtol=rtol, atol=rtol * max(scale, 1e-30),
                                    equal_nan=True)
                worst = ((got - ref).abs() / ref.abs().clamp_min(1e-30)).nan_to_num(0.0).max()
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {name} {tuple(shape)} {str(dtype)[6:]} "
                      f"max relative error {worst.item():.2e}", flush=True)
    n, h, v = 300, 256, 5000
    hid = torch.randn(n, h, device=device, generator=gen)
    w = torch.randn(v, h, device=device, generator=gen) * 0.05
    y = torch.randint(0, v, (n,), device=device, generator=gen)
    loss, grads = sx.linear_cross_entropy.value_and_grad(hid, w, y)
    rl, rgrads = generic(sx.linear_cross_entropy.value_and_grad, hid.double(), w.double(), y)
    ok = abs(loss.item() - rl.item()) <= 1e-5 * abs(rl.item()) and all(
        torch.allclose(a.double(), b, rtol=1e-4, atol=1e-7) for a, b in zip(grads[:2],
                                                                          rgrads[:2]))
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} linear_cross_entropy value_and_grad {(n, h, v)} float32")
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one small shape of each kind (a smoke run of a minute)")
    parser.add_argument("--check", action="store_true",
                        help="only compare the Triton path with the generic path on the GPU")
    args = parser.parse_args(argv)
    torch = _need_cuda()
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"triton {__import__('triton').__version__}\n")
    if args.check:
        sys.exit(1 if check(torch) else 0)
    if args.quick:
        row_table(torch, [(4096, 4096)], [torch.bfloat16])
        lce_table(torch, [(1024, 1024, 32768)])
    else:
        row_table(torch, ROW_SHAPES, [torch.bfloat16, torch.float32])
        lce_table(torch, LCE_SHAPES)


if __name__ == "__main__":
    main()
