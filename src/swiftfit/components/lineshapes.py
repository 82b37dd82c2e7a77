"""Line shapes beyond the Gaussian/Lorentzian: Voigt (analytic gradients
through the Faddeeva function), SplitVoigt, SkewNormal, Doniach–Šunjić and
the volume-plasmon Drude function.

All are pure (static, batched ``function``/``gradients``) with analytic
gradients for every parameter.
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
from .peaks import SIGMA2FWHM, SQRT2, SQRT2PI, _moments

__all__ = ["Voigt", "SplitVoigt", "SkewNormal", "Doniach", "VolumePlasmonDrude"]


# ------------------------------------------------------------------ Voigt
class Voigt(Component):
    r"""Voigt profile (Gaussian convolved with a Lorentzian), exact through
    the Faddeeva function :math:`w` (``scipy.special.wofz``).

    .. math::

        z = \frac{x - x_0 + i\gamma}{\sigma\sqrt{2}}, \qquad
        f(x) = \frac{\mathrm{area}}{\sigma\sqrt{2\pi}}\,\Re\,w(z)

    Gradients are analytic, through :math:`w'(z) = -2 z\,w(z) + 2i/\sqrt{\pi}`.

    Parameters
    ----------
    centre : float
        Position of the maximum.
    area : float
        Integral (linear); bounded below by 0.
    gamma : float
        HWHM of the Lorentzian part; bounded below by 0.
    sigma : float
        Standard deviation of the Gaussian part; bounded below by 0 (must be
        > 0 to evaluate).

    Attributes
    ----------
    gwidth, FWHM : float
        FWHM of the Gaussian part (get and set).
    lwidth : float
        FWHM of the Lorentzian part, ``2 * gamma`` (get and set).

    Examples
    --------
    >>> v = Voigt(centre=0.0, area=1.0, gamma=0.0, sigma=1.0)
    >>> round(float(v.function(0.0)) * math.sqrt(2 * math.pi), 12)
    1.0
    """

    parameters = ("centre", "area", "gamma", "sigma")
    compiled_kind = "voigt"
    linear = ("area",)
    _position = "centre"

    def __init__(self, centre=10.0, area=1.0, gamma=0.2, sigma=0.1, **kwargs):
        super().__init__(centre=centre, area=area, gamma=gamma, sigma=sigma, **_drop_backend_kwargs(kwargs))
        self.area.bmin = 0.0
        self.gamma.bmin = 0.0
        self.sigma.bmin = 0.0

    @staticmethod
    def function(x, centre, area, gamma, sigma):
        z = (x - centre + 1j * gamma) / (sigma * SQRT2)
        return area * namespace(x, centre, area, gamma, sigma).wofz(z).real / (sigma * SQRT2PI)

    @staticmethod
    def gradients(x, centre, area, gamma, sigma):
        s = sigma * SQRT2
        z = (x - centre + 1j * gamma) / s
        w = namespace(x, centre, area, gamma, sigma).wofz(z)
        dw = -2.0 * z * w + 2j / math.sqrt(math.pi)
        k = 1.0 / (sigma * SQRT2PI)
        return (
            -area * k * dw.real / s,
            k * w.real,
            -area * k * dw.imag / s,
            -area * k * (w.real + (z * dw).real) / sigma,
        )

    @property
    def gwidth(self) -> float:
        return self.sigma.value * SIGMA2FWHM

    @gwidth.setter
    def gwidth(self, value: float) -> None:
        self.sigma.value = value / SIGMA2FWHM

    FWHM = gwidth

    @property
    def lwidth(self) -> float:
        return 2.0 * self.gamma.value

    @lwidth.setter
    def lwidth(self, value: float) -> None:
        self.gamma.value = value / 2.0

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Centre and sigma from the moments of the data, ``area`` from its
        integral (``gamma`` is left unchanged), as for :class:`Gaussian`.
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        centre, sigma, _, area = _moments(X, Y)
        return _store_estimates(self, only_current, nav, {"centre": centre, "sigma": sigma, "area": area})


class SplitVoigt(Component):
    r"""Split pseudo-Voigt: a pseudo-Voigt with different widths on each side.

    With :math:`u = x - c`, :math:`\bar\sigma = (\sigma_1 + \sigma_2)/2` and
    :math:`\sigma_j = \sigma_1` for :math:`x \le c`, :math:`\sigma_2` otherwise,

    .. math::

        f(x) = \frac{A}{\bar\sigma}\left[(1-\eta)\,\frac{e^{-u^2/(2\sigma_j^2)}}{\sqrt{2\pi}}
        + \eta\,\frac{1}{\pi\,(1 + u^2/\sigma_j^2)}\right]

    which integrates to :math:`A`.

    Parameters
    ----------
    A : float
        Area (linear); bounded to ``[1e-8, 1e8]`` (HyperSpy's bounds).
    sigma1, sigma2 : float
        Widths left and right of ``centre``; bounded to ``[1e-8, 50]``.
    fraction : float
        Lorentzian fraction :math:`\eta` (linear); bounded to ``[1e-8, 1]``.
    centre : float
        Position :math:`c` of the maximum.

    Examples
    --------
    >>> sv = SplitVoigt(A=1.0, sigma1=1.0, sigma2=1.0, fraction=0.0)
    >>> round(float(sv.function(0.0)) * math.sqrt(2 * math.pi), 12)
    1.0
    """

    parameters = ("A", "sigma1", "sigma2", "centre", "fraction")
    compiled_expression = ("A * ((1 - fraction) * exp(-r2 / 2) / sqrt(2 * pi) + fraction / (pi * (1 + r2)))"
                           " / ((sigma1 + sigma2) / 2) ; r2 = u ** 2 / s ** 2"
                           " ; s = sigma1 + (sigma2 - sigma1) * Heaviside(u, 0) ; u = x - centre")
    linear = ("A", "fraction")
    _position = "centre"

    def __init__(self, A=1.0, sigma1=1.0, sigma2=1.0, fraction=0.0, centre=0.0, **kwargs):
        super().__init__(
            A=A, sigma1=sigma1, sigma2=sigma2, fraction=fraction, centre=centre, **_drop_backend_kwargs(kwargs)
        )
        self.A.bmin, self.A.bmax = 1.0e-8, 1.0e8
        self.sigma1.bmin, self.sigma1.bmax = 1.0e-8, 50.0
        self.sigma2.bmin, self.sigma2.bmax = 1.0e-8, 50.0
        self.fraction.bmin, self.fraction.bmax = 1.0e-8, 1.0

    @staticmethod
    def _parts(x, sigma1, sigma2, centre):
        xp = namespace(x, sigma1, sigma2, centre)
        u = x - centre
        left = u <= 0
        s = xp.where(left, sigma1, sigma2)
        r2 = (u / s) ** 2
        g = xp.exp(-0.5 * r2) / SQRT2PI
        lo = 1.0 / (math.pi * (1.0 + r2))
        return u, left, s, g, lo

    @staticmethod
    def function(x, A, sigma1, sigma2, centre, fraction):
        _, _, _, g, lo = SplitVoigt._parts(x, sigma1, sigma2, centre)
        return A * ((1.0 - fraction) * g + fraction * lo) / (0.5 * (sigma1 + sigma2))

    @staticmethod
    def gradients(x, A, sigma1, sigma2, centre, fraction):
        u, left, s, g, lo = SplitVoigt._parts(x, sigma1, sigma2, centre)
        sbar = 0.5 * (sigma1 + sigma2)
        K = (1.0 - fraction) * g + fraction * lo
        # d/du of K is -u/s^2 * Q; d/ds of K is u^2/s^3 * Q
        xp = namespace(x, A, sigma1, sigma2, centre, fraction)
        Q = (1.0 - fraction) * g + 2.0 * math.pi * fraction * lo**2
        dK_ds = A * Q * u**2 / (s**3 * sbar)
        common = -A * K / (2.0 * sbar**2)
        return (
            K / sbar,
            common + xp.where(left, dK_ds, 0.0),
            common + xp.where(left, 0.0, dK_ds),
            A * Q * u / (s**2 * sbar),
            A * (lo - g) / sbar,
        )

    @property
    def height(self) -> float:
        """Height of the Gaussian part, as in HyperSpy (``A / (sqrt(2 pi) sigma_bar)``)."""
        return self.A.value / (0.5 * (self.sigma1.value + self.sigma2.value) * SQRT2PI)

    @height.setter
    def height(self, value: float) -> None:
        self.A.value = value * 0.5 * (self.sigma1.value + self.sigma2.value) * SQRT2PI

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Centre, ``sigma1 = sigma2`` and ``A`` from the moments and the
        integral of the data, as for :class:`Gaussian`.
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        centre, sigma, _, area = _moments(X, Y)
        return _store_estimates(
            self, only_current, nav, {"centre": centre, "sigma1": sigma, "sigma2": sigma, "A": area}
        )


# ------------------------------------------------------------- SkewNormal
class SkewNormal(Component):
    r"""Skew-normal peak (HyperSpy's parametrisation).

    .. math::

        t = \frac{x - x_0}{\omega}, \qquad f(x) = 2A\,\phi(t)\,\Phi(\alpha t)

    with :math:`\phi` and :math:`\Phi` the standard normal density and
    distribution function. Its integral is :math:`A\omega`.

    Parameters
    ----------
    x0 : float
        Location (not the maximum: see ``mode``).
    A : float
        Height parameter (linear); bounded below by 0.
    scale : float
        Width :math:`\omega`; bounded below by 0.
    shape : float
        Skewness :math:`\alpha`; 0 gives a Gaussian, > 0 a tail to the right.

    Attributes
    ----------
    mean, variance, skewness, mode : float
        Of the distribution at the current values (read only).

    Examples
    --------
    >>> sn = SkewNormal(x0=0.0, A=1.0, scale=1.0, shape=0.0)
    >>> round(float(sn.function(0.0)) * math.sqrt(2 * math.pi), 12)
    1.0
    """

    parameters = ("x0", "A", "scale", "shape")
    compiled_expression = "A * exp(-t ** 2 / 2) / sqrt(2 * pi) * erfc(-shape * t / sqrt(2)) ; t = (x - x0) / scale"
    linear = ("A",)
    _position = "x0"

    def __init__(self, x0=0.0, A=1.0, scale=1.0, shape=0.0, **kwargs):
        super().__init__(x0=x0, A=A, scale=scale, shape=shape, **_drop_backend_kwargs(kwargs))
        self.A.bmin = 0.0
        self.scale.bmin = 0.0

    @staticmethod
    def function(x, x0, A, scale, shape):
        xp = namespace(x, x0, A, scale, shape)
        t = (x - x0) / scale
        return 2.0 * A * xp.exp(-0.5 * t**2) / SQRT2PI * xp.ndtr(shape * t)

    @staticmethod
    def gradients(x, x0, A, scale, shape):
        xp = namespace(x, x0, A, scale, shape)
        t = (x - x0) / scale
        phi = xp.exp(-0.5 * t**2) / SQRT2PI
        Phi = xp.ndtr(shape * t)
        phi_a = xp.exp(-0.5 * (shape * t) ** 2) / SQRT2PI
        df_dt = 2.0 * A * phi * (shape * phi_a - t * Phi)
        return (-df_dt / scale, 2.0 * phi * Phi, -df_dt * t / scale, 2.0 * A * phi * phi_a * t)

    def _delta(self) -> float:
        a = self.shape.value
        return a / math.sqrt(1.0 + a * a)

    @property
    def mean(self) -> float:
        return self.x0.value + self.scale.value * self._delta() * math.sqrt(2.0 / math.pi)

    @property
    def variance(self) -> float:
        return self.scale.value**2 * (1.0 - 2.0 * self._delta() ** 2 / math.pi)

    @property
    def skewness(self) -> float:
        m = self._delta() * math.sqrt(2.0 / math.pi)
        return (4.0 - math.pi) / 2.0 * m**3 / (1.0 - m * m) ** 1.5

    @property
    def mode(self) -> float:
        """Position of the maximum (Azzalini's approximation)."""
        a = self.shape.value
        if a == 0:
            return self.x0.value
        muz = math.sqrt(2.0 / math.pi) * self._delta()
        sigz = math.sqrt(1.0 - muz * muz)
        m0 = muz - self.skewness * sigz / 2.0 - math.copysign(0.5, a) * math.exp(-2.0 * math.pi / abs(a))
        return self.x0.value + self.scale.value * m0

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Method of moments: mean, variance and skewness of the data between
        ``x1`` and ``x2`` give ``x0``, ``scale`` and ``shape`` (|skewness| is
        capped at 0.99); ``A = sqrt(2 pi) f(x0)`` from the data point nearest ``x0``.
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        mean, sd, _, area = _moments(X, Y)
        with np.errstate(divide="ignore", invalid="ignore"):
            g1 = _trapezoid(Y * (X - mean[:, None]) ** 3, X) / area / sd**3
            g1 = np.clip(g1, -0.99, 0.99)
            c = np.abs(g1) ** (2.0 / 3.0)
            delta = np.sign(g1) * np.sqrt(0.5 * np.pi * c / (c + ((4.0 - np.pi) / 2.0) ** (2.0 / 3.0)))
            shape = delta / np.sqrt(1.0 - delta**2)
            scale = sd / np.sqrt(1.0 - 2.0 * delta**2 / np.pi)
            x0 = mean - scale * delta * math.sqrt(2.0 / math.pi)
            # f(x0) = A / sqrt(2 pi): A from the data nearest x0 (HyperSpy's estimate)
            nearest = np.argmin(np.abs(X[None, :] - x0[:, None]), axis=1)
            A = Y[np.arange(Y.shape[0]), nearest] * math.sqrt(2.0 * math.pi)
        return _store_estimates(self, only_current, nav, {"x0": x0, "scale": scale, "shape": shape, "A": A})


# ---------------------------------------------------------------- Doniach
_DONIACH_K = 2.354820 / 2.0  # HyperSpy's literal 2.354820 (~ 2 sqrt(2 ln 2))


class Doniach(Component):
    r"""Doniach–Šunjić asymmetric line shape (HyperSpy's definition).

    .. math::

        f(x) = \frac{A\cos\left[\frac{\pi\alpha}{2} + (1-\alpha)
        \arctan\left(\frac{x - c + d}{\sigma}\right)\right]}
        {\left[\sigma^2 + (x - c + d)^2\right]^{(1-\alpha)/2}},
        \qquad d = \frac{2.354820\,\sigma}{2\tan\left[\pi/(2-\alpha)\right]}

    The shift :math:`d` moves the maximum close to ``centre``; it is exactly
    HyperSpy's, which places the maximum at ``centre`` only approximately (the
    exact shift would be :math:`-\sigma\tan[\pi\alpha/(2(2-\alpha))]`, HyperSpy's
    is 1.1774 times that).

    Parameters
    ----------
    centre : float
        Peak position.
    A : float
        Height parameter (linear).
    sigma : float
        Width (HWHM for ``alpha = 0``); bounded below by 1e-8.
    alpha : float
        Asymmetry (tail towards lower x), in (0, 1); bounded below by 1e-8.

    Examples
    --------
    >>> d = Doniach(centre=0.0, A=1.0, sigma=1.0, alpha=0.0)
    >>> round(float(d.function(0.0)), 12)
    1.0
    """

    parameters = ("centre", "A", "sigma", "alpha")
    compiled_expression = ("A * cos(phi) * R ** (-beta / 2) ; phi = pi * alpha / 2 + beta * atan(u / sigma)"
                           " ; beta = 1 - alpha ; R = sigma ** 2 + u ** 2"
                           " ; u = x - centre + 1.17741 * sigma / tan(pi / (2 - alpha))")
    linear = ("A",)
    _position = "centre"

    def __init__(self, centre=0.0, A=1.0, sigma=1.0, alpha=0.5, **kwargs):
        super().__init__(centre=centre, A=A, sigma=sigma, alpha=alpha, **_drop_backend_kwargs(kwargs))
        self.sigma.bmin = 1.0e-8
        self.alpha.bmin = 1.0e-8

    @staticmethod
    def _parts(x, alpha, centre, sigma):
        xp = namespace(x, alpha, centre, sigma)
        T = xp.tan(math.pi / (2.0 - alpha))
        u = x - centre + _DONIACH_K * sigma / T
        beta = 1.0 - alpha
        theta = xp.arctan(u / sigma)
        phi = 0.5 * math.pi * alpha + beta * theta
        R = sigma**2 + u**2
        Rb = R ** (-0.5 * beta)
        return T, u, beta, theta, phi, R, Rb

    @staticmethod
    def function(x, centre, A, sigma, alpha):
        _, _, _, _, phi, _, Rb = Doniach._parts(x, alpha, centre, sigma)
        return A * namespace(phi, A).cos(phi) * Rb

    @staticmethod
    def gradients(x, centre, A, sigma, alpha):
        T, u, beta, theta, phi, R, Rb = Doniach._parts(x, alpha, centre, sigma)
        xp = namespace(x, centre, A, sigma, alpha)
        c, s = xp.cos(phi), xp.sin(phi)
        df_du = -A * beta * Rb * (sigma * s + u * c) / R
        df_dsigma_u = A * beta * Rb * (u * s - sigma * c) / R
        df_dalpha_u = A * Rb * (0.5 * xp.log(R) * c - (0.5 * math.pi - theta) * s)
        dd_dalpha = -_DONIACH_K * sigma * (1.0 + T**2) / T**2 * math.pi / (2.0 - alpha) ** 2
        return (
            -df_du,
            c * Rb,
            df_dsigma_u + df_du * _DONIACH_K / T,
            df_dalpha_u + df_du * dd_dalpha,
        )

    @staticmethod
    def _unit_shape(alpha: float):
        """For ``sigma = 1``: the angle ``theta* = arctan(u*)`` of the maximum,
        the maximum value and the full width at half maximum (in x).
        """
        beta = 1.0 - alpha
        theta_star = -np.pi * alpha / (2.0 * (2.0 - alpha))
        theta = np.linspace(-np.pi / 2, np.pi / 2, 20001)[1:-1]
        g = np.cos(0.5 * np.pi * alpha + beta * theta) * np.cos(theta) ** beta
        peak = float(np.cos(0.5 * np.pi * alpha + beta * theta_star) * np.cos(theta_star) ** beta)
        above = theta[g >= 0.5 * peak]
        width = float(np.tan(above[-1]) - np.tan(above[0])) if above.size > 1 else float("nan")
        return theta_star, peak, width

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Estimate ``centre``, ``sigma`` and ``A`` at the current ``alpha``
        (which is not estimated): ``sigma`` scales the line's known width at
        half maximum to the data's, ``A`` matches the data maximum, and
        ``centre`` puts the line's maximum at the data's.
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        alpha = self.alpha.value
        theta_star, peak, width = self._unit_shape(alpha)
        height = Y.max(axis=1)
        x_peak = X[np.argmax(Y, axis=1)]
        above = (Y >= 0.5 * height[:, None]).astype(float)
        sigma = _trapezoid(above, X) / width
        shift = _DONIACH_K * sigma / np.tan(np.pi / (2.0 - alpha))
        centre = x_peak + shift - sigma * np.tan(theta_star)
        with np.errstate(divide="ignore", invalid="ignore"):
            A = height * sigma ** (1.0 - alpha) / peak
        return _store_estimates(self, only_current, nav, {"centre": centre, "sigma": sigma, "A": A})


# ----------------------------------------------------- VolumePlasmonDrude
class VolumePlasmonDrude(Component):
    r"""Drude volume-plasmon energy-loss function (Egerton, EELS, 2nd ed., pp. 154-158).

    .. math::

        f(E) = I\,\frac{E\,\Delta E_p\,E_p^2}{(E^2 - E_p^2)^2 + (E\,\Delta E_p)^2}
        \quad (E > 0), \qquad f(E) = 0 \quad (E \le 0)

    Parameters
    ----------
    intensity : float
        :math:`I` (linear).
    plasmon_energy : float
        :math:`E_p`.
    fwhm : float
        Plasmon width :math:`\Delta E_p`.

    Examples
    --------
    >>> vp = VolumePlasmonDrude(intensity=1.0, plasmon_energy=15.0, fwhm=1.5)
    >>> round(float(vp.function(15.0)), 12) == round(15.0 / 1.5, 12)
    True
    """

    parameters = ("intensity", "plasmon_energy", "fwhm")
    compiled_expression = ("H * intensity * plasmon_energy ** 2 * En * fwhm"
                           " / (H * ((En ** 2 - plasmon_energy ** 2) ** 2 + (En * fwhm) ** 2) + 1 - H)"
                           " ; En = H * x ; H = Heaviside(x, 0)")
    linear = ("intensity",)
    _position = "plasmon_energy"

    def __init__(self, intensity=1.0, plasmon_energy=15.0, fwhm=1.5, **kwargs):
        super().__init__(
            intensity=intensity, plasmon_energy=plasmon_energy, fwhm=fwhm, **_drop_backend_kwargs(kwargs)
        )

    @staticmethod
    def _parts(x, plasmon_energy, fwhm):
        xp = namespace(x, plasmon_energy, fwhm)
        pos = x > 0
        E = xp.where(pos, x, 0.0)
        Ep2 = plasmon_energy**2
        D = (E**2 - Ep2) ** 2 + (E * fwhm) ** 2
        Dsafe = xp.where(pos, D, 1.0)
        return pos, E, Ep2, Dsafe

    @staticmethod
    def function(x, intensity, plasmon_energy, fwhm):
        pos, E, Ep2, D = VolumePlasmonDrude._parts(x, plasmon_energy, fwhm)
        return namespace(D, intensity).where(pos, intensity * Ep2 * E * fwhm / D, 0.0)

    @staticmethod
    def gradients(x, intensity, plasmon_energy, fwhm):
        pos, E, Ep2, D = VolumePlasmonDrude._parts(x, plasmon_energy, fwhm)
        xp = namespace(D, intensity)
        g = xp.where(pos, Ep2 * E * fwhm / D, 0.0)
        dEp = intensity * (2.0 * plasmon_energy * E * fwhm / D + g * 4.0 * plasmon_energy * (E**2 - Ep2) / D)
        dW = intensity * (Ep2 * E / D - g * 2.0 * E**2 * fwhm / D)
        return (g, xp.where(pos, dEp, 0.0), xp.where(pos, dW, 0.0))
