"""Compiled CPU kernels (numba), one module per family.

Nothing outside this package imports numba, and nothing imports this package
but :mod:`sigmax._dispatch`, lazily, on the first call that takes a kernel.

* :mod:`._vmath`: vectorisable exp, log, log1p (range reduction + polynomial);
* :mod:`._ddmath`: the same as double-doubles, for the float64 elementwise kernels;
* :mod:`._common`: the dtype-specialised exp and the vectorised reductions;
* :mod:`.softmax`: softmax, log_softmax, logsumexp and their vjp/jvp;
* :mod:`.elementwise`: sigmoid, log_sigmoid, softplus, logit and their derivatives;
* :mod:`.cross_entropy`: the fused cross-entropy value and gradient;
* :mod:`.glue`, :mod:`.cross_entropy_glue`: the NumPy side (checks, layout,
  special rows).

numba's on-disk cache (``cache=True``) checks only the timestamp of the file
that defines a kernel, not of the files whose inlined functions it compiled
in (``_vmath``, ``_common``): an edit of those would keep serving the old
machine code.  So the cache is keyed here on the sources of the whole
package: when their hash changes, the cached kernels are removed before any
is loaded.
"""

from __future__ import annotations

import hashlib
import os
import pathlib

_HERE = pathlib.Path(__file__).resolve().parent
_STAMP = "sigmax-kernel-sources.sha256"


def invalidate_stale_cache(here: pathlib.Path = _HERE) -> bool:
    """Remove the cached kernels of ``here/__pycache__`` if the sources changed.

    Returns True when cached kernels were removed.  Does nothing where numba
    caches elsewhere (``NUMBA_CACHE_DIR``) or the folder is read-only.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return False
    digest = hashlib.sha256()
    for path in sorted(here.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest = digest.hexdigest()
    cache = here / "__pycache__"
    stamp = cache / _STAMP
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    removed = False
    for stale in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
        try:
            stale.unlink()
            removed = True
        except OSError:
            pass
    try:
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass
    return removed


invalidate_stale_cache()
