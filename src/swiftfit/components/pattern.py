"""ScalableFixedPattern: a measured (or computed) spectrum, scaled and shifted."""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.interpolate import make_interp_spline

from .._xp import namespace
from ..component import Component
from ..errors import InvalidInputError, InvalidTypeError

__all__ = ["ScalableFixedPattern"]


MAX_PATTERN_POINTS = 10_000_000


def _pattern_arrays(pattern):
    """Axis values, data and bin width (None when not binned) of a pattern:
    a Signal1D-like object or an ``(x, y)`` pair of arrays.
    """
    width = None
    if isinstance(pattern, (tuple, list)) and len(pattern) == 2:
        x, y = pattern
    elif hasattr(pattern, "axes_manager") and hasattr(pattern, "data"):
        axis = pattern.axes_manager.signal_axes[0]
        x, y = axis.axis, pattern.data
        if getattr(axis, "is_binned", False):
            width = float(axis.scale) if getattr(axis, "is_uniform", True) else np.gradient(np.asarray(axis.axis, float))
    else:
        raise InvalidTypeError(
            "ScalableFixedPattern needs a Signal1D or an (x, y) pair of arrays, "
            f"got {type(pattern).__name__}"
        )
    for name, values in (("axis", x), ("data", y)):
        n = int(np.size(values)) if hasattr(values, "shape") else len(values) if hasattr(values, "__len__") else 1
        if n > MAX_PATTERN_POINTS:
            raise InvalidInputError(f"the pattern's {name} has {n} points; at most {MAX_PATTERN_POINTS} "
                                    "are allowed")
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).squeeze()
    if y.ndim != 1 or y.shape != x.shape:
        raise InvalidInputError(
            f"the pattern must be one spectrum matching its axis: axis has {x.size} points, "
            f"data has shape {np.shape(y)} (a pattern signal must have no navigation dimensions)"
        )
    if x.size < 2:
        raise InvalidInputError("the pattern must hold at least 2 points")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidInputError("the pattern's axis and data must be finite")
    if width is not None:
        y = y / width
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise InvalidInputError("the pattern's axis values must be distinct")
    return x, y


class ScalableFixedPattern(Component):
    r"""A fixed pattern, scaled in intensity and position.

    .. math:: f(x) = a\, s(b\,x - x_0)

    where :math:`s` interpolates the pattern with a cubic spline
    (:func:`scipy.interpolate.make_interp_spline`), and is 0 outside the
    pattern's axis range. The spline's derivative gives analytic gradients
    for ``xscale`` and ``shift``.

    Parameters
    ----------
    signal1D : Signal1D or (x, y) tuple
        The pattern: a signal without navigation dimensions (its signal axis
        and data are used; binned data are divided by the bin width, as
        HyperSpy does) or a pair of arrays.
    yscale : float
        :math:`a` (linear).
    xscale : float
        :math:`b`.
    shift : float
        :math:`x_0`.
    interpolate : bool
        When False the pattern is used as it is, ``f = yscale * data`` (the
        model's axis must then be the pattern's), and ``xscale``/``shift`` are
        fixed. Setting ``interpolate`` sets ``xscale.free`` and
        ``shift.free`` to the same value, as in HyperSpy (so they are free by
        default).

    Examples
    --------
    >>> x = np.linspace(-5, 5, 101)
    >>> sfp = ScalableFixedPattern((x, np.exp(-x**2)), yscale=2.0)
    >>> round(float(sfp.function(0.0)), 12)
    2.0
    """

    parameters = ("yscale", "xscale", "shift")
    linear = ("yscale",)
    _position = "shift"
    compiled_kind = "spline"  # tables from compiled_tables()

    def __init__(self, signal1D, yscale=1.0, xscale=1.0, shift=0.0, interpolate=True, **kwargs):
        super().__init__(
            ("yscale", "xscale", "shift"), ("yscale",), yscale=yscale, xscale=xscale, shift=shift, **kwargs
        )
        self.signal = signal1D
        self._x, self._y = _pattern_arrays(signal1D)
        self.prepare_interpolator()
        self.interpolate = interpolate
        self.yscale.grad = lambda x: self._gradients_at(x)[0]
        self.xscale.grad = lambda x: self._gradients_at(x)[1]
        self.shift.grad = lambda x: self._gradients_at(x)[2]

    @property
    def interpolate(self) -> bool:
        """Interpolate the pattern (True) or use its data as they are (False)."""
        return self._interpolate

    @interpolate.setter
    def interpolate(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidTypeError(f"`interpolate` must be True or False, got {value!r}")
        self._interpolate = bool(value)
        self.xscale.free = bool(value)
        self.shift.free = bool(value)

    def compiled_tables(self) -> dict:
        """What the compiled kernel's ``"spline"`` kind evaluates
        (:mod:`swiftfit.engines.numba.spline`): the pattern as it is
        (``interpolate=False``), or the spline's and its derivative's knots,
        coefficients and degrees and the pattern's axis range.

        Examples
        --------
        >>> x = np.linspace(-5, 5, 11)
        >>> sfp = ScalableFixedPattern((x, np.exp(-x**2)))
        >>> t = sfp.compiled_tables()
        >>> t["degree"], t["range"]
        (3, (-5.0, 5.0))
        """
        if not self._interpolate:
            return {"interpolate": False, "values": np.asarray(self._y, dtype=float)}
        return {"interpolate": True, "knots": np.asarray(self.f.t, dtype=float),
                "coefficients": np.asarray(self.f.c, dtype=float), "degree": int(self.f.k),
                "d_knots": np.asarray(self._df.t, dtype=float), "d_coefficients": np.asarray(self._df.c, dtype=float),
                "d_degree": int(self._df.k), "range": (float(self._x[0]), float(self._x[-1]))}

    def prepare_interpolator(self, **kwargs) -> None:
        """(Re)build the interpolating spline; ``kwargs`` go to
        :func:`scipy.interpolate.make_interp_spline` (default: cubic, ``k=3``,
        lowered when the pattern has fewer than 4 points).
        """
        kwargs.setdefault("k", min(3, self._x.size - 1))
        self.f = make_interp_spline(self._x, self._y, **kwargs)
        self._df = self.f.derivative()

    # ------------------------------------------------------------ evaluation
    def _spline(self, spline, u):
        xp = namespace(u)
        inside = (u >= self._x[0]) & (u <= self._x[-1])
        return xp.where(inside, xp.bspline(spline, xp.clip(u, self._x[0], self._x[-1])), 0.0)

    def _raw(self, x):
        x = namespace(x).asarray(x, dtype=float)
        if x.shape[-1:] != self._y.shape:
            raise InvalidInputError(
                f"with interpolate=False the axis must have the pattern's {self._y.size} points, "
                f"got {x.shape[-1:]}"
            )
        return self._y

    def _evaluate(self, x, yscale, xscale, shift):
        if not self._interpolate:
            return yscale * self._raw(x)
        return yscale * self._spline(self.f, xscale * namespace(x).asarray(x, dtype=float) - shift)

    def _gradients(self, x, yscale, xscale, shift):
        xp = namespace(x, yscale, xscale, shift)
        x = xp.asarray(x, dtype=float)
        if not self._interpolate:
            data = self._raw(x)
            zero = xp.zeros_like(data)
            return [data, zero, zero]
        u = xscale * x - shift
        s = self._spline(self.f, u)
        ds = yscale * self._spline(self._df, u)
        return [s, ds * x, -ds]

    def estimate_parameters(self, signal, x1=None, x2=None, only_current=False, out=False, intervals=None,
                            yscale=False) -> bool:
        """Start at ``xscale = 1``, ``shift = 0``; ``yscale`` as HyperSpy's argument says.

        ``yscale=False``: 1; ``True``: the least-squares ratio of the data to
        the pattern between ``x1`` and ``x2`` (``Σ d·p / Σ p²``, exact for a
        scaled copy of the pattern); a number: that number.

        Examples
        --------
        >>> import numpy as np, swiftfit as hs
        >>> pattern = hs.signals.Signal1D(np.exp(-(np.arange(50.0) - 25) ** 2 / 20))
        >>> fp = ScalableFixedPattern(pattern)
        >>> fp.estimate_parameters(hs.signals.Signal1D(3 * pattern.data), yscale=True, only_current=True)
        True
        >>> round(fp.yscale.value, 12)
        3.0
        """
        from .background import _estimation_data, _store_estimates

        X, Y, nav = _estimation_data(signal, x1, x2, only_current, intervals, out)
        ones = np.ones(Y.shape[0])
        if yscale is True:
            p = self._evaluate(X, 1.0, 1.0, 0.0)
            norm = float(p @ p)
            if norm == 0:
                return False
            scale = Y @ p / norm
        elif yscale is False or yscale is None:
            scale = ones
        elif isinstance(yscale, (int, float, np.number)) and not isinstance(yscale, (bool, np.bool_)):
            scale = float(yscale) * ones
        else:
            raise InvalidTypeError(f"`yscale` must be True, False or a number, got {yscale!r}")
        return _store_estimates(self, only_current, nav, {"yscale": scale, "xscale": ones, "shift": 0 * ones})

    def function(self, x, yscale=None, xscale=None, shift=None):
        """Evaluate at ``x``; parameters not given take their current values."""
        yscale = self.yscale.value if yscale is None else yscale
        xscale = self.xscale.value if xscale is None else xscale
        shift = self.shift.value if shift is None else shift
        return self._evaluate(x, yscale, xscale, shift)

    def _gradients_at(self, x):
        return self._gradients(x, self.yscale.value, self.xscale.value, self.shift.value)

    def _array_key(self):
        """The structure of :meth:`_function_nd` (array-namespace code): the
        pattern itself (its spline) is part of it.
        """
        digest = hashlib.sha256()
        for a in (self._x, self._y, self.f.t, self.f.c):
            digest.update(np.ascontiguousarray(a, dtype=float).tobytes())
        return ("ScalableFixedPattern", self._interpolate, int(self.f.k), digest.hexdigest())

    def _array_function(self):
        return lambda coords, values: self._evaluate(coords[0], *values)

    def _function_nd(self, coords, values):
        xp = namespace(coords[0], *values)
        x = xp.asarray(coords[0], dtype=float)
        shape = (max(np.shape(v)[0] for v in values), x.shape[0])
        return xp.broadcast_to(self._evaluate(x, *values), shape)

    def _gradients_nd(self, coords, values):
        xp = namespace(coords[0], *values)
        x = xp.asarray(coords[0], dtype=float)
        shape = (max(np.shape(v)[0] for v in values), x.shape[0])
        return [xp.broadcast_to(g, shape) for g in self._gradients(x, *values)]
