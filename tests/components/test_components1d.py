"""Closed-form properties, defaults, estimators and bad input of the 1-D components."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from swiftfit.components import components1d as c1d

SQRT2PI = math.sqrt(2 * math.pi)
SIGMA2FWHM = 2 * math.sqrt(2 * math.log(2))


def _trapz(y, x):
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


# ------------------------------------------------------------- closed forms
def test_gaussian_integrates_to_A():
    g = c1d.Gaussian(A=3.7, sigma=0.8, centre=1.3)
    x = np.linspace(1.3 - 12 * 0.8, 1.3 + 12 * 0.8, 20001)
    assert abs(_trapz(g.function(x), x) - 3.7) <= 1e-8 * 3.7


def test_gaussian_fwhm_and_height():
    g = c1d.Gaussian(A=2.0, sigma=1.5, centre=-0.5)
    assert g.fwhm == pytest.approx(SIGMA2FWHM * 1.5, rel=1e-15)
    # half maximum is reached at centre +- fwhm/2
    peak = float(g.function(-0.5))
    assert float(g.function(-0.5 + g.fwhm / 2)) == pytest.approx(peak / 2, rel=1e-12)
    assert g.height == pytest.approx(peak, rel=1e-14)
    g.fwhm = 3.0
    assert g.sigma.value == pytest.approx(3.0 / SIGMA2FWHM, rel=1e-15)
    g.height = 4.0
    assert float(g.function(-0.5)) == pytest.approx(4.0, rel=1e-14)
    assert g.A.value == pytest.approx(4.0 * g.sigma.value * SQRT2PI, rel=1e-15)


def test_gaussianhf_is_the_same_curve_as_gaussian():
    x = np.linspace(-10, 10, 2001)
    hf = c1d.GaussianHF(height=2.5, fwhm=1.7, centre=0.4)
    sigma = 1.7 / SIGMA2FWHM
    g = c1d.Gaussian(A=2.5 * sigma * SQRT2PI, sigma=sigma, centre=0.4)
    np.testing.assert_allclose(hf.function(x), g.function(x), rtol=1e-12, atol=1e-15)
    assert hf.sigma == pytest.approx(sigma, rel=1e-15)
    assert hf.A == pytest.approx(g.A.value, rel=1e-14)
    assert hf.integral == pytest.approx(_trapz(hf.function(x), x), rel=1e-8)
    hf.A = 1.0
    assert hf.height.value == pytest.approx(1.0 / (sigma * SQRT2PI), rel=1e-14)
    hf.sigma = 2.0
    assert hf.fwhm.value == pytest.approx(2.0 * SIGMA2FWHM, rel=1e-15)


def test_lorentzian_integral_fwhm_height():
    lo = c1d.Lorentzian(A=5.0, gamma=0.7, centre=2.0)
    L = 1e4 * 0.7
    x = np.linspace(2.0 - L, 2.0 + L, 2_000_001)
    integral = _trapz(lo.function(x), x)
    exact = 5.0 * 2 / np.pi * np.arctan(L / 0.7)  # the truncated integral
    assert integral == pytest.approx(exact, rel=1e-8)
    assert integral == pytest.approx(5.0, rel=1e-4)
    assert lo.fwhm == pytest.approx(1.4)
    assert float(lo.function(2.0 + 0.7)) == pytest.approx(lo.height / 2, rel=1e-14)
    lo.height = 1.0
    assert float(lo.function(2.0)) == pytest.approx(1.0, rel=1e-14)
    lo.fwhm = 3.0
    assert lo.gamma.value == 1.5


def test_voigt_limits():
    """gamma -> 0 gives the Gaussian (exactly at 0, within 1e-7 of the peak at
    gamma = 1e-9); sigma -> 0 gives the Lorentzian (within 1e-6 of the peak at
    sigma = 1e-4: the difference is O(sigma^2 / gamma^2))."""
    x = np.linspace(-8, 8, 1601)
    g = c1d.Gaussian(A=2.0, sigma=1.1, centre=0.3)
    v0 = c1d.Voigt(area=2.0, centre=0.3, gamma=0.0, sigma=1.1)
    np.testing.assert_allclose(v0.function(x), g.function(x), rtol=0, atol=1e-13 * g.height)
    v = c1d.Voigt(area=2.0, centre=0.3, gamma=1e-9, sigma=1.1)
    np.testing.assert_allclose(v.function(x), g.function(x), rtol=0, atol=1e-7 * g.height)
    lo = c1d.Lorentzian(A=2.0, gamma=0.9, centre=0.3)
    v = c1d.Voigt(area=2.0, centre=0.3, gamma=0.9, sigma=1e-4)
    np.testing.assert_allclose(v.function(x), lo.function(x), rtol=0, atol=1e-6 * lo.height)


def test_voigt_area_and_widths():
    v = c1d.Voigt(area=3.0, centre=0.0, gamma=0.5, sigma=0.8)
    x = np.linspace(-2000, 2000, 400001)
    tail = 2 * 3.0 / np.pi * (np.pi / 2 - np.arctan(2000 / 0.5))  # Lorentzian tail beyond |x| > 2000
    assert _trapz(v.function(x), x) + tail == pytest.approx(3.0, rel=1e-6)
    assert v.lwidth == 1.0
    v.gwidth = 2.0
    assert v.sigma.value == pytest.approx(2.0 / SIGMA2FWHM)
    assert v.FWHM == pytest.approx(2.0)


def test_split_voigt_and_skew_normal_integrals():
    x = np.linspace(-60, 60, 240001)
    sv = c1d.SplitVoigt(A=2.0, sigma1=0.5, sigma2=1.5, fraction=0.0, centre=0.0)
    assert _trapz(sv.function(x), x) == pytest.approx(2.0, rel=1e-8)
    sn = c1d.SkewNormal(x0=0.5, A=2.0, scale=1.3, shape=3.0)
    assert _trapz(sn.function(x), x) == pytest.approx(2.0 * 1.3, rel=1e-8)
    # mean and variance properties agree with the numerical moments
    y = sn.function(x)
    mean = _trapz(x * y, x) / _trapz(y, x)
    assert sn.mean == pytest.approx(mean, rel=1e-8)
    assert sn.variance == pytest.approx(_trapz((x - mean) ** 2 * y, x) / _trapz(y, x), rel=1e-7)
    assert abs(sn.mode - x[np.argmax(y)]) < 0.02


def test_erf_arctan_heaviside_logistic_values():
    assert float(c1d.Erf(A=2.0, sigma=1.0, origin=0.0).function(1e3)) == pytest.approx(1.0)
    assert float(c1d.Arctan(A=1.0, k=2.0, x0=0.0).function(1e9)) == pytest.approx(np.pi / 2)
    h = c1d.HeavisideStep(A=3.0, n=1.0)
    assert h.function(np.array([0.0, 1.0, 2.0])).tolist() == [0.0, 1.5, 3.0]
    lg = c1d.Logistic(a=2.0, b=1.0, c=5.0, origin=1.0)
    assert float(lg.function(1.0)) == pytest.approx(1.0)
    # very steep: no overflow, limits exact
    with np.errstate(all="raise", under="ignore"):
        steep = c1d.Logistic(a=1.0, b=3.0, c=50.0, origin=0.0)
        y = steep.function(np.array([-1e3, 1e3]))
        steep.gradients(np.array([-1e3, 1e3]), a=1.0, b=3.0, c=50.0, origin=0.0)
    assert y[0] < 1e-250 and y[1] == 1.0


def test_polynomial_order_one():
    p = c1d.Polynomial(order=1, a0=2.0, a1=3.0)
    assert [q.name for q in p.parameters] == ["a0", "a1"]
    assert p.order == 1
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(p.function(x), 2.0 + 3.0 * x)
    assert all(q.linear for q in p.parameters)
    p0 = c1d.Polynomial(order=0, a0=4.0)
    np.testing.assert_array_equal(p0.function(x), [4.0, 4.0, 4.0])
    assert [q.name for q in c1d.Polynomial().parameters] == ["a0", "a1", "a2"]


def test_powerlaw_rc_exponential_bleasdale_see_plasmon_values():
    x = np.array([-1.0, 0.5, 2.0])
    pl = c1d.PowerLaw(A=8.0, r=3.0, origin=0.0, left_cutoff=1.0)
    np.testing.assert_array_equal(pl.function(x), [0.0, 0.0, 1.0])
    rc = c1d.RC(Vmax=2.0, V0=1.0, tau=1.0)
    assert float(rc.function(1.0)) == pytest.approx(1.0 + 2.0 * (1 - np.exp(-1.0)))
    assert float(c1d.Exponential(A=2.0, tau=0.5).function(1.0)) == pytest.approx(2.0 * np.exp(-2.0))
    bl = c1d.Bleasdale(a=1.0, b=1.0, c=0.5)
    np.testing.assert_array_equal(bl.function(np.array([-3.0, -1.0, 1.0])), [0.0, 0.0, 0.25])
    see = c1d.SEE(A=2.0, Phi=1.0, B=1.0)
    np.testing.assert_allclose(see.function(np.array([0.0, 1.0, 2.0])), [0.0, 0.0, 2.0 / 16])
    vp = c1d.VolumePlasmonDrude(intensity=2.0, plasmon_energy=10.0, fwhm=2.0)
    E = np.array([-1.0, 0.0, 10.0])
    np.testing.assert_allclose(vp.function(E), [0.0, 0.0, 2.0 * 100 * 10 * 2 / (10 * 2) ** 2])


def test_doniach_alpha_zero_is_lorentzian_shape():
    d = c1d.Doniach(centre=1.0, A=2.0, sigma=0.5, alpha=0.0)
    lo = c1d.Lorentzian(A=1.0, gamma=0.5, centre=1.0)
    x = np.linspace(-5, 5, 101)
    # f = A sigma / (sigma^2 + u^2) = A * pi * Lorentzian(gamma = sigma)
    np.testing.assert_allclose(d.function(x), 2.0 * np.pi * lo.function(x), rtol=1e-12)
    d.alpha.value = 0.3
    x = np.linspace(-3, 5, 80001)
    assert abs(x[np.argmax(d.function(x))] - 1.0) < 0.1  # maximum near centre (HyperSpy's shift)


def test_scalable_fixed_pattern():
    x = np.linspace(-10, 10, 201)
    y = np.exp(-0.5 * x**2)
    sfp = c1d.ScalableFixedPattern((x, y), yscale=2.0, xscale=1.0, shift=0.0)
    np.testing.assert_allclose(sfp.function(x), 2.0 * y, rtol=1e-12, atol=1e-15)
    sfp.shift.value = 1.0
    sfp.xscale.value = 2.0
    xs = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(sfp.function(xs), 2.0 * np.exp(-0.5 * (2 * xs - 1.0) ** 2), atol=1e-5)
    assert sfp.function(np.array([20.0, -20.0])).tolist() == [0.0, 0.0]  # 0 outside the pattern
    assert sfp.xscale.free and sfp.shift.free  # HyperSpy: free when interpolating
    sfp.interpolate = False
    assert not sfp.xscale.free and not sfp.shift.free
    np.testing.assert_array_equal(sfp.function(x), 2.0 * y)


def test_scalable_fixed_pattern_from_a_signal_like_object():
    x = np.linspace(0, 10, 101)
    sig = _FakeSignal(np.sin(x) + 2, x, binned=True)
    sfp = c1d.ScalableFixedPattern(sig)
    np.testing.assert_allclose(sfp.function(x), (np.sin(x) + 2) / 0.1, rtol=1e-12)


# ---------------------------------------------------------- flags, defaults
LINEAR = {
    "Arctan": {"A"},
    "Bleasdale": set(),
    "Doniach": {"A"},
    "Erf": {"A"},
    "Exponential": {"A"},
    "Gaussian": {"A"},
    "GaussianHF": {"height"},
    "HeavisideStep": {"A"},
    "Logistic": {"a"},
    "Lorentzian": {"A"},
    "Offset": {"offset"},
    "PowerLaw": {"A"},
    "RC": {"V0", "Vmax"},
    "SEE": {"A"},
    "SkewNormal": {"A"},
    "SplitVoigt": {"A", "fraction"},
    "Voigt": {"area"},
    "VolumePlasmonDrude": {"intensity"},
}
GENERIC = {
    "Arctan": dict(A=1.3, k=0.7, x0=0.2),
    "Bleasdale": dict(a=1.2, b=0.8, c=1.7),
    "Doniach": dict(A=1.1, alpha=0.3, centre=0.2, sigma=0.9),
    "Erf": dict(A=1.3, origin=0.2, sigma=0.8),
    "Exponential": dict(A=1.3, tau=1.7),
    "Gaussian": dict(A=1.3, centre=0.2, sigma=0.8),
    "GaussianHF": dict(centre=0.2, fwhm=1.3, height=1.1),
    "HeavisideStep": dict(A=1.3, n=0.21),
    "Logistic": dict(a=1.3, b=1.2, c=0.9, origin=0.2),
    "Lorentzian": dict(A=1.3, centre=0.2, gamma=0.8),
    "Offset": dict(offset=1.3),
    "PowerLaw": dict(A=1.3, left_cutoff=0.53, origin=-0.4, r=2.2),
    "RC": dict(V0=0.3, Vmax=1.3, tau=1.7),
    "SEE": dict(A=1.3, B=0.7, Phi=0.2),
    "SkewNormal": dict(A=1.3, scale=0.9, shape=1.5, x0=0.2),
    "SplitVoigt": dict(A=1.3, sigma1=0.7, sigma2=1.2, centre=0.2, fraction=0.4),
    "Voigt": dict(area=1.3, centre=0.2, gamma=0.5, sigma=0.8),
    "VolumePlasmonDrude": dict(intensity=1.3, plasmon_energy=2.2, fwhm=0.8),
}


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_linear_flags_are_exactly_the_parameters_with_zero_second_derivative(name):
    comp = getattr(c1d, name)(**GENERIC[name])
    assert {p.name for p in comp.parameters if p.linear} == LINEAR[name]
    x = np.linspace(-3, 3, 121) + 0.0123
    vals = [p.value for p in comp.parameters]
    cls = type(comp)
    for k, p in enumerate(comp.parameters):
        h = 0.37
        fs = []
        for d in (-h, 0.0, h):
            v = list(vals)
            v[k] += d
            fs.append(np.asarray(cls.function(x, *v), dtype=float))
        second = fs[0] - 2 * fs[1] + fs[2]
        size = max(np.max(np.abs(f)) for f in fs)
        if p.linear:
            assert np.max(np.abs(second)) <= 1e-12 * size, f"{name}.{p.name} flagged linear but curves"
        else:
            assert np.max(np.abs(second)) > 1e-6 * size, f"{name}.{p.name} is linear but not flagged"


def test_linear_flags_pattern_and_polynomial():
    sfp = c1d.ScalableFixedPattern((np.linspace(0, 1, 5), np.arange(5.0)))
    assert [p.name for p in sfp.parameters if p.linear] == ["yscale"]
    assert all(p.linear for p in c1d.Polynomial(order=4).parameters)


def test_hyperspy_defaults_and_bounds():
    g = c1d.Gaussian()
    assert (g.A.value, g.sigma.value, g.centre.value) == (1.0, 1.0, 0.0)
    assert (g.A.bmin, g.sigma.bmin) == (0.0, None)  # seed 000 prints sigma Min None
    pl = c1d.PowerLaw()
    assert (pl.A.value, pl.r.value, pl.origin.value, pl.left_cutoff.value) == (10e5, 3.0, 0.0, 0.0)
    assert not pl.origin.free and not pl.left_cutoff.free and pl.A.free and pl.r.free
    assert (pl.r.bmin, pl.r.bmax) == (1.0, 5.0)
    v = c1d.Voigt()
    assert (v.centre.value, v.area.value, v.gamma.value, v.sigma.value) == (10.0, 1.0, 0.2, 0.1)
    d = c1d.Doniach()
    assert (d.centre.value, d.A.value, d.sigma.value, d.alpha.value) == (0.0, 1.0, 1.0, 0.5)
    assert c1d.Arctan().x0.value == 1.0
    assert c1d.SplitVoigt().fraction.bmax == 1.0
    # positional arguments follow HyperSpy's signatures
    g = c1d.Gaussian(10.0, 2.0, 5.0)
    assert (g.A.value, g.sigma.value, g.centre.value) == (10.0, 2.0, 5.0)
    # HyperSpy-only backend keywords are accepted
    c1d.Gaussian(module="numexpr")
    c1d.PowerLaw(module=None, compute_gradients=False)


def test_instance_function_equals_static_function_with_explicit_values():
    x = np.linspace(-3, 3, 31)
    for name, vals in GENERIC.items():
        comp = getattr(c1d, name)(**vals)
        explicit = type(comp).function(x, *[vals[p.name] for p in comp.parameters])
        np.testing.assert_array_equal(comp.function(x), explicit, err_msg=name)
        # and the explicit call on the instance ignores the current values
        np.testing.assert_array_equal(comp.function(x, *[vals[p.name] for p in comp.parameters]), explicit)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", sorted(GENERIC))
def test_unknown_keyword_is_a_value_error_naming_it(name):
    with pytest.raises(ValueError, match="not_a_parameter"):
        getattr(c1d, name)(not_a_parameter=1.0)


def test_polynomial_bad_order():
    with pytest.raises(ValueError, match="order"):
        c1d.Polynomial(order=-1)
    with pytest.raises(TypeError, match="order"):
        c1d.Polynomial(order=1.5)
    with pytest.raises(ValueError, match="a3"):
        c1d.Polynomial(order=2, a3=1.0)


def test_bad_values_and_patterns():
    with pytest.raises(ValueError):
        c1d.Gaussian(A=np.nan)
    with pytest.raises(TypeError):
        c1d.Gaussian(sigma="wide")
    with pytest.raises(ValueError, match="pattern"):
        c1d.ScalableFixedPattern((np.arange(5.0), np.arange(4.0)))
    with pytest.raises(ValueError, match="distinct"):
        c1d.ScalableFixedPattern((np.array([0.0, 1.0, 1.0]), np.arange(3.0)))
    with pytest.raises(TypeError):
        c1d.ScalableFixedPattern(np.arange(5.0))
    sfp = c1d.ScalableFixedPattern((np.arange(5.0), np.arange(5.0)), interpolate=False)
    with pytest.raises(ValueError, match="5 points"):
        sfp.function(np.arange(7.0))


def test_see_sigma_keyword_warns_and_is_ignored():
    with pytest.warns(UserWarning, match="sigma"):
        s = c1d.SEE(sigma=0.5)
    assert [p.name for p in s.parameters] == ["A", "Phi", "B"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c1d.SEE(sigma=0)


# ---------------------------------------------------------------- estimates
class _FakeAxis:
    def __init__(self, axis, binned=False):
        self.axis = np.asarray(axis, dtype=float)
        self.is_binned = binned
        self.is_uniform = True
        self.scale = float(self.axis[1] - self.axis[0])

    def value2index(self, v):
        return int(np.argmin(np.abs(self.axis - v)))


class _FakeAxesManager:
    def __init__(self, axis, nav_shape, index):
        self.signal_axes = (axis,)
        self._navigation_shape_in_array = tuple(nav_shape)
        self._array_indices = tuple(index)


class _FakeSignal:
    """Just the attributes estimate_parameters reads (see the component docs)."""

    def __init__(self, data, x, binned=False, index=None):
        self.data = np.asarray(data, dtype=float)
        nav = self.data.shape[:-1]
        self.axes_manager = _FakeAxesManager(
            _FakeAxis(x, binned), nav, (0,) * len(nav) if index is None else index
        )


def _gaussian_stack(x, A, sigma, centre):
    return A[..., None] / (sigma[..., None] * SQRT2PI) * np.exp(
        -0.5 * ((x - centre[..., None]) / sigma[..., None]) ** 2
    )


def test_gaussian_estimate_current_pixel_within_1_percent():
    x = np.linspace(-10, 14, 481)
    g = c1d.Gaussian()
    data = c1d.Gaussian.function(x, A=250.0, centre=2.0, sigma=1.3)
    assert g.estimate_parameters(_FakeSignal(data, x), -10, 14, only_current=True) is True
    assert g.A.value == pytest.approx(250.0, rel=1e-2)
    assert g.sigma.value == pytest.approx(1.3, rel=1e-2)
    assert g.centre.value == pytest.approx(2.0, rel=1e-2)


def test_gaussian_estimate_all_pixels_into_maps():
    x = np.linspace(-15, 15, 601)
    rng = np.random.default_rng(3)
    A = rng.uniform(10, 100, (5, 7))
    sigma = rng.uniform(0.5, 2.0, (5, 7))
    centre = rng.uniform(-3, 3, (5, 7))
    sig = _FakeSignal(_gaussian_stack(x, A, sigma, centre), x, index=(2, 4))
    g = c1d.Gaussian()
    assert g.estimate_parameters(sig, -15, 15, only_current=False) is True
    for p, truth in ((g.A, A), (g.sigma, sigma), (g.centre, centre)):
        assert p.map.shape == (5, 7)
        assert p.map["is_set"].all()
        np.testing.assert_allclose(p.map["values"], truth, rtol=1e-2, atol=1e-3)
    # only_current picks the pixel at _array_indices
    g2 = c1d.Gaussian()
    g2.estimate_parameters(sig, -15, 15, only_current=True)
    assert g2.centre.value == pytest.approx(centre[2, 4], abs=1e-3)


def test_gaussian_estimate_binned_divides_by_the_bin_width():
    x = np.linspace(-10, 10, 201)  # scale 0.1
    counts = c1d.Gaussian.function(x, A=40.0, centre=0.0, sigma=1.0) * 0.1
    g = c1d.Gaussian()
    g.estimate_parameters(_FakeSignal(counts, x, binned=True), -10, 10, only_current=True)
    assert g.A.value == pytest.approx(40.0, rel=1e-2)


def test_gaussianhf_voigt_splitvoigt_estimates():
    x = np.linspace(-12, 12, 961)
    data = c1d.Gaussian.function(x, A=30.0, centre=1.0, sigma=1.2)
    sig = _FakeSignal(data, x)
    hf = c1d.GaussianHF()
    assert hf.estimate_parameters(sig, -12, 12, only_current=True)
    assert hf.height.value == pytest.approx(30.0 / (1.2 * SQRT2PI), rel=1e-2)
    assert hf.fwhm.value == pytest.approx(1.2 * SIGMA2FWHM, rel=1e-2)
    v = c1d.Voigt()
    assert v.estimate_parameters(sig, -12, 12, only_current=True)
    assert (v.area.value, v.centre.value, v.sigma.value) == pytest.approx((30.0, 1.0, 1.2), rel=1e-2)
    sv = c1d.SplitVoigt()
    assert sv.estimate_parameters(sig, -12, 12, only_current=True)
    assert (sv.A.value, sv.centre.value, sv.sigma1.value) == pytest.approx((30.0, 1.0, 1.2), rel=1e-2)


def test_lorentzian_estimate():
    x = np.linspace(-200, 200, 40001)
    data = c1d.Lorentzian.function(x, A=12.0, centre=3.0, gamma=1.5)
    lo = c1d.Lorentzian()
    assert lo.estimate_parameters(_FakeSignal(data, x), -200, 200, only_current=True)
    assert lo.centre.value == pytest.approx(3.0, abs=0.01)
    assert lo.gamma.value == pytest.approx(1.5, rel=3e-2)
    assert lo.A.value == pytest.approx(12.0, rel=3e-2)


def test_skewnormal_and_doniach_estimates_are_close():
    x = np.linspace(-15, 25, 4001)
    data = c1d.SkewNormal.function(x, A=4.0, scale=2.0, shape=3.0, x0=1.0)
    sn = c1d.SkewNormal()
    assert sn.estimate_parameters(_FakeSignal(data, x), -15, 25, only_current=True)
    assert (sn.A.value, sn.scale.value, sn.shape.value, sn.x0.value) == pytest.approx(
        (4.0, 2.0, 3.0, 1.0), rel=5e-2
    )
    d_true = c1d.Doniach(centre=2.0, A=5.0, sigma=0.8, alpha=0.2)
    d = c1d.Doniach(alpha=0.2)
    assert d.estimate_parameters(_FakeSignal(d_true.function(x), x), -15, 25, only_current=True)
    assert d.centre.value == pytest.approx(2.0, abs=0.02)
    assert d.sigma.value == pytest.approx(0.8, rel=2e-2)
    assert d.A.value == pytest.approx(5.0, rel=2e-2)


def test_powerlaw_estimate_recovers_A_and_r_within_1_percent():
    x = np.linspace(100, 400, 601)
    rng = np.random.default_rng(5)
    A = rng.uniform(1e5, 1e7, (3, 4))
    r = rng.uniform(2, 4.5, (3, 4))
    data = A[..., None] * x ** (-r[..., None])
    pl = c1d.PowerLaw()
    assert pl.estimate_parameters(_FakeSignal(data, x), 100, 400, only_current=False)
    np.testing.assert_allclose(pl.A.map["values"], A, rtol=1e-2)
    np.testing.assert_allclose(pl.r.map["values"], r, rtol=1e-2)
    assert pl.A.map["is_set"].all() and pl.r.map["is_set"].all()
    one = c1d.PowerLaw()
    assert one.estimate_parameters(_FakeSignal(data[1, 2], x), 120, 380, only_current=True)
    assert one.A.value == pytest.approx(A[1, 2], rel=1e-2)
    assert one.r.value == pytest.approx(r[1, 2], rel=1e-2)
    # with an origin and a binned axis
    shifted = c1d.PowerLaw(origin=20.0)
    counts = 5e6 * (x - 20.0) ** -3.0 * 0.5
    assert shifted.estimate_parameters(_FakeSignal(counts, x, binned=True), 100, 400, only_current=True)
    assert shifted.A.value == pytest.approx(5e6, rel=1e-2)
    assert shifted.r.value == pytest.approx(3.0, rel=1e-2)
    # no power law in the data: nothing is set, False is returned
    bad = c1d.PowerLaw()
    assert bad.estimate_parameters(_FakeSignal(-np.ones_like(x), x), 100, 400, only_current=True) is False
    assert bad.A.value == 10e5


def test_offset_polynomial_exponential_estimates():
    x = np.linspace(0, 5, 101)
    rng = np.random.default_rng(1)
    coeffs = rng.uniform(-2, 2, (4, 3, 3))  # (nav..., order+1)
    data = coeffs[..., 0:1] + coeffs[..., 1:2] * x + coeffs[..., 2:3] * x**2
    p = c1d.Polynomial(order=2)
    assert p.estimate_parameters(_FakeSignal(data, x), 0, 5)
    for i in range(3):
        np.testing.assert_allclose(p.parameters[i].map["values"], coeffs[..., i], atol=1e-9)
    o = c1d.Offset()
    assert o.estimate_parameters(_FakeSignal(data, x), 1, 2)
    mask = (x >= 1) & (x <= 2)
    np.testing.assert_allclose(o.offset.map["values"], data[..., mask].mean(-1), rtol=1e-12)
    e = c1d.Exponential()
    assert e.estimate_parameters(_FakeSignal(3.0 * np.exp(-x / 1.7), x), 0, 5, only_current=True)
    assert (e.A.value, e.tau.value) == pytest.approx((3.0, 1.7), rel=1e-9)


def test_estimate_with_the_real_signal1d_when_available():
    signals = pytest.importorskip("swiftfit.signals")
    x = np.arange(-10, 10, 0.01)
    data = np.zeros((3, 4, x.size))
    data[:] = c1d.Gaussian.function(x, A=5.0, centre=1.0, sigma=0.7)
    try:
        s = signals.Signal1D(data)
        s.axes_manager[-1].offset = -10
        s.axes_manager[-1].scale = 0.01
    except Exception as exc:  # pragma: no cover - depends on the signals package
        pytest.skip(f"Signal1D not usable here: {exc!r}")
    g = c1d.Gaussian()
    assert g.estimate_parameters(s, -10, 10, only_current=False)
    np.testing.assert_allclose(g.A.map["values"], 5.0, rtol=1e-2)
    np.testing.assert_allclose(g.centre.map["values"], 1.0, atol=1e-2)
    np.testing.assert_allclose(g.sigma.map["values"], 0.7, rtol=1e-2)
