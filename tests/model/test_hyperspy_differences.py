"""Each documented difference from HyperSpy (README, "Differences from HyperSpy"):
our behaviour, and the way to get HyperSpy's, both asserted."""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components.components1d import Expression, Gaussian, Offset, Polynomial, PowerLaw
from swiftfit.errors import InvalidInputError
from swiftfit.model.hyperspy_compat import hyperspy_order


def _offset_model(n=100, seed=1):
    s = hs.signals.Signal1D(np.ones(n) + np.random.default_rng(seed).normal(size=n))
    s.set_noise_variance(1.0)
    m = s.create_model()
    m.append(Offset())
    m.fit()
    return m


def test_reduced_chisq_and_dof():
    # ours: dof = N - k, red_chisq = chisq / (N - k); HyperSpy: dof holds k and
    # red_chisq = chisq / (N - k - 1), which is chisq / (m.dof - 1) here
    m = _offset_model()
    chisq = float(m.chisq.data[0])
    assert float(m.dof.data[0]) == 99
    assert float(m.red_chisq.data[0]) == pytest.approx(chisq / 99, rel=1e-12)
    hyperspy_red_chisq = chisq / (float(m.dof.data[0]) - 1)
    assert hyperspy_red_chisq == pytest.approx(chisq / 98, rel=1e-12)
    assert 100 - float(m.dof.data[0]) == 1  # HyperSpy's dof: the free parameters


def test_powerlaw_below_origin():
    # ours: 0 for x <= origin; HyperSpy evaluates A (x - origin)^-r there
    p = PowerLaw(A=1.0, r=2.0, origin=3.0)
    assert float(p.function(np.array([2.0]))[0]) == 0.0
    e = Expression("A * (x - origin) ** (-r)", "powerlaw_hs", A=1.0, r=2.0, origin=3.0)
    assert float(e.function(np.array([2.0]))[0]) == pytest.approx(1.0)
    assert float(e.function(np.array([1.0]))[0]) == pytest.approx(0.25)


def test_variance_of_another_shape_is_refused():
    s = hs.signals.Signal1D(np.ones(900))
    with pytest.raises(InvalidInputError, match=r"\(900,\), got \(9000,\)"):
        s.set_noise_variance(hs.signals.Signal1D(np.arange(10, 100, 0.01)))


def test_information_criteria_conventions():
    # HyperSpy's numbers on its own test case (hyperspy/tests/model/
    # test_model_selection_criteria.py): AIC 74.477061729, AICc 82.477061729,
    # BIC 75.687402101 for a Gaussian fitted to 0..9; ours differ in k and ln L
    from swiftfit.utils.model_selection import AIC, BIC, AICc

    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(Gaussian())
    m.fit()
    assert AIC(m) == pytest.approx(74.477061729, rel=1e-6)
    assert AICc(m) == pytest.approx(82.477061729, rel=1e-6)
    assert BIC(m) == pytest.approx(75.687402101, rel=1e-6)
    # ours: k = 3 free parameters, Gaussian ln L with sigma^2 profiled
    rss = float(np.sum((s.data - m()) ** 2))
    lnl = -5.0 * (np.log(2 * np.pi * rss / 10) + 1)
    assert float(m.aic.data[0]) == pytest.approx(2 * 3 - 2 * lnl, rel=1e-6)


def test_parameter_order():
    g = Gaussian(A=5.0, sigma=2.0, centre=3.0)
    assert [p.name for p in g.parameters] == ["A", "sigma", "centre"]
    assert [p.name for p in hyperspy_order(g.parameters)] == ["A", "centre", "sigma"]
    m = hs.signals.Signal1D(np.zeros(10)).create_model()
    m.append(g)
    assert m.p0 == (5.0, 3.0, 2.0)  # HyperSpy's order
    m.fetch_values_from_array([1.0, 2.0, 3.0])  # swiftfit's (constructor) order
    assert (g.A.value, g.sigma.value, g.centre.value) == (1.0, 2.0, 3.0)


def test_value_is_the_map():
    # ours: value writes the map at the current position at once; HyperSpy
    # keeps it apart until store_current_values() (which is harmless here)
    m = hs.signals.Signal1D(np.zeros((3, 10))).create_model()
    m.append(Offset())
    m.axes_manager.indices = (1,)
    m[0].offset.value = 7.0
    assert m[0].offset.map["values"].tolist() == [0.0, 7.0, 0.0]
    assert not m[0].offset.map["is_set"][1]
    m.store_current_values()
    assert m[0].offset.map["is_set"][1]


def test_estimate_range_includes_x2():
    s = hs.signals.Signal1D(np.ones(100))
    s.axes_manager[0].scale = 0.1
    s.axes_manager[0].offset = -5
    s.data[60:80] = 10.0
    o = Offset()
    o.estimate_parameters(s, 1.0, 3.0, only_current=True)  # channels 60..80 inclusive
    assert o.offset.value == pytest.approx((20 * 10.0 + 1.0) / 21)
    o.estimate_parameters(s, intervals=[(1.0, 3.0)], only_current=True)  # HyperSpy's 60..79
    assert o.offset.value == pytest.approx(10.0)


def test_polynomial_order_zero_is_a_constant():
    p = Polynomial(order=0, a0=4.0)
    np.testing.assert_array_equal(p.function(np.arange(3.0)), [4.0, 4.0, 4.0])


def test_e_is_eulers_number_in_expressions():
    e = Expression("e * x", "scaled")
    assert [p.name for p in e.parameters] == []
    assert float(e.function(np.array([1.0]))[0]) == pytest.approx(np.e)
    named = Expression("e_ * x", "scaled", e_=2.0)  # HyperSpy's parameter `e`, renamed
    assert float(named.function(np.array([1.0]))[0]) == pytest.approx(2.0)


def test_no_interactive_ranges():
    m = hs.signals.Signal1D(np.zeros(10)).create_model()
    g = Gaussian()
    m.append(g)
    with pytest.raises(InvalidInputError, match="interactive"):
        m.fit_component(g, signal_range="interactive")


def test_estimate_parameters_out_true_refused():
    s = hs.signals.Signal1D(np.ones(10))
    with pytest.raises(NotImplementedError, match="out=True"):
        Offset().estimate_parameters(s, out=True)


def test_expression_rotation_is_a_rotation():
    # HyperSpy substitutes x and then y into the result (sympy subs, not
    # simultaneous), which is no rotation: its test_components2D.py expects
    # 6.68025544e-06 at (-2, -2) for this line, a rotation gives 9.93e-07 / 2.88e-14
    from swiftfit.components.components2d import Expression as Expression2D

    g = Expression2D("exp(-((x-x0)**2 / (2 * sx ** 2) + (y-y0)**2 / (2 * sy ** 2)))", name="g",
                     add_rotation=True, position=("x0", "y0"))
    for name, value in dict(rotation_angle=np.radians(20), sx=0.5, sy=1.0, x0=1.0, y0=1.0).items():
        getattr(g, name).value = value
    # rotating the point back by the angle about (x0, y0) gives the unrotated line's value
    x, y, t = -2.0, -2.0, np.radians(20)
    u = np.cos(t) * (x - 1.0) + np.sin(t) * (y - 1.0)
    v = -np.sin(t) * (x - 1.0) + np.cos(t) * (y - 1.0)
    expected = np.exp(-(u**2 / (2 * 0.5**2) + v**2 / 2))
    assert float(g.function(x, y)) == pytest.approx(expected, rel=1e-12)
    assert float(g.function(x, y)) == pytest.approx(2.882213487938504e-14, rel=1e-9)


def test_doniach_estimate_recovers_the_line():
    # HyperSpy test_doniach.py: centre 1, A 5, sigma 1, alpha 0.5 sampled every 0.05
    # from -5; HyperSpy's Gaussian-moment estimate gives sigma 2.33, centre -0.48
    from swiftfit.components.components1d import Doniach

    x = -5.0 + 0.05 * np.arange(200)
    s = hs.signals.Signal1D(Doniach(centre=1, A=5, sigma=1, alpha=0.5).function(x))
    s.axes_manager[-1].scale, s.axes_manager[-1].offset = 0.05, -5.0
    d = Doniach(alpha=0.5)
    assert d.estimate_parameters(s, -5.0, 4.95)
    assert d.sigma.value == pytest.approx(1.0, rel=0.02)
    assert d.centre.value == pytest.approx(1.0, abs=0.02)
    assert d.A.value == pytest.approx(5.0, rel=0.05)


def test_function_nd_outside_a_model_is_function():
    # HyperSpy raises RuntimeError (no maps yet); here the maps exist and hold the values
    g = Gaussian(A=2.0, sigma=1.0, centre=0.0)
    x = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_array_equal(g.function_nd(x), g.function(x))
    e = Expression("a * x", "line", a=3.0)
    np.testing.assert_array_equal(e.function_nd(x), 3.0 * x)


def test_new_maps_hold_the_current_value():
    # HyperSpy's _create_arrays fills with 0 (the value lives apart); here the map is the value
    g = Gaussian(A=1.0)
    g._axes_manager = hs.signals.Signal1D(np.zeros((3, 3, 1))).axes_manager
    g._create_arrays()
    np.testing.assert_array_equal(g.A.as_signal("values").data, np.ones((3, 3)))


def test_backend_keywords_are_ignored():
    # HyperSpy: Bleasdale(module="numpy") raises ValueError, PowerLaw(compute_gradients=True) warns
    from swiftfit.components.components1d import Bleasdale

    b = Bleasdale(module="numpy", a=1.0, b=1.0, c=1.0)
    assert float(b.function(np.array([1.0]))[0]) == pytest.approx(0.5)  # (a + b x)^(-1/c)
    p = PowerLaw(compute_gradients=True)
    assert p._has_gradients


def test_estimate_range_on_a_descending_axis_in_either_order():
    # HyperSpy test_gaussian.py: scale -1 from 100; HyperSpy refuses (40, 60), takes (90, 10)
    x = 100.0 - np.arange(100.0)
    s = hs.signals.Signal1D(Gaussian.function(x, 50015.156, 15 / 2.3548200450309493, 50.0))
    s.axes_manager[-1].scale, s.axes_manager[-1].offset = -1.0, 100.0
    a, b = Gaussian(), Gaussian()
    assert a.estimate_parameters(s, 40, 60) and b.estimate_parameters(s, 60, 40)
    assert a.centre.value == b.centre.value == pytest.approx(50.0, abs=1e-3)


def test_linear_fit_of_a_template_component_with_two_free_linear_parameters():
    # HyperSpy (test_linear_model.py) raises AttributeError "has more than one free";
    # the design matrix here evaluates each linear parameter's column on its own
    from swiftfit.component import Component

    class Line(Component):
        def __init__(self):
            Component.__init__(self, ("a0", "a1"), linear_parameter_list=["a0", "a1"])

        def function(self, x):
            return self.a0.value + x * self.a1.value

    x = np.arange(100.0)
    m = hs.signals.Signal1D(3.0 + 0.5 * x).create_model()
    c = Line()
    m.append(c)
    m.fit(optimizer="lstsq")
    assert (c.a0.value, c.a1.value) == pytest.approx((3.0, 0.5), rel=1e-12)


def test_as_signal_follows_active_per_position():
    # HyperSpy (test_model.py::TestAsSignal) drops a component inactive at the current
    # position from every position: 3 everywhere; here only where it is inactive
    m = hs.signals.Signal1D(np.arange(20.0).reshape(2, 2, 5)).create_model()
    m.extend([Offset(), Offset()])
    m[0].offset.value, m[1].offset.value = 2.0, 3.0
    m.assign_current_values_to_all()
    m[0].active_is_multidimensional = True
    m[0]._active_array[0] = False
    data = m.as_signal().data
    np.testing.assert_allclose(data[0], 3.0)
    np.testing.assert_allclose(data[1], 5.0)


def test_linear_multifit_with_per_pixel_variance_is_batched():
    # HyperSpy (test_linear_model.py::TestMultiFitLinear[True]) warns and loops; here one
    # batched solve gives each pixel its own weighted least-squares answer, silently
    import warnings

    rng = np.random.default_rng(7)
    x = np.arange(50.0)
    truth = np.array([2.0, 5.0, 9.0])
    data = truth[:, None] * np.exp(-0.5 * ((x - 20.0) / 4.0) ** 2) + 1.0
    s = hs.signals.Signal1D(rng.poisson(data * 50.0) / 50.0)
    s.estimate_poissonian_noise_variance()
    m = s.create_model()
    g = Gaussian(centre=20.0, sigma=4.0)
    g.centre.free = g.sigma.free = False
    m.extend([g, Offset()])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        m.multifit(optimizer="lstsq")
    variance = s.metadata.Signal.Noise_properties.variance.data
    f = Gaussian.function(x, 1.0, 4.0, 20.0)
    for i in range(3):
        w = 1.0 / np.sqrt(variance[i])
        design = np.vstack([f, np.ones_like(x)]).T * w[:, None]
        coef, *_ = np.linalg.lstsq(design, s.data[i] * w, rcond=None)
        assert g.A.map["values"][i] == pytest.approx(coef[0], rel=1e-8)


def _two_gaussians_line(seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(100.0)
    centres = np.array([[40.0, 42.0, 44.0, 46.0]]).T
    data = 50 * np.exp(-0.5 * ((x - centres) / 4) ** 2) + 20 * np.exp(-0.5 * ((x - 70) / 3) ** 2)
    s = hs.signals.Signal1D(rng.poisson(data + 5).astype(float))
    s.set_noise_variance(hs.signals.Signal1D(data + 5))  # heteroscedastic: the Poisson variance
    m = s.create_model()
    g1, g2 = Gaussian(centre=40.0, sigma=4.0), Gaussian(centre=70.0, sigma=3.0)
    m.extend([g1, g2, Offset()])
    m.set_parameters_not_free(only_nonlinear=True)
    g1.centre.map["values"][:] = centres[:, 0]  # a fixed parameter that varies over the pixels
    g1.centre.map["is_set"][:] = True
    return s, m


def test_lstsq_multifit_is_one_batch():
    # HyperSpy warns and falls back to a pixel-by-pixel fit when fixed parameters vary over the
    # navigation space or the variance is not homoscedastic; ours solves every pixel in one batch,
    # with each pixel's own fixed values and variance, and warns about nothing
    import warnings

    s, m = _two_gaussians_line()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.multifit(optimizer="lstsq")
    batch = np.stack([c.A.map["values"] for c in m[:2]] + [m[2].offset.map["values"]])
    for i in range(4):  # pixel by pixel, HyperSpy's fallback: the same numbers
        s.axes_manager.indices = (i,)
        m.fit(optimizer="lstsq")
        single = [m[0].A.value, m[1].A.value, m[2].offset.value]
        np.testing.assert_allclose(batch[:, i], single, rtol=1e-9)


def test_linear_optimizers_need_no_scikit_learn():
    # HyperSpy's "ols", "nnls" and "ridge" call scikit-learn (ImportError without it); ours are
    # swiftfit's own: a straight line y = 2 + 3x is recovered by each
    x = np.arange(20.0)
    s = hs.signals.Signal1D(2 + 3 * x)
    m = s.create_model()
    m.append(Polynomial(order=1))
    for optimizer in ("ols", "nnls", "ridge"):
        m[0].a0.value = m[0].a1.value = 0.0
        m.fit(optimizer=optimizer, **({"alpha": 0.0} if optimizer == "ridge" else {}))
        assert (m[0].a0.value, m[0].a1.value) == pytest.approx((2.0, 3.0), rel=1e-9)


def test_component_with_two_linear_parameters():
    # HyperSpy's lstsq refuses a component with more than one free linear parameter
    # (AttributeError); ours fits it: y = a0 + a1 x is linear in both
    from swiftfit.component import Component

    class Line(Component):
        def __init__(self):
            Component.__init__(self, ("a0", "a1"), linear_parameter_list=["a0", "a1"])

        def function(self, x):
            return self.a0.value + x * self.a1.value

    x = np.arange(30.0)
    m = hs.signals.Signal1D(-1.5 + 0.25 * x).create_model()
    m.append(Line())
    m.fit(optimizer="lstsq")
    assert (m[0].a0.value, m[0].a1.value) == pytest.approx((-1.5, 0.25), rel=1e-9)


def _gaussian_image():
    from swiftfit.components.components2d import Gaussian2D

    y, x = np.mgrid[-10:10:40j, -10:10:40j]
    truth = Gaussian2D(A=1.0, centre_x=-5.0, centre_y=-5.0, sigma_x=1.0, sigma_y=2.0)
    s = hs.signals.Signal2D(truth.function(x, y))
    s.axes_manager[0].offset = s.axes_manager[1].offset = -10.0
    s.axes_manager[0].scale = s.axes_manager[1].scale = 20 / 39
    m = s.create_model()
    m.append(Gaussian2D(A=0.8, centre_x=-4.5, centre_y=-4.5, sigma_x=1.2, sigma_y=1.8))
    return m


def test_model2d_analytical_gradients_and_errors():
    # HyperSpy: Model2D has no analytical gradients (ValueError) and a scipy minimizer gives no
    # standard errors (p_std None); ours uses the components' gradients and gives the errors
    m = _gaussian_image()
    out = m.fit(optimizer="L-BFGS-B", grad="analytical")
    assert out.success
    g = m[0]
    assert (g.centre_x.value, g.centre_y.value, g.sigma_x.value, g.sigma_y.value) == pytest.approx(
        (-5.0, -5.0, 1.0, 2.0), abs=1e-4)
    assert m.p_std is not None and np.isfinite(m.p_std).all()


def test_lm_fits_poisson_likelihood():
    # HyperSpy's "lm" refuses loss_function="ML-poisson" (NotImplementedError); ours minimises the
    # Poisson deviance: for a constant model the estimate is the mean count, exactly
    counts = np.random.default_rng(4).poisson(7.0, size=200).astype(float)
    m = hs.signals.Signal1D(counts).create_model()
    m.append(Offset(offset=1.0))
    m.fit(optimizer="lm", loss_function="ML-poisson")
    assert m[0].offset.value == pytest.approx(counts.mean(), rel=1e-7)


def test_as_signal_of_unset_maps_and_custom_components():
    # HyperSpy's as_signal refuses maps with positions never set (ValueError) and lazy output for a
    # component without `function_nd`; here every component has function_nd and the maps hold the
    # values they were given
    from swiftfit.component import Component

    class Line(Component):
        def __init__(self):
            Component.__init__(self, ("p1", "p2"))
            self.p1.value, self.p2.value = 1.0, 2.0

        def function(self, x):
            return self.p1.value + x * self.p2.value

    s = hs.signals.Signal1D(np.zeros((2, 2, 5)))
    m = s.create_model()
    m.append(Line())
    assert not m[0].p1.map["is_set"].any()
    out = m.as_signal(out_of_range_to_nan=False, lazy_output=True).compute()
    np.testing.assert_allclose(out.data, np.broadcast_to(1 + 2 * np.arange(5.0), (2, 2, 5)))
