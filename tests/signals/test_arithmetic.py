"""Operators with scalars, arrays and signals (split nav/signal broadcasting)."""

import numpy as np
import pytest

from swiftfit.signals import BaseSignal, Signal1D, Signal2D


def test_scalar_operations_and_reflected_forms():
    s = Signal1D(np.array([1.0, 2.0, 4.0]))
    np.testing.assert_allclose((s + 1).data, [2, 3, 5])
    np.testing.assert_allclose((1 - s).data, [0, -1, -3])
    np.testing.assert_allclose((s * 2).data, [2, 4, 8])
    np.testing.assert_allclose((8 / s).data, [8, 4, 2])
    np.testing.assert_allclose((s // 2).data, [0, 1, 2])
    np.testing.assert_allclose((s ** 2).data, [1, 4, 16])
    np.testing.assert_allclose((2 ** s).data, [2, 4, 16])
    np.testing.assert_allclose((s % 3).data, [1, 2, 1])
    np.testing.assert_allclose((-s).data, [-1, -2, -4])
    np.testing.assert_allclose(abs(-s).data, [1, 2, 4])
    assert type(s + 1) is Signal1D


def test_comparisons_return_boolean_signals():
    s = Signal1D(np.array([1.0, 2.0, 4.0]))
    for result, expected in [(s < 2, [True, False, False]), (s <= 2, [True, True, False]),
                             (s > 2, [False, False, True]), (s >= 2, [False, True, True]),
                             (s == 2, [False, True, False]), (s != 2, [True, False, True])]:
        assert type(result) is Signal1D and result.data.dtype == bool
        np.testing.assert_array_equal(result.data, expected)


def test_array_operands_broadcast_like_numpy():
    s = Signal1D(np.ones((2, 3)))
    np.testing.assert_allclose((s * np.array([1.0, 2.0, 3.0])).data, [[1, 2, 3], [1, 2, 3]])
    out = np.array([1.0, 2.0, 3.0]) + s
    assert type(out) is Signal1D
    np.testing.assert_allclose(out.data, [[2, 3, 4], [2, 3, 4]])
    with pytest.raises(ValueError, match=r"would change the signal data shape \(2, 3\)"):
        s + np.ones((4, 2, 3))


def test_numpy_ufunc_returns_signal():
    s = Signal1D(np.zeros(3))
    out = np.exp(s)
    assert type(out) is Signal1D
    np.testing.assert_allclose(out.data, [1, 1, 1])


def test_same_shape_signals():
    a = Signal1D(np.arange(6.0).reshape(2, 3))
    b = Signal1D(np.full((2, 3), 2.0))
    np.testing.assert_allclose((a * b).data, np.arange(6.0).reshape(2, 3) * 2)
    np.testing.assert_allclose((a - b).data, np.arange(6.0).reshape(2, 3) - 2)


def test_spectrum_times_navigation_map_broadcasts():
    rng = np.random.default_rng(0)
    nav = Signal2D(rng.random((30, 30))).T
    spectrum = Signal1D(np.linspace(0, 1, 2048), axes=[{"name": "E", "scale": 0.1}])
    assert repr(nav) == "<BaseSignal, title: , dimensions: (30, 30|)>"
    for result in (spectrum * nav, nav * spectrum):
        assert type(result) is Signal1D
        assert repr(result) == "<Signal1D, title: , dimensions: (30, 30|2048)>"
        assert result.axes_manager[-1].name == "E" and result.axes_manager[-1].scale == 0.1
        assert result.axes_manager[-1].navigate is False
        assert result.axes_manager[0].navigate is True
        np.testing.assert_allclose(result.data[4, 7], nav.data[4, 7] * spectrum.data)


def test_stack_divided_by_navigation_sum():
    data = np.arange(1.0, 13.0).reshape(3, 4)
    s = Signal1D(data)
    normalised = s / s.sum()
    assert repr(normalised) == "<Signal1D, title: , dimensions: (3|4)>"
    np.testing.assert_allclose(normalised.data.sum(-1), [1.0, 1.0, 1.0])


def test_axes_taken_from_operand_with_size_gt_one():
    a = Signal1D(np.ones((1, 5)), axes=[{"name": "a_nav"}, {"name": "a_sig"}])
    b = Signal1D(np.ones((4, 5)), axes=[{"name": "b_nav", "scale": 3.0}, {"name": "b_sig"}])
    r = a + b
    assert r.axes_manager.navigation_shape == (4,)
    assert r.axes_manager[0].name == "b_nav" and r.axes_manager[0].scale == 3.0
    assert r.axes_manager[-1].name == "a_sig"   # equal size: the left operand wins


def test_incompatible_signals_raise():
    a = Signal1D(np.ones((3, 5)))
    b = Signal1D(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(3\|5\) and \(4\|5\)"):
        a + b


def test_inplace_operations():
    s = Signal1D(np.ones((2, 3)))
    data = s.data
    s += 2
    s *= Signal1D(np.array([1.0, 2.0, 3.0]))
    assert s.data is data
    np.testing.assert_allclose(s.data, [[3, 6, 9], [3, 6, 9]])
    with pytest.raises(ValueError, match="in-place operation cannot broadcast"):
        s += Signal1D(np.ones((5, 3)))


def test_metadata_and_variance_follow_left_operand():
    s = Signal1D(np.ones(3), metadata={"General": {"title": "spec"}})
    s.set_noise_variance(Signal1D(np.full(3, 2.0)))
    out = s + 1
    assert out.metadata.General.title == "spec"
    np.testing.assert_allclose(out.metadata.Signal.Noise_properties.variance.data, [2, 2, 2])
    grown = s * BaseSignal(np.ones(4), axes=[{"navigate": True}])
    assert grown.data.shape == (4, 3)
    assert not grown.metadata.has_item("Signal.Noise_properties.variance")
