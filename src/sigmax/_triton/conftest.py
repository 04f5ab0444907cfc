"""pytest: skip the doctest collection of the Triton modules where triton or torch is missing.

(``--doctest-modules`` imports every module under ``src/sigmax``; these import
triton at the top.)  Not part of the library: nothing imports this file.
"""

import importlib.util

_HAVE = all(importlib.util.find_spec(name) for name in ("triton", "torch"))
collect_ignore_glob = [] if _HAVE else ["*.py"]
