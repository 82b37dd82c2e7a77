"""Seed 004: Gammapy's Fit tutorial on a log-parabola spectrum with Poisson counts.

Truths: the three backends (swiftfit, minuit, scipy) agree on the minimum of
the same −ln L; iminuit's ``minos`` and ``mncontour`` run directly on that
objective (``Minuit(nll)`` with errordef 0.5, alpha limited to [1, 3]); the
``stat_surface`` level set at ``min + errordef`` is the contour; and the trace
has one row per objective evaluation.
"""

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator
from scipy.stats import chi2

import swiftfit as hs
from swiftfit.gammapy_api.fit import Datasets, Fit
from swiftfit.losses import PoissonML

iminuit = pytest.importorskip("iminuit")

E = np.geomspace(0.5, 30, 40)  # TeV
EXPOSURE = 200.0
FREE = ["alpha", "amplitude", "beta"]  # the free parameters, in the problem's (alphabetical) order
TIGHT = {
    "swiftfit": {},
    "minuit": {"tol": 1e-8, "strategy": 2},
    "scipy": {"method": "L-BFGS-B", "options": {"ftol": 1e-15, "gtol": 1e-10}},
}


def log_parabola(seed=0):
    """counts = Poisson(exposure · amplitude · (E/E0)^(−alpha − beta·ln(E/E0)))."""
    rng = np.random.default_rng(seed)
    truth = 3.8 * E ** (-2.2 - 0.23 * np.log(E))
    s = hs.signals.Signal1D(rng.poisson(truth * EXPOSURE).astype(float), axes=[{"axis": E}])
    m = s.create_model()
    c = hs.model.components1D.Expression(
        "exposure * amplitude * (x / E0) ** (-alpha - beta * log(x / E0))", name="crab")
    m.append(c)
    c.exposure.value, c.exposure.free = EXPOSURE, False
    c.E0.value, c.E0.free = 1.0, False  # reference energy: 1 TeV
    c.amplitude.value, c.alpha.value, c.beta.value = 1.0, 2.3, 0.2
    c.alpha.bmin, c.alpha.bmax = 1, 3
    return m, c


def free_values(c):
    return np.array([getattr(c, n).value for n in FREE])


@pytest.fixture(scope="module")
def fitted():
    """The minuit fit (as the tutorial), and iminuit run directly on the same −ln L."""
    m, c = log_parabola()
    datasets = Datasets([m])
    fit = Fit(backend="minuit", loss_function="ML-poisson", optimize_opts=TIGHT["minuit"])
    result = fit.run(datasets)
    problem = m._problem([()])
    assert problem.names == [f"crab.{n}" for n in FREE]
    loss = PoissonML()

    def nll(theta):
        return float(loss.value(problem, np.asarray(theta, dtype=float)[None, :])[0])

    mi = iminuit.Minuit(nll, free_values(c), name=FREE)
    mi.errordef = 0.5
    mi.limits["alpha"] = (1, 3)
    mi.tol = 1e-8
    mi.strategy = 2
    mi.migrad()
    mi.hesse()
    mi.tol = 1e-3  # MINOS's inner fits fail (invalid, parabolic errors) at 1e-8 on a −ln L of 1e5
    mi.minos()
    assert all(mi.merrors[n].is_valid for n in FREE)
    return m, c, datasets, fit, result, mi


def test_backends_agree_on_the_minimum():
    values, stats = {}, {}
    for backend, opts in TIGHT.items():
        m, c = log_parabola()
        result = Fit(backend=backend, loss_function="ML-poisson", optimize_opts=opts).run(Datasets([m]))
        assert result.success, (backend, result)
        assert result.optimize_result.backend == backend
        values[backend], stats[backend] = free_values(c), result.total_stat
    for backend in ("minuit", "scipy"):
        np.testing.assert_allclose(values[backend], values["swiftfit"], rtol=1e-6, err_msg=backend)
        np.testing.assert_allclose(stats[backend], stats["swiftfit"], rtol=1e-12)


def test_minimum_and_errors_match_iminuit(fitted):
    m, c, _, _, result, mi = fitted
    np.testing.assert_allclose(free_values(c), np.array(mi.values), rtol=1e-6)
    np.testing.assert_allclose(result.total_stat, mi.fval, rtol=1e-12)
    cov = result.covariance_result
    assert cov.success and cov.backend == "minuit" and cov.method == "hesse"
    # HESSE with the analytic gradient vs without it, through the limit transform: ~0.6 %
    np.testing.assert_allclose(np.sqrt(np.diag(cov.matrix)), np.array(mi.errors), rtol=0.01)
    np.testing.assert_allclose(c.alpha.std, mi.errors["alpha"], rtol=0.01)


@pytest.mark.parametrize("name", FREE)
def test_confidence_equals_minos(fitted, name):
    m, c, datasets, fit, _, mi = fitted
    before = free_values(c)
    out = fit.confidence(datasets, name, sigma=1)
    assert set(out) == {"errp", "errn", "success", "nfev"}
    assert out["success"] and out["nfev"] > 0
    me = mi.merrors[name]
    np.testing.assert_allclose(out["errp"], me.upper, rtol=0.01)
    np.testing.assert_allclose(out["errn"], -me.lower, rtol=0.01)  # Gammapy: errn > 0
    np.testing.assert_array_equal(free_values(c), before)  # the models are left at the best fit


def test_stat_contour_on_mncontour(fitted):
    m, c, datasets, fit, _, mi = fitted
    out = fit.stat_contour(datasets, c.alpha, c.beta, numpoints=10)
    assert out["success"]
    xs, ys = out["alpha"], out["beta"]
    assert xs.shape == ys.shape == (10,)
    ref = np.asarray(mi.mncontour("alpha", "beta", cl=chi2.cdf(1, 2), size=60))
    centre = np.array([c.alpha.value, c.beta.value])
    scale = np.array([mi.errors["alpha"], mi.errors["beta"]])
    u, v = (xs - centre[0]) / scale[0], (ys - centre[1]) / scale[1]
    angles = np.mod(np.arctan2(v, u), 2 * np.pi)
    ru, rv = (ref[:, 0] - centre[0]) / scale[0], (ref[:, 1] - centre[1]) / scale[1]
    phi = np.mod(np.arctan2(rv, ru), 2 * np.pi)
    order = np.argsort(phi)
    theirs = np.interp(angles, phi[order], np.hypot(ru, rv)[order], period=2 * np.pi)
    np.testing.assert_allclose(np.hypot(u, v), theirs, rtol=0.02)
    # the contour's extent is the MINOS interval (MINUIT's definition)
    np.testing.assert_allclose(xs.max() - centre[0], mi.merrors["alpha"].upper, rtol=0.05)


def test_stat_surface_level_set_is_the_contour(fitted):
    m, c, datasets, fit, result, _ = fitted
    contour = fit.stat_contour(datasets, "alpha", "beta", numpoints=6)
    xs, ys = contour["alpha"], contour["beta"]
    ax, by = c.alpha.value, c.beta.value
    c.alpha.scan_min, c.alpha.scan_max = ax - 1.5 * (ax - xs.min()), ax + 1.5 * (xs.max() - ax)
    c.beta.scan_values = np.linspace(by - 1.5 * (by - ys.min()), by + 1.5 * (ys.max() - by), 11)
    c.alpha.scan_n_values = 11
    try:
        surf = fit.stat_surface(datasets, "alpha", "beta", reoptimize=True)
    finally:
        c.alpha.scan_min = c.alpha.scan_max = None
        c.beta.scan_values = None
    xv, yv = surf["alpha_scan"], surf["beta_scan"]
    assert surf["stat_scan"].shape == (11, 11)
    rise = surf["stat_scan"] - result.total_stat
    assert rise.min() >= -1e-9
    at_contour = RegularGridInterpolator((xv, yv), rise, method="cubic")(np.stack([xs, ys], axis=1))
    np.testing.assert_allclose(at_contour, 0.5, atol=0.01)  # errordef of a −ln L


def test_stat_profile_uses_the_scan_settings(fitted):
    m, c, datasets, fit, result, mi = fitted
    c.beta.scan_n_values, c.beta.scan_n_sigma = 5, 2
    try:
        prof = fit.stat_profile(datasets, c.beta, reoptimize=True)
    finally:
        c.beta.scan_n_values, c.beta.scan_n_sigma = 11, 3.0
    values = prof["beta_scan"]
    np.testing.assert_allclose(values, c.beta.value + c.beta.std * np.linspace(-2, 2, 5))
    rise = prof["stat_scan"] - result.total_stat
    np.testing.assert_allclose(rise[2], 0, atol=1e-8)
    np.testing.assert_allclose(rise[[0, -1]], 0.5 * 4, rtol=0.1)  # ±2σ of a nearly parabolic −ln L


@pytest.mark.parametrize("backend", ["swiftfit", "minuit", "scipy"])
def test_store_trace_has_one_row_per_evaluation(backend):
    m, c = log_parabola()
    result = Fit(backend=backend, loss_function="ML-poisson", store_trace=True,
                 optimize_opts=TIGHT[backend]).run(Datasets([m]))
    trace = result.optimize_result.trace
    assert trace is result.trace
    assert trace.colnames == ["total_stat"] + [f"m0.crab.{n}" for n in FREE]
    assert len(trace) == result.optimize_result.nfev > 1
    assert trace["total_stat"].min() == pytest.approx(result.total_stat, rel=1e-12)
    np.testing.assert_allclose(trace["m0.crab.amplitude"][0], 1.0)  # starts at the initial value
    assert "Length" in str(trace) or len(str(trace).splitlines()) == len(trace) + 2


def test_printed_tables(fitted):
    _, _, _, _, result, _ = fitted
    text = str(result)
    for line in ("OptimizeResult", "backend    : minuit", "method     : migrad", "success    : True",
                 "nfev       :", "total stat :", "CovarianceResult", "method     : hesse"):
        assert line in text
    table = result.parameters
    assert table is result.models
    assert table.colnames == ["model", "type", "name", "value", "error", "unit", "min", "max", "frozen",
                              "link", "prior"]
    rows = {table["name"][i]: table[i] for i in range(len(table))}
    assert rows["E0"]["frozen"] and not rows["alpha"]["frozen"]
    assert rows["alpha"]["min"] == 1 and rows["alpha"]["max"] == 3
    assert "alpha" in str(table)


def test_model_confidence_after_fit_uses_the_fit_loss(fitted):
    """``m.confidence`` after ``Fit.run`` profiles the same −ln L (errordef
    0.5) as ``fit.confidence``, not a default least squares."""
    m, c, datasets, fit, result, mi = fitted
    one_line = m.confidence("alpha")
    gammapy = fit.confidence(datasets, "alpha", sigma=1)
    assert one_line["errp"] == pytest.approx(gammapy["errp"], rel=1e-6)
    assert -one_line["errn"] == pytest.approx(gammapy["errn"], rel=1e-6)


def test_model_covariance_and_correlation_after_fit(fitted):
    """After ``Fit.run`` on one dataset, ``m.covariance``/``m.correlation`` are
    the fit's, named; the correlation is the normalised covariance."""
    m, c, datasets, fit, result, mi = fitted
    cov = np.asarray(m.covariance)
    np.testing.assert_allclose(cov, result.covariance_result.matrix, rtol=1e-12)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(np.asarray(m.correlation), cov / np.outer(sd, sd), rtol=1e-12)
    assert list(m.correlation.names) == list(m.fit_output.parameter_names)
