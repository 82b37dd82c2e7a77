"""Seed 001 (HyperSpy 'Model fitting'): the 1-D examples, verbatim apart from the import.

Truth: what the seed prints or returns.
"""

import numpy as np
import pytest

import swiftfit as hs


def _rows(table: str):
    return [[c.strip() for c in line.split("|")] for line in table.splitlines()[2:]]


def test_components_table_and_naming():
    s = hs.signals.Signal1D(np.arange(300).reshape(30, 10))
    m = s.create_model()
    assert repr(m) == "<Model1D, title: >"
    assert _rows(repr(m.components)) == []
    assert "# | Attribute Name | Component Name | Component Type" in " ".join(repr(m.components).split())
    gaussian = hs.model.components1D.Gaussian()
    m.append(gaussian)
    assert _rows(repr(m.components)) == [["0", "Gaussian", "Gaussian", "Gaussian"]]
    gaussian2 = hs.model.components1D.Gaussian()
    gaussian3 = hs.model.components1D.Gaussian()
    m.extend((gaussian2, gaussian3))
    assert _rows(repr(m.components)) == [
        ["0", "Gaussian", "Gaussian", "Gaussian"],
        ["1", "Gaussian_0", "Gaussian_0", "Gaussian"],
        ["2", "Gaussian_1", "Gaussian_1", "Gaussian"],
    ]
    gaussian.name = "Carbon"
    gaussian2.name = "Long Hydrogen name"
    gaussian3.name = "Nitrogen"
    assert _rows(repr(m.components)) == [
        ["0", "Carbon", "Carbon", "Gaussian"],
        ["1", "Long_Hydrogen_name", "Long Hydrogen name", "Gaussian"],
        ["2", "Nitrogen", "Nitrogen", "Gaussian"],
    ]
    with pytest.raises(ValueError, match="Another component already has the name Carbon"):
        gaussian2.name = "Carbon"
    assert repr(m[0]) == "<Carbon (Gaussian component)>"
    assert repr(m["Long Hydrogen name"]) == "<Long Hydrogen name (Gaussian component)>"
    assert m.components.Long_Hydrogen_name is gaussian2


def test_active_is_multidimensional():
    s = hs.signals.Signal1D(np.arange(100).reshape(10, 10))
    m = s.create_model()
    g1 = hs.model.components1D.Gaussian()
    g2 = hs.model.components1D.Gaussian()
    m.extend([g1, g2])
    g1.active_is_multidimensional = True
    np.testing.assert_array_equal(g1._active_array, np.ones(10, bool))
    assert g2._active_array is None
    m.set_component_active_value(False)
    np.testing.assert_array_equal(g1._active_array, np.zeros(10, bool))
    m.set_component_active_value(True, only_current=True)
    np.testing.assert_array_equal(g1._active_array, [True] + [False] * 9)
    g1.active_is_multidimensional = False
    assert g1._active_array is None


def test_model_indexing_inav_isig():
    s = hs.signals.Signal1D(np.arange(100).reshape(10, 10))
    m = s.create_model()
    m.append(hs.model.components1D.Gaussian())
    m1 = m.inav[:3].isig[-5:]
    assert repr(m1.signal) == "<Signal1D, title: , dimensions: (3|5)>"
    assert m1[0].A.map.shape == (3,)
    np.testing.assert_array_equal(m1.signal.data, np.arange(100).reshape(10, 10)[:3, -5:])


def test_set_parameters_value():
    s = hs.signals.Signal1D(np.arange(100).reshape(10, 10))
    m = s.create_model()
    g1 = hs.model.components1D.Gaussian()
    g2 = hs.model.components1D.Gaussian()
    m.extend([g1, g2])
    m.set_parameters_value("A", 20)
    np.testing.assert_array_equal(g1.A.map["values"], np.full(10, 20.0))
    np.testing.assert_array_equal(g2.A.map["values"], np.full(10, 20.0))
    m.set_parameters_value("A", 40, only_current=True)
    np.testing.assert_array_equal(g1.A.map["values"], [40.0] + [20.0] * 9)
    m.set_parameters_value("A", 30, component_list=[g2])
    np.testing.assert_array_equal(g2.A.map["values"], np.full(10, 30.0))
    np.testing.assert_array_equal(g1.A.map["values"], [40.0] + [20.0] * 9)


def test_set_parameters_free_component_and_model():
    g = hs.model.components1D.Gaussian()
    assert {p.name for p in g.free_parameters} == {"A", "sigma", "centre"}
    assert g.set_parameters_not_free() == set()
    assert {p.name for p in g.set_parameters_free(parameter_name_list=["A", "centre"])} == {"A", "centre"}
    assert repr(g.A) == "<Parameter A of Gaussian component>"

    s = hs.signals.Signal1D(np.arange(100).reshape(10, 10))
    m = s.create_model()
    g1 = hs.model.components1D.Gaussian()
    g2 = hs.model.components1D.Gaussian()
    m.extend([g1, g2])
    m.set_parameters_not_free()
    assert g1.free_parameters == set() and g2.free_parameters == set()
    m.set_parameters_free(parameter_name_list=["A"])
    assert g1.free_parameters == {g1.A} and g2.free_parameters == {g2.A}
    m.set_parameters_free([g1], parameter_name_list=["sigma"])
    assert g1.free_parameters == {g1.A, g1.sigma}
    assert g2.free_parameters == {g2.A}


def _three_gaussians():
    s = hs.signals.Signal1D(np.arange(100.0))
    m = s.create_model()
    gaussian = hs.model.components1D.Gaussian()
    gaussian2 = hs.model.components1D.Gaussian()
    gaussian3 = hs.model.components1D.Gaussian()
    m.extend((gaussian, gaussian2, gaussian3))
    gaussian.name = "Carbon"
    gaussian2.name = "Hydrogen"
    gaussian3.name = "Nitrogen"
    gaussian2.centre.value = 10
    return m, gaussian, gaussian2, gaussian3


def test_twins_and_twin_function_expr(capsys):
    m, gaussian, gaussian2, gaussian3 = _three_gaussians()
    assert tuple(p.name for p in gaussian.parameters) == ("A", "sigma", "centre")
    gaussian.centre.free = False
    assert {p.name for p in gaussian.free_parameters} == {"A", "sigma"}
    # Couple the A parameter of gaussian2 to the A parameter of gaussian 3:
    gaussian2.A.twin = gaussian3.A
    gaussian2.A.value = 10
    assert (gaussian2.A.value, gaussian3.A.value) == (10.0, 10.0)
    gaussian3.A.value = 5
    assert (gaussian2.A.value, gaussian3.A.value) == (5.0, 5.0)
    assert not gaussian2.A.free
    gaussian2.A.twin_function_expr = "x**2"
    gaussian2.A.twin_inverse_function_expr = "sqrt(abs(x))"
    gaussian2.A.value = 4
    assert (gaussian2.A.value, gaussian3.A.value) == (4.0, 2.0)
    gaussian3.A.value = 4
    assert (gaussian2.A.value, gaussian3.A.value) == (16.0, 4.0)
    m.print_current_values()
    out = capsys.readouterr().out
    assert "Hydrogen: Gaussian" in out and "16" in out


def test_twin_inverse_found_by_sympy():
    """The inverse of x**2 is solved automatically: setting 4 gives the twin 2."""
    m, _, gaussian2, gaussian3 = _three_gaussians()
    gaussian3.A.value = 3
    gaussian2.A.twin = gaussian3.A
    gaussian2.A.twin_function_expr = "x**2"
    assert gaussian2.A.twin_inverse_function_expr == "sqrt(x)"
    gaussian2.A.value = 4
    assert gaussian3.A.value == pytest.approx(2.0, rel=1e-15)
    gaussian2.A.twin_function_expr = "2*x + 1"
    gaussian2.A.value = 7
    assert gaussian3.A.value == pytest.approx(3.0, rel=1e-15)


def test_expression_examples_verbatim():
    g = hs.model.components1D.Expression(
        expression="height * exp(-(x - x0) ** 2 * 4 * log(2)/ fwhm ** 2)",
        name="Gaussian",
        position="x0",
        height=1,
        fwhm=1,
        x0=0,
        module="numpy")
    assert {p.name for p in g.parameters} == {"height", "fwhm", "x0"}
    assert float(g.function(0.5)) == pytest.approx(0.5, rel=1e-12)  # half maximum at fwhm/2
    expression = "h / sqrt(p2) ; p2 = 2 * m0 * e1 * x * brackets;"
    expression += "brackets = 1 + (e1 * x) / (2 * m0 * c * c) ;"
    expression += "m0 = 9.1e-31 ; c = 3e8; e1 = 1.6e-19 ; h = 6.6e-34"
    wavelength = hs.model.components1D.Expression(
        expression=expression,
        name="Electron wavelength with voltage")
    V = 200e3
    m0, c, e1, h = 9.1e-31, 3e8, 1.6e-19, 6.6e-34
    truth = h / np.sqrt(2 * m0 * e1 * V * (1 + e1 * V / (2 * m0 * c * c)))
    assert float(wavelength.function(V)) == pytest.approx(truth, rel=1e-12)


def test_custom_component_template():
    """Seed 001's template. One line is corrected: the seed's
    ``self.parameter_1.attribute_1.free = False`` refers to an attribute that
    does not exist (it raises AttributeError in HyperSpy as well); the
    template's intent, fixing parameter_1, is ``self.parameter_1.free = False``."""
    from swiftfit.component import Component

    class MyComponent(Component):
        """
        """
        def __init__(self, parameter_1=1, parameter_2=2):
            # Define the parameters
            Component.__init__(self, ('parameter_1', 'parameter_2'))
            # Optionally we can set the initial values
            self.parameter_1.value = parameter_1
            self.parameter_1.value = parameter_1
            # The units (optional)
            self.parameter_1.units = 'Tesla'
            self.parameter_2.units = 'Kociak'
            # Once defined we can give default values to the attribute
            # For example we fix the attribure_1 (optional)
            self.parameter_1.free = False
            # And we set the boundaries (optional)
            self.parameter_1.bmin = 0.
            self.parameter_1.bmax = None
            # Optionally, to boost the optimization speed we can also define
            # the gradients of the function we the syntax:
            # self.parameter.grad = function
            self.parameter_1.grad = self.grad_parameter_1
            self.parameter_2.grad = self.grad_parameter_2
        # Define the function as a function of the already defined parameters,
        # x being the independent variable value
        def function(self, x):
            p1 = self.parameter_1.value
            p2 = self.parameter_2.value
            return p1 + x * p2
        # Optionally define the gradients of each parameter
        def grad_parameter_1(self, x):
            """
            Returns d(function)/d(parameter_1)
            """
            return 0
        def grad_parameter_2(self, x):
            """
            Returns d(function)/d(parameter_2)
            """
            return x

    comp = MyComponent(parameter_1=3)
    assert comp.parameter_1.units == "Tesla" and comp.parameter_1.bmin == 0.0
    # the template sets parameter_1 twice and never parameter_2, which keeps
    # the Parameter default 0 (as in HyperSpy): p1 + x * 0
    np.testing.assert_allclose(comp.function(np.arange(3.0)), [3.0, 3.0, 3.0])
    comp.parameter_2.value = 2
    np.testing.assert_allclose(comp.function(np.arange(3.0)), [3.0, 5.0, 7.0])
    # fit it: data 3 + 0.5 x, parameter_1 fixed at 3 -> parameter_2 = 0.5 exactly
    s = hs.signals.Signal1D(3 + 0.5 * np.arange(50.0))
    m = s.create_model()
    m.append(comp)
    m.fit()
    assert comp.parameter_2.value == pytest.approx(0.5, rel=1e-10)
    assert comp.parameter_1.value == 3.0
    m.fit(grad="analytical")
    assert comp.parameter_2.value == pytest.approx(0.5, rel=1e-10)
