"""Background-like 1-D components: Offset, Polynomial, PowerLaw, Exponential,
RC, Bleasdale and SEE, plus the helpers every ``estimate_parameters`` uses.

Every component here is *pure*: ``function`` and ``gradients`` are static,
vectorised over a batch of parameter values shaped ``(B, 1)`` against an axis
``x`` shaped ``(N,)`` (see :mod:`swiftfit.component`).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._xp import namespace
from ..component import Component
from ..errors import InvalidInputError, InvalidTypeError
from ..preferences import preferences
from ._two_area_range import check_two_area_range, interval_pairs

__all__ = ["Offset", "Polynomial", "PowerLaw", "Exponential", "RC", "Bleasdale", "SEE"]

# Keywords HyperSpy's components accept that mean nothing here (they choose a
# numerical backend); accepted so that HyperSpy code runs unchanged.
_IGNORED_KWARGS = ("module", "compute_gradients")


def _drop_backend_kwargs(kwargs: dict) -> dict:
    for key in _IGNORED_KWARGS:
        kwargs.pop(key, None)
    return kwargs


# --------------------------------------------------------------- estimation
def _interval_mask(X_full, x1, x2, intervals, axis=None):
    """Channels inside ``[x1, x2]`` or inside any of ``intervals`` (HyperSpy's
    ``(x1, x2)`` tuples or SpanROIs; a bare ``(x1, x2)`` pair is one interval).
    With ``swiftfit.preferences.conventions = "hyperspy"``, ``x1, x2`` too
    follow the index convention below (the channel at ``x2`` left out).

    ``intervals`` follow HyperSpy's index convention: channels
    ``value2index(x1) <= i < value2index(x2)``.
    """
    if intervals is None:
        if x1 is not None and x2 is None:
            raise InvalidInputError(f"x2 must be provided when using x1 (got x1={x1!r}, x2=None), or give `intervals`")
        lo = X_full.min() if x1 is None else float(x1)
        hi = X_full.max() if x2 is None else float(x2)
        pairs = [(lo, hi)]
    else:
        pairs = interval_pairs(intervals)
        if not pairs:
            raise InvalidInputError("`intervals` is empty: need at least one array to concatenate; "
                                    "give at least one (x1, x2) interval")
    mask = np.zeros(X_full.shape, bool)
    # HyperSpy's conventions (swiftfit.preferences): [x1, x2) by index, as isig[x1:x2]
    half_open = intervals is not None or (preferences.hyperspy and x2 is not None)
    for lo, hi in pairs:
        lo, hi = min(lo, hi), max(lo, hi)
        if half_open and axis is not None:
            i1, i2 = sorted(_clipped_index(axis, X_full, v) for v in (lo, hi))
            mask[i1:i2] = True
        else:
            mask |= (X_full >= lo) & (X_full <= hi)
    return mask


def _clipped_index(axis, X_full, value) -> int:
    """``axis.value2index(value)``, or the axis end beyond it (0 or the size), as
    ``isig`` slices with values past the axis.
    """
    sign = 1.0 if X_full[-1] >= X_full[0] else -1.0
    if (value - X_full[-1]) * sign > 0:
        return X_full.size
    if (value - X_full[0]) * sign < 0:
        return 0
    return int(axis.value2index(value))


def _estimation_data(signal, x1, x2, only_current, intervals=None, out=False):
    """Slice ``signal`` to ``x1 <= x <= x2``.

    Returns ``(X, Y, nav_shape)``: the axis values ``(n,)``, the data as
    ``(P, n)`` (one row per navigation pixel, a single row for
    ``only_current``) and the navigation shape in array order (``()`` for
    ``only_current``). Binned data are divided by the bin width, so that ``Y``
    is a density whatever the binning (HyperSpy's convention: a binned model
    multiplies by the bin width).
    """
    if out:
        from ..errors import NotSupportedError

        raise NotSupportedError("estimate_parameters(out=True) (estimates returned, not stored) is "
                                "supported by PowerLaw only, as in HyperSpy: call it with out=False and "
                                "read the parameter maps")
    am = signal.axes_manager
    axis = am.signal_axes[0]
    X_full = np.asarray(axis.axis, dtype=float)
    data = np.asarray(signal.data, dtype=float)
    if only_current:
        data = data[tuple(am._array_indices)]
        nav_shape: tuple = ()
    else:
        nav_shape = tuple(data.shape[:-1])
    mask = _interval_mask(X_full, x1, x2, intervals, axis)
    if mask.sum() < 2:
        raise InvalidInputError(
            f"the estimation range (x1={x1!r}, x2={x2!r}, intervals={intervals!r}) holds fewer than 2 "
            "points of the signal axis"
        )
    idx = np.flatnonzero(mask)
    X = X_full[mask]
    # one copy of the window (a slice where it is contiguous and sorted: a spectrum image's
    # window is hundreds of MB, each extra copy a measurable part of a model's creation)
    ordered = idx[-1] - idx[0] + 1 == idx.size and bool(np.all(np.diff(X) >= 0))
    Y = data.reshape(-1, data.shape[-1])
    Y = Y[:, idx[0]:idx[-1] + 1] if ordered else Y[:, mask]
    if getattr(axis, "is_binned", False):
        if getattr(axis, "is_uniform", True):
            Y = Y / float(axis.scale)
        else:
            Y = Y / np.gradient(X_full)[mask]
    elif ordered:
        Y = Y.copy()
    if ordered:
        return X, Y, nav_shape
    order = np.argsort(X, kind="stable")
    return X[order], Y[:, order], nav_shape


def _store_estimates(component, only_current, nav_shape, estimates) -> bool:
    """Write ``{name: (P,) array}`` into the parameters.

    ``only_current``: set ``.value`` (False when the estimate is not finite).
    Otherwise write ``map['values']`` and ``map['is_set']`` for every pixel
    whose estimates are all finite (maps are resized to ``nav_shape`` when
    their shape differs); True when at least one pixel succeeded.
    """
    arrays = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in estimates.items()}
    with np.errstate(invalid="ignore"):
        valid = np.logical_and.reduce([np.isfinite(v) for v in arrays.values()])
    params = [(getattr(component, name), v) for name, v in arrays.items()]
    params = [(p, v) for p, v in params if p.expr is None]
    if only_current:
        if not valid[0]:
            return False
        for p, v in params:
            p.value = float(v[0])
        return True
    if not valid.any():
        return False
    ok = valid.reshape(nav_shape)
    for p, v in params:
        if p._map.shape != tuple(nav_shape):
            p._create_array(nav_shape)
        p._map["values"][ok] = v.reshape(nav_shape)[ok]
        p._map["is_set"][ok] = True
    return True


def _trapezoid(Y, X):
    return np.trapezoid(Y, X, axis=-1) if hasattr(np, "trapezoid") else np.trapz(Y, X, axis=-1)


# ------------------------------------------------------------------ Offset
class Offset(Component):
    r"""A constant.

    .. math:: f(x) = k

    Parameters
    ----------
    offset : float
        The constant :math:`k` (linear).

    Examples
    --------
    >>> o = Offset(offset=2.5)
    >>> o.function(np.array([0.0, 1.0])).tolist()
    [2.5, 2.5]
    """

    parameters = ("offset",)
    compiled_kind = "offset"
    linear = ("offset",)

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(offset=offset, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def function(x, offset):
        return offset * namespace(x, offset).ones_like(x, dtype=float)

    @property
    def _constant_term(self) -> float:
        """``offset`` when it is fixed, else 0 (HyperSpy's ``_constant_term``)."""
        return 0.0 if self.offset.free else self.offset.value

    @staticmethod
    def gradients(x, offset):
        return (namespace(x, offset).ones_like(x, dtype=float),)

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Set ``offset`` to the mean of the data between ``x1`` and ``x2``."""
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        return _store_estimates(self, only_current, nav, {"offset": Y.mean(axis=1)})


# -------------------------------------------------------------- Polynomial
# beyond this a power basis is numerically meaningless, and a file or spec
# asking for order 10**7 would build ten million parameters
MAX_POLYNOMIAL_ORDER = 100
class Polynomial(Component):
    r"""Polynomial of a given order (HyperSpy 2.x parametrisation).

    .. math:: f(x) = \sum_{i=0}^{n} a_i x^i

    Parameters
    ----------
    order : int
        Degree :math:`n` (>= 0). The component has the ``order + 1``
        parameters ``a0`` (the constant term) ... ``a{order}``, all linear.
    **kwargs
        Initial values, e.g. ``a0=1.0, a2=-0.5``.

    Examples
    --------
    >>> p = Polynomial(order=2, a0=1.0, a1=0.0, a2=2.0)
    >>> [q.name for q in p.parameters]
    ['a0', 'a1', 'a2']
    >>> float(p.function(3.0))
    19.0
    """

    compiled_kind = "polynomial"

    def __init__(self, order=2, **kwargs):
        if isinstance(order, (bool, np.bool_)) or not isinstance(order, (int, np.integer)):
            raise InvalidTypeError(f"Polynomial `order` must be an integer, got {order!r}")
        if order < 0:
            raise InvalidInputError(f"Polynomial `order` must be >= 0, got {order}")
        if order > MAX_POLYNOMIAL_ORDER:
            raise InvalidInputError(f"Polynomial `order` must be between 0 and {MAX_POLYNOMIAL_ORDER} "
                                    f"(one parameter per power), got {order}")
        self._order = int(order)
        names = tuple(f"a{i}" for i in range(self._order + 1))
        super().__init__(names, names, **_drop_backend_kwargs(kwargs))

    @property
    def order(self) -> int:
        """Degree of the polynomial."""
        return self._order

    @property
    def _constant_term(self) -> float:
        """``a0`` when it is fixed, else 0 (HyperSpy's ``_constant_term``)."""
        return 0.0 if self.a0._free else self.a0.value

    @staticmethod
    def function(x, *coefficients):
        """Horner evaluation; ``coefficients[i]`` multiplies ``x**i``."""
        result = coefficients[-1] * namespace(x, *coefficients).ones_like(x, dtype=float)
        for c in coefficients[-2::-1]:
            result = result * x + c
        return result

    @staticmethod
    def gradients(x, *coefficients):
        xp = namespace(x, *coefficients)
        x = xp.asarray(x, dtype=float)
        return tuple(x**i for i in range(len(coefficients)))

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Least-squares polynomial fit of the data between ``x1`` and ``x2``
        (every pixel at once).
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        if X.size <= self._order:
            return False
        coeffs = np.polynomial.polynomial.polyfit(X, Y.T, self._order)  # (order+1, P)
        coeffs = coeffs.reshape(self._order + 1, -1)
        return _store_estimates(
            self, only_current, nav, {f"a{i}": coeffs[i] for i in range(self._order + 1)}
        )


# ---------------------------------------------------------------- PowerLaw
def _solve_two_area(ratio, a, b, lo=-40.0, hi=40.0, iterations=80):
    """Solve ``-expm1(-k a) / expm1(k b) == ratio`` for ``k`` by bisection.

    The left side decreases monotonically from +inf (k -> -inf) to 0
    (k -> +inf); pixels whose root lies outside ``[lo, hi]`` get NaN.
    """
    lo_arr = np.full(ratio.shape, lo)
    hi_arr = np.full(ratio.shape, hi + 0.0123)  # keeps the midpoints off k == 0
    for _ in range(iterations):
        mid = 0.5 * (lo_arr + hi_arr)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            g = -np.expm1(-mid * a) / np.expm1(mid * b)
        above = g > ratio
        lo_arr = np.where(above, mid, lo_arr)
        hi_arr = np.where(above, hi_arr, mid)
    k = 0.5 * (lo_arr + hi_arr)
    return np.where((k > lo + 1e-6) & (k < hi - 1e-6), k, np.nan)


class PowerLaw(Component):
    r"""Power law with a left cut-off.

    .. math::

        f(x) = \begin{cases} A\,(x - x_0)^{-r} & x > x_c \\ 0 & x \le x_c \end{cases}

    Parameters
    ----------
    A : float
        Height parameter (linear). Bounded below by 0.
    r : float
        Exponent, bounded to ``[1, 5]`` (HyperSpy's default bounds).
    origin : float
        :math:`x_0`; not free by default.
    left_cutoff : float
        :math:`x_c`; not free by default. Its derivative is a delta function,
        so ``gradients`` returns None for it (finite differences).

    Notes
    -----
    Where ``x <= origin`` (and ``x > left_cutoff``) the power is undefined and
    the component returns 0 there rather than NaN.

    Examples
    --------
    >>> p = PowerLaw(A=1e3, r=2.0)
    >>> p.function(np.array([-1.0, 10.0])).tolist()
    [0.0, 10.0]
    """

    parameters = ("A", "r", "origin", "left_cutoff")
    compiled_kind = "powerlaw"
    linear = ("A",)
    _position = "origin"

    def __init__(self, A=10e5, r=3.0, origin=0.0, left_cutoff=0.0, **kwargs):
        super().__init__(
            A=A, r=r, origin=origin, left_cutoff=left_cutoff, **_drop_backend_kwargs(kwargs)
        )
        self.origin.free = False
        self.left_cutoff.free = False
        self.A.bmin = 0.0
        self.r.bmin = 1.0
        self.r.bmax = 5.0


    @staticmethod
    def _base(x, left_cutoff, origin, r):
        xp = namespace(x, left_cutoff, origin, r)
        d = x - origin
        mask = (x > left_cutoff) & (d > 0)
        safe = xp.where(mask, d, 1.0)
        with np.errstate(over="ignore"):
            g = xp.where(mask, safe ** (-r), 0.0)
        return mask, safe, g

    @staticmethod
    def function(x, A, r, origin, left_cutoff):
        _, _, g = PowerLaw._base(x, left_cutoff, origin, r)
        return A * g

    @staticmethod
    def gradients(x, A, r, origin, left_cutoff):
        mask, safe, g = PowerLaw._base(x, left_cutoff, origin, r)
        return (g, -A * g * namespace(safe, A).log(safe), A * r * g / safe, None)

    @staticmethod
    def _log_base(x, origin, left_cutoff):
        """``(mask, L)``: the power law is ``A · exp(−r L)`` where ``mask``, 0 elsewhere.

        For solvers that keep ``L`` while ``r`` moves (variable projection,
        :mod:`swiftfit.optimizers.varpro`): one exponential per point and step.
        """
        d = x - origin
        mask = (x > left_cutoff) & (d > 0)
        return mask, np.log(np.where(mask, d, 1.0))

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        r"""Estimate ``A`` and ``r`` by the two-area method.

        The points of ``[x1, x2]`` with ``x > origin`` and ``x > left_cutoff``
        are split at the middle point :math:`x_m`; :math:`I_1` and :math:`I_2`
        are the trapezoid integrals of the data over :math:`[x_1, x_m]` and
        :math:`[x_m, x_2]`. With :math:`u = x - x_0`, :math:`k = 1 - r`,
        :math:`a = \ln(u_m/u_1)` and :math:`b = \ln(u_2/u_m)`, a power law
        satisfies exactly

        .. math:: I_1 / I_2 = -\mathrm{expm1}(-k a) / \mathrm{expm1}(k b),

        whose right side is monotonic in :math:`k`; it is solved by bisection
        for every pixel at once. Then
        :math:`A = k (I_1 + I_2) / (u_1^k\,\mathrm{expm1}(k (a + b)))`. (HyperSpy
        uses a closed-form approximation of the same two-area idea.) Pixels
        where the integrals are not positive are left unset.

        With ``out=True`` (HyperSpy's) nothing is written: the estimates are
        returned as ``(A, r)``, arrays of the navigation shape (NaN where the
        integrals are not positive).
        """
        x1, x2, intervals = check_two_area_range(signal.axes_manager.signal_axes[0], x1, x2, intervals)
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals)
        origin = self.origin.value
        keep = (X > origin) & (X > self.left_cutoff.value)
        first = int(np.argmax(keep))
        if keep[first:].all():  # (sorted X: a slice, no copy)
            X, Y = X[first:], Y[:, first:]
        else:
            X, Y = X[keep], Y[:, keep]
        if X.size < 3:
            return False
        U = X - origin
        m = X.size // 2
        I1 = _trapezoid(Y[:, : m + 1], U[: m + 1])
        I2 = _trapezoid(Y[:, m:], U[m:])
        a = np.log(U[m] / U[0])
        b = np.log(U[-1] / U[m])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = I1 / I2
        ok = (I1 > 0) & (I2 > 0) & np.isfinite(ratio)
        k = _solve_two_area(np.where(ok, ratio, 1.0), a, b)
        k = np.where(ok, k, np.nan)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            small = np.abs(k) < 1e-12
            denom = np.where(small, a + b, np.expm1(k * (a + b)) / np.where(small, 1.0, k))
            A = (I1 + I2) / (np.exp(k * np.log(U[0])) * denom)
        if out:
            return A.reshape(nav), (1.0 - k).reshape(nav)
        return _store_estimates(self, only_current, nav, {"A": A, "r": 1.0 - k})


# ------------------------------------------------------------- Exponential
class Exponential(Component):
    r"""Exponential decay.

    .. math:: f(x) = A\,e^{-x/\tau}

    Parameters
    ----------
    A : float
        Value at ``x = 0`` (linear).
    tau : float
        Decay length.

    Examples
    --------
    >>> e = Exponential(A=2.0, tau=1.0)
    >>> round(float(e.function(0.0)), 12)
    2.0
    """

    parameters = ("A", "tau")
    compiled_kind = "exponential"
    linear = ("A",)

    def __init__(self, A=1.0, tau=1.0, **kwargs):
        super().__init__(A=A, tau=tau, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def function(x, A, tau):
        return A * namespace(x, A, tau).exp(-x / tau)

    @staticmethod
    def gradients(x, A, tau):
        e = namespace(x, A, tau).exp(-x / tau)
        return (e, A * e * x / tau**2)

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None) -> bool:
        """Straight-line least squares of ``log(data)`` against ``x`` (pixels
        holding a non-positive value in the range are left unset).
        """
        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        positive = np.all(Y > 0, axis=1)
        L = np.log(np.where(Y > 0, Y, 1.0))
        xc = X - X.mean()
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (L * xc).sum(axis=1) / (xc**2).sum()
            intercept = L.mean(axis=1) - slope * X.mean()
            tau = np.where(positive & (slope != 0), -1.0 / slope, np.nan)
            A = np.where(positive, np.exp(intercept), np.nan)
        return _store_estimates(self, only_current, nav, {"A": A, "tau": tau})


# ---------------------------------------------------------------------- RC
class RC(Component):
    r"""Voltage of a charging RC circuit.

    .. math:: f(x) = V_0 + V_\mathrm{max}\left(1 - e^{-x/\tau}\right)

    Parameters
    ----------
    Vmax : float
        Asymptotic rise (linear).
    V0 : float
        Vertical offset (linear).
    tau : float
        Time constant.

    Examples
    --------
    >>> rc = RC(Vmax=2.0, V0=1.0, tau=1.0)
    >>> float(rc.function(0.0))
    1.0
    """

    parameters = ("Vmax", "V0", "tau")
    compiled_expression = "V0 - Vmax * (exp(-x / tau) - 1)"
    linear = ("Vmax", "V0")

    def __init__(self, Vmax=1.0, V0=0.0, tau=1.0, **kwargs):
        super().__init__(Vmax=Vmax, V0=V0, tau=tau, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def function(x, Vmax, V0, tau):
        return V0 - Vmax * namespace(x, Vmax, V0, tau).expm1(-x / tau)

    @staticmethod
    def gradients(x, Vmax, V0, tau):
        xp = namespace(x, Vmax, V0, tau)
        return (
            -xp.expm1(-x / tau),
            xp.ones_like(x, dtype=float),
            -Vmax * x * xp.exp(-x / tau) / tau**2,
        )


# --------------------------------------------------------------- Bleasdale
class Bleasdale(Component):
    r"""Bleasdale (Bleasdale–Nelder) function.

    .. math::

        f(x) = \begin{cases} (a + b x)^{-1/c} & a + b x > 0 \\ 0 & a + b x \le 0 \end{cases}

    Parameters
    ----------
    a, b, c : float
        Shape parameters. None is linear (HyperSpy 2.x flags ``b`` as linear,
        but :math:`\partial^2 f/\partial b^2 \ne 0` unless :math:`c = -1`).

    Notes
    -----
    Where :math:`a + b x \le 0` the power is undefined; the component returns 0
    there (as HyperSpy does) rather than NaN, and so do its gradients.

    Examples
    --------
    >>> bl = Bleasdale(a=1.0, b=1.0, c=1.0)
    >>> bl.function(np.array([-2.0, 1.0])).tolist()
    [0.0, 0.5]
    """

    parameters = ("a", "b", "c")
    compiled_expression = "H * safe ** (-1 / c) ; safe = H * (a + b * x) + 1 - H ; H = Heaviside(a + b * x, 0)"
    linear = ()

    def __init__(self, a=1.0, b=1.0, c=1.0, **kwargs):
        super().__init__(a=a, b=b, c=c, **_drop_backend_kwargs(kwargs))

    @staticmethod
    def _parts(x, a, b, c):
        xp = namespace(x, a, b, c)
        P = a + b * x
        mask = P > 0
        safe = xp.where(mask, P, 1.0)
        with np.errstate(over="ignore"):
            f = xp.where(mask, safe ** (-1.0 / c), 0.0)
        return mask, safe, f

    @staticmethod
    def function(x, a, b, c):
        return Bleasdale._parts(x, a, b, c)[2]

    @staticmethod
    def gradients(x, a, b, c):
        mask, safe, f = Bleasdale._parts(x, a, b, c)
        da = -f / (c * safe)
        return (da, da * x, f * namespace(safe, c).log(safe) / c**2)


# --------------------------------------------------------------------- SEE
class SEE(Component):
    r"""Secondary electron emission (photoemission spectroscopy).

    .. math::

        f(x) = \begin{cases} A\,\dfrac{x - \Phi}{(x - \Phi + B)^4} & x > \Phi \\
        0 & x \le \Phi \end{cases}

    Parameters
    ----------
    A : float
        Height parameter (linear), bounded below by 0.
    Phi : float
        Position (work function).
    B : float
        Tail parameter.

    Notes
    -----
    HyperSpy >= 1.6 dropped the former resolution parameter ``sigma`` (a convolution
    with a Gaussian that was broken); a non-zero ``sigma`` keyword is accepted
    and ignored with a warning, as HyperSpy does.

    Examples
    --------
    >>> s = SEE(A=1.0, Phi=1.0, B=0.0)
    >>> s.function(np.array([0.5, 2.0])).tolist()
    [0.0, 1.0]
    """

    parameters = ("A", "Phi", "B")
    compiled_expression = "A * d * H / (H * (d + B) + 1 - H) ** 4 ; d = x - Phi ; H = Heaviside(x - Phi, 0)"
    linear = ("A",)
    _position = "Phi"

    def __init__(self, A=1.0, Phi=1.0, B=0.0, **kwargs):
        sigma = kwargs.pop("sigma", None)
        if sigma:
            warnings.warn(
                "SEE: the `sigma` parameter was removed (as in HyperSpy >= 1.6); it is ignored",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(A=A, Phi=Phi, B=B, **_drop_backend_kwargs(kwargs))
        self.A.bmin = 0.0

    @staticmethod
    def _parts(x, B, Phi):
        xp = namespace(x, B, Phi)
        d = x - Phi
        mask = d > 0
        den = xp.where(mask, d + B, 1.0)
        with np.errstate(divide="ignore", over="ignore"):
            inv4 = xp.where(mask, 1.0 / den**4, 0.0)
        return mask, xp.where(mask, d, 0.0), den, inv4

    @staticmethod
    def function(x, A, Phi, B):
        _, d, _, inv4 = SEE._parts(x, B, Phi)
        return A * d * inv4

    @staticmethod
    def gradients(x, A, Phi, B):
        mask, d, den, inv4 = SEE._parts(x, B, Phi)
        inv5 = inv4 / den
        return (d * inv4, A * (4.0 * d * inv5 - inv4), -4.0 * A * d * inv5)
