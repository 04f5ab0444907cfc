"""linear_cross_entropy.value_and_grad against the naive path that holds the logits.

    python benchmarks/bench_large_output.py [--n 2048 --h 512 --v 131072 --repeat 3]
                                            [--threads 1] [--methods numpy,sigmax,torch]

Each method runs in a fresh subprocess on the same float32 arrays (regenerated
from a seed), so that its peak memory is its own:

* ``sigmax``: ``sx.linear_cross_entropy.value_and_grad(h, W, y, bias=b)``;
* ``numpy``: the naive NumPy path, ``logits = h @ W.T + b`` (N x V held), an
  in-place softmax and its gradient, three BLAS products;
* ``torch``: ``F.cross_entropy(F.linear(h, W, b), y)`` forward and backward on
  the CPU (if torch is installed).

Reported per method: the median wall time of ``--repeat`` runs after one
warm-up; the median CPU time of the process (all its threads: with several
BLAS threads it also counts their spin-waits between calls, so ``--threads 1``
is the clean count of the work); the peak memory beyond inputs and outputs
seen by tracemalloc (NumPy reports its buffers to it; torch's allocator does
not) and by the RSS high-water mark (``VmHWM``, reset once the inputs exist,
minus the RSS then, minus the outputs; Linux only), both also as a percentage
of the logits' size ``4 N V`` bytes.  The sigmax and numpy weight gradients
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

from _memory import peak_rss, reset_peak_rss

MiB = 2.0**20


def make_inputs(n, h, v, seed=0):
    rng = np.random.default_rng(seed)
    hid = rng.standard_normal((n, h), dtype=np.float32)
    w = rng.standard_normal((v, h), dtype=np.float32)
    w *= np.float32(h**-0.5)
    b = rng.standard_normal(v, dtype=np.float32)
    b *= np.float32(0.1)
    y = rng.integers(0, v, n)
    return hid, w, b, y


def naive_numpy(hid, w, b, y):
    """Cross-entropy of ``h @ W.T + b`` and its gradients with the logits held, in place."""
    n = hid.shape[0]
    z = hid @ w.T
    z += b
    m = z.max(axis=1, keepdims=True)
    z -= m
    rows = np.arange(n)
    x_t = z[rows, y].astype(np.float64)  # x_t - max
    np.exp(z, out=z)
    s = z.sum(axis=1, keepdims=True, dtype=np.float64)
    loss = float(np.mean(np.log(s[:, 0]) - x_t))
    z /= s.astype(np.float32)
    z[rows, y] -= 1.0
    z *= np.float32(1.0 / n)
    return loss, (z @ w, z.T @ hid, z.sum(axis=0))


def run_one(method, n, h, v, repeat):
    hid, w, b, y = make_inputs(n, h, v)
    if method == "torch":
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count())))
        th, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (hid, w, b))
        ty = torch.from_numpy(y)

        def call():
            for t in (th, tw, tb):
                t.grad = None
            loss = F.cross_entropy(F.linear(th, tw, tb), ty)
            loss.backward()
            return float(loss), (th.grad, tw.grad, tb.grad)
    elif method == "numpy":
        def call():
            return naive_numpy(hid, w, b, y)
    else:
        import sigmax as sx

        def call():
            return sx.linear_cross_entropy.value_and_grad(hid, w, y, bias=b)
    rss0 = reset_peak_rss()
    out_bytes = hid.nbytes + w.nbytes + b.nbytes
    tracemalloc.start()
    call()  # warm-up; also the tracemalloc peak
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    times, cpu = [], []
    grads = None
    for _ in range(repeat):
        grads = None  # the previous outputs must not count as working memory
        t0, c0 = time.perf_counter(), time.process_time()
        loss, grads = call()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    rss_peak = peak_rss()
    if method == "numpy":
        np.save(os.environ["BENCH_TMP"] + "/numpy_dw.npy", grads[1])
    if method == "sigmax":
        ref = np.load(os.environ["BENCH_TMP"] + "/numpy_dw.npy")
        err = float(np.max(np.abs(grads[1] - ref)) / np.max(np.abs(ref)))
    else:
        err = None
    return dict(method=method, loss=float(loss), time_s=float(np.median(times)),
                cpu_s=float(np.median(cpu)),
                times=[round(t, 3) for t in times],
                traced_extra_mib=(traced_peak - out_bytes) / MiB if method != "torch" else None,
                rss_extra_mib=(rss_peak - rss0 - out_bytes) / MiB, dw_rel_err=err)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--h", type=int, default=512)
    p.add_argument("--v", type=int, default=131072)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--methods", default="numpy,sigmax,torch")
    p.add_argument("--threads", type=int, help="BLAS/torch threads of every method "
                   "(OPENBLAS_NUM_THREADS); 1 makes the CPU times a count of the work")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.n, args.h, args.v, args.repeat)))
        return
    import tempfile

    logits_mib = 4 * args.n * args.v / MiB
    threads = args.threads or os.environ.get("OPENBLAS_NUM_THREADS", "(unset)")
    print(f"N={args.n} H={args.h} V={args.v} float32; logits {logits_mib:.0f} MiB; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_NUM_THREADS={threads}; {os.cpu_count()} CPUs")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, BENCH_TMP=tmp)
        if args.threads:
            env.update(OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
                       BENCH_THREADS=str(args.threads))
        for method in args.methods.split(","):
            if method == "torch":
                try:
                    import torch  # noqa: F401
                except ImportError:
                    continue
            cmd = [sys.executable, __file__, "--n", str(args.n), "--h", str(args.h),
                   "--v", str(args.v), "--repeat", str(args.repeat), "--one", method]
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            results[method] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results.get("numpy", {}).get("time_s")
    cpu_base = results.get("numpy", {}).get("cpu_s")
    print("| method | wall (s), runs | x numpy | CPU (s) | x numpy | tracemalloc extra "
          "| RSS extra | loss |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results.values():
        tm = ("n/a" if r["traced_extra_mib"] is None else
              f"{r['traced_extra_mib']:.0f} MiB ({100 * r['traced_extra_mib'] / logits_mib:.1f}%)")
        rss = f"{r['rss_extra_mib']:.0f} MiB ({100 * r['rss_extra_mib'] / logits_mib:.1f}%)"
        ratio = f"{r['time_s'] / base:.2f}" if base else "-"
        cratio = f"{r['cpu_s'] / cpu_base:.2f}" if cpu_base else "-"
        print(f"| {r['method']} | {r['time_s']:.2f} {r['times']} | {ratio} | {r['cpu_s']:.2f} "
              f"| {cratio} | {tm} | {rss} | {r['loss']:.6f} |")
    if results.get("sigmax", {}).get("dw_rel_err") is not None:
        print(f"max |dW_sigmax - dW_numpy| / max |dW_numpy| = {results['sigmax']['dw_rel_err']:.2e}")


if __name__ == "__main__":
    main()
