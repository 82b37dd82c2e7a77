"""Convergence diagnostics of Markov chains: split R-hat and effective sample size.

Chains are arrays ``(n_draws, n_chains, n_params)`` (the layout of
``MHMCMC.chain``, ``MALA.chain`` and ``HMC.chain``; emcee's walkers are the
chains). Two families of estimators are given:

* :func:`rhat` — the potential scale reduction factor. ``method="rank"``
  (default) is the rank-normalised split R-hat of Vehtari, Gelman, Simpson,
  Carpenter & Bürkner (2021, *Bayesian Analysis* 16, 667): the larger of the
  bulk (rank-normalised draws) and the tail (rank-normalised folded draws)
  values, each computed on the chains split in halves. ``method="split"`` is
  the classic Gelman–Rubin statistic on split chains.
* :func:`ess` — the multi-chain effective sample size of the same paper (the
  autocorrelation of each chain by FFT, combined with the between-chain
  variance, truncated by Geyer's initial monotone sequence), and
  :func:`integrated_time`, the integrated autocorrelation time of an ensemble
  (Sokal's automatic window on the walker-averaged autocorrelation, what
  emcee's ``autocorr.integrated_time`` computes) with ``ess_from_tau``.

Everything is written from the papers with numpy/scipy; arviz is not needed.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> draws = rng.normal(size=(2000, 4, 2))
>>> bool(abs(rhat(draws) - 1).max() < 0.01), bool(ess(draws).min() > 6000)
(True, True)
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from ..errors import InvalidInputError

__all__ = ["autocorrelation", "ess", "ess_from_tau", "integrated_time", "rhat"]


def _as_chains(chains, name: str = "chains") -> np.ndarray:
    """``(n, m, P)`` float array from ``(n,)``, ``(n, m)`` or ``(n, m, P)``."""
    a = np.asarray(chains, dtype=float)
    if a.ndim == 1:
        a = a[:, None, None]
    elif a.ndim == 2:
        a = a[:, :, None]
    elif a.ndim != 3:
        raise InvalidInputError(f"`{name}` must have shape (n_draws, n_chains, n_params), got {a.shape}")
    if a.shape[0] < 4:
        raise InvalidInputError(f"`{name}` needs at least 4 draws per chain, got {a.shape[0]}")
    return a


def _squeeze(out: np.ndarray, chains) -> np.ndarray | float:
    return float(out[0]) if np.ndim(chains) < 3 else out


def _split(a: np.ndarray) -> np.ndarray:
    """Each chain cut in two halves (the middle draw dropped when odd): ``(n//2, 2m, P)``."""
    half = a.shape[0] // 2
    return np.concatenate([a[:half], a[a.shape[0] - half:]], axis=1)


def _gelman_rubin(a: np.ndarray) -> np.ndarray:
    """``sqrt(var⁺ / W)`` per parameter of chains ``(n, m, P)``."""
    n = a.shape[0]
    means = a.mean(axis=0)
    W = a.var(axis=0, ddof=1).mean(axis=0)
    B_over_n = means.var(axis=0, ddof=1) if a.shape[1] > 1 else np.zeros(a.shape[2])
    var_plus = (n - 1) / n * W + B_over_n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(var_plus / W)
    # constant draws: the chains agree exactly (1), or disagree with no spread (inf)
    return np.where(W > 0, r, np.where(B_over_n > 0, np.inf, 1.0))


def _rank_normalise(a: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled ranks (Blom's offset), per parameter."""
    n, m, P = a.shape
    flat = a.reshape(n * m, P)
    r = stats.rankdata(flat, axis=0)
    z = special.ndtri((r - 0.375) / (n * m + 0.25))
    return z.reshape(n, m, P)


def rhat(chains, method: str = "rank") -> np.ndarray | float:
    """Potential scale reduction factor per parameter.

    Parameters
    ----------
    chains : array_like (n_draws, n_chains, n_params)
        Draws after warm-up; ``(n_draws, n_chains)`` for one parameter.
    method : {"rank", "split"}
        ``"rank"``: rank-normalised split R-hat, max of bulk and tail
        (Vehtari et al. 2021); ``"split"``: classic split Gelman–Rubin.

    Returns
    -------
    ndarray (n_params,) or float
        Values near 1 (< 1.01) indicate that the chains agree.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> float(rhat(rng.normal(size=(1000, 4)))) < 1.01
    True
    """
    if method not in ("rank", "split"):
        raise InvalidInputError(f"`method` must be one of ('rank', 'split'), got {method!r}")
    a = _as_chains(chains)
    s = _split(a)
    if method == "split":
        return _squeeze(_gelman_rubin(s), chains)
    bulk = _gelman_rubin(_rank_normalise(s))
    folded = np.abs(s - np.median(s.reshape(-1, s.shape[2]), axis=0))
    tail = _gelman_rubin(_rank_normalise(folded))
    return _squeeze(np.maximum(bulk, tail), chains)


def autocorrelation(x) -> np.ndarray:
    """Normalised autocorrelation function of series along axis 0 (by FFT).

    ``x`` is ``(n,)`` or ``(n, k)`` (``k`` independent series); returns the
    same shape with ``ρ(0) = 1`` (zeros for a constant series).
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    nfft = 1 << (2 * n - 1).bit_length()
    xc = x - x.mean(axis=0)
    f = np.fft.rfft(xc, n=nfft, axis=0)
    acov = np.fft.irfft(f * np.conj(f), n=nfft, axis=0)[:n]
    c0 = acov[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c0 > 0, acov / np.where(c0 > 0, c0, 1.0), 0.0)


def _autocovariance(a: np.ndarray) -> np.ndarray:
    """Biased autocovariance (divided by n) of each chain: ``(n, m, P)``."""
    n = a.shape[0]
    nfft = 1 << (2 * n - 1).bit_length()
    xc = a - a.mean(axis=0)
    f = np.fft.rfft(xc, n=nfft, axis=0)
    return np.fft.irfft(f * np.conj(f), n=nfft, axis=0)[:n] / n


def ess(chains) -> np.ndarray | float:
    """Multi-chain effective sample size per parameter (bulk, not rank-normalised).

    The autocorrelations of the chains are combined with the between-chain
    variance, ``ρ_t = 1 − (W − mean_j acov_j(t)) / var⁺``, and summed in
    pairs while the pair sums stay positive, made monotone (Geyer 1992), as
    in Vehtari et al. (2021) and Stan. The result is capped at
    ``n·m·log10(n·m)`` as Stan does for antithetic chains.

    Parameters
    ----------
    chains : array_like (n_draws, n_chains, n_params)

    Returns
    -------
    ndarray (n_params,) or float

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> x = np.zeros((4000, 2))
    >>> for t in range(1, 4000):           # AR(1), rho = 0.5: ESS = N (1-rho)/(1+rho)
    ...     x[t] = 0.5 * x[t - 1] + rng.normal(size=2)
    >>> 2000 < float(ess(x)) < 3300
    True
    """
    a = _as_chains(chains)
    n, m, P = a.shape
    acov = _autocovariance(a)
    chain_var = acov[0] * n / (n - 1)
    W = chain_var.mean(axis=0)
    B_over_n = a.mean(axis=0).var(axis=0, ddof=1) if m > 1 else np.zeros(P)
    var_plus = (n - 1) / n * W + B_over_n
    out = np.empty(P)
    for k in range(P):
        if not var_plus[k] > 0:
            out[k] = np.nan
            continue
        rho = 1.0 - (W[k] - acov[:, :, k].mean(axis=1)) / var_plus[k]
        rho[0] = 1.0
        npairs = n // 2
        pairs = rho[: 2 * npairs].reshape(npairs, 2).sum(axis=1)
        positive = pairs > 0
        K = npairs if positive.all() else int(np.argmin(positive))
        pairs = np.minimum.accumulate(pairs[:K]) if K else pairs[:0]
        tau = -1.0 + 2.0 * pairs.sum()
        tau = max(tau, 1.0 / np.log10(n * m)) if n * m > 10 else max(tau, 1e-12)
        out[k] = n * m / tau
    return _squeeze(out, chains)


def integrated_time(chains, c: float = 5.0) -> np.ndarray | float:
    """Integrated autocorrelation time ``τ`` of an ensemble, per parameter.

    The autocorrelation function is averaged over the walkers and summed up
    to the first window ``M ≥ c·τ(M)`` (Sokal's automatic windowing), as
    emcee's ``autocorr.integrated_time`` does, but without raising when the
    chain is short (compare ``τ`` with ``n_draws / 50`` yourself).

    Parameters
    ----------
    chains : array_like (n_draws, n_walkers, n_params)
    c : float
        Window factor (emcee's default 5).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> bool(integrated_time(rng.normal(size=(3000, 8))) < 1.3)
    True
    """
    a = _as_chains(chains)
    n, _, P = a.shape
    out = np.empty(P)
    for k in range(P):
        f = autocorrelation(a[:, :, k]).mean(axis=1)
        taus = 2.0 * np.cumsum(f) - 1.0
        ok = np.arange(n) >= c * taus
        window = int(np.argmax(ok)) if ok.any() else n - 1
        out[k] = taus[window]
    return _squeeze(out, chains)


def ess_from_tau(chains, tau=None) -> np.ndarray | float:
    """Effective sample size ``n_draws · n_walkers / τ`` (``τ`` from :func:`integrated_time`).

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> bool(ess_from_tau(rng.normal(size=(2000, 8))) > 12000)
    True
    """
    a = _as_chains(chains)
    tau = integrated_time(a) if tau is None else np.atleast_1d(np.asarray(tau, dtype=float))
    out = a.shape[0] * a.shape[1] / np.maximum(tau, 1e-12)
    return _squeeze(out, chains)
