"""Objective profiles, MINOS-like intervals, contours and surfaces.

Truths: iminuit's ``minos`` and ``mncontour`` run directly on the same
negative log-likelihood (a seeded Poisson Gaussian peak on a flat
background), and the exactly parabolic profile of a linear model with known
Gaussian noise (interval = covariance std).
"""

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator
from scipy.stats import chi2

import swiftfit as hs
from swiftfit.losses import PoissonML
from swiftfit.stats import confidence, stat_contour, stat_profile, stat_surface

iminuit = pytest.importorskip("iminuit")


def peak_model(seed=1):
    rng = np.random.default_rng(seed)
    x = np.arange(0, 100, 1.0)
    data = rng.poisson(50 * np.exp(-((x - 48) ** 2) / (2 * 6**2)) + 5).astype(float)
    s = hs.signals.Signal1D(data)
    m = s.create_model()
    g = hs.model.components1D.Gaussian()
    off = hs.model.components1D.Offset()
    m.extend([g, off])
    g.A.value, g.centre.value, g.sigma.value = 600, 50, 5
    off.offset.value = 4
    m.fit(loss_function="ML-poisson")
    return m, g, off


@pytest.fixture(scope="module")
def peak():
    m, g, off = peak_model()
    out = m.fit_output
    problem = m._problem([()])
    loss = PoissonML()

    def nll(theta):
        return float(loss.value(problem, np.asarray(theta, dtype=float)[None, :])[0])

    mi = iminuit.Minuit(nll, np.array(out.x), name=list(out.parameter_names))
    mi.errordef = 0.5
    mi.tol = 1e-6
    mi.migrad()
    mi.minos()
    return m, g, off, mi


def snapshot(m):
    return [(p.map.copy(), p.free) for c in m for p in c.parameters]


def assert_same(m, snap):
    for (mp, free), p in zip(snap, [p for c in m for p in c.parameters]):
        assert p.free == free
        for field in mp.dtype.names:
            np.testing.assert_array_equal(p.map[field], mp[field])


def test_minimum_agrees_with_iminuit(peak):
    m, _, _, mi = peak
    np.testing.assert_allclose(np.array(mi.values), m.fit_output.x, rtol=1e-5)
    np.testing.assert_allclose(mi.fval, m.fit_output.fun, rtol=1e-9)


@pytest.mark.parametrize("name", ["Gaussian.A", "Gaussian.centre", "Gaussian.sigma", "Offset.offset"])
def test_confidence_equals_minos(peak, name):
    m, _, _, mi = peak
    snap = snapshot(m)
    out = confidence(m, name)
    assert out["success"] and out["nfev"] > 0
    me = mi.merrors[name]
    np.testing.assert_allclose(out["errp"], me.upper, rtol=0.01)
    np.testing.assert_allclose(out["errn"], me.lower, rtol=0.01)
    assert_same(m, snap)


def test_confidence_accepts_parameter_objects_and_sigma(peak):
    m, g, _, _ = peak
    one = confidence(m, g.centre)
    two = confidence(m, g.centre, sigma=2)
    assert one["parameter"] == "Gaussian.centre"
    # nearly parabolic: the 2σ interval is about twice the 1σ one
    np.testing.assert_allclose(two["errp"], 2 * one["errp"], rtol=0.05)
    np.testing.assert_allclose(two["errn"], 2 * one["errn"], rtol=0.05)


def test_profile_rises_by_errordef_at_the_interval(peak):
    m, g, _, _ = peak
    ci = confidence(m, g.sigma)
    prof = stat_profile(m, g.sigma, values=[ci["lower"], ci["best"], ci["upper"]], reoptimize=True)
    np.testing.assert_allclose(prof["stat"] - m.fit_output.fun, [0.5, 0.0, 0.5], atol=1e-6)


def test_stat_profile_default_scan(peak):
    m, g, _, _ = peak
    snap = snapshot(m)
    prof = stat_profile(m, g.centre, n_values=7, n_sigma=2)
    assert prof["values"].shape == (7,) == prof["stat"].shape
    np.testing.assert_allclose(prof["values"][3], g.centre.value)
    np.testing.assert_allclose(prof["stat"][3], m.fit_output.fun, rtol=1e-12)
    # a slice lies above the profile, both above the minimum
    prof_re = stat_profile(m, g.centre, values=prof["values"], reoptimize=True)
    assert (prof["stat"] >= prof_re["stat"] - 1e-9).all()
    assert (prof_re["stat"] >= m.fit_output.fun - 1e-9).all()
    # ±2σ of a nearly parabolic profile: about 4·errordef above the minimum
    np.testing.assert_allclose(prof_re["stat"][[0, -1]] - m.fit_output.fun, 2.0, rtol=0.1)
    assert_same(m, snap)


def _radii(xs, ys, centre, scale, angles):
    """Radius of a closed curve along ``angles`` in scaled coordinates."""
    u = (np.asarray(xs) - centre[0]) / scale[0]
    v = (np.asarray(ys) - centre[1]) / scale[1]
    phi = np.mod(np.arctan2(v, u), 2 * np.pi)
    r = np.hypot(u, v)
    order = np.argsort(phi)
    return np.interp(angles, phi[order], r[order], period=2 * np.pi)


def test_contour_on_mncontour(peak):
    m, g, _, mi = peak
    snap = snapshot(m)
    out = stat_contour(m, g.centre, g.sigma, numpoints=12)
    assert out["success"]
    xs, ys = out["Gaussian.centre"], out["Gaussian.sigma"]
    assert xs.shape == ys.shape == (12,)
    ref = np.asarray(mi.mncontour("Gaussian.centre", "Gaussian.sigma", cl=chi2.cdf(1, 2), size=60))
    centre = np.array([g.centre.value, g.sigma.value])
    scale = np.array([mi.errors["Gaussian.centre"], mi.errors["Gaussian.sigma"]])
    angles = np.mod(np.arctan2((ys - centre[1]) / scale[1], (xs - centre[0]) / scale[0]), 2 * np.pi)
    ours = np.hypot((xs - centre[0]) / scale[0], (ys - centre[1]) / scale[1])
    theirs = _radii(ref[:, 0], ref[:, 1], centre, scale, angles)
    np.testing.assert_allclose(ours, theirs, rtol=0.02)
    # the contour's extent is the MINOS interval of each parameter
    np.testing.assert_allclose(xs.max() - centre[0], mi.merrors["Gaussian.centre"].upper, rtol=0.05)
    assert_same(m, snap)


def test_surface_level_set_matches_contour(peak):
    m, g, _, _ = peak
    snap = snapshot(m)
    contour = stat_contour(m, g.centre, g.sigma, numpoints=8)
    xs, ys = contour["Gaussian.centre"], contour["Gaussian.sigma"]
    cx, cy = g.centre.value, g.sigma.value
    xv = np.linspace(cx - 1.6 * (cx - xs.min()), cx + 1.6 * (xs.max() - cx), 17)
    yv = np.linspace(cy - 1.6 * (cy - ys.min()), cy + 1.6 * (ys.max() - cy), 17)
    surf = stat_surface(m, g.centre, g.sigma, xv, yv, reoptimize=True)
    assert surf["stat"].shape == (17, 17)
    rise = surf["stat"] - m.fit_output.fun
    assert rise.min() >= -1e-9
    at_contour = RegularGridInterpolator((xv, yv), rise, method="cubic")(np.stack([xs, ys], axis=1))
    np.testing.assert_allclose(at_contour, 0.5, atol=0.01)
    # without re-optimisation the surface is a slice: never below the profile
    flat = stat_surface(m, g.centre, g.sigma, xv, yv)
    assert (flat["stat"] >= surf["stat"] - 1e-9).all()
    assert_same(m, snap)


# ------------------------------------------------ exactly parabolic profile
def linear_model(seed=4):
    rng = np.random.default_rng(seed)
    x = np.arange(60.0)
    s = hs.signals.Signal1D(3.0 - 0.25 * x + rng.normal(0, 1.5, x.size))
    s.set_noise_variance(1.5**2)
    m = s.create_model()
    p = hs.model.components1D.Polynomial(order=1)
    m.append(p)
    m.fit()
    return m, p


@pytest.mark.parametrize("name", ["a0", "a1"])
def test_linear_model_interval_is_the_std(name):
    m, p = linear_model()
    par = getattr(p, name)
    std = par.std
    out = confidence(m, par)
    assert out["success"]
    np.testing.assert_allclose(out["errp"], std, rtol=1e-6)
    np.testing.assert_allclose(out["errn"], -std, rtol=1e-6)
    out3 = confidence(m, par, sigma=3)
    np.testing.assert_allclose(out3["errp"], 3 * std, rtol=1e-6)
    # the profile is the parabola ((v − best)/std)²
    best = par.value
    v = best + std * np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    prof = stat_profile(m, par, values=v, reoptimize=True)
    np.testing.assert_allclose(prof["stat"] - m.fit_output.fun, ((v - best) / std) ** 2, rtol=1e-6, atol=1e-9)


def test_linear_model_contour_is_the_covariance_ellipse():
    m, p = linear_model()
    out = stat_contour(m, p.a0, p.a1, numpoints=16)
    names = m.fit_output.parameter_names
    cols = [names.index("Polynomial.a0"), names.index("Polynomial.a1")]
    cov = m.covariance[np.ix_(cols, cols)]
    d = np.stack([out["Polynomial.a0"] - p.a0.value, out["Polynomial.a1"] - p.a1.value], axis=1)
    np.testing.assert_allclose(np.einsum("ki,ij,kj->k", d, np.linalg.inv(cov), d), 1.0, rtol=1e-6)


# ------------------------------------------------------------ bad input
def test_bad_inputs_name_the_parameter(peak):
    m, g, off, _ = peak
    snap = snapshot(m)
    stray = hs.model.components1D.Lorentzian()
    with pytest.raises(ValueError, match="Gaussian.nope"):
        confidence(m, "Gaussian.nope")
    with pytest.raises(ValueError, match="not a parameter"):
        stat_profile(m, stray.A)
    with pytest.raises(ValueError, match="Gaussian.centre"):
        stat_contour(m, g.centre, "Gaussian.centre")
    with pytest.raises(ValueError, match="Gaussian.sigma"):
        stat_surface(m, g.sigma, g.sigma, [5.0], [5.0])
    g.sigma.bmin = 1.0
    try:
        with pytest.raises(ValueError, match="Gaussian.sigma.*outside"):
            stat_profile(m, g.sigma, values=[0.5, 5.0])
        with pytest.raises(ValueError, match="Gaussian.sigma.*outside"):
            stat_surface(m, g.centre, g.sigma, [48.0], [0.5])
    finally:
        g.sigma.bmin = None
    off.offset.free = False
    try:
        with pytest.raises(ValueError, match="Offset.offset.*not free"):
            confidence(m, off.offset)
        with pytest.raises(ValueError, match="Offset.offset"):
            stat_contour(m, g.A, off.offset)
    finally:
        off.offset.free = True
    with pytest.raises(ValueError, match="sigma"):
        confidence(m, g.A, sigma=0)
    with pytest.raises(ValueError, match="numpoints"):
        stat_contour(m, g.A, g.sigma, numpoints=2)
    with pytest.raises(ValueError, match="custom loss"):
        confidence(m, g.A, loss_function=lambda model, values, data, weights=None: 0.0)
    assert_same(m, snap)


def test_profile_respects_bounds_at_the_edge(peak):
    """A bound inside the interval: that side is not found (NaN, success False)."""
    m, g, _, _ = peak
    ci = confidence(m, g.sigma)
    g.sigma.bmax = g.sigma.value + 0.5 * ci["errp"]
    try:
        out = confidence(m, g.sigma)
    finally:
        g.sigma.bmax = None
    assert not out["success"] and np.isnan(out["errp"])
    np.testing.assert_allclose(out["errn"], ci["errn"], rtol=1e-6)


# ------------------------------------------------ Model2D at a nav position
def test_model2d_stack_at_current_position_matches_minos():
    rng = np.random.default_rng(7)
    C2 = hs.model.components2D
    x = np.linspace(-5, 5, 24)
    X, Y = np.meshgrid(x, x)
    frames = [rng.poisson(C2.Gaussian2D(A=300 + 50 * k, centre_x=0.3 * k, centre_y=-0.2, sigma_x=1.2,
                                        sigma_y=0.9).function(X, Y) + 2.0) for k in range(3)]
    stack = hs.signals.Signal2D(np.array(frames, dtype=float))
    for i in (1, 2):
        ax = stack.axes_manager[i]
        ax.scale, ax.offset = x[1] - x[0], x[0]
    m = stack.create_model()
    g = C2.Gaussian2D(A=350, centre_x=0.2, centre_y=0, sigma_x=1, sigma_y=1)
    m.extend([g, C2.Offset(offset=1.0)])
    m.assign_current_values_to_all()
    m.axes_manager.indices = (1,)
    m.fit(loss_function="ML-poisson")
    snap = snapshot(m)
    out = m.fit_output
    problem = m._problem([tuple(m.axes_manager._array_indices)])
    loss = PoissonML()
    mi = iminuit.Minuit(lambda t: float(loss.value(problem, np.asarray(t)[None, :])[0]), np.array(out.x),
                        name=list(out.parameter_names))
    mi.errordef = 0.5
    mi.migrad()
    mi.minos("Gaussian2D.centre_x")
    ci = confidence(m, g.centre_x)
    me = mi.merrors["Gaussian2D.centre_x"]
    np.testing.assert_allclose([ci["errp"], ci["errn"]], [me.upper, me.lower], rtol=0.01)
    assert m.axes_manager.indices == (1,)
    assert_same(m, snap)


# ------------------------------------------- scan settings, joint problems
def test_scan_settings_outside_bounds_and_joint_view(peak):
    from swiftfit.errors import InvalidInputError
    from swiftfit.model.joint import JointModel
    from swiftfit.stats.profile import joint_view

    m, g, _, mi = peak
    snap = snapshot(m)
    g.sigma.bmin = 1.0
    g.sigma.scan_min, g.sigma.scan_max = 0.5, 8.0
    try:
        with pytest.raises(InvalidInputError, match="Gaussian.sigma.*scan_min.*outside its bounds"):
            m.stat_profile(g.sigma)
    finally:
        g.sigma.bmin = g.sigma.scan_min = g.sigma.scan_max = None
    # a JointModel of one model is that model: the same interval, named "m0.Gaussian.A"
    view = joint_view(JointModel([m]))
    out = confidence(view, "m0.Gaussian.A", loss_function=PoissonML())
    assert out["parameter"] == "m0.Gaussian.A"
    np.testing.assert_allclose([out["errp"], out["errn"]], [mi.merrors["Gaussian.A"].upper,
                                                            mi.merrors["Gaussian.A"].lower], rtol=0.01)
    assert_same(m, snap)


def test_confidence_after_multifit_uses_the_multifit_loss():
    """A batched multifit leaves no fit_output: the profile must still use its
    loss (here Poisson, errordef 0.5), as a fit() at that pixel would."""
    rng = np.random.default_rng(21)
    x = np.arange(40.0)
    data = rng.poisson(5 + 30 * np.exp(-0.5 * ((x - 20) / 3) ** 2), (3, 40)).astype(float)
    intervals = []
    for how in ("multifit", "fit"):
        s = hs.signals.Signal1D(data)
        m = s.create_model()
        m.extend([hs.model.components1D.Gaussian(A=150, sigma=3, centre=20), hs.model.components1D.Offset(offset=5)])
        m.assign_current_values_to_all()
        if how == "multifit":
            m.multifit(loss_function="ML-poisson")
            m.axes_manager.indices = (1,)
        else:
            m.axes_manager.indices = (1,)
            m.fit(loss_function="ML-poisson")
        intervals.append(confidence(m, m[0].centre))
    assert intervals[0]["errp"] == pytest.approx(intervals[1]["errp"], rel=1e-4)
    assert intervals[0]["errn"] == pytest.approx(intervals[1]["errn"], rel=1e-4)
