"""``minimize``: fit a user's residual function with any swiftfit optimizer.

The user writes ``fcn(params, *args, **kws)`` returning the residual array
(any shape; flattened) and calls :func:`minimize`, as with lmfit. The function
is adapted to the solvers' :class:`~swiftfit.problem.problem.Problem`
interface by :class:`ResidualProblem` (one pixel, data zero, the model is
``−fcn``), so the least-squares objective ``Σ r²`` is minimized by our batched
Levenberg–Marquardt (``"leastsq"``), scipy's ``least_squares``
(``"least_squares"`` → ``"trf"``) or any optimizer of
:func:`swiftfit.optimizers.registry.available` — the scalar minimizers through
:class:`swiftfit.losses.LeastSquares`.

The free vector is the values of the varied parameters (``vary=True`` and no
``expr``); constraint expressions are re-evaluated after each update.
Bounds are given to the solver, which handles them natively (projection,
trust region, box) — there is no change of variables, so at a minimum inside
the bounds the answer and its covariance are those of the unbounded problem.
"""

from __future__ import annotations

import copy as _copy
import numbers

import numpy as np

from .. import losses as _losses
from ..errors import InvalidInputError, InvalidTypeError, OptimizerError
from ..optimizers import registry
from ..problem.goodness import goodness, scale_covariance
from ..problem.problem import ProblemShape
from ..problem.request import make_request
from ..problem.solution import Status
from ..problem.solution import message as _status_message
from ..problem.verify import counts_text, too_few_points, verify
from .parameters import Parameters

__all__ = ["METHOD_NAMES", "RANK_TOL", "MinimizerResult", "ResidualProblem", "minimize"]

# lmfit's method names -> swiftfit optimizers (swiftfit's own names work too)
METHOD_NAMES = {
    "leastsq": "lm",
    "least_squares": "trf",
    "nelder": "Nelder-Mead",
    "lbfgsb": "L-BFGS-B",
    "powell": "Powell",
    "cg": "CG",
    "bfgs": "BFGS",
    "newton": "Newton-CG",
    "cobyla": "COBYLA",
    "cobyqa": "COBYQA",
    "tnc": "TNC",
    "slsqp": "SLSQP",
    "differential_evolution": "Differential Evolution",
    "basinhopping": "Basin Hopping",
    "dual_annealing": "Dual Annealing",
    "shgo": "SHGO",
}
_NOT_AVAILABLE = ("brute", "ampgo", "emcee")
_NAN_POLICIES = ("raise", "propagate", "omit")
_STEP = np.finfo(float).eps ** (1 / 3)  # central differences: error ~ eps^(2/3)
# rank cut of the column-normalised finite-difference Jacobian: its columns are
# accurate to ~eps^(2/3) ≈ 4e-11, so a smaller singular ratio is indistinguishable
# from an exactly singular Jacobian (the parameters are not all determined)
RANK_TOL = 1e-8


class _Abort(Exception):
    """Raised inside the solver when ``max_nfev`` calls of ``fcn`` are spent."""


class ResidualProblem(ProblemShape):
    """A user's residual function as a solver :class:`~swiftfit.problem.problem.Problem`.

    One pixel (``B == 1``), ``data`` zero and no weights, so that
    ``residuals(θ) = −evaluate(θ)`` is the user's residual ``r(θ)``. The
    Jacobian of the model is a central finite difference (step
    ``eps^(1/3)`` times the parameter's size: ``|θ|``, else ``|p0|``, else 1) that never leaves the bounds: next to a bound
    it is the one-sided three-point formula, equally accurate.

    Parameters
    ----------
    call : callable
        ``call(theta (P,)) -> r (N,)``, the residual at the free values.
    p0, lower, upper : ndarray (P,)
    names : list of str
    n : int
        Number of residuals.
    """

    grad = "fd"  # the linear solvers then build their design matrix from unit steps
    fd_scheme = "3-point"
    transform = None

    def __init__(self, call, p0, lower, upper, names, n):
        self._call = call
        self.p0 = np.asarray(p0, dtype=float).reshape(1, -1)
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        self.names = list(names)
        self.data = np.zeros((1, int(n)))
        self.weights = None


    def _model(self, t) -> np.ndarray:
        return -self._call(np.asarray(t, dtype=float))

    def evaluate(self, theta) -> np.ndarray:
        theta = np.atleast_2d(np.asarray(theta))
        if np.iscomplexobj(theta):
            raise InvalidInputError("a residual function cannot be evaluated at complex parameter values")
        out = np.empty((theta.shape[0], self.N))
        for b in range(theta.shape[0]):
            out[b] = self._model(theta[b])
        return out

    def residuals(self, theta) -> np.ndarray:
        return -self.evaluate(theta)  # = data - model, data being zero

    def jacobian(self, theta) -> np.ndarray:
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        B, P = theta.shape
        J = np.zeros((B, self.N, P))
        with np.errstate(all="ignore"):
            for b in range(B):
                J[b] = self._fd(theta[b])
        return J

    def _fd(self, t: np.ndarray) -> np.ndarray:
        J = np.zeros((self.N, t.size))
        f0 = None
        for j in range(t.size):
            h = _STEP * self._scale(t, j)
            up, dn = self.upper[j] - t[j], t[j] - self.lower[j]
            if up >= h and dn >= h:
                tp, tm = t.copy(), t.copy()
                tp[j] += h
                tm[j] -= h
                J[:, j] = (self._model(tp) - self._model(tm)) / (2 * h)
                continue
            if up < 2 * h and dn < 2 * h:  # a box narrower than the step
                h = max(up, dn) / 2
                if h <= 0:
                    continue
            sign = 1.0 if up >= 2 * h else -1.0
            if f0 is None:
                f0 = self._model(t)
            t1, t2 = t.copy(), t.copy()
            t1[j] += sign * h
            t2[j] += sign * 2 * h
            J[:, j] = sign * (-3 * f0 + 4 * self._model(t1) - self._model(t2)) / (2 * h)
        return J

    def _scale(self, t: np.ndarray, j: int) -> float:
        """The size of parameter ``j`` that its difference step is relative to:
        ``|θ_j|`` (at least 1e-3 of its start), else its start ``|p0_j|``, else 1. A step of ``eps^(1/3)·max(1, |θ|)``
        is larger than a parameter of order 1e-6 itself (Hahn1's ``b7``) and
        gives a Jacobian with no correct digit there.
        """
        start = abs(float(self.p0[0, j]))
        # not below 1e-3 of the start: a parameter that ends on a bound at 0 up to rounding
        # (1e-17 after SLSQP) would get a step that cannot move the model (a zero column)
        for size in (max(abs(float(t[j])), 1e-3 * start if np.isfinite(start) else 0.0), start):
            if size > 0 and np.isfinite(size):
                return size
        return 1.0

    def _relevance(self, theta) -> np.ndarray:
        return np.ones(np.shape(np.atleast_2d(theta)), dtype=bool)

    def take(self, rows) -> ResidualProblem:
        rows = np.atleast_1d(np.asarray(rows))
        new = _copy.copy(self)
        new.data = self.data[np.zeros(rows.size, dtype=int)]
        new.p0 = self.p0[np.zeros(rows.size, dtype=int)]
        return new


class MinimizerResult:
    """What :func:`minimize` returns (lmfit's fields).

    Attributes
    ----------
    params : Parameters
        A copy of the input with the best-fit ``value``, ``stderr``,
        ``correl`` and ``init_value`` of every parameter (``stderr``/``correl``
        of constrained ones propagated through the gradient of their ``expr``).
    var_names : list of str
        The varied parameters, in the order of ``covar``.
    covar : ndarray (nvarys, nvarys) or None
        Covariance of the varied parameters (scaled by ``redchi`` when
        ``scale_covar``); None when it could not be computed.
    init_vals : list of float
        Starting values of the varied parameters; ``init_values`` as a dict
        of every parameter.
    chisqr, redchi, aic, bic : float
        ``Σ r²``, ``chisqr / nfree``, ``n ln(χ²/n) + 2k`` and
        ``n ln(χ²/n) + k ln n``.
    ndata, nvarys, nfree, nfev : int
        Residuals, varied parameters, ``ndata − nvarys``, calls of ``fcn``
        made by the solver (finite differences included).
    success : bool
        The solver verified convergence (swiftfit's status codes); False
        also when the Jacobian at the answer is singular (status -3: some
        parameters are not determined by the data).
    status : int
        The code of :data:`swiftfit.problem.solution.STATUS_MESSAGES`.
    message : str
    method : str
        The method as given; ``optimizer`` is swiftfit's name for it.
    residual : ndarray
        The residual at the best fit (flattened; NaNs dropped for ``nan_policy='omit'``).
    errorbars : bool
        The covariance could be computed: ``(JᵀJ)⁻¹`` from the
        central-difference Jacobian at the answer, for every method (the
        linear methods give their own, from the exact design matrix).
    aborted : bool
        The fit stopped because ``max_nfev`` calls were spent.
    solution : Solution
        The solver's raw result (None when aborted).
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return (f"<MinimizerResult method={self.method!r} success={self.success} nfev={self.nfev} "
                f"chisqr={self.chisqr:.6g} nvarys={self.nvarys} ndata={self.ndata}>")

    def fit_report(self, **kwargs) -> str:
        """The text report of :func:`swiftfit.lmfit_api.fit_report`."""
        from .report import fit_report

        return fit_report(self, **kwargs)


def _resolve(method):
    if not isinstance(method, str):
        raise InvalidTypeError(f"`method` must be a string, got {method!r}")
    if method.lower() in _NOT_AVAILABLE:
        raise OptimizerError(
            f"method {method!r} is not available in swiftfit; use 'leastsq', 'least_squares' or one of "
            f"{registry.available()}"
        )
    name = METHOD_NAMES.get(method.lower(), method)
    spec = registry.get(name)
    if spec.name == "odr":
        raise OptimizerError(
            "method 'odr' needs a model with an independent variable (Model.fit); a residual function has none"
        )
    return spec


def _covariance(problem: ResidualProblem, theta: np.ndarray) -> np.ndarray:
    """``(JᵀJ)⁻¹`` at ``theta`` from the central-difference Jacobian; NaN when
    ``J`` is not finite or is rank deficient to the accuracy of the differences
    (smallest/largest singular value of the column-normalised ``J`` below
    :data:`RANK_TOL`).
    """
    P = theta.size
    nan = np.full((P, P), np.nan)
    with np.errstate(all="ignore"):
        J = problem.jacobian(theta[None, :])[0]
    if not np.isfinite(J).all():
        return nan
    norms = np.sqrt(np.einsum("np,np->p", J, J))
    if (norms == 0).any():
        return nan
    _, s, vt = np.linalg.svd(J / norms, full_matrices=False)
    if s[-1] <= RANK_TOL * s[0]:
        return nan
    return (vt.T / s**2) @ vt / np.outer(norms, norms)


def _flatten(out, where: str) -> np.ndarray:
    arr = np.asarray(out)
    if arr.dtype == object:
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError):
            raise InvalidTypeError(f"fcn must return an array of numbers ({where}), got {type(out).__name__}") from None
    if np.iscomplexobj(arr):
        arr = np.ascontiguousarray(arr, dtype=complex).ravel().view(float)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidTypeError(f"fcn must return an array of numbers ({where}), got dtype {arr.dtype}")
    return np.asarray(arr, dtype=float).ravel()


def minimize(fcn, params, method="leastsq", args=(), kws=None, scale_covar=True, nan_policy="raise",
             max_nfev=None, criteria: str = "lmfit", **fit_kws) -> MinimizerResult:
    """Minimize ``Σ r²`` of a residual function over the varied parameters.

    Parameters
    ----------
    fcn : callable
        ``fcn(params, *args, **kws)`` returning the residual array (any
        shape; flattened; complex values count as real and imaginary parts).
    params : Parameters
        Starting values, bounds, ``vary`` and ``expr``; not modified (the
        result holds a copy).
    method : str
        ``"leastsq"`` (default: swiftfit's batched Levenberg–Marquardt, "lm"),
        ``"least_squares"`` (scipy's trust-region reflective, "trf"), lmfit's
        other names (``"nelder"``, ``"lbfgsb"``, ``"powell"``,
        ``"differential_evolution"``, ...) or any swiftfit optimizer name
        (``"lm"``, ``"trf"``, ``"dogbox"``, ``"Nelder-Mead"``,
        ``"L-BFGS-B"``, ``"Differential Evolution"``, ``"lstsq"`` for a
        residual linear in the parameters, ...).
    args, kws : tuple, dict
        Extra arguments of ``fcn``.
    scale_covar : bool
        Multiply the covariance by the reduced χ² (default True: the
        residuals' scale is estimated from the fit).
    nan_policy : {"raise", "propagate", "omit"}
        Non-finite residuals at the starting values: ``"raise"`` a
        ValueError, ``"omit"`` those residuals for the whole fit,
        ``"propagate"`` them to the solver (which then reports failure).
        During the fit a trial point with non-finite residuals is a
        rejected step for every solver.
    max_nfev : int, optional
        Most calls of ``fcn`` (finite differences included); default
        ``2000·(nvarys + 1)``, none for the global optimizers. When spent
        the fit is aborted with the best point seen.
    criteria : {"lmfit", "likelihood"}
        Convention of ``aic``/``bic`` (:func:`swiftfit.problem.goodness.goodness`):
        lmfit's ``n ln(χ²/n) + 2k`` (default) or the Gaussian ln L with σ²
        profiled, as ``m.fit`` reports for least squares without a variance.
    **fit_kws
        Options of the solver (e.g. ``ftol``, ``xtol`` for "lm";
        ``xatol``/``fatol`` for "Nelder-Mead"); also ``calc_covar=False``
        to skip the covariance.

    Returns
    -------
    MinimizerResult

    Examples
    --------
    >>> x = np.linspace(0, 1, 20)
    >>> p = Parameters(); p.add("a", 1.0); p.add("b", 0.0)
    >>> out = minimize(lambda p, x: p["a"] * x + p["b"] - (2 * x + 1), p, args=(x,))
    >>> round(out.params["a"].value, 6), round(out.params["b"].value, 6)
    (2.0, 1.0)
    """
    if not callable(fcn):
        raise InvalidTypeError(f"fcn must be callable, got {fcn!r}")
    if not isinstance(params, Parameters):
        raise InvalidTypeError(f"params must be a swiftfit Parameters object, got {type(params).__name__}")
    if nan_policy not in _NAN_POLICIES:
        raise InvalidInputError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}")
    if not isinstance(args, (tuple, list)):
        args = (args,)
    kws = {} if kws is None else dict(kws)
    spec = _resolve(method)
    if criteria not in ("lmfit", "likelihood"):
        raise InvalidInputError(f"`criteria` must be 'lmfit' or 'likelihood', got {criteria!r}")
    options = dict(fit_kws)
    calc_covar = bool(options.pop("calc_covar", True))

    work = params.copy()
    work.update_constraints()
    var_names = [n for n, p in work.items() if p.vary and p.expr is None]
    pars = [work[n] for n in var_names]
    P = len(var_names)
    init_vals = [p.value for p in pars]  # clipped into the bounds
    for p, v in zip(pars, init_vals):
        p._val = v
    init_values = work.valuesdict()
    lower = np.array([p.min for p in pars], dtype=float)
    upper = np.array([p.max for p in pars], dtype=float)
    if max_nfev is None:
        cap = None if spec.kind == "global" else 2000 * (P + 1)
    else:
        if isinstance(max_nfev, bool) or not isinstance(max_nfev, numbers.Integral) or max_nfev < 1:
            raise InvalidInputError(f"max_nfev must be a positive integer, got {max_nfev!r}")
        cap = int(max_nfev)

    state = {"calls": 0, "cap": None, "best": np.inf, "best_theta": np.array(init_vals, dtype=float),
             "n": None, "mask": None}

    def raw(theta) -> np.ndarray:
        for p, v in zip(pars, theta):
            p._val = float(v)
        work._dirty = True
        r = _flatten(fcn(work, *args, **kws), "at a trial point")
        if state["n"] is not None and r.size != state["n"]:
            raise InvalidInputError(
                f"fcn returned {r.size} residuals at one point and {state['n']} at the starting values; "
                "the number of residuals must not change during a fit"
            )
        return r

    def call(theta) -> np.ndarray:
        if state["cap"] is not None and state["calls"] >= state["cap"]:
            raise _Abort
        state["calls"] += 1
        with np.errstate(all="ignore"):  # trial points may leave fcn's domain; the solver rejects them
            r = raw(theta)
        if state["mask"] is not None:
            r = r[state["mask"]]
        with np.errstate(all="ignore"):
            cost = float(np.dot(r, r))
        if cost < state["best"]:  # NaN compares False
            state["best"] = cost
            state["best_theta"] = np.array(theta, dtype=float)
        return r

    # the starting point: the number of residuals and the NaN policy
    out0 = fcn(work, *args, **kws)
    if np.ndim(out0) == 0:
        raise InvalidInputError(
            f"fcn returned a scalar ({out0!r}); minimize needs the array of residuals r (it minimizes "
            "the sum of r**2), not a scalar objective"
        )
    r0 = _flatten(out0, "at the starting values")
    if r0.size == 0:
        raise InvalidInputError("fcn returned an empty array of residuals")
    state["n"] = r0.size
    bad = ~np.isfinite(r0)
    if bad.any():
        if nan_policy == "raise":
            first = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(
                f"fcn returned {int(bad.sum())} non-finite residual(s) (NaN or inf) at the starting values "
                f"(the first at flattened index {first}); fix the data or the function, or use "
                "nan_policy='omit' to leave them out of the fit"
            )
        if nan_policy == "omit":
            state["mask"] = ~bad
            if not state["mask"].any():
                raise InvalidInputError("every residual is NaN or inf at the starting values; nothing to fit")
    n = int(state["mask"].sum()) if state["mask"] is not None else r0.size

    problem = ResidualProblem(call, init_vals, lower, upper, var_names, n)
    bounded = problem.bounded
    if bounded and not spec.bounds:
        limited = [nm for nm, lo, hi in zip(var_names, lower, upper) if np.isfinite(lo) or np.isfinite(hi)]
        raise OptimizerError(
            f"method {method!r} does not support bounds, but {limited} have min/max; use 'leastsq', "
            "'least_squares', 'Nelder-Mead', 'L-BFGS-B', 'Powell' or another bounded method, or remove the bounds"
        )
    if spec.needs_finite_bounds:
        missing = [nm for nm, lo, hi in zip(var_names, lower, upper) if not (np.isfinite(lo) and np.isfinite(hi))]
        if missing:
            raise OptimizerError(f"method {method!r} needs finite min and max on every varied parameter; missing for {missing}")
    if cap is not None:
        if spec.name in ("lm", "trf", "dogbox"):
            options.setdefault("max_nfev", cap)
        elif spec.name == "minuit" or spec.name.startswith("sherpa-"):
            # MINUIT's call budget is ncall, sherpa's maxfev (neither takes maxiter)
            if "ncall" not in options and "maxfev" not in options:
                options.setdefault("max_nfev", cap)
        elif spec.kind == "local" and not spec.linear and "maxiter" not in options \
                and "maxiter" not in (options.get("options") or {}):
            options["maxiter"] = 2 * cap

    # the one request (swiftfit.problem.request): capabilities and the solver's options, as at every door
    request = make_request(spec.name, _losses.LeastSquares(), bounded=bool(bounded),
                           options={**options, "backend": "numpy"})
    options = dict(request.options)
    state["cap"] = cap
    aborted = False
    solution = None
    try:
        if P == 0:
            theta = np.zeros(0)
            status = Status.CLOSED_FORM
        else:
            solution = too_few_points(problem) or request.optimizer.solve(problem, request.loss, bounded=bounded,
                                                                          **options)
            theta = np.asarray(solution.theta[0], dtype=float)
            status = int(solution.status[0])
    except _Abort:
        aborted = True
        theta = state["best_theta"]
        status = Status.MAX_NFEV
    nfev = state["calls"]
    state["cap"] = None
    # success means verified: the same check as every model door (swiftfit.problem.verify),
    # on the finite-difference Jacobian (its step scaled per parameter)
    if not aborted and P:
        with np.errstate(all="ignore"):
            checked, _ = verify(problem, _losses.LeastSquares(), theta[None, :], [status])
        status = int(checked[0])

    text = _status_message(status)
    if status == Status.TOO_FEW_POINTS:
        text = f"{text}: {counts_text(P, n)}"
    if aborted:
        text = f"aborted: the number of function evaluations reached max_nfev={cap}"
    elif solution is not None:
        scipy_result = solution.info.get("scipy_result")
        if scipy_result is not None and getattr(scipy_result, "message", None):
            text = f"{text} ({scipy_result.message})"

    # covariance at the best fit (finite differences move the parameters: evaluate it first)
    cov = None
    if calc_covar and P and not aborted and np.isfinite(theta).all():
        if spec.linear and solution is not None and solution.covariance is not None:
            cov = np.array(solution.covariance[0], dtype=float)  # from the exact design matrix
        else:
            cov = _covariance(problem, theta)
        if not np.isfinite(cov).all() and status > 0:
            status, text = Status.SINGULAR, _status_message(Status.SINGULAR)
    with np.errstate(all="ignore"):
        residual = call(theta) if P else (r0[state["mask"]] if state["mask"] is not None else r0)
    nfev_total = nfev  # the solver's calls; the verification's are not counted
    chisqr = float(np.dot(residual, residual))
    nfree = n - P
    with np.errstate(all="ignore"):
        lnl = _losses.LeastSquares().log_likelihood_from_chisq(problem, np.array([chisqr]))[0]
    good = goodness(chisqr, n, P, lnl, convention=criteria)
    redchi = float(good.red_chisq) if nfree > 0 else chisqr / max(1, nfree)  # lmfit's redchi
    aic, bic = float(good.aic), float(good.bic)
    if status > 0 and not np.isfinite(chisqr):
        status, text = Status.NONFINITE, _status_message(Status.NONFINITE)
    if status in (Status.SINGULAR, Status.TOO_FEW_POINTS):
        cov = None  # not determined: no error bars (never a std of 0)
    errorbars = False
    cov0 = None  # unscaled: correlations do not depend on the scale (and survive a zero chi-square)
    if cov is not None:
        diag = np.diag(cov)
        errorbars = bool(np.isfinite(cov).all() and (diag > 0).all())
        if errorbars:
            cov0 = cov
            cov = scale_covariance(cov, redchi, bool(scale_covar))
        else:
            cov = None

    # write the result into the copy
    work.update_constraints()
    for name, p in work.items():
        p.init_value = init_values[name]
        p.stderr = None
        p.correl = None
    if errorbars:
        std = np.sqrt(np.diag(cov))
        sd0 = np.sqrt(np.diag(cov0))
        corr = cov0 / np.outer(sd0, sd0)
        for k, p in enumerate(pars):
            p.stderr = float(std[k])
            p.correl = {var_names[j]: float(corr[k, j]) for j in range(P) if j != k}
        for name, g in work._expr_gradients(var_names).items():
            p = work[name]
            p.stderr = float(np.sqrt(max(float(g @ cov @ g), 0.0)))
            var0 = float(g @ cov0 @ g)
            if var0 > 0:
                c = (cov0 @ g) / (np.sqrt(var0) * sd0)
                p.correl = {var_names[j]: float(c[j]) for j in range(P)}

    return MinimizerResult(
        params=work,
        var_names=list(var_names),
        covar=cov,
        init_vals=list(init_vals),
        init_values=init_values,
        chisqr=chisqr,
        redchi=redchi,
        aic=aic,
        bic=bic,
        ndata=n,
        nvarys=P,
        nfree=nfree,
        nfev=nfev_total,
        success=bool(status > 0),
        status=int(status),
        message=text,
        method=method,
        optimizer=spec.name,
        residual=residual,
        errorbars=errorbars,
        aborted=aborted,
        scale_covar=bool(scale_covar),
        nan_policy=nan_policy,
        solution=solution,
        x=np.array(theta, dtype=float),
    )
