"""The default optimizer: compiled variable projection where it wins, else Levenberg–Marquardt.

When no optimizer is named (``m.fit()``, ``m.multifit()``), the request
(:func:`swiftfit.problem.request.make_request`) takes ``"lm"`` through
:func:`solve_default`: a problem the fused kernel lowers (:mod:`swiftfit.engines.numba.lower`),
fitted by least squares without bounds, that is separable
(:func:`.varpro.plan`: free columns the model is affine in) *and* that
:func:`wins` picks, is searched by the compiled variable projection
(:mod:`swiftfit.engines.numba.varpro`) and finished by the fused LM from
there; any other problem goes to ``"lm"`` unchanged. ``optimizer="lm"``
named explicitly always runs LM; ``optimizer="varpro"`` the batched NumPy
variable projection (:mod:`.varpro`).

The rule (:func:`wins`), from the battery (``benchmarks/battery.py``, the
README's table): variable projection pays where the linear columns carry
the fit's difficulty — several overlapping peaks whose amplitudes must be
found together with their positions and widths — and costs where the model
is cheap to iterate in full (one accepted step takes two evaluations here,
one in LM). It is taken when the model has at least three linear columns
and at least twice as many non-linear ones as it has components... see
:func:`wins` for the measured criterion.
"""

from __future__ import annotations

import numpy as np

from ..problem.problem import Problem
from ..problem.solution import Solution

__all__ = ["compiled_plan", "wins", "solve_default"]

MAX_NONLINEAR = 64  # the compiled kernel has no limit of its own; Q×Q work arrays


def compiled_plan(problem: Problem, loss=None, bounded: bool = False):
    """``(low, vp)`` for the compiled variable projection of ``problem``, or None.

    None where the fused kernel cannot lower the problem (see
    :func:`swiftfit.engines.numba.lower.lower`), where it is not separable
    (:func:`.varpro.plan`) or not affine in its linear columns at the start.

    Examples
    --------
    >>> low, vp = compiled_plan(m._problem([()]))
    >>> vp.linear.tolist(), vp.nonlinear.tolist()
    ([0, 3], [1, 2])
    """
    from ..engines.numba import lower as _fused

    if not _fused.available():
        return None
    low = _fused.lower(problem, loss, bounded)
    if low is None or problem.B == 0:
        return None
    from .varpro import _affine, plan

    vp = plan(problem, loss, max_nonlinear=MAX_NONLINEAR)
    if vp is None or vp.nonlinear.size == 0:
        return None
    if not _affine(problem, vp, np.asarray(problem.p0, dtype=float)):
        return None
    return low, vp


def wins(problem: Problem, vp) -> bool:
    """Whether the compiled variable projection is the default for ``problem``
    (measured rule, see the module docstring and the README)."""
    return vp.linear.size >= 3


def solve_default(problem: Problem, loss=None, *, bounded: bool = False, **options) -> Solution:
    """``"lm"`` as the default optimizer: compiled variable projection where
    :func:`wins`, with the same options (``ftol``, ``xtol``, ``max_nfev``,
    ``radius0``), else :func:`.lm.levenberg_marquardt`. Any other LM option
    (a damping, ``kernel``, ``geodesic``…) keeps the problem on LM.
    """
    from .lm import levenberg_marquardt

    if set(options) <= {"ftol", "xtol", "max_nfev", "radius0"} and not getattr(problem, "prefer_varpro", False):
        found = compiled_plan(problem, loss, bounded)
        if found is not None and wins(problem, found[1]):
            from ..engines.numba.varpro import fused_varpro

            low, vp = found
            return fused_varpro(problem, low, vp, ftol=options.get("ftol", 1e-12), xtol=options.get("xtol", 1e-10),
                                max_nfev=options.get("max_nfev"), radius0=options.get("radius0", 1.0))
    return levenberg_marquardt(problem, loss, bounded=bounded, **options)
