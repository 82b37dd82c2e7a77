"""Priors on parameters: maximum a posteriori (MAP) fits.

A prior is set on a parameter (``parameter.prior = GaussianPrior(mu, sigma)``)
and adds its penalty ``−2 ln π(θ)`` (Gammapy's ``prior.stat_sum`` convention,
"χ² units") to the fit statistic, so the fit finds the posterior mode. The
names and parameters mirror :mod:`gammapy.modeling.models`:

================= ================ =========================================== ===============
prior             parameters       penalty ``−2 ln π(θ)`` (``weight`` × ...)   Hessian used
================= ================ =========================================== ===============
GaussianPrior     mu, sigma        ``((θ − μ)/σ)²``                            ``2/σ²``
UniformPrior      min, max         0 inside ``[min, max]``, +inf outside       0
LogUniformPrior   min, max         ``2 ln θ + 2 ln ln(max/min)``, +inf outside 0
================= ================ =========================================== ===============

Differences from Gammapy, on purpose: a uniform prior is a true zero
probability outside its range (+inf, where Gammapy adds a finite 1), so a MAP
fit never leaves it; and the log-uniform prior's curvature ``−2/θ²`` is left
out of the (positive semi-definite, Gauss–Newton-like) Hessian approximation
the solvers and the covariance use, as negative curvature is not a
Gauss–Newton term.

How a fit uses them (:class:`swiftfit.losses.PriorLoss`): the penalty is
multiplied by the loss's ``errordef`` so that it is in the statistic's own
units: ``−2 ln π`` for least squares (χ², errordef 1), ``−ln π`` for
``"ML-poisson"`` (whose objective is ``−ln L``, errordef 0.5). Only free
parameters of the fitted problem are penalised; fixed, twinned and ``expr``
parameters ignore their prior. Without any prior nothing changes.

Examples
--------
>>> from swiftfit.priors import GaussianPrior
>>> GaussianPrior(mu=1.0, sigma=0.5)(2.0)
4.0
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InvalidInputError

__all__ = ["Prior", "GaussianPrior", "UniformPrior", "LogUniformPrior"]


def _number(name: str, value, cls: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{cls}: `{name}` must be a number, got {value!r}") from None
    if math.isnan(v):
        raise InvalidInputError(f"{cls}: `{name}` must be a number, got NaN")
    return v


class Prior:
    """Base of the priors: ``stat(θ) = −2 ln π(θ)`` (up to a constant), times ``weight``.

    Subclasses give ``_stat``, ``_gradient`` and ``_curvature`` of the
    unweighted penalty; all are vectorised over ``θ``.
    """

    tag: str = "Prior"

    def __init__(self, weight: float = 1.0):
        w = _number("weight", weight, type(self).__name__)
        if not (math.isfinite(w) and w >= 0):
            raise InvalidInputError(f"{type(self).__name__}: `weight` must be a finite number >= 0, got {weight!r}")
        self.weight = w

    def __call__(self, value):
        """The penalty ``weight · (−2 ln π(value))``; a float for a scalar."""
        out = self.stat(value)
        return float(out) if np.ndim(out) == 0 else out

    def stat(self, value) -> np.ndarray:
        """``weight · (−2 ln π(value))`` (+inf where the prior is 0)."""
        with np.errstate(all="ignore"):
            return self.weight * self._stat(np.asarray(value, dtype=float))

    def gradient(self, value) -> np.ndarray:
        """``d stat / d value`` (0 outside the support, where the stat is inf)."""
        with np.errstate(all="ignore"):
            return self.weight * self._gradient(np.asarray(value, dtype=float))

    def curvature(self, value) -> np.ndarray:
        """A non-negative ``d² stat / d value²`` for Gauss–Newton-type Hessians."""
        with np.errstate(all="ignore"):
            return self.weight * self._curvature(np.asarray(value, dtype=float))

    def _stat(self, v):  # pragma: no cover - abstract
        raise NotImplementedError

    def _gradient(self, v):
        return np.zeros_like(v)

    def _curvature(self, v):
        return np.zeros_like(v)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))

    def to_dict(self) -> dict:
        """``{"type": tag, **parameters}`` (as Gammapy's ``Prior.to_dict`` names them)."""
        return {"type": self.tag, **vars(self)}


class GaussianPrior(Prior):
    """A Gaussian prior: penalty ``((θ − mu)/sigma)²``.

    Parameters
    ----------
    mu : float
        Mean (Gammapy's default 0).
    sigma : float
        Standard deviation, > 0 (default 1).
    weight : float
        Multiplies the penalty (Gammapy's ``weight``).

    Examples
    --------
    >>> m.components.Gaussian.centre.prior = GaussianPrior(mu=50.0, sigma=0.5)   # doctest: +SKIP
    """

    tag = "GaussianPrior"

    def __init__(self, mu: float = 0.0, sigma: float = 1.0, weight: float = 1.0):
        super().__init__(weight)
        self.mu = _number("mu", mu, "GaussianPrior")
        self.sigma = _number("sigma", sigma, "GaussianPrior")
        if not (math.isfinite(self.mu) and math.isfinite(self.sigma) and self.sigma > 0):
            raise InvalidInputError(
                f"GaussianPrior needs a finite `mu` and a finite `sigma` > 0, got mu={mu!r}, sigma={sigma!r}")

    def _stat(self, v):
        return ((v - self.mu) / self.sigma) ** 2

    def _gradient(self, v):
        return 2 * (v - self.mu) / self.sigma**2

    def _curvature(self, v):
        return np.full_like(v, 2 / self.sigma**2)

    def __repr__(self) -> str:
        return f"GaussianPrior(mu={self.mu!r}, sigma={self.sigma!r}, weight={self.weight!r})"


class _RangePrior(Prior):
    _default = (-np.inf, np.inf)

    def __init__(self, min: float | None = None, max: float | None = None, weight: float = 1.0):  # noqa: A002
        super().__init__(weight)
        name = type(self).__name__
        self.min = _number("min", self._default[0] if min is None else min, name)
        self.max = _number("max", self._default[1] if max is None else max, name)
        if not self.min < self.max:
            raise InvalidInputError(f"{name} needs min < max, got min={min!r}, max={max!r}")

    def inside(self, value) -> np.ndarray:
        """Where ``value`` is in ``[min, max]`` (the prior's support)."""
        v = np.asarray(value, dtype=float)
        return (v >= self.min) & (v <= self.max)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min={self.min!r}, max={self.max!r}, weight={self.weight!r})"


class UniformPrior(_RangePrior):
    """A uniform prior on ``[min, max]``: penalty 0 inside, +inf outside.

    Parameters
    ----------
    min, max : float
        The support (Gammapy's defaults −inf, +inf).
    weight : float

    Examples
    --------
    >>> UniformPrior(0, 1)(0.5), UniformPrior(0, 1)(2.0)
    (0.0, inf)
    """

    tag = "UniformPrior"

    def _stat(self, v):
        return np.where(self.inside(v), 0.0, np.inf)


class LogUniformPrior(_RangePrior):
    """A log-uniform prior, ``π(θ) ∝ 1/θ`` on ``[min, max]`` (``0 < min``):
    penalty ``2 ln θ + 2 ln ln(max/min)`` (``−2 ln`` of the normalised
    density, as Gammapy's ``−2·loguniform.logpdf``), +inf outside.

    Parameters
    ----------
    min, max : float
        The support, ``0 < min < max`` (Gammapy's defaults 1e-14, 1e-10).
    weight : float

    Examples
    --------
    >>> p = LogUniformPrior(1.0, math.e)
    >>> round(p(2.0) - p(1.0), 12) == round(2 * math.log(2.0), 12)
    True
    """

    tag = "LogUniformPrior"
    _default = (1e-14, 1e-10)

    def __init__(self, min: float | None = None, max: float | None = None, weight: float = 1.0):  # noqa: A002
        super().__init__(min, max, weight)
        if not (self.min > 0 and math.isfinite(self.max)):
            raise InvalidInputError(
                f"LogUniformPrior needs 0 < min < max < inf, got min={min!r}, max={max!r}")

    @property
    def _norm(self) -> float:
        """``2 ln ln(max/min)``: the normalisation (derived, so not part of the
        prior's state: equality, hashing and ``to_dict`` see min, max, weight).
        """
        return 2 * math.log(math.log(self.max / self.min))

    def _stat(self, v):
        return np.where(self.inside(v), 2 * np.log(np.where(v > 0, v, 1.0)) + self._norm, np.inf)

    def _gradient(self, v):
        return np.where(self.inside(v), 2 / np.where(v > 0, v, 1.0), 0.0)

