"""The kernel's per-iteration calls on its two buffers, by buffer index.

:func:`.kernels._fit_rows` keeps two of each work buffer (the current point's
and the trial's: ``fb``, ``rb``, ``Jb``, ``jlob``, ``jhib``, and the summed
``Gf``, ``gf``) and used to pass their rows ``fb[k]``, ``rb[k]``, … to each
call. ``_fit_rows`` is compiled with numba's reference counting (it inlines
evaluations that allocate), so each such view cost a non-inlined
``NRT_incref`` and ``NRT_decref`` with an atomic each: ~60 ns per
evaluation on multiexp's 5 parameters (issue 16). These shims take the
whole buffers and the index and make the views where reference counting is
off (``_nrt=False``, as :func:`.roi2d.evaluate_gram_at`): the same calls on
the same arrays, so the same values bit for bit.
"""

from __future__ import annotations

from numba import njit

from .gram import reduction as _reduction


@njit(cache=True, error_model="numpy", _nrt=False)
def reduction_at(rb, k, kn):
    """:func:`.gram.reduction` from buffer ``k``'s residuals to ``kn``'s."""
    return _reduction(rb[k], rb[kn])
