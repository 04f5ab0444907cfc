"""The decision "compiled kernel or plain NumPy", and the kernels' thread count.

NumPy arrays of float32 or float64 with at least :func:`threshold` elements
take the numba kernels of :mod:`sigmax._kernels`; everything else (small
arrays, other dtypes, lists, scalars) takes the plain NumPy path, which is
always there and which the kernels are tested against.  Both paths apply the
same argument checks (:mod:`sigmax._policy`) and the same numerical policy.

numba is imported only here, lazily, when a first call takes a kernel, so
``import sigmax`` stays fast.  The kernels compile on first use and are cached
on disk (``__pycache__`` of the kernel package, or ``NUMBA_CACHE_DIR``).

Threads: ``sigmax.set_num_threads(n)`` (or the environment variable
``SIGMAX_NUM_THREADS``) caps the threads a kernel uses; so does a
``threadpoolctl.threadpool_limits`` in force (its OpenMP and BLAS limits),
and numba's own ``NUMBA_NUM_THREADS``.

Environment: ``SIGMAX_KERNELS=0`` turns the kernels off (everything plain).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import numpy as np

from . import _policy

__all__ = ["use_kernel", "kernels", "threshold", "set_threshold", "plain_only",
           "set_num_threads", "get_num_threads"]

#: Elements above which the kernels win (measured with ``python -m sigmax._bench
#: --threshold``, docs/benchmarks.md): below, NumPy's per-call overhead is
#: smaller than the kernels' (thread start, reshapes).
THRESHOLDS = {"softmax": 4096, "elementwise": 4096}

#: The elementwise functions that have a kernel (by their public name).
ELEMENTWISE_KERNELS = frozenset({"sigmoid", "log_sigmoid", "softplus", "logit"})

#: The dtypes each family's kernels take (float64 elementwise functions in
#: double-double arithmetic, see sigmax._kernels.elementwise).
KERNEL_DTYPES = {"softmax": (np.dtype(np.float32), np.dtype(np.float64)),
                 "elementwise": (np.dtype(np.float32), np.dtype(np.float64))}
_local = threading.local()
_override = None          # a threshold forced by tests (set_threshold)
_threads = None           # set_num_threads
_glue = None              # the imported kernel glue, or the import error
_controller = None        # threadpoolctl controller, built once when threadpoolctl is in use


def threshold(family: str) -> int:
    """The number of elements from which ``family`` takes the kernels."""
    return THRESHOLDS[family] if _override is None else _override


def set_threshold(n):
    """Force the threshold of every family (``0``: always the kernels); ``None`` resets.

    Used by the tests to run the same suite on both paths; returns the previous value.
    """
    global _override
    previous, _override = _override, (None if n is None else int(n))
    return previous


@contextlib.contextmanager
def plain_only():
    """Within this block (this thread only), every call takes the plain path."""
    depth = getattr(_local, "plain", 0)
    _local.plain = depth + 1
    try:
        yield
    finally:
        _local.plain = depth


def _enabled() -> bool:
    return os.environ.get("SIGMAX_KERNELS", "1") not in ("0", "off", "false", "no")


def use_kernel(x, family: str) -> bool:
    """True where ``x`` should take the compiled kernels of ``family``."""
    if not isinstance(x, np.ndarray) or x.dtype not in KERNEL_DTYPES[family]:
        return False
    if x.size < threshold(family) or getattr(_local, "plain", 0) or not _enabled():
        return False
    return kernels() is not None


def kernels():
    """The kernel glue module (imports numba on the first call), or None without numba."""
    global _glue
    if _glue is None:
        try:
            from ._kernels import glue
        except ImportError as exc:  # numba missing or broken: the plain path serves
            _glue = exc
        else:
            _glue = glue
    return None if isinstance(_glue, ImportError) else _glue


# ---------------------------------------------------------------------------
# Threads.

def set_num_threads(n):
    r"""Set the number of threads sigmax's CPU kernels may use (``None``: the default).

    The default is ``SIGMAX_NUM_THREADS`` if set, else every core numba sees.
    A ``threadpoolctl.threadpool_limits`` block in force lowers it further.

    Parameters
    ----------
    n : int or None
        A positive number of threads, or None to go back to the default.

    Returns
    -------
    int
        The previous setting (the effective default where none was set).

    Examples
    --------
    >>> import sigmax as sx
    >>> previous = sx.set_num_threads(1)
    >>> sx.get_num_threads()
    1
    >>> _ = sx.set_num_threads(None)
    """
    global _threads
    if n is not None:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"set_num_threads: n must be a positive int or None; "
                            f"received {_policy.describe(n)}")
        if n < 1:
            raise _policy.ArgumentError(f"set_num_threads: n must be a positive int or None; "
                                        f"received {n!r}")
        n = int(n)
    previous = get_num_threads()
    _threads = n
    return previous


def _default_threads() -> int:
    env = os.environ.get("SIGMAX_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return os.cpu_count() or 1


def _pool_limit():
    """The lowest thread limit of the OpenMP/BLAS pools threadpoolctl controls, or None."""
    global _controller
    if "threadpoolctl" not in sys.modules:
        return None
    try:
        if _controller is None:
            _controller = sys.modules["threadpoolctl"].ThreadpoolController()
        limits = [lib.num_threads for lib in _controller.lib_controllers]
    except Exception:  # a foreign library's controller failing must not break a call
        return None
    limits = [n for n in limits if isinstance(n, int) and n > 0]
    return min(limits) if limits else None


def get_num_threads() -> int:
    """The number of threads sigmax's CPU kernels use now.

    The setting of :func:`set_num_threads` (else ``SIGMAX_NUM_THREADS``, else
    every core), lowered to the limit of a ``threadpoolctl.threadpool_limits``
    block in force.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> import sigmax as sx
    >>> previous = sx.set_num_threads(2)
    >>> sx.get_num_threads() <= 2
    True
    >>> _ = sx.set_num_threads(None)
    """
    n = _threads if _threads is not None else _default_threads()
    limit = _pool_limit()
    if limit is not None:
        n = min(n, limit)
    return max(1, n)
