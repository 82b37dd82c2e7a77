"""inav / isig slicing in natural order with indices and axis values."""

import numpy as np
import pytest

from swiftfit.signals import BaseSignal, Signal1D, Signal2D


def test_hyperspy_doc_example():
    s = Signal1D(np.arange(100).reshape(10, 10))
    sub = s.inav[:3].isig[-5:]
    assert repr(sub) == "<Signal1D, title: , dimensions: (3|5)>"
    np.testing.assert_array_equal(sub.data, np.arange(100).reshape(10, 10)[:3, -5:])


def test_inav_is_natural_order_x_first():
    data = np.arange(4 * 5 * 6).reshape(4, 5, 6)   # nav array (4, 5): x has size 5
    s = Signal1D(data)
    sub = s.inav[1:3, 2]
    assert sub.axes_manager.navigation_shape == (2,)
    np.testing.assert_array_equal(sub.data, data[2, 1:3])
    np.testing.assert_array_equal(s.inav[4, 3].data, data[3, 4])


def test_slicing_returns_views_when_possible():
    s = Signal1D(np.zeros((4, 10)))
    sub = s.inav[1:3]
    sub.data[:] = 1.0
    assert s.data[1:3].sum() == 20.0 and s.data.sum() == 20.0


def test_float_values_on_calibrated_axis():
    s = Signal1D(np.arange(50.0), axes=[{"offset": 100.0, "scale": 0.5, "units": "eV"}])
    sub = s.isig[105.0:110.0]          # indices 10 .. 19
    ax = sub.axes_manager[0]
    assert ax.size == 10 and ax.offset == 105.0 and ax.scale == 0.5 and ax.units == "eV"
    np.testing.assert_array_equal(sub.data, np.arange(10.0, 20.0))
    # mixing a float start with an int stop, and a step
    sub2 = s.isig[110.0:30:2]          # indices 20, 22, ... 28
    assert sub2.axes_manager[0].offset == 110.0 and sub2.axes_manager[0].scale == 1.0
    np.testing.assert_array_equal(sub2.data, [20, 22, 24, 26, 28])
    # a float step is in axis units: 2.0 eV == 4 channels
    np.testing.assert_array_equal(s.isig[100.0:104.0:2.0].data, [0, 4])


def test_float_index_removes_axis_and_selects_nearest():
    s = Signal1D(np.arange(50.0), axes=[{"offset": 100.0, "scale": 0.5}])
    point = s.isig[103.2]              # (103.2 - 100) / 0.5 = 6.4 -> 6
    assert type(point) is BaseSignal
    np.testing.assert_array_equal(point.data, [6.0])


def test_out_of_range_float_raises():
    s = Signal1D(np.arange(50.0), axes=[{"offset": 100.0, "scale": 0.5}])
    with pytest.raises(ValueError, match="outside the axis"):
        s.isig[90.0:105.0]
    with pytest.raises(ValueError, match="outside the axis"):
        s.isig[200.0]


def test_out_of_range_int_and_too_many_keys():
    s = Signal1D(np.zeros((3, 5)))
    with pytest.raises(IndexError, match="index 3 is out of range"):
        s.inav[3]
    with pytest.raises(IndexError, match="too many indices"):
        s.inav[0, 0]
    with pytest.raises(TypeError, match="index must be an int, a float or a slice"):
        s.isig["a"]
    with pytest.raises(ValueError, match="step must be non-zero"):
        s.isig[::0]
    with pytest.raises(ValueError, match="selects no points"):
        s.isig[3:1]


def test_negative_index_and_negative_step():
    data = np.arange(10.0)
    s = Signal1D(data, axes=[{"offset": 1.0, "scale": 2.0}])
    np.testing.assert_array_equal(s.isig[-1].data, [9.0])
    rev = s.isig[::-1]
    np.testing.assert_array_equal(rev.data, data[::-1])
    np.testing.assert_allclose(rev.axes_manager[0].axis, s.axes_manager[0].axis[::-1])


def test_isig_integer_on_signal1d_gives_navigation_only_signal():
    s = Signal1D(np.arange(30).reshape(3, 10))
    out = s.isig[4]
    assert repr(out) == "<BaseSignal, title: , dimensions: (3|)>"
    np.testing.assert_array_equal(out.data, [4, 14, 24])


def test_signal2d_isig_x_first():
    data = np.arange(6 * 8).reshape(6, 8)      # y size 6, x size 8
    s = Signal2D(data)
    sub = s.isig[2:5, 1:3]
    assert sub.axes_manager.signal_shape == (3, 2)
    np.testing.assert_array_equal(sub.data, data[1:3, 2:5])
    row = s.isig[:, 4]
    assert type(row) is Signal1D and row.axes_manager.signal_shape == (8,)


def test_ellipsis():
    data = np.arange(24).reshape(2, 3, 4)
    s = Signal1D(data)
    np.testing.assert_array_equal(s.inav[..., 1].data, data[1])


def test_non_uniform_axis_slicing():
    s = Signal1D(np.arange(5.0), axes=[{"axis": [1.0, 2.0, 4.0, 8.0, 16.0]}])
    sub = s.isig[2.0:16.0]             # value2index(2)=1, value2index(16)=4 -> 1..3
    np.testing.assert_array_equal(sub.axes_manager[0].axis, [2.0, 4.0, 8.0])
    np.testing.assert_array_equal(sub.data, [1.0, 2.0, 3.0])


def test_metadata_copied_and_variance_sliced():
    s = Signal1D(np.ones((4, 10)), metadata={"General": {"title": "t"}})
    s.set_noise_variance(Signal1D(np.arange(40.0).reshape(4, 10)))
    sub = s.inav[1:3].isig[2:4]
    sub.metadata.General.title = "changed"
    assert s.metadata.General.title == "t"
    var = sub.metadata.Signal.Noise_properties.variance
    np.testing.assert_array_equal(var.data, [[12.0, 13.0], [22.0, 23.0]])
    assert var.data.shape == sub.data.shape


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    nav=st.tuples(st.integers(-6, 6), st.integers(-6, 6), st.sampled_from([1, 2, -1, -2])),
    sig=st.tuples(st.integers(-7, 7), st.integers(-7, 7), st.sampled_from([1, 3, -1])),
)
def test_integer_slices_match_numpy(nav, sig):
    data = np.arange(5 * 7).reshape(5, 7)
    s = Signal1D(data)
    nav_slice, sig_slice = slice(*nav), slice(*sig)
    expected = data[nav_slice, sig_slice]
    if expected.size == 0:
        with pytest.raises(ValueError, match="selects no points"):
            s.inav[nav_slice].isig[sig_slice]
        return
    sub = s.inav[nav_slice].isig[sig_slice]
    np.testing.assert_array_equal(sub.data, expected)
    np.testing.assert_allclose(sub.axes_manager[-1].axis, np.arange(7)[sig_slice])
    np.testing.assert_allclose(sub.axes_manager[0].axis, np.arange(5)[nav_slice])
