"""Linear optimizers "lstsq", "ols", "nnls", "ridge".

Truths: the closed forms computed here from an independently built design
matrix — ``np.linalg.lstsq``, OLS/WLS standard errors, ``scipy.optimize.nnls``
and the ridge normal equations.
"""

import numpy as np
import pytest
from scipy.optimize import nnls

import swiftfit as hs
from swiftfit.errors import FitWarning, OptimizerError
from swiftfit.optimizers import get
from swiftfit.optimizers.linear import design_matrix

C = hs.model.components1D

X_AXIS = np.linspace(10.0, 100.0, 301)
CENTRE, SIGMA, A0 = 50.0, 4.0, 1.5


def _gauss(x):
    return np.exp(-((x - CENTRE) ** 2) / (2 * SIGMA**2)) / (SIGMA * np.sqrt(2 * np.pi))


def _design(x):
    """Columns in the model's free-parameter order: a1, a2, A, offset."""
    return np.c_[x, x**2, _gauss(x), np.ones_like(x)]


def _signal(truth=(0.2, -0.001, 500.0, 3.0), noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    y = A0 + _design(X_AXIS) @ np.array(truth) + rng.normal(0, noise, X_AXIS.size)
    s = hs.signals.Signal1D(y)
    ax = s.axes_manager[-1]
    ax.offset, ax.scale = X_AXIS[0], X_AXIS[1] - X_AXIS[0]
    return s


def _model(s):
    """Polynomial(order=2) + Gaussian (centre, sigma fixed) + Offset.

    The polynomial's constant ``a0`` is fixed (at 1.5): free, it would be
    collinear with the Offset. The fixed value makes a constant part ``h``.
    """
    m = s.create_model()
    poly, g, off = C.Polynomial(order=2), C.Gaussian(), C.Offset()
    for c in (poly, g, off):
        m.append(c)
    poly.a0.value = A0
    poly.a0.free = False
    g.centre.value, g.sigma.value = CENTRE, SIGMA
    g.centre.free = g.sigma.free = False
    return m, (poly.a1, poly.a2, g.A, off.offset)


def _values(params):
    return np.array([p.value for p in params])


def _stds(params):
    return np.array([np.nan if p.std is None else p.std for p in params], dtype=float)


@pytest.mark.parametrize("optimizer", ["lstsq", "ols"])
def test_lstsq_equals_numpy_and_ols_errors(optimizer):
    s = _signal()
    m, params = _model(s)
    out = m.fit(optimizer=optimizer)
    X = _design(X_AXIS)
    y = s.data - A0
    beta, rss, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    assert rank == 4
    assert out.success and out.status == 5
    np.testing.assert_allclose(_values(params), beta, rtol=1e-10)
    # OLS standard errors: sigma^2 = RSS / (N - P)
    s2 = rss[0] / (X_AXIS.size - 4)
    std = np.sqrt(np.diag(s2 * np.linalg.inv(X.T @ X)))
    np.testing.assert_allclose(_stds(params), std, rtol=1e-8)


def test_wls_errors_with_a_noise_variance_are_not_rescaled():
    s = _signal(seed=3)
    var = 0.1 + 0.002 * X_AXIS
    s.set_noise_variance(var)
    m, params = _model(s)
    m.fit(optimizer="lstsq")
    X = _design(X_AXIS)
    W = np.diag(1 / var)
    cov = np.linalg.inv(X.T @ W @ X)
    beta = cov @ X.T @ W @ (s.data - A0)
    np.testing.assert_allclose(_values(params), beta, rtol=1e-10)
    np.testing.assert_allclose(_stds(params), np.sqrt(np.diag(cov)), rtol=1e-8)


def test_no_starting_values_needed():
    s = _signal(seed=5)
    m, params = _model(s)
    m.fit(optimizer="lstsq")
    ref = _values(params)
    for p, v in zip(params, (1e8, -3e7, -1e6, 4e12)):
        p.value = v
    out = m.fit(optimizer="lstsq")
    assert out.status == 5
    np.testing.assert_allclose(_values(params), ref, rtol=1e-10)
    # and the iterative solver agrees from sensible starting values
    m.fit(optimizer="lm")
    np.testing.assert_allclose(_values(params), ref, rtol=1e-7)


def test_nnls_zeroes_the_negative_coefficient():
    # a negative offset: the unconstrained solution has offset < 0
    s = _signal(truth=(0.05, 0.001, 500.0, -8.0), noise=0.3, seed=1)
    m, params = _model(s)
    m.fit(optimizer="lstsq")
    assert params[3].value < 0
    out = m.fit(optimizer="nnls")
    assert out.status == 5
    X = _design(X_AXIS)
    y = s.data - A0
    ref, _ = nnls(X, y)
    assert ref[3] == 0.0
    assert params[3].value == 0.0
    np.testing.assert_allclose(_values(params), ref, rtol=1e-10, atol=1e-14)
    # errors: ls covariance on the free (positive) set, NaN for the one held at 0
    free = ref > 0
    Xf = X[:, free]
    rss = np.sum((y - X @ ref) ** 2)
    s2 = rss / (X_AXIS.size - 4)  # the model's dof: N minus all free parameters
    std = np.sqrt(np.diag(s2 * np.linalg.inv(Xf.T @ Xf)))
    got = _stds(params)
    assert np.isnan(got[3])
    np.testing.assert_allclose(got[free], std, rtol=1e-8)


@pytest.mark.parametrize("weighted", [False, True])
def test_ridge_equals_closed_form(weighted):
    s = _signal(seed=2)
    var = 0.2 + 0.001 * X_AXIS if weighted else np.ones_like(X_AXIS)
    if weighted:
        s.set_noise_variance(var)
    m, params = _model(s)
    alpha = 2.5
    out = m.fit(optimizer="ridge", alpha=alpha)
    assert out.status == 5
    X = _design(X_AXIS)
    W = np.diag(1 / var)
    A = X.T @ W @ X + alpha * np.eye(4)
    beta = np.linalg.solve(A, X.T @ W @ (s.data - A0))
    np.testing.assert_allclose(_values(params), beta, rtol=1e-10)
    # sandwich covariance A^-1 XᵀWX A^-1 (rescaled by the reduced chi^2 when unweighted)
    Ai = np.linalg.inv(A)
    cov = Ai @ X.T @ W @ X @ Ai
    if not weighted:
        r = s.data - A0 - X @ beta
        cov = cov * (r @ r) / (X_AXIS.size - 4)
    np.testing.assert_allclose(_stds(params), np.sqrt(np.diag(cov)), rtol=1e-8)
    # objective includes the penalty
    r = (s.data - A0 - X @ beta) / np.sqrt(var)
    np.testing.assert_allclose(out.fun, r @ r + alpha * beta @ beta, rtol=1e-10)


def test_ridge_alpha_zero_is_least_squares_and_alpha_is_checked():
    s = _signal(seed=4)
    m, params = _model(s)
    m.fit(optimizer="lstsq")
    ref = _values(params)
    m.fit(optimizer="ridge", alpha=0)
    np.testing.assert_allclose(_values(params), ref, rtol=1e-9)
    for bad in (-1.0, np.nan, np.inf, "1", True, None):
        with pytest.raises(OptimizerError, match="alpha"):
            m.fit(optimizer="ridge", alpha=bad)


def test_nonlinear_free_parameter_is_refused_by_name():
    s = _signal()
    m, _params = _model(s)
    g = m[1]
    g.centre.free = True
    for opt in ("lstsq", "ols", "nnls", "ridge"):
        with pytest.raises(OptimizerError, match=r"Gaussian\.centre") as exc:
            m.fit(optimizer=opt)
        msg = str(exc.value)
        assert "Gaussian.A" not in msg  # A is linear: only the culprit is named
        assert "only_nonlinear=True" in msg
    g.sigma.free = True
    with pytest.raises(OptimizerError) as exc:
        m.fit(optimizer="lstsq")
    assert "['Gaussian.sigma', 'Gaussian.centre']" in str(exc.value)


def test_product_of_free_parameters_is_refused():
    # y = a*b*x: linear in a alone and in b alone, not jointly
    s = _signal()
    m = s.create_model()
    e = C.Expression("a * b * x", name="prod", a=1.0, b=2.0)
    m.append(e)
    with pytest.raises(OptimizerError, match=r"prod\.a', 'prod\.b"):
        m.fit(optimizer="lstsq")


def test_linear_twin_and_grad_fd():
    # two Gaussians with fixed shapes, the second's area twinned to twice the first's
    x = X_AXIS
    g1 = np.exp(-((x - 40) ** 2) / (2 * 3.0**2)) / (3.0 * np.sqrt(2 * np.pi))
    g2 = np.exp(-((x - 70) ** 2) / (2 * 5.0**2)) / (5.0 * np.sqrt(2 * np.pi))
    rng = np.random.default_rng(8)
    y = 100 * g1 + 200 * g2 + 0.7 + rng.normal(0, 0.05, x.size)
    s = hs.signals.Signal1D(y)
    ax = s.axes_manager[-1]
    ax.offset, ax.scale = x[0], x[1] - x[0]
    m = s.create_model()
    a, b, off = C.Gaussian(centre=40, sigma=3.0), C.Gaussian(centre=70, sigma=5.0), C.Offset()
    for c in (a, b, off):
        m.append(c)
    for g in (a, b):
        g.centre.free = g.sigma.free = False
    b.A.twin_function_expr = "2*x"
    b.A.twin = a.A
    X = np.c_[g1 + 2 * g2, np.ones_like(x)]
    ref, *_ = np.linalg.lstsq(X, y, rcond=None)
    for grad in ("auto", "fd"):
        a.A.value, off.offset.value = -5.0, 99.0
        out = m.fit(optimizer="lstsq", grad=grad)
        assert out.status == 5
        np.testing.assert_allclose([a.A.value, off.offset.value], ref, rtol=1e-10)
        np.testing.assert_allclose(b.A.value, 2 * ref[0], rtol=1e-10)


def test_batched_problem_with_fixed_values_varying_per_pixel():
    # three pixels; the Gaussian centre is fixed but differs per pixel
    x = X_AXIS
    centres = np.array([30.0, 50.0, 80.0])
    rng = np.random.default_rng(11)
    rows = []
    for k, c in enumerate(centres):
        g = np.exp(-((x - c) ** 2) / (2 * SIGMA**2)) / (SIGMA * np.sqrt(2 * np.pi))
        rows.append((k + 1) * 300 * g + 2.0 + rng.normal(0, 0.1, x.size))
    s = hs.signals.Signal1D(np.array(rows))
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale = x[0], x[1] - x[0]
    m = s.create_model()
    g, off = C.Gaussian(sigma=SIGMA), C.Offset()
    m.append(g)
    m.append(off)
    g.centre.free = g.sigma.free = False
    g.centre.map["values"][:] = centres
    problem = m._problem([(0,), (1,), (2,)])
    assert problem.B == 3
    X, _h, bad, _, _ = design_matrix(problem)
    assert not bad.any()
    sol = get("lstsq").solve(problem)
    assert (sol.status == 5).all()
    for k, c in enumerate(centres):
        gk = np.exp(-((x - c) ** 2) / (2 * SIGMA**2)) / (SIGMA * np.sqrt(2 * np.pi))
        Xk = np.c_[gk, np.ones_like(x)]
        np.testing.assert_allclose(X[k], Xk, rtol=1e-12, atol=1e-15)
        ref, *_ = np.linalg.lstsq(Xk, rows[k], rcond=None)
        np.testing.assert_allclose(sol.theta[k], ref, rtol=1e-10)
        np.testing.assert_allclose(sol.covariance[k], np.linalg.inv(Xk.T @ Xk), rtol=1e-9)


def test_rank_deficient_design_gives_status_minus_3():
    s = _signal()
    m, _params = _model(s)
    m[0].a0.free = True  # collinear with the Offset
    with pytest.warns(FitWarning, match="singular"):
        out = m.fit(optimizer="lstsq")
    assert out.status == -3


def test_options_bounds_and_losses_are_checked():
    s = _signal()
    m, _ = _model(s)
    with pytest.raises(OptimizerError, match="unknown options.*'ftol'"):
        m.fit(optimizer="lstsq", ftol=1e-3)
    with pytest.raises(OptimizerError, match="unknown options.*'alpha'"):
        m.fit(optimizer="nnls", alpha=1.0)
    with pytest.raises(OptimizerError, match="bounds"):
        m.fit(optimizer="lstsq", bounded=True)
    with pytest.raises(OptimizerError, match="loss_function"):
        m.fit(optimizer="ridge", loss_function="huber")


def test_registered_capabilities():
    for name in ("lstsq", "ols", "nnls", "ridge"):
        spec = get(name)
        assert spec.name == name
        assert spec.kind == "linear" and spec.linear and spec.batched and spec.errors
        assert not spec.bounds
        assert spec.losses == frozenset({"ls"})
