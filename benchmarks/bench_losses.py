"""cross_entropy.value_and_grad against PyTorch CPU and plain NumPy.

    python benchmarks/bench_losses.py [--shapes 4096x8192 16384x1000] [--repeat 5]
                                      [--threads 1] [--passes]

A shape is ``NxC`` or ``NxCxHxW...`` (the classes on axis 1, PyTorch's layout, as
in segmentation: ``--shapes 8x21x128x128``; sigmax is called with ``axis=1``).
For each shape (float32 logits, int64 targets, ``reduction='mean'``) each method
runs in a fresh subprocess on the same arrays (regenerated from a seed), so that
its peak memory is its own:

* ``sigmax``: ``sx.cross_entropy.value_and_grad(x, y)``, which takes the compiled
  kernel (``sigmax._kernels.cross_entropy``) at these sizes, with
  ``sx.set_num_threads(--threads)``;
* ``sigmax-plain``: the same call on the plain NumPy path (``plain_only()``), the
  reference the kernel is tested against (one thread);
* ``numpy``: what a user writes in plain NumPy, float32 throughout: max shift,
  ``exp``, row sums, ``log``, ``softmax - onehot`` (in place where it can);
* ``torch``: ``F.cross_entropy(x, y)`` forward and ``backward()`` on the CPU,
  with ``torch.set_num_threads(--threads)``; NumPy's ufuncs use one thread.

``--threads`` sets both libraries' thread counts, so that they are compared at
equal threads.

Reported per method: the median wall time of ``--repeat`` runs after one
warm-up, its ratio to torch, the median CPU time of the process (steadier than
the wall time on a shared machine; above the wall time when torch uses more
than one thread), and the peak memory beyond the inputs and the
gradient: by tracemalloc (NumPy reports its buffers to it; torch's allocator
does not, so torch shows ``-``) and by the RSS high-water mark (``VmHWM``,
reset after the warm-up, minus the RSS once the inputs and one gradient exist), both
also in copies of the logits (``4 N C ...`` bytes).  The gradients of the three
are compared at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np

from _memory import peak_rss, reset_peak_rss, status_bytes

MiB = 2.0**20


def make_inputs(shape, seed=0):
    """float32 logits of ``shape``, the classes on axis 1 (PyTorch's layout), and labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32) * np.float32(3.0)
    y = rng.integers(0, shape[1], shape[:1] + shape[2:])
    return x, y


def plain_numpy(x, y):
    """Cross-entropy and its gradient as plain float32 NumPy, one temporary array."""
    n = x.shape[0]
    rows = np.arange(n)
    m = x.max(axis=1, keepdims=True)
    g = x - m
    x_t = g[rows, y].astype(np.float64)
    np.exp(g, out=g)
    s = g.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0].astype(np.float64)) - x_t))
    g /= s
    g[rows, y] -= 1.0
    g *= np.float32(1.0 / n)
    return loss, g


def run_one(method, shape, repeat, threads, block_elements=None):
    x, y = make_inputs(shape)
    grad_bytes = x.nbytes
    if method == "torch":
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
        tx = torch.from_numpy(x).requires_grad_()
        ty = torch.from_numpy(y)

        def call():
            tx.grad = None
            loss = F.cross_entropy(tx, ty)
            loss.backward()
            return float(loss), tx.grad.numpy()
    elif method in ("sigmax", "sigmax-plain"):
        import sigmax as sx
        import sigmax._losses_common
        from sigmax import _dispatch

        if block_elements:
            sigmax._losses_common._BLOCK_ELEMENTS = block_elements
        sx.set_num_threads(threads)

        def call():
            if method == "sigmax-plain":
                with _dispatch.plain_only():
                    loss, g = sx.cross_entropy.value_and_grad(x, y, axis=1)
            else:
                loss, g = sx.cross_entropy.value_and_grad(x, y, axis=1)
            return float(loss), g
    else:
        def call():
            return plain_numpy(x, y)

    times, cpu = [], []
    loss, g = call()  # warm-up (imports, first-call set-up, thread pools)
    del g
    # The RSS baseline holds the inputs and one gradient-sized buffer (the output).
    hold = np.ones_like(x)
    base = status_bytes("VmRSS")
    del hold
    reset_peak_rss()
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        loss, g = call()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del g
    rss_extra = peak_rss() - base
    trace = None
    if method != "torch":
        tracemalloc.start()
        loss, g = call()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        trace = peak - grad_bytes
    loss, g = call()
    np.save(os.environ["BENCH_GRAD_OUT"], g[:64])
    return dict(method=method, median_s=float(np.median(times)),
                cpu_s=float(np.median(cpu)), loss=loss,
                trace_extra=trace, rss_extra=max(rss_extra, 0), logits_bytes=x.nbytes)


def passes(shape, repeat, threads):
    """CPU ms of the kernel's passes on one shape (``--passes``): where its time goes."""
    import sigmax as sx
    from numba import njit
    from sigmax._kernels import cross_entropy as k

    sx.set_num_threads(threads)
    n, c = shape
    x, y = make_inputs(shape)

    @njit(nogil=True)
    def maxima(x, out):
        acc = np.empty(k._LANES)
        for i in range(x.shape[0]):
            out[i] = k._row_max(x[i], x.shape[1], acc)

    def cpu_ms(f):
        f()
        ts = []
        for _ in range(repeat):
            c0 = time.process_time()
            f()
            ts.append(time.process_time() - c0)
        return 1e3 * float(np.median(ts))

    cols, keep = y.astype(np.int64), np.ones(n, np.uint8)
    per, special, out, m = np.empty(n), np.zeros(n, np.uint8), np.empty_like(x), np.empty(n)
    rows = [
        ("max pass alone", lambda: maxima(x, m)),
        ("max + exp + sum (the loss alone)",
         lambda: k.label_rows(x, cols, keep, None, 0.0, 1.0 / n, c, None, per, special,
                              threads)),
        ("... + gradient write (buffer reused)",
         lambda: k.label_rows(x, cols, keep, None, 0.0, 1.0 / n, c, out, per, special,
                              threads)),
        ("fresh gradient array, first touch", lambda: np.empty_like(x).fill(0)),
        ("sx.cross_entropy.value_and_grad", lambda: sx.cross_entropy.value_and_grad(x, y)),
    ]
    print(f"{n}x{c}, threads={threads}, CPU ms (median of {repeat})")
    for name, f in rows:
        print(f"  {name:40s} {cpu_ms(f):7.1f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=["4096x8192", "16384x1000"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--methods", nargs="+", default=["sigmax", "sigmax-plain", "torch", "numpy"])
    ap.add_argument("--block-elements", type=int, default=None,
                    help="the plain path's block size in float64 elements "
                         "(default: the library's)")
    ap.add_argument("--passes", action="store_true",
                    help="time the kernel's passes instead (where its time goes)")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.passes:
        for shape in args.shapes:
            passes(tuple(map(int, shape.split("x"))), args.repeat, args.threads)
        return
    if args._child:
        method, shape = args._child.split(":")
        print(json.dumps(run_one(method, tuple(map(int, shape.split("x"))), args.repeat,
                                 args.threads,
                                 args.block_elements)))
        return
    print(f"cross_entropy.value_and_grad, float32, reduction='mean', repeat={args.repeat}, "
          f"threads={args.threads} (sigmax and torch), load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    header = ("| shape | method | median ms | / torch | CPU ms | CPU / torch "
              "| extra MiB (tracemalloc) | extra MiB (RSS) | copies of logits (RSS) |")
    print(header)
    print("|" + "---|" * 9)
    for shape in args.shapes:
        rows, grads = [], {}
        for method in args.methods:
            if method == "numpy" and shape.count("x") != 1:
                continue  # the plain NumPy code is written for (N, C)
            if method == "torch":
                try:
                    import torch  # noqa: F401
                except ImportError:
                    print(f"| {shape} | torch | not installed | | | | | | |")
                    continue
            out = f"/tmp/bench_losses_{os.getpid()}_{method}.npy"
            env = dict(os.environ, BENCH_GRAD_OUT=out)
            res = subprocess.run([sys.executable, __file__, "--_child", f"{method}:{shape}",
                                  "--repeat", str(args.repeat), "--threads",
                                  str(args.threads)]
                                 + (["--block-elements", str(args.block_elements)]
                                    if args.block_elements else []),
                                 capture_output=True, text=True,
                                 env=env, check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            grads[method] = np.load(out)
            os.remove(out)
        torch_row = next((r for r in rows if r["method"] == "torch"), None)
        for r in rows:
            ratio = f"{r['median_s'] / torch_row['median_s']:.2f}" if torch_row else "-"
            cpu_ratio = f"{r['cpu_s'] / torch_row['cpu_s']:.2f}" if torch_row else "-"
            tr = "-" if r["trace_extra"] is None else f"{r['trace_extra'] / MiB:.1f}"
            print(f"| {shape} | {r['method']} | {1e3 * r['median_s']:.1f} | {ratio} | "
                  f"{1e3 * r['cpu_s']:.1f} | {cpu_ratio} | {tr} | {r['rss_extra'] / MiB:.1f} | "
                  f"{r['rss_extra'] / r['logits_bytes']:.2f} |")
        ref = grads.get("torch", grads.get("numpy"))
        for m, g in grads.items() if ref is not None else ():
            err = float(np.max(np.abs(g.astype(np.float64) - ref)))
            if err > 1e-6 / ref.shape[0]:
                print(f"  WARNING: {m} gradient differs from the reference by {err:.3g}")
        losses = ", ".join(f"{r['method']} {r['loss']:.7f}" for r in rows)
        print(f"  losses: {losses}")


if __name__ == "__main__":
    main()
