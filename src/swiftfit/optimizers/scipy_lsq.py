"""scipy.optimize.least_squares ("trf", "dogbox"), looped over pixels.

Losses: ``"ls"`` and ``"huber"``. Huber's loss goes through least_squares'
own robust loss (``loss="huber"``, ``f_scale=δ``), whose cost
``½ Σ δ² ρ(r²/δ²)`` is exactly :class:`swiftfit.losses.Huber`'s
``Σ h_δ(r)`` on the weighted residuals, so the minimizer is the same as with
a general minimizer on that loss. With Huber the covariance is left to the
model (the loss's inner-point Gauss–Newton covariance).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from ..errors import OptimizerError
from ..problem.problem import Problem, relevance
from ..problem.solution import Solution, Status
from .lm import _covariance
from .registry import OptimizerSpec, register

__all__ = ["solve_least_squares"]

# least_squares status -> our table
_STATUS = {1: 4, 2: 1, 3: 2, 4: 3, 0: -1, -1: -5}


def solve_least_squares(problem: Problem, loss=None, *, method: str = "trf", bounded: bool = False, **options) -> Solution:
    """Fit each pixel with ``scipy.optimize.least_squares(method=method)``.

    Extra ``options`` go to ``least_squares`` (``ftol``, ``xtol``, ``max_nfev``, ...).
    ``loss`` is least squares (None or "ls") or :class:`~swiftfit.losses.Huber`.
    """
    loss_name = "ls" if loss is None else getattr(loss, "name", None)
    if loss_name not in ("ls", "huber"):
        raise OptimizerError(f"optimizer {method!r} supports loss_function in ['huber', 'ls'], got {loss_name!r}")
    if "loss" in options or "f_scale" in options:
        raise OptimizerError("give the robust loss as loss_function='huber' (and huber_delta), not loss=/f_scale=")
    robust = {"loss": "huber", "f_scale": float(loss.delta)} if loss_name == "huber" else {}
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
            res = least_squares(fun, x0, jac=jac, method=method, bounds=(lo, hi), **robust, **options)
        except ValueError as exc:
            if "finite" in str(exc) or "Residuals" in str(exc):
                status[b] = Status.NONFINITE
                continue
            raise
        theta[b] = res.x
        status[b] = _STATUS.get(res.status, -5)
        nfev[b] = res.nfev
        njev[b] = res.njev or 0
        # ls: the chi-square; huber: least_squares' cost is the Huber objective itself
        cost[b] = res.cost if robust else 2 * res.cost
        if B == 1:
            info["scipy_result"] = res
    if robust:
        # the model computes the covariance from the loss (inner points)
        return Solution(theta, status, nfev, cost, None, njev, None, info)
    rel = relevance(problem, theta)
    cov = _covariance(problem, theta, rel)
    singular = np.isnan(cov).all(axis=(1, 2)) & (status > 0) & rel.any(axis=1)
    status[singular] = Status.SINGULAR
    return Solution(theta, status, nfev, cost, cov, njev, None, info)


for _method in ("trf", "dogbox"):
    register(
        OptimizerSpec(
            name=_method,
            solve=lambda problem, loss=None, _m=_method, **kw: solve_least_squares(problem, loss, method=_m, **kw),
            bounds=True,
            gradients=True,
            errors=True,
            losses=frozenset({"ls", "huber"}),
            batched=False,
            description=f"scipy.optimize.least_squares(method={_method!r}); huber through its loss='huber'",
        )
    )
