"""Every scipy.optimize.minimize method by its scipy name: answers against
stated truths, honest status, options passed through, bad input refused.

Truths: HyperSpy's toy Gaussian (exact data: A = 2·√(2π)·5/0.1, centre 50,
sigma 5), its bounded variant (centre ≥ 55), and scipy's own status codes.
"""

import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

import swiftfit as hs
from swiftfit.errors import FitWarning, OptimizerError
from swiftfit.optimizers import registry
from swiftfit.optimizers.scipy_min import (
    LIMIT_CODES,
    METHODS,
    classify,
    stalled_at_bound,
)

TRUTH = np.array([250.66282746, 50.0, 5.0])  # A, centre, sigma
TRUTH_BOUNDED = np.array([257.48162397, 55.0, 7.76886132])  # centre.bmin = 55

WITH_BOUNDS = {"Nelder-Mead", "Powell", "L-BFGS-B", "TNC", "COBYLA", "COBYQA", "SLSQP", "trust-constr"}


def toy():
    """HyperSpy's example: a binned Gaussian, started at A=250, centre=56, sigma=4.9."""
    v = 2 * np.exp(-((np.arange(10, 100, 0.1) - 50) ** 2) / (2 * 5**2))
    s = hs.signals.Signal1D(v)
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.is_binned = 0.1, 10, True
    m = s.create_model()
    g = hs.model.components1D.Gaussian()
    m.append(g)
    g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9
    return s, m, g


def values(g):
    return np.array([g.A.value, g.centre.value, g.sigma.value])


def quiet_fit(m, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return m.fit(**kw)


# ------------------------------------------------------------ registry
def test_every_method_registered_with_capabilities():
    for name in METHODS:
        spec = registry.get(name)
        assert spec.name == name
        assert spec.bounds == (name in WITH_BOUNDS)
        assert spec.losses == frozenset({"ls", "ML-poisson", "huber", "custom"})
        assert spec.errors and spec.kind == "local" and not spec.needs_finite_bounds
        assert spec.gradients == (name not in {"Nelder-Mead", "Powell", "COBYLA", "COBYQA"})
        assert registry.get(name.lower()) is spec  # lower-case alias
    assert set(METHODS) <= set(registry.available())


# ---------------------------------------------------------- toy truths
# COBYLA cannot reach rtol 5e-4 from this start within its default 1000
# evaluations (linear models in a badly scaled 3-parameter valley); it is
# tested below to say so.
@pytest.mark.parametrize("method", [m for m in METHODS if m != "COBYLA"])
def test_toy_every_method_ls(method):
    _, m, g = toy()
    out = m.fit(optimizer=method)
    assert out.success, out.message
    assert out.status == 6
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)
    assert out.optimizer_result is not None and out.optimizer_result.success


def test_toy_cobyla_reports_failure_not_a_wrong_success():
    _, m, g = toy()
    with pytest.warns(FitWarning, match="evaluation limit was reached"):
        out = m.fit(optimizer="COBYLA")
    assert not out.success
    assert out.status == -1
    assert "MAXFUN" in out.message
    # the answer it stopped at is indeed not the truth at 5e-4
    assert np.max(np.abs(values(g) / TRUTH - 1)) > 5e-4


@pytest.mark.parametrize("loss", ["ls", "ML-poisson", "huber"])
def test_toy_nelder_mead_every_loss(loss):
    _, m, g = toy()
    out = m.fit(optimizer="Nelder-Mead", loss_function=loss)
    assert out.success and out.loss_function == loss
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)
    assert np.isfinite([g.A.std, g.centre.std, g.sigma.std]).all()


@pytest.mark.parametrize("bounded", [False, True])
def test_toy_lbfgsb(bounded):
    _, m, g = toy()
    out = m.fit(optimizer="L-BFGS-B", bounded=bounded)
    assert out.success and out.bounded == bounded
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)


@pytest.mark.parametrize("method", ["L-BFGS-B", "TNC", "SLSQP", "trust-constr", "Nelder-Mead", "COBYQA"])
def test_toy_bounded_minimum_on_the_bound(method):
    # the minimum lies on centre = 55 with the descent direction pointing out
    # of the box: a KKT point, reported as a success
    _, m, g = toy()
    g.centre.bmin = 55
    out = m.fit(optimizer=method, bounded=True)
    assert out.success, out.message
    np.testing.assert_allclose(values(g), TRUTH_BOUNDED, rtol=5e-4)
    assert g.centre.value >= 55


def test_slsqp_constraints_pass_through():
    # the same bound given as an SLSQP inequality constraint
    _, m, g = toy()
    out = m.fit(optimizer="lm")  # learn the order of the free parameters
    j = out.parameter_names.index("Gaussian.centre")
    g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9
    out = m.fit(optimizer="SLSQP", constraints={"type": "ineq", "fun": lambda x: x[j] - 55.0})
    assert out.success
    np.testing.assert_allclose(values(g), TRUTH_BOUNDED, rtol=5e-4)


# -------------------------------------------------------------- options
def test_top_level_maxiter_goes_into_options():
    _, m, _ = toy()
    out = quiet_fit(m, optimizer="Nelder-Mead", maxiter=5)
    assert out.status == -1 and not out.success
    assert out.optimizer_result.nit <= 5
    _, m2, _ = toy()
    out2 = quiet_fit(m2, optimizer="Nelder-Mead", options={"maxiter": 5})
    np.testing.assert_array_equal(out.x, out2.x)


def test_max_nfev_becomes_the_evaluation_cap():
    _, m, _ = toy()
    out = quiet_fit(m, optimizer="L-BFGS-B", max_nfev=4)
    assert out.status == -1 and "LIMIT" in out.message
    with pytest.raises(OptimizerError, match="maxiter"):
        toy()[1].fit(optimizer="BFGS", max_nfev=4)


def test_option_given_twice_is_refused():
    _, m, _ = toy()
    with pytest.raises(OptimizerError, match="maxiter"):
        m.fit(optimizer="Nelder-Mead", maxiter=5, options={"maxiter": 6})


def test_tol_passes_through():
    _, m, g = toy()
    out = m.fit(optimizer="Nelder-Mead", tol=1e-12)
    assert out.success
    np.testing.assert_allclose(values(g), TRUTH, rtol=1e-8)


def test_unknown_keyword_raises_scipys_error():
    _, m, _ = toy()
    with pytest.raises(TypeError, match="not_an_option"):
        m.fit(optimizer="BFGS", not_an_option=3)


def test_bounded_with_a_method_without_bounds_is_refused():
    for method in ("BFGS", "CG", "Newton-CG", "dogleg", "trust-ncg", "trust-krylov", "trust-exact"):
        _, m, _ = toy()
        with pytest.raises(OptimizerError, match="does not support bounds"):
            m.fit(optimizer=method, bounded=True)


# ----------------------------------------------------------- honesty
def test_custom_loss_returning_nan_is_a_failure_with_a_message():
    def nan_loss(model, values, data, weights=None):
        return np.nan

    for method in ("Nelder-Mead", "L-BFGS-B", "BFGS", "trust-exact", "Powell"):
        _, m, _ = toy()
        with pytest.warns(FitWarning, match="non-finite"):
            out = m.fit(optimizer=method, loss_function=nan_loss)
        assert out.success is False
        assert out.status == -2
        assert "non-finite" in out.message


def test_stalled_at_a_bound_is_minus_6_and_elsewhere_minus_5():
    # a gradient of the wrong sign: the line search cannot descend
    def chi2(model, values, data, weights=None):
        model.fetch_values_from_array(values)
        return ((data - model(onlyactive=True)) ** 2).sum()

    def wrong_gradient(model, values, data, weights=None):
        model.fetch_values_from_array(values)
        jac = model._jacobian(values, data)
        return 2 * (jac * (data - model(onlyactive=True))).sum(1)

    for method, text in (("L-BFGS-B", "ABNORMAL"), ("TNC", "Linear search failed")):
        _, m, g = toy()
        g.centre.bmin = 55
        g.centre.value = 55  # on the bound, where the (wrong) gradient points inward
        with pytest.warns(FitWarning):
            out = m.fit(optimizer=method, bounded=True, loss_function=chi2, grad=wrong_gradient)
        assert out.status == -6 and not out.success
        assert "stalled at a bound" in out.message and text in out.message
        g.centre.value = 58  # inside the box
        with pytest.warns(FitWarning):
            out = m.fit(optimizer=method, bounded=True, loss_function=chi2, grad=wrong_gradient)
        assert out.status == -5 and "reported failure" in out.message


def _result(**kw):
    base = dict(x=np.array([1.0, 2.0]), fun=1.0, success=False, status=None, message="")
    base.update(kw)
    return OptimizeResult(**base)


@pytest.mark.parametrize("method", sorted(LIMIT_CODES))
def test_limit_codes_map_to_minus_1(method):
    for code in LIMIT_CODES[method]:
        assert classify(method, _result(status=code)) == -1


def test_classify_rules():
    # success needs a finite objective and finite parameters
    assert classify("BFGS", _result(success=True, status=0)) == 6
    assert classify("BFGS", _result(success=True, status=0, fun=np.nan)) == -2
    assert classify("BFGS", _result(success=True, status=0, x=np.array([np.inf, 1.0]))) == -2
    # scipy's NaN codes, precision loss, and trust-constr's 0 = limit
    assert classify("BFGS", _result(status=3)) == -2
    assert classify("BFGS", _result(status=2)) == -5
    assert classify("trust-constr", _result(status=0)) == -1
    assert classify("trust-constr", _result(status=1, success=True)) == 6
    assert classify("TNC", _result(status=4)) == -5
    # L-BFGS-B ABNORMAL (status 2) on a bound with an inward gradient -> -6
    res = _result(x=np.array([0.0, 2.0]), status=2)
    lo, hi = np.array([0.0, -np.inf]), np.array([np.inf, np.inf])
    assert classify("L-BFGS-B", res, lo=lo, hi=hi, gradient=lambda x: np.array([-1.0, 0.0])) == -6
    # gradient blocked by the bound (a KKT point) -> not "stalled"
    assert classify("L-BFGS-B", res, lo=lo, hi=hi, gradient=lambda x: np.array([1.0, 0.0])) == -5


def test_stalled_at_bound_helper():
    lo, hi = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    assert not stalled_at_bound([0.5, 0.5], lo, hi, [1.0, 1.0], 1.0)  # no bound active
    assert stalled_at_bound([0.0, 0.5], lo, hi, [-1.0, 0.0], 1.0)  # could go inward
    assert not stalled_at_bound([0.0, 0.5], lo, hi, [1.0, 0.0], 1.0)  # KKT on the lower bound
    assert not stalled_at_bound([0.5, 1.0], lo, hi, [0.0, -1.0], 1.0)  # KKT on the upper bound
    assert stalled_at_bound([0.5, 1.0], lo, hi, [1e-3, -1.0], 1.0)  # the free one still descends


# ----------------------------------------------------- seed 000's custom loss
def test_seed000_custom_loss_and_gradient():
    _, m, g = toy()
    m.fit(optimizer="lm")
    ls_answer = values(g)
    g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9

    def my_custom_function(model, values, data, weights=None):
        model.fetch_values_from_array(values)
        cur_value = model(onlyactive=True)
        if weights is None:
            weights = 1
        difference = (data - cur_value) * weights
        return (difference**2).sum()
    m.fit(optimizer='Nelder-Mead', loss_function=my_custom_function)
    assert m.fit_output.success and m.fit_output.loss_function == "custom"
    np.testing.assert_allclose(values(g), ls_answer, rtol=1e-4)
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)

    def my_custom_gradient_function(model, values, data, weights=None):
        model.fetch_values_from_array(values)
        cur_value = model(onlyactive=True)
        jac = model._jacobian(values, data)
        return -(jac * (data / cur_value - 1)).sum(1)
    g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9
    with pytest.warns(FitWarning, match="reported failure"):
        m.fit(optimizer='L-BFGS-B', loss_function=my_custom_function, grad=my_custom_gradient_function)
    # The seed's gradient is the ML-poisson gradient, not the gradient of its
    # least-squares function: L-BFGS-B's line search cannot satisfy its
    # conditions with an objective and a gradient that disagree, and it
    # says so (ABNORMAL) instead of converging to either answer.
    out = m.fit_output
    assert out.success is False and out.status == -5
    assert "ABNORMAL" in out.message


def poisson_toy():
    rng = np.random.default_rng(0)
    s, m, g = toy()
    s.data = rng.poisson(50 * s.data).astype(float)
    g.A.value, g.centre.value, g.sigma.value = 50 * 250, 56, 4.9
    return m, g


def test_poisson_toy_lbfgsb_false_success_is_caught():
    # the ML answer, agreed by four methods of different kinds
    answers = []
    for method in ("trust-exact", "dogleg", "Nelder-Mead", "TNC"):
        m, g = poisson_toy()
        assert m.fit(optimizer=method, loss_function="ML-poisson").success
        answers.append(values(g))
    np.testing.assert_allclose(answers, np.repeat(answers[:1], 4, axis=0), rtol=1e-6)
    ml, ml_std = answers[0], g.A.std
    # L-BFGS-B at its default tolerances stops after a few steps, with A
    # still near its start (1.7 standard deviations from the ML answer), and
    # scipy calls it converged: the Newton check says otherwise
    m, g = poisson_toy()
    with pytest.warns(FitWarning, match="not a minimum"):
        out = m.fit(optimizer="L-BFGS-B", loss_function="ML-poisson")
    assert out.status == -7 and not out.success
    assert out.optimizer_result.success  # what scipy said
    assert abs(g.A.value - ml[0]) > ml_std
    # tighter tolerances reach the ML answer, and then it is a success
    m, g = poisson_toy()
    assert m.fit(optimizer="L-BFGS-B", loss_function="ML-poisson", ftol=1e-14, gtol=1e-12).success
    np.testing.assert_allclose(values(g), ml, rtol=1e-6)
    # verify=False gives scipy's word back
    m, g = poisson_toy()
    assert m.fit(optimizer="L-BFGS-B", loss_function="ML-poisson", verify=False).status == 6


def test_seed000_gradient_on_poisson_data_reports_failure():
    m, g = poisson_toy()

    def my_custom_function(model, values, data, weights=None):
        model.fetch_values_from_array(values)
        cur_value = model(onlyactive=True)
        if weights is None:
            weights = 1
        difference = (data - cur_value) * weights
        return (difference**2).sum()

    def my_custom_gradient_function(model, values, data, weights=None):
        model.fetch_values_from_array(values)
        cur_value = model(onlyactive=True)
        jac = model._jacobian(values, data)
        return -(jac * (data / cur_value - 1)).sum(1)

    with pytest.warns(FitWarning):
        out = m.fit(optimizer="L-BFGS-B", loss_function=my_custom_function, grad=my_custom_gradient_function)
    # neither the ls nor the ML answer: the line search fails, and says so
    assert out.success is False and "ABNORMAL" in out.message
    m2, g2 = poisson_toy()
    m2.fit(optimizer="trust-exact", loss_function="ML-poisson")
    assert abs(g.A.value - g2.A.value) > g2.A.std


# ------------------------------------------------- the Newton check (-7)
def _bounded_noisy_line():
    s = hs.signals.Signal1D(np.arange(100, 300, dtype="float32"))
    s.add_gaussian_noise(std=100, random_state=42)
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1)
    m.append(line)
    line.a0.bmin, line.a0.bmax, line.a1.bmin, line.a1.bmax = -500, 500, -5, 5
    line.a0.value, line.a1.value = 0.0, 0.0
    X = np.c_[np.ones(200), np.arange(200.0)]
    beta = np.linalg.lstsq(X, s.data.astype(float), rcond=None)[0]
    return m, line, beta


def test_a_false_success_is_minus_7(monkeypatch):
    # an optimizer that stops where it starts and calls it success
    from swiftfit.optimizers import scipy_min

    def lazy(fun, x0, **kw):
        return OptimizeResult(x=np.asarray(x0, float), fun=fun(x0), success=True, status=0,
                              message="Optimization terminated successfully", nfev=1, nit=0)

    monkeypatch.setattr(scipy_min, "minimize", lazy)
    m, line, _ = _bounded_noisy_line()
    with pytest.warns(FitWarning, match="not a minimum"):
        out = m.fit(optimizer="BFGS")
    assert out.status == -7 and out.success is False
    assert "not a minimum" in out.message and "terminated successfully" in out.message
    # ... but at the minimum the same claim is believed
    line.a0.value, line.a1.value = _bounded_noisy_line()[2]
    assert m.fit(optimizer="BFGS").status == 6


def test_slsqp_stopping_at_its_start_is_not_a_success():
    # scipy 1.17's SLSQP, with bounds, stops at x0 = (0, 0) on this line and
    # reports success; the Newton check refuses it
    m, line, beta = _bounded_noisy_line()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        out = m.fit(optimizer="SLSQP", bounded=True)
    got = np.array([line.a0.value, line.a1.value])
    if out.success:  # a scipy that gets there
        np.testing.assert_allclose(got, beta, rtol=1e-5)
    else:
        assert out.status == -7 and out.optimizer_result.success
        assert np.abs(got - beta).max() > 1
    line.a0.value, line.a1.value = 0.0, 0.0
    assert m.fit(optimizer="L-BFGS-B", bounded=True).success
    np.testing.assert_allclose([line.a0.value, line.a1.value], beta, rtol=1e-6)


def test_newton_gap_measures_distance_to_the_minimum():
    from swiftfit.losses import LeastSquares
    from swiftfit.optimizers.scipy_min import newton_gap

    m, _, beta = _bounded_noisy_line()
    problem = m._problem([()])
    order = [problem.names.index("Polynomial.a0"), problem.names.index("Polynomial.a1")]
    x = np.empty(2)
    x[order] = beta
    assert newton_gap(LeastSquares(), problem, x) < 1e-6
    # a tenth of a standard deviation away is the edge
    std_a0 = 14.0  # ≈ OLS standard error of the intercept here
    off = x.copy()
    off[order[0]] += 0.05 * std_a0
    assert newton_gap(LeastSquares(), problem, off) < 1
    off[order[0]] += 2 * std_a0
    assert newton_gap(LeastSquares(), problem, off) > 1
    # a minimum on a bound is a minimum: a0 held at 150 (> its free optimum)
    lo = np.full(2, -np.inf)
    lo[order[0]] = 150.0
    on_bound = x.copy()
    on_bound[order[0]] = 150.0
    # the best slope with a0 fixed at 150
    X = np.arange(200.0)
    on_bound[order[1]] = X @ (m.signal.data - 150.0) / (X @ X)
    assert newton_gap(LeastSquares(), problem, on_bound, lo, None) < 1e-6
    assert newton_gap(LeastSquares(), problem, on_bound) > 1
