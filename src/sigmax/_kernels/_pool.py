"""Threads for the kernels: a range of tasks split over a pool of Python threads.

The kernels are compiled with ``nogil=True``, so plain Python threads run them
in parallel.  This keeps numba's ``parallel=True`` (whose parfor pipeline takes
seconds to compile each function, on every fresh install) out of the package,
and makes the thread count ours to set per call: ``sigmax.set_num_threads``,
``SIGMAX_NUM_THREADS`` and threadpoolctl limits (see :mod:`sigmax._dispatch`).

A kernel ``fn(*args, t0, t1)`` does tasks ``t0 <= t < t1``; the split into
contiguous ranges never changes a result (each task writes its own outputs).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["run"]

_pool = None
_lock = threading.Lock()


def _executor():
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 1) - 1),
                                           thread_name_prefix="sigmax-kernel")
    return _pool


def run(fn, args, ntasks: int, threads: int) -> None:
    """Run ``fn(*args, t0, t1)`` over ``range(ntasks)`` on up to ``threads`` threads."""
    threads = max(1, min(threads, ntasks))
    if threads == 1:
        fn(*args, 0, ntasks)
        return
    bounds = [ntasks * k // threads for k in range(threads + 1)]
    # The calling thread takes the first range itself.
    futures = [_executor().submit(fn, *args, bounds[k], bounds[k + 1])
               for k in range(1, threads)]
    fn(*args, bounds[0], bounds[1])
    for f in futures:
        f.result()
