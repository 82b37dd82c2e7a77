"""A model at its current position, seen as functions of its free-parameter vector.

The seed-002 fitters and samplers (AstroPhot's ``fit`` package) work on one
flat vector ``x`` of free values. :class:`FitTarget` compiles a
:class:`~swiftfit.model.model1d.Model1D`, ``Model2D`` or
:class:`~swiftfit.model.joint.JointModel` once into a one-pixel
:class:`~swiftfit.problem.problem.Problem` and answers, for any ``x``:
the model, the weighted residuals, the Jacobian, ``−2 ln L`` (up to a
constant) with its gradient and Gauss–Newton/Fisher Hessian, and ``ln L``.
Evaluations at ``K`` points at once (chains, walkers) run as one batched
problem of ``K`` identical pixels.

Everything here uses our analytic gradients (finite differences only for
components that give none), never PyTorch.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from ..problem.fittable import Fittable
from ..problem.problem import ParamPlan, Problem
from ..problem.request import make_request
from ..problem.solution import Solution

__all__ = ["FitTarget", "LIKELIHOODS"]

LIKELIHOODS = ("gaussian", "poisson")


class FitTarget:
    """A model at its current navigation position as functions of ``x`` (P,).

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
        Compiled at its current position (every model's, for a joint model).
    likelihood : {"gaussian", "poisson"}
        ``"gaussian"``: weighted least squares (``−2 ln L = χ²``);
        ``"poisson"``: Poisson counts (``−2 ln L = 2 Σ (m − d ln m)``).

    Attributes
    ----------
    names : list of str
        The free parameters, as ``"Component.parameter"``.
    x0 : ndarray (P,)
        Their current values.
    lower, upper : ndarray (P,)
        Their bounds (``±inf`` where unset).
    writable : bool
        Whether :meth:`write_back` can store into the model (False for a
        :meth:`restrict`-ed target).

    Examples
    --------
    >>> t = FitTarget(m)
    >>> round(float(t.chi2(t.x0)), 2), t.gradient(t.x0).shape
    (322.3, (4,))
    """

    def __init__(self, model, likelihood: str = "gaussian", grad="auto", fd_scheme: str = "2-point"):
        if likelihood not in LIKELIHOODS:
            raise InvalidInputError(f"`likelihood` must be one of {LIKELIHOODS}, got {likelihood!r}")
        if not isinstance(model, Fittable):
            raise InvalidTypeError(f"`model` must be a Model1D, Model2D or JointModel (a Fittable), got "
                                   f"{type(model).__name__}")
        self.model = model
        self.likelihood = likelihood
        # several models (the iterative fitter goes model by model; a step is saved as a state)
        self.joint = hasattr(model, "models") and not hasattr(model, "signal")
        # the fittable interface: the model (every model, for a joint one) at its current position
        self.problem = model.compile(grad=grad, fd_scheme=fd_scheme)
        self.writable = True
        if not np.isfinite(self.problem.data).all():
            raise InvalidInputError("the data at the current position contain NaN or inf inside the signal range")
        # the one request (swiftfit.problem.request) resolves the loss, as at every door
        self.request = make_request("lm", "ls" if likelihood == "gaussian" else "ML-poisson", grad, bounded=False,
                                    fd_scheme=fd_scheme, options={"backend": "numpy"})
        self.loss = self.request.loss
        self.loss.check_data(self.problem)
        self.names = list(self.problem.names)
        if not self.names:
            raise InvalidInputError("the model has no free parameters to fit")
        self.x0 = np.array(self.problem.p0[0], dtype=float)
        self.lower = np.asarray(self.problem.lower, dtype=float).reshape(-1)
        self.upper = np.asarray(self.problem.upper, dtype=float).reshape(-1)
        self._batched: dict[int, object] = {1: self.problem}
        self.nfev = 0

    # ------------------------------------------------------------- sizes
    @property
    def P(self) -> int:
        """Number of free parameters."""
        return len(self.names)

    @property
    def N(self) -> int:
        """Number of data points."""
        return self.problem.N

    @property
    def ndf(self) -> int:
        """Degrees of freedom ``N − P``."""
        return self.N - self.P

    @property
    def data(self) -> np.ndarray:
        return self.problem.data[0]

    @property
    def weights(self) -> np.ndarray | None:
        return None if self.problem.weights is None else self.problem.weights[0]

    # -------------------------------------------------------- one point
    def _theta(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.shape != (self.P,):
            raise InvalidInputError(f"a parameter vector must have shape ({self.P},), got {x.shape}")
        return x[None, :]

    def model_values(self, x) -> np.ndarray:
        """The model at ``x``, ``(N,)``."""
        self.nfev += 1
        return self.problem.evaluate(self._theta(x))[0]

    def residuals(self, x) -> np.ndarray:
        """Weighted residuals ``(data − model)·w``, ``(N,)``."""
        self.nfev += 1
        return self.problem.residuals(self._theta(x))[0]

    def jacobian(self, x) -> np.ndarray:
        """``d model / d x``, ``(N, P)`` (unweighted)."""
        return self.problem.jacobian(self._theta(x))[0]

    def weighted_jacobian(self, x) -> np.ndarray:
        """``d model / d x`` times the weights, ``(N, P)``."""
        J = self.jacobian(x)
        w = self.weights
        return J if w is None else J * w[:, None]

    def chi2(self, x) -> float:
        """``−2 ln L`` up to a constant: χ² (gaussian) or ``2 Σ (m − d ln m)`` (poisson)."""
        return float(self.chi2_batch(np.asarray(x, dtype=float)[None, :])[0])

    def gradient(self, x) -> np.ndarray:
        """Gradient of :meth:`chi2`, ``(P,)``."""
        return self.gradient_batch(np.asarray(x, dtype=float)[None, :])[0]

    def hessian(self, x) -> np.ndarray:
        """Gauss–Newton (gaussian) or Fisher (poisson) Hessian of :meth:`chi2`, ``(P, P)``."""
        return self.loss.gn_hessian(self.problem, self._theta(x))[0] / self.loss.errordef

    def log_likelihood(self, x) -> float:
        """``ln L`` with its constants (gaussian: with σ profiled when no variance is set)."""
        return float(self.loss.log_likelihood(self.problem, self._theta(x))[0])

    def covariance(self, x) -> np.ndarray:
        """``2 H⁻¹`` of :meth:`chi2` (unscaled), ``(P, P)``; NaN where singular."""
        return self.loss.covariance(self.problem, self._theta(x))[0]

    # ------------------------------------------------------ K points
    def _problem_for(self, K: int):
        if K not in self._batched:
            self._batched[K] = self.problem.take(np.zeros(K, dtype=int))
        return self._batched[K]

    def chi2_batch(self, X) -> np.ndarray:
        """:meth:`chi2` at ``K`` points ``X (K, P)``, ``(K,)``; ``inf`` where non-finite."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        self.nfev += X.shape[0]
        with np.errstate(all="ignore"):
            v = self.loss.value(self._problem_for(X.shape[0]), X) / self.loss.errordef
        return np.where(np.isfinite(v), v, np.inf)

    def gradient_batch(self, X) -> np.ndarray:
        """:meth:`gradient` at ``K`` points ``X (K, P)``, ``(K, P)``."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        with np.errstate(all="ignore"):
            return self.loss.gradient(self._problem_for(X.shape[0]), X) / self.loss.errordef

    # ------------------------------------------------------------ bounds
    def inside(self, X) -> np.ndarray:
        """Whether each point is within the bounds, ``(K,)`` (or a bool for one point)."""
        X = np.asarray(X, dtype=float)
        ok = ((X >= self.lower) & (X <= self.upper)).all(axis=-1)
        return ok

    def clip(self, x) -> np.ndarray:
        """``x`` moved inside the bounds."""
        return np.clip(np.asarray(x, dtype=float), self.lower, self.upper)

    # -------------------------------------------------------- write back
    def write_back(self, x, covariance=None, status: int = 6, nfev: int | None = None, std=None,
                   verify: bool = True):
        """Store ``x`` (and standard errors) in the model's parameters, with
        the goodness-of-fit maps, in one step (as ``m.fit`` does).

        ``covariance`` (P, P): the errors to store; ``None`` takes the loss's
        (``2 H⁻¹``, scaled by the reduced χ² for gaussian data without a
        noise variance, as ``m.fit``). ``std`` (P,) overrides the diagonal
        (a sampler's posterior std). Returns the statistics ``m.fit`` computes,
        ``"status"`` verified as every door's (``verify=False``: a sampler's
        posterior mean, which is no optimum).
        """
        theta = self._theta(x)
        cov = None if covariance is None else np.asarray(covariance, dtype=float)[None]
        rescale = False if covariance is not None else None
        if std is not None:
            std = np.asarray(std, dtype=float)
            base = np.diag(std ** 2) if cov is None else cov[0].copy()
            d = np.sqrt(np.clip(np.diag(base), 1e-300, None))
            corr = base / np.outer(d, d)
            cov = (corr * np.outer(std, std))[None]
            rescale = False
        solution = Solution(theta=theta, status=np.array([status]), nfev=np.array([nfev or self.nfev]),
                            objective=np.array([self.chi2(x) * self.loss.errordef]), covariance=cov)
        if not self.writable:
            raise InvalidInputError("a restricted target (FitTarget.restrict) cannot write back; use the full target")
        stats = self.model.write_back(self.problem, solution, loss=self.loss, rescale=rescale, verify=verify)
        self.model.remember_fit(self.loss, False)
        cov_out = stats["covariance"]
        target = self.model
        target.covariance = None if cov_out is None else cov_out[0]
        return stats

    # ----------------------------------------------- helpers for fitters
    def parameters(self) -> list:
        """The model parameters in the problem's order (one per plan)."""
        return [p for c in self.problem.components for p in c.parameters]

    def column_components(self) -> np.ndarray:
        """Index (into ``problem.components``) of the component owning each free column, ``(P,)``."""
        owner = np.repeat(np.arange(len(self.problem.components)),
                          [len(c.parameters) for c in self.problem.components])
        cols = np.empty(self.P, dtype=int)
        for i, plan in enumerate(self.problem.plans):
            if plan.kind == "free":
                cols[plan.column] = owner[i]
        return cols

    def _plan_columns(self) -> list:
        """For each plan, the set of free columns its value depends on (structurally)."""
        if getattr(self, "_plan_cols", None) is None:
            pb = self.problem
            cols: list = [set() for _ in pb.plans]
            for i in pb.order:
                plan = pb.plans[i]
                if plan.kind == "free":
                    cols[i] = {plan.column}
                elif plan.kind == "twin":
                    cols[i] = set(cols[plan.source])
                elif plan.kind == "expr":
                    cols[i] = set().union(*(cols[k] for k in plan.deps)) if plan.deps else set()
            self._plan_cols = cols
        return self._plan_cols

    def set_values(self, x) -> None:
        """Store ``x`` (and the twins and ``expr`` ties it implies) as the
        parameters' values at the current position, nothing else (no std, no
        goodness of fit): the state a fitter is at, e.g. to save it.
        """
        values = self.problem.parameter_values(self._theta(x))
        for p, plan, v in zip(self.parameters(), self.problem.plans, values):
            if plan.kind != "fixed":
                p._map["values"][p._index()] = float(np.asarray(v).reshape(-1)[0])

    def restrict(self, mask, x, model_values=None) -> FitTarget:
        """The same target as a function of the columns ``mask`` only, the
        other free parameters held at their values in ``x``.

        Components that do not depend on the selected columns are evaluated
        once, at ``x``, and added as a constant (the "residual of the rest");
        ``model_values`` (N,), the full model at ``x`` when the caller has it,
        spares that evaluation. The returned target cannot :meth:`write_back`.
        """
        mask = np.asarray(mask, dtype=bool)
        x = np.asarray(x, dtype=float)
        if mask.shape != (self.P,) or not mask.any():
            raise InvalidInputError(f"`mask` must be a boolean array of shape ({self.P},) selecting at least one column")
        pb = self.problem
        new_col = np.cumsum(mask) - 1
        plans, fixed = [], pb.fixed.copy()
        for i, plan in enumerate(pb.plans):
            if plan.kind == "free" and not mask[plan.column]:
                fixed[:, i] = x[plan.column]
                plans.append(ParamPlan(plan.name, "fixed"))
            elif plan.kind == "free":
                plans.append(ParamPlan(plan.name, "free", column=int(new_col[plan.column])))
            else:
                plans.append(plan)
        cols = self._plan_columns()
        depends = np.array([any(mask[list(cols[i])].any() for i in slots if cols[i]) for slots in pb.slots],
                           dtype=bool)
        # only the plans the selected components need (and their twin/expr sources) are evaluated
        needed = {i for c in np.flatnonzero(depends) for i in pb.slots[c]}
        needed |= {i for i, plan in enumerate(pb.plans) if plan.kind == "free" and mask[plan.column]}
        stack = list(needed)
        while stack:
            plan = pb.plans[stack.pop()]
            for k in ([plan.source] if plan.kind == "twin" else plan.deps if plan.kind == "expr" else []):
                if k not in needed:
                    needed.add(k)
                    stack.append(k)
        if model_values is None:
            rest = object.__new__(Problem)
            rest.__dict__.update(pb.__dict__)
            rest.active = pb.active & ~depends[None, :]
            base = rest.evaluate(x[None])
        else:
            base = 0.0
        sub = object.__new__(_ShiftedProblem)
        sub.__dict__.update(pb.__dict__)
        sub.plans, sub.fixed, sub.base = plans, fixed, base
        sub.order = [i for i in pb.order if i in needed]
        sub.active = pb.active & depends[None, :]
        if model_values is not None:
            sub.base = np.asarray(model_values, dtype=float).reshape(1, -1) - sub.evaluate(x[mask][None])
        sub.p0 = x[mask][None]
        sub.lower, sub.upper = pb.lower[mask], pb.upper[mask]
        sub.names = [n for n, k in zip(pb.names, mask) if k]
        out = object.__new__(FitTarget)
        out.model, out.likelihood, out.joint = self.model, self.likelihood, self.joint
        out.problem, out.writable = sub, False
        out.loss, out.names = self.loss, list(sub.names)
        out.x0 = x[mask].copy()
        out.lower, out.upper = self.lower[mask], self.upper[mask]
        out._batched, out.nfev = {1: sub}, 0
        return out


class _ShiftedProblem(Problem):
    """A problem plus a constant model ``base`` (1, N): the components held fixed."""

    def _evaluate(self, theta):
        return super()._evaluate(theta) + self.base

    def take(self, rows):
        new = super().take(rows)
        shifted = object.__new__(_ShiftedProblem)
        shifted.__dict__.update(new.__dict__)
        return shifted
