"""scipy's global optimizers: Differential Evolution, Dual Annealing, SHGO
(search the box of the bounds) and Basin Hopping (from the starting values).

Truths: HyperSpy's toy Gaussian (A = 2·√(2π)·5/0.1, centre 50, sigma 5),
its bounded variant (centre ≥ 55), and closed-form OLS standard errors.
"""

import warnings

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import FitWarning, OptimizerError
from swiftfit.optimizers import registry

TRUTH = np.array([250.66282746, 50.0, 5.0])
TRUTH_BOUNDED = np.array([257.48162397, 55.0, 7.76886132])
BOX = {"A": (200, 300), "centre": (40, 60), "sigma": (4.5, 5.5)}
# small, fast settings under which the truths still hold
DE_FAST = dict(popsize=6, maxiter=300, tol=0.05)


def toy(box=True):
    v = 2 * np.exp(-((np.arange(10, 100, 0.1) - 50) ** 2) / (2 * 5**2))
    s = hs.signals.Signal1D(v)
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.is_binned = 0.1, 10, True
    m = s.create_model()
    g = hs.model.components1D.Gaussian()
    m.append(g)
    g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9
    if box:
        for p in g.parameters:
            p.bmin, p.bmax = BOX[p.name]
    return m, g


def values(g):
    return np.array([g.A.value, g.centre.value, g.sigma.value])


def test_registered_with_capabilities():
    for name in ("Differential Evolution", "Dual Annealing", "SHGO"):
        spec = registry.get(name)
        assert spec.kind == "global" and spec.needs_finite_bounds and spec.bounds
        assert spec.losses == frozenset({"ls", "ML-poisson", "huber", "custom"})
    spec = registry.get("Basin Hopping")
    assert spec.kind == "global" and not spec.needs_finite_bounds and spec.bounds
    assert registry.get("basinhopping") is spec
    assert registry.get("differential_evolution") is registry.get("Differential Evolution")


@pytest.mark.parametrize("method, kw", [
    ("Differential Evolution", dict(seed=0, **DE_FAST)),
    ("Dual Annealing", dict(seed=0, maxiter=10)),
    ("SHGO", dict(n=16)),
])
def test_toy_global_in_the_box(method, kw):
    m, g = toy()
    out = m.fit(optimizer=method, **kw)
    assert out.success and out.status == 6, out.message
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)
    assert out.optimizer_result is not None
    assert np.isfinite([g.A.std, g.centre.std, g.sigma.std]).all()


@pytest.mark.parametrize("loss", ["ML-poisson", "huber"])
def test_toy_global_other_losses(loss):
    m, g = toy()
    out = m.fit(optimizer="Differential Evolution", loss_function=loss, seed=1, **DE_FAST)
    assert out.success
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)


def test_box_is_used_whatever_bounded_says():
    # a box that excludes the free minimum: the answer is on its edge
    m, g = toy()
    g.centre.bmin = 55
    ref_m, ref_g = toy()
    ref_g.centre.bmin = 55
    assert ref_m.fit(optimizer="L-BFGS-B", bounded=True).success
    assert ref_g.centre.value == 55 and ref_g.sigma.value == 5.5  # both on the box
    for bounded in (False, True):
        g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9
        out = m.fit(optimizer="Differential Evolution", bounded=bounded, seed=2, **DE_FAST)
        assert out.success
        np.testing.assert_allclose(values(g), values(ref_g), rtol=1e-5)


def test_differential_evolution_seed_is_reproducible():
    runs = []
    for seed in (5, 5, 6):
        m, g = toy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)  # unpolished: not a minimum yet
            m.fit(optimizer="Differential Evolution", seed=seed, polish=False, popsize=5, maxiter=40)
        runs.append(values(g))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_differential_evolution_at_maxiter_is_a_limit_failure():
    m, _ = toy()
    with pytest.warns(FitWarning, match="evaluation limit was reached"):
        out = m.fit(optimizer="Differential Evolution", seed=0, popsize=5, maxiter=3)
    assert out.success is False and out.status == -1
    assert "Maximum number of iterations" in out.message


def test_global_without_finite_bounds_names_the_parameters():
    m, g = toy(box=False)
    with pytest.raises(OptimizerError, match="finite bounds") as info:
        m.fit(optimizer="Differential Evolution")
    assert isinstance(info.value, ValueError)
    for name in ("Gaussian.A", "Gaussian.centre", "Gaussian.sigma"):
        assert name in str(info.value)
    g.A.bmax, g.centre.bmin, g.centre.bmax = 300, 40, 60
    for method in ("Dual Annealing", "SHGO"):
        with pytest.raises(OptimizerError, match=r"missing for \['Gaussian.sigma'\]"):
            m.fit(optimizer=method)


def test_basin_hopping_from_the_start_without_bounds():
    m, g = toy(box=False)
    out = m.fit(optimizer="Basin Hopping", seed=0, niter=5)
    assert out.success and out.status == 6
    np.testing.assert_allclose(values(g), TRUTH, rtol=5e-4)
    assert "L-BFGS-B" in out.message


def test_basin_hopping_bounded_gives_bounds_to_the_local_minimizer():
    m, g = toy(box=False)
    g.centre.bmin = 55
    out = m.fit(optimizer="Basin Hopping", bounded=True, seed=0, niter=5)
    assert out.success
    np.testing.assert_allclose(values(g), TRUTH_BOUNDED, rtol=5e-4)
    with pytest.raises(OptimizerError, match="takes no bounds"):
        m.fit(optimizer="Basin Hopping", bounded=True, minimizer_kwargs={"method": "BFGS"})


def test_basin_hopping_reports_its_local_minimizer_at_the_limit():
    m, _ = toy(box=False)
    with pytest.warns(FitWarning, match="evaluation limit was reached"):
        out = m.fit(optimizer="Basin Hopping", seed=0, niter=2,
                    minimizer_kwargs={"method": "L-BFGS-B", "options": {"maxiter": 2}})
    assert out.success is False and out.status == -1


def test_global_custom_loss_returning_nan_fails_with_a_message():
    def nan_loss(model, values, data, weights=None):
        return np.nan

    m, _ = toy()
    with pytest.warns(FitWarning, match="non-finite"):
        out = m.fit(optimizer="Differential Evolution", loss_function=nan_loss, seed=0, popsize=5, maxiter=5)
    assert out.success is False and out.status == -2


def test_unknown_keyword_is_not_swallowed():
    m, _ = toy()
    with pytest.raises(TypeError, match="not_an_option"):
        m.fit(optimizer="Differential Evolution", not_an_option=1)


@pytest.mark.parametrize("method, kw", [
    ("Differential Evolution", dict(seed=0, **DE_FAST)),
    ("Dual Annealing", dict(seed=0, maxiter=10)),
    ("SHGO", dict(n=16)),
    ("Basin Hopping", dict(seed=0, niter=3)),
])
def test_global_errors_equal_ols_standard_errors(method, kw):
    s = hs.signals.Signal1D(np.arange(100, 300, dtype="float32"))
    s.add_gaussian_noise(std=100, random_state=42)
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1)
    m.append(line)
    line.a0.bmin, line.a0.bmax = -500, 500
    line.a1.bmin, line.a1.bmax = -5, 5
    x, y = np.arange(200.0), s.data.astype(float)
    X = np.c_[np.ones_like(x), x]
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    r = y - X @ beta
    std = np.sqrt(np.diag(r @ r / (len(y) - 2) * np.linalg.inv(X.T @ X)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        out = m.fit(optimizer=method, **kw)
    assert out.success, out.message
    np.testing.assert_allclose([line.a0.value, line.a1.value], beta, rtol=1e-5)
    np.testing.assert_allclose([line.a0.std, line.a1.std], std, rtol=1e-6)
