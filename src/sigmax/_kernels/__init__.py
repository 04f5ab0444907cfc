"""Compiled CPU kernels (numba), one module per family.

Nothing outside this package imports numba, and nothing imports this package
but :mod:`sigmax._dispatch`, lazily, on the first call that takes a kernel.

* :mod:`._vmath`: vectorisable exp, log, log1p (range reduction + polynomial);
* :mod:`._common`: the dtype-specialised exp and the vectorised reductions;
* :mod:`.softmax`: softmax, log_softmax, logsumexp and their vjp/jvp;
* :mod:`.elementwise`: sigmoid, log_sigmoid, softplus, logit and their derivatives;
* :mod:`.glue`: the NumPy side (checks, layout, special rows).
"""
