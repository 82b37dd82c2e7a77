"""Effective samples per second: swiftfit's MHMCMC, MALA and HMC next to emcee used directly.

Run as ``python benchmarks/samplers.py`` (``--quick`` for shorter chains).

Two problems, both fitted first with ``m.fit()`` (the samplers start at the
fit, as a user would run them):

* ``line``: ``Polynomial(order=1)`` on 200 points with known Gaussian noise
  (2 parameters; the posterior is exactly Gaussian);
* ``peak``: ``Gaussian`` (A, sigma, centre free) + ``Offset`` on 300 points
  with known Gaussian noise (4 parameters, non-linear).

Rows:

* ``MHMCMC`` / ``MALA`` / ``HMC``: swiftfit's samplers with their defaults
  except the run lengths (MHMCMC: 32 walkers; MALA and HMC: 16 chains),
  evaluating all chains in one batched call on our analytic gradients;
* ``emcee (vectorised)``: ``emcee.EnsembleSampler(vectorize=True)`` on a numpy
  log-probability of the same model written out by hand, same walkers,
  steps, burn-in and starting ball as MHMCMC;
* ``emcee (per walker)``: the same log-probability called walker by walker,
  emcee's default (``vectorize=False``), as most users write it.

Columns: wall time of the sampling (the set-up excluded for no one),
minimum effective sample size over the parameters (ensembles: draws /
integrated autocorrelation time; independent chains: the multi-chain ESS of
Vehtari et al. 2021), ESS per second, the largest R-hat, and the largest
deviation of the posterior mean (in posterior std) and std (relative) from
the reference: the exact Gaussian posterior for ``line``, the pooled draws of
all runs for ``peak``.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

try:
    import swiftfit as hs
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import swiftfit as hs

from swiftfit.astrophot_api import HMC, MALA, MHMCMC, diagnostics

SQRT2PI = np.sqrt(2 * np.pi)


def make_line(seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 10, 200)
    sigma = 0.5
    y = 1.0 + 0.3 * x + rng.normal(0, sigma, x.size)
    s = hs.signals.Signal1D(y)
    s.axes_manager[-1].scale = x[1] - x[0]
    s.set_noise_variance(sigma**2)
    m = s.create_model()
    m.append(hs.model.components1D.Polynomial(order=1))
    m.fit()
    A = np.c_[np.ones_like(x), x]
    cov = np.linalg.inv(A.T @ A / sigma**2)
    mean = cov @ A.T @ y / sigma**2

    def log_prob(theta):  # what a user writes for emcee: (K, 2) -> (K,)
        theta = np.atleast_2d(theta)
        model = theta[:, :1] + theta[:, 1:2] * x
        return -0.5 * np.sum(((y - model) / sigma) ** 2, axis=-1)

    return m, log_prob, (mean, np.sqrt(np.diag(cov)))


def make_peak(seed=1):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 30, 300)
    sigma_n = 0.3
    y = 25.0 * np.exp(-0.5 * ((x - 14.0) / 1.5) ** 2) / (1.5 * SQRT2PI) + 1.0 + rng.normal(0, sigma_n, x.size)
    s = hs.signals.Signal1D(y)
    s.axes_manager[-1].scale = x[1] - x[0]
    s.set_noise_variance(sigma_n**2)
    m = s.create_model()
    g = hs.model.components1D.Gaussian(A=20.0, sigma=2.0, centre=13.0)
    m.extend([g, hs.model.components1D.Offset(offset=0.5)])
    m.fit()

    def log_prob(theta):  # free vector order: Gaussian.A, .sigma, .centre, Offset.offset
        theta = np.atleast_2d(theta)
        A, sg, c, b = (theta[:, j:j + 1] for j in range(4))
        with np.errstate(all="ignore"):
            model = A * np.exp(-0.5 * ((x - c) / sg) ** 2) / (sg * SQRT2PI) + b
            out = -0.5 * np.sum(((y - model) / sigma_n) ** 2, axis=-1)
        return np.where((sg[:, 0] > 0) & np.isfinite(out), out, -np.inf)

    return m, log_prob, None


def _ball(m, nwalkers, seed):
    """The same start as MHMCMC: draws from the Laplace covariance at the fit."""
    from swiftfit.astrophot_api._target import FitTarget

    t = FitTarget(m)
    rng = np.random.default_rng(seed)
    return t.x0 + rng.standard_normal((nwalkers, t.P)) @ np.linalg.cholesky(t.covariance(t.x0)).T, t.names


def run_emcee(log_prob, start, steps, burn, vectorize, seed):
    import emcee

    if vectorize:
        fn = log_prob
    else:
        def fn(theta):
            return float(log_prob(theta)[0])
    sampler = emcee.EnsembleSampler(start.shape[0], start.shape[1], fn, vectorize=vectorize)
    sampler.random_state = np.random.RandomState(seed).get_state()
    t0 = time.perf_counter()
    sampler.run_mcmc(start, burn + steps, progress=False)
    dt = time.perf_counter() - t0
    chain = sampler.get_chain(discard=burn)
    return dt, chain, diagnostics.ess_from_tau(chain)


def main(quick=False):
    steps = 1500 if quick else 5000
    mala_steps, hmc_steps = (600, 250) if quick else (2000, 800)
    rows = []
    for label, make in (("line", make_line), ("peak", make_peak)):
        m, log_prob, exact = make()
        x_fit = [p.value for c in m for p in c.parameters if p.free]
        results = []
        runs = [
            ("MHMCMC", MHMCMC, dict(max_iter=steps, nwalkers=32, burn_in=200)),
            ("MALA", MALA, dict(chains=16, max_iter=mala_steps)),
            ("HMC", HMC, dict(chains=16, max_iter=hmc_steps)),
        ]
        for name, cls, kw in runs:
            smp = cls(m, progress_bar=False, seed=3, write_back=False, **kw)
            t0 = time.perf_counter()
            smp.fit()
            dt = time.perf_counter() - t0
            S = smp.summary()
            results.append((name, dt, smp.chain, S.ess, S.rhat))
            names = smp.names
        start, _ = _ball(m, 32, 3)
        for name, vec in (("emcee (vectorised)", True), ("emcee (per walker)", False)):
            n = steps if vec else max(steps // 5, 500)
            dt, chain, e = run_emcee(log_prob, start, n, 200, vec, 3)
            results.append((name, dt, chain, e, diagnostics.rhat(chain)))
        if exact is None:  # reference: all draws pooled, each run weighted equally
            flats = [r[2].reshape(-1, r[2].shape[-1]) for r in results]
            exact = (np.mean([f.mean(0) for f in flats], axis=0), np.mean([f.std(0, ddof=1) for f in flats], axis=0))
        for name, dt, chain, e, r in results:
            flat = chain.reshape(-1, chain.shape[-1])
            dmean = np.abs(flat.mean(0) - exact[0]) / exact[1]
            dstd = np.abs(flat.std(0, ddof=1) / exact[1] - 1)
            rows.append((label, name, chain.shape[0] * chain.shape[1], dt, e.min(), e.min() / dt, r.max(),
                         dmean.max(), dstd.max()))
        print(f"# {label}: free parameters {names}, fitted {np.round(x_fit, 4).tolist()}")
    head = ("problem", "sampler", "draws", "time [s]", "min ESS", "ESS/s", "max R-hat", "|Δmean|/sd", "|Δstd|/sd")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for p, s, n, dt, e, eps, r, dm, ds in rows:
        print(f"| {p} | {s} | {n} | {dt:.2f} | {e:.0f} | {eps:.0f} | {r:.4f} | {dm:.3f} | {ds:.3f} |")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    main(quick="--quick" in sys.argv)
