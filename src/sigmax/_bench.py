"""The CPU benchmark: sigmax beside NumPy, SciPy, PyTorch, JAX and the copy floor.

In one process and on the same arrays, it times each implementation of a
function over the shapes of the kernels issue and prints medians and ratios::

    python -m sigmax._bench                      # every shape, float32 and float64
    python benchmarks/bench_kernels.py --quick   # the same, small shapes
    python -m sigmax._bench --passes             # where the kernels' time goes
    python -m sigmax._bench --cpu                # one thread, CPU time (loaded machines)
    sigmax bench --functions softmax --dtypes float32

Implementations (those installed):

* ``sigmax``: the public function (the kernels above the dispatch threshold);
* ``numpy``: the formula written plainly (``e = exp(x - max); e / e.sum()``,
  ``logaddexp(0, x)``, ``log(p / (1 - p))``);

logit's input is ``1 / (1 + exp(-x))`` of the same array (probabilities).
* ``scipy``: ``scipy.special`` (softmax, log_softmax, logsumexp, expit,
  log_expit, logit; it has no softplus);
* ``torch``: PyTorch CPU on the same memory (``torch.from_numpy``), with
  ``torch.set_num_threads`` equal to sigmax's thread count;
* ``jax``: ``jax.jit`` of ``jax.nn``/``jax.scipy`` on a device copy of the array
  (XLA's CPU thread pool is not set per call: it uses every core);
* ``copy``: ``np.copyto`` of the same bytes, the memory-bandwidth floor.

Each time is the median of ``--repeat`` calls after one warm-up call (which
compiles sigmax's kernels and JAX's function).  The ratios are those of the
issue's targets: ``sigmax / torch`` (<= 1), ``scipy / sigmax`` (>= 5) and
``sigmax / copy`` (<= 2 from 2**24 elements).
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import sys
import time

import numpy as np

__all__ = ["SHAPES", "FUNCTIONS", "implementations", "time_call", "run", "format_table",
           "threshold_rows", "pass_profile", "elementwise_profile", "pool_round_trip",
           "fresh_output_cost",
           "set_hugepages", "main"]

#: The shapes of the kernels issue.
SHAPES = [(65536, 10), (8192, 1000), (1024, 32768), (16, 2 ** 21)]
QUICK_SHAPES = [(4096, 10), (512, 1000), (16, 32768)]
FUNCTIONS = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid", "softplus",
             "logit"]
PEERS = ["sigmax", "numpy", "scipy", "torch", "jax", "copy"]


def _optional(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _numpy_impls():
    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def log_softmax(x):
        z = x - x.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    def logsumexp(x):
        m = x.max(axis=-1, keepdims=True)
        return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    def log_sigmoid(x):
        return -np.logaddexp(0.0, -x)

    def softplus(x):
        return np.logaddexp(0.0, x)

    def logit(p):
        return np.log(p / (1.0 - p))

    return dict(softmax=softmax, log_softmax=log_softmax, logsumexp=logsumexp,
                sigmoid=sigmoid, log_sigmoid=log_sigmoid, softplus=softplus, logit=logit)


def _input_for(function, x):
    """The benchmark's input of ``function``: ``x`` itself, probabilities for logit."""
    if function != "logit":
        return x
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


def implementations(function: str, threads: int) -> dict:
    """``{peer: (prepare, call)}``: ``prepare(x)`` makes the peer's input, ``call`` runs."""
    import sigmax as sx

    impls = {"sigmax": (lambda x: x, getattr(sx, function)),
             "numpy": (lambda x: x, _numpy_impls()[function])}
    special = _optional("scipy.special")
    if special is not None:
        fn = {"softmax": lambda x: special.softmax(x, axis=-1),
              "log_softmax": lambda x: special.log_softmax(x, axis=-1),
              "logsumexp": lambda x: special.logsumexp(x, axis=-1),
              "sigmoid": special.expit, "log_sigmoid": special.log_expit,
              "logit": special.logit}.get(function)  # SciPy has no softplus
        if fn is not None:
            impls["scipy"] = (lambda x: x, fn)
    torch = _optional("torch")
    if torch is not None:
        torch.set_num_threads(threads)
        fn = {"softmax": lambda t: torch.softmax(t, -1),
              "log_softmax": lambda t: torch.log_softmax(t, -1),
              "logsumexp": lambda t: torch.logsumexp(t, -1),
              "sigmoid": torch.sigmoid,
              "log_sigmoid": torch.nn.functional.logsigmoid,
              "softplus": torch.nn.functional.softplus, "logit": torch.logit}[function]
        impls["torch"] = (torch.from_numpy, fn)
    jax = _optional("jax")
    if jax is not None:
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp as jlse

        jax.config.update("jax_enable_x64", True)
        fn = jax.jit({"softmax": lambda a: jax.nn.softmax(a, axis=-1),
                      "log_softmax": lambda a: jax.nn.log_softmax(a, axis=-1),
                      "logsumexp": lambda a: jlse(a, axis=-1),
                      "sigmoid": jax.nn.sigmoid, "log_sigmoid": jax.nn.log_sigmoid,
                      "softplus": jax.nn.softplus,
                      "logit": jax.scipy.special.logit}[function])
        impls["jax"] = (jnp.asarray, lambda a: fn(a).block_until_ready())
    impls["copy"] = (lambda x: (x, np.empty_like(x)), lambda xo: np.copyto(xo[1], xo[0]))
    return impls


def time_call(call, arg, repeat: int, budget: float = 2.0, stat=statistics.median,
              clock=time.perf_counter) -> float:
    """The median (or ``stat``) time of ``call(arg)`` over ``repeat`` calls.

    One warm-up call comes first (compilation); slow calls get fewer repeats
    (at least 3) so that one measurement stays within ``budget`` seconds.
    ``clock``: wall time by default; ``time.thread_time`` for the CPU time of
    one thread (``--cpu``), which a loaded machine disturbs much less.
    """
    t0 = clock()
    call(arg)
    first = clock() - t0
    n = max(3, min(repeat, int(budget / max(first, 1e-9))))
    times = []
    for _ in range(n):
        t0 = clock()
        call(arg)
        times.append(clock() - t0)
    return stat(times)


def run(shapes=None, dtypes=("float32", "float64"), functions=None, peers=None,
        repeat: int = 15, threads: int | None = None, progress=None, seed: int = 0,
        clock=time.perf_counter) -> list:
    """Time every (function, shape, dtype, peer); return one dict per measurement.

    Each dict has ``function, shape, dtype, peer, seconds`` and, for
    ``sigmax`` rows, the ratios ``vs_torch = sigmax/torch``,
    ``scipy_speedup = scipy/sigmax`` and ``vs_copy = sigmax/copy``.
    """
    import sigmax as sx

    shapes = SHAPES if shapes is None else shapes
    functions = FUNCTIONS if functions is None else functions
    peers = PEERS if peers is None else peers
    if threads is not None:
        sx.set_num_threads(threads)
    threads = sx.get_num_threads()
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        for dtype in dtypes:
            x = rng.normal(scale=3.0, size=shape).astype(dtype)
            for function in functions:
                impls = implementations(function, threads)
                row = {}
                for peer in peers:
                    if peer not in impls:
                        continue
                    prepare, call = impls[peer]
                    arg = prepare(_input_for(function, x))
                    row[peer] = time_call(call, arg, repeat, clock=clock)
                    del arg
                    out.append(dict(function=function, shape=tuple(shape), dtype=dtype,
                                    peer=peer, seconds=row[peer], threads=threads))
                    if progress is not None:
                        progress(out[-1])
                s = row.get("sigmax")
                if s:
                    rec = next(r for r in out[::-1] if r["peer"] == "sigmax"
                               and r["function"] == function)
                    rec["vs_torch"] = s / row["torch"] if "torch" in row else math.nan
                    rec["scipy_speedup"] = row["scipy"] / s if "scipy" in row else math.nan
                    rec["vs_copy"] = s / row["copy"] if "copy" in row else math.nan
            del x
    return out


def format_table(results, markdown: bool = True) -> str:
    """One line per (function, shape, dtype): medians in ms and the target ratios."""
    keys = []
    for r in results:
        k = (r["function"], r["shape"], r["dtype"])
        if k not in keys:
            keys.append(k)
    peers = [p for p in PEERS if any(r["peer"] == p for r in results)]
    head = (["function", "shape", "dtype"] + [f"{p} ms" for p in peers]
            + ["sigmax/torch", "scipy/sigmax", "sigmax/copy"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in keys:
        cells = [k[0], "x".join(map(str, k[1])), k[2]]
        sig = {}
        for p in peers:
            r = next((r for r in results if (r["function"], r["shape"], r["dtype"]) == k
                      and r["peer"] == p), None)
            cells.append("" if r is None else f"{r['seconds'] * 1e3:.2f}")
            if p == "sigmax" and r is not None:
                sig = r
        for key in ("vs_torch", "scipy_speedup", "vs_copy"):
            v = sig.get(key, math.nan)
            cells.append("" if v != v else f"{v:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    if not markdown:
        lines = [line.replace("|", " ").rstrip() for line in lines if not line.startswith("|-")]
    return "\n".join(lines)


def threshold_rows(sizes=None, families=("softmax", "elementwise"), repeat: int = 200):
    """Plain versus kernel time by size, for choosing the dispatch thresholds.

    Returns ``(family, dtype, n, plain_s, kernel_s)`` rows (the fastest of the
    repeats, which a busy machine disturbs least); softmax is measured on rows
    of 64 classes, the elementwise functions with sigmoid.
    """
    import sigmax as sx
    from sigmax import _dispatch

    sizes = [2 ** k for k in range(8, 19)] if sizes is None else sizes
    rows = []
    for family in families:
        fn = sx.softmax if family == "softmax" else sx.sigmoid
        for dtype in ("float32", "float64") if family == "softmax" else ("float32",):
            for n in sizes:
                shape = (max(1, n // 64), 64) if family == "softmax" else (n,)
                x = np.random.default_rng(0).normal(size=shape).astype(dtype)
                previous = _dispatch.set_threshold(0)
                try:
                    kernel = time_call(fn, x, repeat, budget=0.5, stat=min)
                finally:
                    _dispatch.set_threshold(previous)
                with _dispatch.plain_only():
                    plain = time_call(fn, x, repeat, budget=0.5, stat=min)
                rows.append((family, dtype, x.size, plain, kernel))
    return rows


def _thread_best(fn, repeat):
    """The least thread CPU time of ``fn()`` over ``repeat`` calls (after a warm-up).

    CPU time of the calling thread: time spent descheduled on a loaded
    machine is not counted, so the figures hold under load better than wall time.
    """
    fn()
    best = math.inf
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best


def pass_profile(rows: int = 8192, n: int = 1000, repeat: int = 5):
    """Where a row kernel's time goes: ``(dtype, pass, ns per element)`` rows, one thread.

    Runs the passes of :mod:`sigmax._kernels.softmax` cumulatively over a
    ``(rows, n)`` array (max; + exp; + the sum; + softmax's write) and the
    float32 sigmoid kernel, each the least thread CPU time of ``repeat`` runs;
    a pass's cost is the difference from the previous line.  Also PyTorch's
    softmax and sigmoid on one thread, where installed.
    """
    from numba import njit

    from sigmax._kernels import elementwise as ew
    from sigmax._kernels import softmax as k
    from sigmax._kernels._common import JIT, rest_sum, row_max

    @njit(**dict(JIT, cache=False))
    def drive(x, out, upto):
        rows_, m_ = x.shape
        e = np.empty(m_)
        acc = 0.0
        dummy = np.zeros(1)
        for i in range(rows_):
            src = x[i]
            m = row_max(src, m_)
            if upto >= 1:
                k._fill(x[i, 0], src, m_, m, 1.0, e)
            if upto >= 2:
                s, c = rest_sum(e, m_)
                acc += s + c
            if upto >= 3:
                k._write(x[i, 0], x, dummy, k.SOFTMAX, i, 0, m_, m, 3.0, 0.0, 0.0, 1.0, src,
                         e, out)
        return acc

    torch = _optional("torch")
    out_rows = []
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        x = rng.normal(scale=3.0, size=(rows, n)).astype(dtype)
        o = np.empty_like(x)
        for upto, name in enumerate(("max", "+ exp", "+ sum", "+ write (softmax)")):
            t = _thread_best(lambda: drive(x, o, upto), repeat)
            out_rows.append((dtype, name, t / x.size * 1e9))
        if dtype == "float32":
            flat, fo = x.reshape(-1), o.reshape(-1)
            t = _thread_best(lambda: ew.apply("sigmoid", None, flat, None, fo, 1), repeat)
            out_rows.append((dtype, "sigmoid kernel", t / x.size * 1e9))
        if torch is not None:
            torch.set_num_threads(1)
            tx = torch.from_numpy(x)
            t = _thread_best(lambda: torch.softmax(tx, -1), repeat)
            out_rows.append((dtype, "torch softmax", t / x.size * 1e9))
            if dtype == "float32":
                t = _thread_best(lambda: torch.sigmoid(tx), repeat)
                out_rows.append((dtype, "torch sigmoid", t / x.size * 1e9))
        t = _thread_best(lambda: np.copyto(o, x), repeat)
        out_rows.append((dtype, "np.copyto (preallocated)", t / x.size * 1e9))
    return out_rows


def elementwise_profile(n: int = 655360, repeat: int = 7):
    """``(dtype, function, kernel_ns, call_ns, torch_ns)`` per element, one thread, in cache.

    ``kernel_ns``: the elementwise kernel alone into a preallocated output;
    ``call_ns``: the public call (checks, a fresh output, the kernel);
    ``torch_ns``: PyTorch's function on the same memory (NaN without PyTorch).
    At the default size (the 65536x10 rows) the arrays stay in cache and
    outputs are recycled by malloc, so the figures are the arithmetic's.
    """
    import sigmax as sx
    from sigmax._kernels import elementwise as ew

    previous = sx.get_num_threads()
    sx.set_num_threads(1)
    rows = []
    rng = np.random.default_rng(0)
    try:
        for dtype in ("float32", "float64"):
            x = rng.normal(scale=3.0, size=n).astype(dtype)
            for name in ("sigmoid", "log_sigmoid", "softplus", "logit"):
                arg = _input_for(name, x)
                o = np.empty_like(arg)
                kern = _thread_best(lambda: ew.apply(name, None, arg, None, o, 1), repeat)
                call = _thread_best(lambda: getattr(sx, name)(arg), repeat)
                tt = math.nan
                peer = implementations(name, 1).get("torch")
                if peer is not None:
                    prepare, fn = peer
                    ta = prepare(arg)
                    tt = _thread_best(lambda: fn(ta), repeat) / n * 1e9
                rows.append((dtype, name, kern / n * 1e9, call / n * 1e9, tt))
    finally:
        sx.set_num_threads(previous)
    return rows


def pool_round_trip(repeat: int = 2001):
    """``(one_thread_us, two_threads_us)``: median wall time of the kernels' thread pool
    running a no-op kernel (``sigmax._kernels._pool.run``) on one and on two threads.

    The difference is the cost of handing half of a call to a pool thread and
    waiting for it; on a VM it is dominated by waking the idle vCPU.
    """
    from numba import njit

    from sigmax._kernels import _pool

    @njit(nogil=True, cache=False)
    def noop(a, t0, t1):
        for i in range(t0, t1):
            a[i] = 0.0

    a = np.zeros(16)
    out = []
    for threads in (1, 2):
        _pool.run(noop, (a,), 16, threads)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            _pool.run(noop, (a,), 16, threads)
            times.append(time.perf_counter() - t0)
        out.append(statistics.median(times) * 1e6)
    return tuple(out)


def fresh_output_cost(n: int = 2 ** 25, repeat: int = 5):
    """``(dtype, preallocated_s, fresh_s, minor_faults, sys_s)``: writing a fresh array.

    ``np.empty`` of more than 32 MiB is a new mapping each call (glibc's mmap
    threshold), so every call's first write faults its pages in and the kernel
    zeroes them; ``fill`` of a preallocated array of the same size is the floor.
    """
    import resource

    res = []
    for dtype in ("float32", "float64"):
        o = np.empty(n, dtype)
        o.fill(1)
        pre = min(_wall(lambda: o.fill(0)) for _ in range(repeat))
        fresh, flt, sys_t = math.inf, 0, 0.0
        for _ in range(repeat):
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t = _wall(lambda: np.empty(n, dtype).fill(0))
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            if t < fresh:
                fresh, flt, sys_t = t, r1.ru_minflt - r0.ru_minflt, r1.ru_stime - r0.ru_stime
        res.append((dtype, pre, fresh, flt, sys_t))
    return res


def _wall(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _shape(text):
    try:
        return tuple(int(eval(p, {"__builtins__": {}})) for p in text.split("x"))
    except Exception:
        raise argparse.ArgumentTypeError(f"a shape like 8192x1000 or 16x2**21; "
                                         f"received {text!r}") from None


def set_hugepages(enabled: bool) -> bool:
    """NumPy's ``madvise(MADV_HUGEPAGE)`` on large allocations, on or off; returns the old state.

    With transparent huge pages in "madvise" mode and defragmentation
    allowed, a fresh large output can stall for 100-250 ms in the kernel's
    page compaction (measured here), whichever library fills it.
    """
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - NumPy < 2
        from numpy.core import multiarray
    return bool(multiarray._set_madvise_hugepage(bool(enabled)))


def main(argv=None) -> int:
    """The command line (``sigmax bench``, ``python -m sigmax._bench``); returns the exit code."""
    parser = argparse.ArgumentParser(prog="sigmax bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", type=_shape, metavar="RxN",
                        help="shapes such as 8192x1000 (default: the issue's four)")
    parser.add_argument("--quick", action="store_true", help="small shapes, few repeats")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--functions", nargs="+", default=FUNCTIONS, choices=FUNCTIONS)
    parser.add_argument("--peers", nargs="+", default=PEERS, choices=PEERS)
    parser.add_argument("--repeat", type=int, default=15, help="calls per median")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for sigmax and PyTorch (default: sigmax's default)")
    parser.add_argument("--plain", action="store_true",
                        help="measure the dispatch threshold (plain vs kernel by size)")
    parser.add_argument("--cpu", action="store_true",
                        help="one thread (sigmax and PyTorch), CPU time of the calling "
                             "thread instead of wall time, no JAX (its own thread pool): "
                             "figures that hold on a loaded machine")
    parser.add_argument("--passes", action="store_true",
                        help="profile: ns/element of each kernel pass (one thread, CPU "
                             "time) and the cost of a fresh output array")
    parser.add_argument("--no-hugepages", action="store_true",
                        help="stop NumPy from asking for transparent huge pages on large "
                             "arrays (madvise), for every peer: see docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.no_hugepages:
        set_hugepages(False)
    if args.passes:
        print("| dtype | passes (cumulative) | ns/element, 1 thread |")
        print("|---|---|---|")
        for dt, name, ns in pass_profile():
            print(f"| {dt} | {name} | {ns:.2f} |", flush=True)
        print()
        print("| dtype | function (65536x10, in cache) | kernel ns/element | sigmax call "
              "ns/element | torch ns/element |")
        print("|---|---|---|---|---|")
        for dt, name, kern, call, tt in elementwise_profile():
            print(f"| {dt} | {name} | {kern:.2f} | {call:.2f} | {tt:.2f} |", flush=True)
        one, two = pool_round_trip()
        print()
        print(f"thread pool, a no-op kernel: {one:.1f} us on one thread, {two:.1f} us on two "
              "(median)")
        print()
        print("| dtype | 2**25 elements | preallocated fill ms | fresh np.empty + fill ms "
              "| minor faults | sys ms |")
        print("|---|---|---|---|---|---|")
        for dt, pre, fresh, flt, sys_t in fresh_output_cost():
            print(f"| {dt} | {2 ** 25} | {pre * 1e3:.1f} | {fresh * 1e3:.1f} | {flt} | "
                  f"{sys_t * 1e3:.1f} |", flush=True)
        return 0
    if args.plain:
        print("| family | dtype | elements | plain us (best) | kernel us (best) | plain/kernel |")
        print("|---|---|---|---|---|---|")
        for fam, dt, n, p, k in threshold_rows():
            print(f"| {fam} | {dt} | {n} | {p * 1e6:.1f} | {k * 1e6:.1f} | {p / k:.2f} |",
                  flush=True)
        return 0
    shapes = args.shapes or (QUICK_SHAPES if args.quick else SHAPES)
    repeat = 5 if args.quick else args.repeat

    def progress(r):
        print(f"  {r['function']:<12} {'x'.join(map(str, r['shape'])):<12} {r['dtype']:<8} "
              f"{r['peer']:<7} {r['seconds'] * 1e3:10.3f} ms", file=sys.stderr, flush=True)

    peers, threads, clock = args.peers, args.threads, time.perf_counter
    if args.cpu:
        peers = [p for p in peers if p != "jax"]
        threads, clock = 1, time.thread_time
    results = run(shapes, tuple(args.dtypes), args.functions, peers, repeat,
                  threads, progress, clock=clock)
    what = "thread CPU time" if args.cpu else "wall time"
    print(f"threads: {results[0]['threads'] if results else '?'}; medians in ms ({what})")
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
