"""``swiftfit.data`` example signals: their documented parameters, and HyperSpy 2.5's own signals."""

import numpy as np
import pytest

import swiftfit as sf


def test_two_gaussians_ground_truth():
    s, m = sf.data.two_gaussians(add_noise=False, return_model=True)
    assert s.data.shape == (32, 32, 1024)
    assert s.axes_manager[-1].scale == 0.1
    assert [c.name for c in m] == ["wide", "narrow"]
    # the map centre (x = y = 0): envelope 1, sin(0) = 0, cos(0) = 1
    wide, narrow = m["wide"], m["narrow"]
    assert wide.centre.map["values"][16, 16] == pytest.approx(50.0)
    assert wide.height.map["values"][16, 16] == pytest.approx(1.5 * 600)
    assert narrow.height.map["values"][16, 16] == pytest.approx(0.25 * 600)
    # without noise the data is the model: at the centre channel (50 eV) both peaks are at their height
    assert s.data[16, 16, 500] == pytest.approx(1.5 * 600 + 0.25 * 600, rel=1e-12)
    restored = s.models.ground_truth.restore()
    np.testing.assert_array_equal(restored["narrow"].fwhm.map["values"], 6.0)


def test_two_gaussians_noise_is_seeded():
    a, b = sf.data.two_gaussians(), sf.data.two_gaussians()
    assert a.data.dtype == np.int64
    np.testing.assert_array_equal(a.data, b.data)


def test_luminescence_signal_axes():
    s = sf.data.luminescence_signal(uniform=True, add_noise=False)
    ax = s.axes_manager[-1]
    assert (ax.size, ax.scale, ax.offset, ax.units) == (1024, 0.54, 222.495, "nm")
    # Gaussian A = 5000, sigma = 25: height 5000 / (25 sqrt(2 pi)) = 79.788 at 375 nm (channel 282.4)
    assert s.data.max() == pytest.approx(5000 / (25 * np.sqrt(2 * np.pi)), rel=1e-3)
    e = sf.data.luminescence_signal(navigation_dimension=2, random_state=3)
    assert e.data.shape == (10, 10, 1024)
    assert not e.axes_manager[-1].is_uniform
    np.testing.assert_allclose(e.axes_manager[-1].axis[[0, -1]], 1239.84198 / (222.495 + 0.54 * np.array([1023, 0])))
    with pytest.raises(sf.errors.InvalidInputError, match="navigation_dimension"):
        sf.data.luminescence_signal(navigation_dimension=-1)


def test_wave_image():
    im = sf.data.wave_image(angle=0, wavelength=8, shape=(4, 16), add_noise=False)
    np.testing.assert_allclose(im.data[0, :3], np.sin(2 * np.pi * np.arange(3) / 8), atol=1e-15)


@pytest.mark.usefixtures("quiet_peers")
def test_equal_to_hyperspy():
    hs = pytest.importorskip("hyperspy.api")
    np.testing.assert_array_equal(sf.data.two_gaussians().data, hs.data.two_gaussians().data)
    for kwargs in ({"random_state": 1}, {"uniform": True, "random_state": 2, "navigation_dimension": 1}):
        ours, theirs = sf.data.luminescence_signal(**kwargs), hs.data.luminescence_signal(**kwargs)
        np.testing.assert_allclose(ours.axes_manager[-1].axis, theirs.axes_manager[-1].axis, rtol=1e-14)
        np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-12, atol=1e-12)
