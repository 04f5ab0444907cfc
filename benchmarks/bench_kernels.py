"""The CPU kernels beside NumPy, SciPy, PyTorch, JAX and np.copyto (``sigmax bench``).

    python benchmarks/bench_kernels.py            # the issue's shapes, float32 and float64
    python benchmarks/bench_kernels.py --quick
    python benchmarks/bench_kernels.py --plain    # the dispatch threshold
    python benchmarks/bench_kernels.py --passes   # ns/element of each pass (profile)
    python benchmarks/bench_kernels.py --cpu      # one thread, thread CPU time (loaded machine)

Everything is in :mod:`sigmax._bench`; results go to docs/benchmarks.md.
"""

import sys

from sigmax._bench import main

if __name__ == "__main__":
    sys.exit(main())
