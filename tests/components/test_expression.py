"""Tests of the Expression component (1-D, 2-D, rotation, safety)."""

from __future__ import annotations

import copy
import math
import os
import sys

import numpy as np
import pytest
import sympy

from swiftfit.components.expression import Expression
from swiftfit.errors import ExpressionError

GAUSSIAN = "height * exp(-(x - x0) ** 2 * 4 * log(2)/ fwhm ** 2)"
WAVELENGTH = (
    "h / sqrt(p2) ; p2 = 2 * m0 * e1 * x * brackets; brackets = 1 + (e1 * x) / (2 * m0 * c * c) ; "
    "m0 = 9.1e-31 ; c = 3e8; e1 = 1.6e-19 ; h = 6.6e-34"
)
GAUSSIAN2D = "k * exp(-((x-x0)**2 / (2 * sx ** 2) + (y-y0)**2 / (2 * sy ** 2)))"
LN2 = math.log(2)


def seed_gaussian():
    return Expression(
        expression="height * exp(-(x - x0) ** 2 * 4 * log(2)/ fwhm ** 2)",
        name="Gaussian",
        position="x0",
        height=1,
        fwhm=1,
        x0=0,
        module="numpy",
    )


def seed_gaussian2d():
    return Expression(
        "k * exp(-((x-x0)**2 / (2 * sx ** 2) + (y-y0)**2 / (2 * sy ** 2)))",
        "Gaussian2d",
        add_rotation=True,
        position=("x0", "y0"),
        module="numpy",
    )


def gauss2d_truth(x, y, k, sx, sy, x0, y0):
    return k * np.exp(-((x - x0) ** 2 / (2 * sx**2) + (y - y0) ** 2 / (2 * sy**2)))


def set_values(comp, **values):
    for key, value in values.items():
        getattr(comp, key).value = value


# ------------------------------------------------------------------ seed 1
def test_seed_gaussian_parameters_and_linearity():
    g = seed_gaussian()
    assert [p.name for p in g.parameters] == ["fwhm", "height", "x0"]  # alphabetical
    assert {p.name for p in g.parameters if p._linear} == {"height"}
    assert (g.height.value, g.fwhm.value, g.x0.value) == (1.0, 1.0, 0.0)
    assert repr(g) == "<Gaussian (Expression component)>"
    assert g._str_expression == GAUSSIAN and g.expression == GAUSSIAN
    assert isinstance(g._sympy_expression, sympy.Expr)
    assert g._position == "x0" and g._position_parameter is g.x0 and g._position_x is g.x0
    assert g._ndim == 1 and not g._is2D
    assert "height" in g.__doc__ and GAUSSIAN in g.__doc__


def test_seed_gaussian_values_against_closed_form():
    g = seed_gaussian()
    # FWHM 1, height 1 centred at 0: half maximum at +-0.5, 1/16 at +-1
    x = np.array([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0])
    truth = np.exp(-4 * LN2 * x**2)
    np.testing.assert_allclose(g.function(x), truth, rtol=1e-14)
    assert g.function(0.5) == pytest.approx(0.5, rel=1e-14)
    assert g.function(1.0) == pytest.approx(1 / 16, rel=1e-14)
    set_values(g, height=2.5, fwhm=1.3, x0=0.2)
    np.testing.assert_allclose(
        g.function(x), 2.5 * np.exp(-4 * LN2 * (x - 0.2) ** 2 / 1.3**2), rtol=1e-14
    )


def test_seed_gaussian_gradients_against_closed_form():
    g = seed_gaussian()
    height, fwhm, x0 = 2.5, 1.3, 0.2
    set_values(g, height=height, fwhm=fwhm, x0=x0)
    x = np.linspace(-2, 2, 9)
    e = np.exp(-4 * LN2 * (x - x0) ** 2 / fwhm**2)
    truth = {
        "height": e,
        "x0": height * e * 8 * LN2 * (x - x0) / fwhm**2,
        "fwhm": height * e * 8 * LN2 * (x - x0) ** 2 / fwhm**3,
    }
    assert g._has_gradients
    for name, expected in truth.items():
        np.testing.assert_allclose(getattr(g, f"grad_{name}")(x), expected, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(getattr(g, name).grad(x), expected, rtol=1e-12, atol=1e-15)
    grads = g._gradients_nd((x,), [np.array([[fwhm]]), np.array([[height]]), np.array([[x0]])])
    for grad, name in zip(grads, ["fwhm", "height", "x0"]):
        assert grad.shape == (1, x.size)
        np.testing.assert_allclose(grad[0], truth[name], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ seed 2
def test_seed_wavelength_substitutions():
    w = Expression(
        expression="h / sqrt(p2) ; p2 = 2 * m0 * e1 * x * brackets; brackets = 1 + (e1 * x) / (2 * m0 * c * c) ; m0 = 9.1e-31 ; c = 3e8; e1 = 1.6e-19 ; h = 6.6e-34",
        name="Electron wavelength",
    )
    assert w.parameters == ()
    assert w._sympy_expression.free_symbols == {sympy.Symbol("x", real=True)}
    h, m0, e, c, x = 6.6e-34, 9.1e-31, 1.6e-19, 3e8, 100e3
    truth = h / math.sqrt(2 * m0 * e * x * (1 + e * x / (2 * m0 * c * c)))
    assert truth == pytest.approx(3.6915636e-12, rel=1e-7)  # ~3.7 pm at 100 kV
    assert w.function(x) == pytest.approx(truth, rel=1e-12)
    out = w._function_nd((np.array([x, 2 * x]),), [])
    assert out.shape == (1, 2)
    assert out[0, 0] == pytest.approx(truth, rel=1e-12)
    assert w._gradients_nd((np.array([x]),), []) == []


def test_substitutions_in_any_order_and_circular():
    e = Expression("A * x + B ; B = 2 * C ; C = 3", "S", A=2)
    assert [p.name for p in e.parameters] == ["A"]
    assert e.function(1.5) == pytest.approx(2 * 1.5 + 6)
    with pytest.raises(ExpressionError, match="circular"):
        Expression("a * x ; a = b ; b = a", "S")


# ----------------------------------------------------------------- seed 2-D
def test_seed_gaussian2d_parameters():
    g = seed_gaussian2d()
    assert [p.name for p in g.parameters] == ["k", "rotation_angle", "sx", "sy", "x0", "y0"]
    assert {p.name for p in g.parameters if p._linear} == {"k"}
    assert g._ndim == 2 and g._is2D
    assert g.rotation_angle.value == 0.0
    assert g._position == ("x0", "y0")
    assert g._position_parameter == (g.x0, g.y0)


def test_gaussian2d_function_on_meshgrid():
    g = seed_gaussian2d()
    vals = dict(k=3.0, sx=0.7, sy=1.6, x0=0.3, y0=-0.4)
    set_values(g, **vals)
    X, Y = np.meshgrid(np.linspace(-2, 2, 7), np.linspace(-3, 3, 5))
    out = g.function(X, Y)
    assert out.shape == (5, 7)
    np.testing.assert_allclose(out, gauss2d_truth(X, Y, **vals), rtol=1e-13)


def test_gaussian2d_rotation_by_half_pi_swaps_sigmas():
    g = seed_gaussian2d()
    vals = dict(k=3.0, sx=0.7, sy=1.6, x0=0.3, y0=-0.4)
    set_values(g, rotation_angle=math.pi / 2, **vals)
    X, Y = np.meshgrid(np.linspace(-3, 3, 13), np.linspace(-3, 3, 11))
    swapped = dict(vals, sx=vals["sy"], sy=vals["sx"])
    np.testing.assert_allclose(g.function(X, Y), gauss2d_truth(X, Y, **swapped), rtol=1e-12, atol=1e-15)
    # the unrotated shape differs, so the identity is not trivially true
    assert not np.allclose(gauss2d_truth(X, Y, **vals), gauss2d_truth(X, Y, **swapped))
    # rotating about its own centre keeps the peak there
    assert g.function(vals["x0"], vals["y0"]) == pytest.approx(3.0, rel=1e-14)


def test_rotation_direction_about_fixed_center():
    g = Expression(GAUSSIAN2D, "G", add_rotation=True, rotation_center=(0, 0),
                   k=1, sx=0.3, sy=0.3, x0=1.0, y0=0.0)
    theta = 0.6
    g.rotation_angle.value = theta
    # the peak at (1, 0) turns by +theta about the origin
    assert g.function(math.cos(theta), math.sin(theta)) == pytest.approx(1.0, rel=1e-14)
    assert g.function(1.0, 0.0) < 0.5


def test_gaussian2d_gradients_against_finite_differences():
    g = seed_gaussian2d()
    vals = {"k": 2.0, "rotation_angle": 0.4, "sx": 0.8, "sy": 1.5, "x0": 0.2, "y0": -0.3}
    X, Y = np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-2.5, 2.5, 8))
    x, y = X.ravel(), Y.ravel()
    names = [p.name for p in g.parameters]
    values = [np.array([[vals[n]]]) for n in names]
    analytic = g._gradients_nd((x, y), values)
    assert g._has_gradients
    for i, name in enumerate(names):
        h = 1e-5 * max(abs(vals[name]), 1.0)
        up = [v + h if j == i else v for j, v in enumerate(values)]
        down = [v - h if j == i else v for j, v in enumerate(values)]
        fd = (g._function_nd((x, y), up) - g._function_nd((x, y), down)) / (2 * h)
        scale = np.max(np.abs(fd))
        assert scale > 1e-3, name  # every parameter matters here
        np.testing.assert_allclose(analytic[i], fd, rtol=1e-6, atol=1e-6 * scale, err_msg=name)


# --------------------------------------------------------------- rename_pars
def test_rename_pars_lorentzian_gamma():
    lor = Expression(
        "A / pi * (gamma_ / ((x - centre)**2 + gamma_**2))",
        "Lorentzian",
        position="centre",
        rename_pars={"gamma_": "gamma"},
        A=2.0,
        centre=0.5,
        gamma=0.3,
    )
    assert [p.name for p in lor.parameters] == ["A", "centre", "gamma"]
    assert lor.gamma.value == 0.3 and lor._position_parameter is lor.centre
    x = np.linspace(-1, 2, 7)
    np.testing.assert_allclose(lor.function(x), 2.0 / np.pi * 0.3 / ((x - 0.5) ** 2 + 0.09), rtol=1e-14)
    np.testing.assert_allclose(lor.grad_A(x), lor.function(x) / 2.0, rtol=1e-14)
    assert str(lor._sympy_expression).count("gamma") >= 1
    # without the rename, "gamma" is a whitelisted function, not a parameter
    with pytest.raises(ExpressionError, match="gamma"):
        Expression("A / pi * (gamma / ((x - centre)**2 + gamma**2))", "L")


def test_rename_to_python_keyword_and_errors():
    e = Expression("A * exp(-x / lambda_)", "Decay", rename_pars={"lambda_": "lambda"}, A=3.0)
    getattr(e, "lambda").value = 2.0
    assert e.function(2.0) == pytest.approx(3.0 * math.exp(-1.0), rel=1e-14)
    assert [p.name for p in e.parameters] == ["A", "lambda"]
    with pytest.raises(ValueError, match="nope"):
        Expression("a * x", "E", rename_pars={"nope": "b"})


# ------------------------------------------------------------------ linearity
def test_linear_detection():
    poly = Expression("a*x**2 + b*x + c", "Poly")
    assert all(p._linear for p in poly.parameters)
    dec = Expression("A*exp(-x/t)", "Decay")
    assert {p.name: p._linear for p in dec.parameters} == {"A": True, "t": False}
    tricky = Expression("(a + b)**2 - a**2 - 2*a*b + c*x", "T")  # == b**2 + c*x
    assert {p.name: p._linear for p in tricky.parameters} == {"a": True, "b": False, "c": True}
    forced = Expression("A*exp(-x/t)", "Decay", linear_parameter_list=[])
    assert not any(p._linear for p in forced.parameters)
    with pytest.raises(ValueError, match="q"):
        Expression("A*exp(-x/t)", "Decay", linear_parameter_list=["q"])


# -------------------------------------------------------------- batching
def test_batched_equals_per_pixel_1d():
    g = seed_gaussian()
    rng = np.random.default_rng(1)
    B, x = 35, np.linspace(-3, 3, 40)
    vals = {"fwhm": rng.uniform(0.5, 2, B), "height": rng.uniform(1, 5, B), "x0": rng.uniform(-1, 1, B)}
    values = [vals[p.name][:, None] for p in g.parameters]
    batch = g._function_nd((x,), values)
    grads = g._gradients_nd((x,), values)
    assert batch.shape == (B, x.size) and all(gr.shape == (B, x.size) for gr in grads)
    for b in range(B):
        set_values(g, **{n: v[b] for n, v in vals.items()})
        np.testing.assert_allclose(batch[b], g.function(x), rtol=1e-14)
        for gr, p in zip(grads, g.parameters):
            np.testing.assert_allclose(gr[b], getattr(g, f"grad_{p.name}")(x), rtol=1e-13, atol=1e-300)


def test_batched_equals_per_pixel_2d_rotated():
    g = seed_gaussian2d()
    rng = np.random.default_rng(2)
    B = 35
    X, Y = np.meshgrid(np.linspace(-2, 2, 6), np.linspace(-2, 2, 5))
    x, y = X.ravel(), Y.ravel()
    lo_hi = {"k": (1, 3), "rotation_angle": (-1, 1), "sx": (0.5, 1.5), "sy": (0.5, 1.5),
             "x0": (-0.5, 0.5), "y0": (-0.5, 0.5)}
    vals = {n: rng.uniform(*lo_hi[n], B) for n in lo_hi}
    values = [vals[p.name][:, None] for p in g.parameters]
    batch = g._function_nd((x, y), values)
    grads = g._gradients_nd((x, y), values)
    assert batch.shape == (B, x.size)
    for b in range(B):
        set_values(g, **{n: v[b] for n, v in vals.items()})
        np.testing.assert_allclose(batch[b], g.function(x, y), rtol=1e-13)
        for gr, p in zip(grads, g.parameters):
            np.testing.assert_allclose(gr[b], p.grad(x, y), rtol=1e-12, atol=1e-14)


def test_constant_gradients_broadcast():
    poly = Expression("a*x**2 + b*x + c", "Poly")
    x = np.linspace(0, 1, 5)
    grads = poly._gradients_nd((x,), [np.ones((4, 1))] * 3)
    assert [g.shape for g in grads] == [(4, 5)] * 3
    np.testing.assert_array_equal(grads[2], np.ones((4, 5)))
    np.testing.assert_allclose(grads[0], np.broadcast_to(x**2, (4, 5)))
    assert poly.grad_c(x).shape == (5,)


# --------------------------------------------------------------- options
def test_numexpr_missing_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "numexpr", None)  # import numexpr -> ImportError
    with pytest.raises(ImportError, match=r"swiftfit\[numexpr\]"):
        Expression("a * x", "E", module="numexpr")


def test_modules_scipy_and_none_agree():
    x = np.linspace(0.1, 2, 5)
    ref = Expression("A * erf(x / s)", "E", A=2, s=0.7)
    for module in ("scipy", None):
        other = Expression("A * erf(x / s)", "E", module=module, A=2, s=0.7)
        np.testing.assert_allclose(other.function(x), ref.function(x), rtol=1e-14)
    np.testing.assert_allclose(ref.function(x), 2 * np.array([math.erf(v / 0.7) for v in x]), rtol=1e-13)
    with pytest.raises(ValueError, match="module"):
        Expression("a * x", "E", module="torch")


def test_unknown_kwarg_names_it():
    with pytest.raises(ValueError, match="sigma"):
        Expression(GAUSSIAN, "G", sigma=1.0)


def test_position_errors_and_rotation_1d():
    with pytest.raises(ValueError, match="rotation"):
        Expression(GAUSSIAN, "G", add_rotation=True)
    with pytest.raises(ValueError, match="centre"):
        Expression(GAUSSIAN, "G", position="centre")
    with pytest.raises(ValueError, match="position"):
        Expression(GAUSSIAN2D, "G", position="x0")


def test_compute_gradients_false_uses_finite_differences():
    g = Expression(GAUSSIAN, "G", compute_gradients=False, height=2, fwhm=1.2, x0=0.1)
    ref = Expression(GAUSSIAN, "G", height=2, fwhm=1.2, x0=0.1)
    assert not g._has_gradients and ref._has_gradients
    x = np.linspace(-1, 1, 11)
    for p in g.parameters:
        np.testing.assert_allclose(p.grad(x), getattr(ref, p.name).grad(x), rtol=1e-6, atol=1e-8)


def test_non_smooth_functions():
    step = Expression("A * heaviside(x - x0)", "Step", A=2.0, x0=0.5)
    assert step.A._linear and not step.x0._linear
    np.testing.assert_array_equal(step.function(np.array([0.0, 1.0])), [0.0, 2.0])
    np.testing.assert_array_equal(step.grad_x0(np.array([0.0, 1.0])), [0.0, 0.0])  # a.e.
    stairs = Expression("A * floor(b * x)", "Stairs", A=1.0, b=2.0)
    assert not stairs._has_gradients  # sympy cannot differentiate floor: finite differences
    assert stairs.grad_b(np.array([0.2, 0.7])).shape == (2,)
    np.testing.assert_allclose(stairs.grad_A(np.array([0.2, 0.7])), [0.0, 1.0])


def test_reserved_parameter_names_are_refused():
    with pytest.raises(ValueError, match="model"):
        Expression("model * x", "E")
    ok = Expression("model_ * x", "E", rename_pars={"model_": "scale"}, scale=2.0)
    assert ok.function(3.0) == 6.0


def test_deepcopy_keeps_working():
    g = seed_gaussian()
    h = copy.deepcopy(g)
    h.height.value = 4.0
    assert g.function(0.0) == 1.0 and h.function(0.0) == 4.0
    assert h.height.grad(0.0) == 1.0 and h.height.component is h


def test_function_nd_outside_model_equals_function():
    g = seed_gaussian()
    x = np.linspace(-1, 1, 5)
    np.testing.assert_array_equal(g.function_nd(x), g.function(x))


def test_huge_integer_power_is_computed_in_floating_point():
    # would build a 370-million-digit integer; computed in floating point, it
    # does not fit in a float64 and is refused (issue 19) instead of evaluating to inf
    with pytest.raises(ExpressionError, match="does not fit in a 64-bit float"):
        Expression("a * x + 9**9**9", "Big")
    e = Expression("a * x + 2**1000", "Big")  # wider than 1024 bits: a float, still exact enough
    assert [p.name for p in e.parameters] == ["a"]
    assert e.function(0.0) == pytest.approx(2.0**1000, rel=1e-13)  # printed with 15 digits


# ------------------------------------------------------------------ safety
@pytest.mark.parametrize(
    "text, match",
    [
        ("__import__('os').system('ls')", r"__import__"),
        ("__import__", r"'__import__'"),
        ("x.real * a", r"x\.real"),
        ("os.system('ls')", r"os\.system"),
        ("a * x.__class__", r"__class__"),
        ("(lambda: 1)() * x", r"lambda"),
        ("a * x + (lambda q: q)(1)", r"lambda"),
        ("a[0] * x", r"Subscript 'a\[0\]'"),
        ("sum([q for q in range(3)]) * x", r"sum"),
        ("[q for q in (1, 2)]", r"ListComp"),
        ("{q: q for q in (1, 2)}", r"DictComp"),
        ("(q for q in (1, 2))", r"GeneratorExp"),
        ("a * x + 'text'", r"text"),
        ("open('/etc/passwd')", r"open"),
        ("eval('1') * x", r"eval"),
        ("exec('x = 1')", r"exec"),
        ("getattr(x, 'real')", r"getattr"),
        ("a * x ; a = __import__('os')", r"__import__"),
        ("_secret * x", r"_secret"),
        ("a if x else b", r"IfExp"),
    ],
)
def test_unsafe_expressions_are_refused(text, match):
    with pytest.raises(ExpressionError, match=match):
        Expression(text, "Unsafe")


def test_nothing_is_executed(tmp_path):
    targets = [tmp_path / "pwned_swiftfit", "/tmp/pwned_swiftfit"]
    for target in targets:
        if os.path.exists(target):
            os.remove(target)
    for target in targets:
        for text in (
            f"__import__('os').system('touch {target}')",
            f"a * x ; a = __import__('os').system('touch {target}')",
            f"(lambda: __import__('os').system('touch {target}'))()",
            f"x * [__import__('os').system('touch {target}')][0]",
        ):
            with pytest.raises(ExpressionError):
                Expression(text, "Pwn")
            assert not os.path.exists(target)
    assert issubclass(ExpressionError, ValueError)
