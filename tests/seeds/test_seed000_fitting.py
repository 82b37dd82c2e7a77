"""Seed 000 (HyperSpy 'Fitting the model to the data'): the 1-D examples that
need only the Foundation, verbatim apart from the import and seeded noise.

Truths: closed-form OLS/WLS estimates and standard errors of the same data,
and the values the seed prints where the data are deterministic.
"""

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

import swiftfit as hs


def _ols(x, y, w=None):
    """Closed-form (weighted) least squares: coefficients and the covariance
    (scaled by the residual variance when unweighted, as for OLS)."""
    X = np.c_[np.ones_like(x), x]
    if w is None:
        beta = np.linalg.solve(X.T @ X, X.T @ y)
        resid = y - X @ beta
        cov = resid @ resid / (len(y) - 2) * np.linalg.inv(X.T @ X)
    else:
        W = np.diag(w)
        cov = np.linalg.inv(X.T @ W @ X)
        beta = cov @ X.T @ W @ y
    return beta, np.sqrt(np.diag(cov))


def test_least_squares_with_error_estimation():
    s = hs.signals.Signal1D(np.arange(100, 300, dtype='float32'))
    s.add_gaussian_noise(std=100, random_state=42)
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1)
    m.append(line)
    m.fit()
    beta, std = _ols(np.arange(200.0), s.data.astype(float))
    # within 3 sigma of the truth a0 = 100 (intercept), a1 = 1 (slope)
    assert abs(line.a0.value - 100) < 3 * line.a0.std
    assert abs(line.a1.value - 1) < 3 * line.a1.std
    np.testing.assert_allclose([line.a0.value, line.a1.value], beta, rtol=1e-6)
    np.testing.assert_allclose([line.a0.std, line.a1.std], std, rtol=1e-6)


def test_weighted_least_squares_poisson():
    s = hs.signals.Signal1D(np.arange(300))
    s.add_poissonian_noise(random_state=7)
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1)
    m.append(line)
    m.fit()
    x, y = np.arange(300.0), s.data.astype(float)
    beta, std = _ols(x, y)
    np.testing.assert_allclose([line.a0.value, line.a1.value], beta, rtol=1e-6)
    np.testing.assert_allclose([line.a0.std, line.a1.std], std, rtol=1e-6)

    exp_val = hs.signals.Signal1D(np.arange(300)+1)
    s.estimate_poissonian_noise_variance(expected_value=exp_val)
    assert line.estimate_parameters(s, 10, 250) is True
    m.fit()
    beta, std = _ols(x, y, w=1 / (x + 1))
    np.testing.assert_allclose([line.a0.value, line.a1.value], beta, rtol=1e-6)
    # variance given: no rescaling by the reduced chi-square
    np.testing.assert_allclose([line.a0.std, line.a1.std], std, rtol=1e-6)

    m.signal.set_noise_variance(None) # This will now be an unweighted fit
    m.fit()
    beta, _ = _ols(x, y)
    np.testing.assert_allclose([line.a0.value, line.a1.value], beta, rtol=1e-6)


def test_bounded_histogram_fit(capsys):
    rng = np.random.RandomState(0)
    sample = rng.normal(loc=10, scale=0.01, size=100000)
    s = hs.signals.BaseSignal(sample).get_histogram()
    s.axes_manager[-1].is_binned = True
    m = s.create_model()
    g1 = hs.model.components1D.Gaussian()
    m.append(g1)
    g1.centre.value = 7
    g1.centre.bmin = 7
    g1.centre.bmax = 14
    m.fit(optimizer="lm", bounded=True)
    m.print_current_values()
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Model1D: histogram"
    assert "Parameter Name |  Free |      Value |        Std |        Min |        Max" in out
    # the seed: A = 99997.3481, sigma = 0.00999184, centre = 9.99980788 (its own random draw)
    assert m.fit_output.success
    assert g1.A.value == pytest.approx(1e5, rel=0.01)
    assert g1.sigma.value == pytest.approx(0.01, rel=0.02)
    # the histogram axis holds the left bin edges, so the fitted centre is the
    # sample mean less half a bin (the seed's 9.99980788 shows the same shift)
    half_bin = s.axes_manager[-1].scale / 2
    assert g1.centre.value == pytest.approx(sample.mean() - half_bin, abs=5 * 0.01 / np.sqrt(1e5))
    assert g1.centre.std < 1e-4


def test_fit_output_is_optimize_result(capsys):
    s = hs.signals.Signal1D(np.arange(100, 300, dtype='float32'))
    m = s.create_model()
    m.append(hs.model.components1D.Polynomial(order=1))
    m.fit()
    assert type(m.fit_output) is OptimizeResult
    assert m.fit_output.success
    m.fit(optimizer="trf", print_info=True)
    out = capsys.readouterr().out
    assert out.startswith("Fit info:\n  optimizer=trf\n  loss_function=ls\n  bounded=False\n")
    assert "Fit result:" in out
