"""scipy.optimize.least_squares ("trf", "dogbox"), looped over pixels."""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from ..fitting.problem import Problem, relevance
from ..fitting.solution import Solution
from .lm import _covariance
from .registry import OptimizerSpec, register

__all__ = ["solve_least_squares"]

# least_squares status -> our table
_STATUS = {1: 4, 2: 1, 3: 2, 4: 3, 0: -1, -1: -5}


def solve_least_squares(problem: Problem, loss=None, *, method: str = "trf", bounded: bool = False, **options) -> Solution:
    """Fit each pixel with ``scipy.optimize.least_squares(method=method)``.

    Extra ``options`` go to ``least_squares`` (``ftol``, ``xtol``, ``max_nfev``, ...).
    """
    B = problem.B
    theta = np.array(problem.p0, dtype=float)
    status = np.zeros(B, dtype=int)
    nfev = np.zeros(B, dtype=int)
    njev = np.zeros(B, dtype=int)
    cost = np.zeros(B)
    lo = problem.lower if bounded else -np.inf
    hi = problem.upper if bounded else np.inf
    info = {}
    for b in range(B):
        one = problem.take([b])

        def fun(t, one=one):
            return one.residuals(t[None, :])[0]

        def jac(t, one=one):
            J = one.jacobian(t[None, :])[0]
            return -(J * one.weights[0][:, None]) if one.weights is not None else -J

        x0 = np.clip(theta[b], lo, hi) if bounded else theta[b]
        if bounded:
            # least_squares needs x0 strictly inside finite bounds
            span = np.where(np.isfinite(hi - lo), (hi - lo) * 1e-10, 0)
            x0 = np.clip(x0, lo + span, hi - span)
        try:
            res = least_squares(fun, x0, jac=jac, method=method, bounds=(lo, hi), **options)
        except ValueError as exc:
            if "finite" in str(exc) or "Residuals" in str(exc):
                status[b] = -2
                continue
            raise
        theta[b] = res.x
        status[b] = _STATUS.get(res.status, -5)
        nfev[b] = res.nfev
        njev[b] = res.njev or 0
        cost[b] = 2 * res.cost
        if B == 1:
            info["scipy_result"] = res
    rel = relevance(problem, theta)
    cov = _covariance(problem, theta, rel)
    singular = np.isnan(cov).all(axis=(1, 2)) & (status > 0) & rel.any(axis=1)
    status[singular] = -3
    return Solution(theta, status, nfev, cost, cov, njev, None, info)


for _method in ("trf", "dogbox"):
    register(
        OptimizerSpec(
            name=_method,
            solve=lambda problem, loss=None, _m=_method, **kw: solve_least_squares(problem, loss, method=_m, **kw),
            bounds=True,
            gradients=True,
            errors=True,
            losses=frozenset({"ls"}),
            batched=False,
            description=f"scipy.optimize.least_squares(method={_method!r})",
        )
    )
