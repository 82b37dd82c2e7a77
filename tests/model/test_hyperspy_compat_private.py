"""HyperSpy's private names that swiftfit implements with HyperSpy's meaning.

Each test states HyperSpy 2.5.0's behaviour (read from its source and its own
tests) and asserts it here; the names are those of ``SUPPORTED_PRIVATE`` in
tests_compat/find_internals.py, which count the HyperSpy tests that read only
them as public-API tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components.components1d import Expression, Gaussian, Offset, Polynomial
from swiftfit.errors import InvalidInputError, InvalidTypeError
from swiftfit.parameters import Parameter


def _signal(nav=(3,), binned=False):
    rng = np.random.default_rng(0)
    s = hs.signals.Signal1D(rng.random(nav + (20,)) + 1.0)
    s.axes_manager[-1].is_binned = binned
    return s


# ------------------------------------------------------------ _axes_manager
@pytest.mark.parametrize("binned", [True, False])
def test_estimate_parameters_takes_the_signals_axes_manager(binned):
    # HyperSpy: Component._estimate_parameters sets _axes_manager to the signal's
    # and creates the maps with its navigation shape
    s = _signal(binned=binned)
    g = Gaussian()
    assert g._axes_manager is None
    assert g.estimate_parameters(s, 0, 19)
    assert g._axes_manager is s.axes_manager
    assert g._axes_manager[-1].is_binned is binned
    assert g.A.map.shape == (3,) and g.A._axes_manager is s.axes_manager
    assert g.A.map["is_set"].all()


def test_estimate_only_current_writes_the_current_position():
    s = _signal(nav=(4,))
    s.axes_manager.indices = (2,)
    g = Gaussian(A=7.0)
    assert g.estimate_parameters(s, 0, 19, only_current=True)
    assert g.A.map.shape == (4,)
    # the estimate goes to index 2; the other positions keep the initial A = 7
    assert g.A.map["values"][2] == g.A.value != 7.0
    np.testing.assert_array_equal(g.A.map["values"][[0, 1, 3]], 7.0)


def test_component_in_a_model_follows_the_models_axes_manager():
    s = _signal()
    m = s.create_model()
    g = Gaussian()
    g._axes_manager = _signal(nav=(5,)).axes_manager  # set by hand before joining
    m.append(g)
    assert g._axes_manager is m.axes_manager  # HyperSpy's append sets it
    assert g.A.map.shape == (3,)


def test_parameter_axes_manager_set_by_hand():
    # HyperSpy test_parameter.py's DummyAxesManager: navigation_shape (2,), indices (1,)
    class AxesManager:
        navigation_shape = (2,)
        indices = (1,)
        _navigation_shape_in_array = (2,)

    p = Parameter()
    p._axes_manager = AxesManager()
    p._create_array()
    assert p.map.shape == (2,)
    p.value = 1.0
    p.std = 0.1
    p.store_current_value_in_array()
    assert (p.map["values"][1], p.map["std"][1], bool(p.map["is_set"][1])) == (1.0, 0.1, True)
    assert not p.map["is_set"][0]


def test_component_axes_manager_set_by_hand_drives_active_array():
    g = Gaussian()
    g._axes_manager = hs.signals.Signal1D(np.empty((3, 2, 1))).axes_manager
    g._create_arrays()
    assert g.A.map.shape == (3, 2)
    g.active_is_multidimensional = True
    assert g._active_array.shape == (3, 2) and g._active_array.all()
    g._active_array[2, 0] = False
    g._axes_manager.indices = (0, 2)  # natural order: column 0, row 2
    assert g.active is False


# -------------------------------------------------------------- small names
def test_id_name_is_the_class_name_and_settable():
    g = Gaussian()
    assert g._id_name == "Gaussian"
    g._id_name = "newone"
    assert g._id_name == "newone"
    with pytest.raises(InvalidTypeError, match="_id_name"):
        g._id_name = 3


def test_free_parameters_sorted_by_name():
    g = Gaussian()
    assert [p.name for p in g._free_parameters] == ["A", "centre", "sigma"]
    g.centre.free = False
    assert [p.name for p in g._free_parameters] == ["A", "sigma"]


def test_constant_term():
    # HyperSpy model/test_constant.py: a*x + b with b fixed -> 4; both free -> 0
    c = Expression("a * x + b", name="line", a=20.0, b=4.0)
    assert c._constant_term == 0.0
    c.b.free = False
    assert c._constant_term == 4.0
    h = Expression("A * exp(-(x-centre)**2/(2*sigma**2))", name="g", A=20.0, centre=4.0, sigma=1.0)
    h.centre.free = False
    h.sigma.free = False
    assert h._constant_term == 0.0
    o = Offset(offset=2.5)
    assert o._constant_term == 0.0
    o.offset.free = False
    assert o._constant_term == 2.5
    p = Polynomial(order=2, a0=1.5)
    p.a0.free = False
    assert p._constant_term == 1.5
    assert Gaussian(A=3.0)._constant_term == 0.0
    c.a.free = False  # a*x + b: no constant any more
    with pytest.raises(InvalidInputError, match="depends on the coordinates"):
        c._constant_term


def test_expression_function_nd_parameters_values_and_maps_outside_a_model():
    c = Expression("a * x + b", name="line")
    x = np.arange(3.0)
    np.testing.assert_array_equal(c.function_nd(x, parameters_values=[2.0, 1.0]), [1.0, 3.0, 5.0])
    with pytest.raises(InvalidInputError, match="parameters_values"):
        c.function_nd(x, parameters_values=[1.0])
    # maps sized by estimate-like _create_arrays outside a model are used, one row per position
    c._axes_manager = hs.signals.Signal1D(np.empty((2, 3))).axes_manager
    c._create_arrays()
    c.a.map["values"][:] = [1.0, 2.0]
    c.b.map["values"][:] = 0.0
    np.testing.assert_array_equal(c.function_nd(x), [[0.0, 1.0, 2.0], [0.0, 2.0, 4.0]])
