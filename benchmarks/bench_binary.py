"""The binary losses' value_and_grad against PyTorch CPU, in one process.

    python benchmarks/bench_binary.py [--shape 8192x1000] [--repeat 5] [--threads 1]

For float32 and float64 logits with 0/1 targets (30% ones), ``reduction='mean'``:

* ``sigmax``: ``sx.binary_cross_entropy_with_logits.value_and_grad(x, y)`` and
  ``sx.sigmoid_focal_loss.value_and_grad(x, y)`` (the gradients' sigmoids take
  the float64 kernel at these sizes);
* ``sigmax-plain``: the same under ``plain_only()`` (the NumPy double-double
  sigmoid);
* ``torch``: ``F.binary_cross_entropy_with_logits`` and torchvision's focal loss
  formula, forward and ``backward()``, with ``torch.set_num_threads(--threads)``.

Prints the median wall time in ms of ``--repeat`` runs after one warm-up, and the
ratio to PyTorch.  Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import sigmax as sx
from sigmax import _dispatch


def _median(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _torch_losses(torch):
    F = torch.nn.functional

    def bce(x, y):
        F.binary_cross_entropy_with_logits(x, y).backward()

    def focal(x, y, alpha=0.25, gamma=2.0):
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * (1 - p_t) ** gamma
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
        loss.mean().backward()

    return {"binary_cross_entropy_with_logits": bce, "sigmoid_focal_loss": focal}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="8192x1000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.split("x"))
    sx.set_num_threads(args.threads)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is an extra
        torch = None
    else:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"shape {args.shape}, threads {args.threads}; medians in ms (wall time)")
    print("| loss | dtype | sigmax ms | sigmax-plain ms | torch ms | sigmax/torch |")
    print("|---|---|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        x = rng.normal(scale=3.0, size=shape).astype(dtype)
        y = (rng.random(shape) < 0.3).astype(dtype)
        for name in ("binary_cross_entropy_with_logits", "sigmoid_focal_loss"):
            f = getattr(sx, name)
            fast = _median(lambda: f.value_and_grad(x, y), args.repeat)
            with _dispatch.plain_only():
                plain = _median(lambda: f.value_and_grad(x, y), max(1, args.repeat // 2))
            tt = float("nan")
            if torch is not None:
                tl = _torch_losses(torch)[name]

                def run_torch():
                    tx = torch.from_numpy(x).requires_grad_()
                    tl(tx, torch.from_numpy(y))

                tt = _median(run_torch, args.repeat)
            print(f"| {name} | {np.dtype(dtype).name} | {fast * 1e3:.1f} | {plain * 1e3:.1f} | "
                  f"{tt * 1e3:.1f} | {fast / tt:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
