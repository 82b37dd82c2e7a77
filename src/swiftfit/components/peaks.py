"""Peak-shaped 1-D components: Gaussian, GaussianHF and Lorentzian (the
other line shapes are in :mod:`.lineshapes`).

All are pure (static, batched ``function``/``gradients``) with analytic
gradients for every parameter. Parameters are in the order of HyperSpy's
constructor keywords (SplitVoigt: HyperSpy's declared order).
"""

from __future__ import annotations

import math

import numpy as np

from .._xp import namespace
from ..component import Component
from .background import (
    _drop_backend_kwargs,
    _estimation_data,
    _store_estimates,
    _trapezoid,
)

__all__ = [
    "Gaussian",
    "GaussianHF",
    "Lorentzian",
]

SQRT2PI = math.sqrt(2.0 * math.pi)
SQRT2 = math.sqrt(2.0)
SIGMA2FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
_FOUR_LN2 = 4.0 * math.log(2.0)


# ------------------------------------------------------------ estimation
def _moments(X, Y):
    """Centre, sigma (second moment), height and area of each row of ``Y``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        area = _trapezoid(Y, X)
        centre = _trapezoid(Y * X, X) / area
        var = _trapezoid(Y * (X - centre[:, None]) ** 2, X) / area
    return centre, np.sqrt(np.abs(var)), Y.max(axis=1), area


def _quantiles(X, Y, qs):
    """X at which the normalised cumulative integral of each row reaches each q."""
    steps = 0.5 * (Y[:, 1:] + Y[:, :-1]) * np.diff(X)
    cdf = np.concatenate([np.zeros((Y.shape[0], 1)), np.cumsum(steps, axis=1)], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cdf = cdf / cdf[:, -1:]
    out = []
    rows = np.arange(Y.shape[0])
    for q in qs:
        i = np.clip((cdf < q).sum(axis=1), 1, X.size - 1)
        c0, c1 = cdf[rows, i - 1], cdf[rows, i]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(c1 > c0, (q - c0) / (c1 - c0), 0.5)
        out.append(X[i - 1] + t * (X[i] - X[i - 1]))
    return out


def _untruncated_cauchy(a, b, q1, med, q3, iterations=30):
    """Centre and half width of a Cauchy whose part inside ``[a, b]`` has the
    quartiles ``q1, med, q3`` (arrays, one entry per pixel).

    Half the interquartile range of the data is gamma only for an untruncated
    line; a window of +-12.5 gamma shrinks it by 8 %. With
    ``theta = atan((x - c) / gamma)``, the quantile ``p`` of the truncated line
    is ``c + gamma tan(theta_a + p (theta_b - theta_a))``: two quartiles fix
    ``c`` and ``gamma`` for given angles, and a fixed-point iteration from the
    untruncated answer converges in a few steps for windows wider than the line.
    """
    centre, gamma = med, 0.5 * (q3 - q1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iterations):
            ta, tb = np.arctan((a - centre) / gamma), np.arctan((b - centre) / gamma)
            t1, t3 = np.tan(ta + 0.25 * (tb - ta)), np.tan(ta + 0.75 * (tb - ta))
            new_gamma = (q3 - q1) / (t3 - t1)
            new_centre = q1 - new_gamma * t1
            ok = np.isfinite(new_gamma) & (new_gamma > 0) & np.isfinite(new_centre)
            centre, gamma = np.where(ok, new_centre, centre), np.where(ok, new_gamma, gamma)
    return centre, gamma


# --------------------------------------------------------------- Gaussian
class Gaussian(Component):
    r"""Area-normalised Gaussian.

    .. math:: f(x) = \frac{A}{\sigma\sqrt{2\pi}}
              \exp\left[-\frac{(x - x_0)^2}{2\sigma^2}\right]

    Parameters
    ----------
    A : float
        Area (linear); bounded below by 0.
    sigma : float
        Standard deviation.
    centre : float
        Position :math:`x_0` of the maximum.

    Attributes
    ----------
    fwhm, height : float
        Full width at half maximum and peak height at the current position
        (both can be set).

    Examples
    --------
    >>> g = Gaussian(A=10.0, sigma=2.0, centre=1.0)
    >>> round(g.fwhm, 6)
    4.70964
    >>> g.height = 1.0
    >>> round(g.A.value, 6)
    5.013257
    """

    parameters = ("A", "sigma", "centre")
    compiled_kind = "gaussian"
    linear = ("A",)
    _position = "centre"

    def __init__(self, A=1.0, sigma=1.0, centre=0.0, **kwargs):
        super().__init__(A=A, sigma=sigma, centre=centre, **_drop_backend_kwargs(kwargs))
        self.A.bmin = 0.0  # as HyperSpy: A >= 0, sigma and centre unbounded (seed 000's table)

    @staticmethod
    def function(x, A, sigma, centre):
        xp = namespace(x, A, sigma, centre)
        return A * xp.exp(-0.5 * ((x - centre) / sigma) ** 2) / (sigma * SQRT2PI)

    @staticmethod
    def gradients(x, A, sigma, centre):
        u = (x - centre) / sigma
        g = namespace(x, sigma, centre).exp(-0.5 * u**2) / (sigma * SQRT2PI)
        return (g, A * g * (u**2 - 1.0) / sigma, A * g * u / sigma)

    @property
    def fwhm(self) -> float:
        return self.sigma.value * SIGMA2FWHM

    @fwhm.setter
    def fwhm(self, value: float) -> None:
        self.sigma.value = value / SIGMA2FWHM

    @property
    def height(self) -> float:
        return self.A.value / (self.sigma.value * SQRT2PI)

    @height.setter
    def height(self, value: float) -> None:
        self.A.value = value * self.sigma.value * SQRT2PI

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Centre and sigma from the first two moments of the data between
        ``x1`` and ``x2``, ``A`` from its (trapezoid) integral.
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        centre, sigma, _, area = _moments(X, Y)
        return _store_estimates(self, only_current, nav, {"centre": centre, "sigma": sigma, "A": area})


class GaussianHF(Component):
    r"""Gaussian parametrised by height and FWHM.

    .. math:: f(x) = h \exp\left[-\frac{4\ln 2\,(x - c)^2}{W^2}\right]

    Parameters
    ----------
    height : float
        Peak height :math:`h` (linear); bounded below by 0.
    fwhm : float
        Full width at half maximum :math:`W`; bounded below by 0.
    centre : float
        Position :math:`c`.

    Attributes
    ----------
    A, sigma : float
        Area and standard deviation (get and set), as in :class:`Gaussian`.
    integral : float
        The area (read only).

    Examples
    --------
    >>> g = GaussianHF(height=2.0, fwhm=1.0, centre=0.0)
    >>> float(g.function(0.5))
    1.0
    """

    parameters = ("height", "fwhm", "centre")
    compiled_kind = "gaussian_hf"
    linear = ("height",)
    _position = "centre"

    def __init__(self, height=1.0, fwhm=1.0, centre=0.0, **kwargs):
        super().__init__(height=height, fwhm=fwhm, centre=centre, **_drop_backend_kwargs(kwargs))
        self.height.bmin = 0.0
        self.fwhm.bmin = 0.0

    @staticmethod
    def function(x, height, fwhm, centre):
        xp = namespace(x, height, fwhm, centre)
        return height * xp.exp(-_FOUR_LN2 * ((x - centre) / fwhm) ** 2)

    @staticmethod
    def gradients(x, height, fwhm, centre):
        u = (x - centre) / fwhm
        e = namespace(x, fwhm, centre).exp(-_FOUR_LN2 * u**2)
        k = 2.0 * _FOUR_LN2 * height * e * u / fwhm
        return (e, k * u, k)

    @property
    def sigma(self) -> float:
        return self.fwhm.value / SIGMA2FWHM

    @sigma.setter
    def sigma(self, value: float) -> None:
        self.fwhm.value = value * SIGMA2FWHM

    @property
    def A(self) -> float:
        return self.height.value * self.sigma * SQRT2PI

    @A.setter
    def A(self, value: float) -> None:
        self.height.value = value / (self.sigma * SQRT2PI)

    @property
    def integral(self) -> float:
        return self.A

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Centre and FWHM from the first two moments of the data between ``x1``
        and ``x2`` (as :meth:`Gaussian.estimate_parameters`); the height is the
        data maximum (HyperSpy's estimate; a density for binned data).
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        centre, sigma, height, _ = _moments(X, Y)
        return _store_estimates(
            self, only_current, nav, {"centre": centre, "fwhm": sigma * SIGMA2FWHM, "height": height}
        )


# ------------------------------------------------------------- Lorentzian
class Lorentzian(Component):
    r"""Area-normalised Lorentzian (Cauchy) peak.

    .. math:: f(x) = \frac{A}{\pi}\,\frac{\gamma}{(x - x_0)^2 + \gamma^2}

    Parameters
    ----------
    A : float
        Area (linear); bounded below by 0.
    gamma : float
        Half width at half maximum.
    centre : float
        Position :math:`x_0`.

    Attributes
    ----------
    fwhm, height : float
        ``2 * gamma`` and ``A / (pi * gamma)`` (get and set).

    Examples
    --------
    >>> lo = Lorentzian(A=np.pi, gamma=1.0)
    >>> float(lo.function(1.0))
    0.5
    """

    parameters = ("A", "gamma", "centre")
    compiled_kind = "lorentzian"
    linear = ("A",)
    _position = "centre"

    def __init__(self, A=1.0, gamma=1.0, centre=0.0, **kwargs):
        super().__init__(A=A, gamma=gamma, centre=centre, **_drop_backend_kwargs(kwargs))
        self.A.bmin = 0.0

    @staticmethod
    def function(x, A, gamma, centre):
        return A * gamma / (math.pi * ((x - centre) ** 2 + gamma**2))

    @staticmethod
    def gradients(x, A, gamma, centre):
        u = x - centre
        D = u**2 + gamma**2
        return (gamma / (math.pi * D), A * (u**2 - gamma**2) / (math.pi * D**2),
                2.0 * A * gamma * u / (math.pi * D**2))

    @property
    def fwhm(self) -> float:
        return 2.0 * self.gamma.value

    @fwhm.setter
    def fwhm(self, value: float) -> None:
        self.gamma.value = value / 2.0

    @property
    def height(self) -> float:
        return self.A.value / (np.pi * self.gamma.value)

    @height.setter
    def height(self, value: float) -> None:
        self.A.value = value * np.pi * self.gamma.value

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Centre from the median and gamma from half the interquartile range of
        the data between ``x1`` and ``x2``, both corrected for the tails the
        range cuts off; ``A = pi * gamma * max(data)``.
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        q1, med, q3 = _quantiles(X, Y, (0.25, 0.5, 0.75))
        med, gamma = _untruncated_cauchy(X[0], X[-1], q1, med, q3)
        return _store_estimates(
            self, only_current, nav, {"centre": med, "gamma": gamma, "A": np.pi * gamma * Y.max(axis=1)}
        )
