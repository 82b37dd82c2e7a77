"""DataAxis calibration and AxesManager ordering (natural vs array order)."""

import math

import numpy as np
import pytest

from swiftfit.signals import AxesManager, DataAxis, Signal1D, Signal2D


def test_uniform_axis_values_and_defaults():
    ax = DataAxis(size=5, scale=0.5, offset=10.0)
    np.testing.assert_allclose(ax.axis, [10.0, 10.5, 11.0, 11.5, 12.0])
    assert ax.units == "<undefined>" and ax.name == "<undefined>"
    assert ax.is_uniform and not ax.is_binned and not ax.navigate
    assert (ax.low_value, ax.high_value) == (10.0, 12.0)


def test_axis_recomputed_when_calibration_changes():
    ax = DataAxis(size=3)
    ax.scale = 2.0
    ax.offset = -1.0
    np.testing.assert_allclose(ax.axis, [-1.0, 1.0, 3.0])
    ax.size = 4
    np.testing.assert_allclose(ax.axis, [-1.0, 1.0, 3.0, 5.0])


def test_value2index_rounding_modes():
    ax = DataAxis(size=10, scale=0.1, offset=1.0)
    assert ax.value2index(1.24) == 2
    assert ax.value2index(1.26) == 3
    assert ax.value2index(1.26, rounding=math.floor) == 2
    assert ax.value2index(1.21, rounding=math.ceil) == 3
    # float noise: 1.3 is exactly index 3 for floor as well
    assert ax.value2index(1.3, rounding=math.floor) == 3
    np.testing.assert_array_equal(ax.value2index([1.0, 1.9]), [0, 9])
    assert ax.index2value(4) == pytest.approx(1.4)


def test_value2index_out_of_range_raises():
    ax = DataAxis(size=10, scale=0.1, offset=1.0)
    with pytest.raises(ValueError, match="outside the axis"):
        ax.value2index(2.5)
    with pytest.raises(ValueError, match="outside the axis"):
        ax.value2index(0.5)


def test_negative_scale_axis():
    ax = DataAxis(size=4, scale=-1.0, offset=3.0)
    np.testing.assert_allclose(ax.axis, [3, 2, 1, 0])
    assert (ax.low_value, ax.high_value) == (0.0, 3.0)
    assert ax.value2index(1.0) == 2


@pytest.mark.parametrize("bad", [0, 0.0, np.inf, np.nan])
def test_bad_scale_rejected(bad):
    with pytest.raises(ValueError, match="scale"):
        DataAxis(size=3, scale=bad)
    ax = DataAxis(size=3)
    with pytest.raises(ValueError, match="scale"):
        ax.scale = bad


def test_scale_must_be_number():
    with pytest.raises(TypeError, match="`scale` must be a real number"):
        DataAxis(size=3, scale="1")


def test_non_uniform_axis():
    values = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    ax = DataAxis(axis=values)
    assert not ax.is_uniform
    assert ax.size == 5 and ax.offset == 1.0 and ax.scale is None
    assert ax.value2index(5.0) == 2           # 4 is nearer than 8
    assert ax.value2index(7.0) == 3
    assert ax.value2index(7.0, rounding=math.floor) == 2
    assert ax.value2index(4.5, rounding=math.ceil) == 3
    assert ax.index2value(4) == 16.0
    with pytest.raises(ValueError, match="outside the axis"):
        ax.value2index(17.0)
    with pytest.raises(ValueError, match="non-uniform"):
        ax.scale = 2.0


def test_equally_spaced_axis_array_is_uniform():
    ax = DataAxis(axis=np.linspace(2.0, 4.0, 5))
    assert ax.is_uniform
    assert ax.scale == pytest.approx(0.5) and ax.offset == 2.0


def test_non_monotonic_axis_rejected():
    with pytest.raises(ValueError, match="strictly monotonic"):
        DataAxis(axis=[0.0, 2.0, 1.0])


def test_axis_copy_is_independent():
    ax = DataAxis(size=3, scale=2.0, name="E")
    cp = ax.copy()
    cp.scale = 5.0
    assert ax.scale == 2.0 and cp.name == "E"


def test_natural_order_versus_array_order():
    s = Signal1D(np.zeros((4, 5, 100)))
    am = s.axes_manager
    assert am.navigation_shape == (5, 4)
    assert am._navigation_shape_in_array == (4, 5)
    assert am.signal_shape == (100,)
    assert am[0].size == 5 and am[0].index_in_array == 1
    assert am[1].size == 4 and am[1].index_in_array == 0
    assert am[-1].size == 100 and am[-1].index_in_array == 2
    assert (am.navigation_dimension, am.signal_dimension) == (2, 1)
    assert (am.navigation_size, am._navigation_size1, am.signal_size) == (20, 20, 100)
    assert am.navigation_indices_in_array == (1, 0)


def test_signal2d_signal_axes_natural_order():
    s = Signal2D(np.zeros((2, 3, 4)))
    am = s.axes_manager
    assert am.signal_shape == (4, 3)
    assert am._signal_shape_in_array == (3, 4)
    assert am.navigation_shape == (2,)


def test_setting_indices_selects_array_position():
    data = np.arange(4 * 5 * 100).reshape(4, 5, 100)
    s = Signal1D(data)
    s.axes_manager.indices = (2, 3)
    assert s.axes_manager._array_indices == (3, 2)
    np.testing.assert_array_equal(s.get_current_signal().data, data[3, 2])
    assert s.axes_manager[0].index == 2 and s.axes_manager[1].index == 3


def test_bad_indices_rejected():
    am = Signal1D(np.zeros((4, 5, 10))).axes_manager
    with pytest.raises(ValueError, match=r"\(5, 0\) out of range"):
        am.indices = (5, 0)
    with pytest.raises(ValueError, match="must have 2 entries"):
        am.indices = (1,)
    with pytest.raises(TypeError, match="ints"):
        am.indices = (1.0, 0)


def test_no_navigation_sizes():
    am = Signal1D(np.zeros(7)).axes_manager
    assert am.navigation_shape == () and am.indices == ()
    assert am.navigation_size == 0 and am._navigation_size1 == 1
    assert list(am) == [()]


def test_iteration_x_fastest():
    s = Signal1D(np.zeros((2, 3, 4)))
    visited = list(s.axes_manager)
    assert visited == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    assert s.axes_manager.indices == (2, 1)


def test_lookup_by_name_and_errors():
    s = Signal1D(np.zeros((3, 4)), axes=[{"name": "x"}, {"name": "Energy"}])
    assert s.axes_manager["Energy"] is s.axes_manager[-1]
    with pytest.raises(ValueError, match="no axis named 'y'"):
        s.axes_manager["y"]
    with pytest.raises(IndexError, match="out of range"):
        s.axes_manager[2]


def test_axes_manager_repr_lists_every_axis():
    s = Signal1D(np.zeros((3, 4)), axes=[{"name": "x"}, {"name": "E", "units": "eV"}])
    text = repr(s.axes_manager)
    assert text.startswith("<Axes manager, axes: (3|4)>")
    assert " x " in text and " E " in text and "eV" in text


def test_standalone_manager():
    am = AxesManager([DataAxis(size=4, navigate=True), DataAxis(size=6)])
    assert am.shape == (4, 6)


def test_index_and_value_setters():
    ax = DataAxis(size=5, scale=0.5, offset=1.0, navigate=True)
    ax.value = 2.0
    assert ax.index == 2 and ax.value == 2.0
    with pytest.raises(ValueError, match=r"`index` must be in \[0, 4\].*got 5"):
        ax.index = 5
    with pytest.raises(ValueError, match="outside the axis"):
        ax.value = 10.0
    assert repr(ax) == "<Unnamed axis, size: 5, index: 2>"


def test_hyperspy_style_axis_dict_accepted():
    s = Signal1D(np.zeros(4), axes=[{"_type": "UniformDataAxis", "size": 4, "scale": 2.0,
                                     "offset": 0.0, "units": "nm", "name": "x",
                                     "navigate": False, "is_binned": False}])
    assert s.axes_manager[0].scale == 2.0 and s.axes_manager[0].units == "nm"
