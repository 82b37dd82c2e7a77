"""Sherpa's optimisers as registered swiftfit optimizers (the one wrapper of the sherpa library).

===================== ============================== ====== =========================
registered name       sherpa class (sherpa.optmethods) losses notes
===================== ============================== ====== =========================
``sherpa-simplex``    ``NelderMead``                 every
``sherpa-levmar``     ``LevMar`` (MINPACK's lmdif)   ``ls`` reads the residual vector
``sherpa-moncar``     ``MonCar`` (diff. evolution)   every  seeded: reproducible
``sherpa-gridsearch`` ``GridSearch`` (+ ``refine``)  every  needs finite bounds
===================== ============================== ====== =========================

The names are sherpa's own (``set_method("levmar")``) with the library in
front, as the registry spells every optimizer the way its library does
(scipy's ``"Nelder-Mead"``, ``"L-BFGS-B"``; ``"minuit"``): a bare
``"simplex"`` would read as a second name of scipy's Nelder-Mead and
``"levmar"`` as one of ``"lm"``, while they are other implementations with
other stopping rules. Every door reaches them through the registry:
``m.fit(optimizer="sherpa-levmar")``, ``m.multifit`` (one pixel at a time),
joint fits, and ``Fit(backend="sherpa", optimize_opts={"method": "levmar"})``
(Gammapy's spelling: the backend names the library, the method sherpa's
optimiser).

Each call of sherpa's ``fit`` is one pixel; ``nfev`` counts every objective
call made (sherpa's own count misses some) and ``info["scipy_result"]``
carries sherpa's own verdict and message. The adapter follows Sherpa's
optimiser API (``config`` dict, ``fit(statfunc, pars, parmins, parmaxes)``
returning ``(success, x, fval, message, {"nfev": ...})``) and is tested
against the real sherpa 4.19 (``make sherpa``; ``tests/api/test_sherpa_real.py``,
skipped where sherpa is not installed). Sherpa's own success flag is not
trusted alone: every reported success passes the Newton check every door runs
(:func:`~swiftfit.optimizers.scipy_min.newton_gap`).

Examples
--------
>>> from swiftfit.optimizers import registry
>>> spec = registry.get("sherpa-levmar")
>>> spec.name, sorted(spec.losses), spec.bounds
('sherpa-levmar', ['ls'], True)
>>> m.fit(optimizer="sherpa-simplex", ftol=1e-10)   # doctest: +SKIP
"""

from __future__ import annotations

import importlib

import numpy as np
from scipy.optimize import OptimizeResult

from ..errors import OptimizerError
from ..losses import LeastSquares, PriorLoss
from ..problem.solution import Solution, Status
from .registry import OptimizerSpec, register
from .scipy_min import ALL_LOSSES, PixelResults, newton_gap, scalar_functions

__all__ = ["solve_sherpa", "solve_sherpa_pixels", "registered_name", "SHERPA_METHODS", "SHERPA_HUGE",
           "PREFIX"]

SHERPA_METHODS = {"simplex": "NelderMead", "levmar": "LevMar", "moncar": "MonCar", "gridsearch": "GridSearch"}
#: sherpa's ``sherpa.models.parameter.hugeval`` (float32's max): its stand-in for an infinite bound
SHERPA_HUGE = float(np.finfo(np.float32).max)
#: the registry's names are ``PREFIX + method`` (``"sherpa-levmar"``)
PREFIX = "sherpa-"


def _solution(problem, x, fun, success, message, nfev, njev=0, covariance=None, info_extra=None,
              status=None) -> Solution:
    x = np.asarray(x, dtype=float)
    ok = bool(success) and np.isfinite(x).all() and np.isfinite(fun)
    if status is None:
        status = Status.OPTIMIZER_SUCCESS if ok else (Status.NONFINITE if not np.isfinite(fun) else Status.OPTIMIZER_FAILURE)
    res = OptimizeResult(x=x.copy(), fun=float(fun), success=ok, status=status, message=str(message),
                         nfev=int(nfev), njev=int(njev))
    info = {"scipy_result": res, **(info_extra or {})}
    return Solution(x[None, :], np.array([int(status)]), np.array([int(nfev)]), np.array([float(fun)]),
                    covariance, np.array([int(njev)]), None, info)


def _sherpa_optmethods():
    try:
        return importlib.import_module("sherpa.optmethods")
    except ImportError as exc:
        raise ImportError(
            "the sherpa optimizers (Fit(backend='sherpa'), optimizer='sherpa-...') need the sherpa "
            "package: `pip install sherpa` (the extra swiftfit[sherpa]; where no wheel exists its sdist "
            "builds with byacc, flex, FFTW and pkg-config, see `make sherpa`), or use backend='minuit', "
            "'scipy' or 'swiftfit'"
        ) from exc


def _sherpa_bounds(problem, bounded: bool, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Sherpa's ``parmins``/``parmaxes``: the bounds, with ``∓hugeval`` for open ones."""
    P = len(problem.p0[0])
    lo, hi = np.full(P, -SHERPA_HUGE), np.full(P, SHERPA_HUGE)
    if bounded and problem.bounded:
        lo = np.clip(np.where(np.isfinite(problem.lower), problem.lower, lo), -SHERPA_HUGE, SHERPA_HUGE)
        hi = np.clip(np.where(np.isfinite(problem.upper), problem.upper, hi), -SHERPA_HUGE, SHERPA_HUGE)
    if method == "gridsearch":
        open_ = [n for n, a, b in zip(problem.names, lo, hi) if abs(a) >= SHERPA_HUGE or abs(b) >= SHERPA_HUGE]
        if open_:
            raise OptimizerError(
                f"sherpa's gridsearch evaluates a grid between each parameter's bounds; set a finite "
                f"bmin and bmax for {open_} (got an open bound)"
            )
    return lo, hi


def _sherpa_needs_residuals(method: str, config: dict) -> bool:
    """Whether the optimiser reads the per-bin vector (MINPACK's lmdif does)."""
    refine = config.get("method") if method == "gridsearch" else None
    if refine is not None and str(refine).lower() not in ("neldermead", "levmar"):
        raise OptimizerError(
            f"sherpa gridsearch's `refine` must be None, 'neldermead' or 'levmar', got {refine!r}"
        )
    return method == "levmar" or (refine is not None and str(refine).lower() == "levmar")


def _sherpa_status(method, success, x, fval, message, nfev_limit, sherpa_nfev, gap) -> int:
    """Our status for a sherpa result (see :func:`solve_sherpa`)."""
    if not (np.isfinite(x).all() and np.isfinite(fval)):
        return -2
    if not success:
        return -1 if "exceeded" in str(message) else -5
    if method == "levmar" and sherpa_nfev >= nfev_limit:
        return -1  # sherpa 4.19 maps MINPACK's "maxfev reached" (info 5) to success
    if gap > 1:
        return -7
    return 6


def solve_sherpa(problem, loss, *, bounded: bool = False, method: str = "simplex", verify: bool = True,
                 **options) -> Solution:
    """Minimise the loss objective with one of Sherpa's optimisers.

    Written and tested against sherpa 4.19 (``tests/api/test_sherpa_real.py``,
    ``make sherpa``).

    Parameters
    ----------
    problem, loss
        The one-pixel problem of a ``Fit`` and its loss.
    bounded : bool
        Give the parameters' bounds to sherpa (open bounds become
        ``∓hugeval``, sherpa's stand-in for infinity).
    method : {"simplex", "levmar", "moncar", "gridsearch"}
        ``sherpa.optmethods.NelderMead``, ``LevMar`` (least squares only: it
        reads the residual vector), ``MonCar`` (differential evolution;
        reproducible: without an ``rng`` option it gets
        ``np.random.default_rng(seed)``, where sherpa would use NumPy's
        global state for its restarts) or ``GridSearch`` (a grid of ``num`` points
        per parameter between finite bounds, refined from the best point when
        the option ``refine`` (GridSearch's own ``method``) is
        ``"neldermead"`` or ``"levmar"``).
    verify : bool
        Check every success sherpa reports with
        :func:`~swiftfit.optimizers.scipy_min.newton_gap`, as for scipy.
    **options
        Keys of the optimiser's ``config`` (e.g. ``ftol``, ``maxfev``; ``max_nfev``,
        the name of the evaluation cap at the other optimizers, is ``maxfev``).

    Returns
    -------
    Solution
        ``nfev`` counts every objective call made (sherpa's own count, kept in
        ``info["sherpa_result"]["nfev"]``, leaves out some: MonCar's
        differential-evolution steps, LevMar's first call). Status: ``6``
        sherpa reports success and the Newton check passes; ``-7`` it reports
        success but the answer is not a minimum (e.g. an unrefined
        gridsearch); ``-1`` sherpa's "number of function evaluations has
        exceeded", and LevMar stopped by ``maxfev``, which sherpa 4.19 reports
        as "successful termination"; ``-5`` another failure; ``-2``
        non-finite results. The message is sherpa's own.

    Examples
    --------
    >>> sol = solve_sherpa(problem, loss, method="levmar", maxfev=2000)   # doctest: +SKIP
    >>> sol.status[0], sol.nfev[0]                                        # doctest: +SKIP
    (6, 27)
    """
    if method not in SHERPA_METHODS:
        raise OptimizerError(f"sherpa `method` must be one of {sorted(SHERPA_METHODS)}, got {method!r}")
    base = getattr(loss, "_loss", loss)  # a TracedLoss's own loss: the checks below are not fit calls
    options = dict(options)
    if "max_nfev" in options:  # the evaluation cap's name at every door (scipy_min, minuit, lm)
        if "maxfev" in options:
            raise OptimizerError("give `maxfev` or `max_nfev` to a sherpa optimizer, not both")
        options["maxfev"] = options.pop("max_nfev")
    if "refine" in options:  # GridSearch's own ``method``, renamed: ``method`` picks the optimiser here
        if method != "gridsearch":
            raise OptimizerError(f"`refine` is an option of sherpa's gridsearch only, got method={method!r}")
        options["method"] = options.pop("refine")
    optmethods = _sherpa_optmethods()
    opt = getattr(optmethods, SHERPA_METHODS[method])()
    unknown = sorted(set(options) - set(getattr(opt, "config", {})))
    if unknown:
        raise OptimizerError(
            f"sherpa {method!r} options are {sorted(getattr(opt, 'config', {}))}; got unknown {unknown}"
        )
    opt.config.update(options)
    if method == "moncar" and opt.config.get("rng") is None:
        # MonCar draws its restarts from ``rng`` (NumPy's global state when None), not from ``seed``
        opt.config["rng"] = np.random.default_rng(opt.config.get("seed"))
    residual_vector = _sherpa_needs_residuals(method, opt.config)
    if residual_vector and (loss.name != "ls" or isinstance(base, PriorLoss)):
        what = "priors (a MAP fit)" if isinstance(base, PriorLoss) else f"loss_function={loss.name!r}"
        raise OptimizerError(
            f"sherpa's levmar fits the residuals alone (loss_function='ls' without priors); got {what}"
        )
    fun, _, _ = scalar_functions(loss, problem)
    lo, hi = _sherpa_bounds(problem, bounded, method)
    x0 = np.clip(np.array(problem.p0[0], dtype=float), lo, hi)
    calls = [0]

    def statfunc(pars):
        # sherpa wants (statistic, per-bin vector); only lmdif reads the vector
        calls[0] += 1
        stat = fun(pars)
        if residual_vector:
            return stat, problem.residuals(np.asarray(pars, float)[None, :])[0]
        return stat, np.array([stat])

    with np.errstate(all="ignore"):
        success, x, fval, message, extra = opt.fit(statfunc, x0, lo, hi)
    x = np.asarray(x, dtype=float).ravel()
    extra = dict(extra or {})
    sherpa_nfev = int(extra.get("nfev", 0) or 0)
    with np.errstate(all="ignore"):
        fval = float(np.asarray(base.value(problem, x[None, :])).ravel()[0])
    gap = np.nan
    if verify and success and np.isfinite(x).all() and np.isfinite(fval):
        gap = newton_gap(base, problem, x, *((problem.lower, problem.upper) if bounded else (None, None)))
    limit = opt.config.get("maxfev") or 256 * x.size  # lmdif's default maxfev
    status = _sherpa_status(method, success, x, fval, message, limit, sherpa_nfev, 0.0 if np.isnan(gap) else gap)
    sherpa_result = {"success": bool(success), "message": str(message), "nfev": sherpa_nfev,
                     **{k: v for k, v in extra.items() if k not in ("nfev", "covar")}}
    # ``scipy_result`` keeps sherpa's own verdict and message; ``status`` is ours
    return _solution(problem, x, fval, success, message, calls[0], status=status,
                     info_extra={"sherpa_result": sherpa_result, "newton_gap": np.array([gap])})


def solve_sherpa_pixels(problem, loss=None, *, method: str = "simplex", bounded: bool = False,
                        verify: bool = True, **options) -> Solution:
    """:func:`solve_sherpa` on each pixel of ``problem`` in turn (the registered optimizers' ``solve``).

    Returns one :class:`~swiftfit.problem.solution.Solution` of ``B`` rows;
    ``info`` is the single pixel's (sherpa's verdict, the Newton gap) when
    ``B == 1``, else ``info["newton_gap"]`` holds every pixel's.
    """
    loss = LeastSquares() if loss is None else loss
    B, P = problem.B, problem.P
    if P == 0:  # nothing to fit: the objective at the fixed values, as at scipy's optimizers
        return PixelResults(problem, verify).without_parameters(loss, problem)
    if B == 1:
        return solve_sherpa(problem, loss, bounded=bounded, method=method, verify=verify, **options)
    parts = [solve_sherpa(problem.take([b]), loss, bounded=bounded, method=method, verify=verify, **options)
             for b in range(B)]
    info = {"newton_gap": np.concatenate([p.info["newton_gap"] for p in parts])}
    return Solution(np.concatenate([p.theta for p in parts]), np.concatenate([p.status for p in parts]),
                    np.concatenate([p.nfev for p in parts]), np.concatenate([p.objective for p in parts]),
                    None, np.concatenate([p.njev for p in parts]), None, info)


def registered_name(method: str) -> str:
    """The registry's name of sherpa's ``method`` (``"levmar"`` → ``"sherpa-levmar"``).

    Examples
    --------
    >>> registered_name("levmar")
    'sherpa-levmar'
    """
    if method not in SHERPA_METHODS:
        raise OptimizerError(f"sherpa `method` must be one of {tuple(SHERPA_METHODS)}, got {method!r}")
    return PREFIX + method


_DESCRIPTIONS = {
    "simplex": "sherpa's NelderMead simplex on the loss objective, one pixel at a time",
    "levmar": "sherpa's LevMar (MINPACK lmdif) on the residuals (ls only), one pixel at a time",
    "moncar": "sherpa's MonCar (differential evolution, seeded) on the loss objective, one pixel at a time",
    "gridsearch": "sherpa's GridSearch between finite bounds (option refine='neldermead'/'levmar'), "
                  "one pixel at a time",
}


def _spec(method: str) -> OptimizerSpec:
    return OptimizerSpec(
        name=PREFIX + method,
        solve=lambda problem, loss=None, _m=method, **kw: solve_sherpa_pixels(problem, loss, method=_m, **kw),
        bounds=True,
        gradients=False,
        errors=True,
        losses=frozenset({"ls"}) if method == "levmar" else ALL_LOSSES,
        batched=False,
        kind="global" if method in ("moncar", "gridsearch") else "local",
        needs_finite_bounds=method == "gridsearch",
        description=_DESCRIPTIONS[method],
    )


for _method in SHERPA_METHODS:
    register(_spec(_method))
