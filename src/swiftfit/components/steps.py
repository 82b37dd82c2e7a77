"""Step-shaped 1-D components: Arctan, Erf, HeavisideStep and Logistic.

All are pure (static, batched ``function``/``gradients``). HeavisideStep's
step position ``n`` has no derivative (a delta function): its gradient is
None and the problem layer uses finite differences for it.
"""

from __future__ import annotations

import math

from .._xp import namespace
from ..component import Component
from .background import _drop_backend_kwargs

__all__ = ["Arctan", "Erf", "HeavisideStep", "Logistic"]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_SQRTPI = math.sqrt(math.pi)


class Arctan(Component):
    r"""Arctangent step.

    .. math:: f(x) = A \arctan\left[k (x - x_0)\right]

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
    >>> a = Arctan(A=1.0, k=1.0, x0=1.0)
    >>> float(a.function(1.0))
    0.0
    """

    parameters = ("A", "k", "x0")
    compiled_expression = "A * atan(k * (x - x0))"
    linear = ("A",)
    _position = "x0"

    def __init__(self, A=1.0, k=1.0, x0=1.0, **kwargs):
        super().__init__(A=A, k=k, x0=x0, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def function(x, A, k, x0):
        return A * namespace(x, A, k, x0).arctan(k * (x - x0))

    @staticmethod
    def gradients(x, A, k, x0):
        u = x - x0
        q = A / (1.0 + (k * u) ** 2)
        return (namespace(u, k).arctan(k * u), q * u, -q * k)


class Erf(Component):
    r"""Error-function step.

    .. math:: f(x) = \frac{A}{2}\,\mathrm{erf}\left[\frac{x - x_0}{\sqrt{2}\,\sigma}\right]

    Parameters
    ----------
    A : float
        Step height (linear): ``f`` goes from ``-A/2`` to ``A/2``.
    sigma : float
        Width (standard deviation of the Gaussian whose integral this is).
    origin : float
        Position :math:`x_0` of the step centre.

    Examples
    --------
    >>> e = Erf(A=2.0, sigma=1.0, origin=0.0)
    >>> float(e.function(0.0))
    0.0
    """

    parameters = ("A", "sigma", "origin")
    compiled_expression = "A / 2 * erf((x - origin) / (sqrt(2) * sigma))"
    linear = ("A",)
    _position = "origin"

    def __init__(self, A=1.0, sigma=1.0, origin=0.0, **kwargs):
        super().__init__(A=A, sigma=sigma, origin=origin, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def function(x, A, sigma, origin):
        return 0.5 * A * namespace(x, A, sigma, origin).erf((x - origin) / (_SQRT2 * sigma))

    @staticmethod
    def gradients(x, A, sigma, origin):
        xp = namespace(x, A, sigma, origin)
        u = (x - origin) / (_SQRT2 * sigma)
        e = xp.exp(-(u**2))
        return (
            0.5 * xp.erf(u),
            -A * u * e / (_SQRTPI * sigma),
            -A * e / (_SQRT2PI * sigma),
        )


class HeavisideStep(Component):
    r"""Heaviside step, with the half-maximum convention at the step.

    .. math::

        f(x) = \begin{cases} 0 & x < n \\ A/2 & x = n \\ A & x > n \end{cases}

    Parameters
    ----------
    A : float
        Step height (linear).
    n : float
        Step position. Its gradient is None (the derivative is a delta
        function); fitting it relies on finite differences.

    Examples
    --------
    >>> h = HeavisideStep(A=2.0, n=0.0)
    >>> h.function(np.array([-1.0, 0.0, 1.0])).tolist()
    [0.0, 1.0, 2.0]
    """

    parameters = ("A", "n")
    compiled_expression = "A * Heaviside(x - n, 1 / 2)"
    linear = ("A",)
    _position = "n"

    def __init__(self, A=1.0, n=0.0, **kwargs):
        super().__init__(A=A, n=n, **_drop_backend_kwargs(kwargs))


    @staticmethod
    def function(x, A, n):
        return A * namespace(x, A, n).heaviside(x - n, 0.5)

    @staticmethod
    def gradients(x, A, n):
        return (namespace(x, A, n).heaviside(x - n, 0.5), None)


class Logistic(Component):
    r"""Logistic (sigmoid) function.

    .. math:: f(x) = \frac{a}{1 + b\,e^{-c (x - x_0)}}

    Parameters
    ----------
    a : float
        Upper asymptote (linear).
    b : float
        Shift factor: ``b > 1`` moves the midpoint to larger x, ``0 < b < 1``
        to smaller x; ``b < 0`` introduces a pole.
    c : float
        Growth rate.
    origin : float
        Position :math:`x_0` of the midpoint (for ``b = 1``).

    Examples
    --------
    >>> lg = Logistic(a=2.0, b=1.0, c=1.0, origin=0.0)
    >>> float(lg.function(0.0))
    1.0
    """

    parameters = ("a", "b", "c", "origin")
    compiled_expression = "a / (1 + b * exp(Min(-c * (x - origin), 600)))"
    linear = ("a",)
    _position = "origin"

    def __init__(self, a=1.0, b=1.0, c=1.0, origin=0.0, **kwargs):
        super().__init__(a=a, b=b, c=c, origin=origin, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def _parts(x, b, c, origin):
        # The exponent is capped at 600 so that nothing overflows; where it
        # is capped the function is already 0 to double precision.
        xp = namespace(x, b, c, origin)
        u = x - origin
        E = xp.exp(xp.minimum(-c * u, 600.0))
        q = b * E
        inv = 1.0 / (1.0 + q)
        return u, E, q, inv

    @staticmethod
    def function(x, a, b, c, origin):
        return a * Logistic._parts(x, b, c, origin)[3]

    @staticmethod
    def gradients(x, a, b, c, origin):
        u, E, q, inv = Logistic._parts(x, b, c, origin)
        inv2 = inv * inv
        qinv2 = q * inv2
        return (inv, -a * E * inv2, a * u * qinv2, -a * c * qinv2)
