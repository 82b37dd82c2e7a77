"""The fittable interface: what every door needs of the thing it fits.

:class:`~swiftfit.model.model1d.Model1D`, :class:`~swiftfit.model.model2d.Model2D`
(through their shared base) and :class:`~swiftfit.model.joint.JointModel`
implement it, and every door — ``m.fit``/``m.multifit``, the joint fits,
Gammapy's ``Fit``, the AstroPhot-style :class:`~swiftfit.astrophot_api.FitTarget`,
SAMFire and the likelihood profiles (:mod:`swiftfit.stats`) — goes through it:

1. ``compile(pixels, request=...)`` turns the fittable at some pixels into a
   :class:`~swiftfit.problem.problem.Problem` (arrays and pure functions of the
   free-parameter vector);
2. an optimizer (``request.optimizer.solve(problem, loss, ...)``) returns a
   :class:`~swiftfit.problem.solution.Solution`;
3. ``write_back(problem, solution, pixels)`` verifies it and stores values,
   standard errors and the per-pixel goodness of fit
   (:class:`~swiftfit.model.fit_results.FitResults`) in the fittable.

No door needs to know whether it holds one model or several; nothing outside
:mod:`swiftfit.model` reads a model's private per-pixel arrays.

``pixels`` is a list of array-order navigation index tuples (``[()]`` without
navigation axes), or None: the current navigation position (of every model,
for a joint model).

Examples
--------
>>> from swiftfit.problem.request import make_request
>>> isinstance(m, Fittable)
True
>>> req = make_request("lm")
>>> problem = m.compile(request=req)
>>> problem.names
['Gaussian.A', 'Gaussian.sigma', 'Gaussian.centre', 'Offset.offset']
>>> [p.name for p in m.free_parameters()] == [n.split(".")[1] for n in problem.names]
True
>>> solution = req.optimizer.solve(problem, req.loss)
>>> stats = m.write_back(problem, solution, loss=req.loss)
>>> bool(stats["status"][0] > 0)
True
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .problem import Problem
from .solution import Solution

__all__ = ["Fittable"]


@runtime_checkable
class Fittable(Protocol):
    """A model (or several fitted jointly) that a door can compile, solve and write back.

    Attributes
    ----------
    fit_output : OptimizeResult or None
        The summary of the last single fit (a door sets it).
    covariance : ndarray or None
        The free parameters' covariance after the last single fit (a door sets it).
    """

    fit_output: Any
    covariance: Any

    def parameters(self) -> list:
        """Every parameter, in the order of the compiled problem's ``plans``."""

    def free_parameters(self, pixels=None) -> list:
        """The parameters that are the problem's free columns at ``pixels``, in column order."""

    def compile(self, pixels=None, request=None, *, grad=None, fd_scheme=None, check: bool = True) -> Problem:
        """The fittable at ``pixels`` as a Problem (``request`` gives the gradient
        mode and finite-difference scheme; ``grad``/``fd_scheme`` override it).
        """

    def write_back(self, problem: Problem, solution: Solution, pixels=None, *, loss=None, rescale=None,
                   verify: bool = True) -> dict:
        """Verify ``solution`` and store it (values, std, goodness of fit) at
        ``pixels``; return the statistics (``chisq``, ``dof``, ``red_chisq``,
        ``covariance``, ``status``, ``log_likelihood``, ``aic``, ``aicc``, ``bic``).
        """

    def remember_fit(self, loss, bounded: bool) -> None:
        """Record the loss and bounds of a fit (what a later profile uses)."""

    @property
    def last_fit_setup(self) -> dict | None:
        """``{"loss_function": ..., "bounded": ...}`` of the last fit, or None."""
