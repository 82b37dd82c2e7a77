"""Seed 000's Gaussian2D example with a signal range and a mask, verbatim
apart from the import. Truth: the generating Gaussian (A, centre_x, centre_y,
sigma_x, sigma_y) = (1, -5, -5, 1, 2)."""

import numpy as np
import pytest

import swiftfit as hs


def test_gaussian2d_with_signal_range_and_mask():
    # Create a sample 2D gaussian dataset
    g = hs.model.components2D.Gaussian2D(
        A=1, centre_x=-5.0, centre_y=-5.0, sigma_x=1.0, sigma_y=2.0,)
    scale = 0.1
    x = np.arange(-10, 10, scale)
    y = np.arange(-10, 10, scale)
    X, Y = np.meshgrid(x, y)
    im = hs.signals.Signal2D(g.function(X, Y))
    im.axes_manager[0].scale = scale
    im.axes_manager[0].offset = -10
    im.axes_manager[1].scale = scale
    im.axes_manager[1].offset = -10
    m = im.create_model() # Model initialisation
    gt = hs.model.components2D.Gaussian2D()
    m.append(gt)
    m.set_signal_range(-7, -3, -9, -1) # Set signal range
    m.fit()
    truth = [1.0, -5.0, -5.0, 1.0, 2.0]
    fitted = lambda: [gt.A.value, gt.centre_x.value, gt.centre_y.value, gt.sigma_x.value, gt.sigma_y.value]  # noqa: E731
    assert m.fit_output.success
    np.testing.assert_allclose(fitted(), truth, rtol=1e-6)
    signal_mask = im > 0.01
    m.set_signal_range_from_mask(signal_mask.data) # Set signal range
    m.fit()
    assert m._channel_switches.sum() == int((g.function(X, Y) > 0.01).sum())
    np.testing.assert_allclose(fitted(), truth, rtol=1e-6)
    assert repr(m) == "<Model2D, title: >"
    assert gt.A.std == pytest.approx(0.0, abs=1e-6)  # noiseless data
