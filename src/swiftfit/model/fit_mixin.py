"""Fitting machinery shared by every model: compile -> solve -> write back."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import sympy

from .. import losses as _losses
from ..errors import FitFailedError, FitWarning, InvalidInputError
from ..optimizers import registry
from ..preferences import preferences
from ..problem.compile import compile_problem
from ..problem.fastops import LazyStats, all_nan_blocks, row_counts
from ..problem.goodness import (
    dof_and_reduced,
    information_criteria,  # (also re-exported: samfire imports it here)
    scale_covariance,
)
from ..problem.pixels import PixelChunk, as_pixels, run_in
from ..problem.problem import Problem, nonzero_columns, relevance
from ..problem.request import check_finite_bounds, make_request
from ..problem.solution import Solution, Status
from ..problem.verify import status_in, too_few_points
from ..problem.verify import verify as _verify
from ..signals.lazy import is_dask_array
from .fittable_model import fit_summary

_log = logging.getLogger("swiftfit")
_X = sympy.Symbol("x", real=True)


class FittingMixin:
    """``fit``, ``multifit``, goodness-of-fit maps and model evaluation."""

    def _init_fit_state(self) -> None:
        nav = self._nav_shape
        self._chisq = np.full(nav, np.nan)
        self._dof = np.full(nav, np.nan)
        self._nfev = np.zeros(nav, dtype=int)
        self._status = np.zeros(nav, dtype=int)
        self._compiled = np.zeros(nav, dtype=bool)  # fitted wholly by a compiled kernel
        self._varpro = np.zeros(nav, dtype=bool)  # fitted by variable projection (optimizers.varpro)
        self._lnl = np.full(nav, np.nan)
        self._nfree = np.full(nav, np.nan)
        self.fit_output = None
        self.covariance = None

    # ------------------------------------------------ covariance & correlation
    @property
    def covariance(self):
        """Covariance of the free parameters after the last ``fit()``: a
        :class:`~swiftfit.model.report.NamedMatrix` (an ndarray with
        ``.names``, the ``"Component.parameter"`` of ``fit_output.parameter_names``),
        or None.

        Examples
        --------
        >>> m.fit(); m.covariance["Gaussian.A", "Gaussian.sigma"]    # doctest: +SKIP
        """
        return self._covariance

    @covariance.setter
    def covariance(self, value) -> None:
        out = getattr(self, "fit_output", None)
        names = None if out is None else out.get("parameter_names")
        if value is not None and names is not None and np.shape(value) == (len(names), len(names)):
            from .report import NamedMatrix

            value = NamedMatrix(value, names)
        self._covariance = value

    @property
    def correlation(self):
        """Correlation matrix of the free parameters, ``cov / (σ σᵀ)``, with the
        covariance's names (NaN where a variance is unknown or zero), or None.

        Examples
        --------
        >>> m.fit(); print(m.correlation)    # doctest: +SKIP
        """
        cov = self.covariance
        if cov is None:
            return None
        from .report import NamedMatrix

        a = np.asarray(cov, dtype=float)
        with np.errstate(all="ignore"):
            sd = np.sqrt(np.diag(a))
            corr = a / np.outer(sd, sd)
        names = getattr(cov, "names", None)
        return corr if names is None else NamedMatrix(corr, names)

    # ----------------------------------------------------- pixels & data
    def _nav_index(self, pixels):
        nav = self._nav_shape
        if not nav:
            return ()
        if type(pixels) is PixelChunk and pixels.nav == nav:  # a batched chunk: its own index arrays
            return pixels.index
        pixels = pixels if isinstance(pixels, list) else list(pixels)
        # one multifit chunk asks several times (compile, rows, write-back) for the
        # same pixels: the last answer is kept (read-only) while they are equal
        # (tuples only: they cannot change in place, and compare without ambiguity)
        memo = getattr(self, "_nav_memo", None)
        tuples = bool(pixels) and type(pixels[0]) is tuple
        if tuples and memo is not None and memo[0] == nav:
            try:
                if memo[1] == pixels:
                    return memo[2]
            except (ValueError, TypeError):  # e.g. an array inside a tuple
                pass
        # one conversion of the index tuples (B, ndim), not one list per dimension
        at = np.array(pixels, dtype=np.intp).reshape(-1, len(nav))
        idx = tuple(np.ascontiguousarray(at[:, k]) for k in range(len(nav)))
        for i in idx:
            i.flags.writeable = False
        self._nav_memo = (nav, list(pixels), idx) if tuples else None
        return idx

    def _rows(self, array: np.ndarray, pixels) -> np.ndarray:
        """``array`` (nav + signal shaped) at ``pixels``, in range: ``(B, N)``."""
        idx = self._nav_index(pixels)
        if idx == ():
            rows = array[None]
        elif (run := run_in(pixels, self._nav_shape)) is not None and isinstance(array, np.ndarray) \
                and array.flags.c_contiguous:
            # a run of consecutive pixels (a batched chunk), known from its flat positions: a view
            rows = array.reshape((-1,) + array.shape[len(self._nav_shape):])[run[0]:run[1]]
        else:
            flat = np.ravel_multi_index(idx, self._nav_shape)
            if isinstance(array, np.ndarray) and array.flags.c_contiguous and flat.size and \
                    flat[-1] - flat[0] == flat.size - 1 and (np.diff(flat) == 1).all():
                # a run of consecutive pixels (a batched chunk): a view, not a gather
                rows = array.reshape((-1,) + array.shape[len(self._nav_shape):])[flat[0]:flat[-1] + 1]
            elif is_dask_array(array):  # a lazy signal: only these pixels are read (by asarray below)
                rows = array.vindex[idx]
            else:
                rows = array[idx]
        rows = np.asarray(rows).reshape(rows.shape[0], -1)
        switches = self._channel_switches.ravel()
        return rows if switches.all() else rows[:, switches]

    def _variance_rows(self, pixels):
        md = self.signal.metadata
        variance = md.get_item("Signal.Noise_properties.variance") if md.has_item("Signal.Noise_properties.variance") else None
        if variance is None:
            return None
        B = len(pixels) if isinstance(pixels, (list, PixelChunk)) else len(list(pixels))
        if hasattr(variance, "data"):
            if is_dask_array(variance.data) and tuple(variance.data.shape) == tuple(self.signal.data.shape):
                return self._rows(variance.data, pixels)  # lazy: read at these pixels only
            var = np.asarray(variance.data, dtype=float)
            if var.shape != self.signal.data.shape:
                var = np.broadcast_to(var, self.signal.data.shape)
            rows = self._rows(var, pixels)
        else:
            var = np.asarray(variance, dtype=float)
            if var.ndim == 0:
                rows = np.full((B, int(self._channel_switches.sum())), float(var))
            else:
                rows = self._rows(np.broadcast_to(var, self.signal.data.shape), pixels)
        return rows

    def _problem(self, pixels, *, grad="auto", fd_scheme="2-point", check=True) -> Problem:
        """Compile the model for ``pixels`` (array-order index tuples)."""
        pixels = as_pixels(pixels)
        return compile_problem([(self, pixels)], grad=grad, fd_scheme=fd_scheme, check=check)

    def _evaluation(self):
        """Where components are evaluated and how that maps to the data points:
        ``(coords, binscale, transform)``; Model2D adds PSF/oversampling.
        """
        return self._coordinates(), self._binscale(), None

    # ------------------------------------------------------------- fit
    def fit(
        self,
        optimizer: str | None = None,
        loss_function="ls",
        grad="auto",
        bounded: bool = False,
        update_plot: bool = False,
        print_info: bool = False,
        return_info: bool = True,
        fd_scheme: str = "2-point",
        **kwargs,
    ):
        """Fit the model at the current navigation position.

        Parameters
        ----------
        optimizer : str, optional
            A registered optimizer name (``swiftfit.optimizers.available()``);
            default ``"lm"``, our batched Levenberg–Marquardt.
        loss_function : {"ls", "ML-poisson", "huber"} or callable
            ``"ls"`` is (weighted) least squares; ``"ML-poisson"`` Poisson
            maximum likelihood; ``"huber"`` Huber's robust loss (``huber_delta``
            kwarg, default 1); a callable ``f(model, values, data, weights=None)``
            is a custom loss (seed 000's signature).
        grad : {"auto", "analytical", "fd"} or callable
            Jacobian source: ``"auto"`` uses analytical gradients where
            components provide them and finite differences elsewhere;
            a callable is the gradient of a custom loss (same signature).
        bounded : bool
            Respect each free parameter's ``bmin``/``bmax``.
        print_info : bool
            Print the fit information block.
        return_info : bool
            Return ``fit_output``.
        fd_scheme : {"2-point", "3-point", "cs"}
            Finite-difference scheme for ``grad="fd"``.
        **kwargs
            Passed to the optimizer (e.g. ``ftol``, ``max_nfev``); also
            ``rescale_covariance`` (bool): multiply the covariance by the
            reduced χ². Default: rescale only for ls when no noise variance
            is set (HyperSpy's behaviour). ``errordef`` for custom losses
            (1: χ²-like, the default; 0.5: a negative log-likelihood).

        Returns
        -------
        scipy.optimize.OptimizeResult or None
            Also ``rsquared`` (weighted R²) and ``prior_stat`` (the priors'
            ``Σ −2 ln π`` at the optimum; None without priors).

        Notes
        -----
        A free parameter with a ``prior`` (:mod:`swiftfit.priors`) makes this
        a MAP fit: the objective gets the prior penalty and the covariance is
        the posterior's. ``"lm"`` then runs its damped Newton solver on the
        loss (never the residual LM or its compiled kernel); scipy minimizers
        and MINUIT work as usual; residual-only optimizers refuse. Without
        priors nothing differs.

        Examples
        --------
        >>> s = swiftfit.signals.Signal1D(np.arange(100.0))        # doctest: +SKIP
        >>> m = s.create_model(); m.append(Polynomial(order=1))    # doctest: +SKIP
        >>> m.fit().success                                        # doctest: +SKIP
        True
        """
        grad, bounded = _none_as_hyperspy(grad, bounded)
        spec, loss, grad_mode, rescale = self._fit_setup(optimizer, loss_function, grad, bounded, kwargs,
                                                         fd_scheme=fd_scheme)
        # verify=False: the optimizer's own word (scipy minimizers take it too), unchecked
        verify = self._request.verify
        # a constrained optimum (SLSQP constraints) or ODR's errors-in-variables one is no
        # minimum of the residuals alone: the Newton check does not apply
        verify = verify and not kwargs.get("constraints") and spec.name != "odr"
        self._remember_fit(loss, bounded)
        pixel = tuple(self.axes_manager._array_indices) if self._nav_shape else ()
        start = time.perf_counter()
        problem = self.compile([pixel], self._request)  # the fittable interface (swiftfit.problem.fittable)
        if not np.isfinite(problem.data).all():
            raise InvalidInputError(
                f"the signal data at navigation position {tuple(self.axes_manager.indices)} contain NaN "
                "or inf inside the signal range; remove them from the range or fix the data"
            )
        self._check_problem(spec, loss, problem, bounded)
        problem = poisson_start(problem, loss, bounded)
        solution = too_few_points(problem) or spec.solve(problem, loss, bounded=bounded, **kwargs)
        stats = self.write_back(problem, solution, [pixel], loss=loss, rescale=rescale, verify=verify)
        elapsed = time.perf_counter() - start
        self.fit_output = fit_summary(spec.name, loss.name, grad, bounded, problem, solution, stats, elapsed,
                                      loss_obj=loss)
        self.covariance = None if stats["covariance"] is None else stats["covariance"][0]
        if not self.fit_output.success:
            warnings.warn(f"fit did not succeed: {self.fit_output.message}", FitWarning, stacklevel=2)
            # HyperSpy logs it: scripts and tests read the log
            _log.warning("`m.fit()` did not exit successfully. Reason: %s", self.fit_output.message)
        if print_info:
            print(_info_block(spec.name, loss.name, bounded, grad, self.fit_output))
        return self.fit_output if return_info else None

    def _fit_setup(self, optimizer, loss_function, grad, bounded, kwargs, fd_scheme="2-point"):
        """Resolve and check optimizer, loss and gradient options, up front, by the
        one request function (:func:`swiftfit.problem.request.make_request`);
        ``kwargs`` keeps only the solver's options. The request is ``self._request``.
        """
        req = make_request(optimizer, loss_function, grad, bounded, fd_scheme=fd_scheme, options=kwargs, model=self,
                           parameters=[p for c in self._components for p in c.parameters])
        kwargs.clear()
        kwargs.update(req.options)
        self._request = req
        return req.optimizer, req.loss, req.gradients, req.rescale_covariance

    def _remember_fit(self, loss, bounded) -> None:
        """The loss (without priors) and bounds of the last fit of any kind
        (fit, multifit, joint, Fit): what a later profile (swiftfit.stats) uses.
        """
        self._last_fit_setup = {"loss_function": getattr(loss, "base", loss), "bounded": bool(bounded)}

    def _check_problem(self, spec, loss, problem: Problem, bounded: bool) -> None:
        loss.check_data(problem)
        if spec.linear and problem.P == 0:  # HyperSpy's RuntimeError and message
            raise FitFailedError(f"Model does not contain any free components! optimizer {spec.name!r} has "
                                 "nothing to fit: free a parameter (set_parameters_free) first")
        if isinstance(loss, _losses.PriorLoss):
            start = problem.p0 if not (bounded and problem.bounded) else np.clip(problem.p0, problem.lower, problem.upper)
            for j, prior in loss._columns(problem):
                if not np.isfinite(prior.stat(start[:, j])).all():
                    raise InvalidInputError(
                        f"the starting value of {problem.names[j]} ({float(start[0, j])!r}) is outside the "
                        f"support of its prior {prior!r}; start the fit inside it"
                    )
        check_finite_bounds(spec, problem)
        if bounded and problem.bounded:
            p0 = problem.p0
            outside = ((p0 < problem.lower) | (p0 > problem.upper)).any(axis=0)
            if outside.any():
                _log.info("starting values of %s are outside their bounds and are moved inside",
                          [problem.names[j] for j in np.flatnonzero(outside)])

    def ensure_parameters_in_bounds(self) -> None:
        """Move the free parameters of the active components inside [bmin, bmax]
        at the current position (HyperSpy's ``snap_parameter_bounds``: fixed,
        tied and inactive ones keep their values).

        Examples
        --------
        >>> m[0].sigma.bmax = 3.0
        >>> m.ensure_parameters_in_bounds()
        >>> m[0].sigma.value
        3.0
        """
        for comp in self._components:
            if not comp.active:
                continue
            for p in comp.parameters:
                if p.free:
                    value = p._clip(p.value)
                    if value != p.value:
                        p.value = value

    def _write_back(self, problem: Problem, solution: Solution, pixels, rescale=None, loss=None, parts=None,
                    verify: bool = True):
        """Write values, std, is_set and goodness of fit into the maps, in one step.

        The covariance is the solver's when it gives one, else the loss's
        (Gauss–Newton, Fisher, inner-point or numerical Hessian). It is
        multiplied by the reduced χ² for ls without a noise variance (or as
        ``rescale`` says). ``parts`` (a joint fit): ``[(model, pixels), ...]``;
        each parameter is written at its own model's pixels, and every model's
        goodness-of-fit maps get the joint statistics.
        """
        loss = _losses.get("ls") if loss is None else loss
        parts = [(self, pixels)] if parts is None else parts
        idx_of = {id(m): m._nav_index(px) for m, px in parts}
        # a batched chunk that is one run of consecutive pixels is written through a slice
        run_of = {id(m): run_in(px, m._nav_shape) for m, px in parts}
        theta = solution.theta
        status = np.array(solution.status, dtype=int)
        written = status != _BAD_DATA_CODE  # an int: comparing with the IntEnum costs ~8 µs a call
        # the derivatives serve the ties (their relevance and std) only
        tied = any(plan.kind in ("twin", "expr") for plan in problem.plans)
        values, dvals = problem.parameter_values(theta, derivatives=True) if tied else \
            (problem.parameter_values(theta), [None] * len(problem.plans))
        with np.errstate(all="ignore"):
            chisq = solution.info.get("chisq")
            if chisq is None:  # a solver that knows the weighted χ² at theta passes it on
                resid = problem.residuals(theta)
                chisq = np.einsum("bn,bn->b", resid, resid)
            objective = chisq if loss.name == "ls" else loss.value(problem, theta)
        status[(status > 0) & ~np.isfinite(objective)] = _NONFINITE_CODE
        n = problem.N
        k = problem.P
        # free parameters that reach the model at each pixel (a component
        # inactive there takes its own out), as a single fit there would count
        rel = solution.info.get("relevance")  # an engine that knows it exactly (the compiled kernel)
        kk = solution.info.get("relevance_counts")
        if not (isinstance(rel, np.ndarray) and rel.shape == (problem.B, k) and rel.dtype == bool):
            rel = relevance(problem, theta, dvals) if k else np.zeros((problem.B, 0), dtype=bool)
            kk = None
        if not (isinstance(kk, np.ndarray) and kk.shape == (problem.B,)):
            kk = row_counts(rel)  # rel.sum(axis=1), exactly
        if verify:  # success means verified, whichever door and optimizer (swiftfit.problem.verify)
            # a solver hands over what the checks need at its answer (no second evaluation)
            status, gap = _verify(problem, loss, theta, status, rel, checks=solution.info.get("checks"))
            solution.info.setdefault("newton_gap", gap)
        with np.errstate(all="ignore"):
            lnl = loss.log_likelihood_from_chisq(problem, chisq) if loss.name == "ls" else loss.log_likelihood(problem, theta)
            if isinstance(loss, _losses.PriorLoss) and loss.name == "ls":
                lnl = lnl + loss.log_prior(problem, theta)  # the log posterior, as the objective
        # goodness()'s dof and reduced χ² (its information criteria only when read: LazyStats)
        ndata, nfree = np.asarray(n), np.asarray(kk)
        dof, red = dof_and_reduced(chisq, ndata, nfree)
        lnl_arr = np.asarray(lnl, float)
        cov = solution.covariance
        # calculate_errors=False (linear optimizers): no covariance, std left NaN
        if cov is None and k and solution.info.get("errors", True):
            with np.errstate(all="ignore"):
                cov = loss.covariance(problem, theta)
        raw_cov, undetermined, scaled = cov, None, None
        if cov is not None and k:
            singular = all_nan_blocks(cov) & (status > 0)  # np.isnan(cov).all(axis=(1, 2)), exactly
            status[singular] = _SINGULAR_CODE
            if rescale is None:  # ls only: the others' covariances carry their own scale
                rescale = problem.weights is None and loss.name == "ls"
            # not determined: no error bars at all (NaN, never a std of 0)
            undetermined = status_in(status, _UNDETERMINED)
            if not undetermined.any():
                undetermined = None
            # the ties' errors read the whole (scaled) matrix, but for identity twins (its diagonal)
            if tied and any(plan.kind != "free" and dvals[i] is not None and _unit_column(dvals[i]) < 0
                            for i, plan in enumerate(problem.plans)):
                scaled = _scaled_covariance(raw_cov, red, rescale, undetermined)
                cov = scaled
        params = [p for c in problem.components for p in c.parameters]
        sel = np.flatnonzero(written)
        # where each model's maps are written, found once (not per parameter and field)
        take = None if sel.size == problem.B else sel
        pos_of = {key: _positions(idx, sel, run_of[key]) for key, idx in idx_of.items()}
        ones = np.ones(problem.B, bool)
        if cov is not None:
            cov_diag = np.einsum("bpp->bp", cov)
            if k and scaled is None:
                # the diagonal of the scaled matrix: the same products, without the (B, P, P) pass
                if rescale:  # scale_covariance's products on the diagonal (red (B,): one per pixel)
                    cov_diag = cov_diag * red[:, None]
                if undetermined is not None:
                    cov_diag = np.array(cov_diag, dtype=float)
                    cov_diag[undetermined] = np.nan
            with np.errstate(invalid="ignore"):
                std_free = np.sqrt(cov_diag)  # the free columns' errors, NaN where undetermined
        for i, p in enumerate(params):
            plan = problem.plans[i]
            if plan.kind == "fixed":  # as HyperSpy: every parameter of a fitted pixel is set
                _store(p._map, "is_set", pos_of[id(p.component.model)], ones, take)
                continue
            v = values[i] if np.shape(values[i]) == (problem.B,) else np.broadcast_to(values[i], (problem.B,))
            if cov is not None and plan.kind == "free":
                std = std_free[:, plan.column]
            elif cov is not None and dvals[i] is not None:
                # only the columns it depends on somewhere (a twin: one; the
                # others add exact zeros to the sum)
                j = _unit_column(dvals[i])
                if j >= 0:  # d = one column's unit row (an identity twin): the sum below is that variance
                    c = cov_diag[:, j]
                    with np.errstate(invalid="ignore"):
                        std = np.sqrt(np.nan_to_num(c, nan=0.0) + 0.0)  # + 0.0: the sum's +0 for a -0
                    std = np.where(np.isnan(c), np.nan, std)
                else:
                    on = np.flatnonzero(nonzero_columns(dvals[i]))
                    d = dvals[i][:, on]
                    with np.errstate(invalid="ignore"):
                        cov_known = np.nan_to_num(cov[:, on[:, None], on], nan=0.0)
                        std = np.sqrt(np.einsum("bp,bpq,bq->b", d, cov_known, d))
                    # undetermined if it depends on a column whose variance is unknown
                    unknown = (np.isnan(cov_diag[:, on]) & (d != 0)).any(axis=1)
                    std = np.where(unknown, np.nan, std)
            else:
                std = np.full(problem.B, np.nan)
            idx = pos_of[id(p.component.model)]
            _store(p._map, "values", idx, v, take)
            _store(p._map, "std", idx, std, take)
            _store(p._map, "is_set", idx, ones, take)
        for m, _ in parts:
            idx = pos_of[id(m)]
            _store(m._chisq, None, idx, chisq, take)
            _store(m._dof, None, idx, dof.astype(float), take)
            _store(m._nfev, None, idx, solution.nfev, take)
            _store(m._status, None, idx, status, take)
            compiled = getattr(m, "_compiled", None)
            if compiled is not None and compiled.shape == m._status.shape:
                _store(compiled, None, idx, solution.info.get("compiled", np.zeros(problem.B, dtype=bool)), take)
            vp = getattr(m, "_varpro", None)
            if vp is not None and vp.shape == m._status.shape:
                _store(vp, None, idx, solution.info.get("varpro", np.zeros(problem.B, dtype=bool)), take)
            _store(m._lnl, None, idx, lnl, take)
            _store(m._nfree, None, idx, kk.astype(float), take)
        def covariance():
            if raw_cov is None or not k or scaled is not None:
                return cov
            return _scaled_covariance(raw_cov, red, rescale, undetermined)

        def criteria():
            return information_criteria(lnl_arr, nfree, ndata)

        return LazyStats(
            {"chisq": chisq, "dof": dof, "red_chisq": red, "covariance": covariance, "status": status,
             "log_likelihood": lnl, "aic": lambda: criteria()[0], "aicc": lambda: criteria()[1],
             "bic": lambda: criteria()[2]},
            lazy=("covariance", "aic", "aicc", "bic"))

    @property
    def _report_output(self):
        return self.fit_output

    def fit_report(self, show_correl: bool = True, min_correl: float = 0.1) -> str:
        """The last fit as lmfit's report: [[Fit Statistics]], [[Variables]]
        (``value +/- std (pct%) (init = …)``, ties as ``== 'expr'``) and
        [[Correlations]] above ``min_correl``, largest first.

        Examples
        --------
        >>> m.fit(); print(m.fit_report())    # doctest: +SKIP
        """
        from .report import model_fit_report

        return model_fit_report([self], [""], show_correl, min_correl)

    # --------------------------------------------------- goodness maps
    def _nav_signal(self, data, title):
        from ..signals import BaseSignal

        data = np.asarray(data, dtype=float)
        if data.ndim == 0:
            data = data.reshape(1)
            sig = BaseSignal(data)
        else:
            axes = [
                {"size": ax.size, "scale": ax.scale, "offset": ax.offset, "units": ax.units, "name": ax.name}
                for ax in sorted(self.axes_manager.navigation_axes, key=lambda a: a.index_in_array)
            ]
            sig = BaseSignal(data.copy(), axes=axes)
        sig.metadata.General.title = title
        return sig

    @property
    def chisq(self):
        """χ² map: Σ((data − model)²/variance), variance 1 when none is set."""
        return self._nav_signal(self._chisq, "chisq")

    @property
    def dof(self):
        """Degrees of freedom: points in the signal range minus free parameters.

        HyperSpy stores the number of free parameters here; we store what the
        statistics need (``red_chisq = chisq / dof``). With
        ``swiftfit.preferences.conventions = "hyperspy"``, HyperSpy's: the
        number of free parameters.
        """
        if preferences.hyperspy:
            return self._nav_signal(np.asarray(self._nfree, dtype=float), "dof")
        return self._nav_signal(self._dof, "dof")

    @property
    def red_chisq(self):
        """Reduced χ² map, ``chisq / dof`` (``chisq / (N − k − 1)`` with
        ``swiftfit.preferences.conventions = "hyperspy"``).
        """
        dof = self._dof - 1 if preferences.hyperspy else self._dof
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._nav_signal(self._chisq / dof, "red_chisq")

    @property
    def log_likelihood(self):
        """Ln L map of the last fits (Gaussian for ls — σ² profiled when no
        variance is set —, Poisson for ML-poisson; NaN for other losses).
        """
        return self._nav_signal(self._lnl, "log_likelihood")

    @property
    def aic(self):
        """Akaike information criterion map, 2k − 2 ln L (k free parameters)."""
        return self._nav_signal(2 * self._nfree - 2 * self._lnl, "AIC")

    @property
    def aicc(self):
        """AIC with the small-sample correction 2k(k+1)/(n − k − 1)."""
        n = self._dof + self._nfree
        with np.errstate(all="ignore"):
            corr = 2 * self._nfree * (self._nfree + 1) / (n - self._nfree - 1)
        return self._nav_signal(2 * self._nfree - 2 * self._lnl + corr, "AICc")

    @property
    def bic(self):
        """Bayesian information criterion map, k ln n − 2 ln L."""
        n = self._dof + self._nfree
        with np.errstate(all="ignore"):
            return self._nav_signal(self._nfree * np.log(n) - 2 * self._lnl, "BIC")

    # -------------------------------------------------------- evaluate
    def __call__(self, non_convolved: bool = False, onlyactive: bool = False, component_list=None, binned=None):
        """The model at the current position over the channels in the signal range."""
        comps = self._component_list(component_list)
        if onlyactive:
            comps = [c for c in comps if c.active]
        coords, binscale, transform = self._evaluation()
        total = np.zeros(coords[0].shape[0])
        for comp in comps:
            vals = [np.array([[p.value]]) for p in comp.parameters]
            total = total + comp._function_nd(coords, vals)[0]
        use_binned = self._is_binned if binned is None else binned
        total = total * (binscale if use_binned else 1.0)
        return total if transform is None or non_convolved else transform(total[None])[0]

    def _jacobian(self, values, data=None, weights=None):
        """``d model / d free values`` at the current position, shape ``(P, N)``."""
        pixel = tuple(self.axes_manager._array_indices) if self._nav_shape else ()
        problem = self._problem([pixel])
        theta = np.asarray(values, dtype=float).reshape(1, -1)
        return problem.jacobian(theta)[0].T

    def as_signal(self, component_list=None, out_of_range_to_nan: bool = True, show_progressbar=None,
                  chunk_size: int = 4096, out=None, lazy_output=None):
        """The model evaluated at every navigation position, as a signal like the data.

        ``out_of_range_to_nan=False`` evaluates the model outside the signal
        range too (HyperSpy's behaviour); ``out`` (a signal of the data's
        shape) receives the values instead of a new signal; ``lazy_output``
        returns a lazy signal.
        """
        if out is not None:
            if tuple(np.shape(out.data)) != tuple(self.signal.data.shape):
                raise InvalidInputError(
                    f"`out` must be a signal of shape {self.signal.data.shape}, got {np.shape(out.data)}"
                )
            out.data[...] = self.as_signal(component_list, out_of_range_to_nan, chunk_size=chunk_size).data
            return None
        comps = self._component_list(component_list)
        chosen = {id(c) for c in comps}
        nav = self._nav_shape
        pixels = list(np.ndindex(*nav)) if nav else [()]
        out = np.full((len(pixels), int(np.prod(self._signal_shape_in_array))), np.nan)
        switches = self._channel_switches
        if not out_of_range_to_nan:  # the model over every channel, as HyperSpy gives it
            self._channel_switches = np.ones_like(switches)
        try:
            mask = self._channel_switches.ravel()
            for start in range(0, len(pixels), chunk_size):
                self._as_signal_chunk(pixels[start:start + chunk_size], start, out, mask, chosen)
        finally:
            self._channel_switches = switches
        data = out.reshape(nav + self._signal_shape_in_array)
        sig = self.signal._deepcopy_with_new_data(data)
        sig.metadata.General.title = f"{self.title} model".strip()
        return sig.as_lazy() if lazy_output else sig

    def _as_signal_chunk(self, chunk, start, out, mask, chosen) -> None:
        problem = self._problem(chunk, check=False)
        contributions = problem.evaluate_components(problem.p0)
        total = sum((f for f, comp in zip(contributions, problem.components) if id(comp) in chosen),
                    np.zeros((len(chunk), problem.N)))
        out[start:start + len(chunk)][:, mask] = total


_BAD_DATA_CODE, _NONFINITE_CODE, _SINGULAR_CODE = int(Status.BAD_DATA), int(Status.NONFINITE), int(Status.SINGULAR)
# statuses whose parameters are not determined: their errors are NaN
_UNDETERMINED = [int(s) for s in (Status.SINGULAR, Status.TOO_FEW_POINTS, Status.ZERO_MODEL, Status.UNDERFLOW,
                                  Status.OVERFLOW)]


def poisson_start(problem: Problem, loss, bounded: bool) -> Problem:
    """``problem``, with a least-squares start for the pixels where a Poisson
    fit cannot start.

    Where the model at the start is zero (or negative) at a positive count,
    ln L is −∞ and no step from there can be judged (a Gaussian and an
    ``Offset()`` at their defaults, far from the data). Those pixels start
    instead from a least-squares fit ("lm") from the same values, when the
    model is positive wherever the counts are there; otherwise they keep
    their start, and the fit fails with ``ZERO_MODEL``
    (:mod:`swiftfit.problem.verify`). Other losses: ``problem`` unchanged.
    """
    if getattr(loss, "name", None) != "ML-poisson" or problem.P == 0 or problem.N < problem.P:
        return problem
    p0 = problem.p0 if not (bounded and problem.bounded) else np.clip(problem.p0, problem.lower, problem.upper)
    with np.errstate(all="ignore"):
        stuck = np.flatnonzero(~np.isfinite(loss.value(problem, p0)))
    if stuck.size == 0:
        return problem
    sub = problem.take(stuck)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ls = registry.get("lm").solve(sub, _losses.get("ls"), bounded=bounded)
        usable = np.isfinite(loss.value(sub, ls.theta)) & np.isfinite(ls.theta).all(axis=1)
    if not usable.any():
        return problem
    out = problem.take(np.arange(problem.B))
    out.p0 = np.array(problem.p0, dtype=float)
    out.p0[stuck[usable]] = ls.theta[usable]
    _log.info("ML-poisson: %d pixel(s) start from a least-squares fit (the model was zero where counts "
              "are positive)", int(usable.sum()))
    return out


def _unit_column(d) -> int:
    """The column of a derivative ``(B, P)`` that is one row at every pixel
    (broadcast) with a single nonzero entry, exactly 1 — an identity twin's —
    else -1.
    """
    if d is None or np.ndim(d) != 2 or d.shape[0] == 0 or d.strides[0] != 0:
        return -1
    row = d[0]
    nz = np.flatnonzero(row)
    return int(nz[0]) if nz.size == 1 and row[nz[0]] == 1.0 else -1


def _scaled_covariance(cov, red, rescale, undetermined):
    """The covariance the write-back returns: scaled by the reduced χ² when
    ``rescale``, NaN at the ``undetermined`` pixels (None: none).
    """
    cov = scale_covariance(cov, red, rescale)
    if undetermined is not None:
        cov = np.array(cov, dtype=float)
        cov[undetermined] = np.nan
    return cov


def _positions(idx, sel, run=None):
    """Where :func:`_store` writes the pixels ``sel`` of a model whose pixels
    are at ``idx`` (its ``_nav_index``): ``()`` without navigation (None when
    nothing is selected), a ``slice`` of the flattened maps when every pixel
    is written and they are one ``run`` of consecutive flat positions
    (:class:`~swiftfit.problem.pixels.PixelChunk`), else the selected pixels'
    index arrays.
    """
    if idx == ():
        return () if sel.size else None
    if run is not None and sel.size and sel.size == idx[0].size:
        return slice(run[0], run[1])
    if len(idx) == 1 and sel.size and sel.size == idx[0].size:
        # every pixel of a run of consecutive ones (a batched chunk of a 1-D map):
        # a slice, written without a fancy-index per field
        first, last = int(idx[0][0]), int(idx[0][-1])
        if last - first == sel.size - 1 and (sel.size == 1 or bool((np.diff(idx[0]) == 1).all())):
            return (slice(first, last + 1),)
    return tuple(i[sel] for i in idx)


def _store(target: np.ndarray, field, pos, values, take=None) -> None:
    """``target[field][pos] = values[take]`` (``take`` None: every value)."""
    if pos is None:
        return
    arr = target if field is None else target[field]
    values = np.asarray(values)
    if type(pos) is slice:  # consecutive flat positions (C order) of the maps
        if target.flags.c_contiguous:
            arr = target.reshape(-1) if field is None else target.reshape(-1)[field]  # views
        else:
            pos = np.unravel_index(np.arange(pos.start, pos.stop), target.shape)
    elif pos == ():
        arr[()] = values[0 if take is None else take[0]]
        return
    arr[pos] = values if take is None else values[take]


def _none_as_hyperspy(grad, bounded):
    """HyperSpy's ``None`` spellings: ``bounded=None`` is unbounded; ``grad=None``
    (no gradient information) is served by finite differences.
    """
    return ("fd" if grad is None else grad), (False if bounded is None else bounded)


def _info_block(optimizer, loss, bounded, grad, result) -> str:
    body = "\n".join("  " + line for line in repr(result).splitlines())
    return (
        "Fit info:\n"
        f"  optimizer={optimizer}\n"
        f"  loss_function={loss}\n"
        f"  bounded={bounded}\n"
        f'  grad="{grad}"\n'
        "Fit result:\n" + body
    )
