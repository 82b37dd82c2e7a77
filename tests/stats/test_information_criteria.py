"""log-likelihood, AIC, AICc and BIC against their closed forms."""

import numpy as np
import pytest

import swiftfit as hs


def test_gaussian_likelihood_with_known_variance():
    rng = np.random.default_rng(8)
    x = np.arange(40.0)
    y = 1.0 + 0.5 * x + rng.normal(0, 2.0, 40)
    s = hs.signals.Signal1D(y)
    s.set_noise_variance(4.0)
    m = s.create_model()
    m.append(hs.model.components1D.Polynomial(order=1))
    out = m.fit()
    X = np.c_[np.ones(40), x]
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    chi2 = np.sum((y - X @ beta) ** 2) / 4.0
    lnl = -0.5 * chi2 - 40 * 0.5 * np.log(2 * np.pi * 4.0)
    k, n = 2, 40
    assert out.log_likelihood == pytest.approx(lnl, rel=1e-10)
    assert out.aic == pytest.approx(2 * k - 2 * lnl, rel=1e-10)
    assert out.aicc == pytest.approx(2 * k - 2 * lnl + 2 * k * (k + 1) / (n - k - 1), rel=1e-10)
    assert out.bic == pytest.approx(k * np.log(n) - 2 * lnl, rel=1e-10)
    assert float(m.aic.data[0]) == pytest.approx(out.aic, rel=1e-12)
    assert float(m.bic.data[0]) == pytest.approx(out.bic, rel=1e-12)


def test_gaussian_likelihood_profiled_when_no_variance():
    """No variance: σ² is profiled, ln L = −n/2 (ln(2π RSS/n) + 1)."""
    rng = np.random.default_rng(9)
    x = np.arange(30.0)
    y = 2.0 - 0.1 * x + rng.normal(0, 0.7, 30)
    s = hs.signals.Signal1D(y)
    m = s.create_model()
    m.append(hs.model.components1D.Polynomial(order=1))
    out = m.fit()
    X = np.c_[np.ones(30), x]
    rss = np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)
    assert out.log_likelihood == pytest.approx(-15 * (np.log(2 * np.pi * rss / 30) + 1), rel=1e-10)


def test_poisson_likelihood():
    from scipy.stats import poisson

    rng = np.random.default_rng(10)
    x = np.arange(50.0)
    counts = rng.poisson(2 + 0.1 * x).astype(float)
    s = hs.signals.Signal1D(counts)
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1, a0=2, a1=0.1)
    m.append(line)
    out = m.fit(optimizer="Nelder-Mead", loss_function="ML-poisson",
                options={"xatol": 1e-10, "fatol": 1e-12})
    mu = line.a0.value + line.a1.value * x
    assert out.log_likelihood == pytest.approx(poisson.logpmf(counts, mu).sum(), rel=1e-10)
