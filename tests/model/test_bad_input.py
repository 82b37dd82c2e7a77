"""Bad input is refused where it enters, with ValueError/TypeError naming it."""

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import ExpressionError, InvalidInputError, OptimizerError


def _line_model(data):
    s = hs.signals.Signal1D(np.asarray(data, dtype=float))
    m = s.create_model()
    m.append(hs.model.components1D.Polynomial(order=1))
    return s, m


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_data_in_range(bad):
    data = np.arange(20.0)
    data[7] = bad
    _, m = _line_model(data)
    with pytest.raises(ValueError, match="contain NaN or inf inside the signal range"):
        m.fit()
    # outside the range it does not matter
    m.set_signal_range(8.0, None)
    m.fit()
    assert m.fit_output.success


@pytest.mark.parametrize("variance", [0.0, -1.0])
def test_zero_or_negative_variance(variance):
    s, m = _line_model(np.arange(20.0))
    var = np.ones(20)
    var[3] = variance
    s.metadata.set_item("Signal.Noise_properties.variance", hs.signals.Signal1D(var))
    with pytest.raises(ValueError, match="noise variance .* must be positive"):
        m.fit()


def test_set_noise_variance_refuses_negative():
    s, _ = _line_model(np.arange(20.0))
    with pytest.raises(ValueError, match="variance"):
        s.set_noise_variance(-1.0)


def test_bmin_greater_than_bmax():
    g = hs.model.components1D.Gaussian()
    g.centre.bmax = 1.0
    with pytest.raises(ValueError, match=r"`bmin` \(2.0\) must not exceed `bmax` \(1.0\)"):
        g.centre.bmin = 2.0
    g.centre.bmin = 0.5
    with pytest.raises(ValueError, match="bmin"):
        g.centre.bmax = 0.0


def test_bound_of_wrong_type():
    g = hs.model.components1D.Gaussian()
    with pytest.raises(TypeError, match="bmin"):
        g.centre.bmin = "low"


def test_unknown_optimizer():
    _, m = _line_model(np.arange(20.0))
    with pytest.raises(OptimizerError, match=r"`optimizer` must be one of .*'lm'.*got 'magic'"):
        m.fit(optimizer="magic")
    assert issubclass(OptimizerError, ValueError)


def test_unknown_loss():
    _, m = _line_model(np.arange(20.0))
    with pytest.raises(ValueError, match="loss_function must be one of"):
        m.fit(loss_function="l7")


def test_same_component_twice():
    _, m = _line_model(np.arange(20.0))
    g = hs.model.components1D.Gaussian()
    m.append(g)
    with pytest.raises(ValueError, match="already in the model"):
        m.append(g)
    with pytest.raises(TypeError, match="only Component instances"):
        m.append("Gaussian")


def test_component_in_two_models():
    _, m1 = _line_model(np.arange(20.0))
    _, m2 = _line_model(np.arange(20.0))
    g = hs.model.components1D.Gaussian()
    m1.append(g)
    with pytest.raises(ValueError, match="belongs to another model"):
        m2.append(g)


def test_empty_signal_range():
    _, m = _line_model(np.arange(20.0))
    with pytest.raises(ValueError, match="empty signal range"):
        m.set_signal_range(10.0, 5.0)
    with pytest.raises(ValueError, match="would be empty"):
        m.remove_signal_range(None, None)
    with pytest.raises(ValueError, match="`mask` must be a boolean array"):
        m.set_signal_range_from_mask(np.ones(3, bool))
    with pytest.raises(ValueError, match="would be empty"):
        m.set_signal_range_from_mask(np.zeros(20, bool))
    with pytest.raises(ValueError):
        m.set_signal_range(100.0, 200.0)  # outside the axis


@pytest.mark.parametrize(
    "expression, match",
    [
        ("__import__('os').system('echo hi') * x", "__import__"),
        ("x.real * a", "attribute access"),
        ("(lambda: 1)() * x", "ambda"),
        ("a * x ; b = __builtins__", "_"),
        ("open('f').read() * x", "open"),
    ],
)
def test_expression_refuses_unsafe_text(expression, match):
    with pytest.raises(ExpressionError, match=match):
        hs.model.components1D.Expression(expression, name="bad")
    assert issubclass(ExpressionError, ValueError)


def test_twin_and_expr_refuse_unsafe_text():
    g = hs.model.components1D.Gaussian()
    with pytest.raises(ExpressionError, match="attribute"):
        g.A.twin_function_expr = "x.__class__"
    with pytest.raises(ExpressionError, match="only use the variable 'x'"):
        g.A.twin_function_expr = "y**2"
    with pytest.raises(ExpressionError, match="not allowed"):
        g.A.expr = "__import__('os')"


def test_expr_unknown_reference_and_cycle():
    _, m = _line_model(np.arange(20.0))
    g1 = hs.model.components1D.Gaussian()
    g2 = hs.model.components1D.Gaussian()
    m.extend([g1, g2])
    with pytest.raises(InvalidInputError, match="unknown component 'Carbon'"):
        g1.A.expr = "2 * Carbon.A"
    assert g1.A.expr is None
    g1.A.expr = "2 * Gaussian_0.A"
    with pytest.raises(InvalidInputError, match="cycle"):
        g2.A.expr = "Gaussian.A + 1"


def test_parameter_value_must_be_finite_number():
    g = hs.model.components1D.Gaussian()
    with pytest.raises(ValueError, match="A.value` must be finite"):
        g.A.value = np.nan
    with pytest.raises(TypeError, match="A.value` must be a real number"):
        g.A.value = "1"


def test_grad_analytical_without_gradients():
    from swiftfit.component import Component

    class NoGrad(Component):
        def __init__(self):
            Component.__init__(self, ("a",))

        def function(self, x):
            return self.a.value * x

    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(NoGrad())
    with pytest.raises(ValueError, match=r"grad='analytical' but components \['NoGrad'\]"):
        m.fit(grad="analytical")
    m.fit(grad="fd")
    assert m[0].a.value == pytest.approx(1.0, rel=1e-8)


def test_complex_step_with_component_that_cannot_take_complex():
    from swiftfit.component import Component

    class RealOnly(Component):
        def __init__(self):
            Component.__init__(self, ("a",))

        def function(self, x):
            return self.a.value * x

    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(RealOnly())
    with pytest.raises(ValueError, match="fd_scheme='cs' needs every component to accept complex input"):
        m.fit(grad="fd", fd_scheme="cs")
    with pytest.raises(ValueError, match="`fd_scheme` must be one of"):
        m.fit(grad="fd", fd_scheme="5-point")


def test_complex_step_works_for_builtin_components():
    x = np.linspace(0, 10, 101)
    s = hs.signals.Signal1D(3 / np.sqrt(2 * np.pi) * np.exp(-((x - 5) ** 2) / 2))
    s.axes_manager[-1].scale = 0.1
    m = s.create_model()
    g = hs.model.components1D.Gaussian(A=2, sigma=1.3, centre=4.6)
    m.append(g)
    m.fit(grad="fd", fd_scheme="cs")
    np.testing.assert_allclose([g.A.value, g.sigma.value, g.centre.value], [3, 1, 5], rtol=1e-9)


def test_callable_grad_needs_custom_loss():
    _, m = _line_model(np.arange(20.0))
    with pytest.raises(ValueError, match="callable `grad` is the gradient of a custom"):
        m.fit(grad=lambda *a: 0)


def test_global_optimizer_needs_finite_bounds():
    _, m = _line_model(np.arange(20.0))
    m[0].a0.bmin, m[0].a0.bmax = -10, 10
    with pytest.raises(OptimizerError, match=r"needs finite bounds .* missing for \['Polynomial.a1'\]"):
        m.fit(optimizer="Differential Evolution")
