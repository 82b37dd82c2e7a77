"""``HMC``: Hamiltonian Monte Carlo on our analytic gradients, several chains in lock-step."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from ._sampler_base import BaseSampler, _float_arg, _int_arg

__all__ = ["HMC"]

# keys of AstroPhot's (Pyro's) hmc_kwargs / mcmc_kwargs that mean something here
_HMC_KWARGS = {"step_size": "epsilon", "num_steps": "leapfrog_steps", "target_accept_prob": "target_accept",
               "adapt_step_size": "adapt_step_size"}
_MCMC_KWARGS = {"num_chains": "chains", "warmup_steps": "warmup", "num_samples": "max_iter",
                "disable_progbar": "progress_bar"}


def _pyro_options(hmc_kwargs, mcmc_kwargs) -> dict:
    """AstroPhot passed these dicts to Pyro: map the keys that mean something here, refuse the rest."""
    out = {}
    for kwname, given, table in (("hmc_kwargs", hmc_kwargs, _HMC_KWARGS), ("mcmc_kwargs", mcmc_kwargs, _MCMC_KWARGS)):
        if given is not None and not isinstance(given, dict):
            raise InvalidInputError(f"`{kwname}` must be a dict, got {type(given).__name__}")
        for key, value in (given or {}).items():
            if key not in table:
                raise InvalidInputError(f"`{kwname}` key {key!r} is not supported; known keys: {sorted(table)}")
            out[table[key]] = (not value) if key == "disable_progbar" else value
    return out


class HMC(BaseSampler):
    """Hamiltonian Monte Carlo: leapfrog trajectories plus a Metropolis test.

    Momenta are drawn from ``N(0, inv_mass⁻¹)``; ``leapfrog_steps`` steps of
    size ``ε`` integrate Hamilton's equations on ``−ln p``; the end point is
    accepted with probability ``min(1, exp(−ΔH))``. During ``warmup`` the step
    size is tuned by dual averaging (Hoffman & Gelman 2014) towards
    ``target_accept``; each trajectory's ``ε`` is jittered by
    ``±jitter`` to avoid periodic trajectories. All chains move together:
    one batched gradient per leapfrog step.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like, optional
        ``(P,)`` (chains start at draws from the Laplace covariance around
        it) or ``(chains, P)``. Default: around the current values.
    max_iter : int
        Draws kept per chain (after ``warmup``).
    inv_mass : float, (P,) or (P, P) array, optional
        Inverse mass matrix (a covariance). Default: the Laplace covariance
        ``2 H⁻¹`` at the start (the LM covariance after a fit), which makes a
        near-Gaussian posterior round.
    epsilon : float, optional
        Leapfrog step (the starting value of the adaptation when
        ``warmup > 0``). Default ``P^(-1/4)``.
    leapfrog_steps : int
        Leapfrog steps per trajectory (default 10).
    progress_bar : bool
    prior : callable or distribution, optional
        ``ln π(x)``; its ``gradient(x)`` method is used when it has one.
        Multiplies the bounds and the parameters' priors.
    warmup : int
        Adaptation steps, discarded (default 100).
    chains : int
        Chains run in parallel (default 4).
    likelihood : {"gaussian", "poisson"}
    target_accept : float
        Mean acceptance probability aimed at during warm-up (default 0.8).
    jitter : float
        Relative jitter of ``ε`` per trajectory, in ``[0, 1)`` (default 0.2).
    seed, use_parameter_priors, write_back
        As :class:`~swiftfit.astrophot_api._sampler_base.BaseSampler`.
    adapt_step_size : bool
        Tune ``ε`` during warm-up (default True).
    hmc_kwargs, mcmc_kwargs : dict, optional
        AstroPhot's Pyro options, mapped where they have a meaning here:
        ``step_size``, ``num_steps``, ``target_accept_prob``,
        ``adapt_step_size``; ``num_chains``, ``warmup_steps``,
        ``num_samples``, ``disable_progbar``. Other keys raise.

    Trajectories that leave the bounds are rejected (the posterior is zero
    there), which is exact but slows sampling near a bound.

    Attributes
    ----------
    chain : ndarray (max_iter, chains, P)
    epsilon : float
        The step size used for sampling (after adaptation).
    divergences : int
        Trajectories whose energy error exceeded 1000 or was not finite.

    Examples
    --------
    >>> m.fit()                                                  # doctest: +SKIP
    >>> h = HMC(m, chains=4, max_iter=1000, seed=2).fit()        # doctest: +SKIP
    >>> h.summary().rhat                                         # doctest: +SKIP
    """

    _desc = "HMC"

    def __init__(self, model, initial_state=None, max_iter: int = 1000, inv_mass=None,
                 epsilon: float | None = None, leapfrog_steps: int = 10, progress_bar: bool = True, prior=None,
                 warmup: int = 100, chains: int = 4, likelihood: str = "gaussian", target_accept: float = 0.8,
                 jitter: float = 0.2, seed=None, use_parameter_priors: bool = True, write_back: bool = True,
                 adapt_step_size: bool = True, hmc_kwargs: dict | None = None, mcmc_kwargs: dict | None = None):
        o = dict(epsilon=epsilon, leapfrog_steps=leapfrog_steps, target_accept=target_accept,
                 adapt_step_size=adapt_step_size, chains=chains, warmup=warmup, max_iter=max_iter,
                 progress_bar=progress_bar)
        o.update(_pyro_options(hmc_kwargs, mcmc_kwargs))
        epsilon, leapfrog_steps, target_accept = o["epsilon"], o["leapfrog_steps"], o["target_accept"]
        adapt_step_size, chains, warmup = o["adapt_step_size"], o["chains"], o["warmup"]
        max_iter, progress_bar = o["max_iter"], o["progress_bar"]
        super().__init__(model, initial_state=initial_state, max_iter=max_iter, progress_bar=progress_bar,
                         likelihood=likelihood, prior=prior, seed=seed,
                         use_parameter_priors=use_parameter_priors, write_back=write_back)
        self.chains = _int_arg("chains", chains, 1)
        self.leapfrog_steps = _int_arg("leapfrog_steps", leapfrog_steps, 1)
        self.warmup = _int_arg("warmup", warmup, 0)
        self.epsilon = self.ndim ** (-0.25) if epsilon is None else _float_arg("epsilon", epsilon)
        self.target_accept = _float_arg("target_accept", target_accept)
        if not 0 < self.target_accept < 1:
            raise InvalidInputError(f"`target_accept` must be in (0, 1), got {target_accept!r}")
        self.jitter = _float_arg("jitter", jitter, positive=False)
        if not 0 <= self.jitter < 1:
            raise InvalidInputError(f"`jitter` must be in [0, 1), got {jitter!r}")
        self.inv_mass = None if inv_mass is None else self._check_matrix("inv_mass", inv_mass, self.ndim)
        self.adapt_step_size = bool(adapt_step_size)
        self.divergences = 0

    def _n_chains(self) -> int:
        return self.chains

    def _trajectory(self, X, g, Pm, eps_c, S):
        """Leapfrog from ``(X, p)``; returns the end ``(X, p, ln p, grad)``."""
        e = eps_c[:, None]
        with np.errstate(all="ignore"):
            Pm = Pm + 0.5 * e * g
            for step in range(self.leapfrog_steps):
                X = X + e * (Pm @ S)
                if step < self.leapfrog_steps - 1:
                    Pm = Pm + e * self._grad_log_posterior(X)
        lp, g = self._log_posterior_and_gradient(X)
        with np.errstate(all="ignore"):
            Pm = Pm + 0.5 * e * g
        return X, Pm, lp, g

    def _prepare(self, S):
        return S, np.linalg.inv(np.linalg.cholesky(S)).T  # p = L⁻ᵀ z has covariance S⁻¹

    def _propose(self, X, lp, g, eps, prep, keep):
        S, L_inv_T = prep
        C, P = X.shape
        # p ~ N(0, S⁻¹): p = L⁻ᵀ z with S = L Lᵀ
        P0 = self.rng.standard_normal((C, P)) @ L_inv_T.T
        eps_c = eps * (1.0 + self.jitter * self.rng.uniform(-1.0, 1.0, size=C))
        Y, P1, lp_y, g_y = self._trajectory(X, g, P0, eps_c, S)
        with np.errstate(all="ignore"):
            h0 = -lp + 0.5 * np.sum((P0 @ S) * P0, axis=1)
            h1 = -lp_y + 0.5 * np.sum((P1 @ S) * P1, axis=1)
            log_alpha = np.where(np.isfinite(h1), h0 - h1, -np.inf)
            if keep:
                self.divergences += int((~np.isfinite(h1) | (h1 - h0 > 1000)).sum())
        return Y, lp_y, g_y, log_alpha

    def _run(self, start, nsteps: int, adapt: bool):
        return self._gradient_chains(start, nsteps, adapt, self.inv_mass, self.adapt_step_size)
