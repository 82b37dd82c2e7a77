"""Calibrated data axes (:class:`DataAxis`) and their construction from dicts.

Axes are stored in *array order* (one per data dimension).  Users index them
in *natural order*: navigation axes first, then signal axes, each group in
reversed array order (so ``x``, the fastest-varying array dimension, comes
first).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Callable, Sequence

import numpy as np

try:  # the shared error types (subclasses of ValueError / TypeError)
    from swiftfit.errors import InvalidInputError, InvalidTypeError
except ImportError:  # pragma: no cover - depends on the build stage
    InvalidInputError, InvalidTypeError = ValueError, TypeError

UNDEFINED = "<undefined>"

__all__ = ["DataAxis", "AxesManager", "UNDEFINED", "InvalidInputError", "InvalidTypeError"]


def _finite_real(name: str, value: Any) -> float:
    """Return ``value`` as a float, raising if it is not a finite real."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInputError(f"`{name}` must be finite, got {value!r}")
    return value


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InvalidTypeError(f"`{name}` must be an integer, got {value!r}")
    return int(value)


def _rounded(x: np.ndarray, rounding: Callable) -> np.ndarray:
    """Vectorised rounding of fractional indices (round is half-up)."""
    if rounding is round or rounding is np.round:
        return np.floor(x + 0.5)
    # absorb floating-point noise such as 2.9999999999999996 before floor/ceil
    x = np.round(x, 9)
    if rounding is math.floor or rounding is np.floor:
        return np.floor(x)
    if rounding is math.ceil or rounding is np.ceil:
        return np.ceil(x)
    return np.vectorize(rounding, otypes=[float])(x)


class DataAxis:
    """One calibrated axis of a signal.

    A uniform axis is described by ``size``, ``scale`` and ``offset``; a
    non-uniform one by an explicit, strictly monotonic array ``axis``.

    Parameters
    ----------
    size : int, optional
        Number of points (ignored when ``axis`` is given).
    scale, offset : float
        Spacing and first value of a uniform axis.
    units, name : str
        Free-form labels (``"<undefined>"`` by default).
    navigate : bool
        Whether this is a navigation axis.
    is_binned : bool
        Whether the data along the axis are counts per bin.
    axis : array_like, optional
        Explicit axis values; equally spaced values give a uniform axis.

    Examples
    --------
    >>> ax = DataAxis(size=5, scale=0.5, offset=10.0, units="eV")
    >>> ax.axis
    array([10. , 10.5, 11. , 11.5, 12. ])
    >>> ax.value2index(11.1)
    2
    """

    def __init__(
        self,
        size: int | None = None,
        scale: float = 1.0,
        offset: float = 0.0,
        units: str = UNDEFINED,
        name: str = UNDEFINED,
        navigate: bool = False,
        is_binned: bool = False,
        axis: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        self.units = units
        self.name = name
        self._navigate = bool(navigate)
        self.is_binned = bool(is_binned)
        self._index_in_array: int | None = None
        self._index = 0
        if axis is not None:
            self._set_axis_values(axis)
        else:
            if size is None:
                raise InvalidTypeError("DataAxis needs `size` or `axis`, got neither")
            self._size = _as_int("size", size)
            if self._size < 1:
                raise InvalidInputError(f"`size` must be >= 1, got {size}")
            self._scale = self._check_scale(scale)
            self._offset = _finite_real("offset", offset)
            self.is_uniform = True
            self._update_axis()

    # -- construction helpers -------------------------------------------
    @staticmethod
    def _check_scale(scale: Any) -> float:
        scale = _finite_real("scale", scale)
        if scale == 0:
            raise InvalidInputError("`scale` must be non-zero, got 0")
        return scale

    def _set_axis_values(self, values: Any) -> None:
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 1 or arr.size == 0:
            raise InvalidInputError(
                f"`axis` must be a non-empty 1-D array, got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError("`axis` values must all be finite")
        self._size = arr.size
        if arr.size == 1:
            self.is_uniform, self._scale = True, 1.0
        else:
            diff = np.diff(arr)
            if not (np.all(diff > 0) or np.all(diff < 0)):
                raise InvalidInputError("`axis` values must be strictly monotonic")
            step = (arr[-1] - arr[0]) / (arr.size - 1)
            self.is_uniform = bool(np.allclose(diff, step, rtol=1e-9, atol=0))
            self._scale = float(step) if self.is_uniform else None
        self._offset = float(arr[0])
        self.axis = arr

    def _update_axis(self) -> None:
        self.axis = self._offset + self._scale * np.arange(self._size)

    def convert_to_non_uniform_axis(self) -> None:
        """Keep the current axis values as an explicit (non-uniform) axis, in place.

        Examples
        --------
        >>> ax = DataAxis(size=3, scale=0.5)
        >>> ax.convert_to_non_uniform_axis()
        >>> ax.is_uniform, ax.scale, ax.axis.tolist()
        (False, None, [0.0, 0.5, 1.0])
        """
        self.axis = np.array(self.axis, dtype=float)
        self.is_uniform, self._scale = False, None

    # -- calibration properties ------------------------------------------
    @property
    def size(self) -> int:
        """Number of points along the axis."""
        return self._size

    @size.setter
    def size(self, value: int) -> None:
        value = _as_int("size", value)
        if value < 1:
            raise InvalidInputError(f"`size` must be >= 1, got {value}")
        if not self.is_uniform:
            raise InvalidInputError("cannot change `size` of a non-uniform axis")
        self._size = value
        self._index = min(self._index, value - 1)
        self._update_axis()

    @property
    def scale(self) -> float | None:
        """Spacing of a uniform axis (``None`` for a non-uniform axis)."""
        return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        if not self.is_uniform:
            raise InvalidInputError("cannot set `scale` of a non-uniform axis")
        self._scale = self._check_scale(value)
        self._update_axis()

    @property
    def offset(self) -> float:
        """First axis value."""
        return self._offset

    @offset.setter
    def offset(self, value: float) -> None:
        value = _finite_real("offset", value)
        if self.is_uniform:
            self._offset = value
            self._update_axis()
        else:  # shift the explicit values
            self.axis = self.axis + (value - self._offset)
            self._offset = value

    @property
    def navigate(self) -> bool:
        """Whether this is a navigation axis (read-only)."""
        return self._navigate

    @property
    def index_in_array(self) -> int | None:
        """Position of this axis in the data array (``None`` if unattached)."""
        return self._index_in_array

    @property
    def low_value(self) -> float:
        """Smallest axis value."""
        return float(self.axis.min())

    @property
    def high_value(self) -> float:
        """Largest axis value."""
        return float(self.axis.max())

    @property
    def low_index(self) -> int:
        return 0

    @property
    def high_index(self) -> int:
        return self._size - 1

    @property
    def index(self) -> int:
        """Current index (meaningful for navigation axes)."""
        return self._index

    @index.setter
    def index(self, value: int) -> None:
        value = _as_int("index", value)
        if not 0 <= value < self._size:
            raise InvalidInputError(
                f"`index` must be in [0, {self._size - 1}] for axis "
                f"{self.name!r}, got {value}"
            )
        self._index = value

    @property
    def value(self) -> float:
        """Axis value at the current index."""
        return float(self.axis[self._index])

    @value.setter
    def value(self, value: float) -> None:
        self.index = self.value2index(value)

    # -- conversions ---------------------------------------------------------
    def value2index(self, value: Any, rounding: Callable = round) -> Any:
        """Convert axis value(s) to index(es).

        Parameters
        ----------
        value : float or array_like
            Axis value(s).
        rounding : callable
            ``round`` (nearest, default), ``math.floor`` or ``math.ceil``.

        Returns
        -------
        int or numpy.ndarray of int

        Raises
        ------
        ValueError
            If a value lies outside the axis.

        Examples
        --------
        >>> DataAxis(size=10, scale=0.1).value2index(0.52)
        5
        """
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"`value` must be finite, got {value!r}")
        if self.is_uniform:
            idx = _rounded((arr - self._offset) / self._scale, rounding)
        else:
            idx = self._nonuniform_index(arr, rounding)
        bad = (idx < 0) | (idx >= self._size)
        if np.any(bad):
            shown = arr.tolist() if arr.ndim else float(arr)
            raise InvalidInputError(
                f"`value` {shown!r} is outside the axis {self.name!r} range "
                f"[{self.low_value:g}, {self.high_value:g}]"
            )
        idx = idx.astype(int)
        return int(idx) if idx.ndim == 0 else idx

    def _nonuniform_index(self, arr: np.ndarray, rounding: Callable) -> np.ndarray:
        ax = self.axis
        descending = ax[0] > ax[-1]
        asc = ax[::-1] if descending else ax
        tol = 1e-9 * max(abs(asc[0]), abs(asc[-1]), 1.0)
        out = np.full(arr.shape, -1.0)
        inside = (arr >= asc[0] - tol) & (arr <= asc[-1] + tol)
        a = np.clip(arr, asc[0], asc[-1])
        if rounding is round or rounding is np.round:
            pos = np.clip(np.searchsorted(asc, a), 1, asc.size - 1)
            left, right = asc[pos - 1], asc[pos]
            idx = np.where(a - left <= right - a, pos - 1, pos)
        elif rounding is math.floor or rounding is np.floor:
            idx = np.searchsorted(asc, a + tol, side="right") - 1
        elif rounding is math.ceil or rounding is np.ceil:
            idx = np.searchsorted(asc, a - tol, side="left")
        else:
            raise InvalidInputError(
                f"`rounding` must be round, math.floor or math.ceil for a "
                f"non-uniform axis, got {rounding!r}"
            )
        idx = np.clip(idx, 0, asc.size - 1)
        if descending:
            idx = asc.size - 1 - idx
        out[inside] = np.asarray(idx, dtype=float)[inside]
        return out

    def index2value(self, index: Any) -> Any:
        """Convert index(es) to axis value(s).

        Examples
        --------
        >>> DataAxis(size=4, scale=2.0, offset=1.0).index2value(3)
        7.0
        """
        arr = np.asarray(index)
        if arr.dtype.kind not in "iu":
            raise InvalidTypeError(f"`index` must be integer, got {index!r}")
        if np.any((arr < -self._size) | (arr >= self._size)):
            raise InvalidInputError(
                f"`index` {index!r} out of range for axis of size {self._size}"
            )
        out = self.axis[arr]
        return float(out) if np.ndim(out) == 0 else out

    # -- copies and serialisation -----------------------------------------
    def get_axis_dictionary(self) -> dict:
        """Return a dictionary that recreates this axis with ``DataAxis(**d)``."""
        d = {
            "size": self._size,
            "units": self.units,
            "name": self.name,
            "navigate": self._navigate,
            "is_binned": self.is_binned,
        }
        if self.is_uniform:
            d.update(scale=self._scale, offset=self._offset)
        else:
            d["axis"] = self.axis.copy()
        return d

    def copy(self) -> "DataAxis":
        """Return an independent copy (not attached to any manager)."""
        new = DataAxis(**self.get_axis_dictionary())
        new._index = self._index
        if not self.is_uniform and new.is_uniform:  # an explicitly non-uniform axis stays so
            new.convert_to_non_uniform_axis()
        return new

    def _sliced(self, key: slice) -> "DataAxis":
        """Return the axis describing ``self.axis[key]`` (same navigate)."""
        values = self.axis[key]
        if values.size == 0:
            raise InvalidInputError(
                f"slice {key} selects no points of axis {self.name!r} "
                f"(size {self._size})"
            )
        d = self.get_axis_dictionary()
        if self.is_uniform:
            step = 1 if key.step is None else key.step
            d.update(size=values.size, offset=float(values[0]),
                     scale=self._scale * step)
        else:
            d.pop("size")
            d["axis"] = values
        new = DataAxis(**d)
        if not self.is_uniform and new.is_uniform and new.size > 1:
            new.convert_to_non_uniform_axis()
        return new

    def __repr__(self) -> str:
        name = self.name if self.name != UNDEFINED else "Unnamed"
        text = f"<{name} axis, size: {self._size}"
        if self._navigate:
            text += f", index: {self._index}"
        return text + ">"


def _make_axis(spec: Any, size: int, position: int) -> DataAxis:
    """Build a DataAxis from a dict (or copy a DataAxis) checking its size."""
    if isinstance(spec, DataAxis):
        axis = spec.copy()
    elif isinstance(spec, dict):
        allowed = {"size", "scale", "offset", "units", "name", "navigate",
                   "is_binned", "axis", "index_in_array", "_type"}
        unknown = set(spec) - allowed
        if unknown:
            raise InvalidInputError(
                f"`axes[{position}]` has unknown keys {sorted(unknown)}; "
                f"expected some of {sorted(allowed)}"
            )
        # index_in_array is derived; _type appears in HyperSpy axis dicts
        d = {k: v for k, v in spec.items() if k not in ("index_in_array", "_type")}
        d.setdefault("size", size)
        axis = DataAxis(**d)
    else:
        raise InvalidTypeError(
            f"`axes[{position}]` must be a dict or DataAxis, got {type(spec).__name__}"
        )
    if axis.size != size:
        raise InvalidInputError(
            f"`axes[{position}]` has size {axis.size} but data dimension "
            f"{position} has size {size}"
        )
    return axis


# AxesManager lives in its own module; re-exported here for convenience.
from .axes_manager import AxesManager  # noqa: E402
