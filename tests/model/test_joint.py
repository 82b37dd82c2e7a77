"""JointModel: several datasets fitted together, against stated truths."""

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import InvalidInputError

C1 = hs.model.components1D


# ------------------------------------------------------------ seed 003
def _seed003_data(seed=3):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 2, 150)

    def gauss(x, cen, sigma, amp):
        return amp * np.exp(-(x - cen) ** 2 / (2.0 * sigma**2))

    d_1 = gauss(x, 1, 0.5, 10) + 5 + rng.normal(size=x.size, scale=0.5)
    d_2 = gauss(x, 1, 0.5, 10) + 2.5 + rng.normal(size=x.size, scale=0.5)
    return x, np.array([d_1, d_2])


def _seed003_joint(x, data):
    models, gs = [], []
    for d in data:
        s = hs.signals.Signal1D(d)
        s.axes_manager[-1].scale = x[1] - x[0]
        m = s.create_model()
        g = C1.Expression("amp * exp(-(x - cen)**2 / (2 * sigma**2))", name="gauss", amp=1, cen=0.5, sigma=1)
        g.cen.bmin, g.cen.bmax = 0, 2
        g.sigma.bmin, g.sigma.bmax = 0, 10
        g.amp.bmin, g.amp.bmax = 0, 100
        c = C1.Offset(offset=0.0)
        c.offset.bmin, c.offset.bmax = 0, 100
        m.extend([g, c])
        models.append(m)
        gs.append((g, c))
    for name in ("cen", "sigma", "amp"):
        getattr(gs[1][0], name).twin = getattr(gs[0][0], name)
    return hs.JointModel(models), gs


def test_seed003_joint_model_equals_function_api_and_lmfit():
    """Truth: the same problem through the function API (whose agreement
    with lmfit is tested in tests/api) and lmfit itself."""
    x, data = _seed003_data()
    jm, gs = _seed003_joint(x, data)
    out = jm.fit(bounded=True)
    assert out.success
    assert out.parameter_names == ["m0.gauss.amp", "m0.gauss.cen", "m0.gauss.sigma", "m0.Offset.offset",
                                   "m1.Offset.offset"]

    params = hs.Parameters()
    for i in (1, 2):
        params.add(f"cen_{i}", value=0.5, min=0, max=2)
        params.add(f"sigma_{i}", value=1, min=0, max=10)
        params.add(f"amp_{i}", value=1, min=0, max=100)
        params.add(f"const_{i}", value=0, min=0, max=100)
    for name in ("cen", "sigma", "amp"):
        params[f"{name}_2"].expr = f"{name}_1"

    def objective(p, x, data):
        res = []
        for n in range(2):
            model = p[f"amp_{n+1}"] * np.exp(-(x - p[f"cen_{n+1}"]) ** 2 / (2 * p[f"sigma_{n+1}"] ** 2)) + p[f"const_{n+1}"]
            res.append(data[n] - model)
        return np.concatenate(res)

    res = hs.minimize(objective, params, args=(x, data))
    (g1, c1), (g2, c2) = gs
    ours = [g1.cen, g1.sigma, g1.amp, c1.offset, c2.offset]
    theirs = [res.params[n] for n in ("cen_1", "sigma_1", "amp_1", "const_1", "const_2")]
    np.testing.assert_allclose([p.value for p in ours], [p.value for p in theirs], rtol=1e-8)
    np.testing.assert_allclose([p.std for p in ours], [p.stderr for p in theirs], rtol=1e-6)
    assert g2.cen.value == g1.cen.value and g2.cen.std == pytest.approx(g1.cen.std, rel=1e-12)
    assert out.chisq == pytest.approx(res.chisqr, rel=1e-10)

    lmfit = pytest.importorskip("lmfit")
    lp = lmfit.Parameters()
    for name in params:
        p = params[name]
        lp.add(name, value=p.init_value if p.expr is None else None, min=p.min, max=p.max, expr=p.expr)

    def lobjective(p, x, data):
        v = p.valuesdict()
        return objective(type("P", (), {"__getitem__": lambda self, k: v[k]})(), x, data)

    lres = lmfit.minimize(lobjective, lp, args=(x, data), method="leastsq", xtol=1e-12, ftol=1e-12, epsfcn=1e-12)
    np.testing.assert_allclose([p.value for p in ours],
                               [lres.params[n].value for n in ("cen_1", "sigma_1", "amp_1", "const_1", "const_2")],
                               rtol=1e-6)


# ------------------------------------------------------ four detectors
def _detector(rng, gain, x, sigma_noise):
    truth = gain * 2000.0 * x ** -2.2
    s = hs.signals.Signal1D(truth + 3.0 + rng.normal(0, sigma_noise, x.size), axes=[{"axis": x}])
    s.set_noise_variance(sigma_noise**2)
    m = s.create_model()
    pl = C1.PowerLaw(A=1500.0, r=2.0)
    pl.r.bmin, pl.r.bmax = None, None
    m.extend([pl, C1.Offset(offset=1.0)])
    return m, pl


def test_four_detectors_share_a_power_law_source():
    """Four detectors with gains 1, 0.8, 1.3, 0.6, different energy grids and
    noise; the source (A = 2000, r = 2.2) is shared: A_k = gain_k · A through
    twin_function_expr. The joint fit recovers the source within its std and
    its std of r is smaller than any single detector's."""
    rng = np.random.default_rng(7)
    setups = [(1.0, np.linspace(1, 10, 80), 2.0), (0.8, np.linspace(2, 12, 120), 1.5),
              (1.3, np.geomspace(1.5, 9, 60), 3.0), (0.6, np.linspace(1, 6, 50), 1.0)]
    singles = []
    for gain, x, noise in setups:
        m, pl = _detector(np.random.default_rng(hash((gain, x.size)) % 2**32), gain, x, noise)
        m.fit()
        singles.append(pl.r.std)
    models, pls = [], []
    for gain, x, noise in setups:
        m, pl = _detector(rng, gain, x, noise)
        models.append(m)
        pls.append((gain, pl))
    ref_gain, ref = pls[0]
    for gain, pl in pls[1:]:
        pl.A.twin = ref.A
        pl.A.twin_function_expr = f"{gain / ref_gain} * x"
        pl.r.twin = ref.r
    jm = hs.JointModel(models)
    out = jm.fit()
    assert out.success
    assert abs(ref.r.value - 2.2) < 3 * ref.r.std
    assert abs(ref.A.value - 2000) < 3 * ref.A.std
    assert ref.r.std < min(singles)
    assert pls[1][1].A.value == pytest.approx(0.8 * ref.A.value, rel=1e-12)


def test_mixed_losses_per_dataset():
    """One Gaussian-noise dataset (ls) and one Poisson dataset (ML-poisson)
    sharing a line slope: the joint objective is χ² + 2·(−ln L); the answer
    equals the minimum found by a scipy minimizer on the same objective."""
    rng = np.random.default_rng(2)
    x = np.arange(50.0)
    s1 = hs.signals.Signal1D(3 + 0.4 * x + rng.normal(0, 1.0, 50))
    s1.set_noise_variance(1.0)
    s2 = hs.signals.Signal1D(rng.poisson(1 + 0.4 * x).astype(float))
    models, lines = [], []
    for s in (s1, s2):
        m = s.create_model()
        line = C1.Polynomial(order=1, a0=1.0, a1=0.3)
        m.append(line)
        models.append(m)
        lines.append(line)
    lines[1].a1.twin = lines[0].a1
    jm = hs.JointModel(models)
    jm.fit(loss_function=["ls", "ML-poisson"])
    lm_answer = [lines[0].a0.value, lines[0].a1.value, lines[1].a0.value]
    jm.fit(optimizer="Nelder-Mead", loss_function=["ls", "ML-poisson"],
           options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    np.testing.assert_allclose(lm_answer, [lines[0].a0.value, lines[0].a1.value, lines[1].a0.value], rtol=1e-5)


# ------------------------------------------------------- joint multifit
def _images(seed=0, n=32):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 30, 150)
    centres = 15 + rng.uniform(-2, 2, (n, n))
    a1 = rng.uniform(50, 100, (n, n))
    a2 = rng.uniform(20, 60, (n, n))
    g = lambda A, c, s: A[..., None] / (s * np.sqrt(2 * np.pi)) * np.exp(-(x - c[..., None]) ** 2 / (2 * s * s))  # noqa: E731
    d1 = g(a1, centres, 1.0) + 1 + rng.normal(0, 0.3, (n, n, x.size))
    d2 = g(a2, centres, 2.5) + 5 + rng.normal(0, 0.3, (n, n, x.size))
    models, gs = [], []
    for d, w in ((d1, 1.2), (d2, 2.2)):
        s = hs.signals.Signal1D(d)
        s.axes_manager[-1].scale = x[1] - x[0]
        m = s.create_model()
        gg = C1.Gaussian(A=60, sigma=w, centre=15.0)
        m.extend([gg, C1.Offset(offset=2.0)])
        m.assign_current_values_to_all()
        models.append(m)
        gs.append(gg)
    gs[1].centre.twin = gs[0].centre
    return hs.JointModel(models), gs, centres


def test_joint_multifit_equals_pixel_by_pixel_joint_fits():
    jm, gs, centres = _images()
    jm.multifit()
    batched = np.stack([g.map["values"].copy() for g in (gs[0].A, gs[0].centre, gs[1].A, gs[1].sigma)])
    np.testing.assert_allclose(gs[1].centre.map["values"], gs[0].centre.map["values"], rtol=1e-15)
    assert np.median(np.abs(gs[0].centre.map["values"] - centres)) < 0.05
    jm2, gs2, _ = _images()
    am = [m.axes_manager for m in jm2]
    for iy, ix in [(0, 0), (5, 17), (31, 31), (12, 3)]:
        for a in am:
            a.indices = (ix, iy)
        jm2.fit()
        single = [p.value for p in (gs2[0].A, gs2[0].centre, gs2[1].A, gs2[1].sigma)]
        np.testing.assert_allclose(batched[:, iy, ix], single, rtol=1e-6)


def test_joint_bad_input():
    jm, gs, _ = _images(n=4)
    other = hs.signals.Signal1D(np.ones((3, 150))).create_model()
    other.append(C1.Offset())
    with pytest.raises(InvalidInputError, match="share a navigation shape"):
        hs.JointModel([jm[0], other]).multifit()
    with pytest.raises(InvalidInputError, match="same model appears twice"):
        hs.JointModel([jm[0], jm[0]])
    with pytest.raises(TypeError, match="Model1D/Model2D"):
        hs.JointModel([jm[0], "model"])
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        gs[0].A.expr = "2 * Gaussian.B"
    with pytest.raises(InvalidInputError, match="cycle"):
        gs[0].centre.twin = gs[1].centre
    with pytest.raises(InvalidInputError, match="one per model"):
        jm.fit(loss_function=["ls"])


def test_joint_fit_report_has_lmfit_sections_and_ties():
    x, data = _seed003_data()
    jm, gs = _seed003_joint(x, data)
    jm.fit(bounded=True)
    report = jm.fit_report()
    lines = report.splitlines()
    assert lines[0] == "[[Fit Statistics]]"
    assert "    # data points      = 300" in lines and "    # variables        = 5" in lines
    assert "[[Variables]]" in lines
    assert any(line.startswith("[[Correlations]] (unreported correlations are < 0.100)") for line in lines)
    tied = [line for line in lines if "m1_gauss_cen:" in line][0]
    assert tied.endswith("== 'm0_gauss_cen'")
    free = [line for line in lines if "m0_gauss_cen:" in line][0]
    assert "(init = 0.5)" in free and "+/-" in free


def test_model_fit_report_values_and_correlation():
    """HyperSpy's reference data: chi-square 7.78966223 in the report, the
    correlation equals cov/(σσ) of the fit's covariance."""
    s = hs.signals.Signal1D(np.array([1.0, 2, 4, 7, 12, 7, 4, 2, 1]))
    m = s.create_model()
    g = C1.Gaussian(A=30, sigma=1.5, centre=4)
    m.append(g)
    m.fit()
    report = m.fit_report()
    chi_line = [line for line in report.splitlines() if "chi-square         =" in line][0]
    assert float(chi_line.split("=")[1]) == pytest.approx(7.78966223, rel=1e-8)
    c = m.covariance
    r = c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])
    assert f"C(Gaussian_A, Gaussian_sigma) = {r:+.3f}" in report


def test_gammapy_style_datasets_and_fit_equal_joint_model():
    x, data = _seed003_data()
    jm, gs = _seed003_joint(x, data)
    jm.fit(bounded=True)  # Fit, as Gammapy's, always respects bmin/bmax
    expected = [gs[0][0].cen.value, gs[0][0].sigma.value, gs[0][1].offset.value, gs[1][1].offset.value]
    jm2, gs2 = _seed003_joint(x, data)
    result = hs.Fit().run(hs.Datasets(list(jm2)))
    assert result.success
    assert result.optimize_result.backend == "swiftfit" and result.optimize_result.method == "lm"
    assert result.optimize_result.total_stat == pytest.approx(jm.fit_output.fun, rel=1e-10)
    np.testing.assert_allclose([gs2[0][0].cen.value, gs2[0][0].sigma.value, gs2[0][1].offset.value,
                                gs2[1][1].offset.value], expected, rtol=1e-8)
    assert result.covariance_result.matrix.shape == (5, 5)
    with pytest.raises(ValueError, match="backend"):
        hs.Fit(backend="nope")


def test_expr_across_models_and_1d_with_2d():
    """A 1-D line profile and a 2-D image of the same Gaussian spot: the
    image's sigma_x is tied by expr to the profile's sigma (``m0.g.sigma``),
    its amplitude shared through a twin; the joint fit recovers the truth
    (σ = 1.3, centre 0.4) to 1e-6 on noiseless data."""
    x = np.linspace(-5, 5, 101)
    prof = hs.signals.Signal1D(np.exp(-((x - 0.4) ** 2) / (2 * 1.3**2)), axes=[{"axis": x}])
    m1 = prof.create_model()
    g = C1.Expression("h * exp(-(x - c)**2 / (2 * sigma**2))", name="g", h=0.8, c=0.0, sigma=1.0)
    m1.append(g)
    X, Y = np.meshgrid(np.linspace(-4, 4, 41), np.linspace(-4, 4, 41))
    truth2 = hs.model.components2D.Gaussian2D(A=2 * np.pi * 1.3 * 0.9, sigma_x=1.3, sigma_y=0.9,
                                             centre_x=0.4, centre_y=-0.2)
    im = hs.signals.Signal2D(truth2.function(X, Y))
    for i in (0, 1):
        im.axes_manager[i].scale, im.axes_manager[i].offset = 0.2, -4.0
    m2 = im.create_model()
    g2 = hs.model.components2D.Gaussian2D(A=5, sigma_x=1.0, sigma_y=1.0, centre_x=0.0, centre_y=0.0)
    m2.append(g2)
    jm = hs.JointModel([m1, m2])
    g2.sigma_x.expr = "m0.g.sigma"
    g2.centre_x.twin = g.c
    out = jm.fit()
    assert out.success
    np.testing.assert_allclose([g.sigma.value, g.c.value, g2.sigma_x.value, g2.sigma_y.value, g2.centre_y.value],
                               [1.3, 0.4, 1.3, 0.9, -0.2], rtol=1e-6, atol=1e-9)
    with pytest.raises(InvalidInputError, match="no joint model with a model named 'm7'"):
        g2.A.expr = "m7.g.h"
