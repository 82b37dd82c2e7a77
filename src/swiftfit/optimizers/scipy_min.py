"""Every ``scipy.optimize.minimize`` method, by its scipy name, looped over pixels.

Each pixel is one call of :func:`scipy.optimize.minimize` on the scalar
objective of the loss (``loss.value``), with the loss's gradient as ``jac``
(not for the derivative-free methods) and its Gauss–Newton / Fisher Hessian as
``hess`` for the methods that use one. That Hessian is positive semi-definite,
which the trust-region methods (dogleg in particular) need.

============ =========== ====== ====== =======================================
method       derivatives hess   bounds notes
============ =========== ====== ====== =======================================
Nelder-Mead  none        –      yes
Powell       none        –      yes
CG           jac         –      no
BFGS         jac         –      no
Newton-CG    jac         yes    no
L-BFGS-B     jac         –      yes
TNC          jac         –      yes
COBYLA       none        –      yes    ``maxiter`` counts function evaluations
COBYQA       none        –      yes
SLSQP        jac         –      yes    ``constraints`` pass through
trust-constr jac         yes    yes
dogleg       jac         yes    no     needs a PSD Hessian (Gauss–Newton is)
trust-ncg    jac         yes    no
trust-krylov jac         yes    no
trust-exact  jac         yes    no
============ =========== ====== ====== =======================================

Every loss ("ls", "ML-poisson", "huber", custom) works with every method.
Names are scipy's spelling; lower-case spellings are aliases.

Options
-------
Every keyword reaches ``minimize`` unchanged (``tol``, ``options={...}``,
``constraints``, ``callback``, ``jac``/``hess`` to replace ours, ...); an
unknown keyword raises scipy's own ``TypeError``. As a convenience (HyperSpy
users often write them at top level) the solver options in
:data:`OPTION_KEYWORDS` — ``maxiter``, ``maxfev``, ``maxfun``, ``xatol``,
``fatol``, ``xtol``, ``ftol``, ``gtol``, ``eps``, ``disp``, ``adaptive``,
``maxcor``, ``maxls``, ``rhobeg``, ``catol``, ``initial_trust_radius``, ... —
are moved into ``options``; ``max_nfev`` (the name the least-squares
optimizers use) becomes the method's own evaluation cap (``maxfev``,
``maxfun`` or COBYLA's ``maxiter``) where it has one.

Status (the table of :mod:`swiftfit.problem.solution`)
------------------------------------------------------
* ``-2`` the final objective or parameters are not finite (also scipy's own
  "NaN result" codes); checked first, so NaN never passes as success;
* ``6`` scipy reports success (and the objective is finite) and its answer
  passes a Newton check (:func:`newton_gap`): one Gauss–Newton step from it is
  below a tenth of a standard deviation, 1e-3 relative, or a 1e-4 relative
  change of the model, for every parameter;
* ``-7`` scipy reports success but its answer fails that check, i.e. it is
  clearly not a minimum (e.g. scipy 1.17's SLSQP, with bounds, can stop at
  its starting point and call it success). Not checked with ``constraints``;
  ``verify=False`` turns it off;
* ``-1`` scipy stopped at its iteration / evaluation limit (the limit codes of
  :data:`LIMIT_CODES`: Nelder-Mead/Powell 1, 2; CG/BFGS/Newton-CG 1;
  L-BFGS-B 1; TNC 3; COBYLA 3, 20; COBYQA 5, 6; SLSQP 9; trust-constr 0;
  dogleg/trust-* 1);
* ``-6`` a bounded fit failed otherwise with a parameter on a bound and a
  projected gradient that is not zero (the gradient with the components a
  bound blocks removed): it stalled there, e.g. L-BFGS-B's ``ABNORMAL``
  line search or TNC's "Linear search failed" at a bound. A minimum *on* a
  bound with the descent direction pointing out of the box is a KKT point;
  when scipy reports success there it is a success;
* ``-5`` every other failure scipy reports (e.g. BFGS' precision loss).

The covariance is left to the model (``covariance=None``): it is computed from
the loss at the optimum, never from the optimizer's ``hess_inv``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, OptimizeResult, minimize

from ..errors import OptimizerError
from ..losses import LeastSquares
from ..problem.problem import Problem
from ..problem.solution import Solution, Status
from ..problem.verify import newton_gaps
from .registry import OptimizerSpec, register

__all__ = ["LIMIT_CODES", "METHODS", "OPTION_KEYWORDS", "classify", "newton_gap", "solve_minimize"]

METHODS = (
    "Nelder-Mead", "Powell", "CG", "BFGS", "Newton-CG", "L-BFGS-B", "TNC", "COBYLA", "COBYQA",
    "SLSQP", "trust-constr", "dogleg", "trust-ncg", "trust-krylov", "trust-exact",
)
DERIVATIVE_FREE = frozenset({"Nelder-Mead", "Powell", "COBYLA", "COBYQA"})
USES_HESSIAN = frozenset({"Newton-CG", "trust-constr", "dogleg", "trust-ncg", "trust-krylov", "trust-exact"})
BOUNDED = frozenset({"Nelder-Mead", "Powell", "L-BFGS-B", "TNC", "COBYLA", "COBYQA", "SLSQP", "trust-constr"})
ALL_LOSSES = frozenset({"ls", "ML-poisson", "huber", "custom"})

# scipy's status codes meaning "stopped at the iteration / evaluation limit"
LIMIT_CODES = {
    "Nelder-Mead": {1, 2}, "Powell": {1, 2}, "CG": {1}, "BFGS": {1}, "Newton-CG": {1},
    "L-BFGS-B": {1}, "TNC": {3}, "COBYLA": {3, 20}, "COBYQA": {5, 6}, "SLSQP": {9},
    "trust-constr": {0}, "dogleg": {1}, "trust-ncg": {1}, "trust-krylov": {1}, "trust-exact": {1},
}
# scipy's status codes meaning "a NaN / inf was met"
NONFINITE_CODES = {"Powell": {3}, "CG": {3}, "BFGS": {3}, "COBYLA": {-1, -2, -3}}

# solver options accepted at top level and moved into ``options``
OPTION_KEYWORDS = frozenset({
    "maxiter", "maxfev", "maxfun", "disp", "return_all", "xatol", "fatol", "adaptive",
    "initial_simplex", "xtol", "ftol", "gtol", "eps", "norm", "c1", "c2", "hess_inv0",
    "maxcor", "maxls", "iprint", "finite_diff_rel_step", "maxCGit", "eta", "stepmx",
    "accuracy", "minfev", "rescale", "offset", "scale", "rhobeg", "catol", "f_target",
    "direc", "initial_trust_radius", "max_trust_radius", "inexact", "xrtol", "workers",
    "barrier_tol", "sparse_jacobian", "initial_constr_penalty", "initial_tr_radius",
    "initial_barrier_parameter", "initial_barrier_tolerance", "factorization_method",
    "verbose", "target", "feasibility_tol", "radius_init", "radius_final", "nb_points",
})
# what ``max_nfev`` becomes for each method with an evaluation cap
_NFEV_OPTION = {"Nelder-Mead": "maxfev", "Powell": "maxfev", "L-BFGS-B": "maxfun", "TNC": "maxfun",
                "COBYLA": "maxiter", "COBYQA": "maxfev"}

_CANONICAL = {m.lower(): m for m in METHODS}


def canonical(method: str) -> str:
    """Scipy's spelling of ``method`` (case-insensitive)."""
    try:
        return _CANONICAL[str(method).lower()]
    except KeyError:
        raise OptimizerError(f"unknown scipy.optimize.minimize method {method!r}; one of {METHODS}") from None


def split_options(method: str, kwargs: dict) -> tuple[dict, dict]:
    """Move top-level solver options of ``kwargs`` into ``options``; returns
    ``(kwargs for minimize, options)``. Raises when one is given twice.
    """
    kwargs = dict(kwargs)
    options = kwargs.pop("options", None)
    options = {} if options is None else dict(options)
    if "max_nfev" in kwargs:
        key = _NFEV_OPTION.get(method)
        if key is None:
            raise OptimizerError(
                f"optimizer {method!r} has no cap on function evaluations; use maxiter=... instead of max_nfev"
            )
        kwargs[key] = kwargs.pop("max_nfev")
    for key in [k for k in kwargs if k in OPTION_KEYWORDS]:
        if key in options:
            raise OptimizerError(f"{key!r} given both as a keyword and in `options`; give it once")
        options[key] = kwargs.pop(key)
    return kwargs, options


def scalar_functions(loss, one: Problem):
    """Objective, gradient and Gauss–Newton Hessian of one pixel as functions
    of a 1-D parameter vector. NaN objectives become ``inf`` (a rejected trial
    point for every method).
    """

    def fun(t):
        v = float(np.asarray(loss.value(one, np.asarray(t, dtype=float)[None, :])).ravel()[0])
        return v if np.isfinite(v) else np.inf

    def jac(t):
        return np.asarray(loss.gradient(one, np.asarray(t, dtype=float)[None, :]), dtype=float).reshape(-1)

    def hess(t):
        t = np.asarray(t, dtype=float)
        return np.asarray(loss.gn_hessian(one, t[None, :]), dtype=float).reshape(t.size, t.size)

    return fun, jac, hess


def stalled_at_bound(x, lo, hi, g, f) -> bool:
    """A parameter sits on a bound and the projected gradient is not zero."""
    x, lo, hi = np.asarray(x, float), np.asarray(lo, float), np.asarray(hi, float)
    tol = 1e-8 * np.maximum(1.0, np.abs(x))
    at_lo = np.isfinite(lo) & (x - lo <= tol)
    at_hi = np.isfinite(hi) & (hi - x <= tol)
    if not (at_lo | at_hi).any():
        return False
    g = np.asarray(g, dtype=float)
    if not np.isfinite(g).all():
        return True
    pg = np.where((at_lo & (g > 0)) | (at_hi & (g < 0)), 0.0, g)
    scale = np.where(np.abs(x) > 0, np.abs(x), 1.0)
    return bool(np.max(np.abs(pg) * scale) > 1e-6 * max(abs(float(f)), 1e-300))


def newton_gap(loss, one: Problem, x, lo=None, hi=None) -> float:
    """How far ``x`` is from a minimum: :func:`swiftfit.problem.verify.newton_gaps`
    (the one Newton check of every door) for the single pixel ``one``.

    ``lo``/``hi`` are the bounds the optimizer was given (None: unbounded): a
    parameter the Gauss–Newton step would push across one is held there, so
    a minimum on a bound counts as a minimum.

    Returns ``max |δ_j| / tolerance_j``: above 1 the point is clearly not a
    minimum; 0 where it cannot judge (non-finite or singular ``H``).
    """
    x = np.asarray(x, dtype=float).reshape(1, -1)
    P = x.shape[1]
    lo = np.full(P, -np.inf) if lo is None else np.asarray(lo, dtype=float)
    hi = np.full(P, np.inf) if hi is None else np.asarray(hi, dtype=float)
    return float(newton_gaps(one, loss, x, lower=lo, upper=hi)[0])


def classify(method: str, res, *, lo=None, hi=None, gradient=None) -> int:
    """Our status code for scipy result ``res`` of ``method`` (module docstring).

    ``lo``/``hi`` are the bounds the method was given (None: unbounded),
    ``gradient(x)`` the loss gradient, needed only to tell -6 from -5.
    """
    x = np.asarray(res.x, dtype=float)
    fun = np.asarray(res.fun, dtype=float)
    if not (np.isfinite(x).all() and np.isfinite(fun).all()):
        return Status.NONFINITE
    if bool(res.success):
        return Status.OPTIMIZER_SUCCESS
    status = res.get("status")
    if status in LIMIT_CODES.get(method, ()):
        return Status.MAX_NFEV
    if status in NONFINITE_CODES.get(method, ()):
        return Status.NONFINITE
    if lo is not None and gradient is not None:
        with np.errstate(all="ignore"):
            g = gradient(x)
        if stalled_at_bound(x, lo, hi, g, float(fun)):
            return Status.STALLED_AT_BOUND
    return Status.OPTIMIZER_FAILURE


def is_nonfinite_error(exc: Exception) -> bool:
    """Is ``exc`` scipy refusing non-finite numbers (rather than bad input)?"""
    text = str(exc).lower()
    return ("nan" in text or "inf" in text or "finite" in text) and "bound" not in text


def nonfinite_result(x0, exc: Exception) -> OptimizeResult:
    """A failed result standing for a scipy call that raised on NaN/inf."""
    return OptimizeResult(x=np.asarray(x0, dtype=float), fun=np.nan, success=False, status=None,
                          nfev=0, nit=0, message=f"scipy stopped on non-finite values: {exc}")


def bounds_of(problem: Problem):
    """Scipy ``Bounds`` of the free parameters, or None when none is finite."""
    if not problem.bounded:
        return None
    return Bounds(problem.lower, problem.upper)


class PixelResults:
    """Per-pixel results of a scipy optimizer looped over pixels: a reported
    success must survive the Newton check (``newton_gap``) to stay 6.
    """

    def __init__(self, problem: Problem, check: bool):
        B = problem.B
        self.theta = np.array(problem.p0, dtype=float)
        self.status = np.zeros(B, dtype=int)
        self.nfev = np.zeros(B, dtype=int)
        self.njev = np.zeros(B, dtype=int)
        self.nit = np.zeros(B, dtype=int)
        self.objective = np.full(B, np.nan)
        self.gap = np.full(B, np.nan)
        self.info: dict = {"newton_gap": self.gap}
        self.check = check
        self.B = B

    def without_parameters(self, loss, problem) -> Solution:
        """Nothing to fit: the objective at the fixed values."""
        with np.errstate(all="ignore"):
            self.objective = loss.value(problem, self.theta)
        self.status[:] = np.where(np.isfinite(self.objective), Status.CLOSED_FORM, Status.NONFINITE)
        return self.solution()

    def record(self, b: int, res, code: int, loss, one: Problem, lo=None, hi=None) -> None:
        if code == Status.OPTIMIZER_SUCCESS and self.check:
            # a wrapped loss's own loss (Fit's TracedLoss): the check is no call of the fit
            self.gap[b] = newton_gap(getattr(loss, "_loss", loss), one, res.x, lo, hi)
            if self.gap[b] > 1:
                code = Status.NOT_A_MINIMUM
        self.status[b] = code
        self.theta[b] = np.asarray(res.x, dtype=float)
        self.objective[b] = float(np.asarray(res.fun, dtype=float))
        self.nfev[b] = int(res.get("nfev", 0) or 0)
        self.njev[b] = int(res.get("njev", 0) or 0)
        self.nit[b] = int(res.get("nit", 0) or 0)
        if self.B == 1:
            self.info["scipy_result"] = res

    def solution(self) -> Solution:
        return Solution(self.theta, self.status, self.nfev, self.objective, None, self.njev, self.nit, self.info)


def solve_minimize(problem: Problem, loss=None, *, method: str = "Nelder-Mead", bounded: bool = False,
                   verify: bool = True, **kwargs) -> Solution:
    """Fit each pixel with ``scipy.optimize.minimize(method=method)``.

    Parameters
    ----------
    problem : Problem
    loss : Loss, optional
        Default least squares.
    method : str
        A scipy method name (case-insensitive).
    bounded : bool
        Give ``problem.lower``/``upper`` to the method (only methods of
        :data:`BOUNDED`); starting values are moved inside the box.
    verify : bool
        Check every success scipy reports with :func:`newton_gap` (status -7
        when its answer is clearly not a minimum). Default True; skipped
        when ``constraints`` are given.
    **kwargs
        Passed to ``minimize`` (see the module docstring for the options moved
        into ``options``).

    Returns
    -------
    Solution
        ``covariance=None``; ``info["scipy_result"]`` is scipy's result when
        ``B == 1``; ``info["newton_gap"]`` the check's measure (NaN where not
        checked).
    """
    loss = LeastSquares() if loss is None else loss
    method = canonical(method)
    if bounded and method not in BOUNDED:
        raise OptimizerError(f"optimizer {method!r} does not support bounds; use bounded=False")
    kwargs, options = split_options(method, kwargs)
    user_jac = kwargs.pop("jac", None)
    user_hess = kwargs.pop("hess", None)
    B, P = problem.B, problem.P
    box = bounds_of(problem) if bounded else None
    # a constrained optimum has a non-zero gradient: no Newton check there
    out = PixelResults(problem, check=verify and not kwargs.get("constraints"))
    if P == 0:
        return out.without_parameters(loss, problem)
    theta = out.theta
    for b in range(B):
        one = problem.take([b])
        fun, jac, hess = scalar_functions(loss, one)
        x0 = theta[b].copy()
        if box is not None:
            x0 = np.clip(x0, problem.lower, problem.upper)
        call = dict(kwargs)
        if method not in DERIVATIVE_FREE or user_jac is not None:
            call["jac"] = jac if user_jac is None else user_jac
        if method in USES_HESSIAN and "hessp" not in call:
            call["hess"] = hess if user_hess is None else user_hess
        elif user_hess is not None:
            call["hess"] = user_hess
        if box is not None and "bounds" not in call:
            call["bounds"] = box
        with np.errstate(all="ignore"):
            try:
                res = minimize(fun, x0, method=method, options=dict(options), **call)
            except ValueError as exc:
                # some methods refuse a NaN/inf gradient or Hessian by raising
                if not is_nonfinite_error(exc):
                    raise
                res = nonfinite_result(x0, exc)
        used = call.get("bounds")
        lo = hi = None
        if used is not None:
            used = used if isinstance(used, Bounds) else Bounds(*np.asarray(used, dtype=float).T)
            lo = np.broadcast_to(np.asarray(used.lb, float), (P,))
            hi = np.broadcast_to(np.asarray(used.ub, float), (P,))
        out.record(b, res, classify(method, res, lo=lo, hi=hi, gradient=jac), loss, one, lo, hi)
    return out.solution()


def _spec(method: str) -> OptimizerSpec:
    lower = method.lower()
    return OptimizerSpec(
        name=method,
        solve=lambda problem, loss=None, _m=method, **kw: solve_minimize(problem, loss, method=_m, **kw),
        bounds=method in BOUNDED,
        gradients=method not in DERIVATIVE_FREE,
        errors=True,
        losses=ALL_LOSSES,
        batched=False,
        description=f"scipy.optimize.minimize(method={method!r}), one pixel at a time",
        aliases=(lower,) if lower != method else (),
    )


for _method in METHODS:
    register(_spec(_method))
