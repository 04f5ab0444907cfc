"""Peak-memory probes shared by the benchmark scripts (Linux ``/proc/self``).

The benchmarks measure a call's extra memory two ways: tracemalloc (what NumPy
allocates through Python's allocator hooks) and the resident-set high-water
mark ``VmHWM``, which also sees BLAS, numba and PyTorch allocations.
"""

from __future__ import annotations


def status_bytes(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (the RSS high-water mark) of this process, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset the RSS high-water mark to the current RSS; return the RSS now.

    Linux: writing 5 to ``/proc/self/clear_refs`` resets ``VmHWM``.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_bytes("VmRSS")


def peak_rss() -> int:
    """The RSS high-water mark since the last reset, in bytes."""
    return status_bytes("VmHWM")
