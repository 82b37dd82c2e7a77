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
from ..problem.compile import compile_problem
from ..problem.pixels import PixelChunk, as_pixels, run_in
from ..problem.problem import Problem
from ..problem.request import check_finite_bounds, make_request
from ..problem.verify import too_few_points
from ..signals.lazy import is_dask_array
from .fittable_model import fit_summary
from .goodness_maps import GoodnessMapsMixin
from .write_back import WriteBackMixin

_log = logging.getLogger("swiftfit")
_X = sympy.Symbol("x", real=True)


class FittingMixin(WriteBackMixin, GoodnessMapsMixin):
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
        nav = self._nav_shape  # read once (a property through the axes manager)
        if idx == ():
            rows = array[None]
        elif (run := run_in(pixels, nav)) is not None and isinstance(array, np.ndarray) \
                and array.flags.c_contiguous:
            # a run of consecutive pixels (a batched chunk), known from its flat positions: a view
            rows = array.reshape((-1,) + array.shape[len(nav):])[run[0]:run[1]]
        else:
            flat = np.ravel_multi_index(idx, nav)
            if isinstance(array, np.ndarray) and array.flags.c_contiguous and flat.size and \
                    flat[-1] - flat[0] == flat.size - 1 and (np.diff(flat) == 1).all():
                # a run of consecutive pixels (a batched chunk): a view, not a gather
                rows = array.reshape((-1,) + array.shape[len(nav):])[flat[0]:flat[-1] + 1]
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
