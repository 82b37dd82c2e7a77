"""HyperSpy's model-side names and errors given HyperSpy's meaning: ``_get_current_data``,
``_free_parameters``, ``_get_component``, ``signal_axes.set``, ``ensure_parameters_in_bounds``,
the linear optimizers' RuntimeErrors, odr on images, the log of an unsuccessful fit."""

import logging

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.components.components1d import Gaussian, Offset, Polynomial
from swiftfit.errors import FitFailedError, NotLinearError, OptimizerError, UnsupportedOptimizerError


def _model():
    s = sf.signals.Signal1D(np.zeros((2, 20)))
    m = s.create_model()
    m.extend([Gaussian(A=10.0, centre=5.0, sigma=2.0), Offset(offset=3.0)])
    return m


def test_get_current_data():
    m = _model()
    x = np.arange(20.0)
    gauss = 10 / (2 * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - 5) / 2) ** 2)
    np.testing.assert_allclose(m._get_current_data(), gauss + 3, rtol=1e-12)
    m[1].active = False
    np.testing.assert_allclose(m._get_current_data(), gauss + 3, rtol=1e-12)  # all components
    np.testing.assert_allclose(m._get_current_data(onlyactive=True), gauss, rtol=1e-12)
    np.testing.assert_allclose(m._get_current_data(component_list=[m[1]]), np.full(20, 3.0))
    with pytest.raises(ValueError, match="component_list"):
        m._get_current_data(component_list=0)
    m.set_signal_range(2.0, 9.0)
    assert m._get_current_data().shape == (8,)
    assert m._get_current_data(ignore_channel_switches=True).shape == (20,)
    assert m._channel_switches.sum() == 8  # restored


def test_signal_current_data_and_axes_set():
    s = sf.signals.Signal1D(np.arange(12.0).reshape(3, 4))
    s.axes_manager.indices = (2,)
    np.testing.assert_array_equal(s._get_current_data(), [8.0, 9.0, 10.0, 11.0])
    np.testing.assert_array_equal(s(), [8.0, 9.0, 10.0, 11.0])
    lazy = s.as_lazy()
    lazy.axes_manager.indices = (1,)
    np.testing.assert_array_equal(lazy._get_current_data(as_numpy=True), [4.0, 5.0, 6.0, 7.0])
    s.axes_manager.signal_axes.set(offset=-20.0, scale=0.5)
    np.testing.assert_allclose(s.axes_manager[-1].axis, [-20.0, -19.5, -19.0, -18.5])
    with pytest.raises(ValueError, match="no attribute 'bogus'"):
        s.axes_manager.navigation_axes.set(bogus=1)


def test_free_parameters_and_get_component():
    m = _model()
    m[0].centre.free = False
    assert [p.name for p in m._free_parameters] == ["A", "sigma", "offset"]  # HyperSpy's order
    assert m._get_component(1) is m[1] and m._get_component("Gaussian") is m[0]
    assert m._get_component([m[1], 0]) == [m[1], m[0]]
    with pytest.raises(ValueError, match="not in the model"):
        m._get_component(Offset())
    with pytest.raises(ValueError, match="thing"):
        m._get_component(1.5)


def test_ensure_parameters_in_bounds_moves_free_active_only():
    m = _model()
    g, o = m
    g.A.bmin, g.A.value = 20.0, 10.0  # free, active: moved to 20
    g.centre.bmax, g.centre.free = 4.0, False  # fixed: stays 5
    o.offset.bmin, o.active = 4.0, False  # inactive: stays 3
    m.ensure_parameters_in_bounds()
    assert (g.A.value, g.centre.value, o.offset.value) == (20.0, 5.0, 3.0)


def test_linear_optimizer_errors():
    m = _model()
    m.set_parameters_not_free()
    with pytest.raises(RuntimeError, match="Model does not contain any free components!"):
        m.fit(optimizer="lstsq")
    with pytest.raises(FitFailedError):
        m.fit(optimizer="lstsq")
    m.set_parameters_free(only_linear=True)
    m[0].sigma.free = True
    with pytest.raises(RuntimeError, match="<Parameter sigma of Gaussian component>") as info:
        m.fit(optimizer="lstsq")
    assert isinstance(info.value, NotLinearError) and isinstance(info.value, OptimizerError)


def test_odr_on_an_image_is_not_implemented():
    s = sf.signals.Signal2D(np.ones((6, 5)))
    m = s.create_model()
    m.append(sf.model.components2D.Gaussian2D())
    with pytest.raises(NotImplementedError, match="not implemented for Model2D") as info:
        m.fit(optimizer="odr")
    assert isinstance(info.value, UnsupportedOptimizerError)


def test_unsuccessful_fit_is_logged(caplog):
    s = sf.signals.Signal1D(2.0 + 0.5 * np.arange(30.0))
    m = s.create_model()
    m.append(Polynomial(order=1))
    with caplog.at_level(logging.WARNING), pytest.warns(sf.errors.FitWarning):
        m.fit(optimizer="Nelder-Mead", options={"maxiter": 1})
    assert "Maximum number of iterations has been exceeded" in caplog.text


def test_wrong_loss_function_message():
    with pytest.raises(ValueError, match="loss_function must be one of"):
        _model().fit(loss_function="dummy")


def test_create_model_from_a_dictionary_and_model2d_widgets():
    m = _model()
    m[0].A.value = 42.0
    m2 = m.signal.create_model(dictionary=m.as_dictionary())
    assert [c.name for c in m2] == ["Gaussian", "Offset"] and m2[0].A.value == 42.0
    im = sf.signals.Signal2D(np.ones((4, 4))).create_model()
    with pytest.raises(NotImplementedError, match="Model2D"):
        im.enable_adjust_position()
    with pytest.raises(NotImplementedError, match="Model2D"):
        im.disable_adjust_position()


def test_parameter_create_array_from_the_axes_manager():
    m = sf.signals.Signal1D(np.zeros((3, 4, 5))).create_model()
    m.append(Offset(offset=2.5))
    p = m[0].offset
    p.map = None  # back to one value
    p._create_array()
    assert p.map.shape == (3, 4) and (p.map["values"] == 2.5).all()
    # outside a model and with no axes manager set: a single position
    q = sf.Parameter("a", value=1.5)
    q._create_array()
    assert q.map["values"].ravel().tolist() == [1.5]


def test_fixed_parameters_are_set_at_fitted_pixels():
    # HyperSpy marks every parameter of a fitted pixel as set, fixed ones included (a rerun of
    # multifit then starts from them); their std stays unknown
    x = np.arange(40.0)
    s = sf.signals.Signal1D(np.stack([3.0 + 20 * np.exp(-0.5 * ((x - 20) / 3) ** 2)] * 3))
    m = s.create_model()
    m.extend([Gaussian(centre=20.0, sigma=3.0), Offset()])
    m.set_parameters_not_free(only_nonlinear=True)
    m.multifit(optimizer="lstsq")
    for p in (m[0].centre, m[0].sigma):
        assert p.map["is_set"].all() and np.isnan(p.map["std"]).all()
    np.testing.assert_allclose(m[0].A.map["values"], 20 * 3 * np.sqrt(2 * np.pi), rtol=1e-9)
    np.testing.assert_allclose(m[1].offset.map["values"], 3.0, rtol=1e-9)
