"""JointModel: several models on their own signals, fitted simultaneously.

The models may differ in everything — lengths, axes, noise, dimensionality
(1-D with 2-D), loss — and share parameters through ``twin`` (across models)
or ``expr`` ties: ``"Gaussian.A"`` names a component of the tied parameter's
own model, ``"m1.Gaussian.A"`` one of the model named ``m1`` in the joint
model (set such exprs once the JointModel exists). The
joint statistic is the sum over datasets, each in its own loss. With models
whose signals share a navigation shape, ``multifit`` fits the joint problem of
every pixel in one batched solve.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .. import losses as _losses
from ..errors import FitWarning, InvalidInputError, InvalidTypeError, OptimizerError
from ..optimizers.map_fit import with_priors
from ..problem.compile import compile_problem
from ..problem.request import make_request
from ..problem.solution import Status
from ..problem.verify import too_few_points
from .base import BaseModel
from .fittable_model import fit_summary, resolve_compile_options

__all__ = ["JointModel"]


class JointModel:
    """Fit several models together, with shared or tied parameters.

    Parameters
    ----------
    models : sequence of Model1D / Model2D
        Each on its own signal.
    names : sequence of str, optional
        Prefixes of the parameter names in reports (default ``m0, m1, ...``).

    Examples
    --------
    >>> import numpy as np
    >>> from swiftfit.signals import Signal1D
    >>> from swiftfit.components.peaks import Gaussian
    >>> x = np.arange(100.0)
    >>> s1 = Signal1D(10 * np.exp(-0.5 * ((x - 40) / 5) ** 2))
    >>> s2 = Signal1D(20 * np.exp(-0.5 * ((x - 40) / 8) ** 2))
    >>> m1, m2 = s1.create_model(), s2.create_model()
    >>> g1, g2 = Gaussian(centre=38.0, sigma=4.0), Gaussian(centre=38.0, sigma=6.0)
    >>> m1.append(g1); m2.append(g2)
    >>> g2.centre.twin = g1.centre                            # shared between datasets
    >>> jm = JointModel([m1, m2]); _ = jm.fit()
    >>> round(g1.centre.value, 6), round(g2.centre.value, 6)
    (40.0, 40.0)
    """

    def __init__(self, models, names=None):
        models = list(models)
        if not models:
            raise InvalidInputError("`models` must hold at least one model")
        for m in models:
            if not isinstance(m, BaseModel):
                raise InvalidTypeError(f"`models` must hold Model1D/Model2D objects, got {type(m).__name__}")
        if len({id(m) for m in models}) != len(models):
            raise InvalidInputError("the same model appears twice in `models`")
        names = [f"m{i}" for i in range(len(models))] if names is None else list(names)
        if len(names) != len(models) or len(set(names)) != len(names):
            raise InvalidInputError(f"`names` must be {len(models)} distinct strings, got {names!r}")
        self.models = models
        self.names = names
        self.fit_output = None
        self.covariance = None
        for m in models:  # lets an expr name another model's parameter: "m1.Gaussian.A"
            m._joints = [j for j in getattr(m, "_joints", []) if j is not self] + [self]

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self):
        return iter(self.models)

    def __getitem__(self, i):
        return self.models[i]

    def __repr__(self) -> str:
        return f"<JointModel of {len(self.models)} models: {', '.join(self.names)}>"

    @property
    def _report_output(self):
        return self.fit_output

    def fit_report(self, show_correl: bool = True, min_correl: float = 0.1) -> str:
        """The last joint fit as lmfit's report; parameters are named
        ``<model name>_<component>_<parameter>`` and shared ones print as
        ``== '<the parameter they follow>'``.
        """
        from .report import model_fit_report

        if self.fit_output is None:
            raise InvalidInputError("there is no fit to report yet; call fit() first")
        return model_fit_report(self.models, self.names, show_correl, min_correl, output=self.fit_output)

    # ---------------------------------------------------------- setup
    def _setup(self, optimizer, loss_function, grad, bounded, kwargs):
        """The one request (:func:`~swiftfit.problem.request.make_request`), one
        loss per model; ``kwargs`` keeps only the solver's options.
        """
        engine = kwargs.get("backend") or "numpy"  # a joint problem is fitted by the NumPy engine
        if engine != "numpy":
            raise InvalidInputError(f"`backend` of a joint fit must be 'numpy', got {engine!r}")
        req = make_request(optimizer, loss_function, grad, bounded, options={**kwargs, "backend": "numpy"},
                           n_datasets=len(self.models))
        kwargs.clear()
        kwargs.update(req.options)
        self._verify = req.verify  # verify=False: the optimizer's own word, unchecked
        self.remember_fit(list(req.losses), req.bounded)  # each model's own loss, for its profiles
        return req.optimizer, list(req.losses), req.rescale_covariance

    def _loss(self, losses, problem, spec):
        if len({loss.name for loss in losses}) == 1 and losses[0].name == "ls":
            return losses[0]  # χ² of stacked datasets is the sum of their χ²
        if spec.name != "lm" and "custom" not in spec.losses:
            raise OptimizerError(
                f"optimizer {spec.name!r} cannot minimise a sum of different losses; use 'lm' "
                "or a scipy minimizer"
            )
        bounds, start = [], 0
        for seg in problem.segments:
            bounds.append((start, start + seg.n_points))
            start += seg.n_points
        return _losses.CompositeLoss(parts=tuple((loss, a, b) for loss, (a, b) in zip(losses, bounds)))

    def _problem(self, pixel_sets, grad, fd_scheme, check=True):
        return compile_problem(list(zip(self.models, pixel_sets)), grad=grad, fd_scheme=fd_scheme,
                               check=check, prefix=self.names)

    # ------------------------------------------- the fittable interface
    def parameters(self) -> list:
        """Every parameter of every model, in the order of a compiled problem's ``plans``."""
        return [p for m in self.models for p in m.parameters()]

    def _pixel_sets(self, pixels) -> list:
        """One list of pixels per model: each model's current position, or ``pixels`` for all."""
        if pixels is None:
            return [m.current_pixels() for m in self.models]
        pixels = list(pixels)
        return [pixels] * len(self.models)

    def free_parameters(self, pixels=None) -> list:
        """The free columns of :meth:`compile` at ``pixels``: every model's, in order."""
        return [p for m, px in zip(self.models, self._pixel_sets(pixels)) for p in m.free_parameters(px)]

    def compile(self, pixels=None, request=None, *, grad=None, fd_scheme=None, check: bool = True):
        """The joint problem of every model at ``pixels`` (default: each model at
        its current position; given, the same pixels in every model) — see
        :class:`~swiftfit.problem.fittable.Fittable`. Parameter names are
        ``"<model name>.Component.parameter"``.

        Examples
        --------
        >>> jm = JointModel([m]); jm.compile().names[:2]
        ['m0.Gaussian.A', 'm0.Gaussian.sigma']
        """
        grad, fd_scheme = resolve_compile_options(request, grad, fd_scheme)
        return self._problem(self._pixel_sets(pixels), grad, fd_scheme, check=check)

    def write_back(self, problem, solution, pixels=None, *, loss=None, rescale=None, verify: bool = True) -> dict:
        """Verify ``solution`` and store every parameter at its own model's
        pixels; every model's per-pixel results (``fit_results``) get the
        joint statistics. Returns them (as :meth:`Model1D.write_back`).
        """
        parts = list(zip(self.models, self._pixel_sets(pixels)))
        return self.models[0]._write_back(problem, solution, None, rescale, loss, parts=parts, verify=verify)

    def remember_fit(self, loss, bounded: bool) -> None:
        """Record the fit's loss (one for all, or a sequence of one per model)
        and bounds in every model, for their profiles.
        """
        losses = list(loss) if isinstance(loss, (list, tuple)) else [loss] * len(self.models)
        if len(losses) != len(self.models):
            raise InvalidInputError(f"`loss` must be one loss or {len(self.models)} (one per model), got {len(losses)}")
        for m, own in zip(self.models, losses):
            m.remember_fit(own, bounded)

    @property
    def last_fit_setup(self) -> dict | None:
        """The loss (its name) and bounds of the last joint fit, from ``fit_output``; None before one."""
        out = self.fit_output
        if out is None:
            return None
        return {"loss_function": out.get("loss_function", "ls"), "bounded": bool(out.get("bounded", False))}

    # ------------------------------------------------------------ fit
    def _with_priors(self, loss, spec):
        """The joint loss with the priors of every model's free parameters (MAP,
        as a single model's fit); unchanged when none has a prior.
        """
        return with_priors(loss, spec, [p for m in self.models for c in m for p in c.parameters])

    def fit(self, optimizer=None, loss_function="ls", grad="auto", bounded=False, print_info=False,
            return_info=True, fd_scheme="2-point", **kwargs):
        """Fit every model at its current navigation position, jointly.

        ``loss_function`` is one loss for all, or a list with one per model.
        Other arguments as :meth:`Model1D.fit`. The results are written into
        each model's parameters; ``fit_output`` holds the joint statistics and
        ``chisq_per_model``.
        """
        spec, losses, rescale = self._setup(optimizer, loss_function, grad, bounded, kwargs)
        start = time.perf_counter()
        problem = self.compile(grad=grad, fd_scheme=fd_scheme)
        if not np.isfinite(problem.data).all():
            raise InvalidInputError("the data of a joint fit contain NaN or inf inside the signal ranges")
        loss, spec = self._with_priors(self._loss(losses, problem, spec), spec)
        self.models[0]._check_problem(spec, loss, problem, bounded)
        solution = too_few_points(problem) or spec.solve(problem, loss, bounded=bounded, **kwargs)
        stats = self.write_back(problem, solution, loss=loss, rescale=rescale,
                                verify=self._verify and not kwargs.get("constraints"))
        out = fit_summary(spec.name, loss.name, grad, bounded, problem, solution, stats, time.perf_counter() - start)
        r = problem.residuals(solution.theta)[0]
        bounds = np.cumsum([0] + [seg.n_points for seg in problem.segments])
        out["chisq_per_model"] = [float(r[a:b] @ r[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        self.fit_output = out
        self.covariance = None if stats["covariance"] is None else stats["covariance"][0]
        if not out.success:
            warnings.warn(f"joint fit did not succeed: {out.message}", FitWarning, stacklevel=2)
        if print_info:
            print(out)
        return out if return_info else None

    def multifit(self, optimizer=None, loss_function="ls", grad="auto", bounded=False, fd_scheme="2-point",
                 chunk_size: int = 256, **kwargs) -> None:
        """Fit the joint problem of every navigation position, batched.

        Every model's signal must have the same navigation shape (e.g.
        low-loss and core-loss EELS spectrum images of the same area).
        """
        shapes = {m._nav_shape for m in self.models}
        if len(shapes) != 1:
            raise InvalidInputError(
                "a joint multifit needs models whose signals share a navigation shape; got "
                f"{[m._nav_shape for m in self.models]}"
            )
        spec, losses, rescale = self._setup(optimizer, loss_function, grad, bounded, kwargs)
        if not spec.batched:
            raise OptimizerError(f"a joint multifit needs a batched optimizer (e.g. 'lm'), got {spec.name!r}")
        nav = shapes.pop()
        pixels = list(np.ndindex(*nav)) if nav else [()]
        for s in range(0, len(pixels), chunk_size):
            chunk = pixels[s:s + chunk_size]
            problem = self.compile(chunk, grad=grad, fd_scheme=fd_scheme, check=False)
            good = np.flatnonzero(np.isfinite(problem.data).all(axis=1)
                                  & (np.isfinite(problem.weights).all(axis=1) if problem.weights is not None else True))
            if good.size:
                sub = problem.take(good)
                loss, solver = self._with_priors(self._loss(losses, sub, spec), spec)
                self.models[0]._check_problem(solver, loss, sub, bounded)
                sol = too_few_points(sub) or solver.solve(sub, loss, bounded=bounded, **kwargs)
                self.write_back(sub, sol, [chunk[i] for i in good], loss=loss, rescale=rescale, verify=self._verify)
            for i in set(range(len(chunk))) - set(good.tolist()):
                for m in self.models:
                    m.fit_results.mark_failed(chunk[i], Status.BAD_DATA)
