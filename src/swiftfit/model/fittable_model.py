"""The fittable interface (:class:`swiftfit.problem.fittable.Fittable`) on
Model1D and Model2D, and the fit summary every door builds from a write-back.

:class:`FittableMixin` is part of :class:`~swiftfit.model.base.BaseModel`;
:class:`~swiftfit.model.joint.JointModel` implements the same methods for
several models. The work is done by the model's compile (``_problem``, which
the EELS model extends with its convolution) and write-back (``_write_back``,
which the EDS model extends with the line areas' covariance): the public
methods give every door one way in.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult

from .. import losses as _losses
from ..problem.pixels import as_pixels
from ..problem.problem import Problem
from ..problem.solution import Solution, Status, message
from ..problem.verify import counts_text
from .fit_results import FitResults

__all__ = ["FittableMixin", "fit_summary", "resolve_compile_options"]


def resolve_compile_options(request, grad, fd_scheme) -> tuple:
    """``(grad, fd_scheme)``: the explicit ones, else the request's, else the defaults."""
    if grad is None:
        grad = "auto" if request is None else request.gradients
    if fd_scheme is None:
        fd_scheme = "2-point" if request is None else request.fd_scheme
    return grad, fd_scheme


class FittableMixin:
    """``parameters``, ``free_parameters``, ``compile``, ``write_back``,
    ``remember_fit``, ``fit_request``, ``fit_pixels`` and ``fit_results``.
    """

    def parameters(self) -> list:
        """Every parameter of the model, in the order of a compiled problem's ``plans``.

        Examples
        --------
        >>> [p.name for p in m.parameters()]
        ['A', 'sigma', 'centre', 'offset']
        """
        return [p for c in self._components for p in c.parameters]

    def current_pixels(self) -> list:
        """``[index]``: the current navigation position (array order; ``[()]`` without navigation)."""
        return [tuple(self.axes_manager._array_indices)] if self._nav_shape else [()]

    def free_parameters(self, pixels=None) -> list:
        """The parameters that are the free columns of :meth:`compile` at ``pixels``
        (default: the current position): free, not tied (``twin``/``expr``), and
        of a component active at one of the pixels; in column order.

        Examples
        --------
        >>> m[1].offset.free = False
        >>> [p.name for p in m.free_parameters()]
        ['A', 'sigma', 'centre']
        """
        pixels = self.current_pixels() if pixels is None else list(pixels)
        idx = self._nav_index(pixels)
        out = []
        for comp in self._components:
            if comp._active_array is not None:
                active = bool(np.any(comp._active_array[idx] if idx != () else comp._active_array[()]))
            else:
                active = bool(comp._active)
            if active:
                out.extend(p for p in comp.parameters if p.twin is None and p._expr_sympy is None and p.free)
        return out

    def compile(self, pixels=None, request=None, *, grad=None, fd_scheme=None, check: bool = True) -> Problem:
        """The model at ``pixels`` (default: the current position) as a
        :class:`~swiftfit.problem.problem.Problem`.

        Parameters
        ----------
        pixels : list of tuple, optional
            Array-order navigation indices.
        request : FitRequest, optional
            Gives the gradient mode and the finite-difference scheme
            (:func:`~swiftfit.problem.request.make_request`).
        grad, fd_scheme : str, optional
            Override the request's.
        check : bool
            Refuse a noise variance that is not positive and finite.

        Examples
        --------
        >>> problem = m.compile()
        >>> problem.B, problem.N, problem.P
        (1, 100, 4)
        """
        pixels = self.current_pixels() if pixels is None else as_pixels(pixels)
        grad, fd_scheme = resolve_compile_options(request, grad, fd_scheme)
        return self._problem(pixels, grad=grad, fd_scheme=fd_scheme, check=check)

    def write_back(self, problem: Problem, solution: Solution, pixels=None, *, loss=None, rescale=None,
                   verify: bool = True) -> dict:
        """Verify ``solution`` of ``problem`` and store it at ``pixels`` (default:
        the current position): values, standard errors, ``is_set`` and the
        per-pixel results (:attr:`fit_results`), in one step.

        ``loss`` is the fit's (default ls); ``rescale`` the covariance rule
        (None: HyperSpy's, by the reduced χ² for ls without a noise variance);
        ``verify=False`` keeps the optimizer's own verdict (a sampler's mean).
        Returns the statistics: ``chisq``, ``dof``, ``red_chisq``,
        ``covariance``, ``status``, ``log_likelihood``, ``aic``, ``aicc``, ``bic``.

        Examples
        --------
        >>> from swiftfit.problem.request import make_request
        >>> req = make_request("lm")
        >>> problem = m.compile(request=req)
        >>> stats = m.write_back(problem, req.optimizer.solve(problem, req.loss), loss=req.loss)
        >>> int(stats["dof"][0]), round(m[0].centre.value, 2)
        (96, 49.95)
        """
        pixels = self.current_pixels() if pixels is None else as_pixels(pixels)
        return self._write_back(problem, solution, pixels, rescale, loss, verify=verify)

    def remember_fit(self, loss, bounded: bool) -> None:
        """Record the loss (without priors) and bounds of a fit of any kind:
        what a later profile (:mod:`swiftfit.stats`) uses.
        """
        self._remember_fit(loss, bounded)

    @property
    def last_fit_setup(self) -> dict | None:
        """``{"loss_function": Loss, "bounded": bool}`` of the last fit, or None."""
        return getattr(self, "_last_fit_setup", None)

    def fit_request(self, optimizer=None, loss_function="ls", grad="auto", bounded=False,
                    fd_scheme: str = "2-point", **options):
        """The one request (:func:`~swiftfit.problem.request.make_request`) for a
        fit of this model: the arguments of :meth:`fit`, resolved and checked
        (HyperSpy's ``None`` spellings of ``grad`` and ``bounded`` included).

        Examples
        --------
        >>> req = m.fit_request("trf", bounded=True, ftol=1e-10)
        >>> req.name, req.bounded, dict(req.options)
        ('trf', True, {'ftol': 1e-10})
        """
        return self._solve_options(optimizer, loss_function, grad, bounded, fd_scheme, dict(options))

    def fit_pixels(self, pixels, request, *, start=None) -> None:
        """Fit ``pixels`` (array-order index tuples) in one batched solve of
        ``request`` (:meth:`fit_request`), each from its own map values (or
        ``start``, one value per parameter, NaN-free, for every pixel), and
        write the results back. Pixels whose data are not finite get status
        ``BAD_DATA``, pixels of zeros ``NO_SIGNAL`` (see :attr:`fit_results`).

        Examples
        --------
        >>> m.fit_pixels([()], m.fit_request())
        >>> bool(m.fit_results.success)
        True
        """
        self._solve_pixels(list(pixels), request=request, start=start)

    @property
    def fit_results(self) -> FitResults:
        """The per-pixel results of the fits so far (live arrays):
        :class:`~swiftfit.model.fit_results.FitResults`.

        Examples
        --------
        >>> _ = m.fit()
        >>> int(m.fit_results.status), int(m.fit_results.nfev) > 0
        (1, True)
        """
        return FitResults(self)


def fit_summary(optimizer, loss, grad, bounded, problem: Problem, solution: Solution, stats: dict, elapsed,
                loss_obj=None) -> OptimizeResult:
    """The ``fit_output`` of a one-pixel fit: scipy's OptimizeResult with the
    write-back's statistics (``stats``), ``rsquared`` and ``prior_stat``.
    """
    cov = stats["covariance"]
    status = int(stats["status"][0])
    text = message(status)
    if status == Status.TOO_FEW_POINTS:
        text = f"{text}: {counts_text(problem.P, problem.N)}"
    scipy_result = solution.info.get("scipy_result")
    if scipy_result is not None and getattr(scipy_result, "message", None):
        text = f"{text} ({scipy_result.message})"
    return OptimizeResult(
        x=solution.theta[0].copy(),
        x0=problem.p0[0].copy(),
        success=status > 0,
        status=status,
        message=text,
        log_likelihood=float(stats["log_likelihood"][0]),
        aic=float(stats["aic"][0]),
        aicc=float(stats["aicc"][0]),
        bic=float(stats["bic"][0]),
        optimizer_result=scipy_result,
        minuit=solution.info.get("minuit"),
        nfev=int(solution.nfev[0]),
        njev=None if solution.njev is None else int(solution.njev[0]),
        nit=None if solution.nit is None else int(solution.nit[0]),
        fun=float(solution.objective[0]),
        covariance=None if cov is None else cov[0],
        parameter_names=list(problem.names),
        rsquared=_rsquared(problem, solution.theta[:1]),
        prior_stat=(float(loss_obj.prior_stat(problem, solution.theta[:1])[0])
                    if isinstance(loss_obj, _losses.PriorLoss) else None),
        chisq=float(stats["chisq"][0]),
        dof=int(stats["dof"][0]),
        red_chisq=float(stats["red_chisq"][0]),
        optimizer=optimizer,
        loss_function=loss,
        grad=grad,
        bounded=bounded,
        time=elapsed,
    )


def _rsquared(problem: Problem, theta: np.ndarray) -> float:
    """R² = 1 − Σ w²(y − f)² / Σ w²(y − ȳ_w)², ȳ_w = Σ w²y / Σ w²: the residual
    and total sums of squares both weighted by the fit's weights (1/σ) and
    about the weighted mean, so a weighted fit's R² is its χ² over the χ² of a
    constant; unweighted it is the usual R². NaN for a constant signal.
    """
    with np.errstate(all="ignore"):
        r = problem.residuals(theta)[0]
        y = problem.data[0]
        w2 = np.ones_like(y) if problem.weights is None else problem.weights[0] ** 2
        mean = np.sum(w2 * y) / np.sum(w2)
        total = np.sum(w2 * (y - mean) ** 2)
        return float(1 - np.sum(r * r) / total) if total > 0 else float("nan")
