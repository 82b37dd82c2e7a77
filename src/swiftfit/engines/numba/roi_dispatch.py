"""The kernels' evaluation with :mod:`.roi2d`'s one-pass small-ROI branch in front.

:func:`evaluate_any` is what :mod:`.kernels` calls for each evaluation: an
overload inlined into the kernel, which takes :func:`.roi2d.evaluate` where
:func:`.roi2d.plan` holds and otherwise :func:`.psf.evaluate` (the general
path, through the PSF operator where the problem has one). Why not a branch
inside :func:`.model.evaluate`: that call itself, which passes the ~30 arrays
of the general evaluation, cost ~0.2 µs per 5×5 evaluation (measured, issue
16), as much as the one-pass evaluation.
"""

from __future__ import annotations

from numba.extending import overload

from .model import _residuals
from .psf import evaluate as _psf_evaluate
from .roi2d import evaluate, plan

__all__ = ["evaluate_any"]


def evaluate_any(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi, ex,
                 R):
    """:func:`.psf.evaluate` (the kernels' evaluation), with :func:`evaluate`
    taken first where :func:`plan` holds and the problem has no PSF operator
    (compiled code only: see :func:`_evaluate_any_typed`).
    """
    raise NotImplementedError("engines.numba.roi_dispatch.evaluate_any runs inside compiled kernels only")


@overload(evaluate_any, inline="always")
def _evaluate_any_typed(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo,
                        jhi, ex, R):
    """Inlined into the kernel (no call that passes the ~30 arrays of the
    general evaluation: that call alone cost ~0.2 µs per 5×5 evaluation,
    measured). A PSF problem (``ex`` with more than 10 tables, see
    :func:`.psf._evaluate_typed`) goes to :func:`.psf.evaluate` unchanged.
    """
    if len(ex) > 10:
        def convolved(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi,
                      ex, R):
            return _psf_evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r,
                                 J, jlo, jhi, ex, R)
        return convolved

    def fused(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi, ex, R):
        # a raster with flat column ranges first, read here: a 1-D problem never pays plan's call
        if grid[0] > 0 and grid[6] <= 0 and ex[7].shape[0] == 0 and plan(kinds, qoff, nq, active, col, q, grid,
                                                                          J.shape[0] - 1, x.size):
            evaluate(kinds, qoff, q, col, x, xy, grid, bs, w, use_w, f, J, jlo, jhi, R, J.shape[0] - 1)
            return _residuals(y, f, bs, w, use_w, r)
        return _psf_evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J,
                             jlo, jhi, ex, R)
    return fused
