"""MHMCMC, MALA and HMC (seed 002's samplers) against posteriors known exactly.

Truths used here:
* a linear model with Gaussian noise of known variance and flat priors has a
  Gaussian posterior with mean = the weighted least-squares solution and
  covariance = (AᵀWA)⁻¹, computed here by hand with numpy from the design
  matrix A written out explicitly (not through swiftfit);
* a Poisson-count model's posterior is computed by brute force on a fine grid
  of the exact Poisson likelihood; an Offset alone on Poisson counts has the
  closed-form Gamma(Σd + 1, N) posterior;
* a Gaussian prior on a linear model gives the Gaussian posterior with
  precision AᵀWA + Λ₀; a bound at the posterior mode of a Gaussian gives a
  half-normal.
Tolerances (stated per test): mean within 3 % of the posterior std, std
within 3 % relative, R-hat < 1.01, all with fixed seeds.
"""

import functools
import importlib.util

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.astrophot_api import HMC, MALA, MHMCMC
from swiftfit.astrophot_api.corner_plot import corner_plot
from swiftfit.errors import InvalidInputError
from swiftfit.priors import GaussianPrior

# MHMCMC needs the optional emcee (extra "emcee"); MALA and HMC need nothing more
needs_emcee = pytest.mark.skipif(importlib.util.find_spec("emcee") is None, reason="emcee is not installed")

C1 = hs.model.components1D
C2 = hs.model.components2D

# run lengths chosen so each sampler reaches ESS > ~4000 and R-hat < 1.01
LONG = {
    MHMCMC: dict(max_iter=5000, nwalkers=64),
    MALA: dict(chains=16, max_iter=2000),
    HMC: dict(chains=16, max_iter=800),
}
SAMPLERS = [pytest.param(MHMCMC, marks=needs_emcee, id="MHMCMC"), pytest.param(MALA, id="MALA"),
            pytest.param(HMC, id="HMC")]
# API tests run chains far too short to converge: their R-hat warning is expected
SHORT_RUN = pytest.mark.filterwarnings("ignore:R-hat:swiftfit.errors.FitWarning")


# ------------------------------------------------------------------ problems
def _line(seed=0, n=200, sigma=0.5):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 10, n)
    y = 1.0 + 0.3 * x + rng.normal(0, sigma, n)
    s = hs.signals.Signal1D(y)
    s.axes_manager[-1].scale = x[1] - x[0]
    s.set_noise_variance(sigma**2)
    m = s.create_model()
    p = C1.Polynomial(order=1)
    m.append(p)
    m.fit()
    A = np.c_[np.ones_like(x), x]
    cov = np.linalg.inv(A.T @ A / sigma**2)
    mu = cov @ A.T @ y / sigma**2
    return m, p, mu, cov, (A, y, sigma)


@functools.cache
def _poisson_data(seed=5):
    rng = np.random.default_rng(seed)
    x = np.arange(60.0)
    g = np.exp(-(x - 30.0) ** 2 / (2 * 4.0**2)) / (4.0 * np.sqrt(2 * np.pi))
    d = rng.poisson(60.0 * g + 1.5).astype(float)
    # brute force: the exact Poisson likelihood on a fine grid (steps of
    # ~0.05 posterior std), flat priors, summed channel by channel
    AA, BB = np.meshgrid(np.linspace(0.0, 200.0, 801), np.linspace(0.05, 4.0, 396), indexing="ij")
    ll = np.zeros_like(AA)
    for gi, di in zip(g, d):
        mu = AA * gi + BB
        ll += di * np.log(mu) - mu
    w = np.exp(ll - ll.max())
    w /= w.sum()
    mean = np.array([(w * AA).sum(), (w * BB).sum()])
    std = np.sqrt([(w * (AA - mean[0]) ** 2).sum(), (w * (BB - mean[1]) ** 2).sum()])
    return d, mean, std


def _poisson_peak(seed=5):
    d, mean, std = _poisson_data(seed)
    m = hs.signals.Signal1D(d).create_model()
    G = C1.Gaussian(A=50.0, sigma=4.0, centre=30.0)
    G.sigma.free = G.centre.free = False
    m.extend([G, C1.Offset(offset=1.0)])
    m.fit(loss_function="ML-poisson")
    return m, mean, std


def _check(S, mean, std, tol=0.03, rhat=1.01):
    dm = np.abs(S.mean - mean) / std
    ds = np.abs(S.std / std - 1)
    assert dm.max() < tol, f"mean off by {dm} posterior std"
    assert ds.max() < tol, f"std off by {ds} (relative)"
    assert S.rhat.max() < rhat, f"R-hat {S.rhat}"


# -------------------------------------------------------- must-show: linear
@pytest.mark.parametrize("cls", SAMPLERS)
def test_linear_gaussian_posterior_exact(cls):
    """Truth: posterior N(weighted LS solution, (AᵀWA)⁻¹), closed form.
    Mean within 0.03 posterior std, std within 3 %, R-hat < 1.01."""
    m, p, mu, cov, _ = _line()
    sd = np.sqrt(np.diag(cov))
    smp = cls(m, progress_bar=False, seed=11, **LONG[cls]).fit()
    S = smp.summary()
    _check(S, mu, sd)
    assert S.ess.min() > 3000
    # written back: value = posterior mean, std = posterior std, covariance = sample covariance
    np.testing.assert_allclose([p.a0.value, p.a1.value], S.mean, rtol=1e-12)
    np.testing.assert_allclose([p.a0.std, p.a1.std], S.std, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(m.covariance), np.cov(smp.flat_chain, rowvar=False), rtol=1e-10)


# ------------------------------------------------------- must-show: poisson
@pytest.mark.parametrize("cls", SAMPLERS)
def test_poisson_peak_matches_grid_posterior(cls):
    """Truth: brute-force posterior on an 801 x 396 grid of the exact Poisson
    likelihood (Gaussian amplitude + offset, flat priors). Mean within 0.03
    posterior std, std within 3 %, R-hat < 1.01."""
    m, mean, std = _poisson_peak()
    S = cls(m, progress_bar=False, seed=3, likelihood="poisson", **LONG[cls]).fit().summary()
    _check(S, mean, std)


@pytest.mark.parametrize("cls", [MALA, HMC])
def test_poisson_offset_gamma_posterior(cls):
    """Truth: counts d_i ~ Poisson(b), flat prior on b > 0 (the likelihood is
    zero for b <= 0): posterior Gamma(Σd + 1, rate N), mean (Σd+1)/N,
    std sqrt(Σd+1)/N. Low counts (mean 0.8) make it skewed."""
    d = np.random.default_rng(9).poisson(0.8, size=40).astype(float)
    m = hs.signals.Signal1D(d).create_model()
    m.append(C1.Offset(offset=1.0))
    k, n = d.sum() + 1, d.size
    draws = {MALA: 1500, HMC: 600}[cls]
    S = cls(m, progress_bar=False, seed=4, likelihood="poisson", chains=16, max_iter=draws).fit().summary()
    _check(S, np.array([k / n]), np.array([np.sqrt(k) / n]))


# -------------------------------------------------------- every model type
def _joint(seed=2, sigma=0.4):
    rng = np.random.default_rng(seed)
    x1, x2 = np.linspace(0, 5, 80), np.linspace(0, 8, 60)
    y1 = 2.0 + 0.5 * x1 + rng.normal(0, sigma, x1.size)
    y2 = -1.0 + 0.5 * x2 + rng.normal(0, sigma, x2.size)
    models, polys = [], []
    for x, y in ((x1, y1), (x2, y2)):
        s = hs.signals.Signal1D(y)
        s.axes_manager[-1].scale = x[1] - x[0]
        s.set_noise_variance(sigma**2)
        mm = s.create_model()
        pp = C1.Polynomial(order=1)
        mm.append(pp)
        models.append(mm)
        polys.append(pp)
    polys[1].a1.twin = polys[0].a1            # one shared slope
    jm = hs.JointModel(models)
    jm.fit()
    # by hand: columns (a0 of 1, slope, a0 of 2), the order of the joint free vector
    A = np.zeros((x1.size + x2.size, 3))
    A[: x1.size, 0] = 1
    A[x1.size:, 2] = 1
    A[:, 1] = np.r_[x1, x2]
    y = np.r_[y1, y2]
    cov = np.linalg.inv(A.T @ A / sigma**2)
    return jm, polys, cov @ A.T @ y / sigma**2, cov


@pytest.mark.parametrize("cls", SAMPLERS)
def test_joint_model_shared_slope(cls):
    """Truth: stacked weighted least squares with one shared slope column (closed form).
    Shorter chains: mean within 0.06 std, std within 5 %, R-hat < 1.02."""
    jm, polys, mu, cov = _joint()
    kw = dict(LONG[cls])
    kw["max_iter"] = kw["max_iter"] // 2
    smp = cls(jm, progress_bar=False, seed=5, **kw).fit()
    assert smp.names == ["m0.Polynomial.a0", "m0.Polynomial.a1", "m1.Polynomial.a0"]
    _check(smp.summary(), mu, np.sqrt(np.diag(cov)), tol=0.06, rhat=1.02)
    assert polys[1].a1.value == pytest.approx(polys[0].a1.value)      # the twin follows the mean
    assert polys[0].a0.std == pytest.approx(smp.summary().std[0], rel=1e-12)


MODEL2D_RUNS = {   # (sampler options, mean tolerance in std, std tolerance, R-hat bound)
    MALA: (dict(chains=16, max_iter=1500), 0.03, 0.03, 1.01),
    HMC: (dict(chains=16, max_iter=400, leapfrog_steps=3), 0.03, 0.03, 1.01),
    MHMCMC: (dict(nwalkers=32, max_iter=2000), 0.1, 0.06, 1.03),
}


@pytest.mark.parametrize("cls", SAMPLERS)
def test_model2d_linear_image(cls):
    """Truth: a Gaussian2D of fixed shape (free volume A) + offset on an image
    with known noise variance: posterior N((AᵀWA)⁻¹AᵀWy, (AᵀWA)⁻¹) with
    A = [normalised Gaussian, 1] written out by hand. MALA and HMC: mean
    within 0.03 std, std within 3 %, R-hat < 1.01; MHMCMC (shorter run, the
    image makes each step dearer): 0.1 std, 6 %, 1.03."""
    rng = np.random.default_rng(8)
    Y, X = np.mgrid[0:24, 0:32].astype(float)
    sx, sy, x0, y0, sigma = 3.0, 2.0, 15.0, 11.0, 0.2
    g = np.exp(-((X - x0) ** 2) / (2 * sx**2) - (Y - y0) ** 2 / (2 * sy**2)) / (2 * np.pi * sx * sy)
    img = 40.0 * g + 0.5 + rng.normal(0, sigma, g.shape)
    im = hs.signals.Signal2D(img)
    im.set_noise_variance(sigma**2)
    m = im.create_model()
    G = C2.Gaussian2D(A=30.0, sigma_x=sx, sigma_y=sy, centre_x=x0, centre_y=y0)
    for name in ("sigma_x", "sigma_y", "centre_x", "centre_y"):
        getattr(G, name).free = False
    m.extend([G, C2.Offset(offset=0.0)])
    m.fit()
    A = np.c_[g.ravel(), np.ones(g.size)]
    cov = np.linalg.inv(A.T @ A / sigma**2)
    mu = cov @ A.T @ img.ravel() / sigma**2
    kw, tol_mean, tol_std, rhat = MODEL2D_RUNS[cls]
    S = cls(m, progress_bar=False, seed=6, **kw).fit().summary()
    sd = np.sqrt(np.diag(cov))
    assert np.abs((S.mean - mu) / sd).max() < tol_mean
    assert np.abs(S.std / sd - 1).max() < tol_std
    assert S.rhat.max() < rhat
    assert G.A.value == pytest.approx(S.mean[0], rel=1e-12)


# ---------------------------------------------------------------- priors
def test_user_prior_and_parameter_prior_give_conjugate_posterior():
    """Truth: Gaussian prior N(μ₀, Λ₀⁻¹) on a linear-Gaussian model: posterior
    covariance (AᵀWA + Λ₀)⁻¹, mean cov·(AᵀWy + Λ₀μ₀). The same prior given as
    a callable ln π (HMC, finite-difference gradient) and as parameter priors
    (MALA). Mean within 0.03 std, std within 3 %."""
    m, p, _, _, (A, y, sigma) = _line(seed=1)
    mu0, s0 = np.array([0.8, 0.35]), np.array([0.05, 0.01])     # informative: moves the posterior
    L0 = np.diag(1 / s0**2)
    cov = np.linalg.inv(A.T @ A / sigma**2 + L0)
    mean = cov @ (A.T @ y / sigma**2 + L0 @ mu0)
    sd = np.sqrt(np.diag(cov))

    class LogPrior:
        def __call__(self, x):
            return -0.5 * float(np.sum(((x - mu0) / s0) ** 2))

        def gradient(self, x):
            return -(x - mu0) / s0**2

    S = HMC(m, prior=LogPrior(), progress_bar=False, seed=7, chains=16, max_iter=500).fit().summary()
    _check(S, mean, sd)
    # a plain callable: its gradient by central differences equals the analytic one
    smp = MALA(m, prior=LogPrior().__call__, progress_bar=False)
    X = mean + sd * np.random.default_rng(0).standard_normal((5, 2))
    np.testing.assert_allclose(smp._grad_log_prior(X), -(X - mu0) / s0**2, rtol=1e-6)
    p.a0.prior = GaussianPrior(mu=mu0[0], sigma=s0[0])
    p.a1.prior = GaussianPrior(mu=mu0[1], sigma=s0[1])
    S = MALA(m, progress_bar=False, seed=7, chains=16, max_iter=2000).fit().summary()
    _check(S, mean, sd)


def test_bound_truncates_posterior_half_normal():
    """Truth: d_i ~ N(b, σ²) with a flat prior, bmin at the posterior mode:
    half-normal with mean μ + s·sqrt(2/π), std s·sqrt(1 − 2/π), s = σ/√N."""
    rng = np.random.default_rng(12)
    sigma = 1.0
    d = rng.normal(3.0, sigma, 100)
    s = hs.signals.Signal1D(d)
    s.set_noise_variance(sigma**2)
    m = s.create_model()
    o = C1.Offset(offset=d.mean() + 0.05)
    o.offset.bmin = d.mean()
    m.append(o)
    sd = sigma / np.sqrt(d.size)
    smp = MALA(m, progress_bar=False, seed=2, chains=16, max_iter=2000).fit()
    assert smp.flat_chain.min() >= d.mean()
    _check(smp.summary(), np.array([d.mean() + sd * np.sqrt(2 / np.pi)]), np.array([sd * np.sqrt(1 - 2 / np.pi)]))


# -------------------------------------------------------------- MHMCMC API
@SHORT_RUN
@needs_emcee
def test_mhmcmc_initial_state_array_and_walkers():
    """An (nwalkers, P) initial_state sets the walkers (their number and
    their starts: with no burn-in the first kept step stays near that far-off
    ball, 40 posterior std from the mode); a (P,) one starts a ball around it."""
    m, _, mu, cov, _ = _line()
    sd = np.sqrt(np.diag(cov))
    rng = np.random.default_rng(0)
    far = mu + 40 * sd
    start = far + 1e-3 * sd * rng.standard_normal((10, 2))
    smp = MHMCMC(m, initial_state=start, max_iter=2, burn_in=0, progress_bar=False, seed=1).fit()
    assert smp.nwalkers == 10 and smp.chain.shape == (2, 10, 2)
    assert np.abs((smp.chain[0] - far) / sd).max() < 1.0
    smp = MHMCMC(m, initial_state=mu, max_iter=3, burn_in=0, nwalkers=6, progress_bar=False, seed=1).fit()
    assert smp.chain.shape == (3, 6, 2) and smp.flat_chain.shape == (18, 2)


@needs_emcee
def test_mhmcmc_too_few_walkers_raises():
    m = _line()[0]
    with pytest.raises(InvalidInputError, match="nwalkers"):
        MHMCMC(m, nwalkers=3)
    with pytest.raises(InvalidInputError, match="nwalkers"):
        MHMCMC(m, initial_state=np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match="differs"):
        MHMCMC(m, initial_state=np.zeros((8, 2)), nwalkers=10)


@SHORT_RUN
@pytest.mark.parametrize("cls", SAMPLERS)
def test_progress_bar_on_and_off(cls, capsys):
    """The bar prints only when asked, and does not change the draws (same seed, same chain)."""
    m = _line()[0]
    kw = dict(max_iter=20, seed=3)
    if cls is not MHMCMC:
        kw["warmup"] = 5
    a = cls(m, progress_bar=False, write_back=False, **kw).fit()
    assert capsys.readouterr().err == ""
    b = cls(m, progress_bar=True, write_back=False, **kw).fit()
    assert "100%" in capsys.readouterr().err
    np.testing.assert_array_equal(a.chain, b.chain)


@SHORT_RUN
def test_restart_chain_false_appends():
    m = _line()[0]
    smp = MALA(m, chains=4, max_iter=50, warmup=20, progress_bar=False, seed=0).fit()
    first = smp.chain.copy()
    smp.fit(nsamples=30, restart_chain=False)
    assert smp.chain.shape == (80, 4, 2)
    np.testing.assert_array_equal(smp.chain[:50], first)


@SHORT_RUN
def test_corner_plot_returns_figure():
    import matplotlib.figure

    m = _line()[0]
    smp = HMC(m, chains=4, max_iter=100, warmup=20, progress_bar=False, seed=0).fit()
    fig = smp.corner_plot()
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 4
    fig2 = corner_plot(smp.flat_chain, names=smp.names, truths=smp.posterior_mean, use_corner=False)
    assert isinstance(fig2, matplotlib.figure.Figure) and len(fig2.axes) == 4
    assert smp.plot_corner.__func__ is smp.corner_plot.__func__
    import matplotlib.pyplot as plt

    plt.close("all")


@SHORT_RUN
def test_summary_table_and_dict():
    m = _line()[0]
    smp = HMC(m, chains=4, max_iter=200, warmup=50, progress_bar=False, seed=0).fit()
    text = str(smp.summary())
    for word in ("Polynomial.a0", "Polynomial.a1", "mean", "std", "2.5%", "97.5%", "r_hat", "ess"):
        assert word in text
    d = smp.summary().to_dict()
    flat = smp.flat_chain
    assert d["Polynomial.a1"]["mean"] == pytest.approx(flat[:, 1].mean(), rel=1e-12)
    assert d["Polynomial.a0"]["q50"] == pytest.approx(np.median(flat[:, 0]), rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(chains=0), "chains"),
    (dict(epsilon=-1.0), "epsilon"),
    (dict(max_iter=0), "max_iter"),
    (dict(likelihood="cauchy"), "likelihood"),
    (dict(inv_mass=np.array([[1.0, 2.0], [2.0, 1.0]])), "positive definite"),
    (dict(inv_mass=np.ones(3)), "inv_mass"),
    (dict(jitter=1.5), "jitter"),
    (dict(initial_state=np.zeros(3)), "initial_state"),
])
def test_bad_arguments_raise(kwargs, match):
    m = _line()[0]
    with pytest.raises(InvalidInputError, match=match):
        HMC(m, progress_bar=False, max_iter=kwargs.pop("max_iter", 5), **kwargs).fit()


def test_mala_bad_mass_matrix_and_prior_type():
    m = _line()[0]
    with pytest.raises(InvalidInputError, match="mass_matrix"):
        MALA(m, mass_matrix=np.eye(3))
    with pytest.raises(TypeError, match="prior"):
        MALA(m, prior=3.0)


def test_no_chain_before_fit():
    with pytest.raises(InvalidInputError, match="fit"):
        _ = MALA(_line()[0]).chain


@SHORT_RUN
def test_hmc_astrophot_pyro_kwargs_are_mapped():
    """AstroPhot's hmc_kwargs/mcmc_kwargs: known keys set our options, unknown keys raise."""
    m = _line()[0]
    h = HMC(m, hmc_kwargs={"step_size": 0.3, "num_steps": 4, "adapt_step_size": False},
            mcmc_kwargs={"num_chains": 3, "warmup_steps": 7, "num_samples": 11, "disable_progbar": True})
    assert (h.epsilon, h.leapfrog_steps, h.adapt_step_size) == (0.3, 4, False)
    assert (h.chains, h.warmup, h.max_iter, h.progress_bar) == (3, 7, 11, False)
    h.fit()
    assert h.chain.shape == (11, 3, 2) and h.epsilon == 0.3     # no adaptation: the step is kept
    with pytest.raises(InvalidInputError, match="full_mass"):
        HMC(m, hmc_kwargs={"full_mass": True})


def test_density_is_log_posterior():
    """Truth: for the linear model, ln p(x) − ln p(x̂) = −½ (x − x̂)ᵀ(AᵀWA)(x − x̂) exactly."""
    m, _, mu, cov, _ = _line()
    smp = MALA(m, progress_bar=False)
    x = mu + np.array([0.1, -0.02])
    d = x - mu
    assert smp.density(x) - smp.density(mu) == pytest.approx(-0.5 * d @ np.linalg.solve(cov, d), rel=1e-9)
    assert smp.density(np.stack([x, mu])).shape == (2,)


# ------------------------------------------------------------ diagnostics
def test_diagnostics_against_ar1_theory_and_emcee():
    """Truth: an AR(1) chain x_t = ρ x_{t−1} + e_t has τ = (1+ρ)/(1−ρ) and
    ESS = N/τ; rhat flags chains with different means; integrated_time equals
    emcee.autocorr.integrated_time (same algorithm) to 1e-10."""
    from swiftfit.astrophot_api import diagnostics as dg

    rng = np.random.default_rng(0)
    rho, n, m = 0.8, 8000, 8
    x = np.zeros((n, m, 2))
    for t in range(1, n):
        x[t] = rho * x[t - 1] + rng.standard_normal((m, 2))
    tau = (1 + rho) / (1 - rho)
    np.testing.assert_allclose(dg.ess(x), n * m / tau, rtol=0.1)
    np.testing.assert_allclose(dg.integrated_time(x), tau, rtol=0.1)
    if importlib.util.find_spec("emcee") is not None:
        import emcee

        np.testing.assert_allclose(dg.integrated_time(x), emcee.autocorr.integrated_time(x), rtol=1e-10)
    assert dg.rhat(x).max() < 1.01 and dg.rhat(x, method="split").max() < 1.01
    shifted = x.copy()
    shifted[:, :4] += 2.0          # half of the chains elsewhere: marginal sd is 1/sqrt(1-rho²) = 1.67
    assert dg.rhat(shifted).min() > 1.1
    with pytest.raises(InvalidInputError, match="method"):
        dg.rhat(x, method="classic")


def test_unconverged_chains_warn():
    """Chains started 50 std apart and barely moving (tiny step, no warm-up)
    cannot agree: R-hat is large and a FitWarning says so."""
    from swiftfit.errors import FitWarning

    m, _, mu, cov, _ = _line()
    sd = np.sqrt(np.diag(cov))
    start = np.stack([mu - 25 * sd, mu + 25 * sd])
    with pytest.warns(FitWarning, match="R-hat"):
        smp = MALA(m, initial_state=start, chains=2, epsilon=1e-3, warmup=0, max_iter=20,
                   progress_bar=False, seed=0).fit()
    assert smp.rhat.max() > 2


def test_mhmcmc_without_emcee_names_the_extra(monkeypatch):
    """emcee hidden (sys.modules entry None makes its import fail): the error names the extra."""
    import sys

    monkeypatch.setitem(sys.modules, "emcee", None)
    with pytest.raises(ImportError, match=r"swiftfit\[emcee\]"):
        MHMCMC(_line()[0])


def test_gaussian_without_noise_variance_warns():
    """Without a noise variance the gaussian likelihood has unit variance per point: say so."""
    from swiftfit.errors import FitWarning

    m = hs.signals.Signal1D(np.random.default_rng(0).normal(size=50)).create_model()
    m.append(C1.Offset())
    with pytest.warns(FitWarning, match="noise variance"):
        MALA(m, progress_bar=False)
