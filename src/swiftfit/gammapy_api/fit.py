"""Gammapy-style entry: ``Datasets([...])`` and ``Fit().run(datasets)``.

A ``Datasets`` is a list of models (each with its own signal); ``Fit`` fits
them jointly through :class:`~swiftfit.model.joint.JointModel` and returns a
``FitResult`` (``success``, ``optimize_result``, ``covariance_result``,
``parameters``/``models`` tables, ``trace``). Backends:

``"swiftfit"``  our optimizers (``optimize_opts["method"]``, default ``"lm"``);
``"minuit"``    our ``"minuit"`` optimizer: MIGRAD then HESSE (``tol``,
                ``strategy``, ``migrad_opts={"ncall": ...}``);
``"scipy"``     the registered :func:`scipy.optimize.minimize` method
                (:mod:`~swiftfit.optimizers.scipy_min`, default ``"L-BFGS-B"``);
``"sherpa"``    the registered sherpa optimizer (:mod:`~swiftfit.optimizers.sherpa`:
                method "simplex", "levmar", "moncar" or "gridsearch" is
                ``optimizer="sherpa-<method>"``); needs ``pip install sherpa``
                (``make sherpa``) — tested against sherpa 4.19.

Every backend is one registered optimizer, reached through the one request
(:func:`~swiftfit.problem.request.make_request`) as ``m.fit`` reaches it, so
the same options mean the same thing and a success is verified by the same
Newton check (``Fit(backend="scipy", optimize_opts={"method": "TNC"})`` is
``m.fit(optimizer="TNC", bounded=True)`` on the joint model).

Bounds (``bmin``/``bmax``) are always respected, as in Gammapy. Profiles,
intervals, contours and surfaces (:meth:`Fit.confidence`,
:meth:`Fit.stat_profile`, ...) work on the joint objective of all datasets
(:mod:`swiftfit.stats.profile` on the joint model), in the loss's units
(χ² for ls, −ln L for ML-poisson: ``errordef`` 1 and 0.5).

Examples
--------
>>> fit = Fit(backend="minuit", loss_function="ML-poisson", store_trace=True)   # doctest: +SKIP
>>> result = fit.run(Datasets([m]))                                              # doctest: +SKIP
>>> print(result)                                                                # doctest: +SKIP
>>> fit.confidence(Datasets([m]), "alpha")                                       # doctest: +SKIP
{'errp': 0.11, 'errn': 0.10, 'success': True, 'nfev': 120}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import losses as _losses
from ..errors import InvalidInputError, InvalidTypeError, OptimizerError
from ..model.base import BaseModel
from ..model.fittable_model import fit_summary
from ..model.joint import JointModel
from ..optimizers import scipy_min, sherpa
from ..optimizers.minuit import hesse_covariance
from ..problem.request import make_request
from ..problem.verify import too_few_points
from ..stats import profile as _profile
from ..stats.fit_tables import Table, parameter_table
from .trace import TracedLoss, Tracer, trace_residuals

__all__ = ["Datasets", "Fit", "FitResult", "OptimizeResult", "CovarianceResult"]

_BACKENDS = {"swiftfit": "lm", "minuit": "migrad", "scipy": "L-BFGS-B", "sherpa": "simplex"}


class Datasets(list):
    """Models to be fitted together (Gammapy's ``Datasets``).

    Examples
    --------
    >>> datasets = Datasets([m1, m2])           # doctest: +SKIP
    >>> result = Fit().run(datasets)             # doctest: +SKIP
    """

    def __init__(self, models=()):
        models = list(models)
        for m in models:
            if not isinstance(m, BaseModel):
                raise InvalidTypeError(f"Datasets holds models (Model1D/Model2D), got {type(m).__name__}")
        super().__init__(models)


@dataclass
class OptimizeResult:
    """Gammapy's ``OptimizeResult``; ``trace`` is a Table when ``store_trace``."""

    backend: str
    method: str
    success: bool
    message: str
    nfev: int
    total_stat: float
    parameters: dict = field(default_factory=dict)
    trace: Table | None = None

    def __str__(self) -> str:
        return (f"OptimizeResult\n\n\tbackend    : {self.backend}\n\tmethod     : {self.method}\n"
                f"\tsuccess    : {self.success}\n\tmessage    : {self.message}\n"
                f"\tnfev       : {self.nfev}\n\ttotal stat : {self.total_stat:.2f}\n")


@dataclass
class CovarianceResult:
    """Gammapy's ``CovarianceResult``: the free parameters' covariance."""

    success: bool
    matrix: np.ndarray | None
    names: list
    backend: str = "swiftfit"
    method: str = "loss"
    message: str = ""

    def __str__(self) -> str:
        return (f"CovarianceResult\n\n\tbackend    : {self.backend}\n\tmethod     : {self.method}\n"
                f"\tsuccess    : {self.success}\n\tmessage    : {self.message}\n")


@dataclass
class FitResult:
    """What :meth:`Fit.run` returns (Gammapy's ``FitResult``)."""

    optimize_result: OptimizeResult
    covariance_result: CovarianceResult
    models: Table | None = None

    @property
    def success(self) -> bool:
        return self.optimize_result.success and self.covariance_result.success

    @property
    def parameters(self) -> Table | None:
        """The parameter table (name, value, error, unit, min, max, frozen, link, prior)."""
        return self.models

    @property
    def trace(self) -> Table | None:
        return self.optimize_result.trace

    @property
    def total_stat(self) -> float:
        return self.optimize_result.total_stat

    @property
    def nfev(self) -> int:
        return self.optimize_result.nfev

    def __str__(self) -> str:
        return str(self.optimize_result) + "\n" + str(self.covariance_result)


@dataclass
class _State:
    jm: JointModel
    problem: object
    loss: object
    bounded: bool
    solution: object = None


class Fit:
    """Fit models (a ``Datasets``, a list, a JointModel or one model).

    Parameters
    ----------
    backend : {"swiftfit", "minuit", "scipy", "sherpa"}
    loss_function : {"ls", "ML-poisson", "huber"} or list of them
        One loss for all datasets or one per dataset.
    optimize_opts : dict, optional
        ``method`` and the backend's options; a ``backend`` key overrides
        ``backend`` (Gammapy's ``optimize_opts={"backend": "scipy", ...}``).
    covariance_opts : dict, optional
        ``{"backend": "minuit"}``: HESSE at the optimum; default: MINUIT's
        HESSE after a minuit fit, the loss's covariance otherwise.
    confidence_opts : dict, optional
        Default ``sigma``/``reoptimize`` of :meth:`confidence`.
    store_trace : bool
        Record the total statistic and the free parameters at every
        objective evaluation (``optimize_result.trace``).

    Examples
    --------
    >>> fit = Fit(backend="scipy", optimize_opts={"method": "L-BFGS-B"})   # doctest: +SKIP
    >>> fit.run(datasets).success                                          # doctest: +SKIP
    True
    """

    def __init__(self, backend: str = "swiftfit", loss_function="ls", optimize_opts=None,
                 covariance_opts=None, confidence_opts=None, store_trace: bool = False):
        if not isinstance(store_trace, (bool, np.bool_)):
            raise InvalidTypeError(f"`store_trace` must be True or False, got {store_trace!r}")
        for name, opts in (("optimize_opts", optimize_opts), ("covariance_opts", covariance_opts),
                           ("confidence_opts", confidence_opts)):
            if opts is not None and not isinstance(opts, dict):
                raise InvalidTypeError(f"`{name}` must be a dict or None, got {type(opts).__name__}")
        self.backend = backend
        self.loss_function = loss_function
        self.optimize_opts = dict(optimize_opts or {})
        self.covariance_opts = dict(covariance_opts or {})
        self.confidence_opts = dict(confidence_opts or {})
        self.store_trace = bool(store_trace)
        self._check_backend(self._backend())
        self._state: _State | None = None

    # ------------------------------------------------------------ setup
    def _backend(self) -> str:
        return self.optimize_opts.get("backend", self.backend)

    @staticmethod
    def _check_backend(backend) -> None:
        if backend not in _BACKENDS:
            raise InvalidInputError(f"`backend` must be one of {tuple(_BACKENDS)}, got {backend!r}")

    @staticmethod
    def _models(datasets) -> list:
        """The models of ``datasets`` (a Datasets/JointModel, a list of models or a model)."""
        if isinstance(datasets, JointModel):
            return datasets.models
        if isinstance(datasets, BaseModel):
            return [datasets]
        if not isinstance(datasets, (list, tuple)):
            raise InvalidTypeError(f"`datasets` must be a Datasets, a list of models or a model, got "
                                   f"{type(datasets).__name__}")
        return list(datasets)

    def _joint(self, datasets) -> JointModel:
        return datasets if isinstance(datasets, JointModel) else JointModel(self._models(datasets))

    def _fitted(self, datasets) -> bool:
        """Whether the last optimize was of these models (compared without building
        a JointModel, which would register itself with every model).
        """
        return self._state is not None and _same(self._state.jm.models, self._models(datasets))

    def _losses(self, jm):
        """One loss per dataset; a name is checked by :func:`swiftfit.losses.get`, the
        one check of the request builder (:func:`~swiftfit.problem.request.make_request`),
        so a bad ``loss_function`` gets the same error here as at ``m.fit`` and
        ``JointModel.fit``.
        """
        names = self.loss_function if isinstance(self.loss_function, (list, tuple)) else [self.loss_function] * len(jm)
        if len(names) != len(jm):
            raise InvalidInputError(f"`loss_function` must be one loss or {len(jm)} (one per model), got {len(names)}")
        if any(callable(n) and not isinstance(n, _losses.Loss) for n in names):
            raise InvalidInputError("custom loss functions are for single models; Fit takes named losses (or a Loss)")
        return [_losses.get(n) for n in names]

    def _compile(self, datasets) -> _State:
        jm = self._joint(datasets)
        losses = self._losses(jm)
        problem = jm.compile()  # the fittable interface, every model at its current position
        if not np.isfinite(problem.data).all():
            raise InvalidInputError("the data of the datasets contain NaN or inf inside the signal ranges")
        # one loss summed over the stacked data is the joint loss; mixed losses add in −2 ln L units
        loss = losses[0] if len({ls.name for ls in losses}) == 1 else _losses.CompositeLoss(parts=tuple(
            (ls, a, b) for ls, a, b in zip(losses, *_segment_bounds(problem))))
        loss.check_data(problem)
        # priors make it a MAP fit, as for a model's own fit (the same loss when none is set)
        loss = _losses.with_priors(loss, [p for m in jm.models for c in m for p in c.parameters if p.free])
        return _State(jm, problem, loss, bool(problem.bounded))

    def _state_for(self, datasets) -> _State:
        """The compiled state at the models' current values (the best fit after ``optimize``)."""
        if self._fitted(datasets):
            state = self._compile(self._state.jm)
            state.solution = self._state.solution
            return state
        return self._compile(datasets)

    # --------------------------------------------------------- optimize
    def _solve(self, backend, method, opts, state, loss):
        problem, bounded = state.problem, state.bounded
        refused = too_few_points(problem)  # no solver needs to see N < P
        if refused is not None:
            return refused
        if backend == "scipy":  # Gammapy's scipy backend: the registered scipy.optimize.minimize method
            method = scipy_min.canonical(method)
        elif backend == "sherpa":  # the registered sherpa optimizer ("levmar" -> "sherpa-levmar")
            method = sherpa.registered_name(method)
        elif backend == "minuit":
            if method != "migrad":
                raise OptimizerError(f"the minuit backend's `method` is 'migrad', got {method!r}")
            migrad = dict(opts.pop("migrad_opts", None) or {})
            if set(migrad) - {"ncall"}:
                raise OptimizerError(f"`migrad_opts` accepts 'ncall', got {sorted(migrad)}")
            opts.update(migrad)
            method = "minuit"
        # the one request (swiftfit.problem.request): optimizer, capabilities, the MAP solver
        # when state.loss has priors ("lm" then minimises the loss itself), the solver's options
        try:
            req = make_request(method, state.loss, bounded=bool(bounded and problem.bounded),
                               options={**opts, "backend": "numpy"})
        except OptimizerError as exc:
            if "does not support bounds" not in str(exc):
                raise
            limited = [n for n, lo, hi in zip(problem.names, problem.lower, problem.upper)
                       if np.isfinite(lo) or np.isfinite(hi)]
            raise OptimizerError(  # Fit has no `bounded`: it always respects bmin/bmax
                f"optimizer {method!r} does not support bounds, and Fit respects the bmin/bmax of "
                f"{limited}; use a bounded method (e.g. 'lm', 'L-BFGS-B', 'minuit') or remove the bounds"
            ) from None
        return req.optimizer.solve(problem, loss, bounded=bounded, **req.options)

    def optimize(self, datasets) -> OptimizeResult:
        """Minimise the joint statistic; the fitted values are written into the models.

        Examples
        --------
        >>> Fit(backend="scipy").optimize(datasets).total_stat   # doctest: +SKIP
        """
        backend = self._backend()
        self._check_backend(backend)
        opts = {k: v for k, v in self.optimize_opts.items() if k != "backend"}
        method = opts.pop("method", _BACKENDS[backend])
        state = self._compile(datasets)
        tracer = Tracer(state.problem.names) if self.store_trace else None
        loss = state.loss if tracer is None else TracedLoss(state.loss, tracer)
        if tracer is not None and backend == "swiftfit" and method == "lm" and state.loss.name == "ls":
            opts.setdefault("kernel", "numpy")  # the compiled kernel cannot be traced
        start = time.perf_counter()
        if tracer is not None and backend == "swiftfit" and state.loss.name == "ls":
            with trace_residuals(state.problem, tracer):
                solution = self._solve(backend, method, opts, state, loss)
        else:
            solution = self._solve(backend, method, opts, state, loss)
        jm, problem = state.jm, state.problem
        jm.remember_fit(self._losses(jm), state.bounded)
        stats = jm.write_back(problem, solution, loss=state.loss)
        out = fit_summary(backend if backend != "swiftfit" else method, state.loss.name, "auto",
                          state.bounded, problem, solution, stats, time.perf_counter() - start)
        jm.fit_output = out
        jm.covariance = None if stats["covariance"] is None else stats["covariance"][0]
        if len(jm.models) == 1:  # one dataset: its model's own summary, as after m.fit()
            jm.models[0].fit_output = out
            jm.models[0].covariance = jm.covariance
        state.solution = solution
        self._state = state
        sres = solution.info.get("scipy_result")
        message = str(sres.message) if sres is not None and getattr(sres, "message", None) else out.message
        if not out.success and message != out.message:  # a failed verification says why, then the backend
            message = out.message if sres is None or str(sres.message) in out.message else f"{out.message} ({message})"
        params = {}
        for m, name in zip(jm.models, jm.names):
            for comp in m:
                for p in comp.parameters:
                    params[f"{name}.{comp.name}.{p.name}"] = p.value
        return OptimizeResult(backend, method, bool(out.success), message, int(np.sum(solution.nfev)),
                              float(out.fun), params, None if tracer is None else tracer.table())

    def covariance(self, datasets) -> CovarianceResult:
        """The free parameters' covariance at the last optimum (fitting first if needed).

        After a minuit fit: HESSE's (backend "minuit", method "hesse"); with
        ``covariance_opts={"backend": "minuit"}``: HESSE run here; otherwise the
        loss's own (Gauss–Newton / Fisher, ``2·errordef·H⁻¹``).
        """
        if not self._fitted(datasets):
            self.optimize(datasets)
        state = self._state
        names = list(state.problem.names)
        wanted = self.covariance_opts.get("backend")
        if wanted not in (None, "minuit", "swiftfit"):
            raise InvalidInputError(f"covariance_opts `backend` must be 'minuit' or 'swiftfit', got {wanted!r}")
        if wanted == "minuit" or (wanted is None and self._backend() == "minuit"):
            if self._backend() == "minuit" and wanted is None:
                cov = state.solution.covariance[0] if state.solution.covariance is not None else None
                ok = cov is not None and bool(np.isfinite(cov).all())
                msg = "Hesse terminated successfully." if ok else "Hesse failed."
            else:
                theta = np.array(state.solution.theta[0], dtype=float)
                cov, ok, msg = hesse_covariance(state.problem, state.loss, theta)
                if ok:  # the errors follow the covariance asked for
                    self._write_std(state, cov)
            return CovarianceResult(bool(ok), cov, names, "minuit", "hesse", msg)
        cov = state.jm.covariance
        ok = cov is not None and bool(np.isfinite(cov).all())
        return CovarianceResult(bool(ok), cov, names, "swiftfit", "loss",
                                "covariance of the loss at the optimum" if ok else "covariance not finite")

    @staticmethod
    def _write_std(state, cov):
        params = state.jm.parameters()
        for p, plan in zip(params, state.problem.plans):
            if plan.kind == "free":
                p.std = float(np.sqrt(abs(cov[plan.column, plan.column])))

    def run(self, datasets) -> FitResult:
        """Optimise, then estimate the covariance (Gammapy's ``Fit.run``).

        Examples
        --------
        >>> print(Fit(backend="minuit").run(datasets))   # doctest: +SKIP
        """
        opt = self.optimize(datasets)
        cov = self.covariance(datasets)
        jm = self._state.jm
        return FitResult(opt, cov, parameter_table(jm.models, jm.names))

    # ------------------------------------------------------ profiles
    def _profiling(self, datasets) -> _profile._Context:
        """The datasets compiled once for :mod:`swiftfit.stats.profile` (their
        joint model, a fittable, with the fit's loss and bounds): passed to its
        functions in place of a model, so a call compiles them once.
        """
        state = self._state_for(datasets)
        return _profile._Context(state.jm, loss_function=state.loss, bounded=state.bounded)

    @staticmethod
    def _resolve(ctx, parameter, what="parameter"):
        try:
            index, column = ctx.resolve(parameter, what)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        return ctx.params[index], index, column

    def confidence(self, datasets, parameter, sigma=None, reoptimize=None) -> dict:
        """Where the profile of ``parameter`` rises by ``sigma²·errordef`` (MINOS).

        Returns
        -------
        dict
            ``errp`` and ``errn`` (both ≥ 0, Gammapy's convention: the
            interval is ``[value − errn, value + errp]``), ``success``,
            ``nfev``.

        Examples
        --------
        >>> fit.confidence(datasets, "alpha", sigma=2)   # doctest: +SKIP
        """
        sigma = self.confidence_opts.get("sigma", 1) if sigma is None else sigma
        reoptimize = self.confidence_opts.get("reoptimize", True) if reoptimize is None else reoptimize
        ctx = self._profiling(datasets)
        par, index, _ = self._resolve(ctx, parameter)
        try:
            out = _profile.confidence(ctx, par, sigma=sigma, reoptimize=reoptimize)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        return {"errp": out["errp"], "errn": -out["errn"], "success": out["success"], "nfev": out["nfev"]}

    def stat_profile(self, datasets, parameter, reoptimize: bool = False) -> dict:
        """The statistic along the scan set by ``parameter.scan_*``.

        Returns
        -------
        dict
            ``"<name>_scan"`` (the values), ``"stat_scan"`` (the statistic),
            ``"fit_results"`` (empty: the re-optimisations are internal).

        Examples
        --------
        >>> m[0].alpha.scan_n_values = 21                            # doctest: +SKIP
        >>> fit.stat_profile(datasets, "alpha", reoptimize=True)     # doctest: +SKIP
        """
        ctx = self._profiling(datasets)
        par, index, column = self._resolve(ctx, parameter)
        values = _profile.scan_values(par, float(ctx.best[column]), _std(par, ctx.std[column]), ctx.name(index))
        out = _profile.stat_profile(ctx, par, values=values, reoptimize=reoptimize)
        return {f"{par.name}_scan": out["values"], "stat_scan": out["stat"], "fit_results": [],
                "parameter": ctx.name(index), "nfev": out["nfev"]}

    @staticmethod
    def _pair(ctx, x, y):
        try:
            ix, cx, iy, cy = _profile._pair(ctx, x, y)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        px, py = ctx.params[ix], ctx.params[iy]
        kx, ky = (px.name, py.name) if px.name != py.name else (ctx.name(ix), ctx.name(iy))
        return (px, ix, cx, kx), (py, iy, cy, ky)

    def stat_contour(self, datasets, x, y, numpoints: int = 10, sigma: float = 1) -> dict:
        """The ``sigma`` contour of the (x, y) profile (MINUIT's ``mncontour``).

        Returns
        -------
        dict
            ``{x name: xs, y name: ys, "success": bool}``.

        Examples
        --------
        >>> c = fit.stat_contour(datasets, "alpha", "beta", numpoints=20)   # doctest: +SKIP
        """
        ctx = self._profiling(datasets)
        (px, _, _, kx), (py, _, _, ky) = self._pair(ctx, x, y)
        out = _profile.stat_contour(ctx, px, py, numpoints=numpoints, sigma=sigma)
        xs, ys = [v for k, v in out.items() if k not in ("angles", "success", "nfev")]
        return {kx: xs, ky: ys, "success": out["success"], "nfev": out["nfev"]}

    def stat_surface(self, datasets, x, y, reoptimize: bool = False) -> dict:
        """The statistic on the grid of the x and y scans (their ``scan_*`` settings).

        Returns
        -------
        dict
            ``"<x>_scan"``, ``"<y>_scan"``, ``"stat_scan"`` of shape
            ``(len(x scan), len(y scan))``, ``"fit_results"`` (empty).

        Examples
        --------
        >>> fit.stat_surface(datasets, "alpha", "beta", reoptimize=True)   # doctest: +SKIP
        """
        ctx = self._profiling(datasets)
        (px, ix, cx, kx), (py, iy, cy, ky) = self._pair(ctx, x, y)
        xv = _profile.scan_values(px, float(ctx.best[cx]), _std(px, ctx.std[cx]), ctx.name(ix))
        yv = _profile.scan_values(py, float(ctx.best[cy]), _std(py, ctx.std[cy]), ctx.name(iy))
        out = _profile.stat_surface(ctx, px, py, xv, yv, reoptimize=reoptimize)
        return {f"{kx}_scan": out["x_values"], f"{ky}_scan": out["y_values"], "stat_scan": out["stat"],
                "fit_results": [], "nfev": out["nfev"]}


def _same(a: list, b: list) -> bool:
    return [id(m) for m in a] == [id(m) for m in b]


def _std(par, fallback):
    """The parameter's error from the fit, else the objective's own."""
    return par.std if par.std is not None else float(fallback)


def _segment_bounds(problem):
    edges = np.cumsum([0] + [seg.n_points for seg in problem.segments])
    return edges[:-1], edges[1:]
