"""Signal construction, representation, copies, transposition and reductions."""

import numpy as np
import pytest

from swiftfit.signals import BaseSignal, Signal1D, Signal2D


@pytest.mark.parametrize(
    "cls, shape, expected",
    [
        (Signal1D, (100,), "<Signal1D, title: , dimensions: (|100)>"),
        (Signal1D, (10, 100), "<Signal1D, title: , dimensions: (10|100)>"),
        (Signal1D, (3, 4, 20), "<Signal1D, title: , dimensions: (4, 3|20)>"),
        (Signal2D, (30, 40), "<Signal2D, title: , dimensions: (|40, 30)>"),
        (Signal2D, (2, 30, 40), "<Signal2D, title: , dimensions: (2|40, 30)>"),
        (BaseSignal, (3, 4), "<BaseSignal, title: , dimensions: (|4, 3)>"),
    ],
)
def test_repr_dimensions(cls, shape, expected):
    assert repr(cls(np.zeros(shape))) == expected


def test_repr_title():
    s = Signal1D(np.zeros(5), metadata={"General": {"title": "my title"}})
    assert repr(s) == "<Signal1D, title: my title, dimensions: (|5)>"


def test_dtype_kept_and_lists_accepted():
    assert Signal1D(np.arange(5, dtype=np.int16)).data.dtype == np.int16
    assert Signal1D([1.0, 2.0]).data.shape == (2,)


def test_axes_dicts_in_array_order():
    s = Signal1D(np.zeros((3, 50)), axes=[
        {"name": "time", "scale": 2.0, "units": "s"},
        {"name": "E", "offset": 100.0, "scale": 0.5, "units": "eV", "is_binned": True},
    ])
    e = s.axes_manager[-1]
    assert (e.name, e.offset, e.scale, e.units, e.is_binned) == ("E", 100.0, 0.5, "eV", True)
    assert e.axis[-1] == pytest.approx(124.5)
    assert s.axes_manager[0].name == "time" and s.axes_manager[0].navigate


def test_non_uniform_axis_from_dict():
    s = Signal1D(np.zeros(4), axes=[{"axis": [1.0, 2.0, 4.0, 8.0]}])
    ax = s.axes_manager[0]
    assert not ax.is_uniform and ax.value2index(3.5) == 2


def test_axes_errors():
    with pytest.raises(ValueError, match="one entry per data dimension"):
        Signal1D(np.zeros((3, 4)), axes=[{}])
    with pytest.raises(ValueError, match=r"axes\[1\]` has size 5 but data dimension 1 has size 4"):
        Signal1D(np.zeros((3, 4)), axes=[{}, {"size": 5}])
    with pytest.raises(ValueError, match="unknown keys"):
        Signal1D(np.zeros(4), axes=[{"scael": 2}])
    with pytest.raises(ValueError, match="Signal2D needs data with at least 2 dimensions"):
        Signal2D(np.zeros(5))


def test_base_signal_navigate_flags():
    s = BaseSignal(np.zeros((3, 4, 5)), axes=[{"navigate": True}, {}, {}])
    assert s.axes_manager.navigation_shape == (3,)
    assert s.axes_manager.signal_shape == (5, 4)
    with pytest.raises(ValueError, match="navigation axes must precede"):
        BaseSignal(np.zeros((3, 4)), axes=[{"navigate": False}, {"navigate": True}])


def test_data_setter_validates_shape():
    s = Signal1D(np.zeros((2, 3)))
    s.data = np.ones((2, 3), dtype=np.float32)
    assert s.data.dtype == np.float32
    with pytest.raises(ValueError, match=r"must keep the shape \(2, 3\), got \(6,\)"):
        s.data = np.ones(6)


def test_array_protocol():
    s = Signal1D(np.arange(3.0))
    np.testing.assert_array_equal(np.asarray(s), [0.0, 1.0, 2.0])


def test_copy_shares_data_deepcopy_does_not():
    s = Signal1D(np.zeros(3))
    s.set_noise_variance(Signal1D(np.ones(3)))
    shallow, deep = s.copy(), s.deepcopy()
    s.data[0] = 5.0
    assert shallow.data[0] == 5.0 and deep.data[0] == 0.0
    deep.axes_manager[0].scale = 3.0
    assert s.axes_manager[0].scale == 1.0
    assert deep.metadata.Signal.Noise_properties.variance is not \
        s.metadata.Signal.Noise_properties.variance


def test_deepcopy_with_new_data():
    s = Signal2D(np.zeros((2, 3)), metadata={"General": {"title": "im"}})
    new = s._deepcopy_with_new_data(np.ones((2, 3)))
    assert type(new) is Signal2D and new.metadata.General.title == "im"
    np.testing.assert_array_equal(new.data, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"must have shape \(2, 3\), got \(3, 2\)"):
        s._deepcopy_with_new_data(np.ones((3, 2)))


def test_transpose_signal2d_to_navigation_only():
    s = Signal2D(np.random.default_rng(0).random((30, 40)))
    t = s.T
    assert type(t) is BaseSignal
    assert repr(t) == "<BaseSignal, title: , dimensions: (40, 30|)>"
    assert t.axes_manager.signal_dimension == 0
    np.testing.assert_array_equal(t.data, s.data)
    assert type(t.T) is Signal2D and t.T.axes_manager.signal_shape == (40, 30)


def test_transpose_signal1d():
    data = np.arange(10 * 100).reshape(10, 100)
    s = Signal1D(data, axes=[{"name": "n"}, {"name": "E"}])
    t = s.T
    assert type(t) is Signal1D
    assert t.axes_manager.navigation_shape == (100,)
    assert t.axes_manager.signal_shape == (10,)
    assert t.axes_manager[0].name == "E" and t.axes_manager[-1].name == "n"
    np.testing.assert_array_equal(t.data, data.T)
    assert repr(Signal1D(np.zeros(8)).T) == "<BaseSignal, title: , dimensions: (8|)>"


def test_as_signal1d_and_as_signal2d():
    data = np.arange(24).reshape(2, 3, 4)
    s = BaseSignal(data)
    s1 = s.as_signal1D(2)             # natural axis 2 is array axis 0 (size 2)
    assert type(s1) is Signal1D
    assert s1.axes_manager.signal_shape == (2,)
    assert s1.axes_manager.navigation_shape == (4, 3)
    np.testing.assert_array_equal(s1.data, np.moveaxis(data, 0, -1))
    s2 = s.as_signal2D((0, 1))
    assert type(s2) is Signal2D and s2.axes_manager.signal_shape == (4, 3)
    np.testing.assert_array_equal(s2.data, data)
    with pytest.raises(ValueError, match="must name two axes"):
        s.as_signal2D((0,))


def test_sum_and_mean():
    data = np.arange(24.0).reshape(2, 3, 4)
    s = Signal1D(data, axes=[{"name": "y"}, {"name": "x"}, {"name": "E"}])
    total = s.sum()
    assert type(total) is BaseSignal and total.axes_manager.navigation_shape == (3, 2)
    np.testing.assert_allclose(total.data, data.sum(-1))
    sx = s.sum("x")
    assert type(sx) is Signal1D and repr(sx) == "<Signal1D, title: , dimensions: (2|4)>"
    np.testing.assert_allclose(sx.data, data.sum(1))
    np.testing.assert_allclose(s.mean(0).data, data.mean(1))
    np.testing.assert_allclose(s.mean((0, 1)).data, data.mean((0, 1)))
    assert repr(Signal1D(np.ones(5)).sum()) == "<BaseSignal, title: , dimensions: (|1)>"
    assert s.max(-1).data[1, 2] == 23.0 and s.min(-1).data[0, 0] == 0.0


def test_sum_propagates_variance():
    s = Signal1D(np.ones((2, 4)))
    s.set_noise_variance(2.0)
    assert s.sum().metadata.Signal.Noise_properties.variance == 8.0
    assert s.mean().metadata.Signal.Noise_properties.variance == 0.5
    s.set_noise_variance(np.full((2, 4), 3.0))
    # natural axis 0 is the navigation axis (2 positions)
    np.testing.assert_allclose(s.sum(0).metadata.Signal.Noise_properties.variance.data,
                               [6.0, 6.0, 6.0, 6.0])
    np.testing.assert_allclose(s.mean(-1).metadata.Signal.Noise_properties.variance.data,
                               [0.75, 0.75])


def test_get_current_signal_and_iteration():
    data = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    s = Signal1D(data)
    s.axes_manager.indices = (2, 1)
    cur = s.get_current_signal()
    assert type(cur) is Signal1D and cur.axes_manager.navigation_shape == ()
    np.testing.assert_array_equal(cur.data, data[1, 2])
    firsts = [sub.data[0] for sub in s]
    assert firsts == [0, 4, 8, 12, 16, 20]


def test_create_model_on_base_signal_raises():
    with pytest.raises(TypeError, match="use Signal1D/Signal2D"):
        BaseSignal(np.zeros(3)).create_model()


def test_truth_value_is_ambiguous():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Signal1D(np.zeros(3)))


def test_change_dtype_and_signal_type():
    s = Signal1D(np.arange(3))
    s.change_dtype("float32")
    assert s.data.dtype == np.float32
    s.set_signal_type("EELS")
    assert s.metadata.Signal.signal_type == "EELS"


def test_pickle_round_trip():
    import pickle

    s = Signal1D(np.arange(6.0).reshape(2, 3), metadata={"General": {"title": "p"}})
    s.set_noise_variance(np.ones((2, 3)))
    back = pickle.loads(pickle.dumps(s))
    assert repr(back) == "<Signal1D, title: p, dimensions: (2|3)>"
    np.testing.assert_array_equal(back.data, s.data)
    np.testing.assert_array_equal(back.metadata.Signal.Noise_properties.variance.data,
                                  np.ones((2, 3)))


def test_errors_use_swiftfit_error_classes():
    errors = pytest.importorskip("swiftfit.errors")
    from swiftfit.signals import DataAxis

    with pytest.raises(errors.InvalidInputError, match="`scale` must be non-zero, got 0"):
        DataAxis(size=3, scale=0)
    with pytest.raises(errors.InvalidTypeError, match="`axes` must be a list of dicts"):
        Signal1D(np.zeros(3), axes={"scale": 1})
