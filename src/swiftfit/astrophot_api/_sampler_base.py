"""What the MCMC samplers (``MHMCMC``, ``MALA``, ``HMC``) share.

A sampler draws from the posterior ``ln p(x) = −χ²(x)/2 + ln π(x)`` of the
free parameters ``x`` of a model at its current position, where ``χ²`` is
:class:`~swiftfit.astrophot_api._target.FitTarget`'s ``−2 ln L`` (gaussian or
poisson) and the prior ``π`` is flat by default, zero outside the
parameters' ``bmin``/``bmax``, times the priors set on the parameters
(:mod:`swiftfit.priors`), times a user's ``prior`` (a callable ``ln π(x)``
or an object with ``logpdf``/``log_prob``, e.g. a frozen scipy distribution).

Every chain (or walker) is evaluated in one batched call per step. After
:meth:`BaseSampler.fit` the chains are kept on the object
(``chain (n_draws, n_chains, P)``, ``flat_chain``, ``log_prob``), the
posterior summary (mean, std, quantiles, R-hat, ESS) is in
:meth:`BaseSampler.summary`, and the posterior mean and std are written to
the parameters' ``value``/``std`` (with the sample covariance in
``model.covariance``), as ``m.fit`` writes a fit.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import losses as _losses
from ..errors import FitWarning, InvalidInputError, InvalidTypeError
from . import diagnostics
from ._target import FitTarget

__all__ = ["QUANTILES", "BaseSampler", "PosteriorSummary"]

QUANTILES = (0.025, 0.16, 0.5, 0.84, 0.975)


def _int_arg(name: str, value, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _float_arg(name: str, value, positive: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"`{name}` must be a number, got {value!r}") from None
    if not math.isfinite(v) or (positive and v <= 0):
        raise InvalidInputError(f"`{name}` must be a finite number{' > 0' if positive else ''}, got {value!r}")
    return v


def _free_parameters(model) -> list:
    models = model.models if hasattr(model, "models") and not hasattr(model, "signal") else [model]
    return [p for m in models for c in m for p in c.parameters if p.free]


class PosteriorSummary:
    """Posterior summary of a sampler's chains, one row per parameter.

    Attributes
    ----------
    names : list of str
    mean, std : ndarray (P,)
    quantiles : ndarray (len(levels), P)
        At ``levels`` (default 2.5, 16, 50, 84, 97.5 %).
    rhat, ess : ndarray (P,)
        Rank-normalised split R-hat and effective sample size.
    covariance : ndarray (P, P)
        The sample covariance.
    n_draws, n_chains : int

    ``str(summary)`` is a table; :meth:`to_dict` gives plain numbers.

    Examples
    --------
    >>> from swiftfit.astrophot_api import MALA
    >>> _ = m.fit()
    >>> sampler = MALA(m, chains=4, max_iter=500, seed=1, progress_bar=False).fit()
    >>> print(sampler.summary())                               # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
    parameter      mean  std   2.5%   16%   50%   84%  97.5%  r_hat  ess
    Gaussian.A ...
    Gaussian.sigma ...
    Gaussian.centre ...
    Offset.offset ...
    (500 draws x 4 chains)
    """

    def __init__(self, names, chain: np.ndarray, rhat: np.ndarray, ess: np.ndarray, levels=QUANTILES):
        flat = chain.reshape(-1, chain.shape[-1])
        self.names = list(names)
        self.n_draws, self.n_chains = chain.shape[0], chain.shape[1]
        self.mean = flat.mean(axis=0)
        self.std = flat.std(axis=0, ddof=1)
        self.levels = tuple(float(q) for q in levels)
        self.quantiles = np.quantile(flat, self.levels, axis=0)
        self.covariance = np.atleast_2d(np.cov(flat, rowvar=False))
        self.rhat = np.asarray(rhat, dtype=float)
        self.ess = np.asarray(ess, dtype=float)

    def to_dict(self) -> dict:
        """``{name: {"mean", "std", "q2.5", ..., "r_hat", "ess"}}``."""
        out = {}
        for j, name in enumerate(self.names):
            row = {"mean": float(self.mean[j]), "std": float(self.std[j])}
            row.update({f"q{100 * q:g}": float(self.quantiles[i, j]) for i, q in enumerate(self.levels)})
            row.update({"r_hat": float(self.rhat[j]), "ess": float(self.ess[j])})
            out[name] = row
        return out

    def __str__(self) -> str:
        width = max(9, *(len(n) for n in self.names)) + 2
        heads = ["mean", "std"] + [f"{100 * q:g}%" for q in self.levels]
        lines = ["parameter".ljust(width) + "".join(h.rjust(12) for h in heads) + "r_hat".rjust(9) + "ess".rjust(10)]
        for j, name in enumerate(self.names):
            vals = [self.mean[j], self.std[j], *self.quantiles[:, j]]
            lines.append(name.ljust(width) + "".join(f"{v:12.5g}" for v in vals)
                         + f"{self.rhat[j]:9.4f}" + f"{self.ess[j]:10.0f}")
        lines.append(f"({self.n_draws} draws x {self.n_chains} chains)")
        return "\n".join(lines)

    __repr__ = __str__


class _DualAveraging:
    """Nesterov dual averaging of ``ln ε`` towards a target acceptance rate
    (Hoffman & Gelman 2014, section 3.2, with their γ, t₀, κ).
    """

    def __init__(self, epsilon: float, target: float, gamma: float = 0.05, t0: float = 10.0, kappa: float = 0.75):
        self.mu = math.log(10.0 * epsilon)
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.t = 0
        self.hbar = 0.0
        self.log_eps_bar = math.log(epsilon)

    def update(self, accept_stat: float) -> float:
        self.t += 1
        eta = 1.0 / (self.t + self.t0)
        self.hbar = (1.0 - eta) * self.hbar + eta * (self.target - accept_stat)
        log_eps = self.mu - math.sqrt(self.t) / self.gamma * self.hbar
        w = self.t ** (-self.kappa)
        self.log_eps_bar = w * log_eps + (1.0 - w) * self.log_eps_bar
        return math.exp(log_eps)

    @property
    def final(self) -> float:
        return math.exp(self.log_eps_bar)


class BaseSampler:
    """Shared machinery of the samplers; not used directly.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
        Sampled at its current navigation position, from its current values.
    initial_state : array_like, optional
        ``(P,)``: chains start around it (draws from the Laplace covariance);
        ``(n_chains, P)``: one start per chain. Default: the current values.
    max_iter : int
        Draws kept per chain (after warm-up / burn-in).
    progress_bar : bool
        Show a tqdm progress bar.
    likelihood : {"gaussian", "poisson"}
    prior : callable or distribution, optional
        ``ln π(x)`` of the free vector ``x (P,)`` (a callable, or an object
        with ``logpdf`` or ``log_prob``); it multiplies the parameters' own
        priors and bounds. Gradient samplers use its ``gradient(x)`` method
        when it has one, else central differences.
    seed : int or numpy Generator, optional
    use_parameter_priors : bool
        Include the priors set on the parameters (``parameter.prior``).
    write_back : bool
        After sampling, store posterior mean/std in the parameters.
    """

    _default_chains = 4
    _desc = "sampling"

    def __init__(self, model, initial_state=None, max_iter: int = 1000, progress_bar: bool = True,
                 likelihood: str = "gaussian", prior=None, seed=None, use_parameter_priors: bool = True,
                 write_back: bool = True):
        self.model = model
        self.target = FitTarget(model, likelihood=likelihood)
        self.likelihood = likelihood
        self.names = list(self.target.names)
        self.ndim = self.target.P
        self.max_iter = _int_arg("max_iter", max_iter, 1)
        self.progress_bar = bool(progress_bar)
        self.write_back_results = bool(write_back)
        self.initial_state = None if initial_state is None else self._check_state("initial_state", initial_state)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._param_priors = []
        if use_parameter_priors:
            loss = _losses.with_priors(self.target.loss, _free_parameters(model))
            if isinstance(loss, _losses.PriorLoss):
                self._param_priors = loss._columns(self.target.problem)
        self._user_prior, self._user_prior_grad = self._wrap_prior(prior)
        self._bounded = bool(np.isfinite(self.target.lower).any() or np.isfinite(self.target.upper).any())
        if likelihood == "gaussian" and self.target.weights is None:
            warnings.warn("no noise variance is set: the gaussian likelihood assumes unit variance per point; "
                          "set it with s.set_noise_variance or s.estimate_poissonian_noise_variance",
                          FitWarning, stacklevel=3)
        self._chain = None
        self._log_prob = None
        self._summary = None
        self.acceptance_rate = None

    # --------------------------------------------------------------- priors
    @staticmethod
    def _wrap_prior(prior):
        if prior is None:
            return None, None
        for attr in ("logpdf", "log_prob"):
            if callable(getattr(prior, attr, None)):
                fn = getattr(prior, attr)
                break
        else:
            if not callable(prior):
                raise InvalidTypeError(f"`prior` must be a callable ln π(x) or have a `logpdf`/`log_prob` method, "
                                       f"got {type(prior).__name__}")
            fn = prior
        grad = getattr(prior, "gradient", None)
        return fn, (grad if callable(grad) else None)

    def log_prior(self, X) -> np.ndarray:
        """``ln π`` at points ``X (K, P)`` (``−inf`` outside the bounds), ``(K,)``."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = np.zeros(X.shape[0])
        if not (self._bounded or self._param_priors or self._user_prior is not None):
            return np.where(np.isfinite(X).all(axis=1), out, -np.inf)  # flat everywhere: the common case, fast
        with np.errstate(all="ignore"):
            ok = self.target.inside(X) & np.isfinite(X).all(axis=1)
            out[~ok] = -np.inf
            for j, pr in self._param_priors:
                out = out - 0.5 * pr.stat(X[:, j])
            if self._user_prior is not None:
                for k in np.flatnonzero(ok):
                    out[k] += float(self._user_prior(X[k]))
        return np.where(np.isnan(out), -np.inf, out)

    def _grad_log_prior(self, X) -> np.ndarray:
        g = np.zeros_like(X)
        with np.errstate(all="ignore"):
            for j, pr in self._param_priors:
                g[:, j] -= 0.5 * pr.gradient(X[:, j])
            if self._user_prior is not None:
                for k in range(X.shape[0]):
                    if self._user_prior_grad is not None:
                        g[k] += np.asarray(self._user_prior_grad(X[k]), dtype=float)
                    else:
                        g[k] += self._fd_prior_gradient(X[k])
        return g

    def _fd_prior_gradient(self, x) -> np.ndarray:
        g = np.zeros(x.size)
        scale = getattr(self, "_scale", np.ones(x.size))
        for j in range(x.size):
            h = 1e-5 * scale[j]
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            g[j] = (float(self._user_prior(xp)) - float(self._user_prior(xm))) / (2 * h)
        return g

    # ----------------------------------------------------------- posterior
    def log_posterior(self, X) -> np.ndarray:
        """``−χ²/2 + ln π`` at points ``X (K, P)``, ``(K,)`` (``−inf`` where impossible)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        lp = self.log_prior(X)
        chi2 = self.target.chi2_batch(X)
        with np.errstate(all="ignore"):
            out = lp - 0.5 * chi2
        return np.where(np.isfinite(out), out, -np.inf)

    def density(self, state) -> float | np.ndarray:
        """``ln p`` (up to a constant) at one state ``(P,)`` or several ``(K, P)`` (AstroPhot's name)."""
        X = np.asarray(state, dtype=float)
        out = self.log_posterior(np.atleast_2d(X))
        return float(out[0]) if X.ndim == 1 else out

    density_func = density

    def _grad_log_posterior(self, X) -> np.ndarray:
        """``∇ ln p`` at points ``X (K, P)``, ``(K, P)``."""
        with np.errstate(all="ignore"):
            return -0.5 * self.target.gradient_batch(X) + self._grad_log_prior(X)

    def _log_posterior_and_gradient(self, X):
        return self.log_posterior(X), self._grad_log_posterior(X)

    def laplace_covariance(self, x=None) -> np.ndarray | None:
        """``2 (H + prior curvature)⁻¹`` at ``x`` (default the start); ``None`` where not positive definite."""
        x = self.target.x0 if x is None else np.asarray(x, dtype=float)
        with np.errstate(all="ignore"):
            H = np.array(self.target.hessian(x), dtype=float)
            for j, pr in self._param_priors:
                H[j, j] += float(pr.curvature(x[j]))
        if not np.isfinite(H).all():
            return None
        H = 0.5 * (H + H.T)
        w, V = np.linalg.eigh(H)
        if w.min() <= 1e-12 * max(abs(w.max()), 1e-300):
            return None
        return 2.0 * (V / w) @ V.T

    def _default_covariance(self, x) -> np.ndarray:
        cov = self.laplace_covariance(x)
        if cov is None:
            warnings.warn("the Laplace covariance at the start is singular or not finite: using a diagonal "
                          "guess (1% of each value) as the proposal scale; fit the model first for a better one",
                          FitWarning, stacklevel=4)
            cov = np.diag((0.01 * np.maximum(np.abs(x), 1e-3)) ** 2)
        return cov

    @staticmethod
    def _check_matrix(name: str, value, P: int) -> np.ndarray:
        a = np.asarray(value, dtype=float)
        if a.ndim == 0:
            a = np.eye(P) * float(a)
        elif a.shape == (P,):
            a = np.diag(a)
        if a.shape != (P, P) or not np.isfinite(a).all() or not np.allclose(a, a.T, rtol=1e-8, atol=0):
            raise InvalidInputError(f"`{name}` must be a positive number, a (P,) vector or a symmetric (P, P) "
                                    f"matrix with P={P}, got shape {np.shape(value)}")
        try:
            np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise InvalidInputError(f"`{name}` must be positive definite") from None
        return a

    # --------------------------------------------------------------- starts
    def _check_state(self, name: str, state) -> np.ndarray:
        a = np.array(state, dtype=float)
        if not ((a.ndim == 1 and a.shape == (self.ndim,)) or (a.ndim == 2 and a.shape[1] == self.ndim)):
            raise InvalidInputError(f"`{name}` must have shape ({self.ndim},) or (n_chains, {self.ndim}) for the "
                                    f"free parameters {self.names}, got {a.shape}")
        if not np.isfinite(a).all():
            raise InvalidInputError(f"`{name}` must be finite, got {a.tolist()}")
        return a

    def _start_point(self) -> np.ndarray:
        x = self.target.x0 if self.initial_state is None or self.initial_state.ndim != 1 else self.initial_state
        if x.shape != (self.ndim,):
            raise InvalidInputError(f"`initial_state` must have shape ({self.ndim},) or (n_chains, {self.ndim}), "
                                    f"got {x.shape}")
        return np.asarray(x, dtype=float)

    def _initial_positions(self, state, n_chains: int, cov: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """``(n_chains, P)`` starts: given rows, or draws around one point."""
        if state is not None and np.ndim(state) == 2:
            X = np.array(state, dtype=float)
            if X.shape != (n_chains, self.ndim):
                raise InvalidInputError(f"`initial_state` must have shape ({n_chains}, {self.ndim}), got {X.shape}")
            bad = ~np.isfinite(self.log_posterior(X))
            if bad.any():
                raise InvalidInputError(f"`initial_state` rows {np.flatnonzero(bad).tolist()} have zero posterior "
                                        f"probability (outside the bounds, or the model is not finite there)")
            return X
        x = self._start_point() if state is None else np.asarray(state, dtype=float)
        if x.shape != (self.ndim,):
            raise InvalidInputError(f"`initial_state` must have shape ({self.ndim},) or ({n_chains}, {self.ndim}), "
                                    f"got {x.shape}")
        x = self.target.clip(x)
        if not np.isfinite(self.log_posterior(x[None]))[0]:
            raise InvalidInputError(f"the start {x.tolist()} has zero posterior probability (outside a prior's "
                                    f"support, or the model is not finite there)")
        L = np.linalg.cholesky(cov)
        X = np.repeat(x[None], n_chains, axis=0)
        todo = np.ones(n_chains, dtype=bool)
        for _ in range(60):
            trial = x + scale * self.rng.standard_normal((n_chains, self.ndim)) @ L.T
            ok = todo & np.isfinite(self.log_posterior(trial))
            X[ok] = trial[ok]
            todo &= ~ok
            if not todo.any():
                break
            scale *= 0.7
        return X

    # -------------------------------------------------------------- driver
    def _bar(self, total: int):
        from tqdm.auto import tqdm

        return tqdm(total=total, disable=not self.progress_bar, desc=self._desc)

    def _run(self, start: np.ndarray, nsteps: int, adapt: bool):  # pragma: no cover - abstract
        """Return ``(chain (nsteps, C, P), log_prob (nsteps, C), acceptance (C,))``."""
        raise NotImplementedError

    def _gradient_chains(self, start, nsteps: int, adapt: bool, matrix, adapt_step_size: bool = True):
        """The Metropolis loop of the gradient samplers (MALA, HMC), ``self.chains`` in lock-step.

        ``matrix`` is the proposal covariance (default: the Laplace covariance
        at the start). Each step the subclass's ``_propose(X, lp, g, eps, prep,
        keep)`` draws its proposals and returns ``(Y, ln p(Y), ∇ln p(Y), ln α)``
        (``prep``: what its ``_prepare(S)`` computed once from the matrix;
        ``keep``: past the warm-up). During ``warmup`` (when ``adapt``) the
        step size is tuned by dual averaging towards ``target_accept``.
        Returns what :meth:`_run` returns.
        """
        x_ref = self._start_point() if start is None or np.ndim(start) == 2 else self.target.clip(start)
        S = matrix if matrix is not None else self._default_covariance(x_ref)
        self._scale = np.sqrt(np.diag(S))
        prep = self._prepare(S)
        X = self._initial_positions(start, self.chains, S)
        lp, g = self._log_posterior_and_gradient(X)
        C, P = X.shape
        eps = self.epsilon
        warm = self.warmup if adapt else 0
        tuner = _DualAveraging(eps, self.target_accept) if warm and adapt_step_size else None
        chain = np.empty((nsteps, C, P))
        logp = np.empty((nsteps, C))
        accepted = np.zeros(C)
        bar = self._bar(warm + nsteps)
        try:
            for it in range(warm + nsteps):
                Y, lp_y, g_y, log_alpha = self._propose(X, lp, g, eps, prep, keep=it >= warm)
                with np.errstate(all="ignore"):
                    alpha = np.exp(np.minimum(log_alpha, 0.0))
                take = np.log(self.rng.uniform(size=C)) < log_alpha
                X = np.where(take[:, None], Y, X)
                lp = np.where(take, lp_y, lp)
                g = np.where(take[:, None], g_y, g)
                if it < warm:
                    if tuner is not None:
                        eps = tuner.update(float(alpha.mean()))
                        if it == warm - 1:
                            eps = tuner.final
                else:
                    k = it - warm
                    chain[k], logp[k] = X, lp
                    accepted += take
                bar.update(1)
        finally:
            bar.close()
        self.epsilon = eps
        return chain, logp, accepted / nsteps

    def _n_chains(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, state=None, nsamples: int | None = None, restart_chain: bool = True) -> BaseSampler:
        """Sample, keep the chains, summarise and write the summary back.

        Parameters
        ----------
        state : array_like, optional
            ``(P,)`` or ``(n_chains, P)`` starting state (overrides ``initial_state``).
        nsamples : int, optional
            Draws per chain to keep (default ``max_iter``).
        restart_chain : bool
            False: continue from the end of the previous chains (no warm-up)
            and append the new draws.

        Returns
        -------
        self
        """
        nsteps = self.max_iter if nsamples is None else _int_arg("nsamples", nsamples, 1)
        if restart_chain or self._chain is None:
            start = self.initial_state if state is None else self._check_state("state", state)
            chain, logp, acc = self._run(start, nsteps, adapt=True)
            self._chain, self._log_prob, self.acceptance_rate = chain, logp, acc
        else:
            start = self._chain[-1] if state is None else self._check_state("state", state)
            chain, logp, acc = self._run(start, nsteps, adapt=False)
            n_old = self._chain.shape[0]
            self.acceptance_rate = (self.acceptance_rate * n_old + acc * nsteps) / (n_old + nsteps)
            self._chain = np.concatenate([self._chain, chain])
            self._log_prob = np.concatenate([self._log_prob, logp])
        self._summarise()
        if self.write_back_results:
            self.write_back()
        return self

    # ------------------------------------------------------------- results
    def _check_sampled(self):
        if self._chain is None:
            raise InvalidInputError(f"{type(self).__name__} has no chain yet: call .fit() first")

    @property
    def chain(self) -> np.ndarray:
        """The kept draws, ``(n_draws, n_chains, P)``."""
        self._check_sampled()
        return self._chain

    @property
    def flat_chain(self) -> np.ndarray:
        """The kept draws of all chains, ``(n_draws · n_chains, P)``."""
        return self.chain.reshape(-1, self.ndim)

    @property
    def log_prob(self) -> np.ndarray:
        """``ln p`` (up to a constant) of the kept draws, ``(n_draws, n_chains)``."""
        self._check_sampled()
        return self._log_prob

    def _ess(self, chain: np.ndarray) -> np.ndarray:
        return diagnostics.ess(chain)

    def _summarise(self):
        chain = self._chain
        if chain.shape[0] >= 4:
            r = diagnostics.rhat(chain)
            e = self._ess(chain)
        else:
            r = e = np.full(self.ndim, np.nan)
        self._summary = PosteriorSummary(self.names, chain, r, e)
        if np.nanmax(r, initial=0) > 1.05:
            warnings.warn(f"R-hat up to {np.nanmax(r):.3f} > 1.05: the chains have not converged; sample longer "
                          f"(max_iter) or warm up longer", FitWarning, stacklevel=3)

    def summary(self) -> PosteriorSummary:
        """The posterior summary table (mean, std, quantiles, R-hat, ESS)."""
        self._check_sampled()
        return self._summary

    @property
    def posterior_mean(self) -> np.ndarray:
        return self.summary().mean

    @property
    def posterior_std(self) -> np.ndarray:
        return self.summary().std

    @property
    def covariance(self) -> np.ndarray:
        """The sample covariance of the draws, ``(P, P)``."""
        return self.summary().covariance

    @property
    def rhat(self) -> np.ndarray:
        return self.summary().rhat

    @property
    def ess(self) -> np.ndarray:
        return self.summary().ess

    def write_back(self) -> dict:
        """Store the posterior mean as the parameters' values and the posterior
        std as their ``std`` (the sample covariance in ``model.covariance``).
        """
        s = self.summary()
        return self.target.write_back(s.mean, covariance=s.covariance, std=s.std, status=6, nfev=self.target.nfev,
                                      verify=False)

    def corner_plot(self, truths=None, **kwargs):
        """Corner plot of the kept draws; returns the matplotlib figure.

        Uses the ``corner`` package when installed (``kwargs`` go to
        ``corner.corner``), else a matplotlib grid of histograms.
        """
        from .corner_plot import corner_plot

        return corner_plot(self.flat_chain, names=self.names, truths=truths, **kwargs)

    plot_corner = corner_plot

    def __repr__(self) -> str:
        state = "not run" if self._chain is None else f"{self._chain.shape[0]} draws x {self._chain.shape[1]} chains"
        return f"<{type(self).__name__}: {self.ndim} parameters, {state}>"
