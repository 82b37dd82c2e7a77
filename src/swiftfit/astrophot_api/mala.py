"""``MALA``: the Metropolis-adjusted Langevin algorithm, preconditioned, several chains in lock-step."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from ._sampler_base import BaseSampler, _float_arg, _int_arg

__all__ = ["MALA"]


class MALA(BaseSampler):
    """Metropolis-adjusted Langevin sampler on our analytic gradients.

    A proposal moves along the preconditioned gradient of ``ln p`` and adds
    noise, ``x' = x + (ε²/2) M ∇ln p(x) + ε M^{1/2} z``, and is accepted
    with the Metropolis–Hastings ratio of the asymmetric proposal. All
    chains take their step together: one batched ``χ²`` and one batched
    gradient per step.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like, optional
        ``(P,)`` (chains start at draws from the Laplace covariance around
        it) or ``(chains, P)``. Default: around the current values.
    chains : int
        Chains run in parallel (default 4).
    epsilon : float, optional
        Step size in the preconditioned space. Default ``1.6 P^(-1/3)``
        (near optimal for a Gaussian posterior with an exact ``M``); tuned
        during ``warmup`` by dual averaging towards ``target_accept``.
    mass_matrix : float, (P,) or (P, P) array, optional
        The preconditioner ``M``, a covariance-like matrix (as AstroPhot's).
        Default: the Laplace covariance ``2 H⁻¹`` at the start point — the
        LM covariance when the model has just been fitted.
    max_iter : int
        Draws kept per chain.
    warmup : int
        Steps run first and discarded, with step-size adaptation (default 200).
    target_accept : float
        Acceptance rate the warm-up aims at (default 0.574, the optimum for MALA).
    progress_bar, likelihood, seed, prior, use_parameter_priors, write_back
        As :class:`~swiftfit.astrophot_api._sampler_base.BaseSampler`.

    Attributes
    ----------
    chain : ndarray (max_iter, chains, P)
    epsilon : float
        The step size used for sampling (after adaptation).

    Examples
    --------
    >>> m.fit()                                                  # doctest: +SKIP
    >>> s = MALA(m, chains=8, max_iter=2000, seed=1).fit()       # doctest: +SKIP
    >>> s.summary().mean                                         # doctest: +SKIP
    """

    _desc = "MALA"

    def __init__(self, model, initial_state=None, chains: int = 4, epsilon: float | None = None,
                 mass_matrix=None, max_iter: int = 1000, progress_bar: bool = True, likelihood: str = "gaussian",
                 warmup: int = 200, target_accept: float = 0.574, seed=None, prior=None,
                 use_parameter_priors: bool = True, write_back: bool = True):
        super().__init__(model, initial_state=initial_state, max_iter=max_iter, progress_bar=progress_bar,
                         likelihood=likelihood, prior=prior, seed=seed,
                         use_parameter_priors=use_parameter_priors, write_back=write_back)
        self.chains = _int_arg("chains", chains, 1)
        self.epsilon = 1.6 * self.ndim ** (-1.0 / 3.0) if epsilon is None else _float_arg("epsilon", epsilon)
        self.warmup = _int_arg("warmup", warmup, 0)
        self.target_accept = _float_arg("target_accept", target_accept)
        if not 0 < self.target_accept < 1:
            raise InvalidInputError(f"`target_accept` must be in (0, 1), got {target_accept!r}")
        self.mass_matrix = None if mass_matrix is None else self._check_matrix("mass_matrix", mass_matrix, self.ndim)

    def _n_chains(self) -> int:
        return self.chains

    @staticmethod
    def _log_q(to, mean, Linv, eps):
        """``ln q(to | ·)`` up to a constant, for the proposal ``N(mean, ε² M)``, ``M = L Lᵀ``."""
        z = (to - mean) @ Linv.T
        return -0.5 * np.sum(z * z, axis=1) / eps**2

    def _prepare(self, M):
        L = np.linalg.cholesky(M)
        return M, L, np.linalg.inv(L)  # L⁻¹ once: cheaper than a triangular solve per step

    def _propose(self, X, lp, g, eps, prep, keep):
        M, L, Linv = prep
        C, P = X.shape
        drift = X + 0.5 * eps**2 * (g @ M)
        Y = drift + eps * self.rng.standard_normal((C, P)) @ L.T
        lp_y, g_y = self._log_posterior_and_gradient(Y)
        with np.errstate(all="ignore"):
            back = Y + 0.5 * eps**2 * (g_y @ M)
            log_alpha = (lp_y - lp) + self._log_q(X, back, Linv, eps) - self._log_q(Y, drift, Linv, eps)
            log_alpha = np.where(np.isfinite(log_alpha) | (log_alpha == np.inf), log_alpha, -np.inf)
            log_alpha = np.where(np.isfinite(lp_y), log_alpha, -np.inf)
        return Y, lp_y, g_y, log_alpha

    def _run(self, start, nsteps: int, adapt: bool):
        return self._gradient_chains(start, nsteps, adapt, self.mass_matrix)
