"""CPU time of sigmax's array-API path on PyTorch tensors against torch's own functions.

    python benchmarks/bench_generic.py [--shape 4096x1024] [--repeat 7] [--threads 1]

Prints, per function and dtype, the best thread CPU time (``time.thread_time``)
of ``sigmax.f(tensor)`` (the generic path), of the torch function, and their
ratio; and the load average beside them (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import time


def _best(f, repeat):
    f()
    best = float("inf")
    for _ in range(repeat):
        t = time.thread_time()
        f()
        best = min(best, time.thread_time() - t)
    return best * 1e3


def main(argv=None):
    import torch

    import sigmax as sx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="4096x1024")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    shape = tuple(int(s) for s in args.shape.split("x"))
    gen = torch.Generator().manual_seed(0)
    cases = [
        ("softmax", lambda x: sx.softmax(x), lambda x: torch.softmax(x, -1)),
        ("log_softmax", lambda x: sx.log_softmax(x), lambda x: torch.log_softmax(x, -1)),
        ("logsumexp", lambda x: sx.logsumexp(x), lambda x: torch.logsumexp(x, -1)),
        ("softmax fwd+bwd", None, None),
    ]
    print(f"shape {args.shape}, {args.threads} thread(s), load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| function | dtype | sigmax CPU ms | torch CPU ms | sigmax/torch |")
    print("|---|---|---|---|---|")
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(shape, generator=gen, dtype=dtype) * 4
        for name, ours, theirs in cases:
            if ours is None:
                def ours(x=x):
                    xr = x.detach().requires_grad_()
                    sx.softmax(xr).sum().backward()

                def theirs(x=x):
                    xr = x.detach().requires_grad_()
                    torch.softmax(xr, -1).sum().backward()
            a = _best(lambda: ours(x), args.repeat)
            b = _best(lambda: theirs(x), args.repeat)
            print(f"| {name} | {str(dtype).split('.')[-1]} | {a:.1f} | {b:.1f} | {a / b:.1f} |")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
