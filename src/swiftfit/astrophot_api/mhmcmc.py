"""``MHMCMC``: emcee's affine-invariant ensemble sampler on a swiftfit model (seed 002)."""

from __future__ import annotations

import numpy as np

from .._optional import require
from ..errors import InvalidInputError
from . import diagnostics
from ._sampler_base import BaseSampler, _int_arg

__all__ = ["MHMCMC"]


class MHMCMC(BaseSampler):
    """Metropolis–Hastings MCMC by emcee's ensemble sampler (stretch move).

    All walkers of a half-ensemble are evaluated in one batched call
    (``vectorize=True``) of the model's ``−2 ln L``.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like, optional
        ``(nwalkers, P)``: the walkers' starts (their number sets
        ``nwalkers``); ``(P,)``: the walkers start around it, drawn from the
        Laplace covariance there (a ball of 1 % of the values where that is
        singular). Default: around the current values.
    max_iter : int
        Steps kept per walker (after ``burn_in``).
    nwalkers : int, optional
        At least ``2 P`` (emcee's stretch move needs it); default
        ``max(2 P, 32)`` — walkers are evaluated together, so more cost little.
    progress_bar : bool
        emcee's tqdm progress bar.
    likelihood : {"gaussian", "poisson"}
    burn_in : int
        Steps run first and discarded (default 200).
    seed : int, optional
        Seeds emcee's random state.
    prior, use_parameter_priors, write_back
        As :class:`~swiftfit.astrophot_api._sampler_base.BaseSampler`.
    moves
        Passed to ``emcee.EnsembleSampler`` (default: the stretch move).

    Attributes
    ----------
    chain : ndarray (max_iter, nwalkers, P)
    flat_chain : ndarray (max_iter · nwalkers, P)
    sampler : emcee.EnsembleSampler
        Of the last run (its chain includes the burn-in).

    Notes
    -----
    The effective sample size is ``max_iter · nwalkers / τ`` with ``τ`` the
    integrated autocorrelation time of the ensemble (the walkers are not
    independent chains); R-hat treats each walker as a chain.

    Examples
    --------
    >>> m.fit()                                                  # doctest: +SKIP
    >>> mc = MHMCMC(m, max_iter=2000, seed=0).fit()              # doctest: +SKIP
    >>> print(mc.summary())                                      # doctest: +SKIP
    """

    _desc = "MHMCMC"

    def __init__(self, model, initial_state=None, max_iter: int = 1000, nwalkers: int | None = None,
                 progress_bar: bool = True, likelihood: str = "gaussian", burn_in: int = 200, seed=None,
                 prior=None, use_parameter_priors: bool = True, write_back: bool = True, moves=None):
        require("emcee", "emcee")
        super().__init__(model, initial_state=initial_state, max_iter=max_iter, progress_bar=progress_bar,
                         likelihood=likelihood, prior=prior, seed=seed,
                         use_parameter_priors=use_parameter_priors, write_back=write_back)
        self.burn_in = _int_arg("burn_in", burn_in, 0)
        self.seed = seed
        self.moves = moves
        P = self.ndim
        given = None if self.initial_state is None or self.initial_state.ndim != 2 else self.initial_state.shape[0]
        if nwalkers is None:
            nwalkers = given if given is not None else max(2 * P, 32)
        nwalkers = _int_arg("nwalkers", nwalkers, 1)
        if given is not None and given != nwalkers:
            raise InvalidInputError(f"`nwalkers` ({nwalkers}) differs from the rows of `initial_state` ({given})")
        if nwalkers < 2 * P:
            raise InvalidInputError(f"`nwalkers` must be at least 2 x the number of free parameters "
                                    f"(2 x {P} = {2 * P}) for emcee's stretch move, got {nwalkers}")
        self.nwalkers = nwalkers
        self.sampler = None

    def _n_chains(self) -> int:
        return self.nwalkers

    def _density(self, X):
        return self.log_posterior(X)

    def _run(self, start, nsteps: int, adapt: bool):
        emcee = require("emcee", "emcee")
        if start is not None and np.ndim(start) == 2 and np.shape(start)[0] != self.nwalkers:
            raise InvalidInputError(f"a 2-D `state` must have {self.nwalkers} rows (nwalkers), "
                                    f"got shape {np.shape(start)}")
        if start is None or np.ndim(start) == 1:
            x = self._start_point() if start is None else self.target.clip(np.asarray(start, dtype=float))
            cov = self._default_covariance(x)
            X0 = self._initial_positions(x, self.nwalkers, cov)
        else:
            X0 = self._initial_positions(start, self.nwalkers, None)
        sampler = emcee.EnsembleSampler(self.nwalkers, self.ndim, self._density, vectorize=True, moves=self.moves)
        seed_rng = np.random.RandomState(self.rng.integers(2**32 - 1))
        sampler.random_state = seed_rng.get_state()
        burn = self.burn_in if adapt else 0
        sampler.run_mcmc(X0, burn + nsteps, progress=self.progress_bar)
        self.sampler = sampler
        chain = sampler.get_chain(discard=burn)
        logp = sampler.get_log_prob(discard=burn)
        return chain, logp, np.asarray(sampler.acceptance_fraction, dtype=float)

    def _ess(self, chain):
        # walkers of an ensemble are not independent chains: n·W/τ with the
        # ensemble's integrated autocorrelation time (as emcee recommends)
        return diagnostics.ess_from_tau(chain)
