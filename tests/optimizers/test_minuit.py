"""optimizer="minuit": iminuit's MIGRAD + HESSE on the loss objective.

Truths: HyperSpy's toy Gaussian (exact data: A = 2·√(2π)·5/0.1, centre 50,
sigma 5) and agreement with our Levenberg–Marquardt on a Poisson line fitted
by maximum likelihood (same objective, same minimum, same Fisher errors).
"""

import sys
import warnings

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import FitWarning, OptimizerError
from swiftfit.optimizers import registry

pytest.importorskip("iminuit")

TRUTH = np.array([250.66282746, 50.0, 5.0])  # A, centre, sigma


def toy():
    v = 2 * np.exp(-((np.arange(10, 100, 0.1) - 50) ** 2) / (2 * 5**2))
    s = hs.signals.Signal1D(v)
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.is_binned = 0.1, 10, True
    m = s.create_model()
    g = hs.model.components1D.Gaussian()
    m.append(g)
    g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9
    return m, g


def values(g):
    return np.array([g.A.value, g.centre.value, g.sigma.value])


def poisson_line(seed=3):
    rng = np.random.default_rng(seed)
    x = np.arange(100.0)
    s = hs.signals.Signal1D(rng.poisson(2000 + 3.0 * x).astype(float))
    m = s.create_model()
    p = hs.model.components1D.Polynomial(order=1)
    m.append(p)
    p.a0.value, p.a1.value = 1500.0, 2.0
    return m, p


def fitted(m, **kw):
    out = m.fit(**kw)
    return out, np.array(out.x), np.sqrt(np.diag(out.covariance))


def test_registered_with_capabilities():
    assert "minuit" in registry.available()
    spec = registry.get("minuit")
    assert spec.bounds and spec.gradients and spec.errors and not spec.batched
    assert {"ls", "ML-poisson", "huber", "custom"} <= spec.losses


def test_hyperspy_toy_gaussian():
    m, g = toy()
    out = m.fit(optimizer="minuit")
    assert out.success and out.status == 6
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)
    info = out.optimizer_result.minuit
    for key in ("is_valid", "has_accurate_covar", "has_posdef_covar", "has_made_posdef_covar",
                "hesse_failed", "has_reached_call_limit", "is_above_max_edm", "edm"):
        assert key in info
    assert info["is_valid"] and not info["hesse_failed"]
    assert out.nfev > 0


@pytest.mark.parametrize("strategy", [0, 2])
def test_options_tol_strategy(strategy):
    m, g = toy()
    out = m.fit(optimizer="minuit", tol=1e-4, strategy=strategy)
    assert out.success
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)


def test_agrees_with_lm_on_poisson_ml():
    """Same minimum; HESSE's observed information (Σ d/m² JJᵀ) and lm's Fisher
    information (Σ JJᵀ/m) differ by the noise of d/m, ~1e-4 at 2000 counts."""
    m1, _ = poisson_line()
    out_lm, x_lm, s_lm = fitted(m1, loss_function="ML-poisson")
    m2, _ = poisson_line()
    out_mn, x_mn, s_mn = fitted(m2, optimizer="minuit", loss_function="ML-poisson", tol=1e-6)
    assert out_lm.success and out_mn.success
    assert out_lm.parameter_names == out_mn.parameter_names
    np.testing.assert_allclose(x_mn, x_lm, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s_mn, s_lm, rtol=1e-3)
    np.testing.assert_allclose(out_mn.fun, out_lm.fun, rtol=1e-10)


def test_covariance_is_hesse_and_unscaled_for_known_variance():
    """ls with a noise variance: HESSE's covariance is (JᵀWJ)⁻¹ = 2·errordef·H⁻¹."""
    rng = np.random.default_rng(0)
    x = np.arange(50.0)
    s = hs.signals.Signal1D(1.0 + 0.5 * x + rng.normal(0, 2.0, x.size))
    s.set_noise_variance(4.0)
    m = s.create_model()
    m.append(hs.model.components1D.Polynomial(order=1))
    out = m.fit(optimizer="minuit")
    J = np.stack([np.ones_like(x), x], axis=1) / 2.0
    expected = np.linalg.inv(J.T @ J)
    names = out.parameter_names
    order = [names.index("Polynomial.a0"), names.index("Polynomial.a1")]
    cov = out.covariance[np.ix_(order, order)]
    np.testing.assert_allclose(cov, expected, rtol=1e-4)


def test_bounded_uses_limits():
    m, g = toy()
    g.centre.bmin = 55
    out = m.fit(optimizer="minuit", bounded=True)
    assert g.centre.value >= 55 - 1e-9
    np.testing.assert_allclose(values(g), [257.48162397, 55.0, 7.76886132], rtol=2e-3)
    assert out.status in (6, -5)


def test_call_limit_reports_failure_with_flags():
    m, _ = toy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        out = m.fit(optimizer="minuit", ncall=5)
    assert out.status == -5 and not out.success
    assert out.optimizer_result.minuit["has_reached_call_limit"]
    assert "call limit" in out.message


def test_unknown_option_refused():
    m, _ = toy()
    with pytest.raises(OptimizerError, match="maxiter"):
        m.fit(optimizer="minuit", maxiter=10)
    with pytest.raises(OptimizerError, match="not both"):
        m.fit(optimizer="minuit", ncall=10, max_nfev=10)


def test_custom_loss_without_gradient():
    m, g = toy()

    def sse(model, values, data, weights=None):
        model.fetch_values_from_array(values)
        return float(np.sum((data - model(onlyactive=True)) ** 2))

    out = m.fit(optimizer="minuit", loss_function=sse)
    assert out.success
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)


def test_missing_iminuit_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "iminuit", None)
    m, _ = toy()
    with pytest.raises(ImportError, match=r"swiftfit\[iminuit\]"):
        m.fit(optimizer="minuit")
