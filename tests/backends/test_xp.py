"""Components written once against an array namespace (:mod:`swiftfit._xp`).

Truth: the NumPy evaluation of the same code (NumPy and SciPy functions):
on JAX arrays (float64) every built-in component's ``function`` and
``gradients`` equal it to 1e-12 of each array's largest magnitude on a
seeded grid; the namespace's special functions equal SciPy's. A user
component written with ``namespace`` fits on the JAX engine; one written
with NumPy-only code is refused there, naming the component and why.
"""

import logging

import numpy as np
import pytest

pytest.importorskip("jax")

import swiftfit as sf  # noqa: E402
from swiftfit import _xp  # noqa: E402
from swiftfit import engines as backends  # noqa: E402
from swiftfit.component import Component  # noqa: E402
from swiftfit.components import components1d as C1  # noqa: E402

backends.enable_jax("float64")
import jax.numpy as jnp  # noqa: E402
from component_cases import CASES_1D, CASES_2D, _points  # noqa: E402
from scipy import special  # noqa: E402
from scipy.interpolate import make_interp_spline  # noqa: E402

from swiftfit.engines.jax.lm import jax_levenberg_marquardt  # noqa: E402
from swiftfit.engines.jax.problem import NotLowerable, lower_problem  # noqa: E402

RTOL = 1e-12


def _grid(comp, seed=11):
    """Seeded coordinates: 200 sorted uniform points over the cases' range (1-D),
    150 uniform points on [-5, 5]² (2-D)."""
    rng = np.random.default_rng(seed)
    if comp._ndim == 1:
        return (np.sort(rng.uniform(0.5, 20.0, 200)),)
    return tuple(rng.uniform(-5.0, 5.0, (2, 150)))


def _close(jax_value, numpy_value, what):
    a = np.asarray(jax_value, dtype=float)
    b = np.asarray(numpy_value, dtype=float)
    assert a.shape == b.shape, what
    scale = np.max(np.abs(b))
    assert scale > 0, what
    err = np.max(np.abs(a - b)) / scale
    assert err <= RTOL, f"{what}: max |jax - numpy| / max |numpy| = {err:.2e}"


@pytest.mark.parametrize("comp", CASES_1D + CASES_2D, ids=lambda c: f"{type(c).__name__}{c._ndim}d")
def test_jax_function_and_gradients_equal_numpy(comp):
    """The same ``_function_nd``/``_gradients_nd`` (the problem's callbacks) on
    JAX float64 arrays and on NumPy arrays, 3 seeded parameter points × a
    seeded grid: equal to 1e-12 of each array's largest magnitude (pointwise
    relative errors are meaningless where a profile underflows in its tails).
    Gradients without a closed form (None on NumPy) are None on JAX too."""
    coords = _grid(comp)
    values = _points(comp, seed=5)
    jc = tuple(jnp.asarray(c) for c in coords)
    jv = [jnp.asarray(v) for v in values]
    f_np = comp._function_nd(coords, values)
    f_jx = comp._function_nd(jc, jv)
    assert _xp.is_jax(f_jx) and f_jx.dtype == jnp.float64
    _close(f_jx, f_np, f"{comp.name} function")
    if not comp._has_gradients:
        return
    g_np = comp._gradients_nd(coords, values)
    g_jx = comp._gradients_nd(jc, jv)
    for p, a, b in zip(comp.parameters, g_jx, g_np):
        assert (a is None) == (b is None), p.name
        if b is not None and np.any(np.asarray(b) != 0):
            _close(a, b, f"{comp.name} d/d{p.name}")


def test_namespace_dispatch():
    """NumPy arrays and numbers give the NumPy namespace, whose functions are
    NumPy's own (the NumPy path runs unchanged); any JAX array gives JAX's."""
    x = np.linspace(0, 1, 5)
    assert _xp.namespace(x, 1.0, 2) is _xp.NUMPY
    assert _xp.NUMPY.exp is np.exp and _xp.NUMPY.where is np.where
    assert _xp.NUMPY.erf is special.erf and _xp.NUMPY.wofz is special.wofz
    xp = _xp.namespace(x, jnp.asarray(1.0))
    assert xp.is_jax and xp.exp is jnp.exp
    assert _xp.namespace() is _xp.NUMPY


def test_special_functions_equal_scipy():
    """erf, erfc, ndtr, gammaln and the B-spline on JAX against SciPy, float64,
    on seeded points: 1e-13 relative (wofz: see test_faddeeva_against_scipy)."""
    rng = np.random.default_rng(2)
    u = rng.uniform(-4.0, 4.0, 300)
    xp = _xp.namespace(jnp.asarray(u))
    for name in ("erf", "erfc", "ndtr"):
        np.testing.assert_allclose(np.asarray(getattr(xp, name)(jnp.asarray(u))), getattr(special, name)(u),
                                   rtol=1e-13, atol=1e-300, err_msg=name)
    a = rng.uniform(0.1, 50.0, 300)
    np.testing.assert_allclose(np.asarray(xp.gammaln(jnp.asarray(a))), special.gammaln(a), rtol=1e-13)
    knots = np.linspace(0.0, 10.0, 41)
    spline = make_interp_spline(knots, np.sin(knots) + 0.1 * knots**2)
    t = rng.uniform(0.0, 10.0, (3, 100))
    np.testing.assert_allclose(np.asarray(xp.bspline(spline, jnp.asarray(t))), spline(t), rtol=1e-13, atol=1e-14)


class Pearson7(Component):
    """A user component written against the array namespace (a Pearson VII line)."""

    parameters = ("A", "w", "c", "m")
    linear = ("A",)

    @staticmethod
    def function(x, A, w, c, m):
        xp = _xp.namespace(x, A, w, c, m)
        return A * xp.exp(-m * xp.log1p(((x - c) / w) ** 2))

    @staticmethod
    def gradients(x, A, w, c, m):
        xp = _xp.namespace(x, A, w, c, m)
        q = ((x - c) / w) ** 2
        f = xp.exp(-m * xp.log1p(q))
        k = 2.0 * A * m * f / (1.0 + q)
        return (f, k * q / w, k * (x - c) / w**2, -A * f * xp.log1p(q))


class NumpyOnly(Pearson7):
    """The same line written with NumPy-only code."""

    @staticmethod
    def function(x, A, w, c, m):
        return A * np.exp(-m * np.log1p(((np.asarray(x) - c) / w) ** 2))


def _model(cls):
    x = np.linspace(-10.0, 10.0, 200)
    truth = Pearson7.function(x, 50.0, 1.5, 0.7, 1.8) + 2.0
    data = truth + np.random.default_rng(4).normal(0.0, 0.5, x.size)
    s = sf.signals.Signal1D(data)
    s.axes_manager[0].scale, s.axes_manager[0].offset = x[1] - x[0], x[0]
    m = s.create_model()
    m.extend([cls(A=40.0, w=2.0, c=0.0, m=1.5), C1.Offset(offset=1.0)])
    return m


def test_user_xp_component_fits_on_jax(caplog):
    """A user subclass written with ``namespace`` runs on the JAX engine (no
    fall-back) and reaches the NumPy fit's minimum: parameters to 1e-8 relative."""
    ref, m = _model(Pearson7), _model(Pearson7)
    ref.fit()
    sol = jax_levenberg_marquardt(m._problem([()]))
    assert sol.info["backend"] == "jax" and sol.status[0] > 0
    with caplog.at_level(logging.WARNING, logger="swiftfit"):
        m.fit(backend="jax")
    assert "NumPy engine" not in caplog.text
    np.testing.assert_allclose(m.fit_output.x, ref.fit_output.x, rtol=1e-8)
    np.testing.assert_allclose(sol.theta[0], ref.fit_output.x, rtol=1e-8)


def test_numpy_only_component_is_refused_on_jax(caplog):
    """NumPy-only code cannot run on JAX: lowering raises NotLowerable naming
    the component, its class and the failure; ``fit(backend="jax")`` says so
    in its logged warning and fits on NumPy (equal to the NumPy fit)."""
    m = _model(NumpyOnly)
    with pytest.raises(NotLowerable, match=r"'NumpyOnly' \(test_xp\.NumpyOnly\).*NumPy-only"):
        lower_problem(m._problem([()]))
    ref = _model(NumpyOnly)
    ref.fit()
    with caplog.at_level(logging.WARNING, logger="swiftfit"):
        m.fit(backend="jax")
    assert "'NumpyOnly'" in caplog.text and "NumPy engine" in caplog.text
    assert m.fit_output.x.tolist() == ref.fit_output.x.tolist()


def test_hyperspy_style_component_is_refused_with_the_reason():
    """A ``function(self, x)`` component: refused, the reason named."""

    class Line(Component):
        def __init__(self):
            super().__init__(("a", "b"))

        def function(self, x):
            return self.a.value * x + self.b.value

    m = sf.signals.Signal1D(np.arange(20.0)).create_model()
    m.append(Line())
    with pytest.raises(NotLowerable, match=r"'Line'.*function\(self, x\)"):
        lower_problem(m._problem([()]))
