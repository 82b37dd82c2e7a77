"""The default optimizer: compiled variable projection where it wins, else Levenberg–Marquardt.

When no optimizer is named (``m.fit()``, ``m.multifit()``), the request
(:func:`swiftfit.problem.request.make_request`) takes ``"lm"`` through
:func:`solve_default`: a problem the fused kernel lowers
(:mod:`swiftfit.engines.numba.lower`), fitted by least squares without
bounds, and separable (:func:`.varpro.plan`: free columns the model is
affine in) goes to :func:`swiftfit.engines.numba.varpro.fused_varpro` with
``far_only``; any other problem goes to ``"lm"`` unchanged.
``optimizer="lm"`` named explicitly always runs LM; ``optimizer="varpro"``
the batched NumPy variable projection (:mod:`.varpro`).

The rule, per pixel (so results do not depend on chunks), calibrated on the
battery (``benchmarks/battery.py``; the README's table): one evaluation at
the start gives the best linear values there; where at least two linear
values' best values differ from their starts by more than 0.8 of themselves
(a start below 1/5 of it or above 1.8×) *and* the linear solve alone removes at least 90 % of the start's
χ² — several amplitudes started far off, e.g. 20× low — the pixel is searched
by variable projection (bad amplitude starts then cost neither iterations
nor minima) and polished by LM; elsewhere LM fits it from its own start,
exactly as ``optimizer="lm"``, at the cost of that one evaluation (the fused
LM takes fewer evaluations from such starts: variable projection adds its
polishing stage). The constants are :data:`swiftfit.engines.numba.varpro.FAR`,
``FAR_COLUMNS`` and ``FAR_GAIN``.
"""

from __future__ import annotations

import numpy as np

from ..problem.problem import Problem
from ..problem.solution import Solution

__all__ = ["compiled_plan", "solve_default"]

MAX_NONLINEAR = 64  # the compiled kernel has no limit of its own; Q×Q work arrays


def compiled_plan(problem: Problem, loss=None, bounded: bool = False):
    """``(low, vp)`` for the compiled variable projection of ``problem``, or None.

    None where the fused kernel cannot lower the problem (see
    :func:`swiftfit.engines.numba.lower.lower`), with bounds or compiled ties
    (the search has no box and no tie rows), where it is not separable
    (:func:`.varpro.plan`) or not affine in its linear columns at the start.

    Examples
    --------
    >>> low, vp = compiled_plan(m.compile([()]))
    >>> vp.linear.tolist(), vp.nonlinear.tolist()
    ([0, 3], [1, 2])
    """
    from ..engines.numba import lower as _fused

    if not _fused.available():
        return None
    if bounded:  # the compiled search has no box (the fused LM has)
        return None
    low = _fused.lower(problem, loss, bounded)
    if low is None or problem.B == 0:
        return None
    if low["ex"][7].shape[0]:  # compiled ties: their Jacobian rows are the fused LM's alone
        return None
    from .varpro import _affine, plan

    vp = plan(problem, loss, max_nonlinear=MAX_NONLINEAR)
    if vp is None or vp.nonlinear.size == 0:
        return None
    # one pixel: the linearity is the components' (built-ins, or sympy's for an
    # Expression); the check guards a wrong declaration, not the data
    if not _affine(problem.take([0]), vp, np.asarray(problem.p0[:1], dtype=float)):
        return None
    return low, vp


def solve_default(problem: Problem, loss=None, *, bounded: bool = False, **options) -> Solution:
    """``"lm"`` as the default optimizer: compiled variable projection on the
    pixels whose start's linear values are far from their best (the rule of
    the module docstring, decided per pixel), with the same options (``ftol``, ``xtol``, ``max_nfev``,
    ``radius0``), else the registered ``"lm"`` (its losses too). Any other LM option
    (a damping, ``kernel``, ``geodesic``…) keeps the problem on LM.

    Examples
    --------
    ``m`` (a Gaussian and an Offset) starts near its best linear values: LM.

    >>> p = m.compile([()])
    >>> sol = solve_default(p)
    >>> sol.info["path"], bool(sol.status[0] > 0)
    ('lm', True)
    >>> p.p0[:, [0, 3]] *= 0.05  # amplitude and offset started 20× low,
    >>> p.p0[:, [1, 2]] = sol.theta[:, [1, 2]]  # the shape at its best: 99 % of χ² is linear
    >>> far = solve_default(p)
    >>> far.info["path"], bool(abs(far.theta[0, 2] - sol.theta[0, 2]) < 1e-6)
    ('varpro', True)
    """
    from .registry import get

    if set(options) <= {"ftol", "xtol", "max_nfev", "radius0"} and not getattr(problem, "prefer_varpro", False):
        found = compiled_plan(problem, loss, bounded)
        if found is not None:
            from ..engines.numba.varpro import fused_varpro

            low, vp = found
            return fused_varpro(problem, low, vp, ftol=options.get("ftol", 1e-12), xtol=options.get("xtol", 1e-10),
                                max_nfev=options.get("max_nfev"), radius0=options.get("radius0", 1.0), far_only=True)
    return get("lm").solve(problem, loss, bounded=bounded, **options)  # the registered LM (losses too)
