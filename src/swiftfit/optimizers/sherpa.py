"""Backends of ``Fit`` that minimise the scalar objective directly.

``solve_scipy``: :func:`scipy.optimize.minimize` (Gammapy's "scipy" backend);
``solve_sherpa``: Sherpa's optimisers (Gammapy's "sherpa" backend);
``hesse_covariance``: MINUIT's HESSE at a given point (``covariance_opts``
``backend="minuit"``).

Each solver returns a :class:`~swiftfit.problem.solution.Solution` for the
one-pixel problem of a ``Fit``, with ``nfev`` the backend's own count of
objective evaluations and ``info["scipy_result"]`` carrying its message.

The sherpa adapter follows Sherpa's documented optimiser API
(``sherpa.optmethods.NelderMead/LevMar/MonCar/GridSearch``, ``config`` dict,
``fit(statfunc, pars, parmins, parmaxes)`` returning
``(success, x, fval, message, {"nfev": ...})``). Sherpa has no wheel for this
environment, so the adapter is tested only against a fake
``sherpa.optmethods`` module, never against the real package.

Examples
--------
>>> sol = solve_scipy(problem, loss, bounded=True, method="L-BFGS-B")   # doctest: +SKIP
"""

from __future__ import annotations

import importlib

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from .._optional import require
from ..errors import OptimizerError
from ..problem.solution import Solution, Status
from .scipy_min import scalar_functions

__all__ = ["solve_scipy", "solve_sherpa", "hesse_covariance", "SHERPA_METHODS", "SCIPY_GRADIENT_METHODS"]

SCIPY_GRADIENT_METHODS = frozenset({"L-BFGS-B", "BFGS", "CG", "TNC", "SLSQP", "Newton-CG", "trust-constr"})
_SCIPY_BOUNDED = frozenset({"L-BFGS-B", "TNC", "SLSQP", "Powell", "Nelder-Mead", "trust-constr", "COBYLA"})
SHERPA_METHODS = {"simplex": "NelderMead", "levmar": "LevMar", "moncar": "MonCar", "gridsearch": "GridSearch"}
_SHERPA_HUGE = 3.4e38  # sherpa's ``hugeval``: its stand-in for an infinite bound


def _solution(problem, x, fun, success, message, nfev, njev=0, covariance=None, info_extra=None) -> Solution:
    x = np.asarray(x, dtype=float)
    ok = bool(success) and np.isfinite(x).all() and np.isfinite(fun)
    status = Status.OPTIMIZER_SUCCESS if ok else (Status.NONFINITE if not np.isfinite(fun) else Status.OPTIMIZER_FAILURE)
    res = OptimizeResult(x=x.copy(), fun=float(fun), success=ok, status=status, message=str(message),
                         nfev=int(nfev), njev=int(njev))
    info = {"scipy_result": res, **(info_extra or {})}
    return Solution(x[None, :], np.array([int(status)]), np.array([int(nfev)]), np.array([float(fun)]),
                    covariance, np.array([int(njev)]), None, info)


def solve_scipy(problem, loss, *, bounded: bool = False, method: str = "L-BFGS-B", **options) -> Solution:
    """Minimise the loss objective with :func:`scipy.optimize.minimize`.

    ``options`` go to ``minimize`` (``options=``, ``tol=``); the loss's
    gradient is passed as ``jac`` to the gradient methods. ``nfev`` is
    scipy's count of objective calls.
    """
    fun, jac, _ = scalar_functions(loss, problem)
    x0 = np.array(problem.p0[0], dtype=float)
    kwargs = dict(options)
    if bounded and problem.bounded:
        if method not in _SCIPY_BOUNDED:
            raise OptimizerError(
                f"scipy method {method!r} ignores bounds; use one of {sorted(_SCIPY_BOUNDED)} for a "
                "model with bmin/bmax"
            )
        lo, hi = np.asarray(problem.lower, float), np.asarray(problem.upper, float)
        x0 = np.clip(x0, lo, hi)
        kwargs["bounds"] = [(a if np.isfinite(a) else None, b if np.isfinite(b) else None) for a, b in zip(lo, hi)]
    if method in SCIPY_GRADIENT_METHODS:
        kwargs["jac"] = jac
    with np.errstate(all="ignore"):
        try:
            res = minimize(fun, x0, method=method, **kwargs)
        except (TypeError, ValueError) as exc:
            raise OptimizerError(f"scipy.optimize.minimize(method={method!r}) refused the options: {exc}") from exc
    return _solution(problem, res.x, res.fun, res.success, res.message, res.nfev, getattr(res, "njev", 0) or 0)


def _sherpa_optmethods():
    try:
        return importlib.import_module("sherpa.optmethods")
    except ImportError as exc:
        raise ImportError(
            "Fit(backend='sherpa') needs the sherpa package: `pip install sherpa` "
            "(or use backend='minuit', 'scipy' or 'swiftfit')"
        ) from exc


def solve_sherpa(problem, loss, *, bounded: bool = False, method: str = "simplex", **options) -> Solution:
    """Minimise the loss objective with one of Sherpa's optimisers.

    ``method``: "simplex" (NelderMead), "levmar" (LevMar, least squares
    only: it needs the residual vector), "moncar" (MonCar), "gridsearch"
    (GridSearch). ``options`` update the optimiser's ``config`` (e.g.
    ``ftol``, ``maxfev``). Not run against the real sherpa package (no wheel
    here); tested with a fake ``sherpa.optmethods``.
    """
    if method not in SHERPA_METHODS:
        raise OptimizerError(f"sherpa `method` must be one of {sorted(SHERPA_METHODS)}, got {method!r}")
    if method == "levmar" and loss.name != "ls":
        raise OptimizerError(f"sherpa's levmar needs loss_function='ls' (residuals), got {loss.name!r}")
    optmethods = _sherpa_optmethods()
    opt = getattr(optmethods, SHERPA_METHODS[method])()
    unknown = sorted(set(options) - set(getattr(opt, "config", {})))
    if unknown:
        raise OptimizerError(
            f"sherpa {method!r} options are {sorted(getattr(opt, 'config', {}))}; got unknown {unknown}"
        )
    opt.config.update(options)
    fun, _, _ = scalar_functions(loss, problem)
    x0 = np.array(problem.p0[0], dtype=float)
    lo = np.full(x0.size, -_SHERPA_HUGE)
    hi = np.full(x0.size, _SHERPA_HUGE)
    if bounded:
        lo = np.where(np.isfinite(problem.lower), problem.lower, lo)
        hi = np.where(np.isfinite(problem.upper), problem.upper, hi)
        x0 = np.clip(x0, lo, hi)

    def statfunc(pars):
        # sherpa wants (statistic, per-point vector); levmar uses the vector
        stat = fun(pars)
        fvec = problem.residuals(np.asarray(pars, float)[None, :])[0] if method == "levmar" else np.array([stat])
        return stat, fvec

    with np.errstate(all="ignore"):
        success, x, fval, message, extra = opt.fit(statfunc, x0, lo, hi)
    return _solution(problem, x, fval, success, message, (extra or {}).get("nfev", 0))


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
