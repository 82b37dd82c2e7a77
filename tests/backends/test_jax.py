"""The JAX backend against the NumPy reference engine.

Truth: the NumPy engine (component functions, analytic gradients, the batched
LM). Every comparison states its tolerance; float64 throughout unless said.
"""

import logging

import numpy as np
import pytest

pytest.importorskip("jax")

import swiftfit as sf  # noqa: E402
from swiftfit import engines as backends  # noqa: E402
from swiftfit.components import components1d as C1  # noqa: E402
from swiftfit.components import components2d as C2  # noqa: E402
from swiftfit.errors import InvalidInputError, OptimizerError  # noqa: E402

backends.enable_jax("float64")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from swiftfit.engines.jax.components import faddeeva, lower_component  # noqa: E402

X1 = np.linspace(0.5, 20.0, 60)
_G = np.linspace(-5.0, 5.0, 12) + 0.013  # off the grid points where a profile has its centre
X2 = tuple(a.ravel() for a in np.meshgrid(_G, _G + 0.007))
_XP = np.linspace(0.0, 25.0, 101)
_PATTERN = (_XP, np.exp(-((_XP - 10.0) ** 2) / 8.0) + 0.1 * np.sin(_XP))

# (component, coordinates): every class of components1d and components2d,
# parameter values in each one's domain
CASES_1D = [
    C1.Arctan(A=2.0, k=0.7, x0=8.0),
    C1.Bleasdale(a=1.0, b=0.5, c=1.3),
    C1.Doniach(centre=10.0, A=3.0, sigma=1.5, alpha=0.3),
    C1.Erf(A=2.0, sigma=2.0, origin=9.0),
    C1.Exponential(A=5.0, tau=6.0),
    C1.Gaussian(A=10.0, sigma=2.0, centre=9.0),
    C1.GaussianHF(height=3.0, fwhm=4.0, centre=9.0),
    C1.HeavisideStep(A=2.0, n=9.3),
    C1.Logistic(a=2.0, b=1.5, c=0.8, origin=9.0),
    C1.Lorentzian(A=10.0, gamma=1.5, centre=9.0),
    C1.Offset(offset=2.5),
    C1.Polynomial(order=3, a0=1.0, a1=-0.5, a2=0.1, a3=-0.003),
    C1.PowerLaw(A=1e3, r=2.5, origin=-1.0, left_cutoff=2.0),
    C1.RC(Vmax=2.0, V0=1.0, tau=5.0),
    C1.ScalableFixedPattern(_PATTERN, yscale=2.0, xscale=1.1, shift=0.7),
    C1.SEE(A=1e3, Phi=3.0, B=2.0),
    C1.SkewNormal(x0=9.0, A=5.0, scale=2.5, shape=2.0),
    C1.SplitVoigt(A=5.0, sigma1=1.5, sigma2=2.5, centre=9.1, fraction=0.3),
    C1.Voigt(centre=9.0, area=10.0, gamma=0.8, sigma=1.2),
    C1.VolumePlasmonDrude(intensity=2.0, plasmon_energy=12.0, fwhm=3.0),
    C1.Expression("A * exp(-b * x) * sin(c * x) + d * x**2 + erf(x - c)", "E1", A=2.0, b=0.1, c=0.7, d=0.01),
]
CASES_2D = [
    C2.Offset(offset=1.5),
    C2.Polynomial2D(order=2, a00=1.0, a10=0.2, a01=-0.3, a20=0.05, a11=0.02, a02=-0.04),
    C2.Gaussian2D(A=10.0, sigma_x=1.5, sigma_y=2.2, centre_x=0.3, centre_y=-0.4),
    C2.Gaussian2D(A=10.0, sigma_x=1.5, sigma_y=2.2, centre_x=0.3, centre_y=-0.4, add_rotation=True,
                  rotation_angle=0.4),
    C2.Lorentzian2D(A=10.0, gamma_x=1.5, gamma_y=2.2, centre_x=0.3, centre_y=-0.4),
    C2.Lorentzian2D(A=10.0, gamma_x=1.5, gamma_y=2.2, centre_x=0.3, centre_y=-0.4, add_rotation=True,
                    rotation_angle=-0.3),
    C2.Moffat2D(A=10.0, alpha=1.5, beta=2.5, centre_x=0.2, centre_y=-0.3),
    C2.Sersic2D(I_e=3.0, R_e=2.0, n=1.7, centre_x=0.13, centre_y=-0.21, ellipticity=0.3, position_angle=0.5),
    C2.Expression("A * exp(-((x - x0)**2 + (y - y0)**2) / (2 * s**2)) + k * x * y", "E2",
                  A=3.0, x0=0.2, y0=-0.1, s=1.3, k=0.05),
]


def test_every_builtin_class_is_covered():
    """The tables above hold every class the component modules export."""
    covered = {type(c) for c in CASES_1D + CASES_2D}
    exported = {getattr(C1, n) for n in C1.__all__} | {getattr(C2, n) for n in C2.__all__}
    assert exported == covered


def _points(comp, seed=0, n=3):
    """n parameter points: the values above, each scaled by 1 ± 15 % (seeded)."""
    base = np.array([p.value for p in comp.parameters])
    u = np.random.default_rng(seed).uniform(-0.15, 0.15, (n, base.size))
    return [(base[k] * (1 + u[:, k]))[:, None] for k in range(base.size)]


@pytest.mark.parametrize("comp", CASES_1D + CASES_2D, ids=lambda c: f"{type(c).__name__}{c._ndim}d")
def test_component_values_and_jacobians_match_numpy(comp):
    """JAX function values and autodiff derivatives equal the NumPy function
    and analytic gradients at 3 parameter points, to 1e-10 of the largest
    magnitude of each over the grid (an absolute tolerance scaled to the
    function: pointwise relative errors are meaningless in the tails, where
    values underflow). Derivatives without closed form (NumPy returns None:
    HeavisideStep.n, PowerLaw.left_cutoff) are not compared."""
    coords = (X1,) if comp._ndim == 1 else X2
    values = _points(comp)
    fn, consts, _ = lower_component(comp)
    jc = tuple(jnp.asarray(c) for c in coords)
    jconsts = tuple(jnp.asarray(a) for a in consts)

    @jax.jit  # one compilation for the values and every derivative
    def values_and_derivatives(vals):
        def along(vk, k):
            return fn(jc, vals[:k] + [vk] + vals[k + 1:], jconsts)

        derivs = [jax.jvp(lambda vk, k=k: along(vk, k), (vals[k],), (jnp.ones_like(vals[k]),))[1]
                  for k in range(len(vals))]
        return fn(jc, vals, jconsts), derivs

    f_np = np.asarray(comp._function_nd(coords, values))
    f_jx, derivs = values_and_derivatives([jnp.asarray(v) for v in values])
    f_jx = np.broadcast_to(np.asarray(f_jx), f_np.shape)
    scale = np.max(np.abs(f_np))
    assert scale > 0
    np.testing.assert_allclose(f_jx, f_np, rtol=0, atol=1e-10 * scale)
    grads = comp._gradients_nd(coords, values)
    compared = 0
    for k, g in enumerate(grads):
        if g is None or (type(comp) is C1.HeavisideStep and k == 1) or (type(comp) is C1.PowerLaw and k == 3):
            continue
        d = np.broadcast_to(np.asarray(derivs[k]), f_np.shape)
        g = np.asarray(g)
        np.testing.assert_allclose(d, g, rtol=0, atol=1e-10 * max(np.max(np.abs(g)), 1e-300),
                                   err_msg=f"{comp.parameters[k].name}")
        compared += 1
    assert compared >= 1


def test_faddeeva_against_scipy():
    """Weideman's 40-term approximation against scipy.special.wofz on
    |x| <= 1000, y in [-0.5, 100]: below 5e-15 absolute, 3e-14 relative."""
    from scipy.special import wofz

    x = np.concatenate([np.linspace(-30, 30, 601), np.logspace(-4, 3, 50), -np.logspace(-4, 3, 50)])
    y = np.array([-0.5, -0.01, 0.0, 1e-8, 1e-3, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0])
    z = (x[:, None] + 1j * y[None, :]).ravel()
    z = z[(z.imag >= 0) | (np.abs(z.real) < 5)]  # below the axis w grows like exp(y² - x²)
    ref = wofz(z)
    w = np.asarray(faddeeva(jnp.asarray(z)))
    assert np.max(np.abs(w - ref)) < 5e-15 * max(1.0, np.max(np.abs(ref)))
    assert np.max(np.abs(w - ref) / np.abs(ref)) < 3e-14


# ------------------------------------------------------------ full fits
PEAKS = ((300.0, 8.0, 4000.0), (500.0, 10.0, 5000.0), (700.0, 12.0, 3000.0))


def _gauss3(nav=(8, 8), seed=3):
    """Poisson counts of three Gaussians on a 20-count offset (seeded)."""
    x = np.arange(1024.0)
    lam = 20.0 + sum(A / (w * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - c) / w) ** 2) for c, w, A in PEAKS)
    data = np.random.default_rng(seed).poisson(np.broadcast_to(lam, nav + (1024,))).astype(float)
    m = sf.signals.Signal1D(data).create_model()
    m.extend([C1.Gaussian(A=4000.0, sigma=1.2 * w, centre=c + 2.0) for c, w, _ in PEAKS])
    m.append(C1.Offset(offset=15.0))
    m.assign_current_values_to_all()
    return m


def _maps(m, what="values"):
    return np.stack([p.map[what] for c in m for p in c.parameters if p.free or p.twin is not None
                     or p.expr is not None])


def test_multifit_gauss3_matches_numpy_float64():
    """8×8 pixels × 1024 channels, 3 Gaussians + offset, Poisson noise. The
    NumPy engine (default kernel) is the truth: values to 1e-10 relative, std
    to 1e-8 relative, χ² to 1e-12, the same status codes (both polish to the
    minimum; measured differences ~1e-15)."""
    ref = _gauss3()
    ref.multifit()
    m64 = _gauss3()
    m64.multifit(backend="jax")
    np.testing.assert_array_equal(m64._status, ref._status)
    assert (ref._status > 0).all()
    np.testing.assert_allclose(_maps(m64), _maps(ref), rtol=1e-10)
    np.testing.assert_allclose(_maps(m64, "std"), _maps(ref, "std"), rtol=1e-8)
    np.testing.assert_allclose(m64._chisq, ref._chisq, rtol=1e-12)
    _check_fit_global_backend_and_bounds()  # reuses this compilation (padded to 64 pixels)


def test_multifit_gauss3_float32_within_1e4():
    """As above in float32: values within 1e-4 relative of the float64 NumPy
    fit (measured ~3e-7), std within 1e-3 (measured ~7e-7)."""
    ref = _gauss3()
    ref.multifit()
    m32 = _gauss3()
    m32.multifit(backend="jax", dtype="float32")
    assert (m32._status > 0).all()
    np.testing.assert_allclose(_maps(m32), _maps(ref), rtol=1e-4)
    np.testing.assert_allclose(_maps(m32, "std"), _maps(ref, "std"), rtol=1e-3)


def test_twins_expr_ties_and_fixed_values_match_numpy():
    """A twin through a function (second peak's sigma = 1.25 × the first's),
    an expr tie over two parameters (third centre = first centre + second
    centre − 100), a fixed parameter and an inactive-at-some-pixels component:
    JAX equals NumPy to 1e-10 relative on every value and 1e-8 on std."""

    def build():
        m = _gauss3(nav=(2, 3), seed=5)
        g1, g2, g3, off = m
        g2.sigma.twin_function_expr = "1.25 * x"
        g2.sigma.twin = g1.sigma
        g3.centre.expr = "Gaussian.centre + Gaussian_0.centre - 100"
        off.offset.free = False
        off.offset.value = 20.0
        off.offset.assign_current_value_to_all()
        g3.active_is_multidimensional = True
        g3._active_array[0, :2] = False
        return m

    ref, m = build(), build()
    ref.multifit(ftol=1e-14)
    m.multifit(backend="jax", ftol=1e-14)
    np.testing.assert_array_equal(m._status, ref._status)
    assert (ref._status > 0).all()
    for c0, c1 in zip(ref, m):
        for p0, p1 in zip(c0.parameters, c1.parameters):
            np.testing.assert_allclose(p1.map["values"], p0.map["values"], rtol=1e-10, err_msg=p0.name)
            np.testing.assert_allclose(p1.map["std"], p0.map["std"], rtol=1e-8, err_msg=p0.name)


def test_model2d_multifit_matches_numpy():
    """A stack of 4 noisy 30×30 images of a rotated Gaussian2D + offset
    (seeded): JAX equals NumPy to 1e-10 relative on values, 1e-8 on std."""
    rng = np.random.default_rng(7)
    x = np.linspace(-5, 5, 30)
    X, Y = np.meshgrid(x, x)
    truth = C2.Gaussian2D(A=60.0, sigma_x=1.1, sigma_y=0.8, centre_x=0.3, centre_y=-0.2, add_rotation=True,
                          rotation_angle=0.5)
    frames = np.array([truth.function(X, Y) + 0.1 + rng.normal(0, 0.05, X.shape) for _ in range(4)])

    def build():
        s = sf.signals.Signal2D(frames.reshape(2, 2, 30, 30))
        for i in (2, 3):
            ax = s.axes_manager[i]
            ax.scale, ax.offset = x[1] - x[0], x[0]
        m = s.create_model()
        # an elliptical start: from a round one the angle is undetermined
        m.extend([C2.Gaussian2D(A=50.0, sigma_x=1.3, sigma_y=0.7, centre_x=0.0, centre_y=0.0, add_rotation=True,
                                rotation_angle=0.3), C2.Offset(offset=0.0)])
        m.assign_current_values_to_all()
        return m

    ref, m = build(), build()
    ref.multifit()
    m.multifit(backend="jax")
    assert (ref._status > 0).all()
    np.testing.assert_array_equal(m._status, ref._status)
    np.testing.assert_allclose(_maps(m), _maps(ref), rtol=1e-10)
    np.testing.assert_allclose(_maps(m, "std"), _maps(ref, "std"), rtol=1e-8)


def _check_fit_global_backend_and_bounds():
    """m.fit() under set_backend("jax") with bounds (the second peak's centre
    capped below its optimum, so the fit ends at the bound): equal to NumPy's
    to 1e-10 relative, the capped centre exactly at its bmax."""

    def build():
        m = _gauss3(nav=(), seed=11)
        m[1].centre.bmax = 499.0
        return m

    ref, m = build(), build()
    ref.fit(bounded=True)
    backends.set_backend("jax")
    try:
        assert backends.get_backend() == ("jax", "float64")
        out = m.fit(bounded=True)
    finally:
        backends.set_backend("numpy")
    assert backends.get_backend() == ("numpy", "float64")
    assert out.success
    assert m[1].centre.value == 499.0
    np.testing.assert_allclose(out.x, ref.fit_output.x, rtol=1e-10)
    # the covariance on the scale of each element, sqrt(C_ii C_jj): 1e-8
    sd = np.sqrt(np.diag(ref.fit_output.covariance))
    np.testing.assert_allclose(out.covariance / np.outer(sd, sd), ref.fit_output.covariance / np.outer(sd, sd),
                               rtol=0, atol=1e-8)


def test_bad_options_are_refused():
    """Only optimizer 'lm' and loss 'ls' run on JAX; each refusal names the option."""
    m = _gauss3(nav=(), seed=1)
    with pytest.raises(OptimizerError, match="optimizer='trf'"):
        m.fit(optimizer="trf", backend="jax")
    with pytest.raises(OptimizerError, match="ML-poisson"):
        m.fit(loss_function="ML-poisson", backend="jax")
    with pytest.raises(InvalidInputError, match="backend"):
        m.fit(backend="cupy")
    with pytest.raises(InvalidInputError, match="dtype"):
        m.fit(dtype="float32")  # numpy backend
    with pytest.raises(InvalidInputError, match="dtype"):
        m.fit(backend="jax", dtype="float16")
    with pytest.raises(OptimizerError, match="damping"):
        m.fit(backend="jax", damping="nielsen")


def test_user_component_falls_back_to_numpy(caplog):
    """A HyperSpy-style component has no JAX form: the fit runs on NumPy (a
    logged warning says so) and equals the NumPy fit exactly."""

    class Line(sf.component.Component):
        def __init__(self):
            super().__init__(("a", "b"))

        def function(self, x):
            return self.a.value * x + self.b.value

    def build():
        s = sf.signals.Signal1D(2.0 * np.arange(50.0) + 1.0 + np.random.default_rng(0).normal(0, 0.1, 50))
        m = s.create_model()
        m.append(Line())
        return m

    ref, m = build(), build()
    ref.fit()
    with caplog.at_level(logging.WARNING, logger="swiftfit"):
        m.fit(backend="jax")
    assert "NumPy engine" in caplog.text
    assert m.fit_output.x.tolist() == ref.fit_output.x.tolist()
