"""Loss functions, batched over pixels.

Each loss turns a :class:`~swiftfit.problem.problem.Problem` and free values
``theta (B, P)`` into the scalar objective of every pixel, its gradient, a
positive semi-definite Hessian approximation (Gauss–Newton / Fisher) and the
parameter covariance, so every optimizer — least-squares or general
minimizer — gets errors from one place.

========== ======================================= =================== ===========
name       objective per pixel                     covariance          errordef
========== ======================================= =================== ===========
ls         χ² = Σ w² (d − m)²                      (JᵀWJ)⁻¹            1
ML-poisson Σ (m − d ln m)  (Poisson −ln L + const) Fisher (Jᵀ m⁻¹ J)⁻¹  0.5
huber      Σ h_δ(w (d − m))                        sandwich A⁻¹BA⁻¹    0.5
custom     user's f(model, values, data, weights)  2·errordef·H⁻¹      1 (option)
========== ======================================= =================== ===========

``errordef`` is the change of the objective that marks one standard deviation
(MINUIT's convention), used by profiles and intervals.

Robust losses also offer scipy's ``ρ(z)`` form (``rho``: value, first and
second derivative of the squared residual ``z``), which ``least_squares``-type
solvers take directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.special import gammaln

from .errors import InvalidInputError, InvalidTypeError
from .preferences import preferences
from .problem.problem import Problem

__all__ = ["Loss", "LeastSquares", "PoissonML", "Huber", "CustomLoss", "CompositeLoss", "PriorLoss",
           "get", "with_priors", "LOSS_NAMES"]

LOSS_NAMES = ("ls", "ML-poisson", "huber")
_TINY = 1e-300


def _weighted_jacobian(problem, theta):
    J = problem.jacobian(theta)
    return J if problem.weights is None else J * problem.weights[:, :, None]


def _invert(H: np.ndarray) -> np.ndarray:
    """Batched inverse of symmetric PSD matrices; NaN where singular."""
    out = np.full_like(H, np.nan)
    for b in range(H.shape[0]):
        h = H[b]
        if not np.isfinite(h).all():
            continue
        d = np.sqrt(np.abs(np.diag(h)))
        if (d == 0).any():
            continue
        s = h / np.outer(d, d)
        w = np.linalg.eigvalsh(s)
        if w[0] <= 1e-14 * max(w[-1], _TINY):
            continue
        out[b] = np.linalg.inv(s) / np.outer(d, d)
    return out


@dataclass(frozen=True)
class Loss:
    """Base of every loss (see the module docstring for the table)."""

    name: str = "ls"
    errordef: float = 1.0

    def residuals(self, problem, theta) -> np.ndarray:
        return problem.residuals(theta)

    def value(self, problem, theta) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def gradient(self, problem, theta) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def gn_hessian(self, problem, theta) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def covariance(self, problem, theta) -> np.ndarray:
        """Parameter covariance at ``theta``: ``2·errordef·H⁻¹`` with H the
        Gauss–Newton/Fisher Hessian of the objective (``(JᵀWJ)⁻¹`` for ls).
        """
        return 2 * self.errordef * _invert(self.gn_hessian(problem, theta))

    def log_likelihood(self, problem, theta) -> np.ndarray:
        return np.full(problem.B, np.nan)

    def check_data(self, problem) -> None:
        """Refuse data this loss cannot use."""


@dataclass(frozen=True)
class LeastSquares(Loss):
    """Weighted least squares; weights are ``1/σ`` from the noise variance."""

    name: str = "ls"
    errordef: float = 1.0

    def value(self, problem, theta):
        r = problem.residuals(theta)
        return np.einsum("bn,bn->b", r, r)

    def gradient(self, problem, theta):
        r = problem.residuals(theta)
        return -2 * np.einsum("bnp,bn->bp", _weighted_jacobian(problem, theta), r)

    def gn_hessian(self, problem, theta):
        J = _weighted_jacobian(problem, theta)
        return 2 * np.einsum("bnp,bnq->bpq", J, J)

    def rho(self, z):
        return z, np.ones_like(z), np.zeros_like(z)

    def log_likelihood(self, problem, theta):
        """Gaussian ln L; with no variance set, σ² is profiled (= χ²/N)."""
        return self.log_likelihood_from_chisq(problem, self.value(problem, theta))

    def log_likelihood_from_chisq(self, problem, chi2):
        """Ln L from the weighted χ² already computed (B,)."""
        n = problem.N
        if problem.weights is None:
            return -0.5 * n * (np.log(2 * np.pi * np.maximum(chi2, _TINY) / n) + 1)
        return -0.5 * chi2 + np.sum(np.log(problem.weights), axis=1) - 0.5 * n * np.log(2 * np.pi)


@dataclass(frozen=True)
class PoissonML(Loss):
    """Poisson maximum likelihood: ``Σ (m − d ln m)``, the negative log-likelihood
    up to a constant. Weights are ignored (the Poisson variance is the model).
    """

    name: str = "ML-poisson"
    errordef: float = 0.5

    def check_data(self, problem):
        if (problem.data < 0).any():
            raise InvalidInputError(
                "loss_function='ML-poisson' needs non-negative counts; the data contain "
                f"negative values such as {problem.data[problem.data < 0][:3]}"
            )

    def value(self, problem, theta):
        m = problem.evaluate(theta)
        d = problem.data
        with np.errstate(all="ignore"):
            terms = np.where(d > 0, m - d * np.log(m), m)
        out = terms.sum(axis=1)
        bad = (m < 0).any(axis=1) | ((m == 0) & (d > 0)).any(axis=1)
        return np.where(bad, np.inf, out)

    def gradient(self, problem, theta):
        m = problem.evaluate(theta)
        with np.errstate(all="ignore"):
            factor = 1 - problem.data / m
        return np.einsum("bnp,bn->bp", problem.jacobian(theta), factor)

    def gn_hessian(self, problem, theta):
        """Fisher information Jᵀ diag(1/m) J (the expected Hessian of −ln L)."""
        m = problem.evaluate(theta)
        J = problem.jacobian(theta)
        with np.errstate(all="ignore"):
            Jw = J / np.sqrt(np.maximum(m, _TINY))[:, :, None]
        return np.einsum("bnp,bnq->bpq", Jw, Jw)

    def log_likelihood(self, problem, theta):
        m = problem.evaluate(theta)
        d = problem.data
        with np.errstate(all="ignore"):
            terms = np.where(d > 0, d * np.log(m), 0.0) - m - gammaln(d + 1)
        return terms.sum(axis=1)


@dataclass(frozen=True)
class Huber(Loss):
    """Huber's loss on the weighted residual: ``½z²`` inside ``|z| ≤ δ``,
    ``δ(|z| − ½δ)`` outside. ``delta`` is ``huber_delta`` (default 1).
    """

    name: str = "huber"
    errordef: float = 0.5
    delta: float = 1.0

    def value(self, problem, theta):
        z = np.abs(problem.residuals(theta))
        d = self.delta
        return np.where(z <= d, 0.5 * z * z, d * (z - 0.5 * d)).sum(axis=1)

    def gradient(self, problem, theta):
        r = problem.residuals(theta)
        psi = np.clip(r, -self.delta, self.delta)
        return -np.einsum("bnp,bn->bp", _weighted_jacobian(problem, theta), psi)

    def gn_hessian(self, problem, theta):
        r = problem.residuals(theta)
        inner = (np.abs(r) <= self.delta).astype(float)
        J = _weighted_jacobian(problem, theta) * inner[:, :, None]
        return np.einsum("bnp,bnq->bpq", J, J)

    def covariance(self, problem, theta):
        """Huber's sandwich ``A⁻¹ B A⁻¹``: ``A = Σ ψ'(z) JᵀJ`` (the Gauss–Newton
        matrix of the inner points, |z| ≤ δ) and ``B = Σ ψ(z)² JᵀJ``, with
        ``ψ(z) = clip(z, −δ, δ)``. It is the M-estimator's asymptotic covariance
        and scales itself with the residuals, so it is never rescaled.
        """
        r = problem.residuals(theta)
        J = _weighted_jacobian(problem, theta)
        psi = np.clip(r, -self.delta, self.delta)
        A_inv = _invert(self.gn_hessian(problem, theta))
        Jp = J * psi[:, :, None]
        B = np.einsum("bnp,bnq->bpq", Jp, Jp)
        return A_inv @ B @ A_inv

    def rho(self, z):
        d2 = self.delta**2
        inner = z <= d2
        sz = np.sqrt(np.maximum(z, _TINY))
        rho = np.where(inner, z, 2 * self.delta * sz - d2)
        drho = np.where(inner, 1.0, self.delta / sz)
        d2rho = np.where(inner, 0.0, -0.5 * self.delta / (sz * z))
        return 0.5 * rho, 0.5 * drho, 0.5 * d2rho


@dataclass(frozen=True)
class CustomLoss(Loss):
    """A user loss ``f(model, values, data, weights=None) -> float`` (seed 000's
    signature), with an optional gradient of the same signature.

    Evaluated one pixel at a time through the model object (the user's code
    calls ``model.fetch_values_from_array`` and ``model(onlyactive=True)``).
    The covariance is ``2·errordef·H⁻¹`` with H the numerical Hessian:
    ``errordef=1`` (default) treats the loss as χ²-like, 0.5 as a −ln L.
    The values (and a custom gradient) come in the model's order of free
    parameters (constructor order); with ``swiftfit.preferences.conventions =
    "hyperspy"``, in HyperSpy's (each component's parameters sorted by name),
    the order ``fetch_values_from_array`` then takes too.
    """

    name: str = "custom"
    errordef: float = 1.0
    function: Callable | None = None
    grad: Callable | None = None
    model: object = field(default=None, compare=False)

    def _user_order(self, n: int):
        """Column ``k`` of the user's values is ``theta[:, order[k]]`` (None: same order)."""
        if not preferences.hyperspy or not hasattr(self.model, "_hs_free_parameters"):
            return None
        ours, theirs = self.model._free_parameters_at_current(), self.model._hs_free_parameters()
        if len(ours) != n or len(theirs) != n:
            return None
        position = {id(p): i for i, p in enumerate(ours)}
        return np.array([position[id(p)] for p in theirs])

    def _call(self, fn, problem, theta):
        if self.model is None:
            raise InvalidInputError("a custom loss needs the model; call it through Model.fit")
        order = self._user_order(theta.shape[1])
        if order is not None:
            theta = theta[:, order]
        out = []
        for b in range(theta.shape[0]):
            w = None if problem.weights is None else problem.weights[b]
            out.append(fn(self.model, np.array(theta[b], dtype=float), problem.data[b], w))
        return out

    def value(self, problem, theta):
        values = np.array([float(v) for v in self._call(self.function, problem, np.atleast_2d(theta))])
        return values

    def gradient(self, problem, theta):
        theta = np.atleast_2d(theta)
        if self.grad is not None:
            g = np.array([np.asarray(g, dtype=float).ravel() for g in self._call(self.grad, problem, theta)])
            order = self._user_order(theta.shape[1])
            if order is not None:  # back to the solver's order
                back = np.empty_like(g)
                back[:, order] = g
                g = back
            return g
        return _numerical_gradient(lambda t: self.value(problem, t), theta)

    def gn_hessian(self, problem, theta):
        return _numerical_hessian(lambda t: self.value(problem, t), np.atleast_2d(theta))


def _numerical_gradient(f, theta):
    B, P = theta.shape
    g = np.empty((B, P))
    for j in range(P):
        h = np.finfo(float).eps ** (1 / 3) * np.maximum(1.0, np.abs(theta[:, j]))
        up, dn = theta.copy(), theta.copy()
        up[:, j] += h
        dn[:, j] -= h
        g[:, j] = (f(up) - f(dn)) / (2 * h)
    return g


def _numerical_hessian(f, theta):
    """Central-difference Hessian of a batched scalar function."""
    B, P = theta.shape
    H = np.empty((B, P, P))
    h = np.finfo(float).eps ** 0.25 * np.maximum(1.0, np.abs(theta))
    f0 = f(theta)
    for i in range(P):
        for j in range(i, P):
            if i == j:
                up, dn = theta.copy(), theta.copy()
                up[:, i] += h[:, i]
                dn[:, i] -= h[:, i]
                H[:, i, i] = (f(up) - 2 * f0 + f(dn)) / h[:, i] ** 2
            else:
                pp, pm, mp, mm = (theta.copy() for _ in range(4))
                pp[:, i] += h[:, i]; pp[:, j] += h[:, j]  # noqa: E702
                pm[:, i] += h[:, i]; pm[:, j] -= h[:, j]  # noqa: E702
                mp[:, i] -= h[:, i]; mp[:, j] += h[:, j]  # noqa: E702
                mm[:, i] -= h[:, i]; mm[:, j] -= h[:, j]  # noqa: E702
                H[:, i, j] = H[:, j, i] = (f(pp) - f(pm) - f(mp) + f(mm)) / (4 * h[:, i] * h[:, j])
    return H


def get(loss, *, huber_delta: float = 1.0, grad=None, model=None, errordef: float | None = None) -> Loss:
    """The loss for ``loss_function`` (a name, a :class:`Loss` or a callable).

    Examples
    --------
    >>> get("huber", huber_delta=2.0).delta
    2.0
    """
    if isinstance(loss, Loss):
        return loss
    if callable(loss):
        if grad is not None and not callable(grad):
            raise InvalidTypeError(f"`grad` for a custom loss must be a callable, got {grad!r}")
        return CustomLoss(function=loss, grad=grad, model=model, errordef=1.0 if errordef is None else errordef)
    if loss == "ls":
        return LeastSquares()
    if loss in ("ML-poisson", "ml", "ML"):
        return PoissonML()
    if loss == "huber":
        if not (np.isfinite(huber_delta) and huber_delta > 0):
            raise InvalidInputError(f"`huber_delta` must be a positive number, got {huber_delta!r}")
        return Huber(delta=float(huber_delta))
    # HyperSpy's wording ("loss_function must be one of"), which scripts match on
    raise InvalidInputError(f"loss_function must be one of {LOSS_NAMES} or a callable, got {loss!r}")


class _Memo:
    """A problem whose ``evaluate``/``jacobian`` are computed once per ``theta``
    (the same array object), so that the datasets of a joint loss, or a
    loss's gradient and Hessian at one point, share one model evaluation and
    one Jacobian. Everything else is the wrapped problem's.
    """

    def __init__(self, problem):
        self._p = problem
        self.data, self.weights = problem.data, problem.weights
        self.B, self.P, self.N = problem.B, problem.P, problem.N
        self._cache: dict = {}

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._p, name)

    residuals = Problem.residuals  # from this view's data, weights and evaluate

    def _get(self, what, theta):
        hit = self._cache.get(what)
        if hit is None or hit[0] is not theta:
            hit = (theta, getattr(self._p, what)(theta))
            self._cache[what] = hit
        return hit[1]

    def evaluate(self, theta):
        return self._get("evaluate", theta)

    def jacobian(self, theta):
        return self._get("jacobian", theta)


class _SegmentView:
    """A problem restricted to the data points ``[start, stop)`` of a joint
    problem (one dataset), for a loss that belongs to that dataset.
    """

    def __init__(self, problem, start: int, stop: int):
        self._p, self._s = problem, slice(start, stop)
        self.data = problem.data[:, self._s]
        self.weights = None if problem.weights is None else problem.weights[:, self._s]
        self.B, self.P, self.N = problem.B, problem.P, stop - start

    def evaluate(self, theta):
        return self._p.evaluate(theta)[:, self._s]

    residuals = Problem.residuals  # from this view's data, weights and evaluate

    def jacobian(self, theta):
        return self._p.jacobian(theta)[:, self._s]


@dataclass(frozen=True)
class CompositeLoss(Loss):
    """The joint statistic of datasets that keep their own loss: the sum of
    each dataset's objective in −2 ln L units (``value / errordef``), so χ²
    of one dataset and a Poisson −ln L of another add consistently.

    ``parts`` holds ``(loss, start, stop)``: the dataset's loss and its block
    of data points.
    """

    name: str = "joint"
    errordef: float = 1.0
    parts: tuple = ()

    def _sum(self, method, problem, theta):
        shared = _Memo(problem)
        return sum(getattr(loss, method)(_SegmentView(shared, a, b), theta) / loss.errordef
                   for loss, a, b in self.parts)

    def value(self, problem, theta):
        return self._sum("value", problem, theta)

    def gradient(self, problem, theta):
        return self._sum("gradient", problem, theta)

    def gn_hessian(self, problem, theta):
        return self._sum("gn_hessian", problem, theta)

    def log_likelihood(self, problem, theta):
        shared = _Memo(problem)
        return sum(loss.log_likelihood(_SegmentView(shared, a, b), theta) for loss, a, b in self.parts)

    def check_data(self, problem):
        for loss, a, b in self.parts:
            loss.check_data(_SegmentView(problem, a, b))


@dataclass(frozen=True)
class PriorLoss(Loss):
    """A loss plus the priors of free parameters: the objective of a MAP fit.

    ``value = base.value + errordef · Σ stat_k(θ_k)`` with ``stat_k = −2 ln π_k``
    (:mod:`swiftfit.priors`), so the penalty is in the statistic's units (χ²
    for ls, ``−ln L`` for ML-poisson). The gradient and the Gauss–Newton
    Hessian get the priors' terms too (a diagonal ``errordef · curvature``), so
    the covariance ``2·errordef·H⁻¹`` is the posterior's (Laplace
    approximation). ``log_likelihood`` is the log posterior up to its
    normalisation, ``ln L + Σ ln π_k``.

    ``name`` and ``errordef`` are the base loss's, so capability checks and
    statistics treat it as the base loss; solvers that work on the residuals
    alone would ignore the priors, which is why the model routes prior fits to
    loss-based solvers (see ``FittingMixin._fit_setup``).

    ``priors`` holds ``(parameter, prior)``; a parameter that is not a free
    column of the problem (fixed, twinned, tied) is ignored.
    """

    base: Loss | None = None
    priors: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "name", self.base.name)
        object.__setattr__(self, "errordef", self.base.errordef)

    def _columns(self, problem) -> list:
        """``[(column, prior), ...]`` of the priors on free columns of ``problem``."""
        plans = getattr(problem, "plans", None)
        if plans is None:  # not a compiled model problem: nothing to map
            return []
        params = [p for c in problem.components for p in c.parameters]
        col = {id(p): plan.column for p, plan in zip(params, plans) if plan.kind == "free"}
        return [(col[id(p)], prior) for p, prior in self.priors if id(p) in col]

    def prior_stat(self, problem, theta) -> np.ndarray:
        """``Σ −2 ln π_k(θ_k)`` per pixel ``(B,)`` (no errordef)."""
        theta = np.atleast_2d(theta)
        out = np.zeros(theta.shape[0])
        for j, prior in self._columns(problem):
            out = out + prior.stat(theta[:, j])
        return out

    def residuals(self, problem, theta):
        return self.base.residuals(problem, theta)

    def value(self, problem, theta):
        return self.base.value(problem, theta) + self.errordef * self.prior_stat(problem, theta)

    def gradient(self, problem, theta):
        g = np.array(self.base.gradient(problem, theta), dtype=float)
        for j, prior in self._columns(problem):
            g[:, j] += self.errordef * prior.gradient(np.atleast_2d(theta)[:, j])
        return g

    def gn_hessian(self, problem, theta):
        H = np.array(self.base.gn_hessian(problem, theta), dtype=float)
        for j, prior in self._columns(problem):
            H[:, j, j] += self.errordef * prior.curvature(np.atleast_2d(theta)[:, j])
        return H

    def covariance(self, problem, theta):
        """The posterior covariance ``2·errordef·H⁻¹`` with the priors' curvature
        in H (for Huber too: its sandwich has no prior term to add).
        """
        return 2 * self.errordef * _invert(self.gn_hessian(problem, theta))

    def log_prior(self, problem, theta) -> np.ndarray:
        """``Σ ln π_k(θ_k)`` up to the constants of the penalties ``(B,)``."""
        return -0.5 * self.prior_stat(problem, theta)

    def log_likelihood(self, problem, theta):
        return self.base.log_likelihood(problem, theta) + self.log_prior(problem, theta)

    def log_likelihood_from_chisq(self, problem, chi2):
        """The base's data ln L (ls); the caller adds :meth:`log_prior`."""
        return self.base.log_likelihood_from_chisq(problem, chi2)

    def check_data(self, problem):
        self.base.check_data(problem)


def with_priors(loss: Loss, parameters) -> Loss:
    """``loss`` with the priors of ``parameters`` added, or ``loss`` itself
    (the very object) when none of them has a prior.

    Examples
    --------
    >>> with_priors(LeastSquares(), []) == LeastSquares()
    True
    """
    priors = tuple((p, p.prior) for p in parameters if getattr(p, "prior", None) is not None)
    return PriorLoss(base=loss, priors=priors) if priors else loss
