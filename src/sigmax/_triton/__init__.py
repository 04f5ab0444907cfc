"""Triton kernels for PyTorch CUDA tensors (extra ``sigmax[triton]``).

The dispatch (:func:`sigmax._generic._handle`) calls :func:`handle` for every
call on foreign arrays.  :func:`handle` answers ``NotImplemented`` -- and the
generic array-API path computes the call -- unless

* the first foreign array is a ``torch.Tensor`` on a CUDA device (or on the
  CPU with ``SIGMAX_TRITON_ON_CPU=1``, a testing aid meant to be used with
  ``TRITON_INTERPRET=1``: Triton's interpreter then runs the kernels in NumPy),
* ``triton`` imports,
* the function, method and arguments are among those the kernels cover:
  float32 / float16 / bfloat16 tensors (float64 keeps the generic path's
  float64 arithmetic), one reduced axis, ``where=None``, ``temperature=1``,
  ``b=None`` and ``return_sign=False`` for logsumexp, integer targets without
  ``weight`` for cross_entropy, non-empty inputs.  Products (``derivative``,
  ``vjp``, ``jvp``) of tensors that require grad stay on the generic path,
  which makes them differentiable; the values are differentiable here through
  :mod:`._autograd`.

Importing this package does not import torch or triton: both are imported on
the first call that wants them.  Bad arguments are never diagnosed here: any
doubt answers ``NotImplemented`` and the generic path raises its errors.
"""

from __future__ import annotations

import os
import sys

__all__ = ["handle", "usable", "enabled_for"]

_STATE = {}


def usable() -> bool:
    """Whether triton and the kernel modules import (cached)."""
    if "ok" not in _STATE:
        try:
            from . import _autograd  # noqa: F401  (imports triton and the kernels)
            _STATE["ok"] = True
        except Exception as exc:  # triton missing or broken: the generic path
            _STATE["ok"] = False
            _STATE["error"] = exc
    return _STATE["ok"]


def enabled_for(x) -> bool:
    """Whether ``x`` is a tensor the Triton path takes (CUDA, or CPU when opted in)."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(x, torch.Tensor):
        return False
    if x.is_cuda:
        return True
    return x.device.type == "cpu" and os.environ.get("SIGMAX_TRITON_ON_CPU") == "1"


def handle(name, method, args, kwargs):
    """Compute ``name.method(*args, **kwargs)`` with the Triton kernels, or NotImplemented."""
    torch = sys.modules.get("torch")
    if torch is None:
        return NotImplemented
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if not tensors or not enabled_for(tensors[0]) or not usable():
        return NotImplemented
    from ._dispatch import HANDLERS
    fn = HANDLERS.get((name, method))
    if fn is None:
        return NotImplemented
    return fn(*args, **kwargs)
