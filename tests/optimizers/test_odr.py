"""Optimizer "odr" (orthogonal distance regression through odrpack).

Truths: HyperSpy's toy case (exact data, known parameters), our own "lm"
(ODR without x errors is least squares), the closed-form least-squares
covariance, and closed-form Deming regression for a straight line with
errors in both variables.
"""

import sys

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import OptimizerError
from swiftfit.optimizers import get
from swiftfit.optimizers.odr import _status

odrpack = pytest.importorskip("odrpack")

C = hs.model.components1D


def _toy():
    v = 2 * np.exp(-((np.arange(10, 100, 0.1) - 50) ** 2) / (2 * 5**2))
    s = hs.signals.Signal1D(v)
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.is_binned = 0.1, 10, True
    m = s.create_model()
    g = C.Gaussian()
    m.append(g)
    return m, g


@pytest.mark.parametrize("grad", ["fd", "analytical"])
def test_hyperspy_toy_gaussian(grad):
    m, g = _toy()
    g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9
    out = m.fit(optimizer="odr", grad=grad)
    assert out.success and out.status in (1, 2, 3)
    assert out.optimizer == "odr"
    np.testing.assert_allclose(
        [g.A.value, g.centre.value, g.sigma.value], [250.66282746, 50.0, 5.0], rtol=5e-4
    )


def _noisy_peak(seed=0, variance=None):
    x = np.linspace(0, 60, 400)
    rng = np.random.default_rng(seed)
    y = 300 * np.exp(-((x - 31) ** 2) / (2 * 3.5**2)) / (3.5 * np.sqrt(2 * np.pi)) + 4.0
    y = y + rng.normal(0, 0.8 if variance is None else np.sqrt(variance), x.size)
    s = hs.signals.Signal1D(y)
    ax = s.axes_manager[-1]
    ax.offset, ax.scale = x[0], x[1] - x[0]
    if variance is not None:
        s.set_noise_variance(variance)
    m = s.create_model()
    g, off = C.Gaussian(), C.Offset()
    m.append(g)
    m.append(off)
    return m, (g.A, g.sigma, g.centre, off.offset)


def _start(params):
    for p, v in zip(params, (250.0, 3.0, 30.0, 3.0)):
        p.value = v


@pytest.mark.parametrize("grad", ["auto", "fd"])
@pytest.mark.parametrize("weighted", [False, True])
def test_without_sx_odr_is_least_squares_like_lm(weighted, grad):
    var = (0.3 + 0.02 * np.linspace(0, 60, 400)) if weighted else None
    m, params = _noisy_peak(seed=1, variance=var)
    _start(params)
    m.fit(optimizer="lm")
    ref = [p.value for p in params]
    ref_std = [p.std for p in params]
    _start(params)
    out = m.fit(optimizer="odr", grad=grad)
    assert out.success
    np.testing.assert_allclose([p.value for p in params], ref, rtol=1e-6)
    np.testing.assert_allclose([p.std for p in params], ref_std, rtol=1e-5)


def test_covariance_is_odrpacks_unscaled_ls_covariance():
    m, params = _noisy_peak(seed=2)
    _start(params)
    m.fit(optimizer="lm")
    problem = m._problem([()])
    sol = get("odr").solve(problem)
    assert sol.status[0] in (1, 2, 3)
    np.testing.assert_allclose(sol.theta[0], [p.value for p in params], rtol=1e-6)
    J = problem.jacobian(sol.theta)[0]
    ref = np.linalg.inv(J.T @ J)
    np.testing.assert_allclose(sol.covariance[0], ref, rtol=1e-6, atol=1e-10 * np.abs(ref).max())
    res = sol.info["odr_result"]
    # odrpack's own standard errors are this covariance scaled by its residual variance
    np.testing.assert_allclose(res.sd_beta, np.sqrt(np.diag(sol.covariance[0]) * res.res_var), rtol=1e-12)


def _deming(x, y, delta):
    """Closed-form Deming regression; delta = var(y errors) / var(x errors)."""
    xm, ym = x.mean(), y.mean()
    sxx = np.mean((x - xm) ** 2)
    syy = np.mean((y - ym) ** 2)
    sxy = np.mean((x - xm) * (y - ym))
    slope = (syy - delta * sxx + np.sqrt((syy - delta * sxx) ** 2 + 4 * delta * sxy**2)) / (2 * sxy)
    return ym - slope * xm, slope


def test_errors_in_both_variables_match_deming_and_undo_attenuation():
    rng = np.random.default_rng(2024)
    n, sx, sy = 200, 0.6, 0.4
    xt = np.linspace(0, 10, n)
    x = xt + rng.normal(0, sx, n)
    y = 1.0 + 2.0 * xt + rng.normal(0, sy, n)
    order = np.argsort(x)
    x, y = x[order], y[order]
    s = hs.signals.Signal1D(y, axes=[{"axis": x}])
    s.set_noise_variance(sy**2)
    m = s.create_model()
    line = C.Polynomial(order=1)
    m.append(line)
    m.fit(optimizer="lm")
    ols = line.a1.value
    line.a0.value, line.a1.value = 0.0, 1.0
    out = m.fit(optimizer="odr", sx=sx)
    assert out.success
    a0, a1 = _deming(x, y, sy**2 / sx**2)
    np.testing.assert_allclose([line.a0.value, line.a1.value], [a0, a1], rtol=1e-6)
    # OLS is attenuated towards 0 by errors in x; ODR is not
    assert 0 < ols < line.a1.value
    assert abs(line.a1.value - 2.0) < abs(ols - 2.0)
    assert abs(line.a1.value - 2.0) < 3 * line.a1.std


def test_bounds_are_respected():
    m, g = _toy()
    g.A.value, g.centre.value, g.sigma.value = 250, 45, 4.9
    g.centre.bmin, g.centre.bmax = 40.0, 48.0
    out = m.fit(optimizer="odr", bounded=True)
    assert out.status in (1, 2, 3)
    assert g.centre.value <= 48.0 + 1e-12
    np.testing.assert_allclose(g.centre.value, 48.0, rtol=1e-9)
    assert get("odr").bounds


def test_options_are_checked():
    m, _g = _toy()
    with pytest.raises(OptimizerError, match="unknown options.*'ftol'"):
        m.fit(optimizer="odr", ftol=1e-3)
    for bad in (0.0, -1.0, np.nan, np.ones(3)):
        with pytest.raises(OptimizerError, match="sx"):
            m.fit(optimizer="odr", sx=bad)
    with pytest.raises(OptimizerError, match="loss_function"):
        m.fit(optimizer="odr", loss_function="huber")


def test_iteration_limit_maps_to_minus_1():
    m, g = _toy()
    g.A.value, g.centre.value, g.sigma.value = 100, 60, 2.0
    with pytest.warns(hs.errors.FitWarning):
        out = m.fit(optimizer="odr", maxit=1)
    assert out.status == -1


def test_status_table():
    beta = np.zeros(2)
    assert [_status(i, beta) for i in (1, 2, 3, 4)] == [1, 2, 3, -1]
    assert _status(12, beta) == -3  # not full rank at the solution
    assert _status(1002, beta) == 2  # derivative check questionable: a warning only
    assert _status(1004, beta) == -1
    assert _status(102, beta) == -5  # stopped from the callback
    assert _status(60000, beta) == -5
    assert _status(1, np.array([np.nan, 0.0])) == -2


def test_registered_capabilities():
    spec = get("odr")
    assert spec.gradients and spec.errors and spec.bounds
    assert spec.losses == frozenset({"ls"})


def test_missing_odrpack_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "odrpack", None)
    m, _g = _toy()
    with pytest.raises(ImportError, match=r"swiftfit\[odr\]"):
        m.fit(optimizer="odr")
