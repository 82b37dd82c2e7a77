"""MAP fits: the solver for a loss that carries the priors of its parameters.

A fit whose free parameters have priors (:mod:`swiftfit.priors`) minimises
the loss plus the priors' terms (:class:`~swiftfit.losses.PriorLoss`).
:func:`with_priors` is the one place that turns a ``(loss, optimizer)`` pair
into that: every door (``fit``/``multifit``, joint fits, likelihood profiles)
calls it.

Examples
--------
>>> from swiftfit import losses
>>> from swiftfit.optimizers import registry
>>> loss, spec = with_priors(losses.get("ls"), registry.get("lm"), [])
>>> loss.name, spec.name
('ls', 'lm')
"""

from __future__ import annotations

import dataclasses
import logging

from .. import losses as _losses
from ..errors import OptimizerError

__all__ = ["with_priors"]

_log = logging.getLogger("swiftfit")

# "lm"'s own options that the damped Newton solver of a MAP fit has no use for
_LM_ONLY = ("ftol", "gtol", "damping", "radius0", "geodesic", "alpha")


def with_priors(loss, spec, parameters):
    """``(loss, spec)`` for a fit of ``parameters``: the very same pair when no
    free one has a prior; otherwise the loss with the priors' terms and the
    solver that minimises that loss (:func:`_map_solver`). One place for every
    fit path: ``fit``/``multifit``, joint fits, and likelihood profiles.
    """
    loss = _losses.with_priors(loss, [p for p in parameters if p.free])
    return (loss, _map_solver(spec)) if isinstance(loss, _losses.PriorLoss) else (loss, spec)


def _map_solver(spec):
    """The optimizer for a fit with priors (a :class:`~swiftfit.losses.PriorLoss`).

    The prior terms live in the loss's value, gradient and Hessian, so only
    solvers of the loss objective see them: scipy's minimizers, the global
    ones and MINUIT (all losses) as they are, and ``"lm"`` through its damped
    Gauss–Newton solver on the loss (:mod:`~swiftfit.optimizers.damped_newton`,
    the path ML-poisson takes), never through the residual-based LM or its
    compiled kernel. Residual-only solvers (``least_squares``, ODR, linear)
    are refused.
    """
    if spec.name == "lm":
        from ..optimizers.damped_newton import damped_newton

        def solve(problem, loss, *, bounded=False, **options):
            kernel = options.pop("kernel", "auto")
            if kernel == "numba":
                raise OptimizerError("kernel='numba' cannot fit priors; use kernel='auto' or 'numpy'")
            dropped = sorted(k for k in _LM_ONLY if options.pop(k, None) is not None)
            if dropped:
                _log.info("fit with priors: 'lm' runs damped Newton on the loss; options %s unused", dropped)
            return damped_newton(problem, loss, bounded=bounded, **options)

        return dataclasses.replace(spec, solve=solve)
    if "custom" in spec.losses:  # a minimizer of loss.value: the priors are in it
        return spec
    raise OptimizerError(
        f"optimizer {spec.name!r} works on the residuals alone and cannot fit priors; use "
        "optimizer='lm' or a minimizer such as 'L-BFGS-B', 'Nelder-Mead' or 'minuit', or remove the priors"
    )
