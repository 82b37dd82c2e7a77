"""Priors (swiftfit.priors): MAP fits against the closed-form posterior mode."""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as hs
from swiftfit import losses
from swiftfit.engines.numba import lower as _fused
from swiftfit.errors import InvalidInputError, InvalidTypeError, OptimizerError
from swiftfit.priors import GaussianPrior, LogUniformPrior, UniformPrior

C1 = hs.model.components1D
SIGMA = 0.3


def _line(seed=1, n=50):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 10.0, n)
    y = 2.0 + 0.5 * x + rng.normal(0.0, SIGMA, n)
    s = hs.signals.Signal1D(y)
    s.axes_manager.signal_axes[0].scale = x[1] - x[0]
    s.metadata.set_item("Signal.Noise_properties.variance", SIGMA**2)
    m = s.create_model()
    poly = C1.Polynomial(order=1)
    m.append(poly)
    return m, poly, x, y


def _map(x, y, mu, sd):
    """The posterior mean of the Gaussian linear model (= its MAP)."""
    X = np.column_stack([np.ones_like(x), x])
    W = np.eye(x.size) / SIGMA**2
    Sinv = np.diag(1 / np.asarray(sd) ** 2)
    A = X.T @ W @ X + Sinv
    return np.linalg.solve(A, X.T @ W @ y + Sinv @ np.asarray(mu)), np.linalg.inv(A)


@pytest.mark.parametrize("optimizer", ["lm", "L-BFGS-B", "minuit"])
def test_gaussian_prior_gives_the_closed_form_map(optimizer):
    if optimizer == "minuit":
        pytest.importorskip("iminuit")
    m, poly, x, y = _line()
    poly.a0.prior = GaussianPrior(mu=1.0, sigma=0.05)
    poly.a1.prior = GaussianPrior(mu=0.7, sigma=0.02)
    m.fit(optimizer=optimizer)
    expected, cov = _map(x, y, [1.0, 0.7], [0.05, 0.02])
    np.testing.assert_allclose([poly.a0.value, poly.a1.value], expected, rtol=0, atol=1e-8)
    # the covariance is the posterior's (Laplace; exact for a linear model)
    np.testing.assert_allclose(np.asarray(m.covariance), cov, rtol=1e-5)
    # the objective is χ² plus the prior penalty, reported apart
    out = m.fit_output
    pen = ((poly.a0.value - 1.0) / 0.05) ** 2 + ((poly.a1.value - 0.7) / 0.02) ** 2
    assert out.prior_stat == pytest.approx(pen, rel=1e-9)
    assert out.fun == pytest.approx(out.chisq + pen, rel=1e-9)


def test_prior_fits_never_use_the_compiled_kernel(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the fused LM kernel must not run a fit with priors")

    monkeypatch.setattr(_fused, "fused_lm", refuse)
    m, poly, x, y = _line()
    poly.a1.prior = GaussianPrior(mu=0.7, sigma=0.02)
    m.fit()
    assert m.fit_output.success
    with pytest.raises(OptimizerError, match="numba"):
        m.fit(kernel="numba")


def test_a_very_wide_gaussian_prior_changes_nothing():
    m, poly, *_ = _line()
    m.fit()
    free = [poly.a0.value, poly.a1.value]
    poly.a0.value = poly.a1.value = 0.0
    poly.a0.prior = GaussianPrior(mu=0.0, sigma=1e8)
    poly.a1.prior = GaussianPrior(mu=0.0, sigma=1e8)
    m.fit()
    np.testing.assert_allclose([poly.a0.value, poly.a1.value], free, rtol=0, atol=1e-6)


def test_uniform_prior_keeps_the_parameter_inside():
    m, poly, *_ = _line()
    m.fit()
    assert poly.a1.value > 0.45  # the unconstrained slope is ~0.49
    poly.a0.value, poly.a1.value = 2.0, 0.4
    poly.a1.prior = UniformPrior(min=0.3, max=0.45)
    m.fit()
    assert 0.3 <= poly.a1.value <= 0.45
    assert poly.a1.value == pytest.approx(0.45, abs=1e-4)  # pressed against the edge
    # a start outside the support is refused, naming the parameter
    poly.a1.value = 0.6
    with pytest.raises(InvalidInputError, match="Polynomial.a1"):
        m.fit()


def test_loguniform_prior_adds_two_ln_theta():
    m, poly, *_ = _line()
    prior = LogUniformPrior(min=1e-3, max=10.0)
    poly.a1.prior = prior
    poly.a1.value = 1.0  # inside the support (0 is not)
    m.fit()
    out = m.fit_output
    const = 2 * np.log(np.log(10.0 / 1e-3))
    assert out.prior_stat == pytest.approx(2 * np.log(poly.a1.value) + const, rel=1e-12)
    assert out.fun == pytest.approx(out.chisq + out.prior_stat, rel=1e-12)
    assert prior(2.0) - prior(1.0) == pytest.approx(2 * np.log(2.0), rel=1e-14)
    # the MAP sits where d χ²/d a1 = −2/a1: below the unpenalised slope
    m2, poly2, *_ = _line()
    m2.fit()
    assert poly.a1.value < poly2.a1.value


def test_poisson_objective_gets_minus_ln_prior():
    rng = np.random.default_rng(3)
    s = hs.signals.Signal1D(rng.poisson(20.0, 40).astype(float))
    m = s.create_model()
    off = C1.Offset(offset=5.0)
    m.append(off)
    off.offset.prior = GaussianPrior(mu=15.0, sigma=1.0)
    m.fit(loss_function="ML-poisson")
    d = s.data
    # d/dθ [Σ(θ − d ln θ) + ½((θ − 15)/1)²] = 0: N − Σd/θ + (θ − 15) = 0
    theta = off.offset.value
    assert d.size - d.sum() / theta + (theta - 15.0) == pytest.approx(0.0, abs=1e-6)
    assert m.fit_output.fun - losses.PoissonML().value(_problem(m), np.array([[theta]]))[0] == \
        pytest.approx(0.5 * (theta - 15.0) ** 2, rel=1e-9)


def _problem(m):
    return m._problem([()])


def test_priors_on_fixed_parameters_are_ignored_bit_for_bit():
    m, poly, *_ = _line()
    poly.a0.value, poly.a0.free = 2.0, False
    m.fit()
    reference = (poly.a1.value, poly.a1.std, m.fit_output.fun)
    poly.a1.value = 0.0
    poly.a0.prior = GaussianPrior(mu=100.0, sigma=1e-3)
    m.fit()
    assert (poly.a1.value, poly.a1.std, m.fit_output.fun) == reference
    assert m.fit_output.prior_stat is None


def test_fits_without_priors_are_unchanged_bit_for_bit():
    m, poly, *_ = _line()
    problem = _problem(m)
    # the optimizer's own path on the plain loss (the compiled kernel where available)
    ref = hs.optimizers.registry.get("lm").solve(problem, losses.LeastSquares())
    m.fit()
    assert [poly.a0.value, poly.a1.value] == list(ref.theta[0])
    # a prior set then removed leaves no trace
    first = (poly.a0.value, poly.a1.value, poly.a0.std, m.fit_output.fun, m.fit_output.nfev)
    poly.a0.value = poly.a1.value = 0.0
    poly.a1.prior = GaussianPrior(mu=0.0, sigma=0.01)
    m.fit()
    poly.a1.prior = None
    poly.a0.value = poly.a1.value = 0.0
    m.fit()
    assert (poly.a0.value, poly.a1.value, poly.a0.std, m.fit_output.fun, m.fit_output.nfev) == first
    plain = losses.LeastSquares()
    assert losses.with_priors(plain, list(poly.parameters)) is plain


def test_multifit_uses_the_priors():
    rng = np.random.default_rng(5)
    x = np.linspace(0.0, 10.0, 30)
    data = 2.0 + 0.5 * x + rng.normal(0, SIGMA, (3, x.size))
    s = hs.signals.Signal1D(data)
    s.axes_manager.signal_axes[0].scale = x[1] - x[0]
    s.metadata.set_item("Signal.Noise_properties.variance", SIGMA**2)
    m = s.create_model()
    poly = C1.Polynomial(order=1)
    m.append(poly)
    poly.a0.prior = GaussianPrior(mu=1.0, sigma=0.05)
    poly.a1.prior = GaussianPrior(mu=0.7, sigma=0.02)
    m.multifit()
    for i in range(3):
        expected, _ = _map(x, data[i], [1.0, 0.7], [0.05, 0.02])
        np.testing.assert_allclose([poly.a0.map["values"][i], poly.a1.map["values"][i]], expected, atol=1e-8)


def test_residual_only_optimizers_refuse_priors():
    m, poly, *_ = _line()
    poly.a1.prior = GaussianPrior(mu=0.7, sigma=0.02)
    with pytest.raises(OptimizerError, match="priors"):
        m.fit(optimizer="trf")


def test_prior_validation():
    p = C1.Gaussian().sigma
    with pytest.raises(InvalidTypeError, match="sigma.prior"):
        p.prior = 3.0
    with pytest.raises(InvalidInputError, match="sigma"):
        GaussianPrior(mu=0.0, sigma=0.0)
    with pytest.raises(InvalidInputError, match="min < max"):
        UniformPrior(min=2.0, max=1.0)
    with pytest.raises(InvalidInputError, match="0 < min"):
        LogUniformPrior(min=0.0, max=1.0)
    p.prior = UniformPrior(0.0, 1.0)
    assert p.prior == UniformPrior(0.0, 1.0)
    assert UniformPrior(0, 1)(2.0) == np.inf and UniformPrior(0, 1)(0.5) == 0.0
    assert GaussianPrior(1.0, 0.5, weight=2.0)(2.0) == pytest.approx(8.0)
    p.prior = None
    assert p.prior is None


def test_profile_interval_of_a_map_fit_is_the_posterior_std():
    """The likelihood profile includes the priors: on the Gaussian linear
    model with a Gaussian prior on the slope, the 1σ profile interval of the
    slope is exactly ± the posterior standard deviation sqrt(A⁻¹₁₁)."""
    from swiftfit.stats import confidence

    m, poly, x, y = _line()
    poly.a1.prior = GaussianPrior(mu=0.4, sigma=0.02)
    m.fit()
    _, post = _map(x, y, [0.0, 0.4], [1e12, 0.02])
    interval = confidence(m, poly.a1, sigma=1)
    assert interval["success"]
    np.testing.assert_allclose([interval["errp"], -interval["errn"]], np.sqrt(post[1, 1]), rtol=1e-6)


def test_joint_fit_uses_the_priors():
    """A joint fit of two models is a MAP fit when a parameter has a prior:
    the same closed form, with the two datasets stacked."""
    m1, p1, x, y1 = _line(seed=3)
    m2, p2, _, y2 = _line(seed=4)
    p2.a0.twin = p1.a0
    p2.a1.twin = p1.a1
    p1.a1.prior = GaussianPrior(mu=0.4, sigma=0.02)
    hs.JointModel([m1, m2]).fit()
    expected, _ = _map(np.concatenate([x, x]), np.concatenate([y1, y2]), [0.0, 0.4], [1e12, 0.02])
    np.testing.assert_allclose([p1.a0.value, p1.a1.value], expected, rtol=1e-8)


@pytest.mark.parametrize("backend", ["swiftfit", "scipy", "minuit"])
def test_gammapy_fit_uses_the_priors(backend):
    m, poly, x, y = _line(seed=5)
    poly.a1.prior = GaussianPrior(mu=0.4, sigma=0.02)
    opts = {"scipy": {"options": {"ftol": 1e-15, "gtol": 1e-12}}, "minuit": {"tol": 1e-8, "strategy": 2}}
    result = hs.Fit(backend=backend, optimize_opts=opts.get(backend)).run(hs.Datasets([m]))
    assert result.optimize_result.success
    expected, _ = _map(x, y, [0.0, 0.4], [1e12, 0.02])
    np.testing.assert_allclose([poly.a0.value, poly.a1.value], expected, rtol=1e-6)
