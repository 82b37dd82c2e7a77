"""EELSArctan and PESVoigt (HyperSpy 1.x components, now exspy's): the numbers
exspy 0.3.2 gives for the same calls (run beside this test's author, stated
here), and a fit that recovers a simulated line.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components.legacy import EELSArctan, PESVoigt

X = np.linspace(40, 60, 9)
# exspy.components.PESVoigt().function(X) after each change below
EXSPY = {
    "plain": [0.7570018189417934, 1.2952529660991927, 2.6212965586948296, 6.550325765444863, 12.02993772278166,
              6.550325765444863, 2.6212965586948296, 1.2952529660991927, 0.7570018189417934],
    "corrections": [1.608095247423261, 2.801544928054164, 5.829901578617241, 14.724821442194877,
                    23.55162937671846, 11.742260799863818, 4.791623015471607, 2.4194690886264096,
                    1.4343645505946618],
    "shirley": [8.337656725437384, 9.250951913262872, 11.696318405964224, 19.118756125322374, 25.590401122174107,
                12.606806465333086, 5.177006379393714, 2.562905543685876, 1.4343645505946618],
    "spin_orbit": [12.593763595667234, 14.076539911946432, 18.126458625171356, 30.099702455322774,
                   37.245662844759, 17.620571892536702, 7.336432310555093, 3.6791181350782014,
                   2.076709824721221],
}


def test_pesvoigt_matches_exspy():
    v = PESVoigt(area=100.0, centre=50.0, FWHM=1.5, gamma=2.5)
    np.testing.assert_allclose(v.function(X), EXSPY["plain"], rtol=1e-12)
    v.resolution.value, v.non_isochromaticity.value, v.transmission_function.value = 0.7, 0.3, 2.0
    np.testing.assert_allclose(v.function(X), EXSPY["corrections"], rtol=1e-12)
    v.shirley_background.value = 0.1  # no effect until switched on, as in exspy
    np.testing.assert_allclose(v.function(X), EXSPY["corrections"], rtol=1e-12)
    v.shirley_background.active = True
    np.testing.assert_allclose(v.function(X), EXSPY["shirley"], rtol=1e-12)
    v.spin_orbit_splitting = True
    np.testing.assert_allclose(v.function(X), EXSPY["spin_orbit"], rtol=1e-12)


def test_eelsarctan_closed_form():
    # exspy EELSArctan(A=5, k=1.5, x0=22.5) at 20, 22.5, 25; A (pi/2 + arctan(k (x - x0)))
    a = EELSArctan(A=5.0, k=1.5, x0=22.5)
    x = np.array([20.0, 22.5, 25.0])
    expected = [1.3030119587367228, 7.8539816339745006, 14.40495130921228]
    np.testing.assert_allclose(a.function(x), expected, rtol=1e-12)
    np.testing.assert_allclose(expected, 5 * (np.pi / 2 + np.arctan(1.5 * (x - 22.5))), rtol=1e-12)


@pytest.mark.parametrize("cls", [EELSArctan, PESVoigt])
def test_legacy_components_fit_a_simulated_line(cls):
    x = np.linspace(0.0, 100.0, 401)
    truth = cls()
    if cls is EELSArctan:
        truth.A.value, truth.k.value, truth.x0.value = 3.0, 0.4, 45.0
        start = {"A": 2.0, "k": 0.3, "x0": 40.0}
    else:
        truth.area.value, truth.centre.value, truth.FWHM.value, truth.gamma.value = 200.0, 52.0, 4.0, 1.5
        start = {"area": 150.0, "centre": 50.0, "FWHM": 3.0, "gamma": 1.0}
    s = hs.signals.Signal1D(truth.function(x))
    s.axes_manager[0].scale, s.axes_manager[0].offset = x[1] - x[0], 0.0
    m = s.create_model()
    c = cls()
    m.append(c)
    for name, value in start.items():
        getattr(c, name).value = value
    m.fit()
    for name in start:
        np.testing.assert_allclose(getattr(c, name).value, getattr(truth, name).value, rtol=1e-6)
