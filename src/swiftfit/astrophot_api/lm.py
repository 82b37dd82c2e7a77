"""LM: Levenberg–Marquardt with Gavin's damping (AstroPhot's ``fit.lm``).

Each step solves ``(H + λ diag H) h = −g`` for the gradient ``g`` and the
Gauss–Newton (gaussian) or Fisher (poisson) Hessian ``H`` of ``−2 ln L``,
from our analytic Jacobians. A trial is accepted when its gain ratio
``ρ = (actual reduction) / (reduction the quadratic model predicts)`` exceeds
0.1, after which ``λ ← λ / Ldn``; otherwise ``λ ← λ · Lup`` and the step is
re-solved, at most ``max_step_iter`` times (H. P. Gavin, *The
Levenberg–Marquardt algorithm for nonlinear least squares curve-fitting
problems*, 2019, update rule 1).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from ..problem.solution import Status
from .base import BaseOptimizer, _positive_float, _positive_int

__all__ = ["LM", "LMConstraint"]

_ACCEPT = 0.1  # Gavin's ε4: smallest gain ratio of an accepted step
_L_MIN, _L_MAX = 1e-12, 1e12


class LMConstraint:
    """A soft constraint added to LM's objective as extra residuals ``c(x) / σ``.

    Parameters
    ----------
    model : model
        The model the constraint belongs to (kept for AstroPhot's signature).
    constraint : callable
        ``constraint(x) -> array (K,)``, zero when satisfied; ``x`` is the
        free vector in the order of ``FitTarget(model).names``.
    sigma : float or array (K,)
        Its tolerance: the penalty added to χ² is ``Σ (c(x) / σ)²``.
    name : str, optional
    jacobian : callable, optional
        ``jacobian(x) -> (K, P)``; default central differences.

    Examples
    --------
    >>> c = LMConstraint(m, lambda x: [x[3] - 10.0], sigma=1e-3)   # pin the offset at 10
    >>> _ = LM(m, constraint=c, verbose=0).fit()
    >>> round(m[1].offset.value, 2)
    10.0
    """

    def __init__(self, model, constraint, sigma, name: str | None = None, jacobian=None):
        if not callable(constraint):
            raise InvalidTypeError(f"`constraint` must be a callable c(x) -> array, got {constraint!r}")
        sigma = np.asarray(sigma, dtype=float)
        if not (np.isfinite(sigma).all() and (sigma > 0).all()):
            raise InvalidInputError(f"`sigma` must be positive and finite, got {sigma!r}")
        if jacobian is not None and not callable(jacobian):
            raise InvalidTypeError(f"`jacobian` must be a callable or None, got {jacobian!r}")
        self.model, self.constraint, self.sigma, self.name = model, constraint, sigma, name
        self._jacobian = jacobian

    def residuals(self, x) -> np.ndarray:
        """``c(x) / σ``, ``(K,)``."""
        return np.atleast_1d(np.asarray(self.constraint(np.asarray(x, dtype=float)), dtype=float)) / self.sigma

    def jacobian(self, x) -> np.ndarray:
        """``d (c/σ) / dx``, ``(K, P)``."""
        x = np.asarray(x, dtype=float)
        if self._jacobian is not None:
            return np.atleast_2d(np.asarray(self._jacobian(x), dtype=float)) / np.reshape(self.sigma, (-1, 1))
        cols = []
        for j in range(x.size):
            h = np.finfo(float).eps ** (1 / 3) * max(1.0, abs(x[j]))
            up, dn = x.copy(), x.copy()
            up[j] += h
            dn[j] -= h
            cols.append((self.residuals(up) - self.residuals(dn)) / (2 * h))
        return np.stack(cols, axis=1)


class LM(BaseOptimizer):
    """Levenberg–Marquardt on a model's free parameters (AstroPhot's ``LM``).

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like (P,), optional
    max_iter : int
        Most accepted steps.
    relative_tolerance : float
        Converged when an accepted step, taken with ``λ < 1`` (close to
        Gauss–Newton), reduced ``−2 ln L`` by less than this fraction.
    Lup, Ldn : float
        Factors by which ``λ`` grows after a rejected trial and shrinks
        after an accepted one.
    L0 : float
        Initial ``λ``.
    max_step_iter : int
        Most trials (``λ`` increases) per step.
    ndf : int, optional
        Degrees of freedom for :meth:`chi2_ndf`; default ``N − P``.
    likelihood : {"gaussian", "poisson"}
    constraint : LMConstraint, callable or list of them, optional
        Soft constraints added to the objective (a bare callable has σ = 1).
    forward, jacobian : None
        AstroPhot's hooks for a user's own model function; swiftfit models
        provide both, so only None is accepted.
    **kwargs
        ``verbose``, ``save_steps``, ``fit_valid`` of :class:`BaseOptimizer`.

    Attributes
    ----------
    L : float
        The current damping.
    L_history : list of float
        ``λ`` of every accepted step.

    Examples
    --------
    >>> fitter = LM(m, verbose=0).fit()
    >>> fitter.message[:8], np.round(m.red_chisq.data, 3)
    ('success:', array([1.103]))
    >>> fitter.covariance_matrix.shape
    (4, 4)
    """

    default_max_iter = 100

    def __init__(self, model, initial_state=None, max_iter: int = 100, relative_tolerance: float = 1e-5,
                 Lup: float = 11.0, Ldn: float = 9.0, L0: float = 1.0, max_step_iter: int = 10, ndf=None,
                 likelihood: str = "gaussian", constraint=None, forward=None, jacobian=None, **kwargs):
        if forward is not None or jacobian is not None:
            raise InvalidInputError(
                "`forward` and `jacobian` must be None: a swiftfit model evaluates itself and gives "
                "analytic Jacobians; put a custom function in an Expression or Component instead")
        super().__init__(model, initial_state=initial_state, relative_tolerance=relative_tolerance,
                         max_iter=max_iter, likelihood=likelihood, **kwargs)
        self.Lup = _positive_float("Lup", Lup)
        self.Ldn = _positive_float("Ldn", Ldn)
        if self.Lup <= 1 or self.Ldn <= 1:
            raise InvalidInputError(f"`Lup` and `Ldn` must be > 1, got Lup={Lup!r}, Ldn={Ldn!r}")
        self.L = _positive_float("L0", L0)
        self.max_step_iter = _positive_int("max_step_iter", max_step_iter, allow_none=False)
        if ndf is not None and (isinstance(ndf, bool) or not isinstance(ndf, Integral) or ndf < 1):
            raise InvalidInputError(f"`ndf` must be a positive integer or None, got {ndf!r}")
        self._ndf = None if ndf is None else int(ndf)
        self.constraints = self._constraints(constraint)
        self.L_history: list[float] = []
        self._done = False
        self._covariance = None

    @staticmethod
    def _constraints(constraint) -> list:
        if constraint is None:
            return []
        items = constraint if isinstance(constraint, (list, tuple)) else [constraint]
        out = []
        for c in items:
            if isinstance(c, LMConstraint):
                out.append(c)
            elif callable(c):
                out.append(LMConstraint(None, c, 1.0))
            else:
                raise InvalidTypeError(f"`constraint` must be an LMConstraint, a callable or a list of them, got {c!r}")
        return out

    # ------------------------------------------------------- objective
    def _evaluate(self, x):
        """``(−2 ln L + penalty, aux)``: aux is what :meth:`_gain` needs (the
        residual vector for gaussian data, the model and penalty residuals for poisson).
        """
        t = self.target
        rc = [c.residuals(x) for c in self.constraints]
        if self.likelihood == "gaussian":
            r = np.concatenate([t.residuals(x)] + rc) if rc else t.residuals(x)
            value = float(r @ r)
            return (value if np.isfinite(value) else np.inf), r
        value = t.chi2(x)
        rc = np.concatenate(rc) if rc else np.zeros(0)
        return value + float(rc @ rc), (t.model_values(x), rc)

    def _loss(self, x) -> float:
        return self._evaluate(x)[0]

    def _gain(self, a, b) -> float:
        """Objective at ``a`` minus at ``b``, computed without cancellation
        (so that steps far below the objective's rounding are still judged).
        """
        if self.likelihood == "gaussian":
            with np.errstate(all="ignore"):
                return float(np.sum((a - b) * (a + b)))
        (ma, ra), (mb, rb) = a, b
        d = self.target.data
        with np.errstate(all="ignore"):
            dm = ma - mb
            logs = np.where(d > 0, d * np.log1p(dm / mb), 0.0)
            return float(2.0 * np.sum(dm - logs) + np.sum((ra - rb) * (ra + rb)))

    def _derivatives(self, x):
        """Gradient and Gauss–Newton/Fisher Hessian of the objective at ``x``."""
        t = self.target
        if self.likelihood == "gaussian":
            r = t.residuals(x)
            J = t.weighted_jacobian(x)
            G, H = -2.0 * (J.T @ r), 2.0 * (J.T @ J)
        else:
            G, H = t.gradient(x), t.hessian(x)
        for c in self.constraints:
            rc, Jc = c.residuals(x), c.jacobian(x)
            G = G + 2.0 * (Jc.T @ rc)
            H = H + 2.0 * (Jc.T @ Jc)
        return G, H

    # ------------------------------------------------------------- LM
    def step(self, current_state=None) -> None:
        """One LM step: up to ``max_step_iter`` trials with growing ``λ``."""
        if current_state is not None:
            x = self._valid(np.asarray(current_state, dtype=float))
            self._record(x, self._loss(x))
        if not self.loss_history:
            self._record(self.current_state, self._loss(self.current_state))
        x, c0 = self.current_state, self.loss_history[-1]
        if getattr(self, "_aux_state", None) is None or not np.array_equal(self._aux_state[0], x):
            self._aux_state = (x.copy(), self._evaluate(x)[1])
        aux0 = self._aux_state[1]
        G, H = self._derivatives(x)
        if not (np.isfinite(G).all() and np.isfinite(H).all()):
            self._done, self._outcome = True, (False, "fail: non-finite gradient or Hessian")
            return
        # a parameter at a bound that the gradient pushes outward is held for this step
        # (an active set), so the fit converges to the bound instead of zig-zagging on it
        lo, hi = self._bounds()
        free = ~(((x <= lo) & (G > 0)) | ((x >= hi) & (G < 0)))
        if not free.any():
            self._done, self._outcome = True, (True, "success: every parameter is held at a bound")
            return
        Hf, Gf = H[np.ix_(free, free)], G[free]
        d = np.diag(Hf).copy()
        floor = max(d.max(initial=0.0), 1e-300) * 1e-12
        d = np.where(d > floor, d, floor)
        first_pred = None
        for _ in range(self.max_step_iter):
            h = np.zeros_like(x)
            try:
                h[free] = np.linalg.solve(Hf + self.L * np.diag(d), -Gf)
            except np.linalg.LinAlgError:
                self.L = min(self.L * self.Lup, _L_MAX)
                continue
            xn = self._valid(x + h)
            h = xn - x
            pred = -(G @ h + 0.5 * h @ H @ h)
            if first_pred is None:
                first_pred = pred
            cn, auxn = self._evaluate(xn)
            gain = self._gain(aux0, auxn) if np.isfinite(cn) else -np.inf
            if np.isfinite(cn) and gain > 0 and pred > 0 and gain / pred > _ACCEPT:
                small = gain / max(abs(cn), 1e-300) < self.relative_tolerance and self.L < 1
                self.L_history.append(self.L)
                self.L = max(self.L / self.Ldn, _L_MIN)
                self._record(xn, cn)
                self._aux_state = (xn.copy(), auxn)
                self._say(f"iter {len(self.loss_history) - 1}: chi2/ndf {cn / self.ndf:.8g}, L {self.L:.3g}", 1)
                if small:
                    self._done = True
                    self._outcome = (True, "success: relative improvement of chi2 below relative_tolerance")
                return
            self.L = min(self.L * self.Lup, _L_MAX)
        # no trial improved: a minimum (to the tolerance) if even the least damped
        # step promised less than the tolerance, else a failure
        if first_pred is not None and first_pred <= self.relative_tolerance * max(abs(c0), 1e-300):
            self._done, self._outcome = True, (True, "success: no step improves chi2 beyond relative_tolerance")
        else:
            self._done = True
            self._outcome = (False, f"fail: could not find a step that improves chi2 in {self.max_step_iter} trials")

    def _start_fit(self) -> None:
        self._done = False

    def _stop(self):
        return self._outcome if self._done else None  # step() decides

    def fit(self, update_uncertainty: bool = True) -> LM:
        """Iterate :meth:`step` until converged; write the result into the model.

        ``update_uncertainty=False`` writes only the values (no std, no
        goodness-of-fit maps).
        """
        success, message = self._iterate()
        x = self.res()
        if update_uncertainty:
            self._finish(x, success, message, covariance=self._constraint_covariance(x))
            self._covariance = None
        else:
            self.success, self.message, self.current_state = success, message, x
            self.status = Status.OPTIMIZER_SUCCESS if success else Status.MAX_NFEV
            if self.target.writable:
                self.target.set_values(x)
            self._say(message)
        return self

    # ---------------------------------------------------- uncertainties
    def _constraint_covariance(self, x):
        """None (the loss's, as ``m.fit``) without constraints; with them, ``2 H⁻¹`` of the total."""
        if not self.constraints:
            return None
        _, H = self._derivatives(x)
        cov = 2.0 * np.linalg.pinv(H)
        if self.likelihood == "gaussian" and self.target.weights is None:
            cov = cov * self.target.chi2(x) / max(self.target.ndf, 1)
        return cov

    @property
    def covariance_matrix(self) -> np.ndarray:
        """Covariance of the free parameters at :meth:`res`, ``(P, P)``:
        ``2 H⁻¹`` of ``−2 ln L``, multiplied by χ²/ndf for gaussian data
        without a noise variance (as ``m.fit``, HyperSpy's convention).
        """
        if self._covariance is None:
            x = self.res()
            cov = self._constraint_covariance(x)
            if cov is None:
                cov = self.target.covariance(x)
                if self.likelihood == "gaussian" and self.target.weights is None:
                    cov = cov * self.target.chi2(x) / max(self.target.ndf, 1)
            self._covariance = cov
        return self._covariance

    def update_uncertainty(self) -> None:
        """Write :meth:`res` and its standard errors (the covariance's diagonal,
        as ``m.fit`` computes them) into the model.
        """
        x = self.res()
        self.target.write_back(x, covariance=self._constraint_covariance(x), status=self.status or Status.OPTIMIZER_SUCCESS)

    def chi2_ndf(self) -> float:
        """χ² (weighted least squares) at :meth:`res` per degree of freedom."""
        r = self.target.residuals(self.res())
        return float(r @ r) / self.ndf

    def poisson_2nll_ndf(self) -> float:
        """``2 Σ (m − d ln m)`` at :meth:`res` per degree of freedom."""
        m = self.target.model_values(self.res())
        d = self.target.data
        with np.errstate(all="ignore"):
            terms = np.where(d > 0, m - d * np.log(m), m)
        return float(2.0 * terms.sum()) / self.ndf
