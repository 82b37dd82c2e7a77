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
from component_cases import CASES_1D, CASES_2D, X1, X2, _points  # noqa: E402

from swiftfit._xp import faddeeva  # noqa: E402


def test_every_builtin_class_is_covered():
    """The tables above hold every class the component modules export."""
    covered = {type(c) for c in CASES_1D + CASES_2D}
    exported = {getattr(C1, n) for n in C1.__all__} | {getattr(C2, n) for n in C2.__all__}
    assert exported == covered


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
    fn = comp._function_nd  # the callback the problem (NumPy and JAX engines) evaluates
    jc = tuple(jnp.asarray(c) for c in coords)

    @jax.jit  # one compilation for the values and every derivative
    def values_and_derivatives(vals):
        def along(vk, k):
            return fn(jc, vals[:k] + [vk] + vals[k + 1:])

        derivs = [jax.jvp(lambda vk, k=k: along(vk, k), (vals[k],), (jnp.ones_like(vals[k]),))[1]
                  for k in range(len(vals))]
        return fn(jc, vals), derivs

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
