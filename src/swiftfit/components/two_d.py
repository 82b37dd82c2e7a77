"""Two-dimensional components: Offset, Polynomial2D, Gaussian2D and
Lorentzian2D (the astronomical profiles Moffat2D and Sersic2D are in
:mod:`.galaxy`).

All are pure: ``function``/``gradients`` are static and batched, taking the
flattened pixel coordinates ``x`` and ``y`` (shape ``(N,)``) and one ``(B, 1)``
array per parameter (see :mod:`swiftfit.component`); ``_ndim = 2``. Every
parameter has an analytic gradient. On an instance, ``comp.function(X, Y)``
evaluates at the current parameter values for coordinate arrays of any
(broadcastable) shape, e.g. from ``np.meshgrid``.

Rotation (``add_rotation=True`` for Gaussian2D and Lorentzian2D, always on
for Sersic2D's ``position_angle``) follows :class:`.Expression`: the profile
is evaluated at

.. math::

    u =  \\cos\\theta\\,(x - x_0) + \\sin\\theta\\,(y - y_0), \\qquad
    v = -\\sin\\theta\\,(x - x_0) + \\cos\\theta\\,(y - y_0),

so the shape turns by :math:`+\\theta` (counter-clockwise with ``y`` up)
about its centre :math:`(x_0, y_0)`.
"""

from __future__ import annotations

import math

import numpy as np

from .._xp import namespace
from ..component import Component
from ..errors import InvalidInputError, InvalidTypeError
from .background import _drop_backend_kwargs

MAX_POLYNOMIAL2D_ORDER = 20

__all__ = ["Gaussian2D", "Lorentzian2D", "Offset", "Polynomial2D"]

TWO_PI = 2.0 * math.pi
SIGMA2FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
# half maximum of the elliptical Cauchy profile: (1 + r^2)^(-3/2) = 1/2
_CAUCHY_HWHM = math.sqrt(2.0 ** (2.0 / 3.0) - 1.0)
_ANGLE = "rotation_angle"


# ------------------------------------------------------------------ helpers
def _frame(x, y, centre_x, centre_y, angle=None):
    """Offsets from the centre in the component's own (rotated) frame.

    Returns ``(u, v, c, s)`` with ``c = cos(angle)``, ``s = sin(angle)``, or
    ``c = s = None`` when there is no rotation (then ``u = x - x0``,
    ``v = y - y0``).
    """
    dx = x - centre_x
    dy = y - centre_y
    if angle is None:
        return dx, dy, None, None
    xp = namespace(dx, dy, angle)
    c, s = xp.cos(angle), xp.sin(angle)
    return c * dx + s * dy, c * dy - s * dx, c, s


def _position_gradients(fu, fv, u, v, c, s) -> tuple:
    """Derivatives in ``centre_x``, ``centre_y`` (and the angle, when rotated)
    from the partial derivatives ``fu = df/du`` and ``fv = df/dv``.

    ``du/dx0 = -c``, ``dv/dx0 = s``, ``du/dy0 = -s``, ``dv/dy0 = -c``,
    ``du/dtheta = v`` and ``dv/dtheta = -u``.
    """
    if c is None:
        return (-fu, -fv)
    return (s * fv - c * fu, -s * fu - c * fv, v * fu - u * fv)


def _coordinate_shape(x, y) -> tuple[int, ...]:
    return np.broadcast_shapes(np.shape(x), np.shape(y))


class _Centred2D(Component):
    """Shared set-up of the 2-D profiles with ``centre_x``/``centre_y`` and an
    optional ``rotation_angle`` (last parameter, radians, default 0).
    """

    _ndim = 2
    _position = ("centre_x", "centre_y")

    def _setup(self, values: dict, add_rotation: bool, kwargs: dict) -> None:
        kwargs = _drop_backend_kwargs(dict(kwargs))
        if not isinstance(add_rotation, (bool, np.bool_)):
            raise InvalidTypeError(f"`add_rotation` must be True or False, got {add_rotation!r}")
        names = list(type(self).parameters)
        if add_rotation:
            names.append(_ANGLE)
            values[_ANGLE] = kwargs.pop(_ANGLE, 0.0)
        elif _ANGLE in kwargs:
            raise InvalidInputError(
                f"{type(self).__name__} has a `{_ANGLE}` parameter only with `add_rotation=True`"
            )
        self._add_rotation = bool(add_rotation)
        super().__init__(names, type(self).linear, **values, **kwargs)
        if add_rotation:
            self.rotation_angle.units = "rad"

    @property
    def _position_x(self):
        return self.centre_x

    @property
    def _position_y(self):
        return self.centre_y

    @property
    def _angle(self) -> float:
        return self.rotation_angle.value if self._add_rotation else 0.0


# ------------------------------------------------------------------- Offset
class Offset(Component):
    r"""A constant over the image.

    .. math:: f(x, y) = k

    Parameters
    ----------
    offset : float
        The constant :math:`k` (linear).

    Examples
    --------
    >>> o = Offset(offset=2.5)
    >>> o.function(np.zeros((2, 3)), np.zeros((2, 3))).shape
    (2, 3)
    >>> float(o.function(1.0, -1.0))
    2.5
    """

    parameters = ("offset",)
    compiled_kind = "offset"
    linear = ("offset",)
    _ndim = 2

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(offset=offset, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def function(x, y, offset):
        return offset * namespace(x, y, offset).ones(_coordinate_shape(x, y))

    @staticmethod
    def gradients(x, y, offset):
        return (namespace(x, y, offset).ones(_coordinate_shape(x, y)),)


# --------------------------------------------------------------- Polynomial
def _polynomial_terms(order: int) -> list[tuple[int, int]]:
    """Exponents ``(i, j)`` of ``x**i * y**j``, by total degree, then by
    decreasing power of ``x``: (0,0), (1,0), (0,1), (2,0), (1,1), (0,2), ...
    """
    return [(d - j, j) for d in range(order + 1) for j in range(d + 1)]


def _order_from_count(count: int) -> int:
    order = round((math.sqrt(8 * count + 1) - 3) / 2)
    if (order + 1) * (order + 2) // 2 != count:
        raise InvalidInputError(f"{count} coefficients do not make a complete 2-D polynomial")
    return order


def _powers(base, order: int) -> list:
    out = [namespace(base).ones(np.shape(base))]
    for _ in range(order):
        out.append(out[-1] * base)
    return out


class Polynomial2D(Component):
    r"""Polynomial in ``x`` and ``y`` of a given total order.

    .. math:: f(x, y) = \sum_{i + j \le n} a_{ij}\, x^i y^j

    Parameters
    ----------
    order : int
        Total degree :math:`n` (>= 0). The component has
        ``(n + 1)(n + 2) / 2`` parameters, all linear, named ``a{i}{j}``
        (``a{i}_{j}`` when ``n >= 10``) for the coefficient of
        :math:`x^i y^j`, ordered by total degree and then by decreasing power
        of ``x``: ``a00, a10, a01, a20, a11, a02`` for ``order=2``.
        (HyperSpy has no 2-D polynomial; the names follow the 1-D
        ``Polynomial``'s ``a{i}``.)
    **kwargs
        Initial values, e.g. ``a00=1.0, a11=-0.5``.

    Examples
    --------
    >>> p = Polynomial2D(order=1, a00=1.0, a10=2.0, a01=3.0)
    >>> [q.name for q in p.parameters]
    ['a00', 'a10', 'a01']
    >>> float(p.function(1.0, 1.0))
    6.0
    """

    _ndim = 2
    compiled_kind = "polynomial2d"

    def __init__(self, order=2, **kwargs):
        if isinstance(order, (bool, np.bool_)) or not isinstance(order, (int, np.integer)):
            raise InvalidTypeError(f"Polynomial2D `order` must be an integer, got {order!r}")
        if order < 0:
            raise InvalidInputError(f"Polynomial2D `order` must be >= 0, got {order}")
        if order > MAX_POLYNOMIAL2D_ORDER:
            raise InvalidInputError(f"Polynomial2D `order` must be between 0 and {MAX_POLYNOMIAL2D_ORDER} "
                                    f"({(MAX_POLYNOMIAL2D_ORDER + 1) * (MAX_POLYNOMIAL2D_ORDER + 2) // 2} "
                                    f"parameters), got {order}")
        self._order = int(order)
        sep = "_" if self._order >= 10 else ""
        names = tuple(f"a{i}{sep}{j}" for i, j in _polynomial_terms(self._order))
        super().__init__(names, names, **_drop_backend_kwargs(kwargs))

    @property
    def order(self) -> int:
        """Total degree of the polynomial."""
        return self._order

    def get_polynomial_order(self) -> int:
        """Total degree of the polynomial (HyperSpy's method name)."""
        return self._order

    @staticmethod
    def function(x, y, *coefficients):
        """``coefficients`` in the order of :func:`_polynomial_terms`."""
        order = _order_from_count(len(coefficients))
        xp, yp = _powers(x, order), _powers(y, order)
        result = coefficients[0] * namespace(x, y, *coefficients).ones(_coordinate_shape(x, y))
        for (i, j), c in zip(_polynomial_terms(order)[1:], coefficients[1:]):
            result = result + c * (xp[i] * yp[j])
        return result

    @staticmethod
    def gradients(x, y, *coefficients):
        order = _order_from_count(len(coefficients))
        xp, yp = _powers(x, order), _powers(y, order)
        shape = _coordinate_shape(x, y)
        ns = namespace(x, y, *coefficients)
        return tuple(ns.broadcast_to(xp[i] * yp[j], shape) for i, j in _polynomial_terms(order))


# ---------------------------------------------------------------- Gaussian2D
class Gaussian2D(_Centred2D):
    r"""Normalised elliptical Gaussian (HyperSpy's ``Gaussian2D``).

    .. math::

        f(x, y) = \frac{A}{2\pi\sigma_x\sigma_y}
        \exp\left[-\frac{u^2}{2\sigma_x^2} - \frac{v^2}{2\sigma_y^2}\right]

    with :math:`u = x - x_0`, :math:`v = y - y_0`, or the rotated offsets of
    the module docstring when ``add_rotation=True``. It integrates to
    :math:`A` over the plane.

    Parameters
    ----------
    A : float
        Volume (linear); bounded below by 0.
    sigma_x, sigma_y : float
        Standard deviations along the component's own axes; bounded below
        by 0.
    centre_x, centre_y : float
        Position :math:`(x_0, y_0)` of the maximum.
    add_rotation : bool
        Add a last parameter ``rotation_angle`` (radians, default 0; it may be
        given as a keyword) that turns the Gaussian about its centre, as
        ``Expression(..., add_rotation=True)`` does.

    Attributes
    ----------
    fwhm_x, fwhm_y : float
        Full widths at half maximum along the two axes (get and set).
    height : float
        Peak value :math:`A / (2\pi\sigma_x\sigma_y)` (get and set, through A).
    sigma_major, sigma_minor : float
        The larger and the smaller of the two sigmas.
    ellipticity : float
        ``sigma_major / sigma_minor`` (HyperSpy's definition, >= 1).
    rotation_angle_wrapped : float
        ``math.fmod(rotation_angle, 2 pi)`` (HyperSpy's definition: it keeps
        the sign of the angle, so it lies in ``(-2 pi, 2 pi)``).
    rotation_major_axis : float
        Angle between the major axis and the ``x`` axis:
        ``rotation_angle_wrapped`` when ``sigma_x >= sigma_y``, else
        ``rotation_angle_wrapped - pi / 2`` (HyperSpy's definition).
        Without ``add_rotation`` the angle is taken as 0.

    Examples
    --------
    >>> x = np.linspace(-10, 10, 201)
    >>> X, Y = np.meshgrid(x, x)
    >>> g = Gaussian2D(A=1.0, sigma_x=1.0, sigma_y=2.0, centre_x=-5.0, centre_y=-5.0)
    >>> g.function(X, Y).shape
    (201, 201)
    >>> round(float(g.function(-5.0, -5.0)), 6)   # A / (2 pi * 1 * 2)
    0.079577
    >>> g.ellipticity
    2.0
    """

    parameters = ("A", "sigma_x", "sigma_y", "centre_x", "centre_y")
    compiled_kind = "gaussian2d"
    linear = ("A",)

    def __init__(self, A=1.0, sigma_x=1.0, sigma_y=1.0, centre_x=0.0, centre_y=0.0,
                 add_rotation=False, **kwargs):
        self._setup(
            dict(A=A, sigma_x=sigma_x, sigma_y=sigma_y, centre_x=centre_x, centre_y=centre_y),
            add_rotation, kwargs,
        )
        self.A.bmin = 0.0
        self.sigma_x.bmin = 0.0
        self.sigma_y.bmin = 0.0

    @staticmethod
    def function(x, y, A, sigma_x, sigma_y, centre_x, centre_y, rotation_angle=None):
        u, v, _, _ = _frame(x, y, centre_x, centre_y, rotation_angle)
        p, q = u / sigma_x, v / sigma_y
        return A * namespace(p, q, A).exp(-0.5 * (p * p + q * q)) / (TWO_PI * sigma_x * sigma_y)

    @staticmethod
    def gradients(x, y, A, sigma_x, sigma_y, centre_x, centre_y, rotation_angle=None):
        u, v, c, s = _frame(x, y, centre_x, centre_y, rotation_angle)
        p, q = u / sigma_x, v / sigma_y
        g = namespace(p, q, A).exp(-0.5 * (p * p + q * q)) / (TWO_PI * sigma_x * sigma_y)
        f = A * g
        fu, fv = -f * p / sigma_x, -f * q / sigma_y
        return (
            g,
            f * (p * p - 1.0) / sigma_x,
            f * (q * q - 1.0) / sigma_y,
            *_position_gradients(fu, fv, u, v, c, s),
        )

    @property
    def fwhm_x(self) -> float:
        return self.sigma_x.value * SIGMA2FWHM

    @fwhm_x.setter
    def fwhm_x(self, value: float) -> None:
        self.sigma_x.value = value / SIGMA2FWHM

    @property
    def fwhm_y(self) -> float:
        return self.sigma_y.value * SIGMA2FWHM

    @fwhm_y.setter
    def fwhm_y(self, value: float) -> None:
        self.sigma_y.value = value / SIGMA2FWHM

    @property
    def height(self) -> float:
        return self.A.value / (TWO_PI * self.sigma_x.value * self.sigma_y.value)

    @height.setter
    def height(self, value: float) -> None:
        self.A.value = value * TWO_PI * self.sigma_x.value * self.sigma_y.value

    @property
    def sigma_major(self) -> float:
        return max(self.sigma_x.value, self.sigma_y.value)

    @property
    def sigma_minor(self) -> float:
        return min(self.sigma_x.value, self.sigma_y.value)

    @property
    def ellipticity(self) -> float:
        return self.sigma_major / self.sigma_minor

    @property
    def rotation_angle_wrapped(self) -> float:
        return math.fmod(self._angle, TWO_PI)

    @property
    def rotation_major_axis(self) -> float:
        wrapped = self.rotation_angle_wrapped
        return wrapped if self.sigma_x.value >= self.sigma_y.value else wrapped - math.pi / 2


# -------------------------------------------------------------- Lorentzian2D
class Lorentzian2D(_Centred2D):
    r"""Normalised elliptical 2-D Lorentzian (bivariate Cauchy profile).

    .. math::

        f(x, y) = \frac{A}{2\pi\gamma_x\gamma_y}
        \left[1 + \frac{u^2}{\gamma_x^2} + \frac{v^2}{\gamma_y^2}\right]^{-3/2}

    with :math:`u, v` as for :class:`Gaussian2D`. This is the elliptical
    Cauchy distribution (a Student-t with one degree of freedom, a Moffat
    profile with :math:`\beta = 3/2`): it integrates to :math:`A` over the
    plane, and its projection onto the ``x`` axis (integral over ``y``) of the
    unrotated profile is the 1-D Lorentzian
    :math:`(A/\pi)\,\gamma_x / ((x - x_0)^2 + \gamma_x^2)` -- so
    :math:`\gamma_x, \gamma_y` are the half widths at half maximum of the
    projections. The profile itself falls to half its maximum at
    :math:`u = \gamma_x\sqrt{2^{2/3} - 1} \approx 0.766\,\gamma_x`.

    Parameters
    ----------
    A : float
        Volume (linear); bounded below by 0.
    gamma_x, gamma_y : float
        Scale widths along the component's own axes; bounded below by 0.
    centre_x, centre_y : float
        Position of the maximum.
    add_rotation : bool
        Add a last parameter ``rotation_angle`` (radians, default 0), as for
        :class:`Gaussian2D`.

    Attributes
    ----------
    height : float
        Peak value :math:`A / (2\pi\gamma_x\gamma_y)` (get and set, through A).
    fwhm_x, fwhm_y : float
        Full widths at half maximum of the 2-D profile along its own axes,
        :math:`2\gamma\sqrt{2^{2/3} - 1}` (get and set).

    Examples
    --------
    >>> lo = Lorentzian2D(A=2 * np.pi, gamma_x=1.0, gamma_y=1.0)
    >>> float(lo.function(0.0, 0.0))
    1.0
    >>> round(float(lo.function(np.sqrt(3.0), 0.0)), 6)   # (1 + 3) ** -1.5
    0.125
    """

    parameters = ("A", "gamma_x", "gamma_y", "centre_x", "centre_y")
    compiled_kind = "lorentzian2d"
    linear = ("A",)

    def __init__(self, A=1.0, gamma_x=1.0, gamma_y=1.0, centre_x=0.0, centre_y=0.0,
                 add_rotation=False, **kwargs):
        self._setup(
            dict(A=A, gamma_x=gamma_x, gamma_y=gamma_y, centre_x=centre_x, centre_y=centre_y),
            add_rotation, kwargs,
        )
        self.A.bmin = 0.0
        self.gamma_x.bmin = 0.0
        self.gamma_y.bmin = 0.0

    @staticmethod
    def function(x, y, A, gamma_x, gamma_y, centre_x, centre_y, rotation_angle=None):
        u, v, _, _ = _frame(x, y, centre_x, centre_y, rotation_angle)
        p, q = u / gamma_x, v / gamma_y
        Q = 1.0 + p * p + q * q
        return A / (TWO_PI * gamma_x * gamma_y * Q * namespace(Q, A).sqrt(Q))

    @staticmethod
    def gradients(x, y, A, gamma_x, gamma_y, centre_x, centre_y, rotation_angle=None):
        u, v, c, s = _frame(x, y, centre_x, centre_y, rotation_angle)
        p, q = u / gamma_x, v / gamma_y
        Q = 1.0 + p * p + q * q
        g = 1.0 / (TWO_PI * gamma_x * gamma_y * Q * namespace(Q, A).sqrt(Q))
        f = A * g
        k = 3.0 * f / Q  # -df/du = k u / gamma_x^2
        fu, fv = -k * p / gamma_x, -k * q / gamma_y
        return (
            g,
            (k * p * p - f) / gamma_x,
            (k * q * q - f) / gamma_y,
            *_position_gradients(fu, fv, u, v, c, s),
        )

    @property
    def height(self) -> float:
        return self.A.value / (TWO_PI * self.gamma_x.value * self.gamma_y.value)

    @height.setter
    def height(self, value: float) -> None:
        self.A.value = value * TWO_PI * self.gamma_x.value * self.gamma_y.value

    @property
    def fwhm_x(self) -> float:
        return 2.0 * _CAUCHY_HWHM * self.gamma_x.value

    @fwhm_x.setter
    def fwhm_x(self, value: float) -> None:
        self.gamma_x.value = value / (2.0 * _CAUCHY_HWHM)

    @property
    def fwhm_y(self) -> float:
        return 2.0 * _CAUCHY_HWHM * self.gamma_y.value

    @fwhm_y.setter
    def fwhm_y(self, value: float) -> None:
        self.gamma_y.value = value / (2.0 * _CAUCHY_HWHM)
