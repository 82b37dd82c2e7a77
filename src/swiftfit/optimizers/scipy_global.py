"""scipy's global optimizers, looped over pixels.

============================= ================================ ==================
name                          scipy function                   bounds
============================= ================================ ==================
"Differential Evolution"      ``differential_evolution``       required (box)
"Dual Annealing"              ``dual_annealing``               required (box)
"SHGO"                        ``shgo``                         required (box)
"Basin Hopping"               ``basinhopping``                 optional
============================= ================================ ==================

Differential Evolution, Dual Annealing and SHGO search the box
``[bmin, bmax]`` of every free parameter, whatever ``bounded`` says: each
needs finite bounds (the model refuses, naming the parameters, before any
work). Differential Evolution and Dual Annealing also get the starting values
as ``x0`` (moved inside the box) unless the call gives one. Their local
searches use the loss gradient (L-BFGS-B; for SHGO with ``constraints``
scipy's SLSQP), through ``minimizer_kwargs``, which the call may replace.

Basin Hopping starts from the starting values and needs no bounds; its local
minimizer is L-BFGS-B with the loss gradient (``minimizer_kwargs`` may replace
it); with ``bounded=True`` the bounds go to the local minimizer.

Every other keyword passes through unchanged (DE ``seed``/``rng``,
``maxiter``, ``popsize``, ``tol``, ``polish``...; DA ``seed``, ``maxiter``,
``maxfun``...; SHGO ``n``, ``iters``, ``options``...; BH ``niter``,
``stepsize``, ``seed``...).

Status: ``-2`` for a non-finite result; ``6`` when scipy reports success
and the answer passes the Newton check of :mod:`.scipy_min` (``-7`` when it
fails it);
``-1`` when it stopped at its iteration / evaluation limit (DE "Maximum number
of iterations/function evaluations", DA "Maximum number of function call
reached" — DA's normal end after ``maxiter`` annealing iterations is scipy's
success and ours; for Basin Hopping the status of its best local
minimization, with the rules of :mod:`.scipy_min`); ``-5`` for any other
failure. The covariance is the model's, from the loss at the optimum.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ..errors import OptimizerError
from ..losses import LeastSquares
from ..problem.problem import Problem
from ..problem.solution import Solution, Status
from .registry import OptimizerSpec, register
from .scipy_min import (
    ALL_LOSSES,
    BOUNDED,
    DERIVATIVE_FREE,
    PixelResults,
    canonical,
    classify,
    is_nonfinite_error,
    nonfinite_result,
    scalar_functions,
)

__all__ = ["GLOBAL_METHODS", "solve_global"]

GLOBAL_METHODS = ("Differential Evolution", "Dual Annealing", "SHGO", "Basin Hopping")
_ALIASES = {
    "Differential Evolution": ("differential_evolution",),
    "Dual Annealing": ("dual_annealing",),
    "SHGO": ("shgo",),
    "Basin Hopping": ("basinhopping", "basin_hopping"),
}
_NEEDS_BOX = frozenset({"Differential Evolution", "Dual Annealing", "SHGO"})


def _message_text(res) -> str:
    msg = res.get("message", "")
    if isinstance(msg, (list, tuple)):
        msg = "; ".join(str(m) for m in msg)
        res.message = msg
    return str(msg)


def _classify_global(method: str, res) -> int:
    x = np.asarray(res.x, dtype=float)
    fun = np.asarray(res.fun, dtype=float)
    if not (np.isfinite(x).all() and np.isfinite(fun).all()):
        return Status.NONFINITE
    text = _message_text(res)
    if bool(res.success):
        return Status.OPTIMIZER_SUCCESS
    if "Maximum number of" in text or "maximum number of" in text:
        return Status.MAX_NFEV
    return Status.OPTIMIZER_FAILURE


def _box(problem: Problem, method: str) -> list[tuple[float, float]]:
    lo, hi = problem.lower, problem.upper
    missing = [n for n, a, b in zip(problem.names, lo, hi) if not (np.isfinite(a) and np.isfinite(b))]
    if missing:
        raise OptimizerError(
            f"optimizer {method!r} needs finite bounds (bmin and bmax) on every free parameter; "
            f"missing for {missing}"
        )
    return list(zip(lo.tolist(), hi.tolist()))


def _local_kwargs(user, jac, defaults: dict) -> dict:
    """``minimizer_kwargs`` for a local search: ``defaults`` updated by the
    user's, with our gradient unless the method is derivative-free or the
    user gave ``jac``.
    """
    kw = dict(defaults)
    kw.update(dict(user or {}))
    method = canonical(kw.get("method", "L-BFGS-B"))
    kw["method"] = method
    if method not in DERIVATIVE_FREE and "jac" not in kw:
        kw["jac"] = jac
    if method not in BOUNDED:
        kw.pop("bounds", None)
    return kw


def _basin_local(problem: Problem, bounded: bool, user, jac) -> dict:
    """Basin Hopping's ``minimizer_kwargs``: L-BFGS-B with our gradient, with
    the bounds when ``bounded``.
    """
    defaults = {"method": "L-BFGS-B"}
    if bounded and problem.bounded:
        defaults["bounds"] = optimize.Bounds(problem.lower, problem.upper)
    local = _local_kwargs(user, jac, defaults)
    if bounded and problem.bounded and local.get("bounds") is None:
        raise OptimizerError(
            f"bounded=True, but Basin Hopping's local method {local['method']!r} takes no bounds; "
            "use one of " + str(sorted(BOUNDED))
        )
    return local


def _run(method: str, fun, jac, x0, box, P: int, local, call: dict):
    """One scipy global optimization of ``fun``."""
    if method == "Differential Evolution":
        call.setdefault("x0", x0)
        return optimize.differential_evolution(fun, box, **call)
    if method == "Dual Annealing":
        call.setdefault("x0", x0)
        n_ls = min(max(6 * P, 100), 1000)  # scipy's default local-search iterations
        call["minimizer_kwargs"] = _local_kwargs(
            call.get("minimizer_kwargs"), jac, {"method": "L-BFGS-B", "bounds": box, "options": {"maxiter": n_ls}}
        )
        return optimize.dual_annealing(fun, box, **call)
    if method == "SHGO":
        # local searches: L-BFGS-B with our gradient; scipy's SLSQP (ftol 1e-12)
        # only with constraints (scipy 1.17's SLSQP can stop at its start with
        # bounds and report success)
        local_default = (
            {"method": "SLSQP", "options": {"ftol": 1e-12}} if call.get("constraints") is not None
            else {"method": "L-BFGS-B", "bounds": box}
        )
        call["minimizer_kwargs"] = _local_kwargs(call.get("minimizer_kwargs"), jac, local_default)
        return optimize.shgo(fun, box, **call)
    call.pop("minimizer_kwargs", None)
    return optimize.basinhopping(fun, x0, minimizer_kwargs=local, **call)


def solve_global(problem: Problem, loss=None, *, method: str, bounded: bool = False, verify: bool = True,
                 **kwargs) -> Solution:
    """Fit each pixel with one of scipy's global optimizers (module docstring).

    Parameters
    ----------
    problem : Problem
    loss : Loss, optional
        Default least squares.
    method : {"Differential Evolution", "Dual Annealing", "SHGO", "Basin Hopping"}
    bounded : bool
        Basin Hopping only: give the bounds to its local minimizer. The other
        three always search the box of the bounds.
    verify : bool
        Check every success with :func:`.scipy_min.newton_gap` (status -7
        when the answer is clearly not a minimum; e.g. Differential Evolution
        with ``polish=False`` stops near, not at, the minimum). Default True.
    **kwargs
        Passed to the scipy function.

    Returns
    -------
    Solution
        ``covariance=None``; ``info["scipy_result"]`` when ``B == 1``.
    """
    if method not in GLOBAL_METHODS:
        raise OptimizerError(f"unknown global optimizer {method!r}; one of {GLOBAL_METHODS}")
    loss = LeastSquares() if loss is None else loss
    B, P = problem.B, problem.P
    box = _box(problem, method) if method in _NEEDS_BOX else None
    # a constrained optimum has a non-zero gradient: no Newton check there
    check = verify and not kwargs.get("constraints") and not (kwargs.get("minimizer_kwargs") or {}).get("constraints")
    out = PixelResults(problem, check)
    if P == 0:
        return out.without_parameters(loss, problem)
    theta = out.theta
    for b in range(B):
        one = problem.take([b])
        fun, jac, _ = scalar_functions(loss, one)
        x0 = theta[b].copy()
        if box is not None or (bounded and problem.bounded):
            x0 = np.clip(x0, problem.lower, problem.upper)
        local = _basin_local(problem, bounded, kwargs.get("minimizer_kwargs"), jac) if method == "Basin Hopping" else None
        lo = hi = None
        if box is not None:
            lo, hi = problem.lower, problem.upper
        try:
            with np.errstate(all="ignore"):
                res = _run(method, fun, jac, x0, box, P, local, dict(kwargs))
        except ValueError as exc:
            # a local method refusing a NaN/inf gradient by raising
            if not is_nonfinite_error(exc):
                raise
            res = nonfinite_result(x0, exc)
        _message_text(res)
        if not (np.isfinite(np.asarray(res.x, float)).all() and np.isfinite(np.asarray(res.fun, float)).all()):
            code = Status.NONFINITE
        elif local is not None:
            # Basin Hopping succeeds as its best local minimization does
            if local.get("bounds") is not None:
                used = local["bounds"]
                used = used if isinstance(used, optimize.Bounds) else optimize.Bounds(*np.asarray(used, float).T)
                lo = np.broadcast_to(np.asarray(used.lb, float), (P,))
                hi = np.broadcast_to(np.asarray(used.ub, float), (P,))
            lowest = res.get("lowest_optimization_result", res)
            code = classify(local["method"], lowest, lo=lo, hi=hi, gradient=jac)
            if lowest is not res and lowest.get("message"):
                res.message = f"{res.message}; best local minimization ({local['method']}): {lowest.message}"
        else:
            code = _classify_global(method, res)
        out.record(b, res, code, loss, one, lo, hi)
    return out.solution()


for _method in GLOBAL_METHODS:
    register(
        OptimizerSpec(
            name=_method,
            solve=lambda problem, loss=None, _m=_method, **kw: solve_global(problem, loss, method=_m, **kw),
            bounds=True,
            gradients=_method in ("Dual Annealing", "SHGO", "Basin Hopping"),
            errors=True,
            losses=ALL_LOSSES,
            batched=False,
            kind="global",
            needs_finite_bounds=_method in _NEEDS_BOX,
            description={
                "Differential Evolution": "scipy.optimize.differential_evolution over the box of the bounds",
                "Dual Annealing": "scipy.optimize.dual_annealing over the box of the bounds",
                "SHGO": "scipy.optimize.shgo over the box of the bounds",
                "Basin Hopping": "scipy.optimize.basinhopping from the starting values (L-BFGS-B local steps)",
            }[_method],
            aliases=_ALIASES[_method],
        )
    )
