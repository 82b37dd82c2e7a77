"""Every door calls the registered optimizer through the one request (issue 15, items 1, 2, 5).

* ``Fit(backend="scipy", optimize_opts={"method": M})`` is the registered scipy
  method ``M``, bounds respected: on one dataset the same numbers and status
  as ``m.fit(optimizer=M, bounded=True)`` (truth: that door, which already
  ran the registered optimizer on the same loss), to 1e-12;
* ``ScipyFit(m, method=M)`` minimises what ``m.fit(optimizer=M, bounded=True)``
  minimises: the same answer to 1e-10 (gaussian and poisson);
* sherpa's optimisers are registered (``sherpa-simplex``, ...), so their
  capability checks happen up front at every door, with the registry's text;
* a bad ``loss_function`` gets the one error text of ``losses.get`` at
  ``m.fit``, ``m.multifit``, ``JointModel.fit`` and ``Fit.run``;
* ``scipy.optimize.minimize`` is called in one module of the package.
"""

from __future__ import annotations

import ast
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.astrophot_api import ScipyFit
from swiftfit.errors import FitWarning, InvalidInputError, OptimizerError
from swiftfit.gammapy_api.fit import Datasets, Fit
from swiftfit.model.joint import JointModel
from swiftfit.optimizers import registry

SRC = Path(__file__).parents[2] / "src" / "swiftfit"


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        yield


def peak(seed=3, bounded=True):
    """Poisson counts of a Gaussian (area 50·6·√(2π), centre 48, σ 6) on 5: start off the truth."""
    rng = np.random.default_rng(seed)
    x = np.arange(0, 100, 1.0)
    s = hs.signals.Signal1D(rng.poisson(50 * np.exp(-((x - 48) ** 2) / (2 * 6**2)) + 5).astype(float))
    m = s.create_model()
    g, off = hs.model.components1D.Gaussian(), hs.model.components1D.Offset()
    m.extend([g, off])
    g.A.value, g.centre.value, g.sigma.value, off.offset.value = 600, 50, 5, 4
    if bounded:
        g.sigma.bmin, off.offset.bmax = 0.5, 50.0
    else:
        for p in (g.A, g.sigma, g.centre, off.offset):
            p.bmin = p.bmax = None
    return m, [g.A, g.sigma, g.centre, off.offset]


def values(pars):
    return np.array([p.value for p in pars])


# ---------------------------------------------------- Fit's scipy backend
@pytest.mark.parametrize("loss", ["ls", "ML-poisson"])
@pytest.mark.parametrize("method", ["L-BFGS-B", "TNC", "Nelder-Mead", "trust-constr"])
def test_fit_scipy_backend_is_the_registered_method(method, loss):
    m, pars = peak()
    out = m.fit(optimizer=method, loss_function=loss, bounded=True)
    ref_x, ref_status, ref_success = values(pars), int(out.status), bool(out.success)
    m, pars = peak()
    res = Fit(backend="scipy", loss_function=loss, store_trace=True, optimize_opts={"method": method}).run(m)
    np.testing.assert_allclose(values(pars), ref_x, rtol=1e-12)
    # the trace holds the optimizer's own calls (the Newton check's evaluation is not one)
    assert len(res.optimize_result.trace) == res.optimize_result.nfev == int(m.fit_output.nfev) > 0
    assert int(m.fit_output.status) == ref_status and res.optimize_result.success == ref_success
    assert res.optimize_result.method == method and res.optimize_result.backend == "scipy"


def test_fit_scipy_backend_takes_every_registered_method_and_names_a_bad_one():
    # dogleg needs the Hessian the registered method passes (the old direct call had none to give)
    m, pars = peak(bounded=False)
    assert Fit(backend="scipy", optimize_opts={"method": "dogleg"}).run(m).success
    dog = values(pars)
    m, pars = peak(bounded=False)
    assert m.fit(optimizer="lm").success
    np.testing.assert_allclose(dog, values(pars), rtol=1e-5)
    with pytest.raises(OptimizerError, match="unknown scipy.optimize.minimize method 'bogus'"):
        Fit(backend="scipy", optimize_opts={"method": "bogus"}).run(peak()[0])
    with pytest.raises(OptimizerError, match="'BFGS' does not support bounds.*Gaussian.sigma"):
        Fit(backend="scipy", optimize_opts={"method": "BFGS"}).run(peak()[0])


# ------------------------------------------------------------- ScipyFit
@pytest.mark.parametrize("likelihood,loss", [("gaussian", "ls"), ("poisson", "ML-poisson")])
@pytest.mark.parametrize("method", ["L-BFGS-B", "SLSQP", "Powell"])
def test_scipyfit_minimises_what_m_fit_minimises(method, likelihood, loss):
    m, pars = peak()
    out = m.fit(optimizer=method, loss_function=loss, bounded=True)
    ref_x = values(pars)
    m, pars = peak()
    fitter = ScipyFit(m, method=method, likelihood=likelihood, verbose=0).fit()
    np.testing.assert_allclose(values(pars), ref_x, rtol=1e-10)
    assert fitter.status == out.status and fitter.success == out.success
    assert fitter.scipy_res.nit == len(fitter.loss_history) - 2  # the start, each iteration, the end
    assert fitter.loss_history[-1] == pytest.approx(2 * out.fun if loss == "ML-poisson" else out.fun, rel=1e-12)


def test_scipyfit_keeps_its_own_options():
    """max_iter reaches scipy (an iteration cap is status -1, as at m.fit); tol too."""
    m, _ = peak()
    fitter = ScipyFit(m, method="L-BFGS-B", max_iter=3, verbose=0).fit()
    assert not fitter.success and int(fitter.status) == -1 and fitter.scipy_res.nit == 3
    m, pars = peak()
    m.fit(optimizer="L-BFGS-B", bounded=True, tol=1e-3)
    ref = values(pars)
    m, pars = peak()
    ScipyFit(m, method="L-BFGS-B", tol=1e-3, verbose=0).fit()
    np.testing.assert_allclose(values(pars), ref, rtol=1e-12)


# ------------------------------------------------------ sherpa, registered
def test_sherpa_optimizers_are_registered_with_their_capabilities():
    names = [n for n in registry.available() if n.startswith("sherpa-")]
    assert names == ["sherpa-gridsearch", "sherpa-levmar", "sherpa-moncar", "sherpa-simplex"]
    assert registry.get("sherpa-levmar").losses == {"ls"}
    assert registry.get("sherpa-gridsearch").needs_finite_bounds
    # refused up front, by the registry, at every door (no sherpa needed to say so)
    for fit in (lambda m: m.fit(optimizer="sherpa-levmar", loss_function="ML-poisson"),
                lambda m: m.multifit(optimizer="sherpa-levmar", loss_function="ML-poisson"),
                lambda m: Fit(backend="sherpa", loss_function="ML-poisson",
                              optimize_opts={"method": "levmar"}).run(m)):
        with pytest.raises(OptimizerError, match=r"optimizer 'sherpa-levmar' supports loss_function in \['ls'\]"):
            fit(peak()[0])
    with pytest.raises(OptimizerError, match=r"sherpa `method` must be one of .*'simplex'.*got 'bogus'"):
        Fit(backend="sherpa", optimize_opts={"method": "bogus"}).run(peak()[0])


def test_sherpa_optimizer_without_sherpa_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sherpa.optmethods", None)  # the import fails
    with pytest.raises(ImportError, match=r"optimizer='sherpa-\.\.\.'.*pip install sherpa"):
        peak()[0].fit(optimizer="sherpa-simplex")


# ------------------------------------------------------- one loss check
def test_bad_loss_gets_one_error_text_at_every_door():
    text = "loss_function must be one of ('ls', 'ML-poisson', 'huber') or a callable, got 'chi2'"
    doors = {
        "m.fit": lambda m: m.fit(loss_function="chi2"),
        "m.multifit": lambda m: m.multifit(loss_function="chi2"),
        "JointModel.fit": lambda m: JointModel([m]).fit(loss_function="chi2"),
        "Fit.run": lambda m: Fit(loss_function="chi2").run(Datasets([m])),
        "Fit.run scipy": lambda m: Fit(backend="scipy", loss_function="chi2").run(m),
    }
    for door, fit in doors.items():
        with pytest.raises(InvalidInputError) as err:
            fit(peak()[0])
        assert str(err.value) == text, door
    with pytest.raises(InvalidInputError, match=r"`loss_function` must be one loss or 2 \(one per model\), got 3"):
        Fit(loss_function=["ls"] * 3).run(Datasets([peak()[0], peak(seed=4)[0]]))
    with pytest.raises(InvalidInputError, match="custom loss functions are for single models"):
        Fit(loss_function=lambda model, values, data, weights=None: 0.0).run(peak()[0])


# ------------------------------------------------- one wrapper of minimize
def _minimize_callers() -> set:
    """Modules of the package that call ``scipy.optimize.minimize`` (imported
    under any name, or as ``optimize.minimize`` / ``scipy.optimize.minimize``)."""
    found = set()
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        local = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module == "scipy.optimize" for a in node.names if a.name == "minimize"}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if (isinstance(f, ast.Name) and f.id in local) or (
                    isinstance(f, ast.Attribute) and f.attr == "minimize" and isinstance(f.value, (ast.Name, ast.Attribute))
                    and (getattr(f.value, "id", None) == "optimize" or getattr(f.value, "attr", None) == "optimize")):
                found.add(path.relative_to(SRC).as_posix())
    return found


def test_scipy_minimize_is_called_in_one_module():
    assert _minimize_callers() == {"optimizers/scipy_min.py"}
