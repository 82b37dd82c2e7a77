"""HyperSpy API that swiftfit gained for issue 18 (closed-form truths)."""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components.components1d import Gaussian, Offset, Polynomial
from swiftfit.parameters import Parameter


def test_map_of_a_signal_without_navigation_is_shape_1():
    m = hs.signals.Signal1D(np.arange(10.0)).create_model()
    m.append(Offset())
    assert m[0].offset.map.shape == (1,)
    m[0].offset.map["values"][:] = 4.0  # HyperSpy's idiom writes through
    assert m[0].offset.value == 4.0
    m.fit()
    assert m[0].offset.map["values"][0] == pytest.approx(4.5)  # mean of 0..9


def test_unnamed_parameter():
    p = Parameter()
    p.value = 1.5
    assert (p.name, p.value) == ("", 1.5)


def test_p0_p_std_and_del():
    x = np.arange(100.0)
    s = hs.signals.Signal1D(2.0 * x + 1.0 + np.random.default_rng(3).normal(size=100))
    m = s.create_model()
    m.append(Polynomial(order=1))
    m.append(Offset())
    m[1].offset.free = False
    assert m.p_std is None
    m.fit()
    design = np.vstack([np.ones_like(x), x]).T
    coef, *_ = np.linalg.lstsq(design, s.data, rcond=None)
    np.testing.assert_allclose(m.p0, coef, rtol=1e-8)
    assert m.p_std.shape == (2,) and np.all(m.p_std > 0)
    del m[1]
    assert len(m) == 1


def test_stack_adds_a_navigation_axis():
    s = hs.signals.Signal1D(np.arange(5.0))
    t = hs.stack([s, 2 * s])
    assert t.data.shape == (2, 5)
    np.testing.assert_array_equal(t.data[1], 2 * np.arange(5.0))
    assert t.axes_manager.navigation_axes[0].name == "stack_element"


def test_intervals_and_span_roi():
    s = hs.signals.Signal1D(np.ones(100))
    s.data[10:20] = 10.0
    s.data[70:80] = 10.0
    o = Offset()
    o.estimate_parameters(s, intervals=[hs.roi.SpanROI(10, 20), (70, 80)], only_current=True)
    assert o.offset.value == pytest.approx(10.0)
    with pytest.raises(ValueError, match="list of tuples or SpanROI"):
        o.estimate_parameters(s, intervals="10-20")
    with pytest.raises(ValueError, match="Invalid interval format"):
        o.estimate_parameters(s, intervals=[(1, 2, 3)])


def test_convert_to_non_uniform_axis_keeps_values_and_fits():
    g = Gaussian(A=100.0, sigma=3.0, centre=50.0)
    s = hs.signals.Signal1D(g.function(np.arange(100.0)))
    s.axes_manager[-1].convert_to_non_uniform_axis()
    ax = s.axes_manager[-1]
    assert not ax.is_uniform and ax.scale is None
    assert not s.deepcopy().axes_manager[-1].is_uniform
    m = s.create_model()
    m.append(Gaussian(A=80.0, sigma=4.0, centre=48.0))
    m.fit()
    assert m[0].centre.value == pytest.approx(50.0, abs=1e-6)


def test_fit_accepts_hyperspy_none_spellings():
    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(Polynomial(order=1))
    m.fit(bounded=None, grad=None)
    assert [p.value for p in m[0].parameters] == pytest.approx([0.0, 1.0], abs=1e-8)


def test_as_signal_out_of_range_to_nan_false_evaluates_everywhere():
    s = hs.signals.Signal1D(np.arange(20.0))
    m = s.create_model()
    m.append(Offset(offset=2.0))
    m.set_signal_range(5, 10)
    assert np.isnan(m.as_signal().data[:5]).all()
    np.testing.assert_array_equal(m.as_signal(out_of_range_to_nan=False).data, np.full(20, 2.0))
    out = s.deepcopy()
    m.as_signal(out=out)
    assert out.data[7] == 2.0 and np.isnan(out.data[0])


def test_print_model_statistics(capsys):
    s = hs.signals.Signal1D(np.stack([np.full(10, v) for v in (1.0, 2.0, 6.0)]))
    m = s.create_model()
    m.append(Offset())
    m.multifit()
    m.print_model_statistics(thresholds={"offset": {"min": 1.5, "max": "50th"}})
    row = [line for line in capsys.readouterr().out.splitlines() if "offset" in line][0]
    cells = [c.strip() for c in row.split("|")]
    assert float(cells[2]) == pytest.approx(3.0)  # mean of 1, 2, 6
    assert float(cells[4]) == pytest.approx(1.0) and float(cells[5]) == pytest.approx(6.0)
    assert cells[6:] == ["1", "1"]  # below 1.5: one; above the median (2): one


def test_fit_component_fits_inside_its_range():
    x = np.arange(200.0)
    s = hs.signals.Signal1D(Gaussian(A=500.0, sigma=5.0, centre=60.0).function(x)
                            + Gaussian(A=300.0, sigma=5.0, centre=140.0).function(x))
    m = s.create_model()
    g1, g2 = Gaussian(), Gaussian()
    m.extend([g1, g2])
    m.fit_component(g2, signal_range=(110, 170))
    assert g2.centre.value == pytest.approx(140.0, abs=1e-3)
    assert g2.A.value == pytest.approx(300.0, rel=1e-3)
    assert m._channel_switches.all()  # the range is restored


def test_parameter_grad_and_grad_attributes():
    p = Polynomial(order=2, a0=1.0, a1=2.0, a2=3.0)
    x = np.arange(3.0)
    np.testing.assert_allclose(p.a2.grad(x), x**2)
    np.testing.assert_allclose(p.grad_a1(x), x)
    g = Gaussian(A=2.0, sigma=1.0, centre=0.0)
    np.testing.assert_allclose(g.grad_A(np.array([0.0])), [1 / np.sqrt(2 * np.pi)])  # d/dA of the area-A Gaussian
    with pytest.raises(AttributeError):
        g.grad_nothing  # noqa: B018


def test_function_nd_over_maps_and_given_values():
    s = hs.stack([hs.signals.Signal1D(np.arange(5.0) * k + 1.0) for k in (1.0, 2.0)])
    p = Polynomial(order=1)
    p.estimate_parameters(s, None, None, only_current=False)
    np.testing.assert_allclose(p.function_nd(np.arange(5.0)), s.data, atol=1e-10)
    np.testing.assert_allclose(p.function_nd(np.arange(3.0), parameters_values=[1.0, 2.0]), [1.0, 3.0, 5.0])


def test_untwinning_keeps_the_twins_value():
    a, b = Offset(offset=1.0), Offset(offset=5.0)
    b.offset.twin = a.offset
    a.offset.value = 3.0
    b.offset.twin = None
    assert b.offset.value == 3.0
    a.offset.value = 2.0
    assert b.offset.value == 3.0


def test_ext_bounded_clips_the_value_when_bounds_change():
    p = Parameter()
    p.bmin, p.bmax = 1.0, 3.0
    p.ext_bounded = True
    assert p.value == 1.0  # 0 moved into [1, 3]
    p.value = 4.0
    assert p.value == 3.0
    p.bmax = 2.0
    assert p.value == 2.0
    with pytest.raises(ValueError, match="one real number"):
        p.value = (2, 2)


def test_scalable_fixed_pattern_estimates_yscale():
    from swiftfit.components.components1d import ScalableFixedPattern

    pattern = hs.signals.Signal1D(np.exp(-((np.arange(60.0) - 30) ** 2) / 30))
    signal = hs.signals.Signal1D(np.stack([2.0 * pattern.data, 4.0 * pattern.data]))
    fp = ScalableFixedPattern(pattern)
    assert fp.estimate_parameters(signal, 0.0, 59.0, only_current=False, yscale=True)
    np.testing.assert_allclose(fp.yscale.map["values"], [2.0, 4.0], rtol=1e-10)
    np.testing.assert_array_equal(fp.shift.map["values"], [0.0, 0.0])
    fp.estimate_parameters(signal, only_current=False, yscale=7.0)
    np.testing.assert_array_equal(fp.yscale.map["values"], [7.0, 7.0])
