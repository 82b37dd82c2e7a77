"""Model1D behaviour with numeric truths stated per test."""

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components import components1d as C1


def gaussian(x, A, sigma, centre):
    return A / (sigma * np.sqrt(2 * np.pi)) * np.exp(-((x - centre) ** 2) / (2 * sigma**2))


# one instance per built-in component, with parameter ranges that keep it finite on x in [1, 10]
def _components():
    pattern = hs.signals.Signal1D(np.exp(-((np.linspace(0, 12, 200) - 6) ** 2) / 4))
    pattern.axes_manager[-1].scale = 12 / 199
    return [
        C1.Arctan(), C1.Bleasdale(a=1, b=1, c=1), C1.Doniach(centre=5), C1.Erf(origin=5),
        C1.Exponential(tau=4), C1.Gaussian(centre=5), C1.GaussianHF(centre=5), C1.HeavisideStep(n=5.05),
        C1.Logistic(origin=5), C1.Lorentzian(centre=5), C1.Offset(offset=2), C1.Polynomial(order=3),
        C1.PowerLaw(A=10, r=2), C1.RC(tau=3), C1.ScalableFixedPattern(pattern),
        C1.SEE(A=10, Phi=0.5, B=1), C1.SkewNormal(x0=5, shape=2), C1.SplitVoigt(centre=5),
        C1.Voigt(centre=5), C1.VolumePlasmonDrude(plasmon_energy=5),
        C1.Expression("a * sin(k * x) + b", name="Wave", a=1, k=1, b=0),
    ]


@pytest.mark.parametrize("comp", _components(), ids=lambda c: type(c).__name__)
def test_batched_model_equals_per_pixel(comp):
    """as_signal (one batched evaluation of all 35 pixels) equals m() pixel by pixel."""
    rng = np.random.default_rng(3)
    s = hs.signals.Signal1D(np.zeros((5, 7, 64)))
    s.axes_manager[-1].offset = 1.0
    s.axes_manager[-1].scale = 9 / 63
    m = s.create_model()
    m.append(comp)
    for p in comp.parameters:
        base = p.value if p.value != 0 else 0.5
        p.map["values"] = base * (1 + 0.1 * rng.uniform(-1, 1, size=(5, 7)))
    batched = m.as_signal().data
    assert np.isfinite(batched).all()
    for iy in range(5):
        for ix in range(7):
            s.axes_manager.indices = (ix, iy)
            np.testing.assert_allclose(batched[iy, ix], m(), rtol=1e-14, atol=1e-300)


def test_binned_axis_scales_by_bin_width():
    x = np.linspace(0, 10, 101)
    s = hs.signals.Signal1D(np.zeros(101))
    s.axes_manager[-1].scale = 0.1
    m = s.create_model()
    g = C1.Gaussian(A=3, sigma=1, centre=5)
    m.append(g)
    unbinned = m()
    s.axes_manager[-1].is_binned = True
    np.testing.assert_allclose(m(), 0.1 * unbinned, rtol=1e-15)
    np.testing.assert_allclose(unbinned, gaussian(x, 3, 1, 5), rtol=1e-12)


def test_chisq_of_hyperspy_reference_case():
    """HyperSpy's test data [1,2,4,7,12,7,4,2,1] fitted with one Gaussian: chisq 7.78966223."""
    s = hs.signals.Signal1D(np.array([1.0, 2, 4, 7, 12, 7, 4, 2, 1]))
    m = s.create_model()
    g = C1.Gaussian(A=30, sigma=1.5, centre=4)
    m.append(g)
    m.fit()
    assert m.fit_output.success
    assert float(m.chisq.data[0]) == pytest.approx(7.78966223, rel=1e-7)
    assert float(m.dof.data[0]) == 9 - 3
    assert float(m.red_chisq.data[0]) == pytest.approx(7.78966223 / 6, rel=1e-7)


def _toy():
    """HyperSpy's toy case: 2*exp(-(x-50)²/(2·5²)) on a binned axis, scale 0.1, offset 10."""
    v = 2 * np.exp(-((np.arange(10, 100, 0.1) - 50) ** 2) / (2 * 5**2))
    s = hs.signals.Signal1D(v)
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.is_binned = 0.1, 10, True
    m = s.create_model()
    g = C1.Gaussian()
    m.append(g)
    g.A.value, g.centre.value, g.sigma.value = 250, 56, 4.9
    return m, g


@pytest.mark.parametrize("optimizer", ["lm", "trf", "dogbox"])
@pytest.mark.parametrize("grad", ["analytical", "fd"])
def test_toy_case(optimizer, grad):
    m, g = _toy()
    m.fit(optimizer=optimizer, grad=grad)
    assert m.fit_output.success, m.fit_output.message
    np.testing.assert_allclose([g.A.value, g.centre.value, g.sigma.value],
                               [250.66282746, 50.0, 5.0], rtol=5e-4)


@pytest.mark.parametrize("optimizer", ["lm", "trf", "dogbox"])
def test_toy_case_bounded(optimizer):
    m, g = _toy()
    g.centre.bmin = 55
    m.fit(optimizer=optimizer, bounded=True)
    assert m.fit_output.success, m.fit_output.message
    np.testing.assert_allclose([g.A.value, g.centre.value, g.sigma.value],
                               [257.48162397, 55.0, 7.76886132], rtol=5e-4)
    assert g.centre.value == pytest.approx(55.0, abs=1e-12)


def test_twins_and_expr_in_fit():
    """Data made with centre2 = centre1 + 20 (twin through 'x + 20') and
    A2 = 2·A1 (expr): the fit recovers them, and the tied std follow by the chain rule."""
    x = np.linspace(0, 100, 501)
    truth = gaussian(x, 100, 4, 30) + gaussian(x, 200, 6, 50)
    rng = np.random.default_rng(0)
    s = hs.signals.Signal1D(truth + rng.normal(0, 0.05, x.size))
    s.axes_manager[-1].scale = 0.2
    m = s.create_model()
    g1 = C1.Gaussian(A=80, sigma=5, centre=28)
    g2 = C1.Gaussian(A=150, sigma=5, centre=45)
    g1.name, g2.name = "first", "second"
    m.extend([g1, g2])
    g2.centre.twin = g1.centre
    g2.centre.twin_function_expr = "x + 20"
    g2.A.expr = "2 * first.A"
    m.fit()
    assert m.fit_output.success
    assert m.fit_output.parameter_names == ["first.A", "first.sigma", "first.centre", "second.sigma"]
    assert g1.centre.value == pytest.approx(30, abs=5 * g1.centre.std)
    assert g2.centre.value == pytest.approx(g1.centre.value + 20, rel=1e-14)
    assert g2.A.value == pytest.approx(2 * g1.A.value, rel=1e-14)
    assert g2.A.std == pytest.approx(2 * g1.A.std, rel=1e-10)
    assert g2.centre.std == pytest.approx(g1.centre.std, rel=1e-10)


def test_fit_at_current_position_writes_only_there():
    rng = np.random.default_rng(1)
    x = np.arange(50.0)
    data = np.stack([2 * x + 1, -x + 3, 0.5 * x]) + rng.normal(0, 0.01, (3, 50))
    s = hs.signals.Signal1D(data)
    m = s.create_model()
    line = C1.Polynomial(order=1)
    m.append(line)
    s.axes_manager.indices = (1,)
    m.fit()
    np.testing.assert_array_equal(line.a1.map["is_set"], [False, True, False])
    assert line.a1.map["values"][1] == pytest.approx(-1, abs=1e-3)
    assert line.a1.map["values"][0] == line.a1.map["values"][2]


def test_multifit_batched_equals_sequential():
    """All pixels in one batched LM solve equal HyperSpy-style sequential
    fits from the same start (to 1e-6 relative)."""
    rng = np.random.default_rng(5)
    x = np.linspace(0, 20, 200)
    A = rng.uniform(50, 100, (4, 5))
    c = rng.uniform(8, 12, (4, 5))
    data = gaussian(x, A[..., None], 1.5, c[..., None]) + 2 + rng.normal(0, 0.2, (4, 5, 200))
    results = []
    for iterpath in (None, "flyback"):
        s = hs.signals.Signal1D(data.copy())
        s.axes_manager[-1].scale = 20 / 199
        m = s.create_model()
        g = C1.Gaussian(A=70, sigma=2, centre=10)
        m.extend([g, C1.Offset(offset=1)])
        m.assign_current_values_to_all()
        m.multifit(iterpath=iterpath, ftol=1e-12, xtol=1e-12)
        results.append(np.stack([g.A.map["values"], g.centre.map["values"], g.sigma.map["values"]]))
        np.testing.assert_allclose(g.centre.map["values"], c, atol=0.1)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_multifit_marks_nan_pixel_and_fits_the_rest():
    x = np.arange(30.0)
    data = np.stack([3 * x + 1] * 4)
    data[2, 5] = np.nan
    s = hs.signals.Signal1D(data)
    m = s.create_model()
    line = C1.Polynomial(order=1)
    m.append(line)
    m.multifit()
    assert list(m._status) [2] == -4
    ok = [0, 1, 3]
    np.testing.assert_allclose(line.a1.map["values"][ok], 3.0, rtol=1e-9)
    assert not line.a1.map["is_set"][2]


def test_iterpath_visits_exactly_its_pixels():
    s = hs.signals.Signal1D(np.tile(np.arange(10.0), (3, 4, 1)))
    m = s.create_model()
    line = C1.Polynomial(order=1)
    m.append(line)
    path = [(0, 0), (3, 2), (1, 1)]
    m.multifit(iterpath=path)
    expected = np.zeros((3, 4), bool)
    for ix, iy in path:
        expected[iy, ix] = True
    np.testing.assert_array_equal(line.a1.map["is_set"], expected)


def test_signal_range_and_as_signal_nan_outside():
    s = hs.signals.Signal1D(np.arange(20.0) * 2 + 1)
    m = s.create_model()
    line = C1.Polynomial(order=1)
    m.append(line)
    m.set_signal_range(5.0, 14.0)
    assert m._channel_switches.sum() == 10
    m.add_signal_range(16.0, 17.0)
    m.remove_signal_range(7.0, 8.0)
    assert m._channel_switches.sum() == 10
    m.fit()
    assert line.a1.value == pytest.approx(2.0, rel=1e-10)
    model = m.as_signal().data
    assert np.isnan(model[:5]).all() and np.isfinite(model[5:7]).all()
    m.reset_signal_range()
    assert m._channel_switches.all()


def test_store_fetch_assign_and_fetch_values_from_array():
    s = hs.signals.Signal1D(np.zeros((4, 10)))
    m = s.create_model()
    g = C1.Gaussian()
    m.append(g)
    m.fetch_values_from_array(np.array([5.0, 2.0, 3.0]))
    assert (g.A.value, g.sigma.value, g.centre.value) == (5.0, 2.0, 3.0)
    m.store_current_values()
    assert g.A.map["is_set"][0] and not g.A.map["is_set"][1]
    m.assign_current_values_to_all()
    np.testing.assert_array_equal(g.sigma.map["values"], np.full(4, 2.0))
    with pytest.raises(ValueError, match="must have 3 values"):
        m.fetch_values_from_array([1.0])


def test_model_call_onlyactive_and_components():
    x = np.arange(10.0)
    s = hs.signals.Signal1D(np.zeros(10))
    m = s.create_model()
    o1, o2 = C1.Offset(offset=1), C1.Offset(offset=2)
    m.extend([o1, o2])
    o2.active = False
    np.testing.assert_array_equal(m(onlyactive=True), np.ones(10))
    np.testing.assert_array_equal(m(component_list=[o2]), np.full(10, 2.0))
    np.testing.assert_array_equal(m(), np.full(10, 3.0))
    assert x.size == 10


def test_inav_keeps_fitted_maps():
    s = hs.signals.Signal1D(np.stack([np.arange(10.0) * k for k in range(1, 6)]))
    m = s.create_model()
    line = C1.Polynomial(order=1)
    m.append(line)
    m.multifit()
    sub = m.inav[1:4]
    np.testing.assert_allclose(sub[0].a1.map["values"], [2, 3, 4], rtol=1e-9)
    assert sub[0] is not line


def test_non_uniform_axis_fit():
    x = np.sort(np.random.default_rng(2).uniform(0, 10, 80))
    s = hs.signals.Signal1D(gaussian(x, 10, 1.2, 4.0), axes=[{"axis": x}])
    m = s.create_model()
    g = C1.Gaussian(A=8, sigma=1, centre=4.5)
    m.append(g)
    m.fit()
    np.testing.assert_allclose([g.A.value, g.sigma.value, g.centre.value], [10, 1.2, 4.0], rtol=1e-8)


def test_dof_and_chisq_with_variance():
    """Gaussian noise of known σ: with the variance set, χ² = Σ r²/σ² and
    the std are not rescaled (they equal sqrt(diag((JᵀWJ)⁻¹)))."""
    rng = np.random.default_rng(11)
    x = np.arange(100.0)
    y = 0.5 * x + 2 + rng.normal(0, 3, 100)
    s = hs.signals.Signal1D(y)
    s.set_noise_variance(9.0)
    m = s.create_model()
    line = C1.Polynomial(order=1)
    m.append(line)
    m.fit()
    X = np.c_[np.ones(100), x]
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = y - X @ beta
    assert float(m.chisq.data[0]) == pytest.approx(resid @ resid / 9, rel=1e-9)
    np.testing.assert_allclose([line.a0.std, line.a1.std], np.sqrt(np.diag(9 * np.linalg.inv(X.T @ X))), rtol=1e-8)
