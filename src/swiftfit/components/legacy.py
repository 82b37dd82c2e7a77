"""Components that HyperSpy 1.x model files hold and HyperSpy 2 moved to exspy.

HyperSpy 1.4–1.6 stored ``Arctan(minimum_at_zero=True)`` (1.6: ``EELSArctan``)
and an 8-parameter photoemission ``Voigt`` (1.6: ``PESVoigt``). HyperSpy 2
restores them through exspy; swiftfit restores them as these two classes
(``swiftfit.io.hspy`` maps the old names), so such files load without exspy.
The formulas are the published ones; the numbers agree with exspy 0.3's
(``tests/components/test_legacy_components.py``).

Examples
--------
>>> a = EELSArctan(A=5.0, k=1.5, x0=22.5)
>>> round(float(a.function(22.5)), 6)              # A pi / 2 at the step
7.853982
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..component import Component
from .background import _drop_backend_kwargs
from .peaks import SIGMA2FWHM, SQRT2, SQRT2PI

__all__ = ["EELSArctan", "PESVoigt"]


class EELSArctan(Component):
    r"""Arctangent step that starts from zero (exspy's ``EELSArctan``; HyperSpy
    1.x's ``Arctan(minimum_at_zero=True)``).

    .. math:: f(x) = A \left[\frac{\pi}{2} + \arctan\left(k (x - x_0)\right)\right]

    Parameters
    ----------
    A : float
        Amplitude (linear); the step height is :math:`A\pi`.
    k : float
        Steepness.
    x0 : float
        Position of the step centre.

    Examples
    --------
    >>> float(EELSArctan(A=1.0, k=1.0, x0=0.0).function(-1e12)) < 1e-11
    True
    """

    parameters = ("A", "k", "x0")
    linear = ("A",)
    _position = "x0"

    def __init__(self, A=1.0, k=1.0, x0=1.0, **kwargs):
        super().__init__(A=A, k=k, x0=x0, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def function(x, A, k, x0):
        return A * (0.5 * np.pi + np.arctan(k * (x - x0)))

    @staticmethod
    def gradients(x, A, k, x0):
        u = x - x0
        q = A / (1.0 + (k * u) ** 2)
        return (0.5 * np.pi + np.arctan(k * u), q * u, -q * k)


def _voigt(x, centre, area, fwhm, gamma):
    """Area-normalised Voigt: Gaussian FWHM ``fwhm``, Lorentzian HWHM ``gamma``."""
    sigma = fwhm / SIGMA2FWHM
    z = (x - centre + 1j * gamma) / (sigma * SQRT2)
    return area * special.wofz(z).real / (sigma * SQRT2PI)


class PESVoigt(Component):
    r"""Photoemission Voigt line (exspy's ``PESVoigt``; HyperSpy 1.x's ``Voigt``).

    A Voigt profile of Gaussian FWHM :math:`\sqrt{\mathrm{FWHM}^2 +
    \mathrm{resolution}^2}` and Lorentzian HWHM ``gamma``, centred at
    ``centre − non_isochromaticity``, of area ``area · transmission_function``;
    with ``spin_orbit_splitting`` a second line ``spin_orbit_splitting_energy``
    below it, of area ratio ``spin_orbit_branching_ratio``; with
    ``shirley_background.active`` a Shirley step: each channel gains
    ``shirley_background`` times the sum of the line over the channels to its
    right (a sum over the evaluated points, so it depends on the sampling, as
    in exspy).

    Parameters
    ----------
    area, centre, FWHM, gamma : float
        The line (``area`` linear).
    resolution, shirley_background, non_isochromaticity, transmission_function : float
        Instrument corrections, not free by default.

    Examples
    --------
    >>> v = PESVoigt(area=100.0, centre=50.0, FWHM=1.5, gamma=2.5)
    >>> round(float(v.function(np.array([50.0]))[0]), 6)
    12.029938
    """

    parameters = ("area", "centre", "FWHM", "gamma", "resolution", "shirley_background",
                  "non_isochromaticity", "transmission_function")
    linear = ("area",)
    _position = "centre"

    def __init__(self, area=1.0, centre=0.0, FWHM=1.0, gamma=0.0, resolution=0.0, shirley_background=0.0,
                 non_isochromaticity=0.0, transmission_function=1.0, **kwargs):
        super().__init__(area=area, centre=centre, FWHM=FWHM, gamma=gamma, resolution=resolution,
                         shirley_background=shirley_background, non_isochromaticity=non_isochromaticity,
                         transmission_function=transmission_function, **_drop_backend_kwargs(kwargs))
        for name in ("resolution", "shirley_background", "non_isochromaticity", "transmission_function"):
            getattr(self, name).free = False
        self.shirley_background.active = False
        self.spin_orbit_splitting = False
        self.spin_orbit_branching_ratio = 0.5
        self.spin_orbit_splitting_energy = 0.61
        self._pure = False  # the Shirley and spin-orbit switches are instance state

    def function(self, x):
        x = np.asarray(x, dtype=float)
        area = self.area.value * self.transmission_function.value
        fwhm = math.hypot(self.FWHM.value, self.resolution.value)
        centre = self.centre.value - self.non_isochromaticity.value
        f = _voigt(x, centre, area, fwhm, self.gamma.value)
        if self.spin_orbit_splitting:
            f = f + _voigt(x, centre - self.spin_orbit_splitting_energy,
                           area * self.spin_orbit_branching_ratio, fwhm, self.gamma.value)
        if getattr(self.shirley_background, "active", False):
            right = np.cumsum(f[..., ::-1], axis=-1)[..., ::-1] - f  # sum over the channels to the right
            f = f + self.shirley_background.value * right
        return f
