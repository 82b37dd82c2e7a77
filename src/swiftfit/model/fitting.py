"""Fitting machinery shared by every model: compile -> solve -> write back."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import sympy
from scipy.optimize import OptimizeResult

from .. import losses as _losses
from ..errors import FitWarning, InvalidInputError
from ..fitting.problem import ParamPlan, Problem, compile_tie
from ..fitting.solution import Solution, message
from ..optimizers import registry

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
        self.fit_output = None

    # ----------------------------------------------------- pixels & data
    def _nav_index(self, pixels):
        if not self._nav_shape:
            return ()
        pixels = list(pixels)
        return tuple(np.array([p[k] for p in pixels], dtype=np.intp) for k in range(len(self._nav_shape)))

    def _rows(self, array: np.ndarray, pixels) -> np.ndarray:
        """``array`` (nav + signal shaped) at ``pixels``, in range: ``(B, N)``."""
        idx = self._nav_index(pixels)
        rows = array[None] if idx == () else array[idx]
        rows = np.asarray(rows).reshape(rows.shape[0], -1)
        return rows[:, self._channel_switches.ravel()]

    def _variance_rows(self, pixels):
        md = self.signal.metadata
        variance = md.get_item("Signal.Noise_properties.variance") if md.has_item("Signal.Noise_properties.variance") else None
        if variance is None:
            return None
        B = len(list(pixels))
        if hasattr(variance, "data"):
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

    def _problem(self, pixels, *, grad="auto", fd_scheme="2-point", check=True, theta_from="map") -> Problem:
        """Compile the model for ``pixels`` (array-order index tuples)."""
        pixels = list(pixels)
        B = len(pixels)
        idx = self._nav_index(pixels)
        comps = list(self._components)
        if not comps:
            raise InvalidInputError("the model has no components; append some before fitting")
        params = [p for c in comps for p in c.parameters]
        where = {id(p): i for i, p in enumerate(params)}
        active = np.empty((B, len(comps)), dtype=bool)
        for c, comp in enumerate(comps):
            if comp._active_array is not None:
                arr = comp._active_array
                active[:, c] = arr[idx] if idx != () else arr[()]
            else:
                active[:, c] = comp._active
        slots, k = [], 0
        for comp in comps:
            slots.append(list(range(k, k + len(comp.parameters))))
            k += len(comp.parameters)
        owner = np.repeat(np.arange(len(comps)), [len(c.parameters) for c in comps])
        fixed = np.empty((B, len(params)))
        for i, p in enumerate(params):
            fixed[:, i] = p.map["values"][idx] if p.map.ndim else p.map["values"][()]
        plans: list[ParamPlan] = []
        names, columns = [], []
        for i, p in enumerate(params):
            label = f"{comps[owner[i]].name}.{p.name}"
            if p.twin is not None:
                if id(p.twin) not in where:
                    raise InvalidInputError(f"{label} is twinned to {p.twin!r}, which is not in this model")
                dexpr = sympy.diff(_parse_x(p.twin_function_expr), _X)
                dfun = sympy.lambdify([_X], dexpr, modules=["numpy", "scipy"])
                plans.append(ParamPlan(label, "twin", source=where[id(p.twin)], func=p.twin_function,
                                       dfunc=lambda v, f=dfun: np.broadcast_to(f(v), np.shape(v))))
            elif p._expr_sympy is not None:
                deps = p._expr_dependencies()
                for _, q in deps:
                    if id(q) not in where:
                        raise InvalidInputError(f"{label}.expr refers to {q!r}, which is not in this model")
                func, dfuncs = compile_tie(p._expr_sympy, [n for n, _ in deps])
                plans.append(ParamPlan(label, "expr", func=func, dfunc=dfuncs, deps=[where[id(q)] for _, q in deps]))
            elif p.free and active[:, owner[i]].any():
                plans.append(ParamPlan(label, "free", column=len(names)))
                names.append(label)
                columns.append(i)
            else:
                plans.append(ParamPlan(label, "fixed"))
        order = _topological_order(plans)
        p0 = fixed[:, columns] if columns else np.zeros((B, 0))
        lower = np.array([params[i]._bounds()[0] for i in columns], dtype=float)
        upper = np.array([params[i]._bounds()[1] for i in columns], dtype=float)
        data = self._rows(self.signal.data, pixels).astype(float)
        var = self._variance_rows(pixels)
        weights = None
        if var is not None:
            if check and not (np.isfinite(var).all() and (var > 0).all()):
                bad = var[~(np.isfinite(var) & (var > 0))]
                raise InvalidInputError(
                    "the noise variance (metadata.Signal.Noise_properties.variance) must be positive "
                    f"and finite in the signal range, got values such as {bad.ravel()[:3]}"
                )
            with np.errstate(divide="ignore", invalid="ignore"):
                weights = 1.0 / np.sqrt(var)
        return Problem(
            components=comps, slots=slots, plans=plans, order=order, fixed=fixed,
            coords=self._coordinates(), data=data, weights=weights, binscale=self._binscale(),
            active=active, p0=p0, lower=lower, upper=upper, names=names, grad=grad, fd_scheme=fd_scheme,
        )

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
        loss_function : {"ls"}
            The loss; ``"ls"`` is (weighted) least squares.
        grad : {"auto", "analytical", "fd"}
            Jacobian source: ``"auto"`` uses analytical gradients where every
            component provides them and finite differences elsewhere.
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
            reduced χ². Default: rescale only when no noise variance is set
            (HyperSpy's behaviour).

        Returns
        -------
        scipy.optimize.OptimizeResult or None

        Examples
        --------
        >>> s = swiftfit.signals.Signal1D(np.arange(100.0))        # doctest: +SKIP
        >>> m = s.create_model(); m.append(Polynomial(order=1))    # doctest: +SKIP
        >>> m.fit().success                                        # doctest: +SKIP
        True
        """
        optimizer = "lm" if optimizer is None else optimizer
        spec = registry.get(optimizer)
        loss = _losses.get(loss_function)
        registry.check_capabilities(spec, loss_name=loss.name, bounded=bounded)
        if not isinstance(bounded, (bool, np.bool_)):
            raise InvalidInputError(f"`bounded` must be True or False, got {bounded!r}")
        rescale = kwargs.pop("rescale_covariance", None)
        pixel = tuple(self.axes_manager._array_indices) if self._nav_shape else ()
        start = time.perf_counter()
        problem = self._problem([pixel], grad=grad, fd_scheme=fd_scheme)
        if not np.isfinite(problem.data).all():
            raise InvalidInputError(
                f"the signal data at navigation position {tuple(self.axes_manager.indices)} contain NaN "
                "or inf inside the signal range; remove them from the range or fix the data"
            )
        if problem.bounded and bounded:
            p0 = problem.p0[0]
            outside = (p0 < problem.lower) | (p0 > problem.upper)
            if outside.any():
                _log.info("starting values of %s are outside their bounds and are moved inside",
                          [problem.names[j] for j in np.flatnonzero(outside)])
        solution = spec.solve(problem, loss, bounded=bounded, **kwargs)
        stats = self._write_back(problem, solution, [pixel], rescale)
        elapsed = time.perf_counter() - start
        self.fit_output = self._fit_output(spec.name, loss.name, grad, bounded, problem, solution, stats, elapsed)
        if not self.fit_output.success:
            warnings.warn(f"fit did not succeed: {self.fit_output.message}", FitWarning, stacklevel=2)
        if print_info:
            print(_info_block(spec.name, loss.name, bounded, grad, self.fit_output))
        return self.fit_output if return_info else None

    def _fit_output(self, optimizer, loss, grad, bounded, problem, solution: Solution, stats, elapsed):
        cov = stats["covariance"]
        return OptimizeResult(
            x=solution.theta[0].copy(),
            success=bool(solution.success[0]),
            status=int(solution.status[0]),
            message=message(solution.status[0]),
            nfev=int(solution.nfev[0]),
            njev=None if solution.njev is None else int(solution.njev[0]),
            nit=None if solution.nit is None else int(solution.nit[0]),
            fun=float(solution.objective[0]),
            covariance=None if cov is None else cov[0],
            parameter_names=list(problem.names),
            chisq=float(stats["chisq"][0]),
            dof=int(stats["dof"][0]),
            red_chisq=float(stats["red_chisq"][0]),
            optimizer=optimizer,
            loss_function=loss,
            grad=grad,
            bounded=bounded,
            time=elapsed,
        )

    def _write_back(self, problem: Problem, solution: Solution, pixels, rescale=None):
        """Write values, std, is_set and goodness of fit into the maps, in one step."""
        idx = self._nav_index(pixels)
        theta = solution.theta
        written = solution.status != -4
        values, dvals = problem.parameter_values(theta, derivatives=True)
        resid = problem.residuals(theta)
        chisq = np.einsum("bn,bn->b", resid, resid)
        n = problem.N
        dof = np.full(problem.B, n - problem.P)
        with np.errstate(divide="ignore", invalid="ignore"):
            red = np.where(dof > 0, chisq / dof, np.nan)
        cov = solution.covariance
        if cov is not None:
            if rescale is None:
                rescale = problem.weights is None
            if rescale:
                cov = cov * red[:, None, None]
        params = [p for c in problem.components for p in c.parameters]
        sel = np.flatnonzero(written)
        for i, p in enumerate(params):
            plan = problem.plans[i]
            if plan.kind == "fixed":
                continue
            v = np.broadcast_to(values[i], (problem.B,))
            if cov is not None and dvals[i] is not None:
                d = dvals[i]
                with np.errstate(invalid="ignore"):
                    std = np.sqrt(np.einsum("bp,bpq,bq->b", d, np.nan_to_num(cov, nan=0.0), d))
                undetermined = (np.isnan(cov).any(axis=2) & (d != 0)).any(axis=1)
                std = np.where(undetermined, np.nan, std)
            else:
                std = np.full(problem.B, np.nan)
            _store(p.map, "values", idx, v, sel)
            _store(p.map, "std", idx, std, sel)
            _store(p.map, "is_set", idx, np.ones(problem.B, bool), sel)
        _store(self._chisq, None, idx, chisq, sel)
        _store(self._dof, None, idx, dof.astype(float), sel)
        _store(self._nfev, None, idx, solution.nfev, sel)
        _store(self._status, None, idx, solution.status, sel)
        return {"chisq": chisq, "dof": dof, "red_chisq": red, "covariance": cov}

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
        statistics need (``red_chisq = chisq / dof``).
        """
        return self._nav_signal(self._dof, "dof")

    @property
    def red_chisq(self):
        """Reduced χ² map, ``chisq / dof``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._nav_signal(self._chisq / self._dof, "red_chisq")

    # -------------------------------------------------------- evaluate
    def __call__(self, non_convolved: bool = False, onlyactive: bool = False, component_list=None, binned=None):
        """The model at the current position over the channels in the signal range."""
        comps = self._component_list(component_list)
        if onlyactive:
            comps = [c for c in comps if c.active]
        coords = self._coordinates()
        total = np.zeros(coords[0].shape[0])
        for comp in comps:
            vals = [np.array([[p.value]]) for p in comp.parameters]
            total = total + comp._function_nd(coords, vals)[0]
        use_binned = self._is_binned if binned is None else binned
        return total * (self._binscale() if use_binned else 1.0)

    def _jacobian(self, values, data=None, weights=None):
        """``d model / d free values`` at the current position, shape ``(P, N)``."""
        pixel = tuple(self.axes_manager._array_indices) if self._nav_shape else ()
        problem = self._problem([pixel])
        theta = np.asarray(values, dtype=float).reshape(1, -1)
        return problem.jacobian(theta)[0].T

    def as_signal(self, component_list=None, out_of_range_to_nan: bool = True, show_progressbar=None, chunk_size: int = 4096):
        """The model evaluated at every navigation position, as a signal like the data."""
        comps = self._component_list(component_list)
        chosen = {id(c) for c in comps}
        nav = self._nav_shape
        pixels = list(np.ndindex(*nav)) if nav else [()]
        out = np.full((len(pixels), int(np.prod(self._signal_shape_in_array))), np.nan if out_of_range_to_nan else 0.0)
        mask = self._channel_switches.ravel()
        for start in range(0, len(pixels), chunk_size):
            chunk = pixels[start:start + chunk_size]
            problem = self._problem(chunk, check=False)
            contributions = problem.evaluate_components(problem.p0)
            total = sum((f for f, comp in zip(contributions, problem.components) if id(comp) in chosen),
                        np.zeros((len(chunk), problem.N)))
            out[start:start + len(chunk)][:, mask] = total
        data = out.reshape(nav + self._signal_shape_in_array)
        sig = self.signal._deepcopy_with_new_data(data)
        sig.metadata.General.title = f"{self.title} model".strip()
        return sig


def _store(target: np.ndarray, field, idx, values, sel) -> None:
    arr = target if field is None else target[field]
    values = np.asarray(values)
    if idx == ():
        if sel.size:
            arr[()] = values[0]
        return
    arr[tuple(i[sel] for i in idx)] = values[sel]


def _parse_x(text: str):
    from .. import _expr

    return _expr.parse_expression(text)


def _topological_order(plans) -> list[int]:
    order, state = [], [0] * len(plans)

    def visit(i):
        if state[i] == 2:
            return
        if state[i] == 1:
            raise InvalidInputError(f"parameter ties form a cycle at {plans[i].name}")
        state[i] = 1
        plan = plans[i]
        for j in ([plan.source] if plan.kind == "twin" else plan.deps if plan.kind == "expr" else []):
            visit(j)
        state[i] = 2
        order.append(i)

    for i in range(len(plans)):
        visit(i)
    return order


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
