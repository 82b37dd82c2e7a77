"""MINUIT (``iminuit``): MIGRAD then HESSE on the loss objective, one pixel at a time.

Each pixel is one :class:`iminuit.Minuit` on the scalar objective of the loss
(``loss.value``) with ``errordef = loss.errordef`` (1 for ls/χ², 0.5 for the
Poisson −ln L), the loss's gradient as ``grad`` (not for a custom loss without
a gradient), starting step sizes from the loss's covariance at the start,
and ``limits`` from the parameters' ``bmin``/``bmax`` when ``bounded``.
MIGRAD minimises, HESSE then computes the covariance, which is returned in the
:class:`~swiftfit.problem.solution.Solution` (unscaled: ``2·errordef·H⁻¹``
with H the numerical Hessian of the objective; for ls ``(JᵀWJ)⁻¹``). Where
HESSE gives none the loss's own covariance is used.

iminuit is optional: it is imported when the optimizer runs
(``pip install swiftfit[iminuit]``).

Options
-------
``tol``
    MIGRAD's tolerance (iminuit's ``Minuit.tol``; default 0.1: stop when the
    estimated distance to the minimum, EDM, is below ``0.002·tol·errordef``).
``strategy``
    0, 1 (default) or 2: MINUIT's speed/accuracy trade-off.
``ncall``
    Cap on function calls of MIGRAD (default: MINUIT's heuristic).
``max_nfev``
    Same as ``ncall`` (the name the least-squares optimizers use).

Status
------
* ``-2`` the final objective or parameters are not finite;
* ``6`` MINUIT's ``FunctionMinimum.is_valid``;
* ``-5`` otherwise, with a message built from MINUIT's flags (call limit
  reached, EDM above its maximum, HESSE failed, covariance not positive
  definite, ...).

``info["minuit"]`` (one pixel) holds MINUIT's validity fields: ``is_valid``,
``has_accurate_covar``, ``has_posdef_covar``, ``has_made_posdef_covar``,
``hesse_failed``, ``has_reached_call_limit``, ``is_above_max_edm``, ``edm``
(also ``fval``, ``nfcn``, ``ngrad``, ``message``);
``info["scipy_result"]`` an :class:`~scipy.optimize.OptimizeResult` of the
same, so the fit's message names the flags.

:func:`hesse_covariance` runs HESSE alone at a given point (``Fit``'s
``covariance_opts={"backend": "minuit"}`` after another backend's fit).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult

from .._optional import require
from ..errors import OptimizerError
from ..losses import CustomLoss, LeastSquares
from ..problem.problem import Problem
from ..problem.solution import Solution, Status
from .registry import OptimizerSpec, register
from .scipy_min import ALL_LOSSES, scalar_functions

__all__ = ["FLAG_FIELDS", "flags_message", "solve_minuit", "hesse_covariance"]

FLAG_FIELDS = (
    "is_valid", "has_accurate_covar", "has_posdef_covar", "has_made_posdef_covar",
    "hesse_failed", "has_reached_call_limit", "is_above_max_edm",
)

_OPTIONS = frozenset({"tol", "strategy", "ncall", "max_nfev"})


def flags_message(fields: dict) -> str:
    """A sentence naming MINUIT's failure flags in ``fields``."""
    parts = []
    if fields.get("has_reached_call_limit"):
        parts.append("call limit reached")
    if fields.get("is_above_max_edm"):
        parts.append(f"EDM {fields.get('edm', float('nan')):.3g} above its maximum")
    if fields.get("hesse_failed"):
        parts.append("HESSE failed")
    if fields.get("has_made_posdef_covar"):
        parts.append("covariance was forced positive definite")
    elif not fields.get("has_posdef_covar", True):
        parts.append("covariance not positive definite")
    if not fields.get("has_accurate_covar", True) and not parts:
        parts.append("covariance not accurate")
    if fields.get("is_valid"):
        return "MINUIT: valid minimum"
    return "MINUIT: invalid minimum" + (f" ({', '.join(parts)})" if parts else "")


def _minuit_fields(fmin, at_limit: bool = False) -> dict:
    """MINUIT's flags after HESSE; ``at_limit``: MIGRAD stopped at its call
    limit (HESSE's update of the minimum forgets that, but the minimum stays
    unconverged, so it stays invalid).
    """
    fields = {k: bool(getattr(fmin, k)) for k in FLAG_FIELDS}
    if at_limit:
        fields["has_reached_call_limit"] = True
        fields["is_valid"] = False
    fields["edm"] = float(fmin.edm)
    fields["fval"] = float(fmin.fval)
    fields["nfcn"] = int(fmin.nfcn)
    fields["ngrad"] = int(getattr(fmin, "ngrad", 0) or 0)
    fields["message"] = flags_message(fields)
    return fields


def _start_steps(loss, one: Problem, x0: np.ndarray) -> np.ndarray:
    """Initial step sizes: the loss's standard deviations at the start where
    finite and positive, else 1 % of the value (0.01 for a zero value).
    """
    fallback = np.where(x0 != 0, 0.01 * np.abs(x0), 0.01)
    try:
        with np.errstate(all="ignore"):
            cov = np.asarray(loss.covariance(one, x0[None, :]), dtype=float)[0]
        std = np.sqrt(np.diag(cov))
    except Exception:  # noqa: BLE001 - any trouble: use the fallback
        return fallback
    return np.where(np.isfinite(std) & (std > 0), std, fallback)


def solve_minuit(problem: Problem, loss=None, *, bounded: bool = False, **options) -> Solution:
    """Fit each pixel with iminuit's MIGRAD, then HESSE.

    Parameters
    ----------
    problem : Problem
    loss : Loss, optional
        Default least squares; its ``errordef`` is MINUIT's.
    bounded : bool
        Give ``problem.lower``/``upper`` to MINUIT as ``limits``; starting
        values are moved inside.
    tol, strategy, ncall (or max_nfev)
        MINUIT's options (module docstring).

    Returns
    -------
    Solution
        With HESSE's covariance, ``nfev`` MINUIT's function calls, ``njev``
        its gradient calls.
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise OptimizerError(f"optimizer 'minuit' accepts options {sorted(_OPTIONS)}; got {unknown}")
    if "ncall" in options and "max_nfev" in options:
        raise OptimizerError("give `ncall` or `max_nfev` to optimizer 'minuit', not both")
    ncall = options.get("ncall", options.get("max_nfev"))
    tol = options.get("tol")
    strategy = options.get("strategy")
    iminuit = require("iminuit", extra="iminuit")
    loss = LeastSquares() if loss is None else loss
    B, P = problem.B, problem.P
    theta = np.array(problem.p0, dtype=float)
    status = np.zeros(B, dtype=int)
    nfev = np.zeros(B, dtype=int)
    njev = np.zeros(B, dtype=int)
    objective = np.full(B, np.nan)
    info: dict = {}
    if P == 0:
        with np.errstate(all="ignore"):
            objective = np.asarray(loss.value(problem, theta), dtype=float)
        status[:] = np.where(np.isfinite(objective), Status.CLOSED_FORM, Status.NONFINITE)
        return Solution(theta, status, nfev, objective, None, njev, None, info)
    covariance = np.full((B, P, P), np.nan)
    use_grad = not (isinstance(loss, CustomLoss) and loss.grad is None)
    names = list(problem.names) if len(set(problem.names)) == P else None
    lo, hi = np.asarray(problem.lower, float), np.asarray(problem.upper, float)
    for b in range(B):
        one = problem.take([b])
        fun, jac, _ = scalar_functions(loss, one)
        x0 = theta[b].copy()
        if bounded:
            x0 = np.clip(x0, lo, hi)
        mn = iminuit.Minuit(fun, x0, grad=jac if use_grad else None, name=names)
        mn.errordef = float(loss.errordef)
        mn.errors = _start_steps(loss, one, x0)
        if bounded:
            mn.limits = [(float(a), float(c)) for a, c in zip(lo, hi)]
        if tol is not None:
            mn.tol = tol
        if strategy is not None:
            mn.strategy = strategy
        with np.errstate(all="ignore"):
            mn.migrad(ncall=ncall)
            at_limit = bool(mn.fmin.has_reached_call_limit)
            mn.hesse()
        fields = _minuit_fields(mn.fmin, at_limit)
        x = np.array(mn.values, dtype=float)
        f = float(mn.fmin.fval)
        theta[b] = x
        objective[b] = f
        nfev[b] = fields["nfcn"]
        njev[b] = fields["ngrad"]
        if not (np.isfinite(x).all() and np.isfinite(f)):
            status[b] = Status.NONFINITE
        else:
            status[b] = Status.OPTIMIZER_SUCCESS if fields["is_valid"] else Status.OPTIMIZER_FAILURE
        cov = None if mn.covariance is None else np.array(mn.covariance, dtype=float)
        if cov is None or not np.isfinite(cov).all():
            with np.errstate(all="ignore"):
                cov = np.asarray(loss.covariance(one, x[None, :]), dtype=float)[0]
        covariance[b] = cov
        if B == 1:
            info["minuit"] = fields
            info["scipy_result"] = OptimizeResult(
                x=x.copy(), fun=f, success=status[b] > 0, status=int(status[b]),
                message=fields["message"], nfev=int(nfev[b]), njev=int(njev[b]),
                minuit=fields,
            )
    return Solution(theta, status, nfev, objective, covariance, njev, None, info)


register(
    OptimizerSpec(
        name="minuit",
        solve=solve_minuit,
        bounds=True,
        gradients=True,
        errors=True,
        losses=ALL_LOSSES,
        batched=False,
        description="iminuit's MIGRAD then HESSE on the loss objective, one pixel at a time",
    )
)


def hesse_covariance(problem, loss, theta) -> tuple[np.ndarray | None, bool, str]:
    """MINUIT's HESSE covariance of the loss objective at ``theta``.

    Returns ``(matrix, success, message)``.
    """
    iminuit = require("iminuit", extra="iminuit")
    fun, jac, _ = scalar_functions(loss, problem)
    mn = iminuit.Minuit(fun, np.asarray(theta, dtype=float), grad=jac)
    mn.errordef = float(loss.errordef)
    with np.errstate(all="ignore"):
        mn.hesse()
    cov = None if mn.covariance is None else np.array(mn.covariance, dtype=float)
    fmin = mn.fmin
    ok = cov is not None and bool(np.isfinite(cov).all()) and (fmin is None or bool(fmin.has_posdef_covar))
    return cov, bool(ok), "Hesse terminated successfully." if ok else "Hesse failed."
