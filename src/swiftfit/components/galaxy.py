"""Astronomical 2-D profiles: Moffat2D (a point-spread function) and Sersic2D
(galaxy light), with the Sersic constant b_n and its derivative.

Both are pure and batched like the components of :mod:`.two_d`.

The Sersic profile follows astropy's ``Sersic2D`` and AstroPhot's convention:
``I_e`` is the surface brightness at the effective (half-light) radius
``R_e``, and ``b_n`` solves

.. math:: \\frac{\\gamma(2n, b_n)}{\\Gamma(2n)} = \\frac{1}{2}

exactly (``scipy.special.gammaincinv(2n, 0.5)``), so half of the total light
lies within ``R_e`` for every ``n``.

The n-gradient needs :math:`db_n/dn`, which scipy does not provide.
Differentiating the defining relation :math:`P(2n, b_n) = 1/2` (with
:math:`P(a, x) = \\gamma(a, x)/\\Gamma(a)`) implicitly gives

.. math::

    \\frac{db_n}{dn} = -2\\,\\frac{\\partial P/\\partial a}{\\partial P/\\partial x}
    \\Big|_{a = 2n,\\ x = b_n}, \\qquad
    \\frac{\\partial P}{\\partial x} = \\frac{x^{a-1} e^{-x}}{\\Gamma(a)}.

For :math:`\\partial P/\\partial a` the series
:math:`P(a, x) = \\sum_{k \\ge 0} T_k`, :math:`T_k = e^{-x} x^{a+k} / \\Gamma(a+k+1)`
(all terms positive) is differentiated term by term:

.. math::

    \\frac{\\partial P}{\\partial a} = \\sum_{k \\ge 0} T_k
    \\left[\\ln x - \\psi(a + k + 1)\\right].

At :math:`x = b_n` (the median of a Gamma(a) variable, below its mean
:math:`a`) the ratio :math:`T_{k+1}/T_k = x/(a+k+1)` is below 1 from the
first term, so the terms decrease monotonically; after :math:`K` terms the
remainder is below about :math:`\\exp(-K^2/2a)` relative, and
:math:`K = 40 + 10\\sqrt{a + 1}` keeps it under :math:`10^{-20}`. Each
:math:`T_k` is computed in log space (``gammaln``) and :math:`\\psi` with
``scipy.special.digamma``. Against 40-digit mpmath, the result is accurate
to about 2e-15 relative for :math:`0.1 \\le n \\le 20` (4e-14 at n = 50,
7e-14 at n = 100, where a mild cancellation sets in).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .._xp import namespace
from .two_d import _Centred2D, _frame, _position_gradients

__all__ = ["Moffat2D", "Sersic2D", "sersic_bn"]


def _series_terms(a_max: float) -> int:
    a_max = float(a_max) if np.isfinite(a_max) and a_max > 0 else 1.0
    return int(40 + 10 * math.sqrt(min(a_max, 1e6) + 1.0))


def sersic_bn(n, derivative: bool = False):
    """The Sersic constant :math:`b_n` (and, optionally, :math:`db_n/dn`).

    Parameters
    ----------
    n : float or array
        Sersic index (> 0).
    derivative : bool
        Also return :math:`db_n/dn` (see the module docstring for the method).

    Returns
    -------
    b : float or array
        ``scipy.special.gammaincinv(2 n, 0.5)``.
    db : float or array
        Only with ``derivative=True``.

    Examples
    --------
    >>> round(float(sersic_bn(1.0)), 6), round(float(sersic_bn(4.0)), 6)
    (1.678347, 7.669249)
    >>> b, db = sersic_bn(4.0, derivative=True)
    >>> round(float(db), 8)
    1.99932574
    """
    n = np.asarray(n, dtype=float)
    a = 2.0 * n
    b = special.gammaincinv(a, 0.5)
    if not derivative:
        return b
    if a.size == 0:
        return b, np.empty_like(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.arange(_series_terms(np.max(a[np.isfinite(a)], initial=0.0)))
        ak1 = a[..., None] + k + 1.0
        logx = np.log(b)[..., None]
        terms = np.exp((ak1 - 1.0) * logx - b[..., None] - special.gammaln(ak1))
        dP_da = np.sum(terms * (logx - special.digamma(ak1)), axis=-1)
        dP_dx = np.exp((a - 1.0) * np.log(b) - b - special.gammaln(a))
        db = -2.0 * dP_da / dP_dx
    return b, db


def _sersic_db(n):
    """:math:`db_n/dn` alone (the derivative :func:`sersic_bn` gives with ``derivative=True``)."""
    return sersic_bn(n, derivative=True)[1]


class Sersic2D(_Centred2D):
    r"""Elliptical Sersic profile (astropy's ``Sersic2D`` parametrisation).

    .. math::

        I(x, y) = I_e \exp\left\{-b_n\left[\left(\frac{R}{R_e}\right)^{1/n}
        - 1\right]\right\}, \qquad R^2 = u^2 + \frac{v^2}{q^2},
        \quad q = 1 - \epsilon

    where :math:`u, v` are the offsets from the centre rotated by the position
    angle :math:`\theta` (the rotation convention of :class:`.Expression`:
    the major axis points at angle :math:`\theta` from the ``x`` axis), and
    :math:`b_n` is exact (:func:`sersic_bn`), so half of the total light

    .. math:: L = 2\pi q R_e^2 I_e\, n\, e^{b_n} b_n^{-2n}\,\Gamma(2n)

    lies inside the ellipse :math:`R = R_e`. ``n = 0.5`` is a Gaussian,
    ``n = 1`` an exponential disc, ``n = 4`` de Vaucouleurs' profile.

    Parameters
    ----------
    I_e : float
        Surface brightness at :math:`R_e` (linear).
    R_e : float
        Effective (half-light) radius along the major axis; bounded below
        by 0.
    n : float
        Sersic index; bounded below by 0.1.
    centre_x, centre_y : float
        Centre :math:`(x_0, y_0)`.
    ellipticity : float
        :math:`\epsilon = 1 - q` (``q`` the minor-to-major axis ratio);
        bounded to [0, 0.99].
    position_angle : float
        :math:`\theta`, radians, counter-clockwise from the ``x`` axis.

    Notes
    -----
    At the centre (:math:`R = 0`) the derivative of the profile in ``R``
    diverges for :math:`n > 1` (a cusp: :math:`dI/dR \propto R^{1/n - 1}`),
    so the gradients in ``centre_x``, ``centre_y``, ``ellipticity`` and
    ``position_angle`` have no value there. They are computed in the form
    :math:`K \cdot (\text{a product of } u, v)` with
    :math:`K = I\,b_n (R/R_e)^{1/n} / (n R^2)` evaluated with ``R``
    replaced by 1 where ``R == 0`` (where :math:`u = v = 0`): the gradients
    are 0 at an exact centre pixel (the symmetric sub-gradient) and exact
    everywhere else; ``ln(R/R_e)`` in the n-gradient is likewise taken as 0
    there, where it multiplies :math:`(R/R_e)^{1/n} = 0`. The function value
    itself needs no special case. Only real parameter values are supported
    (``scipy.special.gammaincinv`` is real), so ``fd_scheme='cs'`` does not
    apply.

    Attributes
    ----------
    bn : float
        :math:`b_n` at the current ``n``.
    total_flux : float
        :math:`L` above, at the current values.

    Examples
    --------
    >>> s = Sersic2D(I_e=1.0, R_e=2.0, n=1.0)
    >>> float(s.function(2.0, 0.0))          # I_e at R = R_e
    1.0
    >>> round(s.bn, 6)
    1.678347
    """

    parameters = ("I_e", "R_e", "n", "centre_x", "centre_y", "ellipticity", "position_angle")
    compiled_kind = "sersic2d"
    linear = ("I_e",)

    def __init__(self, I_e=1.0, R_e=1.0, n=1.0, centre_x=0.0, centre_y=0.0, ellipticity=0.0,
                 position_angle=0.0, **kwargs):
        self._setup(
            dict(I_e=I_e, R_e=R_e, n=n, centre_x=centre_x, centre_y=centre_y,
                 ellipticity=ellipticity, position_angle=position_angle),
            False, kwargs,
        )
        self.R_e.bmin = 0.0
        self.n.bmin = 0.1
        self.ellipticity.bmin = 0.0
        self.ellipticity.bmax = 0.99
        self.position_angle.units = "rad"

    @staticmethod
    def function(x, y, I_e, R_e, n, centre_x, centre_y, ellipticity, position_angle):
        xp = namespace(x, y, I_e, R_e, n, centre_x, centre_y, ellipticity, position_angle)
        b = xp.host(sersic_bn, _sersic_db, n)  # gammaincinv: SciPy's, also under JAX
        u, v, _, _ = _frame(x, y, centre_x, centre_y, position_angle)
        w = v / (1.0 - ellipticity)
        R2 = u * u + w * w
        # (R / R_e)**(1/n) as (R² / R_e²)**(1/2n), 0 at an exact centre: no sqrt,
        # and no power of 0, whose derivative (JAX's autodiff) is not finite
        centre = R2 == 0.0
        t = xp.where(centre, 0.0, (xp.where(centre, 1.0, R2) / (R_e * R_e)) ** (0.5 / n))
        return I_e * xp.exp(-b * (t - 1.0))

    @staticmethod
    def gradients(x, y, I_e, R_e, n, centre_x, centre_y, ellipticity, position_angle):
        xp = namespace(x, y, I_e, R_e, n, centre_x, centre_y, ellipticity, position_angle)
        b, db = xp.host(sersic_bn, None, n), xp.host(_sersic_db, None, n)
        u, v, c, s = _frame(x, y, centre_x, centre_y, position_angle)
        q = 1.0 - ellipticity
        w = v / q
        R = xp.sqrt(u * u + w * w)
        centre = R == 0.0
        R_safe = xp.where(centre, 1.0, R)  # u = v = 0 wherever R == 0
        z = R / R_e
        t = z ** (1.0 / n)  # 0 at the centre
        e = xp.exp(-b * (t - 1.0))
        f = I_e * e
        ln_z = xp.log(R_safe / R_e)  # multiplies t, which is 0 at the centre
        K = f * b * t / (n * R_safe * R_safe)  # -dI/dR / R
        fu, fv = -K * u, -K * w / q  # dI/du, dI/dv
        d_cx, d_cy, d_angle = _position_gradients(fu, fv, u, v, c, s)
        return (
            e,
            f * b * t / (n * R_e),
            f * (b * t * ln_z / (n * n) - db * (t - 1.0)),
            d_cx,
            d_cy,
            -K * w * w / q,  # dR/d(ellipticity) = v^2 / (q^3 R)
            d_angle,
        )

    @property
    def bn(self) -> float:
        return float(sersic_bn(self.n.value))

    @property
    def total_flux(self) -> float:
        n = self.n.value
        b = self.bn
        q = 1.0 - self.ellipticity.value
        log_l = b - 2.0 * n * math.log(b) + special.gammaln(2.0 * n)
        return 2.0 * math.pi * q * self.R_e.value**2 * self.I_e.value * n * math.exp(log_l)


# ------------------------------------------------------------------ Moffat2D
class Moffat2D(_Centred2D):
    r"""Normalised circular Moffat profile (a point-spread function model).

    .. math::

        f(x, y) = A\,\frac{\beta - 1}{\pi\alpha^2}
        \left[1 + \frac{(x - x_0)^2 + (y - y_0)^2}{\alpha^2}\right]^{-\beta}

    It integrates to :math:`A` over the plane for :math:`\beta > 1`; large
    :math:`\beta` tends to a Gaussian, :math:`\beta = 3/2` is
    :class:`Lorentzian2D` with :math:`\gamma_x = \gamma_y = \alpha`.

    Parameters
    ----------
    A : float
        Volume (linear); bounded below by 0.
    alpha : float
        Core width :math:`\alpha`; bounded below by 0.
    beta : float
        Power index :math:`\beta`; bounded below by 1.
    centre_x, centre_y : float
        Position :math:`(x_0, y_0)` of the maximum.

    Attributes
    ----------
    fwhm : float
        :math:`2\alpha\sqrt{2^{1/\beta} - 1}` (get and set, through alpha).
    height : float
        Peak value :math:`A(\beta - 1)/(\pi\alpha^2)` (get and set, through A).

    Examples
    --------
    >>> m = Moffat2D(A=np.pi, alpha=1.0, beta=2.0)
    >>> float(m.function(0.0, 0.0)), float(m.function(1.0, 0.0))
    (1.0, 0.25)
    >>> round(m.fwhm, 6)
    1.287189
    """

    parameters = ("A", "alpha", "beta", "centre_x", "centre_y")
    compiled_kind = "moffat2d"
    linear = ("A",)

    def __init__(self, A=1.0, alpha=1.0, beta=2.5, centre_x=0.0, centre_y=0.0, **kwargs):
        self._setup(
            dict(A=A, alpha=alpha, beta=beta, centre_x=centre_x, centre_y=centre_y), False, kwargs
        )
        self.A.bmin = 0.0
        self.alpha.bmin = 0.0
        self.beta.bmin = 1.0

    @staticmethod
    def function(x, y, A, alpha, beta, centre_x, centre_y):
        p, q = (x - centre_x) / alpha, (y - centre_y) / alpha
        return A * (beta - 1.0) / (math.pi * alpha * alpha) * (1.0 + p * p + q * q) ** (-beta)

    @staticmethod
    def gradients(x, y, A, alpha, beta, centre_x, centre_y):
        p, q = (x - centre_x) / alpha, (y - centre_y) / alpha
        Q = 1.0 + p * p + q * q
        shape = Q ** (-beta) / (math.pi * alpha * alpha)  # the profile per unit (beta - 1)
        g = (beta - 1.0) * shape
        f = A * g
        k = 2.0 * beta * f / (Q * alpha)  # df/dx0 = k p
        return (
            g,
            (k * (p * p + q * q) - 2.0 * f / alpha),
            A * shape * (1.0 - (beta - 1.0) * namespace(Q, A).log(Q)),
            k * p,
            k * q,
        )

    @property
    def fwhm(self) -> float:
        return 2.0 * self.alpha.value * math.sqrt(2.0 ** (1.0 / self.beta.value) - 1.0)

    @fwhm.setter
    def fwhm(self, value: float) -> None:
        self.alpha.value = value / (2.0 * math.sqrt(2.0 ** (1.0 / self.beta.value) - 1.0))

    @property
    def height(self) -> float:
        return self.A.value * (self.beta.value - 1.0) / (math.pi * self.alpha.value**2)

    @height.setter
    def height(self, value: float) -> None:
        self.A.value = value * math.pi * self.alpha.value**2 / (self.beta.value - 1.0)
