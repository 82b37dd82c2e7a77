"""Losses through the scipy optimizers: errors for every optimizer and loss,
computed from the loss at the optimum, against closed forms; Huber through
least_squares' own robust loss.

Truths: the OLS estimate and standard errors of a straight line (closed
form), the Fisher information of a Poisson line computed by hand, and
Huber's objective, which least_squares(loss="huber", f_scale=δ) minimizes
exactly as the general minimizers do.
"""

import warnings

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import FitWarning, OptimizerError
from swiftfit.losses import CustomLoss, Huber, LeastSquares, PoissonML
from swiftfit.optimizers.scipy_lsq import solve_least_squares
from swiftfit.optimizers.scipy_min import METHODS


def _ols(x, y):
    X = np.c_[np.ones_like(x), x]
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    resid = y - X @ beta
    cov = resid @ resid / (len(y) - 2) * np.linalg.inv(X.T @ X)
    return beta, np.sqrt(np.diag(cov))


def noisy_line():
    s = hs.signals.Signal1D(np.arange(100, 300, dtype="float32"))
    s.add_gaussian_noise(std=100, random_state=42)
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1)
    m.append(line)
    beta, std = _ols(np.arange(200.0), s.data.astype(float))
    return m, line, beta, std


def poisson_line():
    x = np.arange(300.0)
    rng = np.random.default_rng(11)
    s = hs.signals.Signal1D(rng.poisson(10 + x).astype(float))
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1)
    m.append(line)
    return x, m, line


# ------------------------------------------------ ls errors, every method
@pytest.mark.parametrize("method", ["Nelder-Mead", "L-BFGS-B"])
def test_ls_errors_equal_ols_standard_errors(method):
    m, line, beta, std = noisy_line()
    out = m.fit(optimizer=method)
    assert out.success
    np.testing.assert_allclose([line.a0.value, line.a1.value], beta, rtol=1e-6)
    # from the loss at the optimum ((JᵀJ)⁻¹ · χ²/dof), not from hess_inv
    np.testing.assert_allclose([line.a0.std, line.a1.std], std, rtol=1e-6)
    np.testing.assert_allclose(line.a1.std, std[1], rtol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_the_line_is_right_or_says_it_failed(method):
    m, line, beta, std = noisy_line()
    line.a0.value, line.a1.value = 0.0, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        out = m.fit(optimizer=method)
    if out.success:
        np.testing.assert_allclose([line.a0.value, line.a1.value], beta, rtol=1e-6)
        np.testing.assert_allclose([line.a0.std, line.a1.std], std, rtol=1e-6)
    else:
        assert out.status < 0 and out.message.startswith("failed")


# --------------------------------------------------- ML-poisson: Fisher
@pytest.mark.parametrize("method", ["Nelder-Mead", "L-BFGS-B", "trust-exact", "dogleg"])
def test_poisson_errors_equal_inverse_fisher(method):
    x, m, line = poisson_line()
    line.a0.value, line.a1.value = 5.0, 1.2
    out = m.fit(optimizer=method, loss_function="ML-poisson")
    assert out.success
    a0, a1 = line.a0.value, line.a1.value
    mu = a0 + a1 * x
    X = np.c_[np.ones_like(x), x]
    fisher = X.T @ (X / mu[:, None])
    np.testing.assert_allclose([line.a0.std, line.a1.std], np.sqrt(np.diag(np.linalg.inv(fisher))), rtol=1e-6)
    # and the answer is the ML one: the Newton step F⁻¹·score to the zero of
    # the score Σ (d/μ − 1)·X is a small fraction of a standard deviation
    score = X.T @ (m.signal.data / mu - 1)
    step = np.linalg.solve(fisher, score)
    assert np.all(np.abs(step) < 0.05 * np.array([line.a0.std, line.a1.std]))


def test_poisson_methods_agree():
    _, m, line = poisson_line()
    answers = []
    for method in ("Nelder-Mead", "L-BFGS-B", "trust-exact", "Newton-CG", "dogleg", "BFGS"):
        line.a0.value, line.a1.value = 5.0, 1.2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            out = m.fit(optimizer=method, loss_function="ML-poisson")
        # each either reaches the ML answer or says it failed
        if out.success:
            answers.append([line.a0.value, line.a1.value])
        else:
            assert out.status < 0
    assert len(answers) >= 4
    np.testing.assert_allclose(answers, np.repeat(answers[:1], len(answers), axis=0), rtol=1e-4)


# ------------------------------------------------------------- Huber
def outlier_line():
    rng = np.random.default_rng(3)
    x = np.arange(50.0)
    y = 2.0 + 0.5 * x + rng.normal(0, 1.0, x.size)
    y[[35, 41, 47]] += [30, 25, 40]  # one-sided: they pull the ls slope up
    s = hs.signals.Signal1D(y)
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1)
    m.append(line)
    return m, line


def test_huber_through_least_squares_equals_general_minimizer():
    m, line = outlier_line()
    out = m.fit(optimizer="BFGS", loss_function="huber", huber_delta=1.5)
    assert out.success
    ref = np.array([line.a0.value, line.a1.value])
    ref_std = np.array([line.a0.std, line.a1.std])
    ref_fun = out.fun
    for method in ("trf", "dogbox"):
        line.a0.value, line.a1.value = 0.0, 0.0
        out = m.fit(optimizer=method, loss_function="huber", huber_delta=1.5)
        assert out.success and out.loss_function == "huber"
        np.testing.assert_allclose([line.a0.value, line.a1.value], ref, rtol=1e-6)
        # least_squares' cost is the Huber objective itself
        np.testing.assert_allclose(out.fun, ref_fun, rtol=1e-9)
        # errors from the loss (inner points), as for every optimizer
        np.testing.assert_allclose([line.a0.std, line.a1.std], ref_std, rtol=1e-5)
    # robust: far closer to the clean line than least squares
    line.a0.value, line.a1.value = 0.0, 0.0
    m.fit(optimizer="trf")
    assert abs(ref[1] - 0.5) < abs(line.a1.value - 0.5)


def test_huber_delta_reaches_least_squares():
    m, line = outlier_line()
    m.fit(optimizer="trf", loss_function="huber", huber_delta=2.0)
    h2 = line.a1.value
    m.fit(optimizer="L-BFGS-B", loss_function="huber", huber_delta=2.0, ftol=1e-14, gtol=1e-12)
    assert line.a1.value == pytest.approx(h2, rel=1e-6)
    # with δ beyond every residual Huber is half the squares: the ls answer
    m.fit(optimizer="trf", loss_function="huber", huber_delta=1e6)
    hub = [line.a0.value, line.a1.value]
    m.fit(optimizer="trf")
    np.testing.assert_allclose(hub, [line.a0.value, line.a1.value], rtol=1e-8)


def test_least_squares_optimizers_refuse_other_losses():
    m, _ = outlier_line()
    for method in ("trf", "dogbox"):
        with pytest.raises(OptimizerError, match="huber"):
            m.fit(optimizer=method, loss_function="ML-poisson")
    with pytest.raises(OptimizerError, match="'lm' supports"):
        m.fit(optimizer="lm", loss_function=lambda *a: 0.0)
    problem = m._problem([()])
    with pytest.raises(OptimizerError, match="custom"):
        solve_least_squares(problem, CustomLoss(function=lambda *a: 0.0))
    with pytest.raises(OptimizerError, match="loss_function='huber'"):
        solve_least_squares(problem, LeastSquares(), f_scale=2.0)


def test_solvers_take_loss_objects_directly():
    m, _ = outlier_line()
    problem = m._problem([()])
    sol_ls = solve_least_squares(problem, None)
    sol_h = solve_least_squares(problem, Huber(delta=1.5))
    assert sol_ls.covariance is not None and sol_h.covariance is None
    np.testing.assert_allclose(sol_h.objective, Huber(delta=1.5).value(problem, sol_h.theta), rtol=1e-12)
    np.testing.assert_allclose(sol_ls.objective, LeastSquares().value(problem, sol_ls.theta), rtol=1e-12)
    assert PoissonML().name == "ML-poisson"
