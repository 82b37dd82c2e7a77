"""API details of ``Fit``: options, bad input, the sherpa adapter (fake module),
several datasets, the trace of least squares, the model methods and the
scan settings of ``Parameter``.
"""

import sys
import types

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import InvalidInputError, InvalidTypeError, OptimizerError
from swiftfit.gammapy_api.fit import Datasets, Fit
from swiftfit.stats.fit_tables import Table


def peak(seed=1, centre=48.0):
    rng = np.random.default_rng(seed)
    x = np.arange(0, 100, 1.0)
    s = hs.signals.Signal1D(rng.poisson(50 * np.exp(-((x - centre) ** 2) / (2 * 6**2)) + 5).astype(float))
    m = s.create_model()
    g, off = hs.model.components1D.Gaussian(), hs.model.components1D.Offset()
    m.extend([g, off])
    g.A.value, g.centre.value, g.sigma.value, off.offset.value = 600, 50, 5, 4
    return m, g, off


# ------------------------------------------------------------------ sherpa
def fake_sherpa(monkeypatch, calls):
    """A stand-in for ``sherpa.optmethods``: NelderMead = scipy's Nelder-Mead."""
    from scipy.optimize import minimize

    class NelderMead:
        def __init__(self):
            self.config = {"ftol": 1e-7, "maxfev": None}

        def fit(self, statfunc, pars, parmins, parmaxes, statargs=(), statkwargs=None):
            calls.append((np.array(parmins), np.array(parmaxes), dict(self.config)))
            res = minimize(lambda p: statfunc(p)[0], pars, method="Nelder-Mead",
                           bounds=list(zip(parmins, parmaxes)),
                           options={"fatol": self.config["ftol"], "xatol": 1e-8, "maxfev": self.config["maxfev"]})
            return bool(res.success), res.x, float(res.fun), "Optimization terminated successfully", {"nfev": res.nfev}

    mod = types.ModuleType("sherpa.optmethods")
    mod.NelderMead = NelderMead
    mod.LevMar = mod.MonCar = mod.GridSearch = NelderMead
    monkeypatch.setitem(sys.modules, "sherpa", types.ModuleType("sherpa"))
    monkeypatch.setitem(sys.modules, "sherpa.optmethods", mod)


def test_sherpa_backend_with_a_fake_module(monkeypatch):
    calls = []
    fake_sherpa(monkeypatch, calls)
    m, g, off = peak()
    g.sigma.bmin = 0.5
    result = Fit(backend="sherpa", loss_function="ML-poisson", store_trace=True,
                 optimize_opts={"method": "simplex", "ftol": 1e-10, "maxfev": 5000}).run(Datasets([m]))
    opt = result.optimize_result
    assert (opt.backend, opt.method, opt.success) == ("sherpa", "simplex", True)
    assert opt.message == "Optimization terminated successfully"
    assert len(result.trace) == opt.nfev
    lo, hi, config = calls[0]
    assert config["ftol"] == 1e-10 and config["maxfev"] == 5000
    assert lo[1] == 0.5 and hi[1] == np.finfo(np.float32).max  # Gaussian.sigma (order A, sigma, centre, offset); sherpa's hugeval for an open bound
    m2, g2, _ = peak()
    Fit(loss_function="ML-poisson").run(Datasets([m2]))
    np.testing.assert_allclose(g.centre.value, g2.centre.value, rtol=1e-4)
    with pytest.raises(OptimizerError, match="sherpa"):
        Fit(backend="sherpa", optimize_opts={"method": "bogus"}).run(Datasets([peak()[0]]))
    with pytest.raises(OptimizerError, match="unknown"):
        Fit(backend="sherpa", optimize_opts={"nope": 1}).run(Datasets([peak()[0]]))


def test_sherpa_missing_names_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sherpa.optmethods", None)  # import fails
    with pytest.raises(ImportError, match="pip install sherpa"):
        Fit(backend="sherpa", loss_function="ML-poisson").run(Datasets([peak()[0]]))


# -------------------------------------------------------------- bad input
def test_bad_construction():
    with pytest.raises(InvalidInputError, match="backend.*'nope'"):
        Fit(backend="nope")
    with pytest.raises(InvalidInputError, match="backend"):
        Fit(optimize_opts={"backend": "nope"})
    with pytest.raises(InvalidTypeError, match="store_trace"):
        Fit(store_trace="yes")
    with pytest.raises(InvalidTypeError, match="optimize_opts"):
        Fit(optimize_opts=[1])
    m = peak()[0]
    with pytest.raises(InvalidInputError, match="loss_function.*'chi2'"):
        Fit(loss_function="chi2").run(Datasets([m]))
    with pytest.raises(OptimizerError, match="'nope'"):
        Fit(backend="swiftfit", optimize_opts={"method": "nope"}).run(Datasets([m]))
    with pytest.raises(OptimizerError, match="migrad"):
        Fit(backend="minuit", optimize_opts={"method": "simplex"}).run(Datasets([m]))
    with pytest.raises(OptimizerError, match="migrad_opts"):
        Fit(backend="minuit", optimize_opts={"migrad_opts": {"iterate": 3}}).run(Datasets([m]))


def test_bad_profile_inputs():
    m, g, off = peak()
    ds = Datasets([m])
    fit = Fit(loss_function="ML-poisson")
    fit.run(ds)
    with pytest.raises(InvalidInputError, match="Gaussian.nope"):
        fit.confidence(ds, "Gaussian.nope")
    off.offset.free = False
    try:
        with pytest.raises(InvalidInputError, match="offset.*not free"):
            fit.confidence(ds, off.offset)
        with pytest.raises(InvalidInputError, match="not free"):
            fit.stat_profile(ds, "offset")
    finally:
        off.offset.free = True
    with pytest.raises(InvalidInputError, match="same parameter"):
        fit.stat_contour(ds, g.centre, "Gaussian.centre")
    with pytest.raises(InvalidInputError, match="same parameter"):
        fit.stat_surface(ds, g.sigma, g.sigma)
    g.sigma.bmin = 1.0
    g.sigma.scan_values = [0.5, 5.0]
    try:
        with pytest.raises(InvalidInputError, match="sigma.*outside its bounds"):
            fit.stat_profile(ds, g.sigma)
    finally:
        g.sigma.bmin, g.sigma.scan_values = None, None


def test_parameter_scan_settings_are_checked():
    g = hs.model.components1D.Gaussian()
    g.A.scan_min = 1
    with pytest.raises(InvalidInputError, match="scan_min"):
        g.A.scan_max = 0.5
    with pytest.raises(InvalidTypeError, match="scan_n_values"):
        g.A.scan_n_values = 3.5
    with pytest.raises(InvalidInputError, match="scan_n_values"):
        g.A.scan_n_values = 1
    with pytest.raises(InvalidInputError, match="scan_n_sigma"):
        g.A.scan_n_sigma = -1
    with pytest.raises(InvalidInputError, match="scan_values"):
        g.A.scan_values = [1.0, np.nan]
    with pytest.raises(InvalidInputError, match="scan_max"):
        g.A.scan_max = np.inf
    g.A.scan_values = (1, 2, 3)
    assert isinstance(g.A.scan_values, np.ndarray)


# ---------------------------------------------------------- scan semantics
def test_scan_settings_order_of_precedence():
    m, g, _ = peak()
    ds = Datasets([m])
    fit = Fit(loss_function="ML-poisson")
    fit.run(ds)
    p = g.centre
    p.scan_min, p.scan_max, p.scan_n_values = 46.0, 50.0, 5
    np.testing.assert_allclose(fit.stat_profile(ds, p)["centre_scan"], [46, 47, 48, 49, 50])
    p.scan_values = [47.0, 48.0]
    np.testing.assert_allclose(fit.stat_profile(ds, p)["centre_scan"], [47, 48])  # explicit values win
    p.scan_values = p.scan_min = p.scan_max = None
    out = fit.stat_profile(ds, p)
    np.testing.assert_allclose(out["centre_scan"][[0, -1]], p.value + np.array([-3, 3]) * p.std)
    assert set(out) >= {"centre_scan", "stat_scan", "fit_results"}


# ---------------------------------------------------------- several datasets
def test_two_datasets_share_a_centre():
    m1, g1, _ = peak(seed=1)
    m2, g2, _ = peak(seed=2)
    g2.centre.twin = g1.centre
    ds = Datasets([m1, m2])
    fit = Fit(backend="minuit", loss_function="ML-poisson")
    result = fit.run(ds)
    assert result.success
    assert "m1.Gaussian.A" in result.covariance_result.names
    links = dict(zip(zip(result.parameters["model"], result.parameters["type"], result.parameters["name"]),
                     result.parameters["link"]))
    assert links[("m1", "Gaussian", "centre")] == "Gaussian.centre"
    joint = fit.confidence(ds, "m0.Gaussian.centre")
    alone = Fit(loss_function="ML-poisson")
    m3, g3, _ = peak(seed=1)
    alone.run(Datasets([m3]))
    single = alone.confidence(Datasets([m3]), g3.centre)
    assert joint["success"] and joint["errp"] < single["errp"]  # twice the data: a narrower interval
    table = result.parameters
    row = [i for i in range(len(table)) if table["model"][i] == "m0" and table["name"][i] == "centre"][0]
    np.testing.assert_allclose(joint["errp"], table["error"][row], rtol=0.05)
    contour = fit.stat_contour(ds, "m0.Gaussian.A", "m1.Gaussian.A", numpoints=4)
    assert contour["success"] and set(contour) >= {"m0.Gaussian.A", "m1.Gaussian.A"}


# ------------------------------------------------------------ trace (ls)
def test_trace_of_least_squares_lm():
    m, g, _ = peak()
    result = Fit(store_trace=True).run(Datasets([m]))
    trace = result.trace
    assert isinstance(trace, Table) and len(trace) == result.optimize_result.nfev
    assert trace.colnames[0] == "total_stat"
    assert trace["total_stat"].min() == pytest.approx(result.total_stat, rel=1e-9)


# ------------------------------------------------------------ model methods
def test_model_methods_delegate_to_stats():
    from swiftfit.stats import confidence

    m, g, _ = peak()
    m.fit(loss_function="ML-poisson")
    assert m.confidence(g.centre) == confidence(m, g.centre)
    g.centre.scan_n_values = 5
    prof = m.stat_profile(g.centre, reoptimize=True)
    assert prof["values"].shape == (5,)
    c = m.stat_contour(g.centre, g.sigma, numpoints=4)
    assert c["success"]
    g.sigma.scan_n_values = 3
    s = m.stat_surface(g.centre, g.sigma)
    assert s["stat"].shape == (5, 3)
