"""The NumPy side of the cross-entropy kernels: layout, coefficients, threads, special rows.

:meth:`sigmax._losses.CrossEntropy._evaluate` validates every argument first
(so errors are those of the plain path) and calls :func:`label_loss` or
:func:`prob_loss` where :func:`sigmax._dispatch.use_kernel` says so (NumPy
float32/float64 logits of at least the softmax family's threshold).  These
prepare the per-row coefficients, run the kernel of
:mod:`sigmax._kernels.cross_entropy` over C-contiguous ``(rows, C)`` blocks
(:func:`_drive`), and compute the rows the kernel flagged (``+inf`` or all
``-inf`` maxima, NaN) with the plain path's row passes, which own their rules
(SPEC section 4).  They return the per-example losses (float64, shape
``lead``) and the gradient (``arr``'s shape and layout, in its dtype) or
None, or ``NotImplemented`` where the plain path should do the whole job (no
rows or no classes).

Extra memory beyond the gradient (which is the result): a few float64 arrays
of one value per row and three float64 rows (or one 256 KiB tile) per thread in
the kernel.  Integer targets with the class axis in the middle of a
C-contiguous array are read in place (``label_tiles``); other layouts, and
probability targets with the class axis not last, are moved one block of
:data:`_MOVE_BLOCK` elements (4 or 8 MiB) and its gradient at a time.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dispatch
from .._losses_common import _BLOCK_ELEMENTS, row_blocks
from . import cross_entropy as _k

__all__ = ["label_loss", "prob_loss"]

#: Elements per thread below which a call stays on one thread: waking a pool
#: thread costs about as much as computing this many elements.
_PER_THREAD = 1 << 15


#: Elements per block where the class axis is moved last (each block is copied).
_MOVE_BLOCK = 1 << 20


def _threads(size) -> int:
    """Threads for ``size`` elements (which never changes a result, only the speed)."""
    return max(1, min(_dispatch.get_num_threads(), size // _PER_THREAD))


def _rows_of(moved, lead, idx):
    """The rows ``idx`` (flat indices over ``lead``) of ``moved``, as a (k, C) array."""
    if not lead:
        return moved.reshape(1, -1)
    return moved[np.unravel_index(idx, lead)]


def _drive(arr, ax, out_dtype, want_grad, run_block, plain_rows, run_tiles=None):
    """Run the kernel over the rows of ``arr`` (class axis ``ax``); ``(per, grad)``.

    ``run_block(xb, ob, r0, r1, per, special)`` runs the kernel on the rows
    ``r0:r1`` (C order over the non-class axes), given as the C-contiguous
    ``(r1 - r0, C)`` array ``xb``, writing their gradient into ``ob`` (or
    None).  A C-contiguous, writeable array with the classes last is a single
    block (views of the input and of the gradient); otherwise blocks of
    :data:`_MOVE_BLOCK` elements are copied with the class axis moved last and
    their gradient copied back, unless ``run_tiles(x3, out3, per, special)`` is
    given: then a C-contiguous array with the classes in the middle is read in
    place as ``x3`` of shape ``(outer, C, inner)``.  ``plain_rows(idx, xs)`` computes the flagged
    rows ``idx`` (their logits ``xs``, (k, C)) on the plain path and returns
    ``(per, grad_rows)``.
    """
    c = arr.shape[ax]
    lead = arr.shape[:ax] + arr.shape[ax + 1:]
    rows = math.prod(lead)
    per = np.empty(rows)
    special = np.zeros(rows, dtype=np.uint8)
    grad = np.empty(arr.shape, dtype=out_dtype) if want_grad else None
    moved = np.moveaxis(arr, ax, -1)
    gmoved = np.moveaxis(grad, ax, -1) if want_grad else None
    in_place = arr.flags.c_contiguous and arr.flags.writeable
    if ax == arr.ndim - 1 and in_place:
        run_block(arr.reshape(rows, c), grad.reshape(rows, c) if want_grad else None,
                  0, rows, per, special)
    elif in_place and run_tiles is not None:
        shape3 = (math.prod(arr.shape[:ax]), c, math.prod(arr.shape[ax + 1:]))
        run_tiles(arr.reshape(shape3), grad.reshape(shape3) if want_grad else None, per,
                  special)
    else:
        r0 = 0
        for idx in row_blocks(lead, c, _MOVE_BLOCK):
            xv = moved[idx]
            k = math.prod(xv.shape[:-1])
            ob = np.empty((k, c), dtype=out_dtype) if want_grad else None
            # A copy: numba compiles read-only and strided arrays apart.
            run_block(np.array(xv.reshape(k, c), order="C"), ob, r0, r0 + k, per, special)
            if want_grad:
                gmoved[idx] = ob.reshape(xv.shape)
            r0 += k
    if special.any():
        idx = np.flatnonzero(special)
        p, g = plain_rows(idx, _rows_of(moved, lead, idx))
        per[idx] = p
        if want_grad:
            if lead:
                gmoved[np.unravel_index(idx, lead)] = g
            else:
                gmoved[...] = g[0]
    return per.reshape(lead), grad


def _usable(arr, ax):
    return arr.ndim >= 1 and arr.shape[ax] > 0 and arr.size > 0


def _plain_rows(plain_pass, xs, want_grad):
    """The plain pass over the rows ``xs`` (k, C): ``(per, grad_rows)``.

    Fed in blocks of the plain path's size, so that its float64 temporaries
    stay small even where every row is special.
    """
    k, c = xs.shape
    gb = np.empty((k, c)) if want_grad else None
    step = max(1, _BLOCK_ELEMENTS // c)
    for s in range(0, k, step):
        e = min(k, s + step)
        plain_pass.block(slice(s, e), xs[s:e].astype(np.float64),
                         None if gb is None else gb[s:e])
    return plain_pass.finish(gb), gb


def label_loss(arr, ax, labels, keep, w, eps, scale, want_grad, out_dtype):
    """Cross-entropy of integer targets on the kernel: ``(per, grad)`` or NotImplemented.

    ``labels`` and ``keep`` have the shape of ``arr`` without ``ax`` (checked
    by the caller); ``w`` the float64 class weights or None; ``scale`` the
    reduction's gradient factor.  The kernel forms the coefficients of the
    plain path's ``_LabelPass`` per row, in the same order of operations.
    """
    if not _usable(arr, ax):
        return NotImplemented
    from .._losses import _LabelPass

    c = arr.shape[ax]
    keep1 = keep.reshape(-1)
    labels1 = labels.reshape(-1)
    # Views where the dtypes allow: the per-row coefficients are formed in the
    # kernel, so the extra memory is the per-row losses (8 bytes a row).
    cols = np.ascontiguousarray(labels1, dtype=np.int64)
    keep8 = np.ascontiguousarray(keep1).view(np.uint8)
    w_total = c if w is None else np.sum(w)

    def run_block(xb, ob, r0, r1, per, special):
        _k.label_rows(xb, cols[r0:r1], keep8[r0:r1], w, eps, scale, w_total, ob, per[r0:r1],
                      special[r0:r1], _threads(xb.size))

    def run_tiles(x3, out3, per, special):
        _k.label_tiles(x3, cols, keep8, w, eps, scale, w_total, out3, per, special,
                       _threads(x3.size))

    def plain_rows(idx, xs):
        return _plain_rows(_LabelPass(labels1[idx], keep1[idx], w, eps, scale, c), xs,
                           want_grad)

    return _drive(arr, ax, out_dtype, want_grad, run_block, plain_rows, run_tiles)


def prob_loss(arr, ax, target, w, eps, scale, want_grad, out_dtype):
    """Cross-entropy of probability targets (``arr``'s shape) on the kernel, or NotImplemented."""
    if not _usable(arr, ax):
        return NotImplemented
    from .._losses import _ProbPass

    c = arr.shape[ax]
    q = target
    if q.dtype not in (np.float32, np.float64) or not q.dtype.isnative:
        q = q.astype(np.float64)
    qmoved = np.moveaxis(q, ax, -1)
    qrows = None  # a (rows, C) view of q where it has the layout the kernel reads
    if ax == q.ndim - 1 and q.flags.c_contiguous and q.flags.writeable:
        qrows = q.reshape(-1, c)

    def run_block(xb, ob, r0, r1, per, special):
        if qrows is not None:
            qb = qrows[r0:r1]
        else:
            idx = np.arange(r0, r1)
            qb = np.array(_rows_of(qmoved, qmoved.shape[:-1], idx), order="C")
        _k.prob_rows(xb, qb, w, eps, scale, ob, per[r0:r1], special[r0:r1],
                     _threads(xb.size))

    def plain_rows(idx, xs):
        qs = _rows_of(qmoved, qmoved.shape[:-1], idx)
        return _plain_rows(_ProbPass(qs, w, eps, scale, idx.size), xs, want_grad)

    return _drive(arr, ax, out_dtype, want_grad, run_block, plain_rows)
